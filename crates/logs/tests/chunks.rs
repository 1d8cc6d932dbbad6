//! Events Parquet files: `chunk_rows` rows each, in row groups of at most
//! `group_rows`, and every event in exactly one of them.

mod common;

#[test]
fn files_hold_chunk_rows_in_row_groups_of_at_most_group_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("upg.log");
    std::fs::write(&log, common::lines(23_000)).unwrap();
    // Not a multiple of the row group size: each file ends with a short group.
    common::ingest_upg(vec![log], tmp.path(), 10_000, 4_000);
    let out = tmp.path().join("out");
    let mut files: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("events-"))
        .collect();
    files.sort();
    let groups: Vec<Vec<usize>> = files
        .iter()
        .map(|p| {
            let meta =
                polars_parquet::read::read_metadata(&mut std::fs::File::open(p).unwrap()).unwrap();
            meta.row_groups.iter().map(|g| g.num_rows()).collect()
        })
        .collect();
    assert_eq!(
        groups,
        vec![
            vec![4_000, 4_000, 2_000],
            vec![4_000, 4_000, 2_000],
            vec![3_000]
        ]
    );
    // The events read back in order, each once.
    use polars::prelude::{ParquetReader, SerReader};
    let mut next = 0u64;
    for p in &files {
        let df = ParquetReader::new(std::fs::File::open(p).unwrap())
            .finish()
            .unwrap();
        let ids = df.column("order_id").unwrap().str().unwrap().clone();
        for i in 0..ids.len() {
            let id = ids.get(i);
            assert_eq!(id, Some(format!("ORD-{next}").as_str()));
            next += 1;
        }
    }
    assert_eq!(next, 23_000);
}
