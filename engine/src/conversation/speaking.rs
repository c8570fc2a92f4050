//! The agent's side of the turn-taking core: model tokens, synthesis,
//! playback, barge-in, fallbacks and the end of the call.

use std::time::Instant;

use super::config::{AGENT_HANGUP_REASON, FRAME_MS, OPERATOR_HANGUP_REASON};
use super::core::Conversation;
use super::events::Output;
use super::latency::TurnTiming;
use super::reply::{Reply, ReplyKind, Segment, SegmentState};
use super::turn::UserTurn;
use crate::providers::{ChatMessage, ProviderError, Role};

impl Conversation {
    pub(super) fn is_current(&self, request: u64) -> bool {
        self.reply
            .as_ref()
            .is_some_and(|r| r.request == Some(request))
    }

    pub(super) fn mark_end_call(&mut self) {
        if let Some(reply) = self.reply.as_mut() {
            reply.end_call = true;
        }
    }

    pub(super) fn speak(&mut self, text: String, now: Instant) {
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
    pub(super) fn play_fallback(&mut self, _now: Instant) -> bool {
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

    pub(super) fn on_token(&mut self, request: u64, text: &str, now: Instant) {
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

    pub(super) fn on_llm_done(&mut self, request: u64, now: Instant) {
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

    pub(super) fn on_llm_error(&mut self, request: u64, error: &ProviderError, now: Instant) {
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

    pub(super) fn on_tts_first_audio(&mut self, segment: u64, now: Instant) {
        if let Some(reply) = self.reply.as_mut() {
            if reply.timing.first_speak.is_some_and(|(s, _)| s == segment) {
                reply.timing.first_tts_audio_at.get_or_insert(now);
            }
        }
    }

    pub(super) fn on_tts_done(&mut self, segment: u64, audio_ms: u32) {
        if let Some(reply) = self.reply.as_mut() {
            if let Some(idx) = reply.index_of(segment) {
                reply.segments[idx].audio_ms = Some(audio_ms);
            }
        }
    }

    pub(super) fn on_tts_error(&mut self, segment: u64, error: &ProviderError, now: Instant) {
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
    pub(super) fn on_stall(&mut self, now: Instant) {
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
            if !self.announce_pending(0, now) {
                self.play_fallback(now);
            }
        }
    }

    /// Abandons the rest of the reply (flushing queued audio) and plays the fallback line.
    pub(super) fn stop_and_fallback(&mut self, now: Instant) {
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
    pub(super) fn on_reply_gap(&mut self, now: Instant) {
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

    pub(super) fn on_playback_started(&mut self, segment: u64, now: Instant) {
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

    pub(super) fn on_playback_finished(&mut self, segment: u64, now: Instant) {
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
    pub(super) fn maybe_complete_reply(&mut self, now: Instant) {
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
            let reason = if reply.kind == ReplyKind::Announcement {
                OPERATOR_HANGUP_REASON
            } else {
                AGENT_HANGUP_REASON
            };
            self.teardown(Some(reason.to_string()), now);
            return;
        }
        // The caller started talking while the agent finished (below the
        // barge-in threshold, or barge-in disabled): give them the floor.
        if self.frames.speech_run_ms >= self.config.min_utterance_ms.max(FRAME_MS) {
            self.open_speech(now);
        }
    }

    /// Records what the caller heard of `reply` in history and the transcript.
    pub(super) fn commit_reply(&mut self, reply: &Reply, now: Instant) {
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
    pub(super) fn cancel_reply(&mut self, now: Instant, reopen: bool) {
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
    pub(super) fn reopen_turn(&mut self, user_messages: usize) {
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
    pub(super) fn teardown(&mut self, hangup_reason: Option<String>, now: Instant) {
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
        self.pending_say = None;
        self.stall_deadline = None;
        self.max_call_deadline = None;
        if let Some(reason) = hangup_reason {
            self.outputs.push_back(Output::HangUp { reason });
        }
        self.ended = true;
    }
}
