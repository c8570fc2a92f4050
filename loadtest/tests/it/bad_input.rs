//! Bad input gives a clear error (and a non-zero exit from the CLI), never a
//! panic: a target where nothing listens, a target that never answers, an
//! unreadable WAV, a wrong --pid.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::*;
use parla_loadtest::{run, RunConfig};

fn wav(dir: &TempDir) -> std::path::PathBuf {
    let p = dir.0.join("u.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&p, spec).unwrap();
    for i in 0..8000 {
        w.write_sample(((i as f32 * 0.1).sin() * 8000.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
    p
}

#[tokio::test]
async fn target_down_is_a_clear_error() {
    let dir = TempDir::new("down");
    let target = format!("127.0.0.1:{}", free_udp_port()).parse().unwrap();
    let err = run(RunConfig::new(target, vec![wav(&dir)]))
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("nothing is listening on UDP"), "{msg}");
}

#[tokio::test]
async fn a_target_that_never_answers_is_a_clear_error() {
    let dir = TempDir::new("silent");
    // Bound, so no ICMP, but it never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut cfg = RunConfig::new(silent.local_addr().unwrap(), vec![wav(&dir)]);
    cfg.calls = 2;
    cfg.answer_timeout = Duration::from_secs(1);
    let err = run(cfg).await.unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("answered none of 2 calls"), "{msg}");
    assert!(msg.contains("no answer"), "{msg}");
}

#[tokio::test]
async fn unreadable_wav_and_bad_pid_are_clear_errors() {
    let dir = TempDir::new("wav");
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = silent.local_addr().unwrap();
    let missing = dir.0.join("missing.wav");
    let msg = format!(
        "{:#}",
        run(RunConfig::new(target, vec![missing]))
            .await
            .unwrap_err()
    );
    assert!(
        msg.contains("cannot read utterance WAV") && msg.contains("missing.wav"),
        "{msg}"
    );
    let junk = dir.0.join("junk.wav");
    std::fs::write(&junk, b"RIFF....not really").unwrap();
    let msg = format!(
        "{:#}",
        run(RunConfig::new(target, vec![junk])).await.unwrap_err()
    );
    assert!(msg.contains("cannot read utterance WAV"), "{msg}");
    let mut cfg = RunConfig::new(target, vec![wav(&dir)]);
    cfg.pid = Some(u32::MAX - 7);
    let msg = format!("{:#}", run(cfg).await.unwrap_err());
    assert!(msg.contains("--pid"), "{msg}");
}

#[test]
fn the_cli_exits_non_zero_with_a_message() {
    let dir = TempDir::new("cli");
    let bin = env!("CARGO_BIN_EXE_parla-loadtest");
    let port = free_udp_port();
    for (args, expect) in [
        (
            vec![
                "run".to_string(),
                "--target".into(),
                format!("127.0.0.1:{port}"),
                "--utterance".into(),
                wav(&dir).display().to_string(),
                "--quiet".into(),
            ],
            "nothing is listening",
        ),
        (
            vec![
                "run".to_string(),
                "--target".into(),
                format!("127.0.0.1:{port}"),
                "--utterance".into(),
                "/nonexistent/a.wav".into(),
                "--quiet".into(),
            ],
            "cannot read utterance WAV",
        ),
        (
            vec![
                "providers".to_string(),
                "--llm-ttft".into(),
                "gamma:1,2".into(),
            ],
            "unknown distribution",
        ),
    ] {
        let out = Command::new(bin).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.code().is_some_and(|c| c != 0),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
