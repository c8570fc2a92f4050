//! Outbound 20 ms paced RTP sender for one G.711 stream.
//!
//! The caller queues agent audio (8 kHz PCM, tagged with a segment id) with
//! [`PacedSender::push_audio`] and calls [`PacedSender::tick`] exactly once
//! per [`FRAME_MS`](crate::FRAME_MS) tick. Every tick produces one complete
//! RTP packet (12-byte header + 160 G.711 bytes), carrying silence when
//! nothing is queued, so the far end sees a continuous stream.
//!
//! RTP rules (RFC 3550 §5.1, RFC 3551 §4.1):
//! - sequence number +1 per packet (wrapping);
//! - timestamp +160 per tick, also while sending silence;
//! - marker bit on the first packet of each talkspurt, i.e. the first packet
//!   carrying audio after a packet of silence (or the very first packet).
//!
//! A frame carries audio of one segment only: a segment's partial last frame
//! is padded with silence rather than mixed with the next segment.
//!
//! The queue is bounded by [`PACER_MAX_QUEUED_MS`]; audio beyond it is
//! dropped (counted in [`PacedSender::dropped_samples`]). `tick` does not
//! allocate when `out` has capacity for [`PACER_PACKET_LEN`] bytes.

use std::collections::VecDeque;

use crate::g711::G711;
use crate::rtp::{self, RtpHeader, RTP_HEADER_LEN};
use crate::{NARROWBAND_HZ, SAMPLES_PER_FRAME_8K};

/// Most audio that may be queued, in milliseconds (60 s).
pub const PACER_MAX_QUEUED_MS: u32 = 60_000;
/// [`PACER_MAX_QUEUED_MS`] in 8 kHz samples (480 000).
pub const PACER_MAX_QUEUED_SAMPLES: usize =
    (PACER_MAX_QUEUED_MS as u64 * NARROWBAND_HZ as u64 / 1000) as usize;
/// Bytes of every packet written by [`PacedSender::tick`] (12 + 160).
pub const PACER_PACKET_LEN: usize = RTP_HEADER_LEN + SAMPLES_PER_FRAME_8K;
/// Queue capacity reserved up front, in samples (1 s); it grows on demand up
/// to [`PACER_MAX_QUEUED_SAMPLES`].
const INITIAL_QUEUE_SAMPLES: usize = NARROWBAND_HZ as usize;

/// What the packet written by one [`PacedSender::tick`] carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TickInfo {
    /// Segment whose audio this frame carried; `None` = silence.
    pub segment: Option<u64>,
    /// This is the first frame of `segment`.
    pub segment_started: bool,
    /// The segment's last queued sample went out in this frame. If more audio
    /// for the same segment is queued later (an underrun), it continues
    /// without a new `segment_started` and reports `segment_finished` again.
    pub segment_finished: bool,
    /// RTP sequence number of the packet.
    pub sequence: u16,
    /// RTP timestamp of the packet (8 kHz units).
    pub timestamp: u32,
    /// RTP marker bit (first packet of a talkspurt).
    pub marker: bool,
}

/// The outbound paced sender; see the [module docs](self).
pub struct PacedSender {
    codec: G711,
    /// RTP payload type on the wire: the codec's static one unless the SDP
    /// negotiated a dynamic one (RFC 3551 §6).
    payload_type: u8,
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    queue: VecDeque<i16>,
    /// Consecutive runs of queued samples per segment, in queue order.
    runs: VecDeque<(u64, usize)>,
    /// The previous packet carried audio.
    talking: bool,
    /// Segment of the most recent audio frame.
    current: Option<u64>,
    dropped: u64,
    pcm: [i16; SAMPLES_PER_FRAME_8K],
    payload: [u8; SAMPLES_PER_FRAME_8K],
}

