//! Authentication over HTTP, on both backends: session cookie + CSRF,
//! logout, password change, TOTP enrolment and second factor (codes made
//! with totp-rs from the enrolment secret), recovery codes, masquerade,
//! suspended tenants, disabled/deleted users, session activity.

use crate::support;

use parla_admin_core::auth::{SessionToken, SESSION_TTL};
use parla_admin_core::domain::{Opaque, TenantId, Timestamp};
use parla_admin_core::store::{AuditFilter, NewSession, Page, TenantScope};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::http::{
    assert_error, create_tenant, create_user, spawn_app_with, tenant, Cred, Options, TestApp,
    PASSWORD, ROOT_EMAIL, ROOT_PASSWORD,
};
use support::Ctx;
use totp_rs::{Algorithm, Secret, TOTP};

store_tests!(
    cookie_csrf_and_logout,
    password_change,
    totp_enrolment_and_second_factor,
    masquerade,
    suspended_tenant_disabled_and_deleted_users,
    tenant_choice_and_session_activity
);

/// Generous throttling: these tests make deliberate failures.
fn opts() -> Options {
    Options {
        max_failures: 50,
        secure_cookies: false,
    }
}

/// Every audit action recorded so far, oldest first.
async fn actions(ctx: &Ctx) -> Vec<String> {
    let log = ctx
        .store
        .audit()
        .list_all(&AuditFilter::default(), Page::new(1, 100).unwrap())
        .await
        .unwrap();
    let mut items = log.items;
    items.reverse();
    items.into_iter().map(|e| e.action).collect()
}

