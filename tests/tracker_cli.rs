//! `sidik tracker …` on a copy of the real seed tracker.

mod common;

use common::{sidik_err, sidik_ok};

const SEED: &[u8] = include_bytes!("../crates/sample/assets/tracker.md");

fn setup() -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    let inc = tmp.path().join("inc");
    let tracker = tmp.path().join("notes/tracker.md");
    std::fs::create_dir_all(tracker.parent().unwrap()).unwrap();
    std::fs::write(&tracker, SEED).unwrap();
    sidik_ok(&[
        "init",
        inc.to_str().unwrap(),
        "--tracker",
        tracker.to_str().unwrap(),
    ]);
    let inc = inc.to_str().unwrap().to_string();
    (tmp, inc)
}

#[test]
fn lists_tasks_as_table_json_and_csv() {
    let (_tmp, inc) = setup();
    let table = sidik_ok(&["tracker", "tasks", "--incident", &inc]);
    assert!(table.contains("63 task(s), 5 done"), "{table}");
    assert!(
        table.contains("\n  88  [ ]    Collect metrics dari Huawei Cloud (12 Jan full day)\n"),
        "{table}"
    );
    let json: serde_json::Value = serde_json::from_str(&sidik_ok(&[
        "tracker",
        "tasks",
        "--incident",
        &inc,
        "--section",
        "Phase 1",
        "--format",
        "json",
    ]))
    .unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[0]["line"], 88);
    assert!(rows[0]["section"]
        .as_str()
        .unwrap()
        .ends_with("Investigation Phases > Phase 1: Data Collection (URGENT)"));
    let csv = sidik_ok(&[
        "tracker",
        "tasks",
        "--incident",
        &inc,
        "--section",
        "Phase 1",
        "--format",
        "csv",
    ]);
    assert!(csv.lines().nth(2).unwrap().starts_with("89,[ ],"), "{csv}");
    assert!(
        csv.contains("\"Export logs: MRG, UPG, Order Orchestrator\""),
        "{csv}"
    );
}

#[test]
fn tick_dry_run_then_write_then_repeat() {
    let (tmp, inc) = setup();
    let tracker = tmp.path().join("notes/tracker.md");
    let report = tmp.path().join("inc/reports/logs.md");
    std::fs::write(&report, "# logs\n").unwrap();
    let args = [
        "tracker",
        "tick",
        "--incident",
        &inc,
        "--section",
        "Phase 1",
        "--task",
        "export logs",
        "--link",
        report.to_str().unwrap(),
        "--result",
        "3 services, 8 files",
        "--done-date",
        "--date",
        "2026-11-26",
    ];
    let mut dry = args.to_vec();
    dry.push("--dry-run");
    let out = sidik_ok(&dry);
    assert!(
        out.contains("-- [ ] Export logs: MRG, UPG, Order Orchestrator"),
        "{out}"
    );
    assert!(out.contains("+- [x] Export logs: MRG, UPG, Order Orchestrator → [[../inc/reports/logs.md]] ✅ 2026-11-26"), "{out}");
    assert!(out.contains("dry run"), "{out}");
    assert_eq!(
        std::fs::read(&tracker).unwrap(),
        SEED,
        "dry run wrote the file"
    );

    let out = sidik_ok(&args);
    assert!(out.contains("line 89"), "{out}");
    let text = std::fs::read_to_string(&tracker).unwrap();
    assert!(text.contains("- [x] Export logs: MRG, UPG, Order Orchestrator → [[../inc/reports/logs.md]] ✅ 2026-11-26\n  - 3 services, 8 files\n- [ ] Query"));
    // Only that line changed and one line was added.
    let before: Vec<&str> = std::str::from_utf8(SEED).unwrap().split('\n').collect();
    let after: Vec<&str> = text.split('\n').collect();
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(before[..88], after[..88]);
    assert_eq!(before[89..], after[90..]);

    let out = sidik_ok(&args);
    assert!(out.contains("already up to date"), "{out}");
}

