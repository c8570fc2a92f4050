//! Phone numbers: the operator's inventory. A super admin adds a number to
//! a tenant; the tenant's admins route it to one of their agents; a super
//! admin releases it.

use crate::domain::{AgentId, NumberAddress, NumberId};
use crate::store::{DeleteGrant, NewNumber, PhoneNumber, TenantScope, Tx};

use super::{json, Change, Ctx, FieldErrors, ServiceError, ServiceResult};

/// The agent `raw` names in the scope (`None` for none), checked in the
/// transaction; records `agent_id` in `errors` when there is no such agent.
async fn agent_of(
    tx: &Tx,
    scope: &TenantScope,
    errors: &mut FieldErrors,
    raw: Option<&str>,
) -> ServiceResult<Option<AgentId>> {
    let Some(raw) = raw else { return Ok(None) };
    let found = match raw.trim().parse::<AgentId>() {
        Ok(id) => tx.agents().get(scope, id).await?.map(|a| a.id),
        Err(_) => None,
    };
    if found.is_none() {
        errors.add_keyed("agent_id", "no such agent", "err.invalid_choice");
    }
    Ok(found)
}

async fn load(tx: &Tx, scope: &TenantScope, id: NumberId) -> ServiceResult<PhoneNumber> {
    tx.numbers()
        .get(scope, id)
        .await?
        .ok_or(ServiceError::NotFound)
}

/// Adds `address` (E.164 or SIP URI, wildcards included) to the scope's
/// tenant, routed to agent `agent_id` if given (`number.create`; super
/// admin only).
///
/// Errors: `Forbidden`; `Invalid` on `address` / `agent_id`;
/// `Conflict { field: "number.address" }` when any tenant has it.
pub async fn create(
    ctx: Ctx<'_>,
    scope: &TenantScope,
    address: &str,
    agent_id: Option<&str>,
) -> ServiceResult<PhoneNumber> {
    ctx.require(ctx.actor.principal.can_manage_number_inventory())?;
    let tx = ctx.store.transaction().await?;
    let mut errors = FieldErrors::default();
    let address = match address.trim().parse::<NumberAddress>() {
        Ok(a) => Some(a),
        Err(e) => {
            errors.add_keyed("address", e.to_string(), "err.address");
            None
        }
    };
    let agent_id = agent_of(&tx, scope, &mut errors, agent_id).await?;
    errors.into_result()?;
    let address = address.ok_or(ServiceError::Invalid(FieldErrors::default()))?;
    let n = tx
        .numbers()
        .create(scope, NewNumber { address, agent_id })
        .await?;
    let change = Change::new("number.create", Some(scope.tenant()), n.id, None, json(&n));
    ctx.commit(tx, change).await?;
    Ok(n)
}

/// Routes number `id` to agent `agent_id` (`None`: unassigned)
/// (`number.update`).
///
/// Errors: `NotFound` outside the scope; `Forbidden` for the `agent`
/// role; `Invalid` on `agent_id`.
pub async fn assign(
    ctx: Ctx<'_>,
    scope: &TenantScope,
    id: NumberId,
    agent_id: Option<&str>,
) -> ServiceResult<PhoneNumber> {
    let tx = ctx.store.transaction().await?;
    let before = load(&tx, scope, id).await?;
    ctx.require(ctx.actor.principal.can_manage_agents_and_numbers())?;
    let mut errors = FieldErrors::default();
    let agent_id = agent_of(&tx, scope, &mut errors, agent_id).await?;
    errors.into_result()?;
    let n = tx.numbers().assign_agent(scope, id, agent_id).await?;
    let change = Change::new(
        "number.update",
        Some(scope.tenant()),
        n.id,
        json(&before),
        json(&n),
    );
    ctx.commit(tx, change).await?;
    Ok(n)
}

/// Releases number `id` (`number.delete`; super admin only). Returns it.
pub async fn delete(ctx: Ctx<'_>, scope: &TenantScope, id: NumberId) -> ServiceResult<PhoneNumber> {
    let tx = ctx.store.transaction().await?;
    let before = load(&tx, scope, id).await?;
    ctx.require(ctx.actor.principal.can_delete())?;
    tx.numbers()
        .delete(scope, &DeleteGrant::super_admin(), id)
        .await?;
    let change = Change::new(
        "number.delete",
        Some(scope.tenant()),
        id,
        json(&before),
        None,
    );
    ctx.commit(tx, change).await?;
    Ok(before)
}
