//! The virtual-clock driver of the conversation tests: an `Instant` base
//! plus ms offsets, and helpers to build expected outputs.

use std::time::{Duration, Instant};

use super::*;
use crate::providers::{ChatMessage, ProviderError, Role};

pub(super) const SYSTEM: &str = "You are Parla, a friendly receptionist.";
pub(super) const FALLBACK: &str = "Sorry, I'm having trouble right now. Could you say that again?";

pub(super) fn config() -> ConversationConfig {
    ConversationConfig {
        system_prompt: SYSTEM.into(),
        response_timeout_ms: 1500,
        ..ConversationConfig::default()
    }
}

/// A conversation driven on a virtual clock.
pub(super) struct Sim {
    pub(super) conv: Conversation,
    pub(super) t0: Instant,
    /// Every output so far, for coverage.
    pub(super) all: Vec<Output>,
}

impl Sim {
    pub(super) fn new(config: ConversationConfig) -> Self {
        let t0 = Instant::now();
        Self {
            conv: Conversation::new(config, t0),
            t0,
            all: Vec::new(),
        }
    }

    pub(super) fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    pub(super) fn drain(&mut self) -> Vec<Output> {
        let out: Vec<Output> = std::iter::from_fn(|| self.conv.poll_output()).collect();
        self.conv.check_invariants().unwrap();
        self.all.extend(out.iter().cloned());
        out
    }

    pub(super) fn input(&mut self, ms: u64, input: Input) -> Vec<Output> {
        self.conv.handle_input(input, self.at(ms));
        self.drain()
    }

    /// One frame every 20 ms at `from..=to`.
    pub(super) fn frames(&mut self, from: u64, to: u64, speech: bool) -> Vec<Output> {
        let mut out = Vec::new();
        for ms in (from..=to).step_by(20) {
            out.extend(self.input(ms, Input::CallerFrame { speech }));
        }
        out
    }

    /// Fires timers as a driver would, up to and including `ms`.
    pub(super) fn advance(&mut self, ms: u64) -> Vec<Output> {
        let end = self.at(ms);
        while let Some(t) = self.conv.poll_timeout().filter(|&t| t <= end) {
            self.conv.handle_timeout(t);
        }
        self.conv.handle_timeout(end);
        self.drain()
    }

    /// The caller speaks 1000..=1980 and pauses; end of turn at 2480.
    pub(super) fn caller_turn(&mut self) {
        assert_eq!(
            self.frames(1000, 1980, true),
            vec![Output::SttForward(true)]
        );
        assert_eq!(self.conv.state(), State::UserSpeaking);
        assert_eq!(self.frames(2000, 2460, false), vec![]);
        assert_eq!(self.conv.state(), State::Endpointing);
        assert_eq!(
            self.frames(2480, 2480, false),
            vec![Output::SttEndOfUtterance, Output::SttForward(false)]
        );
        assert_eq!(self.conv.state(), State::Thinking);
    }

    /// [`Self::caller_turn`] then its transcript at 2700; returns the LLM request id.
    pub(super) fn caller_asks(&mut self, text: &str) -> u64 {
        self.caller_turn();
        let out = self.input(2700, Input::SttFinal(text.into()));
        assert_eq!(
            out[0],
            Output::Transcript {
                speaker: Role::User,
                text: text.into(),
                at_ms: 1000,
                interrupted: false
            }
        );
        match &out[1..] {
            [Output::StartLlm {
                request,
                request_body,
            }] => {
                assert_eq!(request_body.messages.last(), Some(&ChatMessage::user(text)));
                *request
            }
            other => panic!("expected StartLlm, got {other:?}"),
        }
    }
}

pub(super) fn speak(segment: u64, text: &str) -> Output {
    Output::Speak {
        segment,
        text: text.into(),
    }
}

pub(super) fn assistant(text: &str, at_ms: u64, interrupted: bool) -> Output {
    Output::Transcript {
        speaker: Role::Assistant,
        text: text.into(),
        at_ms,
        interrupted,
    }
}

pub(super) fn err() -> ProviderError {
    ProviderError::Connect("boom".into())
}
