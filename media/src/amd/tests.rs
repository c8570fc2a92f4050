//! Detector-level tests on synthetic signals: what a caller of
//! [`AmdDetector`] sees (verdict, cause, timing, events, the offline line),
//! at 8 and 16 kHz, and that no input makes it panic.

use super::*;

/// Deterministic xorshift64 generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn silence(rate: u32, ms: u32) -> Vec<i16> {
    vec![0; (rate * ms / 1000) as usize]
}

/// A speech-like syllable train: a 130 Hz glottal pulse train with vibrato
/// through three formant resonators (700, 1220, 2600 Hz), `n` syllables of
/// `syll_ms` with 30 ms ramps, `gap_ms` of silence between them, peak `amp`.
fn speech(rate: u32, n: u32, syll_ms: u32, gap_ms: u32, amp: f64) -> Vec<i16> {
    use std::f64::consts::PI;
    let fs = f64::from(rate);
    let syll = (rate * syll_ms / 1000) as usize;
    let gap = (rate * gap_ms / 1000) as usize;
    let ramp = (rate * 30 / 1000) as usize;
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
    y.iter().map(|v| (v / peak * amp) as i16).collect()
}

fn tone(rate: u32, hz: f64, ms: u32, amp: f64) -> Vec<i16> {
    let n = (rate * ms / 1000) as usize;
    (0..n)
        .map(|i| {
            (amp * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(rate)).sin()) as i16
        })
        .collect()
}

