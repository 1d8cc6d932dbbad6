//! sidik-core holds what every other sidik crate shares: the `incident.toml`
//! schema and its validation, the incident folder (`evidence/`, `reports/`,
//! `charts/`, `runs/`), time handling in the incident's timezone, the evidence
//! manifest that records every artifact a step wrote, and the redaction helper
//! that keeps connection passwords out of every message.
//!
//! Nothing here talks to a database, reads logs or edits the tracker; those
//! jobs belong to their own crates, which build on the types defined here.

#![deny(missing_docs)]

pub mod config;
pub mod error;
pub mod fmt;
pub mod folder;
pub mod manifest;
pub mod process;
pub mod redact;
pub mod sql;
pub mod time;
pub mod topology;

pub use config::{Incident, IncidentFile};
pub use error::{ConfigError, Error, Result};
pub use folder::IncidentDir;
pub use manifest::{Artifact, Manifest};
pub use redact::{redact, redact_statement};
pub use time::{Window, DEFAULT_TIMEZONE};
