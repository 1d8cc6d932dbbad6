//! `sidik recon`: reconcile the incident's payments, HO postings and orders.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use sidik_core::Incident;
use sidik_recon::engine::{code, Outcome};

use crate::tracker::Format;

#[derive(Debug, Args)]
pub struct ReconArgs {
    #[command(flatten)]
    incident: crate::IncidentArg,
    /// Read the three sources from the incident's database (queries/recon/*.sql) instead of the files.
    #[arg(long)]
    from_db: bool,
    /// Database name from incident.toml for --from-db; default the first.
    #[arg(long, requires = "from_db")]
    database: Option<String>,
    /// Connection string for --from-db instead of the incident's.
    #[arg(long, value_name = "URL", requires = "from_db")]
    pg: Option<String>,
    /// Output: the summary table, or recon.json's content.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

/// Counts and rupiah per category, for people.
pub fn summary_table(o: &Outcome) -> String {
    let mut out = format!("{:<20} {:>10} {:>22}\n", "category", "rows", "rupiah");
    for (c, t) in &o.by_category {
        let (note, rupiah) = if *c == code::MATCHED {
            ("  (orders that reconcile)", String::new())
        } else if code::TIMING.contains(c) {
            (
                "  (timing, not a break)",
                sidik_recon::output::idr(t.amount),
            )
        } else {
            ("", sidik_recon::output::idr(t.amount))
        };
        out.push_str(&format!(
            "{:<20} {:>10} {:>22}{note}\n",
            c,
            sidik_core::fmt::count(t.count),
            rupiah
        ));
    }
    out
}

pub fn run(a: ReconArgs) -> Result<ExitCode> {
    let inc = Incident::load(&a.incident)?;
    let s = sidik_recon::output::settings(&inc)?;
    let mut src = if a.from_db {
        let (url, opts, _) =
            crate::pg_cmd::database_url(Some(&inc), a.database.as_deref(), a.pg.as_deref())?;
        sidik_recon::db::load_db(&url, &opts, &s)?
    } else {
        sidik_recon::output::load_files(&inc, &s)?
    };
    let o = sidik_recon::engine::reconcile_sources(&mut src, &s)?;
    let report = inc.dir.reports().join("recon.md");
    let w = sidik_recon::output::write_all(&inc, &o, &src, &s, &report)?;
    match a.format {
        Format::Json => out!(
            "{}",
            serde_json::to_string_pretty(&sidik_recon::output::summary_json(&o, &s))?
        ),
        _ => {
            out!("{}", summary_table(&o).trim_end());
            out!(
                "{} stuck orders; report {}; breaks {}",
                o.stuck.len(),
                inc.dir.relative(&w.report),
                inc.dir.relative(&w.evidence[0])
            );
        }
    }
    if !o.is_complete() {
        eprintln!(
            "warning: {}",
            sidik_recon::actions::partial_note(&o, &src, &inc)
        );
        return Ok(ExitCode::from(3));
    }
    Ok(if o.has_breaks() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
