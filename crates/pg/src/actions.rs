//! The playbook actions of the database: `pg.query` (a named query to CSV
//! and a report), `pg.snapshot` and `pg.sample`. Every one connects through
//! [`Session`](crate::Session), so a step cannot write to the database.

use std::fmt::Write as _;
use std::path::PathBuf;

use sidik_core::fmt::{capitalise, count, idr};
use sidik_playbook::tools::{fill, write_file, write_json};
use sidik_playbook::{Action, Context, OrFail, Outcome, Registry, StepResult};

use crate::queries::SHIPPED;

/// Registers the actions of this crate.
pub fn register(r: &mut Registry) {
    r.register(PgQuery);
    r.register(PgSnapshot);
    r.register(PgSample);
}

/// A single-threaded async runtime for one step's database work.
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    sidik_core::process::runtime().or_fail()
}

/// The step's database: the connection string, session options and name
/// (`database` parameter, else the first of incident.toml); skipped when its
/// URL variable is not set.
///
/// The outer `Err` is the step's failure (a database name incident.toml does
/// not have); the inner `Err` is the step's outcome when it is skipped.
pub fn database(ctx: &Context) -> Result<Result<Database, Outcome>, String> {
    database_named(ctx, ctx.str_param("database"))
}

/// [`database`] for the database `name` (else the first of incident.toml).
pub fn database_named(
    ctx: &Context,
    name: Option<&str>,
) -> Result<Result<Database, Outcome>, String> {
    let dbs = &ctx.incident.file.sources.databases;
    let db = match name {
        Some(name) => Some(
            dbs.iter()
                .find(|d| d.name == name)
                .ok_or_else(|| format!("incident.toml has no database named `{name}`"))?,
        ),
        None => dbs.first(),
    };
    let var = db
        .and_then(|d| d.url_env.clone())
        .unwrap_or_else(|| "DATABASE_URL".to_string());
    let Some(url) = std::env::var(&var).ok().filter(|v| !v.is_empty()) else {
        return Ok(Err(Outcome::Skipped(format!(
            "no database: ${var} is not set; export it with the connection string{} or run `sidik demo --with-postgres`",
            db.map(|d| format!(" of `{}`", d.name)).unwrap_or_default()
        ))));
    };
    Ok(Ok(Database {
        url,
        options: crate::SessionOptions {
            search_path: db.and_then(|d| d.search_path.clone()),
            ..Default::default()
        },
        name: db.map_or("default".to_string(), |d| d.name.clone()),
    }))
}

/// A database of the incident a step connects to.
pub struct Database {
    /// The connection string (from the environment variable incident.toml names).
    pub url: String,
    /// Session options (the search path).
    pub options: crate::SessionOptions,
    /// Its name in incident.toml (`default` when none is listed).
    pub name: String,
}

impl Database {
    /// Opens the read-only session.
    pub async fn connect(&self) -> Result<crate::Session, crate::PgError> {
        crate::Session::connect(&self.url, &self.options).await
    }
}

/// Runs a named query against a database of the incident.
struct PgQuery;

/// A step's `param = { date = "2025-01-12" }` as name/value pairs.
fn step_params(ctx: &Context) -> Result<Vec<(String, String)>, String> {
    let Some(v) = ctx.params.get("param") else {
        return Ok(Vec::new());
    };
    let Some(t) = v.as_table() else {
        return Err(
            "`param` must be a table of values, like param = { date = \"2025-01-12\" }".into(),
        );
    };
    t.iter()
        .map(|(k, v)| {
            let text = match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
                    v.to_string()
                }
                toml::Value::Datetime(d) => d.to_string(),
                _ => return Err(format!("param `{k}` must be a single value, not {v}")),
            };
            Ok((k.clone(), text))
        })
        .collect()
}

