//! `sidik recover …`: phase 4, putting right what the reconciliation found.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Result;
use clap::{Args, Subcommand};
use sidik_core::fmt::{count, idr};
use sidik_core::Incident;

#[derive(Debug, Subcommand)]
pub enum RecoverCommand {
    /// Decide what to do about each reconciliation finding (complete, refund, re-post,
    /// leave, review): evidence/recovery/plan.csv and reports/recovery-plan.md; changes nothing.
    Plan(crate::IncidentArg),
    /// Apply the plan to the orders database in guarded, resumable, audited batches.
    /// Without --execute it only shows what it would send.
    Apply(ApplyArgs),
    /// Put back every row apply changed (evidence/recovery/undo.jsonl), newest first,
    /// only where the row is still as apply left it. Without --execute it only counts.
    Undo(UndoArgs),
    /// Reconcile again and tick "All order gantung recovered" and "Payment reconciliation
    /// completed" in the tracker when they hold (the phase-4 playbook's verify steps).
    Verify(crate::IncidentArg),
}

#[derive(Debug, Args)]
pub struct DbArgs {
    #[command(flatten)]
    incident: crate::IncidentArg,
    /// Database name from incident.toml; default `[recover] database`, else the first.
    #[arg(long)]
    database: Option<String>,
    /// Connection string instead of the incident's database.
    #[arg(long, value_name = "URL")]
    pg: Option<String>,
    /// Write. Without it nothing is written and nothing is connected to.
    #[arg(long)]
    execute: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Start again at the first step of the plan instead of the saved cursor
    /// (safe: a step already applied no longer matches its guard and is skipped).
    #[arg(long)]
    restart: bool,
}

#[derive(Debug, Args)]
pub struct UndoArgs {
    #[command(flatten)]
    db: DbArgs,
}

/// Exit code when apply stopped before the end (stop file, Ctrl-C, limits): run it again to go on.
const STOPPED: u8 = 4;

pub fn run(cmd: RecoverCommand) -> Result<ExitCode> {
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
            Ok(ExitCode::SUCCESS)
        }
        RecoverCommand::Apply(a) => apply(a),
        RecoverCommand::Undo(a) => undo(a),
        RecoverCommand::Verify(a) => crate::run::run_steps(
            &a,
            "phase-4-remediation",
            &["verify-recovered", "reconciliation-completed"],
        ),
    }
}

fn options(d: &DbArgs, restart: bool) -> sidik_recover::apply::Options {
    sidik_recover::apply::Options {
        pg: d.pg.clone(),
        database: d.database.clone(),
        restart,
    }
}

fn apply(a: ApplyArgs) -> Result<ExitCode> {
    let inc = Incident::load(&a.db.incident)?;
    if !a.db.execute {
        let (steps, _) = sidik_recover::plan::read(&inc)?;
        let statements = sidik_recover::apply::statements_for(&inc)?;
        let dry = sidik_recover::apply::dry_run(&steps, &statements);
        out!("{:<18} {:>8}  CARRIED OUT BY", "DECISION", "STEPS");
        for (d, (n, by)) in &dry.by_decision {
            out!(
                "{:<18} {:>8}  {}",
                d.word(),
                count(*n),
                by.as_deref()
                    .unwrap_or("nothing: a person or a service's API")
            );
        }
        for (st, examples) in &dry.examples {
            out!();
            out!(
                "-- {} ({}): {}",
                st.file,
                st.decision.word(),
                st.description
            );
            if !st.guard.is_empty() {
                out!("-- guard: {}", st.guard);
            }
            out!("{};", st.sql);
            for v in examples {
                let shown: Vec<String> = v
                    .iter()
                    .enumerate()
                    .map(|(i, x)| format!("${}={x}", i + 1))
                    .collect();
                out!("--   with {}", shown.join(" "));
            }
        }
        out!();
        out!("dry run: nothing was written and no database was contacted; add --execute to apply (batches, guards and the audit: docs/recover.md)");
        return Ok(ExitCode::SUCCESS);
    }
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            if let Ok(rt) = sidik_core::process::runtime() {
                rt.block_on(async {
                    if tokio::signal::ctrl_c().await.is_ok() {
                        eprintln!("Ctrl-C: stopping after the batch in flight…");
                        stop.store(true, Ordering::SeqCst);
                    }
                });
            }
        });
    }
    let mut last = std::time::Instant::now();
    let (s, report) =
        sidik_recover::apply::run_sql(&inc, &options(&a.db, a.restart), &stop, &mut |s| {
            if last.elapsed().as_millis() >= 1000 {
                last = std::time::Instant::now();
                eprintln!(
                    "applied up to step {} of {} ({} rows changed, {} skipped)",
                    count(s.next as u64),
                    count(s.total as u64),
                    count(s.changed.values().sum::<u64>()),
                    count(s.skipped.len() as u64)
                );
            }
        })?;
    if let Some(r) = &s.recovered {
        out!("{r}");
    }
    out!("{:<18} {:>12}", "DECISION", "ROWS CHANGED");
    for (d, n) in &s.changed {
        out!("{:<18} {:>12}", d.word(), count(*n));
    }
    out!(
        "{} skipped (no longer as planned); {} batches in {:.1} s; waited {} times ({:.1} s) for the server",
        count(s.skipped.len() as u64),
        count(s.batches),
        s.elapsed.as_secs_f64(),
        count(s.throttled),
        s.waited.as_secs_f64()
    );
    out!("report {}", inc.dir.relative(&report));
    match &s.stopped {
        Some(stop) => {
            eprintln!("{}", stop.describe());
            Ok(ExitCode::from(STOPPED))
        }
        None => Ok(ExitCode::SUCCESS),
    }
}

fn undo(a: UndoArgs) -> Result<ExitCode> {
    let inc = Incident::load(&a.db.incident)?;
    let j = sidik_recover::journal::Journal::of(&inc, "sql");
    if !a.db.execute {
        let n = sidik_recover::journal::read_entries(&j.undo)?
            .iter()
            .filter(|e| e.outcome == sidik_recover::journal::Outcome::Changed)
            .count();
        out!(
            "{} rows in {} would be put back; dry run: nothing was written; add --execute",
            count(n as u64),
            inc.dir.relative(&j.undo)
        );
        return Ok(ExitCode::SUCCESS);
    }
    let g = sidik_recover::guards::Guards::for_incident(&inc)?;
    let t = sidik_recover::apply::target(&inc, &options(&a.db, false))?;
    let rt = crate::runtime()?;
    let u = rt.block_on(sidik_recover::undo::undo(&inc, &g, &t))?;
    out!(
        "{} rows put back, {} already as they were",
        count(u.restored),
        count(u.already)
    );
    if let Some(p) = &u.archived {
        out!("undo file archived as {}", inc.dir.relative(p));
    }
    if !u.changed_since.is_empty() {
        eprintln!(
            "{} rows changed since apply were left alone:",
            count(u.changed_since.len() as u64)
        );
        for (t, k, o) in u.changed_since.iter().take(20) {
            eprintln!("  {t} {k} (order {o})");
        }
        return Ok(ExitCode::from(STOPPED));
    }
    Ok(ExitCode::SUCCESS)
}
