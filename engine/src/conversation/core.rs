//! The turn-taking state machine of one call (sans-IO; see the module docs of
//! [`crate::conversation`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::config::{
    end_call_tool, ConversationConfig, DTMF_INTER_DIGIT_MS, END_CALL_TOOL, FRAME_MS,
    MAX_CALL_HANGUP_REASON, MISSING_FRAMES_GRACE_MS,
};
use super::events::{Input, Output};
use super::frames::FrameTracker;
use super::latency::TurnTiming;
use super::reply::{Reply, ReplyKind, Segment, SegmentState};
use super::state::State;
use super::turn::UserTurn;
use crate::providers::{ChatMessage, LlmRequest, ProviderError, Role};

/// A DTMF burst is closed once it reaches this many digits (guards against key mashing).
const MAX_DTMF_DIGITS: usize = 32;

/// `t + ms`, or None if that is not representable.
fn after(t: Instant, ms: u32) -> Option<Instant> {
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
    config: ConversationConfig,
    started_at: Instant,
    history: Vec<ChatMessage>,
    outputs: VecDeque<Output>,
    frames: FrameTracker,
    turn: UserTurn,
    reply: Option<Reply>,
    stall_deadline: Option<Instant>,
    max_call_deadline: Option<Instant>,
    stt_forwarding: bool,
    answered: bool,
    ended: bool,
    next_request: u64,
    next_segment: u64,
}

impl Conversation {
    /// A conversation for a call that started (was set up) at `now`; transcript
    /// times and `max_call_ms` count from it.
    pub fn new(config: ConversationConfig, now: Instant) -> Self {
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
            } => {
                if self.is_current(request) {
                    if name == END_CALL_TOOL {
                        self.mark_end_call();
                    } else {
                        tracing::warn!(%name, %arguments, "ignoring unsupported tool call");
                    }
                }
            }
            Input::LlmEndCall { request } => {
                if self.is_current(request) {
                    self.mark_end_call();
                }
            }
            Input::LlmDone { request } => self.on_llm_done(request, now),
            Input::LlmError { request, error } => self.on_llm_error(request, &error, now),
            Input::TtsFirstAudio { segment } => self.on_tts_first_audio(segment, now),
            Input::TtsDone { segment, audio_ms } => self.on_tts_done(segment, audio_ms),
            Input::TtsError { segment, error } => self.on_tts_error(segment, &error, now),
            Input::PlaybackStarted { segment } => self.on_playback_started(segment, now),
            Input::PlaybackFinished { segment } => self.on_playback_finished(segment, now),
            Input::Dtmf { digit } => self.on_dtmf(digit, now),
            Input::RemoteHangup => self.teardown(None, now),
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

    // ---- caller side --------------------------------------------------------

    fn on_answered(&mut self, now: Instant) {
        if self.answered {
            return;
        }
        self.answered = true;
        let caller_first = self.reply.is_some()
            || self.turn.speech_open
            || self.turn.awaiting
            || self.turn.keying()
            || !self.turn.pending_finals.is_empty();
        if caller_first {
            tracing::debug!("caller already has the floor; skipping the greeting");
            return;
        }
        let mut reply = Reply::new(ReplyKind::Greeting, None, 0, TurnTiming::default());
        let mut chunks = reply.chunker.push(&self.config.greeting);
        chunks.extend(reply.chunker.flush());
        if chunks.is_empty() {
            return;
        }
        self.reply = Some(reply);
        for chunk in chunks {
            self.speak(chunk, now);
        }
    }

    fn on_frame(&mut self, speech: bool, now: Instant) {
        self.frames.push(speech, now);
        let run = self.frames.speech_run_ms;
        if let Some(reply) = &self.reply {
            if !speech {
                return;
            }
            let audible = reply.has_outstanding() || reply.heard();
            let threshold = if audible {
                if !self.config.barge_in_enabled {
                    return;
                }
                self.config.barge_in_min_ms
            } else {
                // Nothing playing yet: the caller is simply continuing their turn.
                self.config.min_utterance_ms
            };
            if run >= threshold.max(FRAME_MS) {
                tracing::debug!(audible, "caller took the floor from the agent");
                self.cancel_reply(now, true);
                self.open_speech(now);
            }
            return;
        }
        if self.turn.speech_open {
            if speech {
                self.turn.timing.last_speech_at = Some(now);
            } else if self.frames.silence_run_ms >= self.config.endpointing_ms {
                self.end_speech(now);
            }
            return;
        }
        if speech && run >= self.config.min_utterance_ms.max(FRAME_MS) {
            if self.turn.awaiting {
                // Spoke again before any reply: the same turn goes on.
                self.turn.awaiting = false;
                self.stall_deadline = None;
            }
            self.open_speech(now);
        }
    }

