//! What an outbound call does with answering-machine detection (AMD): the
//! policy of an agent or a call ([`AmdPolicy`]) and its pure, sans-IO state
//! machine ([`AmdSession`]).
//!
//! From the moment of answer the session feeds the called party's audio to
//! a [`parla_media::amd::AmdDetector`] (the same detector and defaults as
//! `parla amd FILE.wav`) and tells the call what to do, in
//! [`AmdSession::poll_output`] order:
//!
//! - **person** (`human`, or `notsure`, which counts as a person):
//!   [`AmdOutput::ReleaseGreeting`], the agent greets at once. The greeting
//!   is held until the verdict, but never longer than
//!   [`AmdPolicy::max_greeting_hold_ms`] after answer (2.5 s): then it is
//!   released whatever the detector still thinks;
//! - **machine**, [`OnMachine::VoicemailDrop`]: nothing is released, and
//!   [`AmdOutput::PlayVoicemail`] comes when the machine is ready to record:
//!   at the end of its beep, or — no beep — after
//!   [`VOICEMAIL_SILENCE_MS`] of quiet, or once the detector's beep window
//!   ([`AmdConfig::beep_timeout_ms`] of audio, or as long on the wall clock)
//!   is over. Nothing is said over the machine's greeting. When the
//!   message has been played ([`AmdSession::voicemail_played`]):
//!   [`AmdOutput::HangUp`] with [`AmdHangupCause::VoicemailLeft`];
//! - **machine**, [`OnMachine::HangUp`]: [`AmdOutput::HangUp`] with
//!   [`AmdHangupCause::Machine`] at once;
//! - every verdict: [`AmdOutput::Verdict`] for the call record, and again,
//!   with `beep_ms`, if a beep is heard after a machine verdict (the later
//!   one replaces the earlier).
//!
//! A machine verdict can come after the hold timeout released the greeting
//! (the detector decides within 5 s of audio): its outputs still come, and
//! the call must then cut the agent's greeting short — `PlayVoicemail` and
//! `HangUp` supersede `ReleaseGreeting`.
//!
//! Time: `now` is the caller's clock ([`Instant`], virtual in tests); the
//! hold timeout and the wall-clock beep window run on it, from
//! [`AmdSession::on_answer`]. The detector's own times (`decision_ms`,
//! `beep_ms`) are ms of audio since answer. Audio is 16-bit mono PCM at the
//! rate given to [`AmdSession::new`] (8000 or 16000 Hz), in slices of any
//! length; audio pushed before the answer is ignored.
//!
//! Bounded: at most [`MAX_OUTPUTS`] outputs are ever queued (a session emits
//! at most five in its life); the detector is dropped once a person is
//! heard or the voicemail has been cued. Never panics on any input.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use parla_media::amd::{AmdCause, AmdConfig, AmdDetector, AmdError, AmdEvent, AmdVerdict};

/// Default for [`AmdPolicy::max_greeting_hold_ms`]: the 2.5 s.
pub const DEFAULT_MAX_GREETING_HOLD_MS: u32 = 2_500;
/// After a machine verdict with no beep, this much quiet (ms of audio)
/// means the greeting is over and the machine records: the voicemail
/// message starts. Longer than the pauses inside greetings (≤ 0.75 s on
/// the evaluation set), shorter than a caller's patience.
pub const VOICEMAIL_SILENCE_MS: u32 = 1_500;
/// A 20 ms frame whose mean absolute sample value (16-bit scale) is below
/// this is quiet for [`VOICEMAIL_SILENCE_MS`] (200 ≈ −44 dBFS for a sine;
/// line noise above it delays the cue to the end of the beep window).
pub const QUIET_MEAN_ABS: u32 = 200;
/// Outputs waiting for [`AmdSession::poll_output`] (a session emits at
/// most five: release, verdict, verdict with beep, voicemail, hang-up).
pub const MAX_OUTPUTS: usize = 8;
/// Frame length of the quiet measure, ms.
const FRAME_MS: u32 = 20;

/// What to do when a machine answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OnMachine {
    /// Wait for the beep (or the end of the greeting), say `message`
    /// (text for the agent's TTS), then hang up.
    VoicemailDrop { message: String },
    /// Hang up at once.
    HangUp,
}

