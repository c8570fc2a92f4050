//! Tenant API keys for the JSON API.
//!
//! # Format
//!
//! `pk_<prefix>_<secret>` — e.g. `pk_3fA9xQ7b_Xk2...` (44 ASCII characters):
//!
//! - `pk_` marks a Parla key (lets secret scanners and humans recognise it);
//! - `<prefix>`: 8 base62 characters (~47.6 bits), random, stored in clear in
//!   the DB with a unique index and used to **look the key up**; shown in the
//!   panel so users can tell their keys apart. On the (rare) unique-index
//!   collision the caller simply generates again;
//! - `<secret>`: 32 base62 characters (~190.5 bits) from the OS CSPRNG.
//!
//! # Storage
//!
//! The full key is shown once, at creation. The DB stores the prefix and
//! `hex(SHA-256(full key))`. A fast hash is right here (unlike passwords):
//! with ~190 bits of entropy no amount of hashing speed makes guessing the
//! secret from a leaked hash feasible, and a fast hash keeps per-request
//! authentication cheap (argon2 on every API call would be a DoS vector).
//! The comparison with the stored hash is constant-time ([`subtle`]).
//!
//! # Transport
//!
//! `Authorization: Bearer pk_...` (RFC 6750 §2.1); the scheme is
//! case-insensitive (RFC 9110 §11.1).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{random, AuthError};

/// Literal start of every API key.
pub const KEY_MARKER: &str = "pk_";
/// Length of the lookup prefix, in base62 characters.
pub const PREFIX_LEN: usize = 8;
/// Length of the secret part, in base62 characters.
pub const SECRET_LEN: usize = 32;
/// Total length of a key: `pk_` + prefix + `_` + secret.
pub const KEY_LEN: usize = KEY_MARKER.len() + PREFIX_LEN + 1 + SECRET_LEN;
/// Longest `Authorization` header value looked at; longer ones are rejected
/// without further work.
const MAX_HEADER_LEN: usize = 512;

/// Namespace for API key generation (see the module docs for the format).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiKey;

/// A freshly generated key.
#[derive(Clone, PartialEq, Eq)]
pub struct GeneratedKey {
    /// The full key, `pk_<prefix>_<secret>`: show it to the user **once**,
    /// never store or log it.
    pub plaintext: String,
    /// The 8-character lookup prefix (store in clear, unique index).
    pub prefix: String,
    /// `hex(SHA-256(plaintext))`, 64 lowercase hex characters (store).
    pub hash: String,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("plaintext", &"<redacted>")
            .field("prefix", &self.prefix)
            .field("hash", &self.hash)
            .finish()
    }
}

/// A syntactically valid key taken from a request.
#[derive(Clone, PartialEq, Eq)]
pub struct ParsedKey {
    /// The lookup prefix: find the key row by it, then [`verify`] the hash.
    pub prefix: String,
    /// The full key as presented.
    pub plaintext: String,
}

impl std::fmt::Debug for ParsedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedKey")
            .field("prefix", &self.prefix)
            .field("plaintext", &"<redacted>")
            .finish()
    }
}

impl ApiKey {
    /// Generates a new key from the OS CSPRNG.
    ///
    /// # Panics
    ///
    /// Only if the operating system's random source fails (see
    /// [`random::fill`]).
    pub fn generate() -> GeneratedKey {
        let prefix = random::string_from(random::BASE62, PREFIX_LEN);
        let secret = random::string_from(random::BASE62, SECRET_LEN);
        let plaintext = format!("{KEY_MARKER}{prefix}_{secret}");
        let hash = hash_key(&plaintext);
        GeneratedKey {
            plaintext,
            prefix,
            hash,
        }
    }
}

/// `hex(SHA-256(plaintext))`: what is stored for a key.
pub fn hash_key(plaintext: &str) -> String {
    random::hex(&Sha256::digest(plaintext.as_bytes()))
}

