//! The audit log pages: a tenant's entries; every entry for the super admin
//! (the services record them, see `parla_admin_core::service`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::state::AdminState;
use parla_admin_core::store::{AuditEntry, AuditFilter, Page};

use super::error::PanelError;
use super::fmt;
use super::ui::{ok, url_encode, Cell, Field, Form, ListPage, Nav, Pager, Row, Table};
use super::viewer::Viewer;

/// `?action=&page=`.
#[derive(Deserialize, Default)]
pub(crate) struct Query {
    #[serde(default)]
    action: String,
    #[serde(default)]
    page: String,
}

/// The page number of `?page=` (invalid or absent → 1), `per_page` items.
pub(crate) fn page_of(raw: &str, per_page: u32) -> Page {
    let n = raw
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=100_000).contains(n));
    Page::new(n.unwrap_or(1), per_page).unwrap_or_default()
}

/// `GET /panel/t/{tid}/audit`.
pub(crate) async fn tenant(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<Query>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load(&state, &req).await?;
    let t = v.tenant(&state, &path).await?;
    let filter = filter_of(&q);
    let page = page_of(&q.page, 50);
    let entries = state.store.audit().list(&t.scope, &filter, page).await?;
    let base = format!("/panel/t/{}/audit", t.tenant.id);
    render(&v, Some(&t.tenant), &base, &q, entries, page)
}

/// `GET /panel/audit`: every tenant's entries and the global ones (super
/// admin; others get 404).
pub(crate) async fn global(
    state: web::Data<AdminState>,
    req: HttpRequest,
    q: web::Query<Query>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load(&state, &req).await?;
    if !v.is_super() {
        return Err(PanelError::NotFound);
    }
    let filter = filter_of(&q);
    let page = page_of(&q.page, 50);
    let entries = state.store.audit().list_all(&filter, page).await?;
    render(&v, None, "/panel/audit", &q, entries, page)
}

fn filter_of(q: &Query) -> AuditFilter {
    let prefix = q.action.trim();
    AuditFilter {
        action_prefix: (!prefix.is_empty()).then(|| prefix.chars().take(100).collect()),
        ..Default::default()
    }
}

fn render(
    v: &Viewer,
    tenant: Option<&parla_admin_core::store::Tenant>,
    base: &str,
    q: &Query,
    entries: parla_admin_core::store::Paged<AuditEntry>,
    page: Page,
) -> Result<HttpResponse, PanelError> {
    let tr = v.tr;
    let rows = entries
        .items
        .iter()
        .map(|e| Row {
            cells: vec![
                Cell::text(fmt::datetime(e.at)).class("nowrap"),
                Cell::text(&e.actor_label),
                Cell::text(&e.action).class("mono"),
                Cell::text(&e.target).class("mono small"),
                Cell::text(e.ip.clone().unwrap_or_default()).class("mono small"),
            ],
            actions: vec![],
        })
        .collect();
    let action = q.action.trim().to_owned();
    let pager = Pager::new(tr, page, entries.total, |n| {
        format!("{base}?action={}&page={n}", url_encode(&action))
    });
    let filters = Form::filters(
        base,
        tr.s("list.filter"),
        vec![Field::input(
            "text",
            "action",
            tr.s("audit.action_prefix"),
            &action,
        )],
    );
    let list = ListPage::new(
        v.chrome(tr.s("audit.title"), Nav::Audit, tenant),
        Table::new(
            tr,
            &[
                "audit.at",
                "audit.actor",
                "audit.action",
                "audit.target",
                "audit.ip",
            ],
            rows,
        ),
        pager,
    )
    .filters(filters);
    ok(&list)
}
