//! A Parla under test on free loopback ports, with a generated `parla.toml`
//! (imported into its fresh admin database).
//!
//! Two ways to run it, with the same flags and settings:
//! - [`Parla::launch`] (the default): the library's `Application` in this
//!   test process, on a thread running its own `actix_rt::System`; its log
//!   is the test process's tracing output ([`super::logs`]); stopped
//!   gracefully on drop.
//! - [`Parla::spawn_process`]: the real `parla serve` binary as a child
//!   process, its addresses read from the ready line on stdout and its log
//!   from stderr; SIGTERM on drop. For what needs a process: a signal
//!   (`kill -9`, SIGTERM), the environment the binary scrubs, its stderr
//!   (the generated password), process metrics.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use parla::cli::ServeArgs;
use parla::{Application, EnvSecrets, ServeConfig, StopHandle};

use super::logs::{self, LogBuffer};
use super::tempdir;

/// How long Parla may take to start (the ready line, or `Application::build`).
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// `PARLA_PROVIDER_ALLOW` of every test instance unless its `Launch::env`
/// sets another: any port on 127.0.0.1, where the tests' provider servers run.
pub const DEFAULT_TEST_PROVIDER_ALLOW: &str = "127.0.0.1";

/// The drain deadline of every test instance (`--shutdown-timeout`, in
/// seconds) unless its `Launch::env` sets `PARLA_SHUTDOWN_TIMEOUT`.
const DEFAULT_TEST_SHUTDOWN_TIMEOUT: &str = "5";

/// Environment of the test process that must not leak into `parla serve`.
const ISOLATED_ENV: &[&str] = &[
    "PARLA_DATABASE_URL",
    "PARLA_SECRET_KEY",
    "PARLA_ADMIN_EMAIL",
    "PARLA_ADMIN_PASSWORD",
    "PARLA_CONFIG",
    "PARLA_DATA_DIR",
    "PARLA_METRICS_ADDR",
    "PARLA_MEDIA_TIMEOUT",
    "PARLA_MAX_CALL_SECS",
    "PARLA_MAX_CALLS_PER_TENANT",
    "PARLA_MAX_CALLS_PER_SOURCE",
    "PARLA_INVITE_RATE",
    "PARLA_INVITE_BURST",
    "PARLA_PROVIDER_ALLOW",
    "PARLA_SHUTDOWN_TIMEOUT",
    "PARLA_TEST_AGENT_BUILD_DELAY",
];

const NO_PROCESS: &str = "no process: start this Parla with Parla::spawn_process";

/// A running Parla; stopped gracefully on drop.
pub struct Parla {
    runner: Runner,
    pub sip: SocketAddr,
    pub http: SocketAddr,
    /// The `/metrics` endpoint (`--metrics-addr`, a free loopback port).
    pub metrics_addr: SocketAddr,
    pub log: LogBuffer,
    _dir: tempdir::Dir,
}

enum Runner {
    /// `Application` on the thread `thread`; `done` reports the end of
    /// its graceful shutdown.
    InProcess {
        stop: StopHandle,
        /// In a `Mutex` so that `Parla` is `Sync` (async tests hold `&Parla`).
        done: std::sync::Mutex<mpsc::Receiver<Result<(), String>>>,
        thread: Option<std::thread::JoinHandle<()>>,
        shutdown_timeout: Duration,
    },
    Process(Child),
}

/// How to start Parla ([`Parla::launch`], [`Parla::spawn_process`]).
#[derive(Default, Clone)]
pub struct Launch<'a> {
    /// `parla.toml` text; `None` starts without `--config`.
    pub config_toml: Option<&'a str>,
    /// `--rtp-ports`.
    pub rtp_ports: String,
    /// Extra environment (e.g. `PARLA_DATABASE_URL`, `PARLA_ADMIN_EMAIL`):
    /// for a process, its environment; in-process, the same settings
    /// through the binary's parser (`ServeArgs::parse_with_env`) and the
    /// secrets (`PARLA_ADMIN_EMAIL`, `PARLA_ADMIN_PASSWORD`,
    /// `PARLA_SECRET_KEY`) as `EnvSecrets`.
    pub env: Vec<(String, String)>,
    /// A data directory kept across restarts; default: a fresh one.
    pub data_dir: Option<std::path::PathBuf>,
}

