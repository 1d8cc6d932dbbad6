//! Opening an export file as a team hands it over: CSV in any of the usual
//! dialects (`,` `;` tab `|`, quoted or not, with or without a header line,
//! UTF-8 with or without a byte-order mark, or Windows-1252 as Excel writes
//! it), an Excel or OpenDocument workbook (`.xlsx`, `.xls`, `.ods`, one
//! named sheet), JSON lines, or Parquet.
//!
//! What `incident.toml` does not say (`[recon.format.SOURCE]`) is detected
//! from the file's start, and [`Opened::detected`] says what was found and
//! how, for `sidik check` to print.

use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;

use crate::settings::FileFormat;
use crate::source::{ParsedRow, Rows, TextRows};

type JsonObject = serde_json::Map<String, serde_json::Value>;
use crate::ReconError;

/// How far into a file detection looks.
const SNIFF: usize = 64 << 10;
/// How many rows the number and date formats are settled from.
const SAMPLE_ROWS: usize = 2_000;

/// What was found out about a file, each with whether it was set or detected.
#[derive(Debug, Clone, Default)]
pub struct Detected {
    /// `csv`, `xlsx`, `xls`, `ods`, `json-lines` or `parquet`.
    pub kind: &'static str,
    /// Text encoding (CSV and JSON lines).
    pub encoding: Option<String>,
    /// Field delimiter (CSV), shown as `,` `;` `tab` `|`.
    pub delimiter: Option<String>,
    /// Whether the first line names the columns.
    pub header: Option<bool>,
    /// The sheet read (workbooks).
    pub sheet: Option<String>,
    /// Notes on how each was decided, e.g. "delimiter `;` (detected: 4 per line on 20 lines)".
    pub notes: Vec<String>,
}

/// An export opened: its rows (with a sample of the first ones for settling
/// number and date formats) and what was detected.
pub struct Opened {
    /// The rows.
    pub rows: TextRows<'static>,
    /// What was detected.
    pub detected: Detected,
}

/// The kinds of file by extension.
fn kind_of(path: &Path) -> &'static str {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let ext = name.rsplit('.').next().unwrap_or("");
    match ext {
        "parquet" => "parquet",
        "xlsx" | "xlsm" | "xlsb" => "xlsx",
        "xls" => "xls",
        "ods" => "ods",
        "jsonl" | "ndjson" => "json-lines",
        "json" => "json-lines",
        _ => "csv",
    }
}

/// Opens `path` (shown to people as `shown`) as `source`'s export, read as
/// `format` says and detected where it says nothing.
pub fn open(path: &Path, shown: &str, format: &FileFormat) -> Result<Opened, ReconError> {
    let kind = kind_of(path);
    Ok(match kind {
        "parquet" => Opened {
            rows: parquet_rows(path, shown)?,
            detected: Detected {
                kind,
                ..Detected::default()
            },
        },
        "xlsx" | "xls" | "ods" => workbook(path, shown, kind, format)?,
        "json-lines" => json_lines(path, shown, format)?,
        _ => csv_file(path, shown, format)?,
    })
}

/// The encoding of a file from its first bytes: a BOM, else UTF-8 when the
/// bytes are valid UTF-8, else Windows-1252 (what Excel writes on Windows).
fn detect_encoding(head: &[u8]) -> (&'static encoding_rs::Encoding, &'static str) {
    if let Some((enc, _)) = encoding_rs::Encoding::for_bom(head) {
        return (enc, "a byte-order mark");
    }
    match std::str::from_utf8(head) {
        Ok(_) => (encoding_rs::UTF_8, "valid UTF-8"),
        // A character cut at the end of the sample is still UTF-8.
        Err(e) if e.error_len().is_none() => (encoding_rs::UTF_8, "valid UTF-8"),
        Err(_) => (encoding_rs::WINDOWS_1252, "not UTF-8"),
    }
}

/// A reader of the file's text as UTF-8: the file itself when it is UTF-8
/// without a BOM (the fast path), else decoded as it streams.
fn text_reader(
    path: &Path,
    enc: &'static encoding_rs::Encoding,
    has_bom: bool,
) -> std::io::Result<Box<dyn std::io::Read + Send>> {
    let f = std::fs::File::open(path)?;
    if enc == encoding_rs::UTF_8 && !has_bom {
        return Ok(Box::new(f));
    }
    Ok(Box::new(
        encoding_rs_io::DecodeReaderBytesBuilder::new()
            .encoding(Some(enc))
            .bom_override(true)
            .build(f),
    ))
}

