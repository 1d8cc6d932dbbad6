//! Timestamps as services and PostgreSQL write them, parsed to UTC
//! milliseconds without allocating.
//!
//! Accepted: RFC 3339 (`T` or space, any fraction, `Z` or `±HH:MM`/`±HHMM`/`±HH`),
//! a trailing zone abbreviation as PostgreSQL writes it (`WIB`, `UTC`,
//! `CEST`, …), local times without a zone (read in the service's timezone),
//! and epoch numbers: seconds, milliseconds, microseconds or nanoseconds
//! (inferred from the magnitude) and float seconds.

use chrono::{NaiveDate, Offset, TimeZone};
use chrono_tz::Tz;

/// Milliseconds since the epoch, UTC.
pub type Millis = i64;

/// Offset in seconds of a zone abbreviation.
pub fn zone_abbreviation(abbr: &str) -> Option<i32> {
    let h = 3600;
    Some(match abbr {
        "UTC" | "GMT" | "Z" | "UT" => 0,
        "WIB" => 7 * h,
        "WITA" => 8 * h,
        "WIT" => 9 * h,
        "SGT" | "HKT" | "AWST" | "PHT" | "MYT" => 8 * h,
        "JST" | "KST" => 9 * h,
        "ICT" => 7 * h,
        "IST" => 5 * h + 1800,
        "AEST" => 10 * h,
        "AEDT" => 11 * h,
        "NZST" => 12 * h,
        "NZDT" => 13 * h,
        "CET" | "WAT" => h,
        "CEST" | "EET" | "SAST" => 2 * h,
        "EEST" | "MSK" => 3 * h,
        "BST" => h,
        "WET" => 0,
        "WEST" => h,
        "EST" => -5 * h,
        "EDT" => -4 * h,
        "CST" => -6 * h,
        "CDT" => -5 * h,
        "MST" => -7 * h,
        "MDT" => -6 * h,
        "PST" => -8 * h,
        "PDT" => -7 * h,
        _ => return None,
    })
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() {
        return None;
    }
    let mut v = 0i64;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

/// Parses a timestamp; local times without a zone are read in `local`.
pub fn parse(text: &str, local: Tz) -> Option<Millis> {
    let s = text.trim().trim_matches('"');
    let b = s.as_bytes();
    if b.is_empty() {
        return None;
    }
    if b[0].is_ascii_digit() && b.len() >= 10 && b[4] == b'-' {
        return parse_civil(s, local);
    }
    parse_epoch(s)
}

/// An epoch number: float seconds, or an integer whose magnitude says its unit.
pub fn parse_epoch(s: &str) -> Option<Millis> {
    // One pass over the (short) text finds both an exponent and the dot.
    let b = s.as_bytes();
    let mut dot = None;
    for (i, c) in b.iter().enumerate() {
        match c {
            b'e' | b'E' => {
                let v: f64 = s.parse().ok()?;
                return Some((v * 1000.0).round() as i64);
            }
            b'.' if dot.is_none() => dot = Some(i),
            _ => {}
        }
    }
    if let Some((int, frac)) = dot.map(|i| (&s[..i], &s[i + 1..])) {
        let secs = digits(int.as_bytes())?;
        let f = frac.as_bytes();
        let f = &f[..f.len().min(3)];
        let mut ms = digits(f).unwrap_or(0);
        for _ in f.len()..3 {
            ms *= 10;
        }
        return Some(secs * 1000 + ms);
    }
    let v = digits(s.as_bytes())?;
    Some(match v {
        0..=99_999_999_999 => v * 1000,
        100_000_000_000..=99_999_999_999_999 => v,
        100_000_000_000_000..=99_999_999_999_999_999 => v / 1000,
        _ => v / 1_000_000,
    })
}

fn parse_civil(s: &str, local: Tz) -> Option<Millis> {
    let b = s.as_bytes();
    let y = digits(&b[0..4])?;
    let mo = digits(&b[5..7])?;
    let d = digits(&b[8..10])?;
    if b[7] != b'-' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    if b.len() == 10 {
        return local_ms(days, 0, local);
    }
    if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 16 {
        return None;
    }
    let h = digits(&b[11..13])?;
    let mi = digits(&b[14..16])?;
    if b[13] != b':' || h > 23 || mi > 59 {
        return None;
    }
    let mut i = 16;
    let mut sec = 0;
    if b.get(i) == Some(&b':') {
        sec = digits(b.get(i + 1..i + 3)?)?;
        if sec > 60 {
            return None;
        }
        i += 3;
    }
    let mut ms = 0;
    if matches!(b.get(i), Some(b'.') | Some(b',')) {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
        let f = &b[start..i];
        if f.is_empty() {
            return None;
        }
        let f3 = &f[..f.len().min(3)];
        ms = digits(f3)?;
        for _ in f3.len()..3 {
            ms *= 10;
        }
    }
    let wall = (days * 86_400 + h * 3600 + mi * 60 + sec) * 1000 + ms;
    let rest = &s[i..];
    let zone = rest.trim_start();
    if zone.is_empty() {
        return local_ms(days, wall - days * 86_400_000, local);
    }
    let offset_secs: i64 = match zone.as_bytes()[0] {
        b'Z' | b'z' if zone.len() == 1 => 0,
        b'+' | b'-' => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let z = zone[1..].replace(':', "");
            let (hh, mm) = match z.len() {
                2 => (digits(z.as_bytes())?, 0),
                4 => (digits(&z.as_bytes()[..2])?, digits(&z.as_bytes()[2..])?),
                _ => return None,
            };
            sign * (hh * 3600 + mm * 60)
        }
        _ => i64::from(zone_abbreviation(zone)?),
    };
    Some(wall - offset_secs * 1000)
}

