//! `parla`: the realtime telephony engine for AI voice agents.
//!
//! `parla serve` answers SIP calls with the agents of the admin database
//! (`parla.toml` is imported into it on first start) and serves `/healthz`,
//! `/metrics` and the admin API over HTTP. `parla admin` administers the
//! database from the shell. `parla amd FILE.wav` runs the answering-machine
//! detector on a recording. See the README for the Quick start.
//!
//! This file is the shell around the library ([`parla::Application`]): it
//! parses the command line, takes the secrets out of the environment, sets
//! up logging, prints the ready line and turns SIGTERM/SIGINT into a
//! graceful shutdown.

use std::io::IsTerminal as _;

use anyhow::Context as _;
use clap::Parser;
use parla::{admin_store, bootstrap, cli, Application, ServeConfig};

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    // Before any thread exists (see EnvSecrets::take): Parla's secrets leave
    // the process environment and live in memory only.
    let env_secrets = bootstrap::EnvSecrets::take();
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
            let config = ServeConfig {
                args: args.with_default_config(),
                secrets: env_secrets,
            };
            actix_rt::System::new()
                .block_on(serve(config))
                .context("parla serve failed")
        }
        cli::Command::Admin(cli::AdminCommand::CreateSuperAdmin { email, store }) => {
            let password = bootstrap::password_from_env_or_stdin(env_secrets.admin_password)?;
            let system = actix_rt::System::new();
            system
                .block_on(async move {
                    let db = admin_store::open_store(&store).await?;
                    let id = bootstrap::create_super_admin(
                        &db,
                        &email,
                        &password,
                        bootstrap::Actor::Cli,
                    )
                    .await;
                    db.close().await;
                    let id = id?;
                    println!("created super admin {} ({id})", email.trim());
                    anyhow::Ok(())
                })
                .context("parla admin create-super-admin failed")
        }
        cli::Command::Amd(args) => std::process::exit(args.print()),
    }
}

/// `parla serve`: builds the application, prints the ready line, and shuts
/// down gracefully on the first SIGTERM or SIGINT.
async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let running = Application::build(config).await?;
    let mut sigterm = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    // Tests, scripts and the README's quick start parse this line for the
    // bound addresses.
    println!("{}", running.ready_line());
    let stop = running.stop_handle();
    actix_rt::spawn(async move {
        tokio::select! {
            _ = sigterm.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        stop.stop();
    });
    running.run_until_stopped().await
}
