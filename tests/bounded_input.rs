//! A 50 MB line (a payload or stack dump logged whole) keeps the ingest
//! under 256 MB of memory, in every text format: its message is cut to 64
//! KiB with a marker that says how long it was, and the lines around it are
//! read as usual. The peak is the child's own, from wait4(2).

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;

use polars::prelude::*;

const HUGE: usize = 50 * 1024 * 1024;

/// Runs `sidik logs ingest` on `dir`; its exit status and peak RSS in KiB.
// Reaped with wait4(2) below, which std's `wait` cannot do: it gives the child's rusage.
#[allow(clippy::zombie_processes)]
fn ingest_peak(dir: &Path) -> (std::process::ExitStatus, i64, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_sidik"))
        .args(["logs", "ingest", "--incident", dir.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    // Read its output on threads so the pipes never fill, then reap it ourselves.
    let mut stdout = child.stdout.unwrap();
    let mut stderr = child.stderr.unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).unwrap();
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut s).unwrap();
        s
    });
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4");
    let said = format!("{}{}", out.join().unwrap(), err.join().unwrap());
    (
        std::process::ExitStatus::from_raw(status),
        usage.ru_maxrss,
        said,
    )
}

fn messages(dir: &Path) -> Vec<String> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir.join("evidence/logs"))
        .unwrap()
        .flatten()
    {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with("events-") && n.ends_with(".parquet") {
            let df = ParquetReader::new(std::fs::File::open(e.path()).unwrap())
                .finish()
                .unwrap();
            v.extend(
                df.column("message")
                    .unwrap()
                    .str()
                    .unwrap()
                    .iter()
                    .map(|m| m.unwrap_or_default().to_string()),
            );
        }
    }
    v
}

fn check(format: &str, before: &str, huge_head: &str, huge_tail: &str, after: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let mut text = String::with_capacity(HUGE + 4096);
    text.push_str(before);
    text.push('\n');
    text.push_str(huge_head);
    text.extend(std::iter::repeat_n('x', HUGE));
    text.push_str(huge_tail);
    text.push('\n');
    text.push_str(after);
    text.push('\n');
    std::fs::write(dir.join("logs/big.log"), text).unwrap();
    std::fs::write(
        dir.join("incident.toml"),
        format!("[incident]\nid = \"big\"\ntimezone = \"UTC\"\n[[sources.logs]]\nservice = \"svc\"\npaths = [\"logs/big.log\"]\nformat = \"{format}\"\n"),
    )
    .unwrap();
    let (status, peak_kib, said) = ingest_peak(dir);
    assert!(status.success(), "{format}: {said}");
    assert!(
        said.contains("3 events, 0 lines set aside"),
        "{format}: {said}"
    );
    assert!(
        peak_kib < 256 * 1024,
        "{format}: peak RSS {} MiB for a 50 MB line",
        peak_kib / 1024
    );
    let msgs = messages(dir);
    let big = msgs
        .iter()
        .find(|m| m.starts_with("huge"))
        .expect("the huge record");
    assert!(
        big.len() <= sidik_logs::record::MAX_TEXT + 64,
        "{format}: {} bytes kept",
        big.len()
    );
    assert!(big.ends_with(" bytes in all]"), "{format}: no marker");
    assert!(msgs.iter().any(|m| m == "before") && msgs.iter().any(|m| m == "after"));
    let patterns = std::fs::read_to_string(dir.join("evidence/logs/patterns.csv")).unwrap();
    assert!(
        patterns.len() < 4 * sidik_logs::record::MAX_TEXT,
        "{format}: templates of {} bytes",
        patterns.len()
    );
}

#[test]
fn a_50_mb_json_line() {
    check(
        "json",
        r#"{"ts":"2025-01-12T19:00:00Z","level":"info","msg":"before"}"#,
        r#"{"ts":"2025-01-12T19:00:01Z","level":"error","msg":"huge "#,
        r#""}"#,
        r#"{"ts":"2025-01-12T19:00:02Z","level":"info","msg":"after"}"#,
    );
}

#[test]
fn a_50_mb_logfmt_line() {
    check(
        "logfmt",
        "time=2025-01-12T19:00:00Z level=info msg=before",
        "time=2025-01-12T19:00:01Z level=error msg=\"huge ",
        "\"",
        "time=2025-01-12T19:00:02Z level=info msg=after",
    );
}

#[test]
fn a_50_mb_postgres_line() {
    check(
        "postgres-stderr",
        "2025-01-12 19:00:00.000 UTC [1] LOG:  before",
        "2025-01-12 19:00:01.000 UTC [2] ERROR:  huge ",
        "",
        "2025-01-12 19:00:02.000 UTC [1] LOG:  after",
    );
}
