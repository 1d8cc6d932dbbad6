//! The configuration review: every pool, statement timeout, HTTP timeout,
//! retry policy, breaker and autoscaling rule of `[topology]` held against
//! what the incident did to it, each with a verdict, the evidence and a
//! recommended value.
//!
//! Findings are ordered so the first is the change that would have helped
//! most: the settings that answer `rca.json`'s primary cause come first,
//! then failures before warnings, then by the orders they cost.

use std::fmt::Write as _;

use regex::Regex;
use serde::Serialize;
use sidik_core::topology::{millis, CallSpec, ServiceSpec, Topology};
use sidik_core::Incident;
use sidik_rca::clock::hhmm;
use sidik_rca::evidence::Minute;

use crate::inputs::{argmax, max, quantile, Broken, Inputs};
use crate::{fmt_ms, plan};

/// Which kind of setting a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Area {
    /// A service's database pool.
    Pool,
    /// A service's statement and lock timeouts.
    Statement,
    /// An HTTP client's timeout.
    Timeout,
    /// An HTTP client's retries.
    Retries,
    /// A circuit breaker.
    Breaker,
    /// Horizontal autoscaling.
    Autoscaling,
}

impl Area {
    /// The tracker task (playbook step) the area belongs to.
    pub fn step(self) -> &'static str {
        match self {
            Area::Pool | Area::Statement => "pool-optimization",
            Area::Timeout | Area::Retries => "timeout-review",
            Area::Breaker => "breaker-tuning",
            Area::Autoscaling => "autoscaling",
        }
    }
}

/// What the review concluded about one setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The setting failed during the incident.
    Fail,
    /// It held this time but is wrong for the target load or on the evidence.
    Warn,
    /// It is right on the evidence.
    Ok,
    /// Its value or the evidence to judge it is missing.
    Unknown,
}

impl Verdict {
    fn word(self) -> &'static str {
        match self {
            Verdict::Fail => "FAIL",
            Verdict::Warn => "warn",
            Verdict::Ok => "ok",
            Verdict::Unknown => "unknown",
        }
    }
}

/// One reviewed setting.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Its kind.
    pub area: Area,
    /// The service the setting belongs to.
    pub service: String,
    /// The callee, for a call's settings.
    pub callee: Option<String>,
    /// The key in incident.toml (`topology.service[mrg].call[upg].timeout`).
    pub setting: String,
    /// Its value now, or `unknown`.
    pub current: String,
    /// The value to set, with what goes with it.
    pub recommended: String,
    /// The verdict.
    pub verdict: Verdict,
    /// The evidence, one sentence each, with numbers and where they came from.
    pub evidence: Vec<String>,
    /// Orders whose journey broke on it.
    pub orders: u64,
    /// When it first bit, ms.
    pub at: Option<i64>,
    /// Tracker hypotheses (1–5) this setting answers.
    pub hypotheses: Vec<u32>,
}

/// The whole review.
#[derive(Debug, Clone, Serialize)]
pub struct Review {
    /// Findings, the most important first.
    pub findings: Vec<Finding>,
    /// The primary cause's tracker number from `rca.json`.
    pub primary: Option<u32>,
    /// Evidence that was missing.
    pub missing: Vec<String>,
    /// Files read.
    pub read: Vec<String>,
}

impl Review {
    /// Findings of one playbook step's areas.
    pub fn of_step<'a>(&'a self, step: &'a str) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings.iter().filter(move |f| f.area.step() == step)
    }
}

fn key_of(s: &ServiceSpec) -> String {
    format!("topology.service[{}]", s.name.get_ref())
}

fn call_key(s: &ServiceSpec, c: &CallSpec) -> String {
    format!("{}.call[{}]", key_of(s), c.to.get_ref())
}

/// A matcher for messages that name `callee` as a word (`ho` in `ho-gateway`).
fn namer(callee: &str) -> Option<Regex> {
    Regex::new(&format!(r"\b{}\b", regex::escape(&callee.to_lowercase()))).ok()
}

/// Broken journeys at `caller` of one of `classes` that belong to the call
/// to `callee`: the message names it, or it is the caller's only call, or
/// (a timeout naming no callee) the callee is the only one of the caller's
/// whose p99 that minute was above the call's timeout.
fn on_call<'a>(
    inp: &'a Inputs,
    caller: &'a ServiceSpec,
    callee: &'a str,
    classes: &'a [&'a str],
) -> Vec<&'a Broken> {
    let only = caller.call.len() == 1;
    let named: Vec<(&str, Option<Regex>)> = caller
        .call
        .iter()
        .map(|c| (c.to.get_ref().as_str(), namer(c.to.get_ref())))
        .collect();
    let (from, to) = inp.span;
    // Per call with a timeout: the callee's p99 over the span.
    let slow: Vec<(&str, f64, Vec<f64>)> = caller
        .call
        .iter()
        .filter_map(|c| {
            let t = millis(&c.timeout)?;
            let (v, _) = inp.p99_worst(c.to.get_ref(), from, to)?;
            Some((c.to.get_ref().as_str(), t, v))
        })
        .collect();
    let slow_one = |at: i64| -> Option<&str> {
        let i = at.div_euclid(60_000) - from;
        let mut hit = slow.iter().filter(|(_, t, v)| {
            i >= 0 && v.get(i as usize).is_some_and(|p| p.is_finite() && p > t)
        });
        let first = hit.next()?;
        hit.next().is_none().then_some(first.0)
    };
    inp.broken
        .iter()
        .filter(|b| {
            if b.service != *caller.name.get_ref() || !classes.contains(&b.class.as_str()) {
                return false;
            }
            if only {
                return true;
            }
            let mut which = named
                .iter()
                .filter(|(_, re)| re.as_ref().is_some_and(|r| r.is_match(&b.message)));
            match which.next() {
                Some((name, _)) => *name == callee,
                None => b.class == "timeout" && slow_one(b.at) == Some(callee),
            }
        })
        .collect()
}

