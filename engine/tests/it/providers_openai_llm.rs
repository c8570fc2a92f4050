//! OpenAI-compatible streaming chat completions against a local SSE server.

use crate::support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use parla_engine::providers::openai_llm::{OpenAiLlm, OpenAiLlmConfig};
use parla_engine::providers::{
    ChatMessage, LanguageModel, LlmEvent, LlmRequest, ProviderError, ToolSpec,
};
use serde_json::json;
use support::*;
use tokio::sync::mpsc;

fn llm(addr: std::net::SocketAddr) -> OpenAiLlm {
    OpenAiLlm::new(OpenAiLlmConfig {
        base_url: format!("http://{addr}/v1"),
        egress: parla_engine::providers::egress::EgressPolicy::allowing([addr.to_string()])
            .unwrap(),
        api_key: Some("sk-test".into()),
        model: "test-model".into(),
        temperature: Some(0.5),
        ..Default::default()
    })
    .unwrap()
}

fn request() -> LlmRequest {
    LlmRequest {
        messages: vec![
            ChatMessage::system("Be brief."),
            ChatMessage::user("Hi there"),
        ],
        tools: vec![],
    }
}

fn sse(chunk: serde_json::Value) -> String {
    format!("data: {chunk}\n\n")
}

fn token_chunk(text: &str) -> String {
    sse(
        json!({"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":text},"finish_reason":null}]}),
    )
}

/// A body with comments, CRLFs, a multi-line data event is not valid JSON for OpenAI,
/// so multi-line data is exercised as pretty-printed JSON split over lines.
fn token_body() -> Vec<u8> {
    let mut body = String::from(": keepalive\n\n");
    body.push_str(&sse(
        json!({"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}),
    ));
    for t in ["Héllo", ",", " wörld", " 👋", "!"] {
        body.push_str(&token_chunk(t));
    }
    // Multi-line data: one JSON document over several data: lines, CRLF line ends.
    body.push_str(
        "data: {\"choices\":[{\"index\":0,\r\ndata: \"delta\":{\"content\":\" Bye\"}}]}\r\n\r\n",
    );
    body.push_str(": ping\n\n");
    body.push_str(&sse(
        json!({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}),
    ));
    body.push_str("data: [DONE]\n\n");
    body.into_bytes()
}

async fn collect(llm: &OpenAiLlm, req: LlmRequest) -> Vec<LlmEvent> {
    let stream = llm.stream(req).await.expect("stream starts");
    let events: Vec<_> = tokio::time::timeout(Duration::from_secs(10), stream.collect::<Vec<_>>())
        .await
        .expect("stream ends");
    events.into_iter().map(|e| e.expect("no error")).collect()
}

#[tokio::test]
async fn tokens_stream_in_order_across_arbitrary_splits() {
    let body = token_body();
    let seen = Arc::new(Mutex::new(Vec::<Request>::new()));
    // Each connection splits the body at a different pattern; splits land inside
    // UTF-8 sequences, inside `data:`, between CR and LF.
    let splits: Vec<Vec<usize>> = vec![
        vec![body.len()],
        (1..body.len()).step_by(1).collect(),
        (3..body.len()).step_by(7).collect(),
        (5..body.len()).step_by(13).collect(),
        vec![2, 9, 40, 41, 42, 100, 101, 187, 188, 189, 190],
    ];
    let n_patterns = splits.len();
    let counter = Arc::new(Mutex::new(0usize));
    let addr = {
        let seen = seen.clone();
        serve(move |req, mut stream| {
            seen.lock().unwrap().push(req);
            let k = {
                let mut c = counter.lock().unwrap();
                *c += 1;
                *c - 1
            };
            let cuts = splits[k % splits.len()].clone();
            let body = body.clone();
            async move {
                start_chunked(&mut stream, "text/event-stream")
                    .await
                    .unwrap();
                let mut last = 0;
                for cut in cuts.into_iter().chain([body.len()]) {
                    let cut = cut.min(body.len());
                    if cut > last {
                        write_chunk(&mut stream, &body[last..cut]).await.unwrap();
                        last = cut;
                    }
                }
                end_chunked(&mut stream).await;
            }
        })
        .await
    };
    let llm = llm(addr);
    for _ in 0..n_patterns {
        let events = collect(&llm, request()).await;
        let expected: Vec<LlmEvent> = ["Héllo", ",", " wörld", " 👋", "!", " Bye"]
            .into_iter()
            .map(|t| LlmEvent::Token(t.into()))
            .chain([LlmEvent::Done])
            .collect();
        assert_eq!(events, expected);
    }

    let seen = seen.lock().unwrap();
    let req = &seen[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/v1/chat/completions");
    assert_eq!(req.header("authorization"), Some("Bearer sk-test"));
    let body = req.json();
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["stream"], true);
    assert_eq!(body["temperature"], 0.5);
    assert_eq!(
        body["messages"][0],
        json!({"role":"system","content":"Be brief."})
    );
    assert_eq!(
        body["messages"][1],
        json!({"role":"user","content":"Hi there"})
    );
    assert!(body.get("tools").is_none(), "tools omitted when empty");
}

#[tokio::test]
async fn tool_calls_are_assembled_by_index() {
    let seen = Arc::new(Mutex::new(None::<Request>));
    let addr = {
        let seen = seen.clone();
        serve(move |req, mut stream| {
            *seen.lock().unwrap() = Some(req);
            async move {
                let chunks = [
                    json!({"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"lookup_","arguments":""}}]}}]}),
                    json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"order","arguments":"{\"ord"}}]}}]}),
                    json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"end_call","arguments":"{}"}}]}}]}),
                    json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"er\": 42}"}}]}}]}),
                    json!({"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}),
                ];
                start_chunked(&mut stream, "text/event-stream").await.unwrap();
                for c in chunks {
                    let text = sse(c);
                    let (a, b) = text.as_bytes().split_at(text.len() / 2);
                    write_chunk(&mut stream, a).await.unwrap();
                    write_chunk(&mut stream, b).await.unwrap();
                }
                write_chunk(&mut stream, b"data: [DONE]\n\n").await.unwrap();
                end_chunked(&mut stream).await;
            }
        })
        .await
    };
    let mut req = request();
    req.tools = vec![
        ToolSpec {
            name: "lookup_order".into(),
            description: "Finds an order".into(),
            parameters: json!({"type":"object","properties":{"order":{"type":"integer"}}}),
        },
        ToolSpec {
            name: "end_call".into(),
            description: "Hang up".into(),
            parameters: json!({"type":"object","properties":{}}),
        },
    ];
    let events = collect(&llm(addr), req).await;
    assert_eq!(
        events,
        vec![
            LlmEvent::ToolCall {
                id: "call_a".into(),
                name: "lookup_order".into(),
                arguments: "{\"order\": 42}".into()
            },
            LlmEvent::EndCall,
            LlmEvent::Done,
        ]
    );
    let body = seen.lock().unwrap().clone().unwrap().json();
    assert_eq!(body["tools"][0]["type"], "function");
    assert_eq!(body["tools"][0]["function"]["name"], "lookup_order");
    assert_eq!(
        body["tools"][0]["function"]["parameters"]["properties"]["order"]["type"],
        "integer"
    );
    assert_eq!(body["tools"][1]["function"]["description"], "Hang up");
}

