//! Command-line flags; every flag of `serve` can also be set from the environment.
//!
//! Environment only (never flags, so they stay out of `ps`):
//! `PARLA_SECRET_KEY` (base64 of 32 bytes: encrypts provider credentials; else
//! generated once into `<data dir>/secret.key`), `PARLA_ADMIN_EMAIL` and
//! `PARLA_ADMIN_PASSWORD` (the first super admin).

use std::ffi::{OsStr, OsString};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{Args, FromArgMatches as _, Parser, Subcommand};
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
    /// Answering-machine detection on a recording: prints one line,
    /// `human|machine|notsure DECISION_MS CAUSE [BEEP_MS]`.
    Amd(AmdArgs),
}

/// `parla amd FILE.wav`.
#[derive(Args, Debug, Clone)]
pub struct AmdArgs {
    /// Mono WAV, 8000 or 16000 Hz, holding the called party's audio from
    /// the moment of answer.
    pub file: PathBuf,
}

impl AmdArgs {
    /// Analyses the file with the live calls' detector and defaults
    /// ([`parla_media::amd::AmdConfig::default`]) and returns the line to
    /// print (without newline): `human|machine|notsure DECISION_MS CAUSE
    /// [BEEP_MS]`, times in ms since answer.
    ///
    /// Errors: the file cannot be opened, is not a WAV, is not mono, or is
    /// not at 8000 or 16000 Hz (the message names the file and the reason).
    pub fn run(&self) -> anyhow::Result<String> {
        use anyhow::Context as _;
        use parla_media::amd::{analyze_wav, AmdConfig};
        let name = self.file.display();
        let file =
            std::fs::File::open(&self.file).with_context(|| format!("cannot open {name}"))?;
        let outcome = analyze_wav(std::io::BufReader::new(file), AmdConfig::default())
            .with_context(|| format!("{name}: cannot analyse"))?;
        Ok(outcome.to_line())
    }

    /// [`run`](Self::run), printed: the line on stdout and exit code 0, or
    /// `parla amd: <reason>` on stderr (one line, no backtrace) and 1.
    pub fn print(&self) -> i32 {
        use std::io::Write as _;
        match self.run() {
            Ok(line) => {
                let mut out = std::io::stdout().lock();
                match writeln!(out, "{line}").and_then(|()| out.flush()) {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln!("parla amd: writing the result: {e}");
                        1
                    }
                }
            }
            Err(e) => {
                eprintln!("parla amd: {e:#}");
                1
            }
        }
    }
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
    /// tenant does not exist yet). Default: `parla.toml` if it exists
    /// (see [`ServeArgs::with_default_config`]).
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
    /// Test hook, operator only (hidden from `--help`): `<agent name>=<ms>`
    /// makes every build of the agents with that name block its build
    /// thread for that many milliseconds (the black-box tests check that a
    /// slow build delays no other call).
    #[arg(long, env = "PARLA_TEST_AGENT_BUILD_DELAY", hide = true, value_parser = parse_build_delay)]
    pub test_agent_build_delay: Option<BuildDelay>,
}

/// `--test-agent-build-delay`: builds of the agents named `agent` block for
/// `delay`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildDelay {
    /// The agent name (exact).
    pub agent: String,
    /// How long each build blocks.
    pub delay: Duration,
}

/// `<agent name>=<milliseconds>` (the name may contain `=`: the last one
/// splits).
fn parse_build_delay(value: &str) -> Result<BuildDelay, String> {
    const SHAPE: &str = "expected <agent name>=<milliseconds>";
    let (name, ms) = value.rsplit_once('=').ok_or(SHAPE)?;
    let ms: u64 = ms.trim().parse().map_err(|_| SHAPE)?;
    Ok(BuildDelay {
        agent: name.to_owned(),
        delay: Duration::from_millis(ms),
    })
}

