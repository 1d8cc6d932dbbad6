//! The playbook actions of phase 5: `capacity.plan`, `capacity.review`
//! (one area per step: pools, timeouts, breakers, autoscaling),
//! `capacity.alerts` and `capacity.checklist`. None of them connects to
//! anything: they read evidence and incident.toml and write reports.

use std::fmt::Write as _;
use std::path::PathBuf;

use sidik_core::Incident;
use sidik_playbook::{Action, Context, Outcome, Registry, StepResult};

use crate::inputs::Inputs;
use crate::review::{Review, Verdict};
use crate::{alerts, plan, review};

/// Registers the actions of this crate.
pub fn register(r: &mut Registry) {
    r.register(CapacityPlan);
    r.register(CapacityReview);
    r.register(CapacityAlerts);
    r.register(CapacityChecklist);
}

/// `evidence/prevention/`.
pub fn dir(inc: &Incident) -> PathBuf {
    inc.dir.evidence().join("prevention")
}

fn evidence_inputs(ctx: &Context) -> Vec<PathBuf> {
    let f = sidik_evidence::Files::of(&ctx.incident.dir);
    let mut v = vec![
        f.metrics(),
        f.timeline(),
        f.journeys(),
        f.rca(),
        f.recon_dir().join("breaks.csv"),
        f.stuck_orders(),
        ctx.incident.dir.config_path(),
    ];
    v.retain(|p| p.exists());
    v
}

fn write(path: &std::path::Path, text: &str) -> Result<(), String> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Runs the plan and writes `reports/capacity.md` and `evidence/prevention/capacity.json`.
pub fn run_plan(
    inc: &Incident,
    report: &std::path::Path,
) -> Result<(plan::Plan, Vec<PathBuf>), String> {
    let inp = Inputs::load(inc).map_err(|e| e.to_string())?;
    let p = plan::plan(inc, &inp);
    write(report, &plan::to_markdown(inc, &p))?;
    let json = dir(inc).join("capacity.json");
    write(
        &json,
        &serde_json::to_string_pretty(&p).map_err(|e| e.to_string())?,
    )?;
    Ok((p, vec![json]))
}

/// Runs the review and writes `evidence/prevention/review.json`.
pub fn run_review(inc: &Incident) -> Result<(Review, PathBuf), String> {
    let inp = Inputs::load(inc).map_err(|e| e.to_string())?;
    let r = review::review(inc, &inp);
    let json = dir(inc).join("review.json");
    write(
        &json,
        &serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?,
    )?;
    Ok((r, json))
}

/// What `run_alerts` made: the rules, the files written, and promtool's
/// output (`Err` with the reason when promtool is not installed).
pub type AlertsRun = (alerts::Rules, Vec<PathBuf>, Result<String, String>);

/// Writes the rules, their tests and `reports/alerts.md`, and runs promtool
/// when it is installed; `Err` when promtool rejects them.
pub fn run_alerts(inc: &Incident, report: &std::path::Path) -> Result<AlertsRun, String> {
    let inp = Inputs::load(inc).map_err(|e| e.to_string())?;
    let r = alerts::rules(inc, &inp);
    let d = dir(inc);
    let rules = d.join("alerts.yml");
    let tests = d.join("alerts.test.yml");
    write(&rules, &alerts::rules_yaml(&r))?;
    write(&tests, &alerts::tests_yaml(&r, "alerts.yml"))?;
    let checked = match alerts::check(&d, "alerts.yml", "alerts.test.yml") {
        Ok(t) => Ok(t),
        Err(crate::CapacityError::Promtool(m)) if m.contains("not found") => Err(m),
        Err(e) => return Err(e.to_string()),
    };
    write(report, &alerts::to_markdown(inc, &r, &checked))?;
    Ok((r, vec![rules, tests], checked))
}

/// The capacity plan.
struct CapacityPlan;

impl Action for CapacityPlan {
    fn name(&self) -> &'static str {
        "capacity.plan"
    }
    fn summary(&self) -> &'static str {
        "The spike's peak rates scaled to the target users, concurrency by Little's law, pools by Erlang C against PostgreSQL's usable slots, PgBouncer, USL and headroom (reports/capacity.md)"
    }
    fn report_file(&self) -> Option<&'static str> {
        Some("capacity.md")
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        evidence_inputs(ctx)
    }
    fn run(&self, ctx: &Context) -> StepResult {
        let report = ctx.report_path();
        let (p, outputs) = run_plan(&ctx.incident, &report)?;
        if p.services.is_empty() {
            return Ok(Outcome::Skipped(
                "no request rate of any service in the evidence: run phases 1–2 first (metrics import or logs ingest)".into(),
            ));
        }
        let result = match &p.server {
            Some(s) => format!(
                "{} users (× {:.2}): pools need {} connections at the target against {} usable slots (now {}, {} at most replicas)",
                sidik_core::fmt::count(p.target_users),
                p.scale,
                p.sum_needed,
                s.usable,
                p.sum_now,
                p.sum_max
            ),
            None => format!(
                "{} users (× {:.2}); the database's max_connections is unknown",
                sidik_core::fmt::count(p.target_users),
                p.scale
            ),
        };
        Ok(Outcome::reported(report, outputs, result))
    }
}

const AREAS: [(&str, &str, &str); 4] = [
    (
        "pools",
        "pool-optimization",
        "Database pools and statement timeouts",
    ),
    ("timeouts", "timeout-review", "HTTP timeouts and retries"),
    ("breakers", "breaker-tuning", "Circuit breakers"),
    ("autoscaling", "autoscaling", "Autoscaling"),
];

