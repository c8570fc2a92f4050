//! What one call measured ([`analyze`] of the caller's outcome) and the
//! aggregate over all calls ([`Agg`]) that the summary is built from.

use std::time::Duration;

use hdrhistogram::Histogram;
use parla_testkit::caller::{CallOutcome, EndedBy};

use super::{Mode, RunConfig};
use crate::report::{round2, CallCounts, RtpSummary, TurnCounts};

#[derive(Debug, Default)]
pub(super) struct CallResult {
    pub(super) failure: Option<String>,
    pub(super) answered: bool,
    pub(super) setup_ms: Option<f64>,
    pub(super) greeting_ms: Option<f64>,
    pub(super) v2v_ms: Vec<f64>,
    pub(super) echo_ms: Vec<f64>,
    pub(super) played: u64,
    pub(super) barge_in: bool,
    pub(super) barge_over_speech: bool,
    pub(super) barge_stop_ms: Option<f64>,
    pub(super) barge_stopped: bool,
    pub(super) rtp_received: u64,
    pub(super) rtp_sent: u64,
    pub(super) rtp_lost: u64,
    pub(super) rtp_reordered: u64,
    pub(super) jitter_ms: Option<f64>,
    pub(super) jitter_max_ms: f64,
}

/// Agent speech spans closer than this are one stretch of talk (for the
/// barge-in stop time).
pub(super) const TALK_BRIDGE: Duration = Duration::from_millis(300);

pub(super) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub(super) fn analyze(cfg: &RunConfig, outcome: &CallOutcome) -> CallResult {
    let mut r = CallResult {
        rtp_received: outcome.rtp_packets_received,
        rtp_sent: outcome.rtp_packets_sent,
        rtp_lost: outcome.rtp_lost,
        rtp_reordered: outcome.rtp_reordered,
        jitter_max_ms: outcome.rtp_jitter_max_ms,
        ..Default::default()
    };
    if outcome.rtp_packets_received > 1 {
        r.jitter_ms = Some(outcome.rtp_jitter_ms);
    }
    if !(200..300).contains(&outcome.final_status) {
        r.failure = Some(match outcome.final_status {
            408 if outcome.setup_time.is_none() => "no answer (no final response to INVITE)".into(),
            code => format!("rejected {code}"),
        });
        return r;
    }
    r.answered = true;
    r.setup_ms = outcome.setup_time.map(ms);
    if cfg.mode == Mode::Agent {
        r.greeting_ms = outcome.first_agent_audio.map(ms);
    }
    // The plays, in order: (start, end).
    let mut plays: Vec<(Duration, Option<Duration>)> = Vec::new();
    for (t, e) in &outcome.caller_events {
        match e.as_str() {
            "play start" => plays.push((*t, None)),
            "play end" => {
                if let Some(p) = plays.last_mut() {
                    p.1 = Some(*t);
                }
            }
            _ => {}
        }
    }
    r.played = plays.len() as u64;
    let barge_index = match (cfg.mode, cfg.barge_in) {
        (Mode::Agent, true) => Some(cfg.turns),
        _ => None,
    }
    .map(|i| if cfg.turns == 0 { 0 } else { i });
    for (i, (start, end)) in plays.iter().enumerate() {
        let next_start = plays.get(i + 1).map(|p| p.0);
        match cfg.mode {
            Mode::Echo => {
                if let Some((s, _)) = outcome.agent_speech_after(*start) {
                    if next_start.is_none_or(|n| s < n) {
                        r.echo_ms.push(ms(s - *start));
                    }
                }
            }
            Mode::Agent => {
                if let Some(end) = end {
                    if let Some((s, _)) = outcome.agent_speech_after(*end) {
                        if next_start.is_none_or(|n| s < n) {
                            r.v2v_ms.push(ms(s - *end));
                        }
                    }
                }
                if Some(i) == barge_index {
                    r.barge_in = true;
                    if let Some(silent) = outcome.agent_silent_after(*start, TALK_BRIDGE) {
                        r.barge_over_speech = true;
                        r.barge_stop_ms = Some(ms(silent.saturating_sub(*start)));
                        r.barge_stopped = end.is_none_or(|e| silent <= e);
                    }
                }
            }
        }
    }
    // Why an answered call failed.
    let event = |what: &str| outcome.caller_events.iter().position(|(_, e)| e == what);
    let first_play = event("play start");
    let hung_up = event("hangup").is_some();
    r.failure = if outcome.ended_by == EndedBy::Agent && !hung_up {
        Some("agent hung up early".into())
    } else if outcome.ended_by == EndedBy::Timeout {
        Some("call exceeded max duration".into())
    } else if let Some(i) = event("timeout waiting for agent speech") {
        if first_play.is_none_or(|p| i < p) {
            Some("no greeting".into())
        } else {
            Some("no reply".into())
        }
    } else if outcome
        .caller_events
        .iter()
        .any(|(_, e)| e == "timeout waiting for agent silence")
    {
        Some("agent never fell silent".into())
    } else if cfg.mode == Mode::Agent && r.v2v_ms.len() < cfg.turns {
        Some("no reply".into())
    } else {
        None
    };
    r
}

