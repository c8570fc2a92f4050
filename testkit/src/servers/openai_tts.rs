//! [`MockTts`]: a local OpenAI text-to-speech server (`POST /v1/audio/speech`)
//! that really speaks, with espeak-ng.
//!
//! `response_format: "pcm"` streams raw 24 kHz mono s16le audio with chunked
//! transfer encoding as espeak-ng produces it (resampled from its native
//! 22050 Hz); `"wav"` returns a whole 24 kHz WAV file. Other formats (OpenAI's
//! default is mp3) get a 400 naming the supported ones. `speed` (0.25–4)
//! scales the speaking rate. All voices sound the same.

use super::{
    channel_body, check_openai_auth, header_pairs, lock, openai_error, openai_fault_response,
    spawn_actix, Delay, Fault, LinearResampler, RecordedRequest, ServerHandle, Shared,
};
use crate::speech::{parse_wav_header, EspeakOptions};
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Rendered audio (24 kHz s16le bytes) per (input, words per minute).
type AudioCache = HashMap<(String, u32), Arc<tokio::sync::OnceCell<Bytes>>>;
/// Bytes per streamed chunk of cached audio (100 ms at 24 kHz).
const CACHED_CHUNK_BYTES: usize = 4_800;

/// The sample rate of OpenAI's `pcm` output.
pub const TTS_SAMPLE_RATE: u32 = 24_000;

const VOICES: &[&str] = &[
    "alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse",
    "marin", "cedar",
];
const MAX_INPUT_CHARS: usize = 4096;

#[derive(Debug, Clone)]
struct Config {
    api_key: Option<String>,
    first_byte: Duration,
    /// Drawn per request instead of `first_byte` when set.
    first_byte_delay: Option<Delay>,
    /// Render each distinct input once and stream it from memory.
    cache_audio: bool,
    record_limit: usize,
    fault: Fault,
    espeak: EspeakOptions,
}

#[derive(Debug)]
pub(crate) struct State {
    config: Config,
    requests: Vec<RecordedRequest>,
    completed: usize,
    disconnects: usize,
    cache: AudioCache,
    renders: usize,
}

/// Builds a [`MockTts`].
#[derive(Debug, Clone)]
pub struct MockTtsBuilder {
    config: Config,
}

impl Default for MockTtsBuilder {
    fn default() -> Self {
        Self {
            config: Config {
                api_key: None,
                first_byte: Duration::ZERO,
                first_byte_delay: None,
                cache_audio: false,
                record_limit: usize::MAX,
                fault: Fault::None,
                espeak: EspeakOptions::default(),
            },
        }
    }
}

impl MockTtsBuilder {
    /// Require `Authorization: Bearer KEY` (401 otherwise).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.config.api_key = Some(key.into());
        self
    }

    /// Delay before the response (headers and first audio bytes).
    pub fn first_byte_ms(mut self, ms: u64) -> Self {
        self.config.first_byte = Duration::from_millis(ms);
        self
    }

    pub fn fault(mut self, fault: Fault) -> Self {
        self.config.fault = fault;
        self
    }

    /// The espeak-ng voice used (its `words_per_minute` is scaled by `speed`).
    pub fn espeak(mut self, options: EspeakOptions) -> Self {
        self.config.espeak = options;
        self
    }

    /// Time to first byte drawn from `delay` for every request (overrides
    /// [`Self::first_byte_ms`]).
    pub fn first_byte_delay(mut self, delay: Delay) -> Self {
        self.config.first_byte_delay = Some(delay);
        self
    }

    /// Render each distinct input (and speed) with espeak-ng once, keep it,
    /// and stream later requests for it from memory in 100 ms chunks (for
    /// load: 1,000 calls do not start 1,000 espeak-ng processes).
    pub fn cache_audio(mut self, on: bool) -> Self {
        self.config.cache_audio = on;
        self
    }

    /// Keep at most `n` requests in [`MockTts::requests`].
    pub fn record_limit(mut self, n: usize) -> Self {
        self.config.record_limit = n;
        self
    }

    pub fn start(self) -> anyhow::Result<MockTts> {
        let (state, routes) = self.into_routes();
        let handle = spawn_actix("tts", move |cfg| {
            routes(cfg);
            cfg.default_service(web::to(not_found));
        })?;
        Ok(MockTts {
            handle: Arc::new(handle),
            state,
        })
    }

    /// The state and the routes, for mounting in a shared app.
    pub(crate) fn into_routes(
        self,
    ) -> (
        Shared<State>,
        impl Fn(&mut web::ServiceConfig) + Send + Sync + Clone + 'static,
    ) {
        let state = Arc::new(Mutex::new(State {
            config: self.config,
            requests: Vec::new(),
            completed: 0,
            disconnects: 0,
            cache: HashMap::new(),
            renders: 0,
        }));
        let data = web::Data::from(state.clone());
        let routes = move |cfg: &mut web::ServiceConfig| {
            cfg.service(
                web::resource("/v1/audio/speech")
                    .app_data(data.clone())
                    .app_data(web::PayloadConfig::new(1024 * 1024))
                    .route(web::post().to(speech)),
            );
        };
        (state, routes)
    }

    pub(crate) fn attach(state: Shared<State>, handle: Arc<ServerHandle>) -> MockTts {
        MockTts { handle, state }
    }
}

