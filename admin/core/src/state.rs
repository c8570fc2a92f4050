//! What the service layer keeps between requests: the store, the
//! credential key, the failed-login throttle and the login service's
//! memory. The web layer (`parla-admin-web`'s `AdminState`) wraps it with
//! what only HTTP needs (cookie flags, request rate limits, live calls).

use std::sync::Mutex;

use crate::auth::{LoginThrottle, SecretKey};
use crate::domain::SharedClock;
use crate::store::Store;

use crate::service::login::LoginMemory;

/// The state the login service ([`crate::service::login`]) takes, and the
/// store and key every other service's [`Ctx`](crate::service::Ctx) is
/// made of. Build it with [`CoreState::new`] and the `with_*` methods.
pub struct CoreState {
    /// The admin database.
    pub store: Store,
    /// Encrypts provider credentials at rest.
    pub secrets: SecretKey,
    /// Failed-login throttling per IP and per account.
    pub throttle: Mutex<LoginThrottle>,
    /// Pending second-factor challenges and TOTP replay state (in memory).
    pub(crate) login: LoginMemory,
}

impl CoreState {
    /// The state for `store`, encrypting credentials with `secrets`. Failed
    /// logins are throttled by [`LoginThrottle::default`] (an account is
    /// locked 1 minute after 5 failures within 15 minutes, doubling up to
    /// 15 minutes; an IP 15 minutes after 20).
    pub fn new(store: Store, secrets: SecretKey) -> CoreState {
        CoreState {
            store,
            secrets,
            throttle: Mutex::new(LoginThrottle::default()),
            login: LoginMemory::default(),
        }
    }

    /// Replaces the failed-login throttle (tests use small limits).
    pub fn with_throttle(mut self, throttle: LoginThrottle) -> CoreState {
        self.throttle = Mutex::new(throttle);
        self
    }

    /// Reads time from `clock` (sessions, audit entries, row timestamps):
    /// tests pass a [`ManualClock`](crate::domain::ManualClock) and move
    /// it forward. The default is the system clock.
    pub fn with_clock(mut self, clock: SharedClock) -> CoreState {
        self.store = self.store.clone().with_clock(clock);
        self
    }

    /// The clock every admin change and session check reads.
    pub fn clock(&self) -> &SharedClock {
        self.store.clock()
    }
}
