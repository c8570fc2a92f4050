//! Helpers shared by the network providers: error mapping,
//! abort-on-drop task guards, a channel-backed stream and an SSE parser.
//! Provider HTTP clients are built by [`super::egress::EgressPolicy::http_client`].
//!
//! API keys pass through here only as header values; nothing in this module
//! logs headers or request builders.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::ProviderError;

/// Most bytes of an error body kept in [`ProviderError::Status`].
pub const MAX_ERROR_BODY_BYTES: usize = 4096;

/// How long reading an error body may take before giving up on it.
const ERROR_BODY_TIMEOUT: Duration = Duration::from_secs(2);

/// `User-Agent` sent by every provider request.
pub const USER_AGENT: &str = concat!("parla/", env!("CARGO_PKG_VERSION"));

/// The HTTP client of one provider instance whose requests all start with
/// `base_url`: guarded by `egress` (see
/// [`super::egress::EgressPolicy::http_client`]), with Parla's `User-Agent`
/// and [`super::PROVIDER_CONNECT_TIMEOUT`].
pub fn client_for(
    egress: &super::egress::EgressPolicy,
    base_url: &str,
) -> Result<reqwest::Client, ProviderError> {
    egress.http_client(base_url, USER_AGENT, super::PROVIDER_CONNECT_TIMEOUT)
}

