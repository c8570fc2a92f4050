//! Storage of the admin plane (sqlx 0.9).
//!
//! # Backends
//!
//! * **SQLite** (default, embedded): one file under the data directory,
//!   created and migrated on first start ([`Store::open_data_dir`], or a
//!   `sqlite://path?mode=rwc` URL). Foreign keys on, WAL journal, 5 s busy
//!   timeout.
//! * **PostgreSQL**: when the URL is `postgres://…` / `postgresql://…`.
//!
//! Each backend has its own embedded migration set
//! (`migrations/sqlite/`, `migrations/postgres/` at the workspace root),
//! applied by [`Store::connect`] every time (already-applied migrations are
//! skipped).
//!
//! # Backend strategy: one enum of typed pools, each query written once
//!
//! `Db` is `enum { Sqlite(SqlitePool), Postgres(PgPool) }` and the private
//! `with_pool!` macro expands a query body once per variant, so every SQL
//! text is written once, with `$1, $2, …` placeholders (which SQLite also
//! understands), and compiled against both drivers' native types. The
//! query shapes the repositories share (fetch one/optional/all, scoped
//! fetch by id, delete with `NotFound`, count + page) are generic helpers
//! in `query.rs` built on `with_pool!`: a repository passes a `const` SQL
//! text and a tuple of bind values.
//!
//! `sqlx::AnyPool` was tried first (same SQL, `$n` placeholders) and
//! rejected because booleans cannot round-trip on both backends through it:
//! with a SQLite `BOOLEAN` column, decoding fails ("Any driver does not
//! support the SQLite type Bool"); with a SQLite `INTEGER` column, `bool`
//! does not decode (`BIGINT`) while on PostgreSQL `i64` does not decode
//! from `BOOLEAN`. `Any` also carries only a few primitive types, so domain
//! types could not bind or decode directly. With typed pools the domain
//! types implement `sqlx::{Type, Encode, Decode}` generically and
//! `#[derive(FromRow)]` works unchanged on both backends. Text, `i64` and
//! `Option` round-tripped fine either way, and unique violations carry the
//! constraint name on PostgreSQL and `UNIQUE constraint failed: t.col` on
//! SQLite in both approaches.
//!
//! # Storage conventions (both backends)
//!
//! ids are UUID v7 TEXT; timestamps are BIGINT/INTEGER unix milliseconds
//! ([`Timestamp`](crate::domain::Timestamp)); JSON documents are TEXT
//! ([`JsonText`](crate::domain::JsonText)); booleans are `BOOLEAN` in
//! PostgreSQL and `INTEGER` 0/1 (with a CHECK) in SQLite, bound as Rust
//! `bool` (sqlx encodes it natively on each side); enums are snake_case
//! TEXT with a CHECK constraint.
//!
//! # Tenant scoping
//!
//! Repositories of tenant-owned data take a [`TenantScope`] first and filter
//! every query on it; deletes take a [`DeleteGrant`]. Global operations
//! (tenant CRUD, login lookups, number routing, sessions, audit insert) are
//! separate, explicitly named functions.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::domain::{system_clock, SharedClock, Timestamp};

mod agents;
mod api_keys;
mod audit;
mod calls;
mod error;
mod memberships;
mod numbers;
mod page;
mod query;
mod routing;
mod scope;
mod sessions;
mod tenants;
mod trunks;
mod users;

pub use agents::{AgentSpec, Agents, SecretChange, VoiceAgent};
pub use api_keys::{ApiKey, ApiKeys, NewApiKey};
pub use audit::{Audit, AuditEntry, AuditFilter, NewAuditEntry};
pub use calls::{CallEnd, CallFilter, CallRecord, Calls, NewCall};
pub use error::StoreError;
pub use memberships::{Membership, Memberships, TenantMember};
pub use numbers::{NewNumber, Numbers, PhoneNumber};
pub use page::{Page, PageError, Paged};
pub use routing::{Route, Routing};
pub use scope::{DeleteGrant, TenantScope};
pub use sessions::{NewSession, Session, Sessions};
pub use tenants::{NewTenant, Tenant, TenantUpdate, Tenants};
pub use trunks::{SipTrunk, TrunkSpec, Trunks};
pub use users::{NewUser, User, Users};

/// Result of store calls.
pub type StoreResult<T> = Result<T, StoreError>;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// File name of the embedded database inside the data directory.
pub const SQLITE_FILE_NAME: &str = "parla-admin.sqlite3";

/// Which database the store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
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

