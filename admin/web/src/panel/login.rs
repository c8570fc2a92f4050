//! Login (password, then TOTP or recovery code when enabled), logout, and
//! "log in as" (masquerade) start/end, on top of the login service
//! ([`parla_admin_core::service::login`]).
//!
//! The login forms count against the API login's request limits (429 with
//! `Retry-After`), and their failures against the same login throttle.
//!
//! The login forms exist before any session, so their CSRF protection is a
//! double-submit token: a random value in an `HttpOnly`, `SameSite=Strict`
//! cookie scoped to `/panel/login` that the form must echo.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::state::AdminState;
use parla_admin_core::auth::random;
use parla_admin_core::auth::session::{clear_cookie_header, set_cookie_header};
use parla_admin_core::domain::TenantId;
use parla_admin_core::service::login::{self as login_flow, LoginError, LoginOutcome, SignedIn};

use super::error::{login_status, PanelError};
use super::i18n::Tr;
use super::ui::{html, Chrome};
use super::viewer::{client_ip, cookie, here, redirect, tokens_match, tr_of, Viewer};

/// Cookie of the login forms' double-submit CSRF token.
const LOGIN_CSRF_COOKIE: &str = "parla_login_csrf";

#[derive(Template)]
#[template(path = "panel/login.html")]
struct LoginPage {
    c: Chrome,
    /// `password` or `code`.
    step: &'static str,
    email: String,
    challenge: String,
    login_csrf: String,
    error: Option<&'static str>,
    email_error: Option<&'static str>,
    password_error: Option<&'static str>,
}

impl LoginPage {
    fn new(tr: Tr, req: &HttpRequest, login_csrf: String) -> LoginPage {
        LoginPage {
            c: Chrome::anonymous(tr, tr.s("login.title"), &here(req)),
            step: "password",
            email: String::new(),
            challenge: String::new(),
            login_csrf,
            error: None,
            email_error: None,
            password_error: None,
        }
    }

    /// The page with `status`, (re)setting the login CSRF cookie.
    fn respond(&self, status: StatusCode) -> Result<HttpResponse, PanelError> {
        let mut res = html(self, status)?;
        let cookie = format!(
            "{LOGIN_CSRF_COOKIE}={}; Path=/panel/login; HttpOnly; SameSite=Strict; Max-Age=3600",
            self.login_csrf
        );
        res.headers_mut().append(
            header::SET_COOKIE,
            header::HeaderValue::from_str(&cookie).map_err(PanelError::internal)?,
        );
        Ok(res)
    }
}

/// The login CSRF token of the request's cookie, or a new one.
fn login_token(req: &HttpRequest) -> String {
    cookie(req, LOGIN_CSRF_COOKIE)
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| random::hex(&random::bytes::<32>()))
}

/// 403 unless the form echoes the login CSRF cookie.
fn check_login_csrf(req: &HttpRequest, submitted: &str) -> Result<(), PanelError> {
    match cookie(req, LOGIN_CSRF_COOKIE) {
        Some(expected) if tokens_match(&expected, submitted) => Ok(()),
        _ => Err(PanelError::Forbidden),
    }
}

/// 429 with `Retry-After` when the client IP is over the login request
/// limits (the same buckets as the API's `/auth/login…`).
fn limit(state: &AdminState, req: &HttpRequest) -> Result<(), PanelError> {
    state
        .check_login_rate(client_ip(req))
        .map_err(PanelError::TooManyRequests)
}

/// `GET /panel/login` (signed-in users go to the dashboard).
pub(crate) async fn form(
    state: web::Data<AdminState>,
    req: HttpRequest,
) -> Result<HttpResponse, PanelError> {
    if Viewer::load(&state, &req).await.is_ok() {
        return Ok(redirect("/panel/"));
    }
    LoginPage::new(tr_of(&req), &req, login_token(&req)).respond(StatusCode::OK)
}

#[derive(Deserialize)]
pub(crate) struct PasswordForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf_token: String,
}

