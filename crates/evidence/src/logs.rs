//! What the log ingest writes under `evidence/logs/`: the per-minute
//! timeline, the message templates and the order journeys.

use std::path::Path;

use serde::Deserialize;

use crate::csvfile::CsvFile;
use crate::time::parse_ms;
use crate::EvidenceError;

const REWRITE: &str = "`sidik logs ingest`";

/// The timeline's fixed columns, in order; one column per error class
/// follows them.
pub const TIMELINE_COLUMNS: [&str; 8] = [
    "bucket",
    "service",
    "lines",
    "requests",
    "errors",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
];

/// The header line of a timeline with these classes (without the newline).
pub fn timeline_header(classes: &[String]) -> String {
    let mut h = TIMELINE_COLUMNS.join(",");
    for c in classes {
        h.push(',');
        h.push_str(c);
    }
    h
}

/// `logs/timeline.csv`: lines, requests, errors, latency percentiles and
/// records per error class, per minute and service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    /// The error classes, in column order.
    pub classes: Vec<String>,
    /// The rows, in file order.
    pub rows: Vec<TimelineRow>,
}

/// One minute of one service.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineRow {
    /// Its line in the file.
    pub line: u64,
    /// The minute (UTC epoch ms).
    pub bucket: i64,
    /// The service.
    pub service: String,
    /// Lines read.
    pub lines: Option<f64>,
    /// Requests (records with a latency or an HTTP status).
    pub requests: Option<f64>,
    /// Error records.
    pub errors: Option<f64>,
    /// Latency percentiles, ms; `None` when the minute had no latency.
    pub latency_p50_ms: Option<f64>,
    /// 95th percentile, ms.
    pub latency_p95_ms: Option<f64>,
    /// 99th percentile, ms.
    pub latency_p99_ms: Option<f64>,
    /// Records per class, in [`Timeline::classes`] order (empty reads as 0).
    pub classes: Vec<f64>,
}

impl Timeline {
    /// Reads `path`; `Ok(None)` when the logs are not ingested yet.
    pub fn read(path: &Path) -> Result<Option<Timeline>, EvidenceError> {
        let Some(mut f) = CsvFile::open(path)? else {
            return Ok(None);
        };
        let mut at = [0usize; 8];
        for (i, name) in TIMELINE_COLUMNS.iter().enumerate() {
            at[i] = f.column(name, REWRITE)?;
        }
        // Every column after the fixed ones is an error class.
        let first_class = at.iter().max().copied().unwrap_or(0) + 1;
        let classes: Vec<String> = f.header()[first_class..].to_vec();
        let mut rows = Vec::new();
        let mut rec = csv::StringRecord::new();
        while let Some(line) = f.next_row(&mut rec)? {
            let text = |i: usize| rec.get(i).unwrap_or("");
            let bucket = parse_ms(text(at[0])).ok_or_else(|| {
                EvidenceError::input(
                    path,
                    line,
                    format!("bucket `{}` is not an RFC 3339 time", text(at[0])),
                )
            })?;
            let num = |i: usize| f.number(text(at[i]), line, TIMELINE_COLUMNS[i]);
            let mut counts = Vec::with_capacity(classes.len());
            for (k, name) in classes.iter().enumerate() {
                counts.push(f.number(text(first_class + k), line, name)?.unwrap_or(0.0));
            }
            rows.push(TimelineRow {
                line,
                bucket,
                service: text(at[1]).to_string(),
                lines: num(2)?,
                requests: num(3)?,
                errors: num(4)?,
                latency_p50_ms: num(5)?,
                latency_p95_ms: num(6)?,
                latency_p99_ms: num(7)?,
                classes: counts,
            });
        }
        Ok(Some(Timeline { classes, rows }))
    }
}

/// The header line of `logs/patterns.csv` (with its newline).
pub const PATTERNS_HEADER: &str =
    "service,class,template_id,template,count,first_seen,last_seen,sample_at,sample,errors\n";

/// One message template of one service (`logs/patterns.csv`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PatternRow {
    /// The service.
    pub service: String,
    /// The error class of its records; empty when they are not classified.
    pub class: String,
    /// The template's number within the service.
    pub template_id: u64,
    /// The template (ids, numbers and durations masked).
    pub template: String,
    /// Records with this template.
    pub count: u64,
    /// The first record's time (RFC 3339, UTC).
    pub first_seen: String,
    /// The last record's time.
    pub last_seen: String,
    /// Where the sample is (`file:line`).
    pub sample_at: String,
    /// One record's message.
    pub sample: String,
    /// How many of its records were errors (0 in files written before the column).
    #[serde(default)]
    pub errors: u64,
}

impl PatternRow {
    /// Reads `path`: every template with its line; `Ok(None)` when missing.
    pub fn read(path: &Path) -> Result<Option<Vec<(u64, PatternRow)>>, EvidenceError> {
        CsvFile::open(path)?.map(CsvFile::rows).transpose()
    }
}

/// The header line of `logs/journeys.csv` (with its newline).
pub const JOURNEYS_HEADER: &str = "order_id,first_seen,last_seen,events,services,payment_ids,errors,broken_at,broken_service,broken_class,broken_message\n";

