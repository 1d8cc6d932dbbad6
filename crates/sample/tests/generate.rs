//! Generated incidents: every scenario, determinism, and the promises the
//! ground truth makes about the log files.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::GzDecoder;
use sidik_sample::{generate, GenerateOptions, Scenario, Summary};

fn gen(dir: &Path, scenario: Scenario, orders: u64, seed: u64) -> Summary {
    generate(&GenerateOptions {
        out: dir.to_path_buf(),
        scenario,
        orders,
        seed,
        force: false,
        vary: false,
    })
    .unwrap_or_else(|e| panic!("{scenario}: {e}"))
}

fn read_lines(path: &Path) -> Vec<Vec<u8>> {
    let f = std::fs::File::open(path).unwrap();
    let mut r: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(GzDecoder::new(f))
    } else {
        Box::new(f)
    };
    let mut all = Vec::new();
    r.read_to_end(&mut all).unwrap();
    BufReader::new(&all[..])
        .split(b'\n')
        .map(|l| l.unwrap())
        .collect()
}

#[test]
fn every_scenario_generates_every_artifact() {
    let tmp = tempfile::tempdir().unwrap();
    for sc in Scenario::ALL {
        let dir = tmp.path().join(sc.name());
        let s = gen(&dir, sc, 3_000, 5);
        let names: BTreeSet<&str> = s.files.iter().map(|(p, _)| p.as_str()).collect();
        for expected in [
            "incident.toml",
            "tracker.md",
            "ground_truth.json",
            "data/orders.csv",
            "data/payments.csv",
            "data/ho_postings.csv",
            "metrics/cloud-eye.csv",
            "metrics/metrics.om",
            "logs/mrg/mrg.log",
            "logs/mrg/mrg.log.1.gz",
            "logs/upg/upg.log",
            "logs/upg/upg.log.1.gz",
            "logs/order-orchestrator/orchestrator.log",
            "logs/order-orchestrator/orchestrator.log.1.gz",
            "logs/postgres/postgresql-2025-01-12.log",
        ] {
            assert!(names.contains(expected), "{sc}: {expected} missing");
        }
        for sub in ["evidence", "reports", "charts", "runs"] {
            assert!(dir.join(sub).is_dir(), "{sc}: {sub}/ missing");
        }
        // The incident folder is valid for sidik-core.
        let inc = sidik_core::Incident::load(&dir).unwrap();
        assert_eq!(inc.file.sources.logs.len(), 4);
        assert_eq!(
            std::fs::read(inc.tracker.unwrap()).unwrap(),
            sidik_sample::SEED_TRACKER
        );
        // The ground truth names the scenario and finds something for it.
        let t = &s.truth;
        assert_eq!(t.root_cause.scenario, sc.name());
        assert!(!t.breaks.is_empty(), "{sc}: no breaks planted");
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("ground_truth.json")).unwrap()).unwrap();
        assert_eq!(json["root_cause"]["hypothesis_number"], sc.hypothesis().0);
        assert!(
            json["times"]["error_onset"].as_str().unwrap()
                >= json["times"]["spike_start"].as_str().unwrap()
        );
        let om = std::fs::read_to_string(dir.join("metrics/metrics.om")).unwrap();
        assert!(om.ends_with("# EOF\n"));
    }
}

#[test]
fn each_scenario_plants_its_own_signature() {
    let tmp = tempfile::tempdir().unwrap();
    let count = |s: &Summary, key: &str| s.truth.counts.get(key).copied().unwrap_or(0);
    let read = |dir: &Path, rel: &str| {
        String::from_utf8_lossy(&std::fs::read(dir.join(rel)).unwrap()).into_owned()
    };

    let d = tmp.path().join("pool");
    let s = gen(&d, Scenario::PoolExhaustion, 20_000, 3);
    assert!(
        count(&s, "stuck_orders") > 0
            && count(&s, "missing_in_ho_payments") > count(&s, "stuck_orders")
    );
    assert!(read(&d, "logs/postgres/postgresql-2025-01-12.log")
        .contains("FATAL:  sorry, too many clients already"));
    assert!(read(&d, "logs/order-orchestrator/orchestrator.log")
        .contains("pq: sorry, too many clients already"));

    let d = tmp.path().join("callback");
    let s = gen(&d, Scenario::CallbackFailure, 20_000, 3);
    assert!(count(&s, "stuck_orders") > count(&s, "breaks_duplicate_charge"));
    assert!(read(&d, "logs/upg/upg.log").contains("payment callback failed"));
    assert!(!read(&d, "logs/postgres/postgresql-2025-01-12.log").contains("too many clients"));

    let d = tmp.path().join("breaker");
    let s = gen(&d, Scenario::CircuitBreaker, 20_000, 3);
    assert!(count(&s, "missing_in_ho_payments") > count(&s, "stuck_orders"));
    assert!(read(&d, "logs/mrg/mrg.log").contains("circuit breaker is open"));

    let d = tmp.path().join("timeout");
    let s = gen(&d, Scenario::TimeoutMismatch, 20_000, 3);
    assert!(count(&s, "breaks_duplicate_charge") > count(&s, "stuck_orders"));
    assert!(read(&d, "logs/mrg/mrg.log").contains("Client.Timeout exceeded while awaiting headers"));

    let d = tmp.path().join("race");
    let s = gen(&d, Scenario::RaceCondition, 20_000, 3);
    assert!(count(&s, "breaks_duplicate_posting") > 0);
    assert!(count(&s, "breaks_amount_mismatch") > 0);
    let pg = read(&d, "logs/postgres/postgresql-2025-01-12.log");
    assert!(pg.contains("ERROR:  deadlock detected") && pg.contains("\tProcess "));
}

