//! Reaching a running call from outside: commands in ([`CallControl`]) and
//! events out ([`LiveEvent`]).
//!
//! When a call's actor starts it hands a [`CallControl`] to the call's
//! [`CallLifecycle`](super::CallLifecycle) (`control`), and reports every
//! [`LiveEvent`] to it (`event`) until `ended`. Whoever keeps the registry of
//! live calls (the `parla` binary, per tenant) holds the controls.

use tokio::sync::mpsc;

use super::lifecycle::TranscriptLine;
use crate::conversation::{AfterSay, State, TurnLatency};

/// Commands waiting for a call's actor, at most; more get [`CommandError::Busy`].
pub const CALL_COMMAND_QUEUE: usize = 8;

/// Longest line a [`CallCommand::Say`] may carry, in characters.
pub const MAX_SAY_CHARS: usize = 1_000;

/// A command into a running call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallCommand {
    /// Hang up now (BYE); the record's cause is `operator_hangup`.
    HangUp,
    /// The agent says `text` (at most [`MAX_SAY_CHARS`] characters), then
    /// hangs up or goes on (see [`crate::conversation::Input::Say`] for how
    /// the line shares the floor).
    Say { text: String, then: AfterSay },
}

/// Why a command was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The call has ended.
    #[error("the call has ended")]
    Ended,
    /// [`CALL_COMMAND_QUEUE`] commands are already waiting.
    #[error("too many commands waiting for this call")]
    Busy,
    /// The line is longer than [`MAX_SAY_CHARS`].
    #[error("the line is longer than {MAX_SAY_CHARS} characters")]
    TooLong,
}

/// Something that happened in a running call, reported as it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveEvent {
    /// The conversation moved to `State` (listening, user speaking, …).
    State(State),
    /// A final line of the transcript: a caller utterance once STT
    /// finalized it, an agent reply once it finished playing or was cut off.
    Transcript(TranscriptLine),
    /// The latency of one agent turn, when its first audio played.
    Latency(TurnLatency),
}

/// Sends [`CallCommand`]s to one running call. Cheap to clone; never waits.
#[derive(Debug, Clone)]
pub struct CallControl {
    tx: mpsc::Sender<CallCommand>,
}

impl CallControl {
    /// A control and the receiving end its call's actor reads.
    pub fn channel() -> (CallControl, mpsc::Receiver<CallCommand>) {
        let (tx, rx) = mpsc::channel(CALL_COMMAND_QUEUE);
        (CallControl { tx }, rx)
    }

    /// Queues `command`. Errors: [`CommandError::TooLong`],
    /// [`CommandError::Busy`], [`CommandError::Ended`].
    pub fn send(&self, command: CallCommand) -> Result<(), CommandError> {
        if let CallCommand::Say { text, .. } = &command {
            if text.chars().count() > MAX_SAY_CHARS {
                return Err(CommandError::TooLong);
            }
        }
        self.tx.try_send(command).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => CommandError::Busy,
            mpsc::error::TrySendError::Closed(_) => CommandError::Ended,
        })
    }

    /// Whether the call has ended (its actor dropped the receiver).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_bounded_and_fail_once_the_call_ended() {
        let (control, rx) = CallControl::channel();
        let long = CallCommand::Say {
            text: "a".repeat(MAX_SAY_CHARS + 1),
            then: AfterSay::Continue,
        };
        assert_eq!(control.send(long), Err(CommandError::TooLong));
        for _ in 0..CALL_COMMAND_QUEUE {
            control.send(CallCommand::HangUp).unwrap();
        }
        assert_eq!(control.send(CallCommand::HangUp), Err(CommandError::Busy));
        drop(rx);
        assert!(control.is_closed());
        assert_eq!(control.send(CallCommand::HangUp), Err(CommandError::Ended));
    }
}
