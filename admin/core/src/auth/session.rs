//! Panel session tokens and their lifetime rules.
//!
//! # Token and storage
//!
//! A session token is 32 bytes (256 bits) from the OS CSPRNG, sent to the
//! browser as the cookie value in unpadded base64url (43 characters). The
//! DB stores only the session **id** = `hex(SHA-256(token bytes))`, so a DB
//! leak (or a backup, or a log of session ids) does not yield usable cookies.
//! A fast hash is right for 256-bit random tokens (see [`super::api_key`]).
//! On every request: [`session_id_of`] (cookie → id), look the row up by id,
//! then [`is_expired`].
//!
//! # Cookie
//!
//! `parla_session=<token>; Path=/; HttpOnly; SameSite=Lax; Max-Age=43200`,
//! plus `Secure` whenever the panel is served over TLS
//! ([`set_cookie_header`]):
//!
//! - `HttpOnly`: scripts (including injected ones) cannot read the token;
//! - `Secure`: never sent over plain HTTP (omitted only for local `http://`
//!   development, where browsers would drop a `Secure` cookie);
//! - `SameSite=Lax`: not sent on cross-site subresource requests and POSTs,
//!   the first line of CSRF defence (the second is [`super::csrf`]); `Lax`
//!   rather than `Strict` so links from e-mails to the panel keep the user
//!   logged in;
//! - `Path=/`, no `Domain`: host-only cookie.
//!
//! # Lifetime
//!
//! Absolute lifetime [`SESSION_TTL`] (12 h, one working day) and idle
//! timeout [`SESSION_IDLE_TIMEOUT`] (30 min). OWASP's Session Management
//! Cheat Sheet asks for both an idle and an absolute timeout, enforced
//! server-side; these values are Parla's choice for an admin panel used
//! through a working day (lower them for stricter deployments). Issue a
//! new token (and delete the old row) at login and at every privilege change
//! (TOTP step-up, masquerade start/stop) against session fixation.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::{random, AuthError};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "parla_session";
/// Absolute session lifetime from creation: 12 hours.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);
/// Session expires after this long without a request: 30 minutes.
pub const SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Token size in bytes (256 bits).
pub const SESSION_TOKEN_BYTES: usize = 32;
/// Length of the cookie value: unpadded base64url of 32 bytes.
pub const SESSION_COOKIE_LEN: usize = 43;
/// Clock-skew allowance for timestamps slightly in the future, in ms (see
/// [`is_expired`]).
const FUTURE_SKEW_MS: i64 = 60_000;

/// Namespace for session token generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionToken;

/// A freshly generated session token.
#[derive(Clone, PartialEq, Eq)]
pub struct NewSession {
    /// The cookie value (43 characters of base64url): send it in
    /// `Set-Cookie`, never store or log it.
    pub cookie_value: String,
    /// `hex(SHA-256(token))`, 64 lowercase hex characters: the primary key of
    /// the session row.
    pub session_id: String,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession")
            .field("cookie_value", &"<redacted>")
            .field("session_id", &self.session_id)
            .finish()
    }
}

impl SessionToken {
    /// Generates a new 256-bit session token.
    ///
    /// # Panics
    ///
    /// Only if the operating system's random source fails.
    pub fn generate() -> NewSession {
        let raw = random::bytes::<SESSION_TOKEN_BYTES>();
        NewSession {
            cookie_value: URL_SAFE_NO_PAD.encode(raw),
            session_id: id_of_raw(&raw),
        }
    }
}

fn id_of_raw(raw: &[u8]) -> String {
    random::hex(&Sha256::digest(raw))
}

/// The DB session id for a cookie value, or
/// [`AuthError::MalformedSessionToken`] if the value is not exactly 43
/// characters of canonical unpadded base64url decoding to 32 bytes (checked
/// before any other work, so oversized cookies cost nothing).
pub fn session_id_of(cookie_value: &str) -> Result<String, AuthError> {
    if cookie_value.len() != SESSION_COOKIE_LEN {
        return Err(AuthError::MalformedSessionToken);
    }
    // Rejects non-alphabet characters, padding and non-zero trailing bits,
    // so each token has exactly one accepted spelling.
    match URL_SAFE_NO_PAD.decode(cookie_value) {
        Ok(raw) if raw.len() == SESSION_TOKEN_BYTES => Ok(id_of_raw(&raw)),
        _ => Err(AuthError::MalformedSessionToken),
    }
}

/// Whether a session created at `created_ms` and last used at `last_seen_ms`
/// is expired at `now_ms` (all Unix milliseconds): `now - created >=`
/// [`SESSION_TTL`] or `now - last_seen >=` [`SESSION_IDLE_TIMEOUT`].
///
/// Fails closed on impossible rows: timestamps more than a minute in the
/// future, or `last_seen` before `created`, count as expired (a clock moved
/// backwards by more than that logs users out, which is the safe outcome).
pub fn is_expired(created_ms: i64, last_seen_ms: i64, now_ms: i64) -> bool {
    let limit = now_ms.saturating_add(FUTURE_SKEW_MS);
    if created_ms > limit || last_seen_ms > limit || last_seen_ms < created_ms {
        return true;
    }
    let age = now_ms.saturating_sub(created_ms);
    let idle = now_ms.saturating_sub(last_seen_ms);
    age >= duration_ms(SESSION_TTL) || idle >= duration_ms(SESSION_IDLE_TIMEOUT)
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `Set-Cookie` header value for a new session. `secure` must be true
/// whenever the panel is reached over HTTPS (directly or behind a TLS
/// proxy).
pub fn set_cookie_header(cookie_value: &str, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={cookie_value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        SESSION_TTL.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The value of the session cookie in a `Cookie` request header
/// (`name=value; name2=value2`), if present. The first occurrence wins;
/// the value is returned as sent (validate it with [`session_id_of`]).
pub fn session_cookie_value(cookie_header: &str) -> Option<&str> {
    cookie_header.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name.trim() == SESSION_COOKIE).then(|| value.trim().trim_matches('"'))
    })
}

