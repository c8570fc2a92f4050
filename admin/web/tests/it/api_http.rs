//! The `/api/v1` HTTP API end to end, on both backends: a real server on
//! 127.0.0.1:0 (its own actix system and store connection), reqwest as the
//! client, the test's store to seed and to verify.

use crate::support;

use parla_admin_core::domain::{Direction, TenantId};
use parla_admin_core::store::{AuditFilter, Page, TenantScope};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::http::{assert_error, spawn_app, tenant, PASSWORD, ROOT_EMAIL, ROOT_PASSWORD, SECRET};
use support::{new_call, start_call, Ctx};

store_tests!(
    login_and_throttle,
    tenant_isolation_roles_and_keys,
    super_admin_lifecycle,
    trunks_crud
);

async fn login_and_throttle(ctx: Ctx) {
    let (mut app, _) = spawn_app(&ctx).await;

    let (status, headers, text) = app
        .raw(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({ "email": ROOT_EMAIL, "password": ROOT_PASSWORD }).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(headers.get("set-cookie").is_some());
    let token = serde_json::from_str::<Value>(&text).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, me) = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["principal"]["kind"], "super_admin");

    // No or bad credentials.
    let (s, b) = app.get("/api/v1/me", None).await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let (s, b) = app.get("/api/v1/me", Some("garbage")).await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");

    // Wrong password, unknown account: 401, same shape.
    let bad = json!({ "email": ROOT_EMAIL, "password": "wrong password!!" });
    let (s, b) = app.post("/api/v1/auth/login", None, bad.clone()).await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let unknown = json!({ "email": "nobody@example.com", "password": "whatever-123456" });
    let (s, b) = app.post("/api/v1/auth/login", None, unknown).await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    // Third failure from this IP locks it: even the right password is 429.
    let (s, _) = app.post("/api/v1/auth/login", None, bad).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (status, headers, text) = app
        .raw(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({ "email": ROOT_EMAIL, "password": ROOT_PASSWORD }).to_string()),
        )
        .await;
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_error(
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
    );
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=600).contains(&retry), "{retry}");

    // Audited.
    let log = ctx
        .store
        .audit()
        .list_all(&AuditFilter::default(), Page::default())
        .await
        .unwrap();
    let count = |a: &str| log.items.iter().filter(|e| e.action == a).count();
    assert_eq!(count("login.succeeded"), 1);
    assert_eq!(count("login.failed"), 3);
    assert!(log
        .items
        .iter()
        .all(|e| e.ip.as_deref() == Some("127.0.0.1")));
    app.stop().await;
}

