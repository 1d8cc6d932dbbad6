//! The real seed tracker (mojibake included): reading, matching, ticking
//! every task byte-exactly in LF, CRLF and BOM copies, touching dates,
//! repairing mojibake, and safe saving.

use std::path::Path;

use chrono::NaiveDate;
use sidik_tracker::ops::{self, Tick};
use sidik_tracker::{LinkStyle, Status, Tracker, TrackerError, TrackerFile};

const SEED: &[u8] = include_bytes!("../../sample/assets/tracker.md");

fn parse(bytes: &[u8]) -> Tracker {
    Tracker::parse(bytes.to_vec(), Path::new("tracker.md")).unwrap()
}

/// An independent scan of the seed: `- [ ]` / `- [x]` lines outside code
/// fences, with the nearest heading above.
fn expected_tasks(text: &str) -> Vec<(usize, char, String, String)> {
    let mut out = Vec::new();
    let mut heading = String::new();
    let mut fenced = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        if line.starts_with('#') {
            heading = line.trim_start_matches('#').trim().to_string();
            continue;
        }
        let t = line.trim_start();
        if let Some(rest) = t
            .strip_prefix("- [")
            .filter(|r| r.chars().nth(1) == Some(']'))
        {
            let status = rest.chars().next().unwrap();
            out.push((
                i + 1,
                status,
                rest[3..].trim_end().to_string(),
                heading.clone(),
            ));
        }
    }
    out
}

#[test]
fn every_seed_task_is_listed_with_its_section_and_line() {
    let doc = parse(SEED);
    let text = std::str::from_utf8(SEED).unwrap();
    let expected = expected_tasks(text);
    assert_eq!(expected.len(), 63, "the seed has 63 tasks");
    let got: Vec<(usize, char, String, String)> = doc
        .tasks
        .iter()
        .map(|t| {
            (
                t.line,
                t.status,
                t.text.clone(),
                doc.sections[t.section.unwrap()].title.clone(),
            )
        })
        .collect();
    assert_eq!(got, expected);
    let fm = doc.front_matter.as_ref().unwrap();
    assert_eq!(
        fm.fields.iter().map(|f| f.key.as_str()).collect::<Vec<_>>(),
        ["title", "type", "date", "status", "updated"]
    );
}

fn variants() -> Vec<(&'static str, Vec<u8>)> {
    let crlf = String::from_utf8(SEED.to_vec())
        .unwrap()
        .replace('\n', "\r\n")
        .into_bytes();
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(SEED);
    vec![("LF", SEED.to_vec()), ("CRLF", crlf), ("BOM", bom)]
}

#[test]
fn ticking_each_task_changes_only_its_marker_and_appended_link() {
    for (name, original) in variants() {
        let mut doc = parse(&original);
        let count = doc.tasks.len();
        for k in 0..count {
            let before = doc.bytes().to_vec();
            let task = doc.tasks[k].clone();
            let section = doc.sections[task.section.unwrap()].path.join(" > ");
            let link = format!("reports/task-{k}.md");
            let edited = ops::tick(
                &doc,
                Path::new("tracker.md"),
                &Tick {
                    section: Some(&section),
                    task: task.title(),
                    status: Status::Done,
                    link: Some(&link),
                    style: LinkStyle::Wiki,
                    result: None,
                    done_date: None,
                },
            )
            .unwrap_or_else(|e| panic!("{name}: task {k} on line {}: {e}", task.line));
            assert_eq!(edited.line, task.line, "{name}: matched the wrong task");
            // Build the expected bytes by hand: marker byte, then the link at the line's end.
            let marker = before
                .windows(3)
                .enumerate()
                .skip(line_start(&before, task.line))
                .find(|(_, w)| w[0] == b'[' && w[2] == b']')
                .map(|(i, _)| i + 1)
                .unwrap();
            let mut eol = marker;
            while eol < before.len() && before[eol] != b'\n' {
                eol += 1;
            }
            if eol > 0 && before[eol - 1] == b'\r' {
                eol -= 1;
            }
            let mut expected = before.clone();
            if !matches!(expected[marker], b'x' | b'X') {
                expected[marker] = b'x';
            }
            let insert = format!(" → [[{link}]]");
            expected.splice(eol..eol, insert.bytes());
            assert!(
                edited.doc.bytes() == expected.as_slice(),
                "{name}: task {k} (line {}) changed other bytes",
                task.line
            );
            assert!(edited.doc.tasks[k].is_done());
            doc = edited.doc;
        }
        // Untick-free round trip: every task done, everything else unchanged.
        assert!(doc.tasks.iter().all(|t| t.is_done()));
        assert_eq!(doc.tasks.len(), count);
        if name == "BOM" {
            assert!(doc.bytes().starts_with(b"\xEF\xBB\xBF"));
        }
        if name == "CRLF" {
            let text = String::from_utf8(doc.bytes().to_vec()).unwrap();
            assert_eq!(
                text.matches('\n').count(),
                text.matches("\r\n").count(),
                "a bare LF crept in"
            );
        }
    }
}

