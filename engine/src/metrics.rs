//! Per-turn latency histograms and call counters, exported in the Prometheus
//! text exposition format (version 0.0.4).
//!
//! The exposition text is written by hand: the format is tiny and the
//! histograms already live in `hdrhistogram`, so a client library would only
//! add a second copy of the data.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::conversation::TurnLatency;

/// Largest latency tracked exactly, in µs (60 s); longer ones are clamped to it.
const MAX_TRACKED_US: u64 = 60_000_000;

/// Upper bounds of the exported histogram buckets, in seconds (`+Inf` is implied).
pub const BUCKETS_SECONDS: [f64; 11] = [0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0];

/// One measured stage of a turn; see [`TurnLatency`] for the definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Last caller speech frame → end-of-turn decision.
    Eou,
    /// End-of-turn decision → STT final.
    Stt,
    /// LLM request → first token.
    LlmTtft,
    /// First TTS request of the turn → its first audio.
    TtsTtfb,
    /// Last caller speech frame → first reply audio on the wire.
    V2v,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::Eou,
        Stage::Stt,
        Stage::LlmTtft,
        Stage::TtsTtfb,
        Stage::V2v,
    ];

    /// The `stage` label value.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Eou => "eou",
            Stage::Stt => "stt",
            Stage::LlmTtft => "llm_ttft",
            Stage::TtsTtfb => "tts_ttfb",
            Stage::V2v => "v2v",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// This stage's value in `t`, in ms.
    fn of(self, t: &TurnLatency) -> Option<f64> {
        match self {
            Stage::Eou => Some(t.eou_ms),
            Stage::Stt => Some(t.stt_ms),
            Stage::LlmTtft => t.llm_ttft_ms,
            Stage::TtsTtfb => t.tts_ttfb_ms,
            Stage::V2v => Some(t.v2v_ms),
        }
    }
}

/// One stage's distribution: values in µs plus their exact sum.
struct StageHistogram {
    hist: Histogram<u64>,
    sum_seconds: f64,
}

impl StageHistogram {
    fn new() -> Self {
        // 1 µs .. 60 s at 3 significant digits (0.1 % resolution): constant,
        // valid bounds, so creation cannot fail.
        #[allow(clippy::expect_used)]
        let hist = Histogram::new_with_bounds(1, MAX_TRACKED_US, 3)
            .expect("constant histogram bounds are valid");
        Self {
            hist,
            sum_seconds: 0.0,
        }
    }
}

/// Latency distributions of every turn, by stage. Thread-safe; recording takes
/// a short lock per stage (once per turn, never per frame).
pub struct LatencyMetrics {
    stages: [Mutex<StageHistogram>; 5],
}

impl Default for LatencyMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for LatencyMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("LatencyMetrics");
        for stage in Stage::ALL {
            d.field(stage.label(), &self.count(stage));
        }
        d.finish()
    }
}

impl LatencyMetrics {
    pub fn new() -> Self {
        Self {
            stages: std::array::from_fn(|_| Mutex::new(StageHistogram::new())),
        }
    }

    /// Records one turn. Stages that were not measured (None), negative or
    /// non-finite values are skipped.
    pub fn record(&self, t: &TurnLatency) {
        for stage in Stage::ALL {
            let Some(ms) = stage.of(t).filter(|v| v.is_finite() && *v >= 0.0) else {
                continue;
            };
            let us = (ms * 1000.0).round().clamp(1.0, MAX_TRACKED_US as f64) as u64;
            let mut s = self.lock(stage);
            s.hist.saturating_record(us);
            s.sum_seconds += ms / 1000.0;
        }
    }

    /// The `p`-th percentile (0..=100) of `stage`, in ms; None before any turn.
    pub fn percentile_ms(&self, stage: Stage, p: f64) -> Option<f64> {
        let s = self.lock(stage);
        if s.hist.is_empty() {
            return None;
        }
        let q = if p.is_nan() {
            0.5
        } else {
            (p / 100.0).clamp(0.0, 1.0)
        };
        Some(s.hist.value_at_quantile(q) as f64 / 1000.0)
    }

    /// Turns recorded for `stage`.
    pub fn count(&self, stage: Stage) -> u64 {
        self.lock(stage).hist.len()
    }

