//! Dashboards. A tenant's: live calls, calls today and voice-to-voice
//! p50/p95 of today's turns, from its call records, plus the latest calls.
//! The super admin's: live calls across tenants, the number of tenants,
//! and (when the engine provides [`EngineStats`](super::EngineStats)) the
//! engine's own live calls and v2v percentiles from its histograms. The
//! figures refresh every 5 s through htmx (`…/stats` fragments).

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use crate::state::AdminState;
use parla_admin_core::store::{CallFilter, CallRecord, Page};

use super::calls::{agent_names, call_rows};
use super::error::PanelError;
use super::fmt;
use super::i18n::Tr;
use super::ui::{ok, Chrome, Nav, Pager, Table};
use super::viewer::{redirect, Scoped, Viewer};
use super::PanelOptions;

/// One figure of the dashboard.
pub(crate) struct Stat {
    pub label: &'static str,
    pub value: String,
    pub hint: &'static str,
}

/// The auto-refreshing block of figures.
pub(crate) struct Stats {
    /// The fragment's URL (htmx polls it).
    pub url: String,
    pub items: Vec<Stat>,
}

#[derive(Template)]
#[template(path = "panel/dashboard.html")]
struct DashboardPage {
    c: Chrome,
    stats: Stats,
    recent: Option<Table>,
    recent_href: String,
    /// Always `None` (the shared table template expects one).
    pager: Option<Pager>,
}

#[derive(Template)]
#[template(path = "panel/_stats.html")]
struct StatsFragment {
    stats: Stats,
}

/// How many of today's calls the percentiles look at, at most.
const MAX_CALLS_FOR_PERCENTILES: u32 = 1_000;

/// Nearest-rank percentile `p` (0–100) of sorted `values`.
pub(crate) fn percentile(sorted: &[u32], p: u32) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = (usize::try_from(p).unwrap_or(100) * n)
        .div_ceil(100)
        .clamp(1, n);
    Some(sorted[rank - 1])
}

fn ms(v: Option<u64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v} ms"))
}

async fn tenant_stats_of(state: &AdminState, tr: Tr, t: &Scoped) -> Result<Stats, PanelError> {
    let calls = state.store.calls();
    let live = calls.live_count(&t.scope).await?;
    let filter = CallFilter {
        from: Some(fmt::start_of_day(state.store.now())),
        ..Default::default()
    };
    let mut v2v = vec![];
    let mut today = 0;
    let per_page = 100;
    for n in 1..=MAX_CALLS_FOR_PERCENTILES / per_page {
        let page = Page::new(n, per_page).map_err(PanelError::internal)?;
        let p = calls.list(&t.scope, &filter, page).await?;
        today = p.total;
        v2v.extend(
            p.items
                .iter()
                .flat_map(|c| c.latency.0.iter().filter_map(|l| l.v2v_ms)),
        );
        if u64::from(n * per_page) >= p.total {
            break;
        }
    }
    v2v.sort_unstable();
    Ok(Stats {
        url: format!("/panel/t/{}/stats", t.tenant.id),
        items: vec![
            Stat {
                label: tr.s("dash.live_calls"),
                value: live.to_string(),
                hint: tr.s("dash.hint_now"),
            },
            Stat {
                label: tr.s("dash.calls_today"),
                value: today.to_string(),
                hint: tr.s("dash.hint_utc_day"),
            },
            Stat {
                label: tr.s("dash.v2v_p50"),
                value: ms(percentile(&v2v, 50).map(u64::from)),
                hint: tr.s("dash.hint_turns_today"),
            },
            Stat {
                label: tr.s("dash.v2v_p95"),
                value: ms(percentile(&v2v, 95).map(u64::from)),
                hint: tr.s("dash.hint_turns_today"),
            },
        ],
    })
}

