//! The OpenAI-compatible chat completions server (`MockLlm`).

use super::*;

fn chat_body(user: &str, stream: bool) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "stream": stream,
        "messages": [
            {"role": "system", "content": "You are a receptionist."},
            {"role": "assistant", "content": "Hello, how can I help?"},
            {"role": "user", "content": user},
        ],
    })
}

/// Splits an SSE body into its `data:` payloads, checking the framing.
fn sse_data(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    for event in body.split("\n\n").filter(|e| !e.trim().is_empty()) {
        let line = event.trim_end_matches('\n');
        assert!(!line.contains('\n'), "one data line per event: {line:?}");
        out.push(
            line.strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data line: {line:?}"))
                .to_string(),
        );
    }
    out
}

async fn post_chat(llm: &MockLlm, body: &Value, key: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(llm.chat_completions_url())
        .json(body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    req.send().await.unwrap()
}

/// Parses a streamed completion; returns (content, chunks, finish_reason).
fn parse_stream(body: &str) -> (String, Vec<Value>, String) {
    let data = sse_data(body);
    assert_eq!(
        data.last().map(String::as_str),
        Some("[DONE]"),
        "[DONE] comes last"
    );
    assert_eq!(data.iter().filter(|d| *d == "[DONE]").count(), 1);
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("chunk {d:?} is not JSON: {e}")))
        .collect();
    let id = chunks[0]["id"].clone();
    let mut content = String::new();
    let mut finish = String::new();
    for (i, c) in chunks.iter().enumerate() {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], id, "one id for the whole stream");
        assert!(c["created"].is_u64());
        assert_eq!(c["model"], "gpt-4o-mini");
        let choice = &c["choices"][0];
        assert_eq!(choice["index"], 0);
        if i == 0 {
            assert_eq!(choice["delta"]["role"], "assistant");
        }
        if let Some(t) = choice["delta"]["content"].as_str() {
            content.push_str(t);
        }
        if let Some(f) = choice["finish_reason"].as_str() {
            assert_eq!(i, chunks.len() - 1, "finish_reason only on the last chunk");
            finish = f.to_string();
        } else {
            assert!(choice["finish_reason"].is_null());
        }
    }
    (content, chunks, finish)
}

