//! The externally visible phase of a call's turn-taking.

use std::fmt;

/// Where the conversation stands. Derived from the core's bookkeeping after
/// every input, so it can never disagree with it.
///
/// Barge-in is a transition, not a resting state: an interrupted agent goes
/// straight from [`State::AgentSpeaking`] to [`State::UserSpeaking`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Nobody has the floor; waiting for the caller.
    Listening,
    /// The caller is speaking (a burst still shorter than `min_utterance_ms` is
    /// reported too, though it may turn out to be noise).
    UserSpeaking,
    /// The caller paused (or is keying DTMF digits): waiting to decide whether
    /// their turn has ended.
    Endpointing,
    /// The caller's turn ended; waiting for the STT final and/or the model's
    /// first words. The caller hears nothing yet.
    Thinking,
    /// Agent audio is queued or playing, or a reply that has started playing is
    /// still being generated.
    AgentSpeaking,
    /// The call is over; every input is ignored.
    Ended,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Listening => "listening",
            State::UserSpeaking => "user_speaking",
            State::Endpointing => "endpointing",
            State::Thinking => "thinking",
            State::AgentSpeaking => "agent_speaking",
            State::Ended => "ended",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
