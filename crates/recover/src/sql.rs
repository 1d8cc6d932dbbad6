//! Apply through SQL: the plan's steps run as the recovery statements on
//! the orders database, in batches, each batch one transaction with
//! `lock_timeout` and `statement_timeout`, every changed row read (and
//! locked) before and after for the audit and the undo file.
//!
//! Before a batch apply checks the stop file, Ctrl-C and the server's
//! health (usable slots in use, sessions waiting for locks, replica lag)
//! and waits with backoff while it is unhealthy; a batch that meets a lock
//! or a timeout is rolled back and retried. Either wait is bounded by
//! `max_wait`, after which apply stops with its cursor saved.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sidik_core::Incident;
use sidik_pg::PgError;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Client;

use crate::guards::Guards;
use crate::journal::{self, Entry, Journal, Outcome, Pending, State};
use crate::plan::{Decision, Step};
use crate::statements::{quoted, Statement};
use crate::RecoverError;

/// The database apply writes to.
#[derive(Debug, Clone)]
pub struct Target {
    /// Connection string (never shown unredacted).
    pub url: String,
    /// Schemas for unqualified names.
    pub search_path: Option<String>,
    /// Its name in incident.toml, for messages.
    pub name: String,
}

/// Why apply stopped before the end of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The stop file exists.
    Sentinel(String),
    /// Ctrl-C.
    Interrupted,
    /// The server stayed unhealthy, or a batch kept meeting a lock, past `max_wait`.
    Limits(String),
}

impl Stop {
    /// In words, with what to do.
    pub fn describe(&self) -> String {
        match self {
            Stop::Sentinel(p) => format!(
                "stopped: the stop file {p} exists; remove it and run the same command to go on"
            ),
            Stop::Interrupted => {
                "stopped by Ctrl-C between batches; run the same command to go on".to_string()
            }
            Stop::Limits(why) => format!(
                "stopped: {why}; nothing was forced. Run the same command to go on once the server is healthy"
            ),
        }
    }
}

/// What one apply run did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Plan steps in all.
    pub total: usize,
    /// The step it started at (a resume starts after the last committed batch).
    pub started_at: usize,
    /// The step it stopped before (`total` when finished).
    pub next: usize,
    /// Rows changed by this run, per decision.
    pub changed: BTreeMap<Decision, u64>,
    /// Steps this run skipped, with why.
    pub skipped: Vec<Entry>,
    /// Steps no statement carries out, per decision (review, leave, refunds without an API).
    pub not_applicable: BTreeMap<Decision, u64>,
    /// Batches committed by this run.
    pub batches: u64,
    /// A pending batch found committed (recovered) or rolled back at start.
    pub recovered: Option<String>,
    /// Times this run waited for health or a lock.
    pub throttled: u64,
    /// Seconds it waited.
    pub waited: Duration,
    /// Why it stopped early, if it did.
    pub stopped: Option<Stop>,
    /// Whether the audit also went into the `sidik_audit` table.
    pub audit_table: bool,
    /// How long the run took.
    pub elapsed: Duration,
}

impl Summary {
    /// Counts the steps no statement or endpoint carries out, per decision.
    pub fn count_not_applicable(&mut self, rest: &[Step], applies: impl Fn(Decision) -> bool) {
        for s in rest.iter().filter(|s| !applies(s.decision)) {
            *self.not_applicable.entry(s.decision).or_default() += 1;
        }
    }
}

/// A value bound to a statement parameter, in the type the server expects.
enum Bound {
    Text(String),
    Int8(i64),
    Int4(i32),
}

impl Bound {
    fn of(value: &str, ty: &Type, what: &str) -> Result<Bound, RecoverError> {
        let bad = || {
            RecoverError::Config(format!(
                "{what}: `{value}` cannot be sent as {ty}; cast the parameter in the SQL ($1::text, $3::bigint)"
            ))
        };
        Ok(match *ty {
            Type::INT8 => Bound::Int8(value.parse().map_err(|_| bad())?),
            Type::INT4 => Bound::Int4(value.parse().map_err(|_| bad())?),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                Bound::Text(value.to_string())
            }
            _ => return Err(bad()),
        })
    }

    fn sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Bound::Text(s) => s,
            Bound::Int8(n) => n,
            Bound::Int4(n) => n,
        }
    }
}

