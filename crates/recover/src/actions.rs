//! The playbook actions of phase 4: `recover.plan`, `recover.apply` (a
//! dangerous step: it runs only when approved), `recover.process` (HO's
//! re-push batch and the finance process), `recover.notify` (the customer
//! list) and `recover.verify`.

use std::path::PathBuf;

use sidik_core::fmt::{count, idr};
use sidik_playbook::{Action, Context, OrFail, Outcome, Registry, StepResult};

/// Registers the actions of this crate.
pub fn register(r: &mut Registry) {
    r.register(RecoverPlan);
    r.register(RecoverApply);
    r.register(RecoverProcess);
    r.register(RecoverNotify);
    r.register(RecoverVerify);
}

fn recon_inputs(ctx: &Context) -> Vec<PathBuf> {
    let r = ctx.incident.file.sources.recon.clone().unwrap_or_default();
    let mut v: Vec<PathBuf> = [r.orders, r.payments, r.postings]
        .into_iter()
        .flatten()
        .map(|f| ctx.incident.dir.resolve(f))
        .collect();
    v.push(ctx.incident.dir.config_path());
    v.retain(|p| p.exists());
    v
}

/// HO's re-push batch and the reconciliation process for finance.
struct RecoverProcess;

impl Action for RecoverProcess {
    fn name(&self) -> &'static str {
        "recover.process"
    }
    fn summary(&self) -> &'static str {
        "The re-push batch in HO's import format (evidence/recovery/ho-import.csv), HO's expected totals after it, and the steps, owners and checks for finance (reports/reconciliation-process.md); changes nothing"
    }
    fn report_file(&self) -> Option<&'static str> {
        Some("reconciliation-process.md")
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        let mut v = recon_inputs(ctx);
        v.push(ctx.incident.dir.evidence().join("recovery/plan.csv"));
        v
    }
    fn run(&self, ctx: &Context) -> StepResult {
        let p = crate::process::run(&ctx.incident).or_fail()?;
        if p.lines.is_empty() && !p.refunds_due {
            return Ok(Outcome::Skipped(
                "HO misses no charge or refund and no refund is due at UPG: there is nothing to reconcile".into(),
            ));
        }
        let net: i64 = p.lines.iter().map(|l| l.amount).sum();
        let result = format!(
            "HO batch of {} lines, net {}; expected HO total after it {}",
            count(p.lines.len() as u64),
            idr(net),
            idr(p.totals.values().map(|t| t.2).sum())
        );
        Ok(Outcome::reported(p.report, vec![p.batch], result))
    }
}

/// The customer list and messages.
struct RecoverNotify;

impl Action for RecoverNotify {
    fn name(&self) -> &'static str {
        "recover.notify"
    }
    fn summary(&self) -> &'static str {
        "The affected customers and corporate accounts grouped by what happened to them, with messages in Bahasa Indonesia and English (evidence/recovery/customers.csv, reports/communication.md); nothing is sent"
    }
    fn report_file(&self) -> Option<&'static str> {
        Some("communication.md")
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        let mut v = recon_inputs(ctx);
        v.push(ctx.incident.dir.evidence().join("recovery/plan.csv"));
        if let Some(t) = &ctx.incident.file.recover.notify.templates {
            v.push(ctx.incident.dir.resolve(t));
        }
        v
    }
    fn run(&self, ctx: &Context) -> StepResult {
        let n = crate::notify::run(&ctx.incident).or_fail()?;
        if n.customers == 0 {
            return Ok(Outcome::Skipped(format!(
                "no customer was charged wrongly: nobody to tell (the list is empty; {})",
                ctx.incident.dir.relative(&n.report)
            )));
        }
        let result = format!(
            "{} customer messages, {} corporate accounts; nothing sent",
            count(n.customers),
            count(n.corporates)
        );
        Ok(Outcome::reported(n.report, n.files, result))
    }
}

/// The database a step writes to or verifies against: the step's
/// `database`, else `[recover] database`, else the first; skipped when its
/// connection string is not in the environment (sidik-pg's resolution).
fn target(ctx: &Context) -> Result<Result<crate::sql::Target, Outcome>, String> {
    let name = ctx
        .str_param("database")
        .or(ctx.incident.file.recover.database.as_deref());
    Ok(
        sidik_pg::actions::database_named(ctx, name)?.map(|db| crate::sql::Target {
            url: db.url,
            search_path: db.options.search_path,
            name: db.name,
        }),
    )
}

/// Applies the plan through SQL.
struct RecoverApply;

