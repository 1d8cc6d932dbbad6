//! Apply as a whole: which database, the dry run that shows what would be
//! sent, the run itself and its report (`reports/recovery-apply.md`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use sidik_core::fmt::count;
use sidik_core::Incident;

use crate::guards::Guards;
use crate::journal::{self, Journal, Outcome};
use crate::plan::{Decision, Step};
use crate::sql::{Summary, Target};
use crate::statements::{self, Statement};
use crate::RecoverError;

/// Which database to write to.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A connection string instead of the incident's database.
    pub pg: Option<String>,
    /// The incident's database by name (default `[recover] database`, else the first).
    pub database: Option<String>,
    /// Start again at the first step of the plan.
    pub restart: bool,
}

/// The database apply writes to.
pub fn target(inc: &Incident, o: &Options) -> Result<Target, RecoverError> {
    let name = o
        .database
        .clone()
        .or_else(|| inc.file.recover.database.clone());
    let (url, opts, name) =
        sidik_pg::target::database_url(Some(inc), name.as_deref(), o.pg.as_deref())
            .map_err(RecoverError::Refused)?;
    Ok(Target {
        url,
        search_path: opts.search_path,
        name,
    })
}

/// The statements in force for an incident.
pub fn statements_for(inc: &Incident) -> Result<Vec<Statement>, RecoverError> {
    let folder = inc
        .file
        .recover
        .statements
        .as_deref()
        .map(|s| inc.dir.resolve(s));
    statements::load(folder.as_deref())
}

/// What a dry run shows: per decision, the steps and the statement that
/// would carry them out (or none), and the first steps' bound values.
#[derive(Debug, Clone)]
pub struct DryRun {
    /// Steps per decision, with the statement file (None: nothing applies it).
    pub by_decision: BTreeMap<Decision, (u64, Option<String>)>,
    /// The statements that would run, with the values of their first three steps.
    pub examples: Vec<(Statement, Vec<Vec<String>>)>,
}

/// What apply would do, without connecting anywhere.
pub fn dry_run(steps: &[Step], statements: &[Statement]) -> DryRun {
    let mut by_decision: BTreeMap<Decision, (u64, Option<String>)> = BTreeMap::new();
    let mut examples: Vec<(Statement, Vec<Vec<String>>)> = Vec::new();
    for s in steps {
        let st = statements.iter().find(|st| st.decision == s.decision);
        let e = by_decision
            .entry(s.decision)
            .or_insert_with(|| (0, st.map(|st| st.file.clone())));
        e.0 += 1;
        if let Some(st) = st {
            match examples.iter_mut().find(|(x, _)| x.decision == st.decision) {
                Some((_, v)) if v.len() < 3 => v.push(st.values(s)),
                Some(_) => {}
                None => examples.push((st.clone(), vec![st.values(s)])),
            }
        }
    }
    DryRun {
        by_decision,
        examples,
    }
}

/// How apply writes: SQL on the orders database, or the services' API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The recovery statements on the database.
    Sql,
    /// The `[[recover.http.endpoint]]` requests.
    Http,
}

