//! Prometheus alerting rules for this incident's failure modes, with
//! `promtool test rules` unit tests built from the incident's own series.
//!
//! Each rule compares one gauge with a threshold taken from the incident:
//! above the normal part of the day's highest value, so it stays silent
//! there, and reached during the incident. The same per-minute series go
//! into the unit tests, and the minute each rule must start firing is
//! computed the way Prometheus evaluates it (true at every evaluation for
//! the rule's `for:`), so `promtool` checks that the rule file does what
//! the review says.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;
use sidik_core::Incident;
use sidik_rca::clock::hhmm;
use sidik_rca::evidence::Minute;

use crate::inputs::{max, Inputs};
use crate::CapacityError;

/// A charge counts as not posted this long after its posting was due.
pub const POSTING_GRACE_MIN: i64 = 15;
/// An order counts as stuck this long after its trip ended.
pub const STUCK_AFTER_MIN: i64 = 30;

/// One alerting rule and the series it reads.
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    /// `alert:`.
    pub name: String,
    /// `expr:`.
    pub expr: String,
    /// `for:` in minutes.
    pub for_min: i64,
    /// `labels:` (severity first).
    pub labels: Vec<(String, String)>,
    /// `annotations.summary`.
    pub summary: String,
    /// `annotations.description`.
    pub description: String,
    /// Input series of the test: selector text and one value a minute.
    #[serde(skip)]
    pub series: Vec<(String, Vec<f64>)>,
    /// Whether the expression holds, a minute at a time.
    #[serde(skip)]
    pub holds: Vec<bool>,
    /// Minute (from the span's start) it starts firing, if it does.
    pub fires_at: Option<i64>,
    /// Minutes (from the span's start) where it must be silent.
    pub silent_at: Vec<i64>,
}

/// The rules and where the series start.
#[derive(Debug, Clone, Serialize)]
pub struct Rules {
    /// The incident id (the group's name).
    pub group: String,
    /// The rules.
    pub rules: Vec<Rule>,
    /// First minute of the series (ms since the epoch).
    pub start_ms: i64,
    /// Failure modes the evidence could not give a series for.
    pub missing: Vec<String>,
}

/// Carries values forward over missing minutes (Prometheus' lookback), 0 before the first.
fn filled(v: &[f64]) -> Vec<f64> {
    let mut last = 0.0;
    v.iter()
        .map(|x| {
            if x.is_finite() {
                last = *x;
            }
            last
        })
        .collect()
}

/// A threshold above the normal day's highest value `normal` and at or
/// under the incident's `peak`, rounded to a readable number.
fn threshold(normal: f64, peak: f64, floor: f64) -> Option<f64> {
    if peak <= normal {
        return None;
    }
    let t = (normal * 1.5)
        .max(normal + floor)
        .min(normal + (peak - normal) * 0.5);
    let t = if t >= 10.0 {
        t.floor()
    } else {
        (t * 100.0).floor() / 100.0
    };
    (t >= normal && t < peak).then_some(t)
}

/// For each minute of `0..len`, how many of `sorted` (minutes) lie at least `lag` minutes back.
fn overdue(sorted: &[i64], lag: i64, len: usize) -> Vec<f64> {
    (0..len as i64)
        .map(|t| sorted.partition_point(|m| *m <= t - lag) as f64)
        .collect()
}

fn first_firing(holds: &[bool], for_min: i64, from: usize) -> Option<i64> {
    let n = holds.len();
    let mut run = 0i64;
    for (i, h) in holds.iter().enumerate().take(n).skip(from) {
        if *h {
            run += 1;
            if run > for_min {
                return Some(i as i64);
            }
        } else {
            run = 0;
        }
    }
    None
}

