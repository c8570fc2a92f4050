//! Upgrading a database in place: the data of an older schema survives the
//! later migrations, and enum columns are additive (no CHECK lists; the
//! values are validated by the Rust types, a bad stored value is an error).

use crate::support;

use parla_admin_core::domain::{
    AgentId, CallId, CallStatus, Direction, Role, TenantId, TenantRole, UserId,
};
use parla_admin_core::store::{Backend, Store, StoreError, TenantScope};
use sqlx::migrate::Migrator;
use support::{agent, conflict, new_call, tenant, Ctx};

store_tests!(
    data_survives_the_additive_enum_migration,
    unknown_enum_values_are_errors_not_panics,
);

/// The migration that dropped the CHECK lists of the enum columns.
const ADDITIVE_ENUMS: i64 = 3;

/// Runs `$body` with `$pool` bound to a separate raw pool of the backend's
/// own type on the test database; closes the pool and returns the value.
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

/// Runs `sql` (one or more statements, no binds) behind the store's back.
async fn raw(ctx: &Ctx, sql: String) -> Result<(), sqlx::Error> {
    with_raw_pool!(ctx, |pool| sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&pool)
        .await
        .map(drop))
}

/// Index names of `call_records` and `memberships`, sorted.
async fn indexes(ctx: &Ctx) -> Vec<String> {
    let sql = match ctx.backend {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'index' \
             AND tbl_name IN ('call_records', 'memberships') ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT indexname::TEXT FROM pg_indexes \
             WHERE tablename IN ('call_records', 'memberships') ORDER BY indexname"
        }
    };
    with_raw_pool!(ctx, |pool| sqlx::query_scalar(sql)
        .fetch_all(&pool)
        .await
        .unwrap())
}

/// Empties the test database and migrates it up to, not including,
/// `ADDITIVE_ENUMS`: the schema of the release before it.
async fn old_schema(ctx: &Ctx) {
    ctx.store.close().await;
    match ctx.backend {
        Backend::Sqlite => {
            let path = ctx.url.trim_start_matches("sqlite://");
            let path = path.split('?').next().unwrap();
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
        }
        Backend::Postgres => raw(
            ctx,
            "DROP SCHEMA public CASCADE; CREATE SCHEMA public".into(),
        )
        .await
        .unwrap(),
    }
    let dir = format!(
        "{}/../../migrations/{}",
        env!("CARGO_MANIFEST_DIR"),
        ctx.backend
    );
    let migrator = Migrator::new(std::path::Path::new(&dir)).await.unwrap();
    assert!(migrator.version_exists(ADDITIVE_ENUMS));
    with_raw_pool!(ctx, |pool| migrator
        .run_to(ADDITIVE_ENUMS - 1, &pool)
        .await
        .unwrap());
}

/// Rows of every kind the migration touches, written on the old schema.
struct OldRows {
    tenant: TenantId,
    root: UserId,
    member: UserId,
    agent: AgentId,
    ringing: CallId,
    answered: CallId,
    finished: CallId,
}

