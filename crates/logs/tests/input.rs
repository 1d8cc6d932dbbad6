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

#[test]
fn a_damaged_gzip_keeps_every_line_decoded_before_the_damage() {
    // 3,000 lines, a flush (the deflate stream is byte-aligned there), then
    // 2,000 more whose first byte is damaged: an invalid block type. Every
    // one of the first 3,000 lines can be decoded, and is kept.
    let tmp = tempfile::tempdir().unwrap();
    let raw = lines(5000);
    let cut = raw
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(2999)
        .map(|(i, _)| i + 1)
        .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw[..cut]).unwrap();
    gz.flush().unwrap();
    let at = gz.get_ref().len();
    gz.write_all(&raw[cut..]).unwrap();
    let mut bytes = gz.finish().unwrap();
    bytes[at] = 0xff;
    let p = tmp.path().join("damaged.log.gz");
    std::fs::write(&p, &bytes).unwrap();
    let got = run(vec![p], tmp.path());
    let f = &got.summary.files[0];
    assert!(f.cut_short.is_some(), "the damage was not reported");
    assert_eq!(f.events, 3000);
    assert_eq!(f.quarantined, 0);
}
