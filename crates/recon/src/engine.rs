//! Matching and break categories.
//!
//! Per order: net charged = settled charges − settled refunds − settled voids;
//! posted = the signed sum of its journal lines under the routing rules.
//! Postings find their order by payment_id first and order_id second; a
//! posting whose order has several settled charges and that names none of
//! them is AMBIGUOUS and is never paired silently. Then, in this order:
//! duplicates (extra settled charges not given back; journal lines booked
//! twice), timing items (a scheduled order charged and not yet due; a
//! posting in a later ledger period than its charge), the order's status
//! against its money (stuck ACTIVE orders; CANCELLED with a charge kept;
//! COMPLETE with no charge), and the ledger (nothing posted for a charge;
//! posted with no charge; a refund not posted; a difference beyond the
//! tolerance; a posting later than the lag window).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::settings::{OrderStatus, PayKind, PayStatus, Settings};
use crate::source::{Loc, Order, Payment, Posting, Rejected, Sources};
use crate::ReconError;

/// Break and timing codes, stable across versions.
pub mod code {
    /// Charged and posted alike.
    pub const MATCHED: &str = "MATCHED";
    /// Charged, never posted: the incident's core.
    pub const MISSING_IN_HO: &str = "MISSING_IN_HO";
    /// Posted without a successful charge.
    pub const MISSING_AT_UPG: &str = "MISSING_AT_UPG";
    /// HO booked more than UPG kept.
    pub const AMOUNT_OVER: &str = "AMOUNT_OVER";
    /// HO booked less than UPG kept.
    pub const AMOUNT_UNDER: &str = "AMOUNT_UNDER";
    /// More than one successful charge for one order, not given back.
    pub const DUPLICATE_CHARGE: &str = "DUPLICATE_CHARGE";
    /// The same journal line booked more than once.
    pub const DUPLICATE_POSTING: &str = "DUPLICATE_POSTING";
    /// A settled refund with no negative journal line.
    pub const REFUND_NOT_POSTED: &str = "REFUND_NOT_POSTED";
    /// The order's status contradicts its money (stuck ACTIVE, CANCELLED with a charge kept, COMPLETE with no charge).
    pub const STATUS_MISMATCH: &str = "STATUS_MISMATCH";
    /// Posted later than the lag window allows.
    pub const LATE_POSTING: &str = "LATE_POSTING";
    /// Timing item: posted in a later ledger period than charged.
    pub const CROSS_PERIOD: &str = "CROSS_PERIOD";
    /// Timing item: a scheduled order charged for a trip after the cut-off.
    pub const NOT_YET_DUE: &str = "NOT_YET_DUE";
    /// More than one candidate: not paired.
    pub const AMBIGUOUS: &str = "AMBIGUOUS";
    /// Timing items: not breaks, but listed.
    pub const TIMING: [&str; 2] = [CROSS_PERIOD, NOT_YET_DUE];
}

/// One row of the breaks table.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Break {
    /// See [`code`].
    pub category: &'static str,
    /// `stuck`, `cancelled_with_charge`, `complete_without_charge` for STATUS_MISMATCH; empty otherwise.
    pub reason: &'static str,
    /// Order id.
    pub order_id: String,
    /// The payment concerned, when one is.
    pub payment_id: Option<String>,
    /// The posting concerned, when one is.
    pub posting_id: Option<String>,
    /// BB / SB / GB …
    pub service_line: String,
    /// Net charged by UPG for the order, IDR.
    pub charged: i64,
    /// Net posted by HO for the order, IDR.
    pub posted: i64,
    /// The amount of this break, IDR (what is missing, extra or at stake).
    pub amount: i64,
    /// When the money moved (the charge, else the posting), UTC ms.
    pub at: Option<i64>,
    /// Hours from `at` to the cut-off.
    pub age_h: Option<f64>,
    /// Where it was read (`file:line`).
    pub source: String,
    /// When HO's posting was due: the trip's end, else `at` (UTC ms).
    pub due: Option<i64>,
}

/// A stuck order with its payment and posting state.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Stuck {
    /// Order id.
    pub order_id: String,
    /// Service line.
    pub service_line: String,
    /// Trip end, UTC ms.
    pub trip_end_at: Option<i64>,
    /// Hours past the trip's end at the cut-off.
    pub hours_past_end: Option<f64>,
    /// Net charged, IDR.
    pub charged: i64,
    /// Settled charges.
    pub charges: usize,
    /// Net posted, IDR.
    pub posted: i64,
    /// Journal lines.
    pub postings: usize,
}

/// A row whose id its source listed before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repeat {
    /// `orders`, `payments` or `postings`.
    pub source: &'static str,
    /// The repeated row's index in its slice.
    pub row: usize,
    /// The line where the id was first listed.
    pub first_line: u32,
}

