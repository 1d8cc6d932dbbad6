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
}

/// Where to connect.
#[derive(Debug, Args)]
pub struct Target {
    /// The incident folder (its [[sources.databases]] say where the URL is).
    #[arg(long, value_name = "DIR", default_value = ".")]
    incident: PathBuf,
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
    if let Some(u) = &t.pg {
        return Ok((
            u.clone(),
            sidik_pg::SessionOptions::default(),
            "given".to_string(),
        ));
    }
    let inc = if t.incident.join("incident.toml").exists() {
        Some(Incident::load(&t.incident)?)
    } else {
        None
    };
    let db = match &inc {
        Some(inc) => {
            let dbs = &inc.file.sources.databases;
            match &t.database {
                Some(n) => Some(
                    dbs.iter()
                        .find(|d| &d.name == n)
                        .with_context(|| format!("incident.toml has no database named `{n}`"))?,
                ),
                None => dbs.first(),
            }
        }
        None => None,
    };
    let var = db
        .and_then(|d| d.url_env.clone())
        .unwrap_or_else(|| "DATABASE_URL".into());
    let url = match std::env::var(&var).ok().filter(|v| !v.is_empty()) {
        Some(u) => u,
        None => match sidik_pg::from_pg_env() {
            Some(u) => u,
            None => bail!(
                "no database to connect to: ${var} is not set and neither are PGHOST/PGDATABASE; export the connection string{}, or pass --pg URL",
                db.map(|d| format!(" of `{}`", d.name)).unwrap_or_default()
            ),
        },
    };
    Ok((
        url,
        sidik_pg::SessionOptions {
            search_path: db.and_then(|d| d.search_path.clone()),
            ..Default::default()
        },
        db.map_or("default".to_string(), |d| d.name.clone()),
    ))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

pub fn run(cmd: PgCommand) -> Result<()> {
    match cmd {
        PgCommand::Snapshot(a) => {
            let (url, opts, name) = connect_target(&a.target)?;
            let snap = runtime()?.block_on(async {
                let s = sidik_pg::Session::connect(&url, &opts).await?;
                sidik_pg::snapshot::snapshot(&s).await
            })?;
            match a.format {
                Format::Json => out!("{}", serde_json::to_string_pretty(&snap)?),
                _ => out!(
                    "{}",
                    crate::actions::snapshot_markdown(&snap, &name).trim_end()
                ),
            }
            Ok(())
        }
        PgCommand::Query(a) => query(a),
    }
}

fn shipped() -> Result<Vec<sidik_pg::NamedQuery>> {
    crate::actions::QUERIES
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
            crate::frame::write_parquet(&table, path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("{} rows → {}", table.rows.len(), path.display());
            return Ok(());
        }
        QueryFormat::Csv => table.to_csv(),
        QueryFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&crate::frame::to_json(&table))?
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
    let kinds: Vec<crate::frame::Kind> = (0..t.columns.len())
        .map(|i| crate::frame::kind(t, i))
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
                        crate::frame::Kind::Int | crate::frame::Kind::Float
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
