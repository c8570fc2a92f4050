//! The offline, scripted dialogue "LLM": intents matched by keyword, regex or
//! DTMF digit, slots filled across turns, reply templates. Needs no network
//! and answers instantly, so it is the embedded default.
//!
//! It is stateless per request: the dialogue state (active intent, slot values)
//! is replayed from the user turns of [`LlmRequest::messages`] each time, so a
//! cancelled request leaves nothing behind.

use std::collections::HashMap;

use futures::stream::BoxStream;
use futures::StreamExt;
use regex::Regex;
use serde::{Deserialize, Serialize};

use super::{LanguageModel, LlmEvent, LlmRequest, ProviderError, Role};

/// The built-in script ([`FlowConfig::default`]): a small receptionist.
pub const DEFAULT_FLOW_TOML: &str = r#"
[flow]
greeting = "Hello, thanks for calling. You can say book an appointment, opening hours, or talk to a person."
fallback = "Sorry, I didn't get that. You can say book an appointment, opening hours, or talk to a person."

[[flow.intents]]
name = "appointment"
keywords = ["appointment", "book", "booking", "schedule"]
regex = "(?i)\\bappointment\\b"
dtmf = "1"
slots = [
  { name = "day", regex = "(?i)\\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|tomorrow)\\b", ask = "Sure, I can book an appointment for you. What day works best?" },
]
reply = "Great, you're booked for {day}. Is there anything else I can help with?"

[[flow.intents]]
name = "hours"
keywords = ["hours", "open", "opening", "close", "closing"]
dtmf = "2"
reply = "We're open Monday to Friday, nine to five. Is there anything else I can help with?"

[[flow.intents]]
name = "human"
keywords = ["person", "human", "agent", "operator", "someone"]
dtmf = "0"
reply = "All our staff are busy right now. Please call back during opening hours, or tell me what you need and I'll do my best."

[[flow.intents]]
name = "goodbye"
keywords = ["bye", "goodbye", "that's all", "no thanks", "nothing else"]
dtmf = "9"
reply = "Thank you for calling. Goodbye!"
end_call = true
"#;

/// A dialogue script. Deserializes from the `[flow]` table of a TOML file
/// (see [`DEFAULT_FLOW_TOML`]; [`FlowConfig::from_toml_str`] reads a whole file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowConfig {
    /// Said when the history has no user turn yet (defaults to `fallback`).
    #[serde(default)]
    pub greeting: Option<String>,
    /// Said when no intent matches.
    pub fallback: String,
    /// Intents, tried in order: the first match wins.
    #[serde(default)]
    pub intents: Vec<FlowIntent>,
}

/// One intent of a [`FlowConfig`]. It matches a user turn when any keyword
/// occurs as whole words (case-insensitive), or `regex` matches, or the turn
/// was keyed and its digits equal `dtmf`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowIntent {
    pub name: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub regex: Option<String>,
    #[serde(default)]
    pub dtmf: Option<String>,
    /// Reply once every slot is filled; `{slot}` placeholders are substituted.
    pub reply: String,
    /// Hang up after the reply.
    #[serde(default)]
    pub end_call: bool,
    /// Values to collect before replying, asked for in order.
    #[serde(default)]
    pub slots: Vec<FlowSlot>,
}

/// A value an intent collects: the first capture group of `regex` (or the
/// whole match) in a user turn while the intent is active.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSlot {
    pub name: String,
    pub regex: String,
    /// Prompt when the slot is missing (may use `{slot}` placeholders);
    /// default "What <name> would you like?".
    #[serde(default)]
    pub ask: Option<String>,
}

#[derive(Deserialize)]
struct FlowFile {
    flow: FlowConfig,
}

impl FlowConfig {
    /// Reads a TOML document with a `[flow]` table.
    pub fn from_toml_str(toml_text: &str) -> Result<Self, ProviderError> {
        toml::from_str::<FlowFile>(toml_text)
            .map(|f| f.flow)
            .map_err(|e| ProviderError::Config(format!("bad flow script: {e}")))
    }

