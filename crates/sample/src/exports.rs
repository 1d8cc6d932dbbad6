//! The data exports: `orders.csv`, `payments.csv` and `ho_postings.csv`.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::fmt::{int, wib_period, Clock};
use rand::Rng;
use rand_pcg::Pcg64Mcg;

use crate::ledger::{payments, postings, PayType};
use crate::model::{status, Model, Pusher};
use crate::truth::TruthBuilder;

/// Column names of `orders.csv`.
pub const ORDERS_HEADER: &str = "order_id,service_line,status,created_at,trip_start_at,trip_end_at,payment_method,corporate_id,amount_base,amount_overtime,amount_extra,amount_tip,amount_total,is_push_ho";
/// Column names of `payments.csv`.
pub const PAYMENTS_HEADER: &str = "payment_id,order_id,payment_type,payment_status,amount,payment_method,created_at,failure_reason";
/// Column names of `ho_postings.csv`.
pub const POSTINGS_HEADER: &str =
    "posting_id,order_id,payment_id,journal_type,amount,posted_at,period";

/// How the exports are written: column names, value words and signs. The
/// default sample's are [`ExportDialect::classic`]; a varied incident draws
/// its own, as finance and operations teams name things.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportDialect {
    /// `orders.csv` header, in [`ORDERS_HEADER`]'s order.
    pub orders: Vec<&'static str>,
    /// `payments.csv` header, in [`PAYMENTS_HEADER`]'s order; an empty
    /// `payment_type` name leaves the column out.
    pub payments: Vec<&'static str>,
    /// `ho_postings.csv` header, in [`POSTINGS_HEADER`]'s order.
    pub postings: Vec<&'static str>,
    /// Payment status words: settled, failed.
    pub pay_status: [&'static str; 2],
    /// Payment type words: charge, refund, void.
    pub pay_type: [&'static str; 3],
    /// Order status words: ACTIVE, COMPLETE, CANCELLED, SCHEDULED.
    pub order_status: [&'static str; 4],
    /// Refunds and voids written as negative amounts.
    pub signed_refunds: bool,
}

impl ExportDialect {
    /// The default sample's exports.
    pub fn classic() -> ExportDialect {
        ExportDialect {
            orders: ORDERS_HEADER.split(',').collect(),
            payments: PAYMENTS_HEADER.split(',').collect(),
            postings: POSTINGS_HEADER.split(',').collect(),
            pay_status: ["SUCCESS", "FAILED"],
            pay_type: ["CHARGE", "REFUND", "VOID"],
            order_status: ["ACTIVE", "COMPLETE", "CANCELLED", "SCHEDULED"],
            signed_refunds: false,
        }
    }

    /// Draws the exports of a varied incident.
    pub fn draw(r: &mut Pcg64Mcg) -> ExportDialect {
        let mut d = ExportDialect::classic();
        let mut pick = |v: &[&'static str]| v[r.random_range(0..v.len())];
        let renames: [(&str, &[&'static str]); 6] = [
            ("order_id", &["order_id", "order_no", "OrderID"]),
            ("status", &["status", "order_status", "state"]),
            ("created_at", &["created_at", "booked_at", "create_time"]),
            (
                "trip_start_at",
                &["trip_start_at", "start_time", "trip_start"],
            ),
            ("trip_end_at", &["trip_end_at", "end_time", "trip_end"]),
            (
                "amount_total",
                &["amount_total", "total_amount", "grand_total"],
            ),
        ];
        rename(&mut d.orders, &renames, &mut pick);
        let renames: [(&str, &[&'static str]); 6] = [
            ("payment_id", &["payment_id", "trx_id", "transaction_id"]),
            ("order_id", &["order_id", "order_no", "merchant_ref"]),
            ("payment_type", &["payment_type", "trx_type", ""]),
            (
                "payment_status",
                &["payment_status", "status", "trx_status"],
            ),
            ("amount", &["amount", "gross_amount", "amount_idr"]),
            (
                "created_at",
                &["created_at", "trx_time", "transaction_time"],
            ),
        ];
        rename(&mut d.payments, &renames, &mut pick);
        let renames: [(&str, &[&'static str]); 4] = [
            ("posting_id", &["posting_id", "journal_id", "voucher_no"]),
            ("journal_type", &["journal_type", "account_type", "gl_type"]),
            ("amount", &["amount", "amount_idr", "nominal"]),
            ("posted_at", &["posted_at", "posting_date", "booked_at"]),
        ];
        rename(&mut d.postings, &renames, &mut pick);
        d.pay_status = [
            pick(&["SUCCESS", "SETTLED", "PAID", "CAPTURED"]),
            pick(&["FAILED", "DECLINED", "REJECTED"]),
        ];
        d.pay_type = [
            pick(&["CHARGE", "SALE", "PAYMENT", "DEBIT"]),
            pick(&["REFUND", "RETURN"]),
            pick(&["VOID", "CANCEL_AUTH"]),
        ];
        d.order_status = [
            pick(&["ACTIVE", "ON_TRIP", "IN_PROGRESS"]),
            pick(&["COMPLETE", "COMPLETED", "FINISHED", "DONE"]),
            pick(&["CANCELLED", "CANCELED", "BATAL"]),
            pick(&["SCHEDULED", "BOOKED"]),
        ];
        d.signed_refunds = r.random_bool(0.5);
        d
    }

    /// Whether the payments export has a payment type column.
    pub fn has_type(&self) -> bool {
        !self.payments[2].is_empty()
    }

    /// The `[recon.columns.*]` and `[recon.values.*]` tables a person writes
    /// for these exports (empty for the classic ones).
    pub fn recon_toml(&self) -> String {
        let classic = ExportDialect::classic();
        let mut out = String::new();
        for (name, cols, base) in [
            ("orders", &self.orders, &classic.orders),
            ("payments", &self.payments, &classic.payments),
            ("postings", &self.postings, &classic.postings),
        ] {
            let moved: Vec<String> = cols
                .iter()
                .zip(base.iter())
                .filter(|(c, b)| c != b && !c.is_empty())
                .map(|(c, b)| format!("{b} = \"{c}\""))
                .collect();
            if !moved.is_empty() {
                out.push_str(&format!("\n[recon.columns.{name}]\n{}\n", moved.join("\n")));
            }
        }
        let mut values = |table: &str, pairs: &[(&str, &str, &str)]| {
            let moved: Vec<String> = pairs
                .iter()
                .filter(|(_, word, base)| word != base)
                .map(|(meaning, word, _)| format!("{meaning} = [\"{word}\"]"))
                .collect();
            if !moved.is_empty() {
                out.push_str(&format!("\n[recon.values.{table}]\n{}\n", moved.join("\n")));
            }
        };
        values(
            "payment_status",
            &[
                ("settled", self.pay_status[0], "SUCCESS"),
                ("failed", self.pay_status[1], "FAILED"),
            ],
        );
        if self.has_type() {
            values(
                "payment_type",
                &[
                    ("charge", self.pay_type[0], "CHARGE"),
                    ("refund", self.pay_type[1], "REFUND"),
                    ("void", self.pay_type[2], "VOID"),
                ],
            );
        }
        values(
            "order_status",
            &[
                ("active", self.order_status[0], "ACTIVE"),
                ("complete", self.order_status[1], "COMPLETE"),
                ("cancelled", self.order_status[2], "CANCELLED"),
                ("scheduled", self.order_status[3], "SCHEDULED"),
            ],
        );
        out
    }
}

/// Renames each column `from` of `cols` to one of its alternatives, drawn by `pick`.
fn rename(
    cols: &mut [&'static str],
    renames: &[(&str, &[&'static str])],
    pick: &mut impl FnMut(&[&'static str]) -> &'static str,
) {
    for (from, to) in renames {
        let i = cols.iter().position(|c| c == from).expect("known column");
        cols[i] = pick(to);
    }
}

/// Writes the three exports into `dir`, feeding every order to `truth`.
pub fn write(
    model: &Model,
    dir: &Path,
    d: &ExportDialect,
    truth: &mut TruthBuilder,
) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let open = |name: &str, header: &str| -> io::Result<BufWriter<File>> {
        let mut w = BufWriter::with_capacity(1 << 20, File::create(dir.join(name))?);
        writeln!(w, "{header}")?;
        Ok(w)
    };
    let pay_cols: Vec<&str> = d
        .payments
        .iter()
        .copied()
        .filter(|c| !c.is_empty())
        .collect();
    let mut orders = open("orders.csv", &d.orders.join(","))?;
    let mut pays_out = open("payments.csv", &pay_cols.join(","))?;
    let mut posts_out = open("ho_postings.csv", &d.postings.join(","))?;
    let mut clock = Clock::new();
    let mut b = Vec::with_capacity(512);
    for idx in 0..model.len() {
        let o = model.order(idx);
        let pays = payments(&o);
        let posts = postings(&o, &pays);
        let id = o.order_id();

        b.clear();
        b.extend_from_slice(id.as_bytes());
        b.push(b',');
        b.extend_from_slice(o.line.code().as_bytes());
        b.push(b',');
        b.extend_from_slice(
            match status(&o) {
                "ACTIVE" => d.order_status[0],
                "COMPLETE" => d.order_status[1],
                "CANCELLED" => d.order_status[2],
                _ => d.order_status[3],
            }
            .as_bytes(),
        );
        for t in [o.created, o.trip_start, o.trip_end] {
            b.push(b',');
            clock.wib_seconds(&mut b, t);
        }
        b.push(b',');
        b.extend_from_slice(o.method.code().as_bytes());
        b.push(b',');
        if let Some(c) = o.corporate {
            b.extend_from_slice(format!("CORP-{c:04}").as_bytes());
        }
        for v in [o.base, o.overtime, o.extra, o.tip, o.total()] {
            b.push(b',');
            int(&mut b, v);
        }
        b.extend_from_slice(if o.pusher == Pusher::Upg {
            b",true\n"
        } else {
            b",false\n"
        });
        orders.write_all(&b)?;

        for p in &pays {
            b.clear();
            b.extend_from_slice(p.id.as_bytes());
            b.push(b',');
            b.extend_from_slice(id.as_bytes());
            b.push(b',');
            let kind = p.kind as usize;
            if d.has_type() {
                b.extend_from_slice(d.pay_type[kind].as_bytes());
                b.push(b',');
            }
            b.extend_from_slice(match (p.success, d.has_type(), p.kind) {
                (false, _, _) => d.pay_status[1].as_bytes(),
                (true, false, PayType::Refund) => b"REFUNDED",
                (true, false, PayType::Void) => b"VOIDED",
                (true, _, _) => d.pay_status[0].as_bytes(),
            });
            b.push(b',');
            int(
                &mut b,
                if d.signed_refunds && p.kind != PayType::Charge {
                    -p.amount
                } else {
                    p.amount
                },
            );
            b.push(b',');
            b.extend_from_slice(o.method.code().as_bytes());
            b.push(b',');
            clock.wib(&mut b, p.at);
            b.push(b',');
            b.extend_from_slice(p.failure_reason.as_bytes());
            b.push(b'\n');
            pays_out.write_all(&b)?;
        }
        for p in &posts {
            b.clear();
            b.extend_from_slice(p.id.as_bytes());
            b.push(b',');
            b.extend_from_slice(id.as_bytes());
            b.push(b',');
            b.extend_from_slice(p.payment_id.as_bytes());
            b.push(b',');
            b.extend_from_slice(p.journal.as_bytes());
            b.push(b',');
            int(&mut b, p.amount);
            b.push(b',');
            clock.wib_offset(&mut b, p.at);
            b.push(b',');
            b.extend_from_slice(wib_period(p.at).as_bytes());
            b.push(b'\n');
            posts_out.write_all(&b)?;
        }
        truth.order(&o, &pays, &posts);
    }
    orders.flush()?;
    pays_out.flush()?;
    posts_out.flush()
}
