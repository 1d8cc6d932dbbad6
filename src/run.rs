//! `sidik run` and `sidik playbook …`: load playbooks (the five built-in
//! phase playbooks, or files), validate them, run them, print each step.

use anyhow::{bail, Result};
use chrono::NaiveDate;
use clap::{Args, Subcommand};
use sidik_core::Incident;
use sidik_playbook::{Playbook, Registry, RunOptions, Runner, StepRecord, StepStatus};
use sidik_tracker::LinkStyle;

use crate::tracker::StyleArg;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Playbook files or built-in playbook ids; default: the five phase playbooks, in order.
    #[arg(value_name = "PLAYBOOK")]
    playbooks: Vec<String>,
    #[command(flatten)]
    incident: crate::IncidentArg,
    /// Reuse the latest run: re-run only what failed or whose inputs changed.
    #[arg(long)]
    resume: bool,
    /// Run only this step (repeatable).
    #[arg(long, value_name = "STEP")]
    only: Vec<String>,
    /// Show what would run and which tracker lines would change; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Allow this dangerous step to run (repeatable).
    #[arg(long, value_name = "STEP")]
    approve: Vec<String>,
    #[command(flatten)]
    tracker: TrackerOpts,
}

#[derive(Debug, Args)]
pub struct TrackerOpts {
    /// Date written into the tracker (YYYY-MM-DD); default: today in the incident timezone.
    #[arg(long, value_name = "DATE", value_parser = crate::tracker::parse_date)]
    date: Option<NaiveDate>,
    /// How links and embeds are written into the tracker.
    #[arg(long, value_enum, default_value = "wiki")]
    link_style: StyleArg,
    /// Add Obsidian Tasks done dates (✅ DATE) when ticking.
    #[arg(long)]
    done_date: bool,
    /// Do not touch the tracker.
    #[arg(long)]
    no_tracker: bool,
}

#[derive(Debug, Subcommand)]
pub enum PlaybookCommand {
    /// List the built-in playbooks and the registered actions.
    List,
    /// Validate playbooks (built-in by default) against the actions and the incident's tracker.
    Check {
        /// Playbook files or built-in ids.
        #[arg(value_name = "PLAYBOOK")]
        playbooks: Vec<String>,
        #[command(flatten)]
        incident: crate::IncidentArg,
    },
}

/// The playbooks to run (sidik-playbook's loader, its error as the command's).
fn load(names: &[String], registry: &Registry) -> Result<Vec<Playbook>> {
    sidik_playbook::builtin::load(names, registry).map_err(anyhow::Error::msg)
}

fn short(s: &str, n: usize) -> String {
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() <= n {
        one
    } else {
        format!("{}…", one.chars().take(n - 1).collect::<String>())
    }
}

/// Prints one step's outcome.
pub fn print_step(r: &StepRecord) {
    let (mark, note) = match r.status {
        StepStatus::Succeeded => (
            if r.reused { "reused" } else { "ok" },
            r.result.clone().unwrap_or_default(),
        ),
        StepStatus::Failed => ("FAILED", r.reason.clone().unwrap_or_default()),
        StepStatus::Skipped => ("skipped", r.reason.clone().unwrap_or_default()),
        StepStatus::Manual => ("manual", r.reason.clone().unwrap_or_default()),
        StepStatus::Pending | StepStatus::Running => ("pending", String::new()),
    };
    let time = r
        .duration_ms
        .filter(|_| !r.reused)
        .map(|ms| format!("{:>6.1} s  ", ms as f64 / 1000.0))
        .unwrap_or_else(|| " ".repeat(10));
    let tracker = match &r.tracker {
        Some(t) if t.starts_with("ticked") || t.starts_with("not updated") => format!("  [{t}]"),
        _ => String::new(),
    };
    out!(
        "  {mark:<8} {:<20} {time}{}{tracker}",
        r.id,
        short(&note, 90)
    );
}

pub struct Outcome {
    pub failed: usize,
}

/// Runs playbooks on an incident, printing as it goes.
pub fn run_playbooks(
    inc: &Incident,
    playbooks: &[Playbook],
    registry: &Registry,
    opts: &RunOptions,
) -> Result<Outcome> {
    let runner = Runner::new(registry, inc);
    for id in &opts.only {
        if !playbooks.iter().any(|p| p.step(id).is_some()) {
            bail!("no playbook here has a step `{id}`");
        }
    }
    let mut failed = 0;
    for pb in playbooks {
        let mut o = opts.clone();
        if !opts.only.is_empty() {
            o.only = opts
                .only
                .iter()
                .filter(|s| pb.step(s).is_some())
                .cloned()
                .collect();
            if o.only.is_empty() {
                continue;
            }
        }
        out!("{}  ({})", pb.header.title, pb.header.id);
        let result = runner.run(pb, &o, &mut |r| print_step(r))?;
        if opts.dry_run {
            for line in &result.plan {
                out!("  {line}");
            }
        } else {
            failed += result
                .journal
                .steps
                .iter()
                .filter(|s| s.status == StepStatus::Failed)
                .count();
            if let Some(p) = &result.journal_path {
                out!(
                    "  {}  →  {}",
                    result.summary.trim_start_matches("sidik run "),
                    inc.dir.relative(p)
                );
            }
        }
    }
    if opts.dry_run {
        out!("dry run: nothing was run or written");
    }
    Ok(Outcome { failed })
}

