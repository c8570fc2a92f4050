//! `CallActor`: the thin IO driver of one answered call.
//!
//! Every 20 ms tick it sends one frame of agent audio from [`OutboundMedia`],
//! drains the call's RTP socket, runs the caller's frames through
//! [`InboundMedia`] and the [`Conversation`], and carries out what the
//! conversation asks (STT forwarding, LLM and TTS tasks, barge-in, hang-up).
//! It decides nothing itself: it holds the sockets, timers and tasks and
//! routes messages between them.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use actix::prelude::*;
use parla_media::g711::G711;
use parla_media::FRAME_MS;
use tokio::sync::mpsc;

use super::control::LiveEvent;
use super::inbound::{Datagram, InboundMedia};
use super::lifecycle::{CallLifecycle, CallReport, HangupCause, TranscriptLine};
use super::limits::CallSlot;
use super::outbound::{OutboundEvent, OutboundMedia};
use super::recording::{recording_path, CallRecorder};
use super::signalling::{SignalEvent, SignalEvents, Signalling};
use super::tasks::{spawn_llm, AbortOnDrop, LlmMsg, TtsMsg, TtsWorker};
use super::CallServices;
use crate::agent::Agent;
use crate::conversation::{
    Conversation, Input, Output, State, TurnLatency, MAX_CALL_HANGUP_REASON, OPERATOR_HANGUP_REASON,
};
use crate::providers::{LlmEvent, Role, SttEvent, SttInput};
use crate::rtp_ports::PortLease;

/// Caller audio kept while not forwarding to STT, so the start of an utterance
/// (before the VAD fired) still reaches the recognizer: 30 frames = 600 ms,
/// enough for a barge-in, which waits for 250 ms of continuous speech and
/// may restart that count at a pause between words.
pub const STT_PREROLL_FRAMES: usize = 30;
/// Datagrams read from the RTP socket per tick, at most (bounds work per tick).
pub const MAX_DATAGRAMS_PER_TICK: usize = 64;
/// Caller frames processed in one tick, at most (a reordered burst; more
/// wait for the next tick).
pub const MAX_CALLER_FRAMES_PER_TICK: usize = 16;
/// Frames sent in one tick to catch up after the timer fired late, at most.
pub const MAX_CATCHUP_FRAMES: u32 = 5;
/// How long we wait for the BYE transaction before stopping anyway.
pub const HANGUP_GRACE: Duration = Duration::from_secs(5);
/// One media frame.
const FRAME: Duration = Duration::from_millis(FRAME_MS as u64);

/// Transcript lines and latency entries kept for the call report, at most
/// each (bounds memory on very long calls; later ones are dropped).
pub const MAX_REPORTED_TURNS: usize = 2000;

/// Everything a call actor needs at start.
pub struct CallSetup {
    pub call_id: String,
    pub agent: Arc<Agent>,
    /// The dialog, inbound or outbound.
    pub handle: Signalling,
    pub events: SignalEvents,
    pub socket: std::net::UdpSocket,
    pub lease: PortLease,
    pub codec: G711,
    /// The codec's RTP payload type as negotiated (static 0/8 or dynamic).
    pub audio_payload_type: u8,
    pub dtmf_payload_type: Option<u8>,
    pub remote_rtp: SocketAddr,
    pub services: Arc<CallServices>,
    /// Receives the call's answer and end (with transcript and latency).
    pub lifecycle: Option<Box<dyn CallLifecycle>>,
    /// Whether the caller's SDP says it sends audio (`sendrecv`/`sendonly`);
    /// the media timeout only runs while it does.
    pub caller_sends: bool,
    /// The call's places under the concurrency limits, given back when the
    /// actor is dropped.
    pub slots: Vec<CallSlot>,
}

