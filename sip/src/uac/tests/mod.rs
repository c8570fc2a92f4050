//! Unit tests of the outbound call core on a virtual clock: a test plays
//! the trunk, answering the requests the call sends with responses that go
//! through the real inbound parser (`classify_datagram`).

mod auth;
mod flows;
mod robust;
mod table;
mod timers;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Method, Request, Response};

use crate::message::{classify_datagram, standard_reason, Inbound, LocalPolicy};

use super::{Input, OutboundCall, OutboundRequest, Output, Source, Transport, UacConfig, UacEvent};

pub(super) const TRUNK: &str = "192.0.2.1:5060";
pub(super) const CALLEE_TAG: &str = "callee1";
pub(super) const ANSWER_SDP: &str = "v=0\r\no=- 9 9 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

pub(super) fn config() -> UacConfig {
    UacConfig {
        user_agent: "ParlaTest".into(),
        contact_host: "10.0.0.1".into(),
        contact_port: 5060,
        rng_seed: Some(7),
        ..UacConfig::default()
    }
}

pub(super) fn request() -> OutboundRequest {
    OutboundRequest::new(
        "sip:+15551234@192.0.2.1",
        "sip:+15550000@parla.test",
        TRUNK.parse().unwrap(),
        "10.0.0.1:40000".parse().unwrap(),
    )
}

/// A message the call sent.
#[derive(Debug, Clone)]
pub(super) struct Sent {
    pub dest: SocketAddr,
    pub msg: Inbound,
}

impl Sent {
    pub fn req(&self) -> &Request {
        match &self.msg {
            Inbound::Request(r) => r,
            other => panic!("expected a request, got {other:?}"),
        }
    }
    pub fn resp(&self) -> &Response {
        match &self.msg {
            Inbound::Response(r) => r,
            other => panic!("expected a response, got {other:?}"),
        }
    }
    pub fn method(&self) -> Option<Method> {
        match &self.msg {
            Inbound::Request(r) => Some(r.method),
            _ => None,
        }
    }
}

/// The call under test plus a virtual clock and everything it sent.
pub(super) struct Harness {
    pub call: OutboundCall,
    pub now: Instant,
    /// The last INVITE sent (kept across `take_sent`).
    pub invite: Option<Request>,
    pub sent: Vec<Sent>,
    pub events: Vec<UacEvent>,
}

impl Harness {
    pub fn new(req: OutboundRequest) -> Self {
        let t0 = Instant::now();
        let call = OutboundCall::new(t0, config(), req).expect("valid request");
        let mut h = Self {
            call,
            now: t0,
            invite: None,
            sent: Vec::new(),
            events: Vec::new(),
        };
        h.drain();
        h
    }

    pub fn default_call() -> Self {
        Self::new(request())
    }

    pub fn drain(&mut self) {
        while let Some(out) = self.call.poll_output() {
            match out {
                Output::Send(t) => {
                    let msg = classify_datagram(&t.bytes, &LocalPolicy::default());
                    if let Inbound::Request(r) = &msg {
                        if r.method == Method::Invite {
                            self.invite = Some(r.clone());
                        }
                    }
                    assert!(
                        matches!(msg, Inbound::Request(_) | Inbound::Response(_)),
                        "we sent something our own parser refuses: {msg:?}\n{}",
                        String::from_utf8_lossy(&t.bytes)
                    );
                    self.sent.push(Sent { dest: t.dest, msg });
                }
                Output::Event(e) => self.events.push(e),
            }
        }
    }

    pub fn take_sent(&mut self) -> Vec<Sent> {
        std::mem::take(&mut self.sent)
    }

    pub fn take_events(&mut self) -> Vec<UacEvent> {
        std::mem::take(&mut self.events)
    }

    /// The last request with `method` the call sent (still in `sent`).
    pub fn last(&self, method: Method) -> Request {
        if method == Method::Invite {
            return self.invite.clone().expect("an INVITE was sent");
        }
        self.sent
            .iter()
            .rev()
            .find(|s| s.method() == Some(method))
            .unwrap_or_else(|| panic!("no {method} sent: {:#?}", self.sent))
            .req()
            .clone()
    }

