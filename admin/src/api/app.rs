//! Shared state of the API and route registration.

use std::sync::Mutex;

use actix_web::web;

use crate::auth::{LoginThrottle, SecretKey};
use crate::store::Store;

use super::login_flow::LoginMemory;
use super::rate_limit::{self, ApiRateLimiter, RateLimits};
use super::{error, routes};

/// Largest accepted JSON request body, in bytes (413 `payload_too_large`
/// beyond).
pub const JSON_BODY_LIMIT: usize = 256 * 1024;

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
        }
    }

    /// Replaces the failed-login throttle (tests use small limits).
    pub fn with_throttle(mut self, throttle: LoginThrottle) -> AdminState {
        self.throttle = Mutex::new(throttle);
        self
    }

    /// Sets whether session cookies carry the `Secure` attribute.
    pub fn with_secure_cookies(mut self, secure: bool) -> AdminState {
        self.secure_cookies = secure;
        self
    }
}

/// Registers `/api/v1/…` with the API's error shape for bad JSON, queries
/// and paths.
pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<AdminState>) {
    cfg.app_data(state)
        .app_data(
            web::JsonConfig::default()
                .limit(JSON_BODY_LIMIT)
                .error_handler(|e, _| error::json_error(e)),
        )
        .app_data(web::QueryConfig::default().error_handler(|e, _| error::query_error(e)))
        .app_data(web::PathConfig::default().error_handler(|e, _| error::path_error(e)))
        .service(
            web::scope("/api/v1")
                .wrap(actix_web::middleware::from_fn(rate_limit::limit))
                .configure(routes::register),
        );
}
