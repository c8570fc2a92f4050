//! SIP trunks of a tenant: list, create, edit (read-only for the tenant
//! `agent` role), delete (super admin). The digest password is write-only
//! ("•••• set").

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::state::AdminState;
use parla_admin_core::domain::{Transport, TrunkId};
use parla_admin_core::service::trunks::{self as service, TrunkInput};
use parla_admin_core::store::SipTrunk;

use super::audit_log::page_of;
use super::error::PanelError;
use super::login::CsrfOnly;
use super::outcome::{ctx, form_errors};
use super::ui::{
    html, Action, Cell, Field, FieldErrors, Form, FormPage, Link, ListPage, Nav, PageQuery, Pager,
    Row, Table,
};
use super::viewer::{redirect, Scoped, Viewer};

/// The form's fields, as named in the service's errors.
const FIELDS: &[&str] = &[
    "name",
    "host",
    "port",
    "transport",
    "auth_user",
    "auth_password",
    "register",
];

#[derive(Deserialize, Default)]
pub(crate) struct TrunkForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    port: String,
    #[serde(default)]
    transport: String,
    #[serde(default)]
    auth_user: String,
    #[serde(default)]
    auth_password: String,
    #[serde(default)]
    auth_password_clear: String,
    #[serde(default)]
    register: String,
}

impl TrunkForm {
    fn of(t: &SipTrunk) -> TrunkForm {
        TrunkForm {
            name: t.name.to_string(),
            host: t.host.to_string(),
            port: t.port.to_string(),
            transport: t.transport.as_str().to_owned(),
            auth_user: t.auth_user.clone().unwrap_or_default(),
            register: if t.register { "on" } else { "" }.to_owned(),
            ..Default::default()
        }
    }

    fn fields(&self, v: &Viewer, password_set: bool) -> Vec<Field> {
        let tr = v.tr;
        let transports = Transport::ALL
            .iter()
            .map(|t| (t.as_str().to_owned(), t.as_str().to_uppercase()))
            .collect();
        let transport = if self.transport.is_empty() {
            "udp"
        } else {
            self.transport.as_str()
        };
        let port = if self.port.is_empty() {
            "5060"
        } else {
            self.port.as_str()
        };
        vec![
            Field::input("text", "name", tr.s("trunks.name"), &self.name).required(),
            Field::input("text", "host", tr.s("trunks.host"), &self.host).required(),
            Field::input("number", "port", tr.s("trunks.port"), port),
            Field::select("transport", tr.s("trunks.transport"), transports, transport),
            Field::input(
                "text",
                "auth_user",
                tr.s("trunks.auth_user"),
                &self.auth_user,
            ),
            Field::secret("auth_password", tr.s("trunks.password"), password_set),
            Field::checkbox("register", tr.s("trunks.register"), self.register == "on"),
        ]
    }

    /// The service's input (a port that is not a number is sent as 0,
    /// which the service refuses on `port`).
    fn input(&self) -> TrunkInput {
        let password = match self.auth_password.as_str() {
            "" if self.auth_password_clear == "on" => Some(None),
            "" => None,
            p => Some(Some(p.to_owned())),
        };
        TrunkInput {
            name: Some(self.name.trim().to_owned()),
            host: Some(self.host.trim().to_owned()),
            port: Some(self.port.trim().parse::<i64>().unwrap_or(0)),
            transport: Some(self.transport.trim().to_owned()),
            auth_user: Some(Some(self.auth_user.trim().to_owned())),
            auth_password: password,
            register: Some(self.register == "on"),
        }
    }
}

