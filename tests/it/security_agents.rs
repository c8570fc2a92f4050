//! A hostile tenant's agent settings, black-box against the real `parla`
//! binary: a tenant can store neither an environment variable name
//! (`api_key_env`) nor a file path (`script`), nor an unknown provider or
//! setting (422 naming the field, nothing saved); the operator's
//! `parla.toml` names are resolved when Parla starts, and a FIFO, a device
//! or a non-script file there stops the start with a clear error instead
//! of freezing the first call; and a slow agent build delays neither
//! OPTIONS nor another tenant's call.

use crate::support;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parla_testkit::caller::{place_call, Action, CallSpec};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::*;

const ROOT_EMAIL: &str = "root@example.com";
const ROOT_PASSWORD: &str = "root password that must never leave";
const ADMIN_EMAIL: &str = "admin@acme.example";
const ADMIN_PASSWORD: &str = "acme admin password 1";

/// A JSON client of one Parla's admin API.
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

    async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    async fn created(&self, path: &str, token: &str, body: Value) -> Value {
        let (s, v) = self.post(path, token, body).await;
        assert_eq!(s, StatusCode::CREATED, "POST {path}: {v}");
        v
    }

    async fn login(&self, email: &str, password: &str) -> String {
        let (s, v) = self
            .post(
                "/auth/login",
                "",
                json!({ "email": email, "password": password }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "login {email}: {v}");
        v["token"].as_str().expect("token").to_owned()
    }
}

/// `parla serve` without `parla.toml`, its super admin from the environment.
fn start(extra_env: &[(&str, &str)]) -> Parla {
    let mut env = vec![
        ("PARLA_ADMIN_EMAIL".to_owned(), ROOT_EMAIL.to_owned()),
        ("PARLA_ADMIN_PASSWORD".to_owned(), ROOT_PASSWORD.to_owned()),
    ];
    env.extend(
        extra_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    Parla::launch(Launch {
        config_toml: None,
        rtp_ports: rtp_range(6, 10),
        env,
        data_dir: None,
    })
}

/// As the super admin: a tenant named `name` (slug in lower case) and its
/// id.
async fn tenant(api: &Api, root: &str, name: &str) -> String {
    let t = api
        .created(
            "/tenants",
            root,
            json!({ "name": name, "slug": name.to_lowercase() }),
        )
        .await;
    t["id"].as_str().unwrap().to_owned()
}

/// As the super admin: `address` in tenant `tid`, routed to `agent_id`.
async fn number(api: &Api, root: &str, tid: &str, address: &str, agent_id: &str) {
    api.created(
        &format!("/tenants/{tid}/numbers"),
        root,
        json!({ "address": address, "agent_id": agent_id }),
    )
    .await;
}

/// A loopback TCP listener standing in for a tenant's "provider": it
/// records every byte any connection sends, answering nothing.
struct Listener {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<u8>>>,
    connections: Arc<Mutex<usize>>,
}

impl Listener {
    async fn start() -> Listener {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(0));
        let (r, c) = (received.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                *c.lock().unwrap() += 1;
                let r = r.clone();
                tokio::spawn(async move {
                    use tokio::io::AsyncReadExt as _;
                    let mut buf = [0u8; 4096];
                    while let Ok(Ok(n)) =
                        tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await
                    {
                        if n == 0 {
                            break;
                        }
                        r.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                });
            }
        });
        Listener {
            addr,
            received,
            connections,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.received.lock().unwrap()).into_owned()
    }

    fn connections(&self) -> usize {
        *self.connections.lock().unwrap()
    }
}

/// A call to `number` that hangs up after `secs` seconds.
fn call(parla: &Parla, number: &str, secs: u64) -> CallSpec {
    let mut spec = CallSpec::new(parla.sip, format!("sip:{number}@{}", parla.sip));
    spec.script = vec![Action::Wait(Duration::from_secs(secs)), Action::Hangup];
    spec.answer_timeout = Duration::from_secs(30);
    spec
}

