//! OpenAI-compatible `/audio/speech` (raw 24 kHz PCM) against a local server.

use crate::support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use parla_engine::providers::openai_tts::{OpenAiTts, OpenAiTtsConfig};
use parla_engine::providers::{ProviderError, TextToSpeech};
use support::*;

fn pcm() -> (Vec<i16>, Vec<u8>) {
    let samples: Vec<i16> = (0..2_401)
        .map(|i| ((i * 37) % 65_536 - 32_768) as i16)
        .collect();
    let bytes = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    (samples, bytes)
}

fn tts(addr: std::net::SocketAddr) -> OpenAiTts {
    OpenAiTts::new(OpenAiTtsConfig {
        base_url: format!("http://{addr}/v1"),
        egress: parla_engine::providers::egress::EgressPolicy::allowing([addr.to_string()])
            .unwrap(),
        api_key: Some("sk-tts".into()),
        ..Default::default()
    })
    .unwrap()
}

#[tokio::test]
async fn odd_chunk_splits_yield_exact_samples() {
    let seen = Arc::new(Mutex::new(Vec::<Request>::new()));
    let addr = {
        let seen = seen.clone();
        serve(move |req, mut stream| {
            seen.lock().unwrap().push(req);
            async move {
                let (_, bytes) = pcm();
                start_chunked(&mut stream, "audio/pcm").await.unwrap();
                // Odd sizes: 1, 3, 5, ... bytes, so samples straddle chunks.
                let mut at = 0;
                let mut size = 1;
                while at < bytes.len() {
                    let end = (at + size).min(bytes.len());
                    write_chunk(&mut stream, &bytes[at..end]).await.unwrap();
                    at = end;
                    size = if size >= 95 { 1 } else { size + 2 };
                }
                end_chunked(&mut stream).await;
            }
        })
        .await
    };
    let tts = tts(addr);
    for voice in ["", "nova"] {
        let chunks: Vec<_> = tokio::time::timeout(
            Duration::from_secs(20),
            tts.synthesize("Hello there.", voice)
                .await
                .unwrap()
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
        assert!(chunks.len() > 10, "streamed in many chunks");
        let mut got = Vec::new();
        for c in chunks {
            let c = c.unwrap();
            assert_eq!(c.sample_rate_hz, 24_000);
            got.extend(c.samples);
        }
        // 4802 bytes: 2401 whole samples.
        assert_eq!(got, pcm().0);
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].path, "/v1/audio/speech");
    assert_eq!(seen[0].header("authorization"), Some("Bearer sk-tts"));
    let body = seen[0].json();
    assert_eq!(body["model"], "gpt-4o-mini-tts");
    assert_eq!(body["input"], "Hello there.");
    assert_eq!(body["voice"], "alloy");
    assert_eq!(body["response_format"], "pcm");
    assert_eq!(seen[1].json()["voice"], "nova");
}

#[tokio::test]
async fn http_error_maps_to_status() {
    let addr = serve(|_req, mut stream| async move {
        respond(
            &mut stream,
            400,
            "application/json",
            br#"{"error":{"message":"unknown voice"}}"#,
        )
        .await;
    })
    .await;
    let err = tts(addr)
        .synthesize("x", "bogus")
        .await
        .err()
        .expect("error");
    assert_eq!(
        err,
        ProviderError::Status {
            status: 400,
            body: "unknown voice".into()
        }
    );
}

#[tokio::test]
async fn dropping_the_stream_closes_the_connection() {
    let (closed_tx, mut closed_rx) = tokio::sync::mpsc::channel::<()>(1);
    let addr = serve(move |_req, mut stream| {
        let closed_tx = closed_tx.clone();
        async move {
            start_chunked(&mut stream, "audio/pcm").await.unwrap();
            write_chunk(&mut stream, &[0u8; 480]).await.unwrap();
            let _ =
                tokio::time::timeout(Duration::from_secs(10), wait_for_close(&mut stream)).await;
            let _ = closed_tx.send(()).await;
        }
    })
    .await;
    let mut stream = tts(addr).synthesize("long text", "").await.unwrap();
    assert_eq!(stream.next().await.unwrap().unwrap().samples.len(), 240);
    drop(stream);
    tokio::time::timeout(Duration::from_secs(3), closed_rx.recv())
        .await
        .expect("disconnect seen");
}
