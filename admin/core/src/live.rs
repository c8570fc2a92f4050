//! Live calls: what the admin plane can see of, and do to, calls that are
//! up right now, without depending on the call engine.
//!
//! The `parla` binary implements [`LiveCalls`] on top of the engine's
//! registry of running calls and hands it to the web layer
//! (`parla-admin-web`'s `AdminState::with_live_calls`).
//! Without it (admin-only deployments, most tests) no call is live: the
//! event streams replay the stored record and commands answer 409.

use crate::domain::{AgentId, CallId, TenantId, Timestamp, TranscriptTurn, TurnLatency};

/// Longest line an operator may have the agent say, in characters.
pub const MAX_SAY_CHARS: usize = 1_000;

/// One event of a live call, as streamed to clients (`GET
/// /tenants/{tid}/calls/{id}/events`, one server-sent event each, named
/// after `type`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveCallEvent {
    /// The conversation's state changed: `listening`, `user_speaking`,
    /// `endpointing`, `thinking`, `agent_speaking` or `ended`.
    State { state: String },
    /// A final line of the transcript (times in ms since the answer).
    Transcript { turn: TranscriptTurn },
    /// The latency breakdown of one agent turn, in ms.
    Latency { latency: TurnLatency },
    /// The call ended (the last event of a stream); `hangup_cause` as in
    /// the call record (`caller_hangup`, `operator_hangup`, …).
    Ended { hangup_cause: Option<String> },
}

impl LiveCallEvent {
    /// The event's name (`state`, `transcript`, `latency`, `ended`).
    pub fn name(&self) -> &'static str {
        match self {
            LiveCallEvent::State { .. } => "state",
            LiveCallEvent::Transcript { .. } => "transcript",
            LiveCallEvent::Latency { .. } => "latency",
            LiveCallEvent::Ended { .. } => "ended",
        }
    }
}

/// A call that is up right now.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct LiveCallSummary {
    /// The call record's id.
    pub id: CallId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The agent answering it.
    pub agent_id: Option<AgentId>,
    /// SIP From URI.
    pub from_uri: String,
    /// SIP To URI.
    pub to_uri: String,
    /// When the INVITE arrived.
    pub attempted_at: Timestamp,
    /// The conversation's current state (see [`LiveCallEvent::State`]).
    pub state: String,
    /// Transcript lines so far.
    pub turns: u32,
}

/// A subscription to one live call's events.
#[derive(Debug)]
pub struct LiveSubscription {
    /// The events so far (state, transcript, latency), oldest first.
    pub backlog: Vec<LiveCallEvent>,
    /// The events from now on; an [`LiveCallEvent::Ended`] is the last,
    /// then the channel closes. A receiver that falls behind skips events
    /// (`Lagged`).
    pub events: tokio::sync::broadcast::Receiver<LiveCallEvent>,
}

/// A command into a live call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LiveCommand {
    /// Hang up now.
    HangUp,
    /// The agent says `text` (at most [`MAX_SAY_CHARS`] characters), then
    /// hangs up (`hang_up_after`) or goes on.
    Say { text: String, hang_up_after: bool },
}

/// Why a live call could not be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LiveError {
    /// The call is not live (in this tenant) on this node.
    #[error("the call is not live")]
    NotLive,
    /// Too many commands waiting, or too many streams open, for this call.
    #[error("too many requests for this call")]
    Busy,
    /// The line is too long.
    #[error("the line is longer than {MAX_SAY_CHARS} characters")]
    TooLong,
}

/// The engine's live calls, per tenant. Every method returns at once.
pub trait LiveCalls: Send + Sync {
    /// The live calls of `tenant`, or of every tenant (`None`, for the
    /// super admin), oldest first.
    fn list(&self, tenant: Option<TenantId>) -> Vec<LiveCallSummary>;

    /// The events of call `id` of `tenant`. Errors: [`LiveError::NotLive`]
    /// (also for another tenant's call), [`LiveError::Busy`] when the call
    /// has too many subscribers.
    fn subscribe(&self, tenant: TenantId, id: CallId) -> Result<LiveSubscription, LiveError>;

    /// Sends `command` to call `id` of `tenant`. Errors:
    /// [`LiveError::NotLive`] (also for another tenant's call),
    /// [`LiveError::Busy`], [`LiveError::TooLong`].
    fn command(&self, tenant: TenantId, id: CallId, command: LiveCommand) -> Result<(), LiveError>;
}
