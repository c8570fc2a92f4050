//! Application decisions (ringing / answer / reject / hangup /
//! answer_reinvite) and the per-call and server-transaction timers.

use std::time::Instant;

use rand::Rng;
use rsipstack::sip::headers::untyped::Contact;
use rsipstack::sip::Header;

use crate::dialog::{DialogState, OkRetransmit, OkRetransmitter};
use crate::message::record_route_headers;
use crate::transaction::InviteServerTimeout;

use super::calls::CallState;
use super::incoming::{allow_header, cseq_of, retry_after};
use super::{
    CallEvent, CallKey, Reply, ServerMachine, TimerRef, Transport, TxId, UasCore, UasError,
};

impl UasCore {
    fn call_state(&self, call: CallKey) -> Result<CallState, UasError> {
        self.calls
            .get(&call)
            .map(|c| c.state)
            .ok_or(UasError::UnknownCall(call))
    }

    fn invalid(&self, call: CallKey, state: CallState, op: &'static str) -> UasError {
        UasError::InvalidState {
            call,
            state: state.name(),
            op,
        }
    }

    /// Our Contact (RFC 3261 §12.1.1), with `transport=tcp` over TCP.
    fn contact_header(&self, transport: Transport) -> Header {
        let host = self.contact_host_for_uri();
        let port = self.config.contact_port;
        let value = match transport {
            Transport::Udp => format!("<sip:{host}:{port}>"),
            Transport::Tcp => format!("<sip:{host}:{port};transport=tcp>"),
        };
        Header::Contact(Contact::new(value))
    }

    /// Sends 180 Ringing with our tag, creating the early dialog
    /// (RFC 3261 §13.3.1.1). May be called more than once.
    pub fn ringing(&mut self, now: Instant, call: CallKey) -> Result<(), UasError> {
        let state = self.call_state(call)?;
        if state != CallState::Offered {
            return Err(self.invalid(call, state, "send 180 Ringing"));
        }
        let c = &self.calls[&call];
        let (tx, tag, transport) = (c.invite_tx, c.dialog.local_tag.clone(), c.peer.transport);
        let rr = self
            .server_txs
            .get(&tx)
            .map(|t| record_route_headers(&t.request))
            .unwrap_or_default();
        let contact = self.contact_header(transport);
        self.respond(
            now,
            tx,
            Reply::new(180).tag(tag).header(contact).headers(rr),
        );
        Ok(())
    }

    /// Sends 200 OK with the SDP answer (RFC 3261 §13.3.1.4) and
    /// retransmits it until the ACK; `CallEvent::Confirmed` follows.
    pub fn answer(&mut self, now: Instant, call: CallKey, sdp: String) -> Result<(), UasError> {
        let state = self.call_state(call)?;
        if state != CallState::Offered {
            return Err(self.invalid(call, state, "answer"));
        }
        let tx = self.calls[&call].invite_tx;
        if !self.send_invite_ok(now, call, tx, Some(sdp), true) {
            return Err(self.invalid(call, state, "answer (INVITE transaction gone)"));
        }
        if let Some(c) = self.calls.get_mut(&call) {
            c.state = CallState::Answered;
            c.dialog.state = DialogState::Confirmed;
            c.app_deadline = None;
        }
        self.reschedule(TimerRef::Call(call));
        Ok(())
    }

    /// Sends a final non-2xx (300..=699) to the INVITE, ending the call
    /// (`Terminated { by_remote: false }`), or to the pending re-INVITE
    /// (e.g. 488), keeping the call.
    pub fn reject(&mut self, now: Instant, call: CallKey, status: u16) -> Result<(), UasError> {
        self.reject_retry_after(now, call, status, None)
    }

    /// [`reject`](Self::reject) with a `Retry-After: secs` header (RFC 3261
    /// §20.33), e.g. a 503 for a call over a concurrency limit.
    pub fn reject_retry_after(
        &mut self,
        now: Instant,
        call: CallKey,
        status: u16,
        retry_after_secs: Option<u32>,
    ) -> Result<(), UasError> {
        if !(300..=699).contains(&status) {
            return Err(UasError::InvalidStatus(status));
        }
        let state = self.call_state(call)?;
        let c = &self.calls[&call];
        let tag = c.dialog.local_tag.clone();
        match (state, c.reinvite) {
            (CallState::Offered, _) => {
                let tx = c.invite_tx;
                let mut reply = Reply::new(status).tag(tag);
                if let Some(secs) = retry_after_secs {
                    reply = reply.header(super::incoming::retry_after(secs));
                }
                self.respond(now, tx, reply);
                let reason = format!("rejected with {status}");
                self.finish_call(
                    call,
                    CallEvent::Terminated {
                        by_remote: false,
                        reason,
                    },
                );
                Ok(())
            }
            (_, Some(p)) => {
                self.respond(now, p.tx, Reply::new(status).tag(tag));
                if let Some(c) = self.calls.get_mut(&call) {
                    c.reinvite = None;
                    c.app_deadline = None;
                }
                self.reschedule(TimerRef::Call(call));
                Ok(())
            }
            _ => Err(self.invalid(call, state, "reject")),
        }
    }

