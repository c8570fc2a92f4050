//! Provider sections of `parla.toml` and how they become providers.
//!
//! ```toml
//! [stt]
//! provider = "deepgram"          # or "openai" (OpenAI, Groq, local whisper servers)
//! api_key_env = "DEEPGRAM_API_KEY"
//! model = "nova-3"
//!
//! [llm]
//! provider = "flow"              # or "openai"
//! script = "flow.toml"           # optional; a file with a [flow] table (else [llm.flow], else built-in)
//!
//! [tts]
//! provider = "espeak"            # or "openai"
//! voice = "en-us"
//! ```
//!
//! An API key is given inline (`api_key`) or, better, by naming an environment
//! variable (`api_key_env`). Keys are never printed by `Debug`.
//!
//! `api_key_env` and `script` are the operator's: `parla.toml` loading
//! ([`crate::agent::ParlaConfig::from_toml`]) replaces them by the key and the
//! script they name, so building a provider reads no file. Tenants' agents
//! come from the database through the typed allow-lists of [`parla_spec`]
//! (see [`super::tenant`]), which have neither.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::deepgram::{DeepgramConfig, DeepgramStt};
use super::egress::EgressPolicy;
use super::espeak::{EspeakConfig, EspeakTts};
use super::flow::{FlowConfig, FlowLlm};
use super::openai_llm::{OpenAiLlm, OpenAiLlmConfig};
use super::openai_stt::{OpenAiStt, OpenAiSttConfig};
use super::openai_tts::{OpenAiTts, OpenAiTtsConfig};
use super::{LanguageModel, ProviderError, SpeechToText, TextToSpeech};

/// A secret string (API key): deserializes from a plain string, never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Environment variables holding Parla's own secrets, which `api_key_env`
/// may never name (they would be sent to a provider as its API key).
pub const SERVER_SECRET_ENV: &[&str] = &[
    "PARLA_ADMIN_PASSWORD",
    "PARLA_SECRET_KEY",
    "PARLA_DATABASE_URL",
];

/// Largest flow script file `script` may name, in bytes (256 KiB).
pub const MAX_SCRIPT_FILE_BYTES: u64 = 256 * 1024;

/// The API key: inline first, then the named environment variable (which must
/// then be set and non-empty, and not one of [`SERVER_SECRET_ENV`]); `None`
/// when neither is configured. `api_key_env` only exists in the operator's
/// `parla.toml`, where [`crate::agent::ParlaConfig::from_toml`] resolves it.
pub fn resolve_api_key(
    api_key: &Option<Secret>,
    api_key_env: &Option<String>,
) -> Result<Option<String>, ProviderError> {
    if let Some(key) = api_key {
        if !key.expose().is_empty() {
            return Ok(Some(key.expose().to_owned()));
        }
    }
    match api_key_env {
        None => Ok(None),
        Some(var) if SERVER_SECRET_ENV.contains(&var.trim()) => Err(ProviderError::Config(
            format!("api_key_env must not name the server's own secret {var}"),
        )),
        Some(var) => match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(v.trim().to_owned())),
            _ => Err(ProviderError::Config(format!(
                "environment variable {var} (api_key_env) is not set"
            ))),
        },
    }
}

