//! Answering-machine detection (AMD): a pure streaming detector fed with the
//! called party's audio from the moment of answer.
//!
//! [`AmdDetector`] takes 8 or 16 kHz mono PCM in any slice lengths (time is
//! the audio fed: 20 ms of samples = 20 ms), optionally interim transcripts,
//! and decides [`AmdVerdict::Human`], [`AmdVerdict::Machine`] or
//! [`AmdVerdict::NotSure`] as soon as the evidence allows, with an
//! [`AmdCause`]. After a machine (or not-sure) verdict it keeps listening for
//! the voicemail beep, so an agent knows when to start its message.
//!
//! Evidence, in the order it usually arrives:
//!
//! 1. the speech/silence pattern of the first seconds, read as Asterisk's
//!    `app_amd` reads it (initial silence, greeting length, word count,
//!    silence after the greeting, total analysis time; `features.rs`), with
//!    a neural VAD deciding which frames are voiced (`voicing.rs`, which
//!    explains the choice);
//! 2. a beep: a single tone of ≥ 150 ms between 400 and 2,100 Hz
//!    ([`beep`]) — a machine, whatever the pattern said so far;
//! 3. optionally, voicemail phrases in the interim transcript
//!    ([`transcript`], via [`AmdDetector::push_transcript`]).
//!
//! The first verdict is final. Its accuracy and timing on the evaluation
//! set (`tools/amd-eval`, `cargo run --release -p parla-media --example
//! amd_eval`) are in the README, section "Answering-machine detection".
//!
//! [`AmdOutcome::to_line`] is the one-line summary of the offline tool
//! (`human|machine|notsure DECISION_MS CAUSE [BEEP_MS]`), and
//! [`analyze_wav`] the whole offline analysis of a WAV file, with the same
//! code and defaults as a live call.
//!
//! Pure and synchronous: no I/O, no clocks, no threads. Allocations happen
//! in [`AmdDetector::new`] only (the VAD model, a resampling buffer, the
//! transcript scratch buffer, which grows to at most 4 KiB); never panics on
//! any input.

pub mod beep;
mod features;
mod offline;
pub mod transcript;
mod voicing;

#[cfg(test)]
mod tests;

use std::fmt;

pub use offline::{analyze_pcm, analyze_wav};

use crate::{FRAME_MS, NARROWBAND_HZ, WIDEBAND_HZ};
use beep::{Beep, BeepDetector};
use features::Features;
use voicing::Voicing;

