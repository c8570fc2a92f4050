//! Zero-delay reordering buffer for one received RTP stream that is analysed
//! (VAD, end-of-turn detection, ASR ingest) rather than played out.
//!
//! The fixed-delay [`JitterBuffer`](crate::jitter::JitterBuffer) holds every
//! frame for its playout delay, which a listener needs for smooth playout but
//! which an analyser pays for on every turn: VAD and end-of-turn detection
//! only see audio after the delay. This buffer adds **no delay to in-order
//! audio**: a frame is handed out the moment it is next in sequence. It only
//! waits when a packet is missing *and something after it has already
//! arrived*, and then only for a bounded number of ticks.
//!
//! Units: a tick is one [`FRAME_MS`](crate::FRAME_MS) (20 ms) period, advanced
//! by [`ReorderBuffer::tick`]; sequence numbers are RTP sequence numbers
//! (RFC 3550 §5.1), compared modulo 2^16 so wraparound is seamless.
//!
//! Usage: for every received packet call [`ReorderBuffer::push`]; call
//! [`ReorderBuffer::tick`] once per 20 ms; after pushes and after each tick
//! call [`ReorderBuffer::pop`] until it returns `None`. Either of two loops
//! works:
//! - *event-driven* (lowest latency): on each arrival `push` then pop until
//!   `None`; on each 20 ms timer `tick` then pop until `None`;
//! - *batched* (what the unit tests use): every 20 ms push that period's
//!   arrivals, then `tick`, then pop until `None`.
//!
//! Behaviour:
//! - **Zero delay in order.** The first packet (or the first after
//!   [`reset`](ReorderBuffer::reset)) starts the stream; whenever the next
//!   expected sequence number is held, `pop` returns it as
//!   [`JitterFrame::Audio`] at once. (So a packet that arrives after the
//!   first one but carries an earlier sequence number is already too late.)
//! - **Bounded wait for gaps.** When the next sequence number is missing but
//!   a later packet is held, the gap is waited for until the *oldest* held
//!   packet has been held for `max_wait_ticks` ticks (counted by `tick` calls
//!   since that packet was pushed). Then every missing sequence number up to
//!   the next held packet yields one [`JitterFrame::Concealed`] (the caller
//!   feeds silence), without waiting again, and the held frames follow. So
//!   **no packet is held for more than `max_wait_ticks` ticks**, and gaps
//!   never add up: a second gap right behind the first has been waiting for
//!   just as long. With `max_wait_ticks = 0` gaps are concealed at the first
//!   `pop`. Because the tick that follows an arrival counts, a gap is given up
//!   between `(max_wait_ticks − 1) × 20` and `max_wait_ticks × 20` ms after
//!   the later packet arrived (in the batched loop a packet pushed just
//!   before `tick` has age 1 at the following pops, so there `1` behaves like
//!   `0`; use at least 2 there).
//! - **No invented audio.** With nothing held, `pop` returns `None` (the
//!   caller is silent: DTX, a network stall or a stopped stream). Loss is
//!   only concealed once a later packet proves it.
//! - **Reordering / duplicates.** A packet that arrives before its sequence
//!   number was delivered or given up is slotted in; a second copy of a held
//!   packet is [`PushResult::Duplicate`]; a packet whose sequence number has
//!   already been passed (delivered, concealed or skipped) is
//!   [`PushResult::TooLate`].
//! - **Long gaps are skipped, not concealed.** The window is the
//!   [`REORDER_MAX_PACKETS`] sequence numbers ending at the newest held
//!   packet. When that packet is [`REORDER_MAX_PACKETS`] or more ahead of the
//!   next expected one (a loss burst longer than the window, or the sender
//!   jumping ahead by less than [`REORDER_RESYNC_JUMP`]), the missing
//!   sequence numbers that fall out of the window are given up at once and
//!   produce no output (counted in [`ReorderStats::skipped`]); held packets
//!   among them are still delivered, in order. The rest of the gap is waited
//!   for and concealed as usual, so at most `REORDER_MAX_PACKETS − 1` frames
//!   are concealed in a row, and even a very large `max_wait_ticks` cannot
//!   hold back a stream that has moved a full window on.
//! - **Resync.** A jump of [`REORDER_RESYNC_JUMP`] or more sequence numbers in
//!   either direction (a stream/SSRC restart) is a candidate; if the very
//!   next packet pushed is its successor the stream restarts at the candidate
//!   (as RFC 3550 A.1 probation): held packets of the old stream are
//!   discarded (counted in `skipped`). An unconfirmed far packet is refused
//!   as [`PushResult::TooLate`] (behind) or [`PushResult::Overflow`] (ahead).
//!   A backward jump smaller than [`REORDER_RESYNC_JUMP`] is indistinguishable
//!   from lateness and refused as `TooLate`; call
//!   [`reset`](ReorderBuffer::reset) when the SSRC changes.
//! - **Bounded memory.** [`REORDER_MAX_PACKETS`] slots of
//!   [`REORDER_MAX_PAYLOAD_BYTES`] are allocated once in
//!   [`ReorderBuffer::new`]; push, pop and tick never allocate. After pop
//!   has returned `None` at most `REORDER_MAX_PACKETS − 1` packets are held,
//!   so popping after every push never runs out of slots; a caller that
//!   pushes more than the free slots without popping gets
//!   [`PushResult::Overflow`] for the excess. (Keep `max_wait_ticks` well
//!   below [`REORDER_MAX_PACKETS`]: a wait longer than the window cannot be
//!   used anyway.)
//!
//! Payloads are opaque bytes (normally 160 bytes of G.711 per 20 ms); only
//! their order is managed here.

