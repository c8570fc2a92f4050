//! SDP parsing and RFC 3264 offer/answer against offers shaped like those
//! real user agents send.

use parla_sip::sdp::{
    negotiate, AnswerParams, Codec, Direction, NegotiationError, SdpError, SessionDescription,
    MAX_MEDIA_SECTIONS, MAX_SDP_BYTES,
};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// SIPp's uac scenario offer.
const SIPP_PCMU: &str = "v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 6000 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";

/// A Linphone-style offer: opus first, several telephone-event rates,
/// RTCP attributes and a video stream.
const LINPHONE: &str = "v=0\r\n\
o=alice 3421 1806 IN IP4 192.168.1.20\r\n\
s=Talk\r\n\
c=IN IP4 192.168.1.20\r\n\
t=0 0\r\n\
a=ice-pwd:31ec21eb38b2ec6d36e8dc7b\r\n\
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\n\
m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100\r\n\
a=rtpmap:96 opus/48000/2\r\n\
a=fmtp:96 useinbandfec=1\r\n\
a=rtpmap:97 speex/16000\r\n\
a=fmtp:97 vbr=on\r\n\
a=rtpmap:98 speex/8000\r\n\
a=fmtp:98 vbr=on\r\n\
a=fmtp:18 annexb=yes\r\n\
a=rtpmap:101 telephone-event/48000\r\n\
a=rtpmap:99 telephone-event/16000\r\n\
a=rtpmap:100 telephone-event/8000\r\n\
a=rtcp-mux\r\n\
a=rtcp:7079\r\n\
a=rtcp-fb:* trr-int 1000\r\n\
a=candidate:1 1 UDP 2130706431 192.168.1.20 7078 typ host\r\n\
m=video 9078 RTP/AVP 96 97\r\n\
a=rtpmap:96 VP8/90000\r\n\
a=rtpmap:97 H264/90000\r\n\
a=fmtp:97 profile-level-id=42801F\r\n";

/// A baresip-style offer with LF line ends, a dynamic PCMA mapping and
/// session-level attributes.
const BARESIP: &str = "v=0\n\
o=- 1612345678 1612345679 IN IP4 10.0.0.5\n\
s=baresip 3.10.0\n\
c=IN IP4 10.0.0.5\n\
t=0 0\n\
a=tool:baresip 3.10.0\n\
m=audio 10582 RTP/AVPF 9 112 101\n\
b=AS:84\n\
a=rtpmap:9 G722/8000\n\
a=rtpmap:112 PCMA/8000\n\
a=rtpmap:101 telephone-event/8000\n\
a=fmtp:101 0-15\n\
a=ptime:30\n\
a=sendrecv\n\
a=label:1\n\
a=ssrc:1263520418 cname:e44c0b11-51d2-4b4f\n";

/// A re-INVITE putting the call on hold with a=sendonly.
const HOLD_SENDONLY: &str = "v=0\r\n\
o=- 20 21 IN IP4 203.0.113.7\r\n\
s=-\r\n\
c=IN IP4 203.0.113.7\r\n\
t=0 0\r\n\
m=audio 30000 RTP/AVP 8 0 101\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=sendonly\r\n";

/// An RFC 2543-style hold: connection address 0.0.0.0.
const HOLD_ZERO: &str = "v=0\r\n\
o=- 20 22 IN IP4 203.0.113.7\r\n\
s=-\r\n\
c=IN IP4 0.0.0.0\r\n\
t=0 0\r\n\
m=audio 30000 RTP/AVP 0\r\n";

fn params(supported: &[Codec]) -> AnswerParams<'_> {
    AnswerParams {
        public_ip: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10)),
        rtp_port: 40000,
        session_id: 777,
        session_version: 1,
        supported,
        user_agent: "Parla",
    }
}

const BOTH: &[Codec] = &[Codec::Pcmu, Codec::Pcma];

fn parse(s: &str) -> SessionDescription {
    SessionDescription::parse(s).unwrap_or_else(|e| panic!("{e}\n{s}"))
}

#[test]
fn sipp_offer_is_answered_with_pcmu() {
    let offer = parse(SIPP_PCMU);
    let (remote, answer) = negotiate(&offer, &params(BOTH)).unwrap();
    assert_eq!(remote.addr, "127.0.0.1:6000".parse::<SocketAddr>().unwrap());
    assert_eq!(remote.codec, Codec::Pcmu);
    assert_eq!(remote.payload_type, 0);
    assert_eq!(remote.dtmf_payload_type, None);
    assert_eq!(remote.direction, Direction::SendRecv);
    assert_eq!(remote.ptime_ms, 20);
    assert_eq!(
        answer.to_string(),
        "v=0\r\n\
o=- 777 1 IN IP4 198.51.100.10\r\n\
s=Parla\r\n\
c=IN IP4 198.51.100.10\r\n\
t=0 0\r\n\
m=audio 40000 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n"
    );
}

