//! Exports as a spreadsheet program writes them reconcile to the same breaks
//! as the plain CSVs they came from. The fixtures in tests/data/spreadsheet
//! were written by LibreOffice Calc (its `make.sh` says how): one workbook
//! with a sheet per export (as `.xlsx`, `.xls` and `.ods`), and semicolon CSVs with Indonesian number
//! formats (`926.000`, `Rp 1.049.000,00`) and local dates without an offset
//! (`12/01/2025 00:00:19,927`). Nothing about them is told to sidik except
//! where each export is (and which sheet): delimiter, encoding, number
//! format and date order are detected.

mod common;

use std::path::{Path, PathBuf};

use common::{sidik_in, sidik_ok};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/spreadsheet")
}

/// The incident the fixtures were made from, with `data/` replaced by the
/// files of `variant` and `[sources.recon]` (and anything after it) by `recon`.
fn incident(root: &Path, variant: &str, files: &[&str], recon: &str) -> PathBuf {
    let dir = root.join(variant);
    sidik_ok(&[
        "sample",
        "generate",
        "--out",
        dir.to_str().unwrap(),
        "--scenario",
        "callback-failure",
        "--orders",
        "1000",
        "--seed",
        "3",
    ]);
    let data = dir.join("data");
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    for f in files {
        let from = fixtures().join(f);
        std::fs::copy(&from, data.join(from.file_name().unwrap())).unwrap();
    }
    let toml_path = dir.join("incident.toml");
    let toml = std::fs::read_to_string(&toml_path).unwrap();
    let cut = toml.find("[sources.recon]").expect("[sources.recon]");
    let rest = &toml[cut..];
    // Keep the sections after [sources.recon]'s own keys.
    let after = rest[1..].find("\n[").map_or("", |i| &rest[i + 2..]);
    std::fs::write(&toml_path, format!("{}{recon}\n{after}", &toml[..cut])).unwrap();
    dir
}

/// breaks.csv without the `source` column (file:line differs per variant).
fn breaks(dir: &Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(dir.join("evidence/recon/breaks.csv")).unwrap();
    let h = r.headers().unwrap().clone();
    let src = h.iter().position(|c| c == "source").unwrap();
    let mut rows: Vec<Vec<String>> = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            rec.iter()
                .enumerate()
                .filter(|(i, _)| *i != src)
                .map(|(_, v)| v.to_string())
                .collect()
        })
        .collect();
    rows.sort();
    rows
}

fn recon(dir: &Path) -> (Vec<Vec<String>>, serde_json::Value) {
    let o = sidik_in(dir, &["recon"]);
    // Exit 1: breaks found (the sample has them); anything else is a failure.
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (
        breaks(dir),
        common::json(&dir.join("evidence/recon/recon.json")),
    )
}