/// The connection pool of the active backend. Cloning shares the pool.
#[derive(Clone, Debug)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool (`&SqlitePool` or
/// `&PgPool`); the body is compiled once per backend, so one SQL text (with
/// `$n` placeholders) serves both.
macro_rules! with_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Runs `$body` with `$conn` bound to an executor of the connection `$c`
/// ([`Conn`]): the pool, or the open transaction's connection; `$db` names
/// the backend's `sqlx::Database` type inside the body. Use `$conn` once
/// per statement (it is a `&mut` connection inside a transaction).
macro_rules! with_conn {
    ($c:expr, |$conn:ident, $db:ident| $body:expr) => {
        match $c.exec {
            $crate::store::Exec::Pool($crate::store::Db::Sqlite($conn)) => {
                #[allow(dead_code)]
                type $db = sqlx::Sqlite;
                $body
            }
            $crate::store::Exec::Pool($crate::store::Db::Postgres($conn)) => {
                #[allow(dead_code)]
                type $db = sqlx::Postgres;
                $body
            }
            $crate::store::Exec::Tx($crate::store::TxCell::Sqlite(cell)) => {
                #[allow(dead_code)]
                type $db = sqlx::Sqlite;
                let mut guard = cell.lock().await;
                let $conn = &mut **guard;
                $body
            }
            $crate::store::Exec::Tx($crate::store::TxCell::Postgres(cell)) => {
                #[allow(dead_code)]
                type $db = sqlx::Postgres;
                let mut guard = cell.lock().await;
                let $conn = &mut **guard;
                $body
            }
        }
    };
}
pub(crate) use with_conn;

/// An open transaction's connection (locked per statement).
pub(crate) enum TxCell {
    Sqlite(tokio::sync::Mutex<sqlx::Transaction<'static, sqlx::Sqlite>>),
    Postgres(tokio::sync::Mutex<sqlx::Transaction<'static, sqlx::Postgres>>),
}

/// Where a repository's statements run.
#[derive(Clone, Copy)]
pub(crate) enum Exec<'s> {
    /// Each statement on its own pooled connection (autocommit).
    Pool(&'s Db),
    /// Inside an open transaction.
    Tx(&'s TxCell),
}

/// What a repository holds: where statements run, and the clock that
/// stamps `created_at`/`updated_at`.
#[derive(Clone, Copy)]
pub(crate) struct Conn<'s> {
    pub(crate) exec: Exec<'s>,
    clock: &'s SharedClock,
}

impl std::fmt::Debug for Conn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.exec {
            Exec::Pool(_) => "Conn(pool)",
            Exec::Tx(_) => "Conn(transaction)",
        })
    }
}

impl<'s> Conn<'s> {
    /// The current time of the store's clock.
    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Whether statements already run inside a transaction.
    pub(crate) fn in_transaction(&self) -> bool {
        matches!(self.exec, Exec::Tx(_))
    }

    /// A new transaction on the pool; inside a transaction it is an error
    /// (callers check [`Conn::in_transaction`] first).
    pub(crate) async fn begin(&self) -> StoreResult<Tx> {
        match self.exec {
            Exec::Pool(db) => Ok(Tx {
                cell: begin(db).await?,
                clock: self.clock.clone(),
            }),
            Exec::Tx(_) => Err(StoreError::InvalidInput("nested transaction")),
        }
    }
}

/// Defines the repository accessors shared by [`Store`] and [`Tx`].
macro_rules! repositories {
    () => {
        /// Tenants (global: super admin operations and lookups by id/slug).
        pub fn tenants(&self) -> Tenants<'_> {
            Tenants::new(self.conn())
        }

        /// Users (global: logins are not tied to one tenant).
        pub fn users(&self) -> Users<'_> {
            Users::new(self.conn())
        }

        /// Who belongs to which tenant with which role.
        pub fn memberships(&self) -> Memberships<'_> {
            Memberships::new(self.conn())
        }

        /// API keys (tenant-scoped, plus the global prefix lookup for bearer auth).
        pub fn api_keys(&self) -> ApiKeys<'_> {
            ApiKeys::new(self.conn())
        }

        /// Login sessions (global, keyed by the hash of the cookie token).
        pub fn sessions(&self) -> Sessions<'_> {
            Sessions::new(self.conn())
        }

        /// Voice agents (tenant-scoped).
        pub fn agents(&self) -> Agents<'_> {
            Agents::new(self.conn())
        }

        /// Phone numbers (tenant-scoped).
        pub fn numbers(&self) -> Numbers<'_> {
            Numbers::new(self.conn())
        }

        /// SIP trunks (tenant-scoped).
        pub fn trunks(&self) -> Trunks<'_> {
            Trunks::new(self.conn())
        }

        /// Call records (tenant-scoped).
        pub fn calls(&self) -> Calls<'_> {
            Calls::new(self.conn())
        }

        /// Audit log (global insert, scoped or super-admin listing).
        pub fn audit(&self) -> Audit<'_> {
            Audit::new(self.conn())
        }

        /// How many users hold the super admin role (global; the server
        /// bootstraps one when there is none).
        pub async fn super_admin_count(&self) -> StoreResult<u64> {
            const SQL: &str = "SELECT COUNT(*) FROM memberships WHERE role = 'super_admin'";
            query::count(self.conn(), SQL, ()).await
        }
    };
}

