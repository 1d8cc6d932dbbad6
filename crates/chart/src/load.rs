//! Builds charts from an incident's evidence: the log timeline, PostgreSQL
//! samples, the metrics frame, stuck orders, the reconciliation summary, and
//! the phases from the root-cause scoring, `incident.toml` or flags.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, Utc};
use sidik_core::time::parse_time;
use sidik_core::Incident;

use crate::axis::Unit;
use crate::model::{Bar, Mark, Panel, PanelKind, Phase, Recon, Series, Stacks, Timeline};
use crate::palette;
use crate::ChartError;
use sidik_evidence::logs::Timeline as TimelineCsv;
use sidik_evidence::metrics::RuntimeFile;
use sidik_evidence::rca::RcaFile;
use sidik_evidence::recon::ReconFile;
use sidik_evidence::Files;

/// Phase boundaries given on the command line (they win over everything else).
#[derive(Debug, Clone, Default)]
pub struct PhaseTimes {
    /// Start of the traffic spike.
    pub spike_start: Option<DateTime<Utc>>,
    /// Onset of errors.
    pub error_onset: Option<DateTime<Utc>>,
    /// Start of degradation.
    pub degradation_start: Option<DateTime<Utc>>,
    /// Recovery.
    pub recovery: Option<DateTime<Utc>>,
}

impl PhaseTimes {
    fn is_empty(&self) -> bool {
        self.spike_start.is_none()
            && self.error_onset.is_none()
            && self.degradation_start.is_none()
            && self.recovery.is_none()
    }
}

/// What to draw.
#[derive(Debug, Clone, Default)]
pub struct TimelineOptions {
    /// First instant shown (default: the incident window, else the data).
    pub from: Option<DateTime<Utc>>,
    /// Last instant shown.
    pub to: Option<DateTime<Utc>>,
    /// Phase boundaries from flags.
    pub phases: PhaseTimes,
}

/// A chart and what went into it.
#[derive(Debug, Clone)]
pub struct Loaded<T> {
    /// The chart.
    pub chart: T,
    /// Evidence files read.
    pub inputs: Vec<PathBuf>,
    /// What was missing and how to get it, for the person.
    pub missing: Vec<String>,
    /// Where the phases came from.
    pub phases_from: Option<String>,
}

/// A CSV file: its header and its records with their line numbers.
type CsvFile = (Vec<String>, Vec<(u64, csv::StringRecord)>);