/// Count and rupiah.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Tally {
    /// Rows.
    pub count: u64,
    /// IDR.
    pub amount: i64,
}

/// What a reconciliation found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    /// Breaks and timing items, by order id then category.
    pub breaks: Vec<Break>,
    /// Stuck orders.
    pub stuck: Vec<Stuck>,
    /// Per category.
    pub by_category: BTreeMap<&'static str, Tally>,
    /// Per service line and category.
    pub by_service_line: BTreeMap<String, BTreeMap<&'static str, Tally>>,
    /// Per hour of `at` (incident timezone, `YYYY-MM-DD HH:00`) and category.
    pub by_hour: BTreeMap<String, BTreeMap<&'static str, Tally>>,
    /// Orders, payments and postings read.
    pub inputs: [u64; 3],
    /// Orders with no break and no timing item.
    pub matched_orders: u64,
    /// Input rows set aside (unreadable, or repeating an id), with the
    /// rupiah they carried where it could be read: while it is not zero the
    /// reconciliation is incomplete.
    pub rejected: Tally,
}

impl Outcome {
    /// Adds another part's findings (the part after this one, in order-id order).
    fn merge(&mut self, other: Outcome) {
        self.breaks.extend(other.breaks);
        self.stuck.extend(other.stuck);
        let add = |a: &mut Tally, b: &Tally| {
            a.count += b.count;
            a.amount += b.amount;
        };
        for (c, t) in &other.by_category {
            add(self.by_category.entry(c).or_default(), t);
        }
        for (sl, cats) in other.by_service_line {
            let mine = self.by_service_line.entry(sl).or_default();
            for (c, t) in &cats {
                add(mine.entry(c).or_default(), t);
            }
        }
        for (h, cats) in other.by_hour {
            let mine = self.by_hour.entry(h).or_default();
            for (c, t) in &cats {
                add(mine.entry(c).or_default(), t);
            }
        }
        self.matched_orders += other.matched_orders;
    }

    /// Whether every input row was reconciled (none set aside).
    pub fn is_complete(&self) -> bool {
        self.rejected.count == 0
    }

    /// The rupiah at stake in the breaks, each charge, refund or posting
    /// counted once: a stuck order's charge that HO never got is one
    /// STATUS_MISMATCH and one MISSING_IN_HO of the same money, so the
    /// categories' totals may not be added. Breaks about the same order and
    /// the same payment (or posting) count their largest amount; timing
    /// items count nothing.
    pub fn at_stake(&self) -> i64 {
        let mut most: std::collections::HashMap<(&str, Option<&str>, Option<&str>), i64> =
            std::collections::HashMap::new();
        for b in self
            .breaks
            .iter()
            .filter(|b| !code::TIMING.contains(&b.category))
        {
            let key = (
                b.order_id.as_str(),
                b.payment_id.as_deref(),
                b.posting_id.as_deref(),
            );
            let m = most.entry(key).or_default();
            *m = (*m).max(b.amount);
        }
        most.values().sum()
    }

    /// Whether anything other than timing items was found.
    pub fn has_breaks(&self) -> bool {
        self.breaks
            .iter()
            .any(|b| !code::TIMING.contains(&b.category))
    }
}

struct Group<'a> {
    order: Option<&'a Order>,
    pays: Vec<&'a Payment>,
    posts: Vec<&'a Posting>,
}

/// Rows found by their id: a hash table of row numbers (4 bytes an entry)
/// rather than a map of string slices (16 bytes of key and the value), so the
/// two tables of a 10-million-order reconciliation take about 160 MB, not 800.
struct Index {
    table: hashbrown::HashTable<u32>,
}

fn id_hash(id: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = rustc_hash::FxBuildHasher.build_hasher();
    h.write(id.as_bytes());
    h.finish()
}

impl Index {
    fn with_capacity(n: usize) -> Index {
        Index {
            table: hashbrown::HashTable::with_capacity(n),
        }
    }

    /// The row holding `id`; `key` gives a row's id.
    fn get<'k>(&self, id: &str, key: impl Fn(u32) -> &'k str) -> Option<u32> {
        self.table.find(id_hash(id), |r| key(*r) == id).copied()
    }

    /// Adds `row` under its id, or returns the row already there.
    fn insert<'k>(&mut self, id: &str, row: u32, key: impl Fn(u32) -> &'k str) -> Result<(), u32> {
        let h = id_hash(id);
        match self.table.entry(h, |r| key(*r) == id, |r| id_hash(key(*r))) {
            hashbrown::hash_table::Entry::Occupied(e) => Err(*e.get()),
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert(row);
                Ok(())
            }
        }
    }
}

/// Payments by payment id.
struct ByPayment<'a> {
    index: Index,
    payments: &'a [Payment],
}

