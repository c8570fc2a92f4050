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
    /// (`/api/v1`), /healthz and /metrics.
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
    /// Media arbiters (threads running call actors). Default: one per core.
    #[arg(long, env = "PARLA_MEDIA_THREADS")]
    pub media_threads: Option<usize>,
}
