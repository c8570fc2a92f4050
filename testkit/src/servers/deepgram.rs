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

// ------------------------------------------------------------------ params

#[derive(Debug, Clone, Copy, PartialEq)]
enum Encoding {
    Linear16,
    Mulaw,
    Alaw,
}

#[derive(Debug, Clone)]
struct Params {
    encoding: Encoding,
    sample_rate: u32,
    channels: usize,
    interim_results: bool,
    /// None: endpointing disabled.
    endpointing: Option<Duration>,
    utterance_end: Option<Duration>,
    vad_events: bool,
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(kv), String::new()),
        })
        .collect()
}

fn parse_params(query: &[(String, String)]) -> Result<Params, String> {
    let get = |k: &str| {
        query
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    let flag = |k: &str| -> Result<bool, String> {
        match get(k) {
            None => Ok(false),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(v) => Err(format!(
                "Invalid value for '{k}': '{v}' (expected true or false)"
            )),
        }
    };
    let encoding = match get("encoding") {
        Some("linear16") => Encoding::Linear16,
        Some("mulaw") => Encoding::Mulaw,
        Some("alaw") => Encoding::Alaw,
        Some(other) => {
            return Err(format!("encoding '{other}' is not supported by this local mock (use linear16, mulaw or alaw)"))
        }
        None => {
            return Err("containerized audio (no 'encoding') is not supported by this local mock: pass encoding and sample_rate".into())
        }
    };
    let sample_rate = match get("sample_rate").map(str::parse::<u32>) {
        Some(Ok(r)) if (1000..=192_000).contains(&r) => r,
        Some(_) => return Err("Invalid value for 'sample_rate'".into()),
        None => return Err("'sample_rate' is required when 'encoding' is set".into()),
    };
    let channels = match get("channels").map(str::parse::<usize>) {
        None => 1,
        Some(Ok(c)) if (1..=32).contains(&c) => c,
        Some(_) => return Err("Invalid value for 'channels'".into()),
    };
    let endpointing = match get("endpointing") {
        None => Some(Duration::from_millis(10)),
        Some("false") => None,
        Some("true") => Some(Duration::from_millis(10)),
        Some(v) => match v.parse::<u64>() {
            Ok(ms) => Some(Duration::from_millis(ms)),
            Err(_) => return Err(format!("Invalid value for 'endpointing': '{v}'")),
        },
    };
    let utterance_end = match get("utterance_end_ms") {
        None => None,
        Some(v) => match v.parse::<u64>() {
            Ok(ms) if ms >= 1000 => Some(Duration::from_millis(ms)),
            _ => {
                return Err(format!(
                    "Invalid value for 'utterance_end_ms': '{v}' (at least 1000)"
                ))
            }
        },
    };
    Ok(Params {
        encoding,
        sample_rate,
        channels,
        interim_results: flag("interim_results")?,
        endpointing,
        utterance_end,
        vad_events: flag("vad_events")?,
    })
}

fn refuse(status: StatusCode, request_id: &str, err_code: &str, err_msg: &str) -> ErrorResponse {
    let body =
        json!({"err_code": err_code, "err_msg": err_msg, "request_id": request_id}).to_string();
    let mut resp = ErrorResponse::new(Some(body.clone()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("dg-request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&body) {
        h.insert("dg-error", v);
    }
    resp
}

/// The key a client presented: `Authorization: Token KEY`, or the
/// WebSocket subprotocol form `token, KEY`. (`Some(true)` when the key came
/// as a subprotocol, which must then be echoed.)
fn presented_key(req: &Request) -> Option<(String, bool)> {
    if let Some(auth) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, key) = auth.trim().split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("token")
            .then(|| (key.trim().to_string(), false));
    }
    let protos = req.headers().get("sec-websocket-protocol")?.to_str().ok()?;
    let parts: Vec<&str> = protos.split(',').map(str::trim).collect();
    match parts.as_slice() {
        ["token", key, ..] => Some((key.to_string(), true)),
        _ => None,
    }
}

// -------------------------------------------------------------- connection

fn decode_audio(enc: Encoding, channels: usize, data: &[u8], carry: &mut Vec<u8>) -> Vec<i16> {
    let bytes_per_sample = if enc == Encoding::Linear16 { 2 } else { 1 };
    let frame = bytes_per_sample * channels;
    carry.extend_from_slice(data);
    let usable = carry.len() / frame * frame;
    let out = carry[..usable]
        .chunks_exact(frame)
        .map(|f| match enc {
            Encoding::Linear16 => i16::from_le_bytes([f[0], f[1]]),
            Encoding::Mulaw => mulaw_to_linear(f[0]),
            Encoding::Alaw => alaw_to_linear(f[0]),
        })
        .collect();
    carry.drain(..usable);
    out
}

fn mulaw_to_linear(u: u8) -> i16 {
    let u = !u;
    let t = ((((u & 0x0f) as i32) << 3) + 0x84) << ((u & 0x70) >> 4);
    (if u & 0x80 != 0 { 0x84 - t } else { t - 0x84 }) as i16
}

fn alaw_to_linear(a: u8) -> i16 {
    let a = a ^ 0x55;
    let mut t = ((a & 0x0f) as i32) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => t = (t + 0x108) << (seg - 1),
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

/// An ISO-8601 UTC timestamp with milliseconds, like Deepgram's `created`.
fn iso_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}

struct Session {
    params: Params,
    config: Config,
    request_id: String,
    model_uuid: String,
    /// Samples of channel 0 received so far.
    total: u64,
    /// The current (not yet final) segment: its first sample and its audio.
    seg_start: u64,
    seg: Vec<i16>,
    seg_voiced: bool,
    /// Voice detection on 10 ms frames.
    frame: Vec<i16>,
    in_speech: bool,
    silence: Duration,
    last_voice_end: u64,
    words_since_utterance_end: bool,
    utterance_end_sent: bool,
    /// Interim results: generation of the segment, samples at the last one.
    generation: u64,
    interim_at: usize,
    interim_busy: bool,
}

struct Interim {
    generation: u64,
    start: u64,
    len: usize,
    text: anyhow::Result<String>,
}

impl Session {
    fn secs(&self, samples: u64) -> f64 {
        samples as f64 / self.params.sample_rate as f64
    }

    fn metadata_block(&self) -> Value {
        json!({
            "request_id": self.request_id,
            "model_info": {"name": MODEL_NAME, "version": MODEL_VERSION, "arch": MODEL_ARCH},
            "model_uuid": self.model_uuid,
        })
    }

    fn results(
        &self,
        start: u64,
        len: usize,
        text: &str,
        is_final: bool,
        speech_final: bool,
        from_finalize: bool,
    ) -> Value {
        let start_s = self.secs(start);
        let dur = self.secs(len as u64);
        let tokens: Vec<&str> = text.split_whitespace().collect();
        let step = if tokens.is_empty() {
            0.0
        } else {
            dur / tokens.len() as f64
        };
        let words: Vec<Value> = tokens
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let bare: String = w
                    .chars()
                    .filter(|c| c.is_alphanumeric() || *c == '\'')
                    .collect::<String>()
                    .to_lowercase();
                json!({
                    "word": bare,
                    "start": round3(start_s + step * i as f64),
                    "end": round3(start_s + step * (i + 1) as f64),
                    "confidence": 0.9,
                    "punctuated_word": w,
                })
            })
            .collect();
        json!({
            "type": "Results",
            "channel_index": [0, self.params.channels],
            "duration": round3(dur),
            "start": round3(start_s),
            "is_final": is_final,
            "speech_final": speech_final,
            "channel": {"alternatives": [{
                "transcript": text,
                "confidence": if text.is_empty() { 0.0 } else { 0.9 },
                "words": words,
            }]},
            "metadata": self.metadata_block(),
            "from_finalize": from_finalize,
        })
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

struct Conn {
    sink: futures::stream::SplitSink<
        tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
        Message,
    >,
    state: Shared<State>,
    index: usize,
    record_all: bool,
}

impl Conn {
    fn record<F: FnOnce(&mut DeepgramConnection)>(&self, f: F) {
        f(&mut lock(&self.state).connections[self.index]);
    }

    async fn send(&mut self, msg: Value) -> bool {
        let text = msg.to_string();
        if self.record_all {
            self.record(|c| c.sent.push(msg));
        }
        self.sink.send(Message::text(text)).await.is_ok()
    }

    async fn close(&mut self, code: u16, reason: &str) {
        self.record(|c| c.close = Some((code, reason.to_string())));
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_string().into(),
        };
        let _ = self.sink.send(Message::Close(Some(frame))).await;
        let _ = self.sink.close().await;
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, state: Shared<State>) {
    let config = lock(&state).config.clone();
    let request_id = uuid_v4();
    let index = {
        let mut s = lock(&state);
        s.connections.push(DeepgramConnection {
            request_id: request_id.clone(),
            ..Default::default()
        });
        s.connections.len() - 1
    };
    let mut params: Option<Params> = None;
    let rid = request_id.clone();
    let st = state.clone();
    // The Err type is tungstenite's handshake callback contract.
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        let query = parse_query(req.uri().query());
        let headers = req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut s = lock(&st);
        let rec = &mut s.connections[index];
        rec.path = req.uri().path().to_string();
        rec.query = query.clone();
        rec.headers = headers;
        if req.uri().path().trim_end_matches('/') != "/v1/listen" {
            rec.status = 404;
            return Err(refuse(
                StatusCode::NOT_FOUND,
                &rid,
                "NOT_FOUND",
                "Not found.",
            ));
        }
        let key_ok = match presented_key(req) {
            Some((key, via_protocol)) => {
                let ok =
                    !key.is_empty() && config.api_key.as_deref().map(|k| k == key).unwrap_or(true);
                if ok && via_protocol {
                    resp.headers_mut()
                        .insert("sec-websocket-protocol", HeaderValue::from_static("token"));
                }
                ok
            }
            None => false,
        };
        if !key_ok {
            rec.status = 401;
            return Err(refuse(
                StatusCode::UNAUTHORIZED,
                &rid,
                "INVALID_AUTH",
                "Invalid credentials.",
            ));
        }
        match parse_params(&query) {
            Ok(p) => params = Some(p),
            Err(msg) => {
                rec.status = 400;
                return Err(refuse(StatusCode::BAD_REQUEST, &rid, "Bad Request", &msg));
            }
        }
        if let Ok(v) = HeaderValue::from_str(&rid) {
            resp.headers_mut().insert("dg-request-id", v);
        }
        rec.status = 101;
        Ok(resp)
    };
    let ws = match tokio_tungstenite::accept_hdr_async(stream, callback).await {
        Ok(ws) => ws,
        Err(e) => {
            tracing::debug!("mock deepgram: handshake failed: {e}");
            return;
        }
    };
    let Some(params) = params else { return };
    let (sink, mut incoming) = ws.split();
    let mut conn = Conn {
        sink,
        state: state.clone(),
        index,
        record_all: config.record_audio,
    };
    let mut s = Session {
        params,
        config: config.clone(),
        request_id,
        model_uuid: uuid_v4(),
        total: 0,
        seg_start: 0,
        seg: Vec::new(),
        seg_voiced: false,
        frame: Vec::new(),
        in_speech: false,
        silence: Duration::ZERO,
        last_voice_end: 0,
        words_since_utterance_end: false,
        utterance_end_sent: true,
        generation: 0,
        interim_at: 0,
        interim_busy: false,
    };
    let (interim_tx, mut interim_rx) = tokio::sync::mpsc::unbounded_channel::<Interim>();
    let mut carry: Vec<u8> = Vec::new();
    let frame_len = (s.params.sample_rate / 100) as usize;

    loop {
        let msg = tokio::select! {
            m = tokio::time::timeout(config.idle_timeout, incoming.next()) => match m {
                Err(_) => {
                    conn.close(1011, NET_0001).await;
                    return;
                }
                Ok(None) | Ok(Some(Err(_))) => return,
                Ok(Some(Ok(m))) => m,
            },
            Some(done) = interim_rx.recv() => {
                s.interim_busy = false;
                if done.generation == s.generation {
                    match done.text {
                        Ok(text) if !text.is_empty() => {
                            let m = s.results(done.start, done.len, &text, false, false, false);
                            if !conn.send(m).await { return; }
                        }
                        Ok(_) => {}
                        Err(e) => conn.record(|c| c.errors.push(format!("{e:#}"))),
                    }
                }
                continue;
            }
        };
        match msg {
            Message::Binary(data) if data.is_empty() => {
                // Deepgram's older way to say CloseStream: an empty binary frame.
                conn.record(|c| {
                    c.text_messages
                        .push(json!({"type": "CloseStream", "via": "empty binary frame"}))
                });
                close_stream(&mut conn, &mut s).await;
                return;
            }
            Message::Binary(data) => {
                let samples = decode_audio(s.params.encoding, s.params.channels, &data, &mut carry);
                let keep = conn.record_all;
                conn.record(|c| {
                    c.audio_frames += 1;
                    c.audio_bytes += data.len();
                    if keep {
                        c.audio.extend_from_slice(&samples);
                    }
                });
                for sample in samples {
                    s.total += 1;
                    s.seg.push(sample);
                    s.frame.push(sample);
                    if s.frame.len() < frame_len {
                        continue;
                    }
                    let voiced = rms_dbfs(&s.frame) >= config.voice_threshold_dbfs;
                    s.frame.clear();
                    if !on_frame(&mut conn, &mut s, voiced).await {
                        return;
                    }
                }
                // Interim results while speech goes on.
                if s.params.interim_results
                    && !config.interim_every.is_zero()
                    && s.seg_voiced
                    && !s.interim_busy
                    && s.seg.len().saturating_sub(s.interim_at)
                        >= (config.interim_every.as_secs_f64() * s.params.sample_rate as f64)
                            as usize
                {
                    s.interim_busy = true;
                    s.interim_at = s.seg.len();
                    let (generation, start, pcm, rate) = (
                        s.generation,
                        s.seg_start,
                        s.seg.clone(),
                        s.params.sample_rate,
                    );
                    let recognizer = config.recognizer.clone();
                    let tx = interim_tx.clone();
                    tokio::task::spawn_local(async move {
                        let text = recognizer.transcribe(&pcm, rate, false).await;
                        let _ = tx.send(Interim {
                            generation,
                            start,
                            len: pcm.len(),
                            text,
                        });
                    });
                }
            }
            Message::Text(text) => {
                let parsed: Value = serde_json::from_str(text.as_str())
                    .unwrap_or_else(|_| Value::String(text.to_string()));
                let kind = parsed
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                conn.record(|c| c.text_messages.push(parsed));
                match kind.as_str() {
                    "KeepAlive" => {}
                    "Finalize" => {
                        if !finalize(&mut conn, &mut s, true, true).await {
                            return;
                        }
                    }
                    "CloseStream" => {
                        close_stream(&mut conn, &mut s).await;
                        return;
                    }
                    _ => tracing::debug!("mock deepgram: ignoring control message {kind:?}"),
                }
            }
            Message::Close(frame) => {
                conn.record(|c| {
                    c.close = Some(
                        frame
                            .map(|f| (u16::from(f.code), f.reason.to_string()))
                            .unwrap_or((1005, String::new())),
                    )
                });
                return;
            }
            _ => {}
        }
    }
}

