//! The playbook actions of the reconciliation: `recon.run` (the three
//! sources reconciled, from files or the database) and `collect.export`
//! (one export profiled as reconciliation reads it).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use sidik_core::fmt::{capitalise, count, idr};
use sidik_core::Incident;
use sidik_playbook::tools::{fill, write_file, write_json};
use sidik_playbook::{Action, Context, OrFail, Outcome, Registry, StepResult};

use crate::engine::Outcome as Reconciled;
use crate::source::Sources;

/// Registers the actions of this crate.
pub fn register(r: &mut Registry) {
    r.register(ReconRun);
    r.register(CollectExport);
}

/// Reconciles payments, HO postings and orders (sidik-recon).
struct ReconRun;

/// Fills `{CODE}` (rows), `{CODE:idr}` (rupiah), `{stuck}`, `{breaks}`,
/// `{breaks:idr}` (the rupiah at stake, each charge once) and `{matched}`
/// from a reconciliation.
fn fill_recon(template: &str, o: &Reconciled) -> String {
    let breaks: Vec<&crate::engine::Break> = o
        .breaks
        .iter()
        .filter(|b| !crate::engine::code::TIMING.contains(&b.category))
        .collect();
    fill(template, |_, name, fmt| {
        let tally = o.by_category.get(name).copied().unwrap_or_default();
        match (name, fmt) {
            ("stuck", _) => count(o.stuck.len() as i64),
            ("matched", _) => count(o.matched_orders as i64),
            // Each charge once: a stuck order's unposted charge is two breaks of the same money.
            ("breaks", "idr") => idr(o.at_stake()),
            ("breaks", _) => count(breaks.len() as i64),
            (_, "idr") => idr(tally.amount),
            _ => count(tally.count as i64),
        }
    })
}

impl Action for ReconRun {
    fn name(&self) -> &'static str {
        "recon.run"
    }
    fn summary(&self) -> &'static str {
        "Reconcile UPG payments, HO postings and orders: breaks by category with rupiah, stuck orders, a re-push batch"
    }
    fn params(&self) -> &'static [&'static str] {
        &["from", "database", "expect_clean", "result"]
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        let r = ctx.incident.file.sources.recon.clone().unwrap_or_default();
        [r.orders, r.payments, r.postings]
            .into_iter()
            .flatten()
            .map(|f| ctx.incident.dir.resolve(f))
            .collect()
    }
    fn run(&self, ctx: &Context) -> StepResult {
        let inc = &ctx.incident;
        let s = crate::output::settings(inc).or_fail()?;
        let mut src = match ctx.str_param("from").unwrap_or("files") {
            "files" => crate::output::load_files(inc, &s).or_fail()?,
            "db" => {
                let db = match sidik_pg::actions::database(ctx)? {
                    Ok(db) => db,
                    Err(skipped) => return Ok(skipped),
                };
                crate::db::load_db(&db.url, &db.options, &s).or_fail()?
            }
            other => return Err(format!("`from` must be files or db, not {other:?}")),
        };
        let o = crate::engine::reconcile_sources(&mut src, &s).or_fail()?;
        let w = crate::output::write_all(inc, &o, &src, &s, &ctx.report_path()).or_fail()?;
        let mut result = fill_recon(
            ctx.str_param("result")
                .unwrap_or("{breaks} breaks ({breaks:idr}); {MISSING_IN_HO} charges not posted to HO ({MISSING_IN_HO:idr}); {stuck} stuck orders"),
            &o,
        );
        let clean = ctx
            .params
            .get("expect_clean")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        if !o.is_complete() {
            result = format!(
                "INCOMPLETE, {} rows ({}) set aside: {result}",
                count(o.rejected.count),
                idr(o.rejected.amount)
            );
            // "Reconciliation completed" cannot be said of part of the data.
            if clean {
                return Err(format!(
                    "{}; see {}",
                    partial_note(&o, &src, inc),
                    inc.dir.relative(&w.report)
                ));
            }
        }
        if clean && o.has_breaks() {
            return Err(format!("{result}; see {}", inc.dir.relative(&w.report)));
        }
        Ok(Outcome::reported(w.report, w.evidence, result))
    }
}

/// Profiles one data export (payments, HO postings, orders).
struct CollectExport;

impl CollectExport {
    fn file(ctx: &Context) -> Result<(PathBuf, &'static str), String> {
        let r = ctx.incident.file.sources.recon.clone().unwrap_or_default();
        let (path, noun) = match ctx.str_param("source") {
            Some("payments") => (r.payments, "payments"),
            Some("postings") => (r.postings, "HO postings"),
            Some("orders") => (r.orders, "orders"),
            other => {
                return Err(format!(
                    "parameter `source` must be payments, postings or orders, not {other:?}"
                ))
            }
        };
        let path = path.ok_or_else(|| {
            format!(
                "{} names no {noun} export under [sources.recon]",
                ctx.incident.dir.config_path().display()
            )
        })?;
        Ok((ctx.incident.dir.resolve(path), noun))
    }
}

