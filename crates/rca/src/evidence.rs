//! What the other steps left in `evidence/`, read into per-minute series and
//! small summaries. Every source is optional: what is absent is recorded in
//! [`Evidence::missing`], and the checks that need it say so instead of
//! counting it against a hypothesis.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::Value;
use sidik_core::Incident;

use crate::RcaError;

/// Minutes since the Unix epoch, UTC.
pub type Minute = i64;

/// Milliseconds to [`Minute`].
pub fn minute_of(ms: i64) -> Minute {
    ms.div_euclid(60_000)
}

/// Every piece of evidence found.
#[derive(Debug)]
pub struct Evidence {
    /// The incident's timezone, for every time shown to people.
    pub tz: chrono_tz::Tz,
    /// The incident window, in minutes (start inclusive, end exclusive).
    pub window: Option<(Minute, Minute)>,
    /// The ingested logs (`evidence/logs/`).
    pub logs: Option<Logs>,
    /// The imported metrics (`evidence/metrics/metrics.csv`).
    pub metrics: Option<Metrics>,
    /// The Go runtime findings (`evidence/metrics/runtime.json`).
    pub runtime: Option<Runtime>,
    /// The reconciliation (`evidence/recon/recon.json`).
    pub recon: Option<Recon>,
    /// Live PostgreSQL observations taken inside the window.
    pub pg: Option<Pg>,
    /// What was looked for and not found, one sentence each.
    pub missing: Vec<String>,
    /// What was found but not used, and why.
    pub notes: Vec<String>,
}

/// The per-minute log timeline and what the ingest derived from it.
#[derive(Debug, Default)]
pub struct Logs {
    /// First minute of every series.
    pub start: Minute,
    /// Per service: its series.
    pub services: BTreeMap<String, ServiceSeries>,
    /// Error templates with their first line.
    pub patterns: Vec<Pattern>,
    /// Where order journeys broke first.
    pub journeys: Option<Journeys>,
    /// `evidence/logs/timeline.csv`, relative to the incident.
    pub source: String,
}

impl Logs {
    /// The value of `series` (one of a service's, starting at [`Logs::start`])
    /// at minute `t`, if the timeline covers it.
    pub fn at(&self, series: &[f64], t: Minute) -> Option<f64> {
        let j = t - self.start;
        if j < 0 {
            return None;
        }
        series.get(j as usize).copied()
    }
}

/// One service's per-minute series from the log timeline.
#[derive(Debug, Default, Clone)]
pub struct ServiceSeries {
    /// Log lines.
    pub lines: Vec<f64>,
    /// Requests (lines with a latency).
    pub requests: Vec<f64>,
    /// Error lines.
    pub errors: Vec<f64>,
    /// Latency percentiles in ms (NaN where the minute had none).
    pub p50: Vec<f64>,
    /// 95th percentile.
    pub p95: Vec<f64>,
    /// 99th percentile.
    pub p99: Vec<f64>,
    /// Error lines per class.
    pub classes: BTreeMap<String, Vec<f64>>,
}

/// One row of `patterns.csv`.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// Service.
    pub service: String,
    /// Error class.
    pub class: String,
    /// The masked template.
    pub template: String,
    /// Records.
    pub count: u64,
    /// First record, ms.
    pub first_seen: i64,
    /// Where its first record is (`file:line`).
    pub sample_at: String,
    /// That record's message.
    pub sample: String,
    /// Records at error level or worse (0 when the column is missing).
    pub errors: u64,
}

/// Broken order journeys by their first broken hop.
#[derive(Debug, Default, Clone)]
pub struct Journeys {
    /// Orders followed.
    pub followed: u64,
    /// Orders whose journey broke.
    pub broken: u64,
    /// (service, class) of the first broken hop → orders, first time (ms).
    pub by_hop: BTreeMap<(String, String), (u64, i64)>,
    /// Broken journeys per minute of their first broken hop.
    pub per_minute: BTreeMap<Minute, u64>,
    /// `evidence/logs/journeys.csv`.
    pub source: String,
}

