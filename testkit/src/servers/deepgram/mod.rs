//! [`MockDeepgram`]: a local Deepgram live-transcription server
//! (WebSocket `GET /v1/listen?...`) whose recognition is done by a real
//! recognizer: an OpenAI-compatible transcription server (normally
//! `tools/whisper_server.py`, see [`crate::speech::Whisper`]).
//!
//! Protocol, after Deepgram's streaming API docs:
//! - auth: `Authorization: Token KEY` (or the `Sec-WebSocket-Protocol:
//!   token, KEY` form); anything else is refused with HTTP 401 on the upgrade,
//!   with `dg-request-id` and `dg-error` headers and an `INVALID_AUTH` body;
//! - query: `encoding` (linear16, mulaw or alaw here) with `sample_rate`,
//!   `channels` (channel 0 is transcribed), `interim_results`, `endpointing`
//!   (ms, or `false`), `utterance_end_ms`, `vad_events`; others are recorded
//!   and accepted;
//! - binary frames are audio; text frames are control messages:
//!   `KeepAlive` (nothing back), `Finalize` (transcribe the audio since the
//!   last final → `Results` with `is_final`, `speech_final`, `from_finalize`
//!   true), `CloseStream` (finish pending audio, send `Metadata`, close 1000);
//! - while audio flows: interim `Results` (`is_final: false`) about every
//!   second of new speech when `interim_results=true`; an endpoint (`is_final`
//!   and `speech_final` true) after `endpointing` ms of silence following
//!   speech (an energy detector; silences under `min_endpointing_ms`, default
//!   200, never end speech: the real model does not split words at
//!   stop-consonant closures either); `SpeechStarted` with `vad_events=true`;
//!   `UtteranceEnd` after `utterance_end_ms` of silence;
//! - no audio nor message for 10 s (configurable): closed with 1011 `NET-0001`.

use super::{lock, random_hex, spawn_tokio_on, uuid_v4, Delay, ServerHandle, Shared};
use crate::speech::{rms_dbfs, Whisper};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

mod params;
mod session;

use params::*;
use session::*;

const MODEL_NAME: &str = "2-general-nova";
const MODEL_VERSION: &str = "2024-01-18.26916";
const MODEL_ARCH: &str = "nova-2";
const NET_0001: &str =
    "NET-0001: Deepgram did not receive audio data or a text message within the timeout window.";

/// What the mock saw on one `/v1/listen` connection attempt.
#[derive(Debug, Clone, Default)]
pub struct DeepgramConnection {
    pub path: String,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// Lowercase header names.
    pub headers: Vec<(String, String)>,
    /// 101 when upgraded, else the HTTP status it was refused with.
    pub status: u16,
    pub request_id: String,
    /// Text (control) messages received, parsed (a non-JSON one as a string).
    pub text_messages: Vec<Value>,
    /// Binary frames received and their total size.
    pub audio_frames: usize,
    pub audio_bytes: usize,
    /// The audio received (channel 0, decoded to s16 at the stream's rate).
    pub audio: Vec<i16>,
    /// Every JSON message sent back, in order.
    pub sent: Vec<Value>,
    /// The close frame the mock sent or received, if any.
    pub close: Option<(u16, String)>,
    /// Recognizer failures (the affected result carried an empty transcript).
    pub errors: Vec<String>,
}

impl DeepgramConnection {
    /// A query parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `type` of each control message received, e.g. `["KeepAlive", "Finalize"]`.
    pub fn control_types(&self) -> Vec<String> {
        self.text_messages
            .iter()
            .filter_map(|m| m.get("type").and_then(Value::as_str).map(String::from))
            .collect()
    }

    /// The `Results` messages sent with `is_final: true`.
    pub fn final_results(&self) -> Vec<Value> {
        self.sent
            .iter()
            .filter(|m| m["type"] == "Results" && m["is_final"] == true)
            .cloned()
            .collect()
    }