fn form_page(
    v: &Viewer,
    t: &Scoped,
    trunk: Option<&SipTrunk>,
    f: &TrunkForm,
    errors: &FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, PanelError> {
    let tr = v.tr;
    let base = format!("/panel/t/{}/trunks", t.tenant.id);
    let (heading, action, password_set) = match trunk {
        Some(k) => (
            k.name.to_string(),
            format!("{base}/{}", k.id),
            k.auth_password_enc.is_some(),
        ),
        None => (tr.s("trunks.new").to_owned(), base.clone(), false),
    };
    let form = Form::post(action, tr.s("form.save"), f.fields(v, password_set))
        .with_errors(errors)
        .read_only(!v.can_manage());
    let mut actions = vec![];
    if let (Some(k), true) = (trunk, v.can_delete()) {
        actions.push(Action::danger(
            tr.s("form.delete"),
            format!("{base}/{}/delete", k.id),
            tr.s("trunks.confirm_delete"),
        ));
    }
    let page = FormPage {
        c: v.chrome(&heading, Nav::Trunks, Some(&t.tenant)),
        heading,
        form,
        actions,
        back: Link {
            href: base,
            label: tr.s("trunks.title"),
        },
    };
    html(&page, status)
}

/// `GET /panel/t/{tid}/trunks`.
pub(crate) async fn list(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load(&state, &req).await?;
    let t = v.tenant(&state, &path).await?;
    let tr = v.tr;
    let page = page_of(&q.page, 50);
    let trunks = state.store.trunks().list(&t.scope, page).await?;
    let base = format!("/panel/t/{}/trunks", t.tenant.id);
    let rows = trunks
        .items
        .iter()
        .map(|k| {
            let (pw, class) = if k.auth_password_enc.is_some() {
                (tr.s("secret.set_short"), "badge ok")
            } else {
                (tr.s("secret.not_set"), "badge")
            };
            Row {
                cells: vec![
                    Cell::link(k.name.to_string(), format!("{base}/{}", k.id)),
                    Cell::text(format!("{}:{}", k.host, k.port)).class("mono"),
                    Cell::text(k.transport.as_str().to_uppercase()),
                    Cell::text(k.auth_user.clone().unwrap_or_else(|| "—".to_owned())),
                    Cell::text(pw).class(class),
                    Cell::text(if k.register {
                        tr.s("form.yes")
                    } else {
                        tr.s("form.no")
                    }),
                ],
                actions: vec![],
            }
        })
        .collect();
    let links = if v.can_manage() {
        vec![Link {
            href: format!("{base}/new"),
            label: tr.s("trunks.new"),
        }]
    } else {
        vec![]
    };
    let list = ListPage::new(
        v.chrome(tr.s("trunks.title"), Nav::Trunks, Some(&t.tenant)),
        Table::new(
            tr,
            &[
                "trunks.name",
                "trunks.host",
                "trunks.transport",
                "trunks.auth_user",
                "trunks.password",
                "trunks.register",
            ],
            rows,
        ),
        Pager::new(tr, page, trunks.total, |n| format!("{base}?page={n}")),
    )
    .links(links);
    html(&list, StatusCode::OK)
}

/// `GET /panel/t/{tid}/trunks/new`.
pub(crate) async fn new_form(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load(&state, &req).await?;
    let t = v.tenant(&state, &path).await?;
    v.require(v.can_manage())?;
    let f = TrunkForm {
        register: "on".to_owned(),
        ..Default::default()
    };
    form_page(&v, &t, None, &f, &FieldErrors::default(), StatusCode::OK)
}

async fn load(
    state: &AdminState,
    v: &Viewer,
    path: &(String, String),
) -> Result<(Scoped, SipTrunk), PanelError> {
    let t = v.tenant(state, &path.0).await?;
    let id: TrunkId = path.1.parse().map_err(|_| PanelError::NotFound)?;
    let k = state
        .store
        .trunks()
        .get(&t.scope, id)
        .await?
        .ok_or(PanelError::NotFound)?;
    Ok((t, k))
}

/// `GET /panel/t/{tid}/trunks/{id}`.
pub(crate) async fn edit_form(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load(&state, &req).await?;
    let (t, k) = load(&state, &v, &path).await?;
    form_page(
        &v,
        &t,
        Some(&k),
        &TrunkForm::of(&k),
        &FieldErrors::default(),
        StatusCode::OK,
    )
}

/// Saves the form as a new trunk or over `before`, audited; the field
/// errors if the input is invalid or the name taken.
async fn save(
    state: &AdminState,
    req: &HttpRequest,
    v: &Viewer,
    t: &Scoped,
    f: &TrunkForm,
    before: Option<&SipTrunk>,
) -> Result<Result<SipTrunk, FieldErrors>, PanelError> {
    let actor = v.actor(req);
    let input = f.input();
    let saved = match before {
        None => service::create(ctx(state, &actor), &t.scope, &input).await,
        Some(b) => service::update(ctx(state, &actor), &t.scope, b.id, &input).await,
    };
    match saved {
        Ok(k) => Ok(Ok(k)),
        Err(e) => form_errors(v.tr, e, FIELDS).map(Err),
    }
}

/// `POST /panel/t/{tid}/trunks`.
pub(crate) async fn create(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<String>,
    f: web::Form<TrunkForm>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load_post(&state, &req, &f.csrf_token).await?;
    let t = v.tenant(&state, &path).await?;
    v.require(v.can_manage())?;
    match save(&state, &req, &v, &t, &f, None).await? {
        Ok(_) => Ok(redirect(&format!("/panel/t/{}/trunks", t.tenant.id))),
        Err(errors) => form_page(&v, &t, None, &f, &errors, StatusCode::UNPROCESSABLE_ENTITY),
    }
}

/// `POST /panel/t/{tid}/trunks/{id}`.
pub(crate) async fn update(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    f: web::Form<TrunkForm>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load_post(&state, &req, &f.csrf_token).await?;
    let (t, before) = load(&state, &v, &path).await?;
    v.require(v.can_manage())?;
    match save(&state, &req, &v, &t, &f, Some(&before)).await? {
        Ok(_) => Ok(redirect(&format!("/panel/t/{}/trunks", t.tenant.id))),
        Err(errors) => form_page(
            &v,
            &t,
            Some(&before),
            &f,
            &errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    }
}

/// `POST /panel/t/{tid}/trunks/{id}/delete` (super admin).
pub(crate) async fn delete(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    f: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load_post(&state, &req, &f.csrf_token).await?;
    let (t, before) = load(&state, &v, &path).await?;
    v.require(v.can_delete())?;
    service::delete(ctx(&state, &v.actor(&req)), &t.scope, before.id).await?;
    Ok(redirect(&format!("/panel/t/{}/trunks", t.tenant.id)))
}
