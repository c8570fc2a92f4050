//! The whisper recognizer of the tests: a client of an OpenAI-compatible
//! transcription server, and the shared local server process.

use super::*;

/// A client of an OpenAI-compatible transcription server (normally
/// `tools/whisper_server.py`).
#[derive(Debug, Clone)]
pub struct Whisper {
    base_url: String,
}

/// Environment variable naming an already running whisper server to share.
pub const WHISPER_URL_ENV: &str = "PARLA_TEST_WHISPER_URL";

impl Whisper {
    /// A client of the server at `base_url`: `http://host:port`, with or
    /// without the OpenAI-style `/v1` suffix.
    pub fn new(base_url: impl Into<String>) -> Self {
        let url = base_url.into();
        let url = url.trim_end_matches('/');
        let url = url.strip_suffix("/v1").unwrap_or(url);
        Self {
            base_url: url.to_string(),
        }
    }

    /// `http://host:port` (no `/v1`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `{base_url}/v1/audio/transcriptions`
    pub fn transcriptions_url(&self) -> String {
        format!("{}/v1/audio/transcriptions", self.base_url)
    }

    /// The server named by `PARLA_TEST_WHISPER_URL`, if set.
    pub fn from_env() -> Option<Whisper> {
        std::env::var(WHISPER_URL_ENV)
            .ok()
            .filter(|s| !s.trim().is_empty())
            .map(Whisper::new)
    }

    /// Starts `tools/whisper_server.py` (with the repo's `.venv`, made by
    /// `tools/setup-python.sh`) on a free loopback port and waits (up to
    /// 60 s) until its model is loaded. Killed when the handle drops.
    pub fn start() -> anyhow::Result<WhisperProcess> {
        WhisperProcess::spawn()
    }

    /// The `PARLA_TEST_WHISPER_URL` server when set, else one server started
    /// on first use and shared by the whole test binary (it exits with it).
    pub fn shared() -> anyhow::Result<Whisper> {
        if let Some(w) = Whisper::from_env() {
            return Ok(w);
        }
        static SHARED: OnceLock<Result<WhisperProcess, String>> = OnceLock::new();
        match SHARED.get_or_init(|| Whisper::start().map_err(|e| format!("{e:#}"))) {
            Ok(p) => Ok(p.whisper.clone()),
            Err(e) => Err(anyhow!("starting the shared whisper server: {e}")),
        }
    }

    /// Transcribes mono s16 PCM (any rate; sent as a WAV file).
    pub async fn transcribe(&self, pcm: &[i16], sample_rate_hz: u32) -> anyhow::Result<String> {
        self.transcribe_file(wav_bytes(pcm, sample_rate_hz), "audio.wav")
            .await
    }

    /// Transcribes an audio file (any format the server can decode).
    pub async fn transcribe_file(&self, file: Vec<u8>, file_name: &str) -> anyhow::Result<String> {
        // A fresh client each call: a pooled connection must not outlive the
        // (per-test) runtime that opened it.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(120))
            .build()?;
        let part = reqwest::multipart::Part::bytes(file)
            .file_name(file_name.to_string())
            .mime_str("audio/wav")?;
        let form = reqwest::multipart::Form::new()
            .part("file", part)
            .text("model", "whisper-1")
            .text("language", "en")
            .text("response_format", "json");
        let resp = client
            .post(self.transcriptions_url())
            .multipart(form)
            .send()
            .await
            .with_context(|| format!("POST {}", self.transcriptions_url()))?;
        let status = resp.status();
        let body = resp.text().await?;
        if !status.is_success() {
            bail!("whisper server answered {status}: {body}");
        }
        let v: serde_json::Value =
            serde_json::from_str(&body).with_context(|| format!("whisper reply {body:?}"))?;
        v.get("text")
            .and_then(|t| t.as_str())
            .map(|t| t.trim().to_string())
            .ok_or_else(|| anyhow!("whisper reply has no text: {body}"))
    }
}

/// A running `tools/whisper_server.py`; derefs to its [`Whisper`] client and
/// kills the server on drop.
pub struct WhisperProcess {
    child: Child,
    whisper: Whisper,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl std::ops::Deref for WhisperProcess {
    type Target = Whisper;
    fn deref(&self) -> &Whisper {
        &self.whisper
    }
}

impl std::fmt::Debug for WhisperProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperProcess")
            .field("base_url", &self.whisper.base_url)
            .field("pid", &self.child.id())
            .finish()
    }
}

/// The workspace root (where `.venv` and `tools/` live).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit lives in the workspace")
        .to_path_buf()
}

impl WhisperProcess {
    const START_TIMEOUT: Duration = Duration::from_secs(60);

    fn spawn() -> anyhow::Result<Self> {
        let root = repo_root();
        let python = std::env::var_os("PARLA_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(".venv/bin/python"));
        if !python.exists() {
            bail!(
                "{} is missing: run `bash tools/setup-python.sh` first",
                python.display()
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut child = Command::new(&python)
            .arg(root.join("tools/whisper_server.py"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--parent-pid", &std::process::id().to_string()])
            .args(["--log-level", "warning"])
            .current_dir(&root)
            .env("HF_HUB_OFFLINE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("spawning {}", python.display()))?;
        let log = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(stderr) = child.stderr.take() {
            let log = log.clone();
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(stderr)
                    .lines()
                    .map_while(Result::ok)
                {
                    tracing::debug!(target: "whisper_server", "{line}");
                    let mut l = log.lock().unwrap_or_else(|e| e.into_inner());
                    if l.len() == 40 {
                        l.pop_front();
                    }
                    l.push_back(line);
                }
            });
        }
        let mut process = WhisperProcess {
            child,
            whisper: Whisper::new(format!("http://127.0.0.1:{port}")),
            log,
        };
        let started = Instant::now();
        loop {
            if let Some(status) = process.child.try_wait()? {
                std::thread::sleep(Duration::from_millis(100)); // let the log thread catch up
                bail!(
                    "whisper server exited ({status}) while starting:\n{}",
                    process.log_tail()
                );
            }
            if http_get_status(port, "/health") == Some(200) {
                tracing::info!(
                    "whisper server ready on port {port} after {:?}",
                    started.elapsed()
                );
                return Ok(process);
            }
            if started.elapsed() > Self::START_TIMEOUT {
                bail!(
                    "whisper server not healthy after {:?}:\n{}",
                    Self::START_TIMEOUT,
                    process.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn whisper(&self) -> &Whisper {
        &self.whisper
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines the server wrote to stderr.
    pub fn log_tail(&self) -> String {
        let l = self.log.lock().unwrap_or_else(|e| e.into_inner());
        l.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for WhisperProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking `GET path` on loopback; the HTTP status, if any answer.
fn http_get_status(port: u16, path: &str) -> Option<u16> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let head = std::str::from_utf8(&buf[..n]).ok()?;
    head.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whisper_urls() {
        for base in [
            "http://127.0.0.1:9311",
            "http://127.0.0.1:9311/",
            "http://127.0.0.1:9311/v1",
            "http://127.0.0.1:9311/v1/",
        ] {
            let w = Whisper::new(base);
            assert_eq!(w.base_url(), "http://127.0.0.1:9311");
            assert_eq!(
                w.transcriptions_url(),
                "http://127.0.0.1:9311/v1/audio/transcriptions"
            );
        }
    }
}
