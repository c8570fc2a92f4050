//! Character classes and small lexical parsers of the SIP grammar
//! (RFC 3261 §25.1), shared by the URI and header-field parsers.
//!
//! Every parser here works on a header-field value that has already been
//! unfolded (each line fold replaced by one SP, RFC 3261 §7.3.1), so linear
//! white space (`LWS`/`SWS`) is simply a run of SP / HTAB.

use std::net::{Ipv4Addr, Ipv6Addr};

/// A syntax error: what was wrong, as a fixed phrase (no peer bytes in it,
/// so it may be written into a Reason-Phrase or a log line unescaped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Syntax(pub &'static str);

pub(crate) type Parsed<T> = Result<T, Syntax>;

/// `token` characters (RFC 3261 §25.1): alphanum / `-.!%*_+` `` ` `` `'~`.
pub(crate) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// `word` characters (RFC 3261 §25.1), used by Call-ID: token characters
/// plus `()<>:\"/[]?{}`.
pub(crate) fn is_word_char(b: u8) -> bool {
    is_token_char(b) || b"()<>:\\\"/[]?{}".contains(&b)
}

/// `unreserved` = alphanum / mark (RFC 3261 §25.1).
pub(crate) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b)
}

/// SP or HTAB.
pub(crate) fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Whether `s` is a non-empty `token`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// A byte cursor over a `&str`. Every slice it hands out ends at an ASCII
/// byte or at the end of the input, so slicing never splits a UTF-8 sequence.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Self { src, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn set_pos(&mut self, pos: usize) {
        self.pos = pos.min(self.src.len());
    }

    pub(crate) fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or("")
    }

    pub(crate) fn slice(&self, from: usize, to: usize) -> &'a str {
        self.src.get(from..to).unwrap_or("")
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    pub(crate) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn expect(&mut self, b: u8, err: &'static str) -> Parsed<()> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(Syntax(err))
        }
    }

    /// Skips SP / HTAB; tells whether any was there.
    pub(crate) fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(is_wsp) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// Takes the longest run of ASCII bytes matching `pred`.
    pub(crate) fn take_ascii_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii() && pred(b)) {
            self.pos += 1;
        }
        self.slice(start, self.pos)
    }

    /// A non-empty `token`.
    pub(crate) fn token(&mut self, err: &'static str) -> Parsed<&'a str> {
        let t = self.take_ascii_while(is_token_char);
        if t.is_empty() {
            Err(Syntax(err))
        } else {
            Ok(t)
        }
    }

    /// `quoted-string` (RFC 3261 §25.1), returned with its quotes.
    /// `qdtext = LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII`,
    /// `quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)`.
    pub(crate) fn quoted_string(&mut self) -> Parsed<&'a str> {
        let start = self.pos;
        self.expect(b'"', "expected a quoted string")?;
        loop {
            match self.peek() {
                None => return Err(Syntax("unterminated quoted string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(self.slice(start, self.pos));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b) if b < 0x80 && b != b'\r' && b != b'\n' => self.pos += 1,
                        _ => return Err(Syntax("invalid quoted-pair")),
                    }
                }
                Some(b) if b >= 0x80 || is_wsp(b) || (0x21..=0x7e).contains(&b) => self.pos += 1,
                Some(_) => return Err(Syntax("control character in quoted string")),
            }
        }
    }

    /// An unsigned decimal of at most `max_digits` digits.
    pub(crate) fn digits(&mut self, max_digits: usize, err: &'static str) -> Parsed<u64> {
        let d = self.take_ascii_while(|b| b.is_ascii_digit());
        parse_decimal(d, max_digits).ok_or(Syntax(err))
    }
}

