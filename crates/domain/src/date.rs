//! Calendar dates and "today". Bangfu's users are in China: a day starts at 00:00 Beijing time
//! (Asia/Shanghai, UTC+8 all year, no daylight saving since 1991), so "today" is the civil date
//! at UTC+8, not at UTC — a user working before 08:00 must not get yesterday. The one reading of
//! the system clock is `store::time::today()`; the domain receives the date it needs (in
//! `CheckContext` and as arguments) and so stays pure and testable.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Offset of Beijing time from UTC, in seconds (a fixed offset: China has no DST).
pub const BEIJING_OFFSET_SECONDS: i64 = 8 * 3600;

/// A real calendar date (proleptic Gregorian, years 1–9999). Shown as `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    // Field order gives the chronological ordering of the derived Ord.
    year: i32,
    month: u32,
    day: u32,
}

impl Date {
    /// The date, or None when it is not a real one (2021-02-29, month 13, year 0…).
    pub fn new(year: i32, month: u32, day: u32) -> Option<Date> {
        ((1..=9999).contains(&year) && crate::id_number::is_valid_date(year, month, day))
            .then_some(Date { year, month, day })
    }

    /// Parses exactly `YYYY-MM-DD` (a real calendar date).
    pub fn parse(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 10
            || b[4] != b'-'
            || b[7] != b'-'
            || !b
                .iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        {
            return None;
        }
        Date::new(
            s[..4].parse().ok()?,
            s[5..7].parse().ok()?,
            s[8..].parse().ok()?,
        )
    }

    /// The civil date in Beijing at an instant given as seconds since 1970-01-01T00:00:00Z.
    pub fn in_beijing_at(unix_seconds: i64) -> Date {
        let days = (unix_seconds + BEIJING_OFFSET_SECONDS).div_euclid(86_400);
        Date::from_days_since_epoch(days)
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn month(self) -> u32 {
        self.month
    }

    pub fn day(self) -> u32 {
        self.day
    }

    /// As the (year, month, day) tuple the assessment's date arithmetic uses.
    pub fn ymd(self) -> (i32, u32, u32) {
        (self.year, self.month, self.day)
    }

    /// Days since 1970-01-01.
    pub fn days_since_epoch(self) -> i64 {
        let (y, m, d) = (self.year as i64, self.month as i64, self.day as i64);
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` days after 1970-01-01 (Howard Hinnant's days-to-civil algorithm).
    pub fn from_days_since_epoch(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (if month <= 2 { y + 1 } else { y }) as i32;
        Date { year, month, day }
    }

    /// The date `n` days later (earlier for negative `n`).
    pub fn plus_days(self, n: i64) -> Date {
        Date::from_days_since_epoch(self.days_since_epoch() + n)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&format!(
            "{:04}-{:02}-{:02}",
            self.year, self.month, self.day
        ))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("日期“{0}”无效：应为 YYYY-MM-DD 格式的真实日期")]
pub struct DateError(pub String);

impl FromStr for Date {
    type Err = DateError;
    fn from_str(s: &str) -> Result<Date, DateError> {
        Date::parse(s.trim()).ok_or_else(|| DateError(s.chars().take(40).collect()))
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn beijing_is_eight_hours_ahead_of_utc() {
        // 2026-12-01T17:30:00Z is 2026-12-02 01:30 in Beijing.
        let t = 1_796_146_200;
        assert_eq!(
            crate::date::Date::from_days_since_epoch(t / 86_400),
            d("2026-12-01"),
            "the instant is on 2026-12-01 in UTC"
        );
        assert_eq!(Date::in_beijing_at(t), d("2026-12-02"));
        // 15:59:59Z is still the same day in Beijing, 16:00:00Z the next one.
        let midnight_utc = d("2026-12-01").days_since_epoch() * 86_400;
        assert_eq!(
            Date::in_beijing_at(midnight_utc + 16 * 3600 - 1),
            d("2026-12-01")
        );
        assert_eq!(
            Date::in_beijing_at(midnight_utc + 16 * 3600),
            d("2026-12-02")
        );
        // New year's eve: 2026-12-31T16:00Z is 2027-01-01 in Beijing.
        assert_eq!(
            Date::in_beijing_at(d("2026-12-31").days_since_epoch() * 86_400 + 16 * 3600),
            d("2027-01-01")
        );
        assert_eq!(Date::in_beijing_at(0), d("1970-01-01"));
        assert_eq!(Date::in_beijing_at(-8 * 3600 - 1), d("1969-12-31"));
    }

    #[test]
    fn parses_only_real_dates_in_the_one_format() {
        assert_eq!(d("2020-02-29").ymd(), (2020, 2, 29));
        for bad in [
            "2021-02-29",
            "2021-13-01",
            "2021-00-10",
            "2021-1-01",
            "2021/01/01",
            "0000-01-01",
            "2021-01-01 ",
            "+021-01-01",
            "２０２１-01-01",
            "",
        ] {
            assert_eq!(Date::parse(bad), None, "{bad:?}");
        }
        assert!(Date::new(2019, 4, 31).is_none());
        assert_eq!(
            "2021-02-30".parse::<Date>().unwrap_err().to_string(),
            "日期“2021-02-30”无效：应为 YYYY-MM-DD 格式的真实日期"
        );
        assert_eq!(" 2021-02-03 ".parse::<Date>(), Ok(d("2021-02-03")));
    }

    #[test]
    fn displays_and_orders_and_counts_days() {
        assert_eq!(Date::new(987, 3, 4).unwrap().to_string(), "0987-03-04");
        assert_eq!(d("2026-01-09").to_string(), "2026-01-09");
        assert!(d("2019-12-31") < d("2020-01-01"));
        assert!(d("2020-01-31") < d("2020-02-01"));
        assert_eq!(d("1970-01-01").days_since_epoch(), 0);
        assert_eq!(d("2000-03-01").days_since_epoch(), 11_017);
        for s in [
            "1900-02-28",
            "2000-02-29",
            "2024-12-31",
            "0001-01-01",
            "9999-12-31",
        ] {
            assert_eq!(Date::from_days_since_epoch(d(s).days_since_epoch()), d(s));
        }
        assert_eq!(d("2020-02-28").plus_days(1), d("2020-02-29"));
        assert_eq!(d("2021-01-01").plus_days(-1), d("2020-12-31"));
        let json = serde_json::to_string(&d("2021-06-01")).unwrap();
        assert_eq!(json, "\"2021-06-01\"");
        assert_eq!(
            serde_json::from_str::<Date>(&json).unwrap(),
            d("2021-06-01")
        );
        assert!(serde_json::from_str::<Date>("\"2021-06-31\"").is_err());
    }
}
