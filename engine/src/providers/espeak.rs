//! Offline speech synthesis with in-process libespeak-ng.
//!
//! libespeak-ng keeps global state and is not thread-safe, so ONE dedicated OS
//! thread per process owns it, fed by a bounded job queue. In synchronous mode
//! espeak calls our callback with each buffer as it is produced; the callback
//! forwards it to the job's channel, and returns 1 (abort) once the job's
//! stream has been dropped.

use std::cell::RefCell;
use std::ffi::CString;
use std::os::raw::{c_int, c_short, c_void};
use std::sync::OnceLock;

use futures::stream::BoxStream;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::http::ChannelStream;
use super::{ProviderError, TextToSpeech, TtsChunk};

/// Jobs waiting for the synthesis thread.
pub const ESPEAK_JOB_QUEUE: usize = 32;
/// Audio buffered per job before synthesis waits for the consumer, in chunks of
/// [`ESPEAK_BUFFER_MS`] (256 × 50 ms ≈ 12.8 s: a sentence never waits).
pub const ESPEAK_CHUNK_CHANNEL: usize = 256;
/// Length of each audio buffer espeak hands to the callback, in ms.
pub const ESPEAK_BUFFER_MS: i32 = 50;
/// Longest text accepted for one synthesis, in bytes.
pub const ESPEAK_MAX_TEXT_BYTES: usize = 16 * 1024;

mod ffi {
    //! The few libespeak-ng entry points used (`espeak-ng/speak_lib.h`).
    use std::os::raw::{c_char, c_int, c_short, c_uint, c_void};

    pub const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
    pub const ESPEAK_INITIALIZE_DONT_EXIT: c_int = 0x8000;
    pub const ESPEAK_RATE: c_int = 1;
    pub const ESPEAK_PITCH: c_int = 3;
    pub const POS_CHARACTER: c_int = 1;
    pub const ESPEAK_CHARS_UTF8: c_uint = 1;
    pub const EE_OK: c_int = 0;

    /// `espeak_VOICE`.
    #[repr(C)]
    pub struct EspeakVoice {
        pub name: *const c_char,
        pub languages: *const c_char,
        pub identifier: *const c_char,
        pub gender: u8,
        pub age: u8,
        pub variant: u8,
        pub xx1: u8,
        pub score: c_int,
        pub spare: *mut c_void,
    }

    /// `int SynthCallback(short *wav, int numsamples, espeak_EVENT *events)`.
    pub type SynthCallback = unsafe extern "C" fn(*mut c_short, c_int, *mut c_void) -> c_int;

    #[link(name = "espeak-ng")]
    extern "C" {
        pub fn espeak_Initialize(
            output: c_int,
            buflength: c_int,
            path: *const c_char,
            options: c_int,
        ) -> c_int;
        pub fn espeak_SetSynthCallback(callback: Option<SynthCallback>);
        pub fn espeak_SetVoiceByName(name: *const c_char) -> c_int;
        pub fn espeak_SetVoiceByProperties(voice_spec: *mut EspeakVoice) -> c_int;
        pub fn espeak_ListVoices(voice_spec: *mut EspeakVoice) -> *const *const EspeakVoice;
        pub fn espeak_SetParameter(parameter: c_int, value: c_int, relative: c_int) -> c_int;
        pub fn espeak_Synth(
            text: *const c_void,
            size: usize,
            position: c_uint,
            position_type: c_int,
            end_position: c_uint,
            flags: c_uint,
            unique_identifier: *mut c_uint,
            user_data: *mut c_void,
        ) -> c_int;
    }
}

/// Configuration of [`EspeakTts`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EspeakConfig {
    /// espeak-ng voice name, e.g. `en-us`, `en-gb`, `es`, `fr` (`espeak-ng --voices`).
    pub voice: String,
    /// Speaking rate in words per minute (80–450).
    pub rate_wpm: u32,
    /// Base pitch, 0–100 (50 = normal).
    pub pitch: u32,
}

impl Default for EspeakConfig {
    fn default() -> Self {
        Self {
            voice: "en-us".into(),
            rate_wpm: 175,
            pitch: 50,
        }
    }
}

type ChunkTx = mpsc::Sender<Result<TtsChunk, ProviderError>>;

struct Job {
    text: CString,
    voice: CString,
    rate_wpm: c_int,
    pitch: c_int,
    tx: ChunkTx,
}

/// The process-wide synthesis thread.
struct Worker {
    jobs: mpsc::Sender<Job>,
    sample_rate_hz: u32,
}

static WORKER: OnceLock<Result<Worker, ProviderError>> = OnceLock::new();

fn worker() -> Result<&'static Worker, ProviderError> {
    WORKER
        .get_or_init(start_worker)
        .as_ref()
        .map_err(Clone::clone)
}

