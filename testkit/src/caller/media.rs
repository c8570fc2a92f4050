//! The caller's RTP: what it sends every 20 ms ([`RtpTx`]) and what it makes
//! of what the agent sends ([`RtpRx`]). Sans-IO: the call task owns the
//! sockets and the clock and passes time in.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parla_media::dtmf::DtmfDecoder;
use parla_media::g711::G711;
use parla_media::rtp::{self, RtpHeader, RtpStats};
use tokio::time::Instant;

/// Samples per 20 ms frame at 8 kHz.
pub const FRAME: usize = 160;
/// RTP clock of G.711 and telephone-event.
pub const CLOCK_HZ: u32 = 8_000;
/// A decoded 20 ms frame whose RMS reaches this is "agent audio" (speech);
/// below it is silence. About -40 dBFS: digital silence, G.711 idle codes
/// and faint comfort noise stay below; any speech is well above.
pub const SPEECH_RMS: f64 = 300.0;
/// Silence frames sent after each DTMF digit (60 ms ≥ the 50 ms minimum gap).
pub const DTMF_GAP_FRAMES: u8 = 3;
/// Volume of generated DTMF events (dBm0 below 0, RFC 4733 §2.3.2).
pub const DTMF_VOLUME: u8 = 10;
/// Comfort noise (RFC 3389), accepted and treated as silence.
const PT_CN: u8 = 13;

/// One RFC 4733 packet to send: the 4-byte event payload and its flags.
#[derive(Clone, Copy, Debug)]
pub struct EventPacket {
    pub payload: [u8; 4],
    pub marker: bool,
}

/// The RFC 4733 packets for one digit, one per 20 ms, end packet repeats
/// included (from `parla_media::dtmf`).
pub fn dtmf_packets(digit: char, duration_ms: u32) -> anyhow::Result<Vec<EventPacket>> {
    let packets =
        parla_media::dtmf::DtmfEncoder::packets(digit, duration_ms, DTMF_VOLUME, CLOCK_HZ)
            .map_err(|e| anyhow::anyhow!("DTMF digit {digit:?}: {e}"))?;
    Ok(packets
        .into_iter()
        .map(|p| EventPacket {
            payload: p.payload,
            marker: p.marker,
        })
        .collect())
}

enum TxSource {
    Silence,
    Play {
        pcm: Arc<Vec<i16>>,
        pos: usize,
    },
    Dtmf {
        packets: Vec<EventPacket>,
        next: usize,
        event_ts: u32,
        gap: u8,
    },
}

/// The outgoing stream: one packet per tick, audio or silence or a DTMF
/// event, with continuous sequence numbers and a timestamp that advances
/// 160 per tick whatever is sent.
pub struct RtpTx {
    codec: G711,
    audio_pt: u8,
    dtmf_pt: u8,
    ssrc: u32,
    seq: u16,
    ts: u32,
    first: bool,
    source: TxSource,
    pcm: [i16; FRAME],
    payload: [u8; FRAME],
    out: Vec<u8>,
    pub packets_sent: u64,
}

impl RtpTx {
    pub fn new(codec: G711, audio_pt: u8, dtmf_pt: u8) -> Self {
        RtpTx {
            codec,
            audio_pt,
            dtmf_pt,
            ssrc: rand::random(),
            seq: rand::random(),
            ts: rand::random(),
            first: true,
            source: TxSource::Silence,
            pcm: [0; FRAME],
            payload: [0; FRAME],
            out: Vec::with_capacity(12 + FRAME),
            packets_sent: 0,
        }
    }

    /// Renegotiated media (re-INVITE): keeps SSRC, sequence and timestamp.
    pub fn set_format(&mut self, codec: G711, audio_pt: u8, dtmf_pt: u8) {
        self.codec = codec;
        self.audio_pt = audio_pt;
        self.dtmf_pt = dtmf_pt;
    }

    /// True when nothing but silence is queued (a play or DTMF digit ended).
    pub fn is_idle(&self) -> bool {
        matches!(self.source, TxSource::Silence)
    }

    pub fn play(&mut self, pcm: Arc<Vec<i16>>) {
        self.source = if pcm.is_empty() {
            TxSource::Silence
        } else {
            TxSource::Play { pcm, pos: 0 }
        };
    }

