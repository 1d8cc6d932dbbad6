//! The incident's phases found in the per-minute series: the start of the
//! traffic spike, the onset of errors (per class and overall), the start of
//! degradation and the recovery.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::detect::{cusum, hinge, median, steps};
use crate::evidence::{Evidence, Logs, Minute};

/// One detected phase boundary.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// When, ms since the epoch (UTC).
    pub at: i64,
    /// The series that showed it.
    pub series: String,
    /// How it was found, with the numbers.
    pub method: String,
}

/// When an error class began to exceed its background.
#[derive(Debug, Clone, Serialize)]
pub struct ClassOnset {
    /// The class.
    pub class: String,
    /// First line of the run, ms (exact when the templates know it, else the minute).
    pub start: i64,
    /// When the excess became significant, ms.
    pub alarm: i64,
    /// Last minute with an excess, ms.
    pub last: i64,
    /// Lines in the run.
    pub events: u64,
    /// Lines the background rate explains over the same minutes.
    pub expected: f64,
    /// Services that logged it during the run, most first: (service, lines).
    pub services: Vec<(String, u64)>,
    /// The first line: `file:line` and message, when the templates know it.
    pub sample: Option<(String, String)>,
    /// Some of its lines are at error level or worse (not only warnings).
    pub errors: bool,
}

/// Everything the phase detection found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Phases {
    /// Start of the traffic spike.
    pub spike_start: Option<Phase>,
    /// First error line of the incident.
    pub error_onset: Option<Phase>,
    /// Errors at full rate, latency up, stuck orders accumulating.
    pub degradation_start: Option<Phase>,
    /// The incident's error classes back to their background.
    pub recovery: Option<Phase>,
    /// Every class that exceeded its background during the incident, earliest first.
    pub classes: Vec<ClassOnset>,
    /// Phases that could not be found, and why.
    pub not_found: Vec<String>,
}

const MIN_MS: i64 = 60_000;

/// CUSUM slack over the reference and the alarm threshold, in lines. An
/// isolated background line decays in 10 minutes; 4 lines beyond the
/// background raise the alarm.
const SLACK: f64 = 0.1;
const THRESHOLD: f64 = 4.0;
/// A run is extended back over earlier lines of its class separated by at
/// most this many quiet minutes: a rare class that recurs within a quarter
/// of an hour is one episode, whose first line is the onset.
const GAP: usize = 15;

/// Fills NaN with the previous value (or the next, at the start).
fn fill(v: &mut [f64]) {
    let first = v.iter().copied().find(|x| x.is_finite()).unwrap_or(0.0);
    let mut last = first;
    for x in v.iter_mut() {
        if x.is_finite() {
            last = *x;
        } else {
            *x = last;
        }
    }
}

fn moving_average(y: &[f64], w: usize) -> Vec<f64> {
    let h = w / 2;
    (0..y.len())
        .map(|i| {
            let a = i.saturating_sub(h);
            let b = (i + h + 1).min(y.len());
            y[a..b].iter().sum::<f64>() / (b - a) as f64
        })
        .collect()
}

/// The traffic series: metrics' request rate, else the logs' requests, else lines.
fn traffic(ev: &Evidence, from: Minute, to: Minute) -> Option<(Vec<f64>, String)> {
    if let Some(m) = &ev.metrics {
        if m.has("request_rate") {
            let mut y = m.dense("request_rate", None, from, to, false);
            if y.iter().filter(|v| v.is_finite()).count() * 2 > y.len() {
                fill(&mut y);
                return Some((y, format!("request_rate, all services ({})", m.source)));
            }
        }
    }
    let logs = ev.logs.as_ref()?;
    let requests = logs_sum(logs, from, to, |s| &s.requests);
    if requests.iter().sum::<f64>() > 0.0 {
        return Some((
            requests,
            format!("requests per minute, all services ({})", logs.source),
        ));
    }
    Some((
        logs_sum(logs, from, to, |s| &s.lines),
        format!("log lines per minute, all services ({})", logs.source),
    ))
}

