//! The turn-taking state machine of one call (sans-IO; see the module docs of
//! [`crate::conversation`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::config::{
    ConversationConfig, END_CALL_TOOL, MAX_CALL_HANGUP_REASON, MISSING_FRAMES_GRACE_MS,
    OPERATOR_HANGUP_REASON,
};
use super::events::{AfterSay, Input, Output};
use super::frames::FrameTracker;
use super::reply::Reply;
use super::state::State;
use super::tools::ToolDispatcher;
use super::turn::UserTurn;
use crate::providers::{ChatMessage, Role};

/// A DTMF burst is closed once it reaches this many digits (guards against key mashing).
pub(super) const MAX_DTMF_DIGITS: usize = 32;

/// `t + ms`, or None if that is not representable.
pub(super) fn after(t: Instant, ms: u32) -> Option<Instant> {
    t.checked_add(Duration::from_millis(u64::from(ms)))
}

/// The timers the core keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deadline {
    /// `max_call_ms` reached.
    MaxCall,
    /// Caller frames stopped arriving while the caller had the floor.
    Endpoint,
    /// Inter-digit timeout of a DTMF burst.
    Dtmf,
    /// No reply audio within `response_timeout_ms` of the end of the caller's turn.
    Stall,
    /// The model went quiet mid-reply with nothing left to play.
    ReplyGap,
}

/// One call's conversational brain: feed it [`Input`]s and timeouts, drain its
/// [`Output`]s. Deterministic, no IO, no clocks of its own.
#[derive(Debug)]
pub struct Conversation {
    pub(super) config: ConversationConfig,
    pub(super) started_at: Instant,
    pub(super) history: Vec<ChatMessage>,
    pub(super) outputs: VecDeque<Output>,
    pub(super) frames: FrameTracker,
    pub(super) turn: UserTurn,
    pub(super) reply: Option<Reply>,
    pub(super) stall_deadline: Option<Instant>,
    pub(super) max_call_deadline: Option<Instant>,
    pub(super) stt_forwarding: bool,
    pub(super) answered: bool,
    pub(super) ended: bool,
    pub(super) next_request: u64,
    pub(super) next_segment: u64,
    /// The tools offered to the model.
    pub(super) tools: ToolDispatcher,
    /// Operator lines waiting for the caller's turn to end, joined, and
    /// what to do after them.
    pub(super) pending_say: Option<(String, AfterSay)>,
}

impl Conversation {
    /// A conversation for a call that started (was set up) at `now`; transcript
    /// times and `max_call_ms` count from it.
    pub fn new(config: ConversationConfig, now: Instant) -> Self {
        Self::with_tools(config, ToolDispatcher::default(), now)
    }

    /// [`Self::new`] offering the model the tools of `tools` (the default
    /// dispatcher has `end_call` only).
    pub fn with_tools(config: ConversationConfig, tools: ToolDispatcher, now: Instant) -> Self {
        let mut history = Vec::new();
        if !config.system_prompt.trim().is_empty() {
            history.push(ChatMessage::system(config.system_prompt.clone()));
        }
        let max_call_deadline = config.max_call_ms.and_then(|ms| after(now, ms));
        Self {
            config,
            started_at: now,
            history,
            outputs: VecDeque::new(),
            frames: FrameTracker::default(),
            turn: UserTurn::default(),
            reply: None,
            stall_deadline: None,
            max_call_deadline,
            stt_forwarding: false,
            answered: false,
            ended: false,
            next_request: 1,
            next_segment: 1,
            tools,
            pending_say: None,
        }
    }

    /// Processes one input that happened at `now`. Timers due at or before `now`
    /// fire first. Ignored once the call has ended.
    pub fn handle_input(&mut self, input: Input, now: Instant) {
        if self.ended {
            return;
        }
        self.handle_timeout(now);
        if self.ended {
            return;
        }
        match input {
            Input::Answered => self.on_answered(now),
            Input::CallerFrame { speech } => self.on_frame(speech, now),
            Input::SttInterim(text) => tracing::trace!(%text, "stt interim"),
            Input::SttFinal(text) => self.on_final(&text, now),
            Input::SttError(error) => self.on_stt_error(&error, now),
            Input::LlmToken { request, text } => self.on_token(request, &text, now),
            Input::LlmToolCall {
                request,
                name,
                arguments,
            } => self.on_tool_call(request, &name, &arguments),
            Input::LlmEndCall { request } => self.on_tool_call(request, END_CALL_TOOL, "{}"),
            Input::LlmDone { request } => self.on_llm_done(request, now),
            Input::LlmError { request, error } => self.on_llm_error(request, &error, now),
            Input::TtsFirstAudio { segment } => self.on_tts_first_audio(segment, now),
            Input::TtsDone { segment, audio_ms } => self.on_tts_done(segment, audio_ms),
            Input::TtsError { segment, error } => self.on_tts_error(segment, &error, now),
            Input::PlaybackStarted { segment } => self.on_playback_started(segment, now),
            Input::PlaybackFinished { segment } => self.on_playback_finished(segment, now),
            Input::Dtmf { digit } => self.on_dtmf(digit, now),
            Input::RemoteHangup => self.teardown(None, now),
            Input::HangUpNow => self.teardown(Some(OPERATOR_HANGUP_REASON.to_string()), now),
            Input::Say { text, then } => self.on_say(&text, then, now),
        }
    }

