//! The caller → agent media chain of one call, run once per 20 ms tick:
//! RTP in → latch → jitter buffer → G.711 decode → 8→16 kHz → VAD.
//!
//! Pure and synchronous (the actor hands it datagrams and asks for one frame per
//! tick); it allocates only at construction.

use std::net::SocketAddr;

use parla_media::dtmf::{DtmfDecoder, DtmfEvent};
use parla_media::g711::G711;
use parla_media::jitter::{JitterBuffer, JitterFrame};
use parla_media::latch::RtpLatch;
use parla_media::resample::Upsampler8kTo16k;
use parla_media::vad::Vad;
use parla_media::{NARROWBAND_HZ, SAMPLES_PER_FRAME_16K, SAMPLES_PER_FRAME_8K};

/// Frames the jitter buffer holds before playout starts (60 ms).
pub const JITTER_PLAYOUT_DELAY_FRAMES: usize = 3;
/// VAD probability above which a frame counts as speech.
pub const VAD_THRESHOLD: f32 = 0.5;

/// What one inbound datagram turned out to be.
#[derive(Debug, PartialEq)]
pub enum Datagram {
    /// Audio queued in the jitter buffer.
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
    /// 320 samples at 16 kHz.
    pub pcm_16k: &'a [i16],
    pub speech: bool,
    /// True when the jitter buffer had no packet for this tick (loss or not yet started).
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
    jitter: JitterBuffer,
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
            jitter: JitterBuffer::new(JITTER_PLAYOUT_DELAY_FRAMES),
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
            self.jitter.reset();
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
        self.jitter.push(header.sequence, header.timestamp, payload);
        Datagram::Audio
    }

    /// Produces the next 20 ms caller frame (silence when nothing arrived).
    pub fn next_frame(&mut self) -> CallerFrame<'_> {
        let concealed = match self.jitter.pop() {
            Some(JitterFrame::Audio(payload)) if payload.len() == SAMPLES_PER_FRAME_8K => {
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
        CallerFrame {
            pcm_16k: &self.pcm_16k,
            speech: decision.speech,
            concealed,
        }
    }
}
