//! `sidik sample load`: the generated exports into PostgreSQL with COPY, so the
//! tracker's SQL (and the tests' independent SQL) can run against real tables.
//!
//! It writes only into its own schema (default `sidik_sample`), inside one
//! transaction, and refuses to touch existing tables unless asked to replace
//! them, or a server in recovery (a replica).

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use futures_util::SinkExt;
use sidik_core::redact;
use tokio::io::AsyncReadExt;
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, NoTls};

use crate::exports::{ORDERS_HEADER, PAYMENTS_HEADER, POSTINGS_HEADER};
use crate::SampleError;

/// Options of [`load`].
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The generated incident folder (its `data/` holds the CSV files).
    pub dir: PathBuf,
    /// Connection string: a `postgres://` URL or libpq key/value pairs.
    pub url: String,
    /// Schema to create the tables in.
    pub schema: String,
    /// Drop and re-create tables that already exist.
    pub replace: bool,
}

/// Rows loaded per table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadSummary {
    /// Schema the tables are in.
    pub schema: String,
    /// (table, rows) in load order.
    pub tables: Vec<(String, u64)>,
}

const TABLES: [(&str, &str, &str, &str); 3] = [
    (
        "orders",
        "orders.csv",
        ORDERS_HEADER,
        "order_id text PRIMARY KEY, service_line text NOT NULL, status text NOT NULL, \
         created_at timestamp NOT NULL, trip_start_at timestamp, trip_end_at timestamp, \
         payment_method text, corporate_id text, amount_base bigint NOT NULL, \
         amount_overtime bigint NOT NULL, amount_extra bigint NOT NULL, amount_tip bigint NOT NULL, \
         amount_total bigint NOT NULL, is_push_ho boolean NOT NULL",
    ),
    (
        "payments",
        "payments.csv",
        PAYMENTS_HEADER,
        "payment_id text PRIMARY KEY, order_id text NOT NULL, payment_type text NOT NULL, \
         payment_status text NOT NULL, amount bigint NOT NULL, payment_method text, \
         created_at timestamp NOT NULL, failure_reason text",
    ),
    (
        "ho_postings",
        "ho_postings.csv",
        POSTINGS_HEADER,
        "posting_id text PRIMARY KEY, order_id text NOT NULL, payment_id text, \
         journal_type text NOT NULL, amount bigint NOT NULL, posted_at timestamptz NOT NULL, \
         period text NOT NULL",
    ),
];

fn pg_err(what: &str, url: &str) -> impl FnOnce(tokio_postgres::Error) -> SampleError {
    let target = redact(url).into_owned();
    let what = what.to_string();
    move |e| {
        let detail = e
            .as_db_error()
            .map(|d| format!("{} (SQLSTATE {})", d.message(), d.code().code()))
            .unwrap_or_else(|| e.to_string());
        SampleError::Postgres(format!("{what} on {target}: {}", redact(&detail)))
    }
}

fn valid_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 63
}

