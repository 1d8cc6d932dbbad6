//! Rendering speed: `cargo bench -p sidik-chart --bench render [-- --points N --runs R]`.
//!
//! Draws one timeline panel of N points (default 2,000,000, one per second,
//! with a one-minute spike and a gap) into a 1600×900 PNG file, R times, and
//! reports the median and the slowest run, with the time the thinning alone
//! takes (MinMaxLTTB to twice the plot width).

use std::time::Instant;

use sidik_chart::axis::Unit;
use sidik_chart::{palette, Output, Panel, PanelKind, Series, Timeline};

fn main() {
    let mut points = 2_000_000usize;
    let mut runs = 15usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--points" => {
                points = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--points N")
            }
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).expect("--runs R"),
            _ => {}
        }
    }
    let start = 1_736_614_800_000i64;
    let pts: Vec<(i64, f64)> = (0..points as i64)
        .filter(|i| !(1_000_000..1_000_600).contains(i))
        .map(|i| {
            let base = 200.0 + 80.0 * ((i as f64) / 3600.0).sin() + (i % 13) as f64;
            let spike = (1_500_000..1_500_060).contains(&i);
            (start + i * 1000, if spike { 2000.0 } else { base })
        })
        .collect();
    let chart = Timeline {
        title: format!("bench: {points} points"),
        subtitle: "one series, one second apart".into(),
        tz: "Asia/Jakarta".parse().unwrap(),
        start,
        end: start + points as i64 * 1000,
        panels: vec![Panel {
            title: "Requests per second".into(),
            y_label: "requests".into(),
            unit: Unit::Count,
            kind: PanelKind::Lines,
            series: vec![Series::new("upg", palette::service(0), pts.clone())],
            max_gap_ms: 1500,
        }],
        phases: vec![],
        marks: vec![],
    };
    let dir = tempfile::tempdir().unwrap();
    let stem = dir.path().join("bench");
    let out = Output {
        svg: false,
        ..Default::default()
    };
    // Warm up: font registration, page faults.
    sidik_chart::render_timeline(&chart, &stem, &out).unwrap();
    let mut times = Vec::with_capacity(runs);
    let mut thin = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let segs = sidik_chart::downsample::segments(&pts, 1500);
        let kept = sidik_chart::downsample::downsample(segs, 2 * 1296);
        std::hint::black_box(kept);
        thin.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let w = sidik_chart::render_timeline(&chart, &stem, &out).unwrap();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(w);
    }
    times.sort_by(f64::total_cmp);
    thin.sort_by(f64::total_cmp);
    let size = std::fs::metadata(stem.with_extension("png"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!("render/png {points} points, 1600x900, {runs} runs");
    println!("  median      {:.1} ms", times[runs / 2]);
    println!("  slowest     {:.1} ms", times[runs - 1]);
    println!(
        "  thinning    {:.1} ms (median, part of the above)",
        thin[runs / 2]
    );
    println!("  png         {} KiB", size / 1024);
}
