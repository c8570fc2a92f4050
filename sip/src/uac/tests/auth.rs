//! 401/407 digest retries, checked against independent MD5 (`md-5`) and
//! SHA-256 (`sha2`) implementations that first reproduce the RFC 2617
//! §3.5 and RFC 7616 §3.9.1 examples.

use md5::{Digest as _, Md5};
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::Method;
use sha2::Sha256;

use super::*;
use crate::uac::{Credentials, EndedBy, Outcome, UacState};

fn md5_hex(s: &str) -> String {
    hex(&Md5::digest(s.as_bytes()))
}

fn sha256_hex(s: &str) -> String {
    hex(&Sha256::digest(s.as_bytes()))
}

/// RFC 2617 §3.2.2.1 with qop=auth, written out independently.
#[allow(clippy::too_many_arguments)]
fn expected(
    h: fn(&str) -> String,
    user: &str,
    realm: &str,
    pass: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    cnonce: &str,
) -> String {
    let ha1 = h(&format!("{user}:{realm}:{pass}"));
    let ha2 = h(&format!("{method}:{uri}"));
    h(&format!("{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}"))
}

#[test]
fn independent_md5_reproduces_rfc2617_example() {
    let r = expected(
        md5_hex,
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
        "GET",
        "/dir/index.html",
        "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        "0a4f113b",
    );
    assert_eq!(r, "6629fae49393a05397450978507c4ef1");
}

