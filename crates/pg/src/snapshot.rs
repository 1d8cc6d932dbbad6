//! One look at a server during an incident: what it can show (preflight),
//! its client sessions, saturation against the slots ordinary roles can use,
//! and the blocking tree built from `pg_blocking_pids` (so advisory locks are
//! in it), with findings that say what the numbers mean.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::{PgError, Session};

/// What the server is and what this role may see.
#[derive(Debug, Clone, Serialize)]
pub struct Preflight {
    /// `server_version_num`.
    pub server_version_num: u32,
    /// `max_connections`.
    pub max_connections: i64,
    /// `superuser_reserved_connections`.
    pub superuser_reserved: i64,
    /// `reserved_connections` (PostgreSQL 16+).
    pub reserved: Option<i64>,
    /// Slots ordinary roles can use.
    pub usable_slots: i64,
    /// A replica in recovery.
    pub in_recovery: bool,
    /// The role sees other roles' sessions (superuser or pg_read_all_stats).
    pub sees_all_sessions: bool,
    /// pg_stat_statements extension version, when installed in this database.
    pub pg_stat_statements: Option<String>,
    /// pg_stat_statements in shared_preload_libraries; `None` when the role may not read that setting.
    pub pg_stat_statements_preloaded: Option<bool>,
}

/// One client session.
#[derive(Debug, Clone, Serialize)]
pub struct Backend {
    /// Process id.
    pub pid: i32,
    /// Role.
    pub user: String,
    /// `application_name`.
    pub application: String,
    /// Client address.
    pub client: String,
    /// `state` (`active`, `idle in transaction`, …).
    pub state: String,
    /// Wait event type and event.
    pub wait: String,
    /// Seconds since the transaction started.
    pub xact_age_s: Option<f64>,
    /// Seconds since the query started.
    pub query_age_s: Option<f64>,
    /// Sessions it waits for.
    pub blocked_by: Vec<i32>,
    /// The lock it waits for (`transactionid ShareLock`, `advisory ExclusiveLock`, `relation t AccessShareLock`).
    pub waits_for: Option<String>,
    /// The query (first 200 characters).
    pub query: String,
}

/// A node of the blocking tree.
#[derive(Debug, Clone, Serialize)]
pub struct Node {
    /// The session.
    pub pid: i32,
    /// 0 for a root (blocks others, waits for nobody).
    pub depth: usize,
    /// Sessions waiting directly on it.
    pub children: Vec<i32>,
}

/// A finding: what the numbers mean.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// `critical`, `warning` or `info`.
    pub severity: &'static str,
    /// The sentence.
    pub text: String,
}

/// A snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// When it was taken (this machine's clock), so later readers can tell
    /// whether it falls inside an incident window.
    pub taken_at: chrono::DateTime<chrono::Utc>,
    /// What the server is.
    pub preflight: Preflight,
    /// Client sessions other than sidik's own.
    pub backends: Vec<Backend>,
    /// Client sessions per state.
    pub by_state: BTreeMap<String, usize>,
    /// Client sessions per application.
    pub by_application: BTreeMap<String, usize>,
    /// Client sessions (all, sidik's own included) over usable slots.
    pub saturation: f64,
    /// The blocking tree, roots first, depth-first.
    pub tree: Vec<Node>,
    /// pg_stat_statements top statements, or why there are none.
    pub statements: crate::statements::Statements,
    /// Lock requests by lock type: (granted, waiting).
    pub lock_types: BTreeMap<String, (i64, i64)>,
    /// pg_stat_database counters of every database, since their last reset.
    pub databases: Vec<DatabaseStats>,
    /// Prepared (two-phase) transactions: count and the oldest one's age in seconds.
    pub prepared: (i64, Option<f64>),
    /// What it means.
    pub findings: Vec<Finding>,
}

/// One database's pg_stat_database counters.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DatabaseStats {
    /// Database.
    pub datname: String,
    /// Sessions connected to it.
    pub numbackends: i64,
    /// Transactions committed.
    pub xact_commit: i64,
    /// Transactions rolled back.
    pub xact_rollback: i64,
    /// Deadlocks detected.
    pub deadlocks: i64,
    /// Temporary files written.
    pub temp_files: i64,
    /// Bytes in temporary files.
    pub temp_bytes: i64,
    /// When these counters were last reset (`None`: never, since the cluster started).
    pub stats_reset: Option<String>,
}

