//! `sidik pg query` on a real cluster: shipped queries with bound
//! parameters, pg_stat_statements variants, every output format.

mod common;

use std::process::{Command, Output};

use common::sidik_ok;
use sidik_testpg::Cluster;

fn sidik_env(args: &[&str], url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sidik"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env("SIDIK_SAMPLE_DATABASE_URL", url)
        .output()
        .expect("run sidik")
}

fn ok(args: &[&str], url: &str) -> String {
    let out = sidik_env(args, url);
    assert!(
        out.status.success(),
        "sidik {} failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(args: &[&str], url: &str) -> String {
    let out = sidik_env(args, url);
    assert!(
        !out.status.success(),
        "sidik {} should fail",
        args.join(" ")
    );
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn named_queries_bind_parameters_and_pick_their_variant() {
    let pg = Cluster::start().expect("test cluster");
    let url = pg.url("postgres");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("inc");
    let d = d.to_str().unwrap();
    sidik_ok(&[
        "sample",
        "generate",
        "--out",
        d,
        "--scenario",
        "pool-exhaustion",
        "--orders",
        "1500",
    ]);
    sidik_ok(&["sample", "load", "--pg", &url, "--incident", d]);
    let inc = ["--incident", d];

    // The tracker's reconciliation query for two days, compared with psql.
    for day in ["2025-01-12", "2025-01-13"] {
        let want = pg
            .psql(
                "postgres",
                &format!("SELECT coalesce(string_agg(payment_status || '=' || n, ',' ORDER BY payment_status), '') FROM (SELECT payment_status, count(*) AS n FROM sidik_sample.payments WHERE DATE(created_at) = '{day}' GROUP BY 1) x"),
            )
            .unwrap();
        let param = format!("date={day}");
        let out = ok(
            &[
                &[
                    "pg",
                    "query",
                    "payment_status_by_day",
                    "--param",
                    &param,
                    "--format",
                    "json",
                ][..],
                &inc[..],
            ]
            .concat(),
            &url,
        );
        let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
        let got: Vec<String> = rows
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{}={}",
                    r["payment_status"].as_str().unwrap(),
                    r["count"].as_i64().unwrap()
                )
            })
            .collect();
        assert_eq!(got.join(","), want, "{day}");
        if day == "2025-01-12" {
            assert!(got.len() == 2, "{got:?}");
        }
    }

    // Parameters are bound, never pasted into the SQL.
    let err = fails(
        &[
            &[
                "pg",
                "query",
                "payment_status_by_day",
                "--param",
                "date=2025-01-12'; DROP TABLE sidik_sample.payments; --",
            ][..],
            &inc[..],
        ]
        .concat(),
        &url,
    );
    assert!(
        err.contains("22007") || err.contains("invalid input syntax"),
        "{err}"
    );
    assert_ne!(
        pg.psql("postgres", "SELECT count(*) FROM sidik_sample.payments")
            .unwrap(),
        "0"
    );

    // Unknown parameters and a Parquet without a file are refused before connecting.
    let err = fails(
        &[
            &["pg", "query", "stuck_orders", "--param", "day=1"][..],
            &inc[..],
        ]
        .concat(),
        &url,
    );
    assert!(
        err.contains("no parameter `day`") && err.contains("takes no parameters"),
        "{err}"
    );
    let err = fails(
        &[
            &["pg", "query", "stuck_orders", "--format", "parquet"][..],
            &inc[..],
        ]
        .concat(),
        &url,
    );
    assert!(err.contains("--out"), "{err}");

    // Stuck orders: CSV and Parquet hold what psql counts, typed.
    let want: usize = pg
        .psql(
            "postgres",
            "SELECT count(*) FROM sidik_sample.orders WHERE status = 'ACTIVE'",
        )
        .unwrap()
        .parse()
        .unwrap();
    assert!(want > 0);
    let csv = ok(
        &[
            &["pg", "query", "stuck_orders", "--format", "csv"][..],
            &inc[..],
        ]
        .concat(),
        &url,
    );
    assert_eq!(csv.lines().count(), want + 1, "{csv}");
    assert!(csv.starts_with("order_id,"), "{csv}");
    let pq = tmp.path().join("stuck.parquet");
    ok(
        &[
            &[
                "pg",
                "query",
                "stuck_orders",
                "--format",
                "parquet",
                "--out",
                pq.to_str().unwrap(),
            ][..],
            &inc[..],
        ]
        .concat(),
        &url,
    );
    use polars::prelude::*;
    let df = ParquetReader::new(std::fs::File::open(&pq).unwrap())
        .finish()
        .unwrap();
    assert_eq!(df.height(), want);
    assert_eq!(df.column("amount_total").unwrap().dtype(), &DataType::Int64);
    assert!(matches!(
        df.column("created_at").unwrap().dtype(),
        DataType::Datetime(_, _)
    ));
    let table = ok(
        &[&["pg", "query", "stuck_orders"][..], &inc[..]].concat(),
        &url,
    );
    assert!(table.contains(&format!("({want} rows)")), "{table}");

    // slow_queries works on pg_stat_statements 1.7 (total_time) and the current version.
    pg.psql("postgres", "CREATE DATABASE old").unwrap();
    pg.psql("old", "CREATE EXTENSION pg_stat_statements VERSION '1.7'")
        .unwrap();
    let old = pg.url("old");
    let out = ok(
        &[
            "pg",
            "query",
            "slow_queries",
            "--pg",
            &old,
            "--format",
            "csv",
        ],
        &old,
    );
    assert!(out.starts_with("queryid,calls,total_ms,"), "{out}");
    assert!(out.lines().count() > 1, "{out}");
    pg.psql(
        "postgres",
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
    )
    .unwrap();
    let out = ok(
        &[
            "pg",
            "query",
            "slow_queries",
            "--pg",
            &url,
            "--format",
            "csv",
        ],
        &url,
    );
    assert!(out.starts_with("queryid,calls,total_ms,"), "{out}");
    assert!(out.lines().count() > 1, "{out}");
    // The tracker's own slow-query text fails on this server; that is why the variant exists.
    let v: u32 = pg
        .psql("postgres", "SHOW server_version_num")
        .unwrap()
        .parse()
        .unwrap();
    if v >= 130_000 {
        assert!(pg
            .psql(
                "postgres",
                "SELECT * FROM pg_stat_statements ORDER BY total_time DESC LIMIT 20"
            )
            .is_err());
    }

    // `sidik pg sample`: a short run writes its files and a summary.
    let sdir = tmp.path().join("samples");
    let out = ok(
        &[
            "pg",
            "sample",
            "--pg",
            &url,
            "--every",
            "200ms",
            "--for",
            "1s",
            "--out",
            sdir.to_str().unwrap(),
        ],
        &url,
    );
    assert!(
        out.contains("samples; files in") && out.contains("usable slots"),
        "{out}"
    );
    let lines = std::fs::read_to_string(sdir.join("samples.csv"))
        .unwrap()
        .lines()
        .count();
    assert!(
        (5..=7).contains(&lines),
        "header and 4-6 samples, got {lines}"
    );
    let err = fails(&["pg", "sample", "--pg", &url, "--every", "0s"], &url);
    assert!(err.contains("--every 0s"), "{err}");

    // Listing shows every shipped query and its parameters.
    let list = sidik_ok(&["pg", "query", "--list"]);
    assert!(
        list.contains("payment_status_by_day") && list.contains("--param date=…"),
        "{list}"
    );
}
