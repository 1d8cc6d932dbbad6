//! Each category on small inputs that can be checked by hand.

use sidik_core::config::ReconSection;
use sidik_recon::engine::{code, reconcile, reconcile_sources, Outcome};
use sidik_recon::settings::Settings;
use sidik_recon::source::{self, Sources};

const ORDERS: &str =
    "order_id,service_line,status,created_at,trip_start_at,trip_end_at,amount_total\n";
const PAYMENTS: &str = "payment_id,order_id,payment_type,payment_status,amount,created_at\n";
const POSTINGS: &str = "posting_id,order_id,payment_id,journal_type,amount,posted_at,period\n";

fn settings(r: &ReconSection) -> Settings {
    let tz: chrono_tz::Tz = "Asia/Jakarta".parse().unwrap();
    let as_of = sidik_core::time::parse_time("2025-02-20 00:00", tz)
        .unwrap()
        .timestamp_millis();
    Settings::new(r, tz, Some(as_of)).unwrap()
}

fn read(s: &Settings, orders: &str, payments: &str, postings: &str) -> Result<Sources, String> {
    let dir = tempfile::tempdir().unwrap();
    let w = |name: &str, head: &str, body: &str| {
        let p = dir.path().join(name);
        // A body whose first line has no digit brings its own header.
        let first = body.lines().next().unwrap_or("");
        let text = if !first.is_empty() && !first.chars().any(|c| c.is_ascii_digit()) {
            body.to_string()
        } else {
            format!("{head}{body}")
        };
        std::fs::write(&p, text).unwrap();
        p
    };
    let (o, p, h) = (
        w("orders.csv", ORDERS, orders),
        w("payments.csv", PAYMENTS, payments),
        w("postings.csv", POSTINGS, postings),
    );
    let e = |e: sidik_recon::ReconError| e.to_string();
    Ok(Sources::new(
        source::orders(sidik_recon::read::csv_rows(&o, "orders.csv").map_err(e)?, s).map_err(e)?,
        source::payments(
            sidik_recon::read::csv_rows(&p, "payments.csv").map_err(e)?,
            s,
        )
        .map_err(e)?,
        source::postings(
            sidik_recon::read::csv_rows(&h, "postings.csv").map_err(e)?,
            s,
        )
        .map_err(e)?,
    ))
}

fn run(orders: &str, payments: &str, postings: &str) -> Outcome {
    run_with(&ReconSection::default(), orders, payments, postings)
}

fn run_with(r: &ReconSection, orders: &str, payments: &str, postings: &str) -> Outcome {
    let s = settings(r);
    let src = read(&s, orders, payments, postings).unwrap();
    assert!(src.rejected.is_empty(), "{:?}", src.rejected);
    reconcile(&src.orders, &src.payments, &src.postings, &s).unwrap()
}

fn cats(o: &Outcome) -> Vec<(&'static str, i64)> {
    o.breaks.iter().map(|b| (b.category, b.amount)).collect()
}

const DONE: &str = "O1,GB,COMPLETE,2025-01-12 10:00,2025-01-12 10:10,2025-01-12 12:00,120000\n";

#[test]
fn a_tip_posted_as_a_second_journal_line_matches_and_a_lost_tip_is_under() {
    let pay = "P1,O1,CHARGE,SUCCESS,120000,2025-01-12 10:01\n";
    let two_lines = "H1,O1,P1,BASE,100000,2025-01-12T12:00:05+07:00,2025-01\nH2,O1,P1,TIP,20000,2025-01-12T12:00:05+07:00,2025-01\n";
    let o = run(DONE, pay, two_lines);
    assert_eq!(cats(&o), vec![]);
    assert_eq!(o.matched_orders, 1);
    let o = run(
        DONE,
        pay,
        "H1,O1,P1,BASE,100000,2025-01-12T12:00:05+07:00,2025-01\n",
    );
    assert_eq!(cats(&o), vec![(code::AMOUNT_UNDER, 20000)]);
}

#[test]
fn partial_refunds_count_when_posted_and_are_named_when_not() {
    let pays = "P1,O1,CHARGE,SUCCESS,120000,2025-01-12 10:01\nR1,O1,REFUND,SUCCESS,30000,2025-01-12 13:00\n";
    let base = "H1,O1,P1,BASE,120000,2025-01-12T12:00:05+07:00,2025-01\n";
    let refund = "H2,O1,R1,REFUND,30000,2025-01-12T13:00:05+07:00,2025-01\n";
    assert_eq!(cats(&run(DONE, pays, &format!("{base}{refund}"))), vec![]);
    let o = run(DONE, pays, base);
    assert_eq!(cats(&o), vec![(code::REFUND_NOT_POSTED, 30000)]);
    assert_eq!(o.breaks[0].payment_id.as_deref(), Some("R1"));
}

