//! Dialog state (RFC 3261 §12), UAS and UAC side, and the 2xx retransmission the UAS core
//! performs until the ACK arrives (§13.3.1.4).

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use rsipstack::sip::headers::untyped::{CallId, ContentLength, MaxForwards, UserAgent};
use rsipstack::sip::headers::untyped::{From as FromHeader, Route, To as ToHeader, Via};
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::typed::{CSeq, Contact};
use rsipstack::sip::{Header, Headers, Host, Method, Request, Response, Uri, Version};

use crate::transaction::{Backoff, TimerConfig};

/// Max-Forwards of requests we originate (RFC 3261 §8.1.1.6).
pub const DEFAULT_MAX_FORWARDS: u32 = 70;

/// RFC 3261 §12 dialog states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    /// Created by a provisional response with a To tag (or pending the
    /// final response).
    Early,
    /// A 2xx was sent (and, for the call, ACKed).
    Confirmed,
    /// Ended by BYE, CANCEL, a non-2xx final response or a timeout.
    Terminated,
}

/// Why a dialog cannot be built from an INVITE.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    /// A header the dialog needs is missing or malformed.
    #[error("INVITE cannot create a dialog: {0}")]
    BadHeader(&'static str),
}

/// The dialog state a UAS keeps (RFC 3261 §12.1.1).
#[derive(Debug, Clone)]
pub struct Dialog {
    /// Call-ID of the dialog.
    pub call_id: String,
    /// Our tag (To tag of our responses, From tag of our requests).
    pub local_tag: String,
    /// The caller's From tag ("" for RFC 2543 peers without one).
    pub remote_tag: String,
    /// The From header value we use in requests we send: the INVITE's To
    /// plus our tag.
    pub local_party: String,
    /// The To header value we use in requests we send: the INVITE's From.
    pub remote_party: String,
    /// Remote target: the Contact URI of the INVITE (updated by re-INVITEs,
    /// §12.2.2).
    pub remote_target: Uri,
    /// Route set: the INVITE's Record-Route entries in order (§12.1.1).
    pub route_set: Vec<String>,
    /// Local CSeq, incremented for every request we send (§12.2.1.1).
    pub local_cseq: u32,
    /// Highest CSeq seen from the remote party (§12.2.2).
    pub remote_cseq: u32,
    /// RFC dialog state.
    pub state: DialogState,
}

fn header_value(req: &Request, pick: fn(&Header) -> bool) -> Option<&str> {
    req.headers.iter().find(|h| pick(h)).map(|h| h.value())
}

/// The tag parameter of a From/To value, if any.
pub fn tag_of(value: &str) -> Option<String> {
    // Header parameters follow the closing '>' of a name-addr; in the
    // addr-spec form every parameter is a header parameter (§20.10).
    let params = match value.rfind('>') {
        Some(i) => &value[i + 1..],
        None => value.find(';').map(|i| &value[i..]).unwrap_or(""),
    };
    params.split(';').find_map(|p| {
        let (name, v) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("tag")
            .then(|| v.trim().to_string())
    })
}

impl Dialog {
    /// Builds the UAS side of the dialog an INVITE creates (RFC 3261
    /// §12.1.1). `local_cseq` is the initial local sequence number.
    pub fn from_invite(
        req: &Request,
        local_tag: String,
        local_cseq: u32,
    ) -> Result<Self, DialogError> {
        let call_id = req
            .call_id_header()
            .map_err(|_| DialogError::BadHeader("Call-ID"))?
            .value()
            .trim()
            .to_string();
        let from = header_value(req, |h| matches!(h, Header::From(_)))
            .ok_or(DialogError::BadHeader("From"))?;
        let to = header_value(req, |h| matches!(h, Header::To(_)))
            .ok_or(DialogError::BadHeader("To"))?;
        let has_contact = req.headers.iter().any(|h| matches!(h, Header::Contact(_)));
        let remote_target = if has_contact {
            let contact = req
                .contact_header()
                .map_err(|_| DialogError::BadHeader("Contact"))?;
            Contact::parse(contact.value())
                .map_err(|_| DialogError::BadHeader("Contact"))?
                .uri
        } else {
            // RFC 2543 made Contact optional (RFC 3261 §8.1.1.8 requires it);
            // without one, in-dialog requests go to the From URI (RFC 4475 §3.4.1).
            Contact::parse(from)
                .map_err(|_| DialogError::BadHeader("From"))?
                .uri
        };
        let remote_cseq = req
            .cseq_header()
            .ok()
            .and_then(|c| c.seq().ok())
            .ok_or(DialogError::BadHeader("CSeq"))?;
        let route_set = req
            .headers
            .iter()
            .filter_map(|h| match h {
                Header::RecordRoute(rr) => Some(rr.value().trim().to_string()),
                _ => None,
            })
            .collect();
        Ok(Self {
            call_id,
            remote_tag: tag_of(from).unwrap_or_default(),
            local_party: format!("{};tag={}", to.trim(), local_tag),
            remote_party: from.trim().to_string(),
            local_tag,
            remote_target,
            route_set,
            local_cseq,
            remote_cseq,
            state: DialogState::Early,
        })
    }

