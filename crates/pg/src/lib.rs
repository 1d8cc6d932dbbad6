//! sidik-pg talks to PostgreSQL during an incident without making it worse:
//! one connection, `application_name = sidik`, a statement timeout, a 50 ms
//! lock timeout, read-only transactions and the simple query protocol (which
//! also works through PgBouncer in transaction mode). It runs the named
//! queries of `queries/` and returns their rows as text, ready for CSV.
//!
//! Passwords never appear in its errors.

#![deny(missing_docs)]

use std::time::Duration;

pub mod snapshot;
pub mod statements;

use sidik_core::redact;
use tokio_postgres::config::SslMode;
use tokio_postgres::{NoTls, SimpleQueryMessage};

/// What went wrong talking to PostgreSQL.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The connection string cannot be used.
    #[error("{0}")]
    Config(String),
    /// Connecting failed.
    #[error("cannot connect to {target}: {message}")]
    Connect {
        /// The redacted connection string.
        target: String,
        /// Why.
        message: String,
    },
    /// A statement failed.
    #[error("{what} failed: {message}")]
    Query {
        /// What was running.
        what: String,
        /// The server's message, with SQLSTATE.
        message: String,
    },
    /// A named query file is malformed.
    #[error("{file}: {message}")]
    QueryFile {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
}

/// Other sidik sessions tolerated on a server before a new one is refused.
pub const MAX_OTHER_SIDIK_SESSIONS: usize = 3;

/// Session settings.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// `statement_timeout`.
    pub statement_timeout: Duration,
    /// `lock_timeout`: never queue behind an incident's locks.
    pub lock_timeout: Duration,
    /// `search_path`, when the tables live in another schema.
    pub search_path: Option<String>,
    /// How long to wait for the connection.
    pub connect_timeout: Duration,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            statement_timeout: Duration::from_secs(30),
            lock_timeout: Duration::from_millis(50),
            search_path: None,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Rows as text, the way psql shows them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows; `None` is SQL NULL.
    pub rows: Vec<Vec<Option<String>>>,
}

impl Table {
    /// The value of `column` in the first row.
    pub fn first(&self, column: &str) -> Option<&str> {
        let i = self.columns.iter().position(|c| c == column)?;
        self.rows.first()?.get(i)?.as_deref()
    }

