//! sip
pub mod transaction;
pub mod message;
pub mod dialog;
pub mod uas;
pub mod sdp;
pub mod transport;
pub mod server;
