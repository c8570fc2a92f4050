//! Sample-rate conversion.
//!
//! - [`Resampler`]: general streaming converter between the rates TTS/STT
//!   providers use (8 000, 16 000, 22 050, 24 000, 44 100, 48 000 Hz), built
//!   on rubato's synchronous FFT resampler. Used per TTS chunk, not per tick.
//! - [`Upsampler8kTo16k`] / [`Downsampler16kTo8k`]: the 2:1 paths used on
//!   every 20 ms frame, a 63-tap Kaiser-windowed halfband FIR (≈70 dB
//!   stopband, passband to ≈3.4 kHz at the 8 kHz side). Every other tap is
//!   zero, so they cost 16 multiply-adds per output sample, keep their state
//!   across calls (any input length) and never allocate once `out` has
//!   capacity.
//!
//! All converters take and produce mono 16-bit PCM; results are rounded and
//! saturated.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler as _, WindowFunction};

/// Sample rates accepted by [`Resampler::new`], in Hz.
pub const SUPPORTED_RATES_HZ: [u32; 6] = [8_000, 16_000, 22_050, 24_000, 44_100, 48_000];
/// Block length of the streaming [`Resampler`], in milliseconds: output is
/// produced per block of input. Conversions to or from 22 050 Hz use twice
/// this (40 ms) so that the converter delay is a whole number of samples.
pub const RESAMPLER_BLOCK_MS: u32 = 20;

/// Why a [`Resampler`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResampleError {
    /// A rate outside [`SUPPORTED_RATES_HZ`].
    #[error("unsupported sample rate {0} Hz (supported: 8000, 16000, 22050, 24000, 44100, 48000)")]
    UnsupportedRate(u32),
    /// The underlying resampler refused the configuration.
    #[error("resampler construction failed: {0}")]
    Construction(String),
}

/// Streaming mono resampler between any two of [`SUPPORTED_RATES_HZ`].
///
/// Input is buffered into [`RESAMPLER_BLOCK_MS`] blocks; the converter's
/// internal delay is trimmed, so the output is time-aligned with the input
/// and, after [`flush`](Self::flush), holds `round(n_in × to / from)`
/// samples. Equal rates pass samples through unchanged.
pub struct Resampler {
    inner: Option<FftState>,
    from_hz: u32,
    to_hz: u32,
}

struct FftState {
    fft: Fft<f32>,
    /// Input samples waiting for a full block (capacity: one block).
    pending: Vec<f32>,
    /// Output of one block (capacity: one block).
    scratch: Vec<f32>,
    chunk_in: usize,
    /// Output samples still to discard (converter delay).
    to_skip: usize,
    /// Input samples consumed since the last flush.
    total_in: u64,
    /// Output samples emitted since the last flush.
    total_out: u64,
}

impl Resampler {
    /// A resampler from `from_hz` to `to_hz`; both must be in
    /// [`SUPPORTED_RATES_HZ`].
    pub fn new(from_hz: u32, to_hz: u32) -> Result<Self, ResampleError> {
        for rate in [from_hz, to_hz] {
            if !SUPPORTED_RATES_HZ.contains(&rate) {
                return Err(ResampleError::UnsupportedRate(rate));
            }
        }
        if from_hz == to_hz {
            return Ok(Resampler {
                inner: None,
                from_hz,
                to_hz,
            });
        }
        // The converter's delay is half an FFT block; keep both block sizes
        // even so it is a whole number of samples on both sides (22 050 Hz
        // needs a doubled block).
        let blocks_per_s = 1000 / RESAMPLER_BLOCK_MS;
        let even = |hz: u32| (hz / blocks_per_s).is_multiple_of(2);
        let scale = if even(from_hz) && even(to_hz) { 1 } else { 2 };
        let chunk_in = (from_hz / blocks_per_s * scale) as usize;
        let fft = Fft::<f32>::new_custom(
            from_hz as usize,
            to_hz as usize,
            chunk_in,
            1,
            1,
            WindowFunction::BlackmanHarris2,
            FixedSync::Both,
        )
        .map_err(|e| ResampleError::Construction(e.to_string()))?;
        if fft.input_frames_next() != chunk_in {
            return Err(ResampleError::Construction(format!(
                "unexpected block size {} for {from_hz} -> {to_hz} Hz",
                fft.input_frames_next()
            )));
        }
        let chunk_out = fft.output_frames_max();
        let to_skip = fft.output_delay();
        Ok(Resampler {
            inner: Some(FftState {
                fft,
                pending: Vec::with_capacity(chunk_in),
                scratch: vec![0.0; chunk_out],
                chunk_in,
                to_skip,
                total_in: 0,
                total_out: 0,
            }),
            from_hz,
            to_hz,
        })
    }

