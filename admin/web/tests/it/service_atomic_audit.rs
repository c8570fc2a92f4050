//! A change and its audit entry are stored together or not at all: with
//! the audit table made to refuse inserts (a trigger in the test
//! database, on SQLite and on PostgreSQL), every admin change through the
//! API and the panel fails with an opaque 500 and leaves the data as it was.

use parla_admin_core::store::{Backend, Page};
use parla_admin_web::panel::PanelOptions;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::{Connection, Executor};

use crate::api_support::session_token;
use crate::panel_app::{spawn, ROOT_EMAIL, ROOT_PASSWORD};
use crate::support::{agent, tenant, Ctx};

store_tests!(a_failed_audit_insert_rolls_the_change_back);

/// The message the trigger raises (must never reach a client).
const REFUSAL: &str = "audit log refuses inserts";

/// Makes every insert into `audit_log` fail (`true`), or lifts that.
async fn refuse_audit(ctx: &Ctx, refuse: bool) {
    let statements: Vec<String> = match (ctx.backend, refuse) {
        (Backend::Sqlite, true) => vec![format!(
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log \
             BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
        )],
        (Backend::Sqlite, false) => vec!["DROP TRIGGER refuse_audit".to_owned()],
        (Backend::Postgres, true) => vec![
            format!(
                "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION '{REFUSAL}'; END $$"
            ),
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log \
             FOR EACH ROW EXECUTE FUNCTION refuse_audit()"
                .to_owned(),
        ],
        (Backend::Postgres, false) => vec!["DROP TRIGGER refuse_audit ON audit_log".to_owned()],
    };
    match ctx.backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&ctx.url).await.unwrap();
            for s in statements {
                conn.execute(sqlx::AssertSqlSafe(s)).await.unwrap();
            }
            conn.close().await.unwrap();
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&ctx.url).await.unwrap();
            for s in statements {
                conn.execute(sqlx::AssertSqlSafe(s)).await.unwrap();
            }
            conn.close().await.unwrap();
        }
    }
}

async fn a_failed_audit_insert_rolls_the_change_back(ctx: Ctx) {
    let app = spawn(&ctx, PanelOptions::default()).await;
    let (t, scope) = tenant(&ctx.store, "Acme").await;
    let tid = t.id;
    let before = agent(&ctx.store, &scope, "Front desk").await;
    let token = session_token(&ctx.store, app.root, tid).await;
    let mut panel = app.client();
    panel.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let csrf = panel
        .page(&format!("/panel/t/{tid}/agents/new"))
        .await
        .csrf();
    let http = reqwest::Client::new();
    let api = |method: reqwest::Method, path: String, body: Option<serde_json::Value>| {
        let mut req = http
            .request(method, format!("{}/api/v1{path}", app.base))
            .bearer_auth(&token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send()
    };

    refuse_audit(&ctx, true).await;
    use reqwest::Method;
    let attempts = [
        (
            Method::POST,
            format!("/tenants/{tid}/agents"),
            Some(json!({"name": "New agent"})),
        ),
        (
            Method::PUT,
            format!("/tenants/{tid}/agents/{}", before.id),
            Some(json!({"name": "Renamed", "engine_options": {"record": true}})),
        ),
        (
            Method::DELETE,
            format!("/tenants/{tid}/agents/{}", before.id),
            None,
        ),
        (
            Method::POST,
            format!("/tenants/{tid}/numbers"),
            Some(json!({"address": "+14155550100"})),
        ),
        (
            Method::POST,
            format!("/tenants/{tid}/trunks"),
            Some(json!({"name": "Carrier", "host": "sip.example.com"})),
        ),
        (
            Method::POST,
            "/tenants".to_owned(),
            Some(json!({"name": "Globex", "slug": "globex"})),
        ),
    ];
    for (method, path, body) in attempts {
        let what = format!("{method} {path}");
        let res = api(method, path, body).await.unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR, "{what}");
        let text = res.text().await.unwrap();
        assert!(!text.contains(REFUSAL), "{what}: the cause leaked: {text}");
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["error"]["code"], "internal_error", "{what}");
    }
    let res = panel
        .post(
            &format!("/panel/t/{tid}/agents"),
            &[
                ("csrf_token", &csrf),
                ("name", "Panel agent"),
                ("language", "en"),
                ("barge_in_min_ms", "250"),
                ("endpointing_ms", "500"),
            ],
        )
        .await;
    assert_eq!(
        res.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "panel create"
    );
    assert!(!res.body.contains(REFUSAL));

    // Nothing changed: the one agent, unrenamed, no options; no number,
    // trunk or new tenant.
    let agents = ctx
        .store
        .agents()
        .list(&scope, Page::default())
        .await
        .unwrap();
    let names: Vec<String> = agents.items.iter().map(|a| a.name.to_string()).collect();
    assert_eq!(names, ["Front desk"]);
    assert_eq!(agents.items[0].engine_options, None);
    assert_eq!(
        ctx.store
            .numbers()
            .list(&scope, Page::default())
            .await
            .unwrap()
            .total,
        0
    );
    assert_eq!(
        ctx.store
            .trunks()
            .list(&scope, Page::default())
            .await
            .unwrap()
            .total,
        0
    );
    assert_eq!(
        ctx.store
            .tenants()
            .list(Page::default())
            .await
            .unwrap()
            .total,
        1
    );

    // The audit insert was the only obstacle: lifted, the same change works.
    refuse_audit(&ctx, false).await;
    let res = api(
        Method::POST,
        format!("/tenants/{tid}/agents"),
        Some(json!({"name": "New agent"})),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    app.stop().await;
}
