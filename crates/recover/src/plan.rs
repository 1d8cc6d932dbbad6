//! The recovery plan: each reconciliation finding with the decision the
//! decision table gives it.
//!
//! The table (`crates/recover/decisions.toml`, built in) maps a finding's
//! category, its reason and, for stuck orders, whether the trip ended
//! before the cut-off, to a decision; the first matching rule wins. An
//! incident's own `decisions.toml` puts its rules first, so a team can send
//! stuck orders whose trip has not ended to `cancel_refund` instead of
//! `review`, say. A finding no rule matches goes to `review`: nothing is
//! decided by default.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sidik_core::fmt::{count, idr};
use sidik_core::Incident;
use sidik_recon::engine::Outcome;

use crate::RecoverError;

/// The shipped decision table.
pub const SHIPPED: &str = include_str!("../decisions.toml");

/// What to do about one finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Set a stuck ACTIVE order to COMPLETE (charge settled, trip ended).
    Complete,
    /// Cancel the order and refund its charge.
    CancelRefund,
    /// Refund a second charge that was not given back.
    RefundDuplicate,
    /// Post the charge to HO.
    Repost,
    /// Post a settled refund to HO.
    PostRefund,
    /// Nothing to recover (a timing item).
    Leave,
    /// A person decides.
    Review,
}

impl Decision {
    /// The word used in files and reports.
    pub fn word(self) -> &'static str {
        match self {
            Decision::Complete => "complete",
            Decision::CancelRefund => "cancel_refund",
            Decision::RefundDuplicate => "refund_duplicate",
            Decision::Repost => "repost",
            Decision::PostRefund => "post_refund",
            Decision::Leave => "leave",
            Decision::Review => "review",
        }
    }
}

/// When a rule applies, beyond its category and reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    /// The order's trip ended before the cut-off.
    TripEnded,
    /// It did not, or its end is not known.
    TripNotEnded,
}

/// One row of the decision table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The finding's category (`MISSING_IN_HO` …).
    pub category: String,
    /// Its reason (`stuck` …); any when left out.
    pub reason: Option<String>,
    /// The trip condition; any when left out.
    pub when: Option<When>,
    /// What to do.
    pub decision: Decision,
    /// Why, for the person reading the plan.
    pub why: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    #[serde(default)]
    rule: Vec<Rule>,
}

/// The decision table in force: the incident's rules, then the shipped ones.
#[derive(Debug, Clone)]
pub struct Rules {
    /// In the order they are tried.
    pub rules: Vec<Rule>,
    /// Where they came from.
    pub sources: Vec<String>,
}

impl Rules {
    /// Parses a table; the error names `what` and the line.
    pub fn parse(text: &str, what: &str) -> Result<Vec<Rule>, RecoverError> {
        toml::from_str::<Table>(text)
            .map(|t| t.rule)
            .map_err(|e| RecoverError::Config(format!("{what}: {e}")))
    }

    /// The shipped table, after `<incident>/decisions.toml` when there is one.
    pub fn for_incident(inc: &Incident) -> Result<Rules, RecoverError> {
        let mut rules = Vec::new();
        let mut sources = Vec::new();
        let own = inc.dir.root().join("decisions.toml");
        if own.is_file() {
            let text = std::fs::read_to_string(&own)
                .map_err(|e| RecoverError::Config(format!("cannot read {}: {e}", own.display())))?;
            rules.extend(Rules::parse(&text, &own.display().to_string())?);
            sources.push(inc.dir.relative(&own));
        }
        rules.extend(Rules::parse(SHIPPED, "crates/recover/decisions.toml")?);
        sources.push("built in".to_string());
        Ok(Rules { rules, sources })
    }

    /// The first rule for a finding, if any.
    pub fn decide(&self, category: &str, reason: &str, trip_ended: bool) -> Option<&Rule> {
        self.rules.iter().find(|r| {
            r.category == category
                && r.reason.as_deref().is_none_or(|x| x == reason)
                && match r.when {
                    None => true,
                    Some(When::TripEnded) => trip_ended,
                    Some(When::TripNotEnded) => !trip_ended,
                }
        })
    }
}