#[test]
fn linphone_offer_picks_the_first_common_codec_and_the_8khz_telephone_event() {
    let offer = parse(LINPHONE);
    assert_eq!(offer.media.len(), 2);
    assert_eq!(offer.media[0].attribute("rtcp-mux"), Some(""));
    let (remote, answer) = negotiate(&offer, &params(BOTH)).unwrap();
    assert_eq!(
        remote.codec,
        Codec::Pcmu,
        "PCMU comes before PCMA in the offer"
    );
    assert_eq!(remote.dtmf_payload_type, Some(100));
    assert_eq!(remote.addr.port(), 7078);
    // One m= line per offered m= line; the video stream is refused with port 0.
    assert_eq!(answer.media.len(), 2);
    let audio = &answer.media[0];
    assert_eq!(
        (audio.port, audio.formats.clone()),
        (40000, vec!["0".to_string(), "100".to_string()])
    );
    assert_eq!(audio.fmtp("100"), Some("0-16"));
    assert_eq!(audio.rtpmap(100).unwrap().encoding, "telephone-event");
    assert_eq!(audio.attribute("ptime"), Some("20"));
    assert_eq!(
        audio.attribute("rtcp-mux"),
        None,
        "we do not multiplex RTCP"
    );
    let video = &answer.media[1];
    assert_eq!((video.media.as_str(), video.port), ("video", 0));
    assert!(
        !video.formats.is_empty(),
        "a refused stream still lists a format"
    );

    // Our preference list restricts the choice.
    let (remote, _) = negotiate(&offer, &params(&[Codec::Pcma])).unwrap();
    assert_eq!((remote.codec, remote.payload_type), (Codec::Pcma, 8));
}

#[test]
fn baresip_offer_with_lf_lines_and_dynamic_pcma() {
    let offer = parse(BARESIP);
    let (remote, answer) = negotiate(&offer, &params(BOTH)).unwrap();
    assert_eq!((remote.codec, remote.payload_type), (Codec::Pcma, 112));
    assert_eq!(remote.dtmf_payload_type, Some(101));
    assert_eq!(remote.ptime_ms, 30);
    let audio = &answer.media[0];
    assert_eq!(audio.proto, "RTP/AVPF");
    assert_eq!(audio.rtpmap(112).unwrap().encoding, "PCMA");
    assert_eq!(audio.attribute("ptime"), Some("20"));
}

#[test]
fn sendonly_hold_is_answered_recvonly() {
    let (remote, answer) = negotiate(&parse(HOLD_SENDONLY), &params(BOTH)).unwrap();
    assert_eq!(remote.direction, Direction::SendOnly);
    assert!(
        !remote.direction.receives(),
        "do not send audio to a held party"
    );
    assert_eq!(remote.codec, Codec::Pcma);
    assert_eq!(answer.media[0].direction(), Some(Direction::RecvOnly));
}

#[test]
fn zero_address_hold_is_recognised() {
    let (remote, answer) = negotiate(&parse(HOLD_ZERO), &params(BOTH)).unwrap();
    assert_eq!(remote.addr, "0.0.0.0:30000".parse::<SocketAddr>().unwrap());
    assert_eq!(remote.direction, Direction::SendOnly);
    assert_eq!(answer.media[0].direction(), Some(Direction::RecvOnly));
}

#[test]
fn directions_are_answered_per_rfc3264() {
    for (offered, answered) in [
        ("sendrecv", Direction::SendRecv),
        ("sendonly", Direction::RecvOnly),
        ("recvonly", Direction::SendOnly),
        ("inactive", Direction::Inactive),
    ] {
        // Session-level attributes apply to every stream.
        let sdp = SIPP_PCMU.replace("t=0 0\r\n", &format!("t=0 0\r\na={offered}\r\n"));
        let (_, answer) = negotiate(&parse(&sdp), &params(BOTH)).unwrap();
        assert_eq!(answer.media[0].direction(), Some(answered), "{offered}");
    }
}

