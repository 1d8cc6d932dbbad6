//! The money side of an order: UPG payment rows and HO journal lines.

use crate::model::{payment_id, Fate, Fault, Order};
use crate::scenario::{Millis, AS_OF};

/// Kind of a UPG payment row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayType {
    /// Money taken.
    Charge,
    /// Money returned after settlement.
    Refund,
    /// Authorisation cancelled before settlement.
    Void,
}

impl PayType {
    /// Word used in the export.
    pub fn code(self) -> &'static str {
        match self {
            PayType::Charge => "CHARGE",
            PayType::Refund => "REFUND",
            PayType::Void => "VOID",
        }
    }
}

/// One UPG payment row.
#[derive(Debug, Clone)]
pub struct Payment {
    /// `PAY-…`.
    pub id: String,
    /// Attempt number within the order (1-based).
    pub attempt: u32,
    /// Charge, refund or void.
    pub kind: PayType,
    /// SUCCESS or FAILED.
    pub success: bool,
    /// IDR.
    pub amount: i64,
    /// When UPG recorded it.
    pub at: Millis,
    /// Gateway's reason for a failure.
    pub failure_reason: &'static str,
}

/// One HO journal line.
#[derive(Debug, Clone)]
pub struct Posting {
    /// `HO-…`.
    pub id: String,
    /// The payment it books.
    pub payment_id: String,
    /// BASE, OVERTIME, EXTRA, TIP, REFUND, CANCEL.
    pub journal: &'static str,
    /// IDR, positive; REFUND and CANCEL lines reduce the order's total.
    pub amount: i64,
    /// When HO booked it.
    pub at: Millis,
}

/// The payment rows of an order.
pub fn payments(o: &Order) -> Vec<Payment> {
    let mut out = Vec::new();
    let mut attempt = 0u32;
    let mut row = |kind, success, amount, at, reason: &'static str| {
        attempt += 1;
        out.push(Payment {
            id: payment_id(o.idx, attempt),
            attempt,
            kind,
            success,
            amount,
            at,
            failure_reason: reason,
        });
    };
    let total = o.total();
    if o.fault == Fault::BreakerRejected || o.fate == Fate::CancelledUncharged {
        return out;
    }
    if o.fate == Fate::PaymentFailed {
        row(
            PayType::Charge,
            false,
            total,
            o.charge_at + o.charge_latency,
            "DECLINED",
        );
        row(
            PayType::Charge,
            false,
            total,
            o.charge_at + 40_000,
            "INSUFFICIENT_FUNDS",
        );
        return out;
    }
    if o.declined_first {
        row(
            PayType::Charge,
            false,
            total,
            o.charge_at - 30_000,
            "DECLINED",
        );
    }
    row(
        PayType::Charge,
        true,
        total,
        o.charge_at + o.charge_latency,
        "",
    );
    if o.fault == Fault::DuplicateCharge {
        // The caller gave up after 5 s and retried; UPG settled both.
        row(
            PayType::Charge,
            true,
            total,
            o.charge_at + 5_000 + o.charge_latency,
            "",
        );
    }
    match o.fate {
        Fate::CancelledRefunded => row(PayType::Refund, true, total, o.cancelled_at, ""),
        Fate::Voided => row(PayType::Void, true, total, o.cancelled_at, ""),
        _ => {}
    }
    out
}

/// The first successful charge, which HO postings refer to.
pub fn settled_charge(pays: &[Payment]) -> Option<&Payment> {
    pays.iter().find(|p| p.kind == PayType::Charge && p.success)
}

/// The HO journal lines of an order (given its payment rows).
pub fn postings(o: &Order, pays: &[Payment]) -> Vec<Posting> {
    let mut out = Vec::new();
    let Some(charge) = settled_charge(pays) else {
        return out;
    };
    let mut n = 0u32;
    let mut line = |journal, amount, payment: &str, at| {
        n += 1;
        out.push(Posting {
            id: format!("HO-{:08}-{n}", o.idx + 1),
            payment_id: payment.to_string(),
            journal,
            amount,
            at,
        });
    };
    match o.fate {
        Fate::CancelledRefunded => {
            line("BASE", o.total(), &charge.id, charge.at + 1_500);
            if let Some(refund) = pays.iter().find(|p| p.kind == PayType::Refund) {
                line("REFUND", refund.amount, &refund.id, o.posted_at);
            }
            return out;
        }
        Fate::Complete => {}
        Fate::Scheduled if o.trip_end < AS_OF => {}
        _ => return out,
    }
    if matches!(o.fault, Fault::Stuck | Fault::HoMissing) {
        return out;
    }
    let tip = if o.fault == Fault::TipLost { 0 } else { o.tip };
    let copies = if o.fault == Fault::DuplicatePosting {
        2
    } else {
        1
    };
    for copy in 0..copies {
        let at = o.posted_at + copy * 3_000;
        if o.split_posting {
            line("BASE", o.base, &charge.id, at);
            for (journal, amount) in [("OVERTIME", o.overtime), ("EXTRA", o.extra), ("TIP", tip)] {
                if amount > 0 {
                    line(journal, amount, &charge.id, at);
                }
            }
        } else {
            line("BASE", o.base + o.overtime + o.extra + tip, &charge.id, at);
        }
    }
    out
}

/// Signed effect of a journal line on the order's total.
pub fn signed(p: &Posting) -> i64 {
    match p.journal {
        "REFUND" | "CANCEL" => -p.amount,
        _ => p.amount,
    }
}

/// Net money kept by UPG: successful charges minus refunds and voids.
pub fn net_charged(pays: &[Payment]) -> i64 {
    pays.iter()
        .filter(|p| p.success)
        .map(|p| match p.kind {
            PayType::Charge => p.amount,
            PayType::Refund | PayType::Void => -p.amount,
        })
        .sum()
}
