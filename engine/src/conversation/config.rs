//! Per-call tuning of the turn-taking core, and the fixed constants it relies on.

use crate::providers::ToolSpec;

/// Duration of one caller frame ([`super::Input::CallerFrame`]), in ms.
pub const FRAME_MS: u32 = 20;
// An agent the admin accepts must be one the core accepts.
const _: () = assert!(parla_spec::agent::MIN_ENDPOINTING_MS == FRAME_MS);

/// DTMF digits pressed within this many ms of each other form one user turn, in ms.
pub const DTMF_INTER_DIGIT_MS: u32 = 1_500;

/// Estimated synthesized speech per character of text, in ms, used to truncate an
/// interrupted segment whose total duration ([`super::Input::TtsDone`]) is not known yet.
pub const MS_PER_CHAR_ESTIMATE: u32 = 70;

/// If caller frames stop arriving entirely while the caller has the floor, the
/// turn is ended this long (ms) after the last frame (and no earlier than
/// `endpointing_ms` after the last speech frame).
pub const MISSING_FRAMES_GRACE_MS: u32 = 100;

/// The [`Output::HangUp`](super::Output::HangUp) reason when `max_call_ms` is reached.
pub const MAX_CALL_HANGUP_REASON: &str = "maximum call duration reached";

/// The [`Output::HangUp`](super::Output::HangUp) reason when an operator
/// hangs up ([`super::Input::HangUpNow`], or a `HangUp` [`super::Input::Say`] line).
pub const OPERATOR_HANGUP_REASON: &str = "operator ended the call";

/// The [`Output::HangUp`](super::Output::HangUp) reason when the model ends the call (`end_call`).
pub const AGENT_HANGUP_REASON: &str = "agent ended the call";

/// Operator lines waiting for the caller's turn to end, at most, in
/// characters altogether; longer lines are cut here (the API limits each
/// line further).
pub const MAX_PENDING_SAY_CHARS: usize = 4_000;

/// Name of the tool the model calls to hang up after its reply (see [`end_call_tool`]).
pub const END_CALL_TOOL: &str = "end_call";

/// The `end_call` tool offered to the model in every [`super::Output::StartLlm`].
pub fn end_call_tool() -> ToolSpec {
    ToolSpec {
        name: END_CALL_TOOL.to_string(),
        description: "Hang up the phone call after your current reply has been spoken. \
                      Use it when the caller says goodbye or the conversation is complete."
            .to_string(),
        parameters: serde_json::json!({ "type": "object", "properties": {} }),
    }
}

/// How one call's agent takes turns. All durations are in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationConfig {
    /// Spoken right after the call is answered (empty = none).
    pub greeting: String,
    /// First message of every LLM request (empty = none).
    pub system_prompt: String,
    /// Continuous caller speech this long while the agent is speaking interrupts it. Default 250.
    pub barge_in_min_ms: u32,
    /// Whether caller speech can interrupt the agent at all (DTMF always can).
    pub barge_in_enabled: bool,
    /// Silence after caller speech that ends the caller's turn. Default 500.
    pub endpointing_ms: u32,
    /// Continuous speech shorter than this is noise and ignored. Default 100. The
    /// driver's STT pre-roll (~200 ms) must cover it: STT forwarding starts only
    /// once a burst reaches this length.
    pub min_utterance_ms: u32,
    /// If no reply audio starts playing this long after the end of the caller's
    /// turn, the pending request is cancelled and the fallback line played. Default 1200
    /// (with the default 500 ms endpointing, the caller waits at most ~1.8 s).
    pub response_timeout_ms: u32,
    /// Text of the pre-rendered fallback line (recorded in history when played).
    pub fallback_line: String,
    /// Hang up once the call has lasted this long (None = no limit).
    pub max_call_ms: Option<u32>,
}

impl Default for ConversationConfig {
    fn default() -> Self {
        Self {
            greeting: String::new(),
            system_prompt: String::new(),
            barge_in_min_ms: 250,
            barge_in_enabled: true,
            endpointing_ms: 500,
            min_utterance_ms: 100,
            response_timeout_ms: 1_200,
            fallback_line: "Sorry, I'm having trouble right now. Could you say that again?"
                .to_string(),
            max_call_ms: None,
        }
    }
}

/// Why a [`ConversationConfig`] is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("endpointing_ms must be at least one frame ({FRAME_MS} ms), got {0}")]
    EndpointingTooShort(u32),
    #[error(
        "response_timeout_ms must be in 1..=2000 so the caller never waits more than 2 s, got {0}"
    )]
    ResponseTimeout(u32),
    #[error("max_call_ms must be positive")]
    ZeroMaxCall,
}

impl ConversationConfig {
    /// Checks the values a deployment could get wrong. The core itself never
    /// panics on any config; this is for rejecting bad settings at load time.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.endpointing_ms < FRAME_MS {
            return Err(ConfigError::EndpointingTooShort(self.endpointing_ms));
        }
        if self.response_timeout_ms == 0
            || self.response_timeout_ms > parla_spec::agent::RESPONSE_TIMEOUT_MS.1
        {
            return Err(ConfigError::ResponseTimeout(self.response_timeout_ms));
        }
        if self.max_call_ms == Some(0) {
            return Err(ConfigError::ZeroMaxCall);
        }
        Ok(())
    }
}
