//! Sampling (`sidik pg sample --every 10s --for 15m`): the server read at a
//! fixed interval, each sample in its own read-only transaction, and what
//! changed between samples written to CSV files as it goes, so a run that is
//! stopped keeps every sample it took.
//!
//! Files in the output folder (each with a header line, appended and flushed
//! after every sample):
//!
//! - `samples.csv`: one row per sample: client backends by state, waits on
//!   locks, usable slots and their use, backends opened and closed since the
//!   previous sample (a backend is its `(pid, backend_start)`: a reused pid is
//!   a new backend), and the commit, rollback, deadlock and temp-file deltas
//!   of all databases together.
//! - `backends.csv`: every client backend of every sample.
//! - `databases.csv`: per database, the pg_stat_database deltas of each interval.
//! - `statements.csv`: per interval, the pg_stat_statements deltas (calls,
//!   time, rows, blocks) of every statement that ran in it, keyed by
//!   `(userid, dbid, queryid)`; `own` marks sidik's own statements.
//! - `statement_texts.csv`: the text of each statement the first time it appears.
//!
//! A counter that goes down between samples was reset (`pg_stat_reset`,
//! `pg_stat_statements_reset`, or an entry evicted and re-created); its delta
//! is then its new value, and the row says `reset`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::{PgError, Session, Table};

/// Statement counters read from pg_stat_statements.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct StatementCounters {
    calls: f64,
    total_ms: f64,
    rows: f64,
    shared_blks_read: f64,
    temp_blks_written: f64,
    blk_read_ms: f64,
    blk_write_ms: f64,
}

/// Database counters read from pg_stat_database.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct DatabaseCounters {
    xact_commit: i64,
    xact_rollback: i64,
    deadlocks: i64,
    temp_files: i64,
    temp_bytes: i64,
    blks_read: i64,
    blks_hit: i64,
}

/// One sample's summary row.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SampleRow {
    /// Server time of the sample (`now()`, UTC, ISO 8601).
    pub at: String,
    /// Client backends (sidik's own included).
    pub client_backends: i64,
    /// … active.
    pub active: i64,
    /// … idle.
    pub idle: i64,
    /// … idle in transaction (aborted included).
    pub idle_in_transaction: i64,
    /// … waiting for a lock.
    pub waiting_on_lock: i64,
    /// Usable slots.
    pub usable_slots: i64,
    /// client_backends / usable_slots.
    pub used: f64,
    /// Backends that were not there at the previous sample.
    pub opened: i64,
    /// Backends of the previous sample that are gone.
    pub closed: i64,
    /// Commits since the previous sample, all databases.
    pub commits: i64,
    /// Rollbacks since the previous sample.
    pub rollbacks: i64,
    /// Deadlocks since the previous sample.
    pub deadlocks: i64,
    /// Temporary files since the previous sample.
    pub temp_files: i64,
}

/// A statement's deltas over one interval.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatementDelta {
    /// Interval start (previous sample).
    pub from: String,
    /// Interval end (this sample).
    pub to: String,
    /// `userid`.
    pub userid: String,
    /// `dbid`.
    pub dbid: String,
    /// `queryid`.
    pub queryid: String,
    /// Calls in the interval.
    pub calls: i64,
    /// Time in the interval, ms.
    pub total_ms: f64,
    /// Rows in the interval.
    pub rows: i64,
    /// Shared blocks read in the interval.
    pub shared_blks_read: i64,
    /// Temp blocks written in the interval.
    pub temp_blks_written: i64,
    /// Time reading blocks, ms.
    pub blk_read_ms: f64,
    /// Time writing blocks, ms.
    pub blk_write_ms: f64,
    /// The entry's counters went down: it was reset in the interval.
    pub reset: bool,
    /// A statement sidik itself sent (its text starts with [`crate::OWN_MARK`]).
    pub own: bool,
}

/// What [`Sampler::sample`] saw.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The summary row.
    pub row: SampleRow,
    /// Statement deltas since the previous sample (none for the first).
    pub statements: Vec<StatementDelta>,
}

struct Csv {
    path: PathBuf,
    w: BufWriter<File>,
}

