//! "Log in as": a super admin takes a tenant admin's session (the panel
//! shows a banner), and returns to their own.

use std::net::IpAddr;

use super::Authenticated;
use crate::auth::{session_id_of, Principal};
use crate::domain::{TenantId, TenantStatus};
use crate::store::TenantScope;

use super::session::{issue, principal_of_session_id};
use super::LoginError;
use super::{Event, SignedIn};
use crate::state::CoreState;

/// Super admin → a new session as the first active admin (by e-mail) of
/// `tenant`, with `masquerading_from` = the super admin. The super admin's
/// own session is ended (a fresh one comes back with [`end_masquerade`]).
/// Audited `masquerade.start` (tenant, target user).
///
/// Errors: 403 not a super admin's own session; 404 no such tenant; 403
/// `tenant_suspended`; 422 (field `tenant`) the tenant has no active admin.
pub async fn start_masquerade(
    state: &CoreState,
    who: &Authenticated,
    tenant: TenantId,
    ip: Option<IpAddr>,
) -> Result<SignedIn, LoginError> {
    let (Principal::SuperAdmin { .. }, Some(root), Some(old)) =
        (&who.principal, who.user_id, &who.session_id)
    else {
        return Err(LoginError::forbidden());
    };
    let t = state
        .store
        .tenants()
        .get(tenant)
        .await?
        .ok_or_else(LoginError::not_found)?;
    if t.status != TenantStatus::Active {
        return Err(LoginError::tenant_suspended());
    }
    let scope = TenantScope::new(tenant);
    let target = state
        .store
        .memberships()
        .first_active_admin(&scope)
        .await?
        .ok_or_else(|| {
            LoginError::invalid("tenant", "the tenant has no active admin to log in as")
        })?;
    let signed = issue(state, target.user_id, Some(tenant), Some(root)).await?;
    state.store.sessions().delete(old).await?;
    Event {
        actor: Some(root),
        label: &who.label,
        tenant: Some(tenant),
        action: "masquerade.start",
        target: target.user_id.to_string(),
        after: Some(serde_json::json!({
            "user_id": target.user_id,
            "email": target.email,
            "tenant_id": tenant,
        })),
        ip,
    }
    .record(state)
    .await?;
    Ok(signed)
}

/// Ends a masquerade session and returns a fresh session of the original
/// super admin. Audited `masquerade.end`.
///
/// Errors: 401 invalid/expired session; 403 not a masquerade session.
pub async fn end_masquerade(
    state: &CoreState,
    session_token: &str,
    ip: Option<IpAddr>,
) -> Result<SignedIn, LoginError> {
    let id = session_id_of(session_token).map_err(|_| LoginError::unauthorized())?;
    end_masquerade_id(state, &id, ip).await
}

/// [`end_masquerade`] by the stored session id (the SHA-256 hex of the
/// session token).
pub async fn end_masquerade_id(
    state: &CoreState,
    id: &str,
    ip: Option<IpAddr>,
) -> Result<SignedIn, LoginError> {
    let (who, session) = principal_of_session_id(state, id).await?;
    let Some(root) = session.masquerading_from else {
        return Err(LoginError::forbidden());
    };
    state.store.sessions().delete(id).await?;
    let signed = issue(state, root, None, None).await?;
    Event {
        actor: Some(root),
        label: who.masquerader_email.as_deref().unwrap_or_default(),
        tenant: session.tenant_id,
        action: "masquerade.end",
        target: session.user_id.to_string(),
        after: None,
        ip,
    }
    .record(state)
    .await?;
    Ok(signed)
}
