//! Textual value types: e-mail addresses, slugs, display names, host names.

use std::fmt;
use std::str::FromStr;

use super::sql::{serde_via_str, sql_text};

/// Display/Debug/as_str/TryFrom<&str>/sqlx/serde for a `struct T(String)`.
macro_rules! text_newtype {
    ($name:ident, $err:ty) => {
        impl $name {
            /// The parsed (normalised) text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<&str> for $name {
            type Error = $err;

            fn try_from(s: &str) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        sql_text!($name);
        serde_via_str!($name);
    };
}

/// Why a string is not an acceptable e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Empty after trimming.
    #[error("invalid email: empty")]
    Empty,
    /// More than 254 bytes.
    #[error("invalid email: {len} bytes, at most 254 allowed")]
    TooLong {
        /// Length after trimming, in bytes.
        len: usize,
    },
    /// Zero or several `@`.
    #[error("invalid email {input:?}: must contain exactly one '@'")]
    At {
        /// The rejected input.
        input: String,
    },
    /// Nothing before the `@`, or more than 64 bytes there.
    #[error("invalid email {input:?}: the part before '@' must be 1 to 64 characters")]
    Local {
        /// The rejected input.
        input: String,
    },
    /// Domain empty, without a dot, or with an empty label (`a..b`, `.a`).
    #[error("invalid email {input:?}: the domain must look like example.com")]
    Domain {
        /// The rejected input.
        input: String,
    },
    /// Whitespace or control characters inside.
    #[error("invalid email {input:?}: contains whitespace or control characters")]
    BadCharacter {
        /// The rejected input.
        input: String,
    },
}

/// An e-mail address, trimmed and lowercased (so it is the unique login
/// key): exactly one `@`, a non-empty local part of at most 64 bytes, a
/// domain with at least one dot and no empty labels, at most 254 bytes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl FromStr for Email {
    type Err = EmailError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let input = || s.to_owned();
        let email = s.trim().to_lowercase();
        if email.is_empty() {
            return Err(EmailError::Empty);
        }
        if email.len() > 254 {
            return Err(EmailError::TooLong { len: email.len() });
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(EmailError::BadCharacter { input: input() });
        }
        let mut parts = email.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(EmailError::At { input: input() });
        };
        if local.is_empty() || local.len() > 64 {
            return Err(EmailError::Local { input: input() });
        }
        if !domain.contains('.') || domain.split('.').any(str::is_empty) {
            return Err(EmailError::Domain { input: input() });
        }
        Ok(Self(email))
    }
}

text_newtype!(Email, EmailError);

/// Why a string is not a slug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    /// Empty or longer than 63 characters.
    #[error("invalid slug {input:?}: must be 1 to 63 characters")]
    Length {
        /// The rejected input.
        input: String,
    },
    /// A character outside `a-z`, `0-9`, `-`.
    #[error("invalid slug {input:?}: only lowercase letters a-z, digits and '-' are allowed")]
    Character {
        /// The rejected input.
        input: String,
    },
    /// Starts or ends with `-`.
    #[error("invalid slug {input:?}: cannot start or end with '-'")]
    Hyphen {
        /// The rejected input.
        input: String,
    },
}

/// A URL-safe identifier (tenant slug, plan name): 1 to 63 characters of
/// lowercase `a-z`, `0-9` and `-`, not starting or ending with `-`. Not
/// lowercased for you: `Acme` is rejected, so what is stored is what was
/// typed.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slug(String);

impl FromStr for Slug {
    type Err = SlugError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let input = || s.to_owned();
        if s.is_empty() || s.len() > 63 {
            return Err(SlugError::Length { input: input() });
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(SlugError::Character { input: input() });
        }
        if s.starts_with('-') || s.ends_with('-') {
            return Err(SlugError::Hyphen { input: input() });
        }
        Ok(Self(s.to_owned()))
    }
}

text_newtype!(Slug, SlugError);

/// Why a string is not an acceptable display name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Empty after trimming.
    #[error("invalid name: empty")]
    Empty,
    /// More than [`Name::MAX_CHARS`] characters.
    #[error("invalid name: {chars} characters, at most 100 allowed")]
    TooLong {
        /// Length in characters after trimming.
        chars: usize,
    },
    /// Control characters (newlines, tabs, …) inside.
    #[error("invalid name {input:?}: contains control characters")]
    Control {
        /// The rejected input.
        input: String,
    },
}

/// A human-readable name (tenant, agent, trunk, API key): trimmed, 1 to 100
/// characters, no control characters. Case and inner spaces are kept;
/// uniqueness is on the exact stored text.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(String);

impl Name {
    /// Maximum length in characters.
    pub const MAX_CHARS: usize = 100;
}

