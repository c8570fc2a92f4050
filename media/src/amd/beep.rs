//! Voicemail beep detection: a sustained single tone between
//! [`BEEP_MIN_HZ`] and [`BEEP_MAX_HZ`], found with a bank of Goertzel filters.
//!
//! The stream is cut into [`BEEP_WINDOW_MS`] windows every [`BEEP_HOP_MS`]
//! (rectangular: a bin is 50 Hz wide between its first nulls). In each
//! window a Goertzel bank measures the power at every
//! [`BEEP_COARSE_SPACING_HZ`] from 400 to 2100 Hz, then at every
//! [`BEEP_FINE_SPACING_HZ`] within ±25 Hz of the strongest, and the
//! strongest fine bin's share of the window's total energy is compared with
//! [`BEEP_TONE_RATIO`]. A pure tone filling the window puts ≥ 0.95 of its
//! energy into its nearest fine bin; speech spreads its energy over several
//! harmonics and formants (the strongest harmonic of a monotone synthetic
//! voice stays above 0.8 for up to 13 windows), noise over the whole band
//! (white noise: ≈ 0.02 per bin), and dual tones such as ringback (440 + 480 Hz) about
//! half into each. A window is *tonal* when the share is reached and its
//! level is at least [`BEEP_MIN_LEVEL_DBFS`]; a tone partly filling a window
//! has a share of about the part it fills.
//!
//! A beep is a run of tonal windows whose strongest bin stays within 25 Hz
//! of the run's first, with at least `(min_ms − window − hop) / hop`
//! windows (`min_ms` = `AmdConfig::beep_min_ms`, 150 ms by default: 12
//! windows). Every window lying entirely inside the tone is tonal, so a tone
//! at full level for `min_ms − 10` ms (a 150 ms beep with 5 ms fades, then
//! band-limited) is always found, whatever its alignment with the windows;
//! windows count only when the tone fills ≥ 90 % of them, so tones shorter
//! than ≈ `min_ms − 25` ms never are (unit tests: 150 ms at eight alignments
//! in, 120 ms out). The effective band is ≈ 391–2109 Hz (9 Hz beyond the
//! outermost bin a tone keeps < 0.9 of its energy there).
//!
//! The beep is reported when the tone ends (the moment a voicemail starts
//! recording) or once it has lasted [`BEEP_MAX_MS`], with its onset and
//! frequency; [`BeepDetector::sounding`] tells as soon as a tone has lasted
//! the minimum. Cost: 40 Goertzel bins per 10 ms hop over 20 ms windows,
//! ≈ 0.64 M multiply-adds per second of 8 kHz audio (twice that at 16 kHz);
//! no allocation after construction.

/// Lowest beep frequency searched, in Hz (the 400 Hz).
pub const BEEP_MIN_HZ: u32 = 400;
/// Highest beep frequency searched, in Hz (the 2,100 Hz).
pub const BEEP_MAX_HZ: u32 = 2_100;
/// Spacing of the coarse Goertzel bins, in Hz (the 20 ms window's null
/// spacing: a tone is never more than 25 Hz from one).
pub const BEEP_COARSE_SPACING_HZ: f32 = 50.0;
/// Spacing of the fine bins searched around the strongest coarse bin, in
/// Hz: a tone is never more than 6.25 Hz from one, where a pure tone still
/// puts ≥ 0.95 of its energy.
pub const BEEP_FINE_SPACING_HZ: f32 = 12.5;
/// Length of one analysis window, in ms.
pub const BEEP_WINDOW_MS: u32 = 20;
/// Step between windows, in ms.
pub const BEEP_HOP_MS: u32 = 10;
/// Smallest share (0..1) of a window's energy in its strongest fine bin for
/// the window to be tonal. Beeps filling the window measure 0.95–1.0 on the
/// evaluation set (a tone 10 dB above white noise: ≈ 0.91, so quieter beeps
/// in noise are missed); the sustained harmonics of a monotone synthetic
/// voice stay above 0.8 for up to 13 windows in a row, above 0.9 for
/// fewer than 6 (the run a beep needs is 12).
pub const BEEP_TONE_RATIO: f32 = 0.9;
/// Quietest window (RMS, dBFS, full scale = 32768) that can be tonal.
pub const BEEP_MIN_LEVEL_DBFS: f32 = -45.0;
/// A tone still sounding after this long (ms) is reported without waiting
/// for its end.
pub const BEEP_MAX_MS: u32 = 2_000;