fn read_csv(path: &Path) -> Result<Option<CsvFile>, ChartError> {
    if !path.exists() {
        return Ok(None);
    }
    let mut r = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .map_err(|e| ChartError::input(path, 0, format!("cannot open: {e}")))?;
    let header: Vec<String> = r
        .headers()
        .map_err(|e| ChartError::input(path, 1, format!("cannot read the header: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut rows = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| ChartError::input(path, i as u64 + 2, e.to_string()))?;
        rows.push((i as u64 + 2, rec));
    }
    Ok(Some((header, rows)))
}

fn column(header: &[String], name: &str, path: &Path) -> Result<usize, ChartError> {
    header.iter().position(|h| h == name).ok_or_else(|| {
        ChartError::input(
            path,
            1,
            format!("no column \"{name}\" (columns: {})", header.join(", ")),
        )
    })
}

fn time_at(text: &str, path: &Path, line: u64, inc: &Incident) -> Result<i64, ChartError> {
    parse_time(text, inc.tz)
        .map(|t| t.timestamp_millis())
        .map_err(|e| ChartError::input(path, line, e.to_string()))
}

fn number_at(text: &str, path: &Path, line: u64, what: &str) -> Result<Option<f64>, ChartError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse::<f64>()
        .map(Some)
        .map_err(|_| ChartError::input(path, line, format!("{what} \"{t}\" is not a number")))
}

/// The incident's services in `incident.toml` order: their colours.
fn service_order(inc: &Incident) -> Vec<String> {
    inc.file
        .sources
        .logs
        .iter()
        .map(|s| s.service.clone())
        .collect()
}

fn service_color(order: &mut Vec<String>, name: &str) -> plotters::style::RGBColor {
    let i = match order.iter().position(|s| s == name) {
        Some(i) => i,
        None => {
            order.push(name.to_string());
            order.len() - 1
        }
    };
    palette::service(i)
}

/// The smallest step between two buckets of one series: the bucket size.
fn bucket_of(times: &BTreeMap<String, Vec<i64>>) -> i64 {
    times
        .values()
        .flat_map(|t| t.windows(2).map(|w| w[1] - w[0]))
        .filter(|d| *d > 0)
        .min()
        .unwrap_or(60_000)
}

fn bucket_words(ms: i64) -> String {
    match ms {
        60_000 => "minute".into(),
        m if m % 3_600_000 == 0 => format!("{} h", m / 3_600_000),
        m if m % 60_000 == 0 => format!("{} min", m / 60_000),
        m => format!("{} s", m / 1000),
    }
}

/// Builds the incident timeline from what is in `evidence/`.
pub fn timeline(inc: &Incident, opts: &TimelineOptions) -> Result<Loaded<Timeline>, ChartError> {
    let ev = inc.dir.evidence();
    let mut inputs = Vec::new();
    let mut missing = Vec::new();
    let mut panels = Vec::new();
    let mut marks = Vec::new();
    let mut order = service_order(inc);
    let mut extent: Option<(i64, i64)> = None;
    let mut widen = |t: i64| {
        extent = Some(match extent {
            None => (t, t),
            Some((a, b)) => (a.min(t), b.max(t)),
        })
    };

    // Log timeline: requests, errors by class, latency.
    let tl = Files::of(&inc.dir).timeline();
    match TimelineCsv::read(&tl)? {
        None => missing.push(format!(
            "no log timeline ({}): run `sidik logs ingest` (the phase-1 `logs` step)",
            inc.dir.relative(&tl)
        )),
        Some(timeline) => {
            inputs.push(tl.clone());
            let classes = timeline.classes;
            let mut req: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
            let mut p50: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
            let mut p99: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
            let mut times: BTreeMap<String, Vec<i64>> = BTreeMap::new();
            let mut per_class: Vec<BTreeMap<i64, f64>> = vec![BTreeMap::new(); classes.len()];
            let mut all_buckets: Vec<i64> = Vec::new();
            for r in &timeline.rows {
                let t = r.bucket;
                widen(t);
                let svc = r.service.clone();
                times.entry(svc.clone()).or_default().push(t);
                all_buckets.push(t);
                if let Some(v) = r.requests {
                    req.entry(svc.clone()).or_default().push((t, v));
                }
                if let Some(v) = r.latency_p50_ms {
                    p50.entry(svc.clone()).or_default().push((t, v));
                }
                if let Some(v) = r.latency_p99_ms {
                    p99.entry(svc.clone()).or_default().push((t, v));
                }
                for (k, v) in r.classes.iter().enumerate() {
                    *per_class[k].entry(t).or_default() += v;
                }
            }
            let bucket = bucket_of(&times);
            let per = bucket_words(bucket);
            let gap = bucket + bucket / 2;
            all_buckets.sort_unstable();
            all_buckets.dedup();
            let svc_series = |m: BTreeMap<String, Vec<(i64, f64)>>,
                              order: &mut Vec<String>,
                              suffix: &str,
                              thin: bool|
             -> Vec<Series> {
                let mut out: Vec<(usize, Series)> = m
                    .into_iter()
                    .filter(|(_, pts)| pts.iter().any(|p| p.1 > 0.0))
                    .map(|(svc, mut pts)| {
                        pts.sort_by_key(|p| p.0);
                        let color = service_color(order, &svc);
                        let rank = order.iter().position(|s| *s == svc).unwrap_or(0);
                        let mut s = Series::new(format!("{svc}{suffix}"), color, pts);
                        s.thin = thin;
                        (rank, s)
                    })
                    .collect();
                out.sort_by_key(|(r, _)| *r);
                out.into_iter().map(|(_, s)| s).collect()
            };
            panels.push(Panel {
                title: format!("Requests per {per}"),
                y_label: "requests".into(),
                unit: Unit::Count,
                kind: PanelKind::Lines,
                series: svc_series(req, &mut order, "", false),
                max_gap_ms: gap,
            });
            // Errors stacked by class; classes in rule order keep their colours.
            let mut layers = Vec::new();
            for (k, name) in classes.iter().enumerate() {
                if per_class[k].values().all(|v| *v == 0.0) {
                    continue;
                }
                let pts: Vec<(i64, f64)> = all_buckets
                    .iter()
                    .map(|t| (*t, per_class[k].get(t).copied().unwrap_or(0.0)))
                    .collect();
                if let Some((t, _)) = pts.iter().find(|p| p.1 > 0.0) {
                    let label = if name == "circuit_breaker_open" {
                        "circuit breaker opened".to_string()
                    } else {
                        format!("first {}", name.replace('_', " "))
                    };
                    marks.push(Mark {
                        at: *t,
                        label,
                        color: palette::category(k),
                    });
                }
                layers.push(Series::new(
                    name.replace('_', " "),
                    palette::category(k),
                    pts,
                ));
            }
            panels.push(Panel {
                title: format!("Errors per {per}, by class"),
                y_label: "errors".into(),
                unit: Unit::Count,
                kind: PanelKind::Stacked,
                series: layers,
                max_gap_ms: gap,
            });
            let mut lat = svc_series(p99, &mut order, " p99", false);
            let thin = svc_series(p50, &mut order, " p50", true);
            // p50 beside its service's p99.
            let mut merged = Vec::new();
            for s in lat.drain(..) {
                let base = s.name.trim_end_matches(" p99").to_string();
                merged.push(s);
                if let Some(p) = thin
                    .iter()
                    .find(|t| t.name.trim_end_matches(" p50") == base)
                {
                    merged.push(p.clone());
                }
            }
            panels.push(Panel {
                title: "Latency p99 (thick) and p50 (thin)".into(),
                y_label: "latency".into(),
                unit: Unit::Millis,
                kind: PanelKind::Lines,
                series: merged,
                max_gap_ms: gap,
            });
        }
    }

    // Database connections: PostgreSQL samples first, the metrics frame otherwise.
    let metrics_path = ev.join("metrics").join("metrics.csv");
    let metrics = read_metrics(&metrics_path)?;
    if metrics.is_some() {
        inputs.push(metrics_path.clone());
    }
    let samples = find_pg_samples(&ev);
    // Inside the incident window (everything counts without one).
    let in_incident = |t: i64| {
        inc.window
            .as_ref()
            .is_none_or(|w| t >= w.start.timestamp_millis() && t < w.end.timestamp_millis())
    };
    let mut from_samples: Option<(Vec<Series>, i64, PathBuf, bool)> = None;
    if let Some(path) = samples {
        if let Some((header, rows)) = read_csv(&path)? {
            let (ca, cc, cu) = (
                column(&header, "at", &path)?,
                column(&header, "client_backends", &path)?,
                column(&header, "usable_slots", &path)?,
            );
            let mut conns = Vec::new();
            let mut slots = Vec::new();
            for (line, r) in &rows {
                let t = time_at(&r[ca], &path, *line, inc)?;
                if let Some(v) = number_at(&r[cc], &path, *line, "client_backends")? {
                    conns.push((t, v));
                }
                if let Some(v) = number_at(&r[cu], &path, *line, "usable_slots")? {
                    slots.push((t, v));
                }
            }
            conns.sort_by_key(|p| p.0);
            slots.sort_by_key(|p| p.0);
            let mut gap = 90_000;
            let mut steps: Vec<i64> = conns.windows(2).map(|w| w[1].0 - w[0].0).collect();
            steps.sort_unstable();
            if let Some(m) = steps.get(steps.len() / 2) {
                gap = (*m * 5 / 2).max(1000);
            }
            let inside = conns.iter().any(|(t, _)| in_incident(*t));
            let mut series = vec![Series::new(
                "client connections",
                palette::category(1),
                conns,
            )];
            let mut limit = Series::new("usable slots", palette::LIMIT, slots);
            limit.dashed = true;
            series.push(limit);
            from_samples = Some((series, gap, path, inside));
        }
    }
    let mut from_metrics: Option<(Vec<Series>, i64, bool)> = None;
    if let Some(m) = &metrics {
        // Per service: each application's pool and the server's own count side by side
        // (summing them would count every connection twice).
        let mut series = Vec::new();
        for (svc, pts) in m.by_service("db_connections") {
            let color = service_color(&mut order, &svc);
            series.push(Series::new(svc, color, pts));
        }
        let max = m.sum("db_max_connections");
        if !series.is_empty() && !max.is_empty() {
            let mut limit = Series::new("max_connections", palette::LIMIT, max);
            limit.dashed = true;
            series.push(limit);
        }
        if !series.is_empty() {
            let inside = series
                .iter()
                .any(|s| s.points.iter().any(|(t, _)| in_incident(*t)));
            from_metrics = Some((series, m.step * 5 / 2, inside));
        }
    }
    // The series from inside the incident: live samples taken after it
    // describe the database now, and never replace the metrics of the time.
    let mut db = Vec::new();
    let mut db_gap = 90_000;
    match (from_samples, from_metrics) {
        (Some((_, _, path, false)), Some((series, gap, true))) => {
            missing.push(format!(
                "{} was sampled outside the incident window; the database panel shows the metrics' db_connections of the time instead",
                inc.dir.relative(&path)
            ));
            db = series;
            db_gap = gap;
        }
        (Some((series, gap, path, _)), _) => {
            inputs.push(path);
            for s in &series {
                for (t, _) in &s.points {
                    widen(*t);
                }
            }
            db = series;
            db_gap = gap;
        }
        (None, Some((series, gap, _))) => {
            db = series;
            db_gap = gap;
        }
        (None, None) => missing.push("no PostgreSQL samples (run the phase-1 `db-samples` step, `sidik pg sample`) and no metrics frame (evidence/metrics/metrics.csv)".into()),
    }
    panels.push(Panel {
        title: "Database connections against the usable-slot limit".into(),
        y_label: "connections".into(),
        unit: Unit::Count,
        kind: PanelKind::Lines,
        series: db,
        max_gap_ms: db_gap,
    });

    // Stuck orders, accumulating by the time each should have ended.
    let stuck = ev.join("recon").join("stuck_orders.csv");
    match read_csv(&stuck)? {
        None => missing.push(format!(
            "no stuck orders ({}): run `sidik recon` (the phase-1 `financial-impact` step)",
            inc.dir.relative(&stuck)
        )),
        Some((header, rows)) => {
            inputs.push(stuck.clone());
            let ce = column(&header, "trip_end_at", &stuck)?;
            let mut ends: Vec<i64> = Vec::with_capacity(rows.len());
            for (line, r) in &rows {
                ends.push(time_at(&r[ce], &stuck, *line, inc)?);
            }
            ends.sort_unstable();
            let pts: Vec<(i64, f64)> = ends
                .iter()
                .enumerate()
                .map(|(i, t)| (*t, (i + 1) as f64))
                .collect();
            panels.push(Panel {
                title: format!(
                    "Orders stuck in ACTIVE, accumulating by expected end ({} in all)",
                    sidik_core::fmt::count(ends.len() as i64)
                ),
                y_label: "orders".into(),
                unit: Unit::Count,
                kind: PanelKind::Steps,
                series: vec![Series::new("stuck orders", palette::category(5), pts)],
                max_gap_ms: i64::MAX,
            });
        }
    }

    // Go runtime: goroutines per service.
    if let Some(m) = &metrics {
        let mut series = Vec::new();
        for (svc, pts) in m.by_service("go_goroutines") {
            let color = service_color(&mut order, &svc);
            series.push(Series::new(svc, color, pts));
        }
        panels.push(Panel {
            title: "Goroutines per service".into(),
            y_label: "goroutines".into(),
            unit: Unit::Count,
            kind: PanelKind::Lines,
            series,
            max_gap_ms: m.step * 5 / 2,
        });
    }

    // Goroutine growth found in the metrics (`sidik metrics runtime`, the `go-runtime` step).
    let rt = Files::of(&inc.dir).runtime();
    if rt.is_file() {
        let f: RuntimeFile = sidik_evidence::read_json(&rt)?;
        for l in &f.leaks {
            marks.push(Mark {
                at: l.start.timestamp_millis(),
                label: format!("goroutines pile up in {}", l.service),
                color: service_color(&mut order, &l.service),
            });
        }
        inputs.push(rt);
    }

    // Known events.
    for e in &inc.file.incident.events {
        if let Ok(t) = parse_time(e.at.get_ref(), inc.tz) {
            let color = match e.kind.as_deref() {
                Some("deploy") => plotters::style::RGBColor(0, 114, 178),
                Some("config") => plotters::style::RGBColor(204, 121, 167),
                _ => palette::EVENT,
            };
            marks.push(Mark {
                at: t.timestamp_millis(),
                label: e.label.clone(),
                color,
            });
        }
    }

    // Window.
    let (start, end) = match (opts.from, opts.to, &inc.window) {
        (Some(a), Some(b), _) => (a.timestamp_millis(), b.timestamp_millis()),
        (a, b, Some(w)) => (
            a.map(|t| t.timestamp_millis())
                .unwrap_or(w.start.timestamp_millis()),
            b.map(|t| t.timestamp_millis())
                .unwrap_or(w.end.timestamp_millis()),
        ),
        (a, b, None) => {
            let (x, y) = extent.unwrap_or((0, 3_600_000));
            (
                a.map(|t| t.timestamp_millis()).unwrap_or(x),
                b.map(|t| t.timestamp_millis()).unwrap_or(y.max(x + 60_000)),
            )
        }
    };
    if end <= start {
        return Err(ChartError::Usage(
            "the chart's end is not after its start; check --from and --to".into(),
        ));
    }

    // Evidence that exists but lies outside the window (samples taken after the incident).
    for p in &panels {
        if p.has_data() && !p.has_data_in(start, end) {
            let (a, b) = p
                .series
                .iter()
                .flat_map(|s| s.points.iter().map(|x| x.0))
                .fold((i64::MAX, i64::MIN), |(a, b), t| (a.min(t), b.max(t)));
            missing.push(format!(
                "\"{}\" has data only outside the chart window ({} – {}); show it with --from and --to",
                p.title,
                local(a, inc),
                local(b, inc)
            ));
        }
    }

    // Phases.
    let (times, phases_from) = phase_times(inc, &opts.phases)?;
    let mut phases = Vec::new();
    let bounds = [
        (times.spike_start, "spike", 0usize),
        (times.error_onset, "errors", 1),
        (times.degradation_start, "degradation", 2),
    ];
    for (i, (t, name, kind)) in bounds.iter().enumerate() {
        let Some(t) = t else { continue };
        let next = bounds[i + 1..]
            .iter()
            .find_map(|b| b.0)
            .or(times.recovery)
            .map(|t| t.timestamp_millis())
            .unwrap_or(end);
        phases.push(Phase {
            name: name.to_string(),
            kind: *kind,
            start: t.timestamp_millis(),
            end: next,
        });
    }
    if let Some(r) = times.recovery {
        marks.push(Mark {
            at: r.timestamp_millis(),
            label: "recovered".into(),
            color: plotters::style::RGBColor(0, 158, 115),
        });
    }
    if phases.is_empty() {
        missing.push("no phases: run `sidik rca`, set [incident.phases] in incident.toml, or pass --spike-start/--error-onset/--degradation-start/--recovery".into());
    }

    let id = &inc.file.incident.id;
    let window = format!(
        "{} – {} {} ({})",
        local(start, inc),
        local(end, inc),
        short_zone(start, inc),
        inc.tz
    );
    Ok(Loaded {
        chart: Timeline {
            title: format!("{id}: incident timeline"),
            subtitle: window,
            tz: inc.tz,
            start,
            end,
            panels,
            phases,
            marks,
        },
        inputs,
        missing,
        phases_from,
    })
}

fn local(ms: i64, inc: &Incident) -> String {
    sidik_core::time::local(ms, inc.tz, sidik_core::time::Shown::Minutes)
}

fn short_zone(ms: i64, inc: &Incident) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&inc.tz).format("%Z").to_string())
        .unwrap_or_default()
}

