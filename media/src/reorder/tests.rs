//! Unit tests of the zero-delay reordering buffer.

use super::*;

/// A 160-byte payload that identifies its sequence number.
fn payload(seq: u16) -> [u8; 160] {
    let mut p = [0u8; 160];
    p[..2].copy_from_slice(&seq.to_be_bytes());
    p
}

fn push(rb: &mut ReorderBuffer, seq: u16) -> PushResult {
    rb.push(seq, u32::from(seq).wrapping_mul(160), &payload(seq))
}

/// What one pop returned.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Out {
    Seq(u16),
    Gap,
}
use Out::{Gap, Seq};

fn pop(rb: &mut ReorderBuffer) -> Option<Out> {
    match rb.pop()? {
        JitterFrame::Audio(p) => {
            assert_eq!(p.len(), 160);
            Some(Seq(u16::from_be_bytes([p[0], p[1]])))
        }
        JitterFrame::Concealed => Some(Gap),
    }
}

/// Pops until `None`.
fn drain(rb: &mut ReorderBuffer) -> Vec<Out> {
    let mut out = Vec::new();
    while let Some(o) = pop(rb) {
        out.push(o);
        assert!(out.len() <= 200, "pop never returned None");
    }
    out
}

/// One batched period: tick, then pop until `None`.
fn tick_drain(rb: &mut ReorderBuffer) -> Vec<Out> {
    rb.tick();
    drain(rb)
}

#[test]
fn in_order_frames_are_delivered_without_delay() {
    let mut rb = ReorderBuffer::new(3);
    assert_eq!(rb.pop(), None);
    for seq in 100..110u16 {
        assert_eq!(push(&mut rb, seq), PushResult::Accepted);
        assert_eq!(pop(&mut rb), Some(Seq(seq)));
        assert_eq!(pop(&mut rb), None);
        assert!(rb.is_empty());
        rb.tick();
    }
    assert_eq!(rb.last_timestamp(), Some(109 * 160));
    // Nothing held: silence, never invented concealment.
    for _ in 0..10 {
        assert_eq!(tick_drain(&mut rb), []);
    }
    let s = rb.stats();
    assert_eq!((s.accepted, s.delivered, s.concealed), (10, 10, 0));
}

#[test]
fn reorders_within_the_wait_without_concealment() {
    let mut rb = ReorderBuffer::new(3);
    push(&mut rb, 10);
    assert_eq!(drain(&mut rb), [Seq(10)]);
    // 12 overtakes 11; 11 arrives two ticks later.
    push(&mut rb, 12);
    assert_eq!(drain(&mut rb), []);
    assert_eq!(tick_drain(&mut rb), []);
    assert_eq!(tick_drain(&mut rb), []);
    assert_eq!(push(&mut rb, 11), PushResult::Accepted);
    assert_eq!(drain(&mut rb), [Seq(11), Seq(12)]);
    // Swapped within one batch.
    push(&mut rb, 14);
    push(&mut rb, 13);
    assert_eq!(tick_drain(&mut rb), [Seq(13), Seq(14)]);
    // The very first packets, swapped, before anything was popped.
    let mut rb = ReorderBuffer::new(3);
    push(&mut rb, 500);
    push(&mut rb, 502);
    push(&mut rb, 501);
    assert_eq!(tick_drain(&mut rb), [Seq(500), Seq(501), Seq(502)]);
    assert_eq!(rb.stats().concealed, 0);
}

