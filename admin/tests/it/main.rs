//! The integration tests of this crate, in one test binary (one link, one
//! process per test under `cargo nextest`). Each module is one former test file.

#[macro_use]
mod support;
mod api_support;
mod panel_app;

mod api_auth;
mod api_http;
mod api_openapi;
mod api_ratelimit;
mod api_schemathesis;
mod api_security;
mod panel_agent_settings;
mod panel_browser;
mod panel_http;
mod panel_http_operator;
mod panel_i18n;
mod panel_security;
mod service_atomic_audit;
mod service_clock;
mod service_parity;
mod store_audit;
mod store_calls;
mod store_connect;
mod store_isolation;
mod store_migrations;
mod store_recovery;
mod store_telephony;
mod store_tenancy;
