//! API keys of a tenant: the plaintext is returned once, at creation.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::auth::Authenticated;
use crate::api::error::{parse_id, ApiError};
use crate::api::json_body::JsonBody;
use crate::api::openapi::{Conflict, Forbidden, ItemPath, TenantPath};
use crate::auth::ApiKey as KeyGen;
use crate::domain::{ApiKeyId, Name, Opaque, TenantId, Timestamp, UserId};
use crate::store::{ApiKey, DeleteGrant, NewApiKey, Paged, TenantScope};

use super::tenants::field;
use super::{created, paged_view, require, tenant_scope, Change, PageQuery, State};

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

/// An API key as the API shows it (never its hash; the key itself only
/// once, in [`CreatedApiKey`]).
#[derive(Serialize, ToSchema)]
pub(super) struct ApiKeyView {
    id: ApiKeyId,
    tenant_id: TenantId,
    name: Name,
    /// First characters of the key, to recognise it.
    prefix: String,
    /// The user who created it; null once that user is deleted.
    created_by: Option<UserId>,
    created_at: Timestamp,
    /// Last successful use, if any.
    last_used_at: Option<Timestamp>,
    /// When it was revoked, if it was.
    revoked_at: Option<Timestamp>,
    /// `true` unless revoked.
    active: bool,
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

fn view(k: &ApiKey) -> ApiKeyView {
    ApiKeyView {
        id: k.id,
        tenant_id: k.tenant_id,
        name: k.name.clone(),
        prefix: k.prefix.clone(),
        created_by: k.created_by,
        created_at: k.created_at,
        last_used_at: k.last_used_at,
        revoked_at: k.revoked_at,
        active: k.is_active(),
    }
}

/// `view` as JSON for the audit log.
fn audited(k: &ApiKey) -> Option<serde_json::Value> {
    serde_json::to_value(view(k)).ok()
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
    who: Authenticated,
    path: web::Path<String>,
    body: JsonBody<Create>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path).await?;
    // A key never mints keys (they would outlive its revocation).
    require(who.principal.can_create_api_keys())?;
    let mut err = ApiError::validation();
    let name: Option<Name> = field(&mut err, "name", Some(&body.name));
    let (Some(name), false) = (name, err.has_fields()) else {
        return Err(err);
    };
    // A key is owned by a human: the caller.
    let created_by = who.user_id.ok_or_else(ApiError::forbidden)?;
    let generated = KeyGen::generate();
    let k = state
        .store
        .api_keys()
        .create(
            &scope,
            NewApiKey {
                name,
                prefix: generated.prefix.clone(),
                key_hash: Opaque::new(generated.hash.clone()),
                created_by,
            },
        )
        .await?;
    Change::created("api_key.create", Some(scope.tenant()), k.id, audited(&k))
        .record(&state, &req, &who)
        .await?;
    Ok(created(CreatedApiKey {
        view: view(&k),
        key: generated.plaintext,
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
    who: Authenticated,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path).await?;
    let page = q.page()?;
    let p = state.store.api_keys().list(&scope, page).await?;
    Ok(paged_view(p, view))
}

async fn load(
    state: &State,
    who: &Authenticated,
    tid: &str,
    id: &str,
) -> Result<(TenantScope, ApiKey), ApiError> {
    let scope = tenant_scope(state, who, tid).await?;
    let id: ApiKeyId = parse_id(id)?;
    let k = state
        .store
        .api_keys()
        .get(&scope, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok((scope, k))
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
    who: Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (scope, before) = load(&state, &who, &path.0, &path.1).await?;
    require(who.principal.can_manage_agents_and_numbers())?;
    let k = state
        .store
        .api_keys()
        .revoke(&scope, before.id, Timestamp::now())
        .await?;
    Change::updated(
        "api_key.revoke",
        Some(scope.tenant()),
        k.id,
        audited(&before),
        audited(&k),
    )
    .record(&state, &req, &who)
    .await?;
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
    who: Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (scope, before) = load(&state, &who, &path.0, &path.1).await?;
    require(who.principal.can_delete())?;
    state
        .store
        .api_keys()
        .delete(&scope, &DeleteGrant::super_admin(), before.id)
        .await?;
    Change::deleted(
        "api_key.delete",
        Some(scope.tenant()),
        before.id,
        audited(&before),
    )
    .record_deletion(&state, &req, &who)
    .await
}
