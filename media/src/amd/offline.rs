//! Offline analysis of a recording from the moment of answer, with the same
//! detector and defaults as a live call (what `parla amd FILE.wav` prints).

use std::io::Read;

use super::{AmdConfig, AmdDetector, AmdError, AmdOutcome};
use crate::wav::MAX_WAV_SECONDS;

/// Runs a fresh [`AmdDetector`] over `pcm` (mono, `sample_rate_hz` = 8000 or
/// 16000) in 20 ms frames until it [is done](AmdDetector::is_done) or the
/// audio ends, then [finishes](AmdDetector::finish) it.
///
/// Errors: [`AmdError::UnsupportedRate`].
pub fn analyze_pcm(
    config: AmdConfig,
    sample_rate_hz: u32,
    pcm: &[i16],
) -> Result<AmdOutcome, AmdError> {
    let mut d = AmdDetector::new(config, sample_rate_hz)?;
    for frame in pcm.chunks((sample_rate_hz / 50) as usize) {
        if d.is_done() {
            break;
        }
        d.push_pcm(frame);
    }
    Ok(d.finish())
}

/// [`analyze_pcm`] on a WAV file: mono, 8000 or 16000 Hz, integer PCM (8 to
/// 32 bits, scaled to 16) or 32-bit float, at most
/// [`MAX_WAV_SECONDS`](crate::wav::MAX_WAV_SECONDS) long.
///
/// Errors: [`AmdError::Wav`] for an unreadable, multi-channel or too long
/// file, [`AmdError::UnsupportedRate`] for another rate.
pub fn analyze_wav<R: Read>(reader: R, config: AmdConfig) -> Result<AmdOutcome, AmdError> {
    let wav_err = |e: hound::Error| AmdError::Wav(format!("not a readable WAV file: {e}"));
    let mut reader = hound::WavReader::new(reader).map_err(wav_err)?;
    let spec = reader.spec();
    if spec.channels != 1 {
        return Err(AmdError::Wav(format!(
            "{} channels; the file must be mono",
            spec.channels
        )));
    }
    let rate = spec.sample_rate;
    if rate != 8_000 && rate != 16_000 {
        return Err(AmdError::UnsupportedRate(rate));
    }
    let max = MAX_WAV_SECONDS as usize * rate as usize;
    if reader.len() as usize > max {
        return Err(AmdError::Wav(format!("longer than {MAX_WAV_SECONDS} s")));
    }
    let mut pcm: Vec<i16> = Vec::with_capacity(reader.len() as usize);
    match spec.sample_format {
        hound::SampleFormat::Float => {
            for s in reader.samples::<f32>() {
                let v = s.map_err(wav_err)?;
                let v = if v.is_finite() { v } else { 0.0 };
                pcm.push((v * 32768.0).clamp(-32768.0, 32767.0) as i16);
                if pcm.len() > max {
                    return Err(AmdError::Wav(format!("longer than {MAX_WAV_SECONDS} s")));
                }
            }
        }
        hound::SampleFormat::Int => {
            let bits = u32::from(spec.bits_per_sample.clamp(1, 32));
            for s in reader.samples::<i32>() {
                let v = i64::from(s.map_err(wav_err)?);
                let v = if bits >= 16 {
                    v >> (bits - 16)
                } else {
                    v << (16 - bits)
                };
                pcm.push(v.clamp(-32768, 32767) as i16);
                if pcm.len() > max {
                    return Err(AmdError::Wav(format!("longer than {MAX_WAV_SECONDS} s")));
                }
            }
        }
    }
    analyze_pcm(config, rate, &pcm)
}
