//! Outbound calls (`SipServer::place_call`) against SIPp playing the
//! trunk, with the scenarios in `sip/tests/sipp/`: a digest challenge then
//! an answer and our BYE, a busy trunk, a trunk that rings until our ring
//! timeout CANCELs, and a 200 without SDP. Plus a trunk nobody listens on
//! (TCP, connection refused). Needs `sipp` (Debian `sip-tester`); a missing
//! sipp fails under CI / `PARLA_REQUIRE_TOOLS=1` and skips otherwise.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use parla_sip::sdp::Codec;
use parla_sip::server::{
    OutboundCallHandle, OutboundRequest, SipServer, SipServerConfig, UacEvent,
};
use parla_sip::uac::{Credentials, EndedBy, Outcome, Transport};

pub(crate) fn sipp_installed() -> bool {
    let found = Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        let required = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
            || std::env::var("PARLA_REQUIRE_TOOLS").as_deref() == Ok("1");
        assert!(
            !required,
            "`sipp` is not installed (apt-get install sip-tester), and tests must not skip under CI"
        );
        eprintln!("SKIPPED: `sipp` is not installed (CI installs it: apt-get install sip-tester)");
    }
    found
}

/// A UDP port that was free a moment ago.
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// SIPp as a UAS running one scenario of `sip/tests/sipp/` for one call,
/// killed on drop (logs kept when the test fails).
pub(crate) struct Sipp {
    child: Option<Child>,
    pub(crate) addr: SocketAddr,
    dir: PathBuf,
}

