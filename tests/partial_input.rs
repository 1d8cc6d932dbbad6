//! One bad input hides nothing else, and nothing is ticked on figures that
//! are not true: bad export rows are set aside with file, line and reason
//! while the rest is reconciled (exit 3, "incomplete", "Payment
//! reconciliation completed" left unticked); an export with no rows, no
//! amount column, only zero amounts or negative charges is reported and
//! its task left unticked.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{json, sidik_in, sidik_ok};

fn generate(dir: &Path) {
    sidik_ok(&[
        "sample",
        "generate",
        "--out",
        dir.to_str().unwrap(),
        "--scenario",
        "callback-failure",
        "--orders",
        "1500",
        "--seed",
        "4",
    ]);
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The latest journal's record of a step.
fn step(dir: &Path, playbook: &str, id: &str) -> serde_json::Value {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(playbook)
        })
        .collect();
    files.sort();
    let j = json(files.last().expect("a journal"));
    j["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no step {id}"))
}

fn tracker_line(dir: &Path, task: &str) -> String {
    let t = std::fs::read_to_string(dir.join("tracker.md")).unwrap();
    t.lines()
        .find(|l| l.contains(task))
        .unwrap_or_else(|| panic!("no line with {task}"))
        .to_string()
}

#[test]
fn bad_export_rows_are_set_aside_and_the_rest_is_reconciled() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("inc");
    generate(&d);
    let path = d.join("data/payments.csv");
    let original = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = original.lines().map(str::to_string).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let amount = header.iter().position(|h| *h == "amount").unwrap();
    let rows_before = lines.len() - 1;
    // Line 5: an amount with a thousands comma, unquoted (a field too many);
    // line 8: an amount that is not a number; and line 10 listed twice.
    let mut f: Vec<String> = lines[4].split(',').map(str::to_string).collect();
    f[amount] = format!("{},000", f[amount]);
    lines[4] = f.join(",");
    let mut f: Vec<String> = lines[7].split(',').map(str::to_string).collect();
    f[amount] = "12a".into();
    lines[7] = f.join(",");
    lines.push(lines[9].clone());
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();

    let o = sidik_in(&d, &["recon"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("incomplete: 3 input rows"), "{err}");
    assert!(err.contains("data/payments.csv:5: "), "{err}");
    assert!(err.contains("data/payments.csv:8: amount \"12a\""), "{err}");
    let summary = json(&d.join("evidence/recon/recon.json"));
    assert_eq!(summary["complete"], false);
    assert_eq!(summary["rejected"]["count"], 3);
    assert_eq!(
        summary["inputs"]["payments"].as_u64().unwrap() as usize,
        rows_before - 2,
        "every other payment is reconciled"
    );
    // The rejected rows: one record each, all as wide as the header.
    let mut rdr = csv::Reader::from_path(d.join("evidence/recon/rejected.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    let lines_aside: Vec<&str> = rows.iter().map(|r| &r[2]).collect();
    assert_eq!(lines_aside, ["5", "8", &(rows_before + 2).to_string()[..]]);
    assert!(rows[2][3].contains("is also on line 10"), "{:?}", rows[2]);
    let report = std::fs::read_to_string(d.join("reports/recon.md")).unwrap();
    assert!(report.contains("**Incomplete: 3 input rows"), "{report}");

    // "Payment reconciliation completed" is not said of part of the data.
    let o = sidik_in(
        &d,
        &[
            "run",
            "phase-4-remediation",
            "--only",
            "reconciliation-completed",
        ],
    );
    assert!(!o.status.success(), "{}", text(&o));
    let s = step(&d, "phase-4-remediation", "reconciliation-completed");
    assert_eq!(s["status"], "failed");
    assert!(
        s["reason"]
            .as_str()
            .unwrap()
            .contains("incomplete: 3 input rows"),
        "{s}"
    );
    assert!(tracker_line(&d, "Payment reconciliation completed").contains("[ ]"));
}

#[test]
fn exports_that_would_give_untrue_figures_are_reported_and_not_ticked() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("inc");
    generate(&d);
    let path = d.join("data/payments.csv");
    let original = std::fs::read_to_string(&path).unwrap();
    let header = original.lines().next().unwrap().to_string();
    let cols: Vec<&str> = header.split(',').collect();
    let amount = cols.iter().position(|h| *h == "amount").unwrap();
    let kind = cols.iter().position(|h| *h == "payment_type").unwrap();
    let rewrite = |f: &dyn Fn(usize, Vec<String>) -> Option<Vec<String>>| -> String {
        let mut out = String::new();
        for (i, l) in original.lines().enumerate() {
            let fields: Vec<String> = l.split(',').map(str::to_string).collect();
            if i == 0 {
                out.push_str(l);
            } else if let Some(x) = f(i, fields) {
                out.push_str(&x.join(","));
            } else {
                continue;
            }
            out.push('\n');
        }
        out
    };
    let cases: Vec<(String, &str)> = vec![
        (format!("{header}\n"), "has no rows (only a header?)"),
        (
            original
                .lines()
                .map(|l| {
                    let mut f: Vec<&str> = l.split(',').collect();
                    f.remove(amount);
                    f.join(",")
                })
                .collect::<Vec<_>>()
                .join("\n"),
            "no column `amount`",
        ),
        (
            rewrite(&|_, mut f| {
                f[amount] = "0".into();
                Some(f)
            }),
            "every `amount` in data/payments.csv is 0",
        ),
        (
            rewrite(&|i, mut f| {
                if i == 3 && f[kind] == "CHARGE" {
                    f[amount] = format!("-{}", f[amount]);
                }
                Some(f)
            }),
            "1 charges of a negative amount in data/payments.csv (the first on line 4)",
        ),
    ];
    let task = "Collect payment transaction records";
    for (body, want) in cases {
        std::fs::write(&path, body).unwrap();
        let o = sidik_in(
            &d,
            &["run", "phase-1-data-collection", "--only", "payments"],
        );
        assert!(!o.status.success(), "{want}: {}", text(&o));
        let s = step(&d, "phase-1-data-collection", "payments");
        assert_eq!(s["status"], "failed", "{want}: {s}");
        assert!(s["reason"].as_str().unwrap().contains(want), "{want}: {s}");
        assert!(tracker_line(&d, task).contains("[ ]"), "{want}: ticked");
    }
    // The real export ticks it.
    std::fs::write(&path, &original).unwrap();
    let o = sidik_in(
        &d,
        &["run", "phase-1-data-collection", "--only", "payments"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(tracker_line(&d, task).contains("[x]"));
    // A header-only export never reaches "0 payments … N breaks".
    std::fs::write(&path, format!("{header}\n")).unwrap();
    let o = sidik_in(&d, &["recon"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("the payments export has no rows"),
        "{}",
        text(&o)
    );
}

/// Runs sidik as an ordinary user when the test runs as root, so that a
/// file without read permission really cannot be read.
fn sidik_unprivileged(dir: &Path, args: &[&str]) -> Output {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let mut c = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_sidik"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_sidik"))
    };
    c.args(args)
        .args(["--incident", dir.to_str().unwrap()])
        .output()
        .unwrap()
}

#[test]
fn an_unreadable_or_missing_log_file_leaves_the_others_ingested() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("inc");
    generate(&d);
    // A path beside one that matches, a service with no file at all, a file
    // nobody may read, and a gzip file cut inside its header.
    let toml = std::fs::read_to_string(d.join("incident.toml")).unwrap();
    let toml = toml.replace(
        r#"paths = ["logs/upg/upg.log*"]"#,
        r#"paths = ["logs/upg/upg.log*", "logs/upg/archive-*.log"]"#,
    ) + "\n[[sources.logs]]\nservice = \"ghost\"\npaths = [\"logs/ghost/*.log\"]\n";
    std::fs::write(d.join("incident.toml"), toml).unwrap();
    let locked = d.join("logs/mrg/mrg.log.1.gz");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    std::fs::write(
        d.join("logs/order-orchestrator/orchestrator.log.2.gz"),
        [0x1f, 0x8b, 0x08, 0x00, 0x00],
    )
    .unwrap();
    // The ordinary user needs to write the evidence.
    let chmod = Command::new("chmod")
        .args(["-R", "a+rwX"])
        .arg(tmp.path())
        .status()
        .unwrap();
    assert!(chmod.success());
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();

    let o = sidik_in(&d, &["check"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("no file matches `logs/upg/archive-*.log`"),
        "{out}"
    );
    assert!(out.contains("no file matches `logs/ghost/*.log`"), "{out}");

    let o = sidik_unprivileged(&d, &["logs", "ingest"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("upg `logs/upg/archive-*.log` not read: no file matches"),
        "{err}"
    );
    assert!(err.contains("ghost `logs/ghost/*.log` not read"), "{err}");
    assert!(
        err.contains("mrg `logs/mrg/mrg.log.1.gz` not read: Permission denied"),
        "{err}"
    );
    assert!(
        err.contains("order-orchestrator `logs/order-orchestrator/orchestrator.log.2.gz` not read: a gzip file of 5 bytes was cut short inside its header"),
        "{err}"
    );
    // Everything else was ingested, and said so in summary.json.
    let summary = json(&d.join("evidence/logs/summary.json"));
    assert_eq!(
        summary["not_read"].as_array().unwrap().len(),
        4,
        "{summary}"
    );
    for service in ["mrg", "upg", "order-orchestrator", "postgres"] {
        assert!(
            summary["events"][service].as_u64().unwrap() > 0,
            "{service}: {summary}"
        );
    }
    let files: Vec<&str> = summary["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(files.contains(&"logs/mrg/mrg.log"), "{files:?}");
    assert!(!files.contains(&"logs/mrg/mrg.log.1.gz"), "{files:?}");
}

#[test]
fn the_payments_task_reads_the_export_through_the_recon_maps() {
    // An export with other column names, other words and no payment_type:
    // collected as recon reads it, never as "(no status)".
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("inc");
    generate(&d);
    let path = d.join("data/payments.csv");
    let original = std::fs::read_to_string(&path).unwrap();
    let mut lines = original.lines();
    let cols: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = |name: &str| cols.iter().position(|c| *c == name).unwrap();
    let (kind, status, amount) = (at("payment_type"), at("payment_status"), at("amount"));
    let mut out = String::new();
    let mut head: Vec<&str> = cols.clone();
    head[status] = "state";
    head[amount] = "gross_idr";
    head.remove(kind);
    out.push_str(&head.join(","));
    out.push('\n');
    let (mut charges, mut refunds) = (0, 0);
    for l in lines {
        let mut f: Vec<String> = l.split(',').map(str::to_string).collect();
        // Refunds as negative amounts with the status word the gateway uses.
        if f[kind] == "REFUND" {
            f[amount] = format!("-{}", f[amount]);
            refunds += 1;
        } else if f[kind] == "CHARGE" && f[status] == "SUCCESS" {
            charges += 1;
        }
        // Without a type column a gateway says a void in its status.
        f[status] = match (f[kind].as_str(), f[status].as_str()) {
            ("VOID", "SUCCESS") => "VOIDED".into(),
            (_, "SUCCESS") => "OK".into(),
            (_, other) => other.to_string(),
        };
        f.remove(kind);
        out.push_str(&f.join(","));
        out.push('\n');
    }
    assert!(refunds > 0, "the sample has refunds");
    std::fs::write(&path, out).unwrap();
    let toml = std::fs::read_to_string(d.join("incident.toml")).unwrap();
    std::fs::write(
        d.join("incident.toml"),
        format!("{toml}\n[recon.columns.payments]\npayment_status = \"state\"\namount = \"gross_idr\"\n\n[recon.values.payment_status]\nsettled = [\"OK\"]\n"),
    )
    .unwrap();
    let o = sidik_in(
        &d,
        &["run", "phase-1-data-collection", "--only", "payments"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let s = step(&d, "phase-1-data-collection", "payments");
    let result = s["result"].as_str().unwrap();
    assert!(!result.contains("(no status)"), "{result}");
    let thousands = |n: usize| {
        let t = n.to_string();
        let mut out = String::new();
        for (i, c) in t.chars().enumerate() {
            if i > 0 && (t.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    assert!(
        result.contains(&format!("charge settled {}", thousands(charges))),
        "{result}"
    );
    assert!(
        result.contains(&format!("refund settled {refunds}")),
        "{result}"
    );
    assert!(result.contains("2025-01-12"), "{result}");
    assert!(tracker_line(&d, "Collect payment transaction records").contains("[x]"));
}
