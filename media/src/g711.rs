//! G.711 µ-law (PCMU) and A-law (PCMA) codecs (ITU-T G.711).
//!
//! One byte per sample at 8 kHz, so a 20 ms frame is 160 samples ↔ 160 bytes.
//! Payload types and encoding names are the static assignments of RFC 3551
//! §6 (Table 4): PCMU = 0, PCMA = 8.
//!
//! Linear samples are 16-bit signed PCM. The quantisation follows the classic
//! reference implementation (Sun Microsystems `g711.c`, public domain), which
//! is bit-exact with the G.711 tables. Decoding is a 256-entry table lookup
//! built at compile time.
//!
//! Note on µ-law "negative zero": codes `0xFF` (+0) and `0x7F` (−0) both decode
//! to linear `0`, which re-encodes to `0xFF`. Every other µ-law code and all
//! 256 A-law codes survive decode→encode unchanged.

/// µ-law code of digital silence (linear 0), `0xFF`.
pub const ULAW_SILENCE: u8 = 0xFF;
/// A-law code of digital silence (linear 0, even-bit inverted), `0xD5`.
pub const ALAW_SILENCE: u8 = 0xD5;

/// µ-law bias added before segment search (G.711, 16-bit scaled: 33 << 2).
const ULAW_BIAS: i32 = 0x84;
/// µ-law clip level so that `magnitude + ULAW_BIAS` stays within 15 bits.
const ULAW_CLIP: i32 = 32_635;

/// A G.711 variant, as negotiated in SDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum G711 {
    /// µ-law, RTP payload type 0, "PCMU/8000".
    Pcmu,
    /// A-law, RTP payload type 8, "PCMA/8000".
    Pcma,
}

impl G711 {
    /// The static RTP payload type (RFC 3551 §6): 0 for PCMU, 8 for PCMA.
    pub fn payload_type(self) -> u8 {
        match self {
            G711::Pcmu => 0,
            G711::Pcma => 8,
        }
    }

    /// The codec for a static RTP payload type, `None` for anything but 0 / 8.
    pub fn from_payload_type(pt: u8) -> Option<Self> {
        match pt {
            0 => Some(G711::Pcmu),
            8 => Some(G711::Pcma),
            _ => None,
        }
    }

    /// The SDP `a=rtpmap` encoding name: `"PCMU"` or `"PCMA"`.
    pub fn encoding_name(self) -> &'static str {
        match self {
            G711::Pcmu => "PCMU",
            G711::Pcma => "PCMA",
        }
    }

    /// The code of digital silence: [`ULAW_SILENCE`] or [`ALAW_SILENCE`].
    pub fn silence_byte(self) -> u8 {
        match self {
            G711::Pcmu => ULAW_SILENCE,
            G711::Pcma => ALAW_SILENCE,
        }
    }

    /// Encodes linear PCM into G.711 bytes, one byte per sample.
    ///
    /// Shape: `out.len()` should equal `pcm.len()`; if they differ, only
    /// `min(pcm.len(), out.len())` samples are encoded and the rest of `out`
    /// is left untouched.
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) {
        let enc = match self {
            G711::Pcmu => ulaw_encode,
            G711::Pcma => alaw_encode,
        };
        for (o, &s) in out.iter_mut().zip(pcm) {
            *o = enc(s);
        }
    }

    /// Decodes G.711 bytes into linear PCM, one sample per byte.
    ///
    /// Shape: `out.len()` should equal `payload.len()`; if they differ, only
    /// `min(payload.len(), out.len())` samples are decoded and the rest of
    /// `out` is left untouched.
    pub fn decode(self, payload: &[u8], out: &mut [i16]) {
        let table = match self {
            G711::Pcmu => &ULAW_DECODE,
            G711::Pcma => &ALAW_DECODE,
        };
        for (o, &b) in out.iter_mut().zip(payload) {
            *o = table[b as usize];
        }
    }
}

/// Encodes one linear sample to µ-law (G.711 §3, Sun `linear2ulaw`).
pub fn ulaw_encode(s: i16) -> u8 {
    let s = s as i32;
    let (sign, mut mag) = if s < 0 { (0x80, -s) } else { (0x00, s) };
    if mag > ULAW_CLIP {
        mag = ULAW_CLIP;
    }
    mag += ULAW_BIAS;
    // Segment = position of the highest set bit above bit 7 (0..=7).
    let exponent = 31 - (mag >> 7).leading_zeros() as i32;
    let mantissa = (mag >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) | mantissa) as u8
}

/// Decodes one µ-law byte to a linear sample (Sun `ulaw2linear`).
pub fn ulaw_decode(b: u8) -> i16 {
    ULAW_DECODE[b as usize]
}

/// Encodes one linear sample to A-law (G.711 §2, Sun `linear2alaw`).
pub fn alaw_encode(s: i16) -> u8 {
    // A-law works on 13-bit magnitudes.
    let v = (s as i32) >> 3;
    let (mask, mag) = if v >= 0 { (0xD5, v) } else { (0x55, -v - 1) };
    // Segment end points (13-bit): 0x1F, 0x3F, 0x7F, ... 0xFFF.
    let seg = if mag <= 0x1F {
        0
    } else {
        32 - (mag as u32).leading_zeros() as i32 - 5
    };
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let mantissa = if seg < 2 {
        (mag >> 1) & 0x0F
    } else {
        (mag >> seg) & 0x0F
    };
    (((seg << 4) | mantissa) ^ mask) as u8
}

/// Decodes one A-law byte to a linear sample (Sun `alaw2linear`).
pub fn alaw_decode(b: u8) -> i16 {
    ALAW_DECODE[b as usize]
}