    /// Like [`FlowConfig::from_toml_str`], but the error gives only the
    /// parser's message and line, never a snippet of the text (which may be
    /// any file an operator named by mistake, such as a key file).
    pub fn from_toml_quiet(toml_text: &str) -> Result<Self, String> {
        toml::from_str::<FlowFile>(toml_text)
            .map(|f| f.flow)
            .map_err(|e| {
                let line = e.span().map(|s| {
                    toml_text[..s.start.min(toml_text.len())]
                        .matches('\n')
                        .count()
                        + 1
                });
                // Quoted values are cut off: they are the file's content.
                let first = e.message().lines().next().unwrap_or_default();
                let message = first
                    .split('"')
                    .next()
                    .unwrap_or_default()
                    .trim_end()
                    .to_owned();
                match line {
                    Some(l) => format!("not a TOML file with a [flow] table (line {l}: {message})"),
                    None => format!("not a TOML file with a [flow] table ({message})"),
                }
            })
    }
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self::from_toml_str(DEFAULT_FLOW_TOML).expect("the built-in flow script parses")
    }
}

/// The scripted dialogue model.
#[derive(Debug, Clone)]
pub struct FlowLlm {
    config: FlowConfig,
    intents: Vec<CompiledIntent>,
}

#[derive(Debug, Clone)]
struct CompiledIntent {
    keywords: Vec<Vec<String>>,
    regex: Option<Regex>,
    dtmf: Option<String>,
    slots: Vec<(String, Regex)>,
}

/// One user turn as the flow sees it.
struct Turn<'a> {
    text: &'a str,
    dtmf: Option<&'a str>,
}

/// What the last turn leads to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Greeting,
    Fallback,
    /// Intent, index of the slot to ask for.
    Ask(usize, usize),
    Reply(usize),
}

impl FlowLlm {
    /// Compiles the script; invalid regexes or placeholders naming no slot are
    /// reported as [`ProviderError::Config`].
    pub fn new(config: FlowConfig) -> Result<Self, ProviderError> {
        // Within the same compiled-size limit the tenant input was checked against.
        let compile = |what: &str, re: &str| {
            parla_spec::flow::compile_regex(re)
                .map_err(|e| ProviderError::Config(format!("flow {what}: bad regex: {e}")))
        };
        let slot_names: Vec<&str> = config
            .intents
            .iter()
            .flat_map(|i| i.slots.iter().map(|s| s.name.as_str()))
            .collect();
        let check_template = |what: &str, template: &str| -> Result<(), ProviderError> {
            for name in placeholders(template) {
                if !slot_names.contains(&name) {
                    return Err(ProviderError::Config(format!(
                        "flow {what}: placeholder {{{name}}} names no slot"
                    )));
                }
            }
            Ok(())
        };
        let mut intents = Vec::with_capacity(config.intents.len());
        for intent in &config.intents {
            let what = format!("intent {:?}", intent.name);
            check_template(&what, &intent.reply)?;
            let mut slots = Vec::new();
            for slot in &intent.slots {
                let what = format!("{what} slot {:?}", slot.name);
                if let Some(ask) = &slot.ask {
                    check_template(&what, ask)?;
                }
                slots.push((slot.name.clone(), compile(&what, &slot.regex)?));
            }
            intents.push(CompiledIntent {
                keywords: intent
                    .keywords
                    .iter()
                    .map(|k| words(k))
                    .filter(|k| !k.is_empty())
                    .collect(),
                regex: intent
                    .regex
                    .as_deref()
                    .map(|r| compile(&what, r))
                    .transpose()?,
                dtmf: intent
                    .dtmf
                    .as_ref()
                    .map(|d| d.trim().to_owned())
                    .filter(|d| !d.is_empty()),
                slots,
            });
        }
        Ok(Self { config, intents })
    }

    pub fn config(&self) -> &FlowConfig {
        &self.config
    }

