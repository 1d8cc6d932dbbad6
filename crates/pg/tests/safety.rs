//! What sidik-pg promises when pointed at production, on real parts: a
//! listener that accepts and never answers, a stopped postmaster and a
//! stopped backend all hit a deadline with a message that says what
//! happened; refused ports and unknown hosts are named as such; a query
//! file's writes never reach the server; and password literals the server
//! kept in its statement texts never leave a session.

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use sidik_pg::{Session, SessionOptions};
use sidik_testpg::{silent_listener, Cluster};
use tokio_postgres::NoTls;

fn signal(sig: &str, pid: u32) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

fn quick() -> SessionOptions {
    SessionOptions {
        statement_timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(1),
        ..Default::default()
    }
}

async fn connect_err(url: &str, opts: &SessionOptions) -> String {
    match Session::connect(url, opts).await {
        Ok(_) => panic!("{url} connected"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_a_refused_port_and_an_unknown_host_each_say_what_happened() {
    let port = silent_listener();
    // The connection string's connect_timeout wins over the default.
    let e = connect_err(
        &format!("postgres://app:S3cret@127.0.0.1:{port}/orders?connect_timeout=1&sslmode=disable"),
        &SessionOptions::default(),
    )
    .await;
    assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");
    assert!(e.contains("no answer within 1 s"), "{e}");
    assert!(e.contains("connect_timeout"), "{e}");
    assert!(!e.contains("S3cret"), "{e}");
    // libpq's key/value form, and the default when the string has none.
    let e = connect_err(
        &format!("host=127.0.0.1 port={port} user=app dbname=orders sslmode=prefer"),
        &quick(),
    )
    .await;
    assert!(e.contains("no answer within 1 s"), "{e}");

    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = connect_err(
        &format!("postgres://app@127.0.0.1:{closed}/orders?sslmode=disable"),
        &quick(),
    )
    .await;
    assert!(
        e.contains(&format!(
            "connection refused: nothing listens on 127.0.0.1:{closed}"
        )),
        "{e}"
    );

    let e = connect_err(
        "postgres://app@no-such-host.invalid:5432/orders?sslmode=disable",
        &SessionOptions {
            connect_timeout: Duration::from_secs(10),
            ..quick()
        },
    )
    .await;
    assert!(
        e.contains("no such host") || e.contains("no answer within"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_backend_and_a_stopped_postmaster_hit_the_deadline() {
    let pg = Cluster::start().expect("test cluster");
    let url = pg.url("postgres");
    let s = Session::connect(&url, &quick()).await.unwrap();
    let pid: u32 = s
        .query_read_only("own pid", "SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .rows[0][0]
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    // The backend stops answering mid-session: its statement_timeout cannot
    // fire, the session's own deadline does.
    signal("-STOP", pid);
    let e = s
        .query_read_only("a query", "SELECT 1", &[])
        .await
        .unwrap_err()
        .to_string();
    signal("-CONT", pid);
    assert!(e.contains("gave no answer within 2 s"), "{e}");
    drop(s);

    // The postmaster stops: the kernel still accepts, nobody answers.
    signal("-STOP", pg.pid());
    let e = connect_err(&url, &quick()).await;
    signal("-CONT", pg.pid());
    assert!(e.contains("no answer within 1 s"), "{e}");
    // And the server works again afterwards.
    Session::connect(&url, &quick()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_cannot_write_even_past_the_text_check() {
    let pg = Cluster::start().expect("test cluster");
    let url = pg.url("postgres");
    pg.psql(
        "postgres",
        "CREATE TABLE victim (id int); CREATE SEQUENCE seq; INSERT INTO victim VALUES (1)",
    )
    .unwrap();
    let s = Session::connect(&url, &SessionOptions::default())
        .await
        .unwrap();
    // Refused before anything is sent.
    for sql in [
        "SELECT 1; SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; COMMIT; INSERT INTO victim VALUES (2)",
        "SET default_transaction_read_only = off; COMMIT; DELETE FROM victim",
        "COMMIT",
        "WITH d AS (DELETE FROM victim RETURNING *) SELECT * FROM d",
        "SELECT pg_stat_statements_reset()",
    ] {
        let e = s.query_read_only("probe", sql, &[]).await.unwrap_err();
        assert!(
            matches!(e, sidik_pg::PgError::QueryFile { .. }),
            "{sql}: {e}"
        );
    }
    // What the text check lets through, the read-only transaction stops.
    for sql in ["SELECT nextval('seq')", "SELECT * FROM victim FOR UPDATE"] {
        let e = s
            .query_read_only("probe", sql, &[])
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("read-only transaction"), "{sql}: {e}");
    }
    // A function that writes is no way around it either.
    pg.psql(
        "postgres",
        "CREATE FUNCTION sneak() RETURNS int LANGUAGE sql AS $$ INSERT INTO victim VALUES (3) RETURNING id $$",
    )
    .unwrap();
    let e = s
        .query_read_only("probe", "SELECT sneak()", &[])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("read-only transaction"), "{e}");
    // The session still works, and nothing was written.
    let t = s
        .query_read_only("count", "SELECT count(*) AS n FROM victim", &[])
        .await
        .unwrap();
    assert_eq!(t.first("n"), Some("1"));
    assert_eq!(
        pg.psql("postgres", "SELECT count(*) FROM victim").unwrap(),
        "1"
    );
    assert_eq!(
        pg.psql("postgres", "SELECT last_value FROM seq").unwrap(),
        "1",
        "nextval ran"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_literals_the_server_kept_never_leave_a_session() {
    let pg = Cluster::start().expect("test cluster");
    let url = pg.url("postgres");
    pg.psql(
        "postgres",
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
    )
    .unwrap();
    pg.psql("postgres", "CREATE ROLE incuser LOGIN PASSWORD 'S3cretPw'")
        .unwrap();
    // A session whose last statement set a password, left idle: its text
    // stays in pg_stat_activity.
    let (idle, conn) = tokio_postgres::connect(&format!("{url}?application_name=idle"), NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    idle.batch_execute("ALTER ROLE incuser PASSWORD 'Idl3Secret'")
        .await
        .unwrap();

    let s = Session::connect(&url, &SessionOptions::default())
        .await
        .unwrap();
    let snap = sidik_pg::snapshot::snapshot(&s).await.unwrap();
    let shown = format!("{snap:?}");
    assert!(!shown.contains("Idl3Secret"), "{shown}");
    assert!(
        shown.contains("ALTER ROLE incuser PASSWORD '***'"),
        "{shown}"
    );
    let top = sidik_pg::statements::top(&s, 100).await.unwrap();
    let shown = format!("{top:?}");
    assert!(!shown.contains("S3cretPw"), "{shown}");
    assert!(
        shown.contains("CREATE ROLE incuser LOGIN PASSWORD '***'"),
        "{shown}"
    );
    let t = s
        .query_read_only(
            "statements",
            "SELECT query FROM pg_stat_statements WHERE query ILIKE '%password%'",
            &[],
        )
        .await
        .unwrap();
    assert!(!t.rows.is_empty());
    for r in &t.rows {
        let q = r[0].as_deref().unwrap();
        assert!(!q.contains("S3cretPw") && !q.contains("Idl3Secret"), "{q}");
    }
    // Data that is not a statement is left as it is.
    let t = s
        .query_read_only(
            "data",
            "SELECT 'O''Brien' AS name, 'password=x' AS note",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(t.first("name"), Some("O'Brien"));
    assert_eq!(t.first("note"), Some("password=x"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_timeout_names_the_table_and_the_session_holding_it() {
    let pg = Cluster::start().expect("test cluster");
    let url = pg.url("postgres");
    pg.psql("postgres", "CREATE TABLE orders (id int)").unwrap();
    let (holder, conn) =
        tokio_postgres::connect(&format!("{url}?application_name=migration"), NoTls)
            .await
            .unwrap();
    tokio::spawn(conn);
    let pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    holder
        .batch_execute("BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let s = Session::connect(&url, &SessionOptions::default())
        .await
        .unwrap();
    let e = s
        .query_read_only("stuck orders", "SELECT count(*) FROM orders", &[])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("lock timeout"), "{e}");
    assert!(
        e.contains(&format!(
            "orders is locked by pid {pid} (idle in transaction for"
        )),
        "{e}"
    );
    assert!(
        e.contains("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE"),
        "{e}"
    );
    holder.batch_execute("COMMIT").await.unwrap();
    // The session works on once the lock is gone.
    let t = s
        .query_read_only("stuck orders", "SELECT count(*) AS n FROM orders", &[])
        .await
        .unwrap();
    assert_eq!(t.first("n"), Some("0"));
}
