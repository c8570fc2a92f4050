//! The caller's side of the turn-taking core: answering, VAD frames,
//! utterances, transcripts and DTMF (see the module docs of [`crate::conversation`]).

use std::time::{Duration, Instant};

use super::config::{DTMF_INTER_DIGIT_MS, FRAME_MS};
use super::core::{after, Conversation, MAX_DTMF_DIGITS};
use super::events::Output;
use super::latency::TurnTiming;
use super::reply::{Reply, ReplyKind};
use crate::providers::{ChatMessage, LlmRequest, ProviderError, Role};

impl Conversation {
    pub(super) fn on_answered(&mut self, now: Instant) {
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

    pub(super) fn on_frame(&mut self, speech: bool, now: Instant) {
        self.frames.push(speech, now);
        let run = self.frames.speech_run_ms;
        if let Some(reply) = &self.reply {
            if !speech || self.final_line_playing() {
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
    pub(super) fn open_speech(&mut self, now: Instant) {
        self.turn.speech_open = true;
        let onset_ago = Duration::from_millis(u64::from(
            self.frames.speech_run_ms.saturating_sub(FRAME_MS),
        ));
        self.turn.utterance_started_at = Some(now.checked_sub(onset_ago).unwrap_or(now));
        self.turn.timing.last_speech_at = Some(now);
        self.set_forward(true);
    }

    /// End of the caller's utterance: ask STT for its final.
    pub(super) fn end_speech(&mut self, now: Instant) {
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
    pub(super) fn turn_ended(&mut self, now: Instant) {
        if self.turn.speech_open || self.turn.keying() {
            return;
        }
        self.turn.awaiting = true;
        self.stall_deadline = after(now, self.config.response_timeout_ms);
        self.try_complete_turn(now);
    }

    /// Commits the finished turn to history and asks the model for a reply.
    pub(super) fn try_complete_turn(&mut self, now: Instant) {
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
            if !self.announce_pending(0, now) {
                tracing::debug!("nothing intelligible was said; not replying");
                self.stall_deadline = None;
            }
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
        // An operator line waited for this turn: it is the answer.
        if self.announce_pending(user_messages, now) {
            return;
        }
        let request = self.next_request;
        self.next_request += 1;
        timing.llm_started_at = Some(now);
        let request_body = LlmRequest {
            messages: self.history.clone(),
            tools: self.tools.specs(),
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

    pub(super) fn on_final(&mut self, text: &str, now: Instant) {
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

    pub(super) fn on_stt_error(&mut self, error: &ProviderError, now: Instant) {
        tracing::warn!(%error, "stt failed");
        let in_turn = self.turn.uses_stt();
        self.turn.discard_finals = 0; // the failed session owes nothing more
        if in_turn {
            self.abandon_turn(false);
            if !self.announce_pending(0, now) {
                self.play_fallback(now);
            }
        }
    }

    /// Gives up on the caller's current turn (it will be answered with the fallback).
    pub(super) fn abandon_turn(&mut self, finals_still_coming: bool) {
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

    pub(super) fn on_dtmf(&mut self, digit: char, now: Instant) {
        let digit = digit.to_ascii_uppercase();
        if !matches!(digit, '0'..='9' | '*' | '#' | 'A'..='D') {
            return;
        }
        if self.final_line_playing() {
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

    pub(super) fn close_dtmf(&mut self, now: Instant) {
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
}