#[tokio::test]
async fn http_error_maps_to_status() {
    let addr = serve(|_req, mut stream| async move {
        respond(
            &mut stream,
            500,
            "application/json",
            br#"{"error":{"message":"model overloaded","type":"server_error"}}"#,
        )
        .await;
    })
    .await;
    let err = llm(addr).stream(request()).await.err().expect("error");
    assert_eq!(
        err,
        ProviderError::Status {
            status: 500,
            body: "model overloaded".into()
        }
    );
}

#[tokio::test]
async fn error_event_mid_stream_is_reported() {
    let addr = serve(|_req, mut stream| async move {
        start_chunked(&mut stream, "text/event-stream")
            .await
            .unwrap();
        write_chunk(&mut stream, token_chunk("Hi").as_bytes())
            .await
            .unwrap();
        write_chunk(
            &mut stream,
            sse(json!({"error":{"message":"rate limited"}})).as_bytes(),
        )
        .await
        .unwrap();
        end_chunked(&mut stream).await;
    })
    .await;
    let events: Vec<_> = llm(addr).stream(request()).await.unwrap().collect().await;
    assert_eq!(events[0], Ok(LlmEvent::Token("Hi".into())));
    assert!(
        matches!(&events[1], Err(ProviderError::Status { body, .. }) if body == "rate limited")
    );
    assert_eq!(events.len(), 2);
}

