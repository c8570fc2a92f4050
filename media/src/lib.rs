//! Pure, synchronous media pieces for Parla's telephony path.
//!
//! Everything here is sans-IO: no sockets, no clocks (time is passed in by
//! the caller), no threads and no logging on hot paths. Malformed input
//! (RTP, DTMF payloads, ...) yields an error value, never a panic. Resources
//! are bounded by named constants and hot-path types preallocate so that the
//! per-frame work does not allocate.
//!
//! One module per idea:
//!
//! | module       | what                                                      | source          |
//! |--------------|-----------------------------------------------------------|-----------------|
//! | [`g711`]     | µ-law / A-law codecs                                      | ITU-T G.711     |
//! | [`rtp`]      | RTP header parse/write, jitter + loss statistics          | RFC 3550        |
//! | [`jitter`]   | fixed-delay receive jitter buffer (8 kHz G.711)           | RFC 3550 / 3551 |
//! | [`pacer`]    | outbound 20 ms paced RTP sender                           | RFC 3551 §4.1   |
//! | [`reorder`]  | zero-delay reordering buffer for analysed (ASR) audio     | RFC 3550        |
//! | [`resample`] | streaming sample-rate conversion, 2:1 halfband paths      |                 |
//! | [`vad`]      | voice activity detection (earshot) on 20 ms 16 kHz frames |                 |
//! | [`dtmf`]     | telephone-event encode / decode                           | RFC 4733        |
//! | [`latch`]    | symmetric RTP source latching (comedia)                   | RFC 4961        |
//! | [`wav`]      | WAV files of the offline tools → 8 kHz mono PCM           | RIFF WAVE       |
//! | [`amd`]      | answering-machine detection (pattern, beep, transcript)   | Asterisk app_amd |

pub mod amd;
pub mod dtmf;
pub mod g711;
pub mod jitter;
pub mod latch;
pub mod pacer;
pub mod reorder;
pub mod resample;
pub mod rtp;
mod slot;
pub mod vad;
pub mod wav;

/// Packetisation interval of every media frame, in milliseconds.
pub const FRAME_MS: u32 = 20;
/// Sample rate of G.711 telephony audio (narrowband), in Hz.
pub const NARROWBAND_HZ: u32 = 8_000;
/// Sample rate used for VAD / STT (wideband), in Hz.
pub const WIDEBAND_HZ: u32 = 16_000;
/// Samples in one [`FRAME_MS`] frame at [`NARROWBAND_HZ`] (160).
pub const SAMPLES_PER_FRAME_8K: usize = (NARROWBAND_HZ * FRAME_MS / 1000) as usize;
/// Samples in one [`FRAME_MS`] frame at [`WIDEBAND_HZ`] (320).
pub const SAMPLES_PER_FRAME_16K: usize = (WIDEBAND_HZ * FRAME_MS / 1000) as usize;

const _: () = assert!(SAMPLES_PER_FRAME_8K == 160);
const _: () = assert!(SAMPLES_PER_FRAME_16K == 320);
