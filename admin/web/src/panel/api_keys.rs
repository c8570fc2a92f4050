//! API keys of a tenant: list; create (the key is shown once); revoke;
//! delete (super admin only).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::state::AdminState;
use parla_admin_core::domain::ApiKeyId;
use parla_admin_core::service::api_keys as service;
use parla_admin_core::store::ApiKey;

use super::audit_log::page_of;
use super::error::PanelError;
use super::fmt;
use super::login::CsrfOnly;
use super::outcome::{ctx, form_errors};
use super::ui::{
    html, Action, Cell, Field, Form, Link, ListPage, MessagePage, Nav, PageQuery, Pager, Row, Table,
};
use super::viewer::{redirect, Scoped, Viewer};

#[derive(Deserialize, Default)]
pub(crate) struct CreateForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
}

fn create_form(v: &Viewer, t: &Scoped, f: &CreateForm) -> Form {
    let tr = v.tr;
    Form::post(
        format!("/panel/t/{}/api-keys", t.tenant.id),
        tr.s("form.create"),
        vec![Field::input("text", "name", tr.s("keys.name"), &f.name).required()],
    )
}

async fn render(
    state: &AdminState,
    v: &Viewer,
    t: &Scoped,
    page_raw: &str,
    form: Form,
    status: StatusCode,
) -> Result<HttpResponse, PanelError> {
    let tr = v.tr;
    let page = page_of(page_raw, 50);
    let keys = state.store.api_keys().list(&t.scope, page).await?;
    let base = format!("/panel/t/{}/api-keys", t.tenant.id);
    let rows = keys
        .items
        .iter()
        .map(|k| {
            let mut actions = vec![];
            if v.can_manage() && k.is_active() {
                actions.push(Action::danger(
                    tr.s("keys.revoke"),
                    format!("{base}/{}/revoke", k.id),
                    tr.s("keys.confirm_revoke"),
                ));
            }
            if v.can_delete() {
                actions.push(Action::danger(
                    tr.s("form.delete"),
                    format!("{base}/{}/delete", k.id),
                    tr.s("keys.confirm_delete"),
                ));
            }
            let (state_key, class) = if k.is_active() {
                ("keys.active", "badge ok")
            } else {
                ("keys.revoked", "badge bad")
            };
            Row {
                cells: vec![
                    Cell::text(k.name.to_string()),
                    Cell::text(format!("{}…", k.prefix)).class("mono"),
                    Cell::text(tr.s(state_key)).class(class),
                    Cell::text(fmt::datetime(k.created_at)).class("nowrap"),
                    Cell::text(fmt::datetime_opt(k.last_used_at)).class("nowrap"),
                ],
                actions,
            }
        })
        .collect();
    let list = ListPage::new(
        v.chrome(tr.s("keys.title"), Nav::ApiKeys, Some(&t.tenant)),
        Table::new(
            tr,
            &[
                "keys.name",
                "keys.prefix",
                "keys.state",
                "list.created",
                "keys.last_used",
            ],
            rows,
        ),
        Pager::new(tr, page, keys.total, |n| format!("{base}?page={n}")),
    )
    .form(tr.s("keys.new"), v.can_manage().then_some(form));
    html(&list, status)
}

/// `GET /panel/t/{tid}/api-keys`.
pub(crate) async fn list(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load(&state, &req).await?;
    let t = v.tenant(&state, &path).await?;
    let form = create_form(&v, &t, &CreateForm::default());
    render(&state, &v, &t, &q.page, form, StatusCode::OK).await
}

/// `POST /panel/t/{tid}/api-keys`: creates a key and shows it once.
pub(crate) async fn create(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<String>,
    f: web::Form<CreateForm>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load_post(&state, &req, &f.csrf_token).await?;
    let t = v.tenant(&state, &path).await?;
    v.require(v.can_manage())?;
    let tr = v.tr;
    let actor = v.actor(&req);
    let errors = match service::create(ctx(&state, &actor), &t.scope, &f.name).await {
        Ok(created) => {
            let page = MessagePage {
                c: v.chrome(tr.s("keys.created"), Nav::ApiKeys, Some(&t.tenant)),
                heading: tr.s("keys.created").to_owned(),
                paragraphs: vec![tr.s("keys.shown_once").to_owned()],
                code: vec![created.plaintext],
                link: Some(Link {
                    href: format!("/panel/t/{}/api-keys", t.tenant.id),
                    label: tr.s("keys.title"),
                }),
            };
            return html(&page, StatusCode::OK);
        }
        Err(e) => form_errors(tr, e, &["name"])?,
    };
    let form = create_form(&v, &t, &f).with_errors(&errors);
    render(&state, &v, &t, "", form, StatusCode::UNPROCESSABLE_ENTITY).await
}

async fn load(
    state: &AdminState,
    req: &HttpRequest,
    path: &(String, String),
    csrf: &str,
) -> Result<(Viewer, Scoped, ApiKey), PanelError> {
    let v = Viewer::load_post(state, req, csrf).await?;
    let t = v.tenant(state, &path.0).await?;
    let id: ApiKeyId = path.1.parse().map_err(|_| PanelError::NotFound)?;
    let k = state
        .store
        .api_keys()
        .get(&t.scope, id)
        .await?
        .ok_or(PanelError::NotFound)?;
    Ok((v, t, k))
}

/// `POST /panel/t/{tid}/api-keys/{id}/revoke`.
pub(crate) async fn revoke(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    f: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PanelError> {
    let (v, t, before) = load(&state, &req, &path, &f.csrf_token).await?;
    v.require(v.can_manage())?;
    service::revoke(ctx(&state, &v.actor(&req)), &t.scope, before.id).await?;
    Ok(redirect(&format!("/panel/t/{}/api-keys", t.tenant.id)))
}

/// `POST /panel/t/{tid}/api-keys/{id}/delete` (super admin).
pub(crate) async fn delete(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    f: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PanelError> {
    let (v, t, before) = load(&state, &req, &path, &f.csrf_token).await?;
    v.require(v.can_delete())?;
    service::delete(ctx(&state, &v.actor(&req)), &t.scope, before.id).await?;
    Ok(redirect(&format!("/panel/t/{}/api-keys", t.tenant.id)))
}