fn logs_sum(
    logs: &Logs,
    from: Minute,
    to: Minute,
    pick: impl Fn(&crate::evidence::ServiceSeries) -> &Vec<f64>,
) -> Vec<f64> {
    let len = (to - from).max(0) as usize;
    let mut out = vec![0.0; len];
    for s in logs.services.values() {
        add_range(&mut out, pick(s), logs.start, from);
    }
    out
}

/// Adds `src` (starting at minute `src_start`) into `out` (starting at `from`).
fn add_range(out: &mut [f64], src: &[f64], src_start: Minute, from: Minute) {
    for (i, o) in out.iter_mut().enumerate() {
        let j = from + i as i64 - src_start;
        if j >= 0 && (j as usize) < src.len() {
            *o += src[j as usize];
        }
    }
}

/// The minutes analysed: the incident window, else the log timeline's span.
pub fn span(ev: &Evidence) -> Option<(Minute, Minute)> {
    if let Some(w) = ev.window {
        return Some(w);
    }
    let logs = ev.logs.as_ref()?;
    let len = logs.services.values().map(|s| s.lines.len()).max()?;
    Some((logs.start, logs.start + len as i64))
}

/// Finds every phase the evidence allows.
pub fn detect(ev: &Evidence) -> Phases {
    let mut p = Phases::default();
    let Some((from, to)) = span(ev) else {
        p.not_found
            .push("no per-minute series: neither an incident window nor a log timeline".into());
        return p;
    };
    // 1. The spike: where traffic bends into its steepest sustained rise.
    let mut spike_min: Option<Minute> = None;
    match traffic(ev, from, to) {
        Some((y, series)) => match spike_waves(&y) {
            Some((at, rise, lo, peak, waves)) => {
                spike_min = Some(from + at as i64);
                let waves = if waves > 1 {
                    format!("the first of {waves} waves (each reaching half the rise to the highest peak), ")
                } else {
                    String::new()
                };
                let model = match rise {
                    Rise::Ramp(before, after) => format!(
                        "a ramp (two-slope fit, preferred to a step by BIC): slope {before:+.2} a minute before, {after:+.2} after"
                    ),
                    Rise::Step(before, after) => format!(
                        "a step (two-level fit, preferred to a ramp by BIC): {before:.1} a minute before, {after:.1} from that minute"
                    ),
                };
                p.spike_start = Some(Phase {
                    at: (from + at as i64) * MIN_MS,
                    series,
                    method: format!(
                        "{waves}{model}; from {lo:.1} (5-minute mean) to a peak of {peak:.1}"
                    ),
                });
            }
            None => p.not_found.push(format!(
                "spike: {series} never rises to 1.5 times its level of the 3 hours before"
            )),
        },
        None => p
            .not_found
            .push("spike: no traffic series (no metrics, no log timeline)".into()),
    }
    // 2. Error onset, per class.
    if let Some(logs) = &ev.logs {
        let (classes, together, back) = class_onsets(logs, from, to, spike_min);
        p.classes = classes;
        // The earliest first line: of one class's run, or of all classes' run.
        // The incident's classes: those at three times their background
        // or more. A routine warning that merely grows with the traffic
        // (declined charges) neither dates the onset nor holds back the
        // recovery.
        // Classes with error lines date it when there are any (see `class_onsets`).
        let any_errors = p.classes.iter().any(|c| c.errors && of_the_incident(c));
        let first = p
            .classes
            .iter()
            .filter(|c| of_the_incident(c) && (c.errors || !any_errors))
            .chain(together.as_ref())
            .min_by_key(|c| c.start)
            .cloned();
        match first {
            Some(c) => {
                let series = if c.class == ALL {
                    "errors of every class together".to_string()
                } else {
                    format!("{} errors", c.class)
                };
                p.error_onset = Some(Phase {
                    at: c.start,
                    series: format!("{series} per minute ({})", logs.source),
                    method: format!(
                        "Poisson CUSUM against the background before the spike (alarm after {} excess lines at {}); the first line of that run",
                        THRESHOLD,
                        crate::clock::hhmm(ev.tz, c.alarm)
                    ),
                });
                match &back {
                    Some(r) => {
                        p.recovery = Some(Phase {
                            at: r.at * MIN_MS,
                            series: format!(
                                "{} errors per minute ({})",
                                r.classes.join(", "),
                                logs.source
                            ),
                            method: format!(
                                "the first minute after their peak ({:.0} a minute) that begins {QUIET} minutes with at most {:.1} of their lines (their background's, or a tenth of the peak minute)",
                                r.peak, r.threshold
                            ),
                        });
                    }
                    None => p.not_found.push(format!(
                        "recovery: the incident's classes never stay at their background for {QUIET} minutes before the end of the window"
                    )),
                }
            }
            None => p.not_found.push(
                "error onset: no error class rises above its background in the window".into(),
            ),
        }
    } else {
        p.not_found
            .push("error onset: no log timeline (run the logs step)".into());
    }
    // 3. Degradation: the step to full impact on the most affected service's latency.
    let anchor = p.error_onset.as_ref().map(|e| e.at / MIN_MS).or(spike_min);
    match anchor {
        Some(a) => {
            let lo = spike_min.map_or(a - 15, |s| s.min(a - 15).max(s)).max(from);
            let hi = (a + 60).min(to);
            match degradation(ev, lo, hi, spike_min.unwrap_or(lo)) {
                Some(mut d) => {
                    // Never before the onset without saying why.
                    if let Some(e) = p.error_onset.as_ref().filter(|e| d.at < e.at) {
                        d.method.push_str(&format!(
                            "; {:.0} minutes before the error onset: latency rose before the first error line, so the load itself slowed the service before anything failed",
                            (e.at - d.at) as f64 / MIN_MS as f64
                        ));
                    }
                    p.degradation_start = Some(d);
                }
                None => p.not_found.push(
                    "degradation: no latency series steps up after the onset (no metrics latency_p99_ms, no log latencies)"
                        .into(),
                ),
            }
        }
        None => p
            .not_found
            .push("degradation: neither a spike nor an error onset to look after".into()),
    }
    p
}

