//! A second ingest into the same folders replaces everything the first
//! wrote, and what it set aside is gone when it returns.

mod common;

#[test]
fn a_rerun_leaves_only_its_own_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("upg.log");
    let mut text = common::lines(3_000);
    text.extend_from_slice(b"{not json\n");
    std::fs::write(&log, &text).unwrap();
    common::ingest_upg(vec![log.clone()], tmp.path(), 1_000, 500);
    let out = tmp.path().join("out");
    let listing = |dir: &std::path::Path| {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let first = listing(&out);
    assert!(
        first.contains(&"events-upg-0002.parquet".to_string()),
        "{first:?}"
    );
    // What an earlier, larger run and an interrupted one left behind.
    std::fs::write(out.join("events-upg-0009.parquet"), b"old").unwrap();
    std::fs::create_dir(out.join(".replaced-1")).unwrap();
    std::fs::write(out.join(".replaced-1").join("journeys.csv"), b"old").unwrap();
    std::fs::write(out.join("journeys.csv"), b"old").unwrap();
    std::fs::write(tmp.path().join("q").join("old.jsonl"), b"{}").unwrap();

    std::fs::write(&log, common::lines(1_500)).unwrap();
    let again = common::ingest_upg(vec![log], tmp.path(), 1_000, 500);
    assert_eq!(again.summary.events["upg"], 1_500);
    assert_eq!(
        listing(&out),
        [
            "events-upg-0000.parquet",
            "events-upg-0001.parquet",
            "journeys.csv"
        ]
    );
    let journeys = std::fs::read_to_string(out.join("journeys.csv")).unwrap();
    assert_eq!(journeys.lines().count(), 1 + 1_500);
    // No bad line this time: the quarantine is empty.
    assert_eq!(listing(&tmp.path().join("q")), Vec::<String>::new());
}
