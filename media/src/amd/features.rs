//! The speech/silence pattern of the first seconds after answer, as
//! Asterisk's `app_amd` reads it (its algorithm, on voiced/unvoiced frames).
//!
//! Every [`FRAME_MS`](crate::FRAME_MS) frame is voiced or not (see
//! `voicing`). From that alone:
//!
//! - **initial silence**: nothing but silence for `initial_silence_ms` →
//!   machine (`INITIALSILENCE`: a person says something when they pick up);
//! - a **word** is a run of at least `minimum_word_length_ms` of voice after
//!   at least `between_words_silence_ms` of silence; the first one starts the
//!   greeting;
//! - **greeting then silence**: `after_greeting_silence_ms` of silence once
//!   the greeting started → human (`HUMAN`: "Hello?" and wait);
//! - **short answer, late**: once `short_answer_after_ms` have passed since
//!   answer, a greeting of at most `short_answer_max_words` words followed
//!   by `short_answer_silence_ms` of silence → human (`HUMAN`, with that
//!   limit; not in Asterisk, see [`AmdConfig::short_answer_after_ms`]);
//! - **long greeting**: `greeting_ms` of voice in total → machine
//!   (`LONGGREETING`);
//! - **too many words**: more than `maximum_number_of_words` words →
//!   machine (`MAXWORDS`; Asterisk ≥ 13's "more than" test);
//! - **one very long word**: `maximum_word_length_ms` of uninterrupted
//!   voice → machine (`MAXWORDLENGTH`);
//! - nothing of that within `total_analysis_time_ms` → not sure
//!   (`TOOLONG`).
//!
//! Differences from Asterisk:
//!
//! - the voicing decision (a neural VAD and a tracked noise floor rather
//!   than a fixed energy threshold; see `voicing.rs`);
//! - a voiced run shorter than `minimum_word_length_ms` (a click, a noise
//!   burst) neither ends the initial silence nor restarts the silence after
//!   the greeting; in Asterisk any voiced frame after the first word restarts
//!   it, so a noisy line holds off the human verdict;
//! - the first word counts even when the audio starts with voice (Asterisk
//!   ≥ 13 starts "in a word" and misses it);
//! - time is frames fed, never a wall clock.

use super::{AmdCause, AmdConfig, AmdVerdict};

/// Analysis state (Asterisk's variables, in ms of audio).
#[derive(Clone, Debug)]
pub(crate) struct Features {
    cfg: AmdConfig,
    frame_ms: u32,
    total_ms: u32,
    in_initial_silence: bool,
    in_greeting: bool,
    in_word: bool,
    /// Total voiced time so far.
    voice_ms: u32,
    /// Voiced time of the current word (runs of voice joined across gaps
    /// shorter than `between_words_silence_ms`).
    consecutive_voice_ms: u32,
    /// Unvoiced time of the current run (reset by any voiced frame): what
    /// separates words.
    gap_ms: u32,
    /// Unvoiced time since the last word-length voice: what the initial
    /// silence and the silence after the greeting measure.
    silence_ms: u32,
    words: u32,
}

impl Features {
    /// A fresh analysis with `cfg`, for frames of `frame_ms`.
    pub(crate) fn new(cfg: AmdConfig, frame_ms: u32) -> Self {
        Features {
            cfg,
            frame_ms,
            total_ms: 0,
            in_initial_silence: true,
            in_greeting: false,
            in_word: false,
            voice_ms: 0,
            consecutive_voice_ms: 0,
            gap_ms: 0,
            silence_ms: 0,
            words: 0,
        }
    }

    /// The silence after the greeting that makes a person, now:
    /// `short_answer_silence_ms` for a short answer (at most
    /// `short_answer_max_words` words) once `short_answer_after_ms` have
    /// passed since answer, else `after_greeting_silence_ms`.
    fn after_greeting_limit_ms(&self) -> u32 {
        let c = &self.cfg;
        if self.words <= c.short_answer_max_words && self.total_ms >= c.short_answer_after_ms {
            c.short_answer_silence_ms.min(c.after_greeting_silence_ms)
        } else {
            c.after_greeting_silence_ms
        }
    }

