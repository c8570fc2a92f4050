//! Live calls through the admin API, end to end: the real `parla` binary
//! with the offline flow agent (whisper STT, espeak TTS), the Rust test
//! caller dialing it, and the API's event stream and commands
//! (`/tenants/{tid}/calls/{id}/events`, `…/hangup`, `…/say`).

use crate::support;

use std::time::{Duration, Instant};

use parla_testkit::caller::{place_call, Action, CallOutcome, EndedBy};
use parla_testkit::speech::best_phrase_wer;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::*;

const ROOT_EMAIL: &str = "root@example.com";
const ROOT_PASSWORD: &str = "correct horse battery staple";
const OTHER_EMAIL: &str = "admin@globex.example";
const OTHER_PASSWORD: &str = "globex admin password 1";
const SENTENCE: &str = "I would like to book an appointment";
const GREETING: &str = "Hello, thanks for calling Parla. How can I help you today?";
/// Said by the operator's "say" command; words espeak-ng and whisper tiny.en
/// agree on even through G.711 (the first wording was misheard at random).
const LINE: &str = "Thanks for calling today. This call will now end. Goodbye.";

/// A JSON client of one instance's admin API.
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
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("API request");
        let status = res.status();
        let text = res.text().await.expect("API body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn ok(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Value {
        let (s, v) = self.send(method.clone(), path, token, body).await;
        assert!(s.is_success(), "{method} {path}: {s} {v}");
        v
    }

    async fn login(&self, email: &str, password: &str) -> String {
        let v = self
            .ok(
                Method::POST,
                "/auth/login",
                "",
                Some(json!({ "email": email, "password": password })),
            )
            .await;
        v["token"].as_str().expect("token").to_owned()
    }

    /// The one live call of tenant `tid` (waits up to 20 s for it).
    async fn live_call(&self, token: &str, tid: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let calls = self
                .ok(
                    Method::GET,
                    &format!("/tenants/{tid}/live-calls"),
                    token,
                    None,
                )
                .await;
            if let Some(id) = calls[0]["id"].as_str() {
                return id.to_owned();
            }
            assert!(Instant::now() < deadline, "no live call: {calls}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Opens the call's event stream.
    async fn events(&self, token: &str, tid: &str, id: &str) -> Events {
        let res = self
            .client
            .get(format!("{}/tenants/{tid}/calls/{id}/events", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("events request");
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Events {
            res,
            buf: String::new(),
        }
    }
}

/// A server-sent event stream, read incrementally.
struct Events {
    res: reqwest::Response,
    buf: String,
}

impl Events {
    /// The next event's `(name, data)`; `None` when the stream ends or
    /// nothing comes within `timeout`.
    async fn next(&mut self, timeout: Duration) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut name = None;
                let mut data = None;
                for line in block.lines() {
                    if let Some(n) = line.strip_prefix("event: ") {
                        name = Some(n.to_owned());
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data = serde_json::from_str(d).ok();
                    }
                }
                if let (Some(n), Some(d)) = (name, data) {
                    return Some((n, d));
                }
                continue; // a comment (keep-alive)
            }
            let chunk = tokio::time::timeout_at(deadline, self.res.chunk())
                .await
                .ok()?
                .ok()??;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Reads events until a transcript line of `speaker` matching `text`
    /// (word error rate ≤ 0.5, or any line for an empty `text`); panics on
    /// `ended` or after `timeout`. Returns the line.
    async fn transcript(&mut self, speaker: &str, text: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some((name, data)) = self.next(left).await else {
                panic!("no {speaker} line {text:?} within {timeout:?}");
            };
            assert_ne!(name, "ended", "the call ended first: {data}");
            let turn = &data["turn"];
            if name == "transcript"
                && turn["speaker"] == speaker
                && (text.is_empty() || best_phrase_wer(turn["text"].as_str().unwrap(), text) <= 0.5)
            {
                return turn.clone();
            }
        }
    }
}

/// A panel session: a cookie jar over a client that does not follow
/// redirects.
struct Panel {
    base: String,
    client: reqwest::Client,
    cookies: std::collections::BTreeMap<String, String>,
}

impl Panel {
    /// Logs in through the panel's login form.
    async fn login(parla: &Parla, email: &str, password: &str) -> Panel {
        let mut panel = Panel {
            base: format!("http://{}", parla.http),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Default::default(),
        };
        let (_, form) = panel.get("/panel/login").await;
        let csrf = csrf_of(&form);
        let (s, _) = panel
            .post(
                "/panel/login",
                &[
                    ("csrf_token", &csrf),
                    ("email", email),
                    ("password", password),
                ],
            )
            .await;
        assert_eq!(s, StatusCode::SEE_OTHER, "panel login");
        panel
    }

    fn cookie_header(&self) -> String {
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        pairs.join("; ")
    }

    fn absorb(&mut self, res: &reqwest::Response) {
        for v in res.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap_or_default();
            if let Some((k, rest)) = v.split_once('=') {
                let value = rest.split(';').next().unwrap_or_default();
                self.cookies.insert(k.trim().to_owned(), value.to_owned());
            }
        }
    }

    async fn get(&mut self, path: &str) -> (StatusCode, String) {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.absorb(&res);
        (res.status(), res.text().await.unwrap())
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.absorb(&res);
        (res.status(), res.text().await.unwrap())
    }
}

