//! Caller utterances: WAV files (PCM 8/16/24/32-bit or float, any rate, any
//! channel count) read once and turned into 8 kHz mono s16, with leading and
//! trailing silence trimmed, so that the end of playback is the end of
//! speech (what voice-to-voice latency is measured from).

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context as _};

/// Reads `path` as 8 kHz mono PCM (see [`parla_media::wav::read_mono_8k`]),
/// trimmed to its speech.
pub fn load_utterance(path: &Path) -> anyhow::Result<Arc<Vec<i16>>> {
    let shown = path.display();
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read utterance WAV {shown}"))?;
    let pcm = parla_media::wav::read_mono_8k(std::io::BufReader::new(file))
        .with_context(|| format!("cannot read utterance WAV {shown}"))?;
    if pcm.is_empty() {
        bail!("utterance WAV {shown} holds no audio");
    }
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
