//! The integration tests of `parla-admin-web` (the JSON API, the panel, and
//! the services driven through both over HTTP), in one test binary (one
//! link, one process per test under `cargo nextest`). Each module is one
//! former test file; the store's own tests are in `parla-admin-core`.

// `store_tests!`: one test per backend for each case.
#[macro_use]
extern crate parla_testdb;

mod api_support;
mod panel_app;
mod support;

mod api_agent_rules;
mod api_auth;
mod api_http;
mod api_openapi;
mod api_originate;
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
