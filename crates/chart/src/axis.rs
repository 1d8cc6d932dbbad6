//! Axis ticks and the words on them: times as `HH:MM` in the incident
//! timezone with the date where it changes, numbers with thousands
//! separators, rupiah, milliseconds and bytes.

use chrono::{DateTime, Datelike, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// What a panel's values are, for its axis labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A count (requests, errors, connections).
    Count,
    /// Milliseconds.
    Millis,
    /// Rupiah.
    Rupiah,
    /// Bytes.
    Bytes,
    /// Seconds.
    Seconds,
}

/// One tick of the time axis.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeTick {
    /// Instant, UTC milliseconds.
    pub at: i64,
    /// `HH:MM` in the incident timezone.
    pub label: String,
    /// `12 Jan 2025` on the first tick and where the date changes.
    pub date: Option<String>,
}

/// Tick steps in minutes; each divides a day or is a whole number of days.
const STEPS_MIN: [i64; 15] = [
    1, 2, 5, 10, 15, 30, 60, 120, 180, 240, 360, 720, 1440, 2880, 10080,
];

/// Ticks between `start` and `end` (UTC ms) for an axis `width_px` wide: at
/// most one per `min_px` pixels, on round local times.
pub fn time_ticks(start: i64, end: i64, width_px: u32, min_px: u32, tz: Tz) -> Vec<TimeTick> {
    if end <= start || width_px == 0 {
        return Vec::new();
    }
    let span_min = (end - start) as f64 / 60_000.0;
    let max_ticks = (width_px / min_px.max(1)).max(2) as f64;
    let step = STEPS_MIN
        .iter()
        .copied()
        .find(|s| span_min / *s as f64 <= max_ticks)
        .unwrap_or(10080);
    let step_ms = step * 60_000;
    // Start from local midnight of the first day, walk in steps.
    let Some(first) = DateTime::<Utc>::from_timestamp_millis(start) else {
        return Vec::new();
    };
    let local = first.with_timezone(&tz).date_naive();
    let midnight = tz
        .from_local_datetime(&local.and_time(NaiveTime::MIN))
        .earliest()
        .map(|t| t.timestamp_millis())
        .unwrap_or(start);
    let mut t = if step >= 1440 {
        midnight
    } else {
        midnight + ((start - midnight).max(0) / step_ms) * step_ms
    };
    let mut out = Vec::new();
    let mut last_date = None;
    while t <= end {
        if t >= start {
            let lt = DateTime::<Utc>::from_timestamp_millis(t)
                .unwrap_or(first)
                .with_timezone(&tz);
            let date = (lt.year(), lt.ordinal());
            let show = last_date != Some(date);
            last_date = Some(date);
            out.push(TimeTick {
                at: t,
                label: lt.format("%H:%M").to_string(),
                date: show.then(|| lt.format("%-d %b %Y").to_string()),
            });
        }
        t += step_ms;
    }
    out
}

/// A round upper bound for values up to `max`, and the step between `ticks`
/// about that many ticks.
pub fn nice_scale(max: f64, ticks: usize) -> (f64, f64) {
    if !max.is_finite() || max <= 0.0 {
        return (1.0, 0.25);
    }
    let raw = max / ticks.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let top = (max / step).ceil() * step;
    (if top < max { top + step } else { top }, step)
}

/// `1,234` or `1.5` (thousands separated; decimals only when the step needs them).
pub fn number(v: f64, step: f64) -> String {
    if step >= 1.0 || v == 0.0 {
        return sidik_core::fmt::count(v.round() as i64);
    }
    let decimals = (0..6)
        .find(|d| {
            let x = step * 10f64.powi(*d);
            (x - x.round()).abs() < 1e-9
        })
        .unwrap_or(6);
    let text = format!("{:.*}", decimals as usize, v.abs());
    let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
    let sign = if v < 0.0 { "-" } else { "" };
    let whole = sidik_core::fmt::count(whole.parse::<i64>().unwrap_or(0));
    format!("{sign}{whole}.{frac}")
}

/// An axis label in the panel's unit.
pub fn label(v: f64, step: f64, unit: Unit) -> String {
    match unit {
        Unit::Count => number(v, step),
        Unit::Millis => {
            if step >= 1000.0 || v >= 10_000.0 {
                format!("{} s", number(v / 1000.0, step / 1000.0))
            } else {
                format!("{} ms", number(v, step))
            }
        }
        Unit::Seconds => {
            if v < 1.0 && v > 0.0 {
                format!("{} ms", number(v * 1000.0, step * 1000.0))
            } else {
                format!("{} s", number(v, step))
            }
        }
        Unit::Rupiah => rupiah_short(v),
        Unit::Bytes => bytes(v),
    }
}

/// `Rp 78 jt` (juta, millions), `Rp 1,2 M` (miliar), `Rp 950 rb` (ribu), for axes.
pub fn rupiah_short(v: f64) -> String {
    let a = v.abs();
    let sign = if v < 0.0 { "-" } else { "" };
    let (n, suffix) = if a >= 1e9 {
        (a / 1e9, " M")
    } else if a >= 1e6 {
        (a / 1e6, " jt")
    } else if a >= 1e3 {
        (a / 1e3, " rb")
    } else {
        (a, "")
    };
    let text = if n >= 100.0 || n.fract() == 0.0 {
        format!("{n:.0}")
    } else {
        format!("{n:.1}").replace('.', ",")
    };
    format!("{sign}Rp {text}{suffix}")
}

/// `512 MiB`.
pub fn bytes(v: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut n = v;
    let mut u = 0;
    while n.abs() >= 1024.0 && u < UNITS.len() - 1 {
        n /= 1024.0;
        u += 1;
    }
    if n.fract() == 0.0 || n >= 100.0 {
        format!("{n:.0} {}", UNITS[u])
    } else {
        format!("{n:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_local_times_with_the_date_where_it_changes() {
        let tz: Tz = "Asia/Jakarta".parse().unwrap();
        // 2025-01-12 00:00 WIB .. 2025-01-13 00:00 WIB.
        let start = 1_736_614_800_000;
        let end = start + 86_400_000;
        let t = time_ticks(start, end, 1200, 90, tz);
        assert_eq!(t[0].label, "00:00");
        assert_eq!(t[0].date.as_deref(), Some("12 Jan 2025"));
        assert_eq!(t[1].label, "02:00");
        assert!(t[1].date.is_none());
        let last = t.last().unwrap();
        assert_eq!(last.label, "00:00");
        assert_eq!(last.date.as_deref(), Some("13 Jan 2025"));
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(nice_scale(873.0, 4), (1000.0, 250.0));
        assert_eq!(number(12_500.0, 2500.0), "12,500");
        assert_eq!(number(0.5, 0.25), "0.50");
        assert_eq!(rupiah_short(78_399_000.0), "Rp 78,4 jt");
        assert_eq!(rupiah_short(1_500_000_000.0), "Rp 1,5 M");
        assert_eq!(bytes(512.0 * 1024.0 * 1024.0), "512 MiB");
        assert_eq!(label(2500.0, 500.0, Unit::Millis), "2,500 ms");
        assert_eq!(label(20_000.0, 5000.0, Unit::Millis), "20 s");
    }
}
