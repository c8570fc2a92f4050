//! Caller utterances: WAV files (PCM 8/16/24/32-bit or float, any rate, any
//! channel count) read once and turned into 8 kHz mono s16, with leading and
//! trailing silence trimmed, so that the end of playback is the end of
//! speech (what voice-to-voice latency is measured from).

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context as _};

/// Reads `path` as 8 kHz mono PCM (channels averaged, linearly resampled).
pub fn load_utterance(path: &Path) -> anyhow::Result<Arc<Vec<i16>>> {
    let shown = path.display();
    let mut reader = hound::WavReader::open(path)
        .with_context(|| format!("cannot read utterance WAV {shown}"))?;
    let spec = reader.spec();
    if spec.channels == 0 || spec.sample_rate == 0 {
        bail!("utterance WAV {shown}: no channels or zero sample rate");
    }
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .with_context(|| format!("utterance WAV {shown}: bad sample data"))?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1i64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .with_context(|| format!("utterance WAV {shown}: bad sample data"))?
        }
    };
    let ch = spec.channels as usize;
    let mono: Vec<f32> = samples
        .chunks(ch)
        .map(|f| f.iter().sum::<f32>() / ch as f32)
        .collect();
    if mono.is_empty() {
        bail!("utterance WAV {shown} holds no audio");
    }
    let pcm: Vec<i16> = resample(&mono, spec.sample_rate, 8000)
        .iter()
        .map(|&x| (x * 32767.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect();
    let pcm = trim_silence(&pcm);
    if pcm.is_empty() {
        bail!("utterance WAV {shown} is silent (no 20 ms frame reaches speech level)");
    }
    Ok(Arc::new(pcm.to_vec()))
}

/// The span from the first to the end of the last 20 ms frame at speech
/// level (the caller's and the agents' speech threshold).
fn trim_silence(pcm: &[i16]) -> &[i16] {
    use parla_testkit::caller::media::{rms, FRAME, SPEECH_RMS};
    let voiced: Vec<usize> = pcm
        .chunks(FRAME)
        .enumerate()
        .filter(|(_, f)| rms(f) >= SPEECH_RMS)
        .map(|(i, _)| i)
        .collect();
    match (voiced.first(), voiced.last()) {
        (Some(&a), Some(&b)) => &pcm[a * FRAME..((b + 1) * FRAME).min(pcm.len())],
        _ => &[],
    }
}

fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to {
        return input.to_vec();
    }
    let step = from as f64 / to as f64;
    let n = ((input.len() as f64) / step).floor() as usize;
    (0..n)
        .map(|i| {
            let pos = i as f64 * step;
            let j = pos as usize;
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

    #[test]
    fn reads_and_resamples_and_rejects_garbage() {
        let dir = std::env::temp_dir().join(format!("parla-lt-wav-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 16000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&p, spec).unwrap();
        // 0.5 s silence, 1 s tone, 0.5 s silence.
        for i in 0..32000 {
            let v = if (8000..24000).contains(&i) {
                ((i as f32 * 0.05).sin() * 10000.0) as i16
            } else {
                0
            };
            w.write_sample(v).unwrap();
            w.write_sample(v).unwrap();
        }
        w.finalize().unwrap();
        let pcm = load_utterance(&p).unwrap();
        assert_eq!(pcm.len(), 8000, "trimmed to the tone");
        assert!(pcm.iter().any(|&s| s > 9000));
        let quiet = dir.join("quiet.wav");
        let mut w = hound::WavWriter::create(&quiet, spec).unwrap();
        for _ in 0..3200 {
            w.write_sample(0i16).unwrap();
        }
        w.finalize().unwrap();
        let e = load_utterance(&quiet).unwrap_err();
        assert!(format!("{e:#}").contains("silent"), "{e:#}");
        let bad = dir.join("bad.wav");
        std::fs::write(&bad, b"not a wav").unwrap();
        let e = load_utterance(&bad).unwrap_err();
        assert!(
            format!("{e:#}").contains("cannot read utterance WAV"),
            "{e:#}"
        );
        let e = load_utterance(&dir.join("missing.wav")).unwrap_err();
        assert!(format!("{e:#}").contains("missing.wav"), "{e:#}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
