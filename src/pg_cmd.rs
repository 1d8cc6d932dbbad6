//! `sidik pg …`: read-only diagnostics of a database of the incident.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use sidik_core::Incident;

use crate::tracker::Format;

#[derive(Debug, Subcommand)]
pub enum PgCommand {
    /// Sessions, saturation of usable slots, the blocking tree and findings, read-only.
    Snapshot(SnapshotArgs),
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// The incident folder (its [[sources.databases]] say where the URL is).
    #[arg(long, value_name = "DIR", default_value = ".")]
    incident: PathBuf,
    /// Database name from incident.toml; default the first.
    #[arg(long)]
    database: Option<String>,
    /// Connection string instead of the incident's (postgres:// URL or key=value).
    #[arg(long, value_name = "URL")]
    pg: Option<String>,
    /// Output format (table prints the markdown report).
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

pub fn run(cmd: PgCommand) -> Result<()> {
    match cmd {
        PgCommand::Snapshot(a) => {
            let (url, opts, name) = match &a.pg {
                Some(u) => (
                    u.clone(),
                    sidik_pg::SessionOptions::default(),
                    "given".to_string(),
                ),
                None => {
                    let inc = Incident::load(&a.incident)?;
                    let dbs = &inc.file.sources.databases;
                    let db = match &a.database {
                        Some(n) => dbs.iter().find(|d| &d.name == n).with_context(|| {
                            format!("incident.toml has no database named `{n}`")
                        })?,
                        None => dbs.first().context(
                            "incident.toml lists no [[sources.databases]]; pass --pg URL",
                        )?,
                    };
                    let var = db.url_env.clone().unwrap_or_else(|| "DATABASE_URL".into());
                    let Some(url) = std::env::var(&var).ok().filter(|v| !v.is_empty()) else {
                        bail!("${var} is not set: export the connection string of `{}`, or pass --pg URL", db.name);
                    };
                    (
                        url,
                        sidik_pg::SessionOptions {
                            search_path: db.search_path.clone(),
                            ..Default::default()
                        },
                        db.name.clone(),
                    )
                }
            };
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let snap = rt.block_on(async {
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
    }
}
