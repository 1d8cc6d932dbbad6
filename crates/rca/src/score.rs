//! Checks evaluated against the evidence, verdicts per hypothesis, and the
//! primary cause chosen by the causal order of what became significant first.

use serde::Serialize;

use crate::clock::{hhmm, hhmmss};
use crate::detect::median;
use crate::evidence::{Evidence, Minute};
use crate::hypotheses::{Check, Hypothesis, HypothesisSet, Kind, Role};
use crate::phases::{self, Phases};

const MIN_MS: i64 = 60_000;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The evidence shows it.
    Pass,
    /// The evidence is there and does not show it.
    Fail,
    /// The evidence it needs was not collected.
    Missing,
}

/// A check with its outcome.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// The check's id.
    pub id: String,
    /// What it looks for.
    pub says: String,
    /// Cause or symptom.
    pub role: Role,
    /// Its kind.
    pub kind: Kind,
    /// Its weight.
    pub weight: f64,
    /// Pass, fail or missing.
    pub outcome: Outcome,
    /// The numbers, or what is missing.
    pub detail: String,
    /// First occurrence, ms (when the evidence dates it).
    pub at: Option<i64>,
    /// When it became significant, ms (the CUSUM alarm for error classes).
    pub significant_at: Option<i64>,
    /// Where to look: files, `file:line`, report rows.
    pub pointers: Vec<String>,
}

/// A hypothesis' verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A cause check passes and the score is at least 50.
    Supported,
    /// Every cause check had its evidence and none passed.
    Contradicted,
    /// Evidence missing, or mixed.
    Inconclusive,
}

/// One scored hypothesis.
#[derive(Debug, Clone, Serialize)]
pub struct Scored {
    /// Its id.
    pub id: String,
    /// Its number in the tracker.
    pub number: u32,
    /// The tracker's wording.
    pub title: String,
    /// What it would explain.
    pub explains: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// 0–100: passed weight over the weight of checks that had evidence.
    pub score: f64,
    /// When its evidence first became significant, ms.
    pub significant_at: Option<i64>,
    /// First occurrence of any of its passed checks, ms.
    pub first_at: Option<i64>,
    /// Its checks.
    pub checks: Vec<CheckResult>,
    /// What evidence it lacked.
    pub missing: Vec<String>,
    /// Why the verdict, one sentence.
    pub why: String,
}

/// A contributing factor: a passed check outside the primary cause's own evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Factor {
    /// `hypothesis/check`.
    pub id: String,
    /// The hypothesis it belongs to.
    pub hypothesis: String,
    /// What it is.
    pub says: String,
    /// The numbers.
    pub detail: String,
    /// First occurrence, ms.
    pub at: Option<i64>,
}

/// The whole analysis.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    /// The phases.
    pub phases: Phases,
    /// Every hypothesis, ranked: primary first, then supported, inconclusive, contradicted.
    pub hypotheses: Vec<Scored>,
    /// The primary cause's id, when one is supported.
    pub primary: Option<String>,
    /// Why it is the primary one.
    pub primary_why: Option<String>,
    /// Contributing factors, by first occurrence.
    pub contributing: Vec<Factor>,
    /// Evidence not found.
    pub missing: Vec<String>,
    /// Evidence found and not used, with why.
    pub notes: Vec<String>,
    /// Where the hypotheses came from.
    pub hypothesis_sources: Vec<String>,
}

/// The minutes the incident's symptoms are looked for in.
#[derive(Debug, Clone, Copy)]
struct Focus {
    /// From 30 minutes before the spike (or the onset, or the window start).
    from: Minute,
    /// To the recovery, or the end of the span.
    to: Minute,
    /// The baseline before the spike: (from, to).
    base: (Minute, Minute),
}

fn focus(ev: &Evidence, p: &Phases) -> Option<Focus> {
    let (a, b) = phases::span(ev)?;
    let spike = p.spike_start.as_ref().map(|x| x.at / MIN_MS);
    let onset = p.error_onset.as_ref().map(|x| x.at / MIN_MS);
    let start = match (spike, onset) {
        (Some(s), Some(o)) => s.min(o),
        (Some(s), None) => s,
        (None, Some(o)) => o,
        (None, None) => a,
    };
    let from = (start - 30).max(a);
    let to = p
        .recovery
        .as_ref()
        .map_or(b, |r| (r.at / MIN_MS).min(b))
        .max(from + 1);
    let base = ((start - 180).max(a), start.max(a + 1));
    Some(Focus { from, to, base })
}

