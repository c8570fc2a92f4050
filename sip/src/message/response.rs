//! Building responses to requests (RFC 3261 §8.2.6): the full builder the
//! UAS core uses, and the byte-level builder for stateless rejections of
//! requests too broken to become an `rsipstack::sip::Request`.

use super::grammar::is_token;
use super::headers::{classify_name, has_tag_param, is_safe_value_byte, Known};
use super::raw::RawField;
use rsipstack::sip::headers::untyped::{ContentLength, ContentType, Server, To};
use rsipstack::sip::{Header, Headers, Request, Response, StatusCode, Version};

/// The Server header written when the caller supplies neither Server nor
/// User-Agent.
pub const DEFAULT_SERVER: &str = concat!("Parla/", env!("CARGO_PKG_VERSION"));

/// The standard reason phrase for `status` (RFC 3261 §21 and later RFCs),
/// or a generic one for its class.
pub fn standard_reason(status: u16) -> String {
    let text = StatusCode::try_from((status, ""))
        .map(|c| c.text().to_string())
        .unwrap_or_default();
    if !text.is_empty() {
        return text;
    }
    match status {
        100..=199 => "Session Progress",
        200..=299 => "OK",
        300..=399 => "Redirection",
        400..=499 => "Request Failure",
        500..=599 => "Server Failure",
        _ => "Global Failure",
    }
    .to_string()
}

fn sanitize(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || *c == '\t')
        .collect()
}

/// A fresh To tag (RFC 3261 §19.3: at least 32 bits of randomness).
pub fn new_tag() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Builds a response to `req` (RFC 3261 §8.2.6.2): copies every Via in
/// order, From, To (adding `to_tag` unless To already has a tag), Call-ID
/// and CSeq; for 100 Trying also Timestamp (§8.2.6.1). Then come
/// `extra_headers` (any Content-Length among them is dropped), a Server
/// header ([`DEFAULT_SERVER`]) unless the extras carry Server or
/// User-Agent, and the body with its Content-Type and Content-Length.
///
/// `reason` replaces the standard phrase on the wire (the status code is
/// then `StatusCode::Other(status, reason)`; compare codes with
/// `status_code.code()`). Record-Route is not copied: pass
/// [`record_route_headers`] in `extra_headers` for dialog-creating
/// responses (RFC 3261 §12.1.1).
pub fn build_response(
    req: &Request,
    status: u16,
    reason: Option<&str>,
    to_tag: Option<&str>,
    extra_headers: Vec<Header>,
    body: Option<(&str, Vec<u8>)>,
) -> Response {
    let mut headers = Headers::default();
    for h in req.headers.iter() {
        if matches!(h, Header::Via(_)) {
            headers.push(h.clone());
        }
    }
    let first = |pick: fn(&Header) -> bool| req.headers.iter().find(|h| pick(h)).cloned();
    if let Some(h) = first(|h| matches!(h, Header::From(_))) {
        headers.push(h);
    }
    if let Some(Header::To(to)) = first(|h| matches!(h, Header::To(_))) {
        let value = to.value();
        match to_tag.filter(|t| is_token(t)) {
            Some(tag) if status != 100 && !has_tag_param(value) => {
                headers.push(Header::To(To::new(format!("{value};tag={tag}"))))
            }
            _ => headers.push(Header::To(to)),
        }
    }
    if let Some(h) = first(|h| matches!(h, Header::CallId(_))) {
        headers.push(h);
    }
    if let Some(h) = first(|h| matches!(h, Header::CSeq(_))) {
        headers.push(h);
    }
    if status == 100 {
        if let Some(h) = first(|h| matches!(h, Header::Timestamp(_))) {
            headers.push(h);
        }
    }
    let has_agent = extra_headers
        .iter()
        .any(|h| matches!(h, Header::Server(_) | Header::UserAgent(_)));
    for h in extra_headers {
        if !matches!(h, Header::ContentLength(_)) {
            headers.push(h);
        }
    }
    if !has_agent {
        headers.push(Header::Server(Server::new(DEFAULT_SERVER)));
    }
    let body = match body {
        Some((content_type, bytes)) => {
            headers.push(Header::ContentType(ContentType::new(sanitize(
                content_type,
            ))));
            bytes
        }
        None => Vec::new(),
    };
    headers.push(Header::ContentLength(ContentLength::new(
        body.len().to_string(),
    )));
    let standard = standard_reason(status);
    let status_code = match reason.map(sanitize) {
        Some(r) if !r.is_empty() && r != standard => StatusCode::Other(status, r),
        _ => StatusCode::try_from((status, standard.as_str()))
            .unwrap_or(StatusCode::Other(status, standard)),
    };
    Response {
        status_code,
        wire_reason: None,
        version: Version::V2,
        headers,
        body,
    }
}

/// The request's Record-Route header fields, in order, for copying into a
/// dialog-creating response (RFC 3261 §12.1.1).
pub fn record_route_headers(req: &Request) -> Vec<Header> {
    req.headers
        .iter()
        .filter(|h| matches!(h, Header::RecordRoute(_)))
        .cloned()
        .collect()
}

/// Writes a stateless error response from the raw fields of a request
/// (RFC 3261 §8.2.6, §18.2.2): every Via as received, From, To (with a new
/// tag unless it has one), Call-ID and CSeq when they could be found, then
/// `extra` fields, Server and `Content-Length: 0`. `None` when the request
/// had no Via at all: there is nowhere to send a response.
pub(crate) fn stateless_reply(
    fields: &[RawField<'_>],
    status: u16,
    extra: &[(&str, String)],
    user_agent: &str,
) -> Option<Vec<u8>> {
    let pick = |k: Known| {
        fields
            .iter()
            .find(|f| classify_name(f.name) == k)
            .map(|f| &f.value[..])
    };
    let vias: Vec<&[u8]> = fields
        .iter()
        .filter(|f| classify_name(f.name) == Known::Via && !f.value.is_empty())
        .map(|f| &f.value[..])
        .collect();
    if vias.is_empty() {
        return None;
    }
    let mut out = format!("SIP/2.0 {status} {}\r\n", standard_reason(status)).into_bytes();
    let mut field = |name: &str, value: &[u8]| {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend(
            value
                .iter()
                .copied()
                .filter(|b| is_safe_value_byte(*b) || *b >= 0x80),
        );
        out.extend_from_slice(b"\r\n");
    };
    for v in vias {
        field("Via", v);
    }
    if let Some(v) = pick(Known::From) {
        field("From", v);
    }
    if let Some(v) = pick(Known::To) {
        if has_tag_param(&String::from_utf8_lossy(v)) {
            field("To", v);
        } else {
            let mut tagged = v.to_vec();
            tagged.extend_from_slice(format!(";tag={}", new_tag()).as_bytes());
            field("To", &tagged);
        }
    }
    if let Some(v) = pick(Known::CallId) {
        field("Call-ID", v);
    }
    if let Some(v) = pick(Known::CSeq) {
        field("CSeq", v);
    }
    for (name, value) in extra {
        field(name, value.as_bytes());
    }
    let ua = sanitize(user_agent);
    field(
        "Server",
        if ua.is_empty() { DEFAULT_SERVER } else { &ua }.as_bytes(),
    );
    field("Content-Length", b"0");
    out.extend_from_slice(b"\r\n");
    Some(out)
}