#[test]
fn independent_sha256_reproduces_rfc7616_example() {
    let r = expected(
        sha256_hex,
        "Mufasa",
        "http-auth@example.org",
        "Circle of Life",
        "GET",
        "/dir/index.html",
        "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    );
    assert_eq!(
        r,
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
}

/// The parameters of a credentials header value.
fn params(value: &str) -> std::collections::HashMap<String, String> {
    let rest = value.strip_prefix("Digest ").expect("Digest scheme");
    rest.split(", ")
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

fn with_credentials() -> Harness {
    let mut req = request();
    req.credentials = Some(Credentials::new("Mufasa", "Circle Of Life"));
    Harness::new(req)
}

fn header_value(req: &Request, name: &str) -> Option<String> {
    req.headers
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case(name))
        .map(|h| h.value().to_string())
}

#[test]
fn md5_challenge_is_answered_once_with_a_new_cseq_and_branch() {
    let mut h = with_credentials();
    let first = h.last(Method::Invite);
    h.respond_invite(
        401,
        "WWW-Authenticate: Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"\r\n",
        "",
    );
    assert_eq!(h.count(Method::Ack), 1, "the 401 is ACKed");
    assert_eq!(h.count(Method::Invite), 2);
    let retry = h.last(Method::Invite);
    assert_eq!(
        retry.call_id_header().unwrap().value(),
        first.call_id_header().unwrap().value()
    );
    assert_eq!(
        retry.from_header().unwrap().value(),
        first.from_header().unwrap().value()
    );
    let (s1, s2) = (
        first.cseq_header().unwrap().seq().unwrap(),
        retry.cseq_header().unwrap().seq().unwrap(),
    );
    assert_eq!(s2, s1 + 1);
    assert_ne!(
        retry.via_header().unwrap().value(),
        first.via_header().unwrap().value()
    );
    let auth = header_value(&retry, "Authorization").expect("Authorization");
    let p = params(&auth);
    let uri = "sip:+15551234@192.0.2.1";
    assert_eq!(p["username"], "Mufasa");
    assert_eq!(p["uri"], uri);
    assert_eq!(p["qop"], "auth");
    assert_eq!(p["nc"], "00000001");
    assert_eq!(p["algorithm"], "MD5");
    assert_eq!(p["opaque"], "5ccc069c403ebaf9f0171e9517f40e41");
    let want = expected(
        md5_hex,
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
        "INVITE",
        uri,
        "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        &p["cnonce"],
    );
    assert_eq!(p["response"], want);
    // The answer: the 2xx ACK carries the same credentials (§13.2.2.4).
    h.answer();
    let ack = h.last(Method::Ack);
    assert_eq!(header_value(&ack, "Authorization"), Some(auth));
    assert_eq!(h.call.state(), UacState::Confirmed);
}

#[test]
fn sha256_proxy_challenge_gets_proxy_authorization() {
    let mut req = request();
    req.credentials = Some(Credentials::new("Mufasa", "Circle of Life"));
    let mut h = Harness::new(req);
    h.respond_invite(100, "", "");
    h.respond_invite(
        407,
        "Proxy-Authenticate: Digest realm=\"http-auth@example.org\", qop=\"auth\", algorithm=SHA-256, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"\r\nProxy-Authenticate: Digest realm=\"http-auth@example.org\", qop=\"auth\", algorithm=MD5, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\"\r\n",
        "",
    );
    let retry = h.last(Method::Invite);
    assert!(header_value(&retry, "Authorization").is_none());
    let auth = header_value(&retry, "Proxy-Authorization").expect("Proxy-Authorization");
    let p = params(&auth);
    assert_eq!(
        p["algorithm"], "SHA-256",
        "RFC 8760: the first challenge we support"
    );
    let want = expected(
        sha256_hex,
        "Mufasa",
        "http-auth@example.org",
        "Circle of Life",
        "INVITE",
        "sip:+15551234@192.0.2.1",
        "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        &p["cnonce"],
    );
    assert_eq!(p["response"], want);
    assert_eq!(
        h.call.state(),
        UacState::Calling,
        "a new INVITE transaction"
    );
}

const CHALLENGE: &str = "WWW-Authenticate: Digest realm=\"r\", nonce=\"n1\", qop=\"auth\"\r\n";

#[test]
fn second_challenge_fails_auth() {
    let mut h = with_credentials();
    h.respond_invite(401, CHALLENGE, "");
    h.respond_invite(401, CHALLENGE, "");
    assert_eq!(h.count(Method::Invite), 2, "one retry only");
    assert_eq!(h.count(Method::Ack), 2);
    assert_eq!(
        h.ended(),
        (
            Outcome::Failed,
            Some(401),
            "auth_failed".into(),
            EndedBy::Remote
        )
    );
}

#[test]
fn stale_nonce_allows_one_more_retry() {
    let mut h = with_credentials();
    h.respond_invite(401, CHALLENGE, "");
    h.respond_invite(
        401,
        "WWW-Authenticate: Digest realm=\"r\", nonce=\"n2\", qop=\"auth\", stale=true\r\n",
        "",
    );
    assert_eq!(h.count(Method::Invite), 3);
    assert!(!h.has_ended());
    h.respond_invite(401, CHALLENGE, "");
    assert_eq!(h.ended().2, "auth_failed");
}

#[test]
fn forbidden_after_credentials_is_auth_failed() {
    let mut h = with_credentials();
    h.respond_invite(401, CHALLENGE, "");
    h.respond_invite(403, "", "");
    assert_eq!(
        h.ended(),
        (
            Outcome::Failed,
            Some(403),
            "auth_failed".into(),
            EndedBy::Remote
        )
    );
}

#[test]
fn challenge_without_credentials_or_supported_digest_fails_auth() {
    let mut h = Harness::default_call();
    h.respond_invite(
        407,
        "Proxy-Authenticate: Digest realm=\"r\", nonce=\"n\"\r\n",
        "",
    );
    assert_eq!(h.ended().2, "auth_failed");
    assert_eq!(h.count(Method::Invite), 1);

    let mut h = with_credentials();
    h.respond_invite(
        401,
        "WWW-Authenticate: Digest realm=\"r\", nonce=\"n\", algorithm=MD5-sess\r\n",
        "",
    );
    assert_eq!(h.ended().2, "auth_failed");
    let mut h = with_credentials();
    h.respond_invite(401, "", "");
    assert_eq!(h.ended().2, "auth_failed", "401 without any challenge");
}

#[test]
fn retried_invite_can_still_be_cancelled_after_its_own_provisional() {
    let mut h = with_credentials();
    h.respond_invite(100, "", "");
    h.respond_invite(401, CHALLENGE, "");
    h.call.cancel(h.now).unwrap();
    h.drain();
    assert_eq!(
        h.count(Method::Cancel),
        0,
        "the new INVITE has no provisional yet"
    );
    h.respond_invite(180, "", "");
    let cancel = h.last(Method::Cancel);
    let retry = h.last(Method::Invite);
    assert_eq!(
        cancel.via_header().unwrap().value(),
        retry.via_header().unwrap().value()
    );
    h.respond_invite(487, "", "");
    assert_eq!(h.ended().0, Outcome::Canceled);
}
