//! The calls list of a tenant: filters (status, direction, agent, date
//! range, number) and pagination; the filter form updates the table in
//! place through htmx and the URL stays shareable.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::state::AdminState;
use parla_admin_core::domain::{AgentId, CallStatus, Direction};
use parla_admin_core::store::{CallFilter, CallRecord, Page, Paged, TenantScope};

use super::audit_log::page_of;
use super::error::PanelError;
use super::fmt;
use super::i18n::Tr;
use super::ui::{
    html, url_encode, Cell, Field, FieldErrors, Form, ListPage, Nav, Pager, Row, Table,
};
use super::viewer::Viewer;

/// Calls per page.
const PER_PAGE: u32 = 25;
/// With a number filter, at most this many of the other filters' matches
/// are searched (newest first): the store filters by everything but the
/// number.
const NUMBER_SEARCH_LIMIT: u32 = 2_000;

/// `?status=&direction=&agent=&from=&to=&number=&page=` (all optional).
#[derive(Deserialize, Default)]
pub(crate) struct Query {
    #[serde(default)]
    status: String,
    #[serde(default)]
    direction: String,
    #[serde(default)]
    agent: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    number: String,
    #[serde(default)]
    page: String,
}

impl Query {
    /// The query string of these filters (without the page).
    fn encoded(&self) -> String {
        [
            ("status", &self.status),
            ("direction", &self.direction),
            ("agent", &self.agent),
            ("from", &self.from),
            ("to", &self.to),
            ("number", &self.number),
        ]
        .iter()
        .map(|(k, v)| format!("{k}={}", url_encode(v.trim())))
        .collect::<Vec<_>>()
        .join("&")
    }

    /// The store filter and the number to look for; field errors for
    /// values that do not parse.
    fn filter(&self, tr: Tr) -> Result<(CallFilter, String), FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut f = CallFilter::default();
        let invalid = tr.s("err.invalid_choice");
        if !self.status.trim().is_empty() {
            f.status = errors.parse::<CallStatus>("status", &self.status, invalid);
        }
        if !self.direction.trim().is_empty() {
            f.direction = errors.parse::<Direction>("direction", &self.direction, invalid);
        }
        if !self.agent.trim().is_empty() {
            f.agent_id = errors.parse::<AgentId>("agent", &self.agent, invalid);
        }
        let date = |errors: &mut FieldErrors, field: &'static str, s: &str| {
            if s.trim().is_empty() {
                return None;
            }
            let d = fmt::parse_date(s);
            if d.is_none() {
                errors.add(field, tr.s("err.date"));
            }
            d
        };
        f.from = date(&mut errors, "from", &self.from);
        f.until = date(&mut errors, "to", &self.to).map(fmt::next_day);
        if let (Some(a), Some(b)) = (f.from, f.until) {
            if b <= a {
                errors.add("to", tr.s("err.date_order"));
            }
        }
        let number = self.number.trim();
        if number.chars().count() > 64 || number.chars().any(char::is_control) {
            errors.add("number", tr.s("err.number_filter"));
        }
        if errors.is_empty() {
            Ok((f, number.to_owned()))
        } else {
            Err(errors)
        }
    }
}

/// The agents of a tenant as `(id, name)`, by name (the first 100).
pub(crate) async fn agent_names(
    state: &AdminState,
    scope: &TenantScope,
) -> Result<Vec<(AgentId, String)>, PanelError> {
    let page = Page::new(1, Page::MAX_PER_PAGE).map_err(PanelError::internal)?;
    Ok(state
        .store
        .agents()
        .list(scope, page)
        .await?
        .items
        .into_iter()
        .map(|a| (a.id, a.name.to_string()))
        .collect())
}

/// The CSS class of a status badge.
pub(crate) fn status_class(s: CallStatus) -> &'static str {
    match s {
        CallStatus::Completed => "badge ok",
        CallStatus::Failed => "badge bad",
        CallStatus::NoAnswer | CallStatus::Busy | CallStatus::Canceled => "badge warn",
        CallStatus::Queued | CallStatus::Dialing | CallStatus::Ringing | CallStatus::InProgress => {
            "badge live"
        }
    }
}

/// The user part of a SIP/tel URI (`sip:+1555…@host;x` → `+1555…`), for
/// compact lists.
pub(crate) fn short_uri(uri: &str) -> &str {
    let rest = ["sips:", "sip:", "tel:"]
        .iter()
        .find_map(|s| uri.strip_prefix(s))
        .unwrap_or(uri);
    let end = rest.find(['@', ';']).unwrap_or(rest.len());
    if end == 0 {
        uri
    } else {
        &rest[..end]
    }
}

