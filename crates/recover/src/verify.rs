//! Verify: reconcile again, from the database (and HO's export when given),
//! and say whether phase 4's success criteria hold: no recoverable order
//! still stuck ("All order gantung recovered") and no break left ("Payment
//! reconciliation completed"; timing items are not breaks).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use sidik_core::fmt::{count, idr};
use sidik_core::Incident;
use sidik_recon::engine::code;
use sidik_recon::engine::Tally;

use crate::plan::{Decision, Rules, Step};
use crate::sql::Target;
use crate::RecoverError;

/// Where verify reads the three sources.
#[derive(Debug, Clone)]
pub enum Source {
    /// The incident's database (the recon queries of `queries/recon/`).
    Database(Target),
    /// The incident's export files.
    Files,
}

/// What verify found.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Where the sources were read, for people.
    pub source: String,
    /// Stuck orders the decision table would still recover (complete, cancel and refund).
    pub stuck_recoverable: Vec<Step>,
    /// Stuck orders left to a person (decision `review`).
    pub stuck_review: Vec<Step>,
    /// Breaks left per category (timing items and matched orders excluded).
    pub breaks: BTreeMap<String, Tally>,
    /// Timing items per category (not breaks).
    pub timing: BTreeMap<String, Tally>,
    /// Why the inputs were incomplete (rows set aside), if they were: then
    /// neither criterion is said of part of the data.
    pub incomplete: Option<String>,
    /// `reports/recovery-verify.md`.
    pub report: PathBuf,
}

impl Verified {
    /// "All order gantung recovered": no recoverable order still stuck.
    pub fn recovered(&self) -> bool {
        self.stuck_recoverable.is_empty() && self.incomplete.is_none()
    }

    /// "Payment reconciliation completed": no break left.
    pub fn reconciled(&self) -> bool {
        self.breaks.is_empty() && self.incomplete.is_none()
    }

    /// Breaks left, and their rupiah.
    pub fn breaks_left(&self) -> (u64, i64) {
        self.breaks
            .values()
            .fold((0, 0), |(n, a), t| (n + t.count, a + t.amount))
    }
}

/// Reconciles from `source` (postings from `ho` instead when given, an HO
/// export relative to the incident) and writes `reports/recovery-verify.md`.
pub fn verify(inc: &Incident, source: &Source, ho: Option<&str>) -> Result<Verified, RecoverError> {
    let s = sidik_recon::output::settings(inc)?;
    let (mut src, mut shown) = match source {
        Source::Database(t) => {
            let opts = sidik_pg::SessionOptions {
                search_path: t.search_path.clone(),
                ..Default::default()
            };
            (
                sidik_recon::db::load_db(&t.url, &opts, &s)?,
                format!("database `{}`", t.name),
            )
        }
        Source::Files => (
            sidik_recon::output::load_files(inc, &s)?,
            "the incident's export files".to_string(),
        ),
    };
    if let Some(f) = ho {
        let rows = sidik_recon::output::file_rows(inc, "postings", f, &s)?;
        let read = sidik_recon::source::postings(rows, &s)?;
        src.postings = read.rows;
        src.rejected.extend(read.rejected);
        shown.push_str(&format!(", HO's postings from {f}"));
    }
    let o = sidik_recon::engine::reconcile_sources(&mut src, &s)?;
    let rules = Rules::for_incident(inc)?;
    let p = crate::plan::plan(&o, &rules, s.as_of);
    let (mut stuck_recoverable, mut stuck_review) = (Vec::new(), Vec::new());
    for st in p
        .steps
        .iter()
        .filter(|st| st.category == code::STATUS_MISMATCH && st.reason == "stuck")
    {
        if matches!(st.decision, Decision::Complete | Decision::CancelRefund) {
            stuck_recoverable.push(st.clone());
        } else {
            stuck_review.push(st.clone());
        }
    }
    let mut breaks = BTreeMap::new();
    let mut timing = BTreeMap::new();
    for (c, t) in &o.by_category {
        if *c == code::MATCHED {
            continue;
        }
        let into = if code::TIMING.contains(c) {
            &mut timing
        } else {
            &mut breaks
        };
        into.insert(c.to_string(), *t);
    }
    let incomplete = (!o.is_complete()).then(|| {
        let mut note = format!(
            "incomplete: {} input rows ({}) were set aside and not reconciled",
            count(o.rejected.count),
            idr(o.rejected.amount)
        );
        for r in src.rejected.iter().take(3) {
            note.push_str(&format!("; {}:{}: {}", r.file, r.line, r.reason));
        }
        if src.rejected.len() > 3 {
            note.push_str(&format!(
                "; … and {} more (sidik recon lists them)",
                src.rejected.len() - 3
            ));
        }
        note
    });
    let mut v = Verified {
        incomplete,
        source: shown,
        stuck_recoverable,
        stuck_review,
        breaks,
        timing,
        report: inc.dir.reports().join("recovery-verify.md"),
    };
    write(inc, &v, &p.steps)?;
    v.report = inc.dir.reports().join("recovery-verify.md");
    Ok(v)
}

fn write(inc: &Incident, v: &Verified, steps: &[Step]) -> Result<(), RecoverError> {
    let yes = |b: bool| if b { "holds" } else { "does not hold yet" };
    let (n, a) = v.breaks_left();
    let mut md = format!(
        "# Recovery verified\n\nReconciled again from {}.{}\n\n| success criterion | verdict | left |\n|---|---|---|\n| All order gantung recovered | {} | {} recoverable stuck orders{} |\n| Payment reconciliation completed | {} | {} breaks ({}) |\n",
        v.source,
        v.incomplete
            .as_deref()
            .map(|n| format!(" **{n}**: neither criterion is said of part of the data."))
            .unwrap_or_default(),
        yes(v.recovered()),
        count(v.stuck_recoverable.len() as u64),
        if v.stuck_review.is_empty() {
            String::new()
        } else {
            format!(
                "; {} left to a person (decision review)",
                count(v.stuck_review.len() as u64)
            )
        },
        yes(v.reconciled()),
        count(n),
        idr(a)
    );
    if !v.breaks.is_empty() {
        let _ = writeln!(
            md,
            "\n## Breaks left\n\n| category | rows | rupiah |\n|---|---:|---:|"
        );
        for (c, t) in &v.breaks {
            let _ = writeln!(md, "| {c} | {} | {} |", count(t.count), idr(t.amount));
        }
        let _ = writeln!(md, "\nWhat the decision table says about them:\n");
        for (shown, s) in steps
            .iter()
            .filter(|s| v.breaks.contains_key(&s.category))
            .enumerate()
        {
            if shown == 30 {
                let _ = writeln!(md, "- … more: `sidik recover plan` lists every one");
                break;
            }
            let _ = writeln!(
                md,
                "- {} {} {}: {} — {}",
                s.order_id,
                s.category,
                idr(s.amount),
                s.decision.word(),
                s.why
            );
        }
    }
    if !v.timing.is_empty() {
        let parts: Vec<String> = v
            .timing
            .iter()
            .map(|(c, t)| format!("{c} {}", count(t.count)))
            .collect();
        let _ = writeln!(
            md,
            "\nTiming items, not breaks: {} (a re-posted charge lands in the current ledger period, so it shows as CROSS_PERIOD).",
            parts.join(", ")
        );
    }
    let path = inc.dir.reports().join("recovery-verify.md");
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| sidik_core::Error::io("create folder", d, e))?;
    }
    sidik_core::folder::write_atomic(&path, md.as_bytes())?;
    Ok(())
}
