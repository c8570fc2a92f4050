//! Tenants, users, memberships, sessions and API keys.

use crate::support;

use parla_admin_core::domain::{
    JsonText, Opaque, Role, TenantRole, TenantStatus, UserId, UserStatus,
};
use parla_admin_core::store::{
    DeleteGrant, NewSession, NewTenant, Page, StoreError, TenantScope, TenantUpdate,
};
use support::{
    acme_and_globex, add_member, api_key, at, conflict, email, name, new_api_key, populate,
    set_tenant_status, slug, tenant, user, Ctx,
};

store_tests!(
    tenant_crud,
    tenant_unique_conflicts,
    tenant_pagination,
    tenant_delete_cascades_but_keeps_audit,
    user_crud,
    user_email_conflict_and_delete_cascade,
    memberships_roles,
    memberships_conflicts_and_removal,
    sessions_lifecycle,
    api_keys_lifecycle,
);

async fn tenant_crud(ctx: Ctx) {
    let tenants = ctx.store.tenants();
    let t = tenants
        .create(NewTenant {
            name: name("Acme Corp"),
            slug: slug("acme"),
            plan: None,
        })
        .await
        .unwrap();
    assert_eq!(t.name.as_str(), "Acme Corp");
    assert_eq!(t.status, TenantStatus::Active);
    assert_eq!(t.plan.as_str(), "free", "default plan");
    assert!(t.created_at.as_unix_ms() > 0);

    let pro = tenants
        .create(NewTenant {
            name: name("Globex"),
            slug: slug("globex"),
            plan: Some(slug("pro")),
        })
        .await
        .unwrap();
    assert_eq!(pro.plan.as_str(), "pro");

    assert_eq!(tenants.get(t.id).await.unwrap().as_ref(), Some(&t));
    assert_eq!(
        tenants.get_by_slug(&slug("acme")).await.unwrap().as_ref(),
        Some(&t)
    );
    assert_eq!(tenants.get_by_slug(&slug("nope")).await.unwrap(), None);
    assert_eq!(
        tenants
            .get(parla_admin_core::domain::TenantId::generate())
            .await
            .unwrap(),
        None
    );

    // Partial update: only the given fields change.
    let updated = set_tenant_status(&ctx.store, t.id, TenantStatus::Suspended).await;
    assert_eq!(updated.status, TenantStatus::Suspended);
    assert_eq!(updated.name, t.name);
    assert_eq!(updated.plan, t.plan);
    let updated = tenants
        .update(
            t.id,
            TenantUpdate {
                name: Some(name("Acme Inc")),
                plan: Some(slug("enterprise")),
                status: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.name.as_str(), "Acme Inc");
    assert_eq!(updated.plan.as_str(), "enterprise");
    assert_eq!(updated.status, TenantStatus::Suspended);
    assert_eq!(tenants.get(t.id).await.unwrap(), Some(updated.clone()));

    let missing = parla_admin_core::domain::TenantId::generate();
    assert!(matches!(
        tenants.update(missing, TenantUpdate::default()).await,
        Err(StoreError::NotFound)
    ));

    let grant = DeleteGrant::super_admin();
    tenants.delete(&grant, t.id).await.unwrap();
    assert_eq!(tenants.get(t.id).await.unwrap(), None);
    assert!(matches!(
        tenants.delete(&grant, t.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        tenants.get(pro.id).await.unwrap().is_some(),
        "other tenant untouched"
    );
}

async fn tenant_unique_conflicts(ctx: Ctx) {
    let tenants = ctx.store.tenants();
    let [(a, _), (b, _)] = acme_and_globex(&ctx.store).await;
    let err = tenants
        .create(NewTenant {
            name: name("Acme"),
            slug: slug("acme-2"),
            plan: None,
        })
        .await
        .unwrap_err();
    assert_eq!(conflict(err), "tenant.name");
    let err = tenants
        .create(NewTenant {
            name: name("Acme 2"),
            slug: slug("acme"),
            plan: None,
        })
        .await
        .unwrap_err();
    assert_eq!(conflict(err), "tenant.slug");
    let err = tenants
        .update(
            b.id,
            TenantUpdate {
                name: Some(a.name.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(conflict(err), "tenant.name");
    assert_eq!(
        tenants.get(b.id).await.unwrap().unwrap().name,
        b.name,
        "unchanged"
    );
    assert_eq!(tenants.list(Page::default()).await.unwrap().total, 2);
}

async fn tenant_pagination(ctx: Ctx) {
    for i in 0..25 {
        tenant(&ctx.store, &format!("Tenant {i:02}")).await;
    }
    let tenants = ctx.store.tenants();
    let p1 = tenants.list(Page::new(1, 10).unwrap()).await.unwrap();
    assert_eq!(
        (p1.total, p1.page, p1.per_page, p1.items.len()),
        (25, 1, 10, 10)
    );
    assert_eq!(p1.total_pages(), 3);
    assert_eq!(p1.items[0].name.as_str(), "Tenant 00");
    assert_eq!(p1.items[9].name.as_str(), "Tenant 09");
    let p3 = tenants.list(Page::new(3, 10).unwrap()).await.unwrap();
    assert_eq!((p3.total, p3.items.len()), (25, 5));
    assert_eq!(p3.items[0].name.as_str(), "Tenant 20");
    assert_eq!(p3.items[4].name.as_str(), "Tenant 24");
    let past = tenants.list(Page::new(4, 10).unwrap()).await.unwrap();
    assert_eq!((past.total, past.items.len()), (25, 0));
    let all = tenants.list(Page::new(1, 100).unwrap()).await.unwrap();
    assert_eq!(all.items.len(), 25);
    let default = tenants.list(Page::default()).await.unwrap();
    assert_eq!(default.items.len(), 20);
}

async fn tenant_delete_cascades_but_keeps_audit(ctx: Ctx) {
    let s = &ctx.store;
    let (t, scope) = tenant(s, "Doomed").await;
    let (other, other_scope) = tenant(s, "Survivor").await;
    let doomed = populate(s, &scope, "doomed", "+14155550100").await;
    add_member(s, &other_scope, doomed.user, TenantRole::Agent).await;

    s.tenants()
        .delete(&DeleteGrant::super_admin(), t.id)
        .await
        .unwrap();

    assert_eq!(s.agents().get(&scope, doomed.agent).await.unwrap(), None);
    assert_eq!(s.numbers().get(&scope, doomed.number).await.unwrap(), None);
    assert_eq!(s.trunks().get(&scope, doomed.trunk).await.unwrap(), None);
    assert_eq!(s.api_keys().get(&scope, doomed.key).await.unwrap(), None);
    assert_eq!(
        s.api_keys().find_by_prefix("pk_doomed").await.unwrap(),
        None
    );
    assert_eq!(s.calls().get(&scope, doomed.call).await.unwrap(), None);
    let roles = s.memberships().roles_of(doomed.user).await.unwrap();
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0].tenant_id, Some(other.id));
    assert!(
        s.users().get(doomed.user).await.unwrap().is_some(),
        "users are global"
    );
    let kept = s
        .audit()
        .list(&scope, &Default::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(kept.total, 1, "audit entries outlive the tenant");
    assert!(s
        .routing()
        .resolve_number(&"+14155550100".parse().unwrap())
        .await
        .unwrap()
        .is_none());
}

async fn user_crud(ctx: Ctx) {
    let users = ctx.store.users();
    let u = users
        .create(parla_admin_core::store::NewUser {
            email: "  Alice@Example.COM ".parse().unwrap(),
            password_hash: Opaque::new("$argon2id$v=19$first"),
        })
        .await
        .unwrap();
    assert_eq!(u.email.as_str(), "alice@example.com");
    assert_eq!(u.status, UserStatus::Active);
    assert_eq!(u.totp_secret, None);
    assert_eq!(u.totp_recovery, None);
    assert_eq!(u.password_hash.expose(), "$argon2id$v=19$first");

    let by_email = users
        .find_by_email(&email("ALICE@example.com"))
        .await
        .unwrap();
    assert_eq!(by_email.as_ref(), Some(&u));
    assert_eq!(
        users
            .find_by_email(&email("bob@example.com"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(users.get(u.id).await.unwrap().as_ref(), Some(&u));

    let changed = users
        .set_password_hash(u.id, &Opaque::new("$argon2id$v=19$second"))
        .await
        .unwrap();
    assert_eq!(changed.password_hash.expose(), "$argon2id$v=19$second");

    let codes = JsonText(vec![Opaque::new("h1"), Opaque::new("h2")]);
    let with_totp = users
        .set_totp(u.id, Some(&Opaque::new("enc:totp")), Some(&codes))
        .await
        .unwrap();
    assert_eq!(
        with_totp.totp_secret.as_ref().map(Opaque::expose),
        Some("enc:totp")
    );
    assert_eq!(with_totp.totp_recovery.as_ref(), Some(&codes));
    let reread = users.get(u.id).await.unwrap().unwrap();
    assert_eq!(reread.totp_recovery.unwrap().0.len(), 2);
    let cleared = users.set_totp(u.id, None, None).await.unwrap();
    assert_eq!((cleared.totp_secret, cleared.totp_recovery), (None, None));

    let disabled = users.set_status(u.id, UserStatus::Disabled).await.unwrap();
    assert_eq!(disabled.status, UserStatus::Disabled);
    assert_eq!(
        users.get(u.id).await.unwrap().unwrap().status,
        UserStatus::Disabled
    );

    let ghost = UserId::generate();
    assert!(matches!(
        users.set_status(ghost, UserStatus::Active).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        users.set_password_hash(ghost, &Opaque::new("x")).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        users.set_totp(ghost, None, None).await,
        Err(StoreError::NotFound)
    ));

    user(&ctx.store, "bob@example.com").await;
    let list = users.list(Page::default()).await.unwrap();
    assert_eq!(list.total, 2);
    let emails: Vec<_> = list.items.iter().map(|u| u.email.as_str()).collect();
    assert_eq!(emails, ["alice@example.com", "bob@example.com"]);
}

async fn user_email_conflict_and_delete_cascade(ctx: Ctx) {
    let s = &ctx.store;
    let u = user(s, "alice@example.com").await;
    let err = s
        .users()
        .create(parla_admin_core::store::NewUser {
            email: email("ALICE@EXAMPLE.COM"),
            password_hash: Opaque::new("x"),
        })
        .await
        .unwrap_err();
    assert_eq!(conflict(err), "user.email");

    let (_, scope) = tenant(s, "Acme").await;
    add_member(s, &scope, u.id, TenantRole::Admin).await;
    s.memberships().grant_super_admin(u.id).await.unwrap();
    s.sessions()
        .create(NewSession {
            id: "sess-1".to_owned(),
            user_id: u.id,
            tenant_id: Some(scope.tenant()),
            masquerading_from: None,
            csrf_token: Opaque::new("csrf"),
            now: at(0),
            expires_at: at(3_600_000),
        })
        .await
        .unwrap();
    let key = api_key(s, &scope, "pk_alice", u.id).await;
    assert_eq!(key.created_by, Some(u.id));

    let grant = DeleteGrant::super_admin();
    s.users().delete(&grant, u.id).await.unwrap();
    assert_eq!(s.users().get(u.id).await.unwrap(), None);
    assert!(s.memberships().roles_of(u.id).await.unwrap().is_empty());
    assert_eq!(s.sessions().get("sess-1").await.unwrap(), None);
    let key = s.api_keys().get(&scope, key.id).await.unwrap().unwrap();
    assert_eq!(key.created_by, None, "key survives its creator");
    assert!(matches!(
        s.users().delete(&grant, u.id).await,
        Err(StoreError::NotFound)
    ));
}

async fn memberships_roles(ctx: Ctx) {
    let s = &ctx.store;
    let [(a, scope_a), (b, scope_b)] = acme_and_globex(s).await;
    let alice = user(s, "alice@example.com").await;
    let bob = user(s, "bob@example.com").await;
    let root = user(s, "root@example.com").await;

    let m = s
        .memberships()
        .add(&scope_a, alice.id, TenantRole::Admin)
        .await
        .unwrap();
    assert_eq!(
        (m.user_id, m.tenant_id, m.role),
        (alice.id, Some(a.id), Role::Admin)
    );
    add_member(s, &scope_a, bob.id, TenantRole::Agent).await;
    add_member(s, &scope_b, alice.id, TenantRole::Agent).await;
    let sa = s.memberships().grant_super_admin(root.id).await.unwrap();
    assert_eq!((sa.tenant_id, sa.role), (None, Role::SuperAdmin));
    add_member(s, &scope_b, root.id, TenantRole::Admin).await;

    let members = s
        .memberships()
        .list(&scope_a, Page::default())
        .await
        .unwrap();
    assert_eq!(members.total, 2);
    let view: Vec<_> = members
        .items
        .iter()
        .map(|m| (m.email.as_str(), m.role))
        .collect();
    assert_eq!(
        view,
        [
            ("alice@example.com", TenantRole::Admin),
            ("bob@example.com", TenantRole::Agent)
        ]
    );
    assert_eq!(members.items[0].user_status, UserStatus::Active);
    let page2 = s
        .memberships()
        .list(&scope_a, Page::new(2, 1).unwrap())
        .await
        .unwrap();
    assert_eq!((page2.total, page2.items.len()), (2, 1));
    assert_eq!(page2.items[0].user_id, bob.id);

    assert_eq!(
        s.memberships().role_in(&scope_a, alice.id).await.unwrap(),
        Some(TenantRole::Admin)
    );
    assert_eq!(
        s.memberships().role_in(&scope_b, bob.id).await.unwrap(),
        None
    );

    // Login view: super admin first, then tenant roles.
    let roots = s.memberships().roles_of(root.id).await.unwrap();
    assert_eq!(roots.len(), 2);
    assert_eq!(
        (roots[0].tenant_id, roots[0].role),
        (None, Role::SuperAdmin)
    );
    assert_eq!(
        (roots[1].tenant_id, roots[1].role),
        (Some(b.id), Role::Admin)
    );
    let alices = s.memberships().roles_of(alice.id).await.unwrap();
    let mut got: Vec<_> = alices.iter().map(|m| (m.tenant_id, m.role)).collect();
    got.sort_by_key(|(t, _)| *t);
    let mut want = vec![(Some(a.id), Role::Admin), (Some(b.id), Role::Agent)];
    want.sort_by_key(|(t, _)| *t);
    assert_eq!(got, want);

    let changed = s
        .memberships()
        .set_role(&scope_a, bob.id, TenantRole::Admin)
        .await
        .unwrap();
    assert_eq!(changed.role, Role::Admin);
    assert_eq!(
        s.memberships().role_in(&scope_a, bob.id).await.unwrap(),
        Some(TenantRole::Admin)
    );
    assert!(matches!(
        s.memberships()
            .set_role(&scope_b, bob.id, TenantRole::Admin)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(s
        .memberships()
        .roles_of(UserId::generate())
        .await
        .unwrap()
        .is_empty());
}

async fn memberships_conflicts_and_removal(ctx: Ctx) {
    let s = &ctx.store;
    let (_, scope) = tenant(s, "Acme").await;
    let alice = user(s, "alice@example.com").await;
    add_member(s, &scope, alice.id, TenantRole::Agent).await;
    let err = s
        .memberships()
        .add(&scope, alice.id, TenantRole::Admin)
        .await
        .unwrap_err();
    assert_eq!(conflict(err), "membership");
    s.memberships().grant_super_admin(alice.id).await.unwrap();
    let err = s
        .memberships()
        .grant_super_admin(alice.id)
        .await
        .unwrap_err();
    assert_eq!(
        conflict(err),
        "membership",
        "global uniqueness despite NULL tenant"
    );
    assert!(matches!(
        s.memberships().grant_super_admin(UserId::generate()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.memberships()
            .add(&scope, UserId::generate(), TenantRole::Agent)
            .await,
        Err(StoreError::NotFound)
    ));

    let grant = DeleteGrant::super_admin();
    s.memberships()
        .remove(&scope, &grant, alice.id)
        .await
        .unwrap();
    assert_eq!(
        s.memberships().role_in(&scope, alice.id).await.unwrap(),
        None
    );
    assert!(matches!(
        s.memberships().remove(&scope, &grant, alice.id).await,
        Err(StoreError::NotFound)
    ));
    let roles = s.memberships().roles_of(alice.id).await.unwrap();
    assert_eq!(roles.len(), 1, "super admin membership untouched");
    s.memberships()
        .revoke_super_admin(&grant, alice.id)
        .await
        .unwrap();
    assert!(s.memberships().roles_of(alice.id).await.unwrap().is_empty());
    assert!(matches!(
        s.memberships().revoke_super_admin(&grant, alice.id).await,
        Err(StoreError::NotFound)
    ));
}

async fn sessions_lifecycle(ctx: Ctx) {
    let s = &ctx.store;
    let [(a, _), (b, _)] = acme_and_globex(s).await;
    let alice = user(s, "alice@example.com").await;
    let root = user(s, "root@example.com").await;
    let new = |id: &str, user_id, masq, exp| NewSession {
        id: id.to_owned(),
        user_id,
        tenant_id: Some(a.id),
        masquerading_from: masq,
        csrf_token: Opaque::new(format!("csrf-{id}")),
        now: at(0),
        expires_at: at(exp),
    };
    let sess = s
        .sessions()
        .create(new("h1", alice.id, None, 1000))
        .await
        .unwrap();
    assert_eq!(sess.created_at, at(0));
    assert_eq!(sess.last_seen_at, at(0));
    assert_eq!(sess.expires_at, at(1000));
    assert_eq!(sess.csrf_token.expose(), "csrf-h1");
    assert!(!sess.is_expired(at(999)));
    assert!(sess.is_expired(at(1000)));
    assert_eq!(s.sessions().get("h1").await.unwrap().as_ref(), Some(&sess));
    assert_eq!(s.sessions().get("nope").await.unwrap(), None);

    let err = s
        .sessions()
        .create(new("h1", alice.id, None, 1000))
        .await
        .unwrap_err();
    assert_eq!(conflict(err), "session.id");
    assert!(matches!(
        s.sessions()
            .create(new("h9", UserId::generate(), None, 1000))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.sessions().create(new("", alice.id, None, 1000)).await,
        Err(StoreError::InvalidInput(_))
    ));

    s.sessions().touch("h1", at(500), at(5000)).await.unwrap();
    let touched = s.sessions().get("h1").await.unwrap().unwrap();
    assert_eq!(
        (touched.last_seen_at, touched.expires_at),
        (at(500), at(5000))
    );
    assert!(matches!(
        s.sessions().touch("nope", at(1), at(2)).await,
        Err(StoreError::NotFound)
    ));

    let switched = s.sessions().switch_tenant("h1", Some(b.id)).await.unwrap();
    assert_eq!(switched.tenant_id, Some(b.id));
    let cleared = s.sessions().switch_tenant("h1", None).await.unwrap();
    assert_eq!(cleared.tenant_id, None);
    assert!(matches!(
        s.sessions()
            .switch_tenant("h1", Some(parla_admin_core::domain::TenantId::generate()))
            .await,
        Err(StoreError::NotFound)
    ));

    // Masquerade: root acting as alice.
    let masq = s
        .sessions()
        .create(new("h2", alice.id, Some(root.id), 1000))
        .await
        .unwrap();
    assert_eq!(masq.masquerading_from, Some(root.id));
    s.sessions()
        .create(new("h3", root.id, None, 10))
        .await
        .unwrap();
    s.sessions()
        .create(new("h4", alice.id, None, 20_000))
        .await
        .unwrap();

    assert_eq!(
        s.sessions().delete_expired(at(100)).await.unwrap(),
        1,
        "only h3 expired"
    );
    assert_eq!(s.sessions().get("h3").await.unwrap(), None);

    // Ending root's sessions also ends the masquerade started by root.
    assert_eq!(s.sessions().delete_for_user(root.id).await.unwrap(), 1);
    assert_eq!(s.sessions().get("h2").await.unwrap(), None);
    assert!(s.sessions().get("h1").await.unwrap().is_some());

    assert!(s.sessions().delete("h1").await.unwrap());
    assert!(!s.sessions().delete("h1").await.unwrap());
    assert_eq!(
        s.sessions().delete_for_user(alice.id).await.unwrap(),
        1,
        "h4"
    );
}

async fn api_keys_lifecycle(ctx: Ctx) {
    let s = &ctx.store;
    let (a, scope) = tenant(s, "Acme").await;
    let alice = user(s, "alice@example.com").await;
    let keys = s.api_keys();
    let new = |label: &str, prefix: &str| new_api_key(label, prefix, alice.id);
    let k1 = keys.create(&scope, new("ci", "pk_11111111")).await.unwrap();
    assert_eq!((k1.tenant_id, k1.created_by), (a.id, Some(alice.id)));
    assert_eq!((k1.last_used_at, k1.revoked_at), (None, None));
    assert!(k1.is_active());
    let k2 = keys
        .create(&scope, new("deploy", "pk_22222222"))
        .await
        .unwrap();

    let err = keys
        .create(&scope, new("dup", "pk_11111111"))
        .await
        .unwrap_err();
    assert_eq!(conflict(err), "api_key.prefix");
    let (_, other) = tenant(s, "Globex").await;
    let err = keys
        .create(&other, new("dup", "pk_11111111"))
        .await
        .unwrap_err();
    assert_eq!(
        conflict(err),
        "api_key.prefix",
        "prefixes are globally unique"
    );
    assert!(matches!(
        keys.create(&scope, new("empty", "")).await,
        Err(StoreError::InvalidInput(_))
    ));

    let list = keys.list(&scope, Page::default()).await.unwrap();
    assert_eq!(list.total, 2);
    let ids: Vec<_> = list.items.iter().map(|k| k.id).collect();
    assert!(ids.contains(&k1.id) && ids.contains(&k2.id));
    assert!(
        list.items[0].created_at >= list.items[1].created_at,
        "newest first"
    );

    let found = keys.find_by_prefix("pk_11111111").await.unwrap().unwrap();
    assert_eq!(found, k1);
    assert_eq!(found.key_hash.expose(), "hash-of-pk_11111111");
    assert_eq!(keys.find_by_prefix("pk_nope").await.unwrap(), None);

    keys.touch(&TenantScope::new(found.tenant_id), found.id, at(42))
        .await
        .unwrap();
    assert_eq!(
        keys.get(&scope, k1.id).await.unwrap().unwrap().last_used_at,
        Some(at(42))
    );

    let revoked = keys.revoke(&scope, k1.id, at(100)).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(at(100)));
    assert!(!revoked.is_active());
    let again = keys.revoke(&scope, k1.id, at(200)).await.unwrap();
    assert_eq!(
        again.revoked_at,
        Some(at(100)),
        "first revocation time kept"
    );
    assert_eq!(
        keys.find_by_prefix("pk_11111111").await.unwrap(),
        None,
        "revoked keys never authenticate"
    );
    assert_eq!(
        keys.list(&scope, Page::default()).await.unwrap().total,
        2,
        "still listed"
    );

    let grant = DeleteGrant::super_admin();
    keys.delete(&scope, &grant, k2.id).await.unwrap();
    assert_eq!(keys.get(&scope, k2.id).await.unwrap(), None);
    assert!(matches!(
        keys.delete(&scope, &grant, k2.id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(keys.list(&scope, Page::default()).await.unwrap().total, 1);
}
