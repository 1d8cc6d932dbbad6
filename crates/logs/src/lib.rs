//! sidik-logs reads the logs of MRG, UPG, the Order Orchestrator and
//! PostgreSQL as they are exported: compressed or not (detected by magic
//! bytes), wrapped by a container runtime or not, in JSON lines, logfmt,
//! logrus text, PostgreSQL stderr/csvlog/jsonlog or a user regex. Each record
//! is normalised (time in UTC, level, message, order, payment and trace ids,
//! latency, HTTP status, error), classified by regex rules, and written to
//! Parquet; bad lines are counted and kept aside with their reason. On the
//! way it builds the per-minute timeline and every order's journey.

#![deny(missing_docs)]

pub mod classify;
pub mod incident;
pub mod ingest;
pub mod input;
pub mod journey;
pub mod parse;
pub mod patterns;
pub mod record;
pub mod timeline;
pub mod ts;

use std::path::PathBuf;

/// `2025-01-12T12:05:01.123Z` for UTC milliseconds.
pub(crate) fn iso_ms(t: ts::Millis) -> String {
    chrono::DateTime::from_timestamp_millis(t)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// A CSV field, quoted when it must be.
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

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
