//! Outbound calls: [`CallManager::originate`] places a call through a SIP
//! trunk and, once the callee answers, runs the agent on it in a
//! [`CallActor`] exactly as for an inbound call.
//!
//! Steps: lease an RTP port (its address goes into Parla's SDP offer, built
//! by the SIP client: PCMU, PCMA, telephone-event), place the call
//! ([`SipServer::place_call`]), then follow its [`UacEvent`]s on a task:
//! `Dialing` → [`CallLifecycle::dialing`], the first `Ringing` /
//! `EarlyMedia` → [`CallLifecycle::ringing`] (early media is ignored),
//! `Answered` → [`CallLifecycle::answered`] and the actor starts with the
//! agent's greeting and system prompt filled from the call's variables
//! (see [`fill_placeholders`]); `Ended` before the answer →
//! [`CallLifecycle::ended`] with the outcome and cause
//! ([`OutboundEnd`]). After the answer the actor owns the dialog
//! ([`Signalling::Outbound`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix::prelude::*;
use parla_sip::server::{OutboundControl, OutboundRequest, SipError, SipServer, UacEvent};
use parla_sip::uac::{Credentials, Outcome, Transport};

use super::lifecycle::{CallLifecycle, CallReport, HangupCause, OutboundEnd};
use super::limits::CallSlot;
use super::signalling::{SignalEvents, Signalling};
use super::{g711_of, CallActor, CallManager, CallSetup};
use crate::agent::Agent;

/// Longest value substituted for one placeholder, in characters (longer
/// values are cut; the admin API already refuses them).
pub const MAX_PLACEHOLDER_VALUE_CHARS: usize = 256;
/// Longest placeholder name, in characters (`{{name}}`).
pub const MAX_PLACEHOLDER_NAME_CHARS: usize = 32;

/// One call to place.
pub struct Originate {
    /// The agent that talks once the callee answers.
    pub agent: Arc<Agent>,
    /// Values of `{{name}}` placeholders in its greeting and system prompt.
    pub variables: BTreeMap<String, String>,
    /// Request-URI, e.g. `sip:+15551234567@trunk.example.com`.
    pub request_uri: String,
    /// From URI (the caller id), e.g. `sip:+15550001111@parla.invalid`.
    pub from: String,
    /// The trunk's signalling address.
    pub trunk: SocketAddr,
    /// Signalling transport to the trunk.
    pub transport: Transport,
    /// Digest credentials for the trunk's challenge, if any.
    pub credentials: Option<Credentials>,
    /// How long to let it ring before CANCEL (`no_answer`).
    pub ring_timeout: Duration,
    /// Receives the call's progress and end.
    pub lifecycle: Option<Box<dyn CallLifecycle>>,
    /// The call's places under the concurrency limits (given back when the
    /// call ends).
    pub slots: Vec<CallSlot>,
}