pub struct CallActor {
    call_id: String,
    agent: Arc<Agent>,
    handle: Signalling,
    services: Arc<CallServices>,
    events: Option<SignalEvents>,
    socket: std::net::UdpSocket,
    _lease: PortLease,
    inbound: InboundMedia,
    outbound: OutboundMedia,
    conversation: Conversation,
    started_at: Instant,
    frames_sent: u64,
    recv_buf: Vec<u8>,
    stt_input: Option<mpsc::Sender<SttInput>>,
    stt_forwarding: bool,
    preroll: VecDeque<Vec<i16>>,
    llm_tasks: HashMap<u64, AbortOnDrop>,
    tts: Option<TtsWorker>,
    transcript: Vec<TranscriptLine>,
    latency: Vec<TurnLatency>,
    /// The conversation's clock origin: transcript times count from it.
    conversation_start: Instant,
    /// When the caller last spoke (a speech frame), in ms since `conversation_start`.
    last_caller_speech_ms: u64,
    answered_at: SystemTime,
    lifecycle: Option<Box<dyn CallLifecycle>>,
    /// Set when the agent hangs up (why), or when the caller did.
    hangup_cause: Option<HangupCause>,
    recorder: Option<CallRecorder>,
    hanging_up: Option<Instant>,
    ended: bool,
    /// When the caller's last RTP packet arrived (or the call started, or
    /// the caller stopped holding it).
    last_rtp: Instant,
    caller_sends: bool,
    slots: Vec<CallSlot>,
    /// The conversation's state as last reported ([`LiveEvent::State`]).
    last_state: State,
}

mod live;

impl CallActor {
    pub fn new(setup: CallSetup) -> Self {
        let now = Instant::now();
        let mut conversation_config = setup.agent.config.conversation();
        if let Some(cap) = setup.services.max_call {
            let cap_ms = u32::try_from(cap.as_millis()).unwrap_or(u32::MAX).max(1);
            conversation_config.max_call_ms = Some(
                conversation_config
                    .max_call_ms
                    .map_or(cap_ms, |agent_ms| agent_ms.min(cap_ms)),
            );
        }
        let conversation = Conversation::new(conversation_config, now);
        // The record keeper names the file (never the caller's Call-ID).
        let name = setup.lifecycle.as_ref().and_then(|l| l.recording_name());
        let recorder = match (&setup.services.recordings_dir, name, setup.agent.config.record) {
            (Some(dir), Some(name), true) => recording_path(dir, &name).and_then(|path| {
                CallRecorder::start(&path)
                    .inspect_err(|e| tracing::warn!(call_id = %setup.call_id, path = %path.display(), error = %e, "cannot record the call"))
                    .ok()
            }),
            _ => None,
        };
        CallActor {
            call_id: setup.call_id,
            handle: setup.handle,
            services: setup.services,
            events: Some(setup.events),
            socket: setup.socket,
            _lease: setup.lease,
            inbound: InboundMedia::new(
                setup.codec,
                setup.audio_payload_type,
                setup.dtmf_payload_type,
                Some(setup.remote_rtp),
            ),
            outbound: OutboundMedia::new(
                setup.codec,
                setup.audio_payload_type,
                rand::random(),
                rand::random(),
                rand::random(),
            ),
            conversation,
            started_at: now,
            frames_sent: 0,
            recv_buf: vec![0; 2048],
            stt_input: None,
            stt_forwarding: false,
            preroll: VecDeque::with_capacity(STT_PREROLL_FRAMES),
            llm_tasks: HashMap::new(),
            tts: None,
            transcript: Vec::new(),
            latency: Vec::new(),
            conversation_start: now,
            last_caller_speech_ms: 0,
            answered_at: SystemTime::now(),
            lifecycle: setup.lifecycle,
            hangup_cause: None,
            recorder,
            hanging_up: None,
            ended: false,
            last_rtp: now,
            caller_sends: setup.caller_sends,
            slots: setup.slots,
            last_state: State::Listening,
            agent: setup.agent,
        }
    }

