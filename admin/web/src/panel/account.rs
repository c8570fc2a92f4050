//! The viewer's own account: password change and TOTP enrolment (secret
//! and `otpauth://` URI, confirmation with a code, recovery codes shown
//! once), through the login service.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::state::AdminState;
use parla_admin_core::auth::PasswordPolicy;
use parla_admin_core::service::login::{self as login_flow, LoginError, TotpEnrolment};

use super::error::{login_status, PanelError};
use super::login::CsrfOnly;
use super::ui::{html, Chrome, Field, FieldErrors, Form, Link, MessagePage, Nav};
use super::viewer::{client_ip, Viewer};

/// TOTP state of the account.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Totp {
    Off,
    /// A secret was issued but not confirmed yet.
    Pending,
    On,
}

#[derive(Template)]
#[template(path = "panel/account.html")]
struct AccountPage {
    c: Chrome,
    /// False while masquerading: credentials are the user's own business.
    editable: bool,
    password_form: Option<Form>,
    totp_on: bool,
    totp_pending: bool,
    enrolment: Option<TotpEnrolment>,
    confirm_form: Option<Form>,
    disable_form: Option<Form>,
}

impl AccountPage {
    async fn new(state: &AdminState, v: &Viewer) -> Result<AccountPage, PanelError> {
        let tr = v.tr;
        let totp = match v.who.user_id {
            Some(id) => match state.store.users().get(id).await? {
                Some(u) if login_flow::totp_enabled(&u) => Totp::On,
                Some(u) if u.totp_secret.is_some() => Totp::Pending,
                _ => Totp::Off,
            },
            None => Totp::Off,
        };
        Ok(AccountPage {
            c: v.chrome(tr.s("account.title"), Nav::Account, None),
            editable: v.who.masquerading_from.is_none(),
            password_form: Some(Form::post(
                "/panel/account/password",
                tr.s("account.change_password"),
                vec![
                    Field::input("password", "current_password", tr.s("account.current"), "")
                        .required(),
                    Field::input("password", "new_password", tr.s("account.new"), "")
                        .required()
                        .help(tr.s("account.policy")),
                    Field::input("password", "confirm_password", tr.s("account.confirm"), "")
                        .required(),
                ],
            )),
            totp_on: totp == Totp::On,
            totp_pending: totp == Totp::Pending,
            enrolment: None,
            confirm_form: Some(Form::post(
                "/panel/account/totp/confirm",
                tr.s("account.totp_confirm"),
                vec![Field::input("text", "code", tr.s("account.totp_code"), "").required()],
            )),
            disable_form: Some(Form::post(
                "/panel/account/totp/disable",
                tr.s("account.totp_disable"),
                vec![Field::input("password", "proof", tr.s("account.totp_proof"), "").required()],
            )),
        })
    }

    fn notice(mut self, key: &str) -> AccountPage {
        self.c.notice = Some(self.c.tr.s(key).to_owned());
        self
    }
}

/// `GET /panel/account`.
pub(crate) async fn page(
    state: web::Data<AdminState>,
    req: HttpRequest,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load(&state, &req).await?;
    html(&AccountPage::new(&state, &v).await?, StatusCode::OK)
}

#[derive(Deserialize)]
pub(crate) struct PasswordForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

/// `POST /panel/account/password`.
pub(crate) async fn change_password(
    state: web::Data<AdminState>,
    req: HttpRequest,
    f: web::Form<PasswordForm>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load_post(&state, &req, &f.csrf_token).await?;
    let tr = v.tr;
    let mut page = AccountPage::new(&state, &v).await?;
    let mut errors = FieldErrors::default();
    if f.current_password.is_empty() {
        errors.add("current_password", tr.s("err.required"));
    }
    if PasswordPolicy::check(&f.new_password).is_err() {
        errors.add("new_password", tr.s("err.password_policy"));
    }
    if f.new_password != f.confirm_password {
        errors.add("confirm_password", tr.s("err.password_mismatch"));
    }
    if errors.is_empty() {
        let ip = client_ip(&req);
        match login_flow::change_password(&state, &v.who, &f.current_password, &f.new_password, ip)
            .await
        {
            Ok(()) => return html(&page.notice("account.password_changed"), StatusCode::OK),
            Err(e) => match status(&e) {
                422 => errors.add("current_password", tr.s("err.wrong_password")),
                429 => errors.add("current_password", tr.s("login.too_many")),
                _ => return Err(e.into()),
            },
        }
    }
    page.password_form = page.password_form.map(|f| f.with_errors(&errors));
    html(&page, StatusCode::UNPROCESSABLE_ENTITY)
}