use crate::jitter::{JitterFrame, PushResult};
use crate::slot::Slot;

/// Packets held at most (the window ahead of the next expected sequence
/// number).
pub const REORDER_MAX_PACKETS: usize = 16;
/// Largest payload stored per packet (60 ms of G.711), in bytes. Larger
/// payloads are refused as [`PushResult::Overflow`].
pub const REORDER_MAX_PAYLOAD_BYTES: usize = crate::slot::SLOT_PAYLOAD_BYTES;
/// A sequence jump (either direction) of at least this many is a stream
/// restart candidate (as RFC 3550 A.1 probation: confirmed by a second
/// consecutive packet).
pub const REORDER_RESYNC_JUMP: u16 = 100;

/// Distance from the oldest to the newest sequence number of the window.
const WINDOW_SPAN: u16 = REORDER_MAX_PACKETS as u16 - 1;

const _: () = assert!(REORDER_MAX_PACKETS >= 2);
const _: () = assert!(REORDER_MAX_PACKETS < REORDER_RESYNC_JUMP as usize);
const _: () = assert!(REORDER_RESYNC_JUMP <= i16::MAX as u16);
const _: () = assert!(REORDER_MAX_PAYLOAD_BYTES <= u16::MAX as usize);

/// Counters since construction (not cleared by [`ReorderBuffer::reset`]).
///
/// Every push is counted in exactly one of `accepted`, `duplicates`,
/// `too_late` and `overflow`. Within a stream, every sequence number from the
/// first one up to the last delivered is counted in exactly one of
/// `delivered`, `concealed` and `skipped` (which also counts packets
/// discarded by a resync or reset).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReorderStats {
    /// Pushes stored (including the packet that confirms a resync).
    pub accepted: u64,
    /// Pushes refused because that sequence number is already held.
    pub duplicates: u64,
    /// Pushes refused because their sequence number was already passed (or
    /// an unconfirmed far backward jump).
    pub too_late: u64,
    /// Pushes refused for size, for lack of a free slot, or as an
    /// unconfirmed far forward jump. (A far packet later confirmed as a
    /// resync candidate stays counted here or in `too_late`, yet is
    /// delivered.)
    pub overflow: u64,
    /// Pops that returned [`JitterFrame::Audio`].
    pub delivered: u64,
    /// Pops that returned [`JitterFrame::Concealed`] (one per missing
    /// sequence number).
    pub concealed: u64,
    /// Missing sequence numbers given up without output because they fell
    /// out of the window, plus held packets discarded by a resync or
    /// [`ReorderBuffer::reset`].
    pub skipped: u64,
    /// Stream restarts confirmed by a far packet's successor.
    pub resyncs: u64,
}

