//! `testkit::caller` against real SIP peers: SIPp as a UAS (its built-in
//! `uas` scenario with `-rtp_echo`, and the scenarios in tests/sipp/), plus a
//! silent UDP socket. Needs `sipp` (Debian `sip-tester`), `espeak-ng` and
//! `sox` on PATH.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parla_testkit::caller::{media::rms, place_call, Action, CallOutcome, CallSpec, EndedBy, G711};

// ---- helpers --------------------------------------------------------------

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn scratch_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("parla-caller-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A UDP port that was free a moment ago, with `port + 2` free too (SIPp's
/// RTP echo uses both).
fn free_udp_port_pair() -> u16 {
    for _ in 0..200 {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let p = s.local_addr().unwrap().port();
        if p < 65_000
            && UdpSocket::bind(("127.0.0.1", p + 2)).is_ok()
            && UdpSocket::bind(("127.0.0.1", p + 1)).is_ok()
        {
            return p;
        }
    }
    panic!("no free UDP port pair");
}

/// A SIPp UAS child process, killed on drop.
struct Sipp {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl Sipp {
    /// `scenario`: `Err(builtin name)` for `-sn`, `Ok(file)` for `-sf`.
    fn uas(name: &str, scenario: Result<&str, &str>, echo: bool) -> Sipp {
        Self::uas_calls(name, scenario, echo, 1)
    }

    fn uas_calls(name: &str, scenario: Result<&str, &str>, echo: bool, calls: u32) -> Sipp {
        let dir = scratch_dir(name);
        let port = free_udp_port_pair();
        let media_port = free_udp_port_pair();
        let mut cmd = Command::new("sipp");
        match scenario {
            Ok(file) => cmd
                .arg("-sf")
                .arg(repo_root().join("tests/sipp").join(file)),
            Err(builtin) => cmd.arg("-sn").arg(builtin),
        };
        if echo {
            cmd.arg("-rtp_echo");
        }
        cmd.args([
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-mi",
            "127.0.0.1",
            "-mp",
            &media_port.to_string(),
        ])
        .args([
            "-m",
            &calls.to_string(),
            "-nostdin",
            "-timeout",
            "60s",
            "-trace_err",
        ])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("sipp.out")).unwrap())
        .stderr(std::fs::File::create(dir.join("sipp.err")).unwrap());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run sipp (apt-get install sip-tester): {e}"));
        let mut sipp = Sipp {
            child: Some(child),
            port,
            dir,
        };
        sipp.wait_listening();
        sipp
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Until SIPp holds its SIP port (binding it fails), at most 5 s.
    fn wait_listening(&mut self) {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if UdpSocket::bind(self.addr()).is_err() {
                return;
            }
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("sipp exited at start ({st}): {}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("sipp did not bind {} in 5 s: {}", self.addr(), self.logs());
    }

    /// SIPp's exit status (0 = every call of the scenario succeeded).
    fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                return st;
            }
            if t0.elapsed() > timeout {
                panic!("sipp still running after {timeout:?}: {}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn logs(&self) -> String {
        let mut s = String::new();
        for f in ["sipp.err", "sipp.out"] {
            s += &std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
        }
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().ends_with("_errors.log") {
                    s += &std::fs::read_to_string(e.path()).unwrap_or_default();
                }
            }
        }
        let n = s.len();
        s[n.saturating_sub(3000)..].to_string()
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Keep the logs of a failed test.
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// An espeak-ng sentence as 8 kHz mono PCM (testkit::speech).
fn espeak_8k(text: &str) -> Vec<i16> {
    let pcm = parla_testkit::speech::espeak_wav(text, 8000).expect("espeak-ng + sox");
    assert!(pcm.len() > 8000, "espeak produced {} samples", pcm.len());
    pcm
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn log_index(o: &CallOutcome, from: usize, prefix: &str) -> Option<usize> {
    o.sip_log
        .iter()
        .skip(from)
        .position(|l| l.starts_with(prefix))
        .map(|i| i + from)
}

/// Asserts the SIP log holds these lines in this order (prefix match).
fn assert_log_sequence(o: &CallOutcome, seq: &[&str]) {
    let mut at = 0;
    for want in seq {
        match log_index(o, at, want) {
            Some(i) => at = i + 1,
            None => panic!(
                "SIP log lacks {want:?} (in order {seq:?}):\n{:#?}",
                o.sip_log
            ),
        }
    }
}

/// Normalised cross-correlation of `a` with `b` shifted by `lag` samples.
fn ncc(a: &[i16], b: &[i16], lag: usize) -> f64 {
    let n = a.len().min(b.len().saturating_sub(lag));
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for i in 0..n {
        let (x, y) = (a[i] as f64, b[i + lag] as f64);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        ab / (aa * bb).sqrt()
    }
}

// ---- tests ------------------------------------------------------------

/// The full happy path against SIPp's echoing UAS: answer, speak, hear the
/// echo at the right place on the timeline, DTMF round trip, BYE.
#[tokio::test]
async fn echo_call_hears_its_utterance_back_and_hangs_up() {
    let utterance = Arc::new(espeak_8k(
        "Hello, I would like to book a table for two people tomorrow evening.",
    ));
    let mut sipp = Sipp::uas("echo", Err("uas"), true);
    let mut spec = CallSpec::new(sipp.addr(), format!("sip:agent@{}", sipp.addr()));
    spec.script = vec![
        Action::Silence(ms(1000)),
        Action::Play(utterance.clone()),
        Action::WaitForAgentSilence {
            min_silence: ms(500),
            timeout: ms(5000),
        },
        Action::Dtmf {
            digits: "19".into(),
            duration_ms: 100,
        },
        Action::Wait(ms(300)),
        Action::Hangup,
    ];
    spec.max_duration = Duration::from_secs(30);
    let o = place_call(spec).await.unwrap();
    let diag = format!("events {:#?}\nsip {:#?}", o.caller_events, o.sip_log);

    assert_eq!(o.final_status, 200, "{diag}");
    assert_eq!(o.ended_by, EndedBy::Caller, "{diag}");
    let setup = o.setup_time.expect("setup time");
    assert!(setup < Duration::from_secs(2), "setup {setup:?}");
    assert_log_sequence(
        &o,
        &[
            "> INVITE ",
            "< SIP/2.0 180",
            "< SIP/2.0 200",
            "> ACK ",
            "> BYE ",
            "< SIP/2.0 200",
        ],
    );

    // RTP both ways, nothing lost or foreign (loopback).
    assert!(o.rtp_packets_sent > 200, "sent {}", o.rtp_packets_sent);
    assert!(
        o.rtp_packets_received + 10 >= o.rtp_packets_sent,
        "sent {} got {}",
        o.rtp_packets_sent,
        o.rtp_packets_received
    );
    assert_eq!(o.rtp_lost, 0);
    assert_eq!(o.rtp_foreign_dropped, 0);

    // The echo sits where we played: silent before, loud during, silent after.
    let t_play = o.event_time("play start").expect("play start");
    let t_end = o.event_time("play end").expect("play end");
    let played = t_end - t_play;
    let expect = Duration::from_secs_f64(utterance.len() as f64 / 8000.0);
    assert!(
        played + ms(30) >= expect && played <= expect + ms(200),
        "played {played:?} for {expect:?} of audio"
    );
    let before = rms(o.agent_audio_between(ms(100), t_play - ms(50)));
    let during = rms(o.agent_audio_between(t_play, t_end + ms(100)));
    let t_hangup = o.event_time("hangup").unwrap();
    let after = rms(o.agent_audio_between(t_end + ms(300), t_hangup - ms(50)));
    assert!(
        during > 1000.0 && during > 20.0 * (before + 1.0),
        "before {before:.0} during {during:.0}"
    );
    assert!(after * 20.0 < during, "after {after:.0} during {during:.0}");
    // ... and it is our utterance, a few ms late (one tick + loopback).
    let start = (t_play.as_micros() * 8 / 1000) as usize;
    let window = &o.agent_audio[start..(start + utterance.len() + 2400).min(o.agent_audio.len())];
    let (best_lag, best) = (0..1600)
        .map(|lag| (lag, ncc(&utterance, window, lag)))
        .fold((0, -1.0), |a, b| if b.1 > a.1 { b } else { a });
    assert!(
        best > 0.9,
        "correlation with the played utterance {best:.3} at lag {best_lag}"
    );
    assert!(
        best_lag <= 100 * 8,
        "echo {} ms after play start",
        best_lag / 8
    );
    let first = o.first_agent_audio.expect("first agent audio");
    assert!(
        first + ms(20) >= t_play && first <= t_play + ms(200),
        "first audio {first:?}, play start {t_play:?}"
    );

    // End of the echo detected shortly after the play ended.
    let t_quiet = o
        .event_time("heard agent silence")
        .expect("heard agent silence");
    assert!(
        t_quiet >= t_end && t_quiet <= t_end + ms(1500),
        "silence heard at {t_quiet:?}, play end {t_end:?}"
    );

    // RFC 4733 digits went out and came back (SIPp echoes PT 101 as is).
    let t1 = o.event_time("dtmf 1").expect("dtmf 1");
    let t9 = o.event_time("dtmf 9").expect("dtmf 9");
    let a1 = o.event_time("agent dtmf 1").expect("echoed dtmf 1");
    let a9 = o.event_time("agent dtmf 9").expect("echoed dtmf 9");
    assert!(t1 < a1 && a1 < t9 && t9 < a9, "{diag}");
    assert!(
        t9 - t1 >= ms(150),
        "digit spacing {:?} (100 ms tone + gap)",
        t9 - t1
    );

    let st = sipp.wait_exit(Duration::from_secs(15));
    assert!(st.success(), "sipp: {st}\n{}", sipp.logs());
}

/// CANCEL while ringing: 200 for the CANCEL, 487 for the INVITE, ACKed.
#[tokio::test]
async fn cancel_while_ringing_ends_with_487() {
    let mut sipp = Sipp::uas("cancel", Ok("uas_cancel.xml"), false);
    let mut spec = CallSpec::new(sipp.addr(), format!("sip:agent@{}", sipp.addr()));
    spec.script = vec![Action::Wait(ms(300)), Action::Cancel];
    let t0 = Instant::now();
    let o = place_call(spec).await.unwrap();
    assert_eq!(o.final_status, 487, "{:#?}", o.sip_log);
    assert_eq!(o.ended_by, EndedBy::Caller);
    assert_eq!(o.setup_time, None);
    assert_eq!(o.rtp_packets_sent, 0);
    assert!(o.caller_events.iter().any(|(_, e)| e == "cancel"));
    assert_log_sequence(
        &o,
        &[
            "> INVITE ",
            "< SIP/2.0 100",
            "< SIP/2.0 180",
            "> CANCEL ",
            "< SIP/2.0 487",
            "> ACK ",
        ],
    );
    assert!(
        o.sip_log
            .iter()
            .filter(|l| l.starts_with("< SIP/2.0 200"))
            .count()
            == 1,
        "{:#?}",
        o.sip_log
    );
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t0.elapsed()
    );
    let st = sipp.wait_exit(Duration::from_secs(10));
    assert!(
        st.success(),
        "sipp rejected our CANCEL/ACK: {st}\n{}",
        sipp.logs()
    );
}

/// An offer without G.711 rejected with 488: the non-2xx is ACKed.
#[tokio::test]
async fn rejected_offer_is_acked_and_reported() {
    let mut sipp = Sipp::uas("reject", Ok("uas_reject.xml"), false);
    let mut spec = CallSpec::new(sipp.addr(), format!("sip:agent@{}", sipp.addr()));
    spec.offer_codecs = Some(vec![(9, "G722")]);
    spec.script = vec![Action::Hangup];
    let o = place_call(spec).await.unwrap();
    assert_eq!(o.final_status, 488, "{:#?}", o.sip_log);
    assert_eq!(o.ended_by, EndedBy::Rejected);
    assert_eq!(o.setup_time, None);
    assert_log_sequence(
        &o,
        &["> INVITE ", "< SIP/2.0 100", "< SIP/2.0 488", "> ACK "],
    );
    assert!(!o.sip_log.iter().any(|l| l.starts_with("> BYE")));
    let st = sipp.wait_exit(Duration::from_secs(10));
    assert!(
        st.success(),
        "sipp did not get the ACK: {st}\n{}",
        sipp.logs()
    );
}

/// The agent probes the dialog (OPTIONS, re-INVITE) and hangs up.
#[tokio::test]
async fn agent_options_reinvite_and_bye_are_answered() {
    let mut sipp = Sipp::uas("agent-bye", Ok("uas_agent_bye.xml"), true);
    let mut spec = CallSpec::new(sipp.addr(), format!("sip:agent@{}", sipp.addr()));
    spec.codec = G711::Pcmu;
    spec.max_duration = Duration::from_secs(15);
    // No Hangup: the script ends and the caller waits for the agent's BYE.
    spec.script = vec![Action::Wait(ms(200))];
    let o = place_call(spec).await.unwrap();
    assert_eq!(o.final_status, 200, "{:#?}", o.sip_log);
    assert_eq!(o.ended_by, EndedBy::Agent, "{:#?}", o.caller_events);
    assert!(o.event_time("agent bye").is_some());
    assert_log_sequence(
        &o,
        &[
            "> INVITE ",
            "< SIP/2.0 200",
            "> ACK ",
            "< OPTIONS ",
            "> SIP/2.0 200",
            "< INVITE ",
            "> SIP/2.0 200",
            "< ACK ",
            "< BYE ",
            "> SIP/2.0 200",
        ],
    );
    assert!(!o.sip_log.iter().any(|l| l.starts_with("> BYE")));
    // SIPp echoed our RTP until its BYE.
    assert!(
        o.rtp_packets_received > 20,
        "received {}",
        o.rtp_packets_received
    );
    assert_eq!(o.rtp_lost, 0);
    let st = sipp.wait_exit(Duration::from_secs(10));
    assert!(st.success(), "sipp: {st}\n{}", sipp.logs());
}

/// The call outlives max_duration: the caller hangs up, ended_by Timeout.
#[tokio::test]
async fn max_duration_hangs_up_with_timeout() {
    let mut sipp = Sipp::uas("maxdur", Err("uas"), true);
    let mut spec = CallSpec::new(sipp.addr(), format!("sip:agent@{}", sipp.addr()));
    spec.max_duration = ms(1200);
    spec.script = vec![Action::WaitForAgentSpeech {
        timeout: Duration::from_secs(10),
    }];
    let t0 = Instant::now();
    let o = place_call(spec).await.unwrap();
    let took = t0.elapsed();
    assert_eq!(o.final_status, 200);
    assert_eq!(o.ended_by, EndedBy::Timeout);
    assert!(
        o.event_time("timeout waiting for agent speech").is_some(),
        "{:#?}",
        o.caller_events
    );
    assert!(took >= ms(1200) && took < ms(3000), "took {took:?}");
    // Silence only: echoed back as silence, nothing counted as speech.
    assert_eq!(o.first_agent_audio, None);
    assert!(
        o.rtp_packets_received > 30,
        "received {}",
        o.rtp_packets_received
    );
    assert!(rms(&o.agent_audio) < 1.0);
    // ~1.2 s of timeline (bounded by what was received, not pre-allocated).
    let secs = o.agent_audio.len() as f64 / 8000.0;
    assert!((0.9..=1.5).contains(&secs), "timeline {secs:.2} s");
    assert_log_sequence(&o, &["> ACK ", "> BYE ", "< SIP/2.0 200"]);
    let st = sipp.wait_exit(Duration::from_secs(10));
    assert!(st.success(), "sipp: {st}\n{}", sipp.logs());
}

/// No answer at all: INVITE retransmitted per Timer A (same branch), no
/// CANCEL (no provisional), final 408, Timeout.
#[tokio::test]
async fn silent_server_gets_retransmissions_then_408() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_read_timeout(Some(ms(100))).unwrap();
    let target = server.local_addr().unwrap();
    let mut spec = CallSpec::new(target, format!("sip:agent@{target}"));
    spec.answer_timeout = ms(1700);
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(3) {
            if let Ok((n, _)) = server.recv_from(&mut buf) {
                got.push((
                    t0.elapsed(),
                    String::from_utf8_lossy(&buf[..n]).into_owned(),
                ));
            }
        }
        got
    });
    let o = place_call(spec).await.unwrap();
    assert_eq!(o.final_status, 408);
    assert_eq!(o.ended_by, EndedBy::Timeout);
    assert!(!o.sip_log.iter().any(|l| l.starts_with("> CANCEL")));
    let got = reader.join().unwrap();
    // Sent at 0, 0.5 and 1.5 s.
    assert_eq!(
        got.len(),
        3,
        "{:?}",
        got.iter().map(|g| g.0).collect::<Vec<_>>()
    );
    assert!(got.iter().all(|(_, m)| m.starts_with("INVITE sip:agent@")));
    assert!(got[1].0 - got[0].0 >= ms(450) && got[1].0 - got[0].0 <= ms(700));
    assert!(got[2].0 - got[1].0 >= ms(950) && got[2].0 - got[1].0 <= ms(1200));
    let branch = |m: &str| {
        m.lines()
            .find(|l| l.starts_with("Via:"))
            .unwrap()
            .to_string()
    };
    assert_eq!(branch(&got[0].1), branch(&got[2].1));
    assert!(
        got[0].1.contains("m=audio ") && got[0].1.contains("a=rtpmap:101 telephone-event/8000")
    );
}