impl Via {
    /// `sql` or `http`.
    pub fn word(self) -> &'static str {
        match self {
            Via::Sql => "sql",
            Via::Http => "http",
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, RecoverError> {
    sidik_core::process::runtime()
        .map_err(|e| RecoverError::Database(format!("cannot start the async runtime: {e}")))
}

/// Runs apply for an incident: reads the plan, applies it from the cursor
/// on (through SQL or the services' API) and writes the report.
pub fn run(
    inc: &Incident,
    o: &Options,
    via: Via,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&Summary),
) -> Result<(Summary, PathBuf), RecoverError> {
    let (steps, digest) = crate::plan::read(inc)?;
    let g = Guards::for_incident(inc)?;
    let rt = runtime()?;
    let (summary, shown) = match via {
        Via::Sql => {
            let statements = statements_for(inc)?;
            let t = target(inc, o)?;
            let s = rt.block_on(crate::sql::apply(
                inc,
                &steps,
                &digest,
                &statements,
                &g,
                &t,
                o.restart,
                stop,
                progress,
            ))?;
            let shown = format!(
                "Through SQL on database `{}`{}",
                t.name,
                t.search_path
                    .as_deref()
                    .map(|p| format!(" (search_path {p})"))
                    .unwrap_or_default()
            );
            (s, shown)
        }
        Via::Http => {
            let settings = crate::http::Settings::for_incident(inc)?;
            if settings.endpoints.is_empty() {
                return Err(RecoverError::Refused(
                    "incident.toml has no [[recover.http.endpoint]]; add one per decision to replay through a service's API (docs/recover.md), or apply through SQL".into(),
                ));
            }
            let s = rt.block_on(crate::http::apply(
                inc, &steps, &digest, &settings, &g, o.restart, stop, progress,
            ))?;
            let list: Vec<String> = settings
                .endpoints
                .iter()
                .map(|e| {
                    format!(
                        "{} → {} {}",
                        e.decision.word(),
                        e.request.method,
                        e.request.url
                    )
                })
                .collect();
            (
                s,
                format!("Through the services' API ({})", list.join("; ")),
            )
        }
    };
    let report = write_report(inc, &summary, via, &shown, &steps)?;
    Ok((summary, report))
}

/// `reports/recovery-apply.md`: where apply is, what it changed over all
/// its runs, what it skipped and why, how to undo.
pub fn write_report(
    inc: &Incident,
    s: &Summary,
    via: Via,
    shown: &str,
    steps: &[Step],
) -> Result<PathBuf, RecoverError> {
    let j = Journal::of(inc, via.word());
    let audit = journal::read_entries(&j.audit)?;
    let undo = journal::read_entries(&j.undo)?;
    let mut changed: BTreeMap<&str, (u64, std::collections::BTreeSet<usize>)> = BTreeMap::new();
    for e in undo.iter().filter(|e| e.via == via.word()) {
        let c = changed.entry(e.decision.as_str()).or_default();
        c.0 += 1;
        c.1.insert(e.step);
    }
    let done: std::collections::BTreeSet<usize> = undo.iter().map(|e| e.step).collect();
    let mut skipped: BTreeMap<usize, &journal::Entry> = BTreeMap::new();
    for e in audit
        .iter()
        .filter(|e| e.via == via.word() && e.outcome == Outcome::Skipped && !done.contains(&e.step))
    {
        skipped.insert(e.step, e);
    }
    let status = match &s.stopped {
        None if s.next >= s.total => format!("all {} plan steps done", count(s.total as u64)),
        None => format!(
            "at step {} of {}",
            count(s.next as u64 + 1),
            count(s.total as u64)
        ),
        Some(stop) => format!(
            "{} (at step {} of {})",
            stop.describe(),
            count(s.next as u64 + 1),
            count(s.total as u64)
        ),
    };
    let (unit, waited_for) = match via {
        Via::Sql => ("rows changed", "the server's health or a lock"),
        Via::Http => (
            "requests accepted",
            "a retry (5xx, 429, a dropped connection)",
        ),
    };
    let mut md = format!(
        "# Recovery applied\n\n{shown}: {status}.\n\n| decision | {unit} | steps done | steps skipped |\n|---|---:|---:|---:|\n"
    );
    let mut decisions: Vec<&str> = changed.keys().copied().collect();
    for e in skipped.values() {
        if !decisions.contains(&e.decision.as_str()) {
            decisions.push(e.decision.as_str());
        }
    }
    decisions.sort();
    for d in decisions {
        let (rows, steps_done) = changed
            .get(d)
            .map(|(n, s)| (*n, s.len() as u64))
            .unwrap_or_default();
        let sk = skipped.values().filter(|e| e.decision == d).count() as u64;
        let _ = writeln!(
            md,
            "| {d} | {} | {} | {} |",
            count(rows),
            count(steps_done),
            count(sk)
        );
    }
    let na: u64 = s.not_applicable.values().sum();
    if na > 0 {
        let parts: Vec<String> = s
            .not_applicable
            .iter()
            .map(|(d, n)| format!("{} {}", d.word(), count(*n)))
            .collect();
        let _ = writeln!(
            md,
            "\nNot applied by SQL (no statement carries them out; a person or a service's API does): {}.",
            parts.join(", ")
        );
    }
    let _ = writeln!(
        md,
        "\nThis run: {} batches in {:.1} s; waited {} times ({:.1} s) for {waited_for}.{}",
        count(s.batches),
        s.elapsed.as_secs_f64(),
        count(s.throttled),
        s.waited.as_secs_f64(),
        s.recovered
            .as_deref()
            .map(|r| format!(" At start, {r}."))
            .unwrap_or_default()
    );
    let audit_where = match via {
        Via::Sql if s.audit_table => ", also in the table `sidik_audit`",
        Via::Sql => "; the role may not create `sidik_audit`, so the file is the only audit",
        Via::Http => "; every request with its idempotency key and the answer",
    };
    let _ = writeln!(
        md,
        "\nAudit: [{a}](../{a}) ({} entries){audit_where}. Undo: `sidik recover undo --via {} --execute` reverses the {} changes listed in [{u}](../{u}){}.",
        count(audit.len() as u64),
        via.word(),
        count(undo.len() as u64),
        if via == Via::Http {
            " through each endpoint's `undo_url`"
        } else {
            ""
        },
        a = inc.dir.relative(&j.audit),
        u = inc.dir.relative(&j.undo),
    );
    if !skipped.is_empty() {
        let _ = writeln!(
            md,
            "\n## Skipped ({})\n\nNot as the plan saw them any more; nothing was forced. Look at each before re-planning.\n",
            count(skipped.len() as u64)
        );
        for (shown, e) in skipped.values().enumerate() {
            if shown == 50 {
                let _ = writeln!(
                    md,
                    "- … {} more in the audit",
                    count(skipped.len() as u64 - 50)
                );
                break;
            }
            let amount = steps.get(e.step).map(|s| s.amount).unwrap_or_default();
            let _ = writeln!(
                md,
                "- {} {} {}: {}",
                e.order_id,
                e.decision,
                sidik_core::fmt::idr(amount),
                e.reason.as_deref().unwrap_or("")
            );
        }
    }
    let path = inc.dir.reports().join("recovery-apply.md");
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| sidik_core::Error::io("create folder", d, e))?;
    }
    sidik_core::folder::write_atomic(&path, md.as_bytes())?;
    Ok(path)
}
