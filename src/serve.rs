//! `parla serve`: wires the admin database, SIP, the call engine and HTTP
//! together, and shuts down gracefully on SIGTERM/SIGINT (refuse new calls,
//! let active ones finish).
//!
//! Start-up: open the database (migrations), load or create the secret key,
//! bootstrap the first super admin, import `parla.toml` into the `default`
//! tenant on first start; then every INVITE is routed through the database.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::path::{Path, PathBuf};

use actix::Arbiter;
use actix_web::web;
use anyhow::{bail, Context as _};
use parla_admin::api::AdminState;
use parla_admin::panel::PanelOptions;
use parla_engine::agent::ParlaConfig;
use parla_engine::call::{CallLimits, CallManager, CallServices};
use parla_engine::metrics::{CallCounters, LatencyMetrics};
use parla_engine::providers::egress::EgressPolicy;
use parla_engine::rtp_ports::RtpPortPool;
use parla_sip::server::{SipServer, SipServerConfig};

use crate::admin_store::{load_secret_key, open_store};
use crate::bootstrap::{ensure_super_admin, EnvSecrets};
use crate::cli::ServeArgs;
use crate::directory::DbDirectory;
use crate::engine_stats::EngineFigures;
use crate::http::{self, HttpState};
use crate::import::{import_if_first_start, ImportOutcome};

/// The `Server`/`User-Agent` header value.
pub const USER_AGENT: &str = concat!("Parla/", env!("CARGO_PKG_VERSION"));

