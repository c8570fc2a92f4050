//! RFC 4475 torture messages through `classify_datagram`, plus the stream
//! framer and the response builder.
//!
//! The 50 messages and their expected outcomes live in `shared/rfc4475/`
//! (index.tsv: name, class, section, expected, accept, tolerate, title).
//! `accept`/`tolerate` use: `ok` (processed normally), `none` (discarded), a
//! status code (stateless rejection with it), `a|b` (either), `!483`
//! (answered, processed or rejected, with anything but 483; a drop fails).

use parla_sip::message::{
    build_response, classify_datagram, record_route_headers, sdp_body, FramingError, Inbound,
    LocalPolicy, StreamFramer, MAX_SIP_MESSAGE_BYTES,
};
use rsipstack::sip::headers::untyped::{Allow, Server};
use rsipstack::sip::{Header, HeadersExt, Method, Response};
use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    std::env::var_os("PARLA_RFC4475_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/rfc4475"))
}

fn load(name: &str) -> Vec<u8> {
    let path = corpus_dir().join(format!("{name}.dat"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

struct Case {
    name: String,
    class: String,
    accept: String,
    tolerate: String,
}

fn cases() -> Vec<Case> {
    let path = corpus_dir().join("index.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} (set PARLA_RFC4475_DIR): {e}",
            path.display()
        )
    });
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            Case {
                name: c[0].into(),
                class: c[1].into(),
                accept: c[4].into(),
                tolerate: c[5].into(),
            }
        })
        .collect()
}

fn outcome(i: &Inbound) -> String {
    match i {
        Inbound::Request(r) => format!("ok({})", r.method),
        Inbound::Response(r) => format!("response({})", r.status_code.code()),
        Inbound::Reject { status, reason, .. } => format!("{status} ({reason})"),
        Inbound::Drop { reason } => format!("none ({reason})"),
    }
}

/// The request method of a raw message, if its first line is a request.
fn raw_method(bytes: &[u8]) -> Option<String> {
    let line = bytes.split(|&b| b == b'\n').next()?;
    let m = std::str::from_utf8(line).ok()?.split(' ').next()?;
    (!m.starts_with("SIP/")).then(|| m.to_string())
}

/// Whether `got` satisfies one alternative of the index grammar.
fn satisfies(
    alt: &str,
    got: &Inbound,
    case: &Case,
    method: Option<&str>,
    policy: &LocalPolicy,
) -> bool {
    match alt {
        "-" | "" => false,
        // "Processed normally": a request handed on; for a method this UA
        // does not process (REGISTER, MESSAGE at a non-registrar UA), the
        // normal processing IS the 405/501 with Allow (RFC 3261 §8.2.1).
        "ok" => match got {
            Inbound::Request(_) => true,
            Inbound::Reject { status, .. } => {
                method.is_some_and(|m| !policy.allow.contains(&m))
                    && (*status == 405 || *status == 501)
            }
            _ => false,
        },
        // "Discarded": dropped here, or — for a valid response — handed to
        // the transaction layer, which discards it as matching no transaction.
        "none" => match got {
            Inbound::Drop { .. } => true,
            Inbound::Response(_) => case.class == "valid",
            _ => false,
        },
        "4xx" => matches!(
            got,
            Inbound::Reject {
                status: 400..=499,
                ..
            }
        ),
        // "Anything but 483": the message is answered (processed, or
        // rejected with another status); silently dropping it is not.
        not if not.starts_with('!') => {
            let code: u16 = not[1..].parse().unwrap();
            match got {
                Inbound::Request(_) => true,
                Inbound::Reject { status, .. } => *status != code,
                Inbound::Response(_) | Inbound::Drop { .. } => false,
            }
        }
        code => {
            let code: u16 = code
                .parse()
                .unwrap_or_else(|_| panic!("bad index entry {code:?}"));
            matches!(got, Inbound::Reject { status, .. } if *status == code)
        }
    }
}

