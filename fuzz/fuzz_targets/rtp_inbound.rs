//! Arbitrary datagrams through a call's inbound RTP path, as the call actor
//! runs it: RTP header parse (RFC 3550), symmetric source latching
//! (RFC 4961), RFC 4733 telephone-events to the DTMF decoder, audio to the
//! zero-delay reordering buffer (popped after every packet, ticked every
//! few). The input is a list of records `[source][length][length bytes]`;
//! `source` picks one of four peers. Nothing may panic, and the reordering
//! buffer never hands out more audio than it accepted.
#![no_main]

use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use parla_media::dtmf::DtmfDecoder;
use parla_media::jitter::{JitterFrame, PushResult};
use parla_media::latch::RtpLatch;
use parla_media::reorder::{ReorderBuffer, REORDER_MAX_PAYLOAD_BYTES};
use parla_media::rtp;

/// The telephone-event payload type the fuzzed session negotiated.
const DTMF_PT: u8 = 101;

fuzz_target!(|data: &[u8]| {
    let peers: [SocketAddr; 4] = [
        "198.51.100.1:4000".parse().unwrap(),
        "198.51.100.1:4002".parse().unwrap(),
        "198.51.100.2:4000".parse().unwrap(),
        "[2001:db8::1]:4000".parse().unwrap(),
    ];
    let mut latch = RtpLatch::new(Some(peers[0]));
    let mut reorder = ReorderBuffer::new(3);
    let mut dtmf = DtmfDecoder::new(8000);
    let (mut accepted, mut delivered) = (0u64, 0u64);
    let mut rest = data;
    let mut n = 0u32;
    while rest.len() >= 2 {
        let source = peers[(rest[0] & 3) as usize];
        let len = (rest[1] as usize).min(rest.len() - 2);
        let packet = &rest[2..2 + len];
        rest = &rest[2 + len..];
        n += 1;
        let Ok((header, payload)) = rtp::parse(packet) else {
            continue;
        };
        if !latch.accept(source) {
            continue;
        }
        assert_eq!(latch.latched(), Some(source));
        if header.payload_type == DTMF_PT {
            if let Ok(Some(event)) = dtmf.push(header.timestamp, header.marker, payload) {
                assert!("0123456789*#ABCD".contains(event.digit), "{event:?}");
            }
            continue;
        }
        let resyncs = reorder.stats().resyncs;
        if reorder.push(header.sequence, header.timestamp, payload) == PushResult::Accepted {
            // A resync also stores the far-away packet held back earlier.
            accepted += 1 + (reorder.stats().resyncs - resyncs);
        }
        if n % 3 == 0 {
            reorder.tick();
        }
        while let Some(frame) = reorder.pop() {
            if let JitterFrame::Audio(bytes) = frame {
                assert!(bytes.len() <= REORDER_MAX_PAYLOAD_BYTES);
                delivered += 1;
            }
        }
        assert!(delivered <= accepted, "{delivered} frames out of {accepted} accepted");
    }
    let _ = dtmf.finish();
});
