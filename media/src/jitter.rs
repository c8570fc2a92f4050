//! Fixed-delay receive jitter buffer for one 8 kHz G.711 stream.
//!
//! Packets are keyed by RTP sequence number (RFC 3550 §5.1, modulo 2^16) and
//! played out one per 20 ms tick: the caller calls [`JitterBuffer::push`] for
//! every received packet and [`JitterBuffer::pop`] exactly once per
//! [`FRAME_MS`](crate::FRAME_MS) tick.
//!
//! Behaviour:
//! - **Fixed delay.** After the first packet of a stream, the first
//!   `playout_delay_frames` pops return nothing; from then on each pop plays
//!   the next sequence number. A packet therefore tolerates up to
//!   `playout_delay_frames × 20 ms` of extra network delay.
//! - **Reordering / duplicates.** Packets that arrive out of order but before
//!   their playout tick are slotted in place; a second copy is
//!   [`PushResult::Duplicate`]; a packet whose tick has passed is
//!   [`PushResult::TooLate`].
//! - **Loss concealment.** A missing packet at its tick yields
//!   [`JitterFrame::Concealed`]; the caller plays silence.
//! - **Resync.** A jump of [`JITTER_RESYNC_JUMP`] or more sequence numbers
//!   (stream/SSRC restart) restarts playout once a second consecutive packet
//!   confirms the new sequence (as RFC 3550 A.1). When the buffer has run dry
//!   and a packet newer than anything seen arrives behind or beyond the
//!   playout window (silence suppression / DTX, a network stall, a slower
//!   sender clock), playout realigns to it immediately, keeping the delay.
//! - **Bounded latency.** If the sender runs ahead (faster clock, or a first
//!   packet that was itself delayed), frames beyond
//!   `playout_delay_frames + 1 + JITTER_MAX_EXTRA_FRAMES` are dropped, oldest
//!   first, one per tick.
//! - **Bounded memory.** [`JITTER_MAX_PACKETS`] slots of
//!   [`JITTER_MAX_PAYLOAD_BYTES`] are allocated once in [`JitterBuffer::new`];
//!   push and pop never allocate.

use crate::slot::Slot;

/// Maximum packets held (the window ahead of the playout point).
pub const JITTER_MAX_PACKETS: usize = 50;
/// Largest payload stored per packet, in bytes (60 ms of G.711 at 8 kHz).
/// Larger payloads are refused as [`PushResult::Overflow`].
pub const JITTER_MAX_PAYLOAD_BYTES: usize = crate::slot::SLOT_PAYLOAD_BYTES;
/// A sequence jump (either direction) of at least this many packets is a
/// stream restart candidate rather than loss or lateness.
pub const JITTER_RESYNC_JUMP: u16 = 100;
/// Frames tolerated beyond the configured playout delay before the oldest
/// is dropped to keep latency bounded (100 ms).
pub const JITTER_MAX_EXTRA_FRAMES: usize = 5;
/// Largest accepted `playout_delay_frames`; larger values are clamped.
pub const JITTER_MAX_DELAY_FRAMES: usize = JITTER_MAX_PACKETS - JITTER_MAX_EXTRA_FRAMES - 1;

/// Outcome of [`JitterBuffer::push`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushResult {
    /// Stored for playout.
    Accepted,
    /// This sequence number is already held.
    Duplicate,
    /// Its playout tick has passed (or it is an unconfirmed large backward
    /// jump); dropped.
    TooLate,
    /// Too far ahead of the playout point for the bounded window, or the
    /// payload exceeds [`JITTER_MAX_PAYLOAD_BYTES`]; dropped.
    Overflow,
}

/// One 20 ms playout tick's worth of output from [`JitterBuffer::pop`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JitterFrame<'a> {
    /// The payload of the packet due at this tick (G.711: 160 bytes for 20 ms).
    Audio(&'a [u8]),
    /// The packet due at this tick is missing: the caller plays silence.
    Concealed,
}

