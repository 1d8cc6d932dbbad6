//! `reports/incident.md`: the postmortem in the Google SRE shape (summary,
//! impact, timeline, root cause, evidence, action items), written from
//! whatever the playbooks have collected so far, and saying plainly what is
//! not collected yet. The `report.incident` action writes it at the end of
//! every phase.

#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sidik_core::manifest::Manifest;
use sidik_core::Incident;
use sidik_playbook::{Journal, StepStatus};

use sidik_core::fmt::{count, idr};
use sidik_evidence::logs::Timeline;
use sidik_evidence::metrics::RuntimeFile;
use sidik_evidence::rca::RcaFile;
use sidik_evidence::recon::ReconFile;
use sidik_evidence::Files;
use sidik_playbook::{Action, Context, Outcome, Registry, StepResult};

/// Registers the action of this crate.
pub fn register(r: &mut Registry) {
    r.register(IncidentReport);
}

/// Writes `reports/incident.md`, the postmortem as far as the evidence goes.
struct IncidentReport;

impl Action for IncidentReport {
    fn name(&self) -> &'static str {
        "report.incident"
    }
    fn summary(&self) -> &'static str {
        "Write reports/incident.md: a postmortem (Google SRE shape) from the evidence collected so far"
    }
    fn always_run(&self) -> bool {
        true
    }
    fn run(&self, ctx: &Context) -> StepResult {
        let path = ctx.incident.dir.reports().join("incident.md");
        sidik_playbook::tools::write_file(&path, &incident_report(&ctx.incident))?;
        Ok(Outcome::reported(path, vec![], String::new()))
    }
}

/// The tracker's five hypotheses, in its order.
const HYPOTHESES: [&str; 5] = [
    "Database connection pool exhaustion",
    "Payment callback failure",
    "Circuit breaker activation",
    "Timeout configuration issue",
    "Race condition in the payment flow",
];

fn csv_rows(inc: &Incident, step: &str) -> Option<usize> {
    let path = inc.dir.evidence().join(format!("{step}.csv"));
    let rdr = csv::Reader::from_path(path).ok()?;
    Some(rdr.into_records().count())
}