/// Tunables, in ms unless said otherwise. Names follow Asterisk's
/// `app_amd` (`amd.conf`); the pattern defaults are Asterisk's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AmdConfig {
    /// `initialSilence`: silence before any word after which the answer is
    /// a machine (2500; Asterisk 2500).
    pub initial_silence_ms: u32,
    /// `greeting`: voice in total after which the greeting is too long for
    /// a person (1500; Asterisk 1500).
    pub greeting_ms: u32,
    /// `afterGreetingSilence`: silence after the first word after which the
    /// answer is a person waiting for a reply (800; Asterisk 800). The human
    /// decision time is the answer's start plus its length plus this (or
    /// the shorter `short_answer_silence_ms`, below). 450 for every answer
    /// would bring the evaluation set's human p90 from 2.84 to 2.5 s but
    /// calls a machine greeting with a 0.7 s pause after its first sentence
    /// ("Hi, this is John. … I can't come to the phone") human.
    pub after_greeting_silence_ms: u32,
    /// Not in Asterisk. A greeting of at most this many words is a *short
    /// answer* (2: "Hello?", "Hello, who is this?"; 0 turns the rule off).
    /// See `short_answer_after_ms`.
    pub short_answer_max_words: u32,
    /// Not in Asterisk. Silence after a short answer that makes a person
    /// once `short_answer_after_ms` have passed (300; never more than
    /// `after_greeting_silence_ms`).
    pub short_answer_silence_ms: u32,
    /// Not in Asterisk. From this many ms after answer on (2200), a short
    /// answer followed by `short_answer_silence_ms` of silence is a person,
    /// without waiting for the full `after_greeting_silence_ms`: a caller
    /// who answered late or slowly ("Hello, who is this?" at 1.4 s) is
    /// told from a machine by 2.5 s. Earlier, the full silence is needed:
    /// machine greetings pause 0.3–0.4 s after a first "Hello." or "Hi!"
    /// (evaluation set: pauses end by 1.9 s). On the evaluation set,
    /// human p90 2840 → 2440 ms with the same 72/75 correct; any of
    /// 2000–2400 ms with 200–300 ms of silence gives that accuracy, while
    /// 1900 ms or no time floor calls one to five more machines human.
    pub short_answer_after_ms: u32,
    /// `totalAnalysisTime`: give up (not sure) after this much audio
    /// (5000; Asterisk 5000).
    pub total_analysis_time_ms: u32,
    /// `minimumWordLength`: voice shorter than this is no word (100;
    /// Asterisk 100).
    pub minimum_word_length_ms: u32,
    /// `betweenWordsSilence`: silence that ends a word (50; Asterisk 50).
    pub between_words_silence_ms: u32,
    /// `maximumNumberOfWords`: more words than this is a machine (3, so the
    /// fourth word decides). Asterisk ≥ 13 has 2 with the same "more than"
    /// test and 1.4–11 had 3 with "at least": both decide on the third word.
    /// Three phrases are a person's answer too ("Hello, yes, who is
    /// this?"), and with the noise floor (see `voicing.rs`) a weak
    /// consonant in noise can split a phrase; greetings are caught by
    /// `greeting_ms` anyway. Evaluation set: 2 → 69/75 correct (three
    /// more humans called machines), 3 → 72/75, 4 → 72/75 with later
    /// machine verdicts.
    pub maximum_number_of_words: u32,
    /// `silenceThreshold`: mean absolute sample value (16-bit scale) below
    /// which a 20 ms frame is silent whatever else says voice (64 ≈ −52
    /// dBFS for speech; Asterisk 256 ≈ −42 dBFS, its only voicing test).
    /// Lower than Asterisk's because the VAD and the noise floor decide;
    /// this only keeps near-silent frames out. Evaluation set: 0 → 71/75,
    /// 64 → 72/75, 128 → 71/75, 256 → 70/75 (quiet talkers cut into extra
    /// words).
    pub silence_threshold: u32,
    /// `maximumWordLength`: uninterrupted voice of this length is a machine
    /// (5000; Asterisk 5000).
    pub maximum_word_length_ms: u32,
    /// earshot speech probability threshold, 0..=1 (0.5, its documented
    /// default; see [`crate::vad`]).
    pub vad_threshold: f32,
    /// Shortest tone that is a beep (150, the figure; see [`beep`]).
    pub beep_min_ms: u32,
    /// Listening for the beep stops this long after answer (30000: long
    /// greetings plus their beep fit; 0 turns beep detection off).
    pub beep_timeout_ms: u32,
    /// Normalised phrases that make an interim transcript a machine's
    /// ([`transcript::DEFAULT_MACHINE_PHRASES`]; empty: transcripts are
    /// ignored).
    pub transcript_phrases: &'static [&'static str],
}

impl Default for AmdConfig {
    fn default() -> Self {
        AmdConfig {
            initial_silence_ms: 2500,
            greeting_ms: 1500,
            after_greeting_silence_ms: 800,
            short_answer_max_words: 2,
            short_answer_silence_ms: 300,
            short_answer_after_ms: 2200,
            total_analysis_time_ms: 5000,
            minimum_word_length_ms: 100,
            between_words_silence_ms: 50,
            maximum_number_of_words: 3,
            silence_threshold: 64,
            maximum_word_length_ms: 5000,
            vad_threshold: crate::vad::VAD_DEFAULT_THRESHOLD,
            beep_min_ms: 150,
            beep_timeout_ms: 30_000,
            transcript_phrases: transcript::DEFAULT_MACHINE_PHRASES,
        }
    }
}

/// Who answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AmdVerdict {
    /// A person.
    Human,
    /// An answering machine, voicemail or carrier announcement.
    Machine,
    /// The evidence did not decide within the analysis time.
    NotSure,
}

impl AmdVerdict {
    /// `human`, `machine` or `notsure`.
    pub fn as_str(self) -> &'static str {
        match self {
            AmdVerdict::Human => "human",
            AmdVerdict::Machine => "machine",
            AmdVerdict::NotSure => "notsure",
        }
    }
}

