//! Provider sections of `parla.toml`.

use futures::StreamExt;
use parla_engine::providers::config::{LlmProviderConfig, SttProviderConfig, TtsProviderConfig};
use parla_engine::providers::egress::EgressPolicy;
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
    file.stt.build(&EgressPolicy::strict()).unwrap();
    let tts = file.tts.build(&EgressPolicy::strict()).unwrap();
    assert!(!tts
        .synthesize("ok", "")
        .await
        .unwrap()
        .collect::<Vec<_>>()
        .await
        .is_empty());
    let llm = file.llm.build(&EgressPolicy::strict()).unwrap();
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
    stt.build(&EgressPolicy::strict()).unwrap();
    assert!(
        !format!("{stt:?}").contains("dg-secret"),
        "keys are redacted in Debug"
    );

    let llm: LlmProviderConfig = toml::from_str(
        "provider = \"openai\"\nbase_url = \"http://127.0.0.1:11434/v1\"\nmodel = \"llama3\"\ntemperature = 0.2\nmax_tokens = 200\n",
    )
    .unwrap();
    // A plain-http local model is refused unless the operator allowed it.
    assert!(
        matches!(llm.build(&EgressPolicy::strict()).err(), Some(ProviderError::Config(m)) if m.contains("https"))
    );
    llm.build(&EgressPolicy::allowing(["127.0.0.1:11434"]).unwrap())
        .unwrap();

    let tts: TtsProviderConfig =
        toml::from_str("provider = \"openai\"\napi_key = \"sk-x\"\nvoice = \"nova\"\n").unwrap();
    tts.build(&EgressPolicy::strict()).unwrap();

    // Built-in flow script when none is given.
    let flow: LlmProviderConfig = toml::from_str("provider = \"flow\"\n").unwrap();
    flow.build(&EgressPolicy::strict()).unwrap();
}

#[test]
fn flow_script_from_file() {
    let path = std::env::temp_dir().join(format!("parla-flow-{}.toml", std::process::id()));
    std::fs::write(&path, "[flow]\nfallback = \"What?\"\n").unwrap();
    let parse = || -> LlmProviderConfig {
        toml::from_str(&format!(
            "provider = \"flow\"\nscript = {:?}\n",
            path.display().to_string()
        ))
        .unwrap()
    };
    // Building never reads the file: it must have been resolved on load.
    let unresolved = parse();
    assert!(
        matches!(unresolved.build(&EgressPolicy::strict()).err(), Some(ProviderError::Config(m)) if m.contains("was not loaded")),
        "build reads no file"
    );
    let mut llm = parse();
    let LlmProviderConfig::Flow(f) = &mut llm else {
        panic!()
    };
    f.resolve_script().unwrap();
    assert!(f.script.is_none() && f.flow.as_ref().unwrap().fallback == "What?");
    llm.build(&EgressPolicy::strict()).unwrap();
    std::fs::remove_file(&path).unwrap();
    let LlmProviderConfig::Flow(mut f) = parse() else {
        panic!()
    };
    assert!(
        matches!(f.resolve_script().err(), Some(ProviderError::Config(_))),
        "missing file"
    );
}

#[test]
fn flow_script_files_are_regular_and_bounded_and_never_echoed() {
    use parla_engine::providers::config::{FlowSettings, MAX_SCRIPT_FILE_BYTES};
    let dir = std::env::temp_dir().join(format!("parla-flow-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let big = dir.join("big.toml");
    std::fs::write(
        &big,
        format!(
            "[flow]\nfallback = \"{}\"\n",
            "x".repeat(MAX_SCRIPT_FILE_BYTES as usize)
        ),
    )
    .unwrap();
    let key = dir.join("secret.key");
    std::fs::write(&key, "c2VjcmV0LWtleS1ieXRlcy1zaG91bGQtbmV2ZXItbGVhaw==\n").unwrap();
    for (path, expected) in [
        (fifo.as_path(), "not a regular file"),
        (std::path::Path::new("/dev/zero"), "not a regular file"),
        (dir.as_path(), "not a regular file"),
        (big.as_path(), "larger than"),
        (key.as_path(), "not a TOML file with a [flow] table"),
    ] {
        let mut f = FlowSettings {
            script: Some(path.to_path_buf()),
            flow: None,
        };
        let e = f.resolve_script().unwrap_err().to_string();
        assert!(e.contains(expected), "{}: {e}", path.display());
        assert!(
            !e.contains("c2VjcmV0"),
            "the file's text is never echoed: {e}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn misconfigurations_are_reported() {
    // Deepgram needs a key.
    let stt: SttProviderConfig = toml::from_str("provider = \"deepgram\"\n").unwrap();
    assert!(matches!(
        stt.build(&EgressPolicy::strict()).err(),
        Some(ProviderError::Config(_))
    ));
    // A named variable that is not set.
    let stt: SttProviderConfig =
        toml::from_str("provider = \"openai\"\napi_key_env = \"PARLA_TEST_UNSET_VAR_XYZ\"\n")
            .unwrap();
    assert!(
        matches!(stt.build(&EgressPolicy::strict()).err(), Some(ProviderError::Config(m)) if m.contains("PARLA_TEST_UNSET_VAR_XYZ"))
    );
    // Unknown provider or field.
    assert!(toml::from_str::<TtsProviderConfig>("provider = \"festival\"\n").is_err());
    assert!(toml::from_str::<TtsProviderConfig>("provider = \"espeak\"\nspeed = 3\n").is_err());
    // A bad regex in an inline flow.
    let llm: LlmProviderConfig = toml::from_str(
        "provider = \"flow\"\n[flow]\nfallback = \"x\"\n[[flow.intents]]\nname = \"a\"\nregex = \"(\"\nreply = \"y\"\n",
    )
    .unwrap();
    assert!(matches!(
        llm.build(&EgressPolicy::strict()).err(),
        Some(ProviderError::Config(_))
    ));
}