/// What [`ReorderBuffer::pop`] needs to know about the held packets.
struct Scan {
    /// Slot holding the next expected sequence number.
    next_idx: Option<usize>,
    /// Distance from the next expected sequence number to the nearest held
    /// packet.
    nearest: u16,
    /// Distance to the farthest held packet.
    farthest: u16,
    /// Ticks the longest-held packet has been held.
    max_age: u64,
    /// Filled slots seen.
    count: usize,
}

/// Zero-delay reordering buffer; see the [module docs](self).
pub struct ReorderBuffer {
    /// Associative store: a held packet may sit in any slot.
    slots: Box<[Slot]>,
    max_wait: u32,
    /// Whether a stream has started (first packet since `new` / `reset`).
    started: bool,
    /// Sequence number the next pop delivers or gives up.
    next_seq: u16,
    /// Filled slots; all hold sequence numbers at or after `next_seq`.
    held: usize,
    /// Gap clock: `tick` calls since construction.
    now: u64,
    /// A gap is being concealed; continue without waiting until a frame is
    /// delivered.
    draining: bool,
    /// Unconfirmed far-away packet, kept until its successor confirms it.
    candidate: Option<Slot>,
    last_timestamp: Option<u32>,
    stats: ReorderStats,
}

impl ReorderBuffer {
    /// Creates a buffer that waits up to `max_wait_ticks` 20 ms ticks for a
    /// gap, once a later packet has arrived, before giving it up as lost
    /// (e.g. 3 = 60 ms; 0 = conceal at once). Allocates all storage up front
    /// (~[`REORDER_MAX_PACKETS`] × [`REORDER_MAX_PAYLOAD_BYTES`]).
    pub fn new(max_wait_ticks: u32) -> Self {
        ReorderBuffer {
            slots: vec![Slot::EMPTY; REORDER_MAX_PACKETS].into_boxed_slice(),
            max_wait: max_wait_ticks,
            started: false,
            next_seq: 0,
            held: 0,
            now: 0,
            draining: false,
            candidate: None,
            last_timestamp: None,
            stats: ReorderStats::default(),
        }
    }

    /// Offers one received packet.
    ///
    /// `sequence` / `timestamp` are the RTP header fields; `payload` is copied
    /// (at most [`REORDER_MAX_PAYLOAD_BYTES`], else
    /// [`PushResult::Overflow`]).
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
        if payload.len() > REORDER_MAX_PAYLOAD_BYTES {
            return PushResult::Overflow;
        }
        if !self.started {
            self.restart(seq);
            self.store(seq, ts, payload);
            return PushResult::Accepted;
        }

        // A far packet followed by its successor: the stream restarted.
        let confirms = matches!(&self.candidate, Some(c) if c.seq.wrapping_add(1) == seq);
        if confirms {
            if let Some(c) = self.candidate.take() {
                self.restart(c.seq);
                self.store(c.seq, c.timestamp, c.payload());
                self.store(seq, ts, payload);
                self.stats.resyncs += 1;
                return PushResult::Accepted;
            }
        }

        let d = seq.wrapping_sub(self.next_seq) as i16;
        if d.unsigned_abs() >= REORDER_RESYNC_JUMP {
            let now = self.now;
            self.candidate
                .get_or_insert(Slot::EMPTY)
                .fill(seq, ts, now, payload);
            return if d < 0 {
                PushResult::TooLate
            } else {
                PushResult::Overflow
            };
        }
        self.candidate = None;