#[test]
fn loss_is_concealed_once_after_max_wait_ticks() {
    let mut rb = ReorderBuffer::new(3);
    // Ticks before the gap do not count towards it.
    for _ in 0..50 {
        rb.tick();
    }
    push(&mut rb, 0);
    assert_eq!(tick_drain(&mut rb), [Seq(0)]);
    // 1 is lost, 2 arrives.
    push(&mut rb, 2);
    assert_eq!(drain(&mut rb), []);
    assert_eq!(tick_drain(&mut rb), []);
    assert_eq!(tick_drain(&mut rb), []);
    assert_eq!(rb.len(), 1);
    assert_eq!(tick_drain(&mut rb), [Gap, Seq(2)]);
    for _ in 0..5 {
        assert_eq!(tick_drain(&mut rb), []);
    }
    // 1 shows up after it was given up.
    assert_eq!(push(&mut rb, 1), PushResult::TooLate);
    assert_eq!(drain(&mut rb), []);
    // So does a copy of something delivered, and a moderately old one.
    assert_eq!(push(&mut rb, 0), PushResult::TooLate);
    assert_eq!(push(&mut rb, 3u16.wrapping_sub(99)), PushResult::TooLate);
    let s = rb.stats();
    assert_eq!((s.delivered, s.concealed, s.skipped), (2, 1, 0));
    assert_eq!(s.too_late, 3);
    assert_eq!(rb.last_timestamp(), Some(2 * 160));
}

#[test]
fn consecutive_missing_numbers_are_concealed_together() {
    let mut rb = ReorderBuffer::new(2);
    push(&mut rb, 0);
    assert_eq!(drain(&mut rb), [Seq(0)]);
    push(&mut rb, 4);
    assert_eq!(tick_drain(&mut rb), []);
    assert_eq!(tick_drain(&mut rb), [Gap, Gap, Gap, Seq(4)]);
    assert_eq!(rb.stats().concealed, 3);
}

#[test]
fn chained_gaps_do_not_add_up() {
    // 1 and 3 lost, 2 and 4 arrive together: both gaps are due at the
    // same tick, so no packet waits more than max_wait ticks.
    let mut rb = ReorderBuffer::new(3);
    push(&mut rb, 0);
    assert_eq!(drain(&mut rb), [Seq(0)]);
    push(&mut rb, 2);
    push(&mut rb, 4);
    assert_eq!(tick_drain(&mut rb), []);
    assert_eq!(tick_drain(&mut rb), []);
    assert_eq!(tick_drain(&mut rb), [Gap, Seq(2), Gap, Seq(4)]);
    // A later second gap gets its own full wait.
    push(&mut rb, 6);
    assert_eq!(tick_drain(&mut rb), []);
    push(&mut rb, 8);
    assert_eq!(tick_drain(&mut rb), []);
    assert_eq!(tick_drain(&mut rb), [Gap, Seq(6)]);
    assert_eq!(tick_drain(&mut rb), [Gap, Seq(8)]);
    // A packet filling the second gap while the first is concealed.
    push(&mut rb, 11);
    push(&mut rb, 13);
    rb.tick();
    rb.tick();
    rb.tick();
    assert_eq!(pop(&mut rb), Some(Gap)); // 9
    push(&mut rb, 12);
    assert_eq!(drain(&mut rb), [Gap, Seq(11), Seq(12), Seq(13)]);
}

#[test]
fn duplicates_are_refused() {
    let mut rb = ReorderBuffer::new(3);
    assert_eq!(push(&mut rb, 5), PushResult::Accepted);
    assert_eq!(push(&mut rb, 5), PushResult::Duplicate);
    assert_eq!(push(&mut rb, 7), PushResult::Accepted);
    assert_eq!(push(&mut rb, 7), PushResult::Duplicate);
    assert_eq!(drain(&mut rb), [Seq(5)]);
    // Once delivered, a copy is too late, not a duplicate.
    assert_eq!(push(&mut rb, 5), PushResult::TooLate);
    assert_eq!(push(&mut rb, 6), PushResult::Accepted);
    assert_eq!(push(&mut rb, 6), PushResult::Duplicate);
    assert_eq!(drain(&mut rb), [Seq(6), Seq(7)]);
    let s = rb.stats();
    assert_eq!(
        (s.accepted, s.duplicates, s.too_late, s.delivered),
        (3, 3, 1, 3)
    );
}

