//! Strict parsing of the header fields a UAS depends on (RFC 3261 §20, ABNF
//! in §25.1), rewriting each into a canonical, white-space-free form that
//! rsipstack's typed-header parsers read correctly.
//!
//! rsipstack's parser keeps every value as an opaque string and its typed
//! parsers trip over valid LWS (`tag = x` loses the tag), over unknown Via
//! transports and over `;` in URI user parts; it also accepts most invalid
//! values. So Via, From, To, Contact, Route, Record-Route, Call-ID, CSeq,
//! Max-Forwards, Content-Length, Content-Type, Accept, Require and
//! Content-Encoding are checked here and written back canonically; all other
//! fields pass through, unfolded and trimmed.

use super::grammar::{
    after_list_comma, generic_params, host, is_token, is_token_char, is_word_char, is_wsp,
    parse_decimal, write_params, Cursor, Parsed, Syntax,
};
use super::raw::RawField;
use super::uri::parse_uri;

/// Largest CSeq sequence number (RFC 3261 §8.1.1.5: "less than 2**31" when
/// chosen, but receivers accept up to 2**32-1, RFC 4475 §3.1.2.4).
pub const MAX_CSEQ: u64 = u32::MAX as u64;

/// Largest Max-Forwards value (RFC 3261 §20.22: "integer in the range 0-255").
pub const MAX_MAX_FORWARDS: u64 = 255;

/// The header fields this module treats specially.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Known {
    Via,
    From,
    To,
    CallId,
    CSeq,
    MaxForwards,
    ContentLength,
    ContentType,
    ContentEncoding,
    Contact,
    Route,
    RecordRoute,
    Accept,
    Require,
    Timestamp,
    Other,
}

/// Compact forms (RFC 3261 §7.3.3 and the IANA SIP header registry).
const COMPACT: &[(u8, &str)] = &[
    (b'a', "Accept-Contact"),
    (b'b', "Referred-By"),
    (b'c', "Content-Type"),
    (b'd', "Request-Disposition"),
    (b'e', "Content-Encoding"),
    (b'f', "From"),
    (b'i', "Call-ID"),
    (b'j', "Reject-Contact"),
    (b'k', "Supported"),
    (b'l', "Content-Length"),
    (b'm', "Contact"),
    (b'n', "Identity-Info"),
    (b'o', "Event"),
    (b'r', "Refer-To"),
    (b's', "Subject"),
    (b't', "To"),
    (b'u', "Allow-Events"),
    (b'v', "Via"),
    (b'x', "Session-Expires"),
    (b'y', "Identity"),
];

/// The full name of a header field (compact forms expanded).
pub(crate) fn full_name(name: &str) -> &str {
    if let [c] = name.as_bytes() {
        let c = c.to_ascii_lowercase();
        if let Some((_, full)) = COMPACT.iter().find(|(k, _)| *k == c) {
            return full;
        }
    }
    name
}

pub(crate) fn classify_name(name: &[u8]) -> Known {
    let Ok(name) = std::str::from_utf8(name) else {
        return Known::Other;
    };
    let n = full_name(name);
    const TABLE: &[(&str, Known)] = &[
        ("Via", Known::Via),
        ("From", Known::From),
        ("To", Known::To),
        ("Call-ID", Known::CallId),
        ("CSeq", Known::CSeq),
        ("Max-Forwards", Known::MaxForwards),
        ("Content-Length", Known::ContentLength),
        ("Content-Type", Known::ContentType),
        ("Content-Encoding", Known::ContentEncoding),
        ("Contact", Known::Contact),
        ("Route", Known::Route),
        ("Record-Route", Known::RecordRoute),
        ("Accept", Known::Accept),
        ("Require", Known::Require),
        ("Timestamp", Known::Timestamp),
    ];
    TABLE
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(n))
        .map(|(_, v)| *v)
        .unwrap_or(Known::Other)
}

/// A media type (RFC 3261 §20.15), type and subtype lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MediaType {
    pub kind: String,
    pub subtype: String,
    pub params: Vec<(String, String)>,
}