    /// The caller's utterance is real: forward their audio to STT.
    fn open_speech(&mut self, now: Instant) {
        self.turn.speech_open = true;
        let onset_ago = Duration::from_millis(u64::from(
            self.frames.speech_run_ms.saturating_sub(FRAME_MS),
        ));
        self.turn.utterance_started_at = Some(now.checked_sub(onset_ago).unwrap_or(now));
        self.turn.timing.last_speech_at = Some(now);
        self.set_forward(true);
    }

    /// End of the caller's utterance: ask STT for its final.
    fn end_speech(&mut self, now: Instant) {
        if !self.turn.speech_open {
            return;
        }
        self.turn.speech_open = false;
        self.outputs.push_back(Output::SttEndOfUtterance);
        self.set_forward(false);
        let started = self.turn.utterance_started_at.take().unwrap_or(now);
        self.turn.pending_finals.push_back(started);
        self.turn.timing.eou_at = Some(now);
        self.turn_ended(now);
    }

    /// Speech and keying both stopped: the turn is over once its finals are in.
    fn turn_ended(&mut self, now: Instant) {
        if self.turn.speech_open || self.turn.keying() {
            return;
        }
        self.turn.awaiting = true;
        self.stall_deadline = after(now, self.config.response_timeout_ms);
        self.try_complete_turn(now);
    }

    /// Commits the finished turn to history and asks the model for a reply.
    fn try_complete_turn(&mut self, now: Instant) {
        let t = &self.turn;
        if !t.awaiting
            || !t.pending_finals.is_empty()
            || t.speech_open
            || t.keying()
            || self.reply.is_some()
        {
            return;
        }
        let text = std::mem::take(&mut self.turn.text);
        let dtmf = std::mem::take(&mut self.turn.dtmf);
        let mut timing = self.turn.timing;
        self.turn.clear();
        if text.is_empty() && dtmf.is_empty() {
            tracing::debug!("nothing intelligible was said; not replying");
            self.stall_deadline = None;
            return;
        }
        let mut user_messages = 0;
        if !text.is_empty() {
            self.history.push(ChatMessage::user(text));
            user_messages += 1;
        }
        if !dtmf.is_empty() {
            self.history.push(ChatMessage::user_dtmf(dtmf));
            user_messages += 1;
            timing.keyed = true;
        }
        let request = self.next_request;
        self.next_request += 1;
        timing.llm_started_at = Some(now);
        let request_body = LlmRequest {
            messages: self.history.clone(),
            tools: vec![end_call_tool()],
        };
        self.outputs.push_back(Output::StartLlm {
            request,
            request_body,
        });
        self.reply = Some(Reply::new(
            ReplyKind::Response,
            Some(request),
            user_messages,
            timing,
        ));
    }

    fn on_final(&mut self, text: &str, now: Instant) {
        let text = text.trim();
        if self.turn.discard_finals > 0 {
            // Belongs to a turn already answered with the fallback line.
            self.turn.discard_finals -= 1;
            if !text.is_empty() {
                self.transcript(Role::User, text.to_string(), now, false);
            }
            return;
        }
        let started = match self.turn.pending_finals.pop_front() {
            Some(started) => started,
            // STT finalized part of the open utterance on its own.
            None if self.turn.speech_open => self.turn.utterance_started_at.unwrap_or(now),
            None => {
                tracing::debug!("ignoring an stt final nobody asked for");
                return;
            }
        };
        if !text.is_empty() {
            self.turn.append_text(text);
            self.transcript(Role::User, text.to_string(), started, false);
        }
        self.turn.timing.final_at = Some(now);
        self.try_complete_turn(now);
    }

    fn on_stt_error(&mut self, error: &ProviderError, now: Instant) {
        tracing::warn!(%error, "stt failed");
        let in_turn = self.turn.uses_stt();
        self.turn.discard_finals = 0; // the failed session owes nothing more
        if in_turn {
            self.abandon_turn(false);
            self.play_fallback(now);
        }
    }

    /// Gives up on the caller's current turn (it will be answered with the fallback).
    fn abandon_turn(&mut self, finals_still_coming: bool) {
        self.set_forward(false);
        let owed = if finals_still_coming {
            self.turn
                .discard_finals
                .saturating_add(self.turn.pending_finals.len() as u32)
        } else {
            0
        };
        self.turn.clear();
        self.turn.discard_finals = owed;
        self.stall_deadline = None;
    }

