//! One table of inputs, driven through the JSON API and through the web
//! panel: both must accept the same inputs and refuse the same ones, on the
//! same field (issue 10: the two used to disagree, e.g. a 100 000-character
//! system prompt or endpointing 0 passed the API and failed the panel).
//! Covers agents (engine options included), numbers, trunks, users and
//! tenants, on both backends.

use parla_admin_web::panel::PanelOptions;
use reqwest::StatusCode;
use serde_json::{json, Map, Value};

use crate::api_support::session_token;
use crate::panel_app::{spawn, Client, ROOT_EMAIL, ROOT_PASSWORD};
use crate::support::{tenant, Ctx};

store_tests!(api_and_panel_accept_and_refuse_the_same_inputs);

/// What both channels must answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Accept,
    /// Refused, with an error on this (form) field.
    Reject(&'static str),
}

/// One input: where to send it and its fields (`#` in a text value is
/// replaced by `1` for the API and `2` for the panel, so that accepted
/// inputs do not clash with each other).
struct Case {
    what: &'static str,
    api_path: String,
    panel_path: String,
    fields: Vec<(&'static str, Value)>,
    expect: Expect,
}

/// `value` for channel `n` (`#` → `n` in strings).
fn numbered(value: &Value, n: &str) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace('#', n)),
        other => other.clone(),
    }
}

/// The API body: the fields as JSON, the engine options nested.
fn api_body(fields: &[(&str, Value)]) -> Value {
    let mut body = Map::new();
    let mut options = Map::new();
    for (k, v) in fields {
        let v = numbered(v, "1");
        match *k {
            "record" | "max_call_secs" => {
                options.insert((*k).to_owned(), v);
            }
            _ => {
                body.insert((*k).to_owned(), v);
            }
        }
    }
    if !options.is_empty() {
        body.insert("engine_options".to_owned(), Value::Object(options));
    }
    Value::Object(body)
}

/// The panel form: every field as text (checkboxes `on` or absent, JSON
/// objects as JSON text, null as empty).
fn panel_form(fields: &[(&str, Value)]) -> Vec<(String, String)> {
    fields
        .iter()
        .filter_map(|(k, v)| {
            let text = match numbered(v, "2") {
                Value::Bool(true) => "on".to_owned(),
                Value::Bool(false) => return None,
                Value::Null => String::new(),
                Value::String(s) => s,
                other => other.to_string(),
            };
            // The one field the form names differently.
            let name = if *k == "agent_id" { "agent" } else { k };
            Some((name.to_owned(), text))
        })
        .collect()
}

/// An API error field as the form names it.
fn form_field(api_field: &str) -> String {
    let field = api_field
        .strip_prefix("engine_options.")
        .unwrap_or(api_field);
    let head = field.split(['.', '[']).next().unwrap_or(field);
    match head {
        "agent_id" => "agent".to_owned(),
        other => other.to_owned(),
    }
}

/// The fields a panel page shows an error on.
fn panel_error_fields(body: &str) -> Vec<String> {
    body.split("<div class=\"field has-error")
        .skip(1)
        .filter_map(|chunk| {
            let start = chunk.find("name=\"")? + 6;
            let end = chunk[start..].find('"')? + start;
            Some(chunk[start..end].to_owned())
        })
        .collect()
}

async fn api_answer(http: &reqwest::Client, base: &str, token: &str, case: &Case) -> Expect {
    let res = http
        .post(format!("{base}/api/v1{}", case.api_path))
        .bearer_auth(token)
        .json(&api_body(&case.fields))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    match status {
        StatusCode::CREATED => Expect::Accept,
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::CONFLICT => {
            let fields: Vec<String> = body["error"]["fields"]
                .as_object()
                .map(|m| m.keys().map(|k| form_field(k)).collect())
                .unwrap_or_default();
            assert_eq!(fields.len(), 1, "{}: API fields {body}", case.what);
            Expect::Reject(leak(&fields[0]))
        }
        other => panic!("{}: API answered {other}: {body}", case.what),
    }
}

