//! [`OutboundCall`]: one outbound call from INVITE to its end — the
//! transactions it owns, its timers, and what each response means.

use std::collections::VecDeque;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rsipstack::sip::headers::untyped::{Authorization, ProxyAuthorization};
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Method, Response};

use crate::dialog::Dialog;
use crate::sdp::{build_offer, OfferParams};
use crate::transaction::{
    ClientTransactionKey, InviteClientState, InviteClientTimeout, InviteClientTransaction,
    InviteResponseOutcome, NonInviteClientTimeout, NonInviteClientTransaction, BRANCH_MAGIC_COOKIE,
};
use crate::uas::Peer;

use super::auth::{digest_authorization, parse_challenge};
use super::build::{self, InviteParts, Parties};
use super::in_dialog::{ByeTx, ServerTx};
use super::{
    cause, EndedBy, Input, OutboundRequest, Outcome, Output, Transmit, UacConfig, UacError,
    UacEvent, UacState,
};

/// Why we are cancelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CancelReason {
    /// `cancel()` / `hangup()` before the answer.
    User,
    /// The ring timeout expired.
    RingTimeout,
}

impl CancelReason {
    pub fn outcome(self) -> (Outcome, &'static str) {
        match self {
            Self::User => (Outcome::Canceled, cause::CANCELED),
            Self::RingTimeout => (Outcome::NoAnswer, cause::RING_TIMEOUT),
        }
    }
}

/// Where a CANCEL is (RFC 3261 §9.1).
pub(super) enum Cancel {
    None,
    /// Requested before any provisional response: sent on the first one.
    Pending(CancelReason),
    /// Sent; `guard` = 64*T1 later we stop waiting for the 487.
    Sent {
        reason: CancelReason,
        branch: String,
        tx: NonInviteClientTransaction,
        guard: Instant,
    },
}

impl Cancel {
    pub(super) fn reason(&self) -> Option<CancelReason> {
        match self {
            Cancel::None => None,
            Cancel::Pending(r) | Cancel::Sent { reason: r, .. } => Some(*r),
        }
    }
}

/// One INVITE we sent (the first, and the retry with credentials).
pub(super) struct InviteAttempt {
    pub branch: String,
    pub cseq: u32,
    pub tx: InviteClientTransaction,
    /// Credentials it carried (copied into the 2xx ACK, §13.2.2.4).
    pub credentials: Option<Header>,
    /// A provisional response arrived for it (CANCEL allowed, §9.1).
    pub provisional: bool,
}

/// How the call will end or ended.
#[derive(Debug, Clone)]
pub(super) struct Ending {
    pub outcome: Outcome,
    pub status: Option<u16>,
    pub cause: &'static str,
    pub by: EndedBy,
    pub detail: String,
}

/// One outbound call (sans-IO). See the [module docs](super).
pub struct OutboundCall {
    pub(super) config: UacConfig,
    pub(super) request: OutboundRequest,
    pub(super) rng: StdRng,
    pub(super) call_id: String,
    pub(super) local_tag: String,
    pub(super) parties: Parties,
    pub(super) offer: String,
    pub(super) next_cseq: u32,
    pub(super) state: UacState,
    pub(super) invites: Vec<InviteAttempt>,
    pub(super) cancel: Cancel,
    pub(super) challenges_answered: u8,
    pub(super) last_provisional: Option<(u16, bool)>,
    pub(super) dialog: Option<Dialog>,
    /// (remote tag, ACK bytes, where it goes) per 2xx'd dialog: the first
    /// is the call, others are forks we ACK and BYE (§13.2.2.4).
    pub(super) acks: Vec<(String, Vec<u8>, Peer)>,
    pub(super) byes: Vec<ByeTx>,
    pub(super) servers: Vec<ServerTx>,
    pub(super) ring_deadline: Option<Instant>,
    pub(super) final_status: Option<u16>,
    /// Reported once our BYE completes.
    pub(super) pending_end: Option<Ending>,
    pub(super) outputs: VecDeque<Output>,
}

