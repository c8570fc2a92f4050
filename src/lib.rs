//! Parla, the realtime telephony engine for AI voice agents, as a library:
//! the application behind `parla serve`, for the binary (`src/main.rs`) and
//! for tests and embedders that run it in their own process.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use parla::{cli::ServeArgs, Application, EnvSecrets, ServeConfig};
//!
//! // Same flags and defaults as `parla serve`; port 0 picks free ports.
//! let args = ServeArgs::parse_with_env(
//!     ["--sip-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
//!      "--metrics-addr", "127.0.0.1:0", "--data-dir", "/tmp/parla-data"],
//!     &[("PARLA_MAX_CALLS_PER_TENANT".into(), "4".into())],
//! )?;
//! // On an actix_rt::System:
//! let running = Application::build(ServeConfig { args, secrets: EnvSecrets::default() }).await?;
//! println!("SIP on {}", running.sip_udp_addr());
//! running.stop().await?; // graceful: active calls may finish
//! # Ok(())
//! # }
//! ```
//!
//! The library reads no environment: settings come in [`ServeConfig`]
//! (the binary parses its command line and environment with clap and takes
//! its secrets out of the environment with [`EnvSecrets::take`]).

pub mod admin_store;
mod agents;
pub mod bootstrap;
mod call_records;
pub mod cli;
mod dialer;
mod directory;
mod engine_stats;
mod http;
mod import;
mod live_calls;
mod routing;
mod serve;

pub use bootstrap::EnvSecrets;
pub use serve::{Application, Running, ServeConfig, StopHandle, USER_AGENT};
