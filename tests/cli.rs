//! The command line as a user meets it: init, check, generate, demo, and the
//! errors they give on bad input.

mod common;

use common::{json, sidik_err, sidik_ok};

#[test]
fn init_creates_a_valid_incident_folder_and_refuses_to_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let tracker = tmp.path().join("notes/tracker.md");
    std::fs::create_dir_all(tracker.parent().unwrap()).unwrap();
    std::fs::write(&tracker, "# tracker\n- [ ] a task\n").unwrap();
    let dir = tmp.path().join("INC-42");
    let d = dir.to_str().unwrap();
    let out = sidik_ok(&["init", d, "--tracker", tracker.to_str().unwrap()]);
    assert!(out.contains("created incident folder"), "{out}");
    for sub in ["evidence", "reports", "charts", "runs"] {
        assert!(dir.join(sub).is_dir());
    }
    let toml = std::fs::read_to_string(dir.join("incident.toml")).unwrap();
    assert!(toml.contains("id = \"INC-42\""), "{toml}");
    assert!(toml.contains("tracker = \"../notes/tracker.md\""), "{toml}");
    let check = sidik_ok(&["check", "--incident", d]);
    assert!(
        check.contains("Asia/Jakarta") && check.contains("2025-01-12 00:00 – 2025-01-13 00:00 WIB"),
        "{check}"
    );
    assert!(check.contains("notes/tracker.md"), "{check}");

    std::fs::write(
        dir.join("incident.toml"),
        "# mine\n[incident]\nid = \"x\"\n",
    )
    .unwrap();
    let err = sidik_err(&["init", d]);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("incident.toml")).unwrap(),
        "# mine\n[incident]\nid = \"x\"\n"
    );

    let err = sidik_err(&[
        "init",
        tmp.path().join("y").to_str().unwrap(),
        "--tracker",
        "/no/such/tracker.md",
    ]);
    assert!(err.contains("/no/such/tracker.md"), "{err}");
}

#[test]
fn bad_incident_toml_names_the_line_the_key_and_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    let write = |text: &str| std::fs::write(tmp.path().join("incident.toml"), text).unwrap();

    write("[incident]\nid = \"a\"\ntimezone = \"Asia/Jakarta\"\ntrackr = \"t.md\"\n");
    let err = sidik_err(&["check", "--incident", d]);
    assert!(
        err.contains("incident.toml:4:1: `incident.trackr`: unknown field"),
        "{err}"
    );
    assert!(err.contains("did you mean `tracker`?"), "{err}");

    write("[incident]\nid = \"a\"\ntimezone = \"Asia/Jakata\"\n");
    let err = sidik_err(&["check", "--incident", d]);
    assert!(
        err.contains(":3:")
            && err.contains("`incident.timezone`")
            && err.contains("did you mean \"Asia/Jakarta\""),
        "{err}"
    );

    write("[incident]\nid = \"a\"\n\n[incident.window]\nstart = \"2025-01-12 19:00\"\nend = \"2025-01-12T11:00:00Z\"\n");
    let err = sidik_err(&["check", "--incident", d]);
    assert!(
        err.contains(":6:") && err.contains("`incident.window.end`") && err.contains("later"),
        "{err}"
    );

    write("[incident]\nid = \"a\"\n[[sources.logs]]\nservice = \"upg\"\npaths = [\"logs/*.log\"]\nformat = \"ndjson\"\n");
    let err = sidik_err(&["check", "--incident", d]);
    assert!(
        err.contains("`sources.logs[0].format`") && err.contains("logfmt"),
        "{err}"
    );

    std::fs::remove_file(tmp.path().join("incident.toml")).unwrap();
    let err = sidik_err(&["check", "--incident", d]);
    assert!(err.contains("sidik init"), "{err}");
}

#[test]
fn check_reports_sources_that_point_at_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("inc");
    let ds = d.to_str().unwrap();
    sidik_ok(&[
        "sample",
        "generate",
        "--out",
        ds,
        "--scenario",
        "circuit-breaker",
        "--orders",
        "1000",
    ]);
    let out = sidik_ok(&["check", "--incident", ds]);
    assert!(out.contains("upg") && out.contains("2 file(s)"), "{out}");
    std::fs::remove_file(d.join("data/payments.csv")).unwrap();
    let err = sidik_err(&["check", "--incident", ds]);
    assert!(err.contains("1 problem(s) with the sources"), "{err}");
}

