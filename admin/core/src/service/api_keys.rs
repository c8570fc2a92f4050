//! API keys of a tenant: create (the plaintext is returned once), revoke,
//! delete (super admin). Only the hash is stored.

use serde::Serialize;

use crate::auth::ApiKey as KeyGen;
use crate::domain::{ApiKeyId, Name, Opaque, TenantId, Timestamp, UserId};
use crate::store::{ApiKey, DeleteGrant, NewApiKey, TenantScope, Tx};

use super::{json, Change, Ctx, FieldErrors, ServiceError, ServiceResult};

/// A key as clients and the audit log see it (never the key itself).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    pub name: Name,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    /// Not revoked.
    pub active: bool,
}

/// The public view of a key.
pub fn view(k: &ApiKey) -> ApiKeyView {
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

/// A new key and its plaintext (shown once; never log it).
pub struct CreatedKey {
    pub key: ApiKey,
    pub plaintext: String,
}

impl std::fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedKey")
            .field("key", &self.key.id)
            .field("plaintext", &"<redacted>")
            .finish()
    }
}

async fn load(tx: &Tx, scope: &TenantScope, id: ApiKeyId) -> ServiceResult<ApiKey> {
    tx.api_keys()
        .get(scope, id)
        .await?
        .ok_or(ServiceError::NotFound)
}

/// Creates a key named `name`, owned by the acting user
/// (`api_key.create`). A key never mints keys (they would outlive its
/// revocation).
///
/// Errors: `Forbidden` (API keys, the `agent` role); `Invalid` on `name`;
/// `Conflict { field: "api_key.prefix" }` (a prefix collision: retry).
pub async fn create(ctx: Ctx<'_>, scope: &TenantScope, name: &str) -> ServiceResult<CreatedKey> {
    ctx.require(ctx.actor.principal.can_create_api_keys())?;
    let mut errors = FieldErrors::default();
    let name = match name.trim().parse::<Name>() {
        Ok(n) => Some(n),
        Err(e) => {
            errors.add_keyed("name", e.to_string(), "err.name");
            None
        }
    };
    errors.into_result()?;
    let name = name.ok_or(ServiceError::Invalid(FieldErrors::default()))?;
    let created_by = ctx.actor.user_id.ok_or(ServiceError::Forbidden)?;
    let generated = KeyGen::generate();
    let tx = ctx.store.transaction().await?;
    let k = tx
        .api_keys()
        .create(
            scope,
            NewApiKey {
                name,
                prefix: generated.prefix.clone(),
                key_hash: Opaque::new(generated.hash.clone()),
                created_by,
            },
        )
        .await?;
    let change = Change::new(
        "api_key.create",
        Some(scope.tenant()),
        k.id,
        None,
        json(&view(&k)),
    );
    ctx.commit(tx, change).await?;
    Ok(CreatedKey {
        key: k,
        plaintext: generated.plaintext,
    })
}

/// Revokes key `id` now (`api_key.revoke`).
pub async fn revoke(ctx: Ctx<'_>, scope: &TenantScope, id: ApiKeyId) -> ServiceResult<ApiKey> {
    let tx = ctx.store.transaction().await?;
    let before = load(&tx, scope, id).await?;
    ctx.require(ctx.actor.principal.can_manage_agents_and_numbers())?;
    let k = tx.api_keys().revoke(scope, id, tx.now()).await?;
    let change = Change::new(
        "api_key.revoke",
        Some(scope.tenant()),
        id,
        json(&view(&before)),
        json(&view(&k)),
    );
    ctx.commit(tx, change).await?;
    Ok(k)
}

/// Deletes key `id` (`api_key.delete`; super admin only). Returns it.
pub async fn delete(ctx: Ctx<'_>, scope: &TenantScope, id: ApiKeyId) -> ServiceResult<ApiKey> {
    let tx = ctx.store.transaction().await?;
    let before = load(&tx, scope, id).await?;
    ctx.require(ctx.actor.principal.can_delete())?;
    tx.api_keys()
        .delete(scope, &DeleteGrant::super_admin(), id)
        .await?;
    let change = Change::new(
        "api_key.delete",
        Some(scope.tenant()),
        id,
        json(&view(&before)),
        None,
    );
    ctx.commit(tx, change).await?;
    Ok(before)
}
