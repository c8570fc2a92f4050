//! Phone number addresses: E.164 numbers and SIP URIs.

use std::fmt;
use std::str::FromStr;

use super::sql::{serde_via_str, sql_text};

/// Why a string is not an E.164 number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum E164Error {
    /// Does not start with `+`.
    #[error("invalid E.164 number {input:?}: must start with '+' followed by the country code")]
    MissingPlus {
        /// The rejected input.
        input: String,
    },
    /// Something other than a digit after the `+`.
    #[error("invalid E.164 number {input:?}: only digits may follow '+' (no spaces or dashes)")]
    NotDigits {
        /// The rejected input.
        input: String,
    },
    /// Fewer than 8 or more than 15 digits.
    #[error("invalid E.164 number {input:?}: {digits} digits, expected 8 to 15")]
    Length {
        /// The rejected input.
        input: String,
        /// How many digits it has.
        digits: usize,
    },
    /// The country code starts with 0.
    #[error("invalid E.164 number {input:?}: the first digit (country code) cannot be 0")]
    LeadingZero {
        /// The rejected input.
        input: String,
    },
}

/// An E.164 phone number: `+` then 8 to 15 digits, the first non-zero
/// (e.g. `+14155550100`). Surrounding whitespace is trimmed; nothing else is
/// normalised.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164(String);

impl E164 {
    /// The number with its leading `+`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without the `+`.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }
}

impl FromStr for E164 {
    type Err = E164Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let input = || s.to_owned();
        let trimmed = s.trim();
        let digits = trimmed
            .strip_prefix('+')
            .ok_or_else(|| E164Error::MissingPlus { input: input() })?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(E164Error::NotDigits { input: input() });
        }
        if !(8..=15).contains(&digits.len()) {
            return Err(E164Error::Length {
                input: input(),
                digits: digits.len(),
            });
        }
        if digits.starts_with('0') {
            return Err(E164Error::LeadingZero { input: input() });
        }
        Ok(Self(trimmed.to_owned()))
    }
}

impl TryFrom<&str> for E164 {
    type Error = E164Error;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E164({})", self.0)
    }
}

sql_text!(E164);
serde_via_str!(E164);

/// Why a string is not an acceptable SIP URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SipUriError {
    /// Neither `sip:` nor `sips:`.
    #[error("invalid SIP URI {input:?}: must start with sip: or sips:")]
    Scheme {
        /// The rejected input.
        input: String,
    },
    /// Not `user@host` with both parts non-empty and a single `@`.
    #[error("invalid SIP URI {input:?}: expected user@host after the scheme")]
    UserHost {
        /// The rejected input.
        input: String,
    },
    /// Whitespace, control characters, or `<>"` (a name-addr, not a URI).
    #[error("invalid SIP URI {input:?}: contains whitespace, control characters or <>\"")]
    BadCharacter {
        /// The rejected input.
        input: String,
    },
    /// Longer than 255 bytes.
    #[error("invalid SIP URI: {len} bytes, at most 255 allowed")]
    TooLong {
        /// Length of the input in bytes.
        len: usize,
    },
}

/// A SIP URI naming a phone number or endpoint: `sip:user@host` or
/// `sips:user@host`, optionally with `:port` and `;params` after the host.
/// Validated lightly (see [`SipUriError`]). Normalised: the scheme and
/// everything after the `@` are lowercased (hosts are case-insensitive); the
/// user part is kept as given (it is case-sensitive in SIP).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SipUri(String);

impl SipUri {
    /// The normalised URI text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The user part (between the scheme and the `@`).
    pub fn user(&self) -> &str {
        let rest = self.0.split_once(':').map_or("", |(_, rest)| rest);
        rest.split_once('@').map_or("", |(user, _)| user)
    }

    /// Everything after the `@` (host, optional port and parameters).
    pub fn host(&self) -> &str {
        self.0.split_once('@').map_or("", |(_, host)| host)
    }
}