    /// The 20 ms media tick (catching up when the timer fired late).
    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let due = (now.duration_since(self.started_at).as_millis() / FRAME_MS as u128) as u64 + 1;
        let frames = due
            .saturating_sub(self.frames_sent)
            .min(MAX_CATCHUP_FRAMES as u64);
        if due > self.frames_sent + MAX_CATCHUP_FRAMES as u64 {
            // Far behind (the process stalled): skip ahead rather than burst.
            self.frames_sent = due - MAX_CATCHUP_FRAMES as u64;
        }
        // Agent audio first: its send time is what the caller hears as
        // pacing jitter; the caller's side (VAD, the costly part) can wait
        // the few microseconds.
        for _ in 0..frames {
            let ideal = self.started_at + FRAME * self.frames_sent as u32;
            self.services
                .counters
                .send_lateness
                .record(now.saturating_duration_since(ideal));
            self.agent_frame(now);
            self.frames_sent += 1;
        }
        self.drain_socket(now);
        for _ in 0..frames {
            self.inbound.tick();
        }
        self.caller_frames(now);
        self.conversation.handle_timeout(now);
        self.drain_outputs(ctx, now);
        self.check_media_timeout(now);
        if let Some(since) = self.hanging_up {
            if now.duration_since(since) > HANGUP_GRACE {
                ctx.stop();
            }
        }
    }

    /// Ends the call when the caller has sent no RTP for the media timeout
    /// (unless it holds the call: then the wait starts again on resume).
    fn check_media_timeout(&mut self, now: Instant) {
        let Some(timeout) = self.services.media_timeout else {
            return;
        };
        if !self.caller_sends {
            self.last_rtp = now;
            return;
        }
        if self.hanging_up.is_none() && now.saturating_duration_since(self.last_rtp) >= timeout {
            tracing::info!(
                call_id = %self.call_id,
                secs = timeout.as_secs_f64(),
                rtp_in = self.inbound.stats.packets,
                "no RTP from the caller: hanging up (media timeout)"
            );
            self.hangup_cause.get_or_insert(HangupCause::MediaTimeout);
            self.hanging_up = Some(now);
            let _ = self.handle.hangup();
        }
    }

    /// Milliseconds from the conversation's start to `now`.
    fn ms_since_start(&self, now: Instant) -> u64 {
        u64::try_from(
            now.saturating_duration_since(self.conversation_start)
                .as_millis(),
        )
        .unwrap_or(u64::MAX)
    }

    fn drain_socket(&mut self, now: Instant) {
        for _ in 0..MAX_DATAGRAMS_PER_TICK {
            let (len, from) = match self.socket.recv_from(&mut self.recv_buf) {
                Ok(r) => r,
                Err(_) => break, // WouldBlock (or a transient ICMP error): nothing more now
            };
            match self.inbound.push_datagram(from, &self.recv_buf[..len]) {
                Datagram::Dtmf(ev) => {
                    self.last_rtp = now;
                    tracing::debug!(call_id = %self.call_id, digit = %ev.digit, "dtmf");
                    self.conversation
                        .handle_input(Input::Dtmf { digit: ev.digit }, now);
                }
                Datagram::Audio | Datagram::Ignored => self.last_rtp = now,
                Datagram::Foreign | Datagram::Malformed => {}
            }
        }
    }

    /// Every caller frame that is ready (in sequence, or a gap given up on):
    /// VAD decisions into the conversation, audio to STT or its pre-roll.
    fn caller_frames(&mut self, now: Instant) {
        let now_ms = self.ms_since_start(now);
        for _ in 0..MAX_CALLER_FRAMES_PER_TICK {
            let Some(frame) = self.inbound.next_frame() else {
                break;
            };
            let speech = frame.speech;
            if let Some(rec) = self.recorder.as_mut() {
                rec.caller_audio(frame.pcm_8k);
            }
            if speech {
                self.last_caller_speech_ms = now_ms;
            }
            if self.stt_forwarding {
                if let Some(tx) = &self.stt_input {
                    // Realtime path: never wait. A full channel means STT is behind; drop audio.
                    let _ = tx.try_send(SttInput::Audio(frame.pcm_16k.to_vec()));
                }
            } else {
                // Reuse the oldest frame's buffer once the pre-roll is full:
                // no allocation per frame while the caller is silent.
                let mut buf = if self.preroll.len() == STT_PREROLL_FRAMES {
                    self.preroll.pop_front().unwrap_or_default()
                } else {
                    Vec::with_capacity(frame.pcm_16k.len())
                };
                buf.clear();
                buf.extend_from_slice(frame.pcm_16k);
                self.preroll.push_back(buf);
            }
            self.conversation
                .handle_input(Input::CallerFrame { speech }, now);
        }
    }

    /// One 20 ms frame of agent audio (or silence) out, to the caller and
    /// the recording.
    fn agent_frame(&mut self, now: Instant) {
        if let Some(packet) = self.outbound.tick() {
            if let Some(remote) = self.inbound.remote() {
                let _ = self.socket.send_to(packet, remote);
            }
        }
        if let Some(rec) = self.recorder.as_mut() {
            rec.tick(self.outbound.recording_frame());
        }
        self.playback_events(now);
    }

    /// Forwards what happened to the agent's audio to the conversation.
    fn playback_events(&mut self, now: Instant) {
        while let Some(event) = self.outbound.poll_event() {
            let input = match event {
                OutboundEvent::FirstAudio(segment) => Input::TtsFirstAudio { segment },
                OutboundEvent::SynthesisDone { segment, audio_ms } => {
                    Input::TtsDone { segment, audio_ms }
                }
                OutboundEvent::SegmentStarted(segment) => Input::PlaybackStarted { segment },
                OutboundEvent::SegmentPlayed(segment) => Input::PlaybackFinished { segment },
                OutboundEvent::SegmentFailed { segment, error } => Input::TtsError {
                    segment,
                    error: crate::providers::ProviderError::Engine(format!(
                        "unsupported TTS rate: {error}"
                    )),
                },
            };
            self.conversation.handle_input(input, now);
        }
    }

    fn drain_outputs(&mut self, ctx: &mut Context<Self>, now: Instant) {
        while let Some(out) = self.conversation.poll_output() {
            match out {
                Output::SttForward(on) => {
                    if on && !self.stt_forwarding {
                        if let Some(tx) = &self.stt_input {
                            for frame in self.preroll.drain(..) {
                                let _ = tx.try_send(SttInput::Audio(frame));
                            }
                        }
                    }
                    self.stt_forwarding = on;
                }
                Output::SttEndOfUtterance => {
                    if let Some(tx) = &self.stt_input {
                        if tx.try_send(SttInput::EndOfUtterance).is_err() {
                            tracing::warn!(call_id = %self.call_id, "STT input full at end of utterance");
                        }
                    }
                }
                Output::StartLlm {
                    request,
                    request_body,
                } => {
                    let task = spawn_llm(
                        self.agent.llm.clone(),
                        request,
                        request_body,
                        ctx.address().recipient(),
                    );
                    self.llm_tasks.insert(request, task);
                }
                Output::CancelLlm { request } => {
                    self.llm_tasks.remove(&request);
                }
                Output::Speak { segment, text } => {
                    let tts = self.tts.get_or_insert_with(|| {
                        TtsWorker::spawn(
                            self.agent.tts.clone(),
                            self.agent.config.voice.clone(),
                            ctx.address().recipient(),
                        )
                    });
                    self.outbound.begin_segment(segment);
                    if !tts.speak(segment, text) {
                        self.conversation.handle_input(
                            Input::TtsError {
                                segment,
                                error: crate::providers::ProviderError::Engine(
                                    "TTS queue full".into(),
                                ),
                            },
                            now,
                        );
                    }
                }
                Output::PlayFallback { segment } => {
                    self.outbound
                        .play_clip(segment, &self.agent.fallback_audio_8k);
                    self.playback_events(now);
                }
                Output::StopSpeaking => {
                    self.tts = None; // drops the worker: cancels synthesis in flight
                    self.outbound.clear();
                }
                Output::Transcript {
                    speaker,
                    text,
                    at_ms,
                    interrupted,
                } => {
                    tracing::info!(call_id = %self.call_id, ?speaker, at_ms, interrupted, %text, "transcript");
                    // Agent lines are emitted when their playback ends or is
                    // cut off; caller lines when STT finalizes, after the
                    // caller's last speech frame.
                    let emitted_ms = self.ms_since_start(now).max(at_ms);
                    let end_ms = match speaker {
                        Role::User => self.last_caller_speech_ms.clamp(at_ms, emitted_ms),
                        _ => emitted_ms,
                    };
                    let line = TranscriptLine {
                        speaker,
                        text,
                        at_ms,
                        end_ms,
                        interrupted,
                    };
                    if self.transcript.len() < MAX_REPORTED_TURNS {
                        self.transcript.push(line.clone());
                        self.report(LiveEvent::Transcript(line));
                    }
                }
                Output::TurnLatency(t) => {
                    tracing::info!(
                        call_id = %self.call_id, agent = %self.agent.config.name,
                        eou_ms = t.eou_ms, stt_ms = t.stt_ms, llm_ttft_ms = ?t.llm_ttft_ms,
                        tts_ttfb_ms = ?t.tts_ttfb_ms, v2v_ms = t.v2v_ms, "turn latency"
                    );
                    self.services.latency.record(&t);
                    if self.latency.len() < MAX_REPORTED_TURNS {
                        self.latency.push(t);
                        self.report(LiveEvent::Latency(t));
                    }
                }
                Output::HangUp { reason } => {
                    tracing::info!(call_id = %self.call_id, %reason, "agent hangs up");
                    if self.hanging_up.is_none() {
                        self.hangup_cause.get_or_insert(match reason.as_str() {
                            MAX_CALL_HANGUP_REASON => HangupCause::MaxDuration,
                            OPERATOR_HANGUP_REASON => HangupCause::OperatorHangup,
                            _ => HangupCause::AgentHangup,
                        });
                        self.hanging_up = Some(now);
                        let _ = self.handle.hangup();
                    }
                }
            }
        }
        self.report_state();
    }
}