fn head(path: &Path, shown: &str) -> Result<Vec<u8>, ReconError> {
    let mut buf = vec![0u8; SNIFF];
    let mut f =
        std::fs::File::open(path).map_err(|e| ReconError::Input(format!("{shown}: {e}")))?;
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(ReconError::Input(format!("{shown}: {e}"))),
        }
    }
    buf.truncate(n);
    Ok(buf)
}

/// Counts of each candidate delimiter outside quotes, per complete line.
fn delimiter_of(text: &str, quote: u8) -> (u8, String) {
    const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];
    let mut lines: Vec<[usize; 4]> = Vec::new();
    let mut counts = [0usize; 4];
    let mut quoted = false;
    let complete = text.rfind('\n').map_or(text, |i| &text[..i + 1]);
    for b in complete.bytes() {
        if b == quote {
            quoted = !quoted;
        } else if b == b'\n' && !quoted {
            if counts.iter().any(|c| *c > 0) || !lines.is_empty() {
                lines.push(counts);
            }
            counts = [0; 4];
            if lines.len() == 50 {
                break;
            }
        } else if !quoted {
            if let Some(i) = CANDIDATES.iter().position(|c| *c == b) {
                counts[i] += 1;
            }
        }
    }
    if lines.is_empty() && counts.iter().any(|c| *c > 0) {
        lines.push(counts);
    }
    // The candidate found the same number of times on every line wins; among
    // several, the one found most often.
    let mut best: Option<(usize, usize)> = None;
    for i in 0..4 {
        let first = lines.first().map_or(0, |l| l[i]);
        if first == 0 || !lines.iter().all(|l| l[i] == first) {
            continue;
        }
        if best.is_none_or(|(_, n)| first > n) {
            best = Some((i, first));
        }
    }
    let show = |b: u8| {
        if b == b'\t' {
            "tab".to_string()
        } else {
            (b as char).to_string()
        }
    };
    match best {
        Some((i, n)) => (
            CANDIDATES[i],
            format!(
                "delimiter `{}` (detected: {n} per line on {} lines)",
                show(CANDIDATES[i]),
                lines.len()
            ),
        ),
        None => {
            // No candidate is steady: the most frequent, said plainly.
            let i = (0..4)
                .max_by_key(|i| lines.iter().map(|l| l[*i]).sum::<usize>())
                .unwrap_or(0);
            let total: usize = lines.iter().map(|l| l[i]).sum();
            if total == 0 {
                (
                    b',',
                    "delimiter `,` (no delimiter found: one column)".into(),
                )
            } else {
                (
                    CANDIDATES[i],
                    format!(
                        "delimiter `{}` (the most frequent; lines disagree on how many)",
                        show(CANDIDATES[i])
                    ),
                )
            }
        }
    }
}

/// Whether a field looks like a value rather than a column name.
fn looks_like_data(v: &str) -> bool {
    let v = v.trim();
    !v.is_empty()
        && (v.bytes().next().is_some_and(|c| c.is_ascii_digit())
            || v.starts_with("Rp")
            || v.starts_with('-'))
}

