//! `JitterBuffer` push + pop of one 20 ms packet per frame in steady state
//! (playout delay 3 frames, a typical playout setting), in order and with 5 %
//! of the packets arriving one place late (adjacent swaps). The call's
//! caller-audio path uses the zero-delay `ReorderBuffer` instead (audio is
//! analysed, not played out); this buffer is for playout.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use parla_benches::{samples_per_frame, XorShift};
use parla_media::jitter::{JitterBuffer, JitterFrame};

/// Packets per arrival pattern (the pattern repeats with rising sequence numbers).
const PERIOD: usize = 1_000;

/// Playout delay, frames (60 ms).
const DELAY_FRAMES: usize = 3;

/// Arrival order within one period: `offsets[k]` is the sequence offset of
/// the k-th packet to arrive. Swaps adjacent packets with probability
/// `reorder` (so that fraction of packets arrives after its successor).
fn arrival_pattern(reorder: f64) -> Vec<u16> {
    let mut offsets: Vec<u16> = (0..PERIOD as u16).collect();
    let mut rng = XorShift::new(7);
    let mut k = 0;
    let threshold = (reorder * u32::MAX as f64) as u32;
    while k + 1 < PERIOD {
        if rng.next_u32() < threshold {
            offsets.swap(k, k + 1);
            k += 2;
        } else {
            k += 1;
        }
    }
    offsets
}

/// One call's inbound stream: pushes the next arriving packet, pops one frame.
struct Stream {
    jb: JitterBuffer,
    offsets: Vec<u16>,
    k: usize,
    payload: Vec<u8>,
}

impl Stream {
    fn new(reorder: f64) -> Self {
        Stream {
            jb: JitterBuffer::new(DELAY_FRAMES),
            offsets: arrival_pattern(reorder),
            k: 0,
            payload: vec![0x55; samples_per_frame(8_000)],
        }
    }

    #[inline]
    fn frame(&mut self) -> bool {
        let base = (self.k / PERIOD * PERIOD) as u16;
        let seq = base
            .wrapping_add(self.offsets[self.k % PERIOD])
            .wrapping_add(1000);
        let ts = (seq as u32).wrapping_mul(160);
        self.k += 1;
        self.jb.push(seq, ts, black_box(&self.payload));
        matches!(self.jb.pop(), Some(JitterFrame::Audio(_)))
    }
}

fn jitter(c: &mut Criterion) {
    // The pattern really reorders and the buffer absorbs it without loss.
    for reorder in [0.0, 0.05] {
        let mut s = Stream::new(reorder);
        for _ in 0..(3 * PERIOD) {
            s.frame();
        }
        let st = s.jb.stats();
        let late = s.offsets.windows(2).filter(|w| w[0] > w[1]).count();
        assert!((late as f64 - reorder * PERIOD as f64).abs() < 0.02 * PERIOD as f64);
        assert_eq!((st.too_late, st.concealed, st.dropped), (0, 0, 0), "{st:?}");
        assert_eq!(st.played as usize, 3 * PERIOD - DELAY_FRAMES);
    }

    let mut group = c.benchmark_group("jitter");
    group.throughput(Throughput::Elements(1));
    for (name, reorder) in [("push_pop_in_order", 0.0), ("push_pop_reorder_5pct", 0.05)] {
        let mut s = Stream::new(reorder);
        group.bench_function(name, |b| b.iter(|| s.frame()));
    }
    group.finish();
}

criterion_group!(benches, jitter);
criterion_main!(benches);
