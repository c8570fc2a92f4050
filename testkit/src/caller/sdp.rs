//! The caller's SDP: the offer it sends and the parts of an answer (or of a
//! re-INVITE offer) it needs — RFC 4566 / RFC 3264, audio only.

use std::net::{IpAddr, SocketAddr};

use parla_media::g711::G711;

/// Default RTP payload type for telephone-event (RFC 4733) when the answer
/// does not name one.
pub const DEFAULT_TELEPHONE_EVENT_PT: u8 = 101;

/// One codec line of the offer: payload type and `encoding/clock` as written
/// in `a=rtpmap` (a bare name such as `"PCMU"` gets `/8000`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfferCodec {
    pub pt: u8,
    pub rtpmap: String,
}

impl OfferCodec {
    pub fn new(pt: u8, name: &str) -> Self {
        let rtpmap = if name.contains('/') {
            name.to_string()
        } else {
            format!("{name}/8000")
        };
        Self { pt, rtpmap }
    }

    fn is_telephone_event(&self) -> bool {
        self.rtpmap
            .to_ascii_lowercase()
            .starts_with("telephone-event/")
    }
}

/// The default offer for `codec`: the codec's static PT plus telephone-event
/// on [`DEFAULT_TELEPHONE_EVENT_PT`].
pub fn default_offer_codecs(codec: G711) -> Vec<OfferCodec> {
    vec![
        OfferCodec::new(codec.payload_type(), codec.encoding_name()),
        OfferCodec::new(DEFAULT_TELEPHONE_EVENT_PT, "telephone-event"),
    ]
}

/// Builds an audio-only `sendrecv` offer (also used, unchanged, as the answer
/// to an in-dialog re-INVITE or OPTIONS).
pub fn build_offer(ip: IpAddr, rtp_port: u16, codecs: &[OfferCodec], session_id: u64) -> String {
    let ipv = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let pts: Vec<String> = codecs.iter().map(|c| c.pt.to_string()).collect();
    let mut s = String::with_capacity(256);
    s.push_str("v=0\r\n");
    s.push_str(&format!(
        "o=parla-call {session_id} {session_id} IN {ipv} {ip}\r\n"
    ));
    s.push_str("s=parla-call\r\n");
    s.push_str(&format!("c=IN {ipv} {ip}\r\n"));
    s.push_str("t=0 0\r\n");
    s.push_str(&format!("m=audio {rtp_port} RTP/AVP {}\r\n", pts.join(" ")));
    for c in codecs {
        s.push_str(&format!("a=rtpmap:{} {}\r\n", c.pt, c.rtpmap));
        if c.is_telephone_event() {
            s.push_str(&format!("a=fmtp:{} 0-16\r\n", c.pt));
        }
    }
    s.push_str("a=ptime:20\r\n");
    s.push_str("a=sendrecv\r\n");
    s
}

/// What the caller takes from the remote SDP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteMedia {
    /// Where to send RTP (connection address + audio port). `None` when the
    /// audio stream was rejected (port 0) or no usable address was given.
    pub rtp_addr: Option<SocketAddr>,
    /// Payload types of the `m=audio` line, in order.
    pub payload_types: Vec<u8>,
    /// The first G.711 payload type of the `m=audio` line and its codec.
    pub audio: Option<(u8, G711)>,
    /// The telephone-event payload type, when the SDP maps one.
    pub telephone_event_pt: Option<u8>,
}

