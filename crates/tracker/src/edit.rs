//! Edits as byte-range changes. Every edit is planned against a parsed
//! tracker as a list of [`Change`]s (replace or insert bytes at a range) and
//! applied without touching any other byte. Planning the same edit on a
//! tracker that already has it yields no change: edits are idempotent.

use std::ops::Range;
use std::path::Path;
use std::sync::LazyLock;

use chrono::NaiveDate;
use regex::Regex;
use serde::Serialize;

use crate::doc::Tracker;
use crate::TrackerError;

/// One byte-range replacement (an insertion when the range is empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Bytes replaced.
    pub range: Range<usize>,
    /// What replaces them.
    pub text: String,
}

/// A task's status, as Obsidian Tasks writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `[ ]`
    Todo,
    /// `[/]`
    InProgress,
    /// `[x]`
    Done,
    /// `[-]`
    Cancelled,
}

impl Status {
    /// The character between the brackets.
    pub fn marker(self) -> char {
        match self {
            Status::Todo => ' ',
            Status::InProgress => '/',
            Status::Done => 'x',
            Status::Cancelled => '-',
        }
    }
}

/// How links and embeds are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinkStyle {
    /// `[[reports/recon.md]]`, `![[charts/timeline.png]]` (Obsidian).
    #[default]
    Wiki,
    /// `[recon.md](reports/recon.md)`, `![timeline.png](charts/timeline.png)`.
    Markdown,
}

impl LinkStyle {
    /// A link to `target`.
    pub fn link(self, target: &str) -> String {
        match self {
            LinkStyle::Wiki => format!("[[{target}]]"),
            LinkStyle::Markdown => format!("[{}]({})", file_name(target), md_target(target)),
        }
    }

    /// An embedded image `target`.
    pub fn embed(self, target: &str) -> String {
        format!("!{}", self.link(target))
    }
}

fn file_name(target: &str) -> &str {
    target.rsplit('/').next().unwrap_or(target)
}

fn md_target(target: &str) -> String {
    if target.contains([' ', '(', ')']) {
        format!("<{target}>")
    } else {
        target.to_string()
    }
}

static LAST_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^[ \t]*(?:\*\*)?Last (?:Updated|Review)(?:\*\*)?[ \t]*:(?:\*\*)?[ \t]*([^\r\n]*?)[ \t]*\r?$").unwrap()
});
static DATE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d{4}-\d{2}-\d{2}").unwrap());

/// Where the trailing Obsidian Tasks dates of a task text begin.
fn dates_start(text: &str) -> usize {
    let mut t = text.trim_end();
    loop {
        let mut words = t.rsplitn(3, ' ');
        let last = words.next().unwrap_or("");
        let emoji = words.next().unwrap_or("");
        if DATE.is_match(last)
            && last.len() == 10
            && ["✅", "📅", "⏳", "🛫", "➕", "❌"].contains(&emoji)
        {
            t = t[..t.len() - last.len() - emoji.len() - 1].trim_end();
        } else {
            return t.len();
        }
    }
}

fn is_break_or_blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty()
        || (t.len() >= 3
            && (t.chars().all(|c| c == '-')
                || t.chars().all(|c| c == '*')
                || t.chars().all(|c| c == '_')))
}

fn is_list_line(line: &str) -> bool {
    let t = line.trim_start_matches([' ', '\t', '>']).trim_start();
    t.starts_with("- ") || t.starts_with("* ") || t.starts_with("+ ")
}

impl Tracker {
    /// Sets task `task`'s status.
    pub fn plan_status(&self, task: usize, status: Status) -> Vec<Change> {
        let t = &self.tasks[task];
        if t.status == status.marker() || (status == Status::Done && t.is_done()) {
            return Vec::new();
        }
        vec![Change {
            range: t.status_range.clone(),
            text: status.marker().to_string(),
        }]
    }

    /// Appends a link to `target` to the task's line: ` → [[target]]`, before
    /// any trailing done date. Nothing when the line already links there.
    pub fn plan_link(&self, task: usize, target: &str, style: LinkStyle) -> Vec<Change> {
        let t = &self.tasks[task];
        if t.links
            .iter()
            .any(|l| l == target || l.trim_matches(['<', '>']) == target)
        {
            return Vec::new();
        }
        let at = t.text_start + dates_start(&t.text);
        let sep = if t.text[..dates_start(&t.text)].contains(" → ") {
            " "
        } else {
            " → "
        };
        vec![Change {
            range: at..at,
            text: format!("{sep}{}", style.link(target)),
        }]
    }

    /// Appends an Obsidian Tasks done date (`✅ 2026-11-26`) unless the task has one.
    pub fn plan_done_date(&self, task: usize, date: NaiveDate) -> Vec<Change> {
        let t = &self.tasks[task];
        if t.text.contains("✅ ") && dates_start(&t.text) < t.text.trim_end().len() {
            return Vec::new();
        }
        let at = t.text_start + t.text.len();
        vec![Change {
            range: at..at,
            text: format!(" ✅ {}", date.format("%Y-%m-%d")),
        }]
    }

