//! Timestamps are stored as RFC 3339 UTC text on both engines: sortable, and free of the two
//! engines' different date types.

use domain::date::Date;
use std::time::{SystemTime, UNIX_EPOCH};

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub fn now_rfc3339() -> String {
    rfc3339_from_unix(now_unix())
}

/// Today in Beijing (Asia/Shanghai): the one clock for every "today" of the system — default
/// dates, "not after today" checks, the current year. Timestamps stay in UTC.
pub fn today() -> Date {
    Date::in_beijing_at(now_unix())
}

pub fn rfc3339_from_unix(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        Date::from_days_since_epoch(days),
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The year of [`today`].
pub fn current_year() -> i64 {
    today().year() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339_from_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_from_unix(1_600_473_600), "2020-09-19T00:00:00Z");
        assert_eq!(rfc3339_from_unix(951_782_400), "2000-02-29T00:00:00Z");
    }
}
