//! `reports/rca.md` for people and `evidence/rca.json` for the other steps
//! (the timeline chart reads its phases, the incident report its verdict).

use std::fmt::Write as _;
use std::path::PathBuf;

use chrono_tz::Tz;
use sidik_core::Incident;
use sidik_evidence::rca as ev;
use sidik_evidence::time::stamp;

use crate::phases::Phase;
use crate::score::{Analysis, Outcome, Verdict};
use crate::RcaError;

pub use crate::clock::{hhmm, hhmmss, rfc3339};

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Supported => "supported",
        Verdict::Contradicted => "contradicted",
        Verdict::Inconclusive => "inconclusive",
    }
}

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "holds",
        Outcome::Fail => "does not hold",
        Outcome::Missing => "missing",
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Everything dated, in time order: the phases, each class's first line and
/// the first occurrence of every other check that holds: (ms, what).
pub fn causal_order(a: &Analysis) -> Vec<(i64, String)> {
    let mut v: Vec<(i64, String)> = Vec::new();
    for (name, p) in [
        ("traffic spike starts", &a.phases.spike_start),
        ("degradation starts", &a.phases.degradation_start),
        ("recovery", &a.phases.recovery),
    ] {
        if let Some(p) = p {
            v.push((p.at, format!("{name} ({})", p.series)));
        }
    }
    for c in &a.phases.classes {
        let svcs: Vec<&str> = c.services.iter().map(|(s, _)| s.as_str()).collect();
        v.push((
            c.start,
            format!("first {} line ({})", c.class, svcs.join(", ")),
        ));
    }
    for h in &a.hypotheses {
        for c in &h.checks {
            if c.outcome != Outcome::Pass || c.kind == crate::hypotheses::Kind::Errors {
                continue;
            }
            if let Some(t) = c.at {
                let what = format!("{} ({})", c.says, h.title);
                if !v.iter().any(|(_, w)| *w == what) {
                    v.push((t, what));
                }
            }
        }
    }
    v.sort_by(|x, y| x.0.cmp(&y.0).then(x.1.cmp(&y.1)));
    v
}

/// A serde enum's name in the evidence (`supported`, `pass`, `cause` …).
fn word<T: serde::Serialize>(t: &T) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The analysis as `rca.json` ([`sidik_evidence::rca::RcaFile`]), times in
/// the incident's timezone.
pub fn to_json(a: &Analysis, tz: Tz) -> ev::RcaFile {
    let at = |t: i64| stamp(t, tz);
    let opt = |t: Option<i64>| t.map(at);
    let phase = |p: &Option<Phase>| {
        p.as_ref().map(|p| ev::Phase {
            at: at(p.at),
            method: p.method.clone(),
            series: p.series.clone(),
        })
    };
    ev::RcaFile {
        version: sidik_evidence::VERSION,
        primary: a.primary.clone(),
        primary_why: a.primary_why.clone(),
        phases: ev::Phases {
            spike_start: phase(&a.phases.spike_start),
            error_onset: phase(&a.phases.error_onset),
            degradation_start: phase(&a.phases.degradation_start),
            recovery: phase(&a.phases.recovery),
            not_found: a.phases.not_found.clone(),
        },
        causal_order: causal_order(a)
            .into_iter()
            .map(|(t, what)| ev::Event { at: at(t), what })
            .collect(),
        first_occurrences: a
            .phases
            .classes
            .iter()
            .map(|c| ev::Occurrence {
                class: c.class.clone(),
                first: at(c.start),
                significant: at(c.alarm),
                last: at(c.last),
                lines: c.events,
                background: c.expected,
                services: c.services.clone(),
                sample: c.sample.as_ref().map(|(w, m)| ev::Sample {
                    at: w.clone(),
                    message: m.clone(),
                }),
            })
            .collect(),
        hypotheses: a
            .hypotheses
            .iter()
            .map(|h| ev::Hypothesis {
                id: h.id.clone(),
                number: h.number,
                title: h.title.clone(),
                verdict: word(&h.verdict),
                score: (h.score * 10.0).round() / 10.0,
                significant_at: opt(h.significant_at),
                first_at: opt(h.first_at),
                why: h.why.clone(),
                missing: h.missing.clone(),
                checks: h
                    .checks
                    .iter()
                    .map(|c| ev::Check {
                        id: c.id.clone(),
                        says: c.says.clone(),
                        role: word(&c.role),
                        kind: word(&c.kind),
                        weight: c.weight,
                        outcome: word(&c.outcome),
                        detail: c.detail.clone(),
                        at: opt(c.at),
                        pointers: c.pointers.clone(),
                    })
                    .collect(),
            })
            .collect(),
        contributing: a
            .contributing
            .iter()
            .map(|f| ev::Factor {
                id: f.id.clone(),
                hypothesis: f.hypothesis.clone(),
                says: f.says.clone(),
                detail: f.detail.clone(),
                at: opt(f.at),
            })
            .collect(),
        missing: a.missing.clone(),
        notes: a.notes.clone(),
        hypothesis_sources: a.hypothesis_sources.clone(),
    }
}

