//! `parla-loadtest`: load tests for SIP voice agents (see the library docs).
//!
//! ```text
//! parla-loadtest providers --listen 127.0.0.1:9400 [--stt-delay uniform:150..350 ...]
//! parla-loadtest run --target 127.0.0.1:5060 --calls 100 --concurrency 50 --cps 10 \
//!     --duration 60 --utterance a.wav --turns 2 --barge-in --pid N \
//!     --providers-url http://127.0.0.1:9400 --json out.json --plots-dir out/
//! ```

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use parla_loadtest::dist::Distribution;
use parla_loadtest::providers::{self, Providers, ProvidersConfig};
use parla_loadtest::runner::{self, Mode, RunConfig};

#[derive(Parser, Debug)]
#[command(
    name = "parla-loadtest",
    version,
    about = "Load tests for SIP voice agents: what callers experience at scale"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Place calls against a SIP target and report what the callers measured.
    Run(RunArgs),
    /// Serve provider simulators (OpenAI-compatible STT/LLM/TTS, Deepgram STT)
    /// with injected latencies until interrupted.
    Providers(ProviderArgs),
}

#[derive(Args, Debug)]
struct RunArgs {
    /// SIP target, UDP (host:port).
    #[arg(long)]
    target: SocketAddr,
    /// Calls placed at most.
    #[arg(long, default_value_t = 10)]
    calls: usize,
    /// Calls in progress at most.
    #[arg(long, default_value_t = 10)]
    concurrency: usize,
    /// New calls per second at most (the ramp).
    #[arg(long, default_value_t = 5.0)]
    cps: f64,
    /// Seconds during which calls are started (those in progress then finish).
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// Caller utterance, a WAV file (repeat for several; used in turn).
    #[arg(long = "utterance", value_name = "WAV")]
    utterances: Vec<PathBuf>,
    /// Utterances per call, after the greeting.
    #[arg(long, default_value_t = 1)]
    turns: usize,
    /// Pause between a reply's end and the next utterance, ms.
    #[arg(long, default_value_t = 1500)]
    pause_ms: u64,
    /// Talk over the last reply (over the greeting with --turns 0) and
    /// measure how fast the agent goes silent.
    #[arg(long)]
    barge_in: bool,
    /// How far into that reply the caller starts talking, ms.
    #[arg(long, default_value_t = 800)]
    barge_in_after_ms: u64,
    /// `agent` (greeting, replies) or `echo` (an RTP echo such as
    /// `sipp -sn uas -rtp_echo`: no greeting, setup and RTP stats only).
    #[arg(long, value_enum, default_value_t = Mode::Agent)]
    mode: Mode,
    /// Agent silence that ends a greeting or reply, ms.
    #[arg(long, default_value_t = 800)]
    agent_silence_ms: u64,
    /// Wait for the greeting / a reply at most this long, s.
    #[arg(long, default_value_t = 20.0)]
    reply_timeout: f64,
    /// INVITE → final response at most this long, s.
    #[arg(long, default_value_t = 10.0)]
    answer_timeout: f64,
    /// A call lasts at most this long, s.
    #[arg(long, default_value_t = 180.0)]
    max_call_duration: f64,
    /// User part of the Request-URI (`sip:USER@target`).
    #[arg(long, default_value = "agent")]
    request_uri_user: String,
    /// Local address for the callers' SIP and RTP sockets.
    #[arg(long, default_value = "127.0.0.1")]
    local_ip: IpAddr,
    /// The target's process, for CPU and RSS from /proc.
    #[arg(long)]
    pid: Option<u32>,
    /// The target's Prometheus endpoint (CPU/RSS if it exports
    /// process_* metrics; Parla's end-of-turn wait).
    #[arg(long)]
    metrics_url: Option<String>,
    /// The provider simulators (`parla-loadtest providers`), for what they injected.
    #[arg(long)]
    providers_url: Option<String>,
    /// The engine's end-of-turn wait, ms, when /metrics does not tell.
    #[arg(long)]
    end_of_turn_ms: Option<f64>,
    /// Write the summary as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write latency.png and timeline.png here.
    #[arg(long)]
    plots_dir: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct ProviderArgs {
    /// OpenAI-compatible APIs (/v1/audio/transcriptions, /v1/chat/completions,
    /// /v1/audio/speech) and GET /stats.
    #[arg(long, default_value = "127.0.0.1:9400")]
    listen: SocketAddr,
    /// Deepgram /v1/listen WebSocket. Default: the --listen port + 1.
    #[arg(long)]
    deepgram_listen: Option<SocketAddr>,
    /// What every transcription says.
    #[arg(long, default_value = providers::DEFAULT_TRANSCRIPT)]
    transcript: String,
    /// What the LLM answers.
    #[arg(long, default_value = providers::DEFAULT_REPLY)]
    reply: String,
    /// STT: end of speech → final transcript, ms: N, uniform:LO..HI,
    /// normal:MEAN,SD or lognormal:MEDIAN,SIGMA.
    #[arg(long, default_value = providers::DEFAULT_STT_DELAY)]
    stt_delay: Distribution,
    /// LLM: request → first token, ms.
    #[arg(long, default_value = providers::DEFAULT_LLM_TTFT)]
    llm_ttft: Distribution,
    /// LLM: between streamed tokens, ms.
    #[arg(long, default_value = providers::DEFAULT_LLM_INTER_TOKEN)]
    llm_inter_token: Distribution,
    /// TTS: request → first audio byte, ms.
    #[arg(long, default_value = providers::DEFAULT_TTS_TTFB)]
    tts_ttfb: Distribution,
    /// RNG seed of the latency draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stop after this many seconds (default: until interrupted).
    #[arg(long)]
    for_secs: Option<u64>,
}

fn secs(s: f64, name: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| anyhow::anyhow!("--{name} must be a number of seconds ≥ 0"))
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => run(a),
        Command::Providers(a) => serve_providers(a),
    };
    if let Err(e) = result {
        eprintln!("parla-loadtest: error: {e:#}");
        std::process::exit(1);
    }
}

