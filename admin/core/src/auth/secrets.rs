//! Encryption at rest for provider credentials, SIP trunk passwords and TOTP
//! secrets.
//!
//! # Scheme
//!
//! XChaCha20-Poly1305 (ChaCha20-Poly1305 AEAD of RFC 8439 with the 192-bit
//! extended nonce of draft-irtf-cfrg-xchacha) under a 256-bit key. Each value
//! gets a fresh random 24-byte nonce: with 192 bits, random nonces never
//! collide in practice, so no nonce counter needs to be kept. The stored form
//! is text:
//!
//! ```text
//! v1.<base64url-no-pad( nonce (24 bytes) || ciphertext || tag (16 bytes) )>
//! ```
//!
//! The `v1` prefix leaves room for key rotation / other algorithms later.
//!
//! # Associated data
//!
//! Every value is encrypted with **associated data** identifying where it
//! lives — use [`associated_data`]`(table, row_id, column)`. The AD is
//! authenticated but not stored: decrypting with different AD fails. Someone
//! with write access to the DB therefore cannot copy tenant A's encrypted
//! API credential into tenant B's row (or a trunk password into a column that
//! is displayed) and have Parla decrypt it there.
//!
//! # Key
//!
//! The key lives outside the DB: `PARLA_SECRET_KEY`, base64 of 32 random
//! bytes ([`SecretKey::from_env`]; generate one with
//! `head -c 32 /dev/urandom | base64`). A DB leak without the key reveals no
//! credentials. Losing the key makes the encrypted columns unrecoverable
//! (they must be re-entered). Other keys (CSRF) are derived from it with
//! [`SecretKey::derive_key`], so one variable is enough.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{random, AuthError};

/// Default name of the environment variable holding the key.
pub const SECRET_KEY_ENV: &str = "PARLA_SECRET_KEY";
/// Key length in bytes (256 bits).
pub const KEY_LEN: usize = 32;
/// XChaCha20 nonce length in bytes (192 bits).
pub const NONCE_LEN: usize = 24;
/// Poly1305 tag length in bytes.
pub const TAG_LEN: usize = 16;
/// Prefix of the current format.
const V1_PREFIX: &str = "v1.";
/// Largest encrypted value accepted by [`SecretKey::decrypt`] (characters).
const MAX_TOKEN_LEN: usize = 16 * 1024 * 1024;