fn status(e: &LoginError) -> u16 {
    login_status(e)
}

/// `POST /panel/account/totp/begin`: shows the new secret and its URI.
pub(crate) async fn totp_begin(
    state: web::Data<AdminState>,
    req: HttpRequest,
    f: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load_post(&state, &req, &f.csrf_token).await?;
    match login_flow::totp_begin(&state, &v.who, client_ip(&req)).await {
        Ok(enrolment) => {
            let mut page = AccountPage::new(&state, &v).await?;
            page.enrolment = Some(enrolment);
            html(&page, StatusCode::OK)
        }
        Err(e) if status(&e) == 409 => {
            let page = AccountPage::new(&state, &v).await?;
            html(
                &page.notice("account.totp_already_on"),
                StatusCode::CONFLICT,
            )
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub(crate) struct CodeForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    proof: String,
}

/// `POST /panel/account/totp/confirm`: turns TOTP on and shows the
/// recovery codes, once.
pub(crate) async fn totp_confirm(
    state: web::Data<AdminState>,
    req: HttpRequest,
    f: web::Form<CodeForm>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load_post(&state, &req, &f.csrf_token).await?;
    let tr = v.tr;
    let mut errors = FieldErrors::default();
    if f.code.trim().is_empty() {
        errors.add("code", tr.s("err.required"));
    } else {
        match login_flow::totp_confirm(&state, &v.who, f.code.trim(), client_ip(&req)).await {
            Ok(codes) => {
                let page = MessagePage {
                    c: v.chrome(tr.s("account.recovery_title"), Nav::Account, None),
                    heading: tr.s("account.recovery_title").to_owned(),
                    paragraphs: vec![tr.s("account.recovery_text").to_owned()],
                    code: codes,
                    link: Some(Link {
                        href: "/panel/account".to_owned(),
                        label: tr.s("account.title"),
                    }),
                };
                return html(&page, StatusCode::OK);
            }
            Err(e) => match status(&e) {
                422 => errors.add("code", tr.s("login.wrong_code")),
                429 => errors.add("code", tr.s("login.too_many")),
                409 => errors.add("code", tr.s("account.totp_already_on")),
                _ => return Err(e.into()),
            },
        }
    }
    let mut page = AccountPage::new(&state, &v).await?;
    page.confirm_form = page.confirm_form.map(|f| f.with_errors(&errors));
    html(&page, StatusCode::UNPROCESSABLE_ENTITY)
}

/// `POST /panel/account/totp/disable` (proof: a code or the password).
pub(crate) async fn totp_disable(
    state: web::Data<AdminState>,
    req: HttpRequest,
    f: web::Form<CodeForm>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load_post(&state, &req, &f.csrf_token).await?;
    let tr = v.tr;
    let mut errors = FieldErrors::default();
    if f.proof.trim().is_empty() {
        errors.add("proof", tr.s("err.required"));
    } else {
        match login_flow::totp_disable(&state, &v.who, f.proof.trim(), client_ip(&req)).await {
            Ok(()) => {
                let page = AccountPage::new(&state, &v).await?;
                return html(&page.notice("account.totp_disabled"), StatusCode::OK);
            }
            Err(e) => match status(&e) {
                422 => errors.add("proof", tr.s("account.wrong_proof")),
                429 => errors.add("proof", tr.s("login.too_many")),
                _ => return Err(e.into()),
            },
        }
    }
    let mut page = AccountPage::new(&state, &v).await?;
    page.disable_form = page.disable_form.map(|f| f.with_errors(&errors));
    html(&page, StatusCode::UNPROCESSABLE_ENTITY)
}
