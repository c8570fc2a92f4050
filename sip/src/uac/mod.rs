//! Sans-IO SIP user-agent client for outbound calls (RFC 3261 §8.1, §9.1,
//! §12.1.2, §13.2, §15, §17.1, §22), str0m style like the UAS core.
//!
//! One [`OutboundCall`] is one call through a trunk. It builds and sends
//! the INVITE with Parla's SDP offer (PCMU 0, PCMA 8, telephone-event 101),
//! answers a 401/407 digest challenge once, reports provisional responses,
//! ACKs the answer and accepts the SDP answer, sends CANCEL on request or
//! when the ring timeout expires, and ends with BYE from either side. Its
//! last event is always [`UacEvent::Ended`] with an [`Outcome`], the SIP
//! status of the INVITE and a cause (see [`cause`]).
//!
//! The caller drives it: [`OutboundCall::handle_input`] with
//! [`Input::Response`] / [`Input::Request`] for every message routed to the
//! call and [`Input::Timeout`] at [`OutboundCall::poll_timeout`], and
//! drains [`OutboundCall::poll_output`] after each call. The clock is
//! always passed in, so the tests run on a virtual clock. [`UacTable`]
//! does the routing for many calls (by Call-ID) and is what the
//! `SipServer` driver uses.

mod answer;
mod auth;
pub(crate) mod build;
mod call;
mod driver;
mod in_dialog;
mod table;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::time::Duration;

use rsipstack::sip::{Request, Response};

use crate::sdp::{Codec, RemoteAudio, SessionDescription};
use crate::transaction::TimerConfig;
pub use crate::uas::{ConnId, Transmit, Transport};

pub use auth::{digest_authorization, parse_challenge, Challenge, Credentials, DigestAlgorithm};
pub use call::OutboundCall;
pub use driver::{OutboundCallHandle, OutboundControl};
pub use table::{UacKey, UacTable, UacTableOutput};

/// Default time to wait for an answer before cancelling (`no_answer`),
/// measured from the first INVITE: 30 s.
pub const DEFAULT_RING_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest display name / URI / credential accepted in an
/// [`OutboundRequest`], in bytes.
pub const MAX_FIELD_BYTES: usize = 512;

/// The causes reported in [`UacEvent::Ended`] (stable snake_case strings,
/// stored on the call record).
pub mod cause {
    /// The call was answered and one side hung up.
    pub const COMPLETED: &str = "completed";
    /// 486 Busy Here / 600 Busy Everywhere.
    pub const BUSY: &str = "busy";
    /// 603 Decline.
    pub const DECLINED: &str = "declined";
    /// Our ring timeout expired: CANCEL sent.
    pub const RING_TIMEOUT: &str = "ring_timeout";
    /// 408 / 480 / 487 not caused by us: nobody answered.
    pub const NO_ANSWER: &str = "no_answer";
    /// The application cancelled before the answer.
    pub const CANCELED: &str = "canceled";
    /// A second challenge, a 403 after our credentials, a challenge
    /// without credentials to answer it, or no digest variant we support.
    pub const AUTH_FAILED: &str = "auth_failed";
    /// No response at all (Timer B) or a transport error.
    pub const UNREACHABLE: &str = "unreachable";
    /// A 2xx without an SDP answer (ACKed, then BYE).
    pub const NO_SDP: &str = "no_sdp";
    /// A 2xx whose SDP could not be parsed (ACKed, then BYE).
    pub const BAD_SDP: &str = "bad_sdp";
    /// A 2xx whose SDP chose no codec we offered, or had no usable audio
    /// stream (ACKed, then BYE).
    pub const NO_COMMON_CODEC: &str = "no_common_codec";
    /// A 2xx that could not make a dialog (no To tag, bad Contact), or no
    /// final response at all after a provisional one.
    pub const BAD_RESPONSE: &str = "bad_response";
    /// The SIP server shut down before the call ended.
    pub const SHUTDOWN: &str = "shutdown";
    /// A 3xx: redirects are not followed.
    pub const REDIRECTED: &str = "redirected";
    /// Any other 4xx–6xx.
    pub const REJECTED: &str = "rejected";
}