/// Latest journal of every playbook that ran, by playbook id.
fn journals(inc: &Incident) -> Vec<Journal> {
    let mut ids: Vec<String> = std::fs::read_dir(inc.dir.runs())
        .map(|it| {
            it.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
                .filter_map(|n| n.rsplitn(3, '-').nth(2).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids.dedup();
    ids.iter()
        .filter_map(|id| {
            Journal::latest(&inc.dir.runs(), id)
                .ok()
                .flatten()
                .map(|(_, j)| j)
        })
        .collect()
}

/// (first minute, class, services) of every error class in `evidence/logs/timeline.csv`, by time.
fn first_errors(inc: &Incident) -> Vec<(chrono::DateTime<chrono::Utc>, String, String)> {
    let Ok(Some(timeline)) = Timeline::read(&Files::of(&inc.dir).timeline()) else {
        return Vec::new();
    };
    let mut found: BTreeMap<&str, (i64, Vec<&str>)> = BTreeMap::new();
    for r in &timeline.rows {
        for (class, n) in timeline.classes.iter().zip(&r.classes) {
            if *n <= 0.0 {
                continue;
            }
            let e = found.entry(class).or_insert_with(|| (r.bucket, Vec::new()));
            if r.bucket < e.0 {
                *e = (r.bucket, Vec::new());
            }
            if r.bucket == e.0 && !e.1.contains(&r.service.as_str()) {
                e.1.push(&r.service);
            }
        }
    }
    let mut out: Vec<_> = found
        .into_iter()
        .filter_map(|(class, (bucket, services))| {
            let t = chrono::DateTime::from_timestamp_millis(bucket)?;
            Some((t, class.to_string(), services.join(", ")))
        })
        .collect();
    out.sort();
    out
}

/// The report's markdown.
pub fn incident_report(inc: &Incident) -> String {
    let f = &inc.file.incident;
    let mut md = format!("# Incident report: {}\n\n", f.id);
    if let Some(t) = &f.title {
        let _ = writeln!(md, "{t}\n");
    }
    let window = inc
        .window
        .map(|w| w.display_in(inc.tz))
        .unwrap_or_else(|| "not set in incident.toml".into());
    let _ = writeln!(md, "- Window: {window}\n- Timezone: {}", inc.tz);
    let runs = journals(inc);

    md.push_str("\n## Summary\n\n");
    let _ = writeln!(
        md,
        "Written by sidik from the evidence collected so far ({} playbook run(s)). Sections marked *not collected yet* name the step that would fill them.",
        runs.len()
    );

    md.push_str("\n## Impact\n\n");
    let files = Files::of(&inc.dir);
    // A file this sidik cannot read is left out like a missing one; `sidik
    // check` and the steps that read it say why.
    let recon: Option<ReconFile> = sidik_evidence::read_json(&files.recon()).ok();
    match recon {
        Some(j) => {
            let cat = |c: &str| j.by_category.get(c).copied().unwrap_or_default();
            let _ = writeln!(
                md,
                "- Orders stuck in ACTIVE (order gantung): **{}**",
                count(j.stuck_orders)
            );
            let _ = writeln!(
                md,
                "- Charged at UPG but not posted to HO: **{}** payments, **{}**",
                count(cat("MISSING_IN_HO").count),
                idr(cat("MISSING_IN_HO").amount)
            );
            for (c, label) in [
                ("DUPLICATE_CHARGE", "Charged twice"),
                ("DUPLICATE_POSTING", "Booked twice at HO"),
                ("AMOUNT_UNDER", "Posted less than charged"),
                ("AMOUNT_OVER", "Posted more than charged"),
                ("REFUND_NOT_POSTED", "Refunds not posted"),
                ("MISSING_AT_UPG", "Posted without a charge"),
            ] {
                if cat(c).count > 0 {
                    let _ = writeln!(
                        md,
                        "- {label} ({c}): {}, {}",
                        count(cat(c).count),
                        idr(cat(c).amount)
                    );
                }
            }
            let report = ["financial-impact", "missing-in-ho", "reconciliation-completed"]
                .into_iter()
                .find(|s| inc.dir.reports().join(format!("{s}.md")).exists())
                .unwrap_or("financial-impact");
            let _ = writeln!(
                md,
                "- Source: [reconciliation]({report}.md), breaks in [breaks.csv](../evidence/recon/breaks.csv), re-push batch in [repush.csv](../evidence/recon/repush.csv)"
            );
        }
        None => md.push_str("- *Not collected yet*: the `financial-impact` step (phase 1) reconciles the payments, HO postings and orders exports.\n"),
    }
    if let Some(n) = csv_rows(inc, "stuck-orders") {
        let _ = writeln!(
            md,
            "- Stuck orders listed: {} ([list](stuck-orders.md))",
            count(n as i64)
        );
    }

    md.push_str("\n## Timeline\n\n");
    // Window, known events and the first minute of each error class, in time order.
    let mut items: Vec<(chrono::DateTime<chrono::Utc>, String)> = Vec::new();
    if let Some(w) = inc.window {
        items.push((w.start, "investigation window starts".into()));
        items.push((w.end, "investigation window ends".into()));
    }
    for e in &f.events {
        if let Ok(t) = sidik_core::time::parse_time(e.at.get_ref(), inc.tz) {
            items.push((
                t,
                format!("{} ({})", e.label, e.kind.as_deref().unwrap_or("event")),
            ));
        }
    }
    let firsts = first_errors(inc);
    for (t, class, services) in &firsts {
        items.push((
            *t,
            format!("first `{class}` records ({services}); see [logs](logs.md)"),
        ));
    }
    // Goroutine growth from the Go runtime step.
    if let Ok(rt) = sidik_evidence::read_json::<RuntimeFile>(&files.runtime()) {
        for l in &rt.leaks {
            items.push((
                l.start.with_timezone(&chrono::Utc),
                format!("goroutines start piling up in {}, beyond what its load explains; see [Go runtime](go-runtime.md)", l.service),
            ));
        }
    }
    let mut phases_known = false;
    if let Ok((t, Some(from))) = sidik_chart::load::phase_times(inc, &Default::default()) {
        phases_known = true;
        for (at, what) in [
            (t.spike_start, "traffic spike starts"),
            (t.error_onset, "errors begin"),
            (t.degradation_start, "degradation starts"),
            (t.recovery, "recovered"),
        ] {
            if let Some(at) = at {
                items.push((at, format!("{what} (from {from})")));
            }
        }
    }
    items.sort_by_key(|(t, _)| *t);
    for (t, text) in items {
        let _ = writeln!(
            md,
            "- {} — {text}",
            sidik_core::time::format_local(t, inc.tz)
        );
    }
    if firsts.is_empty() {
        md.push_str("- *Not collected yet*: first errors per class (phase 1: the `logs` step).\n");
    }
    if !phases_known {
        md.push_str("- *Not collected yet*: spike start and start of degradation (root-cause scoring, or `[incident.phases]` in incident.toml).\n");
    }
    let chart = inc.dir.charts().join("timeline.png");
    if chart.is_file() {
        md.push_str("\n![timeline](../charts/timeline.png)\n");
    }

    md.push_str("\n## Root cause and contributing factors\n\n");
    root_cause(&mut md, inc);

    md.push_str("\n## Evidence\n\n");
    match Manifest::load(&inc.dir) {
        Ok(m) if !m.artifacts.is_empty() => {
            md.push_str("| artifact | step | size | sha256 |\n|---|---|---:|---|\n");
            for a in m
                .artifacts
                .iter()
                .filter(|a| a.path != "reports/incident.md")
            {
                let _ = writeln!(
                    md,
                    "| [{}](../{}) | {} | {} | `{}` |",
                    a.path,
                    a.path,
                    a.step,
                    count(a.bytes as i64),
                    &a.sha256[..12]
                );
            }
        }
        _ => md.push_str("*Nothing collected yet.*\n"),
    }

    md.push_str("\n## Steps and action items\n\n");
    if runs.is_empty() {
        md.push_str("*No playbook has run yet*: `sidik run --incident DIR`.\n");
    }
    let mut open = Vec::new();
    for j in &runs {
        let _ = writeln!(md, "### {}\n", j.playbook.title);
        for s in &j.steps {
            let (mark, note) = match s.status {
                StepStatus::Succeeded => ("done", s.result.clone().unwrap_or_default()),
                StepStatus::Failed => ("FAILED", s.reason.clone().unwrap_or_default()),
                StepStatus::Skipped => ("skipped", s.reason.clone().unwrap_or_default()),
                StepStatus::Manual => ("manual", String::new()),
                StepStatus::Pending | StepStatus::Running => ("not run", String::new()),
            };
            let name = s.task.clone().unwrap_or_else(|| s.id.clone());
            let link = s
                .report
                .as_ref()
                .filter(|r| r.as_str() != "reports/incident.md")
                .map(|r| format!(" ([report](../{r}))"))
                .unwrap_or_default();
            let note = if note.is_empty() {
                String::new()
            } else {
                format!(": {note}")
            };
            let _ = writeln!(md, "- {mark} — {name}{link}{note}");
            if s.status == StepStatus::Manual {
                open.push((name, s.reason.clone().unwrap_or_default()));
            }
        }
        md.push('\n');
    }
    if !open.is_empty() {
        md.push_str("### Action items (manual steps)\n\n");
        for (name, how) in open {
            let _ = writeln!(md, "- [ ] {name}: {}", how.replace('\n', " "));
        }
    }
    md
}

/// The root cause section from `evidence/rca.json`, or the hypotheses still open.
fn root_cause(md: &mut String, inc: &Incident) {
    let rca: Option<RcaFile> = sidik_evidence::read_json(&Files::of(&inc.dir).rca()).ok();
    let Some(rca) = rca else {
        md.push_str("*Not determined yet* (phase 2 and 3). Hypotheses under investigation:\n\n");
        for (i, h) in HYPOTHESES.iter().enumerate() {
            let _ = writeln!(md, "{}. {h}: not evaluated", i + 1);
        }
        return;
    };
    let primary = rca.primary.as_deref();
    match primary.and_then(|p| rca.hypotheses.iter().find(|h| h.id == p)) {
        Some(h) => {
            let _ = writeln!(
                md,
                "**Primary root cause: hypothesis {}, {}** ({}). Scored by `sidik rca`; the evidence is in [reports/rca.md](rca.md).\n",
                h.number,
                h.title,
                rca.primary_why.as_deref().unwrap_or("")
            );
            for c in h.checks.iter().filter(|c| c.passed() && c.role == "cause") {
                let _ = writeln!(md, "- {}: {}", c.says, c.detail);
            }
        }
        None => md.push_str(
            "*No hypothesis is supported by the evidence collected* (see [reports/rca.md](rca.md) for what is missing).\n",
        ),
    }
    if !rca.contributing.is_empty() {
        md.push_str("\nContributing factors, in the order they first occurred:\n\n");
        for f in &rca.contributing {
            let at =
                f.at.map(|t| {
                    format!(
                        "{} — ",
                        sidik_core::time::format_local(t.with_timezone(&chrono::Utc), inc.tz)
                    )
                })
                .unwrap_or_default();
            let _ = writeln!(md, "- {at}{} ({}): {}", f.says, f.hypothesis, f.detail);
        }
    }
    md.push_str("\n| # | hypothesis | verdict | score |\n|---|---|---|---:|\n");
    for h in &rca.hypotheses {
        // A score is written as JSON writes it (`100.0`, `33.3`).
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            h.number,
            h.title,
            h.verdict,
            serde_json::Value::from(h.score)
        );
    }
}