#[test]
fn wraps_around_at_65535() {
    let mut rb = ReorderBuffer::new(2);
    let mut out = Vec::new();
    for &seq in &[65_533u16, 65_535, 65_534, 1, 0, 2] {
        assert_eq!(push(&mut rb, seq), PushResult::Accepted, "{seq}");
        out.extend(drain(&mut rb));
    }
    assert_eq!(
        out,
        [
            Seq(65_533),
            Seq(65_534),
            Seq(65_535),
            Seq(0),
            Seq(1),
            Seq(2)
        ]
    );
    // A loss straddling the wrap.
    let mut rb = ReorderBuffer::new(1);
    push(&mut rb, 65_534);
    assert_eq!(drain(&mut rb), [Seq(65_534)]);
    push(&mut rb, 1);
    assert_eq!(tick_drain(&mut rb), [Gap, Gap, Seq(1)]);
    assert_eq!(push(&mut rb, 65_535), PushResult::TooLate);
    let s = rb.stats();
    assert_eq!((s.resyncs, s.skipped, s.concealed), (0, 0, 2));
}

#[test]
fn long_gaps_are_skipped_not_concealed() {
    let mut rb = ReorderBuffer::new(3);
    push(&mut rb, 0);
    assert_eq!(drain(&mut rb), [Seq(0)]);
    // 1..=39 missing; 40 is beyond the window, so 1..=24 (outside the
    // window [25, 40]) are skipped at once ...
    assert_eq!(push(&mut rb, 40), PushResult::Accepted);
    assert_eq!(drain(&mut rb), []);
    assert_eq!(rb.stats().skipped, 24);
    // ... while 25..=39 may still arrive ...
    assert_eq!(push(&mut rb, 39), PushResult::Accepted);
    assert_eq!(push(&mut rb, 10), PushResult::TooLate);
    assert_eq!(tick_drain(&mut rb), []);
    assert_eq!(tick_drain(&mut rb), []);
    // ... and are concealed once the gap has waited.
    let mut expected = vec![Gap; 14];
    expected.extend([Seq(39), Seq(40)]);
    assert_eq!(tick_drain(&mut rb), expected);
    let s = rb.stats();
    assert_eq!((s.skipped, s.concealed, s.delivered), (24, 14, 3));

    // Held frames behind a far packet are still delivered, in order.
    let mut rb = ReorderBuffer::new(3);
    push(&mut rb, 0);
    drain(&mut rb);
    push(&mut rb, 2);
    push(&mut rb, 3);
    assert_eq!(drain(&mut rb), []);
    push(&mut rb, 30);
    assert_eq!(drain(&mut rb), [Seq(2), Seq(3)]);
    assert_eq!(tick_drain(&mut rb), []);
    assert_eq!(tick_drain(&mut rb), []);
    let mut expected = vec![Gap; 15];
    expected.push(Seq(30));
    assert_eq!(tick_drain(&mut rb), expected);
    let s = rb.stats();
    // 1 and 4..=14 skipped, 15..=29 concealed.
    assert_eq!((s.skipped, s.concealed, s.delivered), (12, 15, 4));
    assert_eq!(s.delivered + s.concealed + s.skipped, 31);
}

#[test]
fn window_bounds_the_wait() {
    // Even with a huge wait, a packet a full window ahead ends the gap.
    let mut rb = ReorderBuffer::new(1_000_000);
    push(&mut rb, 0);
    drain(&mut rb);
    for seq in 2..=16u16 {
        assert_eq!(push(&mut rb, seq), PushResult::Accepted);
        assert_eq!(tick_drain(&mut rb), []);
    }
    assert_eq!(rb.len(), 15);
    // 1 falls out of the window [2, 17]: skipped, not waited for.
    assert_eq!(push(&mut rb, 17), PushResult::Accepted);
    assert_eq!(drain(&mut rb), (2..=17u16).map(Seq).collect::<Vec<_>>());
    assert!(rb.is_empty());
    let s = rb.stats();
    assert_eq!((s.skipped, s.concealed), (1, 0));
}

