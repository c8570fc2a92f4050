//! Speech helpers for tests: synthesize speech with espeak-ng, recognize it
//! with the local whisper server (`tools/whisper_server.py`), compare
//! transcripts tolerantly, and measure audio levels.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

mod transcripts;
mod whisper;

pub use transcripts::{best_phrase_wer, contains_phrase_fuzzy, normalize, word_error_rate};
pub use whisper::{repo_root, Whisper, WhisperProcess, WHISPER_URL_ENV};

// ---------------------------------------------------------------- espeak-ng

/// How espeak-ng speaks. The default (American English, 150 words/min, 50 ms
/// between words) is what the tiny whisper model recognized best among the
/// settings tried (12 call-center sentences, beam 5: mean WER 0.05 at
/// 16 kHz and 0.12 on 8 kHz phone audio; espeak's own default, 175 words/min
/// with no gap: 0.14 and 0.18).
#[derive(Debug, Clone, PartialEq)]
pub struct EspeakOptions {
    /// espeak-ng voice (`-v`), e.g. `en-us`, `en`, `en-us+f3`.
    pub voice: String,
    /// Speed (`-s`), words per minute (espeak's own default is 175).
    pub words_per_minute: u32,
    /// Extra pause between words (`-g`), in units of 10 ms.
    pub word_gap_10ms: u32,
    /// Pitch 0..=99 (`-p`); espeak's default when `None`.
    pub pitch: Option<u32>,
}

impl Default for EspeakOptions {
    fn default() -> Self {
        Self {
            voice: "en-us".into(),
            words_per_minute: 150,
            word_gap_10ms: 5,
            pitch: None,
        }
    }
}

/// espeak-ng's own output: mono s16 PCM at its native rate (22050 Hz).
pub fn espeak_native(text: &str, opts: &EspeakOptions) -> anyhow::Result<(Vec<i16>, u32)> {
    let mut cmd = Command::new("espeak-ng");
    cmd.arg("--stdout")
        .args(["-v", &opts.voice])
        .args(["-s", &opts.words_per_minute.to_string()])
        .args(["-g", &opts.word_gap_10ms.to_string()]);
    if let Some(p) = opts.pitch {
        cmd.args(["-p", &p.to_string()]);
    }
    // Text on stdin: never mistaken for an option, whatever it starts with.
    cmd.arg("--stdin");
    let out = run_with_stdin(cmd, text.as_bytes().to_vec())
        .context("running espeak-ng (apt-get install espeak-ng)")?;
    let (fmt, data) = parse_wav_header(&out).ok_or_else(|| anyhow!("espeak-ng wrote no WAV"))?;
    if fmt.bits != 16 || fmt.channels != 1 {
        bail!(
            "espeak-ng wrote {} channel(s) of {} bits",
            fmt.channels,
            fmt.bits
        );
    }
    Ok((le_bytes_to_i16(&out[data..]), fmt.sample_rate))
}

/// Speaks `text` with espeak-ng ([`EspeakOptions::default`]) as mono s16 PCM
/// at `sample_rate_hz` (8000 for phone audio), resampled by sox.
pub fn espeak_wav(text: &str, sample_rate_hz: u32) -> anyhow::Result<Vec<i16>> {
    espeak_wav_with(text, sample_rate_hz, &EspeakOptions::default())
}

/// [`espeak_wav`] with a chosen voice and speed.
pub fn espeak_wav_with(
    text: &str,
    sample_rate_hz: u32,
    opts: &EspeakOptions,
) -> anyhow::Result<Vec<i16>> {
    let (pcm, rate) = espeak_native(text, opts)?;
    sox_resample(&pcm, rate, sample_rate_hz)
}

