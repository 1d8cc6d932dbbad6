//! What apply keeps on disk so that it can stop anywhere and resume: the
//! cursor (`evidence/recovery/apply.json`), the audit trail (`audit.jsonl`,
//! one line per changed row or request and per skipped step) and the undo
//! file (`undo.jsonl`, the before- and after-image of every changed row).
//!
//! A batch is written to the cursor as *pending*, with the transaction id,
//! before its COMMIT is sent. After a crash (kill -9, a lost connection)
//! the next run asks the server what became of that transaction
//! (`txid_status`): committed, its entries go to the audit and the cursor
//! moves past it; aborted, the batch runs again. So nothing is applied
//! twice and nothing applied goes unaudited.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sidik_core::Incident;

use crate::RecoverError;

/// What happened to one step, or one row of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A row was changed or a request accepted.
    Changed,
    /// The step was not applied: the row is no longer as the plan saw it.
    Skipped,
    /// A row an undo restored.
    Restored,
}

/// One line of `audit.jsonl` (and, for changed rows, of `undo.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Who: the operating-system user and host, and the database role.
    pub who: String,
    /// `sql` or `http`.
    pub via: String,
    /// The transaction (SQL) whose commit made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xid: Option<i64>,
    /// The plan step (0-based line of plan.csv's rows).
    pub step: usize,
    /// The order.
    pub order_id: String,
    /// The plan's decision.
    pub decision: String,
    /// The statement file or endpoint that carried it out.
    pub by: String,
    /// changed, skipped or restored.
    pub outcome: Outcome,
    /// Why, for a skip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The table (SQL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// The table's key column (SQL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The changed row's key value, or the request's idempotency key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The row before (`null` for an inserted row), or the request sent.
    #[serde(default)]
    pub before: Option<serde_json::Value>,
    /// The row after, or the response received.
    #[serde(default)]
    pub after: Option<serde_json::Value>,
}

/// A batch sent but not known to be committed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    /// Its transaction id (`txid_current()`).
    pub xid: i64,
    /// The cursor after it.
    pub next: usize,
    /// What it did.
    pub entries: Vec<Entry>,
}

/// `evidence/recovery/apply.json`: where apply is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    /// The evidence contract's version.
    pub version: u32,
    /// SHA-256 of the plan.csv this cursor walks.
    pub plan: String,
    /// `sql` or `http`.
    pub via: String,
    /// The next plan step to apply.
    pub next: usize,
    /// Rows changed or requests accepted so far.
    pub changed: u64,
    /// Steps skipped so far.
    pub skipped: u64,
    /// Times apply waited for the server's health or a lock.
    pub throttled: u64,
    /// Seconds it waited in all.
    pub waited_s: f64,
    /// A batch whose commit is not yet known.
    #[serde(default)]
    pub pending: Option<Pending>,
    /// Whether every step was applied.
    pub finished: bool,
}

impl State {
    /// Marks the cursor finished when it is past the last of `total` steps.
    pub fn finish_if_done(&mut self, total: usize) -> bool {
        if self.next >= total {
            self.next = total;
            self.finished = true;
        }
        self.finished
    }

    /// The cursor at the first step of a plan.
    pub fn fresh(plan: &str, via: &str) -> State {
        State {
            version: sidik_evidence::VERSION,
            plan: plan.to_string(),
            via: via.to_string(),
            next: 0,
            changed: 0,
            skipped: 0,
            throttled: 0,
            waited_s: 0.0,
            pending: None,
            finished: false,
        }
    }
}

/// The files of apply in an incident.
#[derive(Debug, Clone)]
pub struct Journal {
    /// `sql` or `http`.
    pub via: String,
    /// `evidence/recovery/apply.json` (or `apply-http.json`).
    pub state: PathBuf,
    /// `evidence/recovery/audit.jsonl`.
    pub audit: PathBuf,
    /// `evidence/recovery/undo.jsonl` (or `undo-http.jsonl`).
    pub undo: PathBuf,
}

fn io(what: &'static str, p: &Path, e: std::io::Error) -> RecoverError {
    RecoverError::Core(sidik_core::Error::io(what, p, e))
}

impl Journal {
    /// The files for `via` (`sql` or `http`) in `inc`.
    pub fn of(inc: &Incident, via: &str) -> Journal {
        let dir = inc.dir.evidence().join("recovery");
        Journal {
            via: via.to_string(),
            state: dir.join(if via == "sql" {
                "apply.json".to_string()
            } else {
                format!("apply-{via}.json")
            }),
            audit: dir.join("audit.jsonl"),
            undo: dir.join(if via == "sql" {
                "undo.jsonl".to_string()
            } else {
                format!("undo-{via}.jsonl")
            }),
        }
    }

