//! TOTP second factor (RFC 6238) and one-time recovery codes.
//!
//! # TOTP
//!
//! HMAC-SHA-1, 6 digits, 30-second steps, accepting the previous, current
//! and next step (±1 step of clock skew, RFC 6238 §5.2's recommendation) —
//! the parameters every authenticator app supports. The secret is 160 random
//! bits (RFC 4226 §4 recommends 160, requires at least 128), exchanged as
//! unpadded RFC 4648 base32 in an `otpauth://` URL (shown as a QR code by the
//! panel). Store it encrypted with [`super::secrets::SecretKey`], never in
//! clear.
//!
//! Time is passed in as Unix seconds (sans-IO). [`verify`] returns the time
//! step (`unix_seconds / 30`) the code belongs to. **Replay protection**
//! (RFC 6238 §5.2: "the verifier MUST NOT accept the second attempt of the
//! same OTP after the successful validation"): persist that step as the
//! user's `totp_last_step` and use [`verify_not_replayed`], which only
//! accepts codes of a strictly later step. Persist it with a conditional
//! update (`... WHERE totp_last_step IS NULL OR totp_last_step < ?`) so two
//! concurrent requests with the same code cannot both succeed. Wrong codes
//! must be counted by [`super::rate_limit::LoginThrottle`]: 6 digits are
//! only 10^6 possibilities (3 per window with the skew).
//!
//! # Recovery codes
//!
//! [`generate_recovery_codes`] makes `n` codes like `7k2m-9xq4`: 8
//! characters of Crockford's base32 alphabet (no `i l o u`), 40 bits each.
//! They are shown once; the DB keeps only their argon2id hashes (same
//! parameters as passwords: 40 bits is too little entropy for a fast hash —
//! a GPU would exhaust SHA-256 over 2^40 in minutes). [`consume_recovery_code`]
//! normalises the input (case, dashes, spaces, Crockford's `i/l → 1`,
//! `o → 0`), checks it against every remaining hash and removes the one it
//! matched. Because it runs one argon2 verification per remaining code, it
//! must sit behind the login throttle; the caller must persist the shortened
//! list atomically (compare-and-swap on the old value) so a code cannot be
//! used twice concurrently.

use argon2::Params;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Secret, TOTP};

use super::{password, random, AuthError};

/// Issuer shown in authenticator apps.
pub const TOTP_ISSUER: &str = "Parla";
/// Code length in digits.
pub const TOTP_DIGITS: usize = 6;
/// Time step in seconds (RFC 6238 `X`).
pub const TOTP_STEP_SECONDS: u64 = 30;
/// Accepted clock skew, in steps either side of the current one.
pub const TOTP_SKEW_STEPS: u8 = 1;
/// Secret length in bytes (160 bits, RFC 4226 §4).
pub const TOTP_SECRET_BYTES: usize = 20;
/// Minimum accepted secret length in bytes (128 bits, RFC 4226 §4).
const MIN_SECRET_BYTES: usize = 16;
/// Longest base32 secret accepted by [`TotpSecret::from_base32`].
const MAX_SECRET_CHARS: usize = 128;
/// Longest code input looked at (before removing spaces).
const MAX_CODE_INPUT: usize = 32;

/// Number of recovery codes issued by default.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Crockford base32, lowercase: no `i`, `l`, `o`, `u`.
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Characters per recovery code (without the dash).
const RECOVERY_CODE_CHARS: usize = 8;