    /// Builds the UAC side of the dialog a response to our INVITE creates
    /// (RFC 3261 §12.1.2): the Call-ID, From (our tag) and CSeq of the
    /// INVITE, the response's To (the remote tag is required), its Contact
    /// as the remote target (the INVITE's Request-URI when it has none) and
    /// its Record-Route entries in reverse order as the route set. The
    /// remote CSeq starts empty (0). The state is Confirmed for a 2xx and
    /// Early otherwise.
    pub fn from_uac_response(invite: &Request, resp: &Response) -> Result<Self, DialogError> {
        let call_id = invite
            .call_id_header()
            .map_err(|_| DialogError::BadHeader("Call-ID"))?
            .value()
            .trim()
            .to_string();
        let from = header_value(invite, |h| matches!(h, Header::From(_)))
            .ok_or(DialogError::BadHeader("From"))?;
        let local_tag = tag_of(from).ok_or(DialogError::BadHeader("From tag"))?;
        let to = resp
            .headers
            .iter()
            .find(|h| matches!(h, Header::To(_)))
            .map(|h| h.value().trim().to_string())
            .ok_or(DialogError::BadHeader("To"))?;
        let remote_tag = tag_of(&to)
            .filter(|t| !t.is_empty())
            .ok_or(DialogError::BadHeader("To tag"))?;
        let remote_target = match resp.headers.iter().find_map(|h| match h {
            Header::Contact(c) => Some(c.value().to_string()),
            _ => None,
        }) {
            Some(c) => {
                Contact::parse(&c)
                    .map_err(|_| DialogError::BadHeader("Contact"))?
                    .uri
            }
            None => invite.uri.clone(),
        };
        let local_cseq = invite
            .cseq_header()
            .ok()
            .and_then(|c| c.seq().ok())
            .ok_or(DialogError::BadHeader("CSeq"))?;
        let mut route_set: Vec<String> = resp
            .headers
            .iter()
            .filter_map(|h| match h {
                Header::RecordRoute(rr) => Some(rr.value().trim().to_string()),
                _ => None,
            })
            .collect();
        route_set.reverse();
        let status = resp.status_code.code();
        Ok(Self {
            call_id,
            local_tag,
            remote_tag,
            local_party: from.trim().to_string(),
            remote_party: to,
            remote_target,
            route_set,
            local_cseq,
            remote_cseq: 0,
            state: if (200..300).contains(&status) {
                DialogState::Confirmed
            } else {
                DialogState::Early
            },
        })
    }

    /// RFC 3261 §12.2.2: a request with a CSeq lower than the last one seen
    /// is out of order (the caller answers 500); otherwise the remote CSeq
    /// advances. Returns `false` for out-of-order requests.
    pub fn accept_remote_cseq(&mut self, cseq: u32) -> bool {
        if cseq < self.remote_cseq {
            return false;
        }
        self.remote_cseq = cseq;
        true
    }

    /// A target refresh (re-INVITE) may change the remote target
    /// (§12.2.2).
    pub fn refresh_target(&mut self, req: &Request) {
        if let Some(uri) = req
            .contact_header()
            .ok()
            .and_then(|c| Contact::parse(c.value()).ok())
        {
            self.remote_target = uri.uri;
        }
    }

    fn first_route_uri(&self) -> Option<Uri> {
        let first = self.route_set.first()?;
        rsipstack::sip::typed::RecordRoute::parse(first)
            .ok()
            .map(|r| r.uri)
    }