#[test]
fn a_void_before_settlement_moved_no_money() {
    let cancelled = "O1,GB,CANCELLED,2025-01-12 10:00,,,120000\n";
    let pays = "P1,O1,CHARGE,PENDING,120000,2025-01-12 10:01\nV1,O1,VOID,SUCCESS,120000,2025-01-12 10:02\n";
    let o = run(cancelled, pays, "");
    assert_eq!(cats(&o), vec![]);
    // A void after settlement gives the charge back: nothing to post either.
    let pays = "P1,O1,CHARGE,SUCCESS,120000,2025-01-12 10:01\nV1,O1,VOID,SUCCESS,120000,2025-01-12 10:02\n";
    assert_eq!(cats(&run(cancelled, pays, "")), vec![]);
    // Cancelled with the charge kept.
    let pays = "P1,O1,CHARGE,SUCCESS,120000,2025-01-12 10:01\n";
    let o = run(cancelled, pays, "");
    assert_eq!(cats(&o), vec![(code::STATUS_MISMATCH, 120000)]);
    assert_eq!(o.breaks[0].reason, "cancelled_with_charge");
}

#[test]
fn a_cross_month_trip_is_a_timing_item_with_half_open_periods() {
    let order = "O1,GB,COMPLETE,2025-01-31 20:00,2025-01-31 20:10,2025-02-01 00:00,120000\n";
    let pay = "P1,O1,CHARGE,SUCCESS,120000,2025-01-31 23:59:59\n";
    // No period column: it comes from posted_at in Asia/Jakarta; 00:00 on the 1st is February.
    let post = "posting_id,order_id,payment_id,journal_type,amount,posted_at\nH1,O1,P1,BASE,120000,2025-02-01 00:00:00\n";
    let o = run(order, pay, post);
    assert_eq!(cats(&o), vec![(code::CROSS_PERIOD, 120000)]);
    assert!(!o.has_breaks(), "a timing item is not a break");
    // One second earlier it is the same period: matched.
    let post = "posting_id,order_id,payment_id,journal_type,amount,posted_at\nH1,O1,P1,BASE,120000,2025-01-31 23:59:59\n";
    assert_eq!(cats(&run(order, pay, post)), vec![]);
    // Scheduled, charged, trip after the cut-off, not posted: not yet due.
    let sched = "O1,GB,SCHEDULED,2025-01-12 10:00,2025-02-25 10:00,2025-02-25 12:00,120000\n";
    let o = run(sched, "P1,O1,CHARGE,SUCCESS,120000,2025-01-12 10:01\n", "");
    assert_eq!(cats(&o), vec![(code::NOT_YET_DUE, 120000)]);
}

#[test]
fn an_ambiguous_pair_is_never_paired() {
    let pays = "P1,O1,CHARGE,SUCCESS,120000,2025-01-12 10:01\nP2,O1,CHARGE,SUCCESS,120000,2025-01-12 10:02\n";
    // The posting names only the order, which has two settled charges.
    let post = "H1,O1,,BASE,120000,2025-01-12T12:00:05+07:00,2025-01\n";
    let o = run(DONE, pays, post);
    let mut c = cats(&o);
    c.sort();
    assert_eq!(
        c,
        vec![
            (code::AMBIGUOUS, 120000),
            (code::DUPLICATE_CHARGE, 120000),
            (code::MISSING_IN_HO, 120000)
        ]
    );
    // Naming the payment resolves it: one duplicate charge, the rest matches.
    let post = "H1,O1,P1,BASE,120000,2025-01-12T12:00:05+07:00,2025-01\n";
    assert_eq!(
        cats(&run(DONE, pays, post)),
        vec![(code::DUPLICATE_CHARGE, 120000)]
    );
    // A duplicate charge given back is not a break: HO books the one charge kept.
    let back = format!("{pays}R2,O1,REFUND,SUCCESS,120000,2025-01-12 10:30\n");
    let post = "H1,O1,P1,BASE,120000,2025-01-12T12:00:05+07:00,2025-01\n";
    assert_eq!(cats(&run(DONE, &back, post)), vec![]);
}