    fn on_dtmf(&mut self, digit: char, now: Instant) {
        let digit = digit.to_ascii_uppercase();
        if !matches!(digit, '0'..='9' | '*' | '#' | 'A'..='D') {
            return;
        }
        if self.reply.is_some() {
            // A keypress always takes the floor (it cannot be echo).
            self.cancel_reply(now, true);
        }
        if self.turn.awaiting {
            self.turn.awaiting = false;
            self.stall_deadline = None;
        }
        if self.turn.dtmf_burst.is_empty() {
            self.turn.dtmf_started_at = Some(now);
        }
        if digit == '#' {
            if self.turn.dtmf_burst.is_empty() {
                self.turn.dtmf_burst.push('#');
            }
            self.close_dtmf(now);
            return;
        }
        self.turn.dtmf_burst.push(digit);
        if self.turn.dtmf_burst.len() >= MAX_DTMF_DIGITS {
            self.close_dtmf(now);
        } else {
            self.turn.dtmf_deadline = Some(after(now, DTMF_INTER_DIGIT_MS).unwrap_or(now));
        }
    }

    fn close_dtmf(&mut self, now: Instant) {
        self.turn.dtmf_deadline = None;
        let burst = std::mem::take(&mut self.turn.dtmf_burst);
        let started = self.turn.dtmf_started_at.take().unwrap_or(now);
        if !burst.is_empty() {
            let content = ChatMessage::user_dtmf(burst.clone()).content;
            self.transcript(Role::User, content, started, false);
            self.turn.dtmf.push_str(&burst);
        }
        self.turn_ended(now);
    }

    // ---- agent side ---------------------------------------------------------

    fn is_current(&self, request: u64) -> bool {
        self.reply
            .as_ref()
            .is_some_and(|r| r.request == Some(request))
    }

    fn mark_end_call(&mut self) {
        if let Some(reply) = self.reply.as_mut() {
            reply.end_call = true;
        }
    }

    fn speak(&mut self, text: String, now: Instant) {
        let segment = self.next_segment;
        let Some(reply) = self.reply.as_mut() else {
            return;
        };
        self.next_segment += 1;
        if reply.timing.first_speak.is_none() {
            reply.timing.first_speak = Some((segment, now));
        }
        reply.idle_since = None;
        reply.segments.push(Segment {
            id: segment,
            text: text.clone(),
            is_fallback: false,
            state: SegmentState::Queued,
            audio_ms: None,
        });
        self.outputs.push_back(Output::Speak { segment, text });
    }

    /// Queues the fallback line (at most once per reply). Creates a reply if
    /// none is in flight. Returns whether it was queued.
    fn play_fallback(&mut self, _now: Instant) -> bool {
        let segment = self.next_segment;
        let reply = self
            .reply
            .get_or_insert_with(|| Reply::new(ReplyKind::Response, None, 0, TurnTiming::default()));
        if reply.fallback_played {
            return false;
        }
        self.next_segment += 1;
        reply.fallback_played = true;
        reply.idle_since = None;
        reply.segments.push(Segment {
            id: segment,
            text: self.config.fallback_line.clone(),
            is_fallback: true,
            state: SegmentState::Queued,
            audio_ms: None,
        });
        self.outputs.push_back(Output::PlayFallback { segment });
        true
    }

    fn on_token(&mut self, request: u64, text: &str, now: Instant) {
        if !self.is_current(request) {
            return;
        }
        let Some(reply) = self.reply.as_mut() else {
            return;
        };
        reply.timing.first_token_at.get_or_insert(now);
        let chunks = reply.chunker.push(text);
        for chunk in chunks {
            self.speak(chunk, now);
        }
    }

    fn on_llm_done(&mut self, request: u64, now: Instant) {
        if !self.is_current(request) {
            return;
        }
        let Some(reply) = self.reply.as_mut() else {
            return;
        };
        reply.request = None;
        if let Some(rest) = reply.chunker.flush() {
            self.speak(rest, now);
        }
        self.maybe_complete_reply(now);
    }

    fn on_llm_error(&mut self, request: u64, error: &ProviderError, now: Instant) {
        if !self.is_current(request) {
            return;
        }
        tracing::warn!(request, %error, "llm failed; playing fallback");
        let Some(reply) = self.reply.as_mut() else {
            return;
        };
        reply.request = None;
        reply.chunker.reset();
        self.play_fallback(now);
        self.maybe_complete_reply(now);
    }

