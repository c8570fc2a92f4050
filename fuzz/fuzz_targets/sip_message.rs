//! Arbitrary bytes through the inbound SIP path: `classify_datagram` on the
//! whole input, the same bytes cut into reads through `StreamFramer`, and
//! every framed message classified again. Nothing may panic; every
//! rejection must be a response whose status matches.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parla_sip::message::{
    build_response, classify_datagram, sdp_body, Inbound, LocalPolicy, StreamFramer,
};

fn check(inbound: &Inbound) {
    match inbound {
        Inbound::Request(req) => {
            // What the UAS core does next must not panic either.
            let _ = sdp_body(req);
            let resp = build_response(
                req,
                200,
                None,
                Some("fuzz"),
                vec![],
                Some(("application/sdp", b"v=0\r\n".to_vec())),
            );
            let bytes = resp.to_bytes();
            assert!(bytes.starts_with(b"SIP/2.0 200 "));
            // The canonical form a request is handed on in is itself accepted,
            // unchanged.
            match classify_datagram(&req.to_bytes(), &LocalPolicy::default()) {
                Inbound::Request(again) => assert_eq!(&again, req),
                other => panic!(
                    "canonical request refused: {other:?}\n{}",
                    String::from_utf8_lossy(&req.to_bytes())
                ),
            }
        }
        Inbound::Reject {
            status, response, ..
        } => {
            assert!((300..=699).contains(status), "reject with status {status}");
            assert!(response.starts_with(format!("SIP/2.0 {status} ").as_bytes()));
            assert!(response.ends_with(b"\r\n\r\n"));
        }
        Inbound::Response(resp) => {
            assert!((100..=699).contains(&resp.status_code.code()));
            match classify_datagram(&resp.to_bytes(), &LocalPolicy::default()) {
                Inbound::Response(again) => assert_eq!(again.headers, resp.headers),
                other => panic!("canonical response refused: {other:?}"),
            }
        }
        Inbound::Drop { .. } => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let policy = LocalPolicy::default();
    check(&classify_datagram(data, &policy));

    // Stream framing: split the input at a data-dependent point.
    let cut = data
        .first()
        .map(|b| *b as usize % (data.len() + 1))
        .unwrap_or(0);
    let mut framer = StreamFramer::new();
    for chunk in [&data[..cut], &data[cut..]] {
        framer.push(chunk);
        while let Ok(Some(msg)) = framer.next_message() {
            check(&classify_datagram(&msg, &policy));
        }
    }
});
