//! Timestamps collected over one caller turn and its reply, turned into [`TurnLatency`].

use std::time::Instant;

use super::events::TurnLatency;

/// Milestones of one turn. Set as they happen; a continued (merged) turn
/// overwrites the speech milestones with the latest ones.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct TurnTiming {
    /// The caller's last speech frame of the turn.
    pub last_speech_at: Option<Instant>,
    /// The end-of-turn decision (SttEndOfUtterance).
    pub eou_at: Option<Instant>,
    /// The SttFinal that completed the turn.
    pub final_at: Option<Instant>,
    /// StartLlm.
    pub llm_started_at: Option<Instant>,
    /// First LlmToken of the request.
    pub first_token_at: Option<Instant>,
    /// First Speak of the reply: (segment, when).
    pub first_speak: Option<(u64, Instant)>,
    /// TtsFirstAudio of that first segment.
    pub first_tts_audio_at: Option<Instant>,
    /// The turn included DTMF: no voice-to-voice latency is reported for it.
    pub keyed: bool,
}

/// `to − from` in ms (0 if `to` is earlier), exact for whole-ms offsets.
pub(super) fn ms_between(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_nanos() as f64 / 1e6
}

impl TurnTiming {
    /// The turn's latency, given that its first reply audio started playing at
    /// `playback_at`. None for keyed turns and turns whose transcript never came.
    pub fn latency(&self, playback_at: Instant) -> Option<TurnLatency> {
        if self.keyed {
            return None;
        }
        let last_speech = self.last_speech_at?;
        let eou = self.eou_at?;
        let fin = self.final_at?;
        let llm_ttft_ms = match (self.llm_started_at, self.first_token_at) {
            (Some(start), Some(token)) => Some(ms_between(start, token)),
            _ => None,
        };
        let tts_ttfb_ms = match (self.first_speak, self.first_tts_audio_at) {
            (Some((_, speak)), Some(audio)) => Some(ms_between(speak, audio)),
            _ => None,
        };
        Some(TurnLatency {
            eou_ms: ms_between(last_speech, eou),
            stt_ms: ms_between(eou, fin),
            llm_ttft_ms,
            tts_ttfb_ms,
            v2v_ms: ms_between(last_speech, playback_at),
        })
    }
}