#[test]
fn libreoffice_exports_reconcile_to_the_same_breaks_as_the_plain_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = incident(
        tmp.path(),
        "plain",
        &[
            "plain/orders.csv",
            "plain/payments.csv",
            "plain/ho_postings.csv",
        ],
        "[sources.recon]\norders = \"data/orders.csv\"\npayments = \"data/payments.csv\"\npostings = \"data/ho_postings.csv\"\n",
    );
    let (want, want_json) = recon(&plain);
    assert!(want.len() > 20, "the sample has breaks: {}", want.len());
    assert_eq!(want_json["rejected"]["count"], 0);

    let books: Vec<PathBuf> = ["xlsx", "xls", "ods"]
        .iter()
        .map(|ext| {
            let file = format!("exports.{ext}");
            incident(
                tmp.path(),
                ext,
                &[file.as_str()],
                &format!("[sources.recon]\norders = \"data/{file}\"\npayments = \"data/{file}\"\npostings = \"data/{file}\"\n\n[recon.format.payments]\nsheet = \"Pembayaran\"\n\n[recon.format.postings]\nsheet = \"Jurnal HO\"\n"),
            )
        })
        .collect();
    let semi = incident(
        tmp.path(),
        "semicolon",
        &[
            "id-semicolon/orders.csv",
            "id-semicolon/payments.csv",
            "id-semicolon/ho_postings.csv",
        ],
        "[sources.recon]\norders = \"data/orders.csv\"\npayments = \"data/payments.csv\"\npostings = \"data/ho_postings.csv\"\n",
    );
    for dir in books.iter().chain([&semi]) {
        let (got, json) = recon(dir);
        assert_eq!(json["rejected"]["count"], 0, "{}", dir.display());
        assert_eq!(
            json["by_category"],
            want_json["by_category"],
            "{}",
            dir.display()
        );
        assert_eq!(got.len(), want.len(), "{}", dir.display());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.len(), w.len());
            for (i, (a, b)) in g.iter().zip(w).enumerate() {
                if a == b {
                    continue;
                }
                // LibreOffice writes an .ods time to the hundredth of a
                // second (`20:35:08.64` for `20:35:08.638`): the break's
                // time may differ by that, nothing else may.
                let ms =
                    |v: &str| chrono::DateTime::parse_from_rfc3339(v).map(|t| t.timestamp_millis());
                let close = matches!((ms(a), ms(b)), (Ok(x), Ok(y)) if (x - y).abs() <= 10);
                assert!(
                    close && dir.ends_with("ods"),
                    "{}: column {i}: {g:?} vs {w:?}",
                    dir.display()
                );
            }
        }
    }

    // `sidik check` says what it found in each file, with a row as read.
    let out = sidik_ok(&["check", "--incident", semi.to_str().unwrap()]);
    assert!(out.contains("delimiter `;` (detected"), "{out}");
    assert!(out.contains("number id-ID (detected)"), "{out}");
    assert!(out.contains("dates dmy (detected)"), "{out}");
    assert!(
        out.contains("payment PAY-00000001-1 order ORD-250112-00000001 charge settled Rp 926.000 at 2025-01-12 00:00:19 WIB"),
        "a parsed payment: {out}"
    );
    for book in &books {
        let out = sidik_ok(&["check", "--incident", book.to_str().unwrap()]);
        assert!(out.contains("sheet `Pembayaran` (set of 3)"), "{out}");
        assert!(out.contains("sheet `Orders` (the first of 3)"), "{out}");
    }
}

#[test]
fn check_catches_a_wrong_column_a_wrong_delimiter_and_an_unreadable_amount() {
    let tmp = tempfile::tempdir().unwrap();
    let files = [
        "id-semicolon/orders.csv",
        "id-semicolon/payments.csv",
        "id-semicolon/ho_postings.csv",
    ];
    let base = "[sources.recon]\norders = \"data/orders.csv\"\npayments = \"data/payments.csv\"\npostings = \"data/ho_postings.csv\"\n";
    let fails = |dir: &Path| -> String {
        let o = sidik_in(dir, &["check"]);
        assert!(!o.status.success(), "check should fail");
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    for (name, extra, want) in [
        // A column that is not in the file.
        (
            "column",
            "[recon.columns.payments]\namount = \"nominal\"\n",
            "data/payments.csv:1: no column `nominal` (payments.amount)",
        ),
        // The delimiter said wrong: one column, so no column is found.
        (
            "delimiter",
            "[recon.format.payments]\ndelimiter = \",\"\n",
            "data/payments.csv:1: no column `payment_id`",
        ),
        // The delimiter put under the column map, as a user once did.
        (
            "misplaced",
            "[recon.columns.payments]\ndelimiter = \";\"\n",
            "sidik has no column `delimiter`",
        ),
    ] {
        let d = incident(tmp.path(), name, &files, &format!("{base}\n{extra}"));
        let out = fails(&d);
        assert!(out.contains(want), "{name}: {out}");
    }
    // An amount the file's format cannot read, on line 5.
    let d = incident(tmp.path(), "amount", &files, base);
    let p = d.join("data/payments.csv");
    let text = std::fs::read_to_string(&p).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let f: Vec<&str> = lines[4].split(';').collect();
    let mut f: Vec<String> = f.iter().map(|s| s.to_string()).collect();
    f[4] = "12.34.5".into();
    lines[4] = f.join(";");
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    let out = fails(&d);
    assert!(
        out.contains("data/payments.csv:5: amount \"12.34.5\" is not an amount"),
        "{out}"
    );
}