    /// Input rate in Hz.
    pub fn from_hz(&self) -> u32 {
        self.from_hz
    }

    /// Output rate in Hz.
    pub fn to_hz(&self) -> u32 {
        self.to_hz
    }

    /// Converts `input` (any length), appending whatever output is ready to
    /// `out`. State carries over to the next call.
    pub fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        let Some(st) = self.inner.as_mut() else {
            out.extend_from_slice(input);
            return;
        };
        st.total_in += input.len() as u64;
        let mut rest = input;
        while !rest.is_empty() {
            let take = (st.chunk_in - st.pending.len()).min(rest.len());
            st.pending.extend(rest[..take].iter().map(|&s| s as f32));
            rest = &rest[take..];
            if st.pending.len() == st.chunk_in {
                st.run_block(None, u64::MAX, out);
                st.pending.clear();
            }
        }
    }

    /// Ends the stream: converts buffered input, drains the converter's delay
    /// and appends the tail to `out`, then resets so the resampler can start a
    /// new, independent stream.
    pub fn flush(&mut self, out: &mut Vec<i16>) {
        let (from, to) = (self.from_hz as u64, self.to_hz as u64);
        let Some(st) = self.inner.as_mut() else {
            return;
        };
        let expected = (st.total_in * to + from / 2) / from;
        let mut partial = st.pending.len();
        // Each block yields at least one output sample, so this terminates;
        // the bound is a belt-and-braces guard.
        let mut guard = 8;
        while st.total_out < expected && guard > 0 {
            st.run_block(Some(partial), expected, out);
            st.pending.clear();
            partial = 0;
            guard -= 1;
        }
        st.pending.clear();
        st.fft.reset();
        st.to_skip = st.fft.output_delay();
        st.total_in = 0;
        st.total_out = 0;
    }
}

impl FftState {
    /// Runs one block from `pending` (`partial`: valid samples, rest zero),
    /// emitting at most up to `limit` total output samples.
    fn run_block(&mut self, partial: Option<usize>, limit: u64, out: &mut Vec<i16>) {
        let indexing = Indexing {
            partial_len: partial,
            ..Indexing::default()
        };
        let input_len = self.pending.len();
        let output_len = self.scratch.len();
        let produced = {
            let (Ok(input), Ok(mut output)) = (
                InterleavedSlice::new(&self.pending[..], 1, input_len),
                InterleavedSlice::new_mut(&mut self.scratch[..], 1, output_len),
            ) else {
                return;
            };
            match self
                .fft
                .process_into_buffer(&input, &mut output, Some(&indexing))
            {
                Ok((_, produced)) => produced,
                Err(_) => {
                    debug_assert!(false, "rubato rejected a correctly sized block");
                    return;
                }
            }
        };
        let skip = self.to_skip.min(produced);
        self.to_skip -= skip;
        let room = limit.saturating_sub(self.total_out) as usize;
        let emit = (produced - skip).min(room);
        out.extend(self.scratch[skip..skip + emit].iter().map(|&v| to_i16(v)));
        self.total_out += emit as u64;
    }
}

