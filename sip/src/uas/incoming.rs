//! Requests that start or touch an INVITE transaction: the initial INVITE
//! (RFC 3261 §13.3), re-INVITE (§14.2), CANCEL (§9.2) and ACK (§13.3.1.4,
//! §17.2.1), plus the common entry point for every request.

use std::time::Instant;

use rand::Rng;
use rsipstack::sip::headers::untyped::{Allow, RetryAfter};
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Method, Request};

use crate::dialog::{tag_of, Dialog, DialogState};
use crate::message::sdp_body;
use crate::transaction::{AckOutcome, TransactionKey};

use super::addr::annotate_top_via;
use super::calls::{Call, CallState, PendingReInvite};
use super::{
    CallEvent, CallKey, IncomingCallInfo, Peer, Reply, ServerMachine, SessionDescription, TimerRef,
    TxId, UasCore, UasOutput, ALLOWED_METHODS, OVERLOAD_RETRY_AFTER_SECS,
};

pub(super) fn to_tag(req: &Request) -> Option<String> {
    req.to_header().ok().and_then(|t| tag_of(t.value()))
}

pub(super) fn from_tag(req: &Request) -> String {
    req.from_header()
        .ok()
        .and_then(|f| tag_of(f.value()))
        .unwrap_or_default()
}

pub(super) fn call_id(req: &Request) -> String {
    req.call_id_header()
        .map(|c| c.value().trim().to_string())
        .unwrap_or_default()
}

pub(super) fn cseq_of(req: &Request) -> u32 {
    req.cseq_header()
        .ok()
        .and_then(|c| c.seq().ok())
        .unwrap_or(0)
}

pub(super) fn retry_after(secs: u32) -> Header {
    Header::RetryAfter(RetryAfter::new(secs.to_string()))
}

pub(super) fn allow_header() -> Header {
    Header::Allow(Allow::new(ALLOWED_METHODS.join(", ")))
}

/// The SDP of a request: `Ok(None)` without one, `Err` when malformed.
fn offer_of(req: &Request) -> Result<Option<SessionDescription>, ()> {
    match sdp_body(req) {
        None => Ok(None),
        Some(bytes) => SessionDescription::parse_bytes(bytes)
            .map(Some)
            .map_err(|_| ()),
    }
}

fn uri_of(value: Option<&str>) -> String {
    let Some(v) = value else { return String::new() };
    match rsipstack::sip::typed::From::parse(v) {
        Ok(f) => f.uri.to_string(),
        Err(_) => v.to_string(),
    }
}

impl UasCore {
    /// Entry point for a well-formed request.
    pub(super) fn on_request(&mut self, now: Instant, source: Peer, mut req: Request) {
        let key = match TransactionKey::for_request(&req) {
            Ok(k) => k,
            Err(e) => {
                tracing::debug!(from = %source.addr, error = %e, "unmatchable request dropped");
                return;
            }
        };
        if req.method == Method::Ack {
            self.on_ack(now, &req, &key);
            return;
        }
        if let Some(&id) = self.server_index.get(&key) {
            self.on_retransmission(id);
            return;
        }
        let reply_to = annotate_top_via(&mut req, source);
        if self.active_transactions() >= self.config.max_transactions {
            tracing::debug!(from = %source.addr, "transaction table full: 503");
            self.respond_stateless(
                reply_to,
                &req,
                Reply::new(503).header(retry_after(OVERLOAD_RETRY_AFTER_SECS)),
            );
            return;
        }
        let in_dialog = to_tag(&req).is_some();
        match req.method {
            Method::Invite if !in_dialog => self.on_initial_invite(now, key, req, source, reply_to),
            Method::Invite => self.on_reinvite(now, key, req, reply_to),
            Method::Cancel => self.on_cancel(now, key, req, reply_to),
            Method::Bye => self.on_bye(now, key, req, reply_to),
            Method::Options => self.on_options(now, key, req, reply_to),
            Method::Info => self.on_info(now, key, req, reply_to),
            _ => {
                let tx = self.new_server_tx(key, req, reply_to, false);
                let tag = self.random_token();
                self.respond(now, tx, Reply::new(405).tag(tag).header(allow_header()));
            }
        }
    }

    /// RFC 3261 §17.2.1 / §17.2.2: a retransmitted request gets the last
    /// response again (or nothing, per state).
    fn on_retransmission(&mut self, id: TxId) {
        let Some(tx) = self.server_txs.get(&id) else {
            return;
        };
        let resend = match &tx.machine {
            ServerMachine::Invite(m) => m.on_request_retransmission(),
            ServerMachine::NonInvite(m) => m.on_request_retransmission(),
        };
        let to = tx.reply_to;
        if let Some(bytes) = resend {
            self.transmit(to, bytes);
        }
    }

