//! The login service shared by the JSON API and the web panel: password
//! step, second factor (TOTP or recovery code), sessions (principal,
//! CSRF, logout), masquerade, password change and TOTP enrolment.
//!
//! Every function returns [`LoginError`] (bad credentials, not allowed,
//! tenant suspended, invalid input, throttled, …): the API maps it to its
//! error shape (401, 403, 422, 429, …), the panel to its pages. Every outcome that
//! matters is written to the audit log: `login.succeeded`, `login.failed`,
//! `login.second_factor_required`, `logout`, `masquerade.start`,
//! `masquerade.end`, `user.password_change`, `totp.enable`, `totp.disable`.
//!
//! Every function takes the [`CoreState`] (store, credential key,
//! failed-login throttle, pending challenges), never the web layer's
//! state; password hashing runs on tokio's blocking pool. The caller sets
//! the session cookie with
//! [`crate::auth::session::set_cookie_header`]`(&signed_in.session_token,
//! secure)` (`secure`: whether the admin plane is reached over HTTPS).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use crate::auth::ThrottleKey;
use crate::domain::{TenantId, UserId};
use crate::store::NewAuditEntry;

use crate::state::CoreState;

mod account;
mod caller;
mod error;
mod masquerade;
mod memory;
mod password;
mod session;
mod totp;

pub use account::change_password;
pub use caller::Authenticated;
pub use error::LoginError;
pub use masquerade::{end_masquerade, end_masquerade_id, start_masquerade};
pub(crate) use memory::LoginMemory;
pub use memory::{CHALLENGE_MAX_ATTEMPTS, CHALLENGE_TTL};
pub use password::{password_step, second_factor};
pub use session::{csrf_matches, end_session, logout, principal_of_session_id, session_principal};
pub use totp::{totp_begin, totp_confirm, totp_disable, totp_enabled, TotpEnrolment};

/// What the password step leads to.
#[derive(Debug)]
pub enum LoginOutcome {
    /// Signed in: the caller sets the session cookie
    /// (`session::set_cookie_header`).
    SignedIn(SignedIn),
    /// Password OK, TOTP enabled: ask for a code, then call
    /// [`second_factor`]. `challenge` is an opaque, short-lived
    /// ([`CHALLENGE_TTL`]), single-use token.
    NeedsSecondFactor {
        /// Pass it back to [`second_factor`] (43 characters of base64url).
        challenge: String,
    },
}

/// A new session.
#[derive(Clone)]
pub struct SignedIn {
    /// The cookie value / bearer token (43 characters of base64url). Never
    /// log it.
    pub session_token: String,
    /// The session's CSRF token (43 characters of base64url): send it back
    /// in `X-CSRF-Token` (or the `csrf_token` form field) on every
    /// cookie-authenticated POST/PUT/PATCH/DELETE.
    pub csrf_token: String,
    /// The signed-in user (the impersonated one while masquerading).
    pub user_id: UserId,
    /// The tenant the session works in; `None` for a super admin.
    pub tenant_id: Option<TenantId>,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("session_token", &"<redacted>")
            .field("csrf_token", &"<redacted>")
            .field("user_id", &self.user_id)
            .field("tenant_id", &self.tenant_id)
            .finish()
    }
}

/// One audit event of the login service.
pub(crate) struct Event<'a> {
    pub actor: Option<UserId>,
    pub label: &'a str,
    pub tenant: Option<TenantId>,
    pub action: &'a str,
    pub target: String,
    pub after: Option<serde_json::Value>,
    pub ip: Option<IpAddr>,
}

impl Event<'_> {
    /// Writes the event to the audit log.
    pub(crate) async fn record(self, state: &CoreState) -> Result<(), LoginError> {
        state
            .store
            .audit()
            .record(NewAuditEntry {
                actor_user_id: self.actor,
                actor_label: self.label.chars().take(320).collect(),
                tenant_id: self.tenant,
                action: self.action.to_owned(),
                target: self.target,
                before: None,
                after: self.after,
                ip: self.ip.map(|i| i.to_string()),
                at: state.store.now(),
            })
            .await?;
        Ok(())
    }
}

/// The throttle keys of an attempt: the IP (unspecified if unknown) and the
/// account.
fn throttle_keys(ip: Option<IpAddr>, account: &str) -> [ThrottleKey; 2] {
    [
        ThrottleKey::ip(ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))),
        ThrottleKey::account(account),
    ]
}

/// 429 if any of `keys` is locked out.
fn check_throttle(state: &CoreState, keys: &[ThrottleKey]) -> Result<(), LoginError> {
    let throttle = state.throttle.lock().map_err(LoginError::internal)?;
    throttle
        .check_all(keys, Instant::now())
        .map_err(|retry| LoginError::too_many_requests(retry.as_secs_ceil()))
}

/// Counts a failure against every key.
fn record_failure(state: &CoreState, keys: &[ThrottleKey]) -> Result<(), LoginError> {
    let mut throttle = state.throttle.lock().map_err(LoginError::internal)?;
    for k in keys {
        throttle.record_failure(k, Instant::now());
    }
    Ok(())
}

/// Clears the account's failures after a success (the IP's stay).
fn record_success(state: &CoreState, account: &ThrottleKey) -> Result<(), LoginError> {
    let mut throttle = state.throttle.lock().map_err(LoginError::internal)?;
    throttle.record_success(account);
    Ok(())
}

/// Runs a CPU-heavy (argon2) closure off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, LoginError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(LoginError::internal)
}
