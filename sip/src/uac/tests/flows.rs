//! Call flows: the INVITE, provisional responses, the answer, BYE both
//! ways, rejections, CANCEL.

use std::time::Duration;

use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::Method;

use super::*;
use crate::sdp::Codec;
use crate::uac::{EndedBy, Outcome, UacError, UacState};

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case(name))
        .map(|h| h.value().to_string())
}

#[test]
fn invite_carries_the_headers_and_the_g711_offer() {
    let h = Harness::default_call();
    assert_eq!(h.sent.len(), 1);
    assert_eq!(h.sent[0].dest, TRUNK.parse().unwrap());
    let inv = h.last(Method::Invite);
    assert_eq!(inv.uri.to_string(), "sip:+15551234@192.0.2.1");
    let via = inv.via_header().unwrap().value().to_string();
    assert!(
        via.starts_with("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK"),
        "{via}"
    );
    assert!(via.ends_with(";rport"), "{via}");
    let from = inv.from_header().unwrap().value().to_string();
    assert!(
        from.starts_with("<sip:+15550000@parla.test>;tag="),
        "{from}"
    );
    assert_eq!(
        inv.to_header().unwrap().value(),
        "<sip:+15551234@192.0.2.1>"
    );
    assert!(!inv.call_id_header().unwrap().value().is_empty());
    assert!(inv.cseq_header().unwrap().value().ends_with(" INVITE"));
    assert_eq!(
        header(&inv, "Contact").as_deref(),
        Some("<sip:10.0.0.1:5060>")
    );
    assert_eq!(header(&inv, "Max-Forwards").as_deref(), Some("70"));
    assert_eq!(header(&inv, "User-Agent").as_deref(), Some("ParlaTest"));
    assert_eq!(
        header(&inv, "Content-Type").as_deref(),
        Some("application/sdp")
    );
    let body = String::from_utf8(inv.body.clone()).unwrap();
    assert!(body.contains("c=IN IP4 10.0.0.1\r\n"), "{body}");
    assert!(body.contains("m=audio 40000 RTP/AVP 0 8 101\r\n"), "{body}");
    assert!(
        body.contains(
            "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
        ),
        "{body}"
    );
    assert!(
        matches!(&h.events[..], [UacEvent::Dialing { call_id }] if call_id == h.call.call_id())
    );
    assert_eq!(h.call.state(), UacState::Calling);
}

#[test]
fn display_name_and_bad_fields() {
    let mut req = request();
    req.from_display = Some("Parla \"Bot\"".into());
    let h = Harness::new(req);
    let from = h
        .last(Method::Invite)
        .from_header()
        .unwrap()
        .value()
        .to_string();
    assert!(
        from.starts_with("\"Parla \\\"Bot\\\"\" <sip:+15550000@parla.test>;tag="),
        "{from}"
    );

    let t = std::time::Instant::now();
    let mut bad = request();
    bad.request_uri = "sip:a@b\r\nX: injected".into();
    assert!(matches!(
        OutboundCall::new(t, config(), bad),
        Err(UacError::InvalidField("request_uri"))
    ));
    let mut bad = request();
    bad.request_uri = "tel:+15551234".into();
    assert!(matches!(
        OutboundCall::new(t, config(), bad),
        Err(UacError::InvalidUri {
            field: "request_uri",
            ..
        })
    ));
    let mut bad = request();
    bad.from = "not a uri".into();
    assert!(matches!(
        OutboundCall::new(t, config(), bad),
        Err(UacError::InvalidUri { field: "from", .. })
    ));
}

#[test]
fn provisional_responses_report_ringing_and_early_media() {
    let mut h = Harness::default_call();
    h.take_events();
    h.respond_invite(100, "", "");
    assert!(h.take_events().is_empty(), "100 Trying is not an event");
    assert_eq!(h.call.state(), UacState::Proceeding);
    h.respond_invite(180, "", "");
    h.respond_invite(180, "", ""); // repeated: reported once
    h.respond_invite(183, "", ANSWER_SDP);
    let ev = h.take_events();
    assert!(
        matches!(
            &ev[0],
            UacEvent::Ringing {
                status: 180,
                remote_sdp: None
            }
        ),
        "{ev:?}"
    );
    assert!(
        matches!(
            &ev[1],
            UacEvent::EarlyMedia {
                status: 183,
                remote_sdp: Some(_)
            }
        ),
        "{ev:?}"
    );
    assert_eq!(ev.len(), 2);
}

