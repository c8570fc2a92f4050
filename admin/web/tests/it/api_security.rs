//! Issue 9 (a hostile tenant), the admin API: numbers are the operator's
//! inventory; second-factor guesses hit the account lockout; account
//! lockouts grow while IPs get more attempts than accounts; API keys act
//! with their creator's current role and never mint keys; oversized bodies
//! get 413; call records never expose the recording's path. Each case on
//! SQLite and PostgreSQL over a real HTTP server.

use crate::support;

use std::time::Duration;

use parla_admin_core::auth::{LoginThrottle, ThrottlePolicy};
use parla_admin_core::store::{Page, TenantScope};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::http::{
    assert_error, create_tenant, create_user, spawn_app, spawn_app_tuned, tenant, Options, TestApp,
    PASSWORD, ROOT_EMAIL, ROOT_PASSWORD,
};
use support::Ctx;
use totp_rs::{Algorithm, Secret, TOTP};

store_tests!(
    numbers_are_the_operators_inventory,
    second_factor_guesses_hit_the_account_lockout,
    account_lockouts_grow,
    ips_get_more_attempts_than_accounts,
    api_keys_act_with_their_creators_current_role,
    oversized_bodies_get_413,
    call_records_hide_the_recording_path
);

const TEN_MIN: Duration = Duration::from_secs(600);

/// The id of a created resource.
fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id: {v}"))
        .to_owned()
}

