//! The target's CPU and memory: from `/proc/<pid>` (`--pid`) or from its
//! Prometheus `/metrics` (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, when it exports them), plus the engine's
//! end-of-turn wait (`parla_turn_latency_seconds{stage="eou"}`).

use std::time::Duration;

use anyhow::Context as _;

/// Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ, 100 on
/// every Linux this runs on).
const CLK_TCK: f64 = 100.0;

#[derive(Clone, Debug)]
pub enum Source {
    Pid(u32),
    Metrics(String),
}

impl Source {
    pub fn label(&self) -> String {
        match self {
            Source::Pid(p) => format!("pid:{p}"),
            Source::Metrics(u) => format!("metrics:{u}"),
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    pub cpu_seconds: Option<f64>,
    pub rss_bytes: Option<u64>,
}

/// Reads one sample now.
pub async fn sample(source: &Source, client: &reqwest::Client) -> anyhow::Result<Sample> {
    match source {
        Source::Pid(pid) => read_proc(*pid),
        Source::Metrics(url) => {
            let text = fetch(client, url).await?;
            Ok(Sample {
                cpu_seconds: metric(&text, "process_cpu_seconds_total"),
                rss_bytes: metric(&text, "process_resident_memory_bytes").map(|v| v as u64),
            })
        }
    }
}

/// Checks the source can be read (clear error otherwise).
pub async fn check(source: &Source, client: &reqwest::Client) -> anyhow::Result<()> {
    match source {
        Source::Pid(pid) => read_proc(*pid)
            .map(|_| ())
            .with_context(|| format!("--pid {pid}: cannot read /proc/{pid} (no such process?)")),
        Source::Metrics(url) => fetch(client, url)
            .await
            .map(|_| ())
            .with_context(|| format!("--metrics-url {url}")),
    }
}

pub async fn fetch(client: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let resp = client
        .get(url)
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    anyhow::ensure!(
        resp.status().is_success(),
        "GET {url}: HTTP {}",
        resp.status()
    );
    Ok(resp.text().await?)
}

fn read_proc(pid: u32) -> anyhow::Result<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("unexpected /proc/<pid>/stat format")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state); utime and stime are fields 14 and 15.
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    let cpu_seconds = match (ticks(11), ticks(12)) {
        (Some(u), Some(s)) => Some((u + s) as f64 / CLK_TCK),
        _ => None,
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_bytes = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb * 1024);
    Ok(Sample {
        cpu_seconds,
        rss_bytes,
    })
}

/// The value of an unlabelled sample line `NAME VALUE` in Prometheus text.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == name).then(|| v.trim().parse::<f64>().ok()).flatten()
    })
}

/// A Prometheus summary quantile, `{family}{quantile="Q"}`, scaled ×1000
/// (seconds → ms).
pub fn summary_quantile_ms(text: &str, family: &str, quantile: &str) -> Option<f64> {
    let key = format!("{family}{{quantile=\"{quantile}\"}}");
    text.lines().find_map(|l| {
        let v = l.strip_prefix(&key)?;
        v.trim().parse::<f64>().ok().map(|s| s * 1000.0)
    })
}

/// Mean of a labelled Prometheus histogram stage, ms: `{family}_sum{stage=..}`
/// / `{family}_count{stage=..}`.
pub fn histogram_mean_ms(text: &str, family: &str, stage: &str) -> Option<f64> {
    let find = |suffix: &str| {
        let key = format!("{family}_{suffix}{{stage=\"{stage}\"}}");
        text.lines().find_map(|l| {
            let v = l.strip_prefix(&key)?;
            v.trim().parse::<f64>().ok()
        })
    };
    let (sum, count) = (find("sum")?, find("count")?);
    (count > 0.0).then(|| sum / count * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_process() {
        let s = read_proc(std::process::id()).unwrap();
        assert!(s.cpu_seconds.is_some());
        assert!(s.rss_bytes.unwrap() > 1_000_000);
        assert!(read_proc(u32::MAX - 1).is_err());
    }

    #[test]
    fn parses_prometheus_text() {
        let t = "# HELP x\nparla_calls_active 3\nprocess_cpu_seconds_total 1.5\n\
                 parla_turn_latency_seconds_sum{stage=\"eou\"} 2.5\n\
                 parla_turn_latency_seconds_count{stage=\"eou\"} 5\n";
        assert_eq!(metric(t, "parla_calls_active"), Some(3.0));
        assert_eq!(metric(t, "process_cpu_seconds_total"), Some(1.5));
        assert_eq!(metric(t, "nope"), None);
        assert_eq!(
            histogram_mean_ms(t, "parla_turn_latency_seconds", "eou"),
            Some(500.0)
        );
        assert_eq!(
            histogram_mean_ms(t, "parla_turn_latency_seconds", "v2v"),
            None
        );
    }
}
