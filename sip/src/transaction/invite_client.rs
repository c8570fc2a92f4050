//! INVITE client transaction, RFC 3261 §17.1.1 (Figure 5), with the
//! "Accepted" state of RFC 6026 §7.2 after a 2xx.
//!
//! The transaction owns the INVITE it sent so that it can build the ACK for
//! a 3xx–6xx itself (§17.1.1.3). The ACK for a 2xx is not its business: the
//! transaction user builds it from the dialog (§13.2.2.4) and sends it again
//! for every retransmitted 2xx the Accepted state passes up.

use std::time::{Duration, Instant};

use rsipstack::sip::headers::untyped::{CallId, ContentLength, MaxForwards, To as ToHeader};
use rsipstack::sip::typed::CSeq;
use rsipstack::sip::{Header, Headers, Method, Request, Response};

use super::{earliest, Backoff, Reliability, TimerConfig};
use crate::dialog::DEFAULT_MAX_FORWARDS;

/// States of the INVITE client transaction (RFC 3261 Figure 5, RFC 6026
/// Figure 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteClientState {
    /// INVITE sent, nothing heard (Timer A retransmits on UDP, Timer B
    /// gives up after 64*T1).
    Calling,
    /// A provisional response arrived: no more retransmissions and no
    /// timeout (the TU cancels when it has waited long enough).
    Proceeding,
    /// A 3xx–6xx arrived and was ACKed; retransmissions of it are ACKed
    /// again until Timer D (32 s on UDP, 0 on TCP).
    Completed,
    /// A 2xx arrived (RFC 6026 §7.2): further 2xx go to the TU, which
    /// re-sends its ACK, until Timer M (64*T1).
    Accepted,
    /// Finished; the transaction can be destroyed.
    Terminated,
}

impl InviteClientState {
    /// Static name for logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            Self::Calling => "Calling",
            Self::Proceeding => "Proceeding",
            Self::Completed => "Completed",
            Self::Accepted => "Accepted",
            Self::Terminated => "Terminated",
        }
    }
}

/// What a response matching this transaction means for the TU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InviteResponseOutcome {
    /// 1xx in Calling or Proceeding: pass it up (now Proceeding).
    Provisional,
    /// The first 2xx: pass it up; the TU sends the ACK (now Accepted).
    Success,
    /// Another 2xx in Accepted (a retransmission, or a forked answer):
    /// pass it up; the TU ACKs it again (RFC 6026 §7.2).
    SuccessAgain,
    /// The first 3xx–6xx: send `ack` to the INVITE's destination and pass
    /// the response up (now Completed, §17.1.1.2).
    Failure {
        /// The ACK built per §17.1.1.3.
        ack: Vec<u8>,
    },
    /// A retransmitted 3xx–6xx in Completed: send this ACK again; the TU
    /// is not told.
    ResendAck(Vec<u8>),
    /// Nothing to do (a 1xx after a final response, anything once
    /// Terminated).
    Absorbed,
}

/// Action requested by [`InviteClientTransaction::on_timer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InviteClientTimeout {
    /// Timer A: retransmit the INVITE (these bytes).
    Retransmit(Vec<u8>),
    /// Timer B: no response within 64*T1; Terminated, tell the TU (it
    /// treats this as a 408, §8.1.3.1).
    TimedOut,
    /// Timer D or M: Terminated normally.
    Terminated,
}

/// RFC 3261 §17.1.1 INVITE client transaction (sans-IO).
#[derive(Debug, Clone)]
pub struct InviteClientTransaction {
    state: InviteClientState,
    reliability: Reliability,
    timers: TimerConfig,
    request: Request,
    bytes: Vec<u8>,
    ack: Option<Vec<u8>>,
    /// Timer A: INVITE retransmit, T1 doubling (unreliable only).
    timer_a: Option<Backoff>,
    /// Timer B: transaction timeout in Calling, 64*T1.
    timer_b: Option<Instant>,
    /// Timer D: absorb final-response retransmissions, 32 s (0 on
    /// reliable transports).
    timer_d: Option<Instant>,
    /// Timer M (RFC 6026): absorb 2xx retransmissions, 64*T1.
    timer_m: Option<Instant>,
}

/// Timer D on unreliable transports: "at least 32 seconds" (§17.1.1.2).
pub const TIMER_D_UNRELIABLE: Duration = Duration::from_secs(32);

