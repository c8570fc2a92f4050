//! The UAS-level checks of RFC 3261 §8.2 that a syntactically valid request
//! must pass before it is processed: method (§8.2.1), Request-URI scheme
//! (§8.2.2.1), Require (§8.2.2.3), body type and encoding (§8.2.3), and the
//! acceptability of our answer's body type (RFC 3261 §21.4.7, RFC 4475
//! §3.3.15).

use super::body::find_sdp;
use super::headers::{HeaderSection, MediaType};
use super::uri::ParsedUri;
use super::LocalPolicy;
use rsipstack::sip::Method;

/// A request refused with `status`; `extra` header fields go into the
/// response (Allow, Accept, Unsupported, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub status: u16,
    pub reason: String,
    pub extra: Vec<(&'static str, String)>,
}

impl Rejection {
    pub(crate) fn new(status: u16, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
            extra: Vec::new(),
        }
    }

    pub(crate) fn bad(reason: impl Into<String>) -> Self {
        Self::new(400, reason)
    }

    fn with(mut self, name: &'static str, value: String) -> Self {
        self.extra.push((name, value));
        self
    }
}

/// The rsipstack method for a method token, matched case-sensitively
/// (RFC 3261 §7.1: "the method names are case-sensitive").
pub(crate) fn known_method(token: &str) -> Option<Method> {
    Method::all().into_iter().find(|m| m.to_string() == token)
}

/// RFC 3261 §8.2.1: 501 for a method SIP does not define (rsipstack can
/// represent none of those either), 405 for one this UA does not process;
/// both with Allow.
pub(crate) fn check_method(token: &str, local: &LocalPolicy) -> Result<Method, Rejection> {
    let allow = || local.allow.join(", ");
    match known_method(token) {
        None => {
            Err(Rejection::new(501, format!("unknown method {token:?}")).with("Allow", allow()))
        }
        Some(m) if !local.allow.contains(&token) => {
            Err(Rejection::new(405, format!("method {m} not allowed here")).with("Allow", allow()))
        }
        Some(m) => Ok(m),
    }
}

/// RFC 3261 §8.2.2.1: 416 for a Request-URI scheme other than sip, sips and
/// tel; 400 for a SIP Request-URI with headers (RFC 3261 §19.1.1 Table 1,
/// RFC 4475 §3.1.2.11).
pub(crate) fn check_request_uri(uri: &ParsedUri<'_>) -> Result<(), Rejection> {
    match uri {
        ParsedUri::Other { scheme } => Err(Rejection::new(
            416,
            format!("Request-URI scheme {scheme:?} not supported"),
        )),
        ParsedUri::Sip(u) if u.headers.is_some() => {
            Err(Rejection::bad("Request-URI carries headers"))
        }
        _ => Ok(()),
    }
}

/// RFC 3261 §8.2.2.3: 420 with Unsupported listing the option tags of
/// Require this UA does not know. ACK and CANCEL are exempt (an ACK cannot
/// be answered, and a CANCEL's Require is not meaningful, §9.1).
pub(crate) fn check_require(
    method: Method,
    hs: &HeaderSection,
    local: &LocalPolicy,
) -> Result<(), Rejection> {
    if matches!(method, Method::Ack | Method::Cancel) {
        return Ok(());
    }
    let unknown: Vec<&str> = hs
        .require
        .iter()
        .filter(|t| !local.supported.iter().any(|s| s.eq_ignore_ascii_case(t)))
        .map(String::as_str)
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        let list = unknown.join(", ");
        Err(
            Rejection::new(420, format!("unsupported Require option tags: {list:?}"))
                .with("Unsupported", list),
        )
    }
}

fn accepts(local: &LocalPolicy, ct: &MediaType) -> bool {
    local
        .accept
        .iter()
        .any(|a| a.eq_ignore_ascii_case(&format!("{}/{}", ct.kind, ct.subtype)))
}

/// RFC 3261 §8.2.3: an INVITE or UPDATE body must be of a type we accept
/// (or multipart with a session description part, RFC 5621) and not
/// content-coded; otherwise 415 with Accept / Accept-Encoding.
pub(crate) fn check_body(
    method: Method,
    hs: &HeaderSection,
    body: &[u8],
    local: &LocalPolicy,
) -> Result<(), Rejection> {
    if !matches!(method, Method::Invite | Method::Update) || body.is_empty() {
        return Ok(());
    }
    let accept = || local.accept.join(", ");
    let ok = match &hs.content_type {
        None => false,
        Some(ct) => {
            accepts(local, ct)
                || (ct.kind == "multipart"
                    && local
                        .accept
                        .iter()
                        .any(|a| a.eq_ignore_ascii_case("application/sdp"))
                    && find_sdp(ct, body, 0).is_some())
        }
    };
    if !ok {
        let what = hs
            .content_type
            .as_ref()
            .map(|ct| format!("{}/{}", ct.kind, ct.subtype))
            .unwrap_or_else(|| "(none)".into());
        return Err(
            Rejection::new(415, format!("unsupported body type {what}")).with("Accept", accept())
        );
    }
    if hs
        .content_encoding
        .iter()
        .any(|c| !c.eq_ignore_ascii_case("identity"))
    {
        return Err(
            Rejection::new(415, "content-coded body").with("Accept-Encoding", "identity".into())
        );
    }
    Ok(())
}

/// RFC 3261 §21.4.7 / RFC 4475 §3.3.15: an INVITE whose Accept admits none
/// of the body types we answer with gets 406. No Accept means
/// application/sdp (RFC 3261 §20.1); an empty Accept admits nothing.
pub(crate) fn check_accept(
    method: Method,
    hs: &HeaderSection,
    local: &LocalPolicy,
) -> Result<(), Rejection> {
    if method != Method::Invite {
        return Ok(());
    }
    let Some(ranges) = &hs.accept else {
        return Ok(());
    };
    let ours = local.accept.iter().filter_map(|a| a.split_once('/'));
    let ok = ours.clone().any(|(t, s)| {
        ranges.iter().any(|(rt, rs)| {
            (rt == "*" || rt.eq_ignore_ascii_case(t)) && (rs == "*" || rs.eq_ignore_ascii_case(s))
        })
    });
    if ok {
        Ok(())
    } else {
        Err(
            Rejection::new(406, "Accept admits no session description type")
                .with("Accept", local.accept.join(", ")),
        )
    }
}