/// Scores every hypothesis of `set` against `ev`.
pub fn analyze(ev: &Evidence, set: &HypothesisSet) -> Analysis {
    let phases = phases::detect(ev);
    let f = focus(ev, &phases);
    let mut scored: Vec<Scored> = set
        .hypotheses
        .iter()
        .map(|h| score(h, ev, &phases, f))
        .collect();
    // The primary cause: of the supported ones, the one whose evidence
    // became significant first; a tie goes to the higher score.
    let mut supported: Vec<&Scored> = scored
        .iter()
        .filter(|s| s.verdict == Verdict::Supported)
        .collect();
    supported.sort_by(|a, b| {
        a.significant_at
            .unwrap_or(i64::MAX)
            .cmp(&b.significant_at.unwrap_or(i64::MAX))
            .then(b.score.total_cmp(&a.score))
    });
    let primary = supported.first().map(|s| s.id.clone());
    let primary_why = supported.first().map(|p| {
        let later: Vec<String> = supported[1..]
            .iter()
            .map(|s| {
                format!(
                    "{} ({})",
                    s.title,
                    s.significant_at.map_or("undated".into(), |t| hhmm(ev.tz, t))
                )
            })
            .collect();
        if later.is_empty() {
            format!(
                "the only supported hypothesis; its evidence became significant at {}",
                p.significant_at.map_or("an undated time".into(), |t| hhmm(ev.tz, t))
            )
        } else {
            format!(
                "its evidence became significant first, at {}; the other supported ones came after: {}",
                p.significant_at.map_or("an undated time".into(), |t| hhmm(ev.tz, t)),
                later.join(", ")
            )
        }
    });
    let rank = |s: &Scored| -> (u8, i64, i64) {
        let r = if Some(&s.id) == primary.as_ref() {
            0
        } else {
            match s.verdict {
                Verdict::Supported => 1,
                Verdict::Inconclusive => 2,
                Verdict::Contradicted => 3,
            }
        };
        (
            r,
            s.significant_at.unwrap_or(i64::MAX),
            -(s.score * 10.0) as i64,
        )
    };
    scored.sort_by_key(rank);
    let mut contributing: Vec<Factor> = Vec::new();
    for s in &scored {
        for c in &s.checks {
            if c.outcome != Outcome::Pass {
                continue;
            }
            if Some(&s.id) == primary.as_ref() && c.role == Role::Cause {
                continue;
            }
            contributing.push(Factor {
                id: format!("{}/{}", s.id, c.id),
                hypothesis: s.title.clone(),
                says: c.says.clone(),
                detail: c.detail.clone(),
                at: c.at,
            });
        }
    }
    contributing.sort_by_key(|c| c.at.unwrap_or(i64::MAX));
    Analysis {
        phases,
        hypotheses: scored,
        primary,
        primary_why,
        contributing,
        missing: ev.missing.clone(),
        notes: ev.notes.clone(),
        hypothesis_sources: set.sources.clone(),
    }
}

