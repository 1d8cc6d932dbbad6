//! The incident folder: `incident.toml` and the four folders steps write into.
//!
//! ```text
//! incident.toml   configuration (see [`crate::config`])
//! evidence/       parquet/json written by steps, and manifest.json
//! reports/        markdown + CSV/JSON reports
//! charts/         PNG + SVG
//! runs/           one JSON journal per playbook run
//! ```

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// File name of the configuration inside an incident folder.
pub const CONFIG_FILE: &str = "incident.toml";

/// The folders every incident folder has, in the order they are created.
pub const SUBFOLDERS: [&str; 4] = ["evidence", "reports", "charts", "runs"];

/// An incident folder on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentDir {
    root: PathBuf,
}

impl IncidentDir {
    /// Refers to an existing folder without touching the disk.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        IncidentDir { root: root.into() }
    }

    /// Creates `root` and its sub-folders (existing ones are kept as they are).
    pub fn create(root: impl Into<PathBuf>) -> Result<Self> {
        let dir = IncidentDir::new(root);
        fs::create_dir_all(&dir.root).map_err(|e| Error::io("create folder", &dir.root, e))?;
        for sub in SUBFOLDERS {
            let p = dir.root.join(sub);
            fs::create_dir_all(&p).map_err(|e| Error::io("create folder", &p, e))?;
        }
        Ok(dir)
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `incident.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }

    /// `evidence/`.
    pub fn evidence(&self) -> PathBuf {
        self.root.join("evidence")
    }

    /// `reports/`.
    pub fn reports(&self) -> PathBuf {
        self.root.join("reports")
    }

    /// `charts/`.
    pub fn charts(&self) -> PathBuf {
        self.root.join("charts")
    }

    /// `runs/`.
    pub fn runs(&self) -> PathBuf {
        self.root.join("runs")
    }

    /// Deletes the temporary files a killed sidik left in the folder and its
    /// subfolders ([`remove_stray_temps`]); returns how many.
    pub fn remove_stray_temps(&self) -> usize {
        std::iter::once(self.root.clone())
            .chain(SUBFOLDERS.iter().map(|s| self.root.join(s)))
            .map(|d| remove_stray_temps(&d))
            .sum()
    }

    /// Resolves a path written in `incident.toml`: relative paths are relative
    /// to the incident folder.
    pub fn resolve(&self, path: impl AsRef<Path>) -> PathBuf {
        let p = path.as_ref();
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.root.join(p)
        }
    }

    /// `path` relative to the incident folder, with `/` separators, for
    /// manifests and links; paths outside the folder are returned whole.
    pub fn relative(&self, path: &Path) -> String {
        let rel = path.strip_prefix(&self.root).unwrap_or(path);
        rel.components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// `target` relative to the folder `base`, `/`-separated (`../inc/reports/x.md`),
/// for links written into files that live in `base`. Both are resolved
/// through the file system when they exist, so symlinks and `..` are handled;
/// a target that does not exist yet is resolved through its nearest existing
/// parent.
pub fn relative_path(target: &Path, base: &Path) -> String {
    fn resolve(p: &Path) -> PathBuf {
        let abs = if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir().unwrap_or_default().join(p)
        };
        let mut missing = Vec::new();
        let mut cur = abs.as_path();
        loop {
            if let Ok(c) = fs::canonicalize(cur) {
                let mut out = c;
                for m in missing.iter().rev() {
                    out.push(m);
                }
                return out;
            }
            match (cur.file_name(), cur.parent()) {
                (Some(name), Some(parent)) => {
                    missing.push(name.to_os_string());
                    cur = parent;
                }
                _ => return abs,
            }
        }
    }
    let base = if base.as_os_str().is_empty() {
        Path::new(".")
    } else {
        base
    };
    let t = resolve(target);
    let b = resolve(base);
    let tc: Vec<_> = t.components().collect();
    let bc: Vec<_> = b.components().collect();
    let common = tc.iter().zip(&bc).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = std::iter::repeat_n("..".to_string(), bc.len() - common).collect();
    parts.extend(
        tc[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder,
/// flushed to disk, then renamed over the target. Readers see the old file or
/// the new one, never half of either. An existing file's permissions are kept.
///
/// The temporary file is named `.sidik-PID-XXXXXX`, so that
/// [`remove_stray_temps`] can tell one a killed process left from one a
/// running process is still writing.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_checked(path, bytes, || Ok(true)).map(|_| ())
}

/// [`write_atomic`], with `still_ok` asked just before the rename: when it
/// returns `false`, the temporary file is deleted, the target is left as it
/// is and `Ok(false)` is returned (a caller that re-reads the target there
/// narrows the window in which another writer's change could be lost to the
/// rename itself).
pub fn write_atomic_checked(
    path: &Path,
    bytes: &[u8],
    still_ok: impl FnOnce() -> std::io::Result<bool>,
) -> Result<bool> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}{}-", std::process::id()))
        .tempfile_in(dir)
        .map_err(|e| Error::io("create a temporary file in", dir, e))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| Error::io("write", tmp.path().to_path_buf(), e))?;
    if let Ok(meta) = fs::metadata(path) {
        fs::set_permissions(tmp.path(), meta.permissions())
            .map_err(|e| Error::io("set permissions of", tmp.path().to_path_buf(), e))?;
    } else {
        // tempfile creates 0600; a new artifact gets the usual 0644.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644));
        }
    }
    if !still_ok().map_err(|e| Error::io("re-read", path, e))? {
        return Ok(false); // dropping `tmp` deletes it
    }
    tmp.persist(path)
        .map_err(|e| Error::io("replace", path, e.error))?;
    Ok(true)
}

/// How every temporary file sidik writes is named.
pub const TEMP_PREFIX: &str = ".sidik-";

/// Deletes the temporary files (`.sidik-PID-…`) a killed sidik left in
/// `dir`: those whose process is gone, and those of the older naming
/// (`.sidik-XXXXXX`, no process id) untouched for ten minutes. A running
/// process's files are left alone. Returns how many were deleted; a file
/// that cannot be deleted is skipped.
pub fn remove_stray_temps(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(TEMP_PREFIX)) else {
            continue;
        };
        let Ok(meta) = e.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let stale = match rest
            .split_once('-')
            .and_then(|(p, _)| p.parse::<u32>().ok())
        {
            Some(pid) => !crate::process::alive(pid),
            None => meta
                .modified()
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(600)),
        };
        if stale && fs::remove_file(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_makes_all_subfolders_and_keeps_existing_files() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("inc");
        let dir = IncidentDir::create(&root).unwrap();
        fs::write(dir.evidence().join("keep.json"), "{}").unwrap();
        IncidentDir::create(&root).unwrap();
        for sub in SUBFOLDERS {
            assert!(root.join(sub).is_dir(), "{sub}");
        }
        assert_eq!(
            fs::read_to_string(dir.evidence().join("keep.json")).unwrap(),
            "{}"
        );
        assert_eq!(
            dir.relative(&dir.reports().join("recon.md")),
            "reports/recon.md"
        );
    }

    #[test]
    fn relative_paths_between_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let inc = tmp.path().join("inc");
        let notes = tmp.path().join("notes");
        fs::create_dir_all(inc.join("reports")).unwrap();
        fs::create_dir_all(&notes).unwrap();
        fs::write(inc.join("reports/a.md"), "x").unwrap();
        assert_eq!(
            relative_path(&inc.join("reports/a.md"), &notes),
            "../inc/reports/a.md"
        );
        assert_eq!(
            relative_path(&inc.join("reports/a.md"), &inc),
            "reports/a.md"
        );
        // Not written yet.
        assert_eq!(
            relative_path(&inc.join("charts/t.png"), &inc),
            "charts/t.png"
        );
    }

    #[test]
    fn atomic_write_replaces_and_keeps_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("a.txt");
        write_atomic(&p, b"one").unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o644
        );
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let leftovers: Vec<_> = fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary file left behind");
    }
}
