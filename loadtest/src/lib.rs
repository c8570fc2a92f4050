//! `parla-loadtest`: a load-testing harness for SIP voice agents. It places
//! calls over real SIP (UDP) and RTP with the testkit caller and measures
//! what callers experience — call setup, greeting latency, voice-to-voice
//! latency, barge-in stop time, RTP loss / reordering / jitter, failures by
//! reason — plus the target's CPU and memory; and it runs provider
//! simulators (OpenAI-compatible STT/LLM/TTS, Deepgram STT) with injected
//! latencies so the report can separate engine overhead from provider time.
//!
//! The binary is a thin CLI over [`runner::run`] and [`providers::Providers`].

pub mod dist;
pub mod plots;
pub mod providers;
pub mod report;
pub mod runner;
pub mod sysmon;
pub mod wav;

pub use providers::{ProviderStats, Providers, ProvidersConfig};
pub use report::{Percentiles, Summary};
pub use runner::{run, Mode, RunConfig};
