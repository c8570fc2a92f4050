//! [`MockLlm`]: a local OpenAI Chat Completions server
//! (`POST /v1/chat/completions`), streaming (`"stream": true`, server-sent
//! events of `chat.completion.chunk`s ending in `data: [DONE]`) and not.
//!
//! Replies are scripted: the first [`LlmRule`] whose keyword/regex matches the
//! last user message wins, else the default reply; a rule may also call a
//! tool (e.g. `end_call`) in the documented `delta.tool_calls` shape. Tool
//! calls are only emitted for tools the request declared in `tools` (and not
//! with `"tool_choice": "none"`), as a real model would.
//!
//! ```no_run
//! # use parla_testkit::servers::{MockLlm, Reply};
//! let llm = MockLlm::builder()
//!     .keyword("appointment", "Sure, which day suits you?")
//!     .regex(r"(?i)\b(bye|goodbye)\b", Reply::text("Goodbye!").with_tool_call("end_call", serde_json::json!({})))
//!     .default_reply("Sorry, could you say that again?")
//!     .api_key("sk-test")
//!     .start()
//!     .unwrap();
//! let base = llm.v1_url(); // "http://127.0.0.1:PORT/v1"
//! ```

use super::{
    channel_body, check_openai_auth, header_pairs, lock, openai_error, openai_fault_response,
    random_hex, spawn_actix, unix_now, Delay, Fault, RecordedRequest, ServerHandle, Shared,
};
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use regex::Regex;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A function call the scripted model makes.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub name: String,
    /// Serialised to the JSON string `function.arguments`.
    pub arguments: Value,
}

/// What the scripted model answers: text, tool calls, or both.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reply {
    pub text: Option<String>,
    pub tool_calls: Vec<ToolCall>,
}

impl Reply {
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: Some(text.into()),
            tool_calls: Vec::new(),
        }
    }

    /// A reply that only calls a tool.
    pub fn tool_call(name: impl Into<String>, arguments: Value) -> Self {
        Self::default().with_tool_call(name, arguments)
    }

    pub fn with_tool_call(mut self, name: impl Into<String>, arguments: Value) -> Self {
        self.tool_calls.push(ToolCall {
            name: name.into(),
            arguments,
        });
        self
    }
}

impl From<&str> for Reply {
    fn from(s: &str) -> Self {
        Reply::text(s)
    }
}

impl From<String> for Reply {
    fn from(s: String) -> Self {
        Reply::text(s)
    }
}

#[derive(Debug, Clone)]
enum Matcher {
    Keyword(String),
    Regex(Regex),
}

/// "When the last user message matches, answer this."
#[derive(Debug, Clone)]
pub struct LlmRule {
    matcher: Matcher,
    reply: Reply,
}

impl LlmRule {
    /// Matches when the last user message contains `keyword` (ignoring case).
    pub fn keyword(keyword: impl Into<String>, reply: impl Into<Reply>) -> Self {
        Self {
            matcher: Matcher::Keyword(keyword.into().to_lowercase()),
            reply: reply.into(),
        }
    }

    /// Matches when `pattern` matches the last user message. Panics on a bad
    /// pattern (this is test code).
    pub fn regex(pattern: &str, reply: impl Into<Reply>) -> Self {
        let re =
            Regex::new(pattern).unwrap_or_else(|e| panic!("bad LlmRule regex {pattern:?}: {e}"));
        Self {
            matcher: Matcher::Regex(re),
            reply: reply.into(),
        }
    }

    fn matches(&self, text: &str) -> bool {
        match &self.matcher {
            Matcher::Keyword(k) => text.to_lowercase().contains(k.as_str()),
            Matcher::Regex(re) => re.is_match(text),
        }
    }
}

/// See [`MockLlmBuilder::on_first_sentence`].
#[derive(Clone)]
struct FirstSentenceHook(Arc<dyn Fn(Duration) + Send + Sync>);

impl std::fmt::Debug for FirstSentenceHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FirstSentenceHook(..)")
    }
}

