//! sidik-pg talks to PostgreSQL during an incident without making it worse:
//! one connection, `application_name = sidik`, a statement timeout, a 50 ms
//! lock timeout, a connect deadline and a deadline on every round trip, TCP
//! keepalives, and read-only sessions. It runs the named queries of
//! `queries/` and returns their rows as text, ready for CSV.
//!
//! Read-only holds by construction, not by convention: a query file holds
//! exactly one `SELECT`-like statement ([`check_read_only`], checked before
//! anything is sent), which runs with the extended protocol (one statement
//! a message) as a subquery inside a `READ ONLY` transaction that is always
//! rolled back. Only sidik's own fixed SQL uses the simple protocol.
//!
//! Secrets never leave it: passwords are masked in its errors, and every
//! value read from a server that looks like a statement text passes
//! [`sidik_core::redact_statement`] before a caller sees it.
//!
//! Its playbook steps (`pg.query`, `pg.snapshot`, `pg.sample`) are in
//! [`actions`], the snapshot report in [`report`], which database a command
//! reaches in [`target`], and query results as typed polars frames in
//! [`frame`].

#![deny(missing_docs)]

use std::time::Duration;

pub mod actions;
pub mod frame;
pub mod queries;
pub mod report;
pub mod sample;
pub mod snapshot;
pub mod statements;
pub mod target;
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
    /// A statement could not be run or answered (sidik's own checks, a
    /// deadline, a lost connection).
    #[error("{what} failed: {message}")]
    Query {
        /// What was running.
        what: String,
        /// Why.
        message: String,
    },
    /// The server answered a statement with an error.
    #[error("{what} failed: {message}")]
    Server {
        /// What was running.
        what: String,
        /// The server's message with its SQLSTATE and DETAIL, as shown (redacted).
        message: String,
        /// The SQLSTATE (`55P03`, `57014`).
        sqlstate: String,
        /// The server's DETAIL, redacted.
        detail: Option<String>,
        /// The server's HINT, redacted.
        hint: Option<String>,
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

    /// The index of `column`: an error naming the result's columns when it
    /// has none, so a query and its reader that disagree fail loudly.
    pub fn column(&self, column: &str) -> Result<usize, PgError> {
        self.columns
            .iter()
            .position(|c| c == column)
            .ok_or_else(|| PgError::Query {
                what: format!("reading column `{column}`"),
                message: format!(
                    "the result has no column `{column}` (its columns: {})",
                    self.columns.join(", ")
                ),
            })
    }

    /// `column` of the first row read as a `T`: `None` for SQL NULL or no
    /// row; an error when the column is missing or its value is not a `T`.
    pub fn first_as<T: std::str::FromStr>(&self, column: &str) -> Result<Option<T>, PgError> {
        let i = self.column(column)?;
        match self
            .rows
            .first()
            .and_then(|r| r.get(i))
            .and_then(|v| v.as_deref())
        {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| PgError::Query {
                what: format!("reading column `{column}`"),
                message: format!(
                    "`{v}` is not a {}",
                    std::any::type_name::<T>()
                        .rsplit("::")
                        .next()
                        .unwrap_or("value")
                ),
            }),
        }
    }

    /// `column` of the first row read as a `T`, which must be there: an
    /// error for a missing column, NULL, no row or a value that is not a `T`.
    pub fn first_required<T: std::str::FromStr>(&self, column: &str) -> Result<T, PgError> {
        self.first_as(column)?.ok_or_else(|| PgError::Query {
            what: format!("reading column `{column}`"),
            message: "no value (NULL or no row) where the server always gives one".into(),
        })
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
    /// `host:port` as connected, for messages.
    target: String,
    /// How long any one round trip may take before the session gives up
    /// (the statement timeout plus the connect timeout, so the server's own
    /// timeout fires first whenever the server still answers).
    deadline: Duration,
}