/// Phase boundaries: flags, else `evidence/rca.json`, else `[incident.phases]`;
/// with where they came from.
pub fn phase_times(
    inc: &Incident,
    flags: &PhaseTimes,
) -> Result<(PhaseTimes, Option<String>), ChartError> {
    if !flags.is_empty() {
        return Ok((flags.clone(), Some("command-line flags".into())));
    }
    let rca = Files::of(&inc.dir).rca();
    if rca.exists() {
        let f: RcaFile = sidik_evidence::read_json(&rca)?;
        let get =
            |p: &Option<sidik_evidence::rca::Phase>| p.as_ref().map(|p| p.at.with_timezone(&Utc));
        let t = PhaseTimes {
            spike_start: get(&f.phases.spike_start),
            error_onset: get(&f.phases.error_onset),
            degradation_start: get(&f.phases.degradation_start),
            recovery: get(&f.phases.recovery),
        };
        if !t.is_empty() {
            return Ok((t, Some(inc.dir.relative(&rca))));
        }
    }
    if let Some(p) = &inc.file.incident.phases {
        let [a, b, c, d] = p
            .entries()
            .map(|(_, v)| v.and_then(|s| parse_time(s.get_ref(), inc.tz).ok()));
        let t = PhaseTimes {
            spike_start: a,
            error_onset: b,
            degradation_start: c,
            recovery: d,
        };
        if !t.is_empty() {
            return Ok((t, Some("incident.toml [incident.phases]".into())));
        }
    }
    Ok((PhaseTimes::default(), None))
}

