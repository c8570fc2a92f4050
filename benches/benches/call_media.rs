//! One call's per-frame media work, what the call actor does every 20 ms
//! besides socket IO and the conversation core:
//! `InboundMedia::push_datagram` (latch, RTP parse, reordering-buffer push) of the
//! caller's packet, `InboundMedia::next_frame` (reorder pop, G.711 decode,
//! 8→16 kHz, VAD) and `PacedSender::tick` (G.711 encode + RTP header) of the
//! agent's packet.
//!
//! The caller's RTP packets are written with `parla_media::rtp::write`
//! outside the timed routine (criterion `iter_batched`): on a real call
//! they come from the network. Variants:
//! - `speech_in_audio_out`: caller speech-like audio in, agent audio out
//!   (the pacer is refilled with 1 s of audio whenever it runs low; that
//!   `push_audio` is timed, amortized over 50 frames);
//! - `silence_in_silence_out`: silent packets in (no DTX), nothing queued
//!   out (the pacer sends silence).
//!
//! `rtp_write` times the packet writing alone, for reference.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use parla_benches::{caller_rtp_addr, samples_per_frame, speech_like};
use parla_engine::call::{Datagram, InboundMedia};
use parla_media::g711::G711;
use parla_media::pacer::{PacedSender, PACER_PACKET_LEN};
use parla_media::rtp::{self, RtpHeader};

/// Frames of distinct audio cycled through (1 s).
const FRAMES: usize = 50;
const CODEC: G711 = G711::Pcmu;
const DTMF_PT: u8 = 101;

/// The caller's stream: G.711 payloads cycled, sequence / timestamp rising.
struct Caller {
    payloads: Vec<Vec<u8>>,
    header: RtpHeader,
    k: usize,
}

impl Caller {
    fn new(pcm_8k: &[i16]) -> Self {
        let n = samples_per_frame(8_000);
        let payloads = pcm_8k
            .chunks_exact(n)
            .take(FRAMES)
            .map(|f| {
                let mut p = vec![0u8; n];
                CODEC.encode(f, &mut p);
                p
            })
            .collect();
        Caller {
            payloads,
            header: RtpHeader {
                payload_type: CODEC.payload_type(),
                sequence: 4_321,
                timestamp: 987_654,
                ssrc: 0x5EED_CA11,
                marker: false,
            },
            k: 0,
        }
    }

    fn next_packet(&mut self, out: &mut Vec<u8>) {
        rtp::write(&self.header, &self.payloads[self.k % FRAMES], out);
        self.k += 1;
        self.header.sequence = self.header.sequence.wrapping_add(1);
        self.header.timestamp = self.header.timestamp.wrapping_add(160);
    }
}

/// The call's media state: inbound chain and paced sender.
struct CallMedia {
    inbound: InboundMedia,
    pacer: PacedSender,
    agent_audio: Option<Vec<i16>>,
    segment: u64,
    packet: Vec<u8>,
}

impl CallMedia {
    fn new(agent_audio: Option<Vec<i16>>) -> Self {
        let remote = caller_rtp_addr();
        CallMedia {
            inbound: InboundMedia::new(CODEC, CODEC.payload_type(), Some(DTMF_PT), Some(remote)),
            pacer: PacedSender::new(CODEC, 0xA6E7_0001, 100, 1_000),
            agent_audio,
            segment: 0,
            packet: Vec::with_capacity(PACER_PACKET_LEN),
        }
    }

    /// One 20 ms tick: returns (caller datagram kind, VAD speech, concealed).
    #[inline]
    fn frame(&mut self, datagram: &[u8]) -> (Datagram, bool, bool) {
        let kind = self.inbound.push_datagram(caller_rtp_addr(), datagram);
        self.inbound.tick();
        let (speech, concealed) = match self.inbound.next_frame() {
            Some(f) => {
                black_box(f.pcm_16k);
                (f.speech, f.concealed)
            }
            None => (false, true),
        };
        if let Some(audio) = &self.agent_audio {
            if self.pacer.queued_samples() < 2 * samples_per_frame(8_000) {
                self.segment += 1;
                self.pacer.push_audio(self.segment, audio);
            }
        }
        black_box(self.pacer.tick(&mut self.packet));
        black_box(&self.packet);
        (kind, speech, concealed)
    }
}

fn call_media(c: &mut Criterion) {
    let speech_8k = speech_like(8_000, 1.0);
    let silence_8k = vec![0i16; 8_000];
    let cases = [
        ("speech_in_audio_out", &speech_8k, Some(speech_8k.clone())),
        ("silence_in_silence_out", &silence_8k, None),
    ];

    // Sanity: packets are taken as audio, played without concealment, and
    // the speech-like input is (mostly) detected as speech.
    for (name, input, out) in &cases {
        let mut caller = Caller::new(input);
        let mut media = CallMedia::new(out.clone());
        let mut pkt = Vec::new();
        let (mut speech, mut concealed) = (0, 0);
        for i in 0..500 {
            caller.next_packet(&mut pkt);
            let (kind, s, cn) = media.frame(&pkt);
            assert_eq!(kind, Datagram::Audio);
            if i >= 10 {
                speech += s as usize;
                concealed += cn as usize;
            }
        }
        assert_eq!(concealed, 0, "{name}");
        assert_eq!(media.packet.len(), PACER_PACKET_LEN);
        eprintln!("call_media/{name}: {speech} of 490 frames scored as speech");
    }

    let mut group = c.benchmark_group("call_media");
    group.throughput(Throughput::Elements(1));
    for (name, input, out) in cases {
        let mut caller = Caller::new(input);
        let mut media = CallMedia::new(out);
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let mut pkt = Vec::with_capacity(PACER_PACKET_LEN);
                    caller.next_packet(&mut pkt);
                    pkt
                },
                |pkt| {
                    black_box(media.frame(&pkt));
                    pkt
                },
                BatchSize::SmallInput,
            )
        });
    }

    let mut caller = Caller::new(&speech_8k);
    let mut pkt = Vec::with_capacity(PACER_PACKET_LEN);
    group.bench_function("rtp_write", |b| {
        b.iter(|| {
            caller.next_packet(&mut pkt);
            black_box(&pkt);
        })
    });
    group.finish();
}

criterion_group!(benches, call_media);
criterion_main!(benches);