impl FromStr for SipUri {
    type Err = SipUriError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let input = || s.to_owned();
        let trimmed = s.trim();
        if trimmed.len() > 255 {
            return Err(SipUriError::TooLong { len: trimmed.len() });
        }
        let (scheme, rest) = trimmed
            .split_once(':')
            .ok_or_else(|| SipUriError::Scheme { input: input() })?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "sip" && scheme != "sips" {
            return Err(SipUriError::Scheme { input: input() });
        }
        if rest
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'))
        {
            return Err(SipUriError::BadCharacter { input: input() });
        }
        let (user, host) = rest
            .split_once('@')
            .ok_or_else(|| SipUriError::UserHost { input: input() })?;
        if user.is_empty()
            || host.is_empty()
            || host.contains('@')
            || host.starts_with([':', ';', '.'])
        {
            return Err(SipUriError::UserHost { input: input() });
        }
        Ok(Self(format!(
            "{scheme}:{user}@{}",
            host.to_ascii_lowercase()
        )))
    }
}

impl TryFrom<&str> for SipUri {
    type Error = SipUriError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SipUri({})", self.0)
    }
}

sql_text!(SipUri);
serde_via_str!(SipUri);

/// Why a string is neither an E.164 number nor a SIP URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberAddressError {
    /// Started with `+` but is not valid E.164.
    #[error(transparent)]
    E164(#[from] E164Error),
    /// Started with `sip:`/`sips:` but is not a valid SIP URI.
    #[error(transparent)]
    SipUri(#[from] SipUriError),
    /// Neither form.
    #[error("invalid phone number {input:?}: expected an E.164 number (+14155550100) or a SIP URI (sip:user@host)")]
    Unrecognised {
        /// The rejected input.
        input: String,
    },
}

/// The address a phone number is dialled at: an E.164 number or a SIP URI.
/// Stored as its text form, which is unique across all tenants (a dialled
/// number routes to exactly one tenant).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NumberAddress {
    /// `+14155550100`
    E164(E164),
    /// `sip:support@example.com`
    SipUri(SipUri),
}

impl NumberAddress {
    /// The stored text form (E.164 with `+`, or the normalised SIP URI).
    pub fn as_str(&self) -> &str {
        match self {
            Self::E164(n) => n.as_str(),
            Self::SipUri(u) => u.as_str(),
        }
    }
}

impl From<E164> for NumberAddress {
    fn from(n: E164) -> Self {
        Self::E164(n)
    }
}

impl From<SipUri> for NumberAddress {
    fn from(u: SipUri) -> Self {
        Self::SipUri(u)
    }
}

impl FromStr for NumberAddress {
    type Err = NumberAddressError;

    /// `+…` parses as E.164, `sip:`/`sips:` (any case) as a SIP URI.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim_start();
        let lower_prefix = trimmed.get(..5).unwrap_or(trimmed).to_ascii_lowercase();
        if trimmed.starts_with('+') {
            Ok(Self::E164(s.parse()?))
        } else if lower_prefix.starts_with("sip:") || lower_prefix.starts_with("sips:") {
            Ok(Self::SipUri(s.parse()?))
        } else {
            Err(NumberAddressError::Unrecognised {
                input: s.to_owned(),
            })
        }
    }
}

impl TryFrom<&str> for NumberAddress {
    type Error = NumberAddressError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for NumberAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for NumberAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::E164(n) => fmt::Debug::fmt(n, f),
            Self::SipUri(u) => fmt::Debug::fmt(u, f),
        }
    }
}