impl Action for RecoverApply {
    fn name(&self) -> &'static str {
        "recover.apply"
    }
    fn summary(&self) -> &'static str {
        "Apply the recovery plan to the orders database in guarded, resumable, audited batches (dangerous: runs only with --approve); reports/recovery-apply.md, evidence/recovery/audit.jsonl and undo.jsonl"
    }
    fn params(&self) -> &'static [&'static str] {
        &["database", "via"]
    }
    fn report_file(&self) -> Option<&'static str> {
        Some("recovery-apply.md")
    }
    fn always_run(&self) -> bool {
        true
    }
    fn run(&self, ctx: &Context) -> StepResult {
        if !ctx.approved {
            return Err(format!(
                "recover.apply writes to the database: step `{}` must be `dangerous = true` in its playbook and approved with --approve {}",
                ctx.step, ctx.step
            ));
        }
        let via = match ctx.str_param("via").unwrap_or("sql") {
            "sql" => crate::apply::Via::Sql,
            "http" => crate::apply::Via::Http,
            other => return Err(format!("via = \"{other}\": expected \"sql\" or \"http\"")),
        };
        let o = match via {
            crate::apply::Via::Sql => match target(ctx)? {
                Ok(t) => crate::apply::Options {
                    pg: None,
                    database: Some(t.name).filter(|n| n != "default"),
                    restart: false,
                },
                Err(skipped) => return Ok(skipped),
            },
            crate::apply::Via::Http => crate::apply::Options::default(),
        };
        let stop = std::sync::atomic::AtomicBool::new(false);
        let (s, report) =
            crate::apply::run(&ctx.incident, &o, via, &stop, &mut |_| {}).or_fail()?;
        let j = crate::journal::Journal::of(&ctx.incident, via.word());
        let changed: Vec<String> = s
            .changed
            .iter()
            .map(|(d, n)| format!("{} {}", d.word(), count(*n)))
            .collect();
        let result = format!(
            "{} changed{}; {} skipped (no longer as planned)",
            count(s.changed.values().sum::<u64>()),
            if changed.is_empty() {
                String::new()
            } else {
                format!(" ({})", changed.join(", "))
            },
            count(s.skipped.len() as u64)
        );
        if let Some(stop) = &s.stopped {
            return Err(format!("{result}; {}", stop.describe()));
        }
        // The task is ticked only on what proves it: every step applied,
        // none left skipped, and something applied at all.
        let state = j.load().or_fail()?;
        let (changed, skipped) = state.map_or((0, 0), |st| (st.changed, st.skipped));
        if skipped > 0 {
            return Err(format!(
                "{result}; {} steps were not as planned any more and were skipped: look at each in {} before re-planning",
                count(skipped),
                ctx.incident.dir.relative(&report)
            ));
        }
        if changed == 0 {
            return Ok(Outcome::Skipped(format!(
                "nothing applied: no step of the plan has a {} that carries it out ({result})",
                if via == crate::apply::Via::Sql {
                    "recovery statement"
                } else {
                    "configured endpoint"
                }
            )));
        }
        Ok(Outcome::reported(
            report,
            vec![j.audit, j.undo, j.state],
            result,
        ))
    }
}

/// Checks one of phase 4's success criteria by reconciling again.
struct RecoverVerify;

impl Action for RecoverVerify {
    fn name(&self) -> &'static str {
        "recover.verify"
    }
    fn summary(&self) -> &'static str {
        "Reconcile again (the database when there is one, else the exports) and hold a success criterion: `criterion = \"recovered\"` (no recoverable stuck order) or `\"reconciled\"` (no break left); reports/recovery-verify.md"
    }
    fn params(&self) -> &'static [&'static str] {
        &["criterion", "database", "ho"]
    }
    fn required(&self) -> &'static [&'static str] {
        &["criterion"]
    }
    fn report_file(&self) -> Option<&'static str> {
        Some("recovery-verify.md")
    }
    fn always_run(&self) -> bool {
        true
    }
    fn run(&self, ctx: &Context) -> StepResult {
        let criterion = ctx.str_param("criterion").unwrap_or_default();
        if !matches!(criterion, "recovered" | "reconciled") {
            return Err(format!(
                "criterion = \"{criterion}\": expected \"recovered\" or \"reconciled\""
            ));
        }
        let source = match target(ctx)? {
            Ok(t) => crate::verify::Source::Database(t),
            Err(_) => crate::verify::Source::Files,
        };
        let v = crate::verify::verify(&ctx.incident, &source, ctx.str_param("ho")).or_fail()?;
        let (n, a) = v.breaks_left();
        let (holds, result) = if criterion == "recovered" {
            (
                v.recovered(),
                format!(
                    "{} recoverable orders still stuck ({}){}",
                    count(v.stuck_recoverable.len() as u64),
                    v.source,
                    if v.stuck_review.is_empty() {
                        String::new()
                    } else {
                        format!("; {} left to a person", count(v.stuck_review.len() as u64))
                    }
                ),
            )
        } else {
            (
                v.reconciled(),
                format!("{} breaks left ({}) in {}", count(n), idr(a), v.source),
            )
        };
        if let Some(note) = &v.incomplete {
            return Err(format!(
                "{note}; see {}",
                ctx.incident.dir.relative(&v.report)
            ));
        }
        if !holds {
            return Err(format!(
                "{result}: see {}",
                ctx.incident.dir.relative(&v.report)
            ));
        }
        Ok(Outcome::reported(v.report, Vec::new(), result))
    }
}

/// The recovery plan.
struct RecoverPlan;

impl Action for RecoverPlan {
    fn name(&self) -> &'static str {
        "recover.plan"
    }
    fn summary(&self) -> &'static str {
        "Decide what to do about each reconciliation finding (complete, refund, re-post, leave, review): evidence/recovery/plan.csv, reports/recovery-plan.md; changes nothing"
    }
    fn report_file(&self) -> Option<&'static str> {
        Some("recovery-plan.md")
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        let mut v = recon_inputs(ctx);
        let own = ctx.incident.dir.root().join("decisions.toml");
        if own.exists() {
            v.push(own);
        }
        v
    }
    fn run(&self, ctx: &Context) -> StepResult {
        let (p, w) = crate::plan::run(&ctx.incident).or_fail()?;
        let parts: Vec<String> = p
            .totals
            .iter()
            .map(|(d, (n, a))| format!("{} {} ({})", d.word(), count(*n), idr(*a)))
            .collect();
        let result = if parts.is_empty() {
            "nothing to recover: the reconciliation found nothing".to_string()
        } else {
            parts.join(", ")
        };
        Ok(Outcome::reported(w.report, w.evidence, result))
    }
}