#[inline]
fn to_i16(v: f32) -> i16 {
    // Round half away from zero without a libm call (`f32::round` is one on
    // baseline x86-64); `as` truncates toward zero, saturates, maps NaN to 0.
    (v + 0.5f32.copysign(v)) as i16
}

/// Nonzero taps on each side of the halfband centre.
const HB_SIDE_TAPS: usize = 16;
/// Total halfband FIR length (4 × 16 − 1 = 63).
pub const HALFBAND_TAPS: usize = 4 * HB_SIDE_TAPS - 1;
/// Centre index of the halfband FIR.
const HB_CENTER: usize = HALFBAND_TAPS / 2;
/// Kaiser window β for ≈70 dB stopband attenuation.
const HB_KAISER_BETA: f64 = 6.8;
/// Ring buffer length of the decimator (power of two ≥ [`HALFBAND_TAPS`]).
const DOWN_RING: usize = 64;
/// Group delay of both 2:1 filters, in 16 kHz samples (31 ≈ 1.9 ms).
pub const HALFBAND_DELAY_16K: usize = HB_CENTER;

/// The nonzero off-centre taps `h[C ± (2i+1)]`, i = 0..16, normalised so
/// the whole filter has unity DC gain (centre tap is exactly 0.5).
fn halfband_side_taps() -> [f32; HB_SIDE_TAPS] {
    let mut side = [0f64; HB_SIDE_TAPS];
    let half_len = HB_CENTER as f64;
    let i0_beta = bessel_i0(HB_KAISER_BETA);
    for (i, tap) in side.iter_mut().enumerate() {
        let k = (2 * i + 1) as f64;
        let sinc = (std::f64::consts::FRAC_PI_2 * k).sin() / (std::f64::consts::PI * k);
        let r = k / half_len;
        let w = bessel_i0(HB_KAISER_BETA * (1.0 - r * r).max(0.0).sqrt()) / i0_beta;
        *tap = sinc * w;
    }
    // Unity DC gain: 0.5 + 2 Σ side = 1.
    let sum: f64 = side.iter().sum();
    let mut out = [0f32; HB_SIDE_TAPS];
    for (o, s) in out.iter_mut().zip(side) {
        *o = (s * 0.25 / sum) as f32;
    }
    out
}

