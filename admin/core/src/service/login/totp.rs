//! TOTP enrolment (begin → confirm → recovery codes), disabling, and the
//! check of a second factor at login.
//!
//! Storage without extra columns: `users.totp_secret` set with
//! `totp_recovery` NULL is a *pending* enrolment (begun, not confirmed);
//! both set means TOTP is on ([`totp_enabled`]).

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use super::Authenticated;
use crate::auth::secrets::associated_data;
use crate::auth::totp::{RECOVERY_CODE_COUNT, TOTP_ISSUER};
use crate::auth::{
    consume_recovery_code, generate_recovery_codes, new_secret, otpauth_url, verify_not_replayed,
    verify_password, TotpSecret,
};
use crate::domain::{JsonText, Opaque, UserId};
use crate::store::User;

use super::account::own_account;
use super::LoginError;
use super::{blocking, check_throttle, record_failure, throttle_keys, Event};
use crate::state::CoreState;

/// A begun enrolment: show `secret` (for manual entry) and `otpauth_url`
/// (as a QR code), then confirm with a code from the app.
#[derive(Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TotpEnrolment {
    /// Unpadded RFC 4648 base32 (32 characters, 160 bits).
    pub secret: String,
    /// `otpauth://totp/Parla:<email>?secret=…&issuer=Parla`.
    pub otpauth_url: String,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnrolment(<redacted>)")
    }
}

/// Whether the user must give a second factor at login (enrolment
/// confirmed).
pub fn totp_enabled(user: &User) -> bool {
    user.totp_secret.is_some() && user.totp_recovery.is_some()
}

fn ad(user: UserId) -> Vec<u8> {
    associated_data("users", &user.to_string(), "totp_secret")
}

fn now_unix_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The user's (possibly pending) TOTP secret, decrypted.
fn secret_of(state: &CoreState, user: &User) -> Result<Option<TotpSecret>, LoginError> {
    let Some(enc) = &user.totp_secret else {
        return Ok(None);
    };
    let b32 = state
        .secrets
        .decrypt_string(enc.expose(), &ad(user.id))
        .map_err(LoginError::internal)?;
    TotpSecret::from_base32(&b32)
        .map(Some)
        .map_err(LoginError::internal)
}

/// Whether `code` is a fresh TOTP code of the user (and marks its time step
/// used, so it cannot be replayed).
fn totp_code_ok(state: &CoreState, user: &User, secret: &TotpSecret, code: &str) -> bool {
    let last = state.login.last_step(user.id);
    match verify_not_replayed(secret, code, now_unix_s(), last) {
        Ok(Some(step)) => state.login.use_step(user.id, step),
        _ => false,
    }
}

/// Checks a second factor: a TOTP code, else a recovery code (consumed
/// atomically). Returns the method used (`"totp"`, `"recovery_code"`) or
/// `None` if `code` is neither.
pub(super) async fn check_second_factor(
    state: &CoreState,
    user: &User,
    code: &str,
) -> Result<Option<&'static str>, LoginError> {
    let Some(secret) = secret_of(state, user)? else {
        return Ok(None);
    };
    if totp_code_ok(state, user, &secret, code) {
        return Ok(Some("totp"));
    }
    let Some(stored) = &user.totp_recovery else {
        return Ok(None);
    };
    let mut hashes: Vec<String> = stored.iter().map(|h| h.expose().to_owned()).collect();
    let input = code.to_owned();
    let (matched, hashes) = blocking(move || {
        let ok = consume_recovery_code(&input, &mut hashes);
        (ok, hashes)
    })
    .await?;
    if !matched {
        return Ok(None);
    }
    let remaining = JsonText(hashes.into_iter().map(Opaque::new).collect());
    let swapped = state
        .store
        .users()
        .replace_recovery_codes(user.id, stored, &remaining)
        .await?;
    Ok(swapped.then_some("recovery_code"))
}

/// An audited TOTP change of the caller's own account.
async fn audit(
    state: &CoreState,
    who: &Authenticated,
    user: &User,
    action: &str,
    ip: Option<IpAddr>,
) -> Result<(), LoginError> {
    Event {
        actor: Some(user.id),
        label: &who.label,
        tenant: who.tenant_id(),
        action,
        target: user.id.to_string(),
        after: None,
        ip,
    }
    .record(state)
    .await
}

