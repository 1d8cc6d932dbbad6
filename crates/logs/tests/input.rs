//! Compressed inputs recognised by their magic bytes, whatever their name;
//! a truncated gzip file keeps everything before the cut.

use std::io::Write;

mod common;
use common::lines;

fn run(files: Vec<std::path::PathBuf>, tmp: &std::path::Path) -> sidik_logs::ingest::Ingest {
    common::ingest_upg(files, tmp, 1000, sidik_logs::ingest::GROUP_ROWS)
}

#[test]
fn every_compression_is_recognised_by_content() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = lines(500);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw[..raw.len() / 2]).unwrap();
    let mut gz_bytes = gz.finish().unwrap();
    // A second gzip member, as `cat a.gz b.gz` makes.
    let mut gz2 = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz2.write_all(&raw[raw.len() / 2..]).unwrap();
    gz_bytes.extend(gz2.finish().unwrap());
    let zst = zstd::encode_all(&raw[..], 3).unwrap();
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    bz.write_all(&raw).unwrap();
    let bz = bz.finish().unwrap();
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
    xz.write_all(&raw).unwrap();
    let xz = xz.finish().unwrap();
    for (name, bytes, kind) in [
        ("a.log", gz_bytes, "gzip"),
        ("b.txt", zst, "zstd"),
        ("c", bz, "bzip2"),
        ("d.gz", xz, "xz"),
        ("e.zst", raw.clone(), "none"),
    ] {
        let p = tmp.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let got = run(vec![p], tmp.path());
        let f = &got.summary.files[0];
        assert_eq!(serde_json::to_value(f.compression).unwrap(), kind, "{name}");
        assert_eq!(f.events, 500, "{name}");
        assert_eq!(f.quarantined, 0, "{name}");
    }
}

#[test]
fn a_truncated_gzip_keeps_what_came_before() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = lines(5000);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    let bytes = gz.finish().unwrap();
    let p = tmp.path().join("cut.log.gz");
    std::fs::write(&p, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let got = run(vec![p], tmp.path());
    let f = &got.summary.files[0];
    assert!(f.cut_short.is_some(), "the cut was not reported");
    assert!(
        f.events > 1000 && f.events < 5000,
        "{} events kept",
        f.events
    );
}
