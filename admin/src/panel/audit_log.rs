//! The audit log: recording the panel's mutations, and the log pages (a
//! tenant's entries; every entry for the super admin).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::api::AdminState;
use crate::domain::{TenantId, Timestamp};
use crate::store::{AuditEntry, AuditFilter, NewAuditEntry, Page, StoreError};

use super::error::{conflict_field, PanelError};
use super::fmt;
use super::ui::{ok, url_encode, Cell, Field, FieldErrors, Form, ListPage, Nav, Pager, Row, Table};
use super::viewer::{client_ip, Viewer};

/// One mutation to record.
pub(crate) struct Change {
    /// Dotted action, e.g. `agent.update` (the same names as the API).
    pub action: &'static str,
    pub tenant: Option<TenantId>,
    pub target: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl Change {
    /// A change of `target` in `tenant`, without states yet.
    pub fn new(action: &'static str, tenant: Option<TenantId>, target: impl ToString) -> Change {
        Change {
            action,
            tenant,
            target: target.to_string(),
            before: None,
            after: None,
        }
    }

    pub fn before(mut self, v: serde_json::Value) -> Change {
        self.before = Some(v);
        self
    }

    pub fn after(mut self, v: serde_json::Value) -> Change {
        self.after = Some(v);
        self
    }

    /// Appends the entry, by `v` (the label carries a masquerading super
    /// admin too).
    pub async fn record(
        self,
        state: &AdminState,
        req: &HttpRequest,
        v: &Viewer,
    ) -> Result<(), PanelError> {
        state
            .store
            .audit()
            .record(NewAuditEntry {
                actor_user_id: v.who.user_id,
                actor_label: v.who.label.clone(),
                tenant_id: self.tenant,
                action: self.action.to_owned(),
                target: self.target,
                before: self.before,
                after: self.after,
                ip: client_ip(req).map(|ip| ip.to_string()),
                at: Timestamp::now(),
            })
            .await?;
        Ok(())
    }
}

/// How a form save of a named resource (agent, trunk) is audited.
pub(crate) struct Saved<'a, T> {
    /// Audit actions for a creation and an update, e.g. `agent.create`.
    pub actions: [&'static str; 2],
    /// The stored state before an update; `None` for a creation.
    pub before: Option<&'a T>,
    /// The audited view of a row (no secrets) and its id.
    pub view: fn(&T) -> (String, serde_json::Value),
}

impl<T> Saved<'_, T> {
    /// Audits a successful save; turns a name clash into a field error on
    /// `name`; passes other errors on.
    pub async fn finish(
        self,
        state: &AdminState,
        req: &HttpRequest,
        v: &Viewer,
        tenant: TenantId,
        saved: Result<T, StoreError>,
    ) -> Result<Result<T, FieldErrors>, PanelError> {
        match saved {
            Ok(row) => {
                let (id, after) = (self.view)(&row);
                let action = self.actions[usize::from(self.before.is_some())];
                let mut change = Change::new(action, Some(tenant), id).after(after);
                if let Some(b) = self.before {
                    change = change.before((self.view)(b).1);
                }
                change.record(state, req, v).await?;
                Ok(Ok(row))
            }
            Err(e) if conflict_field(&e) == Some("name") => {
                let mut errors = FieldErrors::default();
                errors.add("name", v.tr.s("err.taken"));
                Ok(Err(errors))
            }
            Err(e) => Err(e.into()),
        }
    }
}

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
    tenant: Option<&crate::store::Tenant>,
    base: &str,
    q: &Query,
    entries: crate::store::Paged<AuditEntry>,
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