async fn panel_answer(panel: &mut Client, csrf: &str, case: &Case) -> Expect {
    let mut form = panel_form(&case.fields);
    form.push(("csrf_token".to_owned(), csrf.to_owned()));
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let res = panel.post(&case.panel_path, &form).await;
    match res.status {
        StatusCode::SEE_OTHER | StatusCode::OK => Expect::Accept,
        StatusCode::UNPROCESSABLE_ENTITY => {
            let fields = panel_error_fields(&res.body);
            assert_eq!(fields.len(), 1, "{}: panel fields {fields:?}", case.what);
            Expect::Reject(leak(&fields[0]))
        }
        other => panic!("{}: panel answered {other}: {}", case.what, res.body),
    }
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

/// A valid agent, with `changes` applied.
fn agent(changes: &[(&'static str, Value)]) -> Vec<(&'static str, Value)> {
    let mut fields: Vec<(&'static str, Value)> = vec![
        ("name", json!("Agent #")),
        ("language", json!("en-US")),
        ("greeting", json!("Hello!")),
        ("system_prompt", json!("Be brief.")),
        ("stt_provider", json!("openai")),
        ("llm_provider", json!("flow")),
        ("tts_provider", json!("espeak")),
        ("voice", json!("")),
        ("barge_in_enabled", json!(true)),
        ("barge_in_min_ms", json!(250)),
        ("endpointing_ms", json!(500)),
        ("record", json!(false)),
        ("max_call_secs", json!(null)),
    ];
    for (k, v) in changes {
        match fields.iter_mut().find(|(f, _)| f == k) {
            Some(slot) => slot.1 = v.clone(),
            None => fields.push((k, v.clone())),
        }
    }
    fields
}

fn cases(tid: &str) -> Vec<Case> {
    use Expect::{Accept, Reject};
    let c = |what, api: String, panel: String, fields, expect| Case {
        what,
        api_path: api,
        panel_path: panel,
        fields,
        expect,
    };
    let ag = |what, changes: &[(&'static str, Value)], expect| {
        c(
            what,
            format!("/tenants/{tid}/agents"),
            format!("/panel/t/{tid}/agents"),
            agent(changes),
            expect,
        )
    };
    let long = |n: usize| json!("x".repeat(n));
    let num = |what, address: &str, agent: Value, expect| {
        c(
            what,
            format!("/tenants/{tid}/numbers"),
            format!("/panel/t/{tid}/numbers"),
            vec![("address", json!(address)), ("agent_id", agent)],
            expect,
        )
    };
    let trunk = |what, changes: &[(&'static str, Value)], expect| {
        let mut fields: Vec<(&'static str, Value)> = vec![
            ("name", json!("Carrier #")),
            ("host", json!("sip.carrier.example")),
            ("port", json!(5060)),
            ("transport", json!("udp")),
            ("auth_user", json!("acme")),
            ("register", json!(false)),
        ];
        for (k, v) in changes {
            fields.iter_mut().find(|(f, _)| f == k).unwrap().1 = v.clone();
        }
        c(
            what,
            format!("/tenants/{tid}/trunks"),
            format!("/panel/t/{tid}/trunks"),
            fields,
            expect,
        )
    };
    let user = |what, email: &str, password: &str, role: &str, expect| {
        c(
            what,
            format!("/tenants/{tid}/users"),
            format!("/panel/t/{tid}/users"),
            vec![
                ("email", json!(email)),
                ("password", json!(password)),
                ("role", json!(role)),
            ],
            expect,
        )
    };
    let ten = |what, name: &str, slug: &str, plan: &str, expect| {
        c(
            what,
            "/tenants".to_owned(),
            "/panel/tenants".to_owned(),
            vec![
                ("name", json!(name)),
                ("slug", json!(slug)),
                ("plan", json!(plan)),
            ],
            expect,
        )
    };
    vec![
        ag("agent: valid", &[], Accept),
        ag(
            "agent: prompt at the limit",
            &[("name", json!("Long #")), ("system_prompt", long(20_000))],
            Accept,
        ),
        ag(
            "agent: prompt over the limit",
            &[("system_prompt", long(20_001))],
            Reject("system_prompt"),
        ),
        ag(
            "agent: greeting over the limit",
            &[("greeting", long(20_001))],
            Reject("greeting"),
        ),
        ag(
            "agent: endpointing 0",
            &[("endpointing_ms", json!(0))],
            Reject("endpointing_ms"),
        ),
        ag(
            "agent: endpointing over a minute",
            &[("endpointing_ms", json!(60_001))],
            Reject("endpointing_ms"),
        ),
        ag(
            "agent: barge-in over 10 s",
            &[("barge_in_min_ms", json!(10_001))],
            Reject("barge_in_min_ms"),
        ),
        ag(
            "agent: bad language tag",
            &[("language", json!("en US"))],
            Reject("language"),
        ),
        ag("agent: no name", &[("name", json!(""))], Reject("name")),
        ag(
            "agent: unknown STT",
            &[("stt_provider", json!("whisper"))],
            Reject("stt_provider"),
        ),
        ag(
            "agent: operator-only credential",
            &[
                ("llm_provider", json!("openai")),
                ("credentials", json!({"llm": {"api_key_env": "HOME"}})),
            ],
            Reject("credentials"),
        ),
        ag(
            "agent: recording and a call limit",
            &[
                ("name", json!("Recorded #")),
                ("record", json!(true)),
                ("max_call_secs", json!(3600)),
            ],
            Accept,
        ),
        ag(
            "agent: call limit 0",
            &[("max_call_secs", json!(0))],
            Reject("max_call_secs"),
        ),
        ag(
            "agent: call limit over 4 h",
            &[("max_call_secs", json!(14_401))],
            Reject("max_call_secs"),
        ),
        ag(
            "agent: name taken",
            &[("name", json!("Taken"))],
            Reject("name"),
        ),
        num("number: valid", "+1415555010#", Value::Null, Accept),
        num(
            "number: not an address",
            "call me maybe",
            Value::Null,
            Reject("address"),
        ),
        num(
            "number: no such agent",
            "+1415555020#",
            json!("not-an-agent"),
            Reject("agent"),
        ),
        num(
            "number: taken",
            "+14155559999",
            Value::Null,
            Reject("address"),
        ),
        trunk("trunk: valid", &[], Accept),
        trunk("trunk: port 0", &[("port", json!(0))], Reject("port")),
        trunk(
            "trunk: port too high",
            &[("port", json!(70_000))],
            Reject("port"),
        ),
        trunk(
            "trunk: bad host",
            &[("host", json!("bad host!"))],
            Reject("host"),
        ),
        trunk(
            "trunk: unknown transport",
            &[("transport", json!("sctp"))],
            Reject("transport"),
        ),
        trunk(
            "trunk: 150-character user",
            &[("name", json!("Long user #")), ("auth_user", long(150))],
            Accept,
        ),
        trunk(
            "trunk: 300-character user",
            &[("auth_user", long(300))],
            Reject("auth_user"),
        ),
        user(
            "user: valid",
            "new#@acme.example",
            "a long enough password",
            "agent",
            Accept,
        ),
        user(
            "user: bad e-mail",
            "nope",
            "a long enough password",
            "agent",
            Reject("email"),
        ),
        user(
            "user: weak password",
            "weak#@acme.example",
            "short",
            "agent",
            Reject("password"),
        ),
        user(
            "user: unknown role",
            "role#@acme.example",
            "a long enough password",
            "owner",
            Reject("role"),
        ),
        user(
            "user: e-mail taken",
            "taken@acme.example",
            "a long enough password",
            "agent",
            Reject("email"),
        ),
        ten("tenant: valid", "Globex #", "globex-#", "", Accept),
        ten(
            "tenant: bad slug",
            "Initech #",
            "Bad Slug",
            "",
            Reject("slug"),
        ),
        ten("tenant: no name", "", "nameless-#", "", Reject("name")),
        ten(
            "tenant: slug taken",
            "Acme Two #",
            "acme",
            "",
            Reject("slug"),
        ),
    ]
}

async fn api_and_panel_accept_and_refuse_the_same_inputs(ctx: Ctx) {
    let app = spawn(&ctx, PanelOptions::default()).await;
    let (t, scope) = tenant(&ctx.store, "Acme").await;
    let tid = t.id.to_string();
    // What the "taken" cases clash with.
    let taken = crate::support::agent(&ctx.store, &scope, "Taken").await;
    let _ = taken;
    crate::support::number(&ctx.store, &scope, "+14155559999", None).await;
    crate::panel_app::member(
        &ctx.store,
        &scope,
        "taken@acme.example",
        parla_admin_core::domain::TenantRole::Agent,
    )
    .await;
    let token = session_token(&ctx.store, app.root, t.id).await;
    let http = reqwest::Client::new();
    let mut panel = app.client();
    panel.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let csrf = panel
        .page(&format!("/panel/t/{tid}/agents/new"))
        .await
        .csrf();
    let mut failures = vec![];
    for (i, mut case) in cases(&tid).into_iter().enumerate() {
        // Each agent and trunk gets its own name, so that a refused input
        // is refused for its own reason, not a name clash.
        if case.api_path.ends_with("/agents") || case.api_path.ends_with("/trunks") {
            for (k, v) in &mut case.fields {
                if let (&mut "name", Value::String(name)) = (k, &mut *v) {
                    *name = name.replace('#', &format!("{i}-#"));
                }
            }
        }
        let api = api_answer(&http, &app.base, &token, &case).await;
        let form = panel_answer(&mut panel, &csrf, &case).await;
        if api != case.expect || form != case.expect {
            failures.push(format!(
                "{}: expected {:?}, API {api:?}, panel {form:?}",
                case.what, case.expect
            ));
        }
    }
    app.stop().await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