/// `POST /panel/login`: the password step.
pub(crate) async fn submit(
    state: web::Data<AdminState>,
    req: HttpRequest,
    f: web::Form<PasswordForm>,
) -> Result<HttpResponse, PanelError> {
    limit(&state, &req)?;
    check_login_csrf(&req, &f.csrf_token)?;
    let tr = tr_of(&req);
    let mut page = LoginPage::new(tr, &req, login_token(&req));
    page.email = f.email.trim().chars().take(320).collect();
    if page.email.is_empty() {
        page.email_error = Some(tr.s("login.email_required"));
    }
    if f.password.is_empty() {
        page.password_error = Some(tr.s("login.password_required"));
    }
    if page.email_error.is_some() || page.password_error.is_some() {
        return page.respond(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let ip = client_ip(&req);
    match login_flow::password_step(&state, &page.email, &f.password, None, ip).await {
        Ok(LoginOutcome::SignedIn(s)) => signed_in(&state, s, "/panel/"),
        Ok(LoginOutcome::NeedsSecondFactor { challenge }) => {
            page.step = "code";
            page.challenge = challenge;
            page.respond(StatusCode::OK)
        }
        Err(e) => failed(page, &e),
    }
}

#[derive(Deserialize)]
pub(crate) struct CodeForm {
    #[serde(default)]
    challenge: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf_token: String,
}

/// `POST /panel/login/2fa`: the TOTP (or recovery code) step.
pub(crate) async fn second_factor(
    state: web::Data<AdminState>,
    req: HttpRequest,
    f: web::Form<CodeForm>,
) -> Result<HttpResponse, PanelError> {
    limit(&state, &req)?;
    check_login_csrf(&req, &f.csrf_token)?;
    let tr = tr_of(&req);
    let mut page = LoginPage::new(tr, &req, login_token(&req));
    page.step = "code";
    page.challenge = f.challenge.chars().take(64).collect();
    if f.code.trim().is_empty() {
        page.password_error = Some(tr.s("login.code_required"));
        return page.respond(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let ip = client_ip(&req);
    match login_flow::second_factor(&state, &page.challenge, f.code.trim(), ip).await {
        Ok(s) => signed_in(&state, s, "/panel/"),
        Err(e) => failed(page, &e),
    }
}

/// The login page again with the reason of `e`.
fn failed(mut page: LoginPage, e: &LoginError) -> Result<HttpResponse, PanelError> {
    let tr = page.c.tr;
    let status = StatusCode::from_u16(login_status(e)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    page.error = Some(match status.as_u16() {
        401 if page.step == "code" => tr.s("login.wrong_code"),
        401 => tr.s("login.wrong_credentials"),
        403 if matches!(e, LoginError::TenantSuspended) => tr.s("login.tenant_suspended"),
        403 => tr.s("login.no_access"),
        429 => tr.s("login.too_many"),
        _ => return Err(PanelError::of_login(e)),
    });
    let mut res = page.respond(status)?;
    if let LoginError::TooManyRequests(secs) = e {
        res.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(*secs));
    }
    Ok(res)
}

/// 303 to `to` with the session cookie of `s` (and the login CSRF cookie
/// removed).
fn signed_in(state: &AdminState, s: SignedIn, to: &str) -> Result<HttpResponse, PanelError> {
    let mut res = redirect(to);
    let headers = res.headers_mut();
    for c in [
        set_cookie_header(&s.session_token, state.secure_cookies),
        format!("{LOGIN_CSRF_COOKIE}=; Path=/panel/login; HttpOnly; SameSite=Strict; Max-Age=0"),
    ] {
        headers.append(
            header::SET_COOKIE,
            header::HeaderValue::from_str(&c).map_err(PanelError::internal)?,
        );
    }
    Ok(res)
}

/// The CSRF token of a form without other fields.
#[derive(Deserialize)]
pub(crate) struct CsrfOnly {
    #[serde(default)]
    pub csrf_token: String,
}

/// `POST /panel/logout`.
pub(crate) async fn logout(
    state: web::Data<AdminState>,
    req: HttpRequest,
    f: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load_post(&state, &req, &f.csrf_token).await?;
    login_flow::logout(&state, &v.token).await?;
    let mut res = redirect("/panel/login");
    res.headers_mut().append(
        header::SET_COOKIE,
        header::HeaderValue::from_str(&clear_cookie_header(state.secure_cookies))
            .map_err(PanelError::internal)?,
    );
    Ok(res)
}

/// `POST /panel/tenants/{tid}/masquerade`: the super admin becomes the
/// tenant's first admin (a banner shows it on every page; audited by the
/// login service as `masquerade.start`).
pub(crate) async fn start_masquerade(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<String>,
    f: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load_post(&state, &req, &f.csrf_token).await?;
    if !v.is_super() {
        return Err(PanelError::NotFound);
    }
    let tenant: TenantId = path.parse().map_err(|_| PanelError::NotFound)?;
    match login_flow::start_masquerade(&state, &v.who, tenant, client_ip(&req)).await {
        Ok(s) => signed_in(&state, s, &format!("/panel/t/{tenant}/")),
        Err(e) if e.code() == "validation" || e.code() == "tenant_suspended" => {
            let tr = v.tr;
            let key = if e.code() == "validation" {
                "masq.no_admin"
            } else {
                "login.tenant_suspended"
            };
            let page = super::ui::MessagePage {
                c: v.chrome(tr.s("masq.title"), super::ui::Nav::Tenants, None),
                heading: tr.s("masq.title").to_owned(),
                paragraphs: vec![tr.s(key).to_owned()],
                code: vec![],
                link: Some(super::ui::Link {
                    href: "/panel/tenants".to_owned(),
                    label: tr.s("nav.tenants"),
                }),
            };
            html(&page, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /panel/masquerade/end`: back to the super admin's own session.
pub(crate) async fn end_masquerade(
    state: web::Data<AdminState>,
    req: HttpRequest,
    f: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load_post(&state, &req, &f.csrf_token).await?;
    let s = login_flow::end_masquerade(&state, &v.token, client_ip(&req)).await?;
    signed_in(&state, s, "/panel/tenants")
}