    /// Ends the call: 480 before the answer, BYE once confirmed (after the
    /// ACK if it has not arrived yet, §15). Idempotent while hanging up.
    pub fn hangup(&mut self, now: Instant, call: CallKey) -> Result<(), UasError> {
        match self.call_state(call)? {
            CallState::Offered => self.reject(now, call, 480),
            CallState::Answered => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.hangup_after_ack = true;
                }
                Ok(())
            }
            CallState::Confirmed => {
                self.send_bye(now, call, "hangup");
                Ok(())
            }
            CallState::Terminating => Ok(()),
        }
    }

    /// Answers the pending re-INVITE with 200 OK + `sdp` (RFC 3261 §14.2),
    /// retransmitted until its ACK.
    pub fn answer_reinvite(
        &mut self,
        now: Instant,
        call: CallKey,
        sdp: String,
    ) -> Result<(), UasError> {
        let state = self.call_state(call)?;
        let Some(p) = self.calls[&call].reinvite else {
            return Err(self.invalid(call, state, "answer a re-INVITE (none pending)"));
        };
        if let Some(c) = self.calls.get_mut(&call) {
            c.reinvite = None;
            c.app_deadline = None;
        }
        if !self.send_invite_ok(now, call, p.tx, Some(sdp), false) {
            return Err(self.invalid(call, state, "answer a re-INVITE (transaction gone)"));
        }
        Ok(())
    }

    /// 200 OK to an INVITE / re-INVITE, then its §13.3.1.4 retransmission.
    pub(super) fn send_invite_ok(
        &mut self,
        now: Instant,
        call: CallKey,
        tx: TxId,
        sdp: Option<String>,
        initial: bool,
    ) -> bool {
        let Some(c) = self.calls.get(&call) else {
            return false;
        };
        let (tag, transport) = (c.dialog.local_tag.clone(), c.peer.transport);
        let Some(stx) = self.server_txs.get(&tx) else {
            return false;
        };
        let (cseq, dest) = (cseq_of(&stx.request), stx.reply_to);
        let mut reply = Reply::new(200)
            .tag(tag)
            .header(self.contact_header(transport))
            .header(allow_header());
        if initial {
            reply = reply.headers(record_route_headers(&stx.request));
        }
        if let Some(sdp) = &sdp {
            reply = reply.body("application/sdp", sdp.clone().into_bytes());
        }
        let Some(bytes) = self.respond(now, tx, reply) else {
            return false;
        };
        let timers = self.config.timers;
        if let Some(c) = self.calls.get_mut(&call) {
            c.ok_retransmit = Some(OkRetransmitter::new(now, timers, cseq, bytes));
            c.ok_dest = dest;
            if sdp.is_some() {
                c.local_sdp = sdp;
            }
        }
        self.reschedule(TimerRef::Call(call));
        true
    }

    /// 2xx retransmission / give-up, ring and re-INVITE answer timeouts.
    pub(super) fn on_call_timer(&mut self, now: Instant, key: CallKey) {
        let wait = self.rng.random_range(0..=10u32);
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let ok = c.ok_retransmit.as_mut().and_then(|o| o.on_timer(now));
        match ok {
            Some(OkRetransmit::Retransmit(bytes)) => {
                let dest = c.ok_dest;
                self.transmit(dest, bytes);
            }
            Some(OkRetransmit::GiveUp) => {
                // §13.3.1.4: no ACK within 64*T1 → confirm, then BYE.
                tracing::debug!(call_id = %c.dialog.call_id, "no ACK for 2xx: sending BYE");
                c.ok_retransmit = None;
                if c.state == CallState::Answered {
                    c.state = CallState::Confirmed;
                }
                self.send_bye(now, key, "no ACK for 200 OK");
                return;
            }
            None => {}
        }
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        if c.app_deadline.is_none_or(|d| now < d) {
            return;
        }
        c.app_deadline = None;
        if c.state == CallState::Offered {
            let (tx, tag) = (c.invite_tx, c.dialog.local_tag.clone());
            self.respond(now, tx, Reply::new(480).tag(tag));
            let reason = "no answer from the application (480)".to_string();
            self.finish_call(
                key,
                CallEvent::Terminated {
                    by_remote: false,
                    reason,
                },
            );
        } else if let Some(p) = c.reinvite.take() {
            let tag = c.dialog.local_tag.clone();
            self.respond(
                now,
                p.tx,
                Reply::new(500).tag(tag).header(retry_after(wait)),
            );
        }
    }

    pub(super) fn on_server_timer(&mut self, now: Instant, id: TxId) {
        let Some(tx) = self.server_txs.get_mut(&id) else {
            return;
        };
        let to = tx.reply_to;
        match &mut tx.machine {
            ServerMachine::Invite(m) => match m.on_timer(now) {
                Some(InviteServerTimeout::Retransmit(bytes)) => self.transmit(to, bytes),
                Some(InviteServerTimeout::AckTimeout) => {
                    tracing::debug!("no ACK for a final non-2xx response (Timer H)");
                    self.remove_server_tx(id);
                }
                Some(InviteServerTimeout::Terminated) => self.remove_server_tx(id),
                None => {}
            },
            ServerMachine::NonInvite(m) => {
                if m.on_timer(now) {
                    self.remove_server_tx(id);
                }
            }
        }
    }
}
