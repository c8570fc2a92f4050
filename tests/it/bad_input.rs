//! Bad input against a running `parla`: the 50 RFC 4475 torture messages over
//! real UDP, codec mismatch, unknown destinations, foreign and malformed RTP,
//! CANCEL before answer. Parla answers as the RFCs expect and never falls over.

use crate::support;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use parla_testkit::caller::{place_call, Action, CallSpec};
use support::*;

fn torture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/rfc4475")
}

/// The port of the top Via's sent-by (where RFC 3261 §18.2.2 sends responses
/// without `rport`), 5060 when absent.
fn sent_by_port(msg: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(msg);
    text.lines()
        .find(|l| {
            let name = l
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            name == "via" || name == "v"
        })
        .and_then(|l| {
            let after = l.split_once(':')?.1;
            let hostport = after.split(';').next()?.split_whitespace().last()?;
            hostport.rsplit_once(':')?.1.trim().parse().ok()
        })
        .unwrap_or(5060)
}

/// The value of the message's Call-ID (or compact `i`) header.
fn call_id(msg: &[u8]) -> Option<String> {
    String::from_utf8_lossy(msg).lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        let name = name.trim().to_ascii_lowercase();
        (name == "call-id" || name == "i").then(|| value.trim().to_string())
    })
}

/// Every response to the message with Call-ID `cid` received within `wait`:
/// (status, CSeq method). Other traffic (retransmitted 200s of earlier INVITEs
/// that nobody ACKs, Parla's BYEs) is skipped.
fn responses(sock: &UdpSocket, cid: Option<&str>, wait: Duration) -> Vec<(u16, String)> {
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while Instant::now() < deadline {
        sock.set_read_timeout(Some(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        ))
        .unwrap();
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            break;
        };
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        let Some(status) = text
            .strip_prefix("SIP/2.0 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse().ok())
        else {
            continue; // a request from Parla (e.g. BYE after a 200 that was never ACKed)
        };
        if call_id(text.as_bytes()).as_deref() != cid {
            continue;
        }
        let method = text
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("cseq:"))
            .and_then(|l| l.split_whitespace().last())
            .unwrap_or("")
            .to_string();
        out.push((status, method));
    }
    out
}

