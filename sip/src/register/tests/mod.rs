//! Unit tests of the registration client on a virtual clock: a test plays
//! the registrar, answering the REGISTERs it receives with responses that
//! go through the real inbound parser (`classify_datagram`).

mod backoff;
mod flows;

use std::time::{Duration, Instant};

use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::Request;

use crate::message::{classify_datagram, standard_reason, Inbound, LocalPolicy};
use crate::uac::{Credentials, UacConfig};

use super::{Input, Output, Registration, RegistrationRequest, RegistrationStatus};

pub(super) const REGISTRAR: &str = "192.0.2.10:5060";
pub(super) const CHALLENGE: &str = "WWW-Authenticate: Digest realm=\"trunk.test\", nonce=\"abc123\", qop=\"auth\", algorithm=MD5\r\n";

pub(super) fn config() -> UacConfig {
    UacConfig {
        user_agent: "ParlaTest".into(),
        contact_host: "10.0.0.1".into(),
        contact_port: 5060,
        rng_seed: Some(11),
        ..UacConfig::default()
    }
}

pub(super) fn request() -> RegistrationRequest {
    let mut r = RegistrationRequest::new(
        "sip:trunk.test",
        "sip:15550001111@trunk.test",
        REGISTRAR.parse().unwrap(),
    );
    r.credentials = Some(Credentials::new("15550001111", "s3cret"));
    r
}

/// The registration under test, a virtual clock, what it sent and every
/// status it reported.
pub(super) struct Harness {
    pub reg: Registration,
    pub t0: Instant,
    pub now: Instant,
    /// REGISTERs sent, with the time they were sent.
    pub sent: Vec<(Instant, Request)>,
    pub statuses: Vec<RegistrationStatus>,
}

impl Harness {
    pub fn new(req: RegistrationRequest) -> Self {
        let t0 = Instant::now();
        let reg = Registration::new(t0, config(), req).expect("valid request");
        let mut h = Self {
            reg,
            t0,
            now: t0,
            sent: Vec::new(),
            statuses: Vec::new(),
        };
        h.drain();
        h
    }

    pub fn default_reg() -> Self {
        Self::new(request())
    }

    pub fn drain(&mut self) {
        while let Some(out) = self.reg.poll_output() {
            match out {
                Output::Send(t) => {
                    assert_eq!(t.dest, REGISTRAR.parse().unwrap());
                    match classify_datagram(&t.bytes, &registrar_policy()) {
                        Inbound::Request(r) => self.sent.push((self.now, r)),
                        other => panic!(
                            "we sent something our own parser refuses: {other:?}\n{}",
                            String::from_utf8_lossy(&t.bytes)
                        ),
                    }
                }
                Output::Status(s) => self.statuses.push(s),
            }
        }
    }

    /// The last REGISTER sent.
    pub fn last(&self) -> Request {
        self.sent.last().expect("a REGISTER was sent").1.clone()
    }

    pub fn status(&self) -> RegistrationStatus {
        self.reg.status().clone()
    }

    /// Feeds raw bytes as the registrar would send them.
    pub fn feed(&mut self, bytes: &[u8]) {
        match classify_datagram(bytes, &LocalPolicy::default()) {
            Inbound::Response(r) => {
                self.reg.handle_input(self.now, Input::Response(r));
                self.drain();
            }
            other => panic!("test response refused: {other:?}"),
        }
    }

    /// Answers the last REGISTER with `status` and extra header lines.
    pub fn respond(&mut self, status: u16, extra: &str) {
        let text = response_text(&self.last(), status, extra);
        self.feed(text.as_bytes());
    }

    /// Moves the clock forward by `d`, firing every timer due on the way.
    pub fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        while let Some(at) = self.reg.poll_timeout() {
            if at > target {
                break;
            }
            self.now = self.now.max(at);
            self.reg.handle_input(self.now, Input::Timeout);
            self.drain();
        }
        self.now = target;
    }

    /// 401 with [`CHALLENGE`], then 200 granting `granted` seconds on our
    /// Contact: registered.
    pub fn register_ok(&mut self, granted: u64) {
        self.respond(401, CHALLENGE);
        let contact = header(&self.last(), "Contact").unwrap();
        self.respond(200, &format!("Contact: {contact};expires={granted}\r\n"));
        assert!(self.status().is_registered(), "{:?}", self.status());
    }
}

/// The registrar's parser: ours, with REGISTER allowed.
pub(super) fn registrar_policy() -> LocalPolicy {
    let mut p = LocalPolicy::default();
    p.allow.push("REGISTER");
    p
}

/// A header value of `req` by name.
pub(super) fn header(req: &Request, name: &str) -> Option<String> {
    req.headers
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case(name))
        .map(|h| h.value().to_string())
}

/// A response to `req` as a registrar writes it.
pub(super) fn response_text(req: &Request, status: u16, extra: &str) -> String {
    let via = req.via_header().unwrap().value().to_string();
    let from = req.from_header().unwrap().value().to_string();
    let to = format!("{};tag=reg1", req.to_header().unwrap().value());
    let call_id = req.call_id_header().unwrap().value().to_string();
    let cseq = req.cseq_header().unwrap().value().to_string();
    format!(
        "SIP/2.0 {status} {}\r\nVia: {via}\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\n{extra}Content-Length: 0\r\n\r\n",
        standard_reason(status)
    )
}

pub(super) fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
