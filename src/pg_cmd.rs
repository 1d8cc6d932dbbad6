//! `sidik pg …`: read-only diagnostics of a database of the incident.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use sidik_core::Incident;

use crate::tracker::Format;

#[derive(Debug, Subcommand)]
pub enum PgCommand {
    /// Sessions, saturation of usable slots, the blocking tree and findings, read-only.
    Snapshot(SnapshotArgs),
    /// Run a named query (queries/, or a .sql file) read-only, with bound parameters.
    Query(QueryArgs),
    /// Sample sessions, statement and database counters at an interval; deltas written as it goes.
    Sample(SampleArgs),
}

#[derive(Debug, Args)]
pub struct SampleArgs {
    /// Time between samples (Go-style duration: 500ms, 10s, 1m).
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    every: String,
    /// How long to sample (Ctrl-C stops early and keeps what was taken).
    #[arg(long = "for", value_name = "DURATION", default_value = "15m")]
    total: String,
    /// Folder for the CSV files (default: evidence/pg/samples-DB-YYYYMMDDTHHMMSSZ in the incident folder).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print the summary as JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    target: Target,
}

/// Where to connect.
#[derive(Debug, Args)]
pub struct Target {
    #[command(flatten)]
    incident: crate::IncidentArg,
    /// Database name from incident.toml; default the first.
    #[arg(long)]
    database: Option<String>,
    /// Connection string instead of the incident's (postgres:// URL or key=value).
    #[arg(long, value_name = "URL")]
    pg: Option<String>,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    #[command(flatten)]
    target: Target,
    /// Output format (table prints the markdown report).
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

/// Output of `sidik pg query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QueryFormat {
    /// Aligned columns.
    Table,
    /// RFC 4180 CSV with a header line.
    Csv,
    /// An array of objects; integers, numbers and booleans typed.
    Json,
    /// A Parquet file (typed columns), written to --out.
    Parquet,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// A shipped query name (see --list) or the path of a .sql file with a query header.
    #[arg(value_name = "NAME", required_unless_present = "list")]
    name: Option<String>,
    /// A parameter of the query, NAME=VALUE (repeat for several).
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    params: Vec<(String, String)>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: QueryFormat,
    /// Where to write (required for parquet; default standard output otherwise).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// List the shipped queries with their parameters, and exit.
    #[arg(long)]
    list: bool,
    #[command(flatten)]
    target: Target,
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!(
            "`{s}` is not NAME=VALUE (for example date=2025-01-12)"
        )),
    }
}

/// The connection string and session options, following libpq's conventions:
/// `--pg`, else the incident's database (`url_env`, default `DATABASE_URL`),
/// else the `PG*` variables (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`,
/// `PGDATABASE`, `PGSSLMODE`, `PGCONNECT_TIMEOUT`).
fn connect_target(t: &Target) -> Result<(String, sidik_pg::SessionOptions, String)> {
    let inc = if t.pg.is_none() && t.incident.join("incident.toml").exists() {
        Some(Incident::load(&t.incident)?)
    } else {
        None
    };
    database_url(inc.as_ref(), t.database.as_deref(), t.pg.as_deref())
}

/// The connection string, session options and name of a database (sidik-pg's resolution).
pub fn database_url(
    inc: Option<&Incident>,
    name: Option<&str>,
    pg: Option<&str>,
) -> Result<(String, sidik_pg::SessionOptions, String)> {
    sidik_pg::target::database_url(inc, name, pg).map_err(anyhow::Error::msg)
}

use crate::runtime;

