//! Call records in the admin database, written from the engine's
//! [`CallLifecycle`] events.
//!
//! Each call gets a small writer task fed by a bounded channel: the engine's
//! calls (on the SIP loop or a media thread) only `try_send`, so a slow
//! database never delays media. The task creates the record at ringing
//! (status `ringing`), marks it `in_progress` at answer (live calls are
//! visible), and completes it at the end with transcript and latency. Store
//! errors are logged, never fatal to the call.
//!
//! The record's id is chosen when the call is routed, so the engine can
//! name the call's recording after it: `<tenant id>/<record id>.wav` under
//! the recordings directory (never the caller's Call-ID, which a caller
//! could reuse to overwrite another tenant's recording). The record stores
//! that relative name; the API only says whether there is one.
//!
//! While the call runs, its transcript and turn latencies so far are
//! written to the record as they come (coalesced: the writer writes the
//! latest state whenever it gets to it), and, with a [`LiveRegistry`], the
//! call is registered there (commands in, events out) until it ends.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parla_admin_core::domain::{
    AgentId, CallId, CallStatus, Direction, SipStatus, Speaker, TenantId, Timestamp,
    TranscriptTurn, TurnLatency,
};
use parla_admin_core::live::{LiveCallEvent, LiveCallSummary};
use parla_admin_core::store::{CallEnd, CallRecord, NewCall, Store, TenantScope};
use parla_engine::agent::CallTarget;
use parla_engine::call::{
    CallControl, CallLifecycle, CallReport, HangupCause, LiveEvent, TranscriptLine,
};
use parla_engine::providers::Role;
use tokio::sync::{mpsc, watch};

use crate::live_calls::LiveRegistry;

/// Lifecycle events queued per call, at most (ringing, answered, ended).
const EVENTS_PER_CALL: usize = 4;

enum Event {
    /// Outbound: the INVITE went out with this Call-ID.
    Dialing(String),
    Ringing,
    Answered(SystemTime),
    Ended(Box<CallReport>),
}

/// The transcript and latency of a call so far.
#[derive(Clone, Debug, Default)]
struct Progress {
    transcript: Vec<TranscriptTurn>,
    latency: Vec<TurnLatency>,
}

/// Writes the record of one call. Created per routed call by
/// [`CallRecords::lifecycle`].
struct RecordLifecycle {
    call_id: String,
    events: mpsc::Sender<Event>,
    recording: PathBuf,
    /// The transcript so far, watched by the writer task.
    progress: watch::Sender<Progress>,
    /// The call as listed among the live calls.
    summary: LiveCallSummary,
    /// Where the call is registered while it runs.
    live: Option<Arc<LiveRegistry>>,
}

impl RecordLifecycle {
    fn send(&self, event: Event) {
        if let Err(e) = self.events.try_send(event) {
            tracing::warn!(call_id = %self.call_id, error = %e, "call record event dropped");
        }
    }
}

impl CallLifecycle for RecordLifecycle {
    fn dialing(&mut self, sip_call_id: &str) {
        self.send(Event::Dialing(sip_call_id.to_owned()));
    }
    fn ringing(&mut self) {
        self.send(Event::Ringing);
    }
    fn answered(&mut self, at: SystemTime) {
        self.send(Event::Answered(at));
    }
    fn ended(&mut self, report: CallReport) {
        if let Some(live) = &self.live {
            live.end(self.summary.id, Some(report.cause.as_str().to_owned()));
        }
        self.send(Event::Ended(Box::new(report)));
    }
    fn control(&mut self, control: CallControl) {
        if let Some(live) = &self.live {
            live.register(self.summary.clone(), control);
        }
    }
    fn event(&mut self, event: LiveEvent) {
        let event = match event {
            LiveEvent::State(state) => LiveCallEvent::State {
                state: state.as_str().to_owned(),
            },
            LiveEvent::Transcript(line) => {
                let turn = transcript_turn(&line);
                self.progress
                    .send_modify(|p| p.transcript.push(turn.clone()));
                LiveCallEvent::Transcript { turn }
            }
            LiveEvent::Latency(t) => {
                let latency = turn_latency(&t);
                self.progress
                    .send_modify(|p| p.latency.push(latency.clone()));
                LiveCallEvent::Latency { latency }
            }
        };
        if let Some(live) = &self.live {
            live.publish(self.summary.id, event);
        }
    }
    fn recording_name(&self) -> Option<PathBuf> {
        Some(self.recording.clone())
    }
}

/// The recording of call record `id` of `tenant`, relative to the
/// recordings directory: `<tenant id>/<record id>.wav`.
pub fn recording_name(tenant: TenantId, id: CallId) -> PathBuf {
    PathBuf::from(tenant.to_string()).join(format!("{id}.wav"))
}