impl Csv {
    fn create(dir: &Path, name: &str, header: &str) -> Result<Csv, PgError> {
        let path = dir.join(name);
        let f = File::create(&path).map_err(|e| io(&path, e))?;
        let mut c = Csv {
            path,
            w: BufWriter::new(f),
        };
        c.line(header)?;
        Ok(c)
    }
    fn line(&mut self, l: &str) -> Result<(), PgError> {
        self.w
            .write_all(l.as_bytes())
            .and_then(|_| self.w.write_all(b"\n"))
            .map_err(|e| io(&self.path, e))
    }
    fn flush(&mut self) -> Result<(), PgError> {
        self.w.flush().map_err(|e| io(&self.path, e))
    }
}

fn io(path: &Path, e: std::io::Error) -> PgError {
    PgError::Config(format!("cannot write {}: {e}", path.display()))
}

use sidik_core::fmt::csv_field as field;

/// Takes samples and writes them.
pub struct Sampler {
    dir: PathBuf,
    usable_slots: i64,
    pgss: Option<crate::statements::Columns>,
    prev_at: Option<String>,
    prev_backends: BTreeSet<(String, String)>,
    prev_db: BTreeMap<String, DatabaseCounters>,
    prev_st: BTreeMap<(String, String, String), StatementCounters>,
    /// Statement texts written so far, by queryid.
    known_texts: BTreeMap<String, String>,
    own: BTreeSet<String>,
    samples: Csv,
    backends: Csv,
    databases: Csv,
    statements: Csv,
    texts: Csv,
}

impl Sampler {
    /// Reads what the server offers (usable slots, pg_stat_statements) and
    /// creates the files in `dir`.
    pub async fn new(s: &Session, dir: &Path) -> Result<Sampler, PgError> {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let pre = crate::snapshot::preflight(s).await?;
        let pgss = match (&pre.pg_stat_statements, pre.pg_stat_statements_preloaded) {
            (Some(v), Some(true) | None) => Some(crate::statements::columns(v)),
            _ => None,
        };
        Ok(Sampler {
            dir: dir.to_path_buf(),
            usable_slots: pre.usable_slots,
            pgss,
            prev_at: None,
            prev_backends: BTreeSet::new(),
            prev_db: BTreeMap::new(),
            prev_st: BTreeMap::new(),
            known_texts: BTreeMap::new(),
            own: BTreeSet::new(),
            samples: Csv::create(dir, "samples.csv", "at,client_backends,active,idle,idle_in_transaction,waiting_on_lock,usable_slots,used,opened,closed,commits,rollbacks,deadlocks,temp_files")?,
            backends: Csv::create(dir, "backends.csv", "at,pid,backend_start,state,wait_event_type,wait_event,usename,application_name,client_addr,datname,xact_age_s,query_age_s")?,
            databases: Csv::create(dir, "databases.csv", "from,to,datname,commits,rollbacks,deadlocks,temp_files,temp_bytes,blks_read,blks_hit,reset")?,
            statements: Csv::create(dir, "statements.csv", "from,to,userid,dbid,queryid,calls,total_ms,rows,shared_blks_read,temp_blks_written,blk_read_ms,blk_write_ms,reset,own")?,
            texts: Csv::create(dir, "statement_texts.csv", "queryid,query")?,
        })
    }

    /// Whether statement deltas are collected (pg_stat_statements installed and loaded).
    pub fn has_statements(&self) -> bool {
        self.pgss.is_some()
    }

    /// The folder the files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes one sample in its own read-only transaction and appends it to the files.
    pub async fn sample(&mut self, s: &Session) -> Result<Sample, PgError> {
        // One transaction: every view read at the same statistics snapshot.
        s.query(
            "starting a sample",
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        )
        .await?;
        let read = self.read(s).await;
        let _ = s.query("ending a sample", "COMMIT").await;
        let (at, backends, dbs, sts) = read?;
        self.record(s, at, backends, dbs, sts).await
    }

