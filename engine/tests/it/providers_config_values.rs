//! What a provider section of an agent actually changes: each remote provider
//! is parsed from the TOML an operator writes, built, and used against a local
//! server that records the request, so a setting that parses but never reaches
//! the wire (a model, a voice, a per-call voice override, a key) fails here.
//! Keys are redacted in every provider's `Debug` output.

use crate::support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use parla_engine::providers::config::{LlmProviderConfig, SttProviderConfig, TtsProviderConfig};
use parla_engine::providers::egress::EgressPolicy;
use parla_engine::providers::{ChatMessage, LlmEvent, LlmRequest, SttEvent, SttInput};
use support::*;

/// A local server that records every request and answers like the provider
/// its path names (OpenAI transcription / chat / speech; Deepgram's `/listen`
/// upgrade is refused with 401 after it has been recorded).
async fn recording_server() -> (SocketAddr, Arc<Mutex<Vec<Request>>>) {
    let seen = Arc::new(Mutex::new(Vec::<Request>::new()));
    let addr = {
        let seen = seen.clone();
        serve(move |req, mut stream| {
            let path = req.path.clone();
            seen.lock().unwrap().push(req);
            async move {
                if path.ends_with("/audio/transcriptions") {
                    respond(&mut stream, 200, "application/json", br#"{"text":"ok"}"#).await;
                } else if path.ends_with("/chat/completions") {
                    let body = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi.\"}}]}\n\n\
                                data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n\
                                data: [DONE]\n\n";
                    respond(&mut stream, 200, "text/event-stream", body.as_bytes()).await;
                } else if path.ends_with("/audio/speech") {
                    respond(&mut stream, 200, "audio/pcm", &[0u8; 4800]).await;
                } else {
                    respond(&mut stream, 401, "text/plain", b"unauthorized").await;
                }
            }
        })
        .await
    };
    (addr, seen)
}

fn allow(addr: SocketAddr) -> EgressPolicy {
    EgressPolicy::allowing([addr.to_string()]).unwrap()
}

fn only(seen: &Arc<Mutex<Vec<Request>>>) -> Request {
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "exactly one request: {seen:?}");
    seen[0].clone()
}

/// `name="<field>"` followed by its value in a multipart/form-data body.
fn form_field(body: &[u8], field: &str) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let marker = format!("name=\"{field}\"\r\n\r\n");
    let start = text.find(&marker)? + marker.len();
    let end = text[start..].find("\r\n")? + start;
    Some(text[start..end].to_string())
}

#[tokio::test]
async fn openai_stt_sends_the_configured_model_language_and_key() {
    let (addr, seen) = recording_server().await;
    let stt: SttProviderConfig = toml::from_str(&format!(
        "provider = \"openai\"\nbase_url = \"http://{addr}/v1\"\napi_key = \"gsk-config-key\"\n\
         model = \"whisper-large-v3-turbo\"\nlanguage = \"de\"\n"
    ))
    .unwrap();
    assert!(!format!("{stt:?}").contains("gsk-config-key"), "{stt:?}");
    let stt = stt.build(&allow(addr)).unwrap();
    // The call's language is empty: the configured one applies.
    let mut session = stt.open("").await.unwrap();
    for _ in 0..25 {
        session
            .input
            .send(SttInput::Audio(vec![300; 320]))
            .await
            .unwrap();
    }
    session.input.send(SttInput::EndOfUtterance).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), session.events.recv())
        .await
        .expect("a transcript in time");
    assert_eq!(event, Some(SttEvent::Final { text: "ok".into() }));

    let req = only(&seen);
    assert_eq!(req.path, "/v1/audio/transcriptions");
    assert_eq!(req.header("authorization"), Some("Bearer gsk-config-key"));
    assert_eq!(
        form_field(&req.body, "model").as_deref(),
        Some("whisper-large-v3-turbo")
    );
    assert_eq!(form_field(&req.body, "language").as_deref(), Some("de"));
}

#[tokio::test]
async fn openai_llm_sends_the_configured_model_sampling_and_key() {
    let (addr, seen) = recording_server().await;
    let llm: LlmProviderConfig = toml::from_str(&format!(
        "provider = \"openai\"\nbase_url = \"http://{addr}/v1\"\napi_key = \"sk-llm-config-key\"\n\
         model = \"llama-3.1-8b-instant\"\ntemperature = 0.25\nmax_tokens = 123\n"
    ))
    .unwrap();
    assert!(!format!("{llm:?}").contains("sk-llm-config-key"), "{llm:?}");
    let llm = llm.build(&allow(addr)).unwrap();
    let events: Vec<_> = llm
        .stream(LlmRequest {
            messages: vec![ChatMessage::user("hello")],
            tools: vec![],
        })
        .await
        .unwrap()
        .collect()
        .await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Ok(LlmEvent::Token(t)) if t == "Hi.")),
        "{events:?}"
    );

    let req = only(&seen);
    assert_eq!(req.path, "/v1/chat/completions");
    assert_eq!(
        req.header("authorization"),
        Some("Bearer sk-llm-config-key")
    );
    let body = req.json();
    assert_eq!(body["model"], "llama-3.1-8b-instant");
    assert_eq!(
        body["temperature"].as_f64().map(|t| (t * 100.0).round()),
        Some(25.0)
    );
    // Either spelling of the completion limit, as long as it is the configured one.
    let limit = body
        .get("max_completion_tokens")
        .or_else(|| body.get("max_tokens"))
        .and_then(|v| v.as_u64());
    assert_eq!(limit, Some(123), "{body}");
    assert_eq!(body["stream"], true);
    assert_eq!(body["messages"][0]["content"], "hello");
}