    pub fn dtmf(&mut self, packets: Vec<EventPacket>) {
        self.source = TxSource::Dtmf {
            packets,
            next: 0,
            event_ts: 0,
            gap: DTMF_GAP_FRAMES,
        };
    }

    pub fn silence(&mut self) {
        self.source = TxSource::Silence;
    }

    /// The packet for this 20 ms tick.
    pub fn next_packet(&mut self) -> &[u8] {
        let tick_ts = self.ts;
        self.ts = self.ts.wrapping_add(FRAME as u32);
        let mut header = RtpHeader {
            payload_type: self.audio_pt,
            sequence: self.seq,
            timestamp: tick_ts,
            ssrc: self.ssrc,
            marker: self.first,
        };
        self.first = false;
        self.seq = self.seq.wrapping_add(1);
        self.packets_sent += 1;
        let silence_byte = self.codec.silence_byte();
        let mut payload_len = FRAME;
        let mut done = false;
        match &mut self.source {
            TxSource::Silence => self.payload.fill(silence_byte),
            TxSource::Play { pcm, pos } => {
                let end = (*pos + FRAME).min(pcm.len());
                let n = end - *pos;
                self.pcm[..n].copy_from_slice(&pcm[*pos..end]);
                self.pcm[n..].fill(0);
                self.codec.encode(&self.pcm, &mut self.payload);
                *pos = end;
                done = end >= pcm.len();
            }
            TxSource::Dtmf {
                packets,
                next,
                event_ts,
                gap,
            } => {
                if *next < packets.len() {
                    if *next == 0 {
                        *event_ts = tick_ts;
                    }
                    let p = packets[*next];
                    *next += 1;
                    header.payload_type = self.dtmf_pt;
                    header.timestamp = *event_ts;
                    header.marker = p.marker;
                    self.payload[..4].copy_from_slice(&p.payload);
                    payload_len = 4;
                } else {
                    self.payload.fill(silence_byte);
                    *gap = gap.saturating_sub(1);
                    done = *gap == 0;
                }
            }
        }
        if done {
            self.source = TxSource::Silence;
        }
        rtp::write(&header, &self.payload[..payload_len], &mut self.out);
        &self.out
    }
}

/// What one received datagram was, for the call's event log.
#[derive(Debug, PartialEq, Eq)]
pub enum RxNote {
    Nothing,
    /// The end of an RFC 4733 event from the agent (first end packet only).
    AgentDtmf(char),
}

struct Anchor {
    ssrc: u32,
    ts: u32,
    pos: i64,
}

/// The incoming stream: counts, loss, speech detection and the wall-clock
/// timeline of the agent's audio.
pub struct RtpRx {
    /// Only packets from here count (when known); others are "foreign".
    remote: Option<SocketAddr>,
    audio_pt: u8,
    codec: G711,
    dtmf_pt: u8,
    /// Timeline origin: the moment the 200 OK arrived.
    origin: Instant,
    pub timeline: Vec<i16>,
    cap: usize,
    anchor: Option<Anchor>,
    stats: RtpStats,
    stats_ssrc: Option<u32>,
    lost_closed: i64,
    pub received: u64,
    pub foreign: u64,
    pub first_voice: Option<Instant>,
    pub last_voice: Option<Instant>,
    /// The agent's voice activity since `origin`: spans of speech frames
    /// (start of the first, end of the last), by arrival time; frames at
    /// most [`SPAN_BRIDGE`] apart belong to one span. Capped at [`MAX_SPANS`].
    pub speech_spans: Vec<(Duration, Duration)>,
    /// Keep the PCM timeline (false: only counts, speech spans and stats).
    record_audio: bool,
    reordered_closed: u64,
    jitter_max_ms: f64,
    dtmf: DtmfDecoder,
    decoded: [i16; FRAME],
}

/// Speech frames this close (arrival to arrival end) form one speech span:
/// bridges packet-level dropouts and short clipped gaps, not pauses.
pub const SPAN_BRIDGE: Duration = Duration::from_millis(100);
/// Cap on the speech spans kept per call.
pub const MAX_SPANS: usize = 4_096;