/// A statement made ready on the connection.
struct Ready<'a> {
    st: &'a Statement,
    run: tokio_postgres::Statement,
    before: tokio_postgres::Statement,
    after: tokio_postgres::Statement,
}

fn pg(e: PgError) -> RecoverError {
    RecoverError::Database(e.to_string())
}

fn server(what: &str) -> impl Fn(tokio_postgres::Error) -> PgError + '_ {
    move |e| PgError::statement(what, &e)
}

/// Opens the writing connection: the session is *not* read-only; it sets
/// its search path and an idle-in-transaction limit.
pub async fn connect(t: &Target) -> Result<(Client, tokio::task::JoinHandle<()>), RecoverError> {
    let d = sidik_pg::dial(&t.url, Duration::from_secs(10))
        .await
        .map_err(pg)?;
    let mut setup = "SET idle_in_transaction_session_timeout = 60000;".to_string();
    if let Some(sp) = &t.search_path {
        setup.push(' ');
        setup.push_str(&sidik_pg::set_search_path(sp));
    }
    d.client
        .batch_execute(&setup)
        .await
        .map_err(|e| pg(PgError::statement("session setup", &e)))?;
    Ok((d.client, d.task))
}

/// The privilege a statement needs on its table.
fn privilege(st: &Statement) -> &'static str {
    if st.row.is_some() {
        "UPDATE"
    } else {
        "INSERT"
    }
}

/// Refuses, before anything is written, a replica, a read-only session, a
/// missing table or a role without the privilege a statement needs.
pub async fn preflight(
    c: &Client,
    statements: &[&Statement],
    target: &Target,
) -> Result<BTreeMap<String, String>, RecoverError> {
    let refuse = |m: String| RecoverError::Refused(format!("{m}; nothing was written"));
    let row = c
        .query_one(
            "SELECT pg_is_in_recovery(), current_user::text, current_setting('transaction_read_only')",
            &[],
        )
        .await
        .map_err(|e| pg(PgError::statement("checking the server", &e)))?;
    let (replica, role, ro): (bool, String, String) = (row.get(0), row.get(1), row.get(2));
    if replica {
        return Err(refuse(format!(
            "database `{}` is a replica (in recovery) and cannot be written; point [recover] database at the primary",
            target.name
        )));
    }
    if ro == "on" {
        return Err(refuse(format!(
            "role `{role}` opens read-only transactions on database `{}` (default_transaction_read_only); apply needs a role that may write, such as the service's own",
            target.name
        )));
    }
    let mut key_types = BTreeMap::new();
    for st in statements {
        let what = format!("checking {}", st.file);
        let r = c
            .query_one(
                "SELECT to_regclass($1) IS NOT NULL, \
                 CASE WHEN to_regclass($1) IS NULL THEN false ELSE has_table_privilege(to_regclass($1), $2) END, \
                 CASE WHEN to_regclass($1) IS NULL THEN false ELSE has_table_privilege(to_regclass($1), 'SELECT') END",
                &[&quoted(&st.table), &privilege(st)],
            )
            .await
            .map_err(server(&what))
            .map_err(pg)?;
        let (exists, may_write, may_read): (bool, bool, bool) = (r.get(0), r.get(1), r.get(2));
        if !exists {
            return Err(refuse(format!(
                "table `{}` (from {}) does not exist in database `{}` with search_path {}; set search_path on the database in incident.toml or qualify the table",
                st.table,
                st.file,
                target.name,
                target.search_path.as_deref().unwrap_or("(the server's)")
            )));
        }
        if !may_write || !may_read {
            return Err(refuse(format!(
                "role `{role}` may not {} table `{}` (needed by {}): connect as a role that may, or GRANT SELECT, {} ON {} TO {role}",
                if may_write { "SELECT from" } else { privilege(st) },
                st.table,
                st.file,
                privilege(st),
                st.table
            )));
        }
        let ty: Option<String> = c
            .query_opt(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped",
                &[&quoted(&st.table), &st.key],
            )
            .await
            .map_err(server(&what))
            .map_err(pg)?
            .map(|r| r.get(0));
        let ty = ty.ok_or_else(|| {
            refuse(format!(
                "table `{}` has no column `{}` (the key named in {})",
                st.table, st.key, st.file
            ))
        })?;
        key_types.insert(st.table.clone(), ty);
    }
    Ok(key_types)
}