#[test]
fn pushing_without_popping_overflows_the_slots() {
    let mut rb = ReorderBuffer::new(3);
    for seq in 0..REORDER_MAX_PACKETS as u16 {
        assert_eq!(push(&mut rb, seq), PushResult::Accepted);
    }
    assert_eq!(rb.len(), REORDER_MAX_PACKETS);
    assert_eq!(push(&mut rb, 16), PushResult::Overflow);
    assert_eq!(push(&mut rb, 3), PushResult::Duplicate);
    let out = drain(&mut rb);
    assert_eq!(out, (0..16u16).map(Seq).collect::<Vec<_>>());
    assert_eq!(rb.stats().overflow, 1);
    assert_eq!(push(&mut rb, 16), PushResult::Accepted);
    assert_eq!(drain(&mut rb), [Seq(16)]);
}

#[test]
fn resyncs_on_confirmed_large_jump() {
    let mut rb = ReorderBuffer::new(3);
    for seq in 1000..1010u16 {
        push(&mut rb, seq);
        drain(&mut rb);
    }
    // 1010 lost, 1011 held when the stream restarts at 40000 (in 16-bit
    // sequence space that is behind 1010).
    push(&mut rb, 1011);
    assert_eq!(push(&mut rb, 40_000), PushResult::TooLate);
    assert_eq!(drain(&mut rb), []);
    assert_eq!(push(&mut rb, 40_001), PushResult::Accepted);
    assert_eq!(drain(&mut rb), [Seq(40_000), Seq(40_001)]);
    let s = rb.stats();
    assert_eq!((s.resyncs, s.skipped), (1, 1));
    // A forward restart works the same way.
    assert_eq!(push(&mut rb, 40_500), PushResult::Overflow);
    assert_eq!(push(&mut rb, 40_501), PushResult::Accepted);
    assert_eq!(drain(&mut rb), [Seq(40_500), Seq(40_501)]);
    assert_eq!(rb.stats().resyncs, 2);
    // Single stray far packets do not disturb the stream, in either
    // direction ...
    assert_eq!(push(&mut rb, 10_002), PushResult::TooLate);
    assert_eq!(push(&mut rb, 4_466), PushResult::Overflow);
    assert_eq!(push(&mut rb, 40_502), PushResult::Accepted);
    assert_eq!(drain(&mut rb), [Seq(40_502)]);
    // ... nor does a far packet whose successor is not the next push.
    assert_eq!(push(&mut rb, 20_000), PushResult::TooLate);
    assert_eq!(push(&mut rb, 40_503), PushResult::Accepted);
    assert_eq!(push(&mut rb, 20_001), PushResult::TooLate);
    assert_eq!(drain(&mut rb), [Seq(40_503)]);
    assert_eq!(rb.stats().resyncs, 2);
    assert_eq!(rb.last_timestamp(), Some(40_503 * 160));
}

#[test]
fn reset_starts_a_new_stream() {
    let mut rb = ReorderBuffer::new(3);
    push(&mut rb, 1);
    assert_eq!(drain(&mut rb), [Seq(1)]);
    push(&mut rb, 3);
    push(&mut rb, 4);
    assert_eq!(rb.len(), 2);
    rb.reset();
    assert!(rb.is_empty());
    assert_eq!(rb.last_timestamp(), None);
    assert_eq!(tick_drain(&mut rb), []);
    // Any sequence number starts the new stream, even an "old" one.
    assert_eq!(push(&mut rb, 0), PushResult::Accepted);
    assert_eq!(drain(&mut rb), [Seq(0)]);
    let s = rb.stats();
    assert_eq!((s.accepted, s.delivered, s.skipped), (4, 2, 2));
}