/// One finding and what to do about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// The order.
    pub order_id: String,
    /// The payment concerned (the charge to re-post, the duplicate to refund …).
    pub payment_id: Option<String>,
    /// The journal line concerned.
    pub posting_id: Option<String>,
    /// The finding's category.
    pub category: String,
    /// Its reason.
    pub reason: String,
    /// What to do.
    pub decision: Decision,
    /// The rupiah it concerns.
    pub amount: i64,
    /// Why (the rule's words).
    pub why: String,
    /// Where the finding was read (`file:line`).
    pub source: String,
}

/// The plan.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// One step per finding, in the reconciliation's order (by order id).
    pub steps: Vec<Step>,
    /// Steps and rupiah per decision.
    pub totals: BTreeMap<Decision, (u64, i64)>,
}

/// The plan for a reconciliation's findings.
pub fn plan(o: &Outcome, rules: &Rules, as_of: i64) -> Plan {
    let trip_end: BTreeMap<&str, Option<i64>> = o
        .stuck
        .iter()
        .map(|s| (s.order_id.as_str(), s.trip_end_at))
        .collect();
    let mut p = Plan::default();
    for b in &o.breaks {
        let ended = trip_end
            .get(b.order_id.as_str())
            .copied()
            .flatten()
            .is_some_and(|e| e <= as_of);
        let (decision, why) = match rules.decide(b.category, b.reason, ended) {
            Some(r) => (r.decision, r.why.clone()),
            None => (
                Decision::Review,
                "no rule of the decision table matches this finding".to_string(),
            ),
        };
        let t = p.totals.entry(decision).or_default();
        t.0 += 1;
        t.1 += b.amount;
        p.steps.push(Step {
            order_id: b.order_id.clone(),
            payment_id: b.payment_id.clone(),
            posting_id: b.posting_id.clone(),
            category: b.category.to_string(),
            reason: b.reason.to_string(),
            decision,
            amount: b.amount,
            why,
            source: b.source.clone(),
        });
    }
    p
}

/// What [`write`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    /// `evidence/recovery/plan.csv` and `plan.json`.
    pub evidence: Vec<PathBuf>,
    /// `reports/recovery-plan.md`.
    pub report: PathBuf,
}

/// `plan.json`: the totals of the plan.
#[derive(Debug, Serialize)]
struct PlanFile<'a> {
    version: u32,
    as_of: String,
    decision_table: &'a [String],
    by_decision: BTreeMap<&'static str, sidik_evidence::recon::Tally>,
    steps: usize,
}

/// Writes the plan: `evidence/recovery/plan.csv` (every step), `plan.json`
/// (totals) and `reports/recovery-plan.md`.
pub fn write(inc: &Incident, p: &Plan, rules: &Rules, as_of: i64) -> Result<Written, RecoverError> {
    let dir = inc.dir.evidence().join("recovery");
    std::fs::create_dir_all(&dir).map_err(|e| sidik_core::Error::io("create folder", &dir, e))?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| RecoverError::Config(format!("cannot write the plan: {e}"));
    w.write_record([
        "order_id",
        "payment_id",
        "posting_id",
        "category",
        "reason",
        "decision",
        "amount",
        "why",
        "source",
    ])
    .map_err(io)?;
    for s in &p.steps {
        w.write_record([
            s.order_id.as_str(),
            s.payment_id.as_deref().unwrap_or(""),
            s.posting_id.as_deref().unwrap_or(""),
            &s.category,
            &s.reason,
            s.decision.word(),
            &s.amount.to_string(),
            &s.why,
            &s.source,
        ])
        .map_err(io)?;
    }
    let csv_bytes = w
        .into_inner()
        .map_err(|e| RecoverError::Config(format!("cannot write the plan: {e}")))?;
    let csv_path = dir.join("plan.csv");
    sidik_core::folder::write_atomic(&csv_path, &csv_bytes)?;
    let json_path = dir.join("plan.json");
    let file = PlanFile {
        version: sidik_evidence::VERSION,
        as_of: sidik_evidence::time::rfc3339(as_of, inc.tz),
        decision_table: &rules.sources,
        by_decision: p
            .totals
            .iter()
            .map(|(d, (n, a))| {
                (
                    d.word(),
                    sidik_evidence::recon::Tally {
                        amount: *a,
                        count: *n,
                    },
                )
            })
            .collect(),
        steps: p.steps.len(),
    };
    sidik_evidence::write_json(&json_path, &file)?;
    let report = inc.dir.reports().join("recovery-plan.md");
    if let Some(d) = report.parent() {
        std::fs::create_dir_all(d).map_err(|e| sidik_core::Error::io("create folder", d, e))?;
    }
    sidik_core::folder::write_atomic(
        &report,
        markdown(inc, p, rules, as_of, &csv_path).as_bytes(),
    )?;
    Ok(Written {
        evidence: vec![csv_path, json_path],
        report,
    })
}

