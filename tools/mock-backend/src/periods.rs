//! Limit periods and UTC calendar arithmetic (no external time crate).
//!
//! Periods are UTC calendar units: weeks start on Monday 00:00 UTC, months and
//! years are calendar months and years. `eternity` spans everything.

use serde::{Deserialize, Serialize};

/// A usage-limit period. Ordered from shortest to longest, so `max()` is the
/// longest period (`Eternity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
    Eternity,
}

impl Period {
    /// All periods, shortest first.
    pub const ALL: [Period; 7] = [
        Period::Minute,
        Period::Hour,
        Period::Day,
        Period::Week,
        Period::Month,
        Period::Year,
        Period::Eternity,
    ];

    /// The name used on the wire (`period="..."`).
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Minute => "minute",
            Period::Hour => "hour",
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
            Period::Year => "year",
            Period::Eternity => "eternity",
        }
    }

    /// Parses a wire name (`"minute"`, ..., `"eternity"`).
    pub fn parse(s: &str) -> Option<Period> {
        Period::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Start (inclusive) of the period instance containing `ts` (UNIX seconds).
    /// `Eternity` starts at 0.
    pub fn start(self, ts: i64) -> i64 {
        match self {
            Period::Minute => ts - ts.rem_euclid(60),
            Period::Hour => ts - ts.rem_euclid(3600),
            Period::Day => ts - ts.rem_euclid(DAY),
            Period::Week => {
                let days = ts.div_euclid(DAY);
                // 1970-01-01 was a Thursday: Monday-based index 3.
                let since_monday = (days + 3).rem_euclid(7);
                (days - since_monday) * DAY
            }
            Period::Month => {
                let (y, m, _) = civil_from_days(ts.div_euclid(DAY));
                days_from_civil(y, m, 1) * DAY
            }
            Period::Year => {
                let (y, _, _) = civil_from_days(ts.div_euclid(DAY));
                days_from_civil(y, 1, 1) * DAY
            }
            Period::Eternity => 0,
        }
    }

    /// End (exclusive) of the period instance containing `ts`.
    /// `Eternity` ends at 9999-12-31 00:00:00 UTC (never printed).
    pub fn end(self, ts: i64) -> i64 {
        let start = self.start(ts);
        match self {
            Period::Minute => start + 60,
            Period::Hour => start + 3600,
            Period::Day => start + DAY,
            Period::Week => start + 7 * DAY,
            Period::Month => {
                let (y, m, _) = civil_from_days(start.div_euclid(DAY));
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                days_from_civil(ny, nm, 1) * DAY
            }
            Period::Year => {
                let (y, _, _) = civil_from_days(start.div_euclid(DAY));
                days_from_civil(y + 1, 1, 1) * DAY
            }
            Period::Eternity => days_from_civil(9999, 12, 31) * DAY,
        }
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

const DAY: i64 = 86_400;

/// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let m = i64::from(m);
    let d = i64::from(d);
    let mp = if m > 2 { m - 3 } else { m + 9 }; // [0, 11]
    let doy = (153 * mp + 2) / 5 + d - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// Proleptic Gregorian (year, month, day) for a count of days since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let y = if m <= 2 { y + 1 } else { y };
    // d and m are small positive numbers by construction.
    (y, m as u32, d as u32)
}

/// UNIX seconds for a UTC civil date and time.
pub fn unix_from_civil(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
    days_from_civil(y, mo, d) * DAY + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s)
}

/// Formats UNIX seconds as apisonator does: `YYYY-MM-DD HH:MM:SS +0000`.
pub fn format_time(ts: i64) -> String {
    let (y, m, d) = civil_from_days(ts.div_euclid(DAY));
    let secs = ts.rem_euclid(DAY);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} +0000",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// Parses a report `timestamp`: UNIX seconds, or `YYYY-MM-DD[ HH:MM[:SS]]`
