//! Tenants: the customer organisations. Global (not scoped): creating,
//! listing, suspending and deleting tenants is a super admin operation.

use super::query;
use super::{Conn, DeleteGrant, Page, Paged, StoreResult};
use crate::domain::{Name, Slug, TenantId, TenantStatus, Timestamp};

/// A tenant row.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Tenant {
    /// Identifier.
    pub id: TenantId,
    /// Display name, unique across tenants.
    pub name: Name,
    /// URL identifier, unique across tenants.
    pub slug: Slug,
    /// Active or suspended.
    pub status: TenantStatus,
    /// Billing plan (`free` unless set).
    pub plan: Slug,
    /// Creation time.
    pub created_at: Timestamp,
}

/// Input of [`Tenants::create`].
#[derive(Clone, Debug)]
pub struct NewTenant {
    /// Display name (unique).
    pub name: Name,
    /// URL identifier (unique).
    pub slug: Slug,
    /// Billing plan; `None` means `free`.
    pub plan: Option<Slug>,
}

/// Partial update of a tenant: `None` fields are left unchanged.
#[derive(Clone, Debug, Default)]
pub struct TenantUpdate {
    /// New display name (unique).
    pub name: Option<Name>,
    /// New status.
    pub status: Option<TenantStatus>,
    /// New plan.
    pub plan: Option<Slug>,
}

/// Tenant repository. Obtain with [`Store::tenants`](super::Store::tenants).
#[derive(Clone, Copy, Debug)]
pub struct Tenants<'s> {
    db: Conn<'s>,
}

impl<'s> Tenants<'s> {
    pub(crate) fn new(db: Conn<'s>) -> Self {
        Self { db }
    }

    /// Creates an active tenant. `Conflict { field: "tenant.name" | "tenant.slug" }`
    /// if taken.
    pub async fn create(&self, new: NewTenant) -> StoreResult<Tenant> {
        const SQL: &str = "INSERT INTO tenants (id, name, slug, status, plan, created_at) \
                           VALUES ($1, $2, $3, $4, COALESCE($5, 'free'), $6) RETURNING *";
        let binds = (
            TenantId::generate(),
            &new.name,
            &new.slug,
            TenantStatus::Active,
            new.plan.as_ref(),
            self.db.now(),
        );
        query::fetch_one(self.db, SQL, binds).await
    }

    /// The tenant with this id.
    pub async fn get(&self, id: TenantId) -> StoreResult<Option<Tenant>> {
        const SQL: &str = "SELECT * FROM tenants WHERE id = $1";
        query::fetch_optional(self.db, SQL, (id,)).await
    }

    /// The tenant with this slug.
    pub async fn get_by_slug(&self, slug: &Slug) -> StoreResult<Option<Tenant>> {
        const SQL: &str = "SELECT * FROM tenants WHERE slug = $1";
        query::fetch_optional(self.db, SQL, (slug,)).await
    }

    /// All tenants, ordered by name.
    pub async fn list(&self, page: Page) -> StoreResult<Paged<Tenant>> {
        const COUNT: &str = "SELECT COUNT(*) FROM tenants";
        const SQL: &str = "SELECT * FROM tenants ORDER BY name, id LIMIT $1 OFFSET $2";
        query::paged(self.db, COUNT, SQL, (), page).await
    }

    /// Applies the `Some` fields of `update`. `NotFound` if no such tenant,
    /// `Conflict { field: "tenant.name" }` if the new name is taken.
    pub async fn update(&self, id: TenantId, update: TenantUpdate) -> StoreResult<Tenant> {
        const SQL: &str = "UPDATE tenants SET name = COALESCE($2, name), \
                           status = COALESCE($3, status), plan = COALESCE($4, plan) \
                           WHERE id = $1 RETURNING *";
        let binds = (
            id,
            update.name.as_ref(),
            update.status,
            update.plan.as_ref(),
        );
        query::fetch_one(self.db, SQL, binds).await
    }

    /// Deletes the tenant and, by cascade, everything it owns (memberships,
    /// API keys, agents, numbers, trunks, call records). Audit entries are
    /// kept. `NotFound` if no such tenant.
    pub async fn delete(&self, grant: &DeleteGrant, id: TenantId) -> StoreResult<()> {
        const SQL: &str = "DELETE FROM tenants WHERE id = $1";
        query::delete(self.db, grant, SQL, id).await
    }
}