impl PgError {
    /// The error of a failed statement: [`PgError::Server`] with the
    /// server's SQLSTATE, DETAIL and HINT when the server answered, else
    /// [`PgError::Query`] with the error's causes.
    pub fn statement(what: &str, e: &tokio_postgres::Error) -> PgError {
        match e.as_db_error() {
            Some(d) => PgError::Server {
                what: what.to_string(),
                message: db_message(e),
                sqlstate: d.code().code().to_string(),
                detail: d.detail().map(|x| redact(x).into_owned()),
                hint: d.hint().map(|x| redact(x).into_owned()),
            },
            None => PgError::Query {
                what: what.to_string(),
                message: db_message(e),
            },
        }
    }

    /// The SQLSTATE, when the server answered with an error.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            PgError::Server { sqlstate, .. } => Some(sqlstate),
            _ => None,
        }
    }
}

fn db_message(e: &tokio_postgres::Error) -> String {
    let m = match e.as_db_error() {
        Some(d) => {
            let mut m = format!("{} (SQLSTATE {})", d.message(), d.code().code());
            if let Some(detail) = d.detail() {
                m.push_str(&format!("; {detail}"));
            }
            m
        }
        None => error_chain(e),
    };
    redact(&m).into_owned()
}

/// An error and its causes, outermost first (`error connecting to server:
/// Connection refused (os error 111)`).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cause = c.source();
    }
    out
}

/// Why a connection failed, in words a person can act on.
fn connect_cause(e: &tokio_postgres::Error, at: &str) -> String {
    if e.as_db_error().is_some() {
        return db_message(e);
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            let what = match io.kind() {
                K::ConnectionRefused => Some(format!(
                    "connection refused: nothing listens on {at}; check that the server runs and the host and port are right"
                )),
                K::TimedOut => Some(format!(
                    "timed out reaching {at}: the host does not answer (a firewall, or the wrong address)"
                )),
                K::NotFound if at.starts_with('/') => Some(format!(
                    "no socket at {at}: the server is not running there, or the socket folder or port is wrong"
                )),
                K::ConnectionReset | K::UnexpectedEof => Some(format!(
                    "{at} closed the connection during the handshake: is it PostgreSQL, or is the TLS setting (sslmode) right?"
                )),
                _ => None,
            };
            if let Some(w) = what {
                return w;
            }
            let text = io.to_string();
            if text.contains("lookup address")
                || text.contains("Name or service not known")
                || text.contains("nodename nor servname")
            {
                return format!(
                    "no such host: {at} does not resolve ({text}); check the host name"
                );
            }
        }
        cause = c.source();
    }
    redact(&error_chain(e)).into_owned()
}

/// Where a connection goes, as `host:port` (or the socket path).
fn describe_target(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let port = config.get_ports().first().copied().unwrap_or(5432);
    match config.get_hosts().first() {
        Some(Host::Tcp(h)) => format!("{h}:{port}"),
        #[cfg(unix)]
        Some(Host::Unix(p)) => format!("{}/.s.PGSQL.{port}", p.display()),
        None => format!("localhost:{port}"),
    }
}

