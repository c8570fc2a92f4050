//! One agent reply in flight: its LLM request, the segments it queued, and what
//! of it the caller actually heard.

use std::time::Instant;

use super::config::MS_PER_CHAR_ESTIMATE;
use super::latency::{ms_between, TurnTiming};
use crate::chunker::SentenceChunker;

/// Why the agent is speaking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReplyKind {
    /// The greeting after answering (no caller turn, no latency report).
    Greeting,
    /// An answer to a caller turn (possibly only the fallback line).
    Response,
    /// An operator's line ([`super::Input::Say`]); `Reply::end_call` set
    /// for a line after which the call is hung up.
    Announcement,
}

/// Where one queued piece of speech is.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum SegmentState {
    /// Speak/PlayFallback emitted; not on the wire yet.
    Queued,
    /// First frame went out at `started_at`.
    Playing { started_at: Instant },
    /// Played completely.
    Finished,
    /// Cut off while playing; `kept` is the part the caller heard.
    Truncated { kept: String },
    /// Never played (flushed or skipped).
    Dropped,
}

#[derive(Debug, Clone)]
pub(super) struct Segment {
    pub id: u64,
    pub text: String,
    pub is_fallback: bool,
    pub state: SegmentState,
    /// Total synthesized duration (TtsDone), in ms.
    pub audio_ms: Option<u32>,
}

impl Segment {
    pub fn outstanding(&self) -> bool {
        matches!(
            self.state,
            SegmentState::Queued | SegmentState::Playing { .. }
        )
    }

    /// Text the caller heard from this segment.
    fn heard_text(&self) -> &str {
        match &self.state {
            SegmentState::Finished => &self.text,
            SegmentState::Truncated { kept } => kept,
            _ => "",
        }
    }
}

#[derive(Debug)]
pub(super) struct Reply {
    pub kind: ReplyKind,
    /// The LLM request still streaming, if any.
    pub request: Option<u64>,
    pub chunker: SentenceChunker,
    pub segments: Vec<Segment>,
    /// Hang up once this reply has finished playing.
    pub end_call: bool,
    pub fallback_played: bool,
    /// User messages pushed to history for this reply; popped back into the
    /// caller's turn if the reply is abandoned before the caller heard any of it.
    pub user_messages: usize,
    /// First PlaybackStarted of the reply.
    pub first_audio_at: Option<Instant>,
    /// Since when every segment has finished while the model is still streaming.
    pub idle_since: Option<Instant>,
    /// The reply was cut off after the caller began hearing it.
    pub interrupted: bool,
    pub timing: TurnTiming,
}

impl Reply {
    pub fn new(
        kind: ReplyKind,
        request: Option<u64>,
        user_messages: usize,
        timing: TurnTiming,
    ) -> Self {
        Self {
            kind,
            request,
            chunker: SentenceChunker::new(),
            segments: Vec::new(),
            end_call: false,
            fallback_played: false,
            user_messages,
            first_audio_at: None,
            idle_since: None,
            interrupted: false,
            timing,
        }
    }

    /// Any segment queued or playing.
    pub fn has_outstanding(&self) -> bool {
        self.segments.iter().any(Segment::outstanding)
    }

    /// The caller has heard (the start of) this reply.
    pub fn heard(&self) -> bool {
        self.first_audio_at.is_some()
    }

    pub fn index_of(&self, segment: u64) -> Option<usize> {
        self.segments.iter().position(|s| s.id == segment)
    }

    /// The paced sender plays in order: once segment `idx` is on the wire,
    /// everything before it is done (played, or skipped if it never started).
    pub fn settle_before(&mut self, idx: usize) {
        for s in &mut self.segments[..idx] {
            match s.state {
                SegmentState::Playing { .. } => s.state = SegmentState::Finished,
                SegmentState::Queued => s.state = SegmentState::Dropped,
                _ => {}
            }
        }
    }

    /// Stops all audio at `now`: the playing segment keeps the words played so
    /// far, queued ones are dropped.
    pub fn cut(&mut self, now: Instant) {
        for s in &mut self.segments {
            match s.state {
                SegmentState::Playing { started_at } => {
                    let estimate = (s.text.chars().count() as u64)
                        .saturating_mul(u64::from(MS_PER_CHAR_ESTIMATE));
                    let audio_ms = s.audio_ms.map_or(estimate as f64, f64::from);
                    let fraction = if audio_ms <= 0.0 {
                        1.0
                    } else {
                        ms_between(started_at, now) / audio_ms
                    };
                    s.state = SegmentState::Truncated {
                        kept: truncate_words(&s.text, fraction),
                    };
                }
                SegmentState::Queued => s.state = SegmentState::Dropped,
                _ => {}
            }
        }
        if self.heard() {
            self.interrupted = true;
        }
    }

    /// What the caller heard of the reply, segments joined by spaces.
    pub fn heard_text(&self) -> String {
        let parts: Vec<&str> = self
            .segments
            .iter()
            .map(Segment::heard_text)
            .filter(|t| !t.is_empty())
            .collect();
        parts.join(" ")
    }
}

/// The first `fraction` (0..=1, rounded to whole words) of `text`'s words.
pub(super) fn truncate_words(text: &str, fraction: f64) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let fraction = if fraction.is_nan() {
        0.0
    } else {
        fraction.clamp(0.0, 1.0)
    };
    let keep = ((words.len() as f64) * fraction).round() as usize;
    words[..keep.min(words.len())].join(" ")
}

#[cfg(test)]
mod tests {
    use super::truncate_words;

    #[test]
    fn truncates_to_a_fraction_of_words() {
        let text = "one two three four five six seven eight nine ten";
        assert_eq!(truncate_words(text, 0.4), "one two three four");
        assert_eq!(truncate_words(text, 0.0), "");
        assert_eq!(truncate_words(text, 1.7), text);
        assert_eq!(truncate_words(text, f64::NAN), "");
        assert_eq!(truncate_words("", 0.5), "");
    }
}