/// Resamples mono s16 PCM with sox (band-limited, repeatable, no dither).
pub fn sox_resample(pcm: &[i16], from_hz: u32, to_hz: u32) -> anyhow::Result<Vec<i16>> {
    if from_hz == to_hz {
        return Ok(pcm.to_vec());
    }
    let raw = |rate: u32| {
        [
            "-t",
            "raw",
            "-e",
            "signed-integer",
            "-b",
            "16",
            "-c",
            "1",
            "-L",
            "-r",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([rate.to_string(), "-".to_string()])
        .collect::<Vec<_>>()
    };
    let mut cmd = Command::new("sox");
    cmd.args(["-D", "-R", "-V1"])
        .args(raw(from_hz))
        .args(raw(to_hz));
    let out =
        run_with_stdin(cmd, i16_to_le_bytes(pcm)).context("running sox (apt-get install sox)")?;
    Ok(le_bytes_to_i16(&out))
}

/// Mono s16 PCM as a complete in-memory WAV file.
pub fn wav_bytes(pcm: &[i16], sample_rate_hz: u32) -> Vec<u8> {
    let data_len = (pcm.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + pcm.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&sample_rate_hz.to_le_bytes());
    out.extend_from_slice(&(sample_rate_hz * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    out.extend_from_slice(&i16_to_le_bytes(pcm));
    out
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct WavFormat {
    pub sample_rate: u32,
    pub channels: u16,
    pub bits: u16,
}

/// Parses a RIFF/WAVE header; returns the format and the offset of the
/// sample data. Tolerates the unknown sizes of a streamed WAV (espeak-ng
/// --stdout), so the data is "everything after the header".
pub(crate) fn parse_wav_header(b: &[u8]) -> Option<(WavFormat, usize)> {
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return None;
    }
    let mut pos = 12;
    let mut fmt = None;
    while pos + 8 <= b.len() {
        let id = &b[pos..pos + 4];
        let size = u32::from_le_bytes(b[pos + 4..pos + 8].try_into().ok()?) as usize;
        let body = pos + 8;
        if id == b"fmt " {
            if body + 16 > b.len() {
                return None;
            }
            fmt = Some(WavFormat {
                channels: u16::from_le_bytes([b[body + 2], b[body + 3]]),
                sample_rate: u32::from_le_bytes(b[body + 4..body + 8].try_into().ok()?),
                bits: u16::from_le_bytes([b[body + 14], b[body + 15]]),
            });
        } else if id == b"data" {
            return fmt.map(|f| (f, body));
        }
        pos = body + size + (size & 1);
    }
    None
}

fn run_with_stdin(mut cmd: Command, input: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output()?;
    let _ = writer.join();
    if !out.status.success() {
        bail!(
            "{:?} failed ({}): {}",
            cmd.get_program(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

pub(crate) fn le_bytes_to_i16(b: &[u8]) -> Vec<i16> {
    b.chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

pub(crate) fn i16_to_le_bytes(pcm: &[i16]) -> Vec<u8> {
    pcm.iter().flat_map(|s| s.to_le_bytes()).collect()
}

// ------------------------------------------------------------------- levels

/// RMS level in dB relative to full scale (a full-scale square wave is 0;
/// a full-scale sine about -3). Digital silence (or no samples) is -inf.
pub fn rms_dbfs(pcm: &[i16]) -> f64 {
    if pcm.is_empty() {
        return f64::NEG_INFINITY;
    }
    let sum: f64 = pcm.iter().map(|&s| (s as f64) * (s as f64)).sum();
    let rms = (sum / pcm.len() as f64).sqrt();
    if rms == 0.0 {
        f64::NEG_INFINITY
    } else {
        20.0 * (rms / 32768.0).log10()
    }
}

/// Spans `(start_ms, end_ms)` where the audio is louder than
/// `threshold_dbfs` (judged on 10 ms frames); spans closer than
/// `min_gap_ms` are merged.
pub fn voiced_spans(
    pcm: &[i16],
    sample_rate_hz: u32,
    threshold_dbfs: f64,
    min_gap_ms: u64,
) -> Vec<(u64, u64)> {
    let frame = (sample_rate_hz as usize / 100).max(1);
    let mut spans: Vec<(u64, u64)> = Vec::new();
    for (i, f) in pcm.chunks(frame).enumerate() {
        if rms_dbfs(f) < threshold_dbfs {
            continue;
        }
        let start = i as u64 * 10;
        let end = start + (f.len() as u64 * 1000 / sample_rate_hz as u64).max(1);
        match spans.last_mut() {
            Some(last) if start.saturating_sub(last.1) < min_gap_ms.max(1) => last.1 = end,
            _ => spans.push((start, end)),
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_spans() {
        let rate = 8000;
        let mut pcm = vec![0i16; 4000]; // 500 ms silence
        pcm.extend((0..4000).map(|i| ((i as f32 * 0.3).sin() * 8000.0) as i16)); // 500 ms tone
        pcm.extend(vec![0i16; 800]); // 100 ms gap
        pcm.extend((0..2400).map(|i| ((i as f32 * 0.3).sin() * 8000.0) as i16)); // 300 ms tone
        assert_eq!(rms_dbfs(&[0; 10]), f64::NEG_INFINITY);
        assert!((rms_dbfs(&[16384; 10]) - (-6.02)).abs() < 0.01);
        assert_eq!(voiced_spans(&pcm, rate, -40.0, 200), vec![(500, 1400)]);
        assert_eq!(
            voiced_spans(&pcm, rate, -40.0, 50),
            vec![(500, 1000), (1100, 1400)]
        );
    }

    #[test]
    fn wav_roundtrip() {
        let pcm: Vec<i16> = (0..100).map(|i| i * 100).collect();
        let wav = wav_bytes(&pcm, 8000);
        let (fmt, off) = parse_wav_header(&wav).unwrap();
        assert_eq!(
            fmt,
            WavFormat {
                sample_rate: 8000,
                channels: 1,
                bits: 16
            }
        );
        assert_eq!(le_bytes_to_i16(&wav[off..]), pcm);
    }
}