/// Whether a class's run is the incident's: at least three times the lines
/// its background explains (half a line at least, for a class never seen
/// before).
fn of_the_incident(c: &ClassOnset) -> bool {
    c.events as f64 >= 3.0 * c.expected.max(0.5)
}

/// How the traffic rose: a ramp (a two-slope fit) or a step (two levels).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rise {
    /// Slopes before and after the knot.
    Ramp(f64, f64),
    /// Levels before and after the jump.
    Step(f64, f64),
}

/// [`one_spike`] of the first wave of the episode, and how many waves
/// it had. Traffic that comes in waves (19:00 and again at 20:00, the
/// second higher) rises to its highest peak from the trough between them;
/// a wave in the three hours before that trough reaching half the rise is
/// the same episode, and the spike starts with the first such wave.
fn spike_waves(y: &[f64]) -> Option<(usize, Rise, f64, f64, usize)> {
    let (at, rise, lo, peak) = one_spike(y)?;
    let ma = moving_average(y, 5);
    let from = at.saturating_sub(180);
    // The trough before this wave's rise, and the highest point before it.
    let trough = (from..=at).min_by(|&a, &b| ma[a].total_cmp(&ma[b]))?;
    let earlier = (from..trough).max_by(|&a, &b| ma[a].total_cmp(&ma[b]));
    if earlier.is_some_and(|e| ma[e] >= lo + 0.5 * (peak - lo) && trough > 30) {
        if let Some((a, r, l, p, n)) = spike_waves(&y[..=trough]) {
            return Some((a, r, l, p.max(peak), n + 1));
        }
    }
    Some((at, rise, lo, peak, 1))
}

