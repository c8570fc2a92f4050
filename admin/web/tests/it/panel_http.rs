//! The web panel end to end over HTTP, on both backends: a real server on
//! 127.0.0.1:0 with the API and the panel mounted, reqwest with a cookie
//! store as the browser, the test's store to seed and to verify.

use crate::panel_app;
use crate::support;

use panel_app::{member, spawn, Res, PASSWORD, ROOT_EMAIL, ROOT_PASSWORD, SECRET};
use parla_admin_core::domain::{Direction, TenantRole};
use parla_admin_core::store::{AuditFilter, Page};
use parla_admin_web::panel::PanelOptions;
use reqwest::StatusCode;
use support::{agent, new_call, number, start_call, tenant, Ctx};

store_tests!(
    login_cookies_language_and_logout,
    csrf_roles_isolation_and_forms
);

pub(crate) fn assert_status(res: &Res, expected: StatusCode, what: &str) {
    assert_eq!(res.status, expected, "{what}: {}", res.body);
}

/// The audit actions recorded so far, newest first.
pub(crate) async fn audit_actions(ctx: &Ctx) -> Vec<String> {
    let all = ctx
        .store
        .audit()
        .list_all(&AuditFilter::default(), Page::new(1, 100).unwrap())
        .await
        .unwrap();
    all.items.into_iter().map(|e| e.action).collect()
}