fn tally<'a>(it: impl Iterator<Item = &'a Broken>) -> (u64, Option<i64>) {
    it.fold((0, None), |(n, first), b| {
        (n + 1, Some(first.map_or(b.at, |f: i64| f.min(b.at))))
    })
}

/// Rounds a recommended timeout up to a whole half second.
fn round_up_ms(ms: f64) -> f64 {
    (ms / 500.0).ceil() * 500.0
}

/// Runs the review on an incident.
pub fn review(inc: &Incident, inp: &Inputs) -> Review {
    let topo = &inc.file.topology;
    let tz = inc.tz;
    let mut findings = Vec::new();
    let normal = inp.normal();
    let incident = inp.incident();
    let cap = plan::plan(inc, inp);

    for s in &topo.service {
        findings.extend(pool(inc, inp, topo, s, &cap));
        findings.extend(statement(inp, topo, s, tz));
        for c in &s.call {
            findings.push(timeout(inp, topo, s, c, normal, incident, tz));
            if let Some(f) = retries(inp, s, c, incident, tz) {
                findings.push(f);
            }
            if let Some(f) = breaker(inp, s, c, normal, incident, tz) {
                findings.push(f);
            }
        }
        if let Some(f) = autoscaling(inc, inp, topo, s, &cap, incident, tz) {
            findings.push(f);
        }
    }
    let primary = inp.primary();
    findings.sort_by_key(|f| {
        let first = primary.is_some_and(|p| f.hypotheses.contains(&p))
            && matches!(f.verdict, Verdict::Fail | Verdict::Warn);
        (!first, f.verdict, std::cmp::Reverse(f.orders), f.area)
    });
    let mut missing = inp.ev.missing.clone();
    if topo.service.is_empty() {
        missing.push(
            "topology: incident.toml has no [[topology.service]]: nothing to review (docs/capacity.md)"
                .into(),
        );
    }
    Review {
        findings,
        primary,
        missing,
        read: inp.read.clone(),
    }
}

