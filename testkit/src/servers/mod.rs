//! Protocol-faithful local stand-ins for the external providers Parla talks
//! to: OpenAI Chat Completions ([`MockLlm`]), OpenAI text-to-speech
//! ([`MockTts`]) and Deepgram streaming speech-to-text ([`MockDeepgram`]).
//!
//! They follow the providers' public API documentation (not the shape of our
//! own clients), so Parla's production provider clients can be tested against
//! them. Each runs on its own thread with its own runtime, so it can be used
//! from any test (tokio runtime or not); it listens on `127.0.0.1:0`, records
//! what it received, and stops when its [`ServerHandle`] is dropped.

pub mod deepgram;
pub mod openai_llm;
pub mod openai_stt;
pub mod openai_tts;

pub use deepgram::{DeepgramConnection, MockDeepgram, MockDeepgramBuilder};
pub use openai_llm::{LlmRule, MockLlm, MockLlmBuilder, Reply, ToolCall};
pub use openai_stt::{MockStt, MockSttBuilder};
pub use openai_tts::{MockTts, MockTtsBuilder};

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

/// A running local server: its address, and stop-on-drop.
pub struct ServerHandle {
    base_url: String,
    addr: SocketAddr,
    stop: Option<Box<dyn FnOnce() + Send + Sync>>,
    thread: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// `http://127.0.0.1:PORT` (no trailing slash, no path).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server now (dropping the handle does the same).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("base_url", &self.base_url)
            .finish()
    }
}

/// One request the mock received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Lowercase header names.
    pub headers: Vec<(String, String)>,
    /// The JSON body (`Value::Null` when it was not JSON).
    pub body: serde_json::Value,
    /// The HTTP status the mock answered with.
    pub status: u16,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `messages` array sent (empty when absent).
    pub fn messages(&self) -> Vec<serde_json::Value> {
        self.body
            .get("messages")
            .and_then(serde_json::Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    /// The text of the last `user` message.
    pub fn last_user_text(&self) -> Option<String> {
        openai_llm::last_user_text(&self.body)
    }

    pub fn is_stream(&self) -> bool {
        self.body
            .get("stream")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    }
}

/// A latency a mock injects, drawn anew for every request (or token) from
/// whatever the closure does: a fixed value, a seeded random distribution,
/// and it may record what it drew (the load harness's provider simulators
/// report their injected latencies this way).
#[derive(Clone)]
pub struct Delay(Arc<dyn Fn() -> std::time::Duration + Send + Sync>);

impl Delay {
    pub fn new(f: impl Fn() -> std::time::Duration + Send + Sync + 'static) -> Self {
        Delay(Arc::new(f))
    }

    pub fn fixed(d: std::time::Duration) -> Self {
        Delay::new(move || d)
    }

    /// Draws one delay.
    pub fn sample(&self) -> std::time::Duration {
        (self.0)()
    }
}

impl std::fmt::Debug for Delay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Delay(..)")
    }
}

/// The fault a mock HTTP provider injects into its responses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Fault {
    /// Behave normally.
    #[default]
    None,
    /// Answer with this HTTP status and a provider-style error JSON body.
    Status(u16),
    /// Send the response headers (200), then no content until the client gives
    /// up (the LLM mock pads with an SSE comment or JSON whitespace once a
    /// second, as API gateways do, which a client must ignore).
    Stall,
}

/// Binds `127.0.0.1:0`.
fn bind_loopback() -> anyhow::Result<(TcpListener, SocketAddr)> {
    bind_at("127.0.0.1:0".parse().expect("loopback address"))
}

fn bind_at(addr: SocketAddr) -> anyhow::Result<(TcpListener, SocketAddr)> {
    use anyhow::Context as _;
    let listener = TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// Runs an actix-web app (routes added by `configure`) on its own thread
/// (own actix System, one worker) on a fresh loopback port.
fn spawn_actix<F>(name: &str, configure: F) -> anyhow::Result<ServerHandle>
where
    F: Fn(&mut actix_web::web::ServiceConfig) + Send + Sync + Clone + 'static,
{
    spawn_actix_on(name, None, configure)
}

/// [`spawn_actix`] on a chosen address (`None`: `127.0.0.1:0`).
pub(crate) fn spawn_actix_on<F>(
    name: &str,
    addr: Option<SocketAddr>,
    configure: F,
) -> anyhow::Result<ServerHandle>
where
    F: Fn(&mut actix_web::web::ServiceConfig) + Send + Sync + Clone + 'static,
{
    let (listener, addr) = match addr {
        Some(a) => bind_at(a)?,
        None => bind_loopback()?,
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(format!("mock-{name}"))
        .spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                let factory = move || {
                    let configure = configure.clone();
                    actix_web::App::new().configure(move |cfg| configure(cfg))
                };
                let server = match actix_web::HttpServer::new(factory)
                    .workers(1)
                    .disable_signals()
                    .shutdown_timeout(1)
                    .listen(listener)
                {
                    Ok(server) => server.run(),
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let _ = tx.send(Ok(server.handle()));
                let _ = server.await;
            });
        })?;
    let handle = rx
        .recv()
        .map_err(|_| anyhow::anyhow!("mock {name} thread died on start"))??;
    Ok(ServerHandle {
        base_url: format!("http://{addr}"),
        addr,
        stop: Some(Box::new(move || {
            // Sends the command at once; the thread exits when it is done.
            drop(handle.stop(false));
        })),
        thread: Some(thread),
    })
}