impl ServeArgs {
    /// Parses the flags of `parla serve` (`args`, without `parla serve`)
    /// with the command line's own parser, taking the environment from
    /// `env` (pairs such as `("PARLA_MAX_CALLS_PER_TENANT", "1")`) instead
    /// of the process environment: what `parla serve args…` parses when
    /// exactly `env` is set. A flag wins over its variable, as on the
    /// command line; of a variable given twice the last value counts; empty
    /// values count as unset; a boolean flag's variable
    /// is false when empty, `0`, `false`, `no`, `off`, `n` or `f`.
    ///
    /// For embedding [`crate::Application`] (the in-process tests) with the
    /// same settings and defaults as the binary.
    ///
    /// Errors: a flag or value the command line refuses, or a variable that
    /// no setting of `parla serve` reads (`ErrorKind::UnknownArgument`).
    pub fn parse_with_env<I, T>(args: I, env: &[(String, String)]) -> Result<ServeArgs, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let with_env =
            ServeArgs::augment_args(clap::Command::new("parla serve").no_binary_name(true));
        let without_env = with_env.clone().mut_args(|a| a.env(None));
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let given = without_env.clone().try_get_matches_from(&args)?;
        let mut flags = Vec::new();
        // One value per variable, as in an environment: the last one wins.
        let mut seen = std::collections::HashSet::new();
        let env: Vec<&(String, String)> =
            env.iter().rev().filter(|(k, _)| seen.insert(k)).collect();
        for (var, value) in env {
            let arg = with_env
                .get_arguments()
                .find(|a| a.get_env() == Some(OsStr::new(var)))
                .ok_or_else(|| {
                    without_env.clone().error(
                        ErrorKind::UnknownArgument,
                        format!("no setting of `parla serve` is read from {var}"),
                    )
                })?;
            let on_command_line = matches!(
                given.value_source(arg.get_id().as_str()),
                Some(ValueSource::CommandLine)
            );
            if on_command_line || value.is_empty() {
                continue;
            }
            let flag = OsString::from(format!("--{}", arg.get_long().unwrap_or_default()));
            if arg.get_action().takes_values() {
                flags.extend([flag, OsString::from(value)]);
            } else if !matches!(
                value.trim().to_ascii_lowercase().as_str(),
                "0" | "false" | "no" | "off" | "n" | "f"
            ) {
                flags.push(flag);
            }
        }
        let matches = without_env.try_get_matches_from(flags.into_iter().chain(args))?;
        ServeArgs::from_arg_matches(&matches)
    }

    /// `--config` when given; else `parla.toml` in the working directory
    /// when that file exists (the binary's default: [`crate::Application`]
    /// itself imports only an explicit file).
    pub fn with_default_config(mut self) -> ServeArgs {
        if self.config.is_none() {
            let default = PathBuf::from("parla.toml");
            if default.exists() {
                self.config = Some(default);
            }
        }
        self
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn settings_come_from_the_given_environment_and_flags_win() {
        let args = ServeArgs::parse_with_env(
            ["--shutdown-timeout", "7", "--provider-allow", "a.example"],
            &env(&[
                ("PARLA_MAX_CALLS_PER_TENANT", "1"),
                ("PARLA_SHUTDOWN_TIMEOUT", "60"),
                ("PARLA_PROVIDER_ALLOW", "b.example,c.example"),
                ("PARLA_SECURE_COOKIES", "true"),
                ("PARLA_TEST_AGENT_BUILD_DELAY", "Slow=8000"),
                ("PARLA_MEDIA_TIMEOUT", "3"),
                ("PARLA_MEDIA_TIMEOUT", "2"),
            ]),
        )
        .unwrap();
        assert_eq!(args.limits.max_calls_per_tenant, 1);
        assert_eq!(args.shutdown_timeout, 7, "the flag wins");
        assert_eq!(args.provider_allow, ["a.example"], "the flag wins");
        assert!(args.secure_cookies);
        assert_eq!(args.limits.media_timeout, 2, "the last value wins");
        assert_eq!(
            args.test_agent_build_delay,
            Some(BuildDelay {
                agent: "Slow".into(),
                delay: Duration::from_millis(8000)
            })
        );
        // Defaults as on the command line; nothing from the process environment.
        assert_eq!(args.http_addr, "127.0.0.1:8080".parse().unwrap());
        let off = ServeArgs::parse_with_env(
            Vec::<String>::new(),
            &env(&[("PARLA_SECURE_COOKIES", "false")]),
        )
        .unwrap();
        assert!(!off.secure_cookies);
    }

    #[test]
    fn unknown_variables_and_bad_values_are_refused() {
        let unknown =
            ServeArgs::parse_with_env(Vec::<String>::new(), &env(&[("PARLA_MAX_CALLS", "1")]))
                .unwrap_err();
        assert!(unknown.to_string().contains("PARLA_MAX_CALLS"), "{unknown}");
        let bad = ServeArgs::parse_with_env(
            Vec::<String>::new(),
            &env(&[("PARLA_TEST_AGENT_BUILD_DELAY", "Slow")]),
        )
        .unwrap_err();
        assert!(
            bad.to_string().contains("<agent name>=<milliseconds>"),
            "{bad}"
        );
    }
}