/// Joins a base URL (`https://api.openai.com/v1`, with or without a trailing
/// slash) and a path starting with `/`.
pub fn join_url(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

/// Maps a transport error from reqwest to a [`ProviderError`], without the URL
/// (it may carry credentials in odd deployments) but with the cause.
pub fn map_reqwest_error(e: reqwest::Error) -> ProviderError {
    let e = e.without_url();
    if e.is_decode() || e.is_body() {
        ProviderError::Protocol(error_chain(&e))
    } else if e.is_builder() {
        ProviderError::Config(error_chain(&e))
    } else {
        ProviderError::Connect(error_chain(&e))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

/// Sends `request`, waiting at most `timeout` for the response head, and turns a
/// non-success status into [`ProviderError::Status`] (with the provider's
/// `{"error":{"message":..}}` message when there is one).
pub async fn send(
    request: reqwest::RequestBuilder,
    timeout: Duration,
) -> Result<reqwest::Response, ProviderError> {
    let response = match tokio::time::timeout(timeout, request.send()).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(map_reqwest_error(e)),
        Err(_) => {
            return Err(ProviderError::Connect(format!(
                "no response within {} ms",
                timeout.as_millis()
            )))
        }
    };
    if response.status().is_success() {
        return Ok(response);
    }
    Err(status_error(response).await)
}

/// Reads (a bounded prefix of) an error response body into [`ProviderError::Status`].
pub async fn status_error(mut response: reqwest::Response) -> ProviderError {
    let status = response.status().as_u16();
    let mut body = Vec::new();
    let _ = tokio::time::timeout(ERROR_BODY_TIMEOUT, async {
        while let Ok(Some(chunk)) = response.chunk().await {
            body.extend_from_slice(&chunk);
            if body.len() >= MAX_ERROR_BODY_BYTES {
                body.truncate(MAX_ERROR_BODY_BYTES);
                break;
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&body).into_owned();
    ProviderError::Status {
        status,
        body: error_message(&text).unwrap_or(text),
    }
}

/// Extracts the human message from an OpenAI-style error body
/// (`{"error":{"message":".."}}`, `{"error":".."}`, `{"message":".."}`, `{"detail":".."}`).
pub fn error_message(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let pick = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    match v.get("error") {
        Some(e) if e.is_object() => e.get("message").and_then(pick),
        Some(e) => pick(e),
        None => v
            .get("message")
            .and_then(pick)
            .or_else(|| v.get("detail").and_then(pick)),
    }
}

/// Aborts the task when dropped: ties a background task's life to its handle.
#[derive(Debug)]
pub struct AbortOnDrop<T>(pub JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A stream over a bounded channel fed by a background task. Dropping the
/// stream aborts the task (and so whatever request it owns).
pub struct ChannelStream<T> {
    rx: mpsc::Receiver<T>,
    _task: Option<AbortOnDrop<()>>,
}

impl<T> ChannelStream<T> {
    /// A stream of what `task` sends into `rx`; the task is aborted on drop.
    pub fn new(rx: mpsc::Receiver<T>, task: JoinHandle<()>) -> Self {
        Self {
            rx,
            _task: Some(AbortOnDrop(task)),
        }
    }

    /// A stream over a channel fed by something other than a tokio task
    /// (which notices the drop through the closed channel).
    pub fn from_receiver(rx: mpsc::Receiver<T>) -> Self {
        Self { rx, _task: None }
    }
}

impl<T> Stream for ChannelStream<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.rx.poll_recv(cx)
    }
}

/// Reads the next body chunk, failing when none arrives within `idle`.
pub async fn next_chunk(
    response: &mut reqwest::Response,
    idle: Duration,
) -> Result<Option<bytes::Bytes>, ProviderError> {
    match tokio::time::timeout(idle, response.chunk()).await {
        Ok(Ok(chunk)) => Ok(chunk),
        Ok(Err(e)) => Err(map_reqwest_error(e)),
        Err(_) => Err(ProviderError::Connect(format!(
            "stream stalled: no data for {} ms",
            idle.as_millis()
        ))),
    }
}

/// Percent-encodes a query-string component (RFC 3986 unreserved characters kept).
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The primary language subtag of a BCP 47 tag (`es-ES` → `es`), lowercased.
pub fn primary_language(tag: &str) -> String {
    tag.split(['-', '_'])
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// One Server-Sent Event (only the parts the providers use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, empty when absent.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Longest line the SSE parser buffers before reporting a protocol error.
pub const MAX_SSE_LINE_BYTES: usize = 1 << 20;

/// Incremental Server-Sent Events parser (WHATWG `text/event-stream`): feed it
/// body chunks split anywhere (even inside a UTF-8 sequence or a CRLF), get
/// complete events. Comments (`: keepalive`) and unknown fields are ignored.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    event: String,
    data: String,
    has_data: bool,
    /// The previous chunk ended in `\r`: a `\n` starting the next one belongs to it.
    after_cr: bool,
    started: bool,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one chunk, returning the events it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, ProviderError> {
        let mut events = Vec::new();
        for &b in chunk {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' => self.end_line(&mut events),
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(&mut events);
                }
                _ => {
                    if self.line.len() >= MAX_SSE_LINE_BYTES {
                        return Err(ProviderError::Protocol("SSE line too long".into()));
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(events)
    }

    /// Ends the stream: an event without its terminating blank line is still
    /// dispatched (lenient, as many servers close right after the last `data:`).
    pub fn finish(&mut self) -> Option<SseEvent> {
        let mut events = Vec::new();
        if !self.line.is_empty() {
            self.end_line(&mut events);
        }
        self.end_line(&mut events);
        events.pop()
    }

    fn end_line(&mut self, events: &mut Vec<SseEvent>) {
        let mut line = std::mem::take(&mut self.line);
        if !self.started {
            self.started = true;
            if line.starts_with(&[0xEF, 0xBB, 0xBF]) {
                line.drain(..3);
            }
        }
        if line.is_empty() {
            if self.has_data {
                events.push(SseEvent {
                    event: std::mem::take(&mut self.event),
                    data: std::mem::take(&mut self.data),
                });
            } else {
                self.event.clear();
            }
            self.has_data = false;
            return;
        }
        if line[0] == b':' {
            return; // comment / keepalive
        }
        let line = String::from_utf8_lossy(&line);
        let (field, value) = match line.find(':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (&line[..], ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = value.to_owned(),
            _ => {} // id, retry, unknown
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_split_everywhere() {
        let input = b": keepalive\r\ndata: {\"a\":\"h\xC3\xA9\"}\r\n\r\nevent: x\ndata: l1\ndata: l2\n\ndata: [DONE]\n\n";
        for split in 0..input.len() {
            let mut p = SseParser::new();
            let mut ev = p.feed(&input[..split]).unwrap();
            ev.extend(p.feed(&input[split..]).unwrap());
            assert_eq!(ev.len(), 3, "split at {split}");
            assert_eq!(ev[0].data, "{\"a\":\"hé\"}");
            assert_eq!(ev[1].event, "x");
            assert_eq!(ev[1].data, "l1\nl2");
            assert_eq!(ev[2].data, "[DONE]");
        }
    }

    #[test]
    fn sse_finish_dispatches_trailing_event() {
        let mut p = SseParser::new();
        assert!(p.feed(b"data: tail").unwrap().is_empty());
        assert_eq!(p.finish().unwrap().data, "tail");
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            error_message(r#"{"error":{"message":"bad key"}}"#).as_deref(),
            Some("bad key")
        );
        assert_eq!(
            error_message(r#"{"error":"nope"}"#).as_deref(),
            Some("nope")
        );
        assert_eq!(error_message("plain"), None);
    }

    #[test]
    fn query_and_language() {
        assert_eq!(encode_query_value("en-US"), "en-US");
        assert_eq!(encode_query_value("a b&c"), "a%20b%26c");
        assert_eq!(primary_language("es-ES"), "es");
    }
}
