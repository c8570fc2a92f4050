//! OpenAI-compatible streaming chat completions (`POST /chat/completions`,
//! `stream: true`): OpenAI, Groq, Ollama, llama.cpp, vLLM, ...

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::http::{self, ChannelStream, SseParser};
use super::{
    ChatMessage, LanguageModel, LlmEvent, LlmRequest, ProviderError, Role, PROVIDER_CONNECT_TIMEOUT,
};

pub const OPENAI_LLM_DEFAULT_MODEL: &str = "gpt-4o-mini";
/// Tool name the engine treats as "hang up after speaking".
pub const END_CALL_TOOL: &str = "end_call";
/// Capacity of the channel between the SSE reader task and the returned stream.
pub const LLM_EVENT_CHANNEL: usize = 64;
/// Default limit on silence between two body chunks once the stream started.
pub const LLM_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Configuration of [`OpenAiLlm`].
#[derive(Clone)]
pub struct OpenAiLlmConfig {
    /// e.g. `https://api.openai.com/v1`, `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer`; `None` for local servers without auth.
    pub api_key: Option<String>,
    pub model: String,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    /// Limit on the wait for the response head (time to first byte).
    pub first_byte_timeout: Duration,
    /// Limit on silence between body chunks.
    pub stall_timeout: Duration,
    /// Where requests may go (TLS to public addresses unless the operator
    /// allowed the host); see [`super::egress`].
    pub egress: super::egress::EgressPolicy,
}

impl Default for OpenAiLlmConfig {
    fn default() -> Self {
        Self {
            base_url: super::openai_stt::OPENAI_DEFAULT_BASE_URL.into(),
            api_key: None,
            model: OPENAI_LLM_DEFAULT_MODEL.into(),
            temperature: None,
            max_tokens: None,
            first_byte_timeout: PROVIDER_CONNECT_TIMEOUT,
            stall_timeout: LLM_STALL_TIMEOUT,
            egress: Default::default(),
        }
    }
}

impl fmt::Debug for OpenAiLlmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiLlmConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("temperature", &self.temperature)
            .field("max_tokens", &self.max_tokens)
            .field("first_byte_timeout", &self.first_byte_timeout)
            .field("stall_timeout", &self.stall_timeout)
            .field("egress", &self.egress)
            .finish()
    }
}

/// OpenAI-compatible streaming chat model.
#[derive(Debug, Clone)]
pub struct OpenAiLlm {
    config: OpenAiLlmConfig,
    client: reqwest::Client,
}

impl OpenAiLlm {
    pub fn new(config: OpenAiLlmConfig) -> Result<Self, ProviderError> {
        if config.base_url.trim().is_empty() {
            return Err(ProviderError::Config("OpenAI LLM base_url is empty".into()));
        }
        let client = http::client_for(&config.egress, &config.base_url)?;
        Ok(Self { config, client })
    }

    pub fn config(&self) -> &OpenAiLlmConfig {
        &self.config
    }

    /// The JSON body sent for `request`.
    pub fn request_body(&self, request: &LlmRequest) -> Value {
        let messages: Vec<Value> = request.messages.iter().map(message_json).collect();
        let mut body = json!({
            "model": self.config.model,
            "messages": messages,
            "stream": true,
        });
        if let Some(t) = self.config.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(m) = self.config.max_tokens {
            body["max_tokens"] = json!(m);
        }
        if !request.tools.is_empty() {
            body["tools"] = request
                .tools
                .iter()
                .map(|t| {
                    json!({"type": "function", "function": {
                        "name": t.name, "description": t.description, "parameters": t.parameters,
                    }})
                })
                .collect();
        }
        body
    }
}

/// One chat message as OpenAI expects it. Tool results carry no `tool_call_id`
/// in our history, which OpenAI rejects for `role: tool`; they are sent as
/// system notes instead.
fn message_json(m: &ChatMessage) -> Value {
    match m.role {
        Role::Tool => json!({"role": "system", "content": format!("Tool result: {}", m.content)}),
        role => json!({"role": role, "content": m.content}),
    }
}

