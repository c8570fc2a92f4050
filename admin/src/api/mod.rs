//! JSON HTTP API of the admin plane (`/api/v1`), on actix-web.
//!
//! * [`error`]: the one error shape every failure uses;
//! * [`auth`]: bearer authentication (API keys and session tokens);
//! * [`app`]: shared state and route registration;
//! * `routes/*`: one handler module per resource.

pub mod app;
pub mod auth;
pub mod error;
mod routes;

pub use app::{configure, AdminState};
pub use auth::Authenticated;
pub use error::ApiError;
