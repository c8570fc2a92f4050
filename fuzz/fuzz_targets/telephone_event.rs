//! RFC 4733 telephone-events: arbitrary payloads, timestamps and marker bits
//! through the DTMF decoder must not panic; and a digit encoded by the
//! DTMF encoder (digit, duration and volume from the input) decodes to
//! exactly that digit, once, even with the packets' payloads followed by
//! arbitrary ones.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parla_media::dtmf::{DtmfDecoder, DtmfEncoder};

const DIGITS: &[u8] = b"0123456789*#ABCD";

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    // Part 1: raw packets `[ts hi][ts lo][marker][4-byte payload]`.
    let mut decoder = DtmfDecoder::new(8000);
    for chunk in data[4..].chunks(7) {
        if chunk.len() < 3 {
            break;
        }
        let ts = u32::from(chunk[0]) << 8 | u32::from(chunk[1]);
        let _ = decoder.push(ts, chunk[2] & 1 == 1, &chunk[3..]);
    }
    let _ = decoder.finish();

    // Part 2: an encoded digit round-trips.
    let digit = DIGITS[(data[0] % 16) as usize] as char;
    let duration_ms = 40 + u32::from(data[1]) * 8; // 40..2080 ms
    let volume = data[2] % 64;
    let ts = u32::from(data[3]) << 24;
    let packets = DtmfEncoder::packets(digit, duration_ms, volume, 8000).expect("valid digit");
    let mut decoder = DtmfDecoder::new(8000);
    let mut events = Vec::new();
    for p in &packets {
        if let Some(e) = decoder.push(ts, p.marker, &p.payload).expect("own packets parse") {
            events.push(e);
        }
    }
    if let Some(e) = decoder.finish() {
        events.push(e);
    }
    assert_eq!(events.len(), 1, "{digit} {duration_ms} ms: {events:?}");
    assert_eq!(events[0].digit, digit);
});
