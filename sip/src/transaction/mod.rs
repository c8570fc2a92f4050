//! Sans-IO SIP transaction layer (RFC 3261 §17).
//!
//! Each state machine is a plain struct driven by the caller with an explicit
//! clock (`now: Instant`): it never performs IO, never sleeps and never reads
//! the system clock. The caller transmits the bytes the machine hands back,
//! asks [`next_deadline`](InviteServerTransaction::next_deadline) when to
//! wake it up, and calls `on_timer(now)` then.
//!
//! * [`InviteServerTransaction`] — RFC 3261 §17.2.1 (+ the RFC 6026
//!   "Accepted" state after a 2xx).
//! * [`NonInviteServerTransaction`] — RFC 3261 §17.2.2.
//! * [`InviteClientTransaction`] — RFC 3261 §17.1.1 (+ the RFC 6026
//!   "Accepted" state after a 2xx): our outbound INVITE.
//! * [`NonInviteClientTransaction`] — RFC 3261 §17.1.2 (our BYE, CANCEL).
//! * [`TransactionKey`] / [`ClientTransactionKey`] — matching rules of
//!   §17.2.3 (with the RFC 2543 fallback) and §17.1.3.

mod invite_client;
mod invite_server;
mod key;
mod non_invite_client;
mod non_invite_server;

use std::time::{Duration, Instant};

pub use invite_client::{
    ack_for_failure, InviteClientState, InviteClientTimeout, InviteClientTransaction,
    InviteResponseOutcome, TIMER_D_UNRELIABLE,
};
pub use invite_server::{
    AckOutcome, InviteServerState, InviteServerTimeout, InviteServerTransaction,
};
pub use key::{ClientTransactionKey, KeyError, MethodKey, TransactionKey, BRANCH_MAGIC_COOKIE};
pub use non_invite_client::{
    ClientResponseOutcome, NonInviteClientState, NonInviteClientTimeout, NonInviteClientTransaction,
};
pub use non_invite_server::{NonInviteServerState, NonInviteServerTransaction};

/// Default T1, the RTT estimate: 500 ms (RFC 3261 §17.1.1.1, Table 4).
pub const DEFAULT_T1: Duration = Duration::from_millis(500);
/// Default T2, the maximum retransmit interval for non-INVITE requests and
/// INVITE responses: 4 s (RFC 3261 Table 4).
pub const DEFAULT_T2: Duration = Duration::from_secs(4);
/// Default T4, the maximum time a message stays in the network: 5 s
/// (RFC 3261 Table 4).
pub const DEFAULT_T4: Duration = Duration::from_secs(5);

/// The base timer values every transaction timer derives from
/// (RFC 3261 §17 and Table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// T1, RTT estimate (default 500 ms).
    pub t1: Duration,
    /// T2, retransmission interval cap (default 4 s).
    pub t2: Duration,
    /// T4, maximum message lifetime in the network (default 5 s).
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self {
            t1: DEFAULT_T1,
            t2: DEFAULT_T2,
            t4: DEFAULT_T4,
        }
    }
}

impl TimerConfig {
    /// 64*T1: Timers B, F, H, J and L, and the 2xx give-up time of
    /// §13.3.1.4 (32 s with the default T1).
    pub fn t1x64(&self) -> Duration {
        self.t1.saturating_mul(64)
    }
}

/// Whether the transport retransmits for us. Timers that only exist to
/// recover from loss (A, E, G) are not armed on reliable transports, and the
/// "linger" timers (I, J, K) are zero there (RFC 3261 §17.1.2.2, §17.2.1,
/// §17.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reliability {
    /// UDP.
    Unreliable,
    /// TCP (or TLS).
    Reliable,
}

impl Reliability {
    /// `true` for [`Reliability::Reliable`].
    pub fn is_reliable(self) -> bool {
        matches!(self, Reliability::Reliable)
    }
}

/// A misuse of a transaction by its transaction user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    /// The state machine does not accept this response in its current state
    /// (e.g. a second final response).
    #[error("cannot send a {status} response in transaction state {state}")]
    InvalidState {
        /// Status code the TU tried to send.
        status: u16,
        /// Current state name.
        state: &'static str,
    },
    /// The status code is outside 100..=699.
    #[error("invalid SIP status code {0}")]
    InvalidStatus(u16),
}

/// A doubling retransmission timer: starts at T1 and doubles up to a cap
/// (Timer A/E/G of RFC 3261 §17 and the 2xx retransmission of §13.3.1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// When the timer fires next.
    pub next: Instant,
    /// The interval that produced `next`.
    pub interval: Duration,
    cap: Duration,
}

impl Backoff {
    /// Arms the timer at `now + initial`, doubling each time up to `cap`.
    pub fn start(now: Instant, initial: Duration, cap: Duration) -> Self {
        Self {
            next: now + initial,
            interval: initial,
            cap,
        }
    }

    /// Whether the timer is due at `now`.
    pub fn is_due(&self, now: Instant) -> bool {
        now >= self.next
    }

    /// Re-arms after a fire: `interval = min(2*interval, cap)`.
    pub fn double(&mut self, now: Instant) {
        self.interval = self.interval.saturating_mul(2).min(self.cap);
        self.next = now + self.interval;
    }

    /// Re-arms with a fixed interval (Timer E in Proceeding uses T2).
    pub fn rearm(&mut self, now: Instant, interval: Duration) {
        self.interval = interval;
        self.next = now + interval;
    }
}

/// Smallest of a set of optional deadlines.
pub(crate) fn earliest<I: IntoIterator<Item = Option<Instant>>>(deadlines: I) -> Option<Instant> {
    deadlines.into_iter().flatten().min()
}

pub(crate) fn check_status(status: u16) -> Result<(), TransactionError> {
    if (100..=699).contains(&status) {
        Ok(())
    } else {
        Err(TransactionError::InvalidStatus(status))
    }
}
