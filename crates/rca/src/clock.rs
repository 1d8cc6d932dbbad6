//! Times as the analysis shows them, in the incident's timezone (through
//! sidik-core's one formatter).

use chrono_tz::Tz;
use sidik_core::time::{local, Shown};

/// `HH:MM` in the incident's timezone.
pub fn hhmm(tz: Tz, ms: i64) -> String {
    local(ms, tz, Shown::Clock)
}

/// `HH:MM:SS` in the incident's timezone.
pub fn hhmmss(tz: Tz, ms: i64) -> String {
    local(ms, tz, Shown::ClockSeconds)
}

/// RFC 3339 with milliseconds in the incident's timezone.
pub fn rfc3339(tz: Tz, ms: i64) -> String {
    local(ms, tz, Shown::Rfc3339)
}
