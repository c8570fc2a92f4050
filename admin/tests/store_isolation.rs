//! Tenant isolation: every scoped read, update, delete and list, called
//! with tenant B's scope (or a scope of a tenant that does not exist) on
//! tenant A's ids, finds nothing and changes nothing.

#[macro_use]
mod support;

use parla_admin::domain::{CallStatus, Direction, TenantRole};
use parla_admin::store::{
    ApiKey, AuditEntry, AuditFilter, CallFilter, CallRecord, DeleteGrant, Page, PhoneNumber,
    SecretChange, SipTrunk, Store, StoreError, TenantMember, TenantScope, VoiceAgent,
};
use support::{
    acme_and_globex, agent_spec, at, call_end, ghost_scope, new_call, new_number, populate,
    trunk_spec, Ctx,
};

store_tests!(foreign_scope_sees_and_changes_nothing);

/// Everything a scope can see, for before/after comparison.
#[derive(Debug, PartialEq)]
struct Snapshot {
    members: Vec<TenantMember>,
    agents: Vec<VoiceAgent>,
    numbers: Vec<PhoneNumber>,
    trunks: Vec<SipTrunk>,
    keys: Vec<ApiKey>,
    calls: Vec<CallRecord>,
    audit: Vec<AuditEntry>,
    live: u64,
}

async fn snapshot(s: &Store, scope: &TenantScope) -> Snapshot {
    let p = Page::new(1, 100).unwrap();
    Snapshot {
        members: s.memberships().list(scope, p).await.unwrap().items,
        agents: s.agents().list(scope, p).await.unwrap().items,
        numbers: s.numbers().list(scope, p).await.unwrap().items,
        trunks: s.trunks().list(scope, p).await.unwrap().items,
        keys: s.api_keys().list(scope, p).await.unwrap().items,
        calls: s
            .calls()
            .list(scope, &CallFilter::default(), p)
            .await
            .unwrap()
            .items,
        audit: s
            .audit()
            .list(scope, &AuditFilter::default(), p)
            .await
            .unwrap()
            .items,
        live: s.calls().live_count(scope).await.unwrap(),
    }
}