impl<'a> ByPayment<'a> {
    fn get(&self, id: &str) -> Option<&'a Payment> {
        let p = self.payments;
        self.index
            .get(id, |r| &p[r as usize].id)
            .map(|r| &p[r as usize])
    }
}

/// Reconciles what could be read of the three sources: rows that repeat an
/// id are moved into `src.rejected` (with the line they repeat) and the rest
/// is reconciled; [`Outcome::rejected`] counts every row set aside. A source
/// with no row at all is an error: a header-only export reconciles to
/// nothing but breaks, and would be taken for the truth.
pub fn reconcile_sources(src: &mut Sources, s: &Settings) -> Result<Outcome, ReconError> {
    for (name, n) in [
        ("orders", src.orders.len()),
        ("payments", src.payments.len()),
        ("postings", src.postings.len()),
    ] {
        if n == 0 {
            let mut aside = src.rejected.iter().filter(|r| r.source == name);
            return Err(ReconError::Input(match aside.next() {
                Some(first) => format!(
                    "the {name} export has no row that could be read ({} set aside, the first: {}:{}: {}); nothing to reconcile",
                    1 + aside.count(),
                    first.file,
                    first.line,
                    first.reason
                ),
                None => format!(
                    "the {name} export has no rows (only a header?): nothing to reconcile; export it again"
                ),
            }));
        }
    }
    let mut outcome = match reconcile(&src.orders, &src.payments, &src.postings, s) {
        Err(ReconError::Repeated(repeats)) => {
            set_aside_repeats(src, &repeats);
            reconcile(&src.orders, &src.payments, &src.postings, s)?
        }
        other => other?,
    };
    outcome.rejected = Tally {
        count: src.rejected.len() as u64,
        amount: src
            .rejected
            .iter()
            .filter_map(|r| r.amount)
            .map(i64::abs)
            .sum(),
    };
    Ok(outcome)
}

fn set_aside_repeats(src: &mut Sources, repeats: &[Repeat]) {
    fn take<T>(
        rows: &mut Vec<T>,
        idx: &[(usize, u32)],
        mut reject: impl FnMut(&T, u32) -> Rejected,
        out: &mut Vec<Rejected>,
    ) {
        let mut drop = vec![None; rows.len()];
        for &(i, first) in idx {
            drop[i] = Some(first);
        }
        let mut i = 0;
        rows.retain(|r| {
            let keep = match drop[i] {
                Some(first) => {
                    out.push(reject(r, first));
                    false
                }
                None => true,
            };
            i += 1;
            keep
        });
    }
    let of = |name: &str| -> Vec<(usize, u32)> {
        repeats
            .iter()
            .filter(|r| r.source == name)
            .map(|r| (r.row, r.first_line))
            .collect()
    };
    let mut out = Vec::new();
    let row =
        |source: &'static str, loc: &Loc, id: &str, first: u32, amount: Option<i64>| Rejected {
            source,
            file: loc.name().to_string(),
            line: loc.line,
            reason: format!(
                "{} {id} is also on line {first}; an export lists each once (the first is kept)",
                &source[..source.len() - 1]
            ),
            amount,
            fields: vec![id.to_string()],
        };
    take(
        &mut src.orders,
        &of("orders"),
        |o, f| row("orders", &o.loc, &o.id, f, o.amount_total()),
        &mut out,
    );
    take(
        &mut src.payments,
        &of("payments"),
        |p, f| row("payments", &p.loc, &p.id, f, Some(p.amount)),
        &mut out,
    );
    take(
        &mut src.postings,
        &of("postings"),
        |p, f| row("postings", &p.loc, &p.id, f, Some(p.amount)),
        &mut out,
    );
    src.rejected.extend(out);
}

