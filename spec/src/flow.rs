//! The `flow` dialogue script as a tenant stores it: content (JSON), never a
//! file path, bounded in size and in what its regexes may compile to.
//!
//! Shape (the `[flow]` table of the engine's TOML scripts, as JSON):
//! `{"greeting": "…", "fallback": "…", "intents": [{"name", "keywords",
//! "regex", "dtmf", "reply", "end_call", "slots": [{"name", "regex", "ask"}]}]}`.

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

use crate::check::{long_text, text};
use crate::FieldError;

/// Largest flow script, serialized as JSON, in bytes (64 KiB).
pub const MAX_FLOW_BYTES: usize = 64 * 1024;
/// Compiled size limit of each flow regex, in bytes (also its lazy DFA's
/// cache limit), so a pattern cannot make building the agent slow or large.
pub const MAX_REGEX_BYTES: usize = 256 * 1024;
/// Most intents in a script.
pub const MAX_FLOW_INTENTS: usize = 100;
/// Most slots, and most keywords, per intent.
pub const MAX_FLOW_ITEMS: usize = 50;
/// Longest name (intent, slot) or keyword, in characters.
pub const MAX_FLOW_NAME_CHARS: usize = 100;
/// Most regexes in a script (intents' and slots' together), which bounds
/// the time to check and build it.
pub const MAX_FLOW_REGEXES: usize = 100;
/// Longest regex source, in characters.
pub const MAX_FLOW_REGEX_CHARS: usize = 1000;
/// Longest spoken text (greeting, fallback, reply, ask), in characters.
pub const MAX_FLOW_TEXT_CHARS: usize = 2000;
/// Longest DTMF sequence.
pub const MAX_FLOW_DTMF: usize = 16;

/// A dialogue script (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowScript {
    /// Said when the history has no user turn yet (defaults to `fallback`).
    #[serde(default)]
    pub greeting: Option<String>,
    /// Said when no intent matches.
    pub fallback: String,
    /// Tried in order: the first match wins.
    #[serde(default)]
    pub intents: Vec<FlowIntent>,
}

/// One intent of a [`FlowScript`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowIntent {
    pub name: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub regex: Option<String>,
    /// Digits `0-9`, `*`, `#`, `A-D`.
    #[serde(default)]
    pub dtmf: Option<String>,
    /// `{slot}` placeholders must name a slot of the script.
    pub reply: String,
    #[serde(default)]
    pub end_call: bool,
    #[serde(default)]
    pub slots: Vec<FlowSlot>,
}

/// A value an intent collects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSlot {
    pub name: String,
    pub regex: String,
    #[serde(default)]
    pub ask: Option<String>,
}

/// Compiles a flow regex within [`MAX_REGEX_BYTES`] (the engine uses this
/// too, so what was checked on save is what runs).
pub fn compile_regex(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .size_limit(MAX_REGEX_BYTES)
        .dfa_size_limit(MAX_REGEX_BYTES)
        .build()
}

/// The `{name}` placeholders of a template.
pub fn placeholders(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) => {
                out.push(after[..end].trim());
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    out
}

