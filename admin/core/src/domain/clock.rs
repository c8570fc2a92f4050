//! The admin plane's source of wall-clock time, passed in (held by the
//! [`Store`](crate::store::Store) and the admin state) so that tests can
//! move time forward: session expiry, idle timeouts, `created_at` /
//! `updated_at`, key `last_used_at` and audit times all read it.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::Timestamp;

/// Where "now" comes from. Production uses [`SystemClock`]; tests use
/// [`ManualClock`].
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time (unix milliseconds, UTC).
    fn now(&self) -> Timestamp;
}

/// The system's wall clock ([`Timestamp::now`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that stands still until moved with [`ManualClock::advance`];
/// clones share the same time.
#[derive(Clone, Debug)]
pub struct ManualClock {
    ms: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock {
            ms: Arc::new(AtomicI64::new(start.as_unix_ms())),
        }
    }

    /// A clock showing the current system time (then standing still).
    pub fn starting_now() -> ManualClock {
        Self::new(Timestamp::now())
    }

    /// Moves the clock forward by `d` (saturating).
    pub fn advance(&self, d: Duration) {
        let step = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let _ = self
            .ms
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |ms| {
                Some(ms.saturating_add(step))
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_ms(self.ms.load(Ordering::SeqCst))
    }
}

/// The shared clock handle the store and the admin state hold.
pub type SharedClock = Arc<dyn Clock>;

/// The production clock as a [`SharedClock`].
pub fn system_clock() -> SharedClock {
    Arc::new(SystemClock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let c = ManualClock::new(Timestamp::from_unix_ms(1_000));
        let shared = c.clone();
        assert_eq!(c.now().as_unix_ms(), 1_000);
        shared.advance(Duration::from_secs(2));
        assert_eq!(c.now().as_unix_ms(), 3_000);
    }
}