/// AMD settings of an agent or of one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AmdPolicy {
    /// Whether to detect at all. Off: the greeting is released at answer
    /// and no verdict is made.
    pub enabled: bool,
    /// What a machine gets.
    pub on_machine: OnMachine,
    /// Longest hold of the agent's greeting after answer while the verdict
    /// is pending, ms ([`DEFAULT_MAX_GREETING_HOLD_MS`]).
    pub max_greeting_hold_ms: u32,
}

impl Default for AmdPolicy {
    /// Off, hang up on machines, 2.5 s hold.
    fn default() -> Self {
        AmdPolicy {
            enabled: false,
            on_machine: OnMachine::HangUp,
            max_greeting_hold_ms: DEFAULT_MAX_GREETING_HOLD_MS,
        }
    }
}

/// Why the greeting was released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseReason {
    /// AMD is off for this call.
    Disabled,
    /// A `human` verdict.
    Human,
    /// A `notsure` verdict (treated as a person).
    NotSure,
    /// No verdict within [`AmdPolicy::max_greeting_hold_ms`].
    HoldTimeout,
}

/// What told the session the machine is ready to record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoicemailCue {
    /// The beep began at `beep_ms` and ended at `end_ms` (ms of audio
    /// since answer).
    Beep { beep_ms: u64, end_ms: u64 },
    /// No beep, then [`VOICEMAIL_SILENCE_MS`] of quiet ending at `at_ms`
    /// (ms of audio since answer).
    Silence { at_ms: u64 },
    /// Neither a beep nor quiet within the detector's beep window.
    BeepWindowOver,
}

/// Why the session asks to hang up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AmdHangupCause {
    /// A machine answered and the policy is [`OnMachine::HangUp`].
    Machine,
    /// The voicemail message has been played.
    VoicemailLeft,
}

impl AmdHangupCause {
    /// `amd_machine` or `amd_voicemail_left`, for the call record.
    pub fn as_str(self) -> &'static str {
        match self {
            AmdHangupCause::Machine => "amd_machine",
            AmdHangupCause::VoicemailLeft => "amd_voicemail_left",
        }
    }
}

/// What the call must do now; see the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AmdOutput {
    /// Let the agent speak its greeting now.
    ReleaseGreeting { reason: ReleaseReason },
    /// Say the voicemail message now (the machine records).
    PlayVoicemail { message: String, cue: VoicemailCue },
    /// End the call (BYE).
    HangUp { cause: AmdHangupCause },
    /// The verdict for the call record: `decision_ms` and `beep_ms` in ms
    /// of audio since answer, `cause` in Asterisk's `AMDCAUSE` form when
    /// displayed (e.g. `LONGGREETING-1500-1500`).
    Verdict {
        outcome: AmdVerdict,
        decision_ms: u64,
        cause: AmdCause,
        beep_ms: Option<u64>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Before [`AmdSession::on_answer`].
    Ringing,
    /// Detecting; the greeting is held unless `released`.
    Listening,
    /// Machine, voicemail drop: waiting for the beep or the quiet.
    AwaitingCue,
    /// The voicemail message is being played.
    Playing,
    /// Nothing more will happen.
    Done,
}

/// The AMD state machine of one call; see the [module docs](self).
pub struct AmdSession {
    policy: AmdPolicy,
    config: AmdConfig,
    rate: u32,
    detector: Option<AmdDetector>,
    phase: Phase,
    answered_at: Option<Instant>,
    released: bool,
    /// Audio since answer, ms (whole frames of the quiet measure).
    audio_ms: u64,
    frame_len: u32,
    frame_fill: u32,
    frame_abs_sum: u64,
    quiet_ms: u32,
    outputs: VecDeque<AmdOutput>,
}

impl AmdSession {
    /// A session for audio at `sample_rate_hz` (8000 or 16000) with the
    /// live defaults [`AmdConfig::default`].
    ///
    /// Errors: [`AmdError::UnsupportedRate`].
    pub fn new(policy: AmdPolicy, sample_rate_hz: u32) -> Result<Self, AmdError> {
        Self::with_config(policy, AmdConfig::default(), sample_rate_hz)
    }