    fn on_tts_first_audio(&mut self, segment: u64, now: Instant) {
        if let Some(reply) = self.reply.as_mut() {
            if reply.timing.first_speak.is_some_and(|(s, _)| s == segment) {
                reply.timing.first_tts_audio_at.get_or_insert(now);
            }
        }
    }

    fn on_tts_done(&mut self, segment: u64, audio_ms: u32) {
        if let Some(reply) = self.reply.as_mut() {
            if let Some(idx) = reply.index_of(segment) {
                reply.segments[idx].audio_ms = Some(audio_ms);
            }
        }
    }

    fn on_tts_error(&mut self, segment: u64, error: &ProviderError, now: Instant) {
        let Some(reply) = self.reply.as_mut() else {
            return;
        };
        let Some(idx) = reply.index_of(segment) else {
            return;
        };
        if !reply.segments[idx].outstanding() {
            return;
        }
        tracing::warn!(segment, %error, "tts failed");
        if reply.segments[idx].is_fallback {
            reply.segments[idx].state = SegmentState::Dropped;
            self.maybe_complete_reply(now);
            return;
        }
        self.stop_and_fallback(now);
    }

    /// No reply audio within `response_timeout_ms` of the end of the caller's turn.
    fn on_stall(&mut self, now: Instant) {
        self.stall_deadline = None;
        if let Some(reply) = self.reply.as_ref() {
            if reply.heard() || reply.fallback_played {
                return;
            }
            tracing::warn!("no reply audio within the response timeout; playing fallback");
            self.stop_and_fallback(now);
        } else if self.turn.awaiting {
            tracing::warn!("no transcript within the response timeout; playing fallback");
            self.abandon_turn(true);
            self.play_fallback(now);
        }
    }

    /// Abandons the rest of the reply (flushing queued audio) and plays the fallback line.
    fn stop_and_fallback(&mut self, now: Instant) {
        let Some(reply) = self.reply.as_mut() else {
            return;
        };
        if reply.has_outstanding() {
            self.outputs.push_back(Output::StopSpeaking);
        }
        reply.cut(now);
        if let Some(request) = reply.request.take() {
            self.outputs.push_back(Output::CancelLlm { request });
        }
        reply.chunker.reset();
        // A fallback flushed by the StopSpeaking above must be queued again.
        reply.fallback_played = reply
            .segments
            .iter()
            .any(|s| s.is_fallback && s.state == SegmentState::Finished);
        self.play_fallback(now);
        self.maybe_complete_reply(now);
    }

    /// The model went quiet mid-reply: speak what is buffered and finish.
    fn on_reply_gap(&mut self, now: Instant) {
        let Some(reply) = self.reply.as_mut() else {
            return;
        };
        let Some(request) = reply.request.take() else {
            return;
        };
        tracing::warn!(request, "llm stalled mid-reply; finishing the reply");
        reply.idle_since = None;
        self.outputs.push_back(Output::CancelLlm { request });
        if let Some(rest) = reply.chunker.flush() {
            self.speak(rest, now);
        }
        self.maybe_complete_reply(now);
    }

    fn on_playback_started(&mut self, segment: u64, now: Instant) {
        let Some(reply) = self.reply.as_mut() else {
            return;
        };
        let Some(idx) = reply.index_of(segment) else {
            return;
        };
        if reply.segments[idx].state != SegmentState::Queued {
            return;
        }
        reply.settle_before(idx);
        reply.segments[idx].state = SegmentState::Playing { started_at: now };
        reply.idle_since = None;
        if reply.first_audio_at.is_none() {
            reply.first_audio_at = Some(now);
            self.stall_deadline = None;
            if reply.kind == ReplyKind::Response {
                if let Some(latency) = reply.timing.latency(now) {
                    self.outputs.push_back(Output::TurnLatency(latency));
                }
            }
        }
    }

    fn on_playback_finished(&mut self, segment: u64, now: Instant) {
        let Some(reply) = self.reply.as_ref() else {
            return;
        };
        let Some(idx) = reply.index_of(segment) else {
            return;
        };
        match reply.segments[idx].state {
            SegmentState::Queued => self.on_playback_started(segment, now),
            SegmentState::Playing { .. } => {}
            _ => return,
        }
        let Some(reply) = self.reply.as_mut() else {
            return;
        };
        reply.settle_before(idx);
        reply.segments[idx].state = SegmentState::Finished;
        if reply.request.is_some() && !reply.has_outstanding() {
            reply.idle_since = Some(now);
        }
        self.maybe_complete_reply(now);
    }

