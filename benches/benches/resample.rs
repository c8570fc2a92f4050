//! Sample-rate conversion per 20 ms of input: the 2:1 halfband paths run on
//! every frame (8→16 kHz for VAD / STT, 16→8 kHz), and the general FFT
//! [`Resampler`] that converts TTS audio (22.05 / 24 kHz) to 8 kHz.
//!
//! The FFT resampler works in blocks (20 ms; 40 ms for 22 050 Hz), so a
//! 22 050 Hz input runs one block every second frame: the reported time is
//! the mean over frames.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use parla_benches::{samples_per_frame, speech_like};
use parla_media::resample::{Downsampler16kTo8k, Resampler, Upsampler8kTo16k};

/// Frames of distinct input cycled through (1 s).
const FRAMES: usize = 50;

/// `FRAMES` consecutive 20 ms frames of speech-like audio at `rate_hz`.
fn frames(rate_hz: u32) -> Vec<Vec<i16>> {
    let n = samples_per_frame(rate_hz);
    speech_like(rate_hz, 1.0)
        .chunks_exact(n)
        .take(FRAMES)
        .map(<[i16]>::to_vec)
        .collect()
}

fn resample(c: &mut Criterion) {
    let mut group = c.benchmark_group("resample");
    group.throughput(Throughput::Elements(1));

    let input = frames(8_000);
    let mut up = Upsampler8kTo16k::new();
    let mut out = Vec::with_capacity(1024);
    let mut i = 0;
    group.bench_function("up_8000_to_16000_160", |b| {
        b.iter(|| {
            out.clear();
            up.process(black_box(&input[i % FRAMES]), &mut out);
            i += 1;
            black_box(&out);
        })
    });

    let input = frames(16_000);
    let mut down = Downsampler16kTo8k::new();
    group.bench_function("down_16000_to_8000_320", |b| {
        b.iter(|| {
            out.clear();
            down.process(black_box(&input[i % FRAMES]), &mut out);
            i += 1;
            black_box(&out);
        })
    });

    for from in [22_050, 24_000] {
        let input = frames(from);
        let mut rs = Resampler::new(from, 8_000).expect("supported rates");
        let name = format!("fft_{from}_to_8000_{}", samples_per_frame(from));
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                rs.process(black_box(&input[i % FRAMES]), &mut out);
                i += 1;
                black_box(&out);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, resample);
criterion_main!(benches);
