//! SIP messages of the caller's one INVITE dialog (RFC 3261), built and
//! parsed with `rsipstack::sip`.

use std::net::SocketAddr;

use anyhow::Context as _;
use rsipstack::sip::{
    self as rsip,
    headers::{
        Accept, Allow, CSeq, CallId, Contact, ContentLength, ContentType, From, MaxForwards, Route,
        To, UserAgent, Via,
    },
    prelude::*,
    Header, Headers, Method, Request, Response, SipMessage, StatusCode, Uri, Version,
};

pub const USER_AGENT: &str = "parla-call (testkit)";
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY";

/// RFC 3261 §8.1.1.7 magic cookie + 64 random bits.
pub fn new_branch() -> String {
    format!("z9hG4bK{:016x}", rand::random::<u64>())
}

pub fn new_tag() -> String {
    format!("{:08x}", rand::random::<u32>())
}

/// The caller's side of the dialog: everything needed to build its requests.
#[derive(Clone, Debug)]
pub struct Leg {
    /// Our SIP socket address (Via sent-by and Contact).
    pub local: SocketAddr,
    /// Where requests go when nothing better is known (the SIP server).
    pub target: SocketAddr,
    pub request_uri: Uri,
    pub call_id: String,
    /// `From` header value with our tag.
    pub from: String,
    /// `To` header value of the INVITE (no tag).
    pub to: String,
    pub contact: String,
    pub invite_branch: String,
    /// From the 2xx: the To value with the remote tag, the remote target
    /// (Contact) and the route set (Record-Route, reversed).
    pub remote_to: Option<String>,
    pub remote_target: Option<Uri>,
    pub route_set: Vec<String>,
}

impl Leg {
    pub fn new(
        local: SocketAddr,
        target: SocketAddr,
        request_uri: &str,
        from_user: &str,
    ) -> anyhow::Result<Self> {
        let uri = rsip::parse_uri(request_uri)
            .with_context(|| format!("bad request URI {request_uri:?}"))?;
        let from_user = if from_user.is_empty() {
            "parla-call"
        } else {
            from_user
        };
        let host = host_of(local);
        Ok(Leg {
            local,
            target,
            call_id: format!("{:032x}@{}", rand::random::<u128>(), host),
            from: format!("<sip:{from_user}@{host}>;tag={}", new_tag()),
            to: format!("<{uri}>"),
            contact: format!("<sip:{from_user}@{local}>"),
            request_uri: uri,
            invite_branch: new_branch(),
            remote_to: None,
            remote_target: None,
            route_set: Vec::new(),
        })
    }

    fn via(&self, branch: &str) -> Header {
        Header::Via(Via::new(format!(
            "SIP/2.0/UDP {};branch={branch};rport",
            self.local
        )))
    }

    fn base(
        &self,
        method: Method,
        uri: Uri,
        branch: &str,
        to: &str,
        cseq: u32,
        with_routes: bool,
    ) -> Request {
        let mut h: Vec<Header> = vec![
            self.via(branch),
            Header::MaxForwards(MaxForwards::new("70")),
        ];
        if with_routes {
            for r in &self.route_set {
                h.push(Header::Route(Route::new(r.clone())));
            }
        }
        h.push(Header::From(From::new(self.from.clone())));
        h.push(Header::To(To::new(to.to_string())));
        h.push(Header::CallId(CallId::new(self.call_id.clone())));
        h.push(Header::CSeq(CSeq::new(format!("{cseq} {method}"))));
        Request {
            method,
            uri,
            version: Version::V2,
            headers: Headers::from(h),
            body: Vec::new(),
        }
    }

    pub fn invite(&self, sdp: &str) -> Request {
        let mut r = self.base(
            Method::Invite,
            self.request_uri.clone(),
            &self.invite_branch,
            &self.to,
            1,
            false,
        );
        r.headers
            .push(Header::Contact(Contact::new(self.contact.clone())));
        r.headers.push(Header::Allow(Allow::new(ALLOW)));
        r.headers
            .push(Header::UserAgent(UserAgent::new(USER_AGENT)));
        r.headers
            .push(Header::ContentType(ContentType::new("application/sdp")));
        r.headers.push(Header::ContentLength(ContentLength::new(
            sdp.len().to_string(),
        )));
        r.body = sdp.as_bytes().to_vec();
        r
    }

