//! End-to-end tests of the local provider servers and speech helpers, driven
//! by plain HTTP / WebSocket clients (not Parla's own provider clients).
//!
//! The whisper tests need the Python venv: `bash tools/setup-python.sh`.

use futures::{SinkExt, StreamExt};
use parla_testkit::servers::{Fault, MockDeepgram, MockLlm, MockTts, Reply};
use parla_testkit::speech::{
    contains_phrase_fuzzy, espeak_native, espeak_wav, rms_dbfs, voiced_spans, word_error_rate,
    EspeakOptions, Whisper,
};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const SENTENCE: &str = "I would like to book an appointment";

/// Tests that recognize speech take turns: the whisper server runs one
/// inference at a time, and the streaming tests depend on its latency.
static RECOGNIZER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

mod deepgram;
mod llm;
mod tts;
mod whisper;
