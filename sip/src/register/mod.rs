//! Sans-IO SIP registration client for trunks (RFC 3261 §10.2, with the
//! non-INVITE client transaction of §17.1.2: Timers E, F, K).
//!
//! One [`Registration`] keeps one binding (our Contact for one address of
//! record) alive at one registrar:
//!
//! * it sends REGISTER with `Contact` and `Expires` (requested
//!   [`DEFAULT_EXPIRES`], 3600 s, unless the request says otherwise) and
//!   answers one 401/407 digest challenge (via [`crate::uac`]'s digest code,
//!   i.e. rsipstack's `compute_digest`; a second challenge only when it says
//!   `stale=true`);
//! * on a 2xx it reads the granted expiry — the `expires` parameter of our
//!   Contact in the response, else the `Expires` header, else what we asked
//!   for (§10.2.4) — and schedules the refresh at [`refresh_delay`]:
//!   `granted − min(granted / 2, 60 s)` after the 2xx, i.e. 60 s before
//!   expiry for long bindings and half-way for short ones;
//! * a 423 Interval Too Brief is retried at once with its `Min-Expires`
//!   (§10.2.8);
//! * every other failure — a 3xx–6xx, no final response within 64·T1
//!   (Timer F), a transport error, a refused or unanswerable challenge —
//!   makes it [`RegistrationStatus::Failing`] and schedules a new attempt
//!   after [`retry_delay`]: [`DEFAULT_RETRY_INITIAL`] (30 s) doubling per
//!   consecutive failure up to [`DEFAULT_RETRY_MAX`] (30 min), or the
//!   response's `Retry-After` if that is longer (still capped);
//! * [`Registration::unregister`] removes the binding (`Expires: 0`) and
//!   ends it ([`RegistrationStatus::Unregistered`]).
//!
//! The caller drives it like an [`crate::uac::OutboundCall`]:
//! [`Registration::handle_input`] for each routed response and at
//! [`Registration::poll_timeout`], then drains [`Registration::poll_output`]
//! (bytes to send and status changes). The clock is always passed in.
//! [`RegistrationTable`] routes responses by Call-ID (one Call-ID per
//! registration, kept across refreshes as §10.2 asks) and is what the
//! `SipServer` driver uses ([`crate::server::SipServer::register`]).

mod client;
mod driver;
mod parse;
mod table;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rsipstack::sip::Response;

pub use crate::uac::{Credentials, Transmit, Transport};
pub use client::Registration;
pub use driver::RegistrationHandle;
pub(crate) use driver::Registrations;
pub use parse::granted_expiry;
pub use table::{RegKey, RegistrationTable, RegistrationTableOutput};

/// Binding lifetime requested when the request names none: 3600 s
/// (RFC 3261 §10.2.1.1 suggests one hour).
pub const DEFAULT_EXPIRES: Duration = Duration::from_secs(3600);
/// Longest binding lifetime we request or accept, 7 days; larger values
/// (ours, a granted one or a `Min-Expires`) are clamped to it.
pub const MAX_EXPIRES: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long before expiry a long binding is refreshed: 60 s. Bindings
/// shorter than 120 s are refreshed half-way instead (see
/// [`refresh_delay`]).
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// First retry delay after a failure: 30 s.
pub const DEFAULT_RETRY_INITIAL: Duration = Duration::from_secs(30);
/// Longest retry delay (also caps `Retry-After`): 30 min.
pub const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(30 * 60);
/// Longest `reason` kept in [`RegistrationStatus::Failing`], in bytes.
pub const MAX_REASON_BYTES: usize = 256;

/// When to refresh a binding granted for `granted`, measured from the 2xx:
/// `granted − min(granted / 2, REFRESH_MARGIN)` — 3540 s for 3600 s, 2 s
/// for 4 s. Never zero (at least 1 s), so a registrar granting 0–1 s
/// cannot make us spin.
pub fn refresh_delay(granted: Duration) -> Duration {
    let margin = (granted / 2).min(REFRESH_MARGIN);
    granted.saturating_sub(margin).max(Duration::from_secs(1))
}