fn pool(
    inc: &Incident,
    inp: &Inputs,
    topo: &Topology,
    s: &ServiceSpec,
    cap: &plan::Plan,
) -> Option<Finding> {
    let name = s.name.get_ref();
    let (from, to) = inp.incident();
    let conns = inp.connections(name, from, to);
    if s.pool_size.is_none() && conns.is_none() {
        return None;
    }
    let mut ev = Vec::new();
    let mut verdict = Verdict::Ok;
    let (orders, at) = tally(
        inp.broken
            .iter()
            .filter(|b| b.service == *name && b.class == "db_pool_exhaustion"),
    );
    if orders > 0 {
        verdict = Verdict::Fail;
        ev.push(format!(
            "{orders} orders' journeys broke at {name} for want of a connection (db_pool_exhaustion), the first at {} (evidence/logs/journeys.csv)",
            hhmm(inc.tz, at.unwrap_or(0))
        ));
    }
    if let Some((per, _)) = &conns {
        if let Some((i, peak)) = argmax(per) {
            let when = hhmm(inc.tz, (from + i as Minute) * 60_000);
            match s.pool_size {
                Some(p) if peak >= 0.95 * p as f64 => {
                    verdict = Verdict::Fail;
                    ev.push(format!(
                        "connections per replica reached {peak:.0} of its pool of {p} at {when} (metrics db_connections)"
                    ));
                }
                Some(p) => ev.push(format!(
                    "connections per replica peaked at {peak:.0} of its pool of {p} at {when} (metrics db_connections)"
                )),
                None => ev.push(format!(
                    "connections per replica peaked at {peak:.0} at {when} (metrics db_connections); the pool's size is unknown"
                )),
            }
        }
    }
    if let Some(server) = &cap.server {
        if server.peak >= server.usable as f64 - 0.5 && verdict == Verdict::Fail {
            ev.push(format!(
                "the server's usable slots were all taken: {:.0} of {} at {} ({})",
                server.peak,
                server.usable,
                hhmm(inc.tz, server.peak_at),
                server.source
            ));
        }
        if cap.sum_max > server.usable as u64 && verdict == Verdict::Ok {
            verdict = Verdict::Warn;
        }
    }
    let row = cap.services.iter().find(|r| r.service == *name);
    let mut rec = String::new();
    match row.and_then(|r| r.pool_needed.map(|n| (r, n))) {
        Some((r, need)) => {
            let replicas = s.replicas.unwrap_or(1).max(1);
            let per = need.div_ceil(replicas);
            let share = cap.fair_share(name);
            let value = match share {
                Some(share) if share < per => share,
                _ => per,
            };
            if s.pool_size.is_some_and(|p| p < per) && verdict == Verdict::Ok {
                verdict = Verdict::Warn;
            }
            let _ = write!(
                rec,
                "pool_size = {value} per replica: Erlang C gives {need} connections for {:.1} requests/s holding one {} each at the target load (P(wait) ≤ {})",
                r.rate_target,
                fmt_ms(r.holding_s.unwrap_or(f64::NAN) * 1000.0),
                cap.max_wait_probability
            );
            if share.is_some_and(|sh| sh < per) {
                let _ = write!(
                    rec,
                    "; its fair share of the {} usable slots at {} replicas caps it at {value}: put PgBouncer (pool_mode = transaction) in front for the rest",
                    cap.server.as_ref().map_or(0, |x| x.usable),
                    topo.get(name).map_or(1, |x| x.max_replicas())
                );
            }
        }
        None => {
            rec.push_str("unknown: the holding time per request needs db_connections and the request rate in the metrics");
        }
    }
    if cap.sum_max > cap.server.as_ref().map_or(u64::MAX, |x| x.usable as u64) {
        ev.push(format!(
            "all pools at their most replicas open {} connections against {} usable slots",
            cap.sum_max,
            cap.server.as_ref().map_or(0, |x| x.usable)
        ));
    }
    let caller_timeout = topo
        .callers(name)
        .filter_map(|(_, c)| millis(&c.timeout))
        .fold(f64::NAN, f64::min);
    let pool_timeout = millis(&s.pool_timeout);
    match pool_timeout {
        Some(pt) if caller_timeout.is_finite() && pt >= caller_timeout => {
            ev.push(format!(
                "pool_timeout {} is not shorter than its callers' timeout {}: a request waiting for a connection outlives the caller",
                fmt_ms(pt),
                fmt_ms(caller_timeout)
            ));
            if verdict == Verdict::Ok {
                verdict = Verdict::Warn;
            }
        }
        None => ev.push(
            "pool_timeout is unknown: a request may wait for a connection without bound".into(),
        ),
        _ => {}
    }
    if caller_timeout.is_finite() {
        let _ = write!(
            rec,
            "; pool_timeout = {} (under the callers' {})",
            fmt_ms((caller_timeout / 4.0).clamp(100.0, 2000.0)),
            fmt_ms(caller_timeout)
        );
    }
    Some(Finding {
        area: Area::Pool,
        service: name.clone(),
        callee: None,
        setting: format!("{}.pool_size", key_of(s)),
        current: s.pool_size.map_or("unknown".into(), |p| {
            format!(
                "{p} per replica × {}",
                s.replicas.map_or("?".into(), |r| r.to_string())
            )
        }),
        recommended: rec,
        verdict: if s.pool_size.is_none() && verdict == Verdict::Ok {
            Verdict::Unknown
        } else {
            verdict
        },
        evidence: ev,
        orders,
        at,
        hypotheses: vec![1],
    })
}

const LOCK_CLASSES: [&str; 3] = ["deadlock", "serialization_failure", "lock_timeout"];