    /// The call whose dialog an in-dialog request belongs to (Call-ID, From
    /// tag = remote tag, To tag = local tag; RFC 3261 §12.2.2).
    pub(super) fn dialog_of(&self, req: &Request) -> Option<CallKey> {
        let tag = to_tag(req)?;
        let key = *self.call_index.get(&(call_id(req), from_tag(req)))?;
        let call = self.calls.get(&key)?;
        (call.dialog.local_tag == tag).then_some(key)
    }

    /// Removes a call and reports its final event.
    pub(super) fn finish_call(&mut self, key: CallKey, event: CallEvent) {
        if let Some(call) = self.calls.remove(&key) {
            let index = (call.dialog.call_id.clone(), call.dialog.remote_tag.clone());
            if self.call_index.get(&index) == Some(&key) {
                self.call_index.remove(&index);
            }
            tracing::debug!(call_id = %call.dialog.call_id, ?event, "call ended");
            self.emit(key, event);
        }
    }

    fn on_initial_invite(
        &mut self,
        now: Instant,
        key: TransactionKey,
        req: Request,
        source: Peer,
        reply_to: Peer,
    ) {
        let index = (call_id(&req), from_tag(&req));
        let cseq = cseq_of(&req);
        let tx = self.new_server_tx(key, req.clone(), reply_to, true);
        let tag = self.random_token();
        // §8.2.2.2 merged request (same Call-ID/From tag/CSeq, different
        // transaction) → 482; a new INVITE while that call lives → 491.
        if let Some(existing) = self.call_index.get(&index).and_then(|k| self.calls.get(k)) {
            let status = if existing.invite_cseq == cseq {
                482
            } else {
                491
            };
            self.respond(now, tx, Reply::new(status).tag(tag));
            return;
        }
        if self.draining {
            let secs = self.config.drain_retry_after_secs;
            self.respond(now, tx, Reply::new(503).tag(tag).header(retry_after(secs)));
            return;
        }
        if let Some(limiter) = self.invite_limiter.as_mut() {
            if let Err(secs) = limiter.check(source.addr.ip(), now) {
                tracing::debug!(from = %source.addr, retry_after = secs, "INVITE rate limit: 503");
                self.respond(now, tx, Reply::new(503).tag(tag).header(retry_after(secs)));
                return;
            }
        }
        if self.calls.len() >= self.config.max_dialogs {
            tracing::debug!("MAX_DIALOGS reached: 503");
            self.respond(
                now,
                tx,
                Reply::new(503)
                    .tag(tag)
                    .header(retry_after(OVERLOAD_RETRY_AFTER_SECS)),
            );
            return;
        }
        let Ok(offer) = offer_of(&req) else {
            self.respond(now, tx, Reply::new(400).reason("Malformed SDP").tag(tag));
            return;
        };
        let local_cseq = self.rng.random_range(1..=0x3fff_ffffu32);
        let dialog = match Dialog::from_invite(&req, tag.clone(), local_cseq) {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!(error = %e, "INVITE refused");
                self.respond(
                    now,
                    tx,
                    Reply::new(400)
                        .reason("Missing or Invalid Contact")
                        .tag(tag),
                );
                return;
            }
        };
        self.respond(now, tx, Reply::new(100));
        let call = CallKey(self.next_id());
        if let Some(t) = self.server_txs.get_mut(&tx) {
            t.call = Some(call);
        }
        let info = IncomingCallInfo {
            call,
            call_id: dialog.call_id.clone(),
            from: uri_of(req.from_header().ok().map(|h| h.value())),
            to: uri_of(req.to_header().ok().map(|h| h.value())),
            request_uri: req.uri.to_string(),
            dialed_user: req.uri.user().filter(|u| !u.is_empty()).map(str::to_string),
            offer,
            remote_signalling_addr: source.addr,
            transport: source.transport,
        };
        tracing::debug!(call_id = %info.call_id, from = %info.from, to = %info.request_uri, "incoming call");
        self.call_index.insert(index, call);
        self.calls.insert(
            call,
            Call {
                dialog,
                peer: source,
                state: CallState::Offered,
                invite_tx: tx,
                invite_cseq: cseq,
                reinvite: None,
                ok_retransmit: None,
                ok_dest: reply_to,
                local_sdp: None,
                app_deadline: Some(now + self.config.ring_timeout),
                hangup_after_ack: false,
                bye_reason: "hangup",
                armed: None,
            },
        );
        self.reschedule(TimerRef::Call(call));
        self.outputs.push_back(UasOutput::Incoming(info));
    }

    fn on_reinvite(&mut self, now: Instant, key: TransactionKey, req: Request, reply_to: Peer) {
        let tx = self.new_server_tx(key, req.clone(), reply_to, true);
        let Some(ck) = self.dialog_of(&req) else {
            let tag = self.random_token();
            self.respond(now, tx, Reply::new(481).tag(tag));
            return;
        };
        let wait = self.rng.random_range(0..=10u32);
        let Some(call) = self.calls.get_mut(&ck) else {
            return;
        };
        let tag = call.dialog.local_tag.clone();
        if !call.dialog.accept_remote_cseq(cseq_of(&req)) {
            self.respond(
                now,
                tx,
                Reply::new(500).reason("CSeq Out of Order").tag(tag),
            );
            return;
        }
        if call.state != CallState::Confirmed
            || call.reinvite.is_some()
            || call.ok_retransmit.is_some()
        {
            // §14.2: an INVITE while another is pending → 500 with a
            // Retry-After of 0..10 s.
            self.respond(now, tx, Reply::new(500).tag(tag).header(retry_after(wait)));
            return;
        }
        let Ok(offer) = offer_of(&req) else {
            self.respond(now, tx, Reply::new(400).reason("Malformed SDP").tag(tag));
            return;
        };
        call.dialog.refresh_target(&req);
        if let Some(t) = self.server_txs.get_mut(&tx) {
            t.call = Some(ck);
        }
        self.respond(now, tx, Reply::new(100));
        match offer {
            Some(offer) => {
                if let Some(call) = self.calls.get_mut(&ck) {
                    call.reinvite = Some(PendingReInvite { tx });
                    call.app_deadline = Some(now + self.config.reinvite_timeout);
                }
                self.reschedule(TimerRef::Call(ck));
                self.emit(ck, CallEvent::ReInvite { offer });
            }
            None => {
                // Offerless re-INVITE (§14.2): our current description is
                // the offer in the 200; the answer in the ACK is ignored.
                let sdp = self.calls.get(&ck).and_then(|c| c.local_sdp.clone());
                self.send_invite_ok(now, ck, tx, sdp, false);
            }
        }
    }

    fn on_cancel(&mut self, now: Instant, key: TransactionKey, req: Request, reply_to: Peer) {
        let invite_key = key.with_method(Method::Invite);
        let tx = self.new_server_tx(key, req, reply_to, false);
        let target = self.server_index.get(&invite_key).copied();
        let Some(inv) = target else {
            let tag = self.random_token();
            self.respond(now, tx, Reply::new(481).tag(tag));
            return;
        };
        let (has_final, call) = match self.server_txs.get(&inv) {
            Some(t) => (
                matches!(&t.machine, ServerMachine::Invite(m) if m.has_final()),
                t.call,
            ),
            None => (true, None),
        };
        let tag = match call.and_then(|c| self.calls.get(&c)) {
            Some(c) => c.dialog.local_tag.clone(),
            None => self.random_token(),
        };
        self.respond(now, tx, Reply::new(200).tag(tag.clone()));
        if has_final {
            return; // §9.2: the CANCEL has no effect on a completed INVITE.
        }
        let Some(ck) = call else { return };
        let Some(c) = self.calls.get_mut(&ck) else {
            return;
        };
        if c.state == CallState::Offered && c.invite_tx == inv {
            self.respond(now, inv, Reply::new(487).tag(tag));
            self.finish_call(ck, CallEvent::Cancelled);
        } else if c.reinvite.is_some_and(|p| p.tx == inv) {
            c.reinvite = None;
            c.app_deadline = None;
            self.respond(now, inv, Reply::new(487).tag(tag));
            self.reschedule(TimerRef::Call(ck));
        }
    }

    /// ACK: for a non-2xx it belongs to the INVITE transaction (§17.2.1);
    /// for a 2xx it is an in-dialog request for the core (§13.3.1.4).
    fn on_ack(&mut self, now: Instant, req: &Request, key: &TransactionKey) {
        if let Some(&id) = self.server_index.get(key) {
            if let Some(ServerMachine::Invite(m)) =
                self.server_txs.get_mut(&id).map(|t| &mut t.machine)
            {
                if m.on_ack(now) != AckOutcome::PassToTu {
                    self.reschedule(TimerRef::Server(id));
                    return;
                }
            }
        }
        let Some(ck) = self.dialog_of(req) else {
            tracing::trace!("ACK matching no transaction or dialog dropped");
            return;
        };
        let cseq = cseq_of(req);
        let Some(call) = self.calls.get_mut(&ck) else {
            return;
        };
        if call.ok_retransmit.as_ref().is_none_or(|o| o.cseq() != cseq) {
            return; // retransmitted or stale ACK
        }
        call.ok_retransmit = None;
        let mut bye = false;
        if call.state == CallState::Answered {
            call.state = CallState::Confirmed;
            call.dialog.state = DialogState::Confirmed;
            bye = call.hangup_after_ack;
            self.emit(ck, CallEvent::Confirmed);
        }
        self.reschedule(TimerRef::Call(ck));
        if bye {
            self.send_bye(now, ck, "hangup");
        }
    }
}
