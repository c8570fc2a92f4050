//! Many calls at once and many calls in a row: every caller gets a correct
//! reply, nothing stays active afterwards, and RTP ports are reused, not leaked.

use crate::support;

use std::time::Duration;

use parla_testkit::caller::{place_call, Action};
use parla_testkit::servers::openai_stt::MockStt;
use support::*;

/// Calls placed at once.
const CONCURRENT_CALLS: usize = 50;
/// Calls placed one after another through a pool of only `SEQUENTIAL_PORTS` RTP ports.
const SEQUENTIAL_CALLS: usize = 100;
const SEQUENTIAL_PORTS: u16 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_simultaneous_calls_all_get_the_right_reply() {
    let w = whisper();
    // One CPU whisper cannot transcribe 50 turns at once on 2 cores (the single-call
    // tests check recognition of real speech); here an OpenAI-compatible STT
    // server returns what the callers say, and everything else is real: VAD and
    // endpointing on the callers' audio, the flow, espeak-ng, RTP both ways.
    let stt = MockStt::builder()
        .transcript("I would like to book an appointment.")
        .start()
        .unwrap();
    let parla = Parla::start(
        &flow_agent_config(&stt.v1_url(), ""),
        &rtp_range(3, CONCURRENT_CALLS as u16),
    );
    // Even callers ask for an appointment by voice; odd ones press 2 for the
    // opening hours (no STT). Crossed calls would get the other reply.
    let speaks = |i: usize| i % 2 == 0;
    let speech = utterance("I would like to book an appointment");
    let mut calls = Vec::new();
    for i in 0..CONCURRENT_CALLS {
        let mut spec = call_to(&parla);
        spec.from_user = format!("caller{i}");
        spec.answer_timeout = Duration::from_secs(20);
        spec.max_duration = Duration::from_secs(120);
        spec.script = vec![
            Action::WaitForAgentSilence {
                min_silence: Duration::from_millis(900),
                timeout: Duration::from_secs(40),
            },
            Action::Wait(Duration::from_millis(100 * i as u64)),
            if speaks(i) {
                Action::Play(speech.clone())
            } else {
                Action::Dtmf {
                    digits: "2".into(),
                    duration_ms: 120,
                }
            },
            Action::WaitForAgentSpeech {
                timeout: Duration::from_secs(30),
            },
            Action::WaitForAgentSilence {
                min_silence: Duration::from_millis(1200),
                timeout: Duration::from_secs(30),
            },
            Action::Hangup,
        ];
        calls.push(tokio::spawn(place_call(spec)));
    }
    let mut outcomes = Vec::new();
    for c in calls {
        outcomes.push(c.await.unwrap().unwrap());
    }
    parla.wait_idle(Duration::from_secs(10)).await;
    let speakers = (0..CONCURRENT_CALLS).filter(|&i| speaks(i)).count();
    assert_eq!(
        stt.requests(),
        speakers,
        "one endpointed utterance per speaking call reached STT"
    );
    // Each upload carried that caller's whole utterance: 16 kHz 16-bit mono
    // (4 bytes per 8 kHz caller sample), plus at most the pre-roll and the
    // endpointing silence — not an empty or truncated file, nor two turns.
    let utterance_bytes = speech.len() * 4;
    for (n, size) in stt.file_sizes().into_iter().enumerate() {
        assert!(
            size >= utterance_bytes * 9 / 10 && size <= utterance_bytes + 3 * 32_000,
            "STT upload {n}: {size} bytes for a {utterance_bytes}-byte utterance"
        );
    }
    // Transcribe the replies after the load, with the CPU to ourselves.
    let mut wrong = Vec::new();
    for (i, outcome) in outcomes.iter().enumerate() {
        assert_eq!(outcome.final_status, 200, "call {i}: {:?}", outcome.sip_log);
        assert_eq!(outcome.rtp_lost, 0, "call {i} lost agent RTP");
        let asked = if speaks(i) { "play end" } else { "dtmf 2" };
        let end = outcome
            .event_time(asked)
            .unwrap_or_else(|| panic!("call {i} never asked: {:?}", outcome.caller_events));
        let text = w
            .transcribe(
                outcome.agent_audio_between(end, Duration::from_secs(3600)),
                8000,
            )
            .await
            .unwrap();
        let (which, wer) = best_match(&text, FLOW_REPLIES);
        // Whisper tiny.en on 8 kHz espeak audio garbles a few words ("works best" →
        // "work fast"); the reply must still match the expected answer best
        // (appointment for speakers, opening hours for the key press).
        let expected = if speaks(i) { 0 } else { 1 };
        if which != expected || wer > 0.65 {
            wrong.push(format!("call {i}: heard {text:?} (wer {wer:.2})"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {CONCURRENT_CALLS} calls got a wrong reply:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(
        parla.metric("parla_calls_total").await,
        CONCURRENT_CALLS as f64
    );
    assert_eq!(parla.metric("parla_calls_active").await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_sequential_calls_reuse_a_few_rtp_ports() {
    let parla = start_flow_agent("", &rtp_range(3, SEQUENTIAL_PORTS));
    for i in 0..SEQUENTIAL_CALLS {
        let mut spec = call_to(&parla);
        spec.script = vec![
            Action::WaitForAgentSpeech {
                timeout: Duration::from_secs(5),
            },
            Action::Hangup,
        ];
        let outcome = place_call(spec).await.unwrap();
        assert_eq!(
            outcome.final_status, 200,
            "call {i} of {SEQUENTIAL_CALLS} (ports leaked?): {:?}",
            outcome.sip_log
        );
        assert!(outcome.rtp_packets_received > 0, "call {i}: no agent audio");
        // BYE frees the call before the next one needs its port.
        parla.wait_idle(Duration::from_secs(5)).await;
    }
    assert_eq!(
        parla.metric("parla_calls_total").await,
        SEQUENTIAL_CALLS as f64
    );
}