/// Fine bins from [`BEEP_MIN_HZ`] to [`BEEP_MAX_HZ`] inclusive (137).
const FINE_BINS: usize = ((BEEP_MAX_HZ - BEEP_MIN_HZ) as f32 / BEEP_FINE_SPACING_HZ) as usize + 1;
/// Fine bins per coarse bin (4).
const FINE_PER_COARSE: usize = (BEEP_COARSE_SPACING_HZ / BEEP_FINE_SPACING_HZ) as usize;
/// Fine bins a run's frequency may drift from its first window (25 Hz).
const MAX_DRIFT_BINS: usize = 2;
/// Longest window (20 ms at 16 kHz), in samples.
const MAX_WINDOW: usize = 320;

const _: () = assert!(FINE_BINS == 137 && FINE_PER_COARSE == 4);

/// Frequency of fine bin `k`, in Hz, rounded.
fn fine_hz(k: usize) -> u32 {
    (BEEP_MIN_HZ as f32 + k as f32 * BEEP_FINE_SPACING_HZ).round() as u32
}

/// A detected beep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Beep {
    /// Onset, in ms of audio since the detector's first sample.
    pub start_ms: u64,
    /// End (or the moment it was reported, for a tone longer than
    /// [`BEEP_MAX_MS`]), in ms since the first sample.
    pub end_ms: u64,
    /// Frequency of the strongest fine bin at the onset, in Hz (±6.25 Hz).
    pub freq_hz: u32,
}

/// The run of tonal windows in progress.
#[derive(Clone, Copy, Debug)]
struct Run {
    first_window: u64,
    bin: usize,
    windows: u32,
    reported: bool,
}

/// Streaming beep detector; see the [module docs](self).
#[derive(Clone)]
pub struct BeepDetector {
    window: usize,
    hop: usize,
    /// Goertzel coefficient 2·cos(2πf/fs) of every fine bin.
    coeffs: [f32; FINE_BINS],
    buf: [f32; MAX_WINDOW],
    filled: usize,
    /// Windows analysed so far; window `k` starts at `k × hop`.
    windows: u64,
    min_windows: u32,
    max_windows: u32,
    min_energy: f32,
    run: Option<Run>,
}

impl BeepDetector {
    /// A detector for `sample_rate_hz` (8000 or 16000; other rates are
    /// clamped to that range for the window length) that reports tones of
    /// at least `min_ms` (values under 2 windows are raised to 2 windows).
    pub fn new(sample_rate_hz: u32, min_ms: u32) -> Self {
        let rate = sample_rate_hz.clamp(8_000, 16_000);
        let window = (rate * BEEP_WINDOW_MS / 1000) as usize;
        let hop = (rate * BEEP_HOP_MS / 1000) as usize;
        let mut coeffs = [0f32; FINE_BINS];
        for (k, c) in coeffs.iter_mut().enumerate() {
            let f = f64::from(BEEP_MIN_HZ) + k as f64 * f64::from(BEEP_FINE_SPACING_HZ);
            *c = (2.0 * (2.0 * std::f64::consts::PI * f / f64::from(rate)).cos()) as f32;
        }
        // Windows entirely inside a tone of `min_ms` less 10 ms (fades and
        // band-limiting soften both edges), whatever its alignment.
        let min_windows =
            (min_ms.saturating_sub(BEEP_WINDOW_MS + BEEP_HOP_MS) / BEEP_HOP_MS).max(2);
        let level = 10f32.powf(BEEP_MIN_LEVEL_DBFS / 20.0);
        BeepDetector {
            window,
            hop,
            coeffs,
            buf: [0.0; MAX_WINDOW],
            filled: 0,
            windows: 0,
            min_windows,
            max_windows: BEEP_MAX_MS / BEEP_HOP_MS,
            min_energy: level * level * window as f32,
            run: None,
        }
    }

    /// Feeds samples (any length); returns the beep that ended (or reached
    /// [`BEEP_MAX_MS`]) within them. Feed at most 20 ms at a time (as
    /// `AmdDetector` does): two beeps cannot both complete within two
    /// windows, but a longer slice could hold two and only the last is
    /// returned.
    pub fn push(&mut self, samples: &[i16]) -> Option<Beep> {
        let mut found = None;
        for &s in samples {
            self.buf[self.filled] = f32::from(s) / 32768.0;
            self.filled += 1;
            if self.filled == self.window {
                if let Some(b) = self.analyse() {
                    found = Some(b);
                }
                self.buf.copy_within(self.hop..self.window, 0);
                self.filled = self.window - self.hop;
            }
        }
        found
    }

