//! `sidik run` end to end on generated incidents: what gets ticked, what
//! stays byte-identical, failures, resume after a crash, dry runs, approvals
//! and validation.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{json, sidik_err, sidik_ok};
use sidik_testpg::Cluster;
use sidik_tracker::Tracker;

const DATE: &str = "2026-11-26";

fn generate(dir: &Path, seed: &str) {
    sidik_ok(&[
        "sample",
        "generate",
        "--out",
        dir.to_str().unwrap(),
        "--scenario",
        "pool-exhaustion",
        "--orders",
        "3000",
        "--seed",
        seed,
    ]);
}

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sidik"));
    c.arg("run")
        .args(["--incident", dir.to_str().unwrap(), "--date", DATE])
        .args(args)
        .env_remove("SIDIK_SAMPLE_DATABASE_URL")
        .env_remove(sidik_playbook::engine::ABORT_AFTER_ENV);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Latest journal of each playbook, by id.
fn journals(dir: &Path) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        let j = json(&f);
        out.insert(j["playbook"]["id"].as_str().unwrap().to_string(), j);
    }
    out
}

fn step<'a>(
    j: &'a BTreeMap<String, serde_json::Value>,
    pb: &str,
    id: &str,
) -> &'a serde_json::Value {
    j[pb]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {pb}"))
}

fn parse(bytes: Vec<u8>) -> Tracker {
    Tracker::parse(bytes, Path::new("tracker.md")).unwrap()
}

/// Checks the tracker after a run: exactly the tasks of succeeded steps are
/// ticked, with links to files that exist; every other line is byte-identical
/// apart from added result lines, run summaries and the dates.
fn check_tracker(dir: &Path) -> usize {
    let seed = sidik_sample::SEED_TRACKER.to_vec();
    let now = std::fs::read(dir.join("tracker.md")).unwrap();
    let old = parse(seed.clone());
    let new = parse(now.clone());
    assert_eq!(old.tasks.len(), new.tasks.len());
    let mut expected_done = vec![false; old.tasks.len()];
    for (_, j) in journals(dir) {
        for s in j["steps"].as_array().unwrap() {
            if s["status"] == "succeeded" && s["task"].is_string() {
                let task = s["task"].as_str().unwrap();
                let section = match s["id"].as_str().unwrap() {
                    "verify-recovered"
                    | "reconciliation-completed"
                    | "root-cause-identified"
                    | "preventive-measures"
                    | "load-test-passed" => "Success Criteria".to_string(),
                    _ => format!(
                        "Investigation Phases > Phase {}",
                        &j["playbook"]["id"].as_str().unwrap()[6..7]
                    ),
                };
                let i = old.find_task(Some(&section), task).unwrap();
                expected_done[i] = true;
                // The link resolves to an existing report.
                let link = new.tasks[i]
                    .links
                    .first()
                    .unwrap_or_else(|| panic!("{task}: no link"));
                assert!(
                    dir.join(link).is_file(),
                    "{task}: link {link} does not resolve"
                );
            }
        }
    }
    let mut ticked = 0;
    for (i, (o, n)) in old.tasks.iter().zip(&new.tasks).enumerate() {
        if expected_done[i] && !o.is_done() {
            assert!(n.is_done(), "line {}: {} should be ticked", n.line, n.text);
            ticked += 1;
        } else {
            assert_eq!(
                o.status, n.status,
                "line {}: {} changed status",
                n.line, n.text
            );
            assert_eq!(o.text, n.text, "line {}: text changed", n.line);
        }
    }
    // Everything else byte-identical.
    let a = String::from_utf8(seed).unwrap();
    let b = String::from_utf8(now).unwrap();
    let diff = similar::TextDiff::from_lines(&a, &b);
    for change in diff.iter_all_changes() {
        let line = change.value();
        match change.tag() {
            similar::ChangeTag::Equal => {}
            similar::ChangeTag::Delete => assert!(
                line.starts_with("- [ ] ")
                    || line.starts_with("updated:")
                    || line.starts_with("**Last Updated**")
                    || line.starts_with("**Last Review**"),
                "an unrelated line changed: {line:?}"
            ),
            similar::ChangeTag::Insert => assert!(
                line.starts_with("- [x] ") && line.contains(" → [[")
                    || line.starts_with("  - ")
                    || line.starts_with(&format!("- {DATE}: sidik run "))
                    || line == "\n"
                    || line == format!("updated: {DATE}\n")
                    || line == format!("**Last Updated**: {DATE}  \n")
                    || line == format!("**Last Review**: {DATE}  \n"),
                "an unexpected line was added: {line:?}"
            ),
        }
    }
    ticked
}

