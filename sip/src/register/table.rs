//! [`RegistrationTable`]: every registration of one user agent, routed by
//! Call-ID (sans-IO; the `SipServer` driver owns one).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rsipstack::sip::prelude::HeadersExt;

use crate::message::Inbound;

use super::{Input, Output, Registration, RegistrationStatus, Transmit};

/// Smallest delay before a registration whose timer just fired is woken
/// again (a deadline left in the past can never spin the driver).
const MIN_REARM: Duration = Duration::from_millis(1);

/// Identifies one registration in a [`RegistrationTable`] (chosen by the
/// caller, unique for the table's lifetime).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegKey(pub u64);

/// What the table asks of its driver.
#[derive(Debug, Clone, PartialEq)]
pub enum RegistrationTableOutput {
    /// Send bytes.
    Transmit(Transmit),
    /// Registration `key` has a new status;
    /// [`Unregistered`](RegistrationStatus::Unregistered) is its last.
    Status {
        /// The registration.
        key: RegKey,
        /// Its new status.
        status: RegistrationStatus,
    },
}

struct Entry {
    reg: Registration,
    /// The earliest time its timer may fire (after a fire: now + 1 ms).
    floor: Option<Instant>,
}

/// Registrations, their timers and outputs. Trunks are few, so timers are
/// found by a scan (no heap); a registration is dropped once
/// [finished](Registration::is_finished).
#[derive(Default)]
pub struct RegistrationTable {
    regs: HashMap<RegKey, Entry>,
    by_call_id: HashMap<String, RegKey>,
    outputs: VecDeque<RegistrationTableOutput>,
}

impl RegistrationTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a registration built with [`Registration::new`] (its first
    /// REGISTER goes out with the next [`poll_output`](Self::poll_output)).
    pub fn insert(&mut self, key: RegKey, reg: Registration) {
        self.by_call_id.insert(reg.call_id().to_string(), key);
        self.regs.insert(key, Entry { reg, floor: None });
        self.after(key);
    }

    /// Registrations held (not yet finished unregistering).
    pub fn len(&self) -> usize {
        self.regs.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.regs.is_empty()
    }

    /// The status of registration `key`, if held.
    pub fn status(&self, key: RegKey) -> Option<&RegistrationStatus> {
        self.regs.get(&key).map(|e| e.reg.status())
    }

    /// Whether a registration signals to `addr` (the driver keeps such
    /// TCP connections open).
    pub fn uses_peer(&self, addr: SocketAddr) -> bool {
        self.regs.values().any(|e| e.reg.registrar() == addr)
    }

    /// Offers an inbound message: a response whose Call-ID is one of ours
    /// is consumed; anything else is returned.
    pub fn handle_inbound(&mut self, now: Instant, inbound: Inbound) -> Option<Inbound> {
        let Inbound::Response(resp) = &inbound else {
            return Some(inbound);
        };
        let key = resp
            .call_id_header()
            .ok()
            .and_then(|c| self.by_call_id.get(c.value().trim()).copied());
        let Some(key) = key else {
            return Some(inbound);
        };
        let Inbound::Response(resp) = inbound else {
            return None;
        };
        self.input(now, key, Input::Response(resp));
        None
    }

    /// Feeds one input to registration `key` (unknown keys: no-op).
    pub fn input(&mut self, now: Instant, key: RegKey, input: Input) {
        if let Some(e) = self.regs.get_mut(&key) {
            e.reg.handle_input(now, input);
            self.after(key);
        }
    }

    /// [`Registration::unregister`] on `key` (unknown keys: no-op).
    pub fn unregister(&mut self, now: Instant, key: RegKey) {
        if let Some(e) = self.regs.get_mut(&key) {
            e.reg.unregister(now);
            self.after(key);
        }
    }

    /// Unregisters every registration (shutdown).
    pub fn unregister_all(&mut self, now: Instant) {
        for key in self.regs.keys().copied().collect::<Vec<_>>() {
            self.unregister(now, key);
        }
    }

    /// The transport failed towards `addr`: the REGISTER in flight there
    /// fails (RFC 3261 §17.1.4).
    pub fn transport_error(&mut self, now: Instant, addr: SocketAddr) {
        let keys: Vec<RegKey> = self
            .regs
            .iter()
            .filter(|(_, e)| e.reg.registrar() == addr)
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            self.input(now, key, Input::TransportError);
        }
    }

    fn deadline(e: &Entry) -> Option<Instant> {
        let at = e.reg.poll_timeout()?;
        Some(e.floor.map_or(at, |f| at.max(f)))
    }

    /// When [`handle_timeout`](Self::handle_timeout) must run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.regs.values().filter_map(Self::deadline).min()
    }

    /// Fires every registration timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<RegKey> = self
            .regs
            .iter()
            .filter(|(_, e)| Self::deadline(e).is_some_and(|at| at <= now))
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            if let Some(e) = self.regs.get_mut(&key) {
                e.reg.handle_input(now, Input::Timeout);
                e.floor = Some(now + MIN_REARM);
                self.after(key);
            }
        }
    }

    /// The next output.
    pub fn poll_output(&mut self) -> Option<RegistrationTableOutput> {
        self.outputs.pop_front()
    }

    /// Drains the registration's outputs; drops it when finished.
    fn after(&mut self, key: RegKey) {
        let Some(e) = self.regs.get_mut(&key) else {
            return;
        };
        while let Some(out) = e.reg.poll_output() {
            self.outputs.push_back(match out {
                Output::Send(t) => RegistrationTableOutput::Transmit(t),
                Output::Status(status) => RegistrationTableOutput::Status { key, status },
            });
        }
        if e.reg.is_finished() {
            let id = e.reg.call_id().to_string();
            self.regs.remove(&key);
            if self.by_call_id.get(&id) == Some(&key) {
                self.by_call_id.remove(&id);
            }
        }
    }
}
