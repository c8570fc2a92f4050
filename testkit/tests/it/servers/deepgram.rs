//! The Deepgram live-transcription server (`MockDeepgram`).

use super::*;

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
