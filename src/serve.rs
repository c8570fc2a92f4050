//! The application behind `parla serve`: [`Application::build`] wires the
//! admin database, SIP, the call engine and HTTP together and returns the
//! [`Running`] application, which serves until stopped and then shuts down
//! gracefully (refuse new calls, let active ones finish).
//!
//! Start-up: open the database (migrations), load or create the secret key,
//! bootstrap the first super admin, import `parla.toml` into the `default`
//! tenant on first start; then every INVITE is routed through the database.
//!
//! The binary (`main.rs`) reads the command line and the environment, builds
//! the application and stops it on SIGTERM/SIGINT; the integration tests
//! build it in their own process. Nothing here reads the process
//! environment: every setting and secret comes in [`ServeConfig`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::path::{Path, PathBuf};

use actix::Arbiter;
use actix_web::web;
use anyhow::{bail, Context as _};
use parla_admin_web::api::AdminState;
use parla_admin_web::panel::PanelOptions;
use parla_engine::agent::ParlaConfig;
use parla_engine::call::{CallLimits, CallManager, CallServices};
use parla_engine::metrics::{CallCounters, LatencyMetrics};
use parla_engine::providers::egress::EgressPolicy;
use parla_engine::rtp_ports::RtpPortPool;
use parla_sip::server::{IncomingCall, SipServer, SipServerConfig};
use tokio::sync::{mpsc, watch};

use crate::admin_store::{load_secret_key, open_store};
use crate::bootstrap::{ensure_super_admin, EnvSecrets};
use crate::cli::ServeArgs;
use crate::dialer::{DialJob, EngineDialer};
use crate::directory::DbDirectory;
use crate::engine_stats::EngineFigures;
use crate::http::{self, HttpState};
use crate::import::{import_if_first_start, ImportOutcome};

/// The `Server`/`User-Agent` header value.
pub const USER_AGENT: &str = concat!("Parla/", env!("CARGO_PKG_VERSION"));

/// Everything [`Application::build`] needs, passed explicitly: the library
/// reads no environment.
#[derive(Debug)]
pub struct ServeConfig {
    /// The settings of `parla serve` (the binary parses them from its
    /// command line and environment; see also
    /// [`ServeArgs::parse_with_env`]). Port 0 in `sip_addr`, `http_addr` or
    /// `metrics_addr` picks a free port (see [`Running`] for the bound
    /// ones). `config: None` imports no `parla.toml` (the binary's default
    /// file is resolved by [`ServeArgs::with_default_config`]).
    pub args: ServeArgs,
    /// Parla's own secrets and the first super admin's e-mail (the binary
    /// takes them out of its environment: [`EnvSecrets::take`]). Dropped
    /// once the application is built.
    pub secrets: EnvSecrets,
}

/// Builds the Parla application ([`Application::build`]).
#[derive(Debug)]
pub struct Application {
    _private: (),
}

