//! `parla-loadtest run`: places calls over real SIP (UDP) and RTP with the
//! testkit caller, at a ramp rate, up to a concurrency, for a bounded count
//! and time, and measures what the callers experience.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context as _};
use indicatif::{ProgressBar, ProgressStyle};
use parla_testkit::caller::{place_call, Action, CallSpec};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::providers::ProviderStats;
use crate::report::{
    round2, EngineOverhead, HarnessUsage, Percentiles, SendLateness, Summary, TargetUsage,
    TimelinePoint,
};
use crate::sysmon::{self, Source};

mod analysis;

use analysis::{analyze, Agg};

/// What the target is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// A voice agent: it greets, answers each utterance, may be barged in on.
    Agent,
    /// An RTP echo (SIPp `-rtp_echo`): no greeting, our audio comes back.
    Echo,
}

/// Everything `run` needs.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub target: SocketAddr,
    /// Request-URI user (`sip:USER@target`).
    pub request_uri_user: String,
    pub local_ip: IpAddr,
    /// Calls placed at most.
    pub calls: usize,
    /// Calls in progress at most.
    pub concurrency: usize,
    /// Calls started per second at most (the ramp).
    pub cps: f64,
    /// No new call starts after this (calls in progress finish).
    pub duration: Duration,
    pub utterances: Vec<PathBuf>,
    /// Caller utterances per call (after the greeting).
    pub turns: usize,
    /// Pause after a reply ends before the next utterance.
    pub pause: Duration,
    /// Talk over the last reply (over the greeting with 0 turns).
    pub barge_in: bool,
    /// How long into that reply the caller starts talking.
    pub barge_in_after: Duration,
    pub mode: Mode,
    /// Agent silence that ends a greeting / reply.
    pub agent_silence: Duration,
    pub greeting_timeout: Duration,
    pub reply_timeout: Duration,
    pub answer_timeout: Duration,
    /// Longest call (200 → BYE).
    pub max_call_duration: Duration,
    pub pid: Option<u32>,
    /// Target's Prometheus `/metrics` (CPU/RSS if exported, end-of-turn wait).
    pub metrics_url: Option<String>,
    /// The provider simulators (`GET /stats`).
    pub providers_url: Option<String>,
    /// The engine's end-of-turn wait when `/metrics` does not tell.
    pub end_of_turn_ms: Option<f64>,
    /// Draw an indicatif progress bar (on a terminal).
    pub progress: bool,
    /// Resource sampling period.
    pub sample_every: Duration,
}

