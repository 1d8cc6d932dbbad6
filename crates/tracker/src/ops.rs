//! The edits a user or a playbook asks for, each planned against one parsed
//! tracker and applied in one pass.

use std::path::Path;

use chrono::NaiveDate;

use crate::doc::Tracker;
use crate::edit::{Change, LinkStyle, Status};
use crate::TrackerError;

/// Tick (or otherwise set) a task, optionally linking evidence.
#[derive(Debug, Clone)]
pub struct Tick<'a> {
    /// Section the task is in (heading text or `A > B` path); `None`: the whole file.
    pub section: Option<&'a str>,
    /// The task's words.
    pub task: &'a str,
    /// New status.
    pub status: Status,
    /// Evidence to link on the task's line, relative to the tracker's folder.
    pub link: Option<&'a str>,
    /// How to write the link.
    pub style: LinkStyle,
    /// A one-line result, nested under the task.
    pub result: Option<&'a str>,
    /// Obsidian Tasks done date (only when the status is Done).
    pub done_date: Option<NaiveDate>,
}

/// The result of an edit: the changed tracker, the changes (offsets into the
/// tracker before the edit) and the line of the task or section concerned.
#[derive(Debug, Clone)]
pub struct Edited {
    /// The tracker after the edit.
    pub doc: Tracker,
    /// What changed; empty when the edit was already there.
    pub changes: Vec<Change>,
    /// 1-based line of the task or section heading the edit is about.
    pub line: usize,
}

fn finish(
    doc: &Tracker,
    path: &Path,
    changes: Vec<Change>,
    line: usize,
) -> Result<Edited, TrackerError> {
    Ok(Edited {
        doc: doc.apply(&changes, path)?,
        changes,
        line,
    })
}

/// Sets a task's status, links evidence, nests a result line, adds a done date.
pub fn tick(doc: &Tracker, path: &Path, op: &Tick) -> Result<Edited, TrackerError> {
    let i = doc.find_task(op.section, op.task)?;
    let mut changes = doc.plan_status(i, op.status);
    if let Some(target) = op.link {
        changes.extend(doc.plan_link(i, target, op.style));
    }
    if let (Some(date), Status::Done) = (op.done_date, op.status) {
        changes.extend(doc.plan_done_date(i, date));
    }
    if let Some(result) = op.result {
        changes.extend(doc.plan_child_line(i, &one_line(result)));
    }
    finish(doc, path, changes, doc.tasks[i].line)
}

/// Embeds an image under a task (when `task` is given) or at the end of a section.
pub fn attach(
    doc: &Tracker,
    path: &Path,
    section: &str,
    task: Option<&str>,
    image: &str,
    style: LinkStyle,
) -> Result<Edited, TrackerError> {
    let embed = style.embed(image);
    match task {
        Some(t) => {
            let i = doc.find_task(Some(section), t)?;
            finish(doc, path, doc.plan_child_line(i, &embed), doc.tasks[i].line)
        }
        None => {
            let s = doc.find_section(section)?;
            finish(
                doc,
                path,
                doc.plan_section_line(s, &embed),
                doc.sections[s].line,
            )
        }
    }
}

/// Appends a dated entry (`- 2026-11-26: text`) at the end of a section.
pub fn note(
    doc: &Tracker,
    path: &Path,
    section: &str,
    text: &str,
    date: NaiveDate,
) -> Result<Edited, TrackerError> {
    let s = doc.find_section(section)?;
    let line = format!("- {}: {}", date.format("%Y-%m-%d"), one_line(text));
    finish(
        doc,
        path,
        doc.plan_section_line(s, &line),
        doc.sections[s].line,
    )
}

/// Sets `updated:` and the "Last Updated" / "Last Review" lines to `date`.
pub fn touch(doc: &Tracker, path: &Path, date: NaiveDate) -> Result<Edited, TrackerError> {
    finish(doc, path, doc.plan_touch(date), 1)
}

/// Collapses text to one line: line breaks and runs of spaces become one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One mojibake span of a repair, located by line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairSpan {
    /// 1-based line.
    pub line: usize,
    /// The text found.
    pub found: String,
    /// Its repair, when exact.
    pub repaired: Option<String>,
}

/// The result of [`repair`].
#[derive(Debug, Clone)]
pub struct Repair {
    /// The tracker with every exactly-repairable span fixed.
    pub edited: Edited,
    /// Every span found, repaired or not.
    pub spans: Vec<RepairSpan>,
}

/// Repairs mojibake: only spans whose Windows-1252 bytes decode as strict
/// UTF-8 are changed; broken ones are listed and left alone.
pub fn repair(doc: &Tracker, path: &Path) -> Result<Repair, TrackerError> {
    let body = doc.bytes().len() - doc.text().len();
    let mut changes = Vec::new();
    let mut spans = Vec::new();
    for s in crate::text::find_mojibake(doc.text()) {
        let range = body + s.range.start..body + s.range.end;
        spans.push(RepairSpan {
            line: doc.line_of(range.start),
            found: s.found.clone(),
            repaired: s.repaired.clone(),
        });
        if let Some(r) = s.repaired {
            changes.push(Change { range, text: r });
        }
    }
    Ok(Repair {
        edited: finish(doc, path, changes, 1)?,
        spans,
    })
}
