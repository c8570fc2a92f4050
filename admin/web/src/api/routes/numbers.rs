//! Phone numbers of a tenant. Numbers are the operator's inventory: only
//! a super admin creates them (any address, wildcards `sip:*@*` and
//! `sip:<user>@*` included) in a tenant, i.e. assigns them to it; the
//! tenant's admins (and their API keys) list them and bind them to their
//! own agents (PATCH); only a super admin deletes them.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::auth::Caller;
use crate::api::error::{parse_id, ApiError};
use crate::api::json_body::JsonBody;
use crate::api::openapi::{Conflict, Forbidden, ItemPath, TenantPath};
use parla_admin_core::domain::{AgentId, NumberAddress, NumberId};
use parla_admin_core::service::numbers as service;
use parla_admin_core::store::{Paged, PhoneNumber, TenantScope};

use super::{created, tenant_scope, PageQuery, State};

/// The module's operations, merged into the document by
/// [`crate::api::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, get, update, delete))]
pub(super) struct Doc;

/// The body of POST.
#[derive(Deserialize, ToSchema)]
#[schema(as = NumberInput)]
pub(super) struct Create {
    /// The number (unique across tenants).
    #[schema(value_type = NumberAddress)]
    address: String,
    /// The agent answering calls to it (one of the tenant's); null for none.
    #[schema(value_type = Option<AgentId>)]
    agent_id: Option<String>,
}

/// The body of PATCH: the agent to route to (null or absent: none).
#[derive(Deserialize, ToSchema)]
#[schema(as = NumberUpdate)]
pub(super) struct Update {
    /// The agent answering calls to it (one of the tenant's); null for none.
    #[schema(value_type = Option<AgentId>)]
    agent_id: Option<String>,
}

/// The agent to route to, which must be one of the scope's agents (422
/// otherwise, whatever tenant it belongs to).
/// `POST /tenants/{tid}/numbers`: adds a number to the tenant (super
/// admin only: 403 for tenant users and API keys).
#[utoipa::path(
    post,
    path = "/tenants/{tid}/numbers",
    tag = "numbers",
    params(TenantPath),
    request_body = Create,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The created number", body = PhoneNumber),
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
    let ctx = service_ctx!(state, req, who);
    let n = service::create(ctx, &scope, &body.address, body.agent_id.as_deref()).await?;
    Ok(created(n))
}

/// `GET /tenants/{tid}/numbers`: a page of the tenant's numbers.
#[utoipa::path(
    get,
    path = "/tenants/{tid}/numbers",
    tag = "numbers",
    params(TenantPath, PageQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of numbers", body = Paged<PhoneNumber>))
)]
pub(super) async fn list(
    state: State,
    who: Caller,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path).await?;
    let page = q.page()?;
    Ok(HttpResponse::Ok().json(state.store.numbers().list(&scope, page).await?))
}

async fn load(
    state: &State,
    who: &Caller,
    tid: &str,
    id: &str,
) -> Result<(TenantScope, PhoneNumber), ApiError> {
    let scope = tenant_scope(state, who, tid).await?;
    let id: NumberId = parse_id(id)?;
    let n = state
        .store
        .numbers()
        .get(&scope, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok((scope, n))
}

/// `GET /tenants/{tid}/numbers/{id}`: one number.
#[utoipa::path(
    get,
    path = "/tenants/{tid}/numbers/{id}",
    tag = "numbers",
    params(ItemPath),
    security(("bearer" = [])),
    responses((status = 200, description = "The number", body = PhoneNumber))
)]
pub(super) async fn get(
    state: State,
    who: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, n) = load(&state, &who, &path.0, &path.1).await?;
    Ok(HttpResponse::Ok().json(n))
}

/// `PATCH /tenants/{tid}/numbers/{id}`: routes the number to one of the
/// tenant's agents (tenant admins, their keys, super admins).
#[utoipa::path(
    patch,
    path = "/tenants/{tid}/numbers/{id}",
    tag = "numbers",
    params(ItemPath),
    request_body = Update,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated number", body = PhoneNumber),
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
    let scope = tenant_scope(&state, &who, &path.0).await?;
    let id: NumberId = parse_id(&path.1)?;
    let ctx = service_ctx!(state, req, who);
    let n = service::assign(ctx, &scope, id, body.agent_id.as_deref()).await?;
    Ok(HttpResponse::Ok().json(n))
}

/// `DELETE /tenants/{tid}/numbers/{id}` (super admin only).
#[utoipa::path(
    delete,
    path = "/tenants/{tid}/numbers/{id}",
    tag = "numbers",
    params(ItemPath),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, response = Forbidden),
    )
)]
pub(super) async fn delete(
    state: State,
    req: HttpRequest,
    who: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path.0).await?;
    let id: NumberId = parse_id(&path.1)?;
    service::delete(service_ctx!(state, req, who), &scope, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
