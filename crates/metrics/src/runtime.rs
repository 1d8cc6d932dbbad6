//! Go runtime findings from the metrics frame: goroutine growth that does
//! not follow load (a leak: goroutines blocked on outbound calls), GC pause
//! p99 and its change at the spike, heap growth, open file descriptors near
//! their limit. Each finding carries its numbers and window; what the frame
//! lacks is listed, never guessed.
//!
//! Goroutines are compared with the service's request rate by a robust
//! linear fit over the whole window (Theil–Sen: the median of pairwise
//! slopes), so the minutes of a leak do not bend the baseline. A leak is a run of at least ten minutes whose excess
//! over the fit stays above four MADs and keeps growing (rank correlation
//! with time ≥ 0.7, the last third at least twice the first): a service
//! whose goroutines merely stay high while its traffic drops (a breaker
//! failing fast) shows a step, not a ramp, and is not called a leak.

use std::collections::BTreeMap;

use crate::Frame;

/// Names the runtime metrics go by, first found wins.
const GOROUTINES: [&str; 1] = ["go_goroutines"];
const LOAD: [&str; 2] = ["request_rate", "http_requests_rate"];
const GC: [&str; 3] = [
    "go_gc_pause_p99_seconds",
    "go_gc_pause_max_seconds",
    "go_gc_duration_seconds",
];
const HEAP: [&str; 2] = [
    "go_memstats_heap_inuse_bytes",
    "go_memstats_heap_alloc_bytes",
];
const FDS: (&str, &str) = ("process_open_fds", "process_max_fds");

/// A goroutine growth that does not follow load.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Leak {
    /// The service.
    pub service: String,
    /// First minute of the growth, UTC ms.
    pub start: i64,
    /// First minute after it, UTC ms.
    pub end: i64,
    /// Goroutines at the start.
    pub at_start: f64,
    /// Highest goroutine count in the window.
    pub peak: f64,
    /// Goroutines beyond what the load explains, at the peak.
    pub excess: f64,
    /// Growth of the excess per minute over the window.
    pub per_minute: f64,
}

/// GC pauses of a service around the spike.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GcChange {
    /// The service.
    pub service: String,
    /// Median GC pause p99 in the hour before the spike, seconds.
    pub before: f64,
    /// Median in the hour from the spike, seconds.
    pub during: f64,
    /// Highest value from the spike on, seconds.
    pub max: f64,
}

/// Heap in use of a service.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HeapGrowth {
    /// The service.
    pub service: String,
    /// Median before the spike, bytes.
    pub before: f64,
    /// Highest from the spike on, bytes.
    pub peak: f64,
    /// When the peak was, UTC ms.
    pub at: i64,
}

/// File descriptors near their limit.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FdPressure {
    /// The instance's service.
    pub service: String,
    /// Highest share of the limit in use.
    pub ratio: f64,
    /// When, UTC ms.
    pub at: i64,
}

/// Everything found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Findings {
    /// The traffic spike the comparisons use: the first minute of the largest excursion
    /// of the total request rate, UTC ms.
    pub spike: Option<i64>,
    /// Goroutine leaks.
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

impl Findings {
    /// The findings as `evidence/metrics/runtime.json` says them: times in
    /// RFC 3339 with `tz`'s offset, a GC median of no values as `null`.
    pub fn to_file(&self, tz: chrono_tz::Tz) -> sidik_evidence::metrics::RuntimeFile {
        use sidik_evidence::metrics as ev;
        let at = |ms: i64| sidik_evidence::time::stamp(ms, tz);
        let finite = |v: f64| v.is_finite().then_some(v);
        ev::RuntimeFile {
            version: sidik_evidence::VERSION,
            spike: self.spike.map(at),
            leaks: self
                .leaks
                .iter()
                .map(|l| ev::Leak {
                    service: l.service.clone(),
                    start: at(l.start),
                    end: at(l.end),
                    at_start: l.at_start,
                    peak: l.peak,
                    excess: l.excess,
                    per_minute: l.per_minute,
                })
                .collect(),
            steady: self.steady.clone(),
            gc: self
                .gc
                .iter()
                .map(|g| ev::GcChange {
                    service: g.service.clone(),
                    before: finite(g.before),
                    during: finite(g.during),
                    max: finite(g.max),
                })
                .collect(),
            heap: self
                .heap
                .iter()
                .map(|h| ev::HeapGrowth {
                    service: h.service.clone(),
                    before: h.before,
                    peak: h.peak,
                    at: at(h.at),
                })
                .collect(),
            fds: self
                .fds
                .iter()
                .map(|f| ev::FdPressure {
                    service: f.service.clone(),
                    ratio: f.ratio,
                    at: at(f.at),
                })
                .collect(),
            missing: self.missing.clone(),
        }
    }
}

