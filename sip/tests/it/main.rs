//! The integration tests of this crate, in one test binary (one link, one
//! process per test under `cargo nextest`). Each module is one former test file.

mod register_sipp;
mod resolve_dns;
mod sdp;
mod torture;
mod uac_sipp;
mod uas_sipp;
mod uas_tcp;
