//! Full ingest speed: `cargo bench -p sidik-logs --bench ingest -- --orders 1200000`.
//!
//! Generates a sample incident, keeps its two JSON-lines services (UPG as
//! zap, the Order Orchestrator as zerolog; ≥ 1 GB at 1.2 M orders), then runs
//! the full ingest (read, parse, normalise, classify, mine templates,
//! timeline, journeys, Parquet) and reports MB/s and peak RSS; `--dir D` keeps
//! (and reuses) the generated incident. With
//! `--baseline`, it also times Python polars `scan_ndjson` doing only a
//! per-minute count by level of the same files, in copies without the planted
//! malformed lines (polars stops at the first one); needs `python3 -m pip install polars`.

use std::time::Instant;

// The same allocator as the `sidik` binary.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use sidik_core::Incident;
use sidik_sample::{generate, GenerateOptions, Scenario};

fn main() {
    // As the `sidik` binary does: freed memory is kept, not returned to the OS.
    // SAFETY: stores an integer option before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(15, -1) };
    let mut orders = 1_200_000u64;
    let mut baseline = false;
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
            "--baseline" => baseline = true,
            "--dir" => keep = args.next(),
            _ => {}
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = keep
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("inc"));
    if !dir.join("ground_truth.json").exists() {
        generate(&GenerateOptions {
            out: dir.clone(),
            scenario: Scenario::PoolExhaustion,
            orders,
            seed: 1,
            force: true,
            vary: false,
        })
        .unwrap();
        // Only the JSON-lines services, uncompressed.
        let toml = std::fs::read_to_string(dir.join("incident.toml")).unwrap();
        let cut = toml.find("[[sources.logs]]").unwrap();
        let rest = &toml[toml.find("[[sources.databases]]").unwrap()..];
        let logs = "[[sources.logs]]\nservice = \"upg\"\npaths = [\"logs/upg/upg.log\"]\n\n[[sources.logs]]\nservice = \"order-orchestrator\"\npaths = [\"logs/order-orchestrator/orchestrator.log\"]\n\n";
        std::fs::write(
            dir.join("incident.toml"),
            format!("{}{logs}{rest}", &toml[..cut]),
        )
        .unwrap();
    }
    let inc = Incident::load(&dir).unwrap();
    let files = [
        "logs/upg/upg.log",
        "logs/order-orchestrator/orchestrator.log",
    ];
    let bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(dir.join(f)).unwrap().len())
        .sum();
    let started = Instant::now();
    let got =
        sidik_logs::incident::ingest_incident(&inc, sidik_logs::ingest::CHUNK_ROWS, None).unwrap();
    let secs = started.elapsed().as_secs_f64();
    let events: u64 = got.summary.events.values().sum();
    println!("ingest/json-lines {:.2} GB", bytes as f64 / 1e9);
    println!("  wall time   {secs:.2} s");
    println!("  throughput  {:.0} MB/s", bytes as f64 / 1e6 / secs);
    println!("  events      {events} ({:.0}/s)", events as f64 / secs);
    println!(
        "  peak RSS    {:.0} MiB",
        sidik_core::process::peak_rss_mib().unwrap_or(0.0)
    );
    println!(
        "  cores       {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    if baseline {
        // polars stops at the first malformed line, so it reads copies without the lines the
        // ground truth lists as malformed; sidik read the originals.
        let truth: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("ground_truth.json")).unwrap())
                .unwrap();
        let mut clean = Vec::new();
        for f in &files {
            let bad: std::collections::HashSet<u64> = truth["logs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["path"] == *f)
                .map(|l| {
                    l["malformed_lines"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(|n| n.as_u64())
                        .collect()
                })
                .unwrap_or_default();
            let out = dir.join(format!("{f}.clean"));
            if !out.exists() {
                let text = std::fs::read(dir.join(f)).unwrap();
                let mut w = Vec::with_capacity(text.len());
                for (i, line) in text.split_inclusive(|b| *b == b'\n').enumerate() {
                    if !bad.contains(&(i as u64 + 1)) {
                        w.extend_from_slice(line);
                    }
                }
                std::fs::write(&out, w).unwrap();
            }
            clean.push(out.display().to_string());
        }
        // A per-minute count by level, the least a log analysis does.
        let script = format!(
            "import polars as pl, time, resource\nt=time.time()\nfor f in {clean:?}:\n    lf = pl.scan_ndjson(f)\n    s = lf.collect_schema()\n    tc = pl.from_epoch((pl.col('ts') * 1000).cast(pl.Int64), time_unit='ms') if 'ts' in s else pl.col('time').str.to_datetime(time_zone='UTC')\n    lf.select(tc.dt.truncate('1m').alias('m'), pl.col('level')).group_by('m', 'level').len().collect()\nel = time.time() - t\nprint(f'{{el:.2f}} s, {{{bytes} / 1e6 / el:.0f}} MB/s, peak RSS {{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}} MiB')\n"
        );
        let out = std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .output();
        match out {
            Ok(o) if o.status.success() => println!(
                "  baseline    polars scan_ndjson, per-minute count by level (cleaned copies): {}",
                String::from_utf8_lossy(&o.stdout).trim()
            ),
            Ok(o) => println!(
                "  baseline    polars failed: {}",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            ),
            Err(e) => println!("  baseline    python3 not runnable: {e}"),
        }
    }
}
