//! Request rate limiting of `/api/v1` (the limiters live in
//! [`crate::rate_limit`]): over a limit the API answers 429 in its error
//! shape with `Retry-After` (whole seconds, at least 1).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

pub use crate::rate_limit::*;
use crate::state::AdminState;

use super::error::ApiError;

/// Middleware of the `/api/v1` scope (`middleware::from_fn`): 429 with
/// `Retry-After` when the client IP or its credential is over its limit.
pub(crate) async fn limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(state) = req.app_data::<web::Data<AdminState>>() {
        let ip = req.peer_addr().map(|a| a.ip());
        let credential = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        let login = req.path().contains("/auth/login");
        if let Err(secs) = state.rate_limiter.check(ip, credential, login) {
            return Err(ApiError::rate_limited(secs).into());
        }
    }
    next.call(req).await
}