fn statement(inp: &Inputs, topo: &Topology, s: &ServiceSpec, tz: chrono_tz::Tz) -> Option<Finding> {
    let name = s.name.get_ref();
    let locks = tally(
        inp.broken
            .iter()
            .filter(|b| b.service == *name && LOCK_CLASSES.contains(&b.class.as_str())),
    );
    let stmt = tally(
        inp.broken
            .iter()
            .filter(|b| b.service == *name && b.class == "statement_timeout"),
    );
    if s.statement_timeout.is_none() && s.lock_timeout.is_none() && locks.0 == 0 && stmt.0 == 0 {
        return None;
    }
    let (from, to) = inp.incident();
    let mut ev = Vec::new();
    let mut verdict = Verdict::Ok;
    let mut hyp = Vec::new();
    if locks.0 > 0 {
        verdict = Verdict::Fail;
        hyp.push(5);
        let lines: f64 = LOCK_CLASSES
            .iter()
            .map(|c| inp.class_lines(name, c, from, to).iter().sum::<f64>())
            .sum();
        ev.push(format!(
            "{} orders' journeys broke at {name} on a deadlock, serialization failure or lock timeout, the first at {} ({lines:.0} such log lines during the incident): concurrent handlers updated the same rows",
            locks.0,
            hhmm(tz, locks.1.unwrap_or(0))
        ));
    }
    if stmt.0 > 0 {
        verdict = Verdict::Fail;
        hyp.push(4);
        ev.push(format!(
            "{} orders' journeys broke at {name} on statement_timeout, the first at {}",
            stmt.0,
            hhmm(tz, stmt.1.unwrap_or(0))
        ));
    }
    let caller_timeout = topo
        .callers(name)
        .filter_map(|(_, c)| millis(&c.timeout))
        .fold(f64::NAN, f64::min);
    let st = millis(&s.statement_timeout);
    if let Some(st) = st {
        if caller_timeout.is_finite() && st >= caller_timeout {
            ev.push(format!(
                "statement_timeout {} is not shorter than its callers' timeout {}: a statement keeps its locks after the caller gave up",
                fmt_ms(st),
                fmt_ms(caller_timeout)
            ));
            if verdict == Verdict::Ok {
                verdict = Verdict::Warn;
            }
        }
    } else {
        ev.push("statement_timeout is unknown".into());
    }
    if s.lock_timeout.is_none() {
        ev.push("lock_timeout is unknown (PostgreSQL's default waits for a lock forever)".into());
        if verdict == Verdict::Ok {
            verdict = Verdict::Warn;
        }
    }
    let budget = if caller_timeout.is_finite() {
        caller_timeout
    } else {
        st.unwrap_or(5000.0)
    };
    let rec = format!(
        "lock_timeout = {}, statement_timeout = {} (under the callers' {}); lock the order row first (SELECT … FOR UPDATE) in one order, and retry the transaction on SQLSTATE 40P01/40001",
        fmt_ms((budget / 5.0).clamp(100.0, 2000.0)),
        fmt_ms((budget * 0.6).max(200.0)),
        fmt_ms(budget)
    );
    let cur = format!(
        "statement_timeout {}, lock_timeout {}",
        st.map_or("unknown".into(), fmt_ms),
        millis(&s.lock_timeout).map_or("unknown".into(), fmt_ms)
    );
    Some(Finding {
        area: Area::Statement,
        service: name.clone(),
        callee: None,
        setting: format!("{}.lock_timeout", key_of(s)),
        current: cur,
        recommended: rec,
        verdict,
        evidence: ev,
        orders: locks.0 + stmt.0,
        at: [locks.1, stmt.1].into_iter().flatten().min(),
        hypotheses: hyp,
    })
}

/// The longest a call to `service` can take as its caller sees it: the
/// service's p99 during the incident plus its own calls' retries.
fn worst_ms(inp: &Inputs, service: &str, from: Minute, to: Minute) -> Option<(f64, &'static str)> {
    let (v, src) = inp.p99_worst(service, from, to)?;
    max(&v).map(|m| (m, src))
}

