//! Charts rendered from a generated incident whose evidence was produced by
//! the real log ingestion and reconciliation, checked on the image bytes.

use std::path::Path;

use sidik_chart::load::{self, PhaseTimes, TimelineOptions};
use sidik_chart::{palette, Output, Panel, PanelKind, Series, Timeline};
use sidik_core::Incident;
use sidik_sample::{generate, GenerateOptions, Scenario};

/// A generated incident with its logs ingested and its payments reconciled.
fn incident(dir: &Path, scenario: Scenario) -> (Incident, serde_json::Value) {
    generate(&GenerateOptions {
        out: dir.to_path_buf(),
        scenario,
        orders: 3000,
        seed: 7,
        force: true,
        vary: false,
    })
    .unwrap();
    let inc = Incident::load(dir).unwrap();
    sidik_logs::incident::ingest_incident(&inc, 100_000, None).unwrap();
    let s = sidik_recon::output::settings(&inc).unwrap();
    let mut src = sidik_recon::output::load_files(&inc, &s).unwrap();
    let o = sidik_recon::engine::reconcile_sources(&mut src, &s).unwrap();
    sidik_recon::output::write_all(&inc, &o, &src, &s, &inc.dir.reports().join("recon.md"))
        .unwrap();
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("ground_truth.json")).unwrap())
            .unwrap();
    (inc, truth)
}

fn truth_time(
    truth: &serde_json::Value,
    key: &str,
    inc: &Incident,
) -> chrono::DateTime<chrono::Utc> {
    sidik_core::time::parse_time(truth["times"][key].as_str().unwrap(), inc.tz).unwrap()
}