/// The connect timeout libpq would use: the connection string's
/// `connect_timeout`, else `PGCONNECT_TIMEOUT`, else `default`. As in libpq,
/// zero means "no limit" there; sidik keeps its default instead, since a
/// diagnosis that never returns helps nobody.
fn connect_timeout(config: &tokio_postgres::Config, default: Duration) -> Duration {
    let from_env = std::env::var("PGCONNECT_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&s| s > 0)
        .map(Duration::from_secs);
    config
        .get_connect_timeout()
        .copied()
        .filter(|d| !d.is_zero())
        .or(from_env)
        .unwrap_or(default)
}

/// Commands a query file may hold: reads that a subquery can wrap.
const READ_COMMANDS: &[&str] = &["SELECT", "WITH", "VALUES", "TABLE"];

/// Functions that act on the server from inside a `SELECT`, which a
/// read-only transaction does not stop: they end sessions, reset the
/// statistics an investigation reads, change settings, take locks, reach
/// files, or write through another connection (dblink). A query file that
/// calls one is refused.
const ACTING_FUNCTIONS: &[&str] = &[
    "PG_TERMINATE_BACKEND",
    "PG_CANCEL_BACKEND",
    "PG_RELOAD_CONF",
    "PG_ROTATE_LOGFILE",
    "PG_STAT_RESET",
    "PG_STAT_RESET_SHARED",
    "PG_STAT_RESET_SINGLE_TABLE_COUNTERS",
    "PG_STAT_RESET_SINGLE_FUNCTION_COUNTERS",
    "PG_STAT_RESET_SLRU",
    "PG_STAT_RESET_REPLICATION_SLOT",
    "PG_STAT_RESET_SUBSCRIPTION_STATS",
    "PG_STAT_STATEMENTS_RESET",
    "SET_CONFIG",
    "PG_ADVISORY_LOCK",
    "PG_ADVISORY_LOCK_SHARED",
    "PG_ADVISORY_XACT_LOCK",
    "PG_ADVISORY_XACT_LOCK_SHARED",
    "PG_TRY_ADVISORY_LOCK",
    "PG_TRY_ADVISORY_LOCK_SHARED",
    "PG_TRY_ADVISORY_XACT_LOCK",
    "PG_TRY_ADVISORY_XACT_LOCK_SHARED",
    "PG_SWITCH_WAL",
    "PG_CREATE_RESTORE_POINT",
    "PG_PROMOTE",
    "PG_CREATE_PHYSICAL_REPLICATION_SLOT",
    "PG_CREATE_LOGICAL_REPLICATION_SLOT",
    "PG_DROP_REPLICATION_SLOT",
    "PG_LOGICAL_EMIT_MESSAGE",
    "PG_FILE_WRITE",
    "PG_FILE_UNLINK",
    "PG_FILE_RENAME",
    "LO_IMPORT",
    "LO_EXPORT",
    "LO_UNLINK",
    "DBLINK",
    "DBLINK_EXEC",
    "DBLINK_CONNECT",
    "DBLINK_CONNECT_U",
    "DBLINK_SEND_QUERY",
];

/// Checks that `sql` holds exactly one statement and that it only reads:
/// a `SELECT`, `WITH … SELECT`, `VALUES` or `TABLE`, with no data-modifying
/// `WITH` part, no quote or comment left open. `first_line` is the file line
/// `sql` starts on; errors name `file:line`. Returns the statement's text
/// without its `;` and surrounding comments.
pub fn check_read_only<'a>(
    file: &str,
    first_line: usize,
    sql: &'a str,
) -> Result<&'a str, PgError> {
    let line = |offset: usize| first_line + sidik_core::sql::line_of(sql, offset) - 1;
    check_read_only_at(file, sql, &line)
}