    /// Whether the last window was tonal (a run of any length is going on).
    pub fn in_tone(&self) -> bool {
        self.run.is_some()
    }

    /// The tone sounding now, once it has lasted the minimum (its `end_ms`
    /// is the end of the last window so far): evidence of a beep before it
    /// ends.
    pub fn sounding(&self) -> Option<Beep> {
        let run = self.run?;
        (run.windows >= self.min_windows).then(|| self.beep(run))
    }

    /// Ends the stream: a qualifying tone still sounding is reported.
    pub fn finish(&mut self) -> Option<Beep> {
        let run = self.run.take()?;
        self.complete(run)
    }

    /// Scores the full window and advances the run.
    fn analyse(&mut self) -> Option<Beep> {
        let index = self.windows;
        self.windows += 1;
        let tonal = self.tonal_bin();
        match (self.run.as_mut(), tonal) {
            (Some(run), Some(bin)) if bin.abs_diff(run.bin) <= MAX_DRIFT_BINS => {
                run.windows += 1;
                if run.windows >= self.max_windows && !run.reported {
                    run.reported = true;
                    let run = *run;
                    return Some(self.beep(run));
                }
                None
            }
            _ => {
                let ended = self.run.take();
                self.run = tonal.map(|bin| Run {
                    first_window: index,
                    bin,
                    windows: 1,
                    reported: false,
                });
                ended.and_then(|run| self.complete(run))
            }
        }
    }

    /// A finished run, as a beep if it was long enough and not yet reported.
    fn complete(&self, run: Run) -> Option<Beep> {
        (!run.reported && run.windows >= self.min_windows).then(|| self.beep(run))
    }

    fn beep(&self, run: Run) -> Beep {
        let hop_ms = u64::from(BEEP_HOP_MS);
        Beep {
            start_ms: run.first_window * hop_ms,
            end_ms: (run.first_window + u64::from(run.windows) - 1) * hop_ms
                + u64::from(BEEP_WINDOW_MS),
            freq_hz: fine_hz(run.bin),
        }
    }

