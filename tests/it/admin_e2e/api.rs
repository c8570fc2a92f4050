//! The admin API client of the end-to-end tests and their shared helpers.

use super::*;

/// A JSON client of the admin API of one `parla serve`.
pub(super) struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    pub(super) fn of(parla: &Parla) -> Api {
        Api {
            base: format!("http://{}/api/v1", parla.http),
            client: reqwest::Client::new(),
        }
    }

    pub(super) async fn send(
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

    pub(super) async fn get(&self, path: &str, token: &str) -> Value {
        let (s, v) = self.send(reqwest::Method::GET, path, token, None).await;
        assert_eq!(s, StatusCode::OK, "GET {path}: {v}");
        v
    }

    /// POST expecting 201; the created resource.
    pub(super) async fn create(&self, path: &str, token: &str, body: Value) -> Value {
        let (s, v) = self
            .send(reqwest::Method::POST, path, token, Some(body))
            .await;
        assert_eq!(s, StatusCode::CREATED, "POST {path}: {v}");
        v
    }

    pub(super) async fn put(&self, path: &str, token: &str, body: Value) -> Value {
        let (s, v) = self
            .send(reqwest::Method::PUT, path, token, Some(body))
            .await;
        assert_eq!(s, StatusCode::OK, "PUT {path}: {v}");
        v
    }

    pub(super) async fn login(&self, email: &str, password: &str) -> String {
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
    pub(super) async fn wait_calls(
        &self,
        token: &str,
        tid: &str,
        status: &str,
        count: usize,
    ) -> Vec<Value> {
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

pub(super) fn root_env(db: &TestDb) -> Vec<(String, String)> {
    let mut env = db.env();
    env.push(("PARLA_ADMIN_EMAIL".into(), ROOT_EMAIL.into()));
    env.push(("PARLA_ADMIN_PASSWORD".into(), ROOT_PASSWORD.into()));
    env
}

/// The agent as the API takes it: local whisper STT, the flow LLM, espeak.
pub(super) fn agent_body(greeting: &str) -> Value {
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

/// Whisper hears `expected` in `pcm` (8 kHz), word error rate ≤ 0.5.
pub(super) async fn assert_heard(pcm: &[i16], expected: &str, what: &str) {
    let heard = whisper().transcribe(pcm, 8000).await.unwrap();
    let wer = best_phrase_wer(&heard, expected);
    assert!(wer <= 0.5, "{what}: heard {heard:?} (wer {wer:.2})");
}

/// The two channels of a recording, waiting briefly for the writer to
/// finalize the file.
pub(super) fn read_stereo(path: &Path) -> (Vec<i16>, Vec<i16>) {
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
pub(super) async fn rejected_and_recorded(
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

pub(super) fn turns<'a>(record: &'a Value, speaker: &str) -> Vec<&'a Value> {
    record["transcript"]
        .as_array()
        .expect("transcript array")
        .iter()
        .filter(|t| t["speaker"] == speaker)
        .collect()
}

pub(super) fn call(parla: &Parla, user: &str, script: Vec<Action>) -> CallSpec {
    let mut spec = CallSpec::new(parla.sip, format!("sip:{user}@{}", parla.sip));
    spec.script = script;
    spec.max_duration = Duration::from_secs(90);
    spec
}