fn run(a: RunArgs) -> anyhow::Result<()> {
    let mut cfg = RunConfig::new(a.target, a.utterances);
    cfg.calls = a.calls;
    cfg.concurrency = a.concurrency;
    cfg.cps = a.cps;
    cfg.duration = secs(a.duration, "duration")?;
    cfg.turns = a.turns;
    cfg.pause = Duration::from_millis(a.pause_ms);
    cfg.barge_in = a.barge_in;
    cfg.barge_in_after = Duration::from_millis(a.barge_in_after_ms);
    cfg.mode = a.mode;
    cfg.agent_silence = Duration::from_millis(a.agent_silence_ms);
    cfg.greeting_timeout = secs(a.reply_timeout, "reply-timeout")?;
    cfg.reply_timeout = cfg.greeting_timeout;
    cfg.answer_timeout = secs(a.answer_timeout, "answer-timeout")?;
    cfg.max_call_duration = secs(a.max_call_duration, "max-call-duration")?;
    cfg.request_uri_user = a.request_uri_user;
    cfg.local_ip = a.local_ip;
    cfg.pid = a.pid;
    cfg.metrics_url = a.metrics_url;
    cfg.providers_url = a.providers_url;
    cfg.end_of_turn_ms = a.end_of_turn_ms;
    cfg.progress = !a.quiet;
    let rt = tokio::runtime::Runtime::new().context("start the tokio runtime")?;
    let summary = rt.block_on(runner::run(cfg))?;
    println!("{}", summary.table());
    if let Some(path) = &a.json {
        let text = serde_json::to_string_pretty(&summary)?;
        std::fs::write(path, text).with_context(|| format!("write {}", path.display()))?;
        println!("summary: {}", path.display());
    }
    if let Some(dir) = &a.plots_dir {
        match parla_loadtest::plots::write_plots(&summary, dir) {
            Ok(files) => {
                for f in files {
                    println!("plot: {}", f.display());
                }
            }
            Err(e) => eprintln!("parla-loadtest: plots skipped: {e:#}"),
        }
    }
    Ok(())
}

fn serve_providers(a: ProviderArgs) -> anyhow::Result<()> {
    let deepgram_listen = a.deepgram_listen.unwrap_or_else(|| {
        let mut d = a.listen;
        if d.port() != 0 {
            d.set_port(d.port().wrapping_add(1));
        }
        d
    });
    let p = Providers::start(ProvidersConfig {
        listen: a.listen,
        deepgram_listen,
        transcript: a.transcript,
        reply: a.reply,
        stt_delay: a.stt_delay,
        llm_ttft: a.llm_ttft,
        llm_inter_token: a.llm_inter_token,
        tts_ttfb: a.tts_ttfb,
        seed: a.seed,
    })?;
    println!("{}", p.ready_line());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match a.for_secs {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    });
    println!("{}", serde_json::to_string_pretty(&p.stats())?);
    Ok(())
}
