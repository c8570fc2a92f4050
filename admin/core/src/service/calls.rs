//! Outbound calls: originate (`POST /tenants/{tid}/calls`) and cancel
//! (`DELETE /tenants/{tid}/calls/{id}`).
//!
//! [`originate`] validates the request in the caller's tenant (the callee
//! is E.164; the number and the agent are the tenant's; the number implies
//! a trunk; the variables and ring timeout are in bounds), then writes the
//! call record (direction `outbound`, status `queued`) and its audit entry
//! (`call.originate`) in one transaction, and hands the call to the
//! engine's [`Dialer`]. A call the engine refuses (tenant call limit, no
//! RTP port) ends at once as `failed` with the reason as its cause.
//!
//! Trunk: phone numbers do not name a trunk yet, so the tenant's trunk is
//! used when it has exactly one; none or several is a 422 on
//! `from_number_id`.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::auth::secrets::associated_data;
use crate::dialer::{
    CancelError, DialError, DialRequest, DialTrunk, Dialer, DEFAULT_RING_TIMEOUT_SECS,
    MAX_RING_TIMEOUT_SECS, MAX_VARIABLES, MAX_VARIABLE_NAME, MAX_VARIABLE_VALUE,
    MIN_RING_TIMEOUT_SECS,
};
use crate::domain::{AgentId, CallId, CallStatus, Direction, NumberId, E164};
use crate::store::{CallEnd, CallRecord, NewCall, Page, SipTrunk, TenantScope, Tx};

use super::{json, Change, Ctx, FieldErrors, ServiceError};

/// Hangup cause of a call the engine refused because of the tenant's
/// concurrent-call limit.
pub const CAUSE_CALL_LIMIT: &str = "call_limit";
/// Hangup cause of a call the engine could not place (no RTP port, SIP
/// stopped, trunk host unresolvable).
pub const CAUSE_UNAVAILABLE: &str = "unavailable";

/// The body of an originate request, as received (checked here).
#[derive(Clone, Debug, Default)]
pub struct OriginateInput {
    /// The callee, E.164.
    pub to: String,
    /// One of the tenant's numbers: the caller id (and its trunk).
    pub from_number_id: String,
    /// One of the tenant's agents.
    pub agent_id: String,
    /// `{{name}}` values; at most [`MAX_VARIABLES`].
    pub variables: BTreeMap<String, String>,
    /// 5..=120 s; `None`: [`DEFAULT_RING_TIMEOUT_SECS`].
    pub ring_timeout_secs: Option<i64>,
}

/// Why an originate or cancel failed.
#[derive(Debug, thiserror::Error)]
pub enum OriginateError {
    /// Validation, permissions, not found, conflicts, the database.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// This node runs no call engine (API 503 "calls cannot be placed on
    /// this node").
    #[error("calls cannot be placed on this node")]
    NoDialer,
    /// The engine refused the call; its record was closed as `failed`.
    #[error(transparent)]
    Dial(DialError),
}

impl From<crate::store::StoreError> for OriginateError {
    fn from(e: crate::store::StoreError) -> Self {
        OriginateError::Service(e.into())
    }
}