impl PacedSender {
    /// A sender for `codec` with the given SSRC and initial sequence number /
    /// timestamp (RFC 3550 §5.1 recommends random initial values).
    pub fn new(codec: G711, ssrc: u32, initial_sequence: u16, initial_timestamp: u32) -> Self {
        PacedSender {
            codec,
            payload_type: codec.payload_type(),
            ssrc,
            sequence: initial_sequence,
            timestamp: initial_timestamp,
            queue: VecDeque::with_capacity(INITIAL_QUEUE_SAMPLES),
            runs: VecDeque::with_capacity(16),
            talking: false,
            current: None,
            dropped: 0,
            pcm: [0; SAMPLES_PER_FRAME_8K],
            payload: [0; SAMPLES_PER_FRAME_8K],
        }
    }

    /// Sends with this RTP payload type instead of the codec's static one
    /// (an offer may map G.711 to a dynamic type, e.g. `a=rtpmap:112 PCMA/8000`).
    pub fn set_payload_type(&mut self, payload_type: u8) {
        self.payload_type = payload_type & 0x7f;
    }

    /// Queues 8 kHz PCM of `segment` behind everything already queued and
    /// returns how many samples were queued: samples beyond
    /// [`PACER_MAX_QUEUED_SAMPLES`] are dropped.
    pub fn push_audio(&mut self, segment: u64, pcm_8k: &[i16]) -> usize {
        let room = PACER_MAX_QUEUED_SAMPLES - self.queue.len();
        let take = pcm_8k.len().min(room);
        self.dropped += (pcm_8k.len() - take) as u64;
        if take == 0 {
            return 0;
        }
        self.queue.extend(&pcm_8k[..take]);
        match self.runs.back_mut() {
            Some((seg, n)) if *seg == segment => *n += take,
            _ => self.runs.push_back((segment, take)),
        }
        take
    }

    /// Writes the next packet into `out` (cleared first; exactly
    /// [`PACER_PACKET_LEN`] bytes) and advances sequence and timestamp.
    pub fn tick(&mut self, out: &mut Vec<u8>) -> TickInfo {
        let mut info = TickInfo {
            segment: None,
            segment_started: false,
            segment_finished: false,
            sequence: self.sequence,
            timestamp: self.timestamp,
            marker: false,
        };
        if let Some((segment, remaining)) = self.runs.front_mut() {
            let segment = *segment;
            let n = (*remaining).min(SAMPLES_PER_FRAME_8K);
            *remaining -= n;
            let run_done = *remaining == 0;
            for (dst, src) in self.pcm.iter_mut().zip(self.queue.drain(..n)) {
                *dst = src;
            }
            self.pcm[n..].fill(0);
            if run_done {
                self.runs.pop_front();
            }
            info.segment = Some(segment);
            info.segment_started = self.current != Some(segment);
            info.segment_finished = run_done && !self.runs.iter().any(|&(s, _)| s == segment);
            self.current = Some(segment);
            self.codec.encode(&self.pcm, &mut self.payload);
            info.marker = !self.talking;
            self.talking = true;
        } else {
            self.payload.fill(self.codec.silence_byte());
            self.talking = false;
        }
        let header = RtpHeader {
            payload_type: self.payload_type,
            sequence: self.sequence,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
            marker: info.marker,
        };
        rtp::write(&header, &self.payload, out);
        self.sequence = self.sequence.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(SAMPLES_PER_FRAME_8K as u32);
        info
    }

    /// Barge-in: drops all queued audio. Returns the number of samples dropped.
    /// The next packet is silence unless audio is pushed before it.
    pub fn clear(&mut self) -> usize {
        let n = self.queue.len();
        self.queue.clear();
        self.runs.clear();
        self.current = None;
        n
    }

    /// The 8 kHz PCM the last [`tick`](Self::tick) encoded (160 samples, a
    /// segment's partial last frame padded with zeros), or `None` when it
    /// sent silence (or before the first tick). This is the agent's side of
    /// a call recording, before G.711 quantization.
    pub fn last_frame_pcm(&self) -> Option<&[i16; SAMPLES_PER_FRAME_8K]> {
        self.talking.then_some(&self.pcm)
    }

