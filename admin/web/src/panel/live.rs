//! Live calls in the panel: the super admin's list of every tenant's calls
//! that are up now, and hanging up a live call (from that list or from the
//! call's page, which also shows its transcript growing: `live.js` reads
//! the API's event stream with the session cookie).

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};

use crate::state::AdminState;
use parla_admin_core::domain::{CallId, TenantId, Timestamp};
use parla_admin_core::live::{LiveCommand, LiveError};
use parla_admin_core::store::NewAuditEntry;

use super::error::PanelError;
use super::fmt;
use super::login::CsrfOnly;
use super::ui::{ok, Action, Cell, ListPage, Nav, Row, Table};
use super::viewer::{redirect, Viewer};

/// `GET /panel/live`: every live call (super admin).
pub(crate) async fn list(
    state: web::Data<AdminState>,
    req: HttpRequest,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load(&state, &req).await?;
    v.require(v.is_super())?;
    let tr = v.tr;
    let calls = state
        .live_calls
        .as_ref()
        .map(|l| l.list(None))
        .unwrap_or_default();
    let mut names: HashMap<TenantId, String> = HashMap::new();
    let mut rows = Vec::with_capacity(calls.len());
    for call in calls {
        let tenant = match names.get(&call.tenant_id) {
            Some(name) => name.clone(),
            None => {
                let name = state
                    .store
                    .tenants()
                    .get(call.tenant_id)
                    .await?
                    .map_or_else(|| call.tenant_id.to_string(), |t| t.name.to_string());
                names.insert(call.tenant_id, name.clone());
                name
            }
        };
        let page = format!("/panel/t/{}/calls/{}", call.tenant_id, call.id);
        rows.push(Row {
            cells: vec![
                Cell::link(fmt::datetime(call.attempted_at), page.clone()),
                Cell::text(tenant),
                Cell::text(call.from_uri).class("mono"),
                Cell::text(call.to_uri).class("mono"),
                Cell::text(call.state),
                Cell::text(call.turns.to_string()),
            ],
            actions: vec![Action::danger(
                tr.s("live.hangup"),
                format!("{page}/hangup"),
                tr.s("live.confirm_hangup"),
            )],
        });
    }
    let table = Table::new(
        tr,
        &[
            "calls.started",
            "live.tenant",
            "calls.from",
            "calls.to",
            "live.state",
            "live.turns",
        ],
        rows,
    );
    let page = ListPage::new(v.chrome(tr.s("live.title"), Nav::None, None), table, None);
    ok(&page)
}

/// `POST /panel/t/{tid}/calls/{id}/hangup`: hangs up the live call (tenant
/// admins and the super admin), then shows the call's page.
pub(crate) async fn hangup(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    f: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load_post(&state, &req, &f.csrf_token).await?;
    let t = v.tenant(&state, &path.0).await?;
    let id: CallId = path.1.parse().map_err(|_| PanelError::NotFound)?;
    let call = state
        .store
        .calls()
        .get(&t.scope, id)
        .await?
        .ok_or(PanelError::NotFound)?;
    v.require(v.can_manage())?;
    let sent = match state.live_calls.as_ref() {
        Some(live) => live.command(t.tenant.id, call.id, LiveCommand::HangUp),
        None => Err(LiveError::NotLive),
    };
    match sent {
        Ok(()) => {
            let actor = v.actor(&req);
            state
                .store
                .audit()
                .record(NewAuditEntry {
                    actor_user_id: actor.user_id,
                    actor_label: actor.label,
                    tenant_id: Some(t.tenant.id),
                    action: "call.hangup".to_owned(),
                    target: call.id.to_string(),
                    before: None,
                    after: None,
                    ip: actor.ip,
                    at: Timestamp::now(),
                })
                .await?;
        }
        // Ended meanwhile (the page shows it), or hang-ups already queued.
        Err(e) => tracing::info!(call = %call.id, error = %e, "hang-up not sent"),
    }
    Ok(redirect(&format!(
        "/panel/t/{}/calls/{}",
        t.tenant.id, call.id
    )))
}
