//! Shared by the harness's own tests: caller utterances as WAV files, free
//! ports, and the real `parla` binary (built by `cargo build --workspace`).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "parla-loadtest-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `text` spoken by espeak-ng, as an 8 kHz mono WAV file at `path`.
pub fn utterance_wav(path: &Path, text: &str) {
    let pcm = parla_testkit::speech::espeak_wav(text, 8000).expect("espeak-ng");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for s in pcm {
        w.write_sample(s).expect("write wav");
    }
    w.finalize().expect("finish wav");
}

/// Whether a missing tool or binary must fail the test rather than skip it:
/// under CI (`CI=true`) or with `PARLA_REQUIRE_TOOLS=1` (set by
/// `tools/test.sh`).
pub fn tools_required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
        || std::env::var("PARLA_REQUIRE_TOOLS").as_deref() == Ok("1")
}

/// Reports a missing tool: a failure when [`tools_required`], else a skip
/// notice (the caller then returns).
pub fn missing_tool(what: &str) {
    assert!(
        !tools_required(),
        "{what}, and tests must not skip under CI"
    );
    eprintln!("SKIPPED: {what}");
}

/// A UDP port nothing listens on (bound then released).
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("bind udp")
        .port()
}

/// `target/<profile>/parla`, next to this test's `deps/` directory.
pub fn parla_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let p = profile_dir.join("parla");
    p.is_file().then_some(p)
}

/// A running `parla serve`; killed on drop.
pub struct Parla {
    pub child: Child,
    pub sip: SocketAddr,
    pub http: SocketAddr,
    /// The `/metrics` endpoint's address (`--metrics-addr`).
    pub metrics: SocketAddr,
    _dir: TempDir,
}

impl Parla {
    pub fn start(bin: &Path, config_toml: &str, rtp_ports: &str) -> Parla {
        let dir = TempDir::new("parla");
        let config = dir.0.join("parla.toml");
        std::fs::write(&config, config_toml).expect("write parla.toml");
        let mut child = Command::new(bin)
            .args([
                "serve",
                "--sip-addr",
                "127.0.0.1:0",
                "--http-addr",
                "127.0.0.1:0",
                "--metrics-addr",
                "127.0.0.1:0",
            ])
            .args(["--public-ip", "127.0.0.1", "--rtp-ports", rtp_ports])
            .args(["--shutdown-timeout", "2"])
            // The provider simulators listen on loopback.
            .args(["--provider-allow", "127.0.0.1"])
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.0.join("data"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn parla");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("parla ready:") {
                    let _ = tx.send(line);
                }
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!("parla did not print its ready line");
            }
        };
        let field = |name: &str| -> SocketAddr {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {line:?}"))
        };
        Parla {
            sip: field("sip_udp"),
            http: field("http"),
            metrics: field("metrics"),
            child,
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Parla {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..60 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