    /// The Request-URI and Route header values of an in-dialog request
    /// (RFC 3261 §12.2.1.1, both loose and strict routing).
    pub fn request_target(&self) -> (Uri, Vec<String>) {
        match self.first_route_uri() {
            None => (self.remote_target.clone(), Vec::new()),
            Some(first)
                if first
                    .params
                    .iter()
                    .any(|p| matches!(p, rsipstack::sip::Param::Lr)) =>
            {
                (self.remote_target.clone(), self.route_set.clone())
            }
            Some(first) => {
                // Strict router: it becomes the Request-URI, the remote
                // target goes last in Route.
                let mut routes: Vec<String> = self.route_set[1..].to_vec();
                routes.push(format!("<{}>", self.remote_target));
                let mut uri = first;
                uri.headers.clear();
                (uri, routes)
            }
        }
    }

    /// Where an in-dialog request goes when the next hop (first route, or
    /// the remote target) is an IP literal; `None` for host names (no DNS
    /// in the sans-IO core: the caller falls back to the signalling source).
    pub fn next_hop(&self) -> Option<SocketAddr> {
        let uri = self
            .first_route_uri()
            .unwrap_or_else(|| self.remote_target.clone());
        let ip: IpAddr = match &uri.host_with_port.host {
            Host::IpAddr(ip) => *ip,
            Host::Domain(d) => d.0.trim_matches(|c| c == '[' || c == ']').parse().ok()?,
        };
        let port = uri
            .host_with_port
            .port
            .as_ref()
            .map(|p| p.0)
            .unwrap_or(5060);
        Some(SocketAddr::new(ip, port))
    }

    /// Builds an in-dialog request (RFC 3261 §12.2.1.1): increments the
    /// local CSeq, copies the route set, uses `via` (a complete Via value
    /// with our branch) as the only Via.
    pub fn build_request(&mut self, method: Method, via: String, user_agent: &str) -> Request {
        self.local_cseq = self.local_cseq.wrapping_add(1);
        self.request_with_seq(method, self.local_cseq, via, user_agent)
    }

    /// The ACK for a 2xx to the INVITE with CSeq `invite_cseq` (RFC 3261
    /// §13.2.2.4): built like any in-dialog request, but with the INVITE's
    /// sequence number (the local CSeq does not advance) and method ACK.
    /// The caller adds the INVITE's credentials, if any.
    pub fn build_ack(&self, invite_cseq: u32, via: String, user_agent: &str) -> Request {
        self.request_with_seq(Method::Ack, invite_cseq, via, user_agent)
    }

    fn request_with_seq(&self, method: Method, seq: u32, via: String, user_agent: &str) -> Request {
        let (uri, routes) = self.request_target();
        let mut headers = Headers::default();
        headers.push(Header::Via(Via::new(via)));
        headers.push(Header::MaxForwards(MaxForwards::new(
            DEFAULT_MAX_FORWARDS.to_string(),
        )));
        for r in routes {
            headers.push(Header::Route(Route::new(r)));
        }
        headers.push(Header::From(FromHeader::new(self.local_party.clone())));
        headers.push(Header::To(ToHeader::new(self.remote_party.clone())));
        headers.push(Header::CallId(CallId::new(self.call_id.clone())));
        headers.push(CSeq { seq, method }.into());
        if !user_agent.is_empty() {
            headers.push(Header::UserAgent(UserAgent::new(user_agent)));
        }
        headers.push(Header::ContentLength(ContentLength::new("0")));
        Request {
            method,
            uri,
            version: Version::V2,
            headers,
            body: Vec::new(),
        }
    }
}

/// What [`OkRetransmitter::on_timer`] asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OkRetransmit {
    /// Send the 2xx again (these bytes).
    Retransmit(Vec<u8>),
    /// 64*T1 passed without an ACK: confirm and end the session with BYE
    /// (§13.3.1.4).
    GiveUp,
}

/// RFC 3261 §13.3.1.4: the UAS core retransmits a 2xx to INVITE starting at
/// T1 and doubling up to T2 until the ACK arrives, for at most 64*T1. This
/// is done on every transport, reliable or not.
#[derive(Debug, Clone)]
pub struct OkRetransmitter {
    bytes: Vec<u8>,
    cseq: u32,
    backoff: Backoff,
    give_up: Instant,
}

impl OkRetransmitter {
    /// Starts after the first transmission of the 2xx (sent by the caller).
    pub fn new(now: Instant, timers: TimerConfig, cseq: u32, bytes: Vec<u8>) -> Self {
        Self {
            bytes,
            cseq,
            backoff: Backoff::start(now, timers.t1, timers.t2),
            give_up: now + timers.t1x64(),
        }
    }

