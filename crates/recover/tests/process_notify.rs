//! HO's re-push batch and the customer list on generated incidents whose
//! truth is known: the batch books exactly the charges missing in HO, HO's
//! expected total is the export's plus the batch, the import layout is the
//! user's; the customer groups are the planted stuck orders and duplicate
//! charges, corporate accounts are counted from the orders export, and a
//! template with an unknown placeholder is refused with its file and line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use sidik_core::Incident;
use sidik_recover::notify::Group;
use sidik_sample::{GenerateOptions, Scenario};

fn sample(tmp: &Path, scenario: Scenario, seed: u64) -> (PathBuf, serde_json::Value) {
    let dir = tmp.join("inc");
    sidik_sample::generate(&GenerateOptions {
        out: dir.clone(),
        scenario,
        orders: 3_000,
        seed,
        force: false,
        vary: false,
    })
    .unwrap();
    let truth =
        serde_json::from_slice(&std::fs::read(dir.join("ground_truth.json")).unwrap()).unwrap();
    (dir, truth)
}

fn truth_breaks<'a>(truth: &'a serde_json::Value, category: &str) -> Vec<&'a serde_json::Value> {
    truth["breaks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["category"] == category)
        .collect()
}

fn csv_rows(path: &Path, delim: u8) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::ReaderBuilder::new()
        .delimiter(delim)
        .from_path(path)
        .unwrap();
    let h = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            h.iter()
                .zip(rec.unwrap().iter())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn the_batch_books_exactly_what_ho_is_missing() {
    for (i, scenario) in Scenario::ALL.into_iter().enumerate() {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, truth) = sample(tmp.path(), scenario, 30 + i as u64);
        let inc = Incident::load(&dir).unwrap();
        sidik_recover::plan::run(&inc).unwrap();
        let p = sidik_recover::process::run(&inc).unwrap();

        // Per order, the batch's charge lines add up to the charge HO is missing.
        let mut booked: BTreeMap<String, i64> = BTreeMap::new();
        for l in p.lines.iter().filter(|l| l.reason == "MISSING_IN_HO") {
            *booked.entry(l.order_id.clone()).or_default() += l.amount;
        }
        let missing: BTreeMap<String, i64> = truth["missing_in_ho"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["order_id"].as_str().unwrap().to_string(),
                    m["amount"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(booked, missing, "{scenario:?}");
        let refs: BTreeSet<&str> = p.lines.iter().map(|l| l.reference.as_str()).collect();
        assert_eq!(refs.len(), p.lines.len(), "{scenario:?}: a reference twice");

        // HO's expected total: the export's, independently summed, plus the batch.
        let mut before = 0i64;
        for r in csv_rows(&dir.join("data/ho_postings.csv"), b',') {
            let a: i64 = r["amount"].parse().unwrap();
            before += if ["REFUND", "CANCEL"].contains(&r["journal_type"].as_str()) {
                -a
            } else {
                a
            };
        }
        let batch: i64 = p.lines.iter().map(|l| l.amount).sum();
        let after: i64 = p.totals.values().map(|t| t.2).sum();
        assert_eq!(after, before + batch, "{scenario:?}");
        let report = std::fs::read_to_string(&p.report).unwrap();
        assert!(
            report.contains(&sidik_core::fmt::idr(after)),
            "{scenario:?}: {report}"
        );
        assert!(report.contains("| owner | done |"), "{report}");
    }
}

#[test]
fn the_import_layout_is_the_users() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = sample(tmp.path(), Scenario::CallbackFailure, 4);
    let cfg = dir.join("incident.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(
        "\n[recover.ho_import]\ncolumns = [\"NO_ORDER = order_id\", \"JURNAL = journal_type\", \"NILAI = amount\", \"REF = reference\", \"batch\"]\ndelimiter = \";\"\n",
    );
    std::fs::write(&cfg, &text).unwrap();
    let inc = Incident::load(&dir).unwrap();
    sidik_recover::plan::run(&inc).unwrap();
    let p = sidik_recover::process::run(&inc).unwrap();
    let rows = csv_rows(&p.batch, b';');
    assert_eq!(rows.len(), p.lines.len());
    let keys: Vec<&str> = rows[0].keys().map(String::as_str).collect();
    assert_eq!(keys, ["JURNAL", "NILAI", "NO_ORDER", "REF", "batch"]);
    assert_eq!(rows[0]["NO_ORDER"], p.lines[0].order_id);
    assert!(rows[0]["batch"].starts_with("sidik-"));

    std::fs::write(
        &cfg,
        text.replace("\"NILAI = amount\"", "\"NILAI = rupiah\""),
    )
    .unwrap();
    let inc = Incident::load(&dir).unwrap();
    let e = sidik_recover::process::run(&inc).unwrap_err().to_string();
    assert!(
        e.contains("[recover.ho_import] columns: `\"NILAI = rupiah\"`")
            || e.contains("`NILAI = rupiah` names no field"),
        "{e}"
    );
}

