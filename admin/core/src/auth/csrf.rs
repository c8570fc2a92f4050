//! CSRF tokens for the cookie-authenticated panel (synchronizer token
//! pattern, stateless variant).
//!
//! The token is `base64url(HMAC-SHA256(key, "parla-csrf-v1" || 0x00 ||
//! session_id))`: bound to the session (a token from another session, or
//! from before a re-login, does not verify), unforgeable without the server
//! key, and recomputable from the session id, so nothing extra is stored.
//! It is the synchronizer token pattern of OWASP's CSRF Prevention Cheat
//! Sheet with the per-session random token replaced by an HMAC of the
//! session id (the construction OWASP recommends for its signed
//! double-submit variant). Derive the key with
//! [`super::secrets::SecretKey::derive_key`]`("csrf")` so it is not the
//! encryption key itself.
//!
//! How requests carry it:
//!
//! - HTML forms: a hidden field named [`CSRF_FORM_FIELD`] (`csrf_token`);
//! - htmx / `fetch` requests: the header [`CSRF_HEADER`] (`X-CSRF-Token`),
//!   e.g. set once with `hx-headers` on `<body>`.
//!
//! Every state-changing request (POST, PUT, PATCH, DELETE) authenticated by
//! the session cookie must pass [`verify_csrf`]; GET/HEAD must not change
//! state. Requests authenticated with an API key (`Authorization` header)
//! need no CSRF token: browsers never attach that header on their own.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Name of the hidden form field carrying the token.
pub const CSRF_FORM_FIELD: &str = "csrf_token";
/// Name of the request header carrying the token (htmx, fetch).
pub const CSRF_HEADER: &str = "X-CSRF-Token";
/// Domain-separation label (versioned, so the scheme can change later).
const LABEL: &[u8] = b"parla-csrf-v1\0";
/// Length of a token: unpadded base64url of 32 bytes.
const TOKEN_LEN: usize = 43;

type HmacSha256 = Hmac<Sha256>;

fn mac_for(session_id: &str, key: &[u8; 32]) -> HmacSha256 {
    // HMAC accepts keys of any length (RFC 2104 §2), so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(LABEL);
    mac.update(session_id.as_bytes());
    mac
}

/// The CSRF token for a session (43 characters of base64url). Pass the
/// session id stored in the DB (see [`super::session::session_id_of`]).
pub fn csrf_token_for(session_id: &str, key: &[u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(mac_for(session_id, key).finalize().into_bytes())
}

/// Whether `submitted` is the CSRF token of `session_id` under `key`.
/// The MAC comparison is constant-time (`hmac`'s `verify_slice`); malformed
/// or oversized input is simply `false`.
pub fn verify_csrf(session_id: &str, key: &[u8; 32], submitted: &str) -> bool {
    // Tolerate whitespace a form or proxy may have added around the value.
    let submitted = submitted.trim();
    if submitted.len() != TOKEN_LEN {
        return false;
    }
    let Ok(tag) = URL_SAFE_NO_PAD.decode(submitted) else {
        return false;
    };
    mac_for(session_id, key).verify_slice(&tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    const KEY: [u8; 32] = [7u8; 32];

    #[test]
    fn roundtrip() {
        let t = csrf_token_for("session-a", &KEY);
        assert_eq!(t.len(), TOKEN_LEN);
        assert!(verify_csrf("session-a", &KEY, &t));
        assert!(verify_csrf("session-a", &KEY, &format!(" {t}\n")));
        // Deterministic per (session, key).
        assert_eq!(t, csrf_token_for("session-a", &KEY));
    }

    #[test]
    fn bound_to_session_and_key() {
        let t = csrf_token_for("session-a", &KEY);
        assert!(!verify_csrf("session-b", &KEY, &t));
        assert!(!verify_csrf("session-a", &[8u8; 32], &t));
        assert_ne!(t, csrf_token_for("session-b", &KEY));
        assert!(!verify_csrf("", &KEY, &t));
    }

    #[test]
    fn matches_hmac_sha256_reference() {
        // Independent computation with the label spelled out.
        let mut mac = HmacSha256::new_from_slice(&KEY).unwrap();
        mac.update(b"parla-csrf-v1\0abc");
        let expected = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        assert_eq!(csrf_token_for("abc", &KEY), expected);
    }

    #[test]
    fn rejects_malformed_and_tampered() {
        let t = csrf_token_for("s", &KEY);
        let mut flipped: Vec<u8> = t.bytes().collect();
        flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        for bad in [
            String::new(),
            t[..42].to_string(),
            format!("{t}A"),
            format!("{t}="),
            flipped,
            t.replace(|c: char| c.is_ascii_lowercase(), "+"),
            "x".repeat(1_000_000),
        ] {
            assert!(!verify_csrf("s", &KEY, &bad), "{bad:?}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = rand::rng();
        for _ in 0..3_000 {
            let g: String = (0..rng.random_range(0..60))
                .map(|_| rng.random::<char>())
                .collect();
            assert!(!verify_csrf("s", &KEY, &g));
            let _ = csrf_token_for(&g, &KEY);
        }
    }
}
