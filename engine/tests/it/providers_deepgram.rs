//! Deepgram live streaming against a local WebSocket server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use parla_engine::providers::deepgram::{DeepgramConfig, DeepgramStt};
use parla_engine::providers::{ProviderError, SpeechToText, SttEvent, SttInput, SttSession};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// What the test server saw.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Audio(usize),
    Text(Value),
    Close,
}

type ServerWs = WebSocketStream<tokio::net::TcpStream>;

/// Starts a one-connection server; `script` drives the socket. Returns the
/// address, the handshake (URI, Authorization) and a feed of what arrived.
async fn server<F, Fut>(script: F) -> (std::net::SocketAddr, Arc<Mutex<Option<(String, String)>>>)
where
    F: FnOnce(ServerWs) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handshake = Arc::new(Mutex::new(None));
    let hs = handshake.clone();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        #[allow(clippy::result_large_err)] // the tungstenite callback signature
        let check = move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
            let auth = req
                .headers()
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            *hs.lock().unwrap() = Some((req.uri().to_string(), auth.clone()));
            if auth != "Token dg-key" {
                let mut e =
                    ErrorResponse::new(Some(r#"{"err_msg":"Invalid credentials."}"#.into()));
                *e.status_mut() = StatusCode::UNAUTHORIZED;
                return Err(e);
            }
            Ok(resp)
        };
        let ws = tokio_tungstenite::accept_hdr_async(stream, check).await;
        if let Ok(ws) = ws {
            script(ws).await;
        }
    });
    (addr, handshake)
}

fn results(transcript: &str, is_final: bool, from_finalize: bool) -> Message {
    Message::text(
        json!({
            "type": "Results",
            "channel_index": [0, 1],
            "duration": 1.0, "start": 0.0,
            "is_final": is_final, "speech_final": is_final, "from_finalize": from_finalize,
            "channel": {"alternatives": [{"transcript": transcript, "confidence": 0.98, "words": []}]},
            "metadata": {"request_id": "r"},
        })
        .to_string(),
    )
}

