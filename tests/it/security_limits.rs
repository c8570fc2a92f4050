//! Media and call limits against the real binary (issue 9, point 6), and
//! `/metrics` off the public HTTP address:
//! - an answered call whose caller sends no RTP is ended by Parla (BYE,
//!   recorded with cause `media_timeout`);
//! - the operator's maximum call length ends a call the agent would let run;
//! - a flood of silent INVITE+ACKs from one source cannot take every RTP
//!   port: another source's call is answered and hears the greeting;
//! - a burst of INVITEs over the per-source rate gets 503 + Retry-After,
//!   another source is still served;
//! - a tenant over its concurrent-call limit gets 503 + Retry-After, and its
//!   slot comes back when the call ends;
//! - `/metrics` is a 404 on the HTTP address and served on `--metrics-addr`.
//!
//! Callers bind other loopback addresses (127.0.0.2, …: the whole
//! 127.0.0.0/8 is loopback on Linux) to be distinct sources.

use crate::support;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use parla_testkit::caller::{place_call, Action, CallOutcome, CallSpec, EndedBy};
use parla_testkit::servers::openai_stt::MockStt;
use serde_json::{json, Value};
use support::*;

const ROOT_EMAIL: &str = "root@example.com";
const ROOT_PASSWORD: &str = "correct horse battery staple";
/// Test binaries run one after another; this salt keeps our RTP ports apart anyway.
const SALT: u16 = 5;

/// A flow agent (greeting, MockStt, espeak) on a Parla started with `flags`
/// as environment (e.g. `PARLA_MEDIA_TIMEOUT`) and a known super admin.
fn start(flags: &[(&str, &str)], rtp_ports: u16) -> (Parla, MockStt) {
    let stt = MockStt::builder()
        .transcript("I would like to book an appointment.")
        .start()
        .expect("mock STT");
    let mut env: Vec<(String, String)> = vec![
        ("PARLA_ADMIN_EMAIL".into(), ROOT_EMAIL.into()),
        ("PARLA_ADMIN_PASSWORD".into(), ROOT_PASSWORD.into()),
    ];
    env.extend(flags.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = flow_agent_config(&stt.v1_url(), "");
    let parla = Parla::launch(Launch {
        config_toml: Some(&config),
        rtp_ports: rtp_range(SALT, rtp_ports),
        env,
        data_dir: None,
    });
    (parla, stt)
}

fn from_ip(parla: &Parla, last_octet: u8) -> CallSpec {
    let mut spec = call_to(parla);
    spec.local_ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, last_octet));
    spec
}

/// A caller that is answered and then sends nothing at all: no RTP, no BYE
/// (until `max_duration`).
fn silent_caller(parla: &Parla, last_octet: u8, max_duration: Duration) -> CallSpec {
    let mut spec = from_ip(parla, last_octet);
    spec.send_rtp = false;
    spec.record_audio = false;
    spec.max_duration = max_duration;
    spec
}

/// When the agent's BYE arrived (since the 200), if it did.
fn agent_bye_at(outcome: &CallOutcome) -> Option<Duration> {
    outcome.event_time("agent bye")
}

