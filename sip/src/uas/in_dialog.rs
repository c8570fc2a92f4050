//! BYE (RFC 3261 §15), OPTIONS (§11), INFO (RFC 6086) and our own BYE with
//! its non-INVITE client transaction (§17.1.2).

use std::time::Instant;

use rsipstack::sip::headers::untyped::Accept;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Method, Request, Response};

use crate::dialog::DialogState;
use crate::transaction::{
    ClientResponseOutcome, ClientTransactionKey, NonInviteClientTimeout,
    NonInviteClientTransaction, TransactionKey, BRANCH_MAGIC_COOKIE,
};

use super::calls::CallState;
use super::incoming::{allow_header, cseq_of, to_tag};
use super::{CallEvent, CallKey, ClientTx, Peer, Reply, TimerRef, UasCore, ACCEPTED_BODIES};

impl UasCore {
    /// Common checks of a request inside a dialog: the dialog exists (else
    /// 481, §12.2.2) and the CSeq is in order (else 500). Returns the call
    /// and our tag, or `None` after answering.
    fn in_dialog(&mut self, now: Instant, tx: u64, req: &Request) -> Option<(CallKey, String)> {
        let Some(ck) = self.dialog_of(req) else {
            let tag = self.random_token();
            self.respond(now, tx, Reply::new(481).tag(tag));
            return None;
        };
        let call = self.calls.get_mut(&ck)?;
        let tag = call.dialog.local_tag.clone();
        if !call.dialog.accept_remote_cseq(cseq_of(req)) {
            self.respond(
                now,
                tx,
                Reply::new(500).reason("CSeq Out of Order").tag(tag),
            );
            return None;
        }
        Some((ck, tag))
    }

    pub(super) fn on_bye(
        &mut self,
        now: Instant,
        key: TransactionKey,
        req: Request,
        reply_to: Peer,
    ) {
        let tx = self.new_server_tx(key, req.clone(), reply_to, false);
        let Some((ck, tag)) = self.in_dialog(now, tx, &req) else {
            return;
        };
        self.respond(now, tx, Reply::new(200).tag(tag.clone()));
        let Some(call) = self.calls.get(&ck) else {
            return;
        };
        let (state, invite_tx) = (call.state, call.invite_tx);
        let reinvite = call.reinvite;
        if state == CallState::Offered {
            // BYE on an early dialog (§15.1.2): the INVITE gets 487.
            self.respond(now, invite_tx, Reply::new(487).tag(tag.clone()));
        }
        if let Some(p) = reinvite {
            self.respond(now, p.tx, Reply::new(487).tag(tag));
        }
        let event = if state == CallState::Terminating {
            CallEvent::Terminated {
                by_remote: false,
                reason: "hangup (BYEs crossed)".into(),
            }
        } else {
            CallEvent::Terminated {
                by_remote: true,
                reason: "BYE from caller".into(),
            }
        };
        self.finish_call(ck, event);
    }

    pub(super) fn on_options(
        &mut self,
        now: Instant,
        key: TransactionKey,
        req: Request,
        reply_to: Peer,
    ) {
        let tx = self.new_server_tx(key, req.clone(), reply_to, false);
        let tag = if to_tag(&req).is_some() {
            match self.in_dialog(now, tx, &req) {
                Some((_, tag)) => tag,
                None => return,
            }
        } else {
            self.random_token()
        };
        let accept = Header::Accept(Accept::new(ACCEPTED_BODIES.join(", ")));
        self.respond(
            now,
            tx,
            Reply::new(200)
                .tag(tag)
                .header(allow_header())
                .header(accept),
        );
    }

    pub(super) fn on_info(
        &mut self,
        now: Instant,
        key: TransactionKey,
        req: Request,
        reply_to: Peer,
    ) {
        let tx = self.new_server_tx(key, req.clone(), reply_to, false);
        let Some((ck, tag)) = self.in_dialog(now, tx, &req) else {
            return;
        };
        self.respond(now, tx, Reply::new(200).tag(tag));
        let content_type = req
            .headers
            .iter()
            .find_map(|h| match h {
                Header::ContentType(ct) => Some(ct.value().trim().to_string()),
                _ => None,
            })
            .unwrap_or_default();
        self.emit(
            ck,
            CallEvent::Info {
                content_type,
                body: req.body,
            },
        );
    }