impl Application {
    /// Starts Parla as `config` says and returns it running: the database
    /// opened (migrations applied, interrupted calls closed, first super
    /// admin created, `parla.toml` imported on first start), SIP bound on
    /// UDP and TCP and answering calls, the public HTTP server (panel, admin
    /// API, `/healthz`) and the metrics server listening.
    ///
    /// Call it on an `actix_rt::System` (the call actors run on Arbiters of
    /// that System, and the servers are tasks on it); the application runs
    /// there until [`Running::stop`] (or a [`StopHandle`]).
    ///
    /// Errors: an unreadable or invalid `parla.toml`, a malformed secret
    /// key, an unreachable database, an address that cannot be bound, a
    /// malformed setting (`--provider-allow`, `--invite-rate`); nothing is
    /// left listening then.
    pub async fn build(config: ServeConfig) -> anyhow::Result<Running> {
        let ServeConfig { args, secrets } = config;
        // One TLS crypto provider for every rustls user (reqwest, WebSockets).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let agents_file = load_config(args.config.as_deref())?;
        let data_dir = &args.store.data_dir;
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating data dir {}", data_dir.display()))?;
        let key = load_secret_key(data_dir, secrets.secret_key.as_deref())?;
        let store = open_store(&args.store).await?;
        crate::bootstrap::close_interrupted_calls(&store).await?;
        ensure_super_admin(
            &store,
            secrets.admin_email.as_deref(),
            secrets.admin_password.as_deref(),
        )
        .await?;
        drop(secrets);
        if let Some((path, agents)) = &agents_file {
            match import_if_first_start(&store, &key, agents)
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
        let build_delay = args.test_agent_build_delay.clone().map(|d| {
            tracing::warn!(agent = %d.agent, ms = d.delay.as_millis() as u64, "test hook: builds of this agent are delayed");
            (d.agent, d.delay)
        });
        let live_calls = crate::live_calls::LiveRegistry::new();
        let directory = Arc::new(
            DbDirectory::new(store.clone(), key.clone(), egress)
                .with_build_timeout(Duration::from_secs(args.agent_build_timeout.max(1)))
                .with_test_build_delay(build_delay)
                .with_live_calls(live_calls.clone()),
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
        let invite_rate = args.limits.invite_rate()?;
        let threads = args.media_threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        });
        let arbiters: Vec<Arbiter> = (0..threads.max(1)).map(|_| Arbiter::new()).collect();
        let stop_arbiters = |arbiters: &[Arbiter]| {
            for a in arbiters {
                a.stop();
            }
        };
        let (dialer, dial_jobs) = EngineDialer::new(
            store.clone(),
            directory.clone(),
            services.limits.clone(),
            public_ip.to_string(),
        );
        let admin = web::Data::new(
            AdminState::new(store.clone(), key)
                .with_secure_cookies(args.secure_cookies)
                .with_live_calls(live_calls)
                .with_dialer(Arc::new(dialer)),
        );
        let manager = CallManager::new(
            directory,
            services,
            arbiters.iter().map(|a| a.handle()).collect(),
        );

        let bound = SipServer::bind(SipServerConfig {
            bind: args.sip_addr,
            public_ip: Some(public_ip),
            user_agent: USER_AGENT.to_string(),
            invite_rate,
            ..Default::default()
        })
        .await
        .with_context(|| format!("binding SIP on {}", args.sip_addr));
        let (sip, incoming) = match bound {
            Ok(bound) => bound,
            Err(e) => {
                stop_arbiters(&arbiters);
                store.close().await;
                return Err(e);
            }
        };

        let panel = PanelOptions {
            recordings_dir: Some(data_dir.join("recordings")),
            engine_stats: Some(Arc::new(EngineFigures {
                latency: latency.clone(),
                counters: counters.clone(),
            })),
        };
        let http_bound = http::bind(args.http_addr, admin, panel)
            .with_context(|| format!("binding HTTP on {}", args.http_addr))
            .and_then(|public| {
                let metrics = http::bind_metrics(
                    args.metrics_addr,
                    HttpState {
                        latency,
                        counters: counters.clone(),
                    },
                )
                .with_context(|| {
                    format!("binding the metrics endpoint on {}", args.metrics_addr)
                })?;
                Ok((public, metrics))
            });
        let ((http_server, http_addr), (metrics_server, metrics_addr)) = match http_bound {
            Ok(bound) => bound,
            Err(e) => {
                stop_arbiters(&arbiters);
                sip.shutdown().await;
                store.close().await;
                return Err(e);
            }
        };
        let http_handle = http_server.handle();
        actix_rt::spawn(http_server);
        let metrics_handle = metrics_server.handle();
        actix_rt::spawn(metrics_server);

        let addrs = Addrs {
            sip_udp: sip.local_udp_addr(),
            sip_tcp: sip.local_tcp_addr(),
            http: http_addr,
            metrics: metrics_addr,
            public_ip,
        };
        tracing::info!(sip_udp = %addrs.sip_udp, http = %addrs.http, metrics = %addrs.metrics, %public_ip, "parla ready");
        let (stop_tx, stop_rx) = watch::channel(false);
        let stop = StopHandle {
            tx: Arc::new(stop_tx),
        };
        let serving = Serving {
            sip,
            incoming,
            dial_jobs,
            manager,
            counters,
            arbiters,
            http: vec![http_handle, metrics_handle],
            store,
            shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
            // Keeps the channel open: only a stop ends the serving.
            _stop: stop.clone(),
        };
        let task = actix_rt::spawn(serving.run(stop_rx));
        Ok(Running { addrs, stop, task })
    }
}

/// The bound addresses of a running application.
#[derive(Debug, Clone, Copy)]
struct Addrs {
    sip_udp: SocketAddr,
    sip_tcp: SocketAddr,
    http: SocketAddr,
    metrics: SocketAddr,
    public_ip: IpAddr,
}

/// A running Parla ([`Application::build`]): answering calls and serving
/// HTTP on its System until stopped. Dropping it does not stop it (use
/// [`Running::stop`], or a [`StopHandle`] from another task or thread).
#[derive(Debug)]
pub struct Running {
    addrs: Addrs,
    stop: StopHandle,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// The bound SIP UDP address (the port picked when 0 was asked).
    pub fn sip_udp_addr(&self) -> SocketAddr {
        self.addrs.sip_udp
    }

    /// The bound SIP TCP address (same port as UDP).
    pub fn sip_tcp_addr(&self) -> SocketAddr {
        self.addrs.sip_tcp
    }

