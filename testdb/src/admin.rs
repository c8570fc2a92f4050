//! The admin store test harness (feature `admin`), shared by the tests of
//! `parla-admin-core` and `parla-admin-web`: every case runs once per
//! backend, each on a fresh database ([`crate::TestDb`]).
//!
//! * SQLite: a new file under the system temp dir, removed afterwards.
//! * PostgreSQL: `CREATE DATABASE parla_t_<case>_<unique>` on the server named by
//!   `PARLA_TEST_POSTGRES_URL` (default
//!   `postgres://postgres@127.0.0.1:5432/postgres`), dropped afterwards
//!   `WITH (FORCE)`, also when the case panics. If the server is
//!   unreachable the case prints `SKIPPED postgres: <reason>` and passes,
//!   unless `PARLA_REQUIRE_POSTGRES=1`, where it fails.
//!
//! [`store_tests!`](crate::store_tests)`(case_a, case_b)` turns each
//! `async fn case(ctx: Ctx)` into two tests, `case::sqlite` and
//! `case::postgres`, so a failure names its backend (the calling crate
//! needs `tokio` with its `macros` feature). The fixtures below create
//! tenants, users, agents, numbers, trunks, API keys, calls and audit
//! entries through the store's public API and panic on failure (test input
//! is known-good).

use std::future::Future;

use parla_admin_core::domain::{
    AgentId, ApiKeyId, CallId, CallStatus, Direction, Email, Name, NumberAddress, NumberId, Opaque,
    Slug, TenantId, TenantRole, TenantStatus, Timestamp, TrunkId, UserId,
};
use parla_admin_core::store::{
    AgentSpec, ApiKey, CallEnd, NewApiKey, NewAuditEntry, NewCall, NewNumber, NewTenant, NewUser,
    PhoneNumber, SipTrunk, Store, StoreError, Tenant, TenantScope, TenantUpdate, TrunkSpec, User,
    VoiceAgent,
};

/// The backend a case runs on (the store's, re-exported for
/// [`store_tests!`](crate::store_tests)).
pub use parla_admin_core::store::Backend;

/// What a test case receives.
pub struct Ctx {
    /// A migrated store on a fresh database.
    pub store: Store,
    /// Its backend.
    pub backend: Backend,
    /// The URL it was opened with (to reconnect).
    pub url: String,
}

/// Generates `mod $case { sqlite, postgres }` tests for each case function.
#[macro_export]
macro_rules! store_tests {
    ($($case:ident),+ $(,)?) => {
        $(
            mod $case {
                #[tokio::test]
                async fn sqlite() {
                    $crate::admin::run(
                        $crate::admin::Backend::Sqlite,
                        stringify!($case),
                        super::$case,
                    )
                    .await
                }

                #[tokio::test]
                async fn postgres() {
                    $crate::admin::run(
                        $crate::admin::Backend::Postgres,
                        stringify!($case),
                        super::$case,
                    )
                    .await
                }
            }
        )+
    };
}

/// Runs `case` on a fresh database of `backend`, then drops the database
/// (even if the case panicked) and re-raises the case's panic.
pub async fn run<F, Fut>(backend: Backend, case_name: &str, case: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    // The shared per-test database helper (crate `parla-testdb`): honours
    // PARLA_TEST_POSTGRES_URL and PARLA_REQUIRE_POSTGRES.
    let kind = match backend {
        Backend::Sqlite => crate::Backend::Sqlite,
        Backend::Postgres => crate::Backend::Postgres,
    };
    let Some(db) = crate::TestDb::create_or_skip(kind, case_name).await else {
        return;
    };
    let url = db.url();
    let store = match Store::connect(&url).await {
        Ok(store) => store,
        Err(err) => {
            db.drop_db().await;
            panic!("[{backend}] {case_name}: connect failed: {err}");
        }
    };
    assert_eq!(store.backend(), backend);
    let ctx = Ctx {
        store: store.clone(),
        backend,
        url,
    };
    let outcome = tokio::spawn(case(ctx)).await;
    store.close().await;
    db.drop_db().await;
    if let Err(err) = outcome {
        eprintln!("[{backend}] {case_name} failed");
        match err.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(err) => panic!("[{backend}] {case_name}: task error: {err}"),
        }
    }
}

// ---------------------------------------------------------------- fixtures

