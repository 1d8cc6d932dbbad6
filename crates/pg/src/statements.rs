//! pg_stat_statements top-N, with the columns chosen by the **extension**
//! version (not the server's: after a major upgrade the old columns stay
//! until `ALTER EXTENSION … UPDATE`): `total_time`/`mean_time` before 1.8,
//! `total_exec_time + total_plan_time` and `mean_exec_time` from 1.8.
//! Numbers come from `pg_stat_statements(false)` (no query texts: that file is
//! large under load); texts are fetched only for the statements chosen.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::{PgError, Session};

/// One statement's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct Statement {
    /// `queryid`.
    pub queryid: String,
    /// Calls.
    pub calls: i64,
    /// Total time, ms (execution plus planning from 1.8).
    pub total_ms: f64,
    /// Mean time, ms.
    pub mean_ms: f64,
    /// Rows.
    pub rows: i64,
    /// Shared blocks read.
    pub shared_blks_read: i64,
    /// Temp blocks written.
    pub temp_blks_written: i64,
    /// Time reading shared blocks, ms (0 unless `track_io_timing` is on).
    pub blk_read_ms: f64,
    /// Time writing shared blocks, ms (0 unless `track_io_timing` is on).
    pub blk_write_ms: f64,
    /// The text (first 300 characters), when visible.
    pub query: Option<String>,
}

/// What pg_stat_statements could tell.
#[derive(Debug, Clone, Serialize)]
pub enum Statements {
    /// The top statements and the extension version used to read them.
    Top {
        /// `extversion`.
        version: String,
        /// Union of the top N by total time, mean time, calls, rows, shared blocks read and temp blocks written.
        statements: Vec<Statement>,
    },
    /// Not available, and what to do.
    Unavailable(String),
}

/// The column expressions of one extension version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Columns {
    /// Total time, ms: `total_time` before 1.8, `total_exec_time + total_plan_time` from 1.8.
    pub total: &'static str,
    /// Mean time, ms: `mean_time` before 1.8, `mean_exec_time` from 1.8.
    pub mean: &'static str,
    /// Shared block read time: `blk_read_time` before 1.11, `shared_blk_read_time` from 1.11.
    pub read_time: &'static str,
    /// Shared block write time: `blk_write_time` before 1.11, `shared_blk_write_time` from 1.11.
    pub write_time: &'static str,
}

/// The columns to read for extension version `v` (`1.7`, `1.10`, `1.11` …).
pub fn columns(v: &str) -> Columns {
    let (total, mean) = if version_at_least(v, 1, 8) {
        ("total_exec_time + total_plan_time", "mean_exec_time")
    } else {
        ("total_time", "mean_time")
    };
    let (read_time, write_time) = if version_at_least(v, 1, 11) {
        ("shared_blk_read_time", "shared_blk_write_time")
    } else {
        ("blk_read_time", "blk_write_time")
    };
    Columns {
        total,
        mean,
        read_time,
        write_time,
    }
}

/// The installed pg_stat_statements version in this database, if any.
pub async fn extension_version(s: &Session) -> Result<Option<String>, PgError> {
    let v = s
        .query(
            "reading pg_extension",
            "SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements'",
        )
        .await?;
    Ok(v.first("extversion").map(str::to_string))
}

/// `1.8` → 10800, the form [`crate::NamedQuery::select`] compares.
pub fn version_number(v: &str) -> u32 {
    let mut it = v.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
    let (a, b) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    a * 10_000 + b * 100
}

