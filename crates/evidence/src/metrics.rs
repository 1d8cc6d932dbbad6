//! What the metrics steps write under `evidence/metrics/`: the frame
//! (`metrics.csv`) and the Go runtime findings (`runtime.json`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::csvfile::CsvFile;
use crate::time::{parse_ms, Stamp};
use crate::EvidenceError;

/// The frame's columns, in order.
pub const METRICS_COLUMNS: [&str; 6] = ["time", "metric", "service", "instance", "labels", "value"];

/// One value of one series at one minute (`metrics/metrics.csv`).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    /// The minute (UTC epoch ms).
    pub time: i64,
    /// The metric (`latency_p99_ms`, `go_goroutines` …).
    pub metric: String,
    /// The service.
    pub service: String,
    /// The instance.
    pub instance: String,
    /// Other labels, `k=v` joined by `;`.
    pub labels: String,
    /// The value; NaN when the file says `NaN` or nothing.
    pub value: f64,
}

impl MetricRow {
    /// Reads the frame row by row, calling `each` with every row; `Ok(false)`
    /// when the file is missing.
    pub fn each(path: &Path, mut each: impl FnMut(MetricRow)) -> Result<bool, EvidenceError> {
        let Some(mut f) = CsvFile::open(path)? else {
            return Ok(false);
        };
        let rewrite = "`sidik metrics import` or `fetch`";
        let mut at = [0usize; 6];
        for (i, name) in METRICS_COLUMNS.iter().enumerate() {
            at[i] = f.column(name, rewrite)?;
        }
        let mut rec = csv::StringRecord::new();
        while let Some(line) = f.next_row(&mut rec)? {
            let text = |i: usize| rec.get(at[i]).unwrap_or("");
            let time = parse_ms(text(0)).ok_or_else(|| {
                EvidenceError::input(
                    path,
                    line,
                    format!("time `{}` is not an RFC 3339 time", text(0)),
                )
            })?;
            // NaN and ±Inf are kept as such in the frame (a gauge that was not a number).
            let value = text(5).trim().parse::<f64>().unwrap_or(f64::NAN);
            each(MetricRow {
                time,
                metric: text(1).to_string(),
                service: text(2).to_string(),
                instance: text(3).to_string(),
                labels: text(4).to_string(),
                value,
            });
        }
        Ok(true)
    }
}

/// `metrics/runtime.json`: the Go runtime findings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuntimeFile {
    /// [`crate::VERSION`].
    pub version: u32,
    /// The traffic spike the comparisons use (the first minute of the
    /// largest rise of the total request rate).
    #[serde(with = "crate::time::millis_opt")]
    pub spike: Option<Stamp>,
    /// Goroutine growth that does not follow load.
    pub leaks: Vec<Leak>,
    /// Services whose goroutines follow their load.
    pub steady: Vec<String>,
    /// GC pauses before and during the spike.
    pub gc: Vec<GcChange>,
    /// Heap growth (peak at least twice the level before).
    pub heap: Vec<HeapGrowth>,
    /// File descriptors above 80 % of the limit.
    pub fds: Vec<FdPressure>,
    /// What the frame lacks for a check, and what it would take.
    pub missing: Vec<String>,
}

/// A goroutine growth that does not follow load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Leak {
    /// The service.
    pub service: String,
    /// First minute of the growth.
    #[serde(with = "crate::time::millis")]
    pub start: Stamp,
    /// First minute after it.
    #[serde(with = "crate::time::millis")]
    pub end: Stamp,
    /// Goroutines at the start.
    pub at_start: f64,
    /// Highest goroutine count in the window.
    pub peak: f64,
    /// Goroutines beyond what the load explains, at the peak.
    pub excess: f64,
    /// Growth of the excess per minute over the window.
    pub per_minute: f64,
}

/// GC pause p99 of a service around the spike, seconds (`null` when there
/// were no values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GcChange {
    /// The service.
    pub service: String,
    /// Median in the hour before the spike.
    pub before: Option<f64>,
    /// Median in the hour from the spike.
    pub during: Option<f64>,
    /// Highest from the spike on.
    pub max: Option<f64>,
}

/// Heap in use of a service, bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeapGrowth {
    /// The service.
    pub service: String,
    /// Median before the spike.
    pub before: f64,
    /// Highest from the spike on.
    pub peak: f64,
    /// When the peak was.
    #[serde(with = "crate::time::millis")]
    pub at: Stamp,
}

/// File descriptors near their limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FdPressure {
    /// The instance's service.
    pub service: String,
    /// Highest share of the limit in use.
    pub ratio: f64,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub at: Stamp,
}
