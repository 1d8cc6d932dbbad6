//! A wrong format, a wrong prefix or a window that misses the data is said
//! out loud: on stderr, with the format or prefix tried and the first
//! reason, and with a failing exit code when a service yields nothing.

mod common;

use std::path::Path;

/// An incident folder with the real stderr log (prefix `%t [%p]: [%l-1] …`,
/// 630 records on 2017-09-06) and `extra` added to its one log source.
fn incident(dir: &Path, window: &str, extra: &str) {
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/real-logs/pgbadger-light.postgres.log.bz2"),
        dir.join("logs/pg.log.bz2"),
    )
    .unwrap();
    std::fs::write(
        dir.join("incident.toml"),
        format!(
            "[incident]\nid = \"loud\"\ntimezone = \"UTC\"\n[incident.window]\n{window}\n[[sources.logs]]\nservice = \"postgres\"\npaths = [\"logs/pg.log.bz2\"]\n{extra}\n"
        ),
    )
    .unwrap();
}

const IN_WINDOW: &str = "start = \"2017-09-06 08:00\"\nend = \"2017-09-06 10:00\"";

fn ingest(dir: &Path) -> (Option<i32>, String, String) {
    let out = common::sidik(&["logs", "ingest", "--incident", dir.to_str().unwrap()]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_wrong_format_fails_and_says_what_was_tried() {
    let tmp = tempfile::tempdir().unwrap();
    incident(tmp.path(), IN_WINDOW, "format = \"json\"");
    let (code, _, err) = ingest(tmp.path());
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("630 of 630 lines set aside (100.0 %) reading it as json"),
        "{err}"
    );
    assert!(
        err.contains("first: line 1: not a JSON object: the line starts with `2017-09-06"),
        "{err}"
    );
    assert!(err.contains("no event was read for postgres"), "{err}");
    // Nothing is lost: every line is in the quarantine.
    let q = std::fs::read_to_string(tmp.path().join("evidence/quarantine/postgres.jsonl")).unwrap();
    assert_eq!(q.lines().count(), 630);
}

#[test]
fn a_wrong_prefix_shows_the_prefix_tried() {
    let tmp = tempfile::tempdir().unwrap();
    incident(
        tmp.path(),
        IN_WINDOW,
        "format = \"postgres-stderr\"\nline_prefix = \"%m [%p] \"",
    );
    let (code, _, err) = ingest(tmp.path());
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("reading it as postgres-stderr, log_line_prefix '%m [%p] '"),
        "{err}"
    );
    assert!(
        err.contains("does not start with the log_line_prefix"),
        "{err}"
    );
    // `sidik check` shows the same before any ingest, and fails.
    let out = common::sidik(&["check", "--incident", tmp.path().to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("first lines: 0 read, 200 set aside"),
        "{said}"
    );
}

#[test]
fn auto_detection_is_shown_with_a_parsed_sample() {
    let tmp = tempfile::tempdir().unwrap();
    incident(tmp.path(), IN_WINDOW, "");
    let said = common::sidik_ok(&["check", "--incident", tmp.path().to_str().unwrap()]);
    assert!(
        said.contains("logs/pg.log.bz2: postgres-stderr, log_line_prefix '%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h '; first lines: 200 read, 0 set aside"),
        "{said}"
    );
    assert!(
        said.contains("sample: 2017-09-06 08:40:10.000 UTC info \"database system was shut down at 2017-09-06 08:40:08 UTC\""),
        "{said}"
    );
    let (code, _, err) = ingest(tmp.path());
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn a_few_bad_lines_warn_and_the_rest_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    incident(tmp.path(), IN_WINDOW, "");
    // 630 good records and 20 lines of something else (3 %).
    let mut text = Vec::new();
    let mut d = bzip2::read::BzDecoder::new(
        std::fs::File::open(tmp.path().join("logs/pg.log.bz2")).unwrap(),
    );
    std::io::Read::read_to_end(&mut d, &mut text).unwrap();
    for i in 0..20 {
        text.extend_from_slice(format!("garbage line {i}\n").as_bytes());
    }
    std::fs::remove_file(tmp.path().join("logs/pg.log.bz2")).unwrap();
    std::fs::write(tmp.path().join("logs/pg.log"), &text).unwrap();
    let toml = std::fs::read_to_string(tmp.path().join("incident.toml")).unwrap();
    std::fs::write(
        tmp.path().join("incident.toml"),
        toml.replace("pg.log.bz2", "pg.log"),
    )
    .unwrap();
    let (code, out, err) = ingest(tmp.path());
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("630 events, 20 lines set aside"), "{out}");
    assert!(err.contains("20 of 650 lines set aside (3.1 %)"), "{err}");
}

#[test]
fn a_window_that_misses_the_data_is_said() {
    let tmp = tempfile::tempdir().unwrap();
    incident(
        tmp.path(),
        "start = \"2025-01-12 18:00\"\nend = \"2025-01-12 23:00\"",
        "",
    );
    let (code, out, err) = ingest(tmp.path());
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("630 events"), "{out}");
    assert!(
        err.contains("postgres: none of its events falls inside the incident window; they run from 2017-09-06 08:40:10 UTC to 2017-09-06 09:01:28 UTC"),
        "{err}"
    );
}
