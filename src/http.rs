//! The operational HTTP endpoints: `/healthz` and `/metrics` (Prometheus text).

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::{web, App, HttpResponse, HttpServer};
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
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(out)
}

/// Binds the HTTP server (port 0 picks a free port) and returns it with its address.
pub fn bind(
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
