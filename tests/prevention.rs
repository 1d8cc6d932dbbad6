//! Phase 5 on generated incidents of every scenario: the review names the
//! injected cause's setting first with its numbers, the capacity plan's
//! arithmetic holds, and the alert rules pass `promtool check rules` and
//! the `promtool test rules` unit tests built from the incident's own series
//! (each rule fires inside the incident and is silent on the normal day).
//!
//! Every scenario is generated with the same `[topology]` settings: only the
//! evidence differs, and it has to decide which setting failed.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use common::{json, sidik, sidik_ok};

/// Scenario, the area of the first recommendation, its service, its callee.
const EXPECTED: [(&str, &str, &str, Option<&str>); 5] = [
    ("pool-exhaustion", "pool", "order-orchestrator", None),
    (
        "callback-failure",
        "retries",
        "upg",
        Some("order-orchestrator"),
    ),
    ("circuit-breaker", "breaker", "", None),
    ("timeout-mismatch", "timeout", "mrg", Some("upg")),
    ("race-condition", "statement", "order-orchestrator", None),
];

/// Where the shared incidents are generated: cargo's scratch folder for
/// integration tests, emptied by the first test of each run (a static
/// temporary directory would never be removed).
static ROOT: OnceLock<PathBuf> = OnceLock::new();

