//! JSON HTTP API of the admin plane (`/api/v1`), on actix-web.
//!
//! * [`error`]: the one error shape every failure uses;
//! * [`json_body`]: the request body extractor (JSON objects only);
//! * [`auth`]: bearer authentication (API keys and session tokens);
//! * [`app`]: route registration (the shared state is
//!   [`crate::state::AdminState`], the login service
//!   [`parla_admin_core::service::login`]);
//! * [`openapi`]: the OpenAPI 3.1 document, served at `/api/v1/openapi.json`;
//! * [`rate_limit`]: request rate limits (429 with `Retry-After`);
//! * `routes/*`: one handler module per resource.

pub mod app;
pub mod auth;
pub mod error;
pub mod json_body;
mod login_error;
pub mod openapi;
pub mod rate_limit;
mod routes;

pub use app::{configure, AdminState};
pub use auth::Caller;
pub use error::ApiError;
pub use rate_limit::{Rate, RateLimits};