#[derive(Debug, Clone)]
struct Config {
    rules: Vec<LlmRule>,
    default_reply: Reply,
    api_key: Option<String>,
    first_token: Duration,
    inter_token: Duration,
    /// Drawn per request / per chunk instead of the fixed values when set.
    first_token_delay: Option<Delay>,
    inter_token_delay: Option<Delay>,
    /// Requests kept in `requests` (later ones are answered, not kept).
    record_limit: usize,
    /// Told, per streamed reply, how long after the request arrived the chunk
    /// completing the first sentence was sent.
    first_sentence_hook: Option<FirstSentenceHook>,
    fault: Fault,
}

#[derive(Debug)]
pub(crate) struct State {
    config: Config,
    requests: Vec<RecordedRequest>,
    completed_streams: usize,
    disconnects: usize,
}

/// Builds a [`MockLlm`].
#[derive(Debug, Clone)]
pub struct MockLlmBuilder {
    config: Config,
}

impl Default for MockLlmBuilder {
    fn default() -> Self {
        Self {
            config: Config {
                rules: Vec::new(),
                default_reply: Reply::text("I'm sorry, could you repeat that?"),
                api_key: None,
                first_token: Duration::ZERO,
                inter_token: Duration::ZERO,
                first_token_delay: None,
                inter_token_delay: None,
                record_limit: usize::MAX,
                first_sentence_hook: None,
                fault: Fault::None,
            },
        }
    }
}

impl MockLlmBuilder {
    pub fn rule(mut self, rule: LlmRule) -> Self {
        self.config.rules.push(rule);
        self
    }

    /// Adds [`LlmRule::keyword`].
    pub fn keyword(self, keyword: &str, reply: impl Into<Reply>) -> Self {
        self.rule(LlmRule::keyword(keyword, reply))
    }

    /// Adds [`LlmRule::regex`].
    pub fn regex(self, pattern: &str, reply: impl Into<Reply>) -> Self {
        self.rule(LlmRule::regex(pattern, reply))
    }

    /// The answer when no rule matches.
    pub fn default_reply(mut self, reply: impl Into<Reply>) -> Self {
        self.config.default_reply = reply.into();
        self
    }

    /// Require `Authorization: Bearer KEY` (401 otherwise). Without it any
    /// or no key is accepted.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.config.api_key = Some(key.into());
        self
    }

    /// Time to first token (after the response headers, for streams).
    pub fn first_token_ms(mut self, ms: u64) -> Self {
        self.config.first_token = Duration::from_millis(ms);
        self
    }

    /// Delay between streamed chunks.
    pub fn inter_token_ms(mut self, ms: u64) -> Self {
        self.config.inter_token = Duration::from_millis(ms);
        self
    }

    pub fn fault(mut self, fault: Fault) -> Self {
        self.config.fault = fault;
        self
    }

    /// Time to first token drawn from `delay` for every request (overrides
    /// [`Self::first_token_ms`]).
    pub fn first_token_delay(mut self, delay: Delay) -> Self {
        self.config.first_token_delay = Some(delay);
        self
    }

    /// Delay between streamed chunks drawn from `delay` for every chunk
    /// (overrides [`Self::inter_token_ms`]).
    pub fn inter_token_delay(mut self, delay: Delay) -> Self {
        self.config.inter_token_delay = Some(delay);
        self
    }

    /// Calls `hook` once per streamed reply with the time from the request's
    /// arrival to sending the chunk that completes the reply's first sentence
    /// (the first chunk ending in `.`, `!` or `?`; the last text chunk when
    /// there is none): the provider's share of the time to first speakable text.
    pub fn on_first_sentence(mut self, hook: impl Fn(Duration) + Send + Sync + 'static) -> Self {
        self.config.first_sentence_hook = Some(FirstSentenceHook(Arc::new(hook)));
        self
    }

    /// Keep at most `n` requests in [`MockLlm::requests`] (for load: the
    /// default keeps all).
    pub fn record_limit(mut self, n: usize) -> Self {
        self.config.record_limit = n;
        self
    }

    pub fn start(self) -> anyhow::Result<MockLlm> {
        let (state, routes) = self.into_routes();
        let handle = spawn_actix("llm", move |cfg| {
            routes(cfg);
            cfg.default_service(web::to(not_found));
        })?;
        Ok(MockLlm {
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
            completed_streams: 0,
            disconnects: 0,
        }));
        let data = web::Data::from(state.clone());
        let routes = move |cfg: &mut web::ServiceConfig| {
            cfg.service(
                web::resource("/v1/chat/completions")
                    .app_data(data.clone())
                    .app_data(web::PayloadConfig::new(32 * 1024 * 1024))
                    .route(web::post().to(chat_completions)),
            );
        };
        (state, routes)
    }

    pub(crate) fn attach(state: Shared<State>, handle: Arc<ServerHandle>) -> MockLlm {
        MockLlm { handle, state }
    }
}