/// Metrics per (metric, service), per minute: (sum over instances, instances).
#[derive(Debug, Default)]
pub struct Metrics {
    /// The series.
    pub series: BTreeMap<(String, String), BTreeMap<Minute, (f64, u32)>>,
    /// `evidence/metrics/metrics.csv`.
    pub source: String,
}

impl Metrics {
    /// The names of the metrics present.
    pub fn has(&self, metric: &str) -> bool {
        self.series.keys().any(|(m, _)| m == metric)
    }

    /// Services that have `metric`.
    pub fn services(&self, metric: &str) -> Vec<String> {
        self.series
            .keys()
            .filter(|(m, _)| m == metric)
            .map(|(_, s)| s.clone())
            .collect()
    }

    /// `metric` of `service` (all services when `None`) per minute in
    /// `from..to`, summed (`mean = false`) or averaged over instances; NaN
    /// where no sample was taken.
    pub fn dense(
        &self,
        metric: &str,
        service: Option<&str>,
        from: Minute,
        to: Minute,
        mean: bool,
    ) -> Vec<f64> {
        let len = (to - from).max(0) as usize;
        let mut sum = vec![0.0f64; len];
        let mut n = vec![0u32; len];
        for ((m, s), points) in &self.series {
            if m != metric || service.is_some_and(|want| want != s) {
                continue;
            }
            for (&t, &(v, k)) in points.range(from..to) {
                let i = (t - from) as usize;
                sum[i] += v;
                n[i] += k;
            }
        }
        sum.iter()
            .zip(&n)
            .map(|(&s, &k)| {
                if k == 0 {
                    f64::NAN
                } else if mean {
                    s / k as f64
                } else {
                    s
                }
            })
            .collect()
    }
}

/// A goroutine leak from `runtime.json`.
#[derive(Debug, Clone)]
pub struct Leak {
    /// Service.
    pub service: String,
    /// Start of the growth, ms.
    pub start: i64,
    /// Goroutines at its start and at its peak.
    pub at_start: f64,
    /// Peak.
    pub peak: f64,
}

/// The Go runtime findings.
#[derive(Debug, Default)]
pub struct Runtime {
    /// Goroutine leaks.
    pub leaks: Vec<Leak>,
    /// Services that were checked.
    pub services: Vec<String>,
    /// `evidence/metrics/runtime.json`.
    pub source: String,
}

/// The reconciliation's totals.
#[derive(Debug, Default)]
pub struct Recon {
    /// Category → (rows, rupiah).
    pub by_category: BTreeMap<String, (u64, i64)>,
    /// Category → first hour it occurs in ("YYYY-MM-DD HH:00", incident time).
    pub first_hour: BTreeMap<String, String>,
    /// `evidence/recon/recon.json`.
    pub source: String,
}

/// Live PostgreSQL observations inside the window.
#[derive(Debug, Default)]
pub struct Pg {
    /// Peak share of usable slots in use, and when (ms), with its file.
    pub peak_saturation: Option<(f64, i64, String)>,
    /// Most sessions waiting on a lock at once, when, and the file.
    pub peak_waiting: Option<(u64, i64, String)>,
    /// Deadlocks counted between samples.
    pub deadlocks: u64,
    /// Blocking roots in a snapshot taken inside the window, with its file.
    pub blocking_roots: Option<(u64, String)>,
}

fn rel(inc: &Incident, p: &Path) -> String {
    inc.dir.relative(p)
}

fn parse_ms(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc).timestamp_millis())
}

fn csv_reader(path: &Path) -> Result<csv::Reader<std::fs::File>, RcaError> {
    csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .map_err(|e| RcaError::input(path, 0, format!("cannot read: {e}")))
}

fn csv_err(path: &Path, e: csv::Error) -> RcaError {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    RcaError::input(path, line, e.to_string())
}

