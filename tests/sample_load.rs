//! `sidik sample load` into a real PostgreSQL, checked against
//! ground_truth.json with SQL written independently of the generator.

mod common;

use std::collections::BTreeSet;

use common::{json, sidik_err, sidik_ok};
use sidik_testpg::Cluster;

fn rows(pg: &Cluster, sql: &str) -> Vec<String> {
    let out = pg.psql("postgres", sql).unwrap_or_else(|e| panic!("{e}"));
    out.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn strings(v: &serde_json::Value, f: impl Fn(&serde_json::Value) -> String) -> Vec<String> {
    sorted(v.as_array().unwrap().iter().map(f).collect())
}

#[test]
fn loaded_tables_agree_with_the_ground_truth_in_every_scenario() {
    let pg = Cluster::start().expect("start test cluster");
    let tmp = tempfile::tempdir().unwrap();
    let scenarios = [
        "pool-exhaustion",
        "callback-failure",
        "circuit-breaker",
        "timeout-mismatch",
        "race-condition",
    ];
    for (i, sc) in scenarios.iter().enumerate() {
        let dir = tmp.path().join(sc);
        let d = dir.to_str().unwrap();
        sidik_ok(&[
            "sample",
            "generate",
            "--out",
            d,
            "--scenario",
            sc,
            "--orders",
            "6000",
            "--seed",
            "77",
        ]);
        let schema = format!("s{i}");
        let out = sidik_ok(&[
            "sample",
            "load",
            "--pg",
            &pg.url("postgres"),
            "--incident",
            d,
            "--schema",
            &schema,
        ]);
        let truth = json(&dir.join("ground_truth.json"));
        let c = |k: &str| truth["counts"][k].as_u64().unwrap_or(0);
        assert!(out.contains(&format!("{schema}.orders")), "{out}");

        // Row counts.
        for (table, key) in [
            ("orders", "orders"),
            ("payments", "payments"),
            ("ho_postings", "postings"),
        ] {
            let n = rows(&pg, &format!("SELECT count(*) FROM {schema}.{table}"));
            assert_eq!(n, vec![c(key).to_string()], "{sc}: {table} rows");
        }

        // Successful charges whose order HO never booked, money kept, trip already due.
        let missing = rows(
            &pg,
            &format!(
                "WITH net AS (
                   SELECT order_id, sum(CASE WHEN payment_type = 'CHARGE' THEN amount ELSE -amount END) AS kept
                   FROM {schema}.payments WHERE payment_status = 'SUCCESS' GROUP BY order_id)
                 SELECT p.payment_id || ':' || p.amount
                 FROM {schema}.payments p JOIN net USING (order_id) JOIN {schema}.orders o USING (order_id)
                 WHERE p.payment_type = 'CHARGE' AND p.payment_status = 'SUCCESS' AND net.kept > 0
                   AND o.status <> 'SCHEDULED'
                   AND NOT EXISTS (SELECT 1 FROM {schema}.ho_postings h WHERE h.order_id = p.order_id)"
            ),
        );
        let expected = strings(&truth["missing_in_ho"], |m| {
            format!("{}:{}", m["payment_id"].as_str().unwrap(), m["amount"])
        });
        assert_eq!(sorted(missing), expected, "{sc}: payments missing in HO");
        assert_eq!(expected.len() as u64, c("missing_in_ho_payments"));

        // Orders left in ACTIVE.
        let stuck = rows(
            &pg,
            &format!("SELECT order_id FROM {schema}.orders WHERE status = 'ACTIVE'"),
        );
        let expected = strings(&truth["stuck_orders"], |s| s.as_str().unwrap().to_string());
        assert_eq!(sorted(stuck), expected, "{sc}: stuck orders");

        let breaks = |cat: &str, f: &dyn Fn(&serde_json::Value) -> String| -> Vec<String> {
            sorted(
                truth["breaks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|b| b["category"] == cat)
                    .map(f)
                    .collect(),
            )
        };

        // Every successful charge after the first one of an order.
        let dups = rows(
            &pg,
            &format!(
                "SELECT payment_id FROM (
                   SELECT payment_id, row_number() OVER (PARTITION BY order_id ORDER BY created_at, payment_id) AS n
                   FROM {schema}.payments WHERE payment_type = 'CHARGE' AND payment_status = 'SUCCESS') x
                 WHERE n > 1"
            ),
        );
        let expected = breaks("DUPLICATE_CHARGE", &|b| {
            b["payment_id"].as_str().unwrap().to_string()
        });
        assert_eq!(sorted(dups), expected, "{sc}: duplicate charges");

        // Booked total differs from the money kept (orders charged once).
        let diffs = rows(
            &pg,
            &format!(
                "WITH net AS (
                   SELECT order_id, sum(CASE WHEN payment_type = 'CHARGE' THEN amount ELSE -amount END) AS kept,
                          count(*) FILTER (WHERE payment_type = 'CHARGE') AS charges
                   FROM {schema}.payments WHERE payment_status = 'SUCCESS' GROUP BY order_id),
                 booked AS (
                   SELECT order_id, sum(CASE WHEN journal_type IN ('REFUND', 'CANCEL') THEN -amount ELSE amount END) AS total
                   FROM {schema}.ho_postings GROUP BY order_id)
                 SELECT order_id || ':' || (booked.total - net.kept)
                 FROM net JOIN booked USING (order_id)
                 WHERE booked.total <> net.kept AND net.charges = 1"
            ),
        );
        let mut expected = breaks("DUPLICATE_POSTING", &|b| {
            format!("{}:{}", b["order_id"].as_str().unwrap(), b["amount"])
        });
        expected.extend(breaks("AMOUNT_MISMATCH", &|b| {
            format!("{}:-{}", b["order_id"].as_str().unwrap(), b["amount"])
        }));
        assert_eq!(sorted(diffs), sorted(expected), "{sc}: amount differences");

        // Journal lines booked twice.
        let twice: BTreeSet<String> = rows(
            &pg,
            &format!(
                "SELECT DISTINCT order_id FROM {schema}.ho_postings
                 GROUP BY order_id, payment_id, journal_type, amount HAVING count(*) > 1"
            ),
        )
        .into_iter()
        .collect();
        let expected: BTreeSet<String> = breaks("DUPLICATE_POSTING", &|b| {
            b["order_id"].as_str().unwrap().to_string()
        })
        .into_iter()
        .collect();
        assert_eq!(twice, expected, "{sc}: duplicate postings");

        // Timing items: charged, trip after the export date; or booked in February.
        let not_due = rows(
            &pg,
            &format!(
                "SELECT DISTINCT o.order_id FROM {schema}.orders o JOIN {schema}.payments p USING (order_id)
                 WHERE o.status = 'SCHEDULED' AND p.payment_type = 'CHARGE' AND p.payment_status = 'SUCCESS'"
            ),
        );
        let cross = rows(
            &pg,
            &format!(
                "SELECT DISTINCT h.order_id FROM {schema}.ho_postings h JOIN {schema}.payments p ON p.payment_id = h.payment_id
                 WHERE h.period <> to_char(p.created_at, 'YYYY-MM')"
            ),
        );
        let timing = |cat: &str| -> Vec<String> {
            sorted(
                truth["timing_items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|b| b["category"] == cat)
                    .map(|b| b["order_id"].as_str().unwrap().to_string())
                    .collect(),
            )
        };
        assert_eq!(sorted(not_due), timing("NOT_YET_DUE"), "{sc}: not yet due");
        assert_eq!(sorted(cross), timing("CROSS_PERIOD"), "{sc}: cross-period");
        assert!(!timing("CROSS_PERIOD").is_empty() && !timing("NOT_YET_DUE").is_empty());

        // The tracker's own reconciliation query runs as written.
        let by_status = rows(
            &pg,
            &format!(
                "SET search_path = {schema}; SELECT payment_status || '=' || COUNT(*) FROM payments
                 WHERE DATE(created_at) = '2025-01-12' GROUP BY payment_status ORDER BY 1"
            ),
        );
        assert_eq!(by_status.len(), 2, "{sc}: {by_status:?}");
        assert!(by_status[0].starts_with("FAILED=") && by_status[1].starts_with("SUCCESS="));
    }
}