    fn lock(&self, stage: Stage) -> std::sync::MutexGuard<'_, StageHistogram> {
        // A panic elsewhere while holding the lock cannot corrupt a histogram
        // beyond one sample; keep serving metrics.
        self.stages[stage.index()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Cumulative bucket counts (one per [`BUCKETS_SECONDS`] bound, then `+Inf`),
    /// the sum in seconds and the count of `stage`.
    fn snapshot(&self, stage: Stage) -> ([u64; 12], f64, u64) {
        let s = self.lock(stage);
        let mut buckets = [0u64; 12];
        for (i, le) in BUCKETS_SECONDS.iter().enumerate() {
            let le_us = (le * 1e6).round() as u64;
            // Counts every sample whose hdr bucket starts at or below `le`
            // (resolution: 0.1 % of the value).
            buckets[i] = s.hist.count_between(0, le_us);
        }
        let count = s.hist.len();
        buckets[11] = count;
        // Cumulative counts can never decrease, whatever the rounding at the edges.
        for i in 1..buckets.len() {
            buckets[i] = buckets[i].max(buckets[i - 1]).min(count);
        }
        buckets[0] = buckets[0].min(count);
        (buckets, s.sum_seconds, count)
    }
}

/// Width of one [`SendLateness`] bucket, in µs.
pub const SEND_LATENESS_BUCKET_US: u64 = 100;
/// Buckets of [`SendLateness`] (0..51.2 ms; later sends land in the last).
pub const SEND_LATENESS_BUCKETS: usize = 512;

/// How late each outbound RTP packet left against its ideal 20 ms grid
/// (`call start + n × 20 ms`): the sender's pacing jitter, measured where it
/// happens rather than at a receiver that adds its own scheduling noise.
/// Lock-free (one relaxed atomic add per packet) and fixed-size: 100 µs
/// buckets up to 51.2 ms.
pub struct SendLateness {
    buckets: Box<[AtomicU64]>,
    sum_us: AtomicU64,
}

impl Default for SendLateness {
    fn default() -> Self {
        SendLateness {
            buckets: (0..SEND_LATENESS_BUCKETS)
                .map(|_| AtomicU64::new(0))
                .collect(),
            sum_us: AtomicU64::new(0),
        }
    }
}

impl std::fmt::Debug for SendLateness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendLateness")
            .field("count", &self.count())
            .finish()
    }
}

impl SendLateness {
    /// One packet sent `late` after its ideal time.
    pub fn record(&self, late: Duration) {
        let us = late.as_micros().min(u128::from(u64::MAX)) as u64;
        let i = ((us / SEND_LATENESS_BUCKET_US) as usize).min(SEND_LATENESS_BUCKETS - 1);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Packets recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The `q` quantile (0.0..=1.0) in ms, as the upper edge of its 100 µs
    /// bucket (None before the first packet).
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some((i as u64 + 1) as f64 * SEND_LATENESS_BUCKET_US as f64 / 1000.0);
            }
        }
        None
    }

    fn sum_seconds(&self) -> f64 {
        self.sum_us.load(Ordering::Relaxed) as f64 / 1e6
    }
}

/// Calls in progress and handled since start, and the pacing of their RTP.
#[derive(Debug, Default)]
pub struct CallCounters {
    active: AtomicI64,
    total: AtomicU64,
    /// Outbound RTP send lateness of every call.
    pub send_lateness: SendLateness,
}

impl CallCounters {
    pub fn new() -> Self {
        Self::default()
    }

