//! The offer side of RFC 3264 for outbound calls: write Parla's offer
//! (§5) and accept the answer to it (§7).

use std::net::SocketAddr;

use super::model::{Attribute, Connection, Line, MediaDescription, Origin, SessionDescription};
use super::negotiate::DTMF_EVENTS;
use super::negotiate::{accept_audio, Codec, NegotiationError, RemoteAudio, DEFAULT_PTIME_MS};

/// The dynamic payload type we offer telephone-event (RFC 4733) on.
pub const OFFER_DTMF_PAYLOAD_TYPE: u8 = 101;

/// What our offer says about us.
#[derive(Debug, Clone, Copy)]
pub struct OfferParams<'a> {
    /// Where we receive RTP: written in `o=`, `c=` and the `m=` port.
    pub rtp: SocketAddr,
    /// `o=` session id (RFC 8866 §5.2: an NTP-like number, unique enough).
    pub session_id: u64,
    /// `o=` session version.
    pub session_version: u64,
    /// Codecs offered, in our preference order (static payload types).
    pub codecs: &'a [Codec],
    /// Written as the session name (`s=`).
    pub user_agent: &'a str,
}

/// Builds the offer (RFC 3264 §5): one `m=audio <port> RTP/AVP` line with
/// the codecs' static payload types in order and telephone-event on
/// [`OFFER_DTMF_PAYLOAD_TYPE`] (`a=fmtp:101 0-16`), `a=ptime:20`,
/// `a=sendrecv`, `t=0 0`.
///
/// With the default codec list the body reads:
/// `m=audio 40000 RTP/AVP 0 8 101` / `a=rtpmap:0 PCMU/8000` /
/// `a=rtpmap:8 PCMA/8000` / `a=rtpmap:101 telephone-event/8000` / ...
pub fn build_offer(params: &OfferParams<'_>) -> SessionDescription {
    let addr_type = if params.rtp.is_ipv4() { "IP4" } else { "IP6" };
    let ip = params.rtp.ip().to_string();
    let dtmf = OFFER_DTMF_PAYLOAD_TYPE.to_string();
    let mut formats: Vec<String> = params
        .codecs
        .iter()
        .map(|c| c.static_payload_type().to_string())
        .collect();
    formats.push(dtmf.clone());
    let mut attributes: Vec<Attribute> = params
        .codecs
        .iter()
        .map(|c| {
            Attribute::new(
                "rtpmap",
                Some(format!(
                    "{} {}/{}",
                    c.static_payload_type(),
                    c.encoding_name(),
                    Codec::CLOCK_RATE
                )),
            )
        })
        .collect();
    attributes.push(Attribute::new(
        "rtpmap",
        Some(format!("{dtmf} telephone-event/{}", Codec::CLOCK_RATE)),
    ));
    attributes.push(Attribute::new(
        "fmtp",
        Some(format!("{dtmf} {DTMF_EVENTS}")),
    ));
    attributes.push(Attribute::new("ptime", Some(DEFAULT_PTIME_MS.to_string())));
    attributes.push(Attribute::new("sendrecv", None));
    let name: String = params
        .user_agent
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    SessionDescription {
        origin: Origin {
            username: "-".into(),
            session_id: params.session_id.to_string(),
            session_version: params.session_version.to_string(),
            net_type: "IN".into(),
            addr_type: addr_type.into(),
            address: ip.clone(),
        },
        session_name: if name.trim().is_empty() {
            "-".into()
        } else {
            name.trim().into()
        },
        lines: vec![Line {
            kind: 't',
            value: "0 0".into(),
        }],
        connection: Some(Connection {
            net_type: "IN".into(),
            addr_type: addr_type.into(),
            address: ip,
        }),
        attributes: Vec::new(),
        media: vec![MediaDescription {
            media: "audio".into(),
            port: params.rtp.port(),
            port_count: None,
            proto: "RTP/AVP".into(),
            formats,
            lines: Vec::new(),
            connection: None,
            attributes,
        }],
    }
}

/// Accepts the answer to our offer (RFC 3264 §7): the first audio stream
/// with a non-zero port, the first of its formats that is one of
/// `offered`, the answerer's telephone-event payload type, direction and
/// ptime, and where to send RTP.
///
/// Errors: [`NegotiationError::NoAudio`] when every audio stream was
/// rejected (port 0) or there is none, [`NegotiationError::NoCommonCodec`]
/// when the answer chose nothing we offered, and the transport / address
/// errors of [`super::negotiate`].
pub fn accept_answer(
    answer: &SessionDescription,
    offered: &[Codec],
) -> Result<RemoteAudio, NegotiationError> {
    let mut first_error = None;
    for (i, m) in answer.media.iter().enumerate() {
        if !m.media.eq_ignore_ascii_case("audio") || m.port == 0 {
            continue;
        }
        match accept_audio(answer, m, i, offered) {
            Ok(audio) => return Ok(audio),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or(NegotiationError::NoAudio))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];

    fn params() -> OfferParams<'static> {
        OfferParams {
            rtp: "10.0.0.1:40000".parse().unwrap(),
            session_id: 42,
            session_version: 1,
            codecs: &BOTH,
            user_agent: "Parla",
        }
    }

    #[test]
    fn offer_lists_pcmu_pcma_and_telephone_event() {
        let text = build_offer(&params()).to_string();
        assert_eq!(
            text,
            "v=0\r\no=- 42 1 IN IP4 10.0.0.1\r\ns=Parla\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
             m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
        );
        // Our own parser reads it back unchanged.
        let parsed = SessionDescription::parse(&text).unwrap();
        assert_eq!(parsed.to_string(), text);
    }

    #[test]
    fn ipv6_offer() {
        let mut p = params();
        p.rtp = "[2001:db8::1]:4000".parse().unwrap();
        let text = build_offer(&p).to_string();
        assert!(text.contains("c=IN IP6 2001:db8::1\r\n"), "{text}");
    }

    fn answer(m: &str) -> SessionDescription {
        SessionDescription::parse(&format!(
            "v=0\r\no=- 1 1 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\n{m}"
        ))
        .unwrap()
    }

    #[test]
    fn answer_with_pcma_and_dtmf_is_accepted() {
        let a = answer("m=audio 30000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n");
        let audio = accept_answer(&a, &BOTH).unwrap();
        assert_eq!(audio.codec, Codec::Pcma);
        assert_eq!(audio.payload_type, 8);
        assert_eq!(audio.dtmf_payload_type, Some(101));
        assert_eq!(audio.addr, "192.0.2.5:30000".parse().unwrap());
    }

    #[test]
    fn answer_without_common_codec_or_with_rejected_stream() {
        let g729 = answer("m=audio 30000 RTP/AVP 18\r\n");
        assert_eq!(
            accept_answer(&g729, &BOTH),
            Err(NegotiationError::NoCommonCodec)
        );
        let rejected = answer("m=audio 0 RTP/AVP 0\r\n");
        assert_eq!(
            accept_answer(&rejected, &BOTH),
            Err(NegotiationError::NoAudio)
        );
        let only_pcma = answer("m=audio 30000 RTP/AVP 8\r\n");
        assert_eq!(
            accept_answer(&only_pcma, &[Codec::Pcmu]),
            Err(NegotiationError::NoCommonCodec)
        );
    }
}
