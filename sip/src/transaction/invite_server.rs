//! INVITE server transaction, RFC 3261 §17.2.1 (Figure 7), with the
//! "Accepted" state of RFC 6026 §7.1 after a 2xx.

use std::time::Instant;

use super::{check_status, earliest, Backoff, Reliability, TimerConfig, TransactionError};

/// States of the INVITE server transaction (RFC 3261 Figure 7, RFC 6026
/// Figure 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteServerState {
    /// INVITE received, no final response yet (provisional responses may
    /// have been sent).
    Proceeding,
    /// A 3xx–6xx was sent; waiting for the ACK (Timers G and H).
    Completed,
    /// The ACK for the 3xx–6xx arrived; absorbing ACK retransmissions
    /// (Timer I).
    Confirmed,
    /// A 2xx was sent (RFC 6026 §7.1): INVITE retransmissions are absorbed,
    /// the TU retransmits the 2xx itself (§13.3.1.4) and ACKs go to the TU
    /// (Timer L).
    Accepted,
    /// Finished; the transaction can be destroyed.
    Terminated,
}

impl InviteServerState {
    /// Static name for logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            Self::Proceeding => "Proceeding",
            Self::Completed => "Completed",
            Self::Confirmed => "Confirmed",
            Self::Accepted => "Accepted",
            Self::Terminated => "Terminated",
        }
    }
}

/// What an ACK matching this transaction means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// First ACK for our 3xx–6xx: now Confirmed.
    Confirmed,
    /// Retransmitted ACK (already Confirmed): absorbed.
    Absorbed,
    /// Not an ACK this transaction consumes (no non-2xx final sent): the ACK
    /// belongs to the TU (ACK for a 2xx, RFC 3261 §13.3.1.4 / RFC 6026).
    PassToTu,
}

/// Action requested by [`InviteServerTransaction::on_timer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InviteServerTimeout {
    /// Timer G: retransmit the final response (these bytes).
    Retransmit(Vec<u8>),
    /// Timer H: no ACK within 64*T1; the transaction is Terminated and the
    /// TU should be told (RFC 3261 §17.2.1).
    AckTimeout,
    /// Timer I or L: the transaction is Terminated normally.
    Terminated,
}

/// RFC 3261 §17.2.1 INVITE server transaction (sans-IO).
#[derive(Debug, Clone)]
pub struct InviteServerTransaction {
    state: InviteServerState,
    reliability: Reliability,
    timers: TimerConfig,
    last_response: Option<Vec<u8>>,
    last_status: Option<u16>,
    /// Timer G: final response retransmit (unreliable transports only).
    timer_g: Option<Backoff>,
    /// Timer H: wait for ACK, 64*T1.
    timer_h: Option<Instant>,
    /// Timer I: absorb ACK retransmissions, T4 (0 on reliable).
    timer_i: Option<Instant>,
    /// Timer L (RFC 6026): absorb INVITE retransmissions after a 2xx, 64*T1.
    timer_l: Option<Instant>,
}

impl InviteServerTransaction {
    /// Creates the transaction for a new INVITE, in state Proceeding.
    pub fn new(reliability: Reliability, timers: TimerConfig) -> Self {
        Self {
            state: InviteServerState::Proceeding,
            reliability,
            timers,
            last_response: None,
            last_status: None,
            timer_g: None,
            timer_h: None,
            timer_i: None,
            timer_l: None,
        }
    }

    /// Current state.
    pub fn state(&self) -> InviteServerState {
        self.state
    }

    /// Status of the last response sent, if any.
    pub fn last_status(&self) -> Option<u16> {
        self.last_status
    }

    /// Whether a final response (≥ 200) was sent.
    pub fn has_final(&self) -> bool {
        self.last_status.is_some_and(|s| s >= 200)
    }

    /// The TU sends a response; the caller transmits `bytes` itself.
    ///
    /// * Proceeding + 1xx → Proceeding.
    /// * Proceeding + 2xx → Accepted, Timer L = 64*T1 (RFC 6026).
    /// * Proceeding + 3xx–6xx → Completed, Timer G = T1 (unreliable only),
    ///   Timer H = 64*T1.
    /// * Accepted + 2xx → stays Accepted (TU retransmission, §13.3.1.4).
    pub fn send_response(
        &mut self,
        now: Instant,
        status: u16,
        bytes: Vec<u8>,
    ) -> Result<(), TransactionError> {
        check_status(status)?;
        let invalid = TransactionError::InvalidState {
            status,
            state: self.state.name(),
        };
        match (self.state, status) {
            (InviteServerState::Proceeding, 100..=199) => {}
            (InviteServerState::Proceeding, 200..=299) => {
                self.state = InviteServerState::Accepted;
                self.timer_l = Some(now + self.timers.t1x64());
            }
            (InviteServerState::Proceeding, _) => {
                self.state = InviteServerState::Completed;
                if !self.reliability.is_reliable() {
                    self.timer_g = Some(Backoff::start(now, self.timers.t1, self.timers.t2));
                }
                self.timer_h = Some(now + self.timers.t1x64());
            }
            (InviteServerState::Accepted, 200..=299) => {}
            _ => return Err(invalid),
        }
        self.last_status = Some(status);
        self.last_response = Some(bytes);
        Ok(())
    }

