//! Users of a tenant (super admin or that tenant's admin).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::api::auth::Authenticated;
use crate::api::error::ApiError;
use crate::auth::{hash_password, PasswordPolicy};
use crate::domain::{Email, Opaque, TenantRole};
use crate::store::NewUser;

use super::tenants::field;
use super::{created, require, tenant_scope, Change, PageQuery, State};

#[derive(Deserialize)]
pub(super) struct Create {
    email: String,
    password: String,
    role: String,
}

pub(super) async fn create(
    state: State,
    req: HttpRequest,
    who: Authenticated,
    path: web::Path<String>,
    body: web::Json<Create>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path).await?;
    require(who.principal.can_manage_users())?;
    let body = body.into_inner();
    let mut err = ApiError::validation();
    let email: Option<Email> = field(&mut err, "email", Some(&body.email));
    let role: Option<TenantRole> = field(&mut err, "role", Some(&body.role));
    if let Err(e) = PasswordPolicy::check(&body.password) {
        err = err.with_field("password", e.to_string());
    }
    let (Some(email), Some(role), false) = (email, role, err.has_fields()) else {
        return Err(err);
    };
    let password = body.password;
    let hash = web::block(move || hash_password(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let user = state
        .store
        .users()
        .create(NewUser {
            email,
            password_hash: Opaque::new(hash),
        })
        .await?;
    state.store.memberships().add(&scope, user.id, role).await?;
    let after = serde_json::json!({ "id": user.id, "email": user.email, "role": role });
    Change::created(
        "user.create",
        Some(scope.tenant()),
        user.id,
        Some(after.clone()),
    )
    .record(&state, &req, &who)
    .await?;
    Ok(created(after))
}

pub(super) async fn list(
    state: State,
    who: Authenticated,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = tenant_scope(&state, &who, &path).await?;
    let page = q.page()?;
    Ok(HttpResponse::Ok().json(state.store.memberships().list(&scope, page).await?))
}
