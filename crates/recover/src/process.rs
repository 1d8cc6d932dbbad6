//! The payment reconciliation process: the re-push batch in HO's import
//! format (`evidence/recovery/ho-import.csv`, columns from
//! `[recover.ho_import]`), HO's totals before it, in it and expected after
//! it, and `reports/reconciliation-process.md`: the steps a finance team
//! follows, with owners to fill in and the checks that prove it closed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use sidik_core::fmt::{count, idr};
use sidik_core::Incident;

use crate::plan::Decision;
use crate::RecoverError;

/// The fields a column of HO's import file can hold.
pub const FIELDS: [&str; 8] = [
    "reference",
    "order_id",
    "payment_id",
    "journal_type",
    "amount",
    "charge_period",
    "reason",
    "batch",
];

/// One line of the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// `RCV-<payment>-<journal>`: the same reference SQL apply books, so a
    /// line is never imported and applied twice unnoticed.
    pub reference: String,
    /// The order.
    pub order_id: String,
    /// The charge or refund it books.
    pub payment_id: String,
    /// BASE, OVERTIME, EXTRA, TIP, REFUND …
    pub journal_type: String,
    /// Rupiah, signed: a refund line reduces HO's total.
    pub amount: i64,
    /// The ledger period the money belongs to (`YYYY-MM`).
    pub charge_period: String,
    /// MISSING_IN_HO or REFUND_NOT_POSTED.
    pub reason: String,
}

/// What [`run`] made.
#[derive(Debug, Clone)]
pub struct Process {
    /// The batch.
    pub lines: Vec<Line>,
    /// HO's total per journal type: (before, batch, after), signed rupiah.
    pub totals: BTreeMap<String, (i64, i64, i64)>,
    /// HO's lines before the batch.
    pub lines_before: u64,
    /// Whether the plan sends refunds to UPG.
    pub refunds_due: bool,
    /// `evidence/recovery/ho-import.csv`.
    pub batch: PathBuf,
    /// `reports/reconciliation-process.md`.
    pub report: PathBuf,
}

/// The columns in force: (HO's name, field).
fn columns(inc: &Incident) -> Result<Vec<(String, &'static str)>, RecoverError> {
    let given = inc
        .file
        .recover
        .ho_import
        .columns
        .clone()
        // By default every field but the batch name.
        .unwrap_or_else(|| {
            FIELDS[..FIELDS.len() - 1]
                .iter()
                .map(|f| f.to_string())
                .collect()
        });
    let mut out = Vec::new();
    for c in given {
        let (name, field) = match c.split_once('=') {
            Some((n, f)) => (n.trim().to_string(), f.trim()),
            None => (c.trim().to_string(), c.trim()),
        };
        let field = FIELDS.iter().find(|f| **f == field).ok_or_else(|| {
            RecoverError::Config(format!(
                "incident.toml [recover.ho_import] columns: `{c}` names no field; expected \"HO_NAME = field\" with field one of {}",
                FIELDS.join(", ")
            ))
        })?;
        out.push((name, *field));
    }
    Ok(out)
}

fn delimiter(inc: &Incident) -> Result<u8, RecoverError> {
    match inc.file.recover.ho_import.delimiter.as_deref() {
        None => Ok(b','),
        Some("tab") => Ok(b'\t'),
        Some(d) if d.len() == 1 => Ok(d.as_bytes()[0]),
        Some(d) => Err(RecoverError::Config(format!(
            "incident.toml [recover.ho_import] delimiter = \"{d}\": expected one character or `tab`"
        ))),
    }
}

