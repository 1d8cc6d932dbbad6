//! sidik-playbook runs the investigation as playbooks: TOML files that
//! mirror the tracker's phases, one step per task. A step runs a registered
//! action (the binary registers them by name in one place) or is a manual
//! step shown with instructions. The runner follows dependencies and
//! conditions, asks approval for dangerous steps, retries and times out,
//! writes the run journal after every step (so `--resume` re-runs only what
//! failed or whose inputs changed), and ticks the tracker task of every step
//! that succeeded, with a link to its report and a one-line result.
//!
//! It knows only sidik-core and sidik-tracker. Each capability crate
//! implements [`Action`] for its own steps (with the helpers of [`tools`]);
//! the binary registers them all in one place.

#![deny(missing_docs)]

pub mod builtin;
pub mod engine;
pub mod format;
pub mod journal;
pub mod tools;

use std::fmt;
use std::path::{Path, PathBuf};

pub use engine::{
    Action, Context, Done, Outcome, Registry, RunOptions, RunResult, Runner, StepResult,
};
pub use format::{Playbook, Step};
pub use journal::{Journal, StepRecord, StepStatus};
pub use tools::OrFail;

/// One problem in a playbook, located by file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The playbook file.
    pub path: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong and what to do.
    pub message: String,
}

impl Problem {
    /// A problem at `path:line`.
    pub fn new(path: &Path, line: Option<usize>, message: String) -> Self {
        Problem {
            path: path.to_path_buf(),
            line,
            message,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// Every problem found in a playbook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// What stops a run before or between steps (a step's own failure is not an
/// error: it is recorded and the run goes on).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The playbook is invalid.
    #[error("{0}")]
    Invalid(Problems),
    /// Steps name tracker tasks the tracker does not have.
    #[error("{problems}\n  hint: fix the task names in {playbook}, add the tasks to the tracker ({}), or run with --no-tracker to run the steps and leave the tracker alone", tracker.display())]
    TasksMissing {
        /// One problem a step.
        problems: Problems,
        /// The playbook file.
        playbook: String,
        /// The tracker.
        tracker: PathBuf,
    },
    /// `--only` names a step the playbook does not have.
    #[error("playbook {playbook} has no step `{step}`; its steps: {}", known.join(", "))]
    UnknownStep {
        /// The step asked for.
        step: String,
        /// The playbook.
        playbook: String,
        /// Its steps.
        known: Vec<String>,
    },
    /// An action vanished from the registry after validation.
    #[error("unknown action `{0}`")]
    UnknownAction(String),
    /// `--resume` after the steps changed.
    #[error("cannot resume {playbook}: its steps changed since the run in {} (steps added, removed, reordered or edited); run it again without --resume", journal.display())]
    StepListChanged {
        /// The playbook.
        playbook: String,
        /// The earlier journal.
        journal: PathBuf,
    },
    /// A journal could not be read.
    #[error("{0}")]
    Journal(String),
    /// Writing the journal or evidence failed.
    #[error(transparent)]
    Core(#[from] sidik_core::Error),
    /// The tracker could not be read or written.
    #[error(transparent)]
    Tracker(#[from] sidik_tracker::TrackerError),
}
