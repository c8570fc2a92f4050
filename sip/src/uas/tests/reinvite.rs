//! In-dialog requests: re-INVITE (hold), INFO, OPTIONS, CSeq ordering.

use std::time::Duration;

use super::*;

const HOLD_OFFER: &str = "v=0\r\no=- 1 2 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendonly\r\n";
const HOLD_ANSWER: &str = "v=0\r\no=- 2 3 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=recvonly\r\n";

/// What the application does with a re-INVITE offer: `sdp::negotiate`.
fn app_answer(offer: &crate::sdp::SessionDescription) -> String {
    use crate::sdp::{negotiate, AnswerParams, Codec, Direction};
    let params = AnswerParams {
        public_ip: "192.0.2.1".parse().unwrap(),
        rtp_port: 5000,
        session_id: 2,
        session_version: 3,
        supported: &[Codec::Pcmu, Codec::Pcma],
        user_agent: "ParlaTest",
    };
    let (remote, answer) = negotiate(offer, &params).expect("negotiable");
    assert_eq!(remote.direction, Direction::SendOnly);
    answer.to_string()
}

fn reinvite(inv: &Msg, tag: &str, cseq: u32, branch: &str, sdp: Option<&str>) -> Msg {
    let mut m = Msg::in_dialog(inv, "INVITE", tag, cseq, branch);
    m.body = sdp.map(|s| ("application/sdp", s.to_string()));
    m
}

#[test]
fn reinvite_hold_is_offered_to_app_and_answered_recvonly() {
    let mut h = Harness::new();
    let inv = Msg::invite("r1");
    let (call, tag) = h.confirmed(&inv);
    let re = reinvite(&inv, &tag, 2, "z9hG4bK-re1", Some(HOLD_OFFER));
    let out = h.send(&re.render());
    assert_eq!(statuses(&out), vec![100]);
    let offer = match &events(&out)[..] {
        [(c, CallEvent::ReInvite { offer })] if *c == call => offer.clone(),
        other => panic!("unexpected {other:?}"),
    };
    assert!(offer.to_string().contains("a=sendonly"));
    // Retransmitted re-INVITE: the 100 again, no second event.
    let out = h.send(&re.render());
    assert_eq!(statuses(&out), vec![100]);
    assert!(events(&out).is_empty());

    h.core
        .answer_reinvite(h.now, call, app_answer(&offer))
        .unwrap();
    let out = h.drain();
    let ok = &responses(&out)[0];
    assert_eq!(ok.status_code.code(), 200);
    assert_eq!(cseq(ok), "2 INVITE");
    assert_eq!(to_tag(ok), tag);
    assert!(String::from_utf8_lossy(&ok.body).contains("a=recvonly"));
    // Retransmitted until the ACK.
    assert_eq!(statuses(&h.advance(Duration::from_millis(500))), vec![200]);
    let out = h.send(&Msg::in_dialog(&inv, "ACK", &tag, 2, "z9hG4bK-ack2").render());
    assert!(out.is_empty(), "re-INVITE ACK produces no event");
    assert!(transmits(&h.advance(Duration::from_secs(40))).is_empty());
    assert!(h
        .core
        .answer_reinvite(h.now, call, HOLD_ANSWER.into())
        .is_err());
}

#[test]
fn reinvite_can_be_rejected_and_call_survives() {
    let mut h = Harness::new();
    let inv = Msg::invite("r2");
    let (call, tag) = h.confirmed(&inv);
    h.send(&reinvite(&inv, &tag, 2, "z9hG4bK-re", Some(HOLD_OFFER)).render());
    h.core.reject(h.now, call, 488).unwrap();
    assert_eq!(statuses(&h.drain()), vec![488]);
    assert_eq!(h.core.active_calls(), 1);
    assert!(
        h.core.reject(h.now, call, 488).is_err(),
        "nothing pending any more"
    );
}

#[test]
fn second_reinvite_while_pending_gets_500_with_retry_after() {
    let mut h = Harness::new();
    let inv = Msg::invite("r3");
    let (_, tag) = h.confirmed(&inv);
    h.send(&reinvite(&inv, &tag, 2, "z9hG4bK-re-a", Some(HOLD_OFFER)).render());
    let out = h.send(&reinvite(&inv, &tag, 3, "z9hG4bK-re-b", Some(HOLD_OFFER)).render());
    let r = responses(&out);
    assert_eq!(r[0].status_code.code(), 500);
    let secs: u32 = header(&r[0], "Retry-After").unwrap().parse().unwrap();
    assert!(secs <= 10);
}

