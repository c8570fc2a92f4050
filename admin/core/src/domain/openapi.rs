//! OpenAPI schemas of the domain value types, as they are serialized:
//! ids are UUID v7 strings, timestamps integers of unix milliseconds,
//! enums their snake_case spellings, text newtypes strings.
//!
//! The impls live here, in one place rather than beside each type (utoipa's
//! traits must be implemented in the crate that defines the types, so this
//! stays in core; the document itself is built in `parla-admin-web`); the
//! enum values come from each enum's `ALL` list, so a new variant is
//! documented automatically.

use std::borrow::Cow;

use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{KnownFormat, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::{
    AgentId, ApiKeyId, AuditId, CallId, CallStatus, Direction, Email, Host, Name, NumberAddress,
    NumberId, Role, SipStatus, Slug, Speaker, TenantId, TenantRole, TenantStatus, Timestamp,
    Transport, TrunkId, UserId, UserStatus,
};

/// `impl ToSchema` named `$name` whose schema is `$schema`.
macro_rules! schema {
    ($ty:ty, $name:expr, $schema:expr) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                $schema.into()
            }
        }

        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

/// Control characters (Unicode Cc), as a regex class body.
macro_rules! cc {
    () => {
        r"\x00-\x1f\x7f-\x9f"
    };
}

/// Optional surrounding whitespace (trimmed), then 1 to 100 characters
/// without control characters that start and end with a non-space.
const NAME_PATTERN: &str = concat!(
    r"^\s*[^\s",
    cc!(),
    r"](?:[^",
    cc!(),
    r"]{0,98}[^\s",
    cc!(),
    r"])?\s*$"
);

/// Optional surrounding whitespace (trimmed), then `+` and 8 to 15 digits
/// without a leading zero, or `sip:`/`sips:` user@host without spaces,
/// control characters, `<`, `>` or `"`, the host not starting with `:`,
/// `;` or `.`.
const NUMBER_ADDRESS_PATTERN: &str = concat!(
    r"^\s*(?:\+[1-9][0-9]{7,14}|[sS][iI][pP][sS]?:",
    r#"[^\s<>"@"#,
    cc!(),
    r"]+@",
    r#"[^\s<>"@:;."#,
    cc!(),
    r"]",
    r#"[^\s<>"@"#,
    cc!(),
    r"]*)\s*$"
);

fn string(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
}

fn uuid(kind: &str) -> ObjectBuilder {
    string(&format!("{kind} (UUID v7, lowercase hyphenated)"))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
}

macro_rules! uuid_schemas {
    ($($ty:ident => $kind:literal),+ $(,)?) => {
        $( schema!($ty, stringify!($ty), uuid($kind)); )+
    };
}

uuid_schemas!(
    TenantId => "Tenant id",
    UserId => "User id",
    AgentId => "Voice agent id",
    NumberId => "Phone number id",
    TrunkId => "SIP trunk id",
    CallId => "Call record id",
    ApiKeyId => "API key id",
    AuditId => "Audit entry id",
);

/// A string enum listing `values`.
fn one_of(description: &str, values: impl Iterator<Item = &'static str>) -> ObjectBuilder {
    string(description).enum_values(Some(values))
}

macro_rules! enum_schemas {
    ($($ty:ident => $description:literal),+ $(,)?) => {
        $( schema!($ty, stringify!($ty), one_of($description, $ty::ALL.iter().map(|v| v.as_str()))); )+
    };
}

enum_schemas!(
    Role => "Role of a user (super_admin is global)",
    TenantRole => "Role of a user inside a tenant",
    TenantStatus => "Whether a tenant may operate",
    UserStatus => "Whether a user may log in",
    Direction => "Which side placed the call",
    CallStatus => "Lifecycle of a call (ringing and in_progress are live)",
    Transport => "SIP transport",
    Speaker => "Who spoke a transcript turn",
);

schema!(
    Timestamp,
    "Timestamp",
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .description(Some("Milliseconds since the unix epoch (UTC)"))
);

schema!(
    SipStatus,
    "SipStatus",
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(100))
        .maximum(Some(699))
        .description(Some("SIP response status code"))
);

schema!(
    Name,
    "Name",
    string("Display name: 1 to 100 characters (surrounding whitespace is trimmed), no control characters")
        .pattern(Some(NAME_PATTERN))
);
schema!(
    Slug,
    "Slug",
    string("Lowercase letters, digits and '-', 1 to 63 characters")
        .pattern(Some("^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"))
);
schema!(
    Email,
    "Email",
    string("E-mail address (at most 254 bytes)")
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
);
schema!(Host, "Host", string("Host name or IP address"));
schema!(
    NumberAddress,
    "NumberAddress",
    string("E.164 number (`+14155550100`) or SIP URI (`sip:support@example.com`)")
        .pattern(Some(NUMBER_ADDRESS_PATTERN))
);
