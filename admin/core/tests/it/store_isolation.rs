//! Tenant isolation: every tenant-scoped store function, called with tenant
//! B's scope (or a scope of a tenant that does not exist) on tenant A's ids,
//! finds nothing and changes nothing of A.
//!
//! The list of scoped functions is not written by hand: it is read from the
//! store's sources (`admin/core/src/store/**/*.rs`). Every `pub async fn` taking
//! a `TenantScope` must be called by the walk below for both foreign
//! scopes, and every other `pub async fn` must be listed in [`UNSCOPED`]
//! with the reason it may ignore tenants. A new store function therefore
//! fails this test until it is walked or justified.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use parla_admin_core::domain::{
    CallStatus, Direction, JsonText, Speaker, TenantRole, TranscriptTurn,
};
use parla_admin_core::store::{
    ApiKey, AuditEntry, AuditFilter, CallFilter, CallRecord, DeleteGrant, Page, PhoneNumber,
    SecretChange, SipTrunk, Store, StoreError, TenantMember, TenantScope, VoiceAgent,
};
use support::{
    acme_and_globex, agent, agent_spec, at, call_end, ghost_scope, new_api_key, new_call,
    new_number, populate, trunk, trunk_spec, Ctx,
};

store_tests!(foreign_scope_sees_and_changes_nothing);

/// The store's `pub async fn`s that take no [`TenantScope`], as
/// `module::function`, each with why it may.
const UNSCOPED: &[(&str, &str)] = &[
    ("api_keys::find_by_prefix", "bearer authentication: global lookup, the caller verifies the hash, then scopes to the key's tenant"),
    ("audit::record", "insert only; the entry names its tenant and is written by the service for the actor's scope"),
    ("audit::list_all", "super admin audit view"),
    ("calls::live_count_all", "super admin dashboard: a count, no rows"),
    ("calls::close_after_restart", "start-up: closes every live call the stopped node left (one node per database)"),
    ("memberships::grant_super_admin", "global role, super admin only"),
    ("memberships::revoke_super_admin", "global role, super admin only"),
    ("memberships::roles_of", "login: the tenants a user may pick"),
    ("routing::resolve_number", "SIP ingress: the dialled number decides the tenant"),
    ("sessions::create", "login sessions are global (a session picks its tenant)"),
    ("sessions::get", "login sessions are global, keyed by the hash of the cookie token"),
    ("sessions::touch", "login sessions are global"),
    ("sessions::switch_tenant", "login sessions are global; the caller checks the membership first"),
    ("sessions::delete", "login sessions are global"),
    ("sessions::delete_for_user", "login sessions are global"),
    ("sessions::delete_for_user_except", "login sessions are global"),
    ("sessions::delete_expired", "housekeeping over every session"),
    ("tenants::create", "super admin: tenants themselves"),
    ("tenants::get", "tenants themselves, by id"),
    ("tenants::get_by_slug", "tenants themselves, by slug"),
    ("tenants::list", "super admin: tenants themselves"),
    ("tenants::update", "super admin: tenants themselves"),
    ("tenants::delete", "super admin: tenants themselves"),
    ("users::create", "users are global (one login, many tenants)"),
    ("users::get", "users are global"),
    ("users::find_by_email", "users are global (login)"),
    ("users::list", "users are global (super admin)"),
    ("users::set_password_hash", "users are global (own account)"),
    ("users::set_totp", "users are global (own account)"),
    ("users::replace_recovery_codes", "users are global (own account)"),
    ("users::set_status", "users are global (super admin)"),
    ("users::delete", "users are global (super admin)"),
    ("store::super_admin_count", "global count of super admins (bootstrap)"),
    ("store::connect", "opens the store"),
    ("store::open_data_dir", "opens the store"),
    ("store::close", "closes the store"),
    ("store::transaction", "opens a transaction; its repositories are the scoped ones"),
    ("store::commit", "transaction control"),
    ("store::rollback", "transaction control"),
];

