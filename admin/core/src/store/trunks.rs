//! SIP trunks of a tenant (carrier connections for outbound and inbound
//! calls).

use super::query::{self, Binds, Then};
use super::{Conn, DeleteGrant, Page, Paged, SecretChange, StoreError, StoreResult, TenantScope};
use crate::domain::{Host, Name, Opaque, TenantId, Timestamp, Transport, TrunkId};

/// A SIP trunk row. Not `Serialize`: it carries the encrypted password.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct SipTrunk {
    /// Identifier.
    pub id: TrunkId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Name, unique within the tenant.
    pub name: Name,
    /// Carrier host.
    pub host: Host,
    /// Carrier port (1–65535).
    #[sqlx(try_from = "i64")]
    pub port: u16,
    /// SIP transport.
    pub transport: Transport,
    /// Digest user name, if the carrier authenticates.
    pub auth_user: Option<String>,
    /// Digest password, encrypted by the auth layer.
    pub auth_password_enc: Option<Opaque>,
    /// Whether to send REGISTER to the carrier.
    pub register: bool,
    /// Creation time.
    pub created_at: Timestamp,
}

/// The editable configuration of a trunk (everything but id, tenant,
/// creation time and the password). Used for create and full update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrunkSpec {
    /// Name, unique within the tenant.
    pub name: Name,
    /// Carrier host.
    pub host: Host,
    /// Carrier port; 0 is rejected with `InvalidInput`.
    pub port: u16,
    /// SIP transport.
    pub transport: Transport,
    /// Digest user name.
    pub auth_user: Option<String>,
    /// Whether to send REGISTER.
    pub register: bool,
}

impl TrunkSpec {
    /// The spec's columns, `name` to `auth_user`, as bound by create and
    /// update (`register` is bound separately).
    fn binds(&self) -> impl Binds + '_ {
        (
            &self.name,
            &self.host,
            i64::from(self.port),
            self.transport,
            self.auth_user.as_deref(),
        )
    }
}

/// Trunk repository. Obtain with [`Store::trunks`](super::Store::trunks).
#[derive(Clone, Copy, Debug)]
pub struct Trunks<'s> {
    db: Conn<'s>,
}

impl<'s> Trunks<'s> {
    pub(crate) fn new(db: Conn<'s>) -> Self {
        Self { db }
    }

    /// Creates a trunk in the scope's tenant.
    /// `Conflict { field: "trunk.name" }` if the name is used in this tenant.
    pub async fn create(
        &self,
        scope: &TenantScope,
        spec: &TrunkSpec,
        auth_password_enc: Option<&Opaque>,
    ) -> StoreResult<SipTrunk> {
        const SQL: &str = "INSERT INTO sip_trunks (id, tenant_id, name, host, port, transport, \
                           auth_user, auth_password_enc, register, created_at) \
                           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *";
        check_port(spec.port)?;
        let row = (TrunkId::generate(), scope.tenant());
        let rest = (auth_password_enc, spec.register, self.db.now());
        query::fetch_one(self.db, SQL, Then(row, Then(spec.binds(), rest))).await
    }

    /// The trunk with this id in the scope's tenant.
    pub async fn get(&self, scope: &TenantScope, id: TrunkId) -> StoreResult<Option<SipTrunk>> {
        const SQL: &str = "SELECT * FROM sip_trunks WHERE id = $1 AND tenant_id = $2";
        query::fetch_scoped(self.db, SQL, id, scope).await
    }

    /// The scope's trunks, ordered by name.
    pub async fn list(&self, scope: &TenantScope, page: Page) -> StoreResult<Paged<SipTrunk>> {
        const COUNT: &str = "SELECT COUNT(*) FROM sip_trunks WHERE tenant_id = $1";
        const SQL: &str = "SELECT * FROM sip_trunks WHERE tenant_id = $1 \
                           ORDER BY name, id LIMIT $2 OFFSET $3";
        query::paged_scoped(self.db, COUNT, SQL, scope, page).await
    }

    /// Replaces the configuration and applies `password`. `NotFound` if not
    /// in the scope, `Conflict { field: "trunk.name" }` on a name clash.
    pub async fn update(
        &self,
        scope: &TenantScope,
        id: TrunkId,
        spec: &TrunkSpec,
        password: &SecretChange,
    ) -> StoreResult<SipTrunk> {
        const SQL: &str = "UPDATE sip_trunks SET name = $3, host = $4, port = $5, \
                           transport = $6, auth_user = $7, \
                           auth_password_enc = CASE WHEN $8 THEN auth_password_enc ELSE $9 END, \
                           register = $10 \
                           WHERE id = $1 AND tenant_id = $2 RETURNING *";
        check_port(spec.port)?;
        let (keep, new_password) = password.binds();
        let row = (id, scope.tenant());
        let rest = (keep, new_password, spec.register);
        query::fetch_one(self.db, SQL, Then(row, Then(spec.binds(), rest))).await
    }

    /// Deletes the trunk. `NotFound` if not in the scope.
    pub async fn delete(
        &self,
        scope: &TenantScope,
        grant: &DeleteGrant,
        id: TrunkId,
    ) -> StoreResult<()> {
        const SQL: &str = "DELETE FROM sip_trunks WHERE id = $1 AND tenant_id = $2";
        query::delete_scoped(self.db, grant, SQL, id, scope).await
    }
}

fn check_port(port: u16) -> StoreResult<()> {
    if port == 0 {
        return Err(StoreError::InvalidInput("trunk port must be 1-65535"));
    }
    Ok(())
}
