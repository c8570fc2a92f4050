//! Command-line flags; every flag of `serve` can also be set from the environment.
//!
//! Environment only (never flags, so they stay out of `ps`):
//! `PARLA_SECRET_KEY` (base64 of 32 bytes: encrypts provider credentials; else
//! generated once into `<data dir>/secret.key`), `PARLA_ADMIN_EMAIL` and
//! `PARLA_ADMIN_PASSWORD` (the first super admin).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use parla_engine::rtp_ports::PortRange;

#[derive(Parser, Debug)]
#[command(
    name = "parla",
    version,
    about = "Realtime telephony engine for AI voice agents"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once at start-up: the size of `ServeArgs` does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Answer SIP calls with the agents of the admin database, and serve the
    /// admin API.
    Serve(ServeArgs),
    /// Administer the admin database from the shell.
    #[command(subcommand)]
    Admin(AdminCommand),
}

/// `parla admin …`.
#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create a super admin (operator) login. The password comes from
    /// PARLA_ADMIN_PASSWORD, else from the first line of standard input.
    CreateSuperAdmin {
        /// The login e-mail.
        #[arg(long)]
        email: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Where the admin database is.
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// Where Parla keeps its data: the embedded database
    /// (parla-admin.sqlite3), the generated secret key, recordings.
    #[arg(long, env = "PARLA_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// `postgres://user:pass@host/db` (or `sqlite://file?mode=rwc`) instead of
    /// the embedded SQLite file in the data directory.
    #[arg(long, env = "PARLA_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// SIP listen address, for both UDP and TCP.
    #[arg(long, env = "PARLA_SIP_ADDR", default_value = "0.0.0.0:5060")]
    pub sip_addr: SocketAddr,
    /// HTTP listen address: the web panel (`/panel`), the admin API
    /// (`/api/v1`) and /healthz.
    #[arg(long, env = "PARLA_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// Mark session cookies `Secure` (browsers then send them over HTTPS
    /// only). Set it when the panel is served through a TLS proxy.
    #[arg(long, env = "PARLA_SECURE_COOKIES", default_value_t = false)]
    pub secure_cookies: bool,
    /// Address advertised in SDP and Contact (behind NAT: the public address).
    /// Default: the SIP address when specific, else the first non-loopback IPv4.
    #[arg(long, env = "PARLA_PUBLIC_IP")]
    pub public_ip: Option<IpAddr>,
    /// UDP port range for RTP, LOW-HIGH.
    #[arg(long, env = "PARLA_RTP_PORTS", default_value = "20000-29999")]
    pub rtp_ports: PortRange,
    /// Agents to import into the `default` tenant on first start (when that
    /// tenant does not exist yet). Default: `parla.toml` if it exists.
    #[arg(long, env = "PARLA_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// On SIGTERM/SIGINT, how long active calls may continue before exit, in seconds.
    #[arg(long, env = "PARLA_SHUTDOWN_TIMEOUT", default_value_t = 30)]
    pub shutdown_timeout: u64,
    /// Hosts that agents' providers may reach although the egress guard
    /// would refuse them: `host` or `host:port` (IP or DNS name, `[v6]:port`),
    /// comma-separated. Allowed hosts may use plain `http://`/`ws://` and
    /// resolve to loopback or private addresses (local whisper, an internal
    /// LLM gateway). Everything else: `https://`/`wss://` to public addresses.
    #[arg(long, env = "PARLA_PROVIDER_ALLOW", value_delimiter = ',')]
    pub provider_allow: Vec<String>,
    /// Media arbiters (threads running call actors). Default: one per core.
    #[arg(long, env = "PARLA_MEDIA_THREADS")]
    pub media_threads: Option<usize>,
    /// How long a call waits for its agent to be built (settings checked,
    /// provider clients created, the fallback line rendered), in seconds;
    /// then that call gets 503 while the build finishes for the next call.
    /// Builds run off the SIP thread, so a slow one delays no other call.
    #[arg(long, env = "PARLA_AGENT_BUILD_TIMEOUT", default_value_t = 5)]
    pub agent_build_timeout: u64,
    /// Listen address of the Prometheus `/metrics` endpoint (and /healthz),
    /// apart from the public HTTP address; port 0 picks a free port.
    #[arg(long, env = "PARLA_METRICS_ADDR", default_value = "127.0.0.1:9464")]
    pub metrics_addr: SocketAddr,
    #[command(flatten)]
    pub limits: CallLimitArgs,
}