#[tokio::test]
async fn llm_streams_chunks_and_rules_pick_replies() {
    let llm = MockLlm::builder()
        .keyword("appointment", "Sure, which day suits you?")
        .regex(r"(?i)\bcancel\b", "Your order is cancelled.")
        .default_reply("Sorry, could you say that again?")
        .start()
        .unwrap();

    let resp = post_chat(
        &llm,
        &chat_body("I would like to book an APPOINTMENT", true),
        None,
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let (content, chunks, finish) = parse_stream(&resp.text().await.unwrap());
    assert_eq!(content, "Sure, which day suits you?");
    assert_eq!(finish, "stop");
    assert!(
        chunks.len() >= 6,
        "word-by-word chunks, got {}",
        chunks.len()
    );

    let (content, _, _) = parse_stream(
        &post_chat(&llm, &chat_body("please cancel it", true), None)
            .await
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(content, "Your order is cancelled.");
    let (content, _, _) = parse_stream(
        &post_chat(&llm, &chat_body("what's the weather", true), None)
            .await
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(content, "Sorry, could you say that again?");

    // Every request is recorded with the history the client sent.
    let reqs = llm.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].messages().len(), 3);
    assert_eq!(reqs[0].messages()[1]["content"], "Hello, how can I help?");
    assert_eq!(
        reqs[1].last_user_text().as_deref(),
        Some("please cancel it")
    );
    assert!(reqs[0].is_stream());
    assert_eq!(llm.completed_streams(), 3);
}

#[tokio::test]
async fn llm_non_streaming_completion_and_usage_chunk() {
    let llm = MockLlm::builder()
        .keyword("hello", "Hi there!")
        .start()
        .unwrap();
    let resp = post_chat(&llm, &chat_body("hello", false), None).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["message"]["content"], "Hi there!");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["usage"]["total_tokens"].as_u64().unwrap() > 0);

    // max_tokens cuts the reply: finish_reason "length".
    let mut body = chat_body("hello", true);
    body["max_tokens"] = json!(1);
    let (content, _, finish) =
        parse_stream(&post_chat(&llm, &body, None).await.text().await.unwrap());
    assert_eq!((content.as_str(), finish.as_str()), ("Hi", "length"));

    // stream_options.include_usage: a last chunk with empty choices and usage.
    let mut body = chat_body("hello", true);
    body["stream_options"] = json!({"include_usage": true});
    let text = post_chat(&llm, &body, None).await.text().await.unwrap();
    let data = sse_data(&text);
    let usage: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert!(usage["usage"]["completion_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn llm_streams_tool_calls_in_documented_shape() {
    let llm = MockLlm::builder()
        .regex(
            r"(?i)\b(bye|goodbye)\b",
            Reply::text("Goodbye!")
                .with_tool_call("end_call", json!({"reason": "caller said goodbye"})),
        )
        .keyword(
            "transfer",
            Reply::tool_call("transfer_call", json!({"to": "sales"})),
        )
        .start()
        .unwrap();
    let tools = json!([
        {"type": "function", "function": {"name": "end_call", "description": "Hang up", "parameters": {"type": "object", "properties": {"reason": {"type": "string"}}}}},
        {"type": "function", "function": {"name": "transfer_call", "parameters": {"type": "object", "properties": {}}}},
    ]);

    let mut body = chat_body("ok bye now", true);
    body["tools"] = tools.clone();
    let (content, chunks, finish) =
        parse_stream(&post_chat(&llm, &body, None).await.text().await.unwrap());
    assert_eq!(content, "Goodbye!");
    assert_eq!(finish, "tool_calls");
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"].get("tool_calls"))
        .collect();
    assert!(calls.len() >= 2, "name first, then argument pieces");
    let head = &calls[0][0];
    assert_eq!(head["index"], 0);
    assert!(head["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(head["type"], "function");
    assert_eq!(head["function"]["name"], "end_call");
    let args: String = calls
        .iter()
        .map(|c| c[0]["function"]["arguments"].as_str().unwrap())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"reason": "caller said goodbye"})
    );
    for c in &calls[1..] {
        assert!(c[0].get("id").is_none() && c[0]["function"].get("name").is_none());
    }

    // Tool-only reply: the first delta has role and null content.
    let mut body = chat_body("transfer me", true);
    body["tools"] = tools;
    let (content, chunks, finish) =
        parse_stream(&post_chat(&llm, &body, None).await.text().await.unwrap());
    assert_eq!(content, "");
    assert_eq!(finish, "tool_calls");
    assert!(chunks[0]["choices"][0]["delta"]["content"].is_null());
    assert_eq!(
        chunks[0]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"],
        "transfer_call"
    );

    // A tool the request did not declare is never called.
    let (content, chunks, finish) = parse_stream(
        &post_chat(&llm, &chat_body("bye", true), None)
            .await
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(content, "Goodbye!");
    assert_eq!(finish, "stop");
    assert!(chunks
        .iter()
        .all(|c| c["choices"][0]["delta"].get("tool_calls").is_none()));

    // Non-streamed tool call.
    let mut body = chat_body("goodbye", false);
    body["tools"] = json!([{"type": "function", "function": {"name": "end_call"}}]);
    let v: Value = post_chat(&llm, &body, None).await.json().await.unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let call = &v["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "end_call");
    assert!(call["function"]["arguments"].is_string());
}

#[tokio::test]
async fn llm_auth_errors_and_validation() {
    let llm = MockLlm::builder()
        .api_key("sk-test-123456789")
        .start()
        .unwrap();
    let body = chat_body("hi", true);

    let resp = post_chat(&llm, &body, None).await;
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    let resp = post_chat(&llm, &body, Some("sk-wrong-000000000")).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_api_key"
    );
    assert_eq!(
        post_chat(&llm, &body, Some("sk-test-123456789"))
            .await
            .status(),
        200
    );

    llm.set_fault(Fault::Status(500));
    let resp = post_chat(&llm, &body, Some("sk-test-123456789")).await;
    assert_eq!(resp.status(), 500);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "server_error");
    assert!(v["error"]["message"].is_string());
    llm.set_fault(Fault::Status(429));
    assert_eq!(
        post_chat(&llm, &body, Some("sk-test-123456789"))
            .await
            .status(),
        429
    );
    llm.set_fault(Fault::None);

    let resp = post_chat(
        &llm,
        &json!({"model": "gpt-4o-mini", "messages": []}),
        Some("sk-test-123456789"),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let resp = post_chat(
        &llm,
        &json!({"messages": [{"role": "user", "content": "x"}]}),
        Some("sk-test-123456789"),
    )
    .await;
    assert_eq!(resp.status(), 400);

    let statuses: Vec<u16> = llm.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![401, 401, 200, 500, 429, 400, 400]);
    assert_eq!(
        llm.requests()[2].header("authorization"),
        Some("Bearer sk-test-123456789")
    );
}

#[tokio::test]
async fn llm_timing_knobs_stall_and_disconnect() {
    let llm = MockLlm::builder()
        .default_reply("one two three four five six seven eight nine ten eleven twelve")
        .first_token_ms(300)
        .inter_token_ms(40)
        .start()
        .unwrap();

    // Time to first token, then inter-token pacing.
    let t0 = Instant::now();
    let resp = post_chat(&llm, &chat_body("hi", true), None).await;
    let mut stream = resp.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    let ttft = t0.elapsed();
    assert!(first.starts_with(b"data: "));
    assert!(ttft >= Duration::from_millis(290), "ttft {ttft:?}");
    while stream.next().await.is_some() {}
    let total = t0.elapsed();
    assert!(
        total >= Duration::from_millis(300 + 12 * 40 - 50),
        "total {total:?}"
    );

    // Client goes away mid-stream: the server stops streaming.
    llm.set_first_token_ms(0);
    llm.set_inter_token_ms(200);
    let resp = post_chat(&llm, &chat_body("hi", true), None).await;
    let mut stream = resp.bytes_stream();
    stream.next().await.unwrap().unwrap();
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(5);
    while llm.disconnects() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(llm.disconnects(), 1, "the mock noticed the disconnect");

    // Stall: headers, then nothing.
    llm.set_fault(Fault::Stall);
    let resp = post_chat(&llm, &chat_body("hi", true), None).await;
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    assert!(
        tokio::time::timeout(Duration::from_millis(700), stream.next())
            .await
            .is_err(),
        "no body while stalled"
    );
    // Only contentless padding follows; a client that gives up is noticed.
    let padding = tokio::time::timeout(Duration::from_secs(3), stream.next())
        .await
        .expect("padding within 3 s")
        .unwrap()
        .unwrap();
    assert_eq!(&padding[..], b": processing\n\n");
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(5);
    while llm.disconnects() == 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        llm.disconnects(),
        2,
        "the mock noticed the stalled client leave"
    );
}
