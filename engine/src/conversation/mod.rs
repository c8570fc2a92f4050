//! The sans-IO turn-taking core: one call's conversational brain.
//!
//! In the style of str0m, [`Conversation`] does no IO, takes no locks, spawns
//! nothing and never reads a clock: the driver feeds it [`Input`]s stamped with
//! the `Instant` they happened, calls [`Conversation::handle_timeout`] at
//! [`Conversation::poll_timeout`], and carries out every [`Output`] from
//! [`Conversation::poll_output`] in order. Same inputs, same outputs.
//!
//! ```text
//!  Listening ──speech ≥ min_utterance_ms (SttForward(true))──▶ UserSpeaking ◀─┐
//!      ▲                                                           │ silence   │ speech
//!      │                                                           ▼           │
//!      │                                                      Endpointing ─────┘
//!      │                        silence ≥ endpointing_ms (SttEndOfUtterance, SttForward(false))
//!      │                                                           ▼
//!      │ reply fully played                    Thinking: SttFinal → StartLlm; LlmToken → Speak
//!      │                                                           │ first Speak / PlayFallback
//!      └──────────────────────────────────────────────────── AgentSpeaking
//!                      barge-in (speech ≥ barge_in_min_ms, or DTMF) ─▶ UserSpeaking
//! ```
//!
//! * **Turn end** — a turn ends after `endpointing_ms` of silence following a
//!   burst of ≥ `min_utterance_ms` of continuous speech; shorter bursts are
//!   noise. Speech before the caller hears any reply continues the same turn
//!   (the pending request is cancelled and the transcripts merged).
//! * **Barge-in** — ≥ `barge_in_min_ms` of continuous caller speech (or any
//!   DTMF key) while agent audio is queued or playing stops it; history keeps
//!   only what was heard (the playing segment truncated to the played fraction
//!   of its words).
//! * **Never silent** — provider errors, a model that says nothing, or no reply
//!   audio within `response_timeout_ms` of the turn's end play the fallback line.
//! * **Operator commands** — [`Input::HangUpNow`] and [`Input::Say`]
//!   (say a line, then hang up or continue); see their docs for how they
//!   share the floor with the caller and the model.
//! * **Tools** — the model's tool calls go through the call's
//!   [`ToolDispatcher`] (`end_call` built in).
//! * **DTMF** — digits within [`DTMF_INTER_DIGIT_MS`] form one user turn; `#` ends it.
//!
//! Timing of every spoken turn is reported once as [`Output::TurnLatency`].

mod caller;
mod commands;
mod config;
mod core;
mod events;
mod frames;
mod latency;
mod reply;
mod speaking;
mod state;
mod tools;
mod turn;

#[cfg(test)]
mod command_tests;
#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod turn_tests;

pub use self::config::{
    end_call_tool, ConfigError, ConversationConfig, AGENT_HANGUP_REASON, DTMF_INTER_DIGIT_MS,
    END_CALL_TOOL, FRAME_MS, MAX_CALL_HANGUP_REASON, MAX_PENDING_SAY_CHARS,
    MISSING_FRAMES_GRACE_MS, MS_PER_CHAR_ESTIMATE, OPERATOR_HANGUP_REASON,
};
pub use self::core::Conversation;
pub use self::events::{AfterSay, Input, Output, TurnLatency};
pub use self::state::State;
pub use self::tools::{
    EndCallTool, RegisterError, Tool, ToolDispatcher, ToolError, ToolOutcome, MAX_TOOLS,
    MAX_TOOL_ARGUMENTS_BYTES,
};
