//! The evidence manifest: `evidence/manifest.json`, one entry per artifact a
//! step wrote (path, producing step, SHA-256 digest, size, creation time).
//!
//! It lets a later run tell whether an artifact changed since a step wrote
//! it, and lets a reader of a report trace each file back to the step.

use std::fs::{self, File};
use std::io::Read;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::folder::{write_atomic, IncidentDir};

/// Path of the manifest inside the incident folder.
pub const MANIFEST_PATH: &str = "evidence/manifest.json";

/// One artifact written by a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    /// Path relative to the incident folder, `/`-separated.
    pub path: String,
    /// The step (or command) that wrote it.
    pub step: String,
    /// Lower-case hex SHA-256 of the file's bytes.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
}

/// All artifacts of an incident folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version of this file.
    pub version: u32,
    /// Artifacts in the order they were first recorded.
    pub artifacts: Vec<Artifact>,
}

/// How an artifact on disk compares with its manifest entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactState {
    /// Same digest as recorded.
    Unchanged,
    /// The file's bytes differ from what the step wrote.
    Changed,
    /// The file is gone.
    Missing,
}

impl Manifest {
    /// Reads the manifest of `dir`; a folder without one has an empty manifest.
    pub fn load(dir: &IncidentDir) -> Result<Self> {
        let path = dir.root().join(MANIFEST_PATH);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Manifest {
                path,
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest {
                version: 1,
                artifacts: Vec::new(),
            }),
            Err(e) => Err(Error::io("read", path, e)),
        }
    }

    /// Hashes `file` (inside `dir`) and records it as written by `step`,
    /// replacing an earlier entry for the same path.
    pub fn record(&mut self, dir: &IncidentDir, file: &Path, step: &str) -> Result<&Artifact> {
        let abs = dir.resolve(file);
        let (sha256, bytes) = sha256_file(&abs)?;
        let artifact = Artifact {
            path: dir.relative(&abs),
            step: step.to_string(),
            sha256,
            bytes,
            created_at: Utc::now(),
        };
        let idx = match self.artifacts.iter().position(|a| a.path == artifact.path) {
            Some(i) => {
                self.artifacts[i] = artifact;
                i
            }
            None => {
                self.artifacts.push(artifact);
                self.artifacts.len() - 1
            }
        };
        Ok(&self.artifacts[idx])
    }

    /// The entry for `path` (relative, `/`-separated), if any.
    pub fn get(&self, path: &str) -> Option<&Artifact> {
        self.artifacts.iter().find(|a| a.path == path)
    }

    /// Compares every recorded artifact with the file on disk.
    pub fn verify(&self, dir: &IncidentDir) -> Result<Vec<(String, ArtifactState)>> {
        let mut out = Vec::with_capacity(self.artifacts.len());
        for a in &self.artifacts {
            let abs = dir.resolve(&a.path);
            let state = if !abs.exists() {
                ArtifactState::Missing
            } else if sha256_file(&abs)?.0 == a.sha256 {
                ArtifactState::Unchanged
            } else {
                ArtifactState::Changed
            };
            out.push((a.path.clone(), state));
        }
        Ok(out)
    }

    /// Writes the manifest atomically to `evidence/manifest.json`.
    pub fn save(&self, dir: &IncidentDir) -> Result<()> {
        let path = dir.root().join(MANIFEST_PATH);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io("create folder", parent, e))?;
        }
        let mut text = serde_json::to_vec_pretty(self).expect("manifest serialises");
        text.push(b'\n');
        write_atomic(&path, &text)
    }
}

/// SHA-256 (lower-case hex) and size of a file, read in 64 KiB blocks.
pub fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let mut f = File::open(path).map_err(|e| Error::io("read", path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io("read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    Ok((hex, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_save_load_verify() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = IncidentDir::create(tmp.path()).unwrap();
        let mut m = Manifest::load(&dir).unwrap();
        assert!(m.artifacts.is_empty());
        let report = dir.reports().join("recon.md");
        fs::write(&report, "abc").unwrap();
        let a = m.record(&dir, &report, "recon").unwrap().clone();
        assert_eq!(a.path, "reports/recon.md");
        assert_eq!(
            a.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(a.bytes, 3);
        // Recording again replaces, never duplicates.
        m.record(&dir, Path::new("reports/recon.md"), "recon-2")
            .unwrap();
        assert_eq!(m.artifacts.len(), 1);
        m.save(&dir).unwrap();
        let back = Manifest::load(&dir).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.verify(&dir).unwrap()[0].1, ArtifactState::Unchanged);
        fs::write(&report, "abd").unwrap();
        assert_eq!(back.verify(&dir).unwrap()[0].1, ArtifactState::Changed);
        fs::remove_file(&report).unwrap();
        assert_eq!(back.verify(&dir).unwrap()[0].1, ArtifactState::Missing);
    }

    #[test]
    fn corrupt_manifest_names_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = IncidentDir::create(tmp.path()).unwrap();
        fs::write(dir.root().join(MANIFEST_PATH), "{not json").unwrap();
        let err = Manifest::load(&dir).unwrap_err().to_string();
        assert!(err.contains("manifest.json"), "{err}");
    }
}
