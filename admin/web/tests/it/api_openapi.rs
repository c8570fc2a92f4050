//! The OpenAPI document of `/api/v1`: it is served without authentication,
//! documents exactly the routes that are registered, gives every operation
//! its error responses, and real responses of a running server (both
//! backends) match the documented schemas, with no undocumented fields.

use crate::api_support;
use crate::support;

use std::collections::BTreeSet;

use parla_admin_web::api::openapi::document;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use api_support::{seed, session_token, Seeded, Server};
use support::Ctx;

store_tests!(served_document_matches_real_responses);

/// `(METHOD, /api/v1/path)` of every route registered in `routes/mod.rs`
/// (read from its source: actix has no route listing).
fn registered_routes() -> BTreeSet<(String, String)> {
    let src: String = include_str!("../../src/api/routes/mod.rs")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let mut routes = BTreeSet::new();
    for (i, _) in src.match_indices(".route(\"") {
        let rest = &src[i + ".route(\"".len()..];
        let (path, rest) = rest.split_once('"').expect("route path");
        let method = rest
            .strip_prefix(",web::")
            .and_then(|r| r.split_once("()"))
            .map(|(m, _)| m.to_uppercase())
            .unwrap_or_else(|| panic!("route {path}: expected `, web::<method>()`"));
        routes.insert((method, format!("/api/v1{path}")));
    }
    routes
}

/// `(METHOD, path)` of every operation in the document.
fn documented_routes(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete", "patch"] {
            if item.get(method).is_some() {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

fn doc_json() -> Value {
    serde_json::to_value(document()).expect("document serializes")
}

#[test]
fn every_registered_route_is_documented_and_nothing_else() {
    let registered = registered_routes();
    assert!(
        registered.len() >= 20,
        "the route table parser found only {registered:?}: did routes/mod.rs change style?"
    );
    let documented = documented_routes(&doc_json());
    let missing: Vec<_> = registered.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&registered).collect();
    assert!(
        missing.is_empty(),
        "routes without #[utoipa::path] (or not listed in routes::docs()): {missing:?}"
    );
    assert!(extra.is_empty(), "documented but not registered: {extra:?}");
}

#[test]
fn every_operation_documents_its_errors_and_security() {
    let doc = doc_json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let public = [
        ("POST", "/api/v1/auth/login"),
        ("GET", "/api/v1/openapi.json"),
    ];
    for (method, path) in documented_routes(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let responses = op["responses"].as_object().unwrap();
        let at = format!("{method} {path}");
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{at}: no success response"
        );
        for status in ["429", "500"] {
            assert!(responses.contains_key(status), "{at}: no {status}");
        }
        if path.contains('{') {
            assert!(responses.contains_key("404"), "{at}: no 404");
        }
        if op.get("requestBody").is_some() {
            assert!(responses.contains_key("400"), "{at}: no 400");
            assert!(responses.contains_key("422"), "{at}: no 422");
        }
        let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        if !public.contains(&(method.as_str(), path.as_str()))
            && !path.starts_with("/api/v1/auth/login")
        {
            assert!(secured, "{at}: no security requirement");
        }
        if secured {
            assert!(responses.contains_key("401"), "{at}: no 401");
        }
        for (status, r) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                let name = r["$ref"].as_str().unwrap_or_default();
                let body = &doc["components"]["responses"][name.rsplit('/').next().unwrap()];
                assert_eq!(
                    body["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ApiError",
                    "{at} {status}: not the error shape"
                );
            }
        }
    }
    assert!(doc["components"]["responses"]["TooManyRequests"]["headers"]
        .get("Retry-After")
        .is_some());
}

// ------------------------------------------------------- schema checking

/// `schema` with `$ref`s to `#/components/schemas/…` resolved.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.strip_prefix("#/components/schemas/").expect("schema ref");
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => false,
    }
}

/// The properties (merged over `allOf`) and required names of an object
/// schema.
fn object_shape(doc: &Value, schema: &Value) -> (serde_json::Map<String, Value>, Vec<String>) {
    let schema = resolve(doc, schema);
    let mut props = schema["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut required: Vec<String> = schema["required"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        let (p, r) = object_shape(doc, part);
        props.extend(p);
        required.extend(r);
    }
    (props, required)
}

