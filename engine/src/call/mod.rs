//! Calls: from an incoming INVITE to a running [`CallActor`].
//!
//! [`CallManager::handle_incoming`] routes the dialed number to an agent (404
//! when none), negotiates SDP (488 when no codec is common), leases an RTP port
//! (503 when none is free), rings, answers, and starts the call's actor on one
//! of a fixed set of arbiters (one per core), round-robin.

mod actor;
mod inbound;
mod tasks;

pub use actor::{CallActor, CallSetup, TranscriptLine};
pub use inbound::{CallerFrame, Datagram, InboundMedia, InboundStats};

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use parla_media::g711::G711;
use parla_sip::sdp::{self, AnswerParams, Codec, RemoteAudio, SessionDescription};
use parla_sip::server::IncomingCall;

use crate::agent::AgentDirectory;
use crate::metrics::{CallCounters, LatencyMetrics};
use crate::rtp_ports::RtpPortPool;

/// Codecs we answer with, in preference order.
pub const SUPPORTED_CODECS: &[Codec] = &[Codec::Pcmu, Codec::Pcma];

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

/// Accepts incoming calls and starts their actors.
pub struct CallManager {
    directory: Arc<dyn AgentDirectory>,
    services: Arc<CallServices>,
    arbiters: Vec<ArbiterHandle>,
    next: AtomicUsize,
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
            arbiters,
            next: AtomicUsize::new(0),
        }
    }

    pub fn services(&self) -> &Arc<CallServices> {
        &self.services
    }

    /// Routes, negotiates and answers one INVITE. Never blocks on providers.
    pub fn handle_incoming(&self, call: IncomingCall) {
        let IncomingCall {
            call_id,
            handle,
            events,
            offer,
            dialed_user,
            request_uri,
            from,
            ..
        } = call;
        let Some(agent) = self.directory.route(dialed_user.as_deref(), &request_uri) else {
            tracing::info!(%call_id, %request_uri, "no agent for destination: 404");
            let _ = handle.reject(404);
            return;
        };
        let Some(offer) = offer else {
            // Late offer (INVITE without SDP) is not supported yet.
            tracing::info!(%call_id, "INVITE without SDP offer: 488");
            let _ = handle.reject(488);
            return;
        };
        let (socket, lease) = match self.services.rtp_ports.bind(self.services.rtp_bind_ip) {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(%call_id, error = %e, "no RTP port: 503");
                let _ = handle.reject(503);
                return;
            }
        };
        let (remote, answer) = match self.services.answer_sdp(&offer, lease.port()) {
            Ok(x) => x,
            Err(e) => {
                tracing::info!(%call_id, error = %e, "SDP negotiation failed: 488");
                let _ = handle.reject(488);
                return;
            }
        };
        tracing::info!(%call_id, %from, agent = %agent.config.name, codec = ?remote.codec, rtp_port = lease.port(), "answering");
        let _ = handle.ringing();
        let delay = Duration::from_millis(agent.config.answer_delay_ms as u64);
        let mut setup = CallSetup {
            call_id,
            agent,
            handle,
            events,
            socket,
            lease,
            codec: g711_of(remote.codec),
            audio_payload_type: remote.payload_type,
            dtmf_payload_type: remote.dtmf_payload_type,
            remote_rtp: remote.addr,
            services: self.services.clone(),
        };
        let arbiter =
            self.arbiters[self.next.fetch_add(1, Ordering::Relaxed) % self.arbiters.len()].clone();
        if delay.is_zero() {
            let _ = setup.handle.answer(answer);
            CallActor::start_in_arbiter(&arbiter, move |_ctx| CallActor::new(setup));
            return;
        }
        // Ring first; a CANCEL (or the caller giving up) while ringing ends it here.
        actix_rt::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {
                    let _ = setup.handle.answer(answer);
                    CallActor::start_in_arbiter(&arbiter, move |_ctx| CallActor::new(setup));
                }
                ev = setup.events.recv() => {
                    tracing::info!(call_id = %setup.call_id, event = ?ev, "caller gave up while ringing");
                }
            }
        });
    }
}