    /// CANCEL: same Request-URI, Call-ID, From, To and Via branch as the
    /// INVITE, CSeq 1 CANCEL (RFC 3261 §9.1).
    pub fn cancel(&self) -> Request {
        let mut r = self.base(
            Method::Cancel,
            self.request_uri.clone(),
            &self.invite_branch,
            &self.to,
            1,
            false,
        );
        r.headers
            .push(Header::ContentLength(ContentLength::new("0")));
        r
    }

    /// ACK for a non-2xx final response: part of the INVITE transaction, so
    /// same branch, the response's To (with its tag) (RFC 3261 §17.1.1.3).
    pub fn ack_non2xx(&self, response_to: &str) -> Request {
        let mut r = self.base(
            Method::Ack,
            self.request_uri.clone(),
            &self.invite_branch,
            response_to,
            1,
            false,
        );
        r.headers
            .push(Header::ContentLength(ContentLength::new("0")));
        r
    }

    /// In-dialog request (ACK for the 2xx, BYE): to the remote target with
    /// the route set, a new branch (RFC 3261 §12.2.1.1, §13.2.2.4).
    pub fn in_dialog(&self, method: Method, cseq: u32) -> Request {
        let to = self.remote_to.clone().unwrap_or_else(|| self.to.clone());
        let uri = self
            .remote_target
            .clone()
            .unwrap_or_else(|| self.request_uri.clone());
        let mut r = self.base(method, uri, &new_branch(), &to, cseq, true);
        if method != Method::Ack {
            r.headers
                .push(Header::UserAgent(UserAgent::new(USER_AGENT)));
        }
        r.headers
            .push(Header::ContentLength(ContentLength::new("0")));
        r
    }

    /// Where in-dialog requests go: the proxy when there is a route set, else
    /// the remote target when it is an IP address, else the server.
    pub fn in_dialog_destination(&self) -> SocketAddr {
        if !self.route_set.is_empty() {
            return self.target;
        }
        self.remote_target
            .as_ref()
            .and_then(uri_socket_addr)
            .unwrap_or(self.target)
    }

    /// Takes the dialog state from a 2xx to the INVITE.
    pub fn learn_from_2xx(&mut self, resp: &Response) {
        if let Ok(to) = resp.to_header() {
            self.remote_to = Some(to.value().to_string());
        }
        if let Ok(contacts) = resp.typed_contact_headers() {
            if let Some(c) = contacts.into_iter().next() {
                self.remote_target = Some(c.uri);
            }
        }
        self.route_set = record_route_entries(&resp.headers)
            .into_iter()
            .rev()
            .collect();
    }

    /// Takes a new remote target from an in-dialog request's Contact.
    pub fn learn_target(&mut self, req: &Request) {
        if let Ok(contacts) = req.typed_contact_headers() {
            if let Some(c) = contacts.into_iter().next() {
                self.remote_target = Some(c.uri);
            }
        }
    }
}

/// `[v6]` or `v4` host text of a socket address.
fn host_of(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(v4) => v4.ip().to_string(),
        SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
    }
}

/// The socket address of a `sip:` URI whose host is an IP literal.
pub fn uri_socket_addr(uri: &Uri) -> Option<SocketAddr> {
    let hp = &uri.host_with_port;
    let ip = match &hp.host {
        rsip::Host::IpAddr(ip) => *ip,
        rsip::Host::Domain(d) => d
            .to_string()
            .trim_matches(|c| c == '[' || c == ']')
            .parse()
            .ok()?,
    };
    let port = hp.port.as_ref().map(|p| p.value()).unwrap_or(5060);
    Some(SocketAddr::new(ip, port))
}

/// Record-Route entries, one string each, in message order.
fn record_route_entries(headers: &Headers) -> Vec<String> {
    let mut out = Vec::new();
    for h in headers.iter() {
        if let Header::RecordRoute(rr) = h {
            out.extend(split_header_list(rr.value()));
        }
    }
    out
}

