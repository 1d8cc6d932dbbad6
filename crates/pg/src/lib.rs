//! sidik-pg talks to PostgreSQL during an incident without making it worse:
//! one connection, `application_name = sidik`, a statement timeout, a 50 ms
//! lock timeout, read-only transactions and the simple query protocol (which
//! also works through PgBouncer in transaction mode). It runs the named
//! queries of `queries/` and returns their rows as text, ready for CSV.
//!
//! Passwords never appear in its errors.

#![deny(missing_docs)]

use std::time::Duration;

pub mod sample;
pub mod snapshot;
pub mod statements;
pub mod tls;

use sidik_core::redact;
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

/// A libpq key/value connection string from the `PG*` variables (`PGHOST`,
/// `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`,
/// `PGCONNECT_TIMEOUT`), or `None` when neither `PGHOST` nor `PGDATABASE` is set.
pub fn from_pg_env() -> Option<String> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if get("PGHOST").is_none() && get("PGDATABASE").is_none() {
        return None;
    }
    let mut parts = Vec::new();
    for (var, key) in [
        ("PGHOST", "host"),
        ("PGPORT", "port"),
        ("PGUSER", "user"),
        ("PGPASSWORD", "password"),
        ("PGDATABASE", "dbname"),
        ("PGSSLMODE", "sslmode"),
        ("PGSSLROOTCERT", "sslrootcert"),
        ("PGCONNECT_TIMEOUT", "connect_timeout"),
    ] {
        if let Some(v) = get(var) {
            parts.push(format!(
                "{key}='{}'",
                v.replace('\\', "\\\\").replace('\'', "\\'")
            ));
        }
    }
    Some(parts.join(" "))
}

/// The comment every statement sidik sends starts with, so its own
/// statements can be told apart in pg_stat_statements and pg_stat_activity.
pub const OWN_MARK: &str = "/* sidik */";

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
    /// Column type names (`int8`, `numeric`, `timestamptz` …) when the query
    /// ran with the extended protocol; empty otherwise.
    pub types: Vec<String>,
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
        use sidik_core::fmt::csv_field as field;
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
        let (plain, tls) = tls::split(url)?;
        let mut config: tokio_postgres::Config = plain.parse().map_err(|e| {
            PgError::Config(format!("cannot read the connection string {target}: {e}"))
        })?;
        config.application_name("sidik");
        // A connect_timeout in the connection string wins over the default.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(opts.connect_timeout);
        }
        let failed = |e: tokio_postgres::Error| {
            let message = db_message(&e);
            let message = match tls::hint(&format!("{e:?} {message}")) {
                Some(h) => format!("{message} ({h})"),
                None => message,
            };
            PgError::Connect {
                target: target.clone(),
                message,
            }
        };
        let (client, task) = if tls.mode == tls::SslMode::Disable {
            let (client, conn) = config.connect(NoTls).await.map_err(failed)?;
            (
                client,
                tokio::spawn(async move {
                    let _ = conn.await;
                }),
            )
        } else {
            let (client, conn) = config
                .connect(tls::connector(&tls)?)
                .await
                .map_err(failed)?;
            (
                client,
                tokio::spawn(async move {
                    let _ = conn.await;
                }),
            )
        };
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
            .simple_query(&format!("{OWN_MARK} {sql}"))
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
                        ..Default::default()
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

    /// Runs one statement with its parameters bound as text (the SQL casts
    /// them: `$1::date`). Values come back as text, as psql shows them, with
    /// the column types kept.
    pub async fn query_params(
        &self,
        what: &str,
        sql: &str,
        params: &[String],
    ) -> Result<Table, PgError> {
        use tokio_postgres::types::{ToSql, Type};
        let fail = |e: tokio_postgres::Error| PgError::Query {
            what: what.to_string(),
            message: db_message(&e),
        };
        let body = sql.trim().trim_end_matches(';').trim_end();
        let text_types = vec![Type::TEXT; params.len()];
        let stmt = self
            .client
            .prepare_typed(body, &text_types)
            .await
            .map_err(fail)?;
        let columns: Vec<String> = stmt
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        let types: Vec<String> = stmt
            .columns()
            .iter()
            .map(|c| c.type_().name().to_string())
            .collect();
        let bound: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        if columns.is_empty() {
            self.client.execute(&stmt, &bound).await.map_err(fail)?;
            return Ok(Table {
                columns,
                types,
                rows: Vec::new(),
            });
        }
        // Results come back as text by selecting every column `::text`
        // (renamed positionally, so duplicate names are fine).
        let aliases: Vec<String> = (1..=columns.len()).map(|i| format!("c{i}")).collect();
        let wrapped = format!(
            "{OWN_MARK} SELECT {} FROM ({body}\n) AS sidik_q({})",
            aliases
                .iter()
                .map(|a| format!("{a}::text"))
                .collect::<Vec<_>>()
                .join(", "),
            aliases.join(", ")
        );
        let rows = self
            .client
            .query_typed(
                &wrapped,
                &bound.iter().map(|p| (*p, Type::TEXT)).collect::<Vec<_>>(),
            )
            .await
            .map_err(fail)?;
        Ok(Table {
            columns,
            types,
            rows: rows
                .iter()
                .map(|r| {
                    (0..r.len())
                        .map(|i| r.get::<_, Option<String>>(i))
                        .collect()
                })
                .collect(),
        })
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
/// -- name: payments_by_status
/// -- description: Payments of one day by status
/// -- min_server_version: 10
/// -- param: date (default 2025-01-12): the day, YYYY-MM-DD
/// SELECT payment_status, count(*) FROM payments
/// WHERE created_at::date = $1::date GROUP BY 1;
/// ```
///
/// Parameters are numbered `$1`, `$2` … in the order they are declared and
/// are sent as text, bound (never pasted into the SQL); the SQL casts them
/// (`$1::date`). The body may hold variants, each after a
/// `-- when: server >= 13` or `-- when: pg_stat_statements < 1.8` line; the
/// first whose condition holds runs, SQL before any `-- when:` always applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedQuery {
    /// Name used in playbooks.
    pub name: String,
    /// What it answers.
    pub description: String,
    /// Lowest `server_version_num` it runs on.
    pub min_server_version: Option<u32>,
    /// Its parameters, in `$n` order.
    pub params: Vec<Param>,
    /// The SQL variants, tried in order.
    pub variants: Vec<Variant>,
}