impl Evidence {
    /// Reads whatever evidence the incident folder holds.
    pub fn load(inc: &Incident) -> Result<Evidence, RcaError> {
        let ev = inc.dir.evidence();
        let mut out = Evidence {
            tz: inc.tz,
            logs: None,
            metrics: None,
            runtime: None,
            recon: None,
            pg: None,
            missing: Vec::new(),
            notes: Vec::new(),
            window: inc.window.map(|w| {
                (
                    minute_of(w.start.timestamp_millis()),
                    minute_of(w.end.timestamp_millis() + 59_999),
                )
            }),
        };
        let timeline = ev.join("logs/timeline.csv");
        if timeline.is_file() {
            out.logs = Some(load_logs(inc, &ev.join("logs"))?);
        } else {
            out.missing.push(
                "logs: no evidence/logs/timeline.csv (run the logs step: `sidik logs ingest`)"
                    .into(),
            );
        }
        let metrics = ev.join("metrics/metrics.csv");
        if metrics.is_file() {
            out.metrics = Some(load_metrics(inc, &metrics)?);
        } else {
            out.missing.push(
                "metrics: no evidence/metrics/metrics.csv (run the metrics step: `sidik metrics import` or `fetch`)"
                    .into(),
            );
        }
        let runtime = ev.join("metrics/runtime.json");
        if runtime.is_file() {
            out.runtime = Some(load_runtime(inc, &runtime)?);
        } else {
            out.missing.push(
                "Go runtime findings: no evidence/metrics/runtime.json (run `sidik metrics runtime`)"
                    .into(),
            );
        }
        let recon = ev.join("recon/recon.json");
        if recon.is_file() {
            out.recon = Some(load_recon(inc, &recon)?);
        } else {
            out.missing
                .push("reconciliation: no evidence/recon/recon.json (run `sidik recon`)".into());
        }
        let (pg, notes) = load_pg(inc, &ev, out.window)?;
        out.notes.extend(notes);
        if pg.peak_saturation.is_none() && pg.blocking_roots.is_none() {
            out.missing.push(
                "live PostgreSQL samples from inside the incident window (`sidik pg sample` while it happens)"
                    .into(),
            );
        } else {
            out.pg = Some(pg);
        }
        Ok(out)
    }
}

fn num(s: &str) -> f64 {
    if s.is_empty() {
        f64::NAN
    } else {
        s.parse().unwrap_or(f64::NAN)
    }
}