pub(super) struct Agg {
    pub(super) counts: CallCounts,
    pub(super) turns: TurnCounts,
    pub(super) setup: Histogram<u64>,
    pub(super) greeting: Histogram<u64>,
    pub(super) v2v: Histogram<u64>,
    pub(super) barge: Histogram<u64>,
    pub(super) echo: Histogram<u64>,
    /// Jitter in 1/100 ms.
    pub(super) jitter: Histogram<u64>,
    pub(super) rtp: RtpSummary,
    pub(super) samples: std::collections::BTreeMap<String, Vec<f64>>,
}

pub(super) fn hist() -> Histogram<u64> {
    Histogram::new(3).expect("valid")
}

pub(super) fn rec(h: &mut Histogram<u64>, v_ms: f64) {
    let _ = h.record((v_ms * 1000.0).round().max(0.0) as u64);
}

impl Agg {
    pub(super) fn new() -> Self {
        Agg {
            counts: CallCounts::default(),
            turns: TurnCounts::default(),
            setup: hist(),
            greeting: hist(),
            v2v: hist(),
            barge: hist(),
            echo: hist(),
            jitter: hist(),
            rtp: RtpSummary::default(),
            samples: Default::default(),
        }
    }

    pub(super) fn add(&mut self, r: CallResult) {
        if r.answered {
            self.counts.answered += 1;
        }
        match r.failure {
            Some(reason) => {
                self.counts.failed += 1;
                *self.counts.failures.entry(reason).or_default() += 1;
            }
            None => self.counts.completed += 1,
        }
        let mut keep = |key: &str, v: f64| {
            self.samples
                .entry(key.to_string())
                .or_default()
                .push(round2(v));
        };
        if let Some(v) = r.setup_ms {
            keep("setup_ms", v);
        }
        if let Some(v) = r.greeting_ms {
            keep("greeting_ms", v);
        }
        for v in &r.v2v_ms {
            keep("v2v_ms", *v);
        }
        for v in &r.echo_ms {
            keep("echo_delay_ms", *v);
        }
        if let Some(v) = r.barge_stop_ms {
            keep("barge_in_stop_ms", v);
        }
        if let Some(v) = r.setup_ms {
            rec(&mut self.setup, v);
        }
        if let Some(v) = r.greeting_ms {
            rec(&mut self.greeting, v);
        }
        for v in &r.v2v_ms {
            rec(&mut self.v2v, *v);
        }
        for v in &r.echo_ms {
            rec(&mut self.echo, *v);
        }
        if let Some(v) = r.barge_stop_ms {
            rec(&mut self.barge, v);
        }
        self.turns.played += r.played;
        self.turns.replied += r.v2v_ms.len() as u64;
        self.turns.barge_ins += r.barge_in as u64;
        self.turns.barge_ins_over_speech += r.barge_over_speech as u64;
        self.turns.barge_ins_stopped += r.barge_stopped as u64;
        self.rtp.packets_received += r.rtp_received;
        self.rtp.packets_sent += r.rtp_sent;
        self.rtp.lost += r.rtp_lost;
        self.rtp.reordered += r.rtp_reordered;
        self.rtp.jitter_max_ms = self.rtp.jitter_max_ms.max(r.jitter_max_ms);
        if let Some(j) = r.jitter_ms {
            let _ = self.jitter.record((j * 100.0).round() as u64);
        }
    }