/// Hands out call-record lifecycles backed by `store`.
#[derive(Clone)]
pub struct CallRecords {
    store: Store,
    live: Option<Arc<LiveRegistry>>,
}

impl std::fmt::Debug for CallRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallRecords").finish_non_exhaustive()
    }
}

impl CallRecords {
    pub fn new(store: Store) -> Self {
        CallRecords { store, live: None }
    }

    /// Registers every answered call in `live` while it runs.
    pub fn with_live(mut self, live: Arc<LiveRegistry>) -> Self {
        self.live = Some(live);
        self
    }

    /// A lifecycle that records the call `target` in `scope`'s tenant,
    /// handled by `agent`. Spawns the call's writer task (on the current
    /// tokio runtime).
    pub fn lifecycle(
        &self,
        scope: TenantScope,
        agent: Option<AgentId>,
        target: &CallTarget,
    ) -> Box<dyn CallLifecycle> {
        let (tx, rx) = mpsc::channel(EVENTS_PER_CALL);
        let new = NewCall {
            agent_id: agent,
            direction: Direction::Inbound,
            from_uri: target.from.clone(),
            to_uri: target.to.clone(),
            sip_call_id: target.call_id.clone(),
            attempted_at: timestamp(target.received_at),
            answered_at: None,
            status: CallStatus::Ringing,
        };
        let record_id = CallId::generate();
        let recording = recording_name(scope.tenant(), record_id);
        let summary = LiveCallSummary {
            id: record_id,
            tenant_id: scope.tenant(),
            agent_id: agent,
            from_uri: new.from_uri.clone(),
            to_uri: new.to_uri.clone(),
            attempted_at: new.attempted_at,
            state: "listening".to_owned(),
            turns: 0,
        };
        let (progress, progress_rx) = watch::channel(Progress::default());
        let writer = Writer {
            store: self.store.clone(),
            scope,
            new,
            record_id,
            recording: recording.clone(),
            id: None,
        };
        tokio::spawn(writer.run(rx, progress_rx));
        Box::new(RecordLifecycle {
            call_id: target.call_id.clone(),
            events: tx,
            recording,
            progress,
            summary,
            live: self.live.clone(),
        })
    }

    /// A lifecycle that moves the existing record `record` of an outbound
    /// call (status `queued`, written by the admin API) through `dialing`,
    /// `ringing` and `in_progress` to its end. Spawns the call's writer
    /// task (on the current tokio runtime).
    pub fn outbound_lifecycle(
        &self,
        scope: TenantScope,
        record: &CallRecord,
    ) -> Box<dyn CallLifecycle> {
        let (tx, rx) = mpsc::channel(EVENTS_PER_CALL + 1);
        let new = NewCall {
            agent_id: record.agent_id,
            direction: Direction::Outbound,
            from_uri: record.from_uri.clone(),
            to_uri: record.to_uri.clone(),
            sip_call_id: record.sip_call_id.clone(),
            attempted_at: record.attempted_at,
            answered_at: None,
            status: CallStatus::Queued,
        };
        let recording = recording_name(scope.tenant(), record.id);
        let summary = LiveCallSummary {
            id: record.id,
            tenant_id: scope.tenant(),
            agent_id: record.agent_id,
            from_uri: new.from_uri.clone(),
            to_uri: new.to_uri.clone(),
            attempted_at: new.attempted_at,
            state: "listening".to_owned(),
            turns: 0,
        };
        let (progress, progress_rx) = watch::channel(Progress::default());
        let writer = Writer {
            store: self.store.clone(),
            scope,
            new,
            record_id: record.id,
            recording: recording.clone(),
            id: Some(record.id),
        };
        tokio::spawn(writer.run(rx, progress_rx));
        Box::new(RecordLifecycle {
            call_id: record.id.to_string(),
            events: tx,
            recording,
            progress,
            summary,
            live: self.live.clone(),
        })
    }
}

