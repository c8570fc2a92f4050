//! Runs the answering-machine detector over the evaluation set built by
//! `tools/amd-eval/generate.sh` and prints one line per clip, then accuracy,
//! the confusion matrix, decision-time percentiles per class and the beep
//! timing error.
//!
//! ```sh
//! tools/amd-eval/generate.sh            # → ${TMPDIR:-/tmp}/parla-amd-eval
//! cargo run --release -p parla-media --example amd_eval [-- DIR] [--markdown] [--set FIELD=MS ...]
//! ```
//!
//! Each clip goes through [`analyze_wav`] with [`AmdConfig::default`], the
//! code and defaults of live calls. A verdict is correct when it equals the
//! manifest's `expected`; `notsure` is never correct. Decision-time
//! percentiles use the nearest-rank method over the clips of each expected
//! class. `--markdown` adds the summary as a Markdown table (the README's);
//! `--set greeting_ms=1800` (any integer field of [`AmdConfig`], repeatable)
//! evaluates other settings.
//! Exits non-zero if the directory or its manifest cannot be read.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

use parla_media::amd::{analyze_wav, AmdConfig, AmdOutcome, AmdVerdict};

/// One manifest row and what the detector made of it.
struct Clip {
    file: String,
    expected: AmdVerdict,
    beep_ms: Option<u64>,
    set: String,
    got: AmdOutcome,
}

fn parse_verdict(s: &str) -> Option<AmdVerdict> {
    match s {
        "human" => Some(AmdVerdict::Human),
        "machine" => Some(AmdVerdict::Machine),
        "notsure" => Some(AmdVerdict::NotSure),
        _ => None,
    }
}

/// Nearest-rank percentile `p` (0..=100) of `v` (sorted here), or `None`.
fn percentile(v: &[u64], p: f64) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_unstable();
    let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    Some(s[rank.min(s.len()) - 1])
}

fn ms(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x}"))
}

/// Applies `field=value` to `cfg`.
fn set(cfg: &mut AmdConfig, kv: &str) -> Result<(), String> {
    let (k, v) = kv.split_once('=').ok_or("expected FIELD=VALUE")?;
    if k == "vad_threshold" {
        cfg.vad_threshold = v.parse().map_err(|e| format!("{e}"))?;
        return Ok(());
    }
    let v: u32 = v.parse().map_err(|e| format!("{e}"))?;
    let field = match k {
        "initial_silence_ms" => &mut cfg.initial_silence_ms,
        "greeting_ms" => &mut cfg.greeting_ms,
        "after_greeting_silence_ms" => &mut cfg.after_greeting_silence_ms,
        "short_answer_max_words" => &mut cfg.short_answer_max_words,
        "short_answer_silence_ms" => &mut cfg.short_answer_silence_ms,
        "short_answer_after_ms" => &mut cfg.short_answer_after_ms,
        "total_analysis_time_ms" => &mut cfg.total_analysis_time_ms,
        "minimum_word_length_ms" => &mut cfg.minimum_word_length_ms,
        "between_words_silence_ms" => &mut cfg.between_words_silence_ms,
        "maximum_number_of_words" => &mut cfg.maximum_number_of_words,
        "silence_threshold" => &mut cfg.silence_threshold,
        "maximum_word_length_ms" => &mut cfg.maximum_word_length_ms,
        "beep_min_ms" => &mut cfg.beep_min_ms,
        "beep_timeout_ms" => &mut cfg.beep_timeout_ms,
        _ => return Err(format!("unknown field {k}")),
    };
    *field = v;
    Ok(())
}

fn main() -> ExitCode {
    let mut dir: Option<PathBuf> = None;
    let mut markdown = false;
    let mut cfg = AmdConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--markdown" {
            markdown = true;
        } else if a == "--set" {
            let kv = args.next().unwrap_or_default();
            if let Err(e) = set(&mut cfg, &kv) {
                eprintln!("amd_eval: --set {kv}: {e}");
                return ExitCode::from(2);
            }
        } else {
            dir = Some(PathBuf::from(a));
        }
    }
    let dir = dir.unwrap_or_else(|| std::env::temp_dir().join("parla-amd-eval"));
    let manifest = match std::fs::read_to_string(dir.join("manifest.csv")) {
        Ok(m) => m,
        Err(e) => {
            eprintln!(
                "amd_eval: cannot read {}/manifest.csv ({e}); run tools/amd-eval/generate.sh {} first",
                dir.display(),
                dir.display()
            );
            return ExitCode::from(2);
        }
    };
    if cfg != AmdConfig::default() {
        println!("settings: {cfg:?}");
    }
    let mut clips = Vec::new();
    for line in manifest.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let (Some(file), Some(expected)) = (f.first(), f.get(1).and_then(|e| parse_verdict(e)))
        else {
            eprintln!("amd_eval: bad manifest line {line:?}");
            return ExitCode::from(2);
        };
        let beep_ms = f.get(3).and_then(|b| b.parse().ok());
        let set = f.get(4).copied().unwrap_or("core").to_string();
        let got = match File::open(dir.join(file))
            .map_err(|e| e.to_string())
            .and_then(|fh| analyze_wav(BufReader::new(fh), cfg).map_err(|e| e.to_string()))
        {
            Ok(o) => o,
            Err(e) => {
                eprintln!("amd_eval: {file}: {e}");
                return ExitCode::from(2);
            }
        };
        let mark = if got.verdict == expected { " " } else { "✗" };
        println!(
            "{mark} {file:<10} {:<8} {:<5} {}  (expected {expected}, beep {})",
            set,
            got.verdict.as_str(),
            got.to_line(),
            ms(beep_ms)
        );
        clips.push(Clip {
            file: file.to_string(),
            expected,
            beep_ms,
            set,
            got,
        });
    }
    if clips.is_empty() {
        eprintln!("amd_eval: empty manifest");
        return ExitCode::from(2);
    }
    summary(&clips, markdown);
    ExitCode::SUCCESS
}

