//! Query results (text, as PostgreSQL sends them) as typed columns: a polars
//! frame for Parquet, JSON values for `--format json`.
//!
//! Each column's type is read from its values: all integers → Int64, all
//! numbers → Float64, all timestamps with an offset → Datetime (µs, UTC),
//! without one → Datetime (µs), all dates → Date, `t`/`f` in a `bool`
//! column → Boolean, otherwise text. NULL stays null in every type.

use crate::Table;
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use polars::prelude::*;

/// The type a column's values all have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 64-bit integers.
    Int,
    /// Floating point.
    Float,
    /// Booleans (`t`/`f`, from a `bool` column).
    Bool,
    /// Timestamps with an offset, stored as UTC.
    TimestampTz,
    /// Timestamps without an offset.
    Timestamp,
    /// Dates.
    Date,
    /// Text.
    Text,
}

fn tz(v: &str) -> Option<i64> {
    // PostgreSQL writes `2025-01-12 19:05:01.123+07` (offset hours only) or `+05:30`.
    let v = v.trim();
    let padded;
    let v = match v.rfind(['+', '-']) {
        Some(i) if i > 10 && v.len() - i == 3 => {
            padded = format!("{v}:00");
            padded.as_str()
        }
        _ => v,
    };
    DateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S%.f%:z")
        .ok()
        .map(|d| d.timestamp_micros())
}

fn naive(v: &str) -> Option<i64> {
    NaiveDateTime::parse_from_str(v.trim(), "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|d| d.and_utc().timestamp_micros())
}

fn date(v: &str) -> Option<i32> {
    let d = NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").ok()?;
    Some((d - NaiveDate::from_ymd_opt(1970, 1, 1)?).num_days() as i32)
}

/// The kind of column `i` of `t`.
pub fn kind(t: &Table, i: usize) -> Kind {
    let values = || t.rows.iter().filter_map(|r| r[i].as_deref());
    if values().next().is_none() {
        return Kind::Text;
    }
    let ty = t.types.get(i).map(String::as_str).unwrap_or("");
    if ty == "bool" && values().all(|v| v == "t" || v == "f") {
        return Kind::Bool;
    }
    if values().all(|v| v.parse::<i64>().is_ok()) {
        return Kind::Int;
    }
    if values().all(|v| v.parse::<f64>().is_ok()) {
        return Kind::Float;
    }
    if values().all(|v| tz(v).is_some()) {
        return Kind::TimestampTz;
    }
    if values().all(|v| naive(v).is_some()) {
        return Kind::Timestamp;
    }
    if values().all(|v| date(v).is_some()) {
        return Kind::Date;
    }
    Kind::Text
}

/// The rows of `t` as a polars frame, each column typed by [`kind`].
pub fn to_frame(t: &Table) -> PolarsResult<DataFrame> {
    let mut cols: Vec<Column> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for (i, name) in t.columns.iter().enumerate() {
        // Polars needs distinct names; a repeated one gets its position.
        let name = if names.contains(name) {
            format!("{name}_{}", i + 1)
        } else {
            name.clone()
        };
        names.push(name.clone());
        let vals = t.rows.iter().map(|r| r[i].as_deref());
        let n = PlSmallStr::from(name.as_str());
        let s = match kind(t, i) {
            Kind::Int => Series::new(
                n,
                vals.map(|v| v.and_then(|v| v.parse::<i64>().ok()))
                    .collect::<Vec<_>>(),
            ),
            Kind::Float => Series::new(
                n,
                vals.map(|v| v.and_then(|v| v.parse::<f64>().ok()))
                    .collect::<Vec<_>>(),
            ),
            Kind::Bool => Series::new(n, vals.map(|v| v.map(|v| v == "t")).collect::<Vec<_>>()),
            Kind::TimestampTz => {
                Series::new(n, vals.map(|v| v.and_then(tz)).collect::<Vec<_>>()).cast(
                    &DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)),
                )?
            }
            Kind::Timestamp => Series::new(n, vals.map(|v| v.and_then(naive)).collect::<Vec<_>>())
                .cast(&DataType::Datetime(TimeUnit::Microseconds, None))?,
            Kind::Date => Series::new(n, vals.map(|v| v.and_then(date)).collect::<Vec<_>>())
                .cast(&DataType::Date)?,
            Kind::Text => Series::new(n, vals.collect::<Vec<_>>()),
        };
        cols.push(s.into());
    }
    DataFrame::new(t.rows.len(), cols)
}

