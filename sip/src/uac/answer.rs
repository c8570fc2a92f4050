//! The answer to our INVITE (RFC 3261 §13.2.2.4): ACK every 2xx, make the
//! dialog from the first one (§12.1.2), accept its SDP answer (RFC 3264
//! §7) or hang up, and hang up 2xx from other forks.

use std::time::Instant;

use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::Response;

use crate::dialog::{tag_of, Dialog};
use crate::uas::Peer;

use super::build;
use super::call::{Ending, OutboundCall};
use super::{cause, DialogId, EndedBy, Outcome, UacEvent, UacState};

impl OutboundCall {
    /// A 2xx (first or again) of attempt `i`: ACK it (§13.2.2.4); the first
    /// one makes the call's dialog, others from other forks are ACKed and
    /// hung up.
    pub(super) fn on_success(&mut self, now: Instant, i: usize, resp: &Response) {
        let status = resp.status_code.code();
        let tag = resp
            .to_header()
            .ok()
            .and_then(|t| tag_of(t.value()))
            .unwrap_or_default();
        if let Some((_, ack, dest)) = self.acks.iter().find(|(t, _, _)| *t == tag).cloned() {
            self.send(dest, ack); // retransmitted 2xx: ACK again
            return;
        }
        let dialog = match Dialog::from_uac_response(self.invites[i].tx.request(), resp) {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!(error = %e, "2xx ignored: it cannot make a dialog");
                return;
            }
        };
        let dest = self.dialog_dest(&dialog);
        let branch = self.new_branch();
        let via = build::via(&self.config, self.request.transport, &branch);
        let mut ack = dialog.build_ack(self.invites[i].cseq, via, &self.config.user_agent);
        if let Some(h) = self.invites[i].credentials.clone() {
            ack.headers.push(h);
        }
        let ack = ack.to_bytes();
        self.acks.push((tag, ack.clone(), dest));
        self.send(dest, ack);
        if self.dialog.is_some() || self.state == UacState::Ended {
            // Another fork answered too (§13.2.2.4): ACK and BYE it.
            self.send_fork_bye(now, dialog, dest);
            return;
        }
        self.final_status = Some(status);
        self.ring_deadline = None;
        self.dialog = Some(dialog);
        let local = |outcome, cause: &'static str, detail: String| Ending {
            outcome,
            status: Some(status),
            cause,
            by: EndedBy::Local,
            detail,
        };
        if let Some(reason) = self.cancel.reason() {
            // Answered while we were cancelling (§9.1): hang up.
            let (outcome, cause) = reason.outcome();
            self.send_bye(
                now,
                local(outcome, cause, "answered while cancelling".into()),
            );
            return;
        }
        let sdp = match crate::message::response_sdp_body(resp) {
            None => Err((cause::NO_SDP, "2xx without an SDP answer".to_string())),
            Some(b) => crate::sdp::SessionDescription::parse_bytes(b)
                .map_err(|e| (cause::BAD_SDP, format!("unparseable SDP answer: {e}"))),
        };
        let answered = sdp.and_then(|sdp| {
            crate::sdp::accept_answer(&sdp, &self.request.codecs)
                .map(|audio| (sdp, audio))
                .map_err(|e| (cause::NO_COMMON_CODEC, format!("unusable SDP answer: {e}")))
        });
        match answered {
            Ok((remote_sdp, remote_audio)) => {
                self.state = UacState::Confirmed;
                let dialog = self.dialog.as_ref().map(|d| DialogId {
                    call_id: d.call_id.clone(),
                    local_tag: d.local_tag.clone(),
                    remote_tag: d.remote_tag.clone(),
                });
                if let Some(dialog) = dialog {
                    self.event(UacEvent::Answered {
                        remote_sdp,
                        remote_audio,
                        dialog,
                    });
                }
            }
            Err((cause, detail)) => self.send_bye(now, local(Outcome::Failed, cause, detail)),
        }
    }

    /// Where in-dialog requests go: the first route or the remote target
    /// when it is an IP literal (§12.2.1.1), else the trunk.
    pub(super) fn dialog_dest(&self, dialog: &Dialog) -> Peer {
        Peer {
            addr: dialog.next_hop().unwrap_or(self.request.trunk),
            ..self.trunk_peer()
        }
    }
}
