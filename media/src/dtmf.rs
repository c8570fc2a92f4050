//! DTMF over RTP as RFC 4733 telephone-events (events 0–15).
//!
//! Payload (RFC 4733 §2.3), 4 bytes:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |     event     |E|R| volume    |          duration             |
//! ```
//!
//! All packets of one event share the RTP timestamp of the event start; the
//! first carries the marker bit; `duration` (timestamp units) grows with each
//! update; the final packet has E set and is sent three times (§2.5.1.4).

/// Size of a telephone-event payload, in bytes.
pub const DTMF_PAYLOAD_LEN: usize = 4;
/// Interval between event update packets, in milliseconds.
pub const DTMF_PACKET_INTERVAL_MS: u32 = 20;
/// Copies of the end packet sent (RFC 4733 §2.5.1.4 recommends three).
pub const DTMF_END_PACKETS: usize = 3;
/// Largest volume field: 63 means −63 dBm0 (RFC 4733 §2.3.4).
pub const DTMF_MAX_VOLUME: u8 = 63;
/// Packets up to this many seconds (of RTP timestamp) older than the current
/// event are stragglers and ignored; older ones mean the stream restarted.
pub const DTMF_STRAGGLER_WINDOW_S: u32 = 10;
/// Clock rate assumed when 0 Hz is passed, in Hz.
const DEFAULT_CLOCK_HZ: u32 = 8_000;

/// Why a DTMF payload or request is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DtmfError {
    /// Payload shorter than 4 bytes.
    #[error("telephone-event payload too short: {0} bytes, need {DTMF_PAYLOAD_LEN}")]
    TooShort(usize),
    /// Not one of 0–9, *, #, A–D.
    #[error("not a DTMF digit: {0:?}")]
    InvalidDigit(char),
    /// Volume above 63 (−dBm0).
    #[error("volume {0} out of range 0..=63")]
    InvalidVolume(u8),
    /// Zero duration, or longer than the 16-bit duration field allows
    /// (65535 timestamp units, ~8 s at 8 kHz).
    #[error("invalid DTMF duration {0} ms")]
    InvalidDuration(u32),
}

/// One detected key press.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DtmfEvent {
    /// `0`–`9`, `*`, `#`, `A`–`D`.
    pub digit: char,
    /// Duration as reported by the sender, in milliseconds.
    pub duration_ms: u32,
}

/// The RFC 4733 event code (0–15) of a DTMF digit; `a`–`d` are accepted.
pub fn digit_to_event(c: char) -> Option<u8> {
    match c {
        '0'..='9' => Some(c as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(c as u8 - b'A' + 12),
        'a'..='d' => Some(c as u8 - b'a' + 12),
        _ => None,
    }
}

/// The DTMF digit of an RFC 4733 event code (0–15).
pub fn event_to_digit(e: u8) -> Option<char> {
    match e {
        0..=9 => Some((b'0' + e) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + e - 12) as char),
        _ => None,
    }
}

/// Decoded fields of a telephone-event payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Payload {
    event: u8,
    end: bool,
    volume: u8,
    duration: u16,
}

fn parse_payload(p: &[u8]) -> Result<Payload, DtmfError> {
    if p.len() < DTMF_PAYLOAD_LEN {
        return Err(DtmfError::TooShort(p.len()));
    }
    Ok(Payload {
        event: p[0],
        end: p[1] & 0x80 != 0,
        volume: p[1] & 0x3F,
        duration: u16::from_be_bytes([p[2], p[3]]),
    })
}

#[derive(Clone, Copy, Debug)]
struct Current {
    timestamp: u32,
    event: u8,
    /// Timestamp units of earlier segments of a long event (§2.5.2.1).
    base_duration: u64,
    duration: u16,
    emitted: bool,
}

/// Turns a stream of telephone-event packets into key presses, each emitted
/// exactly once.
///
/// A digit is emitted on the first packet of its event with the E bit
/// (RFC 4733 §2.5.1.3); the redundant end packets share its timestamp and
/// are ignored. If all end packets are lost, the digit is emitted when the
/// next event (new timestamp) starts, or by [`finish`](Self::finish).
/// Late packets of an event older than the current one (within
/// [`DTMF_STRAGGLER_WINDOW_S`]) are ignored. Events other than 0–15 (e.g.
/// flash) are ignored.
pub struct DtmfDecoder {
    clock_hz: u32,
    current: Option<Current>,
}

impl DtmfDecoder {
    /// A decoder for a telephone-event stream with an RTP clock of
    /// `clock_hz` (8000 for `telephone-event/8000`; 0 is taken as 8000).
    pub fn new(clock_hz: u32) -> Self {
        let clock_hz = if clock_hz == 0 {
            DEFAULT_CLOCK_HZ
        } else {
            clock_hz
        };
        DtmfDecoder {
            clock_hz,
            current: None,
        }
    }