#[test]
fn all_phases_with_a_database_tick_exactly_the_succeeded_steps() {
    let pg = Cluster::start().expect("test cluster");
    pg.psql("postgres", "CREATE EXTENSION pg_stat_statements")
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("inc");
    generate(&d, "5");
    let url = pg.url("postgres");
    sidik_ok(&[
        "sample",
        "load",
        "--pg",
        &url,
        "--incident",
        d.to_str().unwrap(),
    ]);
    let o = run(&d, &[], &[("SIDIK_SAMPLE_DATABASE_URL", &url)]);
    // verify-recovered fails: the sample's orders are still stuck.
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("FAILED   verify-recovered"), "{out}");

    let truth = json(&d.join("ground_truth.json"));
    let stuck = truth["counts"]["stuck_orders"].as_u64().unwrap();
    let j = journals(&d);
    assert_eq!(j.len(), 5);
    for id in [
        "metrics",
        "logs",
        "stuck-orders",
        "payments",
        "missing-in-ho",
        "financial-impact",
        "db-connections",
        "db-snapshot",
        "db-samples",
        "db-locks",
        "db-slow-queries",
        "db-payment-status",
    ] {
        assert_eq!(
            step(&j, "phase-1-data-collection", id)["status"],
            "succeeded",
            "{id}: {}",
            step(&j, "phase-1-data-collection", id)
        );
    }
    // Five seconds of one-second samples, on disk with a report.
    let samples = std::fs::read_to_string(d.join("evidence/db-samples/samples.csv")).unwrap();
    let n = samples.lines().count() - 1;
    assert!((5..=6).contains(&n), "{samples}");
    let sr = std::fs::read_to_string(d.join("reports/db-samples.md")).unwrap();
    assert!(
        sr.contains("usable slots") && sr.contains(&format!("{n} samples every 1s")),
        "{sr}"
    );
    // Taken today, after the sample incident of 2025: said on the first line of
    // each report built on the live database, never presented as findings.
    for r in ["db-samples", "db-snapshot"] {
        let text = std::fs::read_to_string(d.join(format!("reports/{r}.md"))).unwrap();
        let first = text.lines().next().unwrap();
        assert!(
            first.starts_with("Taken ") && first.contains("after the incident window"),
            "{r}: {first}"
        );
    }
    let snapshot = std::fs::read_to_string(d.join("reports/db-snapshot.md")).unwrap();
    assert!(!snapshot.contains("\n## Findings\n"), "{snapshot}");
    let slow = std::fs::read_to_string(d.join("reports/db-slow-queries.md")).unwrap();
    assert!(slow.starts_with("Taken "), "{slow}");
    assert!(
        !slow
            .lines()
            .filter(|l| l.starts_with("| "))
            .any(|l| l.to_uppercase().contains("COPY ")),
        "the loader's COPY: {slow}"
    );
    assert_eq!(
        step(&j, "phase-1-data-collection", "stuck-orders")["result"],
        format!("{stuck} orders stuck in ACTIVE")
    );
    let v = step(&j, "phase-4-remediation", "verify-recovered");
    assert_eq!(v["status"], "failed");
    assert!(v["reason"]
        .as_str()
        .unwrap()
        .contains(&format!("{stuck} recoverable orders still stuck")));
    // Root-cause scoring (sidik-rca) names the injected cause and feeds the chart and report.
    let rc = step(&j, "phase-2-analysis", "root-cause");
    assert_eq!(rc["status"], "succeeded", "{rc}");
    assert!(rc["result"]
        .as_str()
        .unwrap()
        .starts_with("hypothesis 1 supported (Database connection pool exhaustion"));
    for s in ["validate", "document", "contributing"] {
        assert_eq!(step(&j, "phase-3-root-cause", s)["status"], "succeeded");
    }
    let rca = json(&d.join("evidence/rca.json"));
    assert_eq!(rca["primary"], "pool-exhaustion");
    assert!(rca["phases"]["spike_start"]["at"]
        .as_str()
        .unwrap()
        .starts_with("2025-01-12T19:00:00"));
    let incident = std::fs::read_to_string(d.join("reports/incident.md")).unwrap();
    assert!(
        incident
            .contains("**Primary root cause: hypothesis 1, Database connection pool exhaustion**"),
        "{incident}"
    );

    let ticked = check_tracker(&d);
    assert_eq!(
        ticked, 20,
        "the six phase-1 tasks, the two log-analysis tasks, the root cause and the timeline of phase 2, three of phase 3, phase 4's reconciliation process and communication plan, and phase 5's capacity plan and four reviews"
    );
    for s in [
        "capacity",
        "autoscaling",
        "breaker-tuning",
        "pool-optimization",
        "timeout-review",
        "alert-rules",
        "prevention-checklist",
    ] {
        assert_eq!(
            step(&j, "phase-5-prevention-load-testing", s)["status"],
            "succeeded",
            "{s}"
        );
    }
    for s in ["preventive-measures", "load-test-passed"] {
        assert_eq!(
            step(&j, "phase-5-prevention-load-testing", s)["status"],
            "manual",
            "{s} stays a person's tick"
        );
    }
    let pools = std::fs::read_to_string(d.join("reports/pool-optimization.md")).unwrap();
    assert!(
        pools.contains("## 1. `topology.service[order-orchestrator].pool_size` — FAIL"),
        "{pools}"
    );
    let tracker = std::fs::read_to_string(d.join("tracker.md")).unwrap();
    assert!(
        tracker.contains("- [x] Identify root cause dari hypotheses: → [[reports/rca.md]]"),
        "{tracker}"
    );
    // Both charts drawn, embedded under their tasks, the timeline with the database panel.
    for (task, chart) in [
        ("- [x] Map timeline", "timeline"),
        ("- [x] Identify affected order count", "recon"),
    ] {
        let png = d.join(format!("charts/{chart}.png"));
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        // IHDR: width and height, big-endian, at bytes 16..24.
        assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), 1600);
        assert_eq!(u32::from_be_bytes(bytes[20..24].try_into().unwrap()), 900);
        assert!(d.join(format!("charts/{chart}.svg")).is_file());
        let at = tracker.find(task).unwrap();
        let next_task = tracker[at..].find("\n- [").unwrap() + at;
        assert!(
            tracker[at..next_task].contains(&format!("\n  - ![[charts/{chart}.png]]")),
            "{chart} not embedded under {task}: {}",
            &tracker[at..next_task]
        );
    }
    // The database was sampled now, long after the sample incident's window: the panel
    // shows the metrics' connection counts of the time instead, and the report says why.
    let svg = std::fs::read_to_string(d.join("charts/timeline.svg")).unwrap();
    assert!(svg.contains("Requests per minute"));
    assert!(svg.contains("Database connections"));
    let report = std::fs::read_to_string(d.join("reports/timeline.md")).unwrap();
    assert!(
        report.contains("was sampled outside the incident window; the database panel shows the metrics' db_connections of the time instead"),
        "{report}"
    );
    assert!(tracker.contains(&format!("- [x] Query database untuk list order gantung → [[reports/stuck-orders.md]]\n  - {stuck} orders stuck in ACTIVE\n")));
    assert!(tracker.contains("- [ ] All order gantung recovered"));
    // Phase 4: the plan, HO's batch, the customer list and the report succeed; apply is skipped
    // (not approved); verify and reconciliation-completed fail while orders are stuck and breaks remain.
    assert!(tracker.contains(&format!("- {DATE}: sidik run phase-4-remediation: 4 succeeded, 2 failed, 1 skipped → [[reports/incident.md]]")), "{tracker}");
    let plan = std::fs::read_to_string(d.join("evidence/recovery/plan.csv")).unwrap();
    assert_eq!(
        plan.lines().filter(|l| l.contains(",complete,")).count() as u64,
        stuck,
        "one complete step per stuck order"
    );
    // Log analysis on the way: every planted malformed line is in the quarantine.
    let planted: usize = truth["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["malformed_lines"].as_array().unwrap().len())
        .sum();
    let quarantined: usize = std::fs::read_dir(d.join("evidence/quarantine"))
        .unwrap()
        .map(|e| {
            std::fs::read_to_string(e.unwrap().path())
                .unwrap()
                .lines()
                .count()
        })
        .sum();
    assert_eq!(quarantined, planted);

    // The report's impact is the ground truth's.
    let report = std::fs::read_to_string(d.join("reports/incident.md")).unwrap();
    let missing = truth["amounts_idr"]["MISSING_IN_HO"].as_i64().unwrap();
    let rp = format!(
        "Rp {}",
        missing
            .to_string()
            .as_bytes()
            .rchunks(3)
            .rev()
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(".")
    );
    assert!(
        report.contains(&format!(
            "Orders stuck in ACTIVE (order gantung): **{stuck}**"
        )),
        "{report}"
    );
    assert!(
        report.contains(&format!("**{rp}**")),
        "{rp} not in the report:\n{report}"
    );
    // Every artifact the report links exists.
    for link in report.split("](../").skip(1) {
        let target = &link[..link.find(')').unwrap()];
        assert!(d.join(target).exists(), "report links a missing {target}");
    }
}