/// Checks every rejection is a well-formed response carrying what its
/// status code promises.
fn check_reject(name: &str, got: &Inbound) -> Result<(), String> {
    let Inbound::Reject {
        status, response, ..
    } = got
    else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(response);
    let must = |needle: &str| {
        if text.contains(needle) {
            Ok(())
        } else {
            Err(format!(
                "{name}: {status} response lacks {needle:?}:\n{text}"
            ))
        }
    };
    must(&format!("SIP/2.0 {status} "))?;
    must("\r\nVia: ")?;
    must("\r\nContent-Length: 0\r\n\r\n")?;
    match status {
        405 | 501 => must("\r\nAllow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE\r\n"),
        415 | 406 => must("\r\nAccept: application/sdp\r\n"),
        420 => must("\r\nUnsupported: "),
        _ => Ok(()),
    }
}

#[test]
fn rfc4475_torture_messages() {
    let policy = LocalPolicy::default();
    let cases = cases();
    assert_eq!(
        cases.len(),
        50,
        "index.tsv should list the 50 RFC 4475 messages"
    );
    let mut failures = Vec::new();
    println!(
        "{:<11} {:<8} {:<22} {:<10} result",
        "message", "class", "accept|tolerate", "verdict"
    );
    for case in &cases {
        let bytes = load(&case.name);
        let got = classify_datagram(&bytes, &policy);
        let method = raw_method(&bytes);
        let in_set = |set: &str| {
            set.split('|')
                .any(|alt| satisfies(alt, &got, case, method.as_deref(), &policy))
        };
        let accepted = in_set(&case.accept);
        let tolerated = !accepted && in_set(&case.tolerate);
        let verdict = if accepted {
            "pass"
        } else if tolerated {
            "tolerated"
        } else {
            "FAIL"
        };
        println!(
            "{:<11} {:<8} {:<22} {:<10} {}",
            case.name,
            case.class,
            format!("{}|{}", case.accept, case.tolerate),
            verdict,
            outcome(&got)
        );
        if verdict == "FAIL" {
            failures.push(format!(
                "{}: expected {} (tolerate {}), got {}",
                case.name,
                case.accept,
                case.tolerate,
                outcome(&got)
            ));
        }
        if let Err(e) = check_reject(&case.name, &got) {
            failures.push(e);
        }
        // What the UAS core receives re-parses to itself.
        if let Inbound::Request(req) = &got {
            match classify_datagram(&req.to_bytes(), &policy) {
                Inbound::Request(again) if &again == req => {}
                other => failures.push(format!(
                    "{}: canonical form not stable: {}",
                    case.name,
                    outcome(&other)
                )),
            }
        }
    }
    let passed = cases.len() - failures.len();
    println!(
        "RFC 4475: {passed} of {} messages handled as expected",
        cases.len()
    );
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}

fn classify(name: &str) -> Inbound {
    classify_datagram(&load(name), &LocalPolicy::default())
}

#[test]
fn dblreq_answers_only_the_register_and_ignores_the_trailing_invite() {
    let Inbound::Reject {
        status, response, ..
    } = classify("dblreq")
    else {
        panic!("expected a rejection")
    };
    assert_eq!(status, 405);
    let text = String::from_utf8(response).unwrap();
    assert!(text.contains("\r\nCSeq: 8 REGISTER\r\n"), "{text}");
    assert!(
        text.contains("\r\nCall-ID: dblreq.0ha0isndaksdj99sdfafnl3lk233412\r\n"),
        "{text}"
    );
    assert!(!text.contains("INVITE sip:joe"), "{text}");
}