/// Parses or panics (test input is known-good).
pub fn name(s: &str) -> Name {
    s.parse().unwrap()
}

/// Parses or panics.
pub fn slug(s: &str) -> Slug {
    s.parse().unwrap()
}

/// Parses or panics.
pub fn email(s: &str) -> Email {
    s.parse().unwrap()
}

/// A fixed point in time, `offset_ms` after 2024-06-10T06:13:20Z.
pub fn at(offset_ms: i64) -> Timestamp {
    Timestamp::from_unix_ms(1_718_000_000_000 + offset_ms)
}

/// Creates a tenant named `n` (slug derived) and returns it with its scope.
pub async fn tenant(store: &Store, n: &str) -> (Tenant, TenantScope) {
    let t = store
        .tenants()
        .create(NewTenant {
            name: name(n),
            slug: slug(&n.to_lowercase().replace(' ', "-")),
            plan: None,
        })
        .await
        .unwrap();
    let scope = TenantScope::new(t.id);
    (t, scope)
}

/// Creates a user with a fake hash.
pub async fn user(store: &Store, e: &str) -> User {
    store
        .users()
        .create(NewUser {
            email: email(e),
            password_hash: Opaque::new(format!("$argon2id$fake${e}")),
        })
        .await
        .unwrap()
}

/// A complete agent configuration named `n`.
pub fn agent_spec(n: &str) -> AgentSpec {
    AgentSpec {
        name: name(n),
        greeting: format!("Hello from {n}"),
        system_prompt: "You are a helpful receptionist.".to_owned(),
        flow: None,
        language: "en-US".to_owned(),
        stt_provider: "whisper".to_owned(),
        llm_provider: "openai".to_owned(),
        tts_provider: "piper".to_owned(),
        voice: "amy".to_owned(),
        barge_in_enabled: true,
        barge_in_min_ms: 250,
        endpointing_ms: 600,
    }
}

/// A complete trunk configuration named `n`.
pub fn trunk_spec(n: &str) -> TrunkSpec {
    TrunkSpec {
        name: name(n),
        host: "sip.carrier.example".parse().unwrap(),
        port: 5060,
        transport: parla_admin_core::domain::Transport::Udp,
        auth_user: Some("acct-1".to_owned()),
        register: true,
    }
}

/// A scope for a tenant that does not exist.
pub fn ghost_scope() -> TenantScope {
    TenantScope::new(TenantId::generate())
}

/// Creates the tenants "Acme" and "Globex", in that order.
pub async fn acme_and_globex(store: &Store) -> [(Tenant, TenantScope); 2] {
    [tenant(store, "Acme").await, tenant(store, "Globex").await]
}

/// Sets the status of tenant `id`.
pub async fn set_tenant_status(store: &Store, id: TenantId, status: TenantStatus) -> Tenant {
    let update = TenantUpdate {
        status: Some(status),
        ..Default::default()
    };
    store.tenants().update(id, update).await.unwrap()
}

/// Adds `user` to the scope's tenant with `role`.
pub async fn add_member(store: &Store, scope: &TenantScope, user: UserId, role: TenantRole) {
    store.memberships().add(scope, user, role).await.unwrap();
}

/// Creates an agent from [`agent_spec`]`(n)`, without credentials.
pub async fn agent(store: &Store, scope: &TenantScope, n: &str) -> VoiceAgent {
    store
        .agents()
        .create(scope, &agent_spec(n), None)
        .await
        .unwrap()
}

/// Parses a number address or panics.
pub fn addr(s: &str) -> NumberAddress {
    s.parse().unwrap()
}

/// The input of a number at `address` routed to `agent` (or to none).
pub fn new_number(address: &str, agent: Option<AgentId>) -> NewNumber {
    NewNumber {
        address: addr(address),
        agent_id: agent,
    }
}

/// Adds the number `address`, routed to `agent` (or to none).
pub async fn number(
    store: &Store,
    scope: &TenantScope,
    address: &str,
    agent: Option<AgentId>,
) -> PhoneNumber {
    store
        .numbers()
        .create(scope, new_number(address, agent))
        .await
        .unwrap()
}

/// Creates a trunk from [`trunk_spec`]`(n)`, without password.
pub async fn trunk(store: &Store, scope: &TenantScope, n: &str) -> SipTrunk {
    store
        .trunks()
        .create(scope, &trunk_spec(n), None)
        .await
        .unwrap()
}

