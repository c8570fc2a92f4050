//! Call flows: INVITE → 100 → 180 → 200 → ACK, retransmissions, CANCEL,
//! BYE both ways, reject.

use std::time::Duration;

use rsipstack::sip::prelude::HeadersExt;

use super::*;

#[test]
fn invite_100_180_200_ack_confirms() {
    let mut h = Harness::new();
    let inv = Msg::invite("c1");
    let out = h.send(&inv.render());
    let r = responses(&out);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status_code.code(), 100);
    assert!(
        crate::dialog::tag_of(r[0].to_header().unwrap().value()).is_none(),
        "100 carries no tag"
    );
    let info = incoming(&out).unwrap();
    assert_eq!(info.call_id, "c1");
    assert_eq!(info.from, "sip:+15550001@192.0.2.10");
    assert_eq!(info.to, "sip:agent@192.0.2.1");
    assert_eq!(info.request_uri, "sip:agent@192.0.2.1:5060");
    assert_eq!(info.dialed_user.as_deref(), Some("agent"));
    assert_eq!(info.remote_signalling_addr, Harness::caller());
    assert!(info.offer.is_some());
    assert_eq!(h.core.active_calls(), 1);

    h.core.ringing(h.now, info.call).unwrap();
    let out = h.drain();
    let ringing = &responses(&out)[0];
    assert_eq!(ringing.status_code.code(), 180);
    let tag = to_tag(ringing);
    assert_eq!(header(ringing, "Contact"), Some("<sip:192.0.2.1:5060>"));

    h.core.answer(h.now, info.call, ANSWER.into()).unwrap();
    let out = h.drain();
    let ok = &responses(&out)[0];
    assert_eq!(ok.status_code.code(), 200);
    assert_eq!(to_tag(ok), tag, "180 and 200 share the To tag");
    assert_eq!(header(ok, "Content-Type"), Some("application/sdp"));
    assert_eq!(ok.body, ANSWER.as_bytes());
    assert_eq!(header(ok, "Contact"), Some("<sip:192.0.2.1:5060>"));
    assert!(header(ok, "Allow").unwrap().contains("INVITE"));
    assert_eq!(header(ok, "Server"), Some("ParlaTest"));
    // rport filled and response sent to the source port (RFC 3581).
    assert_eq!(
        ok.via_header().unwrap().value(),
        "SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-c1-1;rport=5062;received=192.0.2.10"
    );
    assert_eq!(transmits(&out)[0].dest, Harness::caller());

    let ack = Msg::in_dialog(&inv, "ACK", &tag, 1, "z9hG4bK-ack");
    let out = h.send(&ack.render());
    assert!(transmits(&out).is_empty(), "ACK is never answered");
    assert_eq!(events(&out), vec![(info.call, CallEvent::Confirmed)]);
    // No 2xx retransmission after the ACK.
    let out = h.advance(Duration::from_secs(40));
    assert!(transmits(&out).is_empty());
    assert_eq!(h.core.active_calls(), 1);
    // The INVITE transaction (Accepted, Timer L) is gone.
    assert_eq!(h.core.active_transactions(), 0);
}

#[test]
fn retransmitted_invite_gets_last_provisional_then_is_absorbed_after_2xx() {
    let mut h = Harness::new();
    let inv = Msg::invite("c2");
    let call = h.offered(&inv);
    // Before anything but 100: the 100 again, and no second call.
    let out = h.send(&inv.render());
    assert_eq!(statuses(&out), vec![100]);
    assert!(incoming(&out).is_none());
    h.core.ringing(h.now, call).unwrap();
    h.drain();
    let out = h.send(&inv.render());
    assert_eq!(statuses(&out), vec![180]);
    h.core.answer(h.now, call, ANSWER.into()).unwrap();
    h.drain();
    let out = h.send(&inv.render());
    assert!(
        transmits(&out).is_empty(),
        "RFC 6026 Accepted absorbs INVITE retransmissions"
    );
    assert!(incoming(&out).is_none());
}