/// `ms_in_day` wall-clock milliseconds of civil day `days`, in `tz`, to UTC.
fn local_ms(days: i64, ms_in_day: i64, tz: Tz) -> Option<Millis> {
    let date = NaiveDate::from_num_days_from_ce_opt((days + 719_163) as i32)?;
    let naive = date.and_hms_milli_opt(0, 0, 0, 0)? + chrono::Duration::milliseconds(ms_in_day);
    let offset = match tz.offset_from_local_datetime(&naive) {
        chrono::LocalResult::Single(o) | chrono::LocalResult::Ambiguous(o, _) => {
            o.fix().local_minus_utc()
        }
        chrono::LocalResult::None => return None,
    };
    Some(naive.and_utc().timestamp_millis() - i64::from(offset) * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JKT: Tz = chrono_tz::Asia::Jakarta;
    // 2025-01-12T12:05:01.123Z
    const T: Millis = 1_736_683_501_123;

    #[test]
    fn every_form_lands_on_the_same_instant() {
        for s in [
            "2025-01-12T12:05:01.123Z",
            "2025-01-12T12:05:01.123456789Z",
            "2025-01-12T19:05:01.123+07:00",
            "2025-01-12T19:05:01.123+0700",
            "2025-01-12 19:05:01.123+07",
            "2025-01-12 19:05:01.123 WIB",
            "2025-01-12 12:05:01.123 UTC",
            "2025-01-12 13:05:01.123 CET",
            "2025-01-12 19:05:01.123",
            "2025-01-12T19:05:01,123",
            "1736683501.123",
            "1736683501.123456",
            "1736683501123",
            "1736683501123000",
            "1736683501123000000",
            "1.736683501123e9",
        ] {
            assert_eq!(parse(s, JKT), Some(T), "{s}");
        }
        assert_eq!(parse("1736683501", JKT), Some(T - 123));
        assert_eq!(parse("2025-01-12 19:05", JKT), Some(T - 1_123));
    }

    #[test]
    fn garbage_is_rejected() {
        for s in [
            "",
            "yesterday",
            "2025-13-01 00:00:00",
            "2025-01-12X19:05",
            "2025-01-12 19:05:01 XYZ",
            "12/01/2025",
        ] {
            assert_eq!(parse(s, JKT), None, "{s}");
        }
    }

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2025, 1, 12), 20_100);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }
}
