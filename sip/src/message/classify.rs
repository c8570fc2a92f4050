//! The order of judgement for one inbound message. For requests (RFC 3261
//! §8.2, with syntax first as §16.3 puts it): Request-Line syntax (400) and
//! SIP version (505), header syntax and the mandatory fields (400), body
//! framing (400), method (501 / 405), CSeq method (400), Request-URI scheme
//! (416), Require (420), body type (415), Accept (406). Responses that fail
//! any syntax check are dropped (RFC 3261 §18.1.2, RFC 4475 §3.1.2.19).

use super::grammar::{is_token, is_token_char};
use super::headers::{parse_fields, HeaderError, HeaderSection};
use super::policy::{
    check_accept, check_body, check_method, check_request_uri, check_require, Rejection,
};
use super::raw::{split, RawMessage};
use super::response::stateless_reply;
use super::uri::{parse_uri, to_rsip};
use super::{Inbound, LocalPolicy, MAX_SIP_MESSAGE_BYTES};
use rsipstack::sip::headers::make_header;
use rsipstack::sip::headers::untyped::ContentLength;
use rsipstack::sip::{Header, Headers, Request, Response, StatusCode, Version};

pub(crate) fn classify(bytes: &[u8], local: &LocalPolicy) -> Inbound {
    if bytes.len() > MAX_SIP_MESSAGE_BYTES {
        return drop(format!(
            "message of {} bytes exceeds {MAX_SIP_MESSAGE_BYTES}",
            bytes.len()
        ));
    }
    // RFC 3261 §7.5 / RFC 5626 §3.5.1: CRLFs before the start line are
    // ignored; a datagram of nothing else is a keep-alive.
    let lead = bytes
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let msg = &bytes[lead..];
    match msg.first() {
        None => return drop("keep-alive".into()),
        Some(&b) if !is_token_char(b) => return drop("not a SIP message".into()),
        Some(_) => {}
    }
    let raw = split(msg);
    let start = raw.start_line;
    if start.len() >= 4 && start[..4].eq_ignore_ascii_case(b"SIP/") {
        return match response(msg, &raw) {
            Ok(r) => Inbound::Response(r),
            Err(why) => drop(format!("malformed response: {why}")),
        };
    }
    match request(msg, &raw, local) {
        Ok(r) => Inbound::Request(r),
        Err(rej) if start.starts_with(b"ACK ") => {
            // RFC 3261 §17.2.1: an ACK is never answered.
            drop(format!(
                "ACK not processed ({}): {}",
                rej.status, rej.reason
            ))
        }
        Err(rej) => match stateless_reply(&raw.fields, rej.status, &rej.extra, &local.user_agent) {
            Some(response) => Inbound::Reject {
                status: rej.status,
                response,
                reason: rej.reason,
            },
            None => drop(format!(
                "no Via to answer {} to: {}",
                rej.status, rej.reason
            )),
        },
    }
}

fn drop(reason: String) -> Inbound {
    Inbound::Drop { reason }
}

fn header_error(e: HeaderError) -> Rejection {
    Rejection::bad(format!("{} header: {}", e.field, e.what))
}

/// `SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT` (RFC 3261 §7.1, §25.1):
/// `Ok(true)` for 2.0, `Ok(false)` for another well-formed version.
fn version_is_2_0(v: &str) -> Result<bool, ()> {
    v.get(..4)
        .filter(|p| p.eq_ignore_ascii_case("SIP/"))
        .ok_or(())?;
    let (major, minor) = v.get(4..).unwrap_or("").split_once('.').ok_or(())?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(major) || !digits(minor) {
        return Err(());
    }
    let n = |s: &str| s.trim_start_matches('0').to_string();
    Ok(n(major) == "2" && n(minor).is_empty())
}

/// The mandatory header fields of RFC 3261 §8.1.1 (Max-Forwards excepted:
/// RFC 2543 peers omit it, RFC 4475 §3.4.1).
fn check_mandatory(hs: &HeaderSection) -> Result<(), &'static str> {
    if hs.via_count == 0 {
        Err("missing Via header")
    } else if !hs.has_from {
        Err("missing From header")
    } else if !hs.has_to {
        Err("missing To header")
    } else if !hs.has_call_id {
        Err("missing Call-ID header")
    } else if hs.cseq.is_none() {
        Err("missing CSeq header")
    } else {
        Ok(())
    }
}

/// The body by Content-Length (RFC 3261 §18.3, §20.14): larger than what
/// is there is an error, octets beyond it are ignored; without
/// Content-Length (UDP only) the body runs to the end of the datagram.
fn frame_body<'a>(
    msg: &'a [u8],
    raw: &RawMessage<'_>,
    hs: &HeaderSection,
) -> Result<&'a [u8], &'static str> {
    let available = raw.body_start.and_then(|off| msg.get(off..)).unwrap_or(&[]);
    match hs.content_length {
        Some(n) if n > available.len() as u64 => Err("Content-Length larger than the message body"),
        Some(n) => Ok(&available[..n as usize]),
        None => Ok(available),
    }
}