    /// The transcripts of all final results joined with spaces.
    pub fn final_transcript(&self) -> String {
        self.final_results()
            .iter()
            .filter_map(|m| {
                m.pointer("/channel/alternatives/0/transcript")
                    .and_then(Value::as_str)
            })
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Who turns a segment's audio into text.
#[derive(Debug, Clone)]
enum Recognizer {
    /// A real recognizer (an OpenAI-compatible transcription server).
    Whisper(Whisper),
    /// For load: always this transcript; finals after a drawn delay.
    Fixed { text: String, delay: Delay },
}

impl Recognizer {
    async fn transcribe(&self, pcm: &[i16], rate: u32, is_final: bool) -> anyhow::Result<String> {
        match self {
            Recognizer::Whisper(w) => w.transcribe(pcm, rate).await,
            Recognizer::Fixed { text, delay } => {
                if is_final {
                    tokio::time::sleep(delay.sample()).await;
                }
                Ok(text.clone())
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Config {
    api_key: Option<String>,
    recognizer: Recognizer,
    listen: Option<std::net::SocketAddr>,
    record_audio: bool,
    interim_every: Duration,
    idle_timeout: Duration,
    min_endpointing: Duration,
    voice_threshold_dbfs: f64,
}

#[derive(Debug)]
struct State {
    config: Config,
    connections: Vec<DeepgramConnection>,
}

/// Builds a [`MockDeepgram`].
#[derive(Debug, Clone)]
pub struct MockDeepgramBuilder {
    config: Config,
}

impl MockDeepgramBuilder {
    /// Require this key (`Authorization: Token KEY`). Without it any key is
    /// accepted, but one must still be given.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.config.api_key = Some(key.into());
        self
    }

    /// How much new speech between interim results (default 1 s; zero: none).
    pub fn interim_every_ms(mut self, ms: u64) -> Self {
        self.config.interim_every = Duration::from_millis(ms);
        self
    }

    /// Close with 1011 NET-0001 after this long without audio or a message
    /// (Deepgram: 10 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.config.idle_timeout = timeout;
        self
    }

    /// Shortest silence that may end speech (default 200 ms), whatever
    /// `endpointing` asks for.
    pub fn min_endpointing_ms(mut self, ms: u64) -> Self {
        self.config.min_endpointing = Duration::from_millis(ms);
        self
    }

    /// Frames (10 ms) at least this loud count as speech (default -45 dBFS).
    pub fn voice_threshold_dbfs(mut self, dbfs: f64) -> Self {
        self.config.voice_threshold_dbfs = dbfs;
        self
    }

    /// Listen here instead of `127.0.0.1:0`.
    pub fn listen(mut self, addr: std::net::SocketAddr) -> Self {
        self.config.listen = Some(addr);
        self
    }

    /// Keep the received audio in [`DeepgramConnection::audio`] and the sent
    /// messages in `sent` (default true; false for load).
    pub fn record_audio(mut self, on: bool) -> Self {
        self.config.record_audio = on;
        self
    }

    pub fn start(self) -> anyhow::Result<MockDeepgram> {
        let listen = self.config.listen;
        let state = Arc::new(Mutex::new(State {
            config: self.config,
            connections: Vec::new(),
        }));
        let st = state.clone();
        let handle = spawn_tokio_on("deepgram", listen, move |listener| async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                tokio::task::spawn_local(serve_connection(stream, st.clone()));
            }
        })?;
        Ok(MockDeepgram { handle, state })
    }
}

/// A running local Deepgram streaming server. Stops on drop.
pub struct MockDeepgram {
    handle: ServerHandle,
    state: Shared<State>,
}

impl MockDeepgram {
    /// A builder whose recognition is done by the transcription server at
    /// `recognizer` (see [`Whisper::shared`]).
    pub fn builder(recognizer: Whisper) -> MockDeepgramBuilder {
        Self::builder_with(Recognizer::Whisper(recognizer))
    }

    /// A builder whose every final result is `transcript`, sent `delay`
    /// after the end of speech is detected (endpointing) or `Finalize`
    /// arrives; interim results carry it too, at once. No recognizer needed:
    /// for load tests.
    pub fn builder_fixed(transcript: impl Into<String>, delay: Delay) -> MockDeepgramBuilder {
        Self::builder_with(Recognizer::Fixed {
            text: transcript.into(),
            delay,
        })
    }

    fn builder_with(recognizer: Recognizer) -> MockDeepgramBuilder {
        MockDeepgramBuilder {
            config: Config {
                api_key: None,
                recognizer,
                listen: None,
                record_audio: true,
                interim_every: Duration::from_secs(1),
                idle_timeout: Duration::from_secs(10),
                min_endpointing: Duration::from_millis(200),
                voice_threshold_dbfs: -45.0,
            },
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> &str {
        self.handle.base_url()
    }

    /// `ws://127.0.0.1:PORT`: what Deepgram clients take as the API host
    /// (in place of `wss://api.deepgram.com`).
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.handle.addr())
    }

    /// `ws://127.0.0.1:PORT/v1/listen`
    pub fn listen_url(&self) -> String {
        format!("ws://{}/v1/listen", self.handle.addr())
    }

    pub fn handle(&self) -> &ServerHandle {
        &self.handle
    }

    /// Every connection attempt so far (refused ones too), oldest first.
    pub fn connections(&self) -> Vec<DeepgramConnection> {
        lock(&self.state).connections.clone()
    }

    pub fn last_connection(&self) -> Option<DeepgramConnection> {
        lock(&self.state).connections.last().cloned()
    }
}