    #[allow(clippy::type_complexity)]
    async fn read(&self, s: &Session) -> Result<(String, Table, Table, Option<Table>), PgError> {
        let at = s
            .query(
                "reading the time",
                "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS at",
            )
            .await?
            .first("at")
            .unwrap_or_default()
            .to_string();
        let backends = s
            .query(
                "reading pg_stat_activity",
                "SELECT pid::text, to_char(backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS backend_start, \
                 coalesce(state, ''), coalesce(wait_event_type, ''), coalesce(wait_event, ''), coalesce(usename, ''), \
                 coalesce(application_name, ''), coalesce(client_addr::text, 'local'), coalesce(datname, ''), \
                 round(extract(epoch FROM now() - xact_start)::numeric, 3)::text, round(extract(epoch FROM now() - query_start)::numeric, 3)::text \
                 FROM pg_stat_activity WHERE backend_type = 'client backend' ORDER BY pid",
            )
            .await?;
        let dbs = s
            .query(
                "reading pg_stat_database",
                "SELECT datname, xact_commit, xact_rollback, deadlocks, temp_files, temp_bytes, blks_read, blks_hit \
                 FROM pg_stat_database WHERE datname IS NOT NULL",
            )
            .await?;
        let sts = match &self.pgss {
            Some(c) => Some(
                s.query(
                    "reading pg_stat_statements",
                    &format!(
                        "SELECT userid::text, dbid::text, queryid::text, calls::float8, ({})::float8, rows::float8, \
                         shared_blks_read::float8, temp_blks_written::float8, ({})::float8, ({})::float8 \
                         FROM pg_stat_statements(false) WHERE queryid IS NOT NULL",
                        c.total, c.read_time, c.write_time
                    ),
                )
                .await?,
            ),
            None => None,
        };
        Ok((at, backends, dbs, sts))
    }

