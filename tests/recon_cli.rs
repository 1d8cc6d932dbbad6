//! `sidik recon` end to end: the same sample incident reconciled from its CSV
//! exports and from a real PostgreSQL (loaded with `sidik sample load`) gives
//! identical results, equal to the ground truth; exit codes say whether
//! anything breaks.

mod common;

use std::process::Command;

use common::{json, sidik_ok};
use sidik_testpg::Cluster;

fn recon(dir: &str, args: &[&str], url: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sidik"))
        .args(["recon", "--incident", dir])
        .args(args)
        .env("SIDIK_SAMPLE_DATABASE_URL", url)
        .output()
        .unwrap()
}

/// breaks.csv without its `source` column (where a row was read: file:line or query row).
fn breaks(dir: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("evidence/recon/breaks.csv")).unwrap();
    // Every column but `source` (a file's line or a query's row), the one
    // before the last (`due`).
    text.lines()
        .map(|l| {
            let mut f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 13, "{l}");
            f.remove(11);
            f.join(",")
        })
        .collect()
}

#[test]
fn files_and_the_database_reconcile_to_the_same_breaks() {
    let pg = Cluster::start().expect("test cluster");
    let url = pg.url("postgres");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("inc");
    let d = dir.to_str().unwrap();
    sidik_ok(&[
        "sample",
        "generate",
        "--out",
        d,
        "--scenario",
        "race-condition",
        "--orders",
        "5000",
        "--seed",
        "3",
    ]);
    sidik_ok(&["sample", "load", "--pg", &url, "--incident", d]);

    let files = recon(d, &[], &url);
    assert_eq!(files.status.code(), Some(1), "breaks exist: exit 1");
    let out = String::from_utf8_lossy(&files.stdout).to_string();
    assert!(
        out.contains("MISSING_IN_HO") && out.contains("stuck orders; report reports/recon.md"),
        "{out}"
    );
    let from_files = breaks(&dir);
    let summary_files = json(&dir.join("evidence/recon/recon.json"));

    let db = recon(d, &["--from-db"], &url);
    assert_eq!(
        db.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&db.stderr)
    );
    let from_db = breaks(&dir);
    let summary_db = json(&dir.join("evidence/recon/recon.json"));
    assert_eq!(from_files, from_db, "CSV and PostgreSQL disagree");
    assert_eq!(summary_files["by_category"], summary_db["by_category"]);
    assert!(from_files.len() > 10, "{from_files:?}");

    // The money at stake is the ground truth's.
    let truth = json(&dir.join("ground_truth.json"));
    assert_eq!(
        summary_db["by_category"]["MISSING_IN_HO"]["amount"],
        truth["amounts_idr"]["MISSING_IN_HO"]
    );
    assert_eq!(summary_db["stuck_orders"], truth["counts"]["stuck_orders"]);

    // The re-push batch closes exactly the money missing in HO.
    let repush = std::fs::read_to_string(dir.join("evidence/recon/repush.csv")).unwrap();
    let total: i64 = repush
        .lines()
        .skip(1)
        .filter(|l| l.ends_with(",MISSING_IN_HO"))
        .map(|l| l.split(',').nth(3).unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(Some(total), truth["amounts_idr"]["MISSING_IN_HO"].as_i64());
    let report = std::fs::read_to_string(dir.join("reports/recon.md")).unwrap();
    assert!(
        report.contains("## Charged but not posted")
            && report.contains("## Posted but not charged")
            && report.contains("## Failed but charged")
    );

    // A clean export exits 0: keep only the orders that reconcile.
    let clean = tmp.path().join("clean");
    std::fs::create_dir_all(clean.join("data")).unwrap();
    std::fs::copy(dir.join("incident.toml"), clean.join("incident.toml")).unwrap();
    std::fs::copy(dir.join("tracker.md"), clean.join("tracker.md")).unwrap();
    let broken: std::collections::BTreeSet<String> = from_files
        .iter()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().to_string())
        .collect();
    for f in ["orders.csv", "payments.csv", "ho_postings.csv"] {
        let text = std::fs::read_to_string(dir.join("data").join(f)).unwrap();
        let kept: Vec<&str> = text
            .lines()
            .enumerate()
            .filter(|(i, l)| *i == 0 || !broken.iter().any(|o| l.contains(o.as_str())))
            .map(|(_, l)| l)
            .collect();
        std::fs::write(clean.join("data").join(f), kept.join("\n") + "\n").unwrap();
    }
    let ok = recon(clean.to_str().unwrap(), &["--format", "json"], &url);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let j: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(j["has_breaks"], false);
}