/// Parses the first `m=audio` stream of an SDP body. Returns `None` when the
/// body has no audio stream at all.
pub fn parse_remote(body: &str) -> Option<RemoteMedia> {
    let mut session_ip: Option<IpAddr> = None;
    let mut media_ip: Option<IpAddr> = None;
    let mut in_audio = false;
    let mut seen_audio = false;
    let mut port: u16 = 0;
    let mut pts: Vec<u8> = Vec::new();
    let mut rtpmaps: Vec<(u8, String)> = Vec::new();

    for raw in body.lines() {
        let line = raw.trim_end_matches('\r').trim();
        if let Some(rest) = line.strip_prefix("m=") {
            if seen_audio {
                // Only the first audio stream counts.
                if in_audio {
                    in_audio = false;
                }
                continue;
            }
            let mut f = rest.split_whitespace();
            if f.next() == Some("audio") {
                in_audio = true;
                seen_audio = true;
                port = f
                    .next()
                    .and_then(|p| p.split('/').next()?.parse().ok())
                    .unwrap_or(0);
                let _proto = f.next();
                pts = f.filter_map(|p| p.parse().ok()).collect();
            } else {
                in_audio = false;
            }
        } else if let Some(rest) = line.strip_prefix("c=") {
            // c=IN IP4 1.2.3.4[/ttl]
            let addr = rest
                .split_whitespace()
                .nth(2)
                .and_then(|a| a.split('/').next())
                .and_then(|a| a.parse::<IpAddr>().ok());
            if !seen_audio {
                session_ip = addr;
            } else if in_audio {
                media_ip = addr;
            }
        } else if let Some(rest) = line.strip_prefix("a=rtpmap:") {
            if in_audio {
                let mut f = rest.splitn(2, char::is_whitespace);
                if let (Some(pt), Some(enc)) = (f.next(), f.next()) {
                    if let Ok(pt) = pt.trim().parse::<u8>() {
                        rtpmaps.push((pt, enc.trim().to_string()));
                    }
                }
            }
        }
    }
    if !seen_audio {
        return None;
    }
    let ip = media_ip.or(session_ip);
    let rtp_addr = match ip {
        Some(ip) if port != 0 && !ip.is_unspecified() => Some(SocketAddr::new(ip, port)),
        _ => None,
    };
    let name_of = |pt: u8| -> Option<&str> {
        rtpmaps
            .iter()
            .find(|(p, _)| *p == pt)
            .map(|(_, n)| n.as_str())
    };
    let audio = pts.iter().find_map(|&pt| {
        let codec = match name_of(pt) {
            Some(n) => {
                let n = n.to_ascii_uppercase();
                if n.starts_with("PCMU/8000") {
                    Some(G711::Pcmu)
                } else if n.starts_with("PCMA/8000") {
                    Some(G711::Pcma)
                } else {
                    None
                }
            }
            None => G711::from_payload_type(pt),
        };
        codec.map(|c| (pt, c))
    });
    let telephone_event_pt = pts.iter().copied().find(|&pt| {
        name_of(pt).is_some_and(|n| n.to_ascii_lowercase().starts_with("telephone-event/8000"))
    });
    Some(RemoteMedia {
        rtp_addr,
        payload_types: pts,
        audio,
        telephone_event_pt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_has_codecs_dtmf_and_ptime() {
        let sdp = build_offer(
            "127.0.0.1".parse().unwrap(),
            40000,
            &default_offer_codecs(G711::Pcma),
            42,
        );
        assert!(sdp.contains("m=audio 40000 RTP/AVP 8 101\r\n"), "{sdp}");
        assert!(sdp.contains("a=rtpmap:8 PCMA/8000\r\n"));
        assert!(sdp.contains("a=rtpmap:101 telephone-event/8000\r\n"));
        assert!(sdp.contains("a=fmtp:101 0-16\r\n"));
        assert!(sdp.contains("a=ptime:20\r\n"));
        assert!(sdp.contains("a=sendrecv\r\n"));
        assert!(sdp.contains("c=IN IP4 127.0.0.1\r\n"));
        // The offer parses back as what it says.
        let r = parse_remote(&sdp).unwrap();
        assert_eq!(r.rtp_addr, Some("127.0.0.1:40000".parse().unwrap()));
        assert_eq!(r.audio, Some((8, G711::Pcma)));
        assert_eq!(r.telephone_event_pt, Some(101));
    }

    #[test]
    fn override_offer_is_used_verbatim() {
        let sdp = build_offer(
            "::1".parse().unwrap(),
            5004,
            &[OfferCodec::new(9, "G722")],
            1,
        );
        assert!(sdp.contains("m=audio 5004 RTP/AVP 9\r\n"));
        assert!(sdp.contains("a=rtpmap:9 G722/8000\r\n"));
        assert!(sdp.contains("c=IN IP6 ::1\r\n"));
        assert!(!sdp.contains("telephone-event"));
        assert_eq!(parse_remote(&sdp).unwrap().audio, None);
    }

    #[test]
    fn answer_media_level_connection_wins_and_static_pt_without_rtpmap() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                   m=audio 7078 RTP/AVP 0 96\r\nc=IN IP4 127.0.0.5\r\na=rtpmap:96 telephone-event/8000\r\n\
                   m=audio 9999 RTP/AVP 8\r\n";
        let r = parse_remote(sdp).unwrap();
        assert_eq!(r.rtp_addr, Some("127.0.0.5:7078".parse().unwrap()));
        assert_eq!(r.audio, Some((0, G711::Pcmu)));
        assert_eq!(r.telephone_event_pt, Some(96));
        assert_eq!(r.payload_types, vec![0, 96]);
    }

    #[test]
    fn rejected_stream_and_no_audio() {
        let r = parse_remote("v=0\nc=IN IP4 127.0.0.1\nm=audio 0 RTP/AVP 0\n").unwrap();
        assert_eq!(r.rtp_addr, None);
        assert!(parse_remote("v=0\nc=IN IP4 127.0.0.1\nm=video 5000 RTP/AVP 96\n").is_none());
    }
}
