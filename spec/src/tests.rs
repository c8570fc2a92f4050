//! The allow-lists, through [`AgentProviders::from_input`].

use serde_json::json;

use super::*;

fn input<'a>(
    kinds: (&'a str, &'a str, &'a str),
    credentials: Option<&'a serde_json::Value>,
    flow: Option<&'a serde_json::Value>,
) -> ProviderInput<'a> {
    ProviderInput {
        stt_provider: kinds.0,
        llm_provider: kinds.1,
        tts_provider: kinds.2,
        credentials,
        flow,
    }
}

fn fields(r: Result<AgentProviders, SpecError>) -> Vec<(String, String)> {
    r.expect_err("refused")
        .fields
        .into_iter()
        .map(|e| (e.field, e.message))
        .collect()
}

#[test]
fn empty_kinds_are_the_defaults_and_typed_settings_come_back() {
    let p = AgentProviders::from_input(&input(("", "", ""), None, None)).unwrap();
    assert_eq!(p.kinds(), ("openai", "flow", "espeak"));
    let creds = json!({
        "stt": {"base_url": "https://api.groq.com/openai/v1", "api_key": "gsk", "model": "whisper-large-v3"},
        "llm": {"base_url": "http://127.0.0.1:9400/v1", "temperature": 0.3, "max_tokens": 200, "api_key": null},
        "tts": {"voice": "nova"}
    });
    let p = AgentProviders::from_input(&input(("openai", "openai", "openai"), Some(&creds), None))
        .unwrap();
    let SttSettings::Openai(stt) = &p.stt else {
        panic!("{p:?}")
    };
    assert_eq!(stt.api_key.as_ref().unwrap().expose(), "gsk");
    assert!(!format!("{p:?}").contains("gsk"), "keys are redacted");
    let LlmSettings::Openai(llm) = &p.llm else {
        panic!("{p:?}")
    };
    assert_eq!(
        (llm.temperature, llm.max_tokens, llm.api_key.is_none()),
        (Some(0.3), Some(200), true)
    );
}

#[test]
fn operator_only_and_unknown_keys_are_refused_by_name() {
    let creds = json!({"tts": {"base_url": "https://attacker.example/v1", "api_key_env": "PARLA_ADMIN_PASSWORD"}});
    let f = fields(AgentProviders::from_input(&input(
        ("", "", "openai"),
        Some(&creds),
        None,
    )));
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0, "credentials.tts.api_key_env");
    assert!(f[0].1.contains("operator"), "{f:?}");

    let creds = json!({"llm": {"script": "/dev/zero"}});
    let f = fields(AgentProviders::from_input(&input(
        ("", "flow", ""),
        Some(&creds),
        None,
    )));
    assert_eq!(f[0].0, "credentials.llm.script");

    let creds = json!({"llm": {"temprature": 1}, "openai_key": "x"});
    let f = fields(AgentProviders::from_input(&input(
        ("", "openai", ""),
        Some(&creds),
        None,
    )));
    let names: Vec<&str> = f.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["credentials.openai_key", "credentials.llm.temprature"],
        "{f:?}"
    );
}