#[test]
fn postings_without_a_charge_and_twice_booked_lines() {
    let o = run(
        DONE,
        "",
        "H1,O1,,BASE,120000,2025-01-12T12:00:05+07:00,2025-01\n",
    );
    let mut c = cats(&o);
    c.sort();
    assert_eq!(
        c,
        vec![
            (code::MISSING_AT_UPG, 120000),
            (code::STATUS_MISMATCH, 120000)
        ]
    );
    // An orphan: no such order, no such payment.
    let o = run(
        "",
        "",
        "H9,O9,P9,BASE,5000,2025-01-12T12:00:05+07:00,2025-01\n",
    );
    assert_eq!(cats(&o), vec![(code::MISSING_AT_UPG, 5000)]);
    assert_eq!(o.breaks[0].source, "postings.csv:2");
    let pay = "P1,O1,CHARGE,SUCCESS,120000,2025-01-12 10:01\n";
    let twice = "H1,O1,P1,BASE,120000,2025-01-12T12:00:05+07:00,2025-01\nH2,O1,P1,BASE,120000,2025-01-12T12:00:08+07:00,2025-01\n";
    assert_eq!(
        cats(&run(DONE, pay, twice)),
        vec![(code::DUPLICATE_POSTING, 120000)]
    );
}

#[test]
fn tolerance_lag_and_stuck_orders() {
    let pay = "P1,O1,CHARGE,SUCCESS,120000,2025-01-12 10:01\n";
    let over = |n: i64| format!("H1,O1,P1,BASE,{n},2025-01-12T12:00:05+07:00,2025-01\n");
    let loose = ReconSection {
        tolerance_idr: Some(500),
        ..Default::default()
    };
    assert_eq!(cats(&run_with(&loose, DONE, pay, &over(120_300))), vec![]);
    assert_eq!(
        cats(&run_with(&loose, DONE, pay, &over(120_600))),
        vec![(code::AMOUNT_OVER, 600)]
    );
    // Posted four days after the trip ended, same month: late (lag 72 h).
    let late = "H1,O1,P1,BASE,120000,2025-01-16T12:00:05+07:00,2025-01\n";
    assert_eq!(
        cats(&run(DONE, pay, late)),
        vec![(code::LATE_POSTING, 120000)]
    );
    // ACTIVE long after its trip ended, charged, never posted: stuck and missing in HO.
    let active = "O1,GB,ACTIVE,2025-01-12 10:00,2025-01-12 10:10,2025-01-12 12:00,120000\n";
    let o = run(active, pay, "");
    let mut c = cats(&o);
    c.sort();
    assert_eq!(
        c,
        vec![
            (code::MISSING_IN_HO, 120000),
            (code::STATUS_MISMATCH, 120000)
        ]
    );
    assert_eq!(o.stuck.len(), 1);
    assert_eq!(o.stuck[0].charged, 120000);
    // COMPLETE with no charge at all.
    let o = run(DONE, "P1,O1,CHARGE,FAILED,120000,2025-01-12 10:01\n", "");
    assert_eq!(cats(&o), vec![(code::STATUS_MISMATCH, 120000)]);
    assert_eq!(o.breaks[0].reason, "complete_without_charge");
}

#[test]
fn a_users_own_export_reads_through_the_maps() {
    let r: ReconSection = toml::from_str(
        r#"
        [columns.payments]
        payment_id = "trx_id"
        order_id = "booking"
        payment_type = "kind"
        payment_status = "state"
        amount = "nominal"
        created_at = "paid_at"
        [values.payment_status]
        settled = ["PAID"]
        failed = ["REJECTED"]
        [routing]
        charge = ["FARE", "TIPS"]
        negative = ["RETURN"]
        "#,
    )
    .unwrap();
    let pays = "trx_id,booking,kind,state,nominal,paid_at\nT1,O1,CHARGE,PAID,\"120,000\",2025-01-12T10:01:00+07:00\n";
    let post = "H1,O1,T1,FARE,100000,2025-01-12T12:00:05+07:00,2025-01\nH2,O1,T1,TIPS,20000,2025-01-12T12:00:05+07:00,2025-01\n";
    assert_eq!(cats(&run_with(&r, DONE, pays, post)), vec![]);
}

