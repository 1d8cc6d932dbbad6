//! Reading a tracker: front matter, sections (heading paths) and tasks, each
//! with its line and byte range in the file.
//!
//! pulldown-cmark finds the structure (headings, list items, code blocks,
//! block quotes) with byte offsets; sidik reads the task marker itself at the
//! item's offset, because pulldown-cmark only knows `[ ]` and `[x]` while
//! Obsidian Tasks also uses `[/]`, `[-]` and others.

use std::ops::Range;
use std::path::Path;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use serde::Serialize;

use crate::text::fold;
use crate::TrackerError;

/// The UTF-8 byte-order mark.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A heading and the part of the file it governs.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    /// Heading level, 1-6.
    pub level: u8,
    /// Heading text as written (without `#`s), mojibake and markup included.
    pub title: String,
    /// Titles of the enclosing headings, outermost first, then this one.
    pub path: Vec<String>,
    /// 1-based line of the heading.
    pub line: usize,
    /// Byte range of the heading line (without its line ending).
    pub heading: Range<usize>,
    /// Byte offset where the section ends: the next heading of the same or a
    /// higher level, or the end of the file.
    pub end: usize,
}

/// A task list item.
#[derive(Debug, Clone, Serialize)]
pub struct Task {
    /// 1-based line.
    pub line: usize,
    /// The status character between the brackets: ' ', 'x', '/', '-', ...
    pub status: char,
    /// Byte range of the status character.
    pub status_range: Range<usize>,
    /// Byte range of the whole line (without its line ending).
    pub line_range: Range<usize>,
    /// Text after `[ ] `, as written.
    pub text: String,
    /// Byte offset where the task text starts.
    pub text_start: usize,
    /// Byte offset just after the last line of the item (its nested items included).
    pub item_end: usize,
    /// Index of the innermost section holding the task, if any.
    pub section: Option<usize>,
    /// Nesting depth among list items (0 = top level).
    pub depth: usize,
    /// Index of the enclosing task, if the task is nested in one.
    pub parent: Option<usize>,
    /// What precedes nested content: the line's prefix (indentation, `> `) plus
    /// spaces up to the task's content column.
    pub child_indent: String,
    /// `[[wiki]]` and `[text](target)` link targets on the line.
    pub links: Vec<String>,
}

impl Task {
    /// Whether the status means done (`x` or `X`).
    pub fn is_done(&self) -> bool {
        matches!(self.status, 'x' | 'X')
    }

    /// The task's own words: the text without the evidence links sidik
    /// appends (` → …`) and without trailing Obsidian Tasks dates (`✅ 2026-01-27`).
    pub fn title(&self) -> &str {
        title_of(&self.text)
    }
}

/// See [`Task::title`].
pub fn title_of(text: &str) -> &str {
    let mut t = text;
    if let Some(i) = t.find(" → ") {
        t = &t[..i];
    }
    // Obsidian Tasks metadata sits at the end: emoji + date, possibly several.
    loop {
        let trimmed = t.trim_end();
        let mut words = trimmed.rsplitn(3, ' ');
        let last = words.next().unwrap_or("");
        let emoji = words.next().unwrap_or("");
        let is_date = last.len() == 10 && last.as_bytes()[4] == b'-' && last.as_bytes()[7] == b'-';
        if is_date && ["✅", "📅", "⏳", "🛫", "➕", "❌"].contains(&emoji) {
            t = &trimmed[..trimmed.len() - last.len() - emoji.len() - 1];
            continue;
        }
        return trimmed;
    }
}

/// A `key: value` line of the YAML front matter.
#[derive(Debug, Clone, Serialize)]
pub struct FrontMatterField {
    /// The key.
    pub key: String,
    /// The value as written (quotes included).
    pub value: String,
    /// Byte range of the value.
    pub value_range: Range<usize>,
}

/// The YAML front matter between the first two `---` lines.
#[derive(Debug, Clone, Serialize)]
pub struct FrontMatter {
    /// Byte range from the opening `---` to the end of the closing one.
    pub range: Range<usize>,
    /// Byte offset of the closing `---` line.
    pub close: usize,
    /// Top-level `key: value` fields.
    pub fields: Vec<FrontMatterField>,
}

