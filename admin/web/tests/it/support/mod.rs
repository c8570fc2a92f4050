//! The store harness and fixtures shared with `parla-admin-core`'s tests
//! (`parla_testdb::admin`: [`Ctx`], `store_tests!`, tenants, agents,
//! calls, …), plus the HTTP harness of the API tests ([`http`]).

pub use parla_testdb::admin::*;

pub mod http;