pub(crate) fn csv_file(
    path: &Path,
    shown: &str,
    format: &FileFormat,
) -> Result<Opened, ReconError> {
    let name: Arc<str> = shown.into();
    let bytes = head(path, shown)?;
    let mut notes = Vec::new();
    let (enc, has_bom) = match format.encoding {
        Some(e) => {
            notes.push(format!("encoding {} (set)", e.name()));
            (e, encoding_rs::Encoding::for_bom(&bytes).is_some())
        }
        None => {
            let (e, why) = detect_encoding(&bytes);
            notes.push(format!("encoding {} (detected: {why})", e.name()));
            (e, encoding_rs::Encoding::for_bom(&bytes).is_some())
        }
    };
    let (text, _, _) = enc.decode(&bytes);
    let quote = format.quote.unwrap_or(b'"');
    let delimiter = match format.delimiter {
        Some(d) => {
            notes.push(format!(
                "delimiter `{}` (set)",
                if d == b'\t' {
                    "tab".into()
                } else {
                    (d as char).to_string()
                }
            ));
            d
        }
        None => {
            let (d, note) = delimiter_of(&text, quote);
            notes.push(note);
            d
        }
    };
    let builder = || {
        let mut b = csv::ReaderBuilder::new();
        b.flexible(true)
            .delimiter(delimiter)
            .quote(quote)
            .has_headers(false);
        b
    };
    let open = || -> Result<csv::Reader<Box<dyn std::io::Read + Send>>, ReconError> {
        let r = text_reader(path, enc, has_bom)
            .map_err(|e| ReconError::Input(format!("{shown}: {e}")))?;
        Ok(builder().from_reader(r))
    };
    let mut r = open()?;
    let mut first = csv::StringRecord::new();
    let got = r.read_record(&mut first).map_err(|e| {
        ReconError::Input(format!(
            "{shown}:1: {e}; is the encoding right? ([recon.format] encoding)"
        ))
    })?;
    if !got {
        return Err(ReconError::Input(format!("{shown}: the file is empty")));
    }
    let header = match format.header {
        Some(h) => {
            notes.push(format!(
                "header line {} (set)",
                if h { "yes" } else { "no" }
            ));
            h
        }
        None => {
            if let Some(v) = first.iter().find(|v| looks_like_data(v)) {
                return Err(ReconError::Input(format!(
                    "{shown}:1: the first line looks like data (`{v}`), not column names; if the file has no header line, name its columns in incident.toml: [recon.format.SOURCE] header = false, columns = [\"...\", ...]"
                )));
            }
            notes.push("header line yes (detected)".into());
            true
        }
    };
    let columns: Vec<String> = match (&format.columns, header) {
        (Some(c), false) => c.clone(),
        _ => first.iter().map(|h| h.trim().to_string()).collect(),
    };
    // Without a header line the first record is a row: start again.
    if !header {
        r = open()?;
    }
    // A sample of the first rows, read by a second reader, to settle formats.
    let mut sample = Vec::new();
    {
        let mut s = open()?;
        let mut rec = csv::StringRecord::new();
        let mut skip = header;
        while sample.len() < SAMPLE_ROWS {
            match s.read_record(&mut rec) {
                Ok(true) if skip => skip = false,
                Ok(true) => sample.push(
                    rec.iter()
                        .map(|v| (!v.is_empty()).then(|| v.to_string()))
                        .collect(),
                ),
                Ok(false) => break,
                Err(e) if e.is_io_error() => break,
                Err(_) => continue,
            }
        }
    }
    let estimate = {
        let len = std::fs::metadata(path).map_or(0, |m| m.len()) as usize;
        let lines = bytes.iter().filter(|b| **b == b'\n').count().max(1);
        len / (bytes.len() / lines).max(1)
    };
    let show = if delimiter == b'\t' {
        "tab".to_string()
    } else {
        (delimiter as char).to_string()
    };
    Ok(Opened {
        rows: TextRows {
            name,
            columns,
            rows: Rows::Csv(r),
            estimate,
            sample,
            limit: None,
        },
        detected: Detected {
            kind: "csv",
            encoding: Some(enc.name().to_string()),
            delimiter: Some(show),
            header: Some(header),
            sheet: None,
            notes,
        },
    })
}

/// The text of a workbook cell as the row readers read text: whole numbers
/// without a fraction, dates as local `YYYY-MM-DD HH:MM:SS.fff`.
fn cell_text(c: &calamine::Data) -> Option<String> {
    use calamine::Data;
    match c {
        Data::Empty => None,
        Data::String(s) => {
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_string())
        }
        Data::Int(i) => Some(i.to_string()),
        Data::Float(f) => Some(if f.fract() == 0.0 && f.abs() < 9e15 {
            format!("{}", *f as i64)
        } else {
            f.to_string()
        }),
        Data::Bool(b) => Some(b.to_string()),
        Data::DateTime(d) => match d.as_datetime() {
            Some(t) => Some(t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()),
            None => Some(d.as_f64().to_string()),
        },
        Data::DateTimeIso(s) | Data::DurationIso(s) => Some(s.clone()),
        Data::Error(e) => Some(format!("#ERROR {e}")),
    }
}

