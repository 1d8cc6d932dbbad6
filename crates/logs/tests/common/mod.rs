//! What the ingest tests share: a UPG zap log and an ingest of it.

use std::io::Write;
use std::path::{Path, PathBuf};

use sidik_logs::classify::Classifier;
use sidik_logs::ingest::{ingest, Ingest, Options, Source};
use sidik_logs::parse::Settings;
use sidik_logs::record::Aliases;

/// `n` UPG zap lines, one a second, order `ORD-{i}` on line `i + 1`.
pub fn lines(n: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for i in 0..n {
        writeln!(
            v,
            r#"{{"level":"info","ts":{}.5,"msg":"charge settled","order_id":"ORD-{i}"}}"#,
            1_736_683_501 + i
        )
        .unwrap();
    }
    v
}

/// Ingests `files` as the UPG service into `tmp/out`, `chunk_rows` rows a
/// Parquet file in row groups of `group_rows`.
pub fn ingest_upg(files: Vec<PathBuf>, tmp: &Path, chunk_rows: usize, group_rows: usize) -> Ingest {
    let src = Source {
        service: "upg".into(),
        files,
        format: None,
        settings: Settings {
            aliases: Aliases::default(),
            tz: chrono_tz::UTC,
            clock_offset_ms: 0,
        },
    };
    let opts = Options {
        out: tmp.join("out"),
        quarantine: tmp.join("q"),
        bucket_ms: 60_000,
        chunk_rows,
        group_rows,
        compression: Default::default(),
        base: tmp.to_path_buf(),
        progress: None,
        window: None,
    };
    ingest(&[src], &Classifier::new(None).unwrap(), &opts).unwrap()
}