    async fn record(
        &mut self,
        s: &Session,
        at: String,
        backends: Table,
        dbs: Table,
        sts: Option<Table>,
    ) -> Result<Sample, PgError> {
        let first = self.prev_at.is_none();
        let from = self.prev_at.clone().unwrap_or_default();
        let v = |r: &Vec<Option<String>>, i: usize| r[i].clone().unwrap_or_default();

        // Backends, identified by (pid, backend_start).
        let mut now_ids = BTreeSet::new();
        let (mut active, mut idle, mut iit, mut lock) = (0, 0, 0, 0);
        for r in &backends.rows {
            now_ids.insert((v(r, 0), v(r, 1)));
            match v(r, 2).as_str() {
                "active" => active += 1,
                "idle" => idle += 1,
                st if st.starts_with("idle in transaction") => iit += 1,
                _ => {}
            }
            if v(r, 3) == "Lock" {
                lock += 1;
            }
            let line = std::iter::once(at.clone())
                .chain((0..11).map(|i| field(&v(r, i))))
                .collect::<Vec<_>>()
                .join(",");
            self.backends.line(&line)?;
        }
        let (opened, closed) = if first {
            (0, 0)
        } else {
            (
                now_ids.difference(&self.prev_backends).count() as i64,
                self.prev_backends.difference(&now_ids).count() as i64,
            )
        };
        self.prev_backends = now_ids;

        // Databases.
        let n = |r: &Vec<Option<String>>, i: usize| -> i64 {
            r[i].as_deref().and_then(|x| x.parse().ok()).unwrap_or(0)
        };
        let mut totals = DatabaseCounters::default();
        let mut next_db = BTreeMap::new();
        for r in &dbs.rows {
            let name = v(r, 0);
            let c = DatabaseCounters {
                xact_commit: n(r, 1),
                xact_rollback: n(r, 2),
                deadlocks: n(r, 3),
                temp_files: n(r, 4),
                temp_bytes: n(r, 5),
                blks_read: n(r, 6),
                blks_hit: n(r, 7),
            };
            if let Some(p) = self.prev_db.get(&name) {
                let reset = c.xact_commit < p.xact_commit || c.xact_rollback < p.xact_rollback;
                let d = |now: i64, before: i64| if reset { now } else { now - before };
                let delta = DatabaseCounters {
                    xact_commit: d(c.xact_commit, p.xact_commit),
                    xact_rollback: d(c.xact_rollback, p.xact_rollback),
                    deadlocks: d(c.deadlocks, p.deadlocks),
                    temp_files: d(c.temp_files, p.temp_files),
                    temp_bytes: d(c.temp_bytes, p.temp_bytes),
                    blks_read: d(c.blks_read, p.blks_read),
                    blks_hit: d(c.blks_hit, p.blks_hit),
                };
                totals.xact_commit += delta.xact_commit;
                totals.xact_rollback += delta.xact_rollback;
                totals.deadlocks += delta.deadlocks;
                totals.temp_files += delta.temp_files;
                self.databases.line(&format!(
                    "{from},{at},{},{},{},{},{},{},{},{},{reset}",
                    field(&name),
                    delta.xact_commit,
                    delta.xact_rollback,
                    delta.deadlocks,
                    delta.temp_files,
                    delta.temp_bytes,
                    delta.blks_read,
                    delta.blks_hit
                ))?;
            }
            next_db.insert(name, c);
        }
        self.prev_db = next_db;

        // Statements.
        let mut deltas = Vec::new();
        if let Some(t) = sts {
            let f = |r: &Vec<Option<String>>, i: usize| -> f64 {
                r[i].as_deref().and_then(|x| x.parse().ok()).unwrap_or(0.0)
            };
            let mut next = BTreeMap::new();
            for r in &t.rows {
                let key = (v(r, 0), v(r, 1), v(r, 2));
                let c = StatementCounters {
                    calls: f(r, 3),
                    total_ms: f(r, 4),
                    rows: f(r, 5),
                    shared_blks_read: f(r, 6),
                    temp_blks_written: f(r, 7),
                    blk_read_ms: f(r, 8),
                    blk_write_ms: f(r, 9),
                };
                if !first {
                    let p = self.prev_st.get(&key).copied().unwrap_or_default();
                    let reset = c.calls < p.calls;
                    let base = if reset {
                        StatementCounters::default()
                    } else {
                        p
                    };
                    if c.calls > base.calls {
                        deltas.push(StatementDelta {
                            from: from.clone(),
                            to: at.clone(),
                            userid: key.0.clone(),
                            dbid: key.1.clone(),
                            queryid: key.2.clone(),
                            calls: (c.calls - base.calls) as i64,
                            total_ms: c.total_ms - base.total_ms,
                            rows: (c.rows - base.rows) as i64,
                            shared_blks_read: (c.shared_blks_read - base.shared_blks_read) as i64,
                            temp_blks_written: (c.temp_blks_written - base.temp_blks_written)
                                as i64,
                            blk_read_ms: c.blk_read_ms - base.blk_read_ms,
                            blk_write_ms: c.blk_write_ms - base.blk_write_ms,
                            reset,
                            own: false,
                        });
                    }
                }
                next.insert(key, c);
            }
            self.prev_st = next;
            // Texts only for statements that ran and were not written yet.
            let new: Vec<&str> = deltas
                .iter()
                .map(|d| d.queryid.as_str())
                .filter(|q| !self.known_texts.contains_key(*q))
                .filter(|q| q.chars().all(|c| c.is_ascii_digit() || c == '-'))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            if !new.is_empty() {
                let texts = s
                    .query(
                        "reading statement texts",
                        &format!(
                            "SELECT DISTINCT ON (queryid) queryid::text, left(query, 1000) FROM pg_stat_statements WHERE queryid IN ({})",
                            new.join(",")
                        ),
                    )
                    .await?;
                for r in &texts.rows {
                    let id = v(r, 0);
                    let text = v(r, 1);
                    if text.trim_start().starts_with(crate::OWN_MARK) {
                        self.own.insert(id.clone());
                    }
                    self.texts.line(&format!("{},{}", id, field(&text)))?;
                    self.known_texts.insert(id, text);
                }
            }
            for d in &mut deltas {
                d.own = self.own.contains(&d.queryid);
            }
            deltas.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
            for d in &deltas {
                self.statements.line(&format!(
                    "{},{},{},{},{},{},{:.3},{},{},{},{:.3},{:.3},{},{}",
                    d.from,
                    d.to,
                    d.userid,
                    d.dbid,
                    d.queryid,
                    d.calls,
                    d.total_ms,
                    d.rows,
                    d.shared_blks_read,
                    d.temp_blks_written,
                    d.blk_read_ms,
                    d.blk_write_ms,
                    d.reset,
                    d.own
                ))?;
            }
        }

        let client_backends = backends.rows.len() as i64;
        let row = SampleRow {
            at: at.clone(),
            client_backends,
            active,
            idle,
            idle_in_transaction: iit,
            waiting_on_lock: lock,
            usable_slots: self.usable_slots,
            used: if self.usable_slots > 0 {
                client_backends as f64 / self.usable_slots as f64
            } else {
                0.0
            },
            opened,
            closed,
            commits: totals.xact_commit,
            rollbacks: totals.xact_rollback,
            deadlocks: totals.deadlocks,
            temp_files: totals.temp_files,
        };
        self.samples.line(&format!(
            "{},{},{},{},{},{},{},{:.4},{},{},{},{},{},{}",
            row.at,
            row.client_backends,
            row.active,
            row.idle,
            row.idle_in_transaction,
            row.waiting_on_lock,
            row.usable_slots,
            row.used,
            row.opened,
            row.closed,
            row.commits,
            row.rollbacks,
            row.deadlocks,
            row.temp_files
        ))?;
        // Everything of this sample is on disk before the next one starts.
        for c in [
            &mut self.samples,
            &mut self.backends,
            &mut self.databases,
            &mut self.statements,
            &mut self.texts,
        ] {
            c.flush()?;
        }
        self.prev_at = Some(at);
        Ok(Sample {
            row,
            statements: deltas,
        })
    }
}