    /// [`new`](Self::new) with another detector configuration.
    ///
    /// Errors: [`AmdError::UnsupportedRate`].
    pub fn with_config(
        policy: AmdPolicy,
        config: AmdConfig,
        sample_rate_hz: u32,
    ) -> Result<Self, AmdError> {
        // Checks the rate now, and allocates the detector (its VAD model)
        // before the call is answered.
        let detector = if policy.enabled {
            Some(AmdDetector::new(config, sample_rate_hz)?)
        } else if sample_rate_hz != 8_000 && sample_rate_hz != 16_000 {
            return Err(AmdError::UnsupportedRate(sample_rate_hz));
        } else {
            None
        };
        Ok(AmdSession {
            policy,
            config,
            rate: sample_rate_hz,
            detector,
            phase: Phase::Ringing,
            answered_at: None,
            released: false,
            audio_ms: 0,
            frame_len: sample_rate_hz * FRAME_MS / 1000,
            frame_fill: 0,
            frame_abs_sum: 0,
            quiet_ms: 0,
            outputs: VecDeque::with_capacity(MAX_OUTPUTS),
        })
    }

    /// The call was answered at `now`: detection starts (or, AMD off, the
    /// greeting is released at once). Later calls are ignored.
    pub fn on_answer(&mut self, now: Instant) {
        if self.phase != Phase::Ringing {
            return;
        }
        self.answered_at = Some(now);
        if self.policy.enabled {
            self.phase = Phase::Listening;
        } else {
            self.release(ReleaseReason::Disabled);
            self.phase = Phase::Done;
        }
    }

    /// Called-party audio received at `now` (mono PCM at the session's
    /// rate, any length).
    pub fn push_audio(&mut self, now: Instant, pcm: &[i16]) {
        if !matches!(self.phase, Phase::Listening | Phase::AwaitingCue) {
            return;
        }
        // Whole 20 ms frames at a time, so that a cue lands on its frame.
        let mut rest = pcm;
        while !rest.is_empty() && matches!(self.phase, Phase::Listening | Phase::AwaitingCue) {
            let take = ((self.frame_len - self.frame_fill) as usize).min(rest.len());
            let (chunk, tail) = rest.split_at(take);
            rest = tail;
            if let Some(d) = self.detector.as_mut() {
                d.push_pcm(chunk);
            }
            self.frame_abs_sum += chunk
                .iter()
                .map(|s| u64::from(s.unsigned_abs()))
                .sum::<u64>();
            self.frame_fill += take as u32;
            if self.frame_fill == self.frame_len {
                let quiet = self.frame_abs_sum < u64::from(QUIET_MEAN_ABS * self.frame_len);
                self.frame_fill = 0;
                self.frame_abs_sum = 0;
                self.audio_ms += u64::from(FRAME_MS);
                self.quiet_ms = if quiet { self.quiet_ms + FRAME_MS } else { 0 };
                self.drain_detector();
                self.check_quiet_cue();
            }
        }
        self.handle_timeout(now);
    }

    /// Advances the caller's clock: the hold timeout and the wall-clock
    /// beep window. Call it at [`poll_timeout`](Self::poll_timeout).
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(answered) = self.answered_at else {
            return;
        };
        let since = now.saturating_duration_since(answered);
        if self.phase == Phase::Listening
            && !self.released
            && since >= ms(self.policy.max_greeting_hold_ms)
        {
            self.release(ReleaseReason::HoldTimeout);
        }
        if self.phase == Phase::AwaitingCue && since >= ms(self.config.beep_timeout_ms) {
            self.play_voicemail(VoicemailCue::BeepWindowOver);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has work, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let answered = self.answered_at?;
        match self.phase {
            Phase::Listening if !self.released => {
                Some(answered + ms(self.policy.max_greeting_hold_ms))
            }
            Phase::AwaitingCue => Some(answered + ms(self.config.beep_timeout_ms)),
            _ => None,
        }
    }

    /// The voicemail message has been played: hang up.
    pub fn voicemail_played(&mut self, _now: Instant) {
        if self.phase == Phase::Playing {
            self.push(AmdOutput::HangUp {
                cause: AmdHangupCause::VoicemailLeft,
            });
            self.phase = Phase::Done;
        }
    }

    /// The call ended (the far end hung up, media stopped): a verdict
    /// still pending becomes `notsure` (`ENDOFAUDIO-<ms>`) for the call
    /// record. Nothing else is asked for.
    pub fn finish(&mut self, _now: Instant) {
        if self.phase == Phase::Listening {
            if let Some(d) = self.detector.as_mut() {
                let o = d.finish();
                self.push(AmdOutput::Verdict {
                    outcome: o.verdict,
                    decision_ms: o.decision_ms,
                    cause: o.cause,
                    beep_ms: o.beep_ms,
                });
            }
        }
        self.detector = None;
        self.phase = Phase::Done;
    }

