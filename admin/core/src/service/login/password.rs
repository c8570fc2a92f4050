//! The two login steps: email + password, then (with TOTP on) a TOTP code
//! or a recovery code.

use std::net::IpAddr;
use std::time::Instant;

use crate::auth::{verify_dummy, verify_password};
use crate::domain::{Email, Role, TenantId, TenantStatus, UserStatus};
use crate::store::User;

use super::session::issue;
use super::totp::{check_second_factor, totp_enabled};
use super::LoginError;
use super::{blocking, check_throttle, record_failure, record_success, throttle_keys};
use super::{Event, LoginOutcome, SignedIn};
use crate::state::CoreState;

/// A failed login attempt, audited as `login.failed`.
fn failed<'a>(user: Option<&User>, label: &'a str, reason: &str, ip: Option<IpAddr>) -> Event<'a> {
    Event {
        actor: user.map(|u| u.id),
        label,
        tenant: None,
        action: "login.failed",
        target: user.map(|u| u.id.to_string()).unwrap_or_default(),
        after: Some(serde_json::json!({ "reason": reason })),
        ip,
    }
}

/// Email + password. Throttled per IP and account (429 via
/// [`LoginError::too_many_requests`]), argon2 verification on a blocking
/// thread, a dummy verification for unknown accounts (equal timing),
/// audited (`login.failed`, `login.succeeded`,
/// `login.second_factor_required`).
///
/// `tenant` picks the tenant of a user in several; without it the first
/// active one (by tenant id) is used. Super admins have no tenant.
///
/// Errors: 401 wrong email/password or disabled user (same answer for
/// all); 403 `forbidden` not a member of `tenant` (or of any tenant), 403
/// `tenant_suspended` the tenant is suspended; 429 throttled.
pub async fn password_step(
    state: &CoreState,
    email: &str,
    password: &str,
    tenant: Option<TenantId>,
    ip: Option<IpAddr>,
) -> Result<LoginOutcome, LoginError> {
    let keys = throttle_keys(ip, email);
    check_throttle(state, &keys)?;
    let user = match email.parse::<Email>() {
        Ok(e) => state.store.users().find_by_email(&e).await?,
        Err(_) => None,
    };
    let password = password.to_owned();
    let verified = match &user {
        Some(u) => {
            let hash = u.password_hash.expose().to_owned();
            blocking(move || verify_password(&password, &hash)).await? == Ok(true)
        }
        None => {
            blocking(move || verify_dummy(&password)).await?;
            false
        }
    };
    let user = match user {
        Some(u) if verified && u.status == UserStatus::Active => u,
        other => {
            record_failure(state, &keys)?;
            failed(other.as_ref(), email, "credentials", ip)
                .record(state)
                .await?;
            return Err(LoginError::unauthorized());
        }
    };
    // The account's failures are cleared only once the whole login
    // succeeded: clearing them here would let TOTP guesses go on forever.
    let label = user.email.to_string();
    let tenant = match pick_tenant(state, &user, tenant).await {
        Ok(t) => t,
        Err((reason, err)) => {
            failed(Some(&user), &label, reason, ip)
                .record(state)
                .await?;
            return Err(err);
        }
    };
    if totp_enabled(&user) {
        let challenge = state.login.issue(user.id, tenant, &label, Instant::now());
        Event {
            actor: Some(user.id),
            label: &label,
            tenant,
            action: "login.second_factor_required",
            target: user.id.to_string(),
            after: None,
            ip,
        }
        .record(state)
        .await?;
        return Ok(LoginOutcome::NeedsSecondFactor { challenge });
    }
    record_success(state, &keys[1])?;
    let signed = succeed(state, &user, tenant, "password", ip).await?;
    Ok(LoginOutcome::SignedIn(signed))
}

/// The tenant the session works in, or why the login is refused (the
/// reason recorded in the audit log and the error).
async fn pick_tenant(
    state: &CoreState,
    user: &User,
    wanted: Option<TenantId>,
) -> Result<Option<TenantId>, (&'static str, LoginError)> {
    let internal = |e| ("internal", LoginError::from(e));
    let roles = state
        .store
        .memberships()
        .roles_of(user.id)
        .await
        .map_err(internal)?;
    if roles.iter().any(|m| m.role == Role::SuperAdmin) {
        return Ok(None);
    }
    let candidates: Vec<TenantId> = roles
        .iter()
        .filter_map(|m| m.tenant_id)
        .filter(|t| wanted.is_none_or(|w| w == *t))
        .collect();
    if candidates.is_empty() {
        return Err(("not_a_member", LoginError::forbidden()));
    }
    for t in candidates {
        let tenant = state.store.tenants().get(t).await.map_err(internal)?;
        if tenant.is_some_and(|t| t.status == TenantStatus::Active) {
            return Ok(Some(t));
        }
    }
    Err(("tenant_suspended", LoginError::tenant_suspended()))
}

/// Creates the session of a completed login, audited `login.succeeded`.
async fn succeed(
    state: &CoreState,
    user: &User,
    tenant: Option<TenantId>,
    method: &str,
    ip: Option<IpAddr>,
) -> Result<SignedIn, LoginError> {
    let signed = issue(state, user.id, tenant, None).await?;
    Event {
        actor: Some(user.id),
        label: user.email.as_str(),
        tenant,
        action: "login.succeeded",
        target: user.id.to_string(),
        after: Some(serde_json::json!({ "method": method })),
        ip,
    }
    .record(state)
    .await?;
    Ok(signed)
}

/// The second step: `code` is a 6-digit TOTP code (not replayable) or a
/// recovery code (consumed on use). Throttled and audited like the
/// password step: a wrong code counts against the IP and the account, and
/// the account's failures are cleared only here, after a correct code (a
/// correct password alone does not clear them); a challenge allows
/// [`CHALLENGE_MAX_ATTEMPTS`](super::CHALLENGE_MAX_ATTEMPTS) wrong codes.
///
/// Errors: 401 unknown/expired/used challenge or wrong code; 429 throttled.
pub async fn second_factor(
    state: &CoreState,
    challenge: &str,
    code: &str,
    ip: Option<IpAddr>,
) -> Result<SignedIn, LoginError> {
    let Some(pending) = state.login.peek(challenge, Instant::now()) else {
        let keys = throttle_keys(ip, "");
        check_throttle(state, &keys[..1])?;
        record_failure(state, &keys[..1])?;
        failed(None, "", "unknown_challenge", ip)
            .record(state)
            .await?;
        return Err(LoginError::unauthorized());
    };
    let keys = throttle_keys(ip, &pending.email);
    check_throttle(state, &keys)?;
    let user = match state.store.users().get(pending.user_id).await? {
        Some(u) if u.status == UserStatus::Active => u,
        _ => return Err(LoginError::unauthorized()),
    };
    let method = check_second_factor(state, &user, code).await?;
    let Some(method) = method else {
        state.login.wrong_code(challenge);
        record_failure(state, &keys)?;
        failed(Some(&user), &pending.email, "second_factor", ip)
            .record(state)
            .await?;
        return Err(LoginError::unauthorized());
    };
    if !state.login.consume(challenge) {
        return Err(LoginError::unauthorized());
    }
    record_success(state, &keys[1])?;
    succeed(state, &user, pending.tenant_id, method, ip).await
}
