//! Issue 9 (a hostile tenant), the web panel: the login forms have the API
//! login's request limits (429 with `Retry-After`), the agent form refuses
//! what the API refuses (NUL characters), over-limit forms get 413. Each
//! case on SQLite and PostgreSQL over a real HTTP server.

use crate::panel_app;
use crate::support;

use panel_app::{member, spawn, PASSWORD};
use parla_admin_core::domain::TenantRole;
use parla_admin_core::store::Page;
use parla_admin_web::api::rate_limit::LOGIN_PER_IP_BURST;
use parla_admin_web::panel::PanelOptions;
use reqwest::StatusCode;
use support::{tenant, Ctx};

store_tests!(
    panel_login_has_the_api_login_limits,
    panel_forms_use_the_api_text_checks
);

async fn panel_login_has_the_api_login_limits(ctx: Ctx) {
    let app = spawn(&ctx, PanelOptions::default()).await;
    let mut c = app.client();
    let csrf = c.page("/panel/login").await.csrf();
    let attempt = [
        ("csrf_token", csrf.as_str()),
        ("email", "victim@example.com"),
        ("password", "a guess"),
    ];
    for i in 0..LOGIN_PER_IP_BURST {
        let res = c.post("/panel/login", &attempt).await;
        assert_eq!(
            res.status,
            StatusCode::UNAUTHORIZED,
            "attempt {i}: {}",
            res.body
        );
    }
    let res = c.post("/panel/login", &attempt).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
    let secs: u64 = res.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&secs), "Retry-After {secs}");
    // The second-factor form shares the bucket.
    let res = c
        .post(
            "/panel/login/2fa",
            &[
                ("csrf_token", csrf.as_str()),
                ("challenge", "x"),
                ("code", "123456"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
    assert!(res.headers.contains_key("retry-after"));
    app.stop().await;
}

async fn panel_forms_use_the_api_text_checks(ctx: Ctx) {
    let s = &ctx.store;
    let app = spawn(&ctx, PanelOptions::default()).await;
    let (a, a_scope) = tenant(s, "Acme").await;
    member(s, &a_scope, "admin@acme.example", TenantRole::Admin).await;
    let mut admin = app.client();
    admin.login("admin@acme.example", PASSWORD).await;
    let agents = format!("/panel/t/{}/agents", a.id);
    let csrf = admin.page(&format!("{agents}/new")).await.csrf();
    let form = |greeting: &'static str, voice: &'static str| {
        vec![
            ("name", "Nul bot"),
            ("language", "en-US"),
            ("greeting", greeting),
            ("voice", voice),
            ("barge_in_min_ms", "250"),
            ("endpointing_ms", "600"),
        ]
    };
    // A NUL in the greeting (free text) or the voice (one line): 422 with
    // the API's reason, nothing saved.
    for (greeting, voice) in [("Hello\0there", ""), ("Hello", "al\0loy")] {
        let mut fields = vec![("csrf_token", csrf.as_str())];
        fields.extend(form(greeting, voice));
        let res = admin.post(&agents, &fields).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
        assert!(
            res.body
                .contains("Contains characters that are not allowed"),
            "{}",
            res.body
        );
    }
    let saved = s.agents().list(&a_scope, Page::default()).await.unwrap();
    assert_eq!(saved.total, 0, "nothing saved");

    // A form over the 256 KiB limit: 413, not 400.
    let big = "x".repeat(300 * 1024);
    let mut fields = vec![("csrf_token", csrf.as_str()), ("greeting", big.as_str())];
    fields.extend(form("", "").into_iter().filter(|(k, _)| *k != "greeting"));
    let res = admin.post(&agents, &fields).await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", res.body);
    app.stop().await;
}
