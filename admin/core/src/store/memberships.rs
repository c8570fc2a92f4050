//! Memberships: user × tenant × role. A super admin's membership has no
//! tenant (it is global); tenant memberships hold a [`TenantRole`].

use super::query;
use super::{with_conn, Conn, DeleteGrant, Page, Paged, StoreResult, TenantScope};
use crate::domain::{Email, Role, TenantId, TenantRole, Timestamp, UserId, UserStatus};

/// One membership row: what `user_id` may do where.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct Membership {
    /// The user.
    pub user_id: UserId,
    /// The tenant; `None` exactly when `role` is `SuperAdmin`.
    pub tenant_id: Option<TenantId>,
    /// The role.
    pub role: Role,
    /// When it was granted.
    pub created_at: Timestamp,
}

/// A user of one tenant, as listed by [`Memberships::list`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TenantMember {
    /// The user.
    pub user_id: UserId,
    /// Their login.
    pub email: Email,
    /// Whether the login is enabled.
    pub user_status: UserStatus,
    /// Their role in this tenant.
    pub role: TenantRole,
    /// When they were added.
    pub created_at: Timestamp,
}

/// Membership repository. Obtain with
/// [`Store::memberships`](super::Store::memberships).
#[derive(Clone, Copy, Debug)]
pub struct Memberships<'s> {
    db: Conn<'s>,
}

impl<'s> Memberships<'s> {
    pub(crate) fn new(db: Conn<'s>) -> Self {
        Self { db }
    }

    /// Adds `user` to the scope's tenant with `role`.
    /// `Conflict { field: "membership" }` if already a member, `NotFound`
    /// if the user or tenant does not exist.
    pub async fn add(
        &self,
        scope: &TenantScope,
        user: UserId,
        role: TenantRole,
    ) -> StoreResult<Membership> {
        const SQL: &str = "INSERT INTO memberships (user_id, tenant_id, role, created_at) \
                           VALUES ($1, $2, $3, $4) RETURNING *";
        let binds = (user, scope.tenant(), Role::from(role), self.db.now());
        query::fetch_one(self.db, SQL, binds).await
    }

    /// Makes `user` a super admin (a global membership without tenant).
    /// `Conflict { field: "membership" }` if already one, `NotFound` if the
    /// user does not exist.
    pub async fn grant_super_admin(&self, user: UserId) -> StoreResult<Membership> {
        const SQL: &str = "INSERT INTO memberships (user_id, tenant_id, role, created_at) \
                           VALUES ($1, NULL, $2, $3) RETURNING *";
        let binds = (user, Role::SuperAdmin, self.db.now());
        query::fetch_one(self.db, SQL, binds).await
    }

    /// Removes the super admin membership of `user`. `NotFound` if they
    /// had none.
    pub async fn revoke_super_admin(&self, grant: &DeleteGrant, user: UserId) -> StoreResult<()> {
        const SQL: &str = "DELETE FROM memberships WHERE user_id = $1 AND tenant_id IS NULL";
        query::delete(self.db, grant, SQL, user).await
    }

    /// The members of the scope's tenant with their roles, ordered by e-mail.
    pub async fn list(&self, scope: &TenantScope, page: Page) -> StoreResult<Paged<TenantMember>> {
        const COUNT: &str = "SELECT COUNT(*) FROM memberships WHERE tenant_id = $1";
        const SQL: &str =
            "SELECT m.user_id, u.email, u.status AS user_status, m.role, m.created_at \
                           FROM memberships m JOIN users u ON u.id = m.user_id \
                           WHERE m.tenant_id = $1 ORDER BY u.email LIMIT $2 OFFSET $3";
        query::paged_scoped(self.db, COUNT, SQL, scope, page).await
    }

    /// The member `user` of the scope's tenant, if they are one.
    pub async fn member(
        &self,
        scope: &TenantScope,
        user: UserId,
    ) -> StoreResult<Option<TenantMember>> {
        const SQL: &str =
            "SELECT m.user_id, u.email, u.status AS user_status, m.role, m.created_at \
                           FROM memberships m JOIN users u ON u.id = m.user_id \
                           WHERE m.tenant_id = $1 AND m.user_id = $2";
        query::fetch_optional(self.db, SQL, (scope.tenant(), user)).await
    }

    /// The first active admin of the scope's tenant by e-mail (the user a
    /// super admin masquerades as), if any.
    pub async fn first_active_admin(
        &self,
        scope: &TenantScope,
    ) -> StoreResult<Option<TenantMember>> {
        const SQL: &str =
            "SELECT m.user_id, u.email, u.status AS user_status, m.role, m.created_at \
                           FROM memberships m JOIN users u ON u.id = m.user_id \
                           WHERE m.tenant_id = $1 AND m.role = $2 AND u.status = $3 \
                           ORDER BY u.email LIMIT 1";
        let binds = (scope.tenant(), Role::Admin, UserStatus::Active);
        query::fetch_optional(self.db, SQL, binds).await
    }

    /// The role of `user` in the scope's tenant, if a member.
    pub async fn role_in(
        &self,
        scope: &TenantScope,
        user: UserId,
    ) -> StoreResult<Option<TenantRole>> {
        const SQL: &str = "SELECT role FROM memberships WHERE tenant_id = $1 AND user_id = $2";
        Ok(with_conn!(self.db, |pool, D| {
            sqlx::query_scalar::<_, TenantRole>(SQL)
                .bind(scope.tenant())
                .bind(user)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Every membership of `user` (global; used at login to pick tenants
    /// and detect super admins), super admin first, then by tenant.
    pub async fn roles_of(&self, user: UserId) -> StoreResult<Vec<Membership>> {
        const SQL: &str = "SELECT * FROM memberships WHERE user_id = $1 \
                           ORDER BY (tenant_id IS NOT NULL), tenant_id";
        query::fetch_all(self.db, SQL, (user,)).await
    }

    /// Changes the role of a member of the scope's tenant. `NotFound` if
    /// `user` is not a member.
    pub async fn set_role(
        &self,
        scope: &TenantScope,
        user: UserId,
        role: TenantRole,
    ) -> StoreResult<Membership> {
        const SQL: &str = "UPDATE memberships SET role = $3 \
                           WHERE tenant_id = $1 AND user_id = $2 RETURNING *";
        let binds = (scope.tenant(), user, Role::from(role));
        query::fetch_one(self.db, SQL, binds).await
    }

    /// Removes `user` from the scope's tenant (the user itself stays).
    /// `NotFound` if not a member.
    pub async fn remove(
        &self,
        scope: &TenantScope,
        grant: &DeleteGrant,
        user: UserId,
    ) -> StoreResult<()> {
        const SQL: &str = "DELETE FROM memberships WHERE user_id = $1 AND tenant_id = $2";
        query::delete_scoped(self.db, grant, SQL, user, scope).await
    }
}
