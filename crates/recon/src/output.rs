//! What a reconciliation writes: `evidence/recon/breaks.csv` and
//! `breaks.parquet` (one row per break or timing item), `stuck_orders.csv`,
//! `recon.json` (counts and rupiah per category, service line and hour),
//! `repush.csv` (the HO journal lines that would close MISSING_IN_HO and
//! REFUND_NOT_POSTED under the routing rules: a file only, nothing is sent)
//! and the report `reports/recon.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sidik_core::Incident;
use sidik_evidence::recon as ev;

use crate::engine::{code, Break, Outcome, Tally};
use crate::settings::Settings;
use crate::source::{self, Order};
use crate::ReconError;

pub use sidik_core::fmt::idr;
use sidik_core::fmt::{count, csv_field as field};

fn iso(t: i64, s: &Settings) -> String {
    sidik_core::time::local(t, s.tz, sidik_core::time::Shown::Rfc3339)
}

/// The breaks table as CSV.
pub fn breaks_csv(o: &Outcome, s: &Settings) -> String {
    let mut out = String::from("category,reason,order_id,payment_id,posting_id,service_line,charged,posted,amount,at,age_h,source,due\n");
    for b in &o.breaks {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{}",
            b.category,
            b.reason,
            field(&b.order_id),
            field(b.payment_id.as_deref().unwrap_or("")),
            field(b.posting_id.as_deref().unwrap_or("")),
            field(&b.service_line),
            b.charged,
            b.posted,
            b.amount,
            b.at.map(|t| iso(t, s)).unwrap_or_default(),
            b.age_h.map(|a| format!("{a:.1}")).unwrap_or_default(),
            field(&b.source),
            b.due.map(|t| iso(t, s)).unwrap_or_default()
        );
    }
    out
}

/// The breaks table as Parquet.
pub fn write_breaks_parquet(o: &Outcome, path: &Path) -> Result<(), ReconError> {
    use polars::prelude::*;
    let b = &o.breaks;
    let col = |name: &str, v: Vec<Option<String>>| -> Column { Series::new(name.into(), v).into() };
    let s = |f: &dyn Fn(&Break) -> Option<String>| b.iter().map(f).collect::<Vec<_>>();
    let stamps = |name: &str, v: Vec<Option<i64>>| {
        Series::new(name.into(), v)
            .cast(&DataType::Datetime(
                TimeUnit::Milliseconds,
                Some(TimeZone::UTC),
            ))
            .map_err(|e| ReconError::Output(e.to_string()))
    };
    let at = stamps("at", b.iter().map(|x| x.at).collect())?;
    let due = stamps("due", b.iter().map(|x| x.due).collect())?;
    let cols = vec![
        col("category", s(&|x| Some(x.category.to_string()))),
        col(
            "reason",
            s(&|x| (!x.reason.is_empty()).then(|| x.reason.to_string())),
        ),
        col("order_id", s(&|x| Some(x.order_id.clone()))),
        col("payment_id", s(&|x| x.payment_id.clone())),
        col("posting_id", s(&|x| x.posting_id.clone())),
        col("service_line", s(&|x| Some(x.service_line.clone()))),
        Series::new(
            "charged".into(),
            b.iter().map(|x| x.charged).collect::<Vec<_>>(),
        )
        .into(),
        Series::new(
            "posted".into(),
            b.iter().map(|x| x.posted).collect::<Vec<_>>(),
        )
        .into(),
        Series::new(
            "amount".into(),
            b.iter().map(|x| x.amount).collect::<Vec<_>>(),
        )
        .into(),
        at.into(),
        Series::new(
            "age_h".into(),
            b.iter().map(|x| x.age_h).collect::<Vec<_>>(),
        )
        .into(),
        col("source", s(&|x| Some(x.source.clone()))),
        due.into(),
    ];
    let mut df = DataFrame::new(b.len(), cols).map_err(|e| ReconError::Output(e.to_string()))?;
    let f = std::fs::File::create(path)
        .map_err(|e| ReconError::Output(format!("cannot create {}: {e}", path.display())))?;
    ParquetWriter::new(f)
        .finish(&mut df)
        .map_err(|e| ReconError::Output(format!("{}: {e}", path.display())))?;
    Ok(())
}

