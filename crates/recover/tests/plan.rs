//! The recovery plan on generated incidents whose truth is known: every
//! stuck order is completed, every charge missing in HO is re-posted with
//! its amount, the incident's own table overrides the shipped one, and the
//! plan writes nothing but its own files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use sidik_core::Incident;
use sidik_recover::plan::{self, Decision};
use sidik_sample::{GenerateOptions, Scenario};

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn every_stuck_order_and_unposted_charge_gets_its_decision() {
    for scenario in Scenario::ALL {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("inc");
        sidik_sample::generate(&GenerateOptions {
            out: dir.clone(),
            scenario,
            orders: 2_000,
            seed: 5,
            force: false,
            vary: false,
        })
        .unwrap();
        let truth: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("ground_truth.json")).unwrap()).unwrap();
        let before = files(&dir);
        let inc = Incident::load(&dir).unwrap();
        let (p, w) = plan::run(&inc).unwrap();

        // Stuck orders in the truth: each completed (their trips ended before the cut-off).
        let stuck: BTreeSet<&str> = truth["stuck_orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().or_else(|| s["order_id"].as_str()).unwrap())
            .collect();
        let completed: BTreeSet<&str> = p
            .steps
            .iter()
            .filter(|s| s.decision == Decision::Complete)
            .map(|s| s.order_id.as_str())
            .collect();
        assert_eq!(completed, stuck, "{scenario:?}");
        // Charges missing in HO: each re-posted, with its amount.
        let missing: BTreeSet<(String, i64)> = truth["missing_in_ho"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["payment_id"].as_str().unwrap().to_string(),
                    m["amount"].as_i64().unwrap(),
                )
            })
            .collect();
        let reposted: BTreeSet<(String, i64)> = p
            .steps
            .iter()
            .filter(|s| s.decision == Decision::Repost)
            .map(|s| (s.payment_id.clone().unwrap(), s.amount))
            .collect();
        assert_eq!(reposted, missing, "{scenario:?}");
        // Totals add up to the steps.
        let n: u64 = p.totals.values().map(|t| t.0).sum();
        assert_eq!(n as usize, p.steps.len());

        // Only the plan's own files are new; nothing else changed.
        let after = files(&dir);
        let new: BTreeSet<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
        assert_eq!(
            new,
            BTreeSet::from([
                &"evidence/recovery/plan.csv".to_string(),
                &"evidence/recovery/plan.json".to_string(),
                &"reports/recovery-plan.md".to_string(),
            ]),
            "{scenario:?}"
        );
        for (k, v) in &before {
            assert_eq!(after.get(k), Some(v), "{k} changed ({scenario:?})");
        }
        assert!(w.report.ends_with("reports/recovery-plan.md"));
        let md = std::fs::read_to_string(&w.report).unwrap();
        assert!(md.contains("| repost |"), "{md}");
    }
}

#[test]
fn the_incidents_own_table_goes_first_and_bad_tables_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("inc");
    sidik_sample::generate(&GenerateOptions {
        out: dir.clone(),
        scenario: Scenario::PoolExhaustion,
        orders: 1_000,
        seed: 9,
        force: false,
        vary: false,
    })
    .unwrap();
    std::fs::write(
        dir.join("decisions.toml"),
        "[[rule]]\ncategory = \"MISSING_IN_HO\"\ndecision = \"review\"\nwhy = \"finance re-posts by hand this time\"\n",
    )
    .unwrap();
    let inc = Incident::load(&dir).unwrap();
    let (p, _) = plan::run(&inc).unwrap();
    assert!(p.steps.iter().all(|s| s.decision != Decision::Repost));
    assert!(p
        .steps
        .iter()
        .any(|s| s.category == "MISSING_IN_HO" && s.why == "finance re-posts by hand this time"));

    std::fs::write(
        dir.join("decisions.toml"),
        "[[rule]]\ncategory = \"MISSING_IN_HO\"\ndecision = \"post_it\"\nwhy = \"x\"\n",
    )
    .unwrap();
    let e = plan::run(&inc).unwrap_err().to_string();
    assert!(e.contains("decisions.toml") && e.contains("post_it"), "{e}");
}
