//! Voice activity detection on 20 ms, 16 kHz frames, using earshot.
//!
//! earshot scores 256-sample (16 ms) frames at 16 kHz; callers work in 320-
//! sample (20 ms) frames. [`Vad`] re-blocks the stream, carrying the
//! remainder across calls, so every input sample is scored exactly once.
//!
//! **Silence gate.** A 16 ms block whose RMS level is below
//! [`VAD_SILENCE_FLOOR_DBFS`] is non-speech whatever the model says. earshot
//! looks at several blocks of context, so its score stays above 0.5 for about
//! 60 ms after speech stops; on a clean line the gate ends the utterance
//! [`VAD_GATE_AFTER_BLOCKS`] blocks after the last audible one instead,
//! which comes straight off every voice-to-voice turn. Lines with background noise above the floor are
//! unaffected (the model decides). After [`VAD_IDLE_AFTER_BLOCKS`] quiet
//! blocks in a row the model's state has settled on silence and it is no
//! longer run until a block above the floor arrives: a silent caller costs
//! almost nothing. The first audible block is scored from that settled state,
//! so onsets are detected as without the gate (tested below).

use earshot::Detector;

/// Samples earshot scores at a time (16 ms at 16 kHz).
pub const VAD_BLOCK_SAMPLES: usize = 256;
/// Default speech threshold on earshot's probability (its documented 0.5).
pub const VAD_DEFAULT_THRESHOLD: f32 = 0.5;

/// RMS level (dBFS, full scale = 32768) below which a 16 ms block is
/// silence for the [gate](self): well under telephone speech (active speech
/// level around −26 dBov, quiet talkers −40) and above digital silence and
/// the idle noise of a clean line.
pub const VAD_SILENCE_FLOOR_DBFS: f32 = -55.0;
/// Quiet blocks in a row from which the gate applies: the first two (up to
/// 32 ms) are left to the model, so the brief silence of a stop consonant
/// (digital silence in synthetic or noise-gated audio) neither splits an
/// utterance nor resets the continuous-speech count a barge-in needs.
pub const VAD_GATE_AFTER_BLOCKS: u32 = 3;
/// Quiet blocks in a row (16 ms each, ~0.5 s) after which the model is no
/// longer run until sound returns.
pub const VAD_IDLE_AFTER_BLOCKS: u32 = 32;

/// Mean square of a block at [`VAD_SILENCE_FLOOR_DBFS`].
fn floor_mean_square() -> f64 {
    let amp = 32768.0 * 10f64.powf(f64::from(VAD_SILENCE_FLOOR_DBFS) / 20.0);
    amp * amp
}

/// Decision for one [`Vad::process`] call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VadDecision {
    /// `probability >= threshold`.
    pub speech: bool,
    /// Highest earshot score (0.0..=1.0) among the 16 ms blocks completed in
    /// this call; if none completed, the previous call's value.
    pub probability: f32,
}

/// Streaming VAD for one audio stream; see the [module docs](self).
pub struct Vad {
    detector: Box<Detector>,
    threshold: f32,
    carry: [i16; VAD_BLOCK_SAMPLES],
    carried: usize,
    last: f32,
    gate: bool,
    floor_ms: f64,
    quiet_blocks: u32,
    /// Blocks the model scored / skipped because the line was idle.
    scored: u64,
    skipped: u64,
}

impl Vad {
    /// A detector that reports speech when earshot's probability is at least
    /// `threshold` (0.0..=1.0; [`VAD_DEFAULT_THRESHOLD`] is a good start).
    /// Non-finite thresholds fall back to the default. The [silence gate](self) is on.
    pub fn new(threshold: f32) -> Self {
        Self::with_gate(threshold, true)
    }

    /// As [`Vad::new`], with the [silence gate](self) on or off (off: every
    /// block is scored and the model alone decides).
    pub fn with_gate(threshold: f32, gate: bool) -> Self {
        let threshold = if threshold.is_finite() {
            threshold
        } else {
            VAD_DEFAULT_THRESHOLD
        };
        Vad {
            detector: Detector::default_boxed(),
            threshold,
            carry: [0; VAD_BLOCK_SAMPLES],
            carried: 0,
            last: 0.0,
            gate,
            floor_ms: floor_mean_square(),
            quiet_blocks: 0,
            scored: 0,
            skipped: 0,
        }
    }

