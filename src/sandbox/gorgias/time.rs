//! Sandbox datetimes: the wire format `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`, lenient parsing of
//! query/body datetimes, and a monotonic clock. Must never read the clock anywhere but
//! [`Clock::tick`].

use chrono::{DateTime, NaiveDate, NaiveDateTime, SubsecRound, Utc};

/// Formats a datetime the way Gorgias sends it: microseconds and an explicit `+00:00`.
pub fn format(dt: DateTime<Utc>) -> String {
    dt.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
}

/// Parses the forms Gorgias accepts: with or without offset (naive means UTC), `T` or space
/// separator, with or without fractional seconds, or a bare date.
pub fn parse_flexible(raw: &str) -> Option<DateTime<Utc>> {
    let s = raw.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(s, fmt) {
            return Some(dt.with_timezone(&Utc));
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(n.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc())
}

/// A clock that never goes backwards and never repeats a microsecond, so every change gets
/// a distinct, ordered `updated_datetime`.
#[derive(Debug, Default)]
pub struct Clock {
    last: Option<DateTime<Utc>>,
}

impl Clock {
    /// The next timestamp: now, or one microsecond past the previous one.
    pub fn tick(&mut self) -> DateTime<Utc> {
        let now = Utc::now().trunc_subsecs(6);
        let next = match self.last {
            Some(last) if now <= last => last + chrono::Duration::microseconds(1),
            _ => now,
        };
        self.last = Some(next);
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_micros_and_offset() {
        let dt = parse_flexible("2025-02-06T14:47:40.122719+00:00").unwrap();
        assert_eq!(format(dt), "2025-02-06T14:47:40.122719+00:00");
        let naive = parse_flexible("2019-04-13T03:27:56.973873").unwrap();
        assert_eq!(format(naive), "2019-04-13T03:27:56.973873+00:00");
        let z = parse_flexible("2024-01-01T00:00:00Z").unwrap();
        assert_eq!(format(z), "2024-01-01T00:00:00.000000+00:00");
        let space = parse_flexible("2024-01-01 10:00:00.5+00:00").unwrap();
        assert_eq!(format(space), "2024-01-01T10:00:00.500000+00:00");
        assert!(parse_flexible("yesterday").is_none());
    }

    #[test]
    fn clock_is_strictly_increasing() {
        let mut c = Clock::default();
        let a = c.tick();
        let b = c.tick();
        let d = c.tick();
        assert!(a < b && b < d);
    }
}