    /// The reply to `request`: its text and whether the call ends after it.
    pub fn respond(&self, request: &LlmRequest) -> (String, bool) {
        let mut slots: HashMap<String, String> = HashMap::new();
        let mut active: Option<usize> = None;
        let mut outcome = Outcome::Greeting;
        for m in request.messages.iter().filter(|m| m.role == Role::User) {
            let turn = Turn {
                text: &m.content,
                dtmf: m.dtmf.as_deref(),
            };
            // A new intent wins; otherwise an intent still collecting slots continues.
            let Some(i) = self.match_intent(&turn).or(active) else {
                active = None;
                outcome = Outcome::Fallback;
                continue;
            };
            let source = turn.dtmf.map(str::trim).unwrap_or(turn.text);
            for (name, re) in &self.intents[i].slots {
                if let Some(value) = capture(re, source) {
                    slots.insert(name.clone(), value);
                }
            }
            match self.intents[i]
                .slots
                .iter()
                .position(|(name, _)| !slots.contains_key(name))
            {
                Some(missing) => {
                    active = Some(i);
                    outcome = Outcome::Ask(i, missing);
                }
                None => {
                    active = None;
                    outcome = Outcome::Reply(i);
                }
            }
        }
        match outcome {
            Outcome::Greeting => (
                self.config
                    .greeting
                    .clone()
                    .unwrap_or_else(|| self.config.fallback.clone()),
                false,
            ),
            Outcome::Fallback => (self.config.fallback.clone(), false),
            Outcome::Ask(i, s) => {
                let slot = &self.config.intents[i].slots[s];
                let text = match &slot.ask {
                    Some(ask) => render(ask, &slots),
                    None => format!("What {} would you like?", slot.name.replace('_', " ")),
                };
                (text, false)
            }
            Outcome::Reply(i) => {
                let intent = &self.config.intents[i];
                (render(&intent.reply, &slots), intent.end_call)
            }
        }
    }

    fn match_intent(&self, turn: &Turn<'_>) -> Option<usize> {
        if let Some(digits) = turn.dtmf {
            let digits = digits.trim();
            return self
                .intents
                .iter()
                .position(|i| i.dtmf.as_deref() == Some(digits));
        }
        let said = words(turn.text);
        self.intents.iter().position(|i| {
            i.keywords.iter().any(|k| contains_words(&said, k))
                || i.regex.as_ref().is_some_and(|r| r.is_match(turn.text))
        })
    }
}

#[async_trait::async_trait]
impl LanguageModel for FlowLlm {
    async fn stream(
        &self,
        request: LlmRequest,
    ) -> Result<BoxStream<'static, Result<LlmEvent, ProviderError>>, ProviderError> {
        let (text, end_call) = self.respond(&request);
        let mut events: Vec<LlmEvent> = word_tokens(&text)
            .into_iter()
            .map(LlmEvent::Token)
            .collect();
        if end_call {
            events.push(LlmEvent::EndCall);
        }
        events.push(LlmEvent::Done);
        Ok(futures::stream::iter(events.into_iter().map(Ok)).boxed())
    }
}

/// Splits a reply into LLM-like tokens: words, each after the first with its leading space.
pub fn word_tokens(text: &str) -> Vec<String> {
    text.split_whitespace()
        .enumerate()
        .map(|(i, w)| {
            if i == 0 {
                w.to_owned()
            } else {
                format!(" {w}")
            }
        })
        .collect()
}

/// Lowercased words (letters, digits, inner apostrophes; curly apostrophes normalized).
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .replace(['\u{2019}', '\u{2018}'], "'")
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

fn contains_words(said: &[String], keyword: &[String]) -> bool {
    said.windows(keyword.len()).any(|w| w == keyword)
}

fn capture(re: &Regex, text: &str) -> Option<String> {
    let caps = re.captures(text)?;
    let m = caps.get(1).or_else(|| caps.get(0))?;
    let value = m.as_str().trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// `{name}` placeholders of a template.
fn placeholders(template: &str) -> Vec<&str> {
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

/// Substitutes `{name}` placeholders (unfilled ones become empty).
fn render(template: &str, slots: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) => {
                if let Some(v) = slots.get(after[..end].trim()) {
                    out.push_str(v);
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_script_compiles() {
        FlowLlm::new(FlowConfig::default()).unwrap();
    }

    #[test]
    fn words_and_keywords() {
        assert_eq!(words("That’s all, BYE!"), vec!["that's", "all", "bye"]);
        assert!(contains_words(
            &words("ok that's all thanks"),
            &words("that's all")
        ));
        assert!(!contains_words(&words("rebook"), &words("book")));
    }

    #[test]
    fn templates() {
        let slots = HashMap::from([("day".to_owned(), "Monday".to_owned())]);
        assert_eq!(render("On {day}, {time}.", &slots), "On Monday, .");
        assert_eq!(placeholders("a {x} b {y}"), vec!["x", "y"]);
    }
}