impl FromStr for Name {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        let chars = name.chars().count();
        if chars > Self::MAX_CHARS {
            return Err(NameError::TooLong { chars });
        }
        if name.chars().any(char::is_control) {
            return Err(NameError::Control {
                input: s.to_owned(),
            });
        }
        Ok(Self(name.to_owned()))
    }
}

text_newtype!(Name, NameError);

/// Why a string is not a host name or IP address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// Empty or longer than 253 bytes.
    #[error("invalid host {input:?}: must be 1 to 253 characters")]
    Length {
        /// The rejected input.
        input: String,
    },
    /// Not a DNS name, IPv4 address or bracketed IPv6 address.
    #[error("invalid host {input:?}: expected a DNS name (sip.example.com), an IPv4 address or an IPv6 address in brackets")]
    Syntax {
        /// The rejected input.
        input: String,
    },
}

/// A SIP trunk host: a DNS name (letters, digits, `-`, `_`, dot-separated,
/// no empty label, labels not starting or ending with `-`), an IPv4 address,
/// or an IPv6 address in brackets (`[2001:db8::1]`). Trimmed and lowercased.
/// The port is stored separately.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Host(String);

impl FromStr for Host {
    type Err = HostError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let input = || s.to_owned();
        let host = s.trim().to_ascii_lowercase();
        if host.is_empty() || host.len() > 253 {
            return Err(HostError::Length { input: input() });
        }
        let valid = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            inner.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
        };
        if valid {
            Ok(Self(host))
        } else {
            Err(HostError::Syntax { input: input() })
        }
    }
}

text_newtype!(Host, HostError);

/// Why [`check_free_text`] or [`check_line`] refuses a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// A NUL character (PostgreSQL `TEXT` cannot store it).
    #[error("must not contain NUL characters")]
    Nul,
    /// A control character in a single-line value.
    #[error("must not contain control characters")]
    Control,
    /// Longer than allowed.
    #[error("must be at most {max_chars} characters")]
    TooLong {
        /// The limit, in characters (Unicode scalar values).
        max_chars: usize,
    },
}

/// The check of multi-line free text (greetings, prompts), shared by the
/// API and the panel: no NUL character, at most `max_chars` characters
/// (Unicode scalar values). Newlines, tabs and other control characters
/// are kept.
pub fn check_free_text(value: &str, max_chars: usize) -> Result<(), TextError> {
    if value.contains('\0') {
        return Err(TextError::Nul);
    }
    check_length(value, max_chars)
}

/// The check of a single-line value (language tag, provider name, voice),
/// shared by the API and the panel: no control character (NUL, newline,
/// tab, …), at most `max_chars` characters.
pub fn check_line(value: &str, max_chars: usize) -> Result<(), TextError> {
    if value.contains('\0') {
        return Err(TextError::Nul);
    }
    if value.chars().any(char::is_control) {
        return Err(TextError::Control);
    }
    check_length(value, max_chars)
}

