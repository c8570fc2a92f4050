//! Number → tenant routing for the engine: the one global read that turns
//! a dialled address into a [`TenantScope`].

use super::{with_pool, Db, PhoneNumber, StoreResult, TenantScope, VoiceAgent};
use crate::domain::{NumberAddress, TenantStatus};

/// Where a dialled address goes.
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    /// Scope of the owning tenant, for every further store call of this call.
    pub scope: TenantScope,
    /// The owning tenant's status; the engine should reject calls to a
    /// suspended tenant.
    pub tenant_status: TenantStatus,
    /// The number row.
    pub number: PhoneNumber,
    /// The agent the number is assigned to, if any.
    pub agent: Option<VoiceAgent>,
}

/// Routing lookups. Obtain with [`Store::routing`](super::Store::routing).
#[derive(Clone, Copy, Debug)]
pub struct Routing<'s> {
    db: &'s Db,
}

impl<'s> Routing<'s> {
    pub(crate) fn new(db: &'s Db) -> Self {
        Self { db }
    }

    /// The tenant (and agent) owning `address`, or `None` if no tenant has
    /// it. Addresses are unique across tenants, so there is at most one.
    pub async fn resolve_number(&self, address: &NumberAddress) -> StoreResult<Option<Route>> {
        const NUMBER: &str = "SELECT * FROM phone_numbers WHERE address = $1";
        const TENANT_STATUS: &str = "SELECT status FROM tenants WHERE id = $1";
        const AGENT: &str = "SELECT * FROM voice_agents WHERE id = $1 AND tenant_id = $2";
        let route = with_pool!(self.db, |pool| {
            let Some(number) = sqlx::query_as::<_, PhoneNumber>(NUMBER)
                .bind(address)
                .fetch_optional(pool)
                .await?
            else {
                return Ok(None);
            };
            let tenant_status: TenantStatus = sqlx::query_scalar(TENANT_STATUS)
                .bind(number.tenant_id)
                .fetch_one(pool)
                .await?;
            let agent = match number.agent_id {
                Some(agent_id) => {
                    sqlx::query_as::<_, VoiceAgent>(AGENT)
                        .bind(agent_id)
                        .bind(number.tenant_id)
                        .fetch_optional(pool)
                        .await?
                }
                None => None,
            };
            Route {
                scope: TenantScope::new(number.tenant_id),
                tenant_status,
                number,
                agent,
            }
        });
        Ok(Some(route))
    }
}