/// `[stt]`: the speech-to-text provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum SttProviderConfig {
    /// OpenAI-compatible `/audio/transcriptions` (OpenAI, Groq, faster-whisper-server).
    Openai(OpenAiSttSettings),
    /// Deepgram live streaming.
    Deepgram(DeepgramSettings),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiSttSettings {
    /// Default `https://api.openai.com/v1`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The API key (prefer `api_key_env`).
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// Name of the environment variable holding the API key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Default `whisper-1` (Groq: `whisper-large-v3`).
    #[serde(default)]
    pub model: Option<String>,
    /// Used when the call does not set a language.
    #[serde(default)]
    pub language: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeepgramSettings {
    /// Default `wss://api.deepgram.com`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The API key (prefer `api_key_env`).
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// Name of the environment variable holding the API key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Default `nova-3`.
    #[serde(default)]
    pub model: Option<String>,
    /// Used when the call does not set a language.
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub endpointing_ms: Option<u32>,
    /// Default true.
    #[serde(default)]
    pub interim_results: Option<bool>,
}

impl SttProviderConfig {
    /// The provider, its network requests confined by `egress`.
    pub fn build(&self, egress: &EgressPolicy) -> Result<Arc<dyn SpeechToText>, ProviderError> {
        match self {
            Self::Openai(s) => {
                let d = OpenAiSttConfig::default();
                Ok(Arc::new(OpenAiStt::new(OpenAiSttConfig {
                    base_url: s.base_url.clone().unwrap_or(d.base_url),
                    api_key: resolve_api_key(&s.api_key, &s.api_key_env)?,
                    model: s.model.clone().unwrap_or(d.model),
                    language: s.language.clone().unwrap_or(d.language),
                    request_timeout: d.request_timeout,
                    egress: egress.clone(),
                })?))
            }
            Self::Deepgram(s) => {
                let d = DeepgramConfig::default();
                let api_key = resolve_api_key(&s.api_key, &s.api_key_env)?.ok_or_else(|| {
                    ProviderError::Config("Deepgram needs api_key or api_key_env".into())
                })?;
                Ok(Arc::new(DeepgramStt::new(DeepgramConfig {
                    base_url: s.base_url.clone().unwrap_or(d.base_url),
                    api_key,
                    model: s.model.clone().unwrap_or(d.model),
                    endpointing_ms: s.endpointing_ms,
                    interim_results: s.interim_results.unwrap_or(d.interim_results),
                    language: s.language.clone().unwrap_or(d.language),
                    egress: egress.clone(),
                    ..d
                })?))
            }
        }
    }
}

/// `[llm]`: the language model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum LlmProviderConfig {
    /// OpenAI-compatible `/chat/completions` streaming.
    Openai(OpenAiLlmSettings),
    /// The offline scripted dialogue.
    Flow(FlowSettings),
}

impl Default for LlmProviderConfig {
    fn default() -> Self {
        Self::Flow(FlowSettings::default())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiLlmSettings {
    /// Default `https://api.openai.com/v1`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The API key (prefer `api_key_env`).
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// Name of the environment variable holding the API key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Default `gpt-4o-mini`.
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
}

/// The flow script: inline (`[llm.flow]`), or from a TOML file with a `[flow]`
/// table (`script`), or the built-in one when neither is given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSettings {
    #[serde(default)]
    pub script: Option<PathBuf>,
    #[serde(default)]
    pub flow: Option<FlowConfig>,
}

impl FlowSettings {
    /// The script of these settings. Never reads a file: a `script` path
    /// must have been read into `flow` by [`FlowSettings::resolve_script`]
    /// (done when `parla.toml` is loaded), else this is an error.
    pub fn load(&self) -> Result<FlowConfig, ProviderError> {
        match (&self.flow, &self.script) {
            (Some(_), Some(_)) => Err(ProviderError::Config(
                "give either llm.flow or llm.script, not both".into(),
            )),
            (Some(flow), None) => Ok(flow.clone()),
            (None, Some(path)) => Err(ProviderError::Config(format!(
                "flow script {} was not loaded (scripts are read when parla.toml is loaded)",
                path.display()
            ))),
            (None, None) => Ok(FlowConfig::default()),
        }
    }

