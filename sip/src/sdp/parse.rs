//! Parsing SDP text (RFC 8866 §5, §9 grammar): strict about the structure,
//! tolerant of what a telephony UA does not use.

use super::model::{Attribute, Connection, Line, MediaDescription, Origin, SessionDescription};
use super::{MAX_FORMATS_PER_MEDIA, MAX_MEDIA_SECTIONS, MAX_SDP_BYTES, MAX_SDP_LINES};

/// Why a session description was refused. Line numbers count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("session description exceeds {limit} bytes")]
    TooLarge { limit: usize },
    #[error("session description has more than {limit} lines")]
    TooManyLines { limit: usize },
    #[error("session description has more than {limit} media sections")]
    TooManyMediaSections { limit: usize },
    #[error("media line {line} has more than {limit} formats")]
    TooManyFormats { line: usize, limit: usize },
    #[error("session description is not UTF-8")]
    NotUtf8,
    #[error("session description does not start with v=0")]
    MissingVersion,
    #[error("unsupported SDP version {0:?}")]
    UnsupportedVersion(String),
    #[error("line {line} is not <type>=<value>")]
    MalformedLine { line: usize },
    #[error("line {line}: {kind}= is not allowed here")]
    UnexpectedLine { line: usize, kind: char },
    #[error("line {line}: {kind}= appears more than once")]
    Duplicate { line: usize, kind: char },
    #[error("missing {0}= line")]
    Missing(char),
    #[error("line {line}: malformed o= (origin)")]
    InvalidOrigin { line: usize },
    #[error("line {line}: malformed c= (connection data)")]
    InvalidConnection { line: usize },
    #[error("line {line}: malformed m= (media description)")]
    InvalidMedia { line: usize },
    #[error("line {line}: malformed a= (attribute)")]
    InvalidAttribute { line: usize },
}

