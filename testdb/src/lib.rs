//! A fresh database per test, on SQLite or PostgreSQL, dropped afterwards:
//! the one helper the admin store/API tests and the root end-to-end tests
//! share.
//!
//! With the `admin` feature, the `admin` module adds the admin store
//! harness (`store_tests!`, `admin::Ctx`) and fixtures shared by the tests of
//! `parla-admin-core` and `parla-admin-web`.
//!
//! * **SQLite**: a new file path under the system temp dir (the store
//!   creates it, `?mode=rwc`); [`TestDb::drop_db`] removes the file and its
//!   `-wal`/`-shm` companions.
//! * **PostgreSQL**: `CREATE DATABASE "parla_t_<tag>_<unique>"` on the
//!   server named by [`POSTGRES_URL_ENV`] (`PARLA_TEST_POSTGRES_URL`,
//!   default [`DEFAULT_POSTGRES_URL`]); [`TestDb::drop_db`] runs
//!   `DROP DATABASE … WITH (FORCE)`.
//!
//! A server that cannot be reached (5 s connect timeout) or refuses
//! `CREATE DATABASE` is a skip ([`TestDb::create_or_skip`] prints
//! `SKIPPED postgres: <reason>` and returns `None`), unless
//! [`REQUIRE_POSTGRES_ENV`] (`PARLA_REQUIRE_POSTGRES=1`, set by CI) makes
//! it a failure (a panic naming the reason). Passwords in the URL never
//! appear in messages.
//!
//! Dropping a [`TestDb`] does not drop the database (that is async): call
//! [`TestDb::drop_db`], also when the test panicked (run the test body in a
//! spawned task and drop before resuming the panic).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{Connection as _, Executor as _, PgConnection};

#[cfg(feature = "admin")]
pub mod admin;

/// Environment variable naming the PostgreSQL server of the tests (a URL
/// whose database is one the test may connect to, e.g. `postgres`).
pub const POSTGRES_URL_ENV: &str = "PARLA_TEST_POSTGRES_URL";
/// Environment variable that, when `1`, makes an unavailable PostgreSQL
/// server a test failure instead of a skip.
pub const REQUIRE_POSTGRES_ENV: &str = "PARLA_REQUIRE_POSTGRES";
/// The server used when [`POSTGRES_URL_ENV`] is unset: a local PostgreSQL
/// with trust authentication.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// How long connecting to the PostgreSQL server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Which database engine a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// An SQLite file.
    Sqlite,
    /// A database on the PostgreSQL server of the tests.
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// One test's scratch database. See the crate docs.
#[derive(Debug)]
pub struct TestDb {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Sqlite { path: PathBuf },
    Postgres { server: String, name: String },
}

impl TestDb {
    /// A fresh SQLite database: a new, not yet existing file
    /// `<temp dir>/parla-test-<tag>-<unique>.sqlite3`.
    pub fn sqlite(tag: &str) -> TestDb {
        let file = format!("parla-test-{}-{}.sqlite3", sanitize(tag), unique());
        TestDb {
            inner: Inner::Sqlite {
                path: std::env::temp_dir().join(file),
            },
        }
    }

    /// A fresh, empty PostgreSQL database on [`postgres_server_url`].
    ///
    /// Errors: the reason (server unreachable, timeout, `CREATE DATABASE`
    /// refused), without the URL's password.
    pub async fn postgres(tag: &str) -> Result<TestDb, String> {
        let server = postgres_server_url();
        let name = format!("parla_t_{}_{}", sanitize(tag), unique());
        execute(&server, &format!("CREATE DATABASE \"{name}\"")).await?;
        Ok(TestDb {
            inner: Inner::Postgres { server, name },
        })
    }