impl std::fmt::Debug for OutboundCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundCall")
            .field("call_id", &self.call_id)
            .field("state", &self.state)
            .field("trunk", &self.request.trunk)
            .finish_non_exhaustive()
    }
}

impl OutboundCall {
    /// Checks `request`, builds the INVITE with our SDP offer and queues it
    /// (plus [`UacEvent::Dialing`]); Timer A/B and the ring timeout start
    /// at `now`. Errors: [`UacError::InvalidUri`] / [`UacError::InvalidField`]
    /// for unusable request fields (nothing is sent then).
    pub fn new(
        now: Instant,
        config: UacConfig,
        request: OutboundRequest,
    ) -> Result<Self, UacError> {
        let parties = build::parties(&request)?;
        let mut rng = match config.rng_seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        let call_id = format!("{:016x}{:016x}", rng.random::<u64>(), rng.random::<u64>());
        let local_tag = format!("{:016x}", rng.random::<u64>());
        let offer = build_offer(&OfferParams {
            rtp: request.rtp,
            session_id: rng.random_range(1..=u32::MAX as u64),
            session_version: 1,
            codecs: &request.codecs,
            user_agent: &config.user_agent,
        })
        .to_string();
        let next_cseq = rng.random_range(1..=0x3fff_ffffu32);
        let ring_deadline = Some(now + request.ring_timeout);
        let mut call = Self {
            config,
            request,
            rng,
            call_id: call_id.clone(),
            local_tag,
            parties,
            offer,
            next_cseq,
            state: UacState::Calling,
            invites: Vec::new(),
            cancel: Cancel::None,
            challenges_answered: 0,
            last_provisional: None,
            dialog: None,
            acks: Vec::new(),
            byes: Vec::new(),
            servers: Vec::new(),
            ring_deadline,
            final_status: None,
            pending_end: None,
            outputs: VecDeque::new(),
        };
        call.send_invite(now, None);
        call.event(UacEvent::Dialing { call_id });
        Ok(call)
    }

    /// The Call-ID (routing key for responses and in-dialog requests).
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Our From tag.
    pub fn local_tag(&self) -> &str {
        &self.local_tag
    }

    /// Current state.
    pub fn state(&self) -> UacState {
        self.state
    }

    /// The trunk this call signals to.
    pub fn trunk(&self) -> std::net::SocketAddr {
        self.request.trunk
    }

    /// Whether [`UacEvent::Ended`] was emitted and every transaction has
    /// finished: the call can be dropped.
    pub fn is_finished(&self) -> bool {
        self.state == UacState::Ended
            && self.next_deadline_raw().is_none()
            && self.outputs.is_empty()
    }