#[test]
fn payload_sizes() {
    let mut rb = ReorderBuffer::new(3);
    // Oversize is refused and does not start a stream.
    let big = [7u8; REORDER_MAX_PAYLOAD_BYTES + 1];
    assert_eq!(rb.push(9, 0, &big), PushResult::Overflow);
    assert!(rb.is_empty());
    // Largest and empty payloads are carried as they are.
    let max = [7u8; REORDER_MAX_PAYLOAD_BYTES];
    assert_eq!(rb.push(20, 0, &max), PushResult::Accepted);
    assert_eq!(rb.pop(), Some(JitterFrame::Audio(&max[..])));
    assert_eq!(rb.push(21, 160, &[]), PushResult::Accepted);
    assert_eq!(rb.pop(), Some(JitterFrame::Audio(&[][..])));
    assert_eq!(rb.push(22, 320, &big), PushResult::Overflow);
    assert_eq!(rb.last_timestamp(), Some(160));
    assert_eq!(rb.stats().overflow, 2);
}

#[test]
fn zero_wait_conceals_immediately() {
    let mut rb = ReorderBuffer::new(0);
    push(&mut rb, 0);
    assert_eq!(drain(&mut rb), [Seq(0)]);
    push(&mut rb, 2);
    assert_eq!(drain(&mut rb), [Gap, Seq(2)]);
    assert_eq!(push(&mut rb, 1), PushResult::TooLate);
    // Still nothing invented without a later packet.
    assert_eq!(tick_drain(&mut rb), []);
}

fn xorshift(x: &mut u32) -> u32 {
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    *x
}

/// A stream where each packet is delayed by 0..=max_delay ticks (so
/// displaced by at most that much), some dropped (singly and in long
/// bursts), some duplicated, arrivals within a tick shuffled; batched
/// loop with random extra pops between pushes.
fn run_random_stream(seed: u32, max_wait: u32, max_delay: u32) -> ReorderStats {
    const N: usize = 4_000;
    let mut x = seed;
    let start = (xorshift(&mut x) >> 16) as u16;
    let mut dropped = vec![false; N];
    let mut batches: Vec<Vec<usize>> = vec![Vec::new(); N + max_delay as usize + 1];
    let mut extra_copies = 0u64;
    let mut i = 0;
    while i < N {
        let r = xorshift(&mut x);
        if r.is_multiple_of(400) {
            // A loss burst longer than the window.
            let end = (i + 20 + (r as usize >> 9) % 30).min(N);
            dropped[i..end].iter_mut().for_each(|d| *d = true);
            i = end;
            continue;
        }
        if r % 20 == 1 {
            dropped[i] = true;
        } else {
            let delay = (r >> 8) % (max_delay + 1);
            batches[i + delay as usize].push(i);
            if r % 50 == 2 {
                extra_copies += 1;
                let delay = (r >> 16) % (max_delay + 1);
                batches[i + delay as usize].push(i);
            }
        }
        i += 1;
    }
    for batch in batches.iter_mut() {
        for k in (1..batch.len()).rev() {
            batch.swap(k, xorshift(&mut x) as usize % (k + 1));
        }
    }
    batches.extend(vec![Vec::new(); max_wait as usize + 2]);

    let mut rb = ReorderBuffer::new(max_wait);
    let mut pushed_at = vec![usize::MAX; N];
    let mut delivered_at = vec![usize::MAX; N];
    let mut last: Option<usize> = None;
    let mut first: Option<usize> = None;
    let mut pushes = 0u64;
    let mut take = |rb: &mut ReorderBuffer, batch: usize, last: &mut Option<usize>| {
        while let Some(frame) = rb.pop() {
            if let JitterFrame::Audio(p) = frame {
                let idx = u32::from_be_bytes([p[2], p[3], p[4], p[5]]) as usize;
                assert_eq!(p[..2], start.wrapping_add(idx as u16).to_be_bytes());
                assert!(last.is_none_or(|l| idx > l), "{idx} after {last:?}");
                *last = Some(idx);
                delivered_at[idx] = batch;
            }
        }
    };
    for (b, batch) in batches.iter().enumerate() {
        for &idx in batch {
            let seq = start.wrapping_add(idx as u16);
            let mut p = [0u8; 160];
            p[..2].copy_from_slice(&seq.to_be_bytes());
            p[2..6].copy_from_slice(&(idx as u32).to_be_bytes());
            let r = rb.push(seq, (idx as u32).wrapping_mul(160), &p);
            pushes += 1;
            assert_ne!(r, PushResult::Overflow, "idx {idx}");
            if r == PushResult::Accepted {
                pushed_at[idx] = b;
            }
            first.get_or_insert(idx);
            if xorshift(&mut x).is_multiple_of(2) {
                take(&mut rb, b, &mut last);
            }
            assert!(rb.len() <= REORDER_MAX_PACKETS);
        }
        rb.tick();
        take(&mut rb, b, &mut last);
    }

    let s = rb.stats();
    // Packets sent before the first one to arrive are too late by
    // definition (the first was delivered at once).
    let first = first.expect("something arrived");
    dropped[..first].iter_mut().for_each(|d| *d = true);
    let kept = dropped.iter().filter(|d| !**d).count() as u64;
    assert_eq!(s.accepted + s.duplicates + s.too_late + s.overflow, pushes);
    assert_eq!(s.accepted, kept);
    // Without early packets, a second copy is a duplicate if the first
    // is still held, else too late.
    if first == 0 {
        assert_eq!(s.duplicates + s.too_late, extra_copies);
    }
    assert_eq!(s.overflow + s.resyncs, 0);
    // Every packet that was not dropped was delivered, at most
    // max_wait ticks after it arrived (the tick after its push counts).
    for idx in 0..N {
        if dropped[idx] {
            assert_eq!(delivered_at[idx], usize::MAX);
            continue;
        }
        assert_ne!(delivered_at[idx], usize::MAX, "idx {idx} lost");
        let held = delivered_at[idx] - pushed_at[idx];
        assert!(
            held <= max_wait.saturating_sub(1) as usize,
            "idx {idx} held {held}"
        );
    }
    assert_eq!(s.delivered, kept);
    // Every sequence number from the first pushed up to the last
    // delivered one is accounted for.
    let last = last.expect("something delivered");
    assert_eq!(
        s.delivered + s.concealed + s.skipped,
        (last - first) as u64 + 1
    );
    assert!(rb.is_empty());
    s
}