/// Creates `sidik_audit` when it is missing and the role may; false when the
/// database does not allow it (the audit then lives in audit.jsonl alone).
async fn audit_table(c: &Client) -> bool {
    let created = c
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS sidik_audit (\
               id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), \
               xid bigint NOT NULL, who text NOT NULL, via text NOT NULL, step integer NOT NULL, \
               order_id text NOT NULL, decision text NOT NULL, by text NOT NULL, \
               tbl text, row_key text, before jsonb, after jsonb)",
        )
        .await
        .is_ok();
    if !created {
        return false;
    }
    c.query_one(
        "SELECT has_table_privilege(to_regclass('sidik_audit'), 'INSERT')",
        &[],
    )
    .await
    .map(|r| r.get::<_, bool>(0))
    .unwrap_or(false)
}

async fn prepare<'a>(
    c: &Client,
    st: &'a Statement,
    key_type: &str,
) -> Result<Ready<'a>, RecoverError> {
    let table = quoted(&st.table);
    let key = quoted(&st.key);
    let what = format!("preparing {}", st.file);
    let run = c
        .prepare(&format!(
            "WITH changed AS (\n{}\n) SELECT ({key})::text FROM changed",
            st.sql
        ))
        .await
        .map_err(server(&what))
        .map_err(pg)?;
    let before = c
        .prepare(&format!(
            "SELECT ({key})::text, to_jsonb(t)::text FROM {table} t WHERE {key} = ANY($1::text[]::{key_type}[]) FOR UPDATE"
        ))
        .await
        .map_err(server(&what))
        .map_err(pg)?;
    let after = c
        .prepare(&format!(
            "SELECT ({key})::text, to_jsonb(t)::text FROM {table} t WHERE {key} = ANY($1::text[]::{key_type}[])"
        ))
        .await
        .map_err(server(&what))
        .map_err(pg)?;
    Ok(Ready {
        st,
        run,
        before,
        after,
    })
}

/// Whether the server is healthy enough for the next batch; the reason when
/// not. `tables` are the tables apply writes, for the autovacuum check.
async fn health(c: &Client, g: &Guards, tables: &[String]) -> Result<Option<String>, RecoverError> {
    let r = c
        .query_one(
            "SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int8, \
             (current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int)::int8, \
             (SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock')::int8, \
             (SELECT coalesce(max(extract(epoch FROM replay_lag)), 0) FROM pg_stat_replication)::float8, \
             (SELECT string_agg(v.relid::regclass::text, ', ') FROM pg_stat_progress_vacuum v \
                JOIN pg_stat_activity a ON a.pid = v.pid \
               WHERE v.relid = ANY(SELECT to_regclass(t) FROM unnest($1::text[]) t) \
                 AND a.query LIKE '%to prevent wraparound%')",
            &[&tables],
        )
        .await
        .map_err(|e| pg(PgError::statement("checking the server's health", &e)))?;
    let (used, usable, waits, lag): (i64, i64, i64, f64) = (r.get(0), r.get(1), r.get(2), r.get(3));
    let wraparound: Option<String> = r.get(4);
    if let Some(t) = wraparound {
        return Ok(Some(format!(
            "an anti-wraparound autovacuum runs on {t}; apply does not compete with it (GitLab's batched migrations pause for it too)"
        )));
    }
    if usable > 0 && used as f64 / usable as f64 > g.max_saturation {
        return Ok(Some(format!(
            "{used} of {usable} usable connection slots in use (above max_saturation {:.0} %)",
            g.max_saturation * 100.0
        )));
    }
    if waits > g.max_lock_waits as i64 {
        return Ok(Some(format!(
            "{waits} sessions wait for locks (above max_lock_waits {})",
            g.max_lock_waits
        )));
    }
    if lag > g.max_replica_lag.as_secs_f64() {
        return Ok(Some(format!(
            "a replica replays {lag:.1} s behind (above max_replica_lag {:.1} s)",
            g.max_replica_lag.as_secs_f64()
        )));
    }
    Ok(None)
}

