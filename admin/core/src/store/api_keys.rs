//! API keys of a tenant. Only a hash of the key is stored (the auth layer
//! generates the key, shows it once, and verifies bearer tokens against
//! `key_hash`); `prefix` is the non-secret start of the key, shown in lists
//! and used to find the row.

use super::query;
use super::{Conn, DeleteGrant, Page, Paged, StoreError, StoreResult, TenantScope};
use crate::domain::{ApiKeyId, Name, Opaque, TenantId, Timestamp, UserId};

/// An API key row. Not `Serialize`: it carries the key hash.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ApiKey {
    /// Identifier.
    pub id: ApiKeyId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Label given by the user.
    pub name: Name,
    /// First characters of the key, unique across all keys.
    pub prefix: String,
    /// Hash of the full key, produced by the auth layer.
    pub key_hash: Opaque,
    /// Who created it; `None` once that user is deleted.
    pub created_by: Option<UserId>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last successful use.
    pub last_used_at: Option<Timestamp>,
    /// When it was revoked; a revoked key never authenticates.
    pub revoked_at: Option<Timestamp>,
}

impl ApiKey {
    /// `true` unless revoked.
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// Input of [`ApiKeys::create`].
#[derive(Clone, Debug)]
pub struct NewApiKey {
    /// Label.
    pub name: Name,
    /// Non-secret start of the key (unique).
    pub prefix: String,
    /// Hash of the full key.
    pub key_hash: Opaque,
    /// The creating user.
    pub created_by: UserId,
}

/// API key repository. Obtain with [`Store::api_keys`](super::Store::api_keys).
#[derive(Clone, Copy, Debug)]
pub struct ApiKeys<'s> {
    db: Conn<'s>,
}

impl<'s> ApiKeys<'s> {
    pub(crate) fn new(db: Conn<'s>) -> Self {
        Self { db }
    }

    /// Stores a new key for the scope's tenant.
    /// `Conflict { field: "api_key.prefix" }` if the prefix is taken;
    /// `InvalidInput` if the prefix is empty.
    pub async fn create(&self, scope: &TenantScope, new: NewApiKey) -> StoreResult<ApiKey> {
        const SQL: &str = "INSERT INTO api_keys \
                           (id, tenant_id, name, prefix, key_hash, created_by, created_at) \
                           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *";
        if new.prefix.is_empty() {
            return Err(StoreError::InvalidInput("API key prefix is empty"));
        }
        let binds = (
            ApiKeyId::generate(),
            scope.tenant(),
            &new.name,
            &new.prefix,
            &new.key_hash,
            new.created_by,
            self.db.now(),
        );
        query::fetch_one(self.db, SQL, binds).await
    }

    /// The key with this id in the scope's tenant.
    pub async fn get(&self, scope: &TenantScope, id: ApiKeyId) -> StoreResult<Option<ApiKey>> {
        const SQL: &str = "SELECT * FROM api_keys WHERE id = $1 AND tenant_id = $2";
        query::fetch_scoped(self.db, SQL, id, scope).await
    }

    /// The scope's keys (revoked ones included), newest first.
    pub async fn list(&self, scope: &TenantScope, page: Page) -> StoreResult<Paged<ApiKey>> {
        const COUNT: &str = "SELECT COUNT(*) FROM api_keys WHERE tenant_id = $1";
        const SQL: &str = "SELECT * FROM api_keys WHERE tenant_id = $1 \
                           ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3";
        query::paged_scoped(self.db, COUNT, SQL, scope, page).await
    }

    /// Global lookup for bearer authentication: the **non-revoked** key with
    /// this prefix, whatever its tenant. The caller must still verify the
    /// presented key against `key_hash`, then scope to `tenant_id`.
    pub async fn find_by_prefix(&self, prefix: &str) -> StoreResult<Option<ApiKey>> {
        const SQL: &str = "SELECT * FROM api_keys WHERE prefix = $1 AND revoked_at IS NULL";
        query::fetch_optional(self.db, SQL, (prefix,)).await
    }

    /// Records a successful use at `at`. `NotFound` if not in the scope.
    pub async fn touch(&self, scope: &TenantScope, id: ApiKeyId, at: Timestamp) -> StoreResult<()> {
        const SQL: &str = "UPDATE api_keys SET last_used_at = $3 WHERE id = $1 AND tenant_id = $2";
        query::execute_found(self.db, SQL, (id, scope.tenant(), at)).await
    }

    /// Revokes the key at `at` (kept for the record; revoking twice keeps
    /// the first time). `NotFound` if not in the scope.
    pub async fn revoke(
        &self,
        scope: &TenantScope,
        id: ApiKeyId,
        at: Timestamp,
    ) -> StoreResult<ApiKey> {
        const SQL: &str = "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) \
                           WHERE id = $1 AND tenant_id = $2 RETURNING *";
        query::fetch_one(self.db, SQL, (id, scope.tenant(), at)).await
    }

    /// Hard-deletes the key. `NotFound` if not in the scope.
    pub async fn delete(
        &self,
        scope: &TenantScope,
        grant: &DeleteGrant,
        id: ApiKeyId,
    ) -> StoreResult<()> {
        const SQL: &str = "DELETE FROM api_keys WHERE id = $1 AND tenant_id = $2";
        query::delete_scoped(self.db, grant, SQL, id, scope).await
    }
}