/// Parses `1*DIGIT` into a u64, refusing empty input, more than
/// `max_digits` significant digits and overflow.
pub(crate) fn parse_decimal(d: &str, max_digits: usize) -> Option<u64> {
    if d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let significant = d.trim_start_matches('0');
    if significant.len() > max_digits {
        return None;
    }
    significant.bytes().try_fold(0u64, |acc, b| {
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// `host` (RFC 3261 §25.1): hostname / IPv4address / IPv6reference.
/// Returns the host text. Hostnames are accepted a little more liberally
/// than the ABNF (an underscore, a digit-led top label) because such names
/// are seen in the field and do no harm.
pub(crate) fn host<'a>(cur: &mut Cursor<'a>) -> Parsed<&'a str> {
    let start = cur.pos();
    if cur.eat(b'[') {
        let inner = cur.take_ascii_while(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        cur.expect(b']', "unterminated IPv6 reference")?;
        if inner.parse::<Ipv6Addr>().is_err() {
            return Err(Syntax("invalid IPv6 address"));
        }
        return Ok(cur.slice(start, cur.pos()));
    }
    let h =
        cur.take_ascii_while(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if is_valid_hostname(h) {
        Ok(h)
    } else {
        Err(Syntax("invalid host"))
    }
}

/// Whether `h` is an IPv4 address or a plausible hostname.
pub(crate) fn is_valid_hostname(h: &str) -> bool {
    if h.is_empty() || h.len() > 255 {
        return false;
    }
    if h.parse::<Ipv4Addr>().is_ok() {
        return true;
    }
    let trimmed = h.strip_suffix('.').unwrap_or(h);
    !trimmed.is_empty()
        && trimmed.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// One `generic-param` value: `gen-value = token / host / quoted-string`.
/// A bare IPv6 address is accepted too (`via-received` allows one, RFC 3261
/// §20.42), so `:` is taken as part of an unquoted value.
fn gen_value<'a>(cur: &mut Cursor<'a>) -> Parsed<&'a str> {
    match cur.peek() {
        Some(b'"') => cur.quoted_string(),
        Some(b'[') => host(cur),
        _ => {
            let v = cur.take_ascii_while(|b| is_token_char(b) || b == b':');
            if v.is_empty() {
                Err(Syntax("missing parameter value"))
            } else {
                Ok(v)
            }
        }
    }
}

/// `*( SEMI generic-param )` with `SEMI = SWS ";" SWS` and
/// `EQUAL = SWS "=" SWS` (RFC 3261 §25.1). Stops before anything that is not
/// a `;` (a `,` of a list, or the end). Returns (name, value) pairs.
pub(crate) fn generic_params<'a>(cur: &mut Cursor<'a>) -> Parsed<Vec<(&'a str, Option<&'a str>)>> {
    let mut params = Vec::new();
    loop {
        let save = cur.pos();
        cur.skip_ws();
        if !cur.eat(b';') {
            cur.set_pos(save);
            return Ok(params);
        }
        cur.skip_ws();
        let name = cur.token("empty parameter")?;
        let save = cur.pos();
        cur.skip_ws();
        if cur.eat(b'=') {
            cur.skip_ws();
            params.push((name, Some(gen_value(cur)?)));
        } else {
            cur.set_pos(save);
            params.push((name, None));
        }
    }
}

/// Writes parameters back in their canonical, white-space-free form.
pub(crate) fn write_params(out: &mut String, params: &[(&str, Option<&str>)]) {
    for (name, value) in params {
        out.push(';');
        out.push_str(name);
        if let Some(v) = value {
            out.push('=');
            out.push_str(v);
        }
    }
}

/// After one element of a comma list (`COMMA = SWS "," SWS`): `Ok(false)` at
/// the end of the value, `Ok(true)` when another element follows, an error
/// for anything else or for an empty element (RFC 3261 §7.3.1).
pub(crate) fn after_list_comma(cur: &mut Cursor<'_>) -> Parsed<bool> {
    cur.skip_ws();
    if cur.at_end() {
        return Ok(false);
    }
    cur.expect(b',', "unexpected character after list element")?;
    cur.skip_ws();
    if cur.at_end() {
        return Err(Syntax("empty list element"));
    }
    Ok(true)
}

/// Decodes `%HH` escapes. Invalid escapes are kept as written.
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_strings_accept_escaped_controls_and_reject_unterminated() {
        let mut c = Cursor::new("\"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f\" rest");
        assert!(c.quoted_string().is_ok());
        assert_eq!(c.rest(), " rest");
        assert!(Cursor::new("\"Mr. J. User <sip:j@x>")
            .quoted_string()
            .is_err());
    }

    #[test]
    fn decimals_refuse_overflow_but_allow_leading_zeros() {
        assert_eq!(parse_decimal("0009", 10), Some(9));
        assert_eq!(parse_decimal("36893488147419103232", 10), None);
        assert_eq!(parse_decimal("-1", 10), None);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("sips%3Auser%40example.com"),
            "sips:user@example.com"
        );
        assert_eq!(percent_decode("null-%00-null"), "null-\0-null");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%4"), "%4");
    }
}