fn line_start(bytes: &[u8], line: usize) -> usize {
    if line == 1 {
        return 0;
    }
    bytes
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .nth(line - 2)
        .map(|(i, _)| i + 1)
        .unwrap()
}

#[test]
fn clean_queries_find_tasks_in_the_mojibake_file() {
    let doc = parse(SEED);
    let i = doc
        .find_task(
            Some("🔴 HIGH PRIORITY > Traffic Spike Analysis > Phase 2"),
            "Map timeline: spike → errors → degradation",
        )
        .unwrap();
    assert_eq!(doc.tasks[i].line, 98);
    let i = doc
        .find_task(Some("Phase 1"), "collect METRICS dari huawei cloud")
        .unwrap();
    assert_eq!(doc.tasks[i].line, 88);
    // A partial query that is unique.
    let i = doc.find_task(Some("Phase 4"), "reconciliation").unwrap();
    assert_eq!(doc.tasks[i].text, "Payment reconciliation process");
    // The section heading is mojibake; its folded text still matches.
    let s = doc.find_section("✅ COMPLETED RECENTLY").unwrap();
    assert_eq!(doc.sections[s].line, 225);
}

#[test]
fn no_match_and_ambiguity_list_candidates_with_lines() {
    let doc = parse(SEED);
    let err = doc
        .find_task(Some("Phase 1"), "Collect traces from Jaeger")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no task matches \"Collect traces from Jaeger\" in section \"Phase 1\""),
        "{err}"
    );
    assert!(
        err.contains("line 88: Collect metrics dari Huawei Cloud (12 Jan full day)"),
        "{err}"
    );
    let err = doc.find_task(None, "load test").unwrap_err().to_string();
    assert!(err.starts_with("several tasks match"), "{err}");
    assert!(
        err.contains("line 117:") && err.contains("line 156:") && err.contains("line 272:"),
        "{err}"
    );
    let err = doc.find_section("Phase 9").unwrap_err();
    assert!(matches!(err, TrackerError::NoSection { .. }));
    assert!(err.to_string().contains("line 87: "), "{err}");
}