/// CloseStream: finish pending speech, send Metadata, close normally.
async fn close_stream(conn: &mut Conn, s: &mut Session) {
    if s.seg_voiced && !finalize(conn, s, false, true).await {
        return;
    }
    let meta = json!({
        "type": "Metadata",
        "transaction_key": "deprecated",
        "request_id": s.request_id,
        "sha256": random_hex(64),
        "created": iso_now(),
        "duration": round3(s.secs(s.total)),
        "channels": s.params.channels,
        "models": [s.model_uuid],
        "model_info": {
            s.model_uuid.clone(): {"name": MODEL_NAME, "version": MODEL_VERSION, "arch": MODEL_ARCH}
        },
    });
    let _ = conn.send(meta).await;
    conn.close(1000, "").await;
}

/// Voice-activity bookkeeping for one 10 ms frame: SpeechStarted,
/// endpointing and UtteranceEnd. False when the client is gone.
async fn on_frame(conn: &mut Conn, s: &mut Session, voiced: bool) -> bool {
    let frame = Duration::from_millis(10);
    if voiced {
        s.silence = Duration::ZERO;
        s.last_voice_end = s.total;
        s.seg_voiced = true;
        s.words_since_utterance_end = true;
        s.utterance_end_sent = false;
        if !s.in_speech {
            s.in_speech = true;
            if s.params.vad_events {
                let at = s.secs(s.total.saturating_sub(s.params.sample_rate as u64 / 100));
                let m = json!({"type": "SpeechStarted", "channel": [0], "timestamp": round3(at)});
                if !conn.send(m).await {
                    return false;
                }
            }
        }
        return true;
    }
    s.silence += frame;
    if s.in_speech {
        if let Some(ep) = s.params.endpointing {
            if s.silence >= ep.max(s.config.min_endpointing) {
                s.in_speech = false;
                if !finalize(conn, s, false, true).await {
                    return false;
                }
            }
        }
    }
    if let Some(ue) = s.params.utterance_end {
        if !s.utterance_end_sent && s.words_since_utterance_end && s.silence >= ue {
            // Deepgram sends UtteranceEnd only once the words were finalized.
            if s.seg_voiced && !finalize(conn, s, false, true).await {
                return false;
            }
            s.in_speech = false;
            s.utterance_end_sent = true;
            s.words_since_utterance_end = false;
            let m = json!({"type": "UtteranceEnd", "channel": [0, s.params.channels], "last_word_end": round3(s.secs(s.last_voice_end))});
            if !conn.send(m).await {
                return false;
            }
        }
    }
    if !s.seg_voiced {
        // Keep at most 1 s of leading silence in a segment.
        let keep = s.params.sample_rate as usize;
        if s.seg.len() > 2 * keep {
            let drop = s.seg.len() - keep;
            s.seg.drain(..drop);
            s.seg_start += drop as u64;
        }
    }
    true
}

