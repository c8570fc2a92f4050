//! WAV input of the offline tools: the test caller's `--play` file and the
//! load harness's utterances, decoded to 8 kHz mono signed 16-bit PCM.
//!
//! Accepts PCM integer (8–32 bit) and 32-bit float WAV (RIFF/WAVE, decoded
//! by `hound`), any channel count up to [`MAX_WAV_CHANNELS`] (averaged to
//! mono) and any sample rate from [`MIN_WAV_RATE_HZ`] to
//! [`MAX_WAV_RATE_HZ`] (resampled linearly to [`NARROWBAND_HZ`]: enough for
//! speech played into a call). Anything else, or more than
//! [`MAX_WAV_SECONDS`] of audio, is a [`WavError`]; malformed files never
//! panic (fuzzed by `fuzz/fuzz_targets/wav.rs`).

use std::io::Read;

use crate::NARROWBAND_HZ;

/// Longest accepted file, in seconds of audio.
pub const MAX_WAV_SECONDS: u32 = 600;
/// Most channels accepted.
pub const MAX_WAV_CHANNELS: u16 = 16;
/// Lowest accepted sample rate, in Hz.
pub const MIN_WAV_RATE_HZ: u32 = 1_000;
/// Highest accepted sample rate, in Hz.
pub const MAX_WAV_RATE_HZ: u32 = 384_000;

/// Why a WAV file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WavError {
    /// Not a readable RIFF/WAVE file, or its sample data is cut or corrupt.
    #[error("not a readable WAV file: {0}")]
    Decode(String),
    /// A channel count or sample rate outside the accepted ranges.
    #[error("unsupported WAV format: {0}")]
    Format(String),
    /// More than [`MAX_WAV_SECONDS`] of audio.
    #[error("WAV file longer than {MAX_WAV_SECONDS} s")]
    TooLong,
}

/// Decodes a WAV stream to 8 kHz mono PCM (channels averaged, linearly
/// resampled, clipped to i16). An empty file gives an empty vector.
///
/// Errors: [`WavError::Decode`] (bad header or sample data),
/// [`WavError::Format`] (channels, rate), [`WavError::TooLong`].
pub fn read_mono_8k<R: Read>(reader: R) -> Result<Vec<i16>, WavError> {
    let decode = |e: hound::Error| WavError::Decode(e.to_string());
    let mut reader = hound::WavReader::new(reader).map_err(decode)?;
    let spec = reader.spec();
    if spec.channels == 0 || spec.channels > MAX_WAV_CHANNELS {
        return Err(WavError::Format(format!("{} channels", spec.channels)));
    }
    if !(MIN_WAV_RATE_HZ..=MAX_WAV_RATE_HZ).contains(&spec.sample_rate) {
        return Err(WavError::Format(format!("{} Hz", spec.sample_rate)));
    }
    let ch = spec.channels as usize;
    // The header's length may lie; stop reading past the limit either way.
    let max_samples = MAX_WAV_SECONDS as usize * spec.sample_rate as usize * ch;
    if reader.len() as usize > max_samples {
        return Err(WavError::TooLong);
    }
    let mut samples: Vec<f32> = Vec::new();
    match spec.sample_format {
        hound::SampleFormat::Float => {
            for s in reader.samples::<f32>() {
                let v = s.map_err(decode)?;
                samples.push(if v.is_finite() { v } else { 0.0 });
                if samples.len() > max_samples {
                    return Err(WavError::TooLong);
                }
            }
        }
        hound::SampleFormat::Int => {
            let bits = spec.bits_per_sample.clamp(1, 32) as u32;
            let scale = 1.0 / (1u64 << (bits - 1)) as f32;
            for s in reader.samples::<i32>() {
                samples.push(s.map_err(decode)? as f32 * scale);
                if samples.len() > max_samples {
                    return Err(WavError::TooLong);
                }
            }
        }
    }
    let mono: Vec<f32> = samples
        .chunks(ch)
        .map(|f| f.iter().sum::<f32>() / f.len() as f32)
        .collect();
    Ok(resample_linear(&mono, spec.sample_rate, NARROWBAND_HZ)
        .into_iter()
        .map(|x| (x * 32767.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect())
}

/// Linear-interpolation resampling of `input` from `from` Hz to `to` Hz
/// (both non-zero).
fn resample_linear(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || input.is_empty() {
        return input.to_vec();
    }
    let step = from as f64 / to as f64;
    let n = (input.len() as f64 / step).floor() as usize;
    (0..n)
        .map(|i| {
            let pos = i as f64 * step;
            let j = (pos as usize).min(input.len() - 1);
            let frac = (pos - j as f64) as f32;
            let a = input[j];
            let b = *input.get(j + 1).unwrap_or(&a);
            a + (b - a) * frac
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(spec: hound::WavSpec, samples: &[i32]) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
        for &s in samples {
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
        out.into_inner()
    }

    fn spec(channels: u16, rate: u32, bits: u16) -> hound::WavSpec {
        hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: hound::SampleFormat::Int,
        }
    }

    #[test]
    fn stereo_16k_becomes_mono_8k() {
        // 1 s of a constant level in the left channel, silence in the right.
        let samples: Vec<i32> = (0..16_000).flat_map(|_| [16_000, 0]).collect();
        let pcm = read_mono_8k(&wav(spec(2, 16_000, 16), &samples)[..]).unwrap();
        assert_eq!(pcm.len(), 8_000);
        assert!(
            pcm.iter().all(|&s| (7_990..=8_010).contains(&s)),
            "{:?}",
            &pcm[..4]
        );
    }

    #[test]
    fn eight_bit_and_24_bit_are_scaled() {
        let pcm = read_mono_8k(&wav(spec(1, 8_000, 8), &[64, -64])[..]).unwrap();
        assert_eq!(pcm, [16_384, -16_384]);
        let pcm = read_mono_8k(&wav(spec(1, 8_000, 24), &[1 << 22])[..]).unwrap();
        assert_eq!(pcm, [16_384]);
    }

    #[test]
    fn bad_files_are_errors() {
        assert!(matches!(
            read_mono_8k(&b"RIFF\x04\0\0\0WAVE"[..]),
            Err(WavError::Decode(_))
        ));
        assert!(matches!(
            read_mono_8k(&b"not a wav"[..]),
            Err(WavError::Decode(_))
        ));
        let mut cut = wav(spec(1, 8_000, 16), &[1, 2, 3, 4]);
        cut.truncate(cut.len() - 3);
        assert!(read_mono_8k(&cut[..]).is_err());
        assert!(matches!(
            read_mono_8k(&wav(spec(1, 500, 16), &[1])[..]),
            Err(WavError::Format(_))
        ));
        let long = vec![0; (MAX_WAV_SECONDS as usize + 1) * 1_000];
        assert_eq!(
            read_mono_8k(&wav(spec(1, 1_000, 8), &long)[..]),
            Err(WavError::TooLong)
        );
        assert_eq!(read_mono_8k(&wav(spec(1, 8_000, 16), &[])[..]), Ok(vec![]));
    }
}