/// A running local OpenAI text-to-speech server. Stops on drop.
pub struct MockTts {
    handle: Arc<ServerHandle>,
    state: Shared<State>,
}

impl MockTts {
    pub fn builder() -> MockTtsBuilder {
        MockTtsBuilder::default()
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> &str {
        self.handle.base_url()
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn v1_url(&self) -> String {
        format!("{}/v1", self.handle.base_url())
    }

    pub fn speech_url(&self) -> String {
        format!("{}/v1/audio/speech", self.handle.base_url())
    }

    pub fn handle(&self) -> &ServerHandle {
        &self.handle
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state).requests.clone()
    }

    pub fn last_request(&self) -> Option<RecordedRequest> {
        lock(&self.state).requests.last().cloned()
    }

    /// The `input` texts asked for, oldest first.
    pub fn inputs(&self) -> Vec<String> {
        lock(&self.state)
            .requests
            .iter()
            .filter_map(|r| {
                r.body
                    .get("input")
                    .and_then(Value::as_str)
                    .map(String::from)
            })
            .collect()
    }

    /// Responses whose audio was sent out whole.
    pub fn completed(&self) -> usize {
        lock(&self.state).completed
    }

    /// Responses cut short because the client went away.
    pub fn disconnects(&self) -> usize {
        lock(&self.state).disconnects
    }

    pub fn set_fault(&self, fault: Fault) {
        lock(&self.state).config.fault = fault;
    }

    pub fn set_first_byte_ms(&self, ms: u64) {
        lock(&self.state).config.first_byte = Duration::from_millis(ms);
    }

    /// espeak-ng runs done for cached audio (one per distinct input).
    pub fn renders(&self) -> usize {
        lock(&self.state).renders
    }

    /// [`Self::renders`] as a function that outlives a borrow of the mock.
    pub fn renders_handle(&self) -> Arc<dyn Fn() -> usize + Send + Sync> {
        let state = self.state.clone();
        Arc::new(move || lock(&state).renders)
    }
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    openai_error(
        404,
        &format!("Invalid URL ({} {})", req.method(), req.path()),
        "invalid_request_error",
        None,
    )
}

struct SpeechRequest {
    input: String,
    format: &'static str,
    speed: f64,
}

fn validate(body: &Value) -> Result<SpeechRequest, String> {
    if !body.is_object() {
        return Err("We could not parse the JSON body of your request. The OpenAI API expects a JSON payload.".into());
    }
    if !body.get("model").map(Value::is_string).unwrap_or(false) {
        return Err("you must provide a model parameter".into());
    }
    let input = match body.get("input").and_then(Value::as_str) {
        Some(s) if !s.is_empty() => s,
        _ => return Err("Missing required parameter: 'input'.".into()),
    };
    if input.chars().count() > MAX_INPUT_CHARS {
        return Err(format!("[{{'type': 'string_too_long', 'loc': ('body', 'input'), 'msg': 'String should have at most {MAX_INPUT_CHARS} characters'}}]"));
    }
    match body.get("voice") {
        Some(Value::String(v)) if VOICES.contains(&v.as_str()) => {}
        Some(Value::Object(o)) if o.get("id").map(Value::is_string).unwrap_or(false) => {}
        Some(v) => {
            return Err(format!(
                "Invalid value for 'voice': {v}. Supported values are: {}.",
                VOICES.join(", ")
            ))
        }
        None => return Err("Missing required parameter: 'voice'.".into()),
    }
    let format = match body.get("response_format").and_then(Value::as_str).unwrap_or("mp3") {
        "pcm" => "pcm",
        "wav" => "wav",
        other => {
            return Err(format!(
                "response_format '{other}' is not supported by this local mock (OpenAI's default is mp3): ask for 'pcm' or 'wav'"
            ))
        }
    };
    if let Some(sf) = body.get("stream_format").and_then(Value::as_str) {
        if sf != "audio" {
            return Err(format!(
                "stream_format '{sf}' is not supported by this local mock: use 'audio'"
            ));
        }
    }
    let speed = match body.get("speed") {
        None | Some(Value::Null) => 1.0,
        Some(v) => match v.as_f64() {
            Some(s) if (0.25..=4.0).contains(&s) => s,
            _ => {
                return Err(format!(
                    "Invalid 'speed': {v}. Expected a number between 0.25 and 4.0."
                ))
            }
        },
    };
    Ok(SpeechRequest {
        input: input.to_string(),
        format,
        speed,
    })
}

async fn speech(req: HttpRequest, raw: web::Bytes, state: web::Data<Mutex<State>>) -> HttpResponse {
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let config = lock(&state).config.clone();
    let record = |status: u16| {
        let mut st = lock(&state);
        if st.requests.len() >= st.config.record_limit {
            return;
        }
        st.requests.push(RecordedRequest {
            method: req.method().to_string(),
            path: req.path().to_string(),
            headers: header_pairs(&req),
            body: body.clone(),
            status,
        });
    };
    if let Some(resp) = check_openai_auth(&req, config.api_key.as_deref()) {
        record(401);
        return resp;
    }
    let sr = match validate(&body) {
        Ok(sr) => sr,
        Err(message) => {
            record(400);
            return openai_error(400, &message, "invalid_request_error", None);
        }
    };
    match config.fault {
        Fault::Status(status) => {
            record(status);
            return openai_fault_response(status);
        }
        Fault::Stall => {
            record(200);
            let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
            actix_web::rt::spawn(async move {
                tokio::select! {
                    _ = tx.closed() => {}
                    _ = tokio::time::sleep(Duration::from_secs(600)) => {}
                }
            });
            return HttpResponse::Ok()
                .content_type("audio/pcm")
                .streaming(channel_body(rx));
        }
        Fault::None => {}
    }
    record(200);
    let first_byte = config
        .first_byte_delay
        .as_ref()
        .map_or(config.first_byte, Delay::sample);
    tokio::time::sleep(first_byte).await;

    let mut espeak = config.espeak.clone();
    espeak.words_per_minute =
        ((espeak.words_per_minute as f64 * sr.speed).round() as u32).clamp(80, 450);
    let state = state.into_inner();

    if config.cache_audio {
        let cell = lock(&state)
            .cache
            .entry((sr.input.clone(), espeak.words_per_minute))
            .or_default()
            .clone();
        let rendered = cell
            .get_or_try_init(|| async {
                lock(&state).renders += 1;
                render_pcm(&sr.input, &espeak).await
            })
            .await;
        let pcm = match rendered {
            Ok(b) => b.clone(),
            Err(e) => {
                tracing::warn!("mock tts: synthesis failed: {e:#}");
                return openai_fault_response(500);
            }
        };
        if sr.format == "wav" {
            lock(&state).completed += 1;
            let samples = crate::speech::le_bytes_to_i16(&pcm);
            return HttpResponse::Ok()
                .content_type("audio/wav")
                .body(crate::speech::wav_bytes(&samples, TTS_SAMPLE_RATE));
        }
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
        actix_web::rt::spawn(async move {
            let mut off = 0;
            let mut sent_all = true;
            while off < pcm.len() {
                let end = (off + CACHED_CHUNK_BYTES).min(pcm.len());
                if tx.send(pcm.slice(off..end)).await.is_err() {
                    sent_all = false;
                    break;
                }
                off = end;
            }
            let mut s = lock(&state);
            if sent_all {
                s.completed += 1;
            } else {
                s.disconnects += 1;
            }
        });
        return HttpResponse::Ok()
            .content_type("audio/pcm")
            .streaming(channel_body(rx));
    }

    if sr.format == "wav" {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(8);
        let input = sr.input.clone();
        actix_web::rt::spawn(async move {
            let _ = synthesize(&input, &espeak, tx).await;
        });
        let mut pcm: Vec<u8> = Vec::new();
        while let Some(chunk) = rx.recv().await {
            pcm.extend_from_slice(&chunk);
        }
        let samples = crate::speech::le_bytes_to_i16(&pcm);
        lock(&state).completed += 1;
        return HttpResponse::Ok()
            .content_type("audio/wav")
            .body(crate::speech::wav_bytes(&samples, TTS_SAMPLE_RATE));
    }

    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    actix_web::rt::spawn(async move {
        let sent_all = synthesize(&sr.input, &espeak, tx).await;
        let mut s = lock(&state);
        match sent_all {
            Ok(true) => s.completed += 1,
            Ok(false) => s.disconnects += 1,
            Err(e) => tracing::warn!("mock tts: synthesis failed: {e:#}"),
        }
    });
    HttpResponse::Ok()
        .content_type("audio/pcm")
        .streaming(channel_body(rx))
}

/// The whole 24 kHz s16le rendering of `text`.
async fn render_pcm(text: &str, opts: &EspeakOptions) -> anyhow::Result<Bytes> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(8);
    let (text, opts2) = (text.to_string(), opts.clone());
    let producer = async move { synthesize(&text, &opts2, tx).await };
    let consumer = async {
        let mut pcm: Vec<u8> = Vec::new();
        while let Some(chunk) = rx.recv().await {
            pcm.extend_from_slice(&chunk);
        }
        pcm
    };
    let (done, pcm) = futures::join!(producer, consumer);
    done?;
    anyhow::ensure!(!pcm.is_empty(), "espeak-ng produced no audio");
    Ok(Bytes::from(pcm))
}

