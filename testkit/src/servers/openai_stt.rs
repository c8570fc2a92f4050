//! [`MockStt`]: a local OpenAI speech-to-text server
//! (`POST /v1/audio/transcriptions`, multipart form) that answers with a
//! configured transcript after a configured delay, without recognising
//! anything: for load tests, where real recognition would be the bottleneck
//! (the end-to-end tests use the real whisper server instead).
//!
//! After OpenAI's API reference: the form needs `file` and `model`;
//! `response_format` `json` (default) gives `{"text": ...}`, `text` the plain
//! transcript, `verbose_json` adds `language`, `duration` and `segments`;
//! other formats get a 400.

use super::{check_openai_auth, lock, openai_error, spawn_actix, Delay, ServerHandle, Shared};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
struct Config {
    transcript: String,
    delay: Delay,
    api_key: Option<String>,
}

#[derive(Debug)]
pub(crate) struct State {
    config: Config,
    requests: usize,
    audio_bytes: usize,
    /// The `file` part's size of each answered request, in arrival order.
    file_sizes: Vec<usize>,
}

/// Builds a [`MockStt`].
#[derive(Debug, Clone)]
pub struct MockSttBuilder {
    config: Config,
}

impl Default for MockSttBuilder {
    fn default() -> Self {
        Self {
            config: Config {
                transcript: "I would like to book an appointment".into(),
                delay: Delay::fixed(Duration::ZERO),
                api_key: None,
            },
        }
    }
}

impl MockSttBuilder {
    /// What every transcription returns.
    pub fn transcript(mut self, text: impl Into<String>) -> Self {
        self.config.transcript = text.into();
        self
    }

    /// Delay before answering, drawn per request.
    pub fn delay(mut self, delay: Delay) -> Self {
        self.config.delay = delay;
        self
    }

    /// Require `Authorization: Bearer KEY`.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.config.api_key = Some(key.into());
        self
    }

    pub fn start(self) -> anyhow::Result<MockStt> {
        let (state, routes) = self.into_routes();
        let handle = spawn_actix("stt", move |cfg| {
            routes(cfg);
        })?;
        Ok(MockStt {
            handle: Arc::new(handle),
            state,
        })
    }

    pub(crate) fn into_routes(
        self,
    ) -> (
        Shared<State>,
        impl Fn(&mut web::ServiceConfig) + Send + Sync + Clone + 'static,
    ) {
        let state = Arc::new(Mutex::new(State {
            config: self.config,
            requests: 0,
            audio_bytes: 0,
            file_sizes: Vec::new(),
        }));
        let data = web::Data::from(state.clone());
        let routes = move |cfg: &mut web::ServiceConfig| {
            cfg.service(
                web::resource("/v1/audio/transcriptions")
                    .app_data(data.clone())
                    .app_data(web::PayloadConfig::new(26 * 1024 * 1024))
                    .route(web::post().to(transcriptions)),
            );
        };
        (state, routes)
    }

    pub(crate) fn attach(state: Shared<State>, handle: Arc<ServerHandle>) -> MockStt {
        MockStt { handle, state }
    }
}

/// A running local OpenAI transcription server with a fixed answer. Stops
/// on drop.
pub struct MockStt {
    handle: Arc<ServerHandle>,
    state: Shared<State>,
}

impl MockStt {
    pub fn builder() -> MockSttBuilder {
        MockSttBuilder::default()
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn v1_url(&self) -> String {
        format!("{}/v1", self.handle.base_url())
    }

    pub fn handle(&self) -> &ServerHandle {
        &self.handle
    }

    /// Transcriptions answered (200).
    pub fn requests(&self) -> usize {
        lock(&self.state).requests
    }

    /// Size of the uploaded files, in total.
    pub fn audio_bytes(&self) -> usize {
        lock(&self.state).audio_bytes
    }

    /// The audio file size (bytes, WAV header included) of each answered
    /// request, in arrival order.
    pub fn file_sizes(&self) -> Vec<usize> {
        lock(&self.state).file_sizes.clone()
    }
}

/// The value of a simple (non-file) multipart form field.
fn form_field<'a>(body: &'a [u8], name: &str) -> Option<&'a str> {
    let needle = format!("name=\"{name}\"");
    let at = find(body, needle.as_bytes())?;
    let rest = &body[at + needle.len()..];
    let start = find(rest, b"\r\n\r\n")? + 4;
    let value = &rest[start..];
    let end = find(value, b"\r\n--").unwrap_or(value.len());
    std::str::from_utf8(&value[..end]).ok()
}

/// The size of the `file` part's content (0 when absent).
fn file_size(body: &[u8]) -> Option<usize> {
    let at = find(body, b"name=\"file\"")?;
    let rest = &body[at..];
    let start = find(rest, b"\r\n\r\n")? + 4;
    let value = &rest[start..];
    Some(find(value, b"\r\n--").unwrap_or(value.len()))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn transcriptions(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Mutex<State>>,
) -> HttpResponse {
    let config = lock(&state).config.clone();
    if let Some(resp) = check_openai_auth(&req, config.api_key.as_deref()) {
        return resp;
    }
    let ctype = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ctype.starts_with("multipart/form-data") {
        return openai_error(
            400,
            "Invalid Content-Type header: expected multipart/form-data.",
            "invalid_request_error",
            None,
        );
    }
    let Some(size) = file_size(&body) else {
        return openai_error(
            400,
            "Missing required parameter: 'file'.",
            "invalid_request_error",
            None,
        );
    };
    if form_field(&body, "model").is_none() {
        return openai_error(
            400,
            "you must provide a model parameter",
            "invalid_request_error",
            None,
        );
    }
    let format = form_field(&body, "response_format")
        .unwrap_or("json")
        .trim()
        .to_string();
    if !matches!(format.as_str(), "json" | "text" | "verbose_json") {
        return openai_error(
            400,
            &format!("response_format '{format}' is not supported by this local mock: use json, text or verbose_json"),
            "invalid_request_error",
            None,
        );
    }
    tokio::time::sleep(config.delay.sample()).await;
    {
        let mut s = lock(&state);
        s.requests += 1;
        s.audio_bytes += size;
        s.file_sizes.push(size);
    }
    let text = config.transcript;
    match format.as_str() {
        "text" => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(format!("{text}\n")),
        "verbose_json" => HttpResponse::Ok().json(json!({
            "task": "transcribe",
            "language": "english",
            "duration": 0.0,
            "text": text,
            "segments": [],
        })),
        _ => HttpResponse::Ok().json(json!({ "text": text })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_fields() {
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFFdata\r\n--XX\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--XX--\r\n";
        assert_eq!(form_field(body, "model"), Some("whisper-1"));
        assert_eq!(form_field(body, "response_format"), None);
        assert_eq!(file_size(body), Some(8));
    }
}