#[test]
fn answer_is_acked_and_reported() {
    let mut h = Harness::default_call();
    h.answer();
    let inv = h.last(Method::Invite);
    let ack = h.last(Method::Ack);
    // §13.2.2.4: in-dialog ACK to the Contact, INVITE's CSeq number, new branch.
    assert_eq!(ack.uri.to_string(), "sip:callee@192.0.2.1:5060");
    let seq = inv.cseq_header().unwrap().seq().unwrap();
    assert_eq!(ack.cseq_header().unwrap().value(), format!("{seq} ACK"));
    assert_ne!(
        ack.via_header().unwrap().value(),
        inv.via_header().unwrap().value(),
        "the 2xx ACK is a new transaction"
    );
    assert!(ack
        .to_header()
        .unwrap()
        .value()
        .ends_with(&format!(";tag={CALLEE_TAG}")));
    assert_eq!(h.call.state(), UacState::Confirmed);
    let answered = h.events.iter().find_map(|e| match e {
        UacEvent::Answered {
            remote_audio,
            dialog,
            ..
        } => Some((remote_audio.clone(), dialog.clone())),
        _ => None,
    });
    let (audio, dialog) = answered.expect("Answered");
    assert_eq!(audio.codec, Codec::Pcmu);
    assert_eq!(audio.addr, "192.0.2.5:30000".parse().unwrap());
    assert_eq!(audio.dtmf_payload_type, Some(101));
    assert_eq!(dialog.remote_tag, CALLEE_TAG);
    assert!(!h.has_ended());
}

#[test]
fn retransmitted_2xx_is_acked_again() {
    let mut h = Harness::default_call();
    h.answer();
    let acks = h.count(Method::Ack);
    h.respond_invite(200, "Contact: <sip:callee@192.0.2.1:5060>\r\n", ANSWER_SDP);
    h.respond_invite(200, "Contact: <sip:callee@192.0.2.1:5060>\r\n", ANSWER_SDP);
    assert_eq!(h.count(Method::Ack), acks + 2);
    let answered = h
        .events
        .iter()
        .filter(|e| matches!(e, UacEvent::Answered { .. }))
        .count();
    assert_eq!(answered, 1, "one Answered");
}

#[test]
fn hangup_sends_bye_and_ends_completed_local() {
    let mut h = Harness::default_call();
    h.answer();
    h.call.hangup(h.now).unwrap();
    h.drain();
    assert_eq!(h.call.state(), UacState::Terminating);
    let bye = h.last(Method::Bye);
    let inv = h.last(Method::Invite);
    let seq = inv.cseq_header().unwrap().seq().unwrap();
    assert_eq!(
        bye.cseq_header().unwrap().value(),
        format!("{} BYE", seq + 1)
    );
    assert_eq!(bye.uri.to_string(), "sip:callee@192.0.2.1:5060");
    assert!(!h.has_ended(), "Ended waits for the BYE's response");
    h.respond(&bye, 200, "", "");
    assert_eq!(
        h.ended(),
        (
            Outcome::Completed,
            Some(200),
            "completed".into(),
            EndedBy::Local
        )
    );
    h.call.hangup(h.now).unwrap(); // idempotent
}

#[test]
fn bye_from_far_end_gets_200_and_ends_completed_remote() {
    let mut h = Harness::default_call();
    h.answer();
    h.take_sent();
    h.far_end_request("BYE", 5, "z9hG4bKfarbye");
    let ok = h.sent.last().unwrap().resp().clone();
    assert_eq!(ok.status_code.code(), 200);
    assert!(ok.via_header().unwrap().value().contains("z9hG4bKfarbye"));
    assert!(ok.to_header().unwrap().value().contains(h.call.local_tag()));
    assert_eq!(
        h.ended(),
        (
            Outcome::Completed,
            Some(200),
            "completed".into(),
            EndedBy::Remote
        )
    );
    // A retransmitted BYE gets the same 200 again, and no second Ended.
    h.far_end_request("BYE", 5, "z9hG4bKfarbye");
    assert_eq!(h.sent.len(), 2);
    assert_eq!(h.sent[1].resp().status_code.code(), 200);
    h.ended();
}