fn not_found<T: std::fmt::Debug>(what: &str, r: Result<T, StoreError>) {
    match r {
        Err(StoreError::NotFound) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

async fn foreign_scope_sees_and_changes_nothing(ctx: Ctx) {
    let s = &ctx.store;
    let [(_, scope_a), (_, scope_b)] = acme_and_globex(s).await;
    let a = populate(s, &scope_a, "acme", "+14155550100").await;
    let b = populate(s, &scope_b, "globex", "+14155550200").await;
    let before_a = snapshot(s, &scope_a).await;
    let before_b = snapshot(s, &scope_b).await;
    assert_eq!(before_a.agents.len(), 1);
    assert_eq!(before_a.live, 1);
    let grant = DeleteGrant::super_admin();

    for (label, foreign) in [
        ("tenant B", scope_b.clone()),
        ("missing tenant", ghost_scope()),
    ] {
        let f = &foreign;
        let ctx_msg = |what: &str| format!("{label}: {what}");

        // Lists show only the scope's own rows.
        let seen = snapshot(s, f).await;
        if label == "tenant B" {
            assert_eq!(seen, before_b, "{label}: lists show only B's rows");
        } else {
            assert_eq!(
                seen.agents.len() + seen.numbers.len() + seen.trunks.len(),
                0
            );
            assert_eq!(
                seen.keys.len() + seen.calls.len() + seen.audit.len() + seen.members.len(),
                0
            );
            assert_eq!(seen.live, 0);
        }

        // Memberships.
        assert_eq!(
            s.memberships().role_in(f, a.user).await.unwrap(),
            None,
            "{}",
            ctx_msg("role_in")
        );
        not_found(
            &ctx_msg("set_role"),
            s.memberships().set_role(f, a.user, TenantRole::Agent).await,
        );
        not_found(
            &ctx_msg("remove member"),
            s.memberships().remove(f, &grant, a.user).await,
        );

        // Agents.
        assert_eq!(
            s.agents().get(f, a.agent).await.unwrap(),
            None,
            "{}",
            ctx_msg("agent get")
        );
        not_found(
            &ctx_msg("agent update"),
            s.agents()
                .update(f, a.agent, &agent_spec("Hijack"), &SecretChange::Clear)
                .await,
        );
        not_found(
            &ctx_msg("agent delete"),
            s.agents().delete(f, &grant, a.agent).await,
        );

        // Numbers, including pointing a number at another tenant's agent.
        assert_eq!(
            s.numbers().get(f, a.number).await.unwrap(),
            None,
            "{}",
            ctx_msg("number get")
        );
        not_found(
            &ctx_msg("number assign"),
            s.numbers().assign_agent(f, a.number, None).await,
        );
        not_found(
            &ctx_msg("number delete"),
            s.numbers().delete(f, &grant, a.number).await,
        );
        not_found(
            &ctx_msg("number create with foreign agent"),
            s.numbers()
                .create(f, new_number("+14155550999", Some(a.agent)))
                .await,
        );
        if label == "tenant B" {
            not_found(
                &ctx_msg("own number → foreign agent"),
                s.numbers().assign_agent(f, b.number, Some(a.agent)).await,
            );
        }

        // Trunks.
        assert_eq!(
            s.trunks().get(f, a.trunk).await.unwrap(),
            None,
            "{}",
            ctx_msg("trunk get")
        );
        not_found(
            &ctx_msg("trunk update"),
            s.trunks()
                .update(f, a.trunk, &trunk_spec("Hijack"), &SecretChange::Clear)
                .await,
        );
        not_found(
            &ctx_msg("trunk delete"),
            s.trunks().delete(f, &grant, a.trunk).await,
        );

        // API keys.
        assert_eq!(
            s.api_keys().get(f, a.key).await.unwrap(),
            None,
            "{}",
            ctx_msg("key get")
        );
        not_found(
            &ctx_msg("key touch"),
            s.api_keys().touch(f, a.key, at(9)).await,
        );
        not_found(
            &ctx_msg("key revoke"),
            s.api_keys().revoke(f, a.key, at(9)).await,
        );
        not_found(
            &ctx_msg("key delete"),
            s.api_keys().delete(f, &grant, a.key).await,
        );

        // Calls.
        assert_eq!(
            s.calls().get(f, a.call).await.unwrap(),
            None,
            "{}",
            ctx_msg("call get")
        );
        not_found(
            &ctx_msg("call answer"),
            s.calls().answer(f, a.call, at(9)).await,
        );
        not_found(
            &ctx_msg("call finish"),
            s.calls()
                .finish(f, a.call, call_end(CallStatus::Failed, 9))
                .await,
        );
        not_found(
            &ctx_msg("call start with foreign agent"),
            s.calls()
                .start(f, new_call(Some(a.agent), Direction::Outbound, 9))
                .await,
        );
        let filtered = CallFilter {
            agent_id: Some(a.agent),
            ..Default::default()
        };
        assert_eq!(
            s.calls()
                .list(f, &filtered, Page::default())
                .await
                .unwrap()
                .total,
            0,
            "{}",
            ctx_msg("calls filtered by foreign agent")
        );
    }

    // Nothing of A changed, and B only has what it created.
    assert_eq!(snapshot(s, &scope_a).await, before_a, "tenant A unchanged");
    assert_eq!(snapshot(s, &scope_b).await, before_b, "tenant B unchanged");
    // The global prefix lookup still finds A's key, unrevoked.
    let key = s
        .api_keys()
        .find_by_prefix("pk_acme")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (key.id, key.revoked_at, key.last_used_at),
        (a.key, None, None)
    );
}