impl OldRows {
    fn sql(&self) -> String {
        let OldRows {
            tenant: t,
            root,
            member,
            agent: a,
            ringing,
            answered,
            finished,
        } = self;
        let transcript =
            r#"[{"speaker":"caller","text":"hi","start_ms":0,"end_ms":900,"interrupted":false}]"#;
        let latency = r#"[{"eou_ms":500,"stt_ms":120,"llm_ttft_ms":300,"tts_ttfb_ms":90}]"#;
        format!(
            "INSERT INTO tenants (id, name, slug, status, plan, created_at) \
               VALUES ('{t}', 'Acme', 'acme', 'active', 'free', 1000);
             INSERT INTO users (id, email, password_hash, status, created_at) VALUES
               ('{root}', 'root@example.com', 'x', 'active', 1000),
               ('{member}', 'agent@acme.example', 'x', 'active', 1000);
             INSERT INTO memberships (user_id, tenant_id, role, created_at) VALUES
               ('{root}', NULL, 'super_admin', 1001),
               ('{root}', '{t}', 'admin', 1002),
               ('{member}', '{t}', 'agent', 1003);
             INSERT INTO voice_agents (id, tenant_id, name, greeting, system_prompt, language,
               stt_provider, llm_provider, tts_provider, voice, barge_in_enabled,
               barge_in_min_ms, endpointing_ms, created_at, updated_at, engine_options)
               VALUES ('{a}', '{t}', 'Bot', 'Hello', 'Be brief', 'en-US', 'openai', 'flow',
               'espeak', '', TRUE, 250, 500, 1000, 1000, '{{\"record\":true}}');
             INSERT INTO call_records (id, tenant_id, agent_id, direction, from_uri, to_uri,
               sip_call_id, attempted_at, answered_at, ended_at, status, hangup_cause,
               sip_status, duration_ms, transcript, latency, recording_path) VALUES
               ('{ringing}', '{t}', '{a}', 'inbound', 'sip:a@x', 'sip:b@y', 'c1', 2000,
                 NULL, NULL, 'ringing', NULL, NULL, NULL, '[]', '[]', NULL),
               ('{answered}', '{t}', NULL, 'outbound', 'sip:b@y', 'sip:c@z', 'c2', 3000,
                 3500, NULL, 'in_progress', NULL, NULL, NULL, '[]', '[]', NULL),
               ('{finished}', '{t}', '{a}', 'inbound', 'sip:d@x', 'sip:b@y', 'c3', 4000,
                 4100, 9100, 'completed', 'caller_hangup', 200, 5000,
                 '{transcript}', '{latency}', '{t}/{finished}.wav');"
        )
    }
}

/// A database created before migration 0003 keeps every row, index and
/// remaining constraint when `Store::connect` migrates it.
async fn data_survives_the_additive_enum_migration(ctx: Ctx) {
    old_schema(&ctx).await;
    let rows = OldRows {
        tenant: TenantId::generate(),
        root: UserId::generate(),
        member: UserId::generate(),
        agent: AgentId::generate(),
        ringing: CallId::generate(),
        answered: CallId::generate(),
        finished: CallId::generate(),
    };
    raw(&ctx, rows.sql()).await.unwrap();
    let indexes_before = indexes(&ctx).await;
    assert!(indexes_before.len() >= 6, "{indexes_before:?}");

    let store = Store::connect(&ctx.url).await.expect("migrates in place");
    let scope = TenantScope::new(rows.tenant);
    let calls = store.calls();
    let ringing = calls.get(&scope, rows.ringing).await.unwrap().unwrap();
    assert_eq!(
        (ringing.status, ringing.direction, ringing.agent_id),
        (CallStatus::Ringing, Direction::Inbound, Some(rows.agent))
    );
    let answered = calls.get(&scope, rows.answered).await.unwrap().unwrap();
    assert_eq!(
        (answered.status, answered.direction, answered.agent_id),
        (CallStatus::InProgress, Direction::Outbound, None)
    );
    assert_eq!(answered.answered_at.map(|t| t.as_unix_ms()), Some(3500));
    let finished = calls.get(&scope, rows.finished).await.unwrap().unwrap();
    assert_eq!(finished.status, CallStatus::Completed);
    assert_eq!(finished.hangup_cause.as_deref(), Some("caller_hangup"));
    assert_eq!(finished.sip_status.map(|s| s.code()), Some(200));
    assert_eq!(finished.duration_ms, Some(5000));
    assert_eq!(finished.transcript.len(), 1);
    assert_eq!(finished.transcript[0].text, "hi");
    assert_eq!(finished.latency[0].stt_ms, Some(120));
    assert!(finished.recording_path.is_some());
    assert_eq!(calls.live_count(&scope).await.unwrap(), 2);

    let mut roles: Vec<Role> = store
        .memberships()
        .roles_of(rows.root)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.role)
        .collect();
    roles.sort_by_key(|r| r.as_str());
    assert_eq!(roles, [Role::Admin, Role::SuperAdmin]);
    let member = store.memberships().roles_of(rows.member).await.unwrap();
    assert_eq!(
        (member.len(), member[0].role, member[0].tenant_id),
        (1, Role::Agent, Some(rows.tenant))
    );
    assert_eq!(store.super_admin_count().await.unwrap(), 1);
    let bot = store
        .agents()
        .get(&scope, rows.agent)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bot.name.as_str(), "Bot");

    // Indexes and the constraints that are not value lists are all back.
    assert_eq!(indexes(&ctx).await, indexes_before);
    let err = store
        .memberships()
        .grant_super_admin(rows.root)
        .await
        .unwrap_err();
    assert_eq!(conflict(err), "membership", "partial unique index");
    let err = store
        .memberships()
        .add(&scope, rows.root, TenantRole::Agent)
        .await
        .unwrap_err();
    assert_eq!(conflict(err), "membership", "UNIQUE (user_id, tenant_id)");
    let (_, globex) = tenant(&store, "Globex").await;
    let err = calls
        .start(&globex, new_call(Some(rows.agent), Direction::Inbound, 0))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "agent fkey: {err:?}");
    let other = agent(&store, &globex, "Other").await;
    let started = calls
        .start(&globex, new_call(Some(other.id), Direction::Outbound, 0))
        .await
        .unwrap();
    assert_eq!(started.status, CallStatus::Ringing);
    let scope_check = format!(
        "INSERT INTO memberships (user_id, tenant_id, role, created_at) \
         VALUES ('{}', '{}', 'super_admin', 1)",
        rows.member, rows.tenant
    );
    assert!(raw(&ctx, scope_check).await.is_err(), "role scope check");
    let sip_check = format!(
        "UPDATE call_records SET sip_status = 99 WHERE id = '{}'",
        rows.finished
    );
    assert!(raw(&ctx, sip_check).await.is_err(), "sip_status check");
    let cascade = format!("DELETE FROM tenants WHERE id = '{}'", rows.tenant);
    raw(&ctx, cascade).await.unwrap();
    assert!(calls.get(&scope, rows.finished).await.unwrap().is_none());
    assert!(store
        .memberships()
        .roles_of(rows.member)
        .await
        .unwrap()
        .is_empty());
    store.close().await;
}

