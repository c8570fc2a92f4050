//! An agent's call settings besides its providers: the one set of defaults
//! and limits the admin API, the web panel, the store and the engine share.
//!
//! * Scalar settings (columns of `voice_agents`): [`DEFAULT_LANGUAGE`],
//!   [`DEFAULT_BARGE_IN`], [`DEFAULT_BARGE_IN_MIN_MS`],
//!   [`DEFAULT_ENDPOINTING_MS`] and their limits, checked by
//!   [`check_language`], [`check_barge_in_min_ms`], [`check_endpointing_ms`].
//! * The rest ([`EngineOptions`], the `engine_options` JSON object):
//!   recording, maximum call length, minimum utterance, response timeout,
//!   fallback line and answer delay; absent fields take the engine's
//!   defaults.
//!
//! Limits chosen once for every entry point: a system prompt is at most
//! [`MAX_SYSTEM_PROMPT_CHARS`] (20 000) characters, because it is sent with
//! every LLM turn (≈5 000 tokens already costs first-token latency on every
//! reply); endpointing is at least 1 ms (0 would end every turn on the
//! first silent frame).

use serde::{Deserialize, Serialize};

use crate::check::{long_text, text};
use crate::FieldError;

/// Default STT language tag (BCP 47), what the engine assumes without one.
pub const DEFAULT_LANGUAGE: &str = "en";
/// Whether callers may interrupt the agent by default.
pub const DEFAULT_BARGE_IN: bool = true;
/// Default minimum caller speech that counts as barge-in, in ms.
pub const DEFAULT_BARGE_IN_MIN_MS: u32 = 250;
/// Default silence that ends the caller's turn (endpointing), in ms.
pub const DEFAULT_ENDPOINTING_MS: u32 = 500;

/// Longest greeting, in characters.
pub const MAX_GREETING_CHARS: usize = 20_000;
/// Longest system prompt, in characters (see the module docs).
pub const MAX_SYSTEM_PROMPT_CHARS: usize = 20_000;
/// Longest language tag, in characters.
pub const MAX_LANGUAGE_TAG_CHARS: usize = 35;
/// Longest TTS voice name, in characters.
pub const MAX_VOICE_NAME_CHARS: usize = 100;
/// Largest `barge_in_min_ms` (10 s of speech).
pub const MAX_BARGE_IN_MIN_MS: u32 = 10_000;
/// Smallest `endpointing_ms`: one 20 ms audio frame, the engine's unit of
/// time (`parla_engine::conversation::FRAME_MS`, checked at compile time).
pub const MIN_ENDPOINTING_MS: u32 = 20;
/// Largest `endpointing_ms` (a minute of silence).
pub const MAX_ENDPOINTING_MS: u32 = 60_000;
/// Largest `engine_options.max_call_secs` (4 hours).
pub const MAX_CALL_SECS: u32 = 4 * 3600;
/// Largest `engine_options.min_utterance_ms`.
pub const MAX_MIN_UTTERANCE_MS: u32 = 5_000;
/// Smallest and largest `engine_options.response_timeout_ms`: a caller
/// never waits more than 2 s in silence for a reply (the fallback line
/// plays instead), as the conversation core enforces.
pub const RESPONSE_TIMEOUT_MS: (u32, u32) = (100, 2_000);
/// Largest `engine_options.answer_delay_ms`.
pub const MAX_ANSWER_DELAY_MS: u32 = 30_000;
/// Longest `engine_options.fallback_line`, in characters.
pub const MAX_FALLBACK_LINE_CHARS: usize = 1_000;

/// A language tag: 1 to [`MAX_LANGUAGE_TAG_CHARS`] ASCII letters, digits
/// and `-`, e.g. `en`, `en-US`, `es-419`.
pub fn check_language(tag: &str) -> Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= MAX_LANGUAGE_TAG_CHARS
        && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    ok.then_some(()).ok_or_else(|| {
        format!(
            "must be a language tag like en or en-US (letters, digits and -, at most {MAX_LANGUAGE_TAG_CHARS})"
        )
    })
}

/// `barge_in_min_ms` in `0..=`[`MAX_BARGE_IN_MIN_MS`].
pub fn check_barge_in_min_ms(ms: u32) -> Result<(), String> {
    range(ms, 0, MAX_BARGE_IN_MIN_MS)
}

/// `endpointing_ms` in [`MIN_ENDPOINTING_MS`]`..=`[`MAX_ENDPOINTING_MS`].
pub fn check_endpointing_ms(ms: u32) -> Result<(), String> {
    range(ms, MIN_ENDPOINTING_MS, MAX_ENDPOINTING_MS)
}

/// A greeting: multi-line text up to [`MAX_GREETING_CHARS`].
pub fn check_greeting(s: &str) -> Result<(), String> {
    long_text(s, MAX_GREETING_CHARS)
}

/// A system prompt: multi-line text up to [`MAX_SYSTEM_PROMPT_CHARS`].
pub fn check_system_prompt(s: &str) -> Result<(), String> {
    long_text(s, MAX_SYSTEM_PROMPT_CHARS)
}

/// A voice name: one line up to [`MAX_VOICE_NAME_CHARS`] (may be empty:
/// the provider's default voice).
pub fn check_voice(s: &str) -> Result<(), String> {
    text(s, MAX_VOICE_NAME_CHARS)
}

fn range(v: u32, min: u32, max: u32) -> Result<(), String> {
    if (min..=max).contains(&v) {
        Ok(())
    } else {
        Err(format!("must be a whole number from {min} to {max}"))
    }
}