impl Action for CollectExport {
    fn name(&self) -> &'static str {
        "collect.export"
    }
    fn summary(&self) -> &'static str {
        "Profile a data export (payments, HO postings, orders): rows, statuses, amounts, time range; malformed rows set aside"
    }
    fn params(&self) -> &'static [&'static str] {
        &["source"]
    }
    fn required(&self) -> &'static [&'static str] {
        &["source"]
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        CollectExport::file(ctx)
            .map(|f| vec![f.0])
            .unwrap_or_default()
    }
    fn run(&self, ctx: &Context) -> StepResult {
        let inc = &ctx.incident;
        let (path, noun) = CollectExport::file(ctx)?;
        let rel = inc.dir.relative(&path);
        if !path.is_file() {
            return Err(format!(
                "{rel} not found; export the {noun} into the incident folder"
            ));
        }
        let source = ctx.str_param("source").unwrap_or("payments");
        let which =
            crate::profile::Export::parse(source).unwrap_or(crate::profile::Export::Payments);
        // Read as recon reads it: the same column map, value words, signs
        // and times, so the figures ticked here are the ones recon uses.
        let settings = crate::output::settings(inc).or_fail()?;
        let rows = crate::output::file_rows(inc, which.source(), &rel, &settings).or_fail()?;
        let p = crate::profile::profile(which, rows, &settings).or_fail()?;
        let ms = |t: i64| DateTime::<Utc>::from_timestamp_millis(t).unwrap_or_default();
        let local = |t: i64| sidik_core::time::local(t, inc.tz, sidik_core::time::Shown::Minutes);
        let range = match p.span {
            Some((f, l)) => format!("{} – {} {}", local(f), local(l), inc.tz),
            None => "no row with a readable time".to_string(),
        };
        let group_word = match which {
            crate::profile::Export::Payments => "kind and status",
            crate::profile::Export::Postings => "journal type",
            crate::profile::Export::Orders => "status",
        };
        let groups: Vec<String> = p
            .groups
            .iter()
            .map(|(k, (n, _))| format!("{k} {}", count(*n as i64)))
            .collect();
        let mut result = format!(
            "{} {noun}: {}; {range}",
            count(p.rows as i64),
            groups.join(" · ")
        );
        if !p.rejected.is_empty() {
            result.push_str(&format!("; {} malformed rows set aside", p.rejected.len()));
        }
        let mut md = format!(
            "# {}\n\nFile: [{rel}](../{rel}), {} rows, {range}. Read as reconciliation reads it (`[recon]` column and value maps of incident.toml).\n\n",
            capitalise(noun),
            count(p.rows as i64)
        );
        if !p.problems.is_empty() {
            md.push_str("**Not usable as it is** (the task is left unticked):\n\n");
            for w in &p.problems {
                let _ = writeln!(md, "- {w}");
            }
            md.push('\n');
        }
        let _ = writeln!(md, "| {group_word} | rows | amount |\n|---|---:|---:|");
        for (k, (n, a)) in &p.groups {
            let _ = writeln!(md, "| {k} | {} | {} |", count(*n as i64), idr(*a));
        }
        let mut outputs = Vec::new();
        if !p.rejected.is_empty() {
            let _ = writeln!(md, "\n## Rows set aside ({})\n", p.rejected.len());
            for r in p.rejected.iter().take(50) {
                let _ = writeln!(md, "- line {}: {}", r.line, r.reason);
            }
            let mut aside = csv::WriterBuilder::new()
                .flexible(true)
                .from_writer(Vec::new());
            let _ = aside.write_record(["line", "reason", "fields"]);
            for r in &p.rejected {
                let mut row = vec![r.line.to_string(), r.reason.clone()];
                row.extend(r.fields.iter().cloned());
                let _ = aside.write_record(&row);
            }
            let aside_path = ctx.evidence_path("rejected.csv");
            let text = aside
                .into_inner()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            write_file(&aside_path, &text)?;
            outputs.push(aside_path);
        }
        let evidence = ctx.evidence_path("json");
        let json = serde_json::json!({
            "file": rel, "rows": p.rows,
            "first": p.span.map(|s| ms(s.0)), "last": p.span.map(|s| ms(s.1)),
            "by_group": p.groups.iter().map(|(k, (n, a))| (k.clone(), serde_json::json!({"rows": n, "amount": a}))).collect::<BTreeMap<_, _>>(),
            "rejected": p.rejected.iter().map(|r| format!("line {}: {}", r.line, r.reason)).collect::<Vec<_>>(),
            "problems": p.problems,
        });
        write_json(&evidence, &json)?;
        let report = ctx.write_report(&md)?;
        outputs.push(evidence);
        if !p.problems.is_empty() {
            return Err(format!(
                "{}; see {}",
                p.problems.join("; "),
                inc.dir.relative(&report)
            ));
        }
        Ok(Outcome::reported(report, outputs, result))
    }
}

/// What an incomplete reconciliation tells the person: how many rows were
/// set aside, their rupiah, the first few with file, line and reason.
pub fn partial_note(o: &Reconciled, src: &Sources, inc: &Incident) -> String {
    let mut note = format!(
        "incomplete: {} input rows ({}) were set aside and not reconciled; every one with its file, line and reason in {}",
        count(o.rejected.count),
        idr(o.rejected.amount),
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
