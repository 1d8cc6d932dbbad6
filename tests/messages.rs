//! Messages that speak to the person: an approval that approves nothing is
//! said, a tracker that lacks a task points at `--no-tracker`, a parser's
//! words are not mistaken for credentials.

mod common;

use common::{sidik, sidik_ok};

fn sample(dir: &std::path::Path) {
    sidik_ok(&[
        "sample",
        "generate",
        "--out",
        dir.to_str().unwrap(),
        "--scenario",
        "timeout-mismatch",
        "--orders",
        "1500",
    ]);
}

#[test]
fn an_approval_of_no_step_and_a_missing_task_say_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("inc");
    sample(&d);
    let dir = d.to_str().unwrap();
    let o = sidik(&[
        "run",
        "--incident",
        dir,
        "--dry-run",
        "--approve",
        "repush-h0",
        "--approve",
        "logs",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: --approve repush-h0: no step `repush-h0` in these playbooks; it approves nothing"),
        "{err}"
    );
    assert!(
        err.contains("warning: --approve logs: step `logs` is not dangerous"),
        "{err}"
    );

    // A tracker without one of the playbook's tasks.
    let t = d.join("tracker.md");
    let text = std::fs::read_to_string(&t).unwrap();
    let text: String = text
        .split_inclusive('\n')
        .filter(|l| !l.contains("Collect payment transaction records"))
        .collect();
    std::fs::write(&t, text).unwrap();
    let o = sidik(&["run", "phase-1-data-collection", "--incident", dir]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("Collect payment transaction records"), "{err}");
    assert!(err.contains("or run with --no-tracker"), "{err}");
    // And with it, the steps run.
    let o = sidik(&[
        "run",
        "phase-1-data-collection",
        "--incident",
        dir,
        "--no-tracker",
        "--only",
        "payments",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_bad_string_in_incident_toml_is_not_taken_for_a_credential() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("inc");
    sidik_ok(&["init", d.to_str().unwrap()]);
    std::fs::write(
        d.join("incident.toml"),
        "[incident]\nid = \"X\ntitle = \"y\"\n",
    )
    .unwrap();
    let o = sidik(&["check", "--incident", d.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("***"), "{err}");
    assert!(err.contains("incident.toml:2:"), "{err}");
}
