//! Every transition of [`AmdSession`] on a virtual clock, with synthetic
//! speech that the detector's neural VAD takes for voice (the generator of
//! `media/src/amd/tests.rs`), sine beeps and silence. Audio is fed in
//! 20 ms frames in lockstep with the clock unless a test says otherwise.

use super::*;

const RATE: u32 = 8_000;

fn silence(ms: u32) -> Vec<i16> {
    vec![0; (RATE * ms / 1000) as usize]
}

/// A speech-like syllable train (130 Hz glottal pulses with vibrato
/// through formants at 700, 1220 and 2600 Hz): `n` syllables of `syll_ms`
/// with 30 ms ramps and `gap_ms` between them, peak 12000.
fn speech(n: u32, syll_ms: u32, gap_ms: u32) -> Vec<i16> {
    use std::f64::consts::PI;
    let fs = f64::from(RATE);
    let syll = (RATE * syll_ms / 1000) as usize;
    let gap = (RATE * gap_ms / 1000) as usize;
    let ramp = (RATE * 30 / 1000) as usize;
    let total = n as usize * (syll + gap);
    let mut phase = 0.0;
    let mut y: Vec<f64> = (0..total)
        .map(|i| {
            phase += 130.0 * (1.0 + 0.04 * (2.0 * PI * 5.0 * i as f64 / fs).sin()) / fs;
            if phase >= 1.0 {
                phase -= 1.0;
                1.0
            } else {
                0.0
            }
        })
        .collect();
    for (fc, bw) in [(700.0, 110.0), (1220.0, 120.0), (2600.0, 160.0)] {
        let r = (-PI * bw / fs).exp();
        let (a1, a2) = (-2.0 * r * (2.0 * PI * fc / fs).cos(), r * r);
        let (mut y1, mut y2) = (0.0, 0.0);
        for v in y.iter_mut() {
            let o = *v - a1 * y1 - a2 * y2;
            (y2, y1) = (y1, o);
            *v = o;
        }
    }
    for (i, v) in y.iter_mut().enumerate() {
        let k = i % (syll + gap);
        let env = if k >= syll {
            0.0
        } else {
            let edge = k.min(syll - 1 - k);
            (edge as f64 / ramp as f64).min(1.0)
        };
        *v *= env;
    }
    let peak = y.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-9);
    y.iter().map(|v| (v / peak * 12_000.0) as i16).collect()
}

fn tone(hz: f64, ms: u32) -> Vec<i16> {
    let n = (RATE * ms / 1000) as usize;
    (0..n)
        .map(|i| {
            (8_000.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(RATE)).sin()) as i16
        })
        .collect()
}

/// "Hello?" after 400 ms: voice ends at 880 ms; human at 880 + 800.
fn hello() -> Vec<i16> {
    [silence(400), speech(2, 220, 40), silence(4000)].concat()
}

/// A 3 s voicemail greeting after 300 ms (ends at 3300 ms), then
/// `gap_ms` of silence, then (if `beep`) 400 ms of 1 kHz, then 3 s.
fn voicemail(gap_ms: u32, beep: bool) -> Vec<i16> {
    let mut v = [silence(300), speech(10, 260, 40), silence(gap_ms)].concat();
    if beep {
        v.extend(tone(1000.0, 400));
    }
    v.extend(silence(3000));
    v
}

fn drop_policy() -> AmdPolicy {
    AmdPolicy {
        enabled: true,
        on_machine: OnMachine::VoicemailDrop {
            message: "Hi, this is Parla calling back.".into(),
        },
        max_greeting_hold_ms: DEFAULT_MAX_GREETING_HOLD_MS,
    }
}

/// An output and the audio/clock time (ms since answer) it came at.
type Timed = (u64, AmdOutput);

/// The virtual call: answer at `t0`, then 20 ms frames of `pcm`, the clock
/// at `lag_ms` behind (negative: ahead of) the audio, `handle_timeout` at
/// each frame. Stops at the end of `pcm` or when `stop` says so.
struct Call {
    s: AmdSession,
    t0: Instant,
    fed_ms: u64,
    out: Vec<Timed>,
}

impl Call {
    fn answer(policy: AmdPolicy) -> Call {
        Self::answer_with(policy, AmdConfig::default())
    }

