//! [`DbDirectory`]: the engine's [`AgentDirectory`] served from the admin
//! database. Dialed number → tenant + agent (see [`crate::routing`]), the
//! agent built by the engine's builder and cached by `(agent id,
//! updated_at)`, so an edit takes effect on the next call without a restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use parla_admin::auth::SecretKey;
use parla_admin::domain::{AgentId, TenantStatus, Timestamp};
use parla_admin::store::{Route, Store, StoreError, VoiceAgent};
use parla_engine::agent::{build_agent, Agent, AgentDirectory, CallTarget, RouteDecision};

use crate::agents::engine_config;
use crate::call_records::CallRecords;
use crate::routing::candidates;

/// SIP status for a number that exists but has no agent assigned.
pub const NO_AGENT_STATUS: u16 = 480;
/// SIP status for an agent that cannot be built, or a database failure.
pub const UNAVAILABLE_STATUS: u16 = 503;
/// SIP status for a call to a suspended tenant.
pub const SUSPENDED_STATUS: u16 = 403;

/// Routes calls through the admin database and records them there.
pub struct DbDirectory {
    store: Store,
    secrets: SecretKey,
    records: CallRecords,
    cache: Mutex<HashMap<AgentId, (Timestamp, Arc<Agent>)>>,
}

impl DbDirectory {
    pub fn new(store: Store, secrets: SecretKey) -> Self {
        DbDirectory {
            records: CallRecords::new(store.clone()),
            store,
            secrets,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The first stored address matching the INVITE, most specific first.
    async fn lookup(&self, target: &CallTarget) -> Result<Option<Route>, StoreError> {
        for address in candidates(target.dialed_user.as_deref(), &target.request_uri) {
            if let Some(route) = self.store.routing().resolve_number(&address).await? {
                return Ok(Some(route));
            }
        }
        Ok(None)
    }

    /// The engine agent of `row`: cached while `updated_at` is unchanged,
    /// else built (and cached) anew.
    async fn agent(&self, row: &VoiceAgent) -> anyhow::Result<Arc<Agent>> {
        if let Some((at, agent)) = self.cache_lock().get(&row.id) {
            if *at == row.updated_at {
                return Ok(agent.clone());
            }
        }
        let config = engine_config(row, &self.secrets)?;
        let agent = build_agent(&config).await?;
        self.cache_lock()
            .insert(row.id, (row.updated_at, agent.clone()));
        tracing::info!(agent = %row.name, agent_id = %row.id, "agent built from the database");
        Ok(agent)
    }

    fn cache_lock(&self) -> std::sync::MutexGuard<'_, HashMap<AgentId, (Timestamp, Arc<Agent>)>> {
        // A panic while holding the lock cannot leave the map inconsistent.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait::async_trait]
impl AgentDirectory for DbDirectory {
    async fn route(&self, target: &CallTarget) -> RouteDecision {
        let reject = |status, lifecycle| RouteDecision::Reject { status, lifecycle };
        let route = match self.lookup(target).await {
            Ok(Some(route)) => route,
            Ok(None) => {
                tracing::info!(call_id = %target.call_id, request_uri = %target.request_uri, "no number matches: 404");
                return reject(404, None);
            }
            Err(e) => {
                tracing::error!(call_id = %target.call_id, error = %e, "number lookup failed: 503");
                return reject(UNAVAILABLE_STATUS, None);
            }
        };
        let tenant = route.scope.tenant();
        let agent_id = route.agent.as_ref().map(|a| a.id);
        let lifecycle = Some(self.records.lifecycle(route.scope, agent_id, target));
        if route.tenant_status != TenantStatus::Active {
            tracing::info!(call_id = %target.call_id, %tenant, "tenant suspended: 403");
            return reject(SUSPENDED_STATUS, lifecycle);
        }
        let Some(row) = route.agent else {
            tracing::info!(call_id = %target.call_id, %tenant, number = %route.number.address, "number has no agent: 480");
            return reject(NO_AGENT_STATUS, lifecycle);
        };
        match self.agent(&row).await {
            Ok(agent) => RouteDecision::Agent { agent, lifecycle },
            Err(e) => {
                tracing::error!(call_id = %target.call_id, %tenant, agent_id = %row.id, error = %format!("{e:#}"), "agent cannot run: 503");
                reject(UNAVAILABLE_STATUS, lifecycle)
            }
        }
    }
}
