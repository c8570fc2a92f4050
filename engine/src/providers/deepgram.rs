//! Deepgram streaming speech-to-text over WebSocket (`/v1/listen`).
//!
//! Audio frames go up as binary messages; `EndOfUtterance` sends `Finalize`
//! and the `from_finalize` answer closes the utterance. Interim results are
//! reported as [`SttEvent::Interim`]; `is_final` segments accumulate into the
//! utterance's [`SttEvent::Final`].

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

use super::http;
use super::{
    ProviderError, SpeechToText, SttEvent, SttInput, SttSession, PROVIDER_CONNECT_TIMEOUT,
    STT_AUDIO_CHANNEL_FRAMES, STT_EVENT_CHANNEL, STT_SAMPLE_RATE_HZ,
};

pub const DEEPGRAM_DEFAULT_BASE_URL: &str = "wss://api.deepgram.com";
pub const DEEPGRAM_DEFAULT_MODEL: &str = "nova-3";
/// Deepgram closes a stream after 10 s without audio; keep it alive after this much silence.
pub const DEEPGRAM_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
/// How long to wait for the `from_finalize` answer before finalizing with what arrived.
pub const DEEPGRAM_FINALIZE_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long closing the stream on drop may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Configuration of [`DeepgramStt`].
#[derive(Clone)]
pub struct DeepgramConfig {
    /// `wss://api.deepgram.com` (or a local `ws://` simulator).
    pub base_url: String,
    /// Sent as `Authorization: Token KEY`.
    pub api_key: String,
    pub model: String,
    /// Deepgram's own endpointing (silence ms before `speech_final`); `None` = server default.
    pub endpointing_ms: Option<u32>,
    pub interim_results: bool,
    /// Language used when `open` is given an empty one (empty = server default).
    pub language: String,
    pub keepalive_interval: Duration,
    pub finalize_timeout: Duration,
    pub connect_timeout: Duration,
    /// Where requests may go (TLS to public addresses unless the operator
    /// allowed the host); see [`super::egress`].
    pub egress: super::egress::EgressPolicy,
}

impl Default for DeepgramConfig {
    fn default() -> Self {
        Self {
            base_url: DEEPGRAM_DEFAULT_BASE_URL.into(),
            api_key: String::new(),
            model: DEEPGRAM_DEFAULT_MODEL.into(),
            endpointing_ms: None,
            interim_results: true,
            language: String::new(),
            keepalive_interval: DEEPGRAM_KEEPALIVE_INTERVAL,
            finalize_timeout: DEEPGRAM_FINALIZE_TIMEOUT,
            connect_timeout: PROVIDER_CONNECT_TIMEOUT,
            egress: Default::default(),
        }
    }
}

impl fmt::Debug for DeepgramConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeepgramConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("model", &self.model)
            .field("endpointing_ms", &self.endpointing_ms)
            .field("interim_results", &self.interim_results)
            .field("language", &self.language)
            .field("keepalive_interval", &self.keepalive_interval)
            .field("finalize_timeout", &self.finalize_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("egress", &self.egress)
            .finish()
    }
}

/// Deepgram live transcription.
#[derive(Debug, Clone)]
pub struct DeepgramStt {
    config: DeepgramConfig,
}

impl DeepgramStt {
    pub fn new(config: DeepgramConfig) -> Result<Self, ProviderError> {
        if config.api_key.is_empty() {
            return Err(ProviderError::Config("Deepgram api_key is empty".into()));
        }
        if !(config.base_url.starts_with("ws://") || config.base_url.starts_with("wss://")) {
            return Err(ProviderError::Config(format!(
                "Deepgram base_url must be ws:// or wss://, got {}",
                config.base_url
            )));
        }
        config.egress.check_url(&config.base_url, true)?;
        Ok(Self { config })
    }

    pub fn config(&self) -> &DeepgramConfig {
        &self.config
    }

    /// The `/v1/listen` URL for a session in `language` (no credentials in it).
    pub fn listen_url(&self, language: &str) -> String {
        let c = &self.config;
        let mut url = format!(
            "{}?model={}&encoding=linear16&sample_rate={}&channels=1&interim_results={}&punctuate=true&smart_format=true",
            http::join_url(&c.base_url, "/v1/listen"),
            http::encode_query_value(&c.model),
            STT_SAMPLE_RATE_HZ,
            c.interim_results,
        );
        let language = if language.trim().is_empty() {
            c.language.as_str()
        } else {
            language
        };
        if !language.trim().is_empty() {
            url.push_str("&language=");
            url.push_str(&http::encode_query_value(language.trim()));
        }
        if let Some(ms) = c.endpointing_ms {
            url.push_str(&format!("&endpointing={ms}"));
        }
        url
    }
}