#[test]
fn same_seed_same_bytes_other_seed_other_incident() {
    let tmp = tempfile::tempdir().unwrap();
    let a = gen(&tmp.path().join("a"), Scenario::RaceCondition, 2_000, 9);
    let b = gen(&tmp.path().join("b"), Scenario::RaceCondition, 2_000, 9);
    assert_eq!(a.files, b.files);
    let c = gen(&tmp.path().join("c"), Scenario::RaceCondition, 2_000, 10);
    for (rel, _) in &a.files {
        let x = std::fs::read(tmp.path().join("a").join(rel)).unwrap();
        let y = std::fs::read(tmp.path().join("b").join(rel)).unwrap();
        assert!(x == y, "{rel} differs between two runs with the same seed");
    }
    let orders = |d: &str| std::fs::read(tmp.path().join(d).join("data/orders.csv")).unwrap();
    assert_ne!(orders("a"), orders("c"));
    assert_ne!(a.truth.stuck_orders, c.truth.stuck_orders);
}

#[test]
fn logs_are_time_ordered_and_malformed_lines_are_exactly_the_planted_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("inc");
    let s = gen(&dir, Scenario::PoolExhaustion, 30_000, 21);
    let mut planted_total = 0;
    for f in &s.truth.logs {
        let lines = read_lines(&dir.join(&f.path));
        assert_eq!(lines.len() as u64, f.lines, "{}: line count", f.path);
        let planted: BTreeSet<u64> = f.malformed_lines.iter().copied().collect();
        planted_total += planted.len();
        let mut last = String::new();
        for (i, line) in lines.iter().enumerate() {
            let n = i as u64 + 1;
            let text = String::from_utf8_lossy(line);
            let (ok, time) = match f.format.as_str() {
                "json" => match serde_json::from_slice::<serde_json::Value>(line) {
                    Ok(v) => {
                        let t = v
                            .get("ts")
                            .map(|t| format!("{:020.6}", t.as_f64().unwrap()))
                            .or_else(|| v.get("time").map(|t| t.as_str().unwrap().to_string()));
                        (true, t)
                    }
                    Err(_) => (false, None),
                },
                "logrus" => {
                    let quotes = text.matches('"').count() - text.matches("\\\"").count();
                    let ok = text.starts_with("time=\"")
                        && quotes.is_multiple_of(2)
                        && !line.contains(&0u8);
                    (ok, ok.then(|| text[6..29].to_string()))
                }
                _ => {
                    // PostgreSQL: continuation lines start with a tab.
                    let ok = text.starts_with('\t') || text.starts_with("2025-01-1");
                    (
                        ok,
                        (!text.starts_with('\t')).then(|| text[..23].to_string()),
                    )
                }
            };
            assert_eq!(
                !ok,
                planted.contains(&n),
                "{}:{n}: planted={} but parses={ok}: {text}",
                f.path,
                planted.contains(&n)
            );
            if let Some(t) = time {
                assert!(t >= last, "{}:{n}: {t} before {last}", f.path);
                last = t;
            }
        }
        if f.gzip {
            assert!(
                last.as_str() < "2025-01-12 12:00" || f.format != "logrus",
                "{}: morning file holds {last}",
                f.path
            );
        }
    }
    assert!(
        planted_total > 10,
        "only {planted_total} malformed lines planted"
    );
}

#[test]
fn the_real_seed_tracker_is_shipped_byte_for_byte() {
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/seed/tracker.md");
    match std::fs::read(&seed) {
        Ok(bytes) => assert!(
            bytes == sidik_sample::SEED_TRACKER,
            "assets/tracker.md differs from {}",
            seed.display()
        ),
        Err(_) => eprintln!(
            "note: {} not present; compared the shipped copy only",
            seed.display()
        ),
    }
    let text = String::from_utf8(sidik_sample::SEED_TRACKER.to_vec()).unwrap();
    assert!(
        text.contains("ðŸ”´"),
        "the shipped tracker lost its mojibake"
    );
    assert!(text.contains("- [ ] Collect metrics dari Huawei Cloud (12 Jan full day)"));
}

#[test]
fn refuses_bad_sizes_and_occupied_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let err = generate(&GenerateOptions {
        out: tmp.path().join("x"),
        scenario: Scenario::PoolExhaustion,
        orders: 10,
        seed: 1,
        force: false,
        vary: false,
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("1000 to 10000000"), "{err}");
    std::fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
    let err = generate(&GenerateOptions {
        out: tmp.path().to_path_buf(),
        scenario: Scenario::PoolExhaustion,
        orders: 1_000,
        seed: 1,
        force: false,
        vary: false,
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("--force"), "{err}");
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("notes.txt")).unwrap(),
        "mine"
    );
}
