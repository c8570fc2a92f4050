//! The typed settings of each provider kind, and their allow-lists.
//!
//! Each section of an agent's credentials object is one provider's settings
//! (the provider's `parla.toml` table without `provider`). Every key must be
//! in that kind's allow-list with a value of the listed type and range;
//! `null` means unset. The structs are what the engine builds providers from.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::check::{self, key_name, Kind};
use crate::{FieldError, FlowScript};

/// Speech-to-text kinds; the first is the default for an empty kind.
pub const STT_PROVIDERS: &[&str] = &["openai", "deepgram"];
/// Language-model kinds; the first is the default for an empty kind.
pub const LLM_PROVIDERS: &[&str] = &["flow", "openai"];
/// Text-to-speech kinds; the first is the default for an empty kind.
pub const TTS_PROVIDERS: &[&str] = &["espeak", "openai"];
/// Settings only the operator's `parla.toml` may use (an environment
/// variable name and a file path), refused in tenant input.
pub const OPERATOR_ONLY_KEYS: &[&str] = &["api_key_env", "script"];

/// Longest model name, in characters.
pub const MAX_MODEL_CHARS: usize = 200;
/// Longest language tag, in characters.
pub const MAX_LANGUAGE_CHARS: usize = 35;
/// Longest voice name, in characters.
pub const MAX_VOICE_CHARS: usize = 100;
/// Largest LLM `max_tokens`.
pub const MAX_LLM_TOKENS: u32 = 32_768;
/// Largest Deepgram `endpointing_ms`, in ms.
pub const MAX_DEEPGRAM_ENDPOINTING_MS: u32 = 10_000;

const WEB: Kind = Kind::Url(&["https", "http"]);
const STREAM: Kind = Kind::Url(&["wss", "ws", "https", "http"]);
const MODEL: Kind = Kind::Text(MAX_MODEL_CHARS);
const LANGUAGE: Kind = Kind::Text(MAX_LANGUAGE_CHARS);
const VOICE: Kind = Kind::Text(MAX_VOICE_CHARS);

const OPENAI_STT_KEYS: &[(&str, Kind)] = &[
    ("base_url", WEB),
    ("api_key", Kind::Secret),
    ("model", MODEL),
    ("language", LANGUAGE),
];
const DEEPGRAM_KEYS: &[(&str, Kind)] = &[
    ("base_url", STREAM),
    ("api_key", Kind::Secret),
    ("model", MODEL),
    ("language", LANGUAGE),
    ("endpointing_ms", Kind::U32(0, MAX_DEEPGRAM_ENDPOINTING_MS)),
    ("interim_results", Kind::Bool),
];
const OPENAI_LLM_KEYS: &[(&str, Kind)] = &[
    ("base_url", WEB),
    ("api_key", Kind::Secret),
    ("model", MODEL),
    ("temperature", Kind::F32(0.0, 2.0)),
    ("max_tokens", Kind::U32(1, MAX_LLM_TOKENS)),
];
const FLOW_KEYS: &[(&str, Kind)] = &[("flow", Kind::Flow)];
const ESPEAK_KEYS: &[(&str, Kind)] = &[
    ("voice", VOICE),
    ("rate_wpm", Kind::U32(80, 450)),
    ("pitch", Kind::U32(0, 100)),
];
const OPENAI_TTS_KEYS: &[(&str, Kind)] = &[
    ("base_url", WEB),
    ("api_key", Kind::Secret),
    ("model", MODEL),
    ("voice", VOICE),
];

/// A secret string (API key): plain string in JSON, never printed by `Debug`.
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

/// `openai` STT: an OpenAI-compatible `/audio/transcriptions` endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiSttSettings {
    /// `http(s)` URL; default `https://api.openai.com/v1`.
    pub base_url: Option<String>,
    pub api_key: Option<Secret>,
    /// At most [`MAX_MODEL_CHARS`]; default `whisper-1`.
    pub model: Option<String>,
    /// Language tag, at most [`MAX_LANGUAGE_CHARS`].
    pub language: Option<String>,
}

/// `deepgram` STT: Deepgram live streaming. `api_key` is required.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeepgramSettings {
    /// `ws(s)` or `http(s)` URL; default `wss://api.deepgram.com`.
    pub base_url: Option<String>,
    pub api_key: Option<Secret>,
    pub model: Option<String>,
    pub language: Option<String>,
    /// 0..=[`MAX_DEEPGRAM_ENDPOINTING_MS`] ms.
    pub endpointing_ms: Option<u32>,
    pub interim_results: Option<bool>,
}

/// `openai` LLM: OpenAI-compatible `/chat/completions` streaming.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiLlmSettings {
    /// `http(s)` URL; default `https://api.openai.com/v1`.
    pub base_url: Option<String>,
    pub api_key: Option<Secret>,
    pub model: Option<String>,
    /// 0.0..=2.0.
    pub temperature: Option<f32>,
    /// 1..=[`MAX_LLM_TOKENS`].
    pub max_tokens: Option<u32>,
}

/// `flow` LLM: the offline scripted dialogue; no script = the built-in one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSettings {
    pub flow: Option<FlowScript>,
}

/// `espeak` TTS: in-process espeak-ng.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EspeakSettings {
    /// espeak-ng voice name; default `en-us`.
    pub voice: Option<String>,
    /// Words per minute, 80..=450; default 175.
    pub rate_wpm: Option<u32>,
    /// 0..=100; default 50.
    pub pitch: Option<u32>,
}

/// `openai` TTS: OpenAI-compatible `/audio/speech`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiTtsSettings {
    /// `http(s)` URL; default `https://api.openai.com/v1`.
    pub base_url: Option<String>,
    pub api_key: Option<Secret>,
    pub model: Option<String>,
    pub voice: Option<String>,
}