impl fmt::Display for AmdVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the verdict was given. [`Display`](fmt::Display) is one token in
/// Asterisk's `AMDCAUSE` format where Asterisk has the cause (e.g.
/// `LONGGREETING-1500-1500`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AmdCause {
    /// Machine: only silence for `limit_ms` (`INITIALSILENCE-<silence>-<limit>`).
    InitialSilence { silence_ms: u32, limit_ms: u32 },
    /// Human: a short greeting (`voice_ms` of voice), then `silence_ms` of
    /// silence, `limit_ms` being the silence that was needed
    /// (`after_greeting_silence_ms`, or `short_answer_silence_ms` for a
    /// late short answer) (`HUMAN-<silence>-<limit>`).
    HumanShortGreeting {
        voice_ms: u32,
        silence_ms: u32,
        limit_ms: u32,
    },
    /// Machine: `voice_ms` of voice, over the greeting limit
    /// (`LONGGREETING-<voice>-<limit>`).
    LongGreeting { voice_ms: u32, limit_ms: u32 },
    /// Machine: more words than the limit (`MAXWORDS-<words>-<limit>`).
    MaxWords { words: u32, limit: u32 },
    /// Machine: one word of `word_ms` (`MAXWORDLENGTH-<ms>`).
    MaxWordLength { word_ms: u32 },
    /// Machine: a beep at `freq_hz` before any other verdict (`BEEP-<hz>`).
    Beep { freq_hz: u32 },
    /// Machine: a voicemail phrase in the transcript
    /// (`TRANSCRIPT-<phrase_with_underscores>`).
    Transcript { phrase: &'static str },
    /// Not sure: nothing decided in `total_ms` (`TOOLONG-<ms>`).
    MaxAnalysisTime { total_ms: u32 },
    /// Not sure: the audio ended (hang-up, end of file) after `total_ms`
    /// with nothing decided (`ENDOFAUDIO-<ms>`).
    EndOfAudio { total_ms: u64 },
}

impl fmt::Display for AmdCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AmdCause::InitialSilence {
                silence_ms,
                limit_ms,
            } => write!(f, "INITIALSILENCE-{silence_ms}-{limit_ms}"),
            AmdCause::HumanShortGreeting {
                silence_ms,
                limit_ms,
                ..
            } => write!(f, "HUMAN-{silence_ms}-{limit_ms}"),
            AmdCause::LongGreeting { voice_ms, limit_ms } => {
                write!(f, "LONGGREETING-{voice_ms}-{limit_ms}")
            }
            AmdCause::MaxWords { words, limit } => write!(f, "MAXWORDS-{words}-{limit}"),
            AmdCause::MaxWordLength { word_ms } => write!(f, "MAXWORDLENGTH-{word_ms}"),
            AmdCause::Beep { freq_hz } => write!(f, "BEEP-{freq_hz}"),
            AmdCause::Transcript { phrase } => {
                f.write_str("TRANSCRIPT-")?;
                for (i, word) in phrase.split(' ').enumerate() {
                    if i > 0 {
                        f.write_str("_")?;
                    }
                    f.write_str(word)?;
                }
                Ok(())
            }
            AmdCause::MaxAnalysisTime { total_ms } => write!(f, "TOOLONG-{total_ms}"),
            AmdCause::EndOfAudio { total_ms } => write!(f, "ENDOFAUDIO-{total_ms}"),
        }
    }
}

/// What [`AmdDetector::poll_event`] reports, in order: one verdict, then at
/// most one beep (a beep can also be what decides the verdict, which then
/// comes first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AmdEvent {
    /// The verdict, decided after `at_ms` of audio (or at the transcript's
    /// `at_ms`).
    Verdict {
        verdict: AmdVerdict,
        cause: AmdCause,
        at_ms: u64,
    },
    /// A beep began at `at_ms` and ended at `end_ms` (ms of audio since
    /// answer; reported when it ends, the moment to start a voicemail
    /// message), at `freq_hz` (±12.5 Hz).
    Beep {
        at_ms: u64,
        end_ms: u64,
        freq_hz: u32,
    },
}

/// The result of one analysis, as the offline tool prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AmdOutcome {
    pub verdict: AmdVerdict,
    /// When the verdict was decided, in ms of audio since answer.
    pub decision_ms: u64,
    pub cause: AmdCause,
    /// Onset of the beep, in ms since answer, if one was heard.
    pub beep_ms: Option<u64>,
}