    /// The strongest fine bin of the current window if the window is tonal:
    /// the strongest of the coarse bins, then the strongest of the fine bins
    /// within ±25 Hz of it.
    fn tonal_bin(&self) -> Option<usize> {
        let x = &self.buf[..self.window];
        let energy: f32 = x.iter().map(|v| v * v).sum();
        if energy < self.min_energy {
            return None;
        }
        let power = |k: usize| {
            let c = self.coeffs[k];
            let (mut s1, mut s2) = (0f32, 0f32);
            for &v in x {
                let s0 = v + c * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
            s1 * s1 + s2 * s2 - c * s1 * s2
        };
        let strongest = |ks: &mut dyn Iterator<Item = usize>| {
            ks.map(|k| (k, power(k)))
                .fold((0usize, 0f32), |b, kp| if kp.1 > b.1 { kp } else { b })
        };
        let coarse = strongest(&mut (0..FINE_BINS).step_by(FINE_PER_COARSE)).0;
        let lo = coarse.saturating_sub(FINE_PER_COARSE / 2);
        let hi = (coarse + FINE_PER_COARSE / 2).min(FINE_BINS - 1);
        let (bin, p) = strongest(&mut (lo..=hi));
        // A sinusoid filling the window: power = (N·A/2)², energy = N·A²/2.
        let share = 2.0 * p / (self.window as f32 * energy);
        (share >= BEEP_TONE_RATIO).then_some(bin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ms` of a sine at `hz`, amplitude `amp`, at `rate`.
    fn tone(rate: u32, hz: f64, ms: u32, amp: f64) -> Vec<i16> {
        let n = (rate * ms / 1000) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                (amp * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
            })
            .collect()
    }

    fn silence(rate: u32, ms: u32) -> Vec<i16> {
        vec![0; (rate * ms / 1000) as usize]
    }

    /// Deterministic xorshift white noise in ±amp.
    fn noise(n: usize, amp: f64, seed: u64) -> Vec<i16> {
        let mut x = seed.max(1);
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (((x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * amp) as i16
            })
            .collect()
    }

    /// Every beep found in `pcm`, fed in 20 ms frames, plus `finish`.
    fn beeps(rate: u32, pcm: &[i16]) -> Vec<Beep> {
        let mut d = BeepDetector::new(rate, 150);
        let mut out: Vec<Beep> = pcm
            .chunks((rate / 50) as usize)
            .filter_map(|f| d.push(f))
            .collect();
        out.extend(d.finish());
        out
    }

    /// `lead_ms` of silence (shifting the alignment), the tone, 300 ms silence.
    fn framed(rate: u32, lead_ms: u32, body: &[i16]) -> Vec<i16> {
        let mut v = silence(rate, lead_ms);
        v.extend_from_slice(body);
        v.extend(silence(rate, 300));
        v
    }

    #[test]
    fn finds_a_1khz_beep_with_its_onset_end_and_frequency() {
        for rate in [8_000, 16_000] {
            let pcm = framed(rate, 1000, &tone(rate, 1000.0, 400, 8000.0));
            let found = beeps(rate, &pcm);
            assert_eq!(found.len(), 1, "{rate} Hz: {found:?}");
            let b = found[0];
            assert!(b.start_ms.abs_diff(1000) <= 10, "{b:?}");
            assert!(b.end_ms.abs_diff(1400) <= 10, "{b:?}");
            assert!(b.freq_hz.abs_diff(1000) <= 13, "{b:?}");
        }
    }

    #[test]
    fn a_150_ms_tone_is_a_beep_at_every_alignment_and_120_ms_never_is() {
        for rate in [8_000, 16_000] {
            for lead in [0, 3, 5, 7, 10, 13, 17, 19] {
                let ok = framed(rate, 500 + lead, &tone(rate, 850.0, 150, 8000.0));
                assert_eq!(beeps(rate, &ok).len(), 1, "150 ms, lead +{lead}, {rate} Hz");
                let short = framed(rate, 500 + lead, &tone(rate, 850.0, 120, 8000.0));
                assert!(
                    beeps(rate, &short).is_empty(),
                    "120 ms, lead +{lead}, {rate} Hz"
                );
            }
        }
    }

    #[test]
    fn the_band_edges_are_in_and_tones_outside_are_out() {
        for rate in [8_000, 16_000] {
            for hz in [400.0, 412.0, 1337.0, 2088.0, 2100.0] {
                let pcm = framed(rate, 200, &tone(rate, hz, 300, 8000.0));
                let found = beeps(rate, &pcm);
                assert_eq!(found.len(), 1, "{hz} Hz at {rate}: {found:?}");
                assert!(f64::from(found[0].freq_hz) - hz <= 13.0, "{found:?}");
            }
            for hz in [300.0, 350.0, 380.0, 2120.0, 2200.0, 3000.0] {
                let pcm = framed(rate, 200, &tone(rate, hz, 500, 8000.0));
                assert!(beeps(rate, &pcm).is_empty(), "{hz} Hz at {rate}");
            }
        }
    }

    #[test]
    fn noise_dual_tones_and_quiet_tones_are_not_beeps() {
        let rate = 8_000;
        assert!(beeps(rate, &noise(8_000 * 5, 8000.0, 7)).is_empty());
        // Ringback: 440 + 480 Hz, 2 s.
        let (a, b) = (
            tone(rate, 440.0, 2000, 5000.0),
            tone(rate, 480.0, 2000, 5000.0),
        );
        let dual: Vec<i16> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        assert!(beeps(rate, &framed(rate, 100, &dual)).is_empty());
        // A 1 kHz tone at -60 dBFS.
        assert!(beeps(rate, &framed(rate, 100, &tone(rate, 1000.0, 500, 32.0))).is_empty());
    }

    #[test]
    fn a_beep_15_db_above_white_noise_is_found() {
        let rate = 8_000;
        let mut pcm = framed(rate, 800, &tone(rate, 1400.0, 300, 6000.0));
        // Tone RMS ≈ 4243; uniform noise ±1300 has RMS ≈ 750: ≈ 15 dB.
        for (s, n) in pcm.iter_mut().zip(noise(100_000, 1300.0, 3)) {
            *s = s.saturating_add(n);
        }
        let found = beeps(rate, &pcm);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].start_ms.abs_diff(800) <= 20, "{found:?}");
    }

    #[test]
    fn a_long_tone_is_reported_once_after_the_maximum() {
        let rate = 8_000;
        let mut d = BeepDetector::new(rate, 150);
        let pcm = tone(rate, 1000.0, 3000, 8000.0);
        let mut found = Vec::new();
        for (i, f) in pcm.chunks(160).enumerate() {
            if let Some(b) = d.push(f) {
                found.push((i, b));
            }
        }
        assert!(d.finish().is_none(), "reported already");
        assert_eq!(found.len(), 1, "{found:?}");
        let (frame, b) = found[0];
        assert!(
            (frame as u64 * 20).abs_diff(u64::from(BEEP_MAX_MS)) <= 20,
            "{frame}"
        );
        assert_eq!(b.start_ms, 0);
    }
}