/// A packet that lands more than this behind its timestamp-predicted place
/// re-anchors the stream (the sender paused without advancing its clock).
const LATE_REANCHOR: i64 = 100 * 8;
/// ... or this far ahead (a timestamp jump).
const EARLY_REANCHOR: i64 = 1_000 * 8;

impl RtpRx {
    pub fn new(origin: Instant, max_duration: Duration) -> Self {
        let cap = ((max_duration + Duration::from_secs(2)).as_millis() as usize).saturating_mul(8);
        RtpRx {
            remote: None,
            audio_pt: 0,
            codec: G711::Pcmu,
            dtmf_pt: crate::caller::sdp::DEFAULT_TELEPHONE_EVENT_PT,
            origin,
            timeline: Vec::new(),
            cap,
            anchor: None,
            stats: RtpStats::new(),
            stats_ssrc: None,
            lost_closed: 0,
            received: 0,
            foreign: 0,
            first_voice: None,
            last_voice: None,
            speech_spans: Vec::new(),
            record_audio: true,
            reordered_closed: 0,
            jitter_max_ms: 0.0,
            dtmf: DtmfDecoder::new(CLOCK_HZ),
            decoded: [0; FRAME],
        }
    }

    pub fn set_remote(
        &mut self,
        remote: Option<SocketAddr>,
        codec: G711,
        audio_pt: u8,
        dtmf_pt: u8,
    ) {
        self.remote = remote;
        self.codec = codec;
        self.audio_pt = audio_pt;
        self.dtmf_pt = dtmf_pt;
    }

    /// Restarts the timeline at `origin` (the 200 OK): early media before it
    /// is counted but neither kept nor taken as agent speech.
    pub fn set_origin(&mut self, origin: Instant) {
        self.origin = origin;
        self.timeline.clear();
        self.anchor = None;
        self.first_voice = None;
        self.last_voice = None;
        self.speech_spans.clear();
    }

    /// False: decode only to detect speech; keep no PCM timeline (for load
    /// tests: a call then costs a few KB instead of 16 KB per second).
    pub fn set_record_audio(&mut self, record: bool) {
        self.record_audio = record;
        if !record {
            self.timeline = Vec::new();
        }
    }

    /// Packets that arrived after one with a higher sequence number (late or
    /// duplicated), summed over the agent's SSRCs.
    pub fn reordered(&self) -> u64 {
        self.reordered_closed + self.stats.reordered()
    }

    /// RFC 3550 inter-arrival jitter, ms: the highest estimate seen (over
    /// the agent's SSRCs, sampled at every packet).
    pub fn jitter_max_ms(&self) -> f64 {
        self.jitter_max_ms.max(self.stats.jitter_ms())
    }

    /// RFC 3550 inter-arrival jitter of the current SSRC, ms (the estimate
    /// at its latest packet).
    pub fn jitter_ms(&self) -> f64 {
        self.stats.jitter_ms()
    }

    fn note_speech(&mut self, now: Instant) {
        let start = now.saturating_duration_since(self.origin);
        let end = start + Duration::from_millis(20);
        if let Some(last) = self.speech_spans.last_mut() {
            if start <= last.1 + SPAN_BRIDGE {
                last.1 = last.1.max(end);
                return;
            }
        }
        if self.speech_spans.len() < MAX_SPANS {
            self.speech_spans.push((start, end));
        }
    }

    /// Packets lost so far (RFC 3550 A.3, summed over the agent's SSRCs).
    pub fn lost(&self) -> u64 {
        (self.lost_closed + self.stats.lost()).max(0) as u64
    }

    /// True when a speech frame arrived at or after `since`.
    pub fn voice_since(&self, since: Instant) -> bool {
        self.last_voice.is_some_and(|t| t >= since)
    }