    /// Samples (8 kHz) waiting to be sent.
    pub fn queued_samples(&self) -> usize {
        self.queue.len()
    }

    /// Samples refused because the queue was full, since construction.
    pub fn dropped_samples(&self) -> u64 {
        self.dropped
    }

    /// The codec in use.
    pub fn codec(&self) -> G711 {
        self.codec
    }

    /// Switches codec (e.g. after a re-INVITE); sequence/timestamp continue.
    pub fn set_codec(&mut self, codec: G711) {
        self.codec = codec;
    }

    /// SSRC of the stream.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Sequence number the next packet will carry.
    pub fn next_sequence(&self) -> u16 {
        self.sequence
    }

    /// Timestamp the next packet will carry.
    pub fn next_timestamp(&self) -> u32 {
        self.timestamp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::parse;

    fn tone(n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| if i % 2 == 0 { 8000 } else { -8000 })
            .collect()
    }

    #[test]
    fn silence_speech_silence_sequence_timestamp_marker_and_flags() {
        let mut p = PacedSender::new(G711::Pcmu, 0xABCD, 65_534, u32::MAX - 200);
        let mut out = Vec::with_capacity(PACER_PACKET_LEN);
        let cap = out.capacity();

        let mut infos = Vec::new();
        let mut packets = Vec::new();
        let mut run = |p: &mut PacedSender, ticks: usize| {
            for _ in 0..ticks {
                infos.push(p.tick(&mut out));
                assert_eq!(out.len(), PACER_PACKET_LEN);
                assert_eq!(out.capacity(), cap, "tick must not reallocate");
                packets.push(out.clone());
            }
        };
        run(&mut p, 2); // silence
        p.push_audio(7, &tone(400)); // 2.5 frames
        run(&mut p, 5); // 3 audio frames, then silence
        p.push_audio(8, &tone(160));
        p.push_audio(9, &tone(320));
        run(&mut p, 4);

        // Sequence +1 and timestamp +160 per packet, wrapping.
        for (i, info) in infos.iter().enumerate() {
            assert_eq!(info.sequence, 65_534u16.wrapping_add(i as u16));
            assert_eq!(
                info.timestamp,
                (u32::MAX - 200).wrapping_add(160 * i as u32)
            );
            let (h, payload) = parse(&packets[i]).unwrap();
            assert_eq!(
                (h.sequence, h.timestamp, h.marker, h.ssrc),
                (info.sequence, info.timestamp, info.marker, 0xABCD)
            );
            assert_eq!(h.payload_type, 0);
            assert_eq!(payload.len(), 160);
        }
        let segs: Vec<_> = infos.iter().map(|i| i.segment).collect();
        assert_eq!(
            segs,
            [
                None,
                None,
                Some(7),
                Some(7),
                Some(7),
                None,
                None,
                Some(8),
                Some(9),
                Some(9),
                None
            ]
        );
        let markers: Vec<_> = infos.iter().map(|i| i.marker).collect();
        assert_eq!(
            markers,
            [false, false, true, false, false, false, false, true, false, false, false]
        );
        let started: Vec<_> = infos.iter().map(|i| i.segment_started).collect();
        assert_eq!(
            started,
            [false, false, true, false, false, false, false, true, true, false, false]
        );
        let finished: Vec<_> = infos.iter().map(|i| i.segment_finished).collect();
        assert_eq!(
            finished,
            [false, false, false, false, true, false, false, true, false, true, false]
        );

        // Silence packets are the codec's silence byte.
        assert!(parse(&packets[0]).unwrap().1.iter().all(|&b| b == 0xFF));
        // The partial last frame of segment 7 (80 samples) is padded with silence.
        let last7 = parse(&packets[4]).unwrap().1;
        assert!(last7[..80].iter().all(|&b| b != 0xFF));
        assert!(last7[80..].iter().all(|&b| b == 0xFF));
        assert_eq!(p.queued_samples(), 0);
    }

