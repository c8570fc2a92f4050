//! What the driver feeds the core ([`Input`]) and what the core asks of it ([`Output`]).

use crate::providers::{LlmRequest, ProviderError, Role};

/// Something that happened to the call. Every input is stamped by the caller of
/// [`super::Conversation::handle_input`] with the `Instant` it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The call is up: speak the greeting.
    Answered,
    /// One 20 ms caller frame's VAD decision, in order, every 20 ms.
    CallerFrame { speech: bool },
    /// A partial STT hypothesis (informational).
    SttInterim(String),
    /// The final transcript answering one [`Output::SttEndOfUtterance`] (may be empty).
    SttFinal(String),
    /// The STT session failed; no more events come from it.
    SttError(ProviderError),
    /// A piece of reply text for LLM `request`.
    LlmToken { request: u64, text: String },
    /// A complete tool call, run through the call's
    /// [`ToolDispatcher`](super::ToolDispatcher) (`end_call` hangs up after
    /// the reply; unknown tools and bad arguments are logged and ignored).
    LlmToolCall {
        request: u64,
        name: String,
        arguments: String,
    },
    /// The model called `end_call` (some providers report it apart from
    /// other tool calls); dispatched like `LlmToolCall` of `end_call`.
    LlmEndCall { request: u64 },
    /// The model finished `request`.
    LlmDone { request: u64 },
    /// `request` failed; no more events come for it.
    LlmError { request: u64, error: ProviderError },
    /// The TTS provider produced the first audio of `segment` (for `tts_ttfb`).
    TtsFirstAudio { segment: u64 },
    /// `segment` is fully synthesized; `audio_ms` is its total duration in ms.
    TtsDone { segment: u64, audio_ms: u32 },
    /// Synthesizing `segment` failed.
    TtsError { segment: u64, error: ProviderError },
    /// The paced sender put `segment`'s first frame on the wire (for v2v).
    PlaybackStarted { segment: u64 },
    /// `segment`'s last frame went out.
    PlaybackFinished { segment: u64 },
    /// The caller pressed a key (`0`-`9`, `*`, `#`, `A`-`D`; others are ignored).
    Dtmf { digit: char },
    /// The caller hung up.
    RemoteHangup,
    /// Operator command: hang up now. Whatever is playing stops; what the
    /// caller heard of it is transcribed (as interrupted).
    HangUpNow,
    /// Operator command: the agent says `text`, then does `then`.
    ///
    /// * Agent audio playing or a reply being prepared: that reply is cut
    ///   (what was heard is kept, as on barge-in) and the line is spoken at once.
    /// * The caller holds the floor (speaking, pausing, keying digits, or
    ///   waiting for their transcript): the line waits for their turn to end,
    ///   then answers it instead of the model (their words are transcribed
    ///   and kept in history).
    /// * Otherwise it is spoken at once.
    ///
    /// A `Continue` line is like any reply: the caller can barge in. A
    /// `HangUp` line cannot be interrupted (by speech or DTMF); the call is
    /// hung up once it has finished playing. Several lines before the first
    /// plays are said in order (one `HangUp` among them hangs up after all).
    Say { text: String, then: AfterSay },
}

/// What the agent does after an operator's [`Input::Say`] line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterSay {
    /// Hang up once the line has been played.
    HangUp,
    /// Go on with the conversation.
    Continue,
}

/// Something the driver must do, in the order returned by
/// [`super::Conversation::poll_output`].
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// `true`: start sending caller audio to STT (the driver includes ~200 ms
    /// pre-roll); `false`: stop. Always alternates, starting with `true`.
    SttForward(bool),
    /// Ask STT for the final transcript of the audio sent since the previous one.
    SttEndOfUtterance,
    /// Start streaming a completion; events come back tagged with `request`.
    StartLlm {
        request: u64,
        request_body: LlmRequest,
    },
    /// Drop `request`; later events for it are ignored anyway.
    CancelLlm { request: u64 },
    /// Synthesize `text` and queue it for playback after the segments before it.
    Speak { segment: u64, text: String },
    /// Queue the pre-rendered fallback line (works even if TTS is down).
    PlayFallback { segment: u64 },
    /// Barge-in / failure: cancel all TTS and flush every queued segment.
    StopSpeaking,
    /// A line of the call transcript. `at_ms` is ms since call start: when the
    /// caller began the utterance (first digit for DTMF), or when the agent's
    /// reply began playing. `interrupted`: the agent was cut off; `text` is the
    /// part actually played.
    Transcript {
        speaker: Role,
        text: String,
        at_ms: u64,
        interrupted: bool,
    },
    /// Latency of one agent turn, emitted when its first reply audio plays.
    TurnLatency(TurnLatency),
    /// Hang up the call; nothing else follows.
    HangUp { reason: String },
}

/// Latency breakdown of one spoken caller turn, in ms, from the `Instant`s
/// passed with the inputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TurnLatency {
    /// End-of-utterance detection: last caller speech frame → end-of-turn decision.
    pub eou_ms: f64,
    /// Speech recognition: end-of-turn decision → `SttFinal` that completed the turn.
    pub stt_ms: f64,
    /// Model time-to-first-token: `StartLlm` → first `LlmToken` (None if none
    /// arrived before the first reply audio, e.g. a fallback).
    pub llm_ttft_ms: Option<f64>,
    /// Synthesis time-to-first-byte: first `Speak` of the turn → `TtsFirstAudio`
    /// of that segment (None if not reported before the first reply audio).
    pub tts_ttfb_ms: Option<f64>,
    /// Voice-to-voice: last caller speech frame → `PlaybackStarted` of the
    /// turn's first reply segment. The number the caller experiences (target < 800).
    pub v2v_ms: f64,
}
