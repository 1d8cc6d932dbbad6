//! `sidik recon`: reconcile the incident's payments, HO postings and orders.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use sidik_core::Incident;
use sidik_recon::engine::{code, Outcome};
use sidik_recon::source::{self, Rows, Sources, TextRows};

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

/// The recon queries shipped in `queries/recon/`.
pub const RECON_QUERIES: [(&str, &str); 3] = [
    ("orders", include_str!("../queries/recon/orders.sql")),
    ("payments", include_str!("../queries/recon/payments.sql")),
    ("postings", include_str!("../queries/recon/postings.sql")),
];

fn table_rows(t: sidik_pg::Table, name: &str) -> TextRows<'static> {
    TextRows {
        estimate: t.rows.len(),
        name: name.into(),
        columns: t.columns,
        rows: Rows::Iter(Box::new(
            t.rows
                .into_iter()
                .enumerate()
                .map(|(i, r)| Ok((i as u32 + 1, r))),
        )),
        sample: Vec::new(),
        limit: None,
    }
}

/// Reads the three sources with the recon queries over one read-only session.
pub fn load_db(
    url: &str,
    opts: &sidik_pg::SessionOptions,
    s: &sidik_recon::settings::Settings,
) -> Result<Sources> {
    let rt = crate::runtime()?;
    let tables = rt.block_on(async {
        let session = sidik_pg::Session::connect(url, opts).await?;
        let mut out = Vec::new();
        for (name, text) in RECON_QUERIES {
            let q = sidik_pg::NamedQuery::parse(&format!("queries/recon/{name}.sql"), text)?;
            out.push(sidik_pg::run_named(&session, &q, &[]).await?.0);
        }
        Ok::<_, sidik_pg::PgError>(out)
    })?;
    let mut it = tables.into_iter();
    let mut next = |name: &str| {
        table_rows(
            it.next().expect("three queries"),
            &format!("query recon_{name}"),
        )
    };
    let orders = source::orders(next("orders"), s)?;
    let payments = source::payments(next("payments"), s)?;
    let postings = source::postings(next("postings"), s)?;
    Ok(Sources::new(orders, payments, postings))
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
            crate::actions::count(t.count),
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
        load_db(&url, &opts, &s)?
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
        eprintln!("warning: {}", partial_note(&o, &src, &inc));
        return Ok(ExitCode::from(3));
    }
    Ok(if o.has_breaks() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// What an incomplete reconciliation tells the person: how many rows were
/// set aside, their rupiah, the first few with file, line and reason.
pub fn partial_note(o: &Outcome, src: &Sources, inc: &Incident) -> String {
    let mut note = format!(
        "incomplete: {} input rows ({}) were set aside and not reconciled; every one with its file, line and reason in {}",
        crate::actions::count(o.rejected.count),
        sidik_recon::output::idr(o.rejected.amount),
        inc.dir.relative(&inc.dir.evidence().join("recon/rejected.csv"))
    );
    for r in src.rejected.iter().take(3) {
        note.push_str(&format!("\n  {}:{}: {}", r.file, r.line, r.reason));
    }
    if src.rejected.len() > 3 {
        note.push_str(&format!("\n  … and {} more", src.rejected.len() - 3));
    }
    note
}
