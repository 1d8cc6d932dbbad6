//! The harness itself: a real cluster with pg_stat_statements, stopped
//! without leaving any process behind.

use std::net::TcpStream;

use sidik_testpg::{process_alive, Cluster};

#[test]
fn cluster_has_pg_stat_statements_and_leaves_nothing_running() {
    let pg = Cluster::builder()
        .max_connections(12)
        .start()
        .expect("start test cluster");
    assert_eq!(
        pg.psql("postgres", "SHOW shared_preload_libraries")
            .unwrap(),
        "pg_stat_statements"
    );
    pg.psql("postgres", "CREATE EXTENSION pg_stat_statements")
        .unwrap();
    pg.psql("postgres", "SELECT 42 AS answer").unwrap();
    let calls = pg
        .psql(
            "postgres",
            "SELECT sum(calls) FROM pg_stat_statements WHERE query LIKE 'SELECT $1 AS answer%'",
        )
        .unwrap();
    assert_eq!(calls, "1", "pg_stat_statements did not count the statement");
    assert_eq!(pg.psql("postgres", "SHOW max_connections").unwrap(), "12");
    assert!(pg
        .socket_dir()
        .join(format!(".s.PGSQL.{}", pg.port()))
        .exists());

    let pid = pg.pid();
    let port = pg.port();
    let data_root = pg.socket_dir().parent().unwrap().to_path_buf();
    assert!(process_alive(pid));
    // Backends are children of the postmaster; remember them too.
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    let children: Vec<u32> = children
        .split_whitespace()
        .filter_map(|c| c.parse().ok())
        .collect();
    assert!(
        !children.is_empty(),
        "postmaster has no auxiliary processes?"
    );

    pg.stop();
    assert!(!process_alive(pid), "postmaster {pid} still running");
    for c in children {
        assert!(!process_alive(c), "server process {c} still running");
    }
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still accepts connections"
    );
    assert!(
        !data_root.exists(),
        "cluster folder {} left behind",
        data_root.display()
    );
}

#[test]
fn a_panicking_test_still_stops_its_cluster() {
    let (tx, rx) = std::sync::mpsc::channel();
    let result = std::thread::spawn(move || {
        let pg = Cluster::start().expect("start test cluster");
        tx.send(pg.pid()).unwrap();
        panic!("test failure while the cluster runs");
    })
    .join();
    assert!(result.is_err());
    let pid = rx.recv().unwrap();
    assert!(!process_alive(pid), "postmaster {pid} survived the panic");
}
