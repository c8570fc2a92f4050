//! `POST /tenants/{tid}/calls` and `DELETE /tenants/{tid}/calls/{id}`
//! (outbound calls) over real HTTP on both backends: validation (422 per
//! field, another tenant's number or agent included), 503 without an
//! engine, the record and audit entry written, the request handed to the
//! engine's `Dialer`, and cancel's states. The engine side (SIPp as the
//! callee) is tested in the root crate's `tests/it/originate.rs`; here a
//! dialer that records what it was given stands in for it.

use std::sync::{Arc, Mutex};

use crate::support;

use parla_admin_core::dialer::{CancelError, DialError, DialRequest, Dialer};
use parla_admin_core::domain::{CallId, TenantId};
use parla_admin_core::store::{AuditFilter, Page, TenantScope};
use parla_admin_web::api::AdminState;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::http::{
    assert_error, spawn_app, spawn_app_tuned, tenant, Options, ROOT_EMAIL, ROOT_PASSWORD,
};
use support::{populate, tenant as new_tenant, Ctx};

store_tests!(
    originate_validation_without_engine,
    originate_hands_the_call_to_the_engine
);

/// The callee number whose dial the fake engine refuses (tenant limit).
const REFUSED_TO: &str = "+15550009999";

/// Requests and cancels the fake engine got (one process may run several
/// tests: each looks only at its own calls).
static DIALED: Mutex<Vec<DialRequest>> = Mutex::new(Vec::new());
static CANCELED: Mutex<Vec<CallId>> = Mutex::new(Vec::new());

/// Records what it is asked; refuses calls to [`REFUSED_TO`].
struct RecordingDialer;

impl Dialer for RecordingDialer {
    fn dial(&self, request: DialRequest) -> Result<(), DialError> {
        if request.to == REFUSED_TO {
            return Err(DialError::LimitReached { limit: 1 });
        }
        DIALED.lock().unwrap().push(request);
        Ok(())
    }

    fn cancel(&self, _tenant: TenantId, id: CallId) -> Result<(), CancelError> {
        if DIALED.lock().unwrap().iter().any(|r| r.call_id == id) {
            CANCELED.lock().unwrap().push(id);
            Ok(())
        } else {
            Err(CancelError::NotDialing)
        }
    }
}

fn with_dialer(s: AdminState) -> AdminState {
    s.with_dialer(Arc::new(RecordingDialer))
}

