//! The web panel end to end over HTTP, as the operator (super admin):
//! tenants, masquerade and calls across tenants (see `panel_http` for the
//! set-up).

use crate::panel_app;
use crate::panel_http::{assert_status, audit_actions};
use crate::support;

use panel_app::{
    finished_call, five_seconds_ago, member, recordings_dir, spawn, ROOT_EMAIL, ROOT_PASSWORD,
};
use parla_admin_core::domain::{Direction, TenantRole};
use parla_admin_web::panel::PanelOptions;
use reqwest::StatusCode;
use support::{agent, new_call, start_call, tenant, Ctx};

store_tests!(super_admin_tenants_masquerade_and_calls);

async fn super_admin_tenants_masquerade_and_calls(ctx: Ctx) {
    let s = &ctx.store;
    let dir = recordings_dir();
    std::fs::write(dir.join("call-1.wav"), b"RIFF\x24\0\0\0WAVEfmt fake").unwrap();
    std::fs::write(dir.parent().unwrap().join("outside.wav"), b"RIFF outside").unwrap();
    let options = PanelOptions {
        recordings_dir: Some(dir.clone()),
        engine_stats: None,
    };
    let app = spawn(&ctx, options).await;
    let (a, a_scope) = tenant(s, "Acme").await;
    member(s, &a_scope, "admin@acme.example", TenantRole::Admin).await;
    let bot = agent(s, &a_scope, "Receptionist").await;
    let ta = a.id.to_string();
    let call = finished_call(s, &a_scope, Some(bot.id), 0, Some("call-1.wav".to_owned())).await;
    let escaping =
        finished_call(s, &a_scope, None, 10_000, Some("../outside.wav".to_owned())).await;
    start_call(
        s,
        &a_scope,
        new_call(Some(bot.id), Direction::Outbound, 20_000),
    )
    .await;

    let mut root = app.client();
    root.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let tenants = root.page("/panel/tenants").await;
    assert!(tenants.body.contains("Acme") && tenants.body.contains("Log in as"));
    assert!(tenants
        .body
        .contains(&format!("/panel/tenants/{ta}/delete")));
    let csrf = tenants.csrf();
    // Create a tenant through the form; bad input re-renders with errors.
    let res = root
        .post(
            "/panel/tenants",
            &[("csrf_token", &csrf), ("name", ""), ("slug", "Not A Slug")],
        )
        .await;
    assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY, "bad tenant");
    assert!(res.body.contains("Use 1 to 63 lowercase letters"));
    let res = root
        .post(
            "/panel/tenants",
            &[("csrf_token", &csrf), ("name", "Initech"), ("slug", "acme")],
        )
        .await;
    assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY, "taken slug");
    assert!(res.body.contains("Already in use."));
    let res = root
        .post(
            "/panel/tenants",
            &[
                ("csrf_token", &csrf),
                ("name", "Initech"),
                ("slug", "initech"),
            ],
        )
        .await;
    assert_status(&res, StatusCode::SEE_OTHER, "create tenant");
    let initech = s
        .tenants()
        .get_by_slug(&"initech".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    // The super admin opens a tenant and sees delete buttons there.
    let agents = root.page(&format!("/panel/t/{ta}/agents/{}", bot.id)).await;
    assert!(agents
        .body
        .contains(&format!("/panel/t/{ta}/agents/{}/delete", bot.id)));
    // Delete (super admin): the empty tenant goes away, audited.
    let res = root
        .post(
            &format!("/panel/tenants/{}/delete", initech.id),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_status(&res, StatusCode::SEE_OTHER, "delete tenant");
    assert!(s.tenants().get(initech.id).await.unwrap().is_none());

    // Calls: list, filters, detail, recording.
    let calls = root.page(&format!("/panel/t/{ta}/calls")).await;
    const COMPLETED: &str = "badge ok\">Completed</td>";
    const RINGING: &str = "badge live\">Ringing</td>";
    assert!(
        calls.body.contains(COMPLETED) && calls.body.contains(RINGING),
        "{}",
        calls.body
    );
    assert!(calls.body.contains(&call.to_string()) && calls.body.contains(&escaping.to_string()));
    let completed = root
        .page(&format!("/panel/t/{ta}/calls?status=completed"))
        .await;
    assert!(completed.body.contains(&call.to_string()) && !completed.body.contains(RINGING));
    let outbound = root
        .page(&format!("/panel/t/{ta}/calls?direction=outbound"))
        .await;
    assert!(!outbound.body.contains(&call.to_string()) && outbound.body.contains(RINGING));
    let by_agent = root
        .page(&format!(
            "/panel/t/{ta}/calls?agent={}&status=completed",
            bot.id
        ))
        .await;
    assert!(
        by_agent.body.contains(&call.to_string()) && !by_agent.body.contains(&escaping.to_string())
    );
    let by_number = root
        .page(&format!("/panel/t/{ta}/calls?number=%2B15550001111"))
        .await;
    assert!(by_number.body.contains(&call.to_string()));
    let none = root
        .page(&format!(
            "/panel/t/{ta}/calls?number=999999&from=2024-06-10&to=2024-06-10"
        ))
        .await;
    assert!(none.body.contains("Nothing here yet."));
    let dated = root
        .page(&format!(
            "/panel/t/{ta}/calls?from=2024-06-10&to=2024-06-10"
        ))
        .await;
    assert!(dated.body.contains(&call.to_string()));
    let bad = root
        .get(&format!(
            "/panel/t/{ta}/calls?from=2024-02-31&status=bogus&page=x"
        ))
        .await;
    assert_status(&bad, StatusCode::UNPROCESSABLE_ENTITY, "bad filters");
    assert!(
        bad.body.contains("Use a date like 2026-01-31.")
            && bad.body.contains("Not a valid choice.")
    );

    let detail = root.page(&format!("/panel/t/{ta}/calls/{call}")).await;
    for text in [
        "I need to move my appointment to Friday.",
        "Hello, Acme dental, how can I help?",
        "interrupted",
        "v2v 780 ms",
        "v2v 640 ms",
        "caller_hangup",
        "Receptionist",
        "<svg class=\"waterfall\"",
        "class=\"seg llm\"",
        "<audio controls",
    ] {
        assert!(
            detail.body.contains(text),
            "call page lacks {text:?}: {}",
            detail.body
        );
    }
    let audio = root
        .page(&format!("/panel/t/{ta}/calls/{call}/recording"))
        .await;
    assert_eq!(audio.headers["content-type"], "audio/wav");
    assert!(audio.body.starts_with("RIFF"));
    let res = root
        .get(&format!("/panel/t/{ta}/calls/{escaping}/recording"))
        .await;
    assert_status(
        &res,
        StatusCode::NOT_FOUND,
        "recording outside the directory",
    );

    // The dashboard of the tenant: today's figures come from the records
    // (the calls above are from 2024; one more today, v2v 780 and 640 ms).
    let stat = |label: &str, value: &str| {
        format!(
            "<div class=\"stat-label\">{label}</div>\n    <div class=\"stat-value\">{value}</div>"
        )
    };
    let dash = root.page(&format!("/panel/t/{ta}/")).await;
    assert!(
        dash.body.contains(&stat("Calls today", "0")),
        "{}",
        dash.body
    );
    assert!(
        dash.body.contains(&stat("Live calls", "1")),
        "{}",
        dash.body
    );
    assert!(dash.body.contains(&stat("Voice-to-voice p50", "—")));
    let today = finished_call(s, &a_scope, Some(bot.id), five_seconds_ago(), None).await;
    let dash = root.page(&format!("/panel/t/{ta}/")).await;
    assert!(dash.body.contains("Latest calls") && dash.body.contains(&today.to_string()));
    assert!(
        dash.body.contains("<td>Receptionist</td>"),
        "agent names in the latest calls"
    );
    let stats = root.page(&format!("/panel/t/{ta}/stats")).await;
    assert!(
        stats.body.contains(&stat("Calls today", "1")),
        "{}",
        stats.body
    );
    assert!(
        stats.body.contains(&stat("Voice-to-voice p50", "640 ms")),
        "{}",
        stats.body
    );
    assert!(
        stats.body.contains(&stat("Voice-to-voice p95", "780 ms")),
        "{}",
        stats.body
    );

    // "Log in as": a banner, the tenant admin's rights, audited; and back.
    let res = root
        .post(
            &format!("/panel/tenants/{ta}/masquerade"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_status(&res, StatusCode::SEE_OTHER, "masquerade");
    assert_eq!(res.location(), format!("/panel/t/{ta}/"));
    let page = root.page(&format!("/panel/t/{ta}/agents")).await;
    assert!(page.body.contains("You are logged in as"), "{}", page.body);
    assert!(page.body.contains("admin@acme.example"));
    assert!(!page.body.contains("/delete\""), "masquerading: no deletes");
    assert_status(
        &root.get("/panel/tenants").await,
        StatusCode::NOT_FOUND,
        "masquerading: tenants",
    );
    let masq_csrf = page.csrf();
    let res = root
        .post("/panel/masquerade/end", &[("csrf_token", &masq_csrf)])
        .await;
    assert_status(&res, StatusCode::SEE_OTHER, "end masquerade");
    let back = root.page("/panel/tenants").await;
    assert!(!back.body.contains("You are logged in as"));
    let actions = audit_actions(&ctx).await;
    for action in [
        "masquerade.start",
        "masquerade.end",
        "tenant.create",
        "tenant.delete",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} not audited: {actions:?}"
        );
    }
    let audit = root.page("/panel/audit?action=masquerade").await;
    assert!(audit.body.contains("masquerade.start") && !audit.body.contains("tenant.create"));
    app.stop().await;
    let _ = std::fs::remove_file(dir.parent().unwrap().join("outside.wav"));
    let _ = std::fs::remove_dir_all(&dir);
}
