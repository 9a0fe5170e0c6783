//! Dates as ZStack's REST API prints them: Java's default US format, `Jan 6, 2017 3:51:16 AM`.
//! imghash prints them in UTC (ZStack uses the server's time zone; the Java SDK also reads
//! ISO-8601, and a UTC server prints the same).

use std::time::{Duration, UNIX_EPOCH};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Milliseconds since the epoch as `Mon D, YYYY H:MM:SS AM`, UTC.
pub fn zstack_date(ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    // "YYYY-MM-DDTHH:MM:SSZ": fixed positions.
    let text = humantime::format_rfc3339_seconds(at).to_string();
    let number = |range: std::ops::Range<usize>| -> usize {
        text.get(range).and_then(|s| s.parse().ok()).unwrap_or(0)
    };
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let (hour, minute, second) = (number(11..13), number(14..16), number(17..19));
    let half = if hour < 12 { "AM" } else { "PM" };
    let hour12 = match hour % 12 {
        0 => 12,
        h => h,
    };
    let month = MONTHS[month.clamp(1, 12) - 1];
    format!("{month} {day}, {year} {hour12}:{minute:02}:{second:02} {half}")
}

#[cfg(test)]
mod tests {
    use super::zstack_date;

    #[test]
    fn dates_read_like_javas_us_default() {
        // `date -u -d @1483674676` prints Fri Jan  6 03:51:16 UTC 2017.
        assert_eq!(zstack_date(1_483_674_676_000), "Jan 6, 2017 3:51:16 AM");
        assert_eq!(zstack_date(1_700_000_000_123), "Nov 14, 2023 10:13:20 PM");
        assert_eq!(zstack_date(0), "Jan 1, 1970 12:00:00 AM");
    }
}