/// The refused fields of a 422 in the API's error shape.
fn refused_fields(status: StatusCode, body: &Value) -> Vec<String> {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "validation", "{body}");
    body["error"]["fields"]
        .as_object()
        .map(|f| f.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_agents_cannot_name_environment_variables_files_or_unknown_settings() {
    let listener = Listener::start().await;
    let parla = start(&[]);
    let api = Api::of(&parla);
    let root = api.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let tid = tenant(&api, &root, "Acme").await;
    api.created(
        &format!("/tenants/{tid}/users"),
        &root,
        json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "role": "admin" }),
    )
    .await;
    let admin = api.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let agents = format!("/tenants/{tid}/agents");
    let tts_url = format!("http://{}/v1", listener.addr);

    // 1. The environment leak of issue 9: the server's own password as the
    // API key of a TTS at the tenant's URL.
    let (s, b) = api
        .post(
            &agents,
            &admin,
            json!({
                "name": "Leaky",
                "tts_provider": "openai",
                "credentials": {"tts": {"base_url": tts_url, "api_key_env": "PARLA_ADMIN_PASSWORD"}}
            }),
        )
        .await;
    assert_eq!(refused_fields(s, &b), ["credentials.tts.api_key_env"]);

    // 2. Files: a flow script path (a device, a FIFO), as a setting or as
    // the flow column.
    let fifo_dir = tempdir::Dir::new("fifo");
    let fifo = fifo_dir.0.join("script.toml");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let fifo = fifo.display().to_string();
    for (body, field) in [
        (
            json!({"name": "Zero", "llm_provider": "flow", "credentials": {"llm": {"script": "/dev/zero"}}}),
            "credentials.llm.script",
        ),
        (
            json!({"name": "Fifo", "llm_provider": "flow", "credentials": {"llm": {"script": fifo}}}),
            "credentials.llm.script",
        ),
        (
            json!({"name": "Fifo2", "llm_provider": "flow", "flow": fifo}),
            "flow",
        ),
    ] {
        let (s, b) = api.post(&agents, &admin, body.clone()).await;
        assert_eq!(refused_fields(s, &b), [field], "{body}");
    }

    // 3. Agents that could not run: unknown provider, unknown setting,
    // wrong type, out of range, a URL with credentials in it.
    for (body, field) in [
        (
            json!({"name": "P", "tts_provider": "polly"}),
            "tts_provider",
        ),
        (
            json!({"name": "K", "llm_provider": "openai", "credentials": {"llm": {"temprature": 0.5}}}),
            "credentials.llm.temprature",
        ),
        (
            json!({"name": "T", "llm_provider": "openai", "credentials": {"llm": {"temperature": "hot"}}}),
            "credentials.llm.temperature",
        ),
        (
            json!({"name": "R", "llm_provider": "openai", "credentials": {"llm": {"temperature": 7}}}),
            "credentials.llm.temperature",
        ),
        (
            json!({"name": "U", "stt_provider": "openai", "credentials": {"stt": {"base_url": "https://user:pw@example.com/v1"}}}),
            "credentials.stt.base_url",
        ),
        (
            json!({"name": "S", "credentials": {"openai_key": "sk-x"}}),
            "credentials.openai_key",
        ),
    ] {
        let (s, b) = api.post(&agents, &admin, body.clone()).await;
        assert_eq!(refused_fields(s, &b), [field], "{body}");
    }
    let (s, list) = api.send(reqwest::Method::GET, &agents, &admin, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["total"], 0, "nothing was saved: {list}");

    // The control: the same TTS with an inline key is accepted and reaches
    // the listener when called, so the listener would have seen a leak.
    let good = api
        .created(
            &agents,
            &admin,
            json!({
                "name": "Control",
                "greeting": "Hello there.",
                "tts_provider": "openai",
                "credentials": {"tts": {"base_url": tts_url, "api_key": "sk-inline-control"}}
            }),
        )
        .await;
    assert_eq!(good["tts_provider"], "openai");
    assert_eq!(
        good["stt_provider"], "openai",
        "empty kinds are stored as their defaults"
    );
    let good_id = good["id"].as_str().unwrap().to_owned();
    // Updating it with an environment name is refused too, and changes nothing.
    let (s, b) = api
        .send(
            reqwest::Method::PUT,
            &format!("{agents}/{good_id}"),
            &admin,
            Some(json!({
                "name": "Control",
                "tts_provider": "openai",
                "credentials": {"tts": {"base_url": tts_url, "api_key_env": "PARLA_SECRET_KEY"}}
            })),
        )
        .await;
    assert_eq!(refused_fields(s, &b), ["credentials.tts.api_key_env"]);
    // Kept credentials are checked against changed kinds: the TTS settings
    // do not fit espeak.
    let (s, b) = api
        .send(
            reqwest::Method::PUT,
            &format!("{agents}/{good_id}"),
            &admin,
            Some(json!({"name": "Control", "tts_provider": "espeak"})),
        )
        .await;
    let fields = refused_fields(s, &b);
    assert!(
        fields.contains(&"credentials.tts.base_url".to_owned()),
        "{b}"
    );

    number(&api, &root, &tid, "+14155550100", &good_id).await;
    let outcome = place_call(call(&parla, "+14155550100", 2)).await.unwrap();
    assert_eq!(outcome.final_status, 200, "{:#?}", outcome.sip_log);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !listener.text().contains("sk-inline-control") {
        assert!(
            Instant::now() < deadline,
            "the control agent's TTS request never reached the listener ({} connections): {}",
            listener.connections(),
            listener.text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = listener.text();
    assert!(
        !seen.contains(ROOT_PASSWORD),
        "the admin password leaked: {seen}"
    );
}

/// Runs `parla serve` with `parla.toml` = `config` in `data_dir`, expecting
/// it to exit (not hang) within 30 s; its exit success and stderr.
fn serve_expecting_exit(config: &str, data_dir: &std::path::Path) -> (bool, String) {
    let path = data_dir.join("parla.toml");
    std::fs::write(&path, config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_parla"))
        .args([
            "serve",
            "--sip-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .args(["--public-ip", "127.0.0.1", "--metrics-addr", "127.0.0.1:0"])
        .arg("--config")
        .arg(&path)
        .arg("--data-dir")
        .arg(data_dir.join("data"))
        .env_remove("PARLA_DATABASE_URL")
        .env_remove("PARLA_SECRET_KEY")
        .env_remove("PARLA_CONFIG")
        .env_remove("PARLA_DATA_DIR")
        .env("PARLA_ADMIN_EMAIL", ROOT_EMAIL)
        .env("PARLA_ADMIN_PASSWORD", ROOT_PASSWORD)
        .current_dir(data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn parla");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("parla serve kept running with:\n{config}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    use std::io::Read as _;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status.success(), stderr)
}

fn toml_with_llm(llm: &str) -> String {
    format!(
        r#"
[[agents]]
name = "ops"
numbers = ["*"]

[agents.stt]
provider = "openai"

[agents.llm]
{llm}

[agents.tts]
provider = "espeak"
"#
    )
}

#[test]
fn operator_script_files_and_env_names_are_resolved_at_start_or_refused() {
    let dir = tempdir::Dir::new("toml-files");
    let fifo = dir.0.join("flow.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    // A valid secret key file the operator names as a script by mistake:
    // its text must not reach the log through the parse error.
    let key_file = dir.0.join("secret.key");
    let key_text = "q6V1hG8GkqkP0k3m1K4xT2bJ8t7Qm9cF0xWb3Yy1ZkI=";
    std::fs::write(&key_file, format!("{key_text}\n")).unwrap();

    for (llm, expected) in [
        (
            format!(
                "provider = \"flow\"\nscript = {:?}",
                fifo.display().to_string()
            ),
            "not a regular file",
        ),
        (
            "provider = \"flow\"\nscript = \"/dev/zero\"".to_owned(),
            "not a regular file",
        ),
        (
            format!(
                "provider = \"flow\"\nscript = {:?}",
                key_file.display().to_string()
            ),
            "not a TOML file with a [flow] table",
        ),
        (
            "provider = \"openai\"\napi_key_env = \"PARLA_ADMIN_PASSWORD\"".to_owned(),
            "must not name the server's own secret PARLA_ADMIN_PASSWORD",
        ),
    ] {
        let run = tempdir::Dir::new("toml-run");
        let (ok, stderr) = serve_expecting_exit(&toml_with_llm(&llm), &run.0);
        assert!(!ok, "{llm}: exit status success\n{stderr}");
        assert!(stderr.contains(expected), "{llm}: {stderr}");
        assert!(
            !stderr.contains(key_text),
            "the key file's text leaked: {stderr}"
        );
        assert!(!stderr.contains(ROOT_PASSWORD), "{stderr}");
    }
}

/// Sends an OPTIONS from a fresh UDP socket; the status of the response,
/// if one arrives within `wait`.
async fn options(target: SocketAddr, wait: Duration) -> Option<u16> {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = sock.local_addr().unwrap().port();
    let msg = format!(
        "OPTIONS sip:parla@{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-options-{port}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@127.0.0.1>;tag=probe{port}\r\n\
         To: <sip:parla@{target}>\r\n\
         Call-ID: options-{port}@127.0.0.1\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    );
    sock.send_to(msg.as_bytes(), target).await.unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = tokio::time::timeout(wait, sock.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&buf[..n]);
    text.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_agent_build_delays_neither_options_nor_another_tenants_call() {
    // Builds of the agent named "Slow" block for 8 s: longer than the 5 s
    // build timeout (`--agent-build-timeout`, default).
    let parla = start(&[("PARLA_TEST_AGENT_BUILD_DELAY", "Slow=8000")]);
    let api = Api::of(&parla);
    let root = api.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let (ta, tb) = (
        tenant(&api, &root, "Slowco").await,
        tenant(&api, &root, "Quickco").await,
    );
    let slow = api
        .created(
            &format!("/tenants/{ta}/agents"),
            &root,
            json!({"name": "Slow"}),
        )
        .await;
    let quick = api
        .created(
            &format!("/tenants/{tb}/agents"),
            &root,
            json!({"name": "Quick", "greeting": "Hello."}),
        )
        .await;
    number(
        &api,
        &root,
        &ta,
        "+14155550101",
        slow["id"].as_str().unwrap(),
    )
    .await;
    number(
        &api,
        &root,
        &tb,
        "+14155550102",
        quick["id"].as_str().unwrap(),
    )
    .await;

    let slow_call = tokio::spawn(place_call(call(&parla, "+14155550101", 1)));
    // Let the slow build start.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    assert_eq!(
        options(parla.sip, Duration::from_secs(2)).await,
        Some(200),
        "OPTIONS while an agent builds"
    );
    let quick_outcome = place_call(call(&parla, "+14155550102", 1)).await.unwrap();
    assert_eq!(
        quick_outcome.final_status, 200,
        "another tenant's call while an agent builds: {:#?}",
        quick_outcome.sip_log
    );
    assert!(
        !slow_call.is_finished(),
        "the slow call was still waiting for its agent (after {:?})",
        started.elapsed()
    );
    let slow_outcome = slow_call.await.unwrap().unwrap();
    assert_eq!(
        slow_outcome.final_status, 503,
        "the slow agent's own call: {:#?}",
        slow_outcome.sip_log
    );
    // The build went on: once done, the next call to that agent is answered.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let again = place_call(call(&parla, "+14155550101", 1)).await.unwrap();
    assert_eq!(again.final_status, 200, "{:#?}", again.sip_log);
}