/// A parsed tracker. Offsets are into [`Tracker::bytes`], the whole file.
#[derive(Debug, Clone)]
pub struct Tracker {
    bytes: Vec<u8>,
    body: usize,
    line_starts: Vec<usize>,
    newline: &'static str,
    /// The front matter, if the file has one.
    pub front_matter: Option<FrontMatter>,
    /// Headings in file order.
    pub sections: Vec<Section>,
    /// Tasks in file order.
    pub tasks: Vec<Task>,
}

impl Tracker {
    /// Parses tracker bytes; `path` is used in error messages only.
    pub fn parse(bytes: Vec<u8>, path: &Path) -> Result<Tracker, TrackerError> {
        let body = if bytes.starts_with(BOM) { BOM.len() } else { 0 };
        if let Err(e) = std::str::from_utf8(&bytes[body..]) {
            let at = body + e.valid_up_to();
            let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            let col = at
                - bytes[..at]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |p| p + 1)
                + 1;
            return Err(TrackerError::NotUtf8 {
                path: path.to_path_buf(),
                line,
                column: col,
                byte: bytes[at],
            });
        }
        let text = std::str::from_utf8(&bytes[body..]).expect("checked");
        let mut line_starts = vec![0];
        line_starts.extend(
            bytes
                .iter()
                .enumerate()
                .filter(|(_, &b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        let crlf = text.matches("\r\n").count();
        let newline = if crlf * 2 > text.matches('\n').count() {
            "\r\n"
        } else {
            "\n"
        };

        let mut t = Tracker {
            bytes: Vec::new(),
            body,
            line_starts,
            newline,
            front_matter: None,
            sections: Vec::new(),
            tasks: Vec::new(),
        };
        t.front_matter = front_matter(text, body);
        t.scan(text);
        t.bytes = bytes;
        Ok(t)
    }

    fn scan(&mut self, text: &str) {
        let body = self.body;
        let opts = Options::ENABLE_YAML_STYLE_METADATA_BLOCKS
            | Options::ENABLE_GFM
            | Options::ENABLE_TABLES;
        let mut code: Vec<Range<usize>> = Vec::new();
        // (task index if the item is a task, item range)
        let mut items: Vec<Option<usize>> = Vec::new();
        let mut heading_stack: Vec<(u8, usize)> = Vec::new();
        for (event, range) in Parser::new_ext(text, opts).into_offset_iter() {
            match event {
                Event::Start(Tag::Heading { level, .. }) => {
                    let level = level as u8;
                    let line_start = line_start_of(text, range.start);
                    let line_end = line_end_of(text, range.start);
                    let raw = &text[line_start..line_end];
                    let title = raw
                        .trim_start_matches([' ', '\t'])
                        .trim_start_matches('#')
                        .trim()
                        .trim_end_matches('#')
                        .trim()
                        .to_string();
                    // Close sections this heading ends.
                    while let Some(&(l, idx)) = heading_stack.last() {
                        if l >= level {
                            self.sections[idx].end = body + line_start;
                            heading_stack.pop();
                        } else {
                            break;
                        }
                    }
                    let mut path: Vec<String> = heading_stack
                        .iter()
                        .map(|&(_, i)| self.sections[i].title.clone())
                        .collect();
                    path.push(title.clone());
                    let idx = self.sections.len();
                    self.sections.push(Section {
                        level,
                        title,
                        path,
                        line: self.line_of(body + line_start),
                        heading: body + line_start..body + line_end,
                        end: body + text.len(),
                    });
                    heading_stack.push((level, idx));
                }
                Event::Start(Tag::CodeBlock(_)) | Event::Code(_) | Event::Start(Tag::HtmlBlock) => {
                    code.push(range)
                }
                Event::Start(Tag::Item) => {
                    let task = self.task_at(
                        text,
                        range.start,
                        range.end,
                        &items,
                        heading_stack.last().map(|&(_, i)| i),
                    );
                    if let Some(task) = task {
                        self.tasks.push(task);
                        items.push(Some(self.tasks.len() - 1));
                    } else {
                        items.push(None);
                    }
                }
                Event::End(TagEnd::Item) => {
                    items.pop();
                }
                _ => {}
            }
        }
        // Obsidian comments (%% … %%) hide what is inside them.
        let comments = obsidian_comments(text, &code);
        if !comments.is_empty() {
            let hidden: Vec<bool> = self
                .tasks
                .iter()
                .map(|t| {
                    comments
                        .iter()
                        .any(|c| c.contains(&(t.status_range.start - body)))
                })
                .collect();
            let mut remap = vec![None; self.tasks.len()];
            let mut kept = Vec::new();
            for (i, t) in self.tasks.drain(..).enumerate() {
                if !hidden[i] {
                    remap[i] = Some(kept.len());
                    kept.push(t);
                }
            }
            for t in &mut kept {
                t.parent = t.parent.and_then(|p| remap[p]);
            }
            self.tasks = kept;
        }
    }

    /// Reads a task marker at `pos` (start of a list item in `text`).
    fn task_at(
        &self,
        text: &str,
        pos: usize,
        end: usize,
        items: &[Option<usize>],
        section: Option<usize>,
    ) -> Option<Task> {
        let body = self.body;
        let b = text.as_bytes();
        // pulldown-cmark may start an item at the preceding line ending or at a tab.
        let mut pos = pos;
        while matches!(b.get(pos), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            pos += 1;
        }
        let mut i = pos;
        // List marker: - * + or 1. 1)
        match b.get(i)? {
            b'-' | b'*' | b'+' => i += 1,
            c if c.is_ascii_digit() => {
                while b.get(i).is_some_and(|c| c.is_ascii_digit()) {
                    i += 1;
                }
                if !matches!(b.get(i), Some(b'.') | Some(b')')) {
                    return None;
                }
                i += 1;
            }
            _ => return None,
        }
        let spaces = i;
        while matches!(b.get(i), Some(b' ') | Some(b'\t')) {
            i += 1;
        }
        if i == spaces || b.get(i) != Some(&b'[') {
            return None;
        }
        let content = i;
        let status = text[i + 1..].chars().next()?;
        if status == '\n' || status == '\r' || status == ']' {
            return None;
        }
        let close = i + 1 + status.len_utf8();
        if b.get(close) != Some(&b']') {
            return None;
        }
        let after = close + 1;
        if !matches!(
            b.get(after),
            None | Some(b' ') | Some(b'\t') | Some(b'\r') | Some(b'\n')
        ) {
            return None;
        }
        let line_start = line_start_of(text, pos);
        let line_end = line_end_of(text, pos);
        let text_start = (after + 1).min(line_end);
        let task_text = text[text_start..line_end].trim_end().to_string();
        let prefix = &text[line_start..pos];
        let child_indent = format!("{prefix}{}", " ".repeat(content - pos));
        let item_end = item_end(text, end);
        let parent = items.iter().rev().find_map(|x| *x);
        Some(Task {
            line: self.line_of(body + pos),
            status,
            status_range: body + i + 1..body + close,
            line_range: body + line_start..body + line_end,
            links: links_in(&task_text),
            text: task_text,
            text_start: body + text_start,
            item_end: body + item_end,
            section,
            depth: items.len(),
            parent,
            child_indent,
        })
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The file as text (after a byte-order mark, if any).
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.bytes[self.body..]).expect("checked at parse")
    }

    /// Whether the file starts with a byte-order mark.
    pub fn has_bom(&self) -> bool {
        self.body > 0
    }

    /// The line ending the file mostly uses.
    pub fn newline(&self) -> &'static str {
        self.newline
    }