/// Runs espeak-ng and sends its audio, resampled to 24 kHz s16le, through
/// `tx` as it is produced. Ok(false) when the receiver went away first.
async fn synthesize(
    text: &str,
    opts: &EspeakOptions,
    tx: tokio::sync::mpsc::Sender<Bytes>,
) -> anyhow::Result<bool> {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new("espeak-ng");
    cmd.arg("--stdout")
        .args(["-v", &opts.voice])
        .args(["-s", &opts.words_per_minute.to_string()])
        .args(["-g", &opts.word_gap_10ms.to_string()]);
    if let Some(p) = opts.pitch {
        cmd.args(["-p", &p.to_string()]);
    }
    let mut child = cmd
        .arg("--stdin")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdin = child.stdin.take().expect("piped");
    let text = text.to_string();
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(text.as_bytes()).await;
    });
    let mut stdout = child.stdout.take().expect("piped");
    let mut head: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 8192];
    // The header first.
    let mut resampler = loop {
        let n = stdout.read(&mut buf).await?;
        if n == 0 {
            anyhow::bail!("espeak-ng wrote no WAV header");
        }
        head.extend_from_slice(&buf[..n]);
        if let Some((fmt, off)) = parse_wav_header(&head) {
            anyhow::ensure!(
                fmt.bits == 16 && fmt.channels == 1,
                "espeak-ng wrote an unexpected format"
            );
            head.drain(..off);
            break LinearResampler::new(fmt.sample_rate, super::openai_tts::TTS_SAMPLE_RATE);
        }
    };
    let mut pending = head; // bytes not yet converted (an odd byte may wait)
    let mut alive = true;
    loop {
        let even = pending.len() & !1;
        if even > 0 {
            let samples = crate::speech::le_bytes_to_i16(&pending[..even]);
            pending.drain(..even);
            let out = resampler.process(&samples);
            if !out.is_empty() && tx.send(super::i16_to_le_bytes(&out)).await.is_err() {
                alive = false;
                break;
            }
        }
        let n = stdout.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
    }
    if alive {
        let tail = resampler.finish();
        if !tail.is_empty() {
            alive = tx.send(super::i16_to_le_bytes(&tail)).await.is_ok();
        }
    }
    let _ = writer.await;
    if alive {
        let _ = child.wait().await;
    } else {
        let _ = child.kill().await;
    }
    Ok(alive)
}
