//! Time handling: the incident timezone, incident windows, and parsing of the
//! time and duration forms that appear in `incident.toml`.
//!
//! Inside sidik every instant is a `DateTime<Utc>`; it is shown to people in
//! the incident's timezone (Asia/Jakarta, WIB, unless configured otherwise).

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
pub use chrono_tz::Tz;

use crate::error::{Error, Result};

/// The timezone of an incident when `incident.toml` names none: Asia/Jakarta (WIB, +07:00).
pub const DEFAULT_TIMEZONE: Tz = chrono_tz::Asia::Jakarta;

/// Parses an IANA timezone name such as `Asia/Jakarta`.
///
/// On failure the error names the closest known zone, so `Asia/Jakata` is
/// answered with "did you mean Asia/Jakarta?".
pub fn parse_timezone(name: &str) -> std::result::Result<Tz, String> {
    if let Ok(tz) = name.parse::<Tz>() {
        return Ok(tz);
    }
    let lower = name.to_ascii_lowercase();
    let best = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| {
            (
                strsim::jaro_winkler(&lower, &tz.name().to_ascii_lowercase()),
                tz.name(),
            )
        })
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((score, candidate)) if score > 0.85 => Err(format!(
            "\"{name}\" is not an IANA timezone name; did you mean \"{candidate}\"?"
        )),
        _ => Err(format!(
            "\"{name}\" is not an IANA timezone name; use a name such as \"Asia/Jakarta\" or \"UTC\""
        )),
    }
}

/// A half-open interval of time `[start, end)`: the part of the day an
/// investigation looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First instant inside the window.
    pub start: DateTime<Utc>,
    /// First instant after the window.
    pub end: DateTime<Utc>,
}

impl Window {
    /// Creates a window; fails when `end` is not after `start`.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self> {
        if end <= start {
            return Err(Error::Time(format!(
                "window end {end} is not after its start {start}"
            )));
        }
        Ok(Window { start, end })
    }

    /// Whether `t` lies in `[start, end)`.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }

    /// Length of the window.
    pub fn duration(&self) -> Duration {
        self.end - self.start
    }

    /// The window shown in `tz`, e.g. `2025-01-12 00:00 – 2025-01-13 00:00 WIB`.
    pub fn display_in(&self, tz: Tz) -> String {
        let s = self.start.with_timezone(&tz);
        let e = self.end.with_timezone(&tz);
        format!(
            "{} – {}",
            s.format("%Y-%m-%d %H:%M"),
            e.format("%Y-%m-%d %H:%M %Z")
        )
    }
}

/// When a piece of evidence was taken, against the incident window: what
/// every report built on live database or metrics data says, so a snapshot
/// taken after the incident is never read as a finding about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dating {
    /// Inside the window; `None` when the incident has none.
    pub inside: Option<bool>,
    /// One sentence: when, and where that lies against the window.
    pub sentence: String,
}

impl Dating {
    /// Dates evidence taken from `first` to `last` (the same instant for a snapshot).
    pub fn of(
        first: DateTime<Utc>,
        last: DateTime<Utc>,
        window: Option<&Window>,
        tz: Tz,
    ) -> Dating {
        let at = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string();
        let when = if first == last {
            format!("taken {}", at(first))
        } else {
            format!("taken {} – {}", at(first), at(last))
        };
        let Some(w) = window else {
            return Dating {
                inside: None,
                sentence: format!("{when}; the incident has no window to compare it with"),
            };
        };
        let overlaps = first < w.end && last >= w.start;
        let sentence = if overlaps {
            format!("{when}, inside the incident window ({})", w.display_in(tz))
        } else {
            let side = if first >= w.end { "after" } else { "before" };
            format!(
                "**{when}, {side} the incident window ({})**: this is the state then, not during the incident; no finding below describes the incident",
                w.display_in(tz)
            )
        };
        Dating {
            inside: Some(overlaps),
            sentence,
        }
    }

    /// Whether it lies outside the window (false without one).
    pub fn outside(&self) -> bool {
        self.inside == Some(false)
    }
}

