//! One stored RTP packet of a receive buffer ([`crate::jitter`],
//! [`crate::reorder`]): a fixed-size slot, so the buffers allocate once and
//! never on push or pop.

/// Largest payload a slot stores, in bytes (60 ms of G.711 at 8 kHz).
pub(crate) const SLOT_PAYLOAD_BYTES: usize = 480;

#[derive(Clone, Copy)]
pub(crate) struct Slot {
    pub(crate) filled: bool,
    pub(crate) seq: u16,
    pub(crate) timestamp: u32,
    /// The owning buffer's clock reading when the packet was stored (ticks;
    /// unused by the fixed-delay jitter buffer).
    pub(crate) arrived: u64,
    pub(crate) len: u16,
    pub(crate) data: [u8; SLOT_PAYLOAD_BYTES],
}

impl Slot {
    pub(crate) const EMPTY: Slot = Slot {
        filled: false,
        seq: 0,
        timestamp: 0,
        arrived: 0,
        len: 0,
        data: [0; SLOT_PAYLOAD_BYTES],
    };

    /// Stores a packet; a payload longer than [`SLOT_PAYLOAD_BYTES`] is cut
    /// (callers refuse those first).
    pub(crate) fn fill(&mut self, seq: u16, timestamp: u32, arrived: u64, payload: &[u8]) {
        let len = payload.len().min(SLOT_PAYLOAD_BYTES);
        self.filled = true;
        self.seq = seq;
        self.timestamp = timestamp;
        self.arrived = arrived;
        self.len = len as u16;
        self.data[..len].copy_from_slice(&payload[..len]);
    }

    /// The stored payload.
    pub(crate) fn payload(&self) -> &[u8] {
        &self.data[..self.len as usize]
    }
}