impl Actor for CallActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.services.counters.inc();
        if let Some(events) = self.events.take() {
            ctx.add_stream(events.into_stream());
        }
        // Open the STT session; caller audio before it is ready goes to the pre-roll.
        let stt = self.agent.stt.clone();
        let language = self.agent.config.language.clone();
        // Spawned, not awaited: media and the greeting start while STT connects.
        ctx.spawn(
            async move { stt.open(&language).await }.into_actor(self).map(|res, act, ctx| match res {
                Ok(session) => {
                    act.stt_input = Some(session.input);
                    ctx.add_stream(tokio_stream_from(session.events));
                }
                Err(error) => {
                    tracing::warn!(call_id = %act.call_id, %error, "STT session failed to open");
                    act.conversation.handle_input(Input::SttError(error), Instant::now());
                }
            }),
        );
        let now = Instant::now();
        self.started_at = now;
        // The greeting starts here. Hook for answering-machine detection
        // on outbound calls (`amd_policy`): hold this input until the
        // verdict (human: at once; machine: the voicemail policy).
        self.conversation.handle_input(Input::Answered, now);
        self.open_control(ctx);
        ctx.run_interval(Duration::from_millis(FRAME_MS as u64), |act, ctx| {
            act.tick(ctx)
        });
        tracing::info!(call_id = %self.call_id, agent = %self.agent.config.name, "call started");
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.llm_tasks.clear();
        self.tts = None;
        // Give the limit slots back before the call counts as ended (the
        // drop of the actor would too, a moment later).
        self.slots.clear();
        self.services.counters.dec();
        if !self.ended {
            let _ = self.handle.hangup();
        }
        if let Some(mut lifecycle) = self.lifecycle.take() {
            lifecycle.ended(CallReport {
                answered_at: Some(self.answered_at),
                ended_at: SystemTime::now(),
                cause: self.hangup_cause.unwrap_or(HangupCause::Error),
                sip_status: 200,
                transcript: std::mem::take(&mut self.transcript),
                latency: std::mem::take(&mut self.latency),
                recording: self.recorder.take().map(CallRecorder::finish),
                outbound: None,
            });
        }
        tracing::info!(
            call_id = %self.call_id,
            secs = self.started_at.elapsed().as_secs_f64(),
            cause = self.hangup_cause.map_or("error", HangupCause::as_str),
            rtp_in = self.inbound.stats.packets,
            rtp_foreign = self.inbound.stats.foreign_dropped,
            agent_samples_dropped = self.outbound.dropped_samples(),
            "call ended"
        );
    }
}

