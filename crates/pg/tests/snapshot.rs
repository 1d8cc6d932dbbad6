//! Snapshots of a real server with real sessions holding and waiting for
//! locks: a three-level row lock chain under an idle-in-transaction root, an
//! advisory-lock chain, and the saturation they cause.

use std::time::Duration;

use sidik_pg::snapshot::snapshot;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_chains_idle_roots_and_saturation_are_reported_exactly() {
    let pg = Cluster::builder()
        .max_connections(20)
        .start()
        .expect("test cluster");
    let url = pg.url("postgres");
    let setup = client(&url, "setup").await;
    setup
        .batch_execute("CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 0)")
        .await
        .unwrap();

    // Row chain: s1 holds the row and goes idle in transaction; s2 waits on s1; s3 waits on s2.
    let s1 = client(&url, "orchestrator").await;
    s1.batch_execute("BEGIN; UPDATE t SET v = 1 WHERE id = 1")
        .await
        .unwrap();
    let s1_pid: i32 = s1
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let s2 = client(&url, "upg").await;
    let s2_pid: i32 = s2
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let w2 = tokio::spawn(async move {
        s2.batch_execute("UPDATE t SET v = 2 WHERE id = 1")
            .await
            .map(|_| s2)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let s3 = client(&url, "mrg").await;
    let s3_pid: i32 = s3
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let w3 = tokio::spawn(async move {
        s3.batch_execute("UPDATE t SET v = 3 WHERE id = 1")
            .await
            .map(|_| s3)
    });
    // Advisory chain: a1 holds key 42 idle in transaction; a2 waits.
    let a1 = client(&url, "worker").await;
    a1.batch_execute("BEGIN; SELECT pg_advisory_xact_lock(42)")
        .await
        .unwrap();
    let a1_pid: i32 = a1
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let a2 = client(&url, "worker").await;
    let a2_pid: i32 = a2
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let wa = tokio::spawn(async move {
        a2.batch_execute("SELECT pg_advisory_xact_lock(42)")
            .await
            .map(|_| a2)
    });
    // Idle sessions up to 16 client connections besides sidik's.
    let mut idle = Vec::new();
    for _ in 0..9 {
        idle.push(client(&url, "pool").await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let s = Session::connect(&url, &SessionOptions::default())
        .await
        .unwrap();
    let snap = snapshot(&s).await.unwrap();
    assert_eq!(snap.preflight.usable_slots, 17);
    assert!(snap.preflight.sees_all_sessions);
    // setup, s1, s2, s3, a1, a2 and 9 idle = 15 others, plus sidik = 16 of 17.
    assert_eq!(
        snap.backends.len(),
        15,
        "{:#?}",
        snap.backends
            .iter()
            .map(|b| (b.pid, &b.application))
            .collect::<Vec<_>>()
    );
    assert!(
        (snap.saturation - 16.0 / 17.0).abs() < 1e-9,
        "{}",
        snap.saturation
    );
    assert!(
        snap.findings.iter().any(|f| f.severity == "critical"
            && f.text
                .contains("94 % used (16 of 17); application pool holds 9")),
        "{:#?}",
        snap.findings
    );

    let node = |pid: i32| {
        snap.tree
            .iter()
            .find(|n| n.pid == pid)
            .unwrap_or_else(|| panic!("{pid} not in {:#?}", snap.tree))
            .clone()
    };
    assert_eq!(node(s1_pid).depth, 0);
    assert_eq!(node(s1_pid).children, vec![s2_pid]);
    assert_eq!(node(s2_pid).depth, 1);
    assert_eq!(node(s2_pid).children, vec![s3_pid]);
    assert_eq!(node(s3_pid).depth, 2);
    assert_eq!(node(a1_pid).depth, 0);
    assert_eq!(node(a1_pid).children, vec![a2_pid]);
    let b = |pid: i32| snap.backends.iter().find(|b| b.pid == pid).unwrap().clone();
    assert_eq!(b(s1_pid).state, "idle in transaction");
    assert!(
        b(s2_pid)
            .waits_for
            .as_deref()
            .unwrap()
            .starts_with("transactionid ShareLock"),
        "{:?}",
        b(s2_pid).waits_for
    );
    assert!(
        b(a2_pid)
            .waits_for
            .as_deref()
            .unwrap()
            .starts_with("advisory ExclusiveLock"),
        "{:?}",
        b(a2_pid).waits_for
    );
    assert!(
        snap.findings.iter().any(|f| f.text.starts_with(&format!(
            "pid {s1_pid} (orchestrator) is idle in transaction"
        )) && f.text.contains("blocks 2 session(s)")),
        "{:#?}",
        snap.findings
    );
    assert!(
        snap.findings
            .iter()
            .any(|f| f.text == "a lock chain 3 levels deep"),
        "{:#?}",
        snap.findings
    );

    // Lock types: s2 waits on s1's transaction, s3 on the tuple s2 holds, a2 on key 42.
    let waiting = |t: &str| snap.lock_types.get(t).map(|x| x.1);
    assert_eq!(waiting("transactionid"), Some(1), "{:?}", snap.lock_types);
    assert_eq!(waiting("tuple"), Some(1), "{:?}", snap.lock_types);
    assert_eq!(snap.lock_types.get("advisory"), Some(&(1, 1)));
    assert!(snap
        .findings
        .iter()
        .any(|f| f.text.starts_with("2 session(s) wait for row locks")));

    // Release everything: the chain drains.
    s1.batch_execute("COMMIT").await.unwrap();
    a1.batch_execute("COMMIT").await.unwrap();
    w2.await.unwrap().unwrap();
    w3.await.unwrap().unwrap();
    wa.await.unwrap().unwrap();
    let snap = snapshot(&s).await.unwrap();
    assert!(snap.tree.is_empty(), "{:#?}", snap.tree);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_exclusive_lock_never_makes_the_snapshot_wait() {
    let pg = Cluster::start().expect("test cluster");
    let url = pg.url("postgres");
    let setup = client(&url, "setup").await;
    setup
        .batch_execute("CREATE TABLE t (id int PRIMARY KEY)")
        .await
        .unwrap();
    let holder = client(&url, "migration").await;
    holder
        .batch_execute("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let reader = client(&url, "api").await;
    let r = tokio::spawn(async move {
        reader
            .batch_execute("SELECT * FROM t")
            .await
            .map(|_| reader)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let s = Session::connect(&url, &SessionOptions::default())
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let snap = tokio::time::timeout(Duration::from_secs(5), snapshot(&s))
        .await
        .expect("the snapshot waited")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    let waiting = snap
        .backends
        .iter()
        .find(|b| b.application == "api")
        .unwrap();
    assert_eq!(
        waiting.waits_for.as_deref(),
        Some("relation t AccessShareLock")
    );
    assert_eq!(snap.tree.len(), 2);
    holder.batch_execute("COMMIT").await.unwrap();
    r.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limited_roles_work_and_say_what_they_cannot_see() {
    let pg = Cluster::start().expect("test cluster");
    pg.psql(
        "postgres",
        "CREATE ROLE mon LOGIN; GRANT pg_monitor TO mon; CREATE ROLE plain LOGIN",
    )
    .unwrap();
    let url = pg.url("postgres");
    let busy = client(&url, "orchestrator").await;
    busy.batch_execute("BEGIN; SELECT 1").await.unwrap();
    let port = pg.port();
    for (role, sees) in [("mon", true), ("plain", false)] {
        let s = Session::connect(
            &format!("postgres://{role}@127.0.0.1:{port}/postgres"),
            &SessionOptions::default(),
        )
        .await
        .unwrap();
        let snap = snapshot(&s).await.unwrap();
        assert_eq!(snap.preflight.sees_all_sessions, sees, "{role}");
        let other = snap
            .backends
            .iter()
            .find(|b| b.application == "orchestrator")
            .expect("the other session is listed");
        if sees {
            assert_eq!(other.state, "idle in transaction");
            assert!(!snap
                .findings
                .iter()
                .any(|f| f.text.starts_with("partial visibility")));
        } else {
            // Without pg_read_all_stats another role's state and query are hidden: reported as unknown, never as idle.
            assert_eq!(other.state, "");
            assert!(
                snap.by_state.get("(unknown)").is_some_and(|n| *n >= 1),
                "{:?}",
                snap.by_state
            );
            assert!(
                snap.findings
                    .iter()
                    .any(|f| f.text.starts_with("partial visibility")),
                "{:#?}",
                snap.findings
            );
        }
    }
    busy.batch_execute("COMMIT").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidik_refuses_to_add_to_its_own_sessions() {
    let pg = Cluster::start().expect("test cluster");
    let url = pg.url("postgres");
    let a = Session::connect(&url, &SessionOptions::default())
        .await
        .unwrap();
    let b = Session::connect(&url, &SessionOptions::default())
        .await
        .unwrap();
    let c = Session::connect(&url, &SessionOptions::default())
        .await
        .unwrap();
    let err = Session::connect(&url, &SessionOptions::default())
        .await
        .err()
        .expect("a fourth sidik session was allowed");
    assert!(
        err.to_string()
            .contains("3 other sidik sessions are already connected"),
        "{err}"
    );
    drop((a, b, c));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlocks_and_prepared_transactions_are_reported_as_consistent_with_a_race() {
    let pg = Cluster::builder()
        .setting("max_prepared_transactions", "2")
        .setting("deadlock_timeout", "100ms")
        .start()
        .expect("test cluster");
    pg.psql("postgres", "CREATE DATABASE pay").unwrap();
    let url = pg.url("pay");
    let setup = client(&url, "setup").await;
    setup
        .batch_execute("CREATE TABLE payments (id int PRIMARY KEY, v int); INSERT INTO payments VALUES (1, 0), (2, 0)")
        .await
        .unwrap();

    // Two sessions take the same two rows in opposite orders: one deadlock.
    let a = client(&url, "orchestrator").await;
    let b = client(&url, "upg-callback").await;
    a.batch_execute("BEGIN; UPDATE payments SET v = 1 WHERE id = 1")
        .await
        .unwrap();
    b.batch_execute("BEGIN; UPDATE payments SET v = 2 WHERE id = 2")
        .await
        .unwrap();
    let wa = tokio::spawn(async move {
        let r = a
            .batch_execute("UPDATE payments SET v = 1 WHERE id = 2")
            .await;
        (a, r)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rb = b
        .batch_execute("UPDATE payments SET v = 2 WHERE id = 1")
        .await;
    let (a, ra) = wa.await.unwrap();
    let codes: Vec<String> = [&ra, &rb]
        .iter()
        .filter_map(|r| r.as_ref().err())
        .filter_map(|e| e.code().map(|c| c.code().to_string()))
        .collect();
    assert_eq!(codes, ["40P01"], "exactly one side is the deadlock victim");
    a.batch_execute("ROLLBACK").await.unwrap();
    b.batch_execute("ROLLBACK").await.unwrap();
    // A backend flushes its statistics when it exits (or after ~10 s idle).
    drop((a, b));

    // A prepared transaction keeps its row lock with no session; another waits on it.
    let c = client(&url, "two-phase").await;
    c.batch_execute("BEGIN; UPDATE payments SET v = 3 WHERE id = 1; PREPARE TRANSACTION 'p1'")
        .await
        .unwrap();
    let d = client(&url, "ho-push").await;
    let wd = tokio::spawn(async move {
        d.batch_execute("UPDATE payments SET v = 4 WHERE id = 1")
            .await
            .map(|_| d)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let s = Session::connect(&url, &SessionOptions::default())
        .await
        .unwrap();
    // The exited backends' statistics reach pg_stat_database shortly after.
    let mut snap = snapshot(&s).await.unwrap();
    for _ in 0..50 {
        if snap
            .databases
            .iter()
            .any(|d| d.datname == "pay" && d.deadlocks > 0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        snap = snapshot(&s).await.unwrap();
    }
    let pay = snap.databases.iter().find(|d| d.datname == "pay").unwrap();
    assert_eq!(pay.deadlocks, 1, "{pay:?}");
    let deadlock = snap
        .findings
        .iter()
        .find(|f| f.text.contains("deadlock"))
        .expect("a deadlock finding");
    assert!(
        deadlock
            .text
            .starts_with("1 deadlock(s) detected in database pay"),
        "{}",
        deadlock.text
    );
    assert!(
        deadlock.text.contains("consistent with a race"),
        "{}",
        deadlock.text
    );
    assert!(snap.findings.iter().all(|f| !f.text.contains("proves")));

    assert_eq!(snap.prepared.0, 1);
    assert!(snap
        .findings
        .iter()
        .any(|f| f.text.starts_with("1 prepared transaction(s)")));
    assert_eq!(
        snap.lock_types.get("transactionid").map(|x| x.1),
        Some(1),
        "{:?}",
        snap.lock_types
    );
    assert!(snap
        .findings
        .iter()
        .any(|f| f.text.starts_with("1 session(s) wait for row locks")
            && f.text.contains("consistent with")));
    // The waiter hangs under the prepared transaction (pid 0 in pg_blocking_pids).
    let waiter = snap
        .backends
        .iter()
        .find(|b| b.application == "ho-push")
        .unwrap();
    assert_eq!(waiter.blocked_by, [0]);
    assert!(snap.tree.iter().any(|n| n.pid == 0 && n.depth == 0));

    setup.batch_execute("ROLLBACK PREPARED 'p1'").await.unwrap();
    wd.await.unwrap().unwrap();
}
