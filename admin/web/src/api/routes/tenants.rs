//! Tenants (super admin only).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::auth::Caller;
use crate::api::error::{parse_id, ApiError};
use crate::api::json_body::JsonBody;
use crate::api::openapi::{Conflict, Forbidden, NotFound, TenantPath};
use parla_admin_core::domain::{Name, Slug, TenantId, TenantStatus};
use parla_admin_core::service::tenants as service;
use parla_admin_core::store::{Paged, Tenant};

use super::{created, require_super_admin, PageQuery, State};

/// The module's operations, merged into the document by
/// [`crate::api::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, get, update, delete))]
pub(super) struct Doc;

/// The body of POST.
#[derive(Deserialize, ToSchema)]
#[schema(as = TenantInput)]
pub(super) struct Create {
    /// Display name (unique).
    #[schema(value_type = Name)]
    name: String,
    /// URL identifier (unique).
    #[schema(value_type = Slug)]
    slug: String,
    /// Billing plan (a slug); `free` when absent, null or empty.
    #[schema(value_type = Option<String>, pattern = "^$|^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")]
    plan: Option<String>,
}

/// The body of PATCH: absent or null fields are left unchanged.
#[derive(Deserialize, ToSchema)]
#[schema(as = TenantPatch)]
pub(super) struct Update {
    /// New display name (unique).
    #[schema(value_type = Option<Name>)]
    name: Option<String>,
    /// Suspend or reactivate.
    #[schema(value_type = Option<TenantStatus>)]
    status: Option<String>,
    /// New billing plan (a slug); absent, null or empty keeps the current one.
    #[schema(value_type = Option<String>, pattern = "^$|^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")]
    plan: Option<String>,
}

pub(super) fn field<T: std::str::FromStr>(
    err: &mut ApiError,
    name: &str,
    value: Option<&str>,
) -> Option<T>
where
    T::Err: std::fmt::Display,
{
    match value?.parse() {
        Ok(v) => Some(v),
        Err(e) => {
            *err = err.clone().with_field(name, e.to_string());
            None
        }
    }
}

/// Non-super-admins get 404 on tenant routes (the list of tenants is not
/// theirs to know).
fn only_super_admin(who: &Caller) -> Result<(), ApiError> {
    require_super_admin(who).map_err(|_| ApiError::not_found())
}

/// `POST /tenants` (super admin): creates a tenant.
#[utoipa::path(
    post,
    path = "/tenants",
    tag = "tenants",
    request_body = Create,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The created tenant", body = Tenant),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    )
)]
pub(super) async fn create(
    state: State,
    req: HttpRequest,
    who: Caller,
    body: JsonBody<Create>,
) -> Result<HttpResponse, ApiError> {
    require_super_admin(&who)?;
    let ctx = service_ctx!(state, req, who);
    let t = service::create(ctx, &body.name, &body.slug, body.plan.as_deref()).await?;
    Ok(created(t))
}

/// `GET /tenants` (super admin; 404 for everyone else).
#[utoipa::path(
    get,
    path = "/tenants",
    tag = "tenants",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of tenants", body = Paged<Tenant>),
        (status = 404, response = NotFound),
    )
)]
pub(super) async fn list(
    state: State,
    who: Caller,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    only_super_admin(&who)?;
    let page = q.page()?;
    Ok(HttpResponse::Ok().json(state.store.tenants().list(page).await?))
}

/// `GET /tenants/{tid}` (super admin).
#[utoipa::path(
    get,
    path = "/tenants/{tid}",
    tag = "tenants",
    params(TenantPath),
    security(("bearer" = [])),
    responses((status = 200, description = "The tenant", body = Tenant))
)]
pub(super) async fn get(
    state: State,
    who: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    only_super_admin(&who)?;
    let id: TenantId = parse_id(&path)?;
    let t = state.store.tenants().get(id).await?;
    Ok(HttpResponse::Ok().json(t.ok_or_else(ApiError::not_found)?))
}

/// `PATCH /tenants/{tid}` (super admin): rename, suspend, change plan.
#[utoipa::path(
    patch,
    path = "/tenants/{tid}",
    tag = "tenants",
    params(TenantPath),
    request_body = Update,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated tenant", body = Tenant),
        (status = 409, response = Conflict),
    )
)]
pub(super) async fn update(
    state: State,
    req: HttpRequest,
    who: Caller,
    path: web::Path<String>,
    body: JsonBody<Update>,
) -> Result<HttpResponse, ApiError> {
    only_super_admin(&who)?;
    let id: TenantId = parse_id(&path)?;
    let ctx = service_ctx!(state, req, who);
    let (name, status, plan) = (
        body.name.as_deref(),
        body.status.as_deref(),
        body.plan.as_deref(),
    );
    let t = service::update(ctx, id, name, status, plan).await?;
    Ok(HttpResponse::Ok().json(t))
}

/// `DELETE /tenants/{tid}` (super admin): deletes the tenant and all it owns.
#[utoipa::path(
    delete,
    path = "/tenants/{tid}",
    tag = "tenants",
    params(TenantPath),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted"))
)]
pub(super) async fn delete(
    state: State,
    req: HttpRequest,
    who: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    only_super_admin(&who)?;
    let id: TenantId = parse_id(&path)?;
    service::delete(service_ctx!(state, req, who), id).await?;
    Ok(HttpResponse::NoContent().finish())
}