/// Reconciles the three sources. An id listed twice in one source (an
/// export lists each order, payment and posting once) is an error,
/// [`ReconError::Repeated`], listing every repeated row with the line it
/// repeats; [`reconcile_sources`] sets those rows aside and reconciles the
/// rest.
pub fn reconcile(
    orders: &[Order],
    payments: &[Payment],
    postings: &[Posting],
    s: &Settings,
) -> Result<Outcome, ReconError> {
    // Every order id gets a number: the orders first, then ids only payments
    // name. The payment-id map is built on another core meanwhile.
    let twice = |source: &'static str, row: usize, first: &Loc| Repeat {
        source,
        row,
        first_line: first.line,
    };
    let (numbered, by_payment, posting_ids) = std::thread::scope(|sc| {
        let pays = sc.spawn(|| -> (ByPayment, Vec<Repeat>) {
            let mut index = Index::with_capacity(payments.len());
            let mut repeats = Vec::new();
            for (i, p) in payments.iter().enumerate() {
                if let Err(first) = index.insert(&p.id, i as u32, |r| &payments[r as usize].id) {
                    let first = &payments[first as usize];
                    repeats.push(twice("payments", i, &first.loc));
                }
            }
            (ByPayment { index, payments }, repeats)
        });
        let posts = sc.spawn(|| -> Vec<Repeat> {
            let mut repeats = Vec::new();
            // Sorting (hash, row) pairs finds repeats with sequential memory access;
            // equal hashes are confirmed on the ids themselves.
            // One u64 a posting: the hash's high 32 bits above the row number.
            let mut hs: Vec<u64> = postings
                .iter()
                .enumerate()
                .map(|(i, p)| (id_hash(&p.id) & 0xffff_ffff_0000_0000) | i as u64)
                .collect();
            hs.sort_unstable();
            let row = |x: u64| &postings[(x & 0xffff_ffff) as usize];
            let mut run = 0;
            while run < hs.len() {
                let mut end = run + 1;
                while end < hs.len() && hs[end] >> 32 == hs[run] >> 32 {
                    end += 1;
                }
                for j in run + 1..end {
                    let later = row(hs[j]);
                    if let Some(first) = hs[run..j]
                        .iter()
                        .map(|x| row(*x))
                        .find(|p| p.id == later.id)
                    {
                        repeats.push(twice(
                            "postings",
                            (hs[j] & 0xffff_ffff) as usize,
                            &first.loc,
                        ));
                    }
                }
                run = end;
            }
            repeats
        });
        let numbered = {
            let mut repeats = Vec::new();
            // Order number i < orders.len() is orders[i]; above, an id only payments name,
            // kept as the row of the first payment naming it (4 bytes, not a 16-byte slice).
            let n_orders = orders.len() as u32;
            let mut index = Index::with_capacity(orders.len() + orders.len() / 16);
            for (i, o) in orders.iter().enumerate() {
                if let Err(first) = index.insert(&o.id, i as u32, |r| &orders[r as usize].id) {
                    let first = &orders[first as usize].loc;
                    repeats.push(twice("orders", i, first));
                }
            }
            let mut extra: Vec<u32> = Vec::new();
            let mut pay_group: Vec<u32> = Vec::with_capacity(payments.len());
            for (row, p) in payments.iter().enumerate() {
                let next = n_orders + extra.len() as u32;
                extra.push(row as u32);
                let key = |r: u32| -> &str {
                    if r < n_orders {
                        &orders[r as usize].id
                    } else {
                        &payments[extra[(r - n_orders) as usize] as usize].order_id
                    }
                };
                let g = match index.insert(&p.order_id, next, key) {
                    Ok(()) => next,
                    Err(known) => {
                        extra.pop();
                        known
                    }
                };
                pay_group.push(g);
            }
            ((index, extra, pay_group), repeats)
        };
        (
            numbered,
            pays.join().expect("payment map thread panicked"),
            posts.join().expect("posting id thread panicked"),
        )
    });
    let (numbered, mut repeats) = numbered;
    let (by_payment, pay_repeats) = by_payment;
    repeats.extend(pay_repeats);
    repeats.extend(posting_ids);
    if !repeats.is_empty() {
        repeats.sort_by_key(|r| (r.source, r.row));
        return Err(ReconError::Repeated(repeats));
    }
    let (index, extra, pay_group) = numbered;
    let n_orders = orders.len();
    let key = |r: u32| -> &str {
        if (r as usize) < n_orders {
            &orders[r as usize].id
        } else {
            &payments[extra[r as usize - n_orders] as usize].order_id
        }
    };
    let order_of = |i: usize| orders.get(i);
    // Postings find their order (payment_id first, order_id second), in two halves at once.
    let resolve = |part: &[Posting]| -> Vec<u32> {
        part.iter()
            .map(|p| {
                let order = match p.payment_id.as_deref().and_then(|id| by_payment.get(id)) {
                    Some(pay) => Some(&*pay.order_id),
                    None => p.order_id.as_deref(),
                };
                order.and_then(|o| index.get(o, key)).unwrap_or(u32::MAX)
            })
            .collect()
    };
    let half = postings.len() / 2;
    let post_group: Vec<u32> = std::thread::scope(|sc| {
        let second = sc.spawn(|| resolve(&postings[half..]));
        let mut first = resolve(&postings[..half]);
        first.extend(second.join().expect("posting thread panicked"));
        first
    });
    drop(index);
    let orphans: Vec<&Posting> = postings
        .iter()
        .zip(&post_group)
        .filter(|(_, g)| **g == u32::MAX)
        .map(|(p, _)| p)
        .collect();
    // Rows per order, laid out contiguously (a counting sort by order number).
    let n = n_orders + extra.len();
    let layout = |groups: &[u32]| -> (Vec<u32>, Vec<u32>) {
        let mut start = vec![0u32; n + 1];
        for &g in groups.iter().filter(|g| **g != u32::MAX) {
            start[g as usize + 1] += 1;
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut rows = vec![0u32; start[n] as usize];
        for (row, &g) in groups.iter().enumerate() {
            if g != u32::MAX {
                rows[fill[g as usize] as usize] = row as u32;
                fill[g as usize] += 1;
            }
        }
        (start, rows)
    };
    let (pay_start, pay_rows) = layout(&pay_group);
    let (post_start, post_rows) = layout(&post_group);
    drop((pay_group, post_group));
    let mut ids: Vec<u32> = (0..n as u32).collect();
    ids.sort_unstable_by(|a, b| key(*a).cmp(key(*b)));
    // Orders are checked in two halves at once; the halves' findings are joined in order.
    let check = |ids: &[u32]| -> Outcome {
        let mut out = Outcome::default();
        let mut g = Group {
            order: None,
            pays: Vec::new(),
            posts: Vec::new(),
        };
        for &i in ids {
            let i = i as usize;
            g.order = order_of(i);
            g.pays.clear();
            g.pays.extend(
                pay_rows[pay_start[i] as usize..pay_start[i + 1] as usize]
                    .iter()
                    .map(|r| &payments[*r as usize]),
            );
            g.posts.clear();
            g.posts.extend(
                post_rows[post_start[i] as usize..post_start[i + 1] as usize]
                    .iter()
                    .map(|r| &postings[*r as usize]),
            );
            check_order(key(i as u32), &g, &by_payment, s, &mut out);
        }
        out
    };
    let mid = ids.len() / 2;
    let (a, b) = std::thread::scope(|sc| {
        let second = sc.spawn(|| check(&ids[mid..]));
        (
            check(&ids[..mid]),
            second.join().expect("check thread panicked"),
        )
    });
    let mut out = a;
    out.merge(b);
    out.inputs = [
        orders.len() as u64,
        payments.len() as u64,
        postings.len() as u64,
    ];
    // Postings that match no order and no payment: booked with no charge behind them.
    for p in orphans {
        push(
            &mut out,
            s,
            Break {
                category: code::MISSING_AT_UPG,
                reason: "",
                order_id: p.order_id.as_deref().unwrap_or("").to_string(),
                payment_id: p.payment_id.as_deref().map(str::to_string),
                posting_id: Some(p.id.to_string()),
                service_line: String::new(),
                charged: 0,
                posted: p.signed(),
                amount: p.signed(),
                at: Some(p.at),
                age_h: None,
                source: p.loc.to_string(),
                due: None,
            },
        );
    }
    out.breaks.sort_by(|a, b| {
        (&a.order_id, a.category, &a.payment_id).cmp(&(&b.order_id, b.category, &b.payment_id))
    });
    Ok(out)
}