/// The report for people.
pub fn to_markdown(a: &Analysis, tz: Tz) -> String {
    let mut md = String::from("# Root cause analysis\n\n");
    let title = |id: &str| {
        a.hypotheses
            .iter()
            .find(|h| h.id == id)
            .map(|h| format!("Hypothesis {}: {}", h.number, h.title))
            .unwrap_or_default()
    };
    md.push_str("## Primary root cause\n\n");
    match (&a.primary, &a.primary_why) {
        (Some(p), Some(why)) => {
            let h = a.hypotheses.iter().find(|h| &h.id == p);
            let _ = writeln!(md, "**{}** — {why}.\n", title(p));
            if let Some(h) = h {
                let _ = writeln!(md, "{}\n", h.explains);
                for c in h.checks.iter().filter(|c| c.outcome == Outcome::Pass) {
                    let _ = writeln!(md, "- {}: {}", c.says, c.detail);
                }
                md.push('\n');
            }
        }
        _ => md.push_str(
            "No hypothesis is supported by the evidence collected. See what is missing below, collect it, and run `sidik rca` again.\n\n",
        ),
    }
    md.push_str("## Contributing factors\n\n");
    if a.contributing.is_empty() {
        md.push_str("None found beyond the primary cause's own evidence.\n\n");
    }
    for f in &a.contributing {
        let _ = writeln!(
            md,
            "- {}{} ({}): {}",
            f.at.map_or(String::new(), |t| format!("{} ", hhmm(tz, t))),
            f.says,
            f.hypothesis,
            f.detail
        );
    }
    if !a.contributing.is_empty() {
        md.push('\n');
    }
    md.push_str("## Phases\n\n| phase | at | series | how |\n|---|---|---|---|\n");
    for (name, p) in [
        ("traffic spike", &a.phases.spike_start),
        ("error onset", &a.phases.error_onset),
        ("degradation", &a.phases.degradation_start),
        ("recovery", &a.phases.recovery),
    ] {
        match p {
            Some(p) => {
                let _ = writeln!(
                    md,
                    "| {name} | {} | {} | {} |",
                    hhmmss(tz, p.at),
                    cell(&p.series),
                    cell(&p.method)
                );
            }
            None => {
                let _ = writeln!(md, "| {name} | not found | | |");
            }
        }
    }
    for n in &a.phases.not_found {
        let _ = writeln!(md, "\n- {n}");
    }
    md.push_str(
        "\n## Causal order\n\nWhat happened first, from every dated piece of evidence:\n\n",
    );
    for (t, w) in causal_order(a) {
        let _ = writeln!(md, "- {} {w}", hhmmss(tz, t));
    }
    md.push_str("\n## Timeline of first occurrences\n\n| first line | significant | class | lines | background | services | first line at |\n|---|---|---|---:|---:|---|---|\n");
    for c in &a.phases.classes {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.1} | {} | {} |",
            hhmmss(tz, c.start),
            hhmm(tz, c.alarm),
            c.class,
            sidik_core::fmt::count(c.events as i64),
            c.expected,
            cell(
                &c.services
                    .iter()
                    .map(|(s, n)| format!("{s} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            c.sample
                .as_ref()
                .map_or(String::new(), |(w, m)| cell(&format!("{w} `{m}`")))
        );
    }
    if a.phases.classes.is_empty() {
        md.push_str("| | | no error class rose above its background | | | | |\n");
    }
    md.push_str("\n## Hypotheses\n\n| # | hypothesis | verdict | score | significant from | why |\n|---|---|---|---:|---|---|\n");
    for h in &a.hypotheses {
        let _ = writeln!(
            md,
            "| {} | {} | **{}** | {:.0} | {} | {} |",
            h.number,
            cell(&h.title),
            verdict_word(h.verdict),
            h.score,
            h.significant_at.map_or(String::new(), |t| hhmm(tz, t)),
            cell(&h.why)
        );
    }
    md.push_str("\n## Evidence\n");
    for h in &a.hypotheses {
        let _ = writeln!(
            md,
            "\n### {}. {} — {}\n\n| check | role | weight | result | numbers | where |\n|---|---|---:|---|---|---|",
            h.number,
            h.title,
            verdict_word(h.verdict)
        );
        for c in &h.checks {
            let _ = writeln!(
                md,
                "| {} | {:?} | {} | {} | {} | {} |",
                cell(&c.says),
                c.role,
                c.weight,
                outcome_word(c.outcome),
                cell(&c.detail),
                cell(&c.pointers.join("; "))
            );
        }
        if !h.missing.is_empty() {
            let _ = writeln!(md, "\nmissing: {}", h.missing.join("; "));
        }
    }
    if !a.missing.is_empty() || !a.notes.is_empty() {
        md.push_str("\n## What was not available\n\n");
        for m in &a.missing {
            let _ = writeln!(md, "- missing: {m}");
        }
        for n in &a.notes {
            let _ = writeln!(md, "- not used: {n}");
        }
    }
    let _ = writeln!(
        md,
        "\nHypotheses from: {}. Scores weigh only checks whose evidence exists; a check whose evidence is missing never counts against a hypothesis.",
        a.hypothesis_sources.join(", ")
    );
    md
}

/// Writes `reports/rca.md` and `evidence/rca.json`; returns their paths.
pub fn write(inc: &Incident, a: &Analysis) -> Result<(PathBuf, PathBuf), RcaError> {
    let md_path = inc.dir.reports().join("rca.md");
    let json_path = sidik_evidence::Files::of(&inc.dir).rca();
    for p in [&md_path, &json_path] {
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(|e| sidik_core::Error::io("create folder", d, e))?;
        }
    }
    sidik_evidence::write_json(&json_path, &to_json(a, inc.tz))?;
    sidik_core::folder::write_atomic(&md_path, to_markdown(a, inc.tz).as_bytes())?;
    Ok((md_path, json_path))
}