/// A batch's failure that waiting may cure: a lock, a timeout, a conflict.
fn retryable(e: &RecoverError) -> bool {
    matches!(e, RecoverError::Batch { sqlstate, .. }
        if matches!(sqlstate.as_str(), "55P03" | "57014" | "40001" | "40P01"))
}

struct BatchCtx<'a> {
    who: &'a str,
    audit_table: bool,
    guards: &'a Guards,
}

/// Runs one batch in a transaction and returns it uncommitted with its
/// entries. A handful of round trips whatever its size: the rows the
/// updates will change are read and locked in one query per statement, the
/// statements are pipelined (sent without waiting, run in order by the
/// server), the after-images are read in one query per table, and the
/// audit rows go in one INSERT.
async fn batch<'c>(
    c: &'c mut Client,
    steps: &[(usize, &Step, &Ready<'_>)],
    ctx: &BatchCtx<'_>,
) -> Result<(tokio_postgres::Transaction<'c>, i64, Vec<Entry>), RecoverError> {
    let tx = c
        .transaction()
        .await
        .map_err(|e| pg(PgError::statement("BEGIN", &e)))?;
    let setup = tx
        .simple_query(&format!(
            "SET LOCAL lock_timeout = {}; SET LOCAL statement_timeout = {}; SELECT txid_current()",
            ctx.guards.lock_timeout.as_millis(),
            ctx.guards.statement_timeout.as_millis()
        ))
        .await
        .map_err(|e| pg(PgError::statement("setting the batch's timeouts", &e)))?;
    let xid: i64 = setup
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).and_then(|v| v.parse().ok()),
            _ => None,
        })
        .ok_or_else(|| RecoverError::Database("txid_current() gave no row".into()))?;
    let fail = |what: String, order: &str, e: tokio_postgres::Error| {
        let pe = PgError::statement(&what, &e);
        RecoverError::Batch {
            sqlstate: pe.sqlstate().unwrap_or("").to_string(),
            message: pe.to_string(),
            order_id: order.to_string(),
        }
    };
    let first_order = steps.first().map_or("", |s| s.1.order_id.as_str());

    // Before-images of the rows the updates change, locked (one query per statement).
    let mut before: BTreeMap<(String, String), serde_json::Value> = BTreeMap::new();
    let mut statements: Vec<&Ready> = Vec::new();
    for (_, _, r) in steps {
        if !statements.iter().any(|x| std::ptr::eq(*x, *r)) {
            statements.push(r);
        }
    }
    for r in &statements {
        let Some(f) = r.st.row else { continue };
        let keys: Vec<String> = steps
            .iter()
            .filter(|(_, _, x)| std::ptr::eq(*x, *r))
            .map(|(_, s, _)| f.of(s))
            .collect();
        let rows = tx
            .query(&r.before, &[&keys])
            .await
            .map_err(|e| fail(format!("locking the rows of {}", r.st.file), first_order, e))?;
        for row in rows {
            let k: String = row.get(0);
            let image: String = row.get(1);
            before.insert(
                (r.st.table.clone(), k),
                serde_json::from_str(&image).expect("the server's jsonb"),
            );
        }
    }

    // The statements, pipelined.
    let mut bound: Vec<Vec<Bound>> = Vec::with_capacity(steps.len());
    for (_, s, r) in steps {
        let values = r.st.values(s);
        bound.push(
            values
                .iter()
                .zip(r.run.params())
                .map(|(v, ty)| Bound::of(v, ty, &r.st.file))
                .collect::<Result<_, _>>()?,
        );
    }
    let runs = steps.iter().zip(&bound).map(|((_, s, r), b)| {
        let args: Vec<&(dyn ToSql + Sync)> = b.iter().map(Bound::sql).collect();
        let tx = &tx;
        async move {
            tx.query(&r.run, &args).await.map_err(|e| {
                fail(
                    format!("{} for order {}", r.st.file, s.order_id),
                    &s.order_id,
                    e,
                )
            })
        }
    });
    let results = futures_util::future::join_all(runs).await;
    let mut changed_keys: Vec<Vec<String>> = Vec::with_capacity(steps.len());
    for r in results {
        changed_keys.push(
            r?.iter()
                .filter_map(|row| row.get::<_, Option<String>>(0))
                .collect(),
        );
    }

    // After-images, one query per table.
    let mut after: BTreeMap<(String, String), serde_json::Value> = BTreeMap::new();
    for r in &statements {
        if after.keys().any(|(t, _)| *t == r.st.table) {
            continue;
        }
        let keys: Vec<String> = steps
            .iter()
            .zip(&changed_keys)
            .filter(|((_, _, x), _)| x.st.table == r.st.table)
            .flat_map(|(_, k)| k.iter().cloned())
            .collect();
        if keys.is_empty() {
            continue;
        }
        let rows = tx
            .query(&r.after, &[&keys])
            .await
            .map_err(|e| fail(format!("reading back {}", r.st.table), first_order, e))?;
        for row in rows {
            let k: String = row.get(0);
            let image: String = row.get(1);
            after.insert(
                (r.st.table.clone(), k),
                serde_json::from_str(&image).expect("the server's jsonb"),
            );
        }
    }

    let mut entries = Vec::new();
    for ((i, step, ready), keys) in steps.iter().zip(&changed_keys) {
        let st = ready.st;
        let base = Entry {
            at: journal::now(),
            who: ctx.who.to_string(),
            via: "sql".into(),
            xid: Some(xid),
            step: *i,
            order_id: step.order_id.clone(),
            decision: step.decision.word().into(),
            by: st.file.clone(),
            outcome: Outcome::Skipped,
            reason: None,
            table: Some(st.table.clone()),
            key: Some(st.key.clone()),
            id: None,
            before: None,
            after: None,
        };
        if keys.is_empty() {
            entries.push(Entry {
                reason: Some(format!(
                    "no longer as the plan saw it ({}): changed by someone else, or already applied",
                    if st.guard.is_empty() {
                        "the statement matched no row"
                    } else {
                        st.guard.as_str()
                    }
                )),
                ..base
            });
            continue;
        }
        for k in keys {
            let at = (st.table.clone(), k.clone());
            entries.push(Entry {
                outcome: Outcome::Changed,
                id: Some(k.clone()),
                before: st.row.and_then(|_| before.get(&at).cloned()),
                after: after.get(&at).cloned(),
                ..base.clone()
            });
        }
    }
    if ctx.audit_table {
        let changed: Vec<&Entry> = entries
            .iter()
            .filter(|e| e.outcome == Outcome::Changed)
            .collect();
        if !changed.is_empty() {
            let col = |f: &dyn Fn(&Entry) -> Option<String>| -> Vec<Option<String>> {
                changed.iter().map(|e| f(e)).collect()
            };
            let steps_col: Vec<i32> = changed.iter().map(|e| e.step as i32).collect();
            let orders = col(&|e| Some(e.order_id.clone()));
            let decisions = col(&|e| Some(e.decision.clone()));
            let by = col(&|e| Some(e.by.clone()));
            let tables = col(&|e| e.table.clone());
            let ids = col(&|e| e.id.clone());
            let befores = col(&|e| e.before.as_ref().map(|v| v.to_string()));
            let afters = col(&|e| e.after.as_ref().map(|v| v.to_string()));
            tx.execute(
                "INSERT INTO sidik_audit (xid, who, via, step, order_id, decision, by, tbl, row_key, before, after) \
                 SELECT $1, $2, 'sql', s, o, d, b, t, k, bf::jsonb, af::jsonb \
                 FROM unnest($3::int[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[]) \
                   AS u(s, o, d, b, t, k, bf, af)",
                &[&xid, &ctx.who, &steps_col, &orders, &decisions, &by, &tables, &ids, &befores, &afters],
            )
            .await
            .map_err(|e| pg(PgError::statement("writing sidik_audit", &e)))?;
        }
    }
    Ok((tx, xid, entries))
}

