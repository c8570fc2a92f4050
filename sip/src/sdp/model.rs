//! The SDP data model (RFC 8866 §5) and its serialisation in the line order
//! RFC 8866 §5 prescribes.

use std::fmt;
use std::net::IpAddr;

/// A parsed session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=` (RFC 8866 §5.2).
    pub origin: Origin,
    /// `s=` (RFC 8866 §5.3).
    pub session_name: String,
    /// Other session-level lines kept as written (`i= u= e= p= b= t= r=
    /// z= k=`), in their original order.
    pub lines: Vec<Line>,
    /// Session-level `c=` (RFC 8866 §5.7).
    pub connection: Option<Connection>,
    /// Session-level `a=` lines.
    pub attributes: Vec<Attribute>,
    /// `m=` sections in order.
    pub media: Vec<MediaDescription>,
}

/// One SDP line kept verbatim: its type letter and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub kind: char,
    pub value: String,
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`
/// (RFC 8866 §5.2). Session id and version are kept as the digit strings
/// the peer wrote, which may exceed 64 bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub username: String,
    pub session_id: String,
    pub session_version: String,
    pub net_type: String,
    pub addr_type: String,
    pub address: String,
}

/// `c=<nettype> <addrtype> <connection-address>` (RFC 8866 §5.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub net_type: String,
    pub addr_type: String,
    /// As written, possibly with `/ttl` or `/count` suffixes.
    pub address: String,
}

impl Connection {
    /// The connection address when it is a literal IP address of the
    /// declared type (`IN IP4` / `IN IP6`); `None` for a hostname.
    pub fn ip(&self) -> Option<IpAddr> {
        if !self.net_type.eq_ignore_ascii_case("IN") {
            return None;
        }
        let addr = self.address.split('/').next()?;
        let ip: IpAddr = addr.parse().ok()?;
        let ok = match ip {
            IpAddr::V4(_) => self.addr_type.eq_ignore_ascii_case("IP4"),
            IpAddr::V6(_) => self.addr_type.eq_ignore_ascii_case("IP6"),
        };
        ok.then_some(ip)
    }
}

/// `a=<name>[:<value>]` (RFC 8866 §5.13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub value: Option<String>,
}

impl Attribute {
    pub fn new(name: &str, value: Option<String>) -> Self {
        Self {
            name: name.to_string(),
            value,
        }
    }
}

/// One `m=` section (RFC 8866 §5.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// `audio`, `video`, ...
    pub media: String,
    pub port: u16,
    /// The `/<number of ports>` suffix, if any.
    pub port_count: Option<u16>,
    /// `RTP/AVP`, `RTP/SAVPF`, ...
    pub proto: String,
    /// Media formats (RTP payload types for RTP profiles), in preference order.
    pub formats: Vec<String>,
    /// Media-level `i= b= k=` lines kept as written.
    pub lines: Vec<Line>,
    /// Media-level `c=`.
    pub connection: Option<Connection>,
    pub attributes: Vec<Attribute>,
}

/// `a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>]`
/// (RFC 8866 §6.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    pub payload_type: u8,
    pub encoding: String,
    pub clock_rate: u32,
    pub channels: Option<u8>,
}

impl RtpMap {
    fn parse(value: &str) -> Option<Self> {
        let (pt, rest) = value.split_once(' ')?;
        let mut parts = rest.trim().split('/');
        let encoding = parts.next()?.to_string();
        let clock_rate = parts.next()?.parse().ok()?;
        let channels = match parts.next() {
            Some(c) => Some(c.parse().ok()?),
            None => None,
        };
        Some(Self {
            payload_type: pt.parse().ok()?,
            encoding,
            clock_rate,
            channels,
        })
    }
}

/// Media direction attributes (RFC 8866 §6.7, RFC 3264 §5.1), each as
/// declared by the party whose description carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    pub fn from_attribute(name: &str) -> Option<Self> {
        [
            Self::SendRecv,
            Self::SendOnly,
            Self::RecvOnly,
            Self::Inactive,
        ]
        .into_iter()
        .find(|d| d.as_str().eq_ignore_ascii_case(name))
    }

    /// The direction an answerer that is willing to do anything uses in
    /// reply (RFC 3264 §6.1): sendonly ↔ recvonly, the others unchanged.
    pub fn answer(self) -> Self {
        match self {
            Self::SendOnly => Self::RecvOnly,
            Self::RecvOnly => Self::SendOnly,
            d => d,
        }
    }

    /// Whether the declaring party sends media.
    pub fn sends(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }

    /// Whether the declaring party receives media.
    pub fn receives(self) -> bool {
        matches!(self, Self::SendRecv | Self::RecvOnly)
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn direction_of(attrs: &[Attribute]) -> Option<Direction> {
    attrs
        .iter()
        .filter(|a| a.value.is_none())
        .find_map(|a| Direction::from_attribute(&a.name))
}

fn attribute<'a>(attrs: &'a [Attribute], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
        .map(|a| a.value.as_deref().unwrap_or(""))
}

impl SessionDescription {
    /// Session-level direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        direction_of(&self.attributes)
    }

    /// The value of the first session-level attribute `name` (`""` for a
    /// flag attribute).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        attribute(&self.attributes, name)
    }
}

impl MediaDescription {
    /// Media-level direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        direction_of(&self.attributes)
    }

    /// The value of the first media-level attribute `name` (`""` for a flag
    /// attribute).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        attribute(&self.attributes, name)
    }

    /// The `a=rtpmap` for `payload_type`, if present and well-formed.
    pub fn rtpmap(&self, payload_type: u8) -> Option<RtpMap> {
        self.attributes
            .iter()
            .filter(|a| a.name.eq_ignore_ascii_case("rtpmap"))
            .filter_map(|a| RtpMap::parse(a.value.as_deref()?))
            .find(|m| m.payload_type == payload_type)
    }

    /// The `a=fmtp` parameters for `format`, if present.
    pub fn fmtp(&self, format: &str) -> Option<&str> {
        self.attributes
            .iter()
            .filter(|a| a.name.eq_ignore_ascii_case("fmtp"))
            .filter_map(|a| a.value.as_deref()?.split_once(' '))
            .find(|(f, _)| *f == format)
            .map(|(_, p)| p.trim())
    }
}

/// RFC 8866 §5 line order within the session section.
fn session_rank(kind: char) -> u8 {
    match kind {
        'i' => 0,
        'u' => 1,
        'e' => 2,
        'p' => 3,
        // c= goes here (rank 4)
        'b' => 5,
        't' | 'r' => 6,
        'z' => 7,
        _ => 8, // k=
    }
}

fn write_lines(f: &mut fmt::Formatter<'_>, lines: &[&Line]) -> fmt::Result {
    for l in lines {
        write!(f, "{}={}\r\n", l.kind, l.value)?;
    }
    Ok(())
}

fn write_attributes(f: &mut fmt::Formatter<'_>, attrs: &[Attribute]) -> fmt::Result {
    for a in attrs {
        match &a.value {
            Some(v) => write!(f, "a={}:{}\r\n", a.name, v)?,
            None => write!(f, "a={}\r\n", a.name)?,
        }
    }
    Ok(())
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.net_type, self.addr_type, self.address)
    }
}

impl fmt::Display for SessionDescription {
    /// Writes the description with CRLF line ends in RFC 8866 §5 order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.origin;
        write!(f, "v=0\r\n")?;
        write!(
            f,
            "o={} {} {} {} {} {}\r\n",
            o.username, o.session_id, o.session_version, o.net_type, o.addr_type, o.address
        )?;
        write!(f, "s={}\r\n", self.session_name)?;
        let mut lines: Vec<&Line> = self.lines.iter().collect();
        lines.sort_by_key(|l| session_rank(l.kind));
        let (before_c, after_c): (Vec<&Line>, Vec<&Line>) =
            lines.into_iter().partition(|l| session_rank(l.kind) < 4);
        write_lines(f, &before_c)?;
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        write_lines(f, &after_c)?;
        write_attributes(f, &self.attributes)?;
        for m in &self.media {
            write!(f, "m={} {}", m.media, m.port)?;
            if let Some(n) = m.port_count {
                write!(f, "/{n}")?;
            }
            write!(f, " {}", m.proto)?;
            for fmt_ in &m.formats {
                write!(f, " {fmt_}")?;
            }
            write!(f, "\r\n")?;
            // RFC 8866 §5: i= c= b= k= a= within a media section.
            let rank = |l: &&Line| match l.kind {
                'i' => 0,
                'b' => 2,
                _ => 3,
            };
            let mut ml: Vec<&Line> = m.lines.iter().collect();
            ml.sort_by_key(rank);
            let (before_c, after_c): (Vec<&Line>, Vec<&Line>) =
                ml.into_iter().partition(|l| rank(l) < 1);
            write_lines(f, &before_c)?;
            if let Some(c) = &m.connection {
                write!(f, "c={c}\r\n")?;
            }
            write_lines(f, &after_c)?;
            write_attributes(f, &m.attributes)?;
        }
        Ok(())
    }
}
