//! Speech helpers for tests: synthesize speech with espeak-ng, recognize it
//! with the local whisper server (`tools/whisper_server.py`), compare
//! transcripts tolerantly, and measure audio levels.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

// ---------------------------------------------------------------- espeak-ng

/// How espeak-ng speaks. The default (American English, 150 words/min, 50 ms
/// between words) is what the tiny whisper model recognized best among the
/// settings tried (12 call-center sentences, beam 5: mean WER 0.05 at
/// 16 kHz and 0.12 on 8 kHz phone audio; espeak's own default, 175 words/min
/// with no gap: 0.14 and 0.18).
#[derive(Debug, Clone, PartialEq)]
pub struct EspeakOptions {
    /// espeak-ng voice (`-v`), e.g. `en-us`, `en`, `en-us+f3`.
    pub voice: String,
    /// Speed (`-s`), words per minute (espeak's own default is 175).
    pub words_per_minute: u32,
    /// Extra pause between words (`-g`), in units of 10 ms.
    pub word_gap_10ms: u32,
    /// Pitch 0..=99 (`-p`); espeak's default when `None`.
    pub pitch: Option<u32>,
}

impl Default for EspeakOptions {
    fn default() -> Self {
        Self {
            voice: "en-us".into(),
            words_per_minute: 150,
            word_gap_10ms: 5,
            pitch: None,
        }
    }
}

/// espeak-ng's own output: mono s16 PCM at its native rate (22050 Hz).
pub fn espeak_native(text: &str, opts: &EspeakOptions) -> anyhow::Result<(Vec<i16>, u32)> {
    let mut cmd = Command::new("espeak-ng");
    cmd.arg("--stdout")
        .args(["-v", &opts.voice])
        .args(["-s", &opts.words_per_minute.to_string()])
        .args(["-g", &opts.word_gap_10ms.to_string()]);
    if let Some(p) = opts.pitch {
        cmd.args(["-p", &p.to_string()]);
    }
    // Text on stdin: never mistaken for an option, whatever it starts with.
    cmd.arg("--stdin");
    let out = run_with_stdin(cmd, text.as_bytes().to_vec())
        .context("running espeak-ng (apt-get install espeak-ng)")?;
    let (fmt, data) = parse_wav_header(&out).ok_or_else(|| anyhow!("espeak-ng wrote no WAV"))?;
    if fmt.bits != 16 || fmt.channels != 1 {
        bail!(
            "espeak-ng wrote {} channel(s) of {} bits",
            fmt.channels,
            fmt.bits
        );
    }
    Ok((le_bytes_to_i16(&out[data..]), fmt.sample_rate))
}

/// Speaks `text` with espeak-ng ([`EspeakOptions::default`]) as mono s16 PCM
/// at `sample_rate_hz` (8000 for phone audio), resampled by sox.
pub fn espeak_wav(text: &str, sample_rate_hz: u32) -> anyhow::Result<Vec<i16>> {
    espeak_wav_with(text, sample_rate_hz, &EspeakOptions::default())
}

/// [`espeak_wav`] with a chosen voice and speed.
pub fn espeak_wav_with(
    text: &str,
    sample_rate_hz: u32,
    opts: &EspeakOptions,
) -> anyhow::Result<Vec<i16>> {
    let (pcm, rate) = espeak_native(text, opts)?;
    sox_resample(&pcm, rate, sample_rate_hz)
}

