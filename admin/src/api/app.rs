//! Shared state of the API and route registration.

use std::sync::Mutex;

use actix_web::web;

use crate::auth::{LoginThrottle, SecretKey};
use crate::store::Store;

use super::{error, routes};

/// What every handler shares.
pub struct AdminState {
    /// The admin database.
    pub store: Store,
    /// Encrypts provider credentials at rest.
    pub secrets: SecretKey,
    /// Failed-login throttling per IP and per account.
    pub throttle: Mutex<LoginThrottle>,
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