fn push(out: &mut Outcome, s: &Settings, mut b: Break) {
    b.age_h = b.at.map(|t| (s.as_of - t) as f64 / 3_600_000.0);
    let t = out.by_category.entry(b.category).or_default();
    t.count += 1;
    t.amount += b.amount;
    let t = out
        .by_service_line
        .entry(b.service_line.clone())
        .or_default()
        .entry(b.category)
        .or_default();
    t.count += 1;
    t.amount += b.amount;
    if let Some(at) = b.at {
        use chrono::TimeZone;
        if let chrono::LocalResult::Single(d) = s.tz.timestamp_millis_opt(at) {
            let t = out
                .by_hour
                .entry(d.format("%Y-%m-%d %H:00").to_string())
                .or_default()
                .entry(b.category)
                .or_default();
            t.count += 1;
            t.amount += b.amount;
        }
    }
    out.breaks.push(b);
}

/// Whether an ACTIVE order with a settled charge is stuck at the cut-off
/// (`as_of`), `stuck_after` being the grace (docs/recon.md, "Stuck orders"):
///
/// - its trip ended at least `stuck_after` before the cut-off;
/// - its trip has not started yet, and its charge settled at least
///   `stuck_after` before the cut-off: ACTIVE before the trip is a status
///   that never moved on after the payment (a booking paid weeks ahead);
/// - the export has no trip times: it was created at least `stuck_after`
///   before the cut-off.
pub fn is_stuck(o: &Order, first_charge: Option<&Payment>, s: &Settings) -> bool {
    let grace = |t: i64| s.as_of - t >= s.stuck_after_ms;
    match (o.trip_start_at(), o.trip_end_at()) {
        (_, Some(end)) if end <= s.as_of => grace(end),
        (Some(start), _) if start > s.as_of => first_charge.is_some_and(|c| grace(c.at)),
        (None, None) => grace(o.created_at),
        // On its trip (started, not ended), or no start and an end to come.
        _ => false,
    }
}