    /// Reads the `script` file (operator configuration only) into `flow`,
    /// clearing `script`. Only a regular file of at most
    /// [`MAX_SCRIPT_FILE_BYTES`] is read (never a FIFO, device or
    /// directory); parse errors give the line, never the file's text.
    ///
    /// Errors: [`ProviderError::Config`] naming the path.
    pub fn resolve_script(&mut self) -> Result<(), ProviderError> {
        use std::io::Read as _;
        let Some(path) = self.script.take() else {
            return Ok(());
        };
        if self.flow.is_some() {
            return Err(ProviderError::Config(
                "give either llm.flow or llm.script, not both".into(),
            ));
        }
        let bad =
            |why: String| ProviderError::Config(format!("flow script {}: {why}", path.display()));
        let regular = |m: &std::fs::Metadata| {
            if !m.is_file() {
                Err(bad("not a regular file".into()))
            } else if m.len() > MAX_SCRIPT_FILE_BYTES {
                Err(bad(format!("larger than {MAX_SCRIPT_FILE_BYTES} bytes")))
            } else {
                Ok(())
            }
        };
        // Checked before opening: opening a FIFO for reading would block.
        regular(&std::fs::metadata(&path).map_err(|e| bad(e.to_string()))?)?;
        let file = std::fs::File::open(&path).map_err(|e| bad(e.to_string()))?;
        regular(&file.metadata().map_err(|e| bad(e.to_string()))?)?;
        let mut bytes = Vec::new();
        file.take(MAX_SCRIPT_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| bad(e.to_string()))?;
        if bytes.len() as u64 > MAX_SCRIPT_FILE_BYTES {
            return Err(bad(format!("larger than {MAX_SCRIPT_FILE_BYTES} bytes")));
        }
        let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".into()))?;
        self.flow = Some(FlowConfig::from_toml_quiet(&text).map_err(bad)?);
        Ok(())
    }
}

impl LlmProviderConfig {
    /// The model, its network requests confined by `egress`.
    pub fn build(&self, egress: &EgressPolicy) -> Result<Arc<dyn LanguageModel>, ProviderError> {
        match self {
            Self::Openai(s) => {
                let d = OpenAiLlmConfig::default();
                Ok(Arc::new(OpenAiLlm::new(OpenAiLlmConfig {
                    base_url: s.base_url.clone().unwrap_or(d.base_url),
                    api_key: resolve_api_key(&s.api_key, &s.api_key_env)?,
                    model: s.model.clone().unwrap_or(d.model),
                    temperature: s.temperature,
                    max_tokens: s.max_tokens,
                    egress: egress.clone(),
                    ..d
                })?))
            }
            Self::Flow(s) => Ok(Arc::new(FlowLlm::new(s.load()?)?)),
        }
    }
}

/// `[tts]`: the speech synthesizer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum TtsProviderConfig {
    /// In-process libespeak-ng.
    Espeak(EspeakConfig),
    /// OpenAI-compatible `/audio/speech`.
    Openai(OpenAiTtsSettings),
}

