//! In-process libespeak-ng synthesis.

use std::time::{Duration, Instant};

use futures::StreamExt;
use parla_engine::providers::espeak::{EspeakConfig, EspeakTts};
use parla_engine::providers::{ProviderError, TextToSpeech};

async fn synth(tts: &EspeakTts, text: &str, voice: &str) -> Vec<i16> {
    let stream = tts.synthesize(text, voice).await.unwrap();
    let chunks: Vec<_> = tokio::time::timeout(Duration::from_secs(30), stream.collect::<Vec<_>>())
        .await
        .expect("synthesis finishes");
    let mut samples = Vec::new();
    for c in chunks {
        let c = c.unwrap();
        assert_eq!(c.sample_rate_hz, 22_050);
        samples.extend(c.samples);
    }
    samples
}

fn rms(samples: &[i16]) -> f64 {
    (samples.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / samples.len().max(1) as f64).sqrt()
}

#[tokio::test]
async fn hello_world_is_audible_speech() {
    let tts = EspeakTts::new(EspeakConfig::default()).unwrap();
    assert_eq!(tts.sample_rate_hz(), 22_050);
    let samples = synth(&tts, "hello world", "").await;
    let secs = samples.len() as f64 / 22_050.0;
    assert!((0.5..=2.0).contains(&secs), "{secs} s");
    assert!(rms(&samples) > 500.0, "rms {}", rms(&samples));
    let peak = samples.iter().map(|s| s.unsigned_abs()).max().unwrap();
    assert!(peak > 3_000, "peak {peak}");
}

#[tokio::test]
async fn voice_and_rate_apply() {
    let slow = EspeakTts::new(EspeakConfig {
        rate_wpm: 100,
        ..Default::default()
    })
    .unwrap();
    let fast = EspeakTts::new(EspeakConfig {
        rate_wpm: 300,
        ..Default::default()
    })
    .unwrap();
    let text = "This sentence is spoken at two different speeds.";
    let (a, b) = (synth(&slow, text, "").await, synth(&fast, text, "").await);
    assert!(
        a.len() > b.len() * 2,
        "slow {} vs fast {}",
        a.len(),
        b.len()
    );
    // Per-request voice override.
    assert!(!synth(&fast, "bonjour tout le monde", "fr").await.is_empty());
    let err = fast
        .synthesize("hi", "no-such-voice-xyz")
        .await
        .unwrap()
        .next()
        .await;
    assert!(
        matches!(err, Some(Err(ProviderError::Config(_)))),
        "{err:?}"
    );
    // And the default voice still works after a failed switch.
    assert!(!synth(&fast, "still fine", "").await.is_empty());
    assert!(EspeakTts::new(EspeakConfig {
        rate_wpm: 10,
        ..Default::default()
    })
    .is_err());
}

#[tokio::test]
async fn concurrent_requests_both_complete() {
    let tts = EspeakTts::new(EspeakConfig::default()).unwrap();
    let (a, b) = tokio::join!(
        synth(
            &tts,
            "The first request is a little longer than the second.",
            ""
        ),
        synth(&tts, "Second request.", "en-gb"),
    );
    assert!(a.len() > b.len(), "{} vs {}", a.len(), b.len());
    assert!(rms(&a) > 500.0 && rms(&b) > 500.0);
}

#[tokio::test]
async fn dropping_a_stream_aborts_and_next_request_works() {
    let tts = EspeakTts::new(EspeakConfig::default()).unwrap();
    // ~15 KB: over ten minutes of speech, many seconds of synthesis if not aborted.
    let long = "This is a very long text that would take a long time to speak. ".repeat(230);
    assert!(long.len() < parla_engine::providers::espeak::ESPEAK_MAX_TEXT_BYTES);
    // Reference: how long synthesizing all of it takes on this machine right now.
    let started = Instant::now();
    let full = synth(&tts, &long, "").await;
    let full_time = started.elapsed();
    assert!(full.len() > 22_050 * 300, "{} samples", full.len());

    let mut stream = tts.synthesize(&long, "").await.unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert!(!first.samples.is_empty());
    let started = Instant::now();
    drop(stream);

    // The worker is free again at once: it did not synthesize the rest.
    let samples = synth(&tts, "hello again", "").await;
    let next_time = started.elapsed();
    assert!(rms(&samples) > 500.0);
    assert!(
        next_time < full_time / 3,
        "next request after {next_time:?}; full synthesis {full_time:?}"
    );
}

#[tokio::test]
async fn empty_text_is_an_empty_stream() {
    let tts = EspeakTts::new(EspeakConfig::default()).unwrap();
    assert!(synth(&tts, "   ", "").await.is_empty());
}
