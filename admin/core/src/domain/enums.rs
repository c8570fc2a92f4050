//! Closed sets of values, stored as snake_case TEXT and validated here,
//! when parsing input and when decoding a stored value (see `sql_text!` in
//! `sql.rs`). Enum columns stay additive: the schema lists no values for
//! [`CallStatus`], [`Direction`] and [`Role`] (migration 0003), so a new
//! variant needs no migration. (The tenant and user status and the trunk
//! transport columns still carry the CHECK lists of migration 0001.)

use std::fmt;
use std::str::FromStr;

use super::sql::{serde_via_str, sql_text};

/// An unknown value for one of the enums below.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {input:?}: expected one of {}", .expected.join(", "))]
pub struct EnumError {
    /// Which enum was being parsed (e.g. "role").
    pub kind: &'static str,
    /// The rejected input.
    pub input: String,
    /// The accepted spellings.
    pub expected: &'static [&'static str],
}

macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $kind:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored / serialized spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text ),+
                }
            }
        }

        impl FromStr for $name {
            type Err = EnumError;

            /// Exact, case-sensitive match on the snake_case spelling.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $text => Ok($name::$variant), )+
                    _ => Err(EnumError {
                        kind: $kind,
                        input: s.to_owned(),
                        expected: &[$($text),+],
                    }),
                }
            }
        }

        impl TryFrom<&str> for $name {
            type Error = EnumError;

            fn try_from(s: &str) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        sql_text!($name);
        serde_via_str!($name);
    };
}

text_enum!(
    /// What a user may do. `SuperAdmin` is global (its membership has no
    /// tenant); `Admin` and `Agent` are per tenant (see [`TenantRole`]).
    Role, "role" {
        /// Operates the whole platform; the only role that may delete.
        SuperAdmin => "super_admin",
        /// Manages one tenant.
        Admin => "admin",
        /// Works inside one tenant (calls, read-only configuration).
        Agent => "agent",
    }
);

text_enum!(
    /// The roles a user can hold inside a tenant (a [`Role`] without
    /// `SuperAdmin`, which is global).
    TenantRole, "tenant role" {
        /// Manages the tenant.
        Admin => "admin",
        /// Works inside the tenant.
        Agent => "agent",
    }
);

impl From<TenantRole> for Role {
    fn from(role: TenantRole) -> Self {
        match role {
            TenantRole::Admin => Role::Admin,
            TenantRole::Agent => Role::Agent,
        }
    }
}

text_enum!(
    /// Whether a tenant may operate.
    TenantStatus, "tenant status" {
        /// Normal operation.
        Active => "active",
        /// Calls and logins refused; data kept.
        Suspended => "suspended",
    }
);

text_enum!(
    /// Whether a user may log in.
    UserStatus, "user status" {
        /// May log in.
        Active => "active",
        /// Login refused.
        Disabled => "disabled",
    }
);

text_enum!(
    /// Which side placed a call.
    Direction, "direction" {
        /// The caller dialled one of the tenant's numbers.
        Inbound => "inbound",
        /// The agent dialled out.
        Outbound => "outbound",
    }
);

text_enum!(
    /// Lifecycle of a call. `Queued`, `Dialing`, `Ringing` and
    /// `InProgress` are live; the others are final. An outbound call goes
    /// `queued → dialing → ringing → in_progress → completed`, or ends
    /// `busy`, `no_answer`, `failed` or `canceled`.
    CallStatus, "call status" {
        /// Set up, not answered yet (inbound: 180 sent; outbound: 18x
        /// received).
        Ringing => "ringing",
        /// Answered and connected.
        InProgress => "in_progress",
        /// Ended normally after being answered.
        Completed => "completed",
        /// Ended by an error (SIP failure, media failure, …).
        Failed => "failed",
        /// Never answered.
        NoAnswer => "no_answer",
        /// The callee was busy.
        Busy => "busy",
        /// Outbound: accepted by the API, the INVITE not sent yet.
        Queued => "queued",
        /// Outbound: the INVITE was sent, no ringing yet.
        Dialing => "dialing",
        /// Outbound: canceled (`DELETE`) before the answer.
        Canceled => "canceled",
    }
);

