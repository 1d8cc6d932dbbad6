//! Logs written by real third-party systems (tests/data/real-logs, with
//! their licences), read under `format = "auto"`: each must give the record
//! count, severities, messages, SQLSTATEs and durations its README states,
//! counted independently of sidik.

mod common;

use std::path::{Path, PathBuf};

use polars::prelude::*;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/real-logs")
        .join(name)
}

/// Ingests one file under `format = "auto"`; the events and the ingest's stdout+stderr.
fn ingest(name: &str) -> (DataFrame, String, serde_json::Value) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    std::fs::copy(data(name), dir.join("logs").join(name)).unwrap();
    std::fs::write(
        dir.join("incident.toml"),
        format!(
            "[incident]\nid = \"real\"\ntimezone = \"UTC\"\n[incident.window]\nstart = \"2000-01-01 00:00\"\nend = \"2030-01-01 00:00\"\n[[sources.logs]]\nservice = \"svc\"\npaths = [\"logs/{name}\"]\nformat = \"auto\"\n"
        ),
    )
    .unwrap();
    let out = common::sidik(&["logs", "ingest", "--incident", dir.to_str().unwrap()]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{name}: ingest failed:\n{said}");
    let mut frames = Vec::new();
    for e in std::fs::read_dir(dir.join("evidence/logs"))
        .unwrap()
        .flatten()
    {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with("events-") && n.ends_with(".parquet") {
            let f = std::fs::File::open(e.path()).unwrap();
            frames.push(ParquetReader::new(f).finish().unwrap().lazy());
        }
    }
    assert!(!frames.is_empty(), "{name}: no events:\n{said}");
    let df = concat(frames, Default::default())
        .unwrap()
        .collect()
        .unwrap();
    let summary = common::json(&dir.join("evidence/logs/summary.json"));
    (df, said, summary)
}

/// Records per level.
fn levels(df: &DataFrame) -> Vec<(String, u32)> {
    let mut v: Vec<(String, u32)> = df
        .column("level")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .fold(std::collections::BTreeMap::new(), |mut m, l| {
            *m.entry(l.unwrap_or("(none)").to_string()).or_insert(0) += 1;
            m
        })
        .into_iter()
        .collect();
    v.sort();
    v
}

fn strings(df: &DataFrame, col: &str) -> Vec<Option<String>> {
    df.column(col)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|s| s.map(str::to_string))
        .collect()
}

fn latencies(df: &DataFrame) -> Vec<f64> {
    df.column("latency_ms")
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .flatten()
        .collect()
}

fn total(v: &[f64]) -> f64 {
    (v.iter().sum::<f64>() * 1000.0).round() / 1000.0
}

fn lv(pairs: &[(&str, u32)]) -> Vec<(String, u32)> {
    pairs.iter().map(|(l, n)| (l.to_string(), *n)).collect()
}

#[test]
fn cloudnativepg_records_are_read_from_inside_the_operator_lines() {
    let (df, said, summary) = ingest("pgbadger-cnpg.log.gz");
    assert_eq!(df.height(), 2022, "{said}");
    assert_eq!(summary["files"][0]["format"], "cnpg");
    // 1,969 LOG + 47 operator info lines; 4 ERROR, 1 FATAL; the operator's debug lines.
    let l = levels(&df);
    let n = |name: &str| l.iter().find(|(k, _)| k == name).map_or(0, |(_, n)| *n);
    assert_eq!((n("error"), n("fatal")), (4, 1), "{l:?}");
    assert_eq!(n("info") + n("debug"), 2017, "{l:?}");
    let mut states: Vec<String> = strings(&df, "sqlstate")
        .into_iter()
        .flatten()
        .filter(|s| s != "00000")
        .collect();
    states.sort();
    assert_eq!(states, ["42601", "42601", "42601", "42703", "57P03"]);
    assert_eq!(latencies(&df).len(), 400);
    let msgs = strings(&df, "message");
    assert!(!msgs.iter().any(|m| m.as_deref() == Some("record")));
    assert!(msgs
        .iter()
        .any(|m| m.as_deref() == Some("column \"names\" does not exist")));
}

