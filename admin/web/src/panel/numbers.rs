//! Phone numbers of a tenant: list, add (super admin only: numbers are the
//! operator's inventory, created on the tenant's page to assign them to
//! it; E.164 or SIP URI, wildcards included), route to one of the tenant's
//! agents (tenant admins), release (super admin).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::state::AdminState;
use parla_admin_core::domain::{AgentId, NumberId};
use parla_admin_core::service::numbers as service;
use parla_admin_core::store::PhoneNumber;

use super::audit_log::page_of;
use super::calls::agent_names;
use super::error::PanelError;
use super::fmt;
use super::i18n::Tr;
use super::login::CsrfOnly;
use super::outcome::{ctx, form_errors};
use super::ui::{
    html, Action, Cell, Field, FieldErrors, Form, FormPage, Link, ListPage, Nav, PageQuery, Pager,
    Row, Table,
};
use super::viewer::{redirect, Scoped, Viewer};

#[derive(Deserialize, Default)]
pub(crate) struct NumberForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    agent: String,
}

/// Whether the viewer may add numbers: the (not masquerading) super admin.
fn can_create(v: &Viewer) -> bool {
    v.who.principal.can_manage_number_inventory()
}

/// The agent select: "none" and the tenant's agents.
fn agent_field(tr: Tr, agents: &[(AgentId, String)], selected: &str) -> Field {
    let mut choices = vec![(String::new(), tr.s("numbers.no_agent").to_owned())];
    choices.extend(agents.iter().map(|(id, n)| (id.to_string(), n.clone())));
    Field::select("agent", tr.s("numbers.agent"), choices, selected)
}

/// The agent chosen in the form (`None` for "none"), or a field error.
/// The chosen agent id (`None`: "no agent").
fn chosen_agent(raw: &str) -> Option<&str> {
    Some(raw.trim()).filter(|r| !r.is_empty())
}

/// The form's fields, as named in the service's errors.
const FIELDS: &[&str] = &["address", "agent"];

