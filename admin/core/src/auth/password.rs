//! Password hashing (argon2id) and the password policy.
//!
//! # Parameters
//!
//! Argon2id, version 0x13, **m = 19456 KiB (19 MiB), t = 2 iterations,
//! p = 1 lane**, 16-byte random salt, 32-byte output. This is the first
//! configuration recommended by the OWASP Password Storage Cheat Sheet
//! (<https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html#argon2id>),
//! and also the `argon2` crate's default. One hash costs ~19 MiB of RAM and
//! some tens of milliseconds of one core in a release build; login endpoints
//! must therefore be throttled ([`super::rate_limit`]) so hashing cannot be
//! used to exhaust CPU or memory.
//!
//! Hashes are stored as PHC strings
//! (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), which carry their own
//! parameters: verification uses the parameters in the stored string, so
//! raising the cost later keeps old hashes valid; [`needs_rehash`] tells the
//! login handler to re-hash with the current parameters after a successful
//! login.
//!
//! # Policy
//!
//! [`PasswordPolicy`] follows OWASP's Authentication Cheat Sheet / NIST SP
//! 800-63B: a minimum length (12 characters), a generous maximum (256 bytes,
//! only to bound hashing work), no composition rules; all-whitespace
//! passwords are rejected.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use super::{random, AuthError};

/// Argon2id memory cost in KiB (19 MiB), per OWASP.
pub const ARGON2_M_COST_KIB: u32 = 19_456;
/// Argon2id number of passes, per OWASP.
pub const ARGON2_T_COST: u32 = 2;
/// Argon2id degree of parallelism (lanes), per OWASP.
pub const ARGON2_P_COST: u32 = 1;
/// Salt length in bytes (the PHC / argon2 recommendation).
pub const SALT_LEN: usize = 16;

/// Ceiling on the cost parameters accepted from a stored PHC string
/// (256 MiB, 16 passes, 16 lanes). A corrupted or hostile row must not make a
/// single login allocate gigabytes.
const MAX_STORED_M_COST_KIB: u32 = 256 * 1024;
const MAX_STORED_T_COST: u32 = 16;
const MAX_STORED_P_COST: u32 = 16;

/// A well-formed argon2id PHC string with exactly the current parameters and
/// a random output (it matches no known password), used by [`verify_dummy`].
/// Verifying against it costs the same as verifying a real user's hash.
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$dGGRW7aK5ZuG0mBNPXg8cA$ZzxDR1FHDnNf/8W9nwW+q7Ee2UFzWxUhZNBqYUcgl9o";

fn hasher(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub(crate) fn current_params() -> Params {
    // The constants are within argon2's bounds, so this cannot fail; the
    // fallback keeps the function total anyway (argon2's defaults are the
    // same OWASP values).
    Params::new(ARGON2_M_COST_KIB, ARGON2_T_COST, ARGON2_P_COST, None)
        .unwrap_or_else(|_| Params::default())
}

/// Hashes `plain` with argon2id and the parameters above, returning a PHC
/// string to store. Does not apply the [`PasswordPolicy`] (check it first).
pub fn hash_password(plain: &str) -> Result<String, AuthError> {
    hash_with(plain.as_bytes(), current_params())
}

/// Hashes with explicit parameters (tests use cheap ones; recovery codes use
/// the current ones).
pub(crate) fn hash_with(secret: &[u8], params: Params) -> Result<String, AuthError> {
    let salt = SaltString::encode_b64(&random::bytes::<SALT_LEN>())
        .map_err(|e| AuthError::PasswordHashing(e.to_string()))?;
    hasher(params)
        .hash_password(secret, &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::PasswordHashing(e.to_string()))
}

/// Parses a stored PHC string, accepting only argon2id with sane costs.
fn parse_stored(phc: &str) -> Result<PasswordHash<'_>, AuthError> {
    let parsed =
        PasswordHash::new(phc).map_err(|e| AuthError::MalformedPasswordHash(e.to_string()))?;
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return Err(AuthError::MalformedPasswordHash(format!(
            "algorithm {} is not argon2id",
            parsed.algorithm
        )));
    }
    let params =
        Params::try_from(&parsed).map_err(|e| AuthError::MalformedPasswordHash(e.to_string()))?;
    if params.m_cost() > MAX_STORED_M_COST_KIB
        || params.t_cost() > MAX_STORED_T_COST
        || params.p_cost() > MAX_STORED_P_COST
    {
        return Err(AuthError::MalformedPasswordHash(
            "cost parameters out of range".into(),
        ));
    }
    if parsed.hash.is_none() || parsed.salt.is_none() {
        return Err(AuthError::MalformedPasswordHash(
            "missing salt or hash".into(),
        ));
    }
    Ok(parsed)
}