sql_text!(NumberAddress);
serde_via_str!(NumberAddress);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_accepts_valid_numbers() {
        for ok in [
            "+14155550100",
            "+4930123456",
            "+12345678",
            "+123456789012345",
        ] {
            let n: E164 = ok.parse().unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(n.to_string(), ok);
        }
        let n: E164 = "  +14155550100\n".parse().unwrap();
        assert_eq!(n.as_str(), "+14155550100");
        assert_eq!(n.digits(), "14155550100");
    }

    #[test]
    fn e164_rejects_bad_numbers() {
        assert!(matches!(
            "14155550100".parse::<E164>(),
            Err(E164Error::MissingPlus { .. })
        ));
        assert!(matches!(
            "+1 415 555 0100".parse::<E164>(),
            Err(E164Error::NotDigits { .. })
        ));
        assert!(matches!(
            "+1415-5550100".parse::<E164>(),
            Err(E164Error::NotDigits { .. })
        ));
        assert!(matches!(
            "+1234567".parse::<E164>(),
            Err(E164Error::Length { digits: 7, .. })
        ));
        assert!(matches!(
            "+1234567890123456".parse::<E164>(),
            Err(E164Error::Length { digits: 16, .. })
        ));
        assert!(matches!(
            "+04155550100".parse::<E164>(),
            Err(E164Error::LeadingZero { .. })
        ));
        assert!(matches!(
            "+".parse::<E164>(),
            Err(E164Error::Length { digits: 0, .. })
        ));
        assert!("+١٢٣٤٥٦٧٨٩".parse::<E164>().is_err(), "non-ASCII digits");
        let err = "+0123456789".parse::<E164>().unwrap_err().to_string();
        assert!(
            err.contains("\"+0123456789\"") && err.contains("cannot be 0"),
            "{err}"
        );
    }

    #[test]
    fn sip_uri_accepts_and_normalises() {
        let u: SipUri = "SIP:Alice@Example.COM:5061;transport=TLS".parse().unwrap();
        assert_eq!(u.as_str(), "sip:Alice@example.com:5061;transport=tls");
        assert_eq!(u.user(), "Alice");
        assert_eq!(u.host(), "example.com:5061;transport=tls");
        let s: SipUri = "sips:+14155550100@pbx.example.org".parse().unwrap();
        assert_eq!(s.to_string(), "sips:+14155550100@pbx.example.org");
    }

    #[test]
    fn sip_uri_rejects_bad_input() {
        assert!(matches!(
            "tel:+14155550100".parse::<SipUri>(),
            Err(SipUriError::Scheme { .. })
        ));
        assert!(matches!(
            "http://x@y".parse::<SipUri>(),
            Err(SipUriError::Scheme { .. })
        ));
        assert!(matches!(
            "sip:example.com".parse::<SipUri>(),
            Err(SipUriError::UserHost { .. })
        ));
        assert!(matches!(
            "sip:@example.com".parse::<SipUri>(),
            Err(SipUriError::UserHost { .. })
        ));
        assert!(matches!(
            "sip:alice@".parse::<SipUri>(),
            Err(SipUriError::UserHost { .. })
        ));
        assert!(matches!(
            "sip:a@b@c".parse::<SipUri>(),
            Err(SipUriError::UserHost { .. })
        ));
        assert!(matches!(
            "sip:al ice@example.com".parse::<SipUri>(),
            Err(SipUriError::BadCharacter { .. })
        ));
        assert!(matches!(
            "sip:<alice@example.com>".parse::<SipUri>(),
            Err(SipUriError::BadCharacter { .. })
        ));
        let long = format!("sip:{}@example.com", "a".repeat(260));
        assert!(matches!(
            long.parse::<SipUri>(),
            Err(SipUriError::TooLong { .. })
        ));
    }

    #[test]
    fn number_address_dispatches_on_form() {
        let e: NumberAddress = "+14155550100".parse().unwrap();
        assert!(matches!(e, NumberAddress::E164(_)));
        assert_eq!(e.as_str(), "+14155550100");
        let s: NumberAddress = "Sips:bob@Example.com".parse().unwrap();
        assert!(matches!(s, NumberAddress::SipUri(_)));
        assert_eq!(s.to_string(), "sips:bob@example.com");

        assert!(matches!(
            "4155550100".parse::<NumberAddress>(),
            Err(NumberAddressError::Unrecognised { .. })
        ));
        assert!(matches!(
            "+1".parse::<NumberAddress>(),
            Err(NumberAddressError::E164(E164Error::Length { .. }))
        ));
        assert!(matches!(
            "sip:nobody".parse::<NumberAddress>(),
            Err(NumberAddressError::SipUri(SipUriError::UserHost { .. }))
        ));
        assert!("".parse::<NumberAddress>().is_err());
        let msg = "hello".parse::<NumberAddress>().unwrap_err().to_string();
        assert!(msg.contains("E.164") && msg.contains("SIP URI"), "{msg}");
    }

    #[test]
    fn serde_rejects_bad_values() {
        let e: NumberAddress = serde_json::from_str("\"+14155550100\"").unwrap();
        assert_eq!(serde_json::to_string(&e).unwrap(), "\"+14155550100\"");
        let err = serde_json::from_str::<E164>("\"+0155\"").unwrap_err();
        assert!(err.to_string().contains("invalid E.164"), "{err}");
        assert!(serde_json::from_str::<NumberAddress>("\"sip:x\"").is_err());
        assert!(serde_json::from_str::<SipUri>("12").is_err());
    }
}
