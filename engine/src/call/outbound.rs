//! The agent → caller media chain of one call, the mirror of
//! [`InboundMedia`](super::InboundMedia):
//! TTS audio (any supported rate) → resampler to 8 kHz → 20 ms pacer → G.711
//! RTP, with per-segment playback tracking and the recording tap.
//!
//! Sans-IO and synchronous: the call actor feeds it synthesized audio and
//! barge-in/codec changes, calls [`OutboundMedia::tick`] once per 20 ms frame
//! (sending the packet it returns), takes [`OutboundMedia::recording_frame`]
//! for the recording and forwards every [`OutboundEvent`] from
//! [`OutboundMedia::poll_event`] to the conversation. Time is counted in
//! ticks (one tick = [`FRAME_MS`](parla_media::FRAME_MS) = 20 ms = 160
//! samples at 8 kHz); the actor's timer decides when a tick is due. No
//! sockets, clocks, locks or tasks.
//!
//! A *segment* is one piece of speech the conversation asked for, identified
//! by its id. Its life here:
//! 1. [`begin_segment`](OutboundMedia::begin_segment) (TTS requested);
//! 2. audio chunks ([`push_tts_audio`](OutboundMedia::push_tts_audio)),
//!    the first reported as [`OutboundEvent::FirstAudio`];
//! 3. [`tts_finished`](OutboundMedia::tts_finished):
//!    [`OutboundEvent::SynthesisDone`] with its duration;
//! 4. its first frame on the wire: [`OutboundEvent::SegmentStarted`];
//! 5. synthesis finished and its last queued sample on the wire:
//!    [`OutboundEvent::SegmentPlayed`], once, after which it is forgotten.
//!
//! Audio may run out before synthesis finishes (the TTS is slower than real
//! time): the segment then waits, silent, and is played out only when its TTS
//! has finished and whatever came later has been sent too. A segment with no
//! audio at all is started and played out the moment its TTS finishes, so the
//! conversation never waits for it. [`clear`](OutboundMedia::clear)
//! (barge-in) drops all queued audio and every segment: nothing more is
//! reported for them, and late TTS audio for them is ignored.

use std::collections::{BTreeMap, VecDeque};

use parla_media::g711::G711;
use parla_media::pacer::{PacedSender, PACER_PACKET_LEN};
use parla_media::resample::{ResampleError, Resampler};
use parla_media::NARROWBAND_HZ;

#[cfg(test)]
mod tests;

/// What happened to the agent's audio, for the conversation (in order).
#[derive(Debug, Clone, PartialEq)]
pub enum OutboundEvent {
    /// The first chunk of the segment's synthesized audio arrived (the TTS's
    /// time to first audio; reported for every segment, even a silent one).
    FirstAudio(u64),
    /// Synthesis of `segment` finished; `audio_ms` is the duration of all
    /// its audio at 8 kHz, in ms (rounded down).
    SynthesisDone { segment: u64, audio_ms: u32 },
    /// The segment's first frame was sent (the caller starts hearing it).
    SegmentStarted(u64),
    /// The segment's last sample was sent and its synthesis is finished.
    SegmentPlayed(u64),
    /// The segment's audio came at a rate that cannot be resampled to 8 kHz;
    /// the segment is no longer tracked (what was queued still plays).
    SegmentFailed { segment: u64, error: ResampleError },
}

/// Playback state of one segment that has not played out yet.
struct Track {
    /// Its first frame went out ([`OutboundEvent::SegmentStarted`] reported).
    started: bool,
    /// [`OutboundMedia::tts_finished`] came.
    tts_done: bool,
    /// Some of its audio waits in the pacer.
    queued: bool,
    /// The first chunk came ([`OutboundEvent::FirstAudio`] reported).
    got_audio: bool,
    /// 8 kHz samples synthesized so far (queued or refused by a full pacer).
    samples_8k: u64,
    /// Converter from the TTS rate to 8 kHz, made by the first chunk at
    /// another rate (and again if the rate changes).
    resampler: Option<Resampler>,
}

