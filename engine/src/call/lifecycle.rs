//! Call lifecycle reporting: how the engine tells whoever keeps call records
//! (the admin plane, in the `parla` binary) what happened to a call, without
//! the engine knowing about any database.
//!
//! The [`AgentDirectory`](crate::agent::AgentDirectory) hands out one
//! [`CallLifecycle`] per routed call; the engine then calls, in this order:
//!
//! 1. [`CallLifecycle::ringing`] once 180 Ringing is sent (optional: a call
//!    rejected after routing, e.g. 488, skips it);
//! 2. [`CallLifecycle::answered`] once the 200 OK is sent (only if answered);
//! 3. [`CallLifecycle::control`] once the call's actor runs (only if
//!    answered), then [`CallLifecycle::event`] for each [`LiveEvent`];
//! 4. [`CallLifecycle::ended`] exactly once, with the [`CallReport`].
//!
//! Every method runs on the SIP loop or a media thread: it must return at
//! once (queue the work, never wait on IO).

use std::path::PathBuf;
use std::time::SystemTime;

use super::control::{CallControl, LiveEvent};
use crate::conversation::TurnLatency;
use crate::providers::Role;

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HangupCause {
    /// The caller sent BYE (or CANCEL while ringing).
    CallerHangup,
    /// The agent ended the call (`end_call`, a goodbye intent).
    AgentHangup,
    /// The call's maximum length was reached: the agent's `max_call_secs`,
    /// or the operator's cap (`--max-call-secs`), whichever is lower.
    MaxDuration,
    /// The caller sent no RTP for the media timeout (`--media-timeout`).
    MediaTimeout,
    /// Rejected before answer (no codec in common, no RTP port, agent unavailable).
    Rejected,
    /// An operator hung up through the call's
    /// [`CallControl`](super::CallControl) (hang-up, or a line then hang-up).
    OperatorHangup,
    /// The engine stopped the call (shutdown, internal failure).
    Error,
}

impl HangupCause {
    /// Stable snake_case name, as stored in call records
    /// (`caller_hangup`, `agent_hangup`, `max_duration`, `media_timeout`,
    /// `rejected`, `operator_hangup`, `error`).
    pub fn as_str(self) -> &'static str {
        match self {
            HangupCause::CallerHangup => "caller_hangup",
            HangupCause::AgentHangup => "agent_hangup",
            HangupCause::MaxDuration => "max_duration",
            HangupCause::MediaTimeout => "media_timeout",
            HangupCause::Rejected => "rejected",
            HangupCause::OperatorHangup => "operator_hangup",
            HangupCause::Error => "error",
        }
    }
}

/// One utterance of the call transcript, times in ms since the call was answered.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptLine {
    /// `Role::User` for the caller, `Role::Assistant` for the agent.
    pub speaker: Role,
    /// Final STT text (caller) or the part of the reply that was played (agent).
    pub text: String,
    /// When the utterance began, in ms since answer.
    pub at_ms: u64,
    /// When it ended, in ms since answer (≥ `at_ms`).
    pub end_ms: u64,
    /// The agent was cut off by barge-in.
    pub interrupted: bool,
}

/// Everything known about a call when it ends.
#[derive(Debug, Clone)]
pub struct CallReport {
    /// When the 200 OK was sent; `None` if never answered.
    pub answered_at: Option<SystemTime>,
    /// When the call ended (BYE, CANCEL, rejection).
    pub ended_at: SystemTime,
    /// Why it ended.
    pub cause: HangupCause,
    /// The final response to the INVITE: 200 if answered, else the rejection
    /// (487 for a CANCEL, 488, 503, …); 0 when none came (an outbound call
    /// to an unreachable trunk).
    pub sip_status: u16,
    /// The conversation, in order.
    pub transcript: Vec<TranscriptLine>,
    /// Latency of each agent turn, in order.
    pub latency: Vec<TurnLatency>,
    /// The call recording, if one was written.
    pub recording: Option<PathBuf>,
    /// For an outbound call that ended before the answer: its outcome and
    /// cause as the SIP client reported them. `None` otherwise.
    pub outbound: Option<OutboundEnd>,
}

/// How an outbound call ended before it was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundEnd {
    /// `busy`, `no_answer`, `failed` or `canceled` (the record's status).
    pub outcome: &'static str,
    /// One of `parla_sip::uac::cause` (`busy`, `ring_timeout`,
    /// `auth_failed`, `unreachable`, `no_sdp`, …).
    pub cause: String,
}

impl CallReport {
    /// A call that ended before it was answered, with `sip_status`.
    pub fn unanswered(cause: HangupCause, sip_status: u16) -> CallReport {
        CallReport {
            answered_at: None,
            ended_at: SystemTime::now(),
            cause,
            sip_status,
            transcript: Vec::new(),
            latency: Vec::new(),
            recording: None,
            outbound: None,
        }
    }
}

/// Receives the lifecycle of one call. See the module docs for the order.
/// Implementations queue their work and return immediately.
pub trait CallLifecycle: Send + 'static {
    /// Outbound calls only, before everything else: the INVITE went out
    /// with this Call-ID. Default: ignored.
    fn dialing(&mut self, _sip_call_id: &str) {}
    /// 180 Ringing was sent.
    fn ringing(&mut self);
    /// The call was answered (200 OK sent) at `at`.
    fn answered(&mut self, at: SystemTime);
    /// The call is over; called exactly once.
    fn ended(&mut self, report: CallReport);
    /// The answered call takes commands through `control` (called once,
    /// when its actor starts, after `answered`). Default: ignored.
    fn control(&mut self, _control: CallControl) {}
    /// Something happened in the running call (between `control` and
    /// `ended`, in order). Must return at once. Default: ignored.
    fn event(&mut self, _event: LiveEvent) {}
    /// Where to record this call when its agent records calls: a path
    /// relative to [`CallServices::recordings_dir`](super::CallServices),
    /// chosen by whoever keeps the records (e.g. `<tenant>/<record id>.wav`,
    /// never from the caller's Call-ID, which a caller chooses). `None`
    /// (the default): the call is not recorded. Absolute paths and `..`
    /// components are refused by the engine.
    fn recording_name(&self) -> Option<PathBuf> {
        None
    }
}
