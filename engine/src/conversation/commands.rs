//! What comes into a call from outside the conversation: the operator's
//! commands ([`Input::Say`](super::Input::Say), `HangUpNow` is a plain
//! teardown) and the model's tool calls (through the [`ToolDispatcher`](super::ToolDispatcher)).

use std::time::Instant;

use super::config::MAX_PENDING_SAY_CHARS;
use super::core::Conversation;
use super::events::AfterSay;
use super::latency::TurnTiming;
use super::reply::{Reply, ReplyKind};
use super::tools::ToolOutcome;

impl Conversation {
    /// A tool call of the current request, run through the dispatcher.
    pub(super) fn on_tool_call(&mut self, request: u64, name: &str, arguments: &str) {
        if !self.is_current(request) {
            return;
        }
        match self.tools.dispatch(name, arguments) {
            Ok(ToolOutcome::EndCall) => self.mark_end_call(),
            Ok(ToolOutcome::Continue) => {}
            Err(error) => tracing::warn!(%error, "ignoring a tool call"),
        }
    }

    /// The operator's line (see [`Input::Say`](super::Input::Say)).
    pub(super) fn on_say(&mut self, text: &str, then: AfterSay, now: Instant) {
        let text: String = text.trim().chars().take(MAX_PENDING_SAY_CHARS).collect();
        if self.caller_holds_floor() {
            let (pending, after) = self
                .pending_say
                .get_or_insert_with(|| (String::new(), AfterSay::Continue));
            let room = MAX_PENDING_SAY_CHARS.saturating_sub(pending.chars().count());
            if !text.is_empty() && room > 1 {
                if !pending.is_empty() {
                    pending.push(' ');
                }
                pending.extend(text.chars().take(room - 1));
            }
            if then == AfterSay::HangUp {
                *after = AfterSay::HangUp;
            }
            return;
        }
        self.announce(text, then, 0, now);
    }

    /// The caller is in the middle of a turn no reply answers yet.
    fn caller_holds_floor(&self) -> bool {
        self.reply.is_none()
            && (self.turn.speech_open
                || self.turn.keying()
                || self.turn.awaiting
                || !self.turn.pending_finals.is_empty())
    }

    /// Speaks the operator lines that waited for the caller's turn to end,
    /// as the answer to that turn (`user_messages` of it are in history).
    /// Returns false (doing nothing) when none are waiting.
    pub(super) fn announce_pending(&mut self, user_messages: usize, now: Instant) -> bool {
        let Some((text, then)) = self.pending_say.take() else {
            return false;
        };
        self.stall_deadline = None;
        self.announce(text, then, user_messages, now);
        true
    }

    /// Speaks `text` now: added to an operator line already playing, else
    /// cutting whatever reply is in flight.
    fn announce(&mut self, text: String, then: AfterSay, user_messages: usize, now: Instant) {
        let end_call = then == AfterSay::HangUp;
        if let Some(reply) = self
            .reply
            .as_mut()
            .filter(|r| r.kind == ReplyKind::Announcement)
        {
            reply.end_call |= end_call;
            let mut chunks = reply.chunker.push(&text);
            chunks.extend(reply.chunker.flush());
            for chunk in chunks {
                self.speak(chunk, now);
            }
            self.maybe_complete_reply(now);
            return;
        }
        self.cancel_reply(now, false);
        let mut reply = Reply::new(
            ReplyKind::Announcement,
            None,
            user_messages,
            TurnTiming::default(),
        );
        reply.end_call = end_call;
        let mut chunks = reply.chunker.push(&text);
        chunks.extend(reply.chunker.flush());
        self.reply = Some(reply);
        self.stall_deadline = None;
        for chunk in chunks {
            self.speak(chunk, now);
        }
        // Nothing to say (an empty line): hangs up now, or leaves the floor.
        self.maybe_complete_reply(now);
    }

    /// An operator line after which the call ends is playing: nothing the
    /// caller does interrupts it.
    pub(super) fn final_line_playing(&self) -> bool {
        self.reply
            .as_ref()
            .is_some_and(|r| r.kind == ReplyKind::Announcement && r.end_call)
    }
}