/// What became of a pending batch after a crash.
async fn resolve_pending(
    c: &Client,
    j: &Journal,
    state: &mut State,
    g: &Guards,
) -> Result<Option<String>, RecoverError> {
    let Some(p) = state.pending.clone() else {
        return Ok(None);
    };
    let started = Instant::now();
    loop {
        let status: Option<String> = c
            .query_one("SELECT txid_status($1)", &[&p.xid])
            .await
            .map_err(|e| pg(PgError::statement("txid_status", &e)))?
            .get(0);
        match status.as_deref() {
            Some("committed") => {
                if !j.audited(p.xid)? {
                    j.append(&p.entries)?;
                }
                state.changed += p
                    .entries
                    .iter()
                    .filter(|e| e.outcome == Outcome::Changed)
                    .count() as u64;
                state.skipped += p
                    .entries
                    .iter()
                    .filter(|e| e.outcome == Outcome::Skipped)
                    .count() as u64;
                state.next = p.next;
                state.pending = None;
                j.save(state)?;
                return Ok(Some(format!(
                    "the batch interrupted last time (transaction {}) had committed: audited it and went on after it",
                    p.xid
                )));
            }
            Some("in progress") if started.elapsed() < g.max_wait => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Some("in progress") => {
                return Err(RecoverError::Refused(format!(
                    "transaction {} of the interrupted apply is still open on the server after {} s; end it (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_xid = '{}') and run apply again",
                    p.xid,
                    g.max_wait.as_secs(),
                    p.xid
                )))
            }
            _ => {
                state.pending = None;
                j.save(state)?;
                return Ok(Some(format!(
                    "the batch interrupted last time (transaction {}) had rolled back: it runs again",
                    p.xid
                )));
            }
        }
    }
}