/// Whether `plaintext` hashes to `stored_hash` (as produced by
/// [`hash_key`]). Constant-time in the hash contents.
pub fn verify(plaintext: &str, stored_hash: &str) -> bool {
    let computed = hash_key(plaintext);
    // `ct_eq` on slices of different lengths returns false; the length (64)
    // is public anyway.
    computed.as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

fn is_base62(s: &[u8]) -> bool {
    s.iter().all(u8::is_ascii_alphanumeric)
}

/// Validates a bare key (`pk_<8 base62>_<32 base62>`), e.g. from a config
/// file or an `X-API-Key`-style header.
pub fn parse_key(key: &str) -> Result<ParsedKey, AuthError> {
    let b = key.as_bytes();
    let m = KEY_MARKER.len();
    if b.len() != KEY_LEN
        || !b.starts_with(KEY_MARKER.as_bytes())
        || b[m + PREFIX_LEN] != b'_'
        || !is_base62(&b[m..m + PREFIX_LEN])
        || !is_base62(&b[m + PREFIX_LEN + 1..])
    {
        return Err(AuthError::MalformedApiKey);
    }
    // All bytes checked are ASCII, so these slices are on char boundaries.
    Ok(ParsedKey {
        prefix: key[m..m + PREFIX_LEN].to_owned(),
        plaintext: key.to_owned(),
    })
}

/// Parses an `Authorization` header value: `Bearer <key>`.
///
/// The scheme is matched case-insensitively; surrounding whitespace and
/// several spaces between scheme and key are tolerated. Errors:
/// [`AuthError::NotBearer`] when the scheme is missing or not `Bearer`,
/// [`AuthError::MalformedApiKey`] when the token is not a Parla key.
pub fn parse_bearer(header_value: &str) -> Result<ParsedKey, AuthError> {
    if header_value.len() > MAX_HEADER_LEN {
        return Err(AuthError::MalformedApiKey);
    }
    let v = header_value.trim_matches([' ', '\t']);
    let (scheme, rest) = v.split_once([' ', '\t']).ok_or(AuthError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::NotBearer);
    }
    parse_key(rest.trim_start_matches([' ', '\t']))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn generated_key_format() {
        let k = ApiKey::generate();
        assert_eq!(k.plaintext.len(), 44);
        assert_eq!(KEY_LEN, 44);
        assert!(k.plaintext.starts_with("pk_"));
        assert_eq!(&k.plaintext[3..11], k.prefix);
        assert_eq!(&k.plaintext[11..12], "_");
        assert!(k.plaintext[12..].bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(k.hash.len(), 64);
        assert!(k
            .hash
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        assert_eq!(parse_key(&k.plaintext).unwrap().prefix, k.prefix);
        let dbg = format!("{k:?}");
        assert!(!dbg.contains(&k.plaintext[12..]), "{dbg}");
    }

    #[test]
    fn keys_are_unique() {
        let a = ApiKey::generate();
        let b = ApiKey::generate();
        assert_ne!(a.plaintext, b.plaintext);
        assert_ne!(a.prefix, b.prefix);
        assert_ne!(a.hash, b.hash);
    }

    #[test]
    fn hash_is_sha256_hex() {
        // SHA-256("abc"), FIPS 180-2 test vector.
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn verify_matches_only_the_right_key() {
        let k = ApiKey::generate();
        assert!(verify(&k.plaintext, &k.hash));
        let other = ApiKey::generate();
        assert!(!verify(&other.plaintext, &k.hash));
        assert!(!verify(&k.plaintext, &other.hash));
        assert!(!verify(&k.plaintext, ""));
        assert!(!verify(&k.plaintext, &k.hash[..63]));
        assert!(!verify(&k.plaintext, &k.hash.to_uppercase()));
        let mut tampered = k.plaintext.clone();
        tampered.pop();
        tampered.push(if k.plaintext.ends_with('a') { 'b' } else { 'a' });
        assert!(!verify(&tampered, &k.hash));
    }

    #[test]
    fn parse_bearer_accepts_variants() {
        let k = ApiKey::generate();
        for h in [
            format!("Bearer {}", k.plaintext),
            format!("bearer {}", k.plaintext),
            format!("BEARER {}", k.plaintext),
            format!("bEaReR {}", k.plaintext),
            format!("Bearer   {}", k.plaintext),
            format!("Bearer\t{}", k.plaintext),
            format!("  Bearer {}  ", k.plaintext),
        ] {
            let p = parse_bearer(&h).unwrap_or_else(|e| panic!("{h:?}: {e}"));
            assert_eq!(p.prefix, k.prefix);
            assert_eq!(p.plaintext, k.plaintext);
            assert!(verify(&p.plaintext, &k.hash));
        }
        assert!(
            !format!("{:?}", parse_bearer(&format!("Bearer {}", k.plaintext)))
                .contains(&k.plaintext)
        );
    }

    #[test]
    fn parse_bearer_rejects_malformed() {
        let k = ApiKey::generate().plaintext;
        let cases: Vec<(String, AuthError)> = vec![
            (String::new(), AuthError::NotBearer),
            ("Bearer".into(), AuthError::NotBearer),
            (k.clone(), AuthError::NotBearer),
            (format!("Basic {k}"), AuthError::NotBearer),
            (format!("Bearerx {k}"), AuthError::NotBearer),
            (format!("Token {k}"), AuthError::NotBearer),
            ("Bearer ".into(), AuthError::NotBearer),
            ("Bearer  ".into(), AuthError::NotBearer),
            (format!("Bearer {k} extra"), AuthError::MalformedApiKey),
            (format!("Bearer {k}x"), AuthError::MalformedApiKey),
            (format!("Bearer {}", &k[..43]), AuthError::MalformedApiKey),
            (format!("Bearer sk_{}", &k[3..]), AuthError::MalformedApiKey),
            (
                format!("Bearer {}", k.replacen('_', "-", 2)),
                AuthError::MalformedApiKey,
            ),
            (
                format!("Bearer {}", k.to_uppercase()),
                AuthError::MalformedApiKey,
            ),
            ("Bearer pk_abcdefgh_".into(), AuthError::MalformedApiKey),
            (
                format!("Bearer pk_abcdefg!_{}", "a".repeat(32)),
                AuthError::MalformedApiKey,
            ),
            (
                format!("Bearer pk_abcdefgh_{}é", "a".repeat(30)),
                AuthError::MalformedApiKey,
            ),
            (
                format!("Bearer pk_abcdefgh-{}", "a".repeat(32)),
                AuthError::MalformedApiKey,
            ),
            (
                format!("Bearer {}", "x".repeat(10_000)),
                AuthError::MalformedApiKey,
            ),
        ];
        for (h, want) in cases {
            assert_eq!(parse_bearer(&h), Err(want), "{h:?}");
        }
        // Well-formed but not an issued key: parses, then fails verification.
        let fake = format!("pk_abcdefgh_{}", "A".repeat(32));
        assert!(parse_bearer(&format!("Bearer {fake}")).is_ok());
    }

    /// Property-style: random and mutated inputs never panic, and anything
    /// accepted really has the key format.
    #[test]
    fn parse_bearer_never_panics_on_garbage() {
        let mut rng = rand::rng();
        let k = ApiKey::generate().plaintext;
        let valid = format!("Bearer {k}");
        for i in 0..5_000 {
            let input: String = match i % 3 {
                // Arbitrary Unicode.
                0 => (0..rng.random_range(0..80))
                    .map(|_| rng.random::<char>())
                    .collect(),
                // Bytes from a lossy UTF-8 decoding of random bytes.
                1 => {
                    let bytes: Vec<u8> =
                        (0..rng.random_range(0..80)).map(|_| rng.random()).collect();
                    String::from_utf8_lossy(&bytes).into_owned()
                }
                // Mutations of a valid header: replace, insert, truncate.
                _ => {
                    let mut chars: Vec<char> = valid.chars().collect();
                    for _ in 0..rng.random_range(1..4) {
                        let pos = rng.random_range(0..chars.len());
                        match rng.random_range(0..3) {
                            0 => chars[pos] = rng.random(),
                            1 => chars.insert(pos, rng.random()),
                            _ => chars.truncate(pos),
                        }
                        if chars.is_empty() {
                            break;
                        }
                    }
                    chars.into_iter().collect()
                }
            };
            if let Ok(p) = parse_bearer(&input) {
                assert_eq!(p.plaintext.len(), KEY_LEN);
                assert!(parse_key(&p.plaintext).is_ok());
            }
            let _ = verify(&input, &input);
        }
    }
}