/// One area of the configuration review.
struct CapacityReview;

impl Action for CapacityReview {
    fn name(&self) -> &'static str {
        "capacity.review"
    }
    fn summary(&self) -> &'static str {
        "Reviews one area of incident.toml's [topology] (area = pools, timeouts, breakers or autoscaling) against the incident: verdict, evidence and a recommended value per setting (reports/STEP.md)"
    }
    fn params(&self) -> &'static [&'static str] {
        &["area"]
    }
    fn required(&self) -> &'static [&'static str] {
        &["area"]
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        evidence_inputs(ctx)
    }
    fn run(&self, ctx: &Context) -> StepResult {
        let area = ctx.str_param("area").unwrap_or_default();
        let Some(&(_, step, title)) = AREAS.iter().find(|(a, _, _)| *a == area) else {
            let names: Vec<&str> = AREAS.iter().map(|a| a.0).collect();
            return Err(format!(
                "unknown review area \"{area}\"; use one of: {}",
                names.join(", ")
            ));
        };
        if ctx.incident.file.topology.service.is_empty() {
            return Ok(Outcome::Skipped(
                "incident.toml has no [[topology.service]]: add the services' pools, timeouts, breakers and autoscaling (docs/capacity.md), then run again".into(),
            ));
        }
        let (r, json) = run_review(&ctx.incident)?;
        let list: Vec<_> = r.of_step(step).collect();
        if list.is_empty() || list.iter().all(|f| f.verdict == Verdict::Unknown) {
            return Ok(Outcome::Skipped(format!(
                "nothing to judge: [[topology.service]] gives none of the {} settings, or the evidence to judge them is missing{}",
                title.to_lowercase(),
                if r.missing.is_empty() { String::new() } else { format!(" ({})", r.missing.join("; ")) }
            )));
        }
        let report = ctx.write_report(&review::to_markdown(&r, Some(step), title))?;
        let fails = list.iter().filter(|f| f.verdict == Verdict::Fail).count();
        let warns = list.iter().filter(|f| f.verdict == Verdict::Warn).count();
        let first = &list[0];
        let n = list.len();
        let reviewed = format!("{n} setting{} reviewed", if n == 1 { "" } else { "s" });
        let result = if fails + warns == 0 {
            format!("{reviewed}: all hold on the evidence")
        } else {
            format!(
                "{reviewed}: {fails} failed, {warns} to change; first: {} → {}",
                first.setting,
                first.recommended.split(';').next().unwrap_or("")
            )
        };
        Ok(Outcome::reported(report, vec![json], result))
    }
}

/// Alert rules with promtool tests.
struct CapacityAlerts;

impl Action for CapacityAlerts {
    fn name(&self) -> &'static str {
        "capacity.alerts"
    }
    fn summary(&self) -> &'static str {
        "Prometheus alert rules for this incident's failure modes with promtool unit tests from its own series (evidence/prevention/alerts.yml, reports/alerts.md)"
    }
    fn report_file(&self) -> Option<&'static str> {
        Some("alerts.md")
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        evidence_inputs(ctx)
    }
    fn run(&self, ctx: &Context) -> StepResult {
        let report = ctx.report_path();
        let (r, outputs, checked) = run_alerts(&ctx.incident, &report)?;
        if r.rules.is_empty() {
            return Ok(Outcome::Skipped(format!(
                "no failure mode of this incident shows in the evidence: {}",
                r.missing.join("; ")
            )));
        }
        let firing = r.rules.iter().filter(|x| x.fires_at.is_some()).count();
        let result = format!(
            "{} rules, {firing} firing during the incident; {}",
            r.rules.len(),
            match checked {
                Ok(_) => "promtool check and test passed".to_string(),
                Err(m) => format!("not checked ({m})"),
            }
        );
        Ok(Outcome::reported(report, outputs, result))
    }
}

/// The checklist of recommended changes for "Preventive measures implemented".
struct CapacityChecklist;

impl Action for CapacityChecklist {
    fn name(&self) -> &'static str {
        "capacity.checklist"
    }
    fn summary(&self) -> &'static str {
        "The recommended changes of the review as a checklist for the person who deploys them (reports/prevention-checklist.md); ticks nothing"
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        evidence_inputs(ctx)
    }
    fn run(&self, ctx: &Context) -> StepResult {
        if ctx.incident.file.topology.service.is_empty() {
            return Ok(Outcome::Skipped(
                "incident.toml has no [[topology.service]]: there is nothing to recommend yet"
                    .into(),
            ));
        }
        let (r, json) = run_review(&ctx.incident)?;
        let mut md = String::from("# Preventive measures: checklist\n\nThe changes the configuration review recommends, the most important first. \"Preventive measures implemented\" in the tracker is ticked by the person who deployed them, not by sidik.\n\n");
        let todo: Vec<_> = r
            .findings
            .iter()
            .filter(|f| matches!(f.verdict, Verdict::Fail | Verdict::Warn))
            .collect();
        for f in &todo {
            let _ = writeln!(
                md,
                "- [ ] `{}`: {} → {} ({})",
                f.setting,
                f.current,
                f.recommended,
                f.area.step()
            );
        }
        md.push_str("- [ ] Load the alert rules of evidence/prevention/alerts.yml into Prometheus (reports/alerts.md)\n");
        let report = ctx.write_report(&md)?;
        Ok(Outcome::reported(
            report,
            vec![json],
            format!("{} changes to deploy", todo.len()),
        ))
    }
}