/// Media and call limits of `parla serve` (defaults: the engine's and the SIP
/// server's `DEFAULT_*` consts).
#[derive(Args, Debug, Clone)]
pub struct CallLimitArgs {
    /// Seconds without RTP from the caller after which an answered call is
    /// ended with BYE (hangup cause `media_timeout`); 0 = never.
    #[arg(long, env = "PARLA_MEDIA_TIMEOUT", default_value_t = parla_engine::call::DEFAULT_MEDIA_TIMEOUT.as_secs())]
    pub media_timeout: u64,
    /// Maximum call length in seconds, from the answer (cause
    /// `max_duration`); an agent's `max_call_secs` may be lower, never
    /// higher; 0 = no cap.
    #[arg(long, env = "PARLA_MAX_CALL_SECS", default_value_t = parla_engine::call::DEFAULT_MAX_CALL.as_secs())]
    pub max_call_secs: u64,
    /// Calls in progress per tenant; more get 503 + Retry-After; 0 = no limit.
    #[arg(long, env = "PARLA_MAX_CALLS_PER_TENANT", default_value_t = parla_engine::call::limits::DEFAULT_MAX_CALLS_PER_TENANT)]
    pub max_calls_per_tenant: usize,
    /// Calls in progress per source IP (IPv6: per /64); more get 503 +
    /// Retry-After before routing; 0 = no limit. Raise it for SIP trunks.
    #[arg(long, env = "PARLA_MAX_CALLS_PER_SOURCE", default_value_t = parla_engine::call::limits::DEFAULT_MAX_CALLS_PER_SOURCE)]
    pub max_calls_per_source: usize,
    /// New INVITEs per second per source IP, sustained (token bucket refill);
    /// over it they get 503 + Retry-After before anything else; 0 = no limit.
    #[arg(long, env = "PARLA_INVITE_RATE", default_value_t = DEFAULT_INVITE_RATE)]
    pub invite_rate: f64,
    /// New INVITEs accepted back to back from one idle source (the bucket size).
    #[arg(long, env = "PARLA_INVITE_BURST", default_value_t = DEFAULT_INVITE_BURST)]
    pub invite_burst: u32,
}

/// Default sustained rate of new INVITEs per source IP: 10 per second.
pub const DEFAULT_INVITE_RATE: f64 = 10.0;
/// Default burst of new INVITEs per source IP: 50.
pub const DEFAULT_INVITE_BURST: u32 = 50;

impl CallLimitArgs {
    /// The media timeout; `None` when disabled (0).
    pub fn media_timeout(&self) -> Option<std::time::Duration> {
        (self.media_timeout > 0).then(|| std::time::Duration::from_secs(self.media_timeout))
    }

    /// The operator's call length cap; `None` when disabled (0).
    pub fn max_call(&self) -> Option<std::time::Duration> {
        (self.max_call_secs > 0).then(|| std::time::Duration::from_secs(self.max_call_secs))
    }

    /// The INVITE token bucket; `None` when disabled (rate 0).
    pub fn invite_rate(&self) -> anyhow::Result<Option<parla_sip::server::InviteRateLimit>> {
        if self.invite_rate == 0.0 {
            return Ok(None);
        }
        if !self.invite_rate.is_finite() || self.invite_rate < 0.0 {
            anyhow::bail!(
                "--invite-rate must be a number of INVITEs per second ≥ 0, got {}",
                self.invite_rate
            );
        }
        if self.invite_burst == 0 {
            anyhow::bail!("--invite-burst must be at least 1");
        }
        Ok(Some(parla_sip::server::InviteRateLimit {
            per_second: self.invite_rate,
            burst: self.invite_burst,
        }))
    }
}