fn timeout(
    inp: &Inputs,
    topo: &Topology,
    s: &ServiceSpec,
    c: &CallSpec,
    normal: (Minute, Minute),
    incident: (Minute, Minute),
    tz: chrono_tz::Tz,
) -> Finding {
    let callee = c.to.get_ref();
    let caller = s.name.get_ref();
    let t = millis(&c.timeout);
    let attempts = c.retries.map(|r| r + 1);
    let backoff = millis(&c.backoff).unwrap_or(0.0);
    let mut ev = Vec::new();
    let mut verdict = Verdict::Unknown;
    let (orders, at) = tally(on_call(inp, s, callee, &["timeout"]).into_iter());
    let normal_p99 = inp
        .p99_worst(callee, normal.0, normal.1)
        .and_then(|(v, _)| quantile(&v, 0.99));
    let spike = worst_ms(inp, callee, incident.0, incident.1);
    // The callee's own calls: it cannot answer before its slowest callee's
    // attempts are spent.
    let downstream = topo.get(callee).map_or(0.0, |d| {
        d.call
            .iter()
            .filter_map(|cc| {
                let tt = millis(&cc.timeout)?;
                let n = cc.retries.unwrap_or(0) as f64;
                Some(tt * (n + 1.0) + millis(&cc.backoff).unwrap_or(0.0) * n)
            })
            .fold(0.0, f64::max)
    });
    if let Some(t) = t {
        verdict = Verdict::Ok;
        if let Some((sp, src)) = spike {
            if sp > t {
                verdict = Verdict::Fail;
                ev.push(format!(
                    "{callee}'s p99 during the incident reached {} ({src}), longer than {caller}'s timeout of {}",
                    fmt_ms(sp),
                    fmt_ms(t)
                ));
            } else {
                ev.push(format!(
                    "{callee}'s p99 during the incident peaked at {} ({src}), under the timeout of {}",
                    fmt_ms(sp),
                    fmt_ms(t)
                ));
            }
        }
        if let Some(np) = normal_p99 {
            let need = np * attempts.unwrap_or(1) as f64 + backoff * c.retries.unwrap_or(0) as f64;
            if need > t {
                verdict = verdict.min(Verdict::Warn);
                ev.push(format!(
                    "on the normal day {callee}'s p99 was {}; × {} attempts plus backoff is {}, above the timeout",
                    fmt_ms(np),
                    attempts.unwrap_or(1),
                    fmt_ms(need)
                ));
            }
        }
        if downstream > t {
            verdict = verdict.min(Verdict::Warn);
            ev.push(format!(
                "{callee} may spend {} on its own calls (their timeouts × attempts plus backoff) before it answers: {caller} gives up first",
                fmt_ms(downstream)
            ));
        }
    } else {
        ev.push(format!("the timeout of {caller} → {callee} is unknown"));
    }
    if orders > 0 {
        verdict = Verdict::Fail;
        ev.push(format!(
            "{orders} orders' journeys broke at {caller} on a timeout calling {callee}, the first at {} (evidence/logs/journeys.csv)",
            hhmm(tz, at.unwrap_or(0))
        ));
    }
    let retries = c.retries.unwrap_or(0);
    if retries > 0 && c.idempotent != Some(true) {
        let dups = inp
            .breaks
            .iter()
            .filter(|(cat, _)| cat.starts_with("DUPLICATE"))
            .count();
        ev.push(format!(
            "{retries} retries without an idempotency key: a retry after a timeout repeats work the first attempt may finish{}",
            if dups > 0 {
                format!(" ({dups} duplicate charges or postings in the reconciliation)")
            } else {
                String::new()
            }
        ));
        if verdict == Verdict::Ok {
            verdict = Verdict::Warn;
        }
    }
    let base = spike
        .map(|(m, _)| m)
        .into_iter()
        .chain(normal_p99.map(|np| np * attempts.unwrap_or(1) as f64 + backoff * retries as f64))
        .chain((downstream > 0.0).then_some(downstream))
        .fold(f64::NAN, f64::max);
    let mut rec = if base.is_finite() {
        format!(
            "timeout = {} (above {callee}'s worst p99 or its own retries, {}, with 20 % margin)",
            fmt_ms(round_up_ms(base * 1.2)),
            fmt_ms(base)
        )
    } else {
        "unknown: no latency of the callee in the evidence".to_string()
    };
    if retries > 0 && c.idempotent != Some(true) {
        rec.push_str("; send an idempotency key with every attempt (idempotent = true)");
    }
    let hyp = vec![4];
    Finding {
        area: Area::Timeout,
        service: caller.clone(),
        callee: Some(callee.clone()),
        setting: format!("{}.timeout", call_key(s, c)),
        current: t.map_or("unknown".into(), |t| {
            format!(
                "{} × {} attempts",
                fmt_ms(t),
                attempts.map_or("?".into(), |a| a.to_string())
            )
        }),
        recommended: rec,
        verdict,
        evidence: ev,
        orders,
        at,
        hypotheses: hyp,
    }
}

const GIVE_UP_CLASSES: [&str; 4] = [
    "callback_failed",
    "ho_push_failed",
    "connection_refused",
    "broker_error",
];

fn retries(
    inp: &Inputs,
    s: &ServiceSpec,
    c: &CallSpec,
    incident: (Minute, Minute),
    tz: chrono_tz::Tz,
) -> Option<Finding> {
    let callee = c.to.get_ref();
    let caller = s.name.get_ref();
    let (orders, at) = tally(on_call(inp, s, callee, &GIVE_UP_CLASSES).into_iter());
    if orders == 0 && c.retries.is_none() {
        return None;
    }
    let mut ev = Vec::new();
    let verdict = if orders > 0 {
        Verdict::Fail
    } else if c.retries.is_some() {
        Verdict::Ok
    } else {
        Verdict::Unknown
    };
    let outage_min = (incident.1 - incident.0).max(1);
    if orders > 0 {
        ev.push(format!(
            "{orders} orders' journeys broke at {caller} when its call to {callee} failed and was given up after {} retries, the first at {} (evidence/logs/journeys.csv)",
            c.retries.map_or("an unknown number of".into(), |r| r.to_string()),
            hhmm(tz, at.unwrap_or(0))
        ));
        ev.push(format!(
            "the incident lasted {outage_min} minutes; retries spaced by {} give up after {}",
            millis(&c.backoff).map_or("an unknown backoff".into(), fmt_ms),
            fmt_ms(
                c.retries.unwrap_or(0) as f64
                    * (millis(&c.backoff).unwrap_or(0.0) + millis(&c.timeout).unwrap_or(0.0))
            )
        ));
    }
    // Exponential backoff from 1 s doubling up to 5 minutes, enough attempts
    // to span the incident's length.
    let mut n = 0;
    let mut span = 0.0;
    let mut wait = 1_000.0;
    while span < outage_min as f64 * 60_000.0 && n < 50 {
        span += wait;
        wait = (wait * 2.0).min(300_000.0);
        n += 1;
    }
    let rec = format!(
        "retries = {n} with backoff doubling from 1s to 5m (spans {}), each attempt with an idempotency key; park what still fails in a dead-letter queue that the reconciliation replays",
        fmt_ms(span)
    );
    Some(Finding {
        area: Area::Retries,
        service: caller.clone(),
        callee: Some(callee.clone()),
        setting: format!("{}.retries", call_key(s, c)),
        current: c.retries.map_or("unknown".into(), |r| {
            format!(
                "{r}, backoff {}",
                millis(&c.backoff).map_or("unknown".into(), fmt_ms)
            )
        }),
        recommended: rec,
        verdict,
        evidence: ev,
        orders,
        at,
        hypotheses: vec![2],
    })
}