impl MediaType {
    pub(crate) fn is(&self, kind: &str, subtype: &str) -> bool {
        self.kind == kind && self.subtype == subtype
    }
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a header section was refused: which field and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeaderError {
    pub field: &'static str,
    pub what: &'static str,
}

impl HeaderError {
    fn new(field: &'static str, what: &'static str) -> Self {
        Self { field, what }
    }
}

/// The checked header section.
#[derive(Debug, Default)]
pub(crate) struct HeaderSection {
    /// Output fields in order: (full name, canonical value).
    pub fields: Vec<(String, String)>,
    pub via_count: usize,
    pub has_from: bool,
    pub has_to: bool,
    pub has_call_id: bool,
    pub cseq: Option<(u32, String)>,
    pub content_length: Option<u64>,
    pub content_type: Option<MediaType>,
    pub content_encoding: Vec<String>,
    /// `None` when no Accept field was present; a present but empty Accept
    /// is `Some(vec![])` (nothing acceptable).
    pub accept: Option<Vec<(String, String)>>,
    pub require: Vec<String>,
}

/// Checks every field and builds the canonical header section.
pub(crate) fn parse_fields(fields: &[RawField<'_>]) -> Result<HeaderSection, HeaderError> {
    let mut out = HeaderSection::default();
    let mut seen_mf = false;
    for f in fields {
        let name = std::str::from_utf8(f.name)
            .map_err(|_| HeaderError::new("header", "field name is not a token"))?;
        let kind = classify_name(f.name);
        let label = label(kind);
        // Values must be UTF-8 (RFC 3261 §7.3.1), but some PBXs still send
        // Latin-1 display names: such bytes become U+FFFD, which free text
        // and quoted strings tolerate and structured values still refuse.
        let value = String::from_utf8_lossy(&f.value);
        let value: &str = &value;
        let err = |s: Syntax| HeaderError::new(label, s.0);
        let full = full_name(name).to_string();
        let dup = || HeaderError::new(label, "appears more than once");
        match kind {
            Known::Via => {
                for v in via_list(value).map_err(err)? {
                    out.fields.push((full.clone(), v));
                    out.via_count += 1;
                }
            }
            Known::From | Known::To => {
                let mut cur = Cursor::new(value);
                let na = name_addr(&mut cur, false).map_err(err)?;
                cur.skip_ws();
                if !cur.at_end() {
                    return Err(HeaderError::new(label, "unexpected text after the address"));
                }
                let tags: Vec<_> = na
                    .params
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case("tag"))
                    .collect();
                if tags.len() > 1 || tags.iter().any(|(_, v)| v.is_none_or(|v| !is_token(v))) {
                    return Err(HeaderError::new(label, "invalid tag"));
                }
                if kind == Known::From {
                    if out.has_from {
                        return Err(dup());
                    }
                    out.has_from = true;
                } else {
                    if out.has_to {
                        return Err(dup());
                    }
                    out.has_to = true;
                }
                out.fields.push((full, na.canonical()));
            }
            Known::Contact => {
                if value == "*" {
                    out.fields.push((full, value.to_string()));
                    continue;
                }
                for v in name_addr_list(value, false).map_err(err)? {
                    out.fields.push((full.clone(), v));
                }
            }
            Known::Route | Known::RecordRoute => {
                for v in name_addr_list(value, true).map_err(err)? {
                    out.fields.push((full.clone(), v));
                }
            }
            Known::CallId => {
                if out.has_call_id {
                    return Err(dup());
                }
                if !is_call_id(value) {
                    return Err(HeaderError::new(label, "invalid Call-ID"));
                }
                out.has_call_id = true;
                out.fields.push((full, value.to_string()));
            }
            Known::CSeq => {
                if out.cseq.is_some() {
                    return Err(dup());
                }
                let (n, m) = cseq(value).map_err(err)?;
                out.fields.push((full, format!("{n} {m}")));
                out.cseq = Some((n, m.to_string()));
            }
            Known::MaxForwards => {
                if seen_mf {
                    return Err(dup());
                }
                seen_mf = true;
                let n = parse_decimal(value, 3)
                    .filter(|n| *n <= MAX_MAX_FORWARDS)
                    .ok_or(HeaderError::new(label, "not an integer in 0..=255"))?;
                out.fields.push((full, n.to_string()));
            }
            Known::ContentLength => {
                let n = parse_decimal(value, 19)
                    .ok_or(HeaderError::new(label, "not a non-negative integer"))?;
                if out.content_length.is_some_and(|prev| prev != n) {
                    return Err(HeaderError::new(label, "conflicting values"));
                }
                // Written back once, after the body is known.
                out.content_length = Some(n);
            }
            Known::ContentType => {
                if out.content_type.is_some() {
                    return Err(dup());
                }
                let mut cur = Cursor::new(value);
                let mt = media_type(&mut cur).map_err(err)?;
                cur.skip_ws();
                if !cur.at_end() {
                    return Err(HeaderError::new(
                        label,
                        "unexpected text after the media type",
                    ));
                }
                out.content_type = Some(mt);
                out.fields.push((full, value.to_string()));
            }
            Known::ContentEncoding => {
                out.content_encoding
                    .extend(token_list(value, false).map_err(err)?);
                out.fields.push((full, value.to_string()));
            }
            Known::Accept => {
                let ranges = accept(value).map_err(err)?;
                out.accept.get_or_insert_with(Vec::new).extend(ranges);
                out.fields.push((full, value.to_string()));
            }
            Known::Require => {
                out.require.extend(token_list(value, true).map_err(err)?);
                out.fields.push((full, value.to_string()));
            }
            Known::Timestamp | Known::Other => out.fields.push((full, value.to_string())),
        }
    }
    Ok(out)
}

fn label(kind: Known) -> &'static str {
    match kind {
        Known::Via => "Via",
        Known::From => "From",
        Known::To => "To",
        Known::CallId => "Call-ID",
        Known::CSeq => "CSeq",
        Known::MaxForwards => "Max-Forwards",
        Known::ContentLength => "Content-Length",
        Known::ContentType => "Content-Type",
        Known::ContentEncoding => "Content-Encoding",
        Known::Contact => "Contact",
        Known::Route => "Route",
        Known::RecordRoute => "Record-Route",
        Known::Accept => "Accept",
        Known::Require => "Require",
        Known::Timestamp => "Timestamp",
        Known::Other => "header",
    }
}