async fn login_cookies_language_and_logout(ctx: Ctx) {
    let app = spawn(&ctx, PanelOptions::default()).await;
    let mut c = app.client();

    // Unauthenticated pages redirect to the login form.
    let res = c.get("/panel/").await;
    assert_status(&res, StatusCode::SEE_OTHER, "dashboard without session");
    assert_eq!(res.location(), "/panel/login");

    // The login form: English by default, security headers, a login CSRF
    // cookie scoped to the form.
    let form = c.page("/panel/login").await;
    assert!(form.body.contains("Sign in"), "{}", form.body);
    assert!(form.body.contains("<html lang=\"en\">"));
    let csp = form.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(form.headers["x-frame-options"], "DENY");
    assert!(form
        .set_cookies()
        .iter()
        .any(|c| c.starts_with("parla_login_csrf=") && c.contains("HttpOnly")));
    let csrf = form.csrf();

    // Without or with a wrong CSRF token: 403, nothing happens.
    for token in ["", "forged-token"] {
        let res = c
            .post(
                "/panel/login",
                &[
                    ("csrf_token", token),
                    ("email", ROOT_EMAIL),
                    ("password", ROOT_PASSWORD),
                ],
            )
            .await;
        assert_status(&res, StatusCode::FORBIDDEN, "login without CSRF");
        assert!(res
            .set_cookies()
            .iter()
            .all(|c| !c.starts_with("parla_session=")));
    }
    // Empty fields: 422 with per-field messages.
    let res = c
        .post(
            "/panel/login",
            &[("csrf_token", &csrf), ("email", ""), ("password", "")],
        )
        .await;
    assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY, "empty login");
    assert!(res.body.contains("Enter your e-mail.") && res.body.contains("Enter your password."));
    // Wrong password: the form again, 401.
    let res = c
        .post(
            "/panel/login",
            &[
                ("csrf_token", &csrf),
                ("email", ROOT_EMAIL),
                ("password", "wrong password!"),
            ],
        )
        .await;
    assert_status(&res, StatusCode::UNAUTHORIZED, "wrong password");
    assert!(res.body.contains("Wrong e-mail or password."));
    assert!(res.body.contains(&format!("value=\"{ROOT_EMAIL}\"")));

    // Success: an HttpOnly, SameSite session cookie and a redirect.
    let res = c.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    assert_eq!(res.location(), "/panel/");
    let session = res
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("parla_session="))
        .expect("session cookie");
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Lax"), "{session}");
    assert!(session.contains("Path=/"), "{session}");

    let dash = c.page("/panel/").await;
    assert!(
        dash.body.contains("Live calls (all tenants)"),
        "{}",
        dash.body
    );
    assert!(dash.body.contains("hx-get=\"/panel/stats\""));
    assert_eq!(dash.headers["cache-control"], "no-store");
    // The htmx header carries the session's CSRF token.
    let csrf = dash.csrf();
    assert!(dash.body.contains(&format!("\"X-CSRF-Token\": \"{csrf}\"")));
    let stats = c.page("/panel/stats").await;
    assert!(
        stats.body.starts_with("<div class=\"stats\""),
        "{}",
        stats.body
    );

    // Assets: embedded, typed, cached for long.
    let js = c.page("/panel/assets/htmx.min.js").await;
    assert!(js.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert!(js.headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age=31536000"));
    assert!(js.body.contains("htmx"));
    let css = c.page("/panel/assets/panel.css").await;
    assert!(css.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    assert_status(
        &c.get("/panel/assets/../Cargo.toml").await,
        StatusCode::NOT_FOUND,
        "asset",
    );
    let missing = c.get("/panel/no-such-page").await;
    assert_status(&missing, StatusCode::NOT_FOUND, "unknown page");
    assert!(missing.body.contains("Not found"));

    // Spanish: the toggle sets the cookie and the pages follow.
    let res = c.get("/panel/lang/es?next=/panel/").await;
    assert_status(&res, StatusCode::SEE_OTHER, "language toggle");
    assert_eq!(res.location(), "/panel/");
    let dash = c.page("/panel/").await;
    assert!(dash.body.contains("<html lang=\"es\">"));
    assert!(
        dash.body.contains("Llamadas en curso (todos los clientes)"),
        "{}",
        dash.body
    );
    assert!(dash.body.contains("Cerrar sesión") && !dash.body.contains("Log out"));
    // An open redirect through `next` is refused.
    let res = c.get("/panel/lang/en?next=https://evil.example/").await;
    assert_eq!(res.location(), "/panel/");
    // Accept-Language picks Spanish for a new visitor.
    let mut es = app.client_with_language("es-ES,es;q=0.9,en;q=0.5");
    let form = es.page("/panel/login").await;
    assert!(form.body.contains("Iniciar sesión") && form.body.contains("Contraseña"));

    // Logout needs the CSRF token, then ends the session.
    let res = c.post("/panel/logout", &[("csrf_token", "nope")]).await;
    assert_status(&res, StatusCode::FORBIDDEN, "logout without CSRF");
    c.page("/panel/").await;
    let res = c.post("/panel/logout", &[("csrf_token", &csrf)]).await;
    assert_status(&res, StatusCode::SEE_OTHER, "logout");
    assert_eq!(res.location(), "/panel/login");
    assert_status(
        &c.get("/panel/").await,
        StatusCode::SEE_OTHER,
        "after logout",
    );
    let actions = audit_actions(&ctx).await;
    assert!(
        actions.iter().any(|a| a == "login.succeeded"),
        "{actions:?}"
    );
    assert!(actions.iter().any(|a| a == "login.failed"), "{actions:?}");
    app.stop().await;
}

async fn csrf_roles_isolation_and_forms(ctx: Ctx) {
    let s = &ctx.store;
    let app = spawn(&ctx, PanelOptions::default()).await;
    let (a, a_scope) = tenant(s, "Acme").await;
    let (b, b_scope) = tenant(s, "Globex").await;
    member(s, &a_scope, "admin@acme.example", TenantRole::Admin).await;
    member(s, &a_scope, "desk@acme.example", TenantRole::Agent).await;
    let a_agent = agent(s, &a_scope, "Receptionist").await;
    let b_agent = agent(s, &b_scope, "Globex bot").await;
    let b_number = number(s, &b_scope, "+14155550199", Some(b_agent.id)).await;
    let b_call = start_call(
        s,
        &b_scope,
        new_call(Some(b_agent.id), Direction::Inbound, 0),
    )
    .await;
    let (ta, tb) = (a.id.to_string(), b.id.to_string());

    let mut admin = app.client();
    admin.login("admin@acme.example", PASSWORD).await;
    // A tenant user's dashboard is their tenant's.
    let res = admin.get("/panel/").await;
    assert_eq!(res.location(), format!("/panel/t/{ta}/"));
    let dash = admin.page(&format!("/panel/t/{ta}/")).await;
    assert!(dash.body.contains("Calls today") && dash.body.contains("Voice-to-voice p95"));
    let list = admin.page(&format!("/panel/t/{ta}/agents")).await;
    assert!(list.body.contains("Receptionist") && list.body.contains("New agent"));
    assert!(
        !list.body.contains("Globex"),
        "another tenant's agent listed"
    );
    let csrf = list.csrf();

    // Another tenant's pages, and its ids under the own tenant: 404 pages.
    for path in [
        format!("/panel/t/{tb}/"),
        format!("/panel/t/{tb}/agents"),
        format!("/panel/t/{tb}/agents/{}", b_agent.id),
        format!("/panel/t/{tb}/numbers/{}", b_number.id),
        format!("/panel/t/{tb}/calls/{b_call}"),
        format!("/panel/t/{tb}/calls/{b_call}/recording"),
        format!("/panel/t/{ta}/agents/{}", b_agent.id),
        format!("/panel/t/{ta}/numbers/{}", b_number.id),
        format!("/panel/t/{ta}/calls/{b_call}"),
        format!("/panel/t/{ta}/agents/not-an-id"),
        "/panel/tenants".to_owned(),
        "/panel/audit".to_owned(),
    ] {
        let res = admin.get(&path).await;
        assert_status(&res, StatusCode::NOT_FOUND, &path);
        assert!(res.body.contains("Not found"), "{path}: {}", res.body);
    }
    let res = admin
        .post(
            &format!("/panel/t/{tb}/agents/{}", b_agent.id),
            &[("csrf_token", &csrf), ("name", "Hijacked")],
        )
        .await;
    assert_status(&res, StatusCode::NOT_FOUND, "update another tenant's agent");

    // A form POST without or with a wrong CSRF token: 403, nothing created.
    let agent_form = |csrf: &'static str| {
        vec![
            ("csrf_token", csrf),
            ("name", "Sneaky"),
            ("language", "en-US"),
            ("barge_in_min_ms", "250"),
            ("endpointing_ms", "600"),
        ]
    };
    for token in ["", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
        let res = admin
            .post(&format!("/panel/t/{ta}/agents"), &agent_form(token))
            .await;
        assert_status(&res, StatusCode::FORBIDDEN, "create without CSRF");
        assert!(res.body.contains("Not allowed"));
    }
    let names: Vec<String> = s
        .agents()
        .list(&a_scope, Page::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|a| a.name.to_string())
        .collect();
    assert_eq!(names, ["Receptionist"]);

    // Bad input: the form again with per-field messages, 422, no echo of
    // the submitted credentials.
    let bad_secret = "sk-not-json-SECRET-9876";
    let res = admin
        .post(
            &format!("/panel/t/{ta}/agents"),
            &[
                ("csrf_token", &csrf),
                ("name", "   "),
                ("language", "en US!"),
                ("barge_in_min_ms", "abc"),
                ("endpointing_ms", "-5"),
                ("flow", "{not json"),
                ("credentials", bad_secret),
            ],
        )
        .await;
    assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY, "bad agent form");
    for message in [
        "Enter a name of 1 to 100 characters.",
        "Use a language tag like en-US or es-ES.",
        "Enter a whole number of milliseconds",
        "Not valid JSON.",
        "Enter a JSON object",
    ] {
        assert!(
            res.body.contains(message),
            "missing {message:?}: {}",
            res.body
        );
    }
    assert!(res.body.contains("value=\"en US!\""), "input kept");
    assert!(!res.body.contains(bad_secret));
    // Numbers are the operator's inventory: a tenant admin sees no create
    // form and may not add one (403); the super admin adds them on the
    // tenant's page.
    let page = admin.page(&format!("/panel/t/{ta}/numbers")).await;
    assert!(!page.body.contains(">Create<"), "{}", page.body);
    let res = admin
        .post(
            &format!("/panel/t/{ta}/numbers"),
            &[("csrf_token", &csrf), ("address", "sip:*@*")],
        )
        .await;
    assert_status(&res, StatusCode::FORBIDDEN, "tenant admin adds a number");
    let mut root = app.client();
    root.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let root_csrf = root.page(&format!("/panel/t/{ta}/numbers")).await.csrf();
    // Hostile values are escaped, never a 500.
    let res = root
        .post(
            &format!("/panel/t/{ta}/numbers"),
            &[
                ("csrf_token", &root_csrf),
                ("address", "<script>alert(1)</script>"),
                ("agent", "x"),
            ],
        )
        .await;
    assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY, "bad number form");
    assert!(!res.body.contains("<script>alert(1)</script>"));
    assert!(res.body.contains("&lt;script&gt;") || res.body.contains("&#60;script&#62;"));
    assert!(res.body.contains("Enter an E.164 number"));

    // A good agent with credentials: created, audited, masked afterwards.
    let creds = format!("{{\"llm\": {{\"api_key\": \"{SECRET}\"}}}}");
    let res = admin
        .post(
            &format!("/panel/t/{ta}/agents"),
            &[
                ("csrf_token", &csrf),
                ("name", "Night shift"),
                ("language", "es-ES"),
                ("greeting", "Hola, ¿en qué puedo ayudarle?"),
                ("llm_provider", "openai"),
                ("barge_in_enabled", "on"),
                ("barge_in_min_ms", "300"),
                ("endpointing_ms", "700"),
                ("credentials", &creds),
            ],
        )
        .await;
    assert_status(&res, StatusCode::SEE_OTHER, "create agent");
    let edit = admin.page(res.location()).await;
    assert!(
        edit.body.contains("•••• set") && edit.body.contains("Saved."),
        "{}",
        edit.body
    );
    assert!(edit.body.contains("Hola, ¿en qué puedo ayudarle?"));
    let created = s
        .agents()
        .list(&a_scope, Page::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|a| a.name.to_string() == "Night shift")
        .unwrap();
    assert!(created.credentials_enc.is_some());
    assert_eq!(created.endpointing_ms, 700);
    // Editing without touching the credentials keeps them.
    let path = format!("/panel/t/{ta}/agents/{}", created.id);
    let res = admin
        .post(
            &path,
            &[
                ("csrf_token", &csrf),
                ("name", "Night shift"),
                ("language", "es-ES"),
                // As the pre-filled form submits it: the kept credentials
                // are checked against the provider kinds.
                ("llm_provider", "openai"),
                ("barge_in_min_ms", "300"),
                ("endpointing_ms", "650"),
            ],
        )
        .await;
    assert_status(&res, StatusCode::SEE_OTHER, "update agent");
    let after = s.agents().get(&a_scope, created.id).await.unwrap().unwrap();
    assert_eq!(after.credentials_enc, created.credentials_enc);
    assert_eq!(after.endpointing_ms, 650);
    assert!(!after.barge_in_enabled);
    // The htmx way: the token in the header instead of the form.
    let res = root
        .post_with_header(
            &format!("/panel/t/{ta}/numbers"),
            &root_csrf,
            &[
                ("address", "+14155550123"),
                ("agent", &a_agent.id.to_string()),
            ],
        )
        .await;
    assert_status(&res, StatusCode::OK, "htmx create number");
    assert_eq!(res.headers["hx-redirect"], format!("/panel/t/{ta}/numbers"));
    let numbers = admin.page(&format!("/panel/t/{ta}/numbers")).await;
    assert!(numbers.body.contains("+14155550123") && numbers.body.contains("Receptionist"));
    for page in [
        "agents", "numbers", "api-keys", "users", "trunks", "calls", "audit",
    ] {
        let body = admin.page(&format!("/panel/t/{ta}/{page}")).await.body;
        assert!(
            !body.contains("/delete\""),
            "{page}: a tenant admin sees a delete button"
        );
    }
    let actions = audit_actions(&ctx).await;
    for action in ["agent.create", "agent.update", "number.create"] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} not audited: {actions:?}"
        );
    }
    // Deleting is the super admin's: 403 even with a valid token.
    let res = admin
        .post(
            &format!("/panel/t/{ta}/agents/{}/delete", created.id),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_status(&res, StatusCode::FORBIDDEN, "tenant admin delete");
    assert!(s
        .agents()
        .get(&a_scope, created.id)
        .await
        .unwrap()
        .is_some());

    // API key: shown once, then only its prefix.
    let res = admin
        .post(
            &format!("/panel/t/{ta}/api-keys"),
            &[("csrf_token", &csrf), ("name", "CI")],
        )
        .await;
    assert_status(&res, StatusCode::OK, "create API key");
    let start = res.body.find("pk_").expect("key shown once");
    let key = res.body[start..start + 44].to_owned();
    let keys = admin.page(&format!("/panel/t/{ta}/api-keys")).await;
    assert!(keys.body.contains("CI") && !keys.body.contains(&key));

    // Spanish pages render Spanish.
    admin.get("/panel/lang/es").await;
    let es = admin.page(&format!("/panel/t/{ta}/agents")).await;
    assert!(
        es.body.contains("Nuevo agente") && es.body.contains("Agentes"),
        "{}",
        es.body
    );
    assert!(es.body.contains("•••• configurado"));
    let res = admin
        .post(
            &format!("/panel/t/{ta}/agents"),
            &[("csrf_token", &csrf), ("name", "")],
        )
        .await;
    assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY, "Spanish errors");
    assert!(res
        .body
        .contains("Escribe un nombre de 1 a 100 caracteres."));

    // The tenant `agent` role: sees, cannot manage.
    let mut desk = app.client();
    desk.login("desk@acme.example", PASSWORD).await;
    let list = desk.page(&format!("/panel/t/{ta}/agents")).await;
    assert!(list.body.contains("Night shift") && !list.body.contains("New agent"));
    let edit = desk.page(&path).await;
    assert!(edit
        .body
        .contains("You can see this configuration but not change it."));
    assert!(!edit.body.contains(">Save<") && edit.body.contains("readonly"));
    assert!(edit.body.contains("•••• set"));
    for page in ["numbers", "api-keys", "users"] {
        let body = desk.page(&format!("/panel/t/{ta}/{page}")).await.body;
        assert!(
            !body.contains(">Create<"),
            "{page}: the agent role sees a create form"
        );
    }
    let desk_csrf = list.csrf();
    assert_status(
        &desk.get(&format!("/panel/t/{ta}/agents/new")).await,
        StatusCode::FORBIDDEN,
        "agent role: new agent form",
    );
    for (target, fields) in [
        (
            path.clone(),
            vec![
                ("name", "Renamed"),
                ("language", "en-US"),
                ("barge_in_min_ms", "1"),
                ("endpointing_ms", "1"),
            ],
        ),
        (
            format!("/panel/t/{ta}/agents"),
            vec![
                ("name", "Mine"),
                ("language", "en-US"),
                ("barge_in_min_ms", "1"),
                ("endpointing_ms", "1"),
            ],
        ),
        (
            format!("/panel/t/{ta}/numbers"),
            vec![("address", "+14155550777")],
        ),
        (format!("/panel/t/{ta}/api-keys"), vec![("name", "Mine")]),
        (
            format!("/panel/t/{ta}/users"),
            vec![
                ("email", "x@acme.example"),
                ("password", "long enough password"),
                ("role", "admin"),
            ],
        ),
    ] {
        let mut form = vec![("csrf_token", desk_csrf.as_str())];
        form.extend(fields);
        let res = desk.post(&target, &form).await;
        assert_status(
            &res,
            StatusCode::FORBIDDEN,
            &format!("agent role POST {target}"),
        );
    }
    let unchanged = s.agents().get(&a_scope, created.id).await.unwrap().unwrap();
    assert_eq!(unchanged.name.to_string(), "Night shift");
    assert_eq!(
        s.numbers()
            .list(&a_scope, Page::default())
            .await
            .unwrap()
            .total,
        1
    );

    admin.assert_never_shown(SECRET);
    desk.assert_never_shown(SECRET);
    app.stop().await;
}