/// First minute of `ratio` at or above `threshold` (with `min_requests`
/// calls that minute when the rates are known), as an index.
fn opens(ratio: &[f64], rate: Option<&[f64]>, threshold: f64, min_requests: u32) -> Option<usize> {
    ratio.iter().enumerate().position(|(i, r)| {
        r.is_finite()
            && *r >= threshold
            && rate.is_none_or(|v| {
                v.get(i)
                    .is_none_or(|x| !x.is_finite() || x * 60.0 >= min_requests as f64)
            })
    })
}

fn breaker(
    inp: &Inputs,
    s: &ServiceSpec,
    c: &CallSpec,
    normal: (Minute, Minute),
    incident: (Minute, Minute),
    tz: chrono_tz::Tz,
) -> Option<Finding> {
    let callee = c.to.get_ref();
    let caller = s.name.get_ref();
    let (orders, at) = tally(on_call(inp, s, callee, &["circuit_breaker_open"]).into_iter());
    if c.breaker.is_none() && orders == 0 {
        return None;
    }
    let b = c.breaker.clone().unwrap_or_default();
    // What the breaker sees: the callee's failures, else the caller's own.
    let (who, ratio_n, ratio_i, src) = match (
        inp.error_ratio(callee, normal.0, normal.1),
        inp.error_ratio(callee, incident.0, incident.1),
    ) {
        (Some((n, src)), Some((i, _))) if max(&i).is_some() => (callee.clone(), n, i, src),
        _ => {
            let n = inp.error_ratio(caller, normal.0, normal.1);
            let i = inp.error_ratio(caller, incident.0, incident.1);
            match (n, i) {
                (Some((n, src)), Some((i, _))) => (caller.clone(), n, i, src),
                _ => (caller.clone(), Vec::new(), Vec::new(), "none"),
            }
        }
    };
    let rate_i = inp.rate(&who, incident.0, incident.1).map(|(v, _)| v);
    let mut ev = Vec::new();
    let mut verdict = Verdict::Unknown;
    let normal_max = quantile(&ratio_n, 0.999);
    let peak = max(&ratio_i);
    if let (Some(nm), Some(pk)) = (normal_max, peak) {
        ev.push(format!(
            "{who}'s error ratio ({src}): at most {:.2} % on the normal day, {:.1} % at the incident's peak",
            nm * 100.0,
            pk * 100.0
        ));
    }
    // The callee failed when its ratio rose well above the normal day's.
    let failing = match (normal_max, peak) {
        (Some(nm), Some(pk)) => pk > (nm * 2.0).max(0.01),
        _ => false,
    };
    if let Some(fr) = b.failure_ratio {
        verdict = Verdict::Ok;
        if let Some(nm) = normal_max {
            if fr <= nm {
                verdict = Verdict::Fail;
                ev.push(format!(
                    "failure_ratio {fr} is not above the normal day's {:.3}: it opens on ordinary errors",
                    nm
                ));
            }
        }
        if let Some(pk) = peak.filter(|_| failing) {
            if fr > pk {
                verdict = verdict.min(Verdict::Warn);
                ev.push(format!(
                    "failure_ratio {fr} is above the incident's peak {:.3}: it never opened when {who} was failing",
                    pk
                ));
            } else if let Some(i) =
                opens(&ratio_i, rate_i.as_deref(), fr, b.min_requests.unwrap_or(0))
            {
                ev.push(format!(
                    "with failure_ratio {fr} it would open at {}",
                    hhmm(tz, (incident.0 + i as Minute) * 60_000)
                ));
            }
        }
    } else {
        ev.push(format!(
            "{caller} → {callee} has no breaker settings (failure_ratio unknown)"
        ));
    }
    if orders > 0 {
        verdict = Verdict::Fail;
        ev.push(format!(
            "the open breaker rejected the calls of {orders} orders, whose journeys broke there, the first at {} (evidence/logs/journeys.csv)",
            hhmm(tz, at.unwrap_or(0))
        ));
        if let Some(ob) = millis(&b.open_for) {
            ev.push(format!(
                "open_for {} with {} trial calls: each reopening rejects every call for that long",
                fmt_ms(ob),
                b.half_open_requests
                    .map_or("an unknown number of".into(), |h| h.to_string())
            ));
        }
    }
    let mut rec = String::new();
    if let (Some(nm), Some(pk)) = (normal_max, peak) {
        if failing {
            let r = (nm + (pk - nm) * 0.3).max(nm * 2.0).max(0.05);
            let r = (r * 100.0).ceil() / 100.0;
            let min_req = 20u32.max(b.min_requests.unwrap_or(0));
            let _ = write!(
                rec,
                "failure_ratio = {r} (above the normal day's {:.3}, below the peak {:.3}), min_requests = {min_req}, window = 1m, open_for = 30s, half_open_requests = 5",
                nm, pk
            );
            if let Some(i) = opens(&ratio_i, rate_i.as_deref(), r, min_req) {
                let when = (incident.0 + i as Minute) * 60_000;
                let _ = write!(rec, "; it would open at {}", hhmm(tz, when));
                if let Some(d) = inp.degradation() {
                    let _ = write!(rec, " (degradation began {})", hhmm(tz, d * 60_000));
                }
            }
        } else {
            let _ = write!(
                rec,
                "keep: {who}'s error ratio stayed near the normal day's ({:.3} at most during the incident)",
                pk
            );
        }
    } else {
        rec.push_str("unknown: no error ratio of the callee or the caller in the evidence");
    }
    rec.push_str("; alert when it opens (BreakerOpen in evidence/prevention/alerts.yml)");
    Some(Finding {
        area: Area::Breaker,
        service: caller.clone(),
        callee: Some(callee.clone()),
        setting: format!("{}.breaker.failure_ratio", call_key(s, c)),
        current: b.failure_ratio.map_or("unknown".into(), |r| {
            format!(
                "{r}, min_requests {}, open_for {}",
                b.min_requests.map_or("unknown".into(), |m| m.to_string()),
                millis(&b.open_for).map_or("unknown".into(), fmt_ms)
            )
        }),
        recommended: rec,
        verdict,
        evidence: ev,
        orders,
        at,
        hypotheses: vec![3],
    })
}