impl RunConfig {
    pub fn new(target: SocketAddr, utterances: Vec<PathBuf>) -> Self {
        RunConfig {
            target,
            request_uri_user: "agent".into(),
            local_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            calls: 10,
            concurrency: 10,
            cps: 5.0,
            duration: Duration::from_secs(60),
            utterances,
            turns: 1,
            pause: Duration::from_millis(1500),
            barge_in: false,
            barge_in_after: Duration::from_millis(800),
            mode: Mode::Agent,
            agent_silence: Duration::from_millis(800),
            greeting_timeout: Duration::from_secs(15),
            reply_timeout: Duration::from_secs(20),
            answer_timeout: Duration::from_secs(10),
            max_call_duration: Duration::from_secs(180),
            pid: None,
            metrics_url: None,
            providers_url: None,
            end_of_turn_ms: None,
            progress: false,
            sample_every: Duration::from_secs(1),
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.calls == 0 {
            bail!("--calls must be at least 1");
        }
        if self.concurrency == 0 {
            bail!("--concurrency must be at least 1");
        }
        if !(self.cps.is_finite() && self.cps > 0.0) {
            bail!("--cps must be a positive number");
        }
        if self.duration.is_zero() {
            bail!("--duration must be positive");
        }
        if self.utterances.is_empty() && (self.turns > 0 || self.barge_in) {
            bail!("give at least one --utterance WAV file");
        }
        if self.target.ip().is_unspecified() || self.target.port() == 0 {
            bail!("--target {} is not a usable address", self.target);
        }
        Ok(())
    }
}

/// What one call measured.
/// The caller's script.
fn script(cfg: &RunConfig, utts: &[Arc<Vec<i16>>], call_index: usize) -> Vec<Action> {
    let utt = |k: usize| utts[(call_index + k) % utts.len()].clone();
    let mut s = Vec::new();
    match cfg.mode {
        Mode::Echo => {
            s.push(Action::Wait(Duration::from_millis(300)));
            for k in 0..cfg.turns.max(1) {
                s.push(Action::Play(utt(k)));
                s.push(Action::Wait(cfg.pause));
            }
        }
        Mode::Agent => {
            let silence = |t: Duration| Action::WaitForAgentSilence {
                min_silence: cfg.agent_silence,
                timeout: t,
            };
            s.push(Action::WaitForAgentSpeech {
                timeout: cfg.greeting_timeout,
            });
            if cfg.barge_in && cfg.turns == 0 {
                s.push(Action::Wait(cfg.barge_in_after));
                s.push(Action::Play(utt(0)));
                s.push(Action::WaitForAgentSpeech {
                    timeout: cfg.reply_timeout,
                });
                s.push(silence(cfg.reply_timeout));
            } else {
                s.push(silence(cfg.greeting_timeout));
            }
            for k in 0..cfg.turns {
                s.push(Action::Play(utt(k)));
                s.push(Action::WaitForAgentSpeech {
                    timeout: cfg.reply_timeout,
                });
                if cfg.barge_in && k + 1 == cfg.turns {
                    s.push(Action::Wait(cfg.barge_in_after));
                    s.push(Action::Play(utt(k + 1)));
                    s.push(Action::WaitForAgentSpeech {
                        timeout: cfg.reply_timeout,
                    });
                }
                s.push(silence(cfg.reply_timeout));
                if k + 1 < cfg.turns {
                    s.push(Action::Wait(cfg.pause));
                }
            }
        }
    }
    s.push(Action::Hangup);
    s
}

/// Turns a call's outcome into measurements.
/// listening there.
async fn preflight(cfg: &RunConfig) -> anyhow::Result<()> {
    let sock = tokio::net::UdpSocket::bind(SocketAddr::new(cfg.local_ip, 0))
        .await
        .context("bind a local UDP socket")?;
    sock.connect(cfg.target)
        .await
        .with_context(|| format!("target {}", cfg.target))?;
    let refused = |e: &std::io::Error| e.kind() == std::io::ErrorKind::ConnectionRefused;
    let nothing = || {
        anyhow::anyhow!(
            "target {} refused (ICMP port unreachable): nothing is listening on UDP {} — is the SIP server running, and is this its port?",
            cfg.target,
            cfg.target
        )
    };
    let mut buf = vec![0u8; 2048];
    for _ in 0..2 {
        if let Err(e) = sock.send(b"\r\n\r\n").await {
            if refused(&e) {
                return Err(nothing());
            }
            return Err(e).with_context(|| format!("send to {}", cfg.target));
        }
        match tokio::time::timeout(Duration::from_millis(250), sock.recv(&mut buf)).await {
            Ok(Err(e)) if refused(&e) => return Err(nothing()),
            Ok(Err(e)) => return Err(e).with_context(|| format!("probe {}", cfg.target)),
            Ok(Ok(_)) | Err(_) => {}
        }
    }
    Ok(())
}

struct Sampled {
    timeline: Vec<TimelinePoint>,
    usage: TargetUsage,
    harness: HarnessUsage,
}

/// Samples the target every `every` until `stop`, with the active count.
async fn sample_loop(
    source: Option<Source>,
    active: Arc<AtomicU64>,
    every: Duration,
    start: Instant,
    mut stop: tokio::sync::watch::Receiver<bool>,
    bar: ProgressBar,
) -> Sampled {
    let client = reqwest::Client::new();
    let mut timeline = Vec::new();
    let mut prev: Option<(Instant, f64)> = None;
    let mut first: Option<sysmon::Sample> = None;
    let mut last: Option<sysmon::Sample> = None;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let me = Source::Pid(std::process::id());
    let mut harness = HarnessUsage::default();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        let now = Instant::now();
        let a = active.load(Ordering::Relaxed);
        let mut point = TimelinePoint {
            t_s: round2((now - start).as_secs_f64()),
            active_calls: a,
            cpu_pct: None,
            rss_mb: None,
        };
        if let Some(src) = &source {
            if let Ok(s) = sysmon::sample(src, &client).await {
                if let Some(cpu) = s.cpu_seconds {
                    if let Some((t0, c0)) = prev {
                        let dt = (now - t0).as_secs_f64();
                        if dt > 0.0 {
                            point.cpu_pct = Some(round2((cpu - c0) / dt * 100.0));
                        }
                    }
                    prev = Some((now, cpu));
                }
                point.rss_mb = s.rss_bytes.map(|b| round2(b as f64 / 1_048_576.0));
                first.get_or_insert(s);
                last = Some(s);
            }
        }
        if let Ok(s) = sysmon::sample(&me, &client).await {
            if let Some(b) = s.rss_bytes {
                let mb = round2(b as f64 / 1_048_576.0);
                harness.rss_mb_start.get_or_insert(mb);
                harness.rss_mb_peak = Some(harness.rss_mb_peak.map_or(mb, |p| p.max(mb)));
            }
        }
        bar.tick();
        timeline.push(point);
    }
    let mut usage = TargetUsage {
        source: source.as_ref().map_or("none".into(), Source::label),
        ..Default::default()
    };
    let busy: Vec<&TimelinePoint> = timeline
        .iter()
        .filter(|p| p.active_calls > 0 && p.cpu_pct.is_some())
        .collect();
    if !busy.is_empty() {
        let n = busy.len() as f64;
        let cpu = busy.iter().filter_map(|p| p.cpu_pct).sum::<f64>() / n;
        let act = busy.iter().map(|p| p.active_calls as f64).sum::<f64>() / n;
        usage.cpu_pct_mean = Some(round2(cpu));
        usage.cpu_pct_per_call = Some(round2(cpu / act));
    }
    usage.cpu_pct_max = timeline
        .iter()
        .filter_map(|p| p.cpu_pct)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    usage.rss_mb_start = first
        .and_then(|s| s.rss_bytes)
        .map(|b| round2(b as f64 / 1_048_576.0));
    usage.rss_mb_peak = timeline
        .iter()
        .filter_map(|p| p.rss_mb)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    if let (Some(f), Some(l)) = (first, last) {
        if let (Some(c0), Some(c1)) = (f.cpu_seconds, l.cpu_seconds) {
            // Divided by the answered calls by the caller.
            usage.cpu_seconds_per_call = Some(c1 - c0);
        }
    }
    Sampled {
        timeline,
        usage,
        harness,
    }
}

