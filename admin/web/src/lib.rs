//! Parla's admin plane on the web: the JSON API (`/api/v1`, [`api`]) and
//! the web panel (`/panel`, [`panel`]), both on actix-web, over the
//! domain, store, auth and services of `parla-admin-core`.
//!
//! Handlers stay thin: extract → service → JSON (API), form → service →
//! page (panel). What only HTTP needs lives here: the shared
//! [`state::AdminState`] (the core state plus cookie flags, request rate
//! limits and the engine's live calls), the request rate limiters
//! ([`rate_limit`], `governor`), askama templates and static assets.

pub mod api;
pub mod panel;
pub mod rate_limit;
pub mod state;