    /// 1-based line holding byte `offset`.
    pub fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset)
    }

    /// The text of 1-based line `n` (without its line ending).
    pub fn line_text(&self, n: usize) -> &str {
        let start = self.line_starts[n - 1];
        let end = self.line_starts.get(n).copied().unwrap_or(self.bytes.len());
        std::str::from_utf8(&self.bytes[start..end])
            .unwrap_or("")
            .trim_end_matches(['\n', '\r'])
    }

    /// Byte offset just after line `n`'s line ending (the end of the file for the last line).
    pub fn line_end_offset(&self, n: usize) -> usize {
        self.line_starts.get(n).copied().unwrap_or(self.bytes.len())
    }

    /// The value of a front matter field.
    pub fn front_matter_field(&self, key: &str) -> Option<&FrontMatterField> {
        self.front_matter
            .as_ref()?
            .fields
            .iter()
            .find(|f| f.key == key)
    }

    /// The heading path of a task, joined with ` > `.
    pub fn section_path(&self, task: &Task) -> String {
        task.section
            .map(|s| self.sections[s].path.join(" > "))
            .unwrap_or_default()
    }

    /// Indices of the tasks inside section `s` (its subsections included).
    pub fn tasks_in(&self, s: usize) -> impl Iterator<Item = usize> + '_ {
        let sec = &self.sections[s];
        self.tasks
            .iter()
            .enumerate()
            .filter(move |(_, t)| {
                t.line_range.start > sec.heading.start && t.line_range.start < sec.end
            })
            .map(|(i, _)| i)
    }

    /// Folded title of section `s`, for matching.
    pub fn folded_section(&self, s: usize) -> String {
        fold(&self.sections[s].title)
    }
}

