//! Process lifecycle: `/healthz`, and graceful shutdown on SIGTERM (new calls
//! are refused with 503 while active calls finish, then the process exits).

use crate::support;

use std::time::{Duration, Instant};

use parla_testkit::caller::{place_call, Action, EndedBy};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_active_calls_and_refuses_new_ones() {
    // A drain deadline far longer than the test: the process must exit as
    // soon as its last call ends, not when the deadline passes.
    // A process: the test sends it SIGTERM and reads its process metrics.
    let w = whisper();
    let mut parla = Parla::spawn_process(Launch {
        config_toml: Some(&flow_agent_config(&format!("{}/v1", w.base_url()), "")),
        rtp_ports: rtp_range(5, 10),
        env: vec![("PARLA_SHUTDOWN_TIMEOUT".into(), "60".into())],
        data_dir: None,
    });
    let health = reqwest::get(format!("http://{}/healthz", parla.http))
        .await
        .unwrap();
    assert!(health.status().is_success());
    // Standard process metrics for dashboards and the load harness.
    let rss = parla.metric("process_resident_memory_bytes").await;
    assert!(rss > 1_000_000.0 && rss < 2_000_000_000.0, "RSS {rss}");
    assert!(parla.metric("process_open_fds").await >= 3.0);

    // A call in progress when SIGTERM arrives.
    let mut spec = call_to(&parla);
    spec.script = vec![
        Action::WaitForAgentSpeech {
            timeout: Duration::from_secs(5),
        },
        Action::Wait(Duration::from_secs(3)),
        Action::Hangup,
    ];
    let active = tokio::spawn(place_call(spec));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(parla.metric("parla_calls_active").await, 1.0);
    assert!(
        parla.metric("process_cpu_seconds_total").await > 0.0,
        "started up and ran a call"
    );
    let pid = parla.pid();
    std::process::Command::new("kill")
        .args(["-15", &pid.to_string()])
        .status()
        .unwrap();
    let sigterm_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // New calls are refused while draining.
    let refused = place_call(call_to(&parla)).await.unwrap();
    assert_eq!(refused.final_status, 503, "{:?}", refused.sip_log);

    // The active call was not cut off: the caller hung up as planned.
    let outcome = active.await.unwrap().unwrap();
    let call_ended = Instant::now();
    assert_eq!(
        outcome.ended_by,
        EndedBy::Caller,
        "{:?}",
        outcome.caller_events
    );
    assert!(
        outcome.rtp_packets_received > 150,
        "audio kept flowing through the drain"
    );

    // Then the process exits by itself within about a second of the last
    // BYE, with no further signal, long before the 60 s drain deadline.
    assert!(
        parla.wait_exit(Duration::from_millis(1500)),
        "parla did not exit within 1.5 s of its last call's end ({:?} after SIGTERM)",
        sigterm_at.elapsed()
    );
    assert!(
        call_ended.elapsed() < Duration::from_millis(1500),
        "exit {:?} after the last call ended",
        call_ended.elapsed()
    );
}
