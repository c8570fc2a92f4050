//! Points in time, stored as BIGINT unix milliseconds on both backends.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::sql::sql_i64;

/// Milliseconds since the unix epoch (UTC). Serialized as a JSON integer.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The current wall-clock time (0 if the clock is before 1970).
    pub fn now() -> Self {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Self(ms)
    }

    /// From unix milliseconds.
    pub const fn from_unix_ms(ms: i64) -> Self {
        Self(ms)
    }

    /// Unix milliseconds.
    pub const fn as_unix_ms(self) -> i64 {
        self.0
    }

    /// `self + d`, saturating at `i64::MAX` ms.
    pub fn plus(self, d: Duration) -> Self {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(ms))
    }

    /// Milliseconds from `earlier` to `self` (negative if `earlier` is later).
    pub fn millis_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl From<Timestamp> for i64 {
    fn from(t: Timestamp) -> Self {
        t.0
    }
}

impl From<i64> for Timestamp {
    fn from(ms: i64) -> Self {
        Self(ms)
    }
}

/// A string that is not an integer number of milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp {input:?}: expected unix milliseconds (an integer)")]
pub struct TimestampError {
    /// The rejected input.
    pub input: String,
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    /// Parses unix milliseconds, e.g. `"1718000000000"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .parse::<i64>()
            .map(Self)
            .map_err(|_| TimestampError {
                input: s.to_owned(),
            })
    }
}

impl fmt::Display for Timestamp {
    /// Unix milliseconds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

sql_i64!(Timestamp);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_recent_and_arithmetic_works() {
        let now = Timestamp::now();
        assert!(now.as_unix_ms() > 1_700_000_000_000);
        let later = now.plus(Duration::from_secs(2));
        assert_eq!(later.millis_since(now), 2000);
        assert_eq!(now.millis_since(later), -2000);
        assert_eq!(
            Timestamp::from_unix_ms(i64::MAX)
                .plus(Duration::from_secs(1))
                .as_unix_ms(),
            i64::MAX
        );
    }

    #[test]
    fn parses_integers_only() {
        assert_eq!(
            "1718000000000".parse::<Timestamp>().unwrap().as_unix_ms(),
            1_718_000_000_000
        );
        assert_eq!("-5".parse::<Timestamp>().unwrap().as_unix_ms(), -5);
        let err = "2024-01-01".parse::<Timestamp>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid timestamp \"2024-01-01\": expected unix milliseconds (an integer)"
        );
        assert!("1.5".parse::<Timestamp>().is_err());
        assert_eq!(
            serde_json::to_string(&Timestamp::from_unix_ms(7)).unwrap(),
            "7"
        );
        assert!(serde_json::from_str::<Timestamp>("\"7\"").is_err());
    }
}
