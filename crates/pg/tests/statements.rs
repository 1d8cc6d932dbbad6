//! pg_stat_statements read by extension version: 1.7's `total_time`, the
//! current `total_exec_time`; not installed and not preloaded become findings.

use sidik_pg::statements::{top, Statements};
use sidik_pg::{Session, SessionOptions};
use sidik_testpg::Cluster;

async fn session(url: &str) -> Session {
    Session::connect(url, &SessionOptions::default())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_and_new_extension_versions_both_give_a_top_n() {
    let pg = Cluster::start().expect("test cluster");
    let url = pg.url("postgres");
    match top(&session(&url).await, 5).await.unwrap() {
        Statements::Unavailable(why) => assert!(why.contains("not installed"), "{why}"),
        other => panic!("{other:?}"),
    }
    pg.psql(
        "postgres",
        "CREATE EXTENSION pg_stat_statements VERSION '1.7'",
    )
    .unwrap();
    for _ in 0..5 {
        pg.psql(
            "postgres",
            "SELECT count(*) FROM generate_series(1, 200000)",
        )
        .unwrap();
    }
    match top(&session(&url).await, 5).await.unwrap() {
        Statements::Top {
            version,
            statements,
        } => {
            assert_eq!(version, "1.7");
            let gs = statements
                .iter()
                .find(|s| {
                    s.query
                        .as_deref()
                        .is_some_and(|q| q.contains("generate_series"))
                })
                .expect("the test's statement");
            assert_eq!(gs.calls, 5);
            assert!(gs.total_ms > 0.0 && gs.mean_ms > 0.0);
        }
        other => panic!("{other:?}"),
    }
    pg.psql("postgres", "ALTER EXTENSION pg_stat_statements UPDATE")
        .unwrap();
    match top(&session(&url).await, 5).await.unwrap() {
        Statements::Top {
            version,
            statements,
        } => {
            assert_ne!(version, "1.7");
            assert!(statements.iter().any(|s| s
                .query
                .as_deref()
                .is_some_and(|q| q.contains("generate_series"))
                && s.calls == 5));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extension_without_the_library_is_a_finding_not_a_crash() {
    let pg = Cluster::builder()
        .setting("shared_preload_libraries", "''")
        .start()
        .expect("test cluster");
    pg.psql("postgres", "CREATE EXTENSION pg_stat_statements")
        .unwrap();
    match top(&session(&pg.url("postgres")).await, 5).await.unwrap() {
        Statements::Unavailable(why) => assert!(
            why.contains("not loaded") && why.contains("shared_preload_libraries"),
            "{why}"
        ),
        other => panic!("{other:?}"),
    }
}