/// `Via = ( "Via" / "v" ) HCOLON via-parm *(COMMA via-parm)` (RFC 3261
/// §20.42, §25.1). Each via-parm comes back as
/// `SIP/2.0/UDP host:port;param=value`; unknown transports are kept
/// (RFC 4475 §3.1.1.10).
pub(crate) fn via_list(value: &str) -> Parsed<Vec<String>> {
    let mut cur = Cursor::new(value);
    let mut out = Vec::new();
    loop {
        cur.skip_ws();
        let proto = cur.token("missing Via protocol name")?;
        slash(&mut cur)?;
        let version = cur.token("missing Via protocol version")?;
        slash(&mut cur)?;
        let transport = cur.token("missing Via transport")?;
        if !cur.skip_ws() {
            return Err(Syntax("missing white space before Via sent-by"));
        }
        let host = host(&mut cur)?;
        let save = cur.pos();
        cur.skip_ws();
        let port = if cur.eat(b':') {
            cur.skip_ws();
            let p = cur.digits(5, "invalid Via port")?;
            Some(u16::try_from(p).map_err(|_| Syntax("Via port out of range"))?)
        } else {
            cur.set_pos(save);
            None
        };
        let params = generic_params(&mut cur)?;
        for (n, v) in &params {
            let ok = match (n.to_ascii_lowercase().as_str(), v) {
                ("received", Some(v)) => {
                    let v = v
                        .strip_prefix('[')
                        .and_then(|v| v.strip_suffix(']'))
                        .unwrap_or(v);
                    v.parse::<std::net::IpAddr>().is_ok()
                }
                ("received", None) | ("branch", None) | ("maddr", None) | ("ttl", None) => false,
                ("rport", Some(v)) => parse_decimal(v, 5).is_some_and(|p| p <= 65535),
                ("ttl", Some(v)) => parse_decimal(v, 3).is_some_and(|t| t <= 255),
                _ => true,
            };
            if !ok {
                return Err(Syntax("invalid Via parameter"));
            }
        }
        let mut v = format!("{proto}/{version}/{transport} {host}");
        if let Some(p) = port {
            v.push_str(&format!(":{p}"));
        }
        write_params(&mut v, &params);
        out.push(v);
        if !after_list_comma(&mut cur)? {
            return Ok(out);
        }
    }
}