/// The super admin's token and the `default` tenant's id (where
/// `parla.toml` was imported).
async fn root_and_default_tenant(parla: &Parla) -> (reqwest::Client, String, String) {
    let client = reqwest::Client::new();
    let base = format!("http://{}/api/v1", parla.http);
    let login: Value = client
        .post(format!("{base}/auth/login"))
        .json(&json!({ "email": ROOT_EMAIL, "password": ROOT_PASSWORD }))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login body");
    let token = login["token"].as_str().expect("token").to_owned();
    let tenants: Value = client
        .get(format!("{base}/tenants"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("tenants")
        .json()
        .await
        .expect("tenants body");
    let tid = tenants["items"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["slug"] == "default"))
        .and_then(|t| t["id"].as_str())
        .unwrap_or_else(|| panic!("a default tenant: {tenants:#}"))
        .to_owned();
    (client, token, tid)
}

/// Polls the tenant's call records until one with this `hangup_cause`
/// appears (or panics after 15 s); returns it.
async fn wait_for_cause(parla: &Parla, cause: &str) -> Value {
    let (client, token, tid) = root_and_default_tenant(parla).await;
    let url = format!("http://{}/api/v1/tenants/{tid}/calls", parla.http);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let page: Value = client
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .expect("calls")
            .json()
            .await
            .expect("calls body");
        let items = page["items"].as_array().cloned().unwrap_or_default();
        if let Some(call) = items.iter().find(|c| c["hangup_cause"] == cause) {
            return call.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no call recorded with cause {cause}: {items:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until `parla_calls_active` is `n` (or panics after `timeout`).
async fn wait_active(parla: &Parla, n: f64, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let active = parla.metric("parla_calls_active").await;
        if active == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{active} calls active, expected {n}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_call_without_rtp_is_ended_by_the_media_timeout() {
    let (parla, _stt) = start(&[("PARLA_MEDIA_TIMEOUT", "2")], 4);
    let outcome = place_call(silent_caller(&parla, 1, Duration::from_secs(20)))
        .await
        .unwrap();
    assert_eq!(outcome.final_status, 200, "{:?}", outcome.sip_log);
    assert_eq!(outcome.rtp_packets_sent, 0, "the caller stayed silent");
    assert_eq!(
        outcome.ended_by,
        EndedBy::Agent,
        "Parla must hang up: {:?}",
        outcome.caller_events
    );
    let bye = agent_bye_at(&outcome).expect("agent bye");
    assert!(
        bye >= Duration::from_millis(1900) && bye < Duration::from_secs(10),
        "BYE {bye:?} after the answer, the media timeout is 2 s"
    );
    let record = wait_for_cause(&parla, "media_timeout").await;
    assert_eq!(record["status"], "completed", "{record:#}");
    parla.wait_idle(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_max_call_length_ends_a_call_the_agent_would_let_run() {
    // The agent sets no max_call_secs; the operator caps every call at 3 s.
    let (parla, _stt) = start(&[("PARLA_MAX_CALL_SECS", "3")], 4);
    let mut spec = from_ip(&parla, 1);
    spec.max_duration = Duration::from_secs(20);
    let outcome = place_call(spec).await.unwrap();
    assert_eq!(outcome.final_status, 200, "{:?}", outcome.sip_log);
    assert!(outcome.rtp_packets_sent > 100, "the caller sent audio");
    assert_eq!(
        outcome.ended_by,
        EndedBy::Agent,
        "{:?}",
        outcome.caller_events
    );
    let bye = agent_bye_at(&outcome).expect("agent bye");
    assert!(
        bye >= Duration::from_millis(2900) && bye < Duration::from_secs(10),
        "BYE {bye:?} after the answer, the cap is 3 s"
    );
    wait_for_cause(&parla, "max_duration").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_from_one_source_leaves_ports_for_another_source() {
    // 5 RTP ports. Before the limits, 5 silent INVITE+ACKs from one source
    // held all of them for good and every other caller got 503.
    let (parla, _stt) = start(&[("PARLA_MAX_CALLS_PER_SOURCE", "3")], 5);
    let flood: Vec<_> = (0..6)
        .map(|_| {
            tokio::spawn(place_call(silent_caller(
                &parla,
                2,
                Duration::from_secs(10),
            )))
        })
        .collect();
    // The flood's calls that got through are up (3 = the per-source cap).
    wait_active(&parla, 3.0, Duration::from_secs(10)).await;

    let mut spec = from_ip(&parla, 3);
    spec.script = vec![
        Action::WaitForAgentSpeech {
            timeout: Duration::from_secs(10),
        },
        end_of_greeting(),
        Action::Hangup,
    ];
    let legit = place_call(spec).await.unwrap();
    assert_eq!(
        legit.final_status, 200,
        "127.0.0.3 was refused: {:?}",
        legit.sip_log
    );
    assert!(
        legit.event_time("heard agent speech").is_some(),
        "{:?}",
        legit.caller_events
    );
    assert!(
        speech_seconds(&legit.agent_audio) > 1.0,
        "the greeting was heard"
    );

    let mut answered = 0;
    let mut refused = 0;
    for call in flood {
        let o = call.await.unwrap().unwrap();
        match o.final_status {
            200 => answered += 1,
            503 => {
                refused += 1;
                assert!(
                    o.retry_after.is_some_and(|s| s >= 1),
                    "503 without Retry-After: {:?}",
                    o.sip_log
                );
            }
            s => panic!("flood call got {s}: {:?}", o.sip_log),
        }
    }
    assert_eq!((answered, refused), (3, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_burst_over_the_rate_gets_503_retry_after_and_others_are_served() {
    // 3 INVITEs back to back, then one per 5 s, per source.
    let (parla, _stt) = start(
        &[("PARLA_INVITE_RATE", "0.2"), ("PARLA_INVITE_BURST", "3")],
        10,
    );
    let burst: Vec<_> = (0..6)
        .map(|_| {
            let mut spec = from_ip(&parla, 4);
            spec.script = vec![Action::Hangup];
            tokio::spawn(place_call(spec))
        })
        .collect();
    let mut statuses = Vec::new();
    for call in burst {
        let o = call.await.unwrap().unwrap();
        if o.final_status == 503 {
            let secs = o.retry_after.expect("Retry-After on the 503");
            assert!((1..=5).contains(&secs), "Retry-After {secs}");
        }
        statuses.push(o.final_status);
    }
    statuses.sort_unstable();
    assert_eq!(statuses, vec![200, 200, 200, 503, 503, 503]);

    let mut other = from_ip(&parla, 5);
    other.script = vec![Action::Hangup];
    let o = place_call(other).await.unwrap();
    assert_eq!(o.final_status, 200, "another source: {:?}", o.sip_log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_over_its_call_limit_gets_503_and_the_slot_comes_back() {
    let (parla, _stt) = start(&[("PARLA_MAX_CALLS_PER_TENANT", "1")], 6);
    let mut first = from_ip(&parla, 6);
    first.script = vec![Action::Wait(Duration::from_secs(3)), Action::Hangup];
    let first = tokio::spawn(place_call(first));
    wait_active(&parla, 1.0, Duration::from_secs(10)).await;

    // Another source, same tenant (every number of parla.toml is `default`'s).
    let mut second = from_ip(&parla, 7);
    second.script = vec![Action::Hangup];
    let o = place_call(second.clone()).await.unwrap();
    assert_eq!(o.final_status, 503, "{:?}", o.sip_log);
    assert!(o.retry_after.is_some_and(|s| s >= 1), "{:?}", o.sip_log);

    assert_eq!(first.await.unwrap().unwrap().final_status, 200);
    parla.wait_idle(Duration::from_secs(10)).await;
    let o = place_call(second).await.unwrap();
    assert_eq!(o.final_status, 200, "the slot came back: {:?}", o.sip_log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_on_the_metrics_address_only() {
    let (parla, _stt) = start(&[], 2);
    let public = reqwest::get(format!("http://{}/metrics", parla.http))
        .await
        .unwrap();
    assert_eq!(public.status(), reqwest::StatusCode::NOT_FOUND);
    assert_ne!(parla.metrics_addr, parla.http);
    let text = parla.metrics().await;
    assert!(text.contains("parla_calls_active"), "{text}");
}