/// Splits a comma-separated header value, ignoring commas inside `<...>` or
/// quotes.
fn split_header_list(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0usize);
    for (i, c) in v.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(v[start..i].trim().to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = v[start..].trim();
    if !last.is_empty() {
        out.push(last.to_string());
    }
    out
}

/// A response to an incoming request: Via(s), From, To, Call-ID and CSeq
/// copied (RFC 3261 §8.2.6.2), plus `extra` headers and an optional SDP body.
pub fn response_to(req: &Request, code: u16, extra: Vec<Header>, sdp: Option<&str>) -> Response {
    let mut h: Vec<Header> = req
        .headers
        .iter()
        .filter(|h| {
            matches!(
                h,
                Header::Via(_)
                    | Header::From(_)
                    | Header::To(_)
                    | Header::CallId(_)
                    | Header::CSeq(_)
            )
        })
        .cloned()
        .collect();
    h.extend(extra);
    h.push(Header::UserAgent(UserAgent::new(USER_AGENT)));
    let body = match sdp {
        Some(s) => {
            h.push(Header::ContentType(ContentType::new("application/sdp")));
            s.as_bytes().to_vec()
        }
        None => Vec::new(),
    };
    h.push(Header::ContentLength(ContentLength::new(
        body.len().to_string(),
    )));
    Response {
        status_code: StatusCode::from(code),
        wire_reason: None,
        version: Version::V2,
        headers: Headers::from(h),
        body,
    }
}

/// Headers for a 200 to OPTIONS / re-INVITE.
pub fn capability_headers(contact: &str) -> Vec<Header> {
    vec![
        Header::Contact(Contact::new(contact.to_string())),
        Header::Allow(Allow::new(ALLOW)),
        Header::Accept(Accept::new("application/sdp")),
    ]
}

/// The first line of a datagram, for the SIP log.
pub fn first_line(bytes: &[u8]) -> String {
    let end = bytes
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end.min(200)]).into_owned()
}

/// Parses a datagram into a SIP message (`None` for keep-alives and junk).
pub fn parse(bytes: &[u8]) -> Option<SipMessage> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return None;
    }
    rsip::parser::parse_message(bytes).ok()
}

/// CSeq number and method of a message.
pub fn cseq_of<M: HeadersExt>(m: &M) -> Option<(u32, Method)> {
    let c = m.cseq_header().ok()?;
    Some((c.seq().ok()?, c.method().ok()?))
}

pub fn call_id_of<M: HeadersExt>(m: &M) -> Option<String> {
    m.call_id_header()
        .ok()
        .map(|c| c.value().trim().to_string())
}

pub fn top_branch<M: HeadersExt>(m: &M) -> Option<String> {
    let via = m.top_via_header().ok()?;
    let typed = via.typed().ok()?;
    typed.branch().map(|b| b.value().to_string())
}

