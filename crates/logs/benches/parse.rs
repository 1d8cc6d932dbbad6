//! Parser speed on one core, without I/O: `cargo bench -p sidik-logs --bench parse -- --file F [--mb 256]`.
//!
//! Reads up to `--mb` MiB of the file's lines into memory, detects the
//! format as an ingest does, then times the parser over all of them three
//! times and reports the best run in MB/s and ns per line. The full ingest
//! benchmark (`--bench ingest`) measures everything else around it.

use std::time::Instant;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use sidik_logs::parse::{self, Parsed};

fn main() {
    let mut file = None;
    let mut mb = 256usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--file" => file = args.next(),
            "--mb" => mb = args.next().and_then(|v| v.parse().ok()).expect("--mb N"),
            _ => {}
        }
    }
    let Some(file) = file else {
        eprintln!("usage: cargo bench -p sidik-logs --bench parse -- --file LOG [--mb 256]");
        return;
    };
    let mut text = Vec::new();
    {
        use std::io::Read;
        std::fs::File::open(&file)
            .expect("readable file")
            .take((mb as u64) << 20)
            .read_to_end(&mut text)
            .expect("readable file");
    }
    if let Some(end) = text.iter().rposition(|b| *b == b'\n') {
        text.truncate(end + 1);
    }
    let lines: Vec<&[u8]> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let sample: Vec<String> = lines
        .iter()
        .take(50)
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    let format = parse::detect(&sample);
    let settings = parse::Settings {
        aliases: Default::default(),
        tz: chrono_tz::Asia::Jakarta,
        clock_offset_ms: 0,
    };
    let mut best = f64::MAX;
    let mut records = 0u64;
    for _ in 0..3 {
        let mut p = parse::parser(&format, settings.clone()).expect("a parser");
        let mut out = Vec::with_capacity(4);
        records = 0;
        let started = Instant::now();
        for (i, l) in lines.iter().enumerate() {
            p.line(i as u64 + 1, l, None, &mut out);
            for item in out.drain(..) {
                if let Parsed::Rec(r, _) = item {
                    records += 1;
                    p.recycle(r);
                }
            }
        }
        p.finish(&mut out);
        best = best.min(started.elapsed().as_secs_f64());
    }
    println!(
        "parse/{} {:.0} MB ({} lines)",
        format.name(),
        text.len() as f64 / 1e6,
        lines.len()
    );
    println!("  best of 3   {best:.3} s");
    println!(
        "  throughput  {:.0} MB/s on one core",
        text.len() as f64 / 1e6 / best
    );
    println!("  per line    {:.0} ns", best * 1e9 / lines.len() as f64);
    println!("  records     {records}");
}