fn root() -> &'static Path {
    ROOT.get_or_init(|| {
        let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("prevention");
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}
/// The incidents, by (scenario, vary): each generated once, different ones at the same time.
type Slot = std::sync::Arc<OnceLock<PathBuf>>;
static MADE: Mutex<BTreeMap<(String, bool), Slot>> = Mutex::new(BTreeMap::new());

/// The incident of `scenario` (seed 40 + its index; `vary` draws loggers and
/// wordings, seed 21 + its index), generated and run through phases 1–3 once
/// and shared by the tests that only read it. Tests that change it take a
/// [`copy`].
fn shared(scenario: &str, vary: bool) -> PathBuf {
    let slot = MADE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry((scenario.to_string(), vary))
        .or_default()
        .clone();
    slot.get_or_init(|| {
        let d = root().join(format!("{scenario}{}", if vary { "-vary" } else { "" }));
        let i = EXPECTED.iter().position(|e| e.0 == scenario).unwrap() as u64;
        generate_as(&d, scenario, if vary { 21 } else { 40 } + i, vary);
        d
    })
    .clone()
}

/// A private copy of a shared incident, for a test that changes it.
fn copy(scenario: &str, to: &Path) -> PathBuf {
    let from = shared(scenario, false);
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(&from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
    to.to_path_buf()
}

/// `vary`: loggers, wordings and export names drawn from the seed, so the
/// messages may name no service (`charge request failed: rpc error: …`).
fn generate_as(dir: &Path, scenario: &str, seed: u64, vary: bool) {
    let d = dir.to_str().unwrap();
    let seed = seed.to_string();
    let mut args = vec![
        "sample",
        "generate",
        "--out",
        d,
        "--scenario",
        scenario,
        "--orders",
        "12000",
        "--seed",
        &seed,
    ];
    if vary {
        args.push("--vary");
    }
    sidik_ok(&args);
    // Only the steps whose evidence phase 5 reads (no charts, no reports).
    let o = sidik(&[
        "run",
        "--incident",
        d,
        "phase-1-data-collection",
        "phase-2-analysis",
        "--only",
        "metrics",
        "--only",
        "logs",
        "--only",
        "missing-in-ho",
        "--only",
        "go-runtime",
        "--only",
        "root-cause",
    ]);
    assert!(
        dir.join("evidence/rca.json").is_file(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn the_review_names_the_injected_cause_first_on_every_scenario() {
    first_recommendations(false);
}

#[test]
fn the_review_names_the_injected_cause_first_on_varied_wordings() {
    first_recommendations(true);
}

fn first_recommendations(vary: bool) {
    for (scenario, area, service, callee) in EXPECTED {
        let d = shared(scenario, vary);
        let out = sidik_ok(&["review", "--incident", d.to_str().unwrap(), "--json"]);
        let r: serde_json::Value = serde_json::from_str(&out).unwrap();
        let first = &r["findings"][0];
        assert_eq!(first["area"], area, "{scenario}: {first:#}");
        assert_eq!(first["verdict"], "fail", "{scenario}: {first:#}");
        if !service.is_empty() {
            assert_eq!(first["service"], service, "{scenario}: {first:#}");
        }
        if let Some(c) = callee {
            assert_eq!(first["callee"], c, "{scenario}: {first:#}");
        }
        // With its numbers: the orders it cost and a concrete value.
        assert!(
            first["orders"].as_u64().unwrap() > 0,
            "{scenario}: {first:#}"
        );
        let rec = first["recommended"].as_str().unwrap();
        assert!(rec.chars().any(|c| c.is_ascii_digit()), "{scenario}: {rec}");
        assert!(!rec.starts_with("unknown"), "{scenario}: {rec}");
        // The written file is the same review.
        let file = json(&d.join("evidence/prevention/review.json"));
        assert_eq!(file["findings"][0]["setting"], first["setting"]);
    }
}

#[test]
fn alert_rules_pass_promtool_and_fire_inside_the_incident() {
    for scenario in ["pool-exhaustion", "callback-failure", "circuit-breaker"] {
        let d = shared(scenario, false);
        let out = sidik_ok(&["alerts", "--incident", d.to_str().unwrap()]);
        assert!(
            out.contains("promtool check rules and test rules: passed"),
            "{scenario}: {out}"
        );
        let rules = std::fs::read_to_string(d.join("evidence/prevention/alerts.yml")).unwrap();
        let tests = std::fs::read_to_string(d.join("evidence/prevention/alerts.test.yml")).unwrap();
        // Minute 0 of the series is 2025-01-12 00:00 WIB; the incident runs
        // from 19:00 (minute 1140) to the recovery at 20:45 (1245), and the
        // rules may fire until the last stuck orders are found.
        for line in out.lines().filter(|l| l.contains("fires at")) {
            let hhmm = line.split("fires at ").nth(1).unwrap();
            let (h, m) = hhmm[..5].split_once(':').unwrap();
            let minute: u32 = h.parse::<u32>().unwrap() * 60 + m.parse::<u32>().unwrap();
            assert!(
                (19 * 60..=21 * 60 + 30).contains(&minute),
                "{scenario}: fires outside the incident: {line}"
            );
        }
        // Each failure mode the scenario has gets a rule that fires.
        let must: &[&str] = match scenario {
            "pool-exhaustion" => &[
                "DatabaseSlotsSaturated",
                "ChargedNotPostedToHO",
                "OrdersStuckActive",
            ],
            "callback-failure" => &["GoroutineGrowth", "OrdersStuckActive", "DuplicateCharges"],
            _ => &["BreakerOpen", "OrdersStuckActive"],
        };
        for name in must {
            assert!(
                rules.contains(&format!("alert: {name}")),
                "{scenario}: {rules}"
            );
            assert!(
                out.lines()
                    .any(|l| l.starts_with(name) && l.contains("fires at")),
                "{scenario}: {name} does not fire:\n{out}"
            );
        }
        // The tests check silence on the normal day and the firing minute.
        assert!(tests.contains("exp_alerts: []"), "{tests}");
        assert!(tests.contains("exp_labels:"), "{tests}");
    }
}

#[test]
fn a_rule_that_fires_a_minute_early_fails_promtool() {
    // The unit tests are not a formality: move one rule's threshold and
    // promtool test rules rejects the file.
    let tmp = tempfile::tempdir().unwrap();
    let d = copy("pool-exhaustion", &tmp.path().join("inc"));
    sidik_ok(&["alerts", "--incident", d.to_str().unwrap()]);
    let dir = d.join("evidence/prevention");
    let rules = std::fs::read_to_string(dir.join("alerts.yml")).unwrap();
    let changed = rules.replacen("for: 2m", "for: 0m", 1);
    assert_ne!(rules, changed);
    std::fs::write(dir.join("alerts.yml"), changed).unwrap();
    let err = sidik_capacity::alerts::check(&dir, "alerts.yml", "alerts.test.yml").unwrap_err();
    let err = err.to_string();
    assert!(
        err.contains("promtool test rules alerts.test.yml failed"),
        "{err}"
    );
    assert!(err.contains("DatabaseSlotsSaturated"), "{err}");
}

#[test]
fn capacity_plan_scales_to_the_target_and_counts_the_pools() {
    let d = shared("pool-exhaustion", false);
    let out = sidik_ok(&["capacity", "--incident", d.to_str().unwrap()]);
    assert!(
        out.contains("planned for 100,000 concurrent users (× 1.299 the incident's peak)"),
        "{out}"
    );
    let p = json(&d.join("evidence/prevention/capacity.json"));
    // 15 × 2 + 50 × 2 + 120 × 1 from the sample's [topology]; 120 × 6 at most replicas.
    assert_eq!(p["sum_now"], 250);
    assert_eq!(p["sum_max"], 15 * 2 + 50 * 2 + 120 * 6);
    assert_eq!(p["server"]["usable"], 197);
    assert_eq!(p["hikari"], 16 * 2 + 1);
    for r in p["services"].as_array().unwrap() {
        // L = λW and the target rate = peak × 100,000 / 77,000.
        let rate = r["rate_target"].as_f64().unwrap();
        let peak = r["rate_peak"].as_f64().unwrap();
        assert!((rate / peak - 100_000.0 / 77_000.0).abs() < 1e-9, "{r}");
        if let (Some(w), Some(l)) = (r["latency_s"].as_f64(), r["concurrency_target"].as_f64()) {
            assert!((l - rate * w).abs() < 1e-9, "{r}");
        }
        // The pool Erlang C gives keeps P(wait) under 1 % and one fewer does not.
        if let (Some(h), Some(c)) = (r["holding_s"].as_f64(), r["pool_needed"].as_u64()) {
            let a = rate * h;
            assert!(
                sidik_capacity::queueing::erlang_c(c as u32, a) <= 0.01,
                "{r}"
            );
            if c > 1 && (c - 1) as f64 > a {
                assert!(
                    sidik_capacity::queueing::erlang_c(c as u32 - 1, a) > 0.01,
                    "{r}"
                );
            }
        }
    }
    let md = std::fs::read_to_string(d.join("reports/capacity.md")).unwrap();
    for needle in [
        "L = λW",
        "Erlang C",
        "usable slots",
        "PgBouncer",
        "## Headroom at the target",
    ] {
        assert!(md.contains(needle), "{needle}: {md}");
    }
}

#[test]
fn review_without_topology_says_what_to_add() {
    let tmp = tempfile::tempdir().unwrap();
    let d = copy("pool-exhaustion", &tmp.path().join("inc"));
    let cfg = d.join("incident.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let cut = text.split("[capacity]").next().unwrap().to_string();
    std::fs::write(&cfg, cut).unwrap();
    let o = sidik(&["review", "--incident", d.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("has no [[topology.service]]"), "{err}");
    // The playbook step is skipped, not ticked, and says why.
    let o = sidik(&[
        "run",
        "--incident",
        d.to_str().unwrap(),
        "phase-5-prevention-load-testing",
        "--only",
        "pool-optimization",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("skipped  pool-optimization"), "{out}");
    let run = std::fs::read_dir(d.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("phase-5"))
        .unwrap();
    let j = json(&run);
    let s = j["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "pool-optimization")
        .unwrap();
    assert_eq!(s["status"], "skipped");
    assert!(
        s.to_string().contains("docs/capacity.md"),
        "the step says what to add: {s}"
    );
    let tracker = std::fs::read_to_string(d.join("tracker.md")).unwrap();
    assert!(tracker.contains("- [ ] Database connection pool optimization"));
}

#[test]
fn check_rejects_a_call_to_an_unknown_service() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("inc");
    sidik_ok(&[
        "sample",
        "generate",
        "--out",
        d.to_str().unwrap(),
        "--scenario",
        "pool-exhaustion",
        "--orders",
        "1000",
    ]);
    let cfg = d.join("incident.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("to = \"upg\"", "to = \"upgg\"")).unwrap();
    let o = sidik(&["check", "--incident", d.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("topology.service[0].call[0].to"), "{err}");
    assert!(
        err.contains("\"upgg\" is not a service of [[topology.service]]"),
        "{err}"
    );
    assert!(err.contains("order-orchestrator"), "{err}");
    std::fs::write(
        &cfg,
        text.replace("timeout = \"5s\"", "timeout = \"5 seconds\""),
    )
    .unwrap();
    let err = String::from_utf8_lossy(&sidik(&["check", "--incident", d.to_str().unwrap()]).stderr)
        .to_string();
    assert!(err.contains("timeout"), "{err}");
}