pub fn to_tag<M: HeadersExt>(m: &M) -> Option<String> {
    m.to_header()
        .ok()?
        .tag()
        .ok()?
        .map(|t| t.value().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg() -> Leg {
        Leg::new(
            "127.0.0.1:40000".parse().unwrap(),
            "127.0.0.1:5060".parse().unwrap(),
            "sip:+15551234@127.0.0.1:5060",
            "alice",
        )
        .unwrap()
    }

    #[test]
    fn invite_is_well_formed_and_reparses() {
        let l = leg();
        let sdp = "v=0\r\n";
        let bytes = l.invite(sdp).to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with("INVITE sip:+15551234@127.0.0.1:5060 SIP/2.0\r\n"),
            "{text}"
        );
        assert!(text.contains(&format!(
            "Via: SIP/2.0/UDP 127.0.0.1:40000;branch={};rport\r\n",
            l.invite_branch
        )));
        assert!(l.invite_branch.starts_with("z9hG4bK") && l.invite_branch.len() > 7 + 8);
        assert!(text.contains("Max-Forwards: 70\r\n"));
        assert!(text.contains("CSeq: 1 INVITE\r\n"));
        assert!(text.contains("Contact: <sip:alice@127.0.0.1:40000>\r\n"));
        assert!(text.contains("Content-Type: application/sdp\r\n"));
        assert!(text.ends_with("Content-Length: 5\r\n\r\nv=0\r\n"), "{text}");
        let m = parse(&bytes).unwrap();
        let SipMessage::Request(r) = m else { panic!() };
        assert_eq!(cseq_of(&r), Some((1, Method::Invite)));
        assert_eq!(top_branch(&r).as_deref(), Some(l.invite_branch.as_str()));
        assert!(r.from_header().unwrap().tag().unwrap().is_some());
        assert_eq!(to_tag(&r), None);
    }

    #[test]
    fn cancel_and_non2xx_ack_share_the_invite_branch() {
        let l = leg();
        let c = l.cancel();
        assert_eq!(top_branch(&c).as_deref(), Some(l.invite_branch.as_str()));
        assert_eq!(cseq_of(&c), Some((1, Method::Cancel)));
        assert_eq!(c.uri, l.request_uri);
        let a = l.ack_non2xx("<sip:x@y>;tag=abc");
        assert_eq!(top_branch(&a).as_deref(), Some(l.invite_branch.as_str()));
        assert_eq!(cseq_of(&a), Some((1, Method::Ack)));
        assert_eq!(to_tag(&a).as_deref(), Some("abc"));
    }

    #[test]
    fn dialog_from_2xx_drives_ack_and_bye() {
        let mut l = leg();
        let raw = format!(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:40000;branch={};rport=40000\r\n\
             Record-Route: <sip:p1.example;lr>, <sip:p2.example;lr>\r\n\
             From: {}\r\nTo: <sip:+15551234@127.0.0.1:5060>;tag=srv1\r\nCall-ID: {}\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:agent@127.0.0.9:5099;transport=udp>\r\nContent-Length: 0\r\n\r\n",
            l.invite_branch, l.from, l.call_id
        );
        let Some(SipMessage::Response(resp)) = parse(raw.as_bytes()) else {
            panic!()
        };
        l.learn_from_2xx(&resp);
        assert_eq!(
            l.route_set,
            vec![
                "<sip:p2.example;lr>".to_string(),
                "<sip:p1.example;lr>".to_string()
            ]
        );
        let bye = l.in_dialog(Method::Bye, 2);
        let text = String::from_utf8(bye.to_bytes()).unwrap();
        assert!(text.starts_with("BYE sip:agent@127.0.0.9:5099"), "{text}");
        assert!(text.contains("Route: <sip:p2.example;lr>\r\nRoute: <sip:p1.example;lr>\r\n"));
        assert_eq!(to_tag(&bye).as_deref(), Some("srv1"));
        assert_eq!(cseq_of(&bye), Some((2, Method::Bye)));
        assert_ne!(top_branch(&bye).as_deref(), Some(l.invite_branch.as_str()));
        // With a route set, requests go to the proxy (the target).
        assert_eq!(l.in_dialog_destination(), l.target);
        l.route_set.clear();
        assert_eq!(l.in_dialog_destination(), "127.0.0.9:5099".parse().unwrap());
    }

    #[test]
    fn response_copies_dialog_headers() {
        let raw = "BYE sip:alice@127.0.0.1:40000 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKb1\r\n\
                   Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKb0\r\nFrom: <sip:agent@x>;tag=s\r\nTo: <sip:alice@y>;tag=c\r\n\
                   Call-ID: cid\r\nCSeq: 7 BYE\r\nContent-Length: 0\r\n\r\n";
        let Some(SipMessage::Request(req)) = parse(raw.as_bytes()) else {
            panic!()
        };
        let resp = response_to(&req, 200, vec![], None);
        let text = String::from_utf8(resp.to_bytes()).unwrap();
        assert!(text.starts_with("SIP/2.0 200 OK\r\n"));
        assert!(text
            .contains("branch=z9hG4bKb1\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKb0\r\n"));
        assert!(text.contains("CSeq: 7 BYE\r\n") && text.contains("Call-ID: cid\r\n"));
        assert_eq!(first_line(&resp.to_bytes()), "SIP/2.0 200 OK");
    }

    #[test]
    fn split_list_respects_brackets_and_quotes() {
        assert_eq!(
            split_header_list(r#""a, b" <sip:x;lr>, <sip:y,z>"#),
            vec![r#""a, b" <sip:x;lr>"#.to_string(), "<sip:y,z>".to_string()]
        );
    }
}