fn autoscaling(
    inc: &Incident,
    inp: &Inputs,
    topo: &Topology,
    s: &ServiceSpec,
    cap: &plan::Plan,
    incident: (Minute, Minute),
    tz: chrono_tz::Tz,
) -> Option<Finding> {
    let name = s.name.get_ref();
    let a = s.autoscaling.as_ref()?;
    let mut ev = Vec::new();
    let mut verdict = Verdict::Ok;
    // Saturated: p99 above twice the normal day's, or connections at the pool.
    let normal = inp.normal();
    let np = inp
        .p99(name, normal.0, normal.1)
        .and_then(|(v, _)| quantile(&v, 0.99));
    let ip = inp.p99(name, incident.0, incident.1);
    let mut saturated: Option<(Minute, String)> = None;
    if let (Some(np), Some((v, src))) = (np, &ip) {
        if let Some(i) = v.iter().position(|x| x.is_finite() && *x > 2.0 * np) {
            saturated = Some((
                incident.0 + i as Minute,
                format!("p99 above twice the normal day's {} ({src})", fmt_ms(np)),
            ));
        }
    }
    if let (Some(p), Some((per, _))) = (s.pool_size, inp.connections(name, incident.0, incident.1))
    {
        if let Some(i) = per
            .iter()
            .position(|x| x.is_finite() && *x >= 0.95 * p as f64)
        {
            let t = incident.0 + i as Minute;
            if saturated.as_ref().is_none_or(|(s, _)| t < *s) {
                saturated = Some((t, format!("connections at its pool of {p}")));
            }
        }
    }
    // Scaled: an incident event naming the service and a scaling.
    let scaled = inc.file.incident.events.iter().find_map(|e| {
        let l = e.label.to_lowercase();
        if l.contains(&name.to_lowercase()) && (l.contains("scal") || l.contains("replica")) {
            let t = sidik_core::time::parse_time(e.at.get_ref(), inc.tz).ok()?;
            let m = t.timestamp_millis().div_euclid(60_000);
            (m >= incident.0).then(|| (m, e.label.clone()))
        } else {
            None
        }
    });
    match (&saturated, &scaled) {
        (Some((sat, why)), Some((sc, label))) => {
            ev.push(format!(
                "saturated at {} ({why}); scaled at {} (\"{label}\", incident.toml events): {} minutes later",
                hhmm(tz, sat * 60_000),
                hhmm(tz, sc * 60_000),
                sc - sat
            ));
            if sc > sat {
                verdict = Verdict::Fail;
            }
        }
        (Some((sat, why)), None) => {
            ev.push(format!(
                "saturated at {} ({why}); no scaling of {name} is recorded in incident.toml's events",
                hhmm(tz, sat * 60_000)
            ));
            verdict = Verdict::Fail;
        }
        (None, Some((sc, label))) => ev.push(format!(
            "did not saturate; scaled at {} (\"{label}\")",
            hhmm(tz, sc * 60_000)
        )),
        (None, None) => ev.push(format!("{name} did not saturate on the evidence")),
    }
    let metric = a.metric.clone().unwrap_or_else(|| "unknown".into());
    if let Some(m) = &a.metric {
        if sidik_core::topology::SHARE_METRICS.contains(&m.as_str())
            && !inp.ev.metrics.as_ref().is_some_and(|x| x.has(m))
        {
            ev.push(format!(
                "it scales on {m}, which the evidence does not hold: when it would have triggered is unknown"
            ));
        }
    }
    let maxr = s.max_replicas();
    // The other services' pools at their normal replicas.
    let others: u64 = topo
        .service
        .iter()
        .filter(|o| o.name.get_ref() != name)
        .map(|o| o.connections())
        .sum();
    if let (Some(p), Some(server)) = (s.pool_size, &cap.server) {
        let at_max = p as u64 * maxr as u64 + others;
        if at_max > server.usable as u64 {
            verdict = verdict.min(Verdict::Warn);
            ev.push(format!(
                "scaled to its {maxr} replicas it would open {} connections with the others' {others}: {at_max} against {} usable slots — scaling out saturates the database before it adds capacity",
                p as u64 * maxr as u64,
                server.usable
            ));
        }
    }
    if let Some(cd) = millis(&a.cooldown) {
        if cd > 60_000.0 {
            ev.push(format!(
                "cooldown {} delays each further step up",
                fmt_ms(cd)
            ));
        }
    }
    let row = cap.services.iter().find(|r| r.service == *name);
    let need = row.and_then(|r| {
        let per = r.rate_peak / s.replicas.unwrap_or(1).max(1) as f64;
        (per > 0.0 && r.rate_normal_peak > 0.0).then(|| {
            let per_normal = r.rate_normal_peak / s.replicas.unwrap_or(1).max(1) as f64;
            ((r.rate_target / per_normal).ceil() as u32).max(a.min_replicas.unwrap_or(1))
        })
    });
    // The replicas it may reach: its maximum, or what the target needs.
    let reach = need.map_or(maxr, |n| n.max(maxr));
    let share = cap
        .server
        .as_ref()
        .map(|sv| (sv.usable as u64).saturating_sub(others) / reach.max(1) as u64);
    let mut rec = format!(
        "scale on request_rate per replica (a leading signal{}) with scale-up cooldown ≤ 1m",
        if metric == "request_rate" {
            String::new()
        } else {
            format!(", not {metric}")
        }
    );
    if let Some(n) = need {
        let _ = write!(
            rec,
            "; min_replicas = {n} for the target load ({:.1} requests/s at the normal day's peak rate per replica)",
            row.map_or(0.0, |r| r.rate_target)
        );
        if n > maxr {
            let _ = write!(rec, ", max_replicas ≥ {n}");
        }
    }
    if let Some(sh) = share {
        let _ = write!(
            rec,
            "; pool_size ≤ {sh} per replica so {reach} replicas fit the usable slots beside the others' pools, or PgBouncer in transaction mode"
        );
    }
    Some(Finding {
        area: Area::Autoscaling,
        service: name.clone(),
        callee: None,
        setting: format!("{}.autoscaling", key_of(s)),
        current: format!(
            "{metric} target {}, {}–{} replicas, cooldown {}",
            a.target.map_or("unknown".into(), |t| t.to_string()),
            a.min_replicas.map_or("?".into(), |x| x.to_string()),
            a.max_replicas.map_or("?".into(), |x| x.to_string()),
            millis(&a.cooldown).map_or("unknown".into(), fmt_ms)
        ),
        recommended: rec,
        verdict,
        evidence: ev,
        orders: 0,
        at: saturated.map(|(m, _)| m * 60_000),
        hypotheses: vec![1],
    })
}

