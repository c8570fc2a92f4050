//! `/api/v1/me`: who the caller is (with masquerade details), and the
//! caller's own credentials: password change and TOTP enrolment. The
//! credential routes need the user's own session (not an API key, not a
//! masquerade): 403 otherwise.

use actix_web::{HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::api::json_body::JsonBody;
use crate::api::openapi::{Conflict, Forbidden};
use parla_admin_core::auth::Principal;
use parla_admin_core::domain::UserId;
use parla_admin_core::service::login::{self as login_flow, TotpEnrolment};

use super::{peer_ip, State};

/// The module's operations, merged into the document by
/// [`crate::api::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(me, change_password, totp_begin, totp_confirm, totp_disable))]
pub(super) struct Doc;

/// The super admin behind a masquerade ("log in as").
#[derive(Serialize, ToSchema)]
pub(super) struct MasqueradeView {
    by_user_id: UserId,
    by_email: Option<String>,
}

/// The caller.
#[derive(Serialize, ToSchema)]
pub(super) struct MeView {
    /// `{"kind": "super_admin" | "tenant_user" | "api_key", …}`.
    principal: Principal,
    /// The user (for an API key: its creator).
    user_id: Option<UserId>,
    /// Audit label.
    label: String,
    /// The user's e-mail; null for API keys.
    email: Option<String>,
    /// Set while a super admin acts as this user.
    masquerade: Option<MasqueradeView>,
}

#[utoipa::path(
    get,
    path = "/me",
    tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, description = "The caller", body = MeView))
)]
pub(super) async fn me(Caller(who): Caller) -> HttpResponse {
    let masquerade = who.masquerading_from.map(|root| MasqueradeView {
        by_user_id: root,
        by_email: who.masquerader_email.clone(),
    });
    HttpResponse::Ok().json(MeView {
        principal: who.principal,
        user_id: who.user_id,
        label: who.label,
        email: who.email,
        masquerade,
    })
}

/// The current password and the new one (at least 12 characters).
#[derive(Deserialize, ToSchema)]
pub(super) struct PasswordChange {
    current_password: String,
    #[schema(min_length = 12, max_length = 256)]
    new_password: String,
}

/// `POST /me/password` → 204; other sessions of the user end.
#[utoipa::path(
    post,
    path = "/me/password",
    tag = "auth",
    request_body = PasswordChange,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Changed; the user's other sessions ended"),
        (status = 403, response = Forbidden),
    )
)]
pub(super) async fn change_password(
    state: State,
    req: HttpRequest,
    who: Caller,
    body: JsonBody<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    login_flow::change_password(
        &state,
        &who,
        &body.current_password,
        &body.new_password,
        peer_ip(&req),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /me/totp` → 200 `{secret, otpauth_url}` (enrolment begun).
#[utoipa::path(
    post,
    path = "/me/totp",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Enrolment begun: add the secret to an authenticator app, then confirm", body = TotpEnrolment),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    )
)]
pub(super) async fn totp_begin(
    state: State,
    req: HttpRequest,
    who: Caller,
) -> Result<HttpResponse, ApiError> {
    let e = login_flow::totp_begin(&state, &who, peer_ip(&req)).await?;
    Ok(HttpResponse::Ok().json(e))
}

/// A current code from the authenticator app.
#[derive(Deserialize, ToSchema)]
pub(super) struct TotpCode {
    /// 6 digits.
    code: String,
}

/// Recovery codes, shown once.
#[derive(Serialize, ToSchema)]
pub(super) struct RecoveryCodesView {
    /// 10 single-use codes like `7k2m-9xq4`.
    recovery_codes: Vec<String>,
}

/// `POST /me/totp/confirm` `{code}` → 200 `{recovery_codes: [10]}`.
#[utoipa::path(
    post,
    path = "/me/totp/confirm",
    tag = "auth",
    request_body = TotpCode,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "TOTP is on; the recovery codes are shown once", body = RecoveryCodesView),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    )
)]
pub(super) async fn totp_confirm(
    state: State,
    req: HttpRequest,
    who: Caller,
    body: JsonBody<TotpCode>,
) -> Result<HttpResponse, ApiError> {
    let recovery_codes = login_flow::totp_confirm(&state, &who, &body.code, peer_ip(&req)).await?;
    Ok(HttpResponse::Ok().json(RecoveryCodesView { recovery_codes }))
}

/// A current TOTP code or the account password.
#[derive(Deserialize, ToSchema)]
pub(super) struct TotpProof {
    code: Option<String>,
    password: Option<String>,
}

/// `DELETE /me/totp` `{code}` or `{password}` → 204.
#[utoipa::path(
    delete,
    path = "/me/totp",
    tag = "auth",
    request_body = TotpProof,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "TOTP is off"),
        (status = 403, response = Forbidden),
    )
)]
pub(super) async fn totp_disable(
    state: State,
    req: HttpRequest,
    who: Caller,
    body: JsonBody<TotpProof>,
) -> Result<HttpResponse, ApiError> {
    let proof = body
        .code
        .as_deref()
        .or(body.password.as_deref())
        .ok_or_else(|| ApiError::invalid("code", "give a TOTP code or the password"))?;
    login_flow::totp_disable(&state, &who, proof, peer_ip(&req)).await?;
    Ok(HttpResponse::NoContent().finish())
}
