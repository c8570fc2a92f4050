//! Users of a tenant (super admin or that tenant's admin).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::auth::Authenticated;
use crate::api::error::ApiError;
use crate::api::json_body::JsonBody;
use crate::api::openapi::{Conflict, Forbidden, ItemPath, TenantPath};
use crate::auth::{hash_password, PasswordPolicy};
use crate::domain::{Email, Opaque, TenantRole, UserId, UserStatus};
use crate::store::{DeleteGrant, NewUser, Paged, TenantMember, TenantScope};

use super::tenants::field;
use super::{created, found, require, scope_and_id, tenant_scope, Change, PageQuery, State};

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

/// The created user.
#[derive(Serialize, ToSchema)]
pub(super) struct CreatedUser {
    id: UserId,
    email: Email,
    role: TenantRole,
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
    who: Authenticated,
    path: web::Path<String>,
    body: JsonBody<Create>,
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
    let after = CreatedUser {
        id: user.id,
        email: user.email,
        role,
    };
    let audit = serde_json::to_value(&after).ok();
    Change::created("user.create", Some(scope.tenant()), after.id, audit)
        .record(&state, &req, &who)
        .await?;
    Ok(created(after))
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
    who: Authenticated,
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
    who: &Authenticated,
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
    who: Authenticated,
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
    who: Authenticated,
    path: web::Path<(String, String)>,
    body: JsonBody<Update>,
) -> Result<HttpResponse, ApiError> {
    let (scope, before) = load(&state, &who, &path.0, &path.1).await?;
    require(who.principal.can_manage_users())?;
    let mut err = ApiError::validation();
    let role: Option<TenantRole> = field(&mut err, "role", body.role.as_deref());
    let status: Option<UserStatus> = field(&mut err, "status", body.status.as_deref());
    if err.has_fields() {
        return Err(err);
    }
    let id = before.user_id;
    if let Some(status) = status {
        if !who.principal.can_delete() {
            let roles = state.store.memberships().roles_of(id).await?;
            require(roles.iter().all(|m| m.tenant_id == Some(scope.tenant())))?;
        }
        state.store.users().set_status(id, status).await?;
        if status == UserStatus::Disabled {
            state.store.sessions().delete_for_user(id).await?;
        }
    }
    if let Some(role) = role {
        state.store.memberships().set_role(&scope, id, role).await?;
    }
    let after = found(state.store.memberships().member(&scope, id).await?)?;
    Change::updated(
        "user.update",
        Some(scope.tenant()),
        id,
        serde_json::to_value(&before).ok(),
        serde_json::to_value(&after).ok(),
    )
    .record(&state, &req, &who)
    .await?;
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
    who: Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (scope, before) = load(&state, &who, &path.0, &path.1).await?;
    require(who.principal.can_delete())?;
    let grant = DeleteGrant::super_admin();
    let id = before.user_id;
    state.store.memberships().remove(&scope, &grant, id).await?;
    state.store.sessions().delete_for_user(id).await?;
    if state.store.memberships().roles_of(id).await?.is_empty() {
        state.store.users().delete(&grant, id).await?;
    }
    Change::deleted(
        "user.delete",
        Some(scope.tenant()),
        id,
        serde_json::to_value(&before).ok(),
    )
    .record_deletion(&state, &req, &who)
    .await
}