#[tokio::test]
async fn truncated_stream_is_a_protocol_error() {
    let addr = serve(|_req, mut stream| async move {
        start_chunked(&mut stream, "text/event-stream")
            .await
            .unwrap();
        write_chunk(&mut stream, token_chunk("Hi").as_bytes())
            .await
            .unwrap();
        end_chunked(&mut stream).await;
    })
    .await;
    let events: Vec<_> = llm(addr).stream(request()).await.unwrap().collect().await;
    assert_eq!(events[0], Ok(LlmEvent::Token("Hi".into())));
    assert!(matches!(events[1], Err(ProviderError::Protocol(_))));
}

#[tokio::test]
async fn dropping_the_stream_closes_the_connection() {
    let (closed_tx, mut closed_rx) = mpsc::channel::<()>(1);
    let addr = serve(move |_req, mut stream| {
        let closed_tx = closed_tx.clone();
        async move {
            start_chunked(&mut stream, "text/event-stream")
                .await
                .unwrap();
            write_chunk(&mut stream, token_chunk("first").as_bytes())
                .await
                .unwrap();
            // Keep the completion open (a slow model) until the client goes away.
            let _ =
                tokio::time::timeout(Duration::from_secs(10), wait_for_close(&mut stream)).await;
            let _ = closed_tx.send(()).await;
        }
    })
    .await;
    let mut stream = llm(addr).stream(request()).await.unwrap();
    assert_eq!(
        stream.next().await,
        Some(Ok(LlmEvent::Token("first".into())))
    );
    let started = std::time::Instant::now();
    drop(stream);
    tokio::time::timeout(Duration::from_secs(5), closed_rx.recv())
        .await
        .expect("server saw the disconnect");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "disconnect took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn no_response_head_times_out() {
    let addr = serve(|_req, mut stream| async move {
        wait_for_close(&mut stream).await; // never answer
    })
    .await;
    let llm = OpenAiLlm::new(OpenAiLlmConfig {
        base_url: format!("http://{addr}/v1"),
        egress: parla_engine::providers::egress::EgressPolicy::allowing([addr.to_string()])
            .unwrap(),
        first_byte_timeout: Duration::from_millis(300),
        ..Default::default()
    })
    .unwrap();
    let started = std::time::Instant::now();
    let err = llm.stream(request()).await.err().expect("timeout");
    assert!(matches!(err, ProviderError::Connect(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn unreachable_server_is_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = llm(addr).stream(request()).await.err().expect("error");
    assert!(matches!(err, ProviderError::Connect(_)), "{err:?}");
}

#[tokio::test]
async fn non_streaming_json_answer_is_accepted() {
    let addr = serve(|_req, mut stream| async move {
        let body = json!({"choices":[{"index":0,"message":{"role":"assistant","content":"Hello!"},"finish_reason":"stop"}]});
        respond(&mut stream, 200, "application/json", body.to_string().as_bytes()).await;
    })
    .await;
    assert_eq!(
        collect(&llm(addr), request()).await,
        vec![LlmEvent::Token("Hello!".into()), LlmEvent::Done]
    );
}

#[tokio::test]
async fn dtmf_and_tool_messages_are_rendered_as_text() {
    let seen = Arc::new(Mutex::new(None::<Request>));
    let addr = {
        let seen = seen.clone();
        serve(move |req, mut stream| {
            *seen.lock().unwrap() = Some(req);
            async move {
                start_chunked(&mut stream, "text/event-stream")
                    .await
                    .unwrap();
                write_chunk(&mut stream, b"data: [DONE]\n\n").await.unwrap();
                end_chunked(&mut stream).await;
            }
        })
        .await
    };
    let req = LlmRequest {
        messages: vec![
            ChatMessage::system("s"),
            ChatMessage::user_dtmf("1"),
            ChatMessage::assistant("ok"),
            ChatMessage {
                role: parla_engine::providers::Role::Tool,
                content: "42".into(),
                dtmf: None,
            },
        ],
        tools: vec![],
    };
    assert_eq!(collect(&llm(addr), req).await, vec![LlmEvent::Done]);
    let body = seen.lock().unwrap().clone().unwrap().json();
    assert_eq!(
        body["messages"][1],
        json!({"role":"user","content":"The caller pressed 1."})
    );
    assert_eq!(
        body["messages"][2],
        json!({"role":"assistant","content":"ok"})
    );
    assert_eq!(
        body["messages"][3],
        json!({"role":"system","content":"Tool result: 42"})
    );
}
