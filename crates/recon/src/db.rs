//! The three sources read from a database instead of files: the recon
//! queries shipped in `queries/recon/`, run over one read-only session.

use crate::settings::Settings;
use crate::source::{self, Rows, Sources, TextRows};
use crate::ReconError;

/// The recon queries shipped in `queries/recon/`.
pub const RECON_QUERIES: [(&str, &str); 3] = [
    ("orders", include_str!("../../../queries/recon/orders.sql")),
    (
        "payments",
        include_str!("../../../queries/recon/payments.sql"),
    ),
    (
        "postings",
        include_str!("../../../queries/recon/postings.sql"),
    ),
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
    s: &Settings,
) -> Result<Sources, ReconError> {
    let rt = sidik_core::process::runtime().map_err(|e| ReconError::Input(e.to_string()))?;
    let tables = rt
        .block_on(async {
            let session = sidik_pg::Session::connect(url, opts).await?;
            let mut out = Vec::new();
            for (name, text) in RECON_QUERIES {
                let q = sidik_pg::NamedQuery::parse(&format!("queries/recon/{name}.sql"), text)?;
                out.push(sidik_pg::run_named(&session, &q, &[]).await?.0);
            }
            Ok::<_, sidik_pg::PgError>(out)
        })
        .map_err(|e| ReconError::Input(e.to_string()))?;
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