#[test]
fn bad_input_names_the_file_the_line_and_the_fix() {
    let s = settings(&ReconSection::default());
    // The first row set aside, as `file:line: reason`, or why nothing could be read.
    let err = |o: &str, p: &str, h: &str| match read(&s, o, p, h) {
        Err(e) => e,
        Ok(src) => {
            let r = src.rejected.first().expect("a row set aside");
            format!("{}:{}: {}", r.file, r.line, r.reason)
        }
    };
    let e = err(DONE, "P1,O1,CHARGE,SUCCESS,12a,2025-01-12 10:01\n", "");
    assert!(
        e.starts_with("payments.csv:2: amount \"12a\" is not an amount"),
        "{e}"
    );
    let e = err(DONE, "P1,O1,CHARGE,SUCCESS,100.50,2025-01-12 10:01\n", "");
    assert!(e.contains("fraction of a rupiah"), "{e}");
    let e = err(DONE, "P1,O1,CHARGE,MAYBE,100,2025-01-12 10:01\n", "");
    assert!(
        e.contains("payments.csv:2")
            && e.contains("\"MAYBE\"")
            && e.contains("[recon.values.payment_status]"),
        "{e}"
    );
    let e = err(DONE, "P1,O1,CHARGE,SUCCESS,100,yesterday\n", "");
    assert!(
        e.contains("payments.csv:2: created_at") && e.contains("not a time"),
        "{e}"
    );
    let e = err(
        DONE,
        "",
        "H1,O1,P1,BONUS,100,2025-01-12T12:00:05+07:00,2025-01\n",
    );
    assert!(
        e.contains("postings.csv:2") && e.contains("\"BONUS\" is not routed"),
        "{e}"
    );
    let e = err(
        DONE,
        "payment_id,order_id,payment_type,amount,created_at\nP1,O1,CHARGE,100,2025-01-12 10:01\n",
        "",
    );
    assert!(
        e.contains("payments.csv:1: no column `payment_status`")
            && e.contains("[recon.columns.payments]"),
        "{e}"
    );
    let e = err(DONE, "P1,O1,CHARGE,SUCCESS,100\n", "");
    assert!(e.contains("payments.csv:2"), "{e}");
    // An id listed twice: the repeat is set aside, naming both lines, and
    // the rest is reconciled.
    let aside = |mut src: Sources| {
        let o = reconcile_sources(&mut src, &s).unwrap();
        assert!(!o.is_complete());
        assert_eq!(o.rejected.count, src.rejected.len() as u64);
        src.rejected
            .iter()
            .map(|r| format!("{}:{}: {}", r.file, r.line, r.reason))
            .collect::<Vec<_>>()
    };
    let pay1 = "P1,O1,CHARGE,SUCCESS,100,2025-01-12 10:01\n";
    let post1 = "H1,O1,P1,BASE,100,2025-01-12T12:00:05+07:00,2025-01\n";
    let twice = read(&s, DONE, &format!("{pay1}{pay1}"), post1).unwrap();
    let e = reconcile(&twice.orders, &twice.payments, &twice.postings, &s)
        .unwrap_err()
        .to_string();
    assert!(e.contains("payments row 2 repeats line 2"), "{e}");
    assert_eq!(
        aside(twice),
        ["payments.csv:3: payment P1 is also on line 2; an export lists each once (the first is kept)"]
    );
    let twice = read(&s, &format!("{DONE}{DONE}"), pay1, post1).unwrap();
    assert!(aside(twice)[0].starts_with("orders.csv:3: order O1 is also on line 2"));
    let line = "H1,O1,P1,BASE,100,2025-01-12T12:00:05+07:00,2025-01\n";
    let other = "H2,O1,P1,TIP,5,2025-01-12T12:00:05+07:00,2025-01\n";
    let twice = read(&s, DONE, pay1, &format!("{line}{other}{other}{line}")).unwrap();
    let got = aside(twice);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].starts_with("postings.csv:4: posting H2 is also on line 3"),
        "{got:?}"
    );
    assert!(
        got[1].starts_with("postings.csv:5: posting H1 is also on line 2"),
        "{got:?}"
    );
    // PostgreSQL's text form of a timestamptz is read too.
    let src = read(
        &s,
        DONE,
        "P1,O1,CHARGE,SUCCESS,100,2025-01-12 03:01:00.5+00\n",
        "",
    )
    .unwrap();
    let want = sidik_core::time::parse_time("2025-01-12T10:01:00.5+07:00", s.tz).unwrap();
    assert_eq!(src.payments[0].at, want.timestamp_millis());
}

