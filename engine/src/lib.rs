//! The Parla call engine: per-call actors driving a sans-IO conversation core,
//! STT/LLM/TTS providers behind traits, and per-turn latency metrics.

pub mod agent;
pub mod call;
pub mod chunker;
pub mod conversation;
pub mod metrics;
pub mod providers;
pub mod rtp_ports;
