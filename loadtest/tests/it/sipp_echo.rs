//! Sanity baseline: the harness against SIPp's built-in UAS with RTP echo
//! (`sipp -sn uas -rtp_echo`). The "agent audio" is our own audio echoed,
//! so call setup and the RTP statistics are what mean something here.

use crate::common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use parla_loadtest::{run, Mode, RunConfig};

struct Sipp(std::process::Child);

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_calls_against_sipp_uas_echo_complete() {
    if Command::new("sipp").arg("-v").output().is_err() {
        missing_tool("sipp is not installed (apt-get install sip-tester)");
        return;
    }
    let dir = TempDir::new("sipp");
    let (sip_port, media_port) = (free_udp_port(), free_udp_port());
    let child = Command::new("sipp")
        .args([
            "-sn",
            "uas",
            "-rtp_echo",
            "-i",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
        ])
        .args(["-p", &sip_port.to_string(), "-mp", &media_port.to_string()])
        .args(["-m", "5", "-nostdin", "-timeout", "120s"])
        .current_dir(&dir.0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sipp");
    let _sipp = Sipp(child);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let wav = dir.0.join("caller.wav");
    utterance_wav(&wav, "I would like to book an appointment");

    let mut cfg = RunConfig::new(format!("127.0.0.1:{sip_port}").parse().unwrap(), vec![wav]);
    cfg.mode = Mode::Echo;
    cfg.calls = 5;
    cfg.concurrency = 5;
    cfg.cps = 5.0;
    cfg.duration = Duration::from_secs(10);
    cfg.turns = 2;
    cfg.pause = Duration::from_millis(500);
    cfg.request_uri_user = "service".into();
    let summary = tokio::time::timeout(Duration::from_secs(90), run(cfg))
        .await
        .expect("bounded")
        .expect("the run works");
    println!("{}", summary.table());
    assert_eq!(summary.calls.attempted, 5);
    assert_eq!(summary.calls.completed, 5, "{:?}", summary.calls.failures);
    assert_eq!(summary.setup_ms.count, 5);
    assert!(summary.rtp.packets_received > 0, "SIPp echoed our RTP");
    assert_eq!(summary.echo_delay_ms.count, 10, "each utterance came back");
    assert!(summary.rtp.jitter_ms.count > 0);
}
