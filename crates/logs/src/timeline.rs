//! The per-bucket timeline: per service, lines, requests, errors, records
//! per class and latency percentiles (HDR histograms, 2 significant digits).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;

use crate::batch::Facts;
use crate::ts::Millis;

/// One bucket of one service.
#[derive(Debug, Clone)]
pub struct Cell {
    /// Records.
    pub lines: u64,
    /// Records with a latency or an HTTP status (requests served or made).
    pub requests: u64,
    /// Records at level error or fatal.
    pub errors: u64,
    /// Records per class (indexed like the classifier's classes).
    pub classes: Vec<u64>,
    /// Latencies in microseconds, to two significant digits.
    latency: Option<Histogram<u32>>,
}

/// The longest latency the percentiles tell apart, in microseconds: an
/// hour. Longer ones count as an hour. With it and 32-bit counts a cell's
/// histogram takes 13 KB instead of 32 KB for a day and 64-bit counts.
const MAX_LATENCY_US: u64 = 3_600_000_000;

impl Cell {
    fn new(classes: usize) -> Self {
        Cell {
            lines: 0,
            requests: 0,
            errors: 0,
            classes: vec![0; classes],
            latency: None,
        }
    }

    /// Latency quantile in milliseconds.
    pub fn latency(&self, q: f64) -> Option<f64> {
        self.latency
            .as_ref()
            .filter(|h| !h.is_empty())
            .map(|h| h.value_at_quantile(q) as f64 / 1000.0)
    }
}

/// The timeline of an ingest.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// Bucket width.
    pub bucket_ms: i64,
    /// Service names, by index.
    pub services: Vec<String>,
    /// Class names, by index.
    pub classes: Vec<String>,
    /// (bucket start, service index) → cell.
    pub cells: BTreeMap<(Millis, u16), Cell>,
}

impl Timeline {
    /// An empty timeline.
    pub fn new(bucket_ms: i64, services: Vec<String>, classes: Vec<String>) -> Self {
        Timeline {
            bucket_ms,
            services,
            classes,
            cells: BTreeMap::new(),
        }
    }

    /// Counts one event.
    pub fn add(&mut self, e: &Facts) {
        let t = e.time;
        let bucket = t.div_euclid(self.bucket_ms) * self.bucket_ms;
        let n = self.classes.len();
        let key = (bucket, e.service);
        // Records come in time order, so the cell is nearly always the last one.
        let cell = match self.cells.last_entry() {
            Some(last) if *last.key() == key => last.into_mut(),
            _ => self.cells.entry(key).or_insert_with(|| Cell::new(n)),
        };
        cell.lines += 1;
        if e.latency_ms.is_some() || e.http_status.is_some() {
            cell.requests += 1;
        }
        if e.level.is_some_and(|l| l.is_error()) {
            cell.errors += 1;
        }
        if let Some(c) = e.class {
            cell.classes[c as usize] += 1;
        }
        if let Some(ms) = e.latency_ms.filter(|v| v.is_finite() && *v >= 0.0) {
            let h = cell.latency.get_or_insert_with(|| {
                Histogram::new_with_bounds(1, MAX_LATENCY_US, 2).expect("valid bounds")
            });
            let _ = h.record(((ms * 1000.0) as u64).clamp(1, MAX_LATENCY_US));
        }
    }

    /// Adds another timeline's cells (from another service's thread).
    pub fn merge(&mut self, other: Timeline) {
        for (k, c) in other.cells {
            match self.cells.get_mut(&k) {
                None => {
                    self.cells.insert(k, c);
                }
                Some(m) => {
                    m.lines += c.lines;
                    m.requests += c.requests;
                    m.errors += c.errors;
                    for (a, b) in m.classes.iter_mut().zip(c.classes) {
                        *a += b;
                    }
                    match (&mut m.latency, c.latency) {
                        (Some(a), Some(b)) => {
                            let _ = a.add(&b);
                        }
                        (None, Some(b)) => m.latency = Some(b),
                        _ => {}
                    }
                }
            }
        }
    }

    /// Records of `class` per bucket, all services together.
    pub fn class_counts(&self, class: &str) -> BTreeMap<Millis, u64> {
        let Some(ci) = self.classes.iter().position(|c| c == class) else {
            return BTreeMap::new();
        };
        let mut out = BTreeMap::new();
        for ((b, _), cell) in &self.cells {
            if cell.classes[ci] > 0 {
                *out.entry(*b).or_default() += cell.classes[ci];
            }
        }
        out
    }

    /// Writes the timeline as Parquet (the same columns as the CSV; bucket as a UTC datetime).
    pub fn write_parquet(&self, path: &std::path::Path) -> Result<(), String> {
        use polars::prelude::*;
        let keys: Vec<&(Millis, u16)> = self.cells.keys().collect();
        let cells: Vec<&Cell> = self.cells.values().collect();
        let n = keys.len();
        let err = |e: PolarsError| e.to_string();
        let bucket = Series::new(
            "bucket".into(),
            keys.iter().map(|k| k.0).collect::<Vec<i64>>(),
        )
        .cast(&DataType::Datetime(
            TimeUnit::Milliseconds,
            Some(TimeZone::UTC),
        ))
        .map_err(err)?;
        let mut cols: Vec<Column> = vec![
            bucket.into(),
            Series::new(
                "service".into(),
                keys.iter()
                    .map(|k| self.services[k.1 as usize].as_str())
                    .collect::<Vec<_>>(),
            )
            .into(),
            Series::new(
                "lines".into(),
                cells.iter().map(|c| c.lines).collect::<Vec<u64>>(),
            )
            .into(),
            Series::new(
                "requests".into(),
                cells.iter().map(|c| c.requests).collect::<Vec<u64>>(),
            )
            .into(),
            Series::new(
                "errors".into(),
                cells.iter().map(|c| c.errors).collect::<Vec<u64>>(),
            )
            .into(),
        ];
        for (name, q) in [
            ("latency_p50_ms", 0.5),
            ("latency_p95_ms", 0.95),
            ("latency_p99_ms", 0.99),
        ] {
            cols.push(
                Series::new(
                    name.into(),
                    cells.iter().map(|c| c.latency(q)).collect::<Vec<_>>(),
                )
                .into(),
            );
        }
        for (i, class) in self.classes.iter().enumerate() {
            cols.push(
                Series::new(
                    class.as_str().into(),
                    cells.iter().map(|c| c.classes[i]).collect::<Vec<u64>>(),
                )
                .into(),
            );
        }
        let mut df = DataFrame::new(n, cols).map_err(err)?;
        let f = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        ParquetWriter::new(std::io::BufWriter::new(f))
            .finish(&mut df)
            .map_err(err)?;
        Ok(())
    }

    /// The timeline as CSV: one row per bucket and service.
    pub fn to_csv(&self) -> String {
        let mut s = sidik_evidence::logs::timeline_header(&self.classes);
        s.push('\n');
        let f = |v: Option<f64>| v.map(|x| format!("{x:.1}")).unwrap_or_default();
        for ((b, svc), cell) in &self.cells {
            let t = chrono::DateTime::from_timestamp_millis(*b)
                .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default();
            let _ = write!(
                s,
                "{t},{},{},{},{},{},{},{}",
                self.services[*svc as usize],
                cell.lines,
                cell.requests,
                cell.errors,
                f(cell.latency(0.5)),
                f(cell.latency(0.95)),
                f(cell.latency(0.99))
            );
            for n in &cell.classes {
                let _ = write!(s, ",{n}");
            }
            s.push('\n');
        }
        s
    }
}