pub async fn run(args: ServeArgs, env_secrets: EnvSecrets) -> anyhow::Result<()> {
    let config = load_config(args.config.as_deref())?;
    let data_dir = &args.store.data_dir;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating data dir {}", data_dir.display()))?;
    let secrets = load_secret_key(data_dir, env_secrets.secret_key.as_deref())?;
    let store = open_store(&args.store).await?;
    crate::bootstrap::close_interrupted_calls(&store).await?;
    ensure_super_admin(&store, env_secrets.admin_password.as_deref()).await?;
    drop(env_secrets);
    if let Some((path, config)) = &config {
        match import_if_first_start(&store, &secrets, config)
            .await
            .with_context(|| format!("importing the agents of {}", path.display()))?
        {
            ImportOutcome::Imported { agents, numbers } => tracing::info!(
                agents, numbers, config = %path.display(),
                "imported parla.toml into the default tenant (first start; later edits are made in the panel)"
            ),
            ImportOutcome::AlreadyImported => tracing::info!(
                config = %path.display(),
                "the default tenant exists: parla.toml not imported again (the database wins)"
            ),
        }
    }
    let egress = EgressPolicy::allowing(&args.provider_allow)
        .context("parsing --provider-allow / PARLA_PROVIDER_ALLOW")?;
    if !egress.entries().is_empty() {
        let allowed: Vec<String> = egress.entries().iter().map(|e| e.to_string()).collect();
        tracing::info!(allowed = %allowed.join(","), "providers may also reach these operator-allowed hosts");
    }
    let live_calls = crate::live_calls::LiveRegistry::new();
    let directory = Arc::new(
        DbDirectory::new(store.clone(), secrets.clone(), egress)
            .with_build_timeout(Duration::from_secs(args.agent_build_timeout.max(1)))
            .with_test_build_delay(test_build_delay()?)
            .with_live_calls(live_calls.clone()),
    );
    let admin = web::Data::new(
        AdminState::new(store.clone(), secrets)
            .with_secure_cookies(args.secure_cookies)
            .with_live_calls(live_calls),
    );

    let public_ip = args
        .public_ip
        .unwrap_or_else(|| default_public_ip(args.sip_addr));
    let latency = Arc::new(LatencyMetrics::new());
    let counters = Arc::new(CallCounters::new());
    let services = Arc::new(CallServices {
        latency: latency.clone(),
        counters: counters.clone(),
        rtp_ports: RtpPortPool::new(args.rtp_ports),
        rtp_bind_ip: args.sip_addr.ip(),
        public_ip,
        user_agent: USER_AGENT.to_string(),
        recordings_dir: Some(data_dir.join("recordings")),
        limits: CallLimits::new(
            args.limits.max_calls_per_tenant,
            args.limits.max_calls_per_source,
        ),
        media_timeout: args.limits.media_timeout(),
        max_call: args.limits.max_call(),
    });
    let threads = args.media_threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let arbiters: Vec<Arbiter> = (0..threads.max(1)).map(|_| Arbiter::new()).collect();
    let manager = CallManager::new(
        directory,
        services,
        arbiters.iter().map(|a| a.handle()).collect(),
    );

    let (sip, mut incoming) = SipServer::bind(SipServerConfig {
        bind: args.sip_addr,
        public_ip: Some(public_ip),
        user_agent: USER_AGENT.to_string(),
        invite_rate: args.limits.invite_rate()?,
        ..Default::default()
    })
    .await
    .with_context(|| format!("binding SIP on {}", args.sip_addr))?;

    let panel = PanelOptions {
        recordings_dir: Some(data_dir.join("recordings")),
        engine_stats: Some(Arc::new(EngineFigures {
            latency: latency.clone(),
            counters: counters.clone(),
        })),
    };
    let (http_server, http_addr) = http::bind(args.http_addr, admin, panel)
        .with_context(|| format!("binding HTTP on {}", args.http_addr))?;
    let http_handle = http_server.handle();
    actix_rt::spawn(http_server);
    let (metrics_server, metrics_addr) = http::bind_metrics(
        args.metrics_addr,
        HttpState {
            latency,
            counters: counters.clone(),
        },
    )
    .with_context(|| format!("binding the metrics endpoint on {}", args.metrics_addr))?;
    let metrics_handle = metrics_server.handle();
    actix_rt::spawn(metrics_server);

    // Tests and scripts parse this line for the bound addresses.
    println!(
        "parla ready: sip_udp={} sip_tcp={} http={} public_ip={} metrics={}",
        sip.local_udp_addr(),
        sip.local_tcp_addr(),
        http_addr,
        public_ip,
        metrics_addr
    );
    tracing::info!(sip_udp = %sip.local_udp_addr(), http = %http_addr, metrics = %metrics_addr, %public_ip, "parla ready");

    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            call = incoming.recv() => match call {
                Some(call) => manager.handle_incoming(call),
                None => bail!("SIP server stopped unexpectedly"),
            },
            _ = sigterm.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }

    // Graceful shutdown: refuse new calls (503), let active calls finish.
    tracing::info!(active = counters.active(), "shutting down: draining calls");
    sip.set_draining(true);
    let deadline = Instant::now() + Duration::from_secs(args.shutdown_timeout);
    while counters.active() > 0 && Instant::now() < deadline {
        tokio::select! {
            call = incoming.recv() => if let Some(call) = call { let _ = call.handle.reject(503); },
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    if counters.active() > 0 {
        tracing::warn!(
            active = counters.active(),
            "shutdown timeout: ending remaining calls"
        );
    }
    for a in &arbiters {
        a.stop();
    }
    sip.shutdown().await;
    http_handle.stop(true).await;
    metrics_handle.stop(true).await;
    // Let the writers of the last call records finish, then close the pool.
    tokio::time::sleep(Duration::from_millis(200)).await;
    store.close().await;
    tracing::info!("parla stopped");
    Ok(())
}

/// `PARLA_TEST_AGENT_BUILD_DELAY=<agent name>=<ms>`: an operator-only test
/// hook that makes every build of the agents with that name block its build
/// thread for that long (the black-box tests use it to check that a slow
/// build delays no other call). Unset: `None`.
fn test_build_delay() -> anyhow::Result<Option<(String, Duration)>> {
    let Ok(value) = std::env::var("PARLA_TEST_AGENT_BUILD_DELAY") else {
        return Ok(None);
    };
    let (name, ms) = value
        .rsplit_once('=')
        .context("PARLA_TEST_AGENT_BUILD_DELAY must be <agent name>=<milliseconds>")?;
    let ms: u64 = ms
        .trim()
        .parse()
        .context("PARLA_TEST_AGENT_BUILD_DELAY must be <agent name>=<milliseconds>")?;
    tracing::warn!(agent = %name, ms, "test hook: builds of this agent are delayed");
    Ok(Some((name.to_owned(), Duration::from_millis(ms))))
}

/// The file of agents to import on first start: `--config` / `PARLA_CONFIG`
/// (which must exist), else `parla.toml` in the working directory if present.
fn load_config(explicit: Option<&Path>) -> anyhow::Result<Option<(PathBuf, ParlaConfig)>> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let default = PathBuf::from("parla.toml");
            if !default.exists() {
                return Ok(None);
            }
            default
        }
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading config {}", path.display()))?;
    let config =
        ParlaConfig::from_toml(&text).with_context(|| format!("parsing {}", path.display()))?;
    if config.agents.is_empty() {
        bail!("{} defines no [[agents]]", path.display());
    }
    Ok(Some((path, config)))
}

/// The SIP address when it is specific; otherwise the first non-loopback IPv4
/// of this host, falling back to 127.0.0.1.
fn default_public_ip(sip_addr: SocketAddr) -> IpAddr {
    if !sip_addr.ip().is_unspecified() {
        return sip_addr.ip();
    }
    if_addrs::get_if_addrs()
        .ok()
        .and_then(|ifs| {
            ifs.into_iter()
                .find(|i| !i.is_loopback() && i.ip().is_ipv4())
                .map(|i| i.ip())
        })
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}