/// Whether what Parla sent matches one expectation token of index.tsv.
fn satisfies(token: &str, got: &[(u16, String)]) -> bool {
    let finals: Vec<u16> = got.iter().map(|(s, _)| *s).filter(|s| *s >= 200).collect();
    let any_final = |f: &dyn Fn(u16) -> bool| finals.iter().any(|s| f(*s));
    match token {
        "-" => false,
        "none" => got.is_empty(),
        // Processed normally: answered, and not rejected as malformed.
        "ok" => !got.is_empty() && !any_final(&|s| s == 400 || s == 505),
        "4xx" => any_final(&|s| (400..500).contains(&s)),
        t if t.starts_with('!') => {
            let code: u16 = t[1..].parse().unwrap();
            !got.is_empty() && !any_final(&|s| s == code)
        }
        t => {
            let code: u16 = t.parse().unwrap_or_else(|_| panic!("bad token {t}"));
            any_final(&|s| s == code)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc4475_torture_messages_are_handled_as_the_rfc_expects() {
    let parla = start_flow_agent("", &rtp_range(4, 40));
    let index = std::fs::read_to_string(torture_dir().join("index.tsv"))
        .expect("../shared/rfc4475/index.tsv");
    // One socket per sent-by port, so responses routed by Via reach us.
    let mut sockets: HashMap<u16, UdpSocket> = HashMap::new();
    let mut failures = Vec::new();
    let mut count = 0;
    for line in index.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (name, accept, tolerate) = (cols[0], cols[4], cols[5]);
        let msg = std::fs::read(torture_dir().join(format!("{name}.dat"))).unwrap();
        let port = sent_by_port(&msg);
        let sock = sockets.entry(port).or_insert_with(|| {
            UdpSocket::bind(("127.0.0.1", port))
                .unwrap_or_else(|e| panic!("bind 127.0.0.1:{port} for Via responses: {e}"))
        });
        sock.send_to(&msg, parla.sip).unwrap();
        let got = responses(sock, call_id(&msg).as_deref(), Duration::from_millis(600));
        let tokens: Vec<&str> = accept.split('|').chain(tolerate.split('|')).collect();
        let mut ok = tokens.iter().any(|t| satisfies(t, &got));
        if name == "dblreq" {
            // Only the REGISTER is processed; the trailing INVITE octets are ignored.
            ok &= got.iter().all(|(_, m)| m == "REGISTER");
        }
        if name == "intmeth" || name == "esc02" {
            ok &= got.iter().any(|(s, _)| *s == 501);
        }
        count += 1;
        if !ok {
            failures.push(format!(
                "{name}: expected {accept} (tolerate {tolerate}), got {got:?}"
            ));
        }
    }
    assert_eq!(count, 50, "all 50 torture messages were sent");
    assert!(
        failures.is_empty(),
        "{} torture messages mishandled:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Still alive and answering calls.
    let health = reqwest::get(format!("http://{}/healthz", parla.http))
        .await
        .unwrap();
    assert!(health.status().is_success());
    let mut spec = call_to(&parla);
    spec.script = vec![
        Action::WaitForAgentSpeech {
            timeout: Duration::from_secs(5),
        },
        Action::Hangup,
    ];
    assert_eq!(place_call(spec).await.unwrap().final_status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_common_codec_gets_488_and_unknown_destination_404() {
    let w = whisper();
    let config = flow_agent_config(&format!("{}/v1", w.base_url()), "").replace(
        r#"numbers = ["*"]"#,
        r#"numbers = ["+1 555 0100", "support"]"#,
    );
    let parla = Parla::start(&config, &rtp_range(4, 10));

    let mut spec = CallSpec::new(parla.sip, format!("sip:support@{}", parla.sip));
    spec.offer_codecs = Some(vec![(9, "G722/8000"), (18, "G729/8000")]);
    assert_eq!(place_call(spec).await.unwrap().final_status, 488);

    let spec = CallSpec::new(parla.sip, format!("sip:+15559999@{}", parla.sip));
    assert_eq!(place_call(spec).await.unwrap().final_status, 404);

    let mut spec = CallSpec::new(parla.sip, format!("sip:+15550100@{}", parla.sip));
    spec.script = vec![
        Action::WaitForAgentSpeech {
            timeout: Duration::from_secs(5),
        },
        Action::Hangup,
    ];
    assert_eq!(
        place_call(spec).await.unwrap().final_status,
        200,
        "the configured number routes"
    );
    parla.wait_idle(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_before_answer_gets_487_and_frees_the_call() {
    let parla = start_flow_agent("answer_delay_ms = 3000", &rtp_range(4, 10));
    let mut spec = call_to(&parla);
    spec.script = vec![Action::Wait(Duration::from_millis(500)), Action::Cancel];
    let outcome = place_call(spec).await.unwrap();
    assert_eq!(outcome.final_status, 487, "{:#?}", outcome.sip_log);
    assert!(
        outcome.sip_log.iter().any(|l| l.contains("180")),
        "rang before the CANCEL: {:#?}",
        outcome.sip_log
    );
    tokio::time::sleep(Duration::from_millis(3500)).await; // past the answer delay: nothing starts
    assert_eq!(parla.metric("parla_calls_active").await, 0.0);
    assert_eq!(
        parla.metric("parla_calls_total").await,
        0.0,
        "a cancelled call never starts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtp_from_a_foreign_source_and_garbage_are_ignored() {
    let w = whisper();
    let range = rtp_range(4, 1); // exactly one port: we know where Parla's RTP is
    let rtp_port: u16 = range.split('-').next().unwrap().parse().unwrap();
    let parla = Parla::start(
        &flow_agent_config(&format!("{}/v1", w.base_url()), ""),
        &range,
    );
    let target = SocketAddr::from(([127, 0, 0, 1], rtp_port));

    let mut spec = call_to(&parla);
    spec.script = vec![
        end_of_greeting(),
        Action::Wait(Duration::from_secs(7)),
        Action::Hangup,
    ];
    let call = tokio::spawn(place_call(spec));

    // An intruder speaks a full request into Parla's RTP port, and sends junk.
    tokio::time::sleep(Duration::from_secs(6)).await; // the greeting is over; the caller has latched
    let intruder = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let speech = utterance("I would like to book an appointment");
    let mut packet = Vec::new();
    for (i, frame) in speech.chunks(160).enumerate() {
        let mut payload = vec![0u8; frame.len()];
        parla_media::g711::G711::Pcmu.encode(frame, &mut payload);
        let header = parla_media::rtp::RtpHeader {
            payload_type: 0,
            sequence: i as u16,
            timestamp: (i * 160) as u32,
            ssrc: 0xBAD,
            marker: i == 0,
        };
        parla_media::rtp::write(&header, &payload, &mut packet);
        intruder.send_to(&packet, target).await.unwrap();
        intruder.send_to(b"\x80garbage", target).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let outcome = call.await.unwrap().unwrap();
    assert_eq!(outcome.final_status, 200);
    let quiet_from = outcome
        .event_time("heard agent silence")
        .expect("greeting ended");
    let after = outcome.agent_audio_between(quiet_from, Duration::from_secs(3600));
    assert!(
        speech_seconds(after) < 0.2,
        "the agent answered the intruder ({:.1} s of speech after the greeting)",
        speech_seconds(after)
    );
    parla.wait_idle(Duration::from_secs(5)).await;
    assert!(
        !parla.log_text().contains("speaker=User"),
        "no caller turn was heard"
    );
}
