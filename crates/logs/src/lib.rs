//! sidik-logs reads the logs of MRG, UPG, the Order Orchestrator and
//! PostgreSQL as they are exported: compressed or not (detected by magic
//! bytes), wrapped by a container runtime or not, in JSON lines, logfmt,
//! logrus text, PostgreSQL stderr/csvlog/jsonlog or a user regex. Each record
//! is normalised (time in UTC, level, message, order, payment and trace ids,
//! latency, HTTP status, error), classified by regex rules, and written to
//! Parquet; bad lines are counted and kept aside with their reason. On the
//! way it builds the per-minute timeline and every order's journey. Its
//! playbook steps are in [`actions`], what `sidik check` says of the logs in
//! [`check`].

#![deny(missing_docs)]

pub mod actions;
pub mod batch;
pub mod check;
pub mod classify;
pub mod incident;
pub mod ingest;
pub mod input;
pub mod journey;
pub mod jsonscan;
pub mod parse;
pub mod patterns;
pub mod prefix;
pub mod record;
pub mod timeline;
pub mod ts;

use std::path::{Path, PathBuf};

/// The error of an I/O `action` on `path`, for `map_err`.
pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> LogsError {
    let path = path.to_path_buf();
    move |source| LogsError::Io {
        action,
        path,
        source,
    }
}

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
    // Filled in place and appended at once, two digits at a time.
    let mut b = *b"0000-00-00T00:00:00.000Z";
    let (y, m, d, ms) = (y as usize, m as usize, d as usize, ms as usize);
    let s = ms / 1000;
    for (at, n) in [
        (0, y / 100),
        (2, y % 100),
        (5, m),
        (8, d),
        (11, s / 3600),
        (14, s / 60 % 60),
        (17, s % 60),
        (21, ms % 100),
    ] {
        b[at..at + 2].copy_from_slice(&PAIRS[2 * n..2 * n + 2]);
    }
    b[20] = b'0' + (ms % 1000 / 100) as u8;
    // Only ASCII digits went in.
    out.push_str(std::str::from_utf8(&b).unwrap_or_default());
}

/// `00`, `01`, … `99`, one after the other.
const PAIRS: [u8; 200] = {
    let mut p = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        p[2 * i] = b'0' + (i / 10) as u8;
        p[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    p
};

#[cfg(test)]
mod tests {
    #[test]
    fn iso_ms_matches_chrono() {
        for t in [
            0i64,
            1_736_683_501_123,
            1_736_683_501_007,
            1_736_683_559_070,
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