    #[test]
    fn clear_drops_queue_for_barge_in() {
        let mut p = PacedSender::new(G711::Pcma, 1, 0, 0);
        let mut out = Vec::new();
        p.push_audio(1, &tone(1000));
        let info = p.tick(&mut out);
        assert!(info.marker && info.segment_started);
        assert_eq!(p.queued_samples(), 840);
        assert_eq!(p.clear(), 840);
        assert_eq!(p.queued_samples(), 0);
        let info = p.tick(&mut out);
        assert_eq!(info.segment, None);
        assert!(parse(&out).unwrap().1.iter().all(|&b| b == 0xD5));
        // New audio after the silence packet starts a new talkspurt.
        p.push_audio(2, &tone(160));
        let info = p.tick(&mut out);
        assert!(info.marker && info.segment_started && info.segment_finished);
        assert_eq!(info.segment, Some(2));
    }

    #[test]
    fn underrun_within_a_segment_continues_it() {
        let mut p = PacedSender::new(G711::Pcmu, 1, 0, 0);
        let mut out = Vec::new();
        p.push_audio(3, &tone(160));
        let a = p.tick(&mut out);
        assert!(a.segment_started && a.segment_finished && a.marker);
        let gap = p.tick(&mut out);
        assert_eq!(gap.segment, None);
        p.push_audio(3, &tone(160));
        let b = p.tick(&mut out);
        // A new talkspurt on the wire, but the same segment continuing.
        assert!(b.marker && !b.segment_started && b.segment_finished);
    }

    #[test]
    fn back_to_back_chunks_of_one_segment_merge() {
        let mut p = PacedSender::new(G711::Pcmu, 1, 0, 0);
        let mut out = Vec::new();
        for _ in 0..4 {
            p.push_audio(5, &tone(100));
        }
        let infos: Vec<_> = (0..3).map(|_| p.tick(&mut out)).collect();
        assert_eq!(
            infos.iter().map(|i| i.segment_finished).collect::<Vec<_>>(),
            [false, false, true]
        );
        assert!(infos[0].segment_started && !infos[1].segment_started);
    }

    #[test]
    fn last_frame_pcm_is_what_the_tick_encoded() {
        let mut p = PacedSender::new(G711::Pcmu, 1, 0, 0);
        let mut out = Vec::new();
        assert_eq!(p.last_frame_pcm(), None);
        let audio: Vec<i16> = (0..200).map(|i| (i * 37 - 3000) as i16).collect();
        p.push_audio(4, &audio);
        p.tick(&mut out);
        assert_eq!(&p.last_frame_pcm().unwrap()[..], &audio[..160]);
        p.tick(&mut out); // the last 40 samples, padded with zeros
        let last = p.last_frame_pcm().unwrap();
        assert_eq!(&last[..40], &audio[160..]);
        assert!(last[40..].iter().all(|&s| s == 0));
        p.tick(&mut out);
        assert_eq!(p.last_frame_pcm(), None, "a silence packet");
    }

    #[test]
    fn queue_is_bounded() {
        let mut p = PacedSender::new(G711::Pcmu, 1, 0, 0);
        let chunk = vec![1i16; 100_000];
        let queued: usize = (0..6).map(|_| p.push_audio(1, &chunk)).sum();
        assert_eq!(
            queued, PACER_MAX_QUEUED_SAMPLES,
            "push_audio counts what it queued"
        );
        assert_eq!(p.queued_samples(), PACER_MAX_QUEUED_SAMPLES);
        assert_eq!(
            p.dropped_samples(),
            600_000 - PACER_MAX_QUEUED_SAMPLES as u64
        );
        assert_eq!(PACER_MAX_QUEUED_SAMPLES, 480_000);
    }

    #[test]
    fn negotiated_dynamic_payload_type_goes_on_the_wire() {
        let mut p = PacedSender::new(G711::Pcma, 7, 0, 0);
        p.set_payload_type(112);
        let mut out = Vec::new();
        p.tick(&mut out);
        let (h, _) = crate::rtp::parse(&out).unwrap();
        assert_eq!(h.payload_type, 112);
    }
}