/// `reports/<step>.md` for one review step (or every area when `step` is `None`).
pub fn to_markdown(r: &Review, step: Option<&str>, title: &str) -> String {
    let mut out = format!("# {title}\n\n");
    let list: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| step.is_none_or(|s| f.area.step() == s))
        .collect();
    if let Some(p) = r.primary {
        let _ = writeln!(
            out,
            "Ordered by what would have helped most: the settings that answer the primary cause (hypothesis {p}, evidence/rca.json) first, then failures before warnings, then by the orders they cost.\n"
        );
    }
    if list.is_empty() {
        out.push_str("Nothing to review: incident.toml's [[topology.service]] describes none of these settings (docs/capacity.md).\n");
    } else {
        out.push_str(
            "| # | verdict | setting | now | recommended | orders |\n|---:|---|---|---|---|---:|\n",
        );
        for (i, f) in list.iter().enumerate() {
            let _ = writeln!(
                out,
                "| {} | {} | `{}` | {} | {} | {} |",
                i + 1,
                f.verdict.word(),
                f.setting,
                f.current,
                f.recommended.replace('|', "\\|"),
                f.orders
            );
        }
        out.push('\n');
        for (i, f) in list.iter().enumerate() {
            let _ = writeln!(
                out,
                "## {}. `{}` — {}\n",
                i + 1,
                f.setting,
                f.verdict.word()
            );
            for e in &f.evidence {
                let _ = writeln!(out, "- {e}");
            }
            let _ = writeln!(out, "\nRecommended: {}\n", f.recommended);
        }
    }
    if !r.missing.is_empty() {
        out.push_str("## Missing\n\n");
        for m in &r.missing {
            let _ = writeln!(out, "- {m}");
        }
        out.push('\n');
    }
    out.push_str("## Read\n\n");
    for f in &r.read {
        let _ = writeln!(out, "- {f}");
    }
    out
}