#[test]
fn one_bad_row_hides_nothing_else_and_the_result_says_incomplete() {
    let s = settings(&ReconSection::default());
    let order = |id: &str| {
        format!("{id},GB,COMPLETE,2025-01-12 10:00,2025-01-12 10:10,2025-01-12 12:00,120000\n")
    };
    let orders: String = ["O1", "O2", "O3", "O4"].iter().map(|o| order(o)).collect();
    let pays = [
        "P1,O1,CHARGE,SUCCESS,120000,2025-01-12 10:01\n",
        // An amount written with a thousands comma, unquoted: a field too many.
        "P2,O2,CHARGE,SUCCESS,926,000,2025-01-12 10:02\n",
        "P3,O3,CHARGE,SUCCESS,12a,2025-01-12 10:03\n",
        "P4,O4,CHARGE,SUCCESS,-5000,2025-01-12 10:04\n",
    ]
    .concat();
    let post = "H1,O1,P1,BASE,120000,2025-01-12T12:00:05+07:00,2025-01\n";
    let mut src = read(&s, &orders, &pays, post).unwrap();
    let o = reconcile_sources(&mut src, &s).unwrap();
    assert_eq!(o.inputs, [4, 1, 1]);
    assert!(!o.is_complete());
    // The rupiah of the rows set aside, where readable: 926 (the field before
    // the stray comma) and the negative charge's 5,000.
    assert_eq!(o.rejected.count, 3);
    let got: Vec<(u32, &str)> = src
        .rejected
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect();
    assert_eq!(got[0], (3, "7 fields where the header has 6"));
    assert!(
        got[1].0 == 4 && got[1].1.contains("\"12a\" is not an amount"),
        "{got:?}"
    );
    assert!(
        got[2].0 == 5 && got[2].1.contains("a charge of a negative amount"),
        "{got:?}"
    );
    assert_eq!(o.rejected.amount, 926 + 5000);
    // O1 reconciles; O2..O4 have no readable charge and are reported as such.
    assert_eq!(o.matched_orders, 1);
    // Rejected rows are written by a CSV writer: every record as wide as the header.
    let text = sidik_recon::output::rejected_csv(&src.rejected).unwrap();
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 3);
    let fields = |r: &csv::StringRecord, from: usize, to: usize| -> Vec<String> {
        (from..to).map(|i| r[i].to_string()).collect()
    };
    assert_eq!(
        fields(&rows[0], 0, 12),
        [
            "payments",
            "payments.csv",
            "3",
            "7 fields where the header has 6",
            "926",
            "P2",
            "O2",
            "CHARGE",
            "SUCCESS",
            "926",
            "000",
            "2025-01-12 10:02"
        ]
    );
    // An amount that cannot be read leaves the amount column empty.
    assert_eq!(fields(&rows[1], 0, 3), ["payments", "payments.csv", "4"]);
    assert_eq!(&rows[1][4], "");

    // A header-only export is not "nothing is wrong".
    let mut empty = read(&s, &orders, "", post).unwrap();
    let e = reconcile_sources(&mut empty, &s).unwrap_err().to_string();
    assert!(e.contains("the payments export has no rows"), "{e}");
}

#[test]
fn refunds_exported_with_a_sign_count_once_whatever_the_sign() {
    let pays = "P1,O1,CHARGE,SUCCESS,120000,2025-01-12 10:01\nR1,O1,REFUND,SUCCESS,-30000,2025-01-12 13:00\n";
    let base = "H1,O1,P1,BASE,120000,2025-01-12T12:00:05+07:00,2025-01\n";
    // The refund journal written negative, as many ledgers do.
    let refund = "H2,O1,R1,REFUND,-30000,2025-01-12T13:00:05+07:00,2025-01\n";
    assert_eq!(cats(&run(DONE, pays, &format!("{base}{refund}"))), vec![]);
    // A ledger with one journal type and the refund as a negative line of it.
    let reversal = "H2,O1,R1,BASE,-30000,2025-01-12T13:00:05+07:00,2025-01\n";
    assert_eq!(cats(&run(DONE, pays, &format!("{base}{reversal}"))), vec![]);
    // Not posted: named, for its 30,000.
    let o = run(DONE, pays, base);
    assert_eq!(cats(&o), vec![(code::REFUND_NOT_POSTED, 30000)]);
    // A charge of a negative amount is still refused, with the way out.
    let s = settings(&ReconSection::default());
    let src = read(
        &s,
        DONE,
        "P1,O1,CHARGE,SUCCESS,-120000,2025-01-12 10:01\n",
        "",
    )
    .unwrap();
    assert_eq!(src.rejected.len(), 1);
    assert_eq!(src.rejected[0].line, 2);
    assert!(src.rejected[0]
        .reason
        .starts_with("a charge of a negative amount (-120000)"));
}

