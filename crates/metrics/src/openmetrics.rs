//! OpenMetrics and Prometheus text exposition files, as exported or backfilled.
//!
//! Hand-written: `prometheus-parse` skips lines it cannot read without a
//! word and reads timestamps only as integer milliseconds, and
//! `openmetrics-parser` is LGPL-3.0. This reader reports every line it
//! cannot use with its number and reason.
//!
//! Timestamps: OpenMetrics writes seconds (fractions allowed), the older
//! Prometheus text format milliseconds. A value below 10^11 is read as
//! seconds (10^11 ms is March 1973), anything larger as milliseconds, so a
//! file missing its `# EOF` is still read right. A sample without a
//! timestamp has no time in an export and is set aside.

use crate::Rejected;

/// One sample as written.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSample {
    /// Metric name.
    pub name: String,
    /// Labels in file order.
    pub labels: Vec<(String, String)>,
    /// Value (NaN and ±Inf kept).
    pub value: f64,
    /// UTC milliseconds.
    pub time: i64,
}

/// What a file held.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Samples.
    pub samples: Vec<RawSample>,
    /// Lines set aside.
    pub rejected: Vec<Rejected>,
    /// Whether the file ended with `# EOF` (an OpenMetrics file without it may be cut short).
    pub eof: bool,
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_name(c: u8) -> bool {
    is_name_start(c) || c.is_ascii_digit()
}

/// Parses a number as the exposition formats write it (`NaN`, `+Inf`, `-Inf`, `1e3`).
pub fn number(s: &str) -> Option<f64> {
    match s {
        "NaN" | "nan" => Some(f64::NAN),
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ => s.parse::<f64>().ok(),
    }
}

/// Reads one sample line.
fn sample(line: &str) -> Result<RawSample, String> {
    let b = line.as_bytes();
    let mut i = 0;
    if b.is_empty() || !is_name_start(b[0]) {
        return Err("expected a metric name at the start of the line".into());
    }
    while i < b.len() && is_name(b[i]) {
        i += 1;
    }
    let name = line[..i].to_string();
    let mut labels = Vec::new();
    if b.get(i) == Some(&b'{') {
        i += 1;
        loop {
            while b.get(i) == Some(&b' ') {
                i += 1;
            }
            if b.get(i) == Some(&b'}') {
                i += 1;
                break;
            }
            let ks = i;
            while i < b.len() && is_name(b[i]) {
                i += 1;
            }
            if ks == i {
                return Err(format!("expected a label name at column {}", i + 1));
            }
            let key = line[ks..i].to_string();
            if b.get(i) != Some(&b'=') || b.get(i + 1) != Some(&b'"') {
                return Err(format!("expected =\"…\" after label {key}"));
            }
            i += 2;
            let mut value = String::new();
            let mut closed = false;
            while i < b.len() {
                match b[i] {
                    b'\\' => {
                        match b.get(i + 1) {
                            Some(b'n') => value.push('\n'),
                            Some(b'\\') => value.push('\\'),
                            Some(b'"') => value.push('"'),
                            _ => return Err(format!("bad escape in label {key}")),
                        }
                        i += 2;
                    }
                    b'"' => {
                        closed = true;
                        i += 1;
                        break;
                    }
                    _ => {
                        // Copy one UTF-8 character.
                        let ch = line[i..].chars().next().unwrap_or('\u{fffd}');
                        value.push(ch);
                        i += ch.len_utf8();
                    }
                }
            }
            if !closed {
                return Err(format!("label {key}'s value is not closed"));
            }
            labels.push((key, value));
            match b.get(i) {
                Some(b',') => i += 1,
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return Err("expected , or } after a label".into()),
            }
        }
    }
    let rest = &line[i..];
    if !rest.starts_with([' ', '\t']) {
        return Err("expected a space before the value".into());
    }
    // An exemplar (`# {…} …`) follows a sample in OpenMetrics; it is not part of the series.
    let rest = rest.split(" # ").next().unwrap_or(rest);
    let mut parts = rest.split_whitespace();
    let v = parts.next().ok_or("no value")?;
    let value = number(v).ok_or_else(|| format!("value \"{v}\" is not a number"))?;
    let ts = parts
        .next()
        .ok_or("no timestamp: an exported sample needs one to be placed in time")?;
    let t = ts
        .parse::<f64>()
        .ok()
        .filter(|t| t.is_finite())
        .ok_or_else(|| format!("timestamp \"{ts}\" is not a number"))?;
    if parts.next().is_some() {
        return Err("unexpected text after the timestamp".into());
    }
    let time = if t.abs() < 1e11 {
        (t * 1000.0).round() as i64
    } else {
        t.round() as i64
    };
    Ok(RawSample {
        name,
        labels,
        value,
        time,
    })
}

/// Parses a whole file; `file` names it in rejections.
pub fn parse(text: &str, file: &str) -> Parsed {
    let mut out = Parsed::default();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        let no = n as u64 + 1;
        if out.eof {
            if !line.trim().is_empty() {
                out.rejected
                    .push(Rejected::new(file, no, "text after # EOF"));
            }
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        if line == "# EOF" {
            out.eof = true;
            continue;
        }
        if line.starts_with('#') {
            continue; // TYPE, HELP, UNIT and comments
        }
        match sample(line) {
            Ok(s) => out.samples.push(s),
            Err(reason) => out.rejected.push(Rejected::new(file, no, &reason)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_labels_escapes_and_both_timestamp_units() {
        let p = parse(
            "# TYPE a gauge\na{service=\"upg\",path=\"/x\\\"y\"} 1.5 1736614800\nb 2 1736614800000\nc NaN 1736614800.5 # {trace_id=\"t\"} 1\n# EOF\n",
            "f.om",
        );
        assert!(p.eof);
        assert!(p.rejected.is_empty(), "{:?}", p.rejected);
        assert_eq!(p.samples[0].labels[1], ("path".into(), "/x\"y".into()));
        assert_eq!(p.samples[0].time, 1_736_614_800_000);
        assert_eq!(p.samples[1].time, 1_736_614_800_000);
        assert_eq!(p.samples[2].time, 1_736_614_800_500);
        assert!(p.samples[2].value.is_nan());
    }

    #[test]
    fn bad_lines_are_named() {
        let p = parse("a{x=\"1\"} 1\nb{x=1} 2 3\nc one 5\n", "f.om");
        let reasons: Vec<(u64, &str)> = p
            .rejected
            .iter()
            .map(|r| (r.line, r.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 3);
        assert!(reasons[0].1.starts_with("no timestamp"));
        assert!(reasons[1].1.contains("after label x"));
        assert!(reasons[2].1.contains("\"one\" is not a number"));
        assert!(!p.eof);
    }
}