/// The start of the rise to the highest peak of `y` and how it rose, with
/// the level before it and the peak (5-minute means). Both models are
/// fitted to the minutes from an hour before the low to a few minutes past
/// half the rise, and the one the Bayesian information criterion prefers
/// is used: a ramp fitted to a step puts its knot minutes early, a step
/// fitted to a ramp puts its jump at the middle of the ramp.
fn one_spike(y: &[f64]) -> Option<(usize, Rise, f64, f64)> {
    let (at, before, after, lo, peak) = spike(y)?;
    let ma = moving_average(y, 5);
    let top = (0..ma.len()).max_by(|&a, &b| ma[a].total_cmp(&ma[b]))?;
    let half = (at..=top).find(|&i| ma[i] >= lo + 0.5 * (peak - lo))?;
    let a = at.saturating_sub(60);
    let b = (half + 5).min(y.len() - 1);
    let seg = &y[a..=b];
    let n = seg.len() as f64;
    let bic = |sse: f64, params: f64| n * (sse.max(1e-9) / n).ln() + params * n.ln();
    if let (Some(j), Some(h)) = (crate::detect::jump(seg), crate::detect::hinge_sse(seg)) {
        if bic(j.sse, 3.0) + 2.0 < bic(h, 4.0) {
            return Some((a + j.at, Rise::Step(j.before, j.after), lo, peak));
        }
    }
    Some((at, Rise::Ramp(before, after), lo, peak))
}

/// (knot, slope before, slope after, level before, peak) of the spike in `y`.
fn spike(y: &[f64]) -> Option<(usize, f64, f64, f64, f64)> {
    if y.len() < 30 {
        return None;
    }
    let ma = moving_average(y, 5);
    let peak = (0..ma.len()).max_by(|&a, &b| ma[a].total_cmp(&ma[b]))?;
    let lo_idx = (peak.saturating_sub(180)..=peak).min_by(|&a, &b| ma[a].total_cmp(&ma[b]))?;
    let (lo, pk) = (ma[lo_idx], ma[peak]);
    if pk < 1.5 * lo.max(1e-9) || peak == lo_idx {
        return None;
    }
    let half = (lo_idx..=peak).find(|&i| ma[i] >= lo + 0.5 * (pk - lo))?;
    let a = lo_idx.saturating_sub(60);
    let seg = &y[a..=half.min(y.len() - 1)];
    let h = hinge(seg, 0, seg.len())?;
    Some((a + h.at, h.before, h.after, lo, pk))
}

/// The label of the run over all classes together.
const ALL: &str = "*";