fn load_logs(inc: &Incident, dir: &Path) -> Result<Logs, RcaError> {
    let path = dir.join("timeline.csv");
    let mut rdr = csv_reader(&path)?;
    let headers = rdr.headers().map_err(|e| csv_err(&path, e))?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let need = |name: &str| {
        col(name).ok_or_else(|| {
            RcaError::input(
                &path,
                1,
                format!("no column `{name}`; re-run `sidik logs ingest` to rewrite the timeline"),
            )
        })
    };
    let (c_bucket, c_service, c_lines, c_requests, c_errors) = (
        need("bucket")?,
        need("service")?,
        need("lines")?,
        need("requests")?,
        need("errors")?,
    );
    let (c50, c95, c99) = (
        need("latency_p50_ms")?,
        need("latency_p95_ms")?,
        need("latency_p99_ms")?,
    );
    let class_cols: Vec<(usize, String)> = headers
        .iter()
        .enumerate()
        .skip(c99 + 1)
        .map(|(i, h)| (i, h.to_string()))
        .collect();
    let mut rows: Vec<(Minute, String, csv::StringRecord)> = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| csv_err(&path, e))?;
        let ms = parse_ms(&rec[c_bucket]).ok_or_else(|| {
            RcaError::input(
                &path,
                i as u64 + 2,
                format!("bucket `{}` is not an RFC 3339 time", &rec[c_bucket]),
            )
        })?;
        rows.push((minute_of(ms), rec[c_service].to_string(), rec));
    }
    let start = rows.iter().map(|r| r.0).min().unwrap_or(0);
    let end = rows.iter().map(|r| r.0).max().map_or(0, |m| m + 1);
    let len = (end - start) as usize;
    let mut services: BTreeMap<String, ServiceSeries> = BTreeMap::new();
    for (m, svc, rec) in &rows {
        let s = services
            .entry(svc.clone())
            .or_insert_with(|| ServiceSeries {
                lines: vec![0.0; len],
                requests: vec![0.0; len],
                errors: vec![0.0; len],
                p50: vec![f64::NAN; len],
                p95: vec![f64::NAN; len],
                p99: vec![f64::NAN; len],
                classes: class_cols
                    .iter()
                    .map(|(_, c)| (c.clone(), vec![0.0; len]))
                    .collect(),
            });
        let i = (m - start) as usize;
        s.lines[i] += num(&rec[c_lines]).max(0.0);
        s.requests[i] += num(&rec[c_requests]).max(0.0);
        s.errors[i] += num(&rec[c_errors]).max(0.0);
        s.p50[i] = num(&rec[c50]);
        s.p95[i] = num(&rec[c95]);
        s.p99[i] = num(&rec[c99]);
        for (ci, c) in &class_cols {
            if let Some(v) = s.classes.get_mut(c) {
                v[i] += num(&rec[*ci]).max(0.0);
            }
        }
    }
    let mut logs = Logs {
        start,
        services,
        source: rel(inc, &path),
        ..Logs::default()
    };
    let patterns = dir.join("patterns.csv");
    if patterns.is_file() {
        let mut rdr = csv_reader(&patterns)?;
        for rec in rdr.records() {
            let r = rec.map_err(|e| csv_err(&patterns, e))?;
            if r.len() < 9 || r[1].is_empty() {
                continue;
            }
            logs.patterns.push(Pattern {
                service: r[0].to_string(),
                class: r[1].to_string(),
                template: r[3].to_string(),
                count: r[4].parse().unwrap_or(0),
                first_seen: parse_ms(&r[5]).unwrap_or(i64::MAX),
                sample_at: r[7].to_string(),
                sample: r[8].to_string(),
                errors: r.get(9).and_then(|e| e.parse().ok()).unwrap_or(0),
            });
        }
    }
    let journeys = dir.join("journeys.csv");
    if journeys.is_file() {
        logs.journeys = Some(load_journeys(inc, &journeys)?);
    }
    Ok(logs)
}

fn load_journeys(inc: &Incident, path: &Path) -> Result<Journeys, RcaError> {
    let mut rdr = csv_reader(path)?;
    let headers = rdr.headers().map_err(|e| csv_err(path, e))?.clone();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            RcaError::input(
                path,
                1,
                format!("no column `{name}`; re-run `sidik logs ingest`"),
            )
        })
    };
    let (c_at, c_svc, c_class) = (
        col("broken_at")?,
        col("broken_service")?,
        col("broken_class")?,
    );
    let mut j = Journeys {
        source: rel(inc, path),
        ..Journeys::default()
    };
    let mut rec = csv::StringRecord::new();
    while rdr.read_record(&mut rec).map_err(|e| csv_err(path, e))? {
        j.followed += 1;
        let at = &rec[c_at];
        if at.is_empty() {
            continue;
        }
        j.broken += 1;
        let ms = parse_ms(at).unwrap_or(0);
        let e = j
            .by_hop
            .entry((rec[c_svc].to_string(), rec[c_class].to_string()))
            .or_insert((0, i64::MAX));
        e.0 += 1;
        e.1 = e.1.min(ms);
        *j.per_minute.entry(minute_of(ms)).or_default() += 1;
    }
    Ok(j)
}

