//! Root-cause scoring with live PostgreSQL evidence: real sessions saturate
//! a small server and queue behind a lock while `sidik pg sample` watches;
//! `sidik rca` counts those samples when they fall inside the incident
//! window, and sets them aside, saying why, when they do not.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{json, sidik_ok};
use sidik_testpg::Cluster;

fn incident(dir: &Path, start: &str, end: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("incident.toml"),
        format!(
            "[incident]\nid = \"LIVE\"\ntimezone = \"UTC\"\n\n[incident.window]\nstart = \"{start}\"\nend = \"{end}\"\n\n[[sources.databases]]\nname = \"orders\"\nurl_env = \"SIDIK_LIVE_URL\"\n"
        ),
    )
    .unwrap();
}

fn check<'a>(rca: &'a serde_json::Value, hyp: &str, check: &str) -> &'a serde_json::Value {
    rca["hypotheses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == hyp)
        .unwrap()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == check)
        .unwrap()
}

struct Sessions(Vec<Child>);

impl Drop for Sessions {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn live_saturation_and_lock_waits_count_only_inside_the_window() {
    // 12 connections, 3 reserved for superusers: 9 usable slots.
    let pg = Cluster::builder().max_connections(12).start().unwrap();
    pg.psql(
        "postgres",
        "CREATE TABLE t (id int PRIMARY KEY, n int); INSERT INTO t VALUES (1, 0)",
    )
    .unwrap();
    let psql = sidik_testpg::find_bindir().unwrap().join("psql");
    let conninfo = pg.conninfo("postgres");
    let spawn = |sql: &str| {
        Command::new(&psql)
            .args(["-X", "-q", "-d", &conninfo, "-c", sql])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let count = |sql: &str| -> i64 { pg.psql("postgres", sql).unwrap().trim().parse().unwrap() };
    let wait_for = |what: &str, sql: &str, n: i64| {
        let t = Instant::now();
        while count(sql) < n {
            assert!(t.elapsed() < Duration::from_secs(20), "never saw {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // One session holds the row; two queue behind it; five more sit in a
    // sleep: eight client sessions, and the sampler fills the ninth slot.
    let mut s = Sessions(vec![spawn(
        "BEGIN; UPDATE t SET n = 1 WHERE id = 1; SELECT pg_sleep(120); COMMIT",
    )]);
    wait_for(
        "the lock holder",
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(120)%' AND pid <> pg_backend_pid()",
        1,
    );
    for _ in 0..2 {
        s.0.push(spawn("UPDATE t SET n = 2 WHERE id = 1"));
    }
    for _ in 0..5 {
        s.0.push(spawn("SELECT pg_sleep(120)"));
    }
    wait_for(
        "two sessions waiting on the lock",
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
        2,
    );
    wait_for(
        "eight client sessions",
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
        8,
    );

    let tmp = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now();
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M").to_string();
    let live = tmp.path().join("live");
    incident(
        &live,
        &fmt(now - chrono::Duration::hours(1)),
        &fmt(now + chrono::Duration::hours(1)),
    );
    let url = pg.url("postgres");
    sidik_ok(&[
        "pg",
        "sample",
        "--incident",
        live.to_str().unwrap(),
        "--pg",
        &url,
        "--every",
        "1s",
        "--for",
        "2s",
    ]);
    // A snapshot of the same moment: its blocking tree has the holder as root.
    let snap = sidik_ok(&["pg", "snapshot", "--pg", &url, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&snap).unwrap();
    assert!(v["taken_at"].is_string(), "{v}");
    std::fs::write(live.join("evidence/db-snapshot.json"), &snap).unwrap();
    drop(s);

    let out = sidik_ok(&["rca", "--incident", live.to_str().unwrap()]);
    let rca = json(&live.join("evidence/rca.json"));
    let conns = check(&rca, "pool-exhaustion", "connections-at-limit");
    assert_eq!(conns["outcome"], "pass", "{conns}\n{out}");
    assert!(
        conns["detail"]
            .as_str()
            .unwrap()
            .contains("live samples: peak"),
        "{conns}"
    );
    // Nine of nine usable slots, in the samples and in the snapshot alike.
    assert!(
        conns["detail"]
            .as_str()
            .unwrap()
            .starts_with("live samples: peak 100 % of usable slots"),
        "{conns}"
    );
    let at = conns["pointers"][0].as_str().unwrap();
    assert!(
        at == "evidence/db-snapshot.json" || at.starts_with("evidence/pg/samples-"),
        "{conns}"
    );
    let locks = check(&rca, "race-condition", "lock-waits");
    assert_eq!(locks["outcome"], "pass", "{locks}");
    let detail = locks["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("2 sessions waiting on a lock"),
        "{locks}"
    );
    assert!(
        detail.ends_with("1 blocking root in the snapshot"),
        "{locks}"
    );
    // Saturation is cause evidence for pool exhaustion; with no logs its
    // error check is missing, not failed.
    assert_eq!(rca["primary"], "pool-exhaustion", "{out}");
    let slots = check(&rca, "pool-exhaustion", "slot-errors");
    assert_eq!(slots["outcome"], "missing");
    // Lock waits are only a symptom of a race: without the reconciliation
    // it stays inconclusive.
    let race = rca["hypotheses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == "race-condition")
        .unwrap();
    assert_eq!(race["verdict"], "inconclusive", "{race}");

    // The same samples under an incident of last January describe the
    // database now, not then: not used, and said so.
    let old = tmp.path().join("old");
    incident(&old, "2025-01-12 00:00", "2025-01-13 00:00");
    let src = std::fs::read_dir(live.join("evidence/pg"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let dst = old.join("evidence/pg").join(src.file_name().unwrap());
    std::fs::create_dir_all(&dst).unwrap();
    for f in std::fs::read_dir(&src).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, dst.join(f.file_name().unwrap())).unwrap();
    }
    std::fs::copy(
        live.join("evidence/db-snapshot.json"),
        old.join("evidence/db-snapshot.json"),
    )
    .unwrap();
    // A snapshot report dates itself against the window, on its first
    // line when it lies outside: never read as a finding about the incident.
    let md = sidik_ok(&[
        "pg",
        "snapshot",
        "--incident",
        old.to_str().unwrap(),
        "--pg",
        &url,
    ]);
    let first = md.lines().next().unwrap();
    assert!(
        first.starts_with("Taken ")
            && first
                .contains("after the incident window (2025-01-12 00:00 – 2025-01-13 00:00 UTC)"),
        "{md}"
    );
    assert!(
        md.contains("## Findings about the database then, not the incident"),
        "{md}"
    );
    let md = sidik_ok(&[
        "pg",
        "snapshot",
        "--incident",
        live.to_str().unwrap(),
        "--pg",
        &url,
    ]);
    assert!(md.starts_with("# Database snapshot"), "{md}");
    assert!(md.contains(", inside the incident window ("), "{md}");

    // Nothing supported: `sidik rca` says so with exit 4.
    let o = common::sidik(&["rca", "--incident", old.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4), "{o:?}");
    let rca = json(&old.join("evidence/rca.json"));
    assert!(rca["primary"].is_null());
    assert_eq!(
        check(&rca, "pool-exhaustion", "connections-at-limit")["outcome"],
        "missing"
    );
    let notes = rca["notes"].to_string();
    assert!(notes.contains("all outside the incident window"), "{notes}");
    assert!(
        notes.contains(
            "evidence/db-snapshot.json: a PostgreSQL snapshot taken outside the incident window"
        ),
        "{notes}"
    );
    let report = std::fs::read_to_string(old.join("reports/rca.md")).unwrap();
    assert!(
        report.contains("- not used: evidence/pg/samples-"),
        "{report}"
    );
}
