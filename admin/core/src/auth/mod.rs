//! Authentication and authorization primitives for the admin plane.
//!
//! Everything here is pure logic: no database, no HTTP, no clock reads. Time
//! is always passed in (`now_*` arguments) so every rule is unit-testable and
//! the API/panel layers decide where time comes from. Randomness comes from the
//! operating system's CSPRNG ([`rand::rngs::OsRng`]).
//!
//! # Pieces
//!
//! | module | for |
//! |---|---|
//! | [`password`] | argon2id password hashing, the password policy, a dummy hash to equalise login timing |
//! | [`api_key`] | tenant API keys `pk_<prefix>_<secret>`: generation, `Authorization: Bearer` parsing, verification |
//! | [`totp`] | TOTP second factor (RFC 6238) with replay protection, and one-time recovery codes |
//! | [`session`] | panel session tokens (cookie value vs. the hashed id stored in the DB), expiry rules |
//! | [`csrf`] | CSRF tokens bound to the session (synchronizer token pattern, HMAC-SHA256) |
//! | [`secrets`] | encryption at rest (XChaCha20-Poly1305) for provider credentials and trunk passwords |
//! | [`mask`] | masking secrets for display after they were saved |
//! | [`rate_limit`] | in-memory brute-force guard for login and TOTP (per IP and per account) |
//! | [`principal`] | who is acting (super admin, tenant user, API key) and what they may do |
//!
//! # Threat model (what each piece defends against)
//!
//! - **Offline password cracking after a DB leak** → passwords are stored as
//!   argon2id hashes with OWASP's parameters ([`password`]); the policy forbids
//!   very short passwords.
//! - **DB leak used directly as credentials** → API keys, session ids and
//!   recovery codes are stored only as hashes (SHA-256 for high-entropy tokens,
//!   argon2id for the low-entropy recovery codes); provider credentials, trunk
//!   passwords and TOTP secrets are encrypted with a key that lives outside the
//!   DB (`PARLA_SECRET_KEY`, [`secrets`]), bound to their row and column so
//!   ciphertexts cannot be swapped between rows.
//! - **Cross-site request forgery** on the cookie-authenticated panel →
//!   `SameSite=Lax` session cookie plus a per-session CSRF token on every
//!   state-changing request ([`csrf`]). API keys are sent in a header, never
//!   ambiently, so the JSON API with bearer keys is not CSRF-prone.
//! - **Online brute force** of passwords and TOTP codes → [`rate_limit`]
//!   throttles failures per IP and per account; TOTP as a second factor;
//!   a used TOTP time step cannot be replayed.
//! - **User enumeration by timing** → when the account does not exist, the
//!   login handler still runs [`password::verify_dummy`].
//! - **Session fixation / session theft** → a fresh session token is issued at
//!   login and at every privilege change (TOTP step-up, masquerade start and
//!   end), the old one deleted; cookies are `HttpOnly`, `Secure` under TLS;
//!   sessions expire after [`session::SESSION_TTL`] and
//!   [`session::SESSION_IDLE_TIMEOUT`] of inactivity.
//! - **Timing side channels on secret comparison** → every comparison of a
//!   secret (hashes, MACs, TOTP codes) is constant-time ([`subtle`], HMAC
//!   `verify_slice`, argon2's verifier).
//!
//! Parsers of untrusted input (bearer header, session cookie, CSRF token,
//! TOTP and recovery codes, ciphertext tokens) never panic: every one is
//! exercised with random and garbage input in its tests.
//!
//! The only panic left is a failing operating-system CSPRNG in the
//! `generate`-style functions (see [`random`]): continuing without
//! randomness would silently produce guessable credentials.

pub mod api_key;
pub mod csrf;
pub mod mask;
pub mod password;
pub mod principal;
pub mod random;
pub mod rate_limit;
pub mod secrets;
pub mod session;
pub mod totp;

pub use api_key::{ApiKey, GeneratedKey, ParsedKey};
pub use csrf::{csrf_token_for, verify_csrf, CSRF_FORM_FIELD, CSRF_HEADER};
pub use mask::mask_secret;
pub use password::{
    hash_password, needs_rehash, verify_dummy, verify_password, PasswordPolicy, PolicyError,
};
pub use principal::{Principal, TenantRole};
pub use rate_limit::{LoginThrottle, RetryAfter, ThrottleKey, ThrottlePolicy};
pub use secrets::SecretKey;
pub use session::{
    is_expired, session_cookie_value, session_id_of, NewSession, SessionToken, SESSION_COOKIE,
    SESSION_IDLE_TIMEOUT, SESSION_TTL,
};
pub use totp::{
    consume_recovery_code, generate_recovery_codes, new_secret, otpauth_url, verify_not_replayed,
    RecoveryCodes, TotpSecret,
};

/// Errors of the authentication primitives.
///
/// Messages never contain secret material (no passwords, keys, codes or
/// ciphertexts), so they can be logged. Map them to HTTP statuses in the API
/// layer: the `Malformed*`/`Invalid*` input variants are 401/400, the
/// configuration variants are startup failures, the internal ones 500.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Hashing a password failed inside argon2 (should not happen with the
    /// fixed parameters; internal error).
    #[error("password hashing failed: {0}")]
    PasswordHashing(String),
    /// A stored password/recovery-code hash is not a valid argon2id PHC string
    /// (or has absurd cost parameters).
    #[error("stored password hash is malformed: {0}")]
    MalformedPasswordHash(String),
    /// No `Authorization` header value, or its scheme is not `Bearer`.
    #[error("expected an `Authorization: Bearer <key>` header")]
    NotBearer,
    /// The bearer token does not have the API key format `pk_<8>_<32>`.
    #[error("malformed API key")]
    MalformedApiKey,
    /// The session cookie value is not a well-formed session token.
    #[error("malformed session token")]
    MalformedSessionToken,
    /// A stored TOTP secret is not valid base32 or is shorter than 128 bits.
    #[error("invalid TOTP secret: {0}")]
    InvalidTotpSecret(String),
    /// Issuer or account name cannot be put in an `otpauth://` URL (contains `:`).
    #[error("invalid otpauth label: {0}")]
    InvalidOtpauthLabel(String),
    /// The secret key (e.g. `PARLA_SECRET_KEY`) is not base64 of exactly 32 bytes.
    #[error("invalid secret key: {0}")]
    InvalidSecretKey(String),
    /// The environment variable holding the secret key is not set (or not UTF-8).
    #[error("environment variable {0} is not set (expected base64 of 32 random bytes)")]
    MissingSecretKey(String),
    /// An encrypted value does not have the `v1.<base64url>` format.
    #[error("malformed encrypted value: {0}")]
    MalformedCiphertext(&'static str),
    /// An encrypted value uses a format version this build does not know.
    #[error("unsupported encrypted value version")]
    UnsupportedCiphertextVersion,
    /// Authentication of an encrypted value failed: wrong key, wrong
    /// associated data (row/column), or the ciphertext was tampered with. The
    /// AEAD cannot tell these apart, by design.
    #[error("decryption failed: wrong key, wrong associated data, or tampered ciphertext")]
    DecryptionFailed,
    /// Encryption failed (only possible for plaintexts beyond the AEAD's limit
    /// of 2^38 bytes).
    #[error("encryption failed: plaintext too large")]
    EncryptionFailed,
}