    /// A retransmission of the INVITE arrived (RFC 3261 §17.2.1): in
    /// Proceeding and Completed the last response is sent again (returned
    /// here); in Accepted and Confirmed it is absorbed (`None`).
    pub fn on_request_retransmission(&self) -> Option<Vec<u8>> {
        match self.state {
            InviteServerState::Proceeding | InviteServerState::Completed => {
                self.last_response.clone()
            }
            _ => None,
        }
    }

    /// An ACK matched this transaction (RFC 3261 §17.2.1).
    /// Completed → Confirmed with Timer I = T4 (0 on reliable transports).
    pub fn on_ack(&mut self, now: Instant) -> AckOutcome {
        match self.state {
            InviteServerState::Completed => {
                self.state = InviteServerState::Confirmed;
                self.timer_g = None;
                self.timer_h = None;
                let linger = if self.reliability.is_reliable() {
                    std::time::Duration::ZERO
                } else {
                    self.timers.t4
                };
                self.timer_i = Some(now + linger);
                AckOutcome::Confirmed
            }
            InviteServerState::Confirmed => AckOutcome::Absorbed,
            InviteServerState::Terminated => AckOutcome::Absorbed,
            InviteServerState::Proceeding | InviteServerState::Accepted => AckOutcome::PassToTu,
        }
    }

    /// The transport reported a fatal error for this transaction
    /// (RFC 3261 §17.2.4): go straight to Terminated.
    pub fn on_transport_error(&mut self) {
        self.terminate();
    }

    /// Processes every timer due at `now`. Timer H has priority over a
    /// simultaneously due Timer G.
    pub fn on_timer(&mut self, now: Instant) -> Option<InviteServerTimeout> {
        let due = |t: Option<Instant>| t.is_some_and(|t| now >= t);
        match self.state {
            InviteServerState::Completed => {
                if due(self.timer_h) {
                    self.terminate();
                    return Some(InviteServerTimeout::AckTimeout);
                }
                if let Some(g) = self.timer_g.as_mut() {
                    if g.is_due(now) {
                        g.double(now);
                        return self
                            .last_response
                            .clone()
                            .map(InviteServerTimeout::Retransmit);
                    }
                }
                None
            }
            InviteServerState::Confirmed if due(self.timer_i) => {
                self.terminate();
                Some(InviteServerTimeout::Terminated)
            }
            InviteServerState::Accepted if due(self.timer_l) => {
                self.terminate();
                Some(InviteServerTimeout::Terminated)
            }
            _ => None,
        }
    }

