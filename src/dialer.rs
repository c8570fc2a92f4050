//! [`EngineDialer`]: the admin plane's [`Dialer`] on top of the call
//! engine. `dial` counts the call against the tenant's call limit at once
//! (refusing it when over), then, off the request path, builds the agent,
//! resolves the trunk and hands the call to the serving task, which owns
//! the SIP server and places it ([`CallManager::originate`]). The call's
//! record (created `queued` by the admin API) follows it through
//! [`CallRecords::outbound_lifecycle`].
//!
//! Calls are tracked from `dial` until the answer or the end, so `cancel`
//! reaches them: before the INVITE the call is marked and never placed;
//! after it, CANCEL is sent.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use parla_admin_core::dialer::{CancelError, DialError, DialRequest, Dialer};
use parla_admin_core::domain::{CallId, TenantId, Transport as TrunkTransport};
use parla_admin_core::store::{Store, TenantScope};
use parla_engine::call::{
    CallControl, CallLifecycle, CallLimits, CallManager, CallReport, HangupCause, LiveEvent,
    Originate, OutboundEnd,
};
use parla_sip::resolve::{ServerLocation, SipTransport, TrunkResolver};
use parla_sip::server::{OutboundControl, SipServer};
use parla_sip::uac::{Credentials, Transport};
use tokio::sync::mpsc;

use crate::directory::DbDirectory;

/// Calls waiting for the serving task to place them, at most (bounds
/// memory when SIP is stuck; more are refused as unavailable).
pub const MAX_QUEUED_DIALS: usize = 256;

/// A call ready to place, sent to the task that owns the SIP server.
pub struct DialJob {
    id: CallId,
    call: Originate,
    pending: Pending,
}

impl DialJob {
    /// Places the call through `sip` (unless it was canceled meanwhile).
    /// Runs on the serving task: the call's events are handled on a task
    /// of the same thread, so the control is registered before any of them.
    pub fn place(mut self, manager: &CallManager, sip: &SipServer) {
        if self.pending.take_canceled(self.id) {
            if let Some(mut l) = self.call.lifecycle.take() {
                l.ended(canceled_report());
            }
            return;
        }
        match manager.originate(sip, self.call) {
            Ok(control) => self.pending.dialing(self.id, control),
            Err(e) => {
                tracing::warn!(call = %self.id, error = %e, "outbound call not placed");
                self.pending.remove(self.id);
            }
        }
    }
}

/// Where a tracked call is.
enum State {
    /// Agent and trunk being prepared; `true` once canceled.
    Preparing(bool),
    /// INVITE sent, not answered yet.
    Dialing(OutboundControl),
}

/// The calls `cancel` can reach, by record id, with their tenant.
#[derive(Clone, Default)]
struct Pending(Arc<Mutex<HashMap<CallId, (TenantId, State)>>>);

impl Pending {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CallId, (TenantId, State)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn remove(&self, id: CallId) {
        self.lock().remove(&id);
    }
    /// Whether `id` was canceled while preparing (then forgotten).
    fn take_canceled(&self, id: CallId) -> bool {
        let mut map = self.lock();
        if matches!(map.get(&id), Some((_, State::Preparing(true)))) {
            map.remove(&id);
            return true;
        }
        false
    }
    fn dialing(&self, id: CallId, control: OutboundControl) {
        if let Some((_, state)) = self.lock().get_mut(&id) {
            *state = State::Dialing(control);
        }
    }
}

/// The report of a call canceled before its INVITE.
fn canceled_report() -> CallReport {
    let mut r = CallReport::unanswered(HangupCause::OperatorHangup, 0);
    r.outbound = Some(OutboundEnd {
        outcome: "canceled",
        cause: parla_sip::uac::cause::CANCELED.to_owned(),
    });
    r
}

/// The report of a call that failed before its INVITE.
fn failed_report(cause: &str) -> CallReport {
    let mut r = CallReport::unanswered(HangupCause::Error, 0);
    r.outbound = Some(OutboundEnd {
        outcome: "failed",
        cause: cause.to_owned(),
    });
    r
}

/// Forgets the call in [`Pending`] once answered or over, around the
/// record's lifecycle.
struct Tracked {
    inner: Box<dyn CallLifecycle>,
    pending: Pending,
    id: CallId,
}

impl CallLifecycle for Tracked {
    fn dialing(&mut self, sip_call_id: &str) {
        self.inner.dialing(sip_call_id);
    }
    fn ringing(&mut self) {
        self.inner.ringing();
    }
    fn answered(&mut self, at: SystemTime) {
        self.pending.remove(self.id);
        self.inner.answered(at);
    }
    fn ended(&mut self, report: CallReport) {
        self.pending.remove(self.id);
        self.inner.ended(report);
    }
    fn control(&mut self, control: CallControl) {
        self.inner.control(control);
    }
    fn event(&mut self, event: LiveEvent) {
        self.inner.event(event);
    }
    fn recording_name(&self) -> Option<std::path::PathBuf> {
        self.inner.recording_name()
    }
}

/// The engine's [`Dialer`].
pub struct EngineDialer {
    store: Store,
    directory: Arc<DbDirectory>,
    limits: CallLimits,
    jobs: mpsc::Sender<DialJob>,
    pending: Pending,
    /// Host written in the From URI of E.164 caller ids.
    from_host: String,
    /// Trunk hosts to addresses (RFC 3263; the system's nameservers).
    resolver: TrunkResolver,
}

