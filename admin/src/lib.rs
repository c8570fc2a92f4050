//! Parla's admin plane: the domain types of the multi-tenant SaaS (tenants,
//! users and roles, voice agents, phone numbers, SIP trunks, call records,
//! audit log), their storage (sqlx; SQLite embedded by default, PostgreSQL
//! for multi-node deployments), and the authentication primitives.

pub mod api;
pub mod auth;
pub mod domain;
pub mod live;
pub mod panel;
pub mod rate_limit;
pub mod service;
pub mod state;
pub mod store;
