//! Strict inbound SIP message handling for a user agent server.
//!
//! Every datagram from the network goes through [`classify_datagram`], which
//! decides — before any transaction or dialog sees it — whether the message
//! is a well-formed request to process, a response to match, one to answer
//! statelessly with an error (RFC 3261 §8.2, §16.3 / RFC 4475), or one to
//! drop. Stream transports first cut the byte stream with [`StreamFramer`]
//! (RFC 3261 §18.3) and then classify each framed message the same way.
//!
//! rsipstack's own parser is deliberately lenient (it keeps header values as
//! opaque strings and accepts most invalid messages) and mis-parses some
//! valid ones, so the message is parsed here against the RFC 3261 §25 grammar
//! and handed on as an `rsipstack::sip::Request` / `Response` whose key
//! header values are rewritten into a canonical form.

mod body;
mod classify;
mod framer;
mod grammar;
mod headers;
mod policy;
mod raw;
mod response;
mod uri;

pub use body::{response_sdp_body, sdp_body, MAX_MULTIPART_DEPTH, MAX_MULTIPART_PARTS};
pub use framer::{FramingError, StreamFramer, MAX_STREAM_BUFFER_BYTES};
pub use headers::{MAX_CSEQ, MAX_MAX_FORWARDS};
pub use raw::MAX_HEADER_FIELDS;
pub use response::{
    build_response, new_tag, record_route_headers, standard_reason, DEFAULT_SERVER,
};

/// Largest SIP message accepted, in bytes (the largest UDP payload; also the
/// bound for one message on a stream).
pub const MAX_SIP_MESSAGE_BYTES: usize = 65_535;

/// What to do with one inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A well-formed request this UA must process (only methods listed in
    /// [`LocalPolicy::allow`]).
    Request(rsipstack::sip::Request),
    /// A well-formed response (status 100..=699) for the transaction layer to
    /// match; one matching no transaction is discarded there.
    Response(rsipstack::sip::Response),
    /// Answer statelessly with these complete response bytes (sent back to
    /// the source per RFC 3261 §18.2.2 / RFC 3581 rport; the driver just
    /// sends them to the packet's source address) and process nothing else.
    Reject {
        status: u16,
        response: Vec<u8>,
        /// Why, for logs (may quote peer text, escaped).
        reason: String,
    },
    /// Discard silently (unparseable response, keepalive CRLF, a message too
    /// broken to answer, an ACK that cannot be processed, response code
    /// > 699, ...).
    Drop { reason: String },
}

/// What this UA supports, as advertised in Allow / Accept / Supported and
/// enforced by [`classify_datagram`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPolicy {
    /// Written as the Server header of stateless responses.
    pub user_agent: String,
    /// Methods processed; other methods known to SIP get 405, unknown ones
    /// 501, both with `Allow` listing these (RFC 3261 §8.2.1).
    pub allow: Vec<&'static str>,
    /// Body types accepted in INVITE / UPDATE; others get 415 with `Accept`
    /// (RFC 3261 §8.2.3).
    pub accept: Vec<&'static str>,
    /// Option tags understood in `Require`; others get 420 with
    /// `Unsupported` (RFC 3261 §8.2.2.3).
    pub supported: Vec<&'static str>,
}

impl Default for LocalPolicy {
    fn default() -> Self {
        Self {
            user_agent: DEFAULT_SERVER.to_string(),
            allow: vec![
                "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "UPDATE",
            ],
            accept: vec!["application/sdp"],
            supported: Vec::new(),
        }
    }
}

/// Classifies one UDP datagram: exactly one message per datagram, octets
/// beyond Content-Length ignored, Content-Length larger than the body
/// refused with 400, no Content-Length meaning "the rest of the datagram"
/// (RFC 3261 §18.3). Also accepts one message framed by [`StreamFramer`].
/// Never panics, whatever the bytes.
pub fn classify_datagram(bytes: &[u8], local: &LocalPolicy) -> Inbound {
    classify::classify(bytes, local)
}

/// Parses `s` as a SIP/SIPS URI (RFC 3261 §19.1.1, §25.1) or, unless
/// `sip_only`, a tel URI (RFC 3966), and builds the rsipstack form. `None`
/// when it does not match the grammar, carries URI headers (`?h=v`), or
/// has another scheme. Used to check URIs the application gives us.
pub fn uri_checked(s: &str, sip_only: bool) -> Option<rsipstack::sip::Uri> {
    let parsed = uri::parse_uri(s).ok()?;
    match &parsed {
        uri::ParsedUri::Sip(u) if u.headers.is_none() => {}
        uri::ParsedUri::Tel { .. } if !sip_only => {}
        _ => return None,
    }
    uri::to_rsip(&parsed)
}
