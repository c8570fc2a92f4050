//! End-to-end tests of the local provider servers and speech helpers, driven
//! by plain HTTP / WebSocket clients (not Parla's own provider clients).
//!
//! The whisper tests need the Python venv: `bash tools/setup-python.sh`.

use futures::{SinkExt, StreamExt};
use parla_testkit::servers::{Fault, MockDeepgram, MockLlm, MockTts, Reply};
use parla_testkit::speech::{
    contains_phrase_fuzzy, espeak_native, espeak_wav, rms_dbfs, voiced_spans, word_error_rate,
    EspeakOptions, Whisper,
};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const SENTENCE: &str = "I would like to book an appointment";

/// Tests that recognize speech take turns: the whisper server runs one
/// inference at a time, and the streaming tests depend on its latency.
static RECOGNIZER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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
}

#[tokio::test]
async fn tts_streams_24k_pcm_of_the_right_length() {
    let tts = MockTts::builder().api_key("sk-tts").start().unwrap();
    let text = "Thank you for calling. How can I help you today?";
    let t0 = Instant::now();
    let resp = reqwest::Client::new()
        .post(tts.speech_url())
        .bearer_auth("sk-tts")
        .json(&json!({"model": "gpt-4o-mini-tts", "input": text, "voice": "alloy", "response_format": "pcm"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers().get("content-length").is_none(),
        "streamed (chunked)"
    );
    assert_eq!(resp.headers()["transfer-encoding"], "chunked");
    let mut stream = resp.bytes_stream();
    let mut pcm_bytes = Vec::new();
    let mut first_byte = None;
    let mut chunks = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        first_byte.get_or_insert_with(|| t0.elapsed());
        chunks += 1;
        pcm_bytes.extend_from_slice(&chunk);
    }
    assert_eq!(pcm_bytes.len() % 2, 0);
    let pcm: Vec<i16> = pcm_bytes
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    let (native, native_rate) = espeak_native(text, &EspeakOptions::default()).unwrap();
    let expected = native.len() as f64 / native_rate as f64;
    let got = pcm.len() as f64 / 24_000.0;
    eprintln!("tts: {got:.3} s of audio (espeak {expected:.3} s) in {chunks} chunks, first byte after {first_byte:?}");
    assert!(
        (got - expected).abs() < 0.02 * expected,
        "{got} s vs {expected} s"
    );
    assert!(rms_dbfs(&pcm) > -35.0, "audible: {} dBFS", rms_dbfs(&pcm));
    assert_eq!(tts.inputs(), vec![text.to_string()]);
}

#[tokio::test]
async fn tts_wav_errors_and_injection() {
    let tts = MockTts::builder().first_byte_ms(300).start().unwrap();
    let client = reqwest::Client::new();
    let ask = |body: Value| client.post(tts.speech_url()).json(&body).send();

    let t0 = Instant::now();
    let resp = ask(json!({"model": "tts-1", "input": "Hello there.", "voice": "nova", "response_format": "wav"})).await.unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(290));
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "audio/wav");
    let wav = resp.bytes().await.unwrap();
    let reader = hound::WavReader::new(std::io::Cursor::new(wav.to_vec())).unwrap();
    assert_eq!(reader.spec().sample_rate, 24_000);
    assert_eq!(reader.spec().channels, 1);
    assert!(reader.duration() > 12_000);

    tts.set_first_byte_ms(0);
    for bad in [
        json!({"model": "tts-1", "input": "x", "voice": "alloy"}), // mp3 by default: not supported here
        json!({"model": "tts-1", "input": "x", "voice": "robot", "response_format": "pcm"}),
        json!({"model": "tts-1", "input": "", "voice": "alloy", "response_format": "pcm"}),
        json!({"input": "x", "voice": "alloy", "response_format": "pcm"}),
        json!({"model": "tts-1", "input": "x", "voice": "alloy", "response_format": "pcm", "speed": 9}),
    ] {
        let resp = ask(bad.clone()).await.unwrap();
        assert_eq!(resp.status(), 400, "{bad}");
        assert_eq!(
            resp.json::<Value>().await.unwrap()["error"]["type"],
            "invalid_request_error"
        );
    }
    tts.set_fault(Fault::Status(500));
    let resp =
        ask(json!({"model": "tts-1", "input": "x", "voice": "alloy", "response_format": "pcm"}))
            .await
            .unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"]["type"],
        "server_error"
    );
    assert_eq!(tts.requests().len(), 7);
}