fn check_read_only_at<'a>(
    file: &str,
    sql: &'a str,
    line: &dyn Fn(usize) -> usize,
) -> Result<&'a str, PgError> {
    use sidik_core::sql::{statements, tokens, Kind};
    let at = |offset: usize| format!("{file}:{}", line(offset));
    if let Some(t) = tokens(sql).into_iter().find(|t| t.unterminated) {
        let what = match t.kind {
            Kind::Comment => "a /* comment is never closed",
            Kind::QuotedIdent => "a \"quoted name\" is never closed",
            _ => "a quoted string is never closed",
        };
        return Err(PgError::QueryFile {
            file: at(t.span.start),
            message: format!("{what}; sidik sends a query only when it can tell where it ends"),
        });
    }
    let stmts = statements(sql);
    let snippet = |s: &sidik_core::sql::Statement| {
        let text = sql[s.span.clone()]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        match text.char_indices().nth(60) {
            Some((i, _)) => format!("{}…", &text[..i]),
            None => text,
        }
    };
    let one = match stmts.as_slice() {
        [] => {
            return Err(PgError::QueryFile {
                file: file.into(),
                message: "no SQL statement".into(),
            })
        }
        [one] => one,
        [_, second, ..] => {
            return Err(PgError::QueryFile {
                file: at(second.span.start),
                message: format!(
                    "a second statement (`{}`): a query file holds exactly one statement, and sidik runs nothing of a file that holds {}",
                    snippet(second),
                    stmts.len()
                ),
            })
        }
    };
    let command = one.command(sql).unwrap_or_default();
    if !READ_COMMANDS.contains(&command.as_str()) {
        let shown = if command.is_empty() {
            snippet(one)
        } else {
            command.clone()
        };
        return Err(PgError::QueryFile {
            file: at(one.span.start),
            message: format!(
                "`{shown}` is not a query: diagnostics run one SELECT (or WITH … SELECT, VALUES, TABLE) in a read-only transaction; {}",
                match command.as_str() {
                    "SHOW" => "read a setting with `SELECT current_setting('name')`",
                    "EXPLAIN" => "run EXPLAIN with psql",
                    "SET" | "RESET" | "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK"
                    | "ABORT" | "SAVEPOINT" | "RELEASE" | "PREPARE" | "DISCARD" =>
                        "sidik sets the session and the transaction itself, and a query cannot change them",
                    _ => "writes are remediation steps, which run only with --approve",
                }
            ),
        });
    }
    for w in one.tokens.windows(2) {
        if w[0].kind == Kind::Word && w[1].kind == Kind::Open {
            let name = sql[w[0].span.clone()].to_ascii_uppercase();
            if ACTING_FUNCTIONS.contains(&name.as_str()) {
                return Err(PgError::QueryFile {
                    file: at(w[0].span.start),
                    message: format!(
                        "`{}(…)` acts on the server (a read-only transaction does not stop it); diagnostics only read",
                        &sql[w[0].span.clone()]
                    ),
                });
            }
        }
        if w[0].kind == Kind::Open && w[1].kind == Kind::Word {
            let inner = sql[w[1].span.clone()].to_ascii_uppercase();
            if ["INSERT", "UPDATE", "DELETE", "MERGE"].contains(&inner.as_str()) {
                return Err(PgError::QueryFile {
                    file: at(w[1].span.start),
                    message: format!(
                        "`{inner}` inside the query: a WITH part that writes is refused; diagnostics only read"
                    ),
                });
            }
        }
    }
    Ok(&sql[one.span.clone()])
}

/// A value read from the server, with the secrets a statement text may
/// carry masked (see [`sidik_core::redact::redact_statement`]). Every value
/// that leaves a [`Session`] passes through here.
fn cell(v: &str) -> String {
    if sidik_core::redact::looks_like_statement(v) {
        sidik_core::redact_statement(v).into_owned()
    } else {
        v.to_string()
    }
}

/// `SET search_path = …;` for a comma-separated list of schemas, each
/// quoted as an identifier.
pub fn set_search_path(schemas: &str) -> String {
    let quoted: Vec<String> = schemas
        .split(',')
        .map(|s| format!("\"{}\"", s.trim().replace('"', "\"\"")))
        .collect();
    format!("SET search_path = {};", quoted.join(", "))
}

/// A connection as opened by [`dial`], before any session setting.
#[derive(Debug)]
pub struct Dialed {
    /// The client.
    pub client: tokio_postgres::Client,
    /// The task driving the connection; abort it to close.
    pub task: tokio::task::JoinHandle<()>,
    /// `host:port` (or the socket), for messages.
    pub target: String,
    /// The connect timeout in force.
    pub limit: Duration,
}