/// What a sampling run saw, for its summary.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Samples taken.
    pub samples: usize,
    /// The sample with the most client backends.
    pub peak: Option<SampleRow>,
    /// Deadlocks over the run.
    pub deadlocks: i64,
    /// Backends opened over the run.
    pub opened: i64,
    /// Statement totals over the run, by (dbid, queryid), most time first
    /// (sidik's own statements left out; they are in `statements.csv`).
    pub statements: Vec<StatementDelta>,
    /// Whether pg_stat_statements deltas were collected.
    pub has_statements: bool,
    /// The texts of the statements in `statements`, by queryid.
    pub texts: BTreeMap<String, String>,
    /// Why the run ended early, if it did.
    pub stopped: Option<String>,
}

/// Samples every `every` for `total` (the first sample at once), until
/// `stop` resolves. Each sample is on disk before the next starts.
pub async fn run(
    s: &Session,
    dir: &Path,
    every: Duration,
    total: Duration,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Summary, PgError> {
    let mut sampler = Sampler::new(s, dir).await?;
    let mut summary = Summary {
        has_statements: sampler.has_statements(),
        ..Default::default()
    };
    let mut totals: BTreeMap<(String, String), StatementDelta> = BTreeMap::new();
    let started = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut stop => {
                summary.stopped = Some("interrupted".into());
                break;
            }
        }
        let got = sampler.sample(s).await?;
        summary.samples += 1;
        summary.deadlocks += got.row.deadlocks;
        summary.opened += got.row.opened;
        if summary
            .peak
            .as_ref()
            .is_none_or(|p| got.row.client_backends > p.client_backends)
        {
            summary.peak = Some(got.row.clone());
        }
        for d in got.statements.into_iter().filter(|d| !d.own) {
            let e = totals
                .entry((d.dbid.clone(), d.queryid.clone()))
                .or_insert_with(|| StatementDelta {
                    calls: 0,
                    total_ms: 0.0,
                    rows: 0,
                    shared_blks_read: 0,
                    temp_blks_written: 0,
                    blk_read_ms: 0.0,
                    blk_write_ms: 0.0,
                    reset: false,
                    ..d.clone()
                });
            e.to = d.to.clone();
            e.calls += d.calls;
            e.total_ms += d.total_ms;
            e.rows += d.rows;
            e.shared_blks_read += d.shared_blks_read;
            e.temp_blks_written += d.temp_blks_written;
            e.blk_read_ms += d.blk_read_ms;
            e.blk_write_ms += d.blk_write_ms;
            e.reset |= d.reset;
        }
        if started.elapsed() + every > total {
            break;
        }
    }
    let mut st: Vec<StatementDelta> = totals.into_values().collect();
    st.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
    summary.texts = st
        .iter()
        .filter_map(|d| {
            Some((
                d.queryid.clone(),
                sampler.known_texts.get(&d.queryid)?.clone(),
            ))
        })
        .collect();
    summary.statements = st;
    Ok(summary)
}