#[tokio::test]
async fn tts_speech_is_recognizable() {
    let _turn = RECOGNIZER.lock().await;
    let whisper = Whisper::shared().unwrap();
    let tts = MockTts::builder().start().unwrap();
    let resp = reqwest::Client::new()
        .post(tts.speech_url())
        .json(&json!({"model": "tts-1", "input": SENTENCE, "voice": "alloy", "response_format": "pcm"}))
        .send()
        .await
        .unwrap();
    let bytes = resp.bytes().await.unwrap();
    let pcm: Vec<i16> = bytes
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    let heard = whisper.transcribe(&pcm, 24_000).await.unwrap();
    let wer = word_error_rate(SENTENCE, &heard);
    eprintln!("tts→whisper: {heard:?} WER {wer:.2}");
    assert!(wer <= 0.3, "{heard:?}");
}

async fn whisper_wer_at(rate: u32) -> f64 {
    let _turn = RECOGNIZER.lock().await;
    let whisper = Whisper::shared().unwrap();
    let pcm = espeak_wav(SENTENCE, rate).unwrap();
    let t0 = Instant::now();
    let heard = whisper.transcribe(&pcm, rate).await.unwrap();
    let wer = word_error_rate(SENTENCE, &heard);
    eprintln!(
        "whisper @{rate} Hz: {:.2} s clip in {:?}: {heard:?} WER {wer:.2}",
        pcm.len() as f64 / rate as f64,
        t0.elapsed()
    );
    wer
}

#[tokio::test]
async fn whisper_transcribes_espeak_at_16k() {
    let wer = whisper_wer_at(16_000).await;
    assert!(wer <= 0.3, "WER {wer}");
}

#[tokio::test]
async fn whisper_transcribes_espeak_at_8k_phone_rate() {
    let wer = whisper_wer_at(8_000).await;
    assert!(wer <= 0.3, "WER {wer}");
}

