//! End-to-end with the cloud provider clients (Deepgram streaming STT, an
//! OpenAI-compatible streaming LLM and OpenAI TTS), pointed at protocol-faithful
//! local servers; plus barge-in and provider failures heard by the caller.

use crate::support;

use std::time::Duration;

use parla_testkit::caller::{place_call, Action};
use parla_testkit::servers::deepgram::MockDeepgram;
use parla_testkit::servers::openai_llm::MockLlm;
use parla_testkit::servers::openai_stt::MockStt;
use parla_testkit::servers::openai_tts::MockTts;
use parla_testkit::servers::Fault;
use parla_testkit::speech::{best_phrase_wer, normalize, rms_dbfs, voiced_spans};
use support::*;

const LLM_REPLY: &str =
    "Certainly. I will book that appointment. Which day would you like to come in?";
const LLM_DEFAULT: &str = "I am sorry, I can only help with appointments today.";

fn cloud_config(stt: &str, llm: &str, tts: &str, greeting: &str) -> String {
    cloud_config_with(stt, llm, tts, greeting, "")
}

fn cloud_config_with(stt: &str, llm: &str, tts: &str, greeting: &str, extra: &str) -> String {
    format!(
        r#"
[[agents]]
name = "cloud"
numbers = ["*"]
greeting = "{greeting}"
{extra}
system_prompt = "You are the receptionist of a dental clinic."

[agents.stt]
{stt}

[agents.llm]
provider = "openai"
base_url = "{llm}"
api_key = "sk-test-llm"
model = "gpt-4o-mini"

[agents.tts]
{tts}
"#
    )
}

