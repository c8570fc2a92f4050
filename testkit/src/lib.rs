//! testkit
pub mod caller;
pub mod servers;
pub mod speech;
