//! Call records and the audit log of a tenant (read-only).

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::api::auth::Caller;
use crate::api::error::{parse_id, ApiError};
use crate::api::openapi::{ItemPath, TenantPath};
use parla_admin_core::domain::{CallId, CallStatus, Direction};
use parla_admin_core::store::{AuditEntry, AuditFilter, CallFilter, CallRecord, Paged};

use super::tenants::field;
use super::{tenant_scope, PageQuery, State};

/// The module's operations, merged into the document by
/// [`crate::api::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, get, audit))]
pub(super) struct Doc;

/// Filters of the call list (besides `page` and `per_page`); read as text
/// so bad values get a 422 naming the parameter.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct CallQuery {
    /// Only calls with this status.
    #[param(value_type = Option<CallStatus>)]
    status: Option<String>,
    /// Only calls in this direction.
    #[param(value_type = Option<Direction>)]
    direction: Option<String>,
}

/// `GET /tenants/{tid}/calls`: a page of call records, newest first.
#[utoipa::path(
    get,
    path = "/tenants/{tid}/calls",
    tag = "calls",
    params(TenantPath, PageQuery, CallQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of call records", body = Paged<CallRecord>))
)]
pub(super) async fn list(
    state: State,
    who: Caller,
    path: web::Path<String>,
    p: web::Query<PageQuery>,
    q: web::Query<CallQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path).await?;
    let page = p.page()?;
    let mut err = ApiError::validation();
    let filter = CallFilter {
        status: field::<CallStatus>(&mut err, "status", q.status.as_deref()),
        direction: field::<Direction>(&mut err, "direction", q.direction.as_deref()),
        ..Default::default()
    };
    if err.has_fields() {
        return Err(err);
    }
    Ok(HttpResponse::Ok().json(state.store.calls().list(&scope, &filter, page).await?))
}

/// `GET /tenants/{tid}/calls/{id}`: one call record with its transcript
/// and latency breakdown.
#[utoipa::path(
    get,
    path = "/tenants/{tid}/calls/{id}",
    tag = "calls",
    params(ItemPath),
    security(("bearer" = [])),
    responses((status = 200, description = "The call record", body = CallRecord))
)]
pub(super) async fn get(
    state: State,
    who: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path.0).await?;
    let id: CallId = parse_id(&path.1)?;
    let c = state.store.calls().get(&scope, id).await?;
    Ok(HttpResponse::Ok().json(c.ok_or_else(ApiError::not_found)?))
}

/// `GET /tenants/{tid}/audit`: a page of the tenant's audit log, newest
/// first.
#[utoipa::path(
    get,
    path = "/tenants/{tid}/audit",
    tag = "calls",
    params(TenantPath, PageQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of audit entries", body = Paged<AuditEntry>))
)]
pub(super) async fn audit(
    state: State,
    who: Caller,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path).await?;
    let page = q.page()?;
    let p = state
        .store
        .audit()
        .list(&scope, &AuditFilter::default(), page)
        .await?;
    Ok(HttpResponse::Ok().json(p))
}