#[tokio::test]
async fn whisper_server_speaks_openai_errors_and_formats() {
    let _turn = RECOGNIZER.lock().await;
    let whisper = Whisper::shared().unwrap();
    let client = reqwest::Client::new();
    let url = whisper.transcriptions_url();

    // Not audio: 400, OpenAI-style.
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"definitely not audio".to_vec()).file_name("x.wav"),
        )
        .text("model", "whisper-1");
    let resp = client.post(&url).multipart(form).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(v["error"]["message"].is_string());

    // No file: 400. Not multipart: 400.
    let resp = client
        .post(&url)
        .multipart(reqwest::multipart::Form::new().text("model", "whisper-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        client
            .post(&url)
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );

    // response_format=text and verbose_json.
    let wav = parlatest_wav(&espeak_wav("Good morning", 16_000).unwrap(), 16_000);
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(wav.clone()).file_name("a.wav"),
        )
        .text("model", "whisper-1")
        .text("response_format", "text");
    let resp = client.post(&url).multipart(form).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(contains_phrase_fuzzy(
        &resp.text().await.unwrap(),
        "good morning",
        0.5
    ));
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(wav).file_name("a.wav"),
        )
        .text("model", "whisper-1")
        .text("response_format", "verbose_json");
    let v: Value = client
        .post(&url)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["task"], "transcribe");
    assert!(v["duration"].as_f64().unwrap() > 0.3);
    assert!(v["segments"].as_array().is_some());

    let models: Value = client
        .get(format!("{}/v1/models", whisper.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["object"], "list");
    let health = client
        .get(format!("{}/health", whisper.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

fn parlatest_wav(pcm: &[i16], rate: u32) -> Vec<u8> {
    parla_testkit::speech::wav_bytes(pcm, rate)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn dg_connect(
    dg: &MockDeepgram,
    query: &str,
    auth: Option<&str>,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut req = format!("{}?{query}", dg.listen_url())
        .into_client_request()
        .unwrap();
    if let Some(a) = auth {
        req.headers_mut()
            .insert("authorization", a.parse().unwrap());
    }
    tokio_tungstenite::connect_async(req)
        .await
        .map(|(ws, _)| ws)
}

/// Next JSON message (skipping pings), or None when closed.
async fn dg_next(ws: &mut Ws, within: Duration) -> Option<Value> {
    loop {
        match tokio::time::timeout(within, ws.next())
            .await
            .expect("message in time")
        {
            Some(Ok(Message::Text(t))) => return Some(serde_json::from_str(t.as_str()).unwrap()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

fn linear16_frames(pcm: &[i16], samples_per_frame: usize) -> Vec<Vec<u8>> {
    pcm.chunks(samples_per_frame)
        .map(|c| c.iter().flat_map(|s| s.to_le_bytes()).collect())
        .collect()
}

#[tokio::test]
async fn deepgram_finalize_returns_the_transcript() {
    let _turn = RECOGNIZER.lock().await;
    let dg = MockDeepgram::builder(Whisper::shared().unwrap())
        .api_key("dg-key")
        .start()
        .unwrap();
    let mut ws = dg_connect(
        &dg,
        "model=nova-2&encoding=linear16&sample_rate=8000&channels=1&endpointing=false",
        Some("Token dg-key"),
    )
    .await
    .unwrap();
    let pcm = espeak_wav(SENTENCE, 8000).unwrap();
    for frame in linear16_frames(&pcm, 160) {
        ws.send(Message::binary(frame)).await.unwrap();
    }
    ws.send(Message::text(r#"{"type":"KeepAlive"}"#))
        .await
        .unwrap();
    ws.send(Message::text(r#"{"type":"Finalize"}"#))
        .await
        .unwrap();
    let results = loop {
        let m = dg_next(&mut ws, Duration::from_secs(30))
            .await
            .expect("a result");
        if m["type"] == "Results" && m["from_finalize"] == true {
            break m;
        }
    };
    assert_eq!(results["is_final"], true);
    assert_eq!(results["speech_final"], true);
    assert_eq!(results["channel_index"], json!([0, 1]));
    assert_eq!(results["start"], 0.0);
    let dur = results["duration"].as_f64().unwrap();
    assert!((dur - pcm.len() as f64 / 8000.0).abs() < 0.01, "{dur}");
    assert!(results["metadata"]["request_id"].is_string());
    assert!(results["metadata"]["model_info"]["name"].is_string());
    let alt = &results["channel"]["alternatives"][0];
    let transcript = alt["transcript"].as_str().unwrap();
    let wer = word_error_rate(SENTENCE, transcript);
    eprintln!("deepgram mock (whisper @8k): {transcript:?} WER {wer:.2}");
    assert!(wer <= 0.35, "{transcript:?}");
    assert!(alt["confidence"].as_f64().unwrap() > 0.0);
    assert_eq!(
        alt["words"].as_array().unwrap().len(),
        transcript.split_whitespace().count()
    );

    // CloseStream: Metadata, then a normal close.
    ws.send(Message::text(r#"{"type":"CloseStream"}"#))
        .await
        .unwrap();
    let meta = dg_next(&mut ws, Duration::from_secs(10))
        .await
        .expect("metadata");
    assert_eq!(meta["type"], "Metadata");
    assert_eq!(meta["request_id"], results["metadata"]["request_id"]);
    assert!((meta["duration"].as_f64().unwrap() - dur).abs() < 0.01);
    assert!(
        dg_next(&mut ws, Duration::from_secs(5)).await.is_none(),
        "closed after Metadata"
    );

    let conn = dg.last_connection().unwrap();
    assert_eq!(conn.status, 101);
    assert_eq!(conn.param("sample_rate"), Some("8000"));
    assert_eq!(conn.param("model"), Some("nova-2"));
    assert_eq!(
        conn.control_types(),
        vec!["KeepAlive", "Finalize", "CloseStream"]
    );
    assert_eq!(conn.audio_bytes, pcm.len() * 2);
    assert_eq!(conn.audio, pcm);
    assert_eq!(conn.close, Some((1000, String::new())));
    assert!(conn.errors.is_empty(), "{:?}", conn.errors);
}

#[tokio::test]
async fn deepgram_interim_results_endpointing_and_vad_events() {
    let _turn = RECOGNIZER.lock().await;
    let dg = MockDeepgram::builder(Whisper::shared().unwrap())
        .start()
        .unwrap();
    let ws = dg_connect(
        &dg,
        "encoding=linear16&sample_rate=16000&interim_results=true&endpointing=300&vad_events=true&utterance_end_ms=1000",
        Some("Token anything"),
    )
    .await
    .unwrap();
    let said = "I would like to book an appointment for next Tuesday morning, if you have any time";
    let mut pcm = vec![0i16; 16_000 / 2]; // 0.5 s silence
    pcm.extend(espeak_wav(said, 16_000).unwrap());
    pcm.extend(vec![0i16; 16_000 * 3 / 2]); // 1.5 s silence
    let spans = voiced_spans(&pcm, 16_000, -45.0, 300);
    assert_eq!(spans.len(), 1, "{spans:?}");

    // Real time, 20 ms frames; read what comes back meanwhile.
    let (mut tx, mut rx) = ws.split();
    let sender = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for frame in linear16_frames(&pcm, 320) {
            tick.tick().await;
            tx.send(Message::binary(frame)).await.unwrap();
        }
        tx
    });
    let mut got: Vec<Value> = Vec::new();
    // Generous: recognition takes ~1 s of CPU per call, more on a busy machine.
    let deadline = Instant::now() + Duration::from_secs(90);
    while !got.iter().any(|m| m["type"] == "UtteranceEnd") && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(45), rx.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => got.push(serde_json::from_str(t.as_str()).unwrap()),
            Ok(Some(Ok(_))) => {}
            _ => break,
        }
    }
    let mut tx = sender.await.unwrap();
    let kinds: Vec<String> = got
        .iter()
        .map(|m| match m["type"].as_str().unwrap() {
            "Results" => format!("Results(final={})", m["is_final"]),
            k => k.to_string(),
        })
        .collect();
    eprintln!("deepgram stream: {kinds:?}");
    assert_eq!(got[0]["type"], "SpeechStarted");
    let ts = got[0]["timestamp"].as_f64().unwrap();
    assert!((0.4..=0.7).contains(&ts), "speech starts near 0.5 s: {ts}");
    let interims: Vec<&Value> = got
        .iter()
        .filter(|m| m["type"] == "Results" && m["is_final"] == false)
        .collect();
    assert!(
        !interims.is_empty(),
        "interim results while speaking: {kinds:?}"
    );
    let finals: Vec<&Value> = got
        .iter()
        .filter(|m| m["type"] == "Results" && m["is_final"] == true)
        .collect();
    assert_eq!(finals.len(), 1, "{kinds:?}");
    assert_eq!(finals[0]["speech_final"], true);
    assert_eq!(finals[0]["from_finalize"], false);
    let transcript = finals[0]["channel"]["alternatives"][0]["transcript"]
        .as_str()
        .unwrap();
    let wer = word_error_rate(said, transcript);
    eprintln!("deepgram endpointed final: {transcript:?} WER {wer:.2}");
    assert!(wer <= 0.35, "{transcript:?}");
    let ue = got
        .iter()
        .find(|m| m["type"] == "UtteranceEnd")
        .expect("UtteranceEnd");
    let last_word_end = ue["last_word_end"].as_f64().unwrap();
    assert!(
        (last_word_end - spans[0].1 as f64 / 1000.0).abs() < 0.05,
        "{last_word_end} vs {spans:?}"
    );
    let _ = tx.send(Message::text(r#"{"type":"CloseStream"}"#)).await;
}

#[tokio::test]
async fn deepgram_rejects_missing_or_wrong_auth() {
    let dg = MockDeepgram::builder(Whisper::new("http://127.0.0.1:9"))
        .api_key("dg-key")
        .start()
        .unwrap();
    let q = "encoding=linear16&sample_rate=8000";
    for auth in [
        None,
        Some("Token wrong"),
        Some("Bearer dg-key"),
        Some("dg-key"),
    ] {
        match dg_connect(&dg, q, auth).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status(), 401, "{auth:?}");
                assert!(resp.headers().contains_key("dg-request-id"));
                let err: Value =
                    serde_json::from_str(resp.headers()["dg-error"].to_str().unwrap()).unwrap();
                assert_eq!(err["err_code"], "INVALID_AUTH");
            }
            other => panic!("{auth:?} should be refused, got {:?}", other.map(|_| ())),
        }
    }
    // The subprotocol form of the key is accepted too.
    let mut req = format!("{}?{q}", dg.listen_url())
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", "token, dg-key".parse().unwrap());
    let (_ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(resp.headers()["sec-websocket-protocol"], "token");
    // Unsupported parameters: 400.
    match dg_connect(&dg, "encoding=opus&sample_rate=48000", Some("Token dg-key")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 400),
        other => panic!("expected 400, got {:?}", other.map(|_| ())),
    }
    let statuses: Vec<u16> = dg.connections().iter().map(|c| c.status).collect();
    assert_eq!(statuses, vec![401, 401, 401, 401, 101, 400]);
}

#[tokio::test]
async fn deepgram_keepalive_holds_and_silence_times_out() {
    let dg = MockDeepgram::builder(Whisper::new("http://127.0.0.1:9"))
        .idle_timeout(Duration::from_millis(600))
        .start()
        .unwrap();
    let mut ws = dg_connect(&dg, "encoding=mulaw&sample_rate=8000", Some("Token k"))
        .await
        .unwrap();
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        ws.send(Message::text(r#"{"type":"KeepAlive"}"#))
            .await
            .unwrap();
    }
    // Digital silence in mu-law (0xFF) and a Finalize: an empty final result.
    ws.send(Message::binary(vec![0xffu8; 1600])).await.unwrap();
    ws.send(Message::text(r#"{"type":"Finalize"}"#))
        .await
        .unwrap();
    let m = dg_next(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert_eq!(m["from_finalize"], true);
    assert_eq!(m["channel"]["alternatives"][0]["transcript"], "");
    // Then nothing: closed with 1011 NET-0001.
    let t0 = Instant::now();
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Close(f))) => break f.unwrap(),
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert!(t0.elapsed() >= Duration::from_millis(500));
    assert_eq!(u16::from(close.code), 1011);
    assert!(close.reason.as_str().starts_with("NET-0001"));
    assert!(dg.last_connection().unwrap().audio.iter().all(|&s| s == 0));
}