/// Runs a tokio accept loop on its own thread (current-thread runtime) on a
/// fresh loopback port. `serve` gets the listener and runs until stopped;
/// every task it spawned dies with the runtime.
#[allow(dead_code)]
fn spawn_tokio<F, Fut>(name: &str, serve: F) -> anyhow::Result<ServerHandle>
where
    F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    spawn_tokio_on(name, None, serve)
}

/// [`spawn_tokio`] on a chosen address (`None`: `127.0.0.1:0`).
fn spawn_tokio_on<F, Fut>(
    name: &str,
    addr: Option<SocketAddr>,
    serve: F,
) -> anyhow::Result<ServerHandle>
where
    F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let (listener, addr) = match addr {
        Some(a) => bind_at(a)?,
        None => bind_loopback()?,
    };
    listener.set_nonblocking(true)?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(format!("mock-{name}"))
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(anyhow::Error::from(e)));
                    return;
                }
            };
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                tokio::select! {
                    _ = serve(listener) => {}
                    _ = stop_rx => {}
                }
            });
        })?;
    ready_rx
        .recv()
        .map_err(|_| anyhow::anyhow!("mock {name} thread died on start"))??;
    Ok(ServerHandle {
        base_url: format!("http://{addr}"),
        addr,
        stop: Some(Box::new(move || {
            let _ = stop_tx.send(());
        })),
        thread: Some(thread),
    })
}

/// The three OpenAI-compatible mocks on one port, as one provider base URL
/// (`http://ADDR/v1`) serves chat completions, speech and transcriptions.
pub struct OpenAiSuite {
    pub llm: MockLlm,
    pub tts: MockTts,
    pub stt: MockStt,
    handle: Arc<ServerHandle>,
}

impl OpenAiSuite {
    /// Starts the LLM, TTS and STT mocks in one HTTP server at `addr`
    /// (`None`: `127.0.0.1:0`), plus whatever routes `extra` adds (e.g. a
    /// stats endpoint).
    pub fn start<F>(
        addr: Option<SocketAddr>,
        llm: MockLlmBuilder,
        tts: MockTtsBuilder,
        stt: MockSttBuilder,
        extra: F,
    ) -> anyhow::Result<OpenAiSuite>
    where
        F: Fn(&mut actix_web::web::ServiceConfig) + Send + Sync + Clone + 'static,
    {
        let (llm_state, llm_routes) = llm.into_routes();
        let (tts_state, tts_routes) = tts.into_routes();
        let (stt_state, stt_routes) = stt.into_routes();
        let handle = Arc::new(spawn_actix_on("openai", addr, move |cfg| {
            llm_routes(cfg);
            tts_routes(cfg);
            stt_routes(cfg);
            extra(cfg);
            cfg.default_service(actix_web::web::to(suite_not_found));
        })?);
        Ok(OpenAiSuite {
            llm: MockLlmBuilder::attach(llm_state, handle.clone()),
            tts: MockTtsBuilder::attach(tts_state, handle.clone()),
            stt: MockSttBuilder::attach(stt_state, handle.clone()),
            handle,
        })
    }

    /// `http://ADDR` (no `/v1`).
    pub fn base_url(&self) -> &str {
        self.handle.base_url()
    }

    /// `http://ADDR/v1`: the OpenAI base URL for all three APIs.
    pub fn v1_url(&self) -> String {
        format!("{}/v1", self.handle.base_url())
    }

    pub fn addr(&self) -> SocketAddr {
        self.handle.addr()
    }
}

async fn suite_not_found(req: actix_web::HttpRequest) -> actix_web::HttpResponse {
    openai_error(
        404,
        &format!("Invalid URL ({} {})", req.method(), req.path()),
        "invalid_request_error",
        None,
    )
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Shared, lockable state of a mock, readable by tests while it runs.
type Shared<T> = Arc<Mutex<T>>;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A random lowercase hex id of `n` characters.
fn random_hex(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap())
        .collect()
}

/// A random RFC 4122 version-4 UUID string.
fn uuid_v4() -> String {
    let h = random_hex(32);
    let variant = ["8", "9", "a", "b"][usize::from_str_radix(&h[16..17], 16).unwrap() % 4];
    format!(
        "{}-{}-4{}-{}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        variant,
        &h[17..20],
        &h[20..32]
    )
}

/// An OpenAI-style error response: `{"error":{"message","type","param","code"}}`.
fn openai_error(
    status: u16,
    message: &str,
    kind: &str,
    code: Option<&str>,
) -> actix_web::HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    actix_web::HttpResponse::build(status).json(serde_json::json!({
        "error": { "message": message, "type": kind, "param": null, "code": code }
    }))
}