fn score(h: &Hypothesis, ev: &Evidence, p: &Phases, f: Option<Focus>) -> Scored {
    let checks: Vec<CheckResult> = h.checks.iter().map(|c| run(c, ev, p, f)).collect();
    let weight = |o: Outcome| -> f64 {
        checks
            .iter()
            .filter(|c| c.outcome == o)
            .map(|c| c.weight)
            .sum()
    };
    // `+ 0.0`: an empty f64 sum is -0.0, which prints as "-0".
    let (pass, fail) = (weight(Outcome::Pass) + 0.0, weight(Outcome::Fail) + 0.0);
    let score = if pass + fail > 0.0 {
        100.0 * pass / (pass + fail)
    } else {
        0.0
    };
    let cause = |o: Outcome| {
        checks
            .iter()
            .any(|c| c.role == Role::Cause && c.outcome == o)
    };
    let missing: Vec<String> = checks
        .iter()
        .filter(|c| c.outcome == Outcome::Missing)
        .map(|c| format!("{}: {}", c.says, c.detail))
        .collect();
    let (verdict, why) = if cause(Outcome::Pass) && score >= 50.0 {
        (
            Verdict::Supported,
            format!("{:.0} % of the weighed evidence supports it", score),
        )
    } else if cause(Outcome::Pass) {
        (
            Verdict::Inconclusive,
            format!(
                "some cause evidence holds, but only {:.0} % of the weighed evidence supports it",
                score
            ),
        )
    } else if cause(Outcome::Missing) {
        (
            Verdict::Inconclusive,
            "no cause evidence holds, and some was not collected".to_string(),
        )
    } else {
        (
            Verdict::Contradicted,
            "every cause check had its evidence and none holds".to_string(),
        )
    };
    let passed = || checks.iter().filter(|c| c.outcome == Outcome::Pass);
    Scored {
        id: h.id.clone(),
        number: h.number,
        title: h.title.clone(),
        explains: h.explains.clone(),
        verdict,
        score,
        // Dated by its cause evidence; when that has no time (a
        // reconciliation total), by its first dated symptom.
        significant_at: passed()
            .filter(|c| c.role == Role::Cause)
            .filter_map(|c| c.significant_at.or(c.at))
            .min()
            .or_else(|| passed().filter_map(|c| c.significant_at.or(c.at)).min()),
        first_at: passed().filter_map(|c| c.at).min(),
        checks,
        missing,
        why,
    }
}

fn result(c: &Check, outcome: Outcome, detail: String) -> CheckResult {
    CheckResult {
        id: c.id.clone(),
        says: c.says.clone(),
        role: c.role,
        kind: c.kind,
        weight: c.weight,
        outcome,
        detail,
        at: None,
        significant_at: None,
        pointers: Vec::new(),
    }
}

/// Whether check `c` looks at `class`: one it names, or a template class
/// (`tpl_…`) whose template contains one of its keywords.
fn claims(c: &Check, class: &str, logs: &crate::evidence::Logs) -> bool {
    if c.classes.iter().any(|k| k == class) {
        return true;
    }
    if c.keywords.is_empty() || !class.starts_with("tpl_") {
        return false;
    }
    logs.patterns.iter().filter(|p| p.class == class).any(|p| {
        let t = p.template.to_lowercase();
        c.keywords.iter().any(|k| has_words(&t, &k.to_lowercase()))
    })
}

/// Whether `text` holds `words` as whole words (`race` is not in `trace`).
fn has_words(text: &str, words: &str) -> bool {
    let edge = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
    text.match_indices(words).any(|(i, _)| {
        edge(text[..i].chars().next_back()) && edge(text[i + words.len()..].chars().next())
    })
}

/// The classes and keywords a check names, for its messages.
fn named(c: &Check) -> String {
    let mut v = c.classes.clone();
    v.extend(c.keywords.iter().map(|k| format!("\"{k}\"")));
    v.join(", ")
}

fn wanted(c: &Check, service: &str) -> bool {
    c.services.is_empty() || c.services.iter().any(|s| s == service)
}

fn list(v: &[String]) -> String {
    v.join(", ")
}

fn run(c: &Check, ev: &Evidence, p: &Phases, f: Option<Focus>) -> CheckResult {
    match c.kind {
        Kind::Errors => errors(c, ev, p).unwrap_or_else(|why| result(c, Outcome::Missing, why)),
        Kind::Templates => {
            templates(c, ev, f).unwrap_or_else(|why| result(c, Outcome::Missing, why))
        }
        Kind::Connections => connections(c, ev, f),
        Kind::Journeys => journeys(c, ev),
        Kind::Recon => recon(c, ev),
        Kind::Leak => leak(c, ev),
        Kind::LatencyPile => {
            pile_check(c, ev, f).unwrap_or_else(|why| result(c, Outcome::Missing, why))
        }
        Kind::CallerTimeout => {
            caller_timeout(c, ev, f).unwrap_or_else(|why| result(c, Outcome::Missing, why))
        }
        Kind::PgBlocking => pg_blocking(c, ev),
    }
}

/// The ingested logs, or why the check is missing.
fn need_logs(ev: &Evidence) -> Result<&crate::evidence::Logs, String> {
    ev.logs
        .as_ref()
        .ok_or_else(|| "no ingested logs (evidence/logs/)".to_string())
}

