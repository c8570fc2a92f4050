//! An agent created through the API answers its number, and the call is recorded.

use super::*;

pub(super) async fn api_created_agent_answers_and_the_call_is_recorded(db: std::sync::Arc<TestDb>) {
    let data = tempdir::Dir::new("admin-e2e");
    let parla = Parla::launch(Launch {
        config_toml: None,
        rtp_ports: rtp_range(1, 10),
        env: root_env(&db),
        data_dir: Some(data.0.clone()),
    });
    let api = Api::of(&parla);

    // Operator: log in, create the tenant and its admin.
    let root = api.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let tenant = api
        .create("/tenants", &root, json!({ "name": "Acme", "slug": "acme" }))
        .await;
    let tid = tenant["id"].as_str().unwrap().to_owned();
    api.create(
        &format!("/tenants/{tid}/users"),
        &root,
        json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "role": "admin" }),
    )
    .await;

    // Tenant admin: agent and number.
    let admin = api.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    // Call settings through the API: recording on, and — since the local
    // whisper recognizer shares 2 cores with Parla, the caller and other
    // tests, so a transcript can take seconds — 2 s (the most the engine
    // allows) before the stall fallback, like the `parla.toml` tests.
    let mut body = agent_body(GREETING);
    body["engine_options"] = json!({ "response_timeout_ms": 2000, "record": true });
    let agent = api
        .create(&format!("/tenants/{tid}/agents"), &admin, body)
        .await;
    let agent_id = agent["id"].as_str().unwrap().to_owned();
    assert_eq!(agent["engine_options"]["record"], true, "{agent}");
    // Numbers are the operator's: the tenant admin may not add one (not
    // even the catch-all); the super admin assigns it, the admin binds it.
    for address in ["sip:*@*", "+14155550123"] {
        let (s, b) = api
            .send(
                reqwest::Method::POST,
                &format!("/tenants/{tid}/numbers"),
                &admin,
                Some(json!({ "address": address })),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "tenant admin adds {address}: {b}");
    }
    let number = api
        .create(
            &format!("/tenants/{tid}/numbers"),
            &root,
            json!({ "address": "+14155550123" }),
        )
        .await;
    let (s, b) = api
        .send(
            reqwest::Method::PATCH,
            &format!("/tenants/{tid}/numbers/{}", number["id"].as_str().unwrap()),
            &admin,
            Some(json!({ "agent_id": agent_id })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "the admin binds the number: {b}");

    // The call: greeting, a sentence, the reply, hang up.
    let spec = call(
        &parla,
        "+14155550123",
        vec![
            end_of_greeting(),
            Action::Play(utterance(SENTENCE)),
            agent_speaks(),
            agent_done(),
            Action::Hangup,
        ],
    );
    let running = tokio::spawn(place_call(spec));

    // While it runs, the record is live.
    let live = api.wait_calls(&admin, &tid, "in_progress", 1).await;
    assert_eq!(live.len(), 1, "{live:#?}");
    assert_eq!(live[0]["agent_id"], agent_id.as_str());
    assert!(live[0]["answered_at"].is_i64(), "{:#?}", live[0]);
    assert!(live[0]["ended_at"].is_null(), "{:#?}", live[0]);

    let outcome = running.await.unwrap().unwrap();
    assert_eq!(outcome.final_status, 200, "{:#?}", outcome.sip_log);

    let done = api.wait_calls(&admin, &tid, "completed", 1).await;
    let rec = &done[0];
    assert_eq!(rec["direction"], "inbound");
    assert_eq!(rec["agent_id"], agent_id.as_str());
    assert_eq!(rec["hangup_cause"], "caller_hangup", "{rec:#}");
    assert_eq!(rec["sip_status"], 200);
    assert!(rec["to_uri"].as_str().unwrap().contains("+14155550123"));
    assert!(!rec["sip_call_id"].as_str().unwrap().is_empty());
    let (attempted, answered, ended) = (
        rec["attempted_at"].as_i64().unwrap(),
        rec["answered_at"].as_i64().unwrap(),
        rec["ended_at"].as_i64().unwrap(),
    );
    assert!(attempted <= answered && answered < ended, "{rec:#}");
    let duration = rec["duration_ms"].as_i64().unwrap();
    assert_eq!(duration, ended - answered);
    assert!(
        duration > 4000,
        "greeting + sentence + reply: {duration} ms"
    );

    // Transcript: the greeting, the caller's words, the flow's reply.
    let caller = turns(rec, "caller");
    let agent_turns = turns(rec, "agent");
    assert_eq!(agent_turns[0]["text"], GREETING, "{rec:#}");
    let said: Vec<&str> = caller.iter().filter_map(|t| t["text"].as_str()).collect();
    let wer = best_phrase_wer(&said.join(" "), SENTENCE);
    assert!(wer <= 0.5, "caller transcript {said:?} (wer {wer:.2})");
    let first_caller_start = caller[0]["start_ms"].as_u64().unwrap();
    let reply = agent_turns
        .iter()
        .find(|t| t["start_ms"].as_u64().unwrap() > first_caller_start)
        .unwrap_or_else(|| panic!("no agent reply after the caller: {rec:#}"));
    let (which, _) = best_match(reply["text"].as_str().unwrap(), FLOW_REPLIES);
    assert_eq!(which, 0, "the appointment answer: {reply}");
    for t in rec["transcript"].as_array().unwrap() {
        let (s, e) = (
            t["start_ms"].as_i64().unwrap(),
            t["end_ms"].as_i64().unwrap(),
        );
        assert!(
            0 <= s && s <= e && e <= duration,
            "turn times within the call: {t}"
        );
    }

    // Latency of the reply turn.
    let latency = rec["latency"].as_array().unwrap();
    assert!(!latency.is_empty(), "{rec:#}");
    let l = &latency[0];
    for stage in ["eou_ms", "stt_ms", "llm_ttft_ms", "tts_ttfb_ms", "v2v_ms"] {
        assert!(l[stage].is_u64(), "{stage} in {l}");
    }
    let v2v = l["v2v_ms"].as_u64().unwrap();
    assert!(v2v > 0 && v2v >= l["eou_ms"].as_u64().unwrap(), "{l}");

    // The recording: caller left, agent right, both audible; stored as
    // `recordings/<tenant>/<record id>.wav`, its path never in the API.
    assert_eq!(rec["has_recording"], true, "{rec:#}");
    assert!(rec.get("recording_path").is_none(), "{rec:#}");
    assert!(!rec.to_string().contains("recordings"), "{rec:#}");
    let path = data
        .0
        .join("recordings")
        .join(&tid)
        .join(format!("{}.wav", rec["id"].as_str().unwrap()));
    let (caller_pcm, agent_pcm) = read_stereo(&path);
    assert!(
        speech_seconds(&caller_pcm) > 1.0,
        "the caller is on the left channel"
    );
    assert!(
        speech_seconds(&agent_pcm) > 3.0,
        "the agent is on the right channel"
    );
    assert_heard(&caller_pcm, SENTENCE, "recorded caller audio").await;

    // The web panel of the same `parla serve` shows the call to the admin:
    // `/` leads to the panel, the detail page has the transcript, the latency
    // waterfall and the recording player.
    let web = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let root_page = web
        .get(format!("http://{}/", parla.http))
        .send()
        .await
        .unwrap();
    assert_eq!(root_page.status(), StatusCode::FOUND);
    assert_eq!(root_page.headers()["location"], "/panel/");
    let call_id = rec["id"].as_str().unwrap();
    let detail = format!("/panel/t/{tid}/calls/{call_id}");
    let panel_get = |path: String| {
        web.get(format!("http://{}{path}", parla.http))
            .header("cookie", format!("parla_session={admin}"))
            .send()
    };
    let page = panel_get(detail.clone()).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains(GREETING), "the transcript is on the page");
    assert!(
        html.contains("<svg class=\"waterfall\""),
        "the latency waterfall is on the page"
    );
    assert!(
        html.contains(&format!("{detail}/recording")),
        "the recording player is on the page"
    );
    let audio = panel_get(format!("{detail}/recording")).await.unwrap();
    assert_eq!(audio.status(), StatusCode::OK);
    assert!(audio.bytes().await.unwrap().starts_with(b"RIFF"));

    // An unknown number: 404, recorded nowhere (another tenant sees nothing).
    let other = api
        .create(
            "/tenants",
            &root,
            json!({ "name": "Globex", "slug": "globex" }),
        )
        .await;
    let other_tid = other["id"].as_str().unwrap().to_owned();
    api.create(
        &format!("/tenants/{other_tid}/numbers"),
        &root,
        json!({ "address": "+14155550777" }),
    )
    .await;
    let outcome = place_call(call(&parla, "+14155550999", vec![]))
        .await
        .unwrap();
    assert_eq!(outcome.final_status, 404);
    // A number without an agent: 480, recorded as failed in its tenant.
    let failed = rejected_and_recorded(&parla, &api, &root, &other_tid, "+14155550777", 480).await;
    assert!(failed["answered_at"].is_null(), "{failed:#}");
    assert_eq!(failed["hangup_cause"], "rejected");
    let other_calls = api.get(&format!("/tenants/{other_tid}/calls"), &root).await;
    assert_eq!(other_calls["total"], 1, "{other_calls:#}");
    let all = api.get(&format!("/tenants/{tid}/calls"), &admin).await;
    assert_eq!(all["total"], 1, "the 404 left no record: {all:#}");
    let (s, _) = api
        .send(
            reqwest::Method::GET,
            &format!("/tenants/{other_tid}/calls"),
            &admin,
            None,
        )
        .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "another tenant's calls are hidden"
    );

    // An edit takes effect on the next call, without a restart.
    let mut body = agent_body(NEW_GREETING);
    body.as_object_mut().unwrap().remove("credentials"); // absent: kept
    api.put(&format!("/tenants/{tid}/agents/{agent_id}"), &admin, body)
        .await;
    let outcome = place_call(call(
        &parla,
        "+14155550123",
        vec![end_of_greeting(), Action::Hangup],
    ))
    .await
    .unwrap();
    assert_eq!(outcome.final_status, 200);
    assert_heard(&outcome.agent_audio, NEW_GREETING, "the new greeting").await;
    let done = api.wait_calls(&admin, &tid, "completed", 2).await;
    // Newest first.
    assert_eq!(turns(&done[0], "agent")[0]["text"], NEW_GREETING);

    // A suspended tenant's numbers refuse calls (403), recorded as failed.
    let (st, body) = api
        .send(
            reqwest::Method::PATCH,
            &format!("/tenants/{tid}"),
            &root,
            Some(json!({ "status": "suspended" })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    rejected_and_recorded(&parla, &api, &root, &tid, "+14155550123", 403).await;
    parla.wait_idle(Duration::from_secs(5)).await;
}
