//! Black-box test support: runs the real `parla` binary on free ports with a
//! generated `parla.toml` (imported into its fresh admin database), and
//! helpers shared by the end-to-end tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use parla_testkit::caller::{Action, CallOutcome, CallSpec};
use parla_testkit::speech::{espeak_wav, voiced_spans, Whisper};

/// How long `parla serve` may take to print its ready line.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `parla serve`; SIGTERM + wait on drop.
pub struct Parla {
    child: Child,
    pub sip: SocketAddr,
    pub http: SocketAddr,
    /// The `/metrics` endpoint (`--metrics-addr`, a free loopback port).
    pub metrics_addr: SocketAddr,
    pub log: Arc<Mutex<Vec<String>>>,
    _dir: tempdir::Dir,
}

/// How to start `parla serve` ([`Parla::launch`]).
#[derive(Default)]
pub struct Launch<'a> {
    /// `parla.toml` text; `None` starts without `--config`.
    pub config_toml: Option<&'a str>,
    /// `--rtp-ports`.
    pub rtp_ports: String,
    /// Extra environment (e.g. `PARLA_DATABASE_URL`, `PARLA_ADMIN_EMAIL`).
    pub env: Vec<(String, String)>,
    /// A data directory kept across restarts; default: a fresh one.
    pub data_dir: Option<std::path::PathBuf>,
}

/// `PARLA_PROVIDER_ALLOW` of every test instance unless its `Launch::env`
/// sets another: any port on 127.0.0.1, where the tests' provider servers run.
pub const DEFAULT_TEST_PROVIDER_ALLOW: &str = "127.0.0.1";

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
];

pub mod tempdir {
    /// A temporary directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new(tag: &str) -> Self {
            let p = std::env::temp_dir().join(format!(
                "parla-test-{tag}-{}-{}",
                std::process::id(),
                rand_u32()
            ));
            std::fs::create_dir_all(&p).expect("create temp dir");
            Dir(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn rand_u32() -> u32 {
        use std::time::{SystemTime, UNIX_EPOCH};
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    }
}

/// Distinct RTP port ranges per Parla instance started by this process.
static NEXT_RTP_BASE: AtomicU16 = AtomicU16::new(0);

/// RTP ports for one instance: `count` even ports in a range that no other
/// concurrently running test uses.
///
/// Under `cargo nextest` every test is its own process, and
/// `NEXTEST_TEST_GLOBAL_SLOT` (0 ≤ slot < test threads) tells the concurrently
/// running tests apart: each slot owns a block of 3,000 ports. Under plain
/// `cargo test` the tests of one binary are threads of one process and `salt`
/// (one per test module) separates the modules. Both stay below the kernel's
/// ephemeral range (32768+), where callers' port-0 sockets land.
pub fn rtp_range(salt: u16, count: u16) -> String {
    let slot = NEXT_RTP_BASE.fetch_add(1, Ordering::Relaxed);
    let nextest_slot = std::env::var("NEXTEST_TEST_GLOBAL_SLOT")
        .ok()
        .and_then(|s| s.parse::<u16>().ok());
    let low = match nextest_slot {
        Some(g) => 20000 + (g % 4) * 3000 + slot * 400,
        None => 20000 + salt * 2000 + slot * 400,
    };
    format!("{}-{}", low, low + count * 2 - 1)
}

impl Parla {
    /// Starts `parla serve` with this `parla.toml` text.
    pub fn start(config_toml: &str, rtp_ports: &str) -> Parla {
        Self::start_with_env(config_toml, rtp_ports, &[])
    }

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

