//! sidik-rca scores the investigation's hypotheses against the evidence the
//! other steps collected, and finds the incident's phases in the per-minute
//! series.
//!
//! - [`evidence`] reads what exists in `evidence/` (log timeline, templates,
//!   journeys, metrics, Go runtime findings, reconciliation, live PostgreSQL
//!   samples taken during the incident) and says what is missing.
//! - [`phases`] finds the start of the traffic spike, the onset of every
//!   error class, the start of degradation and the recovery ([`detect`] holds
//!   the change-point methods).
//! - [`hypotheses`] holds the hypotheses as data (`hypotheses.toml`, shipped,
//!   extensible by the user) and [`score`] evaluates their checks into
//!   verdicts, a primary cause and contributing factors.
//! - [`report`] writes `reports/rca.md` and `evidence/rca.json`.
//!
//! The playbook steps `rca.score`, `rca.validate`, `rca.document` and
//! `rca.contributing` are in [`actions`].

#![deny(missing_docs)]

pub mod actions;
pub mod clock;
pub mod detect;
pub mod evidence;
pub mod hypotheses;
pub mod phases;
pub mod report;
pub mod score;

use std::path::{Path, PathBuf};

pub use evidence::Evidence;
pub use hypotheses::{Hypothesis, HypothesisSet};
pub use phases::Phases;
pub use score::{Analysis, Verdict};

/// What can go wrong in sidik-rca.
#[derive(Debug, thiserror::Error)]
pub enum RcaError {
    /// An evidence or hypotheses file could not be read or understood.
    #[error("{path}{}: {message}", if *line > 0 { format!(":{line}") } else { String::new() })]
    Input {
        /// The file.
        path: PathBuf,
        /// Its line (0 when unknown).
        line: u64,
        /// What was expected.
        message: String,
    },
    /// Writing the report failed.
    #[error(transparent)]
    Core(#[from] sidik_core::Error),
}

impl From<sidik_evidence::EvidenceError> for RcaError {
    fn from(e: sidik_evidence::EvidenceError) -> Self {
        let (path, line, message) = e.into_parts();
        RcaError::input(&path, line, message)
    }
}

impl RcaError {
    /// An input error at `path:line`.
    pub fn input(path: &Path, line: u64, message: String) -> Self {
        RcaError::Input {
            path: path.to_path_buf(),
            line,
            message,
        }
    }
}

/// The hypotheses for an incident: the shipped ones, then
/// `<incident>/hypotheses.toml` if it exists, then `extra` files, each
/// replacing hypotheses with the same id.
pub fn hypotheses_for(
    inc: &sidik_core::Incident,
    extra: &[PathBuf],
) -> Result<HypothesisSet, RcaError> {
    let mut set = HypothesisSet::shipped();
    let local = inc.dir.root().join("hypotheses.toml");
    if local.is_file() {
        set.extend_from(&local)?;
    }
    for p in extra {
        set.extend_from(p)?;
    }
    Ok(set)
}

/// Reads the evidence, scores the hypotheses and writes the report:
/// what `sidik rca` and the playbook step do.
pub fn run(
    inc: &sidik_core::Incident,
    extra: &[PathBuf],
) -> Result<(Analysis, PathBuf, PathBuf), RcaError> {
    let set = hypotheses_for(inc, extra)?;
    let ev = Evidence::load(inc)?;
    let analysis = score::analyze(&ev, &set);
    let (md, json) = report::write(inc, &analysis)?;
    Ok((analysis, md, json))
}