/// Reconciles the incident's exports and writes the batch and the process report.
pub fn run(inc: &Incident) -> Result<Process, RecoverError> {
    let cols = columns(inc)?;
    let delim = delimiter(inc)?;
    let s = sidik_recon::output::settings(inc)?;
    let mut src = sidik_recon::output::load_files(inc, &s)?;
    let o = sidik_recon::engine::reconcile_sources(&mut src, &s)?;
    let repush = sidik_recon::output::repush_csv(&o, &src.orders, &s);
    let mut lines = Vec::new();
    let mut r = csv::Reader::from_reader(repush.as_bytes());
    for rec in r.records() {
        let rec = rec.map_err(|e| RecoverError::Config(format!("the re-push lines: {e}")))?;
        let amount: i64 = rec[3].parse().unwrap_or_default();
        let reason = rec[5].to_string();
        let negative = reason == sidik_recon::engine::code::REFUND_NOT_POSTED;
        lines.push(Line {
            reference: format!("RCV-{}-{}", &rec[1], &rec[2]),
            order_id: rec[0].to_string(),
            payment_id: rec[1].to_string(),
            journal_type: rec[2].to_string(),
            amount: if negative { -amount } else { amount },
            charge_period: rec[4].to_string(),
            reason,
        });
    }
    // HO's totals per journal type, before and after the batch.
    let mut totals: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    for p in &src.postings {
        totals
            .entry(s.journal_name(p.journal).to_string())
            .or_default()
            .0 += p.signed();
    }
    for l in &lines {
        totals.entry(l.journal_type.clone()).or_default().1 += l.amount;
    }
    for t in totals.values_mut() {
        t.2 = t.0 + t.1;
    }
    let batch_id = format!("sidik-{}", inc.file.incident.id);
    let mut w = csv::WriterBuilder::new()
        .delimiter(delim)
        .from_writer(Vec::new());
    let err = |e: csv::Error| RecoverError::Config(format!("cannot write the batch: {e}"));
    w.write_record(cols.iter().map(|(n, _)| n.as_str()))
        .map_err(err)?;
    for l in &lines {
        let row: Vec<String> = cols
            .iter()
            .map(|(_, f)| match *f {
                "reference" => l.reference.clone(),
                "order_id" => l.order_id.clone(),
                "payment_id" => l.payment_id.clone(),
                "journal_type" => l.journal_type.clone(),
                "amount" => l.amount.to_string(),
                "charge_period" => l.charge_period.clone(),
                "reason" => l.reason.clone(),
                _ => batch_id.clone(),
            })
            .collect();
        w.write_record(&row).map_err(err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| RecoverError::Config(format!("cannot write the batch: {e}")))?;
    let dir = inc.dir.evidence().join("recovery");
    std::fs::create_dir_all(&dir).map_err(|e| sidik_core::Error::io("create folder", &dir, e))?;
    let batch = dir.join("ho-import.csv");
    sidik_core::folder::write_atomic(&batch, &bytes)?;

    let refunds = refunds_due(inc)?;
    let mut p = Process {
        lines,
        totals,
        lines_before: src.postings.len() as u64,
        refunds_due: !refunds.is_empty(),
        batch,
        report: inc.dir.reports().join("reconciliation-process.md"),
    };
    let md = markdown(inc, &p, &cols, &refunds);
    if let Some(d) = p.report.parent() {
        std::fs::create_dir_all(d).map_err(|e| sidik_core::Error::io("create folder", d, e))?;
    }
    sidik_core::folder::write_atomic(&p.report, md.as_bytes())?;
    p.report = inc.dir.reports().join("reconciliation-process.md");
    Ok(p)
}

/// Refunds the plan sends to UPG, per decision: (steps, rupiah).
fn refunds_due(inc: &Incident) -> Result<BTreeMap<Decision, (u64, i64)>, RecoverError> {
    let mut out = BTreeMap::new();
    if let Ok((steps, _)) = crate::plan::read(inc) {
        for s in steps.iter().filter(|s| {
            matches!(
                s.decision,
                Decision::RefundDuplicate | Decision::CancelRefund
            )
        }) {
            let e: &mut (u64, i64) = out.entry(s.decision).or_default();
            e.0 += 1;
            e.1 += s.amount;
        }
    }
    Ok(out)
}

fn markdown(
    inc: &Incident,
    p: &Process,
    cols: &[(String, &'static str)],
    refunds: &BTreeMap<Decision, (u64, i64)>,
) -> String {
    let batch = inc.dir.relative(&p.batch);
    let net: i64 = p.lines.iter().map(|l| l.amount).sum();
    let charges = p.lines.iter().filter(|l| l.amount > 0).count() as u64;
    let refund_lines = p.lines.len() as u64 - charges;
    let mut md = format!(
        "# Payment reconciliation process\n\nThe re-push batch for HO and the steps that close the reconciliation, for finance to follow and sign. Nothing here has been sent to HO or UPG.\n\n\
         ## The batch\n\n[{batch}](../{batch}): {} lines ({} charges, {} refunds), net {}, in HO's import layout ({}). Each line's reference `RCV-<payment>-<journal>` is the one `sidik recover apply` books, so a line imported and also applied shows up as a duplicate reference instead of a double posting.\n\n",
        count(p.lines.len() as u64),
        count(charges),
        count(refund_lines),
        idr(net),
        cols.iter()
            .map(|(n, f)| if n == f { n.clone() } else { format!("{n} = {f}") })
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        md,
        "## HO's totals\n\nFrom the HO export ({} lines), per journal type; \"after\" is what HO must show once the batch is imported.\n\n| journal type | before | batch | expected after |\n|---|---:|---:|---:|",
        count(p.lines_before)
    );
    let (mut b, mut d, mut a) = (0, 0, 0);
    for (j, (before, batch, after)) in &p.totals {
        let _ = writeln!(
            md,
            "| {j} | {} | {} | {} |",
            idr(*before),
            idr(*batch),
            idr(*after)
        );
        b += before;
        d += batch;
        a += after;
    }
    let _ = writeln!(
        md,
        "| **total** | **{}** | **{}** | **{}** |",
        idr(b),
        idr(d),
        idr(a)
    );
    let _ = writeln!(
        md,
        "\n## Steps\n\nFill in the owner and the date as each step is done.\n\n| # | step | owner | done |\n|---:|---|---|---|"
    );
    let mut steps = vec![
        format!("Review [{batch}](../{batch}) against [recovery-plan.md](recovery-plan.md): every line has a MISSING_IN_HO or REFUND_NOT_POSTED finding"),
        format!("Import the batch into HO, booked in the open period (`charge_period` says which period the money belongs to); {} lines, net {}", count(p.lines.len() as u64), idr(net)),
    ];
    for (dec, (n, amount)) in refunds {
        steps.push(format!(
            "Refund at UPG: {} `{}` steps, {} (the list: `sidik recover plan`, or `sidik notify` for the customers)",
            count(*n),
            dec.word(),
            idr(*amount)
        ));
    }
    steps.push(
        "Export HO's postings and UPG's payments again, after the import and the refunds".into(),
    );
    steps.push("Run `sidik recover verify` on the new exports (or the database): it ticks \"Payment reconciliation completed\" only with no break left".into());
    steps.push("Sign off: finance lead and the incident owner".into());
    for (i, s) in steps.iter().enumerate() {
        let _ = writeln!(md, "| {} | {s} | ______ | ______ |", i + 1);
    }
    let _ = writeln!(
        md,
        "\n## Checks that prove it closed\n\n- HO's total after the import is {} (before {} plus the batch {}), and per journal type as the table above.\n- HO holds {} lines whose reference starts with `RCV-`, no reference twice.\n- `sidik recover verify` reports 0 MISSING_IN_HO and 0 REFUND_NOT_POSTED, and no other break (timing items such as CROSS_PERIOD are not breaks).\n- UPG shows the refunds above as settled, each once.",
        idr(a),
        idr(b),
        idr(d),
        count(p.lines.len() as u64)
    );
    md
}