/// Appends to `errs` where `v` does not match `schema`; object fields not
/// in the schema are errors too (the document must describe every field).
fn check(doc: &Value, schema: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if let Some(alternatives) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
        let matching = alternatives
            .iter()
            .filter(|s| {
                let mut e = vec![];
                check(doc, s, v, at, &mut e);
                e.is_empty()
            })
            .count();
        if matching == 0 {
            errs.push(format!("{at}: {v} matches none of {alternatives:?}"));
        }
        return;
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !types.is_empty() && !types.iter().any(|t| type_matches(t, v)) {
        errs.push(format!("{at}: {v} is not of type {types:?}"));
        return;
    }
    if let Some(values) = schema["enum"].as_array() {
        if !values.contains(v) {
            errs.push(format!("{at}: {v} not in {values:?}"));
        }
    }
    match v {
        Value::Object(fields) if types.contains(&"object") || schema.get("allOf").is_some() => {
            let (props, required) = object_shape(doc, schema);
            for r in &required {
                if !fields.contains_key(r) {
                    errs.push(format!("{at}: required field {r} missing"));
                }
            }
            for (k, fv) in fields {
                match props.get(k) {
                    Some(s) => check(doc, s, fv, &format!("{at}.{k}"), errs),
                    None if schema.get("additionalProperties").is_some() => check(
                        doc,
                        &schema["additionalProperties"],
                        fv,
                        &format!("{at}.{k}"),
                        errs,
                    ),
                    None => errs.push(format!("{at}: undocumented field {k}")),
                }
            }
        }
        Value::Array(items) if schema.get("items").is_some() => {
            for (i, item) in items.iter().enumerate() {
                check(doc, &schema["items"], item, &format!("{at}[{i}]"), errs);
            }
        }
        _ => {}
    }
}

/// Panics unless `body` matches the documented response of
/// `method path` for `status`.
fn assert_documented(doc: &Value, method: &Method, path: &str, status: StatusCode, body: &Value) {
    let op = &doc["paths"][path][method.as_str().to_lowercase()];
    assert!(op.is_object(), "{method} {path} is not documented");
    let mut response = &op["responses"][status.as_str()];
    assert!(
        response.is_object(),
        "{method} {path}: status {status} is not documented ({body})"
    );
    if let Some(r) = response["$ref"].as_str() {
        response = &doc["components"]["responses"][r.rsplit('/').next().unwrap()];
    }
    let schema = &response["content"]["application/json"]["schema"];
    let mut errs = vec![];
    check(doc, schema, body, "body", &mut errs);
    assert!(
        errs.is_empty(),
        "{method} {path} {status}: {errs:#?}\n{body}"
    );
}

// ------------------------------------------------------------ end to end

struct Client<'a> {
    server: &'a Server,
    http: reqwest::Client,
    doc: Value,
    token: String,
}

impl Client<'_> {
    /// Sends the request for the documented `path` with `{tid}`/`{id}`
    /// substituted, checks the response against the document, and returns
    /// its status and body.
    async fn call(
        &self,
        method: Method,
        path: &str,
        ids: (&str, &str),
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let concrete = path.replace("{tid}", ids.0).replace("{id}", ids.1);
        let mut req = self
            .http
            .request(method.clone(), self.server.url(&concrete))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        let value: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{concrete}: {e}: {text}"))
        };
        if status != StatusCode::NO_CONTENT {
            let template = path.split('?').next().unwrap();
            assert_documented(&self.doc, &method, template, status, &value);
        }
        (status, value)
    }
}

