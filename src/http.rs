//! The HTTP servers. The public one ([`bind`]): `/healthz` and the admin
//! plane ([`admin_routes`]: the JSON API under `/api/v1` and the web panel
//! under `/panel`, where `/` leads). The metrics one ([`bind_metrics`], on
//! `--metrics-addr`, loopback by default): `/metrics` (Prometheus text) and
//! `/healthz`. `/metrics` is not served on the public address: it tells
//! call volumes and latencies of every tenant and needs no login.

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::{web, App, HttpResponse, HttpServer};
use parla_admin_web::api::AdminState;
use parla_admin_web::panel::PanelOptions;
use parla_engine::metrics::{render_prometheus, CallCounters, LatencyMetrics};

/// What the HTTP handlers read.
pub struct HttpState {
    pub latency: Arc<LatencyMetrics>,
    pub counters: Arc<CallCounters>,
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok\n")
}

async fn metrics(state: web::Data<HttpState>) -> HttpResponse {
    let mut out = String::with_capacity(4096);
    render_prometheus(&state.latency, &state.counters, &mut out);
    render_process_metrics(&mut out);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(out)
}

/// Appends the standard Prometheus process metrics (`process_cpu_seconds_total`,
/// `process_resident_memory_bytes`, `process_open_fds`) read from `/proc/self`
/// (Linux; nothing is written where `/proc` is unavailable).
fn render_process_metrics(out: &mut String) {
    use std::fmt::Write as _;
    // /proc/self/stat: fields 14 and 15 are utime and stime in clock ticks
    // (proc(5)); the command name (field 2) may hold spaces, so split after ')'.
    let ticks_per_sec = 100.0; // USER_HZ, 100 on every Linux ABI Parla targets
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, r)| r.split_whitespace().collect())
            .unwrap_or_default();
        // After ')', index 0 is field 3 (state): utime = field 14 → index 11.
        if let (Some(u), Some(s)) = (fields.get(11), fields.get(12)) {
            if let (Ok(u), Ok(s)) = (u.parse::<f64>(), s.parse::<f64>()) {
                let _ = writeln!(out, "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.");
                let _ = writeln!(out, "# TYPE process_cpu_seconds_total counter");
                let _ = writeln!(out, "process_cpu_seconds_total {}", (u + s) / ticks_per_sec);
            }
        }
    }
    if let Ok(statm) = std::fs::read_to_string("/proc/self/statm") {
        if let Some(pages) = statm
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse::<u64>().ok())
        {
            let _ = writeln!(
                out,
                "# HELP process_resident_memory_bytes Resident memory size in bytes."
            );
            let _ = writeln!(out, "# TYPE process_resident_memory_bytes gauge");
            let _ = writeln!(out, "process_resident_memory_bytes {}", pages * 4096);
        }
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        let _ = writeln!(
            out,
            "# HELP process_open_fds Number of open file descriptors."
        );
        let _ = writeln!(out, "# TYPE process_open_fds gauge");
        let _ = writeln!(out, "process_open_fds {}", fds.count());
    }
}

/// Mounts the admin plane on the app: the JSON API (`/api/v1/…`) and the
/// web panel (`/panel/…`; `GET /` redirects there).
pub fn admin_routes(
    cfg: &mut web::ServiceConfig,
    admin: web::Data<AdminState>,
    panel: PanelOptions,
) {
    parla_admin_web::api::configure(cfg, admin.clone());
    parla_admin_web::panel::configure(cfg, admin, panel);
    cfg.route("/", web::get().to(to_panel));
}

async fn to_panel() -> HttpResponse {
    HttpResponse::Found()
        .insert_header((actix_web::http::header::LOCATION, "/panel/"))
        .finish()
}

/// Binds the public HTTP server (port 0 picks a free port) and returns it
/// with its address. It has no `/metrics` (see [`bind_metrics`]).
pub fn bind(
    addr: SocketAddr,
    admin: web::Data<AdminState>,
    panel: PanelOptions,
) -> std::io::Result<(actix_web::dev::Server, SocketAddr)> {
    let server = HttpServer::new(move || {
        let admin = admin.clone();
        let panel = panel.clone();
        App::new()
            .route("/healthz", web::get().to(healthz))
            .configure(move |cfg| admin_routes(cfg, admin, panel))
    })
    .workers(2)
    .disable_signals()
    .bind(addr)?;
    let local = server.addrs().first().copied().unwrap_or(addr);
    Ok((server.run(), local))
}

/// Binds the metrics server (`/metrics`, `/healthz`; port 0 picks a free
/// port) with one worker, and returns it with its address.
pub fn bind_metrics(
    addr: SocketAddr,
    state: HttpState,
) -> std::io::Result<(actix_web::dev::Server, SocketAddr)> {
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/metrics", web::get().to(metrics))
    })
    .workers(1)
    .disable_signals()
    .bind(addr)?;
    let local = server.addrs().first().copied().unwrap_or(addr);
    Ok((server.run(), local))
}