#[test]
fn failing_steps_leave_their_tasks_unticked_and_the_rest_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("inc");
    generate(&d, "6");
    std::fs::remove_file(d.join("data/payments.csv")).unwrap();
    let o = run(
        &d,
        &["phase-1-data-collection"],
        &[(
            "SIDIK_SAMPLE_DATABASE_URL",
            "postgres://app:hunter2@127.0.0.1:1/orders",
        )],
    );
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o);
    assert!(!out.contains("hunter2"), "password leaked:\n{out}");
    let j = journals(&d);
    let pay = step(&j, "phase-1-data-collection", "payments");
    assert_eq!(pay["status"], "failed");
    assert!(
        pay["reason"]
            .as_str()
            .unwrap()
            .contains("data/payments.csv not found"),
        "{pay}"
    );
    let q = step(&j, "phase-1-data-collection", "stuck-orders");
    assert_eq!(q["status"], "failed");
    assert_eq!(q["attempts"], 2, "retried once");
    assert!(
        q["reason"]
            .as_str()
            .unwrap()
            .contains("cannot connect to 127.0.0.1:1: connection refused"),
        "{q}"
    );
    for id in [
        "metrics",
        "go-runtime",
        "logs",
        "postings",
        "orders",
        "report",
    ] {
        assert_eq!(
            step(&j, "phase-1-data-collection", id)["status"],
            "succeeded",
            "{id}"
        );
    }
    assert_eq!(check_tracker(&d), 2, "metrics and logs only");
    let tracker = std::fs::read_to_string(d.join("tracker.md")).unwrap();
    assert!(tracker.contains("- [ ] Collect payment transaction records\n"));
    assert!(tracker.contains("- [ ] Query database untuk list order gantung\n"));
    assert!(
        tracker.contains(&format!(
            "- {DATE}: sidik run phase-1-data-collection: 6 succeeded, 10 failed"
        )),
        "{tracker}"
    );
    let report = std::fs::read_to_string(d.join("reports/incident.md")).unwrap();
    assert!(
        report.contains("- FAILED — Collect payment transaction records: "),
        "{report}"
    );
    assert!(
        report.contains("*Not collected yet*: the `financial-impact` step"),
        "{report}"
    );
}