    pub fn count(&self, method: Method) -> usize {
        self.sent
            .iter()
            .filter(|s| s.method() == Some(method))
            .count()
    }

    pub fn input(&mut self, input: Input) {
        self.call.handle_input(self.now, input);
        self.drain();
    }

    /// Feeds raw bytes as the trunk would send them.
    pub fn feed_bytes(&mut self, bytes: &[u8]) {
        match classify_datagram(bytes, &LocalPolicy::default()) {
            Inbound::Response(r) => self.input(Input::Response(r)),
            Inbound::Request(r) => self.input(Input::Request(r, trunk_source())),
            other => panic!(
                "test message refused: {other:?}\n{}",
                String::from_utf8_lossy(bytes)
            ),
        }
    }

    /// Answers `req` with `status` (To tag [`CALLEE_TAG`] unless 100).
    pub fn respond(&mut self, req: &Request, status: u16, extra: &str, body: &str) {
        let text = response_text(req, status, extra, body);
        self.feed_bytes(text.as_bytes());
    }

    /// Answers the last INVITE.
    pub fn respond_invite(&mut self, status: u16, extra: &str, body: &str) {
        let inv = self.last(Method::Invite);
        self.respond(&inv, status, extra, body);
    }

    /// Moves the clock forward by `d`, firing every timer due on the way.
    pub fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        while let Some(at) = self.call.poll_timeout() {
            if at > target {
                break;
            }
            self.now = self.now.max(at);
            self.input(Input::Timeout);
        }
        self.now = target;
    }

    /// Answers 100 + 180 + 200 with [`ANSWER_SDP`]: the call is up.
    pub fn answer(&mut self) {
        self.respond_invite(100, "", "");
        self.respond_invite(180, "", "");
        self.respond_invite(200, "Contact: <sip:callee@192.0.2.1:5060>\r\n", ANSWER_SDP);
    }

    /// A request from the far end inside the dialog.
    pub fn far_end_request(&mut self, method: &str, cseq: u32, branch: &str) {
        let inv = self.last(Method::Invite);
        let from = inv.from_header().unwrap().value().to_string();
        let to = inv.to_header().unwrap().value().to_string();
        let call_id = inv.call_id_header().unwrap().value().to_string();
        let text = format!(
            "{method} sip:10.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\nMax-Forwards: 70\r\nFrom: {to};tag={CALLEE_TAG}\r\nTo: {from}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
        );
        self.feed_bytes(text.as_bytes());
    }

    /// The only `Ended` event so far, as (outcome, status, cause, by).
    pub fn ended(&self) -> (super::Outcome, Option<u16>, String, super::EndedBy) {
        let ends: Vec<_> = self
            .events
            .iter()
            .filter_map(|e| match e {
                UacEvent::Ended {
                    outcome,
                    status,
                    cause,
                    by,
                    ..
                } => Some((*outcome, *status, cause.clone(), *by)),
                _ => None,
            })
            .collect();
        assert_eq!(ends.len(), 1, "exactly one Ended: {:#?}", self.events);
        ends[0].clone()
    }

    pub fn has_ended(&self) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, UacEvent::Ended { .. }))
    }
}

pub(super) fn trunk_source() -> Source {
    Source {
        transport: Transport::Udp,
        addr: TRUNK.parse().unwrap(),
        conn: None,
    }
}

/// A response to `req` as a trunk writes it.
pub(super) fn response_text(req: &Request, status: u16, extra: &str, body: &str) -> String {
    let via = req.via_header().unwrap().value().to_string();
    let from = req.from_header().unwrap().value().to_string();
    let mut to = req.to_header().unwrap().value().to_string();
    if status > 100 && !to.contains("tag=") {
        to.push_str(&format!(";tag={CALLEE_TAG}"));
    }
    let call_id = req.call_id_header().unwrap().value().to_string();
    let cseq = req.cseq_header().unwrap().value().to_string();
    let ct = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\r\n".to_string()
    };
    format!(
        "SIP/2.0 {status} {}\r\nVia: {via}\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\n{extra}{ct}Content-Length: {}\r\n\r\n{body}",
        standard_reason(status),
        body.len()
    )
}

/// Lower-case hex.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) const T1: Duration = Duration::from_millis(500);
