//! Users of a tenant (super admin or that tenant's admin).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::api::json_body::JsonBody;
use crate::api::openapi::{Conflict, Forbidden, ItemPath, TenantPath};
use parla_admin_core::domain::{Email, TenantRole, UserId, UserStatus};
use parla_admin_core::service::users::{self as service, CreatedUser};
use parla_admin_core::store::{Paged, TenantMember, TenantScope};

use super::{created, found, scope_and_id, tenant_scope, PageQuery, State};

/// The module's operations, merged into the document by
/// [`crate::api::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, get, update, delete))]
pub(super) struct Doc;

/// A new login and its role in the tenant.
#[derive(Deserialize, ToSchema)]
pub(super) struct Create {
    #[schema(value_type = Email)]
    email: String,
    /// At least 12 characters.
    #[schema(min_length = 12, max_length = 256)]
    password: String,
    #[schema(value_type = TenantRole)]
    role: String,
}

#[utoipa::path(
    post,
    path = "/tenants/{tid}/users",
    tag = "users",
    params(TenantPath),
    request_body = Create,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The created user", body = CreatedUser),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    )
)]
pub(super) async fn create(
    state: State,
    req: HttpRequest,
    who: Caller,
    path: web::Path<String>,
    body: JsonBody<Create>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path).await?;
    let body = body.into_inner();
    let input = service::NewMember {
        email: body.email,
        password: body.password,
        role: body.role,
    };
    let user = service::create(service_ctx!(state, req, who), &scope, &input).await?;
    Ok(created(user))
}

#[utoipa::path(
    get,
    path = "/tenants/{tid}/users",
    tag = "users",
    params(TenantPath, PageQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of the tenant's users, by e-mail", body = Paged<TenantMember>))
)]
pub(super) async fn list(
    state: State,
    who: Caller,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path).await?;
    let page = q.page()?;
    Ok(HttpResponse::Ok().json(state.store.memberships().list(&scope, page).await?))
}

/// Role and/or login status (absent fields are kept).
#[derive(Deserialize, ToSchema)]
pub(super) struct Update {
    #[schema(value_type = Option<TenantRole>)]
    role: Option<String>,
    #[schema(value_type = Option<UserStatus>)]
    status: Option<String>,
}

async fn load(
    state: &State,
    who: &Caller,
    tid: &str,
    id: &str,
) -> Result<(TenantScope, TenantMember), ApiError> {
    let (scope, id) = scope_and_id::<UserId>(state, who, tid, id).await?;
    let m = found(state.store.memberships().member(&scope, id).await?)?;
    Ok((scope, m))
}

/// `GET /tenants/{tid}/users/{id}`: a member of the tenant.
#[utoipa::path(
    get,
    path = "/tenants/{tid}/users/{id}",
    tag = "users",
    params(ItemPath),
    security(("bearer" = [])),
    responses((status = 200, description = "The member", body = TenantMember))
)]
pub(super) async fn get(
    state: State,
    who: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, m) = load(&state, &who, &path.0, &path.1).await?;
    Ok(HttpResponse::Ok().json(m))
}

/// `PATCH /tenants/{tid}/users/{id}` `{role?, status?}`. The login status
/// is global, so a tenant admin may only change it for users who belong to
/// no other tenant (403 otherwise). Disabling ends the user's sessions.
#[utoipa::path(
    patch,
    path = "/tenants/{tid}/users/{id}",
    tag = "users",
    params(ItemPath),
    request_body = Update,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated member", body = TenantMember),
        (status = 403, response = Forbidden),
    )
)]
pub(super) async fn update(
    state: State,
    req: HttpRequest,
    who: Caller,
    path: web::Path<(String, String)>,
    body: JsonBody<Update>,
) -> Result<HttpResponse, ApiError> {
    let (scope, id) = scope_and_id::<UserId>(&state, &who, &path.0, &path.1).await?;
    let ctx = service_ctx!(state, req, who);
    let (role, status) = (body.role.as_deref(), body.status.as_deref());
    let after = service::update(ctx, &scope, id, role, status).await?;
    Ok(HttpResponse::Ok().json(after))
}

/// `DELETE /tenants/{tid}/users/{id}` (super admin): removes the user from
/// the tenant, and deletes the login itself when it belongs to no other
/// tenant. The user's sessions end.
#[utoipa::path(
    delete,
    path = "/tenants/{tid}/users/{id}",
    tag = "users",
    params(ItemPath),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed from the tenant (the login too if it has no other tenant)"),
        (status = 403, response = Forbidden),
    )
)]
pub(super) async fn delete(
    state: State,
    req: HttpRequest,
    who: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (scope, id) = scope_and_id::<UserId>(&state, &who, &path.0, &path.1).await?;
    service::remove(service_ctx!(state, req, who), &scope, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