    /// A fresh database of `backend`; `None` when PostgreSQL is unavailable
    /// and not required (after printing `SKIPPED postgres: <reason>`).
    ///
    /// Panics when PostgreSQL is unavailable and [`postgres_required`].
    pub async fn create_or_skip(backend: Backend, tag: &str) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => Some(TestDb::sqlite(tag)),
            Backend::Postgres => match TestDb::postgres(tag).await {
                Ok(db) => Some(db),
                Err(reason) if postgres_required() => panic!(
                    "{tag}: PostgreSQL required ({REQUIRE_POSTGRES_ENV}=1) but unavailable: {reason}"
                ),
                Err(reason) => {
                    println!("SKIPPED postgres: {reason}");
                    None
                }
            },
        }
    }

    /// Its backend.
    pub fn backend(&self) -> Backend {
        match self.inner {
            Inner::Sqlite { .. } => Backend::Sqlite,
            Inner::Postgres { .. } => Backend::Postgres,
        }
    }

    /// The URL to open it with: `sqlite://<path>?mode=rwc` (creates the
    /// file) or `postgres://…/<name>` (the server URL's credentials and
    /// query string kept).
    pub fn url(&self) -> String {
        match &self.inner {
            Inner::Sqlite { path } => format!("sqlite://{}?mode=rwc", path.display()),
            Inner::Postgres { server, name } => with_database(server, name),
        }
    }

    /// The SQLite file, for a SQLite database.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &self.inner {
            Inner::Sqlite { path } => Some(path),
            Inner::Postgres { .. } => None,
        }
    }

    /// Removes the database: the SQLite file (and `-wal`, `-shm`), or
    /// `DROP DATABASE … WITH (FORCE)` (closing other connections). A failure
    /// is printed as a warning, never a panic.
    pub async fn drop_db(&self) {
        match &self.inner {
            Inner::Sqlite { path } => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Inner::Postgres { server, name } => {
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                if let Err(err) = execute(server, &sql).await {
                    eprintln!("warning: could not drop test database {name}: {err}");
                }
            }
        }
    }
}

/// The PostgreSQL server of the tests: [`POSTGRES_URL_ENV`], else
/// [`DEFAULT_POSTGRES_URL`].
pub fn postgres_server_url() -> String {
    std::env::var(POSTGRES_URL_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned())
}

/// Whether [`REQUIRE_POSTGRES_ENV`] is `1`.
pub fn postgres_required() -> bool {
    std::env::var(REQUIRE_POSTGRES_ENV).as_deref() == Ok("1")
}

/// `url` with its database replaced by `db`, query string kept:
/// `postgres://u:p@h:5432/postgres?x` → `postgres://u:p@h:5432/<db>?x`.
pub fn with_database(url: &str, db: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or(before_query);
    match query {
        Some(q) => format!("{scheme}://{authority}/{db}?{q}"),
        None => format!("{scheme}://{authority}/{db}"),
    }
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{user}@{}", &url[..s + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Runs one statement on `server` on a connection of its own.
async fn execute(server: &str, sql: &str) -> Result<(), String> {
    let mut conn = match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(server)).await
    {
        Ok(Ok(conn)) => conn,
        Ok(Err(err)) => return Err(format!("cannot connect to {}: {err}", redact(server))),
        Err(_) => return Err(format!("timed out connecting to {}", redact(server))),
    };
    let result = conn
        .execute(sqlx::AssertSqlSafe(sql.to_owned()))
        .await
        .map(drop)
        .map_err(|err| format!("{sql}: {err}"));
    let _ = conn.close().await;
    result
}

/// A name part unique across tests, test binaries and runs: process id,
/// wall-clock nanoseconds and a per-process counter.
fn unique() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // Seconds modulo ~11 days and nanoseconds: at most 15 digits, so a
    // database name stays under PostgreSQL's 63-byte identifier limit.
    format!(
        "{}_{}{:09}_{n}",
        std::process::id(),
        now.as_secs() % 1_000_000,
        now.subsec_nanos()
    )
}

/// `tag` as a lower-case identifier part (`[a-z0-9_]`, at most 16 chars):
/// safe inside a quoted PostgreSQL name and a file name.
fn sanitize(tag: &str) -> String {
    tag.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(16)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (Moved from the admin tests' support module.)
    #[test]
    fn with_database_replaces_the_path() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres", "x"),
            "postgres://u:p@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/postgres?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn database_urls() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h/db", "x"), "postgres://h/x");
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u@h:5432/db"
        );
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
    }

    #[test]
    fn names_are_unique_and_safe() {
        assert_ne!(unique(), unique());
        assert_eq!(sanitize("Store-Calls \"x\""), "store_calls__x_");
        assert_eq!(sanitize("a_very_long_case_name_indeed").len(), 16);
        let db = TestDb::sqlite("a/b");
        let url = db.url();
        assert!(url.starts_with("sqlite://") && url.ends_with(".sqlite3?mode=rwc"));
        assert!(!db.sqlite_path().unwrap().exists());
        assert_eq!(db.backend(), Backend::Sqlite);
    }
}
