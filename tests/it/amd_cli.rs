//! `parla amd FILE.wav` as a user runs it: the built binary on clips made
//! at test time with espeak-ng and sox (a short "Hello?", a long voicemail
//! greeting followed by a 1 kHz beep), and on files it must refuse.
//!
//! A missing espeak-ng or sox skips locally and fails under CI (`CI=true`)
//! or with `PARLA_REQUIRE_TOOLS=1` (set by `tools/test.sh`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Sample rate of the generated clips, Hz (phone audio).
const RATE: u32 = 8_000;

fn tools_required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
        || std::env::var("PARLA_REQUIRE_TOOLS").as_deref() == Ok("1")
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `false` (skip) when espeak-ng or sox is missing and skipping is allowed;
/// panics when it is not.
fn tools_present() -> bool {
    let missing: Vec<&str> = ["espeak-ng", "sox"]
        .into_iter()
        .filter(|t| !have(t))
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        !tools_required(),
        "{missing:?} not installed (tools/install-deps.sh), and tests must not skip under CI"
    );
    eprintln!("SKIPPED: {missing:?} not installed");
    false
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("parla-amd-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `text` spoken by espeak-ng (en-us, 160 wpm) into `out`: 8 kHz mono
/// 16-bit, trimmed of espeak's own silences, peak −9 dBFS.
fn speak(dir: &Path, text: &str, out: &Path) {
    let raw = dir.join("raw.wav");
    run(Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "160", "--stdout", text])
        .stdout(std::fs::File::create(&raw).expect("create raw.wav")));
    run(Command::new("sox")
        .arg(&raw)
        .args(["-r", "8000", "-c", "1", "-b", "16"])
        .arg(out)
        .args([
            "silence", "1", "0.01", "0.1%", "reverse", "silence", "1", "0.01", "0.1%", "reverse",
            "gain", "-n", "-9",
        ]));
}

/// Silence of `ms` into `out` (8 kHz mono 16-bit).
fn silence(ms: u32, out: &Path) {
    run(Command::new("sox")
        .args(["-r", "8000", "-c", "1", "-b", "16", "-n"])
        .arg(out)
        .args(["trim", "0", &format!("{}s", ms * RATE / 1000)]));
}

/// Length of a WAV in ms, from its header.
fn wav_ms(path: &Path) -> u64 {
    let r = hound::WavReader::open(path).expect("read generated wav");
    u64::from(r.duration()) * 1000 / u64::from(r.spec().sample_rate)
}

fn concat(parts: &[&Path], out: &Path) {
    run(Command::new("sox").args(parts).arg(out));
}

fn parla_amd(file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_parla"))
        .arg("amd")
        .arg(file)
        .output()
        .expect("run parla amd")
}

/// The one stdout line, split into fields; asserts exit 0 and one line.
fn verdict_line(out: &Output) -> Vec<String> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}, stdout {stdout:?}, stderr {:?}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line expected: {stdout:?}");
    assert!(stdout.ends_with('\n'), "the line ends with a newline");
    lines[0].split(' ').map(str::to_owned).collect()
}