const fn ulaw_decode_calc(b: u8) -> i16 {
    let u = !b;
    let mut t = (((u & 0x0F) as i32) << 3) + ULAW_BIAS;
    t <<= (u & 0x70) >> 4;
    if u & 0x80 != 0 {
        (ULAW_BIAS - t) as i16
    } else {
        (t - ULAW_BIAS) as i16
    }
}

const fn alaw_decode_calc(b: u8) -> i16 {
    let a = b ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let seg = ((a & 0x70) >> 4) as i32;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    if a & 0x80 != 0 {
        t as i16
    } else {
        -t as i16
    }
}

const fn build_ulaw_table() -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ulaw_decode_calc(i as u8);
        i += 1;
    }
    t
}

const fn build_alaw_table() -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alaw_decode_calc(i as u8);
        i += 1;
    }
    t
}

static ULAW_DECODE: [i16; 256] = build_ulaw_table();
static ALAW_DECODE: [i16; 256] = build_alaw_table();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn itu_known_vectors() {
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        // Full scale.
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(ulaw_decode(0x80), 32_124);
        assert_eq!(ulaw_decode(0x00), -32_124);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
        assert_eq!(alaw_decode(0xAA), 32_256);
        assert_eq!(alaw_decode(0x2A), -32_256);
        // Smallest non-zero µ-law step: +-8 (14-bit +-2 in G.711 Table 2a).
        assert_eq!(ulaw_decode(0xFE), 8);
        assert_eq!(ulaw_decode(0x7E), -8);
        assert_eq!(ULAW_SILENCE, 0xFF);
        assert_eq!(ALAW_SILENCE, 0xD5);
        assert_eq!(G711::Pcmu.silence_byte(), ulaw_encode(0));
        assert_eq!(G711::Pcma.silence_byte(), alaw_encode(0));
    }

    #[test]
    fn all_codes_round_trip_exactly() {
        for b in 0..=255u8 {
            assert_eq!(alaw_encode(alaw_decode(b)), b, "A-law code {b:#04x}");
            // µ-law "negative zero" 0x7F decodes to 0, which is +0 (0xFF).
            let want = if b == 0x7F { 0xFF } else { b };
            assert_eq!(ulaw_encode(ulaw_decode(b)), want, "µ-law code {b:#04x}");
        }
    }

    #[test]
    fn decode_tables_are_monotonic_and_symmetric() {
        for b in 0..=255u8 {
            assert_eq!(ulaw_decode(b), -ulaw_decode(b ^ 0x80));
            assert_eq!(alaw_decode(b), -alaw_decode(b ^ 0x80));
        }
        // Positive µ-law codes 0xFF..0x80 increase in magnitude.
        for b in 0x81..=0xFFu8 {
            assert!(ulaw_decode(b) < ulaw_decode(b - 1));
        }
    }

    #[test]
    fn quantisation_error_is_bounded_for_every_sample() {
        // Companding: error is at most half a step, and a step is 1/16 of the
        // segment base, so |err| <= |x|/32 plus the finest step near zero.
        for s in i16::MIN..=i16::MAX {
            let x = s as i32;
            let eu = (ulaw_decode(ulaw_encode(s)) as i32 - x).abs();
            let ea = (alaw_decode(alaw_encode(s)) as i32 - x).abs();
            if x.abs() <= 32_124 {
                assert!(eu <= x.abs() / 32 + 5, "µ-law {s}: err {eu}");
            } else {
                assert!(eu <= 32_768 - 32_124, "µ-law clip {s}: err {eu}");
            }
            if x.abs() <= 32_256 {
                assert!(ea <= x.abs() / 32 + 8, "A-law {s}: err {ea}");
            } else {
                assert!(ea <= 32_768 - 32_256, "A-law clip {s}: err {ea}");
            }
        }
    }

    #[test]
    fn sine_snr_is_telephone_quality() {
        let pcm: Vec<i16> = (0..8000)
            .map(|n| {
                (16_000.0 * (2.0 * std::f64::consts::PI * 1004.0 * n as f64 / 8000.0).sin()) as i16
            })
            .collect();
        for codec in [G711::Pcmu, G711::Pcma] {
            let mut enc = vec![0u8; pcm.len()];
            let mut dec = vec![0i16; pcm.len()];
            codec.encode(&pcm, &mut enc);
            codec.decode(&enc, &mut dec);
            let sig: f64 = pcm.iter().map(|&s| (s as f64).powi(2)).sum();
            let err: f64 = pcm
                .iter()
                .zip(&dec)
                .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
                .sum();
            let snr = 10.0 * (sig / err).log10();
            // G.711 gives ~38 dB SQNR for a loud sine.
            assert!(snr > 35.0, "{codec:?} SNR {snr:.1} dB");
        }
    }

    #[test]
    fn payload_types_and_names() {
        assert_eq!(G711::Pcmu.payload_type(), 0);
        assert_eq!(G711::Pcma.payload_type(), 8);
        assert_eq!(G711::from_payload_type(0), Some(G711::Pcmu));
        assert_eq!(G711::from_payload_type(8), Some(G711::Pcma));
        assert_eq!(G711::from_payload_type(101), None);
        assert_eq!(G711::Pcmu.encoding_name(), "PCMU");
        assert_eq!(G711::Pcma.encoding_name(), "PCMA");
    }

    #[test]
    fn slice_codec_handles_mismatched_lengths() {
        let mut out = [0xAAu8; 4];
        G711::Pcmu.encode(&[0, 0], &mut out);
        assert_eq!(out, [0xFF, 0xFF, 0xAA, 0xAA]);
        let mut pcm = [7i16; 1];
        G711::Pcma.decode(&[0xD5, 0xD5, 0xD5], &mut pcm);
        assert_eq!(pcm, [8]);
    }
}
