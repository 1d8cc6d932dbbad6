//! Metrics for incident investigation: fetched from a Prometheus-compatible
//! API ([`client`]), or imported from a cloud-monitoring CSV export and
//! OpenMetrics files ([`import`]), into one frame (time, metric, service,
//! instance, labels, value) on the incident's minute grid, written to
//! `evidence/metrics/`; and the Go runtime findings read from it
//! ([`runtime`]). [`report`] writes them for people; the playbook steps are
//! in [`actions`].

#![warn(missing_docs)]

pub mod actions;
pub mod client;
pub mod import;
pub mod openmetrics;
pub mod report;
pub mod runtime;
pub mod testprom;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What went wrong, in words a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// A file could not be read as expected.
    #[error("{path}{}: {message}", if *.line > 0 { format!(":{}", .line) } else { String::new() })]
    Input {
        /// The file.
        path: PathBuf,
        /// 1-based line, 0 when not about a line.
        line: u64,
        /// What was expected.
        message: String,
    },
    /// The server answered with an error.
    #[error("{url} answered {status}: {message}")]
    Server {
        /// What was asked.
        url: String,
        /// HTTP status.
        status: u16,
        /// The server's own message.
        message: String,
    },
    /// The server could not be reached or kept failing.
    #[error("{0}")]
    Unreachable(String),
    /// Configuration or options that do not work.
    #[error("{0}")]
    Config(String),
    /// Writing the frame failed.
    #[error("could not write {path}: {message}")]
    Output {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// A line or sample set aside, with where and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Rejected {
    /// The file (or the query).
    pub file: String,
    /// 1-based line (0 for a fetched sample).
    pub line: u64,
    /// Why.
    pub reason: String,
}

impl Rejected {
    /// A rejection at `file:line`.
    pub fn new(file: &str, line: u64, reason: &str) -> Self {
        Rejected {
            file: file.to_string(),
            line,
            reason: reason.to_string(),
        }
    }
}

/// One value of one series at one grid time.
#[derive(Debug, Clone)]
pub struct Point {
    /// Metric (the query's name when fetched).
    pub metric: String,
    /// Service the series belongs to.
    pub service: String,
    /// Instance (pod, host).
    pub instance: String,
    /// Other labels, `k=v` sorted and comma-separated.
    pub labels: String,
    /// Grid time, UTC milliseconds.
    pub time: i64,
    /// Value; NaN and ±Inf are kept (and counted in the summary).
    pub value: f64,
}

impl Point {
    fn key(&self) -> (&str, &str, &str, &str, i64) {
        (
            &self.metric,
            &self.service,
            &self.instance,
            &self.labels,
            self.time,
        )
    }
}

impl PartialEq for Point {
    fn eq(&self, o: &Self) -> bool {
        self.key() == o.key() && self.value.to_bits() == o.value.to_bits()
    }
}

/// The metrics frame: points sorted by (metric, service, instance, labels, time), one per key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    /// The points.
    pub points: Vec<Point>,
}

/// How raw samples become frame rows.
#[derive(Debug, Clone)]
pub struct Shape {
    /// Grid step in ms; times are floored to it.
    pub step_ms: i64,
    /// Label that names the service.
    pub service_label: String,
    /// The incident's services, to read a service from an instance name (`upg-5d4b7c-0` → `upg`).
    pub services: Vec<String>,
}

impl Shape {
    /// From `incident.toml`: `[sources.metrics] step` and `service_label`, and the log sources' services.
    pub fn of(inc: &sidik_core::Incident) -> Result<Shape, MetricsError> {
        let m = inc.file.sources.metrics.as_ref();
        let step_ms = match m.and_then(|m| m.step.as_ref()) {
            Some(s) => sidik_core::time::parse_go_duration(s.get_ref())
                .map_err(|e| MetricsError::Config(format!("sources.metrics.step: {e}")))?
                .num_milliseconds(),
            None => 60_000,
        };
        Ok(Shape {
            step_ms,
            service_label: m
                .and_then(|m| m.service_label.clone())
                .unwrap_or_else(|| "service".into()),
            services: inc
                .file
                .sources
                .logs
                .iter()
                .map(|s| s.service.clone())
                .collect(),
        })
    }

