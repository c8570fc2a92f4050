//! Overload, draining, merged requests, RFC 2543 peers, TCP, malformed
//! input.

use std::time::Duration;

use rsipstack::sip::prelude::HeadersExt;

use super::*;

#[test]
fn draining_rejects_new_invites_with_503_retry_after() {
    let mut h = Harness::new();
    let inv = Msg::invite("existing");
    let (call, tag) = h.confirmed(&inv);
    h.core.set_draining(true);
    let new = Msg::invite("d1");
    let out = h.send(&new.render());
    let r = responses(&out);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status_code.code(), 503);
    assert_eq!(header(&r[0], "Retry-After"), Some("30"));
    assert!(incoming(&out).is_none());
    // The ACK for the 503 is absorbed by the INVITE transaction.
    let ack = Msg {
        method: "ACK",
        to_tag: Some(to_tag(&r[0])),
        body: None,
        ..new
    };
    assert!(h.send(&ack.render()).is_empty());
    // Existing calls keep working.
    let bye = Msg::in_dialog(&inv, "BYE", &tag, 2, "z9hG4bK-b");
    let out = h.send(&bye.render());
    assert_eq!(statuses(&out), vec![200]);
    assert!(
        matches!(&events(&out)[..], [(c, CallEvent::Terminated { by_remote: true, .. })] if *c == call)
    );
    h.core.set_draining(false);
    assert_eq!(statuses(&h.send(&Msg::invite("d2").render())), vec![100]);
}

#[test]
fn max_dialogs_gives_503() {
    let mut h = Harness::with(|c| c.max_dialogs = 1);
    h.offered(&Msg::invite("m1"));
    let out = h.send(&Msg::invite("m2").render());
    assert_eq!(statuses(&out), vec![503]);
    assert_eq!(header(&responses(&out)[0], "Retry-After"), Some("5"));
}

#[test]
fn invite_rate_limit_gives_503_retry_after_per_source() {
    let mut h = Harness::with(|c| {
        c.invite_rate = Some(super::super::InviteRateLimit {
            per_second: 1.0,
            burst: 2,
        })
    });
    h.offered(&Msg::invite("r1"));
    h.offered(&Msg::invite("r2"));
    let over = Msg::invite("r3");
    let out = h.send(&over.render());
    assert_eq!(statuses(&out), vec![503]);
    assert_eq!(header(&responses(&out)[0], "Retry-After"), Some("1"));
    assert!(
        incoming(&out).is_none(),
        "the application never hears of it"
    );
    // A retransmission gets the same 503 without taking a token.
    assert_eq!(statuses(&h.send(&over.render())), vec![503]);
    // Another source is served.
    let other: SocketAddr = "198.51.100.7:5060".parse().unwrap();
    h.core.handle_datagram(
        h.now,
        Transport::Udp,
        other,
        None,
        Msg::invite("o1").render().as_bytes(),
    );
    assert_eq!(statuses(&h.drain()), vec![100]);
    // One token back after a second.
    h.advance(Duration::from_secs(1));
    assert_eq!(statuses(&h.send(&Msg::invite("r4").render())), vec![100]);
    assert_eq!(statuses(&h.send(&Msg::invite("r5").render())), vec![503]);
}

#[test]
fn reject_with_retry_after_sends_the_header() {
    let mut h = Harness::new();
    let call = h.offered(&Msg::invite("ra"));
    h.core
        .reject_retry_after(h.now, call, 503, Some(7))
        .unwrap();
    let out = h.drain();
    assert_eq!(statuses(&out), vec![503]);
    assert_eq!(header(&responses(&out)[0], "Retry-After"), Some("7"));
}

#[test]
fn max_transactions_gives_stateless_503() {
    let mut h = Harness::with(|c| c.max_transactions = 1);
    h.offered(&Msg::invite("t1"));
    let mut opt = Msg::invite("t2");
    opt.method = "OPTIONS";
    opt.body = None;
    let out = h.send(&opt.render());
    assert_eq!(statuses(&out), vec![503]);
    assert_eq!(h.core.active_transactions(), 1);
}