/// pg_stat_database for every database with a name.
pub async fn database_stats(s: &Session) -> Result<Vec<DatabaseStats>, PgError> {
    let t = s
        .query(
            "reading pg_stat_database",
            "SELECT datname, numbackends, xact_commit, xact_rollback, deadlocks, temp_files, temp_bytes, stats_reset::text AS stats_reset \
             FROM pg_stat_database WHERE datname IS NOT NULL ORDER BY datname",
        )
        .await?;
    let n = |r: &Vec<Option<String>>, i: usize| {
        r[i].as_deref().and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    Ok(t.rows
        .iter()
        .map(|r| DatabaseStats {
            datname: r[0].clone().unwrap_or_default(),
            numbackends: n(r, 1),
            xact_commit: n(r, 2),
            xact_rollback: n(r, 3),
            deadlocks: n(r, 4),
            temp_files: n(r, 5),
            temp_bytes: n(r, 6),
            stats_reset: r[7].clone(),
        })
        .collect())
}

/// Reads what the server is and what the role can see.
pub async fn preflight(s: &Session) -> Result<Preflight, PgError> {
    let t = s
        .query(
            "preflight",
            "SELECT current_setting('server_version_num') AS v, current_setting('max_connections') AS maxc, \
             current_setting('superuser_reserved_connections') AS sup, \
             current_setting('reserved_connections', true) AS res, pg_is_in_recovery()::text AS rec, \
             (SELECT rolsuper OR pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER') FROM pg_roles WHERE rolname = current_user)::text AS sees, \
             (SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements') AS pgss, \
             (SELECT (setting LIKE '%pg_stat_statements%')::text FROM pg_settings WHERE name = 'shared_preload_libraries') AS preload",
        )
        .await?;
    let maxc: i64 = t.first_required("maxc")?;
    let sup: i64 = t.first_required("sup")?;
    // `reserved_connections` is PostgreSQL 16's; older servers give NULL.
    let res: Option<i64> = t.first_as("res")?;
    Ok(Preflight {
        server_version_num: t.first_required("v")?,
        max_connections: maxc,
        superuser_reserved: sup,
        reserved: res,
        usable_slots: maxc - sup - res.unwrap_or(0),
        in_recovery: t.first("rec") == Some("true"),
        sees_all_sessions: t.first("sees") == Some("true"),
        pg_stat_statements: t.first("pgss").map(str::to_string),
        pg_stat_statements_preloaded: t.first("preload").map(|v| v == "true"),
    })
}

fn pid_list(s: &str) -> Vec<i32> {
    s.trim_matches(['{', '}'])
        .split(',')
        .filter_map(|p| p.trim().parse().ok())
        .collect()
}

/// Takes a snapshot: sessions, saturation, blocking tree, findings.
pub async fn snapshot(s: &Session) -> Result<Snapshot, PgError> {
    let preflight = preflight(s).await?;
    // pg_blocking_pids takes the lock manager's locks: call it only for sessions waiting on a lock.
    let t = s
        .query(
            "reading pg_stat_activity",
            "SELECT a.pid, coalesce(a.usename, '') AS usename, coalesce(a.application_name, '') AS app, \
             coalesce(a.client_addr::text, 'local') AS client, coalesce(a.state, '') AS state, \
             coalesce(a.wait_event_type || ':' || a.wait_event, '') AS wait, \
             extract(epoch FROM now() - a.xact_start)::float8 AS xact_age, \
             extract(epoch FROM now() - a.query_start)::float8 AS query_age, \
             CASE WHEN a.wait_event_type = 'Lock' THEN pg_blocking_pids(a.pid) ELSE '{}'::int[] END AS blocked_by, \
             (SELECT l.locktype || ' ' || coalesce(l.relation::regclass::text || ' ', '') || l.mode FROM pg_locks l \
                WHERE l.pid = a.pid AND NOT l.granted LIMIT 1) AS waits_for, \
             left(coalesce(a.query, ''), 200) AS query, (a.pid = pg_backend_pid())::text AS me \
             FROM pg_stat_activity a \
             WHERE a.backend_type = 'client backend' OR (a.backend_type IS NULL AND a.usename IS NOT NULL) ORDER BY a.pid",
        )
        .await?;
    let col = |name: &str| {
        t.columns
            .iter()
            .position(|c| c == name)
            .expect("column in the query")
    };
    let (ip, iu, ia, ic, ist, iw, ix, iq, ib, il, iqt, ime) = (
        col("pid"),
        col("usename"),
        col("app"),
        col("client"),
        col("state"),
        col("wait"),
        col("xact_age"),
        col("query_age"),
        col("blocked_by"),
        col("waits_for"),
        col("query"),
        col("me"),
    );
    let get = |r: &Vec<Option<String>>, i: usize| r[i].clone().unwrap_or_default();
    let all_clients = t.rows.len();
    let backends: Vec<Backend> = t
        .rows
        .iter()
        .filter(|r| r[ime].as_deref() != Some("true"))
        .map(|r| Backend {
            pid: get(r, ip).parse().unwrap_or(0),
            user: get(r, iu),
            application: get(r, ia),
            client: get(r, ic),
            state: get(r, ist),
            wait: get(r, iw),
            xact_age_s: r[ix].as_deref().and_then(|v| v.parse().ok()),
            query_age_s: r[iq].as_deref().and_then(|v| v.parse().ok()),
            blocked_by: pid_list(&get(r, ib)),
            waits_for: r[il].clone(),
            query: get(r, iqt),
        })
        .collect();
    let mut by_state = BTreeMap::new();
    let mut by_application = BTreeMap::new();
    for b in &backends {
        *by_state
            .entry(if b.state.is_empty() {
                "(unknown)".to_string()
            } else {
                b.state.clone()
            })
            .or_insert(0) += 1;
        *by_application
            .entry(if b.application.is_empty() {
                "(none)".to_string()
            } else {
                b.application.clone()
            })
            .or_insert(0) += 1;
    }
    let saturation = if preflight.usable_slots > 0 {
        all_clients as f64 / preflight.usable_slots as f64
    } else {
        0.0
    };
    let tree = blocking_tree(&backends);
    let locks = s
        .query(
            "reading pg_locks",
            "SELECT locktype, count(*) FILTER (WHERE granted) AS granted, count(*) FILTER (WHERE NOT granted) AS waiting \
             FROM pg_locks WHERE pid IS DISTINCT FROM pg_backend_pid() GROUP BY locktype ORDER BY locktype",
        )
        .await?;
    let lock_types: BTreeMap<String, (i64, i64)> = locks
        .rows
        .iter()
        .map(|r| {
            let n = |i: usize| r[i].as_deref().and_then(|v| v.parse().ok()).unwrap_or(0);
            (r[0].clone().unwrap_or_default(), (n(1), n(2)))
        })
        .collect();
    let databases = database_stats(s).await?;
    let px = s
        .query(
            "reading pg_prepared_xacts",
            "SELECT count(*) AS n, extract(epoch FROM now() - min(prepared))::float8 AS oldest FROM pg_prepared_xacts",
        )
        .await?;
    let prepared = (px.first_required("n")?, px.first_as("oldest")?);
    let mut findings = findings(&preflight, &backends, &tree, saturation, all_clients);
    race_findings(&mut findings, &backends, &databases, &lock_types, prepared);
    let statements = match crate::statements::top(s, 10).await {
        Ok(st) => st,
        Err(e) => crate::statements::Statements::Unavailable(format!(
            "pg_stat_statements could not be read: {e}"
        )),
    };
    if let crate::statements::Statements::Unavailable(why) = &statements {
        findings.retain(|f| !f.text.starts_with("pg_stat_statements"));
        findings.push(Finding {
            severity: "info",
            text: why.clone(),
        });
    }
    Ok(Snapshot {
        taken_at: chrono::Utc::now(),
        preflight,
        backends,
        by_state,
        by_application,
        saturation,
        tree,
        statements,
        lock_types,
        databases,
        prepared,
        findings,
    })
}

/// Deadlocks, row-lock waits, long and prepared transactions. Evidence for
/// the race hypothesis is worded as "consistent with": locks show that
/// transactions collided, not why.
fn race_findings(
    f: &mut Vec<Finding>,
    backends: &[Backend],
    databases: &[DatabaseStats],
    lock_types: &BTreeMap<String, (i64, i64)>,
    prepared: (i64, Option<f64>),
) {
    for d in databases.iter().filter(|d| d.deadlocks > 0) {
        f.push(Finding {
            severity: "warning",
            text: format!(
                "{} deadlock(s) detected in database {} since {}: consistent with a race in the payment flow (transactions updating the same orders or payments in different orders); the PostgreSQL log has both statements of each",
                d.deadlocks,
                d.datname,
                d.stats_reset
                    .as_deref()
                    .map_or("the server started".to_string(), |r| format!("the statistics reset at {r}"))
            ),
        });
    }
    let row_waits: i64 = ["transactionid", "tuple"]
        .iter()
        .filter_map(|k| lock_types.get(*k))
        .map(|(_, w)| *w)
        .sum();
    if row_waits > 0 {
        f.push(Finding {
            severity: "warning",
            text: format!("{row_waits} session(s) wait for row locks (transactionid/tuple): consistent with concurrent updates of the same rows; not proof of a race by itself"),
        });
    }
    let long: Vec<&Backend> = backends
        .iter()
        .filter(|b| b.xact_age_s.is_some_and(|a| a >= 60.0))
        .collect();
    if let Some(oldest) = long.iter().max_by(|a, b| {
        a.xact_age_s
            .unwrap_or(0.0)
            .total_cmp(&b.xact_age_s.unwrap_or(0.0))
    }) {
        f.push(Finding {
            severity: "warning",
            text: format!(
                "{} transaction(s) open for a minute or more; the oldest, pid {} ({}), for {:.0} s",
                long.len(),
                oldest.pid,
                if oldest.application.is_empty() {
                    "no application name"
                } else {
                    &oldest.application
                },
                oldest.xact_age_s.unwrap_or(0.0)
            ),
        });
    }
    if prepared.0 > 0 {
        f.push(Finding {
            severity: "warning",
            text: format!(
                "{} prepared transaction(s), the oldest {:.0} s old: they hold their locks until COMMIT PREPARED or ROLLBACK PREPARED",
                prepared.0,
                prepared.1.unwrap_or(0.0)
            ),
        });
    }
}

/// The blocking tree: a waiter hangs under the blocker that is itself
/// waiting, so chains show their full depth; cycles are cut where they close.
pub fn blocking_tree(backends: &[Backend]) -> Vec<Node> {
    let blocked: BTreeMap<i32, &Vec<i32>> = backends
        .iter()
        .filter(|b| !b.blocked_by.is_empty())
        .map(|b| (b.pid, &b.blocked_by))
        .collect();
    let mut parent: BTreeMap<i32, i32> = BTreeMap::new();
    for (w, blockers) in &blocked {
        let p = blockers
            .iter()
            .find(|b| blocked.contains_key(b) && **b != *w)
            .or_else(|| blockers.first());
        if let Some(p) = p {
            parent.insert(*w, *p);
        }
    }
    let mut children: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for (c, p) in &parent {
        children.entry(*p).or_default().push(*c);
    }
    let mut roots: Vec<i32> = children
        .keys()
        .filter(|p| !parent.contains_key(p))
        .copied()
        .collect();
    // A cycle (a deadlock being detected) has no root: start it at its lowest pid.
    let mut seen: BTreeSet<i32> = BTreeSet::new();
    let mut out = Vec::new();
    let walk = |root: i32, out: &mut Vec<Node>, seen: &mut BTreeSet<i32>| {
        let mut stack = vec![(root, 0usize)];
        while let Some((pid, depth)) = stack.pop() {
            if !seen.insert(pid) {
                continue;
            }
            let kids = children.get(&pid).cloned().unwrap_or_default();
            for k in kids.iter().rev() {
                stack.push((*k, depth + 1));
            }
            out.push(Node {
                pid,
                depth,
                children: kids,
            });
        }
    };
    roots.sort();
    for r in roots {
        walk(r, &mut out, &mut seen);
    }
    let leftover: Vec<i32> = parent
        .keys()
        .filter(|p| !seen.contains(p))
        .copied()
        .collect();
    for p in leftover {
        walk(p, &mut out, &mut seen);
    }
    out
}

fn findings(
    p: &Preflight,
    backends: &[Backend],
    tree: &[Node],
    saturation: f64,
    all: usize,
) -> Vec<Finding> {
    let mut f = Vec::new();
    let pct = saturation * 100.0;
    // Who holds the slots: the application with the most sessions.
    let mut per_app: BTreeMap<&str, usize> = BTreeMap::new();
    for b in backends {
        *per_app.entry(b.application.as_str()).or_insert(0) += 1;
    }
    let holder = per_app
        .iter()
        .max_by_key(|(app, n)| (**n, std::cmp::Reverse(**app)))
        .map(|(app, n)| {
            let app = if app.is_empty() {
                "(no application name)"
            } else {
                app
            };
            format!("; application {app} holds {n}")
        })
        .unwrap_or_default();
    if saturation >= 0.9 {
        f.push(Finding { severity: "critical", text: format!("usable connection slots {pct:.0} % used ({all} of {}){holder}: new connections will be refused with `too many clients`", p.usable_slots) });
    } else if saturation >= 0.7 {
        f.push(Finding {
            severity: "warning",
            text: format!(
                "usable connection slots {pct:.0} % used ({all} of {}){holder}",
                p.usable_slots
            ),
        });
    } else {
        f.push(Finding { severity: "info", text: format!("usable connection slots {pct:.0} % used ({all} of {}); if the services report pool exhaustion, their own pools are the limit, not the database", p.usable_slots) });
    }
    if !p.sees_all_sessions {
        f.push(Finding { severity: "warning", text: "partial visibility: this role sees only its own sessions' details (others' state, query and type are hidden, so counts may include a background worker); GRANT pg_read_all_stats (or pg_monitor) to it".into() });
    }
    match (&p.pg_stat_statements, p.pg_stat_statements_preloaded.unwrap_or(true)) {
        (None, true) => f.push(Finding { severity: "info", text: "pg_stat_statements is preloaded but not installed in this database: CREATE EXTENSION pg_stat_statements".into() }),
        (None, false) | (Some(_), false) => f.push(Finding { severity: "info", text: "pg_stat_statements is not in shared_preload_libraries: no statement statistics (needs a restart to add)".into() }),
        _ => {}
    }
    let by_pid: BTreeMap<i32, &Backend> = backends.iter().map(|b| (b.pid, b)).collect();
    for root in tree.iter().filter(|n| n.depth == 0) {
        let waiting = count_below(tree, root.pid);
        let Some(b) = by_pid.get(&root.pid) else {
            continue;
        };
        let age = b
            .xact_age_s
            .map(|a| format!(" for {a:.0} s"))
            .unwrap_or_default();
        let app = if b.application.is_empty() {
            String::new()
        } else {
            format!(" ({})", b.application)
        };
        if b.state.starts_with("idle in transaction") {
            f.push(Finding {
                severity: "critical",
                text: format!("pid {}{app} is {}{age} and blocks {waiting} session(s): the application holds a transaction open across something else, such as a network call", root.pid, b.state),
            });
        } else {
            f.push(Finding {
                severity: "warning",
                text: format!(
                    "pid {}{app} ({}) blocks {waiting} session(s)",
                    root.pid, b.state
                ),
            });
        }
    }
    let depth = tree.iter().map(|n| n.depth).max().unwrap_or(0);
    if depth >= 2 {
        f.push(Finding {
            severity: "warning",
            text: format!("a lock chain {} levels deep", depth + 1),
        });
    }
    f
}

fn count_below(tree: &[Node], pid: i32) -> usize {
    let Some(n) = tree.iter().find(|n| n.pid == pid) else {
        return 0;
    };
    n.children.len()
        + n.children
            .iter()
            .map(|c| count_below(tree, *c))
            .sum::<usize>()
}