    /// Advances by one frame; returns the verdict once the pattern decides.
    /// Call again after a verdict and the analysis simply goes on (the
    /// detector stops calling).
    pub(crate) fn frame(&mut self, voiced: bool) -> Option<(AmdVerdict, AmdCause)> {
        let c = &self.cfg;
        self.total_ms = self.total_ms.saturating_add(self.frame_ms);
        if self.total_ms >= c.total_analysis_time_ms {
            return Some((
                AmdVerdict::NotSure,
                AmdCause::MaxAnalysisTime {
                    total_ms: self.total_ms,
                },
            ));
        }
        if !voiced {
            self.gap_ms = self.gap_ms.saturating_add(self.frame_ms);
            self.silence_ms = self.silence_ms.saturating_add(self.frame_ms);
            if self.gap_ms >= c.between_words_silence_ms {
                self.in_word = false;
                self.consecutive_voice_ms = 0;
            }
            if self.in_initial_silence && self.silence_ms >= c.initial_silence_ms {
                return Some((
                    AmdVerdict::Machine,
                    AmdCause::InitialSilence {
                        silence_ms: self.silence_ms,
                        limit_ms: c.initial_silence_ms,
                    },
                ));
            }
            if self.in_greeting && self.silence_ms >= self.after_greeting_limit_ms() {
                return Some((
                    AmdVerdict::Human,
                    AmdCause::HumanShortGreeting {
                        voice_ms: self.voice_ms,
                        silence_ms: self.silence_ms,
                        limit_ms: self.after_greeting_limit_ms(),
                    },
                ));
            }
            return None;
        }
        self.gap_ms = 0;
        self.consecutive_voice_ms = self.consecutive_voice_ms.saturating_add(self.frame_ms);
        self.voice_ms = self.voice_ms.saturating_add(self.frame_ms);
        if self.consecutive_voice_ms >= c.minimum_word_length_ms && !self.in_word {
            self.words += 1;
            self.in_word = true;
        }
        if self.consecutive_voice_ms >= c.maximum_word_length_ms {
            return Some((
                AmdVerdict::Machine,
                AmdCause::MaxWordLength {
                    word_ms: self.consecutive_voice_ms,
                },
            ));
        }
        if self.words > c.maximum_number_of_words {
            return Some((
                AmdVerdict::Machine,
                AmdCause::MaxWords {
                    words: self.words,
                    limit: c.maximum_number_of_words,
                },
            ));
        }
        if self.in_greeting && self.voice_ms >= c.greeting_ms {
            return Some((
                AmdVerdict::Machine,
                AmdCause::LongGreeting {
                    voice_ms: self.voice_ms,
                    limit_ms: c.greeting_ms,
                },
            ));
        }
        if self.consecutive_voice_ms >= c.minimum_word_length_ms {
            // A word: the silence starts over, and the first starts the greeting.
            self.silence_ms = 0;
            self.in_initial_silence = false;
            self.in_greeting = true;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a pattern of (voiced, ms) segments through `cfg`; returns the
    /// verdict, its cause and the ms at which it came.
    fn run_with(cfg: AmdConfig, pattern: &[(bool, u32)]) -> Option<(AmdVerdict, AmdCause, u32)> {
        let mut f = Features::new(cfg, 20);
        let mut t = 0;
        for &(voiced, ms) in pattern {
            for _ in 0..ms / 20 {
                t += 20;
                if let Some((v, c)) = f.frame(voiced) {
                    return Some((v, c, t));
                }
            }
        }
        None
    }

    fn run(pattern: &[(bool, u32)]) -> Option<(AmdVerdict, AmdCause, u32)> {
        run_with(AmdConfig::default(), pattern)
    }

    #[test]
    fn hello_then_silence_is_human_after_the_after_greeting_silence() {
        let (v, c, t) = run(&[(false, 400), (true, 500), (false, 3000)]).unwrap();
        assert_eq!(v, AmdVerdict::Human, "{c:?}");
        assert_eq!(t, 400 + 500 + 800);
        assert!(
            matches!(c, AmdCause::HumanShortGreeting { voice_ms: 500, .. }),
            "{c:?}"
        );
    }

    #[test]
    fn three_short_phrases_are_still_human_but_a_fourth_word_is_a_machine() {
        // "Hello, yes, who is this?"
        let three = [
            (false, 300),
            (true, 300),
            (false, 200),
            (true, 200),
            (false, 200),
            (true, 500),
            (false, 2000),
        ];
        assert_eq!(run(&three).unwrap().0, AmdVerdict::Human);
        // Gaps under 50 ms do not split a word.
        let joined = [
            (false, 300),
            (true, 200),
            (false, 40),
            (true, 200),
            (false, 40),
        ];
        let mut p = joined.repeat(3);
        p.push((false, 2000));
        assert_eq!(run(&p).unwrap().0, AmdVerdict::Human, "three words");
        let four = [
            (false, 300),
            (true, 200),
            (false, 200),
            (true, 200),
            (false, 200),
            (true, 200),
            (false, 200),
            (true, 200),
            (false, 2000),
        ];
        let (v, c, t) = run(&four).unwrap();
        assert_eq!(
            (v, c),
            (
                AmdVerdict::Machine,
                AmdCause::MaxWords { words: 4, limit: 3 }
            )
        );
        // Decided as the fourth word reaches the minimum word length.
        assert_eq!(t, 300 + 3 * 400 + 100);
    }

    #[test]
    fn continuous_speech_is_a_long_greeting() {
        let (v, c, t) = run(&[(false, 300), (true, 4000)]).unwrap();
        assert_eq!(v, AmdVerdict::Machine);
        assert_eq!(
            c,
            AmdCause::LongGreeting {
                voice_ms: 1500,
                limit_ms: 1500
            }
        );
        assert_eq!(t, 1800);
    }

    #[test]
    fn a_very_long_word_is_a_machine() {
        let cfg = AmdConfig {
            greeting_ms: 60_000,
            total_analysis_time_ms: 60_000,
            ..AmdConfig::default()
        };
        let (v, c, t) = run_with(cfg, &[(false, 300), (true, 8000)]).unwrap();
        assert_eq!(
            (v, c),
            (
                AmdVerdict::Machine,
                AmdCause::MaxWordLength { word_ms: 5000 }
            )
        );
        assert_eq!(t, 5300);
    }

    #[test]
    fn silence_is_initial_silence_and_clicks_neither_start_a_greeting_nor_restart_it() {
        let (v, c, t) = run(&[(false, 5000)]).unwrap();
        assert_eq!(v, AmdVerdict::Machine);
        assert_eq!(
            c,
            AmdCause::InitialSilence {
                silence_ms: 2500,
                limit_ms: 2500
            }
        );
        assert_eq!(t, 2500);
        // A 60 ms click is no word: the silence counts on around it.
        let (v, c, t) = run(&[(false, 1000), (true, 60), (false, 5000)]).unwrap();
        assert_eq!(v, AmdVerdict::Machine, "{c:?}");
        assert_eq!(t, 1060 + 1500);
        // After "Hello?", clicks do not hold off the human verdict either.
        let (v, _, t) = run(&[
            (false, 300),
            (true, 400),
            (false, 500),
            (true, 40),
            (false, 1000),
        ])
        .unwrap();
        assert_eq!(v, AmdVerdict::Human);
        assert_eq!(t, 300 + 400 + 500 + 40 + 300);
    }

    #[test]
    fn a_late_short_answer_is_human_after_the_short_silence() {
        // "Hello, who is this?" after 0.7 s: two words, ending at 2.0 s.
        let p = [
            (false, 700),
            (true, 500),
            (false, 200),
            (true, 600),
            (false, 3000),
        ];
        let (v, c, t) = run(&p).unwrap();
        assert_eq!(v, AmdVerdict::Human, "{c:?}");
        assert_eq!(t, 2000 + 300, "300 ms after the answer, not 800");
        assert_eq!(
            c,
            AmdCause::HumanShortGreeting {
                voice_ms: 1100,
                silence_ms: 300,
                limit_ms: 300
            }
        );
        assert_eq!(c.to_string(), "HUMAN-300-300");
        // Already 400 ms quiet when 2.2 s pass: decided at 2.2 s.
        let (v, _, t) = run(&[(false, 1000), (true, 800), (false, 3000)]).unwrap();
        assert_eq!((v, t), (AmdVerdict::Human, 2200));
    }

    #[test]
    fn the_short_silence_applies_neither_early_nor_after_three_words_nor_when_off() {
        // A machine's "Hello. [0.38 s] You've reached …" before 2.2 s: the
        // pause is no human verdict, the greeting goes on to be long.
        let (v, c, _) = run(&[(false, 300), (true, 400), (false, 380), (true, 3000)]).unwrap();
        assert_eq!(v, AmdVerdict::Machine, "{c:?}");
        assert!(matches!(c, AmdCause::LongGreeting { .. }), "{c:?}");
        // Three words ("Hello, yes, who is this?") need the full 800 ms.
        let three = [
            (false, 600),
            (true, 300),
            (false, 200),
            (true, 300),
            (false, 200),
            (true, 400),
            (false, 3000),
        ];
        let (v, c, t) = run(&three).unwrap();
        assert_eq!(v, AmdVerdict::Human, "{c:?}");
        assert_eq!(t, 2000 + 800);
        // short_answer_max_words = 0: Asterisk's behaviour.
        let off = AmdConfig {
            short_answer_max_words: 0,
            ..AmdConfig::default()
        };
        let p = [
            (false, 700),
            (true, 500),
            (false, 200),
            (true, 600),
            (false, 3000),
        ];
        let (v, c, t) = run_with(off, &p).unwrap();
        assert_eq!((v, t), (AmdVerdict::Human, 2000 + 800), "{c:?}");
    }

    #[test]
    fn pauses_shorter_than_after_greeting_silence_keep_listening_until_too_long() {
        // Words separated by 700 ms pauses, with no word or voice limit.
        let cfg = AmdConfig {
            maximum_number_of_words: 100,
            greeting_ms: 60_000,
            ..AmdConfig::default()
        };
        let mut p = vec![(false, 200)];
        p.extend([(true, 200), (false, 700)].repeat(10));
        let (v, c, t) = run_with(cfg, &p).unwrap();
        assert_eq!(v, AmdVerdict::NotSure, "{c:?}");
        assert_eq!(c, AmdCause::MaxAnalysisTime { total_ms: 5000 });
        assert_eq!(t, 5000);
    }
}
