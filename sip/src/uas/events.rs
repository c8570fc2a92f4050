//! What the core reports to the application.

use std::net::SocketAddr;

use super::{CallKey, SessionDescription, Transport};

/// An event on an established or offered call. Every call's last event is
/// either [`CallEvent::Cancelled`] or [`CallEvent::Terminated`], exactly
/// once.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one event per signalling change, not per packet
pub enum CallEvent {
    /// The ACK for our 2xx arrived: the call is up (RFC 3261 §13.3.1.4).
    Confirmed,
    /// The caller sent CANCEL before our final response; the core answered
    /// 200 to the CANCEL and 487 to the INVITE (RFC 3261 §9.2). Final.
    Cancelled,
    /// A re-INVITE with a new offer (hold / resume / media change,
    /// RFC 3261 §14.2). Answer with `answer_reinvite` (200 + SDP answer) or
    /// `reject` (e.g. 488); the core sends 500 if neither happens within
    /// the re-INVITE timeout.
    ReInvite {
        /// The new offer.
        offer: SessionDescription,
    },
    /// An in-dialog INFO (e.g. `application/dtmf-relay`, RFC 6086),
    /// already answered 200.
    Info {
        /// Content-Type of the body ("" if none).
        content_type: String,
        /// The body.
        body: Vec<u8>,
    },
    /// The call is over. Final.
    Terminated {
        /// `true` when the caller hung up (BYE), `false` when we did
        /// (hangup, reject, timeouts).
        by_remote: bool,
        /// Human-readable cause, for logs.
        reason: String,
    },
}

/// A new call offered to the application (`UasOutput::Incoming`).
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingCallInfo {
    /// Key for `ringing` / `answer` / `reject` / `hangup`.
    pub call: CallKey,
    /// The Call-ID header.
    pub call_id: String,
    /// The caller's URI (From).
    pub from: String,
    /// The To URI.
    pub to: String,
    /// The Request-URI.
    pub request_uri: String,
    /// User part of the Request-URI (e.g. "+15551234" or "agent").
    pub dialed_user: Option<String>,
    /// The SDP offer; `None` when the INVITE had no body (the offer then
    /// goes in our 200 and the answer comes in the ACK).
    pub offer: Option<SessionDescription>,
    /// Where the INVITE came from.
    pub remote_signalling_addr: SocketAddr,
    /// Signalling transport of the INVITE.
    pub transport: Transport,
}
