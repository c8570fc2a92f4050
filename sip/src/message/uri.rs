//! URIs as SIP carries them: SIP/SIPS-URI (RFC 3261 §19.1.1, ABNF in §25.1),
//! tel URI (RFC 3966 §3) and any other `absoluteURI` (RFC 2396 §3, by syntax
//! only). rsipstack's own `parse_uri` splits at the first `;` before looking
//! for `@` and keeps `%HH` escapes undecoded (then escapes them again when
//! printing), so the Request-URI is parsed here and built into an
//! `rsipstack::sip::Uri` field by field.

use super::grammar::{host, is_unreserved, Cursor, Parsed, Syntax};
use rsipstack::sip::uri::{Auth, Domain, Host, HostWithPort, Param, Scheme};
use rsipstack::sip::{Port, Uri as RsipUri};

/// A URI, checked against its grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParsedUri<'a> {
    /// `sip:` or `sips:`.
    Sip(SipUri<'a>),
    /// `tel:` (RFC 3966).
    Tel {
        number: &'a str,
        params: Vec<(&'a str, Option<&'a str>)>,
    },
    /// Any other scheme: syntactically an `absoluteURI`, otherwise opaque.
    Other { scheme: &'a str },
}

/// The parts of a SIP or SIPS URI (RFC 3261 §19.1.1), still escaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SipUri<'a> {
    pub secure: bool,
    pub user: Option<&'a str>,
    pub password: Option<&'a str>,
    pub host: &'a str,
    pub port: Option<u16>,
    pub params: Vec<(&'a str, Option<&'a str>)>,
    pub headers: Option<&'a str>,
}

/// `user-unreserved` (RFC 3261 §25.1).
fn is_user_char(b: u8) -> bool {
    is_unreserved(b) || b"&=+$,;?/".contains(&b)
}

fn is_password_char(b: u8) -> bool {
    is_unreserved(b) || b"&=+$,".contains(&b)
}

/// `paramchar` = param-unreserved / unreserved (escapes handled apart).
fn is_param_char(b: u8) -> bool {
    is_unreserved(b) || b"[]/:&+$".contains(&b)
}

/// `hname` / `hvalue` characters: hnv-unreserved / unreserved.
fn is_hnv_char(b: u8) -> bool {
    is_unreserved(b) || b"[]/?:+$".contains(&b)
}

/// `reserved` / `unreserved` of RFC 2396 (`uric`), plus `[]` and `#`.
fn is_uric(b: u8) -> bool {
    is_unreserved(b) || b";/?:@&=+$,[]#".contains(&b)
}