    /// The earliest armed timer, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.state {
            InviteServerState::Completed => earliest([self.timer_g.map(|g| g.next), self.timer_h]),
            InviteServerState::Confirmed => self.timer_i,
            InviteServerState::Accepted => self.timer_l,
            _ => None,
        }
    }

    fn terminate(&mut self) {
        self.state = InviteServerState::Terminated;
        self.timer_g = None;
        self.timer_h = None;
        self.timer_i = None;
        self.timer_l = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const T1: Duration = Duration::from_millis(500);

    fn udp() -> InviteServerTransaction {
        InviteServerTransaction::new(Reliability::Unreliable, TimerConfig::default())
    }

    fn completed(now: Instant) -> InviteServerTransaction {
        let mut tx = udp();
        tx.send_response(now, 486, b"486".to_vec()).unwrap();
        tx
    }

    #[test]
    fn starts_in_proceeding_without_timers() {
        let tx = udp();
        assert_eq!(tx.state(), InviteServerState::Proceeding);
        assert_eq!(tx.next_deadline(), None);
    }

    #[test]
    fn proceeding_1xx_stays_and_retransmission_resends_it() {
        let now = Instant::now();
        let mut tx = udp();
        assert_eq!(tx.on_request_retransmission(), None, "nothing sent yet");
        tx.send_response(now, 100, b"100".to_vec()).unwrap();
        tx.send_response(now, 180, b"180".to_vec()).unwrap();
        assert_eq!(tx.state(), InviteServerState::Proceeding);
        assert_eq!(tx.on_request_retransmission(), Some(b"180".to_vec()));
    }

    #[test]
    fn proceeding_2xx_goes_accepted_and_timer_l_terminates() {
        let now = Instant::now();
        let mut tx = udp();
        tx.send_response(now, 200, b"200".to_vec()).unwrap();
        assert_eq!(tx.state(), InviteServerState::Accepted);
        // INVITE retransmissions are absorbed; the TU owns 2xx retransmission.
        assert_eq!(tx.on_request_retransmission(), None);
        // ACK (2xx) belongs to the TU.
        assert_eq!(tx.on_ack(now), AckOutcome::PassToTu);
        // TU retransmits the 2xx through the transaction.
        tx.send_response(now, 200, b"200".to_vec()).unwrap();
        assert_eq!(tx.next_deadline(), Some(now + T1 * 64));
        assert_eq!(tx.on_timer(now + T1 * 63), None);
        assert_eq!(
            tx.on_timer(now + T1 * 64),
            Some(InviteServerTimeout::Terminated)
        );
        assert_eq!(tx.state(), InviteServerState::Terminated);
    }

    #[test]
    fn proceeding_final_goes_completed_with_g_and_h() {
        let now = Instant::now();
        let tx = completed(now);
        assert_eq!(tx.state(), InviteServerState::Completed);
        assert_eq!(tx.next_deadline(), Some(now + T1));
    }

    #[test]
    fn completed_timer_g_doubles_up_to_t2() {
        let now = Instant::now();
        let mut tx = completed(now);
        let mut t = now;
        let mut intervals = Vec::new();
        for _ in 0..6 {
            let next = tx.next_deadline().unwrap();
            intervals.push(next - t);
            t = next;
            assert_eq!(
                tx.on_timer(t),
                Some(InviteServerTimeout::Retransmit(b"486".to_vec()))
            );
        }
        let ms: Vec<u128> = intervals.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![500, 1000, 2000, 4000, 4000, 4000]);
    }

    #[test]
    fn completed_retransmitted_invite_resends_final() {
        let now = Instant::now();
        let tx = completed(now);
        assert_eq!(tx.on_request_retransmission(), Some(b"486".to_vec()));
    }

    #[test]
    fn completed_timer_h_times_out_without_ack() {
        let now = Instant::now();
        let mut tx = completed(now);
        assert_eq!(
            tx.on_timer(now + T1 * 64),
            Some(InviteServerTimeout::AckTimeout)
        );
        assert_eq!(tx.state(), InviteServerState::Terminated);
        assert_eq!(tx.next_deadline(), None);
    }

    #[test]
    fn completed_ack_confirms_then_timer_i_terminates() {
        let now = Instant::now();
        let mut tx = completed(now);
        assert_eq!(tx.on_ack(now), AckOutcome::Confirmed);
        assert_eq!(tx.state(), InviteServerState::Confirmed);
        assert_eq!(tx.on_ack(now), AckOutcome::Absorbed);
        assert_eq!(tx.on_request_retransmission(), None);
        assert_eq!(tx.next_deadline(), Some(now + Duration::from_secs(5)));
        assert_eq!(
            tx.on_timer(now + Duration::from_secs(5)),
            Some(InviteServerTimeout::Terminated)
        );
        assert_eq!(tx.state(), InviteServerState::Terminated);
    }

    #[test]
    fn reliable_has_no_timer_g_and_zero_timer_i() {
        let now = Instant::now();
        let mut tx = InviteServerTransaction::new(Reliability::Reliable, TimerConfig::default());
        tx.send_response(now, 404, b"404".to_vec()).unwrap();
        assert_eq!(tx.next_deadline(), Some(now + T1 * 64), "only Timer H");
        assert_eq!(tx.on_ack(now), AckOutcome::Confirmed);
        assert_eq!(tx.on_timer(now), Some(InviteServerTimeout::Terminated));
    }

    #[test]
    fn second_final_response_is_rejected() {
        let now = Instant::now();
        let mut tx = completed(now);
        let err = tx.send_response(now, 200, vec![]).unwrap_err();
        assert_eq!(
            err,
            TransactionError::InvalidState {
                status: 200,
                state: "Completed"
            }
        );
        assert_eq!(
            tx.send_response(now, 700, vec![]),
            Err(TransactionError::InvalidStatus(700))
        );
    }

    #[test]
    fn transport_error_terminates() {
        let now = Instant::now();
        let mut tx = completed(now);
        tx.on_transport_error();
        assert_eq!(tx.state(), InviteServerState::Terminated);
        assert_eq!(tx.on_timer(now + T1 * 64), None);
    }
}
