//! Non-INVITE client transaction, RFC 3261 §17.1.2 (Figure 6). Used for the
//! BYE we send when the application hangs up.

use std::time::{Duration, Instant};

use super::{earliest, Backoff, Reliability, TimerConfig};

/// States of the non-INVITE client transaction (RFC 3261 Figure 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonInviteClientState {
    /// Request sent, no response yet (Timers E and F).
    Trying,
    /// A provisional response arrived (Timer E now fires every T2).
    Proceeding,
    /// A final response arrived; absorbing its retransmissions (Timer K).
    Completed,
    /// Finished; the transaction can be destroyed.
    Terminated,
}

/// What a response means for the transaction user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientResponseOutcome {
    /// Pass the response to the TU (first 1xx/final).
    PassToTu,
    /// Retransmission of a final response, absorbed.
    Absorbed,
}

/// Action requested by [`NonInviteClientTransaction::on_timer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NonInviteClientTimeout {
    /// Timer E: retransmit the request (these bytes).
    Retransmit(Vec<u8>),
    /// Timer F: no final response within 64*T1; Terminated, tell the TU.
    TimedOut,
    /// Timer K: Terminated normally.
    Terminated,
}

/// RFC 3261 §17.1.2 non-INVITE client transaction (sans-IO).
#[derive(Debug, Clone)]
pub struct NonInviteClientTransaction {
    state: NonInviteClientState,
    reliability: Reliability,
    timers: TimerConfig,
    request: Vec<u8>,
    /// Timer E: request retransmit (unreliable only).
    timer_e: Option<Backoff>,
    /// Timer F: transaction timeout, 64*T1.
    timer_f: Option<Instant>,
    /// Timer K: absorb response retransmissions, T4 (0 on reliable).
    timer_k: Option<Instant>,
}

impl NonInviteClientTransaction {
    /// Starts the transaction; the caller sends `request` once now.
    /// Timer E = T1 (unreliable only), Timer F = 64*T1.
    pub fn new(
        now: Instant,
        reliability: Reliability,
        timers: TimerConfig,
        request: Vec<u8>,
    ) -> Self {
        let timer_e =
            (!reliability.is_reliable()).then(|| Backoff::start(now, timers.t1, timers.t2));
        Self {
            state: NonInviteClientState::Trying,
            reliability,
            timers,
            request,
            timer_e,
            timer_f: Some(now + timers.t1x64()),
            timer_k: None,
        }
    }

    /// Current state.
    pub fn state(&self) -> NonInviteClientState {
        self.state
    }

    /// A response matched this transaction (RFC 3261 §17.1.3).
    pub fn on_response(&mut self, now: Instant, status: u16) -> ClientResponseOutcome {
        match self.state {
            NonInviteClientState::Trying | NonInviteClientState::Proceeding => {
                if status < 200 {
                    self.state = NonInviteClientState::Proceeding;
                } else {
                    self.state = NonInviteClientState::Completed;
                    self.timer_e = None;
                    self.timer_f = None;
                    let linger = if self.reliability.is_reliable() {
                        Duration::ZERO
                    } else {
                        self.timers.t4
                    };
                    self.timer_k = Some(now + linger);
                }
                ClientResponseOutcome::PassToTu
            }
            NonInviteClientState::Completed | NonInviteClientState::Terminated => {
                ClientResponseOutcome::Absorbed
            }
        }
    }

    /// Fatal transport error (RFC 3261 §17.1.4): Terminated.
    pub fn on_transport_error(&mut self) {
        self.terminate();
    }

    /// Processes the timers due at `now`; Timer F has priority over E.
    pub fn on_timer(&mut self, now: Instant) -> Option<NonInviteClientTimeout> {
        match self.state {
            NonInviteClientState::Trying | NonInviteClientState::Proceeding => {
                if self.timer_f.is_some_and(|f| now >= f) {
                    self.terminate();
                    return Some(NonInviteClientTimeout::TimedOut);
                }
                let proceeding = self.state == NonInviteClientState::Proceeding;
                let t2 = self.timers.t2;
                if let Some(e) = self.timer_e.as_mut() {
                    if e.is_due(now) {
                        if proceeding {
                            e.rearm(now, t2);
                        } else {
                            e.double(now);
                        }
                        return Some(NonInviteClientTimeout::Retransmit(self.request.clone()));
                    }
                }
                None
            }
            NonInviteClientState::Completed if self.timer_k.is_some_and(|k| now >= k) => {
                self.terminate();
                Some(NonInviteClientTimeout::Terminated)
            }
            _ => None,
        }
    }

