//! Opening and saving a tracker file safely: a save re-reads the file and
//! refuses when it changed since it was read; it writes a temporary file in
//! the same folder, flushes it to disk and renames it over the original
//! (keeping its permissions), following a symlink to its target.

use std::fs;
use std::path::{Path, PathBuf};

use crate::doc::Tracker;
use crate::TrackerError;

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
    /// Nothing to change: the file was not written.
    Unchanged,
    /// The file was replaced; `backup` is where the previous version went.
    Written {
        /// The backup copy, when one was asked for.
        backup: Option<PathBuf>,
    },
}

impl TrackerFile {
    /// Reads and parses `path` (a symlink is followed to its target).
    pub fn open(path: impl AsRef<Path>) -> Result<TrackerFile, TrackerError> {
        let path = path.as_ref().to_path_buf();
        let target = fs::canonicalize(&path).map_err(|e| TrackerError::io("read", &path, e))?;
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

    /// Writes `new` over the file, unless it equals what was read. Refuses,
    /// changing nothing, when the file changed on disk since it was read.
    /// With `backup`, the previous version is kept as `NAME.bak` beside it.
    pub fn save(&self, new: &Tracker, backup: bool) -> Result<Saved, TrackerError> {
        if new.bytes() == self.original.as_slice() {
            return Ok(Saved::Unchanged);
        }
        let now = fs::read(&self.target).map_err(|e| TrackerError::io("re-read", &self.path, e))?;
        if now != self.original {
            return Err(TrackerError::ChangedSinceRead {
                path: self.path.clone(),
            });
        }
        let backup_path = if backup {
            let mut name = self.target.file_name().unwrap_or_default().to_os_string();
            name.push(".bak");
            let b = self.target.with_file_name(name);
            sidik_core::folder::write_atomic(&b, &self.original).map_err(|e| {
                TrackerError::Write {
                    path: b.clone(),
                    message: e.to_string(),
                }
            })?;
            Some(b)
        } else {
            None
        };
        sidik_core::folder::write_atomic(&self.target, new.bytes()).map_err(|e| {
            TrackerError::Write {
                path: self.path.clone(),
                message: e.to_string(),
            }
        })?;
        if let Some(dir) = self.target.parent() {
            // Make the rename itself durable.
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(Saved::Written {
            backup: backup_path,
        })
    }
}
