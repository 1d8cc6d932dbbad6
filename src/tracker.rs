//! `sidik tracker …`: list, tick, attach, note, touch, repair and check the
//! markdown tracker. Every edit goes through sidik-tracker's byte-range edits
//! and safe save; `--dry-run` shows the diff and writes nothing.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use clap::{Args, Subcommand, ValueEnum};
use sidik_core::Incident;
use sidik_tracker::ops::{self, Edited, Tick};
use sidik_tracker::{LinkStyle, Saved, Status, Tracker, TrackerFile};

use sidik_core::time::Tz;

#[derive(Debug, Subcommand)]
pub enum TrackerCommand {
    /// List the tracker's tasks with their section and line.
    Tasks(TasksArgs),
    /// Tick a task (or set another status), optionally linking evidence.
    Tick(TickArgs),
    /// Embed an image (a chart) under a task or at the end of a section.
    Attach(AttachArgs),
    /// Append a dated entry at the end of a section.
    Note(NoteArgs),
    /// Set the front matter's `updated:` and the "Last Updated"/"Last Review" lines.
    Touch(TouchArgs),
    /// Repair mojibake (UTF-8 once read as Windows-1252), only where it round-trips exactly.
    Repair(RepairArgs),
    /// Check that every task the playbooks name exists exactly once in the tracker.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct Target {
    /// The tracker file; default: the one named in the incident's incident.toml.
    #[arg(long, value_name = "PATH", global = true)]
    tracker: Option<PathBuf>,
    #[command(flatten)]
    incident: crate::IncidentArg,
}

#[derive(Debug, Args)]
pub struct WriteOpts {
    /// Show what would change; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Keep the previous version as TRACKER.bak.
    #[arg(long)]
    backup: bool,
    /// Also set `updated:` and "Last Updated" to the date.
    #[arg(long)]
    touch: bool,
    /// Date for done dates, notes and --touch (YYYY-MM-DD); default: today in the incident timezone.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    date: Option<NaiveDate>,
}

/// Output format of tabular commands.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusArg {
    Todo,
    InProgress,
    Done,
    Cancelled,
}

