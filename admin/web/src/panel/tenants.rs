//! Tenants (super admin only; anyone else gets 404): list, create,
//! suspend/activate, delete, open, and "log in as" (see `login.rs`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::state::AdminState;
use parla_admin_core::domain::{TenantId, TenantStatus};
use parla_admin_core::service::tenants as service;
use parla_admin_core::store::Tenant;

use super::audit_log::page_of;
use super::error::PanelError;
use super::fmt;
use super::outcome::{ctx, form_errors};
use super::ui::{html, Action, Cell, Field, Form, ListPage, Nav, PageQuery, Pager, Row, Table};
use super::viewer::{redirect, Viewer};

#[derive(Deserialize, Default)]
pub(crate) struct CreateForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    plan: String,
}

fn create_form(v: &Viewer, f: &CreateForm) -> Form {
    let tr = v.tr;
    Form::post(
        "/panel/tenants",
        tr.s("form.create"),
        vec![
            Field::input("text", "name", tr.s("tenants.name"), &f.name).required(),
            Field::input("text", "slug", tr.s("tenants.slug"), &f.slug)
                .required()
                .help(tr.s("tenants.slug_help")),
            Field::input("text", "plan", tr.s("tenants.plan"), &f.plan)
                .help(tr.s("tenants.plan_help")),
        ],
    )
}

fn row(v: &Viewer, t: &Tenant) -> Row {
    let tr = v.tr;
    let base = format!("/panel/tenants/{}", t.id);
    let active = t.status == TenantStatus::Active;
    let mut actions = vec![];
    if active {
        actions.push(Action::post(
            tr.s("tenants.log_in_as"),
            format!("{base}/masquerade"),
        ));
    }
    let (label, to) = if active {
        ("tenants.suspend", TenantStatus::Suspended)
    } else {
        ("tenants.activate", TenantStatus::Active)
    };
    actions.push(Action::post(tr.s(label), format!("{base}/status")).hidden("status", to.as_str()));
    actions.push(Action::danger(
        tr.s("form.delete"),
        format!("{base}/delete"),
        tr.s("tenants.confirm_delete"),
    ));
    Row {
        cells: vec![
            Cell::link(t.name.to_string(), format!("/panel/t/{}/", t.id)),
            Cell::text(t.slug.to_string()).class("mono"),
            Cell::text(tr.value("tenant_status", t.status.as_str())).class(if active {
                "badge ok"
            } else {
                "badge warn"
            }),
            Cell::text(t.plan.to_string()),
            Cell::text(fmt::datetime(t.created_at)).class("nowrap"),
        ],
        actions,
    }
}

async fn render(
    state: &AdminState,
    v: &Viewer,
    page_raw: &str,
    form: Form,
    status: StatusCode,
) -> Result<HttpResponse, PanelError> {
    let tr = v.tr;
    let page = page_of(page_raw, 50);
    let tenants = state.store.tenants().list(page).await?;
    let rows = tenants.items.iter().map(|t| row(v, t)).collect();
    let list = ListPage::new(
        v.chrome(tr.s("tenants.title"), Nav::Tenants, None),
        Table::new(
            tr,
            &[
                "tenants.name",
                "tenants.slug",
                "tenants.status",
                "tenants.plan",
                "list.created",
            ],
            rows,
        ),
        Pager::new(tr, page, tenants.total, |n| {
            format!("/panel/tenants?page={n}")
        }),
    )
    .form(tr.s("tenants.new"), Some(form));
    html(&list, status)
}

fn super_only(v: &Viewer) -> Result<(), PanelError> {
    v.is_super().then_some(()).ok_or(PanelError::NotFound)
}

/// `GET /panel/tenants`.
pub(crate) async fn list(
    state: web::Data<AdminState>,
    req: HttpRequest,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load(&state, &req).await?;
    super_only(&v)?;
    let form = create_form(&v, &CreateForm::default());
    render(&state, &v, &q.page, form, StatusCode::OK).await
}

/// `POST /panel/tenants`.
pub(crate) async fn create(
    state: web::Data<AdminState>,
    req: HttpRequest,
    f: web::Form<CreateForm>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load_post(&state, &req, &f.csrf_token).await?;
    super_only(&v)?;
    let actor = v.actor(&req);
    let plan = Some(f.plan.as_str());
    let errors = match service::create(ctx(&state, &actor), &f.name, &f.slug, plan).await {
        Ok(_) => return Ok(redirect("/panel/tenants")),
        Err(e) => form_errors(v.tr, e, &["name", "slug", "plan"])?,
    };
    let form = create_form(&v, &f).with_errors(&errors);
    render(&state, &v, "", form, StatusCode::UNPROCESSABLE_ENTITY).await
}

#[derive(Deserialize)]
pub(crate) struct StatusForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    status: String,
}

async fn load(
    state: &AdminState,
    req: &HttpRequest,
    tid: &str,
    csrf: &str,
) -> Result<(Viewer, Tenant), PanelError> {
    let v = Viewer::load_post(state, req, csrf).await?;
    super_only(&v)?;
    let id: TenantId = tid.parse().map_err(|_| PanelError::NotFound)?;
    let t = state
        .store
        .tenants()
        .get(id)
        .await?
        .ok_or(PanelError::NotFound)?;
    Ok((v, t))
}

/// `POST /panel/tenants/{tid}/status` (`active` or `suspended`).
pub(crate) async fn set_status(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<String>,
    f: web::Form<StatusForm>,
) -> Result<HttpResponse, PanelError> {
    let (v, before) = load(&state, &req, &path, &f.csrf_token).await?;
    let status: TenantStatus = f.status.parse().map_err(|_| PanelError::BadRequest)?;
    let status = Some(status.as_str());
    service::update(ctx(&state, &v.actor(&req)), before.id, None, status, None).await?;
    Ok(redirect("/panel/tenants"))
}

/// `POST /panel/tenants/{tid}/delete`.
pub(crate) async fn delete(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<String>,
    f: web::Form<super::login::CsrfOnly>,
) -> Result<HttpResponse, PanelError> {
    let (v, before) = load(&state, &req, &path, &f.csrf_token).await?;
    service::delete(ctx(&state, &v.actor(&req)), before.id).await?;
    Ok(redirect("/panel/tenants"))
}