/// The writer task of one call.
struct Writer {
    store: Store,
    scope: TenantScope,
    new: NewCall,
    /// The id the record gets.
    record_id: CallId,
    /// Its recording's name (relative), stored if the engine wrote it.
    recording: PathBuf,
    /// Set once the record exists.
    id: Option<CallId>,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Event>, mut progress: watch::Receiver<Progress>) {
        loop {
            let event = tokio::select! {
                biased;
                event = rx.recv() => event,
                Ok(()) = progress.changed(), if self.id.is_some() => {
                    let p = progress.borrow_and_update().clone();
                    self.write_progress(p).await;
                    continue;
                }
            };
            let Some(event) = event else { break };
            let ended = matches!(event, Event::Ended(_));
            if let Err(e) = self.apply(event).await {
                tracing::error!(call_id = %self.new.sip_call_id, error = %e, "writing the call record failed");
            }
            if ended {
                return;
            }
        }
        // The engine dropped the call without an end (should not happen):
        // close a started record rather than leave it live forever.
        if self.id.is_some() {
            let report = CallReport::unanswered(HangupCause::Error, 500);
            if let Err(e) = self.apply(Event::Ended(Box::new(report))).await {
                tracing::error!(call_id = %self.new.sip_call_id, error = %e, "closing the call record failed");
            }
        }
    }

    async fn apply(&mut self, event: Event) -> Result<(), parla_admin_core::store::StoreError> {
        match event {
            Event::Dialing(sip_call_id) => {
                if let Some(id) = self.id {
                    self.store
                        .calls()
                        .dialing(&self.scope, id, &sip_call_id)
                        .await?;
                }
            }
            Event::Ringing if self.new.direction == Direction::Outbound => {
                if let Some(id) = self.id {
                    self.store.calls().ringing(&self.scope, id).await?;
                }
            }
            Event::Ringing => self.start(None).await?,
            Event::Answered(at) => match self.id {
                Some(id) => {
                    self.store
                        .calls()
                        .answer(&self.scope, id, timestamp(at))
                        .await?;
                }
                None => self.start(Some(at)).await?,
            },
            Event::Ended(report) => {
                if self.id.is_none() {
                    self.start(report.answered_at).await?;
                }
                if let Some(id) = self.id {
                    self.store
                        .calls()
                        .finish(&self.scope, id, call_end(&report, &self.recording))
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Writes the transcript and latency so far to the live record.
    async fn write_progress(&self, p: Progress) {
        let Some(id) = self.id else { return };
        if let Err(e) = self
            .store
            .calls()
            .update_live(&self.scope, id, p.transcript, p.latency)
            .await
        {
            tracing::warn!(call_id = %self.new.sip_call_id, error = %e, "updating the live call record failed");
        }
    }

    /// Inserts the record (ringing, or in progress if `answered`).
    async fn start(
        &mut self,
        answered: Option<SystemTime>,
    ) -> Result<(), parla_admin_core::store::StoreError> {
        let mut new = self.new.clone();
        if let Some(at) = answered {
            new.answered_at = Some(timestamp(at));
            new.status = CallStatus::InProgress;
        }
        let record = self
            .store
            .calls()
            .start_with_id(&self.scope, self.record_id, new)
            .await?;
        self.id = Some(record.id);
        Ok(())
    }
}

/// The record's end from the engine's report; `recording` is the name of
/// the call's recording, kept if the engine wrote one.
fn call_end(report: &CallReport, recording: &Path) -> CallEnd {
    if let Some(end) = report
        .outbound
        .as_ref()
        .filter(|_| report.answered_at.is_none())
    {
        // An outbound call that ended before the answer: the SIP client's
        // outcome (busy, no_answer, failed, canceled) and cause.
        return CallEnd {
            ended_at: timestamp(report.ended_at),
            status: end.outcome.parse().unwrap_or(CallStatus::Failed),
            hangup_cause: Some(end.cause.clone()),
            sip_status: SipStatus::try_from(report.sip_status).ok(),
            transcript: Vec::new(),
            latency: Vec::new(),
            recording_path: None,
        };
    }
    let status = match (report.answered_at.is_some(), report.cause) {
        (true, HangupCause::Error) => CallStatus::Failed,
        (true, _) => CallStatus::Completed,
        (false, _) if report.sip_status == 486 || report.sip_status == 600 => CallStatus::Busy,
        (false, HangupCause::CallerHangup) => CallStatus::NoAnswer,
        (false, _) => CallStatus::Failed,
    };
    CallEnd {
        ended_at: timestamp(report.ended_at),
        status,
        hangup_cause: Some(report.cause.as_str().to_owned()),
        sip_status: SipStatus::try_from(report.sip_status).ok(),
        transcript: report.transcript.iter().map(transcript_turn).collect(),
        latency: report.latency.iter().map(turn_latency).collect(),
        recording_path: report
            .recording
            .as_ref()
            .map(|_| recording.display().to_string()),
    }
}

fn transcript_turn(line: &TranscriptLine) -> TranscriptTurn {
    TranscriptTurn {
        speaker: match line.speaker {
            Role::User => Speaker::Caller,
            _ => Speaker::Agent,
        },
        text: line.text.clone(),
        start_ms: line.at_ms,
        end_ms: line.end_ms.max(line.at_ms),
        interrupted: line.interrupted,
    }
}

/// Milliseconds as stored: rounded, clamped to `0..=u32::MAX`.
fn ms(v: f64) -> u32 {
    if v.is_finite() {
        v.round().clamp(0.0, u32::MAX as f64) as u32
    } else {
        0
    }
}

fn turn_latency(t: &parla_engine::conversation::TurnLatency) -> TurnLatency {
    TurnLatency {
        eou_ms: Some(ms(t.eou_ms)),
        stt_ms: Some(ms(t.stt_ms)),
        llm_ttft_ms: t.llm_ttft_ms.map(ms),
        tts_ttfb_ms: t.tts_ttfb_ms.map(ms),
        v2v_ms: Some(ms(t.v2v_ms)),
    }
}

fn timestamp(t: SystemTime) -> Timestamp {
    Timestamp::from_unix_ms(
        t.duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A caller reusing one Call-ID in two tenants gets two recordings, each
    /// in its tenant's folder, named by its record's id (the old naming by
    /// Call-ID let the second call overwrite the first tenant's file).
    #[tokio::test]
    async fn one_call_id_in_two_tenants_records_two_files() {
        use parla_admin_core::store::NewTenant;
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let mut scopes = vec![];
        for name in ["acme", "globex"] {
            let t = store
                .tenants()
                .create(NewTenant {
                    name: name.parse().unwrap(),
                    slug: name.parse().unwrap(),
                    plan: None,
                })
                .await
                .unwrap();
            scopes.push(TenantScope::new(t.id));
        }
        let target = CallTarget {
            call_id: "reused@attacker".into(),
            from: "sip:a@x".into(),
            to: "sip:+14155550100@parla".into(),
            request_uri: "sip:+14155550100@parla".into(),
            dialed_user: Some("+14155550100".into()),
            received_at: SystemTime::now(),
        };
        let records = CallRecords::new(store.clone());
        let mut names = vec![];
        for scope in &scopes {
            let mut l = records.lifecycle(scope.clone(), None, &target);
            let name = l.recording_name().expect("a recording name");
            assert!(name.starts_with(scope.tenant().to_string()), "{name:?}");
            assert!(!name.to_string_lossy().contains("reused"), "{name:?}");
            let mut report = CallReport::unanswered(HangupCause::CallerHangup, 200);
            report.answered_at = Some(SystemTime::now());
            report.recording = Some(PathBuf::from("/data/recordings").join(&name));
            l.ringing();
            l.ended(report);
            names.push(name);
        }
        assert_ne!(names[0], names[1]);
        for (scope, name) in scopes.iter().zip(&names) {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            let record = loop {
                let page = store
                    .calls()
                    .list(scope, &Default::default(), Default::default())
                    .await
                    .unwrap();
                match page.items.into_iter().next() {
                    Some(r) if !r.status.is_live() => break r,
                    _ => {}
                }
                assert!(std::time::Instant::now() < deadline, "no record");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            };
            assert_eq!(*name, recording_name(scope.tenant(), record.id));
            assert_eq!(record.recording_path, Some(name.display().to_string()));
        }
    }

    #[test]
    fn reports_map_to_record_ends() {
        let mut report = CallReport::unanswered(HangupCause::CallerHangup, 487);
        assert_eq!(
            call_end(&report, Path::new("t/c.wav")).status,
            CallStatus::NoAnswer
        );
        report.cause = HangupCause::Rejected;
        report.sip_status = 503;
        let end = call_end(&report, Path::new("t/c.wav"));
        assert_eq!(end.status, CallStatus::Failed);
        assert_eq!(end.sip_status.map(SipStatus::code), Some(503));
        assert_eq!(end.hangup_cause.as_deref(), Some("rejected"));

        report.answered_at = Some(SystemTime::now());
        report.cause = HangupCause::AgentHangup;
        report.sip_status = 200;
        report.transcript.push(TranscriptLine {
            speaker: Role::User,
            text: "hello".into(),
            at_ms: 1500,
            end_ms: 1200,
            interrupted: false,
        });
        report
            .latency
            .push(parla_engine::conversation::TurnLatency {
                eou_ms: 510.4,
                stt_ms: 80.6,
                llm_ttft_ms: None,
                tts_ttfb_ms: Some(30.0),
                v2v_ms: f64::NAN,
            });
        let end = call_end(&report, Path::new("t/c.wav"));
        assert_eq!(end.recording_path, None, "not recorded");
        report.recording = Some(PathBuf::from("/data/recordings/t/c.wav"));
        let end = call_end(&report, Path::new("t/c.wav"));
        assert_eq!(end.recording_path.as_deref(), Some("t/c.wav"), "relative");
        assert_eq!(end.status, CallStatus::Completed);
        assert_eq!(end.transcript[0].speaker, Speaker::Caller);
        assert_eq!(end.transcript[0].end_ms, 1500, "end never before start");
        let l = &end.latency[0];
        assert_eq!(
            (l.eou_ms, l.stt_ms, l.llm_ttft_ms, l.tts_ttfb_ms, l.v2v_ms),
            (Some(510), Some(81), None, Some(30), Some(0))
        );
    }
}
