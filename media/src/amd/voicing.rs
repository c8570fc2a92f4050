//! Voiced / unvoiced decision per 20 ms frame for the AMD pattern features.
//!
//! A frame is voiced when all three hold:
//!
//! 1. the crate's earshot VAD ([`crate::vad`], a small neural model, silence
//!    gate on) calls it speech;
//! 2. its level is at least [`VOICE_MARGIN_DB`] above a tracked noise floor
//!    (the floor drops to any quieter frame at once and rises by
//!    [`FLOOR_RISE_DB`] per frame otherwise);
//! 3. its mean absolute amplitude reaches `AmdConfig::silence_threshold`
//!    (Asterisk's `silenceThreshold`, its only voicing test).
//!
//! **Why both a VAD and an energy floor** (measured on the evaluation set,
//! `tools/amd-eval`, 75 clips, other settings at their defaults):
//!
//! | voicing                     | correct | what goes wrong                            |
//! |-----------------------------|---------|--------------------------------------------|
//! | earshot alone               | 71      | its context keeps white noise at 5 dB SNR "speech" after a word: a noisy "Hello?" becomes a 2 s greeting |
//! | floor alone, +3 or +6 dB    | 72      | nothing more than with both (the set's noise is all stationary) |
//! | earshot and floor, +3 dB    | 72      | —                                          |
//! | earshot and floor, +10 dB   | 70      | quiet syllables in noise are lost: a noisy "Hello?" and a noisy greeting are misread |
//!
//! A fixed threshold alone (Asterisk) calls every frame of a noisy line
//! voiced. The floor handles stationary noise; earshot is kept because an
//! energy test calls *any* sound above the floor voice (a door, music, a
//! TV), which the set does not contain but calls do. It is cheap: in a
//! release build voicing costs ≈ 1.4 ms of CPU per second of 8 kHz audio
//! (earshot and the upsampler), the beep detector ≈ 1.5 ms.
//!
//! 8 kHz input is interpolated to 16 kHz for earshot with the crate's
//! halfband [`Upsampler8kTo16k`]; no allocation after construction.

use crate::resample::Upsampler8kTo16k;
use crate::vad::Vad;
use crate::{SAMPLES_PER_FRAME_16K, WIDEBAND_HZ};

/// Per-frame voicing classifier; see the [module docs](self).
pub(crate) struct Voicing {
    vad: Vad,
    up: Option<Upsampler8kTo16k>,
    wide: Vec<i16>,
    silence_threshold: u32,
    /// Tracked noise floor, in dB (frame mean square, full scale = 0 dB).
    floor_db: Option<f32>,
}

/// How far above the tracked noise floor a frame must be to be voiced, in
/// dB (see the [module docs](self)).
pub(crate) const VOICE_MARGIN_DB: f32 = 3.0;

/// Lowest noise floor tracked, in dB of mean square (digital silence would
/// otherwise pull it to minus infinity).
pub(crate) const FLOOR_MIN_DB: f32 = -80.0;
/// How fast the floor rises while frames stay above it, in dB per frame
/// (2.5 dB/s at 20 ms frames); it falls to any quieter frame at once.
pub(crate) const FLOOR_RISE_DB: f32 = 0.05;

impl Voicing {
    /// A classifier for frames at `sample_rate_hz` (8000 or 16000) with
    /// earshot's speech threshold `vad_threshold` and Asterisk's
    /// `silence_threshold` (mean |sample|).
    pub(crate) fn new(sample_rate_hz: u32, vad_threshold: f32, silence_threshold: u32) -> Self {
        Voicing {
            vad: Vad::new(vad_threshold),
            up: (sample_rate_hz != WIDEBAND_HZ).then(Upsampler8kTo16k::new),
            wide: Vec::with_capacity(SAMPLES_PER_FRAME_16K),
            silence_threshold,
            floor_db: None,
        }
    }

    /// Whether one 20 ms frame at the classifier's rate is voiced.
    pub(crate) fn frame(&mut self, frame: &[i16]) -> bool {
        let db = level_db(frame);
        let floor = match self.floor_db {
            Some(f) if db >= f => f + FLOOR_RISE_DB,
            _ => db.max(FLOOR_MIN_DB),
        };
        self.floor_db = Some(floor);
        let loud = db >= floor + VOICE_MARGIN_DB && mean_abs(frame) >= self.silence_threshold;
        let speech = match self.up.as_mut() {
            Some(up) => {
                self.wide.clear();
                up.process(frame, &mut self.wide);
                self.vad.process(&self.wide).speech
            }
            None => self.vad.process(frame).speech,
        };
        speech && loud
    }
}

/// Mean square of `frame` in dB (full-scale square wave = 0 dB; −100 for
/// digital silence or an empty frame).
pub(crate) fn level_db(frame: &[i16]) -> f32 {
    if frame.is_empty() {
        return -100.0;
    }
    let sum: f64 = frame.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let ms = sum / frame.len() as f64 / (32768.0 * 32768.0);
    if ms <= 1e-10 {
        -100.0
    } else {
        (10.0 * ms.log10()) as f32
    }
}

/// Mean absolute sample value of `frame` (0 for an empty frame).
pub(crate) fn mean_abs(frame: &[i16]) -> u32 {
    if frame.is_empty() {
        return 0;
    }
    let sum: u64 = frame.iter().map(|&s| u64::from(s.unsigned_abs())).sum();
    (sum / frame.len() as u64) as u32
}
