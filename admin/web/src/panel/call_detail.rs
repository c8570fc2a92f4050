//! One call: metadata, transcript, the per-turn latency waterfall
//! (server-rendered SVG: EOU → STT → LLM TTFT → TTS TTFB stacked along a
//! time axis, with the voice-to-voice total marked), and the recording
//! (served only from inside the recordings directory, for the call's own
//! tenant).

use std::path::{Path, PathBuf};

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use crate::state::AdminState;
use parla_admin_core::domain::{CallId, Speaker, TurnLatency};
use parla_admin_core::store::CallRecord;

use super::calls::status_class;
use super::error::PanelError;
use super::fmt;
use super::i18n::Tr;
use super::ui::{ok, Chrome, Nav};
use super::viewer::{Scoped, Viewer};
use super::PanelOptions;

/// One line of the metadata list.
struct Meta {
    label: &'static str,
    value: String,
    class: &'static str,
}

/// One transcript turn, ready to show.
struct Turn {
    speaker: &'static str,
    /// `caller` or `agent` (CSS).
    side: &'static str,
    text: String,
    start: String,
    end: String,
    interrupted: bool,
}

/// A bar of the waterfall.
pub(crate) struct Segment {
    pub x: u32,
    pub width: u32,
    /// `seg eou`, `seg stt`, `seg llm`, `seg tts`.
    pub class: &'static str,
    pub title: String,
}

/// One turn's row of the waterfall.
pub(crate) struct WaterfallRow {
    pub label: String,
    /// Top of the bars.
    pub y: u32,
    /// Baseline of the row's texts.
    pub text_y: u32,
    pub segments: Vec<Segment>,
    /// Where the v2v marker goes, if measured.
    pub v2v_x: Option<u32>,
    pub v2v_label: String,
}

/// A gridline of the time axis.
pub(crate) struct Tick {
    pub x: u32,
    pub label: String,
}

/// The whole chart.
pub(crate) struct Waterfall {
    pub width: u32,
    pub height: u32,
    pub axis_bottom: u32,
    pub rows: Vec<WaterfallRow>,
    pub ticks: Vec<Tick>,
}

const CHART_WIDTH: u32 = 720;
const LABEL_WIDTH: u32 = 70;
const VALUE_WIDTH: u32 = 110;
const AXIS_HEIGHT: u32 = 22;
const ROW_HEIGHT: u32 = 28;
const BAR_HEIGHT: u32 = 16;

/// The stages of a turn in pipeline order: (class, legend key, value).
fn stages(l: &TurnLatency) -> [(&'static str, &'static str, Option<u32>); 4] {
    [
        ("seg eou", "wf.eou", l.eou_ms),
        ("seg stt", "wf.stt", l.stt_ms),
        ("seg llm", "wf.llm", l.llm_ttft_ms),
        ("seg tts", "wf.tts", l.tts_ttfb_ms),
    ]
}

/// A tick step giving at most 6 gridlines up to `max_ms`.
fn tick_step(max_ms: u64) -> u64 {
    const STEPS: [u64; 10] = [50, 100, 200, 250, 500, 1_000, 2_000, 5_000, 10_000, 30_000];
    STEPS
        .into_iter()
        .find(|s| max_ms.div_ceil(*s) <= 6)
        .unwrap_or(60_000)
}

/// The waterfall of `turns`; `None` without latency data.
pub(crate) fn waterfall(tr: Tr, turns: &[TurnLatency]) -> Option<Waterfall> {
    if turns.is_empty() {
        return None;
    }
    let total = |l: &TurnLatency| -> u64 {
        let sum: u64 = stages(l).iter().filter_map(|s| s.2).map(u64::from).sum();
        sum.max(l.v2v_ms.map_or(0, u64::from))
    };
    let longest = turns.iter().map(total).max().unwrap_or(0).max(1);
    let step = tick_step(longest);
    let axis_max = longest.div_ceil(step) * step;
    let plot = u64::from(CHART_WIDTH - LABEL_WIDTH - VALUE_WIDTH);
    let px = |ms: u64| -> u32 {
        LABEL_WIDTH + u32::try_from(ms.min(axis_max) * plot / axis_max).unwrap_or(0)
    };
    let ticks = (0..=axis_max / step)
        .map(|i| Tick {
            x: px(i * step),
            label: format!("{} ms", i * step),
        })
        .collect();
    let rows = turns
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let y = AXIS_HEIGHT + u32::try_from(i).unwrap_or(0) * ROW_HEIGHT + 6;
            let mut at = 0u64;
            let mut segments = vec![];
            for (class, key, ms) in stages(l) {
                let Some(ms) = ms else { continue };
                let x = px(at);
                at += u64::from(ms);
                segments.push(Segment {
                    x,
                    width: (px(at) - x).max(1),
                    class,
                    title: format!("{} {ms} ms", tr.s(key)),
                });
            }
            WaterfallRow {
                label: format!("{} {}", tr.s("wf.turn"), i + 1),
                y,
                text_y: y + BAR_HEIGHT - 3,
                segments,
                v2v_x: l.v2v_ms.map(|v| px(u64::from(v))),
                v2v_label: l
                    .v2v_ms
                    .map_or_else(|| "—".to_owned(), |v| format!("v2v {v} ms")),
            }
        })
        .collect::<Vec<_>>();
    let height = AXIS_HEIGHT + u32::try_from(rows.len()).unwrap_or(0) * ROW_HEIGHT + 10;
    Some(Waterfall {
        width: CHART_WIDTH,
        height,
        axis_bottom: height - 4,
        rows,
        ticks,
    })
}