/// The first hidden `csrf_token` of a page.
fn csrf_of(page: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = page.find(marker).expect("a csrf_token field") + marker.len();
    let end = page[start..].find('"').unwrap() + start;
    page[start..end].to_owned()
}

/// A `parla serve` with the flow agent imported into the `default` tenant,
/// a logged-in super admin, and that tenant's id.
async fn start(salt: u16) -> (Parla, Api, String, String) {
    let w = whisper();
    let config = flow_agent_config(&format!("{}/v1", w.base_url()), "");
    let parla = Parla::launch(Launch {
        config_toml: Some(&config),
        rtp_ports: rtp_range(salt, 6),
        env: vec![
            ("PARLA_ADMIN_EMAIL".into(), ROOT_EMAIL.into()),
            ("PARLA_ADMIN_PASSWORD".into(), ROOT_PASSWORD.into()),
        ],
        data_dir: None,
    });
    let api = Api::of(&parla);
    let root = api.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let tenants = api.ok(Method::GET, "/tenants", &root, None).await;
    let tid = tenants["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["slug"] == "default")
        .expect("the default tenant")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (parla, api, root, tid)
}

/// Places a call running `script` (then waiting up to 90 s) in the background.
fn dial(parla: &Parla, script: Vec<Action>) -> tokio::task::JoinHandle<CallOutcome> {
    let mut spec = call_to(parla);
    spec.script = script;
    spec.max_duration = Duration::from_secs(90);
    tokio::spawn(async move { place_call(spec).await.expect("call") })
}

/// The record of call `id` once it has ended (waits up to 20 s).
async fn ended_record(api: &Api, token: &str, tid: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let record = api
            .ok(
                Method::GET,
                &format!("/tenants/{tid}/calls/{id}"),
                token,
                None,
            )
            .await;
        if !record["ended_at"].is_null() {
            return record;
        }
        assert!(Instant::now() < deadline, "the call never ended: {record}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The stream shows the greeting, the caller's words and the reply while
/// the call is up; another tenant can neither watch nor hang up the call;
/// the hang-up command ends it with a BYE to the caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_shows_the_call_as_it_happens_and_hang_up_ends_it() {
    let (parla, api, root, tid) = start(7).await;
    let caller = dial(
        &parla,
        vec![
            end_of_greeting(),
            Action::Play(utterance(SENTENCE)),
            agent_speaks(),
            agent_done(),
            Action::Wait(Duration::from_secs(60)),
        ],
    );
    let id = api.live_call(&root, &tid).await;
    let mut events = api.events(&root, &tid, &id).await;
    let wait = Duration::from_secs(40);
    events.transcript("agent", GREETING, wait).await;
    let heard = events.transcript("caller", SENTENCE, wait).await;
    events.transcript("agent", FLOW_REPLIES[0], wait).await;
    assert!(!caller.is_finished(), "all of it while the call is up");
    // The record has the transcript so far too.
    let record = api
        .ok(
            Method::GET,
            &format!("/tenants/{tid}/calls/{id}"),
            &root,
            None,
        )
        .await;
    assert_eq!(record["status"], "in_progress");
    assert!(
        record["transcript"].as_array().unwrap().contains(&heard),
        "{record}"
    );

    // Another tenant's admin: 404 for the stream and the commands, through
    // its own tenant's path or the call's.
    let other = api
        .ok(
            Method::POST,
            "/tenants",
            &root,
            Some(json!({ "name": "Globex", "slug": "globex" })),
        )
        .await;
    let other_tid = other["id"].as_str().unwrap();
    api.ok(
        Method::POST,
        &format!("/tenants/{other_tid}/users"),
        &root,
        Some(json!({ "email": OTHER_EMAIL, "password": OTHER_PASSWORD, "role": "admin" })),
    )
    .await;
    let intruder = api.login(OTHER_EMAIL, OTHER_PASSWORD).await;
    for t in [other_tid, tid.as_str()] {
        for (method, tail, body) in [
            (Method::GET, "events", None),
            (Method::POST, "hangup", None),
            (
                Method::POST,
                "say",
                Some(json!({ "text": "You have been hacked.", "then": "hangup" })),
            ),
        ] {
            let path = format!("/tenants/{t}/calls/{id}/{tail}");
            let (s, v) = api.send(method, &path, &intruder, body).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {v}");
        }
    }
    let listed = api
        .ok(
            Method::GET,
            &format!("/tenants/{other_tid}/live-calls"),
            &intruder,
            None,
        )
        .await;
    assert_eq!(
        listed,
        json!([]),
        "another tenant's live calls are not listed"
    );
    assert!(
        !caller.is_finished(),
        "the intruder did not hang up the call"
    );

    let (s, v) = api
        .send(
            Method::POST,
            &format!("/tenants/{tid}/calls/{id}/hangup"),
            &root,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let outcome = tokio::time::timeout(Duration::from_secs(20), caller)
        .await
        .expect("the call ends")
        .unwrap();
    assert_eq!(outcome.ended_by, EndedBy::Agent, "{:#?}", outcome.sip_log);
    let (name, data) = loop {
        let e = events.next(Duration::from_secs(10)).await.expect("ended");
        if e.0 == "ended" {
            break e;
        }
    };
    assert_eq!(name, "ended");
    assert_eq!(data["hangup_cause"], "operator_hangup");
    let record = ended_record(&api, &root, &tid, &id).await;
    assert_eq!(record["hangup_cause"], "operator_hangup");
    let (s, _) = api
        .send(
            Method::POST,
            &format!("/tenants/{tid}/calls/{id}/hangup"),
            &root,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "an ended call takes no command");
}

/// "Say, then hang up": the caller hears the line, then gets a BYE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn say_then_hang_up_is_heard_by_the_caller() {
    let (parla, api, root, tid) = start(8).await;
    let caller = dial(
        &parla,
        vec![end_of_greeting(), Action::Wait(Duration::from_secs(60))],
    );
    let id = api.live_call(&root, &tid).await;
    let mut events = api.events(&root, &tid, &id).await;
    events
        .transcript("agent", GREETING, Duration::from_secs(30))
        .await;
    // Let the caller hear the greeting end (its script logs the silence).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let path = format!("/tenants/{tid}/calls/{id}/say");
    for bad in [
        json!({ "text": "" }),
        json!({ "text": "x".repeat(1001) }),
        json!({ "text": "Hi", "then": "explode" }),
    ] {
        let (s, v) = api.send(Method::POST, &path, &root, Some(bad)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    }
    assert!(!caller.is_finished());
    let (s, v) = api
        .send(
            Method::POST,
            &path,
            &root,
            Some(json!({ "text": LINE, "then": "hangup" })),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let outcome = tokio::time::timeout(Duration::from_secs(30), caller)
        .await
        .expect("the call ends")
        .unwrap();
    assert_eq!(outcome.ended_by, EndedBy::Agent, "{:#?}", outcome.sip_log);
    let greeting_end = outcome
        .event_time("heard agent silence")
        .expect("the greeting ended");
    let after = outcome.agent_audio_between(greeting_end, Duration::from_secs(3600));
    let heard = whisper().transcribe(after, 8000).await.unwrap();
    let wer = best_phrase_wer(&heard, LINE);
    assert!(wer <= 0.5, "heard {heard:?} (wer {wer:.2})");
    let record = ended_record(&api, &root, &tid, &id).await;
    assert_eq!(record["hangup_cause"], "operator_hangup");
    let last = record["transcript"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["speaker"], "agent");
    assert_eq!(last["text"], LINE);
}

/// The panel: the super admin's live-call list shows the call; the call's
/// page is wired to the event stream and has a hang-up button, which needs
/// the session's CSRF token and ends the call with a BYE to the caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_panels_hang_up_button_ends_the_call() {
    let (parla, api, root, tid) = start(9).await;
    let caller = dial(
        &parla,
        vec![end_of_greeting(), Action::Wait(Duration::from_secs(60))],
    );
    let id = api.live_call(&root, &tid).await;
    let mut panel = Panel::login(&parla, ROOT_EMAIL, ROOT_PASSWORD).await;
    let (s, live) = panel.get("/panel/live").await;
    assert_eq!(s, StatusCode::OK);
    let page = format!("/panel/t/{tid}/calls/{id}");
    assert!(live.contains(&page), "the live list links the call: {live}");
    let (s, detail) = panel.get(&page).await;
    assert_eq!(s, StatusCode::OK);
    let events = format!("data-events=\"/api/v1/tenants/{tid}/calls/{id}/events\"");
    assert!(detail.contains(&events), "{detail}");
    assert!(detail.contains("/panel/assets/live.js"), "{detail}");
    let hangup = format!("{page}/hangup");
    assert!(detail.contains(&format!("action=\"{hangup}\"")), "{detail}");
    let (s, _) = panel.get("/panel/assets/live.js").await;
    assert_eq!(s, StatusCode::OK);

    let (s, _) = panel.post(&hangup, &[("csrf_token", "forged")]).await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "no hang-up without the CSRF token"
    );
    assert!(!caller.is_finished());
    let csrf = csrf_of(&detail);
    let (s, _) = panel.post(&hangup, &[("csrf_token", &csrf)]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let outcome = tokio::time::timeout(Duration::from_secs(20), caller)
        .await
        .expect("the call ends")
        .unwrap();
    assert_eq!(outcome.ended_by, EndedBy::Agent, "{:#?}", outcome.sip_log);
    let record = ended_record(&api, &root, &tid, &id).await;
    assert_eq!(record["hangup_cause"], "operator_hangup");
    let (_, detail) = panel.get(&page).await;
    assert!(!detail.contains(&hangup), "no hang-up button once ended");
}
