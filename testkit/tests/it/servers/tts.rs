//! The OpenAI-compatible speech server (`MockTts`).

use super::*;

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
