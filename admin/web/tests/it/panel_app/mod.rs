//! Test harness of the web panel: a real server on 127.0.0.1:0 (its own
//! actix system and store connection, the JSON API and the panel mounted
//! like the binary does), seeding helpers, and a cookie-keeping browser-like
//! HTTP client that does not follow redirects.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use parla_admin_core::auth::{hash_password, LoginThrottle, SecretKey};
use parla_admin_core::domain::{
    AgentId, CallId, CallStatus, Direction, Opaque, Speaker, TenantRole, TranscriptTurn,
    TurnLatency, UserId,
};
use parla_admin_core::store::{CallEnd, NewCall, NewUser, Store, TenantScope};
use parla_admin_web::api::{self, AdminState};
use parla_admin_web::panel::{self, PanelOptions};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use crate::support::{at, Ctx};

pub const ROOT_EMAIL: &str = "root@example.com";
pub const ROOT_PASSWORD: &str = "correct horse battery";
pub const PASSWORD: &str = "tenant-password-123";
/// A provider credential that must never appear in a page once saved.
pub const SECRET: &str = "sk-live-VERY-SECRET-credential-0123456789";

/// A running server.
pub struct PanelApp {
    pub base: String,
    pub root: UserId,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PanelApp {
    /// Stops the server and waits for its thread.
    pub async fn stop(mut self) {
        self.handle.stop(true).await;
        if let Some(t) = self.thread.take() {
            tokio::task::spawn_blocking(move || t.join().unwrap())
                .await
                .unwrap();
        }
    }

    /// A new client (its own cookie jar) for this server.
    pub fn client(&self) -> Client {
        Client::new(&self.base, None)
    }

    /// A new client sending `Accept-Language: lang`.
    pub fn client_with_language(&self, lang: &str) -> Client {
        Client::new(&self.base, Some(lang))
    }
}

/// Creates a user with `email` and [`PASSWORD`] (real argon2 hash).
pub async fn user_with_password(store: &Store, email: &str, password: &str) -> UserId {
    store
        .users()
        .create(NewUser {
            email: email.parse().unwrap(),
            password_hash: Opaque::new(hash_password(password).unwrap()),
        })
        .await
        .unwrap()
        .id
}

/// Creates a member of the scope's tenant with `role`, password [`PASSWORD`].
pub async fn member(store: &Store, scope: &TenantScope, email: &str, role: TenantRole) -> UserId {
    let id = user_with_password(store, email, PASSWORD).await;
    store.memberships().add(scope, id, role).await.unwrap();
    id
}

/// Seeds the super admin and starts the API + panel on the test's database.
pub async fn spawn(ctx: &Ctx, options: PanelOptions) -> PanelApp {
    let root = user_with_password(&ctx.store, ROOT_EMAIL, ROOT_PASSWORD).await;
    ctx.store
        .memberships()
        .grant_super_admin(root)
        .await
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = ctx.url.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let store = Store::connect(&url).await.unwrap();
            let lockout = Duration::from_secs(600);
            let state = web::Data::new(
                AdminState::new(store.clone(), SecretKey::generate())
                    .with_throttle(LoginThrottle::new(20, lockout, lockout)),
            );
            let server = HttpServer::new(move || {
                let (state, options) = (state.clone(), options.clone());
                App::new().configure(move |cfg| {
                    api::configure(cfg, state.clone());
                    panel::configure(cfg, state, options);
                })
            })
            .workers(1)
            .disable_signals()
            .listen(listener)
            .unwrap()
            .run();
            tx.send(server.handle()).unwrap();
            let _ = server.await;
            store.close().await;
        })
    });
    let handle = rx.recv().unwrap();
    PanelApp {
        base: format!("http://127.0.0.1:{port}"),
        root,
        handle,
        thread: Some(thread),
    }
}

/// The offset for [`crate::support::at`] of 5 s ago (a call "today").
pub fn five_seconds_ago() -> i64 {
    parla_admin_core::domain::Timestamp::now().as_unix_ms() - at(0).as_unix_ms() - 5_000
}

