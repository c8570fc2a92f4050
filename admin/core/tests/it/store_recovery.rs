//! Crash recovery: the calls a stopped node left live are closed on its
//! next start as `failed` / `node_restart`.

use crate::support;

use parla_admin_core::domain::{CallStatus, Direction};
use parla_admin_core::store::Calls;
use support::{acme_and_globex, at, call_end, new_call, start_call, Ctx};

store_tests!(live_calls_of_every_tenant_are_closed_after_a_restart);

async fn live_calls_of_every_tenant_are_closed_after_a_restart(ctx: Ctx) {
    let s = &ctx.store;
    let [(_, acme), (_, globex)] = acme_and_globex(s).await;
    let ringing = start_call(s, &acme, new_call(None, Direction::Inbound, 0)).await;
    let answered = start_call(s, &globex, new_call(None, Direction::Outbound, 0)).await;
    s.calls()
        .answer(&globex, answered, at(1_000))
        .await
        .unwrap();
    let done = start_call(s, &acme, new_call(None, Direction::Inbound, 0)).await;
    s.calls()
        .finish(&acme, done, call_end(CallStatus::Completed, 2_000))
        .await
        .unwrap();
    let before_done = s.calls().get(&acme, done).await.unwrap().unwrap();

    let closed = s.calls().close_after_restart(at(5_000)).await.unwrap();
    assert_eq!(closed, 2);
    assert_eq!(s.calls().live_count_all().await.unwrap(), 0);

    let r = s.calls().get(&acme, ringing).await.unwrap().unwrap();
    assert_eq!(r.status, CallStatus::Failed);
    assert_eq!(r.hangup_cause.as_deref(), Some(Calls::NODE_RESTART));
    assert_eq!(Calls::NODE_RESTART, "node_restart");
    assert_eq!(r.ended_at, Some(at(5_000)));
    assert_eq!(r.duration_ms, None, "never answered");

    let a = s.calls().get(&globex, answered).await.unwrap().unwrap();
    assert_eq!(a.status, CallStatus::Failed);
    assert_eq!(a.hangup_cause.as_deref(), Some("node_restart"));
    assert_eq!(a.ended_at, Some(at(5_000)));
    assert_eq!(a.duration_ms, Some(4_000), "talk time until the restart");

    // Ended calls are untouched, and a second start finds nothing to close.
    assert_eq!(
        s.calls().get(&acme, done).await.unwrap().unwrap(),
        before_done
    );
    assert_eq!(s.calls().close_after_restart(at(9_000)).await.unwrap(), 0);
    let r2 = s.calls().get(&acme, ringing).await.unwrap().unwrap();
    assert_eq!(r2.ended_at, Some(at(5_000)));
}
