//! Calls: from an incoming INVITE to a running [`CallActor`].
//!
//! [`CallManager::handle_incoming`] routes the dialed number to an agent (404
//! when none; the directory may also answer 480/503 for an agent that cannot
//! run), negotiates SDP (488 when no codec is common), leases an RTP port
//! (503 when none is free), rings, answers, and starts the call's actor on one
//! of a fixed set of arbiters (one per core), round-robin. The call's
//! [`CallLifecycle`] (from routing) hears of ringing, answer and the end.
//!
//! Limits: a source IP over its concurrent-call limit gets 503 before
//! routing, a tenant over its limit 503 after routing (both with
//! Retry-After, see [`limits`]); an answered call ends with BYE after
//! [`CallServices::media_timeout`] without caller RTP, or after
//! [`CallServices::max_call`].

mod actor;
pub mod amd_policy;
pub mod control;
mod inbound;
pub mod lifecycle;
pub mod limits;
mod originate;
mod outbound;
pub mod recording;
pub mod signalling;
mod tasks;

pub use actor::{CallActor, CallSetup};
pub use control::{CallCommand, CallControl, CommandError, LiveEvent, MAX_SAY_CHARS};
pub use inbound::{CallerFrame, Datagram, InboundMedia, InboundStats};
pub use lifecycle::{CallLifecycle, CallReport, HangupCause, OutboundEnd, TranscriptLine};
pub use limits::{CallLimits, CallSlot, LimitReached, LIMIT_RETRY_AFTER_SECS};
pub use originate::{fill_placeholders, Originate, OriginateError};
pub use signalling::{SignalEvent, SignalEvents, Signalling};

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix::prelude::*;
use parla_media::g711::G711;
use parla_sip::sdp::{self, AnswerParams, Codec, RemoteAudio, SessionDescription};
use parla_sip::server::{CallHandle, IncomingCall};

use crate::agent::{AgentDirectory, CallTarget, RouteDecision};
use crate::metrics::{CallCounters, LatencyMetrics};
use crate::rtp_ports::RtpPortPool;

/// Codecs we answer with, in preference order.
pub const SUPPORTED_CODECS: &[Codec] = &[Codec::Pcmu, Codec::Pcma];

/// Default RTP inactivity timeout: an answered call whose caller has sent
/// no RTP for 30 s is ended (BYE, hangup cause `media_timeout`).
pub const DEFAULT_MEDIA_TIMEOUT: Duration = Duration::from_secs(30);
/// Default maximum call length, 1 h: an answered call is ended (BYE, cause
/// `max_duration`) this long after the answer.
pub const DEFAULT_MAX_CALL: Duration = Duration::from_secs(3600);

/// Shared, process-wide services every call uses.
pub struct CallServices {
    pub latency: Arc<LatencyMetrics>,
    pub counters: Arc<CallCounters>,
    pub rtp_ports: RtpPortPool,
    /// Address RTP sockets bind to (e.g. 0.0.0.0).
    pub rtp_bind_ip: IpAddr,
    /// Address written into SDP answers (`--public-ip`).
    pub public_ip: IpAddr,
    pub user_agent: String,
    /// Where agents with `record = true` write `<Call-ID>.wav`; `None`: no recordings.
    pub recordings_dir: Option<std::path::PathBuf>,
    /// Concurrent calls per tenant and per source IP.
    pub limits: CallLimits,
    /// An answered call whose caller sends no RTP for this long is ended
    /// (BYE, cause `media_timeout`); the wait is suspended while the caller
    /// has put the call on hold (`recvonly`/`inactive`). `None`: never.
    pub media_timeout: Option<Duration>,
    /// The operator's cap on a call's length from the answer; an agent's
    /// `max_call_secs` may be lower, never higher. `None`: no cap.
    pub max_call: Option<Duration>,
}

impl CallServices {
    /// Answers an SDP offer for a call whose RTP port is `rtp_port`.
    pub fn answer_sdp(
        &self,
        offer: &SessionDescription,
        rtp_port: u16,
    ) -> Result<(RemoteAudio, String), sdp::NegotiationError> {
        let params = AnswerParams {
            public_ip: self.public_ip,
            rtp_port,
            session_id: rand::random::<u32>() as u64,
            session_version: 1,
            supported: SUPPORTED_CODECS,
            user_agent: &self.user_agent,
        };
        let (remote, answer) = sdp::negotiate(offer, &params)?;
        Ok((remote, answer.to_string()))
    }
}

/// The media codec for a negotiated SDP codec.
pub fn g711_of(codec: Codec) -> G711 {
    match codec {
        Codec::Pcmu => G711::Pcmu,
        Codec::Pcma => G711::Pcma,
    }
}

/// Accepts incoming calls and starts their actors. Cheap to clone (shared state).
#[derive(Clone)]
pub struct CallManager {
    directory: Arc<dyn AgentDirectory>,
    services: Arc<CallServices>,
    arbiters: Arc<Vec<ArbiterHandle>>,
    next: Arc<AtomicUsize>,
}