/// Stuck orders as CSV.
pub fn stuck_csv(o: &Outcome, s: &Settings) -> String {
    let mut out = String::from(
        "order_id,service_line,trip_end_at,hours_past_end,charged,charges,posted,postings\n",
    );
    for x in &o.stuck {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{}",
            field(&x.order_id),
            field(&x.service_line),
            x.trip_end_at.map(|t| iso(t, s)).unwrap_or_default(),
            x.hours_past_end
                .map(|h| format!("{h:.1}"))
                .unwrap_or_default(),
            x.charged,
            x.charges,
            x.posted,
            x.postings
        );
    }
    out
}

/// The HO journal lines that would close MISSING_IN_HO and REFUND_NOT_POSTED.
/// A missing charge is split into the routing's journal types when the
/// orders export has the parts (base, overtime, extra, tip) and they add up
/// to the charge; otherwise it is one line of the first charge journal type.
pub fn repush_csv(o: &Outcome, orders: &[Order], s: &Settings) -> String {
    // Only orders missing in HO with their parts split need looking up: a map of those
    // few, not of every order.
    let wanted: rustc_hash::FxHashSet<&str> = o
        .breaks
        .iter()
        .filter(|b| b.category == code::MISSING_IN_HO)
        .map(|b| b.order_id.as_str())
        .collect();
    let by_id: rustc_hash::FxHashMap<&str, &Order> = if wanted.is_empty() {
        Default::default()
    } else {
        orders
            .iter()
            .filter(|x| x.parts.is_some() && wanted.contains(&*x.id))
            .map(|x| (&*x.id, x))
            .collect()
    };
    let mut out = String::from("order_id,payment_id,journal_type,amount,period,reason\n");
    let first = s.charge_journals.first().map_or("BASE", String::as_str);
    for b in &o.breaks {
        let pay = b.payment_id.as_deref().unwrap_or("");
        let period = b.at.map(|t| s.period(t)).unwrap_or_default();
        match b.category {
            code::MISSING_IN_HO => {
                let parts = by_id
                    .get(b.order_id.as_str())
                    .and_then(|o| o.parts.as_deref().copied())
                    .filter(|p| p.iter().sum::<i64>() == b.amount && s.charge_journals.len() >= 4);
                match parts {
                    Some(p) => {
                        for (j, amount) in s.charge_journals.iter().zip(p) {
                            if amount > 0 {
                                let _ = writeln!(
                                    out,
                                    "{},{},{j},{amount},{period},{}",
                                    field(&b.order_id),
                                    field(pay),
                                    code::MISSING_IN_HO
                                );
                            }
                        }
                    }
                    None => {
                        let _ = writeln!(
                            out,
                            "{},{},{first},{},{period},{}",
                            field(&b.order_id),
                            field(pay),
                            b.amount,
                            code::MISSING_IN_HO
                        );
                    }
                }
            }
            code::REFUND_NOT_POSTED => {
                let j = s.negative_journals.first().map_or("REFUND", String::as_str);
                let _ = writeln!(
                    out,
                    "{},{},{j},{},{period},{}",
                    field(&b.order_id),
                    field(pay),
                    b.amount,
                    code::REFUND_NOT_POSTED
                );
            }
            _ => {}
        }
    }
    out
}

fn tally_row(md: &mut String, label: &str, t: Option<&Tally>) {
    let t = t.copied().unwrap_or_default();
    let _ = writeln!(md, "| {label} | {} | {} |", count(t.count), idr(t.amount));
}