fn version_at_least(v: &str, major: u32, minor: u32) -> bool {
    let mut it = v.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
    let (a, b) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

/// The union of the top `n` statements by each measure.
pub async fn top(s: &Session, n: usize) -> Result<Statements, PgError> {
    let Some(version) = extension_version(s).await? else {
        return Ok(Statements::Unavailable("pg_stat_statements is not installed in this database: CREATE EXTENSION pg_stat_statements (it must also be in shared_preload_libraries)".into()));
    };
    let Columns {
        total,
        mean,
        read_time,
        write_time,
    } = columns(&version);
    let sql = format!(
        "SELECT queryid::text AS queryid, calls, ({total})::float8 AS total_ms, ({mean})::float8 AS mean_ms, rows, shared_blks_read, temp_blks_written, \
         ({read_time})::float8 AS blk_read_ms, ({write_time})::float8 AS blk_write_ms \
         FROM pg_stat_statements(false) WHERE queryid IS NOT NULL"
    );
    let t = match s.query("reading pg_stat_statements", &sql).await {
        Ok(t) => t,
        Err(PgError::Server {
            message, sqlstate, ..
        }) if sqlstate == "55000" => {
            return Ok(Statements::Unavailable(format!(
                "pg_stat_statements {version} is installed but not loaded ({message}): add it to shared_preload_libraries and restart"
            )))
        }
        Err(e) => return Err(e),
    };
    let num = |r: &Vec<Option<String>>, i: usize| {
        r[i].as_deref()
            .and_then(|x| x.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let all: Vec<Statement> = t
        .rows
        .iter()
        .map(|r| Statement {
            queryid: r[0].clone().unwrap_or_default(),
            calls: num(r, 1) as i64,
            total_ms: num(r, 2),
            mean_ms: num(r, 3),
            rows: num(r, 4) as i64,
            shared_blks_read: num(r, 5) as i64,
            temp_blks_written: num(r, 6) as i64,
            blk_read_ms: num(r, 7),
            blk_write_ms: num(r, 8),
            query: None,
        })
        .collect();
    let mut chosen: BTreeSet<usize> = BTreeSet::new();
    let measures: [&dyn Fn(&Statement) -> f64; 6] = [
        &|s| s.total_ms,
        &|s| s.mean_ms,
        &|s| s.calls as f64,
        &|s| s.rows as f64,
        &|s| s.shared_blks_read as f64,
        &|s| s.temp_blks_written as f64,
    ];
    for m in measures {
        let mut idx: Vec<usize> = (0..all.len()).collect();
        idx.sort_by(|a, b| m(&all[*b]).total_cmp(&m(&all[*a])));
        chosen.extend(idx.into_iter().take(n).filter(|i| m(&all[*i]) > 0.0));
    }
    let mut statements: Vec<Statement> = chosen.into_iter().map(|i| all[i].clone()).collect();
    statements.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
    let ids_present = statements
        .iter()
        .any(|s| s.queryid.chars().all(|c| c.is_ascii_digit() || c == '-'));
    if ids_present {
        let ids: Vec<String> = statements
            .iter()
            .filter(|s| s.queryid.chars().all(|c| c.is_ascii_digit() || c == '-'))
            .map(|s| s.queryid.clone())
            .collect();
        let texts = s
            .query(
                "reading statement texts",
                &format!("SELECT queryid::text AS queryid, left(query, 300) AS query FROM pg_stat_statements WHERE queryid IN ({})", ids.join(",")),
            )
            .await?;
        for r in &texts.rows {
            if let (Some(id), Some(q)) = (&r[0], &r[1]) {
                if let Some(st) = statements.iter_mut().find(|s| &s.queryid == id) {
                    st.query = Some(q.clone());
                }
            }
        }
    }
    // sidik's own reads are not the incident's statements.
    statements.retain(|s| {
        !s.query
            .as_deref()
            .is_some_and(|q| q.trim_start().starts_with(crate::OWN_MARK))
    });
    Ok(Statements::Top {
        version,
        statements,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_compare_numerically() {
        assert!(super::version_at_least("1.10", 1, 8));
        assert!(!super::version_at_least("1.7", 1, 8));
        assert!(super::version_at_least("1.8", 1, 8));
    }

    #[test]
    fn columns_follow_the_extension_version() {
        let old = super::columns("1.7");
        assert_eq!((old.total, old.read_time), ("total_time", "blk_read_time"));
        let mid = super::columns("1.10");
        assert_eq!(mid.mean, "mean_exec_time");
        assert_eq!(mid.write_time, "blk_write_time");
        let new = super::columns("1.11");
        assert_eq!(new.read_time, "shared_blk_read_time");
        assert_eq!(super::version_number("1.11"), 11_100);
    }
}
