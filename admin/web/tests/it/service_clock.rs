//! The admin plane reads time from its clock: moving a test clock forward
//! past the idle timeout ends API and panel sessions, with no waiting.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use parla_admin_core::auth::{SecretKey, SESSION_IDLE_TIMEOUT};
use parla_admin_core::domain::ManualClock;
use parla_admin_core::store::Store;
use parla_admin_web::api::{self, AdminState};
use parla_admin_web::panel::{self, PanelOptions};
use reqwest::StatusCode;
use serde_json::json;

use crate::api_support::{super_admin, ROOT_EMAIL, ROOT_PASSWORD};
use crate::panel_app::Client;
use crate::support::Ctx;

store_tests!(moving_the_clock_forward_expires_sessions);

/// Starts the API and the panel on the test's database, reading `clock`.
fn serve(url: &str, clock: ManualClock) -> (String, actix_web::dev::ServerHandle) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = url.to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let store = Store::connect(&url).await.unwrap();
            let state = web::Data::new(
                AdminState::new(store.clone(), SecretKey::generate()).with_clock(Arc::new(clock)),
            );
            let server = HttpServer::new(move || {
                let state = state.clone();
                App::new().configure(move |cfg| {
                    api::configure(cfg, state.clone());
                    panel::configure(cfg, state, PanelOptions::default());
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
    (format!("http://127.0.0.1:{port}"), rx.recv().unwrap())
}

async fn moving_the_clock_forward_expires_sessions(ctx: Ctx) {
    super_admin(&ctx.store, ROOT_EMAIL, ROOT_PASSWORD).await;
    let clock = ManualClock::starting_now();
    let start = clock_now(&clock);
    let (base, handle) = serve(&ctx.url, clock.clone());
    let http = reqwest::Client::new();
    let res = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": ROOT_EMAIL, "password": ROOT_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let login: serde_json::Value = res.json().await.unwrap();
    let token = login["token"].as_str().unwrap().to_owned();
    let me = || {
        http.get(format!("{base}/api/v1/me"))
            .bearer_auth(&token)
            .send()
    };
    let mut panel = Client::for_base(&base);
    panel.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    assert_eq!(panel.get("/panel/").await.status, StatusCode::OK);

    // Just inside the idle timeout, both sessions still work (and each
    // request counts as activity).
    clock.advance(SESSION_IDLE_TIMEOUT - Duration::from_secs(60));
    assert_eq!(me().await.unwrap().status(), StatusCode::OK);
    assert_eq!(panel.get("/panel/").await.status, StatusCode::OK);

    // Past it: the API answers 401, the panel sends to the login page.
    clock.advance(SESSION_IDLE_TIMEOUT + Duration::from_secs(1));
    assert_eq!(me().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let page = panel.get("/panel/").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(
        page.location().starts_with("/panel/login"),
        "{}",
        page.location()
    );

    // The audit log dates the logins by the same clock.
    let filter = parla_admin_core::store::AuditFilter {
        action: Some("login.succeeded".to_owned()),
        ..Default::default()
    };
    let logins = ctx
        .store
        .audit()
        .list_all(&filter, Default::default())
        .await
        .unwrap();
    assert_eq!(logins.total, 2);
    assert!(logins.items.iter().all(|e| e.at.as_unix_ms() == start));
    handle.stop(true).await;
}

fn clock_now(clock: &ManualClock) -> i64 {
    use parla_admin_core::domain::Clock;
    clock.now().as_unix_ms()
}
