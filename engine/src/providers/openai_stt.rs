//! OpenAI-compatible batch transcription (`POST /audio/transcriptions`):
//! OpenAI Whisper, Groq, and local faster-whisper-server style servers.
//!
//! The session buffers caller audio and, on each [`SttInput::EndOfUtterance`],
//! uploads the utterance as a 16 kHz mono WAV file. Requests run one at a time
//! so finals come back in order; audio for the next utterance keeps being
//! buffered while one is in flight.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;

use super::http;
use super::{
    ProviderError, SpeechToText, SttEvent, SttInput, SttSession, STT_AUDIO_CHANNEL_FRAMES,
    STT_EVENT_CHANNEL, STT_SAMPLE_RATE_HZ,
};

/// Default endpoint base.
pub const OPENAI_DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// Default transcription model (Groq: `whisper-large-v3`).
pub const OPENAI_STT_DEFAULT_MODEL: &str = "whisper-1";
/// Longest utterance buffered, in seconds; audio past it is dropped.
pub const MAX_UTTERANCE_SECS: usize = 30;
/// Longest utterance buffered, in samples.
pub const MAX_UTTERANCE_SAMPLES: usize = MAX_UTTERANCE_SECS * STT_SAMPLE_RATE_HZ as usize;
/// Utterances with audio that may wait behind an in-flight request; past this,
/// an utterance's audio is dropped (it is still answered, with an empty final).
pub const MAX_QUEUED_UTTERANCES: usize = 4;
/// Default limit on one transcription request, upload to parsed answer.
pub const OPENAI_STT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Configuration of [`OpenAiStt`].
#[derive(Clone)]
pub struct OpenAiSttConfig {
    /// e.g. `https://api.openai.com/v1`, `https://api.groq.com/openai/v1`, `http://127.0.0.1:8000/v1`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer`; `None` for local servers without auth.
    pub api_key: Option<String>,
    pub model: String,
    /// Language used when `open` is given an empty one (empty = let the server detect).
    pub language: String,
    /// Limit on one transcription request (connect, upload and answer).
    pub request_timeout: Duration,
    /// Where requests may go (TLS to public addresses unless the operator
    /// allowed the host); see [`super::egress`].
    pub egress: super::egress::EgressPolicy,
}

impl Default for OpenAiSttConfig {
    fn default() -> Self {
        Self {
            base_url: OPENAI_DEFAULT_BASE_URL.into(),
            api_key: None,
            model: OPENAI_STT_DEFAULT_MODEL.into(),
            language: String::new(),
            request_timeout: OPENAI_STT_REQUEST_TIMEOUT,
            egress: Default::default(),
        }
    }
}

impl fmt::Debug for OpenAiSttConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiSttConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("language", &self.language)
            .field("request_timeout", &self.request_timeout)
            .field("egress", &self.egress)
            .finish()
    }
}

/// OpenAI-compatible speech-to-text over `/audio/transcriptions`.
#[derive(Debug, Clone)]
pub struct OpenAiStt {
    config: OpenAiSttConfig,
    client: reqwest::Client,
}

impl OpenAiStt {
    pub fn new(config: OpenAiSttConfig) -> Result<Self, ProviderError> {
        if config.base_url.trim().is_empty() {
            return Err(ProviderError::Config("OpenAI STT base_url is empty".into()));
        }
        let client = http::client_for(&config.egress, &config.base_url)?;
        Ok(Self { config, client })
    }

    pub fn config(&self) -> &OpenAiSttConfig {
        &self.config
    }
}

#[async_trait::async_trait]
impl SpeechToText for OpenAiStt {
    async fn open(&self, language: &str) -> Result<SttSession, ProviderError> {
        let language = if language.trim().is_empty() {
            &self.config.language
        } else {
            language
        };
        let request = Transcriber {
            client: self.client.clone(),
            url: http::join_url(&self.config.base_url, "/audio/transcriptions"),
            api_key: self.config.api_key.clone(),
            model: self.config.model.clone(),
            language: http::primary_language(language),
            timeout: self.config.request_timeout,
        };
        let (input_tx, input_rx) = mpsc::channel(STT_AUDIO_CHANNEL_FRAMES);
        let (events_tx, events_rx) = mpsc::channel(STT_EVENT_CHANNEL);
        // The task ends by itself when the session is dropped (it watches both channels).
        tokio::spawn(run_session(request, input_rx, events_tx));
        Ok(SttSession {
            input: input_tx,
            events: events_rx,
        })
    }
}

/// Everything one upload needs (cloned out of the provider so the session task is `'static`).
struct Transcriber {
    client: reqwest::Client,
    url: String,
    api_key: Option<String>,
    model: String,
    language: String,
    timeout: Duration,
}

