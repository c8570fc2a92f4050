//! The integration tests of this crate, in one test binary (one link, one
//! process per test under `cargo nextest`). Each module is one former test file.

mod support;

mod admin_e2e;
mod amd_cli;
mod bad_input;
mod call_flow;
mod concurrency;
mod lifecycle;
mod live_calls;
mod originate;
mod providers_e2e;
mod security_agents;
mod security_egress;
mod security_limits;
mod sipp_call;