#[async_trait::async_trait]
impl LanguageModel for OpenAiLlm {
    async fn stream(
        &self,
        request: LlmRequest,
    ) -> Result<BoxStream<'static, Result<LlmEvent, ProviderError>>, ProviderError> {
        let url = http::join_url(&self.config.base_url, "/chat/completions");
        let mut builder = self
            .client
            .post(url)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .json(&self.request_body(&request));
        if let Some(key) = &self.config.api_key {
            builder = builder.bearer_auth(key);
        }
        let response = http::send(builder, self.config.first_byte_timeout).await?;
        let (tx, rx) = mpsc::channel(LLM_EVENT_CHANNEL);
        let task = tokio::spawn(read_stream(response, self.config.stall_timeout, tx));
        Ok(ChannelStream::new(rx, task).boxed())
    }
}

type Tx = mpsc::Sender<Result<LlmEvent, ProviderError>>;

/// Reads the response body, forwarding events; returns when done, failed or
/// when the consumer is gone (then the response is dropped, closing the connection).
async fn read_stream(mut response: reqwest::Response, stall: Duration, tx: Tx) {
    let is_sse = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| !ct.starts_with("application/json"))
        .unwrap_or(true);
    if !is_sse {
        // Servers that ignore `stream: true` answer with one JSON completion.
        let result = read_json_completion(response).await;
        forward(&tx, result).await;
        return;
    }
    let mut parser = SseParser::new();
    let mut state = Assembler::default();
    loop {
        let chunk = tokio::select! {
            _ = tx.closed() => return,
            chunk = http::next_chunk(&mut response, stall) => chunk,
        };
        let ended = matches!(chunk, Ok(None));
        let events = match chunk {
            Ok(Some(bytes)) => parser.feed(&bytes),
            Ok(None) => Ok(parser.finish().into_iter().collect()),
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        let events = match events {
            Ok(e) => e,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        for event in events {
            match state.on_data(&event.data) {
                Ok(out) => {
                    let done = out.last() == Some(&LlmEvent::Done);
                    if !forward(&tx, Ok(out)).await || done {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
        }
        if ended {
            // Closed without `[DONE]`: fine after a finish_reason, a failure otherwise.
            let result = if state.finished {
                Ok(state.finish())
            } else {
                Err(ProviderError::Protocol(
                    "stream ended before the completion finished".into(),
                ))
            };
            forward(&tx, result).await;
            return;
        }
    }
}

/// Sends events (or one error) in order; `false` when the consumer is gone.
async fn forward(tx: &Tx, events: Result<Vec<LlmEvent>, ProviderError>) -> bool {
    match events {
        Ok(events) => {
            for e in events {
                if tx.send(Ok(e)).await.is_err() {
                    return false;
                }
            }
            true
        }
        Err(e) => {
            let _ = tx.send(Err(e)).await;
            false
        }
    }
}

async fn read_json_completion(response: reqwest::Response) -> Result<Vec<LlmEvent>, ProviderError> {
    let body = response.bytes().await.map_err(http::map_reqwest_error)?;
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| ProviderError::Protocol(format!("bad completion JSON: {e}")))?;
    if let Some(message) = http::error_message(&String::from_utf8_lossy(&body)) {
        if v.get("error").is_some() {
            return Err(ProviderError::Status {
                status: 200,
                body: message,
            });
        }
    }
    let message = &v["choices"][0]["message"];
    let mut state = Assembler::default();
    let mut out = Vec::new();
    if let Some(text) = message["content"].as_str() {
        if !text.is_empty() {
            out.push(LlmEvent::Token(text.to_owned()));
        }
    }
    if let Some(calls) = message["tool_calls"].as_array() {
        for (i, call) in calls.iter().enumerate() {
            let entry = state.tools.entry(i as u64).or_default();
            entry.id = call["id"].as_str().unwrap_or_default().to_owned();
            entry.name = call["function"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            entry.arguments = call["function"]["arguments"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
        }
    }
    out.extend(state.finish());
    Ok(out)
}

/// Assembles streamed deltas into events.
#[derive(Default)]
struct Assembler {
    /// Tool calls by their `index`, fields concatenated across chunks.
    tools: BTreeMap<u64, ToolCallParts>,
    /// A `finish_reason` arrived.
    finished: bool,
    /// `Done` was emitted.
    done: bool,
}

#[derive(Default)]
struct ToolCallParts {
    id: String,
    name: String,
    arguments: String,
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

impl Assembler {
    /// Handles one SSE `data` payload.
    fn on_data(&mut self, data: &str) -> Result<Vec<LlmEvent>, ProviderError> {
        let data = data.trim();
        if data.is_empty() {
            return Ok(Vec::new());
        }
        if data == "[DONE]" {
            return Ok(self.finish());
        }
        let chunk: Chunk = serde_json::from_str(data)
            .map_err(|e| ProviderError::Protocol(format!("bad stream chunk: {e}")))?;
        if let Some(error) = chunk.error {
            let body = error
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| error.to_string());
            return Err(ProviderError::Status { status: 200, body });
        }
        let mut out = Vec::new();
        let Some(choice) = chunk.choices.into_iter().next() else {
            return Ok(out); // e.g. a usage-only chunk
        };
        if let Some(delta) = choice.delta {
            if let Some(text) = delta.content {
                if !text.is_empty() {
                    out.push(LlmEvent::Token(text));
                }
            }
            for call in delta.tool_calls.unwrap_or_default() {
                let index = call
                    .index
                    .unwrap_or(self.tools.len().saturating_sub(1) as u64);
                let parts = self.tools.entry(index).or_default();
                if let Some(id) = call.id {
                    parts.id.push_str(&id);
                }
                if let Some(f) = call.function {
                    if let Some(name) = f.name {
                        parts.name.push_str(&name);
                    }
                    if let Some(args) = f.arguments {
                        parts.arguments.push_str(&args);
                    }
                }
            }
        }
        if let Some(reason) = choice.finish_reason {
            self.finished = true;
            if reason == "tool_calls" || reason == "function_call" {
                out.extend(self.take_tool_calls());
            }
            // "stop" / "length" / "content_filter": `Done` comes with `[DONE]` or end of body.
        }
        Ok(out)
    }

    fn take_tool_calls(&mut self) -> Vec<LlmEvent> {
        std::mem::take(&mut self.tools)
            .into_values()
            .filter(|c| !c.name.is_empty())
            .map(|c| {
                if c.name == END_CALL_TOOL {
                    LlmEvent::EndCall
                } else {
                    LlmEvent::ToolCall {
                        id: c.id,
                        name: c.name,
                        arguments: c.arguments,
                    }
                }
            })
            .collect()
    }

    /// Ends the completion: tool calls not yet reported (servers that finish
    /// with "stop" despite calling tools), then `Done` exactly once.
    fn finish(&mut self) -> Vec<LlmEvent> {
        if self.done {
            return Vec::new();
        }
        self.done = true;
        let mut out = self.take_tool_calls();
        out.push(LlmEvent::Done);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembles_tool_calls_by_index() {
        let mut a = Assembler::default();
        let mut out = Vec::new();
        for d in [
            r#"{"choices":[{"delta":{"role":"assistant","content":"Hi"}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"look","arguments":""}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":1,"id":"c2","function":{"name":"end_call","arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"q\":"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"tool_calls"}]}"#,
            "[DONE]",
        ] {
            out.extend(a.on_data(d).unwrap());
        }
        assert_eq!(
            out,
            vec![
                LlmEvent::Token("Hi".into()),
                LlmEvent::ToolCall {
                    id: "c1".into(),
                    name: "look".into(),
                    arguments: "{\"q\":1}".into()
                },
                LlmEvent::EndCall,
                LlmEvent::Done,
            ]
        );
    }
}
