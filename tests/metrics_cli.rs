//! `sidik metrics` and the phase-1 metrics steps, end to end: imported from
//! the exports, fetched from a real Prometheus, the same frame either way,
//! the Go runtime finding in the tracker's run.

mod common;

use common::{sidik_err, sidik_ok};
use sidik_metrics::testprom::TestPrometheus;

fn generate(dir: &std::path::Path, scenario: &str) {
    sidik_ok(&[
        "sample",
        "generate",
        "--out",
        dir.to_str().unwrap(),
        "--scenario",
        scenario,
        "--orders",
        "2000",
        "--seed",
        "4",
    ]);
}

#[test]
fn imported_and_fetched_frames_are_the_same_and_the_leak_reaches_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("inc");
    generate(&d, "timeout-mismatch");
    let inc = d.to_str().unwrap();

    let out = sidik_ok(&["metrics", "import", "--incident", inc]);
    assert!(out.contains("8 metrics × 6 instances"), "{out}");
    let imported = std::fs::read_to_string(d.join("evidence/metrics/metrics.csv")).unwrap();

    let prom = TestPrometheus::start(&d.join("metrics/metrics.om")).unwrap();
    let out = sidik_ok(&["metrics", "fetch", "--incident", inc, "--url", &prom.url]);
    assert!(out.contains("8 metrics × 6 instances"), "{out}");
    let fetched = std::fs::read_to_string(d.join("evidence/metrics/metrics.csv")).unwrap();
    assert_eq!(imported, fetched);
    let report = std::fs::read_to_string(d.join("reports/metrics.md")).unwrap();
    assert!(report.contains("8 requests (0 retried)"), "{report}");

    // A broken query: the server's message, exit 2.
    let e = sidik_err(&[
        "metrics",
        "fetch",
        "--incident",
        inc,
        "--url",
        &prom.url,
        "--query",
        "x=rate(go_goroutines",
    ]);
    assert!(e.contains("parse error") && e.contains("query x"), "{e}");
    drop(prom);

    // The runtime findings name the planted service.
    let out = sidik_ok(&["metrics", "runtime", "--incident", inc, "--format", "json"]);
    let f: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(f["leaks"].as_array().unwrap().len(), 1);
    assert_eq!(f["leaks"][0]["service"], "mrg");

    // The phase-1 run imports, ticks the metrics task and reports the leak.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_sidik"))
        .args(["run", "phase-1-data-collection", "--incident", inc])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("goroutine leak in mrg from 19:0"), "{text}");
    let tracker = std::fs::read_to_string(d.join("tracker.md")).unwrap();
    assert!(tracker.contains(
        "- [x] Collect metrics dari Huawei Cloud (12 Jan full day) → [[reports/metrics.md]]"
    ));
    let go = std::fs::read_to_string(d.join("reports/go-runtime.md")).unwrap();
    assert!(
        go.contains("**mrg**: goroutines grow without following load"),
        "{go}"
    );
}

#[test]
fn exports_that_miss_the_window_or_hold_bad_lines_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("inc");
    generate(&d, "pool-exhaustion");
    let inc = d.to_str().unwrap();
    // Keep only the morning and damage two lines of the CSV; drop the OpenMetrics file.
    let csv = std::fs::read_to_string(d.join("metrics/cloud-eye.csv")).unwrap();
    let mut lines: Vec<String> = csv
        .lines()
        .filter(|l| !l.starts_with("2025-01-12T1") && !l.starts_with("2025-01-12T2"))
        .map(str::to_string)
        .collect();
    assert!(lines[1].contains(",request_rate,mrg-7c9f8d-0,"));
    lines[1] = lines[1].replace(
        "request_rate,mrg-7c9f8d-0,",
        "request_rate,mrg-7c9f8d-0,fast",
    );
    lines[9] = "2025-01-12T00:0x:00+07:00,request_rate,mrg-7c9f8d-0,1".into();
    std::fs::write(d.join("metrics/cloud-eye.csv"), lines.join("\n") + "\n").unwrap();
    let cfg = std::fs::read_to_string(d.join("incident.toml")).unwrap();
    std::fs::write(
        d.join("incident.toml"),
        cfg.replace("openmetrics = [\"metrics/metrics.om\"]\n", ""),
    )
    .unwrap();

    let e = sidik_err(&["metrics", "import", "--incident", inc]);
    assert!(
        e.contains("the metrics cover 2025-01-12 00:00")
            && e.contains("export or fetch the missing part"),
        "{e}"
    );
    let report = std::fs::read_to_string(d.join("reports/metrics.md")).unwrap();
    assert!(report.contains("## Lines set aside (2)"), "{report}");
    assert!(
        report.contains("metrics/cloud-eye.csv:2: value \"fast"),
        "{report}"
    );
    assert!(
        report.contains(
            "metrics/cloud-eye.csv:10: timestamp \"2025-01-12T00:0x:00+07:00\" is not a time"
        ),
        "{report}"
    );
    let rejected = std::fs::read_to_string(d.join("evidence/metrics/rejected.csv")).unwrap();
    assert_eq!(rejected.lines().count(), 3);
}
