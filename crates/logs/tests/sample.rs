//! Ingesting generated incidents of every scenario and checking the result
//! against their ground truth.

use std::collections::{BTreeMap, BTreeSet};

use sidik_core::Incident;
use sidik_logs::incident::ingest_incident;
use sidik_sample::{generate, GenerateOptions, Scenario};

fn sample(dir: &std::path::Path, scenario: Scenario, orders: u64) -> serde_json::Value {
    generate(&GenerateOptions {
        out: dir.to_path_buf(),
        scenario,
        orders,
        seed: 3,
        force: false,
        vary: false,
    })
    .unwrap();
    serde_json::from_slice(&std::fs::read(dir.join("ground_truth.json")).unwrap()).unwrap()
}

#[test]
fn every_scenario_ingests_exactly_what_was_generated() {
    let tmp = tempfile::tempdir().unwrap();
    for sc in Scenario::ALL {
        let dir = tmp.path().join(sc.name());
        let truth = sample(&dir, sc, 4000);
        let inc = Incident::load(&dir).unwrap();
        let got = ingest_incident(&inc, 50_000, None).unwrap();

        // Events per service = records generated minus the malformed ones.
        let mut expected: BTreeMap<String, u64> = BTreeMap::new();
        let mut planted: BTreeSet<(String, u64)> = BTreeSet::new();
        for f in truth["logs"].as_array().unwrap() {
            *expected
                .entry(f["service"].as_str().unwrap().to_string())
                .or_default() += f["events"].as_u64().unwrap();
            for l in f["malformed_lines"].as_array().unwrap() {
                planted.insert((f["path"].as_str().unwrap().to_string(), l.as_u64().unwrap()));
            }
        }
        assert_eq!(got.summary.events, expected, "{sc}: events per service");

        // Every planted malformed line is quarantined with its line number, and nothing else.
        let mut quarantined = BTreeSet::new();
        for svc in ["mrg", "upg", "order-orchestrator", "postgres"] {
            let q = inc.dir.evidence().join(format!("quarantine/{svc}.jsonl"));
            if let Ok(text) = std::fs::read_to_string(&q) {
                for l in text.lines() {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    assert!(!v["reason"].as_str().unwrap().is_empty());
                    quarantined.insert((
                        v["file"].as_str().unwrap().to_string(),
                        v["line"].as_u64().unwrap(),
                    ));
                }
            }
        }
        assert_eq!(quarantined, planted, "{sc}: quarantine");
        let q_total: u64 = got.summary.quarantined.values().sum();
        assert_eq!(q_total as usize, planted.len());

        // Error records per class and minute = the ground truth.
        for (class, minutes) in truth["classes_per_minute"].as_object().unwrap() {
            let counts = got.timeline.class_counts(class);
            let got_min: BTreeMap<String, u64> = counts
                .iter()
                .map(|(t, n)| {
                    (
                        chrono::DateTime::from_timestamp_millis(*t)
                            .unwrap()
                            .with_timezone(&chrono::FixedOffset::east_opt(7 * 3600).unwrap())
                            .format("%Y-%m-%dT%H:%M:%S%.3f+07:00")
                            .to_string(),
                        *n,
                    )
                })
                .collect();
            let want: BTreeMap<String, u64> = minutes
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
                .collect();
            assert_eq!(got_min, want, "{sc}: class {class} per minute");
        }
        for (i, class) in got.timeline.classes.iter().enumerate() {
            let total: u64 = got.timeline.cells.values().map(|c| c.classes[i]).sum();
            // Template classes (`tpl_…`) are the unclaimed warnings'; the truth lists rule classes.
            if total > 0 && !class.starts_with("tpl_") {
                assert!(
                    truth["classes_per_minute"].get(class).is_some(),
                    "{sc}: unexpected class {class} ({total} records)"
                );
            }
        }

        // The journey of a planted stuck order shows where it broke.
        let stuck = truth["stuck_orders"].as_array().unwrap();
        assert!(!stuck.is_empty(), "{sc}: no stuck order planted");
        let id = stuck[0].as_str().unwrap();
        let jcsv = got.dir.join("journeys.csv");
        let j = sidik_logs::journey::lookup(&jcsv, id)
            .unwrap()
            .unwrap_or_else(|| panic!("{sc}: {id} not in journeys.csv"));
        assert!(!j[7].is_empty(), "{sc}: {id} has no broken hop: {j:?}");
        // One row per order, sorted by order id, as many as the ingest counted.
        let ids: Vec<String> = csv::Reader::from_path(&jcsv)
            .unwrap()
            .records()
            .map(|r| r.unwrap()[0].to_string())
            .collect();
        assert_eq!(ids.len() as u64, got.journeys.orders, "{sc}");
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "{sc}: journeys not sorted by order id"
        );
        assert!(
            !got.dir.join(".journeys").exists(),
            "{sc}: spill left behind"
        );
        let want = match sc {
            Scenario::PoolExhaustion => ("order-orchestrator", "db_pool_exhaustion"),
            Scenario::CallbackFailure => ("upg", ""),
            Scenario::CircuitBreaker => ("upg", "circuit_breaker_open"),
            Scenario::TimeoutMismatch => ("order-orchestrator", "timeout"),
            Scenario::RaceCondition => ("order-orchestrator", "deadlock"),
        };
        assert_eq!(&j[8], want.0, "{sc}: {id} broke at {j:?}");
        if !want.1.is_empty() {
            assert_eq!(&j[9], want.1, "{sc}: {j:?}");
        }
        // The timeline is also Parquet, with the same rows as the CSV.
        use polars::prelude::SerReader;
        let tl = polars::prelude::ParquetReader::new(
            std::fs::File::open(got.dir.join("timeline.parquet")).unwrap(),
        )
        .finish()
        .unwrap();
        assert_eq!(tl.height(), got.timeline.cells.len());
        // The per-order events come back from Parquet in time order.
        let ev = sidik_logs::incident::journey_events(&got.dir, id).unwrap();
        assert_eq!(ev.height().to_string(), &j[3]);
        // Every event carries the template its service's patterns.csv lists.
        let listed: std::collections::BTreeSet<(String, String)> =
            csv::Reader::from_path(got.dir.join("patterns.csv"))
                .unwrap()
                .records()
                .map(|r| {
                    let r = r.unwrap();
                    (r[0].to_string(), r[2].to_string())
                })
                .collect();
        let svc = ev.column("service").unwrap().str().unwrap().clone();
        let tid = ev.column("template_id").unwrap().u64().unwrap().clone();
        for i in 0..ev.height() {
            let t = tid
                .get(i)
                .unwrap_or_else(|| panic!("{sc}: event {i} of {id} has no template"));
            let key = (svc.get(i).unwrap().to_string(), t.to_string());
            assert!(listed.contains(&key), "{sc}: {key:?} not in patterns.csv");
        }
    }
}