    /// Feeds one packet's RTP `timestamp`, `marker` bit and payload.
    pub fn push(
        &mut self,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
    ) -> Result<Option<DtmfEvent>, DtmfError> {
        let p = parse_payload(payload)?;
        if event_to_digit(p.event).is_none() {
            return Ok(None);
        }
        // A previous digit whose end packets were all lost, due now.
        let mut lost = None;
        match self.current.as_mut() {
            Some(cur) if cur.timestamp == timestamp && cur.event == p.event => {
                cur.duration = cur.duration.max(p.duration);
            }
            Some(cur) if is_straggler(cur.timestamp, timestamp, self.clock_hz) => {
                // A late packet of an earlier event.
                return Ok(None);
            }
            Some(cur)
                if cur.timestamp != timestamp
                    && !marker
                    && !cur.emitted
                    && cur.event == p.event =>
            {
                // Long-duration event continuing in a new segment (§2.5.2.1).
                cur.base_duration += timestamp.wrapping_sub(cur.timestamp) as u64;
                cur.timestamp = timestamp;
                cur.duration = p.duration;
            }
            _ => {
                // A new event (or, malformed, a new event code reusing the
                // timestamp).
                lost = self.take_unemitted();
                self.start(timestamp, p);
            }
        }
        if p.end && lost.is_none() {
            // If a lost digit is being reported now, this one stays pending
            // and its redundant end packets report it.
            let clock_hz = self.clock_hz;
            if let Some(cur) = self.current.as_mut().filter(|c| !c.emitted) {
                cur.emitted = true;
                return Ok(Some(event_of(
                    clock_hz,
                    cur.event,
                    cur.base_duration + cur.duration as u64,
                )));
            }
        }
        Ok(lost)
    }

    /// Forgets the current event without emitting it (new stream).
    pub fn reset(&mut self) {
        self.current = None;
    }

    /// Emits the current digit if its end packets never arrived (call it when
    /// the call ends or the stream goes quiet).
    pub fn finish(&mut self) -> Option<DtmfEvent> {
        self.take_unemitted()
    }

    fn start(&mut self, timestamp: u32, p: Payload) {
        self.current = Some(Current {
            timestamp,
            event: p.event,
            base_duration: 0,
            duration: p.duration,
            emitted: false,
        });
    }

    fn take_unemitted(&mut self) -> Option<DtmfEvent> {
        let cur = self.current.as_mut().filter(|c| !c.emitted)?;
        cur.emitted = true;
        Some(event_of(
            self.clock_hz,
            cur.event,
            cur.base_duration + cur.duration as u64,
        ))
    }
}

/// A packet whose timestamp is slightly older than the current event's is a
/// late packet of an earlier event. A larger backward jump is a new stream
/// (e.g. a re-INVITE with a new random timestamp base) and starts an event.
fn is_straggler(current: u32, timestamp: u32, clock_hz: u32) -> bool {
    let behind = current.wrapping_sub(timestamp);
    behind != 0 && (behind as u64) < DTMF_STRAGGLER_WINDOW_S as u64 * clock_hz as u64
}

fn event_of(clock_hz: u32, event: u8, units: u64) -> DtmfEvent {
    DtmfEvent {
        digit: event_to_digit(event).unwrap_or('?'),
        duration_ms: (units * 1000 / clock_hz as u64).min(u32::MAX as u64) as u32,
    }
}

/// One telephone-event packet to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DtmfPacket {
    /// The 4-byte RFC 4733 payload.
    pub payload: [u8; DTMF_PAYLOAD_LEN],
    /// RTP marker bit (set on the first packet of the event only).
    pub marker: bool,
    /// This is one of the end packets (E bit set).
    pub end: bool,
}

/// Builds the packet plan for sending one digit (RFC 4733 §2.5.1).
pub struct DtmfEncoder;