impl FlowScript {
    /// Reads and checks a script given as JSON at `path` (for errors, e.g.
    /// `flow` or `credentials.llm.flow`).
    ///
    /// Errors, each naming the field: larger than [`MAX_FLOW_BYTES`], not a
    /// script object, too many intents/slots/keywords, texts too long or
    /// with control characters, bad DTMF, a regex that does not compile
    /// within [`MAX_REGEX_BYTES`], a placeholder naming no slot.
    pub fn check(value: &serde_json::Value, path: &str) -> Result<FlowScript, Vec<FieldError>> {
        let size = serde_json::to_string(value)
            .map(|s| s.len())
            .unwrap_or(usize::MAX);
        if size > MAX_FLOW_BYTES {
            return Err(vec![FieldError::new(
                path,
                format!("must be at most {MAX_FLOW_BYTES} bytes as JSON"),
            )]);
        }
        let script: FlowScript = serde_json::from_value(value.clone()).map_err(|e| {
            let mut reason = e.to_string();
            if reason.chars().count() > 200 {
                reason = reason.chars().take(200).collect::<String>() + "…";
            }
            vec![FieldError::new(
                path,
                format!(
                    "is not a flow script ({{\"fallback\": \"…\", \"intents\": […]}}): {reason}"
                ),
            )]
        })?;
        let mut errors = Vec::new();
        let mut add = |field: String, r: Result<(), String>| {
            if let Err(m) = r {
                errors.push(FieldError::new(field, m));
            }
        };
        let count = |n: usize, max: usize| {
            if n > max {
                Err(format!("must have at most {max} entries"))
            } else {
                Ok(())
            }
        };
        let regexes = script
            .intents
            .iter()
            .map(|i| usize::from(i.regex.is_some()) + i.slots.len())
            .sum::<usize>();
        if regexes > MAX_FLOW_REGEXES {
            return Err(vec![FieldError::new(
                format!("{path}.intents"),
                format!("must have at most {MAX_FLOW_REGEXES} regexes in all"),
            )]);
        }
        if let Some(g) = &script.greeting {
            add(
                format!("{path}.greeting"),
                long_text(g, MAX_FLOW_TEXT_CHARS),
            );
        }
        add(
            format!("{path}.fallback"),
            long_text(&script.fallback, MAX_FLOW_TEXT_CHARS),
        );
        add(
            format!("{path}.intents"),
            count(script.intents.len(), MAX_FLOW_INTENTS),
        );
        let slot_names: Vec<&str> = script
            .intents
            .iter()
            .flat_map(|i| i.slots.iter().map(|s| s.name.as_str()))
            .collect();
        let template = |t: &str| -> Result<(), String> {
            long_text(t, MAX_FLOW_TEXT_CHARS)?;
            match placeholders(t)
                .into_iter()
                .find(|p| !slot_names.contains(p))
            {
                Some(p) => Err(format!(
                    "placeholder {{{}}} names no slot",
                    crate::check::key_name(p)
                )),
                None => Ok(()),
            }
        };
        let regex = |r: &str| -> Result<(), String> {
            text(r, MAX_FLOW_REGEX_CHARS)?;
            compile_regex(r).map(|_| ()).map_err(|e| match e {
                regex::Error::CompiledTooBig(_) => {
                    format!("compiles larger than {MAX_REGEX_BYTES} bytes")
                }
                other => format!("is not a valid regex: {}", first_line(&other.to_string())),
            })
        };
        for (i, intent) in script.intents.iter().take(MAX_FLOW_INTENTS).enumerate() {
            let at = format!("{path}.intents[{i}]");
            add(
                format!("{at}.name"),
                text(&intent.name, MAX_FLOW_NAME_CHARS),
            );
            add(
                format!("{at}.keywords"),
                count(intent.keywords.len(), MAX_FLOW_ITEMS),
            );
            for (k, kw) in intent.keywords.iter().take(MAX_FLOW_ITEMS).enumerate() {
                add(format!("{at}.keywords[{k}]"), text(kw, MAX_FLOW_NAME_CHARS));
            }
            if let Some(r) = &intent.regex {
                add(format!("{at}.regex"), regex(r));
            }
            if let Some(d) = &intent.dtmf {
                let ok = d.trim().len() <= MAX_FLOW_DTMF
                    && d.trim()
                        .chars()
                        .all(|c| c.is_ascii_digit() || "*#ABCDabcd".contains(c));
                let r = if ok {
                    Ok(())
                } else {
                    Err(format!("must be at most {MAX_FLOW_DTMF} of 0-9, *, #, A-D"))
                };
                add(format!("{at}.dtmf"), r);
            }
            add(format!("{at}.reply"), template(&intent.reply));
            add(
                format!("{at}.slots"),
                count(intent.slots.len(), MAX_FLOW_ITEMS),
            );
            for (s, slot) in intent.slots.iter().take(MAX_FLOW_ITEMS).enumerate() {
                let at = format!("{at}.slots[{s}]");
                add(format!("{at}.name"), text(&slot.name, MAX_FLOW_NAME_CHARS));
                add(format!("{at}.regex"), regex(&slot.regex));
                if let Some(ask) = &slot.ask {
                    add(format!("{at}.ask"), template(ask));
                }
            }
        }
        if errors.is_empty() {
            Ok(script)
        } else {
            Err(errors)
        }
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .last()
        .unwrap_or(s)
        .chars()
        .take(200)
        .collect()
}
