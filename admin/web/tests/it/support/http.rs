//! HTTP test harness: a real API server on 127.0.0.1:0 (its own actix
//! system and store connection to the test's database), reqwest as the
//! client. Credentials go as a bearer token or as the session cookie (with
//! or without the CSRF header).

use std::time::Duration;

use actix_web::{web, App, HttpServer};
use parla_admin_core::auth::{hash_password, LoginThrottle, SecretKey};
use parla_admin_core::domain::{Opaque, UserId};
use parla_admin_core::store::Store;
use parla_admin_web::api::{configure, AdminState};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::Ctx;

/// The seeded super admin's login.
pub const ROOT_EMAIL: &str = "root@example.com";
/// The seeded super admin's password.
pub const ROOT_PASSWORD: &str = "correct horse battery";
/// The password of users created by tests.
pub const PASSWORD: &str = "tenant-password-123";
/// A provider secret that must never appear in a response.
pub const SECRET: &str = "sk-live-VERY-SECRET-credential-0123456789";

/// How a request authenticates.
#[derive(Clone, Copy, Debug)]
pub enum Cred<'a> {
    /// Nothing.
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(&'a str),
    /// The session cookie, with `X-CSRF-Token` if given.
    Cookie(&'a str, Option<&'a str>),
}

/// Server options.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Failed logins per IP/account before lockout.
    pub max_failures: u32,
    /// `Secure` session cookies.
    pub secure_cookies: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_failures: 3,
            secure_cookies: false,
        }
    }
}

/// A running API server and a client for it.
pub struct TestApp {
    base: String,
    client: reqwest::Client,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Every response body seen, to search for leaked secrets.
    bodies: Vec<String>,
}

fn parse(path: &str, text: &str) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"))
    }
}