fn load_metrics(inc: &Incident, path: &Path) -> Result<Metrics, RcaError> {
    let mut rdr = csv_reader(path)?;
    let mut m = Metrics {
        source: rel(inc, path),
        ..Metrics::default()
    };
    let mut rec = csv::StringRecord::new();
    let mut line = 1u64;
    while rdr.read_record(&mut rec).map_err(|e| csv_err(path, e))? {
        line += 1;
        if rec.len() < 6 {
            return Err(RcaError::input(
                path,
                line,
                "expected 6 columns: time,metric,service,instance,labels,value".into(),
            ));
        }
        let Some(ms) = parse_ms(&rec[0]) else {
            return Err(RcaError::input(
                path,
                line,
                format!("time `{}` is not an RFC 3339 time", &rec[0]),
            ));
        };
        let v = num(&rec[5]);
        if !v.is_finite() {
            continue;
        }
        let e = m
            .series
            .entry((rec[1].to_string(), rec[2].to_string()))
            .or_default()
            .entry(minute_of(ms))
            .or_insert((0.0, 0));
        e.0 += v;
        e.1 += 1;
    }
    Ok(m)
}

fn read_json(path: &Path) -> Result<Value, RcaError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| RcaError::input(path, 0, format!("cannot read: {e}")))?;
    serde_json::from_str(&text).map_err(|e| RcaError::input(path, e.line() as u64, e.to_string()))
}

fn load_runtime(inc: &Incident, path: &Path) -> Result<Runtime, RcaError> {
    let v = read_json(path)?;
    let mut r = Runtime {
        source: rel(inc, path),
        ..Runtime::default()
    };
    for l in v["leaks"].as_array().into_iter().flatten() {
        r.leaks.push(Leak {
            service: l["service"].as_str().unwrap_or("").to_string(),
            start: l["start"].as_i64().unwrap_or(0),
            at_start: l["at_start"].as_f64().unwrap_or(0.0),
            peak: l["peak"].as_f64().unwrap_or(0.0),
        });
    }
    let mut services: Vec<String> = r.leaks.iter().map(|l| l.service.clone()).collect();
    for s in v["steady"].as_array().into_iter().flatten() {
        services.extend(s.as_str().map(str::to_string));
    }
    services.sort();
    services.dedup();
    r.services = services;
    Ok(r)
}

fn load_recon(inc: &Incident, path: &Path) -> Result<Recon, RcaError> {
    let v = read_json(path)?;
    let mut r = Recon {
        source: rel(inc, path),
        ..Recon::default()
    };
    let Some(cats) = v["by_category"].as_object() else {
        return Err(RcaError::input(
            path,
            0,
            "no `by_category` object; re-run `sidik recon`".into(),
        ));
    };
    for (k, c) in cats {
        r.by_category.insert(
            k.clone(),
            (
                c["count"].as_u64().unwrap_or(0),
                c["amount"].as_i64().unwrap_or(0),
            ),
        );
    }
    if let Some(hours) = v["by_hour"].as_object() {
        // Keys sort as times ("YYYY-MM-DD HH:00").
        let mut keys: Vec<&String> = hours.keys().collect();
        keys.sort();
        for h in keys {
            for (cat, c) in hours[h].as_object().into_iter().flatten() {
                if c["count"].as_u64().unwrap_or(0) > 0 {
                    r.first_hour.entry(cat.clone()).or_insert_with(|| h.clone());
                }
            }
        }
    }
    Ok(r)
}

