//! PNG plots (plotters, pure Rust): `latency.png`, histograms of each
//! latency measured, and `timeline.png`, calls in progress and the target's
//! CPU over time. Text is drawn with a TrueType font found on the system
//! (DejaVu Sans or Liberation Sans; `PARLA_LOADTEST_FONT=path.ttf` to choose).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{anyhow, Context as _};
use plotters::prelude::*;

use crate::report::Summary;

const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
];

/// Registers a system font as plotters' "sans-serif" (once).
fn ensure_font() -> anyhow::Result<()> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let mut paths: Vec<PathBuf> = Vec::new();
        if let Some(p) = std::env::var_os("PARLA_LOADTEST_FONT") {
            paths.push(p.into());
        }
        paths.extend(FONT_CANDIDATES.iter().map(PathBuf::from));
        for p in &paths {
            if let Ok(bytes) = std::fs::read(p) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return Ok(());
                }
            }
        }
        Err("no TrueType font found for the plot labels (apt-get install fonts-dejavu-core, or set PARLA_LOADTEST_FONT=/path/to/font.ttf)".to_string())
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

/// Writes `latency.png` and `timeline.png` into `dir`; returns their paths.
pub fn write_plots(summary: &Summary, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    ensure_font()?;
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let latency = dir.join("latency.png");
    let timeline = dir.join("timeline.png");
    latency_plot(summary, &latency).map_err(|e| anyhow!("{}: {e}", latency.display()))?;
    timeline_plot(summary, &timeline).map_err(|e| anyhow!("{}: {e}", timeline.display()))?;
    Ok(vec![latency, timeline])
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn latency_plot(summary: &Summary, path: &Path) -> DrawResult {
    let metrics: Vec<(&str, &str)> = if summary.mode == "echo" {
        vec![
            ("setup_ms", "call setup (INVITE → 200), ms"),
            ("echo_delay_ms", "echo delay, ms"),
        ]
    } else {
        vec![
            ("setup_ms", "call setup (INVITE → 200), ms"),
            ("greeting_ms", "greeting latency (ACK → first audio), ms"),
            ("v2v_ms", "voice-to-voice latency, ms"),
            ("barge_in_stop_ms", "barge-in stop time, ms"),
        ]
    };
    let root = BitMapBackend::new(path, (1200, 400 * metrics.len().div_ceil(2) as u32))
        .into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((metrics.len().div_ceil(2), 2));
    for ((key, title), area) in metrics.iter().zip(areas.iter()) {
        let values = summary.samples.get(*key).cloned().unwrap_or_default();
        histogram(area, title, &values)?;
    }
    root.present()?;
    Ok(())
}

fn histogram<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    values: &[f64],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let caption = format!("{title} (n={})", values.len());
    if values.is_empty() {
        area.titled(&caption, ("sans-serif", 20))?.draw_text(
            "no data",
            &("sans-serif", 16).into_text_style(area),
            (20, 20),
        )?;
        return Ok(());
    }
    let lo = values
        .iter()
        .cloned()
        .fold(f64::INFINITY, f64::min)
        .max(0.0);
    let hi = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if hi - lo < 1.0 {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    };
    let bins = 30usize;
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0u32; bins];
    for v in values {
        let i = (((v - lo) / width) as usize).min(bins - 1);
        counts[i] += 1;
    }
    let top = *counts.iter().max().unwrap_or(&1) as f64 * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(lo..hi, 0f64..top.max(1.0))?;
    chart
        .configure_mesh()
        .x_desc("ms")
        .y_desc("count")
        .disable_x_mesh()
        .draw()?;
    chart.draw_series(counts.iter().enumerate().map(|(i, &c)| {
        let x0 = lo + i as f64 * width;
        Rectangle::new(
            [(x0, 0.0), (x0 + width * 0.95, c as f64)],
            BLUE.mix(0.7).filled(),
        )
    }))?;
    Ok(())
}

fn timeline_plot(summary: &Summary, path: &Path) -> DrawResult {
    let root = BitMapBackend::new(path, (1200, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let (upper, lower) = root.split_vertically(350);
    let t_max = summary.timeline.last().map_or(1.0, |p| p.t_s).max(1.0);
    let act_max = summary
        .timeline
        .iter()
        .map(|p| p.active_calls)
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * 1.1;
    let mut c = ChartBuilder::on(&upper)
        .caption("calls in progress", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..t_max, 0f64..act_max)?;
    c.configure_mesh().x_desc("s").y_desc("calls").draw()?;
    c.draw_series(LineSeries::new(
        summary
            .timeline
            .iter()
            .map(|p| (p.t_s, p.active_calls as f64)),
        &BLUE,
    ))?;
    let cpu: Vec<(f64, f64)> = summary
        .timeline
        .iter()
        .filter_map(|p| Some((p.t_s, p.cpu_pct?)))
        .collect();
    let title = format!(
        "target CPU, % of one core ({})",
        summary.target_usage.source
    );
    let cpu_max = cpu.iter().map(|p| p.1).fold(10.0, f64::max) * 1.1;
    let mut c = ChartBuilder::on(&lower)
        .caption(title, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..t_max, 0f64..cpu_max)?;
    c.configure_mesh().x_desc("s").y_desc("CPU %").draw()?;
    c.draw_series(LineSeries::new(cpu, &RED))?;
    root.present()?;
    Ok(())
}