/// Every file under `dir` with its bytes; the manifest without its timestamps.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&p).unwrap();
            if rel == "evidence/manifest.json" {
                let m = json(&p);
                let kept: Vec<(String, String, String)> = m["artifacts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| {
                        (
                            a["path"].to_string(),
                            a["step"].to_string(),
                            a["sha256"].to_string(),
                        )
                    })
                    .collect();
                out.insert(rel, format!("{kept:?}").into_bytes());
            } else if !rel.starts_with("runs/") {
                out.insert(rel, bytes);
            }
        }
    }
    out
}

fn outcomes(dir: &Path) -> BTreeMap<String, Vec<(String, String, String)>> {
    journals(dir)
        .into_iter()
        .map(|(k, j)| {
            let steps = j["steps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["id"].to_string(),
                        s["status"].to_string(),
                        s["result"].to_string(),
                    )
                })
                .collect();
            (k, steps)
        })
        .collect()
}

#[test]
fn a_run_killed_midway_and_resumed_ends_like_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    generate(&a, "7");
    generate(&b, "7");
    // Exit 1: the sample's breaks keep "Payment reconciliation completed" failing.
    let o = run(&a, &[], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("FAILED   reconciliation-completed"),
        "{}",
        text(&o)
    );

    let killed = run(
        &b,
        &[],
        &[(sidik_playbook::engine::ABORT_AFTER_ENV, "payments")],
    );
    assert_eq!(killed.status.code(), Some(137), "{}", text(&killed));
    let j = journals(&b);
    assert_eq!(j.len(), 1, "the run died in phase 1");
    assert!(j["phase-1-data-collection"]["finished_at"].is_null());
    assert_eq!(
        step(&j, "phase-1-data-collection", "postings")["status"],
        "pending"
    );

    let resumed = run(&b, &["--resume"], &[]);
    assert_eq!(resumed.status.code(), Some(1), "{}", text(&resumed));
    assert!(
        text(&resumed).contains("reused   metrics"),
        "{}",
        text(&resumed)
    );
    let j = journals(&b);
    let p1 = &j["phase-1-data-collection"];
    assert!(p1["resumed_from"].is_string());
    assert_eq!(
        step(&j, "phase-1-data-collection", "payments")["reused"],
        true
    );
    assert_eq!(
        step(&j, "phase-1-data-collection", "postings")["reused"],
        false
    );

    assert_eq!(outcomes(&a), outcomes(&b));
    let (sa, sb) = (snapshot(&a), snapshot(&b));
    assert_eq!(sa.keys().collect::<Vec<_>>(), sb.keys().collect::<Vec<_>>());
    for (k, v) in &sa {
        assert!(
            v == &sb[k],
            "{k} differs between the uninterrupted and the resumed run"
        );
    }
    check_tracker(&b);

    // Changing an input makes --resume run that step again.
    let csv = b.join("data/orders.csv");
    let mut bytes = std::fs::read(&csv).unwrap();
    bytes.extend_from_slice(b"ORD-BROKEN,GB\n");
    std::fs::write(&csv, bytes).unwrap();
    let again = run(&b, &["--resume", "phase-1-data-collection"], &[]);
    let out = text(&again);
    assert!(
        out.contains("reused   metrics") && out.contains("ok       orders"),
        "{out}"
    );
    let j = journals(&b);
    assert!(step(&j, "phase-1-data-collection", "orders")["result"]
        .as_str()
        .unwrap()
        .ends_with("; 1 malformed rows set aside"));
    assert!(b.join("evidence/orders.rejected.csv").is_file());
}