/// Parses a point in time as written in `incident.toml` or on the command line.
///
/// Accepted: RFC 3339 with an offset (`2025-01-12T19:00:00+07:00`, `…Z`), and
/// local forms without an offset, read in `tz`: `2025-01-12T19:00:00`,
/// `2025-01-12 19:00:00.250`, `2025-01-12 19:00` and a bare date (midnight).
pub fn parse_time(text: &str, tz: Tz) -> Result<DateTime<Utc>> {
    let s = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    const LOCAL: [&str; 4] = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ];
    let naive = LOCAL
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        });
    let Some(naive) = naive else {
        return Err(Error::Time(format!(
            "\"{text}\" is not a time; expected RFC 3339 (2025-01-12T19:00:00+07:00) or a local time (2025-01-12 19:00) read in {tz}"
        )));
    };
    local_to_utc(naive, tz).ok_or_else(|| {
        Error::Time(format!(
            "\"{text}\" does not exist in {tz} (skipped by a daylight-saving change); give an explicit offset"
        ))
    })
}

/// Converts a local wall-clock time in `tz` to UTC; an ambiguous time (a
/// daylight-saving fold) resolves to the earlier instant, a skipped one to `None`.
pub fn local_to_utc(naive: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, _) => Some(a.with_timezone(&Utc)),
        LocalResult::None => None,
    }
}

/// Formats `t` in `tz` as `2025-01-12 19:05:01 WIB`.
pub fn format_local(t: DateTime<Utc>, tz: Tz) -> String {
    local(t.timestamp_millis(), tz, Shown::Zone)
}

/// How much of a local time [`local`] shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// `19:05`.
    Clock,
    /// `19:05:01`.
    ClockSeconds,
    /// `2025-01-12 19:05`.
    Minutes,
    /// `2025-01-12 19:05:01`.
    Seconds,
    /// `2025-01-12 19:05:01.123`.
    Millis,
    /// `2025-01-12 19:05:01 WIB`.
    Zone,
    /// `2025-01-12 19:05:01.123 WIB`.
    MillisZone,
    /// `2025-01-12T19:05:01.123+07:00` (RFC 3339, what evidence files store).
    Rfc3339,
}

/// The one formatter of instants (UTC milliseconds) as local times in `tz`;
/// an instant chrono cannot represent is shown as its number.
pub fn local(ms: i64, tz: Tz, shown: Shown) -> String {
    let Some(t) = DateTime::<Utc>::from_timestamp_millis(ms) else {
        return ms.to_string();
    };
    let t = t.with_timezone(&tz);
    let f = match shown {
        Shown::Clock => "%H:%M",
        Shown::ClockSeconds => "%H:%M:%S",
        Shown::Minutes => "%Y-%m-%d %H:%M",
        Shown::Seconds => "%Y-%m-%d %H:%M:%S",
        Shown::Millis => "%Y-%m-%d %H:%M:%S%.3f",
        Shown::Zone => "%Y-%m-%d %H:%M:%S %Z",
        Shown::MillisZone => "%Y-%m-%d %H:%M:%S%.3f %Z",
        Shown::Rfc3339 => "%Y-%m-%dT%H:%M:%S%.3f%:z",
    };
    t.format(f).to_string()
}