/// Applies the plan's steps from the cursor on. `stop` is set by Ctrl-C;
/// `progress` hears of each committed batch (next step, total).
#[allow(clippy::too_many_arguments)]
pub async fn apply(
    inc: &Incident,
    steps: &[Step],
    digest: &str,
    statements: &[Statement],
    g: &Guards,
    target: &Target,
    restart: bool,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&Summary),
) -> Result<Summary, RecoverError> {
    let began = Instant::now();
    let j = Journal::of(inc, "sql");
    // A pending batch of the old plan is settled before a new plan or
    // --restart starts afresh.
    let mut state = j.resume(digest, restart, "the guards skip what was applied")?;
    let used: Vec<&Statement> = statements
        .iter()
        .filter(|st| steps.iter().any(|s| s.decision == st.decision))
        .collect();
    let (mut c, task) = connect(target).await?;
    let result = async {
        let key_types = preflight(&c, &used, target).await?;
        let mut summary = Summary {
            total: steps.len(),
            ..Summary::default()
        };
        summary.recovered = resolve_pending(&c, &j, &mut state, g).await?;
        if state.plan != digest || restart {
            state = State::fresh(digest, "sql");
        }
        summary.started_at = state.next;
        summary.audit_table = audit_table(&c).await;
        let mut ready = Vec::new();
        for st in &used {
            ready.push(prepare(&c, st, &key_types[&st.table]).await?);
        }
        let by_decision: BTreeMap<Decision, &Ready> =
            ready.iter().map(|r| (r.st.decision, r)).collect();
        let mut tables: Vec<String> = ready.iter().map(|r| quoted(&r.st.table)).collect();
        tables.sort();
        tables.dedup();
        summary.count_not_applicable(&steps[state.next.min(steps.len())..], |d| {
            by_decision.contains_key(&d)
        });
        let who = {
            let role: String = c
                .query_one("SELECT current_user::text", &[])
                .await
                .map_err(|e| pg(PgError::statement("current_user", &e)))?
                .get(0);
            format!("{} as {role}", journal::operator())
        };
        let ctx = BatchCtx {
            who: &who,
            audit_table: summary.audit_table,
            guards: g,
        };
        while state.next < steps.len() {
            // The next batch: up to `batch` applicable steps.
            let mut todo = Vec::new();
            let mut end = state.next;
            while end < steps.len() && todo.len() < g.batch {
                if let Some(r) = by_decision.get(&steps[end].decision) {
                    todo.push((end, &steps[end], *r));
                }
                end += 1;
            }
            if todo.is_empty() {
                state.next = end;
                continue;
            }
            if let Some(why) = stop_reason(g, stop) {
                summary.stopped = Some(why);
                break;
            }
            // Wait for health, and retry a batch that met a lock, within max_wait.
            let waited_from = Instant::now();
            let mut backoff = Duration::from_millis(100);
            let outcome = loop {
                let blocked = match health(&c, g, &tables).await? {
                    Some(why) => why,
                    None => match batch(&mut c, &todo, &ctx).await {
                        Ok(done) => break Some(done),
                        Err(e) if retryable(&e) => e.to_string(),
                        Err(e) => return Err(e),
                    },
                };
                if waited_from.elapsed() + backoff > g.max_wait {
                    summary.stopped = Some(Stop::Limits(format!(
                        "waited {:.1} s (max_wait) before step {}: {blocked}",
                        waited_from.elapsed().as_secs_f64(),
                        state.next + 1
                    )));
                    break None;
                }
                summary.throttled += 1;
                state.throttled += 1;
                summary.waited += backoff;
                state.waited_s += backoff.as_secs_f64();
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                if let Some(why) = stop_reason(g, stop) {
                    summary.stopped = Some(why);
                    break None;
                }
            };
            let Some((tx, xid, entries)) = outcome else {
                j.save(&state)?;
                break;
            };
            // Durable intent first, then COMMIT, then the audit and the cursor.
            state.pending = Some(Pending {
                xid,
                next: end,
                entries: entries.clone(),
            });
            j.save(&state)?;
            failpoint("before_commit", summary.batches + 1);
            tx.commit().await.map_err(|e| {
                RecoverError::Database(format!(
                    "COMMIT of the batch before step {} failed ({}); run apply again: it asks the server whether transaction {xid} committed",
                    end + 1,
                    PgError::statement("COMMIT", &e)
                ))
            })?;
            failpoint("after_commit", summary.batches + 1);
            j.append(&entries)?;
            for e in &entries {
                match e.outcome {
                    Outcome::Changed => {
                        state.changed += 1;
                        let d = steps[e.step].decision;
                        *summary.changed.entry(d).or_default() += 1;
                    }
                    _ => {
                        state.skipped += 1;
                        summary.skipped.push(e.clone());
                    }
                }
            }
            state.next = end;
            state.pending = None;
            j.save(&state)?;
            summary.batches += 1;
            summary.next = state.next;
            progress(&summary);
            if !g.pause.is_zero() {
                tokio::time::sleep(g.pause).await;
            }
        }
        if state.finish_if_done(steps.len()) {
            j.save(&state)?;
        }
        summary.next = state.next;
        summary.elapsed = began.elapsed();
        Ok(summary)
    }
    .await;
    drop(c);
    task.abort();
    result
}

/// A crash on purpose, for the tests of resuming: `SIDIK_FAILPOINT=after_commit:3`
/// aborts the process (as kill -9 would end it) right after the third
/// batch of this run committed, before its audit is written.
fn failpoint(name: &str, batch: u64) {
    if let Ok(v) = std::env::var("SIDIK_FAILPOINT") {
        if v.split_once(':')
            .is_some_and(|(n, b)| n == name && b.parse() == Ok(batch))
        {
            std::process::abort();
        }
    }
}

fn stop_reason(g: &Guards, stop: &AtomicBool) -> Option<Stop> {
    if stop.load(Ordering::SeqCst) {
        return Some(Stop::Interrupted);
    }
    g.sentinel
        .exists()
        .then(|| Stop::Sentinel(g.sentinel.display().to_string()))
}