/// Why a call could not be placed (nothing was started; the lifecycle
/// was told the call ended, as `failed`).
#[derive(Debug, thiserror::Error)]
pub enum OriginateError {
    /// Every RTP port is in use.
    #[error("no RTP port is free")]
    NoRtpPort,
    /// The SIP server refused the request (bad URI) or is shut down.
    #[error("the SIP client refused the call: {0}")]
    Sip(#[from] SipError),
}

/// `text` with every `{{name}}` (optionally `{{ name }}`; names
/// `[a-z0-9_]{1,32}`) replaced by `variables[name]`, or by nothing when the
/// call has no such variable. Other braces are left as they are.
pub fn fill_placeholders(text: &str, variables: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        let valid = (1..=MAX_PLACEHOLDER_NAME_CHARS).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if valid {
            if let Some(v) = variables.get(name) {
                out.extend(v.chars().take(MAX_PLACEHOLDER_VALUE_CHARS));
            }
            rest = &after[end + 2..];
        } else {
            // Not a placeholder: keep one brace and look again after it.
            out.push('{');
            rest = &rest[start + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// `agent` with its greeting and system prompt filled from `variables`.
fn personalised(agent: &Arc<Agent>, variables: &BTreeMap<String, String>) -> Arc<Agent> {
    if variables.is_empty()
        && !agent.config.greeting.contains("{{")
        && !agent.config.system_prompt.contains("{{")
    {
        return agent.clone();
    }
    let mut config = agent.config.clone();
    config.greeting = fill_placeholders(&config.greeting, variables);
    config.system_prompt = fill_placeholders(&config.system_prompt, variables);
    Arc::new(Agent {
        config,
        stt: agent.stt.clone(),
        llm: agent.llm.clone(),
        tts: agent.tts.clone(),
        fallback_audio_8k: agent.fallback_audio_8k.clone(),
    })
}

/// The report of an outbound call that ended before the answer.
fn unanswered(outcome: Outcome, status: Option<u16>, cause: String) -> CallReport {
    let hangup = match outcome {
        Outcome::Canceled => HangupCause::OperatorHangup,
        _ => HangupCause::Rejected,
    };
    let mut report = CallReport::unanswered(hangup, status.unwrap_or(0));
    report.outbound = Some(OutboundEnd {
        outcome: outcome.as_str(),
        cause,
    });
    report
}

impl CallManager {
    /// Places `call` through `sip` and returns its control (cancel before
    /// the answer, hang up after). Returns at once: the call's progress is
    /// followed on a task of the current actix system and reported to its
    /// lifecycle; on answer the agent runs in a [`CallActor`] on one of the
    /// manager's arbiters.
    ///
    /// Errors: no free RTP port, or the SIP client refused the request; the
    /// lifecycle then hears the call `failed` (cause `unavailable` /
    /// `rejected`).
    pub fn originate(
        &self,
        sip: &SipServer,
        mut call: Originate,
    ) -> Result<OutboundControl, OriginateError> {
        let fail = |lifecycle: &mut Option<Box<dyn CallLifecycle>>, cause: &str| {
            if let Some(mut l) = lifecycle.take() {
                l.ended(unanswered(Outcome::Failed, None, cause.to_owned()));
            }
        };
        let (socket, lease) = match self.services.rtp_ports.bind(self.services.rtp_bind_ip) {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "no RTP port for an outbound call");
                fail(&mut call.lifecycle, "unavailable");
                return Err(OriginateError::NoRtpPort);
            }
        };
        let mut request = OutboundRequest::new(
            call.request_uri.clone(),
            call.from.clone(),
            call.trunk,
            SocketAddr::new(self.services.public_ip, lease.port()),
        );
        request.transport = call.transport;
        request.credentials = call.credentials.take();
        request.ring_timeout = call.ring_timeout;
        let handle = match sip.place_call(request) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, request_uri = %call.request_uri, "outbound call refused by the SIP client");
                fail(&mut call.lifecycle, parla_sip::uac::cause::REJECTED);
                return Err(e.into());
            }
        };
        let control = handle.control.clone();
        let this = self.clone();
        actix_rt::spawn(async move {
            let parla_sip::server::OutboundCallHandle {
                call_id,
                mut events,
                control,
            } = handle;
            let mut lifecycle = call.lifecycle.take();
            let mut rang = false;
            while let Some(event) = events.recv().await {
                match event {
                    UacEvent::Dialing { call_id } => {
                        if let Some(l) = lifecycle.as_mut() {
                            l.dialing(&call_id);
                        }
                    }
                    UacEvent::Ringing { .. } | UacEvent::EarlyMedia { .. } => {
                        // Early media (ringback) is ignored: the agent waits for the answer.
                        if !rang {
                            rang = true;
                            if let Some(l) = lifecycle.as_mut() {
                                l.ringing();
                            }
                        }
                    }
                    UacEvent::Answered { remote_audio, .. } => {
                        tracing::info!(%call_id, agent = %call.agent.config.name, codec = ?remote_audio.codec, rtp_port = lease.port(), "outbound call answered");
                        if let Some(l) = lifecycle.as_mut() {
                            l.answered(SystemTime::now());
                        }
                        let setup = CallSetup {
                            call_id,
                            agent: personalised(&call.agent, &call.variables),
                            handle: Signalling::Outbound(control),
                            events: SignalEvents::Outbound(events),
                            socket,
                            lease,
                            codec: g711_of(remote_audio.codec),
                            audio_payload_type: remote_audio.payload_type,
                            dtmf_payload_type: remote_audio.dtmf_payload_type,
                            remote_rtp: remote_audio.addr,
                            services: this.services.clone(),
                            lifecycle,
                            caller_sends: remote_audio.direction.sends(),
                            slots: call.slots,
                        };
                        let arbiter = this.arbiters
                            [this.next.fetch_add(1, Ordering::Relaxed) % this.arbiters.len()]
                        .clone();
                        // The greeting starts when the actor does (see
                        // `CallActor::started`, the AMD hook).
                        CallActor::start_in_arbiter(&arbiter, move |_ctx| CallActor::new(setup));
                        return;
                    }
                    UacEvent::Ended {
                        outcome,
                        status,
                        cause,
                        detail,
                        ..
                    } => {
                        tracing::info!(%call_id, outcome = %outcome, ?status, %cause, %detail, "outbound call ended before the answer");
                        if let Some(mut l) = lifecycle.take() {
                            l.ended(unanswered(outcome, status, cause));
                        }
                        return;
                    }
                }
            }
            // The SIP server went away without an end.
            if let Some(mut l) = lifecycle.take() {
                l.ended(unanswered(
                    Outcome::Failed,
                    None,
                    parla_sip::uac::cause::SHUTDOWN.to_owned(),
                ));
            }
        });
        Ok(control)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn placeholders_are_filled_and_unknown_ones_emptied() {
        let v = vars(&[("name", "Ana"), ("day", "Monday")]);
        assert_eq!(
            fill_placeholders("Hello {{name}}, see you {{ day }}.", &v),
            "Hello Ana, see you Monday."
        );
        assert_eq!(
            fill_placeholders("Hi {{unknown}}!", &v),
            "Hi !",
            "unknown placeholders are left empty"
        );
        assert_eq!(fill_placeholders("{{name}}{{name}}", &v), "AnaAna");
    }

    #[test]
    fn other_braces_are_kept() {
        let v = vars(&[("name", "Ana")]);
        assert_eq!(
            fill_placeholders("a {{ not valid! }} b", &v),
            "a {{ not valid! }} b"
        );
        assert_eq!(fill_placeholders("open {{name", &v), "open {{name");
        assert_eq!(fill_placeholders("{{{name}}}", &v), "{Ana}");
        assert_eq!(fill_placeholders("{}", &v), "{}");
    }

    #[test]
    fn values_are_capped() {
        let long = "x".repeat(1000);
        let v = vars(&[("name", long.as_str())]);
        assert_eq!(
            fill_placeholders("{{name}}", &v).len(),
            MAX_PLACEHOLDER_VALUE_CHARS
        );
    }
}