#[test]
fn options_in_dialog_and_bye_outside_it() {
    let mut h = Harness::default_call();
    h.answer();
    h.take_sent();
    h.far_end_request("OPTIONS", 5, "z9hG4bKopt");
    assert_eq!(h.sent[0].resp().status_code.code(), 200);
    h.far_end_request("INVITE", 6, "z9hG4bKreinv");
    assert_eq!(
        h.sent[1].resp().status_code.code(),
        488,
        "re-INVITE refused"
    );
    assert_eq!(h.call.state(), UacState::Confirmed, "the call stays up");
    // A BYE whose tags do not match the dialog: 481, the call continues.
    let inv = h.last(Method::Invite);
    let text = format!(
        "BYE sip:10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=stranger\r\nTo: <sip:c@d>;tag=nope\r\nCall-ID: {}\r\nCSeq: 9 BYE\r\nContent-Length: 0\r\n\r\n",
        inv.call_id_header().unwrap().value()
    );
    h.feed_bytes(text.as_bytes());
    assert_eq!(h.sent.last().unwrap().resp().status_code.code(), 481);
    assert!(!h.has_ended());
}

#[test]
fn busy_and_decline_are_acked_and_end_busy() {
    for (status, cause) in [(486, "busy"), (600, "busy"), (603, "declined")] {
        let mut h = Harness::default_call();
        h.respond_invite(100, "", "");
        h.respond_invite(status, "", "");
        let inv = h.last(Method::Invite);
        let ack = h.last(Method::Ack);
        assert_eq!(
            ack.via_header().unwrap().value(),
            inv.via_header().unwrap().value(),
            "the non-2xx ACK belongs to the INVITE transaction (§17.1.1.3)"
        );
        assert_eq!(
            h.ended(),
            (Outcome::Busy, Some(status), cause.into(), EndedBy::Remote)
        );
        assert_eq!(h.call.state(), UacState::Ended);
    }
}

#[test]
fn unavailable_and_timeouts_end_no_answer_others_failed() {
    for (status, outcome, cause) in [
        (480, Outcome::NoAnswer, "no_answer"),
        (408, Outcome::NoAnswer, "no_answer"),
        (487, Outcome::NoAnswer, "no_answer"),
        (404, Outcome::Failed, "rejected"),
        (503, Outcome::Failed, "rejected"),
        (302, Outcome::Failed, "redirected"),
        (403, Outcome::Failed, "rejected"),
    ] {
        let mut h = Harness::default_call();
        h.respond_invite(status, "", "");
        assert_eq!(
            h.ended(),
            (outcome, Some(status), cause.into(), EndedBy::Remote)
        );
        assert_eq!(h.count(Method::Ack), 1, "{status} is ACKed");
    }
}

#[test]
fn ok_without_sdp_is_acked_then_hung_up() {
    let mut h = Harness::default_call();
    h.respond_invite(200, "Contact: <sip:callee@192.0.2.1:5060>\r\n", "");
    assert_eq!(h.count(Method::Ack), 1);
    let bye = h.last(Method::Bye);
    assert!(!h.has_ended());
    h.respond(&bye, 200, "", "");
    assert_eq!(
        h.ended(),
        (Outcome::Failed, Some(200), "no_sdp".into(), EndedBy::Local)
    );
    assert!(!h
        .events
        .iter()
        .any(|e| matches!(e, UacEvent::Answered { .. })));
}

#[test]
fn ok_with_unusable_sdp_is_acked_then_hung_up() {
    for (sdp, cause) in [
        (
            "v=0\r\no=- 1 1 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\nm=audio 30000 RTP/AVP 18\r\n",
            "no_common_codec",
        ),
        ("this is not sdp", "bad_sdp"),
    ] {
        let mut h = Harness::default_call();
        h.respond_invite(200, "", sdp);
        assert_eq!(h.count(Method::Ack), 1);
        let bye = h.last(Method::Bye);
        h.respond(&bye, 481, "", "");
        assert_eq!(h.ended(), (Outcome::Failed, Some(200), cause.into(), EndedBy::Local));
    }
}