fn start_worker() -> Result<Worker, ProviderError> {
    let (jobs_tx, jobs_rx) = mpsc::channel::<Job>(ESPEAK_JOB_QUEUE);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<u32, ProviderError>>();
    std::thread::Builder::new()
        .name("espeak-ng".into())
        .spawn(move || worker_main(jobs_rx, ready_tx))
        .map_err(|e| ProviderError::Engine(format!("cannot start the espeak-ng thread: {e}")))?;
    let sample_rate_hz = ready_rx
        .recv()
        .map_err(|_| ProviderError::Engine("the espeak-ng thread died during start-up".into()))??;
    Ok(Worker {
        jobs: jobs_tx,
        sample_rate_hz,
    })
}

/// The job being synthesized on the worker thread, seen by the callback.
struct Current {
    tx: ChunkTx,
    sample_rate_hz: u32,
    cancelled: bool,
}

thread_local! {
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
}

unsafe extern "C" fn synth_callback(
    wav: *mut c_short,
    numsamples: c_int,
    _events: *mut c_void,
) -> c_int {
    CURRENT.with(|current| {
        let mut current = current.borrow_mut();
        let Some(job) = current.as_mut() else {
            return 1;
        };
        if job.tx.is_closed() {
            job.cancelled = true;
            return 1;
        }
        if wav.is_null() || numsamples <= 0 {
            return 0; // end of synthesis, or an events-only call
        }
        // SAFETY: espeak hands us `numsamples` valid samples at `wav` for this call.
        let samples = unsafe { std::slice::from_raw_parts(wav, numsamples as usize) }.to_vec();
        let chunk = TtsChunk {
            samples,
            sample_rate_hz: job.sample_rate_hz,
        };
        // Blocks only when the consumer is ESPEAK_CHUNK_CHANNEL chunks behind.
        match job.tx.blocking_send(Ok(chunk)) {
            Ok(()) => 0,
            Err(_) => {
                job.cancelled = true;
                1
            }
        }
    })
}