#[test]
fn unanswered_reinvite_times_out_with_500() {
    let mut h = Harness::with(|c| c.reinvite_timeout = Duration::from_secs(2));
    let inv = Msg::invite("r4");
    let (call, tag) = h.confirmed(&inv);
    h.send(&reinvite(&inv, &tag, 2, "z9hG4bK-re", Some(HOLD_OFFER)).render());
    let out = h.advance(Duration::from_secs(2));
    assert_eq!(statuses(&out), vec![500]);
    assert_eq!(h.core.active_calls(), 1);
    assert!(h
        .core
        .answer_reinvite(h.now, call, HOLD_ANSWER.into())
        .is_err());
}

#[test]
fn offerless_reinvite_gets_our_last_sdp() {
    let mut h = Harness::new();
    let inv = Msg::invite("r5");
    let (_, tag) = h.confirmed(&inv);
    let out = h.send(&reinvite(&inv, &tag, 2, "z9hG4bK-re", None).render());
    assert_eq!(statuses(&out), vec![100, 200]);
    assert_eq!(responses(&out)[1].body, ANSWER.as_bytes());
    assert!(events(&out).is_empty());
}

#[test]
fn cancel_of_pending_reinvite_gets_487_and_keeps_call() {
    let mut h = Harness::new();
    let inv = Msg::invite("r6");
    let (call, tag) = h.confirmed(&inv);
    let re = reinvite(&inv, &tag, 2, "z9hG4bK-re", Some(HOLD_OFFER));
    h.send(&re.render());
    let mut cancel = re.clone();
    cancel.method = "CANCEL";
    cancel.body = None;
    let out = h.send(&cancel.render());
    assert_eq!(statuses(&out), vec![200, 487]);
    assert_eq!(h.core.active_calls(), 1);
    assert!(h
        .core
        .answer_reinvite(h.now, call, HOLD_ANSWER.into())
        .is_err());
}

#[test]
fn info_dtmf_relay_is_answered_and_reported() {
    let mut h = Harness::new();
    let inv = Msg::invite("r7");
    let (call, tag) = h.confirmed(&inv);
    let mut info = Msg::in_dialog(&inv, "INFO", &tag, 2, "z9hG4bK-info");
    info.body = Some((
        "application/dtmf-relay",
        "Signal=5\r\nDuration=160\r\n".into(),
    ));
    let out = h.send(&info.render());
    assert_eq!(statuses(&out), vec![200]);
    assert_eq!(
        events(&out),
        vec![(
            call,
            CallEvent::Info {
                content_type: "application/dtmf-relay".into(),
                body: b"Signal=5\r\nDuration=160\r\n".to_vec()
            }
        )]
    );
    // INFO outside a dialog: 481.
    let mut stray = Msg::invite("r7-stray");
    stray.method = "INFO";
    stray.body = None;
    assert_eq!(statuses(&h.send(&stray.render())), vec![481]);
}

#[test]
fn options_in_and_out_of_dialog() {
    let mut h = Harness::new();
    let mut opt = Msg::invite("o1");
    opt.method = "OPTIONS";
    opt.body = None;
    let out = h.send(&opt.render());
    let r = &responses(&out)[0];
    assert_eq!(r.status_code.code(), 200);
    assert_eq!(
        header(r, "Allow"),
        Some("INVITE, ACK, BYE, CANCEL, OPTIONS, INFO")
    );
    assert_eq!(header(r, "Accept"), Some("application/sdp"));
    assert!(h.drain().is_empty());
    assert_eq!(h.core.active_calls(), 0);

    let inv = Msg::invite("o2");
    let (_, tag) = h.confirmed(&inv);
    let in_dialog = Msg::in_dialog(&inv, "OPTIONS", &tag, 2, "z9hG4bK-o");
    assert_eq!(statuses(&h.send(&in_dialog.render())), vec![200]);
    let unknown = Msg::in_dialog(&inv, "OPTIONS", "bogus", 3, "z9hG4bK-o2");
    assert_eq!(statuses(&h.send(&unknown.render())), vec![481]);
}

#[test]
fn out_of_order_cseq_gets_500() {
    let mut h = Harness::new();
    let mut inv = Msg::invite("o3");
    inv.cseq = 10;
    let (_, tag) = h.confirmed(&inv);
    let info = Msg::in_dialog(&inv, "INFO", &tag, 5, "z9hG4bK-old");
    assert_eq!(statuses(&h.send(&info.render())), vec![500]);
    let info = Msg::in_dialog(&inv, "INFO", &tag, 11, "z9hG4bK-new");
    assert_eq!(statuses(&h.send(&info.render())), vec![200]);
}