/// Every class's incident run, earliest first, and the run of all classes
/// together (whose first line may belong to a class too sparse to stand
/// out alone).
fn class_onsets(
    logs: &Logs,
    from: Minute,
    to: Minute,
    spike: Option<Minute>,
) -> (Vec<ClassOnset>, Option<ClassOnset>, Option<Recovery>) {
    let len = (to - from).max(0) as usize;
    let traffic = logs_sum(logs, from, to, |s| &s.lines);
    // The background: before the spike, else the first quarter of the span.
    let base_end = spike
        .map(|s| (s - from).clamp(0, len as i64) as usize)
        .filter(|&b| b >= 60)
        .unwrap_or(len / 4);
    let traffic_base = traffic[..base_end].iter().sum::<f64>() / base_end.max(1) as f64;
    let mut classes: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for s in logs.services.values() {
        for (c, v) in &s.classes {
            let e = classes.entry(c.as_str()).or_insert_with(|| vec![0.0; len]);
            add_range(e, v, logs.start, from);
        }
    }
    // Classes with lines at error level: when the incident has any, they
    // alone date it. A warning that comes with the load (slow responses at
    // a step of traffic) is a symptom of the spike, not yet a failure.
    let failing: std::collections::BTreeSet<&str> = logs
        .patterns
        .iter()
        .filter(|p| p.errors > 0)
        .map(|p| p.class.as_str())
        .collect();
    // One class's incident run (or the sum of `members`, for ALL).
    let onset_of = |class: &str, x: &[f64], members: &[&str]| -> Option<ClassOnset> {
        if x.iter().sum::<f64>() == 0.0 {
            return None;
        }
        // Background lines per minute, with half a line of prior so a class
        // never seen before the spike still has a rate.
        let lambda = (x[..base_end].iter().sum::<f64>() + 0.5) / base_end.max(1) as f64;
        let mu: Vec<f64> = traffic
            .iter()
            .map(|&t| {
                lambda
                    * if traffic_base > 0.0 {
                        t / traffic_base
                    } else {
                        1.0
                    }
            })
            .collect();
        let runs = cusum(x, &mu, SLACK, THRESHOLD);
        // The incident's run: the first one from 30 minutes before the spike on.
        let earliest = spike.map_or(0, |s| (s - 30 - from).max(0) as usize);
        let r = runs
            .into_iter()
            .find(|r| r.last >= earliest && r.start >= earliest.min(base_end))?;
        // Back over earlier lines of a rare class only: a class with a
        // background (a line every quarter of an hour or more, like routine
        // declines) always has a line in the gap, and would be dated back
        // to the start of the search.
        let mut start = r.start;
        if lambda * (GAP as f64) < 1.0 {
            while let Some(i) =
                (start.saturating_sub(GAP).max(earliest)..start).find(|&i| x[i] > 0.0)
            {
                start = i;
            }
        }
        let start_min = from + start as i64;
        // The exact first line, when the templates' first record falls in that minute.
        let first = logs
            .patterns
            .iter()
            .filter(|p| p.class == class || members.contains(&p.class.as_str()))
            .filter(|p| p.first_seen / MIN_MS == start_min)
            .min_by_key(|p| p.first_seen);
        let mut services: Vec<(String, u64)> = logs
            .services
            .iter()
            .filter_map(|(name, s)| {
                let summed: Vec<f64>;
                let v = if class == ALL {
                    summed = (0..s.lines.len())
                        .map(|i| {
                            s.classes
                                .iter()
                                .filter(|(k, _)| members.contains(&k.as_str()))
                                .map(|(_, c)| c[i])
                                .sum()
                        })
                        .collect();
                    &summed
                } else {
                    s.classes.get(class)?
                };
                let n: f64 = (start..=r.last)
                    .filter_map(|i| logs.at(v, from + i as i64))
                    .sum();
                (n > 0.0).then(|| (name.clone(), n as u64))
            })
            .collect();
        services.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Some(ClassOnset {
            class: class.to_string(),
            start: first.map_or(start_min * MIN_MS, |p| p.first_seen),
            alarm: (from + r.alarm as i64) * MIN_MS,
            last: (from + r.last as i64) * MIN_MS,
            events: r.events as u64,
            expected: r.expected,
            services,
            sample: first.map(|p| (p.sample_at.clone(), p.sample.clone())),
            errors: class == ALL || failing.contains(class),
        })
    };
    let mut out = Vec::new();
    let mut members: Vec<&str> = Vec::new();
    let any_failing = classes.iter().any(|(c, x)| {
        failing.contains(c)
            && x.iter().sum::<f64>() > 0.0
            && onset_of(c, x, &[]).is_some_and(|o| of_the_incident(&o))
    });
    for (class, x) in classes.iter().filter(|(_, x)| x.iter().sum::<f64>() > 0.0) {
        let counts = !any_failing || failing.contains(class);
        match onset_of(class, x, &[]) {
            Some(o) => {
                if of_the_incident(&o) && counts {
                    members.push(class);
                }
                out.push(o);
            }
            // New with the incident but too sparse to stand out alone: it may
            // still date the onset together with the others. One seen before
            // the spike is part of the background.
            None if counts && x[..base_end].iter().sum::<f64>() == 0.0 => members.push(class),
            None => {}
        }
    }
    // The classes of the incident together, with those too sparse to stand
    // out alone: a routine warning that merely grows with the traffic would
    // only add noise to the sum, and a noisy sum starts its run early.
    let mut all = vec![0.0; len];
    for (_, v) in classes.iter().filter(|(k, _)| members.contains(k)) {
        for (a, x) in all.iter_mut().zip(v.iter()) {
            *a += x;
        }
    }
    let together = onset_of(ALL, &all, &members);
    out.sort_by_key(|c| (c.start, c.alarm));
    let recovery = recovery(&all, base_end).map(|(at, threshold, peak)| Recovery {
        at: from + at as i64,
        classes: members.iter().map(|m| m.to_string()).collect(),
        threshold,
        peak,
    });
    (out, together, recovery)
}

