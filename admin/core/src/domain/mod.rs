//! Domain types of the admin plane. They *parse* rather than validate: a
//! value of one of these types is well-formed by construction (via
//! `FromStr` / `TryFrom<&str>` / serde, which all go through the same
//! parser), so the store and the API never re-check them.
//!
//! Every type knows how to bind to and decode from both database backends
//! (TEXT for strings, identifiers, enums and JSON; BIGINT for timestamps,
//! money and status codes); decoding re-parses, so a corrupt row is an
//! error, never an invalid value. Each also has its OpenAPI schema
//! (`openapi`: utoipa's `ToSchema`, as it is serialized).

mod call;
mod clock;
mod enums;
mod ids;
mod json;
mod money;
mod opaque;
mod openapi;
mod phone;
mod sql;
mod text;
mod time;

pub use call::{SipStatus, SipStatusError, TranscriptTurn, TurnLatency};
pub use clock::{system_clock, Clock, ManualClock, SharedClock, SystemClock};
pub use enums::{
    CallStatus, Direction, EnumError, Role, Speaker, TenantRole, TenantStatus, Transport,
    UserStatus,
};
pub use ids::{AgentId, ApiKeyId, AuditId, CallId, IdError, NumberId, TenantId, TrunkId, UserId};
pub use json::JsonText;
pub use money::{Cents, CentsError};
pub use opaque::Opaque;
pub use phone::{E164Error, NumberAddress, NumberAddressError, SipUri, SipUriError, E164};
pub use text::{
    check_free_text, check_line, Email, EmailError, Host, HostError, Name, NameError, Slug,
    SlugError, TextError,
};
pub use time::{Timestamp, TimestampError};