impl Launch<'_> {
    /// The flags of `parla serve` (without `serve`) for this launch;
    /// writes `parla.toml` into `dir`.
    fn flags(&self, dir: &Path) -> Vec<OsString> {
        let data_dir = self.data_dir.clone().unwrap_or_else(|| dir.join("data"));
        let mut flags: Vec<OsString> = [
            "--sip-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
            "--public-ip",
            "127.0.0.1",
            "--rtp-ports",
            self.rtp_ports.as_str(),
            "--data-dir",
        ]
        .map(OsString::from)
        .into();
        flags.push(data_dir.into());
        if let Some(config_toml) = self.config_toml {
            let config = dir.join("parla.toml");
            std::fs::write(&config, config_toml).expect("write parla.toml");
            flags.extend(["--config".into(), config.into()]);
        }
        flags
    }

    /// The environment of this launch over the tests' defaults (a later
    /// pair wins).
    fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            // The local provider servers of the tests (whisper, the fakes)
            // listen on loopback, which the egress guard refuses unless the
            // operator allows it. A test may narrow this.
            (
                "PARLA_PROVIDER_ALLOW".to_owned(),
                DEFAULT_TEST_PROVIDER_ALLOW.to_owned(),
            ),
            (
                "PARLA_SHUTDOWN_TIMEOUT".to_owned(),
                DEFAULT_TEST_SHUTDOWN_TIMEOUT.to_owned(),
            ),
        ];
        env.extend(self.env.iter().cloned());
        env
    }
}

impl Parla {
    /// Starts Parla (in-process) with this `parla.toml` text.
    pub fn start(config_toml: &str, rtp_ports: &str) -> Parla {
        Self::start_with_env(config_toml, rtp_ports, &[])
    }

    /// Starts Parla (in-process) with this `parla.toml` text and settings.
    pub fn start_with_env(config_toml: &str, rtp_ports: &str, env: &[(&str, &str)]) -> Parla {
        Self::launch(Launch {
            config_toml: Some(config_toml),
            rtp_ports: rtp_ports.to_owned(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            data_dir: None,
        })
    }

    /// Starts the application in this process as `launch` says, on a
    /// thread running its own `actix_rt::System`, and waits until it is
    /// built (its ports bound). Panics, with the log, if it fails to start.
    pub fn launch(launch: Launch<'_>) -> Parla {
        let dir = tempdir::Dir::new("parla");
        let log = logs::capture();
        let mut env = launch.env();
        let mut secrets = EnvSecrets::default();
        env.retain(|(k, v)| {
            let slot = match k.as_str() {
                "PARLA_ADMIN_EMAIL" => &mut secrets.admin_email,
                "PARLA_ADMIN_PASSWORD" => &mut secrets.admin_password,
                "PARLA_SECRET_KEY" => &mut secrets.secret_key,
                _ => return true,
            };
            *slot = Some(v.clone()).filter(|v| !v.trim().is_empty());
            false
        });
        let args = ServeArgs::parse_with_env(launch.flags(&dir.0), &env)
            .unwrap_or_else(|e| panic!("settings of the test's Parla: {e}"));
        let shutdown_timeout = Duration::from_secs(args.shutdown_timeout);
        let config = ServeConfig { args, secrets };

        let (ready_tx, ready_rx) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("parla-app".into())
            .spawn(move || {
                actix_rt::System::new().block_on(async move {
                    let running = match Application::build(config).await {
                        Ok(running) => running,
                        Err(e) => {
                            let _ = ready_tx.send(Err(format!("{e:#}")));
                            return;
                        }
                    };
                    let addrs = (
                        running.sip_udp_addr(),
                        running.http_addr(),
                        running.metrics_addr(),
                    );
                    let _ = ready_tx.send(Ok((addrs, running.stop_handle())));
                    let result = running.run_until_stopped().await;
                    let _ = done_tx.send(result.map_err(|e| format!("{e:#}")));
                });
            })
            .expect("spawn the parla thread");
        let log_text = |log: &LogBuffer| log.lock().unwrap().join("\n");
        let ((sip, http, metrics_addr), stop) = match ready_rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(Ok(ready)) => ready,
            Ok(Err(e)) => panic!("parla did not start: {e}\n{}", log_text(&log)),
            Err(_) => panic!(
                "parla did not start within {STARTUP_TIMEOUT:?}:\n{}",
                log_text(&log)
            ),
        };
        Parla {
            runner: Runner::InProcess {
                stop,
                done: std::sync::Mutex::new(done),
                thread: Some(thread),
                shutdown_timeout,
            },
            sip,
            http,
            metrics_addr,
            log,
            _dir: dir,
        }
    }