/// Resamples mono s16 PCM with sox (band-limited, repeatable, no dither).
pub fn sox_resample(pcm: &[i16], from_hz: u32, to_hz: u32) -> anyhow::Result<Vec<i16>> {
    if from_hz == to_hz {
        return Ok(pcm.to_vec());
    }
    let raw = |rate: u32| {
        [
            "-t",
            "raw",
            "-e",
            "signed-integer",
            "-b",
            "16",
            "-c",
            "1",
            "-L",
            "-r",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([rate.to_string(), "-".to_string()])
        .collect::<Vec<_>>()
    };
    let mut cmd = Command::new("sox");
    cmd.args(["-D", "-R", "-V1"])
        .args(raw(from_hz))
        .args(raw(to_hz));
    let out =
        run_with_stdin(cmd, i16_to_le_bytes(pcm)).context("running sox (apt-get install sox)")?;
    Ok(le_bytes_to_i16(&out))
}

/// Mono s16 PCM as a complete in-memory WAV file.
pub fn wav_bytes(pcm: &[i16], sample_rate_hz: u32) -> Vec<u8> {
    let data_len = (pcm.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + pcm.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&sample_rate_hz.to_le_bytes());
    out.extend_from_slice(&(sample_rate_hz * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    out.extend_from_slice(&i16_to_le_bytes(pcm));
    out
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct WavFormat {
    pub sample_rate: u32,
    pub channels: u16,
    pub bits: u16,
}

/// Parses a RIFF/WAVE header; returns the format and the offset of the
/// sample data. Tolerates the unknown sizes of a streamed WAV (espeak-ng
/// --stdout), so the data is "everything after the header".
pub(crate) fn parse_wav_header(b: &[u8]) -> Option<(WavFormat, usize)> {
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return None;
    }
    let mut pos = 12;
    let mut fmt = None;
    while pos + 8 <= b.len() {
        let id = &b[pos..pos + 4];
        let size = u32::from_le_bytes(b[pos + 4..pos + 8].try_into().ok()?) as usize;
        let body = pos + 8;
        if id == b"fmt " {
            if body + 16 > b.len() {
                return None;
            }
            fmt = Some(WavFormat {
                channels: u16::from_le_bytes([b[body + 2], b[body + 3]]),
                sample_rate: u32::from_le_bytes(b[body + 4..body + 8].try_into().ok()?),
                bits: u16::from_le_bytes([b[body + 14], b[body + 15]]),
            });
        } else if id == b"data" {
            return fmt.map(|f| (f, body));
        }
        pos = body + size + (size & 1);
    }
    None
}

fn run_with_stdin(mut cmd: Command, input: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output()?;
    let _ = writer.join();
    if !out.status.success() {
        bail!(
            "{:?} failed ({}): {}",
            cmd.get_program(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

pub(crate) fn le_bytes_to_i16(b: &[u8]) -> Vec<i16> {
    b.chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

pub(crate) fn i16_to_le_bytes(pcm: &[i16]) -> Vec<u8> {
    pcm.iter().flat_map(|s| s.to_le_bytes()).collect()
}

// ------------------------------------------------------------------ whisper

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

// ------------------------------------------------------------- transcripts

const UNITS: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 8] = [
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];

fn expand_contraction(w: &str) -> Option<&'static [&'static str]> {
    Some(match w {
        "i'm" => &["i", "am"],
        "you're" => &["you", "are"],
        "we're" => &["we", "are"],
        "they're" => &["they", "are"],
        "it's" => &["it", "is"],
        "that's" => &["that", "is"],
        "what's" => &["what", "is"],
        "there's" => &["there", "is"],
        "here's" => &["here", "is"],
        "he's" => &["he", "is"],
        "she's" => &["she", "is"],
        "let's" => &["let", "us"],
        "i'll" => &["i", "will"],
        "you'll" => &["you", "will"],
        "we'll" => &["we", "will"],
        "i've" => &["i", "have"],
        "we've" => &["we", "have"],
        "you've" => &["you", "have"],
        "i'd" => &["i", "would"],
        "don't" => &["do", "not"],
        "doesn't" => &["does", "not"],
        "didn't" => &["did", "not"],
        "can't" | "cannot" => &["can", "not"],
        "won't" => &["will", "not"],
        "isn't" => &["is", "not"],
        "aren't" => &["are", "not"],
        "wasn't" => &["was", "not"],
        "couldn't" => &["could", "not"],
        "wouldn't" => &["would", "not"],
        "shouldn't" => &["should", "not"],
        "ok" | "okay" => &["okay"],
        _ => return None,
    })
}

/// Normalizes a transcript into comparable words: lowercase, punctuation
/// stripped, common contractions expanded ("I'm" → "i am"), and numbers
/// written either way made equal ("ten", "10"; "four five six", "456",
/// "4-5-6" all become digit tokens: `["4","5","6"]`).
pub fn normalize(text: &str) -> Vec<String> {
    // Join digit groupings ("1,000") before punctuation goes.
    let chars: Vec<char> = text.chars().collect();
    let mut cleaned = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let between_digits = i > 0
            && i + 1 < chars.len()
            && chars[i - 1].is_ascii_digit()
            && chars[i + 1].is_ascii_digit();
        if c == ',' && between_digits {
            continue;
        }
        let c = if c == '’' { '\'' } else { c };
        if c.is_alphanumeric() || c == '\'' {
            cleaned.extend(c.to_lowercase());
        } else {
            cleaned.push(' ');
        }
    }
    let mut words: Vec<String> = Vec::new();
    for w in cleaned.split_whitespace() {
        let w = w.trim_matches('\'');
        if w.is_empty() {
            continue;
        }
        match expand_contraction(w) {
            Some(parts) => words.extend(parts.iter().map(|p| p.to_string())),
            None => words.push(w.replace('\'', "")),
        }
    }
    numbers_to_digits(words)
}

/// Turns number words into digits, then splits every digit run into single
/// digit tokens, so both spellings compare equal.
fn numbers_to_digits(words: Vec<String>) -> Vec<String> {
    fn value(w: &str) -> Option<(u64, u8)> {
        // (value, kind): 0 = unit 0..9, 1 = teen 10..19, 2 = tens, 3 = hundred, 4 = thousand, 5 = million
        if let Some(i) = UNITS.iter().position(|u| *u == w) {
            return Some((i as u64, if i < 10 { 0 } else { 1 }));
        }
        if let Some(i) = TENS.iter().position(|t| *t == w) {
            return Some((20 + 10 * i as u64, 2));
        }
        match w {
            "hundred" => Some((100, 3)),
            "thousand" => Some((1000, 4)),
            "million" => Some((1_000_000, 5)),
            _ => None,
        }
    }
    let mut out: Vec<String> = Vec::new();
    let emit_digits =
        |out: &mut Vec<String>, n: u64| out.extend(n.to_string().chars().map(|c| c.to_string()));
    let mut total = 0u64;
    let mut current = 0u64;
    let mut last_kind: Option<u8> = None;
    let mut active = false;
    let flush = |out: &mut Vec<String>,
                 total: &mut u64,
                 current: &mut u64,
                 active: &mut bool,
                 last: &mut Option<u8>| {
        if *active {
            emit_digits(out, *total + *current);
        }
        *total = 0;
        *current = 0;
        *active = false;
        *last = None;
    };
    for w in words {
        match value(&w) {
            Some((v, kind)) => {
                // Does this word continue the number being read?
                let continues = match (last_kind, kind) {
                    (None, 3..=5) => false, // "hundred" alone is a word
                    (None, _) => true,
                    (Some(2), 0) => true,         // twenty one
                    (Some(3), 0..=2) => true,     // hundred five / ten / twenty
                    (Some(4 | 5), 0..=2) => true, // thousand five
                    (Some(0..=2), 3) => true,     // five hundred
                    (Some(0..=3), 4 | 5) => true, // five thousand
                    _ => false,                   // "four five" = two numbers
                };
                if !continues {
                    flush(
                        &mut out,
                        &mut total,
                        &mut current,
                        &mut active,
                        &mut last_kind,
                    );
                    if kind >= 3 {
                        out.push(w);
                        continue;
                    }
                }
                match kind {
                    0..=2 => current += v,
                    3 => current = current.max(1) * 100,
                    _ => {
                        total += current.max(1) * v;
                        current = 0;
                    }
                }
                active = true;
                last_kind = Some(kind);
            }
            None => {
                flush(
                    &mut out,
                    &mut total,
                    &mut current,
                    &mut active,
                    &mut last_kind,
                );
                if w.chars().all(|c| c.is_ascii_digit()) {
                    emit_digits_str(&mut out, &w);
                } else {
                    out.push(w);
                }
            }
        }
    }
    flush(
        &mut out,
        &mut total,
        &mut current,
        &mut active,
        &mut last_kind,
    );
    out
}

fn emit_digits_str(out: &mut Vec<String>, digits: &str) {
    // Leading zeros are kept ("007" → 0 0 7), as a spoken "oh oh seven" would be.
    out.extend(digits.chars().map(|c| c.to_string()));
}

fn edit_distance(a: &[String], b: &[String]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let sub = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Word error rate of `hypothesis` against `reference`, after [`normalize`]:
/// (substitutions + deletions + insertions) / reference words. 0 for two
/// empty texts; 1 for an empty reference and a non-empty hypothesis.
pub fn word_error_rate(reference: &str, hypothesis: &str) -> f64 {
    let r = normalize(reference);
    let h = normalize(hypothesis);
    if r.is_empty() {
        return if h.is_empty() { 0.0 } else { 1.0 };
    }
    edit_distance(&r, &h) as f64 / r.len() as f64
}

/// The lowest word error rate of `phrase` against any run of words in `hay`
/// (both normalized), e.g. 0.0 when `hay` contains the phrase exactly.
pub fn best_phrase_wer(hay: &str, phrase: &str) -> f64 {
    let p = normalize(phrase);
    let h = normalize(hay);
    if p.is_empty() {
        return 0.0;
    }
    // Approximate substring matching: free start and end in `hay`.
    let mut prev = vec![0usize; h.len() + 1];
    let mut cur = vec![0usize; h.len() + 1];
    for i in 1..=p.len() {
        cur[0] = i;
        for j in 1..=h.len() {
            let sub = prev[j - 1] + usize::from(p[i - 1] != h[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    *prev.iter().min().unwrap() as f64 / p.len() as f64
}

/// Whether `hay` contains `phrase` with at most `max_wer` word error rate in
/// its best-matching window.
pub fn contains_phrase_fuzzy(hay: &str, phrase: &str, max_wer: f64) -> bool {
    best_phrase_wer(hay, phrase) <= max_wer
}

// ------------------------------------------------------------------- levels

/// RMS level in dB relative to full scale (a full-scale square wave is 0;
/// a full-scale sine about -3). Digital silence (or no samples) is -inf.
pub fn rms_dbfs(pcm: &[i16]) -> f64 {
    if pcm.is_empty() {
        return f64::NEG_INFINITY;
    }
    let sum: f64 = pcm.iter().map(|&s| (s as f64) * (s as f64)).sum();
    let rms = (sum / pcm.len() as f64).sqrt();
    if rms == 0.0 {
        f64::NEG_INFINITY
    } else {
        20.0 * (rms / 32768.0).log10()
    }
}

/// Spans `(start_ms, end_ms)` where the audio is louder than
/// `threshold_dbfs` (judged on 10 ms frames); spans closer than
/// `min_gap_ms` are merged.
pub fn voiced_spans(
    pcm: &[i16],
    sample_rate_hz: u32,
    threshold_dbfs: f64,
    min_gap_ms: u64,
) -> Vec<(u64, u64)> {
    let frame = (sample_rate_hz as usize / 100).max(1);
    let mut spans: Vec<(u64, u64)> = Vec::new();
    for (i, f) in pcm.chunks(frame).enumerate() {
        if rms_dbfs(f) < threshold_dbfs {
            continue;
        }
        let start = i as u64 * 10;
        let end = start + (f.len() as u64 * 1000 / sample_rate_hz as u64).max(1);
        match spans.last_mut() {
            Some(last) if start.saturating_sub(last.1) < min_gap_ms.max(1) => last.1 = end,
            _ => spans.push((start, end)),
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Vec<String> {
        normalize(s)
    }

    #[test]
    fn normalize_numbers_and_punctuation() {
        assert_eq!(n("Ten."), n("10"));
        assert_eq!(n("My number is four five six"), n("My number is 456."));
        assert_eq!(n("4-5-6"), n("four five six"));
        assert_eq!(n("twenty one"), n("21"));
        assert_eq!(n("one hundred and five"), n("100 and 5"));
        assert_eq!(n("three thousand two hundred"), n("3,200"));
        assert_eq!(n("I'm here, OK?"), vec!["i", "am", "here", "okay"]);
        assert_eq!(n("Hello, World!"), vec!["hello", "world"]);
        assert_eq!(n("a hundred"), vec!["a", "hundred"]);
    }

    #[test]
    fn wer_basics() {
        assert_eq!(
            word_error_rate(
                "I would like to book an appointment",
                "I would like to book an appointment."
            ),
            0.0
        );
        let w = word_error_rate(
            "I would like to book an appointment",
            "I would like to welcome an appointment",
        );
        assert!((w - 1.0 / 7.0).abs() < 1e-9, "{w}");
        assert_eq!(word_error_rate("", ""), 0.0);
        assert_eq!(word_error_rate("a b", ""), 1.0);
    }

    #[test]
    fn fuzzy_phrase() {
        let hay = "Hello, thanks for calling. Sure, I can book an appointment for you on Tuesday.";
        assert!(contains_phrase_fuzzy(hay, "book an appointment", 0.0));
        assert!(contains_phrase_fuzzy(hay, "book the appointment", 0.34));
        assert!(!contains_phrase_fuzzy(hay, "cancel my order", 0.34));
    }

    #[test]
    fn levels_and_spans() {
        let rate = 8000;
        let mut pcm = vec![0i16; 4000]; // 500 ms silence
        pcm.extend((0..4000).map(|i| ((i as f32 * 0.3).sin() * 8000.0) as i16)); // 500 ms tone
        pcm.extend(vec![0i16; 800]); // 100 ms gap
        pcm.extend((0..2400).map(|i| ((i as f32 * 0.3).sin() * 8000.0) as i16)); // 300 ms tone
        assert_eq!(rms_dbfs(&[0; 10]), f64::NEG_INFINITY);
        assert!((rms_dbfs(&[16384; 10]) - (-6.02)).abs() < 0.01);
        assert_eq!(voiced_spans(&pcm, rate, -40.0, 200), vec![(500, 1400)]);
        assert_eq!(
            voiced_spans(&pcm, rate, -40.0, 50),
            vec![(500, 1000), (1100, 1400)]
        );
    }

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

    #[test]
    fn wav_roundtrip() {
        let pcm: Vec<i16> = (0..100).map(|i| i * 100).collect();
        let wav = wav_bytes(&pcm, 8000);
        let (fmt, off) = parse_wav_header(&wav).unwrap();
        assert_eq!(
            fmt,
            WavFormat {
                sample_rate: 8000,
                channels: 1,
                bits: 16
            }
        );
        assert_eq!(le_bytes_to_i16(&wav[off..]), pcm);
    }
}