/// `reports/recon.md`.
pub fn report(o: &Outcome, s: &Settings, title: &str, files: &[(&str, String)]) -> String {
    let mut md = format!("# Payment reconciliation: {title}\n\n");
    let _ = writeln!(
        md,
        "{} orders, {} UPG payments, {} HO journal lines, as of {}. {} orders match.\n",
        count(o.inputs[0]),
        count(o.inputs[1]),
        count(o.inputs[2]),
        iso(s.as_of, s),
        count(o.matched_orders)
    );
    if !o.is_complete() {
        let _ = writeln!(
            md,
            "**Incomplete: {} input rows ({}) were set aside and are not reconciled**; each is listed with its file, line and reason in the rejected rows file below. Fix or re-export them and run again.\n",
            count(o.rejected.count),
            idr(o.rejected.amount)
        );
    }
    md.push_str("| category | rows | rupiah |\n|---|---:|---:|\n");
    let order = [
        code::MISSING_IN_HO,
        code::STATUS_MISMATCH,
        code::DUPLICATE_CHARGE,
        code::DUPLICATE_POSTING,
        code::AMOUNT_UNDER,
        code::AMOUNT_OVER,
        code::REFUND_NOT_POSTED,
        code::MISSING_AT_UPG,
        code::LATE_POSTING,
        code::AMBIGUOUS,
        code::CROSS_PERIOD,
        code::NOT_YET_DUE,
    ];
    for c in order {
        if o.by_category.contains_key(c) {
            let label = if code::TIMING.contains(&c) {
                format!("{c} (timing, not a break)")
            } else {
                format!("**{c}**")
            };
            tally_row(&mut md, &label, o.by_category.get(c));
        }
    }
    if o.has_breaks() {
        let _ = writeln!(
            md,
            "\nAt stake: **{}**, each charge counted once (a stuck order's unposted charge is both a STATUS_MISMATCH and a MISSING_IN_HO row above; the rupiah column may not be added).",
            idr(o.at_stake())
        );
    }
    let section = |md: &mut String, heading: &str, what: &str, rows: Vec<&Break>| {
        let _ = writeln!(md, "\n## {heading}\n\n{what}\n");
        if rows.is_empty() {
            md.push_str("None.\n");
            return;
        }
        let total: i64 = rows.iter().map(|b| b.amount).sum();
        let _ = writeln!(md, "{} rows, {}. First {}:\n\n| order | payment | service line | amount | at | source |\n|---|---|---|---:|---|---|", count(rows.len() as u64), idr(total), rows.len().min(10));
        for b in rows.iter().take(10) {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                b.order_id,
                b.payment_id.as_deref().unwrap_or(""),
                b.service_line,
                idr(b.amount),
                b.at.map(|t| iso(t, s)).unwrap_or_default(),
                b.source
            );
        }
    };
    let of = |cats: &[&str]| -> Vec<&Break> {
        o.breaks
            .iter()
            .filter(|b| cats.contains(&b.category))
            .collect()
    };
    section(
        &mut md,
        "Charged but not posted",
        "Money UPG took that HO never booked (MISSING_IN_HO, REFUND_NOT_POSTED, AMOUNT_UNDER).",
        of(&[
            code::MISSING_IN_HO,
            code::REFUND_NOT_POSTED,
            code::AMOUNT_UNDER,
        ]),
    );
    section(&mut md, "Posted but not charged", "HO bookings with no settled charge behind them, or more than was kept (MISSING_AT_UPG, AMOUNT_OVER, DUPLICATE_POSTING).", of(&[code::MISSING_AT_UPG, code::AMOUNT_OVER, code::DUPLICATE_POSTING]));
    section(&mut md, "Failed but charged", "Orders whose status says the money should not be kept, and charges taken twice (STATUS_MISMATCH, DUPLICATE_CHARGE).", of(&[code::STATUS_MISMATCH, code::DUPLICATE_CHARGE]));
    if !o.by_service_line.is_empty() {
        md.push_str("\n## By service line\n\n| service line | category | rows | rupiah |\n|---|---|---:|---:|\n");
        for (sl, cats) in &o.by_service_line {
            for (c, t) in cats {
                let _ = writeln!(
                    md,
                    "| {} | {c} | {} | {} |",
                    if sl.is_empty() { "(none)" } else { sl },
                    count(t.count),
                    idr(t.amount)
                );
            }
        }
    }
    if !o.by_hour.is_empty() {
        md.push_str("\n## By hour (breaks only)\n\n| hour | rows | rupiah |\n|---|---:|---:|\n");
        for (h, cats) in &o.by_hour {
            let (n, a) = cats
                .iter()
                .filter(|(c, _)| !code::TIMING.contains(c))
                .fold((0, 0), |(n, a), (_, t)| (n + t.count, a + t.amount));
            if n > 0 {
                let _ = writeln!(md, "| {h} | {} | {} |", count(n), idr(a));
            }
        }
    }
    md.push_str("\n## Files\n\n");
    for (label, path) in files {
        let _ = writeln!(md, "- [{label}]({path})");
    }
    md
}