/// What the mock Deepgram and LLM saw, for a failure message: which of
/// audio in, transcript out and the LLM request went missing.
fn deepgram_diagnosis(deepgram: &MockDeepgram, llm: &MockLlm) -> String {
    let mut out = String::new();
    for (i, c) in deepgram.connections().iter().enumerate() {
        out.push_str(&format!(
            "deepgram connection {i}: {} audio frames ({} bytes), controls {:?}, finals {:?}, errors {:?}, close {:?}\n",
            c.audio_frames,
            c.audio_bytes,
            c.control_types(),
            c.final_results()
                .iter()
                .map(|r| r["channel"]["alternatives"][0]["transcript"].clone())
                .collect::<Vec<_>>(),
            c.errors,
            c.close,
        ));
    }
    let streamed = llm.requests().iter().filter(|r| r.is_stream()).count();
    out.push_str(&format!("LLM streamed requests: {streamed}"));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deepgram_openai_llm_and_openai_tts_answer_the_caller() {
    let w = whisper();
    let deepgram = MockDeepgram::builder(w.clone())
        .api_key("dg-test")
        .start()
        .unwrap();
    let llm = MockLlm::builder()
        .api_key("sk-test-llm")
        .keyword("appointment", LLM_REPLY)
        .default_reply(LLM_DEFAULT)
        .start()
        .unwrap();
    let tts = MockTts::builder().api_key("sk-test-tts").start().unwrap();
    let stt = format!(
        "provider = \"deepgram\"\nbase_url = \"{}\"\napi_key = \"dg-test\"",
        deepgram.ws_url()
    );
    let tts_cfg = format!(
        "provider = \"openai\"\nbase_url = \"{}\"\napi_key = \"sk-test-tts\"\nvoice = \"alloy\"",
        tts.v1_url()
    );
    let parla = Parla::start(
        &cloud_config_with(
            &stt,
            &llm.v1_url(),
            &tts_cfg,
            "Hello, you have reached the dental clinic. How can I help?",
            "response_timeout_ms = 2000",
        ),
        &rtp_range(2, 10),
    );

    let outcome = place_call(say_after_greeting(
        parla.sip,
        "I would like to book an appointment",
    ))
    .await
    .unwrap();
    assert_eq!(outcome.final_status, 200);
    let (greeting, reply) = split_greeting_and_reply(&outcome);
    let greeting_text = w.transcribe(&greeting, 8000).await.unwrap();
    assert!(
        best_phrase_wer(
            &greeting_text,
            "you have reached the dental clinic how can i help"
        ) <= 0.5,
        "greeting via OpenAI TTS: {greeting_text:?}"
    );
    let reply_text = w.transcribe(&reply, 8000).await.unwrap();
    let (wer_reply, wer_default) = (
        best_phrase_wer(&reply_text, LLM_REPLY),
        best_phrase_wer(&reply_text, LLM_DEFAULT),
    );
    assert!(
        wer_reply <= 0.5 && wer_reply < wer_default,
        "reply {reply_text:?}: wer {wer_reply:.2} vs default {wer_default:.2}\n{}",
        deepgram_diagnosis(&deepgram, &llm)
    );

    // What crossed each protocol.
    let conn = deepgram
        .last_connection()
        .expect("Parla opened a Deepgram stream");
    assert_eq!(conn.header("authorization"), Some("Token dg-test"));
    assert_eq!(conn.param("encoding"), Some("linear16"));
    assert_eq!(conn.param("sample_rate"), Some("16000"));
    assert!(
        conn.control_types().iter().any(|t| t == "Finalize"),
        "end of turn sends Finalize"
    );
    let request = llm
        .requests()
        .into_iter()
        .find(|r| r.is_stream())
        .expect("a streamed chat completion");
    assert_eq!(request.header("authorization"), Some("Bearer sk-test-llm"));
    let messages = request.messages();
    assert_eq!(messages[0]["role"], "system");
    assert!(messages[0]["content"]
        .as_str()
        .unwrap()
        .contains("dental clinic"));
    let user = request.last_user_text().unwrap_or_default();
    assert!(
        best_phrase_wer(&user, "book an appointment") <= 0.34,
        "Deepgram transcript reached the LLM: {user:?}"
    );
    let spoken = tts.inputs();
    assert!(
        spoken.iter().any(|s| s.contains("book that appointment")),
        "LLM output streamed into TTS: {spoken:?}"
    );
    parla.wait_idle(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_silences_the_agent_and_keeps_only_the_heard_greeting() {
    let w = whisper();
    let llm = MockLlm::builder()
        .api_key("sk-test-llm")
        .keyword("appointment", LLM_REPLY)
        .default_reply(LLM_DEFAULT)
        .start()
        .unwrap();
    let greeting = "Hello, thanks for calling the dental clinic. I am the virtual assistant, and I can help you book an appointment, tell you our opening hours, or connect you with a member of our friendly team.";
    let stt = format!("provider = \"openai\"\nbase_url = \"{}/v1\"", w.base_url());
    let parla = Parla::start(
        &cloud_config_with(
            &stt,
            &llm.v1_url(),
            "provider = \"espeak\"",
            greeting,
            "response_timeout_ms = 2000",
        ),
        &rtp_range(2, 10),
    );

    let mut spec = call_to(&parla);
    spec.script = vec![
        agent_speaks(),
        Action::Wait(Duration::from_millis(2000)),
        Action::Play(utterance("I would like to book an appointment")),
        agent_speaks(),
        agent_done(),
        Action::Hangup,
    ];
    let outcome = place_call(spec).await.unwrap();
    assert_eq!(outcome.final_status, 200);

    // The agent's audio stops shortly after the caller starts talking over it.
    let start = outcome.event_time("play start").unwrap();
    let end = outcome.event_time("play end").unwrap();
    let spans = voiced_spans(outcome.agent_audio_between(start, end), 8000, -40.0, 150);
    let stopped_after_ms = spans.first().map(|(_, e)| *e).unwrap_or(0);
    // Measured from the first voiced moment of the caller's speech (espeak's
    // audio starts with some silence): the 250 ms of speech barge-in needs,
    // plus VAD onset and the audio already on its way.
    let caller_speech = utterance("I would like to book an appointment");
    let onset_ms = voiced_spans(&caller_speech, 8000, -40.0, 150)
        .first()
        .map(|(s, _)| *s)
        .unwrap_or(0);
    let stopped_ms = stopped_after_ms.saturating_sub(onset_ms);
    eprintln!("barge-in: agent audio stopped {stopped_ms} ms after the caller began to speak (onset {onset_ms} ms)");
    assert!(
        stopped_ms <= 650,
        "agent still talking {stopped_ms} ms after the caller began to speak (onset {onset_ms} ms, spans {spans:?})"
    );
    let after_stop = outcome.agent_audio_between(start + Duration::from_millis(1000), end);
    assert!(
        rms_dbfs(after_stop) < -45.0,
        "agent silent while the caller speaks: {:.1} dBFS",
        rms_dbfs(after_stop)
    );

    // The next LLM request's history holds only the part of the greeting that was heard.
    let request = llm
        .requests()
        .into_iter()
        .find(|r| r.is_stream())
        .expect("LLM asked after the caller's turn");
    let messages = request.messages();
    let heard = messages
        .iter()
        .find(|m| m["role"] == "assistant")
        .and_then(|m| m["content"].as_str())
        .expect("the greeting is in the history")
        .to_string();
    let (heard_words, full_words) = (normalize(&heard), normalize(greeting));
    assert!(
        !heard_words.is_empty() && heard_words.len() < full_words.len() / 2,
        "kept {heard:?}"
    );
    assert_eq!(
        heard_words[..],
        full_words[..heard_words.len()],
        "kept a prefix of the greeting: {heard:?}"
    );
    let user = request.last_user_text().unwrap_or_default();
    assert!(
        best_phrase_wer(&user, "book an appointment") <= 0.34,
        "the barge-in speech became the user turn: {user:?}"
    );

    // And the agent answered the barge-in.
    let reply_text = w
        .transcribe(
            outcome.agent_audio_between(end, Duration::from_secs(3600)),
            8000,
        )
        .await
        .unwrap();
    assert!(
        best_phrase_wer(&reply_text, LLM_REPLY) <= 0.5,
        "reply after barge-in: {reply_text:?}"
    );
}

/// A failing or stalled LLM: the caller hears the fallback line, and never sits
/// in more than 2 s of silence after finishing a sentence.
///
/// The STT is a fast fake that hears the caller's sentence, so the fallback can
/// only come from the LLM's fault (a slow recognizer would produce the same
/// line through the response timeout); whisper checks what the caller heard.
async fn provider_failure_plays_fallback(fault: Fault) {
    let w = whisper();
    let stalled = fault == Fault::Stall;
    let llm = MockLlm::builder()
        .keyword("appointment", LLM_REPLY)
        .fault(fault)
        .start()
        .unwrap();
    let fake_stt = MockStt::builder()
        .transcript("I would like to book an appointment")
        .start()
        .unwrap();
    let stt = format!(
        "provider = \"openai\"\nbase_url = \"{}\"",
        fake_stt.v1_url()
    );
    let parla = Parla::start(
        &cloud_config(
            &stt,
            &llm.v1_url(),
            "provider = \"espeak\"",
            "Hello, how can I help?",
        ),
        &rtp_range(2, 10),
    );
    let outcome = place_call(say_after_greeting(
        parla.sip,
        "I would like to book an appointment",
    ))
    .await
    .unwrap();
    assert_eq!(outcome.final_status, 200);
    let end = outcome.event_time("play end").unwrap();
    let after = outcome.agent_audio_between(end, Duration::from_secs(3600));
    let spans = voiced_spans(after, 8000, -40.0, 300);
    let first = spans
        .first()
        .expect("the agent said something after the caller's turn")
        .0;
    assert!(first <= 2000, "caller waited {first} ms in silence");
    let text = w.transcribe(after, 8000).await.unwrap();
    assert!(
        best_phrase_wer(
            &text,
            "sorry i'm having trouble right now could you say that again"
        ) <= 0.5,
        "fallback heard: {text:?}"
    );
    // The fallback answers the LLM's fault: the LLM got the caller's turn…
    assert_eq!(fake_stt.requests(), 1, "one caller turn transcribed");
    let request = llm.last_request().expect("the LLM was asked");
    assert!(
        request.body.to_string().contains("book an appointment"),
        "the LLM got the caller's words: {}",
        request.body
    );
    // …and a stalled stream was given up on (the connection closed), not left open.
    if stalled {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while llm.disconnects() == 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(llm.disconnects(), 1, "Parla closed the stalled LLM stream");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_error_plays_the_fallback_line() {
    provider_failure_plays_fallback(Fault::Status(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_stall_plays_the_fallback_line_within_two_seconds() {
    provider_failure_plays_fallback(Fault::Stall).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tts_outage_still_speaks_the_prerendered_fallback() {
    let w = whisper();
    let llm = MockLlm::builder()
        .keyword("appointment", LLM_REPLY)
        .start()
        .unwrap();
    let tts = MockTts::builder()
        .fault(Fault::Status(503))
        .start()
        .unwrap();
    let stt = format!("provider = \"openai\"\nbase_url = \"{}/v1\"", w.base_url());
    let tts_cfg = format!("provider = \"openai\"\nbase_url = \"{}\"", tts.v1_url());
    let parla = Parla::start(
        &cloud_config(&stt, &llm.v1_url(), &tts_cfg, "Hello, how can I help?"),
        &rtp_range(2, 10),
    );
    let mut spec = call_to(&parla);
    spec.script = vec![
        Action::WaitForAgentSpeech {
            timeout: Duration::from_secs(5),
        },
        end_of_greeting(),
        Action::Hangup,
    ];
    let outcome = place_call(spec).await.unwrap();
    let first = outcome
        .first_agent_audio
        .expect("the caller heard something although TTS is down");
    assert!(
        first <= Duration::from_secs(2),
        "first audio after {first:?}"
    );
    let text = w.transcribe(&outcome.agent_audio, 8000).await.unwrap();
    assert!(
        best_phrase_wer(&text, "sorry i'm having trouble right now") <= 0.5,
        "heard {text:?}"
    );
}
