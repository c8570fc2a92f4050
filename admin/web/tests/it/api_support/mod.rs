//! A real `/api/v1` server for the API tests (`api_openapi`,
//! `api_ratelimit`, `api_schemathesis`): its own thread, actix system and
//! store connection, listening on 127.0.0.1:0; and a seeded tenant to call
//! it with.
#![allow(dead_code)] // each test binary uses a different subset

use actix_web::{web, App, HttpServer};
use parla_admin_core::auth::{hash_password, ApiKey as KeyGen, SecretKey};
use parla_admin_core::domain::{
    CallId, CallStatus, Direction, Opaque, Speaker, TenantId, Timestamp, TranscriptTurn,
    TurnLatency,
};
use parla_admin_core::store::{CallEnd, NewApiKey, NewCall, NewUser, Store};
use parla_admin_web::api::{configure, AdminState};

use crate::support::{populate, start_call, tenant, Populated};

/// A running API server.
pub struct Server {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Starts a server on the database at `url`, with the state from
    /// [`AdminState::new`] passed through `tune` (e.g. to change limits).
    pub fn start(url: &str, tune: fn(AdminState) -> AdminState) -> Server {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = url.to_owned();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let store = Store::connect(&url).await.unwrap();
                let state =
                    web::Data::new(tune(AdminState::new(store.clone(), SecretKey::generate())));
                let server = HttpServer::new(move || {
                    let state = state.clone();
                    App::new().configure(move |cfg| configure(cfg, state))
                })
                .workers(2)
                .disable_signals()
                .listen(listener)
                .unwrap()
                .run();
                tx.send(server.handle()).unwrap();
                let _ = server.await;
                store.close().await;
            })
        });
        Server {
            base: format!("http://127.0.0.1:{port}"),
            handle: rx.recv().unwrap(),
            thread: Some(thread),
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server and waits for its thread.
    pub async fn stop(mut self) {
        self.handle.stop(true).await;
        if let Some(t) = self.thread.take() {
            tokio::task::spawn_blocking(move || t.join().unwrap())
                .await
                .unwrap();
        }
    }
}

/// The e-mail of the super admin made by [`super_admin`] in tests.
pub const ROOT_EMAIL: &str = "root@example.com";
/// Their password.
pub const ROOT_PASSWORD: &str = "correct horse battery";

/// Creates a super admin who logs in with `email` and `password`.
pub async fn super_admin(store: &Store, email: &str, password: &str) {
    let user = store
        .users()
        .create(NewUser {
            email: email.parse().unwrap(),
            password_hash: Opaque::new(hash_password(password).unwrap()),
        })
        .await
        .unwrap();
    store
        .memberships()
        .grant_super_admin(user.id)
        .await
        .unwrap();
}

/// What [`seed`] created.
pub struct Seeded {
    /// The tenant ("Acme").
    pub tenant: TenantId,
    /// One of everything in it (agent, number, trunk, key, ringing call, …).
    pub items: Populated,
    /// A finished call with transcript and latency.
    pub finished_call: CallId,
    /// A working API key of the tenant (`pk_…`), for `Authorization: Bearer`.
    pub api_key: String,
}

/// Creates tenant "Acme" with one of everything, a finished call with its
/// transcript and latency, and a real API key.
pub async fn seed(store: &Store) -> Seeded {
    let (t, scope) = tenant(store, "Acme").await;
    let items = populate(store, &scope, "acme", "+14155550100").await;
    let call = start_call(
        store,
        &scope,
        NewCall {
            agent_id: Some(items.agent),
            direction: Direction::Outbound,
            from_uri: "sip:agent@parla.example".to_owned(),
            to_uri: "sip:+15550002222@carrier.example".to_owned(),
            sip_call_id: "seeded-finished@parla".to_owned(),
            attempted_at: Timestamp::from_unix_ms(1_718_000_000_000),
            answered_at: Some(Timestamp::from_unix_ms(1_718_000_001_000)),
            status: CallStatus::InProgress,
        },
    )
    .await;
    store
        .calls()
        .finish(
            &scope,
            call,
            finished(Timestamp::from_unix_ms(1_718_000_031_000)),
        )
        .await
        .unwrap();
    let generated = KeyGen::generate();
    store
        .api_keys()
        .create(
            &scope,
            NewApiKey {
                name: "schema tests".parse().unwrap(),
                prefix: generated.prefix.clone(),
                key_hash: Opaque::new(generated.hash.clone()),
                created_by: items.user,
            },
        )
        .await
        .unwrap();
    Seeded {
        tenant: t.id,
        items,
        finished_call: call,
        api_key: generated.plaintext,
    }
}

/// A completed call at `ended_at` with two transcript turns and latency.
fn finished(ended_at: Timestamp) -> CallEnd {
    CallEnd {
        ended_at,
        status: CallStatus::Completed,
        hangup_cause: Some("caller_hangup".to_owned()),
        sip_status: Some(200u16.try_into().unwrap()),
        transcript: vec![
            TranscriptTurn {
                speaker: Speaker::Agent,
                text: "Hello, how can I help?".to_owned(),
                start_ms: 0,
                end_ms: 1_200,
                interrupted: false,
            },
            TranscriptTurn {
                speaker: Speaker::Caller,
                text: "Opening hours, please.".to_owned(),
                start_ms: 1_500,
                end_ms: 2_900,
                interrupted: false,
            },
        ],
        latency: vec![TurnLatency {
            eou_ms: Some(180),
            stt_ms: Some(90),
            llm_ttft_ms: Some(240),
            tts_ttfb_ms: Some(110),
            v2v_ms: Some(620),
        }],
        recording_path: None,
    }
}

/// A session token of `user` working in `tenant`, created in the store
/// (for calls that need a human session rather than an API key).
pub async fn session_token(
    store: &Store,
    user: parla_admin_core::domain::UserId,
    tenant: TenantId,
) -> String {
    use parla_admin_core::auth::{SessionToken, SESSION_TTL};
    let token = SessionToken::generate();
    let now = Timestamp::now();
    store
        .sessions()
        .create(parla_admin_core::store::NewSession {
            id: token.session_id.clone(),
            user_id: user,
            tenant_id: Some(tenant),
            masquerading_from: None,
            csrf_token: Opaque::new("unused"),
            now,
            expires_at: now.plus(SESSION_TTL),
        })
        .await
        .unwrap();
    token.cookie_value
}