/// When the incident's classes went back to their background.
#[derive(Debug, Clone)]
struct Recovery {
    at: Minute,
    classes: Vec<String>,
    threshold: f64,
    peak: f64,
}

/// Minutes the incident's lines must stay at their background for the
/// incident to be over.
const QUIET: usize = 15;

/// The first minute after the peak of `y` (the incident's classes
/// together) that begins [`QUIET`] minutes holding no more lines than
/// their background explains (three times the mean before the spike over
/// that quarter of an hour) or a tenth of the peak minute, whichever is
/// higher. A sparse tail (a late retry every few
/// minutes) is not the incident going on; the recovery is when the
/// incident's own lines stop, whatever other classes do.
fn recovery(y: &[f64], base_end: usize) -> Option<(usize, f64, f64)> {
    let (peak_at, peak) = y
        .iter()
        .copied()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    if peak <= 0.0 {
        return None;
    }
    let bg = y[..base_end.min(y.len())].iter().sum::<f64>() / base_end.max(1) as f64;
    // Lines allowed in the quiet quarter of an hour: three times the
    // background's, or a tenth of the peak minute's.
    let allowed = (3.0 * bg * QUIET as f64).max(0.1 * peak);
    (peak_at + 1..y.len().saturating_sub(QUIET))
        .find(|&t| y[t] <= allowed && y[t..t + QUIET].iter().sum::<f64>() <= allowed)
        .map(|t| (t, allowed, peak))
}

