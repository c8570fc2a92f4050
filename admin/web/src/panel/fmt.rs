//! Display helpers: UTC dates and times, durations, and parsing of the
//! `YYYY-MM-DD` dates of filters. Calendar arithmetic is Howard Hinnant's
//! days-from-civil algorithm (proleptic Gregorian, UTC).

use parla_admin_core::domain::Timestamp;

const MS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 of the civil date `y-m-d`.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of `days` since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `2026-11-21 14:05:09` (UTC).
pub(crate) fn datetime(t: Timestamp) -> String {
    let ms = t.as_unix_ms();
    let (y, m, d) = civil_from_days(ms.div_euclid(MS_PER_DAY));
    let secs = ms.rem_euclid(MS_PER_DAY) / 1000;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// `datetime` of an optional time, `—` for none.
pub(crate) fn datetime_opt(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "—".to_owned(), datetime)
}

/// `1:05` (m:ss) or `1:02:05` for milliseconds; `—` for none.
pub(crate) fn duration(ms: Option<i64>) -> String {
    let Some(ms) = ms.filter(|ms| *ms >= 0) else {
        return "—".to_owned();
    };
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// `12.3 s` for milliseconds from the start of a call.
pub(crate) fn offset(ms: u64) -> String {
    format!("{}.{} s", ms / 1000, ms % 1000 / 100)
}

/// Midnight UTC starting the date `YYYY-MM-DD`; `None` if not a valid date.
pub(crate) fn parse_date(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    let mut parts = s.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let y: i64 = y.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    let d: u32 = d.parse().ok()?;
    if !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    // Reject 2026-02-31 and the like: the date must round-trip.
    (civil_from_days(days) == (y, m, d)).then(|| Timestamp::from_unix_ms(days * MS_PER_DAY))
}

/// Midnight UTC starting the day of `t`.
pub(crate) fn start_of_day(t: Timestamp) -> Timestamp {
    Timestamp::from_unix_ms(t.as_unix_ms().div_euclid(MS_PER_DAY) * MS_PER_DAY)
}

/// One day after `t`.
pub(crate) fn next_day(t: Timestamp) -> Timestamp {
    Timestamp::from_unix_ms(t.as_unix_ms().saturating_add(MS_PER_DAY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_dates() {
        assert_eq!(datetime(Timestamp::from_unix_ms(0)), "1970-01-01 00:00:00");
        assert_eq!(
            datetime(Timestamp::from_unix_ms(1_718_000_000_000)),
            "2024-06-10 06:13:20"
        );
        let d = parse_date("2024-06-10").unwrap();
        assert_eq!(datetime(d), "2024-06-10 00:00:00");
        assert_eq!(start_of_day(Timestamp::from_unix_ms(1_718_000_000_000)), d);
        assert_eq!(datetime(next_day(d)), "2024-06-11 00:00:00");
        assert_eq!(
            datetime(parse_date("2024-02-29").unwrap()),
            "2024-02-29 00:00:00"
        );
        for bad in [
            "",
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "x",
            "2024-06-1a",
            "--",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(duration(None), "—");
        assert_eq!(duration(Some(65_000)), "1:05");
        assert_eq!(duration(Some(3_725_000)), "1:02:05");
        assert_eq!(offset(12_345), "12.3 s");
    }
}
