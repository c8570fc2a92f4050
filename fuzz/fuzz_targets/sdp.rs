//! Arbitrary bytes as an SDP offer: parse, and when it parses, negotiate and
//! check the answer re-parses to itself. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parla_sip::sdp::{negotiate, AnswerParams, Codec, SessionDescription};

fuzz_target!(|data: &[u8]| {
    let Ok(offer) = SessionDescription::parse_bytes(data) else {
        return;
    };
    // The canonical form is stable.
    let text = offer.to_string();
    let again = SessionDescription::parse(&text).expect("canonical form re-parses");
    assert_eq!(again.to_string(), text);
    let params = AnswerParams {
        public_ip: "198.51.100.10".parse().unwrap(),
        rtp_port: 40000,
        session_id: 1,
        session_version: 2,
        supported: &[Codec::Pcmu, Codec::Pcma],
        user_agent: "Parla fuzz",
    };
    if let Ok((remote, answer)) = negotiate(&offer, &params) {
        assert!(remote.media_index < offer.media.len());
        assert_eq!(answer.media.len(), offer.media.len());
        let reparsed = SessionDescription::parse(&answer.to_string()).expect("answer re-parses");
        assert_eq!(reparsed, answer);
    }
});