/// The 256-bit master key for encryption at rest. `Debug` is redacted.
#[derive(Clone)]
pub struct SecretKey([u8; KEY_LEN]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl SecretKey {
    /// Parses base64 of exactly 32 bytes. Standard and URL-safe alphabets,
    /// with or without padding, are accepted; surrounding whitespace is
    /// ignored.
    pub fn from_base64(s: &str) -> Result<SecretKey, AuthError> {
        let s = s.trim();
        if s.len() > 128 {
            return Err(AuthError::InvalidSecretKey(
                "expected base64 of 32 bytes (44 characters)".into(),
            ));
        }
        let decoded = [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(s).ok())
            .ok_or_else(|| AuthError::InvalidSecretKey("not valid base64".into()))?;
        let bytes: [u8; KEY_LEN] = decoded.as_slice().try_into().map_err(|_| {
            AuthError::InvalidSecretKey(format!(
                "decodes to {} bytes, expected {KEY_LEN}",
                decoded.len()
            ))
        })?;
        Ok(SecretKey(bytes))
    }

    /// Reads the key from the environment variable `var` (normally
    /// [`SECRET_KEY_ENV`]). [`AuthError::MissingSecretKey`] if unset (or not
    /// UTF-8), [`AuthError::InvalidSecretKey`] if malformed.
    pub fn from_env(var: &str) -> Result<SecretKey, AuthError> {
        Self::from_env_value(var, std::env::var(var).ok())
    }

    /// [`SecretKey::from_env`] given the variable's value (testable without
    /// mutating the process environment).
    fn from_env_value(var: &str, value: Option<String>) -> Result<SecretKey, AuthError> {
        let value = value.ok_or_else(|| AuthError::MissingSecretKey(var.to_owned()))?;
        Self::from_base64(&value).map_err(|e| match e {
            AuthError::InvalidSecretKey(msg) => {
                AuthError::InvalidSecretKey(format!("{var}: {msg}"))
            }
            other => other,
        })
    }

    /// A new random key (first start, tests).
    ///
    /// # Panics
    ///
    /// Only if the operating system's random source fails.
    pub fn generate() -> SecretKey {
        SecretKey(random::bytes())
    }

    /// Builds a key from raw bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> SecretKey {
        SecretKey(bytes)
    }

    /// The key as standard padded base64 (to print once at first start so
    /// the operator can store it in `PARLA_SECRET_KEY`).
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// A 32-byte subkey for another purpose, e.g. `derive_key("csrf")`:
    /// `HMAC-SHA256(master, "parla-derive-v1" || 0x00 || label)`. Since the
    /// master key is uniformly random, HMAC as a PRF is a sound KDF here
    /// (it is HKDF-Expand's single-block case, RFC 5869). Different labels
    /// give independent keys; the encryption key itself is never reused.
    pub fn derive_key(&self, label: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .expect("HMAC accepts keys of any length");
        mac.update(b"parla-derive-v1\0");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&self.0).into())
    }

    /// Encrypts `plaintext`, authenticating `associated_data` (see
    /// [`associated_data`]), with a fresh random nonce. Returns
    /// `v1.<base64url>`. Fails only for plaintexts over the AEAD limit
    /// (~256 GiB).
    ///
    /// # Panics
    ///
    /// Only if the operating system's random source fails.
    pub fn encrypt(&self, plaintext: &[u8], associated_data: &[u8]) -> Result<String, AuthError> {
        let nonce = random::bytes::<NONCE_LEN>();
        let ct = self
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: associated_data,
                },
            )
            .map_err(|_| AuthError::EncryptionFailed)?;
        let mut blob = Vec::with_capacity(NONCE_LEN + ct.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ct);
        Ok(format!("{V1_PREFIX}{}", URL_SAFE_NO_PAD.encode(blob)))
    }

    /// Decrypts a value produced by [`SecretKey::encrypt`] with the same
    /// `associated_data`.
    ///
    /// Errors: [`AuthError::MalformedCiphertext`] (not `v1.<base64url>`, or
    /// too short to hold nonce and tag), [`AuthError::UnsupportedCiphertextVersion`]
    /// (`v2.` etc.), [`AuthError::DecryptionFailed`] (wrong key, wrong
    /// associated data, or tampering — indistinguishable by design).
    pub fn decrypt(&self, token: &str, associated_data: &[u8]) -> Result<Vec<u8>, AuthError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(AuthError::MalformedCiphertext("too long"));
        }
        let body = match token.split_once('.') {
            Some(("v1", body)) => body,
            Some((v, _))
                if v.len() > 1
                    && v.starts_with('v')
                    && v[1..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                return Err(AuthError::UnsupportedCiphertextVersion)
            }
            _ => return Err(AuthError::MalformedCiphertext("missing `v1.` prefix")),
        };
        let blob = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| AuthError::MalformedCiphertext("not base64url"))?;
        if blob.len() < NONCE_LEN + TAG_LEN {
            return Err(AuthError::MalformedCiphertext("too short"));
        }
        let (nonce, ct) = blob.split_at(NONCE_LEN);
        self.cipher()
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: associated_data,
                },
            )
            .map_err(|_| AuthError::DecryptionFailed)
    }

    /// [`SecretKey::encrypt`] for text.
    pub fn encrypt_str(
        &self,
        plaintext: &str,
        associated_data: &[u8],
    ) -> Result<String, AuthError> {
        self.encrypt(plaintext.as_bytes(), associated_data)
    }

    /// [`SecretKey::decrypt`] for text; a non-UTF-8 plaintext is
    /// [`AuthError::MalformedCiphertext`].
    pub fn decrypt_string(&self, token: &str, associated_data: &[u8]) -> Result<String, AuthError> {
        String::from_utf8(self.decrypt(token, associated_data)?)
            .map_err(|_| AuthError::MalformedCiphertext("plaintext is not UTF-8"))
    }
}

