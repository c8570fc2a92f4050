//! The REGISTER itself, the digest challenge, the granted expiry and the
//! refresh, 423, unregistering, and routing through the table.

use md5::{Digest as _, Md5};
use rsipstack::sip::prelude::HeadersExt;

use super::*;
use crate::message::Inbound;
use crate::register::{RegKey, RegistrationTable, RegistrationTableOutput};

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn cseq(req: &Request) -> (u32, String) {
    let v = req.cseq_header().unwrap().value().to_string();
    let (n, m) = v.split_once(' ').unwrap();
    (n.parse().unwrap(), m.trim().to_string())
}

fn call_id(req: &Request) -> String {
    req.call_id_header().unwrap().value().to_string()
}

#[test]
fn register_carries_aor_contact_and_requested_expires() {
    let h = Harness::default_reg();
    assert_eq!(h.sent.len(), 1);
    assert_eq!(h.status(), RegistrationStatus::Pending);
    let r = h.last();
    assert_eq!(r.method, rsipstack::sip::Method::Register);
    assert_eq!(r.uri.to_string(), "sip:trunk.test");
    assert_eq!(
        h.reg.contact(),
        "sip:15550001111@10.0.0.1:5060",
        "Contact user defaults to the AOR's"
    );
    assert_eq!(
        header(&r, "Contact").as_deref(),
        Some("<sip:15550001111@10.0.0.1:5060>")
    );
    assert_eq!(header(&r, "Expires").as_deref(), Some("3600"));
    assert_eq!(
        header(&r, "To").as_deref(),
        Some("<sip:15550001111@trunk.test>")
    );
    let from = header(&r, "From").unwrap();
    assert!(
        from.starts_with("<sip:15550001111@trunk.test>;tag="),
        "{from}"
    );
    assert_eq!(cseq(&r).1, "REGISTER");
    assert!(header(&r, "Authorization").is_none());
    let via = header(&r, "Via").unwrap();
    assert!(
        via.starts_with("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK"),
        "{via}"
    );
}

#[test]
fn challenge_is_answered_once_then_200_registers_for_the_granted_time() {
    let mut h = Harness::default_reg();
    let first = h.last();
    h.respond(401, CHALLENGE);
    assert_eq!(h.sent.len(), 2, "REGISTER retried with credentials");
    let second = h.last();
    assert_eq!(call_id(&second), call_id(&first), "same Call-ID (§10.2)");
    assert_eq!(cseq(&second).0, cseq(&first).0 + 1, "CSeq incremented");
    let auth = header(&second, "Authorization").expect("Authorization");
    let p: std::collections::HashMap<String, String> = auth
        .strip_prefix("Digest ")
        .unwrap()
        .split(", ")
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect();
    assert_eq!(p["uri"], "sip:trunk.test");
    assert_eq!(p["username"], "15550001111");
    // RFC 2617 §3.2.2.1, computed independently of rsipstack.
    let ha1 = md5_hex("15550001111:trunk.test:s3cret");
    let ha2 = md5_hex("REGISTER:sip:trunk.test");
    let want = md5_hex(&format!("{ha1}:abc123:00000001:{}:auth:{ha2}", p["cnonce"]));
    assert_eq!(p["response"], want);
    assert_eq!(h.status(), RegistrationStatus::Pending, "no outcome yet");

    h.advance(secs(1));
    let contact = header(&second, "Contact").unwrap();
    h.respond(
        200,
        &format!(
            "Contact: <sip:other@192.0.2.77>;expires=50, {contact};expires=120\r\nExpires: 999\r\n"
        ),
    );
    assert_eq!(
        h.status(),
        RegistrationStatus::Registered {
            expires_at: h.now + secs(120),
            at: h.now
        },
        "our Contact's expires param wins"
    );
    assert_eq!(h.statuses, vec![h.status()], "one status change");
}

#[test]
fn refresh_goes_out_before_expiry_and_keeps_the_registration() {
    let mut h = Harness::default_reg();
    h.register_ok(4);
    let at = h.now;
    let n = h.sent.len();
    h.advance(Duration::from_millis(1_999));
    assert_eq!(h.sent.len(), n, "no refresh before half of a 4 s binding");
    h.advance(Duration::from_millis(1));
    assert_eq!(h.sent.len(), n + 1, "refresh at 2 s");
    let refresh = h.last();
    assert_eq!(h.sent[n].0, at + secs(2));
    assert_eq!(header(&refresh, "Expires").as_deref(), Some("3600"));
    assert!(
        header(&refresh, "Authorization").is_none(),
        "refresh starts fresh"
    );
    assert!(
        h.status().is_registered(),
        "still registered while refreshing"
    );
    h.register_ok(4);
    assert_eq!(
        h.status(),
        RegistrationStatus::Registered {
            expires_at: h.now + secs(4),
            at: h.now
        }
    );

    // A long binding is refreshed 60 s before it expires.
    let mut h = Harness::default_reg();
    h.register_ok(3600);
    let n = h.sent.len();
    h.advance(secs(3539));
    assert_eq!(h.sent.len(), n);
    h.advance(secs(1));
    assert_eq!(h.sent.len(), n + 1, "refresh at 3540 s");
}