impl AmdOutcome {
    /// `human|machine|notsure DECISION_MS CAUSE [BEEP_MS]`: one line without
    /// the newline, fields separated by single spaces, `BEEP_MS` only when a
    /// beep was heard. E.g. `machine 1880 LONGGREETING-1500-1500 6410`.
    pub fn to_line(&self) -> String {
        match self.beep_ms {
            Some(b) => format!("{} {} {} {b}", self.verdict, self.decision_ms, self.cause),
            None => format!("{} {} {}", self.verdict, self.decision_ms, self.cause),
        }
    }
}

/// Why a detector or an offline analysis cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmdError {
    /// Only 8000 and 16000 Hz are supported.
    #[error("unsupported sample rate {0} Hz (8000 or 16000)")]
    UnsupportedRate(u32),
    /// The WAV file is unreadable, not mono, or too long.
    #[error("{0}")]
    Wav(String),
}

/// Events waiting for [`AmdDetector::poll_event`] (at most a verdict and a
/// beep are ever queued).
const EVENT_SLOTS: usize = 4;

/// The streaming detector; see the [module docs](self).
pub struct AmdDetector {
    cfg: AmdConfig,
    frame_len: usize,
    carry: [i16; crate::SAMPLES_PER_FRAME_16K],
    carried: usize,
    elapsed_ms: u64,
    features: Features,
    voicing: Voicing,
    beep: BeepDetector,
    outcome: Option<AmdOutcome>,
    beep_heard: bool,
    events: [Option<AmdEvent>; EVENT_SLOTS],
    event_head: usize,
    event_len: usize,
    scratch: String,
}

impl AmdDetector {
    /// A detector for mono PCM at `sample_rate_hz` (8000 or 16000).
    ///
    /// Errors: [`AmdError::UnsupportedRate`].
    pub fn new(config: AmdConfig, sample_rate_hz: u32) -> Result<Self, AmdError> {
        if sample_rate_hz != NARROWBAND_HZ && sample_rate_hz != WIDEBAND_HZ {
            return Err(AmdError::UnsupportedRate(sample_rate_hz));
        }
        Ok(AmdDetector {
            cfg: config,
            frame_len: (sample_rate_hz * FRAME_MS / 1000) as usize,
            carry: [0; crate::SAMPLES_PER_FRAME_16K],
            carried: 0,
            elapsed_ms: 0,
            features: Features::new(config, FRAME_MS),
            voicing: Voicing::new(
                sample_rate_hz,
                config.vad_threshold,
                config.silence_threshold,
            ),
            beep: BeepDetector::new(sample_rate_hz, config.beep_min_ms),
            outcome: None,
            beep_heard: false,
            events: [None; EVENT_SLOTS],
            event_head: 0,
            event_len: 0,
            scratch: String::with_capacity(transcript::MAX_TRANSCRIPT_BYTES + 2),
        })
    }

    /// Feeds PCM of any length (carried across calls in 20 ms frames; a
    /// trailing partial frame waits for the next call). Cheap once the
    /// detector [is done](Self::is_done): time still advances.
    pub fn push_pcm(&mut self, pcm: &[i16]) {
        let mut rest = pcm;
        while !rest.is_empty() {
            let take = (self.frame_len - self.carried).min(rest.len());
            self.carry[self.carried..self.carried + take].copy_from_slice(&rest[..take]);
            self.carried += take;
            rest = &rest[take..];
            if self.carried == self.frame_len {
                self.carried = 0;
                let frame = self.carry;
                self.frame(&frame[..self.frame_len]);
            }
        }
    }

    /// One complete 20 ms frame.
    fn frame(&mut self, frame: &[i16]) {
        self.elapsed_ms += u64::from(FRAME_MS);
        if self.is_done() {
            return;
        }
        let listening = self.elapsed_ms <= u64::from(self.cfg.beep_timeout_ms);
        if listening {
            if let Some(b) = self.beep.push(frame) {
                self.beep_found(b);
            }
        }
        if self.outcome.is_none() {
            if let Some(b) = self.beep.sounding().filter(|_| listening) {
                self.decide(
                    AmdVerdict::Machine,
                    AmdCause::Beep { freq_hz: b.freq_hz },
                    self.elapsed_ms,
                );
            } else {
                // A tone in progress is sound, not the silence after a greeting.
                let voiced = self.voicing.frame(frame) || (listening && self.beep.in_tone());
                if let Some((verdict, cause)) = self.features.frame(voiced) {
                    self.decide(verdict, cause, self.elapsed_ms);
                }
            }
        }
    }