/// Loads `orders`, `payments` and `ho_postings` into `schema` with COPY.
pub async fn load(opts: &LoadOptions) -> Result<LoadSummary, SampleError> {
    if !valid_identifier(&opts.schema) {
        return Err(SampleError::Invalid(format!(
            "schema name \"{}\" must be lower-case letters, digits and _ (at most 63), starting with a letter",
            opts.schema
        )));
    }
    let data = opts.dir.join("data");
    for (_, file, _, _) in TABLES {
        let p = data.join(file);
        if !p.is_file() {
            return Err(SampleError::Invalid(format!(
                "{} not found; generate a sample first: sidik sample generate --out {}",
                p.display(),
                opts.dir.display()
            )));
        }
    }
    let mut config: tokio_postgres::Config = opts.url.parse().map_err(|e| {
        SampleError::Invalid(format!(
            "cannot read the connection string {}: {e}; expected postgres://user@host:port/db or host=… dbname=…",
            redact(&opts.url)
        ))
    })?;
    if config.get_ssl_mode() == SslMode::Require {
        return Err(SampleError::Invalid(format!(
            "{} asks for sslmode=require, but sample loading connects without TLS; load samples into a local test database (sslmode=disable)",
            redact(&opts.url)
        )));
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    config.application_name("sidik");
    let (mut client, connection) = config
        .connect(NoTls)
        .await
        .map_err(pg_err("cannot connect", &opts.url))?;
    let conn_task = tokio::spawn(connection);

    let result = load_tables(&mut client, opts, &data).await;
    drop(client);
    let _ = conn_task.await;
    result
}

async fn load_tables(
    client: &mut Client,
    opts: &LoadOptions,
    data: &Path,
) -> Result<LoadSummary, SampleError> {
    let url = &opts.url;
    let in_recovery: bool = client
        .query_one("SELECT pg_is_in_recovery()", &[])
        .await
        .map_err(pg_err("cannot query", url))?
        .get(0);
    if in_recovery {
        return Err(SampleError::Invalid(format!(
            "{} is a server in recovery (a replica); load samples into a writable test database",
            redact(url)
        )));
    }
    let schema = &opts.schema;
    let existing: Vec<String> = client
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 AND table_name = ANY($2)",
            &[schema, &TABLES.iter().map(|t| t.0).collect::<Vec<_>>()],
        )
        .await
        .map_err(pg_err("cannot query", url))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !existing.is_empty() && !opts.replace {
        return Err(SampleError::Invalid(format!(
            "tables {} already exist in schema {schema}; pass --replace to drop and reload them, or choose another --schema",
            existing.join(", ")
        )));
    }
    let tx = client
        .transaction()
        .await
        .map_err(pg_err("cannot begin", url))?;
    tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .await
        .map_err(pg_err("cannot create schema", url))?;
    let mut tables = Vec::new();
    for (table, file, header, columns) in TABLES {
        tx.batch_execute(&format!(
            "DROP TABLE IF EXISTS {schema}.{table}; CREATE TABLE {schema}.{table} ({columns})"
        ))
        .await
        .map_err(pg_err(&format!("cannot create {schema}.{table}"), url))?;
        let sink = tx
            .copy_in(&format!(
                "COPY {schema}.{table} ({header}) FROM STDIN WITH (FORMAT csv, HEADER true)"
            ))
            .await
            .map_err(pg_err(
                &format!("cannot start COPY into {schema}.{table}"),
                url,
            ))?;
        futures_util::pin_mut!(sink);
        let path = data.join(file);
        let mut f = tokio::fs::File::open(&path)
            .await
            .map_err(|source| SampleError::Io {
                action: "read",
                path: path.clone(),
                source,
            })?;
        loop {
            let mut buf = vec![0u8; 1 << 20];
            let n = f.read(&mut buf).await.map_err(|source| SampleError::Io {
                action: "read",
                path: path.clone(),
                source,
            })?;
            if n == 0 {
                break;
            }
            buf.truncate(n);
            sink.send(Bytes::from(buf))
                .await
                .map_err(pg_err(&format!("COPY into {schema}.{table} failed"), url))?;
        }
        let rows = sink.as_mut().finish().await.map_err(pg_err(
            &format!("COPY of {} into {schema}.{table} failed", path.display()),
            url,
        ))?;
        tables.push((table.to_string(), rows));
    }
    tx.batch_execute(&format!(
        "CREATE INDEX ON {schema}.payments (order_id); CREATE INDEX ON {schema}.ho_postings (order_id); \
         CREATE INDEX ON {schema}.ho_postings (payment_id); CREATE INDEX ON {schema}.orders (status); \
         ANALYZE {schema}.orders; ANALYZE {schema}.payments; ANALYZE {schema}.ho_postings"
    ))
    .await
    .map_err(pg_err("cannot index the loaded tables", url))?;
    tx.commit().await.map_err(pg_err("cannot commit", url))?;
    Ok(LoadSummary {
        schema: schema.clone(),
        tables,
    })
}

#[cfg(test)]
mod tests {
    use super::valid_identifier;

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(valid_identifier("sidik_sample"));
        assert!(valid_identifier("s2"));
        assert!(!valid_identifier("2s"));
        assert!(!valid_identifier("a;drop table x"));
        assert!(!valid_identifier("Public"));
        assert!(!valid_identifier(""));
    }
}