/// The error an OpenAI endpoint gives for an injected `Fault::Status`.
fn openai_fault_response(status: u16) -> actix_web::HttpResponse {
    let (message, kind, code) = match status {
        400 => (
            "Invalid request (injected fault).",
            "invalid_request_error",
            None,
        ),
        401 => (
            "Incorrect API key provided.",
            "invalid_request_error",
            Some("invalid_api_key"),
        ),
        429 => (
            "Rate limit reached for requests (injected fault).",
            "requests",
            Some("rate_limit_exceeded"),
        ),
        503 => (
            "The engine is currently overloaded, please try again later.",
            "server_error",
            None,
        ),
        _ => (
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        ),
    };
    openai_error(status, message, kind, code)
}

/// Checks `Authorization: Bearer KEY` like OpenAI does; `None` when allowed.
fn check_openai_auth(
    req: &actix_web::HttpRequest,
    key: Option<&str>,
) -> Option<actix_web::HttpResponse> {
    let key = key?;
    let given = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(k) if k == key => None,
        Some(k) => {
            let shown = if k.len() > 8 { format!("{}***{}", &k[..3], &k[k.len() - 4..]) } else { "***".into() };
            Some(openai_error(
                401,
                &format!("Incorrect API key provided: {shown}. You can find your API key at https://platform.openai.com/account/api-keys."),
                "invalid_request_error",
                Some("invalid_api_key"),
            ))
        }
        None => Some(openai_error(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            "invalid_request_error",
            None,
        )),
    }
}

/// The request headers as (lowercase name, value) pairs.
fn header_pairs(req: &actix_web::HttpRequest) -> Vec<(String, String)> {
    req.headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// A streaming body fed by a channel; the producer sees the client go away
/// (the body is dropped) as a closed channel.
fn channel_body(
    rx: tokio::sync::mpsc::Receiver<bytes::Bytes>,
) -> impl futures::Stream<Item = Result<bytes::Bytes, actix_web::Error>> {
    futures::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|b| (Ok(b), rx)) },
    )
}

/// Streaming linear-interpolation resampler for mono s16 audio.
pub(crate) struct LinearResampler {
    step: f64,
    pos: f64,
    buf: Vec<f32>,
}

impl LinearResampler {
    pub(crate) fn new(from_hz: u32, to_hz: u32) -> Self {
        Self {
            step: from_hz as f64 / to_hz as f64,
            pos: 0.0,
            buf: Vec::new(),
        }
    }

    /// Resamples what it can of `input`, keeping the tail for the next call.
    pub(crate) fn process(&mut self, input: &[i16]) -> Vec<i16> {
        self.buf.extend(input.iter().map(|&s| s as f32));
        let mut out = Vec::with_capacity((input.len() as f64 / self.step) as usize + 2);
        while self.pos + 1.0 < self.buf.len() as f64 {
            let i = self.pos as usize;
            let frac = (self.pos - i as f64) as f32;
            let y = self.buf[i] + (self.buf[i + 1] - self.buf[i]) * frac;
            out.push(y.round().clamp(-32768.0, 32767.0) as i16);
            self.pos += self.step;
        }
        let consumed = (self.pos as usize).min(self.buf.len().saturating_sub(1));
        self.buf.drain(..consumed);
        self.pos -= consumed as f64;
        out
    }

    /// Emits the samples still due at the end of the input.
    pub(crate) fn finish(&mut self) -> Vec<i16> {
        let mut out = Vec::new();
        while self.pos < self.buf.len() as f64 {
            out.push(self.buf[self.pos as usize] as i16);
            self.pos += self.step;
        }
        self.buf.clear();
        self.pos = 0.0;
        out
    }
}

/// Resamples a whole clip with [`LinearResampler`].
#[cfg(test)]
pub(crate) fn resample_linear(input: &[i16], from_hz: u32, to_hz: u32) -> Vec<i16> {
    if from_hz == to_hz {
        return input.to_vec();
    }
    let mut r = LinearResampler::new(from_hz, to_hz);
    let mut out = r.process(input);
    out.extend(r.finish());
    out
}

fn i16_to_le_bytes(samples: &[i16]) -> bytes::Bytes {
    let mut out = Vec::with_capacity(samples.len() * 2);
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampler_streaming_equals_whole() {
        let input: Vec<i16> = (0..22050)
            .map(|i| ((i as f32 * 0.05).sin() * 10000.0) as i16)
            .collect();
        let whole = resample_linear(&input, 22050, 24000);
        assert!((whole.len() as i64 - 24000).abs() <= 2, "{}", whole.len());
        let mut r = LinearResampler::new(22050, 24000);
        let mut streamed = Vec::new();
        for chunk in input.chunks(777) {
            streamed.extend(r.process(chunk));
        }
        streamed.extend(r.finish());
        // Same up to float rounding of the running position.
        assert!((whole.len() as i64 - streamed.len() as i64).abs() <= 1);
        let max_diff = whole
            .iter()
            .zip(&streamed)
            .map(|(a, b)| (*a as i32 - *b as i32).abs())
            .max()
            .unwrap();
        assert!(max_diff <= 2, "max diff {max_diff}");
    }

    #[test]
    fn uuid_shape() {
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
