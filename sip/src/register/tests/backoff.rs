//! Failures: the status they leave, and the retry schedule (exponential
//! backoff, Retry-After, reset on success).

use super::*;
use crate::register::{
    refresh_delay, retry_delay, DEFAULT_RETRY_INITIAL, DEFAULT_RETRY_MAX, MAX_REASON_BYTES,
};

fn failing(h: &Harness) -> (String, Option<u16>, Instant, Instant) {
    match h.status() {
        RegistrationStatus::Failing {
            reason,
            status,
            at,
            retry_at,
        } => (reason, status, at, retry_at),
        other => panic!("expected Failing, got {other:?}"),
    }
}

#[test]
fn forbidden_is_failing_with_reason_and_retries_after_30s() {
    let mut h = Harness::default_reg();
    h.advance(secs(1));
    h.respond(403, "");
    let (reason, status, at, retry_at) = failing(&h);
    assert_eq!(reason, "403 Forbidden");
    assert_eq!(status, Some(403));
    assert_eq!(at, h.t0 + secs(1));
    assert_eq!(retry_at, at + secs(30));
    let n = h.sent.len();
    h.advance(Duration::from_millis(29_999));
    assert_eq!(h.sent.len(), n, "nothing before the retry time");
    h.advance(Duration::from_millis(1));
    assert_eq!(h.sent.len(), n + 1, "retry at 30 s");
    assert!(
        matches!(h.status(), RegistrationStatus::Failing { .. }),
        "stays Failing while the retry is under way"
    );
}

#[test]
fn consecutive_failures_double_the_delay_up_to_30_min() {
    let mut h = Harness::default_reg();
    let mut delays = Vec::new();
    for _ in 0..9 {
        h.respond(503, "");
        let (_, _, at, retry_at) = failing(&h);
        delays.push((retry_at - at).as_secs());
        h.advance(retry_at - h.now);
    }
    assert_eq!(delays, vec![30, 60, 120, 240, 480, 960, 1800, 1800, 1800]);
    // Success resets the backoff.
    h.respond(200, "Expires: 60\r\n");
    assert!(h.status().is_registered());
    h.advance(refresh_delay(secs(60)));
    h.respond(500, "");
    let (_, _, at, retry_at) = failing(&h);
    assert_eq!(retry_at - at, secs(30));
}

#[test]
fn retry_after_longer_than_the_backoff_is_honoured_and_capped() {
    let mut h = Harness::default_reg();
    h.respond(503, "Retry-After: 300\r\n");
    let (reason, _, at, retry_at) = failing(&h);
    assert_eq!(reason, "503 Service Unavailable");
    assert_eq!(retry_at - at, secs(300));
    h.advance(secs(300));
    h.respond(503, "Retry-After: 5\r\n");
    let (_, _, at, retry_at) = failing(&h);
    assert_eq!(retry_at - at, secs(60), "shorter than the backoff: backoff");
    h.advance(secs(60));
    h.respond(503, "Retry-After: 86400\r\n");
    let (_, _, at, retry_at) = failing(&h);
    assert_eq!(retry_at - at, DEFAULT_RETRY_MAX);
}

#[test]
fn timer_f_timeout_is_failing_after_retransmissions() {
    let mut h = Harness::default_reg();
    h.advance(Duration::from_millis(31_999));
    let retransmits = h.sent.len() - 1;
    assert_eq!(
        retransmits, 10,
        "Timer E: 0.5, 1, 2, 4, 4, ... s until 32 s"
    );
    assert_eq!(h.status(), RegistrationStatus::Pending);
    h.advance(Duration::from_millis(1));
    let (reason, status, at, retry_at) = failing(&h);
    assert!(reason.contains("Timer F"), "{reason}");
    assert_eq!(status, None);
    assert_eq!(at, h.t0 + secs(32), "64*T1");
    assert_eq!(retry_at, at + secs(30));
}