async fn numbers_are_the_operators_inventory(ctx: Ctx) {
    let (mut app, _) = spawn_app(&ctx).await;
    let root = app.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let ta = create_tenant(&mut app, &root, "Acme").await;
    create_user(&mut app, &root, &ta, "boss@acme.example", "admin").await;
    let admin = app.login("boss@acme.example", PASSWORD).await;
    let (s, key) = app
        .post(
            &tenant(&ta, "/api-keys"),
            Some(&admin),
            json!({ "name": "ci" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{key}");
    let key = key["key"].as_str().unwrap().to_owned();
    let scope = TenantScope::new(ta.parse().unwrap());
    let bot = support::agent(&ctx.store, &scope, "Bot").await;

    // A tenant admin (or its key) may not take any number, least of all
    // the catch-all that would answer every unclaimed call.
    for who in [&admin, &key] {
        for address in ["sip:*@*", "sip:support@*", "+14155550123"] {
            let (s, b) = app
                .post(
                    &tenant(&ta, "/numbers"),
                    Some(who),
                    json!({ "address": address }),
                )
                .await;
            assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
        }
    }
    let numbers = ctx.store.numbers();
    assert_eq!(
        numbers.list(&scope, Page::default()).await.unwrap().total,
        0
    );

    // The super admin creates it in the tenant (assigns it) ...
    let (s, n) = app
        .post(
            &tenant(&ta, "/numbers"),
            Some(&root),
            json!({ "address": "sip:*@*" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{n}");
    assert_eq!(n["tenant_id"], ta.as_str());
    let number = tenant(&ta, &format!("/numbers/{}", id(&n)));
    // ... and the tenant admin lists it and binds it to its agent.
    let (s, list) = app.get(&tenant(&ta, "/numbers"), Some(&admin)).await;
    assert_eq!(
        (s, list["total"].clone()),
        (StatusCode::OK, json!(1)),
        "{list}"
    );
    let (s, b) = app
        .patch(&number, Some(&admin), json!({ "agent_id": bot.id }))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["agent_id"], bot.id.to_string());
    let (s, b) = app
        .patch(&number, Some(&key), json!({ "agent_id": null }))
        .await;
    assert_eq!(
        (s, b["agent_id"].clone()),
        (StatusCode::OK, Value::Null),
        "{b}"
    );
    // Releasing stays the operator's.
    let (s, b) = app.delete(&number, Some(&admin)).await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    app.stop().await;
}

/// The TOTP code of `secret` at now + `offset_s`.
fn totp_code(secret: &str, offset_s: i64) -> String {
    let bytes = Secret::Encoded(secret.to_owned()).to_bytes().unwrap();
    let totp = TOTP::new(Algorithm::SHA1, 6, 1, 30, bytes, None, String::new()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    totp.generate(now.saturating_add_signed(offset_s))
}

/// A six-digit code that is valid for no step around now.
fn wrong_code(secret: &str) -> String {
    let valid: Vec<String> = (-2..=2).map(|k| totp_code(secret, 30 * k)).collect();
    (0..10)
        .map(|d| d.to_string().repeat(6))
        .find(|c| !valid.contains(c))
        .unwrap()
}

/// Enrols TOTP for the session `token`; returns the secret.
async fn enrol_totp(app: &mut TestApp, token: &str) -> String {
    let (s, e) = app.post("/api/v1/me/totp", Some(token), None).await;
    assert_eq!(s, StatusCode::OK, "{e}");
    let secret = e["secret"].as_str().unwrap().to_owned();
    let (s, b) = app
        .post(
            "/api/v1/me/totp/confirm",
            Some(token),
            json!({ "code": totp_code(&secret, 0) }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    secret
}

async fn second_factor(app: &mut TestApp, challenge: &str, code: &str) -> (StatusCode, Value) {
    app.post(
        "/api/v1/auth/login/second-factor",
        None,
        json!({ "challenge": challenge, "code": code }),
    )
    .await
}

/// Accounts: 3 failures lock for 10 minutes; IPs: 100.
fn three_per_account(s: parla_admin_web::api::AdminState) -> parla_admin_web::api::AdminState {
    s.with_throttle(LoginThrottle::with_policies(
        ThrottlePolicy::fixed(100, TEN_MIN, TEN_MIN),
        ThrottlePolicy::fixed(3, TEN_MIN, TEN_MIN),
    ))
}

async fn second_factor_guesses_hit_the_account_lockout(ctx: Ctx) {
    let (mut app, _) = spawn_app_tuned(&ctx, Options::default(), three_per_account).await;
    let root = app.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let ta = create_tenant(&mut app, &root, "Acme").await;
    let email = "tia@acme.example";
    create_user(&mut app, &root, &ta, email, "agent").await;
    let t = app.login(email, PASSWORD).await;
    let secret = enrol_totp(&mut app, &t).await;
    let wrong = wrong_code(&secret);
    let login = json!({ "email": email, "password": PASSWORD });

    // Someone who knows the password guesses codes, asking for a fresh
    // challenge before each pair of guesses: the correct password must
    // not clear the account's failures, so the fourth guess is refused.
    let mut guesses = 0;
    let mut last_challenge = None;
    let (status, headers, body) = 'guessing: loop {
        assert!(guesses < 6, "{guesses} wrong codes and no lockout");
        let (s, h, b) = app.try_login(login.clone()).await;
        if s != StatusCode::OK {
            break (s, h, b);
        }
        let challenge = b["challenge"].as_str().unwrap().to_owned();
        for _ in 0..2 {
            let (s, h, b) = app
                .send(
                    Method::POST,
                    "/api/v1/auth/login/second-factor",
                    support::http::Cred::None,
                    Some(json!({ "challenge": challenge, "code": wrong })),
                )
                .await;
            if s != StatusCode::UNAUTHORIZED {
                break 'guessing (s, h, b);
            }
            guesses += 1;
        }
        last_challenge = Some(challenge);
    };
    assert_error(
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
    );
    assert!(headers.contains_key("retry-after"), "{headers:?}");
    assert_eq!(guesses, 3, "locked after the account's limit");
    // While locked, the right code and the right password are refused too.
    let challenge = last_challenge.expect("a live challenge");
    let (s, b) = second_factor(&mut app, &challenge, &totp_code(&secret, 30)).await;
    assert_error(s, &b, StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    let (s, _, b) = app.try_login(login).await;
    assert_error(s, &b, StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    // The IP itself is not locked: another account signs in.
    app.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    app.stop().await;
}

/// Accounts: 2 failures lock for 1 s, doubling up to 2 s; IPs: 100.
fn short_growing_lockout(s: parla_admin_web::api::AdminState) -> parla_admin_web::api::AdminState {
    s.with_throttle(LoginThrottle::with_policies(
        ThrottlePolicy::fixed(100, TEN_MIN, TEN_MIN),
        ThrottlePolicy {
            max_failures: 2,
            window: TEN_MIN,
            lockout: Duration::from_secs(1),
            max_lockout: Duration::from_secs(2),
        },
    ))
}

/// Two wrong passwords for the super admin, then the 429 and its
/// `Retry-After` seconds.
async fn lock_root(app: &mut TestApp) -> u64 {
    let wrong = json!({ "email": ROOT_EMAIL, "password": "not the password" });
    for _ in 0..2 {
        let (s, _, b) = app.try_login(wrong.clone()).await;
        assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let (s, h, b) = app.try_login(wrong).await;
    assert_error(s, &b, StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    h["retry-after"].to_str().unwrap().parse().unwrap()
}

async fn account_lockouts_grow(ctx: Ctx) {
    let (mut app, _) = spawn_app_tuned(&ctx, Options::default(), short_growing_lockout).await;
    // 1 s, then 2 s (doubled), then 2 s (the cap).
    for expected in [1, 2, 2] {
        assert_eq!(lock_root(&mut app).await, expected);
        tokio::time::sleep(Duration::from_millis(expected * 1000 + 100)).await;
    }
    // A successful login clears the history: back to the first lockout.
    app.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    assert_eq!(lock_root(&mut app).await, 1);
    app.stop().await;
}

/// The production throttle ([`LoginThrottle::default`]).
fn default_throttle(s: parla_admin_web::api::AdminState) -> parla_admin_web::api::AdminState {
    s.with_throttle(LoginThrottle::default())
}

async fn ips_get_more_attempts_than_accounts(ctx: Ctx) {
    let (mut app, _) = spawn_app_tuned(&ctx, Options::default(), default_throttle).await;
    let root = app.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let ta = create_tenant(&mut app, &root, "Acme").await;
    create_user(&mut app, &root, &ta, "boss@acme.example", "admin").await;
    // Someone who knows the super admin's e-mail locks that account ...
    let wrong = json!({ "email": ROOT_EMAIL, "password": "guess" });
    for _ in 0..5 {
        let (s, _, b) = app.try_login(wrong.clone()).await;
        assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let (s, h, b) = app.try_login(wrong).await;
    assert_error(s, &b, StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    // ... for a minute at first, not a quarter of an hour ...
    let secs: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&secs), "Retry-After {secs}");
    // ... and the IP's limit is higher: others behind it still sign in.
    app.login("boss@acme.example", PASSWORD).await;
    let (s, _, b) = app
        .try_login(json!({ "email": "boss@acme.example", "password": "guess" }))
        .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    app.stop().await;
}

async fn api_keys_act_with_their_creators_current_role(ctx: Ctx) {
    let (mut app, _) = spawn_app(&ctx).await;
    let root = app.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let ta = create_tenant(&mut app, &root, "Acme").await;
    let boss = create_user(&mut app, &root, &ta, "boss@acme.example", "admin").await;
    let admin = app.login("boss@acme.example", PASSWORD).await;
    let (s, k) = app
        .post(
            &tenant(&ta, "/api-keys"),
            Some(&admin),
            json!({ "name": "ci" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{k}");
    let key = k["key"].as_str().unwrap().to_owned();
    let scope = TenantScope::new(ta.parse().unwrap());
    let bot = support::agent(&ctx.store, &scope, "Bot").await;
    let (s, n) = app
        .post(
            &tenant(&ta, "/numbers"),
            Some(&root),
            json!({ "address": "+14155550100" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{n}");
    let number = tenant(&ta, &format!("/numbers/{}", id(&n)));
    let bind = json!({ "agent_id": bot.id });
    let user = tenant(&ta, &format!("/users/{boss}"));

    // The key manages like its creator, but never mints keys.
    let (s, b) = app.patch(&number, Some(&key), bind.clone()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = app
        .post(
            &tenant(&ta, "/api-keys"),
            Some(&key),
            json!({ "name": "more" }),
        )
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");

    // Creator demoted to agent: the key only reads; promoted: manages again.
    let (s, b) = app
        .patch(&user, Some(&root), json!({ "role": "agent" }))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = app.patch(&number, Some(&key), bind.clone()).await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, b) = app.get(&tenant(&ta, "/numbers"), Some(&key)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = app
        .patch(&user, Some(&root), json!({ "role": "admin" }))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = app.patch(&number, Some(&key), bind.clone()).await;
    assert_eq!(s, StatusCode::OK, "{b}");

    // Creator disabled: the key stops working; enabled again: it works.
    let (s, b) = app
        .patch(&user, Some(&root), json!({ "status": "disabled" }))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = app.get(&tenant(&ta, "/numbers"), Some(&key)).await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let (s, b) = app
        .patch(&user, Some(&root), json!({ "status": "active" }))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = app.get(&tenant(&ta, "/numbers"), Some(&key)).await;
    assert_eq!(s, StatusCode::OK, "{b}");

    // Creator deleted: the key is dead.
    let (s, b) = app.delete(&user, Some(&root)).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let (s, b) = app.get(&tenant(&ta, "/numbers"), Some(&key)).await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");

    // A key made by the super admin acts as a tenant admin of its tenant.
    let (s, k) = app
        .post(
            &tenant(&ta, "/api-keys"),
            Some(&root),
            json!({ "name": "ops" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{k}");
    let ops = k["key"].as_str().unwrap().to_owned();
    let (s, b) = app.patch(&number, Some(&ops), bind).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = app
        .post(
            &tenant(&ta, "/numbers"),
            Some(&ops),
            json!({ "address": "sip:*@*" }),
        )
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, b) = app
        .post(
            &tenant(&ta, "/api-keys"),
            Some(&ops),
            json!({ "name": "more" }),
        )
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    app.stop().await;
}

async fn oversized_bodies_get_413(ctx: Ctx) {
    let (mut app, _) = spawn_app(&ctx).await;
    let root = app.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let body = |kib: usize| json!({ "name": "x".repeat(kib * 1024), "slug": "big" }).to_string();
    let (s, _, text) = app
        .raw(
            Method::POST,
            "/api/v1/tenants",
            Some(&root),
            Some(body(300)),
        )
        .await;
    let b: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_error(s, &b, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // Under the limit the body is read (and its content refused).
    let (s, _, text) = app
        .raw(
            Method::POST,
            "/api/v1/tenants",
            Some(&root),
            Some(body(200)),
        )
        .await;
    let b: Value = serde_json::from_str(&text).unwrap();
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    app.stop().await;
}

async fn call_records_hide_the_recording_path(ctx: Ctx) {
    let (mut app, _) = spawn_app(&ctx).await;
    let root = app.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let ta = create_tenant(&mut app, &root, "Acme").await;
    let scope = TenantScope::new(ta.parse().unwrap());
    let s = &ctx.store;
    let call = support::start_call(
        s,
        &scope,
        support::new_call(None, parla_admin_core::domain::Direction::Inbound, 0),
    )
    .await;
    let mut end = support::call_end(parla_admin_core::domain::CallStatus::Completed, 60_000);
    let file = format!("{ta}/{call}.wav");
    end.recording_path = Some(file.clone());
    s.calls().finish(&scope, call, end).await.unwrap();
    let unrecorded = support::start_call(
        s,
        &scope,
        support::new_call(None, parla_admin_core::domain::Direction::Inbound, 1),
    )
    .await;

    let (st, rec) = app
        .get(&tenant(&ta, &format!("/calls/{call}")), Some(&root))
        .await;
    assert_eq!(st, StatusCode::OK, "{rec}");
    assert_eq!(rec["has_recording"], true, "{rec}");
    assert!(rec.get("recording_path").is_none(), "{rec}");
    let (st, other) = app
        .get(&tenant(&ta, &format!("/calls/{unrecorded}")), Some(&root))
        .await;
    assert_eq!(
        (st, other["has_recording"].clone()),
        (StatusCode::OK, json!(false)),
        "{other}"
    );
    let (st, list) = app.get(&tenant(&ta, "/calls"), Some(&root)).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    for body in [rec.to_string(), list.to_string()] {
        assert!(
            !body.contains(".wav") && !body.contains("recording_path"),
            "{body}"
        );
    }
    app.stop().await;
}