#[test]
fn a_short_hello_is_a_human_decided_within_2_5_s() {
    if !tools_present() {
        return;
    }
    let dir = scratch("human");
    let (lead, hello, tail, clip) = (
        dir.join("lead.wav"),
        dir.join("hello.wav"),
        dir.join("tail.wav"),
        dir.join("human.wav"),
    );
    silence(300, &lead);
    speak(&dir, "Hello?", &hello);
    silence(3000, &tail);
    concat(&[&lead, &hello, &tail], &clip);

    let fields = verdict_line(&parla_amd(&clip));
    assert_eq!(fields.len(), 3, "no beep field for a person: {fields:?}");
    assert_eq!(fields[0], "human", "{fields:?}");
    let decision_ms: u64 = fields[1].parse().expect("DECISION_MS is a number");
    // The person waits for a reply from the end of "Hello?" on; the agent
    // must greet within the issue's 2.5 s of answer.
    let spoken_end = 300 + wav_ms(&hello);
    assert!(
        decision_ms > spoken_end && decision_ms <= 2_500,
        "decided at {decision_ms} ms, speech ended at {spoken_end} ms: {fields:?}"
    );
    assert!(fields[2].starts_with("HUMAN-"), "cause: {fields:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_voicemail_greeting_and_beep_is_a_machine_with_the_beep_time() {
    if !tools_present() {
        return;
    }
    let dir = scratch("machine");
    let (lead, greeting, gap, beep, tail, clip) = (
        dir.join("lead.wav"),
        dir.join("greeting.wav"),
        dir.join("gap.wav"),
        dir.join("beep.wav"),
        dir.join("tail.wav"),
        dir.join("machine.wav"),
    );
    silence(400, &lead);
    speak(
        &dir,
        "Hello, you have reached the voicemail of Anna Lee. I am not available right now. \
         Please leave your name and number after the tone.",
        &greeting,
    );
    silence(500, &gap);
    run(Command::new("sox")
        .args(["-r", "8000", "-c", "1", "-b", "16", "-n"])
        .arg(&beep)
        .args(["synth", "0.4", "sine", "1000", "vol", "0.3"]));
    silence(1500, &tail);
    concat(&[&lead, &greeting, &gap, &beep, &tail], &clip);
    let beep_at = 400 + wav_ms(&greeting) + 500;

    let fields = verdict_line(&parla_amd(&clip));
    assert_eq!(fields.len(), 4, "a beep field expected: {fields:?}");
    assert_eq!(fields[0], "machine", "{fields:?}");
    let decision_ms: u64 = fields[1].parse().expect("DECISION_MS is a number");
    assert!(
        decision_ms <= 5_000 && decision_ms < beep_at,
        "a long greeting is a machine before its beep (≤ 5 s): {fields:?}, beep at {beep_at} ms"
    );
    let beep_ms: u64 = fields[3].parse().expect("BEEP_MS is a number");
    assert!(
        beep_ms.abs_diff(beep_at) <= 40,
        "beep reported at {beep_ms} ms, placed at {beep_at} ms: {fields:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Exit non-zero with a message on stderr naming the problem, nothing on
/// stdout, no panic.
fn assert_refused(out: &Output, reason: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "exit 0 for bad input; stdout {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.stdout.is_empty(), "no verdict line: {:?}", out.stdout);
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line of error, no backtrace: {stderr}"
    );
    assert!(stderr.starts_with("parla amd: "), "{stderr}");
    assert!(
        stderr.to_lowercase().contains(reason),
        "stderr should say {reason:?}: {stderr}"
    );
}

#[test]
fn bad_files_are_refused_with_a_clear_error() {
    // No tools needed: hound writes the stereo and 44.1 kHz files.
    let dir = scratch("bad");
    let missing = dir.join("missing.wav");
    assert_refused(&parla_amd(&missing), "cannot open");

    let text = dir.join("notes.wav");
    std::fs::write(&text, "this is not a WAV file\n").expect("write");
    assert_refused(&parla_amd(&text), "not a readable wav");

    let write = |path: &Path, channels: u16, rate: u32| {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).expect("create wav");
        for i in 0..(rate / 2 * u32::from(channels)) {
            w.write_sample(((i % 50) as i16 - 25) * 200)
                .expect("sample");
        }
        w.finalize().expect("finalize wav");
    };
    let stereo = dir.join("stereo.wav");
    write(&stereo, 2, 8_000);
    assert_refused(&parla_amd(&stereo), "mono");

    let cd = dir.join("cd.wav");
    write(&cd, 1, 44_100);
    assert_refused(&parla_amd(&cd), "44100");

    // The same audio at 16 kHz mono is accepted.
    let wide = dir.join("wide.wav");
    write(&wide, 1, 16_000);
    let fields = verdict_line(&parla_amd(&wide));
    assert!(
        ["human", "machine", "notsure"].contains(&fields[0].as_str()),
        "{fields:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