#[test]
fn two_xx_is_retransmitted_with_doubling_until_ack() {
    let mut h = Harness::new();
    let inv = Msg::invite("c3");
    let call = h.offered(&inv);
    h.core.answer(h.now, call, ANSWER.into()).unwrap();
    let tag = to_tag(&responses(&h.drain())[0]);
    let start = h.now;
    let mut at = Vec::new();
    for _ in 0..5 {
        let next = h.core.poll_timeout().unwrap();
        h.now = next;
        h.core.handle_timeout(next);
        let out = h.drain();
        if !statuses(&out).is_empty() {
            assert_eq!(statuses(&out), vec![200]);
            at.push((next - start).as_millis());
        }
    }
    assert_eq!(at, vec![500, 1500, 3500, 7500, 11500]);
    let ack = Msg::in_dialog(&inv, "ACK", &tag, 1, "z9hG4bK-ack");
    let out = h.send(&ack.render());
    assert_eq!(events(&out), vec![(call, CallEvent::Confirmed)]);
    assert!(transmits(&h.advance(Duration::from_secs(60))).is_empty());
}

#[test]
fn two_xx_without_ack_gives_up_and_sends_bye() {
    let mut h = Harness::new();
    let inv = Msg::invite("c4");
    let call = h.offered(&inv);
    h.core.answer(h.now, call, ANSWER.into()).unwrap();
    h.drain();
    let out = h.advance(Duration::from_millis(31_999));
    assert_eq!(statuses(&out).len(), 10, "ten retransmissions in 64*T1");
    assert!(requests(&out).is_empty());
    let out = h.advance(Duration::from_millis(1));
    let bye = requests(&out).pop().expect("BYE after 64*T1");
    assert_eq!(bye.method, rsipstack::sip::Method::Bye);
    // 200 to the BYE ends the call.
    let ok = format!(
        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: c4\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
        bye.via_header().unwrap().value(),
        bye.from_header().unwrap().value(),
        bye.to_header().unwrap().value(),
        bye.cseq_header().unwrap().value()
    );
    let out = h.send(&ok);
    match &events(&out)[..] {
        [(
            c,
            CallEvent::Terminated {
                by_remote: false,
                reason,
            },
        )] => {
            assert_eq!(*c, call);
            assert!(reason.contains("no ACK"), "{reason}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(h.core.active_calls(), 0);
}

#[test]
fn cancel_before_answer_gives_200_and_487() {
    let mut h = Harness::new();
    let inv = Msg::invite("c5");
    let call = h.offered(&inv);
    h.core.ringing(h.now, call).unwrap();
    let tag = to_tag(&responses(&h.drain())[0]);
    let mut cancel = inv.clone();
    cancel.method = "CANCEL";
    cancel.body = None;
    let out = h.send(&cancel.render());
    let r = responses(&out);
    assert_eq!(
        r.iter().map(|r| r.status_code.code()).collect::<Vec<_>>(),
        vec![200, 487]
    );
    assert_eq!(cseq(&r[0]), "1 CANCEL");
    assert_eq!(cseq(&r[1]), "1 INVITE");
    assert_eq!(to_tag(&r[1]), tag);
    assert_eq!(events(&out), vec![(call, CallEvent::Cancelled)]);
    assert_eq!(h.core.active_calls(), 0);
    assert_eq!(
        h.core.answer(h.now, call, ANSWER.into()),
        Err(super::super::UasError::UnknownCall(call))
    );
    // Timer G retransmits the 487 until the ACK (same branch as the INVITE).
    let out = h.advance(Duration::from_millis(500));
    assert_eq!(statuses(&out), vec![487]);
    let ack = Msg {
        method: "ACK",
        to_tag: Some(tag),
        body: None,
        ..inv.clone()
    };
    let out = h.send(&ack.render());
    assert!(out.is_empty(), "ACK absorbed by the INVITE transaction");
    assert!(statuses(&h.advance(Duration::from_secs(40))).is_empty());
    // A retransmitted CANCEL gets its 200 again while the transaction lives.
    assert_eq!(h.core.active_transactions(), 0);
}

#[test]
fn cancel_without_matching_invite_gets_481_and_after_final_has_no_effect() {
    let mut h = Harness::new();
    let mut cancel = Msg::invite("nope");
    cancel.method = "CANCEL";
    cancel.body = None;
    assert_eq!(statuses(&h.send(&cancel.render())), vec![481]);

    let inv = Msg::invite("c6");
    let (call, _) = h.confirmed(&inv);
    let mut cancel = inv.clone();
    cancel.method = "CANCEL";
    cancel.body = None;
    let out = h.send(&cancel.render());
    assert_eq!(statuses(&out), vec![200]);
    assert!(events(&out).is_empty());
    assert_eq!(h.core.active_calls(), 1);
    let _ = call;
}

#[test]
fn bye_from_caller_terminates_and_retransmission_is_absorbed() {
    let mut h = Harness::new();
    let inv = Msg::invite("c7");
    let (call, tag) = h.confirmed(&inv);
    let bye = Msg::in_dialog(&inv, "BYE", &tag, 2, "z9hG4bK-bye");
    let out = h.send(&bye.render());
    assert_eq!(statuses(&out), vec![200]);
    assert_eq!(
        events(&out),
        vec![(
            call,
            CallEvent::Terminated {
                by_remote: true,
                reason: "BYE from caller".into()
            }
        )]
    );
    let out = h.send(&bye.render());
    assert_eq!(statuses(&out), vec![200], "Completed resends the 200");
    assert!(events(&out).is_empty());
    assert_eq!(h.core.active_calls(), 0);
    // Timer J (64*T1) then frees the transaction.
    h.advance(Duration::from_secs(32));
    assert_eq!(h.core.active_transactions(), 0);
}

#[test]
fn bye_for_unknown_dialog_gets_481() {
    let mut h = Harness::new();
    let inv = Msg::invite("c8");
    let (_, tag) = h.confirmed(&inv);
    let bye = Msg::in_dialog(&inv, "BYE", "wrong-tag", 2, "z9hG4bK-bye");
    assert_eq!(statuses(&h.send(&bye.render())), vec![481]);
    let mut other = Msg::in_dialog(&inv, "BYE", &tag, 2, "z9hG4bK-bye2");
    other.call_id = "other".into();
    assert_eq!(statuses(&h.send(&other.render())), vec![481]);
    assert_eq!(h.core.active_calls(), 1);
}

#[test]
fn hangup_sends_in_dialog_bye_and_completes_on_200() {
    let mut h = Harness::new();
    let mut inv = Msg::invite("c9");
    inv.extra =
        "Record-Route: <sip:198.51.100.1:5070;lr>\r\nRecord-Route: <sip:proxy.example.com;lr>\r\n"
            .into();
    let call = h.offered(&inv);
    h.core.answer(h.now, call, ANSWER.into()).unwrap();
    let ok = responses(&h.drain()).pop().unwrap();
    let rr: Vec<_> = ok
        .headers
        .iter()
        .filter(|x| x.name() == "Record-Route")
        .map(|x| x.value().to_string())
        .collect();
    assert_eq!(rr.len(), 2, "Record-Route copied into the 2xx");
    let tag = to_tag(&ok);
    h.send(&Msg::in_dialog(&inv, "ACK", &tag, 1, "z9hG4bK-a").render());

    h.core.hangup(h.now, call).unwrap();
    let out = h.drain();
    let t = transmits(&out);
    assert_eq!(t.len(), 1);
    assert_eq!(
        t[0].dest,
        "198.51.100.1:5070".parse().unwrap(),
        "first route is the next hop"
    );
    let bye = requests(&out).pop().unwrap();
    assert_eq!(bye.method, rsipstack::sip::Method::Bye);
    assert_eq!(
        bye.uri.to_string(),
        "sip:alice@192.0.2.10:5062",
        "remote target from Contact"
    );
    let routes: Vec<_> = bye
        .route_headers()
        .iter()
        .map(|r| r.value().to_string())
        .collect();
    assert_eq!(routes, rr);
    assert_eq!(
        crate::dialog::tag_of(bye.from_header().unwrap().value()),
        Some(tag)
    );
    assert_eq!(
        crate::dialog::tag_of(bye.to_header().unwrap().value()).as_deref(),
        Some("caller-tag")
    );
    assert!(bye
        .via_header()
        .unwrap()
        .value()
        .starts_with("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK"));
    // Timer E retransmits.
    let out = h.advance(Duration::from_millis(500));
    assert_eq!(requests(&out).len(), 1);
    // Idempotent.
    h.core.hangup(h.now, call).unwrap();
    assert!(h.drain().is_empty());
    let ok = format!(
        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: c9\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
        bye.via_header().unwrap().value(),
        bye.from_header().unwrap().value(),
        bye.to_header().unwrap().value(),
        bye.cseq_header().unwrap().value()
    );
    let out = h.send(&ok);
    assert!(
        matches!(&events(&out)[..], [(c, CallEvent::Terminated { by_remote: false, .. })] if *c == call)
    );
    // Retransmitted 200 is absorbed; Timer K frees the transaction.
    assert!(h.send(&ok).is_empty());
    assert!(transmits(&h.advance(Duration::from_secs(6))).is_empty());
    // Left: the INVITE transaction in Accepted (Timer L = 64*T1).
    assert_eq!(h.core.active_transactions(), 1);
    h.advance(Duration::from_secs(32));
    assert_eq!(h.core.active_transactions(), 0);
}

#[test]
fn bye_timeout_terminates_after_64_t1() {
    let mut h = Harness::new();
    let inv = Msg::invite("c10");
    let (call, _) = h.confirmed(&inv);
    h.core.hangup(h.now, call).unwrap();
    let first = h.drain();
    let out = h.advance(Duration::from_millis(31_999));
    assert_eq!(requests(&first).len() + requests(&out).len(), 11);
    assert!(events(&out).is_empty());
    let out = h.advance(Duration::from_millis(1));
    match &events(&out)[..] {
        [(
            c,
            CallEvent::Terminated {
                by_remote: false,
                reason,
            },
        )] => {
            assert_eq!(*c, call);
            assert!(reason.contains("timed out"), "{reason}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn reject_sends_final_and_waits_for_ack() {
    let mut h = Harness::new();
    let inv = Msg::invite("c11");
    let call = h.offered(&inv);
    assert_eq!(
        h.core.reject(h.now, call, 200),
        Err(super::super::UasError::InvalidStatus(200))
    );
    h.core.reject(h.now, call, 486).unwrap();
    let out = h.drain();
    assert_eq!(statuses(&out), vec![486]);
    assert!(matches!(
        &events(&out)[..],
        [(
            _,
            CallEvent::Terminated {
                by_remote: false,
                ..
            }
        )]
    ));
    let tag = to_tag(&responses(&out)[0]);
    // Timer G: 500 ms, 1 s, 2 s ...
    assert_eq!(statuses(&h.advance(Duration::from_millis(500))), vec![486]);
    assert_eq!(
        statuses(&h.advance(Duration::from_millis(999))),
        Vec::<u16>::new()
    );
    assert_eq!(statuses(&h.advance(Duration::from_millis(1))), vec![486]);
    let ack = Msg {
        method: "ACK",
        to_tag: Some(tag),
        body: None,
        ..inv
    };
    assert!(h.send(&ack.render()).is_empty());
    assert!(h.advance(Duration::from_secs(40)).is_empty());
    assert_eq!(h.core.active_transactions(), 0);
}

#[test]
fn hangup_before_ack_waits_for_ack_then_byes() {
    let mut h = Harness::new();
    let inv = Msg::invite("c12");
    let call = h.offered(&inv);
    h.core.answer(h.now, call, ANSWER.into()).unwrap();
    let tag = to_tag(&responses(&h.drain())[0]);
    h.core.hangup(h.now, call).unwrap();
    assert!(h.drain().is_empty(), "no BYE before the ACK (RFC 3261 §15)");
    let out = h.send(&Msg::in_dialog(&inv, "ACK", &tag, 1, "z9hG4bK-a").render());
    assert_eq!(events(&out), vec![(call, CallEvent::Confirmed)]);
    assert_eq!(requests(&out).len(), 1, "BYE right after the ACK");
}

#[test]
fn hangup_before_answer_rejects_480() {
    let mut h = Harness::new();
    let call = h.offered(&Msg::invite("c13"));
    h.core.hangup(h.now, call).unwrap();
    assert_eq!(statuses(&h.drain()), vec![480]);
}

#[test]
fn ring_timeout_rejects_480() {
    let mut h = Harness::with(|c| c.ring_timeout = Duration::from_secs(5));
    let call = h.offered(&Msg::invite("c14"));
    let out = h.advance(Duration::from_secs(5));
    assert_eq!(statuses(&out), vec![480]);
    assert!(
        matches!(&events(&out)[..], [(c, CallEvent::Terminated { by_remote: false, .. })] if *c == call)
    );
}