    pub(super) fn fail(&mut self, reason: String) {
        self.counts.failed += 1;
        *self.counts.failures.entry(reason).or_default() += 1;
    }
}

/// Checks something listens at the target: sends an RFC 5626 CRLF
/// keep-alive (no SIP transaction, so nothing the target counts as a call)
/// and waits briefly for an ICMP "port unreachable", which means nothing is

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use parla_testkit::caller::Action;

    use super::*;
    use crate::runner::script;

    fn outcome(events: &[(u64, &str)], speech: &[(u64, u64)]) -> CallOutcome {
        let d = Duration::from_millis;
        CallOutcome {
            final_status: 200,
            retry_after: None,
            setup_time: Some(d(5)),
            agent_audio: Vec::new(),
            caller_events: events.iter().map(|(t, e)| (d(*t), e.to_string())).collect(),
            first_agent_audio: Some(d(400)),
            agent_speech: speech.iter().map(|(a, b)| (d(*a), d(*b))).collect(),
            rtp_packets_received: 100,
            rtp_packets_sent: 100,
            rtp_lost: 1,
            rtp_foreign_dropped: 0,
            rtp_reordered: 0,
            rtp_jitter_ms: 0.5,
            rtp_jitter_max_ms: 1.0,
            ended_by: EndedBy::Caller,
            sip_log: Vec::new(),
        }
    }

    #[test]
    fn measures_v2v_and_barge_in_from_events_and_speech_spans() {
        let mut cfg = RunConfig::new("127.0.0.1:5060".parse().unwrap(), vec![]);
        cfg.turns = 1;
        cfg.barge_in = true;
        let o = outcome(
            &[
                (2500, "heard agent silence"),
                (3000, "play start"),
                (5000, "play end"),
                (5600, "heard agent speech"),
                (6400, "play start"),
                (8400, "play end"),
                (9000, "heard agent speech"),
                (11000, "heard agent silence"),
                (11000, "hangup"),
            ],
            // greeting, reply (cut by the barge-in at 6.4 s → silent at 6.7 s), reply to the barge-in
            &[
                (400, 1500),
                (1550, 2000),
                (5600, 6500),
                (6550, 6700),
                (9000, 10200),
            ],
        );
        let r = analyze(&cfg, &o);
        assert_eq!(r.failure, None);
        assert_eq!(r.v2v_ms, vec![600.0, 600.0]);
        assert_eq!(r.greeting_ms, Some(400.0));
        assert!(r.barge_in && r.barge_over_speech && r.barge_stopped);
        assert_eq!(r.barge_stop_ms, Some(300.0));
        let s = script(&cfg, &[Arc::new(vec![0i16; 800])], 0);
        assert_eq!(
            s.iter().filter(|a| matches!(a, Action::Play(_))).count(),
            2,
            "one turn + one barge-in"
        );
    }

    #[test]
    fn classifies_failures() {
        let cfg = RunConfig::new("127.0.0.1:5060".parse().unwrap(), vec![]);
        let o = outcome(
            &[
                (15000, "timeout waiting for agent speech"),
                (15000, "hangup"),
            ],
            &[],
        );
        assert_eq!(analyze(&cfg, &o).failure.as_deref(), Some("no greeting"));
        let o = outcome(
            &[
                (2000, "heard agent silence"),
                (3000, "play start"),
                (5000, "play end"),
                (25000, "timeout waiting for agent speech"),
            ],
            &[(400, 1500)],
        );
        assert_eq!(analyze(&cfg, &o).failure.as_deref(), Some("no reply"));
        let mut o = outcome(&[], &[]);
        o.final_status = 486;
        o.setup_time = None;
        assert_eq!(analyze(&cfg, &o).failure.as_deref(), Some("rejected 486"));
        let mut o = outcome(&[(100, "agent bye")], &[]);
        o.ended_by = EndedBy::Agent;
        assert_eq!(
            analyze(&cfg, &o).failure.as_deref(),
            Some("agent hung up early")
        );
    }
}
