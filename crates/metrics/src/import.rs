//! Imports the metrics exports `incident.toml` lists: cloud-monitoring CSV
//! (timestamp, metric, instance, value; column names mapped in
//! `[sources.metrics.columns]`) and OpenMetrics / Prometheus text files.

use std::path::{Path, PathBuf};

use sidik_core::Incident;

use crate::{openmetrics, Frame, MetricsError, Point, Rejected, Shape, Tally};

/// What an import read and made.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    /// The frame.
    pub frame: Frame,
    /// Files read, with the samples each gave.
    pub files: Vec<(PathBuf, u64)>,
    /// Lines set aside.
    pub rejected: Vec<Rejected>,
    /// Duplicates, conflicts, non-finite values.
    pub tally: Tally,
    /// Notes for the person (an OpenMetrics file without `# EOF`).
    pub notes: Vec<String>,
}

/// The files a listed path or glob names; a plain path that does not exist is kept, so
/// the import can say it is missing.
fn matching(inc: &Incident, pattern: &str) -> Vec<PathBuf> {
    let full = inc.dir.resolve(pattern);
    let text = full.to_string_lossy().into_owned();
    if !text.contains(['*', '?', '[']) {
        return vec![full];
    }
    let mut v: Vec<PathBuf> = glob::glob(&text)
        .map(|g| g.filter_map(Result::ok).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Reads a cloud-monitoring CSV export into points.
pub fn csv_file(
    inc: &Incident,
    path: &Path,
    shape: &Shape,
    points: &mut Vec<Point>,
    rejected: &mut Vec<Rejected>,
) -> Result<u64, MetricsError> {
    let shown = inc.dir.relative(path);
    let cols = inc
        .file
        .sources
        .metrics
        .as_ref()
        .map(|m| m.columns.clone())
        .unwrap_or_default();
    let want = |v: &Option<String>, d: &str| v.clone().unwrap_or_else(|| d.to_string());
    let names = [
        want(&cols.timestamp, "timestamp"),
        want(&cols.metric, "metric"),
        want(&cols.instance, "instance"),
        want(&cols.value, "value"),
    ];
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(|e| MetricsError::Input {
            path: path.to_path_buf(),
            line: 0,
            message: format!("cannot read: {e}"),
        })?;
    let header: Vec<String> = r
        .headers()
        .map_err(|e| MetricsError::Input {
            path: path.to_path_buf(),
            line: 1,
            message: e.to_string(),
        })?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let find = |n: &str| header.iter().position(|h| h.eq_ignore_ascii_case(n));
    let mut idx = [0usize; 4];
    for (i, n) in names.iter().enumerate() {
        idx[i] = find(n).ok_or_else(|| MetricsError::Input {
            path: path.to_path_buf(),
            line: 1,
            message: format!(
                "no column \"{n}\" (columns: {}); map the export's names in [sources.metrics.columns]",
                header.join(", ")
            ),
        })?;
    }
    let service_col = match &cols.service {
        Some(s) => Some(find(s).ok_or_else(|| MetricsError::Input {
            path: path.to_path_buf(),
            line: 1,
            message: format!("no column \"{s}\" named by [sources.metrics.columns] service"),
        })?),
        None => None,
    };
    let mut n = 0u64;
    let mut rec = csv::StringRecord::new();
    let mut line = 1u64;
    loop {
        match r.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                line += 1;
                rejected.push(Rejected::new(&shown, line, &format!("unreadable row: {e}")));
                continue;
            }
        }
        line = rec.position().map(|p| p.line()).unwrap_or(line + 1);
        let get = |i: usize| rec.get(i).map(str::trim);
        let (Some(ts), Some(metric), Some(instance), Some(v)) =
            (get(idx[0]), get(idx[1]), get(idx[2]), get(idx[3]))
        else {
            rejected.push(Rejected::new(
                &shown,
                line,
                &format!("expected {} fields, found {}", header.len(), rec.len()),
            ));
            continue;
        };
        let t = match sidik_core::time::parse_time(ts, inc.tz) {
            Ok(t) => t.timestamp_millis(),
            Err(_) => {
                rejected.push(Rejected::new(
                    &shown,
                    line,
                    &format!("timestamp \"{ts}\" is not a time"),
                ));
                continue;
            }
        };
        let Some(value) = openmetrics::number(v) else {
            rejected.push(Rejected::new(
                &shown,
                line,
                &format!("value \"{v}\" is not a number"),
            ));
            continue;
        };
        if metric.is_empty() {
            rejected.push(Rejected::new(&shown, line, "no metric name"));
            continue;
        }
        let mut labels = vec![("instance".to_string(), instance.to_string())];
        if let Some(c) = service_col.and_then(get) {
            labels.push((shape.service_label.clone(), c.to_string()));
        }
        points.push(shape.point(metric, &labels, t, value));
        n += 1;
    }
    Ok(n)
}

/// Imports every export `[sources.metrics]` lists.
pub fn incident(inc: &Incident) -> Result<Imported, MetricsError> {
    let Some(m) = &inc.file.sources.metrics else {
        return Err(MetricsError::Config(format!(
            "{} has no [sources.metrics]; list the cloud-monitoring CSV export (csv = [...]) or OpenMetrics files (openmetrics = [...])",
            inc.dir.config_path().display()
        )));
    };
    let shape = Shape::of(inc)?;
    let mut out = Imported::default();
    let mut points = Vec::new();
    for pattern in &m.csv {
        let files = matching(inc, pattern);
        for f in files {
            if !f.is_file() {
                return Err(MetricsError::Input {
                    path: f,
                    line: 0,
                    message: "not found; export the metrics there or fix [sources.metrics] csv"
                        .into(),
                });
            }
            let n = csv_file(inc, &f, &shape, &mut points, &mut out.rejected)?;
            out.files.push((f, n));
        }
    }
    for pattern in &m.openmetrics {
        for f in matching(inc, pattern) {
            let text = std::fs::read_to_string(&f).map_err(|e| MetricsError::Input {
                path: f.clone(),
                line: 0,
                message: format!("cannot read: {e}"),
            })?;
            let shown = inc.dir.relative(&f);
            let parsed = openmetrics::parse(&text, &shown);
            if !parsed.eof && text.lines().any(|l| l.starts_with("# TYPE")) {
                out.notes.push(format!(
                    "{shown} has no `# EOF` line: an OpenMetrics file without it may be cut short"
                ));
            }
            let n = parsed.samples.len() as u64;
            for s in parsed.samples {
                points.push(shape.point(&s.name, &s.labels, s.time, s.value));
            }
            out.rejected.extend(parsed.rejected);
            out.files.push((f, n));
        }
    }
    if out.files.is_empty() {
        return Err(MetricsError::Config(
            "[sources.metrics] lists no csv or openmetrics file".into(),
        ));
    }
    out.frame = Frame::build(points, &mut out.tally);
    Ok(out)
}
