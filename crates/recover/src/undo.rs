//! Undo: put back what SQL apply changed, from `evidence/recovery/undo.jsonl`.
//!
//! Entries are undone newest first. An inserted row is deleted and an
//! updated row gets its before-image back (every column, through
//! `jsonb_populate_record`), each only while the row is still exactly as
//! apply left it: a row changed since is reported and left alone, never
//! overwritten. A row already back as it was counts as restored, so undo
//! can be run again after it was interrupted.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sidik_core::Incident;
use sidik_pg::PgError;
use tokio_postgres::Client;

use crate::guards::Guards;
use crate::journal::{self, Entry, Journal, Outcome};
use crate::sql::{connect, Target};
use crate::statements::quoted;
use crate::RecoverError;

/// What an undo did.
#[derive(Debug, Clone, Default)]
pub struct Undone {
    /// Rows put back.
    pub restored: u64,
    /// Rows that were already as they had been.
    pub already: u64,
    /// Rows changed since apply, left alone: (table, key, order).
    pub changed_since: Vec<(String, String, String)>,
    /// Where the undone file went.
    pub archived: Option<std::path::PathBuf>,
}

fn pg(what: &str) -> impl Fn(tokio_postgres::Error) -> RecoverError + '_ {
    move |e| RecoverError::Database(PgError::statement(what, &e).to_string())
}

async fn key_type(c: &Client, table: &str, key: &str) -> Result<String, RecoverError> {
    c.query_opt(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped",
        &[&quoted(table), &key],
    )
    .await
    .map_err(pg("reading the key's type"))?
    .map(|r| r.get(0))
    .ok_or_else(|| {
        RecoverError::Refused(format!(
            "table `{table}` or its key `{key}` no longer exists; nothing was undone"
        ))
    })
}

async fn undo_one(
    tx: &tokio_postgres::Transaction<'_>,
    e: &Entry,
    key_type: &str,
) -> Result<Outcome, tokio_postgres::Error> {
    let table = quoted(e.table.as_deref().unwrap_or_default());
    let key = quoted(e.key.as_deref().unwrap_or_default());
    let id = e.id.clone().unwrap_or_default();
    let after = e.after.as_ref().map(|v| v.to_string()).unwrap_or_default();
    let done = match &e.before {
        None => {
            tx.query(
                &format!("DELETE FROM {table} t WHERE {key} = $1::text::{key_type} AND to_jsonb(t) = $2::text::jsonb RETURNING 1"),
                &[&id, &after],
            )
            .await?
        }
        Some(before) => {
            let cols: Vec<String> = before
                .as_object()
                .map(|m| m.keys().map(|k| quoted_col(k)).collect())
                .unwrap_or_default();
            let list = cols.join(", ");
            tx.query(
                &format!(
                    "UPDATE {table} t SET ({list}) = (SELECT {list} FROM jsonb_populate_record(NULL::{table}, $3::text::jsonb)) \
                     WHERE {key} = $1::text::{key_type} AND to_jsonb(t) = $2::text::jsonb RETURNING 1"
                ),
                &[&id, &after, &before.to_string()],
            )
            .await?
        }
    };
    if !done.is_empty() {
        return Ok(Outcome::Restored);
    }
    // Already back as it was (an undo interrupted earlier), or changed since?
    let now: Option<String> = tx
        .query_opt(
            &format!("SELECT to_jsonb(t)::text FROM {table} t WHERE {key} = $1::text::{key_type}"),
            &[&id],
        )
        .await?
        .map(|r| r.get(0));
    let now: Option<serde_json::Value> = now.map(|t| serde_json::from_str(&t).expect("jsonb"));
    Ok(if now == e.before {
        Outcome::Skipped
    } else {
        Outcome::Changed
    })
}

fn quoted_col(c: &str) -> String {
    format!("\"{}\"", c.replace('"', "\"\""))
}

