//! [`UacTable`]: every outbound call of one user agent, routed by Call-ID
//! (sans-IO; the `SipServer` driver owns one next to the UAS core).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use rsipstack::sip::prelude::HeadersExt;

use crate::message::Inbound;

use super::{Input, OutboundCall, Output, Source, Transmit, UacError, UacEvent};

/// Smallest delay before a timer that just fired can fire again.
const MIN_REARM: std::time::Duration = std::time::Duration::from_millis(1);

/// Identifies one outbound call in a [`UacTable`] (chosen by the caller,
/// unique for the table's lifetime).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UacKey(pub u64);

/// What the table asks of its driver.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // a handful of events per call
pub enum UacTableOutput {
    /// Send bytes.
    Transmit(Transmit),
    /// An event of call `key`; [`UacEvent::Ended`] is its last.
    Event {
        /// The call.
        key: UacKey,
        /// What happened.
        event: UacEvent,
    },
}

struct Entry {
    call: OutboundCall,
    armed: Option<Instant>,
}

/// Outbound calls, their timers and their outputs. Responses and requests
/// are routed by Call-ID (each call then checks branch, CSeq and tags);
/// a call is dropped once it [is finished](OutboundCall::is_finished).
#[derive(Default)]
pub struct UacTable {
    calls: HashMap<UacKey, Entry>,
    by_call_id: HashMap<String, UacKey>,
    timers: BinaryHeap<Reverse<(Instant, UacKey)>>,
    outputs: VecDeque<UacTableOutput>,
}

impl UacTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a call built with [`OutboundCall::new`] (its INVITE goes out
    /// with the next [`poll_output`](Self::poll_output)).
    pub fn insert(&mut self, key: UacKey, call: OutboundCall) {
        self.by_call_id.insert(call.call_id().to_string(), key);
        self.calls.insert(key, Entry { call, armed: None });
        self.after(key);
    }

    /// Calls not yet ended.
    pub fn active(&self) -> usize {
        self.calls
            .values()
            .filter(|e| e.call.state() != super::UacState::Ended)
            .count()
    }

    /// Calls still held (ended ones linger while their transactions absorb
    /// retransmissions).
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// Whether no call is held.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Keys of every call held.
    pub fn keys(&self) -> Vec<UacKey> {
        self.calls.keys().copied().collect()
    }

    /// Whether a call signals to `addr` (the driver keeps such TCP
    /// connections open).
    pub fn uses_peer(&self, addr: SocketAddr) -> bool {
        self.calls.values().any(|e| e.call.trunk() == addr)
    }

    /// Offers an inbound message to the calls: returns it back when no call
    /// has its Call-ID (it is then the UAS core's).
    pub fn handle_inbound(
        &mut self,
        now: Instant,
        source: Source,
        inbound: Inbound,
    ) -> Option<Inbound> {
        let call_id = match &inbound {
            Inbound::Response(r) => r
                .call_id_header()
                .ok()
                .map(|c| c.value().trim().to_string()),
            Inbound::Request(r) => r
                .call_id_header()
                .ok()
                .map(|c| c.value().trim().to_string()),
            _ => None,
        };
        let Some(&key) = call_id.as_ref().and_then(|c| self.by_call_id.get(c)) else {
            return Some(inbound);
        };
        let input = match inbound {
            Inbound::Response(r) => Input::Response(r),
            Inbound::Request(r) => Input::Request(r, source),
            other => return Some(other),
        };
        self.input(now, key, input);
        None
    }

    /// Feeds one input to call `key` (ignored for an unknown key).
    pub fn input(&mut self, now: Instant, key: UacKey, input: Input) {
        if let Some(e) = self.calls.get_mut(&key) {
            e.call.handle_input(now, input);
            self.after(key);
        }
    }

    /// [`OutboundCall::cancel`] on call `key`; unknown keys are a no-op
    /// (the call is over).
    pub fn cancel(&mut self, now: Instant, key: UacKey) -> Result<(), UacError> {
        let r = match self.calls.get_mut(&key) {
            Some(e) => e.call.cancel(now),
            None => Ok(()),
        };
        self.after(key);
        r
    }

    /// [`OutboundCall::hangup`] on call `key`; unknown keys are a no-op.
    pub fn hangup(&mut self, now: Instant, key: UacKey) -> Result<(), UacError> {
        let r = match self.calls.get_mut(&key) {
            Some(e) => e.call.hangup(now),
            None => Ok(()),
        };
        self.after(key);
        r
    }

    /// The transport failed towards `addr`: every call signalling there
    /// that has not been answered fails (RFC 3261 §17.1.4).
    pub fn transport_error(&mut self, now: Instant, addr: SocketAddr) {
        let keys: Vec<UacKey> = self
            .calls
            .iter()
            .filter(|(_, e)| e.call.trunk() == addr)
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            self.input(now, key, Input::TransportError);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// Fires every call timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, key))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(e) = self.calls.get_mut(&key) else {
                continue;
            };
            if e.armed != Some(at) {
                continue; // superseded
            }
            e.armed = None;
            e.call.handle_input(now, Input::Timeout);
            self.after_timeout(key, now);
        }
    }

    /// The next output.
    pub fn poll_output(&mut self) -> Option<UacTableOutput> {
        self.outputs.pop_front()
    }

    /// Drains the call's outputs, re-arms its timer, drops it when done.
    fn after(&mut self, key: UacKey) {
        self.after_with_floor(key, None);
    }

    /// [`after`](Self::after) once a timer fired at `now`: a deadline the
    /// call left at or before `now` is pushed 1 ms later, so that a timer
    /// the call failed to consume can never spin the driver.
    fn after_timeout(&mut self, key: UacKey, now: Instant) {
        self.after_with_floor(key, Some(now + MIN_REARM));
    }

    fn after_with_floor(&mut self, key: UacKey, floor: Option<Instant>) {
        let Some(e) = self.calls.get_mut(&key) else {
            return;
        };
        while let Some(out) = e.call.poll_output() {
            self.outputs.push_back(match out {
                Output::Send(t) => UacTableOutput::Transmit(t),
                Output::Event(event) => UacTableOutput::Event { key, event },
            });
        }
        if e.call.is_finished() {
            let id = e.call.call_id().to_string();
            self.calls.remove(&key);
            if self.by_call_id.get(&id) == Some(&key) {
                self.by_call_id.remove(&id);
            }
            return;
        }
        let next = match (e.call.poll_timeout(), floor) {
            (Some(at), Some(floor)) => Some(at.max(floor)),
            (next, _) => next,
        };
        if next != e.armed {
            e.armed = next;
            if let Some(at) = next {
                self.timers.push(Reverse((at, key)));
            }
        }
    }
}