pub fn run(cmd: PgCommand) -> Result<()> {
    match cmd {
        PgCommand::Snapshot(a) => {
            let (url, opts, name) = connect_target(&a.target)?;
            let snap = runtime()?.block_on(async {
                let s = sidik_pg::Session::connect(&url, &opts).await?;
                sidik_pg::snapshot::snapshot(&s).await
            })?;
            // Dated against the incident window when there is an incident folder.
            let inc = if a.target.incident.join("incident.toml").exists() {
                Incident::load(&a.target.incident).ok()
            } else {
                None
            };
            let dating = sidik_core::time::Dating::of(
                snap.taken_at,
                snap.taken_at,
                inc.as_ref().and_then(|i| i.window.as_ref()),
                inc.as_ref()
                    .map_or(sidik_core::time::DEFAULT_TIMEZONE, |i| i.tz),
            );
            match a.format {
                Format::Json => out!("{}", serde_json::to_string_pretty(&snap)?),
                _ => out!(
                    "{}",
                    sidik_pg::report::snapshot_markdown(&snap, &name, &dating).trim_end()
                ),
            }
            Ok(())
        }
        PgCommand::Query(a) => query(a),
        PgCommand::Sample(a) => sample(a),
    }
}

fn duration(flag: &str, v: &str) -> Result<std::time::Duration> {
    let d =
        sidik_core::time::parse_go_duration(v).map_err(|e| anyhow::anyhow!("--{flag} {v}: {e}"))?;
    let ms = d.num_milliseconds();
    if ms <= 0 {
        bail!("--{flag} {v}: must be longer than zero");
    }
    Ok(std::time::Duration::from_millis(ms as u64))
}

fn sample(a: SampleArgs) -> Result<()> {
    let every = duration("every", &a.every)?;
    let total = duration("for", &a.total)?;
    if every < std::time::Duration::from_millis(100) {
        bail!(
            "--every {}: sample at most ten times a second; each sample reads several views",
            a.every
        );
    }
    let (url, opts, name) = connect_target(&a.target)?;
    let dir = match &a.out {
        Some(d) => d.clone(),
        None => {
            let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
            let base = if a.target.incident.join("incident.toml").exists() {
                a.target.incident.join("evidence/pg")
            } else {
                PathBuf::from(".")
            };
            base.join(format!("samples-{name}-{stamp}"))
        }
    };
    eprintln!(
        "sampling `{name}` every {} for {} into {} (Ctrl-C stops and keeps what was taken)",
        a.every,
        a.total,
        dir.display()
    );
    let summary = runtime()?.block_on(async {
        let s = sidik_pg::Session::connect(&url, &opts).await?;
        let stop = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        sidik_pg::sample::run(&s, &dir, every, total, stop).await
    })?;
    if a.json {
        out!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    let texts = &summary.texts;
    out!(
        "{} samples{}; files in {}",
        summary.samples,
        summary
            .stopped
            .as_deref()
            .map(|s| format!(" ({s})"))
            .unwrap_or_default(),
        dir.display()
    );
    if let Some(p) = &summary.peak {
        out!(
            "peak: {} client backends of {} usable slots ({:.0} %) at {}; {} active, {} idle in transaction, {} waiting on locks",
            p.client_backends,
            p.usable_slots,
            p.used * 100.0,
            p.at,
            p.active,
            p.idle_in_transaction,
            p.waiting_on_lock
        );
    }
    out!(
        "backends opened during the run: {}; deadlocks: {}",
        summary.opened,
        summary.deadlocks
    );
    if !summary.has_statements {
        out!("no statement deltas: pg_stat_statements is not installed or not preloaded in this database");
    } else if summary.statements.is_empty() {
        out!("no statement ran between the samples");
    } else {
        out!("statements by time in the window (pg_stat_statements deltas):");
        for d in summary.statements.iter().take(10) {
            let text = texts.get(&d.queryid).map(String::as_str).unwrap_or("");
            let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
            out!(
                "  {:>10.1} ms {:>9} calls {:>9.2} ms/call  {}",
                d.total_ms,
                d.calls,
                d.total_ms / d.calls.max(1) as f64,
                text.chars().take(100).collect::<String>()
            );
        }
    }
    Ok(())
}

fn shipped() -> Result<Vec<sidik_pg::NamedQuery>> {
    sidik_pg::queries::SHIPPED
        .iter()
        .map(|(n, t)| Ok(sidik_pg::NamedQuery::parse(&format!("queries/{n}.sql"), t)?))
        .collect()
}

fn query(a: QueryArgs) -> Result<()> {
    if a.list {
        for q in shipped()? {
            out!("{:<24} {}", q.name, q.description);
            for p in &q.params {
                out!(
                    "{:<24}   --param {}=…  {}{}",
                    "",
                    p.name,
                    p.description,
                    p.default
                        .as_deref()
                        .map(|d| format!(" (default {d})"))
                        .unwrap_or_default()
                );
            }
        }
        return Ok(());
    }
    let name = a.name.as_deref().unwrap_or_default();
    let q = if name.ends_with(".sql") || std::path::Path::new(name).is_file() {
        let text = std::fs::read_to_string(name).with_context(|| format!("cannot read {name}"))?;
        sidik_pg::NamedQuery::parse(name, &text)?
    } else {
        match shipped()?.into_iter().find(|q| q.name == name) {
            Some(q) => q,
            None => bail!(
                "no shipped query `{name}`; `sidik pg query --list` shows them, or give the path of a .sql file"
            ),
        }
    };
    if a.format == QueryFormat::Parquet && a.out.is_none() {
        bail!(
            "--format parquet writes a file: add --out FILE (for example evidence/pg/{}.parquet)",
            q.name
        );
    }
    // Parameters are checked before connecting.
    q.bind(&a.params)?;
    let (url, opts, _) = connect_target(&a.target)?;
    let (table, _sql) = runtime()?.block_on(async {
        let s = sidik_pg::Session::connect(&url, &opts).await?;
        sidik_pg::run_named(&s, &q, &a.params).await
    })?;
    let text = match a.format {
        QueryFormat::Parquet => {
            let path = a.out.as_ref().expect("checked above");
            sidik_pg::frame::write_parquet(&table, path).map_err(anyhow::Error::msg)?;
            eprintln!("{} rows → {}", table.rows.len(), path.display());
            return Ok(());
        }
        QueryFormat::Csv => table.to_csv(),
        QueryFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&sidik_pg::frame::to_json(&table))?
        ),
        QueryFormat::Table => aligned(&table),
    };
    match &a.out {
        Some(p) => {
            sidik_core::folder::write_atomic(p, text.as_bytes())?;
            eprintln!("{} rows → {}", table.rows.len(), p.display());
        }
        None => out!("{}", text.trim_end()),
    }
    Ok(())
}