    pub fn on_datagram(&mut self, data: &[u8], from: SocketAddr, now: Instant) -> RxNote {
        if self.remote.is_some_and(|r| r != from) {
            self.foreign += 1;
            return RxNote::Nothing;
        }
        let Ok((h, payload)) = rtp::parse(data) else {
            self.foreign += 1;
            return RxNote::Nothing;
        };
        let codec = if h.payload_type == self.audio_pt {
            Some(self.codec)
        } else {
            G711::from_payload_type(h.payload_type)
        };
        let is_event = h.payload_type == self.dtmf_pt;
        if codec.is_none() && !is_event && h.payload_type != PT_CN {
            self.foreign += 1;
            return RxNote::Nothing;
        }
        self.received += 1;
        if self.stats_ssrc != Some(h.ssrc) {
            if self.stats_ssrc.is_some() {
                self.lost_closed += self.stats.lost().max(0);
                self.reordered_closed += self.stats.reordered();
                self.jitter_max_ms = self.jitter_max_ms.max(self.stats.jitter_ms());
            }
            self.stats = RtpStats::new();
            self.stats_ssrc = Some(h.ssrc);
        }
        let arrival_ms = now.saturating_duration_since(self.origin).as_millis() as u64;
        self.stats
            .on_packet(h.sequence, h.timestamp, arrival_ms, CLOCK_HZ);
        self.jitter_max_ms = self.jitter_max_ms.max(self.stats.jitter_ms());

        if is_event {
            return self.on_event(&h, payload);
        }
        let Some(codec) = codec else {
            return RxNote::Nothing;
        };
        let n = payload.len().min(FRAME * 4);
        // Decode in 160-sample chunks (ptime may exceed 20 ms).
        let arrival_pos =
            (now.saturating_duration_since(self.origin).as_micros() as i64) * 8 / 1000;
        let pos = self.place(&h, arrival_pos);
        let mut voiced = false;
        let mut off = 0;
        while off < n {
            let m = (n - off).min(FRAME);
            codec.decode(&payload[off..off + m], &mut self.decoded[..m]);
            let frame = &self.decoded[..m];
            if rms(frame) >= SPEECH_RMS {
                voiced = true;
            }
            if self.record_audio {
                write_at(&mut self.timeline, self.cap, pos + off as i64, frame);
            }
            off += m;
        }
        if voiced {
            self.first_voice.get_or_insert(now);
            self.last_voice = Some(now);
            self.note_speech(now);
        }
        RxNote::Nothing
    }

    /// Timeline position of an audio packet: by RTP timestamp relative to
    /// the stream's anchor, re-anchored to the arrival time on a new SSRC or
    /// a timestamp discontinuity.
    fn place(&mut self, h: &RtpHeader, arrival_pos: i64) -> i64 {
        if let Some(a) = &self.anchor {
            if a.ssrc == h.ssrc {
                let p = a.pos + h.timestamp.wrapping_sub(a.ts) as i32 as i64;
                if p >= arrival_pos - LATE_REANCHOR && p <= arrival_pos + EARLY_REANCHOR {
                    return p;
                }
            }
        }
        self.anchor = Some(Anchor {
            ssrc: h.ssrc,
            ts: h.timestamp,
            pos: arrival_pos,
        });
        arrival_pos
    }

    fn on_event(&mut self, h: &RtpHeader, payload: &[u8]) -> RxNote {
        match self.dtmf.push(h.timestamp, h.marker, payload) {
            Ok(Some(ev)) => RxNote::AgentDtmf(ev.digit),
            _ => RxNote::Nothing,
        }
    }
}

/// Root mean square of a PCM slice (0 for an empty one).
pub fn rms(pcm: &[i16]) -> f64 {
    if pcm.is_empty() {
        return 0.0;
    }
    let sum: f64 = pcm.iter().map(|&s| (s as f64) * (s as f64)).sum();
    (sum / pcm.len() as f64).sqrt()
}

