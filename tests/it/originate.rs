//! Outbound calls end to end: Parla in this process with the offline flow
//! agent (espeak TTS), its admin API placing calls
//! (`POST /tenants/{tid}/calls`, `DELETE …/calls/{id}`) through a trunk
//! that is SIPp playing the far end, and the call record as the user sees
//! it: busy (486), no answer (ring timeout → CANCEL), canceled by the API
//! while ringing (SIPp checks it got the CANCEL), and an answered call in
//! which the agent greets the callee by the name given in `variables`.
//! Needs `sipp` (Debian `sip-tester`): a missing sipp fails under CI /
//! `PARLA_REQUIRE_TOOLS=1` and skips otherwise.

use crate::support;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::*;

const ROOT_EMAIL: &str = "root@example.com";
const ROOT_PASSWORD: &str = "correct horse battery staple";
/// The agent's greeting; `{{name}}` comes from the call's variables.
const GREETING: &str = "Hello {{name}}, this is Parla calling about your appointment.";

fn sipp_installed() -> bool {
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
        eprintln!("SKIPPED: `sipp` is not installed (apt-get install sip-tester)");
    }
    found
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// SIPp as the trunk (UAS), one call of `scenario` (a path relative to the
/// workspace root); killed on drop.
struct Sipp {
    child: Option<Child>,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Sipp {
    fn start(scenario: &str) -> Sipp {
        let name = Path::new(scenario).file_stem().unwrap().to_string_lossy();
        let dir =
            std::env::temp_dir().join(format!("parla-originate-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(scenario);
        let port = free_udp_port();
        let media = free_udp_port();
        let child = Command::new("sipp")
            .arg("-sf")
            .arg(file)
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-mi", "127.0.0.1", "-mp", &media.to_string()])
            .args([
                "-m",
                "1",
                "-nostdin",
                "-timeout",
                "60s",
                "-trace_err",
                "-trace_msg",
            ])
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
            assert!(t0.elapsed() < Duration::from_secs(5), "sipp did not bind");
            std::thread::sleep(Duration::from_millis(20));
        }
        sipp
    }

    /// Waits for SIPp's one call to finish; asserts its scenario passed.
    async fn assert_success(&mut self) {
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                assert!(st.success(), "sipp failed ({st}): {}", self.logs());
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "sipp still running: {}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn logs(&self) -> String {
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

/// The admin API of one instance, as the super admin.
struct Api {
    base: String,
    client: reqwest::Client,
    token: String,
}

impl Api {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("API request");
        let status = res.status();
        let text = res.text().await.expect("API body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (s, v) = self.send(method.clone(), path, body).await;
        assert!(s.is_success(), "{method} {path}: {s} {v}");
        v
    }

    /// Polls call `id` until `done(record)` (at most `timeout`).
    async fn wait_call(
        &self,
        tid: &str,
        id: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        let path = format!("/tenants/{tid}/calls/{id}");
        loop {
            let (status, r) = self.send(Method::GET, &path, None).await;
            // 429: the API's request rate limit; poll again later.
            if status != StatusCode::TOO_MANY_REQUESTS {
                assert!(status.is_success(), "GET {path}: {status} {r}");
                if done(&r) {
                    return r;
                }
            }
            assert!(
                Instant::now() < deadline,
                "call not as expected in time: {r}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// What a test needs: Parla, its API, the default tenant, its agent and a
/// number, and a trunk pointing at `trunk`.
struct Setup {
    _parla: Parla,
    api: Api,
    tid: String,
    agent: String,
    number: String,
}

async fn start(salt: u16, trunk: SocketAddr) -> Setup {
    let w = whisper();
    let config = flow_agent_config(&format!("{}/v1", w.base_url()), "").replace(
        "greeting = \"Hello, thanks for calling Parla. How can I help you today?\"",
        &format!("greeting = \"{GREETING}\""),
    );
    assert!(config.contains("{{name}}"));
    let parla = Parla::launch(Launch {
        config_toml: Some(&config),
        rtp_ports: rtp_range(salt, 4),
        env: vec![
            ("PARLA_ADMIN_EMAIL".into(), ROOT_EMAIL.into()),
            ("PARLA_ADMIN_PASSWORD".into(), ROOT_PASSWORD.into()),
        ],
        data_dir: None,
    });
    let client = reqwest::Client::new();
    let base = format!("http://{}/api/v1", parla.http);
    let login: Value = client
        .post(format!("{base}/auth/login"))
        .json(&json!({ "email": ROOT_EMAIL, "password": ROOT_PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api = Api {
        base,
        client,
        token: login["token"].as_str().expect("token").to_owned(),
    };
    let tenants = api.ok(Method::GET, "/tenants", None).await;
    let tid = tenants["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["slug"] == "default")
        .expect("the default tenant")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let agents = api
        .ok(Method::GET, &format!("/tenants/{tid}/agents"), None)
        .await;
    let agent = agents["items"][0]["id"].as_str().unwrap().to_owned();
    let number = api
        .ok(
            Method::POST,
            &format!("/tenants/{tid}/numbers"),
            Some(json!({ "address": "+14155550100" })),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.ok(
        Method::POST,
        &format!("/tenants/{tid}/trunks"),
        Some(json!({ "name": "SIPp", "host": trunk.ip().to_string(), "port": trunk.port() })),
    )
    .await;
    Setup {
        _parla: parla,
        api,
        tid,
        agent,
        number,
    }
}

impl Setup {
    /// Places a call to +15551234567; returns the record's id.
    async fn originate(&self, ring_timeout_secs: u32) -> String {
        let (s, call) = self
            .api
            .send(
                Method::POST,
                &format!("/tenants/{}/calls", self.tid),
                Some(json!({
                    "to": "+15551234567",
                    "from_number_id": self.number,
                    "agent_id": self.agent,
                    "variables": { "name": "Ana" },
                    "ring_timeout_secs": ring_timeout_secs,
                })),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{call}");
        assert_eq!(call["direction"], "outbound", "{call}");
        assert_eq!(call["status"], "queued", "{call}");
        call["id"].as_str().unwrap().to_owned()
    }

    async fn ended(&self, id: &str, timeout: Duration) -> Value {
        self.api
            .wait_call(&self.tid, id, timeout, |r| !r["ended_at"].is_null())
            .await
    }
}

/// A busy callee: the record ends `busy` with SIP status 486. A bad
/// callee number is refused before anything is dialed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_callee_ends_the_call_busy_with_486() {
    if !sipp_installed() {
        return;
    }
    let mut sipp = Sipp::start("sip/tests/sipp/uac_busy.xml");
    let s = start(11, sipp.addr).await;
    let (status, body) = s
        .api
        .send(
            Method::POST,
            &format!("/tenants/{}/calls", s.tid),
            Some(json!({ "to": "5551234567", "from_number_id": s.number, "agent_id": s.agent })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["fields"]["to"].is_array(), "{body}");

    let id = s.originate(30).await;
    let record = s.ended(&id, Duration::from_secs(20)).await;
    sipp.assert_success().await;
    assert_eq!(record["status"], "busy", "{record}");
    assert_eq!(record["sip_status"], 486, "{record}");
    assert_eq!(record["hangup_cause"], "busy", "{record}");
    assert!(record["answered_at"].is_null(), "{record}");
    assert!(
        !record["sip_call_id"].as_str().unwrap().is_empty(),
        "{record}"
    );
}

/// A callee that rings past the call's ring timeout (5 s): Parla CANCELs
/// (SIPp checks it) and the record ends `no_answer`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ringing_past_the_ring_timeout_is_no_answer() {
    if !sipp_installed() {
        return;
    }
    let mut sipp = Sipp::start("sip/tests/sipp/uac_ring_cancel.xml");
    let s = start(12, sipp.addr).await;
    let t0 = Instant::now();
    let id = s.originate(5).await;
    let ringing = s
        .api
        .wait_call(&s.tid, &id, Duration::from_secs(5), |r| {
            r["status"] == "ringing" || !r["ended_at"].is_null()
        })
        .await;
    assert_eq!(ringing["status"], "ringing", "{ringing}");
    let record = s.ended(&id, Duration::from_secs(20)).await;
    let took = t0.elapsed();
    sipp.assert_success().await;
    assert_eq!(record["status"], "no_answer", "{record}");
    assert_eq!(record["hangup_cause"], "ring_timeout", "{record}");
    assert!(
        (Duration::from_millis(4500)..Duration::from_secs(15)).contains(&took),
        "ended after {took:?}"
    );
}

/// `DELETE` while the callee rings: SIPp receives the CANCEL, the record
/// ends `canceled`; a second `DELETE` is a conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_while_ringing_cancels_the_call() {
    if !sipp_installed() {
        return;
    }
    let mut sipp = Sipp::start("sip/tests/sipp/uac_ring_cancel.xml");
    let s = start(13, sipp.addr).await;
    let id = s.originate(60).await;
    let ringing = s
        .api
        .wait_call(&s.tid, &id, Duration::from_secs(5), |r| {
            r["status"] == "ringing" || !r["ended_at"].is_null()
        })
        .await;
    assert_eq!(ringing["status"], "ringing", "{ringing}");
    let path = format!("/tenants/{}/calls/{id}", s.tid);
    let (status, body) = s.api.send(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let record = s.ended(&id, Duration::from_secs(10)).await;
    sipp.assert_success().await;
    assert_eq!(record["status"], "canceled", "{record}");
    assert_eq!(record["hangup_cause"], "canceled", "{record}");
    let (status, body) = s.api.send(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

/// The callee answers: the call is `in_progress`, the agent greets the
/// callee by name (the `{{name}}` variable) over RTP, the callee hangs up
/// and the record is `completed` with the greeting in its transcript.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answered_call_hears_the_personalised_greeting() {
    if !sipp_installed() {
        return;
    }
    let mut sipp = Sipp::start("tests/sipp/uas_answer_bye.xml");
    let s = start(14, sipp.addr).await;
    let id = s.originate(30).await;
    let live = s
        .api
        .wait_call(&s.tid, &id, Duration::from_secs(10), |r| {
            r["status"] == "in_progress" || !r["ended_at"].is_null()
        })
        .await;
    assert_eq!(live["status"], "in_progress", "{live}");
    let record = s.ended(&id, Duration::from_secs(30)).await;
    sipp.assert_success().await;
    assert_eq!(record["status"], "completed", "{record}");
    assert_eq!(record["sip_status"], 200, "{record}");
    assert_eq!(record["hangup_cause"], "caller_hangup", "{record}");
    let agent_lines: Vec<&str> = record["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["speaker"] == "agent")
        .filter_map(|t| t["text"].as_str())
        .collect();
    let expected = GREETING.replace("{{name}}", "Ana");
    assert!(
        agent_lines.iter().any(|l| *l == expected),
        "the greeting was not played: {record}"
    );
}

/// A trunk whose host name does not resolve (RFC 3263 lookup through the
/// system's resolver; `.invalid` never exists, RFC 2606): nothing is
/// dialed and the record ends `failed` with a DNS cause, in bounded time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trunk_host_that_does_not_resolve_fails_with_a_dns_cause() {
    let s = start(15, "127.0.0.1:9".parse().unwrap()).await;
    let trunks = s
        .api
        .ok(Method::GET, &format!("/tenants/{}/trunks", s.tid), None)
        .await;
    let trunk = trunks["items"][0]["id"].as_str().unwrap().to_owned();
    s.api
        .ok(
            Method::PATCH,
            &format!("/tenants/{}/trunks/{trunk}", s.tid),
            Some(json!({ "host": "no-such-trunk.invalid" })),
        )
        .await;
    let id = s.originate(30).await;
    let record = s.ended(&id, Duration::from_secs(20)).await;
    assert_eq!(record["status"], "failed", "{record}");
    let cause = record["hangup_cause"].as_str().unwrap_or_default();
    assert!(
        matches!(cause, "dns_not_found" | "dns_failed" | "dns_timeout"),
        "{record}"
    );
    assert!(record["answered_at"].is_null(), "{record}");
}

/// A trunk nobody listens on (TCP, so the refused connection is seen at
/// once rather than after Timer B's 32 s): the record ends `failed` with
/// cause `unreachable`, and nothing is left waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_trunk_fails_unreachable() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let s = start(16, closed).await;
    let trunks = s
        .api
        .ok(Method::GET, &format!("/tenants/{}/trunks", s.tid), None)
        .await;
    let trunk = trunks["items"][0]["id"].as_str().unwrap().to_owned();
    s.api
        .ok(
            Method::PATCH,
            &format!("/tenants/{}/trunks/{trunk}", s.tid),
            Some(json!({ "transport": "tcp" })),
        )
        .await;
    let id = s.originate(30).await;
    let record = s.ended(&id, Duration::from_secs(20)).await;
    assert_eq!(record["status"], "failed", "{record}");
    assert_eq!(record["hangup_cause"], "unreachable", "{record}");
    assert!(record["answered_at"].is_null(), "{record}");
}
