//! Shared state of the API and route registration.

use std::sync::Mutex;

use actix_web::web;

use crate::auth::{LoginThrottle, SecretKey};
use crate::store::Store;

use super::{error, routes};

/// Failed logins allowed per account or IP within [`LOGIN_WINDOW`].
pub const LOGIN_MAX_FAILURES: u32 = 5;
/// The failure window and the lockout after it (OWASP: minutes, not forever).
pub const LOGIN_WINDOW: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// What every handler shares.
pub struct AdminState {
    /// The admin database.
    pub store: Store,
    /// Encrypts provider credentials at rest.
    pub secrets: SecretKey,
    /// Failed-login throttling per IP and per account.
    pub throttle: Mutex<LoginThrottle>,
}

impl AdminState {
    /// The state for `store`, encrypting credentials with `secrets`. Failed
    /// logins lock an account or IP for 15 minutes after
    /// [`LOGIN_MAX_FAILURES`] failures within 15 minutes.
    pub fn new(store: Store, secrets: SecretKey) -> AdminState {
        AdminState {
            store,
            secrets,
            throttle: Mutex::new(LoginThrottle::new(
                LOGIN_MAX_FAILURES,
                LOGIN_WINDOW,
                LOGIN_WINDOW,
            )),
        }
    }
}

/// Registers `/api/v1/…` with the API's error shape for bad JSON, queries
/// and paths.
pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<AdminState>) {
    cfg.app_data(state)
        .app_data(
            web::JsonConfig::default()
                .limit(256 * 1024)
                .error_handler(|e, _| error::json_error(e)),
        )
        .app_data(web::QueryConfig::default().error_handler(|e, _| error::query_error(e)))
        .app_data(web::PathConfig::default().error_handler(|e, _| error::path_error(e)))
        .service(web::scope("/api/v1").configure(routes::register));
}