/// Transcribes the current segment and sends it as a final result; starts a
/// new segment. False when the client is gone.
async fn finalize(
    conn: &mut Conn,
    s: &mut Session,
    from_finalize: bool,
    speech_final: bool,
) -> bool {
    let pcm = std::mem::take(&mut s.seg);
    let start = s.seg_start;
    s.seg_start = s.total;
    s.generation += 1;
    s.interim_at = 0;
    let voiced = std::mem::replace(&mut s.seg_voiced, false);
    let text = if voiced {
        match s
            .config
            .recognizer
            .transcribe(&pcm, s.params.sample_rate, true)
            .await
        {
            Ok(t) => t,
            Err(e) => {
                conn.record(|c| c.errors.push(format!("{e:#}")));
                String::new()
            }
        }
    } else {
        String::new()
    };
    let m = s.results(start, pcm.len(), &text, true, speech_final, from_finalize);
    conn.send(m).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g711_decoders() {
        assert_eq!(mulaw_to_linear(0xff), 0);
        assert_eq!(mulaw_to_linear(0x00), -32124);
        assert_eq!(mulaw_to_linear(0x80), 32124);
        assert_eq!(alaw_to_linear(0xd5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xaa), 32256);
    }

    #[test]
    fn query_and_params() {
        let q = parse_query(Some("encoding=linear16&sample_rate=8000&interim_results=true&endpointing=300&keywords=a%20b"));
        assert_eq!(q[4], ("keywords".to_string(), "a b".to_string()));
        let p = parse_params(&q).unwrap();
        assert_eq!(p.sample_rate, 8000);
        assert!(p.interim_results);
        assert_eq!(p.endpointing, Some(Duration::from_millis(300)));
        assert!(parse_params(&parse_query(Some("encoding=opus&sample_rate=8000"))).is_err());
        assert!(parse_params(&parse_query(Some("encoding=linear16"))).is_err());
    }

    #[test]
    fn iso_timestamp_shape() {
        let t = iso_now();
        assert_eq!(t.len(), 24, "{t}");
        assert!(t.ends_with('Z') && t.starts_with("20"));
    }
}