/// One order's journey across the services (`logs/journeys.csv`), its
/// text borrowed from the row being read (a large incident has a million).
#[derive(Debug, Clone, PartialEq)]
pub struct JourneyRow<'a> {
    /// The order.
    pub order_id: &'a str,
    /// Its first record's time (RFC 3339, UTC).
    pub first_seen: &'a str,
    /// Its last record's time.
    pub last_seen: &'a str,
    /// Records about it.
    pub events: u64,
    /// The services it went through, `+`-joined in order.
    pub services: &'a str,
    /// Its payments, `+`-joined.
    pub payment_ids: &'a str,
    /// Error records about it.
    pub errors: u64,
    /// When its journey first broke (a classified or error record); empty when it did not.
    pub broken_at: &'a str,
    /// Where it broke.
    pub broken_service: &'a str,
    /// The class it broke on; empty for an unclassified error.
    pub broken_class: &'a str,
    /// The message it broke with.
    pub broken_message: &'a str,
}

impl JourneyRow<'_> {
    /// Whether the journey broke.
    pub fn broke(&self) -> bool {
        !self.broken_at.is_empty()
    }

    /// Reads the journeys of `path` one by one, calling `each` with the row
    /// and its line; `Ok(false)` when the file is missing.
    pub fn each(
        path: &Path,
        mut each: impl FnMut(u64, JourneyRow<'_>) -> Result<(), EvidenceError>,
    ) -> Result<bool, EvidenceError> {
        let Some(mut f) = CsvFile::open(path)? else {
            return Ok(false);
        };
        // Columns found by name once; each row's fields borrowed, not copied.
        let names = JOURNEYS_HEADER.trim_end().split(',');
        let at: Vec<usize> = names
            .map(|n| f.column(n, REWRITE))
            .collect::<Result<_, _>>()?;
        let mut rec = csv::StringRecord::new();
        while let Some(line) = f.next_row(&mut rec)? {
            let text = |i: usize| rec.get(at[i]).unwrap_or("");
            let count = |i: usize, name: &str| {
                text(i).parse::<u64>().map_err(|_| {
                    EvidenceError::input(
                        path,
                        line,
                        format!("{name} \"{}\" is not a count", text(i)),
                    )
                })
            };
            let row = JourneyRow {
                order_id: text(0),
                first_seen: text(1),
                last_seen: text(2),
                events: count(3, "events")?,
                services: text(4),
                payment_ids: text(5),
                errors: count(6, "errors")?,
                broken_at: text(7),
                broken_service: text(8),
                broken_class: text(9),
                broken_message: text(10),
            };
            each(line, row)?;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeline_is_read_by_name_whatever_the_column_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("timeline.csv");
        std::fs::write(
            &p,
            "service,bucket,requests,lines,errors,latency_p99_ms,latency_p95_ms,latency_p50_ms,timeout\n\
             upg,2025-01-12T12:00:00Z,10,12,1,90.5,,,3\n",
        )
        .unwrap();
        let t = Timeline::read(&p).unwrap().unwrap();
        assert_eq!(t.classes, ["timeout"]);
        let r = &t.rows[0];
        assert_eq!((r.service.as_str(), r.bucket), ("upg", 1_736_683_200_000));
        assert_eq!(
            (r.lines, r.requests, r.errors),
            (Some(12.0), Some(10.0), Some(1.0))
        );
        assert_eq!((r.latency_p99_ms, r.latency_p50_ms), (Some(90.5), None));
        assert_eq!(r.classes, [3.0]);
    }

    #[test]
    fn a_bad_bucket_or_number_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("timeline.csv");
        let head = timeline_header(&["timeout".to_string()]);
        std::fs::write(&p, format!("{head}\n2025-01-12T12:00:00Z,upg,1,0,0,,,,x\n")).unwrap();
        let e = Timeline::read(&p).unwrap_err().to_string();
        assert!(
            e.ends_with("timeline.csv:2: timeout \"x\" is not a number"),
            "{e}"
        );
        std::fs::write(&p, format!("{head}\nyesterday,upg,1,0,0,,,,0\n")).unwrap();
        let e = Timeline::read(&p).unwrap_err().to_string();
        assert!(
            e.ends_with("timeline.csv:2: bucket `yesterday` is not an RFC 3339 time"),
            "{e}"
        );
        std::fs::write(&p, "bucket,service\n").unwrap();
        let e = Timeline::read(&p).unwrap_err().to_string();
        assert!(e.contains("timeline.csv:1: no column `lines`"), "{e}");
    }

    #[test]
    fn patterns_and_journeys_are_read_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("patterns.csv");
        std::fs::write(
            &p,
            format!("{PATTERNS_HEADER}upg,timeout,3,\"call <*> timed out\",7,2025-01-12T12:00:00Z,2025-01-12T12:05:00Z,logs/upg.log:9,call x timed out,7\n"),
        )
        .unwrap();
        let rows = PatternRow::read(&p).unwrap().unwrap();
        assert_eq!(rows[0].0, 2);
        assert_eq!((rows[0].1.class.as_str(), rows[0].1.count), ("timeout", 7));
        let j = dir.path().join("journeys.csv");
        std::fs::write(
            &j,
            format!("{JOURNEYS_HEADER}ORD-1,a,b,3,mrg+upg,PAY-1,1,2025-01-12T12:00:00Z,upg,timeout,boom\nORD-2,a,b,2,mrg,,0,,,,\n"),
        )
        .unwrap();
        let mut broke = Vec::new();
        JourneyRow::each(&j, |_, r| {
            if r.broke() {
                broke.push((r.order_id.to_string(), r.broken_class.to_string()));
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(broke, [("ORD-1".to_string(), "timeout".to_string())]);
    }
}
