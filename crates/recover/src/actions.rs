//! The playbook actions of phase 4: `recover.plan`.

use std::path::PathBuf;

use sidik_core::fmt::{count, idr};
use sidik_playbook::{Action, Context, OrFail, Outcome, Registry, StepResult};

/// Registers the actions of this crate.
pub fn register(r: &mut Registry) {
    r.register(RecoverPlan);
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
        let r = ctx.incident.file.sources.recon.clone().unwrap_or_default();
        let mut v: Vec<PathBuf> = [r.orders, r.payments, r.postings]
            .into_iter()
            .flatten()
            .map(|f| ctx.incident.dir.resolve(f))
            .collect();
        v.push(ctx.incident.dir.root().join("decisions.toml"));
        v.push(ctx.incident.dir.config_path());
        v.retain(|p| p.exists());
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