/// The speech-to-text provider and its settings.
#[derive(Debug, Clone, PartialEq)]
pub enum SttSettings {
    Openai(OpenAiSttSettings),
    Deepgram(DeepgramSettings),
}

/// The language model and its settings.
#[derive(Debug, Clone, PartialEq)]
pub enum LlmSettings {
    Flow(FlowSettings),
    Openai(OpenAiLlmSettings),
}

/// The speech synthesizer and its settings.
#[derive(Debug, Clone, PartialEq)]
pub enum TtsSettings {
    Espeak(EspeakSettings),
    Openai(OpenAiTtsSettings),
}

impl SttSettings {
    /// The settings of kind `kind` (empty: `openai`) from the
    /// `credentials.stt` object (`null`: none). Errors name each bad field.
    pub fn from_parts(kind: &str, settings: serde_json::Value) -> Result<Self, Vec<FieldError>> {
        match kind.trim() {
            "" | "openai" => Ok(Self::Openai(section(
                "stt",
                "openai",
                OPENAI_STT_KEYS,
                settings,
            )?)),
            "deepgram" => {
                let s: DeepgramSettings = section("stt", "deepgram", DEEPGRAM_KEYS, settings)?;
                if s.api_key.is_none() {
                    return Err(vec![FieldError::new(
                        "credentials.stt.api_key",
                        "is required for provider \"deepgram\"",
                    )]);
                }
                Ok(Self::Deepgram(s))
            }
            other => Err(unknown_kind("stt_provider", other, STT_PROVIDERS)),
        }
    }

    /// The provider kind, as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Openai(_) => "openai",
            Self::Deepgram(_) => "deepgram",
        }
    }
}

impl LlmSettings {
    /// The settings of kind `kind` (empty: `flow`) from the
    /// `credentials.llm` object (`null`: none). Errors name each bad field.
    pub fn from_parts(kind: &str, settings: serde_json::Value) -> Result<Self, Vec<FieldError>> {
        match kind.trim() {
            "" | "flow" => Ok(Self::Flow(section("llm", "flow", FLOW_KEYS, settings)?)),
            "openai" => Ok(Self::Openai(section(
                "llm",
                "openai",
                OPENAI_LLM_KEYS,
                settings,
            )?)),
            other => Err(unknown_kind("llm_provider", other, LLM_PROVIDERS)),
        }
    }

    /// The provider kind, as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Flow(_) => "flow",
            Self::Openai(_) => "openai",
        }
    }
}

impl TtsSettings {
    /// The settings of kind `kind` (empty: `espeak`) from the
    /// `credentials.tts` object (`null`: none). Errors name each bad field.
    pub fn from_parts(kind: &str, settings: serde_json::Value) -> Result<Self, Vec<FieldError>> {
        match kind.trim() {
            "" | "espeak" => Ok(Self::Espeak(section(
                "tts",
                "espeak",
                ESPEAK_KEYS,
                settings,
            )?)),
            "openai" => Ok(Self::Openai(section(
                "tts",
                "openai",
                OPENAI_TTS_KEYS,
                settings,
            )?)),
            other => Err(unknown_kind("tts_provider", other, TTS_PROVIDERS)),
        }
    }

    /// The provider kind, as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Espeak(_) => "espeak",
            Self::Openai(_) => "openai",
        }
    }
}

fn unknown_kind(field: &str, kind: &str, known: &[&str]) -> Vec<FieldError> {
    vec![FieldError::new(
        field,
        format!(
            "unknown provider \"{}\" (expected one of: {})",
            key_name(kind),
            known.join(", ")
        ),
    )]
}

/// Checks `settings` (an object or null) of provider `kind` in `section`
/// against `keys`, then reads it as `T`.
fn section<T: DeserializeOwned>(
    section: &str,
    kind: &str,
    keys: &[(&str, Kind)],
    settings: serde_json::Value,
) -> Result<T, Vec<FieldError>> {
    let map = match settings {
        serde_json::Value::Null => serde_json::Map::new(),
        serde_json::Value::Object(map) => map,
        _ => {
            return Err(vec![FieldError::new(
                format!("credentials.{section}"),
                "must be a JSON object",
            )])
        }
    };
    let path = |key: &str| format!("credentials.{section}.{}", key_name(key));
    let mut errors = Vec::new();
    for (key, value) in &map {
        if value.is_null() {
            continue;
        }
        match keys.iter().find(|(name, _)| name == key) {
            None if OPERATOR_ONLY_KEYS.contains(&key.as_str()) => errors.push(FieldError::new(
                path(key),
                "is only allowed in the operator's parla.toml",
            )),
            None => {
                let allowed: Vec<&str> = keys.iter().map(|(name, _)| *name).collect();
                errors.push(FieldError::new(
                    path(key),
                    format!(
                        "unknown setting for provider \"{kind}\" (allowed: {})",
                        allowed.join(", ")
                    ),
                ));
            }
            Some((_, Kind::Flow)) => {
                if let Err(e) = FlowScript::check(value, &path(key)) {
                    errors.extend(e);
                }
            }
            Some((_, k)) => {
                if let Err(message) = check::value(*k, value) {
                    errors.push(FieldError::new(path(key), message));
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let map: serde_json::Map<_, _> = map.into_iter().filter(|(_, v)| !v.is_null()).collect();
    // Every key and value was checked above, so this only fails on a bug;
    // the message does not echo values (they may be secrets).
    serde_json::from_value(serde_json::Value::Object(map)).map_err(|_| {
        vec![FieldError::new(
            format!("credentials.{section}"),
            format!("does not fit provider \"{kind}\""),
        )]
    })
}