/// Fills `{rows}`, `{COLUMN}`, `{COLUMN:count}` and `{COLUMN:idr}` from a result.
pub fn fill_template(template: &str, table: &crate::Table) -> String {
    fill(template, |inner, name, fmt| {
        let raw = if name == "rows" {
            Some(table.rows.len().to_string())
        } else {
            table.first(name).map(str::to_string)
        };
        match (raw, fmt) {
            (None, _) => format!("{{{inner}?}}"),
            (Some(v), "count") => v.parse::<i64>().map(count).unwrap_or(v),
            (Some(v), "idr") => v.parse::<i64>().map(idr).unwrap_or(v),
            (Some(v), _) => v,
        }
    })
}

impl Action for PgQuery {
    fn name(&self) -> &'static str {
        "pg.query"
    }
    fn summary(&self) -> &'static str {
        "Run a named query (queries/) read-only against a database of the incident; rows to CSV"
    }
    fn params(&self) -> &'static [&'static str] {
        &[
            "query",
            "query_file",
            "param",
            "database",
            "expect_rows",
            "result",
            "title",
        ]
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        ctx.str_param("query_file")
            .map(|f| vec![ctx.incident.dir.resolve(f)])
            .unwrap_or_default()
    }
    fn run(&self, ctx: &Context) -> StepResult {
        let inc = &ctx.incident;
        let (file, text) = match (ctx.str_param("query"), ctx.str_param("query_file")) {
            (Some(q), None) => match SHIPPED.iter().find(|(n, _)| *n == q) {
                Some((n, t)) => (format!("queries/{n}.sql"), t.to_string()),
                None => {
                    return Err(format!(
                        "no shipped query `{q}`; shipped: {}",
                        SHIPPED.iter().map(|q| q.0).collect::<Vec<_>>().join(", ")
                    ))
                }
            },
            (None, Some(f)) => {
                let text = std::fs::read_to_string(inc.dir.resolve(f))
                    .map_err(|e| format!("cannot read query file {f}: {e}"))?;
                (f.to_string(), text)
            }
            _ => {
                return Err("give exactly one of `query` (a shipped query) or `query_file`".into())
            }
        };
        let query = crate::NamedQuery::parse(&file, &text).or_fail()?;
        let db = match database(ctx)? {
            Ok(db) => db,
            Err(skipped) => return Ok(skipped),
        };
        let given = step_params(ctx)?;
        let (table, sql) = runtime()?
            .block_on(async { crate::run_named(&db.connect().await?, &query, &given).await })
            .or_fail()?;
        let csv_path = ctx.evidence_path("csv");
        let title = ctx.str_param("title").unwrap_or(&query.description);
        // Statistics views describe the server since their last reset, at the
        // time of the query: dated like a snapshot. Tables hold their history.
        let now = chrono::Utc::now();
        let dating = sidik_core::time::Dating::of(now, now, inc.window.as_ref(), inc.tz);
        let statistics = sql.contains("pg_stat");
        let mut md = if statistics && dating.outside() {
            format!(
                "{}; the statistics views it reads (pg_stat_*) count since their last reset, not the incident\n\n",
                capitalise(&dating.sentence.replace("**", "").replace("; no finding below describes the incident", ""))
            )
        } else {
            String::new()
        };
        md += &format!("# {title}\n\nQuery `{}` ({file}) on database `{}`: {} rows. All rows: [{}](../{}).\n\n", query.name, db.name, count(table.rows.len() as i64), inc.dir.relative(&csv_path), inc.dir.relative(&csv_path));
        if !table.columns.is_empty() {
            let _ = writeln!(
                md,
                "| {} |\n|{}|",
                table.columns.join(" | "),
                table
                    .columns
                    .iter()
                    .map(|_| "---")
                    .collect::<Vec<_>>()
                    .join("|")
            );
            for r in table.rows.iter().take(50) {
                let _ = writeln!(
                    md,
                    "| {} |",
                    r.iter()
                        .map(|v| v.as_deref().unwrap_or("NULL").replace('|', "\\|"))
                        .collect::<Vec<_>>()
                        .join(" | ")
                );
            }
            if table.rows.len() > 50 {
                let _ = writeln!(
                    md,
                    "\n(first 50 of {} rows)",
                    count(table.rows.len() as i64)
                );
            }
        }
        if !given.is_empty() {
            let _ = writeln!(
                md,
                "\nParameters: {}.",
                given
                    .iter()
                    .map(|(k, v)| format!("`{k}` = `{v}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let _ = writeln!(md, "\n```sql\n{sql}```");
        write_file(&csv_path, &table.to_csv())?;
        let report = ctx.write_report(&md)?;
        let mut result = fill_template(ctx.str_param("result").unwrap_or("{rows} rows"), &table);
        if statistics && dating.outside() {
            result = format!(
                "read after the incident window (statistics since their last reset): {result}"
            );
        }
        if let Some(expected) = ctx.int_param("expect_rows") {
            if table.rows.len() as i64 != expected {
                return Err(format!(
                    "{result} (expected {expected} rows); see {}",
                    inc.dir.relative(&report)
                ));
            }
        }
        Ok(Outcome::reported(report, vec![csv_path], result))
    }
}

/// Samples a database at an interval (pg_stat_activity, pg_stat_database and
/// pg_stat_statements deltas) into `evidence/STEP/`.
struct PgSample;

impl Action for PgSample {
    fn name(&self) -> &'static str {
        "pg.sample"
    }
    fn summary(&self) -> &'static str {
        "Sample a database at an interval: sessions by state, usable-slot use, backends opened and closed, database and statement deltas, written as it goes"
    }
    fn params(&self) -> &'static [&'static str] {
        &["database", "every", "for"]
    }
    fn run(&self, ctx: &Context) -> StepResult {
        let dur = |key: &str, default: &str| -> Result<std::time::Duration, String> {
            let v = ctx.str_param(key).unwrap_or(default);
            let d = sidik_core::time::parse_go_duration(v)
                .map_err(|e| format!("`{key}` = \"{v}\": {e}"))?;
            match d.num_milliseconds() {
                ms if ms >= 100 => Ok(std::time::Duration::from_millis(ms as u64)),
                _ => Err(format!("`{key}` = \"{v}\": at least 100ms")),
            }
        };
        let (every, total) = (dur("every", "10s")?, dur("for", "1m")?);
        let db = match database(ctx)? {
            Ok(db) => db,
            Err(skipped) => return Ok(skipped),
        };
        let dir = ctx.incident.dir.evidence().join(&ctx.step);
        let _ = std::fs::remove_dir_all(&dir);
        let summary = runtime()?
            .block_on(async {
                let s = db.connect().await?;
                crate::sample::run(&s, &dir, every, total, std::future::pending()).await
            })
            .or_fail()?;
        let texts = &summary.texts;
        let rel = |f: &str| ctx.incident.dir.relative(&dir.join(f));
        let ended = chrono::Utc::now();
        let began = ended - chrono::Duration::from_std(total).unwrap_or_default();
        let dating = sidik_core::time::Dating::of(
            began,
            ended,
            ctx.incident.window.as_ref(),
            ctx.incident.tz,
        );
        let mut md = if dating.outside() {
            format!("{}\n\n", capitalise(&dating.sentence.replace("**", "")))
        } else {
            String::new()
        };
        md += &format!(
            "# Database samples: `{}`\n\n{}.\n\n{} samples every {:?} for {:?}. Files: [samples]({}), [backends]({}), [databases]({}), [statements]({}), [statement texts]({}).\n\n",
            db.name,
            capitalise(&dating.sentence),
            summary.samples,
            every,
            total,
            format_args!("../{}", rel("samples.csv")),
            format_args!("../{}", rel("backends.csv")),
            format_args!("../{}", rel("databases.csv")),
            format_args!("../{}", rel("statements.csv")),
            format_args!("../{}", rel("statement_texts.csv")),
        );
        if let Some(p) = &summary.peak {
            let _ = writeln!(
                md,
                "- Peak: **{} client backends of {} usable slots ({:.0} %)** at {}: {} active, {} idle in transaction, {} waiting on locks.",
                p.client_backends,
                p.usable_slots,
                p.used * 100.0,
                p.at,
                p.active,
                p.idle_in_transaction,
                p.waiting_on_lock
            );
        }
        let _ = writeln!(
            md,
            "- Backends opened during the run: {}; deadlocks: {}.",
            count(summary.opened),
            count(summary.deadlocks)
        );
        if !summary.has_statements {
            md.push_str("- No statement deltas: pg_stat_statements is not installed or not preloaded in this database.\n");
        } else if !summary.statements.is_empty() {
            md.push_str("\n## Statements by time in the window\n\n| total ms | calls | ms/call | rows | query |\n|---:|---:|---:|---:|---|\n");
            for d in summary.statements.iter().take(15) {
                let text = texts.get(&d.queryid).map(String::as_str).unwrap_or("");
                let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
                let _ = writeln!(
                    md,
                    "| {:.1} | {} | {:.2} | {} | `{}` |",
                    d.total_ms,
                    count(d.calls),
                    d.total_ms / d.calls.max(1) as f64,
                    count(d.rows),
                    text.chars()
                        .take(120)
                        .collect::<String>()
                        .replace('`', "'")
                        .replace('|', "\\|")
                );
            }
        }
        let report = ctx.write_report(&md)?;
        let mut result = match &summary.peak {
            Some(p) => format!(
                "{} samples; peak {} of {} usable slots ({:.0} %)",
                summary.samples,
                p.client_backends,
                p.usable_slots,
                p.used * 100.0
            ),
            None => format!("{} samples", summary.samples),
        };
        if dating.outside() {
            result = format!("taken outside the incident window (the database now): {result}");
        }
        Ok(Outcome::reported(
            report,
            vec![dir.join("samples.csv"), dir.join("statements.csv")],
            result,
        ))
    }
}

