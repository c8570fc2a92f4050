//! Test support: a Parla on free ports with a generated `parla.toml`
//! ([`Parla`]: in this process by default, or the real binary as a child
//! process), and helpers shared by the end-to-end tests.
#![allow(dead_code)]

mod instance;
mod logs;

pub use instance::{Launch, Parla};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use parla_testkit::caller::{Action, CallOutcome, CallSpec};
use parla_testkit::speech::{espeak_wav, voiced_spans, Whisper};

pub mod tempdir {
    /// A temporary directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new(tag: &str) -> Self {
            let p = std::env::temp_dir().join(format!(
                "parla-test-{tag}-{}-{}",
                std::process::id(),
                rand_u32()
            ));
            std::fs::create_dir_all(&p).expect("create temp dir");
            Dir(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn rand_u32() -> u32 {
        use std::time::{SystemTime, UNIX_EPOCH};
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    }
}

/// Distinct RTP port ranges per Parla instance started by this process.
static NEXT_RTP_BASE: AtomicU16 = AtomicU16::new(0);

/// RTP ports for one instance: `count` even ports in a range that no other
/// concurrently running test uses.
///
/// Under `cargo nextest` every test is its own process, and
/// `NEXTEST_TEST_GLOBAL_SLOT` (0 ≤ slot < test threads) tells the concurrently
/// running tests apart: each slot owns a block of 3,000 ports. Under plain
/// `cargo test` the tests of one binary are threads of one process and `salt`
/// (one per test module) separates the modules. Both stay below the kernel's
/// ephemeral range (32768+), where callers' port-0 sockets land.
pub fn rtp_range(salt: u16, count: u16) -> String {
    let slot = NEXT_RTP_BASE.fetch_add(1, Ordering::Relaxed);
    let nextest_slot = std::env::var("NEXTEST_TEST_GLOBAL_SLOT")
        .ok()
        .and_then(|s| s.parse::<u16>().ok());
    let low = match nextest_slot {
        Some(g) => 20000 + (g % 4) * 3000 + slot * 400,
        None => 20000 + salt * 2000 + slot * 400,
    };
    format!("{}-{}", low, low + count * 2 - 1)
}

/// The shared local whisper recognizer (PARLA_TEST_WHISPER_URL, set by tools/test.sh,
/// or a server started once for this test binary).
pub fn whisper() -> Whisper {
    static W: OnceLock<Whisper> = OnceLock::new();
    W.get_or_init(|| Whisper::shared().expect("local whisper recognizer"))
        .clone()
}

/// Caller speech, 8 kHz, from espeak-ng (cached per text).
pub fn utterance(text: &str) -> Arc<Vec<i16>> {
    static CACHE: OnceLock<Mutex<std::collections::HashMap<String, Arc<Vec<i16>>>>> =
        OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(a) = cache.lock().unwrap().get(text) {
        return a.clone();
    }
    let pcm = Arc::new(espeak_wav(text, 8000).expect("espeak-ng"));
    cache.lock().unwrap().insert(text.to_string(), pcm.clone());
    pcm
}

/// The offline demo agent's sections with STT at `stt_url`, as a `parla.toml`.
///
/// The local whisper recognizer shares 2 cores with Parla, the caller and other
/// tests, so a transcript can take seconds: unless `extra_agent_lines` sets
/// `response_timeout_ms`, the agent waits the most the engine allows (2 s,
/// `ConversationConfig::validate`) before its stall fallback.
pub fn flow_agent_config(stt_url: &str, extra_agent_lines: &str) -> String {
    let extra = if extra_agent_lines.contains("response_timeout_ms") {
        extra_agent_lines.to_string()
    } else {
        format!("response_timeout_ms = 2000\n{extra_agent_lines}")
    };
    let extra_agent_lines = extra;
    format!(
        r#"
[[agents]]
name = "test"
numbers = ["*"]
greeting = "Hello, thanks for calling Parla. How can I help you today?"
language = "en"
{extra_agent_lines}

[agents.stt]
provider = "openai"
base_url = "{stt_url}"
model = "tiny.en"

[agents.llm]
provider = "flow"

[agents.tts]
provider = "espeak"
"#
    )
}

/// A call that waits for the greeting, says `text`, waits for the reply, hangs up.
pub fn say_after_greeting(target: SocketAddr, text: &str) -> CallSpec {
    let mut spec = CallSpec::new(target, format!("sip:agent@{target}"));
    spec.script = vec![
        end_of_greeting(),
        Action::Play(utterance(text)),
        Action::WaitForAgentSpeech {
            timeout: Duration::from_secs(10),
        },
        Action::WaitForAgentSilence {
            min_silence: Duration::from_millis(1200),
            timeout: Duration::from_secs(20),
        },
        Action::Hangup,
    ];
    spec.max_duration = Duration::from_secs(90);
    spec
}

/// Agent speech before the caller started playing and after the caller stopped.
pub fn split_greeting_and_reply(outcome: &CallOutcome) -> (Vec<i16>, Vec<i16>) {
    let start = outcome.event_time("play start").expect("caller played");
    let end = outcome
        .event_time("play end")
        .expect("caller finished playing");
    let greeting = outcome.agent_audio_between(Duration::ZERO, start).to_vec();
    let reply = outcome
        .agent_audio_between(end, Duration::from_secs(3600))
        .to_vec();
    (greeting, reply)
}

/// Seconds of agent speech (spans above -40 dBFS) in 8 kHz audio.
pub fn speech_seconds(pcm: &[i16]) -> f64 {
    voiced_spans(pcm, 8000, -40.0, 300)
        .iter()
        .map(|(a, b)| (b - a) as f64 / 1000.0)
        .sum()
}

/// Which of `candidates` the transcript matches best (lowest word error rate
/// of the best-matching window), with that rate.
pub fn best_match(transcript: &str, candidates: &[&str]) -> (usize, f64) {
    candidates
        .iter()
        .enumerate()
        .map(|(i, c)| (i, parla_testkit::speech::best_phrase_wer(transcript, c)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("candidates")
}

/// The demo flow's replies, for checking which one the agent said.
pub const FLOW_REPLIES: &[&str] = &[
    "Sure, I can book an appointment for you. What day works best?",
    "We're open Monday to Friday, nine to five. Is there anything else I can help with?",
    "All our staff are busy right now. Please call back during opening hours, or tell me what you need and I'll do my best.",
    "Thank you for calling. Goodbye!",
    "Sorry, I didn't get that. You can say book an appointment, opening hours, or talk to a person.",
];

/// Waits until the agent's greeting (or any agent turn already under way) ends.
pub fn end_of_greeting() -> Action {
    Action::WaitForAgentSilence {
        min_silence: Duration::from_millis(900),
        timeout: Duration::from_secs(20),
    }
}

/// Waits for the agent to start speaking (its reply).
pub fn agent_speaks() -> Action {
    Action::WaitForAgentSpeech {
        timeout: Duration::from_secs(10),
    }
}

/// Waits for the agent's reply to end.
pub fn agent_done() -> Action {
    Action::WaitForAgentSilence {
        min_silence: Duration::from_millis(1200),
        timeout: Duration::from_secs(20),
    }
}

/// A call to any agent of this Parla.
pub fn call_to(parla: &Parla) -> CallSpec {
    CallSpec::new(parla.sip, format!("sip:agent@{}", parla.sip))
}

/// `parla serve` with the flow agent, whose STT is the shared whisper recognizer.
pub fn start_flow_agent(extra_agent_lines: &str, rtp_ports: &str) -> Parla {
    let w = whisper();
    Parla::start(
        &flow_agent_config(&format!("{}/v1", w.base_url()), extra_agent_lines),
        rtp_ports,
    )
}