/// Snapshots (`evidence/*.json` with `preflight` and `saturation`) and
/// samples (`evidence/*/samples.csv`): kept only when taken inside the
/// window, since a snapshot of today's database says nothing of last
/// month's incident.
fn load_pg(
    inc: &Incident,
    ev: &Path,
    window: Option<(Minute, Minute)>,
) -> Result<(Pg, Vec<String>), RcaError> {
    let mut pg = Pg::default();
    let mut notes = Vec::new();
    let inside = |ms: i64| window.is_none_or(|(a, b)| (a..b).contains(&minute_of(ms)));
    // Samples: `evidence/STEP/samples.csv` (the playbook step) and
    // `evidence/pg/samples-DB-STAMP/samples.csv` (`sidik pg sample`).
    let list = |d: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    let mut entries = list(ev);
    for d in entries.clone() {
        if d.is_dir() {
            entries.extend(list(&d).into_iter().filter(|p| p.is_dir()));
        }
    }
    for p in entries {
        let samples = p.join("samples.csv");
        if samples.is_file() {
            let mut rdr = csv_reader(&samples)?;
            let headers = rdr.headers().map_err(|e| csv_err(&samples, e))?.clone();
            let col = |n: &str| headers.iter().position(|h| h == n);
            let (Some(c_at), Some(c_used)) = (col("at"), col("used")) else {
                continue;
            };
            let c_wait = col("waiting_on_lock");
            let c_dead = col("deadlocks");
            let (mut used_in, mut outside) = (0u64, 0u64);
            for rec in rdr.records() {
                let rec = rec.map_err(|e| csv_err(&samples, e))?;
                let Some(ms) = parse_ms(&rec[c_at]) else {
                    continue;
                };
                if !inside(ms) {
                    outside += 1;
                    continue;
                }
                used_in += 1;
                let used = num(&rec[c_used]);
                let file = rel(inc, &samples);
                if used.is_finite()
                    && pg
                        .peak_saturation
                        .as_ref()
                        .is_none_or(|(u, _, _)| used > *u)
                {
                    pg.peak_saturation = Some((used, ms, file.clone()));
                }
                if let Some(c) = c_wait {
                    let w = rec[c].parse::<u64>().unwrap_or(0);
                    if pg.peak_waiting.as_ref().is_none_or(|(x, _, _)| w > *x) {
                        pg.peak_waiting = Some((w, ms, file.clone()));
                    }
                }
                if let Some(c) = c_dead {
                    pg.deadlocks += rec[c].parse::<u64>().unwrap_or(0);
                }
            }
            if used_in == 0 && outside > 0 {
                notes.push(format!(
                    "{}: {} PostgreSQL samples, all outside the incident window: they describe the database at another time and were not used",
                    rel(inc, &samples),
                    outside
                ));
            }
            continue;
        }
        if p.extension().is_some_and(|e| e == "json") && p.is_file() {
            let Ok(v) = read_json(&p) else { continue };
            if v.get("preflight").is_none() || v.get("saturation").is_none() {
                continue;
            }
            // Its `taken_at`; a snapshot from before that field existed was
            // taken when its file was written.
            let taken = v["taken_at"].as_str().and_then(parse_ms).or_else(|| {
                std::fs::metadata(&p)
                    .and_then(|m| m.modified())
                    .ok()
                    .map(|t| DateTime::<Utc>::from(t).timestamp_millis())
            });
            match taken {
                Some(ms) if inside(ms) => {
                    let sat = v["saturation"].as_f64().unwrap_or(0.0);
                    let file = rel(inc, &p);
                    if pg.peak_saturation.as_ref().is_none_or(|(u, _, _)| sat > *u) {
                        pg.peak_saturation = Some((sat, ms, file.clone()));
                    }
                    // The tree is flattened depth-first; its roots have depth 0.
                    let tree = v["tree"].as_array().cloned().unwrap_or_default();
                    let roots = tree.iter().filter(|n| n["depth"] == 0).count() as u64;
                    let waiting = (tree.len() as u64).saturating_sub(roots);
                    if pg.peak_waiting.as_ref().is_none_or(|(x, _, _)| waiting > *x) {
                        pg.peak_waiting = Some((waiting, ms, file.clone()));
                    }
                    pg.blocking_roots = Some((roots, file));
                }
                _ => notes.push(format!(
                    "{}: a PostgreSQL snapshot taken outside the incident window; it describes the database now and was not used",
                    rel(inc, &p)
                )),
            }
        }
    }
    Ok((pg, notes))
}
