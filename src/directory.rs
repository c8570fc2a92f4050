//! [`DbDirectory`]: the engine's [`AgentDirectory`] served from the admin
//! database. Dialed number → tenant + agent (see [`crate::routing`]), the
//! agent built by the engine's builder off the SIP path with a timeout, and
//! cached by `(agent id, updated_at)`, so an edit takes effect on the next
//! call without a restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use parla_admin_core::auth::SecretKey;
use parla_admin_core::domain::{AgentId, TenantStatus, Timestamp};
use parla_admin_core::store::{Route, Store, StoreError, VoiceAgent};
use parla_engine::agent::{build_agent, Agent, AgentDirectory, CallTarget, RouteDecision};
use parla_engine::providers::egress::EgressPolicy;

use crate::agents::engine_config;
use crate::call_records::CallRecords;
use crate::routing::candidates;

/// SIP status for a number that exists but has no agent assigned.
pub const NO_AGENT_STATUS: u16 = 480;
/// SIP status for an agent that cannot be built, or a database failure.
pub const UNAVAILABLE_STATUS: u16 = 503;
/// SIP status for a call to a suspended tenant.
pub const SUSPENDED_STATUS: u16 = 403;

/// Longest a call waits for its agent to be built (credentials decrypted
/// and checked, provider clients created, the fallback line rendered)
/// before it is rejected with 503. The build itself goes on and caches its
/// agent for the next call. `--agent-build-timeout` overrides it.
pub const AGENT_BUILD_TIMEOUT: Duration = Duration::from_secs(5);

/// A build's outcome as every waiting call sees it.
type BuildResult = Option<Result<Arc<Agent>, String>>;

/// Built agents, and the builds under way, by agent.
#[derive(Default)]
struct Agents {
    built: HashMap<AgentId, (Timestamp, Arc<Agent>)>,
    building: HashMap<AgentId, (Timestamp, watch::Receiver<BuildResult>)>,
}

/// Routes calls through the admin database and records them there.
///
/// Agents are built off the SIP path: on tokio's blocking pool, never on
/// the thread that runs SIP, one build per agent version at a time (calls
/// arriving meanwhile wait for the same build), each call waiting at most
/// the build timeout. A slow or failing build therefore rejects only the
/// calls to that agent (503), never OPTIONS or other agents' calls.
pub struct DbDirectory {
    store: Store,
    secrets: SecretKey,
    /// Where the agents' providers may connect (`--provider-allow`).
    egress: EgressPolicy,
    records: CallRecords,
    agents: Arc<Mutex<Agents>>,
    build_timeout: Duration,
    /// Test hook: builds of the agent with this name block this long.
    test_build_delay: Option<(String, Duration)>,
}

impl DbDirectory {
    pub fn new(store: Store, secrets: SecretKey, egress: EgressPolicy) -> Self {
        DbDirectory {
            records: CallRecords::new(store.clone()),
            store,
            secrets,
            egress,
            agents: Arc::default(),
            build_timeout: AGENT_BUILD_TIMEOUT,
            test_build_delay: None,
        }
    }

    /// Test hook (`PARLA_TEST_AGENT_BUILD_DELAY`): every build of the agent
    /// named `.0` blocks its build thread for `.1` first, standing in for
    /// a provider whose set-up is slow.
    pub fn with_test_build_delay(mut self, delay: Option<(String, Duration)>) -> Self {
        self.test_build_delay = delay;
        self
    }

    /// Registers answered calls in `live` while they run (see
    /// [`crate::live_calls`]).
    pub fn with_live_calls(mut self, live: Arc<crate::live_calls::LiveRegistry>) -> Self {
        self.records = self.records.clone().with_live(live);
        self
    }