    /// Blocks the model scored, and blocks skipped while the line was idle.
    pub fn blocks_scored_skipped(&self) -> (u64, u64) {
        (self.scored, self.skipped)
    }

    /// Scores one complete 256-sample block, applying the gate.
    fn score_block(&mut self) -> f32 {
        if !self.gate {
            self.scored += 1;
            return self.detector.predict_i16(&self.carry).clamp(0.0, 1.0);
        }
        let energy: i64 = self
            .carry
            .iter()
            .map(|&s| i64::from(s) * i64::from(s))
            .sum();
        let quiet = (energy as f64 / VAD_BLOCK_SAMPLES as f64) < self.floor_ms;
        if !quiet {
            self.quiet_blocks = 0;
            self.scored += 1;
            return self.detector.predict_i16(&self.carry).clamp(0.0, 1.0);
        }
        self.quiet_blocks = self.quiet_blocks.saturating_add(1);
        if self.quiet_blocks > VAD_IDLE_AFTER_BLOCKS {
            self.skipped += 1;
            return 0.0;
        }
        // Keep the model's context current through the first quiet blocks.
        self.scored += 1;
        let p = self.detector.predict_i16(&self.carry).clamp(0.0, 1.0);
        if self.quiet_blocks < VAD_GATE_AFTER_BLOCKS {
            p // a stop closure inside a word: the model's context bridges it
        } else {
            0.0
        }
    }

    /// Scores 16 kHz PCM (normally one 320-sample, 20 ms frame; any length
    /// works). Each 320-sample frame completes one or two 256-sample blocks.
    pub fn process(&mut self, frame_16k: &[i16]) -> VadDecision {
        let mut best: Option<f32> = None;
        let mut rest = frame_16k;
        while !rest.is_empty() {
            let take = (VAD_BLOCK_SAMPLES - self.carried).min(rest.len());
            self.carry[self.carried..self.carried + take].copy_from_slice(&rest[..take]);
            self.carried += take;
            rest = &rest[take..];
            if self.carried == VAD_BLOCK_SAMPLES {
                self.carried = 0;
                let p = self.score_block();
                best = Some(best.map_or(p, |b: f32| b.max(p)));
            }
        }
        if let Some(p) = best {
            self.last = p;
        }
        VadDecision {
            speech: self.last >= self.threshold,
            probability: self.last,
        }
    }

    /// Clears detector state and the carried samples (new stream).
    pub fn reset(&mut self) {
        self.detector.reset();
        self.carried = 0;
        self.last = 0.0;
        self.quiet_blocks = 0;
    }

    /// The speech threshold in use.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SAMPLES_PER_FRAME_16K;