/// Delay before the next attempt after `failures` consecutive failures
/// (1 for the first): `initial · 2^(failures−1)`, capped at `max`.
pub fn retry_delay(failures: u32, initial: Duration, max: Duration) -> Duration {
    let shift = failures.saturating_sub(1).min(31);
    initial.saturating_mul(1u32 << shift).min(max)
}

/// One registration to keep (one trunk account).
#[derive(Debug, Clone)]
pub struct RegistrationRequest {
    /// Request-URI of the REGISTER: the registrar's domain, e.g.
    /// `sip:trunk.example.com` (RFC 3261 §10.2: no user part).
    pub registrar_uri: String,
    /// Address of record (To and From), e.g. `sip:15550001111@trunk.example.com`.
    pub aor: String,
    /// User part of our Contact; `None` = the AOR's user part (where the
    /// trunk then sends calls for this account).
    pub contact_user: Option<String>,
    /// Where REGISTER goes (the registrar's signalling address; no DNS here).
    pub registrar: SocketAddr,
    /// Signalling transport to the registrar.
    pub transport: Transport,
    /// Digest credentials for a 401/407 challenge.
    pub credentials: Option<Credentials>,
    /// Binding lifetime to request (default [`DEFAULT_EXPIRES`]; clamped
    /// to 1 s ..= [`MAX_EXPIRES`]).
    pub expires: Duration,
    /// First retry delay after a failure (default [`DEFAULT_RETRY_INITIAL`]).
    pub retry_initial: Duration,
    /// Longest retry delay (default [`DEFAULT_RETRY_MAX`]).
    pub retry_max: Duration,
}

impl RegistrationRequest {
    /// A request over UDP with the defaults: Contact user from the AOR, no
    /// credentials, 3600 s, retries from 30 s to 30 min.
    pub fn new(
        registrar_uri: impl Into<String>,
        aor: impl Into<String>,
        registrar: SocketAddr,
    ) -> Self {
        Self {
            registrar_uri: registrar_uri.into(),
            aor: aor.into(),
            contact_user: None,
            registrar,
            transport: Transport::Udp,
            credentials: None,
            expires: DEFAULT_EXPIRES,
            retry_initial: DEFAULT_RETRY_INITIAL,
            retry_max: DEFAULT_RETRY_MAX,
        }
    }
}

/// Where a registration is. Times are on the clock passed in (the driver
/// uses `std::time::Instant::now()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationStatus {
    /// The first REGISTER is under way; no outcome yet.
    Pending,
    /// The registrar accepted the binding.
    Registered {
        /// When the binding expires unless refreshed (the refresh is
        /// scheduled before it, see [`refresh_delay`]).
        expires_at: Instant,
        /// When the 2xx arrived.
        at: Instant,
    },
    /// The last attempt failed; another is scheduled.
    Failing {
        /// Why, for people: e.g. `403 Forbidden`, `no response within 64*T1
        /// (Timer F)`, `401 again after our credentials`.
        reason: String,
        /// The final status of the failed REGISTER, if one came.
        status: Option<u16>,
        /// When the failure happened.
        at: Instant,
        /// When the next REGISTER goes out.
        retry_at: Instant,
    },
    /// Unregistered (Expires: 0 answered, timed out, or nothing to
    /// remove); final.
    Unregistered {
        /// When it ended.
        at: Instant,
    },
}

impl RegistrationStatus {
    /// `pending`, `registered`, `failing` or `unregistered`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Registered { .. } => "registered",
            Self::Failing { .. } => "failing",
            Self::Unregistered { .. } => "unregistered",
        }
    }

    /// Whether the registrar currently holds our binding.
    pub fn is_registered(&self) -> bool {
        matches!(self, Self::Registered { .. })
    }
}

/// What the caller feeds a [`Registration`].
#[derive(Debug, Clone)]
pub enum Input {
    /// A well-formed response (from `classify_datagram`) routed here.
    Response(Response),
    /// Wake-up at [`Registration::poll_timeout`].
    Timeout,
    /// The transport could not reach the registrar (TCP connect refused):
    /// the REGISTER transaction fails (RFC 3261 §17.1.4).
    TransportError,
}

/// What a [`Registration`] asks of the caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send these bytes.
    Send(Transmit),
    /// The status changed to this.
    Status(RegistrationStatus),
}
