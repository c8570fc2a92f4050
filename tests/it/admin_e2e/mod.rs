//! End-to-end through the admin plane, on SQLite and on PostgreSQL: the real
//! `parla` binary bootstraps its super admin, serves the admin API, routes
//! calls through the database and records them; the Rust test caller dials
//! the numbers created through the API.
//!
//! PostgreSQL runs on the server of `PARLA_TEST_POSTGRES_URL` (default: a
//! local one; a fresh database per test, dropped afterwards, from the shared
//! `parla-testdb` helper); an unreachable server is a skip, unless
//! `PARLA_REQUIRE_POSTGRES=1` makes it a failure.

use crate::support;

use std::path::Path;
use std::time::{Duration, Instant};

use parla_testkit::caller::{place_call, Action, CallSpec, EndedBy};
use parla_testkit::speech::best_phrase_wer;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::*;

mod agent_calls;
mod api;
mod bootstrap;
mod crash;
mod import;

use agent_calls::api_created_agent_answers_and_the_call_is_recorded;
use api::*;
use bootstrap::super_admin_is_bootstrapped_and_created_from_the_cli;
use crash::a_call_cut_by_a_crash_is_closed_on_restart;
use import::parla_toml_is_imported_on_first_start_only;

const ROOT_EMAIL: &str = "root@example.com";
const ROOT_PASSWORD: &str = "correct horse battery staple";
const ADMIN_EMAIL: &str = "admin@acme.example";
const ADMIN_PASSWORD: &str = "acme admin password 1";
const SENTENCE: &str = "I would like to book an appointment";
const GREETING: &str = "Hello, thanks for calling Acme. How can I help you today?";
const NEW_GREETING: &str = "Good morning, this is the Acme front desk speaking.";

/// The admin database a test runs on.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh database: SQLite in the data directory (no URL), or a new
/// PostgreSQL database from the shared helper (`parla-testdb`), dropped by
/// [`TestDb::drop_db`].
struct TestDb {
    postgres: Option<parla_testdb::TestDb>,
}

impl TestDb {
    /// `None` when PostgreSQL is unavailable and not required.
    async fn create(backend: Backend) -> Option<TestDb> {
        let Backend::Postgres = backend else {
            return Some(TestDb { postgres: None });
        };
        let db =
            parla_testdb::TestDb::create_or_skip(parla_testdb::Backend::Postgres, "e2e").await?;
        Some(TestDb { postgres: Some(db) })
    }

    /// `PARLA_DATABASE_URL` for `parla serve` (none for SQLite).
    fn env(&self) -> Vec<(String, String)> {
        match &self.postgres {
            Some(db) => vec![("PARLA_DATABASE_URL".to_owned(), db.url())],
            None => vec![],
        }
    }

    /// A URL the test itself can open the store with.
    fn url(&self, data_dir: &Path) -> String {
        match &self.postgres {
            Some(db) => db.url(),
            None => format!(
                "sqlite://{}",
                data_dir.join("parla-admin.sqlite3").display()
            ),
        }
    }

    async fn drop_db(&self) {
        if let Some(db) = &self.postgres {
            db.drop_db().await;
        }
    }
}

/// Runs `case` on a fresh database of `backend`; drops it even on failure.
async fn run<F, Fut>(backend: Backend, case: F)
where
    F: FnOnce(std::sync::Arc<TestDb>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let db = std::sync::Arc::new(db);
    let result = tokio::spawn(case(db.clone())).await;
    db.drop_db().await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// `mod case { sqlite, postgres }` per case.
macro_rules! on_both_backends {
    ($($case:ident),+ $(,)?) => {
        $(
            mod $case {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::run(super::Backend::Sqlite, super::$case).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::run(super::Backend::Postgres, super::$case).await
                }
            }
        )+
    };
}

on_both_backends!(
    api_created_agent_answers_and_the_call_is_recorded,
    parla_toml_is_imported_on_first_start_only,
    super_admin_is_bootstrapped_and_created_from_the_cli,
    a_call_cut_by_a_crash_is_closed_on_restart,
);