#[test]
fn merged_invite_gets_482_and_new_cseq_491() {
    let mut h = Harness::new();
    let inv = Msg::invite("mg");
    let call = h.offered(&inv);
    let mut forked = inv.clone();
    forked.branch = "z9hG4bK-other-path".into();
    let out = h.send(&forked.render());
    assert_eq!(statuses(&out), vec![482]);
    assert!(incoming(&out).is_none());
    let mut newer = inv.clone();
    newer.branch = "z9hG4bK-newer".into();
    newer.cseq = 2;
    assert_eq!(statuses(&h.send(&newer.render())), vec![491]);
    // The original call is untouched.
    h.core.ringing(h.now, call).unwrap();
    assert_eq!(statuses(&h.drain()), vec![180]);
}

#[test]
fn rfc2543_peer_without_magic_cookie_is_matched() {
    let mut h = Harness::new();
    let mut inv = Msg::invite("old");
    inv.branch = "1234".into();
    let call = h.offered(&inv);
    assert_eq!(
        statuses(&h.send(&inv.render())),
        vec![100],
        "retransmission matched"
    );
    let mut cancel = inv.clone();
    cancel.method = "CANCEL";
    cancel.body = None;
    let out = h.send(&cancel.render());
    assert_eq!(statuses(&out), vec![200, 487]);
    assert_eq!(events(&out), vec![(call, CallEvent::Cancelled)]);
}

#[test]
fn early_dialog_bye_gets_200_and_invite_487() {
    let mut h = Harness::new();
    let inv = Msg::invite("early");
    let call = h.offered(&inv);
    h.core.ringing(h.now, call).unwrap();
    let tag = to_tag(&responses(&h.drain())[0]);
    let out = h.send(&Msg::in_dialog(&inv, "BYE", &tag, 2, "z9hG4bK-eb").render());
    assert_eq!(statuses(&out), vec![200, 487]);
    assert!(
        matches!(&events(&out)[..], [(c, CallEvent::Terminated { by_remote: true, .. })] if *c == call)
    );
}

#[test]
fn received_is_added_when_sent_by_differs_and_reply_goes_to_sent_by_port_without_rport() {
    let mut h = Harness::new();
    let msg = "OPTIONS sip:agent@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP caller.example.com:5080;branch=z9hG4bK-rcv\r\nFrom: <sip:a@b>;tag=x\r\nTo: <sip:agent@192.0.2.1>\r\nCall-ID: rcv\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let out = h.send(msg);
    let r = &responses(&out)[0];
    assert_eq!(
        r.via_header().unwrap().value(),
        "SIP/2.0/UDP caller.example.com:5080;branch=z9hG4bK-rcv;received=192.0.2.10"
    );
    assert_eq!(transmits(&out)[0].dest, "192.0.2.10:5080".parse().unwrap());
}

#[test]
fn tcp_call_replies_on_connection_without_timer_g_and_with_tcp_contact() {
    let mut h = Harness::new();
    let mut inv = Msg::invite("tcp1");
    inv.transport = "TCP";
    let out = h.send_tcp(9, &inv.render());
    let t = transmits(&out);
    assert_eq!(t[0].transport, Transport::Tcp);
    assert_eq!(t[0].conn, Some(ConnId(9)));
    let call = incoming(&out).unwrap().call;
    assert!(h.core.connection_in_use(ConnId(9)));
    h.core.answer(h.now, call, ANSWER.into()).unwrap();
    let out = h.drain();
    assert_eq!(
        header(&responses(&out)[0], "Contact"),
        Some("<sip:192.0.2.1:5060;transport=tcp>")
    );
    assert_eq!(transmits(&out)[0].conn, Some(ConnId(9)));
    let tag = to_tag(&responses(&out)[0]);
    h.send_tcp(
        9,
        &Msg::in_dialog(&inv, "ACK", &tag, 1, "z9hG4bK-a").render(),
    );
    h.core.hangup(h.now, call).unwrap();
    let out = h.drain();
    let bye = requests(&out).pop().unwrap();
    assert!(bye
        .via_header()
        .unwrap()
        .value()
        .starts_with("SIP/2.0/TCP "));
    assert_eq!(transmits(&out)[0].conn, Some(ConnId(9)));
    // No Timer E on TCP: nothing until Timer F.
    assert!(requests(&h.advance(Duration::from_secs(31))).is_empty());

    // A rejected TCP INVITE has no Timer G either.
    let mut inv2 = Msg::invite("tcp2");
    inv2.transport = "TCP";
    let call2 = incoming(&h.send_tcp(9, &inv2.render())).unwrap().call;
    h.core.reject(h.now, call2, 404).unwrap();
    assert_eq!(statuses(&h.drain()), vec![404]);
    assert!(statuses(&h.advance(Duration::from_secs(10))).is_empty());
}