impl CallManager {
    /// `arbiters`: where call actors run (one per core); must not be empty.
    pub fn new(
        directory: Arc<dyn AgentDirectory>,
        services: Arc<CallServices>,
        arbiters: Vec<ArbiterHandle>,
    ) -> Self {
        assert!(
            !arbiters.is_empty(),
            "CallManager needs at least one arbiter"
        );
        CallManager {
            directory,
            services,
            arbiters: Arc::new(arbiters),
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn services(&self) -> &Arc<CallServices> {
        &self.services
    }

    /// Routes, negotiates and answers one INVITE. Returns at once: routing
    /// (which may query a database) runs in a task on the current actix
    /// system, so the SIP loop never waits for it. A CANCEL that arrives
    /// while routing or ringing ends the call there.
    ///
    /// A source over its concurrent-call limit is answered 503 +
    /// Retry-After here, before any routing.
    pub fn handle_incoming(&self, call: IncomingCall) {
        let source = call.remote_signalling_addr.ip();
        let slot = match self.services.limits.source(source) {
            Ok(slot) => slot,
            Err(e) => {
                tracing::info!(call_id = %call.call_id, %source, limit = e.limit, "calls per source over the limit: 503");
                let _ = call.handle.reject_retry_after(503, LIMIT_RETRY_AFTER_SECS);
                return;
            }
        };
        let this = self.clone();
        actix_rt::spawn(async move { this.route_and_answer(call, slot).await });
    }

    async fn route_and_answer(self, call: IncomingCall, source_slot: CallSlot) {
        let IncomingCall {
            call_id,
            handle,
            mut events,
            offer,
            dialed_user,
            request_uri,
            from,
            to,
            ..
        } = call;
        let target = CallTarget {
            call_id: call_id.clone(),
            from: from.clone(),
            to,
            request_uri: request_uri.clone(),
            dialed_user,
            received_at: SystemTime::now(),
        };
        let decision = tokio::select! {
            d = self.directory.route(&target) => d,
            ev = events.recv() => {
                tracing::info!(%call_id, event = ?ev, "caller gave up while routing");
                return;
            }
        };
        let (agent, tenant, mut lifecycle) = match decision {
            RouteDecision::Agent {
                agent,
                tenant,
                lifecycle,
            } => (agent, tenant, lifecycle),
            RouteDecision::Reject { status, lifecycle } => {
                tracing::info!(%call_id, %request_uri, status, "call rejected by routing");
                reject(&handle, lifecycle, status);
                return;
            }
        };
        let mut slots = vec![source_slot];
        if let Some(tenant) = tenant.as_deref() {
            match self.services.limits.tenant(tenant) {
                Ok(slot) => slots.push(slot),
                Err(e) => {
                    tracing::info!(%call_id, %tenant, limit = e.limit, "calls per tenant over the limit: 503");
                    let _ = handle.reject_retry_after(503, LIMIT_RETRY_AFTER_SECS);
                    if let Some(mut l) = lifecycle {
                        l.ended(CallReport::unanswered(HangupCause::Rejected, 503));
                    }
                    return;
                }
            }
        }
        let Some(offer) = offer else {
            // Late offer (INVITE without SDP) is not supported yet.
            tracing::info!(%call_id, "INVITE without SDP offer: 488");
            reject(&handle, lifecycle, 488);
            return;
        };
        let (socket, lease) = match self.services.rtp_ports.bind(self.services.rtp_bind_ip) {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(%call_id, error = %e, "no RTP port: 503");
                reject(&handle, lifecycle, 503);
                return;
            }
        };
        let (remote, answer) = match self.services.answer_sdp(&offer, lease.port()) {
            Ok(x) => x,
            Err(e) => {
                tracing::info!(%call_id, error = %e, "SDP negotiation failed: 488");
                reject(&handle, lifecycle, 488);
                return;
            }
        };
        tracing::info!(%call_id, %from, agent = %agent.config.name, codec = ?remote.codec, rtp_port = lease.port(), "answering");
        let _ = handle.ringing();
        if let Some(l) = lifecycle.as_mut() {
            l.ringing();
        }
        let delay = Duration::from_millis(agent.config.answer_delay_ms as u64);
        let mut setup = CallSetup {
            call_id,
            agent,
            handle: Signalling::Inbound(handle),
            events: SignalEvents::Inbound(events),
            socket,
            lease,
            codec: g711_of(remote.codec),
            audio_payload_type: remote.payload_type,
            dtmf_payload_type: remote.dtmf_payload_type,
            remote_rtp: remote.addr,
            services: self.services.clone(),
            lifecycle,
            caller_sends: remote.direction.sends(),
            slots,
        };
        if !delay.is_zero() {
            // Ring first; a CANCEL (or the caller giving up) while ringing ends it here.
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                ev = setup.events.recv() => {
                    tracing::info!(call_id = %setup.call_id, event = ?ev, "caller gave up while ringing");
                    if let Some(mut l) = setup.lifecycle.take() {
                        l.ended(CallReport::unanswered(HangupCause::CallerHangup, 487));
                    }
                    return;
                }
            }
        }
        let arbiter =
            self.arbiters[self.next.fetch_add(1, Ordering::Relaxed) % self.arbiters.len()].clone();
        if let Signalling::Inbound(handle) = &setup.handle {
            let _ = handle.answer(answer);
        }
        if let Some(l) = setup.lifecycle.as_mut() {
            l.answered(SystemTime::now());
        }
        CallActor::start_in_arbiter(&arbiter, move |_ctx| CallActor::new(setup));
    }
}

/// Rejects the INVITE with `status` and reports it.
fn reject(handle: &CallHandle, lifecycle: Option<Box<dyn CallLifecycle>>, status: u16) {
    let _ = handle.reject(status);
    if let Some(mut l) = lifecycle {
        l.ended(CallReport::unanswered(HangupCause::Rejected, status));
    }
}
