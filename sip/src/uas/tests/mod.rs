//! Virtual-clock tests of the UAS core: messages in, outputs checked.

mod calls;
mod edge;
mod reinvite;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Request, Response, SipMessage};

use super::{
    CallEvent, CallKey, ConnId, IncomingCallInfo, Transport, UasConfig, UasCore, UasOutput,
};

pub(super) const CALLER: &str = "192.0.2.10:5062";
pub(super) const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";
pub(super) const ANSWER: &str = "v=0\r\no=- 2 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

/// A caller's request, built from parts.
#[derive(Clone)]
pub(super) struct Msg {
    pub method: &'static str,
    pub uri: String,
    pub branch: String,
    pub call_id: String,
    pub from_tag: String,
    pub to_tag: Option<String>,
    pub cseq: u32,
    pub extra: String,
    pub body: Option<(&'static str, String)>,
    pub transport: &'static str,
}

impl Msg {
    pub fn invite(call_id: &str) -> Self {
        Self {
            method: "INVITE",
            uri: "sip:agent@192.0.2.1:5060".into(),
            branch: format!("z9hG4bK-{call_id}-1"),
            call_id: call_id.into(),
            from_tag: "caller-tag".into(),
            to_tag: None,
            cseq: 1,
            extra: String::new(),
            body: Some(("application/sdp", OFFER.into())),
            transport: "UDP",
        }
    }

    /// An in-dialog request of the caller in the dialog of `invite`.
    pub fn in_dialog(
        invite: &Msg,
        method: &'static str,
        to_tag: &str,
        cseq: u32,
        branch: &str,
    ) -> Self {
        Self {
            method,
            branch: branch.into(),
            to_tag: Some(to_tag.into()),
            cseq,
            body: None,
            extra: String::new(),
            ..invite.clone()
        }
    }

    pub fn render(&self) -> String {
        let to = match &self.to_tag {
            Some(t) => format!("<sip:agent@192.0.2.1>;tag={t}"),
            None => "<sip:agent@192.0.2.1>".into(),
        };
        let (ctype, body) = match &self.body {
            Some((t, b)) => (format!("Content-Type: {t}\r\n"), b.clone()),
            None => (String::new(), String::new()),
        };
        format!(
            "{} {} SIP/2.0\r\nVia: SIP/2.0/{} 192.0.2.10:5062;branch={};rport\r\nMax-Forwards: 70\r\nFrom: \"Alice\" <sip:+15550001@192.0.2.10>;tag={}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} {}\r\nContact: <sip:alice@192.0.2.10:5062>\r\n{}{}Content-Length: {}\r\n\r\n{}",
            self.method, self.uri, self.transport, self.branch, self.from_tag, to, self.call_id, self.cseq, self.method,
            self.extra, ctype, body.len(), body
        )
    }
}

pub(super) struct Harness {
    pub core: UasCore,
    pub now: Instant,
}

impl Harness {
    pub fn new() -> Self {
        Self::with(|_| {})
    }

    pub fn with(f: impl FnOnce(&mut UasConfig)) -> Self {
        let mut config = UasConfig {
            user_agent: "ParlaTest".into(),
            contact_host: "192.0.2.1".into(),
            contact_port: 5060,
            rng_seed: Some(7),
            ..UasConfig::default()
        };
        f(&mut config);
        Self {
            core: UasCore::new(config),
            now: Instant::now(),
        }
    }

    pub fn caller() -> SocketAddr {
        CALLER.parse().unwrap()
    }

    /// Feeds a UDP message from the caller and returns the outputs.
    pub fn send(&mut self, msg: &str) -> Vec<UasOutput> {
        self.core.handle_datagram(
            self.now,
            Transport::Udp,
            Self::caller(),
            None,
            msg.as_bytes(),
        );
        self.drain()
    }

    pub fn send_tcp(&mut self, conn: u64, msg: &str) -> Vec<UasOutput> {
        self.core.handle_datagram(
            self.now,
            Transport::Tcp,
            Self::caller(),
            Some(ConnId(conn)),
            msg.as_bytes(),
        );
        self.drain()
    }

    pub fn drain(&mut self) -> Vec<UasOutput> {
        std::iter::from_fn(|| self.core.poll_output()).collect()
    }

    /// Advances the virtual clock by `d`, firing every timer on the way.
    pub fn advance(&mut self, d: Duration) -> Vec<UasOutput> {
        let end = self.now + d;
        let mut out = Vec::new();
        while let Some(at) = self.core.poll_timeout() {
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            self.core.handle_timeout(self.now);
            out.extend(self.drain());
        }
        self.now = end;
        out
    }

    /// INVITE → 100 + Incoming. Returns the call key and our To tag after
    /// ringing (180).
    pub fn offered(&mut self, invite: &Msg) -> CallKey {
        let out = self.send(&invite.render());
        assert_eq!(statuses(&out), vec![100]);
        incoming(&out).expect("Incoming").call
    }

    /// A call up to Confirmed; returns (call, our tag).
    pub fn confirmed(&mut self, invite: &Msg) -> (CallKey, String) {
        let call = self.offered(invite);
        self.core.answer(self.now, call, ANSWER.into()).unwrap();
        let out = self.drain();
        let ok = responses(&out).pop().expect("200");
        let tag = to_tag(&ok);
        let ack = Msg::in_dialog(invite, "ACK", &tag, invite.cseq, "z9hG4bK-ack-1");
        let out = self.send(&ack.render());
        assert_eq!(events(&out), vec![(call, CallEvent::Confirmed)]);
        (call, tag)
    }
}

pub(super) fn parse(bytes: &[u8]) -> SipMessage {
    SipMessage::try_from(bytes).expect("core produced unparseable bytes")
}

pub(super) fn transmits(out: &[UasOutput]) -> Vec<&super::Transmit> {
    out.iter()
        .filter_map(|o| match o {
            UasOutput::Transmit(t) => Some(t),
            _ => None,
        })
        .collect()
}

pub(super) fn responses(out: &[UasOutput]) -> Vec<Response> {
    transmits(out)
        .into_iter()
        .filter_map(|t| match parse(&t.bytes) {
            SipMessage::Response(r) => Some(r),
            _ => None,
        })
        .collect()
}

pub(super) fn requests(out: &[UasOutput]) -> Vec<Request> {
    transmits(out)
        .into_iter()
        .filter_map(|t| match parse(&t.bytes) {
            SipMessage::Request(r) => Some(r),
            _ => None,
        })
        .collect()
}

pub(super) fn statuses(out: &[UasOutput]) -> Vec<u16> {
    responses(out)
        .iter()
        .map(|r| r.status_code.code())
        .collect()
}

pub(super) fn events(out: &[UasOutput]) -> Vec<(CallKey, CallEvent)> {
    out.iter()
        .filter_map(|o| match o {
            UasOutput::Event { call, event } => Some((*call, event.clone())),
            _ => None,
        })
        .collect()
}

pub(super) fn incoming(out: &[UasOutput]) -> Option<IncomingCallInfo> {
    out.iter().find_map(|o| match o {
        UasOutput::Incoming(i) => Some(i.clone()),
        _ => None,
    })
}

pub(super) fn to_tag(resp: &Response) -> String {
    crate::dialog::tag_of(resp.to_header().unwrap().value()).expect("To tag")
}

pub(super) fn header<'a>(msg: &'a Response, name: &str) -> Option<&'a str> {
    msg.headers
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case(name))
        .map(Header::value)
}

pub(super) fn cseq(resp: &Response) -> String {
    resp.cseq_header().unwrap().value().to_string()
}
