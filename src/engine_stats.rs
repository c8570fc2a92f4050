//! The engine's process-wide figures for the super admin's dashboard:
//! [`parla_admin_web::panel::EngineStats`] over the call counters and the
//! voice-to-voice hdrhistogram that `/metrics` also exports.

use std::sync::Arc;

use parla_admin_web::panel::{EngineSnapshot, EngineStats};
use parla_engine::metrics::{CallCounters, LatencyMetrics, Stage};

/// Reads live figures from the engine's shared metrics (cheap: two mutex
/// locks on the v2v histogram per snapshot).
pub struct EngineFigures {
    pub latency: Arc<LatencyMetrics>,
    pub counters: Arc<CallCounters>,
}

impl EngineStats for EngineFigures {
    fn snapshot(&self) -> EngineSnapshot {
        let ms = |p: f64| {
            self.latency
                .percentile_ms(Stage::V2v, p)
                .map(|v| v.round() as u64)
        };
        EngineSnapshot {
            live_calls: self.counters.active().max(0) as u64,
            v2v_p50_ms: ms(50.0),
            v2v_p95_ms: ms(95.0),
            v2v_samples: self.latency.count(Stage::V2v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parla_engine::conversation::TurnLatency;

    #[test]
    fn snapshot_reports_active_calls_and_v2v_percentiles() {
        let latency = Arc::new(LatencyMetrics::new());
        let counters = Arc::new(CallCounters::new());
        let figures = EngineFigures {
            latency: latency.clone(),
            counters: counters.clone(),
        };
        assert_eq!(figures.snapshot(), EngineSnapshot::default());

        counters.inc();
        for v2v in [600.0, 700.0, 800.0, 900.0, 1000.0] {
            latency.record(&TurnLatency {
                eou_ms: 100.0,
                stt_ms: 200.0,
                llm_ttft_ms: None,
                tts_ttfb_ms: None,
                v2v_ms: v2v,
            });
        }
        let s = figures.snapshot();
        assert_eq!(s.live_calls, 1);
        assert_eq!(s.v2v_samples, 5);
        assert!(matches!(s.v2v_p50_ms, Some(799..=801)), "{s:?}");
        assert!(matches!(s.v2v_p95_ms, Some(999..=1001)), "{s:?}");
    }
}
