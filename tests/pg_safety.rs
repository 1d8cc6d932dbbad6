//! The two security promises and the deadline, end to end on the real
//! binary: every command and step that reads a server holding password
//! literals in its statement texts is run, and everything printed and
//! written is searched for them; query files that try to write are run
//! through `sidik pg query` and a playbook step against a `production`
//! database, and the table is checked untouched; a server that accepts and
//! never answers makes every database command give up with a reason.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::sidik_ok;
use sidik_testpg::{silent_listener, Cluster};

const SECRETS: [&str; 3] = ["S3cretPw", "Idl3Secret", "Sampl3Secret"];

/// Runs sidik with `env`, killing it (and failing) should it run past
/// `limit`: a hang is a failure here, not a wait.
fn run(args: &[&str], env: &[(&str, &str)], limit: Duration) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sidik"));
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env_remove("PGCONNECT_TIMEOUT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run sidik");
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "sidik {} still ran after {limit:?}:\n{}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// A psql session kept open on stdin: it runs what it is given and then
/// sits idle, its last statement shown in pg_stat_activity.
fn idle_psql(pg: &Cluster, sql: &str) -> Child {
    let bindir = sidik_testpg::find_bindir().unwrap();
    let mut child = Command::new(bindir.join("psql"))
        .args([
            "-X",
            "-q",
            "-h",
            pg.socket_dir().to_str().unwrap(),
            "-p",
            &pg.port().to_string(),
            "-U",
            "postgres",
            "-d",
            "postgres",
        ])
        .env("PGAPPNAME", "idle-admin")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    writeln!(child.stdin.as_mut().unwrap(), "{sql}").unwrap();
    child
}

#[test]
fn no_command_or_step_prints_or_stores_a_password_the_server_kept() {
    let pg = Cluster::start().expect("test cluster");
    let url = pg.url("postgres");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("inc");
    let d = d.to_str().unwrap();
    sidik_ok(&[
        "sample",
        "generate",
        "--out",
        d,
        "--scenario",
        "pool-exhaustion",
        "--orders",
        "1500",
    ]);
    sidik_ok(&["sample", "load", "--pg", &url, "--incident", d]);
    pg.psql(
        "postgres",
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
    )
    .unwrap();
    pg.psql("postgres", "CREATE ROLE incuser LOGIN PASSWORD 'S3cretPw'")
        .unwrap();
    let mut idle = idle_psql(&pg, "ALTER ROLE incuser PASSWORD 'Idl3Secret';");
    std::thread::sleep(Duration::from_millis(300));

    let env = [("SIDIK_SAMPLE_DATABASE_URL", url.as_str())];
    let limit = Duration::from_secs(120);
    let mut printed = String::new();
    let mut ran = |args: &[&str]| {
        let o = run(args, &env, limit);
        // recon exits 1 when it finds breaks, rca 4 when nothing is supported; 2 is an error.
        assert!(
            matches!(o.status.code(), Some(0 | 1 | 4)),
            "sidik {}:\n{}",
            args.join(" "),
            text(&o)
        );
        printed.push_str(&text(&o));
    };
    ran(&["pg", "snapshot", "--incident", d]);
    ran(&["pg", "snapshot", "--incident", d, "--format", "json"]);
    for f in ["table", "csv", "json"] {
        ran(&[
            "pg",
            "query",
            "slow_queries",
            "--incident",
            d,
            "--format",
            f,
        ]);
    }
    // Passwords set while sampling reach the statement deltas.
    let writer = {
        let pg_url = url.clone();
        std::thread::spawn(move || {
            let mut c = postgres_client(&pg_url);
            for _ in 0..12 {
                c.batch_execute("ALTER ROLE incuser PASSWORD 'Sampl3Secret'")
                    .unwrap();
                std::thread::sleep(Duration::from_millis(300));
            }
        })
    };
    ran(&[
        "pg",
        "sample",
        "--incident",
        d,
        "--every",
        "1s",
        "--for",
        "3s",
    ]);
    writer.join().unwrap();
    ran(&["recon", "--from-db", "--incident", d]);
    ran(&[
        "run",
        "phase-1-data-collection",
        "--incident",
        d,
        "--only",
        "db-snapshot",
        "--only",
        "db-samples",
        "--only",
        "db-connections",
        "--only",
        "db-locks",
        "--only",
        "db-slow-queries",
    ]);
    ran(&["rca", "--incident", d]);
    let _ = idle.kill();
    let _ = idle.wait();

    for s in SECRETS {
        assert!(!printed.contains(s), "{s} was printed:\n{printed}");
    }
    let mut files = Vec::new();
    files_under(Path::new(d), &mut files);
    let mut masked = 0;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let body = String::from_utf8_lossy(&bytes);
        for s in SECRETS {
            assert!(!body.contains(s), "{s} is in {}", f.display());
        }
        masked += body.matches("PASSWORD '***'").count();
    }
    // The statements are there, masked: the check above is not passing by
    // finding no statement at all.
    assert!(masked > 0, "no masked statement in the evidence");
    assert!(printed.contains("PASSWORD '***'"), "{printed}");
}

fn postgres_client(url: &str) -> SyncClient {
    SyncClient::connect(url)
}

/// A blocking client for a helper thread: a tokio runtime of its own.
struct SyncClient {
    rt: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

impl SyncClient {
    fn connect(url: &str) -> SyncClient {
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
        SyncClient { rt, client }
    }