impl From<StatusArg> for Status {
    fn from(s: StatusArg) -> Status {
        match s {
            StatusArg::Todo => Status::Todo,
            StatusArg::InProgress => Status::InProgress,
            StatusArg::Done => Status::Done,
            StatusArg::Cancelled => Status::Cancelled,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StyleArg {
    Wiki,
    Markdown,
}

impl From<StyleArg> for LinkStyle {
    fn from(s: StyleArg) -> LinkStyle {
        match s {
            StyleArg::Wiki => LinkStyle::Wiki,
            StyleArg::Markdown => LinkStyle::Markdown,
        }
    }
}

#[derive(Debug, Args)]
pub struct TasksArgs {
    #[command(flatten)]
    target: Target,
    /// Only tasks in this section (heading text, partial, or a path "A > B").
    #[arg(long)]
    section: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

#[derive(Debug, Args)]
pub struct TickArgs {
    #[command(flatten)]
    target: Target,
    /// Section holding the task (heading text, partial, or a path "A > B").
    #[arg(long)]
    section: Option<String>,
    /// The task's words (folded: case, emoji and mojibake do not matter).
    #[arg(long)]
    task: String,
    /// Status to set.
    #[arg(long, value_enum, default_value = "done")]
    status: StatusArg,
    /// Evidence to link on the task's line.
    #[arg(long, value_name = "PATH")]
    link: Option<String>,
    /// How links are written.
    #[arg(long, value_enum, default_value = "wiki")]
    link_style: StyleArg,
    /// A one-line result nested under the task.
    #[arg(long)]
    result: Option<String>,
    /// Add an Obsidian Tasks done date (✅ DATE).
    #[arg(long)]
    done_date: bool,
    #[command(flatten)]
    write: WriteOpts,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    #[command(flatten)]
    target: Target,
    /// Section to attach to.
    #[arg(long)]
    section: String,
    /// Attach under this task instead of at the end of the section.
    #[arg(long)]
    task: Option<String>,
    /// The image (PNG, SVG).
    #[arg(long, value_name = "PATH")]
    image: String,
    /// How the embed is written.
    #[arg(long, value_enum, default_value = "wiki")]
    link_style: StyleArg,
    #[command(flatten)]
    write: WriteOpts,
}

#[derive(Debug, Args)]
pub struct NoteArgs {
    #[command(flatten)]
    target: Target,
    /// Section to append to.
    #[arg(long)]
    section: String,
    /// The entry (one line).
    #[arg(long)]
    text: String,
    #[command(flatten)]
    write: WriteOpts,
}

#[derive(Debug, Args)]
pub struct TouchArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    write: WriteOpts,
}

#[derive(Debug, Args)]
pub struct RepairArgs {
    #[command(flatten)]
    target: Target,
    /// Show the spans and the diff; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Keep the previous version as TRACKER.bak.
    #[arg(long)]
    backup: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    target: Target,
    /// Playbook files (TOML).
    #[arg(required = true, value_name = "PLAYBOOK")]
    playbooks: Vec<PathBuf>,
}

pub fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("\"{s}\" is not a date; expected YYYY-MM-DD"))
}

/// The tracker path and the timezone dates are taken in.
fn resolve(target: &Target) -> Result<(PathBuf, Tz)> {
    if let Some(t) = &target.tracker {
        let tz = Incident::load(&target.incident)
            .map(|i| i.tz)
            .unwrap_or(sidik_core::DEFAULT_TIMEZONE);
        return Ok((t.clone(), tz));
    }
    let inc = Incident::load(&target.incident).with_context(|| {
        format!(
            "no --tracker given, so sidik looked for the tracker in {}/incident.toml",
            target.incident.display()
        )
    })?;
    match inc.tracker {
        Some(t) => Ok((t, inc.tz)),
        None => bail!(
            "{} names no tracker; add `tracker = \"PATH\"` under [incident] or pass --tracker PATH",
            inc.dir.config_path().display()
        ),
    }
}

fn today(tz: Tz) -> NaiveDate {
    chrono::Utc::now().with_timezone(&tz).date_naive()
}

/// A path for a link: relative to the tracker's folder when the file exists.
fn link_target(given: &str, tracker: &Path) -> String {
    if !Path::new(given).exists() {
        return given.to_string();
    }
    sidik_core::folder::relative_path(Path::new(given), tracker.parent().unwrap_or(Path::new(".")))
}

pub fn run(cmd: TrackerCommand) -> Result<()> {
    match cmd {
        TrackerCommand::Tasks(a) => tasks(a),
        TrackerCommand::Tick(a) => {
            let (path, tz) = resolve(&a.target)?;
            let file = TrackerFile::open(&path)?;
            let date = a.write.date.unwrap_or_else(|| today(tz));
            let link = a.link.as_deref().map(|l| link_target(l, &path));
            let edited = ops::tick(
                file.doc(),
                &path,
                &Tick {
                    section: a.section.as_deref(),
                    task: &a.task,
                    status: a.status.into(),
                    link: link.as_deref(),
                    style: a.link_style.into(),
                    result: a.result.as_deref(),
                    done_date: a.done_date.then_some(date),
                },
            )?;
            let line = edited.line;
            let what = format!("line {line}: {}", edited.doc.line_text(line).trim());
            finish(&file, edited, &a.write, date, &what)
        }
        TrackerCommand::Attach(a) => {
            let (path, tz) = resolve(&a.target)?;
            let file = TrackerFile::open(&path)?;
            let image = link_target(&a.image, &path);
            let edited = ops::attach(
                file.doc(),
                &path,
                &a.section,
                a.task.as_deref(),
                &image,
                a.link_style.into(),
            )?;
            let what = format!("{image} under line {}", edited.line);
            let date = a.write.date.unwrap_or_else(|| today(tz));
            finish(&file, edited, &a.write, date, &what)
        }
        TrackerCommand::Note(a) => {
            let (path, tz) = resolve(&a.target)?;
            let file = TrackerFile::open(&path)?;
            let date = a.write.date.unwrap_or_else(|| today(tz));
            let edited = ops::note(file.doc(), &path, &a.section, &a.text, date)?;
            let what = format!("note in the section on line {}", edited.line);
            finish(&file, edited, &a.write, date, &what)
        }
        TrackerCommand::Touch(a) => {
            let (path, tz) = resolve(&a.target)?;
            let file = TrackerFile::open(&path)?;
            let date = a.write.date.unwrap_or_else(|| today(tz));
            let edited = ops::touch(file.doc(), &path, date)?;
            let what = format!("dates set to {date}");
            finish(
                &file,
                edited,
                &WriteOpts {
                    touch: false,
                    ..a.write
                },
                date,
                &what,
            )
        }
        TrackerCommand::Repair(a) => repair(a),
        TrackerCommand::Check(a) => check(a),
    }
}

/// Applies `--touch`, shows or saves, and reports.
fn finish(
    file: &TrackerFile,
    mut edited: Edited,
    w: &WriteOpts,
    date: NaiveDate,
    what: &str,
) -> Result<()> {
    if w.touch {
        let touched = ops::touch(&edited.doc, file.path(), date)?;
        edited.changes.extend(touched.changes);
        edited.doc = touched.doc;
    }
    save(file, &edited.doc, w.dry_run, w.backup, what)
}

fn save(file: &TrackerFile, new: &Tracker, dry_run: bool, backup: bool, what: &str) -> Result<()> {
    let path = file.path().display();
    if new.bytes() == file.doc().bytes() {
        out!("{path}: already up to date ({what}); nothing to change");
        return Ok(());
    }
    if dry_run {
        print_diff(file.doc(), new, &path.to_string());
        out!("dry run: {path} not written");
        return Ok(());
    }
    match file.save(new, backup)? {
        Saved::Unchanged => out!("{path}: nothing to change"),
        Saved::Written { backup, merged } => {
            out!("{path}: {what}");
            if merged {
                out!("  the file had changed since sidik read it; the edit was merged with those changes");
            }
            if let Some(b) = backup {
                out!("  previous version kept in {}", b.display());
            }
        }
    }
    Ok(())
}

fn print_diff(old: &Tracker, new: &Tracker, name: &str) {
    let a = String::from_utf8_lossy(old.bytes());
    let b = String::from_utf8_lossy(new.bytes());
    let diff = similar::TextDiff::from_lines(a.as_ref(), b.as_ref());
    let text = diff
        .unified_diff()
        .context_radius(1)
        .header(name, name)
        .to_string();
    for line in text.lines() {
        out!("{}", line.trim_end_matches('\r'));
    }
}

fn tasks(a: TasksArgs) -> Result<()> {
    let (path, _) = resolve(&a.target)?;
    let file = TrackerFile::open(&path)?;
    let doc = file.doc();
    let indices: Vec<usize> = match &a.section {
        Some(s) => doc.tasks_in(doc.find_section(s)?).collect(),
        None => (0..doc.tasks.len()).collect(),
    };
    #[derive(serde::Serialize)]
    struct Row<'a> {
        line: usize,
        status: String,
        done: bool,
        section: String,
        depth: usize,
        text: &'a str,
        links: &'a [String],
    }
    let rows: Vec<Row> = indices
        .iter()
        .map(|&i| {
            let t = &doc.tasks[i];
            Row {
                line: t.line,
                status: format!("[{}]", t.status),
                done: t.is_done(),
                section: doc.section_path(t),
                depth: t.depth,
                text: &t.text,
                links: &t.links,
            }
        })
        .collect();
    match a.format {
        Format::Json => out!("{}", serde_json::to_string_pretty(&rows)?),
        Format::Csv => {
            out!("line,status,section,text");
            for r in &rows {
                out!(
                    "{},{},{},{}",
                    r.line,
                    csv_field(&r.status),
                    csv_field(&r.section),
                    csv_field(r.text)
                );
            }
        }
        Format::Table => {
            let w = rows
                .iter()
                .map(|r| r.line.to_string().len())
                .max()
                .unwrap_or(4)
                .max(4);
            out!("{:>w$}  {:<6} {}", "LINE", "STATUS", "TASK  (section)");
            let mut last = String::new();
            for r in &rows {
                if r.section != last {
                    out!("{:>w$}  {:<6} ## {}", "", "", r.section);
                    last = r.section.clone();
                }
                out!(
                    "{:>w$}  {:<6} {}{}",
                    r.line,
                    r.status,
                    "  ".repeat(r.depth),
                    r.text
                );
            }
            let done = rows.iter().filter(|r| r.done).count();
            out!("{} task(s), {done} done", rows.len());
        }
    }
    Ok(())
}