/// Undoes every change in the undo file, newest first, in batches with the
/// apply's timeouts; archives the file when done.
pub async fn undo(inc: &Incident, g: &Guards, target: &Target) -> Result<Undone, RecoverError> {
    let j = Journal::of(inc, "sql");
    if let Some(s) = j.load()? {
        if s.pending.is_some() {
            return Err(RecoverError::Refused(
                "apply was interrupted in the middle of a batch; run `sidik recover apply --execute` with the stop file in place (it settles that batch and stops), then undo".into(),
            ));
        }
    }
    let mut entries: Vec<Entry> = journal::read_entries(&j.undo)?
        .into_iter()
        .filter(|e| e.outcome == Outcome::Changed && e.via == "sql")
        .collect();
    entries.reverse();
    let mut out = Undone::default();
    if entries.is_empty() {
        return Ok(out);
    }
    let (mut c, task) = connect(target).await?;
    let result = async {
        let mut types = BTreeMap::new();
        for e in &entries {
            let (t, k) = (
                e.table.clone().unwrap_or_default(),
                e.key.clone().unwrap_or_default(),
            );
            if let std::collections::btree_map::Entry::Vacant(v) = types.entry(t) {
                let ty = key_type(&c, v.key(), &k).await?;
                v.insert(ty);
            }
        }
        let who = format!("{} (undo)", journal::operator());
        for chunk in entries.chunks(g.batch) {
            let started = Instant::now();
            let mut backoff = Duration::from_millis(100);
            let results = loop {
                let attempt = async {
                    let tx = c.transaction().await.map_err(pg("BEGIN"))?;
                    tx.batch_execute(&format!(
                        "SET LOCAL lock_timeout = {}; SET LOCAL statement_timeout = {};",
                        g.lock_timeout.as_millis(),
                        g.statement_timeout.as_millis()
                    ))
                    .await
                    .map_err(pg("setting the timeouts"))?;
                    let mut res = Vec::new();
                    for e in chunk {
                        let ty = &types[e.table.as_deref().unwrap_or_default()];
                        res.push(undo_one(&tx, e, ty).await.map_err(|err| {
                            let pe = PgError::statement("undo", &err);
                            RecoverError::Batch {
                                sqlstate: pe.sqlstate().unwrap_or("").into(),
                                message: pe.to_string(),
                                order_id: e.order_id.clone(),
                            }
                        })?);
                    }
                    tx.commit().await.map_err(pg("COMMIT"))?;
                    Ok::<_, RecoverError>(res)
                }
                .await;
                match attempt {
                    Ok(r) => break r,
                    Err(RecoverError::Batch {
                        sqlstate, message, ..
                    }) if matches!(sqlstate.as_str(), "55P03" | "57014" | "40001" | "40P01")
                        && started.elapsed() + backoff <= g.max_wait =>
                    {
                        let _ = message;
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                    Err(e) => return Err(e),
                }
            };
            let mut audit = Vec::new();
            for (e, r) in chunk.iter().zip(results) {
                match r {
                    Outcome::Restored => {
                        out.restored += 1;
                        audit.push(Entry {
                            at: journal::now(),
                            who: who.clone(),
                            outcome: Outcome::Restored,
                            before: e.after.clone(),
                            after: e.before.clone(),
                            xid: None,
                            ..e.clone()
                        });
                    }
                    Outcome::Skipped => out.already += 1,
                    Outcome::Changed => out.changed_since.push((
                        e.table.clone().unwrap_or_default(),
                        e.id.clone().unwrap_or_default(),
                        e.order_id.clone(),
                    )),
                }
            }
            // Restorations go to the audit only (the undo file is not re-undone).
            crate::journal::append_audit(&j.audit, &audit)?;
        }
        Ok(out)
    }
    .await;
    drop(c);
    task.abort();
    let mut out = result?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let archived = j.undo.with_file_name(format!("undo-done-{stamp}.jsonl"));
    std::fs::rename(&j.undo, &archived)
        .map_err(|e| RecoverError::Core(sidik_core::Error::io("rename", &j.undo, e)))?;
    // A new apply starts from the beginning of the plan again.
    let _ = std::fs::remove_file(&j.state);
    out.archived = Some(archived);
    Ok(out)
}
