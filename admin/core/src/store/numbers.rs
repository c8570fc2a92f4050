//! Phone numbers owned by a tenant. An address is unique across all
//! tenants: a dialled number routes to exactly one tenant (see
//! [`Routing`](super::Routing)).

use super::query;
use super::{Conn, DeleteGrant, Page, Paged, StoreResult, TenantScope};
use crate::domain::{AgentId, NumberAddress, NumberId, TenantId, Timestamp};

/// A phone number row.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PhoneNumber {
    /// Identifier.
    pub id: NumberId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// E.164 number or SIP URI, unique across tenants.
    pub address: NumberAddress,
    /// The agent answering calls to it (of the same tenant), if any.
    pub agent_id: Option<AgentId>,
    /// Creation time.
    pub created_at: Timestamp,
}

/// Input of [`Numbers::create`].
#[derive(Clone, Debug)]
pub struct NewNumber {
    /// The address (unique across tenants).
    pub address: NumberAddress,
    /// Agent of the same tenant to route to, if any.
    pub agent_id: Option<AgentId>,
}

/// Phone number repository. Obtain with [`Store::numbers`](super::Store::numbers).
#[derive(Clone, Copy, Debug)]
pub struct Numbers<'s> {
    db: Conn<'s>,
}

impl<'s> Numbers<'s> {
    pub(crate) fn new(db: Conn<'s>) -> Self {
        Self { db }
    }

    /// Adds a number to the scope's tenant.
    /// `Conflict { field: "number.address" }` if any tenant has it;
    /// `NotFound` if `agent_id` is not an agent of this tenant (enforced by
    /// a composite foreign key on (tenant_id, agent_id)).
    pub async fn create(&self, scope: &TenantScope, new: NewNumber) -> StoreResult<PhoneNumber> {
        const SQL: &str =
            "INSERT INTO phone_numbers (id, tenant_id, address, agent_id, created_at) \
                           VALUES ($1, $2, $3, $4, $5) RETURNING *";
        let binds = (
            NumberId::generate(),
            scope.tenant(),
            &new.address,
            new.agent_id,
            self.db.now(),
        );
        query::fetch_one(self.db, SQL, binds).await
    }

    /// The number with this id in the scope's tenant.
    pub async fn get(&self, scope: &TenantScope, id: NumberId) -> StoreResult<Option<PhoneNumber>> {
        const SQL: &str = "SELECT * FROM phone_numbers WHERE id = $1 AND tenant_id = $2";
        query::fetch_scoped(self.db, SQL, id, scope).await
    }

    /// The scope's numbers, ordered by address.
    pub async fn list(&self, scope: &TenantScope, page: Page) -> StoreResult<Paged<PhoneNumber>> {
        const COUNT: &str = "SELECT COUNT(*) FROM phone_numbers WHERE tenant_id = $1";
        const SQL: &str = "SELECT * FROM phone_numbers WHERE tenant_id = $1 \
                           ORDER BY address LIMIT $2 OFFSET $3";
        query::paged_scoped(self.db, COUNT, SQL, scope, page).await
    }

    /// Routes the number to `agent` (or to none). `NotFound` if the number
    /// is not in the scope or the agent is not an agent of this tenant.
    pub async fn assign_agent(
        &self,
        scope: &TenantScope,
        id: NumberId,
        agent: Option<AgentId>,
    ) -> StoreResult<PhoneNumber> {
        const SQL: &str = "UPDATE phone_numbers SET agent_id = $3 \
                           WHERE id = $1 AND tenant_id = $2 RETURNING *";
        query::fetch_one(self.db, SQL, (id, scope.tenant(), agent)).await
    }

    /// Releases the number. `NotFound` if not in the scope.
    pub async fn delete(
        &self,
        scope: &TenantScope,
        grant: &DeleteGrant,
        id: NumberId,
    ) -> StoreResult<()> {
        const SQL: &str = "DELETE FROM phone_numbers WHERE id = $1 AND tenant_id = $2";
        query::delete_scoped(self.db, grant, SQL, id, scope).await
    }
}
