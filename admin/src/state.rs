//! The state every admin handler shares (JSON API and web panel): the
//! store, the credential key, the failed-login throttle, the login
//! service's memory, the request rate limiters and the engine's live calls.

use std::sync::Mutex;

use crate::auth::{LoginThrottle, SecretKey};
use crate::domain::SharedClock;
use crate::rate_limit::{ApiRateLimiter, RateLimits};
use crate::store::Store;

use crate::service::login::LoginMemory;

/// What every handler shares. Build it with [`AdminState::new`] and the
/// `with_*` methods (the fields added over time are not all public).
pub struct AdminState {
    /// The admin database.
    pub store: Store,
    /// Encrypts provider credentials at rest.
    pub secrets: SecretKey,
    /// Failed-login throttling per IP and per account.
    pub throttle: Mutex<LoginThrottle>,
    /// Whether session cookies carry `Secure` (set it whenever the admin
    /// plane is reached over HTTPS, directly or behind a TLS proxy).
    pub secure_cookies: bool,
    /// Pending second-factor challenges and TOTP replay state (in memory).
    pub(crate) login: LoginMemory,
    /// Request rate limits of `/api/v1` (see [`AdminState::with_rate_limits`]).
    pub(crate) rate_limiter: ApiRateLimiter,
    /// The engine's live calls (see [`crate::live`]); `None`: none.
    pub live_calls: Option<std::sync::Arc<dyn crate::live::LiveCalls>>,
}

impl AdminState {
    /// The state for `store`, encrypting credentials with `secrets`. Failed
    /// logins are throttled by [`LoginThrottle::default`] (an account is
    /// locked 1 minute after 5 failures within 15 minutes, doubling up to
    /// 15 minutes; an IP 15 minutes after 20); cookies are not `Secure`
    /// (see [`AdminState::with_secure_cookies`]).
    pub fn new(store: Store, secrets: SecretKey) -> AdminState {
        AdminState {
            store,
            secrets,
            throttle: Mutex::new(LoginThrottle::default()),
            secure_cookies: false,
            login: LoginMemory::default(),
            rate_limiter: ApiRateLimiter::new(RateLimits::default()),
            live_calls: None,
        }
    }

    /// Lets the API and panel reach the engine's live calls.
    pub fn with_live_calls(
        mut self,
        live: std::sync::Arc<dyn crate::live::LiveCalls>,
    ) -> AdminState {
        self.live_calls = Some(live);
        self
    }

    /// Replaces the failed-login throttle (tests use small limits).
    pub fn with_throttle(mut self, throttle: LoginThrottle) -> AdminState {
        self.throttle = Mutex::new(throttle);
        self
    }

    /// Reads time from `clock` (sessions, audit entries, row timestamps):
    /// tests pass a [`ManualClock`](crate::domain::ManualClock) and move
    /// it forward. The default is the system clock.
    pub fn with_clock(mut self, clock: SharedClock) -> AdminState {
        self.store = self.store.clone().with_clock(clock);
        self
    }

    /// The clock every admin change and session check reads.
    pub fn clock(&self) -> &SharedClock {
        self.store.clock()
    }

    /// Sets whether session cookies carry the `Secure` attribute.
    pub fn with_secure_cookies(mut self, secure: bool) -> AdminState {
        self.secure_cookies = secure;
        self
    }
}