#[test]
fn the_customer_groups_are_what_the_sample_planted() {
    for (i, scenario) in Scenario::ALL.into_iter().enumerate() {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, truth) = sample(tmp.path(), scenario, 50 + i as u64);
        let inc = Incident::load(&dir).unwrap();
        sidik_recover::plan::run(&inc).unwrap();
        let n = sidik_recover::notify::run(&inc).unwrap();
        let rows = csv_rows(&dir.join("evidence/recovery/customers.csv"), b',');
        let in_group = |g: &str| -> BTreeSet<String> {
            rows.iter()
                .filter(|r| r["group"] == g)
                .map(|r| r["order_id"].clone())
                .collect()
        };
        let stuck: BTreeSet<String> = truth["stuck_orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect();
        assert_eq!(in_group("charged_not_completed"), stuck, "{scenario:?}");
        let dups: BTreeSet<String> = truth_breaks(&truth, "DUPLICATE_CHARGE")
            .iter()
            .map(|b| b["order_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(in_group("charged_twice"), dups, "{scenario:?}");
        assert_eq!(
            n.groups.get(&Group::ChargedTwice).map_or(0, |g| g.0) as usize,
            truth_breaks(&truth, "DUPLICATE_CHARGE").len()
        );
        // Every message names its order and its rupiah, in both languages.
        for r in &rows {
            let amount = sidik_core::fmt::idr(r["amount"].parse().unwrap());
            for l in ["id", "en"] {
                let m = &r[&format!("message_{l}")];
                assert!(m.contains(&r["order_id"]) && m.contains(&amount), "{m}");
                assert!(!m.contains('{'), "a placeholder left: {m}");
            }
        }
        // Corporate accounts, counted from the orders export independently.
        let affected: BTreeSet<String> = rows.iter().map(|r| r["order_id"].clone()).collect();
        let corporates: BTreeSet<String> = csv_rows(&dir.join("data/orders.csv"), b',')
            .into_iter()
            .filter(|o| affected.contains(&o["order_id"]) && !o["corporate_id"].is_empty())
            .map(|o| o["corporate_id"].clone())
            .collect();
        assert_eq!(n.corporates as usize, corporates.len(), "{scenario:?}");
        let report = std::fs::read_to_string(&n.report).unwrap();
        assert!(report.contains("**Nothing has been sent**"));
        assert!(report.contains("## When to announce"));
    }
}

#[test]
fn templates_are_the_users_and_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = sample(tmp.path(), Scenario::PoolExhaustion, 6);
    let msgs = dir.join("messages");
    let written = sidik_recover::notify::write_templates(&msgs).unwrap();
    assert_eq!(written.len(), 8);
    let cfg = dir.join("incident.toml");
    let text = std::fs::read_to_string(&cfg).unwrap()
        + "\n[recover.notify]\ntemplates = \"messages\"\nsender = \"Tim Layanan\"\n";
    std::fs::write(&cfg, text).unwrap();
    std::fs::write(
        msgs.join("charged_twice.en.txt"),
        "Subject: Double charge on {order_id}\n\nWe refund {amount}. {sender}\n",
    )
    .unwrap();
    let inc = Incident::load(&dir).unwrap();
    sidik_recover::plan::run(&inc).unwrap();
    sidik_recover::notify::run(&inc).unwrap();
    let rows = csv_rows(&dir.join("evidence/recovery/customers.csv"), b',');
    let twice = rows.iter().find(|r| r["group"] == "charged_twice").unwrap();
    assert_eq!(
        twice["message_en"],
        format!(
            "We refund {}. Tim Layanan",
            sidik_core::fmt::idr(twice["amount"].parse().unwrap())
        )
    );

    std::fs::write(
        msgs.join("refund_due.id.txt"),
        "Subject: x\n\nHalo {nama},\n",
    )
    .unwrap();
    let e = sidik_recover::notify::run(&inc).unwrap_err().to_string();
    assert!(
        e.contains("refund_due.id.txt:3: unknown placeholder {nama}"),
        "{e}"
    );
}
