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
    /// HO's re-push batch in its import format (evidence/recovery/ho-import.csv), HO's
    /// expected totals after it, and the process for finance (reports/reconciliation-process.md).
    Process(crate::IncidentArg),
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
    /// Through SQL on the orders database, or through the services' API
    /// ([[recover.http.endpoint]] in incident.toml).
    #[arg(long, value_enum, default_value = "sql")]
    via: ViaArg,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ViaArg {
    Sql,
    Http,
}

impl From<ViaArg> for sidik_recover::apply::Via {
    fn from(v: ViaArg) -> Self {
        match v {
            ViaArg::Sql => sidik_recover::apply::Via::Sql,
            ViaArg::Http => sidik_recover::apply::Via::Http,
        }
    }
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
pub struct NotifyArgs {
    #[command(flatten)]
    incident: crate::IncidentArg,
    /// Copy the shipped message templates into DIR (default <incident>/messages) to edit them,
    /// and point [recover.notify] templates at it.
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "messages")]
    write_templates: Option<std::path::PathBuf>,
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
        RecoverCommand::Process(a) => {
            let inc = Incident::load(&a)?;
            let p = sidik_recover::process::run(&inc)?;
            out!(
                "{:<14} {:>20} {:>20} {:>20}",
                "JOURNAL",
                "HO BEFORE",
                "BATCH",
                "EXPECTED AFTER"
            );
            for (j, (b, d, a)) in &p.totals {
                out!("{:<14} {:>20} {:>20} {:>20}", j, idr(*b), idr(*d), idr(*a));
            }
            out!(
                "batch {} ({} lines); process {}; nothing was sent",
                inc.dir.relative(&p.batch),
                count(p.lines.len() as u64),
                inc.dir.relative(&p.report)
            );
            Ok(ExitCode::SUCCESS)
        }
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
        match a.db.via {
            ViaArg::Sql => dry_sql(&inc, &steps)?,
            ViaArg::Http => dry_http(&inc, &steps)?,
        }
        out!();
        out!("dry run: nothing was written and nothing was contacted; add --execute to apply (batches, guards and the audit: docs/recover.md)");
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
    let (s, report) = sidik_recover::apply::run(
        &inc,
        &options(&a.db, a.restart),
        a.db.via.into(),
        &stop,
        &mut |s| {
            if last.elapsed().as_millis() >= 1000 {
                last = std::time::Instant::now();
                eprintln!(
                    "applied up to step {} of {} ({} changed, {} skipped)",
                    count(s.next as u64),
                    count(s.total as u64),
                    count(s.changed.values().sum::<u64>()),
                    count(s.skipped.len() as u64)
                );
            }
        },
    )?;
    if let Some(r) = &s.recovered {
        out!("{r}");
    }
    out!("{:<18} {:>12}", "DECISION", "CHANGED");
    for (d, n) in &s.changed {
        out!("{:<18} {:>12}", d.word(), count(*n));
    }
    out!(
        "{} skipped (no longer as planned); {} batches in {:.1} s; waited {} times ({:.1} s)",
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

pub fn notify(a: NotifyArgs) -> Result<ExitCode> {
    let inc = Incident::load(&a.incident)?;
    if let Some(dir) = &a.write_templates {
        let dir = inc.dir.resolve(dir);
        let written = sidik_recover::notify::write_templates(&dir)?;
        out!(
            "{} templates written to {} (existing files kept); set `[recover.notify] templates = \"{}\"` in incident.toml, edit them, run `sidik notify` again",
            written.len(),
            dir.display(),
            inc.dir.relative(&dir)
        );
        return Ok(ExitCode::SUCCESS);
    }
    let n = sidik_recover::notify::run(&inc)?;
    out!("{:<64} {:>8} {:>20}", "GROUP", "ORDERS", "RUPIAH");
    for (g, (orders, amount)) in &n.groups {
        out!(
            "{:<64} {:>8} {:>20}",
            g.describe(),
            count(*orders),
            idr(*amount)
        );
    }
    out!(
        "{} customer messages in {}, {} corporate accounts in {}; report {}; nothing was sent",
        count(n.customers),
        inc.dir.relative(&n.files[0]),
        count(n.corporates),
        inc.dir.relative(&n.files[1]),
        inc.dir.relative(&n.report)
    );
    Ok(ExitCode::SUCCESS)
}

fn dry_sql(inc: &Incident, steps: &[sidik_recover::plan::Step]) -> Result<()> {
    let statements = sidik_recover::apply::statements_for(inc)?;
    let dry = sidik_recover::apply::dry_run(steps, &statements);
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
    Ok(())
}

fn dry_http(inc: &Incident, steps: &[sidik_recover::plan::Step]) -> Result<()> {
    let settings = sidik_recover::http::Settings::for_incident(inc)?;
    out!("{:<18} {:>8}  SENT TO", "DECISION", "STEPS");
    let mut by: std::collections::BTreeMap<_, u64> = std::collections::BTreeMap::new();
    for s in steps {
        *by.entry(s.decision).or_default() += 1;
    }
    for (d, n) in &by {
        let to = settings
            .endpoints
            .iter()
            .find(|e| e.decision == *d)
            .map(|e| format!("{} {}", e.request.method, e.request.url))
            .unwrap_or_else(|| "nothing: no endpoint".into());
        out!("{:<18} {:>8}  {to}", d.word(), count(*n));
    }
    for e in &settings.endpoints {
        out!();
        for s in steps.iter().filter(|s| s.decision == e.decision).take(3) {
            let k = sidik_recover::http::key(s);
            out!(
                "{} {}  {}: {k}",
                e.request.method,
                sidik_recover::http::fill(&e.request.url, s, &k, false),
                e.key_header
            );
            if let Some(b) = &e.request.body {
                out!("  {}", sidik_recover::http::fill(b, s, &k, true));
            }
        }
    }
    out!(
        "at most {} requests a second; {} attempts each; timeout {:.0} s",
        settings.rate,
        settings.attempts,
        settings.timeout.as_secs_f64()
    );
    Ok(())
}

fn undo(a: UndoArgs) -> Result<ExitCode> {
    let inc = Incident::load(&a.db.incident)?;
    let via: sidik_recover::apply::Via = a.db.via.into();
    let j = sidik_recover::journal::Journal::of(&inc, via.word());
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
    let rt = crate::runtime()?;
    let u = match via {
        sidik_recover::apply::Via::Sql => {
            let t = sidik_recover::apply::target(&inc, &options(&a.db, false))?;
            rt.block_on(sidik_recover::undo::undo(&inc, &g, &t))?
        }
        sidik_recover::apply::Via::Http => {
            let settings = sidik_recover::http::Settings::for_incident(&inc)?;
            rt.block_on(sidik_recover::http::undo(&inc, &settings, &g))?
        }
    };
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
            "{} changes were left alone (changed since apply, or no way back configured):",
            count(u.changed_since.len() as u64)
        );
        for (t, k, o) in u.changed_since.iter().take(20) {
            eprintln!("  {t} {k} (order {o})");
        }
        return Ok(ExitCode::from(STOPPED));
    }
    Ok(ExitCode::SUCCESS)
}
