//! sidik-logs reads the logs of MRG, UPG, the Order Orchestrator and
//! PostgreSQL as they are exported: compressed or not (detected by magic
//! bytes), wrapped by a container runtime or not, in JSON lines, logfmt,
//! logrus text, PostgreSQL stderr/csvlog/jsonlog or a user regex. Each record
//! is normalised (time in UTC, level, message, order, payment and trace ids,
//! latency, HTTP status, error), classified by regex rules, and written to
//! Parquet; bad lines are counted and kept aside with their reason. On the
//! way it builds the per-minute timeline and every order's journey.

#![deny(missing_docs)]

pub mod batch;
pub mod classify;
pub mod incident;
pub mod ingest;
pub mod input;
pub mod journey;
pub mod jsonscan;
pub mod parse;
pub mod patterns;
pub mod record;
pub mod timeline;
pub mod ts;

use std::path::PathBuf;

/// `2025-01-12T12:05:01.123Z` for UTC milliseconds.
pub(crate) fn iso_ms(t: ts::Millis) -> String {
    let mut s = String::with_capacity(24);
    push_iso_ms(&mut s, t);
    s
}

/// Appends `2025-01-12T12:05:01.123Z` for UTC milliseconds (written by hand:
/// the journey table formats millions of them).
pub(crate) fn push_iso_ms(out: &mut String, t: ts::Millis) {
    let days = t.div_euclid(86_400_000);
    let ms = t.rem_euclid(86_400_000);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    if !(0..=9999).contains(&y) {
        use std::fmt::Write as _;
        let _ = write!(
            out,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000
        );
        return;
    }
    // Filled in place and appended at once.
    let mut b = *b"0000-00-00T00:00:00.000Z";
    digits(&mut b[0..4], y);
    digits(&mut b[5..7], m);
    digits(&mut b[8..10], d);
    digits(&mut b[11..13], ms / 3_600_000);
    digits(&mut b[14..16], ms / 60_000 % 60);
    digits(&mut b[17..19], ms / 1000 % 60);
    digits(&mut b[20..23], ms % 1000);
    // Only ASCII digits went in.
    out.push_str(std::str::from_utf8(&b).unwrap_or_default());
}

/// Writes `n` (0 ≤ n < 10^len) zero-padded into `to`.
fn digits(to: &mut [u8], mut n: i64) {
    for d in to.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso_ms_matches_chrono() {
        for t in [
            0i64,
            1_736_683_501_123,
            951_782_400_000,
            4_102_444_799_999,
            -86_400_001,
        ] {
            let want = chrono::DateTime::from_timestamp_millis(t)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string();
            assert_eq!(super::iso_ms(t), want, "{t}");
        }
    }
}

pub(crate) use sidik_core::fmt::csv_field;

/// What went wrong ingesting logs.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    /// A file could not be read or written.
    #[error("could not {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Configuration problem (format, pattern, prefix, rules).
    #[error("{0}")]
    Config(String),
    /// Writing Parquet failed.
    #[error("could not write Parquet: {0}")]
    Parquet(String),
}
