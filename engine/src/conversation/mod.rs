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
//! * **DTMF** — digits within [`DTMF_INTER_DIGIT_MS`] form one user turn; `#` ends it.
//!
//! Timing of every spoken turn is reported once as [`Output::TurnLatency`].

mod config;
mod core;
mod events;
mod frames;
mod latency;
mod reply;
mod state;
mod turn;

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests;

pub use self::config::{
    end_call_tool, ConfigError, ConversationConfig, DTMF_INTER_DIGIT_MS, END_CALL_TOOL, FRAME_MS,
    MAX_CALL_HANGUP_REASON, MISSING_FRAMES_GRACE_MS, MS_PER_CHAR_ESTIMATE,
};
pub use self::core::Conversation;
pub use self::events::{Input, Output, TurnLatency};
pub use self::state::State;
