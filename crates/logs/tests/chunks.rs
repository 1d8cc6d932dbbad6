//! Events Parquet files: `chunk_rows` rows each, in row groups of at most
//! `group_rows`, and every event in exactly one of them.

use std::io::Write;

use sidik_logs::classify::Classifier;
use sidik_logs::ingest::{ingest, Options, Source};
use sidik_logs::parse::Settings;
use sidik_logs::record::Aliases;

#[test]
fn files_hold_chunk_rows_in_row_groups_of_at_most_group_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("upg.log");
    let mut text = Vec::new();
    for i in 0..23_000u64 {
        writeln!(
            text,
            r#"{{"level":"info","ts":{}.5,"msg":"charge settled","order_id":"ORD-{i}"}}"#,
            1_736_683_501 + i
        )
        .unwrap();
    }
    std::fs::write(&log, text).unwrap();
    let src = Source {
        service: "upg".into(),
        files: vec![log],
        format: None,
        settings: Settings {
            aliases: Aliases::default(),
            tz: chrono_tz::UTC,
            clock_offset_ms: 0,
        },
    };
    let opts = Options {
        out: tmp.path().join("out"),
        quarantine: tmp.path().join("q"),
        bucket_ms: 60_000,
        // Not a multiple of the row group size: each file ends with a short group.
        chunk_rows: 10_000,
        group_rows: 4_000,
        compression: Default::default(),
        base: tmp.path().to_path_buf(),
        progress: None,
    };
    ingest(&[src], &Classifier::new(None).unwrap(), &opts).unwrap();
    let mut files: Vec<_> = std::fs::read_dir(&opts.out)
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
