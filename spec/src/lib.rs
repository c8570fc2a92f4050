//! # The agent settings a tenant may store
//!
//! Tenant admins and tenant API keys configure voice agents through the admin
//! API, the web panel, and (for the operator) the `parla.toml` import. This
//! crate is the one definition of what such an agent may contain, checked
//! when it is saved, so that a saved agent can always be built:
//!
//! * three provider sections, `stt`, `llm` and `tts`, each with a closed set
//!   of provider kinds ([`STT_PROVIDERS`], [`LLM_PROVIDERS`],
//!   [`TTS_PROVIDERS`]; an empty kind means the default, the first of each);
//! * for every kind a typed allow-list of settings ([`settings`]): an unknown
//!   key, a value of the wrong type, out of range, with control characters,
//!   or a `base_url` that is not an absolute `http(s)` (Deepgram also
//!   `ws(s)`) URL with a host and without userinfo is refused, naming the
//!   field (e.g. `credentials.llm.temperature`);
//! * the `flow` script as content ([`FlowScript`]): at most
//!   [`MAX_FLOW_BYTES`] serialized, regexes compiled under
//!   [`MAX_REGEX_BYTES`].
//!
//! `api_key_env` (an environment variable name) and `script` (a file path)
//! are **not** settings a tenant can store: they would let a tenant read the
//! server's environment or files. Only the operator's `parla.toml` has them,
//! and the engine resolves them when it loads that file.
//!
//! Network reachability of a `base_url` is not checked here (only syntax);
//! the engine's outbound guard decides at connect time.

pub mod agent;
mod check;
pub mod flow;
pub mod settings;

use std::fmt;

pub use agent::EngineOptions;
pub use flow::{FlowIntent, FlowScript, FlowSlot, MAX_FLOW_BYTES, MAX_REGEX_BYTES};
pub use settings::{
    DeepgramSettings, EspeakSettings, FlowSettings, LlmSettings, OpenAiLlmSettings,
    OpenAiSttSettings, OpenAiTtsSettings, Secret, SttSettings, TtsSettings, LLM_PROVIDERS,
    OPERATOR_ONLY_KEYS, STT_PROVIDERS, TTS_PROVIDERS,
};

/// One refused value: the field's path (`stt_provider`,
/// `credentials.tts.base_url`, `flow.intents[0].regex`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the field in the agent's input.
    pub field: String,
    /// What is wrong, in English, without the field's value.
    pub message: String,
}

impl FieldError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The agent settings were refused: one entry per bad field (never empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecError {
    /// The refused fields, in input order.
    pub fields: Vec<FieldError>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.fields.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.field, e.message)?;
        }
        Ok(())
    }
}

/// An agent's provider configuration as stored: the three kind columns,
/// the (decrypted) credentials object and the `flow` column.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProviderInput<'a> {
    /// `stt_provider`: `openai` or `deepgram` (empty: `openai`).
    pub stt_provider: &'a str,
    /// `llm_provider`: `flow` or `openai` (empty: `flow`).
    pub llm_provider: &'a str,
    /// `tts_provider`: `espeak` or `openai` (empty: `espeak`).
    pub tts_provider: &'a str,
    /// `{"stt": {…}, "llm": {…}, "tts": {…}}`, each section optional; `None`
    /// (or JSON null) for none.
    pub credentials: Option<&'a serde_json::Value>,
    /// The flow script (the `flow` column); used when the LLM kind is
    /// `flow` and `credentials.llm.flow` is not given. Checked whenever set.
    pub flow: Option<&'a serde_json::Value>,
}

/// An agent's three providers with their checked, typed settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentProviders {
    pub stt: SttSettings,
    pub llm: LlmSettings,
    pub tts: TtsSettings,
}

impl AgentProviders {
    /// Checks `input` against the allow-lists and returns the typed settings.
    ///
    /// Errors: [`SpecError`] listing every refused field: an unknown provider
    /// kind (`stt_provider`), credentials that are not an object of optional
    /// `stt`/`llm`/`tts` objects (`credentials`, `credentials.<section>`),
    /// an unknown, operator-only, mistyped or out-of-range setting
    /// (`credentials.<section>.<key>`), a bad flow script (`flow…`).
    pub fn from_input(input: &ProviderInput<'_>) -> Result<AgentProviders, SpecError> {
        let mut errors = Vec::new();
        let mut sections = serde_json::Map::new();
        match input.credentials {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Object(map)) => {
                for (key, value) in map {
                    if !matches!(key.as_str(), "stt" | "llm" | "tts") {
                        errors.push(FieldError::new(
                            format!("credentials.{}", check::key_name(key)),
                            "unknown section (expected \"stt\", \"llm\" or \"tts\")",
                        ));
                    } else if value.is_object() || value.is_null() {
                        sections.insert(key.clone(), value.clone());
                    } else {
                        errors.push(FieldError::new(
                            format!("credentials.{key}"),
                            "must be a JSON object",
                        ));
                    }
                }
            }
            Some(_) => errors.push(FieldError::new("credentials", "must be a JSON object")),
        }
        let section = |name: &str| sections.get(name).cloned().unwrap_or_default();

        let flow = match input.flow {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => FlowScript::check(v, "flow")
                .map_err(|e| errors.extend(e))
                .ok(),
        };

        let stt = SttSettings::from_parts(input.stt_provider, section("stt"))
            .map_err(|e| errors.extend(e))
            .ok();
        let llm = LlmSettings::from_parts(input.llm_provider, section("llm"))
            .map_err(|e| errors.extend(e))
            .ok();
        let tts = TtsSettings::from_parts(input.tts_provider, section("tts"))
            .map_err(|e| errors.extend(e))
            .ok();
        match (stt, llm, tts) {
            (Some(stt), Some(mut llm), Some(tts)) if errors.is_empty() => {
                if let (LlmSettings::Flow(f), Some(script)) = (&mut llm, flow) {
                    if f.flow.is_none() {
                        f.flow = Some(script);
                    }
                }
                Ok(AgentProviders { stt, llm, tts })
            }
            _ => Err(SpecError { fields: errors }),
        }
    }

    /// The effective provider kinds `(stt, llm, tts)` (defaults filled in),
    /// as stored in the kind columns.
    pub fn kinds(&self) -> (&'static str, &'static str, &'static str) {
        (self.stt.kind(), self.llm.kind(), self.tts.kind())
    }
}

#[cfg(test)]
mod tests;