/// Checks `plain` against a stored PHC string.
///
/// `Ok(true)` on a match, `Ok(false)` on a mismatch, `Err` when the stored
/// string is not a usable argon2id PHC string (log it; treat as a failed
/// login). The comparison of the derived hash is constant-time (argon2 /
/// `password-hash` compare outputs with `subtle`). The parameters embedded in
/// `phc` are used, not the current ones.
pub fn verify_password(plain: &str, phc: &str) -> Result<bool, AuthError> {
    verify_bytes(plain.as_bytes(), phc)
}

pub(crate) fn verify_bytes(secret: &[u8], phc: &str) -> Result<bool, AuthError> {
    let parsed = parse_stored(phc)?;
    match Argon2::default().verify_password(secret, &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(AuthError::MalformedPasswordHash(e.to_string())),
    }
}

/// Runs a full verification against [`DUMMY_HASH`] and discards the result.
///
/// Call it when the login names an account that does not exist (or has no
/// password), so the response takes as long as a real verification and does
/// not reveal which emails are registered.
pub fn verify_dummy(plain: &str) {
    let _ = verify_password(plain, DUMMY_HASH);
}

/// Whether a stored hash should be replaced by a fresh [`hash_password`] of
/// the (just verified) password: it is malformed, not argon2id, or uses
/// parameters other than the current ones.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = parse_stored(phc) else {
        return true;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return true;
    };
    let current = current_params();
    parsed.version != Some(Version::V0x13.into())
        || params.m_cost() != current.m_cost()
        || params.t_cost() != current.t_cost()
        || params.p_cost() != current.p_cost()
        || params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN) != Params::DEFAULT_OUTPUT_LEN
}

/// Why a password was refused by the [`PasswordPolicy`]. `Display` is a
/// user-facing sentence for the 422 response; [`PolicyError::code`] is a
/// stable machine-readable identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Fewer characters (Unicode scalar values) than the minimum.
    #[error("password must be at least {min} characters long (it has {actual})")]
    TooShort {
        /// Required minimum, in characters.
        min: usize,
        /// Length of the submitted password, in characters.
        actual: usize,
    },
    /// More bytes (UTF-8) than the maximum.
    #[error("password must be at most {max} bytes long")]
    TooLong {
        /// Allowed maximum, in bytes of UTF-8.
        max: usize,
    },
    /// Only spaces, tabs, newlines and other whitespace.
    #[error("password must not consist only of whitespace")]
    OnlyWhitespace,
}

impl PolicyError {
    /// Stable identifier for API clients (`too_short`, `too_long`, `only_whitespace`).
    pub fn code(&self) -> &'static str {
        match self {
            PolicyError::TooShort { .. } => "too_short",
            PolicyError::TooLong { .. } => "too_long",
            PolicyError::OnlyWhitespace => "only_whitespace",
        }
    }
}

/// Rules a new password must satisfy (length-based, per OWASP / NIST SP
/// 800-63B; no composition rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Minimum length in characters (Unicode scalar values).
    pub min_chars: usize,
    /// Maximum length in bytes of UTF-8 (bounds the hashing work).
    pub max_bytes: usize,
}

