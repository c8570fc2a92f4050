//! Users of a tenant: list; create (tenant admins and the super admin);
//! remove from the tenant (super admin only).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::state::AdminState;
use parla_admin_core::domain::{TenantRole, UserId, UserStatus};
use parla_admin_core::service::users::{self as service, NewMember};

use super::audit_log::page_of;
use super::error::PanelError;
use super::fmt;
use super::login::CsrfOnly;
use super::outcome::{ctx, form_errors};
use super::ui::{html, Action, Cell, Field, Form, ListPage, Nav, PageQuery, Pager, Row, Table};
use super::viewer::{redirect, Scoped, Viewer};

#[derive(Deserialize, Default)]
pub(crate) struct CreateForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    page: String,
}

fn create_form(v: &Viewer, t: &Scoped, f: &CreateForm) -> Form {
    let tr = v.tr;
    let roles = [TenantRole::Admin, TenantRole::Agent]
        .iter()
        .map(|r| {
            (
                r.as_str().to_owned(),
                tr.value("role", r.as_str()).to_owned(),
            )
        })
        .collect();
    let role = if f.role.is_empty() {
        "agent"
    } else {
        f.role.as_str()
    };
    Form::post(
        format!("/panel/t/{}/users", t.tenant.id),
        tr.s("form.create"),
        vec![
            Field::input("email", "email", tr.s("users.email"), &f.email).required(),
            Field::input("password", "password", tr.s("users.password"), "")
                .required()
                .help(tr.s("account.policy")),
            Field::select("role", tr.s("users.role"), roles, role),
        ],
    )
}

async fn render(
    state: &AdminState,
    v: &Viewer,
    t: &Scoped,
    page_raw: &str,
    form: Option<Form>,
    status: StatusCode,
) -> Result<HttpResponse, PanelError> {
    let tr = v.tr;
    let page = page_of(page_raw, 50);
    let members = state.store.memberships().list(&t.scope, page).await?;
    let base = format!("/panel/t/{}/users", t.tenant.id);
    let rows =
        members
            .items
            .iter()
            .map(|m| {
                let mut actions = vec![];
                if v.can_delete() {
                    actions.push(Action::danger(
                        tr.s("users.remove"),
                        format!("{base}/{}/remove", m.user_id),
                        tr.s("users.confirm_remove"),
                    ));
                }
                let active = m.user_status == UserStatus::Active;
                Row {
                    cells: vec![
                        Cell::text(m.email.to_string()),
                        Cell::text(tr.value("role", m.role.as_str())),
                        Cell::text(tr.value("user_status", m.user_status.as_str()))
                            .class(if active { "badge ok" } else { "badge warn" }),
                        Cell::text(fmt::datetime(m.created_at)).class("nowrap"),
                    ],
                    actions,
                }
            })
            .collect();
    let list = ListPage::new(
        v.chrome(tr.s("users.title"), Nav::Users, Some(&t.tenant)),
        Table::new(
            tr,
            &["users.email", "users.role", "users.status", "list.created"],
            rows,
        ),
        Pager::new(tr, page, members.total, |n| format!("{base}?page={n}")),
    )
    .form(
        tr.s("users.new"),
        form.filter(|_| v.who.principal.can_manage_users()),
    );
    html(&list, status)
}

/// `GET /panel/t/{tid}/users`.
pub(crate) async fn list(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load(&state, &req).await?;
    let t = v.tenant(&state, &path).await?;
    let form = create_form(&v, &t, &CreateForm::default());
    render(&state, &v, &t, &q.page, Some(form), StatusCode::OK).await
}

/// `POST /panel/t/{tid}/users`.
pub(crate) async fn create(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<String>,
    f: web::Form<CreateForm>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load_post(&state, &req, &f.csrf_token).await?;
    let t = v.tenant(&state, &path).await?;
    v.require(v.who.principal.can_manage_users())?;
    let input = NewMember {
        email: f.email.clone(),
        password: f.password.clone(),
        role: f.role.clone(),
    };
    let actor = v.actor(&req);
    let errors = match service::create(ctx(&state, &actor), &t.scope, &input).await {
        Ok(_) => return Ok(redirect(&format!("/panel/t/{}/users", t.tenant.id))),
        Err(e) => form_errors(v.tr, e, &["email", "password", "role"])?,
    };
    let form = create_form(&v, &t, &f).with_errors(&errors);
    render(
        &state,
        &v,
        &t,
        &f.page,
        Some(form),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// `POST /panel/t/{tid}/users/{id}/remove` (super admin).
pub(crate) async fn remove(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    f: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load_post(&state, &req, &f.csrf_token).await?;
    let t = v.tenant(&state, &path.0).await?;
    v.require(v.can_delete())?;
    let id: UserId = path.1.parse().map_err(|_| PanelError::NotFound)?;
    service::remove(ctx(&state, &v.actor(&req)), &t.scope, id).await?;
    Ok(redirect(&format!("/panel/t/{}/users", t.tenant.id)))
}