/// A TOTP shared secret, held as unpadded uppercase RFC 4648 base32 (the form
/// used in `otpauth://` URLs and typed in by users). `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(String);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    /// Parses a stored or user-supplied base32 secret. Spaces and `=` padding
    /// are ignored, lowercase is accepted; it must decode to at least 128 bits.
    pub fn from_base32(s: &str) -> Result<Self, AuthError> {
        if s.len() > MAX_SECRET_CHARS * 2 {
            return Err(AuthError::InvalidTotpSecret("too long".into()));
        }
        let norm: String = s
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '=')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if norm.len() > MAX_SECRET_CHARS {
            return Err(AuthError::InvalidTotpSecret("too long".into()));
        }
        if !norm
            .bytes()
            .all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c))
        {
            return Err(AuthError::InvalidTotpSecret("not base32".into()));
        }
        let secret = TotpSecret(norm);
        let bytes = secret.bytes()?;
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(AuthError::InvalidTotpSecret(format!(
                "{} bits is shorter than the 128-bit minimum",
                bytes.len() * 8
            )));
        }
        Ok(secret)
    }

    /// The base32 form, to store (encrypted) and to show for manual entry.
    pub fn as_base32(&self) -> &str {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, AuthError> {
        Secret::Encoded(self.0.clone())
            .to_bytes()
            .map_err(|_| AuthError::InvalidTotpSecret("not base32".into()))
    }

    fn totp(&self, issuer: Option<String>, account: String) -> Result<TOTP, AuthError> {
        TOTP::new(
            Algorithm::SHA1,
            TOTP_DIGITS,
            TOTP_SKEW_STEPS,
            TOTP_STEP_SECONDS,
            self.bytes()?,
            issuer,
            account,
        )
        .map_err(|e| match e {
            totp_rs::TotpUrlError::Issuer(_) | totp_rs::TotpUrlError::AccountName(_) => {
                AuthError::InvalidOtpauthLabel("issuer and account must not contain ':'".into())
            }
            other => AuthError::InvalidTotpSecret(other.to_string()),
        })
    }
}

/// A new random 160-bit secret (for enrollment).
///
/// # Panics
///
/// Only if the operating system's random source fails.
pub fn new_secret() -> TotpSecret {
    let raw = random::bytes::<TOTP_SECRET_BYTES>().to_vec();
    let totp = TOTP::new_unchecked(
        Algorithm::SHA1,
        TOTP_DIGITS,
        TOTP_SKEW_STEPS,
        TOTP_STEP_SECONDS,
        raw,
        None,
        String::new(),
    );
    TotpSecret(totp.get_secret_base32())
}

/// The `otpauth://totp/...` URL for enrollment (render it as a QR code),
/// e.g. `otpauth://totp/Parla:alice%40example.com?secret=...&issuer=Parla`.
/// Use [`TOTP_ISSUER`] as `issuer`. Fails if `issuer` or `account` contains
/// `:` (not representable in the label).
pub fn otpauth_url(secret: &TotpSecret, issuer: &str, account: &str) -> Result<String, AuthError> {
    Ok(secret
        .totp(Some(issuer.to_owned()), account.to_owned())?
        .get_url())
}

/// Removes whitespace; `None` unless the rest is exactly 6 ASCII digits.
fn normalize_code(code: &str) -> Option<String> {
    if code.len() > MAX_CODE_INPUT {
        return None;
    }
    let c: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    (c.len() == TOTP_DIGITS && c.bytes().all(|b| b.is_ascii_digit())).then_some(c)
}

/// All steps in the accepted window whose code equals `code`, ascending.
/// Every candidate is computed and compared (constant-time) regardless of
/// earlier matches.
fn matching_steps(secret: &TotpSecret, code: &str, now_unix_s: u64) -> Result<Vec<u64>, AuthError> {
    let totp = secret.totp(None, String::new())?;
    let Some(code) = normalize_code(code) else {
        return Ok(Vec::new());
    };
    let current = now_unix_s / TOTP_STEP_SECONDS;
    let skew = u64::from(TOTP_SKEW_STEPS);
    let mut matches = Vec::new();
    for step in current.saturating_sub(skew)..=current.saturating_add(skew) {
        let Some(t) = step.checked_mul(TOTP_STEP_SECONDS) else {
            continue;
        };
        if bool::from(totp.generate(t).as_bytes().ct_eq(code.as_bytes())) {
            matches.push(step);
        }
    }
    Ok(matches)
}

