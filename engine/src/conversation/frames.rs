//! Run lengths of the caller's per-frame VAD decisions.

use std::time::Instant;

use super::config::FRAME_MS;

/// Tracks continuous speech and silence, counted in audio time (frames × 20 ms)
/// rather than wall time, so jitter in delivery does not move decisions.
#[derive(Debug, Clone, Default)]
pub(super) struct FrameTracker {
    /// Continuous speech up to and including the last frame, in ms (0 after a silent frame).
    pub speech_run_ms: u32,
    /// Continuous silence up to and including the last frame, in ms (0 after a speech frame).
    pub silence_run_ms: u32,
    /// When the last frame (of either kind) arrived.
    pub last_frame_at: Option<Instant>,
}

impl FrameTracker {
    pub fn push(&mut self, speech: bool, now: Instant) {
        self.last_frame_at = Some(now);
        if speech {
            self.speech_run_ms = self.speech_run_ms.saturating_add(FRAME_MS);
            self.silence_run_ms = 0;
        } else {
            self.silence_run_ms = self.silence_run_ms.saturating_add(FRAME_MS);
            self.speech_run_ms = 0;
        }
    }

    /// Whether the last frame was speech.
    pub fn speaking(&self) -> bool {
        self.speech_run_ms > 0
    }
}