fn worker_main(
    mut jobs: mpsc::Receiver<Job>,
    ready: std::sync::mpsc::Sender<Result<u32, ProviderError>>,
) {
    // SAFETY: this thread is the only one calling into libespeak-ng.
    let rate = unsafe {
        ffi::espeak_Initialize(
            ffi::AUDIO_OUTPUT_SYNCHRONOUS,
            ESPEAK_BUFFER_MS,
            std::ptr::null(),
            ffi::ESPEAK_INITIALIZE_DONT_EXIT,
        )
    };
    if rate <= 0 {
        let _ = ready.send(Err(ProviderError::Engine(format!(
            "espeak_Initialize failed ({rate}); is espeak-ng-data installed?"
        ))));
        return;
    }
    unsafe { ffi::espeak_SetSynthCallback(Some(synth_callback)) };
    let sample_rate_hz = rate as u32;
    let _ = ready.send(Ok(sample_rate_hz));
    tracing::debug!(sample_rate_hz, "espeak-ng initialized");

    let voices = list_voices();
    tracing::debug!(count = voices.len(), "espeak-ng voices");
    let mut current_voice: Option<CString> = None;
    while let Some(job) = jobs.blocking_recv() {
        if job.tx.is_closed() {
            continue; // cancelled while queued
        }
        if current_voice.as_ref() != Some(&job.voice) {
            if !set_voice(&voices, &job.voice) {
                current_voice = None;
                let _ = job.tx.blocking_send(Err(ProviderError::Config(format!(
                    "unknown espeak-ng voice {:?}",
                    job.voice.to_string_lossy()
                ))));
                continue;
            }
            current_voice = Some(job.voice.clone());
        }
        unsafe {
            ffi::espeak_SetParameter(ffi::ESPEAK_RATE, job.rate_wpm, 0);
            ffi::espeak_SetParameter(ffi::ESPEAK_PITCH, job.pitch, 0);
        }
        CURRENT.with(|c| {
            *c.borrow_mut() = Some(Current {
                tx: job.tx.clone(),
                sample_rate_hz,
                cancelled: false,
            })
        });
        let bytes = job.text.as_bytes_with_nul();
        // SAFETY: `bytes` is a NUL-terminated UTF-8 buffer alive for the call;
        // the callback runs synchronously on this thread.
        let rc = unsafe {
            ffi::espeak_Synth(
                bytes.as_ptr() as *const c_void,
                bytes.len(),
                0,
                ffi::POS_CHARACTER,
                0,
                ffi::ESPEAK_CHARS_UTF8,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        let cancelled =
            CURRENT.with(|c| c.borrow_mut().take().map(|c| c.cancelled).unwrap_or(false));
        if cancelled {
            tracing::debug!("espeak-ng synthesis cancelled");
        } else if rc != ffi::EE_OK {
            let _ = job.tx.blocking_send(Err(ProviderError::Engine(format!(
                "espeak_Synth failed ({rc})"
            ))));
        }
        // Dropping `job.tx` ends the stream.
    }
}

/// An installed voice, as `espeak_ListVoices` reports it.
#[derive(Debug)]
struct VoiceInfo {
    name: String,
    identifier: String,
    languages: Vec<String>,
}

/// Lists the installed voices (worker thread only).
fn list_voices() -> Vec<VoiceInfo> {
    let mut out = Vec::new();
    // SAFETY: called on the worker thread after initialization; espeak owns the
    // returned NULL-terminated array and its strings, valid until the next call.
    unsafe {
        let list = ffi::espeak_ListVoices(std::ptr::null_mut());
        if list.is_null() {
            return out;
        }
        let mut i = 0;
        loop {
            let voice = *list.add(i);
            if voice.is_null() {
                break;
            }
            let v = &*voice;
            let text = |p: *const std::os::raw::c_char| {
                if p.is_null() {
                    String::new()
                } else {
                    std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
                }
            };
            // `languages`: (priority byte, NUL-terminated tag)* then a 0 byte.
            let mut languages = Vec::new();
            let mut p = v.languages as *const u8;
            if !p.is_null() {
                while *p != 0 {
                    p = p.add(1);
                    let tag = std::ffi::CStr::from_ptr(p as *const std::os::raw::c_char);
                    languages.push(tag.to_string_lossy().into_owned());
                    p = p.add(tag.to_bytes().len() + 1);
                }
            }
            out.push(VoiceInfo {
                name: text(v.name),
                identifier: text(v.identifier),
                languages,
            });
            i += 1;
        }
    }
    out
}

/// Selects a voice by name (`English_(America)`), file (`gmw/en-US`) or, like
/// `espeak-ng -v`, language tag (`en-us`, `en-gb`); `false` when none matches.
fn set_voice(voices: &[VoiceInfo], voice: &CString) -> bool {
    let wanted = voice.to_string_lossy();
    let by_name = voices.iter().any(|v| {
        v.name.eq_ignore_ascii_case(&wanted)
            || v.identifier.eq_ignore_ascii_case(&wanted)
            || v.identifier
                .rsplit('/')
                .next()
                .is_some_and(|f| f.eq_ignore_ascii_case(&wanted))
    });
    let by_language = voices
        .iter()
        .any(|v| v.languages.iter().any(|l| l.eq_ignore_ascii_case(&wanted)));
    // SAFETY: called on the worker thread only; `voice` outlives the calls.
    unsafe {
        if by_name && ffi::espeak_SetVoiceByName(voice.as_ptr()) == ffi::EE_OK {
            return true;
        }
        if !by_language {
            return false;
        }
        let mut spec = ffi::EspeakVoice {
            name: std::ptr::null(),
            languages: voice.as_ptr(),
            identifier: std::ptr::null(),
            gender: 0,
            age: 0,
            variant: 0,
            xx1: 0,
            score: 0,
            spare: std::ptr::null_mut(),
        };
        ffi::espeak_SetVoiceByProperties(&mut spec) == ffi::EE_OK
    }
}

/// espeak-ng text-to-speech (22050 Hz mono).
#[derive(Debug, Clone)]
pub struct EspeakTts {
    config: EspeakConfig,
    sample_rate_hz: u32,
}

impl EspeakTts {
    /// Starts (once per process) the synthesis thread and checks the config.
    pub fn new(config: EspeakConfig) -> Result<Self, ProviderError> {
        if !(80..=450).contains(&config.rate_wpm) {
            return Err(ProviderError::Config(format!(
                "espeak rate_wpm {} is outside 80..=450",
                config.rate_wpm
            )));
        }
        if config.pitch > 100 {
            return Err(ProviderError::Config(format!(
                "espeak pitch {} is outside 0..=100",
                config.pitch
            )));
        }
        let sample_rate_hz = worker()?.sample_rate_hz;
        Ok(Self {
            config,
            sample_rate_hz,
        })
    }

    pub fn config(&self) -> &EspeakConfig {
        &self.config
    }

    /// Output sample rate reported by libespeak-ng (22050 Hz).
    pub fn sample_rate_hz(&self) -> u32 {
        self.sample_rate_hz
    }
}

#[async_trait::async_trait]
impl TextToSpeech for EspeakTts {
    async fn synthesize(
        &self,
        text: &str,
        voice: &str,
    ) -> Result<BoxStream<'static, Result<TtsChunk, ProviderError>>, ProviderError> {
        let voice = if voice.trim().is_empty() {
            self.config.voice.trim()
        } else {
            voice.trim()
        };
        let voice = CString::new(voice)
            .map_err(|_| ProviderError::Config("espeak voice name contains NUL".into()))?;
        if text.len() > ESPEAK_MAX_TEXT_BYTES {
            return Err(ProviderError::Config(format!(
                "text of {} bytes exceeds the {ESPEAK_MAX_TEXT_BYTES}-byte limit",
                text.len()
            )));
        }
        let (tx, rx) = mpsc::channel(ESPEAK_CHUNK_CHANNEL);
        if text.trim().is_empty() {
            return Ok(ChannelStream::from_receiver(rx).boxed()); // tx dropped: empty stream
        }
        let text = CString::new(text.replace('\0', " ")).expect("NULs removed");
        let job = Job {
            text,
            voice,
            rate_wpm: self.config.rate_wpm as c_int,
            pitch: self.config.pitch as c_int,
            tx,
        };
        worker()?
            .jobs
            .send(job)
            .await
            .map_err(|_| ProviderError::Engine("the espeak-ng thread has stopped".into()))?;
        Ok(ChannelStream::from_receiver(rx).boxed())
    }
}