    /// The service of a series: its service label, else the longest known service its
    /// instance name starts with, else the instance name without a pod suffix.
    pub fn service_of(&self, instance: &str, labels: &[(String, String)]) -> String {
        if let Some((_, v)) = labels.iter().find(|(k, _)| *k == self.service_label) {
            return v.clone();
        }
        let known = self
            .services
            .iter()
            .filter(|s| {
                instance == s.as_str()
                    || instance.starts_with(s.as_str())
                        && instance.as_bytes().get(s.len()) == Some(&b'-')
            })
            .max_by_key(|s| s.len());
        if let Some(s) = known {
            return s.clone();
        }
        // `name-<hash>-<n>` or `name-<n>` as Kubernetes names pods; `host:port` as Prometheus does.
        let base = instance.split(':').next().unwrap_or(instance);
        let mut parts: Vec<&str> = base.split('-').collect();
        while parts.len() > 1 {
            let last = parts[parts.len() - 1];
            let hashy = last.chars().all(|c| c.is_ascii_digit())
                || (5..=10).contains(&last.len())
                    && last
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                    && last.chars().any(|c| c.is_ascii_digit());
            if hashy {
                parts.pop();
            } else {
                break;
            }
        }
        parts.join("-")
    }

    /// A frame row from a sample's parts.
    pub fn point(&self, metric: &str, labels: &[(String, String)], time: i64, value: f64) -> Point {
        let instance = labels
            .iter()
            .find(|(k, _)| k == "instance")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let service = self.service_of(&instance, labels);
        let mut rest: Vec<String> = labels
            .iter()
            .filter(|(k, _)| {
                k != "instance" && *k != self.service_label && k != "__name__" && k != "job"
            })
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        rest.sort();
        Point {
            metric: metric.to_string(),
            service,
            instance,
            labels: rest.join(","),
            time: time.div_euclid(self.step_ms) * self.step_ms,
            value,
        }
    }
}

/// Counts of what building a frame found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Tally {
    /// Two samples of one series in one grid bucket with the same value (the later is kept).
    pub duplicates: u64,
    /// Two samples of one series in one bucket with different values: `series at time: a vs b`.
    pub conflicts: Vec<String>,
    /// NaN or ±Inf values per metric.
    pub non_finite: BTreeMap<String, u64>,
}

impl Frame {
    /// Sorts `points` and keeps one per key (the last given).
    pub fn build(mut points: Vec<Point>, tally: &mut Tally) -> Frame {
        // Stable sort: among equal keys the later point stays last.
        points.sort_by(|a, b| a.key().cmp(&b.key()));
        let mut out: Vec<Point> = Vec::with_capacity(points.len());
        for p in points {
            if let Some(last) = out.last_mut() {
                if last.key() == p.key() {
                    if last.value.to_bits() == p.value.to_bits() {
                        tally.duplicates += 1;
                    } else {
                        if tally.conflicts.len() < 100 {
                            tally.conflicts.push(format!(
                                "{}{{service={},instance={}{}}} at {}: {} vs {}",
                                p.metric,
                                p.service,
                                p.instance,
                                if p.labels.is_empty() {
                                    String::new()
                                } else {
                                    format!(",{}", p.labels)
                                },
                                p.time,
                                last.value,
                                p.value
                            ));
                        }
                        tally.duplicates += 1;
                    }
                    *last = p;
                    continue;
                }
            }
            out.push(p);
        }
        for p in &out {
            if !p.value.is_finite() {
                *tally.non_finite.entry(p.metric.clone()).or_default() += 1;
            }
        }
        Frame { points: out }
    }

    /// Metric names present.
    pub fn metrics(&self) -> Vec<String> {
        let mut v: Vec<String> = self.points.iter().map(|p| p.metric.clone()).collect();
        v.dedup();
        v.sort();
        v.dedup();
        v
    }

    /// First and last time.
    pub fn span(&self) -> Option<(i64, i64)> {
        let a = self.points.iter().map(|p| p.time).min()?;
        let b = self.points.iter().map(|p| p.time).max()?;
        Some((a, b))
    }

    /// Sum over instances per service and time of one metric: service → (time, value).
    pub fn by_service(&self, metric: &str) -> BTreeMap<String, Vec<(i64, f64)>> {
        let mut m: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
        for p in self.points.iter().filter(|p| p.metric == metric) {
            if p.value.is_finite() {
                *m.entry(p.service.clone())
                    .or_default()
                    .entry(p.time)
                    .or_default() += p.value;
            }
        }
        m.into_iter()
            .map(|(s, v)| (s, v.into_iter().collect()))
            .collect()
    }

    /// Maximum over instances per service and time of one metric.
    pub fn max_by_service(&self, metric: &str) -> BTreeMap<String, Vec<(i64, f64)>> {
        let mut m: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
        for p in self.points.iter().filter(|p| p.metric == metric) {
            if p.value.is_finite() {
                let e = m
                    .entry(p.service.clone())
                    .or_default()
                    .entry(p.time)
                    .or_insert(f64::MIN);
                *e = e.max(p.value);
            }
        }
        m.into_iter()
            .map(|(s, v)| (s, v.into_iter().collect()))
            .collect()
    }

