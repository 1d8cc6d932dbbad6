//! sidik-tracker reads and edits the user's markdown investigation tracker
//! without ever rewriting it: every edit replaces or inserts bytes at a known
//! range (tick `[ ]` → `[x]`, append an evidence link, nest a result or a
//! chart under a task, add a dated note, update "Last Updated"), and every
//! other byte stays as it was: line endings, byte-order mark, emoji, even
//! mojibake.
//!
//! Tasks are found by their words inside a named section, compared folded
//! (case, emoji, markup and mojibake ignored), so a playbook written with
//! clean text finds its task in a mojibake file. Saving re-reads the file and
//! refuses when someone changed it in the meantime, then replaces it
//! atomically. A separate repair finds mojibake and fixes only what
//! round-trips exactly.
//!
//! Re-serialising markdown libraries were ruled out for writing: they rewrite
//! line endings, links and callouts.

#![deny(missing_docs)]

pub mod doc;
pub mod edit;
pub mod find;
pub mod merge;
pub mod ops;
pub mod text;
pub mod write;

use std::fmt;
use std::path::{Path, PathBuf};

pub use doc::{Section, Task, Tracker};
pub use edit::{Change, LinkStyle, Status};
pub use write::{Saved, TrackerFile};

/// A task or section offered as a candidate in an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// 1-based line.
    pub line: usize,
    /// Its text.
    pub text: String,
}

struct Candidates<'a>(&'a [Candidate]);

impl fmt::Display for Candidates<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0 {
            write!(f, "\n  line {}: {}", c.line, c.text)?;
        }
        Ok(())
    }
}

/// What went wrong reading, matching or writing a tracker.
#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    /// Reading or writing failed.
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
    /// Replacing the file failed; the original is untouched.
    #[error("could not write {path}: {message}; the tracker was not changed")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The file is not UTF-8.
    #[error("{}:{line}:{column}: not UTF-8 (byte 0x{byte:02X}); sidik edits UTF-8 trackers only: save the file as UTF-8 and try again", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based byte column.
        column: usize,
        /// The offending byte.
        byte: u8,
    },
    /// No heading matches.
    #[error(
        "no section matches \"{query}\"; closest headings:{}",
        Candidates(candidates)
    )]
    NoSection {
        /// What was asked for.
        query: String,
        /// The closest headings.
        candidates: Vec<Candidate>,
    },
    /// Several headings match.
    #[error("several sections match \"{query}\"; name one more precisely (a path like \"Parent > Child\" works):{}", Candidates(matches))]
    AmbiguousSection {
        /// What was asked for.
        query: String,
        /// The matching headings.
        matches: Vec<Candidate>,
    },
    /// No task matches.
    #[error(
        "no task matches \"{query}\"{scope}; closest tasks:{}",
        Candidates(candidates)
    )]
    NoTask {
        /// What was asked for.
        query: String,
        /// ` in section "…"` or empty.
        scope: String,
        /// The closest tasks.
        candidates: Vec<Candidate>,
    },
    /// Several tasks match.
    #[error(
        "several tasks match \"{query}\"{scope}; use more of the task's words:{}",
        Candidates(matches)
    )]
    AmbiguousTask {
        /// What was asked for.
        query: String,
        /// ` in section "…"` or empty.
        scope: String,
        /// The matching tasks.
        matches: Vec<Candidate>,
    },
    /// Someone changed a line sidik was editing after sidik read the file.
    #[error("{}:{line}: this line was changed by someone else while sidik edited it (it now reads \"{theirs}\"); nothing was written. Run the command again to apply it to the new version", path.display())]
    Conflict {
        /// The file.
        path: PathBuf,
        /// The line, as sidik read the file.
        line: usize,
        /// The line as it is now (empty when it was deleted).
        theirs: String,
    },
    /// Another sidik held the tracker's lock too long.
    #[error("{} is being edited by another sidik (lock {} held for over {waited} s); nothing was written. Wait for it to finish, or end it, and run the command again", path.display(), lock.display())]
    Locked {
        /// The tracker.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// How long sidik waited, in seconds.
        waited: u64,
    },
    /// Internal: two planned changes overlap.
    #[error("internal error: overlapping edits at byte {at}")]
    Overlap {
        /// Where.
        at: usize,
    },
}

impl TrackerError {
    /// Builds an [`TrackerError::Io`].
    pub fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        TrackerError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}