/// `SLASH = SWS "/" SWS`.
fn slash(cur: &mut Cursor<'_>) -> Parsed<()> {
    cur.skip_ws();
    cur.expect(b'/', "expected / in Via sent-protocol")?;
    cur.skip_ws();
    Ok(())
}

/// A `name-addr` or `addr-spec` with its header parameters.
#[derive(Debug, Clone)]
pub(crate) struct NameAddr<'a> {
    pub display: Option<String>,
    pub uri: &'a str,
    pub params: Vec<(&'a str, Option<&'a str>)>,
}

impl NameAddr<'_> {
    /// `[display-name SP] <uri>;param=value...`. A bare addr-spec gains its
    /// angle brackets, which leaves its meaning unchanged (RFC 3261 §20.10).
    pub(crate) fn canonical(&self) -> String {
        let mut s = String::new();
        if let Some(d) = &self.display {
            s.push_str(d);
            s.push(' ');
        }
        s.push('<');
        s.push_str(self.uri);
        s.push('>');
        write_params(&mut s, &self.params);
        s
    }
}

/// `( name-addr / addr-spec ) *( SEMI generic-param )` (RFC 3261 §20.10,
/// §20.20, §20.39). `display-name = *(token LWS) / quoted-string`; no white
/// space is allowed inside `<...>` (RFC 4475 §3.1.2.14). A bare addr-spec
/// ends at `;`, `,` or white space and may not carry `?` (RFC 3261 §20.10:
/// such URIs must be enclosed in `<>`, RFC 4475 §3.1.2.13).
pub(crate) fn name_addr<'a>(cur: &mut Cursor<'a>, brackets_required: bool) -> Parsed<NameAddr<'a>> {
    cur.skip_ws();
    let start = cur.pos();
    let mut display = None;
    match cur.peek() {
        Some(b'"') => {
            display = Some(cur.quoted_string()?.to_string());
            cur.skip_ws();
            if cur.peek() != Some(b'<') {
                return Err(Syntax("expected < after the display name"));
            }
        }
        Some(b'<') => {}
        _ => {
            let mut words = Vec::new();
            loop {
                let w = cur.take_ascii_while(is_token_char);
                if w.is_empty() {
                    break;
                }
                words.push(w);
                cur.skip_ws();
            }
            if !words.is_empty() && cur.peek() == Some(b'<') {
                display = Some(words.join(" "));
            } else {
                cur.set_pos(start);
            }
        }
    }
    let uri = if cur.eat(b'<') {
        let uri = cur.take_ascii_while(|b| b > 0x20 && b < 0x7f && b != b'<' && b != b'>');
        cur.expect(b'>', "expected > after the URI (no white space inside <>)")?;
        uri
    } else {
        if brackets_required {
            return Err(Syntax("address must be enclosed in <>"));
        }
        let uri = cur.take_ascii_while(|b| b > 0x20 && b < 0x7f && b != b';' && b != b',');
        if uri.contains('?') || uri.contains('<') || uri.contains('>') || uri.contains('"') {
            return Err(Syntax(
                "a URI with ?, <, > or quotes must be enclosed in <>",
            ));
        }
        uri
    };
    parse_uri(uri)?;
    let params = generic_params(cur)?;
    Ok(NameAddr {
        display,
        uri,
        params,
    })
}

