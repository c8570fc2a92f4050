//! `parla.toml` is imported into the database on first start only.

use super::*;

pub(super) async fn parla_toml_is_imported_on_first_start_only(db: std::sync::Arc<TestDb>) {
    let config = flow_agent_config(&format!("{}/v1", whisper().base_url()), "")
        .replace(
            r#"numbers = ["*"]"#,
            r#"numbers = ["+1 555 0100", "support"]"#,
        )
        // An inline flow script: imported into the agent's `flow` column.
        .replace(
            "[agents.tts]",
            r#"[agents.llm.flow]
fallback = "Sorry?"
[[agents.llm.flow.intents]]
name = "leave"
dtmf = "7"
reply = "Goodbye from the imported script."
end_call = true

[agents.tts]"#,
        );
    let data = tempdir::Dir::new("admin-import");
    let ports = rtp_range(1, 10); // one instance at a time
    let start = |env: Vec<(String, String)>| {
        Parla::launch(Launch {
            config_toml: Some(&config),
            rtp_ports: ports.clone(),
            env,
            data_dir: Some(data.0.clone()),
        })
    };

    let parla = start(root_env(&db));
    let api = Api::of(&parla);
    let root = api.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let tenants = api.get("/tenants", &root).await;
    let default = tenants["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["slug"] == "default")
        .unwrap_or_else(|| panic!("a default tenant: {tenants:#}"))
        .clone();
    let tid = default["id"].as_str().unwrap().to_owned();
    let agents = api.get(&format!("/tenants/{tid}/agents"), &root).await;
    assert_eq!(agents["total"], 1, "{agents:#}");
    let agent = &agents["items"][0];
    assert_eq!(agent["name"], "test");
    assert_eq!(
        (
            &agent["stt_provider"],
            &agent["llm_provider"],
            &agent["tts_provider"]
        ),
        (&json!("openai"), &json!("flow"), &json!("espeak"))
    );
    assert_eq!(agent["credentials_set"], true);
    let agent_id = agent["id"].as_str().unwrap().to_owned();
    let numbers = api.get(&format!("/tenants/{tid}/numbers"), &root).await;
    let mut addresses: Vec<&str> = numbers["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            assert_eq!(n["agent_id"], agent_id.as_str());
            n["address"].as_str().unwrap()
        })
        .collect();
    addresses.sort_unstable();
    assert_eq!(addresses, ["+15550100", "sip:support@*"]);

    // Edited in the database: the file no longer wins.
    let mut body = json!({
        "name": "reception",
        "greeting": NEW_GREETING,
        "language": "en",
        "stt_provider": "openai",
        "llm_provider": "flow",
        "tts_provider": "espeak",
    });
    body["voice"] = agent["voice"].clone();
    assert_eq!(agent["flow"]["intents"][0]["name"], "leave", "{agent:#}");
    body["flow"] = agent["flow"].clone(); // a full update: keep the script
    api.put(&format!("/tenants/{tid}/agents/{agent_id}"), &root, body)
        .await;
    drop(parla);

    let parla = start(root_env(&db));
    assert!(
        parla.log_text().contains("not imported again"),
        "{}",
        parla.log_text()
    );
    let api = Api::of(&parla);
    let root = api.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let agents = api.get(&format!("/tenants/{tid}/agents"), &root).await;
    assert_eq!(agents["total"], 1, "not re-imported: {agents:#}");
    assert_eq!(agents["items"][0]["name"], "reception");
    let tenants = api.get("/tenants", &root).await;
    assert_eq!(tenants["total"], 1, "{tenants:#}");

    // The imported numbers route through the database, to the edited agent.
    let outcome = place_call(call(
        &parla,
        "support",
        vec![end_of_greeting(), Action::Hangup],
    ))
    .await
    .unwrap();
    assert_eq!(outcome.final_status, 200, "{:#?}", outcome.sip_log);
    // Key 7 is the imported script's goodbye: the agent hangs up.
    let dtmf = vec![
        end_of_greeting(),
        Action::Dtmf {
            digits: "7".into(),
            duration_ms: 120,
        },
    ];
    let outcome = place_call(call(&parla, "15550100", dtmf)).await.unwrap();
    assert_eq!(outcome.final_status, 200, "{:#?}", outcome.sip_log);
    assert_eq!(outcome.ended_by, EndedBy::Agent);
    let done = api.wait_calls(&root, &tid, "completed", 2).await;
    for rec in &done {
        assert_eq!(turns(rec, "agent")[0]["text"], NEW_GREETING, "{rec:#}");
        assert_eq!(rec["agent_id"], agent_id.as_str());
    }
    // Newest first: the DTMF call, ended by the agent; the caller's key and
    // the script's reply are in its transcript.
    assert_eq!(done[0]["hangup_cause"], "agent_hangup", "{:#}", done[0]);
    assert!(done[0]["to_uri"].as_str().unwrap().contains("15550100"));
    assert_eq!(done[1]["hangup_cause"], "caller_hangup", "{:#}", done[1]);
    assert!(
        turns(&done[0], "caller")
            .iter()
            .any(|t| t["text"].as_str().unwrap().contains('7')),
        "{:#}",
        done[0]
    );
    assert_eq!(
        turns(&done[0], "agent").last().unwrap()["text"],
        "Goodbye from the imported script.",
        "{:#}",
        done[0]
    );
    let unknown = place_call(call(&parla, "sales", vec![])).await.unwrap();
    assert_eq!(unknown.final_status, 404);
    drop(parla);

    // Another secret key cannot decrypt the imported credentials: a clear
    // per-agent error and 503, the call recorded as failed; no panic.
    let mut env = root_env(&db);
    env.push((
        "PARLA_SECRET_KEY".into(),
        parla_admin_core::auth::SecretKey::generate().to_base64(),
    ));
    let parla = start(env);
    let api = Api::of(&parla);
    let root = api.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    rejected_and_recorded(&parla, &api, &root, &tid, "support", 503).await;
    let log = parla.log_text();
    assert!(
        log.contains("cannot decrypt its provider credentials") && log.contains("reception"),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
}