/// Canonical associated data for a value stored at `table`.`column` of the
/// row `row_id`: each part length-prefixed (u32 big-endian) so that no two
/// different triples give the same bytes. Example:
/// `associated_data("sip_trunks", &trunk_id, "password")`.
pub fn associated_data(table: &str, row_id: &str, column: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + table.len() + row_id.len() + column.len());
    for part in [table, row_id, column] {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn ad() -> Vec<u8> {
        associated_data("provider_credentials", "0191a0b2-row-1", "api_key")
    }

    #[test]
    fn roundtrip() {
        let k = SecretKey::generate();
        for pt in [
            &b""[..],
            b"x",
            b"sk-live-0123456789abcdef",
            &[0u8; 5000][..],
        ] {
            let token = k.encrypt(pt, &ad()).unwrap();
            assert!(token.starts_with("v1."));
            assert_eq!(k.decrypt(&token, &ad()).unwrap(), pt);
        }
        let t = k.encrypt_str("trunk-pässword", &ad()).unwrap();
        assert_eq!(k.decrypt_string(&t, &ad()).unwrap(), "trunk-pässword");
    }

    #[test]
    fn token_layout_and_fresh_nonces() {
        let k = SecretKey::generate();
        let a = k.encrypt(b"same", &ad()).unwrap();
        let b = k.encrypt(b"same", &ad()).unwrap();
        assert_ne!(a, b, "nonces must be random");
        let blob = URL_SAFE_NO_PAD.decode(&a[3..]).unwrap();
        assert_eq!(blob.len(), NONCE_LEN + 4 + TAG_LEN);
        assert!(!a.contains("same"));
    }

    #[test]
    fn wrong_key_ad_or_tampering_fail_cleanly() {
        let k = SecretKey::generate();
        let token = k.encrypt(b"secret value", &ad()).unwrap();
        // Wrong key.
        assert_eq!(
            SecretKey::generate().decrypt(&token, &ad()),
            Err(AuthError::DecryptionFailed)
        );
        // Wrong row / column / table: ciphertexts cannot be moved.
        for other in [
            associated_data("provider_credentials", "0191a0b2-row-2", "api_key"),
            associated_data("provider_credentials", "0191a0b2-row-1", "secret"),
            associated_data("sip_trunks", "0191a0b2-row-1", "api_key"),
            Vec::new(),
        ] {
            assert_eq!(k.decrypt(&token, &other), Err(AuthError::DecryptionFailed));
        }
        // Every single-bit flip of the blob is detected.
        let blob = URL_SAFE_NO_PAD.decode(&token[3..]).unwrap();
        for i in 0..blob.len() {
            for bit in 0..8 {
                let mut b = blob.clone();
                b[i] ^= 1 << bit;
                let t = format!("v1.{}", URL_SAFE_NO_PAD.encode(&b));
                assert_eq!(k.decrypt(&t, &ad()), Err(AuthError::DecryptionFailed));
            }
        }
        // Truncated (still long enough to parse).
        let t = format!("v1.{}", URL_SAFE_NO_PAD.encode(&blob[..blob.len() - 1]));
        assert_eq!(k.decrypt(&t, &ad()), Err(AuthError::DecryptionFailed));
    }

    #[test]
    fn bad_formats() {
        let k = SecretKey::generate();
        let short = format!("v1.{}", URL_SAFE_NO_PAD.encode([0u8; 39]));
        let cases: Vec<(String, AuthError)> = vec![
            (
                String::new(),
                AuthError::MalformedCiphertext("missing `v1.` prefix"),
            ),
            (
                "plaintext".into(),
                AuthError::MalformedCiphertext("missing `v1.` prefix"),
            ),
            (
                "v1".into(),
                AuthError::MalformedCiphertext("missing `v1.` prefix"),
            ),
            (
                "V1.AAAA".into(),
                AuthError::MalformedCiphertext("missing `v1.` prefix"),
            ),
            (
                "v.AAAA".into(),
                AuthError::MalformedCiphertext("missing `v1.` prefix"),
            ),
            ("v2.AAAA".into(), AuthError::UnsupportedCiphertextVersion),
            ("v10.AAAA".into(), AuthError::UnsupportedCiphertextVersion),
            ("v1.".into(), AuthError::MalformedCiphertext("too short")),
            (
                "v1.!!!!".into(),
                AuthError::MalformedCiphertext("not base64url"),
            ),
            (
                "v1.AAAA=".into(),
                AuthError::MalformedCiphertext("not base64url"),
            ),
            (
                "v1.a.b".into(),
                AuthError::MalformedCiphertext("not base64url"),
            ),
            (short, AuthError::MalformedCiphertext("too short")),
        ];
        for (input, want) in cases {
            assert_eq!(k.decrypt(&input, &ad()), Err(want), "{input:?}");
        }
        let non_utf8 = k.encrypt(&[0xff, 0xfe], &ad()).unwrap();
        assert_eq!(
            k.decrypt_string(&non_utf8, &ad()),
            Err(AuthError::MalformedCiphertext("plaintext is not UTF-8"))
        );
    }

    #[test]
    fn garbage_tokens_never_panic() {
        let mut rng = rand::rng();
        let k = SecretKey::generate();
        let valid = k.encrypt(b"abc", &ad()).unwrap();
        for i in 0..3_000 {
            let input: String = match i % 3 {
                0 => (0..rng.random_range(0..100))
                    .map(|_| rng.random::<char>())
                    .collect(),
                1 => {
                    let n = rng.random_range(0..120);
                    let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                    format!("v1.{}", URL_SAFE_NO_PAD.encode(bytes))
                }
                _ => {
                    let mut chars: Vec<char> = valid.chars().collect();
                    let pos = rng.random_range(0..chars.len());
                    chars[pos] = rng.random();
                    chars.into_iter().collect()
                }
            };
            if let Ok(pt) = k.decrypt(&input, &ad()) {
                // Only the untouched token (a mutation to the same char) decrypts.
                assert_eq!(input, valid);
                assert_eq!(pt, b"abc");
            }
        }
    }

    #[test]
    fn key_parsing() {
        let k = SecretKey::generate();
        let b64 = k.to_base64();
        assert_eq!(b64.len(), 44);
        let reparsed = SecretKey::from_base64(&b64).unwrap();
        let token = k.encrypt(b"x", b"ad").unwrap();
        assert_eq!(reparsed.decrypt(&token, b"ad").unwrap(), b"x");
        // Other spellings of the same key.
        for s in [
            format!("  {b64}\n"),
            b64.trim_end_matches('=').to_string(),
            URL_SAFE.encode(k.0),
            URL_SAFE_NO_PAD.encode(k.0),
        ] {
            assert_eq!(SecretKey::from_base64(&s).unwrap().0, k.0, "{s:?}");
        }
        for bad in [
            String::new(),
            "not base64 !!".into(),
            STANDARD.encode([1u8; 31]),
            STANDARD.encode([1u8; 33]),
            STANDARD.encode([1u8; 64]),
            "A".repeat(10_000),
        ] {
            assert!(
                matches!(
                    SecretKey::from_base64(&bad),
                    Err(AuthError::InvalidSecretKey(_))
                ),
                "{bad:?}"
            );
        }
        assert_eq!(format!("{k:?}"), "SecretKey(<redacted>)");
        let garbage: String = {
            let mut rng = rand::rng();
            (0..50).map(|_| rng.random::<char>()).collect()
        };
        assert!(SecretKey::from_base64(&garbage).is_err());
    }

    #[test]
    fn key_from_env() {
        let var = "PARLA_SECRET_KEY";
        let k = SecretKey::generate();
        assert_eq!(
            SecretKey::from_env_value(var, Some(k.to_base64()))
                .unwrap()
                .0,
            k.0
        );
        assert_eq!(
            SecretKey::from_env_value(var, None).unwrap_err(),
            AuthError::MissingSecretKey(var.into())
        );
        let err = SecretKey::from_env_value(var, Some("short".into())).unwrap_err();
        assert!(matches!(err, AuthError::InvalidSecretKey(_)));
        assert!(err.to_string().contains(var), "{err}");
        // The real lookup, read-only (nobody sets this name).
        let unset = "PARLA_TEST_SECRET_KEY_THAT_IS_NEVER_SET";
        assert_eq!(
            SecretKey::from_env(unset).unwrap_err(),
            AuthError::MissingSecretKey(unset.into())
        );
    }

    #[test]
    fn derived_keys_are_independent() {
        let k = SecretKey::from_bytes([42u8; 32]);
        let csrf = k.derive_key("csrf");
        assert_ne!(csrf, k.derive_key("other"));
        assert_ne!(csrf, [42u8; 32]);
        assert_eq!(csrf, SecretKey::from_bytes([42u8; 32]).derive_key("csrf"));
        assert_ne!(csrf, SecretKey::from_bytes([43u8; 32]).derive_key("csrf"));
    }

    #[test]
    fn associated_data_is_unambiguous() {
        assert_ne!(
            associated_data("a", "bc", "d"),
            associated_data("ab", "c", "d")
        );
        assert_ne!(
            associated_data("a", "", "bc"),
            associated_data("a", "b", "c")
        );
        assert_eq!(
            associated_data("t", "1", "c"),
            [0, 0, 0, 1, b't', 0, 0, 0, 1, b'1', 0, 0, 0, 1, b'c']
        );
    }
}
