//! Money amounts in integer cents (no floating point anywhere).

use std::fmt;
use std::str::FromStr;

use super::sql::sql_i64;

/// An amount of money in cents (1/100 of the currency unit), signed so
/// credits and refunds are representable. Serialized as a JSON integer of
/// cents; `Display`/`FromStr` use the decimal form (`"12.34"`, `"-0.50"`).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Cents(pub i64);

impl Cents {
    /// Zero.
    pub const ZERO: Cents = Cents(0);

    /// `self + other`, `None` on overflow.
    pub fn checked_add(self, other: Cents) -> Option<Cents> {
        self.0.checked_add(other.0).map(Cents)
    }

    /// `self - other`, `None` on overflow.
    pub fn checked_sub(self, other: Cents) -> Option<Cents> {
        self.0.checked_sub(other.0).map(Cents)
    }
}

impl From<Cents> for i64 {
    fn from(c: Cents) -> Self {
        c.0
    }
}

impl From<i64> for Cents {
    fn from(c: i64) -> Self {
        Cents(c)
    }
}

/// A string that is not a decimal money amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CentsError {
    /// Not `[-]digits[.d[d]]`.
    #[error("invalid amount {input:?}: expected a decimal like 12.34 (at most 2 decimals)")]
    Syntax {
        /// The rejected input.
        input: String,
    },
    /// Does not fit in 64-bit cents.
    #[error("invalid amount {input:?}: too large")]
    Overflow {
        /// The rejected input.
        input: String,
    },
}

impl FromStr for Cents {
    type Err = CentsError;

    /// Parses `12`, `12.3`, `12.34`, `-0.05`, `+1.00`. No thousands
    /// separators, no currency symbols, at most two decimals.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || CentsError::Syntax {
            input: s.to_owned(),
        };
        let overflow = || CentsError::Overflow {
            input: s.to_owned(),
        };
        let t = s.trim();
        let (negative, t) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
        let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 2 {
            return Err(syntax());
        }
        if t.contains('.') && frac.is_empty() {
            return Err(syntax());
        }
        let whole: i64 = whole.parse().map_err(|_| overflow())?;
        let frac: i64 = match frac.len() {
            0 => 0,
            1 => frac.parse::<i64>().map_err(|_| syntax())? * 10,
            _ => frac.parse::<i64>().map_err(|_| syntax())?,
        };
        let cents = whole
            .checked_mul(100)
            .and_then(|c| c.checked_add(frac))
            .ok_or_else(overflow)?;
        Ok(Cents(if negative { -cents } else { cents }))
    }
}

impl TryFrom<&str> for Cents {
    type Error = CentsError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for Cents {
    /// Decimal form with exactly two decimals: `12.34`, `-0.05`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

sql_i64!(Cents);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimal_amounts() {
        assert_eq!("12.34".parse::<Cents>().unwrap(), Cents(1234));
        assert_eq!("12".parse::<Cents>().unwrap(), Cents(1200));
        assert_eq!("12.3".parse::<Cents>().unwrap(), Cents(1230));
        assert_eq!("-0.05".parse::<Cents>().unwrap(), Cents(-5));
        assert_eq!("+1.00".parse::<Cents>().unwrap(), Cents(100));
        assert_eq!(" 0 ".parse::<Cents>().unwrap(), Cents::ZERO);
    }

    #[test]
    fn rejects_bad_amounts() {
        for bad in [
            "", "-", "1.234", "1.", ".5", "1,000", "$5", "1e3", "abc", "1.-5", "--1",
        ] {
            assert!(
                matches!(bad.parse::<Cents>(), Err(CentsError::Syntax { .. })),
                "{bad:?} should be rejected"
            );
        }
        assert!(matches!(
            "99999999999999999999".parse::<Cents>(),
            Err(CentsError::Overflow { .. })
        ));
        assert!(matches!(
            "92233720368547758.08".parse::<Cents>(),
            Err(CentsError::Overflow { .. })
        ));
        let msg = "1.234".parse::<Cents>().unwrap_err().to_string();
        assert!(msg.contains("at most 2 decimals"), "{msg}");
    }

    #[test]
    fn displays_two_decimals_and_serializes_cents() {
        assert_eq!(Cents(1234).to_string(), "12.34");
        assert_eq!(Cents(-5).to_string(), "-0.05");
        assert_eq!(Cents(i64::MIN).to_string(), "-92233720368547758.08");
        assert_eq!(serde_json::to_string(&Cents(250)).unwrap(), "250");
        assert_eq!(serde_json::from_str::<Cents>("250").unwrap(), Cents(250));
        assert!(serde_json::from_str::<Cents>("2.5").is_err());
        assert_eq!(Cents(1).checked_add(Cents(2)), Some(Cents(3)));
        assert_eq!(Cents(i64::MAX).checked_add(Cents(1)), None);
        assert_eq!(Cents(i64::MIN).checked_sub(Cents(1)), None);
    }
}
