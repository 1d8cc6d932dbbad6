//! On generated incidents of every scenario, every category's rows and
//! rupiah equal what the generator planted (ground_truth.json), and so do
//! the stuck orders and the timing items.

use std::collections::BTreeSet;

use sidik_core::Incident;
use sidik_recon::engine::{code, reconcile};
use sidik_recon::output::{load_files, settings};
use sidik_sample::{generate, GenerateOptions, Scenario};

type Row = (String, String, Option<String>, i64);

fn truth_rows(v: &serde_json::Value, map: &dyn Fn(&str) -> Option<&'static str>) -> BTreeSet<Row> {
    v.as_array()
        .unwrap()
        .iter()
        .filter_map(|b| {
            let cat = map(b["category"].as_str().unwrap())?;
            Some((
                cat.to_string(),
                b["order_id"].as_str().unwrap().to_string(),
                b["payment_id"].as_str().map(str::to_string),
                b["amount"].as_i64().unwrap(),
            ))
        })
        .collect()
}

#[test]
fn every_scenario_reconciles_to_the_ground_truth() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, sc) in Scenario::ALL.iter().enumerate() {
        let dir = tmp.path().join(sc.name());
        generate(&GenerateOptions {
            out: dir.clone(),
            scenario: *sc,
            orders: 4000,
            seed: 11 + i as u64,
            force: true,
            vary: false,
        })
        .unwrap();
        let inc = Incident::load(&dir).unwrap();
        let s = settings(&inc).unwrap();
        let src = load_files(&inc, &s).unwrap();
        let got = reconcile(&src.orders, &src.payments, &src.postings, &s).unwrap();
        let truth: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("ground_truth.json")).unwrap()).unwrap();

        // The generator's names for the same things.
        let to_ours = |c: &str| -> Option<&'static str> {
            Some(match c {
                "MISSING_IN_HO" => code::MISSING_IN_HO,
                "DUPLICATE_CHARGE" => code::DUPLICATE_CHARGE,
                "DUPLICATE_POSTING" => code::DUPLICATE_POSTING,
                "AMOUNT_MISMATCH" => code::AMOUNT_UNDER,
                "STUCK_ORDER" => code::STATUS_MISMATCH,
                "CROSS_PERIOD" => code::CROSS_PERIOD,
                "NOT_YET_DUE" => code::NOT_YET_DUE,
                _ => return None,
            })
        };
        let mut want = truth_rows(&truth["breaks"], &to_ours);
        want.extend(truth_rows(&truth["timing_items"], &to_ours));
        // A stuck order's row names no payment in the ground truth; ours names its charge.
        let got_rows: BTreeSet<Row> = got
            .breaks
            .iter()
            .map(|b| {
                let pay = if b.category == code::STATUS_MISMATCH {
                    None
                } else {
                    b.payment_id.clone()
                };
                (b.category.to_string(), b.order_id.clone(), pay, b.amount)
            })
            .collect();
        let missing: Vec<_> = want.difference(&got_rows).take(5).collect();
        let extra: Vec<_> = got_rows.difference(&want).take(5).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{sc}: planted but not found {missing:?}; found but not planted {extra:?}"
        );
        assert_eq!(
            got.breaks.len(),
            want.len(),
            "{sc}: one row per planted item"
        );
        // Per category, rows and rupiah.
        for (cat, key) in [
            (code::MISSING_IN_HO, "MISSING_IN_HO"),
            (code::DUPLICATE_CHARGE, "DUPLICATE_CHARGE"),
        ] {
            let t = got.by_category.get(cat).copied().unwrap_or_default();
            assert_eq!(
                t.amount,
                truth["amounts_idr"][key].as_i64().unwrap_or(0),
                "{sc}: {cat} rupiah"
            );
        }
        // Stuck orders, exactly.
        let stuck: BTreeSet<String> = got.stuck.iter().map(|x| x.order_id.clone()).collect();
        let want_stuck: BTreeSet<String> = truth["stuck_orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(stuck, want_stuck, "{sc}: stuck orders");
        assert!(got.has_breaks(), "{sc}: every scenario plants breaks");
    }
}

#[test]
fn parquet_exports_reconcile_like_csv() {
    use polars::prelude::*;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("inc");
    generate(&GenerateOptions {
        out: dir.clone(),
        scenario: Scenario::RaceCondition,
        orders: 3000,
        seed: 5,
        force: true,
        vary: false,
    })
    .unwrap();
    let inc = Incident::load(&dir).unwrap();
    let s = settings(&inc).unwrap();
    let csv = load_files(&inc, &s).unwrap();
    let want = reconcile(&csv.orders, &csv.payments, &csv.postings, &s).unwrap();

    // The same exports as Parquet, with typed columns (timestamps as datetimes).
    for f in ["orders", "payments", "ho_postings"] {
        let mut r = csv::Reader::from_path(dir.join(format!("data/{f}.csv"))).unwrap();
        let headers: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
        let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
        let mut cols: Vec<Column> = Vec::new();
        for (i, h) in headers.iter().enumerate() {
            let vals: Vec<Option<&str>> = rows
                .iter()
                .map(|r| Some(&r[i]).filter(|v| !v.is_empty()))
                .collect();
            let col = if h == "posted_at" {
                // It carries an offset: stored as a UTC datetime.
                let t: Vec<Option<i64>> = vals
                    .iter()
                    .map(|v| {
                        v.map(|v| {
                            chrono::DateTime::parse_from_rfc3339(v)
                                .unwrap()
                                .timestamp_millis()
                        })
                    })
                    .collect();
                Series::new(h.into(), t)
                    .cast(&DataType::Datetime(
                        TimeUnit::Milliseconds,
                        Some(TimeZone::UTC),
                    ))
                    .unwrap()
            } else if h.starts_with("amount") {
                Series::new(h.into(), vals).cast(&DataType::Int64).unwrap()
            } else {
                Series::new(h.into(), vals)
            };
            cols.push(col.into());
        }
        let mut df = DataFrame::new(rows.len(), cols).unwrap();
        let out = std::fs::File::create(dir.join(format!("data/{f}.parquet"))).unwrap();
        ParquetWriter::new(out).finish(&mut df).unwrap();
    }
    let toml = std::fs::read_to_string(dir.join("incident.toml"))
        .unwrap()
        .replace("data/orders.csv", "data/orders.parquet")
        .replace("data/payments.csv", "data/payments.parquet")
        .replace("data/ho_postings.csv", "data/ho_postings.parquet");
    std::fs::write(dir.join("incident.toml"), toml).unwrap();
    let inc = Incident::load(&dir).unwrap();
    let pq = load_files(&inc, &s).unwrap();
    assert_eq!(pq.postings.len(), csv.postings.len());
    let got = reconcile(&pq.orders, &pq.payments, &pq.postings, &s).unwrap();
    let key =
        |o: &sidik_recon::engine::Outcome| -> Vec<(String, String, Option<String>, i64, i64, i64)> {
            o.breaks
                .iter()
                .map(|b| {
                    (
                        b.category.to_string(),
                        b.order_id.clone(),
                        b.payment_id.clone(),
                        b.amount,
                        b.charged,
                        b.at.unwrap_or(0),
                    )
                })
                .collect()
        };
    assert_eq!(key(&got), key(&want));
    assert_eq!(got.by_category, want.by_category);
}