/// Zeroth-order modified Bessel function of the first kind (power series).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let q = x * x / 4.0;
    for k in 1..50 {
        term *= q / (k * k) as f64;
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// 8 kHz → 16 kHz halfband interpolator with state across frames.
///
/// Produces exactly 2 output samples per input sample; group delay
/// [`HALFBAND_DELAY_16K`] output samples. Every second output is an input
/// sample passed through unchanged (halfband property).
#[derive(Clone)]
pub struct Upsampler8kTo16k {
    /// The interpolating branch as one 32-tap dot product over the window
    /// `x[n-31] ..= x[n]` (oldest first): the side taps mirrored, ×2 gain.
    kernel: [f32; UP_WINDOW],
    /// The last [`UP_HISTORY`] inputs (oldest first), then room for one block:
    /// a linear buffer, so every output is a dot product over a contiguous
    /// slice that the compiler vectorizes.
    buf: [f32; UP_HISTORY + UP_BLOCK],
}

/// Inputs one interpolated output depends on.
const UP_WINDOW: usize = 2 * HB_SIDE_TAPS;
/// Inputs carried from one block to the next.
const UP_HISTORY: usize = UP_WINDOW - 1;
/// Inputs converted per pass (one 20 ms frame at 8 kHz).
const UP_BLOCK: usize = 160;

impl Default for Upsampler8kTo16k {
    fn default() -> Self {
        Self::new()
    }
}

impl Upsampler8kTo16k {
    /// A fresh interpolator (zero history).
    pub fn new() -> Self {
        let taps = halfband_side_taps();
        // The interpolated output is Σ_i c_i (x[n-(15-i)] + x[n-(16+i)]).
        // In the window (index 31 - m holds x[n-m]) those inputs sit at
        // 16+i and 15-i. Interpolation gain of 2 (zero stuffing halves the
        // amplitude).
        let mut kernel = [0f32; UP_WINDOW];
        for (i, &c) in taps.iter().enumerate() {
            kernel[HB_SIDE_TAPS + i] = 2.0 * c;
            kernel[HB_SIDE_TAPS - 1 - i] = 2.0 * c;
        }
        Upsampler8kTo16k {
            kernel,
            buf: [0.0; UP_HISTORY + UP_BLOCK],
        }
    }

    /// Appends `2 × input.len()` samples at 16 kHz to `out`.
    pub fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        let start = out.len();
        out.resize(start + input.len() * 2, 0);
        let mut dst = &mut out[start..];
        for block in input.chunks(UP_BLOCK) {
            for (b, &s) in self.buf[UP_HISTORY..].iter_mut().zip(block) {
                *b = f32::from(s);
            }
            let (now, rest) = dst.split_at_mut(block.len() * 2);
            for (n, pair) in now.chunks_exact_mut(2).enumerate() {
                let w: &[f32; UP_WINDOW] = self.buf[n..n + UP_WINDOW]
                    .try_into()
                    .expect("window is UP_WINDOW long");
                // Eight independent partial sums: float addition is not
                // reassociated by the compiler, so one running sum would
                // stay scalar; lanes map onto SIMD registers.
                let mut lanes = [0f32; 8];
                for (k, x) in self.kernel.chunks_exact(8).zip(w.chunks_exact(8)) {
                    for l in 0..8 {
                        lanes[l] += k[l] * x[l];
                    }
                }
                let acc = (lanes[0] + lanes[4])
                    + (lanes[1] + lanes[5])
                    + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
                pair[0] = to_i16(acc);
                // The other phase is x[n-15] itself (halfband property).
                pair[1] = w[HB_SIDE_TAPS] as i16;
            }
            dst = rest;
            self.buf
                .copy_within(block.len()..block.len() + UP_HISTORY, 0);
        }
    }

    /// Clears the filter history.
    pub fn reset(&mut self) {
        self.buf = [0.0; UP_HISTORY + UP_BLOCK];
    }
}

/// 16 kHz → 8 kHz halfband decimator (anti-aliasing) with state across
/// frames.
///
/// Produces one output per two inputs (computed at the first of each pair;
/// the pairing carries across calls, so a 320-sample frame always yields
/// 160). Group delay [`HALFBAND_DELAY_16K`] input samples, so
/// up- then down-sampling delays by exactly 31 samples at 8 kHz.
#[derive(Clone)]
pub struct Downsampler16kTo8k {
    taps: [f32; HB_SIDE_TAPS],
    ring: [f32; DOWN_RING],
    pos: usize,
    /// The next input is the second of a pair (no output).
    second: bool,
}

impl Default for Downsampler16kTo8k {
    fn default() -> Self {
        Self::new()
    }
}

impl Downsampler16kTo8k {
    /// A fresh decimator (zero history).
    pub fn new() -> Self {
        Downsampler16kTo8k {
            taps: halfband_side_taps(),
            ring: [0.0; DOWN_RING],
            pos: 0,
            second: false,
        }
    }