#[test]
fn randomized_reordering_loss_and_duplication() {
    let mut total = ReorderStats::default();
    for (seed, max_wait, max_delay) in [
        (1, 0, 0),
        (2, 1, 1),
        (3, 2, 2),
        (4, 3, 3),
        (5, 3, 1),
        (6, 5, 5),
        (7, 8, 4),
    ] {
        let s = run_random_stream(0x9E37_79B9 ^ seed, max_wait, max_delay);
        total.delivered += s.delivered;
        total.concealed += s.concealed;
        total.skipped += s.skipped;
        total.duplicates += s.duplicates;
    }
    // The scenarios exercised every path.
    assert!(total.concealed > 0 && total.skipped > 0 && total.duplicates > 0);
}

#[test]
fn never_panics_on_random_traffic() {
    for max_wait in [0, 1, 3, u32::MAX] {
        let mut rb = ReorderBuffer::new(max_wait);
        let mut x: u32 = 12345u32.wrapping_add(max_wait);
        let buf = [0u8; REORDER_MAX_PAYLOAD_BYTES + 10];
        for _ in 0..50_000 {
            let r = xorshift(&mut x);
            let seq = if r.is_multiple_of(4) {
                r as u16
            } else {
                (r >> 20) as u16 % 64
            };
            let len = (r >> 8) as usize % buf.len();
            rb.push(seq, r, &buf[..len]);
            match r % 7 {
                0 => rb.tick(),
                1 => while rb.pop().is_some() {},
                2 => {
                    rb.pop();
                }
                3 if r % 1000 == 3 => rb.reset(),
                _ => {}
            }
            assert!(rb.len() <= REORDER_MAX_PACKETS);
        }
    }
}