/// Preflight, sessions, saturation and blocking tree of a database.
struct PgSnapshot;

impl Action for PgSnapshot {
    fn name(&self) -> &'static str {
        "pg.snapshot"
    }
    fn summary(&self) -> &'static str {
        "Snapshot a database read-only: what the role can see, sessions by state, saturation of usable slots, the blocking tree, findings"
    }
    fn params(&self) -> &'static [&'static str] {
        &["database"]
    }
    fn run(&self, ctx: &Context) -> StepResult {
        let db = match database(ctx)? {
            Ok(db) => db,
            Err(skipped) => return Ok(skipped),
        };
        let snap = runtime()?
            .block_on(async { crate::snapshot::snapshot(&db.connect().await?).await })
            .or_fail()?;
        let dating = sidik_core::time::Dating::of(
            snap.taken_at,
            snap.taken_at,
            ctx.incident.window.as_ref(),
            ctx.incident.tz,
        );
        let evidence = ctx.evidence_path("json");
        write_json(&evidence, &snap)?;
        let report =
            ctx.write_report(&crate::report::snapshot_markdown(&snap, &db.name, &dating))?;
        let roots = snap.tree.iter().filter(|n| n.depth == 0).count();
        let mut result = format!(
            "{} sessions, {:.0} % of {} usable slots, {} blocking root(s)",
            snap.backends.len(),
            snap.saturation * 100.0,
            snap.preflight.usable_slots,
            roots
        );
        if dating.outside() {
            result = format!("taken after the incident window (the database now): {result}");
        }
        Ok(Outcome::reported(report, vec![evidence], result))
    }
}

#[cfg(test)]
mod tests {
    use super::fill_template;

    #[test]
    fn numbers_read_like_the_tracker() {
        let t = crate::Table {
            types: vec![],
            columns: vec!["orders".into(), "amount".into()],
            rows: vec![vec![Some("1234".into()), Some("456789000".into())]],
        };
        assert_eq!(
            fill_template(
                "{orders:count} orders stuck, {amount:idr} not posted to HO ({rows} row)",
                &t
            ),
            "1,234 orders stuck, Rp 456.789.000 not posted to HO (1 row)"
        );
        assert_eq!(fill_template("{nope}", &t), "{nope?}");
    }
}