/// The field names of a 422 body.
fn fields(body: &Value) -> Vec<String> {
    let mut f: Vec<String> = body["error"]["fields"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    f.sort();
    f
}

async fn originate_validation_without_engine(ctx: Ctx) {
    let (mut app, _) = spawn_app(&ctx).await;
    let root = app.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let root = Some(root.as_str());
    let (a, a_scope) = new_tenant(&ctx.store, "Acme").await;
    let (_b, b_scope) = new_tenant(&ctx.store, "Globex").await;
    let acme = populate(&ctx.store, &a_scope, "acme", "+14155550100").await;
    let globex = populate(&ctx.store, &b_scope, "globex", "+14155550200").await;
    let calls = tenant(&a.id.to_string(), "/calls");
    let valid = json!({
        "to": "+15551234567",
        "from_number_id": acme.number.to_string(),
        "agent_id": acme.agent.to_string(),
        "variables": { "name": "Ana" },
        "ring_timeout_secs": 30,
    });

    // A valid request on a node without an engine: 503, nothing stored.
    let (s, b) = app.post(&calls, root, valid.clone()).await;
    assert_error(s, &b, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert_eq!(b["error"]["message"], "calls cannot be placed on this node");
    let (_, page) = app.get(&format!("{calls}?direction=outbound"), root).await;
    assert_eq!(page["total"], 0, "{page}");

    // Another tenant's number and agent are "no such …" (422), like a bad
    // `to`, too many or badly named variables and an out-of-range timeout,
    // all reported together.
    let mut many = serde_json::Map::new();
    for i in 0..33 {
        many.insert(format!("v{i}"), json!("x"));
    }
    let cases = [
        (
            json!({ "to": "5551234567", "from_number_id": globex.number.to_string(),
                    "agent_id": globex.agent.to_string(), "ring_timeout_secs": 4 }),
            vec!["agent_id", "from_number_id", "ring_timeout_secs", "to"],
        ),
        (
            json!({ "to": "+15551234567", "from_number_id": acme.number.to_string(),
                    "agent_id": acme.agent.to_string(), "variables": many }),
            vec!["variables"],
        ),
        (
            json!({ "to": "+15551234567", "from_number_id": acme.number.to_string(),
                    "agent_id": acme.agent.to_string(), "variables": { "Name": "Ana" },
                    "ring_timeout_secs": 121 }),
            vec!["ring_timeout_secs", "variables"],
        ),
        (
            json!({ "to": "+15551234567", "from_number_id": acme.number.to_string(),
                    "agent_id": acme.agent.to_string(),
                    "variables": { "name": "a".repeat(257) } }),
            vec!["variables.name"],
        ),
        (
            json!({ "to": "+1555", "from_number_id": "not-an-id",
                    "agent_id": acme.agent.to_string() }),
            vec!["from_number_id", "to"],
        ),
    ];
    for (body, expected) in cases {
        let (s, b) = app.post(&calls, root, body.clone()).await;
        assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert_eq!(fields(&b), expected, "{body} → {b}");
    }
    // Limits are inclusive: 32 variables of 256 characters pass
    // validation (then 503 here, as there is no engine).
    let mut max = serde_json::Map::new();
    for i in 0..32 {
        max.insert(format!("v{i}"), json!("a".repeat(256)));
    }
    let mut body = valid.clone();
    body["variables"] = Value::Object(max);
    body["ring_timeout_secs"] = json!(120);
    let (s, b) = app.post(&calls, root, body).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");

    // A tenant without a trunk cannot place calls from its number.
    ctx.store
        .trunks()
        .delete(
            &a_scope,
            &parla_admin_core::store::DeleteGrant::super_admin(),
            acme.trunk,
        )
        .await
        .unwrap();
    let (s, b) = app.post(&calls, root, valid.clone()).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(fields(&b), ["from_number_id"], "{b}");

    // Cancel: an inbound call cannot be canceled (409); unknown ids 404.
    let (s, b) = app.delete(&format!("{calls}/{}", acme.call), root).await;
    assert_error(s, &b, StatusCode::CONFLICT, "conflict");
    let (s, b) = app.delete(&format!("{calls}/{}", globex.call), root).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    app.stop().await;
}

async fn originate_hands_the_call_to_the_engine(ctx: Ctx) {
    let (mut app, _) = spawn_app_tuned(&ctx, Options::default(), with_dialer).await;
    let root = app.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let root = Some(root.as_str());
    let (a, a_scope) = new_tenant(&ctx.store, "Acme").await;
    let acme = populate(&ctx.store, &a_scope, "acme", "+14155550100").await;
    let calls = tenant(&a.id.to_string(), "/calls");
    let body = json!({
        "to": "+15551234567",
        "from_number_id": acme.number.to_string(),
        "agent_id": acme.agent.to_string(),
        "variables": { "name": "Ana" },
        "ring_timeout_secs": 12,
    });
    let (s, call) = app.post(&calls, root, body.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{call}");
    assert_eq!(call["direction"], "outbound");
    assert_eq!(call["status"], "queued");
    assert_eq!(call["to_uri"], "+15551234567");
    assert_eq!(call["from_uri"], "+14155550100");
    assert_eq!(call["agent_id"], acme.agent.to_string());
    let id: CallId = call["id"].as_str().unwrap().parse().unwrap();

    // The engine got the call with its trunk, variables and timeout.
    let req = DIALED
        .lock()
        .unwrap()
        .iter()
        .find(|r| r.call_id == id)
        .cloned()
        .expect("the dialer was not called");
    assert_eq!(req.tenant_id, a.id);
    assert_eq!(req.agent_id, acme.agent);
    assert_eq!(req.to, "+15551234567");
    assert_eq!(req.variables.get("name").map(String::as_str), Some("Ana"));
    assert_eq!(req.ring_timeout.as_secs(), 12);
    let trunk = ctx
        .store
        .trunks()
        .get(&a_scope, acme.trunk)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(req.trunk.host, trunk.host.to_string());
    assert_eq!(req.trunk.port, trunk.port);

    // Audited.
    let log = ctx
        .store
        .audit()
        .list(
            &TenantScope::new(a.id),
            &AuditFilter {
                action: Some("call.originate".to_owned()),
                ..Default::default()
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(log.items.len(), 1);
    assert_eq!(log.items[0].target, id.to_string());

    // Canceling while queued reaches the engine.
    let (s, b) = app.delete(&format!("{calls}/{id}"), root).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    assert!(CANCELED.lock().unwrap().contains(&id));

    // The engine refusing (tenant limit) is 503 and the record is closed.
    let mut refused = body.clone();
    refused["to"] = json!(REFUSED_TO);
    let (s, b) = app.post(&calls, root, refused).await;
    assert_error(s, &b, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("limit"),
        "{b}"
    );
    let (_, page) = app.get(&format!("{calls}?status=failed"), root).await;
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["items"][0]["hangup_cause"], "call_limit");
    assert_eq!(page["items"][0]["to_uri"], REFUSED_TO);

    // A finished call cannot be canceled.
    let failed = page["items"][0]["id"].as_str().unwrap().to_owned();
    let (s, b) = app.delete(&format!("{calls}/{failed}"), root).await;
    assert_error(s, &b, StatusCode::CONFLICT, "conflict");
    app.stop().await;
}