/// Columns padded to their widest value, numbers right-aligned, NULL shown as NULL.
fn aligned(t: &sidik_pg::Table) -> String {
    let cell = |v: &Option<String>| {
        v.clone()
            .unwrap_or_else(|| "NULL".into())
            .replace('\n', "↵")
    };
    let kinds: Vec<sidik_pg::frame::Kind> = (0..t.columns.len())
        .map(|i| sidik_pg::frame::kind(t, i))
        .collect();
    let mut w: Vec<usize> = t.columns.iter().map(|c| c.chars().count()).collect();
    for r in &t.rows {
        for (i, v) in r.iter().enumerate() {
            w[i] = w[i].max(cell(v).chars().count());
        }
    }
    let mut out = String::new();
    let line = |vals: Vec<String>, out: &mut String, header: bool| {
        let parts: Vec<String> = vals
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let pad = w[i] - v.chars().count();
                let num = !header
                    && matches!(
                        kinds[i],
                        sidik_pg::frame::Kind::Int | sidik_pg::frame::Kind::Float
                    );
                if num {
                    format!("{}{v}", " ".repeat(pad))
                } else {
                    format!("{v}{}", " ".repeat(pad))
                }
            })
            .collect();
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(t.columns.clone(), &mut out, true);
    out.push_str(
        &w.iter()
            .map(|n| "-".repeat(*n))
            .collect::<Vec<_>>()
            .join("  "),
    );
    out.push('\n');
    for r in &t.rows {
        line(r.iter().map(cell).collect(), &mut out, false);
    }
    out.push_str(&format!("({} rows)\n", t.rows.len()));
    out
}