fn first_present<'a>(frame: &Frame, names: &[&'a str]) -> Option<&'a str> {
    let present = frame.metrics();
    names
        .iter()
        .copied()
        .find(|n| present.iter().any(|p| p == n))
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Theil–Sen line y = a + b·x: the median of pairwise slopes, then the median
/// intercept. Robust to the minutes of a leak (well under a third of the points).
fn theil_sen(x: &[f64], y: &[f64]) -> (f64, f64) {
    let n = x.len();
    // Every pair up to 3,000 points; beyond, every k-th point keeps it quadratic in 3,000.
    let k = n.div_ceil(3000).max(1);
    let idx: Vec<usize> = (0..n).step_by(k).collect();
    let mut slopes = Vec::with_capacity(idx.len() * idx.len() / 2);
    for (a, &i) in idx.iter().enumerate() {
        for &j in &idx[a + 1..] {
            let dx = x[j] - x[i];
            if dx.abs() > 1e-12 {
                slopes.push((y[j] - y[i]) / dx);
            }
        }
    }
    let b = if slopes.is_empty() {
        0.0
    } else {
        median(&mut slopes)
    };
    let mut icpt: Vec<f64> = (0..n).map(|i| y[i] - b * x[i]).collect();
    (median(&mut icpt), b)
}

/// Spearman rank correlation of `v` with its index.
fn rank_trend(v: &[f64]) -> f64 {
    let n = v.len();
    if n < 3 {
        return 0.0;
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|a, b| v[*a].total_cmp(&v[*b]));
    let mut rank = vec![0.0; n];
    for (r, i) in idx.into_iter().enumerate() {
        rank[i] = r as f64;
    }
    let nf = n as f64;
    let d2: f64 = rank
        .iter()
        .enumerate()
        .map(|(i, r)| (i as f64 - r).powi(2))
        .sum();
    1.0 - 6.0 * d2 / (nf * (nf * nf - 1.0))
}

fn leak_of(service: &str, g: &[(i64, f64)], load: &BTreeMap<i64, f64>) -> Option<Leak> {
    // Minutes with both series.
    let (mut t, mut x, mut y) = (Vec::new(), Vec::new(), Vec::new());
    for (time, v) in g {
        if let Some(r) = load.get(time) {
            t.push(*time);
            x.push(*r);
            y.push(*v);
        }
    }
    if t.len() < 30 {
        return None;
    }
    let (a, b) = theil_sen(&x, &y);
    let resid: Vec<f64> = (0..t.len()).map(|i| y[i] - (a + b * x[i])).collect();
    let mut r = resid.clone();
    let med = median(&mut r);
    let mut dev: Vec<f64> = resid.iter().map(|v| (v - med).abs()).collect();
    let mad = 1.4826 * median(&mut dev);
    let threshold = (4.0 * mad).max(1.0);
    // Runs above the threshold, bridging gaps of up to three minutes.
    let mut best: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < t.len() {
        if resid[i] <= threshold {
            i += 1;
            continue;
        }
        let s = i;
        let mut e = i;
        let mut j = i + 1;
        while j < t.len() {
            if resid[j] > threshold {
                e = j;
            } else if j - e > 3 {
                break;
            }
            j += 1;
        }
        let area = |(a, b): (usize, usize)| resid[a..=b].iter().sum::<f64>();
        if best.is_none_or(|b| area((s, e)) > area(b)) {
            best = Some((s, e));
        }
        i = e + 1;
    }
    let (s, e) = best?;
    let minutes = (t[e] - t[s]) as f64 / 60_000.0 + 1.0;
    if minutes < 10.0 {
        return None;
    }
    let run = &resid[s..=e];
    let third = (run.len() / 3).max(1);
    let mut first: Vec<f64> = run[..third].to_vec();
    let mut last: Vec<f64> = run[run.len() - third..].to_vec();
    let (m1, m3) = (median(&mut first), median(&mut last));
    if rank_trend(run) < 0.7 || m3 < 2.0 * m1.max(threshold) {
        return None;
    }
    let peak_i = (s..=e).max_by(|a, b| y[*a].total_cmp(&y[*b]))?;
    let step = if t.len() > 1 { t[1] - t[0] } else { 60_000 };
    Some(Leak {
        service: service.to_string(),
        start: t[s],
        end: t[e] + step,
        at_start: y[s],
        peak: y[peak_i],
        excess: resid[peak_i],
        per_minute: (resid[peak_i] - resid[s]) / ((t[peak_i] - t[s]) as f64 / 60_000.0).max(1.0),
    })
}

/// The start of the largest excursion of the total request rate: around the highest
/// five-minute mean, the run of minutes above the median plus a quarter of the way
/// to that peak; its first minute.
fn spike_of(total: &BTreeMap<i64, f64>) -> Option<i64> {
    let pts: Vec<(i64, f64)> = total.iter().map(|(t, v)| (*t, *v)).collect();
    if pts.len() < 10 {
        return None;
    }
    let mut vals: Vec<f64> = pts.iter().map(|p| p.1).collect();
    let med = median(&mut vals);
    let (peak_i, peak) = pts
        .windows(5)
        .enumerate()
        .map(|(i, w)| (i + 2, w.iter().map(|p| p.1).sum::<f64>() / 5.0))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    if peak < 1.5 * med {
        return None;
    }
    let threshold = med + 0.25 * (peak - med);
    let mut i = peak_i;
    while i > 0 && pts[i - 1].1 > threshold {
        i -= 1;
    }
    Some(pts[i].0)
}