#[test]
fn malformed_requests_are_rejected_statelessly_and_garbage_never_panics() {
    let mut h = Harness::new();
    // Missing CSeq → 400 straight from the classifier.
    let msg = "INVITE sip:agent@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-bad\r\nFrom: <sip:a@b>;tag=x\r\nTo: <sip:agent@192.0.2.1>\r\nCall-ID: bad\r\nContent-Length: 0\r\n\r\n";
    let out = h.send(msg);
    assert_eq!(statuses(&out), vec![400]);
    assert_eq!(h.core.active_transactions(), 0);
    // INVITE without Contact (RFC 2543 style) is processed: the From URI is
    // the remote target (RFC 4475 §3.4.1).
    let msg = "INVITE sip:agent@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-nc\r\nFrom: <sip:a@b>;tag=x\r\nTo: <sip:agent@192.0.2.1>\r\nCall-ID: nc\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(statuses(&h.send(msg)), vec![100]);
    // A malformed Contact is still refused by the core.
    let msg = "INVITE sip:agent@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-bc\r\nFrom: <sip:a@b>;tag=x\r\nTo: <sip:agent@192.0.2.1>\r\nCall-ID: bc\r\nCSeq: 1 INVITE\r\nContact: <>\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(statuses(&h.send(msg)), vec![400]);
    for junk in [
        &b""[..],
        b"\r\n\r\n",
        b"\xff\xfe garbage",
        b"SIP/2.0 200 OK\r\n\r\n",
        b"INVITE x",
    ] {
        h.core
            .handle_datagram(h.now, Transport::Udp, Harness::caller(), None, junk);
        h.drain();
    }
    // Stray responses and ACKs are dropped silently.
    let stray = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKnone\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: s\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n";
    assert!(h.send(stray).is_empty());
    let ack = Msg {
        method: "ACK",
        to_tag: Some("zz".into()),
        body: None,
        ..Msg::invite("nobody")
    };
    assert!(h.send(&ack.render()).is_empty());
}

#[test]
fn api_errors_for_unknown_and_wrong_state_calls() {
    let mut h = Harness::new();
    let inv = Msg::invite("api");
    let (call, _) = h.confirmed(&inv);
    assert!(matches!(
        h.core.ringing(h.now, call),
        Err(super::super::UasError::InvalidState { .. })
    ));
    assert!(matches!(
        h.core.answer(h.now, call, ANSWER.into()),
        Err(super::super::UasError::InvalidState { .. })
    ));
    assert!(h.core.reject(h.now, call, 486).is_err());
    let ghost = incoming(&h.send(&Msg::invite("ghost").render()))
        .unwrap()
        .call;
    h.core.reject(h.now, ghost, 404).unwrap();
    h.drain();
    assert_eq!(
        h.core.hangup(h.now, ghost),
        Err(super::super::UasError::UnknownCall(ghost))
    );
}

#[test]
fn invite_without_sdp_is_offered_with_no_offer_and_stale_ack_is_ignored() {
    let mut h = Harness::new();
    let mut inv = Msg::invite("nosdp");
    inv.body = None;
    let out = h.send(&inv.render());
    let info = incoming(&out).unwrap();
    assert!(info.offer.is_none());
    h.core.answer(h.now, info.call, ANSWER.into()).unwrap();
    let tag = to_tag(&responses(&h.drain())[0]);
    // An ACK with the wrong CSeq does not confirm the call.
    let out = h.send(&Msg::in_dialog(&inv, "ACK", &tag, 7, "z9hG4bK-a7").render());
    assert!(out.is_empty());
    let out = h.send(&Msg::in_dialog(&inv, "ACK", &tag, 1, "z9hG4bK-a1").render());
    assert_eq!(events(&out), vec![(info.call, CallEvent::Confirmed)]);
}

#[test]
fn malformed_sdp_offer_gets_400() {
    let mut h = Harness::new();
    let mut inv = Msg::invite("badsdp");
    inv.body = Some(("application/sdp", "this is not sdp".into()));
    let out = h.send(&inv.render());
    assert_eq!(statuses(&out), vec![400]);
    assert!(incoming(&out).is_none());
}
