//! `POST /api/v1/auth/login`, `/auth/login/second-factor`, `/auth/logout`:
//! thin HTTP wrappers over [`parla_admin_core::service::login`]. A successful login
//! answers `{token, csrf_token, user_id, tenant_id}` and sets the session
//! cookie; with TOTP on, the password step answers
//! `{"second_factor_required": true, "challenge"}` instead.

use actix_web::http::header::SET_COOKIE;
use actix_web::{HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::api::json_body::JsonBody;
use crate::api::openapi::{Forbidden, Unauthorized};
use parla_admin_core::auth::session;
use parla_admin_core::domain::{TenantId, UserId};
use parla_admin_core::service::login::{self as login_flow, end_session, LoginOutcome, SignedIn};

use super::tenants::field;
use super::{peer_ip, State};

/// The module's operations, merged into the document by
/// [`crate::api::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(login, second_factor, logout))]
pub(super) struct Doc;

/// Email and password (and the tenant, for users of several).
#[derive(Deserialize, ToSchema)]
pub(super) struct Login {
    email: String,
    password: String,
    /// The tenant to work in; default: the user's first active tenant.
    #[schema(value_type = Option<TenantId>)]
    tenant_id: Option<String>,
}

/// The challenge of the password step and a TOTP or recovery code.
#[derive(Deserialize, ToSchema)]
pub(super) struct SecondFactor {
    /// From the password step's answer (valid 5 minutes, single use).
    challenge: String,
    /// A 6-digit TOTP code or a recovery code (`xxxx-xxxx`).
    code: String,
}

/// A new session. The token is also set as the `parla_session` cookie
/// (HttpOnly, SameSite=Lax); send it as `Authorization: Bearer <token>`, or
/// rely on the cookie and send `csrf_token` as `X-CSRF-Token` on every
/// POST/PUT/PATCH/DELETE.
#[derive(Serialize, ToSchema)]
pub(super) struct SessionView {
    /// Session token (43 characters of base64url).
    token: String,
    /// CSRF token of the session (43 characters of base64url).
    csrf_token: String,
    user_id: UserId,
    /// The tenant the session works in; null for a super admin.
    tenant_id: Option<TenantId>,
}

/// Password accepted; a second factor is required.
#[derive(Serialize, ToSchema)]
pub(super) struct SecondFactorRequired {
    /// Always true.
    second_factor_required: bool,
    /// Pass it to `POST /auth/login/second-factor`.
    challenge: String,
}

/// The answer of the password step.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub(super) enum LoginAnswer {
    /// Signed in.
    SignedIn(SessionView),
    /// TOTP is on: a second step is needed.
    SecondFactor(SecondFactorRequired),
}

/// 200 with the new session's tokens and its `Set-Cookie`.
pub(super) fn signed_in(state: &State, s: SignedIn) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            SET_COOKIE,
            session::set_cookie_header(&s.session_token, state.secure_cookies),
        ))
        .json(LoginAnswer::SignedIn(SessionView {
            token: s.session_token,
            csrf_token: s.csrf_token,
            user_id: s.user_id,
            tenant_id: s.tenant_id,
        }))
}

#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "auth",
    request_body = Login,
    responses(
        (status = 200, description = "Signed in (session token, CSRF token, cookie set), or a second factor is required", body = LoginAnswer),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
pub(super) async fn login(
    state: State,
    req: HttpRequest,
    body: JsonBody<Login>,
) -> Result<HttpResponse, ApiError> {
    let mut err = ApiError::validation();
    let tenant: Option<TenantId> = field(&mut err, "tenant_id", body.tenant_id.as_deref());
    if err.has_fields() {
        return Err(err);
    }
    let outcome =
        login_flow::password_step(&state, &body.email, &body.password, tenant, peer_ip(&req))
            .await?;
    Ok(match outcome {
        LoginOutcome::SignedIn(s) => signed_in(&state, s),
        LoginOutcome::NeedsSecondFactor { challenge } => {
            HttpResponse::Ok().json(LoginAnswer::SecondFactor(SecondFactorRequired {
                second_factor_required: true,
                challenge,
            }))
        }
    })
}

#[utoipa::path(
    post,
    path = "/auth/login/second-factor",
    tag = "auth",
    request_body = SecondFactor,
    responses(
        (status = 200, description = "Signed in (cookie set)", body = SessionView),
        (status = 401, response = Unauthorized),
    )
)]
pub(super) async fn second_factor(
    state: State,
    req: HttpRequest,
    body: JsonBody<SecondFactor>,
) -> Result<HttpResponse, ApiError> {
    let s = login_flow::second_factor(&state, &body.challenge, &body.code, peer_ip(&req)).await?;
    Ok(signed_in(&state, s))
}

/// Ends the calling session (API keys have none: 403) and clears the
/// cookie; 204.
#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out; the session cookie is cleared"),
        (status = 403, response = Forbidden),
    )
)]
pub(super) async fn logout(
    state: State,
    req: HttpRequest,
    who: Caller,
) -> Result<HttpResponse, ApiError> {
    let id = who.session_id.as_deref().ok_or_else(ApiError::forbidden)?;
    end_session(&state, id, peer_ip(&req)).await?;
    Ok(HttpResponse::NoContent()
        .insert_header((
            SET_COOKIE,
            session::clear_cookie_header(state.secure_cookies),
        ))
        .finish())
}
