//! A voice agent row of the admin database → the engine's [`AgentConfig`]
//! (then built by the engine's own [`parla_engine::agent::build_agent`]),
//! through the same tenant allow-lists ([`parla_spec`]) the row was saved with.
//!
//! The storage convention (provider kinds, the encrypted
//! `{"stt": {…}, "llm": {…}, "tts": {…}}` credentials object, the `flow`
//! column, `engine_options`) is documented on
//! `parla_admin_core::store::agents`.

use parla_admin_core::auth::secrets::associated_data;
use parla_admin_core::auth::{AuthError, SecretKey};
use parla_admin_core::store::VoiceAgent;
use parla_engine::agent::AgentConfig;
use parla_spec::{AgentProviders, ProviderInput};

pub use parla_spec::EngineOptions;

/// The engine options of a `parla.toml` agent (all of them, defaults
/// included), as the import stores them.
pub fn engine_options_of(a: &AgentConfig) -> EngineOptions {
    EngineOptions {
        min_utterance_ms: Some(a.min_utterance_ms),
        response_timeout_ms: Some(a.response_timeout_ms),
        fallback_line: Some(a.fallback_line.clone()),
        answer_delay_ms: Some(a.answer_delay_ms),
        max_call_secs: a.max_call_secs,
        record: Some(a.record),
    }
}

/// Why a stored agent cannot run. Messages name the agent and never
/// contain secrets.
#[derive(Debug, thiserror::Error)]
pub enum AgentRowError {
    /// The credentials do not decrypt: wrong `PARLA_SECRET_KEY`, or tampered.
    #[error("agent {agent}: cannot decrypt its provider credentials ({source}); was PARLA_SECRET_KEY or the data directory's secret.key changed? Re-enter the credentials")]
    Decrypt { agent: String, source: AuthError },
    /// The decrypted credentials are not JSON.
    #[error("agent {agent}: credentials are not JSON: {reason}")]
    Credentials { agent: String, reason: String },
    /// The provider kinds, credentials or flow script are outside the
    /// allow-lists of [`parla_spec`] (rows written before they existed, or
    /// not through the API, panel or import).
    #[error("agent {agent}: {source}")]
    Settings {
        agent: String,
        source: parla_spec::SpecError,
    },
    /// `engine_options` is not a valid options object.
    #[error("agent {agent}: engine_options: {reason}")]
    Options { agent: String, reason: String },
    /// The call settings break a rule of the conversation core
    /// ([`ConversationConfig::validate`](parla_engine::conversation::ConversationConfig::validate)),
    /// e.g. a `response_timeout_ms` above 2,000 would let the caller wait
    /// longer than 2 s in silence.
    #[error("agent {agent}: {source}")]
    Conversation {
        agent: String,
        source: parla_engine::conversation::ConfigError,
    },
}

/// The engine configuration of `row`, its credentials decrypted with
/// `secrets` and checked against the tenant allow-lists ([`parla_spec`])
/// exactly as when they were saved: no environment variable or file is
/// ever named by the result. The call settings must pass the conversation
/// core's own checks ([`AgentRowError::Conversation`]); a refused agent
/// is never built, so its calls get 503 like any other build failure.
pub fn engine_config(row: &VoiceAgent, secrets: &SecretKey) -> Result<AgentConfig, AgentRowError> {
    let agent = format!("{} ({})", row.name, row.id);
    let credentials = decrypt_credentials(row, secrets, &agent)?;
    let providers = AgentProviders::from_input(&ProviderInput {
        stt_provider: &row.stt_provider,
        llm_provider: &row.llm_provider,
        tts_provider: &row.tts_provider,
        credentials: credentials.as_ref(),
        flow: row.flow.as_ref().map(|f| &f.0),
    })
    .map_err(|source| AgentRowError::Settings {
        agent: agent.clone(),
        source,
    })?;
    let mut config = AgentConfig::with_providers(
        row.name.to_string(),
        providers.stt.into(),
        providers.llm.into(),
        providers.tts.into(),
    );
    config.greeting = row.greeting.clone();
    config.system_prompt = row.system_prompt.clone();
    if !row.language.trim().is_empty() {
        config.language = row.language.clone();
    }
    config.voice = row.voice.clone();
    config.barge_in = row.barge_in_enabled;
    config.barge_in_min_ms = row.barge_in_min_ms;
    config.endpointing_ms = row.endpointing_ms;
    let options = match &row.engine_options {
        None => EngineOptions::default(),
        Some(v) => serde_json::from_value(v.0.clone()).map_err(|e| AgentRowError::Options {
            agent: agent.clone(),
            reason: e.to_string(),
        })?,
    };
    if let Some(v) = options.min_utterance_ms {
        config.min_utterance_ms = v;
    }
    if let Some(v) = options.response_timeout_ms {
        config.response_timeout_ms = v;
    }
    if let Some(v) = options.fallback_line {
        config.fallback_line = v;
    }
    if let Some(v) = options.answer_delay_ms {
        config.answer_delay_ms = v;
    }
    config.max_call_secs = options.max_call_secs;
    config.record = options.record.unwrap_or(false);
    config
        .conversation()
        .validate()
        .map_err(|source| AgentRowError::Conversation { agent, source })?;
    Ok(config)
}