/// Counters since construction (not cleared by [`JitterBuffer::reset`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets stored.
    pub accepted: u64,
    /// Packets refused as duplicates.
    pub duplicates: u64,
    /// Packets refused because their tick had passed.
    pub too_late: u64,
    /// Packets refused for lack of room / size.
    pub overflow: u64,
    /// Ticks that played a packet.
    pub played: u64,
    /// Ticks that concealed a missing packet (after playout started).
    pub concealed: u64,
    /// Held frames dropped to bound latency.
    pub dropped: u64,
    /// Playout restarts (confirmed sequence jumps and realignments).
    pub resyncs: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No stream yet (or after reset).
    Idle,
    /// A stream started; `ticks` pops have elapsed of the playout delay.
    Prefill { ticks: usize },
    /// Playing one frame per pop.
    Playing,
}

/// Fixed-delay jitter buffer; see the [module docs](self).
pub struct JitterBuffer {
    slots: Box<[Slot]>,
    delay: usize,
    state: State,
    /// Whether any frame was ever played (pops then never return `None`).
    started: bool,
    /// Sequence number due at the next pop.
    next_seq: u16,
    /// Slot index of `next_seq`.
    head: usize,
    /// Highest sequence number accepted in the current stream.
    max_seq: u16,
    /// Filled slots.
    held: usize,
    /// Unconfirmed far-away packet, held until its successor confirms it.
    candidate: Option<Slot>,
    last_timestamp: Option<u32>,
    stats: JitterStats,
}

impl JitterBuffer {
    /// Creates a buffer that holds `playout_delay_frames` 20 ms ticks before
    /// playout starts (e.g. 3 = 60 ms); clamped to
    /// [`JITTER_MAX_DELAY_FRAMES`]. Allocates all storage up front
    /// (~[`JITTER_MAX_PACKETS`] × [`JITTER_MAX_PAYLOAD_BYTES`]).
    pub fn new(playout_delay_frames: usize) -> Self {
        JitterBuffer {
            slots: vec![Slot::EMPTY; JITTER_MAX_PACKETS].into_boxed_slice(),
            delay: playout_delay_frames.min(JITTER_MAX_DELAY_FRAMES),
            state: State::Idle,
            started: false,
            next_seq: 0,
            head: 0,
            max_seq: 0,
            held: 0,
            candidate: None,
            last_timestamp: None,
            stats: JitterStats::default(),
        }
    }

    /// Offers one received packet's payload.
    ///
    /// `sequence` / `timestamp` are the RTP header fields; `payload` is copied
    /// (at most [`JITTER_MAX_PAYLOAD_BYTES`]).
    pub fn push(&mut self, sequence: u16, timestamp: u32, payload: &[u8]) -> PushResult {
        let result = self.push_inner(sequence, timestamp, payload);
        match result {
            PushResult::Accepted => self.stats.accepted += 1,
            PushResult::Duplicate => self.stats.duplicates += 1,
            PushResult::TooLate => self.stats.too_late += 1,
            PushResult::Overflow => self.stats.overflow += 1,
        }
        result
    }

    fn push_inner(&mut self, seq: u16, ts: u32, payload: &[u8]) -> PushResult {
        if payload.len() > JITTER_MAX_PAYLOAD_BYTES {
            return PushResult::Overflow;
        }
        if self.state == State::Idle {
            self.restart(seq);
            self.store(seq, ts, payload);
            return PushResult::Accepted;
        }
        let d = seq.wrapping_sub(self.next_seq) as i16 as i32;
        let newer_than_max = seq.wrapping_sub(self.max_seq) as i16 > 0;
        let far = d.unsigned_abs() >= JITTER_RESYNC_JUMP as u32;

        if (0..JITTER_MAX_PACKETS as i32).contains(&d) {
            self.candidate = None;
            let idx = self.slot_index(d as usize);
            let slot = &self.slots[idx];
            if slot.filled && slot.seq == seq {
                return PushResult::Duplicate;
            }
            self.store(seq, ts, payload);
            return PushResult::Accepted;
        }

        // Outside the window. Before anything of this stream has played, an
        // earlier packet can still move the playout point back.
        if d < 0 && !far && matches!(self.state, State::Prefill { .. }) {
            let span = self.max_seq.wrapping_sub(seq) as usize + 1;
            if span <= JITTER_MAX_PACKETS {
                let back = (-d) as usize;
                self.head = (self.head + JITTER_MAX_PACKETS - back) % JITTER_MAX_PACKETS;
                self.next_seq = seq;
                self.store(seq, ts, payload);
                return PushResult::Accepted;
            }
        }

        // Run dry and the sender has moved on (DTX, stall, clock drift):
        // realign playout to this packet, keeping the configured delay.
        if self.held == 0 && newer_than_max && (d < 0 || !far) {
            self.resync_to(seq, ts, payload);
            return PushResult::Accepted;
        }

        if far {
            if let Some(c) = self.candidate.filter(|c| c.seq.wrapping_add(1) == seq) {
                self.restart(c.seq);
                self.store(c.seq, c.timestamp, &c.data[..c.len as usize]);
                self.store(seq, ts, payload);
                self.stats.resyncs += 1;
                return PushResult::Accepted;
            }
            let mut c = Slot::EMPTY;
            c.fill(seq, ts, 0, payload);
            self.candidate = Some(c);
        }
        if d < 0 {
            PushResult::TooLate
        } else {
            PushResult::Overflow
        }
    }