fn into_headers(hs: HeaderSection, body_len: usize) -> Headers {
    let mut headers = Headers::default();
    for (name, value) in hs.fields {
        headers.push(make_header(&name, value));
    }
    headers.push(Header::ContentLength(ContentLength::new(
        body_len.to_string(),
    )));
    headers
}

fn request(msg: &[u8], raw: &RawMessage<'_>, local: &LocalPolicy) -> Result<Request, Rejection> {
    let line = std::str::from_utf8(raw.start_line)
        .map_err(|_| Rejection::bad("Request-Line is not UTF-8"))?;
    // RFC 3261 §7.1: Method SP Request-URI SP SIP-Version, single spaces,
    // nothing else (RFC 4475 §3.1.2.7-10).
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, uri_text, version] = parts[..] else {
        return Err(Rejection::bad("malformed Request-Line"));
    };
    if !is_token(method) {
        return Err(Rejection::bad("invalid method token"));
    }
    if uri_text.is_empty() || uri_text.bytes().any(|b| b <= 0x20 || b >= 0x7f) {
        return Err(Rejection::bad("invalid Request-URI"));
    }
    match version_is_2_0(version) {
        Ok(true) => {}
        Ok(false) => {
            return Err(Rejection::new(
                505,
                format!("SIP version {version:?} not supported"),
            ))
        }
        Err(()) => return Err(Rejection::bad("malformed SIP-Version")),
    }
    if let Some(e) = raw.error {
        return Err(Rejection::bad(e.0));
    }
    let hs = parse_fields(&raw.fields).map_err(header_error)?;
    check_mandatory(&hs).map_err(Rejection::bad)?;
    let body = frame_body(msg, raw, &hs).map_err(Rejection::bad)?;
    let method_kind = check_method(method, local)?;
    if hs.cseq.as_ref().is_some_and(|(_, m)| m != method) {
        return Err(Rejection::bad(
            "CSeq method differs from the request method",
        ));
    }
    let uri = parse_uri(uri_text).map_err(|e| Rejection::bad(format!("Request-URI: {}", e.0)))?;
    check_request_uri(&uri)?;
    check_require(method_kind, &hs, local)?;
    check_body(method_kind, &hs, body, local)?;
    check_accept(method_kind, &hs, local)?;
    let uri = to_rsip(&uri).ok_or_else(|| Rejection::bad("Request-URI not representable"))?;
    Ok(Request {
        method: method_kind,
        uri,
        version: Version::V2,
        headers: into_headers(hs, body.len()),
        body: body.to_vec(),
    })
}

/// `Status-Line = SIP-Version SP Status-Code SP Reason-Phrase` (RFC 3261
/// §7.2); the code is three digits in 100..=699 (RFC 4475 §3.1.2.19).
fn response(msg: &[u8], raw: &RawMessage<'_>) -> Result<Response, &'static str> {
    // A Reason-Phrase should be UTF-8 (RFC 3261 §7.2); a Latin-1 one from an
    // old PBX is no reason to lose the status code.
    let line = String::from_utf8_lossy(raw.start_line);
    let (version, rest) = line.split_once(' ').ok_or("malformed Status-Line")?;
    if version_is_2_0(version) != Ok(true) {
        return Err("unsupported SIP version");
    }
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err("status code is not three digits");
    }
    let code: u16 = code.parse().map_err(|_| "bad status code")?;
    if !(100..=699).contains(&code) {
        return Err("status code out of range");
    }
    if reason.chars().any(|c| c.is_control() && c != '\t') {
        return Err("control character in Reason-Phrase");
    }
    if let Some(e) = raw.error {
        return Err(e.0);
    }
    let hs = parse_fields(&raw.fields).map_err(|e| e.what)?;
    check_mandatory(&hs)?;
    let body = frame_body(msg, raw, &hs)?;
    let reason = reason.trim();
    let status_code = StatusCode::try_from((code, reason)).map_err(|_| "bad status code")?;
    let wire_reason = (!reason.is_empty()
        && !matches!(status_code, StatusCode::Other(..))
        && !reason.eq_ignore_ascii_case(status_code.text()))
    .then(|| reason.to_string());
    Ok(Response {
        status_code,
        wire_reason,
        version: Version::V2,
        headers: into_headers(hs, body.len()),
        body: body.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::version_is_2_0;

    #[test]
    fn versions() {
        assert_eq!(version_is_2_0("SIP/2.0"), Ok(true));
        assert_eq!(version_is_2_0("sip/02.00"), Ok(true));
        assert_eq!(version_is_2_0("SIP/7.0"), Ok(false));
        assert_eq!(version_is_2_0("SIP/2"), Err(()));
        assert_eq!(version_is_2_0("HTTP/1.1"), Err(()));
        assert_eq!(version_is_2_0("SIé"), Err(()));
    }
}