#[allow(clippy::too_many_arguments)]
fn gauge_rule(
    name: &str,
    metric: &str,
    labels: &[(&str, &str)],
    severity: &str,
    for_min: i64,
    v: Vec<f64>,
    spike: usize,
    floor: f64,
    what: &str,
    out: &mut Vec<Rule>,
    missing: &mut Vec<String>,
) -> Option<f64> {
    let v = filled(&v);
    let normal = max(&v[..spike.min(v.len())]).unwrap_or(0.0);
    let peak = max(&v[spike.min(v.len())..]).unwrap_or(0.0);
    let Some(t) = threshold(normal, peak, floor) else {
        missing.push(format!(
            "{name}: {what} never rose above the normal day's {normal} during the incident; no threshold can be drawn from it"
        ));
        return None;
    };
    let sel = if labels.is_empty() {
        metric.to_string()
    } else {
        let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        format!("{metric}{{{}}}", l.join(","))
    };
    let holds: Vec<bool> = v.iter().map(|x| *x > t).collect();
    let mut rule_labels = vec![("severity".to_string(), severity.to_string())];
    for (k, val) in labels {
        rule_labels.push((k.to_string(), val.to_string()));
    }
    out.push(Rule {
        name: name.into(),
        expr: format!("sum({sel}) > {t}"),
        for_min,
        labels: rule_labels,
        summary: format!("{what} above {t}"),
        description: format!(
            "{what} was at most {normal} on the normal part of the incident day and reached {peak} during the incident; the threshold {t} lies between."
        ),
        series: vec![(format!("{metric}{{{}}}", labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect::<Vec<_>>().join(",")), v)],
        holds,
        fires_at: None,
        silent_at: Vec::new(),
    });
    Some(t)
}