    /// Starts the `parla serve` binary as `launch` says, as a child process,
    /// and waits for its ready line.
    pub fn spawn_process(launch: Launch<'_>) -> Parla {
        let dir = tempdir::Dir::new("parla");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_parla"));
        for k in ISOLATED_ENV {
            cmd.env_remove(k);
        }
        cmd.arg("serve")
            .args(launch.flags(&dir.0))
            .env(
                "RUST_LOG",
                std::env::var("PARLA_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .envs(launch.env())
            // Without --config, a parla.toml in the working directory would
            // be imported.
            .current_dir(&dir.0)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn parla");
        let log = LogBuffer::default();
        let stderr = child.stderr.take().expect("stderr");
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if std::env::var("PARLA_TEST_ECHO").is_ok() {
                        eprintln!("[parla] {line}");
                    }
                    log.lock().unwrap().push(line);
                }
            });
        }
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("parla ready:") {
                    let _ = tx.send(line);
                }
            }
        });
        let line = match rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!("parla did not start:\n{}", log.lock().unwrap().join("\n"));
            }
        };
        let field = |name: &str| -> SocketAddr {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {line:?}"))
        };
        Parla {
            sip: field("sip_udp"),
            http: field("http"),
            metrics_addr: field("metrics"),
            log,
            runner: Runner::Process(child),
            _dir: dir,
        }
    }

    /// `GET /metrics` (on the metrics address) as text.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.metrics_addr))
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("body")
    }

    /// The value of an un-labelled metric line, e.g. `parla_calls_active`.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self.metrics().await;
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| {
                let (k, v) = l.split_once(' ')?;
                (k == name).then(|| v.trim().parse::<f64>().ok()).flatten()
            })
            .unwrap_or_else(|| panic!("metric {name} missing in:\n{text}"))
    }

    /// Waits until `parla_calls_active` is 0 (or panics after `timeout`).
    pub async fn wait_idle(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.metric("parla_calls_active").await == 0.0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "calls still active after {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Parla's log so far, one line per line.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    fn child(&mut self) -> &mut Child {
        match &mut self.runner {
            Runner::Process(child) => child,
            Runner::InProcess { .. } => panic!("{NO_PROCESS}"),
        }
    }

    /// The process id ([`Parla::spawn_process`] only).
    pub fn pid(&self) -> u32 {
        match &self.runner {
            Runner::Process(child) => child.id(),
            Runner::InProcess { .. } => panic!("{NO_PROCESS}"),
        }
    }

    /// SIGTERM and wait for exit; returns whether it exited within
    /// `timeout` ([`Parla::spawn_process`] only).
    pub fn terminate(&mut self, timeout: Duration) -> bool {
        let pid = self.pid();
        signal(pid, 15);
        self.wait_exit(timeout)
    }

    /// Waits for the process to exit by itself; whether it did within
    /// `timeout` ([`Parla::spawn_process`] only).
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let child = self.child();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

fn signal(pid: u32, sig: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

impl Drop for Parla {
    fn drop(&mut self) {
        match &mut self.runner {
            Runner::Process(_) => {
                if !self.terminate(Duration::from_secs(8)) {
                    let child = self.child();
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
            Runner::InProcess {
                stop,
                done,
                thread,
                shutdown_timeout,
            } => {
                // Graceful, as on SIGTERM: calls still up may finish within
                // the drain deadline.
                stop.stop();
                let done = done.lock().unwrap_or_else(|e| e.into_inner());
                match done.recv_timeout(*shutdown_timeout + Duration::from_secs(10)) {
                    Ok(Ok(())) => {
                        if let Some(thread) = thread.take() {
                            let _ = thread.join();
                        }
                    }
                    Ok(Err(e)) => eprintln!("parla stopped with an error: {e}"),
                    // Left running on its thread; the test process ends soon.
                    Err(_) => eprintln!("parla did not stop within {shutdown_timeout:?} + 10 s"),
                }
            }
        }
        if std::thread::panicking() {
            eprintln!("---- parla log ----\n{}", self.log_text());
        }
    }
}
