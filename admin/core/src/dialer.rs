//! Placing outbound calls: what the admin plane hands the call engine once
//! an originate request (`POST /tenants/{tid}/calls`) is validated and its
//! record (status `queued`) is stored, without depending on the engine.
//!
//! The `parla` binary implements [`Dialer`] on top of the engine's
//! `CallManager::originate` and the SIP user-agent client, and hands it to
//! the web layer (`parla-admin-web`'s `AdminState::with_dialer`). Without
//! it (admin-only deployments, most tests) no call can be placed: the API
//! answers 503 "calls cannot be placed on this node".

use std::collections::BTreeMap;
use std::time::Duration;

use crate::domain::{AgentId, CallId, TenantId, Transport};

/// Most variables one call may carry.
pub const MAX_VARIABLES: usize = 32;
/// Longest variable name, in characters (`[a-z0-9_]{1,32}`).
pub const MAX_VARIABLE_NAME: usize = 32;
/// Longest variable value, in characters.
pub const MAX_VARIABLE_VALUE: usize = 256;
/// Shortest ring timeout a call may ask for, in seconds.
pub const MIN_RING_TIMEOUT_SECS: u32 = 5;
/// Longest ring timeout a call may ask for, in seconds.
pub const MAX_RING_TIMEOUT_SECS: u32 = 120;
/// Ring timeout when the request names none, in seconds (30 s).
pub const DEFAULT_RING_TIMEOUT_SECS: u32 = 30;

/// The trunk an outbound call goes through, with its credentials in clear
/// (decrypted for this call only; never logged).
#[derive(Clone, PartialEq, Eq)]
pub struct DialTrunk {
    /// Carrier host (an IP address or a name).
    pub host: String,
    /// Carrier port.
    pub port: u16,
    /// Signalling transport.
    pub transport: Transport,
    /// Digest user name, if the carrier authenticates.
    pub auth_user: Option<String>,
    /// Digest password, if set.
    pub auth_password: Option<String>,
}

impl std::fmt::Debug for DialTrunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DialTrunk")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("transport", &self.transport)
            .field("auth_user", &self.auth_user)
            .field("auth_password", &self.auth_password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// One validated call to place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialRequest {
    /// The call record (status `queued`) the engine reports to.
    pub call_id: CallId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The agent that talks once the callee answers.
    pub agent_id: AgentId,
    /// The callee, E.164 (`+15551234567`).
    pub to: String,
    /// The caller id: the tenant's number the call is from (E.164 or SIP
    /// URI, as stored).
    pub from: String,
    /// Where the INVITE goes.
    pub trunk: DialTrunk,
    /// Fill the agent's `{{name}}` placeholders (greeting, system prompt).
    pub variables: BTreeMap<String, String>,
    /// How long to let it ring before giving up (`no_answer`).
    pub ring_timeout: Duration,
}

/// Why a call could not be placed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DialError {
    /// The tenant is at its concurrent-call limit.
    #[error("the tenant's concurrent-call limit ({limit}) is reached")]
    LimitReached {
        /// The limit.
        limit: usize,
    },
    /// The engine cannot place it now (no RTP port, SIP stopped, the
    /// trunk host cannot be resolved).
    #[error("the call cannot be placed: {0}")]
    Unavailable(String),
}

/// Why a call could not be canceled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CancelError {
    /// The call is not being dialed on this node (ended, answered, or
    /// another tenant's).
    #[error("the call is not being dialed")]
    NotDialing,
}

/// The engine's outbound calls. Every method returns at once: the call
/// runs on, and reports to its record, in the background.
pub trait Dialer: Send + Sync {
    /// Places `request`. On success the engine owns the call: it moves the
    /// record through `dialing`, `ringing`, `in_progress` to its final
    /// status. On error nothing was started.
    fn dial(&self, request: DialRequest) -> Result<(), DialError>;

    /// Cancels call `id` of `tenant` if it is not answered yet (SIP CANCEL;
    /// the record ends `canceled`).
    fn cancel(&self, tenant: TenantId, id: CallId) -> Result<(), CancelError>;
}
