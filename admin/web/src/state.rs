//! The state every admin handler shares (JSON API and web panel): the
//! services' [`CoreState`] (store, credential key, failed-login throttle,
//! the login service's memory) plus what only HTTP needs: whether cookies
//! are `Secure`, the request rate limiters and the engine's live calls.

use std::ops::Deref;
use std::sync::Arc;

use parla_admin_core::auth::{LoginThrottle, SecretKey};
use parla_admin_core::dialer::Dialer;
use parla_admin_core::domain::SharedClock;
use parla_admin_core::live::LiveCalls;
use parla_admin_core::state::CoreState;
use parla_admin_core::store::Store;

use crate::rate_limit::{ApiRateLimiter, RateLimits};

/// What every handler shares. Build it with [`AdminState::new`] and the
/// `with_*` methods (the fields added over time are not all public).
///
/// It dereferences to its [`CoreState`], so `state.store`,
/// `state.secrets` and `state.throttle` read the core's fields and
/// `&state` can be passed wherever a service takes `&CoreState`.
pub struct AdminState {
    /// What the services take (store, credential key, login throttle and
    /// memory).
    pub core: CoreState,
    /// Whether session cookies carry `Secure` (set it whenever the admin
    /// plane is reached over HTTPS, directly or behind a TLS proxy).
    pub secure_cookies: bool,
    /// Request rate limits of `/api/v1` (see [`AdminState::with_rate_limits`]).
    pub(crate) rate_limiter: ApiRateLimiter,
    /// The engine's live calls (see [`parla_admin_core::live`]); `None`: none.
    pub live_calls: Option<Arc<dyn LiveCalls>>,
    /// The engine's outbound calls (see [`parla_admin_core::dialer`]);
    /// `None`: calls cannot be placed (503).
    pub dialer: Option<Arc<dyn Dialer>>,
}

impl AdminState {
    /// The state for `store`, encrypting credentials with `secrets`. Failed
    /// logins are throttled by [`LoginThrottle::default`] (an account is
    /// locked 1 minute after 5 failures within 15 minutes, doubling up to
    /// 15 minutes; an IP 15 minutes after 20); request rates are limited by
    /// [`RateLimits::default`]; cookies are not `Secure` (see
    /// [`AdminState::with_secure_cookies`]).
    pub fn new(store: Store, secrets: SecretKey) -> AdminState {
        AdminState {
            core: CoreState::new(store, secrets),
            secure_cookies: false,
            rate_limiter: ApiRateLimiter::new(RateLimits::default()),
            live_calls: None,
            dialer: None,
        }
    }

    /// Lets the API and panel reach the engine's live calls.
    pub fn with_live_calls(mut self, live: Arc<dyn LiveCalls>) -> AdminState {
        self.live_calls = Some(live);
        self
    }

    /// Lets the API place and cancel outbound calls through the engine.
    pub fn with_dialer(mut self, dialer: Arc<dyn Dialer>) -> AdminState {
        self.dialer = Some(dialer);
        self
    }

    /// Replaces the failed-login throttle (tests use small limits).
    pub fn with_throttle(mut self, throttle: LoginThrottle) -> AdminState {
        self.core = self.core.with_throttle(throttle);
        self
    }

    /// Reads time from `clock` (sessions, audit entries, row timestamps):
    /// tests pass a [`ManualClock`](parla_admin_core::domain::ManualClock)
    /// and move it forward. The default is the system clock.
    pub fn with_clock(mut self, clock: SharedClock) -> AdminState {
        self.core = self.core.with_clock(clock);
        self
    }

    /// Sets whether session cookies carry the `Secure` attribute.
    pub fn with_secure_cookies(mut self, secure: bool) -> AdminState {
        self.secure_cookies = secure;
        self
    }
}

impl Deref for AdminState {
    type Target = CoreState;

    fn deref(&self) -> &CoreState {
        &self.core
    }
}