    /// Sets how long a call waits for its agent's build (default
    /// [`AGENT_BUILD_TIMEOUT`]).
    pub fn with_build_timeout(mut self, timeout: Duration) -> Self {
        self.build_timeout = timeout;
        self
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

    /// The call records writer (outbound calls get their lifecycles here).
    pub fn records(&self) -> &CallRecords {
        &self.records
    }

    /// The engine agent `id` of `scope`'s tenant, built (or cached) as for
    /// an inbound call. Errors: no such agent, a database failure, an
    /// agent that cannot be built within the build timeout.
    pub async fn agent_by_id(
        &self,
        scope: &parla_admin_core::store::TenantScope,
        id: AgentId,
    ) -> anyhow::Result<Arc<Agent>> {
        let row = self
            .store
            .agents()
            .get(scope, id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no agent {id} in tenant {}", scope.tenant()))?;
        self.agent(&row).await
    }

    /// The engine agent of `row`: cached while `updated_at` is unchanged,
    /// else built anew (see the type's docs), waiting at most the build
    /// timeout.
    async fn agent(&self, row: &VoiceAgent) -> anyhow::Result<Arc<Agent>> {
        let mut rx = {
            let mut agents = lock(&self.agents);
            if let Some((at, agent)) = agents.built.get(&row.id) {
                if *at == row.updated_at {
                    return Ok(agent.clone());
                }
            }
            match agents.building.get(&row.id) {
                Some((at, rx)) if *at == row.updated_at => rx.clone(),
                _ => {
                    let rx = self.start_build(row.clone());
                    agents.building.insert(row.id, (row.updated_at, rx.clone()));
                    rx
                }
            }
        };
        let outcome = tokio::time::timeout(self.build_timeout, rx.wait_for(Option::is_some)).await;
        match outcome {
            Err(_) => anyhow::bail!(
                "the agent was not built within {} ms",
                self.build_timeout.as_millis()
            ),
            Ok(Err(_)) => {
                // The build panicked: let the next call try again.
                let mut agents = lock(&self.agents);
                if matches!(agents.building.get(&row.id), Some((at, _)) if *at == row.updated_at) {
                    agents.building.remove(&row.id);
                }
                anyhow::bail!("the agent build stopped without a result")
            }
            Ok(Ok(result)) => match result.as_ref() {
                Some(Ok(agent)) => Ok(agent.clone()),
                Some(Err(e)) => Err(anyhow::anyhow!("{e}")),
                None => unreachable!("waited for a result"),
            },
        }
    }

    /// Builds `row`'s agent on the blocking pool; the result goes to the
    /// returned channel and (on success) into the cache.
    fn start_build(&self, row: VoiceAgent) -> watch::Receiver<BuildResult> {
        let (tx, rx) = watch::channel(None);
        let secrets = self.secrets.clone();
        let egress = self.egress.clone();
        let agents = self.agents.clone();
        let runtime = tokio::runtime::Handle::current();
        let delay = match &self.test_build_delay {
            Some((name, delay)) if *name == row.name.to_string() => Some(*delay),
            _ => None,
        };
        tokio::task::spawn_blocking(move || {
            if let Some(delay) = delay {
                std::thread::sleep(delay);
            }
            let result = engine_config(&row, &secrets)
                .map_err(anyhow::Error::from)
                .and_then(|config| {
                    runtime
                        .block_on(build_agent(&config, &egress))
                        .map_err(anyhow::Error::from)
                })
                .map_err(|e| format!("{e:#}"));
            let mut agents = lock(&agents);
            if matches!(agents.building.get(&row.id), Some((at, _)) if *at == row.updated_at) {
                agents.building.remove(&row.id);
            }
            if let Ok(agent) = &result {
                tracing::info!(agent = %row.name, agent_id = %row.id, "agent built from the database");
                let newer =
                    matches!(agents.built.get(&row.id), Some((at, _)) if *at > row.updated_at);
                if !newer {
                    agents.built.insert(row.id, (row.updated_at, agent.clone()));
                }
            }
            let _ = tx.send(Some(result));
        });
        rx
    }
}

fn lock(agents: &Mutex<Agents>) -> std::sync::MutexGuard<'_, Agents> {
    // A panic while holding the lock cannot leave the maps inconsistent.
    agents.lock().unwrap_or_else(|e| e.into_inner())
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
            Ok(agent) => RouteDecision::Agent {
                agent,
                tenant: Some(tenant.to_string()),
                lifecycle,
            },
            Err(e) => {
                tracing::error!(call_id = %target.call_id, %tenant, agent_id = %row.id, error = %format!("{e:#}"), "agent cannot run: 503");
                reject(UNAVAILABLE_STATUS, lifecycle)
            }
        }
    }
}
