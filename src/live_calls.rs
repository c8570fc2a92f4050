//! The registry of the calls that are up on this node, per tenant: the
//! admin plane's [`LiveCalls`] on top of the engine's [`CallControl`]s and
//! [`LiveEvent`](parla_engine::call::LiveEvent)s.
//!
//! A call enters when its actor starts (the call record's lifecycle
//! receives its control, see [`crate::call_records`]) and leaves when it
//! ends. Each entry keeps the events so far (for late subscribers, bounded)
//! and broadcasts new ones. Every method takes one short lock and never
//! waits on IO: the engine calls in from its media threads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use parla_admin_core::domain::{CallId, TenantId};
use parla_admin_core::live::{
    LiveCallEvent, LiveCallSummary, LiveCalls, LiveCommand, LiveError, LiveSubscription,
};
use parla_engine::call::{CallCommand, CallControl, CommandError};
use parla_engine::conversation::AfterSay;
use tokio::sync::broadcast;

/// Events buffered per subscriber before it lags (skips events).
pub const EVENTS_PER_SUBSCRIBER: usize = 256;
/// Open event streams per call, at most (more get [`LiveError::Busy`]).
pub const MAX_SUBSCRIBERS_PER_CALL: usize = 16;
/// Transcript and latency events kept per call for late subscribers, at most.
pub const MAX_BACKLOG: usize = 4_000;

struct Entry {
    summary: LiveCallSummary,
    control: CallControl,
    /// Transcript and latency events so far (the current state is in `summary`).
    backlog: Vec<LiveCallEvent>,
    events: broadcast::Sender<LiveCallEvent>,
}

/// The live calls of this node. Cheap to share (`Arc`).
#[derive(Default)]
pub struct LiveRegistry {
    calls: Mutex<HashMap<CallId, Entry>>,
}

