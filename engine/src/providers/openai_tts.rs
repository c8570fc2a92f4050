//! OpenAI-compatible speech synthesis (`POST /audio/speech`, `response_format: pcm`):
//! the body is raw 24 kHz mono s16le, streamed as it arrives.

use std::fmt;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;
use serde_json::json;
use tokio::sync::mpsc;

use super::http::{self, ChannelStream};
use super::{ProviderError, TextToSpeech, TtsChunk, PROVIDER_CONNECT_TIMEOUT};

pub const OPENAI_TTS_DEFAULT_MODEL: &str = "gpt-4o-mini-tts";
pub const OPENAI_TTS_DEFAULT_VOICE: &str = "alloy";
/// Sample rate of OpenAI's `pcm` response format.
pub const OPENAI_TTS_SAMPLE_RATE_HZ: u32 = 24_000;
/// Capacity of the channel between the body reader task and the returned stream, in chunks.
pub const TTS_CHUNK_CHANNEL: usize = 64;
/// Default limit on silence between two body chunks.
pub const TTS_STALL_TIMEOUT: Duration = Duration::from_secs(15);

/// Configuration of [`OpenAiTts`].
#[derive(Clone)]
pub struct OpenAiTtsConfig {
    pub base_url: String,
    /// Sent as `Authorization: Bearer`; `None` for local servers without auth.
    pub api_key: Option<String>,
    pub model: String,
    /// Voice used when `synthesize` is given an empty one.
    pub voice: String,
    /// Limit on the wait for the response head.
    pub first_byte_timeout: Duration,
    /// Limit on silence between body chunks.
    pub stall_timeout: Duration,
    /// Where requests may go (TLS to public addresses unless the operator
    /// allowed the host); see [`super::egress`].
    pub egress: super::egress::EgressPolicy,
}

impl Default for OpenAiTtsConfig {
    fn default() -> Self {
        Self {
            base_url: super::openai_stt::OPENAI_DEFAULT_BASE_URL.into(),
            api_key: None,
            model: OPENAI_TTS_DEFAULT_MODEL.into(),
            voice: OPENAI_TTS_DEFAULT_VOICE.into(),
            first_byte_timeout: PROVIDER_CONNECT_TIMEOUT,
            stall_timeout: TTS_STALL_TIMEOUT,
            egress: Default::default(),
        }
    }
}

impl fmt::Debug for OpenAiTtsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiTtsConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("voice", &self.voice)
            .field("first_byte_timeout", &self.first_byte_timeout)
            .field("stall_timeout", &self.stall_timeout)
            .field("egress", &self.egress)
            .finish()
    }
}

/// OpenAI-compatible streaming TTS.
#[derive(Debug, Clone)]
pub struct OpenAiTts {
    config: OpenAiTtsConfig,
    client: reqwest::Client,
}

impl OpenAiTts {
    pub fn new(config: OpenAiTtsConfig) -> Result<Self, ProviderError> {
        if config.base_url.trim().is_empty() {
            return Err(ProviderError::Config("OpenAI TTS base_url is empty".into()));
        }
        let client = http::client_for(&config.egress, &config.base_url)?;
        Ok(Self { config, client })
    }

    pub fn config(&self) -> &OpenAiTtsConfig {
        &self.config
    }
}

#[async_trait::async_trait]
impl TextToSpeech for OpenAiTts {
    async fn synthesize(
        &self,
        text: &str,
        voice: &str,
    ) -> Result<BoxStream<'static, Result<TtsChunk, ProviderError>>, ProviderError> {
        let voice = if voice.trim().is_empty() {
            self.config.voice.as_str()
        } else {
            voice
        };
        let body = json!({
            "model": self.config.model,
            "input": text,
            "voice": voice,
            "response_format": "pcm",
        });
        let mut builder = self
            .client
            .post(http::join_url(&self.config.base_url, "/audio/speech"))
            .json(&body);
        if let Some(key) = &self.config.api_key {
            builder = builder.bearer_auth(key);
        }
        let response = http::send(builder, self.config.first_byte_timeout).await?;
        let (tx, rx) = mpsc::channel(TTS_CHUNK_CHANNEL);
        let task = tokio::spawn(read_pcm(response, self.config.stall_timeout, tx));
        Ok(ChannelStream::new(rx, task).boxed())
    }
}

async fn read_pcm(
    mut response: reqwest::Response,
    stall: Duration,
    tx: mpsc::Sender<Result<TtsChunk, ProviderError>>,
) {
    let mut decoder = PcmDecoder::default();
    loop {
        let chunk = tokio::select! {
            _ = tx.closed() => return,
            chunk = http::next_chunk(&mut response, stall) => chunk,
        };
        match chunk {
            Ok(Some(bytes)) => {
                let samples = decoder.push(&bytes);
                if samples.is_empty() {
                    continue;
                }
                let chunk = TtsChunk {
                    samples,
                    sample_rate_hz: OPENAI_TTS_SAMPLE_RATE_HZ,
                };
                if tx.send(Ok(chunk)).await.is_err() {
                    return;
                }
            }
            Ok(None) => {
                if decoder.has_pending() {
                    tracing::debug!("TTS body ended on an odd byte; dropped");
                }
                return;
            }
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        }
    }
}

/// Turns s16le bytes split anywhere into samples, carrying an odd byte over.
#[derive(Debug, Default)]
pub struct PcmDecoder {
    carry: Option<u8>,
}

impl PcmDecoder {
    pub fn push(&mut self, mut bytes: &[u8]) -> Vec<i16> {
        let mut out = Vec::with_capacity(bytes.len().div_ceil(2));
        if let Some(lo) = self.carry.take() {
            match bytes.split_first() {
                Some((&hi, rest)) => {
                    out.push(i16::from_le_bytes([lo, hi]));
                    bytes = rest;
                }
                None => {
                    self.carry = Some(lo);
                    return out;
                }
            }
        }
        let mut pairs = bytes.chunks_exact(2);
        out.extend(pairs.by_ref().map(|p| i16::from_le_bytes([p[0], p[1]])));
        self.carry = pairs.remainder().first().copied();
        out
    }

    pub fn has_pending(&self) -> bool {
        self.carry.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_splits() {
        let samples: Vec<i16> = (0..50).map(|i| (i * 1000 - 20000) as i16).collect();
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        for step in 1..8 {
            let mut d = PcmDecoder::default();
            let mut out = Vec::new();
            for c in bytes.chunks(step) {
                out.extend(d.push(c));
            }
            assert_eq!(out, samples, "step {step}");
            assert!(!d.has_pending());
        }
    }
}