    /// Starts `parla serve` as `launch` says and waits for its ready line.
    pub fn launch(launch: Launch<'_>) -> Parla {
        let dir = tempdir::Dir::new("parla");
        let data_dir = launch
            .data_dir
            .clone()
            .unwrap_or_else(|| dir.0.join("data"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_parla"));
        for k in ISOLATED_ENV {
            cmd.env_remove(k);
        }
        let rtp_ports = launch.rtp_ports.as_str();
        cmd.args([
            "serve",
            "--sip-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
            "--public-ip",
            "127.0.0.1",
        ])
        .args(["--rtp-ports", rtp_ports])
        // 5 s unless the test's environment sets another drain deadline.
        .args([
            "--shutdown-timeout",
            launch
                .env
                .iter()
                .find(|(k, _)| k == "PARLA_SHUTDOWN_TIMEOUT")
                .map_or("5", |(_, v)| v.as_str()),
        ])
        .arg("--data-dir")
        .arg(&data_dir);
        if let Some(config_toml) = launch.config_toml {
            let config = dir.0.join("parla.toml");
            std::fs::write(&config, config_toml).expect("write parla.toml");
            cmd.arg("--config").arg(&config);
        }
        cmd.env(
            "RUST_LOG",
            std::env::var("PARLA_TEST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        // The local provider servers of the tests (whisper, the fakes) listen on
        // loopback, which the egress guard refuses unless the operator allows it.
        // A test may narrow this through `launch.env`.
        cmd.env("PARLA_PROVIDER_ALLOW", DEFAULT_TEST_PROVIDER_ALLOW);
        for (k, v) in &launch.env {
            cmd.env(k, v);
        }
        // Without --config, a parla.toml in the working directory would be imported.
        cmd.current_dir(&dir.0);
        let mut child = cmd.spawn().expect("spawn parla");
        let log = Arc::new(Mutex::new(Vec::new()));
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
        let (tx, rx) = std::sync::mpsc::channel();
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
            child,
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

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM and wait for exit; returns whether it exited within `timeout`.
    pub fn terminate(&mut self, timeout: Duration) -> bool {
        unsafe_kill(self.child.id(), 15);
        self.wait_exit(timeout)
    }

    /// Waits for the process to exit by itself; whether it did within `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

fn unsafe_kill(pid: u32, sig: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

impl Drop for Parla {
    fn drop(&mut self) {
        if !self.terminate(Duration::from_secs(8)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- parla log ----\n{}", self.log_text());
        }
    }
}

/// The shared local whisper recognizer (PARLA_TEST_WHISPER_URL, set by tools/test.sh,
/// or a server started once for this test binary).
pub fn whisper() -> Whisper {
    static W: OnceLock<Whisper> = OnceLock::new();
    W.get_or_init(|| Whisper::shared().expect("local whisper recognizer"))
        .clone()
}

/// Caller speech, 8 kHz, from espeak-ng (cached per text).
pub fn utterance(text: &str) -> Arc<Vec<i16>> {
    static CACHE: OnceLock<Mutex<std::collections::HashMap<String, Arc<Vec<i16>>>>> =
        OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(a) = cache.lock().unwrap().get(text) {
        return a.clone();
    }
    let pcm = Arc::new(espeak_wav(text, 8000).expect("espeak-ng"));
    cache.lock().unwrap().insert(text.to_string(), pcm.clone());
    pcm
}

/// The offline demo agent's sections with STT at `stt_url`, as a `parla.toml`.
///
/// The local whisper recognizer shares 2 cores with Parla, the caller and other
/// tests, so a transcript can take seconds: unless `extra_agent_lines` sets
/// `response_timeout_ms`, the agent waits the most the engine allows (2 s,
/// `ConversationConfig::validate`) before its stall fallback.
pub fn flow_agent_config(stt_url: &str, extra_agent_lines: &str) -> String {
    let extra = if extra_agent_lines.contains("response_timeout_ms") {
        extra_agent_lines.to_string()
    } else {
        format!("response_timeout_ms = 2000\n{extra_agent_lines}")
    };
    let extra_agent_lines = extra;
    format!(
        r#"
[[agents]]
name = "test"
numbers = ["*"]
greeting = "Hello, thanks for calling Parla. How can I help you today?"
language = "en"
{extra_agent_lines}

[agents.stt]
provider = "openai"
base_url = "{stt_url}"
model = "tiny.en"

[agents.llm]
provider = "flow"

[agents.tts]
provider = "espeak"
"#
    )
}

/// A call that waits for the greeting, says `text`, waits for the reply, hangs up.
pub fn say_after_greeting(target: SocketAddr, text: &str) -> CallSpec {
    let mut spec = CallSpec::new(target, format!("sip:agent@{target}"));
    spec.script = vec![
        end_of_greeting(),
        Action::Play(utterance(text)),
        Action::WaitForAgentSpeech {
            timeout: Duration::from_secs(10),
        },
        Action::WaitForAgentSilence {
            min_silence: Duration::from_millis(1200),
            timeout: Duration::from_secs(20),
        },
        Action::Hangup,
    ];
    spec.max_duration = Duration::from_secs(90);
    spec
}

/// Agent speech before the caller started playing and after the caller stopped.
pub fn split_greeting_and_reply(outcome: &CallOutcome) -> (Vec<i16>, Vec<i16>) {
    let start = outcome.event_time("play start").expect("caller played");
    let end = outcome
        .event_time("play end")
        .expect("caller finished playing");
    let greeting = outcome.agent_audio_between(Duration::ZERO, start).to_vec();
    let reply = outcome
        .agent_audio_between(end, Duration::from_secs(3600))
        .to_vec();
    (greeting, reply)
}

/// Seconds of agent speech (spans above -40 dBFS) in 8 kHz audio.
pub fn speech_seconds(pcm: &[i16]) -> f64 {
    voiced_spans(pcm, 8000, -40.0, 300)
        .iter()
        .map(|(a, b)| (b - a) as f64 / 1000.0)
        .sum()
}

/// Which of `candidates` the transcript matches best (lowest word error rate
/// of the best-matching window), with that rate.
pub fn best_match(transcript: &str, candidates: &[&str]) -> (usize, f64) {
    candidates
        .iter()
        .enumerate()
        .map(|(i, c)| (i, parla_testkit::speech::best_phrase_wer(transcript, c)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("candidates")
}

/// The demo flow's replies, for checking which one the agent said.
pub const FLOW_REPLIES: &[&str] = &[
    "Sure, I can book an appointment for you. What day works best?",
    "We're open Monday to Friday, nine to five. Is there anything else I can help with?",
    "All our staff are busy right now. Please call back during opening hours, or tell me what you need and I'll do my best.",
    "Thank you for calling. Goodbye!",
    "Sorry, I didn't get that. You can say book an appointment, opening hours, or talk to a person.",
];

/// Waits until the agent's greeting (or any agent turn already under way) ends.
pub fn end_of_greeting() -> Action {
    Action::WaitForAgentSilence {
        min_silence: Duration::from_millis(900),
        timeout: Duration::from_secs(20),
    }
}

/// Waits for the agent to start speaking (its reply).
pub fn agent_speaks() -> Action {
    Action::WaitForAgentSpeech {
        timeout: Duration::from_secs(10),
    }
}

/// Waits for the agent's reply to end.
pub fn agent_done() -> Action {
    Action::WaitForAgentSilence {
        min_silence: Duration::from_millis(1200),
        timeout: Duration::from_secs(20),
    }
}

/// A call to any agent of this Parla.
pub fn call_to(parla: &Parla) -> CallSpec {
    CallSpec::new(parla.sip, format!("sip:agent@{}", parla.sip))
}

/// `parla serve` with the flow agent, whose STT is the shared whisper recognizer.
pub fn start_flow_agent(extra_agent_lines: &str, rtp_ports: &str) -> Parla {
    let w = whisper();
    Parla::start(
        &flow_agent_config(&format!("{}/v1", w.base_url()), extra_agent_lines),
        rtp_ports,
    )
}
