//! Finding the session description in a message body: a plain
//! `application/sdp` body, or an `application/sdp` part of a multipart body
//! (RFC 5621 §3, multipart framing per RFC 2046 §5.1.1).

use super::grammar::Cursor;
use super::headers::{media_type, MediaType};
use rsipstack::sip::{Header, Headers, Request, Response};

/// Parts examined per multipart body.
pub const MAX_MULTIPART_PARTS: usize = 16;
/// Nesting depth of multipart bodies examined (multipart/alternative inside
/// multipart/mixed is common; deeper is not).
pub const MAX_MULTIPART_DEPTH: usize = 3;
/// Longest boundary RFC 2046 §5.1.1 allows.
const MAX_BOUNDARY_LEN: usize = 70;

pub(crate) fn parse_media_type(v: &str) -> Option<MediaType> {
    let mut cur = Cursor::new(v);
    let mt = media_type(&mut cur).ok()?;
    cur.skip_ws();
    cur.at_end().then_some(mt)
}

/// The SDP bytes of a body of the given type, if it holds any.
pub(crate) fn find_sdp<'a>(
    content_type: &MediaType,
    body: &'a [u8],
    depth: usize,
) -> Option<&'a [u8]> {
    if content_type.is("application", "sdp") {
        return Some(body);
    }
    if content_type.kind != "multipart" || depth >= MAX_MULTIPART_DEPTH {
        return None;
    }
    let boundary = content_type.param("boundary")?;
    for (headers, content) in multipart_parts(body, boundary) {
        let part_type = part_content_type(headers)
            // RFC 2046 §5.1: a part without Content-Type is text/plain.
            .unwrap_or_else(|| MediaType {
                kind: "text".into(),
                subtype: "plain".into(),
                params: Vec::new(),
            });
        if let Some(sdp) = find_sdp(&part_type, content, depth + 1) {
            return Some(sdp);
        }
    }
    None
}

/// The session description carried by `req`, whether the body is
/// `application/sdp` or a multipart body with an `application/sdp` part.
pub fn sdp_body(req: &Request) -> Option<&[u8]> {
    sdp_in(&req.headers, &req.body)
}

/// The session description carried by a response (the answer in a 2xx, or
/// early media in a 183), found like [`sdp_body`] finds it in a request.
pub fn response_sdp_body(resp: &Response) -> Option<&[u8]> {
    sdp_in(&resp.headers, &resp.body)
}

fn sdp_in<'a>(headers: &Headers, body: &'a [u8]) -> Option<&'a [u8]> {
    let ct = headers.iter().find_map(|h| match h {
        Header::ContentType(ct) => parse_media_type(ct.value()),
        _ => None,
    })?;
    if body.is_empty() {
        return None;
    }
    find_sdp(&ct, body, 0)
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The (header block, content) of each body part.
fn multipart_parts<'a>(body: &'a [u8], boundary: &str) -> Vec<(&'a [u8], &'a [u8])> {
    let mut parts = Vec::new();
    if boundary.is_empty() || boundary.len() > MAX_BOUNDARY_LEN {
        return parts;
    }
    let dash = format!("--{boundary}");
    let delim = format!("\n--{boundary}");
    // The first delimiter may open the body or follow a preamble.
    let mut pos = if body.starts_with(dash.as_bytes()) {
        dash.len()
    } else {
        match find(body, delim.as_bytes(), 0) {
            Some(p) => p + delim.len(),
            None => return parts,
        }
    };
    while parts.len() < MAX_MULTIPART_PARTS {
        if body.get(pos..pos + 2) == Some(b"--") {
            break; // close delimiter
        }
        // Skip transport padding up to the end of the delimiter line.
        let Some(nl) = find(body, b"\n", pos) else {
            break;
        };
        let start = nl + 1;
        let Some(next) = find(body, delim.as_bytes(), start.saturating_sub(1)) else {
            break;
        };
        let mut end = next;
        if end > start && body[end - 1] == b'\r' {
            end -= 1;
        }
        let part = body.get(start..end.max(start)).unwrap_or(&[]);
        parts.push(split_part(part));
        pos = next + delim.len();
    }
    parts
}

/// Splits a body part into its header block and content.
fn split_part(part: &[u8]) -> (&[u8], &[u8]) {
    if let Some(rest) = part
        .strip_prefix(b"\r\n")
        .or_else(|| part.strip_prefix(b"\n"))
    {
        return (&[], rest);
    }
    if let Some(p) = find(part, b"\r\n\r\n", 0) {
        return (&part[..p], &part[p + 4..]);
    }
    if let Some(p) = find(part, b"\n\n", 0) {
        return (&part[..p], &part[p + 2..]);
    }
    (part, &[])
}

fn part_content_type(headers: &[u8]) -> Option<MediaType> {
    headers.split(|&b| b == b'\n').find_map(|line| {
        let line = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
        let (name, value) = line.split_once(':')?;
        let name = name.trim();
        (name.eq_ignore_ascii_case("Content-Type") || name.eq_ignore_ascii_case("c"))
            .then(|| parse_media_type(value.trim()))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mt(s: &str) -> MediaType {
        parse_media_type(s).unwrap()
    }

    #[test]
    fn sdp_part_is_found_in_multipart_mixed() {
        let body = b"--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n\r\n--b1--\r\n";
        let sdp = find_sdp(&mt("multipart/mixed;boundary=b1"), body, 0).unwrap();
        assert_eq!(sdp, b"v=0\r\n");
    }

    #[test]
    fn multipart_without_sdp_or_boundary() {
        let body = b"--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1--\r\n";
        assert!(find_sdp(&mt("multipart/mixed;boundary=b1"), body, 0).is_none());
        assert!(find_sdp(&mt("multipart/mixed"), body, 0).is_none());
        assert!(find_sdp(&mt("multipart/mixed;boundary=zz"), body, 0).is_none());
    }

    #[test]
    fn quoted_boundary_and_preamble() {
        let body = b"preamble\r\n--a b\r\nc: application/SDP\r\n\r\nv=0\r\n--a b--";
        let sdp = find_sdp(&mt("multipart/mixed; boundary=\"a b\""), body, 0).unwrap();
        assert_eq!(sdp, b"v=0");
    }
}
