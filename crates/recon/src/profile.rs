//! A profile of one export, read exactly as reconciliation reads it: the
//! same column map, value words, signs and times. Phase 1 ticks "collect the
//! payment records" on this, so a figure here is one recon will agree with.

use std::collections::BTreeMap;

use crate::settings::{OrderStatus, PayKind, PayStatus, Settings};
use crate::source::{self, Rejected, TextRows};
use crate::ReconError;

/// Which export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    /// UPG payments.
    Payments,
    /// HO journal lines.
    Postings,
    /// Orders.
    Orders,
}

impl Export {
    /// From `payments`, `postings` or `orders`.
    pub fn parse(s: &str) -> Option<Export> {
        Some(match s {
            "payments" => Export::Payments,
            "postings" => Export::Postings,
            "orders" => Export::Orders,
            _ => return None,
        })
    }

    /// `payments`, `postings` or `orders`.
    pub fn source(self) -> &'static str {
        match self {
            Export::Payments => "payments",
            Export::Postings => "postings",
            Export::Orders => "orders",
        }
    }
}

/// What an export holds.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Profile {
    /// Rows read.
    pub rows: u64,
    /// Per group (payments: kind and status, `charge settled`; postings:
    /// journal type; orders: status, as recon understands them): rows and
    /// rupiah (postings signed; orders their total).
    pub groups: BTreeMap<String, (u64, i64)>,
    /// Earliest and latest time (UTC ms): payments' and orders' creation,
    /// postings' booking.
    pub span: Option<(i64, i64)>,
    /// Rows set aside, with their line and reason.
    #[serde(skip)]
    pub rejected: Vec<Rejected>,
    /// What makes the figures untrue: no row, every amount 0.
    pub problems: Vec<String>,
}

fn kind_name(k: PayKind) -> &'static str {
    match k {
        PayKind::Charge => "charge",
        PayKind::Refund => "refund",
        PayKind::Void => "void",
    }
}

fn status_name(s: PayStatus) -> &'static str {
    match s {
        PayStatus::Settled => "settled",
        PayStatus::Failed => "failed",
        PayStatus::Pending => "pending",
    }
}

fn order_name(s: OrderStatus) -> &'static str {
    match s {
        OrderStatus::Active => "active",
        OrderStatus::Scheduled => "scheduled",
        OrderStatus::Complete => "complete",
        OrderStatus::Cancelled => "cancelled",
    }
}

impl Profile {
    fn add(&mut self, group: String, amount: i64, at: i64) {
        self.rows += 1;
        let g = self.groups.entry(group).or_default();
        g.0 += 1;
        g.1 += amount;
        self.span = Some(self.span.map_or((at, at), |(a, b)| (a.min(at), b.max(at))));
    }
}

/// Profiles `rows` of export `which` through recon's reader.
pub fn profile(which: Export, rows: TextRows, s: &Settings) -> Result<Profile, ReconError> {
    let name = rows.name.to_string();
    let mut p = Profile::default();
    let mut amounts = 0u64;
    match which {
        Export::Payments => {
            let r = source::payments(rows, s)?;
            for x in &r.rows {
                amounts += u64::from(x.amount != 0);
                let group = format!("{} {}", kind_name(x.kind), status_name(x.status));
                p.add(group, x.amount, x.at);
            }
            p.rejected = r.rejected;
        }
        Export::Postings => {
            let r = source::postings(rows, s)?;
            for x in &r.rows {
                amounts += u64::from(x.amount != 0);
                p.add(s.journal_name(x.journal).to_string(), x.signed(), x.at);
            }
            p.rejected = r.rejected;
        }
        Export::Orders => {
            let r = source::orders(rows, s)?;
            for x in &r.rows {
                amounts += u64::from(x.amount_total().is_some_and(|a| a != 0));
                let total = x.amount_total().unwrap_or(0);
                p.add(order_name(x.status).to_string(), total, x.created_at);
            }
            p.rejected = r.rejected;
        }
    }
    if p.rows == 0 {
        p.problems.push(if p.rejected.is_empty() {
            format!("{name} has no rows (only a header?); export it again")
        } else {
            format!(
                "{name} has no row that could be read ({} set aside; the first, line {}: {})",
                p.rejected.len(),
                p.rejected[0].line,
                p.rejected[0].reason
            )
        });
    } else if amounts == 0 && which != Export::Orders {
        p.problems.push(format!(
            "every `amount` in {name} is 0: is the amount column mapped right in [recon.columns]?"
        ));
    }
    // A charge written negative is a refund under the wrong word, or a sign
    // convention recon was not told: its money would be counted wrong.
    let negative: Vec<&Rejected> = p
        .rejected
        .iter()
        .filter(|r| r.reason.starts_with("a charge of a negative amount"))
        .collect();
    if let Some(first) = negative.first() {
        p.problems.push(format!(
            "{} charges of a negative amount in {name} (the first on line {}); money given back is a refund row of its own",
            negative.len(),
            first.line
        ));
    }
    Ok(p)
}
