//! Reconciliation speed: `cargo bench -p sidik-recon --bench recon -- --orders 10000000 [--dir D]`.
//!
//! Generates the sample's exports only (orders, UPG payments, HO postings;
//! no logs), then reads the three CSV files, reconciles them and writes every
//! output (breaks CSV and Parquet, stuck orders, re-push batch, report), and
//! reports each stage's time and the peak RSS.

use std::time::Instant;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use sidik_core::Incident;
use sidik_sample::{generate_exports, GenerateOptions, Scenario};

fn main() {
    // As the `sidik` binary does: freed memory is kept, not returned to the OS.
    // SAFETY: stores an integer option before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(15, -1) };
    let mut orders = 1_000_000u64;
    let mut keep = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--orders" => {
                orders = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--orders N")
            }
            "--dir" => keep = args.next(),
            _ => {}
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = keep
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("inc"));
    if !dir.join("incident.toml").exists() {
        let t = Instant::now();
        generate_exports(&GenerateOptions {
            out: dir.clone(),
            scenario: Scenario::PoolExhaustion,
            orders,
            seed: 1,
            force: true,
            vary: false,
        })
        .unwrap();
        eprintln!(
            "generated {orders} orders' exports in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    let bytes: u64 = ["orders.csv", "payments.csv", "ho_postings.csv"]
        .iter()
        .map(|f| std::fs::metadata(dir.join("data").join(f)).map_or(0, |m| m.len()))
        .sum();
    let inc = Incident::load(&dir).unwrap();
    let started = Instant::now();
    let s = sidik_recon::output::settings(&inc).unwrap();
    let mut src = sidik_recon::output::load_files(&inc, &s).unwrap();
    let read = started.elapsed().as_secs_f64();
    let peak_read = sidik_core::process::peak_rss_mib().unwrap_or(0.0);
    let t = Instant::now();
    let o = sidik_recon::engine::reconcile_sources(&mut src, &s).unwrap();
    let matched = t.elapsed().as_secs_f64();
    let peak_matched = sidik_core::process::peak_rss_mib().unwrap_or(0.0);
    let t = Instant::now();
    let report = inc.dir.reports().join("recon.md");
    sidik_recon::output::write_all(&inc, &o, &src, &s, &report).unwrap();
    let written = t.elapsed().as_secs_f64();
    let total = started.elapsed().as_secs_f64();
    println!(
        "recon/{} orders ({:.2} GB of CSV)",
        src.orders.len(),
        bytes as f64 / 1e9
    );
    println!("  payments    {}", src.payments.len());
    println!("  postings    {}", src.postings.len());
    println!("  breaks      {}", o.breaks.len());
    println!("  read        {read:.2} s (peak RSS so far {peak_read:.0} MiB)");
    println!("  reconcile   {matched:.2} s (peak RSS so far {peak_matched:.0} MiB)");
    println!("  write       {written:.2} s");
    println!("  wall time   {total:.2} s");
    println!(
        "  peak RSS    {:.0} MiB",
        sidik_core::process::peak_rss_mib().unwrap_or(0.0)
    );
    println!(
        "  cores       {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
}
