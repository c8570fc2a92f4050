//! Shared fixtures for Parla's criterion benchmarks (`benches/benches/*.rs`).
//!
//! Every benchmark reports the cost of one 20 ms frame (criterion
//! `Throughput::Elements(1)`, one element = one frame), except the SIP ones,
//! which report one message. Inputs are deterministic so runs compare.

use std::f64::consts::PI;

/// One frame of audio, in milliseconds.
pub const FRAME_MS: u32 = parla_media::FRAME_MS;

/// Samples in one 20 ms frame at `rate_hz`.
pub fn samples_per_frame(rate_hz: u32) -> usize {
    (rate_hz * FRAME_MS / 1000) as usize
}

/// A small deterministic PRNG (xorshift32) for noise and reordering patterns.
#[derive(Clone, Debug)]
pub struct XorShift(u32);

impl XorShift {
    /// A generator from a non-zero seed (zero is replaced).
    pub fn new(seed: u32) -> Self {
        XorShift(if seed == 0 { 0x9E37_79B9 } else { seed })
    }

    /// Next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }

    /// Uniform in `[-1, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u32() as f64 / u32::MAX as f64) * 2.0 - 1.0
    }
}

/// `seconds` of a speech-like signal at `rate_hz`: a voiced source (pitch
/// gliding around 120 Hz, harmonics up to 0.45 × rate) shaped by three
/// vowel-like formants (≈ 600 / 1 500 / 2 500 Hz), a 4 Hz syllabic envelope
/// with short pauses, and a little noise; peaks near −6 dBFS.
pub fn speech_like(rate_hz: u32, seconds: f64) -> Vec<i16> {
    let n = (rate_hz as f64 * seconds).round() as usize;
    let rate = rate_hz as f64;
    let formants = [(600.0, 90.0), (1_500.0, 120.0), (2_500.0, 160.0)];
    let gain = |f: f64| -> f64 {
        formants
            .iter()
            .map(|&(fc, bw)| 1.0 / (1.0 + ((f - fc) / bw).powi(2)))
            .sum::<f64>()
            + 0.02
    };
    let mut rng = XorShift::new(0xC0FF_EE11);
    let mut phase = 0.0f64;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let t = i as f64 / rate;
        // Pitch 100..140 Hz, drifting like intonation.
        let f0 = 120.0 + 20.0 * (2.0 * PI * 0.7 * t).sin();
        phase += 2.0 * PI * f0 / rate;
        let mut v = 0.0;
        let mut k = 1.0;
        while k * f0 < 0.45 * rate {
            v += gain(k * f0) / k.sqrt() * (k * phase).sin();
            k += 1.0;
        }
        // Syllables at 4 Hz; the envelope dips to near silence between them.
        let syll = (2.0 * PI * 4.0 * t).sin().max(0.0).powf(0.6);
        let noise = 0.03 * rng.next_f64();
        out.push((4_000.0 * (syll * v + noise)).clamp(-32_768.0, 32_767.0) as i16);
    }
    out
}

/// The RTP source address used by the media benches.
pub fn caller_rtp_addr() -> std::net::SocketAddr {
    "198.51.100.21:18234".parse().expect("valid address")
}

/// A typical SDP offer from a SIP trunk: PCMU, PCMA, G.729 and
/// telephone-event, ptime 20, sendrecv.
pub const SDP_OFFER: &str = "v=0\r\n\
o=- 1699999999 1699999999 IN IP4 198.51.100.20\r\n\
s=Carrier-SBC\r\n\
c=IN IP4 198.51.100.21\r\n\
t=0 0\r\n\
m=audio 18234 RTP/AVP 0 8 18 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:18 G729/8000\r\n\
a=fmtp:18 annexb=no\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=maxptime:150\r\n\
a=sendrecv\r\n";

/// A realistic initial INVITE from a SIP trunk carrying [`SDP_OFFER`].
pub fn invite_with_sdp() -> Vec<u8> {
    let headers = format!(
        "INVITE sip:+14155550100@203.0.113.10:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bK-524287-1---7f3a9c1e2b4d6f80;rport\r\n\
Max-Forwards: 69\r\n\
Record-Route: <sip:198.51.100.20:5060;lr>\r\n\
Contact: <sip:+14155550123@198.51.100.20:5060;transport=udp>\r\n\
To: <sip:+14155550100@203.0.113.10>\r\n\
From: \"Alice Caller\" <sip:+14155550123@198.51.100.20>;tag=as5f8e2c1a\r\n\
Call-ID: 3c26700e4b5f7a9d1e2c3b4a5f6e7d8c@198.51.100.20\r\n\
CSeq: 102 INVITE\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, INFO, UPDATE\r\n\
Supported: replaces, timer\r\n\
User-Agent: Carrier-SBC 4.2\r\n\
P-Asserted-Identity: \"Alice Caller\" <sip:+14155550123@198.51.100.20>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n",
        SDP_OFFER.len()
    );
    let mut msg = headers.into_bytes();
    msg.extend_from_slice(SDP_OFFER.as_bytes());
    msg
}

/// The caller's in-dialog BYE for the call set up by [`invite_with_sdp`].
pub fn bye() -> Vec<u8> {
    b"BYE sip:parla@203.0.113.10:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bK-524287-1---0a1b2c3d4e5f6071;rport\r\n\
Max-Forwards: 70\r\n\
From: \"Alice Caller\" <sip:+14155550123@198.51.100.20>;tag=as5f8e2c1a\r\n\
To: <sip:+14155550100@203.0.113.10>;tag=1f2e3d4c5b6a7980\r\n\
Call-ID: 3c26700e4b5f7a9d1e2c3b4a5f6e7d8c@198.51.100.20\r\n\
CSeq: 103 BYE\r\n\
User-Agent: Carrier-SBC 4.2\r\n\
Content-Length: 0\r\n\r\n"
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speech_like_is_loud_but_not_clipped() {
        let s = speech_like(8_000, 1.0);
        assert_eq!(s.len(), 8_000);
        let peak = s.iter().map(|&v| (v as i32).abs()).max().unwrap();
        assert!((4_000..32_767).contains(&peak), "peak {peak}");
    }

    #[test]
    fn fixtures_are_well_formed() {
        assert_eq!(samples_per_frame(22_050), 441);
        let invite = String::from_utf8(invite_with_sdp()).unwrap();
        let (head, body) = invite.split_once("\r\n\r\n").unwrap();
        assert!(head.ends_with(&format!("Content-Length: {}", body.len())));
        assert!(String::from_utf8(bye()).unwrap().ends_with("\r\n\r\n"));
    }
}
