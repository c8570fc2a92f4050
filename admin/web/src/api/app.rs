//! Route registration of the API (the shared state is
//! [`crate::state::AdminState`]).

use actix_web::web;

pub use crate::state::AdminState;

use super::{error, rate_limit, routes};

/// Largest accepted JSON request body, in bytes (413 `payload_too_large`
/// beyond).
pub const JSON_BODY_LIMIT: usize = 256 * 1024;

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