    /// The bound public HTTP address (panel, admin API, `/healthz`).
    pub fn http_addr(&self) -> SocketAddr {
        self.addrs.http
    }

    /// The bound metrics address (`/metrics`, `/healthz`).
    pub fn metrics_addr(&self) -> SocketAddr {
        self.addrs.metrics
    }

    /// The address advertised in SDP and Contact.
    pub fn public_ip(&self) -> IpAddr {
        self.addrs.public_ip
    }

    /// `parla ready: sip_udp=… sip_tcp=… http=… public_ip=… metrics=…`: the
    /// line the binary prints on stdout once started (scripts parse it).
    pub fn ready_line(&self) -> String {
        let a = &self.addrs;
        format!(
            "parla ready: sip_udp={} sip_tcp={} http={} public_ip={} metrics={}",
            a.sip_udp, a.sip_tcp, a.http, a.public_ip, a.metrics
        )
    }

    /// A handle that stops this application from any task or thread.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Serves until a [`StopHandle`] stops the application, then shuts it
    /// down gracefully (see [`Running::stop`]) and returns.
    ///
    /// Errors: the SIP server stopped by itself (the application is shut
    /// down all the same), or the serving task panicked.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Running { task, stop, .. } = self;
        let result = task.await.context("the serving task of parla failed")?;
        drop(stop);
        result
    }

    /// Shuts down gracefully, as on SIGTERM: new calls are refused (503)
    /// while active calls continue, for up to `--shutdown-timeout` seconds;
    /// then the remaining calls end, the servers stop and the database is
    /// closed. Returns when all that is done.
    ///
    /// Errors: as [`Running::run_until_stopped`].
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.stop();
        self.run_until_stopped().await
    }
}

/// Stops a [`Running`] application gracefully; `Clone`, `Send` and `Sync`,
/// usable from any thread (a signal handler task, a test's thread).
#[derive(Debug, Clone)]
pub struct StopHandle {
    tx: Arc<watch::Sender<bool>>,
}

impl StopHandle {
    /// Asks the application to shut down gracefully (see [`Running::stop`])
    /// and returns at once; later calls do nothing more.
    pub fn stop(&self) {
        self.tx.send_replace(true);
    }
}

/// What the serving task owns.
struct Serving {
    sip: SipServer,
    incoming: mpsc::Receiver<IncomingCall>,
    /// Outbound calls to place (from the admin API, through [`EngineDialer`]).
    dial_jobs: mpsc::Receiver<DialJob>,
    manager: CallManager,
    counters: Arc<CallCounters>,
    arbiters: Vec<Arbiter>,
    http: Vec<actix_web::dev::ServerHandle>,
    store: parla_admin_core::store::Store,
    shutdown_timeout: Duration,
    _stop: StopHandle,
}

impl Serving {
    /// Hands every incoming call to the call manager until stopped (or the
    /// SIP server ends), then drains and shuts down.
    async fn run(mut self, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        let failure = loop {
            tokio::select! {
                call = self.incoming.recv() => match call {
                    Some(call) => self.manager.handle_incoming(call),
                    None => break Some(anyhow::anyhow!("SIP server stopped unexpectedly")),
                },
                Some(job) = self.dial_jobs.recv() => job.place(&self.manager, &self.sip),
                _ = stop.wait_for(|stopped| *stopped) => break None,
            }
        };
        self.shut_down().await;
        failure.map_or(Ok(()), Err)
    }

    /// Graceful shutdown: refuse new calls (503), let active calls finish
    /// (up to the shutdown timeout), then stop everything.
    async fn shut_down(mut self) {
        let counters = &self.counters;
        tracing::info!(active = counters.active(), "shutting down: draining calls");
        self.sip.set_draining(true);
        let deadline = Instant::now() + self.shutdown_timeout;
        while counters.active() > 0 && Instant::now() < deadline {
            tokio::select! {
                call = self.incoming.recv() => if let Some(call) = call { let _ = call.handle.reject(503); },
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
        if counters.active() > 0 {
            tracing::warn!(
                active = counters.active(),
                "shutdown timeout: ending remaining calls"
            );
        }
        for a in &self.arbiters {
            a.stop();
        }
        self.sip.shutdown().await;
        for handle in &self.http {
            handle.stop(true).await;
        }
        // Let the writers of the last call records finish, then close the pool.
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.store.close().await;
        tracing::info!("parla stopped");
    }
}

/// The file of agents to import on first start (`--config`, which must
/// exist); `None`: nothing to import.
fn load_config(explicit: Option<&Path>) -> anyhow::Result<Option<(PathBuf, ParlaConfig)>> {
    let Some(path) = explicit.map(Path::to_path_buf) else {
        return Ok(None);
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