    /// RFC 4180 CSV with a header line.
    pub fn to_csv(&self) -> String {
        fn field(s: &str) -> String {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        }
        let mut out = self
            .columns
            .iter()
            .map(|c| field(c))
            .collect::<Vec<_>>()
            .join(",");
        out.push('\n');
        for r in &self.rows {
            out.push_str(
                &r.iter()
                    .map(|v| v.as_deref().map(field).unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(","),
            );
            out.push('\n');
        }
        out
    }
}

/// One safe session.
pub struct Session {
    client: tokio_postgres::Client,
    task: tokio::task::JoinHandle<()>,
}

fn db_message(e: &tokio_postgres::Error) -> String {
    let m = match e.as_db_error() {
        Some(d) => format!("{} (SQLSTATE {})", d.message(), d.code().code()),
        None => e.to_string(),
    };
    redact(&m).into_owned()
}

impl Session {
    /// Connects to `url` (a `postgres://` URL or libpq key/value pairs) and
    /// sets the session up read-only with timeouts.
    pub async fn connect(url: &str, opts: &SessionOptions) -> Result<Session, PgError> {
        let target = redact(url).into_owned();
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            PgError::Config(format!("cannot read the connection string {target}: {e}"))
        })?;
        if config.get_ssl_mode() == SslMode::Require {
            return Err(PgError::Config(format!(
                "{target} requires TLS (sslmode=require), which this build of sidik does not speak yet; use sslmode=disable or prefer on a trusted network"
            )));
        }
        config.application_name("sidik");
        config.connect_timeout(opts.connect_timeout);
        let (client, conn) = config.connect(NoTls).await.map_err(|e| PgError::Connect {
            target: target.clone(),
            message: db_message(&e),
        })?;
        let task = tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut setup = format!(
            "SET statement_timeout = {}; SET lock_timeout = {}; SET default_transaction_read_only = on; SET idle_in_transaction_session_timeout = 60000;",
            opts.statement_timeout.as_millis(),
            opts.lock_timeout.as_millis()
        );
        if let Some(sp) = &opts.search_path {
            let quoted: Vec<String> = sp
                .split(',')
                .map(|s| format!("\"{}\"", s.trim().replace('"', "\"\"")))
                .collect();
            setup.push_str(&format!(" SET search_path = {};", quoted.join(", ")));
        }
        client
            .batch_execute(&setup)
            .await
            .map_err(|e| PgError::Query {
                what: "session setup".into(),
                message: db_message(&e),
            })?;
        let session = Session { client, task };
        // Diagnostics must not add to a connection storm: refuse when several
        // sidik sessions are already connected to this server.
        let others = session
            .query(
                "counting sidik sessions",
                "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'sidik' AND pid <> pg_backend_pid()",
            )
            .await?;
        let n: usize = others.first("n").and_then(|v| v.parse().ok()).unwrap_or(0);
        if n >= MAX_OTHER_SIDIK_SESSIONS {
            return Err(PgError::Connect {
                target,
                message: format!(
                    "{n} other sidik sessions are already connected; sidik uses one connection and does not add more during an incident: wait for them to finish or end them (pg_terminate_backend)"
                ),
            });
        }
        Ok(session)
    }

    /// Runs `sql` with the simple query protocol; the last statement's rows are returned.
    pub async fn query(&self, what: &str, sql: &str) -> Result<Table, PgError> {
        let msgs = self
            .client
            .simple_query(sql)
            .await
            .map_err(|e| PgError::Query {
                what: what.to_string(),
                message: db_message(&e),
            })?;
        let mut table = Table::default();
        for m in msgs {
            match m {
                SimpleQueryMessage::RowDescription(cols) => {
                    table = Table {
                        columns: cols.iter().map(|c| c.name().to_string()).collect(),
                        rows: Vec::new(),
                    };
                }
                SimpleQueryMessage::Row(row) => {
                    if table.columns.is_empty() {
                        table.columns =
                            row.columns().iter().map(|c| c.name().to_string()).collect();
                    }
                    table.rows.push(
                        (0..row.len())
                            .map(|i| row.get(i).map(str::to_string))
                            .collect(),
                    );
                }
                _ => {}
            }
        }
        Ok(table)
    }

    /// `server_version_num` (150018 for 15.18).
    pub async fn server_version_num(&self) -> Result<u32, PgError> {
        let t = self
            .query("reading server_version_num", "SHOW server_version_num")
            .await?;
        Ok(t.rows
            .first()
            .and_then(|r| r[0].as_deref())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A named query of `queries/`: a header of `-- key: value` lines, then SQL.
///
/// ```sql
/// -- name: stuck_orders
/// -- description: Orders left in ACTIVE, oldest first
/// -- min_server_version: 10
/// SELECT …
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedQuery {
    /// Name used in playbooks.
    pub name: String,
    /// What it answers.
    pub description: String,
    /// Lowest `server_version_num` it runs on.
    pub min_server_version: Option<u32>,
    /// The SQL.
    pub sql: String,
}

impl NamedQuery {
    /// Parses a query file; `file` is used in messages.
    pub fn parse(file: &str, text: &str) -> Result<NamedQuery, PgError> {
        let mut name = None;
        let mut description = None;
        let mut min = None;
        let mut sql = String::new();
        let mut in_header = true;
        for line in text.lines() {
            if in_header {
                if let Some(rest) = line.strip_prefix("--") {
                    if let Some((k, v)) = rest.split_once(':') {
                        let v = v.trim().to_string();
                        match k.trim() {
                            "name" => name = Some(v),
                            "description" => description = Some(v),
                            "min_server_version" => {
                                let major: u32 = v.parse().map_err(|_| PgError::QueryFile {
                                    file: file.into(),
                                    message: format!(
                                        "min_server_version \"{v}\" is not a major version like 13"
                                    ),
                                })?;
                                min = Some(major * 10_000);
                            }
                            _ => {}
                        }
                    }
                    continue;
                }
                in_header = false;
            }
            sql.push_str(line);
            sql.push('\n');
        }
        let name = name.ok_or_else(|| PgError::QueryFile {
            file: file.into(),
            message: "no `-- name:` line in the header".into(),
        })?;
        if sql.trim().is_empty() {
            return Err(PgError::QueryFile {
                file: file.into(),
                message: "no SQL after the header".into(),
            });
        }
        Ok(NamedQuery {
            name,
            description: description.unwrap_or_default(),
            min_server_version: min,
            sql,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_files_have_a_header() {
        let q = NamedQuery::parse(
            "q.sql",
            "-- name: x\n-- description: d\n-- min_server_version: 13\nSELECT 1;\n",
        )
        .unwrap();
        assert_eq!(q.name, "x");
        assert_eq!(q.min_server_version, Some(130_000));
        assert_eq!(q.sql, "SELECT 1;\n");
        assert!(NamedQuery::parse("q.sql", "SELECT 1;")
            .unwrap_err()
            .to_string()
            .contains("no `-- name:`"));
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        let t = Table {
            columns: vec!["a".into(), "b".into()],
            rows: vec![
                vec![Some("x,y".into()), None],
                vec![Some("say \"hi\"".into()), Some("1".into())],
            ],
        };
        assert_eq!(t.to_csv(), "a,b\n\"x,y\",\n\"say \"\"hi\"\"\",1\n");
        assert_eq!(t.first("b"), None);
    }
}
