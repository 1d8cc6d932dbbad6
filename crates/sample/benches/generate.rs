//! Generation speed: `cargo bench -p sidik-sample --bench generate -- --orders 1000000`.
//!
//! Writes a full incident (exports, four logs, metrics, ground truth) into a
//! temporary folder, then reports wall time, orders per second, bytes written
//! and the process's peak resident memory. Target: 1,000,000 orders with their
//! logs in at most 60 s on a 2-core machine (release build).

use std::time::Instant;

use sidik_sample::{generate, GenerateOptions, Scenario};

fn main() {
    let mut orders = 1_000_000u64;
    let mut scenario = Scenario::PoolExhaustion;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--orders" => {
                orders = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--orders N")
            }
            "--scenario" => {
                scenario = args
                    .next()
                    .expect("--scenario NAME")
                    .parse()
                    .expect("scenario")
            }
            _ => {} // cargo passes --bench
        }
    }
    let tmp = tempfile::tempdir().expect("temporary folder");
    let out = tmp.path().join("incident");
    let started = Instant::now();
    let summary = generate(&GenerateOptions {
        out,
        scenario,
        orders,
        seed: 42,
        force: false,
        vary: false,
    })
    .expect("generation");
    let secs = started.elapsed().as_secs_f64();
    let bytes: u64 = summary.files.iter().map(|(_, b)| b).sum();
    let lines: u64 = summary.truth.logs.iter().map(|l| l.lines).sum();
    println!("generate/{scenario}/{orders} orders");
    println!("  wall time      {secs:.2} s");
    println!("  orders/s       {:.0}", orders as f64 / secs);
    println!(
        "  log lines      {lines} ({:.0} lines/s)",
        lines as f64 / secs
    );
    println!(
        "  written        {:.1} MiB ({:.1} MiB/s)",
        bytes as f64 / 1_048_576.0,
        bytes as f64 / 1_048_576.0 / secs
    );
    if let Some(rss) = sidik_core::process::peak_rss_mib() {
        println!("  peak RSS       {rss:.1} MiB");
    }
    println!(
        "  cores          {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
}
