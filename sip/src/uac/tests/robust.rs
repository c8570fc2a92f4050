//! Responses that do not belong to the call, or cannot be used, are
//! ignored; nothing panics, whatever arrives in whatever state.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rsipstack::sip::Method;

use super::*;
use crate::uac::{Outcome, UacState};

#[test]
fn foreign_responses_are_ignored() {
    let mut h = Harness::default_call();
    let inv = h.last(Method::Invite);
    let good = response_text(&inv, 486, "", "");
    // Another Call-ID, another branch, another CSeq number, a CSeq method
    // we never sent.
    let call_id = inv
        .headers
        .iter()
        .find(|x| x.name() == "Call-ID")
        .unwrap()
        .value()
        .to_string();
    let seq = inv
        .headers
        .iter()
        .find(|x| x.name() == "CSeq")
        .unwrap()
        .value()
        .to_string();
    let num: u32 = seq.split(' ').next().unwrap().parse().unwrap();
    for bad in [
        good.replace(&call_id, "someone-else"),
        good.replace("branch=z9hG4bK", "branch=z9hG4bKx"),
        good.replace(&seq, &format!("{} INVITE", num + 5)),
        good.replace(&seq, &format!("{num} OPTIONS")),
        good.replace(&seq, &format!("{num} BYE")),
    ] {
        h.feed_bytes(bad.as_bytes());
    }
    assert!(!h.has_ended());
    assert_eq!(h.count(Method::Ack), 0);
    assert_eq!(h.call.state(), UacState::Calling);
    h.feed_bytes(good.as_bytes());
    assert_eq!(h.ended().0, Outcome::Busy);
}

#[test]
fn ok_without_to_tag_is_ignored_and_the_call_still_ends() {
    let mut h = Harness::default_call();
    h.respond_invite(180, "", "");
    let inv = h.last(Method::Invite);
    // A 2xx without To tag cannot make a dialog: not ACKed, not answered.
    let text = response_text(&inv, 200, "", ANSWER_SDP).replace(&format!(";tag={CALLEE_TAG}"), "");
    h.feed_bytes(text.as_bytes());
    assert_eq!(h.count(Method::Ack), 0);
    assert!(!h
        .events
        .iter()
        .any(|e| matches!(e, UacEvent::Answered { .. })));
    // The INVITE transaction is over after Timer M: the call ends.
    h.advance(T1 * 64);
    assert_eq!(h.ended().2, "bad_response");
    h.advance(Duration::from_secs(64));
    assert!(h.call.is_finished());
}

/// Valid messages of every kind the trunk may send, for mutation.
fn corpus(h: &Harness) -> Vec<String> {
    let inv = h.last(Method::Invite);
    let mut out = Vec::new();
    for (status, extra, body) in [
        (100, "", ""),
        (180, "", ""),
        (183, "", ANSWER_SDP),
        (
            200,
            "Contact: <sip:callee@192.0.2.1:5060>\r\nRecord-Route: <sip:192.0.2.9;lr>\r\n",
            ANSWER_SDP,
        ),
        (200, "", ""),
        (
            401,
            "WWW-Authenticate: Digest realm=\"r\", nonce=\"n\", qop=\"auth\"\r\n",
            "",
        ),
        (
            407,
            "Proxy-Authenticate: Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256\r\n",
            "",
        ),
        (486, "", ""),
        (487, "", ""),
    ] {
        out.push(response_text(&inv, status, extra, body));
    }
    out
}

const SPICE: &[u8] = b"\r\n;=<>\":,@ tag0";

fn mutate(rng: &mut StdRng, text: &str) -> Vec<u8> {
    let mut b = text.as_bytes().to_vec();
    for _ in 0..rng.random_range(0..4) {
        if b.is_empty() {
            break;
        }
        let i = rng.random_range(0..b.len());
        match rng.random_range(0..4) {
            0 => b[i] = rng.random(),
            1 => {
                b.remove(i);
            }
            2 => b.insert(i, SPICE[rng.random_range(0..SPICE.len())]),
            _ => b.truncate(i),
        }
    }
    b
}

/// A bounded, seeded fuzz of the call (the libFuzzer target in
/// `fuzz/fuzz_targets/uac_response.rs` runs the same idea unbounded).
#[test]
fn mutated_responses_in_every_state_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    for round in 0..300 {
        let mut h = Harness::default_call();
        // Reach a state: calling, ringing, cancelling, answered, hanging up.
        match round % 5 {
            0 => {}
            1 => h.respond_invite(180, "", ""),
            2 => {
                h.respond_invite(180, "", "");
                h.call.cancel(h.now).unwrap();
                h.drain();
            }
            3 => h.answer(),
            _ => {
                h.answer();
                h.call.hangup(h.now).unwrap();
                h.drain();
            }
        }
        let corpus = corpus(&h);
        for _ in 0..20 {
            let pick = &corpus[rng.random_range(0..corpus.len())];
            let bytes = mutate(&mut rng, pick);
            match classify_datagram(&bytes, &LocalPolicy::default()) {
                Inbound::Response(r) => h.input(Input::Response(r)),
                Inbound::Request(r) => h.input(Input::Request(r, trunk_source())),
                _ => {}
            }
            if rng.random_range(0..4) == 0 {
                h.advance(Duration::from_millis(rng.random_range(0..40_000)));
            }
        }
        // Whatever state it is in, a hangup ends it, exactly once.
        let _ = h.call.hangup(h.now);
        h.drain();
        h.advance(Duration::from_secs(200));
        let ends = h
            .events
            .iter()
            .filter(|e| matches!(e, UacEvent::Ended { .. }))
            .count();
        assert_eq!(ends, 1, "round {round}: {:#?}", h.events);
        assert!(
            h.call.is_finished(),
            "round {round}: lingers {:?}",
            h.call.poll_timeout()
        );
    }
}