    /// The cursor, when apply ran before.
    pub fn load(&self) -> Result<Option<State>, RecoverError> {
        match std::fs::read(&self.state) {
            Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
                RecoverError::Config(format!(
                    "{} is damaged ({e}); it is apply's cursor: look at audit.jsonl for what was applied, then remove it and run apply again (the guards skip what was applied)",
                    self.state.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read", &self.state, e)),
        }
    }

    /// The saved cursor to go on from (a fresh one when there is none).
    /// Refuses when the plan changed while the old one is unfinished,
    /// unless `restart`; `safe` says why starting over is safe.
    pub fn resume(&self, plan: &str, restart: bool, safe: &str) -> Result<State, RecoverError> {
        match self.load()? {
            Some(s) if s.plan != plan && !s.finished && !restart => Err(RecoverError::Refused(format!(
                "the plan changed since apply stopped at step {} of the old one ({}); finish that first with the old plan, or start over with --restart (safe: {safe})",
                s.next,
                self.state.display()
            ))),
            Some(s) => Ok(s),
            None => Ok(State::fresh(plan, &self.via)),
        }
    }

    /// Writes the cursor atomically and durably.
    pub fn save(&self, s: &State) -> Result<(), RecoverError> {
        if let Some(d) = self.state.parent() {
            std::fs::create_dir_all(d).map_err(|e| io("create folder", d, e))?;
        }
        let bytes = serde_json::to_vec_pretty(s).expect("state serialises");
        sidik_core::folder::write_atomic(&self.state, &bytes)?;
        Ok(())
    }

    /// Appends entries to the audit and the changed ones to the undo file,
    /// synced to disk before it returns.
    pub fn append(&self, entries: &[Entry]) -> Result<(), RecoverError> {
        if entries.is_empty() {
            return Ok(());
        }
        append_lines(&self.audit, entries.iter())?;
        append_lines(
            &self.undo,
            entries.iter().filter(|e| e.outcome == Outcome::Changed),
        )
    }

    /// Whether the audit already holds entries of transaction `xid` (a
    /// crash after the audit was written but before the cursor moved).
    pub fn audited(&self, xid: i64) -> Result<bool, RecoverError> {
        self.audit_has(&format!("\"xid\":{xid},"))
    }

    /// Whether the audit already holds the request with idempotency key `key`.
    pub fn audited_request(&self, key: &str) -> Result<bool, RecoverError> {
        self.audit_has(&format!("\"id\":\"{key}\""))
    }

    /// Whether a line of the audit contains `needle` (a field as serde_json
    /// writes it), read without parsing every entry.
    fn audit_has(&self, needle: &str) -> Result<bool, RecoverError> {
        match std::fs::read_to_string(&self.audit) {
            Ok(t) => Ok(t.lines().any(|l| l.contains(needle))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io("read", &self.audit, e)),
        }
    }
}

fn append_lines<'a>(
    path: &Path,
    entries: impl Iterator<Item = &'a Entry>,
) -> Result<(), RecoverError> {
    let mut buf = Vec::new();
    for e in entries {
        serde_json::to_writer(&mut buf, e).expect("entry serialises");
        buf.push(b'\n');
    }
    if buf.is_empty() {
        return Ok(());
    }
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| io("create folder", d, e))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io("open", path, e))?;
    f.write_all(&buf).map_err(|e| io("write", path, e))?;
    f.sync_data().map_err(|e| io("sync", path, e))
}

/// Reads a JSON-lines file of entries; a torn last line (a crash while it
/// was written) is ignored, any other bad line is an error naming it.
pub fn read_entries(path: &Path) -> Result<Vec<Entry>, RecoverError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("read", path, e)),
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        match serde_json::from_str(l) {
            Ok(e) => out.push(e),
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {}
            Err(e) => {
                return Err(RecoverError::Config(format!(
                    "{}:{}: not an audit entry ({e})",
                    path.display(),
                    i + 1
                )))
            }
        }
    }
    Ok(out)
}

/// Who runs apply: `user@host`.
pub fn operator() -> String {
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{user}@{host}")
}

/// Now, RFC 3339 in UTC with milliseconds.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Appends entries to the audit file alone (undo's restorations).
pub fn append_audit(path: &Path, entries: &[Entry]) -> Result<(), RecoverError> {
    append_lines(path, entries.iter())
}
