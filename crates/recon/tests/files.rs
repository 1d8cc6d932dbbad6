//! Export files in the shapes teams hand them over: encodings, delimiters,
//! files without a header line, JSON lines. Each is read to the same
//! payments as the plain CSV, and what was detected is said.

use sidik_core::config::ReconSection;
use sidik_recon::read;
use sidik_recon::settings::Settings;
use sidik_recon::source::{self, Payment};

const PLAIN: &str =
    "payment_id,order_id,payment_type,payment_status,amount,created_at,failure_reason\n\
P1,O1,CHARGE,SUCCESS,356500,2025-01-12 19:05:01,\n\
P2,O2,CHARGE,FAILED,120000,2025-01-12 19:06:00,Saldo kurang\n\
P3,O1,REFUND,SUCCESS,56500,2025-01-12 20:00:00,\n";

fn settings(toml: &str) -> Settings {
    let r: ReconSection = toml::from_str(toml).unwrap();
    let tz: chrono_tz::Tz = "Asia/Jakarta".parse().unwrap();
    Settings::new(&r, tz, Some(1_800_000_000_000)).unwrap()
}

/// A payment as compared: id, amount, time.
type Row = (String, i64, i64);

/// Reads `bytes` as the payments file `name`: the rows, the rows set aside,
/// and the detection notes.
fn payments(name: &str, bytes: &[u8], s: &Settings) -> (Vec<Row>, Vec<String>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    let o = read::open(&p, name, &s.format("payments")).unwrap_or_else(|e| panic!("{e}"));
    let notes = o.detected.notes.clone();
    let r = source::payments(o.rows, s).unwrap();
    let rows = r
        .rows
        .iter()
        .map(|p: &Payment| (p.id.to_string(), p.amount, p.at))
        .collect();
    let aside = r
        .rejected
        .iter()
        .map(|x| format!("{}:{}: {}", x.file, x.line, x.reason))
        .collect();
    (rows, aside, notes)
}

#[test]
fn every_shape_reads_to_the_same_payments() {
    let s = settings("");
    let (want, aside, notes) = payments("payments.csv", PLAIN.as_bytes(), &s);
    assert_eq!(want.len(), 3);
    assert!(aside.is_empty(), "{aside:?}");
    assert!(
        notes
            .iter()
            .any(|n| n == "encoding UTF-8 (detected: valid UTF-8)"),
        "{notes:?}"
    );

    // Excel's "CSV UTF-8": a byte-order mark before the header.
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(PLAIN.as_bytes());
    let (got, aside, notes) = payments("bom.csv", &bom, &s);
    assert_eq!((got, aside), (want.clone(), vec![]));
    assert!(
        notes.iter().any(|n| n.contains("a byte-order mark")),
        "{notes:?}"
    );

    // Excel's "CSV" on Windows: Windows-1252, here an en dash (0x96) in a text column.
    let cp = PLAIN.replace("Saldo kurang", "Saldo kurang \u{2013} ditolak");
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&cp);
    assert!(bytes.contains(&0x96));
    let (got, aside, notes) = payments("cp1252.csv", &bytes, &s);
    assert_eq!((got, aside), (want.clone(), vec![]));
    assert!(
        notes
            .iter()
            .any(|n| n == "encoding windows-1252 (detected: not UTF-8)"),
        "{notes:?}"
    );

    // Semicolons, tabs and pipes, with quoted fields holding the other delimiters.
    for (d, shown) in [(";", ";"), ("\t", "tab"), ("|", "|")] {
        let text = PLAIN
            .replace(',', d)
            .replace("Saldo kurang", "\"Saldo, kurang; |\"");
        let (got, aside, notes) = payments("d.csv", text.as_bytes(), &s);
        assert_eq!((got, aside), (want.clone(), vec![]), "{shown}");
        assert!(
            notes
                .iter()
                .any(|n| n.starts_with(&format!("delimiter `{shown}` (detected"))),
            "{notes:?}"
        );
    }

    // No header line: said in incident.toml.
    let body = PLAIN.split_once('\n').unwrap().1;
    let s2 = settings("[format.payments]\nheader = false\ncolumns = [\"payment_id\", \"order_id\", \"payment_type\", \"payment_status\", \"amount\", \"created_at\", \"failure_reason\"]\n");
    let (got, aside, _) = payments("noheader.csv", body.as_bytes(), &s2);
    assert_eq!((got, aside), (want.clone(), vec![]));
    // Not said: the first line is data, and the error says what to write.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("noheader.csv");
    std::fs::write(&p, body).unwrap();
    let e = read::open(&p, "noheader.csv", &s.format("payments"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.starts_with("noheader.csv:1: the first line looks like data (`356500`)"),
        "{e}"
    );
    assert!(e.contains("header = false, columns = ["), "{e}");

    // JSON lines: numbers as numbers, a line that is not an object set aside.
    let jsonl = "{\"payment_id\":\"P1\",\"order_id\":\"O1\",\"payment_type\":\"CHARGE\",\"payment_status\":\"SUCCESS\",\"amount\":356500,\"created_at\":\"2025-01-12 19:05:01\"}\n\
{\"payment_id\":\"P2\",\"order_id\":\"O2\",\"payment_type\":\"CHARGE\",\"payment_status\":\"FAILED\",\"amount\":120000.0,\"created_at\":\"2025-01-12T19:06:00+07:00\",\"failure_reason\":null}\n\
not json\n\
{\"payment_id\":\"P3\",\"order_id\":\"O1\",\"payment_type\":\"REFUND\",\"payment_status\":\"SUCCESS\",\"amount\":\"56.500\",\"created_at\":\"2025-01-12T13:00:00Z\"}\n";
    let (got, aside, _) = payments("payments.jsonl", jsonl.as_bytes(), &s);
    assert_eq!(got, want);
    assert_eq!(aside.len(), 1);
    assert!(
        aside[0].starts_with("payments.jsonl:3: not JSON"),
        "{aside:?}"
    );
}

#[test]
fn settings_that_cannot_be_used_name_the_key() {
    let r: ReconSection = toml::from_str("[format.payments]\ndelimiter = \"semicolon\"\n").unwrap();
    let tz: chrono_tz::Tz = "Asia/Jakarta".parse().unwrap();
    let e = Settings::new(&r, tz, Some(0)).err().unwrap().to_string();
    assert!(
        e.contains(
            "[recon.format.payments] delimiter = \"semicolon\": expected one ASCII character"
        ),
        "{e}"
    );
    let r: ReconSection = toml::from_str("locale = \"fr-FR\"\n").unwrap();
    let e = Settings::new(&r, tz, Some(0)).err().unwrap().to_string();
    assert!(e.contains("[recon] locale = \"fr-FR\""), "{e}");
    let r: ReconSection = toml::from_str("[format.orders]\nheader = false\n").unwrap();
    let e = Settings::new(&r, tz, Some(0)).err().unwrap().to_string();
    assert!(e.contains("header = false needs columns"), "{e}");
}