/// The minutes to look in, or why the check is missing.
fn need_focus(f: Option<Focus>) -> Result<Focus, String> {
    f.ok_or_else(|| "no incident window to look in".to_string())
}

fn errors(c: &Check, ev: &Evidence, p: &Phases) -> Result<CheckResult, String> {
    let logs = need_logs(ev)?;
    if !c.services.is_empty() && !c.services.iter().any(|s| logs.services.contains_key(s)) {
        return Ok(result(
            c,
            Outcome::Missing,
            format!("no logs of {} were ingested", list(&c.services)),
        ));
    }
    let hits: Vec<&phases::ClassOnset> = p
        .classes
        .iter()
        .filter(|o| claims(c, &o.class, logs))
        .filter(|o| o.services.iter().any(|(s, _)| wanted(c, s)))
        .collect();
    if hits.is_empty() {
        let all_day: u64 = logs
            .services
            .iter()
            .filter(|(s, _)| wanted(c, s))
            .flat_map(|(_, s)| {
                c.classes
                    .iter()
                    .filter_map(|k| s.classes.get(k))
                    .map(|v| v.iter().sum::<f64>() as u64)
            })
            .sum();
        return Ok(result(
            c,
            Outcome::Fail,
            format!(
                "no {} above the background during the incident ({} such lines in the whole timeline)",
                named(c),
                sidik_core::fmt::count(all_day as i64)
            ),
        ));
    }
    let mut parts = Vec::new();
    let mut pointers = vec![logs.source.clone()];
    for o in &hits {
        let svcs: Vec<String> = o
            .services
            .iter()
            .map(|(s, n)| format!("{s} {}", sidik_core::fmt::count(*n as i64)))
            .collect();
        parts.push(format!(
            "{}: {} lines {}–{} (background would explain {:.1}), first at {}; {}",
            o.class,
            sidik_core::fmt::count(o.events as i64),
            hhmm(ev.tz, o.start),
            hhmm(ev.tz, o.last),
            o.expected,
            hhmmss(ev.tz, o.start),
            svcs.join(", ")
        ));
        if let Some((at, msg)) = &o.sample {
            pointers.push(format!("{at} `{msg}`"));
        }
    }
    let mut r = result(c, Outcome::Pass, parts.join("; "));
    r.at = hits.iter().map(|o| o.start).min();
    r.significant_at = hits.iter().map(|o| o.alarm).min();
    r.pointers = pointers;
    Ok(r)
}