/// Checks one order's charges and postings, rule family by rule family in
/// the order docs/recon.md gives: postings that cannot be told apart,
/// journal lines booked twice, charges taken twice, a scheduled order not yet
/// due (which ends the checks), status against money, and the ledger (missing
/// in HO or at UPG, refunds, amounts, timing). An order with no break is
/// counted as matched.
fn check_order(id: &str, g: &Group, by_payment: &ByPayment, s: &Settings, out: &mut Outcome) {
    let before = out.breaks.len();
    let mut c = OrderCheck::new(id, g, by_payment, s);
    c.ambiguous_postings(out);
    c.duplicate_postings(out);
    c.duplicate_charges(out);
    if !c.not_yet_due(out) {
        c.status_against_money(out);
        c.ledger(out);
    }
    finish(out, before);
}

/// A break as one rule found it; [`OrderCheck::report`] adds the order's
/// id, service line and net charge.
struct Found<'a> {
    category: &'static str,
    reason: &'static str,
    payment: Option<&'a Payment>,
    posting: Option<&'a Posting>,
    posted: i64,
    amount: i64,
    at: Option<i64>,
    source: String,
}

/// One order's money, worked out once and read by every rule family.
struct OrderCheck<'a> {
    id: &'a str,
    g: &'a Group<'a>,
    by_payment: &'a ByPayment<'a>,
    s: &'a Settings,
    /// Settled charges and refunds, by time.
    charges: Vec<&'a Payment>,
    refunds: Vec<&'a Payment>,
    /// Refunds plus voids of a settled charge.
    given_back: i64,
    /// Net charged: settled charges less what was given back.
    charged: i64,
    /// The postings that belong to one charge (the others are ambiguous).
    posts: Vec<&'a Posting>,
    /// The same, by time.
    sorted_posts: Vec<&'a Posting>,
    /// Net posted by those postings.
    posted: i64,
    /// What journal lines booked twice add.
    dup_posted: i64,
    /// What extra charges not given back add.
    dup_charged: i64,
}

