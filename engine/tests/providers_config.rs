//! Provider sections of `parla.toml`.

use futures::StreamExt;
use parla_engine::providers::config::{LlmProviderConfig, SttProviderConfig, TtsProviderConfig};
use parla_engine::providers::{ChatMessage, LlmEvent, LlmRequest, ProviderError};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct File {
    stt: SttProviderConfig,
    llm: LlmProviderConfig,
    tts: TtsProviderConfig,
}

#[tokio::test]
async fn parses_and_builds_every_provider() {
    // SAFETY (edition 2021: safe fn): only this test reads this variable.
    std::env::set_var("PARLA_TEST_GROQ_KEY", "gsk-from-env");
    let file: File = toml::from_str(
        r#"
        [stt]
        provider = "openai"
        base_url = "https://api.groq.com/openai/v1"
        api_key_env = "PARLA_TEST_GROQ_KEY"
        model = "whisper-large-v3"
        language = "en"

        [llm]
        provider = "flow"
        [llm.flow]
        fallback = "Pardon?"
        [[llm.flow.intents]]
        name = "bye"
        keywords = ["bye"]
        reply = "Bye!"
        end_call = true

        [tts]
        provider = "espeak"
        voice = "en-gb"
        rate_wpm = 160
        "#,
    )
    .unwrap();
    match &file.stt {
        SttProviderConfig::Openai(s) => assert_eq!(s.model.as_deref(), Some("whisper-large-v3")),
        other => panic!("{other:?}"),
    }
    file.stt.build().unwrap();
    let tts = file.tts.build().unwrap();
    assert!(!tts
        .synthesize("ok", "")
        .await
        .unwrap()
        .collect::<Vec<_>>()
        .await
        .is_empty());
    let llm = file.llm.build().unwrap();
    let events: Vec<_> = llm
        .stream(LlmRequest {
            messages: vec![ChatMessage::user("bye now")],
            tools: vec![],
        })
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(
        events,
        vec![
            LlmEvent::Token("Bye!".into()),
            LlmEvent::EndCall,
            LlmEvent::Done
        ]
    );
}

#[test]
fn remote_providers_build() {
    let stt: SttProviderConfig =
        toml::from_str("provider = \"deepgram\"\napi_key = \"dg-secret\"\nendpointing_ms = 300\n")
            .unwrap();
    stt.build().unwrap();
    assert!(
        !format!("{stt:?}").contains("dg-secret"),
        "keys are redacted in Debug"
    );

    let llm: LlmProviderConfig = toml::from_str(
        "provider = \"openai\"\nbase_url = \"http://127.0.0.1:11434/v1\"\nmodel = \"llama3\"\ntemperature = 0.2\nmax_tokens = 200\n",
    )
    .unwrap();
    llm.build().unwrap();

    let tts: TtsProviderConfig =
        toml::from_str("provider = \"openai\"\napi_key = \"sk-x\"\nvoice = \"nova\"\n").unwrap();
    tts.build().unwrap();

    // Built-in flow script when none is given.
    let flow: LlmProviderConfig = toml::from_str("provider = \"flow\"\n").unwrap();
    flow.build().unwrap();
}

#[test]
fn flow_script_from_file() {
    let path = std::env::temp_dir().join(format!("parla-flow-{}.toml", std::process::id()));
    std::fs::write(&path, "[flow]\nfallback = \"What?\"\n").unwrap();
    let llm: LlmProviderConfig = toml::from_str(&format!(
        "provider = \"flow\"\nscript = {:?}\n",
        path.display().to_string()
    ))
    .unwrap();
    llm.build().unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(
        matches!(llm.build().err(), Some(ProviderError::Config(_))),
        "missing file"
    );
}

#[test]
fn misconfigurations_are_reported() {
    // Deepgram needs a key.
    let stt: SttProviderConfig = toml::from_str("provider = \"deepgram\"\n").unwrap();
    assert!(matches!(stt.build().err(), Some(ProviderError::Config(_))));
    // A named variable that is not set.
    let stt: SttProviderConfig =
        toml::from_str("provider = \"openai\"\napi_key_env = \"PARLA_TEST_UNSET_VAR_XYZ\"\n")
            .unwrap();
    assert!(
        matches!(stt.build().err(), Some(ProviderError::Config(m)) if m.contains("PARLA_TEST_UNSET_VAR_XYZ"))
    );
    // Unknown provider or field.
    assert!(toml::from_str::<TtsProviderConfig>("provider = \"festival\"\n").is_err());
    assert!(toml::from_str::<TtsProviderConfig>("provider = \"espeak\"\nspeed = 3\n").is_err());
    // A bad regex in an inline flow.
    let llm: LlmProviderConfig = toml::from_str(
        "provider = \"flow\"\n[flow]\nfallback = \"x\"\n[[flow.intents]]\nname = \"a\"\nregex = \"(\"\nreply = \"y\"\n",
    )
    .unwrap();
    assert!(matches!(llm.build().err(), Some(ProviderError::Config(_))));
}