fn templates(c: &Check, ev: &Evidence, f: Option<Focus>) -> Result<CheckResult, String> {
    let logs = need_logs(ev)?;
    if logs.patterns.is_empty()
        && logs
            .services
            .values()
            .all(|s| s.errors.iter().sum::<f64>() == 0.0)
    {
        return Ok(result(
            c,
            Outcome::Fail,
            "no classified error in the logs".into(),
        ));
    }
    let f = need_focus(f)?;
    let needle = c.matching.as_deref().unwrap_or("").to_lowercase();
    let hits: Vec<&crate::evidence::Pattern> = logs
        .patterns
        .iter()
        .filter(|t| claims(c, &t.class, logs) && wanted(c, &t.service))
        .filter(|t| t.template.to_lowercase().contains(&needle))
        .filter(|t| (f.from..f.to).contains(&(t.first_seen / MIN_MS)))
        .collect();
    if hits.is_empty() {
        return Ok(result(
            c,
            Outcome::Fail,
            format!(
                "no {} template{} first seen during the incident",
                named(c),
                if needle.is_empty() {
                    String::new()
                } else {
                    format!(" containing \"{needle}\"")
                }
            ),
        ));
    }
    let detail = hits
        .iter()
        .map(|t| {
            format!(
                "{} `{}`: {} lines from {}",
                t.service,
                t.template,
                sidik_core::fmt::count(t.count as i64),
                hhmmss(ev.tz, t.first_seen)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let mut r = result(c, Outcome::Pass, detail);
    r.at = hits.iter().map(|t| t.first_seen).min();
    r.pointers = hits
        .iter()
        .map(|t| format!("{} `{}`", t.sample_at, t.sample))
        .collect();
    Ok(r)
}

fn connections(c: &Check, ev: &Evidence, f: Option<Focus>) -> CheckResult {
    let at_least = c.at_least.unwrap_or(0.9);
    let Some(f) = f else {
        return result(c, Outcome::Missing, "no incident window to look in".into());
    };
    // Metrics: connections over the server's limit, per minute.
    let mut best: Option<(f64, Minute, String)> = None;
    let mut first_over: Option<Minute> = None;
    if let Some(m) = &ev.metrics {
        if m.has("db_connections") && m.has("db_max_connections") {
            // The server's own count when it reports one, else the sum of the clients'.
            let server = m
                .services("db_max_connections")
                .into_iter()
                .find(|s| m.services("db_connections").contains(s));
            let used = match &server {
                Some(s) => m.dense("db_connections", Some(s), f.from, f.to, false),
                None => m.dense("db_connections", None, f.from, f.to, false),
            };
            let max = m.dense("db_max_connections", None, f.from, f.to, true);
            for (i, (u, mx)) in used.iter().zip(&max).enumerate() {
                if !(u.is_finite() && mx.is_finite() && *mx > 0.0) {
                    continue;
                }
                let r = u / mx;
                let t = f.from + i as i64;
                if r >= at_least && first_over.is_none() {
                    first_over = Some(t);
                }
                if best.as_ref().is_none_or(|b| r > b.0) {
                    best = Some((r, t, m.source.clone()));
                }
            }
        }
    }
    let live = ev.pg.as_ref().and_then(|p| p.peak_saturation.clone());
    if best.is_none() && live.is_none() {
        return result(
            c,
            Outcome::Missing,
            "no db_connections and db_max_connections metrics, and no PostgreSQL sample from inside the window"
                .into(),
        );
    }
    let mut parts = Vec::new();
    let mut pointers = Vec::new();
    let mut pass = false;
    let mut at = None;
    if let Some((r, t, src)) = &best {
        parts.push(format!(
            "connections peaked at {:.0} % of max_connections at {}{}",
            r * 100.0,
            hhmm(ev.tz, t * MIN_MS),
            first_over.map_or(String::new(), |t| format!(
                ", first at or above {:.0} % at {}",
                at_least * 100.0,
                hhmm(ev.tz, t * MIN_MS)
            ))
        ));
        pointers.push(src.clone());
        if *r >= at_least {
            pass = true;
            at = first_over.map(|t| t * MIN_MS);
        }
    }
    if let Some((u, ms, file)) = &live {
        parts.push(format!(
            "live samples: peak {:.0} % of usable slots at {}",
            u * 100.0,
            hhmm(ev.tz, *ms)
        ));
        pointers.push(file.clone());
        if *u >= at_least {
            pass = true;
            at = Some(at.map_or(*ms, |a: i64| a.min(*ms)));
        }
    }
    let mut r = result(
        c,
        if pass { Outcome::Pass } else { Outcome::Fail },
        parts.join("; "),
    );
    r.at = at;
    r.pointers = pointers;
    r
}

fn journeys(c: &Check, ev: &Evidence) -> CheckResult {
    let Some(j) = ev.logs.as_ref().and_then(|l| l.journeys.as_ref()) else {
        return result(
            c,
            Outcome::Missing,
            "no order journeys (evidence/logs/journeys.csv)".into(),
        );
    };
    if j.broken == 0 {
        return result(
            c,
            Outcome::Fail,
            format!(
                "none of {} journeys broke",
                sidik_core::fmt::count(j.followed as i64)
            ),
        );
    }
    let share = c.share.unwrap_or(0.1);
    let mut n = 0u64;
    let mut first = i64::MAX;
    let mut hops = Vec::new();
    for ((svc, class), (k, t)) in &j.by_hop {
        if c.classes.contains(class) && wanted(c, svc) {
            n += k;
            first = first.min(*t);
            hops.push(format!(
                "{svc} ({class}) {}",
                sidik_core::fmt::count(*k as i64)
            ));
        }
    }
    let got = n as f64 / j.broken as f64;
    let detail = format!(
        "{} of {} broken journeys ({:.0} %) broke first on {}{}",
        sidik_core::fmt::count(n as i64),
        sidik_core::fmt::count(j.broken as i64),
        got * 100.0,
        list(&c.classes),
        if hops.is_empty() {
            String::new()
        } else {
            format!(": {}", hops.join(", "))
        }
    );
    let mut r = result(
        c,
        if got >= share && n >= 3 {
            Outcome::Pass
        } else {
            Outcome::Fail
        },
        detail,
    );
    if r.outcome == Outcome::Pass {
        r.at = Some(first);
    }
    r.pointers = vec![j.source.clone()];
    r
}

fn recon(c: &Check, ev: &Evidence) -> CheckResult {
    let Some(rc) = &ev.recon else {
        return result(
            c,
            Outcome::Missing,
            "no reconciliation (evidence/recon/recon.json)".into(),
        );
    };
    let at_least = c.at_least.unwrap_or(1.0);
    let mut rows = 0u64;
    let mut parts = Vec::new();
    for cat in &c.categories {
        if let Some((n, idr)) = rc.by_category.get(cat) {
            rows += n;
            if *n > 0 {
                parts.push(format!(
                    "{cat} {} ({}){}",
                    sidik_core::fmt::count(*n as i64),
                    sidik_core::fmt::idr(*idr),
                    rc.first_hour
                        .get(cat)
                        .map_or(String::new(), |h| format!(", first in the hour of {h}"))
                ));
            }
        }
    }
    let pass = rows as f64 >= at_least;
    let detail = if parts.is_empty() {
        format!("no {} break", list(&c.categories))
    } else {
        parts.join("; ")
    };
    let mut r = result(c, if pass { Outcome::Pass } else { Outcome::Fail }, detail);
    r.pointers = vec![rc.source.clone()];
    r
}

fn leak(c: &Check, ev: &Evidence) -> CheckResult {
    let Some(rt) = &ev.runtime else {
        return result(
            c,
            Outcome::Missing,
            "no Go runtime findings (evidence/metrics/runtime.json)".into(),
        );
    };
    if !c.services.is_empty() && !c.services.iter().any(|s| rt.services.contains(s)) {
        return result(
            c,
            Outcome::Missing,
            format!("no goroutine metrics for {}", list(&c.services)),
        );
    }
    let leaks: Vec<&crate::evidence::Leak> =
        rt.leaks.iter().filter(|l| wanted(c, &l.service)).collect();
    let mut r = if leaks.is_empty() {
        result(
            c,
            Outcome::Fail,
            format!(
                "goroutines of {} follow their load",
                if c.services.is_empty() {
                    "every service".to_string()
                } else {
                    list(&c.services)
                }
            ),
        )
    } else {
        let d = leaks
            .iter()
            .map(|l| {
                format!(
                    "{}: goroutines from {:.0} to {:.0}, growing from {}",
                    l.service,
                    l.at_start,
                    l.peak,
                    hhmm(ev.tz, l.start)
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let mut r = result(c, Outcome::Pass, d);
        r.at = leaks.iter().map(|l| l.start).min();
        r
    };
    r.pointers = vec![rt.source.clone()];
    r
}

/// A latency percentile of one service pinned at one value during the incident.
struct Pinned {
    service: String,
    which: &'static str,
    value: f64,
    minutes: usize,
    of: usize,
    normal: f64,
    first: Minute,
}

fn pinned(ev: &Evidence, f: Focus, c: &Check) -> Vec<Pinned> {
    let Some(logs) = &ev.logs else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (svc, s) in &logs.services {
        if !wanted(c, svc) {
            continue;
        }
        for (which, v) in [("p50", &s.p50), ("p95", &s.p95), ("p99", &s.p99)] {
            let at = |t: Minute| logs.at(v, t).unwrap_or(f64::NAN);
            let during: Vec<(Minute, f64)> = (f.from..f.to)
                .map(|t| (t, at(t)))
                .filter(|(_, x)| x.is_finite())
                .collect();
            let before: Vec<f64> = (f.base.0..f.base.1).map(at).collect();
            let Some(normal) = median(&before) else {
                continue;
            };
            if during.len() < 10 {
                continue;
            }
            // The most frequent value (latencies are histogram buckets, so they repeat exactly).
            let mut counts: Vec<(u64, usize)> = Vec::new();
            for (_, x) in &during {
                let k = x.to_bits();
                match counts.iter_mut().find(|(b, _)| *b == k) {
                    Some(e) => e.1 += 1,
                    None => counts.push((k, 1)),
                }
            }
            let Some(&(bits, n)) = counts.iter().max_by_key(|e| e.1) else {
                continue;
            };
            let value = f64::from_bits(bits);
            if n * 2 >= during.len() && value >= 3.0 * normal {
                let first = during
                    .iter()
                    .find(|(_, x)| *x == value)
                    .map_or(f.from, |e| e.0);
                out.push(Pinned {
                    service: svc.clone(),
                    which,
                    value,
                    minutes: n,
                    of: during.len(),
                    normal,
                    first,
                });
                break;
            }
        }
    }
    out
}

fn pile_check(c: &Check, ev: &Evidence, f: Option<Focus>) -> Result<CheckResult, String> {
    let logs = need_logs(ev)?;
    let f = need_focus(f)?;
    let found = pinned(ev, f, c);
    if found.is_empty() {
        return Ok(result(
            c,
            Outcome::Fail,
            "no service's latency stays at one value during the incident".into(),
        ));
    }
    let d = found
        .iter()
        .map(|p| {
            format!(
                "{} {} at {:.0} ms in {} of {} minutes (normally {:.0} ms)",
                p.service, p.which, p.value, p.minutes, p.of, p.normal
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let mut r = result(c, Outcome::Pass, d);
    r.at = found.iter().map(|p| p.first * MIN_MS).min();
    r.pointers = vec![logs.source.clone()];
    Ok(r)
}

fn caller_timeout(c: &Check, ev: &Evidence, f: Option<Focus>) -> Result<CheckResult, String> {
    let logs = need_logs(ev)?;
    let f = need_focus(f)?;
    let callers = pinned(ev, f, c);
    if callers.is_empty() {
        return Ok(result(
            c,
            Outcome::Fail,
            "no caller's latency is pinned at a timeout".into(),
        ));
    }
    let mut parts = Vec::new();
    let mut at = None;
    for p in &callers {
        for (svc, s) in &logs.services {
            if *svc == p.service {
                continue;
            }
            let during: Vec<f64> = (f.from..f.to).filter_map(|t| logs.at(&s.p99, t)).collect();
            let Some(m) = median(&during) else { continue };
            if m > p.value {
                parts.push(format!(
                    "{} gives up at {:.0} ms while {}'s median p99 is {:.0} ms",
                    p.service, p.value, svc, m
                ));
                at = Some(at.map_or(p.first, |a: Minute| a.min(p.first)));
            }
        }
    }
    if parts.is_empty() {
        return Ok(result(
            c,
            Outcome::Fail,
            format!(
                "{} pins at {:.0} ms, but no other service is slower than that",
                callers[0].service, callers[0].value
            ),
        ));
    }
    let mut r = result(c, Outcome::Pass, parts.join("; "));
    r.at = at.map(|m| m * MIN_MS);
    r.pointers = vec![logs.source.clone()];
    Ok(r)
}

fn pg_blocking(c: &Check, ev: &Evidence) -> CheckResult {
    let Some(pg) = &ev.pg else {
        return result(
            c,
            Outcome::Missing,
            "no live PostgreSQL samples or snapshot from inside the incident window".into(),
        );
    };
    let mut parts = Vec::new();
    let mut pointers = Vec::new();
    let mut pass = false;
    if let Some((w, ms, file)) = &pg.peak_waiting {
        parts.push(format!(
            "{w} sessions waiting on a lock at {}",
            hhmm(ev.tz, *ms)
        ));
        pointers.push(file.clone());
        pass |= *w > 0;
    }
    if pg.deadlocks > 0 {
        parts.push(format!("{} deadlocks between samples", pg.deadlocks));
        pass = true;
    }
    if let Some((roots, file)) = &pg.blocking_roots {
        parts.push(format!(
            "{roots} blocking root{} in the snapshot",
            if *roots == 1 { "" } else { "s" }
        ));
        pointers.push(file.clone());
        pass |= *roots > 0;
    }
    let mut r = result(
        c,
        if pass { Outcome::Pass } else { Outcome::Fail },
        parts.join("; "),
    );
    r.pointers = pointers;
    r
}