    /// Fires every timer due at or before `now`. Call it at [`Self::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        // Every handler clears or moves its own deadline; the bound is only a backstop.
        for _ in 0..16 {
            match self.next_deadline() {
                Some((at, which)) if at <= now => self.fire(which, now),
                _ => return,
            }
        }
    }

    /// When [`Self::handle_timeout`] must next be called (None: no timer pending).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_deadline().map(|(at, _)| at)
    }

    /// The next thing the driver must do, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The chat history: system prompt first (if any), then user and assistant
    /// messages. Assistant messages hold only what the caller actually heard.
    pub fn history(&self) -> &[ChatMessage] {
        &self.history
    }

    pub fn state(&self) -> State {
        if self.ended {
            return State::Ended;
        }
        if let Some(reply) = &self.reply {
            return if reply.has_outstanding() || reply.heard() {
                State::AgentSpeaking
            } else {
                State::Thinking
            };
        }
        if self.turn.speech_open {
            return if self.frames.speaking() {
                State::UserSpeaking
            } else {
                State::Endpointing
            };
        }
        if self.turn.keying() {
            return State::Endpointing;
        }
        if self.turn.awaiting {
            return State::Thinking;
        }
        if self.frames.speaking() {
            return State::UserSpeaking;
        }
        State::Listening
    }

    pub fn config(&self) -> &ConversationConfig {
        &self.config
    }

    // ---- timers -------------------------------------------------------------

    fn next_deadline(&self) -> Option<(Instant, Deadline)> {
        if self.ended {
            return None;
        }
        let candidates = [
            (self.max_call_deadline, Deadline::MaxCall),
            (self.endpoint_deadline(), Deadline::Endpoint),
            (self.turn.dtmf_deadline, Deadline::Dtmf),
            (self.stall_deadline, Deadline::Stall),
            (self.reply_gap_deadline(), Deadline::ReplyGap),
        ];
        candidates
            .into_iter()
            .filter_map(|(at, which)| at.map(|at| (at, which)))
            .min_by_key(|&(at, _)| at)
    }

    /// Backstop for endpointing when frames stop arriving altogether.
    fn endpoint_deadline(&self) -> Option<Instant> {
        if !self.turn.speech_open {
            return None;
        }
        let by_frame = after(self.frames.last_frame_at?, MISSING_FRAMES_GRACE_MS)?;
        let by_speech = self
            .turn
            .timing
            .last_speech_at
            .and_then(|t| after(t, self.config.endpointing_ms));
        Some(by_speech.map_or(by_frame, |s| s.max(by_frame)))
    }

    fn reply_gap_deadline(&self) -> Option<Instant> {
        let reply = self.reply.as_ref()?;
        reply.request?;
        after(reply.idle_since?, self.config.response_timeout_ms)
    }

    fn fire(&mut self, which: Deadline, now: Instant) {
        match which {
            Deadline::MaxCall => self.teardown(Some(MAX_CALL_HANGUP_REASON.to_string()), now),
            Deadline::Endpoint => self.end_speech(now),
            Deadline::Dtmf => self.close_dtmf(now),
            Deadline::Stall => self.on_stall(now),
            Deadline::ReplyGap => self.on_reply_gap(now),
        }
    }

    // ---- helpers ------------------------------------------------------------

    pub(super) fn set_forward(&mut self, on: bool) {
        if self.stt_forwarding != on {
            self.stt_forwarding = on;
            self.outputs.push_back(Output::SttForward(on));
        }
    }

    pub(super) fn transcript(
        &mut self,
        speaker: Role,
        text: String,
        at: Instant,
        interrupted: bool,
    ) {
        let at_ms = u64::try_from(at.saturating_duration_since(self.started_at).as_millis())
            .unwrap_or(u64::MAX);
        self.outputs.push_back(Output::Transcript {
            speaker,
            text,
            at_ms,
            interrupted,
        });
    }

    /// Internal consistency checks for tests.
    #[cfg(test)]
    pub(super) fn check_invariants(&self) -> Result<(), String> {
        if self.turn.speech_open != self.stt_forwarding {
            return Err(format!(
                "speech_open {} but forwarding {}",
                self.turn.speech_open, self.stt_forwarding
            ));
        }
        if let Some(reply) = &self.reply {
            if self.turn.speech_open || self.turn.awaiting || self.turn.keying() {
                return Err("a reply is in flight while the caller's turn is open".into());
            }
            if reply.request.is_some() && reply.kind != super::reply::ReplyKind::Response {
                return Err("greeting with an llm request".into());
            }
        }
        if self.stall_deadline.is_some() {
            let waiting = self.turn.awaiting || self.reply.as_ref().is_some_and(|r| !r.heard());
            if !waiting {
                return Err("stall timer armed with nothing to wait for".into());
            }
        }
        if self.ended
            && (self.reply.is_some() || self.poll_timeout().is_some() || self.stt_forwarding)
        {
            return Err("ended call still has work".into());
        }
        if self.history.iter().any(|m| m.content.trim().is_empty()) {
            return Err("empty message in history".into());
        }
        Ok(())
    }
}