    /// Appends one 8 kHz sample to `out` per input pair started in this call
    /// (`input.len() / 2` for even-length frames).
    pub fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        out.reserve(input.len() / 2 + 1);
        const M: usize = DOWN_RING - 1;
        for &s in input {
            self.ring[self.pos] = s as f32;
            let newest = self.pos;
            self.pos = (self.pos + 1) & M;
            let emit = !self.second;
            self.second = !self.second;
            if !emit {
                continue;
            }
            let x = |j: usize| self.ring[(newest + DOWN_RING - j) & M];
            let mut acc = 0.5 * x(HB_CENTER);
            for (i, &c) in self.taps.iter().enumerate() {
                let k = 2 * i + 1;
                acc += c * (x(HB_CENTER - k) + x(HB_CENTER + k));
            }
            out.push(to_i16(acc));
        }
    }

    /// Clears the filter history and the pairing phase.
    pub fn reset(&mut self) {
        self.ring = [0.0; DOWN_RING];
        self.pos = 0;
        self.second = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    fn sine(freq: f64, rate: f64, n: usize, amp: f64) -> Vec<i16> {
        (0..n)
            .map(|i| (amp * (2.0 * PI * freq * i as f64 / rate).sin()).round() as i16)
            .collect()
    }

    fn rms(x: &[i16]) -> f64 {
        (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    fn zero_crossings(x: &[i16]) -> usize {
        x.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count()
    }

    /// Feeds `input` in 20 ms frames through `f`.
    fn framed(input: &[i16], frame: usize, mut f: impl FnMut(&[i16], &mut Vec<i16>)) -> Vec<i16> {
        let mut out = Vec::new();
        for chunk in input.chunks(frame) {
            f(chunk, &mut out);
        }
        out
    }

    #[test]
    fn halfband_taps_are_normalised() {
        let t = halfband_side_taps();
        let sum: f32 = t.iter().sum();
        assert!((0.5 + 2.0 * sum - 1.0).abs() < 1e-6);
        // Alternating signs, decaying magnitude (sinc shape).
        assert!(t[0] > 0.0 && t[1] < 0.0 && t[2] > 0.0);
        assert!(t[0].abs() > t[15].abs() * 100.0);
    }

    #[test]
    fn one_khz_survives_8k_16k_8k() {
        let input = sine(1000.0, 8000.0, 8000, 10_000.0);
        let mut up = Upsampler8kTo16k::new();
        let mut down = Downsampler16kTo8k::new();
        let wide = framed(&input, 160, |c, o| up.process(c, o));
        assert_eq!(wide.len(), 16_000);
        let back = framed(&wide, 320, |c, o| down.process(c, o));
        assert_eq!(back.len(), 8000);

        // Steady state, skipping the filter warm-up.
        let w = &wide[400..];
        let b = &back[200..];
        // 1 kHz over 1 s → 2000 zero crossings per second.
        let zc_w = zero_crossings(w) as f64 / (w.len() as f64 / 16_000.0);
        let zc_b = zero_crossings(b) as f64 / (b.len() as f64 / 8_000.0);
        assert!((zc_w - 2000.0).abs() < 10.0, "{zc_w}");
        assert!((zc_b - 2000.0).abs() < 10.0, "{zc_b}");
        let want = 10_000.0 / 2f64.sqrt();
        assert!((rms(w) / want - 1.0).abs() < 0.01, "16k rms {}", rms(w));
        assert!((rms(b) / want - 1.0).abs() < 0.01, "8k rms {}", rms(b));

        // And the signal is the input, delayed by 2 × 31 / 2 = 31 samples at 8 kHz.
        let err: f64 = back[300..]
            .iter()
            .zip(&input[300 - 31..])
            .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
            .sum::<f64>()
            / (back.len() - 300) as f64;
        assert!(err.sqrt() < 0.01 * want, "rms error {}", err.sqrt());
    }

    #[test]
    fn six_khz_is_rejected_when_decimating() {
        let input = sine(6000.0, 16_000.0, 16_000, 20_000.0);
        let mut down = Downsampler16kTo8k::new();
        let out = framed(&input, 320, |c, o| down.process(c, o));
        let att_db = 20.0 * (rms(&out[100..]) / rms(&input)).log10();
        assert!(att_db < -30.0, "6 kHz only attenuated {att_db:.1} dB");
        // The design target is much better than the requirement.
        assert!(att_db < -60.0, "6 kHz attenuated {att_db:.1} dB");
    }

    #[test]
    fn imaging_is_suppressed_when_interpolating() {
        // 3 kHz at 8 kHz images to 5 kHz at 16 kHz; after the FIR the output
        // must match an ideal 3 kHz sine at 16 kHz (delayed by 31 samples).
        let input = sine(3000.0, 8000.0, 8000, 10_000.0);
        let mut up = Upsampler8kTo16k::new();
        let wide = framed(&input, 160, |c, o| up.process(c, o));
        let ideal = sine(3000.0, 16_000.0, 16_000, 10_000.0);
        let err: f64 = (400..16_000)
            .map(|n| (wide[n] as f64 - ideal[n - 31] as f64).powi(2))
            .sum::<f64>()
            / (16_000 - 400) as f64;
        let snr = 20.0 * (10_000.0 / 2f64.sqrt() / err.sqrt()).log10();
        assert!(snr > 50.0, "interpolation SNR {snr:.1} dB");
    }

    #[test]
    fn arbitrary_lengths_match_whole_buffer_processing() {
        let input = sine(440.0, 16_000.0, 3000, 12_000.0);
        let mut a = Downsampler16kTo8k::new();
        let mut whole = Vec::new();
        a.process(&input, &mut whole);
        let mut b = Downsampler16kTo8k::new();
        let mut pieces = Vec::new();
        let mut rest = &input[..];
        for len in [1usize, 7, 320, 13, 2, 999].iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let n = (*len).min(rest.len());
            b.process(&rest[..n], &mut pieces);
            rest = &rest[n..];
        }
        assert_eq!(whole, pieces);
    }

    #[test]
    fn two_to_one_paths_do_not_allocate_with_capacity() {
        let mut up = Upsampler8kTo16k::new();
        let mut down = Downsampler16kTo8k::new();
        let mut wide = Vec::with_capacity(320);
        let mut narrow = Vec::with_capacity(161);
        let frame = sine(1000.0, 8000.0, 160, 1000.0);
        for _ in 0..10 {
            wide.clear();
            narrow.clear();
            let (wp, np) = (wide.as_ptr(), narrow.as_ptr());
            up.process(&frame, &mut wide);
            down.process(&wide, &mut narrow);
            assert_eq!((wide.len(), narrow.len()), (320, 160));
            assert_eq!((wide.as_ptr(), narrow.as_ptr()), (wp, np));
        }
    }

    #[test]
    fn full_scale_saturates_instead_of_wrapping() {
        // A full-scale square wave overshoots (Gibbs); the overshoot must clip
        // at the rails rather than wrap to the opposite sign.
        let input: Vec<i16> = (0..400)
            .map(|i| if (i / 4) % 2 == 0 { i16::MAX } else { i16::MIN })
            .collect();
        let mut up = Upsampler8kTo16k::new();
        let mut out = Vec::new();
        up.process(&input, &mut out);
        let mut clipped = 0;
        for (n, pair) in out.chunks(2).enumerate().skip(40) {
            // The odd phase is the input passed through.
            assert_eq!(pair[1], input[n - 15]);
            // The even phase sits between input[n-16] and input[n-15].
            let (a, b) = (input[n - 16], input[n - 15]);
            if a == b {
                assert_eq!(pair[0].signum(), a.signum(), "n={n}");
                assert!(pair[0].unsigned_abs() > 20_000);
                clipped += (pair[0] == i16::MAX || pair[0] == i16::MIN) as usize;
            }
        }
        assert!(clipped > 0);
    }

    #[test]
    fn rejects_unsupported_rates() {
        assert_eq!(
            Resampler::new(11_025, 8000).err(),
            Some(ResampleError::UnsupportedRate(11_025))
        );
        assert_eq!(
            Resampler::new(8000, 0).err(),
            Some(ResampleError::UnsupportedRate(0))
        );
        for &a in &SUPPORTED_RATES_HZ {
            for &b in &SUPPORTED_RATES_HZ {
                assert!(Resampler::new(a, b).is_ok(), "{a} -> {b}");
            }
        }
    }

    fn run_stream(from: u32, to: u32, input: &[i16], chunk: usize) -> Vec<i16> {
        let mut r = Resampler::new(from, to).unwrap();
        let mut out = Vec::new();
        for c in input.chunks(chunk) {
            r.process(c, &mut out);
        }
        r.flush(&mut out);
        out
    }

    #[test]
    fn streaming_resampler_preserves_frequency_amplitude_and_length() {
        for &(from, to) in &[
            (24_000, 8000),
            (22_050, 8000),
            (44_100, 16_000),
            (8000, 48_000),
            (16_000, 8000),
            (8000, 16_000),
        ] {
            let n = from as usize; // 1 s
            let input = sine(1000.0, from as f64, n, 10_000.0);
            // Odd chunk size to exercise buffering across calls.
            let out = run_stream(from, to, &input, 733);
            let want_len = (n as u64 * to as u64 + from as u64 / 2) / from as u64;
            assert_eq!(out.len() as u64, want_len, "{from}->{to}");
            let core = &out[out.len() / 10..out.len() * 9 / 10];
            let zc = zero_crossings(core) as f64 / (core.len() as f64 / to as f64);
            assert!((zc - 2000.0).abs() < 15.0, "{from}->{to}: {zc} crossings/s");
            let r = rms(core) / (10_000.0 / 2f64.sqrt());
            assert!((r - 1.0).abs() < 0.02, "{from}->{to}: rms ratio {r}");
            // Delay is trimmed: output is time-aligned with the input.
            let ideal = sine(1000.0, to as f64, out.len(), 10_000.0);
            let err = out[out.len() / 10..out.len() * 9 / 10]
                .iter()
                .zip(&ideal[out.len() / 10..])
                .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
                .sum::<f64>()
                / core.len() as f64;
            assert!(
                err.sqrt() < 300.0,
                "{from}->{to}: misaligned, rms err {}",
                err.sqrt()
            );
        }
    }

    #[test]
    fn streaming_resampler_is_chunking_invariant_and_reusable() {
        let input = sine(700.0, 24_000.0, 10_000, 8_000.0);
        let a = run_stream(24_000, 8000, &input, 10_000);
        let b = run_stream(24_000, 8000, &input, 1);
        assert_eq!(a, b);
        // After flush it starts a fresh stream.
        let mut r = Resampler::new(24_000, 8000).unwrap();
        let mut first = Vec::new();
        r.process(&input, &mut first);
        r.flush(&mut first);
        let mut second = Vec::new();
        r.process(&input, &mut second);
        r.flush(&mut second);
        assert_eq!(first, second);
        assert_eq!(first, a);
    }

    #[test]
    fn streaming_resampler_antialiases() {
        // 6 kHz at 24 kHz is above the 4 kHz Nyquist of 8 kHz output.
        let input = sine(6000.0, 24_000.0, 24_000, 20_000.0);
        let out = run_stream(24_000, 8000, &input, 480);
        let att_db = 20.0 * (rms(&out[800..7200]) / rms(&input)).log10();
        assert!(att_db < -40.0, "{att_db:.1} dB");
    }

    #[test]
    fn equal_rates_pass_through_and_short_streams_flush() {
        let mut r = Resampler::new(8000, 8000).unwrap();
        let mut out = Vec::new();
        r.process(&[1, 2, 3], &mut out);
        r.flush(&mut out);
        assert_eq!(out, [1, 2, 3]);
        // Less than one block in, flush still yields the right length.
        let mut r = Resampler::new(24_000, 8000).unwrap();
        let mut out = Vec::new();
        r.process(&[1000; 30], &mut out);
        assert!(out.is_empty());
        r.flush(&mut out);
        assert_eq!(out.len(), 10);
        // Flush with nothing in yields nothing.
        let mut out = Vec::new();
        r.flush(&mut out);
        assert!(out.is_empty());
    }
}