/// Every `pub async fn` of the store's sources, as `module::function` →
/// whether its parameters include a `TenantScope`. `module` is the file's
/// path under `src/store` without `.rs` (`mod.rs` names its directory; the
/// top one is `store`).
fn store_functions() -> BTreeMap<String, bool> {
    fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read src/store") {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rs_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
    let mut files = Vec::new();
    rs_files(&root, &mut files);
    assert!(files.len() >= 10, "store sources not found under {root:?}");
    let mut found = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&root).unwrap().with_extension("");
        let rel = rel.to_string_lossy().replace('\\', "/");
        let module = match rel.strip_suffix("mod") {
            Some("") => "store".to_owned(),
            Some(dir) => dir.trim_end_matches('/').to_owned(),
            None => rel,
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for (at, _) in text.match_indices("pub async fn ") {
            let rest = &text[at + "pub async fn ".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let open = rest.find('(').expect("parameter list");
            let mut depth = 0;
            let close = rest[open..]
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map(|(i, _)| open + i)
                .expect("closed parameter list");
            let scoped = rest[open..close].contains("TenantScope");
            found.insert(format!("{module}::{name}"), scoped);
        }
    }
    found
}

#[test]
fn every_store_function_is_walked_or_justified() {
    let found = store_functions();
    let listed: BTreeMap<&str, &str> = UNSCOPED.iter().copied().collect();
    let mut problems = Vec::new();
    for (name, scoped) in &found {
        match (scoped, listed.contains_key(name.as_str())) {
            (false, false) => problems.push(format!(
                "{name} takes no TenantScope: scope it, or list it in UNSCOPED with a reason"
            )),
            (true, true) => problems.push(format!(
                "{name} is tenant-scoped: remove it from UNSCOPED (the walk must call it)"
            )),
            _ => {}
        }
    }
    for name in listed.keys() {
        if !found.contains_key(*name) {
            problems.push(format!("UNSCOPED lists {name}, which no longer exists"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Which store functions the walk called, under which scope label.
struct Walk {
    label: &'static str,
    hits: BTreeSet<(&'static str, String)>,
}

impl Walk {
    fn hit(&mut self, repo: &str, function: &str) {
        self.hits
            .insert((self.label, format!("{repo}::{function}")));
    }

    /// Panics unless every scoped function of the sources was called under
    /// each of `labels`.
    fn assert_complete(&self, labels: &[&'static str]) {
        let missing: Vec<String> = store_functions()
            .into_iter()
            .filter(|(_, scoped)| *scoped)
            .flat_map(|(name, _)| labels.iter().map(move |l| (*l, name.clone())))
            .filter(|key| !self.hits.contains(key))
            .map(|(label, name)| format!("{label}: {name}"))
            .collect();
        assert!(
            missing.is_empty(),
            "scoped store functions the isolation walk never calls:\n{}",
            missing.join("\n")
        );
    }
}

/// `s.<repo>().<function>(args).await`, recorded in the walk: the name
/// checked for coverage is the one actually called.
macro_rules! call {
    ($w:expr, $s:expr, $repo:ident . $f:ident ( $($arg:expr),* $(,)? )) => {{
        $w.hit(stringify!($repo), stringify!($f));
        $s.$repo().$f($($arg),*).await
    }};
}

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

async fn snapshot(w: &mut Walk, s: &Store, scope: &TenantScope) -> Snapshot {
    let p = Page::new(1, 100).unwrap();
    let (calls, audit) = (CallFilter::default(), AuditFilter::default());
    Snapshot {
        members: call!(w, s, memberships.list(scope, p)).unwrap().items,
        agents: call!(w, s, agents.list(scope, p)).unwrap().items,
        numbers: call!(w, s, numbers.list(scope, p)).unwrap().items,
        trunks: call!(w, s, trunks.list(scope, p)).unwrap().items,
        keys: call!(w, s, api_keys.list(scope, p)).unwrap().items,
        calls: call!(w, s, calls.list(scope, &calls, p)).unwrap().items,
        audit: call!(w, s, audit.list(scope, &audit, p)).unwrap().items,
        live: call!(w, s, calls.live_count(scope)).unwrap(),
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
    // Names only A uses: per-tenant uniqueness must not reach across.
    agent(s, &scope_a, "Acme only").await;
    trunk(s, &scope_a, "Acme only").await;
    let mut w = Walk {
        label: "own",
        hits: BTreeSet::new(),
    };
    let before_a = snapshot(&mut w, s, &scope_a).await;
    let before_b = snapshot(&mut w, s, &scope_b).await;
    assert_eq!(before_a.agents.len(), 2);
    assert_eq!(before_a.live, 1);
    let grant = DeleteGrant::super_admin();
    let options = JsonText(serde_json::json!({ "record": true }));
    let turn = TranscriptTurn {
        speaker: Speaker::Caller,
        text: "hijacked".to_owned(),
        start_ms: 0,
        end_ms: 10,
        interrupted: false,
    };
    const LABELS: [&str; 2] = ["tenant B", "missing tenant"];

    for (label, foreign) in LABELS.into_iter().zip([scope_b.clone(), ghost_scope()]) {
        w.label = label;
        let f = &foreign;
        let is_b = label == "tenant B";
        let ctx_msg = |what: &str| format!("{label}: {what}");

        // Lists show only the scope's own rows.
        let seen = snapshot(&mut w, s, f).await;
        if is_b {
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
        let role = call!(w, s, memberships.role_in(f, a.user)).unwrap();
        assert_eq!(role, None, "{}", ctx_msg("role_in"));
        let member = call!(w, s, memberships.member(f, a.user)).unwrap();
        assert_eq!(member, None, "{}", ctx_msg("member"));
        let admin = call!(w, s, memberships.first_active_admin(f)).unwrap();
        let expected = is_b.then_some(b.user);
        assert_eq!(
            admin.map(|m| m.user_id),
            expected,
            "{}",
            ctx_msg("first_active_admin is the scope's own admin")
        );
        not_found(
            &ctx_msg("set_role"),
            call!(w, s, memberships.set_role(f, a.user, TenantRole::Agent)),
        );
        not_found(
            &ctx_msg("remove member"),
            call!(w, s, memberships.remove(f, &grant, a.user)),
        );
        // Adding A's user to B is B's business (users are global); it
        // leaves A's membership alone. A missing tenant cannot gain one.
        let added = call!(w, s, memberships.add(f, a.user, TenantRole::Agent));
        if is_b {
            added.unwrap();
            s.memberships().remove(f, &grant, a.user).await.unwrap();
        } else {
            not_found(&ctx_msg("add member"), added);
        }

        // Agents.
        let got = call!(w, s, agents.get(f, a.agent)).unwrap();
        assert_eq!(got, None, "{}", ctx_msg("agent get"));
        not_found(
            &ctx_msg("agent update"),
            call!(
                w,
                s,
                agents.update(f, a.agent, &agent_spec("Hijack"), &SecretChange::Clear)
            ),
        );
        not_found(
            &ctx_msg("agent engine options"),
            call!(w, s, agents.set_engine_options(f, a.agent, Some(&options))),
        );
        not_found(
            &ctx_msg("agent delete"),
            call!(w, s, agents.delete(f, &grant, a.agent)),
        );
        let created = call!(w, s, agents.create(f, &agent_spec("Acme only"), None));
        if is_b {
            let created = created.expect("B may use a name only A uses");
            assert_eq!(created.tenant_id, f.tenant());
            s.agents().delete(f, &grant, created.id).await.unwrap();
        } else {
            not_found(&ctx_msg("agent create"), created);
        }

        // Numbers, including pointing a number at another tenant's agent.
        let got = call!(w, s, numbers.get(f, a.number)).unwrap();
        assert_eq!(got, None, "{}", ctx_msg("number get"));
        not_found(
            &ctx_msg("number assign"),
            call!(w, s, numbers.assign_agent(f, a.number, None)),
        );
        not_found(
            &ctx_msg("number delete"),
            call!(w, s, numbers.delete(f, &grant, a.number)),
        );
        not_found(
            &ctx_msg("number create with foreign agent"),
            call!(
                w,
                s,
                numbers.create(f, new_number("+14155550999", Some(a.agent)))
            ),
        );
        if is_b {
            not_found(
                &ctx_msg("own number → foreign agent"),
                call!(w, s, numbers.assign_agent(f, b.number, Some(a.agent))),
            );
        }

        // Trunks.
        let got = call!(w, s, trunks.get(f, a.trunk)).unwrap();
        assert_eq!(got, None, "{}", ctx_msg("trunk get"));
        not_found(
            &ctx_msg("trunk update"),
            call!(
                w,
                s,
                trunks.update(f, a.trunk, &trunk_spec("Hijack"), &SecretChange::Clear)
            ),
        );
        not_found(
            &ctx_msg("trunk delete"),
            call!(w, s, trunks.delete(f, &grant, a.trunk)),
        );
        let created = call!(w, s, trunks.create(f, &trunk_spec("Acme only"), None));
        if is_b {
            let created = created.expect("B may use a name only A uses");
            assert_eq!(created.tenant_id, f.tenant());
            s.trunks().delete(f, &grant, created.id).await.unwrap();
        } else {
            not_found(&ctx_msg("trunk create"), created);
        }

        // API keys.
        let got = call!(w, s, api_keys.get(f, a.key)).unwrap();
        assert_eq!(got, None, "{}", ctx_msg("key get"));
        not_found(
            &ctx_msg("key touch"),
            call!(w, s, api_keys.touch(f, a.key, at(9))),
        );
        not_found(
            &ctx_msg("key revoke"),
            call!(w, s, api_keys.revoke(f, a.key, at(9))),
        );
        not_found(
            &ctx_msg("key delete"),
            call!(w, s, api_keys.delete(f, &grant, a.key)),
        );
        // A's prefix is taken for everyone; a missing tenant gets no key.
        let prefix = if is_b { "pk_acme" } else { "pk_ghost" };
        let created = call!(w, s, api_keys.create(f, new_api_key("x", prefix, b.user)));
        if is_b {
            match created {
                Err(StoreError::Conflict { .. }) => {}
                other => panic!("{label}: key with A's prefix: expected Conflict, got {other:?}"),
            }
        } else {
            not_found(&ctx_msg("key create"), created);
        }

        // Calls.
        let got = call!(w, s, calls.get(f, a.call)).unwrap();
        assert_eq!(got, None, "{}", ctx_msg("call get"));
        not_found(
            &ctx_msg("call answer"),
            call!(w, s, calls.answer(f, a.call, at(9))),
        );
        not_found(
            &ctx_msg("call dialing"),
            call!(w, s, calls.dialing(f, a.call, "foreign@call-id")),
        );
        not_found(
            &ctx_msg("call ringing"),
            call!(w, s, calls.ringing(f, a.call)),
        );
        not_found(
            &ctx_msg("call finish"),
            call!(
                w,
                s,
                calls.finish(f, a.call, call_end(CallStatus::Failed, 9))
            ),
        );
        let live = call!(
            w,
            s,
            calls.update_live(f, a.call, vec![turn.clone()], vec![])
        );
        assert!(!live.unwrap(), "{}", ctx_msg("update_live on A's call"));
        not_found(
            &ctx_msg("call start with foreign agent"),
            call!(
                w,
                s,
                calls.start(f, new_call(Some(a.agent), Direction::Outbound, 9))
            ),
        );
        // Reusing A's call id must not take the row over.
        let reused = call!(
            w,
            s,
            calls.start_with_id(f, a.call, new_call(None, Direction::Inbound, 9))
        );
        assert!(
            reused.is_err(),
            "{}: start_with_id with A's call id: {reused:?}",
            label
        );
        let filtered = CallFilter {
            agent_id: Some(a.agent),
            ..Default::default()
        };
        let page = Page::default();
        let total = call!(w, s, calls.list(f, &filtered, page)).unwrap().total;
        assert_eq!(total, 0, "{}", ctx_msg("calls filtered by foreign agent"));
    }

    // Every scoped function of the sources was called with both scopes.
    w.assert_complete(&LABELS);
    // Nothing of A changed, and B only has what it created.
    w.label = "own";
    assert_eq!(
        snapshot(&mut w, s, &scope_a).await,
        before_a,
        "tenant A unchanged"
    );
    assert_eq!(
        snapshot(&mut w, s, &scope_b).await,
        before_b,
        "tenant B unchanged"
    );
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