    /// Feeds one input (see [`Input`]) at `now`.
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        match input {
            Input::Response(resp) => self.on_response(now, resp),
            Input::Request(req, source) => self.on_request(now, req, source),
            Input::Timeout => self.on_timeout(now),
            Input::TransportError => self.on_transport_error(now),
        }
    }

    /// The next output, `None` when there is nothing left to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When to call `handle_input(now, Input::Timeout)` next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_deadline_raw()
    }

    /// Cancels an unanswered call (RFC 3261 §9.1): CANCEL now if a
    /// provisional response arrived, else as soon as one does. The call
    /// ends `canceled` on the 487. A no-op once ended or cancelling;
    /// [`UacError::InvalidState`] once answered (use [`hangup`](Self::hangup)).
    pub fn cancel(&mut self, now: Instant) -> Result<(), UacError> {
        match self.state {
            UacState::Calling | UacState::Proceeding => {
                self.request_cancel(now, CancelReason::User);
                Ok(())
            }
            UacState::Canceling | UacState::Terminating | UacState::Ended => Ok(()),
            UacState::Confirmed => Err(UacError::InvalidState {
                state: self.state.name(),
                op: "cancel (already answered: hang up instead)",
            }),
        }
    }

    /// Ends the call: CANCEL before the answer (like [`cancel`](Self::cancel)),
    /// BYE once answered (`Ended { by: Local }` when the BYE completes).
    /// Idempotent.
    pub fn hangup(&mut self, now: Instant) -> Result<(), UacError> {
        match self.state {
            UacState::Confirmed => {
                let ending = Ending {
                    outcome: Outcome::Completed,
                    status: self.final_status,
                    cause: cause::COMPLETED,
                    by: EndedBy::Local,
                    detail: "hung up (BYE)".into(),
                };
                self.send_bye(now, ending);
                Ok(())
            }
            _ => self.cancel(now),
        }
    }

    // ----- internals shared with in_dialog.rs -----

    pub(super) fn token(&mut self) -> String {
        format!("{:016x}", self.rng.random::<u64>())
    }

    pub(super) fn new_branch(&mut self) -> String {
        format!("{BRANCH_MAGIC_COOKIE}{}", self.token())
    }

    pub(super) fn trunk_peer(&self) -> Peer {
        Peer {
            transport: self.request.transport,
            addr: self.request.trunk,
            conn: None,
        }
    }

    pub(super) fn send(&mut self, to: Peer, bytes: Vec<u8>) {
        self.outputs.push_back(Output::Send(Transmit {
            transport: to.transport,
            dest: to.addr,
            conn: to.conn,
            bytes,
        }));
    }

    pub(super) fn event(&mut self, e: UacEvent) {
        self.outputs.push_back(Output::Event(e));
    }

    /// Emits `Ended` (once) and moves to [`UacState::Ended`].
    pub(super) fn end(&mut self, ending: Ending) {
        if self.state == UacState::Ended {
            return;
        }
        tracing::debug!(call_id = %self.call_id, outcome = %ending.outcome, status = ?ending.status, cause = ending.cause, detail = %ending.detail, "outbound call ended");
        self.state = UacState::Ended;
        self.ring_deadline = None;
        self.pending_end = None;
        self.event(UacEvent::Ended {
            outcome: ending.outcome,
            status: ending.status,
            cause: ending.cause.to_string(),
            by: ending.by,
            detail: ending.detail,
        });
    }

    fn current(&self) -> Option<&InviteAttempt> {
        self.invites.last()
    }

    fn send_invite(&mut self, now: Instant, credentials: Option<Header>) {
        let cseq = self.next_cseq;
        self.next_cseq = self.next_cseq.wrapping_add(1);
        let branch = self.new_branch();
        let req = build::invite(&InviteParts {
            config: &self.config,
            transport: self.request.transport,
            parties: &self.parties,
            local_tag: &self.local_tag,
            call_id: &self.call_id,
            cseq,
            branch: &branch,
            credentials: credentials.clone(),
            sdp: &self.offer,
        });
        let tx = InviteClientTransaction::new(
            now,
            self.request.transport.reliability(),
            self.config.timers,
            req,
        );
        let bytes = tx.bytes().to_vec();
        self.invites.push(InviteAttempt {
            branch,
            cseq,
            tx,
            credentials,
            provisional: false,
        });
        let to = self.trunk_peer();
        self.send(to, bytes);
    }

    fn request_cancel(&mut self, now: Instant, reason: CancelReason) {
        self.state = UacState::Canceling;
        self.ring_deadline = None;
        if self.current().is_some_and(|a| a.provisional) {
            self.send_cancel(now, reason);
        } else {
            self.cancel = Cancel::Pending(reason);
        }
    }

    fn send_cancel(&mut self, now: Instant, reason: CancelReason) {
        let Some(attempt) = self.invites.last() else {
            return;
        };
        let branch = attempt.branch.clone();
        let req = build::cancel(attempt.tx.request(), &self.config.user_agent);
        let bytes = req.to_bytes();
        let tx = NonInviteClientTransaction::new(
            now,
            self.request.transport.reliability(),
            self.config.timers,
            bytes.clone(),
        );
        self.cancel = Cancel::Sent {
            reason,
            branch,
            tx,
            guard: now + self.config.timers.t1x64(),
        };
        let to = self.trunk_peer();
        self.send(to, bytes);
    }

    fn on_response(&mut self, now: Instant, resp: Response) {
        let call_id = resp.call_id_header().map(|c| c.value().trim().to_string());
        if call_id.as_deref() != Ok(self.call_id.as_str()) {
            tracing::debug!("response ignored: Call-ID is not this call's");
            return;
        }
        let Ok(key) = ClientTransactionKey::for_response(&resp) else {
            tracing::debug!("response ignored: no usable Via branch or CSeq");
            return;
        };
        let seq = resp.cseq_header().ok().and_then(|c| c.seq().ok());
        match key.method {
            Method::Invite => self.on_invite_response(now, &key.branch, seq, resp),
            Method::Cancel => {
                if let Cancel::Sent { branch, tx, .. } = &mut self.cancel {
                    if *branch == key.branch {
                        tx.on_response(now, resp.status_code.code());
                        return;
                    }
                }
                tracing::debug!("CANCEL response ignored: no such CANCEL");
            }
            Method::Bye => self.on_bye_response(now, &key.branch, resp.status_code.code()),
            m => tracing::debug!(method = %m, "response ignored: we sent no such request"),
        }
    }

    fn on_invite_response(&mut self, now: Instant, branch: &str, seq: Option<u32>, resp: Response) {
        let Some(i) = self.invites.iter().position(|a| a.branch == branch) else {
            tracing::debug!(%branch, "INVITE response ignored: unknown branch");
            return;
        };
        if seq != Some(self.invites[i].cseq) {
            tracing::debug!(?seq, "INVITE response ignored: wrong CSeq number");
            return;
        }
        let current = i + 1 == self.invites.len();
        let outcome = self.invites[i].tx.on_response(now, &resp);
        match outcome {
            InviteResponseOutcome::Provisional if current => self.on_provisional(now, &resp),
            InviteResponseOutcome::Success | InviteResponseOutcome::SuccessAgain => {
                self.on_success(now, i, &resp)
            }
            InviteResponseOutcome::Failure { ack } => {
                let to = self.trunk_peer();
                self.send(to, ack);
                if current {
                    self.on_failure(now, &resp);
                }
            }
            InviteResponseOutcome::ResendAck(ack) => {
                let to = self.trunk_peer();
                self.send(to, ack);
            }
            InviteResponseOutcome::Provisional | InviteResponseOutcome::Absorbed => {}
        }
    }

    fn on_provisional(&mut self, now: Instant, resp: &Response) {
        if let Some(a) = self.invites.last_mut() {
            a.provisional = true;
        }
        if self.state == UacState::Calling {
            self.state = UacState::Proceeding;
        }
        if let Cancel::Pending(reason) = self.cancel {
            self.send_cancel(now, reason);
        }
        let status = resp.status_code.code();
        if status == 100 || self.state == UacState::Ended {
            return;
        }
        let remote_sdp = crate::message::response_sdp_body(resp)
            .and_then(|b| crate::sdp::SessionDescription::parse_bytes(b).ok());
        let key = (status, remote_sdp.is_some());
        if self.last_provisional == Some(key) {
            return;
        }
        self.last_provisional = Some(key);
        self.event(match status {
            180..=182 => UacEvent::Ringing { status, remote_sdp },
            _ => UacEvent::EarlyMedia { status, remote_sdp },
        });
    }

    fn on_failure(&mut self, now: Instant, resp: &Response) {
        let status = resp.status_code.code();
        self.final_status = Some(status);
        let reason = self.cancel.reason();
        let phrase = resp
            .wire_reason
            .clone()
            .unwrap_or_else(|| resp.status_code.text().to_string());
        let detail = format!("{status} {phrase}");
        let remote = |outcome, cause: &'static str, detail: String| Ending {
            outcome,
            status: Some(status),
            cause,
            by: EndedBy::Remote,
            detail,
        };
        if matches!(status, 401 | 407) && reason.is_none() {
            match self.challenge_answer(resp) {
                Ok(header) => {
                    self.challenges_answered += 1;
                    self.state = UacState::Calling;
                    self.last_provisional = None;
                    self.send_invite(now, Some(header));
                }
                Err(why) => self.end(remote(Outcome::Failed, cause::AUTH_FAILED, why)),
            }
            return;
        }
        let ending = match (status, reason) {
            (487, Some(r)) => {
                let (outcome, cause) = r.outcome();
                Ending {
                    outcome,
                    status: Some(status),
                    cause,
                    by: EndedBy::Local,
                    detail,
                }
            }
            (401 | 407, Some(r)) => {
                let (outcome, cause) = r.outcome();
                Ending {
                    outcome,
                    status: Some(status),
                    cause,
                    by: EndedBy::Local,
                    detail,
                }
            }
            (403, _) if self.challenges_answered > 0 => remote(
                Outcome::Failed,
                cause::AUTH_FAILED,
                format!("{detail} after our credentials"),
            ),
            (486 | 600, _) => remote(Outcome::Busy, cause::BUSY, detail),
            (603, _) => remote(Outcome::Busy, cause::DECLINED, detail),
            (408 | 480 | 487, _) => remote(Outcome::NoAnswer, cause::NO_ANSWER, detail),
            (300..=399, _) => remote(Outcome::Failed, cause::REDIRECTED, detail),
            _ => remote(Outcome::Failed, cause::REJECTED, detail),
        };
        self.end(ending);
    }

    /// The `Authorization` / `Proxy-Authorization` answering a 401 / 407,
    /// or why we cannot (RFC 3261 §22.2: one retry; a second challenge
    /// means the credentials were refused, unless it only says the nonce
    /// was stale).
    fn challenge_answer(&mut self, resp: &Response) -> Result<Header, String> {
        let status = resp.status_code.code();
        let Some(creds) = self.request.credentials.clone() else {
            return Err(format!("{status} challenge and no credentials configured"));
        };
        let challenges: Vec<_> = resp
            .headers
            .iter()
            .filter_map(|h| match (status, h) {
                (401, Header::WwwAuthenticate(v)) => parse_challenge(v.value()),
                (407, Header::ProxyAuthenticate(v)) => parse_challenge(v.value()),
                _ => None,
            })
            .collect();
        // RFC 8760 §2.4: the first one we support, in the server's order.
        let Some(challenge) = challenges.into_iter().find(|c| c.is_supported()) else {
            return Err(format!("{status} without a digest challenge we support"));
        };
        let retry_allowed =
            self.challenges_answered == 0 || (challenge.stale && self.challenges_answered == 1);
        if !retry_allowed {
            return Err(format!("{status} again after our credentials"));
        }
        let cnonce = self.token();
        let uri = self.parties.request_uri.to_string();
        let value = digest_authorization(&challenge, &creds, Method::Invite, &uri, &cnonce)
            .ok_or_else(|| format!("{status} with an unsupported challenge"))?;
        Ok(if status == 407 {
            Header::ProxyAuthorization(ProxyAuthorization::new(value))
        } else {
            Header::Authorization(Authorization::new(value))
        })
    }

    fn on_timeout(&mut self, now: Instant) {
        let trunk = self.trunk_peer();
        let last = self.invites.len().saturating_sub(1);
        for i in 0..self.invites.len() {
            match self.invites[i].tx.on_timer(now) {
                Some(InviteClientTimeout::Retransmit(b)) => self.send(trunk, b),
                Some(InviteClientTimeout::TimedOut) if i == last => self.on_timer_b(),
                _ => {}
            }
        }
        if let Cancel::Sent {
            tx, guard, reason, ..
        } = &mut self.cancel
        {
            if let Some(NonInviteClientTimeout::Retransmit(b)) = tx.on_timer(now) {
                self.outputs.push_back(Output::Send(Transmit {
                    transport: trunk.transport,
                    dest: trunk.addr,
                    conn: None,
                    bytes: b,
                }));
            }
            let (guard, reason) = (*guard, *reason);
            if now >= guard && self.dialog.is_none() && self.state != UacState::Ended {
                // §9.1: no final response 64*T1 after the CANCEL.
                if let Some(a) = self.invites.last_mut() {
                    a.tx.abandon();
                }
                let (outcome, cause) = reason.outcome();
                self.end(Ending {
                    outcome,
                    status: self.final_status,
                    cause,
                    by: EndedBy::Local,
                    detail: "no final response to the INVITE after CANCEL".into(),
                });
            }
        }
        self.on_bye_timers(now);
        self.on_server_timers(now);
        if self.ring_deadline.is_some_and(|d| now >= d) {
            self.ring_deadline = None;
            if matches!(self.state, UacState::Calling | UacState::Proceeding) {
                tracing::debug!(call_id = %self.call_id, "ring timeout: cancelling");
                self.request_cancel(now, CancelReason::RingTimeout);
            }
        }
        // Safety net: the INVITE transaction is over and nothing else will
        // end the call (e.g. a 2xx that could not make a dialog).
        let invite_over = self
            .current()
            .is_none_or(|a| a.tx.state() == InviteClientState::Terminated);
        if invite_over && self.dialog.is_none() && self.state != UacState::Ended {
            self.end(Ending {
                outcome: Outcome::Failed,
                status: self.final_status,
                cause: cause::BAD_RESPONSE,
                by: EndedBy::Local,
                detail: "the INVITE transaction ended without a usable final response".into(),
            });
        }
        self.cancel_finished_cleanup();
    }

    fn cancel_finished_cleanup(&mut self) {
        if let Cancel::Sent { tx, .. } = &self.cancel {
            if tx.state() == crate::transaction::NonInviteClientState::Terminated
                && self.state == UacState::Ended
            {
                self.cancel = Cancel::None;
            }
        }
    }

    /// Timer B: no response at all to the current INVITE.
    fn on_timer_b(&mut self) {
        let ending = match self.cancel.reason() {
            Some(CancelReason::User) => Ending {
                outcome: Outcome::Canceled,
                status: None,
                cause: cause::CANCELED,
                by: EndedBy::Local,
                detail: "cancelled; the trunk never answered the INVITE".into(),
            },
            _ => Ending {
                outcome: Outcome::Failed,
                status: None,
                cause: cause::UNREACHABLE,
                by: EndedBy::Local,
                detail: "no response to the INVITE within 64*T1 (Timer B)".into(),
            },
        };
        self.end(ending);
    }

    fn on_transport_error(&mut self, now: Instant) {
        if self.dialog.is_some() {
            // Our BYE could not be sent: finish as if it timed out.
            self.on_bye_failed(now);
            return;
        }
        if let Some(a) = self.invites.last_mut() {
            a.tx.on_transport_error();
        }
        self.end(Ending {
            outcome: if self.cancel.reason() == Some(CancelReason::User) {
                Outcome::Canceled
            } else {
                Outcome::Failed
            },
            status: self.final_status,
            cause: if self.cancel.reason() == Some(CancelReason::User) {
                cause::CANCELED
            } else {
                cause::UNREACHABLE
            },
            by: EndedBy::Local,
            detail: "transport error reaching the trunk".into(),
        });
    }

    fn next_deadline_raw(&self) -> Option<Instant> {
        let mut all: Vec<Option<Instant>> =
            self.invites.iter().map(|a| a.tx.next_deadline()).collect();
        if let Cancel::Sent { tx, guard, .. } = &self.cancel {
            all.push(tx.next_deadline());
            if self.dialog.is_none() && self.state != UacState::Ended {
                all.push(Some(*guard));
            }
        }
        all.extend(self.byes.iter().map(|b| b.tx.next_deadline()));
        all.extend(self.servers.iter().map(|s| s.next_deadline()));
        all.push(self.ring_deadline);
        crate::transaction::earliest(all)
    }
}
