//! Phone numbers of a tenant.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::api::auth::Authenticated;
use crate::api::error::{parse_id, ApiError};
use crate::domain::{AgentId, NumberAddress, NumberId};
use crate::store::{DeleteGrant, NewNumber, PhoneNumber, TenantScope};

use super::tenants::field;
use super::{created, require, tenant_scope, Change, PageQuery, State};

#[derive(Deserialize)]
pub(super) struct Create {
    address: String,
    agent_id: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Update {
    agent_id: Option<String>,
}

/// The agent to route to, which must be one of the scope's agents (422
/// otherwise, whatever tenant it belongs to).
async fn agent_of(
    state: &State,
    scope: &TenantScope,
    err: &mut ApiError,
    raw: Option<&str>,
) -> Result<Option<AgentId>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let found = match raw.parse::<AgentId>() {
        Ok(id) => state.store.agents().get(scope, id).await?.map(|a| a.id),
        Err(_) => None,
    };
    if found.is_none() {
        *err = err.clone().with_field("agent_id", "no such agent");
    }
    Ok(found)
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
    let address: Option<NumberAddress> = field(&mut err, "address", Some(&body.address));
    let agent_id = agent_of(&state, &scope, &mut err, body.agent_id.as_deref()).await?;
    let (Some(address), false) = (address, err.has_fields()) else {
        return Err(err);
    };
    let n = state
        .store
        .numbers()
        .create(&scope, NewNumber { address, agent_id })
        .await?;
    Change::created(
        "number.create",
        Some(scope.tenant()),
        n.id,
        serde_json::to_value(&n).ok(),
    )
    .record(&state, &req, &who)
    .await?;
    Ok(created(n))
}

pub(super) async fn list(
    state: State,
    who: Authenticated,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path).await?;
    let page = q.page()?;
    Ok(HttpResponse::Ok().json(state.store.numbers().list(&scope, page).await?))
}

async fn load(
    state: &State,
    who: &Authenticated,
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

pub(super) async fn get(
    state: State,
    who: Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, n) = load(&state, &who, &path.0, &path.1).await?;
    Ok(HttpResponse::Ok().json(n))
}

pub(super) async fn update(
    state: State,
    req: HttpRequest,
    who: Authenticated,
    path: web::Path<(String, String)>,
    body: web::Json<Update>,
) -> Result<HttpResponse, ApiError> {
    let (scope, before) = load(&state, &who, &path.0, &path.1).await?;
    require(who.principal.can_manage_agents_and_numbers())?;
    let mut err = ApiError::validation();
    let agent_id = agent_of(&state, &scope, &mut err, body.agent_id.as_deref()).await?;
    if err.has_fields() {
        return Err(err);
    }
    let n = state
        .store
        .numbers()
        .assign_agent(&scope, before.id, agent_id)
        .await?;
    Change::updated(
        "number.update",
        Some(scope.tenant()),
        n.id,
        serde_json::to_value(&before).ok(),
        serde_json::to_value(&n).ok(),
    )
    .record(&state, &req, &who)
    .await?;
    Ok(HttpResponse::Ok().json(n))
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
        .numbers()
        .delete(&scope, &DeleteGrant::super_admin(), before.id)
        .await?;
    Change::deleted(
        "number.delete",
        Some(scope.tenant()),
        before.id,
        serde_json::to_value(&before).ok(),
    )
    .record_deletion(&state, &req, &who)
    .await
}
