//! Where each evidence file lives in the incident folder.

use std::path::{Path, PathBuf};

use sidik_core::IncidentDir;

/// The paths of the evidence files of one incident folder.
#[derive(Debug, Clone)]
pub struct Files {
    root: PathBuf,
}

impl Files {
    /// The evidence files of `dir` (under `dir/evidence/`).
    pub fn of(dir: &IncidentDir) -> Files {
        Files {
            root: dir.evidence(),
        }
    }

    /// The evidence folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `logs/`: what the log ingest writes.
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// `logs/timeline.csv`: per minute and service ([`crate::logs::Timeline`]).
    pub fn timeline(&self) -> PathBuf {
        self.root.join(TIMELINE)
    }

    /// `logs/patterns.csv`: message templates ([`crate::logs::PatternRow`]).
    pub fn patterns(&self) -> PathBuf {
        self.root.join(PATTERNS)
    }

    /// `logs/journeys.csv`: one row per order ([`crate::logs::JourneyRow`]).
    pub fn journeys(&self) -> PathBuf {
        self.root.join(JOURNEYS)
    }

    /// `logs/summary.json`: what the ingest read and set aside.
    pub fn logs_summary(&self) -> PathBuf {
        self.root.join("logs/summary.json")
    }

    /// `metrics/`: the metrics frame and findings.
    pub fn metrics_dir(&self) -> PathBuf {
        self.root.join("metrics")
    }

    /// `metrics/metrics.csv`: the frame ([`crate::metrics::MetricRow`]).
    pub fn metrics(&self) -> PathBuf {
        self.root.join(METRICS)
    }

    /// `metrics/runtime.json`: the Go runtime findings ([`crate::metrics::RuntimeFile`]).
    pub fn runtime(&self) -> PathBuf {
        self.root.join(RUNTIME)
    }

    /// `recon/`: the reconciliation's files.
    pub fn recon_dir(&self) -> PathBuf {
        self.root.join("recon")
    }

    /// `recon/recon.json`: totals per category, service line and hour ([`crate::recon::ReconFile`]).
    pub fn recon(&self) -> PathBuf {
        self.root.join(RECON)
    }

    /// `recon/stuck_orders.csv`: the stuck orders.
    pub fn stuck_orders(&self) -> PathBuf {
        self.root.join("recon/stuck_orders.csv")
    }

    /// `rca.json`: the root-cause analysis ([`crate::rca::RcaFile`]).
    pub fn rca(&self) -> PathBuf {
        self.root.join(RCA)
    }
}

/// `logs/timeline.csv`, relative to the evidence folder.
pub const TIMELINE: &str = "logs/timeline.csv";
/// `logs/patterns.csv`, relative to the evidence folder.
pub const PATTERNS: &str = "logs/patterns.csv";
/// `logs/journeys.csv`, relative to the evidence folder.
pub const JOURNEYS: &str = "logs/journeys.csv";
/// `metrics/metrics.csv`, relative to the evidence folder.
pub const METRICS: &str = "metrics/metrics.csv";
/// `metrics/runtime.json`, relative to the evidence folder.
pub const RUNTIME: &str = "metrics/runtime.json";
/// `recon/recon.json`, relative to the evidence folder.
pub const RECON: &str = "recon/recon.json";
/// `rca.json`, relative to the evidence folder.
pub const RCA: &str = "rca.json";