    /// The next output, oldest first.
    pub fn poll_output(&mut self) -> Option<AmdOutput> {
        self.outputs.pop_front()
    }

    /// Whether the greeting has been released.
    pub fn greeting_released(&self) -> bool {
        self.released
    }

    /// Whether nothing more will be asked of the call (it may still need
    /// [`voicemail_played`](Self::voicemail_played) before this).
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// The sample rate the session expects, Hz.
    pub fn sample_rate_hz(&self) -> u32 {
        self.rate
    }

    fn drain_detector(&mut self) {
        while let Some(event) = self.detector.as_mut().and_then(AmdDetector::poll_event) {
            match event {
                AmdEvent::Verdict {
                    verdict,
                    cause,
                    at_ms,
                } => self.on_verdict(verdict, cause, at_ms),
                AmdEvent::Beep { at_ms, end_ms, .. } => self.on_beep(at_ms, end_ms),
            }
            if !matches!(self.phase, Phase::Listening | Phase::AwaitingCue) {
                break;
            }
        }
    }

    fn on_verdict(&mut self, verdict: AmdVerdict, cause: AmdCause, at_ms: u64) {
        if self.phase != Phase::Listening {
            return;
        }
        self.push(AmdOutput::Verdict {
            outcome: verdict,
            decision_ms: at_ms,
            cause,
            beep_ms: None,
        });
        match verdict {
            AmdVerdict::Human | AmdVerdict::NotSure => {
                let reason = if verdict == AmdVerdict::Human {
                    ReleaseReason::Human
                } else {
                    ReleaseReason::NotSure
                };
                self.release(reason);
                self.detector = None;
                self.phase = Phase::Done;
            }
            AmdVerdict::Machine => match self.policy.on_machine {
                OnMachine::HangUp => {
                    self.push(AmdOutput::HangUp {
                        cause: AmdHangupCause::Machine,
                    });
                    self.detector = None;
                    self.phase = Phase::Done;
                }
                OnMachine::VoicemailDrop { .. } => {
                    // The greeting's own quiet before the verdict is no cue.
                    self.quiet_ms = 0;
                    self.phase = Phase::AwaitingCue;
                }
            },
        }
    }

    fn on_beep(&mut self, at_ms: u64, end_ms: u64) {
        if self.phase != Phase::AwaitingCue {
            return;
        }
        let decided = self.detector.as_ref().and_then(AmdDetector::outcome);
        if let Some(o) = decided {
            self.push(AmdOutput::Verdict {
                outcome: o.verdict,
                decision_ms: o.decision_ms,
                cause: o.cause,
                beep_ms: Some(at_ms),
            });
        }
        self.play_voicemail(VoicemailCue::Beep {
            beep_ms: at_ms,
            end_ms,
        });
    }

    fn check_quiet_cue(&mut self) {
        if self.phase != Phase::AwaitingCue {
            return;
        }
        // A beep still sounding is not quiet, and ends with its own cue.
        if self.quiet_ms >= VOICEMAIL_SILENCE_MS {
            self.play_voicemail(VoicemailCue::Silence {
                at_ms: self.audio_ms,
            });
        } else if self.audio_ms > u64::from(self.config.beep_timeout_ms) {
            self.play_voicemail(VoicemailCue::BeepWindowOver);
        }
    }

    fn play_voicemail(&mut self, cue: VoicemailCue) {
        let OnMachine::VoicemailDrop { message } = &self.policy.on_machine else {
            return;
        };
        let message = message.clone();
        self.push(AmdOutput::PlayVoicemail { message, cue });
        self.detector = None;
        self.phase = Phase::Playing;
    }

    fn release(&mut self, reason: ReleaseReason) {
        if !self.released {
            self.released = true;
            self.push(AmdOutput::ReleaseGreeting { reason });
        }
    }

    fn push(&mut self, output: AmdOutput) {
        // Cannot fill up: a session emits at most five outputs.
        if self.outputs.len() < MAX_OUTPUTS {
            self.outputs.push_back(output);
        }
    }
}

fn ms(v: u32) -> Duration {
    Duration::from_millis(u64::from(v))
}

#[cfg(test)]
mod tests;
