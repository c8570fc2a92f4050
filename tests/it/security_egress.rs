//! The egress guard, black-box against the real `parla` binary: an agent's
//! provider URL cannot make Parla connect to loopback, private or link-local
//! addresses (SSRF), whether written as an IP literal or as a name that
//! resolves to one, unless the operator allowed that host
//! (`--provider-allow` / `PARLA_PROVIDER_ALLOW`).
//!
//! Each agent points its TTS (used at once, for the greeting) at a target.
//! A TCP "trap" on loopback counts every connection it receives: refused
//! targets must never reach it, while an operator-allowed control agent
//! does, which shows the trap would notice a leak.

use crate::support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parla_testkit::caller::{place_call, Action, CallSpec};
use support::*;

/// A loopback TCP listener that counts connections and answers nothing useful.
struct Trap {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

impl Trap {
    async fn start() -> Trap {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let c = connections.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                // Hold it open briefly, then drop: the client sees a failure.
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    drop(stream);
                });
            }
        });
        Trap { addr, connections }
    }

    fn count(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// One agent answering `number`, whose TTS is OpenAI-compatible at `tts_url`.
fn agent(number: &str, stt_url: &str, tts_url: &str) -> String {
    format!(
        r#"
[[agents]]
name = "{number}"
numbers = ["{number}"]
greeting = "Hello there."
response_timeout_ms = 2000

[agents.stt]
provider = "openai"
base_url = "{stt_url}"
model = "tiny.en"

[agents.llm]
provider = "flow"

[agents.tts]
provider = "openai"
base_url = "{tts_url}"
api_key = "sk-must-not-leave"
"#
    )
}

/// Whether Parla's log shows `needle` within a few seconds (log lines are
/// read by a thread and may trail the SIP response).
async fn log_shows(parla: &Parla, needle: &str) -> bool {
    for _ in 0..50 {
        if parla.log_text().contains(needle) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

fn call(parla: &Parla, number: &str) -> CallSpec {
    let mut spec = CallSpec::new(parla.sip, format!("sip:{number}@{}", parla.sip));
    spec.script = vec![Action::Wait(Duration::from_millis(1500)), Action::Hangup];
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_urls_cannot_reach_internal_addresses() {
    let w = whisper();
    let stt_url = format!("{}/v1", w.base_url());
    let whisper_addr = w
        .base_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let trap = Trap::start().await;
    let allowed_trap = Trap::start().await;
    let port = trap.addr.port();

    // (number, TTS URL, what the log says about it)
    let refused_at_setup = [
        (
            "plainloop",
            format!("http://127.0.0.1:{port}/v1"),
            "must use https://".to_owned(),
        ),
        (
            "tlsloop",
            format!("https://127.0.0.1:{port}/v1"),
            "127.0.0.1 is not a public address".to_owned(),
        ),
        (
            "mappedloop",
            format!("https://[::ffff:127.0.0.1]:{port}/v1"),
            "refusing to connect to 127.0.0.1".to_owned(),
        ),
        (
            "private",
            "https://10.0.0.1/v1".to_owned(),
            "10.0.0.1 is not a public address".to_owned(),
        ),
        (
            "linklocal",
            "https://169.254.169.254/latest".to_owned(),
            "169.254.169.254 is not a public address".to_owned(),
        ),
    ];
    let mut config = String::new();
    for (number, url, _) in &refused_at_setup {
        config.push_str(&agent(number, &stt_url, url));
    }
    // A name that resolves to loopback: refused when it is resolved.
    config.push_str(&agent(
        "byname",
        &stt_url,
        &format!("https://localhost:{port}/v1"),
    ));
    // The control: a host the operator allowed.
    config.push_str(&agent(
        "control",
        &stt_url,
        &format!("http://{}/v1", allowed_trap.addr),
    ));

    let allow = format!("{whisper_addr},{}", allowed_trap.addr);
    let parla = Parla::start_with_env(
        &config,
        &rtp_range(5, 10),
        &[("PARLA_PROVIDER_ALLOW", allow.as_str())],
    );

    // Literal internal addresses: the agent cannot be built, the call gets 503.
    for (number, url, why) in &refused_at_setup {
        let outcome = place_call(call(&parla, number)).await.unwrap();
        assert_eq!(outcome.final_status, 503, "{number} ({url})");
        assert!(
            log_shows(&parla, why).await,
            "{number}: the log says {why:?}:\n{}",
            parla.log_text()
        );
    }
    // A name resolving to loopback: answered, but the TTS request never connects.
    let outcome = place_call(call(&parla, "byname")).await.unwrap();
    assert_eq!(outcome.final_status, 200, "byname is answered");
    assert_eq!(
        trap.count(),
        0,
        "no connection may reach an internal address"
    );
    assert!(
        log_shows(&parla, "refusing to connect to localhost").await,
        "the refusal is logged:\n{}",
        parla.log_text()
    );
    assert!(
        !parla.log_text().contains("sk-must-not-leave"),
        "keys never reach the log"
    );

    // The operator-allowed control agent does connect: the trap works.
    let outcome = place_call(call(&parla, "control")).await.unwrap();
    assert_eq!(outcome.final_status, 200);
    assert!(
        allowed_trap.count() >= 1,
        "the allowed provider host was contacted"
    );
    parla.wait_idle(Duration::from_secs(10)).await;
}