/// Decodes a PNG: (width, height, RGB bytes).
fn decode(path: &Path) -> (u32, u32, Vec<u8>) {
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

fn pixel(img: &(u32, u32, Vec<u8>), x: i32, y: i32) -> (u8, u8, u8) {
    let i = (y as usize * img.0 as usize + x as usize) * 3;
    (img.2[i], img.2[i + 1], img.2[i + 2])
}

#[test]
fn timeline_of_a_generated_incident() {
    let tmp = tempfile::tempdir().unwrap();
    let (inc, truth) = incident(tmp.path(), Scenario::PoolExhaustion);
    let phases = PhaseTimes {
        spike_start: Some(truth_time(&truth, "spike_start", &inc)),
        error_onset: Some(truth_time(&truth, "error_onset", &inc)),
        degradation_start: Some(truth_time(&truth, "degradation_start", &inc)),
        recovery: Some(truth_time(&truth, "recovery", &inc)),
    };
    let loaded = load::timeline(
        &inc,
        &TimelineOptions {
            phases,
            ..Default::default()
        },
    )
    .unwrap();
    let stem = inc.dir.charts().join("timeline");
    let out = Output {
        width: 1400,
        height: 820,
        ..Default::default()
    };
    let w = sidik_chart::render_timeline(&loaded.chart, &stem, &out).unwrap();

    // Size as asked.
    let img = decode(w.png.as_ref().unwrap());
    assert_eq!((img.0, img.1), (1400, 820));

    // Panels with data only: no metrics frame and no PostgreSQL samples here.
    let titles: Vec<&str> = w.drawn.panels.iter().map(|p| p.title.as_str()).collect();
    assert_eq!(titles.len(), 4, "{titles:?}");
    assert!(titles[0].starts_with("Requests per minute"));
    assert!(titles[1].starts_with("Errors per minute"));
    assert!(titles[2].starts_with("Latency"));
    assert!(titles[3].starts_with("Orders stuck in ACTIVE"));
    assert!(!titles
        .iter()
        .any(|t| t.contains("Database") || t.contains("Goroutines")));
    assert!(loaded
        .missing
        .iter()
        .any(|m| m.contains("PostgreSQL samples")));

    // The stuck panel ends at the number of stuck orders in the ground truth.
    let stuck = truth["stuck_orders"].as_array().unwrap().len() as f64;
    let last = w.drawn.panels[3].series[0]
        .1
        .last()
        .unwrap()
        .last()
        .unwrap()
        .1;
    assert_eq!(last, stuck);

    // The SVG holds the title, axis labels and legend entries as text.
    let svg = std::fs::read_to_string(w.svg.as_ref().unwrap()).unwrap();
    for needle in [
        "SAMPLE-2025-01-12-pool-exhaustion: incident timeline",
        "2025-01-12 00:00 – 2025-01-13 00:00 WIB (Asia/Jakarta)",
        "Requests per minute",
        "Errors per minute, by class",
        "12 Jan 2025",
        "13 Jan 2025",
        "18:00",
        "21:00",
        "db pool exhaustion",
        "upg p99",
        "stuck orders",
        "first db pool exhaustion",
        "upg v2.14.0 deployed",
        "degradation",
    ] {
        assert!(svg.contains(needle), "the SVG lacks {needle:?}");
    }
    // Each panel's axis is named.
    for name in ["requests", "errors", "latency", "orders"] {
        assert!(svg.contains(&format!("\n{name}\n")), "no axis named {name}");
    }

    // The shaded degradation region differs from the background; outside phases it is paper.
    let (_, xa, xb) = w
        .drawn
        .phases
        .iter()
        .find(|p| p.0 == "degradation")
        .cloned()
        .unwrap();
    let stuck_rect = w.drawn.panels[3].rect;
    let band = |x0: i32, x1: i32| -> (usize, usize) {
        let (mut shaded, mut paper) = (0, 0);
        for x in x0..x1 {
            for y in stuck_rect.1 + 3..stuck_rect.1 + 8 {
                let p = pixel(&img, x, y);
                let c = palette::phase(2);
                if p == (c.0, c.1, c.2) {
                    shaded += 1;
                }
                if p == (255, 255, 255) {
                    paper += 1;
                }
            }
        }
        (shaded, paper)
    };
    let inside = band(xa + 2, xb - 2);
    let total = ((xb - 2 - xa - 2) * 5) as usize;
    assert!(inside.0 * 10 > total * 8, "shaded {inside:?} of {total}");
    assert_eq!(inside.1, 0);
    let outside = band(stuck_rect.0 + 20, stuck_rect.0 + 120);
    assert_eq!(outside.0, 0);
    assert!(outside.1 * 10 > 500 * 8, "{outside:?}");

    // Annotation labels never overlap.
    for (i, a) in w.drawn.labels.iter().enumerate() {
        for b in &w.drawn.labels[i + 1..] {
            let (p, q) = (a.1, b.1);
            let apart = p.2 <= q.0 || q.2 <= p.0 || p.3 <= q.1 || q.3 <= p.1;
            assert!(apart, "{a:?} overlaps {b:?}");
        }
    }
    // Every planted class's first occurrence is marked.
    for class in truth["classes_per_minute"].as_object().unwrap().keys() {
        let label = if class == "circuit_breaker_open" {
            "circuit breaker opened".to_string()
        } else {
            format!("first {}", class.replace('_', " "))
        };
        assert!(
            w.drawn.labels.iter().any(|l| l.0 == label),
            "no annotation {label:?}"
        );
    }
}

#[test]
fn phases_come_from_flags_then_rca_then_incident_toml() {
    let tmp = tempfile::tempdir().unwrap();
    let (inc, _) = incident(tmp.path(), Scenario::CallbackFailure);
    // Nothing given: no phases, and the person is told how to get them.
    let l = load::timeline(&inc, &TimelineOptions::default()).unwrap();
    assert!(l.chart.phases.is_empty());
    assert!(l.missing.iter().any(|m| m.contains("sidik rca")));

    // incident.toml.
    let cfg = tmp.path().join("incident.toml");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "[incident.window]",
        "[incident.phases]\nspike_start = \"2025-01-12 19:00\"\nerror_onset = \"2025-01-12 19:10\"\n\n[incident.window]",
    );
    std::fs::write(&cfg, text).unwrap();
    let inc = Incident::load(tmp.path()).unwrap();
    let l = load::timeline(&inc, &TimelineOptions::default()).unwrap();
    assert_eq!(
        l.phases_from.as_deref(),
        Some("incident.toml [incident.phases]")
    );
    let names: Vec<&str> = l.chart.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["spike", "errors"]);
    // The spike runs until the errors begin; the errors until the window ends.
    assert_eq!(l.chart.phases[0].end, l.chart.phases[1].start);
    assert_eq!(l.chart.phases[1].end, l.chart.end);

    // rca.json wins over incident.toml.
    let phase = |at: &str| sidik_evidence::rca::Phase {
        at: chrono::DateTime::parse_from_rfc3339(at).unwrap(),
        method: String::new(),
        series: String::new(),
    };
    let rca = sidik_evidence::rca::RcaFile {
        version: sidik_evidence::VERSION,
        phases: sidik_evidence::rca::Phases {
            spike_start: Some(phase("2025-01-12T19:01:00+07:00")),
            degradation_start: Some(phase("2025-01-12T19:20:00+07:00")),
            ..Default::default()
        },
        ..Default::default()
    };
    sidik_evidence::write_json(&inc.dir.evidence().join("rca.json"), &rca).unwrap();
    let l = load::timeline(&inc, &TimelineOptions::default()).unwrap();
    assert_eq!(l.phases_from.as_deref(), Some("evidence/rca.json"));
    let names: Vec<&str> = l.chart.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["spike", "degradation"]);

    // Flags win over both.
    let t = sidik_core::time::parse_time("2025-01-12 18:55", inc.tz).unwrap();
    let l = load::timeline(
        &inc,
        &TimelineOptions {
            phases: PhaseTimes {
                spike_start: Some(t),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(l.phases_from.as_deref(), Some("command-line flags"));
    assert_eq!(l.chart.phases.len(), 1);
    assert_eq!(l.chart.phases[0].start, t.timestamp_millis());

    // A wrong time in incident.toml is refused when the incident is loaded, naming the key.
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "error_onset = \"2025-01-12 19:10\"",
        "error_onset = \"ten past seven\"",
    );
    std::fs::write(&cfg, text).unwrap();
    let e = Incident::load(tmp.path()).unwrap_err().to_string();
    assert!(e.contains("incident.phases.error_onset"), "{e}");
}

#[test]
fn metrics_and_database_samples_add_their_panels() {
    let tmp = tempfile::tempdir().unwrap();
    let (inc, _) = incident(tmp.path(), Scenario::TimeoutMismatch);
    let ev = inc.dir.evidence();
    std::fs::create_dir_all(ev.join("metrics")).unwrap();
    let mut m = String::from("time,metric,service,instance,value\n");
    for i in 0..120 {
        let t = format!("2025-01-12T19:{:02}:00+07:00", i % 60);
        let t = if i < 60 { t } else { t.replace("T19", "T20") };
        m.push_str(&format!("{t},go_goroutines,upg,upg-0,{}\n", 100 + i));
        m.push_str(&format!("{t},go_goroutines,upg,upg-1,{}\n", 100 + i));
        m.push_str(&format!("{t},go_goroutines,mrg,mrg-0,50\n"));
    }
    std::fs::write(ev.join("metrics").join("metrics.csv"), m).unwrap();
    std::fs::create_dir_all(ev.join("db-samples")).unwrap();
    std::fs::write(
        ev.join("db-samples").join("samples.csv"),
        "at,client_backends,active,idle,idle_in_transaction,waiting_on_lock,usable_slots,used,opened,closed,commits,rollbacks,deadlocks,temp_files\n\
         2025-01-12T19:00:00+07:00,10,5,5,0,0,97,0.10,0,0,0,0,0,0\n\
         2025-01-12T19:00:10+07:00,60,55,5,0,3,97,0.62,50,0,0,0,0,0\n\
         2025-01-12T19:00:20+07:00,97,90,7,0,40,97,1.00,37,0,0,0,0,0\n",
    )
    .unwrap();
    let l = load::timeline(&inc, &TimelineOptions::default()).unwrap();
    let w = sidik_chart::render_timeline(
        &l.chart,
        &inc.dir.charts().join("t"),
        &Output {
            svg: false,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(w.svg.is_none());
    let db = w
        .drawn
        .panels
        .iter()
        .find(|p| p.title.starts_with("Database connections"))
        .expect("a database panel");
    let names: Vec<&str> = db.series.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(names, ["client connections", "usable slots"]);
    assert_eq!(
        db.series[0]
            .1
            .concat()
            .iter()
            .map(|p| p.1)
            .collect::<Vec<_>>(),
        [10.0, 60.0, 97.0]
    );
    let g = w
        .drawn
        .panels
        .iter()
        .find(|p| p.title == "Goroutines per service")
        .expect("a goroutine panel");
    // Instances summed per service and minute.
    let upg = &g.series.iter().find(|s| s.0 == "upg").unwrap().1;
    assert_eq!(upg.concat()[0].1, 200.0);
    assert_eq!(upg.concat().last().unwrap().1, 2.0 * 219.0);

    // Goroutine growth from the Go runtime step is marked where it starts, in its service's colour.
    let at = sidik_core::time::parse_time("2025-01-12 19:10", inc.tz)
        .unwrap()
        .timestamp_millis();
    let stamp = sidik_evidence::time::stamp(at, inc.tz);
    let runtime = sidik_evidence::metrics::RuntimeFile {
        version: sidik_evidence::VERSION,
        leaks: vec![sidik_evidence::metrics::Leak {
            service: "upg".into(),
            start: stamp,
            end: stamp,
            at_start: 0.0,
            peak: 0.0,
            excess: 0.0,
            per_minute: 0.0,
        }],
        ..Default::default()
    };
    sidik_evidence::write_json(&ev.join("metrics").join("runtime.json"), &runtime).unwrap();
    let l = load::timeline(&inc, &TimelineOptions::default()).unwrap();
    let m = l
        .chart
        .marks
        .iter()
        .find(|m| m.label == "goroutines pile up in upg")
        .expect("a mark");
    assert_eq!(m.at, at);
    assert_eq!(
        m.color,
        palette::service(1),
        "upg is the second service of incident.toml"
    );
    std::fs::write(ev.join("metrics").join("runtime.json"), "{\"leaks\": [").unwrap();
    let e = load::timeline(&inc, &TimelineOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("runtime.json:1"), "{e}");
    std::fs::remove_file(ev.join("metrics").join("runtime.json")).unwrap();

    // A malformed sample is named by file and line.
    std::fs::write(
        ev.join("db-samples").join("samples.csv"),
        "at,client_backends,active,idle,idle_in_transaction,waiting_on_lock,usable_slots,used,opened,closed,commits,rollbacks,deadlocks,temp_files\n\
         2025-01-12T19:00:00+07:00,ten,5,5,0,0,97,0.10,0,0,0,0,0,0\n",
    )
    .unwrap();
    let e = load::timeline(&inc, &TimelineOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("samples.csv:2") && e.contains("\"ten\" is not a number"),
        "{e}"
    );
}

#[test]
fn a_one_minute_spike_survives_downsampling() {
    // 200,000 minutes (139 days) of noise-free load with one spike minute and a gap.
    let start = 1_736_614_800_000i64;
    let spike_at = start + 123_457 * 60_000;
    let pts: Vec<(i64, f64)> = (0..200_000i64)
        .filter(|i| !(50_000..50_030).contains(i))
        .map(|i| {
            let t = start + i * 60_000;
            (
                t,
                if t == spike_at {
                    5000.0
                } else {
                    100.0 + (i % 7) as f64
                },
            )
        })
        .collect();
    let chart = Timeline {
        title: "spike".into(),
        subtitle: String::new(),
        tz: "Asia/Jakarta".parse().unwrap(),
        start,
        end: start + 200_000 * 60_000,
        panels: vec![Panel {
            title: "requests".into(),
            y_label: "requests".into(),
            unit: sidik_chart::axis::Unit::Count,
            kind: PanelKind::Lines,
            series: vec![Series::new("upg", palette::service(0), pts)],
            max_gap_ms: 90_000,
        }],
        phases: vec![],
        marks: vec![],
    };
    let tmp = tempfile::tempdir().unwrap();
    let w =
        sidik_chart::render_timeline(&chart, &tmp.path().join("s"), &Output::default()).unwrap();
    let segs = &w.drawn.panels[0].series[0].1;
    // The gap stays a gap, the series is thinned to about twice the plot width, the spike is kept.
    assert_eq!(segs.len(), 2);
    let kept: usize = segs.iter().map(Vec::len).sum();
    let width = (w.drawn.plot_x.1 - w.drawn.plot_x.0) as usize;
    assert!(
        kept <= 2 * width + 6 && kept > width,
        "{kept} points for {width} px"
    );
    assert!(segs.concat().contains(&(spike_at, 5000.0)));
    assert_eq!(w.drawn.panels[0].y_max, 5000.0);
}

#[test]
fn recon_chart_shows_every_break_category() {
    let tmp = tempfile::tempdir().unwrap();
    let (inc, _) = incident(tmp.path(), Scenario::CallbackFailure);
    let l = load::recon(&inc).unwrap();
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(inc.dir.evidence().join("recon/recon.json")).unwrap(),
    )
    .unwrap();
    let w = sidik_chart::render_recon(
        &l.chart,
        &inc.dir.charts().join("recon"),
        &Output::default(),
    )
    .unwrap();
    let svg = std::fs::read_to_string(w.svg.unwrap()).unwrap();
    let img = decode(w.png.as_ref().unwrap());
    assert_eq!((img.0, img.1), (1600, 900));
    let cats = json["by_category"].as_object().unwrap();
    assert!(cats.len() > 2);
    for (c, v) in cats {
        if c == "MATCHED" {
            continue;
        }
        let amount = sidik_core::fmt::idr(v["amount"].as_i64().unwrap());
        assert!(svg.contains(c.as_str()), "no {c}");
        assert!(svg.contains(&amount), "no {amount} for {c}");
    }
    // Hourly totals add up to the category totals.
    let per_hour: f64 = l.chart.rupiah.layers.iter().flat_map(|x| x.2.iter()).sum();
    let total: i64 = cats
        .iter()
        .filter(|(c, _)| *c != "MATCHED")
        .map(|(_, v)| v["amount"].as_i64().unwrap().abs())
        .sum();
    assert_eq!(per_hour, total as f64);
    assert!(svg.contains("Rupiah per hour of charge time"));

    // Without a reconciliation, the error says what to run.
    std::fs::remove_file(inc.dir.evidence().join("recon/recon.json")).unwrap();
    let e = load::recon(&inc).unwrap_err().to_string();
    assert!(e.contains("sidik recon"), "{e}");
}

#[test]
fn bad_evidence_is_named_by_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (inc, _) = incident(tmp.path(), Scenario::PoolExhaustion);
    let tl = inc.dir.evidence().join("logs/timeline.csv");
    let text = std::fs::read_to_string(&tl).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut cols: Vec<String> = lines[3].split(',').map(str::to_string).collect();
    cols[3] = "lots".into();
    lines[3] = cols.join(",");
    std::fs::write(&tl, lines.join("\n") + "\n").unwrap();
    let e = load::timeline(&inc, &TimelineOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("timeline.csv:4"), "{e}");
    assert!(e.contains("requests \"lots\" is not a number"), "{e}");
    // Sizes out of range are refused with the range.
    let l = Timeline {
        title: String::new(),
        subtitle: String::new(),
        tz: inc.tz,
        start: 0,
        end: 60_000,
        panels: vec![],
        phases: vec![],
        marks: vec![],
    };
    let e = sidik_chart::render_timeline(
        &l,
        &tmp.path().join("x"),
        &Output {
            width: 50,
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("between 200 and 10000"), "{e}");
}
