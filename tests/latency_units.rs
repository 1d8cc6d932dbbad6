//! Latency units are explicit: a key's unit comes from incident.toml, its
//! name or the default (ms), the ingest says which for each key, and flags a
//! key whose values look like another unit (zap's float seconds read as ms).

mod common;

use std::path::Path;

/// An MRG log in zap production's shape: `latency` in float seconds, as
/// zap's SecondsDurationEncoder writes it, and `elapsed` as a Go
/// `time.Duration` marshalled to JSON (integer nanoseconds).
fn incident(dir: &Path, units: &str) {
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let mut text = String::new();
    for i in 0..200 {
        text.push_str(&format!(
            "{{\"level\":\"info\",\"ts\":{}.25,\"msg\":\"callback forwarded\",\"orderNo\":\"ORD-{i}\",\"latency\":{}}}\n",
            1_736_683_500 + i,
            0.2 + (i % 10) as f64 * 0.0123
        ));
        text.push_str(&format!(
            "{{\"level\":\"info\",\"ts\":{}.75,\"msg\":\"ho push done\",\"orderNo\":\"ORD-{i}\",\"took\":\"{}ms\"}}\n",
            1_736_683_500 + i,
            40 + i % 7
        ));
    }
    std::fs::write(dir.join("logs/mrg.log"), text).unwrap();
    std::fs::write(
        dir.join("incident.toml"),
        format!("[incident]\nid = \"units\"\ntimezone = \"UTC\"\n[[sources.logs]]\nservice = \"mrg\"\npaths = [\"logs/mrg.log\"]\nfields = {{ order_id = [\"orderNo\"] }}\n{units}\n"),
    )
    .unwrap();
}

fn ingest(dir: &Path) -> (String, String) {
    let out = common::sidik(&["logs", "ingest", "--incident", dir.to_str().unwrap()]);
    assert!(out.status.success());
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn float_seconds_read_as_ms_are_flagged() {
    let tmp = tempfile::tempdir().unwrap();
    incident(tmp.path(), "");
    let (out, err) = ingest(tmp.path());
    assert!(
        out.contains("latency: mrg `latency` read in ms (default): 200 values"),
        "{out}"
    );
    assert!(out.contains("latency: mrg `took` read in ms (default): 200 values (200 duration strings), median 32.000 ms"), "{out}");
    assert!(
        err.contains("latency key `latency` was read in ms (nothing said otherwise), but half its values are under 0.25 ms: they look like seconds; if so, say its unit in incident.toml: units = { latency = \"s\" }"),
        "{err}"
    );
    assert!(!err.contains("`took`"), "{err}");
}

#[test]
fn a_configured_unit_is_used_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    incident(tmp.path(), "units = { latency = \"s\" }");
    let (out, err) = ingest(tmp.path());
    assert!(
        out.contains("latency: mrg `latency` read in s (configured): 200 values"),
        "{out}"
    );
    assert!(!err.contains("look like"), "{err}");
    // 0.2 s is 200 ms in the events.
    let summary = common::json(&tmp.path().join("evidence/logs/summary.json"));
    let keys = &summary["files"][0]["latency_keys"];
    assert_eq!(keys[0]["key"], "latency");
    assert_eq!(keys[0]["unit"], "s");
    assert_eq!(keys[0]["median_ms"], 125.0);
}

#[test]
fn an_unknown_unit_is_refused_with_the_choices() {
    let tmp = tempfile::tempdir().unwrap();
    incident(tmp.path(), "units = { latency = \"minutes\" }");
    let err = common::sidik_err(&["logs", "ingest", "--incident", tmp.path().to_str().unwrap()]);
    assert!(
        err.contains("unknown unit \"minutes\" for latency key `latency`"),
        "{err}"
    );
    assert!(
        err.contains("s, seconds, ms, us, µs, ns, duration"),
        "{err}"
    );
}