fn summary(clips: &[Clip], markdown: bool) {
    let correct = |c: &&Clip| c.got.verdict == c.expected;
    let n = clips.len();
    let ok = clips.iter().filter(correct).count();
    println!();
    println!(
        "clips {n}, correct {ok} ({:.1} %)",
        100.0 * ok as f64 / n as f64
    );
    let mut by_set: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for c in clips {
        let e = by_set.entry(c.set.as_str()).or_default();
        e.0 += 1;
        e.1 += usize::from(c.got.verdict == c.expected);
    }
    for (set, (t, k)) in &by_set {
        println!(
            "  {set:<5} {k}/{t} ({:.1} %)",
            100.0 * *k as f64 / *t as f64
        );
    }
    let wrong: Vec<&str> = clips
        .iter()
        .filter(|c| !correct(c))
        .map(|c| c.file.as_str())
        .collect();
    println!(
        "  wrong: {}",
        if wrong.is_empty() {
            "none".into()
        } else {
            wrong.join(" ")
        }
    );

    println!();
    println!("confusion (rows expected, columns verdict):");
    println!(
        "{:<10} {:>6} {:>8} {:>8}",
        "", "human", "machine", "notsure"
    );
    let classes = [AmdVerdict::Human, AmdVerdict::Machine];
    let cols = [AmdVerdict::Human, AmdVerdict::Machine, AmdVerdict::NotSure];
    let count = |e: AmdVerdict, g: AmdVerdict| {
        clips
            .iter()
            .filter(|c| c.expected == e && c.got.verdict == g)
            .count()
    };
    for e in classes {
        let r: Vec<usize> = cols.iter().map(|&g| count(e, g)).collect();
        println!("{:<10} {:>6} {:>8} {:>8}", e.as_str(), r[0], r[1], r[2]);
    }

    println!();
    println!("decision time, ms (p50 / p90 / p99 / max):");
    let mut rows = Vec::new();
    for (label, pick) in [
        (
            "expected human",
            Box::new(|c: &Clip| c.expected == AmdVerdict::Human) as Box<dyn Fn(&Clip) -> bool>,
        ),
        (
            "expected machine",
            Box::new(|c: &Clip| c.expected == AmdVerdict::Machine),
        ),
        (
            "human verdicts",
            Box::new(|c: &Clip| c.got.verdict == AmdVerdict::Human),
        ),
        (
            "machine verdicts",
            Box::new(|c: &Clip| c.got.verdict == AmdVerdict::Machine),
        ),
    ] {
        let t: Vec<u64> = clips
            .iter()
            .filter(|c| pick(c))
            .map(|c| c.got.decision_ms)
            .collect();
        let p = [50.0, 90.0, 99.0, 100.0].map(|q| percentile(&t, q));
        println!(
            "  {label:<17} n={:<3} {} / {} / {} / {}",
            t.len(),
            ms(p[0]),
            ms(p[1]),
            ms(p[2]),
            ms(p[3])
        );
        rows.push((label, t.len(), p));
    }

    println!();
    let with_beep: Vec<&Clip> = clips.iter().filter(|c| c.beep_ms.is_some()).collect();
    let found: Vec<i64> = with_beep
        .iter()
        .filter_map(|c| Some(c.got.beep_ms? as i64 - c.beep_ms? as i64))
        .collect();
    let false_beeps = clips
        .iter()
        .filter(|c| c.beep_ms.is_none() && c.got.beep_ms.is_some())
        .count();
    let abs: Vec<u64> = found.iter().map(|e| e.unsigned_abs()).collect();
    let mean = if found.is_empty() {
        0.0
    } else {
        found.iter().sum::<i64>() as f64 / found.len() as f64
    };
    println!(
        "beeps: found {}/{} (false {false_beeps}); onset error mean {mean:+.1} ms, |error| p50 {} p90 {} max {} ms",
        found.len(),
        with_beep.len(),
        ms(percentile(&abs, 50.0)),
        ms(percentile(&abs, 90.0)),
        ms(percentile(&abs, 100.0)),
    );
    let late: Vec<String> = with_beep
        .iter()
        .filter(|c| c.got.beep_ms.is_none())
        .map(|c| c.file.clone())
        .collect();
    if !late.is_empty() {
        println!("  missed: {}", late.join(" "));
    }

    if markdown {
        println!();
        println!("| clips | correct | human → machine | machine → human | not sure |");
        println!("|---|---|---|---|---|");
        println!(
            "| {n} ({} human, {} machine) | {ok} ({:.1} %) | {} | {} | {} |",
            clips
                .iter()
                .filter(|c| c.expected == AmdVerdict::Human)
                .count(),
            clips
                .iter()
                .filter(|c| c.expected == AmdVerdict::Machine)
                .count(),
            100.0 * ok as f64 / n as f64,
            count(AmdVerdict::Human, AmdVerdict::Machine),
            count(AmdVerdict::Machine, AmdVerdict::Human),
            count(AmdVerdict::Human, AmdVerdict::NotSure)
                + count(AmdVerdict::Machine, AmdVerdict::NotSure),
        );
        println!();
        println!("| decision time (ms) | n | p50 | p90 | p99 |");
        println!("|---|---|---|---|---|");
        for (label, k, p) in rows {
            println!(
                "| {label} | {k} | {} | {} | {} |",
                ms(p[0]),
                ms(p[1]),
                ms(p[2])
            );
        }
    }
}