async fn tenant_isolation_roles_and_keys(ctx: Ctx) {
    let (mut app, root_id) = spawn_app(&ctx).await;
    let root = app.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let root = Some(root.as_str());

    // Tenants A and B, an admin in each, an agent role user in B.
    let mut tenant_ids = vec![];
    for (name, slug) in [("Acme", "acme"), ("Globex", "globex")] {
        let (s, t) = app
            .post(
                "/api/v1/tenants",
                root,
                json!({ "name": name, "slug": slug }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
        tenant_ids.push(t["id"].as_str().unwrap().to_owned());
    }
    let (ta, tb) = (tenant_ids[0].clone(), tenant_ids[1].clone());
    let (s, b) = app
        .post(
            "/api/v1/tenants",
            root,
            json!({ "name": "Other", "slug": "acme" }),
        )
        .await;
    assert_error(s, &b, StatusCode::CONFLICT, "conflict");
    assert!(b["error"]["fields"]["slug"].is_array(), "{b}");

    let mut user_ids = vec![];
    for (tid, email, role) in [
        (&ta, "a-admin@example.com", "admin"),
        (&tb, "b-admin@example.com", "admin"),
        (&tb, "b-agent@example.com", "agent"),
    ] {
        let (s, u) = app
            .post(
                &tenant(tid, "/users"),
                root,
                json!({ "email": email, "password": PASSWORD, "role": role }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{u}");
        user_ids.push(u["id"].as_str().unwrap().to_owned());
    }
    let (au, b_agent_id) = (user_ids[0].clone(), user_ids[2].clone());
    let (s, b) = app
        .post(
            &tenant(&ta, "/users"),
            root,
            json!({ "email": "x@example.com", "password": "short", "role": "admin" }),
        )
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(b["error"]["fields"]["password"].is_array(), "{b}");

    // In A: an agent with credentials, a number routed to it, an API key, a call.
    let (s, agent_a) = app
        .post(
            &tenant(&ta, "/agents"),
            root,
            json!({ "name": "Front desk", "greeting": "Hi", "llm_provider": "openai", "credentials": { "llm": { "api_key": SECRET } } }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{agent_a}");
    assert_eq!(agent_a["credentials_set"], true);
    let aa = agent_a["id"].as_str().unwrap().to_owned();
    let (s, number_a) = app
        .post(
            &tenant(&ta, "/numbers"),
            root,
            json!({ "address": "+14155550100", "agent_id": aa }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{number_a}");
    let an = number_a["id"].as_str().unwrap().to_owned();
    let (s, key_a) = app
        .post(&tenant(&ta, "/api-keys"), root, json!({ "name": "ci" }))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{key_a}");
    let ak = key_a["id"].as_str().unwrap().to_owned();
    let (s, trunk_a) = app
        .post(
            &tenant(&ta, "/trunks"),
            root,
            json!({ "name": "Main", "host": "sip.carrier.example", "auth_user": "acct", "auth_password": SECRET }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{trunk_a}");
    assert_eq!(trunk_a["auth_password_set"], true);
    let at = trunk_a["id"].as_str().unwrap().to_owned();
    let scope_a = TenantScope::new(ta.parse::<TenantId>().unwrap());
    let ac = start_call(&ctx.store, &scope_a, new_call(None, Direction::Inbound, 0)).await;

    // B's admin (session) and B's API key (created by B's admin).
    let b_admin = app.login("b-admin@example.com", PASSWORD).await;
    let b_agent = app.login("b-agent@example.com", PASSWORD).await;
    let (s, key_b) = app
        .post(
            &tenant(&tb, "/api-keys"),
            Some(&b_admin),
            json!({ "name": "b-ci" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{key_b}");
    let b_key = key_b["key"].as_str().unwrap().to_owned();
    assert!(b_key.starts_with("pk_"));
    let (s, list) = app.get(&tenant(&tb, "/api-keys"), Some(&b_admin)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["total"], 1);
    assert!(
        list["items"][0].get("key").is_none(),
        "plaintext only once: {list}"
    );
    assert!(!list.to_string().contains(&b_key));

    let before_agent = ctx
        .store
        .agents()
        .get(&scope_a, aa.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let before_tenant = ctx.store.tenants().get(scope_a.tenant()).await.unwrap();
    let agent_body = json!({ "name": "Hijacked" });

    // Cross-tenant walk: every route with A's ids, as B's admin and B's key.
    let (a, b) = (format!("/tenants/{ta}"), format!("/tenants/{tb}"));
    let pwned = Some(json!({ "name": "Pwned" }));
    let evil_user =
        Some(json!({ "email": "evil@example.com", "password": PASSWORD, "role": "admin" }));
    let agent = Some(agent_body.clone());
    let new_number = Some(json!({ "address": "+14155550199" }));
    let unassign = Some(json!({ "agent_id": null }));
    let new_key = Some(json!({ "name": "x" }));
    let demote = Some(json!({ "role": "agent", "status": "disabled" }));
    let trunk = Some(json!({ "name": "Evil", "host": "evil.example", "auth_password": "x" }));
    let walk: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, a.clone(), None),
        (Method::PATCH, a.clone(), pwned),
        (Method::DELETE, a.clone(), None),
        (Method::GET, format!("{a}/users"), None),
        (Method::POST, format!("{a}/users"), evil_user),
        (Method::GET, format!("{a}/agents"), None),
        (Method::POST, format!("{a}/agents"), agent.clone()),
        (Method::GET, format!("{a}/agents/{aa}"), None),
        (Method::PUT, format!("{a}/agents/{aa}"), agent.clone()),
        (Method::DELETE, format!("{a}/agents/{aa}"), None),
        (Method::GET, format!("{b}/agents/{aa}"), None),
        (Method::PUT, format!("{b}/agents/{aa}"), agent),
        (Method::DELETE, format!("{b}/agents/{aa}"), None),
        (Method::GET, format!("{a}/numbers"), None),
        (Method::POST, format!("{a}/numbers"), new_number),
        (Method::GET, format!("{a}/numbers/{an}"), None),
        (Method::PATCH, format!("{a}/numbers/{an}"), unassign.clone()),
        (Method::DELETE, format!("{a}/numbers/{an}"), None),
        (Method::GET, format!("{b}/numbers/{an}"), None),
        (Method::PATCH, format!("{b}/numbers/{an}"), unassign),
        (Method::GET, format!("{a}/api-keys"), None),
        (Method::POST, format!("{a}/api-keys"), new_key),
        (Method::POST, format!("{a}/api-keys/{ak}/revoke"), None),
        (Method::DELETE, format!("{a}/api-keys/{ak}"), None),
        (Method::POST, format!("{b}/api-keys/{ak}/revoke"), None),
        (Method::GET, format!("{a}/calls"), None),
        (Method::GET, format!("{a}/calls/{ac}"), None),
        (Method::GET, format!("{b}/calls/{ac}"), None),
        (Method::GET, format!("{a}/audit"), None),
        (Method::GET, format!("{a}/users/{au}"), None),
        (Method::PATCH, format!("{a}/users/{au}"), demote.clone()),
        (Method::DELETE, format!("{a}/users/{au}"), None),
        (Method::GET, format!("{b}/users/{au}"), None),
        (Method::PATCH, format!("{b}/users/{au}"), demote),
        (Method::DELETE, format!("{b}/users/{au}"), None),
        (Method::GET, format!("{a}/trunks"), None),
        (Method::POST, format!("{a}/trunks"), trunk.clone()),
        (Method::GET, format!("{a}/trunks/{at}"), None),
        (Method::PATCH, format!("{a}/trunks/{at}"), trunk.clone()),
        (Method::DELETE, format!("{a}/trunks/{at}"), None),
        (Method::GET, format!("{b}/trunks/{at}"), None),
        (Method::PATCH, format!("{b}/trunks/{at}"), trunk),
        (Method::DELETE, format!("{b}/trunks/{at}"), None),
        (Method::POST, format!("{a}/masquerade"), None),
    ];
    for token in [&b_admin, &b_key] {
        for (method, path, body) in &walk {
            let (s, b) = app
                .call(
                    method.clone(),
                    &format!("/api/v1{path}"),
                    Some(token),
                    body.clone(),
                )
                .await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{method} {path}: {b}");
            assert_eq!(b["error"]["code"], "not_found", "{method} {path}: {b}");
        }
    }
    // A is unchanged.
    let s = &ctx.store;
    assert_eq!(
        s.agents()
            .get(&scope_a, aa.parse().unwrap())
            .await
            .unwrap()
            .as_ref(),
        Some(&before_agent)
    );
    assert_eq!(
        s.tenants().get(scope_a.tenant()).await.unwrap(),
        before_tenant
    );
    let n = s
        .numbers()
        .get(&scope_a, an.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n.agent_id, Some(before_agent.id));
    let k = s
        .api_keys()
        .get(&scope_a, ak.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(k.is_active());
    // One of each in A, as before the walk.
    let all = Page::default();
    let totals = (
        s.numbers().list(&scope_a, all).await.unwrap().total,
        s.agents().list(&scope_a, all).await.unwrap().total,
        s.api_keys().list(&scope_a, all).await.unwrap().total,
        s.memberships().list(&scope_a, all).await.unwrap().total,
    );
    assert_eq!(totals, (1, 1, 1, 1));
    let t = s
        .trunks()
        .get(&scope_a, at.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((t.name.as_str(), t.port), ("Main", 5060));
    assert!(t
        .auth_password_enc
        .as_ref()
        .is_some_and(|p| !p.expose().contains(SECRET)));
    assert_eq!(s.trunks().list(&scope_a, all).await.unwrap().total, 1);
    let member = s
        .memberships()
        .member(&scope_a, au.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (member.role.as_str(), member.user_status.as_str()),
        ("admin", "active")
    );
    assert!(before_agent
        .credentials_enc
        .as_ref()
        .is_some_and(|c| !c.expose().contains(SECRET)));

    // Role matrix in B.
    let (s, agent_b) = app
        .post(
            &tenant(&tb, "/agents"),
            Some(&b_key),
            json!({ "name": "B bot" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{agent_b}");
    let bb = agent_b["id"].as_str().unwrap().to_owned();
    let (s, b) = app
        .delete(&format!("/api/v1/tenants/{tb}/agents/{bb}"), Some(&b_admin))
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, b) = app
        .post(
            &tenant(&tb, "/agents"),
            Some(&b_agent),
            json!({ "name": "Nope" }),
        )
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, b) = app.get(&tenant(&tb, "/agents"), Some(&b_agent)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["total"], 1);
    let (s, _) = app
        .delete(&format!("/api/v1/tenants/{tb}/agents/{bb}"), root)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    // Trunks: the agent role reads but cannot manage; admins and keys
    // manage; only the super admin deletes.
    let trunks_b = tenant(&tb, "/trunks");
    let (s, b) = app
        .post(
            &trunks_b,
            Some(&b_agent),
            json!({ "name": "T", "host": "sip.example" }),
        )
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, tr) = app
        .post(
            &trunks_b,
            Some(&b_key),
            json!({ "name": "T", "host": "sip.example" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{tr}");
    let tr_url = format!("{trunks_b}/{}", tr["id"].as_str().unwrap());
    let (s, b) = app.get(&trunks_b, Some(&b_agent)).await;
    assert_eq!((s, b["total"].clone()), (StatusCode::OK, json!(1)), "{b}");
    let (s, b) = app
        .patch(&tr_url, Some(&b_agent), json!({ "port": 5080 }))
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, b) = app
        .patch(&tr_url, Some(&b_admin), json!({ "port": 5080 }))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["port"], 5080);
    let (s, b) = app.delete(&tr_url, Some(&b_admin)).await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, _) = app.delete(&tr_url, root).await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    // Users by id: admins change roles, agents and keys cannot, only the
    // super admin deletes.
    let agent_url = tenant(&tb, &format!("/users/{b_agent_id}"));
    let (s, b) = app.get(&agent_url, Some(&b_agent)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["role"], "agent");
    for who in [&b_agent, &b_key] {
        let (s, b) = app
            .patch(&agent_url, Some(who), json!({ "role": "admin" }))
            .await;
        assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    }
    let (s, b) = app
        .patch(&agent_url, Some(&b_admin), json!({ "role": "boss" }))
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(b["error"]["fields"]["role"].is_array(), "{b}");
    let (s, b) = app
        .patch(&agent_url, Some(&b_admin), json!({ "role": "admin" }))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["role"], "admin");
    let (s, b) = app.delete(&agent_url, Some(&b_admin)).await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");

    // Bad input.
    let agents_a = format!("/api/v1/tenants/{ta}/agents");
    let (s, _, text) = app
        .raw(
            Method::POST,
            &agents_a,
            root,
            Some("{\"name\": ".to_owned()),
        )
        .await;
    let b: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_error(s, &b, StatusCode::BAD_REQUEST, "bad_request");
    let (s, b) = app
        .post(
            &tenant(&ta, "/numbers"),
            root,
            json!({ "address": "555-1234" }),
        )
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(b["error"]["fields"]["address"].is_array(), "{b}");
    let (s, b) = app.get(&format!("{agents_a}?per_page=1000"), root).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(b["error"]["fields"]["per_page"].is_array(), "{b}");
    let (s, b) = app
        .get(&format!("{agents_a}?page=2&per_page=1"), root)
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        (b["page"].clone(), b["per_page"].clone(), b["total"].clone()),
        (json!(2), json!(1), json!(1))
    );
    for id in [uuid::Uuid::now_v7().to_string(), "not-an-id".to_owned()] {
        let (s, b) = app.get(&format!("{agents_a}/{id}"), root).await;
        assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    }
    let (s, b) = app
        .get(
            &format!("/api/v1/tenants/{}/agents", TenantId::generate()),
            root,
        )
        .await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) = app.get(&format!("{agents_a}/{aa}"), root).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["credentials_set"], true);

    // API key: used (last_used set), revoked, then refused.
    let scope_b = TenantScope::new(tb.parse::<TenantId>().unwrap());
    let (s, me) = app.get("/api/v1/me", Some(&b_key)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["principal"]["kind"], "api_key");
    let kb = key_b["id"].as_str().unwrap().to_owned();
    let stored = ctx
        .store
        .api_keys()
        .get(&scope_b, kb.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(stored.last_used_at.is_some());
    let (s, b) = app
        .post(
            &format!("/api/v1/tenants/{tb}/api-keys/{kb}/revoke"),
            Some(&b_admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["active"], false);
    let (s, b) = app.get("/api/v1/me", Some(&b_key)).await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");

    // Mutations are audited with actor and IP, without secrets.
    let log = ctx
        .store
        .audit()
        .list(
            &scope_a,
            &AuditFilter::default(),
            Page::new(1, 100).unwrap(),
        )
        .await
        .unwrap();
    let create = log
        .items
        .iter()
        .find(|e| e.action == "agent.create")
        .unwrap();
    assert_eq!(create.actor_user_id, Some(root_id));
    assert_eq!(create.ip.as_deref(), Some("127.0.0.1"));
    for e in &log.items {
        assert!(!format!("{e:?}").contains(SECRET));
    }
    app.stop().await;
}

async fn super_admin_lifecycle(ctx: Ctx) {
    let (mut app, _) = spawn_app(&ctx).await;
    let root = app.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let root = Some(root.as_str());
    let (s, t) = app
        .post(
            "/api/v1/tenants",
            root,
            json!({ "name": "Acme", "slug": "acme", "plan": "pro" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let ta = t["id"].as_str().unwrap().to_owned();
    let (s, t) = app
        .patch(
            &format!("/api/v1/tenants/{ta}"),
            root,
            json!({ "status": "suspended" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(
        (t["status"].clone(), t["plan"].clone()),
        (json!("suspended"), json!("pro"))
    );
    let (s, b) = app
        .patch(
            &format!("/api/v1/tenants/{ta}"),
            root,
            json!({ "status": "bogus" }),
        )
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(b["error"]["fields"]["status"].is_array(), "{b}");
    let (s, list) = app.get("/api/v1/tenants", root).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["total"], 1);

    // Number re-routing, calls with filters, API key hard delete.
    let scope = TenantScope::new(ta.parse::<TenantId>().unwrap());
    let (_, agent) = app
        .post(&tenant(&ta, "/agents"), root, json!({ "name": "Bot" }))
        .await;
    let (_, number) = app
        .post(
            &tenant(&ta, "/numbers"),
            root,
            json!({ "address": "+14155550100" }),
        )
        .await;
    let nid = number["id"].as_str().unwrap();
    let (s, n) = app
        .patch(
            &format!("/api/v1/tenants/{ta}/numbers/{nid}"),
            root,
            json!({ "agent_id": agent["id"] }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{n}");
    assert_eq!(n["agent_id"], agent["id"]);
    start_call(&ctx.store, &scope, new_call(None, Direction::Inbound, 0)).await;
    start_call(&ctx.store, &scope, new_call(None, Direction::Outbound, 1)).await;
    let calls = format!("/api/v1/tenants/{ta}/calls");
    let (s, b) = app.get(&format!("{calls}?direction=outbound"), root).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["total"], 1);
    let cid = b["items"][0]["id"].as_str().unwrap().to_owned();
    let (s, c) = app.get(&format!("{calls}/{cid}"), root).await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert!(c["transcript"].is_array() && c["latency"].is_array(), "{c}");
    let (s, b) = app.get(&format!("{calls}?status=nope"), root).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let (_, key) = app
        .post(&tenant(&ta, "/api-keys"), root, json!({ "name": "ci" }))
        .await;
    let kid = key["id"].as_str().unwrap();
    let (s, _) = app
        .delete(&format!("/api/v1/tenants/{ta}/api-keys/{kid}"), root)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        ctx.store
            .api_keys()
            .list(&scope, Page::default())
            .await
            .unwrap()
            .total,
        0
    );

    let (s, audit) = app
        .get(&format!("/api/v1/tenants/{ta}/audit?per_page=100"), root)
        .await;
    assert_eq!(s, StatusCode::OK, "{audit}");
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "tenant.create",
        "tenant.update",
        "agent.create",
        "number.create",
        "number.update",
        "api_key.create",
        "api_key.delete",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }

    let (s, _) = app.delete(&format!("/api/v1/tenants/{ta}"), root).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = app.get(&format!("/api/v1/tenants/{ta}"), root).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    app.stop().await;
}

async fn trunks_crud(ctx: Ctx) {
    let (mut app, _) = spawn_app(&ctx).await;
    let root = app.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let root = Some(root.as_str());
    let (_, t) = app
        .post(
            "/api/v1/tenants",
            root,
            json!({ "name": "Acme", "slug": "acme" }),
        )
        .await;
    let ta = t["id"].as_str().unwrap().to_owned();
    let trunks = tenant(&ta, "/trunks");

    // Defaults: port 5060, UDP, no auth, no REGISTER.
    let (s, t) = app
        .post(
            &trunks,
            root,
            json!({ "name": "Plain", "host": "sip.example.net" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    assert_eq!(
        (
            t["port"].clone(),
            t["transport"].clone(),
            t["register"].clone()
        ),
        (json!(5060), json!("udp"), json!(false))
    );
    assert_eq!(t["auth_password_set"], false);
    let (s, t) = app
        .post(
            &trunks,
            root,
            json!({ "name": "Carrier", "host": "sip.carrier.example", "port": 5061,
                    "transport": "tls", "auth_user": "acct-9", "auth_password": SECRET,
                    "register": true }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    assert_eq!(t["auth_password_set"], true);
    assert!(t.get("auth_password").is_none() && t.get("auth_password_enc").is_none());
    let url = format!("{trunks}/{}", t["id"].as_str().unwrap());
    let (s, b) = app
        .post(
            &trunks,
            root,
            json!({ "name": "Carrier", "host": "other.example" }),
        )
        .await;
    assert_error(s, &b, StatusCode::CONFLICT, "conflict");

    // Invalid fields are reported together.
    let (s, b) = app
        .post(
            &trunks,
            root,
            json!({ "name": "", "host": "not a host", "port": 70000, "transport": "carrier-pigeon" }),
        )
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    for f in ["name", "host", "port", "transport"] {
        assert!(b["error"]["fields"][f].is_array(), "{f}: {b}");
    }
    let (s, b) = app.patch(&url, root, json!({ "port": 0 })).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation");

    // PATCH keeps what it does not name; null clears the password.
    let (s, t) = app.patch(&url, root, json!({ "port": 5080 })).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(
        (
            t["port"].clone(),
            t["transport"].clone(),
            t["auth_user"].clone()
        ),
        (json!(5080), json!("tls"), json!("acct-9"))
    );
    assert_eq!(t["auth_password_set"], true);
    let (s, t) = app
        .patch(
            &url,
            root,
            json!({ "auth_password": null, "auth_user": null }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["auth_password_set"], false);
    assert!(t["auth_user"].is_null());
    let (s, list) = app.get(&trunks, root).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["total"], 2);
    let (s, _) = app.delete(&url, root).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = app.get(&url, root).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");

    let (s, audit) = app.get(&tenant(&ta, "/audit?per_page=100"), root).await;
    assert_eq!(s, StatusCode::OK);
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in ["trunk.create", "trunk.update", "trunk.delete"] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    app.stop().await;
}