/// `evidence/<step>/samples.csv` written by `sidik pg sample`: the newest.
fn find_pg_samples(ev: &Path) -> Option<PathBuf> {
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(ev)
        .ok()?
        .flatten()
        .map(|e| e.path().join("samples.csv"))
        .filter(|p| {
            std::fs::read_to_string(p)
                .ok()
                .and_then(|t| {
                    t.lines()
                        .next()
                        .map(|h| h.starts_with("at,client_backends"))
                })
                .unwrap_or(false)
        })
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p)
}

/// The metrics frame (`evidence/metrics/metrics.csv`), read by sidik-metrics, with the
/// sums the panels draw. Non-finite values stay in the sums, so they are holes in the lines.
struct Metrics {
    frame: sidik_metrics::Frame,
    step: i64,
}

impl Metrics {
    /// Sum over instances and services per time.
    fn sum(&self, metric: &str) -> Vec<(i64, f64)> {
        let mut m: BTreeMap<i64, f64> = BTreeMap::new();
        for p in self.frame.points.iter().filter(|p| p.metric == metric) {
            *m.entry(p.time).or_default() += p.value;
        }
        m.into_iter().collect()
    }

    /// Sum over instances per service and time.
    fn by_service(&self, metric: &str) -> Vec<(String, Vec<(i64, f64)>)> {
        let mut m: BTreeMap<&str, BTreeMap<i64, f64>> = BTreeMap::new();
        for p in self.frame.points.iter().filter(|p| p.metric == metric) {
            *m.entry(&p.service).or_default().entry(p.time).or_default() += p.value;
        }
        m.into_iter()
            .map(|(s, pts)| (s.to_string(), pts.into_iter().collect()))
            .collect()
    }
}