impl Sipp {
    pub(crate) fn start(scenario: &str) -> Sipp {
        let dir = std::env::temp_dir().join(format!(
            "parla-uac-{}-{}",
            std::process::id(),
            scenario.trim_end_matches(".xml")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/sipp")
            .join(scenario);
        let port = free_udp_port();
        let media = free_udp_port();
        let child = Command::new("sipp")
            .arg("-sf")
            .arg(file)
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-mi", "127.0.0.1", "-mp", &media.to_string()])
            .args(["-m", "1", "-nostdin", "-timeout", "40s", "-trace_err"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("sipp.out")).unwrap())
            .stderr(std::fs::File::create(dir.join("sipp.err")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run sipp: {e}"));
        let mut sipp = Sipp {
            child: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
        };
        let t0 = Instant::now();
        while UdpSocket::bind(sipp.addr).is_ok() {
            if let Some(st) = sipp.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("sipp exited at start ({st}): {}", sipp.logs());
            }
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "sipp did not bind {}",
                sipp.addr
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        sipp
    }

    /// Waits for SIPp to finish its one call; asserts it succeeded.
    pub(crate) async fn assert_success(&mut self) {
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                assert!(st.success(), "sipp failed ({st}): {}", self.logs());
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "sipp still running: {}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) fn logs(&self) -> String {
        let mut s = String::new();
        for f in ["sipp.err", "sipp.out"] {
            s += &std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
        }
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().ends_with("_errors.log") {
                    s += &std::fs::read_to_string(e.path()).unwrap_or_default();
                }
            }
        }
        let n = s.len();
        s[n.saturating_sub(3000)..].to_string()
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

async fn server() -> SipServer {
    let config = SipServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        public_ip: Some("127.0.0.1".parse().unwrap()),
        user_agent: "ParlaUacTest".into(),
        ..SipServerConfig::default()
    };
    SipServer::bind(config).await.expect("bind").0
}

fn call_to(trunk: SocketAddr) -> OutboundRequest {
    OutboundRequest::new(
        format!("sip:+15551234@{trunk}"),
        "sip:+15550000@parla.test",
        trunk,
        "127.0.0.1:41000".parse().unwrap(),
    )
}

/// The next event, within 10 s.
async fn next(call: &mut OutboundCallHandle) -> UacEvent {
    tokio::time::timeout(Duration::from_secs(10), call.next_event())
        .await
        .expect("an event within 10 s")
        .expect("the call's events end with Ended")
}

/// Events until `Ended` (inclusive), within 10 s each.
async fn until_ended(call: &mut OutboundCallHandle) -> Vec<UacEvent> {
    let mut out = Vec::new();
    loop {
        let ev = next(call).await;
        let last = matches!(ev, UacEvent::Ended { .. });
        out.push(ev);
        if last {
            return out;
        }
    }
}

fn ended(events: &[UacEvent]) -> (Outcome, Option<u16>, String, EndedBy) {
    match events.last() {
        Some(UacEvent::Ended {
            outcome,
            status,
            cause,
            by,
            ..
        }) => (*outcome, *status, cause.clone(), *by),
        other => panic!("last event is not Ended: {other:?} in {events:#?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_challenge_then_answer_then_our_bye() {
    if !sipp_installed() {
        return;
    }
    let mut sipp = Sipp::start("uac_auth_bye.xml");
    let server = server().await;
    let mut req = call_to(sipp.addr);
    req.credentials = Some(Credentials::new("parla", "s3cret"));
    let mut call = server.place_call(req).unwrap();
    assert!(matches!(next(&mut call).await, UacEvent::Dialing { .. }));
    assert!(matches!(
        next(&mut call).await,
        UacEvent::Ringing { status: 180, .. }
    ));
    match next(&mut call).await {
        UacEvent::Answered { remote_audio, .. } => {
            assert_eq!(remote_audio.codec, Codec::Pcma, "SIPp answers PCMA");
            assert_eq!(remote_audio.dtmf_payload_type, Some(101));
        }
        other => panic!("expected Answered, got {other:?}"),
    }
    assert_eq!(server.active_outbound_calls(), 1);
    call.hangup().unwrap();
    let events = until_ended(&mut call).await;
    assert_eq!(
        ended(&events),
        (
            Outcome::Completed,
            Some(200),
            "completed".into(),
            EndedBy::Local
        )
    );
    sipp.assert_success().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_trunk_ends_busy() {
    if !sipp_installed() {
        return;
    }
    let mut sipp = Sipp::start("uac_busy.xml");
    let server = server().await;
    let mut call = server.place_call(call_to(sipp.addr)).unwrap();
    let events = until_ended(&mut call).await;
    assert_eq!(
        ended(&events),
        (Outcome::Busy, Some(486), "busy".into(), EndedBy::Remote)
    );
    sipp.assert_success().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ringing_trunk_is_cancelled_at_the_ring_timeout() {
    if !sipp_installed() {
        return;
    }
    let mut sipp = Sipp::start("uac_ring_cancel.xml");
    let server = server().await;
    let mut req = call_to(sipp.addr);
    req.ring_timeout = Duration::from_secs(2);
    let t0 = Instant::now();
    let mut call = server.place_call(req).unwrap();
    let events = until_ended(&mut call).await;
    let took = t0.elapsed();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, UacEvent::Ringing { status: 180, .. })),
        "{events:#?}"
    );
    assert_eq!(
        ended(&events),
        (
            Outcome::NoAnswer,
            Some(487),
            "ring_timeout".into(),
            EndedBy::Local
        )
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(5),
        "ended after {took:?}"
    );
    sipp.assert_success().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ok_without_sdp_is_acked_hung_up_and_failed() {
    if !sipp_installed() {
        return;
    }
    let mut sipp = Sipp::start("uac_ok_no_sdp.xml");
    let server = server().await;
    let mut call = server.place_call(call_to(sipp.addr)).unwrap();
    let events = until_ended(&mut call).await;
    assert!(!events
        .iter()
        .any(|e| matches!(e, UacEvent::Answered { .. })));
    assert_eq!(
        ended(&events),
        (Outcome::Failed, Some(200), "no_sdp".into(), EndedBy::Local)
    );
    sipp.assert_success().await;
    server.shutdown().await;
}

/// No SIPp: a TCP trunk address nobody listens on fails fast and clearly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_tcp_trunk_fails_unreachable() {
    let server = server().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    }; // dropped: nothing listens there now
    let mut req = call_to(closed);
    req.transport = Transport::Tcp;
    let t0 = Instant::now();
    let mut call = server.place_call(req).unwrap();
    let events = until_ended(&mut call).await;
    assert_eq!(
        ended(&events),
        (Outcome::Failed, None, "unreachable".into(), EndedBy::Local)
    );
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert_eq!(server.active_outbound_calls(), 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_request_is_refused_before_sending() {
    let server = server().await;
    let mut req = call_to("127.0.0.1:5".parse().unwrap());
    req.request_uri = "sip:bob@host\r\nX-Injected: 1".into();
    assert!(matches!(
        server.place_call(req),
        Err(parla_sip::server::SipError::InvalidCall(_))
    ));
    server.shutdown().await;
}