#[test]
fn second_audio_stream_is_used_when_the_first_is_srtp() {
    let sdp = SIPP_PCMU.replace(
        "m=audio 6000 RTP/AVP 0\r\n",
        "m=audio 5000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\nm=audio 6000 RTP/AVP 0\r\n",
    );
    let (remote, answer) = negotiate(&parse(&sdp), &params(BOTH)).unwrap();
    assert_eq!(remote.media_index, 1);
    assert_eq!(answer.media[0].port, 0);
    assert_eq!(answer.media[1].port, 40000);
}

#[test]
fn ipv6_offer_and_answer() {
    let sdp = SIPP_PCMU.replace("c=IN IP4 127.0.0.1", "c=IN IP6 2001:db8::5");
    let mut p = params(BOTH);
    p.public_ip = "2001:db8::10".parse().unwrap();
    let (remote, answer) = negotiate(&parse(&sdp), &p).unwrap();
    assert_eq!(
        remote.addr,
        "[2001:db8::5]:6000".parse::<SocketAddr>().unwrap()
    );
    assert!(answer.to_string().contains("\r\nc=IN IP6 2001:db8::10\r\n"));
    assert!(answer
        .to_string()
        .contains("\r\no=- 777 1 IN IP6 2001:db8::10\r\n"));
}

#[test]
fn offers_we_cannot_accept_map_to_488() {
    let cases: [(String, NegotiationError); 6] = [
        (
            SIPP_PCMU.replace(
                "RTP/AVP 0\r\na=rtpmap:0 PCMU/8000",
                "RTP/AVP 96 18\r\na=rtpmap:96 opus/48000/2",
            ),
            NegotiationError::NoCommonCodec,
        ),
        (
            SIPP_PCMU.replace("m=audio 6000", "m=audio 0"),
            NegotiationError::NoAudio,
        ),
        (
            SIPP_PCMU.replace("m=audio 6000 RTP/AVP 0", "m=video 6000 RTP/AVP 31"),
            NegotiationError::NoAudio,
        ),
        (
            SIPP_PCMU.replace("RTP/AVP", "UDP/TLS/RTP/SAVPF"),
            NegotiationError::UnsupportedTransport("UDP/TLS/RTP/SAVPF".into()),
        ),
        (
            SIPP_PCMU.replace("c=IN IP4 127.0.0.1\r\n", ""),
            NegotiationError::NoConnectionAddress,
        ),
        (
            SIPP_PCMU.replace("c=IN IP4 127.0.0.1", "c=IN IP4 media.example.com"),
            NegotiationError::NoConnectionAddress,
        ),
    ];
    for (sdp, want) in cases {
        let err = negotiate(&parse(&sdp), &params(BOTH)).unwrap_err();
        assert_eq!(err, want, "{sdp}");
        assert_eq!(err.status_code(), 488);
    }
    // PCMU offered, but we only do PCMA.
    assert_eq!(
        negotiate(&parse(SIPP_PCMU), &params(&[Codec::Pcma])).unwrap_err(),
        NegotiationError::NoCommonCodec
    );
    // A static PT remapped to another codec is not PCMU.
    let remapped = SIPP_PCMU.replace("a=rtpmap:0 PCMU/8000", "a=rtpmap:0 G729/8000");
    assert_eq!(
        negotiate(&parse(&remapped), &params(BOTH)).unwrap_err(),
        NegotiationError::NoCommonCodec
    );
}