impl InviteClientTransaction {
    /// Starts the transaction for `request`; the caller sends
    /// [`bytes`](Self::bytes) once now. Timer A = T1 (unreliable only),
    /// Timer B = 64*T1.
    pub fn new(
        now: Instant,
        reliability: Reliability,
        timers: TimerConfig,
        request: Request,
    ) -> Self {
        let bytes = request.to_bytes();
        // Timer A doubles without a cap (§17.1.1.2): 64*T1 never binds.
        let timer_a =
            (!reliability.is_reliable()).then(|| Backoff::start(now, timers.t1, timers.t1x64()));
        Self {
            state: InviteClientState::Calling,
            reliability,
            timers,
            request,
            bytes,
            ack: None,
            timer_a,
            timer_b: Some(now + timers.t1x64()),
            timer_d: None,
            timer_m: None,
        }
    }

    /// Current state.
    pub fn state(&self) -> InviteClientState {
        self.state
    }

    /// The INVITE this transaction sends.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The INVITE's bytes (first transmission and retransmissions).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// A response matched this transaction (RFC 3261 §17.1.3).
    pub fn on_response(&mut self, now: Instant, resp: &Response) -> InviteResponseOutcome {
        let status = resp.status_code.code();
        match (self.state, status) {
            (InviteClientState::Calling | InviteClientState::Proceeding, 100..=199) => {
                self.state = InviteClientState::Proceeding;
                self.timer_a = None;
                self.timer_b = None;
                InviteResponseOutcome::Provisional
            }
            (InviteClientState::Calling | InviteClientState::Proceeding, 200..=299) => {
                self.state = InviteClientState::Accepted;
                self.timer_a = None;
                self.timer_b = None;
                self.timer_m = Some(now + self.timers.t1x64());
                InviteResponseOutcome::Success
            }
            (InviteClientState::Calling | InviteClientState::Proceeding, _) => {
                self.state = InviteClientState::Completed;
                self.timer_a = None;
                self.timer_b = None;
                let linger = if self.reliability.is_reliable() {
                    Duration::ZERO
                } else {
                    TIMER_D_UNRELIABLE
                };
                self.timer_d = Some(now + linger);
                let ack = ack_for_failure(&self.request, resp).to_bytes();
                self.ack = Some(ack.clone());
                InviteResponseOutcome::Failure { ack }
            }
            (InviteClientState::Completed, 300..=699) => match &self.ack {
                Some(ack) => InviteResponseOutcome::ResendAck(ack.clone()),
                None => InviteResponseOutcome::Absorbed,
            },
            (InviteClientState::Accepted, 200..=299) => InviteResponseOutcome::SuccessAgain,
            _ => InviteResponseOutcome::Absorbed,
        }
    }

    /// Fatal transport error (RFC 3261 §17.1.4): Terminated; the TU treats
    /// it like a 503.
    pub fn on_transport_error(&mut self) {
        self.terminate();
    }

    /// Ends the transaction at once (the TU gave up on it, e.g. no final
    /// response after a CANCEL, RFC 3261 §9.1).
    pub fn abandon(&mut self) {
        self.terminate();
    }

    /// Processes the timers due at `now`; Timer B has priority over A.
    pub fn on_timer(&mut self, now: Instant) -> Option<InviteClientTimeout> {
        let due = |t: Option<Instant>| t.is_some_and(|t| now >= t);
        match self.state {
            InviteClientState::Calling => {
                if due(self.timer_b) {
                    self.terminate();
                    return Some(InviteClientTimeout::TimedOut);
                }
                if let Some(a) = self.timer_a.as_mut() {
                    if a.is_due(now) {
                        a.double(now);
                        return Some(InviteClientTimeout::Retransmit(self.bytes.clone()));
                    }
                }
                None
            }
            InviteClientState::Completed if due(self.timer_d) => {
                self.terminate();
                Some(InviteClientTimeout::Terminated)
            }
            InviteClientState::Accepted if due(self.timer_m) => {
                self.terminate();
                Some(InviteClientTimeout::Terminated)
            }
            _ => None,
        }
    }

    /// The earliest armed timer, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.state {
            InviteClientState::Calling => earliest([self.timer_a.map(|a| a.next), self.timer_b]),
            InviteClientState::Completed => self.timer_d,
            InviteClientState::Accepted => self.timer_m,
            InviteClientState::Proceeding | InviteClientState::Terminated => None,
        }
    }

    fn terminate(&mut self) {
        self.state = InviteClientState::Terminated;
        self.timer_a = None;
        self.timer_b = None;
        self.timer_d = None;
        self.timer_m = None;
    }
}