#[test]
fn a_dry_run_changes_no_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("inc");
    generate(&d, "8");
    let before = snapshot(&d);
    let o = run(&d, &["--dry-run"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("tracker line 88: - [ ] Collect metrics dari Huawei Cloud (12 Jan full day)"),
        "{out}"
    );
    assert!(out.contains("->  - [x] Collect metrics dari Huawei Cloud (12 Jan full day) → [[reports/metrics.md]]"), "{out}");
    assert!(out.contains("manual      root-cause-identified"), "{out}");
    assert_eq!(before, snapshot(&d));
    assert_eq!(
        std::fs::read_dir(d.join("runs")).unwrap().count(),
        0,
        "a dry run wrote a journal"
    );
}

#[test]
fn approvals_dependencies_conditions_only_and_changed_step_lists() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("inc");
    generate(&d, "9");
    let pb = tmp.path().join("custom.toml");
    let write = |extra: &str| {
        std::fs::write(
            &pb,
            format!(
                "[playbook]\nid = \"custom\"\ntitle = \"Custom\"\nsection = \"Phase 1\"\n\n\
                 [[step]]\nid = \"logs\"\ntask = \"Export logs: MRG, UPG, Order Orchestrator\"\naction = \"collect.logs\"\ndangerous = true\n\n\
                 [[step]]\nid = \"after\"\naction = \"collect.metrics\"\nneeds = [\"logs\"]\n\n\
                 [[step]]\nid = \"if-file\"\naction = \"collect.export\"\nparams = {{ source = \"orders\" }}\nwhen = [\"exists:data/nothing.csv\"]\n{extra}"
            ),
        )
        .unwrap()
    };
    write("");
    let p = pb.to_str().unwrap();
    let o = run(&d, &[p], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let j = journals(&d);
    assert!(step(&j, "custom", "logs")["reason"]
        .as_str()
        .unwrap()
        .contains("--approve logs"));
    assert_eq!(
        step(&j, "custom", "after")["reason"],
        "needs `logs`, which was skipped"
    );
    assert_eq!(
        step(&j, "custom", "if-file")["reason"],
        "condition `exists:data/nothing.csv` does not hold"
    );
    assert!(std::fs::read_to_string(d.join("tracker.md"))
        .unwrap()
        .contains("- [ ] Export logs"));

    let o = run(&d, &[p, "--approve", "logs"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let j = journals(&d);
    assert_eq!(step(&j, "custom", "logs")["status"], "succeeded");
    assert_eq!(step(&j, "custom", "after")["status"], "succeeded");
    assert!(std::fs::read_to_string(d.join("tracker.md"))
        .unwrap()
        .contains("- [x] Export logs: MRG, UPG, Order Orchestrator → [[reports/logs.md]]"));

    // --only runs one step; what it needs succeeded before.
    let o = run(&d, &[p, "--only", "after"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let j = journals(&d);
    assert_eq!(step(&j, "custom", "after")["status"], "succeeded");
    assert_eq!(step(&j, "custom", "after")["reused"], false);
    assert_eq!(step(&j, "custom", "logs")["reused"], true);

    // The step list changed: resume refuses.
    write("\n[[step]]\nid = \"extra\"\naction = \"report.incident\"\n");
    let o = run(&d, &[p, "--resume"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("its steps changed since the run in"),
        "{}",
        text(&o)
    );
}

#[test]
fn invalid_playbooks_name_file_line_and_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("inc");
    generate(&d, "10");
    let bad = tmp.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[playbook]\nid = \"bad\"\ntitle = \"Bad\"\n\n[[step]]\nid = \"a\"\naction = \"colect.logs\"\nneeds = [\"b\"]\n\n[[step]]\nid = \"b\"\naction = \"pg.query\"\nparams = { query = \"stuck_orders\", limit = 5 }\nneeds = [\"a\"]\n\n[[step]]\nid = \"c\"\nmanual = \"x\"\ntimeout = \"soon\"\n",
    )
    .unwrap();
    let b = bad.to_str().unwrap();
    let err = sidik_err(&["playbook", "check", b]);
    assert!(
        err.contains(&format!(
            "{b}:7: step `a`: unknown action `colect.logs`; did you mean `collect.logs`?"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{b}:13: step `b`: unknown parameter `limit` for action `pg.query`"
        )),
        "{err}"
    );
    assert!(err.contains("dependency cycle: a → b → a"), "{err}");
    assert!(
        err.contains(&format!(
            "{b}:19: step `c`: timeout \"soon\" is not a duration"
        )),
        "{err}"
    );

    let missing = tmp.path().join("missing.toml");
    std::fs::write(&missing, "[playbook]\nid = \"m\"\ntitle = \"M\"\nsection = \"Phase 1\"\n\n[[step]]\nid = \"traces\"\ntask = \"Collect traces from Jaeger\"\nmanual = \"x\"\n").unwrap();
    let err = sidik_err(&[
        "run",
        "--incident",
        d.to_str().unwrap(),
        missing.to_str().unwrap(),
    ]);
    assert!(
        err.contains(
            "missing.toml:7: step `traces`: no task matches \"Collect traces from Jaeger\""
        ),
        "{err}"
    );
    assert!(err.contains("line 88: Collect metrics"), "{err}");
    // The built-in playbooks are valid against the seed tracker.
    let out = sidik_ok(&["playbook", "check", "--incident", d.to_str().unwrap()]);
    assert_eq!(out.matches("ok    ").count(), 5, "{out}");
}

#[test]
fn retries_and_timeouts_on_a_slow_query() {
    let pg = Cluster::start().expect("test cluster");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("inc");
    generate(&d, "11");
    std::fs::write(
        d.join("slow.sql"),
        "-- name: slow\n-- description: sleeps\nSELECT pg_sleep(3);\n",
    )
    .unwrap();
    let pb = tmp.path().join("slow.toml");
    std::fs::write(&pb, "[playbook]\nid = \"slow\"\ntitle = \"Slow\"\n\n[[step]]\nid = \"sleepy\"\naction = \"pg.query\"\nparams = { query_file = \"slow.sql\" }\ntimeout = \"300ms\"\nretry = { count = 1, delay = \"10ms\" }\n").unwrap();
    let o = run(
        &d,
        &[pb.to_str().unwrap()],
        &[("SIDIK_SAMPLE_DATABASE_URL", &pg.url("postgres"))],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let j = journals(&d);
    let s = step(&j, "slow", "sleepy");
    assert_eq!(s["status"], "failed");
    assert_eq!(s["attempts"], 2);
    assert_eq!(s["reason"], "timed out after 300 ms");
}