#[async_trait::async_trait]
impl SpeechToText for DeepgramStt {
    async fn open(&self, language: &str) -> Result<SttSession, ProviderError> {
        let mut request = self
            .listen_url(language)
            .into_client_request()
            .map_err(|e| ProviderError::Config(format!("bad Deepgram URL: {e}")))?;
        let auth =
            HeaderValue::from_str(&format!("Token {}", self.config.api_key)).map_err(|_| {
                ProviderError::Config("Deepgram api_key is not a valid header value".into())
            })?;
        request.headers_mut().insert("Authorization", auth);

        // The TCP connection goes through the egress guard (names resolved and
        // checked at connect time); TLS and the handshake are tungstenite's.
        let url = request.uri().to_string();
        let started = Instant::now();
        let tcp = self
            .config
            .egress
            .connect_tcp(&url, self.config.connect_timeout)
            .await?;
        let remaining = self
            .config
            .connect_timeout
            .saturating_sub(started.elapsed());
        let connect = tokio_tungstenite::client_async_tls(request, tcp);
        let (ws, _response) = match tokio::time::timeout(remaining, connect).await {
            Ok(Ok(ok)) => ok,
            Ok(Err(e)) => return Err(map_ws_connect_error(e)),
            Err(_) => {
                return Err(ProviderError::Connect(format!(
                    "Deepgram handshake timed out after {} ms",
                    self.config.connect_timeout.as_millis()
                )))
            }
        };

        let (input_tx, input_rx) = mpsc::channel(STT_AUDIO_CHANNEL_FRAMES);
        let (events_tx, events_rx) = mpsc::channel(STT_EVENT_CHANNEL);
        let session = Session {
            keepalive_interval: self.config.keepalive_interval,
            finalize_timeout: self.config.finalize_timeout,
            events: events_tx,
            finals: String::new(),
            pending: VecDeque::new(),
            audio_since_finalize: false,
        };
        tokio::spawn(session.run(ws, input_rx));
        Ok(SttSession {
            input: input_tx,
            events: events_rx,
        })
    }
}