/// The ACK for a 3xx–6xx (RFC 3261 §17.1.1.3): the INVITE's Request-URI,
/// Call-ID, From, CSeq number and top Via (same branch) and Route headers,
/// the response's To (with its tag), CSeq method ACK, no body.
pub fn ack_for_failure(invite: &Request, resp: &Response) -> Request {
    let mut headers = Headers::default();
    if let Some(via) = invite.headers.iter().find(|h| matches!(h, Header::Via(_))) {
        headers.push(via.clone());
    }
    headers.push(Header::MaxForwards(MaxForwards::new(
        DEFAULT_MAX_FORWARDS.to_string(),
    )));
    for h in invite.headers.iter() {
        if matches!(h, Header::Route(_)) {
            headers.push(h.clone());
        }
    }
    if let Some(from) = invite.headers.iter().find(|h| matches!(h, Header::From(_))) {
        headers.push(from.clone());
    }
    let to = resp
        .headers
        .iter()
        .find(|h| matches!(h, Header::To(_)))
        .or_else(|| invite.headers.iter().find(|h| matches!(h, Header::To(_))))
        .cloned()
        .unwrap_or_else(|| Header::To(ToHeader::new(String::new())));
    headers.push(to);
    let call_id = invite
        .headers
        .iter()
        .find_map(|h| match h {
            Header::CallId(c) => Some(c.value().to_string()),
            _ => None,
        })
        .unwrap_or_default();
    headers.push(Header::CallId(CallId::new(call_id)));
    let seq = invite
        .headers
        .iter()
        .find_map(|h| match h {
            Header::CSeq(c) => c.value().split_whitespace().next()?.parse().ok(),
            _ => None,
        })
        .unwrap_or(0);
    headers.push(
        CSeq {
            seq,
            method: Method::Ack,
        }
        .into(),
    );
    headers.push(Header::ContentLength(ContentLength::new("0")));
    Request {
        method: Method::Ack,
        uri: invite.uri.clone(),
        version: invite.version,
        headers,
        body: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsipstack::sip::prelude::HeadersExt;

    const T1: Duration = Duration::from_millis(500);

    fn invite() -> Request {
        let text = "INVITE sip:bob@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKinv;rport\r\nMax-Forwards: 70\r\nRoute: <sip:proxy.example;lr>\r\nFrom: <sip:parla@10.0.0.1>;tag=ours\r\nTo: <sip:bob@192.0.2.1>\r\nCall-ID: cid-1\r\nCSeq: 7 INVITE\r\nContact: <sip:10.0.0.1:5060>\r\nContent-Length: 0\r\n\r\n";
        Request::try_from(text).unwrap()
    }

    fn resp(status: u16) -> Response {
        let text = format!("SIP/2.0 {status} X\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKinv;rport=5060\r\nFrom: <sip:parla@10.0.0.1>;tag=ours\r\nTo: <sip:bob@192.0.2.1>;tag=theirs\r\nCall-ID: cid-1\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n");
        Response::try_from(text.as_str()).unwrap()
    }

    fn udp(now: Instant) -> InviteClientTransaction {
        InviteClientTransaction::new(
            now,
            Reliability::Unreliable,
            TimerConfig::default(),
            invite(),
        )
    }

    fn tcp(now: Instant) -> InviteClientTransaction {
        InviteClientTransaction::new(now, Reliability::Reliable, TimerConfig::default(), invite())
    }

    #[test]
    fn calling_timer_a_doubles_until_timer_b() {
        let now = Instant::now();
        let mut tx = udp(now);
        assert_eq!(tx.state(), InviteClientState::Calling);
        let mut at = Vec::new();
        loop {
            let next = tx.next_deadline().unwrap();
            match tx.on_timer(next) {
                Some(InviteClientTimeout::Retransmit(b)) => {
                    assert_eq!(b, tx.bytes());
                    at.push((next - now).as_millis());
                }
                Some(InviteClientTimeout::TimedOut) => {
                    assert_eq!(next, now + T1 * 64);
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        // 7 transmissions in all: the first one plus these six (§17.1.1.2).
        assert_eq!(at, vec![500, 1500, 3500, 7500, 15500, 31500]);
        assert_eq!(tx.state(), InviteClientState::Terminated);
        assert_eq!(tx.next_deadline(), None);
    }

    #[test]
    fn calling_reliable_has_only_timer_b() {
        let now = Instant::now();
        let mut tx = tcp(now);
        assert_eq!(tx.next_deadline(), Some(now + T1 * 64));
        assert_eq!(tx.on_timer(now + T1 * 63), None);
        assert_eq!(
            tx.on_timer(now + T1 * 64),
            Some(InviteClientTimeout::TimedOut)
        );
    }

    #[test]
    fn calling_provisional_goes_proceeding_without_timers() {
        let now = Instant::now();
        let mut tx = udp(now);
        assert_eq!(
            tx.on_response(now, &resp(100)),
            InviteResponseOutcome::Provisional
        );
        assert_eq!(tx.state(), InviteClientState::Proceeding);
        assert_eq!(tx.next_deadline(), None, "no Timer A nor B in Proceeding");
        assert_eq!(tx.on_timer(now + T1 * 128), None);
        assert_eq!(
            tx.on_response(now, &resp(180)),
            InviteResponseOutcome::Provisional
        );
    }

    #[test]
    fn calling_2xx_goes_accepted_then_timer_m() {
        let now = Instant::now();
        let mut tx = udp(now);
        assert_eq!(
            tx.on_response(now, &resp(200)),
            InviteResponseOutcome::Success
        );
        assert_eq!(tx.state(), InviteClientState::Accepted);
        assert_eq!(
            tx.on_response(now, &resp(200)),
            InviteResponseOutcome::SuccessAgain
        );
        assert_eq!(
            tx.on_response(now, &resp(180)),
            InviteResponseOutcome::Absorbed
        );
        assert_eq!(tx.next_deadline(), Some(now + T1 * 64));
        assert_eq!(
            tx.on_timer(now + T1 * 64),
            Some(InviteClientTimeout::Terminated)
        );
        assert_eq!(tx.state(), InviteClientState::Terminated);
    }

    #[test]
    fn proceeding_2xx_goes_accepted() {
        let now = Instant::now();
        let mut tx = udp(now);
        tx.on_response(now, &resp(180));
        assert_eq!(
            tx.on_response(now, &resp(200)),
            InviteResponseOutcome::Success
        );
        assert_eq!(tx.state(), InviteClientState::Accepted);
    }

    #[test]
    fn calling_failure_acks_and_completed_reacks_until_timer_d() {
        let now = Instant::now();
        let mut tx = udp(now);
        let InviteResponseOutcome::Failure { ack } = tx.on_response(now, &resp(486)) else {
            panic!("expected Failure");
        };
        assert_eq!(tx.state(), InviteClientState::Completed);
        assert_eq!(
            tx.on_response(now, &resp(486)),
            InviteResponseOutcome::ResendAck(ack.clone())
        );
        assert_eq!(
            tx.on_response(now, &resp(180)),
            InviteResponseOutcome::Absorbed
        );
        assert_eq!(tx.next_deadline(), Some(now + Duration::from_secs(32)));
        assert_eq!(
            tx.on_timer(now + Duration::from_secs(32)),
            Some(InviteClientTimeout::Terminated)
        );
        assert_eq!(
            tx.on_response(now, &resp(486)),
            InviteResponseOutcome::Absorbed
        );
    }

    #[test]
    fn proceeding_failure_completes_and_reliable_timer_d_is_zero() {
        let now = Instant::now();
        let mut tx = tcp(now);
        tx.on_response(now, &resp(183));
        assert!(matches!(
            tx.on_response(now, &resp(487)),
            InviteResponseOutcome::Failure { .. }
        ));
        assert_eq!(tx.next_deadline(), Some(now));
        assert_eq!(tx.on_timer(now), Some(InviteClientTimeout::Terminated));
    }

    #[test]
    fn failure_ack_follows_17_1_1_3() {
        let now = Instant::now();
        let mut tx = udp(now);
        let InviteResponseOutcome::Failure { ack } = tx.on_response(now, &resp(603)) else {
            panic!("expected Failure");
        };
        let ack = Request::try_from(String::from_utf8(ack).unwrap().as_str()).unwrap();
        assert_eq!(ack.method, Method::Ack);
        assert_eq!(ack.uri.to_string(), "sip:bob@192.0.2.1");
        assert_eq!(
            ack.via_header().unwrap().value(),
            "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKinv;rport"
        );
        assert_eq!(ack.cseq_header().unwrap().value(), "7 ACK");
        assert_eq!(
            ack.to_header().unwrap().value(),
            "<sip:bob@192.0.2.1>;tag=theirs"
        );
        assert_eq!(
            ack.from_header().unwrap().value(),
            "<sip:parla@10.0.0.1>;tag=ours"
        );
        assert_eq!(ack.call_id_header().unwrap().value(), "cid-1");
        assert_eq!(ack.route_headers().len(), 1);
        assert!(ack.body.is_empty());
    }

    #[test]
    fn transport_error_and_abandon_terminate() {
        let now = Instant::now();
        let mut tx = udp(now);
        tx.on_transport_error();
        assert_eq!(tx.state(), InviteClientState::Terminated);
        let mut tx = udp(now);
        tx.on_response(now, &resp(180));
        tx.abandon();
        assert_eq!(tx.state(), InviteClientState::Terminated);
        assert_eq!(
            tx.on_response(now, &resp(200)),
            InviteResponseOutcome::Absorbed
        );
    }
}