/// The step to full impact in `lo..hi`: on the service whose latency rose
/// most over its level before the spike, the second of two level shifts
/// (onset, then full rate), or the only one.
fn degradation(ev: &Evidence, lo: Minute, hi: Minute, spike: Minute) -> Option<Phase> {
    if hi - lo < 8 {
        return None;
    }
    let mut candidates: Vec<(f64, String, Vec<f64>)> = Vec::new();
    if let Some(m) = &ev.metrics {
        for svc in m.services("latency_p99_ms") {
            let mut y = m.dense("latency_p99_ms", Some(&svc), lo, hi, true);
            let mut before = m.dense("latency_p99_ms", Some(&svc), spike - 60, spike, true);
            if y.iter().filter(|v| v.is_finite()).count() * 2 < y.len() {
                continue;
            }
            fill(&mut y);
            fill(&mut before);
            let (Some(b), Some(d)) = (median(&before), median(&y)) else {
                continue;
            };
            candidates.push((
                d / b.max(1e-9),
                format!("latency_p99_ms of {svc} ({})", m.source),
                y,
            ));
        }
    }
    if candidates.is_empty() {
        if let Some(logs) = &ev.logs {
            for (svc, s) in &logs.services {
                let window = |a: Minute, b: Minute| -> Vec<f64> {
                    (a..b)
                        .map(|t| logs.at(&s.p95, t).unwrap_or(f64::NAN))
                        .collect()
                };
                let mut y = window(lo, hi);
                let before = window(spike - 60, spike);
                if y.iter().filter(|v| v.is_finite()).count() * 2 < y.len() {
                    continue;
                }
                fill(&mut y);
                let (Some(b), Some(d)) = (median(&before), median(&y)) else {
                    continue;
                };
                candidates.push((
                    d / b.max(1e-9),
                    format!("p95 latency of {svc} in the logs ({})", logs.source),
                    y,
                ));
            }
        }
    }
    let (ratio, series, y) = candidates.into_iter().max_by(|a, b| a.0.total_cmp(&b.0))?;
    if ratio < 1.5 {
        return None;
    }
    let (one, two) = steps(&y, 2);
    let pick = match two {
        Some(t) if t.means[0] < t.means[1] && t.means[1] < t.means[2] => {
            Some((t.cuts[1], t.means[1], t.means[2]))
        }
        _ => None,
    }
    .or_else(|| {
        one.filter(|o| o.means[1] > o.means[0])
            .map(|o| (o.cuts[0], o.means[0], o.means[1]))
    })?;
    let (cut, before, after) = pick;
    Some(Phase {
        at: (lo + cut as i64) * MIN_MS,
        series,
        method: format!(
            "level shift (least-squares steps): {before:.0} → {after:.0} ms; the service whose latency rose most ({ratio:.1}× its level before the spike)"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slowly falling evening, a 20-minute ramp to six times the level
    /// from minute 200, then a plateau; uniform noise of ±5.
    fn evening_with_a_spike() -> Vec<f64> {
        let mut r = 1u64;
        (0..300)
            .map(|t| {
                r = r
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let noise = ((r >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 10.0;
                let ramp = if t >= 200 {
                    ((t - 200) as f64 / 20.0).min(1.0) * 500.0
                } else {
                    0.0
                };
                100.0 - 0.05 * t as f64 + ramp + noise
            })
            .collect()
    }

    #[test]
    fn the_spike_starts_where_a_noisy_ramp_bends() {
        let (at, before, after, lo, peak) = spike(&evening_with_a_spike()).unwrap();
        assert!((199..=201).contains(&at), "knot at {at}");
        assert!(before.abs() < 1.0 && after > 20.0, "{before} {after}");
        assert!(peak > 5.0 * lo);
    }

    #[test]
    fn a_step_is_dated_at_its_jump_and_a_ramp_at_its_bend() {
        // Traffic ×2.1 from one minute to the next at minute 200, noisy.
        let mut r = 7u64;
        let step: Vec<f64> = (0..300)
            .map(|t| {
                r = r
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let noise = ((r >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 10.0;
                100.0 + noise + if t >= 200 { 110.0 } else { 0.0 }
            })
            .collect();
        let (at, rise, _, _) = one_spike(&step).unwrap();
        assert_eq!(at, 200, "{rise:?}");
        assert!(matches!(rise, Rise::Step(..)), "{rise:?}");
        let (at, rise, _, _) = one_spike(&evening_with_a_spike()).unwrap();
        assert!((199..=201).contains(&at), "knot at {at}");
        assert!(matches!(rise, Rise::Ramp(..)), "{rise:?}");
    }

    #[test]
    fn two_waves_start_with_the_first() {
        // A ramp at 200 to 500, down to 60 (below the evening before) at
        // 245-265, then a higher wave to 600.
        let y: Vec<f64> = (0..400)
            .map(|t| match t {
                0..200 => 100.0,
                200..210 => 100.0 + 40.0 * (t - 200) as f64,
                210..245 => 500.0,
                245..265 => 60.0,
                265..275 => 60.0 + 54.0 * (t - 265) as f64,
                _ => 600.0,
            } + (t % 7) as f64)
            .collect();
        let (at, _, _, _, waves) = spike_waves(&y).unwrap();
        assert_eq!(waves, 2);
        assert!((199..=201).contains(&at), "start at {at}");
        // One wave: the same as before.
        let (at, _, _, _, waves) = spike_waves(&evening_with_a_spike()).unwrap();
        assert_eq!(waves, 1);
        assert!((199..=201).contains(&at), "knot at {at}");
    }

    #[test]
    fn flat_or_short_traffic_has_no_spike() {
        assert!(spike(&[100.0; 300]).is_none());
        assert!(spike(&evening_with_a_spike()[..20]).is_none());
    }

    #[test]
    fn gaps_are_filled_from_the_last_value() {
        let mut v = [f64::NAN, 2.0, f64::NAN, f64::NAN, 5.0];
        fill(&mut v);
        assert_eq!(v, [2.0, 2.0, 2.0, 2.0, 5.0]);
    }
}