/// Call settings kept in an agent's `engine_options` JSON object; absent
/// fields take the engine's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineOptions {
    /// Speech bursts shorter than this are noise, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_utterance_ms: Option<u32>,
    /// No agent audio this long after the caller's turn → fallback line, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_timeout_ms: Option<u32>,
    /// Said when a provider fails or stalls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_line: Option<String>,
    /// Ringing time before answering, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_delay_ms: Option<u32>,
    /// Hard limit on call duration, in seconds (1 to [`MAX_CALL_SECS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_call_secs: Option<u32>,
    /// Record calls as WAV files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<bool>,
}

/// The keys of [`EngineOptions`], in field order.
const ENGINE_OPTION_KEYS: &[&str] = &[
    "min_utterance_ms",
    "response_timeout_ms",
    "fallback_line",
    "answer_delay_ms",
    "max_call_secs",
    "record",
];

impl EngineOptions {
    /// Reads and checks the options at `path` (e.g. `engine_options`);
    /// JSON null is "no options".
    ///
    /// Errors, each naming `<path>.<key>` (or `<path>` when it is not an
    /// object): an unknown key, a value of the wrong type, out of range
    /// (see the `MAX_*` constants), a fallback line with control
    /// characters.
    pub fn from_json(
        value: &serde_json::Value,
        path: &str,
    ) -> Result<EngineOptions, Vec<FieldError>> {
        let map = match value {
            serde_json::Value::Null => return Ok(EngineOptions::default()),
            serde_json::Value::Object(map) => map,
            _ => return Err(vec![FieldError::new(path, "must be a JSON object")]),
        };
        let mut errors = Vec::new();
        for (key, v) in map {
            if !ENGINE_OPTION_KEYS.contains(&key.as_str()) {
                errors.push(FieldError::new(
                    format!("{path}.{}", crate::check::key_name(key)),
                    format!(
                        "unknown option (expected one of {})",
                        ENGINE_OPTION_KEYS.join(", ")
                    ),
                ));
            } else if let Err(e) =
                serde_json::from_value::<EngineOptions>(serde_json::json!({ key: v }))
            {
                let _ = e;
                let expected = if key == "record" {
                    "must be true or false"
                } else if key == "fallback_line" {
                    "must be a string"
                } else {
                    "must be a whole number"
                };
                errors.push(FieldError::new(format!("{path}.{key}"), expected));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let options: EngineOptions = serde_json::from_value(value.clone())
            .map_err(|e| vec![FieldError::new(path, e.to_string())])?;
        options.check(path)?;
        Ok(options)
    }

    /// Checks the ranges (see [`EngineOptions::from_json`]).
    pub fn check(&self, path: &str) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut add = |key: &str, r: Result<(), String>| {
            if let Err(m) = r {
                errors.push(FieldError::new(format!("{path}.{key}"), m));
            }
        };
        if let Some(v) = self.min_utterance_ms {
            add("min_utterance_ms", range(v, 0, MAX_MIN_UTTERANCE_MS));
        }
        if let Some(v) = self.response_timeout_ms {
            add(
                "response_timeout_ms",
                range(v, RESPONSE_TIMEOUT_MS.0, RESPONSE_TIMEOUT_MS.1),
            );
        }
        if let Some(v) = &self.fallback_line {
            add("fallback_line", text(v, MAX_FALLBACK_LINE_CHARS));
        }
        if let Some(v) = self.answer_delay_ms {
            add("answer_delay_ms", range(v, 0, MAX_ANSWER_DELAY_MS));
        }
        if let Some(v) = self.max_call_secs {
            add("max_call_secs", range(v, 1, MAX_CALL_SECS));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Whether every option is unset (stored as NULL).
    pub fn is_empty(&self) -> bool {
        *self == EngineOptions::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn engine_options_are_checked_field_by_field() {
        let ok = EngineOptions::from_json(
            &json!({"record": true, "max_call_secs": 600}),
            "engine_options",
        )
        .unwrap();
        assert_eq!((ok.record, ok.max_call_secs), (Some(true), Some(600)));
        let fields = |v| {
            EngineOptions::from_json(&v, "engine_options")
                .unwrap_err()
                .into_iter()
                .map(|e| e.field)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            fields(json!({"max_call_secs": 0})),
            ["engine_options.max_call_secs"]
        );
        assert_eq!(
            fields(json!({"max_call_secs": MAX_CALL_SECS + 1})),
            ["engine_options.max_call_secs"]
        );
        assert_eq!(fields(json!({"record": "yes"})), ["engine_options.record"]);
        assert_eq!(fields(json!({"recrod": true})), ["engine_options.recrod"]);
        assert_eq!(fields(json!([1])), ["engine_options"]);
        assert!(EngineOptions::from_json(&json!(null), "engine_options")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn scalar_limits() {
        assert!(check_endpointing_ms(MIN_ENDPOINTING_MS - 1).is_err());
        assert!(check_endpointing_ms(MIN_ENDPOINTING_MS).is_ok());
        assert!(check_barge_in_min_ms(MAX_BARGE_IN_MIN_MS + 1).is_err());
        assert!(check_language("en-US").is_ok());
        assert!(check_language("").is_err());
        assert!(check_language("en US").is_err());
        assert!(check_system_prompt(&"x".repeat(MAX_SYSTEM_PROMPT_CHARS + 1)).is_err());
    }
}
