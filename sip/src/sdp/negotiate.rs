//! RFC 3264 offer/answer for one G.711 audio stream: choose the stream and
//! the codec, learn where to send RTP, and write the answer.

use super::model::{
    Attribute, Connection, Direction, Line, MediaDescription, Origin, SessionDescription,
};
use std::net::{IpAddr, SocketAddr};

/// Packetization time written in the answer and assumed when the offer has
/// no usable `a=ptime` (RFC 3551 §4.5: 20 ms for G.711).
pub const DEFAULT_PTIME_MS: u32 = 20;
/// `a=ptime` values outside this range are ignored.
const PTIME_RANGE_MS: std::ops::RangeInclusive<u32> = 10..=120;
/// DTMF events answered (RFC 4733 §7.1.1: 0-15 digits, 16 flash).
pub(super) const DTMF_EVENTS: &str = "0-16";

/// The audio codecs this engine speaks (RFC 3551 §4.5.14: G.711 µ-law and
/// A-law, static payload types 0 and 8, 8 kHz).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    Pcmu,
    Pcma,
}

impl Codec {
    pub const CLOCK_RATE: u32 = 8_000;

    /// The static payload type (RFC 3551 Table 4).
    pub fn static_payload_type(self) -> u8 {
        match self {
            Self::Pcmu => 0,
            Self::Pcma => 8,
        }
    }

    /// The encoding name used in `a=rtpmap`.
    pub fn encoding_name(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
        }
    }

    /// Which codec an offered format is: by its `a=rtpmap` when present,
    /// else by static payload type.
    fn of(media: &MediaDescription, format: &str) -> Option<(Self, u8)> {
        let pt: u8 = format.parse().ok().filter(|pt| *pt < 128)?;
        let codec = match media.rtpmap(pt) {
            Some(map) => {
                if map.clock_rate != Self::CLOCK_RATE || map.channels.is_some_and(|c| c != 1) {
                    return None;
                }
                [Self::Pcmu, Self::Pcma]
                    .into_iter()
                    .find(|c| c.encoding_name().eq_ignore_ascii_case(&map.encoding))?
            }
            None => [Self::Pcmu, Self::Pcma]
                .into_iter()
                .find(|c| c.static_payload_type() == pt)?,
        };
        Some((codec, pt))
    }
}

/// Where and how to send and expect audio, learned from the offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteAudio {
    /// The peer's RTP address: `c=` (media level, else session level) and
    /// the `m=` port. An unspecified address (`0.0.0.0`, `::`) is an
    /// RFC 2543 hold (RFC 3264 §8.4): send nothing there.
    pub addr: SocketAddr,
    /// The chosen codec.
    pub codec: Codec,
    /// The payload type the offer gave it (static 0/8, or a dynamic type
    /// mapped by `a=rtpmap`); use it in both directions.
    pub payload_type: u8,
    /// The offerer's telephone-event payload type (RFC 4733), if offered
    /// at 8 kHz.
    pub dtmf_payload_type: Option<u8>,
    /// The direction as the offerer declared it (media level, else session
    /// level, else sendrecv), with an RFC 2543 hold folded in: we may send
    /// when `direction.receives()`, and expect media when
    /// `direction.sends()`.
    pub direction: Direction,
    /// The offer's `a=ptime`, else [`DEFAULT_PTIME_MS`].
    pub ptime_ms: u32,
    /// Index of the chosen `m=` section in the offer (and the answer).
    pub media_index: usize,
}

/// What the answer says about us.
#[derive(Debug, Clone, Copy)]
pub struct AnswerParams<'a> {
    /// Address written in `o=` and `c=`.
    pub public_ip: IpAddr,
    /// Our RTP port.
    pub rtp_port: u16,
    pub session_id: u64,
    pub session_version: u64,
    /// Codecs we accept, in our preference order.
    pub supported: &'a [Codec],
    /// Written as the session name (`s=`).
    pub user_agent: &'a str,
}

/// Why no audio stream could be accepted; the UAS answers 488 Not
/// Acceptable Here (RFC 3261 §13.3.1.3, RFC 3264 §6).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NegotiationError {
    /// No `m=audio` with a non-zero port.
    #[error("the offer has no active audio stream")]
    NoAudio,
    /// Audio offered, but only over transports we do not speak (SRTP,
    /// DTLS, ...). We speak RTP/AVP and RTP/AVPF.
    #[error("the offer's audio uses an unsupported transport {0:?}")]
    UnsupportedTransport(String),
    /// Audio offered without any codec we support.
    #[error("no common audio codec")]
    NoCommonCodec,
    /// Audio offered without a literal IP address to send to (no `c=`, or
    /// a hostname, which would need DNS).
    #[error("the offer's audio has no usable connection address")]
    NoConnectionAddress,
}

impl NegotiationError {
    /// The status code to reject the offer with.
    pub fn status_code(&self) -> u16 {
        488
    }
}

fn supported_proto(proto: &str) -> bool {
    proto.eq_ignore_ascii_case("RTP/AVP") || proto.eq_ignore_ascii_case("RTP/AVPF")
}