fn markdown(inc: &Incident, p: &Plan, rules: &Rules, as_of: i64, csv: &Path) -> String {
    let rel = inc.dir.relative(csv);
    let mut md = format!(
        "# Recovery plan\n\nOne decision per reconciliation finding at the cut-off {} (decision table: {}). Nothing has been changed: this is the plan. Every step: [{rel}](../{rel}).\n\n| decision | steps | rupiah |\n|---|---:|---:|\n",
        sidik_core::time::local(as_of, inc.tz, sidik_core::time::Shown::Zone),
        rules.sources.join(", ")
    );
    for (d, (n, a)) in &p.totals {
        let _ = writeln!(md, "| {} | {} | {} |", d.word(), count(*n), idr(*a));
    }
    for (d, (n, _)) in &p.totals {
        let _ = writeln!(md, "\n## {} ({})\n", d.word(), count(*n));
        for (shown, s) in p.steps.iter().filter(|s| s.decision == *d).enumerate() {
            if shown == 20 {
                let _ = writeln!(md, "- … {} more in the CSV", count(*n - 20));
                break;
            }
            let _ = writeln!(
                md,
                "- {} {}{}: {} ({})",
                s.order_id,
                s.payment_id
                    .as_deref()
                    .map(|p| format!("{p} "))
                    .unwrap_or_default(),
                idr(s.amount),
                s.why,
                s.category
            );
        }
    }
    md
}

/// Reconciles the incident's files and writes the plan.
pub fn run(inc: &Incident) -> Result<(Plan, Written), RecoverError> {
    let s = sidik_recon::output::settings(inc)?;
    let mut src = sidik_recon::output::load_files(inc, &s)?;
    let o = sidik_recon::engine::reconcile_sources(&mut src, &s)?;
    let rules = Rules::for_incident(inc)?;
    let p = plan(&o, &rules, s.as_of);
    let w = write(inc, &p, &rules, s.as_of)?;
    Ok((p, w))
}

/// The plan as written by [`write`]: its steps and the SHA-256 of
/// `plan.csv`, which apply's cursor is tied to.
pub fn read(inc: &Incident) -> Result<(Vec<Step>, String), RecoverError> {
    use sha2::Digest;
    let path = inc.dir.evidence().join("recovery").join("plan.csv");
    let bytes = std::fs::read(&path).map_err(|e| {
        RecoverError::Config(format!(
            "cannot read {}: {e}; make the plan first: sidik recover plan",
            inc.dir.relative(&path)
        ))
    })?;
    let digest = format!("{:x}", sha2::Sha256::digest(&bytes));
    let shown = inc.dir.relative(&path);
    let mut r = csv::Reader::from_reader(bytes.as_slice());
    let mut steps = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let line = i + 2;
        let bad = |what: String| {
            RecoverError::Config(format!(
                "{shown}:{line}: {what}; re-make it: sidik recover plan"
            ))
        };
        let rec = rec.map_err(|e| bad(e.to_string()))?;
        if rec.len() != 9 {
            return Err(bad(format!("{} fields, expected 9", rec.len())));
        }
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let decision: Decision =
            serde_json::from_value(serde_json::Value::String(rec[5].to_string()))
                .map_err(|_| bad(format!("unknown decision `{}`", &rec[5])))?;
        steps.push(Step {
            order_id: rec[0].to_string(),
            payment_id: opt(&rec[1]),
            posting_id: opt(&rec[2]),
            category: rec[3].to_string(),
            reason: rec[4].to_string(),
            decision,
            amount: rec[6].parse().map_err(|_| {
                bad(format!(
                    "amount `{}` is not a whole number of rupiah",
                    &rec[6]
                ))
            })?,
            why: rec[7].to_string(),
            source: rec[8].to_string(),
        });
    }
    Ok((steps, digest))
}
