//! Phone numbers of a tenant: list, add (super admin only: numbers are the
//! operator's inventory, created on the tenant's page to assign them to
//! it; E.164 or SIP URI, wildcards included), route to one of the tenant's
//! agents (tenant admins), release (super admin).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::api::AdminState;
use crate::domain::{AgentId, NumberAddress, NumberId};
use crate::store::{DeleteGrant, NewNumber, PhoneNumber, StoreError};

use super::audit_log::{page_of, Change};
use super::calls::agent_names;
use super::error::{conflict_field, PanelError};
use super::fmt;
use super::i18n::Tr;
use super::login::CsrfOnly;
use super::ui::{
    html, Action, Cell, Field, FieldErrors, Form, FormPage, Link, ListPage, Nav, PageQuery, Pager,
    Row, Table,
};
use super::viewer::{redirect, Scoped, Viewer};

fn view(n: &PhoneNumber) -> serde_json::Value {
    serde_json::json!({ "id": n.id, "address": n.address, "agent_id": n.agent_id })
}

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
fn chosen_agent(tr: Tr, errors: &mut FieldErrors, raw: &str) -> Option<AgentId> {
    if raw.trim().is_empty() {
        None
    } else {
        errors.parse("agent", raw, tr.s("err.invalid_choice"))
    }
}

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
    let tr = v.tr;
    let mut errors = FieldErrors::default();
    let address: Option<NumberAddress> = errors.parse("address", &f.address, tr.s("err.address"));
    let agent_id = chosen_agent(tr, &mut errors, &f.agent);
    if let (Some(address), true) = (address, errors.is_empty()) {
        match state
            .store
            .numbers()
            .create(&t.scope, NewNumber { address, agent_id })
            .await
        {
            Ok(n) => {
                Change::new("number.create", Some(t.tenant.id), n.id)
                    .after(view(&n))
                    .record(&state, &req, &v)
                    .await?;
                return Ok(redirect(&format!("/panel/t/{}/numbers", t.tenant.id)));
            }
            Err(StoreError::NotFound) => errors.add("agent", tr.s("err.invalid_choice")),
            Err(e) => match conflict_field(&e) {
                Some("address") => errors.add("address", tr.s("err.taken")),
                _ => return Err(e.into()),
            },
        }
    }
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
    let mut errors = FieldErrors::default();
    let agent = chosen_agent(v.tr, &mut errors, &f.agent);
    if errors.is_empty() {
        match state
            .store
            .numbers()
            .assign_agent(&t.scope, before.id, agent)
            .await
        {
            Ok(after) => {
                Change::new("number.update", Some(t.tenant.id), after.id)
                    .before(view(&before))
                    .after(view(&after))
                    .record(&state, &req, &v)
                    .await?;
                return Ok(redirect(&format!("/panel/t/{}/numbers", t.tenant.id)));
            }
            Err(StoreError::NotFound) => errors.add("agent", v.tr.s("err.invalid_choice")),
            Err(e) => return Err(e.into()),
        }
    }
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
    state
        .store
        .numbers()
        .delete(&t.scope, &DeleteGrant::super_admin(), before.id)
        .await?;
    Change::new("number.delete", Some(t.tenant.id), before.id)
        .before(view(&before))
        .record(&state, &req, &v)
        .await?;
    Ok(redirect(&format!("/panel/t/{}/numbers", t.tenant.id)))
}
