//! The data exports: `orders.csv`, `payments.csv` and `ho_postings.csv`.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::fmt::{int, wib_period, Clock};
use crate::ledger::{payments, postings};
use crate::model::{status, Model, Pusher};
use crate::truth::TruthBuilder;

/// Column names of `orders.csv`.
pub const ORDERS_HEADER: &str = "order_id,service_line,status,created_at,trip_start_at,trip_end_at,payment_method,corporate_id,amount_base,amount_overtime,amount_extra,amount_tip,amount_total,is_push_ho";
/// Column names of `payments.csv`.
pub const PAYMENTS_HEADER: &str = "payment_id,order_id,payment_type,payment_status,amount,payment_method,created_at,failure_reason";
/// Column names of `ho_postings.csv`.
pub const POSTINGS_HEADER: &str =
    "posting_id,order_id,payment_id,journal_type,amount,posted_at,period";

/// Writes the three exports into `dir`, feeding every order to `truth`.
pub fn write(model: &Model, dir: &Path, truth: &mut TruthBuilder) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let open = |name: &str, header: &str| -> io::Result<BufWriter<File>> {
        let mut w = BufWriter::with_capacity(1 << 20, File::create(dir.join(name))?);
        writeln!(w, "{header}")?;
        Ok(w)
    };
    let mut orders = open("orders.csv", ORDERS_HEADER)?;
    let mut pays_out = open("payments.csv", PAYMENTS_HEADER)?;
    let mut posts_out = open("ho_postings.csv", POSTINGS_HEADER)?;
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
        b.extend_from_slice(status(&o).as_bytes());
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
            b.extend_from_slice(p.kind.code().as_bytes());
            b.extend_from_slice(if p.success { b",SUCCESS," } else { b",FAILED," });
            int(&mut b, p.amount);
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