async fn served_document_matches_real_responses(ctx: Ctx) {
    let Seeded {
        tenant,
        items,
        finished_call,
        api_key,
    } = seed(&ctx.store).await;
    let server = Server::start(&ctx.url, |s| s);
    let http = reqwest::Client::new();

    let res = http
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/json");
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc, doc_json(), "served document differs from document()");

    let c = Client {
        server: &server,
        http,
        doc,
        token: api_key,
    };
    let t = tenant.to_string();
    let ids = |id: &dyn ToString| (t.clone(), id.to_string());
    let (a, n, call, key) = (
        ids(&items.agent),
        ids(&items.number),
        ids(&finished_call),
        ids(&items.key),
    );
    let g = Method::GET;
    for (path, ids) in [
        ("/api/v1/tenants/{tid}/agents", &a),
        ("/api/v1/tenants/{tid}/agents/{id}", &a),
        ("/api/v1/tenants/{tid}/numbers", &n),
        ("/api/v1/tenants/{tid}/numbers/{id}", &n),
        ("/api/v1/tenants/{tid}/calls", &call),
        ("/api/v1/tenants/{tid}/calls/{id}", &call),
        ("/api/v1/tenants/{tid}/api-keys", &key),
        ("/api/v1/tenants/{tid}/audit", &key),
        ("/api/v1/me", &key),
    ] {
        let (status, body) = c.call(g.clone(), path, (&ids.0, &ids.1), None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let (_, calls) = c
        .call(g.clone(), "/api/v1/tenants/{tid}/calls", (&t, ""), None)
        .await;
    assert_eq!(calls["total"], 2, "{calls}");
    let (_, finished) = c
        .call(
            g.clone(),
            "/api/v1/tenants/{tid}/calls/{id}",
            (&call.0, &call.1),
            None,
        )
        .await;
    assert_eq!(finished["transcript"].as_array().unwrap().len(), 2);
    assert_eq!(finished["latency"][0]["v2v_ms"], 620);

    // Writes, with their documented statuses.
    let p = Method::POST;
    let (status, agent) = c
        .call(
            p.clone(),
            "/api/v1/tenants/{tid}/agents",
            (&t, ""),
            Some(json!({"name": "Night shift", "llm_provider": "openai", "credentials": {"llm": {"api_key": "sk-x"}}, "flow": {"fallback": "Pardon?"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    assert_eq!(agent["credentials_set"], true);
    // A key never mints keys (403, documented); its creator's session does.
    let (status, _) = c
        .call(
            p.clone(),
            "/api/v1/tenants/{tid}/api-keys",
            (&t, ""),
            Some(json!({"name": "deploy"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let as_admin = Client {
        server: &server,
        http: c.http.clone(),
        doc: c.doc.clone(),
        token: session_token(&ctx.store, items.user, tenant).await,
    };
    let (status, created_key) = as_admin
        .call(
            p.clone(),
            "/api/v1/tenants/{tid}/api-keys",
            (&t, ""),
            Some(json!({"name": "deploy"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(created_key["key"].as_str().unwrap().starts_with("pk_"));
    let (status, _) = c
        .call(
            Method::PATCH,
            "/api/v1/tenants/{tid}/numbers/{id}",
            (&n.0, &n.1),
            Some(json!({"agent_id": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = c
        .call(
            p.clone(),
            "/api/v1/tenants/{tid}/api-keys/{id}/revoke",
            (&key.0, &key.1),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Errors, in the documented shape.
    for (method, path, ids, body, expected) in [
        (
            g.clone(),
            "/api/v1/tenants/{tid}/agents/{id}",
            (t.as_str(), "nope"),
            None,
            404,
        ),
        (
            g.clone(),
            "/api/v1/tenants/{tid}/agents?page=0&per_page=x",
            (t.as_str(), ""),
            None,
            422,
        ),
        (
            g.clone(),
            "/api/v1/tenants/{tid}/calls?status=lost",
            (t.as_str(), ""),
            None,
            422,
        ),
        (
            p.clone(),
            "/api/v1/tenants/{tid}/agents",
            (t.as_str(), ""),
            Some(json!({"name": 3})),
            400,
        ),
        (
            p.clone(),
            "/api/v1/tenants/{tid}/agents",
            (t.as_str(), ""),
            Some(json!(["Bot 2"])),
            400,
        ),
        (
            p.clone(),
            "/api/v1/tenants/{tid}/agents",
            (t.as_str(), ""),
            Some(json!({"name": "Bot"})),
            409,
        ),
        (
            p.clone(),
            "/api/v1/tenants/{tid}/agents",
            (t.as_str(), ""),
            Some(json!({"name": "x", "greeting": "a\u{0}b", "voice": "a\nb"})),
            422,
        ),
        (
            Method::DELETE,
            "/api/v1/tenants/{tid}/agents/{id}",
            (a.0.as_str(), a.1.as_str()),
            None,
            403,
        ),
        (g.clone(), "/api/v1/tenants", (t.as_str(), ""), None, 404),
    ] {
        let (status, body) = c.call(method, path, ids, body).await;
        assert_eq!(status.as_u16(), expected, "{path}: {body}");
    }
    let res = c
        .http
        .get(server.url(&format!("/api/v1/tenants/{t}/agents")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body: Value = res.json().await.unwrap();
    assert_documented(
        &c.doc,
        &g,
        "/api/v1/tenants/{tid}/agents",
        StatusCode::UNAUTHORIZED,
        &body,
    );

    // Every documented operation exists on the server: without credentials
    // it answers in the error shape (or succeeds), never actix's bare 404.
    for (method, path) in documented_routes(&c.doc) {
        let concrete = path.replace("{tid}", &t).replace("{id}", &a.1);
        let res = c
            .http
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                server.url(&concrete),
            )
            .send()
            .await
            .unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        assert!(
            status.is_success() || text.contains("\"error\""),
            "{method} {path}: {status} {text:?} (not routed?)"
        );
    }
    server.stop().await;
}