/// A table of `calls` linking to their detail pages under `base`
/// (`/panel/t/{tid}`); agent names from `agents`.
pub(crate) fn call_rows(
    tr: Tr,
    base: &str,
    calls: &[CallRecord],
    agents: &[(AgentId, String)],
) -> Table {
    let rows = calls
        .iter()
        .map(|c| {
            let agent = c
                .agent_id
                .and_then(|id| agents.iter().find(|(a, _)| *a == id))
                .map_or("—", |(_, n)| n.as_str());
            Row {
                cells: vec![
                    Cell::link(
                        fmt::datetime(c.attempted_at),
                        format!("{base}/calls/{}", c.id),
                    )
                    .class("nowrap"),
                    Cell::text(tr.value("direction", c.direction.as_str())),
                    Cell::text(short_uri(&c.from_uri)).class("mono small"),
                    Cell::text(short_uri(&c.to_uri)).class("mono small"),
                    Cell::text(agent),
                    Cell::text(tr.value("status", c.status.as_str())).class(status_class(c.status)),
                    Cell::text(fmt::duration(c.duration_ms)).class("num"),
                ],
                actions: vec![],
            }
        })
        .collect();
    Table::new(
        tr,
        &[
            "calls.started",
            "calls.direction",
            "calls.from",
            "calls.to",
            "calls.agent",
            "calls.status",
            "calls.duration",
        ],
        rows,
    )
}

/// The filter form, showing `q`.
fn filter_form(tr: Tr, action: &str, q: &Query, agents: &[(AgentId, String)]) -> Form {
    let any = || vec![(String::new(), tr.s("calls.any").to_owned())];
    let mut statuses = any();
    statuses.extend(CallStatus::ALL.iter().map(|s| {
        (
            s.as_str().to_owned(),
            tr.value("status", s.as_str()).to_owned(),
        )
    }));
    let mut directions = any();
    directions.extend(Direction::ALL.iter().map(|d| {
        (
            d.as_str().to_owned(),
            tr.value("direction", d.as_str()).to_owned(),
        )
    }));
    let mut agent_choices = any();
    agent_choices.extend(agents.iter().map(|(id, n)| (id.to_string(), n.clone())));
    Form::filters(
        action,
        tr.s("list.filter"),
        vec![
            Field::select("status", tr.s("calls.status"), statuses, q.status.trim()),
            Field::select(
                "direction",
                tr.s("calls.direction"),
                directions,
                q.direction.trim(),
            ),
            Field::select("agent", tr.s("calls.agent"), agent_choices, q.agent.trim()),
            Field::input("date", "from", tr.s("calls.from_date"), q.from.trim()),
            Field::input("date", "to", tr.s("calls.to_date"), q.to.trim()),
            Field::input("text", "number", tr.s("calls.number"), q.number.trim()),
        ],
    )
}

/// The matching calls of `page`; with a `number`, only those whose From or
/// To contains it (searching the newest [`NUMBER_SEARCH_LIMIT`]).
async fn matching(
    state: &AdminState,
    scope: &TenantScope,
    filter: &CallFilter,
    number: &str,
    page: Page,
) -> Result<Paged<CallRecord>, PanelError> {
    let calls = state.store.calls();
    if number.is_empty() {
        return Ok(calls.list(scope, filter, page).await?);
    }
    let mut found = vec![];
    let chunk = Page::MAX_PER_PAGE;
    for n in 1..=NUMBER_SEARCH_LIMIT / chunk {
        let p = calls
            .list(
                scope,
                filter,
                Page::new(n, chunk).map_err(PanelError::internal)?,
            )
            .await?;
        let done = p.items.len() < chunk as usize;
        found.extend(
            p.items
                .into_iter()
                .filter(|c| c.from_uri.contains(number) || c.to_uri.contains(number)),
        );
        if done {
            break;
        }
    }
    let total = found.len() as u64;
    let skip = (page.page() as usize - 1) * page.per_page() as usize;
    Ok(Paged {
        items: found
            .into_iter()
            .skip(skip)
            .take(page.per_page() as usize)
            .collect(),
        total,
        page: page.page(),
        per_page: page.per_page(),
    })
}

/// `GET /panel/t/{tid}/calls`.
pub(crate) async fn list(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<Query>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load(&state, &req).await?;
    let t = v.tenant(&state, &path).await?;
    let tr = v.tr;
    let base = format!("/panel/t/{}", t.tenant.id);
    let action = format!("{base}/calls");
    let agents = agent_names(&state, &t.scope).await?;
    let page = page_of(&q.page, PER_PAGE);
    let (table, pager, filters, status) = match q.filter(tr) {
        Ok((filter, number)) => {
            let calls = matching(&state, &t.scope, &filter, &number, page).await?;
            let query = q.encoded();
            let pager = Pager::new(tr, page, calls.total, |n| {
                format!("{action}?{query}&page={n}")
            });
            (
                call_rows(tr, &base, &calls.items, &agents),
                pager,
                filter_form(tr, &action, &q, &agents),
                actix_web::http::StatusCode::OK,
            )
        }
        Err(errors) => (
            call_rows(tr, &base, &[], &agents),
            None,
            filter_form(tr, &action, &q, &agents).with_errors(&errors),
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
        ),
    };
    let page = ListPage::new(
        v.chrome(tr.s("calls.title"), Nav::Calls, Some(&t.tenant)),
        table,
        pager,
    )
    .filters(filters);
    html(&page, status)
}

#[cfg(test)]
mod tests {
    use super::short_uri;

    #[test]
    fn short_uris() {
        assert_eq!(
            short_uri("sip:+15550001111@carrier.example"),
            "+15550001111"
        );
        assert_eq!(short_uri("sips:alice@example.com;transport=tls"), "alice");
        assert_eq!(short_uri("tel:+34911222333"), "+34911222333");
        assert_eq!(short_uri("sip:@host"), "sip:@host");
        assert_eq!(short_uri("anonymous"), "anonymous");
        assert_eq!(short_uri(""), "");
    }
}
