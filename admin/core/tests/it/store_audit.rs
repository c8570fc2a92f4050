//! Audit log: record, scoped and global listing, filters.

use crate::support;

use parla_admin_core::store::{AuditFilter, NewAuditEntry, Page};
use support::{acme_and_globex, at, audit_entry, tenant, user, Ctx};

store_tests!(
    audit_record_round_trip,
    audit_listing_scopes_filters_and_pages
);

async fn audit_record_round_trip(ctx: Ctx) {
    let s = &ctx.store;
    let (t, scope) = tenant(s, "Acme").await;
    let alice = user(s, "alice@example.com").await;
    let recorded = s
        .audit()
        .record(NewAuditEntry {
            actor_user_id: Some(alice.id),
            actor_label: "alice@example.com".to_owned(),
            tenant_id: Some(t.id),
            action: "agent.update".to_owned(),
            target: "agent:0190".to_owned(),
            before: Some(serde_json::json!({"name": "Bot", "barge_in": true})),
            after: Some(
                serde_json::json!({"name": "Bot 2", "barge_in": false, "tags": ["a", "é"]}),
            ),
            ip: Some("203.0.113.7".to_owned()),
            at: at(5),
        })
        .await
        .unwrap();
    assert_eq!(recorded.actor_user_id, Some(alice.id));
    assert_eq!(
        recorded.before.as_deref(),
        Some(&serde_json::json!({"name": "Bot", "barge_in": true}))
    );
    assert_eq!(recorded.after.as_ref().unwrap()["tags"][1], "é");
    assert_eq!(recorded.ip.as_deref(), Some("203.0.113.7"));
    assert_eq!(recorded.at, at(5));

    // A failed login of an unknown user: no actor id, no tenant.
    let failed = s
        .audit()
        .record(NewAuditEntry {
            actor_user_id: None,
            actor_label: "mallory@example.com".to_owned(),
            tenant_id: None,
            action: "login.failed".to_owned(),
            target: "mallory@example.com".to_owned(),
            before: None,
            after: None,
            ip: Some("198.51.100.1".to_owned()),
            at: at(6),
        })
        .await
        .unwrap();
    assert_eq!((failed.actor_user_id, failed.tenant_id), (None, None));

    let listed = s
        .audit()
        .list(&scope, &AuditFilter::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(listed.items, std::slice::from_ref(&recorded));
    let all = s
        .audit()
        .list_all(&AuditFilter::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(
        all.items,
        [failed, recorded],
        "newest first, global entries included"
    );
}

async fn audit_listing_scopes_filters_and_pages(ctx: Ctx) {
    let s = &ctx.store;
    let [(a, scope_a), (b, scope_b)] = acme_and_globex(s).await;
    let alice = user(s, "alice@example.com").await;
    let bob = user(s, "bob@example.com").await;
    let audit = s.audit();
    // Tenant A: 12 entries; B: 3; global: 2.
    for i in 0..12 {
        let action = if i % 3 == 0 {
            "agent.create"
        } else if i % 3 == 1 {
            "agent.update"
        } else {
            "number.assign"
        };
        let actor = if i % 2 == 0 { alice.id } else { bob.id };
        audit
            .record(audit_entry(Some(a.id), Some(actor), action, i))
            .await
            .unwrap();
    }
    for i in 0..3 {
        audit
            .record(audit_entry(
                Some(b.id),
                Some(bob.id),
                "agent.create",
                100 + i,
            ))
            .await
            .unwrap();
    }
    audit
        .record(audit_entry(None, None, "login.failed", 200))
        .await
        .unwrap();
    audit
        .record(audit_entry(None, Some(alice.id), "login.ok", 201))
        .await
        .unwrap();
    // An action containing LIKE wildcards must not match as a pattern.
    audit
        .record(audit_entry(Some(a.id), Some(alice.id), "agent_x", 50))
        .await
        .unwrap();

    let none = AuditFilter::default();
    let la = audit
        .list(&scope_a, &none, Page::new(1, 5).unwrap())
        .await
        .unwrap();
    assert_eq!((la.total, la.items.len()), (13, 5));
    assert!(la.items.iter().all(|e| e.tenant_id == Some(a.id)));
    let times: Vec<_> = la.items.iter().map(|e| e.at).collect();
    assert_eq!(
        times,
        [at(50), at(11), at(10), at(9), at(8)],
        "newest first"
    );
    let last = audit
        .list(&scope_a, &none, Page::new(3, 5).unwrap())
        .await
        .unwrap();
    assert_eq!(last.items.len(), 3);
    let past = audit
        .list(&scope_a, &none, Page::new(4, 5).unwrap())
        .await
        .unwrap();
    assert_eq!((past.total, past.items.len()), (13, 0));

    let lb = audit.list(&scope_b, &none, Page::default()).await.unwrap();
    assert_eq!(lb.total, 3);
    assert!(lb.items.iter().all(|e| e.tenant_id == Some(b.id)));
    let all = audit.list_all(&none, Page::default()).await.unwrap();
    assert_eq!(all.total, 18);

    let action = |action: &str| AuditFilter {
        action: Some(action.to_owned()),
        ..Default::default()
    };
    let prefix = |prefix: &str| AuditFilter {
        action_prefix: Some(prefix.to_owned()),
        ..Default::default()
    };
    let actor = |actor| AuditFilter {
        actor_user_id: Some(actor),
        ..Default::default()
    };
    let combined = AuditFilter {
        action: Some("agent.update".to_owned()),
        action_prefix: Some("agent.".to_owned()),
        actor_user_id: Some(bob.id),
    };
    // (filter, matches in tenant A, matches across tenants where checked)
    let expected = [
        (action("agent.create"), 4, Some(7)),
        // agent_x is not matched by 'agent.'
        (prefix("agent."), 8, None),
        // '_' is no wildcard: only agent_x.
        (prefix("agent_"), 1, None),
        (prefix("login."), 0, Some(2)),
        (actor(alice.id), 7, Some(8)),
        // agent.update at i = 1, 4, 7, 10; bob has odd i: 1, 7.
        (combined, 2, None),
    ];
    for (filter, in_a, across) in expected {
        let listed = audit
            .list(&scope_a, &filter, Page::default())
            .await
            .unwrap();
        assert_eq!(listed.total, in_a, "{filter:?} in tenant A");
        if let Some(across) = across {
            let listed = audit.list_all(&filter, Page::default()).await.unwrap();
            assert_eq!(listed.total, across, "{filter:?} across tenants");
        }
    }
    let agent_actions = audit
        .list(&scope_a, &prefix("agent."), Page::default())
        .await
        .unwrap();
    assert!(agent_actions
        .items
        .iter()
        .all(|e| e.action.starts_with("agent.")));
}
