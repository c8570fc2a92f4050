//! sip
pub mod dialog;
pub mod message;
pub mod register;
pub mod resolve;
pub mod sdp;
pub mod server;
pub mod transaction;
pub mod transport;
pub mod uac;
pub mod uas;