#[test]
fn results_charts_notes_and_dates_land_where_expected_and_repeat_as_no_ops() {
    let path = Path::new("tracker.md");
    let doc = parse(SEED);
    let date = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let tick = Tick {
        section: Some("Phase 1"),
        task: "Query database untuk list order gantung",
        status: Status::Done,
        link: Some("reports/stuck-orders.md"),
        style: LinkStyle::Markdown,
        result: Some("235 orders stuck in ACTIVE\n since 19:12 WIB"),
        done_date: Some(date),
    };
    let a = ops::tick(&doc, path, &tick).unwrap();
    let text = String::from_utf8(a.doc.bytes().to_vec()).unwrap();
    assert!(text.contains(
        "- [x] Query database untuk list order gantung → [stuck-orders.md](reports/stuck-orders.md) ✅ 2026-11-26\n  - 235 orders stuck in ACTIVE since 19:12 WIB\n- [ ] Collect payment transaction records"
    ), "{text}");
    let again = ops::tick(&a.doc, path, &tick).unwrap();
    assert!(again.changes.is_empty(), "{:?}", again.changes);

    let b = ops::attach(
        &a.doc,
        path,
        "Phase 2",
        Some("Map timeline"),
        "charts/timeline.png",
        LinkStyle::Wiki,
    )
    .unwrap();
    let text = String::from_utf8(b.doc.bytes().to_vec()).unwrap();
    assert!(text.contains("- [ ] Map timeline: spike â†’ errors â†’ degradation\n  - ![[charts/timeline.png]]\n- [ ] Identify"), "{text}");
    let c = ops::attach(
        &b.doc,
        path,
        "Success Criteria",
        None,
        "charts/recon.png",
        LinkStyle::Wiki,
    )
    .unwrap();
    let text = String::from_utf8(c.doc.bytes().to_vec()).unwrap();
    assert!(
        text.contains("- [ ] Load test successful (100k+ users)\n\n![[charts/recon.png]]\n\n---\n"),
        "{text}"
    );
    assert!(ops::attach(
        &c.doc,
        path,
        "Success Criteria",
        None,
        "charts/recon.png",
        LinkStyle::Wiki
    )
    .unwrap()
    .changes
    .is_empty());

    let d = ops::note(
        &c.doc,
        path,
        "Phase 3",
        "primary cause: pool exhaustion",
        date,
    )
    .unwrap();
    let text = String::from_utf8(d.doc.bytes().to_vec()).unwrap();
    assert!(text.contains("- [ ] Identify contributing factors\n- 2026-11-26: primary cause: pool exhaustion\n\n##### Phase 4"), "{text}");

    let e = ops::touch(&d.doc, path, date).unwrap();
    assert_eq!(e.changes.len(), 3, "{:?}", e.changes);
    let text = String::from_utf8(e.doc.bytes().to_vec()).unwrap();
    assert!(text.contains("updated: 2026-11-26\n---"));
    assert!(text.contains("**Last Updated**: 2026-11-26  \n"));
    assert!(text.contains("**Last Review**: 2026-11-26  \n**Next Review**: 2026-02-03"));
    assert!(
        text.contains("date: 2026-01-27"),
        "the creation date must stay"
    );
    assert!(ops::touch(&e.doc, path, date).unwrap().changes.is_empty());
}

#[test]
fn repair_restores_every_emoji_and_nothing_else() {
    let doc = parse(SEED);
    let r = ops::repair(&doc, Path::new("tracker.md")).unwrap();
    assert!(
        r.spans.iter().all(|s| s.repaired.is_some()),
        "unrepairable spans in the seed: {:?}",
        r.spans
    );
    let before = String::from_utf8(SEED.to_vec()).unwrap();
    let after = String::from_utf8(r.edited.doc.bytes().to_vec()).unwrap();
    // Each mojibake form became its emoji, as many times as it occurred.
    for (moji, emoji) in [
        ("ðŸ”´", "🔴"),
        ("ðŸŸ¡", "🟡"),
        ("ðŸ“Š", "📊"),
        ("ðŸ“‹", "📋"),
        ("ðŸ”—", "🔗"),
        ("âœ…", "✅"),
        ("âœ“", "✓"),
        ("â†’", "→"),
        ("â”œâ”€â”€", "├──"),
        ("â””â”€â”€", "└──"),
    ] {
        let n = before.matches(moji).count();
        assert!(n > 0, "{moji} not in the seed");
        assert_eq!(after.matches(emoji).count(), n, "{emoji}");
        assert_eq!(after.matches(moji).count(), 0, "{moji} left");
    }
    // Nothing else changed: the ASCII skeletons are identical.
    let ascii = |s: &str| s.chars().filter(|c| c.is_ascii()).collect::<String>();
    assert_eq!(ascii(&before), ascii(&after));
    assert!(!after.contains(['ð', 'â', 'Ÿ']));
    // Repairing a clean file changes nothing.
    let again = ops::repair(&r.edited.doc, Path::new("tracker.md")).unwrap();
    assert!(again.edited.changes.is_empty() && again.spans.is_empty());
}

