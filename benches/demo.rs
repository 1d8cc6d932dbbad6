//! The whole main job: `cargo bench --bench demo -- --orders 125000`.
//!
//! Runs the release `sidik demo` (generate the sample incident, then every
//! step of the five phase playbooks: logs, metrics, reconciliation, charts,
//! root-cause scoring, reports, tracker) on an incident of `--orders`
//! orders (125,000 give just over 1,000,000 log lines), and reports the wall
//! time, the peak memory of the process and where the time went: the
//! generator and every step that took 0.1 s or more. `--scenario S` picks
//! the injected cause (default pool-exhaustion); `--runs N` repeats it.

use std::process::Command;
use std::time::Instant;

fn main() {
    let mut orders = 125_000u64;
    let mut scenario = "pool-exhaustion".to_string();
    let mut runs = 3;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--orders" => {
                orders = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--orders N")
            }
            "--scenario" => scenario = args.next().expect("--scenario S"),
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).expect("--runs N"),
            _ => {}
        }
    }
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let out = tmp.path().join("demo");
    for run in 1..=runs {
        let t = Instant::now();
        let o = Command::new(env!("CARGO_BIN_EXE_sidik"))
            .args(["demo", "--out", out.to_str().unwrap()])
            .args(["--orders", &orders.to_string(), "--scenario", &scenario])
            .args(["--date", "2026-11-26"])
            .env_remove("SIDIK_SAMPLE_DATABASE_URL")
            .output()
            .expect("run sidik demo");
        let wall = t.elapsed().as_secs_f64();
        let stdout = String::from_utf8_lossy(&o.stdout);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "sidik demo failed:\n{stdout}\n{stderr}");
        // The largest peak of any child so far: this run's, since every run does the same work.
        let peak_kib = children_peak_kib();
        let summary = std::fs::read_to_string(out.join("evidence/logs/summary.json"))
            .expect("the logs step wrote its summary");
        let v: serde_json::Value = serde_json::from_str(&summary).unwrap();
        let lines: u64 = v["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["lines"].as_u64().unwrap_or(0))
            .sum();
        println!(
            "run {run}: {orders} orders, {lines} log lines: {wall:.2} s wall, peak {:.0} MiB",
            peak_kib / 1024.0
        );
        // "generated DIR (… orders, …) in 0.4 s" and "  ok  STEP  1.2 s  result".
        let (mut small, mut small_n) = (0.0f64, 0);
        for l in stdout.lines() {
            if l.starts_with("generated ") {
                if let Some(s) = l.rsplit(" in ").next() {
                    println!("  {:<28} {s}", "generate");
                }
                continue;
            }
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() >= 4 && matches!(f[0], "ok" | "FAILED" | "skipped") && f[3] == "s" {
                if let Ok(secs) = f[2].parse::<f64>() {
                    if secs >= 0.1 {
                        println!("  {:<28} {secs:.1} s", f[1]);
                    } else {
                        small += secs;
                        small_n += 1;
                    }
                }
            }
        }
        println!("  {:<28} {small:.1} s", format!("{small_n} shorter steps"));
    }
}

/// Peak resident memory of the largest waited-for child, KiB (Linux).
fn children_peak_kib() -> f64 {
    // SAFETY: getrusage fills the struct it is given; zeroed is a valid start.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_CHILDREN with a valid pointer.
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) } != 0 {
        return 0.0;
    }
    u.ru_maxrss as f64
}