/// optionally followed by `UTC`/`Z`/`+HHMM`/`-HH:MM`. `None` if unparseable.
pub fn parse_timestamp(raw: &str) -> Option<i64> {
    let s = raw.trim();
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    let (date, rest) = s.split_at(s.find([' ', 'T']).unwrap_or(s.len()));
    let mut dp = date.split('-');
    let y: i64 = dp.next()?.parse().ok()?;
    let mo: u32 = dp.next()?.parse().ok()?;
    let d: u32 = dp.next()?.parse().ok()?;
    if dp.next().is_some() || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let rest = rest.trim_start_matches([' ', 'T']);
    let (time, zone) = rest.split_at(rest.find([' ', '+', '-', 'Z', 'U']).unwrap_or(rest.len()));
    let mut h = 0;
    let mut mi = 0;
    let mut sec = 0;
    if !time.is_empty() {
        let mut tp = time.split(':');
        h = tp.next()?.parse().ok()?;
        mi = tp.next()?.parse().ok()?;
        sec = match tp.next() {
            Some(v) => v.split('.').next()?.parse().ok()?,
            None => 0,
        };
    }
    let offset = parse_zone(zone.trim())?;
    Some(unix_from_civil(y, mo, d, h, mi, sec) - offset)
}

/// Zone suffix to an offset in seconds east of UTC.
fn parse_zone(z: &str) -> Option<i64> {
    if z.is_empty() || z.eq_ignore_ascii_case("utc") || z.eq_ignore_ascii_case("gmt") || z == "Z" {
        return Some(0);
    }
    let sign = match z.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = z[1..].chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i64 = digits[..2].parse().ok()?;
    let m: i64 = digits[2..].parse().ok()?;
    Some(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
        unix_from_civil(y, mo, d, h, mi, s)
    }

    #[test]
    fn civil_round_trip() {
        for z in [-800_000, -1, 0, 1, 59, 365, 10_957, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn formats_like_apisonator() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00 +0000");
        assert_eq!(
            format_time(t(2026, 11, 23, 6, 46, 5)),
            "2026-11-23 06:46:05 +0000"
        );
    }

    #[test]
    fn boundaries() {
        let now = t(2026, 11, 23, 6, 46, 31); // a Monday
        assert_eq!(Period::Minute.start(now), t(2026, 11, 23, 6, 46, 0));
        assert_eq!(Period::Minute.end(now), t(2026, 11, 23, 6, 47, 0));
        assert_eq!(Period::Hour.start(now), t(2026, 11, 23, 6, 0, 0));
        assert_eq!(Period::Day.end(now), t(2026, 11, 24, 0, 0, 0));
        assert_eq!(Period::Week.start(now), t(2026, 11, 23, 0, 0, 0));
        assert_eq!(Period::Week.end(now), t(2026, 11, 30, 0, 0, 0));
        let sunday = t(2026, 11, 29, 23, 59, 59);
        assert_eq!(Period::Week.start(sunday), t(2026, 11, 23, 0, 0, 0));
        assert_eq!(Period::Month.start(now), t(2026, 11, 1, 0, 0, 0));
        assert_eq!(Period::Month.end(now), t(2026, 12, 1, 0, 0, 0));
        let dec = t(2026, 12, 31, 23, 0, 0);
        assert_eq!(Period::Month.end(dec), t(2027, 1, 1, 0, 0, 0));
        assert_eq!(Period::Year.start(now), t(2026, 1, 1, 0, 0, 0));
        assert_eq!(Period::Year.end(now), t(2027, 1, 1, 0, 0, 0));
        let feb = t(2024, 2, 10, 0, 0, 0);
        assert_eq!(Period::Month.end(feb), t(2024, 3, 1, 0, 0, 0));
        assert_eq!(Period::Eternity.start(now), 0);
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1271980765"), Some(1_271_980_765));
        assert_eq!(
            parse_timestamp("2010-04-22 23:59:30"),
            Some(t(2010, 4, 22, 23, 59, 30))
        );
        assert_eq!(
            parse_timestamp("2010-04-22 23:59:30 UTC"),
            Some(t(2010, 4, 22, 23, 59, 30))
        );
        assert_eq!(
            parse_timestamp("2010-04-22 23:59:30 +0200"),
            Some(t(2010, 4, 22, 21, 59, 30))
        );
        assert_eq!(
            parse_timestamp("2010-04-22 23:59:30 -02:00"),
            Some(t(2010, 4, 23, 1, 59, 30))
        );
        assert_eq!(parse_timestamp("garbage"), None);
        assert_eq!(parse_timestamp(""), None);
    }
}