/// Reads the Go runtime findings from a frame.
pub fn findings(frame: &Frame) -> Findings {
    let mut f = Findings::default();
    let load_name = first_present(frame, &LOAD);
    let loads = load_name.map(|n| frame.by_service(n)).unwrap_or_default();
    let mut total: BTreeMap<i64, f64> = BTreeMap::new();
    for pts in loads.values() {
        for (t, v) in pts {
            *total.entry(*t).or_default() += v;
        }
    }
    f.spike = spike_of(&total);
    if load_name.is_none() {
        f.missing.push(format!(
            "no request rate ({}): goroutines cannot be compared with load, nor the spike found",
            LOAD.join(" or ")
        ));
    }
    match first_present(frame, &GOROUTINES) {
        None => f.missing.push("no go_goroutines: leak detection needs the Go runtime metrics (client_golang's default collectors)".into()),
        Some(name) => {
            for (service, g) in frame.by_service(name) {
                let Some(load) = loads.get(&service) else {
                    if load_name.is_some() {
                        f.missing.push(format!("{service}: goroutines but no request rate to compare with"));
                    }
                    continue;
                };
                let load: BTreeMap<i64, f64> = load.iter().copied().collect();
                match leak_of(&service, &g, &load) {
                    Some(l) => f.leaks.push(l),
                    None => f.steady.push(service),
                }
            }
        }
    }
    let hour = 3_600_000;
    match (first_present(frame, &GC), f.spike) {
        (None, _) => f
            .missing
            .push(format!("no GC pause metric ({})", GC.join(", "))),
        (Some(_), None) => f
            .missing
            .push("GC pauses: no spike found to compare before and during".into()),
        (Some(name), Some(spike)) => {
            for (service, pts) in frame.max_by_service(name) {
                let mut before: Vec<f64> = pts
                    .iter()
                    .filter(|(t, _)| *t >= spike - hour && *t < spike)
                    .map(|p| p.1)
                    .collect();
                let mut during: Vec<f64> = pts
                    .iter()
                    .filter(|(t, _)| *t >= spike && *t < spike + hour)
                    .map(|p| p.1)
                    .collect();
                let max = pts
                    .iter()
                    .filter(|(t, _)| *t >= spike)
                    .map(|p| p.1)
                    .fold(f64::NAN, f64::max);
                if before.is_empty() || during.is_empty() {
                    continue;
                }
                f.gc.push(GcChange {
                    service,
                    before: median(&mut before),
                    during: median(&mut during),
                    max,
                });
            }
        }
    }
    match (first_present(frame, &HEAP), f.spike) {
        (None, _) => f
            .missing
            .push(format!("no heap metric ({})", HEAP.join(", "))),
        (Some(_), None) => {}
        (Some(name), Some(spike)) => {
            for (service, pts) in frame.by_service(name) {
                let mut before: Vec<f64> = pts
                    .iter()
                    .filter(|(t, _)| *t < spike)
                    .map(|p| p.1)
                    .collect();
                let peak = pts
                    .iter()
                    .filter(|(t, _)| *t >= spike)
                    .max_by(|a, b| a.1.total_cmp(&b.1));
                let b = median(&mut before);
                if let Some((at, p)) = peak {
                    if b.is_finite() && *p >= 2.0 * b {
                        f.heap.push(HeapGrowth {
                            service,
                            before: b,
                            peak: *p,
                            at: *at,
                        });
                    }
                }
            }
        }
    }
    let present = frame.metrics();
    if present.iter().any(|m| m == FDS.0) && present.iter().any(|m| m == FDS.1) {
        let mut limit: BTreeMap<(String, String, i64), f64> = BTreeMap::new();
        for p in frame.points.iter().filter(|p| p.metric == FDS.1) {
            limit.insert((p.service.clone(), p.instance.clone(), p.time), p.value);
        }
        let mut worst: BTreeMap<String, (f64, i64)> = BTreeMap::new();
        for p in frame.points.iter().filter(|p| p.metric == FDS.0) {
            if let Some(l) = limit.get(&(p.service.clone(), p.instance.clone(), p.time)) {
                let r = p.value / l;
                let e = worst.entry(p.service.clone()).or_insert((0.0, p.time));
                if r > e.0 {
                    *e = (r, p.time);
                }
            }
        }
        for (service, (ratio, at)) in worst {
            if ratio >= 0.8 {
                f.fds.push(FdPressure { service, ratio, at });
            }
        }
    } else {
        f.missing.push(
            "no process_open_fds / process_max_fds: file-descriptor pressure not checked".into(),
        );
    }
    f
}
