//! Opening and saving a tracker file safely.
//!
//! A save takes an advisory lock beside the file (`.NAME.sidik-lock`, so two
//! sidik processes edit one after the other), re-reads the file, and replays
//! sidik's edit onto what is there now ([`crate::merge`]): a line someone
//! added or changed since sidik read the file is kept, and an edit of the
//! same line is refused with the line named. It writes a temporary file in
//! the same folder, flushes it to disk, re-reads the file once more just
//! before renaming the temporary file over it (starting again if it changed
//! in between), and keeps the file's permissions, following a symlink to its
//! target. An edit is never lost.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::doc::Tracker;
use crate::TrackerError;

/// How long a save waits for another sidik's edit of the same tracker.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// How often a save starts again when the file keeps changing under it.
const ATTEMPTS: usize = 20;

/// A tracker read from disk, remembered as read.
#[derive(Debug, Clone)]
pub struct TrackerFile {
    path: PathBuf,
    target: PathBuf,
    original: Vec<u8>,
    doc: Tracker,
}

/// What [`TrackerFile::save`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    /// Nothing to change: the file was not written (or already held the edit).
    Unchanged,
    /// The file was replaced; `backup` is where the previous version went.
    Written {
        /// The backup copy, when one was asked for.
        backup: Option<PathBuf>,
        /// Whether the file had changed since it was read, and the edit was
        /// merged with those changes.
        merged: bool,
    },
}

/// The advisory lock on a tracker, held while it is saved.
struct Lock(fs::File);

impl Lock {
    fn take(target: &Path, shown: &Path) -> Result<Lock, TrackerError> {
        let mut name = std::ffi::OsString::from(".");
        name.push(target.file_name().unwrap_or_default());
        name.push(".sidik-lock");
        let path = target.with_file_name(name);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| TrackerError::io("create the lock file", &path, e))?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Lock(file)),
                Err(fs::TryLockError::WouldBlock) if start.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(TrackerError::Locked {
                        path: shown.to_path_buf(),
                        lock: path,
                        waited: LOCK_WAIT.as_secs(),
                    })
                }
                Err(fs::TryLockError::Error(e)) => {
                    return Err(TrackerError::io("lock", &path, e));
                }
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

impl TrackerFile {
    /// Reads and parses `path` (a symlink is followed to its target). Stray
    /// temporary files a killed sidik left beside it are deleted.
    pub fn open(path: impl AsRef<Path>) -> Result<TrackerFile, TrackerError> {
        let path = path.as_ref().to_path_buf();
        let target = fs::canonicalize(&path).map_err(|e| TrackerError::io("read", &path, e))?;
        if let Some(dir) = target.parent() {
            sidik_core::folder::remove_stray_temps(dir);
        }
        let original = fs::read(&target).map_err(|e| TrackerError::io("read", &path, e))?;
        let doc = Tracker::parse(original.clone(), &path)?;
        Ok(TrackerFile {
            path,
            target,
            original,
            doc,
        })
    }

    /// The path as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file actually written (the symlink's target).
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The tracker as read.
    pub fn doc(&self) -> &Tracker {
        &self.doc
    }

    /// Writes `new` (an edit of the tracker as read) over the file, unless
    /// it changes nothing. When the file changed on disk since it was read,
    /// the edit is merged into the new version: kept changes of other lines,
    /// refused ([`TrackerError::Conflict`], nothing written) when both
    /// changed one line. With `backup`, the version replaced is kept as
    /// `NAME.bak` beside it.
    pub fn save(&self, new: &Tracker, backup: bool) -> Result<Saved, TrackerError> {
        if new.bytes() == self.original.as_slice() {
            return Ok(Saved::Unchanged);
        }
        let _lock = Lock::take(&self.target, &self.path)?;
        // The edit to replay: base → ours, onto whatever the file holds.
        let mut base = self.original.clone();
        let mut ours = new.bytes().to_vec();
        let mut wrote: Option<Option<PathBuf>> = None;
        let mut merged_any = false;
        for _ in 0..ATTEMPTS {
            let reread = |e| TrackerError::io("re-read", &self.path, e);
            // Kept open across the rename: a writer that appends in place
            // after the last check writes into this version, and is seen.
            let mut held = fs::File::open(&self.target).map_err(reread)?;
            let mut now = Vec::new();
            held.read_to_end(&mut now).map_err(reread)?;
            let merged =
                crate::merge::merge(&base, &ours, &now).map_err(|c| TrackerError::Conflict {
                    path: self.path.clone(),
                    line: c.line,
                    theirs: c.theirs,
                })?;
            merged_any |= now != base;
            if merged == now {
                return Ok(match wrote {
                    None => Saved::Unchanged,
                    Some(backup) => Saved::Written {
                        backup,
                        merged: merged_any,
                    },
                });
            }
            // What is written must read back as a tracker.
            Tracker::parse(merged.clone(), &self.path)?;
            let backup_path = match (&wrote, backup) {
                (Some(b), _) => b.clone(),
                (None, true) => {
                    let mut name = self.target.file_name().unwrap_or_default().to_os_string();
                    name.push(".bak");
                    let b = self.target.with_file_name(name);
                    sidik_core::folder::write_atomic(&b, &now).map_err(|e| {
                        TrackerError::Write {
                            path: b.clone(),
                            message: e.to_string(),
                        }
                    })?;
                    Some(b)
                }
                (None, false) => None,
            };
            let written = sidik_core::folder::write_atomic_checked(&self.target, &merged, || {
                Ok(fs::read(&self.target)? == now)
            })
            .map_err(|e| TrackerError::Write {
                path: self.path.clone(),
                message: e.to_string(),
            })?;
            if !written {
                continue; // changed again while the new version was written
            }
            if let Some(dir) = self.target.parent() {
                // Make the rename itself durable.
                if let Ok(d) = fs::File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            wrote = Some(backup_path.clone());
            // Did someone write into the replaced version after the check?
            let mut late = Vec::new();
            held.seek(SeekFrom::Start(0))
                .and_then(|_| held.read_to_end(&mut late))
                .map_err(reread)?;
            if late == now {
                return Ok(Saved::Written {
                    backup: backup_path,
                    merged: merged_any,
                });
            }
            // Replay their late change (now → late) onto what was written.
            base = now;
            ours = late;
        }
        Err(TrackerError::Write {
            path: self.path.clone(),
            message: format!(
                "the file changed {ATTEMPTS} times while sidik wrote it; nothing was written. Run the command again when it is quiet"
            ),
        })
    }
}