/// The summary written to `recon.json` ([`sidik_evidence::recon::ReconFile`]).
pub fn summary_json(o: &Outcome, s: &Settings) -> ev::ReconFile {
    let tally = |t: &Tally| ev::Tally {
        amount: t.amount,
        count: t.count,
    };
    let by = |m: &BTreeMap<&'static str, Tally>| -> BTreeMap<String, ev::Tally> {
        m.iter().map(|(k, t)| (k.to_string(), tally(t))).collect()
    };
    ev::ReconFile {
        version: sidik_evidence::VERSION,
        as_of: iso(s.as_of, s),
        inputs: ev::Inputs {
            orders: o.inputs[0],
            payments: o.inputs[1],
            postings: o.inputs[2],
        },
        matched_orders: o.matched_orders,
        complete: o.is_complete(),
        rejected: tally(&o.rejected),
        has_breaks: o.has_breaks(),
        by_category: by(&o.by_category),
        by_service_line: o
            .by_service_line
            .iter()
            .map(|(k, m)| (k.clone(), by(m)))
            .collect(),
        by_hour: o.by_hour.iter().map(|(k, m)| (k.clone(), by(m))).collect(),
        stuck_orders: o.stuck.len() as u64,
    }
}

/// `source`'s export file `rel` of an incident, opened as `[recon.format]`
/// says and detected where it says nothing ([`crate::read`]).
pub fn open_export(
    inc: &Incident,
    source: &str,
    rel: &str,
    s: &Settings,
) -> Result<crate::read::Opened, ReconError> {
    let path = inc.dir.resolve(rel);
    if !path.is_file() {
        return Err(ReconError::Input(format!(
            "{rel} not found in the incident folder; export it there or fix [sources.recon] in incident.toml"
        )));
    }
    crate::read::open(&path, rel, &s.format(source)).map_err(|e| match e {
        ReconError::Input(m) => ReconError::Input(
            m.replace("[recon.format.SOURCE]", &format!("[recon.format.{source}]")),
        ),
        other => other,
    })
}

/// The rows of `source`'s export file `rel`.
pub fn file_rows(
    inc: &Incident,
    source: &str,
    rel: &str,
    s: &Settings,
) -> Result<source::TextRows<'static>, ReconError> {
    open_export(inc, source, rel, s).map(|o| o.rows)
}

/// What [`write_all`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    /// Evidence files.
    pub evidence: Vec<PathBuf>,
    /// The report.
    pub report: PathBuf,
}

fn write(path: &Path, text: &str) -> Result<(), ReconError> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)
            .map_err(|e| ReconError::Output(format!("cannot create {}: {e}", d.display())))?;
    }
    sidik_core::folder::write_atomic(path, text.as_bytes())
        .map_err(|e| ReconError::Output(e.to_string()))
}