#[test]
fn postgres_jsonlog_with_its_own_offsets() {
    let (df, said, _) = ingest("pgbadger-pg_vacuums.json.gz");
    assert_eq!(df.height(), 3544, "{said}");
    assert_eq!(levels(&df), lv(&[("info", 3544)]));
    let msgs = strings(&df, "message");
    let starts = |p: &str| {
        msgs.iter()
            .filter(|m| m.as_deref().is_some_and(|m| m.starts_with(p)))
            .count()
    };
    assert_eq!(starts("automatic vacuum"), 2094);
    assert_eq!(starts("automatic analyze"), 1450);
}

#[test]
fn stderr_log_with_a_second_precision_prefix_is_inferred() {
    let (df, said, summary) = ingest("pgbadger-light.postgres.log.bz2");
    assert_eq!(df.height(), 630, "{said}");
    assert_eq!(
        summary["files"][0]["read_as"],
        "postgres-stderr, log_line_prefix '%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h '"
    );
    let d = latencies(&df);
    assert_eq!(d.len(), 629);
    assert_eq!(total(&d), 8654.84);
    assert_eq!(d.iter().cloned().fold(0.0, f64::max), 470.688);
}

#[test]
fn stderr_log_named_csv_keeps_its_detail_lines_with_their_record() {
    let (df, said, summary) = ingest("pgbadger-pg_rawcsv.log");
    assert_eq!(df.height(), 9, "{said}");
    assert_eq!(levels(&df), lv(&[("error", 2), ("fatal", 1), ("info", 6)]));
    // The two pg_ctl lines are no PostgreSQL record: set aside, and counted.
    assert_eq!(summary["quarantined"]["svc"], 2);
}

#[test]
fn cloud_sql_export_reads_the_text_payload_and_joins_continuations() {
    let (df, said, summary) = ingest("pgbadger-cloudsql.log.gz");
    assert_eq!(df.height(), 1268, "{said}");
    assert_eq!(summary["quarantined"]["svc"], 0);
    assert_eq!(levels(&df), lv(&[("fatal", 4), ("info", 1264)]));
    let msgs = strings(&df, "message");
    assert!(msgs
        .iter()
        .all(|m| m.as_deref().is_some_and(|m| !m.is_empty())));
    assert!(msgs
        .iter()
        .any(|m| m.as_deref() == Some("terminating connection due to administrator command")));
}

#[test]
fn csvlog_durations_are_summed() {
    let (df, said, _) = ingest("pgbadger-anonymize.log");
    assert_eq!(df.height(), 8, "{said}");
    assert_eq!(total(&latencies(&df)), 1537.095);
}

#[test]
fn csvlog_whose_first_field_is_quoted_is_detected() {
    let (df, said, summary) = ingest("pgbadger-csv_statement_without_duration.log");
    assert_eq!(df.height(), 2, "{said}");
    assert_eq!(summary["files"][0]["format"], "postgres-csv");
    assert_eq!(latencies(&df), [688786.283]);
}

#[test]
fn prometheus_logs_with_go_duration_strings() {
    let (df, said, _) = ingest("hl-prometheus.log");
    assert_eq!(df.height(), 33, "{said}");
    assert_eq!(levels(&df), lv(&[("info", 32), ("warn", 1)]));
    // `"duration":"1.416µs"` is 0.001416 ms.
    assert!(latencies(&df).contains(&0.001416), "{:?}", latencies(&df));
}

#[test]
fn kitchen_sink_keeps_trace_apart_and_reads_each_latency_key_in_its_unit() {
    let (df, said, _) = ingest("hl-kitchen-sink.log");
    assert_eq!(df.height(), 23, "{said}");
    assert_eq!(
        levels(&df),
        lv(&[
            ("debug", 5),
            ("error", 2),
            ("info", 10),
            ("trace", 4),
            ("warn", 2)
        ])
    );
    // duration_ms 12.5, latency_ms 45.7, duration_seconds 60.222, elapsed_seconds 15.0.
    let mut d = latencies(&df);
    d.sort_by(f64::total_cmp);
    assert_eq!(d, [12.5, 45.7, 15000.0, 60222.0]);
}