impl Track {
    fn new() -> Self {
        Track {
            started: false,
            tts_done: false,
            queued: false,
            got_audio: false,
            samples_8k: 0,
            resampler: None,
        }
    }
}

/// The outbound media of one call; see the [module docs](self).
pub struct OutboundMedia {
    pacer: PacedSender,
    /// Segments not yet played out, by id (ids grow in speaking order).
    tracks: BTreeMap<u64, Track>,
    events: VecDeque<OutboundEvent>,
    /// Send packets (false while the caller holds the call, `sendonly` or
    /// `inactive` on its side): ticks still pace the audio out.
    sending: bool,
    /// The last tick's RTP packet.
    packet: Vec<u8>,
    /// One chunk resampled to 8 kHz (reused).
    resampled: Vec<i16>,
}

impl OutboundMedia {
    /// Outbound media in `codec`, sent with RTP payload type `payload_type`
    /// (the codec's static type or a negotiated dynamic one), SSRC `ssrc` and
    /// the given first sequence number and timestamp (8 kHz units; RFC 3550
    /// §5.1 wants all three random).
    pub fn new(
        codec: G711,
        payload_type: u8,
        ssrc: u32,
        initial_sequence: u16,
        initial_timestamp: u32,
    ) -> Self {
        let mut pacer = PacedSender::new(codec, ssrc, initial_sequence, initial_timestamp);
        pacer.set_payload_type(payload_type);
        OutboundMedia {
            pacer,
            tracks: BTreeMap::new(),
            events: VecDeque::with_capacity(16),
            sending: true,
            packet: Vec::with_capacity(PACER_PACKET_LEN),
            resampled: Vec::with_capacity(4096),
        }
    }

    /// Synthesis of `segment` was requested: its audio is expected (audio
    /// for segments never begun, or cleared, is ignored).
    pub fn begin_segment(&mut self, segment: u64) {
        self.tracks.insert(segment, Track::new());
    }

    /// A chunk of `segment`'s synthesized mono PCM at `rate_hz` (one of
    /// [`SUPPORTED_RATES_HZ`](parla_media::resample::SUPPORTED_RATES_HZ)),
    /// queued behind everything already queued after conversion to 8 kHz.
    /// An unsupported rate fails the segment ([`OutboundEvent::SegmentFailed`]).
    pub fn push_tts_audio(&mut self, segment: u64, pcm: &[i16], rate_hz: u32) {
        let Some(track) = self.tracks.get_mut(&segment) else {
            return; // cleared by barge-in, or failed
        };
        let resample = rate_hz != NARROWBAND_HZ;
        if resample && track.resampler.as_ref().map(Resampler::from_hz) != Some(rate_hz) {
            match Resampler::new(rate_hz, NARROWBAND_HZ) {
                Ok(r) => track.resampler = Some(r),
                Err(error) => {
                    self.tracks.remove(&segment);
                    self.events
                        .push_back(OutboundEvent::SegmentFailed { segment, error });
                    return;
                }
            }
        }
        if !track.got_audio {
            track.got_audio = true;
            self.events.push_back(OutboundEvent::FirstAudio(segment));
        }
        self.resampled.clear();
        match track.resampler.as_mut() {
            Some(r) if resample => r.process(pcm, &mut self.resampled),
            _ => self.resampled.extend_from_slice(pcm),
        }
        self.queue_resampled(segment);
    }

    /// Synthesis of `segment` finished: the resampler's tail is queued and
    /// [`OutboundEvent::SynthesisDone`] reported; if none of its audio is
    /// waiting any more, it is played out now (started first, if it never had
    /// audio).
    pub fn tts_finished(&mut self, segment: u64) {
        let Some(track) = self.tracks.get_mut(&segment) else {
            return;
        };
        if let Some(r) = track.resampler.as_mut() {
            self.resampled.clear();
            r.flush(&mut self.resampled);
            self.queue_resampled(segment);
        }
        let Some(track) = self.tracks.get_mut(&segment) else {
            return;
        };
        track.tts_done = true;
        let audio_ms =
            u32::try_from(track.samples_8k * 1000 / u64::from(NARROWBAND_HZ)).unwrap_or(u32::MAX);
        self.events
            .push_back(OutboundEvent::SynthesisDone { segment, audio_ms });
        if !track.queued {
            if !track.started {
                self.events
                    .push_back(OutboundEvent::SegmentStarted(segment));
            }
            self.tracks.remove(&segment);
            self.events.push_back(OutboundEvent::SegmentPlayed(segment));
        }
    }