#[test]
fn expires_header_is_used_without_contact_param_and_requested_without_either() {
    let mut h = Harness::default_reg();
    h.respond(200, "Expires: 300\r\n");
    assert_eq!(
        h.status(),
        RegistrationStatus::Registered {
            expires_at: h.now + secs(300),
            at: h.now
        }
    );
    let mut h = Harness::default_reg();
    h.respond(200, "");
    assert!(
        matches!(h.status(), RegistrationStatus::Registered { expires_at, .. } if expires_at == h.now + secs(3600))
    );
}

#[test]
fn refresh_unanswered_past_expiry_is_failing() {
    let mut h = Harness::default_reg();
    h.register_ok(4);
    h.advance(secs(2)); // refresh sent, never answered
    assert!(h.status().is_registered());
    h.advance(secs(2));
    match h.status() {
        RegistrationStatus::Failing { reason, .. } => {
            assert!(reason.contains("expired"), "{reason}")
        }
        other => panic!("expected Failing at expiry, got {other:?}"),
    }
}

#[test]
fn interval_too_brief_is_retried_with_min_expires() {
    let mut req = request();
    req.expires = secs(60);
    let mut h = Harness::new(req);
    h.respond(423, "Min-Expires: 600\r\n");
    assert_eq!(h.sent.len(), 2);
    assert_eq!(header(&h.last(), "Expires").as_deref(), Some("600"));
    assert_eq!(h.reg.requested_expires(), secs(600));
    h.respond(423, "Min-Expires: 900\r\n");
    assert!(
        matches!(
            h.status(),
            RegistrationStatus::Failing {
                status: Some(423),
                ..
            }
        ),
        "only one raise per attempt: {:?}",
        h.status()
    );
}

#[test]
fn unregister_sends_expires_zero_then_ends() {
    let mut h = Harness::default_reg();
    h.register_ok(3600);
    let n = h.sent.len();
    h.reg.unregister(h.now);
    h.drain();
    assert_eq!(h.sent.len(), n + 1);
    let r = h.last();
    assert_eq!(header(&r, "Expires").as_deref(), Some("0"));
    assert_eq!(
        header(&r, "Contact").as_deref(),
        Some("<sip:15550001111@10.0.0.1:5060>"),
        "our binding only, not *"
    );
    h.respond(401, CHALLENGE);
    assert_eq!(
        h.sent.len(),
        n + 2,
        "the unregister answers a challenge too"
    );
    assert_eq!(header(&h.last(), "Expires").as_deref(), Some("0"));
    h.respond(200, "");
    assert_eq!(h.status(), RegistrationStatus::Unregistered { at: h.now });
    assert!(h.reg.is_finished());
    h.advance(secs(7200));
    assert_eq!(h.sent.len(), n + 2, "no refresh after unregistering");
}

#[test]
fn unregister_without_a_binding_ends_at_once() {
    let mut h = Harness::default_reg();
    h.respond(403, "");
    let n = h.sent.len();
    h.reg.unregister(h.now);
    h.drain();
    assert_eq!(h.sent.len(), n, "nothing to remove");
    assert!(h.reg.is_finished());
}

#[test]
fn table_routes_responses_by_call_id_and_drops_finished() {
    let mut table = RegistrationTable::new();
    let t0 = Instant::now();
    let mut cfg = config();
    let one = Registration::new(t0, cfg.clone(), request()).unwrap();
    cfg.rng_seed = Some(12);
    let two = Registration::new(t0, cfg, request()).unwrap();
    let two_id = two.call_id().to_string();
    assert_ne!(one.call_id(), two_id);
    table.insert(RegKey(1), one);
    table.insert(RegKey(2), two);
    let mut sent = Vec::new();
    while let Some(out) = table.poll_output() {
        if let RegistrationTableOutput::Transmit(t) = out {
            match classify_datagram(&t.bytes, &registrar_policy()) {
                Inbound::Request(r) => sent.push(r),
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(sent.len(), 2);
    let to_two = sent.iter().find(|r| call_id(r) == two_id).unwrap().clone();
    let parse = |text: String| match classify_datagram(text.as_bytes(), &LocalPolicy::default()) {
        Inbound::Response(r) => Inbound::Response(r),
        other => panic!("{other:?}"),
    };
    let ok = parse(response_text(&to_two, 200, "Expires: 60\r\n"));
    assert!(table.handle_inbound(t0, ok).is_none(), "consumed");
    assert!(table.status(RegKey(2)).unwrap().is_registered());
    assert_eq!(table.status(RegKey(1)), Some(&RegistrationStatus::Pending));
    let stranger = parse(response_text(&to_two, 200, "").replace(&two_id, "nobody"));
    assert!(
        table.handle_inbound(t0, stranger).is_some(),
        "an unknown Call-ID is handed back"
    );
    while table.poll_output().is_some() {}
    table.unregister(t0, RegKey(1)); // a REGISTER in flight: Expires 0
    assert!(matches!(
        table.poll_output(),
        Some(RegistrationTableOutput::Transmit(_))
    ));
    table.transport_error(t0, REGISTRAR.parse().unwrap());
    assert_eq!(
        table.len(),
        1,
        "unregister failed: dropped; the other stays"
    );
    assert!(table.status(RegKey(1)).is_none());
}