    /// Deterministic xorshift white noise, uniform in ±amp.
    fn white(n: usize, amp: f32, seed: u64) -> Vec<f32> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ((x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32 * amp
            })
            .collect()
    }

    /// Pink-ish noise: Paul Kellet's economy filter over white noise.
    fn pink(n: usize, amp: f32, seed: u64) -> Vec<f32> {
        let w = white(n, 1.0, seed);
        let (mut b0, mut b1, mut b2) = (0f32, 0f32, 0f32);
        let raw: Vec<f32> = w
            .iter()
            .map(|&v| {
                b0 = 0.99765 * b0 + v * 0.0990460;
                b1 = 0.96300 * b1 + v * 0.2965164;
                b2 = 0.57000 * b2 + v * 1.0526913;
                b0 + b1 + b2 + v * 0.1848
            })
            .collect();
        let peak = raw.iter().fold(0f32, |m, v| m.max(v.abs()));
        raw.iter().map(|v| v / peak * amp).collect()
    }

    fn to_i16(x: &[f32]) -> Vec<i16> {
        x.iter().map(|&v| v as i16).collect()
    }

    fn speech_fraction(vad: &mut Vad, pcm: &[i16]) -> f64 {
        let frames: Vec<_> = pcm.chunks_exact(SAMPLES_PER_FRAME_16K).collect();
        let speech = frames.iter().filter(|f| vad.process(f).speech).count();
        speech as f64 / frames.len() as f64
    }

    #[test]
    fn digital_silence_is_not_speech() {
        let mut vad = Vad::new(VAD_DEFAULT_THRESHOLD);
        let silence = [0i16; SAMPLES_PER_FRAME_16K];
        for _ in 0..100 {
            let d = vad.process(&silence);
            assert!(!d.speech, "{d:?}");
            assert!((0.0..=1.0).contains(&d.probability));
        }
    }

    #[test]
    fn stationary_noise_is_mostly_not_speech() {
        for (name, noise) in [
            ("white -30 dBFS", to_i16(&white(16_000 * 5, 1000.0, 1))),
            ("white -12 dBFS", to_i16(&white(16_000 * 5, 8000.0, 2))),
            ("pink -20 dBFS", to_i16(&pink(16_000 * 5, 3000.0, 3))),
        ] {
            let mut vad = Vad::new(VAD_DEFAULT_THRESHOLD);
            let f = speech_fraction(&mut vad, &noise);
            assert!(
                f < 0.1,
                "{name}: {:.0}% of frames flagged as speech",
                f * 100.0
            );
        }
    }

    /// A synthetic sustained vowel /a/: a 120 Hz pulse train with 3 % vibrato
    /// through three formant resonators (700, 1220, 2600 Hz), with a 4 Hz
    /// syllabic envelope. Not real speech, but speech-like enough that
    /// earshot scores it well above noise.
    fn synthetic_vowel(n: usize, amp: f64) -> Vec<i16> {
        use std::f64::consts::PI;
        let fs = 16_000.0;
        let mut phase = 0.0;
        let mut y: Vec<f64> = (0..n)
            .map(|i| {
                phase += 120.0 * (1.0 + 0.03 * (2.0 * PI * 5.0 * i as f64 / fs).sin()) / fs;
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
            *v *= 0.5 - 0.5 * (2.0 * PI * 4.0 * i as f64 / fs).cos();
        }
        let peak = y.iter().fold(0f64, |m, v| m.max(v.abs()));
        y.iter().map(|v| (v / peak * amp) as i16).collect()
    }

    #[test]
    fn synthetic_voiced_signal_scores_above_noise() {
        // Honest scope: this checks the wrapper feeds earshot correctly
        // re-blocked audio (a broken re-blocking destroys the pitch structure
        // and the score), not earshot's accuracy on real speech.
        let vowel = synthetic_vowel(16_000 * 4, 12_000.0);
        let noise = to_i16(&white(16_000 * 4, 3000.0, 9));
        let mean_p = |pcm: &[i16]| {
            let mut vad = Vad::new(VAD_DEFAULT_THRESHOLD);
            let ps: Vec<f32> = pcm
                .chunks_exact(SAMPLES_PER_FRAME_16K)
                .map(|f| vad.process(f).probability)
                .collect();
            ps.iter().sum::<f32>() / ps.len() as f32
        };
        let (pv, pn) = (mean_p(&vowel), mean_p(&noise));
        assert!(pv > pn + 0.3, "vowel {pv:.2} vs noise {pn:.2}");
        let mut vad = Vad::new(VAD_DEFAULT_THRESHOLD);
        assert!(speech_fraction(&mut vad, &vowel) > 0.5);
    }

    #[test]
    fn reblocks_320_sample_frames_into_256_sample_blocks() {
        // 4 frames of 320 = 1280 = 5 blocks of 256: the 4th call completes two
        // blocks, the rest one each, and no sample is left over.
        let mut vad = Vad::new(0.5);
        let frame = [0i16; SAMPLES_PER_FRAME_16K];
        for _ in 0..4 {
            vad.process(&frame);
        }
        assert_eq!(vad.carried, 0);
        // Odd lengths carry over; a tiny call reports the previous decision.
        vad.process(&frame[..100]);
        assert_eq!(vad.carried, 100);
        let before = vad.process(&[]);
        assert_eq!(before.probability, vad.last);
        vad.reset();
        assert_eq!(vad.carried, 0);
        assert!(!vad.process(&frame).speech);
    }

    #[test]
    fn threshold_zero_flags_everything_and_nan_falls_back() {
        let mut vad = Vad::with_gate(0.0, false);
        assert!(vad.process(&[0; SAMPLES_PER_FRAME_16K]).speech);
        assert_eq!(Vad::new(f32::NAN).threshold(), VAD_DEFAULT_THRESHOLD);
    }

    fn decisions(vad: &mut Vad, pcm: &[i16]) -> Vec<bool> {
        pcm.chunks_exact(SAMPLES_PER_FRAME_16K)
            .map(|f| vad.process(f).speech)
            .collect()
    }

    #[test]
    fn gate_ends_speech_at_the_last_audible_block() {
        // Vowel, then digital silence: without the gate earshot's context
        // keeps flagging speech for a while; with it, speech ends within two
        // frames of the silence.
        let mut pcm = synthetic_vowel(16_000 * 2, 12_000.0);
        let speech_end = pcm.len();
        pcm.extend(std::iter::repeat_n(0i16, 16_000));
        let gated = decisions(&mut Vad::new(VAD_DEFAULT_THRESHOLD), &pcm);
        let plain = decisions(&mut Vad::with_gate(VAD_DEFAULT_THRESHOLD, false), &pcm);
        let first_silent_frame = speech_end / SAMPLES_PER_FRAME_16K;
        let last = |d: &[bool]| d.iter().rposition(|&s| s).expect("some speech");
        assert!(
            last(&gated) <= first_silent_frame + 1,
            "gated speech ran into silence: {} vs {first_silent_frame}",
            last(&gated)
        );
        assert!(
            last(&plain) >= last(&gated),
            "the gate only ever shortens speech: {} vs {}",
            last(&plain),
            last(&gated)
        );
    }

    #[test]
    fn idle_line_skips_the_model_and_onsets_match_the_ungated_detector() {
        // 3 s of silence, the vowel, 3 s of silence, the vowel again.
        let vowel = synthetic_vowel(16_000 * 2, 12_000.0);
        let mut pcm = vec![0i16; 16_000 * 3];
        pcm.extend(&vowel);
        pcm.extend(std::iter::repeat_n(0i16, 16_000 * 3));
        pcm.extend(&vowel);
        let mut gated = Vad::new(VAD_DEFAULT_THRESHOLD);
        let g = decisions(&mut gated, &pcm);
        let p = decisions(&mut Vad::with_gate(VAD_DEFAULT_THRESHOLD, false), &pcm);
        let (scored, skipped) = gated.blocks_scored_skipped();
        assert!(
            skipped > scored,
            "idle blocks skipped: {scored} scored, {skipped} skipped"
        );
        // Where the vowel is audible, decisions agree (onset included).
        let onset = |d: &[bool], from: usize| d[from..].iter().position(|&s| s).map(|i| i + from);
        let second = (16_000 * 8) / SAMPLES_PER_FRAME_16K;
        // Within one 20 ms frame: the skipped blocks leave the model's state
        // where 0.5 s of silence put it, not 3 s.
        let close = |a: Option<usize>, b: Option<usize>| match (a, b) {
            (Some(a), Some(b)) => a.abs_diff(b) <= 1,
            _ => false,
        };
        assert!(
            close(onset(&g, 0), onset(&p, 0)),
            "first onset {:?} vs {:?}",
            onset(&g, 0),
            onset(&p, 0)
        );
        assert!(
            close(onset(&g, second), onset(&p, second)),
            "onset after an idle line {:?} vs {:?}",
            onset(&g, second),
            onset(&p, second)
        );
        let agree = g.iter().zip(&p).filter(|(a, b)| a == b).count();
        assert!(
            agree as f64 / g.len() as f64 > 0.95,
            "{agree} of {}",
            g.len()
        );
    }

    #[test]
    fn noise_above_the_floor_is_left_to_the_model() {
        // -30 dBFS white noise is above the floor: every block is scored.
        let noise = to_i16(&white(16_000 * 2, 1000.0, 4));
        let mut vad = Vad::new(VAD_DEFAULT_THRESHOLD);
        decisions(&mut vad, &noise);
        assert_eq!(vad.blocks_scored_skipped().1, 0);
    }
}
