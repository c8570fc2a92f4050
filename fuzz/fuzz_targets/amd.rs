//! Arbitrary bytes as a call's first seconds of audio for the
//! answering-machine detector, with arbitrary interim transcripts and
//! slice lengths: it must never panic, report at most one verdict and at
//! most one beep (after the verdict), and keep time as the samples fed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parla_media::amd::{AmdConfig, AmdDetector, AmdEvent};

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let rate = if head & 1 == 0 { 8_000 } else { 16_000 };
    let mut cfg = AmdConfig::default();
    if head & 2 != 0 {
        // Tight limits so that short inputs reach every decision.
        cfg.initial_silence_ms = 200;
        cfg.greeting_ms = 200;
        cfg.after_greeting_silence_ms = 100;
        cfg.total_analysis_time_ms = 1_000;
        cfg.beep_min_ms = 40;
    }
    let mut d = AmdDetector::new(cfg, rate).expect("8 or 16 kHz");
    let frame = (rate / 50) as usize;
    let (mut fed, mut verdicts, mut beeps) = (0usize, 0, 0);
    // Chunks: [len: u8][0x00 → transcript | samples...]
    let mut bytes = rest;
    while let Some((&len, tail)) = bytes.split_first() {
        let take = (len as usize).min(tail.len());
        let (chunk, next) = tail.split_at(take);
        bytes = next;
        if chunk.first() == Some(&0) {
            d.push_transcript(&String::from_utf8_lossy(&chunk[1..]), fed as u64 / 8);
        } else {
            let pcm: Vec<i16> = chunk
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect();
            fed += pcm.len();
            d.push_pcm(&pcm);
        }
        while let Some(e) = d.poll_event() {
            match e {
                AmdEvent::Verdict { .. } => verdicts += 1,
                AmdEvent::Beep { at_ms, end_ms, .. } => {
                    beeps += 1;
                    assert!(verdicts == 1 && at_ms <= end_ms);
                }
            }
        }
    }
    assert_eq!(d.elapsed_ms(), (fed / frame) as u64 * 20);
    let o = d.finish();
    assert!(verdicts <= 1 && beeps <= 1);
    assert!(!o.to_line().contains('\n'));
});