/// Next message from the client, decoded.
async fn recv(ws: &mut ServerWs) -> Option<Seen> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .ok()??
        {
            Ok(Message::Binary(b)) => return Some(Seen::Audio(b.len())),
            Ok(Message::Text(t)) => {
                return Some(Seen::Text(serde_json::from_str(t.as_str()).unwrap()))
            }
            Ok(Message::Close(_)) => return Some(Seen::Close),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

fn config(addr: std::net::SocketAddr) -> DeepgramConfig {
    DeepgramConfig {
        base_url: format!("ws://{addr}"),
        egress: parla_engine::providers::egress::EgressPolicy::allowing([addr.to_string()])
            .unwrap(),
        api_key: "dg-key".into(),
        endpointing_ms: Some(300),
        ..Default::default()
    }
}

async fn next(session: &mut SttSession) -> SttEvent {
    tokio::time::timeout(Duration::from_secs(10), session.events.recv())
        .await
        .expect("event in time")
        .expect("session alive")
}

fn frame() -> SttInput {
    SttInput::Audio((0..320).map(|i| i as i16).collect())
}

#[tokio::test]
async fn streams_audio_interims_and_finalize() {
    let (log_tx, mut log) = mpsc::unbounded_channel::<Seen>();
    let (addr, handshake) = server(move |mut ws| async move {
        ws.send(Message::text(
            r#"{"type":"Metadata","request_id":"r","channels":1}"#,
        ))
        .await
        .unwrap();
        let mut audio_bytes = 0;
        let mut first_audio: Option<Vec<u8>> = None;
        while let Some(seen) = recv(&mut ws).await {
            log_tx.send(seen.clone()).unwrap();
            match seen {
                Seen::Audio(n) => {
                    audio_bytes += n;
                    if first_audio.is_none() {
                        first_audio = Some(vec![]);
                        ws.send(Message::text(
                            r#"{"type":"SpeechStarted","channel":[0],"timestamp":0.1}"#,
                        ))
                        .await
                        .unwrap();
                        ws.send(results("hel", false, false)).await.unwrap();
                    }
                    if audio_bytes == 640 * 5 {
                        ws.send(results("hello", true, false)).await.unwrap();
                        ws.send(results("wor", false, false)).await.unwrap();
                    }
                }
                Seen::Text(v) if v["type"] == "Finalize" => {
                    ws.send(results("world.", true, true)).await.unwrap();
                    ws.send(Message::text(
                        r#"{"type":"UtteranceEnd","channel":[0,1],"last_word_end":1.0}"#,
                    ))
                    .await
                    .unwrap();
                }
                Seen::Close => break,
                _ => {}
            }
        }
    })
    .await;
    let dg = DeepgramStt::new(config(addr)).unwrap();
    let mut session = dg.open("en-US").await.unwrap();

    let (uri, auth) = handshake.lock().unwrap().clone().unwrap();
    assert_eq!(auth, "Token dg-key");
    assert!(uri.starts_with("/v1/listen?"), "{uri}");
    for param in [
        "model=nova-3",
        "encoding=linear16",
        "sample_rate=16000",
        "channels=1",
        "interim_results=true",
        "punctuate=true",
        "smart_format=true",
        "language=en-US",
        "endpointing=300",
    ] {
        assert!(
            uri.split(['?', '&']).any(|p| p == param),
            "{param} missing in {uri}"
        );
    }

    for _ in 0..5 {
        session.input.send(frame()).await.unwrap();
    }
    assert_eq!(
        next(&mut session).await,
        SttEvent::Interim { text: "hel".into() }
    );
    assert_eq!(
        next(&mut session).await,
        SttEvent::Interim {
            text: "hello wor".into()
        }
    );
    session.input.send(SttInput::EndOfUtterance).await.unwrap();
    assert_eq!(
        next(&mut session).await,
        SttEvent::Final {
            text: "hello world.".into()
        }
    );

    // A second utterance starts from scratch; no new audio means an immediate empty final.
    session.input.send(SttInput::EndOfUtterance).await.unwrap();
    assert_eq!(
        next(&mut session).await,
        SttEvent::Final {
            text: String::new()
        }
    );

    drop(session);
    let mut seen = Vec::new();
    while let Ok(Some(s)) = tokio::time::timeout(Duration::from_secs(5), log.recv()).await {
        let close = s == Seen::Close;
        seen.push(s);
        if close {
            break;
        }
    }
    let audio: Vec<_> = seen
        .iter()
        .filter(|s| matches!(s, Seen::Audio(_)))
        .collect();
    assert_eq!(
        audio,
        vec![&Seen::Audio(640); 5],
        "20 ms s16le frames as binary messages"
    );
    let texts: Vec<String> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Text(v) => Some(v["type"].as_str().unwrap().to_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, vec!["Finalize", "CloseStream"]);
    assert_eq!(seen.last(), Some(&Seen::Close));
}

#[tokio::test]
async fn keepalive_sent_when_idle() {
    let (log_tx, mut log) = mpsc::unbounded_channel::<Seen>();
    let (addr, _) = server(move |mut ws| async move {
        while let Some(seen) = recv(&mut ws).await {
            let _ = log_tx.send(seen);
        }
    })
    .await;
    let dg = DeepgramStt::new(DeepgramConfig {
        keepalive_interval: Duration::from_millis(200),
        ..config(addr)
    })
    .unwrap();
    let session = dg.open("").await.unwrap();
    // Audio keeps it busy: no keepalive while frames flow.
    for _ in 0..10 {
        session.input.send(frame()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // idle: ~2 keepalives
    drop(session);
    let mut seen = Vec::new();
    while let Ok(Some(s)) = tokio::time::timeout(Duration::from_secs(5), log.recv()).await {
        let close = s == Seen::Close;
        seen.push(s);
        if close {
            break;
        }
    }
    let first_keepalive = seen
        .iter()
        .position(|s| matches!(s, Seen::Text(v) if v["type"] == "KeepAlive"))
        .expect("a KeepAlive");
    let keepalives = seen
        .iter()
        .filter(|s| matches!(s, Seen::Text(v) if v["type"] == "KeepAlive"))
        .count();
    assert!((1..=3).contains(&keepalives), "{keepalives} keepalives");
    assert!(
        seen[..first_keepalive]
            .iter()
            .filter(|s| matches!(s, Seen::Audio(_)))
            .count()
            == 10,
        "keepalive only after the audio stopped: {seen:?}"
    );
}

#[tokio::test]
async fn finalize_timeout_emits_accumulated_text() {
    let (addr, _) = server(move |mut ws| async move {
        let mut sent = false;
        while let Some(seen) = recv(&mut ws).await {
            if matches!(seen, Seen::Audio(_)) && !sent {
                sent = true;
                ws.send(results("partial words", true, false))
                    .await
                    .unwrap();
            }
            // Finalize is ignored: no from_finalize answer ever comes.
        }
    })
    .await;
    let dg = DeepgramStt::new(DeepgramConfig {
        finalize_timeout: Duration::from_millis(300),
        ..config(addr)
    })
    .unwrap();
    let mut session = dg.open("en").await.unwrap();
    session.input.send(frame()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    session.input.send(SttInput::EndOfUtterance).await.unwrap();
    assert_eq!(
        next(&mut session).await,
        SttEvent::Final {
            text: "partial words".into()
        }
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
}

#[tokio::test]
async fn server_error_close_is_reported() {
    let (addr, _) = server(move |mut ws| async move {
        let _ = recv(&mut ws).await;
        let _ = ws
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::Error,
                reason: "NET-0001: no audio received".into(),
            })))
            .await;
        let _ = tokio::time::timeout(Duration::from_secs(2), ws.next()).await;
    })
    .await;
    let dg = DeepgramStt::new(config(addr)).unwrap();
    let mut session = dg.open("en").await.unwrap();
    session.input.send(frame()).await.unwrap();
    match next(&mut session).await {
        SttEvent::Error(ProviderError::Status { status: 1011, body }) => {
            assert!(body.contains("NET-0001"), "{body}")
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn rejected_handshake_is_status_error() {
    let (addr, _) = server(|_ws| async {}).await;
    let dg = DeepgramStt::new(DeepgramConfig {
        api_key: "wrong".into(),
        ..config(addr)
    })
    .unwrap();
    let err = dg.open("en").await.err().expect("rejected");
    match err {
        ProviderError::Status { status: 401, .. } => {}
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn unreachable_server_is_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = DeepgramStt::new(config(addr))
        .unwrap()
        .open("en")
        .await
        .err()
        .expect("error");
    assert!(matches!(err, ProviderError::Connect(_)), "{err:?}");
}

#[test]
fn key_is_required_and_redacted() {
    assert!(matches!(
        DeepgramStt::new(DeepgramConfig::default()),
        Err(ProviderError::Config(_))
    ));
    let dg = DeepgramStt::new(DeepgramConfig {
        api_key: "super-secret".into(),
        ..Default::default()
    })
    .unwrap();
    assert!(!format!("{dg:?}").contains("super-secret"));
}
