//! End-to-end through the admin plane, on SQLite and on PostgreSQL: the real
//! `parla` binary bootstraps its super admin, serves the admin API, routes
//! calls through the database and records them; the Rust test caller dials
//! the numbers created through the API.
//!
//! PostgreSQL runs when `PARLA_TEST_POSTGRES_URL` is set (a fresh database
//! per test, dropped afterwards); `PARLA_REQUIRE_POSTGRES=1` makes a missing
//! server a failure instead of a skip.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use parla_testkit::caller::{place_call, Action, CallSpec, EndedBy};
use parla_testkit::speech::best_phrase_wer;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::*;

const ROOT_EMAIL: &str = "root@example.com";
const ROOT_PASSWORD: &str = "correct horse battery staple";
const ADMIN_EMAIL: &str = "admin@acme.example";
const ADMIN_PASSWORD: &str = "acme admin password 1";
const SENTENCE: &str = "I would like to book an appointment";
const GREETING: &str = "Hello, thanks for calling Acme. How can I help you today?";
const NEW_GREETING: &str = "Good morning, this is the Acme front desk speaking.";

/// The admin database a test runs on.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh database: SQLite in the data directory (no URL), or a new
/// PostgreSQL database (`url`), dropped by [`TestDb::drop_db`].
struct TestDb {
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// `None` when PostgreSQL is not configured (and not required).
    async fn create(backend: Backend) -> Option<TestDb> {
        let Backend::Postgres = backend else {
            return Some(TestDb { postgres: None });
        };
        let required = std::env::var("PARLA_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
        let Ok(server) = std::env::var("PARLA_TEST_POSTGRES_URL") else {
            assert!(
                !required,
                "PARLA_REQUIRE_POSTGRES=1 but PARLA_TEST_POSTGRES_URL is unset"
            );
            println!("SKIPPED postgres: PARLA_TEST_POSTGRES_URL is unset");
            return None;
        };
        let name = format!("parla_e2e_{}", uuid_like());
        if let Err(e) = pg_execute(&server, &format!("CREATE DATABASE \"{name}\"")).await {
            assert!(!required, "PostgreSQL required: {e}");
            println!("SKIPPED postgres: {e}");
            return None;
        }
        Some(TestDb {
            postgres: Some((server, name)),
        })
    }

    /// `PARLA_DATABASE_URL` for `parla serve` (none for SQLite).
    fn env(&self) -> Vec<(String, String)> {
        match &self.postgres {
            Some((server, name)) => {
                vec![("PARLA_DATABASE_URL".to_owned(), with_database(server, name))]
            }
            None => vec![],
        }
    }

    /// A URL the test itself can open the store with.
    fn url(&self, data_dir: &Path) -> String {
        match &self.postgres {
            Some((server, name)) => with_database(server, name),
            None => format!(
                "sqlite://{}",
                data_dir.join("parla-admin.sqlite3").display()
            ),
        }
    }

    async fn drop_db(&self) {
        if let Some((server, name)) = &self.postgres {
            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            if let Err(e) = pg_execute(server, &sql).await {
                eprintln!("warning: could not drop {name}: {e}");
            }
        }
    }
}

async fn pg_execute(url: &str, sql: &str) -> Result<(), String> {
    use sqlx::{Connection as _, Executor as _};
    let connect = sqlx::PgConnection::connect(url);
    let mut conn = tokio::time::timeout(Duration::from_secs(5), connect)
        .await
        .map_err(|_| "timed out connecting to PostgreSQL".to_owned())?
        .map_err(|e| format!("cannot connect to PostgreSQL: {e}"))?;
    conn.execute(sqlx::AssertSqlSafe(sql.to_owned()))
        .await
        .map_err(|e| format!("{sql}: {e}"))?;
    let _ = conn.close().await;
    Ok(())
}

/// `postgres://u:p@h:5432/postgres?x` → `postgres://u:p@h:5432/<db>?x`.
fn with_database(url: &str, db: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (path, query) = rest
        .split_once('?')
        .map_or((rest, None), |(p, q)| (p, Some(q)));
    let authority = path.split('/').next().unwrap_or(path);
    match query {
        Some(q) => format!("{scheme}://{authority}/{db}?{q}"),
        None => format!("{scheme}://{authority}/{db}"),
    }
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}_{nanos}", std::process::id())
}