fn read_metrics(path: &Path) -> Result<Option<Metrics>, ChartError> {
    if !path.exists() {
        return Ok(None);
    }
    let frame = sidik_metrics::Frame::read(path.parent().unwrap_or(Path::new("."))).map_err(
        |e| match e {
            sidik_metrics::MetricsError::Input {
                path,
                line,
                message,
            } => ChartError::input(&path, line, message),
            other => ChartError::input(path, 0, other.to_string()),
        },
    )?;
    let mut times: Vec<i64> = frame.points.iter().map(|p| p.time).collect();
    times.sort_unstable();
    times.dedup();
    let step = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .min()
        .unwrap_or(60_000);
    Ok(Some(Metrics { frame, step }))
}

/// Break categories in the order of sidik-recon's codes: their colours.
const CATEGORIES: [&str; 12] = [
    "MISSING_IN_HO",
    "MISSING_AT_UPG",
    "AMOUNT_UNDER",
    "AMOUNT_OVER",
    "DUPLICATE_CHARGE",
    "DUPLICATE_POSTING",
    "REFUND_NOT_POSTED",
    "STATUS_MISMATCH",
    "LATE_POSTING",
    "AMBIGUOUS",
    "CROSS_PERIOD",
    "NOT_YET_DUE",
];

/// Timing items: not breaks, drawn in grey.
const TIMING: [&str; 2] = ["CROSS_PERIOD", "NOT_YET_DUE"];

