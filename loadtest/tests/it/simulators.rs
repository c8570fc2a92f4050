//! The provider simulators inject the configured latencies (loosely checked
//! from the client side), speak each API's protocol, render each TTS text
//! once, and report what they injected on /stats.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use parla_loadtest::{ProviderStats, Providers, ProvidersConfig};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const N: usize = 12;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_latencies_are_respected_and_reported() {
    let p = Providers::start(ProvidersConfig {
        stt_delay: "uniform:100..200".parse().unwrap(),
        llm_ttft: "normal:250,20".parse().unwrap(),
        llm_inter_token: "5".parse().unwrap(),
        tts_ttfb: "fixed:120".parse().unwrap(),
        ..Default::default()
    })
    .unwrap();
    let http = reqwest::Client::new();
    let v1 = p.openai_url();

    // LLM: time to the first content token of the SSE stream.
    let mut ttft = Vec::new();
    for _ in 0..N {
        let t0 = Instant::now();
        let mut resp = http
            .post(format!("{v1}/chat/completions"))
            .json(&serde_json::json!({"model": "gpt-4o-mini", "stream": true,
                "messages": [{"role": "user", "content": "I would like to book an appointment"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let mut body = String::new();
        let mut first = None;
        while let Some(chunk) = resp.chunk().await.unwrap() {
            body.push_str(&String::from_utf8_lossy(&chunk));
            if first.is_none() && body.contains("\"content\":\"Certainly") {
                first = Some(t0.elapsed());
            }
        }
        assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
        ttft.push(ms(first.expect("a content token")));
    }
    // STT: multipart upload → transcript.
    let mut stt = Vec::new();
    for _ in 0..N {
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(vec![0u8; 3200]).file_name("a.wav"),
            )
            .text("model", "whisper-1");
        let t0 = Instant::now();
        let v: serde_json::Value = http
            .post(format!("{v1}/audio/transcriptions"))
            .multipart(form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        stt.push(ms(t0.elapsed()));
        assert_eq!(v["text"], "I would like to book an appointment");
    }
    // TTS: time to the first PCM byte; the same text is rendered once.
    let mut ttfb = Vec::new();
    let mut sizes = Vec::new();
    for _ in 0..N {
        let t0 = Instant::now();
        let mut resp = http
            .post(format!("{v1}/audio/speech"))
            .json(
                &serde_json::json!({"model": "gpt-4o-mini-tts", "voice": "alloy",
                "input": "Which day would you like?", "response_format": "pcm"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let mut n = 0;
        while let Some(chunk) = resp.chunk().await.unwrap() {
            if n == 0 {
                ttfb.push(ms(t0.elapsed()));
            }
            n += chunk.len();
        }
        sizes.push(n);
    }
    assert!(
        sizes[0] > 24_000,
        "at least 0.5 s of 24 kHz audio: {sizes:?}"
    );
    assert!(sizes.iter().all(|&s| s == sizes[0]), "{sizes:?}");
    // Deepgram: speech, then Finalize → a final result with the transcript.
    let mut dg = Vec::new();
    for _ in 0..4 {
        let mut req = format!(
            "{}/v1/listen?encoding=linear16&sample_rate=16000&endpointing=false",
            p.deepgram_url()
        )
        .into_client_request()
        .unwrap();
        req.headers_mut()
            .insert("authorization", "Token dg-load".parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        let tone: Vec<u8> = (0..8000)
            .flat_map(|i| (((i as f32 * 0.2).sin() * 12000.0) as i16).to_le_bytes())
            .collect();
        ws.send(Message::binary(tone)).await.unwrap();
        let t0 = Instant::now();
        ws.send(Message::text(r#"{"type":"Finalize"}"#))
            .await
            .unwrap();
        loop {
            let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .expect("a result")
                .unwrap()
                .unwrap();
            if let Message::Text(t) = m {
                let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                if v["type"] == "Results" && v["is_final"] == true {
                    assert_eq!(v["from_finalize"], true);
                    assert_eq!(
                        v["channel"]["alternatives"][0]["transcript"],
                        "I would like to book an appointment"
                    );
                    dg.push(ms(t0.elapsed()));
                    break;
                }
            }
        }
        let _ = ws.close(None).await;
    }

    // Loose bounds: the draw's range, plus scheduling slack (never less).
    let within = |name: &str, v: &[f64], lo: f64, hi: f64| {
        for x in v {
            assert!(
                *x >= lo - 2.0 && *x <= hi + 250.0,
                "{name}: {x:.1} ms not in {lo}..{hi} (+slack): {v:?}"
            );
        }
    };
    within("llm ttft", &ttft, 250.0 - 5.0 * 20.0, 250.0 + 5.0 * 20.0);
    within("stt", &stt, 100.0, 200.0);
    within("tts ttfb", &ttfb, 120.0, 120.0);
    within("deepgram final", &dg, 100.0, 200.0);

    let stats = ProviderStats::fetch(&p.base_url()).await.unwrap();
    assert_eq!(stats, p.stats(), "/stats is what the simulator holds");
    assert_eq!(stats.llm_ttft_ms.count, N as u64);
    assert_eq!(stats.tts_ttfb_ms.count, N as u64);
    assert_eq!(stats.stt_openai_ms.count, N as u64);
    assert_eq!(stats.stt_deepgram_ms.count, 4);
    assert_eq!(stats.stt_ms.count, N as u64 + 4);
    assert_eq!(
        stats.tts_renders, 1,
        "one espeak-ng run for one distinct text"
    );
    let tts_p50 = stats.tts_ttfb_ms.p50.unwrap();
    assert!((tts_p50 - 120.0).abs() < 1.0, "{tts_p50}");
    let stt_p50 = stats.stt_ms.p50.unwrap();
    assert!((100.0..=200.0).contains(&stt_p50), "{stt_p50}");
    assert!(stats.stt_ms.max.unwrap() <= 200.5);
    let llm_mean = stats.llm_ttft_ms.mean.unwrap();
    assert!((llm_mean - 250.0).abs() < 40.0, "{llm_mean}");
    assert!(stats.mean_turn_ms().is_some());
    assert_eq!(stats.config.tts_ttfb, "fixed:120");

    ProviderStats::reset(&p.base_url()).await.unwrap();
    let after = ProviderStats::fetch(&p.base_url()).await.unwrap();
    assert_eq!(after.llm_ttft_ms.count, 0);
    assert_eq!(after.llm_ttft_ms.p50, None);
}
