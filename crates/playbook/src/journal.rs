//! The run journal: `runs/PLAYBOOK-YYYYMMDDTHHMMSSZ.json`, rewritten
//! atomically after every step, so a run that dies keeps what it did.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    /// Not reached yet.
    Pending,
    /// Running now (a journal left in this state belongs to a run that died).
    Running,
    /// The action succeeded.
    Succeeded,
    /// The action failed.
    Failed,
    /// Not run: a dependency did not succeed, a condition did not hold, no
    /// approval, not selected, or the action found nothing to work on.
    Skipped,
    /// A manual step: shown with its instructions, never ticked.
    Manual,
}

/// A file a step wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// Path relative to the incident folder.
    pub path: String,
    /// SHA-256 of its bytes.
    pub sha256: String,
}

/// One step's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    /// Step id.
    pub id: String,
    /// Action name, none for manual steps.
    pub action: Option<String>,
    /// The tracker task it completes.
    pub task: Option<String>,
    /// Outcome.
    pub status: StepStatus,
    /// Carried over from an earlier run by `--resume` (inputs unchanged).
    #[serde(default)]
    pub reused: bool,
    /// Why it was skipped or failed; the instructions of a manual step.
    pub reason: Option<String>,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Wall time in milliseconds.
    pub duration_ms: Option<u64>,
    /// Attempts made.
    pub attempts: u32,
    /// Digests of the inputs the action declared (path → SHA-256, or "missing").
    pub inputs: BTreeMap<String, String>,
    /// Files written.
    pub outputs: Vec<Output>,
    /// The main report, linked from the tracker.
    pub report: Option<String>,
    /// One-line result.
    pub result: Option<String>,
    /// What happened in the tracker.
    pub tracker: Option<String>,
}

impl StepRecord {
    /// A pending record.
    pub fn pending(id: &str, action: Option<&str>, task: Option<&str>) -> Self {
        StepRecord {
            id: id.to_string(),
            action: action.map(str::to_string),
            task: task.map(str::to_string),
            status: StepStatus::Pending,
            reused: false,
            reason: None,
            started_at: None,
            finished_at: None,
            duration_ms: None,
            attempts: 0,
            inputs: BTreeMap::new(),
            outputs: Vec::new(),
            report: None,
            result: None,
            tracker: None,
        }
    }
}

/// The playbook a journal belongs to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlaybookRef {
    /// Playbook id.
    pub id: String,
    /// Title.
    pub title: String,
    /// File it was read from.
    pub file: String,
    /// Digest of its step list.
    pub digest: String,
}

/// One run of one playbook.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Journal {
    /// Format version.
    pub version: u32,
    /// `PLAYBOOK-YYYYMMDDTHHMMSSZ`.
    pub run_id: String,
    /// The playbook.
    pub playbook: PlaybookRef,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// When it finished; none while running or when it died.
    pub finished_at: Option<DateTime<Utc>>,
    /// The run this one resumed.
    pub resumed_from: Option<String>,
    /// Steps in file order.
    pub steps: Vec<StepRecord>,
}

impl Journal {
    /// Path of this journal in `runs_dir`.
    pub fn path_in(&self, runs_dir: &Path) -> PathBuf {
        runs_dir.join(format!("{}.json", self.run_id))
    }

    /// Writes the journal atomically.
    pub fn save(&self, runs_dir: &Path) -> Result<(), sidik_core::Error> {
        std::fs::create_dir_all(runs_dir)
            .map_err(|e| sidik_core::Error::io("create folder", runs_dir, e))?;
        let mut json = serde_json::to_vec_pretty(self).expect("journal serialises");
        json.push(b'\n');
        sidik_core::folder::write_atomic(&self.path_in(runs_dir), &json)
    }

    /// The most recent journal of `playbook_id` in `runs_dir`, if any.
    pub fn latest(
        runs_dir: &Path,
        playbook_id: &str,
    ) -> Result<Option<(PathBuf, Journal)>, String> {
        let Ok(entries) = std::fs::read_dir(runs_dir) else {
            return Ok(None);
        };
        let prefix = format!("{playbook_id}-");
        let mut names: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|x| x == "json")
                    && p.file_stem().and_then(|s| s.to_str()).is_some_and(|s| {
                        s.strip_prefix(&prefix)
                            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
                    })
            })
            .collect();
        names.sort();
        let Some(path) = names.pop() else {
            return Ok(None);
        };
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let j = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{} is not a sidik run journal: {e}", path.display()))?;
        Ok(Some((path, j)))
    }
}

/// A run id for `playbook_id` starting now, unique in `runs_dir`.
pub fn new_run_id(runs_dir: &Path, playbook_id: &str, now: DateTime<Utc>) -> String {
    // A two-digit sequence keeps names sortable when runs start in the same second.
    let base = format!("{playbook_id}-{}", now.format("%Y%m%dT%H%M%SZ"));
    let mut n = 1;
    loop {
        let id = format!("{base}-{n:02}");
        if !runs_dir.join(format!("{id}.json")).exists() {
            return id;
        }
        n += 1;
    }
}