fn map_ws_connect_error(e: tungstenite::Error) -> ProviderError {
    match e {
        tungstenite::Error::Http(response) => {
            let status = response.status().as_u16();
            let body = response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            let body = http::error_message(&body).unwrap_or(body);
            ProviderError::Status { status, body }
        }
        tungstenite::Error::Url(e) => ProviderError::Config(format!("bad Deepgram URL: {e}")),
        other => ProviderError::Connect(other.to_string()),
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Session {
    keepalive_interval: Duration,
    finalize_timeout: Duration,
    events: mpsc::Sender<SttEvent>,
    /// `is_final` segments of the current utterance.
    finals: String,
    /// Deadlines of the `Finalize` messages awaiting their `from_finalize` answer.
    pending: VecDeque<Instant>,
    /// Audio went up since the last `Finalize` (otherwise there is nothing to flush).
    audio_since_finalize: bool,
}

/// Why the session loop stopped.
enum End {
    /// The session handle was dropped, or input ended: close politely.
    Dropped,
    /// The server closed or failed (already reported).
    Server,
}

impl Session {
    async fn run(mut self, ws: Ws, mut input: mpsc::Receiver<SttInput>) {
        let (mut sink, mut stream) = ws.split();
        let end = self.pump(&mut sink, &mut stream, &mut input).await;
        if let End::Dropped = end {
            // Tell Deepgram we are done, then close the socket; bounded in time.
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
                let _ = sink.send(Message::text(r#"{"type":"CloseStream"}"#)).await;
                let _ = sink
                    .send(Message::Close(Some(CloseFrame {
                        code: CloseCode::Normal,
                        reason: "".into(),
                    })))
                    .await;
                let _ = sink.flush().await;
            })
            .await;
        }
        let _ = sink.close().await;
    }

    async fn pump(
        &mut self,
        sink: &mut futures::stream::SplitSink<Ws, Message>,
        stream: &mut futures::stream::SplitStream<Ws>,
        input: &mut mpsc::Receiver<SttInput>,
    ) -> End {
        let mut keepalive_at = Instant::now() + self.keepalive_interval;
        loop {
            let finalize_deadline = self.pending.front().copied();
            tokio::select! {
                _ = self.events.closed() => return End::Dropped,
                msg = input.recv() => {
                    let result = match msg {
                        None => return End::Dropped,
                        Some(SttInput::Audio(frame)) => {
                            if frame.is_empty() {
                                continue;
                            }
                            self.audio_since_finalize = true;
                            keepalive_at = Instant::now() + self.keepalive_interval;
                            let mut bytes = Vec::with_capacity(frame.len() * 2);
                            for s in &frame {
                                bytes.extend_from_slice(&s.to_le_bytes());
                            }
                            sink.send(Message::binary(bytes)).await
                        }
                        Some(SttInput::EndOfUtterance) => {
                            if !self.audio_since_finalize && self.pending.is_empty() {
                                // Nothing buffered server-side: answer right away.
                                if !self.emit_final().await {
                                    return End::Dropped;
                                }
                                continue;
                            }
                            self.audio_since_finalize = false;
                            self.pending.push_back(Instant::now() + self.finalize_timeout);
                            sink.send(Message::text(r#"{"type":"Finalize"}"#)).await
                        }
                    };
                    if let Err(e) = result {
                        self.fail(ProviderError::Connect(format!("Deepgram send failed: {e}"))).await;
                        return End::Server;
                    }
                }
                _ = tokio::time::sleep_until(keepalive_at) => {
                    keepalive_at = Instant::now() + self.keepalive_interval;
                    tracing::trace!("deepgram keepalive");
                    if let Err(e) = sink.send(Message::text(r#"{"type":"KeepAlive"}"#)).await {
                        self.fail(ProviderError::Connect(format!("Deepgram send failed: {e}"))).await;
                        return End::Server;
                    }
                }
                _ = sleep_until_opt(finalize_deadline) => {
                    tracing::debug!("deepgram finalize answer late; finalizing with what arrived");
                    self.pending.pop_front();
                    if !self.emit_final().await {
                        return End::Dropped;
                    }
                }
                msg = stream.next() => {
                    match msg {
                        Some(Ok(Message::Text(text))) => {
                            match self.on_server_text(text.as_str()).await {
                                Ok(true) => {}
                                Ok(false) => return End::Dropped,
                                Err(e) => {
                                    self.fail(e).await;
                                    return End::Server;
                                }
                            }
                        }
                        Some(Ok(Message::Close(frame))) => {
                            let error = match frame {
                                Some(f) => ProviderError::Status {
                                    status: u16::from(f.code),
                                    body: format!("Deepgram closed the stream: {}", f.reason),
                                },
                                None => ProviderError::Connect("Deepgram closed the stream".into()),
                            };
                            self.fail(error).await;
                            return End::Server;
                        }
                        Some(Ok(_)) => {} // binary / ping / pong: nothing to do
                        Some(Err(e)) => {
                            self.fail(ProviderError::Connect(format!("Deepgram connection failed: {e}"))).await;
                            return End::Server;
                        }
                        None => {
                            self.fail(ProviderError::Connect("Deepgram connection closed".into())).await;
                            return End::Server;
                        }
                    }
                }
            }
        }
    }

    /// Handles one JSON message; `Ok(false)` when the session handle is gone.
    async fn on_server_text(&mut self, text: &str) -> Result<bool, ProviderError> {
        // Parsed loosely: fields such as `channel` change shape between message types.
        let msg: Value = serde_json::from_str(text)
            .map_err(|e| ProviderError::Protocol(format!("bad Deepgram message: {e}")))?;
        let flag = |name: &str| msg.get(name).and_then(Value::as_bool).unwrap_or(false);
        match msg.get("type").and_then(Value::as_str).unwrap_or("") {
            "Results" => {
                let transcript = msg
                    .pointer("/channel/alternatives/0/transcript")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .trim();
                if flag("is_final") {
                    if !transcript.is_empty() {
                        if !self.finals.is_empty() {
                            self.finals.push(' ');
                        }
                        self.finals.push_str(transcript);
                    }
                    // A `from_finalize` answer with nothing pending is a late answer to a
                    // finalize already closed by timeout: its text joins the next utterance.
                    if flag("from_finalize") && self.pending.pop_front().is_some() {
                        return Ok(self.emit_final().await);
                    }
                } else if !transcript.is_empty() {
                    let text = if self.finals.is_empty() {
                        transcript.to_owned()
                    } else {
                        format!("{} {}", self.finals, transcript)
                    };
                    return Ok(self.events.send(SttEvent::Interim { text }).await.is_ok());
                }
                Ok(true)
            }
            "Metadata" | "SpeechStarted" | "UtteranceEnd" => Ok(true),
            "Error" => {
                let detail = ["description", "message", "err_msg", "reason"]
                    .iter()
                    .find_map(|k| msg.get(*k).and_then(Value::as_str))
                    .unwrap_or(text);
                Err(ProviderError::Status {
                    status: 0,
                    body: format!("Deepgram error: {detail}"),
                })
            }
            other => {
                tracing::debug!(kind = other, "ignoring Deepgram message");
                Ok(true)
            }
        }
    }

    /// Emits the accumulated utterance as final; `false` when the handle is gone.
    async fn emit_final(&mut self) -> bool {
        let text = std::mem::take(&mut self.finals);
        self.events.send(SttEvent::Final { text }).await.is_ok()
    }

    async fn fail(&mut self, error: ProviderError) {
        tracing::warn!(error = %error, "deepgram session failed");
        let _ = self.events.send(SttEvent::Error(error)).await;
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => futures::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_has_all_parameters() {
        let dg = DeepgramStt::new(DeepgramConfig {
            api_key: "k".into(),
            endpointing_ms: Some(300),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            dg.listen_url("en-US"),
            "wss://api.deepgram.com/v1/listen?model=nova-3&encoding=linear16&sample_rate=16000&channels=1&interim_results=true&punctuate=true&smart_format=true&language=en-US&endpointing=300"
        );
    }
}
