//! Tenants (super admin only).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::api::auth::Authenticated;
use crate::api::error::{parse_id, ApiError};
use crate::domain::{Name, Slug, TenantId, TenantStatus};
use crate::store::{DeleteGrant, NewTenant, TenantUpdate};

use super::{created, require_super_admin, Change, PageQuery, State};

#[derive(Deserialize)]
pub(super) struct Create {
    name: String,
    slug: String,
    plan: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Update {
    name: Option<String>,
    status: Option<String>,
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
fn only_super_admin(who: &Authenticated) -> Result<(), ApiError> {
    require_super_admin(who).map_err(|_| ApiError::not_found())
}

pub(super) async fn create(
    state: State,
    req: HttpRequest,
    who: Authenticated,
    body: web::Json<Create>,
) -> Result<HttpResponse, ApiError> {
    require_super_admin(&who)?;
    let mut err = ApiError::validation();
    let name: Option<Name> = field(&mut err, "name", Some(&body.name));
    let slug: Option<Slug> = field(&mut err, "slug", Some(&body.slug));
    let plan: Option<Slug> = field(&mut err, "plan", body.plan.as_deref());
    let (Some(name), Some(slug), false) = (name, slug, err.has_fields()) else {
        return Err(err);
    };
    let t = state
        .store
        .tenants()
        .create(NewTenant { name, slug, plan })
        .await?;
    let after = serde_json::to_value(&t).ok();
    Change::created("tenant.create", Some(t.id), t.id, after)
        .record(&state, &req, &who)
        .await?;
    Ok(created(t))
}

pub(super) async fn list(
    state: State,
    who: Authenticated,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    only_super_admin(&who)?;
    let page = q.page()?;
    Ok(HttpResponse::Ok().json(state.store.tenants().list(page).await?))
}

pub(super) async fn get(
    state: State,
    who: Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    only_super_admin(&who)?;
    let id: TenantId = parse_id(&path)?;
    let t = state.store.tenants().get(id).await?;
    Ok(HttpResponse::Ok().json(t.ok_or_else(ApiError::not_found)?))
}

pub(super) async fn update(
    state: State,
    req: HttpRequest,
    who: Authenticated,
    path: web::Path<String>,
    body: web::Json<Update>,
) -> Result<HttpResponse, ApiError> {
    only_super_admin(&who)?;
    let id: TenantId = parse_id(&path)?;
    let before = state
        .store
        .tenants()
        .get(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let mut err = ApiError::validation();
    let update = TenantUpdate {
        name: field::<Name>(&mut err, "name", body.name.as_deref()),
        status: field::<TenantStatus>(&mut err, "status", body.status.as_deref()),
        plan: field::<Slug>(&mut err, "plan", body.plan.as_deref()),
    };
    if err.has_fields() {
        return Err(err);
    }
    let t = state.store.tenants().update(id, update).await?;
    Change::updated(
        "tenant.update",
        Some(id),
        id,
        serde_json::to_value(&before).ok(),
        serde_json::to_value(&t).ok(),
    )
    .record(&state, &req, &who)
    .await?;
    Ok(HttpResponse::Ok().json(t))
}

pub(super) async fn delete(
    state: State,
    req: HttpRequest,
    who: Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    only_super_admin(&who)?;
    let id: TenantId = parse_id(&path)?;
    let before = state
        .store
        .tenants()
        .get(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    state
        .store
        .tenants()
        .delete(&DeleteGrant::super_admin(), id)
        .await?;
    Change::deleted(
        "tenant.delete",
        None,
        id,
        serde_json::to_value(&before).ok(),
    )
    .record_deletion(&state, &req, &who)
    .await
}