impl CallStatus {
    /// `true` for `Queued`, `Dialing`, `Ringing` and `InProgress` (the
    /// call has not ended).
    pub fn is_live(self) -> bool {
        matches!(
            self,
            CallStatus::Queued | CallStatus::Dialing | CallStatus::Ringing | CallStatus::InProgress
        )
    }

    /// `true` for the live statuses before the answer (`Queued`,
    /// `Dialing`, `Ringing`): an outbound call may still be canceled.
    pub fn is_unanswered(self) -> bool {
        matches!(
            self,
            CallStatus::Queued | CallStatus::Dialing | CallStatus::Ringing
        )
    }
}

text_enum!(
    /// SIP transport of a trunk.
    Transport, "transport" {
        /// SIP over UDP.
        Udp => "udp",
        /// SIP over TCP.
        Tcp => "tcp",
        /// SIP over TLS.
        Tls => "tls",
    }
);

text_enum!(
    /// Who spoke a transcript turn.
    Speaker, "speaker" {
        /// The remote party (the person on the phone).
        Caller => "caller",
        /// The voice agent.
        Agent => "agent",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T>(all: &[T])
    where
        T: Copy + fmt::Display + FromStr + PartialEq + fmt::Debug + serde::Serialize,
        T: serde::de::DeserializeOwned,
        <T as FromStr>::Err: fmt::Debug,
    {
        for v in all {
            let text = v.to_string();
            assert_eq!(text.parse::<T>().unwrap(), *v);
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), *v);
        }
    }

    #[test]
    fn all_enums_round_trip() {
        round_trip(Role::ALL);
        round_trip(TenantRole::ALL);
        round_trip(TenantStatus::ALL);
        round_trip(UserStatus::ALL);
        round_trip(Direction::ALL);
        round_trip(CallStatus::ALL);
        round_trip(Transport::ALL);
        round_trip(Speaker::ALL);
    }

    #[test]
    fn spellings_are_snake_case() {
        assert_eq!(Role::SuperAdmin.to_string(), "super_admin");
        assert_eq!(CallStatus::InProgress.as_str(), "in_progress");
        assert_eq!(CallStatus::NoAnswer.as_str(), "no_answer");
        assert_eq!(serde_json::to_string(&Role::Admin).unwrap(), "\"admin\"");
    }

    #[test]
    fn unknown_values_are_rejected_with_the_choices() {
        let err = "root".parse::<Role>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid role \"root\": expected one of super_admin, admin, agent"
        );
        assert!("SuperAdmin".parse::<Role>().is_err(), "case-sensitive");
        assert!("Admin".parse::<TenantRole>().is_err());
        assert!("super_admin".parse::<TenantRole>().is_err());
        assert!("deleted".parse::<TenantStatus>().is_err());
        assert!("banned".parse::<UserStatus>().is_err());
        assert!("sideways".parse::<Direction>().is_err());
        assert!("inprogress".parse::<CallStatus>().is_err());
        assert!("sctp".parse::<Transport>().is_err());
        assert!("UDP".parse::<Transport>().is_err());
        assert!("".parse::<Speaker>().is_err());
        let err = serde_json::from_str::<Transport>("\"ws\"").unwrap_err();
        assert!(
            err.to_string().contains("expected one of udp, tcp, tls"),
            "{err}"
        );
    }

    #[test]
    fn live_statuses() {
        let live: Vec<_> = CallStatus::ALL.iter().filter(|s| s.is_live()).collect();
        assert_eq!(
            live,
            [
                &CallStatus::Ringing,
                &CallStatus::InProgress,
                &CallStatus::Queued,
                &CallStatus::Dialing
            ]
        );
        assert_eq!(Role::from(TenantRole::Admin), Role::Admin);
        assert_eq!(Role::from(TenantRole::Agent), Role::Agent);
    }
}