#[test]
fn attach_note_touch_and_errors() {
    let (tmp, inc) = setup();
    let tracker = tmp.path().join("notes/tracker.md");
    sidik_ok(&[
        "tracker",
        "attach",
        "--incident",
        &inc,
        "--section",
        "Phase 2",
        "--task",
        "Map timeline",
        "--image",
        "charts/timeline.png",
    ]);
    sidik_ok(&[
        "tracker",
        "note",
        "--incident",
        &inc,
        "--section",
        "Phase 3",
        "--text",
        "primary: pool exhaustion",
        "--date",
        "2026-11-26",
        "--touch",
    ]);
    let text = std::fs::read_to_string(&tracker).unwrap();
    assert!(
        text.contains("degradation\n  - ![[charts/timeline.png]]\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "- [ ] Identify contributing factors\n- 2026-11-26: primary: pool exhaustion\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("updated: 2026-11-26") && text.contains("**Last Updated**: 2026-11-26  ")
    );

    let err = sidik_err(&[
        "tracker",
        "tick",
        "--incident",
        &inc,
        "--section",
        "Phase 1",
        "--task",
        "collect traces",
    ]);
    assert!(
        err.contains("no task matches \"collect traces\"") && err.contains("line 88:"),
        "{err}"
    );
    let err = sidik_err(&["tracker", "tick", "--incident", &inc, "--task", "load test"]);
    assert!(err.contains("several tasks match"), "{err}");
    let no_tracker = tmp.path().join("bare");
    sidik_ok(&["init", no_tracker.to_str().unwrap()]);
    let err = sidik_err(&[
        "tracker",
        "tasks",
        "--incident",
        no_tracker.to_str().unwrap(),
    ]);
    assert!(
        err.contains("names no tracker") && err.contains("--tracker"),
        "{err}"
    );
}

#[test]
fn repair_dry_run_then_write() {
    let (tmp, inc) = setup();
    let tracker = tmp.path().join("notes/tracker.md");
    let out = sidik_ok(&["tracker", "repair", "--incident", &inc, "--dry-run"]);
    assert!(out.contains("line   16: ðŸ”´ -> 🔴"), "{out}");
    assert_eq!(std::fs::read(&tracker).unwrap(), SEED);
    sidik_ok(&["tracker", "repair", "--incident", &inc, "--backup"]);
    let text = std::fs::read_to_string(&tracker).unwrap();
    assert!(text.contains("## 🔴 **HIGH PRIORITY - CRITICAL PATH**"));
    assert_eq!(
        std::fs::read(tmp.path().join("notes/tracker.md.bak")).unwrap(),
        SEED
    );
    let out = sidik_ok(&["tracker", "repair", "--incident", &inc]);
    assert!(out.contains("0 mojibake span(s)"), "{out}");
}

#[test]
fn crlf_tracker_given_directly() {
    let tmp = tempfile::tempdir().unwrap();
    let tracker = tmp.path().join("t.md");
    let crlf = String::from_utf8(SEED.to_vec())
        .unwrap()
        .replace('\n', "\r\n");
    std::fs::write(&tracker, &crlf).unwrap();
    let t = tracker.to_str().unwrap();
    sidik_ok(&[
        "tracker",
        "tick",
        "--tracker",
        t,
        "--section",
        "Phase 5",
        "--task",
        "Capacity planning update",
    ]);
    let after = std::fs::read_to_string(&tracker).unwrap();
    assert_eq!(
        after,
        crlf.replace(
            "- [ ] Capacity planning update",
            "- [x] Capacity planning update"
        )
    );
}

#[test]
fn check_playbooks_against_the_tracker() {
    let (tmp, inc) = setup();
    let good = tmp.path().join("good.toml");
    std::fs::write(
        &good,
        "[playbook]\nid = \"phase-1\"\nsection = \"Phase 1\"\n\n[[step]]\nid = \"metrics\"\ntask = \"Collect metrics dari Huawei Cloud (12 Jan full day)\"\n\n[[step]]\nid = \"logs\"\ntask = \"Export logs: MRG, UPG, Order Orchestrator\"\n",
    )
    .unwrap();
    let out = sidik_ok(&[
        "tracker",
        "check",
        "--incident",
        &inc,
        good.to_str().unwrap(),
    ]);
    assert!(
        out.contains("metrics -> line 88") && out.contains("2 task(s) checked"),
        "{out}"
    );
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "[playbook]\nsection = \"Phase 2\"\n\n[[step]]\nid = \"traces\"\ntask = \"Collect traces\"\n").unwrap();
    let out = common::sidik(&[
        "tracker",
        "check",
        "--incident",
        &inc,
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("FAIL") && stdout.contains("traces"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 of 3 task(s)"));
}