#[tokio::test]
async fn openai_tts_uses_the_configured_voice_unless_the_call_overrides_it() {
    let (addr, seen) = recording_server().await;
    let tts: TtsProviderConfig = toml::from_str(&format!(
        "provider = \"openai\"\nbase_url = \"http://{addr}/v1\"\napi_key = \"sk-tts-config-key\"\n\
         model = \"gpt-4o-mini-tts\"\nvoice = \"nova\"\n"
    ))
    .unwrap();
    assert!(!format!("{tts:?}").contains("sk-tts-config-key"), "{tts:?}");
    let tts = tts.build(&allow(addr)).unwrap();
    for voice in ["", "onyx"] {
        let chunks: Vec<_> = tts
            .synthesize("Hello.", voice)
            .await
            .unwrap()
            .collect()
            .await;
        assert!(chunks.iter().all(Result::is_ok), "{chunks:?}");
        assert!(!chunks.is_empty());
    }

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    for (req, voice) in seen.iter().zip(["nova", "onyx"]) {
        assert_eq!(req.path, "/v1/audio/speech");
        assert_eq!(
            req.header("authorization"),
            Some("Bearer sk-tts-config-key")
        );
        let body = req.json();
        assert_eq!(body["model"], "gpt-4o-mini-tts");
        assert_eq!(body["voice"], voice, "{body}");
        assert_eq!(body["input"], "Hello.");
        assert_eq!(body["response_format"], "pcm");
    }
}

#[tokio::test]
async fn deepgram_connects_with_the_configured_model_endpointing_and_key() {
    let (addr, seen) = recording_server().await;
    let stt: SttProviderConfig = toml::from_str(&format!(
        "provider = \"deepgram\"\nbase_url = \"ws://{addr}\"\napi_key = \"dg-config-key\"\n\
         model = \"nova-3-general\"\nlanguage = \"fr\"\nendpointing_ms = 275\ninterim_results = false\n"
    ))
    .unwrap();
    assert!(!format!("{stt:?}").contains("dg-config-key"), "{stt:?}");
    let stt = stt.build(&allow(addr)).unwrap();
    // The local server refuses the upgrade after recording it.
    assert!(stt.open("").await.is_err());

    let req = only(&seen);
    assert_eq!(req.method, "GET");
    assert_eq!(req.header("authorization"), Some("Token dg-config-key"));
    let (path, query) = req.path.split_once('?').expect("query parameters");
    assert_eq!(path, "/v1/listen");
    let params: Vec<(&str, &str)> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let param = |k: &str| params.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    assert_eq!(param("model"), Some("nova-3-general"), "{query}");
    assert_eq!(param("language"), Some("fr"), "{query}");
    assert_eq!(param("endpointing"), Some("275"), "{query}");
    assert_eq!(param("interim_results"), Some("false"), "{query}");
    assert_eq!(param("encoding"), Some("linear16"), "{query}");
}

/// All the samples of one synthesis.
async fn espeak_samples(tts: &dyn parla_engine::providers::TextToSpeech, voice: &str) -> Vec<i16> {
    let chunks: Vec<_> = tokio::time::timeout(
        Duration::from_secs(30),
        tts.synthesize("Bonjour, merci beaucoup.", voice)
            .await
            .unwrap()
            .collect::<Vec<_>>(),
    )
    .await
    .expect("synthesis finishes");
    chunks
        .into_iter()
        .flat_map(|c| c.unwrap().samples)
        .collect()
}

#[tokio::test]
async fn espeak_uses_the_configured_voice_and_rate_unless_the_call_overrides_the_voice() {
    let build = |toml_text: &str| {
        toml::from_str::<TtsProviderConfig>(toml_text)
            .unwrap()
            .build(&EgressPolicy::strict())
            .unwrap()
    };
    let english = build("provider = \"espeak\"\nvoice = \"en-us\"\n");
    let french = build("provider = \"espeak\"\nvoice = \"fr\"\n");
    let slow_french = build("provider = \"espeak\"\nvoice = \"fr\"\nrate_wpm = 90\n");

    let en = espeak_samples(english.as_ref(), "").await;
    let fr = espeak_samples(french.as_ref(), "").await;
    let en_as_fr = espeak_samples(english.as_ref(), "fr").await;
    let fr_as_en = espeak_samples(french.as_ref(), "en-us").await;
    eprintln!(
        "samples: en {} fr {} en→fr {} fr→en {}",
        en.len(),
        fr.len(),
        en_as_fr.len(),
        fr_as_en.len()
    );
    assert!(!en.is_empty() && !fr.is_empty());
    // The two voices say the sentence differently; a per-call voice replaces
    // the configured one (the synthesis is the other voice's, within 5 %).
    let close = |a: &[i16], b: &[i16]| a.len().abs_diff(b.len()) * 20 <= b.len();
    assert!(!close(&en, &fr), "the configured voice is the one used");
    assert!(
        close(&en_as_fr, &fr),
        "a per-call voice replaces the configured one"
    );
    assert!(
        close(&fr_as_en, &en),
        "a per-call voice replaces the configured one"
    );
    let slow = espeak_samples(slow_french.as_ref(), "").await;
    assert!(
        slow.len() * 10 > fr.len() * 13,
        "90 wpm is slower than the default: {} vs {} samples",
        slow.len(),
        fr.len()
    );
}
