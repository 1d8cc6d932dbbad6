//! `rca.json`: the root-cause analysis (hypotheses scored, the incident's
//! phases, first occurrences, contributing factors). Fields are in
//! alphabetical order, as the file has always listed them; times are RFC
//! 3339 with the incident's offset.

use serde::{Deserialize, Serialize};

use crate::time::Stamp;

/// `rca.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RcaFile {
    /// What happened first to last (phases, class onsets, hypotheses' first evidence).
    pub causal_order: Vec<Event>,
    /// Contributing factors, in the order they first occurred.
    pub contributing: Vec<Factor>,
    /// When each error class began to exceed its background.
    pub first_occurrences: Vec<Occurrence>,
    /// The hypotheses, most supported first.
    pub hypotheses: Vec<Hypothesis>,
    /// Where the hypotheses came from (shipped, `hypotheses.toml`, files given).
    pub hypothesis_sources: Vec<String>,
    /// Evidence that was missing, and the step that would collect it.
    pub missing: Vec<String>,
    /// Evidence found but not used, and why.
    pub notes: Vec<String>,
    /// The incident's phases.
    pub phases: Phases,
    /// The primary root cause's hypothesis id, when one is supported.
    pub primary: Option<String>,
    /// Why it is the primary one.
    pub primary_why: Option<String>,
    /// [`crate::VERSION`].
    pub version: u32,
}

/// One entry of the causal order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When.
    #[serde(with = "crate::time::millis")]
    pub at: Stamp,
    /// What.
    pub what: String,
}

/// A contributing factor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Factor {
    /// When it first showed.
    #[serde(with = "crate::time::millis_opt")]
    pub at: Option<Stamp>,
    /// Its numbers.
    pub detail: String,
    /// The hypothesis it belongs to (title).
    pub hypothesis: String,
    /// `hypothesis/check` id.
    pub id: String,
    /// What it says, in words.
    pub says: String,
}

/// When an error class began to exceed its background.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Occurrence {
    /// Lines the background before the spike would explain.
    pub background: f64,
    /// The class.
    pub class: String,
    /// Its first line of the run that raised the alarm.
    #[serde(with = "crate::time::millis")]
    pub first: Stamp,
    /// Its last line.
    #[serde(with = "crate::time::millis")]
    pub last: Stamp,
    /// Lines of the class.
    pub lines: u64,
    /// One line: where and its message.
    pub sample: Option<Sample>,
    /// Lines per service, most first.
    pub services: Vec<(String, u64)>,
    /// When the excess became significant (the alarm).
    #[serde(with = "crate::time::millis")]
    pub significant: Stamp,
}

/// One line of a class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// `file:line`.
    pub at: String,
    /// Its message.
    pub message: String,
}

/// One hypothesis, scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hypothesis {
    /// Its checks, each with its outcome.
    pub checks: Vec<Check>,
    /// When its first supporting evidence occurred.
    #[serde(with = "crate::time::millis_opt")]
    pub first_at: Option<Stamp>,
    /// Its id (`pool-exhaustion` …).
    pub id: String,
    /// Evidence it would need that is missing.
    pub missing: Vec<String>,
    /// Its number in the tracker (1–5).
    pub number: u32,
    /// 0–100, one decimal.
    pub score: f64,
    /// When its supporting evidence became significant.
    #[serde(with = "crate::time::millis_opt")]
    pub significant_at: Option<Stamp>,
    /// Its title.
    pub title: String,
    /// `supported`, `partial`, `contradicted` or `untested`.
    pub verdict: String,
    /// Why, in words.
    pub why: String,
}

/// One check of a hypothesis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// When what it found happened.
    #[serde(with = "crate::time::millis_opt")]
    pub at: Option<Stamp>,
    /// What it found, with the numbers.
    pub detail: String,
    /// Its id within the hypothesis.
    pub id: String,
    /// The kind of evidence it reads (`errors`, `connections` …).
    pub kind: String,
    /// `pass`, `fail` or `missing`.
    pub outcome: String,
    /// The evidence files and lines it points at.
    pub pointers: Vec<String>,
    /// `cause`, `consequence` or `context`.
    pub role: String,
    /// What it says, in words.
    pub says: String,
    /// Its weight in the score.
    pub weight: f64,
}

impl Check {
    /// Whether it holds.
    pub fn passed(&self) -> bool {
        self.outcome == "pass"
    }
}

/// The incident's phases.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Phases {
    /// Latency stepped up.
    pub degradation_start: Option<Phase>,
    /// Errors began.
    pub error_onset: Option<Phase>,
    /// Phases not found, and why.
    pub not_found: Vec<String>,
    /// Back to normal.
    pub recovery: Option<Phase>,
    /// Traffic rose.
    pub spike_start: Option<Phase>,
}

/// One phase boundary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    /// When.
    #[serde(with = "crate::time::millis")]
    pub at: Stamp,
    /// How it was found, with the numbers.
    pub method: String,
    /// The series that showed it.
    pub series: String,
}
