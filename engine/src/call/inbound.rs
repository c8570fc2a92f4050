//! The caller → agent media chain of one call:
//! RTP in → latch → reordering buffer → G.711 decode → 8→16 kHz → VAD.
//!
//! Caller audio is analysed, never played out, so it goes through a
//! zero-delay [`ReorderBuffer`] rather than a playout jitter buffer: a frame
//! is decoded and scored the moment it is in sequence, and a missing packet
//! is waited for (at most [`REORDER_WAIT_TICKS`] ticks) only once a later one
//! has arrived. End-of-turn detection therefore sees the caller's last word
//! as soon as it arrives, instead of a playout delay later.
//!
//! Pure and synchronous (the actor hands it datagrams, advances its clock once
//! per 20 ms tick and takes every ready frame); it allocates only at construction.

use std::net::SocketAddr;

use parla_media::dtmf::{DtmfDecoder, DtmfEvent};
use parla_media::g711::G711;
use parla_media::jitter::JitterFrame;
use parla_media::latch::RtpLatch;
use parla_media::reorder::ReorderBuffer;
use parla_media::resample::Upsampler8kTo16k;
use parla_media::vad::Vad;
use parla_media::{NARROWBAND_HZ, SAMPLES_PER_FRAME_16K, SAMPLES_PER_FRAME_8K};

/// Ticks (20 ms) a gap in the caller's RTP is waited for, once a later
/// packet has arrived, before it is given up as lost (60 ms of reordering
/// tolerance; in-order audio is never delayed).
pub const REORDER_WAIT_TICKS: u32 = 3;
/// VAD probability above which a frame counts as speech.
pub const VAD_THRESHOLD: f32 = 0.5;

/// What one inbound datagram turned out to be.
#[derive(Debug, PartialEq)]
pub enum Datagram {
    /// Audio queued for [`InboundMedia::next_frame`].
    Audio,
    /// A DTMF digit completed (RFC 4733).
    Dtmf(DtmfEvent),
    /// Nothing to act on (DTMF update, duplicate, comfort noise, unknown payload type).
    Ignored,
    /// From a source other than the latched one (symmetric RTP): dropped.
    Foreign,
    /// Not an RTP packet.
    Malformed,
}

/// One 20 ms caller frame after decoding.
pub struct CallerFrame<'a> {
    /// 160 samples at 8 kHz, as decoded (for recording).
    pub pcm_8k: &'a [i16],
    /// 320 samples at 16 kHz.
    pub pcm_16k: &'a [i16],
    pub speech: bool,
    /// True for a lost packet's frame (played as silence).
    pub concealed: bool,
}

/// Counters a call reports when it ends.
#[derive(Debug, Default, Clone, Copy)]
pub struct InboundStats {
    pub packets: u64,
    pub foreign_dropped: u64,
    pub malformed: u64,
    pub concealed_frames: u64,
}

pub struct InboundMedia {
    codec: G711,
    /// Payload type of `codec` on the wire (static 0/8, or a negotiated dynamic one).
    audio_payload_type: u8,
    dtmf_payload_type: Option<u8>,
    latch: RtpLatch,
    reorder: ReorderBuffer,
    /// SSRC of the caller's audio stream.
    ssrc: Option<u32>,
    dtmf: DtmfDecoder,
    upsampler: Upsampler8kTo16k,
    vad: Vad,
    pcm_8k: [i16; SAMPLES_PER_FRAME_8K],
    pcm_16k: Vec<i16>,
    pub stats: InboundStats,
}

impl InboundMedia {
    /// `sdp_remote` is the address from the SDP answer, used until the first packet latches.
    pub fn new(
        codec: G711,
        audio_payload_type: u8,
        dtmf_payload_type: Option<u8>,
        sdp_remote: Option<SocketAddr>,
    ) -> Self {
        InboundMedia {
            codec,
            audio_payload_type,
            dtmf_payload_type,
            latch: RtpLatch::new(sdp_remote),
            reorder: ReorderBuffer::new(REORDER_WAIT_TICKS),
            ssrc: None,
            dtmf: DtmfDecoder::new(NARROWBAND_HZ),
            upsampler: Upsampler8kTo16k::new(),
            vad: Vad::new(VAD_THRESHOLD),
            pcm_8k: [0; SAMPLES_PER_FRAME_8K],
            pcm_16k: Vec::with_capacity(SAMPLES_PER_FRAME_16K * 2),
            stats: InboundStats::default(),
        }
    }

    /// Where to send our RTP: the latched source, else the SDP address.
    pub fn remote(&self) -> Option<SocketAddr> {
        self.latch.remote()
    }

    /// A re-INVITE changed the codec or the remote address.
    pub fn renegotiate(
        &mut self,
        codec: G711,
        audio_payload_type: u8,
        dtmf_payload_type: Option<u8>,
        sdp_remote: Option<SocketAddr>,
    ) {
        if codec != self.codec || audio_payload_type != self.audio_payload_type {
            self.codec = codec;
            self.audio_payload_type = audio_payload_type;
            self.reorder.reset();
        }
        self.dtmf_payload_type = dtmf_payload_type;
        if sdp_remote.is_some() && sdp_remote != self.latch.remote() {
            self.latch = RtpLatch::new(sdp_remote);
        }
    }

    /// Feeds one received datagram.
    pub fn push_datagram(&mut self, from: SocketAddr, bytes: &[u8]) -> Datagram {
        if !self.latch.accept(from) {
            self.stats.foreign_dropped += 1;
            return Datagram::Foreign;
        }
        let Ok((header, payload)) = parla_media::rtp::parse(bytes) else {
            self.stats.malformed += 1;
            return Datagram::Malformed;
        };
        self.stats.packets += 1;
        if Some(header.payload_type) == self.dtmf_payload_type {
            return match self.dtmf.push(header.timestamp, header.marker, payload) {
                Ok(Some(ev)) => Datagram::Dtmf(ev),
                _ => Datagram::Ignored,
            };
        }
        if header.payload_type != self.audio_payload_type {
            return Datagram::Ignored;
        }
        if self.ssrc != Some(header.ssrc) {
            // A new source (re-INVITE, media server switch): its sequence
            // numbers start afresh (RFC 3550 §8.2).
            if self.ssrc.is_some() {
                self.reorder.reset();
            }
            self.ssrc = Some(header.ssrc);
        }
        self.reorder
            .push(header.sequence, header.timestamp, payload);
        Datagram::Audio
    }

    /// Advances the reordering clock by one 20 ms tick (once per tick).
    pub fn tick(&mut self) {
        self.reorder.tick();
    }

    /// The next 20 ms caller frame, if one is ready: call until `None`.
    /// Lost packets come out as silence ([`CallerFrame::concealed`]), and so
    /// do frames that are not 20 ms of the negotiated codec.
    pub fn next_frame(&mut self) -> Option<CallerFrame<'_>> {
        let concealed = match self.reorder.pop()? {
            JitterFrame::Audio(payload) if payload.len() == SAMPLES_PER_FRAME_8K => {
                self.codec.decode(payload, &mut self.pcm_8k);
                false
            }
            _ => {
                self.pcm_8k.fill(0);
                true
            }
        };
        if concealed {
            self.stats.concealed_frames += 1;
        }
        self.pcm_16k.clear();
        self.upsampler.process(&self.pcm_8k, &mut self.pcm_16k);
        let decision = self.vad.process(&self.pcm_16k);
        Some(CallerFrame {
            pcm_8k: &self.pcm_8k,
            pcm_16k: &self.pcm_16k,
            speech: decision.speech,
            concealed,
        })
    }
}