fn workbook(
    path: &Path,
    shown: &str,
    kind: &'static str,
    format: &FileFormat,
) -> Result<Opened, ReconError> {
    use calamine::Reader as _;
    let mut wb = calamine::open_workbook_auto(path)
        .map_err(|e| ReconError::Input(format!("{shown}: cannot read the workbook: {e}")))?;
    let names = wb.sheet_names();
    let (sheet, how) = match &format.sheet {
        Some(s) => {
            if !names.iter().any(|n| n == s) {
                return Err(ReconError::Input(format!(
                    "{shown}: no sheet `{s}`; the sheets are {}. Set [recon.format.SOURCE] sheet to one of them",
                    names.join(", ")
                )));
            }
            (s.clone(), "set")
        }
        None => (
            names
                .first()
                .cloned()
                .ok_or_else(|| ReconError::Input(format!("{shown}: the workbook has no sheet")))?,
            "the first",
        ),
    };
    let range = wb
        .worksheet_range(&sheet)
        .map_err(|e| ReconError::Input(format!("{shown}: sheet `{sheet}`: {e}")))?;
    let first_row = range.start().map_or(0, |(r, _)| r);
    let mut rows = range.rows().enumerate().map(|(i, r)| {
        (
            first_row + i as u32 + 1,
            r.iter().map(cell_text).collect::<Vec<Option<String>>>(),
        )
    });
    // The header is the first row with a value.
    let header = format.header.unwrap_or(true);
    let columns: Vec<String> = if header {
        let mut found = None;
        for (_, r) in rows.by_ref() {
            if r.iter().any(Option::is_some) {
                found = Some(r);
                break;
            }
        }
        let r =
            found.ok_or_else(|| ReconError::Input(format!("{shown}: sheet `{sheet}` is empty")))?;
        if let Some(v) = r.iter().flatten().find(|v| looks_like_data(v)) {
            if format.header.is_none() {
                return Err(ReconError::Input(format!(
                    "{shown}: sheet `{sheet}`'s first row looks like data (`{v}`), not column names; if it has no header row, set [recon.format.SOURCE] header = false, columns = [\"...\", ...]"
                )));
            }
        }
        r.into_iter().map(|v| v.unwrap_or_default()).collect()
    } else {
        format.columns.clone().unwrap_or_default()
    };
    let width = columns.len();
    // Trailing empty cells past the header's width are not fields; a row with
    // no value at all is skipped, as a spreadsheet shows nothing there.
    let all: Vec<(u32, Vec<Option<String>>)> = rows
        .filter(|(_, r)| r.iter().any(Option::is_some))
        .map(|(n, mut r)| {
            while r.len() > width && r.last().is_some_and(Option::is_none) {
                r.pop();
            }
            (n, r)
        })
        .collect();
    let sample = all
        .iter()
        .take(SAMPLE_ROWS)
        .map(|(_, r)| r.clone())
        .collect();
    let n = all.len();
    let name: Arc<str> = format!("{shown}#{sheet}").into();
    Ok(Opened {
        rows: TextRows {
            name,
            columns,
            rows: Rows::Iter(Box::new(all.into_iter().map(Ok))),
            estimate: n,
            sample,
            limit: None,
        },
        detected: Detected {
            kind,
            encoding: None,
            delimiter: None,
            header: Some(header),
            sheet: Some(sheet.clone()),
            notes: vec![format!("sheet `{sheet}` ({how} of {})", names.len())],
        },
    })
}