        if d < 0 {
            return PushResult::TooLate;
        }
        if self.slots.iter().any(|s| s.filled && s.seq == seq) {
            return PushResult::Duplicate;
        }
        if self.held >= REORDER_MAX_PACKETS {
            return PushResult::Overflow;
        }
        self.store(seq, ts, payload);
        PushResult::Accepted
    }

    /// Next frame, if one is ready. Call repeatedly until `None`.
    ///
    /// - [`JitterFrame::Audio`] when the next sequence number is held
    ///   (immediately: no added delay);
    /// - [`JitterFrame::Concealed`], once per missing sequence number, when
    ///   the next one is missing, a later one is held and the gap has waited
    ///   long enough (see the [module docs](self));
    /// - `None` when nothing is held or the gap is still being waited for.
    pub fn pop(&mut self) -> Option<JitterFrame<'_>> {
        loop {
            if self.held == 0 {
                return None;
            }
            let scan = self.scan();
            if scan.count == 0 {
                // Unreachable by construction; never let a bad count stick.
                self.held = 0;
                return None;
            }

            if let Some(idx) = scan.next_idx {
                self.held -= 1;
                self.next_seq = self.next_seq.wrapping_add(1);
                self.draining = false;
                self.stats.delivered += 1;
                let slot = &mut self.slots[idx];
                slot.filled = false;
                self.last_timestamp = Some(slot.timestamp);
                return Some(JitterFrame::Audio(self.slots[idx].payload()));
            }

            // The next sequence number is missing; every held packet is later.
            if usize::from(scan.farthest) >= REORDER_MAX_PACKETS {
                // Outside the window that ends at the newest held packet:
                // give up at once, without output, up to that window or the
                // nearest held packet, whichever comes first.
                let skip = scan.nearest.min(scan.farthest - WINDOW_SPAN);
                self.stats.skipped += u64::from(skip);
                self.next_seq = self.next_seq.wrapping_add(skip);
                continue;
            }
            let due = self.draining || scan.max_age >= u64::from(self.max_wait);
            if !due {
                return None;
            }
            self.next_seq = self.next_seq.wrapping_add(1);
            self.draining = true;
            self.stats.concealed += 1;
            return Some(JitterFrame::Concealed);
        }
    }

    /// Advances the gap clock by one 20 ms tick. Call once per tick; then pop
    /// until `None` (a gap may just have become due).
    pub fn tick(&mut self) {
        self.now = self.now.wrapping_add(1);
    }

    /// Forgets everything: held packets (counted in
    /// [`ReorderStats::skipped`]), the resync candidate and
    /// [`last_timestamp`](Self::last_timestamp). The next packet starts a new
    /// stream. Counters are kept.
    pub fn reset(&mut self) {
        self.clear_slots();
        self.started = false;
        self.draining = false;
        self.candidate = None;
        self.last_timestamp = None;
    }

    /// Packets currently held (at most [`REORDER_MAX_PACKETS`]).
    pub fn len(&self) -> usize {
        self.held
    }

    /// Whether no packet is held.
    pub fn is_empty(&self) -> bool {
        self.held == 0
    }

    /// Counters since construction.
    pub fn stats(&self) -> ReorderStats {
        self.stats
    }

    /// RTP timestamp of the last frame delivered as [`JitterFrame::Audio`]
    /// (`None` before the first, and after [`reset`](Self::reset)).
    pub fn last_timestamp(&self) -> Option<u32> {
        self.last_timestamp
    }

    fn scan(&self) -> Scan {
        let mut scan = Scan {
            next_idx: None,
            nearest: u16::MAX,
            farthest: 0,
            max_age: 0,
            count: 0,
        };
        for (i, slot) in self.slots.iter().enumerate() {
            if !slot.filled {
                continue;
            }
            scan.count += 1;
            let offset = slot.seq.wrapping_sub(self.next_seq);
            if offset == 0 {
                scan.next_idx = Some(i);
            }
            scan.nearest = scan.nearest.min(offset);
            scan.farthest = scan.farthest.max(offset);
            scan.max_age = scan.max_age.max(self.now.wrapping_sub(slot.arrived));
        }
        scan
    }

    /// Discards all held packets, counting them as skipped.
    fn clear_slots(&mut self) {
        for s in self.slots.iter_mut() {
            if s.filled {
                s.filled = false;
                self.stats.skipped += 1;
            }
        }
        self.held = 0;
    }

    /// Starts a new stream whose next expected sequence number is `seq`.
    fn restart(&mut self, seq: u16) {
        self.clear_slots();
        self.candidate = None;
        self.draining = false;
        self.started = true;
        self.next_seq = seq;
    }

    /// Stores a packet in a free slot, if any (callers check for room and
    /// duplicates first).
    fn store(&mut self, seq: u16, ts: u32, payload: &[u8]) {
        let now = self.now;
        if let Some(slot) = self.slots.iter_mut().find(|s| !s.filled) {
            slot.fill(seq, ts, now, payload);
            self.held += 1;
        }
    }
}

#[cfg(test)]
mod tests;
