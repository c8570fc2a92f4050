//! Command-line flags; every flag of `serve` can also be set from the environment.

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
    /// Answer SIP calls with the configured agents.
    Serve(ServeArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// SIP listen address, for both UDP and TCP.
    #[arg(long, env = "PARLA_SIP_ADDR", default_value = "0.0.0.0:5060")]
    pub sip_addr: SocketAddr,
    /// HTTP listen address for /healthz and /metrics.
    #[arg(long, env = "PARLA_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// Address advertised in SDP and Contact (behind NAT: the public address).
    /// Default: the SIP address when specific, else the first non-loopback IPv4.
    #[arg(long, env = "PARLA_PUBLIC_IP")]
    pub public_ip: Option<IpAddr>,
    /// UDP port range for RTP, LOW-HIGH.
    #[arg(long, env = "PARLA_RTP_PORTS", default_value = "20000-29999")]
    pub rtp_ports: PortRange,
    /// Agents and providers.
    #[arg(long, env = "PARLA_CONFIG", default_value = "parla.toml")]
    pub config: PathBuf,
    /// Where Parla keeps its data (recordings, database — later issues).
    #[arg(long, env = "PARLA_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// On SIGTERM/SIGINT, how long active calls may continue before exit, in seconds.
    #[arg(long, env = "PARLA_SHUTDOWN_TIMEOUT", default_value_t = 30)]
    pub shutdown_timeout: u64,
    /// Media arbiters (threads running call actors). Default: one per core.
    #[arg(long, env = "PARLA_MEDIA_THREADS")]
    pub media_threads: Option<usize>,
}