/// A comma list of name-addr / addr-spec (Contact, Route, Record-Route),
/// each element canonical.
fn name_addr_list(value: &str, brackets_required: bool) -> Parsed<Vec<String>> {
    let mut cur = Cursor::new(value);
    let mut out = Vec::new();
    loop {
        out.push(name_addr(&mut cur, brackets_required)?.canonical());
        if !after_list_comma(&mut cur)? {
            return Ok(out);
        }
    }
}

/// `callid = word [ "@" word ]` (RFC 3261 §20.8, §25.1).
fn is_call_id(v: &str) -> bool {
    let mut parts = v.splitn(2, '@');
    let word = |w: &str| !w.is_empty() && w.bytes().all(is_word_char);
    parts.next().is_some_and(word) && parts.next().is_none_or(word)
}

/// `CSeq = "CSeq" HCOLON 1*DIGIT LWS Method` (RFC 3261 §20.16); the number
/// must fit in 32 bits (RFC 3261 §8.1.1.5, RFC 4475 §3.1.2.4).
pub(crate) fn cseq(v: &str) -> Parsed<(u32, &str)> {
    let mut cur = Cursor::new(v);
    let digits = cur.take_ascii_while(|b| b.is_ascii_digit());
    if digits.is_empty() {
        return Err(Syntax("missing CSeq number"));
    }
    let n = parse_decimal(digits, 10)
        .filter(|n| *n <= MAX_CSEQ)
        .ok_or(Syntax("CSeq number larger than 2**32-1"))?;
    if !cur.skip_ws() {
        return Err(Syntax("missing white space before the CSeq method"));
    }
    let method = cur.token("missing CSeq method")?;
    cur.skip_ws();
    if !cur.at_end() {
        return Err(Syntax("unexpected text after the CSeq method"));
    }
    Ok((n as u32, method))
}

/// `media-type = m-type SLASH m-subtype *(SEMI m-parameter)`,
/// `m-parameter = m-attribute EQUAL m-value` (RFC 3261 §20.15, §25.1).
pub(crate) fn media_type(cur: &mut Cursor<'_>) -> Parsed<MediaType> {
    cur.skip_ws();
    let kind = cur.token("missing media type")?.to_ascii_lowercase();
    cur.skip_ws();
    cur.expect(b'/', "expected / in media type")?;
    cur.skip_ws();
    let subtype = cur.token("missing media subtype")?.to_ascii_lowercase();
    let mut params = Vec::new();
    for (n, v) in generic_params(cur)? {
        let v = v.ok_or(Syntax("media type parameter without a value"))?;
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        params.push((n.to_string(), v.to_string()));
    }
    Ok(MediaType {
        kind,
        subtype,
        params,
    })
}

/// `Accept = "Accept" HCOLON [ accept-range *(COMMA accept-range) ]`
/// (RFC 3261 §20.1); returns (type, subtype), lower-cased.
fn accept(v: &str) -> Parsed<Vec<(String, String)>> {
    let mut cur = Cursor::new(v);
    let mut out = Vec::new();
    cur.skip_ws();
    if cur.at_end() {
        return Ok(out);
    }
    loop {
        let mt = media_type(&mut cur)?;
        out.push((mt.kind, mt.subtype));
        if !after_list_comma(&mut cur)? {
            return Ok(out);
        }
    }
}

/// A comma list of tokens (option tags, content codings).
fn token_list(v: &str, non_empty: bool) -> Parsed<Vec<String>> {
    let mut cur = Cursor::new(v);
    let mut out = Vec::new();
    cur.skip_ws();
    if cur.at_end() {
        return if non_empty {
            Err(Syntax("empty list"))
        } else {
            Ok(out)
        };
    }
    loop {
        cur.skip_ws();
        out.push(cur.token("invalid list element")?.to_string());
        if !after_list_comma(&mut cur)? {
            return Ok(out);
        }
    }
}