impl Default for TtsProviderConfig {
    fn default() -> Self {
        Self::Espeak(EspeakConfig::default())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiTtsSettings {
    /// Default `https://api.openai.com/v1`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The API key (prefer `api_key_env`).
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// Name of the environment variable holding the API key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Default `gpt-4o-mini-tts`.
    #[serde(default)]
    pub model: Option<String>,
    /// Default `alloy`.
    #[serde(default)]
    pub voice: Option<String>,
}

impl TtsProviderConfig {
    /// The synthesizer, its network requests confined by `egress`.
    pub fn build(&self, egress: &EgressPolicy) -> Result<Arc<dyn TextToSpeech>, ProviderError> {
        match self {
            Self::Espeak(c) => Ok(Arc::new(EspeakTts::new(c.clone())?)),
            Self::Openai(s) => {
                let d = OpenAiTtsConfig::default();
                Ok(Arc::new(OpenAiTts::new(OpenAiTtsConfig {
                    base_url: s.base_url.clone().unwrap_or(d.base_url),
                    api_key: resolve_api_key(&s.api_key, &s.api_key_env)?,
                    model: s.model.clone().unwrap_or(d.model),
                    voice: s.voice.clone().unwrap_or(d.voice),
                    egress: egress.clone(),
                    ..d
                })?))
            }
        }
    }
}

/// Builds a provider section (`SttProviderConfig`, `LlmProviderConfig`,
/// `TtsProviderConfig`) from its `provider` tag (`kind`, e.g. `openai`) and
/// its settings object, i.e. the section of `parla.toml` as JSON without the
/// `provider` key (e.g. `{"base_url": "…", "api_key": "…", "model": "…"}`).
///
/// Errors ([`ProviderError::Config`], naming `section`): an empty kind, an
/// unknown kind, settings that are not an object, a `provider` key inside
/// the settings, unknown or mistyped settings.
pub fn section_from_parts<T: serde::de::DeserializeOwned>(
    section: &str,
    kind: &str,
    settings: serde_json::Value,
) -> Result<T, ProviderError> {
    let kind = kind.trim();
    if kind.is_empty() {
        return Err(ProviderError::Config(format!("{section}: no provider set")));
    }
    let mut object = match settings {
        serde_json::Value::Object(map) => map,
        serde_json::Value::Null => serde_json::Map::new(),
        other => {
            return Err(ProviderError::Config(format!(
                "{section}: settings must be a JSON object, got {}",
                json_kind(&other)
            )))
        }
    };
    if object.contains_key("provider") {
        return Err(ProviderError::Config(format!(
            "{section}: settings must not contain \"provider\" (the kind is {kind:?})"
        )));
    }
    object.insert(
        "provider".into(),
        serde_json::Value::String(kind.to_owned()),
    );
    serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|e| ProviderError::Config(format!("{section} provider {kind:?}: {e}")))
}

/// The inverse of [`section_from_parts`]: a provider section as its
/// `provider` tag and its settings object (unset options left out).
pub fn section_into_parts<T: Serialize>(
    config: &T,
) -> Result<(String, serde_json::Value), ProviderError> {
    let value = serde_json::to_value(config)
        .map_err(|e| ProviderError::Config(format!("cannot serialize provider settings: {e}")))?;
    let serde_json::Value::Object(mut object) = value else {
        return Err(ProviderError::Config(
            "provider settings did not serialize to an object".into(),
        ));
    };
    let kind = match object.remove("provider") {
        Some(serde_json::Value::String(k)) => k,
        _ => {
            return Err(ProviderError::Config(
                "provider settings have no provider tag".into(),
            ))
        }
    };
    object.retain(|_, v| !v.is_null());
    Ok((kind, serde_json::Value::Object(object)))
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod parts_tests {
    use super::*;

    #[test]
    fn sections_round_trip_through_kind_and_settings() {
        let stt: SttProviderConfig = section_from_parts(
            "stt",
            "openai",
            serde_json::json!({"base_url": "http://127.0.0.1:9/v1", "api_key": "k", "model": "tiny.en"}),
        )
        .unwrap();
        let SttProviderConfig::Openai(s) = &stt else {
            panic!("openai expected: {stt:?}");
        };
        assert_eq!(s.api_key.as_ref().unwrap().expose(), "k");
        let (kind, settings) = section_into_parts(&stt).unwrap();
        assert_eq!(kind, "openai");
        assert_eq!(
            settings,
            serde_json::json!({"base_url": "http://127.0.0.1:9/v1", "api_key": "k", "model": "tiny.en"})
        );
        let tts: TtsProviderConfig =
            section_from_parts("tts", "espeak", serde_json::Value::Null).unwrap();
        assert!(matches!(tts, TtsProviderConfig::Espeak(_)));
    }

    #[test]
    fn bad_parts_give_clear_errors() {
        let err = |r: Result<SttProviderConfig, ProviderError>| r.unwrap_err().to_string();
        assert!(err(section_from_parts("stt", "", serde_json::json!({})))
            .contains("stt: no provider set"));
        let e = err(section_from_parts("stt", "nope", serde_json::json!({})));
        assert!(
            e.contains("stt provider \"nope\"") && e.contains("unknown variant"),
            "{e}"
        );
        let e = err(section_from_parts(
            "stt",
            "openai",
            serde_json::json!({"bogus": 1}),
        ));
        assert!(e.contains("unknown field `bogus`"), "{e}");
        let e = err(section_from_parts("stt", "openai", serde_json::json!("x")));
        assert!(e.contains("must be a JSON object, got a string"), "{e}");
        let e = err(section_from_parts(
            "stt",
            "openai",
            serde_json::json!({"provider": "deepgram"}),
        ));
        assert!(e.contains("must not contain \"provider\""), "{e}");
    }
}