/// The decrypted credentials object of `row` (`None` when unset).
fn decrypt_credentials(
    row: &VoiceAgent,
    secrets: &SecretKey,
    agent: &str,
) -> Result<Option<serde_json::Value>, AgentRowError> {
    let Some(enc) = &row.credentials_enc else {
        return Ok(None);
    };
    let ad = associated_data(
        "voice_agents",
        &row.tenant_id.to_string(),
        "credentials_enc",
    );
    let plain = secrets
        .decrypt_string(enc.expose(), &ad)
        .map_err(|source| AgentRowError::Decrypt {
            agent: agent.to_owned(),
            source,
        })?;
    // serde_json's message gives a position, not the text.
    serde_json::from_str(&plain)
        .map(Some)
        .map_err(|e| AgentRowError::Credentials {
            agent: agent.to_owned(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use parla_admin_core::domain::{AgentId, JsonText, Opaque, TenantId, Timestamp};
    use parla_engine::providers::config::{LlmProviderConfig, SttProviderConfig};

    fn row(tenant: TenantId) -> VoiceAgent {
        VoiceAgent {
            id: AgentId::generate(),
            tenant_id: tenant,
            name: "Front desk".parse().unwrap(),
            greeting: "Hello".into(),
            system_prompt: "Be brief.".into(),
            flow: None,
            language: "en-US".into(),
            stt_provider: "openai".into(),
            llm_provider: "openai".into(),
            tts_provider: "espeak".into(),
            voice: "en-us".into(),
            barge_in_enabled: false,
            barge_in_min_ms: 400,
            endpointing_ms: 700,
            credentials_enc: None,
            created_at: Timestamp::now(),
            updated_at: Timestamp::now(),
            engine_options: None,
        }
    }

    fn with_credentials(mut r: VoiceAgent, key: &SecretKey, json: &str) -> VoiceAgent {
        let ad = associated_data("voice_agents", &r.tenant_id.to_string(), "credentials_enc");
        r.credentials_enc = Some(Opaque::new(key.encrypt_str(json, &ad).unwrap()));
        r
    }

    #[test]
    fn a_row_maps_to_the_engine_config() {
        let key = SecretKey::generate();
        let mut r = with_credentials(
            row(TenantId::generate()),
            &key,
            r#"{"stt": {"base_url": "http://127.0.0.1:9/v1", "model": "tiny.en"},
                "llm": {"base_url": "http://127.0.0.1:8/v1", "api_key": "sk-test"}}"#,
        );
        r.engine_options = Some(JsonText(
            serde_json::json!({"answer_delay_ms": 300, "response_timeout_ms": 900}),
        ));
        let c = engine_config(&r, &key).unwrap();
        assert_eq!(c.name, "Front desk");
        assert_eq!(
            (c.greeting.as_str(), c.language.as_str()),
            ("Hello", "en-US")
        );
        assert_eq!(
            (c.barge_in, c.barge_in_min_ms, c.endpointing_ms),
            (false, 400, 700)
        );
        assert_eq!((c.answer_delay_ms, c.response_timeout_ms), (300, 900));
        assert_eq!(
            c.min_utterance_ms, 100,
            "unset options keep the engine default"
        );
        let SttProviderConfig::Openai(stt) = &c.stt else {
            panic!("openai stt: {:?}", c.stt)
        };
        assert_eq!(stt.model.as_deref(), Some("tiny.en"));
        let LlmProviderConfig::Openai(llm) = &c.llm else {
            panic!("openai llm: {:?}", c.llm)
        };
        assert_eq!(llm.api_key.as_ref().unwrap().expose(), "sk-test");
    }

    /// The conversation core's rules hold for stored agents: a caller never
    /// waits more than 2 s in silence, endpointing is at least a frame, a
    /// call limit is positive. Such a row is refused, naming the agent and
    /// the setting; the same row within the rules builds.
    #[test]
    fn settings_the_conversation_core_refuses_are_refused() {
        let key = SecretKey::generate();
        let tenant = TenantId::generate();
        for (options, endpointing_ms, expected) in [
            (
                serde_json::json!({"response_timeout_ms": 2_001}),
                700,
                "response_timeout_ms must be in 1..=2000",
            ),
            (
                serde_json::json!({"response_timeout_ms": 5_000}),
                700,
                "caller never waits more than 2 s, got 5000",
            ),
            (
                serde_json::json!({"response_timeout_ms": 0}),
                700,
                "response_timeout_ms",
            ),
            (serde_json::json!({"max_call_secs": 0}), 700, "max_call_ms"),
            (
                serde_json::json!({}),
                1,
                "endpointing_ms must be at least one frame",
            ),
        ] {
            let mut r = row(tenant);
            r.endpointing_ms = endpointing_ms;
            r.engine_options = Some(JsonText(options.clone()));
            let e = engine_config(&r, &key).expect_err(&options.to_string());
            assert!(matches!(e, AgentRowError::Conversation { .. }), "{e:?}");
            let e = e.to_string();
            assert!(
                e.contains("Front desk") && e.contains(expected),
                "{options}: {e}"
            );
        }
        let mut r = row(tenant);
        r.engine_options = Some(JsonText(serde_json::json!({"response_timeout_ms": 2_000})));
        assert_eq!(engine_config(&r, &key).unwrap().response_timeout_ms, 2_000);
    }

    #[test]
    fn the_flow_column_is_the_flow_script() {
        let key = SecretKey::generate();
        let mut r = row(TenantId::generate());
        r.llm_provider = "flow".into();
        r.flow = Some(JsonText(serde_json::json!({"fallback": "Pardon?"})));
        let c = engine_config(&r, &key).unwrap();
        let LlmProviderConfig::Flow(f) = &c.llm else {
            panic!("flow llm: {:?}", c.llm)
        };
        assert_eq!(f.flow.as_ref().unwrap().fallback, "Pardon?");
    }

    #[test]
    fn bad_or_missing_credentials_give_clear_errors() {
        let key = SecretKey::generate();
        let tenant = TenantId::generate();
        let msg = |r: &VoiceAgent, k: &SecretKey| engine_config(r, k).unwrap_err().to_string();

        // Encrypted with another key (PARLA_SECRET_KEY changed).
        let r = with_credentials(row(tenant), &key, "{}");
        let e = msg(&r, &SecretKey::generate());
        assert!(
            e.contains("Front desk") && e.contains("cannot decrypt"),
            "{e}"
        );
        // Bound to its tenant: copied to another tenant's row it does not decrypt.
        let mut moved = r.clone();
        moved.tenant_id = TenantId::generate();
        assert!(msg(&moved, &key).contains("cannot decrypt"));

        for (json, expected) in [
            ("[1]", "credentials: must be a JSON object"),
            ("nope", "not JSON"),
            (
                r#"{"openai_key": "x"}"#,
                "credentials.openai_key: unknown section",
            ),
            (r#"{"stt": "x"}"#, "credentials.stt: must be a JSON object"),
            (
                r#"{"stt": {"bogus": 1}}"#,
                "credentials.stt.bogus: unknown setting",
            ),
            (
                r#"{"stt": {"api_key": "sk-1", "model": 5}}"#,
                "credentials.stt.model: must be a string",
            ),
            // Operator-only settings in a row (written before the allow-lists,
            // or around them) are refused, never resolved.
            (
                r#"{"llm": {"api_key_env": "PARLA_SECRET_KEY"}}"#,
                "credentials.llm.api_key_env: is only allowed in the operator's parla.toml",
            ),
        ] {
            let e = msg(&with_credentials(row(tenant), &key, json), &key);
            assert!(e.contains(expected), "{json}: {e}");
            assert!(!e.contains("sk-"), "no secrets in errors: {e}");
        }
        let mut r = row(tenant);
        r.llm_provider = "flow".into();
        r = with_credentials(r, &key, r#"{"llm": {"script": "/dev/zero"}}"#);
        assert!(msg(&r, &key).contains("credentials.llm.script: is only allowed"));

        // Unknown kinds name the column; an empty kind is the default.
        let mut r = row(tenant);
        r.tts_provider = "polly".into();
        let e = msg(&r, &key);
        assert!(
            e.contains("tts_provider: unknown provider \"polly\""),
            "{e}"
        );
        let mut r = row(tenant);
        r.stt_provider = String::new();
        assert!(matches!(
            engine_config(&r, &key).unwrap().stt,
            SttProviderConfig::Openai(_)
        ));

        // No credentials at all: the providers' defaults.
        assert!(engine_config(&row(tenant), &key).is_ok());

        let mut r = row(tenant);
        r.engine_options = Some(JsonText(serde_json::json!({"answer_delay": 1})));
        assert!(msg(&r, &key).contains("engine_options: unknown field `answer_delay`"));
    }
}
