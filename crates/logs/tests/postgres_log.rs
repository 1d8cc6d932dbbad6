//! A PostgreSQL log written by a real server (the test cluster), with a real
//! deadlock, a real `too many clients` rejection and a real slow statement.

use sidik_logs::classify::Classifier;
use sidik_logs::ingest::{ingest, Options, Source};
use sidik_logs::parse::{Format, Settings};
use sidik_logs::record::Aliases;
use sidik_testpg::Cluster;

#[test]
fn a_real_server_log_is_parsed_and_classified() {
    let pg = Cluster::builder()
        .max_connections(6)
        .start()
        .expect("test cluster");
    pg.psql(
        "postgres",
        "CREATE TABLE d (id int PRIMARY KEY, v int); INSERT INTO d VALUES (1, 0), (2, 0)",
    )
    .unwrap();
    // A deadlock between two real sessions.
    let results: Vec<Result<String, String>> = std::thread::scope(|s| {
        let a = s.spawn(|| pg.psql("postgres", "BEGIN; UPDATE d SET v = 1 WHERE id = 1; SELECT pg_sleep(0.6); UPDATE d SET v = 1 WHERE id = 2; COMMIT;"));
        let b = s.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            pg.psql("postgres", "BEGIN; UPDATE d SET v = 2 WHERE id = 2; SELECT pg_sleep(0.6); UPDATE d SET v = 2 WHERE id = 1; COMMIT;")
        });
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    assert!(
        results
            .iter()
            .any(|r| r.as_ref().is_err_and(|e| e.contains("deadlock detected"))),
        "{results:?}"
    );
    // More sessions than slots: real rejections.
    let results: Vec<Result<String, String>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..9)
            .map(|_| s.spawn(|| pg.psql("postgres", "SELECT pg_sleep(1.5)")))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        results
            .iter()
            .any(|r| r.as_ref().is_err_and(|e| e.contains("too many clients"))),
        "{results:?}"
    );
    // A statement slower than log_min_duration_statement (1 s).
    pg.psql("postgres", "SELECT pg_sleep(1.1)").unwrap();

    let log = pg.log_path().to_path_buf();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains(" WIB ["), "the harness logs in WIB:\n{text}");
    let tmp = tempfile::tempdir().unwrap();
    let classifier = Classifier::new(None).unwrap();
    for format in [
        Some(Format::PostgresStderr("%m [%p] %q%u@%d ".into())),
        None,
    ] {
        let src = Source {
            service: "postgres".into(),
            files: vec![log.clone()],
            format: format.clone(),
            settings: Settings {
                aliases: Aliases::default(),
                tz: chrono_tz::UTC,
                clock_offset_ms: 0,
            },
        };
        let opts = Options {
            out: tmp.path().join("logs"),
            quarantine: tmp.path().join("q"),
            bucket_ms: 60_000,
            chunk_rows: 10_000,
            group_rows: sidik_logs::ingest::GROUP_ROWS,
            compression: Default::default(),
            base: tmp.path().to_path_buf(),
            progress: None,
            window: None,
        };
        let sidik_logs::ingest::Ingest {
            summary, timeline, ..
        } = ingest(&[src], &classifier, &opts).unwrap();
        assert_eq!(
            summary.quarantined["postgres"],
            0,
            "{format:?}: lines set aside: {}",
            std::fs::read_to_string(tmp.path().join("q/postgres.jsonl")).unwrap_or_default()
        );
        assert_eq!(summary.files[0].format, "postgres-stderr");
        let total = |class: &str| timeline.class_counts(class).values().sum::<u64>();
        assert!(total("deadlock") >= 1, "{format:?}: no deadlock classified");
        assert!(
            total("db_pool_exhaustion") >= 1,
            "{format:?}: no rejection classified"
        );
        // The slow statement carries its duration as latency.
        let slow: u64 = timeline.cells.values().map(|c| c.requests).sum();
        assert!(slow >= 1, "{format:?}: the slow statement has no latency");
        let p99 = timeline
            .cells
            .values()
            .filter_map(|c| c.latency(0.99))
            .fold(0.0, f64::max);
        assert!(p99 >= 1000.0, "{format:?}: p99 {p99}");
    }
}