/// `Set-Cookie` header value that deletes the session cookie (logout).
pub fn clear_cookie_header(secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;

    #[test]
    fn generate_and_lookup() {
        let s = SessionToken::generate();
        assert_eq!(s.cookie_value.len(), SESSION_COOKIE_LEN);
        assert!(s
            .cookie_value
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_eq!(s.session_id.len(), 64);
        assert_eq!(session_id_of(&s.cookie_value), Ok(s.session_id.clone()));
        assert_ne!(s.session_id, s.cookie_value);
        assert!(!format!("{s:?}").contains(&s.cookie_value));
        let t = SessionToken::generate();
        assert_ne!(s.cookie_value, t.cookie_value);
        assert_ne!(s.session_id, t.session_id);
    }

    #[test]
    fn id_is_sha256_of_raw_token() {
        // 32 zero bytes → "AAAA...A" (43 chars); SHA-256 of 32 zero bytes.
        let cookie = "A".repeat(43);
        assert_eq!(
            session_id_of(&cookie).unwrap(),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
    }

    #[test]
    fn malformed_cookies_rejected() {
        let good = SessionToken::generate().cookie_value;
        for bad in [
            String::new(),
            good[..42].to_string(),
            format!("{good}A"),
            format!("{good}="),
            format!(" {}", &good[1..]),
            format!("{}+", &good[..42]),
            format!("{}/", &good[..42]),
            format!("{}.", &good[..42]),
            format!("{}é", &good[..41]),
            // Non-zero trailing bits: 'B' encodes 000001 in the last position.
            format!("{}B", "A".repeat(42)),
            "x".repeat(100_000),
        ] {
            assert_eq!(
                session_id_of(&bad),
                Err(AuthError::MalformedSessionToken),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn garbage_cookies_never_panic() {
        let mut rng = rand::rng();
        let good = SessionToken::generate().cookie_value;
        for i in 0..5_000 {
            let input: String = if i % 2 == 0 {
                (0..rng.random_range(0..60))
                    .map(|_| rng.random::<char>())
                    .collect()
            } else {
                // 43 characters drawn from base64url plus a few intruders.
                let alphabet =
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=. ";
                let mut s: Vec<u8> = good.bytes().collect();
                let pos = rng.random_range(0..s.len());
                s[pos] = alphabet[rng.random_range(0..alphabet.len())];
                String::from_utf8(s).unwrap()
            };
            if let Ok(id) = session_id_of(&input) {
                assert_eq!(id.len(), 64);
                assert_eq!(input.len(), 43);
            }
        }
    }

    #[test]
    fn expiry_rules() {
        let t0 = 1_700_000_000_000i64;
        assert!(!is_expired(t0, t0, t0));
        // Idle timeout: 30 minutes.
        assert!(!is_expired(t0, t0, t0 + 30 * MIN - 1));
        assert!(is_expired(t0, t0, t0 + 30 * MIN));
        // Activity keeps it alive...
        assert!(!is_expired(t0, t0 + 11 * HOUR, t0 + 11 * HOUR + 29 * MIN));
        // ...but not past the absolute 12 hours.
        assert!(!is_expired(t0, t0 + 12 * HOUR - MIN, t0 + 12 * HOUR - 1));
        assert!(is_expired(t0, t0 + 12 * HOUR - MIN, t0 + 12 * HOUR));
        // Small skew tolerated, large future timestamps fail closed.
        assert!(!is_expired(t0, t0 + 30_000, t0));
        assert!(is_expired(t0 + 2 * MIN, t0 + 2 * MIN, t0));
        assert!(is_expired(t0, t0 + HOUR, t0));
        // last_seen before created: corrupt.
        assert!(is_expired(t0, t0 - 1, t0));
    }

    #[test]
    fn expiry_extremes_do_not_panic() {
        let vals = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
        for a in vals {
            for b in vals {
                for c in vals {
                    let _ = is_expired(a, b, c);
                }
            }
        }
        assert!(is_expired(i64::MIN, i64::MIN, i64::MAX));
        assert!(is_expired(0, 0, i64::MAX));
    }

    #[test]
    fn session_cookie_is_found_among_others() {
        assert_eq!(session_cookie_value("parla_session=abc"), Some("abc"));
        assert_eq!(
            session_cookie_value("theme=dark; parla_session=abc ; x=1"),
            Some("abc")
        );
        assert_eq!(session_cookie_value("parla_session=\"abc\""), Some("abc"));
        assert_eq!(session_cookie_value("xparla_session=abc"), None);
        assert_eq!(session_cookie_value("parla_session"), None);
        assert_eq!(session_cookie_value(""), None);
        assert_eq!(session_cookie_value(";;=;"), None);
    }

    #[test]
    fn cookie_headers() {
        assert_eq!(
            set_cookie_header("abc", true),
            "parla_session=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=43200; Secure"
        );
        assert_eq!(
            set_cookie_header("abc", false),
            "parla_session=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=43200"
        );
        assert_eq!(
            clear_cookie_header(true),
            "parla_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure"
        );
        assert_eq!(SESSION_TTL.as_secs(), 43_200);
        assert_eq!(SESSION_IDLE_TIMEOUT.as_secs(), 1_800);
    }
}