/// A database transaction: the same repositories as [`Store`], every
/// statement on one connection, applied together by [`Tx::commit`] and
/// rolled back if the `Tx` is dropped uncommitted (an error, a panic, a
/// cancelled request). On SQLite it starts with `BEGIN IMMEDIATE`, taking
/// the write lock up front, so that two concurrent writers wait for each
/// other (busy timeout) instead of failing to upgrade a read lock.
///
/// While a `Tx` is open, use only its repositories (not the [`Store`]'s):
/// an embedded in-memory database has a single connection.
pub struct Tx {
    cell: TxCell,
    clock: SharedClock,
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tx")
    }
}

impl Tx {
    fn conn(&self) -> Conn<'_> {
        Conn {
            exec: Exec::Tx(&self.cell),
            clock: &self.clock,
        }
    }

    /// The current time of the store's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    repositories!();

    /// Applies every statement of the transaction.
    pub async fn commit(self) -> StoreResult<()> {
        match self.cell {
            TxCell::Sqlite(cell) => cell.into_inner().commit().await?,
            TxCell::Postgres(cell) => cell.into_inner().commit().await?,
        }
        Ok(())
    }

    /// Discards every statement of the transaction (dropping the `Tx`
    /// does the same, without waiting).
    pub async fn rollback(self) -> StoreResult<()> {
        match self.cell {
            TxCell::Sqlite(cell) => cell.into_inner().rollback().await?,
            TxCell::Postgres(cell) => cell.into_inner().rollback().await?,
        }
        Ok(())
    }
}

/// Opens a transaction on `db` (`BEGIN IMMEDIATE` on SQLite).
async fn begin(db: &Db) -> StoreResult<TxCell> {
    Ok(match db {
        Db::Sqlite(pool) => TxCell::Sqlite(tokio::sync::Mutex::new(
            pool.begin_with("BEGIN IMMEDIATE").await?,
        )),
        Db::Postgres(pool) => TxCell::Postgres(tokio::sync::Mutex::new(pool.begin().await?)),
    })
}

/// Handle to the admin database. Cheap to clone (shares the pool).
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    clock: SharedClock,
}

impl Store {
    /// Connects to `url` and applies pending migrations.
    ///
    /// * `sqlite://path/to/file.db?mode=rwc` (creates the file; without
    ///   `mode=rwc` the file must exist), `sqlite::memory:` (single
    ///   connection, for experiments);
    /// * `postgres://user[:password]@host[:port]/db` (or `postgresql://`).
    pub async fn connect(url: &str) -> StoreResult<Store> {
        let scheme = url
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match scheme.as_str() {
            "sqlite" => {
                let options = SqliteConnectOptions::from_str(url)?;
                let in_memory = url.contains(":memory:") || url.contains("mode=memory");
                Self::connect_sqlite(options, in_memory).await
            }
            "postgres" | "postgresql" => {
                let options = PgConnectOptions::from_str(url)?;
                let pool = PgPoolOptions::new()
                    .max_connections(10)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?;
                POSTGRES_MIGRATIONS.run(&pool).await?;
                Ok(Store {
                    db: Db::Postgres(pool),
                    clock: system_clock(),
                })
            }
            _ => Err(StoreError::UnsupportedUrl { scheme }),
        }
    }

    /// Opens (creating the directory and file if needed) the embedded
    /// database `<data_dir>/parla-admin.sqlite3` and applies migrations.
    pub async fn open_data_dir(data_dir: &Path) -> StoreResult<Store> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join(SQLITE_FILE_NAME))
            .create_if_missing(true);
        Self::connect_sqlite(options, false).await
    }

    async fn connect_sqlite(options: SqliteConnectOptions, in_memory: bool) -> StoreResult<Store> {
        let options = options
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let (options, pool_options) = if in_memory {
            // Every connection to `:memory:` is a separate database: keep
            // exactly one, forever.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
            (options, pool)
        } else {
            let options = options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal);
            (options, SqlitePoolOptions::new().max_connections(8))
        };
        let pool = pool_options
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        SQLITE_MIGRATIONS.run(&pool).await?;
        Ok(Store {
            db: Db::Sqlite(pool),
            clock: system_clock(),
        })
    }

    /// Which backend this store uses.
    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Waits for in-flight queries and closes every connection.
    pub async fn close(&self) {
        with_pool!(&self.db, |pool| pool.close().await)
    }

    repositories!();

    /// Starts a transaction (see [`Tx`]).
    pub async fn transaction(&self) -> StoreResult<Tx> {
        Ok(Tx {
            cell: begin(&self.db).await?,
            clock: self.clock.clone(),
        })
    }

    /// The same store (sharing the pool) reading time from `clock`.
    pub fn with_clock(mut self, clock: SharedClock) -> Store {
        self.clock = clock;
        self
    }

    /// The clock that stamps rows (the system clock unless
    /// [`Store::with_clock`] replaced it).
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The current time of the store's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn conn(&self) -> Conn<'_> {
        Conn {
            exec: Exec::Pool(&self.db),
            clock: &self.clock,
        }
    }

    /// Number → tenant routing for the engine (global).
    pub fn routing(&self) -> Routing<'_> {
        Routing::new(&self.db)
    }
}