/// Checks a TOTP code at time `now_unix_s` (seconds since the Unix epoch),
/// accepting ±1 step of skew.
///
/// Returns `Ok(Some(step))` with the matched time step (`t / 30`; the latest
/// one if the code happens to be valid for several), `Ok(None)` for a wrong
/// or malformed code (spaces are ignored: `"123 456"` is fine), and `Err`
/// only if the stored secret is invalid. This alone does **not** prevent
/// replay; use [`verify_not_replayed`] at login.
pub fn verify(secret: &TotpSecret, code: &str, now_unix_s: u64) -> Result<Option<u64>, AuthError> {
    verify_not_replayed(secret, code, now_unix_s, None)
}

/// Like [`verify`], but only accepts a code whose time step is strictly after
/// `last_step` (the step stored at the user's previous successful TOTP
/// login), so an observed code cannot be used again within its validity
/// window. Store the returned step as the new `last_step`.
pub fn verify_not_replayed(
    secret: &TotpSecret,
    code: &str,
    now_unix_s: u64,
    last_step: Option<u64>,
) -> Result<Option<u64>, AuthError> {
    Ok(matching_steps(secret, code, now_unix_s)?
        .into_iter()
        .filter(|s| last_step.is_none_or(|last| *s > last))
        .max())
}

/// Freshly generated recovery codes.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCodes {
    /// Codes like `7k2m-9xq4`, to show to the user **once** (never store).
    pub plaintext: Vec<String>,
    /// Their argon2id PHC hashes, in the same order, to store.
    pub hashes: Vec<String>,
}

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecoveryCodes")
            .field(
                "plaintext",
                &format_args!("<{} redacted>", self.plaintext.len()),
            )
            .field("hashes", &self.hashes)
            .finish()
    }
}

/// Generates `n` recovery codes (use [`RECOVERY_CODE_COUNT`]) and their
/// argon2id hashes. Costs `n` password hashes (~n × tens of ms).
pub fn generate_recovery_codes(n: usize) -> Result<RecoveryCodes, AuthError> {
    generate_recovery_codes_with(n, password::current_params())
}

