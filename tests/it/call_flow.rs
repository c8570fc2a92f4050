//! End-to-end: a real `parla` process answers calls from the Rust test caller
//! with the offline stack (local whisper STT, the flow LLM, espeak-ng TTS); the
//! caller's recording is transcribed by whisper and checked.

use crate::support;

use std::time::Duration;

use parla_testkit::caller::{place_call, Action, EndedBy};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greets_then_answers_what_the_caller_said() {
    let w = whisper();
    let parla = start_flow_agent("", &rtp_range(0, 20));
    let outcome = place_call(say_after_greeting(
        parla.sip,
        "I would like to book an appointment",
    ))
    .await
    .unwrap();
    assert_eq!(outcome.final_status, 200, "sip log: {:#?}", outcome.sip_log);
    assert_eq!(outcome.rtp_lost, 0);

    let (greeting, reply) = split_greeting_and_reply(&outcome);
    assert!(
        speech_seconds(&greeting) > 1.5,
        "the greeting was heard before the caller spoke"
    );
    let greeting_text = w.transcribe(&greeting, 8000).await.unwrap();
    let wer = parla_testkit::speech::best_phrase_wer(
        &greeting_text,
        "thanks for calling parla how can i help you today",
    );
    assert!(
        wer <= 0.5,
        "greeting transcript {greeting_text:?} (wer {wer:.2})"
    );

    let reply_text = w.transcribe(&reply, 8000).await.unwrap();
    let (which, wer) = best_match(&reply_text, FLOW_REPLIES);
    assert_eq!(
        which, 0,
        "expected the appointment answer, heard {reply_text:?} (wer {wer:.2})"
    );
    // Whisper tiny.en garbles a few words of 8 kHz espeak audio ("book an" →
    // "look at"); the reply must still match the appointment answer best.
    assert!(
        wer <= 0.65,
        "appointment answer transcript {reply_text:?} (wer {wer:.2})"
    );

    parla.wait_idle(Duration::from_secs(5)).await;
    let metrics = parla.metrics().await;
    for stage in ["eou", "stt", "llm_ttft", "tts_ttfb", "v2v"] {
        let line = format!("parla_turn_latency_seconds_count{{stage=\"{stage}\"}} 1");
        assert!(metrics.contains(&line), "missing {line} in\n{metrics}");
    }
    assert_eq!(parla.metric("parla_calls_total").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dtmf_digits_drive_the_flow() {
    let w = whisper();
    let parla = start_flow_agent("", &rtp_range(0, 20));
    let mut spec = call_to(&parla);
    spec.script = vec![
        end_of_greeting(),
        Action::Dtmf {
            digits: "2".into(),
            duration_ms: 120,
        },
        agent_speaks(),
        agent_done(),
        Action::Hangup,
    ];
    let outcome = place_call(spec).await.unwrap();
    assert_eq!(outcome.final_status, 200);
    let pressed = outcome.event_time("dtmf 2").expect("digit sent");
    let reply = outcome
        .agent_audio_between(pressed, Duration::from_secs(3600))
        .to_vec();
    let text = w.transcribe(&reply, 8000).await.unwrap();
    let (which, wer) = best_match(&text, FLOW_REPLIES);
    assert_eq!(
        which, 1,
        "digit 2 selects opening hours; heard {text:?} (wer {wer:.2})"
    );
    // Closest is not enough: the opening-hours answer must actually be heard.
    assert!(
        wer <= 0.5,
        "opening hours transcript {text:?} (wer {wer:.2})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goodbye_intent_hangs_up_after_speaking() {
    let w = whisper();
    let parla = start_flow_agent("", &rtp_range(0, 20));
    let mut spec = call_to(&parla);
    spec.script = vec![
        end_of_greeting(),
        Action::Play(utterance("Goodbye")),
        // No Hangup: the agent should say goodbye and send BYE.
    ];
    spec.max_duration = Duration::from_secs(30);
    let outcome = place_call(spec).await.unwrap();
    assert_eq!(
        outcome.ended_by,
        EndedBy::Agent,
        "events: {:?}",
        outcome.caller_events
    );
    let end = outcome.event_time("play end").unwrap();
    let text = w
        .transcribe(
            outcome.agent_audio_between(end, Duration::from_secs(3600)),
            8000,
        )
        .await
        .unwrap();
    let (which, wer) = best_match(&text, FLOW_REPLIES);
    assert_eq!(which, 3, "heard {text:?}");
    assert!(wer <= 0.5, "goodbye transcript {text:?} (wer {wer:.2})");
    parla.wait_idle(Duration::from_secs(5)).await;
}
