//! Users of a tenant (tenant admins and the super admin): create with a
//! role, change role or status, remove (super admin). A removed user's
//! sessions end; a user left without any tenant is deleted.

use serde::Serialize;

use crate::auth::{hash_password, PasswordPolicy};
use crate::domain::{Email, Opaque, TenantRole, UserId, UserStatus};
use crate::store::{DeleteGrant, NewUser, TenantMember, TenantScope, Tx};

use super::{json, Change, Ctx, FieldErrors, ServiceError, ServiceResult};

/// A new member: login e-mail, initial password (checked against
/// [`PasswordPolicy`]) and role (`admin` or `agent`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct NewMember {
    pub email: String,
    pub password: String,
    pub role: String,
}

impl std::fmt::Debug for NewMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewMember")
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// A created member, as returned and audited.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedUser {
    pub id: UserId,
    pub email: Email,
    pub role: TenantRole,
}

fn parsed<T: std::str::FromStr>(
    errors: &mut FieldErrors,
    field: &str,
    key: &'static str,
    value: &str,
) -> Option<T>
where
    T::Err: std::fmt::Display,
{
    match value.trim().parse() {
        Ok(v) => Some(v),
        Err(e) => {
            errors.add_keyed(field, e.to_string(), key);
            None
        }
    }
}

async fn load(tx: &Tx, scope: &TenantScope, id: UserId) -> ServiceResult<TenantMember> {
    tx.memberships()
        .member(scope, id)
        .await?
        .ok_or(ServiceError::NotFound)
}

/// Creates a user who is a member of the scope's tenant (`user.create`).
///
/// Errors: `Forbidden` unless the caller may manage users; `Invalid` on
/// `email`, `password` (policy), `role`; `Conflict { field: "user.email" }`.
pub async fn create(
    ctx: Ctx<'_>,
    scope: &TenantScope,
    input: &NewMember,
) -> ServiceResult<CreatedUser> {
    ctx.require(ctx.actor.principal.can_manage_users())?;
    let mut errors = FieldErrors::default();
    let email: Option<Email> = parsed(&mut errors, "email", "err.email", &input.email);
    let role: Option<TenantRole> = parsed(&mut errors, "role", "err.invalid_choice", &input.role);
    if let Err(e) = PasswordPolicy::check(&input.password) {
        errors.add_keyed("password", e.to_string(), "err.password_policy");
    }
    let (Some(email), Some(role), true) = (email, role, errors.is_empty()) else {
        return Err(ServiceError::Invalid(errors));
    };
    // argon2 off the async workers, and before the write lock is taken.
    let password = input.password.clone();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let tx = ctx.store.transaction().await?;
    let user = tx
        .users()
        .create(NewUser {
            email,
            password_hash: Opaque::new(hash),
        })
        .await?;
    tx.memberships().add(scope, user.id, role).await?;
    let created = CreatedUser {
        id: user.id,
        email: user.email,
        role,
    };
    let change = Change::new(
        "user.create",
        Some(scope.tenant()),
        created.id,
        None,
        json(&created),
    );
    ctx.commit(tx, change).await?;
    Ok(created)
}

/// Changes member `id`'s role and/or status (`user.update`; `None` keeps
/// it). Disabling a user ends their sessions. A tenant admin may change
/// the status only of users who belong to no other tenant.
pub async fn update(
    ctx: Ctx<'_>,
    scope: &TenantScope,
    id: UserId,
    role: Option<&str>,
    status: Option<&str>,
) -> ServiceResult<TenantMember> {
    let tx = ctx.store.transaction().await?;
    let before = load(&tx, scope, id).await?;
    ctx.require(ctx.actor.principal.can_manage_users())?;
    let mut errors = FieldErrors::default();
    let role: Option<TenantRole> =
        role.and_then(|r| parsed(&mut errors, "role", "err.invalid_choice", r));
    let status: Option<UserStatus> =
        status.and_then(|s| parsed(&mut errors, "status", "err.invalid_choice", s));
    errors.into_result()?;
    if let Some(status) = status {
        if !ctx.actor.principal.can_delete() {
            let roles = tx.memberships().roles_of(id).await?;
            ctx.require(roles.iter().all(|m| m.tenant_id == Some(scope.tenant())))?;
        }
        tx.users().set_status(id, status).await?;
        if status == UserStatus::Disabled {
            tx.sessions().delete_for_user(id).await?;
        }
    }
    if let Some(role) = role {
        tx.memberships().set_role(scope, id, role).await?;
    }
    let after = load(&tx, scope, id).await?;
    let change = Change::new(
        "user.update",
        Some(scope.tenant()),
        id,
        json(&before),
        json(&after),
    );
    ctx.commit(tx, change).await?;
    Ok(after)
}

/// Removes member `id` from the tenant (`user.delete`; super admin only):
/// their sessions end, and the user is deleted when no tenant is left.
pub async fn remove(ctx: Ctx<'_>, scope: &TenantScope, id: UserId) -> ServiceResult<TenantMember> {
    let tx = ctx.store.transaction().await?;
    let before = load(&tx, scope, id).await?;
    ctx.require(ctx.actor.principal.can_delete())?;
    let grant = DeleteGrant::super_admin();
    tx.memberships().remove(scope, &grant, id).await?;
    tx.sessions().delete_for_user(id).await?;
    if tx.memberships().roles_of(id).await?.is_empty() {
        tx.users().delete(&grant, id).await?;
    }
    let change = Change::new("user.delete", Some(scope.tenant()), id, json(&before), None);
    ctx.commit(tx, change).await?;
    Ok(before)
}
