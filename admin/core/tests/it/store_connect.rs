//! Connecting, migrating, backend selection, decoding safety.

use crate::support;

use parla_admin_core::domain::TenantStatus;
use parla_admin_core::store::{Backend, NewTenant, Store, StoreError};
use support::{agent_spec, ghost_scope, name, slug, tenant, Ctx};

store_tests!(
    migrations_are_idempotent_on_reconnect,
    corrupt_rows_fail_to_decode,
    foreign_keys_are_enforced,
);

/// Runs `$body` with `$pool` bound to a separate pool of the backend's own
/// type (`SqlitePool` or `PgPool`) on the test database, behind the
/// store's back; closes the pool and returns the body's value.
macro_rules! with_raw_pool {
    ($ctx:expr, |$pool:ident| $body:expr) => {
        match $ctx.backend {
            Backend::Sqlite => {
                let $pool = sqlx::SqlitePool::connect(&$ctx.url).await.unwrap();
                let out = $body;
                $pool.close().await;
                out
            }
            Backend::Postgres => {
                let $pool = sqlx::PgPool::connect(&$ctx.url).await.unwrap();
                let out = $body;
                $pool.close().await;
                out
            }
        }
    };
}

async fn migrations_are_idempotent_on_reconnect(ctx: Ctx) {
    let (t, _) = tenant(&ctx.store, "Acme").await;
    // A second store on the same database re-runs the migrator: nothing to
    // apply, no error, data intact.
    for _ in 0..2 {
        let again = Store::connect(&ctx.url).await.unwrap();
        assert_eq!(again.backend(), ctx.backend);
        let found = again.tenants().get(t.id).await.unwrap().unwrap();
        assert_eq!(found, t);
        again.close().await;
    }
    let applied: i64 = with_raw_pool!(ctx, |pool| {
        sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(&pool)
            .await
            .unwrap()
    });
    let files = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../migrations/sqlite"
    ))
    .unwrap()
    .count();
    assert_eq!(
        applied as usize, files,
        "each migration applied exactly once"
    );
}

/// Rows are re-parsed on the way out: a value written behind the store's
/// back that breaks a domain rule is an error, never an invalid value.
async fn corrupt_rows_fail_to_decode(ctx: Ctx) {
    let (t, _) = tenant(&ctx.store, "Acme").await;
    const SQL: &str = "UPDATE tenants SET slug = 'Not A Slug' WHERE id = $1";
    with_raw_pool!(ctx, |pool| {
        sqlx::query(SQL)
            .bind(t.id.to_string())
            .execute(&pool)
            .await
            .unwrap();
    });
    let err = ctx.store.tenants().get(t.id).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Database(_)), "{err:?}");
    assert!(msg.contains("invalid slug"), "{msg}");
}

/// SQLite needs `PRAGMA foreign_keys=ON` per connection; check it is on
/// (a dangling tenant reference is refused on both backends).
async fn foreign_keys_are_enforced(ctx: Ctx) {
    let ghost = ghost_scope();
    let err = ctx
        .store
        .agents()
        .create(&ghost, &agent_spec("Bot"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    let err = ctx
        .store
        .memberships()
        .add(
            &ghost,
            parla_admin_core::domain::UserId::generate(),
            parla_admin_core::domain::TenantRole::Admin,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

#[tokio::test]
async fn unsupported_urls_are_rejected_without_leaking_secrets() {
    let err = Store::connect("mysql://root:hunter2@localhost/db")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::UnsupportedUrl { scheme } if scheme == "mysql"),
        "{err:?}"
    );
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(Store::connect("").await.is_err());
}

#[tokio::test]
async fn data_dir_is_created_and_reopened() {
    let dir = std::env::temp_dir()
        .join(format!(
            "parla-test-datadir-{}",
            uuid::Uuid::now_v7().simple()
        ))
        .join("nested");
    let store = Store::open_data_dir(&dir).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    let t = store
        .tenants()
        .create(NewTenant {
            name: name("Acme"),
            slug: slug("acme"),
            plan: None,
        })
        .await
        .unwrap();
    store.close().await;
    assert!(dir
        .join(parla_admin_core::store::SQLITE_FILE_NAME)
        .is_file());

    let reopened = Store::open_data_dir(&dir).await.unwrap();
    let found = reopened.tenants().get(t.id).await.unwrap().unwrap();
    assert_eq!(found.status, TenantStatus::Active);
    reopened.close().await;
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[tokio::test]
async fn sqlite_in_memory_keeps_its_data() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let (t, _) = tenant(&store, "Acme").await;
    // Several sequential queries must hit the same (single) connection.
    for _ in 0..3 {
        assert!(store.tenants().get(t.id).await.unwrap().is_some());
    }
    store.close().await;
}