#[test]
fn cancel_after_provisional_sends_cancel_and_ends_on_487() {
    let mut h = Harness::default_call();
    h.respond_invite(180, "", "");
    h.call.cancel(h.now).unwrap();
    h.drain();
    assert_eq!(h.call.state(), UacState::Canceling);
    let inv = h.last(Method::Invite);
    let cancel = h.last(Method::Cancel);
    // §9.1: same Request-URI, Call-ID, From, To, CSeq number, top Via.
    assert_eq!(cancel.uri, inv.uri);
    assert_eq!(
        cancel.via_header().unwrap().value(),
        inv.via_header().unwrap().value()
    );
    assert_eq!(
        cancel.to_header().unwrap().value(),
        inv.to_header().unwrap().value()
    );
    assert_eq!(
        cancel.from_header().unwrap().value(),
        inv.from_header().unwrap().value()
    );
    let seq = inv.cseq_header().unwrap().seq().unwrap();
    assert_eq!(
        cancel.cseq_header().unwrap().value(),
        format!("{seq} CANCEL")
    );
    h.respond(&cancel, 200, "", "");
    assert!(!h.has_ended());
    h.respond_invite(487, "", "");
    assert_eq!(h.count(Method::Ack), 1, "487 is ACKed");
    assert_eq!(
        h.ended(),
        (
            Outcome::Canceled,
            Some(487),
            "canceled".into(),
            EndedBy::Local
        )
    );
}

#[test]
fn cancel_before_any_provisional_waits_for_one() {
    let mut h = Harness::default_call();
    h.call.cancel(h.now).unwrap();
    h.drain();
    assert_eq!(
        h.count(Method::Cancel),
        0,
        "§9.1: no CANCEL before a provisional"
    );
    h.respond_invite(100, "", "");
    assert_eq!(h.count(Method::Cancel), 1);
    h.respond_invite(487, "", "");
    assert_eq!(h.ended().0, Outcome::Canceled);
}

#[test]
fn ring_timeout_cancels_and_ends_no_answer() {
    let mut req = request();
    req.ring_timeout = Duration::from_secs(2);
    let mut h = Harness::new(req);
    h.respond_invite(180, "", "");
    h.advance(Duration::from_millis(1999));
    assert_eq!(h.count(Method::Cancel), 0);
    h.advance(Duration::from_millis(1));
    assert_eq!(h.count(Method::Cancel), 1);
    let cancel = h.last(Method::Cancel);
    h.respond(&cancel, 200, "", "");
    h.respond_invite(487, "", "");
    assert_eq!(
        h.ended(),
        (
            Outcome::NoAnswer,
            Some(487),
            "ring_timeout".into(),
            EndedBy::Local
        )
    );
}

#[test]
fn cancel_without_487_gives_up_after_64_t1() {
    let mut h = Harness::default_call();
    h.respond_invite(180, "", "");
    h.call.cancel(h.now).unwrap();
    h.drain();
    h.advance(T1 * 64 - Duration::from_millis(1));
    assert!(!h.has_ended());
    h.advance(Duration::from_millis(1));
    assert_eq!(
        h.ended(),
        (Outcome::Canceled, None, "canceled".into(), EndedBy::Local)
    );
    h.advance(Duration::from_secs(60));
    assert!(h.call.is_finished());
}

#[test]
fn answered_while_cancelling_is_acked_and_hung_up() {
    let mut h = Harness::default_call();
    h.respond_invite(180, "", "");
    h.call.cancel(h.now).unwrap();
    h.drain();
    h.respond_invite(200, "", ANSWER_SDP);
    assert_eq!(h.count(Method::Ack), 1);
    let bye = h.last(Method::Bye);
    h.respond(&bye, 200, "", "");
    assert_eq!(
        h.ended(),
        (
            Outcome::Canceled,
            Some(200),
            "canceled".into(),
            EndedBy::Local
        )
    );
}

#[test]
fn cancel_once_answered_is_refused_and_hangup_before_answer_cancels() {
    let mut h = Harness::default_call();
    h.answer();
    assert!(matches!(
        h.call.cancel(h.now),
        Err(UacError::InvalidState { .. })
    ));
    let mut h = Harness::default_call();
    h.respond_invite(183, "", "");
    h.call.hangup(h.now).unwrap();
    h.drain();
    assert_eq!(h.count(Method::Cancel), 1);
}