/// A running local OpenAI Chat Completions server. Stops on drop.
pub struct MockLlm {
    handle: Arc<ServerHandle>,
    state: Shared<State>,
}

impl MockLlm {
    pub fn builder() -> MockLlmBuilder {
        MockLlmBuilder::default()
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> &str {
        self.handle.base_url()
    }

    /// `http://127.0.0.1:PORT/v1`: what OpenAI clients call the base URL.
    pub fn v1_url(&self) -> String {
        format!("{}/v1", self.handle.base_url())
    }

    pub fn chat_completions_url(&self) -> String {
        format!("{}/v1/chat/completions", self.handle.base_url())
    }

    pub fn handle(&self) -> &ServerHandle {
        &self.handle
    }

    /// Every request received so far (up to the record limit), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state).requests.clone()
    }

    pub fn last_request(&self) -> Option<RecordedRequest> {
        lock(&self.state).requests.last().cloned()
    }

    pub fn request_count(&self) -> usize {
        lock(&self.state).requests.len()
    }

    /// Streams that sent `[DONE]`.
    pub fn completed_streams(&self) -> usize {
        lock(&self.state).completed_streams
    }

    /// Streams stopped early because the client went away (including a
    /// [`Fault::Stall`] response the client gave up on).
    pub fn disconnects(&self) -> usize {
        lock(&self.state).disconnects
    }

    pub fn set_fault(&self, fault: Fault) {
        lock(&self.state).config.fault = fault;
    }

    pub fn set_first_token_ms(&self, ms: u64) {
        lock(&self.state).config.first_token = Duration::from_millis(ms);
    }

    pub fn set_inter_token_ms(&self, ms: u64) {
        lock(&self.state).config.inter_token = Duration::from_millis(ms);
    }

    /// Replaces the scripted rules.
    pub fn set_rules(&self, rules: Vec<LlmRule>) {
        lock(&self.state).config.rules = rules;
    }

    pub fn clear_requests(&self) {
        lock(&self.state).requests.clear();
    }
}

fn message_text(message: &Value) -> Option<String> {
    match message.get("content")? {
        Value::String(s) => Some(s.clone()),
        // Content parts: [{"type":"text","text":"..."}, ...]
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        _ => None,
    }
}

pub(crate) fn last_user_text(body: &Value) -> Option<String> {
    body.get("messages")?
        .as_array()?
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(message_text)
}

fn validate(body: &Value) -> Result<(), String> {
    if !body.is_object() {
        return Err("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)".into());
    }
    if !body.get("model").map(Value::is_string).unwrap_or(false) {
        return Err("you must provide a model parameter".into());
    }
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return Err("Missing required parameter: 'messages'.".into());
    };
    if messages.is_empty() {
        return Err("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.".into());
    }
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str);
        if !matches!(
            role,
            Some("system" | "developer" | "user" | "assistant" | "tool" | "function")
        ) {
            return Err(format!("Invalid value for 'messages[{i}].role'."));
        }
        if role == Some("tool") && m.get("tool_call_id").and_then(Value::as_str).is_none() {
            return Err(format!("Missing parameter 'tool_call_id': messages with role 'tool' must have a 'tool_call_id'. (messages[{i}])"));
        }
    }
    Ok(())
}

/// The reply for this request, with tool calls limited to declared tools.
fn choose_reply(config: &Config, body: &Value) -> Reply {
    let said = last_user_text(body).unwrap_or_default();
    let mut reply = config
        .rules
        .iter()
        .find(|r| r.matches(&said))
        .map(|r| r.reply.clone())
        .unwrap_or_else(|| config.default_reply.clone());
    let declared: Vec<&str> = body
        .get("tools")
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t.get("function")?.get("name")?.as_str())
                .collect()
        })
        .unwrap_or_default();
    let tools_off = body.get("tool_choice").and_then(Value::as_str) == Some("none");
    reply
        .tool_calls
        .retain(|c| !tools_off && declared.contains(&c.name.as_str()));
    reply
}