/// Whether every character of `s` is allowed by `pred` or is a valid
/// `escaped` (`"%" HEXDIG HEXDIG`).
fn escaped_run(s: &str, pred: impl Fn(u8) -> bool) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok = b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return false;
            }
            i += 3;
        } else if b[i].is_ascii() && pred(b[i]) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )` (RFC 2396 §3.1).
fn is_scheme(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c))
}

/// Parses one URI. The text must be the whole URI (no surrounding `<>`,
/// no white space).
pub(crate) fn parse_uri(s: &str) -> Parsed<ParsedUri<'_>> {
    let colon = s.find(':').ok_or(Syntax("URI has no scheme"))?;
    let (scheme, rest) = (&s[..colon], &s[colon + 1..]);
    if !is_scheme(scheme) {
        return Err(Syntax("invalid URI scheme"));
    }
    if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
        return parse_sip(rest, scheme.eq_ignore_ascii_case("sips")).map(ParsedUri::Sip);
    }
    if scheme.eq_ignore_ascii_case("tel") {
        return parse_tel(rest);
    }
    if rest.is_empty() || !escaped_run(rest, is_uric) {
        return Err(Syntax("invalid absolute URI"));
    }
    Ok(ParsedUri::Other { scheme })
}

fn parse_sip(rest: &str, secure: bool) -> Parsed<SipUri<'_>> {
    // '@' is in none of the character sets after userinfo, so the first one
    // ends it; user and password may hold ';', '?', '/', ',' unescaped.
    let (user, password, after) = match rest.find('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let (user, password) = match userinfo.find(':') {
                Some(c) => (&userinfo[..c], Some(&userinfo[c + 1..])),
                None => (userinfo, None),
            };
            if user.is_empty() || !escaped_run(user, is_user_char) {
                return Err(Syntax("invalid user part in SIP URI"));
            }
            if password.is_some_and(|p| !escaped_run(p, is_password_char)) {
                return Err(Syntax("invalid password in SIP URI"));
            }
            (Some(user), password, &rest[at + 1..])
        }
        None => (None, None, rest),
    };
    let mut cur = Cursor::new(after);
    let host = host(&mut cur)?;
    let port = if cur.eat(b':') {
        let p = cur.digits(5, "invalid port in SIP URI")?;
        Some(u16::try_from(p).map_err(|_| Syntax("port out of range in SIP URI"))?)
    } else {
        None
    };
    let mut params = Vec::new();
    while cur.eat(b';') {
        let name = take_escaped(&mut cur, is_param_char);
        if name.is_empty() {
            return Err(Syntax("empty SIP URI parameter"));
        }
        let value = if cur.eat(b'=') {
            let v = take_escaped(&mut cur, is_param_char);
            if v.is_empty() {
                return Err(Syntax("empty SIP URI parameter value"));
            }
            Some(v)
        } else {
            None
        };
        params.push((name, value));
    }
    let headers = if cur.eat(b'?') {
        let h = cur.rest();
        let ok = !h.is_empty()
            && h.split('&').all(|hv| match hv.split_once('=') {
                Some((n, v)) => {
                    !n.is_empty() && escaped_run(n, is_hnv_char) && escaped_run(v, is_hnv_char)
                }
                None => false,
            });
        if !ok {
            return Err(Syntax("invalid headers in SIP URI"));
        }
        cur.set_pos(after.len());
        Some(h)
    } else {
        None
    };
    if !cur.at_end() {
        return Err(Syntax("unexpected character in SIP URI"));
    }
    Ok(SipUri {
        secure,
        user,
        password,
        host,
        port,
        params,
        headers,
    })
}

/// Takes a run of `pred` characters and valid escapes.
fn take_escaped<'a>(cur: &mut Cursor<'a>, pred: impl Fn(u8) -> bool) -> &'a str {
    let start = cur.pos();
    loop {
        match cur.peek() {
            Some(b'%') => {
                let r = cur.rest().as_bytes();
                if r.len() >= 3 && r[1].is_ascii_hexdigit() && r[2].is_ascii_hexdigit() {
                    cur.set_pos(cur.pos() + 3);
                } else {
                    break;
                }
            }
            Some(b) if b.is_ascii() && pred(b) => cur.set_pos(cur.pos() + 1),
            _ => break,
        }
    }
    cur.slice(start, cur.pos())
}

/// `telephone-subscriber` (RFC 3966 §3), checked loosely: phone digits,
/// visual separators and `*#`, then `;`-parameters.
fn parse_tel(rest: &str) -> Parsed<ParsedUri<'_>> {
    let mut cur = Cursor::new(rest);
    let number = cur.take_ascii_while(|b| b.is_ascii_hexdigit() || b"+-.()*#".contains(&b));
    if !number
        .bytes()
        .any(|b| b.is_ascii_hexdigit() || b == b'*' || b == b'#')
    {
        return Err(Syntax("invalid tel URI number"));
    }
    let mut params = Vec::new();
    while cur.eat(b';') {
        let name = cur.take_ascii_while(|b| b.is_ascii_alphanumeric() || b == b'-');
        if name.is_empty() {
            return Err(Syntax("empty tel URI parameter"));
        }
        let value = if cur.eat(b'=') {
            let v = take_escaped(&mut cur, is_param_char);
            if v.is_empty() {
                return Err(Syntax("empty tel URI parameter value"));
            }
            Some(v)
        } else {
            None
        };
        params.push((name, value));
    }
    if !cur.at_end() {
        return Err(Syntax("unexpected character in tel URI"));
    }
    Ok(ParsedUri::Tel { number, params })
}

fn rsip_params(params: &[(&str, Option<&str>)]) -> Vec<Param> {
    params
        .iter()
        .map(|(n, v)| {
            // rsipstack refuses unknown transports/methods and odd rport
            // values; those are still valid generic parameters.
            Param::try_from((*n, *v))
                .unwrap_or_else(|_| Param::Other((*n).into(), v.map(|v| v.into())))
        })
        .collect()
}