/// Settings shared by every outbound call of one user agent.
#[derive(Debug, Clone)]
pub struct UacConfig {
    /// User-Agent header value (and the SDP `s=`).
    pub user_agent: String,
    /// Host (normally an IP) written in our Via and Contact.
    pub contact_host: String,
    /// Port written in our Via and Contact (where responses come back).
    pub contact_port: u16,
    /// T1/T2/T4 (RFC 3261 Table 4; 500 ms / 4 s / 5 s).
    pub timers: TimerConfig,
    /// Seed for Call-ID, tags, branches and cnonces (tests); `None` = OS
    /// entropy.
    pub rng_seed: Option<u64>,
}

impl Default for UacConfig {
    fn default() -> Self {
        Self {
            user_agent: crate::message::DEFAULT_SERVER.to_string(),
            contact_host: "127.0.0.1".into(),
            contact_port: 5060,
            timers: TimerConfig::default(),
            rng_seed: None,
        }
    }
}

/// One call to place.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    /// Request-URI, a `sip:` or `sips:` URI, e.g.
    /// `sip:+15551234567@trunk.example.com`.
    pub request_uri: String,
    /// To URI; `None` = the Request-URI.
    pub to: Option<String>,
    /// From URI (our identity / caller id), e.g. `sip:+15550001111@parla.invalid`.
    pub from: String,
    /// From display name, if any.
    pub from_display: Option<String>,
    /// Where the INVITE goes (the trunk's signalling address; no DNS here).
    pub trunk: SocketAddr,
    /// Signalling transport to the trunk.
    pub transport: Transport,
    /// Digest credentials for a 401/407 challenge.
    pub credentials: Option<Credentials>,
    /// Our RTP address (IP and port) written in the SDP offer.
    pub rtp: SocketAddr,
    /// Codecs offered, in preference order (default PCMU, PCMA).
    pub codecs: Vec<Codec>,
    /// Time to wait for the answer, from the first INVITE; then CANCEL and
    /// `no_answer` (default [`DEFAULT_RING_TIMEOUT`]).
    pub ring_timeout: Duration,
}

impl OutboundRequest {
    /// A request over UDP with the defaults: To = Request-URI, no display
    /// name, no credentials, PCMU + PCMA, 30 s ring timeout.
    pub fn new(
        request_uri: impl Into<String>,
        from: impl Into<String>,
        trunk: SocketAddr,
        rtp: SocketAddr,
    ) -> Self {
        Self {
            request_uri: request_uri.into(),
            to: None,
            from: from.into(),
            from_display: None,
            trunk,
            transport: Transport::Udp,
            credentials: None,
            rtp,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            ring_timeout: DEFAULT_RING_TIMEOUT,
        }
    }
}

/// Where a request routed to a call came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    /// Transport it arrived on.
    pub transport: Transport,
    /// Source address.
    pub addr: SocketAddr,
    /// The TCP connection (`None` for UDP).
    pub conn: Option<ConnId>,
}

/// What the caller feeds an [`OutboundCall`].
#[derive(Debug, Clone)]
pub enum Input {
    /// A well-formed response (from `classify_datagram`) for this call.
    Response(Response),
    /// A well-formed request for this call's dialog (BYE, OPTIONS, ...).
    Request(Request, Source),
    /// Wake-up at [`OutboundCall::poll_timeout`]: fire due timers.
    Timeout,
    /// The transport could not reach the trunk (TCP connect refused,
    /// ICMP): the INVITE transaction fails (RFC 3261 §17.1.4).
    TransportError,
}

/// What an [`OutboundCall`] asks of the caller.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // a handful of events per call
pub enum Output {
    /// Send these bytes.
    Send(Transmit),
    /// Tell the application.
    Event(UacEvent),
}