/// Parses a Go-style duration: `250ms`, `1.5s`, `-2m`, `1h30m`, `90us`, `0`.
///
/// Go's `time.ParseDuration` format is what the services' configuration and
/// logs use; crates such as humantime reject its fractions and signs, so this
/// small parser follows Go's grammar (units ns, us/µs, ms, s, m, h).
pub fn parse_go_duration(text: &str) -> Result<Duration> {
    let bad = || {
        Error::Time(format!(
            "\"{text}\" is not a duration; expected a number with a unit such as 250ms, 1.5s, -2m or 1h30m"
        ))
    };
    let mut s = text.trim();
    let negative = if let Some(rest) = s.strip_prefix('-') {
        s = rest;
        true
    } else {
        s = s.strip_prefix('+').unwrap_or(s);
        false
    };
    if s == "0" {
        return Ok(Duration::zero());
    }
    if s.is_empty() {
        return Err(bad());
    }
    let mut total_ns: f64 = 0.0;
    while !s.is_empty() {
        let num_len = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if num_len == 0 {
            return Err(bad());
        }
        let value: f64 = s[..num_len].parse().map_err(|_| bad())?;
        s = &s[num_len..];
        let unit_len = s
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(s.len());
        let factor = match &s[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        s = &s[unit_len..];
        total_ns += value * factor;
    }
    if total_ns > i64::MAX as f64 {
        return Err(bad());
    }
    let d = Duration::nanoseconds(total_ns.round() as i64);
    Ok(if negative { -d } else { d })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_formatter_shows_each_precision() {
        let tz = DEFAULT_TIMEZONE;
        let ms = 1_736_683_501_123; // 2025-01-12 12:05:01.123 UTC
        assert_eq!(local(ms, tz, Shown::Clock), "19:05");
        assert_eq!(local(ms, tz, Shown::ClockSeconds), "19:05:01");
        assert_eq!(local(ms, tz, Shown::Minutes), "2025-01-12 19:05");
        assert_eq!(local(ms, tz, Shown::Seconds), "2025-01-12 19:05:01");
        assert_eq!(local(ms, tz, Shown::Millis), "2025-01-12 19:05:01.123");
        assert_eq!(local(ms, tz, Shown::Zone), "2025-01-12 19:05:01 WIB");
        assert_eq!(
            local(ms, tz, Shown::MillisZone),
            "2025-01-12 19:05:01.123 WIB"
        );
        assert_eq!(
            local(ms, tz, Shown::Rfc3339),
            "2025-01-12T19:05:01.123+07:00"
        );
        assert_eq!(local(i64::MAX, tz, Shown::Minutes), i64::MAX.to_string());
    }

    #[test]
    fn local_times_are_read_in_the_incident_timezone() {
        let t = parse_time("2025-01-12 19:00", DEFAULT_TIMEZONE).unwrap();
        assert_eq!(t.to_rfc3339(), "2025-01-12T12:00:00+00:00");
        let t = parse_time("2025-01-12T19:00:00.5", DEFAULT_TIMEZONE).unwrap();
        assert_eq!(t.timestamp_millis() % 1000, 500);
        let t = parse_time("2025-01-12", DEFAULT_TIMEZONE).unwrap();
        assert_eq!(t.to_rfc3339(), "2025-01-11T17:00:00+00:00");
        let t = parse_time("2025-01-12T19:00:00Z", DEFAULT_TIMEZONE).unwrap();
        assert_eq!(t.to_rfc3339(), "2025-01-12T19:00:00+00:00");
        assert!(parse_time("12/01/2025", DEFAULT_TIMEZONE).is_err());
    }

    #[test]
    fn nonexistent_local_time_is_an_error() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let err = parse_time("2025-03-30 02:30", tz).unwrap_err().to_string();
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn timezone_typos_get_a_suggestion() {
        let err = parse_timezone("Asia/Jakata").unwrap_err();
        assert!(err.contains("did you mean \"Asia/Jakarta\""), "{err}");
        assert_eq!(parse_timezone("UTC").unwrap(), chrono_tz::UTC);
    }

    #[test]
    fn go_durations() {
        assert_eq!(
            parse_go_duration("250ms").unwrap(),
            Duration::milliseconds(250)
        );
        assert_eq!(
            parse_go_duration("1.5s").unwrap(),
            Duration::milliseconds(1500)
        );
        assert_eq!(parse_go_duration("-2m").unwrap(), Duration::minutes(-2));
        assert_eq!(parse_go_duration("1h30m").unwrap(), Duration::minutes(90));
        assert_eq!(
            parse_go_duration("90µs").unwrap(),
            Duration::microseconds(90)
        );
        assert_eq!(parse_go_duration("0").unwrap(), Duration::zero());
        for bad in ["", "5", "ms", "1x", "1.2.3s", "--1s"] {
            assert!(parse_go_duration(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn window_is_half_open_and_ordered() {
        let s = parse_time("2025-01-12 00:00", DEFAULT_TIMEZONE).unwrap();
        let e = parse_time("2025-01-13 00:00", DEFAULT_TIMEZONE).unwrap();
        let w = Window::new(s, e).unwrap();
        assert!(w.contains(s));
        assert!(!w.contains(e));
        assert_eq!(w.duration(), Duration::hours(24));
        assert!(Window::new(e, s).is_err());
        assert_eq!(
            w.display_in(DEFAULT_TIMEZONE),
            "2025-01-12 00:00 – 2025-01-13 00:00 WIB"
        );
    }
}
