//! Wall-clock time as the tools print it: RFC 3339, UTC, nanoseconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// RFC 3339 with nanosecond precision, UTC (`2026-11-25T19:18:40.123456789Z`).
pub fn rfc3339_nanos(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

/// Now, formatted as [`rfc3339_nanos`].
pub fn now_rfc3339() -> String {
    rfc3339_nanos(SystemTime::now())
}

/// Nanoseconds since the Unix epoch (saturating; a clock before 1970 reads 0).
pub fn unix_nanos(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Parse an RFC 3339 timestamp as printed by [`rfc3339_nanos`].
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn round_trips_with_nanoseconds() {
        let t = UNIX_EPOCH + Duration::new(1_795_000_000, 123_456_789);
        let s = rfc3339_nanos(t);
        assert_eq!(s, "2026-11-18T11:06:40.123456789Z");
        assert_eq!(parse_rfc3339(&s), Some(t));
    }
}