/// Writes `frame` at `pos` (samples since origin), zero-filling any gap,
/// clipping to `cap` samples and dropping what lies before 0.
fn write_at(timeline: &mut Vec<i16>, cap: usize, pos: i64, frame: &[i16]) {
    let (skip, start) = if pos < 0 {
        ((-pos) as usize, 0usize)
    } else {
        (0, pos as usize)
    };
    if skip >= frame.len() || start >= cap {
        return;
    }
    let frame = &frame[skip..];
    let end = (start + frame.len()).min(cap);
    if timeline.len() < end {
        timeline.resize(end, 0);
    }
    timeline[start..end].copy_from_slice(&frame[..end - start]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "127.0.0.1:7000".parse().unwrap()
    }

    fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        rtp::write(
            &RtpHeader {
                payload_type: pt,
                sequence: seq,
                timestamp: ts,
                ssrc,
                marker: false,
            },
            payload,
            &mut out,
        );
        out
    }

    #[test]
    fn tx_paces_sequence_and_timestamp_and_plays_then_silence() {
        let mut tx = RtpTx::new(G711::Pcmu, 0, 101);
        let first = rtp::parse(tx.next_packet()).unwrap().0;
        assert!(first.marker);
        let pcm: Vec<i16> = (0..400)
            .map(|i| ((i as f64 * 0.3).sin() * 8000.0) as i16)
            .collect();
        tx.play(Arc::new(pcm));
        let mut frames = 0;
        while !tx.is_idle() {
            let (h, p) = rtp::parse(tx.next_packet())
                .map(|(h, p)| (h, p.to_vec()))
                .unwrap();
            frames += 1;
            assert_eq!(h.sequence, first.sequence.wrapping_add(frames));
            assert_eq!(
                h.timestamp,
                first.timestamp.wrapping_add(160 * frames as u32)
            );
            assert!(!h.marker);
            assert_eq!(p.len(), 160);
            assert!(p.iter().any(|&b| b != 0xFF));
        }
        assert_eq!(frames, 3, "400 samples = 3 frames, the last one padded");
        let (_, p) = rtp::parse(tx.next_packet())
            .map(|(h, p)| (h, p.to_vec()))
            .unwrap();
        assert!(p.iter().all(|&b| b == 0xFF), "µ-law silence after the play");
        let mut a = RtpTx::new(G711::Pcma, 8, 101);
        let (h, p) = rtp::parse(a.next_packet())
            .map(|(h, p)| (h, p.to_vec()))
            .unwrap();
        assert_eq!(h.payload_type, 8);
        assert!(p.iter().all(|&b| b == 0xD5), "A-law silence");
    }

    #[test]
    fn tx_dtmf_event_shares_timestamp_then_gap() {
        let mut tx = RtpTx::new(G711::Pcmu, 0, 101);
        let _ = tx.next_packet();
        let ev = vec![
            EventPacket {
                payload: [5, 10, 0, 160],
                marker: true,
            },
            EventPacket {
                payload: [5, 10, 1, 64],
                marker: false,
            },
            EventPacket {
                payload: [5, 0x80 | 10, 1, 64],
                marker: false,
            },
        ];
        tx.dtmf(ev);
        let mut hs = Vec::new();
        while !tx.is_idle() {
            let (h, p) = rtp::parse(tx.next_packet())
                .map(|(h, p)| (h, p.to_vec()))
                .unwrap();
            hs.push((h, p));
        }
        assert_eq!(hs.len(), 3 + DTMF_GAP_FRAMES as usize);
        assert!(hs[..3].iter().all(|(h, p)| h.payload_type == 101
            && h.timestamp == hs[0].0.timestamp
            && p.len() == 4));
        assert!(hs[0].0.marker && !hs[1].0.marker);
        assert!(hs[3..]
            .iter()
            .all(|(h, p)| h.payload_type == 0 && p.len() == 160));
        assert_eq!(hs[3].0.timestamp, hs[0].0.timestamp.wrapping_add(3 * 160));
    }

    #[test]
    fn rx_counts_loss_foreign_and_places_audio_on_the_timeline() {
        let t0 = Instant::now();
        let mut rx = RtpRx::new(t0, Duration::from_secs(10));
        rx.set_remote(Some(addr()), G711::Pcmu, 0, 101);
        let loud = [0x10u8; 160]; // large-magnitude µ-law codes
        let quiet = [0xFFu8; 160];
        // seq 10, 11, (12 lost), 13 at 0, 20, 60 ms; timestamps follow.
        for (seq, ms, payload) in [(10u16, 0u64, &quiet), (11, 20, &loud), (13, 60, &loud)] {
            let ts = 1000 + (seq as u32 - 10) * 160;
            let note = rx.on_datagram(
                &packet(0, seq, ts, 77, payload),
                addr(),
                t0 + Duration::from_millis(500 + ms),
            );
            assert_eq!(note, RxNote::Nothing);
        }
        rx.on_datagram(
            &packet(0, 14, 0, 77, &loud),
            "127.0.0.1:7001".parse().unwrap(),
            t0,
        );
        rx.on_datagram(&packet(96, 14, 0, 77, &loud), addr(), t0);
        rx.on_datagram(b"junk", addr(), t0);
        assert_eq!(rx.received, 3);
        assert_eq!(rx.foreign, 3);
        assert_eq!(rx.lost(), 1);
        assert_eq!(rx.first_voice, Some(t0 + Duration::from_millis(520)));
        assert_eq!(rx.last_voice, Some(t0 + Duration::from_millis(560)));
        // Quiet at 500 ms, loud 520-540 ms, gap (lost) 540-560, loud 560-580.
        let tl = &rx.timeline;
        assert_eq!(tl.len(), 580 * 8);
        assert!(rms(&tl[..4000]) < 1.0);
        assert!(rms(&tl[4160..4320]) > 1000.0);
        assert!(rms(&tl[4320..4480]) < 1.0);
        assert!(rms(&tl[4480..4640]) > 1000.0);
    }

    #[test]
    fn rx_reanchors_after_a_pause_without_timestamp_advance_and_reports_dtmf_once() {
        let t0 = Instant::now();
        let mut rx = RtpRx::new(t0, Duration::from_secs(10));
        rx.set_remote(Some(addr()), G711::Pcmu, 0, 101);
        let loud = [0x10u8; 160];
        rx.on_datagram(
            &packet(0, 1, 0, 5, &loud),
            addr(),
            t0 + Duration::from_millis(100),
        );
        // Next packet only 2 s later but with the next timestamp: placed at arrival.
        rx.on_datagram(
            &packet(0, 2, 160, 5, &loud),
            addr(),
            t0 + Duration::from_millis(2100),
        );
        assert_eq!(rx.timeline.len(), 2120 * 8);
        assert!(rms(&rx.timeline[1000 * 8..2000 * 8]) < 1.0);
        let end = [7u8, 0x80 | 10, 3, 0];
        assert_eq!(
            rx.on_datagram(&packet(101, 3, 999, 5, &end), addr(), t0),
            RxNote::AgentDtmf('7')
        );
        assert_eq!(
            rx.on_datagram(&packet(101, 4, 999, 5, &end), addr(), t0),
            RxNote::Nothing
        );
        assert_eq!(rx.lost(), 0);
    }

    #[test]
    fn rx_without_audio_keeps_speech_spans_reorder_and_jitter() {
        let t0 = Instant::now();
        let mut rx = RtpRx::new(t0, Duration::from_secs(10));
        rx.set_record_audio(false);
        rx.set_remote(Some(addr()), G711::Pcmu, 0, 101);
        let loud = [0x10u8; 160];
        let quiet = [0xFFu8; 160];
        // Speech 100-200 ms (seq 5 arrives late, after 6), silence, speech 600-640 ms.
        let plan: [(u16, u64, &[u8; 160]); 9] = [
            (0, 0, &quiet),
            (1, 100, &loud),
            (2, 120, &loud),
            (3, 140, &loud),
            (4, 160, &loud),
            (6, 180, &loud),
            (5, 181, &loud),
            (7, 600, &loud),
            (8, 620, &loud),
        ];
        for (seq, ms, p) in plan {
            rx.on_datagram(
                &packet(0, seq, seq as u32 * 160, 9, p),
                addr(),
                t0 + Duration::from_millis(ms),
            );
        }
        assert!(rx.timeline.is_empty(), "no PCM kept");
        assert_eq!(
            rx.speech_spans,
            vec![
                (Duration::from_millis(100), Duration::from_millis(201)),
                (Duration::from_millis(600), Duration::from_millis(640)),
            ]
        );
        assert_eq!(rx.reordered(), 1);
        assert_eq!(rx.lost(), 0);
        assert!(rx.jitter_max_ms() > 0.0);
    }
}
