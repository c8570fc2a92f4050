//! Crash recovery: `kill -9` during a call leaves its record live; the next
//! start on the same database closes it as `failed` / `node_restart`.

use super::*;

pub(super) async fn a_call_cut_by_a_crash_is_closed_on_restart(db: std::sync::Arc<TestDb>) {
    // The caller stays silent, so the agent needs no recognizer: the STT
    // URL is never called.
    let config = flow_agent_config("http://127.0.0.1:9/v1", "");
    let data = tempdir::Dir::new("admin-crash");
    let ports = rtp_range(1, 4); // one instance at a time
    let launch = || Launch {
        config_toml: Some(&config),
        rtp_ports: ports.clone(),
        env: root_env(&db),
        data_dir: Some(data.0.clone()),
    };

    // A process, to be killed mid-call.
    let parla = Parla::spawn_process(launch());
    let api = Api::of(&parla);
    let root = api.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let tenants = api.get("/tenants", &root).await;
    let tid = tenants["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["slug"] == "default")
        .unwrap_or_else(|| panic!("a default tenant: {tenants:#}"))["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A call in progress: the agent greets, the caller listens.
    let caller = tokio::spawn(place_call(call(
        &parla,
        "agent",
        vec![
            Action::WaitForAgentSpeech {
                timeout: Duration::from_secs(10),
            },
            Action::Wait(Duration::from_secs(60)),
            Action::Hangup,
        ],
    )));
    let live = api.wait_calls(&root, &tid, "in_progress", 1).await;
    let id = live[0]["id"].as_str().unwrap().to_owned();
    assert!(live[0]["ended_at"].is_null(), "{:#}", live[0]);

    // The node dies mid-call: nothing runs the call's end.
    std::process::Command::new("kill")
        .args(["-9", &parla.pid().to_string()])
        .status()
        .expect("kill -9");
    caller.abort();
    drop(parla);
    let store = parla_admin_core::store::Store::connect(&db.url(&data.0))
        .await
        .expect("open the store");
    let left = store.calls().live_count_all().await.unwrap();
    store.close().await;
    assert_eq!(left, 1, "the crash left the call live");

    // Restarted on the same data directory / database.
    let parla = Parla::launch(launch());
    let api = Api::of(&parla);
    let root = api.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let failed = api.wait_calls(&root, &tid, "failed", 1).await;
    assert_eq!(failed.len(), 1, "{failed:#?}");
    let rec = api.get(&format!("/tenants/{tid}/calls/{id}"), &root).await;
    assert_eq!(rec["status"], "failed", "{rec:#}");
    assert_eq!(rec["hangup_cause"], "node_restart", "{rec:#}");
    let answered = rec["answered_at"].as_i64().expect("answered before");
    let ended = rec["ended_at"].as_i64().expect("ended_at set");
    assert!(ended > answered, "{rec:#}");
    assert_eq!(
        rec["duration_ms"].as_i64(),
        Some(ended - answered),
        "{rec:#}"
    );
    let live = api
        .get(&format!("/tenants/{tid}/calls?status=in_progress"), &root)
        .await;
    assert_eq!(live["total"], 0, "{live:#}");
    assert!(
        parla.log_text().contains("closed calls left live"),
        "{}",
        parla.log_text()
    );
}