pub(crate) fn generate_recovery_codes_with(
    n: usize,
    params: Params,
) -> Result<RecoveryCodes, AuthError> {
    let mut raw: Vec<String> = Vec::with_capacity(n);
    while raw.len() < n {
        let code = random::string_from(RECOVERY_ALPHABET, RECOVERY_CODE_CHARS);
        if !raw.contains(&code) {
            raw.push(code);
        }
    }
    let hashes = raw
        .iter()
        .map(|c| password::hash_with(c.as_bytes(), params.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let plaintext = raw
        .iter()
        .map(|c| format!("{}-{}", &c[..4], &c[4..]))
        .collect();
    Ok(RecoveryCodes { plaintext, hashes })
}

/// Canonical form of a typed recovery code: lowercase, without dashes and
/// whitespace, Crockford confusables mapped (`i`,`l` → `1`, `o` → `0`).
/// `None` unless that leaves exactly 8 alphabet characters.
fn normalize_recovery_code(input: &str) -> Option<String> {
    if input.len() > 64 {
        return None;
    }
    let mut out = String::with_capacity(RECOVERY_CODE_CHARS);
    for c in input.chars() {
        if c == '-' || c.is_whitespace() {
            continue;
        }
        let c = match c.to_ascii_lowercase() {
            'i' | 'l' => '1',
            'o' => '0',
            c => c,
        };
        if !c.is_ascii() || !RECOVERY_ALPHABET.contains(&(c as u8)) {
            return None;
        }
        out.push(c);
    }
    (out.len() == RECOVERY_CODE_CHARS).then_some(out)
}

/// Checks `input` against the stored recovery-code hashes; on a match removes
/// that hash from `hashes` (persist the new list) and returns `true`.
///
/// Every stored hash is verified, whether or not an earlier one matched, and
/// argon2's comparison is constant-time. Unparseable stored hashes never
/// match. Malformed input returns `false` without hashing.
pub fn consume_recovery_code(input: &str, hashes: &mut Vec<String>) -> bool {
    let Some(code) = normalize_recovery_code(input) else {
        return false;
    };
    let mut found = None;
    for (i, h) in hashes.iter().enumerate() {
        if password::verify_bytes(code.as_bytes(), h) == Ok(true) && found.is_none() {
            found = Some(i);
        }
    }
    match found {
        Some(i) => {
            hashes.remove(i);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::password::tests::cheap_params;
    use rand::Rng;

    /// RFC 6238 Appendix B secret for SHA-1: ASCII "12345678901234567890".
    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap()
    }

    /// RFC 6238 Appendix B test vectors (SHA-1), truncated to 6 digits
    /// (the last 6 of the published 8-digit values).
    #[test]
    fn rfc6238_vectors() {
        let s = rfc_secret();
        for (t, code8) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            let code6 = &code8[2..];
            assert_eq!(verify(&s, code6, t), Ok(Some(t / 30)), "t={t}");
        }
    }

    #[test]
    fn skew_window_is_plus_minus_one_step() {
        let s = rfc_secret();
        // Code of step 1 (t=59 → "287082").
        assert_eq!(verify(&s, "287082", 59), Ok(Some(1)));
        assert_eq!(verify(&s, "287082", 30), Ok(Some(1)));
        assert_eq!(verify(&s, "287082", 60 + 29), Ok(Some(1))); // one step later
        assert_eq!(verify(&s, "287082", 0), Ok(Some(1))); // one step earlier
        assert_eq!(verify(&s, "287082", 90), Ok(None)); // two steps later
        let far = 1_234_567_890u64;
        let code = &"89005924"[2..];
        assert_eq!(verify(&s, code, far + 30), Ok(Some(far / 30)));
        assert_eq!(verify(&s, code, far - 30), Ok(Some(far / 30)));
        assert_eq!(verify(&s, code, far + 61), Ok(None));
        assert_eq!(verify(&s, code, far - 61), Ok(None));
    }

    #[test]
    fn code_input_normalisation() {
        let s = rfc_secret();
        assert_eq!(verify(&s, " 287 082 ", 59), Ok(Some(1)));
        assert_eq!(verify(&s, "287\t082\n", 59), Ok(Some(1)));
        for bad in [
            "",
            "28708",
            "2870822",
            "28708a",
            "287-082",
            "２８７０８２",
            "-87082",
            "+87082",
            "287082287082287082287082287082287082",
        ] {
            assert_eq!(verify(&s, bad, 59), Ok(None), "{bad:?}");
        }
    }

    #[test]
    fn replay_is_rejected() {
        let s = rfc_secret();
        let t = 1_111_111_111u64; // code "050471", step 37037037
        let step = verify_not_replayed(&s, "050471", t, None).unwrap().unwrap();
        assert_eq!(step, t / 30);
        // Same code again, even within its window: refused.
        assert_eq!(verify_not_replayed(&s, "050471", t, Some(step)), Ok(None));
        assert_eq!(
            verify_not_replayed(&s, "050471", t + 20, Some(step)),
            Ok(None)
        );
        // A code of an earlier step is refused too.
        let code_at = |step: u64| s.totp(None, String::new()).unwrap().generate(step * 30);
        assert_eq!(
            verify_not_replayed(&s, &code_at(step - 1), t, Some(step)),
            Ok(None)
        );
        // The next step's code is accepted.
        let next = code_at(step + 1);
        assert_eq!(
            verify_not_replayed(&s, &next, t + 30, Some(step)),
            Ok(Some(step + 1))
        );
    }

    #[test]
    fn extreme_times_do_not_panic() {
        let s = rfc_secret();
        let code_at = |step: u64| s.totp(None, String::new()).unwrap().generate(step * 30);
        for t in [0, 1, 29, 30, u64::MAX / 30 * 30, u64::MAX - 1, u64::MAX] {
            // "123456" verifies only where it really is the code of its step.
            if let Ok(Some(step)) = verify(&s, "123456", t) {
                assert_eq!(code_at(step), "123456", "t={t}");
            }
            // Nothing comes after step u64::MAX: always a replay.
            assert_eq!(
                verify_not_replayed(&s, "123456", t, Some(u64::MAX)).unwrap_or(None),
                None,
                "t={t}"
            );
        }
    }

    #[test]
    fn new_secret_is_160_bits_and_roundtrips() {
        let a = new_secret();
        let b = new_secret();
        assert_ne!(a, b);
        assert_eq!(a.as_base32().len(), 32); // 160 bits / 5
        assert_eq!(TotpSecret::from_base32(a.as_base32()), Ok(a.clone()));
        assert_eq!(
            TotpSecret::from_base32(&a.as_base32().to_lowercase()),
            Ok(a.clone())
        );
        assert!(!format!("{a:?}").contains(a.as_base32()));
        // A code generated for the secret verifies.
        let totp = a.totp(None, String::new()).unwrap();
        let now = 1_700_000_000;
        assert_eq!(verify(&a, &totp.generate(now), now), Ok(Some(now / 30)));
    }

    #[test]
    fn invalid_secrets() {
        for bad in [
            "",
            "AAAA",                             // 20 bits
            "GEZDGNBVGY3TQOJQGEZDGNBV",         // 120 bits, below minimum
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1", // '1' is not base32
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJé",
        ] {
            assert!(
                matches!(
                    TotpSecret::from_base32(bad),
                    Err(AuthError::InvalidTotpSecret(_))
                ),
                "{bad:?}"
            );
        }
        assert!(TotpSecret::from_base32(&"A".repeat(1000)).is_err());
        assert!(TotpSecret::from_base32("GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ").is_ok());
    }

    #[test]
    fn garbage_secrets_and_codes_never_panic_nor_verify() {
        use rand::SeedableRng;
        // Seeded: a failure names an input that can be replayed.
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x7077_0001);
        let s = rfc_secret();
        let code_at = |step: u64| s.totp(None, String::new()).unwrap().generate(step * 30);
        for _ in 0..2_000 {
            let len = rng.random_range(0..60);
            let g: String = (0..len).map(|_| rng.random::<char>()).collect();
            let _ = TotpSecret::from_base32(&g);
            assert_eq!(
                verify(&s, &g, rng.random()),
                Ok(None),
                "garbage {g:?} verified"
            );
            // Near-valid: random base32 of random length.
            let b32: String = (0..rng.random_range(0..60))
                .map(|_| b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567="[rng.random_range(0..33)] as char)
                .collect();
            let _ = TotpSecret::from_base32(&b32);
            // Random digit strings.
            let digits: String = (0..rng.random_range(0..10))
                .map(|_| char::from(b'0' + rng.random_range(0..10)))
                .collect();
            // A digit string verifies only when it is the code of its step.
            if let Ok(Some(step)) = verify(&s, &digits, rng.random()) {
                assert_eq!(code_at(step), digits, "{digits:?} verified");
            }
        }
    }

    #[test]
    fn otpauth_url_format() {
        let s = rfc_secret();
        let url = otpauth_url(&s, TOTP_ISSUER, "alice@example.com").unwrap();
        assert_eq!(
            url,
            "otpauth://totp/Parla:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Parla"
        );
        assert!(matches!(
            otpauth_url(&s, TOTP_ISSUER, "weird:name"),
            Err(AuthError::InvalidOtpauthLabel(_))
        ));
        assert!(matches!(
            otpauth_url(&s, "Par:la", "a@b.c"),
            Err(AuthError::InvalidOtpauthLabel(_))
        ));
    }

    #[test]
    fn recovery_codes_real_parameters() {
        // The only recovery test with real argon2 cost: 2 hashes, 2 verifies.
        let mut codes = generate_recovery_codes(2).unwrap();
        assert!(codes.hashes[0].starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let first = codes.plaintext[0].clone();
        assert!(consume_recovery_code(&first, &mut codes.hashes));
        assert_eq!(codes.hashes.len(), 1);
    }

    #[test]
    fn recovery_codes_format_and_single_use() {
        let mut codes = generate_recovery_codes_with(RECOVERY_CODE_COUNT, cheap_params()).unwrap();
        assert_eq!(codes.plaintext.len(), 10);
        assert_eq!(codes.hashes.len(), 10);
        for c in &codes.plaintext {
            assert_eq!(c.len(), 9);
            assert_eq!(&c[4..5], "-");
            assert!(c
                .bytes()
                .filter(|b| *b != b'-')
                .all(|b| RECOVERY_ALPHABET.contains(&b)));
        }
        let mut uniq = codes.plaintext.clone();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), 10);
        assert!(!format!("{codes:?}").contains(&codes.plaintext[0]));

        let third = codes.plaintext[2].clone();
        let third_hash = codes.hashes[2].clone();
        assert!(consume_recovery_code(&third, &mut codes.hashes));
        assert_eq!(codes.hashes.len(), 9);
        assert!(!codes.hashes.contains(&third_hash));
        // Second use fails.
        assert!(!consume_recovery_code(&third, &mut codes.hashes));
        assert_eq!(codes.hashes.len(), 9);
        // Normalised forms are accepted.
        let last = codes.plaintext[9].clone();
        let variant = format!(" {} ", last.to_uppercase().replace('-', " - "));
        assert!(consume_recovery_code(&variant, &mut codes.hashes));
        assert_eq!(codes.hashes.len(), 8);
        let no_dash = codes.plaintext[0].replace('-', "");
        assert!(consume_recovery_code(&no_dash, &mut codes.hashes));
        assert_eq!(codes.hashes.len(), 7);
    }

    #[test]
    fn recovery_code_normalisation() {
        assert_eq!(
            normalize_recovery_code("abcd-ef12"),
            Some("abcdef12".into())
        );
        assert_eq!(
            normalize_recovery_code("ABCD EF12"),
            Some("abcdef12".into())
        );
        assert_eq!(
            normalize_recovery_code("o0il-1Lab"),
            Some("0011-11ab".replace('-', ""))
        );
        assert_eq!(normalize_recovery_code("abcd-ef1"), None);
        assert_eq!(normalize_recovery_code("abcd-ef123"), None);
        assert_eq!(normalize_recovery_code("abcu-ef12"), None); // u excluded
        assert_eq!(normalize_recovery_code("abcd_ef12"), None);
        assert_eq!(normalize_recovery_code("abcd-ef1é"), None);
        assert_eq!(normalize_recovery_code(""), None);
        assert_eq!(normalize_recovery_code(&"-".repeat(100)), None);
    }

    #[test]
    fn recovery_codes_with_wrong_or_garbage_input() {
        let mut codes = generate_recovery_codes_with(3, cheap_params()).unwrap();
        // A wrong code (a collision has probability 3 / 2^40).
        assert!(!consume_recovery_code("0000-0000", &mut codes.hashes));
        assert_eq!(codes.hashes.len(), 3);
        let mut rng = rand::rng();
        for _ in 0..300 {
            let g: String = (0..rng.random_range(0..20))
                .map(|_| rng.random::<char>())
                .collect();
            let before = codes.hashes.len();
            if !consume_recovery_code(&g, &mut codes.hashes) {
                assert_eq!(codes.hashes.len(), before);
            }
        }
        // Broken stored hashes never match and never panic.
        let mut broken = vec!["garbage".to_string(), String::new(), "$argon2id$".into()];
        assert!(!consume_recovery_code("abcd-ef12", &mut broken));
        assert_eq!(broken.len(), 3);
        let mut empty = Vec::new();
        assert!(!consume_recovery_code("abcd-ef12", &mut empty));
    }
}