/// Builds the rsipstack form. User and password are stored unescaped,
/// which is what rsipstack's `Display` expects (it escapes them again).
pub(crate) fn to_rsip(uri: &ParsedUri<'_>) -> Option<RsipUri> {
    match uri {
        ParsedUri::Sip(u) => {
            let host = if let Some(v6) = u.host.strip_prefix('[').and_then(|h| h.strip_suffix(']'))
            {
                Host::IpAddr(v6.parse().ok()?)
            } else if let Ok(v4) = u.host.parse::<std::net::Ipv4Addr>() {
                Host::IpAddr(v4.into())
            } else {
                Host::Domain(Domain::from(u.host))
            };
            let headers = u
                .headers
                .map(|h| {
                    h.split('&')
                        .filter_map(|kv| kv.split_once('='))
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                })
                .unwrap_or_default();
            Some(RsipUri {
                scheme: Some(if u.secure { Scheme::Sips } else { Scheme::Sip }),
                auth: u.user.map(|user| Auth {
                    user: super::grammar::percent_decode(user),
                    password: u.password.map(super::grammar::percent_decode),
                }),
                host_with_port: HostWithPort {
                    host,
                    port: u.port.map(Port),
                },
                params: rsip_params(&u.params),
                headers,
            })
        }
        ParsedUri::Tel { number, params } => Some(RsipUri {
            scheme: Some(Scheme::Other("tel".into())),
            auth: None,
            host_with_port: HostWithPort {
                host: Host::Domain(Domain::from(*number)),
                port: None,
            },
            params: params
                .iter()
                .map(|(n, v)| Param::Other((*n).into(), v.map(|v| v.into())))
                .collect(),
            headers: Vec::new(),
        }),
        ParsedUri::Other { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(s: &str) -> SipUri<'_> {
        match parse_uri(s) {
            Ok(ParsedUri::Sip(u)) => u,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn semicolons_in_the_user_part_are_user_not_parameters() {
        let u = sip("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user, Some("user;par=u%40example.net"));
        assert_eq!(u.host, "example.com");
        assert!(u.params.is_empty());
    }

    #[test]
    fn escaped_user_round_trips_through_rsipstack() {
        let parsed = parse_uri("sip:sips%3Auser%40example.com@example.net").unwrap();
        let r = to_rsip(&parsed).unwrap();
        assert_eq!(r.user(), Some("sips:user@example.com"));
        assert_eq!(r.to_string(), "sip:sips%3Auser%40example.com@example.net");
    }

    #[test]
    fn unusual_but_valid_user_and_password() {
        let u = sip("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com");
        assert_eq!(u.host, "example.com");
        assert!(u.password.is_some());
    }

    #[test]
    fn invalid_uris() {
        for s in [
            "<sip:user@example.com>",
            "sip:user@example.com; lr",
            "sip:",
            "sip:user@",
            "sip:us er@example.com",
            "sip:user@example.com;;lr",
            "sip:%zz@example.com",
            "sip:host:99999",
            "tel:",
            "nobody:",
        ] {
            assert!(parse_uri(s).is_err(), "{s} accepted");
        }
    }

    #[test]
    fn other_schemes_parse_as_opaque() {
        assert!(matches!(
            parse_uri("nobodyKnowsThisScheme:totallyopaquecontent"),
            Ok(ParsedUri::Other { .. })
        ));
        assert!(matches!(
            parse_uri("soap.beep://192.0.2.103:3002"),
            Ok(ParsedUri::Other {
                scheme: "soap.beep"
            })
        ));
        assert!(matches!(
            parse_uri("tel:+1-201-555-0123;phone-context=x"),
            Ok(ParsedUri::Tel { .. })
        ));
    }

    #[test]
    fn headers_and_ipv6() {
        let u = sip("sip:user@example.com?Route=%3Csip:example.com%3E");
        assert_eq!(u.headers, Some("Route=%3Csip:example.com%3E"));
        let u = sip("sip:[2001:db8::1]:5070;transport=sctp");
        assert_eq!(u.port, Some(5070));
        let r = to_rsip(&ParsedUri::Sip(u)).unwrap();
        assert_eq!(r.to_string(), "sip:[2001:db8::1]:5070;transport=SCTP");
    }
}
