//! Fast timestamp and number formatting for the writers (tens of millions of
//! lines per run make chrono's general formatter a bottleneck).

use std::io::Write;

use chrono::{DateTime, Datelike};

use crate::scenario::{Millis, WIB_OFFSET_MS};

/// Formats dates, caching the calendar date of the last day seen.
#[derive(Debug, Default)]
pub struct Clock {
    day: i64,
    date: [u8; 10],
    last_ms: Millis,
    sub: u64,
}

impl Clock {
    /// A new clock.
    pub fn new() -> Self {
        Clock {
            day: i64::MIN,
            date: [b'0'; 10],
            last_ms: Millis::MIN,
            sub: 0,
        }
    }

    /// Sub-millisecond digits for lines written in time order: they grow
    /// within one millisecond, so `ts` stays ordered at microsecond precision.
    pub fn micros(&mut self, t: Millis, jitter: u64) -> u64 {
        if t != self.last_ms {
            self.last_ms = t;
            self.sub = jitter % 400;
        } else {
            self.sub = (self.sub + 1 + jitter % 7).min(999);
        }
        self.sub
    }

    fn date_of(&mut self, local_ms: Millis) -> [u8; 10] {
        let day = local_ms.div_euclid(86_400_000);
        if day != self.day {
            let d = DateTime::from_timestamp_millis(day * 86_400_000)
                .expect("time in range")
                .date_naive();
            let s = format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day());
            self.date.copy_from_slice(s.as_bytes());
            self.day = day;
        }
        self.date
    }

    /// `YYYY-MM-DD<sep>HH:MM:SS.mmm` of `local_ms` (already shifted to local time).
    pub fn write(&mut self, buf: &mut Vec<u8>, local_ms: Millis, sep: u8, millis: bool) {
        let date = self.date_of(local_ms);
        buf.extend_from_slice(&date);
        buf.push(sep);
        let in_day = local_ms.rem_euclid(86_400_000);
        let (h, m, s, ms) = (
            in_day / 3_600_000,
            in_day / 60_000 % 60,
            in_day / 1000 % 60,
            in_day % 1000,
        );
        two(buf, h);
        buf.push(b':');
        two(buf, m);
        buf.push(b':');
        two(buf, s);
        if millis {
            buf.push(b'.');
            buf.push(b'0' + (ms / 100) as u8);
            buf.push(b'0' + (ms / 10 % 10) as u8);
            buf.push(b'0' + (ms % 10) as u8);
        }
    }

    /// WIB local time without offset: `2025-01-12 19:05:01.123`.
    pub fn wib(&mut self, buf: &mut Vec<u8>, t: Millis) {
        self.write(buf, t + WIB_OFFSET_MS, b' ', true);
    }

    /// WIB local time without offset or fraction: `2025-01-12 19:05:01`.
    pub fn wib_seconds(&mut self, buf: &mut Vec<u8>, t: Millis) {
        self.write(buf, t + WIB_OFFSET_MS, b' ', false);
    }

    /// RFC 3339 UTC with milliseconds: `2025-01-12T12:05:01.123Z`.
    pub fn utc(&mut self, buf: &mut Vec<u8>, t: Millis) {
        self.write(buf, t, b'T', true);
        buf.push(b'Z');
    }

    /// RFC 3339 with the WIB offset: `2025-01-12T19:05:01+07:00`.
    pub fn wib_offset(&mut self, buf: &mut Vec<u8>, t: Millis) {
        self.write(buf, t + WIB_OFFSET_MS, b'T', false);
        buf.extend_from_slice(b"+07:00");
    }
}

fn two(buf: &mut Vec<u8>, v: i64) {
    buf.push(b'0' + (v / 10) as u8);
    buf.push(b'0' + (v % 10) as u8);
}

/// Appends a decimal integer.
pub fn int(buf: &mut Vec<u8>, v: i64) {
    let _ = write!(buf, "{v}");
}

/// zap's epoch-float `ts`: seconds with microseconds, `1736683501.123456`.
pub fn epoch_float(buf: &mut Vec<u8>, t: Millis, micros: u64) {
    let _ = write!(
        buf,
        "{}.{:03}{:03}",
        t.div_euclid(1000),
        t.rem_euclid(1000),
        micros % 1000
    );
}

/// `2025-01` of `t` in WIB.
pub fn wib_period(t: Millis) -> String {
    let d = DateTime::from_timestamp_millis(t + WIB_OFFSET_MS).expect("time in range");
    format!("{:04}-{:02}", d.year(), d.month())
}

/// RFC 3339 with the WIB offset, as a String (for ground truth).
pub fn rfc3339_wib(t: Millis) -> String {
    let mut b = Vec::with_capacity(32);
    let mut c = Clock::new();
    c.write(&mut b, t + WIB_OFFSET_MS, b'T', true);
    b.extend_from_slice(b"+07:00");
    String::from_utf8(b).expect("ascii")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::DAY_START;

    #[test]
    fn formats_match_chrono() {
        let t = DAY_START + 19 * 3_600_000 + 5 * 60_000 + 1_123;
        let mut c = Clock::new();
        let mut b = Vec::new();
        c.wib(&mut b, t);
        assert_eq!(b, b"2025-01-12 19:05:01.123");
        b.clear();
        c.utc(&mut b, t);
        assert_eq!(b, b"2025-01-12T12:05:01.123Z");
        b.clear();
        c.wib_offset(&mut b, t);
        assert_eq!(b, b"2025-01-12T19:05:01+07:00");
        b.clear();
        epoch_float(&mut b, t, 456);
        assert_eq!(b, b"1736683501.123456");
        assert_eq!(wib_period(t), "2025-01");
        assert_eq!(rfc3339_wib(t), "2025-01-12T19:05:01.123+07:00");
        let chrono_ts =
            chrono::DateTime::parse_from_rfc3339("2025-01-12T19:05:01.123+07:00").unwrap();
        assert_eq!(chrono_ts.timestamp_millis(), t);
    }
}
