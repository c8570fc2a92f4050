//! The caller's own account: password change (and the rule that only the
//! user themself, through a session, manages their credentials).

use std::net::IpAddr;

use super::Authenticated;
use crate::auth::{hash_password, verify_password, PasswordPolicy};
use crate::domain::{Opaque, UserStatus};
use crate::store::User;

use super::LoginError;
use super::{blocking, check_throttle, record_failure, throttle_keys, Event};
use crate::state::CoreState;

/// The caller's user row, if the caller is a user acting as themself: a
/// session (not an API key) that is not a masquerade (a super admin acting
/// as a tenant user must not change that user's credentials). 403
/// otherwise, 401 if the user is gone or disabled.
pub(super) async fn own_account(
    state: &CoreState,
    who: &Authenticated,
) -> Result<User, LoginError> {
    let (Some(id), Some(_), None) = (who.user_id, &who.session_id, who.masquerading_from) else {
        return Err(LoginError::forbidden());
    };
    match state.store.users().get(id).await? {
        Some(u) if u.status == UserStatus::Active => Ok(u),
        _ => Err(LoginError::unauthorized()),
    }
}

/// Password change: verifies `current`, applies [`PasswordPolicy`] to
/// `new`, stores the new argon2id hash and revokes the user's other
/// sessions (the caller's session stays). Audited `user.password_change`.
///
/// Errors: 403 not a session of the user; 422 field `current_password`
/// (wrong) or `new_password` (policy); 429 throttled (wrong current
/// passwords count as failed logins).
pub async fn change_password(
    state: &CoreState,
    who: &Authenticated,
    current: &str,
    new: &str,
    ip: Option<IpAddr>,
) -> Result<(), LoginError> {
    let user = own_account(state, who).await?;
    let keys = throttle_keys(ip, user.email.as_str());
    check_throttle(state, &keys)?;
    let (plain, hash) = (current.to_owned(), user.password_hash.expose().to_owned());
    if blocking(move || verify_password(&plain, &hash)).await? != Ok(true) {
        record_failure(state, &keys)?;
        return Err(LoginError::invalid("current_password", "wrong password"));
    }
    PasswordPolicy::check(new).map_err(|e| LoginError::invalid("new_password", e.to_string()))?;
    let new = new.to_owned();
    let hash = blocking(move || hash_password(&new))
        .await?
        .map_err(LoginError::internal)?;
    state
        .store
        .users()
        .set_password_hash(user.id, &Opaque::new(hash))
        .await?;
    let keep = who.session_id.as_deref().unwrap_or_default();
    let revoked = state
        .store
        .sessions()
        .delete_for_user_except(user.id, keep)
        .await?;
    Event {
        actor: Some(user.id),
        label: &who.label,
        tenant: who.tenant_id(),
        action: "user.password_change",
        target: user.id.to_string(),
        after: Some(serde_json::json!({ "sessions_revoked": revoked })),
        ip,
    }
    .record(state)
    .await
}