fn json_lines(path: &Path, shown: &str, format: &FileFormat) -> Result<Opened, ReconError> {
    use std::io::BufRead as _;
    let bytes = head(path, shown)?;
    let (enc, why) = match format.encoding {
        Some(e) => (e, "set"),
        None => detect_encoding(&bytes),
    };
    let has_bom = encoding_rs::Encoding::for_bom(&bytes).is_some();
    let reader = std::io::BufReader::new(
        text_reader(path, enc, has_bom).map_err(|e| ReconError::Input(format!("{shown}: {e}")))?,
    );
    // Columns: the keys of the objects in the first lines, in order of appearance.
    let mut columns: Vec<String> = Vec::new();
    let mut parsed: Vec<(u32, Result<JsonObject, String>)> = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let n = i as u32 + 1;
        let line = line.map_err(|e| ReconError::Input(format!("{shown}:{n}: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        if parsed.is_empty() && line.trim_start().starts_with('[') {
            return Err(ReconError::Input(format!(
                "{shown}:{n}: a JSON array; sidik reads JSON lines, one object per line (convert with `jq -c '.[]' FILE > FILE.jsonl`)"
            )));
        }
        let row = match serde_json::from_str::<serde_json::Value>(&line) {
            Ok(serde_json::Value::Object(m)) => Ok(m),
            Ok(_) => Err("not a JSON object".to_string()),
            Err(e) => Err(format!("not JSON: {e}")),
        };
        if let Ok(m) = &row {
            if parsed.len() < SAMPLE_ROWS {
                for k in m.keys() {
                    if !columns.contains(k) {
                        columns.push(k.clone());
                    }
                }
            }
        }
        parsed.push((n, row));
    }
    let text = |v: &serde_json::Value| -> Option<String> {
        match v {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    };
    let cols = columns.clone();
    let rows: Vec<ParsedRow> = parsed
        .into_iter()
        .map(|(n, r)| {
            (
                n,
                r.map(|m| cols.iter().map(|c| m.get(c).and_then(text)).collect()),
            )
        })
        .collect();
    let sample = rows
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok().cloned())
        .take(SAMPLE_ROWS)
        .collect();
    let n = rows.len();
    Ok(Opened {
        rows: TextRows {
            name: shown.into(),
            columns,
            rows: Rows::Parsed(Box::new(rows.into_iter())),
            estimate: n,
            sample,
            limit: None,
        },
        detected: Detected {
            kind: "json-lines",
            encoding: Some(enc.name().to_string()),
            delimiter: None,
            header: None,
            sheet: None,
            notes: vec![format!("encoding {} ({why})", enc.name())],
        },
    })
}

/// Reads a CSV file, its dialect and encoding detected.
pub fn csv_rows(path: &Path, shown: &str) -> Result<TextRows<'static>, ReconError> {
    csv_file(path, shown, &FileFormat::default()).map(|o| o.rows)
}

/// Reads a Parquet file; every column as text.
pub fn parquet_rows(path: &Path, shown: &str) -> Result<TextRows<'static>, ReconError> {
    use polars::prelude::*;
    let err = |e: PolarsError| ReconError::Input(format!("{shown}: {e}"));
    let f = std::fs::File::open(path).map_err(|e| ReconError::Input(format!("{shown}: {e}")))?;
    let df = ParquetReader::new(f).finish().map_err(err)?;
    let columns: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let mut cols = Vec::new();
    for c in df.columns() {
        let s = match c.dtype() {
            DataType::Datetime(_, _) => c
                .cast(&DataType::Datetime(
                    TimeUnit::Milliseconds,
                    Some(TimeZone::UTC),
                ))
                .map_err(err)?
                .cast(&DataType::Int64)
                .map_err(err)?
                .cast(&DataType::String)
                .map(|s| s.str().map(|x| x.apply_values(|v| format!("@{v}").into())))
                .map_err(err)?
                .map_err(err)?
                .into_column(),
            _ => c.cast(&DataType::String).map_err(err)?,
        };
        cols.push(s.str().map_err(err)?.clone());
    }
    let n = df.height();
    let rows = (0..n).map(move |i| {
        Ok((
            i as u32 + 1,
            cols.iter().map(|c| c.get(i).map(str::to_string)).collect(),
        ))
    });
    Ok(TextRows {
        name: shown.into(),
        columns,
        rows: Rows::Iter(Box::new(rows)),
        estimate: n,
        sample: Vec::new(),
        limit: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters_are_found_outside_quotes() {
        assert_eq!(delimiter_of("a;b;c\n1;\"2,5\";3\n", b'"').0, b';');
        assert_eq!(delimiter_of("a,b,c\n1,\"x;y\",3\n", b'"').0, b',');
        assert_eq!(delimiter_of("a\tb\n1\t2\n", b'"').0, b'\t');
        assert_eq!(delimiter_of("a|b\n1|2\n", b'"').0, b'|');
        // Commas inside amounts vary per line; the semicolon does not.
        assert_eq!(delimiter_of("id;amount\n1;1,5\n2;12\n", b'"').0, b';');
    }

    #[test]
    fn encodings_are_told_apart() {
        assert_eq!(detect_encoding(b"\xEF\xBB\xBFid").0, encoding_rs::UTF_8);
        assert_eq!(
            detect_encoding("caf\u{e9}".as_bytes()).0,
            encoding_rs::UTF_8
        );
        assert_eq!(
            detect_encoding(b"caf\xE9 au lait").0,
            encoding_rs::WINDOWS_1252
        );
    }
}