#[derive(Deserialize)]
struct TranscriptionResponse {
    text: String,
}

impl Transcriber {
    async fn transcribe(&self, samples: Vec<i16>) -> Result<String, ProviderError> {
        let wav = wav_bytes(&samples, STT_SAMPLE_RATE_HZ);
        let file = reqwest::multipart::Part::bytes(wav)
            .file_name("utterance.wav")
            .mime_str("audio/wav")
            .map_err(http::map_reqwest_error)?;
        let mut form = reqwest::multipart::Form::new()
            .part("file", file)
            .text("model", self.model.clone())
            .text("response_format", "json");
        if !self.language.is_empty() {
            form = form.text("language", self.language.clone());
        }
        let mut request = self
            .client
            .post(&self.url)
            .multipart(form)
            .timeout(self.timeout);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = http::send(request, self.timeout).await?;
        let body = response.bytes().await.map_err(http::map_reqwest_error)?;
        let parsed: TranscriptionResponse = serde_json::from_slice(&body)
            .map_err(|e| ProviderError::Protocol(format!("bad transcription response: {e}")))?;
        Ok(parsed.text.trim().to_owned())
    }
}

type Pending = Pin<Box<dyn Future<Output = Result<String, ProviderError>> + Send>>;

async fn run_session(
    transcriber: Transcriber,
    mut input: mpsc::Receiver<SttInput>,
    events: mpsc::Sender<SttEvent>,
) {
    let transcriber = std::sync::Arc::new(transcriber);
    let mut current: Vec<i16> = Vec::new();
    let mut dropped_warned = false;
    // Finished utterances waiting for their request, in order. Empty = answer "" locally.
    let mut queue: VecDeque<Vec<i16>> = VecDeque::new();
    let mut in_flight: Option<Pending> = None;
    let mut input_open = true;

    loop {
        // Start the next request, answering empty utterances on the spot.
        while in_flight.is_none() {
            let Some(utterance) = queue.pop_front() else {
                break;
            };
            if utterance.is_empty() {
                if events
                    .send(SttEvent::Final {
                        text: String::new(),
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            } else {
                let t = transcriber.clone();
                in_flight = Some(Box::pin(async move { t.transcribe(utterance).await }));
            }
        }
        if !input_open && in_flight.is_none() {
            return;
        }

        tokio::select! {
            _ = events.closed() => return,
            result = async { in_flight.as_mut().expect("guarded").await }, if in_flight.is_some() => {
                in_flight = None;
                match result {
                    Ok(text) => {
                        if events.send(SttEvent::Final { text }).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "transcription failed");
                        let _ = events.send(SttEvent::Error(e)).await;
                        return;
                    }
                }
            }
            msg = input.recv(), if input_open => match msg {
                Some(SttInput::Audio(frame)) => {
                    let room = MAX_UTTERANCE_SAMPLES.saturating_sub(current.len());
                    if frame.len() > room && !dropped_warned {
                        dropped_warned = true;
                        tracing::warn!(max_secs = MAX_UTTERANCE_SECS, "utterance too long, dropping audio past the limit");
                    }
                    current.extend_from_slice(&frame[..frame.len().min(room)]);
                }
                Some(SttInput::EndOfUtterance) => {
                    dropped_warned = false;
                    let mut utterance = std::mem::take(&mut current);
                    let waiting = queue.iter().filter(|u| !u.is_empty()).count();
                    if !utterance.is_empty() && waiting >= MAX_QUEUED_UTTERANCES {
                        tracing::warn!("too many utterances waiting for transcription, dropping one");
                        utterance = Vec::new();
                    }
                    queue.push_back(utterance);
                }
                // No more input: answer what was asked, then end.
                None => input_open = false,
            },
        }
    }
}

/// A RIFF/WAVE file (PCM, mono, 16-bit little-endian) holding `samples`.
pub fn wav_bytes(samples: &[i16], sample_rate_hz: u32) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(b"fmt ");
    out.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // channels
    out.extend_from_slice(&sample_rate_hz.to_le_bytes());
    out.extend_from_slice(&(sample_rate_hz * 2).to_le_bytes()); // byte rate
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_header() {
        let wav = wav_bytes(&[1, -2, 3], 16_000);
        assert_eq!(wav.len(), 44 + 6);
        assert_eq!(&wav[0..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(wav[4..8].try_into().unwrap()), 42);
        assert_eq!(u32::from_le_bytes(wav[24..28].try_into().unwrap()), 16_000);
        assert_eq!(u32::from_le_bytes(wav[40..44].try_into().unwrap()), 6);
        assert_eq!(i16::from_le_bytes([wav[46], wav[47]]), -2);
    }
}