    /// Writes `dir/metrics.parquet` and `dir/metrics.csv`; returns both paths.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, MetricsError> {
        use polars::prelude::*;
        std::fs::create_dir_all(dir).map_err(|e| MetricsError::Output {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })?;
        let fail = |path: &Path, e: String| MetricsError::Output {
            path: path.to_path_buf(),
            message: e,
        };
        let pq = dir.join("metrics.parquet");
        let col = |f: &dyn Fn(&Point) -> &str| -> Vec<&str> { self.points.iter().map(f).collect() };
        let time = Series::new(
            "time".into(),
            self.points.iter().map(|p| p.time).collect::<Vec<i64>>(),
        )
        .cast(&DataType::Datetime(
            TimeUnit::Milliseconds,
            Some(TimeZone::UTC),
        ))
        .map_err(|e| fail(&pq, e.to_string()))?;
        let n = self.points.len();
        let mut df = DataFrame::new(
            n,
            vec![
                time.into(),
                Series::new("metric".into(), col(&|p| &p.metric)).into(),
                Series::new("service".into(), col(&|p| &p.service)).into(),
                Series::new("instance".into(), col(&|p| &p.instance)).into(),
                Series::new("labels".into(), col(&|p| &p.labels)).into(),
                Series::new(
                    "value".into(),
                    self.points.iter().map(|p| p.value).collect::<Vec<f64>>(),
                )
                .into(),
            ],
        )
        .map_err(|e| fail(&pq, e.to_string()))?;
        let tmp = pq.with_extension("parquet.tmp");
        let f = std::fs::File::create(&tmp).map_err(|e| fail(&tmp, e.to_string()))?;
        ParquetWriter::new(std::io::BufWriter::new(f))
            .finish(&mut df)
            .map_err(|e| fail(&pq, e.to_string()))?;
        std::fs::rename(&tmp, &pq).map_err(|e| fail(&pq, e.to_string()))?;

        let csv = dir.join("metrics.csv");
        let mut text = String::with_capacity(n * 64);
        text.push_str(&sidik_evidence::metrics::METRICS_COLUMNS.join(","));
        text.push('\n');
        for p in &self.points {
            let t = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(p.time)
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
                .unwrap_or_default();
            let f = sidik_core::fmt::csv_field;
            text.push_str(&format!(
                "{t},{},{},{},{},{}\n",
                f(&p.metric),
                f(&p.service),
                f(&p.instance),
                f(&p.labels),
                p.value
            ));
        }
        sidik_core::folder::write_atomic(&csv, text.as_bytes())
            .map_err(|e| fail(&csv, e.to_string()))?;
        Ok(vec![pq, csv])
    }

    /// Reads a frame written by [`Frame::write`] back from its CSV. Columns are found by
    /// name; `labels` and `instance` may be missing (an empty string each).
    pub fn read(dir: &Path) -> Result<Frame, MetricsError> {
        let path = dir.join("metrics.csv");
        let bad = |line: u64, m: String| MetricsError::Input {
            path: path.clone(),
            line,
            message: m,
        };
        let mut r = csv::Reader::from_path(&path).map_err(|e| {
            bad(
                0,
                format!("{e}; run `sidik metrics import` or `sidik metrics fetch` first"),
            )
        })?;
        let header: Vec<String> = r
            .headers()
            .map_err(|e| bad(1, e.to_string()))?
            .iter()
            .map(str::to_string)
            .collect();
        let col = |n: &str| header.iter().position(|h| h == n);
        let need = |n: &str| {
            col(n).ok_or_else(|| {
                bad(
                    1,
                    format!("no column \"{n}\" (columns: {})", header.join(", ")),
                )
            })
        };
        let (ct, cm, cs, cv) = (
            need("time")?,
            need("metric")?,
            need("service")?,
            need("value")?,
        );
        let (ci, cl) = (col("instance"), col("labels"));
        let mut points = Vec::new();
        for (i, rec) in r.records().enumerate() {
            let line = i as u64 + 2;
            let rec = rec.map_err(|e| bad(line, e.to_string()))?;
            let get = |c: usize| rec.get(c).unwrap_or("");
            let time = chrono::DateTime::parse_from_rfc3339(get(ct))
                .map_err(|_| bad(line, format!("time \"{}\" is not RFC 3339", get(ct))))?
                .timestamp_millis();
            let value = openmetrics::number(get(cv))
                .ok_or_else(|| bad(line, format!("value \"{}\" is not a number", get(cv))))?;
            points.push(Point {
                metric: get(cm).to_string(),
                service: get(cs).to_string(),
                instance: ci.map(get).unwrap_or_default().to_string(),
                labels: cl.map(get).unwrap_or_default().to_string(),
                time,
                value,
            });
        }
        Ok(Frame { points })
    }
}
