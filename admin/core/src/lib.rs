//! Parla's admin plane, core layer: the domain types of the multi-tenant
//! SaaS (tenants, users and roles, voice agents, phone numbers, SIP trunks,
//! call records, audit log), their storage (sqlx; SQLite embedded by
//! default, PostgreSQL for multi-node deployments), the authentication
//! primitives, and the service layer every change goes through.
//!
//! No HTTP here: the JSON API and the web panel (`parla-admin-web`) are
//! thin layers over [`service`] and [`state::CoreState`]; the business
//! crates to come (campaigns, billing, tickets, domains) build on this one.

pub mod auth;
pub mod dialer;
pub mod domain;
pub mod live;
pub mod service;
pub mod state;
pub mod store;