/// Whether a name-addr / addr-spec header value already carries a `tag`
/// parameter. Used when adding a To tag to a response.
pub(crate) fn has_tag_param(value: &str) -> bool {
    let mut cur = Cursor::new(value);
    match name_addr(&mut cur, false) {
        Ok(na) => na.params.iter().any(|(n, _)| n.eq_ignore_ascii_case("tag")),
        // Not parseable: look for the parameter textually after the URI.
        Err(_) => {
            let after = value.rsplit_once('>').map(|(_, a)| a).unwrap_or(value);
            after.split(';').skip(1).any(|p| {
                p.trim()
                    .split('=')
                    .next()
                    .is_some_and(|n| n.trim().eq_ignore_ascii_case("tag"))
            })
        }
    }
}

/// Whether `b` may appear in a header value we write (no CR, LF or NUL).
pub(crate) fn is_safe_value_byte(b: u8) -> bool {
    b != b'\r' && b != b'\n' && b != 0 && (b >= 0x20 || is_wsp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_with_lws_everywhere_is_canonicalised() {
        let v = via_list("SIP / 2.0 / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8  , SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239").unwrap();
        assert_eq!(
            v,
            vec![
                "SIP/2.0/TCP spindle.example.com;branch=z9hG4bK9ikj8",
                "SIP/2.0/UDP 192.168.255.111;branch=z9hG4bK30239"
            ]
        );
    }

    #[test]
    fn via_with_empty_params_or_elements_is_refused() {
        assert!(via_list("SIP/2.0/UDP 192.0.2.15;;,;,,").is_err());
        assert!(via_list("SIP/2.0/UDP 192.0.2.15,").is_err());
        assert!(via_list("SIP/2.0/UDP").is_err());
    }

    #[test]
    fn name_addr_forms() {
        let na = |s| {
            let mut c = Cursor::new(s);
            let r = name_addr(&mut c, false).map(|n| n.canonical());
            c.skip_ws();
            r.and_then(|r| {
                if c.at_end() {
                    Ok(r)
                } else {
                    Err(Syntax("trailing"))
                }
            })
        };
        assert_eq!(
            na("caller<sip:caller@example.com>;tag=323").unwrap(),
            "caller <sip:caller@example.com>;tag=323"
        );
        assert_eq!(
            na("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").unwrap(),
            "<sip:vivekg@chair-dnrc.example.com>;tag=1918181833n"
        );
        assert_eq!(
            na("\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com> ; tag = 98asjd8").unwrap(),
            "\"J Rosenberg \\\\\\\"\" <sip:jdrosen@example.com>;tag=98asjd8"
        );
        assert!(na("\"Mr. J. User <sip:j.user@example.com>").is_err());
        assert!(na("\"Watson, Thomas\" < sip:t.watson@example.org >").is_err());
        assert!(na("Watson, Thomas <sip:t.watson@example.org>").is_err());
        assert!(na("sip:user@example.com?Route=%3Csip:sip.example.com%3E").is_err());
        assert!(na("<sip:user@example.com?Route=%3Csip:sip.example.com%3E>").is_ok());
        assert!(na("isbn:2983792873").is_ok());
    }

    #[test]
    fn cseq_limits() {
        assert_eq!(cseq("0009 INVITE").unwrap(), (9, "INVITE"));
        assert_eq!(cseq("4294967295 ACK").unwrap(), (u32::MAX, "ACK"));
        assert!(cseq("4294967296 ACK").is_err());
        assert!(cseq("36893488147419103232 REGISTER").is_err());
        assert!(cseq("1INVITE").is_err());
    }

    #[test]
    fn tag_detection() {
        assert!(has_tag_param("<sip:a@b>;tag=1"));
        assert!(!has_tag_param("sip:a@b;transport=udp"));
        assert!(!has_tag_param("<sip:a@b;tag=1>"));
    }
}