/// Runs the load and returns its summary. Errors (non-panicking, with a
/// message) on bad input: an unreadable WAV, a target where nothing
/// listens, a target that answered no call, an unreadable `--pid`.
pub async fn run(cfg: RunConfig) -> anyhow::Result<Summary> {
    cfg.validate()?;
    let utts: Vec<Arc<Vec<i16>>> = cfg
        .utterances
        .iter()
        .map(|p| crate::wav::load_utterance(p))
        .collect::<anyhow::Result<_>>()?;
    let client = reqwest::Client::new();
    let source = match (&cfg.pid, &cfg.metrics_url) {
        (Some(pid), _) => Some(Source::Pid(*pid)),
        (None, Some(url)) => Some(Source::Metrics(url.clone())),
        _ => None,
    };
    if let Some(s) = &source {
        sysmon::check(s, &client).await?;
    }
    if let Some(url) = &cfg.providers_url {
        ProviderStats::fetch(url)
            .await
            .with_context(|| format!("--providers-url {url}: no provider simulator stats there"))?;
        ProviderStats::reset(url).await?;
    }
    preflight(&cfg).await?;

    let bar = if cfg.progress {
        let b = ProgressBar::new(cfg.calls as u64);
        b.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} calls {msg}")
                .expect("template")
                .progress_chars("=> "),
        );
        b
    } else {
        ProgressBar::hidden()
    };

    let start = Instant::now();
    let active = Arc::new(AtomicU64::new(0));
    let peak = Arc::new(AtomicU64::new(0));
    let agg = Arc::new(Mutex::new(Agg::new()));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sampler = tokio::spawn(sample_loop(
        source.clone(),
        active.clone(),
        cfg.sample_every,
        start,
        stop_rx,
        bar.clone(),
    ));

    let sem = Arc::new(Semaphore::new(cfg.concurrency));
    let interval = Duration::from_secs_f64(1.0 / cfg.cps);
    let stop_placing = start + cfg.duration;
    let cfg = Arc::new(cfg);
    let utts = Arc::new(utts);
    let mut tasks = tokio::task::JoinSet::new();
    let mut next = start;
    let mut placed = 0usize;
    for i in 0..cfg.calls {
        tokio::time::sleep_until(next.min(stop_placing)).await;
        let permit = tokio::select! {
            p = sem.clone().acquire_owned() => p.expect("semaphore open"),
            _ = tokio::time::sleep_until(stop_placing) => break,
        };
        if Instant::now() >= stop_placing {
            break;
        }
        next = (next + interval).max(Instant::now());
        let mut spec = CallSpec::new(
            cfg.target,
            format!("sip:{}@{}", cfg.request_uri_user, cfg.target),
        );
        spec.from_user = format!("load{i}");
        spec.local_ip = cfg.local_ip;
        spec.record_audio = false;
        spec.answer_timeout = cfg.answer_timeout;
        spec.max_duration = cfg.max_call_duration;
        spec.script = script(&cfg, &utts, i);
        let (cfg2, agg2, active2, bar2) = (cfg.clone(), agg.clone(), active.clone(), bar.clone());
        let a = active.fetch_add(1, Ordering::Relaxed) + 1;
        peak.fetch_max(a, Ordering::Relaxed);
        placed += 1;
        tasks.spawn(async move {
            let outcome = place_call(spec).await;
            let now_active = active2.fetch_sub(1, Ordering::Relaxed) - 1;
            drop(permit);
            let mut g = agg2.lock().unwrap_or_else(|e| e.into_inner());
            match outcome {
                Ok(o) => g.add(analyze(&cfg2, &o)),
                Err(e) => g.fail(format!("local error: {e:#}")),
            }
            let v2v = if g.v2v.is_empty() {
                "-".to_string()
            } else {
                format!("{:.0} ms", g.v2v.value_at_quantile(0.5) as f64 / 1000.0)
            };
            bar2.set_message(format!(
                "active {now_active} failed {} p50 v2v {v2v}",
                g.counts.failed
            ));
            bar2.inc(1);
        });
    }
    while let Some(res) = tasks.join_next().await {
        if let Err(e) = res {
            agg.lock()
                .unwrap_or_else(|e| e.into_inner())
                .fail(format!("call task failed: {e}"));
        }
    }
    let elapsed = start.elapsed();
    let _ = stop_tx.send(true);
    let sampled = sampler.await.unwrap_or(Sampled {
        timeline: Vec::new(),
        usage: TargetUsage::default(),
        harness: HarnessUsage::default(),
    });
    bar.finish_and_clear();

    let agg = std::mem::replace(
        &mut *agg.lock().unwrap_or_else(|e| e.into_inner()),
        Agg::new(),
    );
    let mut counts = agg.counts;
    counts.attempted = placed as u64;
    counts.peak_concurrency = peak.load(Ordering::Relaxed);
    if counts.answered == 0 {
        let reasons: Vec<String> = counts
            .failures
            .iter()
            .map(|(r, n)| format!("{n} × {r}"))
            .collect();
        bail!(
            "the target {} answered none of {} calls ({})",
            cfg.target,
            placed,
            reasons.join(", ")
        );
    }
    let mut rtp = agg.rtp;
    let denom = rtp.packets_received + rtp.lost;
    rtp.loss_pct = if denom > 0 {
        (rtp.lost as f64 / denom as f64 * 100.0 * 1000.0).round() / 1000.0
    } else {
        0.0
    };
    rtp.jitter_ms = Percentiles::scaled(&agg.jitter, 100.0);
    rtp.jitter_max_ms = round2(rtp.jitter_max_ms);

    let mut usage = sampled.usage;
    if let Some(total) = usage.cpu_seconds_per_call {
        usage.cpu_seconds_per_call =
            Some((total / counts.answered as f64 * 1000.0).round() / 1000.0);
    }
    if let (Some(a), Some(b)) = (usage.rss_mb_start, usage.rss_mb_peak) {
        if counts.peak_concurrency > 0 {
            usage.rss_kb_per_call = Some(round2(
                (b - a).max(0.0) * 1024.0 / counts.peak_concurrency as f64,
            ));
        }
    }

    let mut harness = sampled.harness;
    if let (Some(a), Some(b)) = (harness.rss_mb_start, harness.rss_mb_peak) {
        if counts.peak_concurrency > 0 {
            harness.rss_kb_per_call = Some(round2(
                (b - a).max(0.0) * 1024.0 / counts.peak_concurrency as f64,
            ));
        }
    }
    let providers = match &cfg.providers_url {
        Some(url) => match ProviderStats::fetch(url).await {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!("provider stats: {e:#}");
                None
            }
        },
        None => None,
    };
    let mut end_of_turn_ms = cfg.end_of_turn_ms;
    let mut send_lateness_ms = None;
    if let Some(url) = &cfg.metrics_url {
        if let Ok(text) = sysmon::fetch(&client, url).await {
            if end_of_turn_ms.is_none() {
                end_of_turn_ms =
                    sysmon::histogram_mean_ms(&text, "parla_turn_latency_seconds", "eou")
                        .map(round2);
            }
            let q = |q: &str| {
                sysmon::summary_quantile_ms(&text, "parla_rtp_send_lateness_seconds", q).map(round2)
            };
            let l = SendLateness {
                p50: q("0.5"),
                p90: q("0.9"),
                p99: q("0.99"),
                p999: q("0.999"),
            };
            send_lateness_ms = l.p50.is_some().then_some(l);
        }
    }
    let v2v = Percentiles::from_micros(&agg.v2v);
    let engine_overhead_ms = match (
        providers.as_ref().and_then(ProviderStats::mean_turn_ms),
        end_of_turn_ms,
        v2v.mean,
        v2v.p50,
        v2v.p90,
        v2v.p99,
    ) {
        (Some(prov), Some(eot), Some(mean), Some(p50), Some(p90), Some(p99)) => {
            Some(EngineOverhead {
                mean: round2(mean - eot - prov),
                p50: round2(p50 - eot - prov),
                p90: round2(p90 - eot - prov),
                p99: round2(p99 - eot - prov),
                provider_ms: round2(prov),
                exact: providers.as_ref().is_some_and(ProviderStats::all_fixed),
            })
        }
        _ => None,
    };
    Ok(Summary {
        target: cfg.target.to_string(),
        mode: match cfg.mode {
            Mode::Agent => "agent".into(),
            Mode::Echo => "echo".into(),
        },
        elapsed_s: round2(elapsed.as_secs_f64()),
        calls: counts,
        turns: agg.turns,
        setup_ms: Percentiles::from_micros(&agg.setup),
        greeting_ms: Percentiles::from_micros(&agg.greeting),
        v2v_ms: v2v,
        barge_in_stop_ms: Percentiles::from_micros(&agg.barge),
        echo_delay_ms: Percentiles::from_micros(&agg.echo),
        rtp,
        target_usage: usage,
        harness,
        providers,
        end_of_turn_ms,
        engine_overhead_ms,
        send_lateness_ms,
        timeline: sampled.timeline,
        samples: agg.samples,
    })
}