    /// Plays the next 20 ms tick. Call exactly once per tick.
    ///
    /// Returns `None` until the first stream's playout delay has elapsed
    /// (and after [`reset`](Self::reset)); afterwards always `Some`, with
    /// [`JitterFrame::Concealed`] for missing packets (including while a
    /// restarted stream refills its delay).
    pub fn pop(&mut self) -> Option<JitterFrame<'_>> {
        match self.state {
            State::Idle => return None,
            State::Prefill { ticks } if ticks < self.delay => {
                self.state = State::Prefill { ticks: ticks + 1 };
                if self.started {
                    self.stats.concealed += 1;
                    return Some(JitterFrame::Concealed);
                }
                return None;
            }
            State::Prefill { .. } => self.state = State::Playing,
            State::Playing => {}
        }
        self.started = true;

        // Bound latency: drop the oldest frame if the sender ran ahead.
        if self.span() > self.delay + 1 + JITTER_MAX_EXTRA_FRAMES {
            if self.slots[self.head].filled {
                self.slots[self.head].filled = false;
                self.held -= 1;
            }
            self.advance();
            self.stats.dropped += 1;
        }

        let idx = self.head;
        let seq = self.next_seq;
        self.advance();
        let slot = &mut self.slots[idx];
        if slot.filled && slot.seq == seq {
            slot.filled = false;
            self.held -= 1;
            self.stats.played += 1;
            self.last_timestamp = Some(slot.timestamp);
            let slot = &self.slots[idx];
            Some(JitterFrame::Audio(&slot.data[..slot.len as usize]))
        } else {
            if slot.filled {
                // Unreachable by construction; never let a stale slot linger.
                slot.filled = false;
                self.held -= 1;
            }
            self.stats.concealed += 1;
            Some(JitterFrame::Concealed)
        }
    }

    /// Drops everything and waits for a new stream (pops return `None` until
    /// its playout delay elapses). Counters are kept.
    pub fn reset(&mut self) {
        self.clear_slots();
        self.state = State::Idle;
        self.started = false;
        self.candidate = None;
        self.last_timestamp = None;
    }

    /// Packets currently held.
    pub fn len(&self) -> usize {
        self.held
    }

    /// Whether no packet is held.
    pub fn is_empty(&self) -> bool {
        self.held == 0
    }

    /// The configured playout delay in 20 ms frames (after clamping).
    pub fn playout_delay_frames(&self) -> usize {
        self.delay
    }

    /// RTP timestamp of the last frame played as audio.
    pub fn last_timestamp(&self) -> Option<u32> {
        self.last_timestamp
    }

    /// Counters since construction.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    fn slot_index(&self, offset: usize) -> usize {
        (self.head + offset) % JITTER_MAX_PACKETS
    }

    /// Frames from the playout point to the newest held packet.
    fn span(&self) -> usize {
        if self.held == 0 {
            0
        } else {
            self.max_seq.wrapping_sub(self.next_seq) as usize + 1
        }
    }

    fn advance(&mut self) {
        self.head = (self.head + 1) % JITTER_MAX_PACKETS;
        self.next_seq = self.next_seq.wrapping_add(1);
    }

    fn clear_slots(&mut self) {
        for s in self.slots.iter_mut() {
            s.filled = false;
        }
        self.held = 0;
    }

    /// Starts a new stream at `seq` with an empty window, refilling the delay.
    fn restart(&mut self, seq: u16) {
        self.clear_slots();
        self.candidate = None;
        self.head = 0;
        self.next_seq = seq;
        self.max_seq = seq;
        self.state = State::Prefill { ticks: 0 };
    }

    fn resync_to(&mut self, seq: u16, ts: u32, payload: &[u8]) {
        self.restart(seq);
        self.store(seq, ts, payload);
        self.stats.resyncs += 1;
    }

    /// Stores a packet whose sequence number is inside the window.
    fn store(&mut self, seq: u16, ts: u32, payload: &[u8]) {
        let offset = seq.wrapping_sub(self.next_seq) as usize;
        let idx = self.slot_index(offset);
        let slot = &mut self.slots[idx];
        if !slot.filled {
            self.held += 1;
        }
        slot.fill(seq, ts, 0, payload);
        if seq.wrapping_sub(self.max_seq) as i16 > 0 {
            self.max_seq = seq;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 160-byte payload that identifies its sequence number.
    fn payload(seq: u16) -> [u8; 160] {
        let mut p = [0u8; 160];
        p[..2].copy_from_slice(&seq.to_be_bytes());
        p
    }

    fn push(jb: &mut JitterBuffer, seq: u16) -> PushResult {
        jb.push(seq, (seq as u32).wrapping_mul(160), &payload(seq))
    }

    /// What one pop played: Some(seq) for audio, None for concealment.
    #[derive(Debug, PartialEq)]
    enum Out {
        NotStarted,
        Seq(u16),
        Gap,
    }

    fn pop(jb: &mut JitterBuffer) -> Out {
        match jb.pop() {
            None => Out::NotStarted,
            Some(JitterFrame::Audio(p)) => {
                assert_eq!(p.len(), 160);
                Out::Seq(u16::from_be_bytes([p[0], p[1]]))
            }
            Some(JitterFrame::Concealed) => Out::Gap,
        }
    }

    #[test]
    fn in_order_stream_plays_after_fixed_delay() {
        let mut jb = JitterBuffer::new(3);
        assert_eq!(pop(&mut jb), Out::NotStarted);
        let mut played = Vec::new();
        for seq in 100..110u16 {
            assert_eq!(push(&mut jb, seq), PushResult::Accepted);
            played.push(pop(&mut jb));
        }
        use Out::*;
        assert_eq!(
            played,
            [
                NotStarted,
                NotStarted,
                NotStarted,
                Seq(100),
                Seq(101),
                Seq(102),
                Seq(103),
                Seq(104),
                Seq(105),
                Seq(106)
            ]
        );
        assert_eq!(jb.len(), 3);
        assert_eq!(jb.last_timestamp(), Some(106 * 160));
    }

    #[test]
    fn reorders_packets_that_arrive_in_time() {
        let mut jb = JitterBuffer::new(2);
        // Arrival order 0, 2, 1, 4, 3, 5, ...
        let arrivals = [0u16, 2, 1, 4, 3, 5, 6, 7];
        let mut played = Vec::new();
        for &seq in &arrivals {
            assert_eq!(push(&mut jb, seq), PushResult::Accepted);
            played.push(pop(&mut jb));
        }
        let seqs: Vec<_> = played
            .into_iter()
            .filter_map(|o| if let Out::Seq(s) = o { Some(s) } else { None })
            .collect();
        assert_eq!(seqs, [0, 1, 2, 3, 4, 5]);
        // Before playout starts, an earlier packet moves the start back.
        let mut jb = JitterBuffer::new(2);
        push(&mut jb, 11);
        push(&mut jb, 10);
        assert_eq!(pop(&mut jb), Out::NotStarted);
        assert_eq!(pop(&mut jb), Out::NotStarted);
        assert_eq!(pop(&mut jb), Out::Seq(10));
        assert_eq!(pop(&mut jb), Out::Seq(11));
    }

    #[test]
    fn duplicates_are_refused_and_played_once() {
        let mut jb = JitterBuffer::new(1);
        assert_eq!(push(&mut jb, 5), PushResult::Accepted);
        assert_eq!(push(&mut jb, 5), PushResult::Duplicate);
        assert_eq!(push(&mut jb, 6), PushResult::Accepted);
        assert_eq!(push(&mut jb, 6), PushResult::Duplicate);
        assert_eq!(pop(&mut jb), Out::NotStarted);
        assert_eq!(pop(&mut jb), Out::Seq(5));
        // Once played, a copy of 5 is too late, not a duplicate.
        assert_eq!(push(&mut jb, 5), PushResult::TooLate);
        assert_eq!(pop(&mut jb), Out::Seq(6));
        let s = jb.stats();
        assert_eq!(
            (s.accepted, s.duplicates, s.too_late, s.played),
            (2, 2, 1, 2)
        );
    }

    #[test]
    fn conceals_loss_and_refuses_late_packets() {
        let mut jb = JitterBuffer::new(1);
        push(&mut jb, 0);
        assert_eq!(pop(&mut jb), Out::NotStarted);
        push(&mut jb, 1);
        assert_eq!(pop(&mut jb), Out::Seq(0));
        // 2 is lost in the network, 3 arrives.
        push(&mut jb, 3);
        assert_eq!(pop(&mut jb), Out::Seq(1));
        push(&mut jb, 4);
        assert_eq!(pop(&mut jb), Out::Gap);
        // 2 shows up after its tick.
        assert_eq!(push(&mut jb, 2), PushResult::TooLate);
        assert_eq!(pop(&mut jb), Out::Seq(3));
        assert_eq!(pop(&mut jb), Out::Seq(4));
        // Nothing more arrives: keep concealing, one frame per tick.
        assert_eq!(pop(&mut jb), Out::Gap);
        assert_eq!(pop(&mut jb), Out::Gap);
        assert_eq!(jb.stats().concealed, 3);
    }

    #[test]
    fn wraps_around_at_65535() {
        let mut jb = JitterBuffer::new(2);
        let arrivals = [65_533u16, 65_534, 0, 65_535, 1, 2, 3, 4];
        let mut seqs = Vec::new();
        for &seq in &arrivals {
            assert_eq!(push(&mut jb, seq), PushResult::Accepted, "{seq}");
            if let Out::Seq(s) = pop(&mut jb) {
                seqs.push(s);
            }
        }
        while let Out::Seq(s) = pop(&mut jb) {
            seqs.push(s);
        }
        assert_eq!(seqs, [65_533, 65_534, 65_535, 0, 1, 2, 3, 4]);
        assert_eq!(jb.stats().resyncs, 0);
    }

    #[test]
    fn depth_is_bounded() {
        let mut jb = JitterBuffer::new(3);
        // A burst far larger than the window, with no playout in between.
        let mut results = Vec::new();
        for seq in 0..(JITTER_MAX_PACKETS as u16 + 20) {
            results.push(push(&mut jb, seq));
        }
        assert!(results[..JITTER_MAX_PACKETS]
            .iter()
            .all(|r| *r == PushResult::Accepted));
        assert!(results[JITTER_MAX_PACKETS..]
            .iter()
            .all(|r| *r == PushResult::Overflow));
        assert_eq!(jb.len(), JITTER_MAX_PACKETS);
        // Oversized payloads are refused outright.
        assert_eq!(
            jb.push(200, 0, &[0u8; JITTER_MAX_PAYLOAD_BYTES + 1]),
            PushResult::Overflow
        );
        // Playout trims the excess back towards the configured delay.
        for _ in 0..3 {
            assert_eq!(pop(&mut jb), Out::NotStarted);
        }
        let mut played = 0;
        while jb.len() > 3 + 1 + JITTER_MAX_EXTRA_FRAMES {
            if let Out::Seq(_) = pop(&mut jb) {
                played += 1;
            }
        }
        assert!(played > 0 && jb.stats().dropped > 0);
    }

    #[test]
    fn fast_sender_latency_stays_bounded() {
        // The sender delivers 21 packets per 20 ticks (5% fast clock).
        let mut jb = JitterBuffer::new(3);
        let mut seq = 0u16;
        for tick in 0..2000 {
            push(&mut jb, seq);
            seq = seq.wrapping_add(1);
            if tick % 20 == 0 {
                push(&mut jb, seq);
                seq = seq.wrapping_add(1);
            }
            pop(&mut jb);
            assert!(jb.len() <= 3 + 1 + JITTER_MAX_EXTRA_FRAMES);
        }
        assert!(jb.stats().dropped >= 90);
        assert_eq!(jb.stats().overflow, 0);
    }

    #[test]
    fn resyncs_on_confirmed_large_jump() {
        let mut jb = JitterBuffer::new(2);
        for seq in 1000..1010u16 {
            push(&mut jb, seq);
            pop(&mut jb);
        }
        // Stream restarts at 40000 (e.g. new SSRC after a re-INVITE); in
        // 16-bit sequence space that is behind 1010, so "too late" until
        // confirmed.
        assert_eq!(push(&mut jb, 40_000), PushResult::TooLate);
        assert_eq!(pop(&mut jb), Out::Seq(1008));
        assert_eq!(push(&mut jb, 40_001), PushResult::Accepted);
        // The new stream refills its delay (concealed), then plays from 40000.
        let mut out = Vec::new();
        for seq in 40_002..40_006u16 {
            out.push(pop(&mut jb));
            push(&mut jb, seq);
        }
        assert_eq!(
            out,
            [Out::Gap, Out::Gap, Out::Seq(40_000), Out::Seq(40_001)]
        );
        assert_eq!(jb.stats().resyncs, 1);
        // A single stray far-away packet does not disturb playout, in either
        // direction.
        assert_eq!(push(&mut jb, 10_002), PushResult::TooLate);
        assert_eq!(push(&mut jb, 4_466), PushResult::Overflow);
        assert_eq!(pop(&mut jb), Out::Seq(40_002));
        assert_eq!(jb.stats().resyncs, 1);
    }

    #[test]
    fn realigns_after_silence_suppression() {
        let mut jb = JitterBuffer::new(2);
        for seq in 0..5u16 {
            push(&mut jb, seq);
            pop(&mut jb);
        }
        // Drain, then the sender stops for 200 ticks (DTX) ...
        for _ in 0..202 {
            pop(&mut jb);
        }
        assert!(jb.is_empty());
        // ... and resumes with the next sequence number, now far "behind"
        // the playout point.
        let mut out = Vec::new();
        for seq in 5..10u16 {
            assert_eq!(push(&mut jb, seq), PushResult::Accepted);
            out.push(pop(&mut jb));
        }
        assert_eq!(
            out,
            [Out::Gap, Out::Gap, Out::Seq(5), Out::Seq(6), Out::Seq(7)]
        );
    }

    #[test]
    fn reset_waits_for_a_new_stream() {
        let mut jb = JitterBuffer::new(0);
        push(&mut jb, 1);
        assert_eq!(pop(&mut jb), Out::Seq(1));
        jb.reset();
        assert_eq!(pop(&mut jb), Out::NotStarted);
        push(&mut jb, 500);
        assert_eq!(pop(&mut jb), Out::Seq(500));
        assert_eq!(
            JitterBuffer::new(10_000).playout_delay_frames(),
            JITTER_MAX_DELAY_FRAMES
        );
    }

    #[test]
    fn never_panics_on_random_traffic() {
        let mut jb = JitterBuffer::new(3);
        let mut x: u32 = 12345;
        let buf = [0u8; JITTER_MAX_PAYLOAD_BYTES + 10];
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let seq = if x.is_multiple_of(4) {
                x as u16
            } else {
                (x >> 20) as u16 % 64
            };
            let len = (x >> 8) as usize % buf.len();
            jb.push(seq, x, &buf[..len]);
            if x.is_multiple_of(3) {
                jb.pop();
            }
            assert!(jb.len() <= JITTER_MAX_PACKETS);
        }
    }
}