    fn batch_execute(&mut self, sql: &str) -> Result<(), tokio_postgres::Error> {
        self.rt.block_on(self.client.batch_execute(sql))
    }
}

fn production_incident(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("incident.toml"),
        "[incident]\nid = \"PROD\"\ntimezone = \"UTC\"\n\n[incident.window]\nstart = \"2025-01-12 00:00\"\nend = \"2025-01-13 00:00\"\n\n[[sources.databases]]\nname = \"orders\"\nurl_env = \"SIDIK_PROD_URL\"\nrole = \"production\"\n",
    )
    .unwrap();
}

const BYPASS_INSERT: &str = "-- name: innocent\n-- description: looks like a read\nSELECT 1;\nSET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; COMMIT;\nINSERT INTO victim VALUES (2);\n";
const BYPASS_DELETE: &str =
    "-- name: innocent2\nSET default_transaction_read_only = off; COMMIT;\nDELETE FROM victim;\n";

#[test]
fn a_query_file_that_would_write_is_refused_by_every_path() {
    let pg = Cluster::start().expect("test cluster");
    let url = pg.url("postgres");
    pg.psql(
        "postgres",
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; CREATE TABLE victim (id int); INSERT INTO victim VALUES (1)",
    )
    .unwrap();
    pg.psql("postgres", "SELECT pg_stat_statements_reset()")
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("inc");
    production_incident(&d);
    std::fs::write(d.join("insert.sql"), BYPASS_INSERT).unwrap();
    std::fs::write(d.join("delete.sql"), BYPASS_DELETE).unwrap();
    std::fs::write(
        d.join("writes.toml"),
        "[playbook]\nid = \"writes\"\ntitle = \"Writes\"\n\n[[step]]\nid = \"insert\"\naction = \"pg.query\"\nparams = { query_file = \"insert.sql\" }\n\n[[step]]\nid = \"delete\"\naction = \"pg.query\"\nparams = { query_file = \"delete.sql\" }\n",
    )
    .unwrap();
    let env = [("SIDIK_PROD_URL", url.as_str())];
    let limit = Duration::from_secs(60);
    let dir = d.to_str().unwrap();

    for (file, line, what) in [
        ("insert.sql", 4, "SET SESSION CHARACTERISTICS"),
        ("delete.sql", 2, "COMMIT"),
    ] {
        let path = d.join(file);
        let o = run(
            &["pg", "query", path.to_str().unwrap(), "--incident", dir],
            &env,
            limit,
        );
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("{file}:{line}: a second statement (`{what}")),
            "{err}"
        );
    }
    // A playbook step, with and without approval: a query is never a write.
    for approve in [false, true] {
        let mut args = vec!["run", "writes.toml", "--incident", dir, "--no-tracker"];
        if approve {
            args.extend(["--approve", "insert", "--approve", "delete"]);
        }
        let args: Vec<String> = args
            .iter()
            .map(|a| {
                if *a == "writes.toml" {
                    d.join(a).to_str().unwrap().to_string()
                } else {
                    a.to_string()
                }
            })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&args, &env, limit);
        assert!(!o.status.success(), "{}", text(&o));
        let all = text(&o);
        assert!(all.contains("insert.sql:4: a second statement"), "{all}");
    }
    assert_eq!(
        pg.psql("postgres", "SELECT count(*) FROM victim").unwrap(),
        "1"
    );
    // Nothing of either file reached the server.
    assert_eq!(
        pg.psql(
            "postgres",
            "SELECT count(*) FROM pg_stat_statements WHERE query ~* '(insert into victim|delete from victim|characteristics|default_transaction_read_only = off)'"
        )
        .unwrap(),
        "0"
    );
}

#[test]
fn database_commands_give_up_on_a_server_that_never_answers() {
    let port = silent_listener();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("inc");
    production_incident(&d);
    let dir = d.to_str().unwrap();
    let in_url = format!("postgres://app:Pw0rd@127.0.0.1:{port}/orders?connect_timeout=1");
    let bare = format!("postgres://app:Pw0rd@127.0.0.1:{port}/orders");
    let limit = Duration::from_secs(60);
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        (vec!["pg", "snapshot", "--pg", &in_url], vec![]),
        (
            vec!["pg", "query", "stuck_orders", "--pg", &bare],
            vec![("PGCONNECT_TIMEOUT", "1")],
        ),
        (
            vec!["pg", "snapshot", "--incident", dir],
            vec![("SIDIK_PROD_URL", &in_url)],
        ),
        (
            vec!["recon", "--from-db", "--incident", dir],
            vec![("SIDIK_PROD_URL", &bare), ("PGCONNECT_TIMEOUT", "1")],
        ),
    ];
    for (args, env) in cases {
        let o = run(&args, &env, limit);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("no answer within 1 s"), "{args:?}: {err}");
        assert!(
            err.contains(&format!("127.0.0.1:{port}")),
            "{args:?}: {err}"
        );
        assert!(!err.contains("Pw0rd"), "{args:?}: {err}");
    }
    // A playbook step gives up as soon, and says why in its journal.
    let o = run(
        &[
            "run",
            "phase-1-data-collection",
            "--incident",
            dir,
            "--only",
            "db-snapshot",
            "--no-tracker",
        ],
        &[("SIDIK_PROD_URL", &in_url)],
        limit,
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("no answer within 1 s"), "{}", text(&o));
}