/// How a call ended (the `status` column of the call record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Answered, then hung up by either side.
    Completed,
    /// 486 / 600 / 603.
    Busy,
    /// Ring timeout, 408, 480, or a 487 we did not ask for.
    NoAnswer,
    /// Everything else: unreachable, auth failure, bad answer, rejection.
    Failed,
    /// The application cancelled before the answer.
    Canceled,
}

impl Outcome {
    /// `completed`, `busy`, `no_answer`, `failed` or `canceled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Busy => "busy",
            Self::NoAnswer => "no_answer",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which side ended the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndedBy {
    /// We did: hangup, cancel, timeouts, a bad answer.
    Local,
    /// The far end did: BYE, or a final non-2xx response.
    Remote,
}

/// Identifiers of the confirmed dialog (RFC 3261 §12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialogId {
    /// Call-ID.
    pub call_id: String,
    /// Our From tag.
    pub local_tag: String,
    /// The answerer's To tag.
    pub remote_tag: String,
}

/// Something that happened on an outbound call. The status of a call
/// record follows them: `dialing` → `ringing` → `in_progress` → an
/// [`Outcome`].
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // a handful per call
pub enum UacEvent {
    /// The first INVITE went out.
    Dialing {
        /// The call's Call-ID.
        call_id: String,
    },
    /// 180 / 181 / 182: the far end is alerting.
    Ringing {
        /// The provisional status.
        status: u16,
        /// Its SDP, if any (early media; the agent ignores it).
        remote_sdp: Option<SessionDescription>,
    },
    /// 183 (or any other 1xx but 100): progress, usually with early media.
    EarlyMedia {
        /// The provisional status.
        status: u16,
        /// Its SDP, if any (ringback; the agent ignores it).
        remote_sdp: Option<SessionDescription>,
    },
    /// 2xx with a usable SDP answer, ACKed: the call is up.
    Answered {
        /// The answer as received.
        remote_sdp: SessionDescription,
        /// Where and how to send audio (from the answer).
        remote_audio: RemoteAudio,
        /// The dialog.
        dialog: DialogId,
    },
    /// The call is over. Final, exactly once.
    Ended {
        /// The outcome.
        outcome: Outcome,
        /// Final status of the INVITE (e.g. 200, 486, 487), if one came.
        status: Option<u16>,
        /// One of the [`cause`] strings.
        cause: String,
        /// Who ended it.
        by: EndedBy,
        /// Human-readable detail for logs.
        detail: String,
    },
}

/// Where an outbound call is (mostly for tests and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UacState {
    /// INVITE sent, no response of the current transaction yet.
    Calling,
    /// A provisional response arrived.
    Proceeding,
    /// CANCEL sent, or waiting for a provisional response to send it.
    Canceling,
    /// 2xx ACKed; the call is up.
    Confirmed,
    /// Our BYE is in flight.
    Terminating,
    /// [`UacEvent::Ended`] was emitted (transactions may still linger).
    Ended,
}

impl UacState {
    /// Static name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Calling => "calling",
            Self::Proceeding => "proceeding",
            Self::Canceling => "canceling",
            Self::Confirmed => "confirmed",
            Self::Terminating => "terminating",
            Self::Ended => "ended",
        }
    }
}

/// A request the caller gave us, or an operation, that cannot be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UacError {
    /// A URI of the request is not a valid SIP URI.
    #[error("invalid {field} URI {value:?}")]
    InvalidUri {
        /// `request_uri`, `to` or `from`.
        field: &'static str,
        /// What was given.
        value: String,
    },
    /// A text field holds control characters or is too long.
    #[error("invalid {0}: control characters or longer than {MAX_FIELD_BYTES} bytes")]
    InvalidField(&'static str),
    /// The call is not in a state allowing this operation.
    #[error("call is {state}: cannot {op}")]
    InvalidState {
        /// Current state name.
        state: &'static str,
        /// The refused operation.
        op: &'static str,
    },
}