#[test]
fn mrg_local_times_land_on_the_right_utc_minute() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("inc");
    sample(&dir, Scenario::PoolExhaustion, 2000);
    let inc = Incident::load(&dir).unwrap();
    let got = ingest_incident(&inc, 50_000, None).unwrap();
    // orders.csv holds created_at in WIB without an offset; MRG logs "order received" at that instant.
    let mut rdr = csv::Reader::from_path(dir.join("data/orders.csv")).unwrap();
    let mut checked = 0;
    for rec in rdr.records().take(300) {
        let rec = rec.unwrap();
        let id = &rec[0];
        let local = chrono::NaiveDateTime::parse_from_str(&rec[3], "%Y-%m-%d %H:%M:%S").unwrap();
        let utc_secs = local.and_utc().timestamp() - 7 * 3600;
        let ev = sidik_logs::incident::journey_events(&got.dir, id).unwrap();
        let svc = ev.column("service").unwrap().str().unwrap().clone();
        let msg = ev.column("message").unwrap().str().unwrap().clone();
        let time = ev
            .column("time")
            .unwrap()
            .cast(&polars::prelude::DataType::Int64)
            .unwrap();
        let time = time.i64().unwrap();
        for i in 0..ev.height() {
            if svc.get(i) == Some("mrg") && msg.get(i) == Some("order received") {
                assert_eq!(time.get(i).unwrap().div_euclid(1000), utc_secs, "{id}");
                checked += 1;
            }
        }
    }
    assert!(checked > 250, "only {checked} MRG lines checked");
}

/// The codec of every column chunk of every events file under `dir`.
fn codecs(dir: &std::path::Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if !p
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("events-")
        {
            continue;
        }
        let meta =
            polars_parquet::read::read_metadata(&mut std::fs::File::open(&p).unwrap()).unwrap();
        for g in &meta.row_groups {
            for c in g.parquet_columns() {
                out.insert(format!("{:?}", c.compression()));
            }
        }
    }
    out
}

#[test]
fn events_are_lz4_unless_zstd_is_asked_for_and_read_back_the_same() {
    use polars::prelude::{DataFrame, ParquetReader, SerReader};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("inc");
    sample(&dir, Scenario::CallbackFailure, 1500);
    // Every events file, in name order, stacked into one frame.
    let events = |dir: &std::path::Path| {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains("events-"))
            .collect();
        files.sort();
        let mut all: Option<DataFrame> = None;
        for p in &files {
            let df = ParquetReader::new(std::fs::File::open(p).unwrap())
                .finish()
                .unwrap();
            match &mut all {
                Some(a) => {
                    a.vstack_mut(&df).unwrap();
                }
                None => all = Some(df),
            }
        }
        (files.len(), all.unwrap())
    };
    let inc = Incident::load(&dir).unwrap();
    let lz4 = ingest_incident(&inc, 2_000, None).unwrap();
    // Trace ids, random hex, are stored as they are.
    assert_eq!(
        codecs(&lz4.dir),
        BTreeSet::from(["Lz4Raw".to_string(), "Uncompressed".to_string()])
    );
    let (files, before) = events(&lz4.dir);
    assert!(files > 3, "{files} files");

    let toml = std::fs::read_to_string(dir.join("incident.toml")).unwrap();
    std::fs::write(
        dir.join("incident.toml"),
        format!("{toml}\n[logs]\ncompression = \"zstd\"\n"),
    )
    .unwrap();
    let inc = Incident::load(&dir).unwrap();
    let zstd = ingest_incident(&inc, 2_000, None).unwrap();
    assert_eq!(codecs(&zstd.dir), BTreeSet::from(["Zstd".to_string()]));
    let (files_after, after) = events(&zstd.dir);
    assert_eq!(files_after, files);
    assert!(before.height() > 10_000, "{}", before.height());
    assert!(
        before.equals_missing(&after),
        "the codec changed what reads back"
    );
}