/// Begins TOTP enrolment for the caller's own account (a session, not an
/// API key, not a masquerade): stores a new secret as pending and returns
/// it. Audited `totp.begin`.
///
/// Errors: 403 not a session of the user; 409 `conflict` (field `totp`)
/// if TOTP is already on (disable it first).
pub async fn totp_begin(
    state: &CoreState,
    who: &Authenticated,
    ip: Option<IpAddr>,
) -> Result<TotpEnrolment, LoginError> {
    let user = own_account(state, who).await?;
    if totp_enabled(&user) {
        return Err(LoginError::conflict("totp"));
    }
    let secret = new_secret();
    let url =
        otpauth_url(&secret, TOTP_ISSUER, user.email.as_str()).map_err(LoginError::internal)?;
    let enc = state
        .secrets
        .encrypt_str(secret.as_base32(), &ad(user.id))
        .map_err(LoginError::internal)?;
    state
        .store
        .users()
        .set_totp(user.id, Some(&Opaque::new(enc)), None)
        .await?;
    audit(state, who, &user, "totp.begin", ip).await?;
    Ok(TotpEnrolment {
        secret: secret.as_base32().to_owned(),
        otpauth_url: url,
    })
}

/// Confirms enrolment with a current code from the app: turns TOTP on and
/// returns [`RECOVERY_CODE_COUNT`] recovery codes like `7k2m-9xq4` (show
/// them once; only argon2 hashes are stored). Audited `totp.enable`.
///
/// Errors: 403 not a session of the user; 409 TOTP already on; 422
/// (field `code`) no enrolment begun or wrong code; 429 throttled.
pub async fn totp_confirm(
    state: &CoreState,
    who: &Authenticated,
    code: &str,
    ip: Option<IpAddr>,
) -> Result<Vec<String>, LoginError> {
    let user = own_account(state, who).await?;
    if totp_enabled(&user) {
        return Err(LoginError::conflict("totp"));
    }
    let secret = secret_of(state, &user)?
        .ok_or_else(|| LoginError::invalid("code", "begin TOTP enrolment first"))?;
    let keys = throttle_keys(ip, user.email.as_str());
    check_throttle(state, &keys)?;
    if !totp_code_ok(state, &user, &secret, code) {
        record_failure(state, &keys)?;
        return Err(LoginError::invalid("code", "wrong or expired code"));
    }
    let codes = blocking(|| generate_recovery_codes(RECOVERY_CODE_COUNT))
        .await?
        .map_err(LoginError::internal)?;
    let hashes = JsonText(codes.hashes.into_iter().map(Opaque::new).collect());
    state
        .store
        .users()
        .set_totp(user.id, user.totp_secret.as_ref(), Some(&hashes))
        .await?;
    audit(state, who, &user, "totp.enable", ip).await?;
    Ok(codes.plaintext)
}

/// Turns TOTP off (also cancels a pending enrolment). `proof` is a current
/// TOTP code or the account password. Audited `totp.disable`.
///
/// Errors: 403 not a session of the user; 422 (field `proof`) wrong code
/// and password, or (field `totp`) TOTP not on; 429 throttled.
pub async fn totp_disable(
    state: &CoreState,
    who: &Authenticated,
    proof: &str,
    ip: Option<IpAddr>,
) -> Result<(), LoginError> {
    let user = own_account(state, who).await?;
    let Some(secret) = secret_of(state, &user)? else {
        return Err(LoginError::invalid("totp", "TOTP is not enabled"));
    };
    let keys = throttle_keys(ip, user.email.as_str());
    check_throttle(state, &keys)?;
    let ok = totp_code_ok(state, &user, &secret, proof) || {
        let (plain, hash) = (proof.to_owned(), user.password_hash.expose().to_owned());
        blocking(move || verify_password(&plain, &hash)).await? == Ok(true)
    };
    if !ok {
        record_failure(state, &keys)?;
        return Err(LoginError::invalid("proof", "wrong code or password"));
    }
    state.store.users().set_totp(user.id, None, None).await?;
    audit(state, who, &user, "totp.disable", ip).await
}