/// Opens a connection to `url` (a `postgres://` URL or libpq key/value
/// pairs) with `application_name = sidik`, TLS as `sslmode` asks, TCP
/// keepalives and the connect timeout (`connect_timeout` in the string, else
/// `PGCONNECT_TIMEOUT`, else `default_timeout`), and sets nothing else.
///
/// Diagnostics never call it: they use [`Session::connect`], which makes
/// the session read-only. The one other caller is sidik-recover's approved
/// remediation, which sets its own guards.
pub async fn dial(url: &str, default_timeout: Duration) -> Result<Dialed, PgError> {
    let shown = redact(url).into_owned();
    let (plain, tls) = tls::split(url)?;
    let mut config: tokio_postgres::Config = plain.parse().map_err(|e| {
        PgError::Config(format!(
            "cannot read the connection string {shown}: {}",
            redact(&error_chain(&e))
        ))
    })?;
    config.application_name("sidik");
    let limit = connect_timeout(&config, default_timeout);
    config.connect_timeout(limit);
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30))
        .keepalives_interval(Duration::from_secs(10))
        .keepalives_retries(3);
    let at = describe_target(&config);
    let opened = async {
        let failed = |e: tokio_postgres::Error| {
            let message = connect_cause(&e, &at);
            let message = match tls::hint(&format!("{e:?} {message}")) {
                Some(h) => format!("{message} ({h})"),
                None => message,
            };
            PgError::Connect {
                target: at.to_string(),
                message,
            }
        };
        if tls.mode == tls::SslMode::Disable {
            let (client, conn) = config.connect(NoTls).await.map_err(failed)?;
            Ok::<_, PgError>((
                client,
                tokio::spawn(async move {
                    let _ = conn.await;
                }),
            ))
        } else {
            let (client, conn) = config
                .connect(tls::connector(&tls)?)
                .await
                .map_err(failed)?;
            Ok((
                client,
                tokio::spawn(async move {
                    let _ = conn.await;
                }),
            ))
        }
    };
    match tokio::time::timeout(limit, opened).await {
        Ok(r) => {
            let (client, task) = r?;
            Ok(Dialed {
                client,
                task,
                target: at,
                limit,
            })
        }
        Err(_) => Err(PgError::Connect {
            target: at.clone(),
            message: format!(
                "no answer within {} s (connect_timeout): {at} accepted the connection but never answered, or the network drops packets; check the host and port, or raise connect_timeout in the URL or PGCONNECT_TIMEOUT",
                limit.as_secs_f64()
            ),
        }),
    }
}

impl Session {
    /// Connects to `url` (a `postgres://` URL or libpq key/value pairs) and
    /// sets the session up read-only with timeouts.
    ///
    /// The whole connection (TCP, TLS, authentication and the session's
    /// setup) must finish within the connect timeout: `connect_timeout` from
    /// the connection string, else `PGCONNECT_TIMEOUT`, else
    /// `opts.connect_timeout`. TCP keepalives notice a peer that vanished.
    pub async fn connect(url: &str, opts: &SessionOptions) -> Result<Session, PgError> {
        let Dialed {
            client,
            task,
            target,
            limit,
        } = dial(url, opts.connect_timeout).await?;
        let deadline = opts.statement_timeout + limit;
        match tokio::time::timeout(limit, Self::setup(client, task, opts, &target, deadline)).await
        {
            Ok(r) => r,
            Err(_) => Err(PgError::Connect {
                target: target.clone(),
                message: format!(
                    "no answer within {} s (connect_timeout) while setting the session up; check the server's load, or raise connect_timeout in the URL or PGCONNECT_TIMEOUT",
                    limit.as_secs_f64()
                ),
            }),
        }
    }