impl<'a> OrderCheck<'a> {
    fn new(id: &'a str, g: &'a Group<'a>, by_payment: &'a ByPayment<'a>, s: &'a Settings) -> Self {
        let settled = |k: PayKind| -> Vec<&'a Payment> {
            let mut v: Vec<&Payment> = g
                .pays
                .iter()
                .copied()
                .filter(|p| p.kind == k && p.status == PayStatus::Settled)
                .collect();
            v.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
            v
        };
        let charges = settled(PayKind::Charge);
        let refunds = settled(PayKind::Refund);
        let voids = settled(PayKind::Void);
        let charge_sum: i64 = charges.iter().map(|p| p.amount).sum();
        // A void cancels a settled charge; one without a settled charge (a void
        // before settlement) moved no money.
        let voided = voids.iter().map(|p| p.amount).sum::<i64>().min(charge_sum);
        let given_back: i64 = refunds.iter().map(|p| p.amount).sum::<i64>() + voided;
        OrderCheck {
            id,
            g,
            by_payment,
            s,
            charges,
            refunds,
            given_back,
            charged: charge_sum - given_back,
            posts: Vec::new(),
            sorted_posts: Vec::new(),
            posted: 0,
            dup_posted: 0,
            dup_charged: 0,
        }
    }

    /// Records a break of this order.
    fn report(&self, out: &mut Outcome, f: Found) {
        let b = Break {
            category: f.category,
            reason: f.reason,
            order_id: self.id.to_string(),
            payment_id: f.payment.map(|p| p.id.to_string()),
            posting_id: f.posting.map(|p| p.id.to_string()),
            service_line: self.service_line().to_string(),
            charged: self.charged,
            posted: f.posted,
            amount: f.amount,
            at: f.at,
            age_h: None,
            source: f.source,
            due: self.g.order.and_then(|o| o.trip_end_at()).or(f.at),
        };
        push(out, self.s, b);
    }

    fn service_line(&self) -> &'a str {
        self.g.order.map_or("", |o| o.service_line.as_str())
    }

    fn first_charge(&self) -> Option<&'a Payment> {
        self.charges.first().copied()
    }

    fn status(&self) -> Option<OrderStatus> {
        self.g.order.map(|o| o.status)
    }

    /// AMBIGUOUS: a posting that names no charge of an order with several
    /// cannot be told apart; the rest are the order's postings.
    fn ambiguous_postings(&mut self, out: &mut Outcome) {
        for &p in &self.g.posts {
            let names_charge = p
                .payment_id
                .as_deref()
                .is_some_and(|pid| self.by_payment.get(pid).is_some());
            if !names_charge && self.charges.len() > 1 {
                self.report(
                    out,
                    Found {
                        category: code::AMBIGUOUS,
                        reason: "",
                        payment: None,
                        posting: Some(p),
                        posted: 0,
                        amount: p.signed(),
                        at: Some(p.at),
                        source: p.loc.to_string(),
                    },
                );
            } else {
                self.posts.push(p);
            }
        }
        self.posted = self.posts.iter().map(|p| p.signed()).sum();
        self.sorted_posts = self.posts.clone();
        self.sorted_posts
            .sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    }

    /// DUPLICATE_POSTING: journal lines booked more than once (same payment,
    /// journal type, sign and amount).
    fn duplicate_postings(&mut self, out: &mut Outcome) {
        let same = |a: &Posting, b: &Posting| {
            a.payment_id == b.payment_id
                && a.journal == b.journal
                && a.negative == b.negative
                && a.amount == b.amount
        };
        // A line is a repeat when an earlier one has the same payment, type and amount
        // (orders have a handful of lines: no map needed).
        let sorted = &self.sorted_posts;
        self.dup_posted = sorted
            .iter()
            .enumerate()
            .filter(|(i, p)| sorted[..*i].iter().any(|q| same(q, p)))
            .map(|(_, p)| p.signed())
            .sum();
        if self.dup_posted != 0 {
            let first = sorted.first().copied();
            let pay = first
                .and_then(|p| p.payment_id.as_deref())
                .and_then(|pid| self.by_payment.get(pid));
            self.report(
                out,
                Found {
                    category: code::DUPLICATE_POSTING,
                    reason: "",
                    payment: pay,
                    posting: None,
                    posted: self.posted,
                    amount: self.dup_posted,
                    at: first.map(|p| p.at),
                    source: first.map(|p| p.loc.to_string()).unwrap_or_default(),
                },
            );
        }
    }

    /// DUPLICATE_CHARGE: each settled charge after the first that was not
    /// given back.
    fn duplicate_charges(&mut self, out: &mut Outcome) {
        if self.charges.len() < 2 {
            return;
        }
        let mut back = self.given_back;
        for &extra in &self.charges[1..] {
            if back >= extra.amount {
                back -= extra.amount;
                continue;
            }
            self.dup_charged += extra.amount;
            self.report(
                out,
                Found {
                    category: code::DUPLICATE_CHARGE,
                    reason: "",
                    payment: Some(extra),
                    posting: None,
                    posted: self.posted,
                    amount: extra.amount,
                    at: Some(extra.at),
                    source: extra.loc.to_string(),
                },
            );
        }
    }

    /// NOT_YET_DUE: a scheduled order charged for a trip after the cut-off,
    /// with nothing posted. Returns whether it was (the other checks then do
    /// not apply). One whose trip ended before the cut-off was due: it goes
    /// on to the ledger checks.
    fn not_yet_due(&self, out: &mut Outcome) -> bool {
        let trip_after_cutoff = self
            .g
            .order
            .and_then(|o| o.trip_end_at())
            .is_none_or(|end| end > self.s.as_of);
        if self.status() != Some(OrderStatus::Scheduled)
            || !self.posts.is_empty()
            || !trip_after_cutoff
        {
            return false;
        }
        if let Some(c) = self.first_charge().filter(|_| self.charged > 0) {
            self.report(
                out,
                Found {
                    category: code::NOT_YET_DUE,
                    reason: "",
                    payment: Some(c),
                    posting: None,
                    posted: 0,
                    amount: self.charged,
                    at: Some(c.at),
                    source: c.loc.to_string(),
                },
            );
        }
        true
    }

    /// STATUS_MISMATCH: a stuck ACTIVE order (also listed in the stuck
    /// orders), a cancelled order that kept a charge, a complete order with
    /// no charge.
    fn status_against_money(&self, out: &mut Outcome) {
        let Some(o) = self.g.order else {
            return;
        };
        let (charged, posted, first_charge) = (self.charged, self.posted, self.first_charge());
        let found = match o.status {
            OrderStatus::Active
                if !self.charges.is_empty() && is_stuck(o, first_charge, self.s) =>
            {
                out.stuck.push(Stuck {
                    order_id: self.id.to_string(),
                    service_line: self.service_line().to_string(),
                    trip_end_at: o.trip_end_at(),
                    hours_past_end: o
                        .trip_end_at()
                        .map(|e| (self.s.as_of - e) as f64 / 3_600_000.0),
                    charged,
                    charges: self.charges.len(),
                    posted,
                    postings: self.posts.len(),
                });
                Found {
                    category: code::STATUS_MISMATCH,
                    reason: "stuck",
                    payment: first_charge,
                    posting: None,
                    posted,
                    amount: charged,
                    at: o.trip_end_at().or(Some(o.created_at)),
                    source: o.loc.to_string(),
                }
            }
            OrderStatus::Cancelled if charged - self.dup_charged > 0 && posted <= 0 => Found {
                category: code::STATUS_MISMATCH,
                reason: "cancelled_with_charge",
                payment: first_charge,
                posting: None,
                posted,
                amount: charged - self.dup_charged,
                at: first_charge.map(|c| c.at),
                source: o.loc.to_string(),
            },
            OrderStatus::Complete if self.charges.is_empty() => Found {
                category: code::STATUS_MISMATCH,
                reason: "complete_without_charge",
                payment: None,
                posting: None,
                posted,
                amount: o.amount_total().unwrap_or(0),
                at: Some(o.created_at),
                source: o.loc.to_string(),
            },
            _ => return,
        };
        self.report(out, found);
    }

    /// The ledger: MISSING_IN_HO (a kept charge with no posting, unless the
    /// order is cancelled), MISSING_AT_UPG (postings with no charge), then
    /// REFUND_NOT_POSTED or AMOUNT_OVER/UNDER beyond the tolerance, then the
    /// timing of the first posting: CROSS_PERIOD or LATE_POSTING.
    fn ledger(&self, out: &mut Outcome) {
        let kept = self.charged - self.dup_charged;
        let booked = self.posted - self.dup_posted;
        let cancelled = self.status() == Some(OrderStatus::Cancelled);
        let first_charge = self.first_charge();
        let posted = self.posted;
        if self.posts.is_empty() {
            if let Some(c) = first_charge.filter(|_| kept > 0 && !cancelled) {
                self.report(
                    out,
                    Found {
                        category: code::MISSING_IN_HO,
                        reason: "",
                        payment: Some(c),
                        posting: None,
                        posted: 0,
                        amount: kept,
                        at: Some(c.at),
                        source: c.loc.to_string(),
                    },
                );
            }
            return;
        }
        if self.charges.is_empty() && booked > 0 {
            let p = self.posts[0];
            self.report(
                out,
                Found {
                    category: code::MISSING_AT_UPG,
                    reason: "",
                    payment: None,
                    posting: Some(p),
                    posted,
                    amount: booked,
                    at: Some(p.at),
                    source: p.loc.to_string(),
                },
            );
            return;
        }
        self.amounts(out, kept, booked);
        self.timing(out, kept);
    }

    /// REFUND_NOT_POSTED when the difference is exactly the refunds and no
    /// negative line was booked; else AMOUNT_OVER/UNDER beyond the tolerance.
    fn amounts(&self, out: &mut Outcome, kept: i64, booked: i64) {
        let diff = booked - kept;
        let refunded: i64 = self.refunds.iter().map(|p| p.amount).sum();
        let negative_posted = self.posts.iter().any(|p| p.negative);
        let tolerance = self
            .s
            .tolerance_idr
            .max((kept.abs() as f64 * self.s.tolerance_pct).floor() as i64);
        let first_charge = self.first_charge();
        let found = if refunded > 0 && !negative_posted && diff == refunded {
            let r = self.refunds[0];
            Found {
                category: code::REFUND_NOT_POSTED,
                reason: "",
                payment: Some(r),
                posting: None,
                posted: self.posted,
                amount: refunded,
                at: Some(r.at),
                source: r.loc.to_string(),
            }
        } else if diff.abs() > tolerance {
            let first_loc = || {
                self.g
                    .order
                    .map(|o| o.loc.to_string())
                    .or_else(|| self.g.pays.first().map(|p| p.loc.to_string()))
                    .unwrap_or_default()
            };
            Found {
                category: if diff > 0 {
                    code::AMOUNT_OVER
                } else {
                    code::AMOUNT_UNDER
                },
                reason: "",
                payment: first_charge,
                posting: None,
                posted: self.posted,
                amount: diff.abs(),
                at: first_charge.map(|c| c.at).or(Some(self.posts[0].at)),
                source: first_charge.map_or_else(first_loc, |c| c.loc.to_string()),
            }
        } else {
            return;
        };
        self.report(out, found);
    }

    /// CROSS_PERIOD when the first positive posting is in another ledger
    /// period than the charge; else LATE_POSTING when it came more than the
    /// allowed lag after the trip's end (or the charge).
    fn timing(&self, out: &mut Outcome, kept: i64) {
        let Some(c) = self.first_charge() else {
            return;
        };
        let Some(p) = self.sorted_posts.iter().find(|p| !p.negative).copied() else {
            return;
        };
        let (category, source) = if p.period != self.s.period_number(c.at) {
            (code::CROSS_PERIOD, c.loc.to_string())
        } else {
            let due = self.g.order.and_then(|o| o.trip_end_at()).unwrap_or(c.at);
            if p.at - due <= self.s.posting_lag_ms {
                return;
            }
            (code::LATE_POSTING, p.loc.to_string())
        };
        self.report(
            out,
            Found {
                category,
                reason: "",
                payment: Some(c),
                posting: Some(p),
                posted: self.posted,
                amount: kept,
                at: Some(c.at),
                source,
            },
        );
    }
}

fn finish(out: &mut Outcome, before: usize) {
    if out.breaks.len() == before {
        out.matched_orders += 1;
        let t = out.by_category.entry(code::MATCHED).or_default();
        t.count += 1;
    }
}
