//! Non-INVITE server transaction, RFC 3261 §17.2.2 (Figure 8).

use std::time::{Duration, Instant};

use super::{check_status, Reliability, TimerConfig, TransactionError};

/// States of the non-INVITE server transaction (RFC 3261 Figure 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonInviteServerState {
    /// Request received, nothing sent yet: retransmissions are absorbed.
    Trying,
    /// A provisional response was sent: retransmissions get it again.
    Proceeding,
    /// A final response was sent: retransmissions get it again until
    /// Timer J (64*T1 on unreliable transports, 0 on reliable ones).
    Completed,
    /// Finished; the transaction can be destroyed.
    Terminated,
}

impl NonInviteServerState {
    /// Static name for logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            Self::Trying => "Trying",
            Self::Proceeding => "Proceeding",
            Self::Completed => "Completed",
            Self::Terminated => "Terminated",
        }
    }
}

/// RFC 3261 §17.2.2 non-INVITE server transaction (sans-IO).
#[derive(Debug, Clone)]
pub struct NonInviteServerTransaction {
    state: NonInviteServerState,
    reliability: Reliability,
    timers: TimerConfig,
    last_response: Option<Vec<u8>>,
    last_status: Option<u16>,
    /// Timer J: how long Completed absorbs retransmissions.
    timer_j: Option<Instant>,
}

impl NonInviteServerTransaction {
    /// Creates the transaction for a new request, in state Trying.
    pub fn new(reliability: Reliability, timers: TimerConfig) -> Self {
        Self {
            state: NonInviteServerState::Trying,
            reliability,
            timers,
            last_response: None,
            last_status: None,
            timer_j: None,
        }
    }

    /// Current state.
    pub fn state(&self) -> NonInviteServerState {
        self.state
    }

    /// Status of the last response sent, if any.
    pub fn last_status(&self) -> Option<u16> {
        self.last_status
    }

    /// The TU sends a response; the caller transmits `bytes` itself.
    ///
    /// * Trying/Proceeding + 1xx → Proceeding.
    /// * Trying/Proceeding + final → Completed, Timer J = 64*T1 (0 on
    ///   reliable transports).
    pub fn send_response(
        &mut self,
        now: Instant,
        status: u16,
        bytes: Vec<u8>,
    ) -> Result<(), TransactionError> {
        check_status(status)?;
        match self.state {
            NonInviteServerState::Trying | NonInviteServerState::Proceeding => {}
            state => {
                return Err(TransactionError::InvalidState {
                    status,
                    state: state.name(),
                })
            }
        }
        if status < 200 {
            self.state = NonInviteServerState::Proceeding;
        } else {
            self.state = NonInviteServerState::Completed;
            let linger = if self.reliability.is_reliable() {
                Duration::ZERO
            } else {
                self.timers.t1x64()
            };
            self.timer_j = Some(now + linger);
        }
        self.last_status = Some(status);
        self.last_response = Some(bytes);
        Ok(())
    }

    /// A retransmission of the request arrived: absorbed in Trying,
    /// answered with the last response in Proceeding and Completed.
    pub fn on_request_retransmission(&self) -> Option<Vec<u8>> {
        match self.state {
            NonInviteServerState::Proceeding | NonInviteServerState::Completed => {
                self.last_response.clone()
            }
            _ => None,
        }
    }

    /// Fatal transport error (RFC 3261 §17.2.4): Terminated.
    pub fn on_transport_error(&mut self) {
        self.state = NonInviteServerState::Terminated;
        self.timer_j = None;
    }

    /// Timer J: Completed → Terminated. Returns `true` when the transaction
    /// terminated at this call.
    pub fn on_timer(&mut self, now: Instant) -> bool {
        if self.state == NonInviteServerState::Completed && self.timer_j.is_some_and(|j| now >= j) {
            self.state = NonInviteServerState::Terminated;
            self.timer_j = None;
            return true;
        }
        false
    }

    /// The earliest armed timer, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.state {
            NonInviteServerState::Completed => self.timer_j,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: Duration = Duration::from_millis(500);

    fn udp() -> NonInviteServerTransaction {
        NonInviteServerTransaction::new(Reliability::Unreliable, TimerConfig::default())
    }

    #[test]
    fn trying_absorbs_retransmissions() {
        let tx = udp();
        assert_eq!(tx.state(), NonInviteServerState::Trying);
        assert_eq!(tx.on_request_retransmission(), None);
        assert_eq!(tx.next_deadline(), None);
    }

    #[test]
    fn trying_provisional_goes_proceeding_and_is_resent() {
        let now = Instant::now();
        let mut tx = udp();
        tx.send_response(now, 100, b"100".to_vec()).unwrap();
        assert_eq!(tx.state(), NonInviteServerState::Proceeding);
        assert_eq!(tx.on_request_retransmission(), Some(b"100".to_vec()));
    }

    #[test]
    fn proceeding_final_goes_completed() {
        let now = Instant::now();
        let mut tx = udp();
        tx.send_response(now, 100, b"100".to_vec()).unwrap();
        tx.send_response(now, 200, b"200".to_vec()).unwrap();
        assert_eq!(tx.state(), NonInviteServerState::Completed);
        assert_eq!(tx.on_request_retransmission(), Some(b"200".to_vec()));
    }

    #[test]
    fn trying_final_goes_completed_and_timer_j_terminates() {
        let now = Instant::now();
        let mut tx = udp();
        tx.send_response(now, 200, b"200".to_vec()).unwrap();
        assert_eq!(tx.state(), NonInviteServerState::Completed);
        assert_eq!(tx.next_deadline(), Some(now + T1 * 64));
        assert!(!tx.on_timer(now + T1 * 63));
        assert_eq!(tx.on_request_retransmission(), Some(b"200".to_vec()));
        assert!(tx.on_timer(now + T1 * 64));
        assert_eq!(tx.state(), NonInviteServerState::Terminated);
        assert_eq!(tx.on_request_retransmission(), None);
    }

    #[test]
    fn reliable_timer_j_is_zero() {
        let now = Instant::now();
        let mut tx = NonInviteServerTransaction::new(Reliability::Reliable, TimerConfig::default());
        tx.send_response(now, 481, b"481".to_vec()).unwrap();
        assert_eq!(tx.next_deadline(), Some(now));
        assert!(tx.on_timer(now));
    }

    #[test]
    fn completed_rejects_another_response() {
        let now = Instant::now();
        let mut tx = udp();
        tx.send_response(now, 200, vec![]).unwrap();
        assert!(matches!(
            tx.send_response(now, 500, vec![]),
            Err(TransactionError::InvalidState {
                status: 500,
                state: "Completed"
            })
        ));
    }

    #[test]
    fn transport_error_terminates() {
        let mut tx = udp();
        tx.on_transport_error();
        assert_eq!(tx.state(), NonInviteServerState::Terminated);
    }
}