impl LiveRegistry {
    pub fn new() -> Arc<LiveRegistry> {
        Arc::new(LiveRegistry::default())
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<CallId, Entry>> {
        // A panic while holding the lock cannot leave an entry half-written
        // in a way that matters: keep serving.
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A call is up: `summary` says whose and what, `control` reaches it.
    pub fn register(&self, summary: LiveCallSummary, control: CallControl) {
        let (events, _) = broadcast::channel(EVENTS_PER_SUBSCRIBER);
        self.lock().insert(
            summary.id,
            Entry {
                summary,
                control,
                backlog: Vec::new(),
                events,
            },
        );
    }

    /// Something happened in call `id` (ignored if it is not registered).
    pub fn publish(&self, id: CallId, event: LiveCallEvent) {
        let mut calls = self.lock();
        let Some(entry) = calls.get_mut(&id) else {
            return;
        };
        match &event {
            LiveCallEvent::State { state } => entry.summary.state.clone_from(state),
            LiveCallEvent::Transcript { .. } | LiveCallEvent::Latency { .. } => {
                if matches!(event, LiveCallEvent::Transcript { .. }) {
                    entry.summary.turns = entry.summary.turns.saturating_add(1);
                }
                if entry.backlog.len() < MAX_BACKLOG {
                    entry.backlog.push(event.clone());
                }
            }
            LiveCallEvent::Ended { .. } => {}
        }
        // No subscriber is not an error.
        let _ = entry.events.send(event);
    }

    /// Call `id` ended: subscribers get [`LiveCallEvent::Ended`], then their
    /// streams close.
    pub fn end(&self, id: CallId, hangup_cause: Option<String>) {
        if let Some(entry) = self.lock().remove(&id) {
            let _ = entry.events.send(LiveCallEvent::Ended { hangup_cause });
        }
    }
}

impl LiveCalls for LiveRegistry {
    fn list(&self, tenant: Option<TenantId>) -> Vec<LiveCallSummary> {
        let mut calls: Vec<LiveCallSummary> = self
            .lock()
            .values()
            .filter(|e| tenant.is_none_or(|t| e.summary.tenant_id == t))
            .map(|e| e.summary.clone())
            .collect();
        calls.sort_by_key(|c| (c.attempted_at, c.id));
        calls
    }

    fn subscribe(&self, tenant: TenantId, id: CallId) -> Result<LiveSubscription, LiveError> {
        let calls = self.lock();
        let entry = calls
            .get(&id)
            .filter(|e| e.summary.tenant_id == tenant)
            .ok_or(LiveError::NotLive)?;
        if entry.events.receiver_count() >= MAX_SUBSCRIBERS_PER_CALL {
            return Err(LiveError::Busy);
        }
        let mut backlog = Vec::with_capacity(entry.backlog.len() + 1);
        backlog.push(LiveCallEvent::State {
            state: entry.summary.state.clone(),
        });
        backlog.extend(entry.backlog.iter().cloned());
        Ok(LiveSubscription {
            backlog,
            events: entry.events.subscribe(),
        })
    }

    fn command(&self, tenant: TenantId, id: CallId, command: LiveCommand) -> Result<(), LiveError> {
        let control = {
            let calls = self.lock();
            let entry = calls
                .get(&id)
                .filter(|e| e.summary.tenant_id == tenant)
                .ok_or(LiveError::NotLive)?;
            entry.control.clone()
        };
        let command = match command {
            LiveCommand::HangUp => CallCommand::HangUp,
            LiveCommand::Say {
                text,
                hang_up_after,
            } => CallCommand::Say {
                text,
                then: if hang_up_after {
                    AfterSay::HangUp
                } else {
                    AfterSay::Continue
                },
            },
        };
        control.send(command).map_err(|e| match e {
            CommandError::Ended => LiveError::NotLive,
            CommandError::Busy => LiveError::Busy,
            CommandError::TooLong => LiveError::TooLong,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parla_admin_core::domain::Timestamp;

    fn summary(tenant: TenantId) -> LiveCallSummary {
        LiveCallSummary {
            id: CallId::generate(),
            tenant_id: tenant,
            agent_id: None,
            from_uri: "sip:a@x".into(),
            to_uri: "sip:b@y".into(),
            attempted_at: Timestamp::from_unix_ms(1),
            state: "listening".into(),
            turns: 0,
        }
    }

    #[tokio::test]
    async fn a_tenant_reaches_only_its_own_calls() {
        let registry = LiveRegistry::new();
        let (acme, globex) = (TenantId::generate(), TenantId::generate());
        let call = summary(acme);
        let id = call.id;
        let (control, mut commands) = CallControl::channel();
        registry.register(call, control);
        assert_eq!(registry.list(Some(acme)).len(), 1);
        assert!(registry.list(Some(globex)).is_empty());
        assert_eq!(registry.list(None).len(), 1);
        assert_eq!(
            registry.command(globex, id, LiveCommand::HangUp),
            Err(LiveError::NotLive)
        );
        assert!(matches!(
            registry.subscribe(globex, id),
            Err(LiveError::NotLive)
        ));
        assert!(commands.try_recv().is_err(), "nothing reached the call");
        registry.command(acme, id, LiveCommand::HangUp).unwrap();
        assert_eq!(commands.try_recv().unwrap(), CallCommand::HangUp);
    }

    #[tokio::test]
    async fn subscribers_get_the_backlog_then_live_events_then_the_end() {
        let registry = LiveRegistry::new();
        let tenant = TenantId::generate();
        let call = summary(tenant);
        let id = call.id;
        let (control, _commands) = CallControl::channel();
        registry.register(call, control);
        let said = |text: &str| LiveCallEvent::Transcript {
            turn: parla_admin_core::domain::TranscriptTurn {
                speaker: parla_admin_core::domain::Speaker::Agent,
                text: text.into(),
                start_ms: 0,
                end_ms: 1,
                interrupted: false,
            },
        };
        registry.publish(id, said("Hello"));
        registry.publish(
            id,
            LiveCallEvent::State {
                state: "user_speaking".into(),
            },
        );
        let mut sub = registry.subscribe(tenant, id).unwrap();
        assert_eq!(
            sub.backlog,
            vec![
                LiveCallEvent::State {
                    state: "user_speaking".into()
                },
                said("Hello")
            ]
        );
        registry.publish(id, said("Bye"));
        registry.end(id, Some("caller_hangup".into()));
        assert_eq!(sub.events.recv().await.unwrap(), said("Bye"));
        assert!(matches!(
            sub.events.recv().await.unwrap(),
            LiveCallEvent::Ended { .. }
        ));
        assert!(sub.events.recv().await.is_err(), "closed");
        assert!(registry.list(None).is_empty());
        assert_eq!(
            registry.command(tenant, id, LiveCommand::HangUp),
            Err(LiveError::NotLive)
        );
    }

    #[tokio::test]
    async fn streams_per_call_are_limited() {
        let registry = LiveRegistry::new();
        let tenant = TenantId::generate();
        let call = summary(tenant);
        let id = call.id;
        let (control, _commands) = CallControl::channel();
        registry.register(call, control);
        let subs: Vec<_> = (0..MAX_SUBSCRIBERS_PER_CALL)
            .map(|_| registry.subscribe(tenant, id).unwrap())
            .collect();
        assert!(matches!(
            registry.subscribe(tenant, id),
            Err(LiveError::Busy)
        ));
        drop(subs);
        assert!(registry.subscribe(tenant, id).is_ok());
    }
}
