//! `sidik recover …`: phase 4, putting right what the reconciliation found.

use anyhow::Result;
use clap::Subcommand;
use sidik_core::fmt::{count, idr};
use sidik_core::Incident;

#[derive(Debug, Subcommand)]
pub enum RecoverCommand {
    /// Decide what to do about each reconciliation finding (complete, refund, re-post,
    /// leave, review): evidence/recovery/plan.csv and reports/recovery-plan.md; changes nothing.
    Plan(crate::IncidentArg),
}

pub fn run(cmd: RecoverCommand) -> Result<()> {
    match cmd {
        RecoverCommand::Plan(a) => {
            let inc = Incident::load(&a)?;
            let (p, w) = sidik_recover::plan::run(&inc)?;
            out!("{:<18} {:>8} {:>20}", "DECISION", "STEPS", "RUPIAH");
            for (d, (n, amount)) in &p.totals {
                out!("{:<18} {:>8} {:>20}", d.word(), count(*n), idr(*amount));
            }
            out!(
                "plan {}; report {}; nothing was changed",
                inc.dir.relative(&w.evidence[0]),
                inc.dir.relative(&w.report)
            );
            Ok(())
        }
    }
}
