//! What `sidik check` shows of an export before a run: how the file was
//! opened (kind, encoding, delimiter, header, sheet, each set or detected),
//! how it writes numbers and dates, and its first rows read exactly as
//! reconciliation reads them, with the first row set aside and why.

use crate::read::Detected;
use crate::settings::Settings;
use crate::source::{self, Rejected};
use crate::values::Values;
use crate::ReconError;

/// How many rows `sidik check` reads of each export.
pub const CHECK_ROWS: usize = 1_000;

/// One export as `sidik check` sees it.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// How the file was opened.
    pub detected: Detected,
    /// How it writes amounts and times.
    pub values: Values,
    /// Rows read (of the first [`CHECK_ROWS`]).
    pub read: usize,
    /// Rows set aside among them.
    pub rejected: Vec<Rejected>,
    /// The first row as read, in words.
    pub sample: Option<String>,
}

fn at(t: i64, s: &Settings) -> String {
    sidik_core::time::local(t, s.tz, sidik_core::time::Shown::Zone)
}

fn kind(k: crate::settings::PayKind) -> &'static str {
    use crate::settings::PayKind::*;
    match k {
        Charge => "charge",
        Refund => "refund",
        Void => "void",
    }
}

/// Opens `source`'s export `rel` of `inc` and reads its first rows. A file
/// that cannot be opened, or lacks a required column, is an error.
pub fn inspect(
    inc: &sidik_core::Incident,
    source: &str,
    rel: &str,
    s: &Settings,
) -> Result<Inspection, ReconError> {
    use crate::settings::{OrderStatus, PayStatus};
    let opened = crate::output::open_export(inc, source, rel, s)?;
    let detected = opened.detected;
    let mut rows = opened.rows;
    rows.limit = Some(CHECK_ROWS);
    let idr = sidik_core::fmt::idr;
    let (read, rejected, values, sample) = match source {
        "payments" => {
            let r = source::payments(rows, s)?;
            let sample = r.rows.first().map(|p| {
                let status = match p.status {
                    PayStatus::Settled => "settled",
                    PayStatus::Failed => "failed",
                    PayStatus::Pending => "pending",
                };
                format!(
                    "payment {} order {} {} {status} {} at {}",
                    p.id,
                    p.order_id,
                    kind(p.kind),
                    idr(p.amount),
                    at(p.at, s)
                )
            });
            (r.rows.len(), r.rejected, r.values, sample)
        }
        "postings" => {
            let r = source::postings(rows, s)?;
            let sample = r.rows.first().map(|p| {
                format!(
                    "posting {} order {} payment {} {} {} at {} period {}-{:02}",
                    p.id,
                    p.order_id.as_deref().unwrap_or("-"),
                    p.payment_id.as_deref().unwrap_or("-"),
                    s.journal_name(p.journal),
                    idr(p.signed()),
                    at(p.at, s),
                    p.period / 100,
                    p.period % 100
                )
            });
            (r.rows.len(), r.rejected, r.values, sample)
        }
        _ => {
            let r = source::orders(rows, s)?;
            let sample = r.rows.first().map(|o| {
                let status = match o.status {
                    OrderStatus::Active => "active",
                    OrderStatus::Scheduled => "scheduled",
                    OrderStatus::Complete => "complete",
                    OrderStatus::Cancelled => "cancelled",
                };
                format!(
                    "order {} {} {status} created {} total {}",
                    o.id,
                    o.service_line.as_str(),
                    at(o.created_at, s),
                    o.amount_total().map_or("-".into(), idr)
                )
            });
            (r.rows.len(), r.rejected, r.values, sample)
        }
    };
    Ok(Inspection {
        detected,
        values,
        read,
        rejected,
        sample,
    })
}

/// Each export of `[sources.recon]`: how it is opened, how it writes numbers
/// and dates, and its first rows read as reconciliation reads them. Returns
/// the lines `sidik check` prints and the number of problems they mark.
pub fn check_exports(
    inc: &sidik_core::Incident,
    r: &sidik_core::config::ReconSource,
) -> (Vec<String>, usize) {
    let mut lines = Vec::new();
    let mut problems = 0;
    let settings = match crate::output::settings(inc) {
        Ok(s) => Some(s),
        Err(e) => {
            problems += 1;
            lines.push(format!("  recon     <- {e}"));
            None
        }
    };
    for (source, p) in [
        ("orders", &r.orders),
        ("payments", &r.payments),
        ("postings", &r.postings),
    ] {
        let Some(p) = p else { continue };
        if !inc.dir.resolve(p).is_file() {
            problems += 1;
            lines.push(format!("  recon     {source:<9} {p}  <- missing"));
            continue;
        }
        let Some(s) = &settings else {
            lines.push(format!("  recon     {source:<9} {p}"));
            continue;
        };
        match crate::inspect::inspect(inc, source, p, s) {
            Ok(i) => {
                let v = &i.values;
                let number = match v.number {
                    Some(n) => format!("number {} ({})", n.name(), v.number_origin.word()),
                    None => "number format not settled by the first rows (each amount read by its own separators)".into(),
                };
                let dates = match v.dates {
                    Some(d) => format!("dates {} ({})", d.name(), v.dates_origin.word()),
                    None => {
                        "day-month order not settled by the first rows (ISO dates need none)".into()
                    }
                };
                lines.push(format!("  recon     {source:<9} {p}: {}", i.detected.kind));
                for n in &i.detected.notes {
                    lines.push(format!("              {n}"));
                }
                lines.push(format!("              {number}, {dates}, zone {}", v.tz));
                lines.push(format!(
                    "              first rows: {} read, {} set aside",
                    sidik_core::fmt::count(i.read as i64),
                    sidik_core::fmt::count(i.rejected.len() as i64)
                ));
                if let Some(x) = &i.sample {
                    lines.push(format!("              sample: {x}"));
                }
                if let Some(first) = i.rejected.first() {
                    problems += 1;
                    lines.push(format!(
                        "              <- rows set aside, first {}:{}: {}",
                        first.file, first.line, first.reason
                    ));
                }
            }
            Err(e) => {
                problems += 1;
                lines.push(format!("  recon     {source:<9} {p}  <- {e}"));
            }
        }
    }
    (lines, problems)
}
