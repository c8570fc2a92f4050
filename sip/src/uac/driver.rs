//! The public face of an outbound call placed through a running
//! `SipServer` ([`SipServer::place_call`](crate::server::SipServer::place_call)):
//! its events and its controls. The server task owns the [`UacTable`]
//! (see `transport.rs`); this side only queues commands.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::server::SipError;
use crate::transport::Command;

use super::{UacEvent, UacKey};

#[derive(Debug)]
struct ControlInner {
    key: UacKey,
    call_id: String,
    commands: mpsc::UnboundedSender<Command>,
}

impl Drop for ControlInner {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::UacDropped(self.key));
    }
}

/// Cheap-to-clone control of one outbound call. Commands are queued for
/// the server task and never block; what they do is seen on the events.
/// When every clone (and the [`OutboundCallHandle`] holding one) is
/// dropped, the call is hung up (CANCEL or BYE).
#[derive(Debug, Clone)]
pub struct OutboundControl {
    inner: Arc<ControlInner>,
}

impl OutboundControl {
    fn send(&self, cmd: Command) -> Result<(), SipError> {
        self.inner.commands.send(cmd).map_err(|_| SipError::Closed)
    }

    /// The call's Call-ID.
    pub fn call_id(&self) -> &str {
        &self.inner.call_id
    }

    /// Cancels the call if it is not answered yet (CANCEL, then `Ended {
    /// outcome: Canceled }`); ignored once answered (use
    /// [`hangup`](Self::hangup)) or ended.
    pub fn cancel(&self) -> Result<(), SipError> {
        self.send(Command::UacCancel(self.inner.key))
    }

    /// Ends the call whatever its state: CANCEL before the answer, BYE
    /// after it.
    pub fn hangup(&self) -> Result<(), SipError> {
        self.send(Command::UacHangup(self.inner.key))
    }
}

/// An outbound call placed with `SipServer::place_call`: its Call-ID, its
/// events (capacity `transport::CALL_EVENT_CAPACITY`; the last one is
/// always [`UacEvent::Ended`]) and its control.
#[derive(Debug)]
pub struct OutboundCallHandle {
    /// The call's Call-ID.
    pub call_id: String,
    /// `Dialing`, `Ringing` / `EarlyMedia`, `Answered`, then `Ended`.
    pub events: mpsc::Receiver<UacEvent>,
    /// Cancel / hang up (clone it to keep it past the handle).
    pub control: OutboundControl,
}

impl OutboundCallHandle {
    pub(crate) fn new(
        key: UacKey,
        call_id: String,
        events: mpsc::Receiver<UacEvent>,
        commands: mpsc::UnboundedSender<Command>,
    ) -> Self {
        Self {
            call_id: call_id.clone(),
            events,
            control: OutboundControl {
                inner: Arc::new(ControlInner {
                    key,
                    call_id,
                    commands,
                }),
            },
        }
    }

    /// See [`OutboundControl::cancel`].
    pub fn cancel(&self) -> Result<(), SipError> {
        self.control.cancel()
    }

    /// See [`OutboundControl::hangup`].
    pub fn hangup(&self) -> Result<(), SipError> {
        self.control.hangup()
    }

    /// The next event; `None` after `Ended` was received (the server task
    /// dropped the sender) or if the server shut down.
    pub async fn next_event(&mut self) -> Option<UacEvent> {
        self.events.recv().await
    }
}