fn check_length(value: &str, max_chars: usize) -> Result<(), TextError> {
    if value.chars().count() > max_chars {
        return Err(TextError::TooLong { max_chars });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_normalises() {
        let e: Email = "  Alice.Smith+tag@Example.COM ".parse().unwrap();
        assert_eq!(e.as_str(), "alice.smith+tag@example.com");
        assert_eq!(e.to_string(), "alice.smith+tag@example.com");
        let e: Email = "a@b.co".parse().unwrap();
        assert_eq!(e.as_str(), "a@b.co");
    }

    #[test]
    fn email_rejects_bad_input() {
        assert_eq!("   ".parse::<Email>(), Err(EmailError::Empty));
        assert!(matches!(
            "alice".parse::<Email>(),
            Err(EmailError::At { .. })
        ));
        assert!(matches!(
            "a@b@c.com".parse::<Email>(),
            Err(EmailError::At { .. })
        ));
        assert!(matches!(
            "@example.com".parse::<Email>(),
            Err(EmailError::Local { .. })
        ));
        assert!(matches!(
            "alice@".parse::<Email>(),
            Err(EmailError::Domain { .. })
        ));
        assert!(matches!(
            "alice@localhost".parse::<Email>(),
            Err(EmailError::Domain { .. })
        ));
        assert!(matches!(
            "alice@example..com".parse::<Email>(),
            Err(EmailError::Domain { .. })
        ));
        assert!(matches!(
            "alice@example.com.".parse::<Email>(),
            Err(EmailError::Domain { .. })
        ));
        assert!(matches!(
            "al ice@example.com".parse::<Email>(),
            Err(EmailError::BadCharacter { .. })
        ));
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(matches!(
            long_local.parse::<Email>(),
            Err(EmailError::Local { .. })
        ));
        let long = format!("a@{}.com", "b".repeat(250));
        assert!(matches!(
            long.parse::<Email>(),
            Err(EmailError::TooLong { .. })
        ));
        let msg = "nope".parse::<Email>().unwrap_err().to_string();
        assert_eq!(msg, "invalid email \"nope\": must contain exactly one '@'");
    }

    #[test]
    fn email_serde_goes_through_parser() {
        let e: Email = serde_json::from_str("\"Bob@Example.com\"").unwrap();
        assert_eq!(e.as_str(), "bob@example.com");
        assert!(serde_json::from_str::<Email>("\"bob\"").is_err());
    }

    #[test]
    fn slug_accepts_valid() {
        for ok in ["acme", "a", "acme-corp-2", "0abc", &"a".repeat(63)] {
            assert_eq!(ok.parse::<Slug>().unwrap().as_str(), ok);
        }
    }

    #[test]
    fn slug_rejects_bad_input() {
        assert!(matches!("".parse::<Slug>(), Err(SlugError::Length { .. })));
        assert!(matches!(
            "a".repeat(64).parse::<Slug>(),
            Err(SlugError::Length { .. })
        ));
        assert!(matches!(
            "Acme".parse::<Slug>(),
            Err(SlugError::Character { .. })
        ));
        assert!(matches!(
            "acme corp".parse::<Slug>(),
            Err(SlugError::Character { .. })
        ));
        assert!(matches!(
            "acme_corp".parse::<Slug>(),
            Err(SlugError::Character { .. })
        ));
        assert!(matches!(
            "açme".parse::<Slug>(),
            Err(SlugError::Character { .. })
        ));
        assert!(matches!(
            "-acme".parse::<Slug>(),
            Err(SlugError::Hyphen { .. })
        ));
        assert!(matches!(
            "acme-".parse::<Slug>(),
            Err(SlugError::Hyphen { .. })
        ));
        assert!(serde_json::from_str::<Slug>("\"Bad\"").is_err());
    }

    #[test]
    fn free_text_and_lines() {
        assert_eq!(check_free_text("Hello,\r\nhow can I\thelp?", 30), Ok(()));
        assert_eq!(check_free_text("a\0b", 30), Err(TextError::Nul));
        assert_eq!(
            check_free_text(&"é".repeat(31), 30),
            Err(TextError::TooLong { max_chars: 30 })
        );
        assert_eq!(check_free_text(&"é".repeat(30), 30), Ok(()));
        assert_eq!(check_line("alloy", 10), Ok(()));
        assert_eq!(check_line("al\0loy", 10), Err(TextError::Nul));
        assert_eq!(check_line("al\nloy", 10), Err(TextError::Control));
        assert_eq!(
            check_line("en-US-but-too-long", 10),
            Err(TextError::TooLong { max_chars: 10 })
        );
    }

    #[test]
    fn name_trims_and_bounds() {
        assert_eq!(" Sales bot ".parse::<Name>().unwrap().as_str(), "Sales bot");
        assert_eq!(
            "Ünïcødé 名前".parse::<Name>().unwrap().as_str(),
            "Ünïcødé 名前"
        );
        assert_eq!(" \t ".parse::<Name>(), Err(NameError::Empty));
        assert_eq!(
            "é".repeat(101).parse::<Name>(),
            Err(NameError::TooLong { chars: 101 })
        );
        assert!("é".repeat(100).parse::<Name>().is_ok());
        assert!(matches!(
            "a\nb".parse::<Name>(),
            Err(NameError::Control { .. })
        ));
        assert!(serde_json::from_str::<Name>("\"\"").is_err());
    }

    #[test]
    fn host_accepts_names_and_addresses() {
        assert_eq!(
            "SIP.Example.com".parse::<Host>().unwrap().as_str(),
            "sip.example.com"
        );
        assert_eq!("10.0.0.1".parse::<Host>().unwrap().as_str(), "10.0.0.1");
        assert_eq!(
            "[2001:DB8::1]".parse::<Host>().unwrap().as_str(),
            "[2001:db8::1]"
        );
        assert_eq!(
            "_sip._udp.example.com".parse::<Host>().unwrap().as_str(),
            "_sip._udp.example.com"
        );
    }

    #[test]
    fn host_rejects_bad_input() {
        assert!(matches!("".parse::<Host>(), Err(HostError::Length { .. })));
        assert!(matches!(
            "a b".parse::<Host>(),
            Err(HostError::Syntax { .. })
        ));
        assert!(matches!(
            "example..com".parse::<Host>(),
            Err(HostError::Syntax { .. })
        ));
        assert!(matches!(
            "-bad.com".parse::<Host>(),
            Err(HostError::Syntax { .. })
        ));
        assert!(matches!(
            "host:5060".parse::<Host>(),
            Err(HostError::Syntax { .. })
        ));
        assert!(matches!(
            "[not-v6]".parse::<Host>(),
            Err(HostError::Syntax { .. })
        ));
        assert!(matches!(
            "2001:db8::1".parse::<Host>(),
            Err(HostError::Syntax { .. })
        ));
    }
}