/// The rows of `t` as JSON objects, numbers and booleans typed by [`kind`].
pub fn to_json(t: &Table) -> serde_json::Value {
    let kinds: Vec<Kind> = (0..t.columns.len()).map(|i| kind(t, i)).collect();
    let rows = t
        .rows
        .iter()
        .map(|r| {
            let mut o = serde_json::Map::new();
            for (i, c) in t.columns.iter().enumerate() {
                let v = match (&r[i], kinds[i]) {
                    (None, _) => serde_json::Value::Null,
                    (Some(v), Kind::Int) => v.parse::<i64>().map_or(v.as_str().into(), Into::into),
                    (Some(v), Kind::Float) => v
                        .parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                        .map_or(v.as_str().into(), serde_json::Value::Number),
                    (Some(v), Kind::Bool) => (v == "t").into(),
                    (Some(v), _) => v.as_str().into(),
                };
                o.insert(c.clone(), v);
            }
            serde_json::Value::Object(o)
        })
        .collect();
    serde_json::Value::Array(rows)
}

/// Writes `t` to a Parquet file; the error names the file.
pub fn write_parquet(t: &Table, path: &std::path::Path) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot write {}: {e}", path.display());
    let mut df = to_frame(t).map_err(|e| fail(&e))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
    }
    let f = std::fs::File::create(path).map_err(|e| fail(&e))?;
    ParquetWriter::new(f)
        .finish(&mut df)
        .map_err(|e| fail(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(types: &[&str], rows: &[&[Option<&str>]]) -> Table {
        Table {
            columns: (0..types.len()).map(|i| format!("c{i}")).collect(),
            types: types.iter().map(|s| s.to_string()).collect(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|v| v.map(str::to_string)).collect())
                .collect(),
        }
    }

    #[test]
    fn columns_get_the_type_their_values_have() {
        let t = table(
            &["int8", "numeric", "timestamptz", "date", "bool", "text"],
            &[
                &[
                    Some("1"),
                    Some("2.5"),
                    Some("2025-01-12 19:05:01.123+07"),
                    Some("2025-01-12"),
                    Some("t"),
                    Some("x"),
                ],
                &[
                    None,
                    Some("3"),
                    Some("2025-01-12 12:00:00+00"),
                    None,
                    Some("f"),
                    Some("7"),
                ],
            ],
        );
        let kinds: Vec<Kind> = (0..6).map(|i| kind(&t, i)).collect();
        assert_eq!(
            kinds,
            [
                Kind::Int,
                Kind::Float,
                Kind::TimestampTz,
                Kind::Date,
                Kind::Bool,
                Kind::Text
            ]
        );
        let df = to_frame(&t).unwrap();
        assert_eq!(df.height(), 2);
        let ts = df.column("c2").unwrap().cast(&DataType::Int64).unwrap();
        // 19:05:01.123 at +07 is 12:05:01.123 UTC.
        assert_eq!(ts.i64().unwrap().get(0), Some(1_736_683_501_123_000));
        assert_eq!(df.column("c0").unwrap().null_count(), 1);
        let j = to_json(&t);
        assert_eq!(j[0]["c1"], 2.5);
        assert_eq!(j[1]["c0"], serde_json::Value::Null);
        assert_eq!(j[0]["c4"], true);
        assert_eq!(j[1]["c5"], "7");
    }
}
