//! sidik-evidence is the contract of an incident's `evidence/` folder: where
//! each file lives ([`Files`]), what its rows or fields are (serde types),
//! and the [`VERSION`] of the JSON files. Every step that writes evidence
//! and every reader (the root-cause analysis, the charts, the incident
//! report, the command line) goes through it, so a column renamed in one
//! place cannot silently become zeros in another. `docs/evidence.md`
//! documents each file with an example.
//!
//! Conventions: CSV files have a header line and are read by column name,
//! never by position; their times are RFC 3339 in UTC (`Z`). JSON files
//! carry `version`, numbers are JSON numbers, and times are RFC 3339 with
//! the incident's offset (`2025-01-12T19:13:28.146+07:00`).
//!
//! It knows nothing of polars, logs or databases: it is the small crate
//! every other one can depend on.

#![deny(missing_docs)]

pub mod csvfile;
pub mod files;
pub mod logs;
pub mod metrics;
pub mod rca;
pub mod recon;
pub mod time;

use std::path::{Path, PathBuf};

pub use files::Files;

/// The version of the JSON evidence files' shape; a reader refuses a file
/// of a later version with a message to upgrade sidik.
pub const VERSION: u32 = 1;

/// What is wrong with an evidence file, located by file and line.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// The file could not be read as its contract says.
    #[error("{path}{}: {message}", if *line > 0 { format!(":{line}") } else { String::new() })]
    Input {
        /// The file.
        path: PathBuf,
        /// 1-based line, 0 when not about a line.
        line: u64,
        /// What was expected, and what to do.
        message: String,
    },
}

impl EvidenceError {
    /// An error at `path:line`.
    pub fn input(path: &Path, line: u64, message: impl Into<String>) -> Self {
        EvidenceError::Input {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }

    /// The file, the line (0 when not about one) and the message, for a
    /// crate's own error type.
    pub fn into_parts(self) -> (PathBuf, u64, String) {
        let EvidenceError::Input {
            path,
            line,
            message,
        } = self;
        (path, line, message)
    }
}

/// Reads a JSON evidence file into its type; a file of a later [`VERSION`]
/// is refused.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, EvidenceError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| EvidenceError::input(path, 0, format!("cannot read: {e}")))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| EvidenceError::input(path, e.line() as u64, e.to_string()))?;
    if let Some(v) = value.get("version").and_then(|v| v.as_u64()) {
        if v > u64::from(VERSION) {
            return Err(EvidenceError::input(
                path,
                0,
                format!("written by a later sidik (evidence version {v}, this one reads {VERSION}); upgrade sidik or re-run the step"),
            ));
        }
    }
    serde_json::from_value(value).map_err(|e| {
        EvidenceError::input(
            path,
            0,
            format!("{e}; re-run the step that writes it with this sidik"),
        )
    })
}

/// Writes a JSON evidence file: pretty-printed, a newline at the end,
/// atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), sidik_core::Error> {
    let text = serde_json::to_string_pretty(value).expect("evidence types serialise");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| sidik_core::Error::io("create folder", dir, e))?;
    }
    sidik_core::folder::write_atomic(path, format!("{text}\n").as_bytes())
}