/// Runs `case` on a fresh database of `backend`; drops it even on failure.
async fn run<F, Fut>(backend: Backend, case: F)
where
    F: FnOnce(std::sync::Arc<TestDb>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let db = std::sync::Arc::new(db);
    let result = tokio::spawn(case(db.clone())).await;
    db.drop_db().await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// `mod case { sqlite, postgres }` per case.
macro_rules! on_both_backends {
    ($($case:ident),+ $(,)?) => {
        $(
            mod $case {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::run(super::Backend::Sqlite, super::$case).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::run(super::Backend::Postgres, super::$case).await
                }
            }
        )+
    };
}

on_both_backends!(
    api_created_agent_answers_and_the_call_is_recorded,
    parla_toml_is_imported_on_first_start_only,
    super_admin_is_bootstrapped_and_created_from_the_cli,
);

/// A JSON client of the admin API of one `parla serve`.
struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    fn of(parla: &Parla) -> Api {
        Api {
            base: format!("http://{}/api/v1", parla.http),
            client: reqwest::Client::new(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("API request");
        let status = res.status();
        let text = res.text().await.expect("API body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, token: &str) -> Value {
        let (s, v) = self.send(reqwest::Method::GET, path, token, None).await;
        assert_eq!(s, StatusCode::OK, "GET {path}: {v}");
        v
    }

    /// POST expecting 201; the created resource.
    async fn create(&self, path: &str, token: &str, body: Value) -> Value {
        let (s, v) = self
            .send(reqwest::Method::POST, path, token, Some(body))
            .await;
        assert_eq!(s, StatusCode::CREATED, "POST {path}: {v}");
        v
    }

    async fn put(&self, path: &str, token: &str, body: Value) -> Value {
        let (s, v) = self
            .send(reqwest::Method::PUT, path, token, Some(body))
            .await;
        assert_eq!(s, StatusCode::OK, "PUT {path}: {v}");
        v
    }

    async fn login(&self, email: &str, password: &str) -> String {
        let res = self
            .client
            .post(format!("{}/auth/login", self.base))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("login request");
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::OK, "login {email}: {body}");
        body["token"].as_str().expect("token").to_owned()
    }

    /// Polls `GET /tenants/{tid}/calls?status={status}` until it lists at
    /// least `count` calls (or panics after 20 s); returns them, newest first.
    async fn wait_calls(&self, token: &str, tid: &str, status: &str, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let page = self
                .get(&format!("/tenants/{tid}/calls?status={status}"), token)
                .await;
            let items = page["items"].as_array().cloned().unwrap_or_default();
            if items.len() >= count {
                return items;
            }
            assert!(
                Instant::now() < deadline,
                "{count} {status} calls of {tid} never listed: {items:#?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn root_env(db: &TestDb) -> Vec<(String, String)> {
    let mut env = db.env();
    env.push(("PARLA_ADMIN_EMAIL".into(), ROOT_EMAIL.into()));
    env.push(("PARLA_ADMIN_PASSWORD".into(), ROOT_PASSWORD.into()));
    env
}

/// The agent as the API takes it: local whisper STT, the flow LLM, espeak.
fn agent_body(greeting: &str) -> Value {
    json!({
        "name": "Front desk",
        "greeting": greeting,
        "language": "en",
        "voice": "en-us",
        "stt_provider": "openai",
        "llm_provider": "flow",
        "tts_provider": "espeak",
        "endpointing_ms": 500,
        "credentials": {
            "stt": { "base_url": format!("{}/v1", whisper().base_url()), "model": "tiny.en" },
            "llm": {},
            "tts": {}
        }
    })
}

/// Engine options the API has no fields for yet, set in the store directly:
/// recording on, and — since the local whisper recognizer shares 2 cores
/// with Parla, the caller and other tests, so a transcript can take seconds —
/// 5 s before the stall fallback, like the `parla.toml` tests
/// (`flow_agent_config`).
async fn set_engine_options(db_url: &str, tid: &str, agent_id: &str) {
    use parla_admin::domain::JsonText;
    use parla_admin::store::{Store, TenantScope};
    let store = Store::connect(db_url).await.expect("open the store");
    let scope = TenantScope::new(tid.parse().unwrap());
    store
        .agents()
        .set_engine_options(
            &scope,
            agent_id.parse().unwrap(),
            Some(&JsonText(
                json!({ "response_timeout_ms": 5000, "record": true }),
            )),
        )
        .await
        .expect("set engine options");
    store.close().await;
}

/// Whisper hears `expected` in `pcm` (8 kHz), word error rate ≤ 0.5.
async fn assert_heard(pcm: &[i16], expected: &str, what: &str) {
    let heard = whisper().transcribe(pcm, 8000).await.unwrap();
    let wer = best_phrase_wer(&heard, expected);
    assert!(wer <= 0.5, "{what}: heard {heard:?} (wer {wer:.2})");
}

/// The two channels of a recording, waiting briefly for the writer to
/// finalize the file.
fn read_stereo(path: &Path) -> (Vec<i16>, Vec<i16>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let reader = loop {
        match hound::WavReader::open(path) {
            Ok(r) if r.len() > 0 => break r,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "{}: {:?}",
                    path.display(),
                    other.err()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    let samples: Vec<i16> = reader.into_samples::<i16>().map(Result::unwrap).collect();
    let left = samples.iter().step_by(2).copied().collect();
    let right = samples.iter().skip(1).step_by(2).copied().collect();
    (left, right)
}

/// Calls `user`, expects the INVITE rejected with `status`, and returns the
/// failed record of that call in tenant `tid` (waiting for it).
async fn rejected_and_recorded(
    parla: &Parla,
    api: &Api,
    token: &str,
    tid: &str,
    user: &str,
    status: u16,
) -> Value {
    let outcome = place_call(call(parla, user, vec![])).await.unwrap();
    assert_eq!(
        outcome.final_status, status,
        "{user}: {:#?}",
        outcome.sip_log
    );
    let failed = api.wait_calls(token, tid, "failed", 1).await;
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0]["sip_status"], status);
    failed[0].clone()
}

fn turns<'a>(record: &'a Value, speaker: &str) -> Vec<&'a Value> {
    record["transcript"]
        .as_array()
        .expect("transcript array")
        .iter()
        .filter(|t| t["speaker"] == speaker)
        .collect()
}

fn call(parla: &Parla, user: &str, script: Vec<Action>) -> CallSpec {
    let mut spec = CallSpec::new(parla.sip, format!("sip:{user}@{}", parla.sip));
    spec.script = script;
    spec.max_duration = Duration::from_secs(90);
    spec
}

async fn api_created_agent_answers_and_the_call_is_recorded(db: std::sync::Arc<TestDb>) {
    let data = tempdir::Dir::new("admin-e2e");
    let parla = Parla::launch(Launch {
        config_toml: None,
        rtp_ports: rtp_range(1, 10),
        env: root_env(&db),
        data_dir: Some(data.0.clone()),
    });
    let api = Api::of(&parla);

    // Operator: log in, create the tenant and its admin.
    let root = api.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let tenant = api
        .create("/tenants", &root, json!({ "name": "Acme", "slug": "acme" }))
        .await;
    let tid = tenant["id"].as_str().unwrap().to_owned();
    api.create(
        &format!("/tenants/{tid}/users"),
        &root,
        json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "role": "admin" }),
    )
    .await;

    // Tenant admin: agent and number.
    let admin = api.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let agent = api
        .create(
            &format!("/tenants/{tid}/agents"),
            &admin,
            agent_body(GREETING),
        )
        .await;
    let agent_id = agent["id"].as_str().unwrap().to_owned();
    set_engine_options(&db.url(&data.0), &tid, &agent_id).await;
    // Numbers are the operator's: the tenant admin may not add one (not
    // even the catch-all); the super admin assigns it, the admin binds it.
    for address in ["sip:*@*", "+14155550123"] {
        let (s, b) = api
            .send(
                reqwest::Method::POST,
                &format!("/tenants/{tid}/numbers"),
                &admin,
                Some(json!({ "address": address })),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "tenant admin adds {address}: {b}");
    }
    let number = api
        .create(
            &format!("/tenants/{tid}/numbers"),
            &root,
            json!({ "address": "+14155550123" }),
        )
        .await;
    let (s, b) = api
        .send(
            reqwest::Method::PATCH,
            &format!("/tenants/{tid}/numbers/{}", number["id"].as_str().unwrap()),
            &admin,
            Some(json!({ "agent_id": agent_id })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "the admin binds the number: {b}");

    // The call: greeting, a sentence, the reply, hang up.
    let spec = call(
        &parla,
        "+14155550123",
        vec![
            end_of_greeting(),
            Action::Play(utterance(SENTENCE)),
            agent_speaks(),
            agent_done(),
            Action::Hangup,
        ],
    );
    let running = tokio::spawn(place_call(spec));

    // While it runs, the record is live.
    let live = api.wait_calls(&admin, &tid, "in_progress", 1).await;
    assert_eq!(live.len(), 1, "{live:#?}");
    assert_eq!(live[0]["agent_id"], agent_id.as_str());
    assert!(live[0]["answered_at"].is_i64(), "{:#?}", live[0]);
    assert!(live[0]["ended_at"].is_null(), "{:#?}", live[0]);

    let outcome = running.await.unwrap().unwrap();
    assert_eq!(outcome.final_status, 200, "{:#?}", outcome.sip_log);

    let done = api.wait_calls(&admin, &tid, "completed", 1).await;
    let rec = &done[0];
    assert_eq!(rec["direction"], "inbound");
    assert_eq!(rec["agent_id"], agent_id.as_str());
    assert_eq!(rec["hangup_cause"], "caller_hangup", "{rec:#}");
    assert_eq!(rec["sip_status"], 200);
    assert!(rec["to_uri"].as_str().unwrap().contains("+14155550123"));
    assert!(!rec["sip_call_id"].as_str().unwrap().is_empty());
    let (attempted, answered, ended) = (
        rec["attempted_at"].as_i64().unwrap(),
        rec["answered_at"].as_i64().unwrap(),
        rec["ended_at"].as_i64().unwrap(),
    );
    assert!(attempted <= answered && answered < ended, "{rec:#}");
    let duration = rec["duration_ms"].as_i64().unwrap();
    assert_eq!(duration, ended - answered);
    assert!(
        duration > 4000,
        "greeting + sentence + reply: {duration} ms"
    );

    // Transcript: the greeting, the caller's words, the flow's reply.
    let caller = turns(rec, "caller");
    let agent_turns = turns(rec, "agent");
    assert_eq!(agent_turns[0]["text"], GREETING, "{rec:#}");
    let said: Vec<&str> = caller.iter().filter_map(|t| t["text"].as_str()).collect();
    let wer = best_phrase_wer(&said.join(" "), SENTENCE);
    assert!(wer <= 0.5, "caller transcript {said:?} (wer {wer:.2})");
    let first_caller_start = caller[0]["start_ms"].as_u64().unwrap();
    let reply = agent_turns
        .iter()
        .find(|t| t["start_ms"].as_u64().unwrap() > first_caller_start)
        .unwrap_or_else(|| panic!("no agent reply after the caller: {rec:#}"));
    let (which, _) = best_match(reply["text"].as_str().unwrap(), FLOW_REPLIES);
    assert_eq!(which, 0, "the appointment answer: {reply}");
    for t in rec["transcript"].as_array().unwrap() {
        let (s, e) = (
            t["start_ms"].as_i64().unwrap(),
            t["end_ms"].as_i64().unwrap(),
        );
        assert!(
            0 <= s && s <= e && e <= duration,
            "turn times within the call: {t}"
        );
    }

    // Latency of the reply turn.
    let latency = rec["latency"].as_array().unwrap();
    assert!(!latency.is_empty(), "{rec:#}");
    let l = &latency[0];
    for stage in ["eou_ms", "stt_ms", "llm_ttft_ms", "tts_ttfb_ms", "v2v_ms"] {
        assert!(l[stage].is_u64(), "{stage} in {l}");
    }
    let v2v = l["v2v_ms"].as_u64().unwrap();
    assert!(v2v > 0 && v2v >= l["eou_ms"].as_u64().unwrap(), "{l}");

    // The recording: caller left, agent right, both audible; stored as
    // `recordings/<tenant>/<record id>.wav`, its path never in the API.
    assert_eq!(rec["has_recording"], true, "{rec:#}");
    assert!(rec.get("recording_path").is_none(), "{rec:#}");
    assert!(!rec.to_string().contains("recordings"), "{rec:#}");
    let path = data
        .0
        .join("recordings")
        .join(&tid)
        .join(format!("{}.wav", rec["id"].as_str().unwrap()));
    let (caller_pcm, agent_pcm) = read_stereo(&path);
    assert!(
        speech_seconds(&caller_pcm) > 1.0,
        "the caller is on the left channel"
    );
    assert!(
        speech_seconds(&agent_pcm) > 3.0,
        "the agent is on the right channel"
    );
    assert_heard(&caller_pcm, SENTENCE, "recorded caller audio").await;

    // The web panel of the same `parla serve` shows the call to the admin:
    // `/` leads to the panel, the detail page has the transcript, the latency
    // waterfall and the recording player.
    let web = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let root_page = web
        .get(format!("http://{}/", parla.http))
        .send()
        .await
        .unwrap();
    assert_eq!(root_page.status(), StatusCode::FOUND);
    assert_eq!(root_page.headers()["location"], "/panel/");
    let call_id = rec["id"].as_str().unwrap();
    let detail = format!("/panel/t/{tid}/calls/{call_id}");
    let panel_get = |path: String| {
        web.get(format!("http://{}{path}", parla.http))
            .header("cookie", format!("parla_session={admin}"))
            .send()
    };
    let page = panel_get(detail.clone()).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains(GREETING), "the transcript is on the page");
    assert!(
        html.contains("<svg class=\"waterfall\""),
        "the latency waterfall is on the page"
    );
    assert!(
        html.contains(&format!("{detail}/recording")),
        "the recording player is on the page"
    );
    let audio = panel_get(format!("{detail}/recording")).await.unwrap();
    assert_eq!(audio.status(), StatusCode::OK);
    assert!(audio.bytes().await.unwrap().starts_with(b"RIFF"));

    // An unknown number: 404, recorded nowhere (another tenant sees nothing).
    let other = api
        .create(
            "/tenants",
            &root,
            json!({ "name": "Globex", "slug": "globex" }),
        )
        .await;
    let other_tid = other["id"].as_str().unwrap().to_owned();
    api.create(
        &format!("/tenants/{other_tid}/numbers"),
        &root,
        json!({ "address": "+14155550777" }),
    )
    .await;
    let outcome = place_call(call(&parla, "+14155550999", vec![]))
        .await
        .unwrap();
    assert_eq!(outcome.final_status, 404);
    // A number without an agent: 480, recorded as failed in its tenant.
    let failed = rejected_and_recorded(&parla, &api, &root, &other_tid, "+14155550777", 480).await;
    assert!(failed["answered_at"].is_null(), "{failed:#}");
    assert_eq!(failed["hangup_cause"], "rejected");
    let other_calls = api.get(&format!("/tenants/{other_tid}/calls"), &root).await;
    assert_eq!(other_calls["total"], 1, "{other_calls:#}");
    let all = api.get(&format!("/tenants/{tid}/calls"), &admin).await;
    assert_eq!(all["total"], 1, "the 404 left no record: {all:#}");
    let (s, _) = api
        .send(
            reqwest::Method::GET,
            &format!("/tenants/{other_tid}/calls"),
            &admin,
            None,
        )
        .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "another tenant's calls are hidden"
    );

    // An edit takes effect on the next call, without a restart.
    let mut body = agent_body(NEW_GREETING);
    body.as_object_mut().unwrap().remove("credentials"); // absent: kept
    api.put(&format!("/tenants/{tid}/agents/{agent_id}"), &admin, body)
        .await;
    let outcome = place_call(call(
        &parla,
        "+14155550123",
        vec![end_of_greeting(), Action::Hangup],
    ))
    .await
    .unwrap();
    assert_eq!(outcome.final_status, 200);
    assert_heard(&outcome.agent_audio, NEW_GREETING, "the new greeting").await;
    let done = api.wait_calls(&admin, &tid, "completed", 2).await;
    // Newest first.
    assert_eq!(turns(&done[0], "agent")[0]["text"], NEW_GREETING);

    // A suspended tenant's numbers refuse calls (403), recorded as failed.
    let (st, body) = api
        .send(
            reqwest::Method::PATCH,
            &format!("/tenants/{tid}"),
            &root,
            Some(json!({ "status": "suspended" })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    rejected_and_recorded(&parla, &api, &root, &tid, "+14155550123", 403).await;
    parla.wait_idle(Duration::from_secs(5)).await;
}

async fn parla_toml_is_imported_on_first_start_only(db: std::sync::Arc<TestDb>) {
    let config = flow_agent_config(&format!("{}/v1", whisper().base_url()), "")
        .replace(
            r#"numbers = ["*"]"#,
            r#"numbers = ["+1 555 0100", "support"]"#,
        )
        // An inline flow script: imported into the agent's `flow` column.
        .replace(
            "[agents.tts]",
            r#"[agents.llm.flow]
fallback = "Sorry?"
[[agents.llm.flow.intents]]
name = "leave"
dtmf = "7"
reply = "Goodbye from the imported script."
end_call = true

[agents.tts]"#,
        );
    let data = tempdir::Dir::new("admin-import");
    let ports = rtp_range(1, 10); // one instance at a time
    let start = |env: Vec<(String, String)>| {
        Parla::launch(Launch {
            config_toml: Some(&config),
            rtp_ports: ports.clone(),
            env,
            data_dir: Some(data.0.clone()),
        })
    };

    let parla = start(root_env(&db));
    let api = Api::of(&parla);
    let root = api.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let tenants = api.get("/tenants", &root).await;
    let default = tenants["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["slug"] == "default")
        .unwrap_or_else(|| panic!("a default tenant: {tenants:#}"))
        .clone();
    let tid = default["id"].as_str().unwrap().to_owned();
    let agents = api.get(&format!("/tenants/{tid}/agents"), &root).await;
    assert_eq!(agents["total"], 1, "{agents:#}");
    let agent = &agents["items"][0];
    assert_eq!(agent["name"], "test");
    assert_eq!(
        (
            &agent["stt_provider"],
            &agent["llm_provider"],
            &agent["tts_provider"]
        ),
        (&json!("openai"), &json!("flow"), &json!("espeak"))
    );
    assert_eq!(agent["credentials_set"], true);
    let agent_id = agent["id"].as_str().unwrap().to_owned();
    let numbers = api.get(&format!("/tenants/{tid}/numbers"), &root).await;
    let mut addresses: Vec<&str> = numbers["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            assert_eq!(n["agent_id"], agent_id.as_str());
            n["address"].as_str().unwrap()
        })
        .collect();
    addresses.sort_unstable();
    assert_eq!(addresses, ["+15550100", "sip:support@*"]);

    // Edited in the database: the file no longer wins.
    let mut body = json!({
        "name": "reception",
        "greeting": NEW_GREETING,
        "language": "en",
        "stt_provider": "openai",
        "llm_provider": "flow",
        "tts_provider": "espeak",
    });
    body["voice"] = agent["voice"].clone();
    assert_eq!(agent["flow"]["intents"][0]["name"], "leave", "{agent:#}");
    body["flow"] = agent["flow"].clone(); // a full update: keep the script
    api.put(&format!("/tenants/{tid}/agents/{agent_id}"), &root, body)
        .await;
    drop(parla);

    let parla = start(root_env(&db));
    assert!(
        parla.log_text().contains("not imported again"),
        "{}",
        parla.log_text()
    );
    let api = Api::of(&parla);
    let root = api.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let agents = api.get(&format!("/tenants/{tid}/agents"), &root).await;
    assert_eq!(agents["total"], 1, "not re-imported: {agents:#}");
    assert_eq!(agents["items"][0]["name"], "reception");
    let tenants = api.get("/tenants", &root).await;
    assert_eq!(tenants["total"], 1, "{tenants:#}");

    // The imported numbers route through the database, to the edited agent.
    let outcome = place_call(call(
        &parla,
        "support",
        vec![end_of_greeting(), Action::Hangup],
    ))
    .await
    .unwrap();
    assert_eq!(outcome.final_status, 200, "{:#?}", outcome.sip_log);
    // Key 7 is the imported script's goodbye: the agent hangs up.
    let dtmf = vec![
        end_of_greeting(),
        Action::Dtmf {
            digits: "7".into(),
            duration_ms: 120,
        },
    ];
    let outcome = place_call(call(&parla, "15550100", dtmf)).await.unwrap();
    assert_eq!(outcome.final_status, 200, "{:#?}", outcome.sip_log);
    assert_eq!(outcome.ended_by, EndedBy::Agent);
    let done = api.wait_calls(&root, &tid, "completed", 2).await;
    for rec in &done {
        assert_eq!(turns(rec, "agent")[0]["text"], NEW_GREETING, "{rec:#}");
        assert_eq!(rec["agent_id"], agent_id.as_str());
    }
    // Newest first: the DTMF call, ended by the agent; the caller's key and
    // the script's reply are in its transcript.
    assert_eq!(done[0]["hangup_cause"], "agent_hangup", "{:#}", done[0]);
    assert!(done[0]["to_uri"].as_str().unwrap().contains("15550100"));
    assert_eq!(done[1]["hangup_cause"], "caller_hangup", "{:#}", done[1]);
    assert!(
        turns(&done[0], "caller")
            .iter()
            .any(|t| t["text"].as_str().unwrap().contains('7')),
        "{:#}",
        done[0]
    );
    assert_eq!(
        turns(&done[0], "agent").last().unwrap()["text"],
        "Goodbye from the imported script.",
        "{:#}",
        done[0]
    );
    let unknown = place_call(call(&parla, "sales", vec![])).await.unwrap();
    assert_eq!(unknown.final_status, 404);
    drop(parla);

    // Another secret key cannot decrypt the imported credentials: a clear
    // per-agent error and 503, the call recorded as failed; no panic.
    let mut env = root_env(&db);
    env.push((
        "PARLA_SECRET_KEY".into(),
        parla_admin::auth::SecretKey::generate().to_base64(),
    ));
    let parla = start(env);
    let api = Api::of(&parla);
    let root = api.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    rejected_and_recorded(&parla, &api, &root, &tid, "support", 503).await;
    let log = parla.log_text();
    assert!(
        log.contains("cannot decrypt its provider credentials") && log.contains("reception"),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
}

async fn super_admin_is_bootstrapped_and_created_from_the_cli(db: std::sync::Arc<TestDb>) {
    let data = tempdir::Dir::new("admin-boot");
    let ports = rtp_range(1, 2); // one instance at a time
    let start = || {
        Parla::launch(Launch {
            config_toml: None,
            rtp_ports: ports.clone(),
            env: db.env(),
            data_dir: Some(data.0.clone()),
        })
    };
    let parla = start();
    // The generated password is printed once; wait for the log line.
    let deadline = Instant::now() + Duration::from_secs(10);
    let password = loop {
        let log = parla.log_text();
        if let Some(p) = log.lines().find_map(|l| {
            l.strip_prefix("parla: created super admin admin@parla.localhost with password ")
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_owned)
        }) {
            break p;
        }
        assert!(
            Instant::now() < deadline,
            "no generated password in:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(password.len() >= 20, "a strong password: {password}");
    // Only the stderr line carries it, never a log record.
    std::thread::sleep(Duration::from_millis(200));
    let log = parla.log_text();
    assert_eq!(log.matches(password.as_str()).count(), 1, "{log}");
    let api = Api::of(&parla);
    let token = api.login("admin@parla.localhost", &password).await;
    let me = api.get("/me", &token).await;
    assert!(me.to_string().contains("super_admin"), "{me:#}");
    drop(parla);

    // The CLI: password on stdin; the policy applies.
    let cli = |password: &str| {
        use std::io::Write as _;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_parla"));
        cmd.args(["admin", "create-super-admin", "--email", "ops@example.com"])
            .arg("--data-dir")
            .arg(&data.0)
            .env_remove("PARLA_ADMIN_PASSWORD")
            .env_remove("PARLA_DATABASE_URL")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (k, v) in db.env() {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("parla admin");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        child.wait_with_output().expect("parla admin output")
    };
    let weak = cli("short");
    assert!(!weak.status.success());
    let err = String::from_utf8_lossy(&weak.stderr);
    assert!(err.contains("password does not meet the policy"), "{err}");
    let ok = cli("operations password 42");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let dup = cli("operations password 42");
    assert!(!dup.status.success(), "the e-mail is taken");

    // Restarted: no second bootstrap; both super admins log in.
    let parla = start();
    let api = Api::of(&parla);
    api.login("ops@example.com", "operations password 42").await;
    let token = api.login("admin@parla.localhost", &password).await;
    assert!(!parla.log_text().contains("with password"), "printed once");
    let _ = token;

    // Both creations are in the audit log, by the server and by the CLI.
    let store = parla_admin::store::Store::connect(&db.url(&data.0))
        .await
        .expect("open the store");
    let filter = parla_admin::store::AuditFilter {
        action: Some("super_admin.create".into()),
        ..Default::default()
    };
    let audit = store
        .audit()
        .list_all(&filter, Default::default())
        .await
        .unwrap();
    let mut actors: Vec<&str> = audit.items.iter().map(|e| e.actor_label.as_str()).collect();
    actors.sort_unstable();
    assert_eq!(actors, ["system:bootstrap", "system:cli"], "{audit:#?}");
    store.close().await;
}