/// Whether `key` is a variable name: `[a-z0-9_]{1,32}`.
pub fn valid_variable_name(key: &str) -> bool {
    (1..=MAX_VARIABLE_NAME).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Checks the variables, recording problems under `variables`.
fn check_variables(errors: &mut FieldErrors, vars: &BTreeMap<String, String>) {
    if vars.len() > MAX_VARIABLES {
        errors.add(
            "variables",
            format!("at most {MAX_VARIABLES} variables are allowed"),
        );
        return;
    }
    for (key, value) in vars {
        if !valid_variable_name(key) {
            errors.add(
                "variables",
                format!("variable names are 1 to {MAX_VARIABLE_NAME} characters of a-z, 0-9 and _"),
            );
        } else if value.chars().count() > MAX_VARIABLE_VALUE {
            errors.add(
                format!("variables.{key}"),
                format!("at most {MAX_VARIABLE_VALUE} characters"),
            );
        }
    }
}

/// The ring timeout of `raw`, or records the problem.
fn ring_timeout(errors: &mut FieldErrors, raw: Option<i64>) -> Duration {
    let secs = raw.unwrap_or(i64::from(DEFAULT_RING_TIMEOUT_SECS));
    let range = i64::from(MIN_RING_TIMEOUT_SECS)..=i64::from(MAX_RING_TIMEOUT_SECS);
    if !range.contains(&secs) {
        errors.add(
            "ring_timeout_secs",
            format!("must be from {MIN_RING_TIMEOUT_SECS} to {MAX_RING_TIMEOUT_SECS} seconds"),
        );
    }
    Duration::from_secs(secs.clamp(*range.start(), *range.end()) as u64)
}

/// The trunk outbound calls of the scope's tenant use: its only one.
async fn outbound_trunk(
    tx: &Tx,
    scope: &TenantScope,
    errors: &mut FieldErrors,
) -> Result<Option<SipTrunk>, ServiceError> {
    let page = Page::new(1, 2).map_err(|e| ServiceError::Internal(e.to_string()))?;
    let mut trunks = tx.trunks().list(scope, page).await?;
    match trunks.items.len() {
        1 => Ok(trunks.items.pop()),
        0 => {
            errors.add(
                "from_number_id",
                "the tenant has no SIP trunk to call through",
            );
            Ok(None)
        }
        _ => {
            errors.add(
                "from_number_id",
                "the tenant has several SIP trunks and the number names none",
            );
            Ok(None)
        }
    }
}

/// The trunk as the engine dials it, its password decrypted.
fn dial_trunk(ctx: &Ctx<'_>, scope: &TenantScope, t: SipTrunk) -> Result<DialTrunk, ServiceError> {
    let auth_password = match &t.auth_password_enc {
        Some(enc) => {
            let ad = associated_data(
                "sip_trunks",
                &scope.tenant().to_string(),
                "auth_password_enc",
            );
            Some(
                ctx.secrets
                    .decrypt_string(enc.expose(), &ad)
                    .map_err(|e| ServiceError::Internal(e.to_string()))?,
            )
        }
        None => None,
    };
    Ok(DialTrunk {
        host: t.host.to_string(),
        port: t.port,
        transport: t.transport,
        auth_user: t.auth_user,
        auth_password,
    })
}

/// Places a call (`call.originate`): validates `input` in the scope's
/// tenant, stores the record (`queued`) and its audit entry in one
/// transaction, then hands the call to `dialer`. Returns the record as
/// stored (status `queued`).
///
/// Errors: `Forbidden` for the read-only `agent` role; `Invalid` on `to`,
/// `from_number_id` (also: no or several trunks), `agent_id`,
/// `variables`, `ring_timeout_secs` (another tenant's number or agent is
/// "no such …"); [`OriginateError::NoDialer`] without an engine;
/// [`OriginateError::Dial`] when the engine refuses (the record is then
/// closed as `failed`, cause [`CAUSE_CALL_LIMIT`] or
/// [`CAUSE_UNAVAILABLE`]).
pub async fn originate(
    ctx: Ctx<'_>,
    dialer: Option<&dyn Dialer>,
    scope: &TenantScope,
    input: OriginateInput,
) -> Result<CallRecord, OriginateError> {
    ctx.require(ctx.actor.principal.can_manage_agents_and_numbers())?;
    let tx = ctx.store.transaction().await?;
    let mut errors = FieldErrors::default();
    let to = match input.to.trim().parse::<E164>() {
        Ok(to) => Some(to),
        Err(e) => {
            errors.add_keyed("to", e.to_string(), "err.address");
            None
        }
    };
    let number = match input.from_number_id.trim().parse::<NumberId>() {
        Ok(id) => tx.numbers().get(scope, id).await?,
        Err(_) => None,
    };
    if number.is_none() {
        errors.add_keyed("from_number_id", "no such number", "err.invalid_choice");
    }
    let agent = match input.agent_id.trim().parse::<AgentId>() {
        Ok(id) => tx.agents().get(scope, id).await?,
        Err(_) => None,
    };
    if agent.is_none() {
        errors.add_keyed("agent_id", "no such agent", "err.invalid_choice");
    }
    let trunk = match number {
        Some(_) => outbound_trunk(&tx, scope, &mut errors).await?,
        None => None,
    };
    check_variables(&mut errors, &input.variables);
    let ring_timeout = ring_timeout(&mut errors, input.ring_timeout_secs);
    errors.into_result()?;
    let (Some(to), Some(number), Some(agent), Some(trunk)) = (to, number, agent, trunk) else {
        return Err(ServiceError::Invalid(FieldErrors::default()).into());
    };
    let Some(dialer) = dialer else {
        return Err(OriginateError::NoDialer);
    };
    let trunk = dial_trunk(&ctx, scope, trunk)?;
    let record = tx
        .calls()
        .start(
            scope,
            NewCall {
                agent_id: Some(agent.id),
                direction: Direction::Outbound,
                from_uri: number.address.as_str().to_owned(),
                to_uri: to.as_str().to_owned(),
                sip_call_id: String::new(),
                attempted_at: tx.now(),
                answered_at: None,
                status: CallStatus::Queued,
            },
        )
        .await?;
    let change = Change::new(
        "call.originate",
        Some(scope.tenant()),
        record.id,
        None,
        json(&record),
    );
    ctx.commit(tx, change).await?;
    let request = DialRequest {
        call_id: record.id,
        tenant_id: scope.tenant(),
        agent_id: agent.id,
        to: to.as_str().to_owned(),
        from: number.address.as_str().to_owned(),
        trunk,
        variables: input.variables,
        ring_timeout,
    };
    if let Err(e) = dialer.dial(request) {
        let cause = match e {
            DialError::LimitReached { .. } => CAUSE_CALL_LIMIT,
            DialError::Unavailable(_) => CAUSE_UNAVAILABLE,
        };
        close(&ctx, scope, record.id, CallStatus::Failed, cause).await?;
        return Err(OriginateError::Dial(e));
    }
    Ok(record)
}

/// Ends a record that never reached the engine with `status` and `cause`.
async fn close(
    ctx: &Ctx<'_>,
    scope: &TenantScope,
    id: CallId,
    status: CallStatus,
    cause: &str,
) -> Result<CallRecord, ServiceError> {
    let end = CallEnd {
        ended_at: ctx.store.now(),
        status,
        hangup_cause: Some(cause.to_owned()),
        sip_status: None,
        transcript: Vec::new(),
        latency: Vec::new(),
        recording_path: None,
    };
    Ok(ctx.store.calls().finish(scope, id, end).await?)
}

/// Cancels outbound call `id` before the answer (`call.cancel`): the
/// engine sends CANCEL and the record ends `canceled` shortly after.
/// Returns the record as it is now.
///
/// Errors: `NotFound` outside the scope; `Forbidden` for the `agent`
/// role; `Conflict { field: "call.status" }` for an inbound call, or one
/// answered or ended (also when the engine no longer dials it); [`OriginateError::NoDialer`] without an engine.
pub async fn cancel(
    ctx: Ctx<'_>,
    dialer: Option<&dyn Dialer>,
    scope: &TenantScope,
    id: CallId,
) -> Result<CallRecord, OriginateError> {
    let record = ctx
        .store
        .calls()
        .get(scope, id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    ctx.require(ctx.actor.principal.can_manage_agents_and_numbers())?;
    let conflict = || {
        OriginateError::Service(ServiceError::Conflict {
            field: "call.status",
        })
    };
    if record.direction != Direction::Outbound || !record.status.is_unanswered() {
        return Err(conflict());
    }
    let Some(dialer) = dialer else {
        return Err(OriginateError::NoDialer);
    };
    match dialer.cancel(scope.tenant(), id) {
        Ok(()) => {}
        // Answered (or over) a moment ago: the record is about to say so.
        Err(CancelError::NotDialing) => return Err(conflict()),
    }
    let tx = ctx.store.transaction().await?;
    let change = Change::new("call.cancel", Some(scope.tenant()), id, None, None);
    ctx.commit(tx, change).await?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names() {
        assert!(valid_variable_name("name"));
        assert!(valid_variable_name("first_name_2"));
        assert!(valid_variable_name(&"a".repeat(32)));
        assert!(!valid_variable_name(&"a".repeat(33)));
        assert!(!valid_variable_name(""));
        assert!(!valid_variable_name("Name"));
        assert!(!valid_variable_name("na-me"));
        assert!(!valid_variable_name("ñ"));
    }

    #[test]
    fn ring_timeout_bounds() {
        let mut e = FieldErrors::default();
        assert_eq!(ring_timeout(&mut e, None), Duration::from_secs(30));
        assert_eq!(ring_timeout(&mut e, Some(5)), Duration::from_secs(5));
        assert_eq!(ring_timeout(&mut e, Some(120)), Duration::from_secs(120));
        assert!(e.is_empty());
        ring_timeout(&mut e, Some(4));
        ring_timeout(&mut e, Some(121));
        assert_eq!(e.0.len(), 2);
    }
}