/// The schema takes a value no Rust type knows (a later release may add
/// one); this release reads it back as an error, not a value or a panic.
async fn unknown_enum_values_are_errors_not_panics(ctx: Ctx) {
    let s = &ctx.store;
    let (t, scope) = tenant(s, "Acme").await;
    let bot = agent(s, &scope, "Bot").await;
    let a = s
        .calls()
        .start(&scope, new_call(Some(bot.id), Direction::Inbound, 0))
        .await
        .unwrap();
    let b = s
        .calls()
        .start(&scope, new_call(None, Direction::Outbound, 1))
        .await
        .unwrap();
    let user = support::user(s, "agent@acme.example").await;
    support::add_member(s, &scope, user.id, TenantRole::Agent).await;

    // Accepted by the schema: the lists are gone.
    for sql in [
        format!(
            "UPDATE call_records SET status = 'voicemail' WHERE id = '{}'",
            a.id
        ),
        format!(
            "UPDATE call_records SET direction = 'sideways' WHERE id = '{}'",
            b.id
        ),
        format!(
            "UPDATE memberships SET role = 'owner' WHERE user_id = '{}'",
            user.id
        ),
    ] {
        raw(&ctx, sql).await.expect("the schema lists no values");
    }

    // Rejected by the Rust types on the way out.
    let err = s.calls().get(&scope, a.id).await.unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err:?}");
    assert!(err.to_string().contains("invalid call status"), "{err}");
    let err = s.calls().get(&scope, b.id).await.unwrap_err();
    assert!(err.to_string().contains("invalid direction"), "{err}");
    let page = parla_admin_core::store::Page::new(1, 50).unwrap();
    let err = s
        .calls()
        .list(&scope, &Default::default(), page)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err:?}");
    let err = s.memberships().roles_of(user.id).await.unwrap_err();
    assert!(err.to_string().contains("invalid role"), "{err}");
    // Counting does not decode the values: still answers.
    assert_eq!(s.calls().live_count(&scope).await.unwrap(), 1);
    assert!(s.tenants().get(t.id).await.unwrap().is_some());
}
