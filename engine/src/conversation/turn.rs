//! The caller's turn being collected: open utterance, outstanding STT finals,
//! transcribed text and keyed digits.

use std::collections::VecDeque;
use std::time::Instant;

use super::latency::TurnTiming;

#[derive(Debug, Default)]
pub(super) struct UserTurn {
    /// Caller audio is being forwarded to STT and the utterance has not ended yet.
    pub speech_open: bool,
    /// When the open utterance began (first speech frame of the burst).
    pub utterance_started_at: Option<Instant>,
    /// End-of-turn decided; replying as soon as the outstanding finals arrive.
    pub awaiting: bool,
    /// One entry per SttEndOfUtterance still without its SttFinal: when that utterance began.
    pub pending_finals: VecDeque<Instant>,
    /// Finals still to come for an abandoned turn; they are transcribed but not answered.
    pub discard_finals: u32,
    /// Transcribed text so far (finals joined by spaces).
    pub text: String,
    /// Digits of closed DTMF bursts.
    pub dtmf: String,
    /// Digits of the burst being keyed.
    pub dtmf_burst: String,
    /// When the burst's first digit was pressed.
    pub dtmf_started_at: Option<Instant>,
    /// Inter-digit deadline of the burst being keyed.
    pub dtmf_deadline: Option<Instant>,
    pub timing: TurnTiming,
}

impl UserTurn {
    pub fn append_text(&mut self, text: &str) {
        if !self.text.is_empty() {
            self.text.push(' ');
        }
        self.text.push_str(text);
    }

    pub fn keying(&self) -> bool {
        self.dtmf_deadline.is_some()
    }

    /// The caller is in the middle of a turn that STT is involved in.
    pub fn uses_stt(&self) -> bool {
        self.speech_open || !self.pending_finals.is_empty()
    }

    /// Forgets everything about the turn except finals still owed by STT for
    /// earlier, abandoned turns.
    pub fn clear(&mut self) {
        let discard = self.discard_finals;
        *self = Self {
            discard_finals: discard,
            ..Self::default()
        };
    }
}
