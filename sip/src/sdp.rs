//! SDP (RFC 8866, formerly RFC 4566) session descriptions and the RFC 3264
//! offer/answer exchange for one audio stream, as a telephony UAS needs it.
//!
//! [`SessionDescription::parse`] is strict about structure (`v=` first, one
//! `o=` and `s=`, well-formed `c=`/`m=`, media-level lines only after an
//! `m=`) and tolerant of content it does not use (unknown attributes are
//! kept, unknown line types are skipped). Sizes are bounded by
//! [`MAX_SDP_BYTES`], [`MAX_SDP_LINES`], [`MAX_MEDIA_SECTIONS`] and
//! [`MAX_FORMATS_PER_MEDIA`]. [`negotiate`] picks the audio stream and codec
//! and writes the answer; for outbound calls [`build_offer`] writes our
//! offer and [`accept_answer`] reads the answer to it.

mod model;
mod negotiate;
mod offer;
mod parse;

pub use model::{
    Attribute, Connection, Direction, Line, MediaDescription, Origin, RtpMap, SessionDescription,
};
pub use negotiate::{
    negotiate, AnswerParams, Codec, NegotiationError, RemoteAudio, DEFAULT_PTIME_MS,
};
pub use offer::{accept_answer, build_offer, OfferParams, OFFER_DTMF_PAYLOAD_TYPE};
pub use parse::SdpError;

/// Largest session description parsed, in bytes.
pub const MAX_SDP_BYTES: usize = 32_768;
/// Most lines in one session description.
pub const MAX_SDP_LINES: usize = 1_024;
/// Most `m=` sections in one session description.
pub const MAX_MEDIA_SECTIONS: usize = 16;
/// Most formats (payload types) on one `m=` line.
pub const MAX_FORMATS_PER_MEDIA: usize = 64;
