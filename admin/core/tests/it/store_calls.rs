//! Call records: start → live → finish, filters, pagination.

use crate::support;

use parla_admin_core::domain::{
    AgentId, CallId, CallStatus, Direction, SipStatus, Speaker, TranscriptTurn, TurnLatency,
};
use parla_admin_core::store::{CallEnd, CallFilter, Page, StoreError};
use support::{acme_and_globex, agent, at, call_end, conflict, new_call, start_call, tenant, Ctx};

store_tests!(
    call_lifecycle_with_transcript_and_latency,
    unanswered_calls_have_no_duration,
    call_state_rules,
    call_filters_and_pagination,
    live_counts,
);

async fn call_lifecycle_with_transcript_and_latency(ctx: Ctx) {
    let s = &ctx.store;
    let (t, scope) = tenant(s, "Acme").await;
    let agent = agent(s, &scope, "Bot").await;

    let started = s
        .calls()
        .start(&scope, new_call(Some(agent.id), Direction::Inbound, 0))
        .await
        .unwrap();
    assert_eq!(started.tenant_id, t.id);
    assert_eq!(started.status, CallStatus::Ringing);
    assert_eq!(
        (started.answered_at, started.ended_at, started.duration_ms),
        (None, None, None)
    );
    assert!(started.transcript.is_empty() && started.latency.is_empty());
    assert_eq!(started.sip_call_id, "call-0@carrier");
    assert_eq!(
        s.calls().live_count(&scope).await.unwrap(),
        1,
        "visible while ringing"
    );

    let answered = s
        .calls()
        .answer(&scope, started.id, at(1_500))
        .await
        .unwrap();
    assert_eq!(answered.status, CallStatus::InProgress);
    assert_eq!(answered.answered_at, Some(at(1_500)));
    assert_eq!(
        s.calls().live_count(&scope).await.unwrap(),
        1,
        "visible while in progress"
    );
    let live = s
        .calls()
        .list(
            &scope,
            &CallFilter {
                status: Some(CallStatus::InProgress),
                ..Default::default()
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(live.items, std::slice::from_ref(&answered));

    let transcript = vec![
        TranscriptTurn {
            speaker: Speaker::Agent,
            text: "Hello, Acme — how can I help? «ünïcødé»".to_owned(),
            start_ms: 0,
            end_ms: 2_100,
            interrupted: true,
        },
        TranscriptTurn {
            speaker: Speaker::Caller,
            text: "I'd like to \"book\" a table.\nFor two.".to_owned(),
            start_ms: 1_900,
            end_ms: 4_000,
            interrupted: false,
        },
    ];
    let latency = vec![
        TurnLatency {
            eou_ms: Some(180),
            stt_ms: Some(90),
            llm_ttft_ms: Some(320),
            tts_ttfb_ms: Some(110),
            v2v_ms: Some(700),
        },
        TurnLatency {
            eou_ms: Some(200),
            ..Default::default()
        },
    ];
    let finished = s
        .calls()
        .finish(
            &scope,
            started.id,
            CallEnd {
                ended_at: at(61_500),
                status: CallStatus::Completed,
                hangup_cause: Some("caller_hangup".to_owned()),
                sip_status: Some(SipStatus::try_from(200_u16).unwrap()),
                transcript: transcript.clone(),
                latency: latency.clone(),
                recording_path: Some("recordings/acme/call.wav".to_owned()),
            },
        )
        .await
        .unwrap();
    assert_eq!(finished.status, CallStatus::Completed);
    assert_eq!(finished.ended_at, Some(at(61_500)));
    assert_eq!(finished.duration_ms, Some(60_000), "ended_at - answered_at");
    assert_eq!(finished.hangup_cause.as_deref(), Some("caller_hangup"));
    assert_eq!(finished.sip_status.map(SipStatus::code), Some(200));
    assert_eq!(
        finished.recording_path.as_deref(),
        Some("recordings/acme/call.wav")
    );
    assert_eq!(finished.agent_id, Some(agent.id));

    let reread = s.calls().get(&scope, started.id).await.unwrap().unwrap();
    assert_eq!(reread, finished);
    assert_eq!(
        reread.transcript.0, transcript,
        "transcript JSON round-trip"
    );
    assert_eq!(reread.latency.0, latency, "latency JSON round-trip");
    assert_eq!(s.calls().live_count(&scope).await.unwrap(), 0);

    // The serialized record exposes the documented JSON shapes.
    let json = serde_json::to_value(&reread).unwrap();
    assert_eq!(json["transcript"][0]["speaker"], "agent");
    assert_eq!(json["transcript"][0]["interrupted"], true);
    assert_eq!(json["latency"][1]["eou_ms"], 200);
    assert_eq!(json["latency"][1]["v2v_ms"], serde_json::Value::Null);
    assert_eq!(json["status"], "completed");
}

async fn unanswered_calls_have_no_duration(ctx: Ctx) {
    let s = &ctx.store;
    let (_, scope) = tenant(s, "Acme").await;
    let id = start_call(s, &scope, new_call(None, Direction::Outbound, 0)).await;
    let mut e = call_end(CallStatus::Busy, 3_000);
    e.sip_status = Some("486".parse().unwrap());
    let done = s.calls().finish(&scope, id, e).await.unwrap();
    assert_eq!(done.status, CallStatus::Busy);
    assert_eq!(done.answered_at, None);
    assert_eq!(done.duration_ms, None);
    assert_eq!(done.sip_status.map(SipStatus::code), Some(486));
    assert!(done.transcript.is_empty());

    // Starting already answered (outbound picked up before the record).
    let mut c = new_call(None, Direction::Outbound, 10_000);
    c.status = CallStatus::InProgress;
    c.answered_at = Some(at(10_400));
    let id = start_call(s, &scope, c).await;
    let done = s
        .calls()
        .finish(&scope, id, call_end(CallStatus::Completed, 12_400))
        .await
        .unwrap();
    assert_eq!(done.duration_ms, Some(2_000));
}

async fn call_state_rules(ctx: Ctx) {
    let s = &ctx.store;
    let (_, scope) = tenant(s, "Acme").await;
    let mut bad = new_call(None, Direction::Inbound, 0);
    bad.status = CallStatus::Completed;
    assert!(matches!(
        s.calls().start(&scope, bad).await,
        Err(StoreError::InvalidInput(_))
    ));

    let id = start_call(s, &scope, new_call(None, Direction::Inbound, 0)).await;
    assert!(matches!(
        s.calls()
            .finish(&scope, id, call_end(CallStatus::InProgress, 1))
            .await,
        Err(StoreError::InvalidInput(_))
    ));
    s.calls()
        .finish(&scope, id, call_end(CallStatus::NoAnswer, 30_000))
        .await
        .unwrap();
    let err = s
        .calls()
        .finish(&scope, id, call_end(CallStatus::Completed, 40_000))
        .await
        .unwrap_err();
    assert_eq!(conflict(err), "call.status");
    let err = s.calls().answer(&scope, id, at(50_000)).await.unwrap_err();
    assert_eq!(conflict(err), "call.status");
    let call = s.calls().get(&scope, id).await.unwrap().unwrap();
    assert_eq!(
        (call.status, call.ended_at),
        (CallStatus::NoAnswer, Some(at(30_000))),
        "unchanged"
    );

    let ghost = CallId::generate();
    assert!(matches!(
        s.calls().answer(&scope, ghost, at(1)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.calls()
            .finish(&scope, ghost, call_end(CallStatus::Failed, 1))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.calls()
            .start(
                &scope,
                new_call(Some(AgentId::generate()), Direction::Inbound, 0)
            )
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn call_filters_and_pagination(ctx: Ctx) {
    let s = &ctx.store;
    let (_, scope) = tenant(s, "Acme").await;
    let a1 = agent(s, &scope, "One").await;
    let a2 = agent(s, &scope, "Two").await;
    // 30 calls, one per second: agent alternates, every third outbound,
    // calls 0..10 completed, 10..20 failed, 20..30 still ringing.
    let mut ids = Vec::new();
    for i in 0..30_i64 {
        let agent = if i % 2 == 0 { a1.id } else { a2.id };
        let dir = if i % 3 == 0 {
            Direction::Outbound
        } else {
            Direction::Inbound
        };
        let id = start_call(s, &scope, new_call(Some(agent), dir, i * 1_000)).await;
        if i < 10 {
            s.calls()
                .finish(&scope, id, call_end(CallStatus::Completed, i * 1_000 + 500))
                .await
                .unwrap();
        } else if i < 20 {
            s.calls()
                .finish(&scope, id, call_end(CallStatus::Failed, i * 1_000 + 500))
                .await
                .unwrap();
        }
        ids.push(id);
    }
    let calls = s.calls();
    let all = calls
        .list(&scope, &CallFilter::default(), Page::new(1, 100).unwrap())
        .await
        .unwrap();
    assert_eq!((all.total, all.items.len()), (30, 30));
    let order: Vec<_> = all.items.iter().map(|c| c.id).collect();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(order, newest_first, "newest attempt first");

    // One filter at a time: how many of the 30 calls match.
    let status = |status| CallFilter {
        status: Some(status),
        ..Default::default()
    };
    let direction = |direction| CallFilter {
        direction: Some(direction),
        ..Default::default()
    };
    let by_agent = |agent| CallFilter {
        agent_id: Some(agent),
        ..Default::default()
    };
    let window = |from, until| CallFilter {
        from,
        until,
        ..Default::default()
    };
    let expected = [
        (status(CallStatus::Completed), 10),
        (status(CallStatus::Ringing), 10),
        (status(CallStatus::Busy), 0),
        (direction(Direction::Outbound), 10),
        (direction(Direction::Inbound), 20),
        (by_agent(a1.id), 15),
        (by_agent(AgentId::generate()), 0),
        // [5 s, 12 s): calls 5..=11.
        (window(Some(at(5_000)), Some(at(12_000))), 7),
        (window(Some(at(29_000)), None), 1),
        (window(None, Some(at(0))), 0),
    ];
    for (filter, want) in expected {
        let got = calls.list(&scope, &filter, Page::default()).await.unwrap();
        assert_eq!(got.total, want, "{filter:?}");
    }
    // Combined: failed, outbound, agent one, in [10 s, 20 s): i in {12, 18}.
    let combined = CallFilter {
        status: Some(CallStatus::Failed),
        direction: Some(Direction::Outbound),
        agent_id: Some(a1.id),
        from: Some(at(10_000)),
        until: Some(at(20_000)),
    };
    let page = calls
        .list(&scope, &combined, Page::default())
        .await
        .unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(
        page.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        [ids[18], ids[12]]
    );

    // Pagination totals and bounds with a filter.
    let inbound = CallFilter {
        direction: Some(Direction::Inbound),
        ..Default::default()
    };
    let p1 = calls
        .list(&scope, &inbound, Page::new(1, 8).unwrap())
        .await
        .unwrap();
    let p3 = calls
        .list(&scope, &inbound, Page::new(3, 8).unwrap())
        .await
        .unwrap();
    let p4 = calls
        .list(&scope, &inbound, Page::new(4, 8).unwrap())
        .await
        .unwrap();
    assert_eq!((p1.total, p1.items.len(), p1.total_pages()), (20, 8, 3));
    assert_eq!((p3.total, p3.items.len()), (20, 4));
    assert_eq!((p4.total, p4.items.len()), (20, 0));
    assert!(p1.items.iter().all(|c| c.direction == Direction::Inbound));
}

async fn live_counts(ctx: Ctx) {
    let s = &ctx.store;
    let [(_, a), (_, b)] = acme_and_globex(s).await;
    for i in 0..3 {
        start_call(s, &a, new_call(None, Direction::Inbound, i)).await;
    }
    let done = start_call(s, &a, new_call(None, Direction::Inbound, 10)).await;
    s.calls()
        .finish(&a, done, call_end(CallStatus::Failed, 20))
        .await
        .unwrap();
    let answered = start_call(s, &b, new_call(None, Direction::Inbound, 0)).await;
    s.calls().answer(&b, answered, at(5)).await.unwrap();
    assert_eq!(s.calls().live_count(&a).await.unwrap(), 3);
    assert_eq!(s.calls().live_count(&b).await.unwrap(), 1);
    assert_eq!(s.calls().live_count_all().await.unwrap(), 4);
}
