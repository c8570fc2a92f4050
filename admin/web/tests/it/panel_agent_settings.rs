//! The panel's agent form checks provider settings against the same
//! tenant allow-lists as the API (`parla_spec`): an environment variable
//! name, a file path, an unknown provider or setting, a wrong type or an
//! out-of-range value is a 422 form error naming the setting, and nothing
//! is saved. On both backends, over HTTP.

use crate::panel_app;
use crate::support;

use panel_app::{member, spawn, PASSWORD};
use parla_admin_core::domain::TenantRole;
use parla_admin_core::store::Page;
use parla_admin_web::panel::PanelOptions;
use reqwest::StatusCode;
use support::{tenant, Ctx};

store_tests!(panel_agent_settings_are_allow_listed);

async fn panel_agent_settings_are_allow_listed(ctx: Ctx) {
    let s = &ctx.store;
    let app = spawn(&ctx, PanelOptions::default()).await;
    let (a, scope) = tenant(s, "Acme").await;
    member(s, &scope, "admin@acme.example", TenantRole::Admin).await;
    let ta = a.id.to_string();
    let mut admin = app.client();
    admin.login("admin@acme.example", PASSWORD).await;
    let csrf = admin
        .page(&format!("/panel/t/{ta}/agents/new"))
        .await
        .csrf();
    let agents = format!("/panel/t/{ta}/agents");

    for (fields, expected) in [
        (
            vec![
                ("tts_provider", "openai"),
                (
                    "credentials",
                    r#"{"tts": {"base_url": "https://attacker.example/v1", "api_key_env": "PARLA_ADMIN_PASSWORD"}}"#,
                ),
            ],
            "credentials.tts.api_key_env",
        ),
        (
            vec![("credentials", r#"{"llm": {"script": "/dev/zero"}}"#)],
            "credentials.llm.script",
        ),
        (vec![("flow", r#""/dev/zero""#)], "is not a flow script"),
        (vec![("stt_provider", "polly")], "unknown provider"),
        (
            vec![
                ("llm_provider", "openai"),
                ("credentials", r#"{"llm": {"temprature": 1}}"#),
            ],
            "credentials.llm.temprature",
        ),
        (
            vec![
                ("llm_provider", "openai"),
                ("credentials", r#"{"llm": {"max_tokens": "many"}}"#),
            ],
            "credentials.llm.max_tokens",
        ),
        (
            vec![("credentials", r#"{"tts": {"rate_wpm": 5000}}"#)],
            "credentials.tts.rate_wpm",
        ),
    ] {
        let mut form = vec![
            ("csrf_token", csrf.as_str()),
            ("name", "Hostile"),
            ("language", "en-US"),
            ("barge_in_min_ms", "250"),
            ("endpointing_ms", "600"),
        ];
        form.extend(fields.iter().copied());
        let res = admin.post(&agents, &form).await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{fields:?}: {}",
            res.body
        );
        assert!(res.body.contains(expected), "{fields:?}: {}", res.body);
    }
    let saved = s.agents().list(&scope, Page::default()).await.unwrap();
    assert_eq!(saved.total, 0, "nothing was saved");

    // A valid one is saved with its kinds; the credentials are kept on an
    // edit that leaves the field empty, and checked against new kinds.
    let res = admin
        .post(
            &agents,
            &[
                ("csrf_token", &csrf),
                ("name", "Fine"),
                ("language", "en-US"),
                ("llm_provider", "openai"),
                ("barge_in_min_ms", "250"),
                ("endpointing_ms", "600"),
                (
                    "credentials",
                    r#"{"llm": {"api_key": "sk-fine", "temperature": 0.4}}"#,
                ),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let path = res.location().split('?').next().unwrap().to_owned();
    let saved = s
        .agents()
        .list(&scope, Page::default())
        .await
        .unwrap()
        .items;
    assert_eq!(
        (
            saved[0].stt_provider.as_str(),
            saved[0].llm_provider.as_str(),
            saved[0].tts_provider.as_str()
        ),
        ("openai", "openai", "espeak")
    );
    let res = admin
        .post(
            &path,
            &[
                ("csrf_token", &csrf),
                ("name", "Fine"),
                ("language", "en-US"),
                ("llm_provider", "flow"),
                ("barge_in_min_ms", "250"),
                ("endpointing_ms", "600"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
    assert!(res.body.contains("credentials.llm.api_key"), "{}", res.body);
    let after = s.agents().get(&scope, saved[0].id).await.unwrap().unwrap();
    assert_eq!(after.llm_provider, "openai", "unchanged");
    admin.assert_never_shown("sk-fine");
    app.stop().await;
}
