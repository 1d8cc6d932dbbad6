//! `sidik recover apply` against a real PostgreSQL: apply then verify leaves
//! no recoverable stuck order and nothing missing in HO on every sample
//! scenario; the audit holds one entry per changed row; undo puts the rows
//! back byte for byte; a kill -9 anywhere resumes to the same end state
//! without applying anything twice; another session's change is skipped,
//! never overwritten; a held lock or a saturated server makes apply wait or
//! stop within its limits; without --execute nothing is written, and a
//! read-only role is refused.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{json, sidik_ok};
use sidik_testpg::Cluster;

fn sidik_db(dir: &Path, url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sidik"))
        .args(args)
        .args(["--incident", dir.to_str().unwrap()])
        .env("SIDIK_SAMPLE_DATABASE_URL", url)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

fn ok(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({}):\n{}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A sample incident loaded into its own database of `pg`.
fn incident(pg: &Cluster, tmp: &Path, scenario: &str, orders: u32, seed: u32) -> (PathBuf, String) {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let db = format!("{}_{seed}_{n}", scenario.replace('-', "_"));
    pg.psql("postgres", &format!("CREATE DATABASE {db}"))
        .unwrap();
    let url = pg.url(&db);
    let dir = tmp.join(&db);
    let d = dir.to_str().unwrap();
    sidik_ok(&[
        "sample",
        "generate",
        "--out",
        d,
        "--scenario",
        scenario,
        "--orders",
        &orders.to_string(),
        "--seed",
        &seed.to_string(),
    ]);
    sidik_ok(&["sample", "load", "--pg", &url, "--incident", d]);
    ok(&sidik_db(&dir, &url, &["recover", "plan"]), "recover plan");
    (dir, db)
}

fn set_recover(dir: &Path, settings: &str) {
    let p = dir.join("incident.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    let text = text.replace("[recover]\n", &format!("[recover]\n{settings}\n"));
    std::fs::write(p, text).unwrap();
}

/// Every row of the three tables, as the server shows them, in key order.
fn snapshot(pg: &Cluster, db: &str) -> String {
    pg.psql(
        db,
        "SELECT string_agg(r, E'\\n' ORDER BY r) FROM ( \
           SELECT 'o ' || to_jsonb(t)::text AS r FROM sidik_sample.orders t \
           UNION ALL SELECT 'p ' || to_jsonb(t)::text FROM sidik_sample.payments t \
           UNION ALL SELECT 'h ' || to_jsonb(t)::text FROM sidik_sample.ho_postings t) x",
    )
    .unwrap()
}

fn scalar(pg: &Cluster, db: &str, sql: &str) -> i64 {
    pg.psql(db, sql).unwrap().trim().parse().unwrap()
}

fn audit(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("evidence/recovery/audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn changed(dir: &Path) -> usize {
    audit(dir)
        .iter()
        .filter(|e| e["outcome"] == "changed")
        .count()
}

fn tracker_line<'a>(tracker: &'a str, task: &str) -> &'a str {
    tracker.lines().find(|l| l.contains(task)).unwrap()
}

#[test]
fn apply_then_verify_recovers_every_scenario_and_undo_restores_it() {
    let pg = Cluster::start().expect("test cluster");
    let tmp = tempfile::tempdir().unwrap();
    for (i, scenario) in [
        "pool-exhaustion",
        "callback-failure",
        "circuit-breaker",
        "timeout-mismatch",
        "race-condition",
    ]
    .into_iter()
    .enumerate()
    {
        let (dir, db) = incident(&pg, tmp.path(), scenario, 3000, 40 + i as u32);
        let url = pg.url(&db);
        let truth = json(&dir.join("ground_truth.json"));
        let before = snapshot(&pg, &db);

        let out = ok(
            &sidik_db(&dir, &url, &["recover", "apply", "--execute"]),
            "recover apply --execute",
        );
        // One audit entry per changed row, counted on the server independently.
        let completed = scalar(
            &pg,
            &db,
            "SELECT count(*) FROM sidik_sample.orders WHERE status = 'COMPLETE'",
        ) - truth["counts"]["orders_complete"].as_i64().unwrap();
        let inserted = scalar(
            &pg,
            &db,
            "SELECT (SELECT count(*) FROM sidik_sample.ho_postings WHERE posting_id LIKE 'RCV-%') \
                  + (SELECT count(*) FROM sidik_sample.payments WHERE payment_id LIKE 'RCV-%')",
        );
        assert!(completed > 0, "{scenario}: nothing completed\n{out}");
        assert_eq!(
            changed(&dir) as i64,
            completed + inserted,
            "{scenario}: audit against the server"
        );
        assert_eq!(
            scalar(&pg, &db, "SELECT count(*) FROM sidik_sample.sidik_audit"),
            completed + inserted,
            "{scenario}: sidik_audit"
        );
        // Every planted stuck order is COMPLETE now.
        for o in truth["stuck_orders"].as_array().unwrap() {
            let status = pg
                .psql(
                    &db,
                    &format!(
                        "SELECT status FROM sidik_sample.orders WHERE order_id = '{}'",
                        o.as_str().unwrap()
                    ),
                )
                .unwrap();
            assert_eq!(status.trim(), "COMPLETE", "{scenario}: {o}");
        }

        // Verify, from the database: both criteria hold, the tracker is ticked.
        let v = sidik_db(&dir, &url, &["recover", "verify"]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&v.stdout),
            String::from_utf8_lossy(&v.stderr)
        );
        let tracker = std::fs::read_to_string(dir.join("tracker.md")).unwrap();
        assert!(
            tracker_line(&tracker, "All order gantung recovered").contains("[x]"),
            "{scenario}: {text}"
        );
        let recon = sidik_db(&dir, &url, &["recon", "--from-db", "--format", "json"]);
        let summary: serde_json::Value = serde_json::from_slice(&recon.stdout).unwrap();
        let cats = &summary["by_category"];
        assert!(
            cats.get("MISSING_IN_HO").is_none() && cats.get("STATUS_MISMATCH").is_none(),
            "{scenario}: {cats}"
        );
        let breaks_left = cats
            .as_object()
            .unwrap()
            .keys()
            .filter(|c| !["MATCHED", "CROSS_PERIOD", "NOT_YET_DUE"].contains(&c.as_str()))
            .count();
        assert_eq!(
            tracker_line(&tracker, "Payment reconciliation completed").contains("[x]"),
            breaks_left == 0,
            "{scenario}: {cats}\n{text}"
        );

        // Re-running applies nothing again.
        let again = ok(
            &sidik_db(&dir, &url, &["recover", "apply", "--execute"]),
            "second apply",
        );
        assert!(again.contains("0 skipped"), "{again}");
        let after = snapshot(&pg, &db);
        ok(
            &sidik_db(&dir, &url, &["recover", "apply", "--execute", "--restart"]),
            "apply --restart",
        );
        assert_eq!(
            snapshot(&pg, &db),
            after,
            "{scenario}: --restart changed rows"
        );

        // Undo puts every affected row back byte for byte.
        let undo = ok(
            &sidik_db(&dir, &url, &["recover", "undo", "--execute"]),
            "recover undo",
        );
        assert!(undo.contains("rows put back"), "{undo}");
        assert_eq!(snapshot(&pg, &db), before, "{scenario}: undo");
    }
}

/// The plan's steps as (index, order, decision).
fn plan(dir: &Path) -> Vec<(usize, String, String)> {
    std::fs::read_to_string(dir.join("evidence/recovery/plan.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .enumerate()
        .map(|(i, l)| {
            let f: Vec<&str> = l.split(',').collect();
            (i, f[0].to_string(), f[5].to_string())
        })
        .collect()
}

fn status(pg: &Cluster, db: &str, order: &str) -> String {
    pg.psql(
        db,
        &format!("SELECT status FROM sidik_sample.orders WHERE order_id = '{order}'"),
    )
    .unwrap()
    .trim()
    .to_string()
}

/// A second session of the test (tokio-postgres on its own runtime).
struct Session {
    rt: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

impl Session {
    fn open(url: &str) -> Session {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = rt.block_on(async {
            let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            c
        });
        Session { rt, client }
    }

    fn run(&self, sql: &str) {
        self.rt.block_on(self.client.batch_execute(sql)).unwrap();
    }
}

/// Strips what `now()` fills in, which differs between two runs.
fn comparable(snapshot: &str) -> String {
    snapshot
        .lines()
        .map(|l| {
            let (tag, row) = l.split_at(2);
            let mut v: serde_json::Value = serde_json::from_str(row).unwrap();
            let m = v.as_object_mut().unwrap();
            let recovered = m
                .get("payment_id")
                .and_then(|p| p.as_str())
                .is_some_and(|p| p.starts_with("RCV-"));
            if tag == "p " && recovered {
                m.remove("created_at");
            }
            if tag == "h " {
                m.remove("posted_at");
            }
            format!("{tag}{v}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn kill_9_anywhere_then_resume_applies_everything_exactly_once() {
    let pg = Cluster::start().expect("test cluster");
    let tmp = tempfile::tempdir().unwrap();
    let (dir, db) = incident(&pg, tmp.path(), "pool-exhaustion", 3000, 5);
    let (reference, ref_db) = incident(&pg, &tmp.path().join("ref"), "pool-exhaustion", 3000, 5);
    set_recover(&dir, "batch = 3\npause = \"30ms\"");
    // Every write that commits is counted on the server, in the same transaction.
    pg.psql(
        &db,
        "CREATE TABLE public.writes (tbl text, k text, op text); \
         CREATE FUNCTION public.count_write() RETURNS trigger LANGUAGE plpgsql AS \
           $$ BEGIN INSERT INTO public.writes VALUES (TG_TABLE_NAME, to_jsonb(NEW)->>TG_ARGV[0], TG_OP); RETURN NEW; END $$; \
         CREATE TRIGGER w AFTER INSERT OR UPDATE ON sidik_sample.orders FOR EACH ROW EXECUTE FUNCTION public.count_write('order_id'); \
         CREATE TRIGGER w AFTER INSERT OR UPDATE ON sidik_sample.payments FOR EACH ROW EXECUTE FUNCTION public.count_write('payment_id'); \
         CREATE TRIGGER w AFTER INSERT OR UPDATE ON sidik_sample.ho_postings FOR EACH ROW EXECUTE FUNCTION public.count_write('posting_id');",
    )
    .unwrap();
    let url = pg.url(&db);
    // A fixed seed for the kill points, so a failure can be replayed.
    let mut seed: u64 = 0x5eed_1234;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % 350 + 20
    };
    let mut kills = 0;
    let mut finished = false;
    for _ in 0..60 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sidik"))
            .args(["recover", "apply", "--execute", "--incident"])
            .arg(&dir)
            .env("SIDIK_SAMPLE_DATABASE_URL", &url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(next()));
        if let Some(s) = child.try_wait().unwrap() {
            assert!(s.success(), "apply failed on its own: {s}");
            finished = true;
            break;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        // Also at the two worst moments: a batch sent but not committed,
        // and one committed but not yet audited.
        if kills == 2 || kills == 4 {
            let point = if kills == 2 {
                "before_commit:2"
            } else {
                "after_commit:2"
            };
            let o = Command::new(env!("CARGO_BIN_EXE_sidik"))
                .args(["recover", "apply", "--execute", "--incident"])
                .arg(&dir)
                .env("SIDIK_SAMPLE_DATABASE_URL", &url)
                .env("SIDIK_FAILPOINT", point)
                .output()
                .unwrap();
            assert!(!o.status.success(), "{point} did not crash");
            let st = json(&dir.join("evidence/recovery/apply.json"));
            assert!(st["pending"].is_object(), "{point}: no pending batch: {st}");
        }
    }
    if !finished {
        ok(
            &sidik_db(&dir, &url, &["recover", "apply", "--execute"]),
            "the last resume",
        );
    }
    assert!(
        kills >= 3,
        "only {kills} kills: the test did not interrupt apply"
    );
    let state = json(&dir.join("evidence/recovery/apply.json"));
    assert_eq!(state["finished"], true, "{state}");

    let twice = pg
        .psql(
            &db,
            "SELECT count(*) FROM (SELECT tbl, k FROM public.writes GROUP BY 1, 2 HAVING count(*) > 1) x",
        )
        .unwrap();
    assert_eq!(twice.trim(), "0", "rows written twice");
    assert_eq!(
        scalar(&pg, &db, "SELECT count(*) FROM public.writes") as usize,
        changed(&dir),
        "the audit against the server's count"
    );

    // The same end state as an uninterrupted apply.
    ok(
        &sidik_db(
            &reference,
            &pg.url(&ref_db),
            &["recover", "apply", "--execute"],
        ),
        "the uninterrupted apply",
    );
    assert_eq!(
        comparable(&snapshot(&pg, &db)),
        comparable(&snapshot(&pg, &ref_db))
    );
    assert_eq!(changed(&dir), changed(&reference));
}

#[test]
fn another_sessions_change_is_skipped_and_never_overwritten() {
    let pg = Cluster::start().expect("test cluster");
    let tmp = tempfile::tempdir().unwrap();
    let (dir, db) = incident(&pg, tmp.path(), "callback-failure", 3000, 8);
    set_recover(&dir, "lock_timeout = \"200ms\"\nmax_wait = \"30s\"");
    let url = pg.url(&db);
    let completes: Vec<String> = plan(&dir)
        .into_iter()
        .filter(|(_, _, d)| d == "complete")
        .map(|(_, o, _)| o)
        .collect();
    let (before, during) = (completes[0].clone(), completes[completes.len() / 2].clone());
    // Changed after the plan was made, before apply.
    pg.psql(
        &db,
        &format!("UPDATE sidik_sample.orders SET status = 'CANCELLED' WHERE order_id = '{before}'"),
    )
    .unwrap();
    // Changed during apply: held under a row lock, cancelled, committed 1.5 s later.
    let other = Session::open(&url);
    other.run(&format!(
        "BEGIN; SELECT 1 FROM sidik_sample.orders WHERE order_id = '{during}' FOR UPDATE"
    ));
    let d2 = during.clone();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        other.run(&format!(
            "UPDATE sidik_sample.orders SET status = 'CANCELLED' WHERE order_id = '{d2}'; COMMIT"
        ));
    });
    let out = ok(
        &sidik_db(&dir, &url, &["recover", "apply", "--execute"]),
        "apply",
    );
    releaser.join().unwrap();
    assert!(out.contains("2 skipped"), "{out}");
    for o in [&before, &during] {
        assert_eq!(status(&pg, &db, o), "CANCELLED", "{o} was overwritten");
        let skip = audit(&dir)
            .into_iter()
            .find(|e| e["order_id"] == o.as_str() && e["decision"] == "complete")
            .unwrap();
        assert_eq!(skip["outcome"], "skipped");
        assert!(skip["reason"]
            .as_str()
            .unwrap()
            .contains("no longer as the plan saw it"));
    }
    let report = std::fs::read_to_string(dir.join("reports/recovery-apply.md")).unwrap();
    assert!(report.contains(&format!("- {before} complete")), "{report}");
    // Skipped steps leave the tracker's task open: the fix is not done.
    let run = sidik_db(
        &dir,
        &url,
        &[
            "run",
            "phase-4-remediation",
            "--only",
            "recovery-plan",
            "--only",
            "recover-orders",
            "--approve",
            "recover-orders",
        ],
    );
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(
        text.contains("2 steps were not as planned any more"),
        "{text}"
    );
    let tracker = std::fs::read_to_string(dir.join("tracker.md")).unwrap();
    assert!(
        tracker_line(&tracker, "Short-term fix untuk recover order gantung").contains("[ ]"),
        "{tracker}"
    );
    assert!(report.contains(&format!("- {during} complete")), "{report}");
    assert!(report.contains("waited"), "{report}");
}

#[test]
fn a_held_lock_or_a_saturated_server_stops_apply_within_its_limits() {
    let pg = Cluster::builder()
        .max_connections(12)
        .start()
        .expect("test cluster");
    let tmp = tempfile::tempdir().unwrap();
    let (dir, db) = incident(&pg, tmp.path(), "pool-exhaustion", 3000, 9);
    set_recover(
        &dir,
        "batch = 10\nlock_timeout = \"100ms\"\nmax_wait = \"2s\"",
    );
    let url = pg.url(&db);
    let steps = plan(&dir);
    let (locked_at, locked, _) = steps
        .iter()
        .filter(|(_, _, d)| d == "complete")
        .nth(3)
        .cloned()
        .unwrap();

    // A lock held by another session: apply gives up on it within max_wait.
    let holder = Session::open(&url);
    holder.run(&format!(
        "BEGIN; SELECT 1 FROM sidik_sample.orders WHERE order_id = '{locked}' FOR UPDATE"
    ));
    let started = Instant::now();
    let o = sidik_db(&dir, &url, &["recover", "apply", "--execute"]);
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(4), "{err}");
    assert!(
        err.contains("lock timeout") && err.contains("max_wait"),
        "{err}"
    );
    assert!(took < Duration::from_secs(60), "apply queued for {took:?}");
    assert_eq!(status(&pg, &db, &locked), "ACTIVE");
    let state = json(&dir.join("evidence/recovery/apply.json"));
    let next = state["next"].as_u64().unwrap() as usize;
    assert!(
        next <= locked_at,
        "cursor {next} past the locked step {locked_at}"
    );
    assert_eq!(
        scalar(
            &pg,
            &db,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sidik'"
        ),
        0,
        "a sidik session was left behind"
    );
    holder.run("ROLLBACK");

    // A saturated server: 9 of 9 usable slots in use; apply waits, then stops.
    let hogs: Vec<Session> = (0..8).map(|_| Session::open(&url)).collect();
    let o = sidik_db(&dir, &url, &["recover", "apply", "--execute"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(4), "{err}");
    assert!(err.contains("usable connection slots"), "{err}");
    assert_eq!(
        json(&dir.join("evidence/recovery/apply.json"))["next"]
            .as_u64()
            .unwrap() as usize,
        next,
        "apply wrote while the server was saturated"
    );
    drop(hogs);

    // Healthy again: the same command goes on and finishes.
    let out = ok(
        &sidik_db(&dir, &url, &["recover", "apply", "--execute"]),
        "resume",
    );
    assert!(out.contains("0 skipped"), "{out}");
    assert_eq!(status(&pg, &db, &locked), "COMPLETE");
    assert_eq!(
        json(&dir.join("evidence/recovery/apply.json"))["finished"],
        true
    );
}

#[test]
fn without_execute_nothing_is_written_and_a_read_only_role_is_refused() {
    let pg = Cluster::builder()
        .setting("log_statement", "'all'")
        .setting("log_line_prefix", "'%a|'")
        .start()
        .expect("test cluster");
    let tmp = tempfile::tempdir().unwrap();
    let (dir, db) = incident(&pg, tmp.path(), "race-condition", 2000, 11);
    let url = pg.url(&db);
    let before = snapshot(&pg, &db);
    let log_len = std::fs::read(pg.log_path()).unwrap().len();

    let dry = ok(&sidik_db(&dir, &url, &["recover", "apply"]), "dry run");
    assert!(dry.contains("dry run: nothing was written"), "{dry}");
    assert!(
        dry.contains("UPDATE orders"),
        "the dry run shows the statements: {dry}"
    );
    let dry_undo = ok(&sidik_db(&dir, &url, &["recover", "undo"]), "undo dry run");
    assert!(dry_undo.contains("dry run"), "{dry_undo}");
    // A playbook run without --approve skips the dangerous step.
    let run = sidik_db(
        &dir,
        &url,
        &[
            "run",
            "phase-4-remediation",
            "--only",
            "recovery-plan",
            "--only",
            "recover-orders",
        ],
    );
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(text.contains("--approve recover-orders"), "{text}");

    let log = std::fs::read(pg.log_path()).unwrap();
    let new = String::from_utf8_lossy(&log[log_len..]);
    assert!(
        !new.lines().any(|l| l.starts_with("sidik|")),
        "sidik sent statements without --execute:\n{new}"
    );
    assert_eq!(snapshot(&pg, &db), before);

    // Roles that may not write are refused before anything is sent.
    pg.psql(
        &db,
        "CREATE ROLE reader LOGIN; GRANT USAGE ON SCHEMA sidik_sample TO reader; \
         GRANT SELECT ON ALL TABLES IN SCHEMA sidik_sample TO reader; \
         CREATE ROLE ro LOGIN; GRANT USAGE, CREATE ON SCHEMA sidik_sample TO ro; \
         GRANT ALL ON ALL TABLES IN SCHEMA sidik_sample TO ro; \
         ALTER ROLE ro SET default_transaction_read_only = on",
    )
    .unwrap();
    for (role, expected) in [
        ("reader", "role `reader` may not"),
        ("ro", "opens read-only transactions"),
    ] {
        let role_url = url.replace("postgres@", &format!("{role}@"));
        let o = sidik_db(&dir, &role_url, &["recover", "apply", "--execute"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{role}: {err}");
        assert!(
            err.contains(expected) && err.contains("nothing was written"),
            "{role}: {err}"
        );
    }
    assert_eq!(snapshot(&pg, &db), before);
}
