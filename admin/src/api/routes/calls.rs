//! Call records and the audit log of a tenant (read-only).

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::api::auth::Authenticated;
use crate::api::error::{parse_id, ApiError};
use crate::domain::{CallId, CallStatus, Direction};
use crate::store::{AuditFilter, CallFilter};

use super::tenants::field;
use super::{tenant_scope, PageQuery, State};

#[derive(Deserialize)]
pub(super) struct CallQuery {
    #[serde(flatten)]
    page: PageQuery,
    status: Option<String>,
    direction: Option<String>,
}

pub(super) async fn list(
    state: State,
    who: Authenticated,
    path: web::Path<String>,
    q: web::Query<CallQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path).await?;
    let page = q.page.page()?;
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

pub(super) async fn get(
    state: State,
    who: Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path.0).await?;
    let id: CallId = parse_id(&path.1)?;
    let c = state.store.calls().get(&scope, id).await?;
    Ok(HttpResponse::Ok().json(c.ok_or_else(ApiError::not_found)?))
}

pub(super) async fn audit(
    state: State,
    who: Authenticated,
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