#[test]
fn without_a_payment_type_column_the_kind_comes_from_the_status_and_the_sign() {
    let pays = "payment_id,order_id,payment_status,amount,created_at\nP1,O1,SUCCESS,120000,2025-01-12 10:01\nR1,O1,REFUNDED,30000,2025-01-12 13:00\nR2,O1,SUCCESS,-10000,2025-01-12 14:00\n";
    let base = "H1,O1,P1,BASE,120000,2025-01-12T12:00:05+07:00,2025-01\n";
    let refunds = "H2,O1,R1,REFUND,30000,2025-01-12T13:00:05+07:00,2025-01\nH3,O1,R2,REFUND,10000,2025-01-12T14:00:05+07:00,2025-01\n";
    assert_eq!(cats(&run(DONE, pays, &format!("{base}{refunds}"))), vec![]);
    let s = settings(&ReconSection::default());
    let src = read(&s, DONE, pays, base).unwrap();
    let kinds: Vec<_> = src.payments.iter().map(|p| (p.kind, p.amount)).collect();
    use sidik_recon::settings::PayKind::*;
    assert_eq!(kinds, [(Charge, 120000), (Refund, 30000), (Refund, 10000)]);
}

#[test]
fn not_yet_due_ends_when_the_trip_is_before_the_cut_off() {
    let pay = "P1,O1,CHARGE,SUCCESS,120000,2025-01-12 10:01\n";
    // The trip on Feb 25, the cut-off Feb 20: not yet due.
    let later = "O1,GB,SCHEDULED,2025-01-12 10:00,2025-02-25 10:00,2025-02-25 12:00,120000\n";
    assert_eq!(
        cats(&run(later, pay, "")),
        vec![(code::NOT_YET_DUE, 120000)]
    );
    // The trip on Feb 15: it was due, and HO never got it.
    let past = "O1,GB,SCHEDULED,2025-01-12 10:00,2025-02-15 10:00,2025-02-15 12:00,120000\n";
    assert_eq!(
        cats(&run(past, pay, "")),
        vec![(code::MISSING_IN_HO, 120000)]
    );
}

#[test]
fn an_order_active_before_its_trip_with_the_charge_long_settled_is_stuck() {
    let pay = "P1,O1,CHARGE,SUCCESS,120000,2025-01-12 10:01\n";
    // Paid on Jan 12 for a trip on Mar 3, still ACTIVE at the Feb 20 cut-off.
    let ahead = "O1,GB,ACTIVE,2025-01-12 10:00,2025-03-03 10:00,2025-03-03 12:00,120000\n";
    let o = run(ahead, pay, "");
    assert_eq!(o.stuck.len(), 1);
    assert!(cats(&o).contains(&(code::STATUS_MISMATCH, 120000)));
    // Stuck and never posted: two breaks of one charge, at stake once.
    assert!(cats(&o).contains(&(code::MISSING_IN_HO, 120000)));
    assert_eq!(o.at_stake(), 120000);
    // On its trip at the cut-off (started Feb 19, ends Feb 21): not stuck.
    let on_trip = "O1,GB,ACTIVE,2025-01-12 10:00,2025-02-19 10:00,2025-02-21 12:00,120000\n";
    assert!(run(on_trip, pay, "").stuck.is_empty());
    // Its trip ended an hour before the cut-off: within the 2 h grace.
    let just = "O1,GB,ACTIVE,2025-01-12 10:00,2025-02-19 20:00,2025-02-19 23:00,120000\n";
    assert!(run(just, pay, "").stuck.is_empty());
    // Ended three hours before: stuck.
    let ended = "O1,GB,ACTIVE,2025-01-12 10:00,2025-02-19 18:00,2025-02-19 21:00,120000\n";
    assert_eq!(run(ended, pay, "").stuck.len(), 1);
}
