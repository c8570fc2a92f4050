//! Speech-to-text, language-model and text-to-speech providers behind traits.
//!
//! Every provider streams: a session or request yields events through a
//! bounded channel or stream as they arrive, and **dropping the handle cancels
//! the work** (the HTTP request or WebSocket is closed, no more events come).
//!
//! Audio crossing these traits is mono, signed 16-bit PCM. STT input is always
//! [`STT_SAMPLE_RATE_HZ`]; TTS output carries its own rate in [`TtsChunk`].

use std::time::Duration;

use futures::stream::BoxStream;

pub mod types;
pub use types::*;
pub mod config;
pub mod deepgram;
pub mod egress;
pub mod espeak;
pub mod flow;
pub mod http;
pub mod openai_llm;
pub mod openai_stt;
pub mod openai_tts;
pub mod tenant;

/// Sample rate of audio sent to every STT provider, in Hz.
pub const STT_SAMPLE_RATE_HZ: u32 = 16_000;

/// Capacity of the channel carrying caller audio to an STT session, in 20 ms frames (2 s).
pub const STT_AUDIO_CHANNEL_FRAMES: usize = 100;

/// Capacity of the channel carrying STT events back to the call.
pub const STT_EVENT_CHANNEL: usize = 32;

/// Default timeout for one provider HTTP request to produce its first byte.
pub const PROVIDER_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors any provider may report. Carried inside event streams too, so a
/// failure mid-stream reaches the conversation core as an input.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ProviderError {
    /// Could not reach the provider (DNS, TCP, TLS, timeout before first byte).
    #[error("provider unreachable: {0}")]
    Connect(String),
    /// The provider answered with a non-success HTTP status or an error frame.
    #[error("provider returned status {status}: {body}")]
    Status { status: u16, body: String },
    /// The provider's answer did not follow its documented protocol.
    #[error("provider protocol violation: {0}")]
    Protocol(String),
    /// The configuration is unusable (missing key, unknown voice, bad URL).
    #[error("provider misconfigured: {0}")]
    Config(String),
    /// The local engine (e.g. libespeak-ng) failed.
    #[error("provider engine failure: {0}")]
    Engine(String),
}

/// Audio sent to an STT session.
#[derive(Debug, Clone)]
pub enum SttInput {
    /// One frame of caller audio at [`STT_SAMPLE_RATE_HZ`] (normally 20 ms = 320 samples).
    Audio(Vec<i16>),
    /// The conversation core decided the caller's turn ended: produce the final
    /// transcript for everything sent since the previous `EndOfUtterance` now.
    EndOfUtterance,
}

/// What an STT session reports.
#[derive(Debug, Clone, PartialEq)]
pub enum SttEvent {
    /// A partial hypothesis for the current utterance (may change).
    Interim { text: String },
    /// The final transcript of one utterance, answering one `EndOfUtterance`
    /// (an empty `text` means nothing intelligible was said).
    Final { text: String },
    /// The session failed; no more events follow.
    Error(ProviderError),
}

/// A live recognition session for one call. Dropping it closes the session.
pub struct SttSession {
    /// Caller audio and end-of-utterance markers. Bounded by [`STT_AUDIO_CHANNEL_FRAMES`];
    /// use `try_send` from realtime code and drop audio when full.
    pub input: tokio::sync::mpsc::Sender<SttInput>,
    /// Transcripts, bounded by [`STT_EVENT_CHANNEL`].
    pub events: tokio::sync::mpsc::Receiver<SttEvent>,
}

/// A speech-to-text provider (OpenAI-compatible, Deepgram, ...).
#[async_trait::async_trait]
pub trait SpeechToText: Send + Sync + 'static {
    /// Opens a session for one call. `language` is a BCP 47 tag such as `en` or `es-ES`.
    async fn open(&self, language: &str) -> Result<SttSession, ProviderError>;
}

/// A streaming chat language model (OpenAI-compatible, the offline `flow`).
#[async_trait::async_trait]
pub trait LanguageModel: Send + Sync + 'static {
    /// Starts one completion over `request.messages`. The stream yields tokens as
    /// they arrive and ends after [`LlmEvent::Done`] or an error. Dropping it cancels.
    async fn stream(
        &self,
        request: LlmRequest,
    ) -> Result<BoxStream<'static, Result<LlmEvent, ProviderError>>, ProviderError>;
}

/// A streaming speech synthesizer (espeak-ng, OpenAI-compatible).
#[async_trait::async_trait]
pub trait TextToSpeech: Send + Sync + 'static {
    /// Synthesizes `text` with `voice` (provider-specific name; empty = provider default).
    /// Audio chunks arrive as soon as they are produced. Dropping the stream cancels.
    async fn synthesize(
        &self,
        text: &str,
        voice: &str,
    ) -> Result<BoxStream<'static, Result<TtsChunk, ProviderError>>, ProviderError>;
}
