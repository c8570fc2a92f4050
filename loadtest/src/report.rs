//! The run's summary: what the JSON holds and how the table looks.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::providers::ProviderStats;

/// Percentiles of one measurement, in milliseconds (`None` when nothing was
/// measured).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

impl Percentiles {
    /// From a histogram of microseconds.
    pub fn from_micros(h: &Histogram<u64>) -> Self {
        Self::scaled(h, 1000.0)
    }

    /// From a histogram whose unit is `1/per_ms` ms.
    pub fn scaled(h: &Histogram<u64>, per_ms: f64) -> Self {
        if h.is_empty() {
            return Percentiles::default();
        }
        let ms = |v: u64| Some(round2(v as f64 / per_ms));
        Percentiles {
            count: h.len(),
            mean: Some(round2(h.mean() / per_ms)),
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        }
    }
}

pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct CallCounts {
    /// Calls placed.
    pub attempted: u64,
    /// Got a 2xx to the INVITE.
    pub answered: u64,
    /// Answered, every expected step happened, ended by our BYE.
    pub completed: u64,
    pub failed: u64,
    /// Why calls failed: reason → count.
    pub failures: BTreeMap<String, u64>,
    /// Highest number of calls in progress at once.
    pub peak_concurrency: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct TurnCounts {
    /// Caller utterances played (barge-ins included).
    pub played: u64,
    /// Utterances the agent answered (agent speech after the utterance ended).
    pub replied: u64,
    /// Barge-ins attempted / found the agent talking / the agent stopped
    /// before the caller finished.
    pub barge_ins: u64,
    pub barge_ins_over_speech: u64,
    pub barge_ins_stopped: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct RtpSummary {
    pub packets_received: u64,
    pub packets_sent: u64,
    pub lost: u64,
    /// lost / (received + lost), percent.
    pub loss_pct: f64,
    pub reordered: u64,
    /// Per call: the RFC 3550 inter-arrival jitter at the end of the call.
    pub jitter_ms: Percentiles,
    /// The highest jitter estimate seen in any call.
    pub jitter_max_ms: f64,
}

/// The target's CPU and memory while the load ran.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct TargetUsage {
    /// `pid:N`, `metrics:URL` or `none`.
    pub source: String,
    /// CPU, % of one core, averaged over the samples taken while calls ran.
    pub cpu_pct_mean: Option<f64>,
    pub cpu_pct_max: Option<f64>,
    /// CPU seconds used during the run / calls answered.
    pub cpu_seconds_per_call: Option<f64>,
    /// Mean CPU % / mean calls in progress, over the samples with calls.
    pub cpu_pct_per_call: Option<f64>,
    pub rss_mb_start: Option<f64>,
    pub rss_mb_peak: Option<f64>,
    /// (peak RSS − RSS at start) / peak concurrency.
    pub rss_kb_per_call: Option<f64>,
}

/// The harness's own memory (what a simulated call costs the caller side).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct HarnessUsage {
    pub rss_mb_start: Option<f64>,
    pub rss_mb_peak: Option<f64>,
    /// (peak RSS − RSS at start) / peak concurrency.
    pub rss_kb_per_call: Option<f64>,
}

/// One sample of the run's timeline.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct TimelinePoint {
    pub t_s: f64,
    pub active_calls: u64,
    pub cpu_pct: Option<f64>,
    pub rss_mb: Option<f64>,
}

/// Everything the run measured. The JSON written by `--json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub target: String,
    /// `agent` or `echo`.
    pub mode: String,
    pub elapsed_s: f64,
    pub calls: CallCounts,
    pub turns: TurnCounts,
    /// INVITE sent → 2xx received.
    pub setup_ms: Percentiles,
    /// ACK sent → first agent packet with speech energy.
    pub greeting_ms: Percentiles,
    /// End of the caller's utterance (last packet sent) → first agent packet
    /// with speech energy.
    pub v2v_ms: Percentiles,
    /// Caller starts talking over the agent → the agent's audio goes silent.
    pub barge_in_stop_ms: Percentiles,
    /// Echo mode: caller starts an utterance → first echoed speech packet.
    pub echo_delay_ms: Percentiles,
    pub rtp: RtpSummary,
    pub target_usage: TargetUsage,
    pub harness: HarnessUsage,
    /// What the provider simulators injected (with `--providers-url`).
    pub providers: Option<ProviderStats>,
    /// The engine's end-of-turn wait (its endpointing), ms: from the target's
    /// `/metrics` (`stage="eou"`) or `--end-of-turn-ms`.
    pub end_of_turn_ms: Option<f64>,
    /// v2v − end-of-turn wait − provider time (STT + LLM TTFT + TTS TTFB,
    /// their means): an estimate of what the engine itself adds.
    pub engine_overhead_ms: Option<EngineOverhead>,
    /// The target's own outbound pacing: how late its RTP packets left
    /// against their 20 ms grid, ms (`parla_rtp_send_lateness_seconds` on
    /// `/metrics`; a receiver-side jitter figure also holds the harness's
    /// scheduling delays).
    #[serde(default)]
    pub send_lateness_ms: Option<SendLateness>,
    pub timeline: Vec<TimelinePoint>,
    /// Every value measured, by metric (`setup_ms`, `greeting_ms`, `v2v_ms`,
    /// `barge_in_stop_ms`, `echo_delay_ms`), for the plots; not in the JSON.
    #[serde(skip)]
    pub samples: BTreeMap<String, Vec<f64>>,
}