    /// Synthesis of `segment` failed: it is no longer tracked (audio already
    /// queued still plays unless [`clear`](Self::clear)ed). Returns whether
    /// it was tracked, i.e. whether the failure concerns speech still wanted.
    pub fn tts_failed(&mut self, segment: u64) -> bool {
        self.tracks.remove(&segment).is_some()
    }

    /// A whole clip of 8 kHz PCM for `segment` (e.g. the fallback line), as
    /// if synthesized at once: begun, queued and finished.
    pub fn play_clip(&mut self, segment: u64, pcm_8k: &[i16]) {
        self.begin_segment(segment);
        self.push_tts_audio(segment, pcm_8k, NARROWBAND_HZ);
        self.tts_finished(segment);
    }

    /// Barge-in: drops all queued audio and forgets every segment (with any
    /// event not yet polled); the next tick is silence unless new audio is
    /// queued before it. Returns the 8 kHz samples dropped.
    pub fn clear(&mut self) -> usize {
        self.tracks.clear();
        self.events.clear();
        self.pacer.clear()
    }

    /// A re-INVITE changed the codec or its payload type: the next packet is
    /// encoded with it (sequence and timestamp continue; queued audio stays).
    pub fn set_codec(&mut self, codec: G711, payload_type: u8) {
        self.pacer.set_codec(codec);
        self.pacer.set_payload_type(payload_type);
    }

    /// Whether ticks produce packets to send: false while the caller does not
    /// want our audio (hold). Playback goes on regardless, so what is said
    /// during a hold is lost rather than delayed.
    pub fn set_sending(&mut self, sending: bool) {
        self.sending = sending;
    }

    /// One 20 ms frame: the next 160 samples of queued audio (one segment's
    /// only) or silence, encoded into an RTP packet (12 + 160 bytes).
    /// Returns the packet to send, or `None` while not sending. Updates
    /// [`recording_frame`](Self::recording_frame) and queues the frame's
    /// playback events.
    pub fn tick(&mut self) -> Option<&[u8]> {
        let info = self.pacer.tick(&mut self.packet);
        if let Some(segment) = info.segment {
            if let Some(track) = self.tracks.get_mut(&segment) {
                if info.segment_started && !track.started {
                    track.started = true;
                    self.events
                        .push_back(OutboundEvent::SegmentStarted(segment));
                }
                if info.segment_finished {
                    track.queued = false;
                    if track.tts_done {
                        self.tracks.remove(&segment);
                        self.events.push_back(OutboundEvent::SegmentPlayed(segment));
                    }
                }
            }
        }
        self.sending.then_some(&self.packet[..])
    }

    /// The agent's audio of the last tick, for the call recording: the 8 kHz
    /// PCM it encoded (160 samples, before G.711 quantization), or empty when
    /// it sent silence. Taken once per tick, it is aligned with the caller's
    /// frames of the same ticks.
    pub fn recording_frame(&self) -> &[i16] {
        self.pacer.last_frame_pcm().map_or(&[], |pcm| &pcm[..])
    }

    /// The next playback event, in the order they happened; call until `None`
    /// after every input and tick.
    pub fn poll_event(&mut self) -> Option<OutboundEvent> {
        self.events.pop_front()
    }

    /// 8 kHz samples refused because the pacer's queue was full (60 s of
    /// audio), since the call started.
    pub fn dropped_samples(&self) -> u64 {
        self.pacer.dropped_samples()
    }

    /// Queues `self.resampled` for `segment` (tracked) and counts it.
    fn queue_resampled(&mut self, segment: u64) {
        let queued = self.pacer.push_audio(segment, &self.resampled);
        if let Some(track) = self.tracks.get_mut(&segment) {
            track.samples_8k += self.resampled.len() as u64;
            track.queued |= queued > 0;
        }
    }
}