fn tick_export_logs(file: &TrackerFile, path: &Path) -> sidik_tracker::ops::Edited {
    ops::tick(
        file.doc(),
        path,
        &Tick {
            section: Some("Phase 1"),
            task: "Export logs",
            status: Status::Done,
            link: None,
            style: LinkStyle::Wiki,
            result: None,
            done_date: None,
        },
    )
    .unwrap()
}

#[test]
fn a_change_made_after_reading_is_merged_when_it_touches_other_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("tracker.md");
    std::fs::write(&path, SEED).unwrap();
    let file = TrackerFile::open(&path).unwrap();
    let edited = tick_export_logs(&file, &path);
    // Someone appends to the file meanwhile.
    let mut theirs = SEED.to_vec();
    theirs.extend_from_slice(b"\n- [ ] added by hand\n");
    std::fs::write(&path, &theirs).unwrap();
    let saved = file.save(&edited.doc, false).unwrap();
    assert_eq!(
        saved,
        sidik_tracker::Saved::Written {
            backup: None,
            merged: true
        }
    );
    let mut want = edited.doc.bytes().to_vec();
    want.extend_from_slice(b"\n- [ ] added by hand\n");
    assert_eq!(std::fs::read(&path).unwrap(), want);
}

#[test]
fn a_change_of_the_same_line_is_refused_and_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("tracker.md");
    std::fs::write(&path, SEED).unwrap();
    let file = TrackerFile::open(&path).unwrap();
    let edited = tick_export_logs(&file, &path);
    let line = edited.line;
    // Someone rewrites that very task meanwhile.
    let text = String::from_utf8(SEED.to_vec()).unwrap();
    let task_line = text.split_inclusive('\n').nth(line - 1).unwrap();
    let theirs = text.replacen(task_line, &task_line.replacen("[ ]", "[-]", 1), 1);
    std::fs::write(&path, &theirs).unwrap();
    let err = file.save(&edited.doc, false).unwrap_err();
    assert!(
        matches!(err, TrackerError::Conflict { line: l, .. } if l == line),
        "{err}"
    );
    assert!(err.to_string().contains("nothing was written"), "{err}");
    assert!(
        err.to_string().contains(&format!("tracker.md:{line}:")),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), theirs.as_bytes());
}

#[test]
fn saving_follows_symlinks_keeps_permissions_and_can_back_up() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("vault/tracker.md");
    std::fs::create_dir_all(real.parent().unwrap()).unwrap();
    std::fs::write(&real, SEED).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
    let link = tmp.path().join("tracker.md");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let file = TrackerFile::open(&link).unwrap();
    let edited = ops::touch(
        file.doc(),
        &link,
        NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
    )
    .unwrap();
    let saved = file.save(&edited.doc, true).unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the symlink was replaced"
    );
    assert_eq!(std::fs::read(&real).unwrap(), edited.doc.bytes());
    assert_eq!(
        std::fs::metadata(&real).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let backup = tmp.path().join("vault/tracker.md.bak");
    assert_eq!(
        saved,
        sidik_tracker::Saved::Written {
            backup: Some(backup.clone()),
            merged: false
        }
    );
    assert_eq!(std::fs::read(backup).unwrap(), SEED);
    // Saving what was read writes nothing.
    let file = TrackerFile::open(&link).unwrap();
    assert_eq!(
        file.save(&file.doc().clone(), false).unwrap(),
        sidik_tracker::Saved::Unchanged
    );
}
