//! The signalling side of an answered call, whichever way it was set up:
//! an inbound dialog (Parla answered an INVITE, [`CallHandle`] +
//! [`CallEvent`]s) or an outbound one (Parla placed the call through a
//! trunk, [`OutboundControl`] + [`UacEvent`]s). The call actor sees only
//! [`Signalling`] (hang up, answer or refuse a re-INVITE) and
//! [`SignalEvent`]s.

use futures::Stream;
use parla_sip::sdp::SessionDescription;
use parla_sip::server::{CallEvent, CallHandle, OutboundControl, SipError, UacEvent};
use tokio::sync::mpsc;

/// How the actor acts on the call's dialog.
#[derive(Debug)]
pub enum Signalling {
    /// A call Parla answered.
    Inbound(CallHandle),
    /// A call Parla placed (the control keeps it up while held).
    Outbound(OutboundControl),
}

impl Signalling {
    /// Ends the call (BYE; CANCEL for an outbound call not answered yet).
    pub fn hangup(&self) -> Result<(), SipError> {
        match self {
            Signalling::Inbound(h) => h.hangup(),
            Signalling::Outbound(c) => c.hangup(),
        }
    }

    /// Answers the far end's re-INVITE with our SDP `answer` (only inbound
    /// dialogs report re-INVITEs; a no-op on outbound ones).
    pub fn answer_reinvite(&self, answer: String) -> Result<(), SipError> {
        match self {
            Signalling::Inbound(h) => h.answer_reinvite(answer),
            Signalling::Outbound(_) => Ok(()),
        }
    }

    /// Refuses the far end's re-INVITE with `status` (e.g. 488); a no-op
    /// on outbound dialogs.
    pub fn reject(&self, status: u16) -> Result<(), SipError> {
        match self {
            Signalling::Inbound(h) => h.reject(status),
            Signalling::Outbound(_) => Ok(()),
        }
    }
}

/// What the dialog reports to the actor.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // a handful per call
pub enum SignalEvent {
    /// The far end hung up, or the dialog is over. Final.
    Ended,
    /// A re-INVITE with a new offer (hold, resume, media change).
    ReInvite {
        /// The new offer.
        offer: SessionDescription,
    },
    /// Nothing the actor acts on (ACK, INFO, provisional responses).
    Other,
}

impl From<CallEvent> for SignalEvent {
    fn from(e: CallEvent) -> Self {
        match e {
            CallEvent::Cancelled | CallEvent::Terminated { .. } => SignalEvent::Ended,
            CallEvent::ReInvite { offer } => SignalEvent::ReInvite { offer },
            CallEvent::Confirmed | CallEvent::Info { .. } => SignalEvent::Other,
        }
    }
}

impl From<UacEvent> for SignalEvent {
    fn from(e: UacEvent) -> Self {
        match e {
            UacEvent::Ended { .. } => SignalEvent::Ended,
            _ => SignalEvent::Other,
        }
    }
}

/// The dialog's events, as they come from the SIP layer.
#[derive(Debug)]
pub enum SignalEvents {
    /// An inbound dialog's events.
    Inbound(mpsc::Receiver<CallEvent>),
    /// An outbound call's events (after `Answered`).
    Outbound(mpsc::Receiver<UacEvent>),
}

impl SignalEvents {
    /// The events as one stream of [`SignalEvent`]s (for `ctx.add_stream`).
    pub fn into_stream(self) -> impl Stream<Item = SignalEvent> + Send + 'static {
        let mut this = self;
        futures::stream::poll_fn(move |cx| match &mut this {
            SignalEvents::Inbound(rx) => rx.poll_recv(cx).map(|e| e.map(SignalEvent::from)),
            SignalEvents::Outbound(rx) => rx.poll_recv(cx).map(|e| e.map(SignalEvent::from)),
        })
    }

    /// The next event (`None` once the dialog's side is gone).
    pub async fn recv(&mut self) -> Option<SignalEvent> {
        match self {
            SignalEvents::Inbound(rx) => rx.recv().await.map(SignalEvent::from),
            SignalEvents::Outbound(rx) => rx.recv().await.map(SignalEvent::from),
        }
    }
}
