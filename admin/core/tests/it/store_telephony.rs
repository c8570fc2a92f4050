//! Voice agents, phone numbers, SIP trunks and number routing.

use crate::support;

use parla_admin_core::domain::{
    AgentId, Direction, JsonText, NumberAddress, Opaque, TenantStatus, Transport,
};
use parla_admin_core::store::{DeleteGrant, Page, SecretChange, StoreError};
use support::{
    acme_and_globex, addr, agent, agent_spec, conflict, new_call, new_number, number,
    set_tenant_status, start_call, tenant, trunk, trunk_spec, Ctx,
};

store_tests!(
    agent_crud_round_trips_every_field,
    agent_names_unique_per_tenant,
    agent_credentials_keep_set_clear,
    agent_delete_unassigns_numbers_and_detaches_calls,
    number_crud_and_assignment,
    number_address_unique_across_tenants,
    trunk_crud,
    trunk_names_unique_per_tenant,
    routing_resolves_numbers,
);

async fn agent_crud_round_trips_every_field(ctx: Ctx) {
    let s = &ctx.store;
    let (t, scope) = tenant(s, "Acme").await;
    let mut spec = agent_spec("Receptionist");
    spec.flow = Some(JsonText(serde_json::json!({
        "start": "greet",
        "nodes": [{"id": "greet", "say": "Hi ✓", "next": null}],
    })));
    spec.barge_in_enabled = false;
    spec.barge_in_min_ms = u32::MAX;
    spec.endpointing_ms = 0;
    let creds = Opaque::new("enc:v1:abcdef");
    let a = s
        .agents()
        .create(&scope, &spec, Some(&creds))
        .await
        .unwrap();
    assert_eq!(a.tenant_id, t.id);
    assert_eq!(a.name, spec.name);
    assert_eq!(a.greeting, spec.greeting);
    assert_eq!(a.system_prompt, spec.system_prompt);
    assert_eq!(a.flow, spec.flow);
    assert_eq!(a.language, "en-US");
    assert_eq!(
        (
            a.stt_provider.as_str(),
            a.llm_provider.as_str(),
            a.tts_provider.as_str()
        ),
        ("whisper", "openai", "piper")
    );
    assert_eq!(a.voice, "amy");
    assert!(!a.barge_in_enabled);
    assert_eq!(a.barge_in_min_ms, u32::MAX, "full u32 range survives");
    assert_eq!(a.endpointing_ms, 0);
    assert_eq!(a.credentials_enc.as_ref(), Some(&creds));
    assert_eq!(a.created_at, a.updated_at);

    let got = s.agents().get(&scope, a.id).await.unwrap().unwrap();
    assert_eq!(got, a);
    assert_eq!(
        s.agents().get(&scope, AgentId::generate()).await.unwrap(),
        None
    );

    let mut spec2 = agent_spec("Sales");
    spec2.barge_in_enabled = true;
    spec2.language = "de-DE".to_owned();
    let b = s.agents().create(&scope, &spec2, None).await.unwrap();
    assert!(b.barge_in_enabled);
    assert_eq!(b.flow, None);
    assert_eq!(b.credentials_enc, None);

    let list = s.agents().list(&scope, Page::default()).await.unwrap();
    assert_eq!(list.total, 2);
    let names: Vec<_> = list.items.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["Receptionist", "Sales"]);

    // Full update replaces everything editable.
    let mut spec3 = agent_spec("Front desk");
    spec3.greeting = "Welcome".to_owned();
    spec3.flow = Some(JsonText(serde_json::json!([1, 2, 3])));
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let updated = s
        .agents()
        .update(&scope, a.id, &spec3, &SecretChange::Keep)
        .await
        .unwrap();
    assert_eq!(updated.name.as_str(), "Front desk");
    assert_eq!(updated.greeting, "Welcome");
    assert_eq!(updated.flow, spec3.flow);
    assert!(updated.barge_in_enabled);
    assert_eq!(updated.barge_in_min_ms, 250);
    assert_eq!(updated.endpointing_ms, 600);
    assert_eq!(updated.created_at, a.created_at);
    assert!(updated.updated_at > a.updated_at);
    assert_eq!(
        s.agents().get(&scope, a.id).await.unwrap().unwrap(),
        updated
    );
    assert!(matches!(
        s.agents()
            .update(&scope, AgentId::generate(), &spec3, &SecretChange::Keep)
            .await,
        Err(StoreError::NotFound)
    ));

    let grant = DeleteGrant::super_admin();
    s.agents().delete(&scope, &grant, b.id).await.unwrap();
    assert_eq!(s.agents().get(&scope, b.id).await.unwrap(), None);
    assert!(matches!(
        s.agents().delete(&scope, &grant, b.id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        s.agents()
            .list(&scope, Page::default())
            .await
            .unwrap()
            .total,
        1
    );
}

async fn agent_names_unique_per_tenant(ctx: Ctx) {
    let s = &ctx.store;
    let [(_, a), (_, b)] = acme_and_globex(s).await;
    let first = agent(s, &a, "Bot").await;
    let err = s
        .agents()
        .create(&a, &agent_spec("Bot"), None)
        .await
        .unwrap_err();
    assert_eq!(conflict(err), "agent.name");
    s.agents()
        .create(&b, &agent_spec("Bot"), None)
        .await
        .expect("same name in another tenant");
    let second = agent(s, &a, "Other").await;
    let err = s
        .agents()
        .update(&a, second.id, &agent_spec("Bot"), &SecretChange::Keep)
        .await
        .unwrap_err();
    assert_eq!(conflict(err), "agent.name");
    assert_eq!(
        s.agents()
            .get(&a, second.id)
            .await
            .unwrap()
            .unwrap()
            .name
            .as_str(),
        "Other"
    );
    assert_eq!(s.agents().get(&a, first.id).await.unwrap().unwrap(), first);
}

async fn agent_credentials_keep_set_clear(ctx: Ctx) {
    let s = &ctx.store;
    let (_, scope) = tenant(s, "Acme").await;
    let spec = agent_spec("Bot");
    let a = s
        .agents()
        .create(&scope, &spec, Some(&Opaque::new("enc:1")))
        .await
        .unwrap();
    let kept = s
        .agents()
        .update(&scope, a.id, &spec, &SecretChange::Keep)
        .await
        .unwrap();
    assert_eq!(
        kept.credentials_enc.as_ref().map(Opaque::expose),
        Some("enc:1")
    );
    let set = s
        .agents()
        .update(
            &scope,
            a.id,
            &spec,
            &SecretChange::Set(Opaque::new("enc:2")),
        )
        .await
        .unwrap();
    assert_eq!(
        set.credentials_enc.as_ref().map(Opaque::expose),
        Some("enc:2")
    );
    let cleared = s
        .agents()
        .update(&scope, a.id, &spec, &SecretChange::Clear)
        .await
        .unwrap();
    assert_eq!(cleared.credentials_enc, None);
    let kept = s
        .agents()
        .update(&scope, a.id, &spec, &SecretChange::Keep)
        .await
        .unwrap();
    assert_eq!(kept.credentials_enc, None);
}

async fn agent_delete_unassigns_numbers_and_detaches_calls(ctx: Ctx) {
    let s = &ctx.store;
    let (_, scope) = tenant(s, "Acme").await;
    let a = agent(s, &scope, "Bot").await;
    let n = number(s, &scope, "+14155550100", Some(a.id)).await;
    let call = start_call(s, &scope, new_call(Some(a.id), Direction::Inbound, 0)).await;
    s.agents()
        .delete(&scope, &DeleteGrant::super_admin(), a.id)
        .await
        .unwrap();
    let n = s.numbers().get(&scope, n.id).await.unwrap().unwrap();
    assert_eq!(n.agent_id, None, "number stays, unassigned");
    let call = s.calls().get(&scope, call).await.unwrap().unwrap();
    assert_eq!(call.agent_id, None, "call history stays");
    assert_eq!(call.sip_call_id, "call-0@carrier");
}

async fn number_crud_and_assignment(ctx: Ctx) {
    let s = &ctx.store;
    let (t, scope) = tenant(s, "Acme").await;
    let agent = agent(s, &scope, "Bot").await;
    let e164 = number(s, &scope, "+14155550100", None).await;
    assert_eq!((e164.tenant_id, e164.agent_id), (t.id, None));
    assert!(matches!(e164.address, NumberAddress::E164(_)));
    let sip = number(s, &scope, "SIP:Support@PBX.Example.com", Some(agent.id)).await;
    assert_eq!(sip.address.as_str(), "sip:Support@pbx.example.com");
    assert!(matches!(sip.address, NumberAddress::SipUri(_)));
    assert_eq!(sip.agent_id, Some(agent.id));
    assert_eq!(s.numbers().get(&scope, sip.id).await.unwrap().unwrap(), sip);

    let list = s.numbers().list(&scope, Page::default()).await.unwrap();
    assert_eq!(list.total, 2);
    assert_eq!(list.items[0].id, e164.id, "ordered by address ('+' < 's')");

    let assigned = s
        .numbers()
        .assign_agent(&scope, e164.id, Some(agent.id))
        .await
        .unwrap();
    assert_eq!(assigned.agent_id, Some(agent.id));
    let unassigned = s
        .numbers()
        .assign_agent(&scope, e164.id, None)
        .await
        .unwrap();
    assert_eq!(unassigned.agent_id, None);
    assert!(matches!(
        s.numbers()
            .assign_agent(&scope, e164.id, Some(AgentId::generate()))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.numbers()
            .create(
                &scope,
                new_number("+14155550199", Some(AgentId::generate()))
            )
            .await,
        Err(StoreError::NotFound)
    ));

    let grant = DeleteGrant::super_admin();
    s.numbers().delete(&scope, &grant, e164.id).await.unwrap();
    assert_eq!(s.numbers().get(&scope, e164.id).await.unwrap(), None);
    assert!(matches!(
        s.numbers().delete(&scope, &grant, e164.id).await,
        Err(StoreError::NotFound)
    ));
    // Released addresses can be taken again.
    number(s, &scope, "+14155550100", None).await;
}

async fn number_address_unique_across_tenants(ctx: Ctx) {
    let s = &ctx.store;
    let [(_, a), (_, b)] = acme_and_globex(s).await;
    number(s, &a, "+14155550100", None).await;
    for scope in [&a, &b] {
        let err = s
            .numbers()
            .create(scope, new_number(" +14155550100 ", None))
            .await
            .unwrap_err();
        assert_eq!(conflict(err), "number.address");
    }
    number(s, &a, "sip:bob@example.com", None).await;
    let err = s
        .numbers()
        .create(&b, new_number("sip:bob@EXAMPLE.com", None))
        .await
        .unwrap_err();
    assert_eq!(conflict(err), "number.address", "host case is normalised");
    assert_eq!(
        s.numbers().list(&b, Page::default()).await.unwrap().total,
        0
    );
}

async fn trunk_crud(ctx: Ctx) {
    let s = &ctx.store;
    let (t, scope) = tenant(s, "Acme").await;
    let spec = trunk_spec("Carrier A");
    let pw = Opaque::new("enc:pw");
    let tr = s.trunks().create(&scope, &spec, Some(&pw)).await.unwrap();
    assert_eq!(tr.tenant_id, t.id);
    assert_eq!(tr.name, spec.name);
    assert_eq!(tr.host.as_str(), "sip.carrier.example");
    assert_eq!(tr.port, 5060);
    assert_eq!(tr.transport, Transport::Udp);
    assert_eq!(tr.auth_user.as_deref(), Some("acct-1"));
    assert_eq!(tr.auth_password_enc.as_ref(), Some(&pw));
    assert!(tr.register);
    assert_eq!(s.trunks().get(&scope, tr.id).await.unwrap().unwrap(), tr);

    let mut spec2 = trunk_spec("Carrier A");
    spec2.host = "[2001:db8::1]".parse().unwrap();
    spec2.port = 65535;
    spec2.transport = Transport::Tls;
    spec2.auth_user = None;
    spec2.register = false;
    let up = s
        .trunks()
        .update(&scope, tr.id, &spec2, &SecretChange::Keep)
        .await
        .unwrap();
    assert_eq!(up.host.as_str(), "[2001:db8::1]");
    assert_eq!(
        (up.port, up.transport, up.register),
        (65535, Transport::Tls, false)
    );
    assert_eq!(up.auth_user, None);
    assert_eq!(up.auth_password_enc.as_ref(), Some(&pw));
    assert_eq!(up.created_at, tr.created_at);
    let up = s
        .trunks()
        .update(&scope, tr.id, &spec2, &SecretChange::Clear)
        .await
        .unwrap();
    assert_eq!(up.auth_password_enc, None);
    let up = s
        .trunks()
        .update(
            &scope,
            tr.id,
            &spec2,
            &SecretChange::Set(Opaque::new("enc:new")),
        )
        .await
        .unwrap();
    assert_eq!(
        up.auth_password_enc.as_ref().map(Opaque::expose),
        Some("enc:new")
    );

    let mut bad = trunk_spec("Zero");
    bad.port = 0;
    assert!(matches!(
        s.trunks().create(&scope, &bad, None).await,
        Err(StoreError::InvalidInput(_))
    ));
    assert!(matches!(
        s.trunks()
            .update(&scope, tr.id, &bad, &SecretChange::Keep)
            .await,
        Err(StoreError::InvalidInput(_))
    ));

    trunk(s, &scope, "Backup").await;
    let list = s.trunks().list(&scope, Page::default()).await.unwrap();
    let names: Vec<_> = list.items.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["Backup", "Carrier A"]);

    let grant = DeleteGrant::super_admin();
    s.trunks().delete(&scope, &grant, tr.id).await.unwrap();
    assert_eq!(s.trunks().get(&scope, tr.id).await.unwrap(), None);
    assert!(matches!(
        s.trunks().delete(&scope, &grant, tr.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.trunks()
            .update(&scope, tr.id, &spec2, &SecretChange::Keep)
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn trunk_names_unique_per_tenant(ctx: Ctx) {
    let s = &ctx.store;
    let [(_, a), (_, b)] = acme_and_globex(s).await;
    trunk(s, &a, "Main").await;
    let err = s
        .trunks()
        .create(&a, &trunk_spec("Main"), None)
        .await
        .unwrap_err();
    assert_eq!(conflict(err), "trunk.name");
    s.trunks()
        .create(&b, &trunk_spec("Main"), None)
        .await
        .expect("other tenant may reuse");
    let other = trunk(s, &a, "Spare").await;
    let err = s
        .trunks()
        .update(&a, other.id, &trunk_spec("Main"), &SecretChange::Keep)
        .await
        .unwrap_err();
    assert_eq!(conflict(err), "trunk.name");
}

async fn routing_resolves_numbers(ctx: Ctx) {
    let s = &ctx.store;
    let [(acme, a), (globex, b)] = acme_and_globex(s).await;
    let bot = s
        .agents()
        .create(&a, &agent_spec("Bot"), Some(&Opaque::new("enc")))
        .await
        .unwrap();
    number(s, &a, "+14155550100", Some(bot.id)).await;
    let bare = number(s, &b, "sip:desk@globex.example", None).await;

    let route = s
        .routing()
        .resolve_number(&addr("+14155550100"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(route.scope.tenant(), acme.id);
    assert_eq!(route.tenant_status, TenantStatus::Active);
    assert_eq!(route.number.agent_id, Some(bot.id));
    assert_eq!(
        route.agent.as_ref(),
        Some(&bot),
        "full agent config for the engine"
    );

    let route = s
        .routing()
        .resolve_number(&addr("sip:desk@GLOBEX.example"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(route.scope.tenant(), globex.id);
    assert_eq!(route.number, bare);
    assert_eq!(route.agent, None);

    assert!(s
        .routing()
        .resolve_number(&addr("+14155550101"))
        .await
        .unwrap()
        .is_none());
    assert!(s
        .routing()
        .resolve_number(&addr("sip:desk@acme.example"))
        .await
        .unwrap()
        .is_none());

    // The engine learns a tenant is suspended and can refuse the call.
    set_tenant_status(s, acme.id, TenantStatus::Suspended).await;
    let route = s
        .routing()
        .resolve_number(&addr("+14155550100"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(route.tenant_status, TenantStatus::Suspended);

    // The returned scope works for follow-up scoped calls.
    let agent = s.agents().get(&route.scope, bot.id).await.unwrap();
    assert_eq!(agent, Some(bot.clone()));
}