impl TestApp {
    /// A request with a bearer token (or none); JSON answer.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let cred = token.map_or(Cred::None, Cred::Bearer);
        let (s, _, v) = self.send(method, path, cred, body).await;
        (s, v)
    }

    /// A request with any credentials; status, headers and JSON answer.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        cred: Cred<'_>,
        body: Option<Value>,
    ) -> (StatusCode, HeaderMap, Value) {
        let (s, h, text) = self
            .raw_with(method, path, cred, body.map(|b| b.to_string()))
            .await;
        (s, h, parse(path, &text))
    }

    pub async fn get(&mut self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn delete(&mut self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, token, None).await
    }

    pub async fn post(
        &mut self,
        path: &str,
        token: Option<&str>,
        body: impl Into<Option<Value>>,
    ) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, body.into()).await
    }

    pub async fn patch(
        &mut self,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, token, Some(body)).await
    }

    /// A request with a bearer token (or none) and a raw body.
    pub async fn raw(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> (StatusCode, HeaderMap, String) {
        let cred = token.map_or(Cred::None, Cred::Bearer);
        self.raw_with(method, path, cred, body).await
    }

    /// A request with any credentials and a raw body.
    pub async fn raw_with(
        &mut self,
        method: Method,
        path: &str,
        cred: Cred<'_>,
        body: Option<String>,
    ) -> (StatusCode, HeaderMap, String) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        match cred {
            Cred::None => {}
            Cred::Bearer(t) => req = req.bearer_auth(t),
            Cred::Cookie(t, csrf) => {
                req = req.header("cookie", format!("theme=dark; parla_session={t}"));
                if let Some(c) = csrf {
                    req = req.header("x-csrf-token", c);
                }
            }
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        self.bodies.push(text.clone());
        (status, headers, text)
    }

    /// `POST /api/v1/auth/login` with `body`; status, headers, JSON.
    pub async fn try_login(&mut self, body: Value) -> (StatusCode, HeaderMap, Value) {
        self.send(Method::POST, "/api/v1/auth/login", Cred::None, Some(body))
            .await
    }

    /// Logs in (no TOTP) and returns the whole 200 body
    /// (`token`, `csrf_token`, …).
    pub async fn login_body(&mut self, email: &str, password: &str) -> Value {
        let (status, _, body) = self
            .try_login(json!({ "email": email, "password": password }))
            .await;
        assert_eq!(status, StatusCode::OK, "login {email}: {body}");
        assert!(body["token"].is_string(), "login {email}: {body}");
        body
    }

    /// Logs in (no TOTP) and returns the session token.
    pub async fn login(&mut self, email: &str, password: &str) -> String {
        self.login_body(email, password).await["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Stops the server and checks no response leaked [`SECRET`].
    pub async fn stop(mut self) {
        self.handle.stop(true).await;
        if let Some(t) = self.thread.take() {
            tokio::task::spawn_blocking(move || t.join().unwrap())
                .await
                .unwrap();
        }
        for b in &self.bodies {
            assert!(!b.contains(SECRET), "secret leaked in a response: {b}");
        }
    }
}

/// Seeds the super admin in `ctx.store` and starts a server (3 failed
/// logins lock an IP/account for 10 minutes).
pub async fn spawn_app(ctx: &Ctx) -> (TestApp, UserId) {
    spawn_app_with(ctx, Options::default()).await
}

/// [`spawn_app`] with options.
pub async fn spawn_app_with(ctx: &Ctx, opts: Options) -> (TestApp, UserId) {
    spawn_app_tuned(ctx, opts, |s| s).await
}

/// [`spawn_app_with`], then `tune` applied to the state (e.g. to set the
/// login throttle's policies).
pub async fn spawn_app_tuned(
    ctx: &Ctx,
    opts: Options,
    tune: fn(AdminState) -> AdminState,
) -> (TestApp, UserId) {
    let hash = hash_password(ROOT_PASSWORD).unwrap();
    let root = ctx
        .store
        .users()
        .create(parla_admin_core::store::NewUser {
            email: ROOT_EMAIL.parse().unwrap(),
            password_hash: Opaque::new(hash),
        })
        .await
        .unwrap();
    ctx.store
        .memberships()
        .grant_super_admin(root.id)
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
            let state = web::Data::new(tune(
                AdminState::new(store.clone(), SecretKey::generate())
                    .with_throttle(LoginThrottle::new(opts.max_failures, lockout, lockout))
                    .with_secure_cookies(opts.secure_cookies)
                    // Request rate limits are tested in api_ratelimit.rs.
                    .with_rate_limits(parla_admin_web::api::RateLimits::unlimited()),
            ));
            let server = HttpServer::new(move || {
                let state = state.clone();
                App::new().configure(move |cfg| configure(cfg, state))
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
    let app = TestApp {
        base: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
        handle,
        thread: Some(thread),
        bodies: vec![],
    };
    (app, root.id)
}

/// `/api/v1/tenants/{tid}{rest}`.
pub fn tenant(tid: &str, rest: &str) -> String {
    format!("/api/v1/tenants/{tid}{rest}")
}

/// Asserts an error answer: status and `error.code`.
pub fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
}

/// Creates a tenant through the API as `root`; returns its id.
pub async fn create_tenant(app: &mut TestApp, root: &str, name: &str) -> String {
    let slug = name.to_lowercase().replace(' ', "-");
    let (s, t) = app
        .post(
            "/api/v1/tenants",
            Some(root),
            json!({ "name": name, "slug": slug }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    t["id"].as_str().unwrap().to_owned()
}

/// Creates a user of tenant `tid` with [`PASSWORD`] and `role` through the
/// API as `root`; returns the user id.
pub async fn create_user(
    app: &mut TestApp,
    root: &str,
    tid: &str,
    email: &str,
    role: &str,
) -> String {
    let (s, u) = app
        .post(
            &tenant(tid, "/users"),
            Some(root),
            json!({ "email": email, "password": PASSWORD, "role": role }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{u}");
    u["id"].as_str().unwrap().to_owned()
}