fn line_start_of(text: &str, pos: usize) -> usize {
    text[..pos].rfind('\n').map_or(0, |i| i + 1)
}

fn line_end_of(text: &str, pos: usize) -> usize {
    let end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
    if end > pos && text.as_bytes()[end - 1] == b'\r' {
        end - 1
    } else {
        end
    }
}

/// End of an item: just after the line ending of its last non-blank line.
fn item_end(text: &str, end: usize) -> usize {
    let end = end.min(text.len());
    let trimmed = text[..end].trim_end_matches([' ', '\t', '\r', '\n']).len();
    match text[trimmed..].find('\n') {
        Some(i) => trimmed + i + 1,
        None => text.len(),
    }
}

/// Targets of `[[wiki]]`, `![[embed]]` and `[text](target)` links in a line.
fn links_in(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("[[") {
        let after = &rest[i + 2..];
        match after.find("]]") {
            Some(j) => {
                let inner = &after[..j];
                out.push(inner.split('|').next().unwrap_or(inner).trim().to_string());
                rest = &after[j + 2..];
            }
            None => break,
        }
    }
    let mut rest = line;
    while let Some(i) = rest.find("](") {
        let after = &rest[i + 2..];
        match after.find(')') {
            Some(j) => {
                out.push(after[..j].trim_matches(['<', '>']).to_string());
                rest = &after[j + 1..];
            }
            None => break,
        }
    }
    out
}

/// The YAML front matter: `---` on the first line, up to the next `---` or `...` line.
fn front_matter(text: &str, body: usize) -> Option<FrontMatter> {
    let first_end = text.find('\n')?;
    if text[..first_end].trim_end() != "---" {
        return None;
    }
    let mut pos = first_end + 1;
    let mut fields = Vec::new();
    while pos < text.len() {
        let end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
        let line = text[pos..end].trim_end_matches('\r');
        if line.trim_end() == "---" || line.trim_end() == "..." {
            return Some(FrontMatter {
                range: body..body + end,
                close: body + pos,
                fields,
            });
        }
        if !line.starts_with([' ', '\t', '#', '-']) {
            if let Some(colon) = line.find(':') {
                let key = line[..colon].trim().to_string();
                let raw = &line[colon + 1..];
                let lead = raw.len() - raw.trim_start().len();
                let value = raw.trim().to_string();
                let vstart = pos + colon + 1 + lead;
                fields.push(FrontMatterField {
                    key,
                    value_range: body + vstart..body + vstart + value.len(),
                    value,
                });
            }
        }
        pos = end + 1;
    }
    None
}