    /// A response: matched to our client transaction (§17.1.3) or dropped.
    pub(super) fn on_response(&mut self, now: Instant, resp: Response) {
        let Ok(key) = ClientTransactionKey::for_response(&resp) else {
            tracing::trace!("response without usable Via/CSeq dropped");
            return;
        };
        let Some(&id) = self.client_index.get(&key) else {
            tracing::trace!(branch = %key.branch, "stray response dropped");
            return;
        };
        let status = resp.status_code.code();
        let Some(tx) = self.client_txs.get_mut(&id) else {
            return;
        };
        let outcome = tx.machine.on_response(now, status);
        let call = tx.call;
        self.reschedule(TimerRef::Client(id));
        if outcome == ClientResponseOutcome::PassToTu && status >= 200 {
            if let Some(ck) = call {
                self.bye_finished(ck, &format!("BYE answered {status}"));
            }
        }
    }

    fn bye_finished(&mut self, ck: CallKey, how: &str) {
        let Some(call) = self.calls.get(&ck) else {
            return;
        };
        if call.state == CallState::Terminating {
            let reason = format!("{} ({how})", call.bye_reason);
            self.finish_call(
                ck,
                CallEvent::Terminated {
                    by_remote: false,
                    reason,
                },
            );
        }
    }

    /// Ends a call with an in-dialog BYE (§15.1.1) through a non-INVITE
    /// client transaction; `Terminated { by_remote: false }` follows when
    /// it completes or times out.
    pub(super) fn send_bye(&mut self, now: Instant, ck: CallKey, reason: &'static str) {
        let branch = format!("{BRANCH_MAGIC_COOKIE}{}", self.random_token());
        let (host, port) = (self.contact_host_for_uri(), self.config.contact_port);
        let user_agent = self.config.user_agent.clone();
        let to_source = self.config.requests_to_source;
        let timers = self.config.timers;
        let Some(call) = self.calls.get_mut(&ck) else {
            return;
        };
        let transport = call.peer.transport;
        let via = format!(
            "SIP/2.0/{} {host}:{port};branch={branch};rport",
            transport.via_name()
        );
        let bye = call.dialog.build_request(Method::Bye, via, &user_agent);
        // UDP: the next hop (first route or Contact). TCP: the INVITE's
        // connection; the driver connects to the next hop if it is gone.
        let next = if to_source {
            None
        } else {
            call.dialog.next_hop()
        };
        let dest = Peer {
            addr: next.unwrap_or(call.peer.addr),
            ..call.peer
        };
        call.state = CallState::Terminating;
        call.dialog.state = DialogState::Terminated;
        call.ok_retransmit = None;
        call.app_deadline = None;
        call.bye_reason = reason;
        let pending = call.reinvite.take();
        let tag = call.dialog.local_tag.clone();
        if let Some(p) = pending {
            self.respond(now, p.tx, Reply::new(487).tag(tag));
        }
        let bytes = bye.to_bytes();
        let machine =
            NonInviteClientTransaction::new(now, transport.reliability(), timers, bytes.clone());
        let key = ClientTransactionKey {
            branch,
            method: Method::Bye,
        };
        let id = self.next_id();
        self.client_index.insert(key.clone(), id);
        self.client_txs.insert(
            id,
            ClientTx {
                key,
                machine,
                dest,
                call: Some(ck),
                armed: None,
            },
        );
        tracing::debug!(call_id = %bye.call_id_header().map(|c| c.value().to_string()).unwrap_or_default(), %reason, "sending BYE");
        self.transmit(dest, bytes);
        self.reschedule(TimerRef::Client(id));
        self.reschedule(TimerRef::Call(ck));
    }

    pub(super) fn on_client_timer(&mut self, now: Instant, id: u64) {
        let Some(tx) = self.client_txs.get_mut(&id) else {
            return;
        };
        match tx.machine.on_timer(now) {
            Some(NonInviteClientTimeout::Retransmit(bytes)) => {
                let dest = tx.dest;
                self.transmit(dest, bytes);
            }
            Some(NonInviteClientTimeout::TimedOut) => {
                let call = tx.call;
                self.remove_client_tx(id);
                if let Some(ck) = call {
                    self.bye_finished(ck, "BYE timed out");
                }
            }
            Some(NonInviteClientTimeout::Terminated) => self.remove_client_tx(id),
            None => {}
        }
    }

    /// Our host as it goes in a URI (IPv6 in brackets).
    pub(super) fn contact_host_for_uri(&self) -> String {
        let h = &self.config.contact_host;
        if h.contains(':') && !h.starts_with('[') {
            format!("[{h}]")
        } else {
            h.clone()
        }
    }
}