    /// Adds `line` as a nested bullet under the task, after its existing
    /// nested items. Nothing when the task already has that bullet.
    pub fn plan_child_line(&self, task: usize, line: &str) -> Vec<Change> {
        let t = &self.tasks[task];
        let wanted = format!("- {}", line.trim());
        let block = String::from_utf8_lossy(&self.bytes()[t.line_range.end..t.item_end]);
        if block
            .lines()
            .any(|l| l.trim_start_matches([' ', '\t', '>']).trim() == wanted)
        {
            return Vec::new();
        }
        let nl = self.newline();
        let at = t.item_end;
        let lead = if at == self.bytes().len() && !self.bytes().ends_with(b"\n") {
            nl
        } else {
            ""
        };
        vec![Change {
            range: at..at,
            text: format!("{lead}{}{wanted}{nl}", t.child_indent),
        }]
    }

    /// Adds `line` at the end of section `s`'s content (before trailing blank
    /// lines, a thematic break and the next heading). A list item continues a
    /// list that ends the section; anything else gets a blank line before it.
    /// Nothing when the section already has that line.
    pub fn plan_section_line(&self, s: usize, line: &str) -> Vec<Change> {
        let sec = &self.sections[s];
        let nl = self.newline();
        let bytes = self.bytes();
        let content = String::from_utf8_lossy(&bytes[sec.heading.end..sec.end]);
        if content.lines().any(|l| l.trim() == line.trim()) {
            return Vec::new();
        }
        // The last line of real content.
        let first = self.line_of(sec.heading.start);
        let last_line = self.line_of(sec.end.saturating_sub(1).max(sec.heading.start));
        let mut last = first;
        for n in (first..=last_line).rev() {
            if n == first || !is_break_or_blank(self.line_text(n)) {
                last = n;
                break;
            }
        }
        let last_text = self.line_text(last);
        let at = self.line_end_offset(last);
        let lead = if at == bytes.len() && !bytes.ends_with(b"\n") {
            nl
        } else {
            ""
        };
        let blank = if is_list_line(line) && is_list_line(last_text) && last != first {
            ""
        } else {
            nl
        };
        vec![Change {
            range: at..at,
            text: format!("{lead}{blank}{line}{nl}"),
        }]
    }

    /// Sets the front matter's `updated:` and the "Last Updated" / "Last
    /// Review" lines to `date`, keeping their quoting and trailing spaces.
    pub fn plan_touch(&self, date: NaiveDate) -> Vec<Change> {
        let d = date.format("%Y-%m-%d").to_string();
        let mut out = Vec::new();
        if let Some(f) = self.front_matter_field("updated") {
            let new = match f.value.chars().next() {
                Some(q @ ('"' | '\'')) => format!("{q}{d}{q}"),
                _ => d.clone(),
            };
            if f.value != new {
                out.push(Change {
                    range: f.value_range.clone(),
                    text: new,
                });
            }
        }
        let body = self.bytes().len() - self.text().len();
        for cap in LAST_LINE.captures_iter(self.text()) {
            let v = cap.get(1).expect("group");
            let (range, new) = match DATE.find(v.as_str()) {
                Some(m) => (v.start() + m.start()..v.start() + m.end(), d.clone()),
                None => (v.range(), d.clone()),
            };
            if self.text()[range.clone()] != new {
                out.push(Change {
                    range: body + range.start..body + range.end,
                    text: new,
                });
            }
        }
        out
    }

    /// Applies `changes` and parses the result.
    pub fn apply(&self, changes: &[Change], path: &Path) -> Result<Tracker, TrackerError> {
        Tracker::parse(apply_changes(self.bytes(), changes)?, path)
    }
}

/// Applies changes to bytes. Changes must not overlap; insertions at the same
/// offset keep their order.
pub fn apply_changes(bytes: &[u8], changes: &[Change]) -> Result<Vec<u8>, TrackerError> {
    let mut sorted: Vec<&Change> = changes.iter().collect();
    sorted.sort_by_key(|c| (c.range.start, c.range.end));
    let mut out =
        Vec::with_capacity(bytes.len() + changes.iter().map(|c| c.text.len()).sum::<usize>());
    let mut pos = 0;
    for c in sorted {
        if c.range.start < pos || c.range.end > bytes.len() {
            return Err(TrackerError::Overlap { at: c.range.start });
        }
        out.extend_from_slice(&bytes[pos..c.range.start]);
        out.extend_from_slice(c.text.as_bytes());
        pos = c.range.end;
    }
    out.extend_from_slice(&bytes[pos..]);
    Ok(out)
}
