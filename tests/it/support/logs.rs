//! Parla's log in the test process, for in-process instances
//! ([`super::Parla::launch`]): one `tracing` subscriber for the whole test
//! process (installed once) writes every formatted line — the same format as
//! the binary's stderr, without colours — into the log buffer of every
//! in-process Parla alive at that moment; panics are written there too, as
//! the binary's stderr would show them.
//!
//! Under cargo-nextest each test is its own process, so a buffer holds
//! exactly its Parla's lines (and those of the test's own helpers, such as
//! the whisper client). Under plain `cargo test` the tests of the binary
//! share the process: the subscriber is installed once all the same, and the
//! lines of concurrently running instances reach every live buffer, which
//! only a test asserting that some line is *absent* could notice.

use std::io::Write;
use std::sync::{Arc, Mutex, Once, Weak};

/// The log lines of one Parla.
pub type LogBuffer = Arc<Mutex<Vec<String>>>;

/// The buffers of the in-process instances alive now.
static SINKS: Mutex<Vec<Weak<Mutex<Vec<String>>>>> = Mutex::new(Vec::new());

/// Installs the subscriber and the panic hook once per process (a no-op
/// later; if another subscriber was installed first, lines go there instead
/// and buffers stay empty) and returns a new buffer that receives every
/// line from now on until it is dropped.
pub fn capture() -> LogBuffer {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let filter = std::env::var("PARLA_TEST_LOG").unwrap_or_else(|_| "info".into());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_ansi(false)
            .with_writer(Line::default)
            .try_init();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            publish(&format!(
                "thread '{}' panicked at {info}",
                thread.name().unwrap_or("<unnamed>")
            ));
            previous(info);
        }));
    });
    let log: LogBuffer = Arc::default();
    let mut sinks = SINKS.lock().unwrap_or_else(|e| e.into_inner());
    sinks.retain(|s| s.strong_count() > 0);
    sinks.push(Arc::downgrade(&log));
    log
}

/// Appends `text` (one or more lines) to every live buffer; echoes it on
/// stderr when `PARLA_TEST_ECHO` is set.
fn publish(text: &str) {
    let echo = std::env::var_os("PARLA_TEST_ECHO").is_some();
    let sinks: Vec<LogBuffer> = SINKS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    for line in text.lines() {
        if echo {
            eprintln!("[parla] {line}");
        }
        for sink in &sinks {
            sink.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(line.to_owned());
        }
    }
}

/// One formatted event, published when the subscriber drops its writer.
#[derive(Default)]
struct Line(Vec<u8>);

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            publish(&String::from_utf8_lossy(&self.0));
        }
    }
}
