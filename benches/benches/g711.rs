//! G.711 µ-law (PCMU) and A-law (PCMA) encode / decode of one 20 ms frame
//! (160 samples ↔ 160 bytes).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use parla_benches::{samples_per_frame, speech_like};
use parla_media::g711::G711;

fn g711(c: &mut Criterion) {
    let n = samples_per_frame(8_000);
    let pcm: Vec<i16> = speech_like(8_000, 0.5)[..n].to_vec();
    let mut group = c.benchmark_group("g711");
    group.throughput(Throughput::Elements(1));
    for (name, codec) in [("pcmu", G711::Pcmu), ("pcma", G711::Pcma)] {
        let mut payload = vec![0u8; n];
        codec.encode(&pcm, &mut payload);
        let mut out_bytes = vec![0u8; n];
        group.bench_function(format!("{name}_encode_160"), |b| {
            b.iter(|| codec.encode(black_box(&pcm), black_box(&mut out_bytes)))
        });
        let mut out_pcm = vec![0i16; n];
        group.bench_function(format!("{name}_decode_160"), |b| {
            b.iter(|| codec.decode(black_box(&payload), black_box(&mut out_pcm)))
        });
    }
    group.finish();
}

criterion_group!(benches, g711);
criterion_main!(benches);