#[test]
fn tcp_has_no_retransmissions_but_the_same_timeout() {
    let mut req = request();
    req.transport = crate::uac::Transport::Tcp;
    let mut h = Harness::new(req);
    assert!(h.reg.contact().ends_with(";transport=tcp"));
    h.advance(secs(32));
    assert_eq!(h.sent.len(), 1);
    assert!(failing(&h).0.contains("Timer F"));
}

#[test]
fn wrong_password_is_auth_failed_not_a_loop() {
    let mut h = Harness::default_reg();
    h.respond(401, CHALLENGE);
    h.respond(403, "");
    let (reason, status, ..) = failing(&h);
    assert_eq!(reason, "403 Forbidden after our credentials");
    assert_eq!(status, Some(403));

    let mut h = Harness::default_reg();
    h.respond(401, CHALLENGE);
    h.respond(401, CHALLENGE);
    assert_eq!(h.sent.len(), 2, "a second challenge is not answered");
    assert_eq!(failing(&h).0, "401 again after our credentials");

    let mut h = Harness::default_reg();
    h.respond(401, CHALLENGE);
    let stale = CHALLENGE.replace("qop", "stale=true, qop");
    h.respond(401, &stale);
    assert_eq!(h.sent.len(), 3, "a stale nonce is answered once more");
}

#[test]
fn challenge_without_credentials_or_supported_digest_fails() {
    let mut req = request();
    req.credentials = None;
    let mut h = Harness::new(req);
    h.respond(401, CHALLENGE);
    assert_eq!(failing(&h).0, "401 challenge and no credentials configured");
    let mut h = Harness::default_reg();
    h.respond(
        407,
        "Proxy-Authenticate: Digest realm=\"r\", nonce=\"n\", algorithm=MD5-sess\r\n",
    );
    assert_eq!(failing(&h).0, "407 without a digest challenge we support");
}

#[test]
fn transport_error_fails_the_attempt() {
    let mut h = Harness::default_reg();
    h.reg.handle_input(h.now, Input::TransportError);
    h.drain();
    assert!(failing(&h).0.contains("transport error"));
    h.reg.handle_input(h.now, Input::TransportError);
    h.drain();
    assert_eq!(h.statuses.len(), 1, "no attempt in flight: ignored");
}

#[test]
fn granted_zero_is_a_failure_and_reasons_are_bounded() {
    let mut h = Harness::default_reg();
    h.respond(200, "Expires: 0\r\n");
    assert!(failing(&h).0.contains("0 s"));
    let mut h = Harness::default_reg();
    let long = "x".repeat(400);
    let text = response_text(&h.last(), 480, "").replacen("Temporarily Unavailable", &long, 1);
    h.feed(text.as_bytes());
    assert_eq!(failing(&h).0.len(), MAX_REASON_BYTES);
}

#[test]
fn schedule_helpers() {
    assert_eq!(refresh_delay(secs(3600)), secs(3540));
    assert_eq!(refresh_delay(secs(4)), secs(2));
    assert_eq!(refresh_delay(secs(120)), secs(60));
    assert_eq!(refresh_delay(Duration::ZERO), secs(1));
    let d = |n| retry_delay(n, DEFAULT_RETRY_INITIAL, DEFAULT_RETRY_MAX).as_secs();
    assert_eq!(
        (d(1), d(2), d(7), d(8), d(1000)),
        (30, 60, 1800, 1800, 1800)
    );
}

#[test]
fn responses_for_other_requests_are_ignored() {
    let mut h = Harness::default_reg();
    let r = h.last();
    let stale = response_text(&r, 200, "").replace("branch=z9hG4bK", "branch=z9hG4bKother");
    h.feed(stale.as_bytes());
    assert_eq!(h.status(), RegistrationStatus::Pending, "wrong branch");
    h.respond(100, "");
    assert_eq!(h.status(), RegistrationStatus::Pending, "provisional");
    h.advance(secs(10));
    assert_eq!(h.sent.len(), 4, "Timer E at T2 after a 1xx: 4.5 s, 8.5 s");
}
