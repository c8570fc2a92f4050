//! API keys of a tenant: the plaintext is returned once, at creation.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::api::auth::Authenticated;
use crate::api::error::{parse_id, ApiError};
use crate::auth::ApiKey as KeyGen;
use crate::domain::{ApiKeyId, Name, Opaque, Timestamp};
use crate::store::{ApiKey, DeleteGrant, NewApiKey, TenantScope};

use super::tenants::field;
use super::{created, paged_view, require, tenant_scope, Change, PageQuery, State};

#[derive(Deserialize)]
pub(super) struct Create {
    name: String,
}

fn view(k: &ApiKey) -> serde_json::Value {
    serde_json::json!({
        "id": k.id,
        "tenant_id": k.tenant_id,
        "name": k.name,
        "prefix": k.prefix,
        "created_by": k.created_by,
        "created_at": k.created_at,
        "last_used_at": k.last_used_at,
        "revoked_at": k.revoked_at,
        "active": k.is_active(),
    })
}

pub(super) async fn create(
    state: State,
    req: HttpRequest,
    who: Authenticated,
    path: web::Path<String>,
    body: web::Json<Create>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path).await?;
    require(who.principal.can_manage_agents_and_numbers())?;
    let mut err = ApiError::validation();
    let name: Option<Name> = field(&mut err, "name", Some(&body.name));
    let (Some(name), false) = (name, err.has_fields()) else {
        return Err(err);
    };
    // A key is owned by a human: the caller, or the creator of the calling key.
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
    let after = view(&k);
    Change::created(
        "api_key.create",
        Some(scope.tenant()),
        k.id,
        Some(after.clone()),
    )
    .record(&state, &req, &who)
    .await?;
    let mut body = after;
    body["key"] = serde_json::Value::String(generated.plaintext);
    Ok(created(body))
}

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
    let after = view(&k);
    Change::updated(
        "api_key.revoke",
        Some(scope.tenant()),
        k.id,
        Some(view(&before)),
        Some(after.clone()),
    )
    .record(&state, &req, &who)
    .await?;
    Ok(HttpResponse::Ok().json(after))
}

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
        Some(view(&before)),
    )
    .record_deletion(&state, &req, &who)
    .await
}
