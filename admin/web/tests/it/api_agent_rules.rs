//! The conversation core's own rules (`ConversationConfig::validate` in
//! `parla-engine`: endpointing at least one 20 ms frame, a reply or the
//! fallback line within 2 s of the caller's turn, a positive call limit)
//! are enforced when an agent is saved: the API answers 422 naming the
//! field, stores nothing, and accepts the same agent at the boundaries.
//! (Without this an agent could be saved that no call can use: the engine
//! would refuse to build it and its calls would get 503.)

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::api_support::session_token;
use crate::panel_app::spawn;
use crate::support::{tenant, Ctx};
use parla_admin_web::panel::PanelOptions;

store_tests!(agents_the_conversation_core_would_refuse_get_422);

fn agent_body(name: &str, endpointing_ms: u32, options: Value) -> Value {
    json!({
        "name": name,
        "language": "en-US",
        "greeting": "Hello!",
        "system_prompt": "Be brief.",
        "stt_provider": "openai",
        "llm_provider": "flow",
        "tts_provider": "espeak",
        "barge_in_enabled": true,
        "barge_in_min_ms": 250,
        "endpointing_ms": endpointing_ms,
        "engine_options": options,
    })
}

async fn agents_the_conversation_core_would_refuse_get_422(ctx: Ctx) {
    let app = spawn(&ctx, PanelOptions::default()).await;
    let (t, _scope) = tenant(&ctx.store, "Acme").await;
    let tid = t.id;
    let token = session_token(&ctx.store, app.root, tid).await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/tenants/{tid}/agents", app.base);
    let post = |body: Value| http.post(&url).bearer_auth(&token).json(&body).send();

    // (endpointing_ms, engine_options, the field the 422 must name)
    let refused = [
        (19, json!(null), "endpointing_ms"),
        (0, json!(null), "endpointing_ms"),
        (
            500,
            json!({"response_timeout_ms": 2_001}),
            "engine_options.response_timeout_ms",
        ),
        (
            500,
            json!({"response_timeout_ms": 0}),
            "engine_options.response_timeout_ms",
        ),
        (
            500,
            json!({"max_call_secs": 0}),
            "engine_options.max_call_secs",
        ),
    ];
    for (i, (endpointing, options, field)) in refused.into_iter().enumerate() {
        let res = post(agent_body(
            &format!("Refused {i}"),
            endpointing,
            options.clone(),
        ))
        .await
        .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "endpointing {endpointing}, options {options}"
        );
        let body: Value = res.json().await.unwrap();
        let fields = body["error"]["fields"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            fields.keys().collect::<Vec<_>>(),
            vec![field],
            "endpointing {endpointing}, options {options}: {body}"
        );
    }

    // Nothing of the refused agents was stored.
    let list: Value = http
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0), "{list}");

    // The boundaries themselves are accepted.
    let res = post(agent_body(
        "Boundaries",
        20,
        json!({"response_timeout_ms": 2_000, "max_call_secs": 1}),
    ))
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["endpointing_ms"], 20);
    assert_eq!(created["engine_options"]["response_timeout_ms"], 2_000);
}