    /// The earliest armed timer, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.state {
            NonInviteClientState::Trying | NonInviteClientState::Proceeding => {
                earliest([self.timer_e.map(|e| e.next), self.timer_f])
            }
            NonInviteClientState::Completed => self.timer_k,
            NonInviteClientState::Terminated => None,
        }
    }

    fn terminate(&mut self) {
        self.state = NonInviteClientState::Terminated;
        self.timer_e = None;
        self.timer_f = None;
        self.timer_k = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: Duration = Duration::from_millis(500);

    fn udp(now: Instant) -> NonInviteClientTransaction {
        NonInviteClientTransaction::new(
            now,
            Reliability::Unreliable,
            TimerConfig::default(),
            b"BYE".to_vec(),
        )
    }

    #[test]
    fn trying_timer_e_doubles_to_t2() {
        let now = Instant::now();
        let mut tx = udp(now);
        assert_eq!(tx.state(), NonInviteClientState::Trying);
        let mut t = now;
        let mut ms = Vec::new();
        for _ in 0..5 {
            let next = tx.next_deadline().unwrap();
            ms.push((next - t).as_millis());
            t = next;
            assert_eq!(
                tx.on_timer(t),
                Some(NonInviteClientTimeout::Retransmit(b"BYE".to_vec()))
            );
        }
        assert_eq!(ms, vec![500, 1000, 2000, 4000, 4000]);
    }

    #[test]
    fn trying_provisional_goes_proceeding_with_e_at_t2() {
        let now = Instant::now();
        let mut tx = udp(now);
        assert_eq!(tx.on_response(now, 100), ClientResponseOutcome::PassToTu);
        assert_eq!(tx.state(), NonInviteClientState::Proceeding);
        let first = tx.next_deadline().unwrap();
        assert_eq!(first, now + T1);
        assert!(tx.on_timer(first).is_some());
        assert_eq!(tx.next_deadline(), Some(first + Duration::from_secs(4)));
    }

    #[test]
    fn final_response_completes_and_timer_k_terminates() {
        let now = Instant::now();
        let mut tx = udp(now);
        assert_eq!(tx.on_response(now, 200), ClientResponseOutcome::PassToTu);
        assert_eq!(tx.state(), NonInviteClientState::Completed);
        assert_eq!(tx.on_response(now, 200), ClientResponseOutcome::Absorbed);
        assert_eq!(tx.next_deadline(), Some(now + Duration::from_secs(5)));
        assert_eq!(
            tx.on_timer(now + Duration::from_secs(5)),
            Some(NonInviteClientTimeout::Terminated)
        );
        assert_eq!(tx.state(), NonInviteClientState::Terminated);
    }

    #[test]
    fn proceeding_final_completes() {
        let now = Instant::now();
        let mut tx = udp(now);
        tx.on_response(now, 180);
        assert_eq!(tx.on_response(now, 481), ClientResponseOutcome::PassToTu);
        assert_eq!(tx.state(), NonInviteClientState::Completed);
    }

    #[test]
    fn timer_f_times_out() {
        let now = Instant::now();
        let mut tx = udp(now);
        assert_eq!(
            tx.on_timer(now + T1 * 64),
            Some(NonInviteClientTimeout::TimedOut)
        );
        assert_eq!(tx.state(), NonInviteClientState::Terminated);
        assert_eq!(tx.next_deadline(), None);
    }

    #[test]
    fn proceeding_timer_f_times_out() {
        let now = Instant::now();
        let mut tx = udp(now);
        tx.on_response(now, 100);
        let mut retransmits = 0;
        while let Some(at) = tx.next_deadline() {
            match tx.on_timer(at) {
                Some(NonInviteClientTimeout::Retransmit(_)) => retransmits += 1,
                Some(NonInviteClientTimeout::TimedOut) => {
                    assert_eq!(at, now + T1 * 64);
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(tx.state(), NonInviteClientState::Terminated);
        assert_eq!(retransmits, 8, "0.5 s, then every T2 until 32 s");
    }

    #[test]
    fn reliable_has_only_timer_f_and_zero_k() {
        let now = Instant::now();
        let mut tx = NonInviteClientTransaction::new(
            now,
            Reliability::Reliable,
            TimerConfig::default(),
            vec![],
        );
        assert_eq!(tx.next_deadline(), Some(now + T1 * 64));
        tx.on_response(now, 200);
        assert_eq!(tx.on_timer(now), Some(NonInviteClientTimeout::Terminated));
    }

    #[test]
    fn transport_error_terminates() {
        let now = Instant::now();
        let mut tx = udp(now);
        tx.on_transport_error();
        assert_eq!(tx.state(), NonInviteClientState::Terminated);
    }
}