    /// Offers an interim (or final) transcript of the answering party,
    /// heard by `at_ms` (ms of audio since answer, on the caller's clock).
    /// Before any verdict, a phrase of
    /// [`AmdConfig::transcript_phrases`] makes it
    /// [`AmdCause::Transcript`] machine, decided at `at_ms`; afterwards
    /// transcripts are ignored. Texts over
    /// [`transcript::MAX_TRANSCRIPT_BYTES`] are cut.
    pub fn push_transcript(&mut self, text: &str, at_ms: u64) {
        if self.outcome.is_some() {
            return;
        }
        if let Some(phrase) =
            transcript::find_phrase(text, self.cfg.transcript_phrases, &mut self.scratch)
        {
            self.decide(AmdVerdict::Machine, AmdCause::Transcript { phrase }, at_ms);
        }
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<AmdEvent> {
        if self.event_len == 0 {
            return None;
        }
        let e = self.events[self.event_head].take();
        self.event_head = (self.event_head + 1) % EVENT_SLOTS;
        self.event_len -= 1;
        e
    }

    /// The verdict so far (`None` while undecided).
    pub fn verdict(&self) -> Option<AmdVerdict> {
        self.outcome.map(|o| o.verdict)
    }

    /// The verdict with its cause, time and beep so far (`None` while
    /// undecided).
    pub fn outcome(&self) -> Option<AmdOutcome> {
        self.outcome
    }

    /// Audio fed so far in whole frames, in ms.
    pub fn elapsed_ms(&self) -> u64 {
        self.elapsed_ms
    }

    /// Whether nothing more can happen: human verdict, beep heard, or the
    /// verdict given and the beep timeout passed.
    pub fn is_done(&self) -> bool {
        match self.outcome {
            None => false,
            Some(o) => {
                o.verdict == AmdVerdict::Human
                    || self.beep_heard
                    || self.elapsed_ms > u64::from(self.cfg.beep_timeout_ms)
            }
        }
    }

    /// Ends the audio (hang-up, end of file): a beep still sounding is
    /// reported, and an undecided analysis becomes
    /// [`AmdCause::EndOfAudio`] not sure. Returns the final outcome. The
    /// trailing partial frame (< 20 ms) is not analysed.
    pub fn finish(&mut self) -> AmdOutcome {
        if !self.is_done() && self.elapsed_ms <= u64::from(self.cfg.beep_timeout_ms) {
            if let Some(b) = self.beep.finish() {
                self.beep_found(b);
            }
        }
        if self.outcome.is_none() {
            let total_ms = self.elapsed_ms;
            self.decide(
                AmdVerdict::NotSure,
                AmdCause::EndOfAudio { total_ms },
                total_ms,
            );
        }
        self.outcome.unwrap_or(AmdOutcome {
            verdict: AmdVerdict::NotSure,
            decision_ms: self.elapsed_ms,
            cause: AmdCause::EndOfAudio {
                total_ms: self.elapsed_ms,
            },
            beep_ms: None,
        })
    }

    fn decide(&mut self, verdict: AmdVerdict, cause: AmdCause, at_ms: u64) {
        if self.outcome.is_some() {
            return;
        }
        self.outcome = Some(AmdOutcome {
            verdict,
            decision_ms: at_ms,
            cause,
            beep_ms: None,
        });
        self.push_event(AmdEvent::Verdict {
            verdict,
            cause,
            at_ms,
        });
    }

    fn beep_found(&mut self, b: Beep) {
        if self.beep_heard {
            return;
        }
        if self.outcome.is_none() {
            self.decide(
                AmdVerdict::Machine,
                AmdCause::Beep { freq_hz: b.freq_hz },
                self.elapsed_ms,
            );
        }
        self.beep_heard = true;
        if let Some(o) = self.outcome.as_mut() {
            o.beep_ms = Some(b.start_ms);
        }
        self.push_event(AmdEvent::Beep {
            at_ms: b.start_ms,
            end_ms: b.end_ms,
            freq_hz: b.freq_hz,
        });
    }

    fn push_event(&mut self, e: AmdEvent) {
        if self.event_len == EVENT_SLOTS {
            return; // cannot happen: at most two events per detector
        }
        self.events[(self.event_head + self.event_len) % EVENT_SLOTS] = Some(e);
        self.event_len += 1;
    }
}