    async fn setup(
        client: tokio_postgres::Client,
        task: tokio::task::JoinHandle<()>,
        opts: &SessionOptions,
        at: &str,
        deadline: Duration,
    ) -> Result<Session, PgError> {
        let mut setup = format!(
            "SET statement_timeout = {}; SET lock_timeout = {}; SET default_transaction_read_only = on; SET idle_in_transaction_session_timeout = 60000;",
            opts.statement_timeout.as_millis(),
            opts.lock_timeout.as_millis()
        );
        if let Some(sp) = &opts.search_path {
            setup.push_str(&format!(" {}", set_search_path(sp)));
        }
        client
            .batch_execute(&setup)
            .await
            .map_err(|e| PgError::statement("session setup", &e))?;
        let session = Session {
            client,
            task,
            target: at.to_string(),
            deadline,
        };
        // Diagnostics must not add to a connection storm: refuse when several
        // sidik sessions are already connected to this server.
        let others = session
            .query(
                "counting sidik sessions",
                "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'sidik' AND pid <> pg_backend_pid()",
            )
            .await?;
        let n: usize = others.first_required("n")?;
        if n >= MAX_OTHER_SIDIK_SESSIONS {
            return Err(PgError::Connect {
                target: at.to_string(),
                message: format!(
                    "{n} other sidik sessions are already connected; sidik uses one connection and does not add more during an incident: wait for them to finish or end them (pg_terminate_backend)"
                ),
            });
        }
        Ok(session)
    }