    /// Finishes the reply once the model is done and everything has played.
    fn maybe_complete_reply(&mut self, now: Instant) {
        let Some(reply) = self.reply.as_ref() else {
            return;
        };
        if reply.request.is_some() || reply.has_outstanding() {
            return;
        }
        if reply.kind == ReplyKind::Response
            && !reply.end_call
            && !reply.fallback_played
            && !reply.heard()
        {
            // The model had nothing to say: never leave the caller in silence.
            tracing::warn!("reply produced no audio; playing fallback");
            self.play_fallback(now);
            return;
        }
        let Some(reply) = self.reply.take() else {
            return;
        };
        self.stall_deadline = None;
        self.commit_reply(&reply, now);
        if reply.end_call {
            self.teardown(Some("agent ended the call".to_string()), now);
            return;
        }
        // The caller started talking while the agent finished (below the
        // barge-in threshold, or barge-in disabled): give them the floor.
        if self.frames.speech_run_ms >= self.config.min_utterance_ms.max(FRAME_MS) {
            self.open_speech(now);
        }
    }

    /// Records what the caller heard of `reply` in history and the transcript.
    fn commit_reply(&mut self, reply: &Reply, now: Instant) {
        let text = reply.heard_text();
        if text.is_empty() {
            return;
        }
        self.history.push(ChatMessage::assistant(text.clone()));
        self.transcript(
            Role::Assistant,
            text,
            reply.first_audio_at.unwrap_or(now),
            reply.interrupted,
        );
    }

    /// Stops the reply in flight. If the caller heard part of it, that part is
    /// committed; otherwise (and if `reopen`) the caller's turn it answered is
    /// reopened so what they say next is merged into it.
    fn cancel_reply(&mut self, now: Instant, reopen: bool) {
        let Some(mut reply) = self.reply.take() else {
            return;
        };
        if reply.has_outstanding() {
            self.outputs.push_back(Output::StopSpeaking);
        }
        if let Some(request) = reply.request.take() {
            self.outputs.push_back(Output::CancelLlm { request });
        }
        reply.cut(now);
        self.stall_deadline = None;
        if reply.heard() || !reopen {
            self.commit_reply(&reply, now);
        } else {
            self.reopen_turn(reply.user_messages);
        }
    }

    /// Moves the last `user_messages` user messages from history back into the turn.
    fn reopen_turn(&mut self, user_messages: usize) {
        let mut text = String::new();
        let mut dtmf = String::new();
        for _ in 0..user_messages {
            if self.history.last().is_none_or(|m| m.role != Role::User) {
                break;
            }
            let Some(message) = self.history.pop() else {
                break;
            };
            match message.dtmf {
                Some(digits) => dtmf.insert_str(0, &digits),
                None => {
                    if !text.is_empty() {
                        text.insert(0, ' ');
                    }
                    text.insert_str(0, &message.content);
                }
            }
        }
        if !text.is_empty() {
            let later = std::mem::replace(&mut self.turn.text, text);
            if !later.is_empty() {
                self.turn.append_text(&later);
            }
        }
        dtmf.push_str(&self.turn.dtmf);
        self.turn.dtmf = dtmf;
    }

    /// Ends the call: cancels everything, records what was said, optionally hangs up.
    fn teardown(&mut self, hangup_reason: Option<String>, now: Instant) {
        self.cancel_reply(now, false);
        self.set_forward(false);
        let text = std::mem::take(&mut self.turn.text);
        if !text.is_empty() {
            self.history.push(ChatMessage::user(text));
        }
        let dtmf = std::mem::take(&mut self.turn.dtmf);
        if !dtmf.is_empty() {
            self.history.push(ChatMessage::user_dtmf(dtmf));
        }
        self.turn = UserTurn::default();
        self.stall_deadline = None;
        self.max_call_deadline = None;
        if let Some(reason) = hangup_reason {
            self.outputs.push_back(Output::HangUp { reason });
        }
        self.ended = true;
    }

    // ---- helpers ------------------------------------------------------------

    fn set_forward(&mut self, on: bool) {
        if self.stt_forwarding != on {
            self.stt_forwarding = on;
            self.outputs.push_back(Output::SttForward(on));
        }
    }

    fn transcript(&mut self, speaker: Role, text: String, at: Instant, interrupted: bool) {
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
            if reply.request.is_some() && reply.kind != ReplyKind::Response {
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