#[test]
fn malformed_descriptions_are_errors() {
    let cases: Vec<(String, SdpError)> = vec![
        (String::new(), SdpError::MissingVersion),
        (
            SIPP_PCMU.replacen("v=0\r\n", "", 1),
            SdpError::MissingVersion,
        ),
        (
            SIPP_PCMU.replace("v=0", "v=1"),
            SdpError::UnsupportedVersion("1".into()),
        ),
        (
            SIPP_PCMU.replace("o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n", ""),
            SdpError::Missing('o'),
        ),
        (SIPP_PCMU.replace("s=-\r\n", ""), SdpError::Missing('s')),
        (
            SIPP_PCMU.replace("o=user1 53655765 ", "o=user1 "),
            SdpError::InvalidOrigin { line: 2 },
        ),
        (
            SIPP_PCMU.replace("m=audio 6000", "m=audio sixthousand"),
            SdpError::InvalidMedia { line: 6 },
        ),
        (
            SIPP_PCMU.replace("m=audio 6000 RTP/AVP 0", "m=audio 6000 RTP/AVP"),
            SdpError::InvalidMedia { line: 6 },
        ),
        (
            SIPP_PCMU.replace("m=audio 6000", "m=audio 70000"),
            SdpError::InvalidMedia { line: 6 },
        ),
        (
            SIPP_PCMU.replace("m=audio", "m =audio"),
            SdpError::MalformedLine { line: 6 },
        ),
        (
            SIPP_PCMU.replace("c=IN IP4 127.0.0.1", "c=IN IP4"),
            SdpError::InvalidConnection { line: 4 },
        ),
        (
            SIPP_PCMU.replace("c=IN IP4 127.0.0.1", "c=IN IP4 ::1"),
            SdpError::InvalidConnection { line: 4 },
        ),
        (
            SIPP_PCMU.replace("s=-\r\n", "s=-\r\ns=again\r\n"),
            SdpError::Duplicate { line: 4, kind: 's' },
        ),
        (
            SIPP_PCMU.to_string() + "t=0 0\r\n",
            SdpError::UnexpectedLine { line: 8, kind: 't' },
        ),
        (
            SIPP_PCMU.to_string() + "a=bad name\r\n",
            SdpError::InvalidAttribute { line: 8 },
        ),
        (
            SIPP_PCMU.to_string() + "garbage\r\n",
            SdpError::MalformedLine { line: 8 },
        ),
    ];
    for (sdp, want) in cases {
        assert_eq!(SessionDescription::parse(&sdp), Err(want), "{sdp}");
    }
    assert_eq!(
        SessionDescription::parse_bytes(b"v=0\r\n\xff\xfe"),
        Err(SdpError::NotUtf8)
    );
    let huge = SIPP_PCMU.to_string() + &"a=x\r\n".repeat(MAX_SDP_BYTES / 5);
    assert_eq!(
        SessionDescription::parse(&huge),
        Err(SdpError::TooLarge {
            limit: MAX_SDP_BYTES
        })
    );
    let many = SIPP_PCMU.to_string() + &"m=audio 0 RTP/AVP 0\r\n".repeat(MAX_MEDIA_SECTIONS);
    assert_eq!(
        SessionDescription::parse(&many),
        Err(SdpError::TooManyMediaSections {
            limit: MAX_MEDIA_SECTIONS
        })
    );
}

#[test]
fn unknown_lines_are_tolerated_and_attributes_kept() {
    let sdp = SIPP_PCMU.replace(
        "t=0 0\r\n",
        "t=0 0\r\nx=experimental\r\na=group:BUNDLE 0\r\n",
    ) + "a=mid:0\r\n\r\n\r\n";
    let parsed = parse(&sdp);
    assert_eq!(parsed.attribute("group"), Some("BUNDLE 0"));
    assert_eq!(parsed.media[0].attribute("mid"), Some("0"));
}

#[test]
fn descriptions_round_trip_through_parse() {
    for offer in [SIPP_PCMU, LINPHONE, BARESIP, HOLD_SENDONLY, HOLD_ZERO] {
        let parsed = parse(offer);
        assert_eq!(parse(&parsed.to_string()), parsed, "offer round trip");
        let (_, answer) = negotiate(&parsed, &params(BOTH)).unwrap();
        let text = answer.to_string();
        assert_eq!(parse(&text), answer, "answer round trip:\n{text}");
        assert!(text.ends_with("\r\n") && !text.contains("\n\n"));
    }
    // The canonical form keeps RFC 8866 line order even if the offer did not.
    let shuffled = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\na=sendrecv\r\nc=IN IP4 192.0.2.2\r\n";
    let text = parse(shuffled).to_string();
    assert!(
        text.starts_with(
            "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
        ),
        "{text}"
    );
    assert!(
        text.ends_with("m=audio 4000 RTP/AVP 0\r\nc=IN IP4 192.0.2.2\r\na=sendrecv\r\n"),
        "{text}"
    );
}

#[test]
fn torture_invite_body_negotiates() {
    // The SDP of RFC 4475's tortuous INVITE: PCMU and QCELP audio, LPC video.
    let sdp = "v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.3\r\ns=-\r\nc=IN IP4 192.0.2.4\r\nt=0 0\r\nm=audio 49217 RTP/AVP 0 12\r\nm=video 3227 RTP/AVP 31\r\na=rtpmap:31 LPC\r\n";
    let offer = parse(sdp);
    // "a=rtpmap:31 LPC" lacks a clock rate: kept, just not usable.
    assert_eq!(offer.media[1].rtpmap(31), None);
    let (remote, answer) = negotiate(&offer, &params(BOTH)).unwrap();
    assert_eq!(
        remote.addr,
        "192.0.2.4:49217".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(answer.media[1].port, 0);
}