/// Builds the reconciliation chart from `evidence/recon/recon.json`.
pub fn recon(inc: &Incident) -> Result<Loaded<Recon>, ChartError> {
    let path = Files::of(&inc.dir).recon();
    if !path.exists() {
        return Err(ChartError::Missing(format!(
            "{} does not exist: run `sidik recon` first (the phase-1 `missing-in-ho` step)",
            inc.dir.relative(&path)
        )));
    }
    let v: ReconFile = sidik_evidence::read_json(&path)?;
    let bad = |what: &str| ChartError::input(&path, 0, format!("expected {what}"));
    let rank = |c: &str| {
        CATEGORIES
            .iter()
            .position(|x| *x == c)
            .unwrap_or(CATEGORIES.len())
    };
    let mut cats: Vec<(String, i64, i64)> = Vec::new();
    let mut matched = 0;
    for (c, x) in &v.by_category {
        if c == "MATCHED" {
            matched = x.count as i64;
            continue;
        }
        cats.push((c.clone(), x.amount, x.count as i64));
    }
    cats.sort_by_key(|(c, _, _)| (rank(c), c.clone()));
    let color_of = |c: &str| {
        let r = rank(c);
        if TIMING.contains(&c) {
            palette::category(if c == "CROSS_PERIOD" { 10 } else { 9 })
        } else {
            palette::category(r.min(8) + if r >= CATEGORIES.len() { 3 } else { 0 })
        }
    };
    let bars: Vec<Bar> = cats
        .iter()
        .map(|(c, amount, count)| Bar {
            label: if TIMING.contains(&c.as_str()) {
                format!("{c} (timing)")
            } else {
                c.clone()
            },
            color: color_of(c),
            value: amount.unsigned_abs() as f64,
            note: format!(
                "{} · {} {}",
                sidik_core::fmt::idr(*amount),
                sidik_core::fmt::count(*count),
                if *count == 1 { "order" } else { "orders" }
            ),
        })
        .collect();
    // Per hour of charge time, in the incident timezone.
    let mut hours: BTreeMap<i64, BTreeMap<String, (f64, f64)>> = BTreeMap::new();
    for (k, x) in &v.by_hour {
        let naive = NaiveDateTime::parse_from_str(k, "%Y-%m-%d %H:%M").map_err(|_| {
            bad(&format!(
                "by_hour keys like \"2025-01-12 19:00\", not \"{k}\""
            ))
        })?;
        let Some(t) = sidik_core::time::local_to_utc(naive, inc.tz) else {
            continue;
        };
        for (c, y) in x {
            let e = hours
                .entry(t.timestamp_millis())
                .or_default()
                .entry(c.clone())
                .or_default();
            e.0 += y.amount.unsigned_abs() as f64;
            e.1 += y.count as f64;
        }
    }
    // Every hour between the first and the last: an hour without breaks is a zero bar.
    let buckets: Vec<i64> = match (hours.keys().next(), hours.keys().last()) {
        (Some(a), Some(b)) => (0..=((b - a) / 3_600_000))
            .map(|i| a + i * 3_600_000)
            .collect(),
        _ => Vec::new(),
    };
    let layer =
        |pick: fn(&(f64, f64)) -> f64| -> Vec<(String, plotters::style::RGBColor, Vec<f64>)> {
            cats.iter()
                .map(|(c, _, _)| {
                    let vals = buckets
                        .iter()
                        .map(|b| hours.get(b).and_then(|m| m.get(c)).map(pick).unwrap_or(0.0))
                        .collect();
                    (c.clone(), color_of(c), vals)
                })
                .collect()
        };
    let total: i64 = cats
        .iter()
        .filter(|c| !TIMING.contains(&c.0.as_str()))
        .map(|c| c.1.abs())
        .sum();
    let breaks: i64 = cats
        .iter()
        .filter(|c| !TIMING.contains(&c.0.as_str()))
        .map(|c| c.2)
        .sum();
    let id = &inc.file.incident.id;
    Ok(Loaded {
        chart: Recon {
            title: format!("{id}: reconciliation breaks"),
            subtitle: format!(
                "{} breaks worth {}; {} orders matched; hours in {}",
                sidik_core::fmt::count(breaks),
                sidik_core::fmt::idr(total),
                sidik_core::fmt::count(matched),
                inc.tz
            ),
            tz: inc.tz,
            bars,
            rupiah: Stacks {
                title: "Rupiah per hour of charge time, by category".into(),
                unit: Unit::Rupiah,
                buckets: buckets.clone(),
                width_ms: 3_600_000,
                layers: layer(|x| x.0),
            },
            counts: Stacks {
                title: "Breaks per hour of charge time, by category".into(),
                unit: Unit::Count,
                buckets: buckets.clone(),
                width_ms: 3_600_000,
                layers: layer(|x| x.1),
            },
        },
        inputs: vec![path],
        missing: Vec::new(),
        phases_from: None,
    })
}