/// Adapts a tokio receiver to a `futures::Stream` for `ctx.add_stream`.
fn tokio_stream_from<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

impl StreamHandler<SignalEvent> for CallActor {
    fn handle(&mut self, event: SignalEvent, ctx: &mut Context<Self>) {
        let now = Instant::now();
        match event {
            SignalEvent::Other => {}
            SignalEvent::Ended => {
                self.ended = true;
                self.hangup_cause.get_or_insert(HangupCause::CallerHangup);
                self.conversation.handle_input(Input::RemoteHangup, now);
                ctx.stop();
            }
            SignalEvent::ReInvite { offer } => {
                let services = self.services.clone();
                match services.answer_sdp(&offer, self._lease.port()) {
                    Ok((remote, answer)) => {
                        use parla_sip::sdp::Direction;
                        self.outbound.set_sending(matches!(
                            remote.direction,
                            Direction::SendRecv | Direction::RecvOnly
                        ));
                        let caller_sends = remote.direction.sends();
                        if caller_sends && !self.caller_sends {
                            self.last_rtp = now; // off hold: the wait starts now
                        }
                        self.caller_sends = caller_sends;
                        let remote_addr =
                            (!remote.addr.ip().is_unspecified()).then_some(remote.addr);
                        let codec = super::g711_of(remote.codec);
                        self.inbound.renegotiate(
                            codec,
                            remote.payload_type,
                            remote.dtmf_payload_type,
                            remote_addr,
                        );
                        self.outbound.set_codec(codec, remote.payload_type);
                        let _ = self.handle.answer_reinvite(answer);
                    }
                    Err(_) => {
                        let _ = self.handle.reject(488);
                    }
                }
            }
        }
    }

