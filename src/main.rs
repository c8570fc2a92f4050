//! `parla`: the realtime telephony engine for AI voice agents.
//!
//! `parla serve` answers SIP calls with the agents of `parla.toml` and serves
//! `/healthz` and `/metrics` over HTTP. See the README for the Quick start.

mod cli;
mod http;
mod serve;

use std::io::IsTerminal as _;

use anyhow::Context as _;
use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    // One TLS crypto provider for every rustls user (reqwest, WebSockets).
    let _ = rustls::crypto::ring::default_provider().install_default();
    match cli.command {
        cli::Command::Serve(args) => {
            let system = actix_rt::System::new();
            system
                .block_on(serve::run(args))
                .context("parla serve failed")
        }
    }
}
