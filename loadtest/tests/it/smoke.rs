//! CI smoke load: the harness against the real `parla` binary, with the
//! provider simulators as its STT, LLM and TTS: 20 concurrent calls for
//! about 20 s each. Checks the harness works (every call completed, every
//! measurement present), never performance numbers.

use crate::common;

use std::time::Duration;

use common::*;
use parla_loadtest::{run, Providers, ProvidersConfig, RunConfig};

const CALLS: usize = 20;

fn agent_config(openai: &str) -> String {
    format!(
        r#"
[[agents]]
name = "load"
numbers = ["*"]
greeting = "Hello, thanks for calling the clinic. How can I help you today?"
system_prompt = "You are the receptionist of a dental clinic."

[agents.stt]
provider = "openai"
base_url = "{openai}"
model = "whisper-1"

[agents.llm]
provider = "openai"
base_url = "{openai}"
model = "gpt-4o-mini"

[agents.tts]
provider = "openai"
base_url = "{openai}"
voice = "alloy"
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_calls_against_parla_all_complete() {
    let Some(bin) = parla_binary() else {
        missing_tool("no parla binary next to this test (run `cargo build --workspace` first)");
        return;
    };
    let providers = Providers::start(ProvidersConfig::default()).expect("simulators");
    let parla = Parla::start(&bin, &agent_config(&providers.openai_url()), "56000-56199");
    let dir = TempDir::new("smoke");
    let wav = dir.0.join("caller.wav");
    utterance_wav(&wav, "I would like to book an appointment");

    let mut cfg = RunConfig::new(parla.sip, vec![wav]);
    cfg.calls = CALLS;
    cfg.concurrency = CALLS;
    cfg.cps = 10.0;
    cfg.duration = Duration::from_secs(20);
    cfg.turns = 2;
    cfg.pause = Duration::from_millis(1000);
    cfg.barge_in = true;
    cfg.pid = Some(parla.pid());
    cfg.metrics_url = Some(format!("http://{}/metrics", parla.metrics));
    cfg.providers_url = Some(providers.base_url());
    cfg.max_call_duration = Duration::from_secs(90);
    let summary = tokio::time::timeout(Duration::from_secs(240), run(cfg))
        .await
        .expect("the run is bounded")
        .expect("the run works");
    println!("{}", summary.table());

    let c = &summary.calls;
    assert_eq!(c.attempted, CALLS as u64);
    assert_eq!(c.completed, CALLS as u64, "failures: {:?}", c.failures);
    assert_eq!(c.peak_concurrency, CALLS as u64);
    // Every measurement is there (its value is not judged).
    assert_eq!(summary.setup_ms.count, CALLS as u64);
    assert_eq!(summary.greeting_ms.count, CALLS as u64);
    assert_eq!(
        summary.v2v_ms.count,
        3 * CALLS as u64,
        "2 turns + the barge-in's reply"
    );
    assert_eq!(summary.barge_in_stop_ms.count, CALLS as u64);
    assert!(summary.rtp.packets_received > 0);
    assert!(summary.rtp.jitter_ms.count > 0);
    let p = summary.providers.as_ref().expect("simulator stats");
    assert!(p.stt_ms.count >= 3 * CALLS as u64, "{p:?}");
    assert!(p.llm_ttft_ms.count >= 3 * CALLS as u64, "{p:?}");
    assert!(p.tts_ttfb_ms.count > 0, "{p:?}");
    assert!(summary.end_of_turn_ms.is_some(), "eou from /metrics");
    assert!(summary.engine_overhead_ms.is_some());
    assert!(summary.target_usage.cpu_pct_mean.is_some());
    assert!(summary.target_usage.rss_mb_peak.is_some());
    assert!(!summary.timeline.is_empty());
    // The JSON and the plots can be written.
    let json = serde_json::to_value(&summary).unwrap();
    for key in ["setup_ms", "greeting_ms", "v2v_ms", "barge_in_stop_ms"] {
        for q in ["p50", "p90", "p99", "max"] {
            assert!(json[key][q].is_number(), "{key}.{q} in {json}");
        }
    }
    let files = parla_loadtest::plots::write_plots(&summary, &dir.0.join("plots"))
        .expect("the plots are written");
    assert!(!files.is_empty(), "some plots are written");
    for f in &files {
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        assert!(len > 1000, "{} has {len} bytes", f.display());
    }
}
