//! Per-call state of the UAS core.

use std::time::Instant;

use crate::dialog::{Dialog, OkRetransmitter};
use crate::transaction::earliest;

use super::{Peer, TxId};

/// Where a call is, from the UAS point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallState {
    /// INVITE received, no final response yet (the dialog is early once a
    /// 1xx with our tag went out).
    Offered,
    /// 2xx sent, retransmitting it until the ACK (§13.3.1.4).
    Answered,
    /// ACK received: the call is up.
    Confirmed,
    /// Our BYE is in flight.
    Terminating,
}

impl CallState {
    pub fn name(self) -> &'static str {
        match self {
            CallState::Offered => "offered",
            CallState::Answered => "answered (waiting for ACK)",
            CallState::Confirmed => "confirmed",
            CallState::Terminating => "terminating",
        }
    }
}

/// A re-INVITE waiting for the application's answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PendingReInvite {
    pub tx: TxId,
}

pub(crate) struct Call {
    pub dialog: Dialog,
    /// Where the INVITE came from (TCP connection reuse, NAT fallback).
    pub peer: Peer,
    pub state: CallState,
    /// The initial INVITE's server transaction.
    pub invite_tx: TxId,
    /// CSeq number of the initial INVITE.
    pub invite_cseq: u32,
    pub reinvite: Option<PendingReInvite>,
    /// 2xx retransmission of the initial INVITE or a re-INVITE.
    pub ok_retransmit: Option<OkRetransmitter>,
    /// Where the 2xx (and its retransmissions) go.
    pub ok_dest: Peer,
    /// Our current session description (re-sent for offerless re-INVITEs).
    pub local_sdp: Option<String>,
    /// Ring / re-INVITE answer deadline.
    pub app_deadline: Option<Instant>,
    /// The application hung up before the ACK: BYE once it arrives.
    pub hangup_after_ack: bool,
    /// Why we sent BYE (reported in `Terminated`).
    pub bye_reason: &'static str,
    pub armed: Option<Instant>,
}

impl Call {
    pub fn next_deadline(&self) -> Option<Instant> {
        earliest([
            self.app_deadline,
            self.ok_retransmit.as_ref().map(|o| o.next_deadline()),
        ])
    }
}