#[test]
fn load_refuses_to_overwrite_without_replace_and_hides_passwords() {
    let pg = Cluster::start().expect("start test cluster");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    sidik_ok(&[
        "sample",
        "generate",
        "--out",
        d,
        "--scenario",
        "race-condition",
        "--orders",
        "1000",
    ]);
    let url = pg.url("postgres");
    sidik_ok(&["sample", "load", "--pg", &url, "--incident", d]);
    let err = sidik_err(&["sample", "load", "--pg", &url, "--incident", d]);
    assert!(
        err.contains("already exist") && err.contains("--replace"),
        "{err}"
    );
    pg.psql(
        "postgres",
        "UPDATE sidik_sample.orders SET status = 'TOUCHED'",
    )
    .unwrap();
    let out = sidik_ok(&["sample", "load", "--pg", &url, "--incident", d, "--replace"]);
    assert!(out.contains("1,000 rows"), "{out}");
    assert_eq!(
        pg.psql(
            "postgres",
            "SELECT count(*) FROM sidik_sample.orders WHERE status = 'TOUCHED'"
        )
        .unwrap(),
        "0"
    );

    // Nothing listens on port 1: the error must say so without the password.
    let err = sidik_err(&[
        "sample",
        "load",
        "--pg",
        "postgres://app:hunter2@127.0.0.1:1/orders",
        "--incident",
        d,
    ]);
    assert!(
        err.contains("cannot connect") && err.contains("app:***@127.0.0.1"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "password leaked: {err}");

    let err = sidik_err(&[
        "sample",
        "load",
        "--pg",
        &url,
        "--incident",
        tmp.path().join("nothing").to_str().unwrap(),
    ]);
    assert!(err.contains("sidik sample generate"), "{err}");
}