#[test]
fn generate_validates_its_arguments() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("x");
    let ds = d.to_str().unwrap();
    let out = common::sidik(&["sample", "generate", "--out", ds, "--scenario", "db-pool"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("pool-exhaustion") && err.contains("race-condition"),
        "{err}"
    );
    let err = sidik_err(&[
        "sample",
        "generate",
        "--out",
        ds,
        "--scenario",
        "pool-exhaustion",
        "--orders",
        "5",
    ]);
    assert!(err.contains("outside the supported range"), "{err}");
}

#[test]
fn demo_generates_the_sample_incident_and_can_run_again() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("demo");
    let ds = d.to_str().unwrap();
    let out = sidik_ok(&["demo", "--out", ds, "--orders", "5000"]);
    for needle in [
        "hypothesis 1: Database connection pool exhaustion",
        "stuck orders",
        "ground_truth.json",
        "reports/incident.md",
        "Phase 5: Prevention",
        "no database: the Postgres steps will be skipped",
    ] {
        assert!(out.contains(needle), "demo output lacks {needle}:\n{out}");
    }
    let truth = json(&d.join("ground_truth.json"));
    assert_eq!(truth["generator"]["orders"], 5000);
    let tracker = std::fs::read_to_string(d.join("tracker.md")).unwrap();
    assert!(
        tracker.contains("- [x] Export logs: MRG, UPG, Order Orchestrator → [[reports/logs.md]]")
    );
    assert!(tracker.contains("- [ ] Query database untuk list order gantung\n"));
    // Phase 5's capacity plan and four reviews, each with its report.
    for (task, report) in [
        ("Capacity planning update", "capacity"),
        ("Auto-scaling configuration review", "autoscaling"),
        ("Circuit breaker threshold tuning", "breaker-tuning"),
        ("Database connection pool optimization", "pool-optimization"),
        ("HTTP timeout configuration review", "timeout-review"),
    ] {
        let line = format!("- [x] {task} → [[reports/{report}.md]]");
        assert!(tracker.contains(&line), "{line}:\n{tracker}");
        assert!(d.join(format!("reports/{report}.md")).is_file());
    }
    assert!(tracker.contains("- [ ] Preventive measures implemented"));
    assert!(d.join("evidence/prevention/alerts.yml").is_file());
    // Running it again replaces the earlier demo.
    sidik_ok(&["demo", "--out", ds, "--orders", "5000"]);
    assert_eq!(
        std::fs::read_dir(d.join("runs")).unwrap().count(),
        5,
        "old journals were not cleared"
    );
    // But never a folder that is not a demo.
    let other = tmp.path().join("mine");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "x").unwrap();
    let err = sidik_err(&["demo", "--out", other.to_str().unwrap()]);
    assert!(err.contains("already has files"), "{err}");
}

#[test]
fn a_closed_pipe_ends_output_quietly() {
    use std::process::{Command, Stdio};
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sidik"))
        .args([
            "demo",
            "--out",
            tmp.path().join("d").to_str().unwrap(),
            "--orders",
            "1000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // like `sidik demo | head -0`
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.status.success(), "{:?}: {err}", out.status);
}

#[test]
fn demo_with_postgres_runs_the_database_steps_and_stops_its_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("demo");
    let out = sidik_ok(&[
        "demo",
        "--out",
        d.to_str().unwrap(),
        "--orders",
        "2000",
        "--with-postgres",
    ]);
    assert!(
        out.contains("starting a throwaway PostgreSQL cluster"),
        "{out}"
    );
    let truth = json(&d.join("ground_truth.json"));
    let stuck = truth["counts"]["stuck_orders"].as_u64().unwrap();
    let tracker = std::fs::read_to_string(d.join("tracker.md")).unwrap();
    assert!(
        tracker.contains(&format!("- [x] Query database untuk list order gantung → [[reports/stuck-orders.md]]\n  - {stuck} orders stuck in ACTIVE")),
        "{tracker}"
    );
    let url = out
        .lines()
        .find_map(|l| l.strip_prefix("loaded into "))
        .unwrap();
    let port: u16 = url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the demo left PostgreSQL running on {port}"
    );
}