/// Derives the rules from the incident's series.
pub fn rules(inc: &Incident, inp: &Inputs) -> Rules {
    let (from, to) = inp.span;
    let len = (to - from).max(0) as usize;
    let spike = inp
        .spike()
        .map_or(len, |s| (s - from).clamp(0, len as Minute) as usize);
    let mut out = Vec::new();
    let mut missing = Vec::new();
    let minute = |ms: i64| ms.div_euclid(60_000) - from;

    // Charged at UPG, not posted to HO: count and the age of the oldest.
    let mut missing_in_ho: Vec<i64> = inp
        .breaks
        .iter()
        .filter(|(c, _)| c == "MISSING_IN_HO")
        .map(|(_, at)| minute(*at))
        .collect();
    missing_in_ho.sort_unstable();
    if inp.breaks.is_empty() {
        missing.push("charged but not posted, duplicate charges: no evidence/recon/breaks.csv (run the reconciliation)".into());
    } else {
        let count = overdue(&missing_in_ho, POSTING_GRACE_MIN, len);
        let limit = gauge_rule(
            "ChargedNotPostedToHO",
            "sidik_charged_not_posted",
            &[],
            "page",
            5,
            count.clone(),
            spike,
            5.0,
            "UPG charges not posted to HO after 15 minutes",
            &mut out,
            &mut missing,
        );
        // The oldest's age, counted while more than the usual background waits.
        if let Some(limit) = limit {
            let age: Vec<f64> = count
                .iter()
                .enumerate()
                .map(|(t, n)| {
                    if *n > 0.0 {
                        ((t as i64 - missing_in_ho[0]) * 60) as f64
                    } else {
                        0.0
                    }
                })
                .collect();
            let age_limit = 1800.0;
            let holds: Vec<bool> = age
                .iter()
                .zip(&count)
                .map(|(a, c)| *a > age_limit && *c > limit)
                .collect();
            out.push(Rule {
                name: "HOPostingLagHigh".into(),
                expr: format!(
                    "max(sidik_charged_not_posted_oldest_seconds) > {age_limit} and on() sum(sidik_charged_not_posted) > {limit}"
                ),
                for_min: 5,
                labels: vec![("severity".into(), "page".into())],
                summary: "the oldest charge not posted to HO is older than 30 minutes".into(),
                description: format!(
                    "Posting lag: the age of the oldest UPG charge still missing in HO, while more than {limit} charges wait (the normal day's background)."
                ),
                series: vec![
                    ("sidik_charged_not_posted_oldest_seconds".into(), age),
                    ("sidik_charged_not_posted".into(), count),
                ],
                holds,
                fires_at: None,
                silent_at: Vec::new(),
            });
        }
        let dups: Vec<i64> = inp
            .breaks
            .iter()
            .filter(|(c, _)| c == "DUPLICATE_CHARGE")
            .map(|(_, at)| minute(*at))
            .collect();
        let last15: Vec<f64> = (0..len as i64)
            .map(|t| dups.iter().filter(|m| **m > t - 15 && **m <= t).count() as f64)
            .collect();
        gauge_rule(
            "DuplicateCharges",
            "sidik_duplicate_charges_last_15m",
            &[],
            "page",
            0,
            last15,
            spike,
            2.0,
            "duplicate UPG charges in the last 15 minutes",
            &mut out,
            &mut missing,
        );
    }
    if inp.stuck.is_empty() {
        missing
            .push("orders stuck ACTIVE: no stuck orders in evidence/recon/stuck_orders.csv".into());
    } else {
        let mut ends: Vec<i64> = inp.stuck.iter().map(|t| minute(*t)).collect();
        ends.sort_unstable();
        let stuck = overdue(&ends, STUCK_AFTER_MIN, len);
        gauge_rule(
            "OrdersStuckActive",
            "sidik_orders_stuck_active",
            &[],
            "page",
            10,
            stuck,
            spike,
            5.0,
            "orders still ACTIVE 30 minutes after their trip ended",
            &mut out,
            &mut missing,
        );
    }

    // Database slots against usable slots.
    match inp.server(from, to) {
        Some((name, maxc, conns)) if maxc.is_finite() => {
            let reserved = inc
                .file
                .topology
                .postgres
                .as_ref()
                .and_then(|p| p.reserved_connections)
                .unwrap_or(crate::plan::DEFAULT_RESERVED) as f64;
            let conns = filled(&conns);
            let usable = maxc - reserved;
            let ratio: Vec<f64> = conns.iter().map(|c| c / usable).collect();
            let normal = max(&ratio[..spike.min(len)]).unwrap_or(0.0);
            let t = 0.9f64.max(((normal + 0.02) * 100.0).ceil() / 100.0);
            let holds: Vec<bool> = conns.iter().map(|c| c / (maxc - reserved) > t).collect();
            let maxes = vec![maxc; len];
            out.push(Rule {
                name: "DatabaseSlotsSaturated".into(),
                expr: format!(
                    "sum(db_connections{{service=\"{name}\"}}) / (max(db_max_connections{{service=\"{name}\"}}) - {reserved}) > {t}"
                ),
                for_min: 2,
                labels: vec![("severity".into(), "page".into())],
                summary: format!("PostgreSQL's usable connection slots more than {:.0} % taken", t * 100.0),
                description: format!(
                    "max_connections minus {reserved} reserved slots are what the services can use; at most {:.0} % were taken on the normal part of the incident day.",
                    normal * 100.0
                ),
                series: vec![
                    (format!("db_connections{{service=\"{name}\"}}"), conns),
                    (format!("db_max_connections{{service=\"{name}\"}}"), maxes),
                ],
                holds,
                fires_at: None,
                silent_at: Vec::new(),
            });
        }
        _ => missing.push("pool saturation: no db_connections / db_max_connections of the database server in the metrics".into()),
    }

    // Goroutines that keep growing, per service.
    if let Some(m) = &inp.ev.metrics {
        for svc in m.services("go_goroutines") {
            let v = m.dense("go_goroutines", Some(&svc), from, to, false);
            let v = filled(&v);
            let normal = max(&v[..spike.min(len)]).unwrap_or(0.0);
            let peak = max(&v[spike.min(len)..]).unwrap_or(0.0);
            let t = (normal * 3.0).floor();
            if peak <= t {
                continue;
            }
            let holds: Vec<bool> = v.iter().map(|x| *x > t).collect();
            out.push(Rule {
                name: "GoroutineGrowth".into(),
                expr: format!("sum(go_goroutines{{service=\"{svc}\"}}) > {t}"),
                for_min: 5,
                labels: vec![
                    ("severity".into(), "ticket".into()),
                    ("service".into(), svc.clone()),
                ],
                summary: format!("{svc} runs more than three times the normal day's goroutines"),
                description: format!(
                    "{svc} ran at most {normal} goroutines on the normal part of the incident day; goroutines that keep piling up are calls that never return."
                ),
                series: vec![(format!("go_goroutines{{service=\"{svc}\"}}"), v)],
                holds,
                fires_at: None,
                silent_at: Vec::new(),
            });
        }
    } else {
        missing.push("goroutine growth: no go_goroutines in the metrics".into());
    }

    // Calls rejected by an open breaker, from the logs.
    if let Some(l) = &inp.ev.logs {
        let mut v = vec![0.0; len];
        for s in l.services.keys() {
            for (i, x) in inp
                .class_lines(s, "circuit_breaker_open", from, to)
                .into_iter()
                .enumerate()
            {
                v[i] += x;
            }
        }
        gauge_rule(
            "BreakerOpen",
            "sidik_breaker_rejections_per_minute",
            &[],
            "page",
            1,
            v,
            spike,
            1.0,
            "calls rejected by an open circuit breaker per minute",
            &mut out,
            &mut missing,
        );
    }

    for r in &mut out {
        r.fires_at = first_firing(&r.holds, r.for_min, 0);
        // Silent on the normal day: at its end and at its hardest minute.
        let mut silent = vec![];
        if spike > 0 {
            silent.push(spike as i64 - 1);
            if let Some((i, _)) = crate::inputs::argmax(&r.series[0].1[..spike]) {
                silent.push((i as i64 + r.for_min).min(spike as i64 - 1));
            }
        }
        if let Some(e) = r.fires_at {
            if e > 0 {
                silent.push(e - 1);
            }
        }
        silent.sort_unstable();
        silent.dedup();
        r.silent_at = silent;
    }
    Rules {
        group: inc.file.incident.id.clone(),
        rules: out,
        start_ms: from * 60_000,
        missing,
    }
}

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The rule file (`alerts.yml`).
pub fn rules_yaml(r: &Rules) -> String {
    #[derive(Serialize)]
    struct File<'a> {
        groups: Vec<Group<'a>>,
    }
    #[derive(Serialize)]
    struct Group<'a> {
        name: String,
        rules: Vec<YRule<'a>>,
    }
    #[derive(Serialize)]
    struct YRule<'a> {
        alert: &'a str,
        expr: &'a str,
        #[serde(rename = "for")]
        for_: String,
        labels: std::collections::BTreeMap<&'a str, &'a str>,
        annotations: std::collections::BTreeMap<&'a str, &'a str>,
    }
    let f = File {
        groups: vec![Group {
            name: format!("sidik-{}", r.group),
            rules: r
                .rules
                .iter()
                .map(|x| YRule {
                    alert: &x.name,
                    expr: &x.expr,
                    for_: format!("{}m", x.for_min),
                    labels: x
                        .labels
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect(),
                    annotations: [
                        ("summary", x.summary.as_str()),
                        ("description", x.description.as_str()),
                    ]
                    .into_iter()
                    .collect(),
                })
                .collect(),
        }],
    };
    let mut out = String::from(
        "# Alerting rules from the incident's own series (sidik alerts); thresholds\n# and their reasons are in each description. Tests: alerts.test.yml.\n",
    );
    out.push_str(&serde_norway::to_string(&f).unwrap_or_default());
    out
}

