//! The confirmed dialog of an outbound call: our BYE (RFC 3261 §15.1.1,
//! non-INVITE client transaction §17.1.2), and requests from the far end
//! (BYE §15.1.2, OPTIONS §11, INFO RFC 6086; a re-INVITE is refused with
//! 488, which leaves the session as it was, §14.2).

use std::time::Instant;

use rsipstack::sip::headers::untyped::{Allow, Server};
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Method, Request};

use crate::dialog::{tag_of, Dialog, DialogState};
use crate::message::build_response;
use crate::transaction::{
    AckOutcome, ClientResponseOutcome, InviteServerTimeout, InviteServerTransaction,
    NonInviteClientTimeout, NonInviteClientTransaction, NonInviteServerTransaction, TransactionKey,
};
use crate::uas::{annotate_top_via, Peer, ALLOWED_METHODS};

use super::build;
use super::call::{Ending, OutboundCall};
use super::{cause, EndedBy, Outcome, Source, UacState};

/// A BYE we sent: for the call's dialog (`main`) or for a fork we do not
/// keep.
pub(super) struct ByeTx {
    pub branch: String,
    pub tx: NonInviteClientTransaction,
    pub dest: Peer,
    pub main: bool,
}

enum Machine {
    Invite(InviteServerTransaction),
    NonInvite(NonInviteServerTransaction),
}

/// A request from the far end and its server transaction (answers to its
/// retransmissions, §17.2).
pub(super) struct ServerTx {
    key: TransactionKey,
    reply_to: Peer,
    machine: Machine,
}

impl ServerTx {
    pub fn next_deadline(&self) -> Option<Instant> {
        match &self.machine {
            Machine::Invite(m) => m.next_deadline(),
            Machine::NonInvite(m) => m.next_deadline(),
        }
    }
}

impl OutboundCall {
    /// Sends BYE on the call's dialog; `ending` is reported when it
    /// completes (any final response, or Timer F).
    pub(super) fn send_bye(&mut self, now: Instant, ending: Ending) {
        let Some(mut dialog) = self.dialog.take() else {
            self.end(ending);
            return;
        };
        let dest = self.dialog_dest(&dialog);
        self.start_bye(now, &mut dialog, dest, true);
        dialog.state = DialogState::Terminated;
        self.dialog = Some(dialog);
        self.state = UacState::Terminating;
        self.pending_end = Some(ending);
    }

    /// ACKed 2xx from another fork: end that dialog at once (§13.2.2.4).
    pub(super) fn send_fork_bye(&mut self, now: Instant, mut dialog: Dialog, dest: Peer) {
        self.start_bye(now, &mut dialog, dest, false);
    }

    fn start_bye(&mut self, now: Instant, dialog: &mut Dialog, dest: Peer, main: bool) {
        let branch = self.new_branch();
        let via = build::via(&self.config, self.request.transport, &branch);
        let bye = dialog.build_request(Method::Bye, via, &self.config.user_agent);
        let bytes = bye.to_bytes();
        let tx = NonInviteClientTransaction::new(
            now,
            self.request.transport.reliability(),
            self.config.timers,
            bytes.clone(),
        );
        self.byes.push(ByeTx {
            branch,
            tx,
            dest,
            main,
        });
        self.send(dest, bytes);
    }

    pub(super) fn on_bye_response(&mut self, now: Instant, branch: &str, status: u16) {
        let Some(bye) = self.byes.iter_mut().find(|b| b.branch == branch) else {
            tracing::debug!("BYE response ignored: unknown branch");
            return;
        };
        let outcome = bye.tx.on_response(now, status);
        if outcome == ClientResponseOutcome::PassToTu && status >= 200 && bye.main {
            self.bye_done(&format!("BYE answered {status}"));
        }
    }

    /// Our BYE could not be delivered.
    pub(super) fn on_bye_failed(&mut self, _now: Instant) {
        self.bye_done("BYE could not be sent");
    }

    fn bye_done(&mut self, how: &str) {
        if let Some(mut ending) = self.pending_end.take() {
            ending.detail = format!("{} ({how})", ending.detail);
            self.end(ending);
        }
    }

    pub(super) fn on_bye_timers(&mut self, now: Instant) {
        let mut timed_out = false;
        let mut sends = Vec::new();
        for b in &mut self.byes {
            match b.tx.on_timer(now) {
                Some(NonInviteClientTimeout::Retransmit(bytes)) => sends.push((b.dest, bytes)),
                Some(NonInviteClientTimeout::TimedOut) if b.main => timed_out = true,
                _ => {}
            }
        }
        for (dest, bytes) in sends {
            self.send(dest, bytes);
        }
        self.byes
            .retain(|b| b.tx.state() != crate::transaction::NonInviteClientState::Terminated);
        if timed_out {
            self.bye_done("BYE timed out");
        }
    }

