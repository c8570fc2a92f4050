//! Test 1 of the inbound-call issue: SIPp (Debian `sip-tester`) calls a real
//! `parla` as a UAC, speaks a recorded utterance, and completes the call.

use crate::support;

use std::process::Command;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_uac_call_with_an_utterance_succeeds() {
    let parla = start_flow_agent("", &rtp_range(1, 10));
    let root = env!("CARGO_MANIFEST_DIR");
    let work = std::env::temp_dir().join(format!("parla-sipp-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let made = Command::new(format!("{root}/tests/sipp/make-utterance.sh"))
        .arg(&work)
        .arg("I would like to book an appointment, please.")
        .status()
        .expect("make-utterance.sh");
    assert!(made.success());

    // The greeting plays while SIPp streams the utterance; stay 12 s for the reply.
    let status = Command::new(format!("{root}/tests/sipp/run-uac-utterance.sh"))
        .arg(parla.sip.to_string())
        .arg("12000")
        .arg(&work)
        .status()
        .expect("run sipp (is sip-tester installed?)");
    let out = std::fs::read_to_string(work.join("sipp.out")).unwrap_or_default();
    assert!(
        status.success(),
        "sipp failed:\n{out}\n{}",
        parla.log_text()
    );

    // SIPp's own statistics: one successful call, none failed.
    let csv = std::fs::read_to_string(work.join("stat.csv")).expect("SIPp stat file");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(';').collect();
    let last: Vec<&str> = lines.last().unwrap().split(';').collect();
    let col = |name: &str| -> u64 {
        let i = header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("{name} not in SIPp stats"));
        last[i].trim().parse().unwrap()
    };
    assert_eq!(col("SuccessfulCall(C)"), 1, "{csv}");
    assert_eq!(col("FailedCall(C)"), 0, "{csv}");

    // Parla heard the caller: the user's turn was transcribed.
    parla.wait_idle(std::time::Duration::from_secs(10)).await;
    let log = parla.log_text();
    let heard = log
        .lines()
        .filter(|l| l.contains("transcript") && l.contains("speaker=User"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        parla_testkit::speech::contains_phrase_fuzzy(&heard, "book an appointment", 0.34),
        "Parla's transcript of the SIPp caller: {heard:?}"
    );
    let _ = std::fs::remove_dir_all(&work);
}