    /// Runs `fut` against the session's deadline.
    async fn within<T>(
        &self,
        what: &str,
        fut: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, PgError> {
        match tokio::time::timeout(self.deadline, fut).await {
            Ok(r) => r.map_err(|e| PgError::statement(what, &e)),
            Err(_) => Err(PgError::Query {
                what: what.to_string(),
                message: format!(
                    "{} gave no answer within {} s (the statement timeout plus the connect timeout): the server stopped answering; sidik gave up",
                    self.target,
                    self.deadline.as_secs_f64()
                ),
            }),
        }
    }

    /// Runs sidik's own `sql` (never a user's) with the simple query
    /// protocol; the last statement's rows are returned, every value through
    /// the statement redactor.
    pub(crate) async fn query(&self, what: &str, sql: &str) -> Result<Table, PgError> {
        let text = format!("{OWN_MARK} {sql}");
        let msgs = self.within(what, self.client.simple_query(&text)).await?;
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
                    table
                        .rows
                        .push((0..row.len()).map(|i| row.get(i).map(cell)).collect());
                }
                _ => {}
            }
        }
        Ok(table)
    }

    /// Runs one read-only statement — a `SELECT`, `WITH … SELECT`, `VALUES`
    /// or `TABLE`, checked by [`check_read_only`] before it is sent — with
    /// its parameters bound as text (the SQL casts them: `$1::date`).
    ///
    /// It runs with the extended protocol (one statement, never several)
    /// as a subquery (`SELECT … FROM (statement) AS q`, so a utility command
    /// cannot even parse) inside a `READ ONLY` transaction that sidik opens
    /// and always rolls back. Values come back as text, as psql shows them,
    /// with the column types kept, every value through the statement
    /// redactor.
    pub async fn query_read_only(
        &self,
        what: &str,
        sql: &str,
        params: &[String],
    ) -> Result<Table, PgError> {
        let body = check_read_only(what, 1, sql)?;
        self.within(
            "opening a read-only transaction",
            self.client.batch_execute("BEGIN READ ONLY"),
        )
        .await?;
        let result = self.read_in_transaction(what, body, params).await;
        // Whatever happened, nothing of the transaction is kept.
        let end = self
            .within(
                "ending the read-only transaction",
                self.client.batch_execute("ROLLBACK"),
            )
            .await;
        let table = match result {
            Err(PgError::Server {
                what,
                message,
                sqlstate,
                ..
            }) if sqlstate == "55P03" => {
                let holders = if end.is_ok() {
                    self.lock_holders().await
                } else {
                    None
                };
                return Err(PgError::Query {
                    what,
                    message: format!(
                        "{message}: {}; sidik does not queue behind an incident's locks. Run it again once the lock is released (`sidik pg snapshot` shows the blocking tree)",
                        holders.unwrap_or_else(|| "no table lock held by another session is visible now (it may have been released)".into())
                    ),
                });
            }
            other => other?,
        };
        end?;
        Ok(table)
    }

    /// Who holds an ACCESS EXCLUSIVE table lock (the only one a read
    /// waits for) in this database, for a lock-timeout message: `public.t is
    /// locked by pid 123 (idle in transaction for 40 s: LOCK TABLE …)`.
    async fn lock_holders(&self) -> Option<String> {
        let t = self
            .query(
                "finding who holds the lock",
                "SELECT l.relation::regclass::text AS rel, l.pid, coalesce(a.state, '') AS state, coalesce(extract(epoch FROM now() - a.xact_start)::int, 0) AS secs, left(coalesce(a.query, ''), 100) AS query FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.granted AND l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock' AND l.pid <> pg_backend_pid() AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY a.xact_start NULLS LAST LIMIT 5",
            )
            .await
            .ok()?;
        let col =
            |r: &Vec<Option<String>>, i: usize| r.get(i).cloned().flatten().unwrap_or_default();
        let held: Vec<String> = t
            .rows
            .iter()
            .map(|r| {
                format!(
                    "{} is locked by pid {} ({} for {} s: {})",
                    col(r, 0),
                    col(r, 1),
                    col(r, 2),
                    col(r, 3),
                    col(r, 4).split_whitespace().collect::<Vec<_>>().join(" ")
                )
            })
            .collect();
        (!held.is_empty()).then(|| held.join("; "))
    }

    async fn read_in_transaction(
        &self,
        what: &str,
        body: &str,
        params: &[String],
    ) -> Result<Table, PgError> {
        use tokio_postgres::types::{ToSql, Type};
        let text_types = vec![Type::TEXT; params.len()];
        let stmt = self
            .within(what, self.client.prepare_typed(body, &text_types))
            .await?;
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
        if columns.is_empty() {
            return Err(PgError::Query {
                what: what.to_string(),
                message: "the statement returns no columns; a diagnostic query must return rows"
                    .into(),
            });
        }
        let bound: Vec<(&(dyn ToSql + Sync), Type)> = params
            .iter()
            .map(|p| (p as &(dyn ToSql + Sync), Type::TEXT))
            .collect();
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
            .within(what, self.client.query_typed(&wrapped, &bound))
            .await?;
        Ok(Table {
            columns,
            types,
            rows: rows
                .iter()
                .map(|r| {
                    (0..r.len())
                        .map(|i| r.get::<_, Option<&str>>(i).map(cell))
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
    /// The line of the query file its own SQL starts on.
    pub line: usize,
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
            line: 1,
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
                    line: no + 1,
                });
                continue;
            }
            let last = variants.last_mut().expect("one variant at least");
            if last.sql.is_empty() && last.when.is_none() {
                last.line = no;
            }
            last.sql.push_str(line);
            last.sql.push('\n');
        }
        let name = name.ok_or_else(|| PgError::QueryFile {
            file: file.into(),
            message: "no `-- name:` line in the header".into(),
        })?;
        // SQL before the first `-- when:` applies to every variant.
        let common = variants.remove(0);
        let common_len = common.sql.len();
        let common_line = common.line;
        let shared = !common.sql.trim().is_empty();
        if variants.is_empty() {
            variants.push(common.clone());
        } else if shared {
            for v in &mut variants {
                v.sql = format!("{}{}", common.sql, v.sql);
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
        // One statement that only reads, or nothing of the file runs.
        for v in &variants {
            let own = if shared && v.when.is_some() {
                common_len
            } else {
                0
            };
            let line = |offset: usize| {
                if offset < own {
                    common_line + sidik_core::sql::line_of(&v.sql[..own], offset) - 1
                } else {
                    v.line + sidik_core::sql::line_of(&v.sql[own..], offset - own) - 1
                }
            };
            check_read_only_at(file, &v.sql, &line)?;
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
/// defaults). Returns the rows and the SQL that ran. It runs read-only by
/// construction ([`Session::query_read_only`]): one statement, the extended
/// protocol, a read-only transaction that is rolled back.
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
    let table = s.query_read_only(&what, &sql, &values).await?;
    Ok((table, sql))
}

/// The `$n` placeholders in `sql`, outside quotes and comments.
pub fn placeholders(sql: &str) -> Vec<usize> {
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
    fn a_query_file_holds_one_statement_that_only_reads() {
        let err = |text: &str| NamedQuery::parse("q.sql", text).unwrap_err().to_string();
        // The probe's bypasses, each refused with the line of the part that is not one SELECT.
        let e = err("-- name: x\nSELECT 1;\nSET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; COMMIT;\nINSERT INTO t VALUES (1);\n");
        assert!(
            e.starts_with("q.sql:3: a second statement (`SET SESSION"),
            "{e}"
        );
        assert!(e.contains("holds 4"), "{e}");
        let e =
            err("-- name: x\nSET default_transaction_read_only = off;\nCOMMIT;\nDELETE FROM t\n");
        assert!(e.starts_with("q.sql:3:"), "{e}");
        for (text, want) in [
            ("COMMIT", "`COMMIT` is not a query"),
            ("set transaction read write", "`SET` is not a query"),
            ("DELETE FROM t", "writes are remediation steps"),
            ("SHOW max_connections", "current_setting"),
            (
                "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
                "`DELETE` inside the query",
            ),
            ("SELECT pg_stat_statements_reset()", "acts on the server"),
            (
                "SELECT set_config('default_transaction_read_only', 'off', false)",
                "acts on the server",
            ),
            ("SELECT 'unclosed", "never closed"),
            ("SELECT 1 /* unclosed", "never closed"),
        ] {
            let e = err(&format!("-- name: x\n\n{text}\n"));
            assert!(e.starts_with("q.sql:3: "), "{text}: {e}");
            assert!(e.contains(want), "{text}: {e}");
        }
        // Semicolons inside literals, identifiers and comments are not statement ends.
        let ok = NamedQuery::parse(
            "q.sql",
            "-- name: x\nSELECT ';' AS \"a;b\", $$;$$ /* ; */ -- ;\n;\n-- done\n",
        )
        .unwrap();
        let sql = ok.select(150_000, None).unwrap();
        assert_eq!(
            check_read_only("q.sql", 2, sql).unwrap(),
            "SELECT ';' AS \"a;b\", $$;$$"
        );
        // A variant's line counts from the file, not from the variant.
        let e = NamedQuery::parse(
            "v.sql",
            "-- name: v\n-- when: server >= 13\nSELECT 1\n-- when: server < 13\nSELECT 2; DROP TABLE t\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("v.sql:5: a second statement (`DROP TABLE t`)"),
            "{e}"
        );
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

    #[test]
    fn typed_getters_fail_loudly_on_a_missing_column_or_a_bad_value() {
        let t = Table {
            types: vec![],
            columns: vec!["maxc".into(), "res".into(), "word".into()],
            rows: vec![vec![Some("100".into()), None, Some("many".into())]],
        };
        assert_eq!(t.first_required::<i64>("maxc").unwrap(), 100);
        assert_eq!(t.first_as::<i64>("res").unwrap(), None);
        let e = t.first_required::<i64>("max_conn").unwrap_err().to_string();
        assert!(
            e.contains("the result has no column `max_conn` (its columns: maxc, res, word)"),
            "{e}"
        );
        let e = t.first_as::<i64>("word").unwrap_err().to_string();
        assert!(e.contains("`many` is not a i64"), "{e}");
        let e = t.first_required::<i64>("res").unwrap_err().to_string();
        assert!(e.contains("no value"), "{e}");
    }
}
