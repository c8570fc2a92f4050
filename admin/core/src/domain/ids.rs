//! Identifiers: UUID v7 newtypes (time-ordered, so primary-key indexes stay
//! append-friendly), stored as lowercase hyphenated TEXT
//! (`0190f3c2-7b1e-7c3a-9d4e-2f1a6b8c9d0e`).

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use super::sql::{serde_via_str, sql_text};

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Not a UUID at all.
    #[error("invalid {kind} {input:?}: not a UUID")]
    Malformed {
        /// Which identifier was being parsed (e.g. "tenant id").
        kind: &'static str,
        /// The rejected input.
        input: String,
    },
    /// A UUID, but not version 7.
    #[error("invalid {kind} {input:?}: UUID version {version}, expected version 7")]
    WrongVersion {
        /// Which identifier was being parsed (e.g. "tenant id").
        kind: &'static str,
        /// The rejected input.
        input: String,
        /// The version found in the UUID (0 for the nil UUID).
        version: usize,
    },
}

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh UUID v7 (millisecond timestamp + random bits).
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID; only version 7 is accepted.
            pub fn from_uuid(uuid: Uuid) -> Result<Self, IdError> {
                if uuid.get_version_num() == 7 {
                    Ok(Self(uuid))
                } else {
                    Err(IdError::WrongVersion {
                        kind: $kind,
                        input: uuid.to_string(),
                        version: uuid.get_version_num(),
                    })
                }
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            /// Accepts any textual UUID form `uuid` understands (hyphenated,
            /// simple, braced, URN); the UUID must be version 7.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let uuid = Uuid::try_parse(s.trim()).map_err(|_| IdError::Malformed {
                    kind: $kind,
                    input: s.to_owned(),
                })?;
                Self::from_uuid(uuid).map_err(|err| match err {
                    IdError::WrongVersion { version, .. } => IdError::WrongVersion {
                        kind: $kind,
                        input: s.to_owned(),
                        version,
                    },
                    other => other,
                })
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;

            fn try_from(s: &str) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl fmt::Display for $name {
            /// Lowercase hyphenated form, as stored.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        sql_text!($name);
        serde_via_str!($name);
    };
}

uuid_id!(
    /// Identifies a tenant (a customer organisation).
    TenantId,
    "tenant id"
);
uuid_id!(
    /// Identifies a user (a login; may belong to several tenants).
    UserId,
    "user id"
);
uuid_id!(
    /// Identifies a voice agent configuration.
    AgentId,
    "agent id"
);
uuid_id!(
    /// Identifies a phone number (E.164 or SIP URI) owned by a tenant.
    NumberId,
    "number id"
);
uuid_id!(
    /// Identifies a SIP trunk.
    TrunkId,
    "trunk id"
);
uuid_id!(
    /// Identifies a call record.
    CallId,
    "call id"
);
uuid_id!(
    /// Identifies an API key (not the key itself: the secret is never stored).
    ApiKeyId,
    "api key id"
);
uuid_id!(
    /// Identifies an audit log entry.
    AuditId,
    "audit id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_v7_and_round_trip() {
        let id = TenantId::generate();
        assert_eq!(id.as_uuid().get_version_num(), 7);
        let text = id.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(text.parse::<TenantId>().unwrap(), id);
        assert_eq!(TenantId::try_from(text.as_str()).unwrap(), id);
    }

    #[test]
    fn accepts_other_textual_forms_and_normalises() {
        let id = UserId::generate();
        let simple = id.as_uuid().simple().to_string().to_uppercase();
        let parsed: UserId = simple.parse().unwrap();
        assert_eq!(parsed, id);
        assert_eq!(parsed.to_string(), id.as_uuid().hyphenated().to_string());
    }

    #[test]
    fn rejects_garbage_with_clear_message() {
        let err = "not-a-uuid".parse::<AgentId>().unwrap_err();
        assert!(matches!(
            err,
            IdError::Malformed {
                kind: "agent id",
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            "invalid agent id \"not-a-uuid\": not a UUID"
        );
        assert!("".parse::<CallId>().is_err());
    }

    #[test]
    fn rejects_other_uuid_versions() {
        let v4 = "f47ac10b-58cc-4372-a567-0e02b2c3d479";
        let err = v4.parse::<NumberId>().unwrap_err();
        assert_eq!(
            err,
            IdError::WrongVersion {
                kind: "number id",
                input: v4.to_owned(),
                version: 4
            }
        );
        assert!(err.to_string().contains("expected version 7"));
        let nil = "00000000-0000-0000-0000-000000000000";
        assert!(nil.parse::<TrunkId>().is_err());
    }

    #[test]
    fn serde_goes_through_the_parser() {
        let id = CallId::generate();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<CallId>(&json).unwrap(), id);
        let err =
            serde_json::from_str::<CallId>("\"f47ac10b-58cc-4372-a567-0e02b2c3d479\"").unwrap_err();
        assert!(err.to_string().contains("expected version 7"), "{err}");
        assert!(serde_json::from_str::<CallId>("42").is_err());
    }
}