    /// CSeq number of the INVITE the 2xx answers (the ACK carries it).
    pub fn cseq(&self) -> u32 {
        self.cseq
    }

    /// Processes the timer at `now`.
    pub fn on_timer(&mut self, now: Instant) -> Option<OkRetransmit> {
        if now >= self.give_up {
            return Some(OkRetransmit::GiveUp);
        }
        if self.backoff.is_due(now) {
            self.backoff.double(now);
            return Some(OkRetransmit::Retransmit(self.bytes.clone()));
        }
        None
    }

    /// When the timer fires next.
    pub fn next_deadline(&self) -> Instant {
        self.backoff.next.min(self.give_up)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn invite(extra: &str) -> Request {
        let text = format!(
            "INVITE sip:agent@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKx\r\n{extra}From: \"Alice\" <sip:alice@example.com>;tag=abc\r\nTo: <sip:agent@10.0.0.1>\r\nCall-ID: call-1\r\nCSeq: 10 INVITE\r\nContact: <sip:alice@10.0.0.2:5062>\r\nContent-Length: 0\r\n\r\n"
        );
        Request::try_from(text.as_str()).unwrap()
    }

    #[test]
    fn builds_from_invite() {
        let d = Dialog::from_invite(&invite(""), "me".into(), 100).unwrap();
        assert_eq!(d.call_id, "call-1");
        assert_eq!(d.remote_tag, "abc");
        assert_eq!(d.local_party, "<sip:agent@10.0.0.1>;tag=me");
        assert_eq!(d.remote_target.to_string(), "sip:alice@10.0.0.2:5062");
        assert_eq!(d.remote_cseq, 10);
        assert_eq!(d.next_hop(), Some("10.0.0.2:5062".parse().unwrap()));
        assert_eq!(d.state, DialogState::Early);
    }

    #[test]
    fn missing_contact_targets_the_from_uri_rfc2543() {
        let text = "INVITE sip:a@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:b@192.0.2.7:5070>;tag=1\r\nTo: <sip:a@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        let req = Request::try_from(text).unwrap();
        let d = Dialog::from_invite(&req, "t".into(), 1).unwrap();
        assert_eq!(d.remote_target.to_string(), "sip:b@192.0.2.7:5070");
    }

    #[test]
    fn malformed_contact_is_an_error() {
        let text = "INVITE sip:a@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:b@h>;tag=1\r\nTo: <sip:a@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContact: <not a uri\r\nContent-Length: 0\r\n\r\n";
        let req = Request::try_from(text).unwrap();
        assert_eq!(
            Dialog::from_invite(&req, "t".into(), 1).unwrap_err(),
            DialogError::BadHeader("Contact")
        );
    }

    #[test]
    fn bye_with_loose_route_set() {
        let req = invite(
            "Record-Route: <sip:p1.example.com;lr>\r\nRecord-Route: <sip:192.0.2.9:5070;lr>\r\n",
        );
        let mut d = Dialog::from_invite(&req, "me".into(), 100).unwrap();
        let bye = d.build_request(
            Method::Bye,
            "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKb;rport".into(),
            "Parla",
        );
        assert_eq!(bye.uri.to_string(), "sip:alice@10.0.0.2:5062");
        let routes: Vec<_> = bye
            .route_headers()
            .iter()
            .map(|r| r.value().to_string())
            .collect();
        assert_eq!(
            routes,
            vec!["<sip:p1.example.com;lr>", "<sip:192.0.2.9:5070;lr>"]
        );
        assert_eq!(bye.cseq_header().unwrap().value(), "101 BYE");
        assert_eq!(
            bye.from_header().unwrap().value(),
            "<sip:agent@10.0.0.1>;tag=me"
        );
        assert_eq!(
            bye.to_header().unwrap().value(),
            "\"Alice\" <sip:alice@example.com>;tag=abc"
        );
        // Next hop is the first route; a host name cannot be resolved here.
        assert_eq!(d.next_hop(), None);
    }

    #[test]
    fn bye_with_strict_route() {
        let req = invite("Record-Route: <sip:192.0.2.7:5080>\r\n");
        let mut d = Dialog::from_invite(&req, "me".into(), 1).unwrap();
        let bye = d.build_request(Method::Bye, "SIP/2.0/UDP h;branch=z9hG4bKb".into(), "");
        assert_eq!(bye.uri.to_string(), "sip:192.0.2.7:5080");
        let routes: Vec<_> = bye
            .route_headers()
            .iter()
            .map(|r| r.value().to_string())
            .collect();
        assert_eq!(routes, vec!["<sip:alice@10.0.0.2:5062>"]);
        assert_eq!(d.next_hop(), Some("192.0.2.7:5080".parse().unwrap()));
    }

    #[test]
    fn uac_dialog_from_2xx_reverses_record_route() {
        let invite = Request::try_from(
            "INVITE sip:bob@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa\r\nFrom: <sip:parla@10.0.0.1>;tag=ours\r\nTo: <sip:bob@192.0.2.1>\r\nCall-ID: c1\r\nCSeq: 2 INVITE\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        let ok = Response::try_from(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa\r\nRecord-Route: <sip:192.0.2.8;lr>\r\nRecord-Route: <sip:192.0.2.9;lr>\r\nFrom: <sip:parla@10.0.0.1>;tag=ours\r\nTo: <sip:bob@192.0.2.1>;tag=theirs\r\nCall-ID: c1\r\nCSeq: 2 INVITE\r\nContact: <sip:bob@192.0.2.2:5070>\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        let mut d = Dialog::from_uac_response(&invite, &ok).unwrap();
        assert_eq!(d.local_tag, "ours");
        assert_eq!(d.remote_tag, "theirs");
        assert_eq!(d.state, DialogState::Confirmed);
        assert_eq!(
            d.route_set,
            vec!["<sip:192.0.2.9;lr>", "<sip:192.0.2.8;lr>"]
        );
        assert_eq!(d.next_hop(), Some("192.0.2.9:5060".parse().unwrap()));
        let ack = d.build_ack(2, "SIP/2.0/UDP h;branch=z9hG4bKack".into(), "");
        assert_eq!(ack.cseq_header().unwrap().value(), "2 ACK");
        assert_eq!(ack.uri.to_string(), "sip:bob@192.0.2.2:5070");
        let bye = d.build_request(Method::Bye, "SIP/2.0/UDP h;branch=z9hG4bKb".into(), "");
        assert_eq!(bye.cseq_header().unwrap().value(), "3 BYE");
        assert_eq!(
            bye.to_header().unwrap().value(),
            "<sip:bob@192.0.2.1>;tag=theirs"
        );
        let no_tag = Response::try_from(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa\r\nFrom: <sip:parla@10.0.0.1>;tag=ours\r\nTo: <sip:bob@192.0.2.1>\r\nCall-ID: c1\r\nCSeq: 2 INVITE\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            Dialog::from_uac_response(&invite, &no_tag).unwrap_err(),
            DialogError::BadHeader("To tag")
        );
    }

    #[test]
    fn remote_cseq_order() {
        let mut d = Dialog::from_invite(&invite(""), "me".into(), 1).unwrap();
        assert!(d.accept_remote_cseq(11));
        assert!(!d.accept_remote_cseq(9));
        assert!(d.accept_remote_cseq(11));
    }

    #[test]
    fn tag_extraction() {
        assert_eq!(tag_of("<sip:a@b;tag=no>;tag=yes").as_deref(), Some("yes"));
        assert_eq!(tag_of("sip:a@b;tag=x").as_deref(), Some("x"));
        assert_eq!(tag_of("<sip:a@b>"), None);
    }

    #[test]
    fn ok_retransmitter_doubles_then_gives_up() {
        let now = Instant::now();
        let timers = TimerConfig::default();
        let mut ok = OkRetransmitter::new(now, timers, 10, b"200".to_vec());
        let mut t = now;
        let mut sent = 0;
        let mut ms = Vec::new();
        loop {
            let next = ok.next_deadline();
            ms.push((next - t).as_millis());
            t = next;
            match ok.on_timer(t) {
                Some(OkRetransmit::Retransmit(b)) => {
                    assert_eq!(b, b"200");
                    sent += 1;
                }
                Some(OkRetransmit::GiveUp) => break,
                None => panic!("timer fired with nothing due"),
            }
        }
        assert_eq!(&ms[..5], &[500, 1000, 2000, 4000, 4000]);
        assert_eq!(t, now + Duration::from_secs(32));
        assert_eq!(sent, 10, "0.5+1+2+4*7 = 31.5 s of retransmissions");
    }
}