    fn answer_with(policy: AmdPolicy, config: AmdConfig) -> Call {
        let mut s = AmdSession::with_config(policy, config, RATE).unwrap();
        let t0 = Instant::now();
        s.on_answer(t0);
        let mut c = Call {
            s,
            t0,
            fed_ms: 0,
            out: Vec::new(),
        };
        c.collect();
        c
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    fn collect(&mut self) {
        while let Some(o) = self.s.poll_output() {
            self.out.push((self.fed_ms, o));
        }
    }

    /// Feeds `pcm` in 20 ms frames, the clock `clock_ahead_ms` ahead of the
    /// audio.
    fn feed(&mut self, pcm: &[i16], clock_ahead_ms: u64) {
        for f in pcm.chunks((RATE / 50) as usize) {
            self.fed_ms += 20;
            let now = self.at(self.fed_ms + clock_ahead_ms);
            self.s.handle_timeout(now);
            self.collect();
            self.s.push_audio(now, f);
            self.collect();
        }
    }

    fn outputs(&self) -> Vec<AmdOutput> {
        self.out.iter().map(|(_, o)| o.clone()).collect()
    }

    fn first(&self, pred: impl Fn(&AmdOutput) -> bool) -> Option<Timed> {
        self.out.iter().find(|(_, o)| pred(o)).cloned()
    }
}

fn is_release(o: &AmdOutput) -> bool {
    matches!(o, AmdOutput::ReleaseGreeting { .. })
}

fn is_voicemail(o: &AmdOutput) -> bool {
    matches!(o, AmdOutput::PlayVoicemail { .. })
}

#[test]
fn off_releases_the_greeting_at_answer_and_judges_nothing() {
    let mut c = Call::answer(AmdPolicy::default());
    assert_eq!(
        c.outputs(),
        vec![AmdOutput::ReleaseGreeting {
            reason: ReleaseReason::Disabled
        }]
    );
    c.feed(&voicemail(500, true), 0);
    c.s.finish(c.at(10_000));
    c.collect();
    assert_eq!(c.out.len(), 1, "{:?}", c.out);
    assert!(c.s.is_done());
    assert_eq!(c.s.poll_timeout(), None);
}

#[test]
fn a_person_gets_the_greeting_with_the_verdict_and_nothing_more() {
    let mut c = Call::answer(drop_policy());
    assert!(c.out.is_empty(), "the greeting is held: {:?}", c.out);
    assert_eq!(c.s.poll_timeout(), Some(c.at(2_500)));
    c.feed(&hello(), 0);
    let (t, release) = c.first(is_release).expect("released");
    // "Hello?" ends at 880 ms; the person is heard 800 ms of silence later.
    assert_eq!(t, 1_680);
    assert_eq!(
        release,
        AmdOutput::ReleaseGreeting {
            reason: ReleaseReason::Human
        }
    );
    let verdicts: Vec<_> = c
        .out
        .iter()
        .filter_map(|(_, o)| match o {
            AmdOutput::Verdict {
                outcome,
                decision_ms,
                beep_ms,
                ..
            } => Some((*outcome, *decision_ms, *beep_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(verdicts, vec![(AmdVerdict::Human, 1_680, None)]);
    assert_eq!(c.out.len(), 2, "{:?}", c.out);
    // Later audio, even a beep, changes nothing; no timer is pending.
    c.feed(&tone(1000.0, 500), 0);
    assert_eq!(c.out.len(), 2, "{:?}", c.out);
    assert!(c.s.is_done());
    assert_eq!(c.s.poll_timeout(), None);
}

#[test]
fn the_greeting_is_held_at_most_the_hold_time_then_a_late_person_is_only_recorded() {
    let mut c = Call::answer(drop_policy());
    // No audio arrives (media late): nothing before 2.5 s on the clock.
    c.s.handle_timeout(c.at(2_499));
    c.collect();
    assert!(c.out.is_empty(), "{:?}", c.out);
    c.s.handle_timeout(c.at(2_500));
    assert_eq!(
        c.s.poll_output(),
        Some(AmdOutput::ReleaseGreeting {
            reason: ReleaseReason::HoldTimeout
        })
    );
    assert_eq!(c.s.poll_timeout(), None, "no further hold");
    assert!(c.s.greeting_released());
    // The audio then shows a person: the verdict is recorded, the greeting
    // is not released twice.
    c.feed(&hello(), 2_500);
    let outs = c.outputs();
    assert!(!outs.iter().any(is_release), "{outs:?}");
    assert!(
        matches!(
            outs.as_slice(),
            [AmdOutput::Verdict {
                outcome: AmdVerdict::Human,
                ..
            }]
        ),
        "{outs:?}"
    );
}

#[test]
fn not_sure_counts_as_a_person() {
    // Words 700 ms apart never decide; a 2 s analysis limit says not sure
    // before the hold ends.
    let config = AmdConfig {
        total_analysis_time_ms: 2_000,
        maximum_number_of_words: 100,
        greeting_ms: 60_000,
        ..AmdConfig::default()
    };
    let mut c = Call::answer_with(drop_policy(), config);
    let mut pcm = silence(200);
    for _ in 0..6 {
        pcm.extend(speech(1, 200, 700));
    }
    c.feed(&pcm, 0);
    let (t, release) = c.first(is_release).expect("released");
    assert_eq!(t, 2_000);
    assert_eq!(
        release,
        AmdOutput::ReleaseGreeting {
            reason: ReleaseReason::NotSure
        }
    );
    assert!(
        c.outputs().iter().any(|o| matches!(
            o,
            AmdOutput::Verdict {
                outcome: AmdVerdict::NotSure,
                ..
            }
        )),
        "{:?}",
        c.out
    );
    assert!(c.s.is_done());
}

#[test]
fn a_machine_gets_the_voicemail_at_the_end_of_its_beep_and_nothing_over_its_greeting() {
    let mut c = Call::answer(drop_policy());
    c.feed(&voicemail(600, true), 0);
    let outs = c.outputs();
    assert!(!outs.iter().any(is_release), "never greeted: {outs:?}");
    // The beep sounds from 3300 + 600 = 3900 to 4300 ms.
    let (t, play) = c.first(is_voicemail).expect("voicemail");
    assert!((4_300..=4_340).contains(&t), "played at {t} ms");
    let AmdOutput::PlayVoicemail { message, cue } = play else {
        unreachable!()
    };
    assert_eq!(message, "Hi, this is Parla calling back.");
    let VoicemailCue::Beep { beep_ms, end_ms } = cue else {
        panic!("cue {cue:?}")
    };
    assert!(beep_ms.abs_diff(3_900) <= 20, "beep at {beep_ms}");
    assert!(end_ms.abs_diff(4_300) <= 40, "beep end at {end_ms}");
    // Verdict at the long greeting (before 2.5 s), then again with the beep.
    let verdicts: Vec<_> = c
        .out
        .iter()
        .filter_map(|(t, o)| match o {
            AmdOutput::Verdict {
                outcome,
                decision_ms,
                beep_ms,
                ..
            } => Some((*t, *outcome, *decision_ms, *beep_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(verdicts.len(), 2, "{verdicts:?}");
    assert_eq!(verdicts[0].1, AmdVerdict::Machine);
    assert!(
        verdicts[0].0 < 2_500 && verdicts[0].3.is_none(),
        "{verdicts:?}"
    );
    assert_eq!(verdicts[1].3, Some(beep_ms));
    assert_eq!(verdicts[1].2, verdicts[0].2, "same decision time");
    // The hold timer is gone once the verdict is machine.
    assert_eq!(c.s.poll_timeout(), None);
    let n = c.out.len();
    c.s.voicemail_played(c.at(9_000));
    assert_eq!(
        c.s.poll_output(),
        Some(AmdOutput::HangUp {
            cause: AmdHangupCause::VoicemailLeft
        })
    );
    assert!(c.s.is_done());
    assert_eq!(c.out.len(), n);
}

#[test]
fn without_a_beep_the_voicemail_starts_after_the_greeting_and_the_silence() {
    let mut c = Call::answer(drop_policy());
    c.feed(&voicemail(4_000, false), 0);
    let (t, play) = c.first(is_voicemail).expect("voicemail");
    // The greeting ends at 3300 ms (its last syllable's gap is 40 ms).
    assert!(
        t.abs_diff(3_300 + u64::from(VOICEMAIL_SILENCE_MS)) <= 60,
        "played at {t} ms"
    );
    assert!(
        matches!(
            play,
            AmdOutput::PlayVoicemail {
                cue: VoicemailCue::Silence { .. },
                ..
            }
        ),
        "{play:?}"
    );
    assert!(!c.outputs().iter().any(is_release));
}

#[test]
fn a_machine_that_never_falls_quiet_gets_the_voicemail_when_the_beep_window_ends() {
    let config = AmdConfig {
        beep_timeout_ms: 6_000,
        ..AmdConfig::default()
    };
    let mut c = Call::answer_with(drop_policy(), config);
    assert_eq!(c.s.poll_timeout(), Some(c.at(2_500)));
    c.feed(&[silence(300), speech(10, 260, 40)].concat(), 0);
    assert_eq!(c.s.poll_timeout(), Some(c.at(6_000)), "beep window");
    // The line goes dead (no audio): the wall clock ends the window.
    c.s.handle_timeout(c.at(5_999));
    assert_eq!(c.s.poll_output(), None);
    c.s.handle_timeout(c.at(6_000));
    assert!(matches!(
        c.s.poll_output(),
        Some(AmdOutput::PlayVoicemail {
            cue: VoicemailCue::BeepWindowOver,
            ..
        })
    ));
}

#[test]
fn hang_up_on_machines_hangs_up_at_the_verdict() {
    let policy = AmdPolicy {
        on_machine: OnMachine::HangUp,
        ..drop_policy()
    };
    let mut c = Call::answer(policy);
    c.feed(&voicemail(600, true), 0);
    let outs = c.outputs();
    assert_eq!(outs.len(), 2, "{outs:?}");
    assert!(matches!(
        outs[0],
        AmdOutput::Verdict {
            outcome: AmdVerdict::Machine,
            ..
        }
    ));
    assert_eq!(
        outs[1],
        AmdOutput::HangUp {
            cause: AmdHangupCause::Machine
        }
    );
    assert_eq!(c.out[0].0, c.out[1].0, "at once");
    assert!(c.s.is_done());
}

#[test]
fn a_machine_after_the_hold_timeout_still_gets_its_policy() {
    // Dead air: the clock 100 ms ahead of the audio releases the greeting
    // at 2.5 s; the detector's initial-silence machine verdict follows.
    let policy = AmdPolicy {
        on_machine: OnMachine::HangUp,
        ..drop_policy()
    };
    let mut c = Call::answer(policy);
    c.feed(&silence(3_000), 100);
    let outs = c.outputs();
    assert!(
        matches!(
            outs.as_slice(),
            [
                AmdOutput::ReleaseGreeting {
                    reason: ReleaseReason::HoldTimeout
                },
                AmdOutput::Verdict {
                    outcome: AmdVerdict::Machine,
                    ..
                },
                AmdOutput::HangUp {
                    cause: AmdHangupCause::Machine
                }
            ]
        ),
        "{outs:?}"
    );
}

#[test]
fn a_call_ending_before_the_verdict_records_not_sure_and_asks_nothing() {
    let mut c = Call::answer(drop_policy());
    c.feed(&silence(1_000), 0);
    c.s.finish(c.at(1_000));
    c.collect();
    assert_eq!(c.out.len(), 1, "{:?}", c.out);
    let AmdOutput::Verdict { outcome, cause, .. } = &c.out[0].1 else {
        panic!("{:?}", c.out)
    };
    assert_eq!(*outcome, AmdVerdict::NotSure);
    assert_eq!(cause.to_string(), "ENDOFAUDIO-1000");
    assert!(c.s.is_done());
    c.s.handle_timeout(c.at(5_000));
    assert_eq!(c.s.poll_output(), None);
}

#[test]
fn audio_before_the_answer_is_ignored_and_bad_rates_are_refused() {
    let mut s = AmdSession::new(drop_policy(), RATE).unwrap();
    let t0 = Instant::now();
    // Ringback-like tone before answer: no beep, no verdict, no timer.
    s.push_audio(t0, &tone(1000.0, 1_000));
    s.handle_timeout(t0 + Duration::from_secs(10));
    assert_eq!(s.poll_output(), None);
    assert_eq!(s.poll_timeout(), None);
    // Detection starts at the answer, on a clean slate.
    let mut c = Call {
        s,
        t0,
        fed_ms: 0,
        out: Vec::new(),
    };
    c.s.on_answer(t0);
    c.feed(&hello(), 0);
    assert!(
        matches!(
            c.outputs().as_slice(),
            [
                AmdOutput::Verdict {
                    outcome: AmdVerdict::Human,
                    decision_ms: 1_680,
                    ..
                },
                AmdOutput::ReleaseGreeting { .. }
            ]
        ),
        "{:?}",
        c.out
    );
    assert!(matches!(
        AmdSession::new(drop_policy(), 44_100),
        Err(AmdError::UnsupportedRate(44_100))
    ));
    assert!(AmdSession::new(AmdPolicy::default(), 11_025).is_err());
    assert!(AmdSession::new(AmdPolicy::default(), 16_000).is_ok());
}