impl PasswordPolicy {
    /// Parla's policy: at least 12 characters, at most 256 bytes.
    pub const DEFAULT: PasswordPolicy = PasswordPolicy {
        min_chars: 12,
        max_bytes: 256,
    };

    /// Checks `plain` against the default policy.
    pub fn check(plain: &str) -> Result<(), PolicyError> {
        Self::DEFAULT.validate(plain)
    }

    /// Checks `plain` against this policy. Rules are checked in the order
    /// too long, too short, only whitespace; the first violation is returned.
    pub fn validate(&self, plain: &str) -> Result<(), PolicyError> {
        if plain.len() > self.max_bytes {
            return Err(PolicyError::TooLong {
                max: self.max_bytes,
            });
        }
        let chars = plain.chars().count();
        if chars < self.min_chars {
            return Err(PolicyError::TooShort {
                min: self.min_chars,
                actual: chars,
            });
        }
        if plain.chars().all(char::is_whitespace) {
            return Err(PolicyError::OnlyWhitespace);
        }
        Ok(())
    }
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Minimal argon2id parameters (8 KiB, 1 pass) for tests that only check
    /// plumbing, not cost.
    pub(crate) fn cheap_params() -> Params {
        Params::new(8, 1, 1, None).unwrap()
    }

    #[test]
    fn real_hash_roundtrip_and_format() {
        // The only test hashing with the real (slow) parameters.
        let phc = hash_password("correct horse battery staple").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password("correct horse battery staple", &phc).unwrap());
        assert!(!verify_password("correct horse battery stapl", &phc).unwrap());
        assert!(!verify_password("", &phc).unwrap());
        assert!(!needs_rehash(&phc));
    }

    #[test]
    fn salts_differ() {
        let a = hash_with(b"same password", cheap_params()).unwrap();
        let b = hash_with(b"same password", cheap_params()).unwrap();
        assert_ne!(a, b);
        assert!(verify_password("same password", &a).unwrap());
        assert!(verify_password("same password", &b).unwrap());
    }

    #[test]
    fn old_parameters_still_verify_but_need_rehash() {
        let phc = hash_with(b"legacy password", cheap_params()).unwrap();
        assert!(verify_password("legacy password", &phc).unwrap());
        assert!(needs_rehash(&phc));
    }

    #[test]
    fn dummy_hash_has_current_parameters() {
        // Same cost as a real verification, so timing is equalised.
        assert!(!needs_rehash(DUMMY_HASH));
        assert_eq!(verify_password("anything at all", DUMMY_HASH), Ok(false));
        verify_dummy("whatever");
    }

    #[test]
    fn malformed_hashes_are_errors_not_panics() {
        let cases = [
            "",
            "$",
            "$$$$",
            "not a hash",
            "$argon2id$",
            "$argon2id$v=19$m=19456,t=2,p=1$",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ",
            "$argon2id$v=19$m=19456,t=2,p=1$!!!$???",
            "$argon2i$v=19$m=19456,t=2,p=1$dGGRW7aK5ZuG0mBNPXg8cA$ZzxDR1FHDnNf/8W9nwW+q7Ee2UFzWxUhZNBqYUcgl9o",
            "$bcrypt$whatever",
            // Absurd memory cost must be refused before allocating.
            "$argon2id$v=19$m=4194304,t=2,p=1$dGGRW7aK5ZuG0mBNPXg8cA$ZzxDR1FHDnNf/8W9nwW+q7Ee2UFzWxUhZNBqYUcgl9o",
            "$argon2id$v=19$m=19456,t=1000,p=1$dGGRW7aK5ZuG0mBNPXg8cA$ZzxDR1FHDnNf/8W9nwW+q7Ee2UFzWxUhZNBqYUcgl9o",
            "$argon2id$v=19$m=0,t=0,p=0$dGGRW7aK5ZuG0mBNPXg8cA$ZzxDR1FHDnNf/8W9nwW+q7Ee2UFzWxUhZNBqYUcgl9o",
            "$argon2id$v=99$m=19456,t=2,p=1$dGGRW7aK5ZuG0mBNPXg8cA$ZzxDR1FHDnNf/8W9nwW+q7Ee2UFzWxUhZNBqYUcgl9o",
        ];
        for c in cases {
            assert!(
                matches!(
                    verify_password("password123456", c),
                    Err(AuthError::MalformedPasswordHash(_))
                ),
                "{c:?}"
            );
            assert!(needs_rehash(c), "{c:?}");
        }
    }

    #[test]
    fn garbage_hashes_never_panic_nor_verify() {
        use rand::{Rng, SeedableRng};
        // Seeded: a failure names an input that can be replayed.
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x9a55_0001);
        for _ in 0..500 {
            let len = rng.random_range(0..120);
            const ALPHABET: &[u8] = b"$argon2id=,.v19mtp/+AZaz09\0\xff";
            let s: String = (0..len)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                .collect();
            assert_ne!(
                verify_password("x", &s),
                Ok(true),
                "garbage hash {s:?} verified"
            );
            assert_ne!(
                verify_password("", &s),
                Ok(true),
                "garbage hash {s:?} verified"
            );
            assert!(needs_rehash(&s), "garbage hash {s:?} is not current");
        }
    }

    #[test]
    fn policy_rules() {
        assert_eq!(PasswordPolicy::check("twelve chars"), Ok(()));
        assert_eq!(
            PasswordPolicy::check("eleven char"),
            Err(PolicyError::TooShort {
                min: 12,
                actual: 11
            })
        );
        assert_eq!(
            PasswordPolicy::check(""),
            Err(PolicyError::TooShort { min: 12, actual: 0 })
        );
        // Characters, not bytes: 12 two-byte characters are enough.
        assert_eq!(PasswordPolicy::check("éééééééééééé"), Ok(()));
        assert_eq!(PasswordPolicy::check(&"a".repeat(256)), Ok(()));
        assert_eq!(
            PasswordPolicy::check(&"a".repeat(257)),
            Err(PolicyError::TooLong { max: 256 })
        );
        // 129 two-byte characters = 258 bytes.
        assert_eq!(
            PasswordPolicy::check(&"é".repeat(129)),
            Err(PolicyError::TooLong { max: 256 })
        );
        assert_eq!(
            PasswordPolicy::check(" \t\n            \u{3000}"),
            Err(PolicyError::OnlyWhitespace)
        );
        assert_eq!(PasswordPolicy::check("  spaces ok but x "), Ok(()));
    }

    #[test]
    fn policy_messages_are_clear() {
        let e = PasswordPolicy::check("short").unwrap_err();
        assert_eq!(e.code(), "too_short");
        assert_eq!(
            e.to_string(),
            "password must be at least 12 characters long (it has 5)"
        );
        let e = PasswordPolicy::check(&"x".repeat(300)).unwrap_err();
        assert_eq!(e.code(), "too_long");
        assert_eq!(e.to_string(), "password must be at most 256 bytes long");
        let e = PasswordPolicy::check(&" ".repeat(20)).unwrap_err();
        assert_eq!(e.code(), "only_whitespace");
        assert_eq!(
            e.to_string(),
            "password must not consist only of whitespace"
        );
    }

    #[test]
    fn custom_policy() {
        let p = PasswordPolicy {
            min_chars: 4,
            max_bytes: 8,
        };
        assert_eq!(p.validate("abcd"), Ok(()));
        assert!(p.validate("abc").is_err());
        assert!(p.validate("abcdefghi").is_err());
        assert_eq!(PasswordPolicy::default(), PasswordPolicy::DEFAULT);
    }
}