    fn finished(&mut self, _ctx: &mut Context<Self>) {
        // The signalling side is gone (driver shut down): nothing more will come.
    }
}

impl StreamHandler<SttEvent> for CallActor {
    fn handle(&mut self, event: SttEvent, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let input = match event {
            SttEvent::Interim { text } => Input::SttInterim(text),
            SttEvent::Final { text } => Input::SttFinal(text),
            SttEvent::Error(e) => Input::SttError(e),
        };
        self.conversation.handle_input(input, now);
        // A final starts the LLM request now, not at the next media tick.
        self.drain_outputs(ctx, now);
    }

    fn finished(&mut self, _ctx: &mut Context<Self>) {
        self.stt_input = None;
    }
}

impl Handler<LlmMsg> for CallActor {
    type Result = ();
    fn handle(&mut self, msg: LlmMsg, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let request = msg.request;
        if !self.llm_tasks.contains_key(&request) {
            return; // cancelled
        }
        let input = match msg.event {
            Ok(LlmEvent::Token(text)) => Input::LlmToken { request, text },
            Ok(LlmEvent::ToolCall {
                name, arguments, ..
            }) => Input::LlmToolCall {
                request,
                name,
                arguments,
            },
            Ok(LlmEvent::EndCall) => Input::LlmEndCall { request },
            Ok(LlmEvent::Done) => {
                self.llm_tasks.remove(&request);
                Input::LlmDone { request }
            }
            Err(error) => {
                self.llm_tasks.remove(&request);
                Input::LlmError { request, error }
            }
        };
        self.conversation.handle_input(input, now);
        self.drain_outputs(ctx, now);
    }
}

impl Handler<TtsMsg> for CallActor {
    type Result = ();
    fn handle(&mut self, msg: TtsMsg, ctx: &mut Context<Self>) {
        let now = Instant::now();
        match msg {
            TtsMsg::Audio { segment, chunk } => {
                self.outbound
                    .push_tts_audio(segment, &chunk.samples, chunk.sample_rate_hz);
            }
            TtsMsg::Done { segment } => self.outbound.tts_finished(segment),
            TtsMsg::Error { segment, error } => {
                if self.outbound.tts_failed(segment) {
                    tracing::warn!(call_id = %self.call_id, %error, "TTS failed");
                    self.conversation
                        .handle_input(Input::TtsError { segment, error }, now);
                }
            }
        }
        self.playback_events(now);
        self.drain_outputs(ctx, now);
    }
}
