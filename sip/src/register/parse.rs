//! What a REGISTER response says about time: the granted expiry of our
//! binding (RFC 3261 §10.2.4), `Min-Expires` of a 423 (§10.2.8, §20.23)
//! and `Retry-After` (§20.33). Never panics, whatever the values.

use std::time::Duration;

use rsipstack::sip::{Header, Response};

use super::MAX_EXPIRES;

/// Longest run of digits read for a delta-seconds value (more is refused).
const MAX_DELTA_DIGITS: usize = 10;

/// `delta-seconds = 1*DIGIT` (leading/trailing white space allowed;
/// anything after the digits, like a Retry-After comment, is ignored).
fn delta_seconds(v: &str) -> Option<Duration> {
    let v = v.trim_start();
    let digits: &str = &v[..v.bytes().take_while(u8::is_ascii_digit).count()];
    if digits.is_empty() || digits.len() > MAX_DELTA_DIGITS {
        return None;
    }
    digits.parse::<u64>().ok().map(Duration::from_secs)
}

/// The elements of a Contact value list: (URI inside `<>` or the bare
/// addr-spec, the header parameters after it). Commas inside `<>` or
/// quotes do not split.
fn contact_elements(value: &str) -> Vec<(&str, Vec<(&str, &str)>)> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut escaped, mut start) = (0u32, false, false, 0usize);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth = depth.saturating_sub(1),
            ',' if !quoted && depth == 0 => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
        .into_iter()
        .filter_map(|p| {
            let p = p.trim();
            let (uri, rest) = match (p.find('<'), p.find('>')) {
                (Some(a), Some(b)) if a < b => (&p[a + 1..b], &p[b + 1..]),
                _ => match p.split_once(';') {
                    Some((u, r)) => (u.trim(), r),
                    None => (p, ""),
                },
            };
            if uri.is_empty() {
                return None;
            }
            let params = rest
                .split(';')
                .filter_map(|kv| {
                    let kv = kv.trim();
                    if kv.is_empty() {
                        return None;
                    }
                    Some(match kv.split_once('=') {
                        Some((k, v)) => (k.trim(), v.trim().trim_matches('"')),
                        None => (kv, ""),
                    })
                })
                .collect();
            Some((uri, params))
        })
        .collect()
}

/// A URI reduced for comparison: scheme, user and host:port, lower-cased,
/// URI parameters dropped (registrars often add or reorder them).
fn uri_key(uri: &str) -> String {
    let uri = uri.trim().trim_start_matches('<').trim_end_matches('>');
    let end = uri.find([';', '?']).unwrap_or(uri.len());
    uri[..end].to_ascii_lowercase()
}

/// The binding lifetime a 2xx to our REGISTER grants (RFC 3261 §10.2.4):
/// the `expires` parameter of the Contact matching `our_contact` (compared
/// on scheme, user and host:port), else of the only Contact if there is
/// just one, else the `Expires` header, else `requested`. Clamped to
/// [`MAX_EXPIRES`]. `Duration::ZERO` means the registrar removed it.
pub fn granted_expiry(resp: &Response, our_contact: &str, requested: Duration) -> Duration {
    let ours = uri_key(our_contact);
    let mut elements = Vec::new();
    let mut header = None;
    for h in resp.headers.iter() {
        match h {
            Header::Contact(c) => elements.extend(contact_elements(c.value())),
            Header::Expires(e) => header = header.or_else(|| delta_seconds(e.value())),
            _ => {}
        }
    }
    let expires_param = |params: &Vec<(&str, &str)>| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("expires"))
            .and_then(|(_, v)| delta_seconds(v))
    };
    let mine = elements
        .iter()
        .find(|(uri, _)| uri_key(uri) == ours)
        .and_then(|(_, p)| expires_param(p));
    let only = match elements.as_slice() {
        [(_, p)] => expires_param(p),
        _ => None,
    };
    mine.or(only)
        .or(header)
        .unwrap_or(requested)
        .min(MAX_EXPIRES)
}

/// `Min-Expires` of a 423 (RFC 3261 §20.23), if well-formed.
pub(super) fn min_expires(resp: &Response) -> Option<Duration> {
    resp.headers.iter().find_map(|h| match h {
        Header::MinExpires(m) => delta_seconds(m.value()),
        _ => None,
    })
}

/// `Retry-After` delta-seconds (RFC 3261 §20.33), if well-formed.
pub(super) fn retry_after(resp: &Response) -> Option<Duration> {
    resp.headers.iter().find_map(|h| match h {
        Header::RetryAfter(r) => delta_seconds(r.value()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{classify_datagram, Inbound, LocalPolicy};

    fn resp(extra: &str) -> Response {
        let text = format!(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx\r\nFrom: <sip:a@r>;tag=1\r\nTo: <sip:a@r>;tag=2\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        match classify_datagram(text.as_bytes(), &LocalPolicy::default()) {
            Inbound::Response(r) => r,
            other => panic!("{other:?}"),
        }
    }

    const OURS: &str = "<sip:alice@10.0.0.1:5060>";
    const ASKED: Duration = Duration::from_secs(3600);

    #[test]
    fn our_contact_expires_param_wins() {
        let r = resp("Contact: <sip:bob@10.0.0.9:5060>;expires=10, <sip:alice@10.0.0.1:5060;transport=udp>;expires=120\r\nExpires: 900\r\n");
        assert_eq!(granted_expiry(&r, OURS, ASKED), Duration::from_secs(120));
    }

    #[test]
    fn single_contact_then_header_then_requested() {
        let r = resp("Contact: <sip:alice@192.0.2.99:5060>;expires=60\r\n");
        assert_eq!(granted_expiry(&r, OURS, ASKED), Duration::from_secs(60));
        let r = resp("Contact: <sip:x@1.1.1.1>;expires=5, <sip:y@1.1.1.2>\r\nExpires: 300\r\n");
        assert_eq!(granted_expiry(&r, OURS, ASKED), Duration::from_secs(300));
        let r = resp("");
        assert_eq!(granted_expiry(&r, OURS, ASKED), ASKED);
        let r = resp("Expires: 99999999999999\r\n");
        assert_eq!(granted_expiry(&r, OURS, ASKED), ASKED, "too many digits");
        let r = resp("Expires: 999999999\r\n");
        assert_eq!(granted_expiry(&r, OURS, ASKED), MAX_EXPIRES);
    }

    #[test]
    fn min_expires_and_retry_after() {
        let r = resp("Min-Expires: 600\r\nRetry-After: 120 (maintenance);duration=60\r\n");
        assert_eq!(min_expires(&r), Some(Duration::from_secs(600)));
        assert_eq!(retry_after(&r), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(&resp("")), None);
    }

    #[test]
    fn contact_lists_split_outside_quotes_and_brackets() {
        let els = contact_elements("\"a, b\" <sip:x@h;lr>;expires=3, <sip:y@h>");
        assert_eq!(els.len(), 2);
        assert_eq!(els[0].0, "sip:x@h;lr");
        assert_eq!(els[0].1, vec![("expires", "3")]);
        assert!(contact_elements(",,<>,").is_empty());
    }
}