/// A fresh directory for recordings under the temp dir.
pub fn recordings_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("parla-panel-rec-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A finished inbound call to `agent` with a 4-turn transcript, two turns
/// of latency (v2v 780 and 640 ms) and `recording`.
pub async fn finished_call(
    store: &Store,
    scope: &TenantScope,
    agent: Option<AgentId>,
    attempted_ms: i64,
    recording: Option<String>,
) -> CallId {
    let call = store
        .calls()
        .start(
            scope,
            NewCall {
                agent_id: agent,
                direction: Direction::Inbound,
                from_uri: "sip:+15550001111@carrier.example".to_owned(),
                to_uri: "sip:+14155550100@parla.example".to_owned(),
                sip_call_id: format!("panel-{attempted_ms}@carrier"),
                attempted_at: at(attempted_ms),
                answered_at: Some(at(attempted_ms + 1_000)),
                status: CallStatus::InProgress,
            },
        )
        .await
        .unwrap();
    let turn = |speaker, text: &str, start_ms, end_ms, interrupted| TranscriptTurn {
        speaker,
        text: text.to_owned(),
        start_ms,
        end_ms,
        interrupted,
    };
    store
        .calls()
        .finish(
            scope,
            call.id,
            CallEnd {
                ended_at: at(attempted_ms + 61_000),
                status: CallStatus::Completed,
                hangup_cause: Some("caller_hangup".to_owned()),
                sip_status: Some(200u16.try_into().unwrap()),
                transcript: vec![
                    turn(
                        Speaker::Agent,
                        "Hello, Acme dental, how can I help?",
                        0,
                        2_100,
                        false,
                    ),
                    turn(
                        Speaker::Caller,
                        "I need to move my appointment to Friday.",
                        2_600,
                        5_200,
                        false,
                    ),
                    turn(
                        Speaker::Agent,
                        "Sure, Friday at ten works. Shall I",
                        5_980,
                        7_400,
                        true,
                    ),
                    turn(
                        Speaker::Caller,
                        "Yes please, ten is perfect.",
                        7_300,
                        9_000,
                        false,
                    ),
                ],
                latency: vec![
                    TurnLatency {
                        eou_ms: Some(220),
                        stt_ms: Some(90),
                        llm_ttft_ms: Some(310),
                        tts_ttfb_ms: Some(140),
                        v2v_ms: Some(780),
                    },
                    TurnLatency {
                        eou_ms: Some(180),
                        stt_ms: Some(80),
                        llm_ttft_ms: Some(260),
                        tts_ttfb_ms: Some(110),
                        v2v_ms: Some(640),
                    },
                ],
                recording_path: recording,
            },
        )
        .await
        .unwrap();
    call.id
}

/// A response: status, headers, body.
pub struct Res {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Res {
    /// The `Location` header.
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// Every `Set-Cookie` header.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    /// The value of the first hidden `csrf_token` field of the page.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf_token\" value=\"";
        let start = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no csrf_token field in: {}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_owned()
    }
}

/// A cookie-keeping client that does not follow redirects, remembering
/// every body it saw (to search for leaked secrets).
pub struct Client {
    base: String,
    http: reqwest::Client,
    pub bodies: Vec<String>,
}

impl Client {
    /// A client for the server at `base` (`http://127.0.0.1:<port>`).
    pub fn for_base(base: &str) -> Client {
        Client::new(base, None)
    }

    fn new(base: &str, lang: Option<&str>) -> Client {
        let mut headers = HeaderMap::new();
        if let Some(l) = lang {
            headers.insert("accept-language", l.parse().unwrap());
        }
        Client {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .default_headers(headers)
                .build()
                .unwrap(),
            bodies: vec![],
        }
    }

    async fn done(&mut self, res: reqwest::Response) -> Res {
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.text().await.unwrap();
        self.bodies.push(body.clone());
        Res {
            status,
            headers,
            body,
        }
    }

    /// GET `path`.
    pub async fn get(&mut self, path: &str) -> Res {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        self.done(res).await
    }

    /// GET `path`, asserting 200.
    pub async fn page(&mut self, path: &str) -> Res {
        let res = self.get(path).await;
        assert_eq!(res.status, StatusCode::OK, "GET {path}: {}", res.body);
        res
    }

    /// POST the form `fields` to `path`.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Res {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .unwrap();
        self.done(res).await
    }

    /// POST with the `X-CSRF-Token` header (as htmx does).
    pub async fn post_with_header(
        &mut self,
        path: &str,
        csrf: &str,
        fields: &[(&str, &str)],
    ) -> Res {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .header("x-csrf-token", csrf)
            .header("hx-request", "true")
            .form(fields)
            .send()
            .await
            .unwrap();
        self.done(res).await
    }

    /// Signs in through the login form; panics unless it redirects.
    pub async fn login(&mut self, email: &str, password: &str) -> Res {
        let form = self.page("/panel/login").await;
        let csrf = form.csrf();
        let res = self
            .post(
                "/panel/login",
                &[
                    ("csrf_token", &csrf),
                    ("email", email),
                    ("password", password),
                ],
            )
            .await;
        assert_eq!(
            res.status,
            StatusCode::SEE_OTHER,
            "login {email}: {}",
            res.body
        );
        res
    }

    /// Asserts no page seen so far contains `secret`.
    pub fn assert_never_shown(&self, secret: &str) {
        for b in &self.bodies {
            assert!(!b.contains(secret), "secret leaked in a page: {b}");
        }
    }
}