/// Values in promtool's expanding notation, runs of one value as `v+0xN`.
fn values(v: &[f64]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i + 1;
        while j < v.len() && v[j] == v[i] {
            j += 1;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        if j - i == 1 {
            let _ = write!(out, "{}", v[i]);
        } else {
            let _ = write!(out, "{}+0x{}", v[i], j - i - 1);
        }
        i = j;
    }
    out
}

/// The unit tests (`alerts.test.yml`): one test per rule with its series,
/// firing at its minute and silent where the normal day is.
pub fn tests_yaml(r: &Rules, rule_file: &str) -> String {
    let mut out = format!(
        "# promtool test rules alerts.test.yml — series from the incident (minute 0 = {} UTC).\nrule_files:\n  - {}\nevaluation_interval: 1m\ntests:\n",
        chrono::DateTime::from_timestamp_millis(r.start_ms).map_or(String::new(), |t| t.format("%Y-%m-%d %H:%M").to_string()),
        q(rule_file)
    );
    for rule in &r.rules {
        let _ = writeln!(
            out,
            "  - name: {}\n    interval: 1m\n    input_series:",
            q(&rule.name)
        );
        for (sel, v) in &rule.series {
            let _ = writeln!(
                out,
                "      - series: {}\n        values: {}",
                q(sel),
                q(&values(v))
            );
        }
        out.push_str("    alert_rule_test:\n");
        for s in &rule.silent_at {
            let _ = writeln!(
                out,
                "      - eval_time: {s}m\n        alertname: {}\n        exp_alerts: []",
                q(&rule.name)
            );
        }
        if let Some(e) = rule.fires_at {
            let _ = writeln!(
                out,
                "      - eval_time: {e}m\n        alertname: {}\n        exp_alerts:\n          - exp_labels:",
                q(&rule.name)
            );
            for (k, v) in &rule.labels {
                let _ = writeln!(out, "              {k}: {}", q(v));
            }
            let _ = writeln!(
                out,
                "            exp_annotations:\n              summary: {}\n              description: {}",
                q(&rule.summary),
                q(&rule.description)
            );
        }
    }
    out
}