#[test]
fn unknown_kinds_wrong_types_and_ranges_name_the_field() {
    let f = fields(AgentProviders::from_input(&input(
        ("polly", "gpt", "piper"),
        None,
        None,
    )));
    let names: Vec<&str> = f.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["stt_provider", "llm_provider", "tts_provider"]);
    assert!(f[0].1.contains("unknown provider \"polly\""), "{f:?}");

    for (creds, field) in [
        (
            json!({"llm": {"temperature": 3.0}}),
            "credentials.llm.temperature",
        ),
        (
            json!({"llm": {"temperature": "hot"}}),
            "credentials.llm.temperature",
        ),
        (
            json!({"llm": {"max_tokens": 0}}),
            "credentials.llm.max_tokens",
        ),
        (
            json!({"llm": {"model": "x".repeat(201)}}),
            "credentials.llm.model",
        ),
        (
            json!({"llm": {"model": "gpt\u{0}"}}),
            "credentials.llm.model",
        ),
        (
            json!({"llm": {"base_url": "file:///etc/passwd"}}),
            "credentials.llm.base_url",
        ),
        (
            json!({"llm": {"base_url": "https://u:p@x.example/"}}),
            "credentials.llm.base_url",
        ),
        (json!({"llm": {"api_key": 5}}), "credentials.llm.api_key"),
        (json!({"llm": "sk"}), "credentials.llm"),
    ] {
        let f = fields(AgentProviders::from_input(&input(
            ("", "openai", ""),
            Some(&creds),
            None,
        )));
        assert_eq!(f[0].0, field, "{creds}: {f:?}");
    }
    let creds = json!({"tts": {"rate_wpm": 1000}});
    let f = fields(AgentProviders::from_input(&input(
        ("", "", "espeak"),
        Some(&creds),
        None,
    )));
    assert_eq!(f[0].0, "credentials.tts.rate_wpm");
    let f = fields(AgentProviders::from_input(&input(
        ("deepgram", "", ""),
        None,
        None,
    )));
    assert_eq!(f[0].0, "credentials.stt.api_key");
    let f = fields(AgentProviders::from_input(&input(
        ("", "", ""),
        Some(&json!([1])),
        None,
    )));
    assert_eq!(f[0].0, "credentials");
}

#[test]
fn flow_scripts_are_bounded_content() {
    let good = json!({"fallback": "Pardon?", "intents": [
        {"name": "day", "keywords": ["book"], "dtmf": "1", "reply": "Booked for {day}.",
         "slots": [{"name": "day", "regex": "(?i)(monday|friday)"}]}
    ]});
    let p = AgentProviders::from_input(&input(("", "flow", ""), None, Some(&good))).unwrap();
    let LlmSettings::Flow(f) = &p.llm else {
        panic!()
    };
    assert_eq!(f.flow.as_ref().unwrap().fallback, "Pardon?");

    let big = json!({"fallback": "x".repeat(MAX_FLOW_BYTES)});
    let f = fields(AgentProviders::from_input(&input(
        ("", "flow", ""),
        None,
        Some(&big),
    )));
    assert_eq!(f[0].0, "flow");
    assert!(f[0].1.contains("at most"), "{f:?}");

    for (script, field) in [
        (json!("/dev/zero"), "flow"),
        (json!([1, {"a": null}]), "flow"),
        (
            json!({"fallback": "x", "intents": [{"name": "a", "reply": "y", "regex": "("}]}),
            "flow.intents[0].regex",
        ),
        (
            json!({"fallback": "x", "intents": [{"name": "a", "reply": "y", "regex": "\\w{1000}\\w{1000}"}]}),
            "flow.intents[0].regex",
        ),
        (
            json!({"fallback": "x", "intents": [{"name": "a", "reply": "{nope}"}]}),
            "flow.intents[0].reply",
        ),
        (
            json!({"fallback": "x", "intents": [{"name": "a", "reply": "y", "dtmf": "1; rm"}]}),
            "flow.intents[0].dtmf",
        ),
    ] {
        let f = fields(AgentProviders::from_input(&input(
            ("", "flow", ""),
            None,
            Some(&script),
        )));
        assert_eq!(f[0].0, field, "{script}: {f:?}");
    }
    // A bounded number of regexes in all.
    let many: Vec<_> = (0..=flow::MAX_FLOW_REGEXES)
        .map(|i| json!({"name": format!("i{i}"), "reply": "y", "regex": "x"}))
        .collect();
    let script = json!({"fallback": "x", "intents": many});
    let f = fields(AgentProviders::from_input(&input(
        ("", "flow", ""),
        None,
        Some(&script),
    )));
    assert_eq!(f[0].0, "flow.intents", "{f:?}");
    assert!(f[0].1.contains("regexes"), "{f:?}");

    // Inside the credentials, too.
    let creds = json!({"llm": {"flow": {"fallback": 1}}});
    let f = fields(AgentProviders::from_input(&input(
        ("", "flow", ""),
        Some(&creds),
        None,
    )));
    assert_eq!(f[0].0, "credentials.llm.flow");
}