async fn render(
    state: &AdminState,
    v: &Viewer,
    t: &Scoped,
    page_raw: &str,
    f: &NumberForm,
    errors: &FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, PanelError> {
    let tr = v.tr;
    let page = page_of(page_raw, 50);
    let numbers = state.store.numbers().list(&t.scope, page).await?;
    let agents = agent_names(state, &t.scope).await?;
    let base = format!("/panel/t/{}/numbers", t.tenant.id);
    let rows = numbers
        .items
        .iter()
        .map(|n| {
            let agent = n
                .agent_id
                .and_then(|id| agents.iter().find(|(a, _)| *a == id))
                .map_or("—", |(_, name)| name.as_str());
            let mut actions = vec![];
            if v.can_delete() {
                actions.push(Action::danger(
                    tr.s("numbers.release"),
                    format!("{base}/{}/delete", n.id),
                    tr.s("numbers.confirm_release"),
                ));
            }
            Row {
                cells: vec![
                    Cell::link(n.address.to_string(), format!("{base}/{}", n.id)).class("mono"),
                    Cell::text(agent),
                    Cell::text(fmt::datetime(n.created_at)).class("nowrap"),
                ],
                actions,
            }
        })
        .collect();
    let form = Form::post(
        base.clone(),
        tr.s("form.create"),
        vec![
            Field::input("text", "address", tr.s("numbers.address"), &f.address)
                .required()
                .help(tr.s("numbers.address_help")),
            agent_field(tr, &agents, &f.agent),
        ],
    )
    .with_errors(errors);
    let list = ListPage::new(
        v.chrome(tr.s("numbers.title"), Nav::Numbers, Some(&t.tenant)),
        Table::new(
            tr,
            &["numbers.address", "numbers.agent", "list.created"],
            rows,
        ),
        Pager::new(tr, page, numbers.total, |n| format!("{base}?page={n}")),
    )
    .form(tr.s("numbers.new"), can_create(v).then_some(form));
    html(&list, status)
}

/// `GET /panel/t/{tid}/numbers`.
pub(crate) async fn list(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load(&state, &req).await?;
    let t = v.tenant(&state, &path).await?;
    let f = NumberForm::default();
    render(
        &state,
        &v,
        &t,
        &q.page,
        &f,
        &FieldErrors::default(),
        StatusCode::OK,
    )
    .await
}

/// `POST /panel/t/{tid}/numbers`.
pub(crate) async fn create(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<String>,
    f: web::Form<NumberForm>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load_post(&state, &req, &f.csrf_token).await?;
    let t = v.tenant(&state, &path).await?;
    v.require(can_create(&v))?;
    let actor = v.actor(&req);
    let created = service::create(
        ctx(&state, &actor),
        &t.scope,
        &f.address,
        chosen_agent(&f.agent),
    )
    .await;
    let errors = match created {
        Ok(_) => return Ok(redirect(&format!("/panel/t/{}/numbers", t.tenant.id))),
        Err(e) => form_errors(v.tr, e, FIELDS)?,
    };
    render(
        &state,
        &v,
        &t,
        "",
        &f,
        &errors,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

async fn load(
    state: &AdminState,
    v: &Viewer,
    path: &(String, String),
) -> Result<(Scoped, PhoneNumber), PanelError> {
    let t = v.tenant(state, &path.0).await?;
    let id: NumberId = path.1.parse().map_err(|_| PanelError::NotFound)?;
    let n = state
        .store
        .numbers()
        .get(&t.scope, id)
        .await?
        .ok_or(PanelError::NotFound)?;
    Ok((t, n))
}

async fn edit_page(
    state: &AdminState,
    v: &Viewer,
    t: &Scoped,
    n: &PhoneNumber,
    selected: &str,
    errors: &FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, PanelError> {
    let tr = v.tr;
    let base = format!("/panel/t/{}/numbers", t.tenant.id);
    let agents = agent_names(state, &t.scope).await?;
    let form = Form::post(
        format!("{base}/{}", n.id),
        tr.s("form.save"),
        vec![agent_field(tr, &agents, selected)],
    )
    .with_errors(errors)
    .read_only(!v.can_manage());
    let mut actions = vec![];
    if v.can_delete() {
        actions.push(Action::danger(
            tr.s("numbers.release"),
            format!("{base}/{}/delete", n.id),
            tr.s("numbers.confirm_release"),
        ));
    }
    let heading = n.address.to_string();
    let page = FormPage {
        c: v.chrome(&heading, Nav::Numbers, Some(&t.tenant)),
        heading,
        form,
        actions,
        back: Link {
            href: base,
            label: tr.s("numbers.title"),
        },
    };
    html(&page, status)
}

/// `GET /panel/t/{tid}/numbers/{id}`.
pub(crate) async fn edit_form(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load(&state, &req).await?;
    let (t, n) = load(&state, &v, &path).await?;
    let selected = n.agent_id.map(|a| a.to_string()).unwrap_or_default();
    edit_page(
        &state,
        &v,
        &t,
        &n,
        &selected,
        &FieldErrors::default(),
        StatusCode::OK,
    )
    .await
}

/// `POST /panel/t/{tid}/numbers/{id}`: routes the number to another agent.
pub(crate) async fn update(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    f: web::Form<NumberForm>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load_post(&state, &req, &f.csrf_token).await?;
    let (t, before) = load(&state, &v, &path).await?;
    v.require(v.can_manage())?;
    let actor = v.actor(&req);
    let saved = service::assign(
        ctx(&state, &actor),
        &t.scope,
        before.id,
        chosen_agent(&f.agent),
    )
    .await;
    let errors = match saved {
        Ok(_) => return Ok(redirect(&format!("/panel/t/{}/numbers", t.tenant.id))),
        Err(e) => form_errors(v.tr, e, FIELDS)?,
    };
    edit_page(
        &state,
        &v,
        &t,
        &before,
        &f.agent,
        &errors,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// `POST /panel/t/{tid}/numbers/{id}/delete` (super admin).
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
    Ok(redirect(&format!("/panel/t/{}/numbers", t.tenant.id)))
}
