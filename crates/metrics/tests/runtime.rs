//! Go runtime findings on generated incidents: the planted goroutine growth is
//! found with its service and window; where none was planted, none is reported.

use sidik_core::Incident;
use sidik_sample::{generate, GenerateOptions, Scenario};

fn findings(
    scenario: Scenario,
    seed: u64,
) -> (
    sidik_metrics::runtime::Findings,
    serde_json::Value,
    Incident,
) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("inc");
    generate(&GenerateOptions {
        out: dir.clone(),
        scenario,
        orders: 2000,
        seed,
        force: true,
        vary: false,
    })
    .unwrap();
    let inc = Incident::load(&dir).unwrap();
    let imported = sidik_metrics::import::incident(&inc).unwrap();
    assert!(imported.rejected.is_empty(), "{:?}", imported.rejected);
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("ground_truth.json")).unwrap())
            .unwrap();
    (
        sidik_metrics::runtime::findings(&imported.frame),
        truth,
        inc,
    )
}

#[test]
fn planted_goroutine_growth_is_found_and_nothing_else() {
    for seed in [1, 2] {
        for sc in [
            Scenario::PoolExhaustion,
            Scenario::CallbackFailure,
            Scenario::CircuitBreaker,
            Scenario::TimeoutMismatch,
            Scenario::RaceCondition,
        ] {
            let (f, truth, inc) = findings(sc, seed);
            let planted = &truth["goroutine_growth"];
            if planted.is_null() {
                assert!(
                    f.leaks.is_empty(),
                    "{sc:?} seed {seed}: no growth was planted, found {:?}",
                    f.leaks
                );
                continue;
            }
            assert_eq!(f.leaks.len(), 1, "{sc:?} seed {seed}: {:?}", f.leaks);
            let l = &f.leaks[0];
            assert_eq!(l.service, planted["service"].as_str().unwrap(), "{sc:?}");
            let t = |k: &str| {
                sidik_core::time::parse_time(planted[k].as_str().unwrap(), inc.tz)
                    .unwrap()
                    .timestamp_millis()
            };
            let (s, e) = (t("start"), t("end"));
            assert!(
                (l.start - s).abs() <= 3 * 60_000,
                "{sc:?} seed {seed}: starts {} min off",
                (l.start - s) / 60_000
            );
            assert!(
                (l.end - e).abs() <= 3 * 60_000,
                "{sc:?} seed {seed}: ends {} min off",
                (l.end - e) / 60_000
            );
            assert!(l.excess > 1000.0 && l.per_minute > 50.0, "{l:?}");
            // The other services follow their load.
            assert!(!f.steady.contains(&l.service));
        }
    }
}
