//! The requests an outbound call originates outside a dialog: the INVITE
//! (RFC 3261 §8.1.1, §13.2.1) and its CANCEL (§9.1); plus the checks of
//! the caller's [`OutboundRequest`].

use rsipstack::sip::headers::untyped::{
    Allow, CallId, Contact, ContentLength, ContentType, From as FromHeader, MaxForwards,
    To as ToHeader, UserAgent, Via,
};
use rsipstack::sip::typed::CSeq;
use rsipstack::sip::{Header, Headers, Method, Request, Uri, Version};

use crate::dialog::DEFAULT_MAX_FORWARDS;
use crate::message::uri_checked;
use crate::uas::ALLOWED_METHODS;

use super::{OutboundRequest, Transport, UacConfig, UacError, MAX_FIELD_BYTES};

/// The validated, pre-rendered parts of an [`OutboundRequest`].
#[derive(Debug, Clone)]
pub(super) struct Parties {
    pub request_uri: Uri,
    /// From value without the tag.
    pub from: String,
    /// To value (no tag).
    pub to: String,
}

fn clean(field: &'static str, s: &str) -> Result<(), UacError> {
    if s.len() > MAX_FIELD_BYTES || s.chars().any(|c| c.is_control()) {
        return Err(UacError::InvalidField(field));
    }
    Ok(())
}

/// A quoted display name (RFC 3261 §25.1 quoted-string).
fn display(name: &str) -> String {
    let mut out = String::from("\"");
    for c in name.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Checks the URIs and text of `req` (RFC 3261 §19.1 grammar via our
/// parser; no control characters anywhere) and renders From / To.
pub(super) fn parties(req: &OutboundRequest) -> Result<Parties, UacError> {
    let uri = |field: &'static str, value: &str, sip_only: bool| {
        clean(field, value)?;
        uri_checked(value.trim(), sip_only).ok_or_else(|| UacError::InvalidUri {
            field,
            value: value.to_string(),
        })
    };
    let request_uri = uri("request_uri", &req.request_uri, true)?;
    let to_text = req.to.as_deref().unwrap_or(&req.request_uri).trim();
    uri("to", to_text, false)?;
    let from = req.from.trim();
    uri("from", from, false)?;
    if let Some(c) = &req.credentials {
        clean("username", &c.username)?;
        clean("password", &c.password)?;
    }
    let from = match req.from_display.as_deref().map(str::trim) {
        Some(d) if !d.is_empty() => {
            clean("from_display", d)?;
            format!("{} <{from}>", display(d))
        }
        _ => format!("<{from}>"),
    };
    Ok(Parties {
        request_uri,
        from,
        to: format!("<{to_text}>"),
    })
}

/// Our Via value for a request with `branch`:
/// `SIP/2.0/UDP host:port;branch=z9hG4bK...;rport` (RFC 3261 §8.1.1.7,
/// RFC 3581).
pub(crate) fn via(config: &UacConfig, transport: Transport, branch: &str) -> String {
    format!(
        "SIP/2.0/{} {}:{};branch={branch};rport",
        transport.via_name(),
        host_for_uri(&config.contact_host),
        config.contact_port
    )
}

/// IPv6 hosts in brackets.
pub(crate) fn host_for_uri(h: &str) -> String {
    if h.contains(':') && !h.starts_with('[') {
        format!("[{h}]")
    } else {
        h.to_string()
    }
}

/// Our Contact (RFC 3261 §8.1.1.8), with `transport=tcp` over TCP.
pub(super) fn contact(config: &UacConfig, transport: Transport) -> String {
    let host = host_for_uri(&config.contact_host);
    let port = config.contact_port;
    match transport {
        Transport::Udp => format!("<sip:{host}:{port}>"),
        Transport::Tcp => format!("<sip:{host}:{port};transport=tcp>"),
    }
}

/// Everything an INVITE needs besides the parties.
pub(super) struct InviteParts<'a> {
    pub config: &'a UacConfig,
    pub transport: Transport,
    pub parties: &'a Parties,
    pub local_tag: &'a str,
    pub call_id: &'a str,
    pub cseq: u32,
    pub branch: &'a str,
    /// `Authorization` / `Proxy-Authorization`, for the retry.
    pub credentials: Option<Header>,
    pub sdp: &'a str,
}

/// The INVITE (RFC 3261 §8.1.1, §13.2.1): Via, Max-Forwards, From with our
/// tag, To, Call-ID, CSeq, Contact, credentials, Allow, User-Agent,
/// Content-Type application/sdp and the offer.
pub(super) fn invite(p: &InviteParts<'_>) -> Request {
    let mut headers = Headers::default();
    headers.push(Header::Via(Via::new(via(p.config, p.transport, p.branch))));
    headers.push(Header::MaxForwards(MaxForwards::new(
        DEFAULT_MAX_FORWARDS.to_string(),
    )));
    headers.push(Header::From(FromHeader::new(format!(
        "{};tag={}",
        p.parties.from, p.local_tag
    ))));
    headers.push(Header::To(ToHeader::new(p.parties.to.clone())));
    headers.push(Header::CallId(CallId::new(p.call_id)));
    headers.push(
        CSeq {
            seq: p.cseq,
            method: Method::Invite,
        }
        .into(),
    );
    headers.push(Header::Contact(Contact::new(contact(
        p.config,
        p.transport,
    ))));
    if let Some(h) = &p.credentials {
        headers.push(h.clone());
    }
    headers.push(Header::Allow(Allow::new(ALLOWED_METHODS.join(", "))));
    if !p.config.user_agent.is_empty() {
        headers.push(Header::UserAgent(UserAgent::new(
            p.config.user_agent.clone(),
        )));
    }
    headers.push(Header::ContentType(ContentType::new("application/sdp")));
    headers.push(Header::ContentLength(ContentLength::new(
        p.sdp.len().to_string(),
    )));
    Request {
        method: Method::Invite,
        uri: p.parties.request_uri.clone(),
        version: Version::V2,
        headers,
        body: p.sdp.as_bytes().to_vec(),
    }
}

/// The CANCEL for `invite` (RFC 3261 §9.1): the same Request-URI,
/// Call-ID, To, From and CSeq number (method CANCEL), a single Via equal
/// to the INVITE's top Via (same branch), the INVITE's Route headers, no
/// body.
pub(super) fn cancel(invite: &Request, user_agent: &str) -> Request {
    let mut headers = Headers::default();
    let pick = |f: fn(&Header) -> bool| invite.headers.iter().find(|h| f(h)).cloned();
    if let Some(v) = pick(|h| matches!(h, Header::Via(_))) {
        headers.push(v);
    }
    headers.push(Header::MaxForwards(MaxForwards::new(
        DEFAULT_MAX_FORWARDS.to_string(),
    )));
    for h in invite.headers.iter() {
        if matches!(h, Header::Route(_)) {
            headers.push(h.clone());
        }
    }
    for h in [
        pick(|h| matches!(h, Header::From(_))),
        pick(|h| matches!(h, Header::To(_))),
        pick(|h| matches!(h, Header::CallId(_))),
    ]
    .into_iter()
    .flatten()
    {
        headers.push(h);
    }
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
            method: Method::Cancel,
        }
        .into(),
    );
    if !user_agent.is_empty() {
        headers.push(Header::UserAgent(UserAgent::new(user_agent)));
    }
    headers.push(Header::ContentLength(ContentLength::new("0")));
    Request {
        method: Method::Cancel,
        uri: invite.uri.clone(),
        version: Version::V2,
        headers,
        body: Vec::new(),
    }
}