/// Splits text into token-ish pieces: each word with its leading whitespace.
fn tokens(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    for c in text.chars() {
        if c.is_whitespace() {
            if in_word {
                out.push(std::mem::take(&mut cur));
                in_word = false;
            }
        } else {
            in_word = true;
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn approx_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4).max(1)
}

fn usage(body: &Value, reply: &Reply) -> Value {
    let prompt = approx_tokens(
        &body
            .get("messages")
            .map(Value::to_string)
            .unwrap_or_default(),
    );
    let completion = approx_tokens(reply.text.as_deref().unwrap_or(""))
        + reply
            .tool_calls
            .iter()
            .map(|c| approx_tokens(&c.arguments.to_string()) + 2)
            .sum::<u64>();
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    openai_error(
        404,
        &format!("Invalid URL ({} {})", req.method(), req.path()),
        "invalid_request_error",
        None,
    )
}

/// How often a [`Fault::Stall`] response sends contentless padding.
const STALL_PADDING_EVERY: Duration = Duration::from_secs(1);

async fn chat_completions(
    req: HttpRequest,
    raw: web::Bytes,
    state: web::Data<Mutex<State>>,
) -> HttpResponse {
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
    if let Err(message) = validate(&body) {
        record(400);
        return openai_error(400, &message, "invalid_request_error", None);
    }
    match config.fault {
        Fault::Status(status) => {
            record(status);
            return openai_fault_response(status);
        }
        Fault::Stall => {
            record(200);
            let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
            let streaming = body.get("stream").and_then(Value::as_bool) == Some(true);
            let state = state.clone();
            actix_web::rt::spawn(async move {
                // Hold the body open with no content until the client leaves,
                // which counts as a disconnect (the client gave up on the stall).
                // Padding that carries nothing (an SSE comment; whitespace
                // before a JSON body, which JSON allows) goes out once a second
                // — as gateways do while a model is busy — so a closed
                // connection is noticed: the server only sees it on a write.
                let padding =
                    Bytes::from_static(if streaming { b": processing\n\n" } else { b" " });
                let give_up = tokio::time::sleep(Duration::from_secs(600));
                tokio::pin!(give_up);
                loop {
                    tokio::select! {
                        _ = tx.closed() => break,
                        _ = &mut give_up => return,
                        _ = tokio::time::sleep(STALL_PADDING_EVERY) => {
                            if tx.send(padding.clone()).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                lock(&state).disconnects += 1;
            });
            let ctype = if streaming {
                "text/event-stream; charset=utf-8"
            } else {
                "application/json"
            };
            return HttpResponse::Ok()
                .content_type(ctype)
                .streaming(channel_body(rx));
        }
        Fault::None => {}
    }
    record(200);

    let mut reply = choose_reply(&config, &body);
    // max_completion_tokens (or the older max_tokens) cuts the reply short,
    // with finish_reason "length" (a "token" here is a word).
    let limit = body
        .get("max_completion_tokens")
        .or_else(|| body.get("max_tokens"))
        .and_then(Value::as_u64)
        .map(|n| n as usize);
    let mut cut = false;
    if let (Some(limit), Some(text)) = (limit, reply.text.as_deref()) {
        let toks = tokens(text);
        if toks.len() > limit {
            reply.text = Some(toks[..limit].concat());
            reply.tool_calls.clear();
            cut = true;
        }
    }
    let finish = if cut {
        "length"
    } else if reply.tool_calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    let model = body["model"].as_str().unwrap_or("gpt-4o-mini").to_string();
    let id = format!("chatcmpl-{}", random_hex(24));
    let created = unix_now();
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);

    let first_token = config
        .first_token_delay
        .as_ref()
        .map_or(config.first_token, Delay::sample);
    if !stream {
        let n_tokens = tokens(reply.text.as_deref().unwrap_or("")).len() as u32;
        let between: Duration = match &config.inter_token_delay {
            Some(d) => (0..n_tokens).map(|_| d.sample()).sum(),
            None => config.inter_token * n_tokens,
        };
        tokio::time::sleep(first_token + between).await;
        let mut message = json!({"role": "assistant", "content": reply.text, "refusal": null});
        if !reply.tool_calls.is_empty() {
            message["tool_calls"] = reply
                .tool_calls
                .iter()
                .map(|c| {
                    json!({
                        "id": format!("call_{}", random_hex(24)),
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments.to_string()},
                    })
                })
                .collect();
        }
        return HttpResponse::Ok().json(json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_parla_mock",
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
            "usage": usage(&body, &reply),
        }));
    }

    let include_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let chunk = move |delta: Value, finish: Option<&str>| -> Bytes {
        let mut c = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_parla_mock",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if include_usage {
            c["usage"] = Value::Null;
        }
        Bytes::from(format!("data: {c}\n\n"))
    };

    let mut events: Vec<Bytes> = Vec::new();
    let mut first_sentence_event: Option<usize> = None;
    let text_tokens = reply.text.as_deref().map(tokens).unwrap_or_default();
    if reply.text.is_some() || reply.tool_calls.is_empty() {
        events.push(chunk(
            json!({"role": "assistant", "content": "", "refusal": null}),
            None,
        ));
        let first_end = text_tokens
            .iter()
            .position(|t| t.trim_end().ends_with(['.', '!', '?']))
            .or(text_tokens.len().checked_sub(1));
        // +1: the role chunk comes first.
        first_sentence_event = first_end.map(|i| events.len() + i);
        for t in &text_tokens {
            events.push(chunk(json!({"content": t}), None));
        }
    }
    for (i, call) in reply.tool_calls.iter().enumerate() {
        let mut head = json!({"tool_calls": [{
            "index": i,
            "id": format!("call_{}", random_hex(24)),
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }]});
        if i == 0 && reply.text.is_none() {
            head["role"] = json!("assistant");
            head["content"] = Value::Null;
            head["refusal"] = Value::Null;
        }
        events.push(chunk(head, None));
        // Arguments arrive in pieces, as from the real API.
        let args = call.arguments.to_string();
        let chars: Vec<char> = args.chars().collect();
        for piece in chars.chunks(8) {
            let piece: String = piece.iter().collect();
            events.push(chunk(
                json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}),
                None,
            ));
        }
    }
    events.push(chunk(json!({}), Some(finish)));
    if include_usage {
        let c = json!({
            "id": format!("chatcmpl-{}", random_hex(24)),
            "object": "chat.completion.chunk",
            "created": created,
            "model": body["model"],
            "system_fingerprint": "fp_parla_mock",
            "choices": [],
            "usage": usage(&body, &reply),
        });
        events.push(Bytes::from(format!("data: {c}\n\n")));
    }
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));

    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
    let state = state.into_inner();
    let arrived = std::time::Instant::now();
    actix_web::rt::spawn(async move {
        let mut all_sent = tokio::select! {
            _ = tokio::time::sleep(first_token) => true,
            _ = tx.closed() => false,
        };
        let last = events.len() - 1;
        for (i, ev) in events.into_iter().enumerate() {
            if !all_sent {
                break;
            }
            let gap = config
                .inter_token_delay
                .as_ref()
                .map_or(config.inter_token, Delay::sample);
            if i > 0 && i < last && !gap.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(gap) => {}
                    _ = tx.closed() => { all_sent = false; break; }
                }
            }
            all_sent = tx.send(ev).await.is_ok();
            if all_sent && Some(i) == first_sentence_event {
                if let Some(hook) = &config.first_sentence_hook {
                    (hook.0)(arrived.elapsed());
                }
            }
        }
        let mut s = lock(&state);
        if all_sent {
            s.completed_streams += 1;
        } else {
            s.disconnects += 1;
        }
    });
    HttpResponse::Ok()
        .content_type("text/event-stream; charset=utf-8")
        .insert_header(("cache-control", "no-cache"))
        .streaming(channel_body(rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_keep_all_text() {
        let t = tokens("Hello there,  how are you?");
        assert_eq!(t.concat(), "Hello there,  how are you?");
        assert_eq!(t[0], "Hello");
        assert_eq!(t[1], " there,");
    }

    #[test]
    fn user_text_from_parts() {
        let body = json!({"messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "book"}, {"type": "text", "text": "now"}]},
        ]});
        assert_eq!(last_user_text(&body).as_deref(), Some("book now"));
    }
}