    pub(super) fn on_server_timers(&mut self, now: Instant) {
        let mut sends = Vec::new();
        self.servers.retain_mut(|s| match &mut s.machine {
            Machine::Invite(m) => match m.on_timer(now) {
                Some(InviteServerTimeout::Retransmit(b)) => {
                    sends.push((s.reply_to, b));
                    true
                }
                Some(InviteServerTimeout::AckTimeout | InviteServerTimeout::Terminated) => false,
                None => true,
            },
            Machine::NonInvite(m) => !m.on_timer(now),
        });
        for (to, b) in sends {
            self.send(to, b);
        }
    }

    /// A request from the network for this call.
    pub(super) fn on_request(&mut self, now: Instant, mut req: Request, source: Source) {
        let peer = Peer {
            transport: source.transport,
            addr: source.addr,
            conn: source.conn,
        };
        let Ok(key) = TransactionKey::for_request(&req) else {
            tracing::debug!("request ignored: no usable Via");
            return;
        };
        if req.method == Method::Ack {
            // The ACK for our non-2xx to a re-INVITE (§17.2.1).
            for s in &mut self.servers {
                if let (true, Machine::Invite(m)) = (s.key == key, &mut s.machine) {
                    if m.on_ack(now) == AckOutcome::PassToTu {
                        tracing::debug!("ACK for a 2xx we never sent ignored");
                    }
                }
            }
            return;
        }
        if let Some(s) = self.servers.iter().find(|s| s.key == key) {
            let again = match &s.machine {
                Machine::Invite(m) => m.on_request_retransmission(),
                Machine::NonInvite(m) => m.on_request_retransmission(),
            };
            let to = s.reply_to;
            if let Some(bytes) = again {
                self.send(to, bytes);
            }
            return;
        }
        let reply_to = annotate_top_via(&mut req, peer);
        let reliability = source.transport.reliability();
        let machine = if req.method == Method::Invite {
            Machine::Invite(InviteServerTransaction::new(
                reliability,
                self.config.timers,
            ))
        } else {
            Machine::NonInvite(NonInviteServerTransaction::new(
                reliability,
                self.config.timers,
            ))
        };
        self.servers.push(ServerTx {
            key,
            reply_to,
            machine,
        });
        let idx = self.servers.len() - 1;
        let to_tag = req.to_header().ok().and_then(|t| tag_of(t.value()));
        let from_tag = req.from_header().ok().and_then(|f| tag_of(f.value()));
        let seq = req
            .cseq_header()
            .ok()
            .and_then(|c| c.seq().ok())
            .unwrap_or(0);
        let in_dialog = self.dialog.as_ref().is_some_and(|d| {
            to_tag.as_deref() == Some(d.local_tag.as_str())
                && from_tag.as_deref() == Some(d.remote_tag.as_str())
        });
        if !in_dialog {
            // §12.2.2: no such dialog (or not yet confirmed).
            self.respond(now, idx, &req, 481, vec![]);
            return;
        }
        if let Some(d) = self.dialog.as_mut() {
            if !d.accept_remote_cseq(seq) {
                self.respond(now, idx, &req, 500, vec![]);
                return;
            }
        }
        match req.method {
            Method::Bye => {
                self.respond(now, idx, &req, 200, vec![]);
                if let Some(d) = self.dialog.as_mut() {
                    d.state = DialogState::Terminated;
                }
                // BYEs crossed: our pending ending stands.
                let ending = self.pending_end.take().unwrap_or(Ending {
                    outcome: Outcome::Completed,
                    status: self.final_status,
                    cause: cause::COMPLETED,
                    by: EndedBy::Remote,
                    detail: "BYE from the far end".into(),
                });
                self.end(ending);
            }
            Method::Options | Method::Info => self.respond(now, idx, &req, 200, vec![]),
            Method::Invite => self.respond(now, idx, &req, 488, vec![]),
            _ => {
                let allow = Header::Allow(Allow::new(ALLOWED_METHODS.join(", ")));
                self.respond(now, idx, &req, 405, vec![allow]);
            }
        }
    }

    fn respond(
        &mut self,
        now: Instant,
        idx: usize,
        req: &Request,
        status: u16,
        extra: Vec<Header>,
    ) {
        let mut headers = extra;
        headers.push(Header::Server(Server::new(self.config.user_agent.clone())));
        let tag = self.local_tag.clone();
        let bytes = build_response(req, status, None, Some(&tag), headers, None).to_bytes();
        let Some(s) = self.servers.get_mut(idx) else {
            return;
        };
        let result = match &mut s.machine {
            Machine::Invite(m) => m.send_response(now, status, bytes.clone()),
            Machine::NonInvite(m) => m.send_response(now, status, bytes.clone()),
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "response not sent");
            return;
        }
        let to = s.reply_to;
        self.send(to, bytes);
    }
}
