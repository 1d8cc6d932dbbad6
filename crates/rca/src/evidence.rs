//! What the other steps left in `evidence/`, read into per-minute series and
//! small summaries. Every source is optional: what is absent is recorded in
//! [`Evidence::missing`], and the checks that need it say so instead of
//! counting it against a hypothesis.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use sidik_core::Incident;

use sidik_evidence::logs::{JourneyRow, PatternRow, Timeline};
use sidik_evidence::metrics::{MetricRow, RuntimeFile};
use sidik_evidence::recon::ReconFile;
use sidik_evidence::time::parse_ms;
use sidik_evidence::Files;

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
        let files = Files::of(&inc.dir);
        if files.timeline().is_file() {
            out.logs = Some(load_logs(inc, &files)?);
        } else {
            out.missing.push(
                "logs: no evidence/logs/timeline.csv (run the logs step: `sidik logs ingest`)"
                    .into(),
            );
        }
        let metrics = files.metrics();
        if metrics.is_file() {
            out.metrics = Some(load_metrics(inc, &metrics)?);
        } else {
            out.missing.push(
                "metrics: no evidence/metrics/metrics.csv (run the metrics step: `sidik metrics import` or `fetch`)"
                    .into(),
            );
        }
        let runtime = files.runtime();
        if runtime.is_file() {
            out.runtime = Some(load_runtime(inc, &runtime)?);
        } else {
            out.missing.push(
                "Go runtime findings: no evidence/metrics/runtime.json (run `sidik metrics runtime`)"
                    .into(),
            );
        }
        let recon = files.recon();
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

fn read_json(path: &Path) -> Result<serde_json::Value, RcaError> {
    Ok(sidik_evidence::read_json(path)?)
}

fn load_logs(inc: &Incident, files: &Files) -> Result<Logs, RcaError> {
    let path = files.timeline();
    let timeline = Timeline::read(&path)?.unwrap_or_default();
    let nan = |v: Option<f64>| v.unwrap_or(f64::NAN);
    let start = timeline
        .rows
        .iter()
        .map(|r| minute_of(r.bucket))
        .min()
        .unwrap_or(0);
    let end = timeline
        .rows
        .iter()
        .map(|r| minute_of(r.bucket))
        .max()
        .map_or(0, |m| m + 1);
    let len = (end - start) as usize;
    let mut services: BTreeMap<String, ServiceSeries> = BTreeMap::new();
    for r in &timeline.rows {
        let s = services
            .entry(r.service.clone())
            .or_insert_with(|| ServiceSeries {
                lines: vec![0.0; len],
                requests: vec![0.0; len],
                errors: vec![0.0; len],
                p50: vec![f64::NAN; len],
                p95: vec![f64::NAN; len],
                p99: vec![f64::NAN; len],
                classes: timeline
                    .classes
                    .iter()
                    .map(|c| (c.clone(), vec![0.0; len]))
                    .collect(),
            });
        let i = (minute_of(r.bucket) - start) as usize;
        s.lines[i] += nan(r.lines).max(0.0);
        s.requests[i] += nan(r.requests).max(0.0);
        s.errors[i] += nan(r.errors).max(0.0);
        s.p50[i] = nan(r.latency_p50_ms);
        s.p95[i] = nan(r.latency_p95_ms);
        s.p99[i] = nan(r.latency_p99_ms);
        for (c, n) in timeline.classes.iter().zip(&r.classes) {
            if let Some(v) = s.classes.get_mut(c) {
                v[i] += n.max(0.0);
            }
        }
    }
    let mut logs = Logs {
        start,
        services,
        source: rel(inc, &path),
        ..Logs::default()
    };
    // Only classified templates: the others are the services' normal lines.
    for (_, r) in PatternRow::read(&files.patterns())?.into_iter().flatten() {
        if r.class.is_empty() {
            continue;
        }
        logs.patterns.push(Pattern {
            first_seen: parse_ms(&r.first_seen).unwrap_or(i64::MAX),
            service: r.service,
            class: r.class,
            template: r.template,
            count: r.count,
            sample_at: r.sample_at,
            sample: r.sample,
            errors: r.errors,
        });
    }
    logs.journeys = load_journeys(inc, &files.journeys())?;
    Ok(logs)
}

fn load_journeys(inc: &Incident, path: &Path) -> Result<Option<Journeys>, RcaError> {
    let mut j = Journeys {
        source: rel(inc, path),
        ..Journeys::default()
    };
    let found = JourneyRow::each(path, |_, r| {
        j.followed += 1;
        if !r.broke() {
            return Ok(());
        }
        j.broken += 1;
        let ms = parse_ms(r.broken_at).unwrap_or(0);
        let e = j
            .by_hop
            .entry((r.broken_service.to_string(), r.broken_class.to_string()))
            .or_insert((0, i64::MAX));
        e.0 += 1;
        e.1 = e.1.min(ms);
        *j.per_minute.entry(minute_of(ms)).or_default() += 1;
        Ok(())
    })?;
    Ok(found.then_some(j))
}

fn load_metrics(inc: &Incident, path: &Path) -> Result<Metrics, RcaError> {
    let mut m = Metrics {
        source: rel(inc, path),
        ..Metrics::default()
    };
    MetricRow::each(path, |r| {
        if !r.value.is_finite() {
            return;
        }
        let e = m
            .series
            .entry((r.metric, r.service))
            .or_default()
            .entry(minute_of(r.time))
            .or_insert((0.0, 0));
        e.0 += r.value;
        e.1 += 1;
    })?;
    Ok(m)
}

fn load_runtime(inc: &Incident, path: &Path) -> Result<Runtime, RcaError> {
    let f: RuntimeFile = sidik_evidence::read_json(path)?;
    let mut r = Runtime {
        source: rel(inc, path),
        ..Runtime::default()
    };
    for l in &f.leaks {
        r.leaks.push(Leak {
            service: l.service.clone(),
            start: l.start.timestamp_millis(),
            at_start: l.at_start,
            peak: l.peak,
        });
    }
    let mut services: Vec<String> = r.leaks.iter().map(|l| l.service.clone()).collect();
    services.extend(f.steady);
    services.sort();
    services.dedup();
    r.services = services;
    Ok(r)
}

fn load_recon(inc: &Incident, path: &Path) -> Result<Recon, RcaError> {
    let f: ReconFile = sidik_evidence::read_json(path)?;
    let mut r = Recon {
        source: rel(inc, path),
        ..Recon::default()
    };
    for (k, c) in f.by_category {
        r.by_category.insert(k, (c.count, c.amount));
    }
    // Keys sort as times ("YYYY-MM-DD HH:00").
    for (h, cats) in &f.by_hour {
        for (cat, c) in cats {
            if c.count > 0 {
                r.first_hour.entry(cat.clone()).or_insert_with(|| h.clone());
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