/// Writes every output of `o` into the incident folder.
pub fn write_all(
    inc: &Incident,
    o: &Outcome,
    src: &source::Sources,
    s: &Settings,
    report_path: &Path,
) -> Result<Written, ReconError> {
    let orders = &src.orders;
    let dir = inc.dir.evidence().join("recon");
    std::fs::create_dir_all(&dir)
        .map_err(|e| ReconError::Output(format!("cannot create {}: {e}", dir.display())))?;
    // The Parquet table is encoded on another core while the text files are written.
    let pq = dir.join("breaks.parquet");
    let evidence = std::thread::scope(|sc| -> Result<Vec<PathBuf>, ReconError> {
        let parquet = sc.spawn(|| write_breaks_parquet(o, &pq));
        let files = [
            ("breaks.csv", breaks_csv(o, s)),
            ("stuck_orders.csv", stuck_csv(o, s)),
            ("repush.csv", repush_csv(o, orders, s)),
            (
                "recon.json",
                serde_json::to_string_pretty(&summary_json(o, s)).expect("serialises") + "\n",
            ),
            ("rejected.csv", rejected_csv(&src.rejected)?),
        ];
        let mut evidence = Vec::new();
        for (name, text) in &files {
            let p = dir.join(name);
            write(&p, text)?;
            evidence.push(p);
        }
        parquet.join().expect("Parquet writer panicked")?;
        evidence.push(pq.clone());
        Ok(evidence)
    })?;
    let rel_from_report = |p: &Path| -> String {
        let r = inc.dir.relative(p);
        let depth = report_path
            .strip_prefix(inc.dir.root())
            .map(|r| r.components().count().saturating_sub(1))
            .unwrap_or(1);
        format!("{}{r}", "../".repeat(depth))
    };
    let links: Vec<(&str, String)> = [
        "breaks (CSV)",
        "stuck orders",
        "re-push batch (not sent)",
        "summary (JSON)",
        "rows set aside, with file, line and reason (CSV)",
        "breaks (Parquet)",
    ]
    .into_iter()
    .zip(evidence.iter().map(|p| rel_from_report(p)))
    .collect();
    let title = inc.file.incident.id.clone();
    write(report_path, &report(o, s, &title, &links))?;
    Ok(Written {
        evidence,
        report: report_path.to_path_buf(),
    })
}

/// `rejected.csv`: one row a rejected input row (source, file, line,
/// reason, amount, then its fields), written by the `csv` crate so that a
/// field holding a comma or a quote stays one field.
pub fn rejected_csv(rows: &[source::Rejected]) -> Result<String, ReconError> {
    let width = rows.iter().map(|r| r.fields.len()).max().unwrap_or(0);
    let mut w = csv::WriterBuilder::new()
        .flexible(false)
        .from_writer(Vec::new());
    let fail = |e: csv::Error| ReconError::Output(format!("cannot write rejected.csv: {e}"));
    let mut header = vec![
        "source".to_string(),
        "file".into(),
        "line".into(),
        "reason".into(),
        "amount".into(),
    ];
    header.extend((1..=width).map(|i| format!("field_{i}")));
    w.write_record(&header).map_err(fail)?;
    for r in rows {
        let mut rec = vec![
            r.source.to_string(),
            r.file.clone(),
            r.line.to_string(),
            r.reason.clone(),
            r.amount.map(|a| a.to_string()).unwrap_or_default(),
        ];
        rec.extend(r.fields.iter().cloned());
        rec.resize(header.len(), String::new());
        w.write_record(&rec).map_err(fail)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| ReconError::Output(format!("cannot write rejected.csv: {e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Reads the incident's three files from `[sources.recon]`.
pub fn load_files(inc: &Incident, s: &Settings) -> Result<source::Sources, ReconError> {
    let r = inc.file.sources.recon.clone().unwrap_or_default();
    let need = |v: &Option<String>, what: &str| {
        v.clone().ok_or_else(|| {
            ReconError::Config(format!(
                "incident.toml [sources.recon] has no `{what}`; name the {what} export (CSV, Excel, JSON lines or Parquet)"
            ))
        })
    };
    let (o, p, h) = (
        need(&r.orders, "orders")?,
        need(&r.payments, "payments")?,
        need(&r.postings, "postings")?,
    );
    // The three files are read at the same time.
    let (orders, payments, postings) = std::thread::scope(|sc| {
        let orders = sc.spawn(|| source::orders(file_rows(inc, "orders", &o, s)?, s));
        let payments = sc.spawn(|| source::payments(file_rows(inc, "payments", &p, s)?, s));
        let postings = file_rows(inc, "postings", &h, s).and_then(|t| source::postings(t, s));
        (
            orders.join().expect("orders reader panicked"),
            payments.join().expect("payments reader panicked"),
            postings,
        )
    });
    Ok(source::Sources::new(orders?, payments?, postings?))
}

/// The settings of an incident.
pub fn settings(inc: &Incident) -> Result<Settings, ReconError> {
    Settings::new(
        &inc.file.recon,
        inc.tz,
        inc.window.as_ref().map(|w| w.end.timestamp_millis()),
    )
}