/// Ranges hidden by Obsidian `%% … %%` comments, outside code.
fn obsidian_comments(text: &str, code: &[Range<usize>]) -> Vec<Range<usize>> {
    let marks: Vec<usize> = text
        .match_indices("%%")
        .map(|(i, _)| i)
        .filter(|i| !code.iter().any(|c| c.contains(i)))
        .collect();
    marks
        .chunks(2)
        .map(|p| p[0]..p.get(1).map_or(text.len(), |e| e + 2))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Tracker {
        Tracker::parse(s.as_bytes().to_vec(), Path::new("t.md")).unwrap()
    }

    #[test]
    fn reads_statuses_nesting_blockquotes_and_skips_code() {
        let t = parse(
            "# A\n- [ ] one\n  - [x] two\n    - [/] three\n- [-] four\n> - [ ] quoted\n> [!note]\n> - [X] callout\n```\n- [ ] code\n```\n* [ ] star\n1. [ ] numbered\n- not a task\n- [ ]\n%% - [ ] hidden %%\n",
        );
        let s: Vec<(usize, char, &str, usize, Option<usize>)> = t
            .tasks
            .iter()
            .map(|x| (x.line, x.status, x.text.as_str(), x.depth, x.parent))
            .collect();
        assert_eq!(
            s,
            vec![
                (2, ' ', "one", 0, None),
                (3, 'x', "two", 1, Some(0)),
                (4, '/', "three", 2, Some(1)),
                (5, '-', "four", 0, None),
                (6, ' ', "quoted", 0, None),
                (8, 'X', "callout", 0, None),
                (12, ' ', "star", 0, None),
                (13, ' ', "numbered", 0, None),
                (15, ' ', "", 0, None),
            ]
        );
        assert_eq!(t.tasks[4].child_indent, ">   ");
        assert_eq!(t.tasks[1].child_indent, "    ");
        assert_eq!(&t.bytes()[t.tasks[0].status_range.clone()], b" ");
    }

    #[test]
    fn tab_indented_nesting() {
        let t = parse("- [ ] parent\n\t- [x] tabbed child\n");
        assert_eq!(t.tasks.len(), 2);
        assert_eq!(t.tasks[1].parent, Some(0));
        assert_eq!(t.tasks[1].child_indent, "\t  ");
        let c = t.plan_child_line(1, "note");
        let out = crate::edit::apply_changes(t.bytes(), &c).unwrap();
        assert_eq!(out, b"- [ ] parent\n\t- [x] tabbed child\n\t  - note\n");
    }

    #[test]
    fn sections_have_paths_and_ends() {
        let t = parse("# A\n## B\n- [ ] in b\n### C\n- [ ] in c\n## D\n- [ ] in d\n");
        let paths: Vec<String> = t.sections.iter().map(|s| s.path.join(" > ")).collect();
        assert_eq!(paths, vec!["A", "A > B", "A > B > C", "A > D"]);
        assert_eq!(t.tasks_in(1).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(t.tasks_in(3).collect::<Vec<_>>(), vec![2]);
        assert_eq!(t.section_path(&t.tasks[1]), "A > B > C");
    }

    #[test]
    fn crlf_bom_and_front_matter() {
        let t = parse("\u{feff}---\r\ntitle: \"x\"\r\nupdated: 2026-01-27\r\n---\r\n# H\r\n- [ ] a task  \r\n");
        assert!(t.has_bom());
        assert_eq!(t.newline(), "\r\n");
        let f = t.front_matter_field("updated").unwrap();
        assert_eq!(&t.bytes()[f.value_range.clone()], b"2026-01-27");
        assert_eq!(t.front_matter_field("title").unwrap().value, "\"x\"");
        assert_eq!(t.tasks[0].text, "a task");
        assert_eq!(t.tasks[0].line, 6);
        assert_eq!(t.sections[0].title, "H");
    }

    #[test]
    fn titles_drop_sidik_links_and_done_dates() {
        assert_eq!(
            title_of("Collect logs → [[reports/logs.md]] ✅ 2026-11-26"),
            "Collect logs"
        );
        assert_eq!(title_of("Collect logs ✅ 2026-11-26"), "Collect logs");
        assert_eq!(title_of("Plain"), "Plain");
    }

    #[test]
    fn links_are_found() {
        assert_eq!(
            links_in("a [[x/y.md|Y]] b ![[c.png]] [t](r.md)"),
            vec!["x/y.md", "c.png", "r.md"]
        );
    }

    #[test]
    fn invalid_utf8_names_line_and_column() {
        let e = Tracker::parse(b"ok\nab\x93c\n".to_vec(), Path::new("t.md"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.md:2:3") && e.contains("0x93"), "{e}");
    }
}