async fn cookie_csrf_and_logout(ctx: Ctx) {
    let (mut app, _) = spawn_app_with(
        &ctx,
        Options {
            secure_cookies: true,
            ..opts()
        },
    )
    .await;
    let (s, headers, body) = app
        .try_login(json!({ "email": ROOT_EMAIL, "password": ROOT_PASSWORD }))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(csrf.len(), 43);
    let cookie = headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with(&format!("parla_session={token};")),
        "{cookie}"
    );
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure"] {
        assert!(cookie.split("; ").any(|a| a == attr), "{attr} in {cookie}");
    }

    // The cookie alone authenticates reads.
    let me = "/api/v1/me";
    let (s, _, b) = app
        .send(Method::GET, me, Cred::Cookie(&token, None), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["principal"]["kind"], "super_admin");
    assert_eq!(b["email"], ROOT_EMAIL);

    // Writes with the cookie need the session's CSRF token.
    let body = |slug: &str| Some(json!({ "name": slug, "slug": slug }));
    let other = app.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let other_csrf = app.login_body(ROOT_EMAIL, ROOT_PASSWORD).await["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad = "A".repeat(43);
    for wrong in [
        None,
        Some(""),
        Some(bad.as_str()),
        Some(other_csrf.as_str()),
    ] {
        let (s, _, b) = app
            .send(
                Method::POST,
                "/api/v1/tenants",
                Cred::Cookie(&token, wrong),
                body("nope"),
            )
            .await;
        assert_error(s, &b, StatusCode::FORBIDDEN, "csrf_failed");
    }
    assert_eq!(
        ctx.store
            .tenants()
            .list(Page::default())
            .await
            .unwrap()
            .total,
        0
    );
    let (s, _, b) = app
        .send(
            Method::POST,
            "/api/v1/tenants",
            Cred::Cookie(&token, Some(&csrf)),
            body("acme"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // Bearer requests need none.
    let (s, b) = app
        .post("/api/v1/tenants", Some(&other), body("globex"))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // A bad cookie is 401, not a fallback to anything.
    let (s, _, b) = app
        .send(Method::GET, me, Cred::Cookie("garbage", None), None)
        .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");

    // Logout (cookie + CSRF): the cookie is cleared and the session is gone.
    let (s, _, b) = app
        .send(
            Method::POST,
            "/api/v1/auth/logout",
            Cred::Cookie(&token, None),
            None,
        )
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "csrf_failed");
    let (s, headers, _) = app
        .send(
            Method::POST,
            "/api/v1/auth/logout",
            Cred::Cookie(&token, Some(&csrf)),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let cleared = headers["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("parla_session=;") && cleared.contains("Max-Age=0"));
    let (s, _, b) = app
        .send(Method::GET, me, Cred::Cookie(&token, None), None)
        .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let (s, b) = app.get(me, Some(&token)).await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    // Bearer logout; the other session is unaffected until then.
    let (s, _) = app.get(me, Some(&other)).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app.post("/api/v1/auth/logout", Some(&other), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app.get(me, Some(&other)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let logouts = actions(&ctx).await;
    assert_eq!(logouts.iter().filter(|a| *a == "logout").count(), 2);
    app.stop().await;
}

async fn password_change(ctx: Ctx) {
    let (mut app, _) = spawn_app_with(&ctx, opts()).await;
    let root = app.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let ta = create_tenant(&mut app, &root, "Acme").await;
    create_user(&mut app, &root, &ta, "ann@acme.example", "admin").await;
    let s1 = app.login_body("ann@acme.example", PASSWORD).await;
    let s2 = app.login("ann@acme.example", PASSWORD).await;
    let t1 = s1["token"].as_str().unwrap();
    let csrf1 = s1["csrf_token"].as_str().unwrap();
    let url = "/api/v1/me/password";
    let new_password = "a much better passphrase";

    let (s, b) = app
        .post(
            url,
            Some(t1),
            json!({ "current_password": "not my password", "new_password": new_password }),
        )
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(b["error"]["fields"]["current_password"].is_array(), "{b}");
    let (s, b) = app
        .post(
            url,
            Some(t1),
            json!({ "current_password": PASSWORD, "new_password": "short" }),
        )
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(b["error"]["fields"]["new_password"].is_array(), "{b}");
    let (s, b) = app.post(url, Some(t1), json!({ "current": 1 })).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "bad_request");
    // Nothing changed so far.
    let (s, _) = app.get("/api/v1/me", Some(&s2)).await;
    assert_eq!(s, StatusCode::OK);

    // Through the cookie (CSRF token given).
    let (s, _, b) = app
        .send(
            Method::POST,
            url,
            Cred::Cookie(t1, Some(csrf1)),
            Some(json!({ "current_password": PASSWORD, "new_password": new_password })),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    // The other session ended, this one lives on.
    let (s, b) = app.get("/api/v1/me", Some(&s2)).await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let (s, _) = app.get("/api/v1/me", Some(t1)).await;
    assert_eq!(s, StatusCode::OK);
    // Old password refused, new one accepted.
    let (s, _, b) = app
        .try_login(json!({ "email": "ann@acme.example", "password": PASSWORD }))
        .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    app.login("ann@acme.example", new_password).await;

    // API keys cannot change their creator's password.
    let (s, key) = app
        .post(&tenant(&ta, "/api-keys"), Some(t1), json!({ "name": "ci" }))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{key}");
    let (s, b) = app
        .post(
            url,
            key["key"].as_str(),
            json!({ "current_password": new_password, "new_password": "yet another passphrase" }),
        )
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    assert!(actions(&ctx)
        .await
        .contains(&"user.password_change".to_owned()));
    app.stop().await;
}

/// The TOTP code of `secret` at `now + offset_s`.
fn totp_code(secret: &str, offset_s: u64) -> String {
    let bytes = Secret::Encoded(secret.to_owned()).to_bytes().unwrap();
    let totp = TOTP::new(Algorithm::SHA1, 6, 1, 30, bytes, None, String::new()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    totp.generate(now + offset_s)
}

/// Logs in with a password and expects the second-factor challenge.
async fn challenge(app: &mut TestApp, email: &str, password: &str) -> String {
    let (s, _, b) = app
        .try_login(json!({ "email": email, "password": password }))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["second_factor_required"], true, "{b}");
    assert!(b.get("token").is_none(), "{b}");
    b["challenge"].as_str().unwrap().to_owned()
}

async fn second(app: &mut TestApp, challenge: &str, code: &str) -> (StatusCode, Value) {
    app.post(
        "/api/v1/auth/login/second-factor",
        None,
        json!({ "challenge": challenge, "code": code }),
    )
    .await
}

async fn totp_enrolment_and_second_factor(ctx: Ctx) {
    let (mut app, _) = spawn_app_with(&ctx, opts()).await;
    let root = app.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let ta = create_tenant(&mut app, &root, "Acme").await;
    let email = "tia@acme.example";
    create_user(&mut app, &root, &ta, email, "agent").await;
    let t = app.login(email, PASSWORD).await;
    let t = Some(t.as_str());

    // Confirm before begin: nothing to confirm.
    let (s, b) = app
        .post("/api/v1/me/totp/confirm", t, json!({ "code": "123456" }))
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let (s, e) = app.post("/api/v1/me/totp", t, None).await;
    assert_eq!(s, StatusCode::OK, "{e}");
    let secret = e["secret"].as_str().unwrap().to_owned();
    let url = e["otpauth_url"].as_str().unwrap();
    assert!(url.starts_with("otpauth://totp/Parla:"), "{url}");
    assert!(url.contains(&format!("secret={secret}")), "{url}");
    // Stored encrypted, never in clear.
    let user = ctx
        .store
        .users()
        .find_by_email(&email.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!user.totp_secret.unwrap().expose().contains(&secret));
    // Pending: login is still one step.
    app.login(email, PASSWORD).await;

    let wrong = if totp_code(&secret, 0) == "000000" {
        "111111"
    } else {
        "000000"
    };
    let (s, b) = app
        .post("/api/v1/me/totp/confirm", t, json!({ "code": wrong }))
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(b["error"]["fields"]["code"].is_array(), "{b}");
    let (s, b) = app
        .post(
            "/api/v1/me/totp/confirm",
            t,
            json!({ "code": totp_code(&secret, 0) }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let codes: Vec<String> = serde_json::from_value(b["recovery_codes"].clone()).unwrap();
    assert_eq!(codes.len(), 10);
    let (s, b) = app.post("/api/v1/me/totp", t, None).await;
    assert_error(s, &b, StatusCode::CONFLICT, "conflict");

    // Login now asks for the second factor; wrong codes are refused.
    let c = challenge(&mut app, email, PASSWORD).await;
    for bad in [wrong, "", "not a code", &codes[0][..4]] {
        let (s, b) = second(&mut app, &c, bad).await;
        assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let (s, b) = second(&mut app, "no-such-challenge", &codes[0]).await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    // A recovery code works once.
    let (s, b) = second(&mut app, &c, &codes[0].to_uppercase()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let recovered = b["token"].as_str().unwrap().to_owned();
    let (s, me) = app.get("/api/v1/me", Some(&recovered)).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["email"], email);
    // The challenge is single-use.
    let (s, _) = second(&mut app, &c, &codes[1]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let c = challenge(&mut app, email, PASSWORD).await;
    let (s, _) = second(&mut app, &c, &codes[0]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "recovery code reused");
    // A fresh TOTP code (next step: the current one was used to confirm).
    let next = totp_code(&secret, 30);
    let (s, b) = second(&mut app, &c, &next).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // ...cannot be replayed.
    let c = challenge(&mut app, email, PASSWORD).await;
    let (s, _) = second(&mut app, &c, &next).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "TOTP code replayed");
    let stored = ctx
        .store
        .users()
        .find_by_email(&email.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.totp_recovery.unwrap().len(), 9);

    // Disable: wrong proof refused, the password works.
    let (s, b) = app
        .call(
            Method::DELETE,
            "/api/v1/me/totp",
            t,
            Some(json!({ "password": "wrong password here" })),
        )
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let (s, b) = app
        .call(
            Method::DELETE,
            "/api/v1/me/totp",
            t,
            Some(json!({ "password": PASSWORD })),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    app.login(email, PASSWORD).await;

    let log = actions(&ctx).await;
    for a in [
        "totp.begin",
        "totp.enable",
        "login.second_factor_required",
        "totp.disable",
    ] {
        assert!(log.contains(&a.to_owned()), "{a} missing from {log:?}");
    }
    let all = ctx
        .store
        .audit()
        .list_all(&AuditFilter::default(), Page::new(1, 100).unwrap())
        .await
        .unwrap();
    let second_factor_failures = all
        .items
        .iter()
        .filter(|e| {
            e.action == "login.failed"
                && e.after
                    .as_ref()
                    .is_some_and(|a| a["reason"] == "second_factor")
        })
        .count();
    assert_eq!(second_factor_failures, 6, "4 wrong codes, reuse, replay");
    for e in &all.items {
        let text = format!("{e:?}");
        assert!(!text.contains(&secret) && !text.contains(&codes[1]));
    }
    app.stop().await;
}

async fn masquerade(ctx: Ctx) {
    let (mut app, root_id) = spawn_app_with(&ctx, opts()).await;
    let root = app.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let ta = create_tenant(&mut app, &root, "Acme").await;
    let tb = create_tenant(&mut app, &root, "Globex").await;
    let ann = create_user(&mut app, &root, &ta, "ann@acme.example", "admin").await;
    create_user(&mut app, &root, &ta, "zed@acme.example", "admin").await;
    create_user(&mut app, &root, &tb, "bob@globex.example", "admin").await;
    let bob = app.login("bob@globex.example", PASSWORD).await;
    let empty = create_tenant(&mut app, &root, "Empty").await;

    // Not for tenant users: 404 on another tenant, 403 on their own.
    let (s, b) = app
        .post(&tenant(&ta, "/masquerade"), Some(&bob), None)
        .await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) = app
        .post(&tenant(&tb, "/masquerade"), Some(&bob), None)
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, b) = app
        .post(
            &tenant(&TenantId::generate().to_string(), "/masquerade"),
            Some(&root),
            None,
        )
        .await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) = app
        .post(&tenant(&empty, "/masquerade"), Some(&root), None)
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let (s, b) = app
        .post("/api/v1/auth/masquerade/end", Some(&root), None)
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");

    // Start: a new session as Acme's first admin; the root session ends.
    let (s, headers, b) = app
        .send(
            Method::POST,
            &tenant(&ta, "/masquerade"),
            Cred::Bearer(&root),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(headers.get("set-cookie").is_some());
    let masq = b["token"].as_str().unwrap().to_owned();
    let masq_csrf = b["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(b["user_id"], ann.as_str());
    let (s, _) = app.get("/api/v1/me", Some(&root)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "old root session ended");
    let (s, me) = app.get("/api/v1/me", Some(&masq)).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["principal"]["kind"], "tenant_user");
    assert_eq!(me["principal"]["tenant_id"], ta.as_str());
    assert_eq!(me["principal"]["masquerading_from"], root_id.to_string());
    assert_eq!(me["masquerade"]["by_email"], ROOT_EMAIL);
    assert_eq!(me["email"], "ann@acme.example");

    // As Ann: her rights, not the super admin's.
    let (s, b) = app.get(&tenant(&ta, "/agents"), Some(&masq)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = app.get(&tenant(&tb, "/agents"), Some(&masq)).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, a) = app
        .post(
            &tenant(&ta, "/agents"),
            Some(&masq),
            json!({ "name": "Bot" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let aid = a["id"].as_str().unwrap();
    let (s, b) = app
        .delete(&tenant(&ta, &format!("/agents/{aid}")), Some(&masq))
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, b) = app.post("/api/v1/me/totp", Some(&masq), None).await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, b) = app
        .post(
            "/api/v1/me/password",
            Some(&masq),
            json!({ "current_password": PASSWORD, "new_password": "hijacked password!" }),
        )
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, b) = app
        .post(&tenant(&ta, "/masquerade"), Some(&masq), None)
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");

    // Audited: the start (by root, in Acme), and what was done meanwhile.
    let scope = TenantScope::new(ta.parse().unwrap());
    let log = ctx
        .store
        .audit()
        .list(&scope, &AuditFilter::default(), Page::new(1, 100).unwrap())
        .await
        .unwrap();
    let start = log
        .items
        .iter()
        .find(|e| e.action == "masquerade.start")
        .expect("masquerade.start audited");
    assert_eq!(start.actor_user_id, Some(root_id));
    assert_eq!(start.target, ann);
    assert_eq!(start.ip.as_deref(), Some("127.0.0.1"));
    let created = log
        .items
        .iter()
        .find(|e| e.action == "agent.create")
        .unwrap();
    assert!(created.actor_label.contains(ROOT_EMAIL), "{created:?}");

    // End (cookie + CSRF): back to a fresh root session.
    let (s, _, b) = app
        .send(
            Method::POST,
            "/api/v1/auth/masquerade/end",
            Cred::Cookie(&masq, Some(&masq_csrf)),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let back = b["token"].as_str().unwrap().to_owned();
    let (s, me) = app.get("/api/v1/me", Some(&back)).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["principal"]["kind"], "super_admin");
    assert!(me["masquerade"].is_null(), "{me}");
    let (s, _) = app.get("/api/v1/me", Some(&masq)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(actions(&ctx).await.contains(&"masquerade.end".to_owned()));

    // A suspended tenant cannot be entered.
    let (s, _) = app
        .patch(
            &tenant(&ta, ""),
            Some(&back),
            json!({ "status": "suspended" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = app
        .post(&tenant(&ta, "/masquerade"), Some(&back), None)
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "tenant_suspended");
    app.stop().await;
}

async fn suspended_tenant_disabled_and_deleted_users(ctx: Ctx) {
    let (mut app, _) = spawn_app_with(&ctx, opts()).await;
    let root = app.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let ta = create_tenant(&mut app, &root, "Acme").await;
    create_user(&mut app, &root, &ta, "ann@acme.example", "admin").await;
    let dan = create_user(&mut app, &root, &ta, "dan@acme.example", "agent").await;
    let eve = create_user(&mut app, &root, &ta, "eve@acme.example", "agent").await;
    let ann = app.login("ann@acme.example", PASSWORD).await;
    let dan_s = app.login("dan@acme.example", PASSWORD).await;
    let eve_s = app.login("eve@acme.example", PASSWORD).await;
    let (s, key) = app
        .post(
            &tenant(&ta, "/api-keys"),
            Some(&ann),
            json!({ "name": "ci" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{key}");
    let key = key["key"].as_str().unwrap().to_owned();
    let agents = tenant(&ta, "/agents");
    for t in [&ann, &key] {
        let (s, _) = app.get(&agents, Some(t)).await;
        assert_eq!(s, StatusCode::OK);
    }

    // Suspended: sessions, keys and logins refused; root unaffected.
    let (s, _) = app
        .patch(
            &tenant(&ta, ""),
            Some(&root),
            json!({ "status": "suspended" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    for t in [&ann, &key] {
        let (s, b) = app.get(&agents, Some(t)).await;
        assert_error(s, &b, StatusCode::FORBIDDEN, "tenant_suspended");
    }
    let (s, _, b) = app
        .try_login(json!({ "email": "ann@acme.example", "password": PASSWORD }))
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "tenant_suspended");
    let (s, _) = app.get(&agents, Some(&root)).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .patch(&tenant(&ta, ""), Some(&root), json!({ "status": "active" }))
        .await;
    assert_eq!(s, StatusCode::OK);
    for t in [&ann, &key] {
        let (s, _) = app.get(&agents, Some(t)).await;
        assert_eq!(s, StatusCode::OK);
    }

    // Disabled by the tenant admin: session gone, login refused.
    let (s, b) = app
        .patch(
            &tenant(&ta, &format!("/users/{dan}")),
            Some(&ann),
            json!({ "status": "disabled" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["user_status"], "disabled");
    let (s, _) = app.get("/api/v1/me", Some(&dan_s)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = app
        .try_login(json!({ "email": "dan@acme.example", "password": PASSWORD }))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Re-enabled: can log in again.
    let (s, _) = app
        .patch(
            &tenant(&ta, &format!("/users/{dan}")),
            Some(&ann),
            json!({ "status": "active" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    app.login("dan@acme.example", PASSWORD).await;

    // Deleted (super admin only): session gone, user gone.
    let eve_url = tenant(&ta, &format!("/users/{eve}"));
    let (s, b) = app.delete(&eve_url, Some(&ann)).await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, _) = app.delete(&eve_url, Some(&root)).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app.get("/api/v1/me", Some(&eve_s)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, b) = app.get(&eve_url, Some(&root)).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let gone = ctx
        .store
        .users()
        .find_by_email(&"eve@acme.example".parse().unwrap())
        .await
        .unwrap();
    assert!(gone.is_none());
    let log = actions(&ctx).await;
    for a in ["user.update", "user.delete", "tenant.update"] {
        assert!(log.contains(&a.to_owned()), "{a} missing from {log:?}");
    }
    app.stop().await;
}

async fn tenant_choice_and_session_activity(ctx: Ctx) {
    let (mut app, _) = spawn_app_with(&ctx, opts()).await;
    let root = app.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let ta = create_tenant(&mut app, &root, "Acme").await;
    let tb = create_tenant(&mut app, &root, "Globex").await;
    let email = "multi@example.com";
    create_user(&mut app, &root, &ta, email, "agent").await;
    let (s, b) = app
        .post(
            &tenant(&tb, "/users"),
            Some(&root),
            json!({ "email": email, "password": PASSWORD, "role": "admin" }),
        )
        .await;
    // The e-mail is taken: adding an existing login to a second tenant is
    // done through the store here.
    assert_error(s, &b, StatusCode::CONFLICT, "conflict");
    let user = ctx
        .store
        .users()
        .find_by_email(&email.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    ctx.store
        .memberships()
        .add(
            &TenantScope::new(tb.parse().unwrap()),
            user.id,
            parla_admin_core::domain::TenantRole::Admin,
        )
        .await
        .unwrap();

    // Default: the first tenant (by id: Acme, created first).
    let b = app.login_body(email, PASSWORD).await;
    assert_eq!(b["tenant_id"], ta.as_str());
    let login = |tid: &str| json!({ "email": email, "password": PASSWORD, "tenant_id": tid });
    let (s, _, b) = app.try_login(login(&tb)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["tenant_id"], tb.as_str());
    let in_b = b["token"].as_str().unwrap().to_owned();
    let (s, me) = app.get("/api/v1/me", Some(&in_b)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["principal"]["role"], "admin");
    let (s, _, b) = app
        .try_login(login(&TenantId::generate().to_string()))
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, _, b) = app.try_login(login("not-a-tenant")).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation");

    // last_seen_at moves on use (at most once a minute); idle sessions end.
    let sessions = ctx.store.sessions();
    let minutes_ago = |m: i64| Timestamp::from_unix_ms(Timestamp::now().as_unix_ms() - m * 60_000);
    let seeded = |m: i64| {
        let token = SessionToken::generate();
        let new = NewSession {
            id: token.session_id.clone(),
            user_id: user.id,
            tenant_id: Some(tb.parse().unwrap()),
            masquerading_from: None,
            csrf_token: Opaque::new("unused"),
            now: minutes_ago(m),
            expires_at: minutes_ago(m).plus(SESSION_TTL),
        };
        (token, new)
    };
    let (active, new) = seeded(5);
    let before = sessions.create(new).await.unwrap();
    let (s, b) = app.get("/api/v1/me", Some(&active.cookie_value)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let after = sessions.get(&active.session_id).await.unwrap().unwrap();
    assert!(after.last_seen_at.millis_since(before.last_seen_at) >= 5 * 60_000 - 1_000);
    assert_eq!(after.expires_at, before.expires_at, "absolute expiry kept");
    // Within the minute: not written again.
    let (s, _) = app.get("/api/v1/me", Some(&active.cookie_value)).await;
    assert_eq!(s, StatusCode::OK);
    let again = sessions.get(&active.session_id).await.unwrap().unwrap();
    assert_eq!(again.last_seen_at, after.last_seen_at);
    let (idle, new) = seeded(31);
    sessions.create(new).await.unwrap();
    let (s, b) = app.get("/api/v1/me", Some(&idle.cookie_value)).await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    app.stop().await;
}
