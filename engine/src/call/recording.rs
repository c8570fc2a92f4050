//! Call recording: a 16-bit 8 kHz stereo WAV, caller on the left channel,
//! agent on the right, written by a thread of its own so the media tick
//! never touches the disk.
//!
//! The actor hands over one 20 ms stereo frame per tick through a bounded
//! channel ([`RECORDING_QUEUE_FRAMES`]); when the writer falls behind, frames
//! are dropped (and counted) rather than delaying media.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::thread::JoinHandle;

use parla_media::{NARROWBAND_HZ, SAMPLES_PER_FRAME_8K};

/// Frames (20 ms each) queued for the writer thread, at most: 10 s.
pub const RECORDING_QUEUE_FRAMES: usize = 500;
/// Caller audio buffered while waiting for the next tick, at most (samples):
/// a reordered burst is kept, a backlog beyond this drops its oldest audio.
pub const CALLER_BACKLOG_SAMPLES: usize = SAMPLES_PER_FRAME_8K * 10;

type StereoFrame = Box<[i16; SAMPLES_PER_FRAME_8K * 2]>;

/// `name` (a relative path from the call's
/// [`CallLifecycle::recording_name`](super::CallLifecycle::recording_name))
/// inside `dir`; `None` if `name` is empty, absolute or has `..`, `.` or
/// prefix components, so a recording can only land inside `dir`.
pub fn recording_path(dir: &Path, name: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let mut parts = name.components().peekable();
    parts.peek()?;
    parts
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| dir.join(name))
}

/// Records one call. Dropping it (or [`CallRecorder::finish`]) closes the file.
pub struct CallRecorder {
    path: PathBuf,
    frames: Option<SyncSender<StereoFrame>>,
    writer: Option<JoinHandle<()>>,
    caller: VecDeque<i16>,
    dropped_frames: u64,
}

impl CallRecorder {
    /// Creates `path` (and its directory) and starts the writer thread.
    pub fn start(path: &Path) -> std::io::Result<CallRecorder> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: NARROWBAND_HZ,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut wav = hound::WavWriter::create(path, spec).map_err(std::io::Error::other)?;
        let (tx, rx) = sync_channel::<StereoFrame>(RECORDING_QUEUE_FRAMES);
        let shown = path.display().to_string();
        let writer = std::thread::Builder::new()
            .name("parla-recorder".into())
            .spawn(move || {
                let mut failed = false;
                for frame in rx {
                    if failed {
                        continue;
                    }
                    for &s in frame.iter() {
                        if let Err(e) = wav.write_sample(s) {
                            tracing::warn!(path = %shown, error = %e, "recording write failed");
                            failed = true;
                            break;
                        }
                    }
                }
                if let Err(e) = wav.finalize() {
                    tracing::warn!(path = %shown, error = %e, "recording finalize failed");
                }
            })?;
        Ok(CallRecorder {
            path: path.to_path_buf(),
            frames: Some(tx),
            writer: Some(writer),
            caller: VecDeque::with_capacity(CALLER_BACKLOG_SAMPLES),
            dropped_frames: 0,
        })
    }

    /// Where the recording goes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Caller audio (8 kHz) as it is decoded; paired with agent audio at the
    /// next [`CallRecorder::tick`].
    pub fn caller_audio(&mut self, pcm_8k: &[i16]) {
        self.caller.extend(pcm_8k);
        let excess = self.caller.len().saturating_sub(CALLER_BACKLOG_SAMPLES);
        self.caller.drain(..excess);
    }

    /// One 20 ms tick: `agent_8k` (160 samples, or empty for silence) with
    /// the caller's oldest buffered 20 ms. Never blocks.
    pub fn tick(&mut self, agent_8k: &[i16]) {
        let Some(tx) = &self.frames else {
            return;
        };
        let mut frame: StereoFrame = Box::new([0; SAMPLES_PER_FRAME_8K * 2]);
        for i in 0..SAMPLES_PER_FRAME_8K {
            frame[2 * i] = self.caller.pop_front().unwrap_or(0);
            frame[2 * i + 1] = agent_8k.get(i).copied().unwrap_or(0);
        }
        match tx.try_send(frame) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.dropped_frames += 1,
            Err(TrySendError::Disconnected(_)) => self.frames = None,
        }
    }

    /// Closes the recording (the writer thread finalizes the file in the
    /// background) and returns its path.
    pub fn finish(mut self) -> PathBuf {
        self.close();
        self.path.clone()
    }

    fn close(&mut self) {
        self.frames = None;
        if self.dropped_frames > 0 {
            tracing::warn!(path = %self.path.display(), frames = self.dropped_frames, "recording fell behind: frames dropped");
        }
        // Not joined: finalizing is file IO, and this may run on a media thread.
        self.writer.take();
    }
}

impl Drop for CallRecorder {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_names_stay_inside_the_directory() {
        let dir = Path::new("/data/recordings");
        assert_eq!(
            recording_path(dir, Path::new("t-1/c-1.wav")),
            Some(dir.join("t-1/c-1.wav"))
        );
        for bad in ["", "/etc/passwd", "../x.wav", "t/../../x.wav", "./x.wav"] {
            assert_eq!(recording_path(dir, Path::new(bad)), None, "{bad}");
        }
    }

    #[test]
    fn writes_caller_left_and_agent_right() {
        let path = std::env::temp_dir().join(format!("parla-rec-{}.wav", std::process::id()));
        let mut rec = CallRecorder::start(&path).unwrap();
        rec.caller_audio(&[1000; SAMPLES_PER_FRAME_8K]);
        rec.tick(&[-2000; SAMPLES_PER_FRAME_8K]);
        rec.tick(&[]); // agent silent, caller drained
        let writer = rec.writer.take().unwrap();
        assert_eq!(rec.finish(), path);
        writer.join().unwrap(); // the file is finalized
        let mut wav = hound::WavReader::open(&path).unwrap();
        let spec = wav.spec();
        assert_eq!((spec.channels, spec.sample_rate), (2, 8000));
        let samples: Vec<i16> = wav.samples::<i16>().map(Result::unwrap).collect();
        assert_eq!(samples.len(), 2 * 2 * SAMPLES_PER_FRAME_8K);
        assert_eq!(&samples[..4], &[1000, -2000, 1000, -2000]);
        assert!(samples[2 * SAMPLES_PER_FRAME_8K..].iter().all(|&s| s == 0));
        let _ = std::fs::remove_file(&path);
    }
}