    /// A call started.
    pub fn inc(&self) {
        self.active.fetch_add(1, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    /// A call ended.
    pub fn dec(&self) {
        self.active.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn active(&self) -> i64 {
        self.active.load(Ordering::Relaxed)
    }

    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

/// Appends the Prometheus text exposition of all metrics to `out`:
/// `parla_turn_latency_seconds{stage=...}` (histogram), `parla_calls_active`
/// (gauge) and `parla_calls_total` (counter).
pub fn render_prometheus(latency: &LatencyMetrics, calls: &CallCounters, out: &mut String) {
    // Writing to a String cannot fail.
    let _ = write_prometheus(latency, calls, out);
}

fn write_prometheus(
    latency: &LatencyMetrics,
    calls: &CallCounters,
    out: &mut String,
) -> std::fmt::Result {
    writeln!(
        out,
        "# HELP parla_turn_latency_seconds Latency of each conversational turn by stage: \
         eou (last caller speech to end-of-turn), stt (end-of-turn to transcript), \
         llm_ttft (LLM request to first token), tts_ttfb (first TTS request to first audio), \
         v2v (last caller speech to first reply audio)."
    )?;
    writeln!(out, "# TYPE parla_turn_latency_seconds histogram")?;
    for stage in Stage::ALL {
        let (buckets, sum, count) = latency.snapshot(stage);
        let label = stage.label();
        for (i, cumulative) in buckets.iter().enumerate() {
            let le = BUCKETS_SECONDS
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
            writeln!(
                out,
                "parla_turn_latency_seconds_bucket{{stage=\"{label}\",le=\"{le}\"}} {cumulative}"
            )?;
        }
        writeln!(
            out,
            "parla_turn_latency_seconds_sum{{stage=\"{label}\"}} {sum}"
        )?;
        writeln!(
            out,
            "parla_turn_latency_seconds_count{{stage=\"{label}\"}} {count}"
        )?;
    }
    writeln!(
        out,
        "# HELP parla_calls_active Calls currently in progress."
    )?;
    writeln!(out, "# TYPE parla_calls_active gauge")?;
    writeln!(out, "parla_calls_active {}", calls.active())?;
    writeln!(
        out,
        "# HELP parla_calls_total Calls handled since the process started."
    )?;
    writeln!(out, "# TYPE parla_calls_total counter")?;
    writeln!(out, "parla_calls_total {}", calls.total())?;
    let lateness = &calls.send_lateness;
    writeln!(
        out,
        "# HELP parla_rtp_send_lateness_seconds How late each outbound RTP packet left \
         against its ideal 20 ms grid (pacing jitter; quantiles are 100 µs bucket edges)."
    )?;
    writeln!(out, "# TYPE parla_rtp_send_lateness_seconds summary")?;
    for q in [0.5, 0.9, 0.99, 0.999] {
        if let Some(ms) = lateness.quantile_ms(q) {
            writeln!(
                out,
                "parla_rtp_send_lateness_seconds{{quantile=\"{q}\"}} {}",
                ms / 1000.0
            )?;
        }
    }
    writeln!(
        out,
        "parla_rtp_send_lateness_seconds_sum {}",
        lateness.sum_seconds()
    )?;
    writeln!(
        out,
        "parla_rtp_send_lateness_seconds_count {}",
        lateness.count()
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn turn(eou: f64, v2v: f64, ttft: Option<f64>) -> TurnLatency {
        TurnLatency {
            eou_ms: eou,
            stt_ms: 150.0,
            llm_ttft_ms: ttft,
            tts_ttfb_ms: None,
            v2v_ms: v2v,
        }
    }

    #[test]
    fn records_and_reports_percentiles() {
        let m = LatencyMetrics::new();
        assert_eq!(m.percentile_ms(Stage::V2v, 50.0), None);
        for i in 1..=100 {
            m.record(&turn(
                500.0,
                f64::from(i) * 10.0,
                (i % 2 == 0).then_some(300.0),
            ));
        }
        m.record(&turn(f64::NAN, -5.0, None)); // ignored stages
        assert_eq!(m.count(Stage::V2v), 100);
        assert_eq!(m.count(Stage::Eou), 100);
        assert_eq!(m.count(Stage::LlmTtft), 50);
        assert_eq!(m.count(Stage::TtsTtfb), 0);
        let p50 = m.percentile_ms(Stage::V2v, 50.0).unwrap();
        assert!((p50 - 500.0).abs() <= 1.0, "{p50}");
        let p99 = m.percentile_ms(Stage::V2v, 99.0).unwrap();
        assert!((p99 - 990.0).abs() <= 1.0, "{p99}");
        assert!((m.percentile_ms(Stage::Eou, 100.0).unwrap() - 500.0).abs() <= 0.5);
        // Absurd values are clamped, not lost.
        m.record(&turn(10_000_000.0, 1.0, None));
        assert_eq!(m.count(Stage::Eou), 101);
    }

    #[test]
    fn call_counters() {
        let c = CallCounters::new();
        c.inc();
        c.inc();
        c.dec();
        assert_eq!((c.active(), c.total()), (1, 2));
    }

    /// Parses a sample line: `name{labels} value` → (name, labels, value).
    fn parse_sample(line: &str) -> (String, HashMap<String, String>, f64) {
        let re = regex::Regex::new(r#"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$"#).unwrap();
        let caps = re
            .captures(line)
            .unwrap_or_else(|| panic!("not a sample line: {line:?}"));
        let label_re =
            regex::Regex::new(r#"^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"$"#).unwrap();
        let mut labels = HashMap::new();
        if let Some(l) = caps.get(2) {
            for pair in l.as_str().split(',') {
                let c = label_re
                    .captures(pair)
                    .unwrap_or_else(|| panic!("bad label {pair:?} in {line:?}"));
                labels.insert(c[1].to_string(), c[2].to_string());
            }
        }
        let value = match &caps[3] {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        (caps[1].to_string(), labels, value)
    }

    #[test]
    fn prometheus_text_is_valid() {
        let m = LatencyMetrics::new();
        for (eou, v2v) in [
            (500.0, 700.0),
            (520.0, 900.0),
            (480.0, 1200.0),
            (500.0, 6000.0),
            (30.0, 800.0),
        ] {
            m.record(&turn(eou, v2v, Some(250.0)));
        }
        let calls = CallCounters::new();
        calls.inc();
        calls.inc();
        calls.inc();
        calls.dec();
        let mut text = String::new();
        render_prometheus(&m, &calls, &mut text);

        let mut typed = HashMap::new();
        let mut buckets: HashMap<String, Vec<(f64, f64)>> = HashMap::new();
        let mut counts = HashMap::new();
        let mut sums = HashMap::new();
        let mut plain = HashMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(
                    typed.insert(name.to_string(), kind.to_string()).is_none(),
                    "duplicate TYPE {name}"
                );
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            assert!(
                !line.starts_with('#') && !line.is_empty(),
                "unexpected line {line:?}"
            );
            let (name, labels, value) = parse_sample(line);
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|f| {
                    matches!(
                        typed.get(*f).map(String::as_str),
                        Some("histogram" | "summary")
                    )
                })
                .unwrap_or(&name)
                .to_string();
            assert!(
                typed.contains_key(&family),
                "sample before its TYPE: {line}"
            );
            if family == "parla_turn_latency_seconds" {
                let stage = labels["stage"].clone();
                match name.as_str() {
                    "parla_turn_latency_seconds_bucket" => {
                        let le = parse_sample(&format!("x {}", labels["le"])).2;
                        buckets.entry(stage).or_default().push((le, value));
                    }
                    "parla_turn_latency_seconds_sum" => {
                        sums.insert(stage, value);
                    }
                    "parla_turn_latency_seconds_count" => {
                        counts.insert(stage, value);
                    }
                    other => panic!("unexpected sample {other}"),
                }
            } else {
                plain.insert(name, value);
            }
        }
        assert_eq!(typed["parla_turn_latency_seconds"], "histogram");
        assert_eq!(typed["parla_calls_active"], "gauge");
        assert_eq!(typed["parla_calls_total"], "counter");
        assert_eq!(plain["parla_calls_active"], 2.0);
        assert_eq!(plain["parla_calls_total"], 3.0);
        assert_eq!(buckets.len(), 5, "one histogram per stage");
        for (stage, series) in &buckets {
            assert_eq!(series.len(), 12, "{stage}");
            assert!(
                series
                    .windows(2)
                    .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
                "{stage}: {series:?}"
            );
            assert_eq!(
                series.last().unwrap(),
                &(f64::INFINITY, counts[stage]),
                "{stage}"
            );
        }
        let v2v: Vec<f64> = buckets["v2v"].iter().map(|b| b.1).collect();
        assert_eq!(
            v2v,
            vec![0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 3.0, 4.0, 4.0, 4.0, 4.0, 5.0]
        );
        let eou: Vec<f64> = buckets["eou"].iter().map(|b| b.1).collect();
        assert_eq!(
            eou,
            vec![1.0, 1.0, 1.0, 1.0, 4.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0]
        );
        assert!((sums["v2v"] - 9.6).abs() < 1e-9);
        assert_eq!(counts["tts_ttfb"], 0.0);
        assert!(
            text.contains("parla_turn_latency_seconds_bucket{stage=\"llm_ttft\",le=\"0.3\"} 5\n")
        );
    }

    #[test]
    fn send_lateness_quantiles_and_exposition() {
        let c = CallCounters::new();
        assert_eq!(c.send_lateness.quantile_ms(0.5), None);
        // 98 packets on time (50 µs late), one 1.5 ms late, one 80 ms late.
        for _ in 0..98 {
            c.send_lateness.record(Duration::from_micros(50));
        }
        c.send_lateness.record(Duration::from_micros(1_500));
        c.send_lateness.record(Duration::from_millis(80));
        assert_eq!(c.send_lateness.count(), 100);
        assert_eq!(c.send_lateness.quantile_ms(0.5), Some(0.1));
        assert_eq!(c.send_lateness.quantile_ms(0.99), Some(1.6));
        assert_eq!(
            c.send_lateness.quantile_ms(1.0),
            Some(51.2),
            "clamped to the last bucket"
        );
        let mut out = String::new();
        render_prometheus(&LatencyMetrics::new(), &c, &mut out);
        assert!(
            out.contains("parla_rtp_send_lateness_seconds{quantile=\"0.99\"} 0.0016"),
            "{out}"
        );
        assert!(
            out.contains("parla_rtp_send_lateness_seconds_count 100"),
            "{out}"
        );
    }
}
