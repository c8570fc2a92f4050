//! Sessions: creating them, resolving a session to its principal (expiry,
//! idle timeout, user/tenant status, masquerade), CSRF tokens, logout.

use std::net::IpAddr;
use std::time::Duration;

use super::Authenticated;
use crate::auth::{
    csrf_token_for, is_expired, session_id_of, verify_csrf, Principal, SessionToken,
};
use crate::auth::{TenantRole as AuthRole, SESSION_TTL};
use crate::domain::{Opaque, Role, TenantId, TenantStatus, UserId, UserStatus};
use crate::store::{NewSession, Session, User};

use super::LoginError;
use super::{Event, SignedIn};
use crate::state::CoreState;

/// `last_seen_at` is written at most this often per session.
pub(crate) const ANTI_IDLE_TOUCH: Duration = Duration::from_secs(60);

fn csrf_key(state: &CoreState) -> [u8; 32] {
    state.secrets.derive_key("csrf")
}

/// Creates a session for `user` in `tenant` (masquerading if
/// `masquerading_from` is set) and returns its token and CSRF token.
pub(super) async fn issue(
    state: &CoreState,
    user: UserId,
    tenant: Option<TenantId>,
    masquerading_from: Option<UserId>,
) -> Result<SignedIn, LoginError> {
    let token = SessionToken::generate();
    let csrf = csrf_token_for(&token.session_id, &csrf_key(state));
    let now = state.store.now();
    state
        .store
        .sessions()
        .create(NewSession {
            id: token.session_id,
            user_id: user,
            tenant_id: tenant,
            masquerading_from,
            csrf_token: Opaque::new(csrf.clone()),
            now,
            expires_at: now.plus(SESSION_TTL),
        })
        .await?;
    Ok(SignedIn {
        session_token: token.cookie_value,
        csrf_token: csrf,
        user_id: user,
        tenant_id: tenant,
    })
}

/// Whether `submitted` is the CSRF token of the session whose cookie value
/// is `session_token` (constant-time; `false` for malformed input).
pub fn csrf_matches(state: &CoreState, session_token: &str, submitted: &str) -> bool {
    session_id_of(session_token).is_ok_and(|id| verify_csrf(&id, &csrf_key(state), submitted))
}

/// The principal of a session cookie value (same checks as Bearer
/// sessions: expiry, idle timeout, user active, tenant active, masquerading
/// super admin still one), also returning the session's CSRF token;
/// updates `last_seen_at` (at most once a minute).
///
/// Errors: 401 for a malformed, unknown or expired token or a disabled
/// user; 403 `tenant_suspended` when the session's tenant is suspended.
pub async fn session_principal(
    state: &CoreState,
    session_token: &str,
) -> Result<(Authenticated, String), LoginError> {
    let id = session_id_of(session_token).map_err(|_| LoginError::unauthorized())?;
    let (who, session) = principal_of_session_id(state, &id).await?;
    Ok((who, session.csrf_token.into_inner()))
}

/// An active user by id, or 401.
async fn active_user(state: &CoreState, id: UserId) -> Result<User, LoginError> {
    match state.store.users().get(id).await? {
        Some(u) if u.status == UserStatus::Active => Ok(u),
        _ => Err(LoginError::unauthorized()),
    }
}

/// Whether `user` holds the super admin role.
pub(super) async fn is_super_admin(state: &CoreState, user: UserId) -> Result<bool, LoginError> {
    let roles = state.store.memberships().roles_of(user).await?;
    Ok(roles.iter().any(|m| m.role == Role::SuperAdmin))
}

/// 403 `tenant_suspended` unless `tenant` exists and is active (401 if it
/// is gone).
pub(super) async fn require_active_tenant(
    state: &CoreState,
    tenant: TenantId,
) -> Result<(), LoginError> {
    match state.store.tenants().get(tenant).await? {
        Some(t) if t.status == TenantStatus::Active => Ok(()),
        Some(_) => Err(LoginError::tenant_suspended()),
        None => Err(LoginError::unauthorized()),
    }
}

