//! Sampling a real server under real load: statement and database deltas
//! between samples, backends by (pid, backend_start), files written as it goes.

use std::time::Duration;

use sidik_pg::sample::{run, Sampler};
use sidik_pg::{Session, SessionOptions};
use sidik_testpg::Cluster;
use tokio_postgres::{Client, NoTls};

async fn client(url: &str, app: &str) -> Client {
    let (c, conn) = tokio_postgres::connect(&format!("{url}?application_name={app}"), NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    c
}

fn csv_rows(path: &std::path::Path) -> Vec<csv::StringRecord> {
    csv::Reader::from_path(path)
        .unwrap()
        .records()
        .map(|r| r.unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deltas_between_samples_count_exactly_what_ran() {
    let pg = Cluster::start().expect("test cluster");
    let url = pg.url("postgres");
    pg.psql(
        "postgres",
        "CREATE EXTENSION pg_stat_statements; CREATE TABLE load_t (id int PRIMARY KEY, n int); INSERT INTO load_t SELECT g, 0 FROM generate_series(1, 10) g",
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("samples");
    let leaving = client(&url, "leaving").await;

    let s = Session::connect(&url, &SessionOptions::default())
        .await
        .unwrap();
    let mut sampler = Sampler::new(&s, &dir).await.unwrap();
    assert!(sampler.has_statements());
    let first = sampler.sample(&s).await.unwrap();
    assert!(
        first.statements.is_empty(),
        "no interval before the first sample"
    );

    // Between the samples: one backend leaves, one arrives and runs 37 updates and 11 selects.
    drop(leaving);
    let worker = client(&url, "orchestrator").await;
    let upd = worker
        .prepare("UPDATE load_t SET n = n + 1 WHERE id = $1")
        .await
        .unwrap();
    for i in 0..37 {
        worker.execute(&upd, &[&(i % 10 + 1)]).await.unwrap();
    }
    let sel = worker
        .prepare("SELECT id FROM load_t WHERE n >= $1 ORDER BY id LIMIT 1")
        .await
        .unwrap();
    for _ in 0..11 {
        worker.query(&sel, &[&0i32]).await.unwrap();
    }
    // A live backend reports its database counters at most once a second
    // (idle: after ~10 s); one that exits reports at once. The worker leaves,
    // another client arrives.
    drop((worker, upd, sel));
    let _arrived = client(&url, "arrived").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = sampler.sample(&s).await.unwrap();

    // Which queryid is which, from the texts the sampler wrote.
    let texts = csv_rows(&dir.join("statement_texts.csv"));
    let id_of = |needle: &str| {
        texts
            .iter()
            .find(|r| r[1].contains(needle))
            .unwrap_or_else(|| panic!("no text with {needle}: {texts:?}"))[0]
            .to_string()
    };
    let (upd_id, sel_id) = (id_of("UPDATE load_t"), id_of("FROM load_t WHERE n >="));
    let delta = |id: &str| second.statements.iter().find(|d| d.queryid == id).unwrap();
    assert_eq!((delta(&upd_id).calls, delta(&upd_id).rows), (37, 37));
    assert_eq!((delta(&sel_id).calls, delta(&sel_id).rows), (11, 11));
    assert!(delta(&upd_id).total_ms > 0.0);
    assert!(!delta(&upd_id).own);
    // sidik's own sampling statements are there too, marked as its own.
    assert!(
        second.statements.iter().any(|d| d.own),
        "{:?}",
        second.statements
    );
    assert_eq!(second.row.opened, 1, "{:?}", second.row);
    assert_eq!(second.row.closed, 1, "{:?}", second.row);
    // 37 updates and 11 selects, each its own transaction (and the worker's prepares).
    assert!(second.row.commits >= 48, "{:?}", second.row);

    // Everything is on disk already, before the sampler is dropped.
    let samples = csv_rows(&dir.join("samples.csv"));
    assert_eq!(samples.len(), 2);
    assert_eq!(&samples[1][8], "1");
    let st = csv_rows(&dir.join("statements.csv"));
    let row = st.iter().find(|r| r[4] == upd_id).unwrap();
    assert_eq!((&row[5], &row[7]), ("37", "37"));
    let backends = csv_rows(&dir.join("backends.csv"));
    assert!(backends
        .iter()
        .any(|r| &r[7] == "arrived" && r[0] == samples[1][0]));
    assert!(backends
        .iter()
        .any(|r| &r[7] == "leaving" && r[0] == samples[0][0]));
    assert!(!backends
        .iter()
        .any(|r| &r[7] == "leaving" && r[0] == samples[1][0]));
    let dbs = csv_rows(&dir.join("databases.csv"));
    assert!(dbs.iter().any(|r| &r[2] == "postgres"));

    // A third sample with nothing run by the worker has no delta for it.
    let third = sampler.sample(&s).await.unwrap();
    assert!(third.statements.iter().all(|d| d.queryid != upd_id));
    assert_eq!(third.row.opened, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_under_load_keeps_its_samples_when_stopped() {
    let pg = Cluster::start().expect("test cluster");
    let url = pg.url("postgres");
    pg.psql(
        "postgres",
        "CREATE EXTENSION pg_stat_statements; CREATE TABLE hot (id int PRIMARY KEY, n int); INSERT INTO hot VALUES (1, 0)",
    )
    .unwrap();
    // Workers keep updating one row (and so queue on its lock) until told to stop.
    let stop_load = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..3 {
        let c = client(&url, &format!("worker{w}")).await;
        let stop = stop_load.clone();
        workers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                c.execute("UPDATE hot SET n = n + 1 WHERE id = 1", &[])
                    .await
                    .unwrap();
                n += 1;
            }
            n
        }));
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let s = Session::connect(&url, &SessionOptions::default())
        .await
        .unwrap();
    // Asked for a minute, stopped after about a second: what was taken is kept.
    let summary = run(
        &s,
        &dir,
        Duration::from_millis(200),
        Duration::from_secs(60),
        tokio::time::sleep(Duration::from_millis(1100)),
    )
    .await
    .unwrap();
    stop_load.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut ran = 0;
    for w in workers {
        ran += w.await.unwrap();
    }
    assert_eq!(summary.stopped.as_deref(), Some("interrupted"));
    assert!(summary.samples >= 4, "{summary:?}");
    let samples = csv_rows(&dir.join("samples.csv"));
    assert_eq!(samples.len(), summary.samples);
    // The updates seen between the first and last sample: some, never more than ran.
    let texts = csv_rows(&dir.join("statement_texts.csv"));
    let id = texts.iter().find(|r| r[1].contains("UPDATE hot")).unwrap()[0].to_string();
    let seen = summary.statements.iter().find(|d| d.queryid == id).unwrap();
    assert!(
        seen.calls > 0 && seen.calls as u64 <= ran,
        "{} of {ran}",
        seen.calls
    );
    assert!(
        summary.statements.iter().all(|d| !d.own),
        "the summary leaves sidik's own out"
    );
    assert!(texts.iter().any(|r| r[1].starts_with("/* sidik */")));
    let peak = summary.peak.unwrap();
    assert!(peak.client_backends >= 4, "{peak:?}");
    assert!(peak.usable_slots > 0 && peak.used > 0.0);
}