async fn global_stats_of(
    state: &AdminState,
    options: &PanelOptions,
    tr: Tr,
) -> Result<Stats, PanelError> {
    let live = state.store.calls().live_count_all().await?;
    let tenants = state
        .store
        .tenants()
        .list(Page::new(1, 1).map_err(PanelError::internal)?)
        .await?
        .total;
    let mut items = vec![
        Stat {
            label: tr.s("dash.live_calls_all"),
            value: live.to_string(),
            hint: tr.s("dash.hint_records"),
        },
        Stat {
            label: tr.s("dash.tenants"),
            value: tenants.to_string(),
            hint: tr.s("dash.hint_now"),
        },
    ];
    if let Some(engine) = &options.engine_stats {
        let s = engine.snapshot();
        items.extend([
            Stat {
                label: tr.s("dash.engine_live"),
                value: s.live_calls.to_string(),
                hint: tr.s("dash.hint_engine"),
            },
            Stat {
                label: tr.s("dash.v2v_p50"),
                value: ms(s.v2v_p50_ms),
                hint: tr.s("dash.hint_engine"),
            },
            Stat {
                label: tr.s("dash.v2v_p95"),
                value: ms(s.v2v_p95_ms),
                hint: tr.s("dash.hint_engine"),
            },
        ]);
    }
    Ok(Stats {
        url: "/panel/stats".to_owned(),
        items,
    })
}

/// `GET /panel/`: the super admin's dashboard; tenant users go to their
/// tenant's.
pub(crate) async fn home(
    state: web::Data<AdminState>,
    options: web::Data<PanelOptions>,
    req: HttpRequest,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load(&state, &req).await?;
    if let Some(tid) = v.own_tenant() {
        return Ok(redirect(&format!("/panel/t/{tid}/")));
    }
    let tr = v.tr;
    ok(&DashboardPage {
        c: v.chrome(tr.s("dash.title"), Nav::Dashboard, None),
        stats: global_stats_of(&state, &options, tr).await?,
        recent: None,
        recent_href: String::new(),
        pager: None,
    })
}

/// `GET /panel/stats` (htmx fragment, super admin).
pub(crate) async fn global_stats(
    state: web::Data<AdminState>,
    options: web::Data<PanelOptions>,
    req: HttpRequest,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load(&state, &req).await?;
    if !v.is_super() {
        return Err(PanelError::NotFound);
    }
    ok(&StatsFragment {
        stats: global_stats_of(&state, &options, v.tr).await?,
    })
}

/// `GET /panel/t/{tid}/`.
pub(crate) async fn tenant(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load(&state, &req).await?;
    let t = v.tenant(&state, &path).await?;
    let tr = v.tr;
    let recent: Vec<CallRecord> = state
        .store
        .calls()
        .list(
            &t.scope,
            &CallFilter::default(),
            Page::new(1, 5).map_err(PanelError::internal)?,
        )
        .await?
        .items;
    let agents = agent_names(&state, &t.scope).await?;
    let base = format!("/panel/t/{}", t.tenant.id);
    ok(&DashboardPage {
        c: v.chrome(tr.s("dash.title"), Nav::Dashboard, Some(&t.tenant)),
        stats: tenant_stats_of(&state, tr, &t).await?,
        recent: Some(call_rows(tr, &base, &recent, &agents)),
        recent_href: format!("{base}/calls"),
        pager: None,
    })
}

/// `GET /panel/t/{tid}/stats` (htmx fragment).
pub(crate) async fn tenant_stats(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, PanelError> {
    let v = Viewer::load(&state, &req).await?;
    let t = v.tenant(&state, &path).await?;
    ok(&StatsFragment {
        stats: tenant_stats_of(&state, v.tr, &t).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 95), Some(7));
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), Some(50));
        assert_eq!(percentile(&v, 95), Some(95));
        assert_eq!(percentile(&[100, 200, 300, 400], 50), Some(200));
        assert_eq!(percentile(&[100, 200, 300, 400], 95), Some(400));
    }
}
