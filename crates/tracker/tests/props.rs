//! Property tests: generated trackers, random edit sequences. After every
//! edit the tracker parses to the expected task states, and the edit touched
//! only its own spans.

use std::path::Path;

use proptest::prelude::*;
use sidik_tracker::edit::apply_changes;
use sidik_tracker::{LinkStyle, Status, Tracker};

const WORDS: &[&str] = &[
    "collect",
    "logs",
    "MRG",
    "UPG",
    "ðŸ”´",
    "✅",
    "café",
    "HO",
    "order",
    "gantung",
    "`code`",
    "**bold**",
    "[[link]]",
    "100k+",
];

#[derive(Debug, Clone)]
enum Block {
    Heading(usize, Vec<usize>),
    Task {
        nested: bool,
        status: char,
        words: Vec<usize>,
    },
    Quoted(char, Vec<usize>),
    Para(Vec<usize>),
    Code,
}

fn words() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0..WORDS.len(), 1..5)
}

fn status() -> impl Strategy<Value = char> {
    prop::sample::select(vec![' ', 'x', '/', '-'])
}

fn block() -> impl Strategy<Value = Block> {
    prop_oneof![
        (1usize..5, words()).prop_map(|(l, w)| Block::Heading(l, w)),
        (any::<bool>(), status(), words()).prop_map(|(n, s, w)| Block::Task {
            nested: n,
            status: s,
            words: w
        }),
        (status(), words()).prop_map(|(s, w)| Block::Quoted(s, w)),
        words().prop_map(Block::Para),
        Just(Block::Code),
    ]
}

fn text(w: &[usize]) -> String {
    w.iter().map(|&i| WORDS[i]).collect::<Vec<_>>().join(" ")
}

/// Renders blocks; returns the file and the expected (status, text) of its tasks.
fn render(blocks: &[Block], crlf: bool, bom: bool) -> (Vec<u8>, Vec<(char, String)>) {
    let mut out = String::new();
    let mut tasks = Vec::new();
    let mut prev_task = false;
    for b in blocks {
        match b {
            Block::Heading(l, w) => {
                out.push_str(&format!("\n{} {}\n\n", "#".repeat(*l), text(w)));
                prev_task = false;
            }
            Block::Task {
                nested,
                status,
                words,
            } => {
                let indent = if *nested && prev_task { "  " } else { "" };
                if !prev_task {
                    out.push('\n');
                }
                out.push_str(&format!("{indent}- [{status}] {}\n", text(words)));
                tasks.push((*status, text(words)));
                prev_task = true;
            }
            Block::Quoted(s, w) => {
                out.push_str(&format!("\n> - [{s}] {}\n\n", text(w)));
                tasks.push((*s, text(w)));
                prev_task = false;
            }
            Block::Para(w) => {
                out.push_str(&format!("\n{}\n\n", text(w)));
                prev_task = false;
            }
            Block::Code => {
                out.push_str("\n```\n- [ ] not a task\n```\n\n");
                prev_task = false;
            }
        }
    }
    let mut s = if crlf { out.replace('\n', "\r\n") } else { out };
    if bom {
        s.insert(0, '\u{feff}');
    }
    (s.into_bytes(), tasks)
}

#[derive(Debug, Clone)]
enum Op {
    Status(usize, Status),
    Link(usize, usize),
    Child(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    let st = prop::sample::select(vec![
        Status::Todo,
        Status::InProgress,
        Status::Done,
        Status::Cancelled,
    ]);
    prop_oneof![
        (any::<usize>(), st).prop_map(|(i, s)| Op::Status(i, s)),
        (any::<usize>(), 0usize..3).prop_map(|(i, k)| Op::Link(i, k)),
        (any::<usize>(), 0usize..3).prop_map(|(i, k)| Op::Child(i, k)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn edits_change_only_their_spans(
        blocks in prop::collection::vec(block(), 1..25),
        crlf in any::<bool>(),
        bom in any::<bool>(),
        ops in prop::collection::vec(op(), 0..12),
    ) {
        let (bytes, expected) = render(&blocks, crlf, bom);
        let path = Path::new("t.md");
        let mut doc = Tracker::parse(bytes, path).unwrap();
        let got: Vec<(char, String)> = doc.tasks.iter().map(|t| (t.status, t.text.clone())).collect();
        prop_assert_eq!(&got, &expected);
        let mut model: Vec<char> = expected.iter().map(|t| t.0).collect();
        if model.is_empty() {
            return Ok(());
        }
        for op in ops {
            let (i, changes) = match op {
                Op::Status(i, s) => {
                    let i = i % model.len();
                    let c = doc.plan_status(i, s);
                    if !(s == Status::Done && matches!(model[i], 'x' | 'X')) {
                        model[i] = s.marker();
                    }
                    (i, c)
                }
                Op::Link(i, k) => {
                    let i = i % model.len();
                    (i, doc.plan_link(i, &format!("reports/r{k}.md"), if k == 1 { LinkStyle::Markdown } else { LinkStyle::Wiki }))
                }
                Op::Child(i, k) => {
                    let i = i % model.len();
                    (i, doc.plan_child_line(i, &format!("result {k}")))
                }
            };
            let t = doc.tasks[i].clone();
            for c in &changes {
                if c.range.is_empty() {
                    // Insertions stay on the task's line or its item.
                    prop_assert!(c.range.start >= t.line_range.start && c.range.start <= t.item_end, "{:?} outside task {:?}", c, t);
                } else {
                    prop_assert_eq!(&c.range, &t.status_range, "only the status may be replaced");
                }
            }
            let before = doc.bytes().to_vec();
            let next = doc.apply(&changes, path).unwrap();
            let rebuilt = apply_changes(&before, &changes).unwrap();
            prop_assert_eq!(next.bytes(), rebuilt.as_slice());
            let states: Vec<char> = next.tasks.iter().map(|t| t.status).collect();
            prop_assert_eq!(&states, &model);
            // The edited task keeps its own words.
            prop_assert_eq!(doc.tasks[i].title(), next.tasks[i].title());
            // Every other task's own words are unchanged.
            for (k, (a, b)) in doc.tasks.iter().zip(&next.tasks).enumerate() {
                if k != i {
                    prop_assert_eq!(&a.text, &b.text);
                }
            }
            // Re-planning the same edit is a no-op.
            let again = match &op {
                Op::Status(_, s) => next.plan_status(i, *s),
                Op::Link(_, k) => next.plan_link(i, &format!("reports/r{k}.md"), LinkStyle::Wiki),
                Op::Child(_, k) => next.plan_child_line(i, &format!("result {k}")),
            };
            prop_assert!(again.is_empty(), "not idempotent: {:?}", again);
            if crlf {
                let s = String::from_utf8(next.bytes().to_vec()).unwrap();
                prop_assert_eq!(s.matches('\n').count(), s.matches("\r\n").count());
            }
            doc = next;
        }
    }

    #[test]
    fn parsing_arbitrary_text_never_panics_and_markers_are_bracketed(s in "[-#>*+ \\[\\]xX/\n\r\t`%a-c0-9.é🔴]{0,200}") {
        if let Ok(doc) = Tracker::parse(s.clone().into_bytes(), Path::new("t.md")) {
            for t in &doc.tasks {
                let b = doc.bytes();
                prop_assert_eq!(b[t.status_range.start - 1], b'[');
                prop_assert_eq!(b[t.status_range.end], b']');
            }
        }
    }
}