#[derive(Template)]
#[template(path = "panel/call.html")]
struct CallPage {
    c: Chrome,
    heading: String,
    status_label: &'static str,
    status_class: &'static str,
    meta: Vec<Meta>,
    transcript: Vec<Turn>,
    waterfall: Option<Waterfall>,
    recording_url: Option<String>,
    back: String,
    /// For a live call: the API's event stream of the call (read by
    /// `live.js`) and the hang-up form's URL (see [`super::live`]).
    live: Option<(String, String)>,
}

async fn load(
    state: &AdminState,
    req: &HttpRequest,
    tid: &str,
    id: &str,
) -> Result<(Viewer, Scoped, CallRecord), PanelError> {
    let v = Viewer::load(state, req).await?;
    let t = v.tenant(state, tid).await?;
    let id: CallId = id.parse().map_err(|_| PanelError::NotFound)?;
    let call = state
        .store
        .calls()
        .get(&t.scope, id)
        .await?
        .ok_or(PanelError::NotFound)?;
    Ok((v, t, call))
}

/// `GET /panel/t/{tid}/calls/{id}`.
pub(crate) async fn page(
    state: web::Data<AdminState>,
    options: web::Data<PanelOptions>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PanelError> {
    let (v, t, call) = load(&state, &req, &path.0, &path.1).await?;
    let tr = v.tr;
    let agent = match call.agent_id {
        Some(id) => state
            .store
            .agents()
            .get(&t.scope, id)
            .await?
            .map(|a| a.name.to_string()),
        None => None,
    };
    let base = format!("/panel/t/{}", t.tenant.id);
    let m = |label: &str, value: String| Meta {
        label: tr.s(label),
        value,
        class: "",
    };
    let meta = vec![
        m(
            "calls.direction",
            tr.value("direction", call.direction.as_str()).to_owned(),
        ),
        Meta {
            class: "mono",
            ..m("calls.from", call.from_uri.clone())
        },
        Meta {
            class: "mono",
            ..m("calls.to", call.to_uri.clone())
        },
        m("calls.agent", agent.unwrap_or_else(|| "—".to_owned())),
        m("calls.started", fmt::datetime(call.attempted_at)),
        m("calls.answered", fmt::datetime_opt(call.answered_at)),
        m("calls.ended", fmt::datetime_opt(call.ended_at)),
        m("calls.duration", fmt::duration(call.duration_ms)),
        m(
            "calls.hangup",
            call.hangup_cause.clone().unwrap_or_else(|| "—".to_owned()),
        ),
        m(
            "calls.sip_status",
            call.sip_status
                .map_or_else(|| "—".to_owned(), |s| s.to_string()),
        ),
        Meta {
            class: "mono small",
            ..m("calls.sip_call_id", call.sip_call_id.clone())
        },
    ];
    let transcript = call
        .transcript
        .0
        .iter()
        .map(|t| {
            let (speaker, side) = match t.speaker {
                Speaker::Caller => (tr.s("calls.caller"), "caller"),
                Speaker::Agent => (tr.s("calls.agent_speaker"), "agent"),
            };
            Turn {
                speaker,
                side,
                text: t.text.clone(),
                start: fmt::offset(t.start_ms),
                end: fmt::offset(t.end_ms),
                interrupted: t.interrupted,
            }
        })
        .collect();
    let recording_url = (options.recordings_dir.is_some() && call.recording_path.is_some())
        .then(|| format!("{base}/calls/{}/recording", call.id));
    ok(&CallPage {
        c: v.chrome(tr.s("calls.detail"), Nav::Calls, Some(&t.tenant)),
        heading: format!(
            "{} · {}",
            tr.s("calls.detail"),
            fmt::datetime(call.attempted_at)
        ),
        status_label: tr.value("status", call.status.as_str()),
        status_class: status_class(call.status),
        meta,
        transcript,
        waterfall: waterfall(tr, &call.latency.0),
        recording_url,
        live: call.status.is_live().then(|| {
            (
                format!("/api/v1/tenants/{}/calls/{}/events", t.tenant.id, call.id),
                format!("{base}/calls/{}/hangup", call.id),
            )
        }),
        back: format!("{base}/calls"),
    })
}

/// The recording at `recorded` (absolute, or relative to `dir`) if it is a
/// file inside `dir` once symlinks and `..` are resolved.
pub(crate) fn resolve_recording(dir: &Path, recorded: &str) -> Option<PathBuf> {
    let dir = dir.canonicalize().ok()?;
    let p = Path::new(recorded);
    let candidate = if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    };
    let real = candidate.canonicalize().ok()?;
    (real.starts_with(&dir) && real.is_file()).then_some(real)
}