/// Non-white-space, non-control text (RFC 8866 §9 `non-ws-string`).
fn is_field(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `token` of RFC 8866 §9 (as in RFC 3261, plus `#$&^{|}`).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`{|}~".contains(&b))
}

fn origin(v: &str, line: usize) -> Result<Origin, SdpError> {
    let f: Vec<&str> = v.split(' ').collect();
    let [username, session_id, session_version, net_type, addr_type, address] = f[..] else {
        return Err(SdpError::InvalidOrigin { line });
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !is_field(username)
        || !digits(session_id)
        || !digits(session_version)
        || !is_token(net_type)
        || !is_token(addr_type)
        || !is_field(address)
    {
        return Err(SdpError::InvalidOrigin { line });
    }
    Ok(Origin {
        username: username.into(),
        session_id: session_id.into(),
        session_version: session_version.into(),
        net_type: net_type.into(),
        addr_type: addr_type.into(),
        address: address.into(),
    })
}

fn connection(v: &str, line: usize) -> Result<Connection, SdpError> {
    let f: Vec<&str> = v.split(' ').collect();
    let [net_type, addr_type, address] = f[..] else {
        return Err(SdpError::InvalidConnection { line });
    };
    if !is_token(net_type) || !is_token(addr_type) || !is_field(address) {
        return Err(SdpError::InvalidConnection { line });
    }
    let c = Connection {
        net_type: net_type.into(),
        addr_type: addr_type.into(),
        address: address.into(),
    };
    // An IN IP4 / IN IP6 address must be an address of that family or a
    // hostname; "IP4 ::1" is an error, not a hostname.
    if c.net_type.eq_ignore_ascii_case("IN") && c.ip().is_none() {
        let host = address.split('/').next().unwrap_or("");
        let plausible_name = host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            && host.bytes().any(|b| b.is_ascii_alphabetic());
        if !plausible_name || host.parse::<std::net::IpAddr>().is_ok() {
            return Err(SdpError::InvalidConnection { line });
        }
    }
    Ok(c)
}

fn media(v: &str, line: usize) -> Result<MediaDescription, SdpError> {
    let bad = SdpError::InvalidMedia { line };
    let mut f = v.split(' ');
    let media = f.next().filter(|m| is_token(m)).ok_or(bad.clone())?;
    let port_field = f.next().ok_or(bad.clone())?;
    let (port, port_count) = match port_field.split_once('/') {
        Some((p, n)) => (p, Some(n.parse::<u16>().map_err(|_| bad.clone())?)),
        None => (port_field, None),
    };
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad);
    }
    let port: u16 = port.parse().map_err(|_| bad.clone())?;
    let proto = f
        .next()
        .filter(|p| p.split('/').all(is_token))
        .ok_or(bad.clone())?;
    let formats: Vec<String> = f.map(str::to_string).collect();
    if formats.is_empty() || !formats.iter().all(|x| is_token(x)) {
        return Err(bad);
    }
    if formats.len() > MAX_FORMATS_PER_MEDIA {
        return Err(SdpError::TooManyFormats {
            line,
            limit: MAX_FORMATS_PER_MEDIA,
        });
    }
    Ok(MediaDescription {
        media: media.into(),
        port,
        port_count,
        proto: proto.into(),
        formats,
        lines: Vec::new(),
        connection: None,
        attributes: Vec::new(),
    })
}

fn attribute(v: &str, line: usize) -> Result<Attribute, SdpError> {
    let (name, value) = match v.split_once(':') {
        Some((n, val)) => (n, Some(val.to_string())),
        None => (v, None),
    };
    if !is_token(name) || value.as_deref().is_some_and(|x| x.contains(['\0'])) {
        return Err(SdpError::InvalidAttribute { line });
    }
    Ok(Attribute::new(name, value))
}

impl SessionDescription {
    /// Parses a session description from a message body.
    pub fn parse_bytes(body: &[u8]) -> Result<Self, SdpError> {
        if body.len() > MAX_SDP_BYTES {
            return Err(SdpError::TooLarge {
                limit: MAX_SDP_BYTES,
            });
        }
        Self::parse(std::str::from_utf8(body).map_err(|_| SdpError::NotUtf8)?)
    }

    /// Parses a session description. Lines may end in CRLF or LF (RFC 8866
    /// §5); blank lines and lines of unknown type are skipped; attributes
    /// are kept whether known or not.
    pub fn parse(text: &str) -> Result<Self, SdpError> {
        if text.len() > MAX_SDP_BYTES {
            return Err(SdpError::TooLarge {
                limit: MAX_SDP_BYTES,
            });
        }
        let mut lines = text
            .split('\n')
            .enumerate()
            .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
            .filter(|(_, l)| !l.trim().is_empty());
        let mut count = 0usize;
        let mut next = || -> Result<Option<(usize, char, &str)>, SdpError> {
            let Some((n, l)) = lines.next() else {
                return Ok(None);
            };
            count += 1;
            if count > MAX_SDP_LINES {
                return Err(SdpError::TooManyLines {
                    limit: MAX_SDP_LINES,
                });
            }
            let b = l.as_bytes();
            if b.len() < 2 || !b[0].is_ascii_lowercase() || b[1] != b'=' {
                return Err(SdpError::MalformedLine { line: n });
            }
            Ok(Some((n, b[0] as char, &l[2..])))
        };

        match next()? {
            Some((_, 'v', v)) if v.trim() == "0" => {}
            Some((_, 'v', v)) => return Err(SdpError::UnsupportedVersion(v.to_string())),
            _ => return Err(SdpError::MissingVersion),
        }
        let mut origin_ = None;
        let mut session_name = None;
        let mut sd_lines = Vec::new();
        let mut conn = None;
        let mut attributes = Vec::new();
        let mut media_: Vec<MediaDescription> = Vec::new();

        while let Some((n, kind, v)) = next()? {
            let dup = SdpError::Duplicate { line: n, kind };
            if kind == 'm' {
                if media_.len() >= MAX_MEDIA_SECTIONS {
                    return Err(SdpError::TooManyMediaSections {
                        limit: MAX_MEDIA_SECTIONS,
                    });
                }
                media_.push(media(v, n)?);
                continue;
            }
            if let Some(m) = media_.last_mut() {
                match kind {
                    'c' if m.connection.is_some() => return Err(dup),
                    'c' => m.connection = Some(connection(v, n)?),
                    'a' => m.attributes.push(attribute(v, n)?),
                    'i' | 'b' | 'k' => m.lines.push(Line {
                        kind,
                        value: v.into(),
                    }),
                    'v' | 'o' | 's' | 'u' | 'e' | 'p' | 't' | 'r' | 'z' => {
                        return Err(SdpError::UnexpectedLine { line: n, kind })
                    }
                    _ => {} // unknown type: skipped
                }
                continue;
            }
            match kind {
                'v' => return Err(dup),
                'o' if origin_.is_some() => return Err(dup),
                'o' => origin_ = Some(origin(v, n)?),
                's' if session_name.is_some() => return Err(dup),
                's' => session_name = Some(v.to_string()),
                'c' if conn.is_some() => return Err(dup),
                'c' => conn = Some(connection(v, n)?),
                'a' => attributes.push(attribute(v, n)?),
                'i' | 'u' | 'e' | 'p' | 'b' | 't' | 'r' | 'z' | 'k' => sd_lines.push(Line {
                    kind,
                    value: v.into(),
                }),
                _ => {}
            }
        }
        Ok(SessionDescription {
            origin: origin_.ok_or(SdpError::Missing('o'))?,
            session_name: session_name.ok_or(SdpError::Missing('s'))?,
            lines: sd_lines,
            connection: conn,
            attributes,
            media: media_,
        })
    }
}

impl std::str::FromStr for SessionDescription {
    type Err = SdpError;
    fn from_str(s: &str) -> Result<Self, SdpError> {
        Self::parse(s)
    }
}
