//! Prints detected phases and the ranking against ground truth, for tuning.
fn main() {
    for dir in std::env::args().skip(1) {
        let inc = sidik_core::Incident::load(&dir).unwrap();
        let (a, _, _) = sidik_rca::run(&inc, &[]).unwrap();
        let truth: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{dir}/ground_truth.json")).unwrap(),
        )
        .unwrap();
        let t = |k: &str| {
            chrono::DateTime::parse_from_rfc3339(truth["times"][k].as_str().unwrap())
                .unwrap()
                .timestamp_millis()
        };
        let d = |p: &Option<sidik_rca::phases::Phase>, k: &str| match p {
            Some(p) => format!("{:+.1}", (p.at - t(k)) as f64 / 60000.0),
            None => "none".into(),
        };
        let ranks: Vec<String> = a
            .hypotheses
            .iter()
            .map(|h| {
                format!(
                    "{}:{:?}:{:.0}@{}",
                    h.number,
                    h.verdict,
                    h.score,
                    h.significant_at
                        .map_or("-".into(), |x| sidik_rca::report::hhmm(inc.tz, x))
                )
            })
            .collect();
        println!(
            "{:<32} spike {:>6} onset {:>6} degr {:>6} rec {:>6} | truth H{} primary {:?} | {}",
            dir.rsplit('/').next().unwrap(),
            d(&a.phases.spike_start, "spike_start"),
            d(&a.phases.error_onset, "error_onset"),
            d(&a.phases.degradation_start, "degradation_start"),
            d(&a.phases.recovery, "recovery"),
            truth["root_cause"]["hypothesis_number"],
            a.primary,
            ranks.join(" ")
        );
    }
}