use sidik_core::fmt::csv_field;

fn repair(a: RepairArgs) -> Result<()> {
    let (path, _) = resolve(&a.target)?;
    let file = TrackerFile::open(&path)?;
    let r = ops::repair(file.doc(), &path)?;
    let fixable = r.spans.iter().filter(|s| s.repaired.is_some()).count();
    let broken: Vec<_> = r.spans.iter().filter(|s| s.repaired.is_none()).collect();
    out!(
        "{}: {} mojibake span(s), {fixable} repairable exactly",
        path.display(),
        r.spans.len()
    );
    for s in &r.spans {
        match &s.repaired {
            Some(fixed) => out!("  line {:>4}: {} -> {}", s.line, s.found, fixed),
            None => out!(
                "  line {:>4}: {} -> (cannot be repaired exactly; left as is)",
                s.line,
                s.found
            ),
        }
    }
    if !broken.is_empty() {
        out!(
            "{} span(s) lost bytes and were left alone; fix them by hand",
            broken.len()
        );
    }
    save(
        &file,
        &r.edited.doc,
        a.dry_run,
        a.backup,
        &format!("{fixable} span(s) repaired"),
    )
}

fn check(a: CheckArgs) -> Result<()> {
    let (path, _) = resolve(&a.target)?;
    let file = TrackerFile::open(&path)?;
    let doc = file.doc();
    let mut problems = 0;
    let mut checked = 0;
    for pb in &a.playbooks {
        let text = std::fs::read_to_string(pb)
            .with_context(|| format!("cannot read playbook {}", pb.display()))?;
        let value: toml::Value =
            toml::from_str(&text).with_context(|| format!("{} is not valid TOML", pb.display()))?;
        let default_section = value
            .get("playbook")
            .and_then(|p| p.get("section"))
            .and_then(|s| s.as_str());
        let steps = value
            .get("step")
            .and_then(|s| s.as_array())
            .cloned()
            .unwrap_or_default();
        for (i, step) in steps.iter().enumerate() {
            let Some(task) = step.get("task").and_then(|t| t.as_str()) else {
                continue;
            };
            let section = step
                .get("section")
                .and_then(|s| s.as_str())
                .or(default_section);
            let id = step
                .get("id")
                .and_then(|s| s.as_str())
                .map(str::to_string)
                .unwrap_or_else(|| format!("step {}", i + 1));
            checked += 1;
            match doc.find_task(section, task) {
                Ok(t) => out!("ok    {}: {id} -> line {}", pb.display(), doc.tasks[t].line),
                Err(e) => {
                    problems += 1;
                    out!("FAIL  {}: {id}: {e}", pb.display());
                }
            }
        }
    }
    if problems > 0 {
        bail!(
            "{problems} of {checked} task(s) named by the playbooks are missing or ambiguous in {}",
            path.display()
        );
    }
    out!(
        "{checked} task(s) checked against {}: all found exactly once",
        path.display()
    );
    Ok(())
}