#[test]
fn a_valid_torture_invite_reaches_the_uas_with_canonical_headers() {
    let Inbound::Request(req) = classify("wsinv") else {
        panic!("wsinv not processed")
    };
    assert_eq!(req.method, Method::Invite);
    // Tags written with LWS around '=' are found by rsipstack's typed parsers.
    assert_eq!(
        req.from_header().unwrap().tag().unwrap().unwrap().value(),
        "98asjd8"
    );
    assert_eq!(
        req.to_header().unwrap().tag().unwrap().unwrap().value(),
        "1918181833n"
    );
    assert_eq!(req.cseq_header().unwrap().seq().unwrap(), 9);
    assert_eq!(req.cseq_header().unwrap().method().unwrap(), Method::Invite);
    // The folded, comma-joined Via list becomes one field per hop, in order.
    let vias: Vec<String> = req
        .headers
        .iter()
        .filter_map(|h| match h {
            Header::Via(v) => Some(v.value().to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(
        vias,
        [
            "SIP/2.0/UDP 192.0.2.2;branch=390skdjuw",
            "SIP/2.0/TCP spindle.example.com;branch=z9hG4bK9ikj8",
            "SIP/2.0/UDP 192.168.255.111;branch=z9hG4bK30239",
        ]
    );
    assert_eq!(req.transaction_id().unwrap().unwrap().value(), "390skdjuw");
    assert_eq!(req.body.len(), 150);
    assert!(sdp_body(&req).unwrap().starts_with(b"v=0\r\n"));
}

#[test]
fn escaped_and_semicolon_user_parts_survive_in_the_request_uri() {
    let Inbound::Request(req) = classify("esc01") else {
        panic!("esc01 not processed")
    };
    assert_eq!(req.uri.user(), Some("sips:user@example.com"));
    assert_eq!(
        req.uri.to_string(),
        "sip:sips%3Auser%40example.com@example.net"
    );
    let Inbound::Request(req) = classify("semiuri") else {
        panic!("semiuri not processed")
    };
    assert_eq!(req.uri.user(), Some("user;par=u@example.net"));
    assert_eq!(req.uri.host().to_string(), "example.com");
}

#[test]
fn rfc2543_invite_without_content_length_takes_the_rest_of_the_datagram() {
    let bytes = load("inv2543");
    let Inbound::Request(req) = classify_datagram(&bytes, &LocalPolicy::default()) else {
        panic!()
    };
    let body_start = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(req.body, &bytes[body_start..]);
    assert_eq!(
        req.header_value("Content-Length").as_deref(),
        Some(&*req.body.len().to_string())
    );
    assert!(
        req.transaction_id().unwrap().is_none(),
        "no branch in an RFC 2543 Via"
    );
}

#[test]
fn binary_multipart_body_is_framed_by_content_length() {
    let mut policy = LocalPolicy::default();
    policy.allow.push("MESSAGE");
    let Inbound::Request(req) = classify_datagram(&load("mpart01"), &policy) else {
        panic!("mpart01 not processed")
    };
    assert_eq!(req.method, Method::Message);
    assert_eq!(req.body.len(), 553);
    assert!(req.body.ends_with(b"--7a9cbec02ceef655--\r\n"));
}

#[test]
fn invite_with_sdp_inside_multipart_is_processed() {
    let body = "--xyz\r\nContent-Type: application/sdp\r\n\r\nv=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n\r\n--xyz\r\nContent-Type: application/isup\r\n\r\n\x01\x02\r\n--xyz--\r\n";
    let msg = format!(
        "INVITE sip:bot@192.0.2.9 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nFrom: <sip:a@192.0.2.1>;tag=1\r\nTo: <sip:bot@192.0.2.9>\r\nCall-ID: mp1\r\nCSeq: 1 INVITE\r\nContent-Type: multipart/mixed;boundary=xyz\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let Inbound::Request(req) = classify_datagram(msg.as_bytes(), &LocalPolicy::default()) else {
        panic!()
    };
    assert!(sdp_body(&req).unwrap().starts_with(b"v=0\r\n"));
    assert!(sdp_body(&req).unwrap().ends_with(b"RTP/AVP 0\r\n"));
}

const OPTIONS: &str = "OPTIONS sip:bot@192.0.2.9 SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1\r\nFrom: <sip:a@192.0.2.1>;tag=1\r\nTo: <sip:bot@192.0.2.9>\r\nCall-ID: f1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

#[test]
fn keepalives_lowercase_methods_and_acks_that_cannot_be_answered() {
    let p = LocalPolicy::default();
    assert!(matches!(
        classify_datagram(b"\r\n\r\n", &p),
        Inbound::Drop { .. }
    ));
    assert!(matches!(classify_datagram(b"", &p), Inbound::Drop { .. }));
    assert!(matches!(
        classify_datagram(&[0, 1, 0, 0], &p),
        Inbound::Drop { .. }
    ));
    // Method names are case-sensitive (RFC 3261 §7.1).
    let lower = OPTIONS
        .replacen("OPTIONS", "options", 1)
        .replace("1 OPTIONS", "1 options");
    assert!(matches!(
        classify_datagram(lower.as_bytes(), &p),
        Inbound::Reject { status: 501, .. }
    ));
    // An ACK is never answered, even when broken.
    let ack = OPTIONS
        .replace("OPTIONS", "ACK")
        .replace("Call-ID: f1\r\n", "");
    assert!(matches!(
        classify_datagram(ack.as_bytes(), &p),
        Inbound::Drop { .. }
    ));
    // A Require on an ACK is not checked.
    let ack = OPTIONS
        .replace("OPTIONS", "ACK")
        .replace("Content-Length", "Require: foo\r\nContent-Length");
    assert!(matches!(
        classify_datagram(ack.as_bytes(), &p),
        Inbound::Request(_)
    ));
}

#[test]
fn oversized_datagrams_are_dropped() {
    let mut big = OPTIONS.as_bytes().to_vec();
    big.resize(MAX_SIP_MESSAGE_BYTES + 1, b'x');
    assert!(matches!(
        classify_datagram(&big, &LocalPolicy::default()),
        Inbound::Drop { .. }
    ));
}

#[test]
fn stream_framer_joins_split_reads_and_splits_joined_ones() {
    let msg = OPTIONS.as_bytes();
    let mut f = StreamFramer::new();
    // Keep-alives first, then a message split across three reads.
    f.push(b"\r\n\r\n");
    assert_eq!(f.next_message(), Ok(None));
    f.push(&msg[..10]);
    assert_eq!(f.next_message(), Ok(None));
    f.push(&msg[10..msg.len() - 3]);
    assert_eq!(f.next_message(), Ok(None));
    f.push(&msg[msg.len() - 3..]);
    assert_eq!(f.next_message().unwrap().as_deref(), Some(msg));
    assert_eq!(f.next_message(), Ok(None));
    // Two messages (one with a body) in a single read.
    let with_body = OPTIONS.replace("Content-Length: 0", "Content-Length: 5") + "hello";
    let mut both = with_body.as_bytes().to_vec();
    both.extend_from_slice(msg);
    f.push(&both);
    let first = f.next_message().unwrap().unwrap();
    assert!(first.ends_with(b"\r\n\r\nhello"));
    assert!(
        matches!(classify_datagram(&first, &LocalPolicy::default()), Inbound::Request(r) if r.body == b"hello")
    );
    assert_eq!(f.next_message().unwrap().as_deref(), Some(msg));
    assert_eq!(f.next_message(), Ok(None));
}

#[test]
fn stream_framer_refuses_what_it_cannot_frame() {
    let mut f = StreamFramer::new();
    f.push(OPTIONS.replace("Content-Length: 0\r\n", "").as_bytes());
    assert_eq!(f.next_message(), Err(FramingError::MissingContentLength));
    // Errors are final.
    f.push(OPTIONS.as_bytes());
    assert_eq!(f.next_message(), Err(FramingError::MissingContentLength));

    let mut f = StreamFramer::new();
    f.push(
        OPTIONS
            .replace("Content-Length: 0", "Content-Length: 1000000")
            .as_bytes(),
    );
    assert!(matches!(
        f.next_message(),
        Err(FramingError::TooLarge { .. })
    ));

    let mut f = StreamFramer::new();
    f.push(
        OPTIONS
            .replace("Content-Length: 0", "Content-Length: -1")
            .as_bytes(),
    );
    assert_eq!(f.next_message(), Err(FramingError::InvalidContentLength));

    // A header section that never ends.
    let mut f = StreamFramer::new();
    let mut endless = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
    while endless.len() <= MAX_SIP_MESSAGE_BYTES {
        endless.extend_from_slice(b"X-Filler: 0123456789012345678901234567890123456789\r\n");
    }
    f.push(&endless);
    assert!(matches!(
        f.next_message(),
        Err(FramingError::TooLarge { .. })
    ));
}

fn invite() -> rsipstack::sip::Request {
    let msg = "INVITE sip:bot@192.0.2.9 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa;rport\r\n\
        Via: SIP/2.0/UDP 192.0.2.200;branch=z9hG4bKb\r\n\
        Record-Route: <sip:192.0.2.200;lr>\r\n\
        From: \"Alice\" <sip:alice@192.0.2.1>;tag=a1\r\n\
        To: <sip:bot@192.0.2.9>\r\n\
        Call-ID: call-1@192.0.2.1\r\n\
        CSeq: 7 INVITE\r\n\
        Timestamp: 54\r\n\
        Content-Length: 0\r\n\r\n";
    match classify_datagram(msg.as_bytes(), &LocalPolicy::default()) {
        Inbound::Request(r) => r,
        other => panic!("{other:?}"),
    }
}

fn header_values(r: &Response, name: &str) -> Vec<String> {
    r.headers
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case(name))
        .map(|h| h.value().to_string())
        .collect()
}

#[test]
fn build_response_copies_the_dialog_identifiers_and_tags_to() {
    let req = invite();
    let body = b"v=0\r\n".to_vec();
    let rr = record_route_headers(&req);
    let resp = build_response(
        &req,
        200,
        None,
        Some("bot7"),
        rr,
        Some(("application/sdp", body.clone())),
    );
    assert_eq!(resp.status_code.code(), 200);
    assert_eq!(
        header_values(&resp, "Via"),
        [
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa;rport",
            "SIP/2.0/UDP 192.0.2.200;branch=z9hG4bKb",
        ]
    );
    assert_eq!(
        header_values(&resp, "From"),
        ["\"Alice\" <sip:alice@192.0.2.1>;tag=a1"]
    );
    assert_eq!(header_values(&resp, "To"), ["<sip:bot@192.0.2.9>;tag=bot7"]);
    assert_eq!(header_values(&resp, "Call-ID"), ["call-1@192.0.2.1"]);
    assert_eq!(header_values(&resp, "CSeq"), ["7 INVITE"]);
    assert_eq!(
        header_values(&resp, "Record-Route"),
        ["<sip:192.0.2.200;lr>"]
    );
    assert_eq!(header_values(&resp, "Content-Type"), ["application/sdp"]);
    assert_eq!(header_values(&resp, "Content-Length"), ["5"]);
    assert_eq!(header_values(&resp, "Server").len(), 1);
    assert!(
        header_values(&resp, "Timestamp").is_empty(),
        "Timestamp only echoed in 100"
    );
    assert_eq!(resp.body, body);
    // The wire form parses back as the same response.
    let Inbound::Response(back) = classify_datagram(&resp.to_bytes(), &LocalPolicy::default())
    else {
        panic!()
    };
    assert_eq!(
        back.to_header().unwrap().tag().unwrap().unwrap().value(),
        "bot7"
    );
    assert_eq!(back.body, b"v=0\r\n");
}

#[test]
fn build_response_keeps_an_existing_to_tag_and_honours_custom_reason_and_agent() {
    let mut req = invite();
    for h in req.headers.iter_mut() {
        if let Header::To(to) = h {
            *to = rsipstack::sip::To::new("<sip:bot@192.0.2.9>;tag=existing");
        }
    }
    let resp = build_response(
        &req,
        488,
        Some("No Common Codec"),
        Some("new"),
        vec![
            Header::Server(Server::new("Parla-Test")),
            Header::Allow(Allow::new("INVITE")),
        ],
        None,
    );
    assert_eq!(
        header_values(&resp, "To"),
        ["<sip:bot@192.0.2.9>;tag=existing"]
    );
    assert_eq!(header_values(&resp, "Server"), ["Parla-Test"]);
    assert_eq!(header_values(&resp, "Content-Length"), ["0"]);
    assert_eq!(resp.status_code.code(), 488);
    assert!(resp
        .to_string()
        .starts_with("SIP/2.0 488 No Common Codec\r\n"));

    let trying = build_response(&req, 100, None, Some("ignored"), vec![], None);
    assert_eq!(header_values(&trying, "Timestamp"), ["54"]);
    assert!(trying.to_string().starts_with("SIP/2.0 100 Trying\r\n"));
}

#[test]
fn register_like_torture_messages_parse_when_the_method_is_allowed() {
    // With REGISTER/MESSAGE allowed, the "process normally" messages that
    // our policy answers with 405 are really accepted by the parser.
    let mut policy = LocalPolicy::default();
    policy.allow.extend(["REGISTER", "MESSAGE"]);
    for name in [
        "escnull", "dblreq", "cparam01", "cparam02", "regescrt", "mpart01", "regaut01", "unksm2",
    ] {
        let got = classify_datagram(&load(name), &policy);
        assert!(
            matches!(got, Inbound::Request(_)),
            "{name}: {}",
            outcome(&got)
        );
    }
    // And the invalid ones stay invalid.
    for name in ["regbadct", "scalar02"] {
        let got = classify_datagram(&load(name), &policy);
        assert!(
            matches!(got, Inbound::Reject { status: 400, .. }),
            "{name}: {}",
            outcome(&got)
        );
    }
}

#[test]
fn field_quirks_seen_in_the_wild_are_tolerated() {
    let p = LocalPolicy::default();
    // Unbracketed IPv6 in Via received (RFC 3261 §20.42) and a Latin-1
    // display name from an old PBX.
    let msg = OPTIONS
        .replace(
            ";branch=z9hG4bK1",
            ";branch=z9hG4bK1;received=2001:db8::9;rport=5062",
        )
        .replace(
            "From: <sip:a@192.0.2.1>",
            "From: \"Jos\u{e9}\" <sip:a@192.0.2.1>",
        );
    let mut bytes = msg.into_bytes();
    // Re-encode the é as Latin-1 (one byte 0xE9).
    let pos = bytes
        .windows(2)
        .position(|w| w == "\u{e9}".as_bytes())
        .unwrap();
    bytes.splice(pos..pos + 2, [0xe9]);
    let got = classify_datagram(&bytes, &p);
    let Inbound::Request(req) = got else {
        panic!("{}", outcome(&got))
    };
    assert_eq!(
        req.top_via_header().unwrap().value(),
        "SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1;received=2001:db8::9;rport=5062"
    );
    assert_eq!(
        req.from_header().unwrap().tag().unwrap().unwrap().value(),
        "1"
    );
}

#[test]
fn stream_framer_handles_byte_at_a_time_delivery_without_rescanning() {
    // A large but valid message trickled one byte per read: framing stays
    // linear (a rescan per byte would take billions of steps here).
    let filler = format!("X-Filler: {}\r\n", "0123456789".repeat(30)).repeat(190);
    let msg = OPTIONS.replace(
        "Content-Length: 0\r\n",
        &format!("{filler}Content-Length: 0\r\n"),
    );
    assert!(msg.len() > 50_000 && msg.len() < MAX_SIP_MESSAGE_BYTES);
    let started = std::time::Instant::now();
    let mut f = StreamFramer::new();
    let mut got = Vec::new();
    for b in msg.as_bytes() {
        f.push(std::slice::from_ref(b));
        while let Some(m) = f.next_message().unwrap() {
            got.push(m);
        }
    }
    assert_eq!(got, vec![msg.as_bytes().to_vec()]);
    assert!(matches!(
        classify_datagram(&got[0], &LocalPolicy::default()),
        Inbound::Request(_)
    ));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}
