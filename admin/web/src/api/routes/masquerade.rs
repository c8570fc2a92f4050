//! "Log in as": `POST /api/v1/tenants/{tid}/masquerade` (super admin) and
//! `POST /api/v1/auth/masquerade/end`. Both answer like a login (new
//! session token, CSRF token, cookie): the previous session ends.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::api::auth::Caller;
use crate::api::error::{parse_id, ApiError};
use crate::api::openapi::{Forbidden, TenantPath, Validation};
use parla_admin_core::domain::TenantId;
use parla_admin_core::service::login::{self as login_flow, end_masquerade_id};

use super::login::{signed_in, SessionView};
use super::{peer_ip, require_super_admin, State};

/// The module's operations, merged into the document by
/// [`crate::api::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(start, end))]
pub(super) struct Doc;

/// Super admin only: a new session as the tenant's first active admin
/// (by e-mail); the caller's session ends. Audited `masquerade.start`.
#[utoipa::path(
    post,
    path = "/tenants/{tid}/masquerade",
    tag = "auth",
    params(TenantPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The masquerade session (cookie set)", body = SessionView),
        (status = 403, response = Forbidden),
        (status = 422, response = Validation),
    )
)]
pub(super) async fn start(
    state: State,
    req: HttpRequest,
    who: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant: TenantId = parse_id(&path)?;
    // Tenant users see 404 on another tenant (its existence is not theirs
    // to know) and 403 on their own.
    if !who.principal.can_access_tenant(&tenant.to_string()) {
        return Err(ApiError::not_found());
    }
    require_super_admin(&who)?;
    let s = login_flow::start_masquerade(&state, &who, tenant, peer_ip(&req)).await?;
    Ok(signed_in(&state, s))
}

/// Ends the calling masquerade session: a fresh session of the super
/// admin. Audited `masquerade.end`.
#[utoipa::path(
    post,
    path = "/auth/masquerade/end",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The super admin's new session (cookie set)", body = SessionView),
        (status = 403, response = Forbidden),
    )
)]
pub(super) async fn end(
    state: State,
    req: HttpRequest,
    who: Caller,
) -> Result<HttpResponse, ApiError> {
    let id = who.session_id.as_deref().ok_or_else(ApiError::forbidden)?;
    let s = end_masquerade_id(&state, id, peer_ip(&req)).await?;
    Ok(signed_in(&state, s))
}