/// The input of an API key labelled `label`; its hash is
/// `hash-of-<prefix>`.
pub fn new_api_key(label: &str, prefix: &str, created_by: UserId) -> NewApiKey {
    NewApiKey {
        name: name(label),
        prefix: prefix.to_owned(),
        key_hash: Opaque::new(format!("hash-of-{prefix}")),
        created_by,
    }
}

/// Creates an API key labelled `ci` with this prefix.
pub async fn api_key(
    store: &Store,
    scope: &TenantScope,
    prefix: &str,
    created_by: UserId,
) -> ApiKey {
    store
        .api_keys()
        .create(scope, new_api_key("ci", prefix, created_by))
        .await
        .unwrap()
}

/// A ringing call attempted `attempted_ms` after [`at`]`(0)`, with SIP
/// Call-ID `call-<attempted_ms>@carrier`.
pub fn new_call(agent: Option<AgentId>, direction: Direction, attempted_ms: i64) -> NewCall {
    NewCall {
        agent_id: agent,
        direction,
        from_uri: "sip:+15550001111@carrier.example".to_owned(),
        to_uri: "sip:+14155550100@parla.example".to_owned(),
        sip_call_id: format!("call-{attempted_ms}@carrier"),
        attempted_at: at(attempted_ms),
        answered_at: None,
        status: CallStatus::Ringing,
    }
}

/// Records `call` and returns its id.
pub async fn start_call(store: &Store, scope: &TenantScope, call: NewCall) -> CallId {
    store.calls().start(scope, call).await.unwrap().id
}

/// The end of a call with `status` at `ended_ms`, without details.
pub fn call_end(status: CallStatus, ended_ms: i64) -> CallEnd {
    CallEnd {
        ended_at: at(ended_ms),
        status,
        hangup_cause: None,
        sip_status: None,
        transcript: vec![],
        latency: vec![],
        recording_path: None,
    }
}

/// An audit entry of `action` at `at_ms`, targeting `target-<at_ms>`.
pub fn audit_entry(
    tenant: Option<TenantId>,
    actor: Option<UserId>,
    action: &str,
    at_ms: i64,
) -> NewAuditEntry {
    NewAuditEntry {
        actor_user_id: actor,
        actor_label: "someone@example.com".to_owned(),
        tenant_id: tenant,
        action: action.to_owned(),
        target: format!("target-{at_ms}"),
        before: None,
        after: None,
        ip: None,
        at: at(at_ms),
    }
}

/// The field of a `Conflict`; panics on any other result.
pub fn conflict(err: StoreError) -> &'static str {
    match err {
        StoreError::Conflict { field } => field,
        other => panic!("expected Conflict, got {other:?}"),
    }
}

/// The ids of one of everything in a tenant, made by [`populate`].
pub struct Populated {
    pub user: UserId,
    pub agent: AgentId,
    pub number: NumberId,
    pub trunk: TrunkId,
    pub key: ApiKeyId,
    pub call: CallId,
}

/// Fills the scope's tenant with one of everything: user `<tag>@example.com`
/// (an admin member), agent "Bot" (with credentials) answering `number`,
/// trunk "Main", API key `pk_<tag>`, a ringing call to the agent and one
/// audit entry.
pub async fn populate(s: &Store, scope: &TenantScope, tag: &str, number: &str) -> Populated {
    let u = user(s, &format!("{tag}@example.com")).await;
    add_member(s, scope, u.id, TenantRole::Admin).await;
    let agent = s
        .agents()
        .create(scope, &agent_spec("Bot"), Some(&Opaque::new("enc")))
        .await
        .unwrap();
    let number = self::number(s, scope, number, Some(agent.id)).await;
    let trunk = trunk(s, scope, "Main").await;
    let key = api_key(s, scope, &format!("pk_{tag}"), u.id).await;
    let call = start_call(s, scope, new_call(Some(agent.id), Direction::Inbound, 0)).await;
    s.audit()
        .record(audit_entry(
            Some(scope.tenant()),
            Some(u.id),
            "agent.create",
            1,
        ))
        .await
        .unwrap();
    Populated {
        user: u.id,
        agent: agent.id,
        number: number.id,
        trunk: trunk.id,
        key: key.id,
        call,
    }
}
