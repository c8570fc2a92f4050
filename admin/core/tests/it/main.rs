//! The integration tests of `parla-admin-core` (the store, on SQLite and
//! PostgreSQL), in one test binary (one link, one process per test under
//! `cargo nextest`). Each module is one former test file; the HTTP tests
//! (API, panel, and the services driven through both) are in
//! `parla-admin-web`.

// `store_tests!`: one test per backend for each case.
#[macro_use]
extern crate parla_testdb;

/// The store harness and fixtures shared with `parla-admin-web`'s tests.
use parla_testdb::admin as support;

mod store_audit;
mod store_calls;
mod store_connect;
mod store_isolation;
mod store_migrations;
mod store_recovery;
mod store_telephony;
mod store_tenancy;
