//! API keys of a tenant: the plaintext is returned once, at creation.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::api::json_body::JsonBody;
use crate::api::openapi::{Conflict, Forbidden, ItemPath, TenantPath};
use parla_admin_core::domain::{ApiKeyId, Name};
use parla_admin_core::service::api_keys::{self as service, view, ApiKeyView};
use parla_admin_core::store::Paged;

use super::{created, paged_view, scope_and_id, tenant_scope, PageQuery, State};

/// The module's operations, merged into the document by
/// [`crate::api::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, revoke, delete))]
pub(super) struct Doc;

/// The body of POST.
#[derive(Deserialize, ToSchema)]
#[schema(as = ApiKeyInput)]
pub(super) struct Create {
    /// A label for the key.
    #[schema(value_type = Name)]
    name: String,
}

/// The answer to POST: the key's view and the key itself.
#[derive(Serialize, ToSchema)]
pub(super) struct CreatedApiKey {
    #[serde(flatten)]
    view: ApiKeyView,
    /// The full key (`pk_…`), for `Authorization: Bearer`. Shown only
    /// here: it is not stored and cannot be retrieved again.
    key: String,
}

/// `POST /tenants/{tid}/api-keys`: creates a key owned by the caller (a
/// super admin or a tenant admin; an API key gets 403). The key acts with
/// its creator's current role.
#[utoipa::path(
    post,
    path = "/tenants/{tid}/api-keys",
    tag = "api-keys",
    params(TenantPath),
    request_body = Create,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The created key, with the key itself (shown once)", body = CreatedApiKey),
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
    let k = service::create(service_ctx!(state, req, who), &scope, &body.name).await?;
    Ok(created(CreatedApiKey {
        view: view(&k.key),
        key: k.plaintext,
    }))
}

/// `GET /tenants/{tid}/api-keys`: a page of the tenant's keys.
#[utoipa::path(
    get,
    path = "/tenants/{tid}/api-keys",
    tag = "api-keys",
    params(TenantPath, super::PageQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of keys", body = Paged<ApiKeyView>))
)]
pub(super) async fn list(
    state: State,
    who: Caller,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path).await?;
    let page = q.page()?;
    let p = state.store.api_keys().list(&scope, page).await?;
    Ok(paged_view(p, view))
}

/// `POST /tenants/{tid}/api-keys/{id}/revoke`: the key stops working.
#[utoipa::path(
    post,
    path = "/tenants/{tid}/api-keys/{id}/revoke",
    tag = "api-keys",
    params(ItemPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The revoked key", body = ApiKeyView),
        (status = 403, response = Forbidden),
    )
)]
pub(super) async fn revoke(
    state: State,
    req: HttpRequest,
    who: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (scope, id) = scope_and_id::<ApiKeyId>(&state, &who, &path.0, &path.1).await?;
    let k = service::revoke(service_ctx!(state, req, who), &scope, id).await?;
    Ok(HttpResponse::Ok().json(view(&k)))
}

/// `DELETE /tenants/{tid}/api-keys/{id}` (super admin only).
#[utoipa::path(
    delete,
    path = "/tenants/{tid}/api-keys/{id}",
    tag = "api-keys",
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
    let (scope, id) = scope_and_id::<ApiKeyId>(&state, &who, &path.0, &path.1).await?;
    service::delete(service_ctx!(state, req, who), &scope, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