fn white(n: usize, amp: f64, seed: u64) -> Vec<i16> {
    let mut r = Rng(seed.max(1));
    (0..n)
        .map(|_| (((r.next() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * amp) as i16)
        .collect()
}

fn concat(parts: &[Vec<i16>]) -> Vec<i16> {
    parts.concat()
}

/// Runs `pcm` through a fresh default detector in 20 ms frames; returns
/// every event and the final outcome.
fn run(rate: u32, pcm: &[i16]) -> (Vec<AmdEvent>, AmdOutcome) {
    let mut d = AmdDetector::new(AmdConfig::default(), rate).unwrap();
    let mut events = Vec::new();
    for f in pcm.chunks((rate / 50) as usize) {
        d.push_pcm(f);
        while let Some(e) = d.poll_event() {
            events.push(e);
        }
    }
    let o = d.finish();
    while let Some(e) = d.poll_event() {
        events.push(e);
    }
    (events, o)
}

#[test]
fn hello_then_silence_is_human_800_ms_after_the_word() {
    for rate in [8_000, 16_000] {
        // 400 ms of silence, "Hello?" (two syllables, 480 ms), 3 s of silence.
        let pcm = concat(&[
            silence(rate, 400),
            speech(rate, 2, 220, 40, 12_000.0),
            silence(rate, 3000),
        ]);
        let (events, o) = run(rate, &pcm);
        assert_eq!(o.verdict, AmdVerdict::Human, "{rate} Hz: {o:?}");
        assert!(
            matches!(o.cause, AmdCause::HumanShortGreeting { .. }),
            "{o:?}"
        );
        // End of speech 880 ms, then 800 ms of silence.
        assert!(o.decision_ms.abs_diff(1680) <= 60, "{rate} Hz: {o:?}");
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(o.to_line().starts_with("human "), "{}", o.to_line());
    }
}

#[test]
fn a_long_greeting_is_a_machine_and_its_beep_is_reported_after_it() {
    for rate in [8_000, 16_000] {
        // 300 ms silence, 3.2 s of continuous syllables, 300 ms, a 1 kHz beep.
        let pcm = concat(&[
            silence(rate, 300),
            speech(rate, 16, 180, 20, 12_000.0),
            silence(rate, 300),
            tone(rate, 1000.0, 400, 8_000.0),
            silence(rate, 1000),
        ]);
        let (events, o) = run(rate, &pcm);
        assert_eq!(o.verdict, AmdVerdict::Machine, "{rate} Hz: {o:?}");
        assert!(
            matches!(
                o.cause,
                AmdCause::LongGreeting { .. } | AmdCause::MaxWords { .. }
            ),
            "{o:?}"
        );
        assert!(o.decision_ms <= 2_400, "{o:?}");
        let beep_at = 300 + 3200 + 300;
        let beep = o.beep_ms.expect("beep heard");
        assert!(beep.abs_diff(beep_at) <= 20, "{rate} Hz: beep at {beep}");
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(matches!(
            events[0],
            AmdEvent::Verdict {
                verdict: AmdVerdict::Machine,
                ..
            }
        ));
        match events[1] {
            AmdEvent::Beep {
                at_ms,
                end_ms,
                freq_hz,
            } => {
                assert_eq!(at_ms, beep);
                assert!(end_ms.abs_diff(beep_at + 400) <= 20, "{end_ms}");
                assert!(freq_hz.abs_diff(1000) <= 7, "{freq_hz}");
            }
            e => panic!("{e:?}"),
        }
        let line = o.to_line();
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 4, "{line}");
        assert_eq!(fields[3], beep.to_string());
    }
}

#[test]
fn dead_air_and_noise_alone_are_initial_silence() {
    let rate = 8_000;
    for (name, pcm) in [
        ("silence", silence(rate, 6000)),
        ("white noise at -30 dBFS", white(8_000 * 6, 1_000.0, 5)),
    ] {
        let (_, o) = run(rate, &pcm);
        assert_eq!(o.verdict, AmdVerdict::Machine, "{name}: {o:?}");
        assert_eq!(
            o.cause,
            AmdCause::InitialSilence {
                silence_ms: 2500,
                limit_ms: 2500
            },
            "{name}"
        );
        assert_eq!(o.decision_ms, 2500, "{name}");
        assert_eq!(
            o.to_line(),
            "machine 2500 INITIALSILENCE-2500-2500",
            "{name}"
        );
    }
}

#[test]
fn hello_in_white_noise_at_10_db_is_still_human() {
    let rate = 8_000;
    let mut pcm = concat(&[
        silence(rate, 400),
        speech(rate, 2, 220, 40, 12_000.0),
        silence(rate, 3000),
    ]);
    // Speech RMS ≈ 3000 over its syllables; noise ±1650 uniform: RMS ≈ 950.
    for (s, n) in pcm.iter_mut().zip(white(100_000, 1650.0, 9)) {
        *s = s.saturating_add(n);
    }
    let (_, o) = run(rate, &pcm);
    assert_eq!(o.verdict, AmdVerdict::Human, "{o:?}");
    assert!(o.decision_ms <= 2_000, "{o:?}");
}

#[test]
fn a_beep_after_a_short_greeting_decides_machine_before_the_silence_would() {
    // "Leave a message." (600 ms), 300 ms pause, beep: without the beep the
    // pattern would say human at 800 ms of silence.
    let rate = 8_000;
    let pcm = concat(&[
        silence(rate, 200),
        speech(rate, 3, 180, 30, 12_000.0),
        silence(rate, 300),
        tone(rate, 850.0, 500, 8_000.0),
        silence(rate, 2000),
    ]);
    let (events, o) = run(rate, &pcm);
    assert_eq!(o.verdict, AmdVerdict::Machine, "{o:?}");
    assert!(
        matches!(o.cause, AmdCause::Beep { freq_hz } if freq_hz.abs_diff(850) <= 7),
        "{o:?}"
    );
    let beep_at = 200 + 630 + 300;
    // Decided once the tone has lasted the minimum, reported at its end.
    assert!(
        o.decision_ms >= beep_at + 130 && o.decision_ms <= beep_at + 200,
        "{o:?}"
    );
    assert!(o.beep_ms.unwrap().abs_diff(beep_at) <= 20, "{o:?}");
    assert!(o.to_line().starts_with("machine "), "{}", o.to_line());
    assert!(o.to_line().contains(" BEEP-"), "{}", o.to_line());
    assert_eq!(events.len(), 2);
}

#[test]
fn a_voicemail_phrase_in_the_transcript_decides_machine_at_its_time() {
    let rate = 8_000;
    let mut d = AmdDetector::new(AmdConfig::default(), rate).unwrap();
    d.push_pcm(&silence(rate, 300));
    d.push_pcm(&speech(rate, 2, 200, 30, 12_000.0));
    d.push_transcript("Hi, you've reached", 700);
    assert_eq!(d.verdict(), None);
    d.push_transcript("Hi, you've reached Sarah, please leave a message", 760);
    let o = d.outcome().unwrap();
    assert_eq!(
        (o.verdict, o.cause, o.decision_ms),
        (
            AmdVerdict::Machine,
            AmdCause::Transcript {
                phrase: "leave a message"
            },
            760
        )
    );
    assert_eq!(o.to_line(), "machine 760 TRANSCRIPT-leave_a_message");
    // The first verdict stands: later audio and transcripts change nothing.
    d.push_pcm(&silence(rate, 3000));
    d.push_transcript("hello?", 4000);
    assert_eq!(d.outcome().unwrap().decision_ms, 760);
    assert!(matches!(
        d.poll_event(),
        Some(AmdEvent::Verdict { at_ms: 760, .. })
    ));
    assert_eq!(d.poll_event(), None);
}

#[test]
fn silence_after_a_machine_verdict_times_out_and_a_human_verdict_stops_listening() {
    let rate = 8_000;
    let mut d = AmdDetector::new(AmdConfig::default(), rate).unwrap();
    d.push_pcm(&silence(rate, 2600));
    assert_eq!(d.verdict(), Some(AmdVerdict::Machine));
    assert!(!d.is_done(), "still listening for the beep");
    d.push_pcm(&silence(rate, 28_000));
    assert!(d.is_done(), "beep timeout (30 s) passed");
    // A beep after the timeout is ignored.
    d.push_pcm(&tone(rate, 1000.0, 500, 8000.0));
    assert_eq!(d.finish().beep_ms, None);

    let mut d = AmdDetector::new(AmdConfig::default(), rate).unwrap();
    d.push_pcm(&concat(&[
        silence(rate, 300),
        speech(rate, 1, 300, 0, 12_000.0),
        silence(rate, 1000),
    ]));
    assert_eq!(d.verdict(), Some(AmdVerdict::Human));
    assert!(d.is_done());
    d.push_pcm(&tone(rate, 1000.0, 500, 8000.0));
    assert_eq!(d.finish().beep_ms, None);
    assert_eq!(d.elapsed_ms(), 300 + 300 + 1000 + 500);
}

#[test]
fn audio_ending_early_is_not_sure() {
    let (_, o) = run(8_000, &silence(8_000, 1000));
    assert_eq!(o.verdict, AmdVerdict::NotSure);
    assert_eq!(o.cause, AmdCause::EndOfAudio { total_ms: 1000 });
    assert_eq!(o.to_line(), "notsure 1000 ENDOFAUDIO-1000");
}

#[test]
fn causes_print_in_asterisk_amdcause_form() {
    let cases = [
        (
            AmdCause::InitialSilence {
                silence_ms: 2500,
                limit_ms: 2500,
            },
            "INITIALSILENCE-2500-2500",
        ),
        (
            AmdCause::HumanShortGreeting {
                voice_ms: 400,
                silence_ms: 800,
                limit_ms: 800,
            },
            "HUMAN-800-800",
        ),
        (
            AmdCause::LongGreeting {
                voice_ms: 1500,
                limit_ms: 1500,
            },
            "LONGGREETING-1500-1500",
        ),
        (AmdCause::MaxWords { words: 4, limit: 3 }, "MAXWORDS-4-3"),
        (
            AmdCause::MaxWordLength { word_ms: 5000 },
            "MAXWORDLENGTH-5000",
        ),
        (AmdCause::Beep { freq_hz: 1000 }, "BEEP-1000"),
        (AmdCause::MaxAnalysisTime { total_ms: 5000 }, "TOOLONG-5000"),
        (AmdCause::EndOfAudio { total_ms: 12 }, "ENDOFAUDIO-12"),
    ];
    for (c, s) in cases {
        assert_eq!(c.to_string(), s);
    }
    let o = AmdOutcome {
        verdict: AmdVerdict::Machine,
        decision_ms: 1880,
        cause: AmdCause::LongGreeting {
            voice_ms: 1500,
            limit_ms: 1500,
        },
        beep_ms: Some(6410),
    };
    assert_eq!(o.to_line(), "machine 1880 LONGGREETING-1500-1500 6410");
}

#[test]
fn only_8_and_16_khz_are_accepted() {
    for rate in [0, 11_025, 44_100, 48_000, u32::MAX] {
        assert!(matches!(
            AmdDetector::new(AmdConfig::default(), rate),
            Err(AmdError::UnsupportedRate(r)) if r == rate
        ));
    }
    assert_eq!(
        analyze_pcm(AmdConfig::default(), 22_050, &[]).unwrap_err(),
        AmdError::UnsupportedRate(22_050)
    );
}

#[test]
fn offline_analysis_matches_the_streaming_detector_and_reads_wav() {
    let rate = 16_000;
    let pcm = concat(&[
        silence(rate, 300),
        speech(rate, 14, 180, 20, 12_000.0),
        silence(rate, 300),
        tone(rate, 1400.0, 300, 8_000.0),
        silence(rate, 500),
    ]);
    let (_, streamed) = run(rate, &pcm);
    assert_eq!(
        analyze_pcm(AmdConfig::default(), rate, &pcm).unwrap(),
        streamed
    );
    let mut wav = Vec::new();
    {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::new(std::io::Cursor::new(&mut wav), spec).unwrap();
        for &s in &pcm {
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
    }
    assert_eq!(
        analyze_wav(&wav[..], AmdConfig::default()).unwrap(),
        streamed
    );
    assert!(matches!(
        analyze_wav(&b"RIFF"[..], AmdConfig::default()),
        Err(AmdError::Wav(_))
    ));
}

#[test]
fn never_panics_on_random_odd_length_input_or_odd_configs() {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let odd = [0, 1, u32::MAX / 2, u32::MAX];
    for round in 0..60 {
        let pick = |r: &mut Rng, d: u32| {
            if r.below(3) == 0 {
                odd[r.below(4) as usize]
            } else {
                d
            }
        };
        let d0 = AmdConfig::default();
        let cfg = AmdConfig {
            initial_silence_ms: pick(&mut r, d0.initial_silence_ms),
            greeting_ms: pick(&mut r, d0.greeting_ms),
            after_greeting_silence_ms: pick(&mut r, d0.after_greeting_silence_ms),
            short_answer_max_words: pick(&mut r, d0.short_answer_max_words),
            short_answer_silence_ms: pick(&mut r, d0.short_answer_silence_ms),
            short_answer_after_ms: pick(&mut r, d0.short_answer_after_ms),
            total_analysis_time_ms: pick(&mut r, d0.total_analysis_time_ms),
            minimum_word_length_ms: pick(&mut r, d0.minimum_word_length_ms),
            between_words_silence_ms: pick(&mut r, d0.between_words_silence_ms),
            maximum_number_of_words: pick(&mut r, d0.maximum_number_of_words),
            silence_threshold: pick(&mut r, d0.silence_threshold),
            maximum_word_length_ms: pick(&mut r, d0.maximum_word_length_ms),
            vad_threshold: [0.5, 0.0, 1.0, f32::NAN, -3.0][r.below(5) as usize],
            beep_min_ms: pick(&mut r, d0.beep_min_ms),
            beep_timeout_ms: pick(&mut r, d0.beep_timeout_ms),
            transcript_phrases: if r.below(2) == 0 {
                &[]
            } else {
                &["", " ", "x"]
            },
        };
        let rate = if round % 2 == 0 { 8_000 } else { 16_000 };
        let mut d = AmdDetector::new(cfg, rate).unwrap();
        let mut fed = 0usize;
        let mut verdicts = 0;
        let mut beeps = 0;
        while fed < rate as usize * 8 {
            let len = r.below(1_000) as usize;
            let kind = r.below(4);
            let chunk: Vec<i16> = (0..len)
                .map(|i| match kind {
                    0 => r.next() as i16,
                    1 => {
                        if i % 2 == 0 {
                            i16::MAX
                        } else {
                            i16::MIN
                        }
                    }
                    2 => 0,
                    _ => (((i as f64) * 0.7).sin() * 30_000.0) as i16,
                })
                .collect();
            d.push_pcm(&chunk);
            fed += len;
            if r.below(10) == 0 {
                let bytes: Vec<u8> = (0..r.below(64)).map(|_| r.next() as u8).collect();
                d.push_transcript(&String::from_utf8_lossy(&bytes), r.next());
            }
            while let Some(e) = d.poll_event() {
                match e {
                    AmdEvent::Verdict { .. } => verdicts += 1,
                    AmdEvent::Beep { at_ms, end_ms, .. } => {
                        beeps += 1;
                        assert!(verdicts == 1 && at_ms <= end_ms, "{e:?}");
                    }
                }
            }
        }
        assert_eq!(d.elapsed_ms(), (fed / (rate as usize / 50)) as u64 * 20);
        let o = d.finish();
        assert!(verdicts <= 1 && beeps <= 1, "round {round}");
        assert!(!o.to_line().contains('\n'));
    }
}