/// The principal of the session stored under `id` (the SHA-256 hex of its
/// token, as bearer authentication computes it) and the session row; see
/// [`session_principal`]. `Unauthorized` if the session is unknown,
/// expired or its user or tenant may no longer sign in.
pub async fn principal_of_session_id(
    state: &CoreState,
    id: &str,
) -> Result<(Authenticated, Session), LoginError> {
    let session = state
        .store
        .sessions()
        .get(id)
        .await?
        .ok_or_else(LoginError::unauthorized)?;
    let now = state.store.now();
    if is_expired(
        session.created_at.as_unix_ms(),
        session.last_seen_at.as_unix_ms(),
        now.as_unix_ms(),
    ) || session.is_expired(now)
    {
        return Err(LoginError::unauthorized());
    }
    let user = active_user(state, session.user_id).await?;
    let masquerader = match session.masquerading_from {
        Some(m) => {
            let root = active_user(state, m).await?;
            if !is_super_admin(state, m).await? {
                return Err(LoginError::unauthorized());
            }
            Some(root)
        }
        None => None,
    };
    let roles = state.store.memberships().roles_of(user.id).await?;
    let principal = if masquerader.is_none() && roles.iter().any(|m| m.role == Role::SuperAdmin) {
        Principal::SuperAdmin {
            user_id: user.id.to_string(),
        }
    } else {
        let tenant = session.tenant_id.ok_or_else(LoginError::unauthorized)?;
        let role = match roles.iter().find(|m| m.tenant_id == Some(tenant)) {
            Some(m) if m.role == Role::Admin => AuthRole::Admin,
            Some(m) if m.role == Role::Agent => AuthRole::Agent,
            _ => return Err(LoginError::unauthorized()),
        };
        require_active_tenant(state, tenant).await?;
        Principal::TenantUser {
            user_id: user.id.to_string(),
            tenant_id: tenant.to_string(),
            role,
            masquerading_from: session.masquerading_from.map(|u| u.to_string()),
        }
    };
    if now.millis_since(session.last_seen_at) >= ANTI_IDLE_TOUCH.as_millis() as i64 {
        state
            .store
            .sessions()
            .touch(id, now, session.expires_at)
            .await?;
    }
    let label = match &masquerader {
        Some(root) => format!("{} (masquerade by {})", user.email, root.email),
        None => user.email.to_string(),
    };
    let who = Authenticated {
        principal,
        user_id: Some(user.id),
        label,
        session_id: Some(session.id.clone()),
        email: Some(user.email.to_string()),
        masquerading_from: session.masquerading_from,
        masquerader_email: masquerader.map(|r| r.email.to_string()),
    };
    Ok((who, session))
}

/// Deletes the session (idempotent: unknown or malformed tokens are fine),
/// audited `logout`.
pub async fn logout(state: &CoreState, session_token: &str) -> Result<(), LoginError> {
    match session_id_of(session_token) {
        Ok(id) => end_session(state, &id, None).await,
        Err(_) => Ok(()),
    }
}

/// Deletes the session stored under `id` (the SHA-256 hex of its token);
/// audited `logout` from `ip` if it existed. Unknown ids are not an error.
pub async fn end_session(
    state: &CoreState,
    id: &str,
    ip: Option<IpAddr>,
) -> Result<(), LoginError> {
    let Some(session) = state.store.sessions().get(id).await? else {
        return Ok(());
    };
    if !state.store.sessions().delete(id).await? {
        return Ok(());
    }
    let email = match state.store.users().get(session.user_id).await? {
        Some(u) => u.email.to_string(),
        None => String::new(),
    };
    Event {
        actor: session.masquerading_from.or(Some(session.user_id)),
        label: &email,
        tenant: session.tenant_id,
        action: "logout",
        target: session.user_id.to_string(),
        after: None,
        ip,
    }
    .record(state)
    .await
}
