//! The integration tests of this crate, in one test binary (one link, one
//! process per test under `cargo nextest`). Each module is one former test file.

mod support;

mod providers_config;
mod providers_config_values;
mod providers_deepgram;
mod providers_espeak;
mod providers_flow;
mod providers_openai_llm;
mod providers_openai_stt;
mod providers_openai_tts;