impl DtmfEncoder {
    /// The packets that send `digit` for `duration_ms` at `volume` (0–63,
    /// −dBm0; 10 is typical) with an RTP clock of `clock_hz` (0 → 8000).
    ///
    /// Send one packet per 20 ms tick, in order, each with the next sequence
    /// number and **all with the same RTP timestamp** (the event start):
    /// an update every 20 ms whose duration grows by 20 ms (the first carries
    /// the marker bit), then [`DTMF_END_PACKETS`] identical end packets
    /// carrying the full duration.
    pub fn packets(
        digit: char,
        duration_ms: u32,
        volume: u8,
        clock_hz: u32,
    ) -> Result<Vec<DtmfPacket>, DtmfError> {
        let event = digit_to_event(digit).ok_or(DtmfError::InvalidDigit(digit))?;
        if volume > DTMF_MAX_VOLUME {
            return Err(DtmfError::InvalidVolume(volume));
        }
        let clock_hz = if clock_hz == 0 {
            DEFAULT_CLOCK_HZ
        } else {
            clock_hz
        } as u64;
        let units = duration_ms as u64 * clock_hz / 1000;
        if duration_ms == 0 || units == 0 || units > u16::MAX as u64 {
            return Err(DtmfError::InvalidDuration(duration_ms));
        }
        let step = DTMF_PACKET_INTERVAL_MS as u64 * clock_hz / 1000;
        let payload = |end: bool, duration: u64| {
            let d = (duration as u16).to_be_bytes();
            [event, ((end as u8) << 7) | volume, d[0], d[1]]
        };
        let updates = (units - 1) / step; // updates strictly before the end
        let mut out = Vec::with_capacity(updates as usize + DTMF_END_PACKETS);
        for k in 1..=updates {
            out.push(DtmfPacket {
                payload: payload(false, k * step),
                marker: k == 1,
                end: false,
            });
        }
        for i in 0..DTMF_END_PACKETS {
            out.push(DtmfPacket {
                payload: payload(true, units),
                marker: updates == 0 && i == 0,
                end: true,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &str = "0123456789*#ABCD";

    #[test]
    fn digit_event_mapping() {
        for (i, c) in ALL.chars().enumerate() {
            assert_eq!(digit_to_event(c), Some(i as u8));
            assert_eq!(event_to_digit(i as u8), Some(c));
        }
        assert_eq!(digit_to_event('b'), Some(13));
        assert_eq!(digit_to_event('E'), None);
        assert_eq!(digit_to_event('x'), None);
        assert_eq!(event_to_digit(16), None);
    }

    #[test]
    fn redundant_end_packets_emit_once() {
        let mut d = DtmfDecoder::new(8000);
        let ts = 12_345;
        let pkts: [(bool, [u8; 4]); 7] = [
            (true, [5, 10, 0, 160]),
            (false, [5, 10, 1, 64]),
            (false, [5, 10, 1, 224]),
            (false, [5, 10, 2, 128]),
            (false, [5, 0x80 | 10, 3, 32]),
            (false, [5, 0x80 | 10, 3, 32]),
            (false, [5, 0x80 | 10, 3, 32]),
        ];
        let out: Vec<_> = pkts
            .iter()
            .filter_map(|(m, p)| d.push(ts, *m, p).unwrap())
            .collect();
        assert_eq!(
            out,
            [DtmfEvent {
                digit: '5',
                duration_ms: 100
            }]
        );
        // A late duplicate of the same event still does not repeat it.
        assert_eq!(d.push(ts, false, &[5, 0x80 | 10, 3, 32]).unwrap(), None);
        assert_eq!(d.finish(), None);
    }

    #[test]
    fn lost_end_packets_emit_when_next_event_starts() {
        let mut d = DtmfDecoder::new(8000);
        assert_eq!(d.push(1000, true, &[1, 10, 0, 160]).unwrap(), None);
        assert_eq!(d.push(1000, false, &[1, 10, 1, 64]).unwrap(), None);
        // End packets of '1' lost; '2' starts.
        let ev = d.push(5000, true, &[2, 10, 0, 160]).unwrap();
        assert_eq!(
            ev,
            Some(DtmfEvent {
                digit: '1',
                duration_ms: 40
            })
        );
        let ev = d.push(5000, false, &[2, 0x80 | 10, 1, 64]).unwrap();
        assert_eq!(
            ev,
            Some(DtmfEvent {
                digit: '2',
                duration_ms: 40
            })
        );
        // Same digit pressed twice in a row: two events (different timestamps).
        assert_eq!(
            d.push(9000, true, &[2, 0x80 | 10, 0, 160])
                .unwrap()
                .map(|e| e.digit),
            Some('2')
        );
    }

    #[test]
    fn lost_end_then_end_only_event() {
        let mut d = DtmfDecoder::new(8000);
        d.push(1000, true, &[7, 10, 0, 160]).unwrap();
        // The next event's first surviving packet is already an end packet:
        // '7' is emitted now, '8' by its redundant end packet.
        let a = d.push(3000, false, &[8, 0x80 | 10, 0, 160]).unwrap();
        let b = d.push(3000, false, &[8, 0x80 | 10, 0, 160]).unwrap();
        let c = d.push(3000, false, &[8, 0x80 | 10, 0, 160]).unwrap();
        assert_eq!(a.map(|e| e.digit), Some('7'));
        assert_eq!(b.map(|e| e.digit), Some('8'));
        assert_eq!(c, None);
    }

    #[test]
    fn finish_flushes_an_unended_digit_and_stragglers_are_ignored() {
        let mut d = DtmfDecoder::new(8000);
        d.push(2000, true, &[9, 10, 0, 160]).unwrap();
        d.push(4000, true, &[3, 10, 0, 160]).unwrap();
        // A straggler from the older event is ignored, not a new event.
        assert_eq!(d.push(2000, false, &[9, 0x80 | 10, 1, 64]).unwrap(), None);
        assert_eq!(d.finish().map(|e| e.digit), Some('3'));
        assert_eq!(d.finish(), None);
        // A big backward timestamp jump is a new stream, not a straggler.
        let far_back = 4000u32.wrapping_sub(8000 * 3600);
        let ev = d.push(far_back, true, &[6, 0x80 | 10, 0, 160]).unwrap();
        assert_eq!(ev.map(|e| e.digit), Some('6'));
    }

    #[test]
    fn long_event_segments_accumulate() {
        let mut d = DtmfDecoder::new(8000);
        d.push(0, true, &[0, 10, 0xFF, 0xFF]).unwrap();
        // Next segment: new timestamp, no marker, same event.
        assert_eq!(d.push(65_535, false, &[0, 10, 0, 160]).unwrap(), None);
        let ev = d
            .push(65_535, false, &[0, 0x80 | 10, 0x0F, 0xA1])
            .unwrap()
            .unwrap();
        assert_eq!(
            ev,
            DtmfEvent {
                digit: '0',
                duration_ms: (65_535 + 4001) * 1000 / 8000
            }
        );
    }

    #[test]
    fn malformed_and_non_dtmf_payloads() {
        let mut d = DtmfDecoder::new(8000);
        assert_eq!(d.push(0, true, &[]), Err(DtmfError::TooShort(0)));
        assert_eq!(d.push(0, true, &[1, 2, 3]), Err(DtmfError::TooShort(3)));
        // Flash (16) is a valid telephone-event but not a digit.
        assert_eq!(d.push(0, true, &[16, 0x80, 0, 160]), Ok(None));
        // Trailing bytes (e.g. RFC 2198 would differ, but extra bytes are tolerated).
        assert!(d.push(0, true, &[4, 0x80, 0, 160, 0]).unwrap().is_some());
    }

    #[test]
    fn encoder_plan_follows_rfc4733() {
        let p = DtmfEncoder::packets('#', 100, 10, 8000).unwrap();
        // Updates at 20, 40, 60, 80 ms, then three end packets at 100 ms.
        assert_eq!(p.len(), 4 + 3);
        let durations: Vec<u16> = p
            .iter()
            .map(|x| u16::from_be_bytes([x.payload[2], x.payload[3]]))
            .collect();
        assert_eq!(durations, [160, 320, 480, 640, 800, 800, 800]);
        assert_eq!(
            p.iter().map(|x| x.marker).collect::<Vec<_>>(),
            [true, false, false, false, false, false, false]
        );
        assert_eq!(
            p.iter().map(|x| x.end).collect::<Vec<_>>(),
            [false, false, false, false, true, true, true]
        );
        assert!(p
            .iter()
            .all(|x| x.payload[0] == 11 && x.payload[1] & 0x3F == 10));
        assert!(p
            .iter()
            .all(|x| (x.payload[1] & 0x80 != 0) == x.end && x.payload[1] & 0x40 == 0));
        // A 20 ms digit: the first packet is an end packet and has the marker.
        let p = DtmfEncoder::packets('1', 20, 0, 8000).unwrap();
        assert_eq!(p.len(), 3);
        assert!(p[0].marker && p[0].end && !p[1].marker);
    }

    #[test]
    fn encoder_rejects_bad_requests() {
        assert_eq!(
            DtmfEncoder::packets('x', 100, 10, 8000),
            Err(DtmfError::InvalidDigit('x'))
        );
        assert_eq!(
            DtmfEncoder::packets('1', 100, 64, 8000),
            Err(DtmfError::InvalidVolume(64))
        );
        assert_eq!(
            DtmfEncoder::packets('1', 0, 10, 8000),
            Err(DtmfError::InvalidDuration(0))
        );
        assert_eq!(
            DtmfEncoder::packets('1', 9000, 10, 8000),
            Err(DtmfError::InvalidDuration(9000))
        );
        assert!(DtmfEncoder::packets('1', 8000, 10, 8000).is_ok());
    }

    #[test]
    fn encoder_decoder_round_trip_all_digits() {
        let mut d = DtmfDecoder::new(8000);
        let mut ts = 0u32;
        let mut got = String::new();
        for (i, c) in ALL.chars().enumerate() {
            let duration = 40 + 10 * i as u32;
            for p in DtmfEncoder::packets(c, duration, 10, 8000).unwrap() {
                if let Some(ev) = d.push(ts, p.marker, &p.payload).unwrap() {
                    assert_eq!(ev.duration_ms, duration);
                    got.push(ev.digit);
                }
            }
            ts = ts.wrapping_add(8000);
        }
        assert_eq!(got, ALL);
        assert_eq!(d.finish(), None);
    }
}
