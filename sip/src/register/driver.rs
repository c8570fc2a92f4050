//! The public face of a registration kept by a running `SipServer`
//! ([`SipServer::register`](crate::server::SipServer::register)) — its
//! status and its control — and the driver's side: the
//! [`RegistrationTable`] plus one `watch` channel per registration.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, watch};

use crate::message::Inbound;
use crate::server::SipError;
use crate::transport::Command;

use super::{
    RegKey, Registration, RegistrationStatus, RegistrationTable, RegistrationTableOutput, Transmit,
};

#[derive(Debug)]
struct ControlInner {
    key: RegKey,
    commands: mpsc::UnboundedSender<Command>,
}

impl Drop for ControlInner {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Unregister(self.key));
    }
}

/// A registration kept by the SIP server: read its status at any time
/// ([`status`](Self::status)), wait for changes
/// ([`wait_for`](Self::wait_for)), or remove it
/// ([`unregister`](Self::unregister)). Clones share the registration;
/// when the last clone is dropped it is unregistered (`Expires: 0`).
#[derive(Debug, Clone)]
pub struct RegistrationHandle {
    call_id: String,
    status: watch::Receiver<RegistrationStatus>,
    inner: Arc<ControlInner>,
}

impl RegistrationHandle {
    pub(crate) fn new(
        key: RegKey,
        call_id: String,
        status: watch::Receiver<RegistrationStatus>,
        commands: mpsc::UnboundedSender<Command>,
    ) -> Self {
        Self {
            call_id,
            status,
            inner: Arc::new(ControlInner { key, commands }),
        }
    }

    /// The Call-ID of its REGISTERs.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The current status (`Unregistered` also after the server stopped).
    pub fn status(&self) -> RegistrationStatus {
        self.status.borrow().clone()
    }

    /// A receiver of every status change (e.g. for the API or a panel).
    pub fn subscribe(&self) -> watch::Receiver<RegistrationStatus> {
        self.status.clone()
    }

    /// Waits until the status satisfies `pred` (checked on the current
    /// value first) and returns it; [`SipError::Closed`] if the server
    /// stopped first.
    pub async fn wait_for(
        &mut self,
        pred: impl FnMut(&RegistrationStatus) -> bool,
    ) -> Result<RegistrationStatus, SipError> {
        self.status
            .wait_for(pred)
            .await
            .map(|s| s.clone())
            .map_err(|_| SipError::Closed)
    }

    /// Removes the binding (REGISTER with `Expires: 0`); the status ends
    /// `Unregistered`.
    pub fn unregister(&self) -> Result<(), SipError> {
        self.inner
            .commands
            .send(Command::Unregister(self.inner.key))
            .map_err(|_| SipError::Closed)
    }
}

/// The driver's registrations: the sans-IO table and where each status
/// is published.
#[derive(Default)]
pub(crate) struct Registrations {
    table: RegistrationTable,
    status: HashMap<RegKey, watch::Sender<RegistrationStatus>>,
}

impl Registrations {
    pub(crate) fn insert(
        &mut self,
        key: RegKey,
        reg: Registration,
        status: watch::Sender<RegistrationStatus>,
    ) {
        self.status.insert(key, status);
        self.table.insert(key, reg);
    }

    pub(crate) fn unregister(&mut self, now: Instant, key: RegKey) {
        self.table.unregister(now, key);
    }

    pub(crate) fn unregister_all(&mut self, now: Instant) {
        self.table.unregister_all(now);
    }

    /// Registrations not yet finished.
    pub(crate) fn active(&self) -> usize {
        self.table.len()
    }

    pub(crate) fn uses_peer(&self, addr: SocketAddr) -> bool {
        self.table.uses_peer(addr)
    }

    pub(crate) fn handle_inbound(&mut self, now: Instant, inbound: Inbound) -> Option<Inbound> {
        self.table.handle_inbound(now, inbound)
    }

    pub(crate) fn transport_error(&mut self, now: Instant, addr: SocketAddr) {
        self.table.transport_error(now, addr);
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.table.poll_timeout()
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.table.handle_timeout(now);
    }

    /// The next message to send; status changes met on the way are
    /// published (the last, `Unregistered`, closes the channel).
    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit> {
        loop {
            match self.table.poll_output()? {
                RegistrationTableOutput::Transmit(t) => return Some(t),
                RegistrationTableOutput::Status { key, status } => {
                    let last = matches!(status, RegistrationStatus::Unregistered { .. });
                    let tx = if last {
                        self.status.remove(&key)
                    } else {
                        self.status.get(&key).cloned()
                    };
                    if let Some(tx) = tx {
                        tx.send_replace(status);
                    }
                }
            }
        }
    }

    /// Publishes `Unregistered` for whatever is left (server stopping).
    pub(crate) fn close_all(&mut self) {
        let now = Instant::now();
        for (_, tx) in self.status.drain() {
            tx.send_replace(RegistrationStatus::Unregistered { at: now });
        }
    }
}