/// Tries to accept one audio section of `offer` (an offer, or the answer
/// to our offer) with one of the `supported` codecs.
pub(super) fn accept_audio(
    offer: &SessionDescription,
    m: &MediaDescription,
    index: usize,
    supported: &[Codec],
) -> Result<RemoteAudio, NegotiationError> {
    if !supported_proto(&m.proto) {
        return Err(NegotiationError::UnsupportedTransport(m.proto.clone()));
    }
    let (codec, payload_type) = m
        .formats
        .iter()
        .filter_map(|f| Codec::of(m, f))
        .find(|(c, _)| supported.contains(c))
        .ok_or(NegotiationError::NoCommonCodec)?;
    let ip = m
        .connection
        .as_ref()
        .or(offer.connection.as_ref())
        .and_then(Connection::ip)
        .ok_or(NegotiationError::NoConnectionAddress)?;
    let dtmf_payload_type = m
        .formats
        .iter()
        .filter_map(|f| f.parse::<u8>().ok())
        .find(|pt| {
            m.rtpmap(*pt).is_some_and(|map| {
                map.encoding.eq_ignore_ascii_case("telephone-event")
                    && map.clock_rate == Codec::CLOCK_RATE
            })
        });
    let mut direction = m
        .direction()
        .or(offer.direction())
        .unwrap_or(Direction::SendRecv);
    if ip.is_unspecified() {
        // RFC 3264 §8.4: c=0.0.0.0 means "do not send to me".
        direction = match direction {
            Direction::SendRecv | Direction::SendOnly => Direction::SendOnly,
            Direction::RecvOnly | Direction::Inactive => Direction::Inactive,
        };
    }
    let ptime_ms = m
        .attribute("ptime")
        .or(offer.attribute("ptime"))
        .and_then(|p| p.trim().parse::<u32>().ok())
        .filter(|p| PTIME_RANGE_MS.contains(p))
        .unwrap_or(DEFAULT_PTIME_MS);
    Ok(RemoteAudio {
        addr: SocketAddr::new(ip, m.port),
        codec,
        payload_type,
        dtmf_payload_type,
        direction,
        ptime_ms,
        media_index: index,
    })
}

fn clean(text: &str) -> String {
    let t: String = text.chars().filter(|c| !c.is_control()).collect();
    let t = t.trim();
    if t.is_empty() {
        "-".into()
    } else {
        t.into()
    }
}

/// Accepts the first usable audio stream of `offer` and writes the answer
/// (RFC 3264 §6): one `m=` line per offered `m=` line, every other stream
/// rejected with port 0; the accepted one carries the first codec of the
/// offer's list that we support, telephone-event with the offerer's payload
/// type when offered (`a=fmtp:<pt> 0-16`), `a=ptime:20` and the direction
/// answering the offer's (RFC 3264 §6.1). `o=` and `c=` carry
/// `params.public_ip`; `t=` repeats the offer's (RFC 3264 §6).
pub fn negotiate(
    offer: &SessionDescription,
    params: &AnswerParams<'_>,
) -> Result<(RemoteAudio, SessionDescription), NegotiationError> {
    let mut first_error = None;
    let mut chosen = None;
    for (i, m) in offer.media.iter().enumerate() {
        if !m.media.eq_ignore_ascii_case("audio") || m.port == 0 {
            continue;
        }
        match accept_audio(offer, m, i, params.supported) {
            Ok(audio) => {
                chosen = Some(audio);
                break;
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let remote = chosen.ok_or_else(|| first_error.unwrap_or(NegotiationError::NoAudio))?;

    let addr_type = if params.public_ip.is_ipv4() {
        "IP4"
    } else {
        "IP6"
    };
    let media = offer
        .media
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if i == remote.media_index {
                answer_audio(m, &remote, params)
            } else {
                MediaDescription {
                    media: m.media.clone(),
                    port: 0,
                    port_count: None,
                    proto: m.proto.clone(),
                    formats: m.formats.clone(),
                    lines: Vec::new(),
                    connection: None,
                    attributes: Vec::new(),
                }
            }
        })
        .collect();
    let mut times: Vec<Line> = offer
        .lines
        .iter()
        .filter(|l| l.kind == 't')
        .cloned()
        .collect();
    if times.is_empty() {
        times.push(Line {
            kind: 't',
            value: "0 0".into(),
        });
    }
    let answer = SessionDescription {
        origin: Origin {
            username: "-".into(),
            session_id: params.session_id.to_string(),
            session_version: params.session_version.to_string(),
            net_type: "IN".into(),
            addr_type: addr_type.into(),
            address: params.public_ip.to_string(),
        },
        session_name: clean(params.user_agent),
        lines: times,
        connection: Some(Connection {
            net_type: "IN".into(),
            addr_type: addr_type.into(),
            address: params.public_ip.to_string(),
        }),
        attributes: Vec::new(),
        media,
    };
    Ok((remote, answer))
}

fn answer_audio(
    m: &MediaDescription,
    remote: &RemoteAudio,
    params: &AnswerParams<'_>,
) -> MediaDescription {
    let pt = remote.payload_type.to_string();
    let mut formats = vec![pt.clone()];
    let mut attributes = vec![Attribute::new(
        "rtpmap",
        Some(format!(
            "{pt} {}/{}",
            remote.codec.encoding_name(),
            Codec::CLOCK_RATE
        )),
    )];
    if let Some(dtmf) = remote.dtmf_payload_type {
        formats.push(dtmf.to_string());
        attributes.push(Attribute::new(
            "rtpmap",
            Some(format!("{dtmf} telephone-event/{}", Codec::CLOCK_RATE)),
        ));
        attributes.push(Attribute::new(
            "fmtp",
            Some(format!("{dtmf} {DTMF_EVENTS}")),
        ));
    }
    attributes.push(Attribute::new("ptime", Some(DEFAULT_PTIME_MS.to_string())));
    attributes.push(Attribute::new(remote.direction.answer().as_str(), None));
    MediaDescription {
        media: m.media.clone(),
        port: params.rtp_port,
        port_count: None,
        proto: m.proto.clone(),
        formats,
        lines: Vec::new(),
        connection: None,
        attributes,
    }
}