fn options(
    inc: &Incident,
    t: &TrackerOpts,
    resume: bool,
    only: Vec<String>,
    dry_run: bool,
    approve: Vec<String>,
) -> RunOptions {
    RunOptions {
        resume,
        only,
        dry_run,
        approve,
        date: t
            .date
            .unwrap_or_else(|| chrono::Utc::now().with_timezone(&inc.tz).date_naive()),
        link_style: LinkStyle::from(t.link_style),
        done_date: t.done_date,
        no_tracker: t.no_tracker,
    }
}

/// Default tracker options (for `sidik demo`).
pub fn default_options(inc: &Incident, date: Option<NaiveDate>) -> RunOptions {
    let t = TrackerOpts {
        date,
        link_style: StyleArg::Wiki,
        done_date: false,
        no_tracker: false,
    };
    options(inc, &t, false, Vec::new(), false, Vec::new())
}

/// Warns about an `--approve` that approves nothing: a step id none of the
/// playbooks has (a typo would otherwise leave the dangerous step skipped
/// without a word), or a step that is not dangerous.
fn warn_approvals(playbooks: &[sidik_playbook::format::Playbook], approve: &[String]) {
    let dangerous: Vec<String> = playbooks
        .iter()
        .flat_map(|p| p.steps.iter().filter(|s| s.dangerous).map(|s| s.id.clone()))
        .collect();
    let known = |id: &str| playbooks.iter().any(|p| p.step(id).is_some());
    for id in approve {
        if !known(id) {
            eprintln!(
                "warning: --approve {id}: no step `{id}` in these playbooks; it approves nothing. Dangerous steps: {}",
                if dangerous.is_empty() {
                    "none".to_string()
                } else {
                    dangerous.join(", ")
                }
            );
        } else if !dangerous.contains(id) {
            eprintln!(
                "warning: --approve {id}: step `{id}` is not dangerous and runs without approval"
            );
        }
    }
}

/// `sidik run`.
pub fn run(a: RunArgs) -> Result<std::process::ExitCode> {
    let inc = Incident::load(&a.incident)?;
    let registry = crate::actions::registry();
    let playbooks = load(&a.playbooks, &registry)?;
    warn_approvals(&playbooks, &a.approve);
    let opts = options(&inc, &a.tracker, a.resume, a.only, a.dry_run, a.approve);
    let o = run_playbooks(&inc, &playbooks, &registry, &opts)?;
    if !opts.dry_run {
        let report = inc.dir.reports().join("incident.md");
        if report.exists() {
            out!("incident report: {}", report.display());
        }
        if let Some(t) = &inc.tracker {
            out!("tracker:         {}", t.display());
        }
    }
    if o.failed > 0 {
        eprintln!(
            "{} step(s) failed; the reasons are above and in runs/",
            o.failed
        );
        return Ok(std::process::ExitCode::from(1));
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// `sidik playbook …`.
pub fn playbook(cmd: PlaybookCommand) -> Result<()> {
    let registry = crate::actions::registry();
    match cmd {
        PlaybookCommand::List => {
            out!("built-in playbooks:");
            for p in load(&[], &registry)? {
                let manual = p
                    .steps
                    .iter()
                    .filter(|s| matches!(s.kind, sidik_playbook::format::Kind::Manual { .. }))
                    .count();
                out!(
                    "  {:<34} {} steps ({manual} manual)  {}",
                    p.header.id,
                    p.steps.len(),
                    p.header.title
                );
            }
            out!("actions:");
            for a in registry.actions() {
                let params = if a.params().is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", a.params().join(", "))
                };
                out!("  {:<16} {}{params}", a.name(), a.summary());
            }
            Ok(())
        }
        PlaybookCommand::Check {
            playbooks,
            incident,
        } => {
            let list = load(&playbooks, &registry)?;
            let inc = Incident::load(&incident).ok();
            let mut bad = 0;
            for p in &list {
                let tasks = p.steps.iter().filter(|s| s.task.is_some()).count();
                match &inc {
                    Some(inc) if inc.tracker.is_some() => {
                        match Runner::new(&registry, inc).check_tasks(p) {
                            Ok(()) => out!(
                                "ok    {}: {} steps, {tasks} tracker tasks found",
                                p.path.display(),
                                p.steps.len()
                            ),
                            Err(e) => {
                                bad += 1;
                                out!("FAIL  {e}");
                            }
                        }
                    }
                    _ => out!(
                        "ok    {}: {} steps (no tracker to check the tasks against)",
                        p.path.display(),
                        p.steps.len()
                    ),
                }
            }
            if bad > 0 {
                bail!("{bad} playbook(s) name tasks the tracker does not have");
            }
            Ok(())
        }
    }
}

/// Runs some steps of one built-in playbook with the default tracker
/// options, as `sidik run PLAYBOOK --only STEP…` would (`sidik recover verify`).
pub fn run_steps(
    dir: &std::path::Path,
    playbook: &str,
    only: &[&str],
) -> Result<std::process::ExitCode> {
    let inc = Incident::load(dir)?;
    let registry = crate::actions::registry();
    let playbooks = load(&[playbook.to_string()], &registry)?;
    let mut opts = default_options(&inc, None);
    opts.only = only.iter().map(|s| s.to_string()).collect();
    let o = run_playbooks(&inc, &playbooks, &registry, &opts)?;
    Ok(if o.failed > 0 {
        std::process::ExitCode::from(1)
    } else {
        std::process::ExitCode::SUCCESS
    })
}
