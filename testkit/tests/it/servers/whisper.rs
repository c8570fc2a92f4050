//! The local whisper recognizer (`tools/whisper_server.py`) and its client.

use super::*;

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
