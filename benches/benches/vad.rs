//! `Vad::process` (earshot) on one 320-sample 16 kHz frame. Each frame
//! completes one or two 256-sample earshot blocks (1.25 on average), so the
//! reported time is the mean over consecutive frames.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use parla_benches::{samples_per_frame, speech_like, XorShift};
use parla_media::vad::{Vad, VAD_DEFAULT_THRESHOLD};

/// Frames of distinct input cycled through (1 s).
const FRAMES: usize = 50;

fn inputs() -> [(&'static str, Vec<Vec<i16>>); 2] {
    let n = samples_per_frame(16_000);
    let speech = speech_like(16_000, 1.0)
        .chunks_exact(n)
        .take(FRAMES)
        .map(<[i16]>::to_vec)
        .collect();
    // Line noise around −70 dBFS, what a quiet caller line carries.
    let mut rng = XorShift::new(3);
    let silent = (0..FRAMES)
        .map(|_| (0..n).map(|_| (rng.next_f64() * 10.0) as i16).collect())
        .collect();
    [("speech_like_320", speech), ("silent_320", silent)]
}

fn vad(c: &mut Criterion) {
    let inputs = inputs();
    // Report what the detector makes of the inputs (speech / silence share).
    for (name, frames) in &inputs {
        let mut v = Vad::new(VAD_DEFAULT_THRESHOLD);
        let speech = (0..4 * FRAMES)
            .filter(|i| v.process(&frames[i % FRAMES]).speech)
            .count();
        eprintln!(
            "vad/{name}: {speech} of {} frames scored as speech",
            4 * FRAMES
        );
    }

    let mut group = c.benchmark_group("vad");
    group.throughput(Throughput::Elements(1));
    for (name, frames) in &inputs {
        let mut v = Vad::new(VAD_DEFAULT_THRESHOLD);
        let mut i = 0;
        group.bench_function(*name, |b| {
            b.iter(|| {
                let d = v.process(black_box(&frames[i % FRAMES]));
                i += 1;
                d
            })
        });
    }
    group.finish();
}

criterion_group!(benches, vad);
criterion_main!(benches);