/// Where `promtool` is: `SIDIK_PROMETHEUS_BINDIR`, else the PATH.
pub fn promtool() -> Result<PathBuf, CapacityError> {
    if let Ok(d) = std::env::var("SIDIK_PROMETHEUS_BINDIR") {
        return Ok(Path::new(&d).join("promtool"));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("promtool"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            CapacityError::Promtool(
                "`promtool` not found: install Debian's prometheus package (apt-get install prometheus) or set SIDIK_PROMETHEUS_BINDIR".into(),
            )
        })
}

/// Runs `promtool check rules` and `promtool test rules` in `dir`; the
/// combined output, or an error that quotes it.
pub fn check(dir: &Path, rules: &str, tests: &str) -> Result<String, CapacityError> {
    let bin = promtool()?;
    let mut all = String::new();
    for args in [["check", "rules", rules], ["test", "rules", tests]] {
        let o = Command::new(&bin)
            .args(args)
            .current_dir(dir)
            .output()
            .map_err(|e| CapacityError::Promtool(format!("cannot run {}: {e}", bin.display())))?;
        let text = format!(
            "$ promtool {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        all.push_str(&text);
        if !o.status.success() {
            return Err(CapacityError::Promtool(format!(
                "promtool {} failed in {}:\n{text}",
                args.join(" "),
                dir.display()
            )));
        }
    }
    Ok(all)
}

/// `reports/alerts.md`.
pub fn to_markdown(inc: &Incident, r: &Rules, promtool: &Result<String, String>) -> String {
    let mut out = String::from("# Alert rules\n\nWritten to [evidence/prevention/alerts.yml](../evidence/prevention/alerts.yml) with unit tests in [alerts.test.yml](../evidence/prevention/alerts.test.yml), built from this incident's own series: each rule must fire during the incident at the minute shown and stay silent on the normal part of the day.\n\n| alert | expression | for | fires at | severity |\n|---|---|---|---|---|\n");
    for x in &r.rules {
        let _ = writeln!(
            out,
            "| {} | `{}` | {}m | {} | {} |",
            x.name,
            x.expr.replace('|', "\\|"),
            x.for_min,
            x.fires_at.map_or("does not fire".into(), |m| hhmm(
                inc.tz,
                r.start_ms + m * 60_000
            )),
            x.labels.first().map_or("", |l| l.1.as_str())
        );
    }
    out.push_str("\nThe `sidik_*` gauges are the reconciliation's numbers, which the stack should export (for example with a SQL exporter running `queries/missing_in_ho.sql` and `queries/stuck_orders.sql`); `db_*` and `go_goroutines` are the metric names of incident.toml's `[sources.metrics.queries]`. See docs/capacity.md.\n\n");
    match promtool {
        Ok(text) => {
            let _ = writeln!(out, "## promtool\n\n```\n{}```\n", text);
        }
        Err(e) => {
            let _ = writeln!(out, "## promtool\n\nNot checked: {e}\n");
        }
    }
    if !r.missing.is_empty() {
        out.push_str("## Not covered\n\n");
        for m in &r.missing {
            let _ = writeln!(out, "- {m}");
        }
    }
    out
}