/// A parameter of a named query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Name given on the command line (`--param date=2025-01-12`).
    pub name: String,
    /// Value used when none is given.
    pub default: Option<String>,
    /// What it means.
    pub description: String,
}

/// What a variant depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// `server_version_num` (major versions written as `13`).
    Server,
    /// The installed pg_stat_statements extension version (`1.8` → 10800).
    PgStatStatements,
}

/// One SQL text of a named query and when it applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// `None` always applies; otherwise (subject, at least?, version number).
    pub when: Option<(Subject, bool, u32)>,
    /// The SQL.
    pub sql: String,
}

fn version_number(subject: Subject, v: &str) -> Option<u32> {
    let mut parts = v.split('.');
    let major: u32 = parts.next()?.trim().parse().ok()?;
    let minor: u32 = match parts.next() {
        Some(m) => m.trim().parse().ok()?,
        None => 0,
    };
    Some(match subject {
        Subject::Server => major * 10_000 + minor,
        Subject::PgStatStatements => major * 10_000 + minor * 100,
    })
}

impl NamedQuery {
    /// Parses a query file; `file` is used in messages.
    pub fn parse(file: &str, text: &str) -> Result<NamedQuery, PgError> {
        let bad = |line: usize, message: String| PgError::QueryFile {
            file: format!("{file}:{line}"),
            message,
        };
        let mut name = None;
        let mut description = None;
        let mut min = None;
        let mut params = Vec::new();
        let mut variants = vec![Variant {
            when: None,
            sql: String::new(),
        }];
        let mut in_header = true;
        for (i, line) in text.lines().enumerate() {
            let no = i + 1;
            if in_header && line.trim_start().starts_with("-- when:") {
                in_header = false;
            }
            if in_header {
                if let Some(rest) = line.strip_prefix("--") {
                    if let Some((k, v)) = rest.split_once(':') {
                        let v = v.trim().to_string();
                        match k.trim() {
                            "name" => name = Some(v),
                            "description" => description = Some(v),
                            "min_server_version" => {
                                let major: u32 = v.parse().map_err(|_| {
                                    bad(
                                        no,
                                        format!(
                                        "min_server_version \"{v}\" is not a major version like 13"
                                    ),
                                    )
                                })?;
                                min = Some(major * 10_000);
                            }
                            "param" => {
                                let (head, desc) = v.split_once(':').unwrap_or((v.as_str(), ""));
                                let pname = head.split_whitespace().next().unwrap_or("");
                                if pname.is_empty()
                                    || !pname.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                                {
                                    return Err(bad(no, format!("param \"{v}\" does not start with a name like `date`; write `-- param: date (default 2025-01-12): what it is`")));
                                }
                                let default = head.split_once("(default").map(|(_, d)| {
                                    d.trim().trim_end_matches(')').trim().to_string()
                                });
                                params.push(Param {
                                    name: pname.to_string(),
                                    default,
                                    description: desc.trim().to_string(),
                                });
                            }
                            _ => {}
                        }
                    }
                    continue;
                }
                in_header = false;
            }
            if let Some(cond) = line.trim_start().strip_prefix("-- when:") {
                let c: Vec<&str> = cond.split_whitespace().collect();
                let parsed = match c.as_slice() {
                    [subject, op, version] => {
                        let subject = match *subject {
                            "server" => Some(Subject::Server),
                            "pg_stat_statements" => Some(Subject::PgStatStatements),
                            _ => None,
                        };
                        let at_least = match *op {
                            ">=" => Some(true),
                            "<" => Some(false),
                            _ => None,
                        };
                        match (subject, at_least) {
                            (Some(s), Some(a)) => version_number(s, version).map(|v| (s, a, v)),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                let Some(when) = parsed else {
                    return Err(bad(no, format!("`-- when:{cond}` is not like `-- when: server >= 13` or `-- when: pg_stat_statements < 1.8`")));
                };
                variants.push(Variant {
                    when: Some(when),
                    sql: String::new(),
                });
                continue;
            }
            let last = variants.last_mut().expect("one variant at least");
            last.sql.push_str(line);
            last.sql.push('\n');
        }
        let name = name.ok_or_else(|| PgError::QueryFile {
            file: file.into(),
            message: "no `-- name:` line in the header".into(),
        })?;
        // SQL before the first `-- when:` applies to every variant.
        let common = variants.remove(0).sql;
        if variants.is_empty() {
            variants.push(Variant {
                when: None,
                sql: common,
            });
        } else if !common.trim().is_empty() {
            for v in &mut variants {
                v.sql = format!("{common}{}", v.sql);
            }
        }
        if let Some(v) = variants.iter().find(|v| v.sql.trim().is_empty()) {
            return Err(PgError::QueryFile {
                file: file.into(),
                message: match v.when {
                    None => "no SQL after the header".into(),
                    Some(_) => "a `-- when:` variant has no SQL".into(),
                },
            });
        }
        // `$n` beyond the declared parameters cannot be bound.
        let n = params.len();
        for v in &variants {
            if let Some(k) = placeholders(&v.sql).into_iter().find(|k| *k > n) {
                return Err(PgError::QueryFile {
                    file: file.into(),
                    message: format!(
                        "the SQL uses ${k} but the header declares {n} `-- param:` lines"
                    ),
                });
            }
        }
        Ok(NamedQuery {
            name,
            description: description.unwrap_or_default(),
            min_server_version: min,
            params,
            variants,
        })
    }

    /// The SQL of the first variant whose condition holds, given the server
    /// version and the installed pg_stat_statements version (if any).
    pub fn select(&self, server: u32, pgss: Option<u32>) -> Result<&str, PgError> {
        for v in &self.variants {
            let ok = match v.when {
                None => true,
                Some((Subject::Server, at_least, n)) => (server >= n) == at_least,
                Some((Subject::PgStatStatements, at_least, n)) => {
                    pgss.is_some_and(|have| (have >= n) == at_least)
                }
            };
            if ok {
                return Ok(&v.sql);
            }
        }
        Err(PgError::Query {
            what: format!("query {}", self.name),
            message: format!(
                "none of its variants fits this server (server_version_num {server}, pg_stat_statements {})",
                pgss.map_or("not installed".to_string(), |v| format!("{}.{}", v / 10_000, v / 100 % 100))
            ),
        })
    }

    /// Whether any variant depends on pg_stat_statements.
    pub fn needs_pg_stat_statements(&self) -> bool {
        self.variants
            .iter()
            .any(|v| matches!(v.when, Some((Subject::PgStatStatements, _, _))))
    }

    /// The parameter values in `$n` order: given ones, then defaults. Unknown
    /// or missing names are errors that list what the query takes.
    pub fn bind(&self, given: &[(String, String)]) -> Result<Vec<String>, PgError> {
        let takes = || {
            if self.params.is_empty() {
                "it takes no parameters".to_string()
            } else {
                format!(
                    "it takes {}",
                    self.params
                        .iter()
                        .map(|p| format!("{} ({})", p.name, p.description))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        };
        if let Some((k, _)) = given
            .iter()
            .find(|(k, _)| !self.params.iter().any(|p| &p.name == k))
        {
            return Err(PgError::Config(format!(
                "query {} has no parameter `{k}`; {}",
                self.name,
                takes()
            )));
        }
        self.params
            .iter()
            .map(|p| {
                given
                    .iter()
                    .rev()
                    .find(|(k, _)| k == &p.name)
                    .map(|(_, v)| v.clone())
                    .or_else(|| p.default.clone())
                    .ok_or_else(|| {
                        PgError::Config(format!(
                            "query {} needs --param {}=VALUE ({})",
                            self.name, p.name, p.description
                        ))
                    })
            })
            .collect()
    }
}

/// Runs a named query on `s`: checks the server version, picks the variant
/// for this server and its pg_stat_statements, binds `given` parameters (and
/// defaults). Returns the rows and the SQL that ran. Without parameters the
/// simple protocol is used (it also works through PgBouncer in transaction
/// mode); with them, one unnamed-parameter prepared statement.
pub async fn run_named(
    s: &Session,
    q: &NamedQuery,
    given: &[(String, String)],
) -> Result<(Table, String), PgError> {
    let values = q.bind(given)?;
    let server = s.server_version_num().await?;
    if let Some(min) = q.min_server_version {
        if server < min {
            return Err(PgError::Query {
                what: format!("query {}", q.name),
                message: format!(
                    "it needs PostgreSQL {} or later; the server is {}",
                    min / 10_000,
                    server / 10_000
                ),
            });
        }
    }
    let pgss = if q.needs_pg_stat_statements() {
        statements::extension_version(s)
            .await?
            .map(|v| statements::version_number(&v))
    } else {
        None
    };
    if q.needs_pg_stat_statements() && pgss.is_none() {
        return Err(PgError::Query {
            what: format!("query {}", q.name),
            message: "it reads pg_stat_statements, which is not installed in this database: CREATE EXTENSION pg_stat_statements (and add it to shared_preload_libraries)".into(),
        });
    }
    let sql = q.select(server, pgss)?.to_string();
    let what = format!("query {}", q.name);
    let table = if values.is_empty() {
        s.query(&what, &sql).await?
    } else {
        s.query_params(&what, &sql, &values).await?
    };
    Ok((table, sql))
}

/// The `$n` placeholders in `sql`, outside quotes and comments.
fn placeholders(sql: &str) -> Vec<usize> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' => {
                let q = b[i];
                i += 1;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'$' if i + 1 < b.len() && b[i + 1].is_ascii_digit() => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                if let Ok(n) = sql[start..j].parse() {
                    out.push(n);
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
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
        assert_eq!(q.select(150_000, None).unwrap(), "SELECT 1;\n");
        let v = NamedQuery::parse(
            "v.sql",
            "-- name: v\n-- param: day (default 2025-01-12): the day\n-- when: pg_stat_statements >= 1.8\nSELECT total_exec_time, $1::date;\n-- when: pg_stat_statements < 1.8\nSELECT total_time, $1::date;\n",
        )
        .unwrap();
        assert!(v
            .select(170_000, Some(11_100))
            .unwrap()
            .contains("total_exec_time"));
        assert!(v
            .select(120_000, Some(10_700))
            .unwrap()
            .contains("total_time,"));
        assert!(v.select(120_000, None).is_err());
        assert_eq!(v.bind(&[]).unwrap(), ["2025-01-12"]);
        assert!(v
            .bind(&[("x".into(), "1".into())])
            .unwrap_err()
            .to_string()
            .contains("takes day (the day)"));
        assert!(NamedQuery::parse("w.sql", "-- name: w\nSELECT $2;\n")
            .unwrap_err()
            .to_string()
            .contains("uses $2"));
        assert!(NamedQuery::parse(
            "w.sql",
            "-- name: w\nSELECT 1;\n-- when: server > 13\nSELECT 2;\n"
        )
        .unwrap_err()
        .to_string()
        .contains("w.sql:3"));
        assert!(NamedQuery::parse("q.sql", "SELECT 1;")
            .unwrap_err()
            .to_string()
            .contains("no `-- name:`"));
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        let t = Table {
            types: vec![],
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