/// Many calls in one single-threaded runtime (the load harness's shape):
/// every call is answered, streams and hears its own echo, loses nothing.
#[tokio::test(flavor = "current_thread")]
async fn concurrent_calls_share_one_thread() {
    // PARLA_CALLER_CALLS=N to try more (two sockets per call: mind `ulimit -n`).
    let calls: u32 = std::env::var("PARLA_CALLER_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25);
    let utterance = Arc::new(espeak_8k("One two three four five."));
    let mut sipp = Sipp::uas_calls("concurrent", Err("uas"), true, calls);
    let t_start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..calls {
        let mut spec = CallSpec::new(sipp.addr(), format!("sip:agent{i}@{}", sipp.addr()));
        spec.from_user = format!("caller{i}");
        spec.script = vec![
            Action::Silence(ms(300)),
            Action::Play(utterance.clone()),
            Action::Wait(ms(300)),
            Action::Hangup,
        ];
        set.spawn(async move {
            // Spread the INVITEs a little, as a load generator would.
            tokio::time::sleep(ms(20 * (i % 50) as u64)).await;
            place_call(spec).await.unwrap()
        });
    }
    let outcomes = set.join_all().await;
    let received: u64 = outcomes.iter().map(|o| o.rtp_packets_received).sum();
    let lost: u64 = outcomes.iter().map(|o| o.rtp_lost).sum();
    eprintln!(
        "{calls} calls in {:?}: {received} RTP packets received, {lost} lost",
        t_start.elapsed()
    );
    for o in &outcomes {
        assert_eq!(o.final_status, 200, "{:#?}", o.sip_log);
        assert_eq!(o.ended_by, EndedBy::Caller);
        assert_eq!(o.rtp_foreign_dropped, 0, "another call's RTP leaked in");
        if calls <= 50 {
            assert_eq!(o.rtp_lost, 0);
        }
        let (t0, t1) = (
            o.event_time("play start").unwrap(),
            o.event_time("play end").unwrap(),
        );
        let before = rms(o.agent_audio_between(ms(50), t0 - ms(50)));
        let during = rms(o.agent_audio_between(t0, t1));
        assert!(
            during > 1000.0 && before < 50.0,
            "before {before:.0} during {during:.0}"
        );
    }
    // Past 50 calls the loopback echo itself may drop under CPU contention.
    assert!(lost * 100 <= received, "{lost} of {received} lost");
    let st = sipp.wait_exit(Duration::from_secs(20));
    assert!(st.success(), "sipp: {st}\n{}", sipp.logs());
}

/// tests/sipp/uac_utterance.xml (SIPp as the caller, for the Parla
/// integration test) works end to end against SIPp's echoing UAS.
#[test]
fn sipp_uac_utterance_scenario_completes_against_echo_uas() {
    let mut uas = Sipp::uas("uac-utterance-uas", Err("uas"), true);
    let work = scratch_dir("uac-utterance");
    let st = Command::new(repo_root().join("tests/sipp/run-uac-utterance.sh"))
        .arg(uas.addr().to_string())
        .arg("3000")
        .arg(&work)
        .stdout(Stdio::null())
        .status()
        .expect("run run-uac-utterance.sh");
    let out = std::fs::read_to_string(work.join("sipp.out")).unwrap_or_default();
    assert!(
        st.success(),
        "uac scenario failed: {st}\n{}",
        &out[out.len().saturating_sub(3000)..]
    );
    // SIPp's own statistics: one successful call, none failed.
    let csv = std::fs::read_to_string(work.join("stat.csv")).expect("stat.csv");
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(';').collect()).collect();
    let col = |name: &str| {
        rows[0]
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("no {name} in stat.csv"))
    };
    let last = rows.last().unwrap();
    assert_eq!(last[col("SuccessfulCall(C)")], "1", "{csv}");
    assert_eq!(last[col("FailedCall(C)")], "0", "{csv}");
    // The utterance was built (8 kHz mu-law, 160 bytes per 20 ms).
    let ulaw = std::fs::metadata(work.join("utterance.ulaw"))
        .unwrap()
        .len();
    assert!(ulaw > 8000, "utterance.ulaw is {ulaw} bytes");
    let st = uas.wait_exit(Duration::from_secs(15));
    assert!(st.success(), "uas: {st}\n{}", uas.logs());
    let _ = std::fs::remove_dir_all(&work);
}
