//! Timers A, B, D and the BYE's E/F, counted on the virtual clock.

use std::time::Duration;

use rsipstack::sip::Method;

use super::*;
use crate::uac::{EndedBy, Outcome, UacState};

#[test]
fn timer_a_retransmits_then_timer_b_ends_unreachable() {
    let mut h = Harness::default_call();
    h.advance(T1 * 64 - Duration::from_millis(1));
    // First transmission + retransmissions at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s.
    assert_eq!(h.count(Method::Invite), 7);
    assert!(!h.has_ended());
    h.advance(Duration::from_millis(1));
    assert_eq!(
        h.ended(),
        (Outcome::Failed, None, "unreachable".into(), EndedBy::Local)
    );
    assert_eq!(h.count(Method::Invite), 7);
    assert!(h.call.is_finished());
}

#[test]
fn tcp_has_no_timer_a_but_timer_b() {
    let mut req = request();
    req.transport = Transport::Tcp;
    let mut h = Harness::new(req);
    let via = h
        .last(Method::Invite)
        .headers
        .iter()
        .find(|x| x.name() == "Via")
        .unwrap()
        .value()
        .to_string();
    assert!(via.starts_with("SIP/2.0/TCP "), "{via}");
    h.advance(T1 * 64);
    assert_eq!(h.count(Method::Invite), 1);
    assert_eq!(h.ended().2, "unreachable");
}

#[test]
fn provisional_stops_retransmission_and_timer_b() {
    let mut h = Harness::default_call();
    h.advance(Duration::from_millis(600)); // one retransmission
    assert_eq!(h.count(Method::Invite), 2);
    h.respond_invite(100, "", "");
    h.advance(Duration::from_secs(29));
    assert_eq!(h.count(Method::Invite), 2);
    assert!(
        !h.has_ended(),
        "no Timer B in Proceeding; the ring timeout runs"
    );
    // The default ring timeout (30 s from the INVITE) then cancels.
    h.advance(Duration::from_millis(399));
    assert_eq!(h.count(Method::Cancel), 0);
    h.advance(Duration::from_millis(1));
    assert_eq!(h.count(Method::Cancel), 1);
}

#[test]
fn ring_timeout_before_any_response_then_timer_b() {
    let mut req = request();
    req.ring_timeout = Duration::from_secs(2);
    let mut h = Harness::new(req);
    h.advance(Duration::from_secs(3));
    assert_eq!(h.call.state(), UacState::Canceling);
    assert_eq!(h.count(Method::Cancel), 0, "no provisional: no CANCEL yet");
    h.advance(T1 * 64);
    // Nothing ever came back: the trunk is unreachable.
    assert_eq!(h.ended().2, "unreachable");
}

#[test]
fn timer_d_absorbs_final_retransmissions_for_32s() {
    let mut h = Harness::default_call();
    h.respond_invite(486, "", "");
    assert_eq!(h.count(Method::Ack), 1);
    h.advance(Duration::from_secs(10));
    h.respond_invite(486, "", ""); // retransmitted 486 (our ACK was lost)
    assert_eq!(h.count(Method::Ack), 2, "ACK re-sent from Completed");
    assert!(!h.call.is_finished());
    h.advance(Duration::from_secs(22));
    assert!(h.call.is_finished(), "Timer D (32 s) ended the transaction");
    h.ended();
}

#[test]
fn timer_d_is_zero_on_tcp() {
    let mut req = request();
    req.transport = Transport::Tcp;
    let mut h = Harness::new(req);
    h.respond_invite(486, "", "");
    h.advance(Duration::ZERO);
    assert!(h.call.is_finished());
}

#[test]
fn bye_is_retransmitted_and_times_out_after_64_t1() {
    let mut h = Harness::default_call();
    h.answer();
    h.call.hangup(h.now).unwrap();
    h.drain();
    h.advance(T1 * 64 - Duration::from_millis(1));
    // Timer E: 0.5, 1.5, 3.5, 7.5, then every 4 s up to 31.5 s.
    assert_eq!(h.count(Method::Bye), 1 + 4 + 6);
    assert!(!h.has_ended());
    h.advance(Duration::from_millis(1));
    let (outcome, status, cause, by) = h.ended();
    assert_eq!(
        (outcome, status, cause.as_str(), by),
        (Outcome::Completed, Some(200), "completed", EndedBy::Local)
    );
    let detail = h.events.iter().find_map(|e| match e {
        UacEvent::Ended { detail, .. } => Some(detail.clone()),
        _ => None,
    });
    assert!(detail.unwrap().contains("timed out"));
}

#[test]
fn accepted_state_lingers_64_t1_for_2xx_retransmissions() {
    let mut h = Harness::default_call();
    h.answer();
    h.far_end_request("BYE", 3, "z9hG4bKbye");
    h.ended();
    h.advance(Duration::from_secs(31));
    assert!(!h.call.is_finished());
    h.respond_invite(200, "Contact: <sip:callee@192.0.2.1:5060>\r\n", ANSWER_SDP);
    assert_eq!(
        h.count(Method::Ack),
        2,
        "a late 2xx retransmission is still ACKed"
    );
    h.advance(Duration::from_secs(1));
    assert!(h.call.is_finished());
}

#[test]
fn transport_error_ends_unreachable() {
    let mut h = Harness::default_call();
    h.input(Input::TransportError);
    assert_eq!(
        h.ended(),
        (Outcome::Failed, None, "unreachable".into(), EndedBy::Local)
    );
}