impl EngineDialer {
    /// A dialer whose calls go to `jobs` (drained by the serving task with
    /// [`DialJob::place`]).
    pub fn new(
        store: Store,
        directory: Arc<DbDirectory>,
        limits: CallLimits,
        from_host: String,
    ) -> (Self, mpsc::Receiver<DialJob>) {
        let (jobs, rx) = mpsc::channel(MAX_QUEUED_DIALS);
        let resolver = TrunkResolver::system().unwrap_or_else(|e| {
            // IP-literal trunks never query DNS, so they still work.
            tracing::warn!(error = %e, "no system DNS configuration; asking 127.0.0.1:53 for trunk names");
            TrunkResolver::with_nameserver(SocketAddr::from(([127, 0, 0, 1], 53)))
        });
        let dialer = EngineDialer {
            store,
            directory,
            limits,
            jobs,
            pending: Pending::default(),
            from_host,
            resolver,
        };
        (dialer, rx)
    }
}

/// `number` as a SIP URI: an E.164 number at `host`, a SIP URI as it is.
fn sip_uri(number: &str, host: &str) -> String {
    if number.starts_with("sip:") || number.starts_with("sips:") {
        number.to_owned()
    } else {
        format!("sip:{number}@{host}")
    }
}

impl Dialer for EngineDialer {
    fn dial(&self, request: DialRequest) -> Result<(), DialError> {
        let slot = self
            .limits
            .tenant(&request.tenant_id.to_string())
            .map_err(|e| DialError::LimitReached { limit: e.limit })?;
        let transport = match request.trunk.transport {
            TrunkTransport::Udp => Transport::Udp,
            TrunkTransport::Tcp => Transport::Tcp,
            TrunkTransport::Tls => {
                return Err(DialError::Unavailable(
                    "SIP over TLS is not supported for outbound calls yet".into(),
                ))
            }
        };
        let id = request.call_id;
        self.pending
            .lock()
            .insert(id, (request.tenant_id, State::Preparing(false)));
        let store = self.store.clone();
        let directory = self.directory.clone();
        let jobs = self.jobs.clone();
        let pending = self.pending.clone();
        let from_host = self.from_host.clone();
        let resolver = self.resolver.clone();
        tokio::spawn(async move {
            let scope = TenantScope::new(request.tenant_id);
            let record = match store.calls().get(&scope, id).await {
                Ok(Some(r)) => r,
                other => {
                    tracing::error!(call = %id, result = ?other.map(|_| ()), "outbound call record not found");
                    pending.remove(id);
                    return;
                }
            };
            let mut lifecycle: Box<dyn CallLifecycle> = Box::new(Tracked {
                inner: directory
                    .records()
                    .outbound_lifecycle(scope.clone(), &record),
                pending: pending.clone(),
                id,
            });
            let agent = match directory.agent_by_id(&scope, request.agent_id).await {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(call = %id, error = %format!("{e:#}"), "outbound call: agent cannot run");
                    lifecycle.ended(failed_report("agent_unavailable"));
                    return;
                }
            };
            let host = request.trunk.host.clone();
            // The trunk's port is explicit, so RFC 3263 §4.2 asks A/AAAA only.
            let location = ServerLocation {
                host: host.clone(),
                port: Some(request.trunk.port),
                transport: Some(match transport {
                    Transport::Udp => SipTransport::Udp,
                    Transport::Tcp => SipTransport::Tcp,
                }),
                secure: false,
            };
            let trunk = match resolver.resolve(&location).await {
                Ok(targets) => targets[0].addr,
                Err(e) => {
                    tracing::warn!(call = %id, %host, error = %e, "outbound call: trunk host does not resolve");
                    lifecycle.ended(failed_report(e.cause()));
                    return;
                }
            };
            let credentials = match (&request.trunk.auth_user, &request.trunk.auth_password) {
                (Some(user), Some(password)) => Some(Credentials::new(user, password)),
                _ => None,
            };
            let call = Originate {
                agent,
                variables: request.variables,
                request_uri: format!("sip:{}@{}:{}", request.to, host, request.trunk.port),
                from: sip_uri(&request.from, &from_host),
                trunk,
                transport,
                credentials,
                ring_timeout: request.ring_timeout,
                lifecycle: Some(lifecycle),
                slots: vec![slot],
            };
            let job = DialJob {
                id,
                call,
                pending: pending.clone(),
            };
            if let Err(e) = jobs.try_send(job) {
                let job = match e {
                    mpsc::error::TrySendError::Full(j) | mpsc::error::TrySendError::Closed(j) => j,
                };
                tracing::warn!(call = %id, "outbound call: SIP is not taking calls");
                let DialJob { mut call, .. } = job;
                if let Some(mut l) = call.lifecycle.take() {
                    l.ended(failed_report("unavailable"));
                }
            }
        });
        Ok(())
    }

    fn cancel(&self, tenant: TenantId, id: CallId) -> Result<(), CancelError> {
        let mut map = self.pending.lock();
        match map.get_mut(&id) {
            Some((t, state)) if *t == tenant => match state {
                State::Preparing(canceled) => {
                    *canceled = true;
                    Ok(())
                }
                State::Dialing(control) => {
                    let _ = control.cancel();
                    Ok(())
                }
            },
            _ => Err(CancelError::NotDialing),
        }
    }
}