fn audio_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("wav") => "audio/wav",
        Some("mp3") => "audio/mpeg",
        Some("ogg" | "opus") => "audio/ogg",
        Some("flac") => "audio/flac",
        _ => "application/octet-stream",
    }
}

/// `GET /panel/t/{tid}/calls/{id}/recording`.
pub(crate) async fn recording(
    state: web::Data<AdminState>,
    options: web::Data<PanelOptions>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PanelError> {
    let (_, _, call) = load(&state, &req, &path.0, &path.1).await?;
    let dir = options.recordings_dir.clone().ok_or(PanelError::NotFound)?;
    let recorded = call.recording_path.ok_or(PanelError::NotFound)?;
    let file = web::block(move || {
        let real = resolve_recording(&dir, &recorded)?;
        let bytes = std::fs::read(&real).ok()?;
        Some((audio_type(&real), bytes))
    })
    .await
    .map_err(PanelError::internal)?;
    let (content_type, bytes) = file.ok_or(PanelError::NotFound)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::panel::i18n::Lang;

    #[test]
    fn waterfall_geometry() {
        let tr = Tr(Lang::En);
        assert!(waterfall(tr, &[]).is_none());
        let turns = [
            TurnLatency {
                eou_ms: Some(200),
                stt_ms: Some(100),
                llm_ttft_ms: Some(300),
                tts_ttfb_ms: Some(150),
                v2v_ms: Some(780),
            },
            TurnLatency {
                eou_ms: Some(100),
                v2v_ms: None,
                ..Default::default()
            },
        ];
        let w = waterfall(tr, &turns).unwrap();
        assert_eq!(w.rows.len(), 2);
        let r = &w.rows[0];
        assert_eq!(r.segments.len(), 4);
        // Stacked: each stage starts where the previous ended.
        for pair in r.segments.windows(2) {
            assert_eq!(pair[0].x + pair[0].width, pair[1].x);
        }
        assert_eq!(r.segments[0].x, LABEL_WIDTH);
        assert!(r.v2v_x.unwrap() > r.segments[3].x);
        assert_eq!(r.v2v_label, "v2v 780 ms");
        assert_eq!(w.rows[1].segments.len(), 1);
        assert_eq!(w.rows[1].v2v_x, None);
        // 780 ms → 200 ms steps up to 800 ms.
        assert_eq!(w.ticks.len(), 5);
        assert_eq!(w.ticks.last().unwrap().label, "800 ms");
        assert_eq!(w.ticks.last().unwrap().x, CHART_WIDTH - VALUE_WIDTH);
    }

    #[test]
    fn recordings_stay_inside_their_directory() {
        let root = std::env::temp_dir().join(format!("parla-rec-{}", uuid::Uuid::now_v7()));
        let dir = root.join("recordings");
        std::fs::create_dir_all(dir.join("t1")).unwrap();
        std::fs::write(dir.join("t1/a.wav"), b"RIFF").unwrap();
        std::fs::write(root.join("private.txt"), b"no").unwrap();
        assert!(resolve_recording(&dir, "t1/a.wav").is_some());
        let abs = dir.join("t1/a.wav");
        assert!(resolve_recording(&dir, abs.to_str().unwrap()).is_some());
        for bad in [
            "../private.txt",
            "t1/../../private.txt",
            "/etc/passwd",
            "t1",
            "missing.wav",
            "",
        ] {
            assert!(resolve_recording(&dir, bad).is_none(), "{bad}");
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(root.join("private.txt"), dir.join("link.wav")).unwrap();
            assert!(resolve_recording(&dir, "link.wav").is_none());
        }
        std::fs::remove_dir_all(&root).unwrap();
    }
}