/// Quantiles of the target's outbound RTP send lateness, ms.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SendLateness {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub p999: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct EngineOverhead {
    /// Exact whatever the distributions (means subtract).
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    #[serde(default)]
    pub p99: f64,
    /// The provider time taken off (ms): STT final + LLM first sentence + TTS first byte.
    pub provider_ms: f64,
    /// True when the simulators injected constant latencies, so the
    /// percentiles are the engine overhead's own; otherwise only the mean is
    /// exact and the percentiles are v2v percentiles shifted by the mean
    /// provider time.
    #[serde(default)]
    pub exact: bool,
}

fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"))
}

fn row(out: &mut String, name: &str, p: &Percentiles) {
    let _ = writeln!(
        out,
        "{name:<24} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9}",
        p.count,
        cell(p.mean),
        cell(p.p50),
        cell(p.p90),
        cell(p.p99),
        cell(p.max)
    );
}

impl Summary {
    /// True when every call placed completed.
    pub fn all_completed(&self) -> bool {
        self.calls.attempted > 0 && self.calls.completed == self.calls.attempted
    }

    /// The human-readable report.
    pub fn table(&self) -> String {
        let mut o = String::new();
        let c = &self.calls;
        let _ = writeln!(
            o,
            "target {} ({} mode), {:.1} s: {} calls placed, {} answered, {} completed, {} failed, peak {} concurrent",
            self.target, self.mode, self.elapsed_s, c.attempted, c.answered, c.completed, c.failed, c.peak_concurrency
        );
        for (reason, n) in &c.failures {
            let _ = writeln!(o, "  failed: {n} × {reason}");
        }
        let t = &self.turns;
        let _ = writeln!(
            o,
            "turns: {} played, {} answered; barge-ins: {} tried, {} over agent speech, {} stopped the agent",
            t.played, t.replied, t.barge_ins, t.barge_ins_over_speech, t.barge_ins_stopped
        );
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "{:<24} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "latency (ms)", "n", "mean", "p50", "p90", "p99", "max"
        );
        row(&mut o, "call setup", &self.setup_ms);
        if self.mode == "echo" {
            row(&mut o, "echo delay", &self.echo_delay_ms);
        } else {
            row(&mut o, "greeting", &self.greeting_ms);
            row(&mut o, "voice-to-voice", &self.v2v_ms);
            row(&mut o, "barge-in stop", &self.barge_in_stop_ms);
        }
        row(&mut o, "RTP jitter (per call)", &self.rtp.jitter_ms);
        if let Some(p) = &self.providers {
            row(&mut o, "provider STT final", &p.stt_ms);
            row(&mut o, "provider LLM TTFT", &p.llm_ttft_ms);
            row(&mut o, "provider TTS TTFB", &p.tts_ttfb_ms);
        }
        let _ = writeln!(o);
        let r = &self.rtp;
        let _ = writeln!(
            o,
            "RTP from target: {} packets, {} lost ({:.3}%), {} reordered, jitter max {:.2} ms; {} packets sent",
            r.packets_received, r.lost, r.loss_pct, r.reordered, r.jitter_max_ms, r.packets_sent
        );
        if let Some(e) = self.end_of_turn_ms {
            let _ = writeln!(o, "engine end-of-turn wait: {e:.1} ms");
        }
        if let Some(l) = &self.send_lateness_ms {
            let _ = writeln!(
                o,
                "target RTP send lateness vs its 20 ms grid (pacing jitter): p50 {} ms, p90 {} ms, p99 {} ms, p99.9 {} ms",
                cell(l.p50), cell(l.p90), cell(l.p99), cell(l.p999)
            );
        }
        if let Some(e) = &self.engine_overhead_ms {
            let _ = writeln!(
                o,
                "engine overhead (v2v − end-of-turn − {:.1} ms provider time): mean {:.1} ms, p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms ({})",
                e.provider_ms, e.mean, e.p50, e.p90, e.p99,
                if e.exact { "constant provider latencies: exact" } else { "mean exact, percentiles approximate" }
            );
        }
        let u = &self.target_usage;
        if u.source != "none" {
            let _ = writeln!(
                o,
                "target ({}): CPU mean {}% max {}% of a core, {} % per call, {} CPU-s per call; RSS {} → {} MB, {} KB per call",
                u.source,
                cell(u.cpu_pct_mean),
                cell(u.cpu_pct_max),
                u.cpu_pct_per_call.map_or("-".into(), |v| format!("{v:.2}")),
                u.cpu_seconds_per_call.map_or("-".into(), |v| format!("{v:.3}")),
                cell(u.rss_mb_start),
                cell(u.rss_mb_peak),
                cell(u.rss_kb_per_call),
            );
        }
        let h = &self.harness;
        let _ = writeln!(
            o,
            "harness: RSS {} → {} MB, {} KB per simulated call",
            cell(h.rss_mb_start),
            cell(h.rss_mb_peak),
            cell(h.rss_kb_per_call)
        );
        o
    }
}
