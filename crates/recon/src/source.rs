//! Reading the three sources (CSV, Parquet, or rows from a database query)
//! into typed rows, through the column and value maps. A row that cannot be
//! read (a field too many or too few, an amount that is not rupiah, a time
//! that is not a time, a word the value maps do not know) is set aside as a
//! [`Rejected`] row with its file, line, reason and fields, and the rest is
//! read: nothing is dropped silently, and one bad row hides nothing else. A
//! source that cannot be read at all (missing, a required column missing)
//! stops the run with the file and what was expected.

use std::sync::Arc;

use crate::settings::{OrderStatus, PayKind, PayStatus, Settings};
use crate::values::Values;
use crate::ReconError;

/// An id or short text: stored inline up to 24 bytes (order, payment and
/// posting ids are), so reading millions of rows allocates nothing per id.
pub type Id = compact_str::CompactString;

/// Where a row came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    /// The source as shown to people (`data/payments.csv`, `query payments`),
    /// by its number in the process-wide list of source names ([`Loc::name`]).
    pub file: u32,
    /// 1-based line (the header is line 1 in a CSV) or row number.
    pub line: u32,
}

/// Source names, each stored once per process (a row carries only its number).
static NAMES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());

impl Loc {
    /// The number of a source name, registering it the first time.
    pub fn register(name: &str) -> u32 {
        let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = names.iter().position(|n| *n == name) {
            return i as u32;
        }
        // Bounded: one entry per distinct source name the process reads.
        names.push(Box::leak(name.to_string().into_boxed_str()));
        names.len() as u32 - 1
    }

    /// The source's name.
    pub fn name(&self) -> &'static str {
        NAMES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(self.file as usize)
            .copied()
            .unwrap_or("?")
    }
}

impl std::fmt::Display for Loc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name(), self.line)
    }
}

/// A UPG payment row.
#[derive(Debug, Clone)]
pub struct Payment {
    /// Payment id.
    pub id: Id,
    /// Order id.
    pub order_id: Id,
    /// Charge, refund or void.
    pub kind: PayKind,
    /// Settled, failed or pending.
    pub status: PayStatus,
    /// IDR.
    pub amount: i64,
    /// When (UTC ms).
    pub at: i64,
    /// Where it was read.
    pub loc: Loc,
}

/// An HO journal line.
#[derive(Debug, Clone)]
pub struct Posting {
    /// Posting id.
    pub id: Id,
    /// Order id, when the export has it.
    pub order_id: Option<Id>,
    /// Payment id, when the export has it.
    pub payment_id: Option<Id>,
    /// Journal type, by its number in the routing ([`Settings::journal_name`]).
    pub journal: u16,
    /// Whether it reduces the order's total (refund, cancel).
    pub negative: bool,
    /// IDR, without its sign ([`Posting::signed`] gives its effect).
    pub amount: i64,
    /// When (UTC ms).
    pub at: i64,
    /// Ledger period as `YYYYMM` (the export's `YYYY-MM`, else from `at` in the incident timezone).
    pub period: u32,
    /// Where it was read.
    pub loc: Loc,
}

impl Posting {
    /// Its effect on the order's total.
    pub fn signed(&self) -> i64 {
        if self.negative {
            -self.amount
        } else {
            self.amount
        }
    }
}

/// A service line (BB, SB, GB …), interned: two bytes in each order row.
///
/// Service lines are a handful of words, so each distinct one is stored once
/// for the life of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Line(u16);

static LINES: std::sync::RwLock<Vec<&'static str>> = std::sync::RwLock::new(Vec::new());

impl Line {
    /// The line named `name` (`None` past 65,535 distinct names: a column mapped wrong).
    pub fn intern(name: &str) -> Option<Line> {
        if let Ok(names) = LINES.read() {
            if let Some(i) = names.iter().position(|n| *n == name) {
                return Some(Line(i as u16));
            }
        }
        let mut names = LINES.write().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = names.iter().position(|n| *n == name) {
            return Some(Line(i as u16));
        }
        if names.len() >= u16::MAX as usize {
            return None;
        }
        names.push(Box::leak(name.to_string().into_boxed_str()));
        Some(Line(names.len() as u16 - 1))
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        LINES
            .read()
            .map(|n| n.get(self.0 as usize).copied().unwrap_or(""))
            .unwrap_or("")
    }
}

/// "No value" in an order's optional times and amounts.
const NONE: i64 = i64::MIN;

/// An order row.
#[derive(Debug, Clone)]
pub struct Order {
    /// Order id.
    pub id: Id,
    /// Created (UTC ms).
    pub created_at: i64,
    /// Trip end (UTC ms), or [`NONE`].
    trip_end: i64,
    /// Trip start (UTC ms), or [`NONE`].
    trip_start: i64,
    /// Order total, or [`NONE`].
    total: i64,
    /// Base, overtime, extra and tip, when the export has them and any but the
    /// base is not zero (for re-push lines); boxed, since few orders have them.
    pub parts: Option<Box<[i64; 4]>>,
    /// Where it was read.
    pub loc: Loc,
    /// BB / SB / GB …
    pub service_line: Line,
    /// Status.
    pub status: OrderStatus,
}

impl Order {
    /// An order; `trip_end_at` and `amount_total` when the export has them.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: Id,
        service_line: Line,
        status: OrderStatus,
        created_at: i64,
        trip_end_at: Option<i64>,
        amount_total: Option<i64>,
        parts: Option<Box<[i64; 4]>>,
        loc: Loc,
    ) -> Order {
        Order {
            id,
            created_at,
            trip_end: trip_end_at.unwrap_or(NONE),
            trip_start: NONE,
            total: amount_total.unwrap_or(NONE),
            parts,
            loc,
            service_line,
            status,
        }
    }

    /// Trip end (UTC ms), when known.
    pub fn trip_end_at(&self) -> Option<i64> {
        (self.trip_end != NONE).then_some(self.trip_end)
    }

    /// The order with its trip's start, when the export has it.
    pub fn with_trip_start(mut self, at: Option<i64>) -> Order {
        self.trip_start = at.unwrap_or(NONE);
        self
    }

    /// Trip start (UTC ms), when known.
    pub fn trip_start_at(&self) -> Option<i64> {
        (self.trip_start != NONE).then_some(self.trip_start)
    }

    /// Order total, when the export has it.
    pub fn amount_total(&self) -> Option<i64> {
        (self.total != NONE).then_some(self.total)
    }
}

/// One row: its line (or row number) and its values; `None` is empty or NULL.
pub type TextRow = (u32, Vec<Option<String>>);

/// One row of a file whose rows are parsed one by one: its line and its
/// values, or why the line is not a row.
pub type ParsedRow = (u32, Result<Vec<Option<String>>, String>);

/// Rows of text with named columns, from any source.
pub struct TextRows<'a> {
    /// Shown in messages.
    pub name: Arc<str>,
    /// Column names.
    pub columns: Vec<String>,
    /// The rows.
    pub rows: Rows<'a>,
    /// About how many rows there are (to size the tables once).
    pub estimate: usize,
    /// The first rows again (up to a few thousand), to settle how the file
    /// writes numbers and dates before its rows are read; may be empty.
    pub sample: Vec<Vec<Option<String>>>,
    /// Read at most this many rows (`sidik check` reads the first ones).
    pub limit: Option<usize>,
}

/// Where rows come from.
pub enum Rows<'a> {
    /// A CSV file (decoded to UTF-8 as it streams when it is not UTF-8),
    /// read record by record into one reused buffer.
    Csv(csv::Reader<Box<dyn std::io::Read + Send>>),
    /// Rows already in memory (Parquet, a workbook, a database query).
    Iter(Box<dyn Iterator<Item = Result<TextRow, ReconError>> + 'a>),
    /// Rows each parsed or not (JSON lines): a row that is not is set aside
    /// with its reason.
    Parsed(Box<dyn Iterator<Item = ParsedRow> + 'a>),
}

/// A row set aside: where it was, why, its fields as read, and the rupiah it
/// carried when its amount could be read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejected {
    /// `orders`, `payments` or `postings`.
    pub source: &'static str,
    /// The file (or query) as shown to people.
    pub file: String,
    /// Its line (the header is line 1) or row number.
    pub line: u32,
    /// Why, in words.
    pub reason: String,
    /// Its amount in IDR, when one could be read.
    pub amount: Option<i64>,
    /// The fields as read.
    pub fields: Vec<String>,
}

/// How a source's rows are kept: the source's name, where its amount is and
/// how the file writes it.
struct Keep<'r> {
    source: &'static str,
    amount_col: Option<usize>,
    values: &'r Values,
    rejected: &'r mut Vec<Rejected>,
}

impl TextRows<'_> {
    /// Calls `f(line, values)` for every row; empty values are `None`. A row
    /// with another number of fields than the header, or one `f` cannot read
    /// ([`ReconError::Input`]), is set aside into `keep.rejected`.
    fn each(
        self,
        keep: Keep,
        mut f: impl FnMut(u32, &[Option<&str>]) -> Result<(), ReconError>,
    ) -> Result<(), ReconError> {
        let name = self.name;
        let width = self.columns.len();
        let limit = self.limit.unwrap_or(usize::MAX);
        let mut seen = 0usize;
        let Keep {
            source,
            amount_col,
            values,
            rejected,
        } = keep;
        let mut set_aside = |line: u32, reason: String, row: &[Option<&str>]| {
            let reason = reason
                .strip_prefix(&format!("{name}:{line}: "))
                .map(str::to_string)
                .unwrap_or(reason);
            let amount = amount_col
                .and_then(|i| row.get(i).copied().flatten())
                .and_then(|v| values.amount(v.trim(), &Loc { file: 0, line: 0 }, "").ok());
            rejected.push(Rejected {
                source,
                file: name.to_string(),
                line,
                reason,
                amount,
                fields: row.iter().map(|v| v.unwrap_or("").to_string()).collect(),
            });
        };
        // A row, or the reason the CSV reader could not make one.
        let mut one = |line: u32, row: Result<&[Option<&str>], String>| -> Result<(), ReconError> {
            let row = match row {
                Ok(r) => r,
                Err(reason) => {
                    set_aside(line, reason, &[]);
                    return Ok(());
                }
            };
            if row.len() != width {
                set_aside(
                    line,
                    format!("{} fields where the header has {width}", row.len()),
                    row,
                );
                return Ok(());
            }
            match f(line, row) {
                Err(ReconError::Input(m)) => {
                    set_aside(line, m, row);
                    Ok(())
                }
                other => other,
            }
        };
        match self.rows {
            Rows::Csv(mut r) => {
                let mut rec = csv::StringRecord::new();
                loop {
                    seen += 1;
                    if seen > limit {
                        return Ok(());
                    }
                    match r.read_record(&mut rec) {
                        Ok(false) => return Ok(()),
                        Ok(true) => {}
                        Err(e) => {
                            let line = e.position().map_or(0, |p| p.line()) as u32;
                            if e.is_io_error() {
                                return Err(ReconError::Input(format!(
                                    "{name}:{line}: cannot read on: {e}"
                                )));
                            }
                            let hint = if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) {
                                "; the file is not all UTF-8: set [recon.format] encoding (e.g. \"windows-1252\")"
                            } else {
                                ""
                            };
                            one(line, Err(format!("not a CSV row: {e}{hint}")))?;
                            continue;
                        }
                    }
                    let line = rec.position().map_or(0, |p| p.line()) as u32;
                    let row: Vec<Option<&str>> =
                        rec.iter().map(|v| (!v.is_empty()).then_some(v)).collect();
                    one(line, Ok(&row))?;
                }
            }
            Rows::Iter(it) => {
                for row in it.take(limit) {
                    let (line, row) = row?;
                    let vals: Vec<Option<&str>> = row.iter().map(|v| v.as_deref()).collect();
                    one(line, Ok(&vals))?;
                }
                Ok(())
            }
            Rows::Parsed(it) => {
                for (line, row) in it.take(limit) {
                    match row {
                        Ok(row) => {
                            let vals: Vec<Option<&str>> =
                                row.iter().map(|v| v.as_deref()).collect();
                            one(line, Ok(&vals))?;
                        }
                        Err(reason) => one(line, Err(reason))?,
                    }
                }
                Ok(())
            }
        }
    }
}

/// The three sources, read.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Orders.
    pub orders: Vec<Order>,
    /// UPG payments.
    pub payments: Vec<Payment>,
    /// HO journal lines.
    pub postings: Vec<Posting>,
    /// Rows of the three set aside, in source then line order.
    pub rejected: Vec<Rejected>,
}

struct Cols {
    idx: Vec<Option<usize>>,
}

fn resolve(
    t: &TextRows,
    source: &str,
    want: &[(&str, bool)],
    s: &Settings,
) -> Result<Cols, ReconError> {
    let mut idx = Vec::new();
    for (col, required) in want {
        let name = s.column(source, col);
        let i = t.columns.iter().position(|c| c.eq_ignore_ascii_case(name));
        if i.is_none() && *required {
            return Err(ReconError::Input(format!(
                "{}:1: no column `{name}` ({source}.{col}); the columns are {}. Map yours in incident.toml: [recon.columns.{source}] {col} = \"YOUR_COLUMN\"",
                t.name,
                t.columns.join(", ")
            )));
        }
        idx.push(i);
    }
    Ok(Cols { idx })
}

fn get<'r>(row: &[Option<&'r str>], c: &Cols, k: usize) -> Option<&'r str> {
    c.idx[k]
        .and_then(|i| row.get(i))
        .and_then(|v| *v)
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn need<'r>(
    row: &[Option<&'r str>],
    c: &Cols,
    k: usize,
    loc: &Loc,
    col: &str,
) -> Result<&'r str, ReconError> {
    get(row, c, k).ok_or_else(|| ReconError::Input(format!("{loc}: `{col}` is empty")))
}

fn word<T: Copy>(
    v: &str,
    map: &std::collections::BTreeMap<String, T>,
    loc: &Loc,
    col: &str,
    section: &str,
) -> Result<T, ReconError> {
    map.get(&v.to_ascii_uppercase()).copied().ok_or_else(|| {
        ReconError::Input(format!(
            "{loc}: {col} \"{v}\" means nothing to sidik; say what it means in incident.toml [recon.values.{section}] (known: {})",
            map.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    })
}

/// `2025-01` (or `202501`) as 202501.
fn period_of(v: &str) -> Option<u32> {
    let digits: String = v.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.len() != 6 || !matches!(v.len(), 6 | 7) {
        return None;
    }
    let n: u32 = digits.parse().ok()?;
    (1..=12).contains(&(n % 100)).then_some(n)
}

/// The rows of a source that could be read, and those set aside.
#[derive(Debug, Clone)]
pub struct Read<T> {
    /// Rows read.
    pub rows: Vec<T>,
    /// Rows set aside, in line order.
    pub rejected: Vec<Rejected>,
    /// How the file writes its amounts and times, as set or detected.
    pub values: Values,
}

impl Sources {
    /// The three sources, with their rejected rows gathered (orders, then
    /// payments, then postings).
    pub fn new(orders: Read<Order>, payments: Read<Payment>, postings: Read<Posting>) -> Sources {
        let mut rejected = orders.rejected;
        rejected.extend(payments.rejected);
        rejected.extend(postings.rejected);
        Sources {
            orders: orders.rows,
            payments: payments.rows,
            postings: postings.rows,
            rejected,
        }
    }
}

/// Walks an export for columns recon itself does not read (the customer
/// list's corporate account and payment method): `f(values)` for each row
/// whose fields fit the header, `column` naming the index of a column by
/// sidik's name through `[recon.columns.SOURCE]`. Returns the rows that did
/// not fit, which the caller reports.
pub fn walk(
    t: TextRows,
    source: &'static str,
    s: &Settings,
    mut f: impl FnMut(&dyn Fn(&str) -> Option<usize>, &[Option<&str>]),
) -> Result<usize, ReconError> {
    let columns = t.columns.clone();
    let index = move |col: &str| {
        let name = s.column(source, col);
        columns.iter().position(|c| c.eq_ignore_ascii_case(name))
    };
    let values = Values::new(source, s.tz);
    let mut rejected = Vec::new();
    t.each(
        Keep {
            source,
            amount_col: None,
            values: &values,
            rejected: &mut rejected,
        },
        |_, row| {
            f(&index, row);
            Ok(())
        },
    )?;
    Ok(rejected.len())
}

/// The column index of `col` in `t`, for the tally of rejected rows.
fn column_index(t: &TextRows, source: &str, col: &str, s: &Settings) -> Option<usize> {
    let name = s.column(source, col);
    t.columns.iter().position(|c| c.eq_ignore_ascii_case(name))
}

/// How `source`'s file writes amounts and times: as `incident.toml` says,
/// else settled from the file's first rows (the columns `amounts` and
/// `times`, by their place in `C`).
fn values_of(
    t: &TextRows,
    c: &Cols,
    source: &'static str,
    s: &Settings,
    amounts: &[usize],
    times: &[usize],
) -> Values {
    use crate::values::Origin;
    let f = s.format(source);
    let mut v = Values::new(source, f.tz.unwrap_or(s.tz));
    if let Some(n) = f.number {
        v.number = Some(n);
        v.number_origin = Origin::Set;
    }
    if let Some(d) = f.dates {
        v.dates = Some(d);
        v.dates_origin = Origin::Set;
    }
    let pick = |ks: &[usize]| -> Vec<usize> { ks.iter().filter_map(|k| c.idx[*k]).collect() };
    let (a, tm) = (pick(amounts), pick(times));
    let cells = |cols: &[usize]| -> Vec<&str> {
        t.sample
            .iter()
            .flat_map(|r| {
                cols.iter()
                    .filter_map(|i| r.get(*i).and_then(|v| v.as_deref()))
            })
            .collect()
    };
    v.settle(cells(&a).into_iter(), cells(&tm).into_iter());
    v
}

/// Reads payments. A charge of a negative amount is set aside: money given
/// back is a refund row of its own.
pub fn payments(t: TextRows, s: &Settings) -> Result<Read<Payment>, ReconError> {
    use crate::settings::PAYMENT_COLUMNS as C;
    let c = resolve(&t, "payments", &C, s)?;
    let vals = values_of(&t, &c, "payments", s, &[4], &[5]);
    let has_type = c.idx[2].is_some();
    let file = Loc::register(&t.name);
    let mut out = Vec::with_capacity(t.estimate + t.estimate / 8);
    let mut rejected = Vec::new();
    let keep = Keep {
        source: "payments",
        amount_col: column_index(&t, "payments", C[4].0, s),
        values: &vals,
        rejected: &mut rejected,
    };
    t.each(keep, |line, row| {
        let loc = Loc { file, line };
        let id = need(row, &c, 0, &loc, C[0].0)?;
        let status_word = need(row, &c, 3, &loc, C[3].0)?;
        let signed = vals.amount(need(row, &c, 4, &loc, C[4].0)?, &loc, C[4].0)?;
        let kind = if has_type {
            word(
                need(row, &c, 2, &loc, C[2].0)?,
                &s.payment_type,
                &loc,
                C[2].0,
                "payment_type",
            )?
        } else {
            // No payment_type column: the status word says it (REFUNDED,
            // VOIDED), else the sign does (money given back is negative).
            match s.payment_type.get(&status_word.to_ascii_uppercase()) {
                Some(k) => *k,
                None if signed < 0 => PayKind::Refund,
                None => PayKind::Charge,
            }
        };
        if kind == PayKind::Charge && signed < 0 {
            return Err(ReconError::Input(format!(
                "{loc}: a charge of a negative amount ({signed}); money given back is a refund row of its own (or map the export's word for it in [recon.values.payment_type] refund = [...])"
            )));
        }
        let p = Payment {
            id: id.into(),
            order_id: need(row, &c, 1, &loc, C[1].0)?.into(),
            kind,
            status: word(
                status_word,
                &s.payment_status,
                &loc,
                C[3].0,
                "payment_status",
            )?,
            // A refund or void moves money back whatever sign the export writes it with.
            amount: signed.abs(),
            at: vals.time(need(row, &c, 5, &loc, C[5].0)?, &loc, C[5].0)?,
            loc,
        };
        out.push(p);
        Ok(())
    })?;
    Ok(Read {
        rows: out,
        rejected,
        values: vals,
    })
}

/// Reads postings; a journal type the routing does not name is an error.
pub fn postings(t: TextRows, s: &Settings) -> Result<Read<Posting>, ReconError> {
    use crate::settings::POSTING_COLUMNS as C;
    let c = resolve(&t, "postings", &C, s)?;
    let vals = values_of(&t, &c, "postings", s, &[4], &[5]);
    let file = Loc::register(&t.name);
    let mut out = Vec::with_capacity(t.estimate + t.estimate / 8);
    let mut rejected = Vec::new();
    let keep = Keep {
        source: "postings",
        amount_col: column_index(&t, "postings", C[4].0, s),
        values: &vals,
        rejected: &mut rejected,
    };
    t.each(keep, |line, row| {
        let loc = Loc { file, line };
        let journal = need(row, &c, 3, &loc, C[3].0)?;
        let Some((journal_no, negative)) = s.journal_number(journal) else {
            return Err(ReconError::Input(format!(
                "{loc}: journal type \"{journal}\" is not routed; add it to incident.toml [recon.routing] charge = [...] (it makes up a charge) or negative = [...] (it reduces the order's total)"
            )));
        };
        let order_id = get(row, &c, 1).map(Into::into);
        let payment_id = get(row, &c, 2).map(Into::into);
        if order_id.is_none() && payment_id.is_none() {
            return Err(ReconError::Input(format!(
                "{loc}: neither order_id nor payment_id: the posting cannot be matched to anything"
            )));
        }
        let at = vals.time(need(row, &c, 5, &loc, C[5].0)?, &loc, C[5].0)?;
        let id = need(row, &c, 0, &loc, C[0].0)?;
        // A negative journal reduces the total whatever its sign; a negative
        // amount on a charge journal is a reversal line, and reduces it too.
        let signed = vals.amount(need(row, &c, 4, &loc, C[4].0)?, &loc, C[4].0)?;
        out.push(Posting {
            id: id.into(),
            order_id,
            payment_id,
            journal: journal_no,
            negative: negative || signed < 0,
            amount: signed.abs(),
            at,
            period: match get(row, &c, 6) {
                Some(p) => period_of(p).ok_or_else(|| {
                    ReconError::Input(format!("{loc}: period \"{p}\" is not a month like 2025-01"))
                })?,
                None => s.period_number(at),
            },
            loc,
        });
        Ok(())
    })?;
    Ok(Read {
        rows: out,
        rejected,
        values: vals,
    })
}

/// Reads orders.
pub fn orders(t: TextRows, s: &Settings) -> Result<Read<Order>, ReconError> {
    use crate::settings::ORDER_COLUMNS as C;
    let c = resolve(&t, "orders", &C, s)?;
    let vals = values_of(&t, &c, "orders", s, &[5, 6, 7, 8, 9], &[3, 4, 10]);
    let file = Loc::register(&t.name);
    let mut out = Vec::with_capacity(t.estimate + t.estimate / 8);
    let mut rejected = Vec::new();
    let keep = Keep {
        source: "orders",
        amount_col: column_index(&t, "orders", C[5].0, s),
        values: &vals,
        rejected: &mut rejected,
    };
    t.each(keep, |line, row| {
        let loc = Loc { file, line };
        let opt_amount = |k: usize| -> Result<Option<i64>, ReconError> {
            get(row, &c, k).map(|v| vals.amount(v, &loc, C[k].0)).transpose()
        };
        let parts = match (
            opt_amount(6)?,
            opt_amount(7)?,
            opt_amount(8)?,
            opt_amount(9)?,
        ) {
            // Base alone is the single-line case: nothing to keep.
            (Some(b), o, e, t)
                if o.unwrap_or(0) != 0 || e.unwrap_or(0) != 0 || t.unwrap_or(0) != 0 =>
            {
                Some(Box::new([
                    b,
                    o.unwrap_or(0),
                    e.unwrap_or(0),
                    t.unwrap_or(0),
                ]))
            }
            _ => None,
        };
        let id = need(row, &c, 0, &loc, C[0].0)?;
        let line_name = get(row, &c, 1).unwrap_or("");
        let line = Line::intern(line_name).ok_or_else(|| {
            ReconError::Input(format!(
                "{loc}: service_line \"{line_name}\" is one of more than 65,535 distinct service lines; is the column mapped right? ([recon.columns.orders] service_line)"
            ))
        })?;
        let trip_start = get(row, &c, 10)
            .map(|v| vals.time(v, &loc, C[10].0))
            .transpose()?;
        out.push(Order::new(
            id.into(),
            line,
            word(
                need(row, &c, 2, &loc, C[2].0)?,
                &s.order_status,
                &loc,
                C[2].0,
                "order_status",
            )?,
            vals.time(need(row, &c, 3, &loc, C[3].0)?, &loc, C[3].0)?,
            get(row, &c, 4)
                .map(|v| vals.time(v, &loc, C[4].0))
                .transpose()?,
            opt_amount(5)?,
            parts,
            loc,
        )
        .with_trip_start(trip_start));
        Ok(())
    })?;
    Ok(Read {
        rows: out,
        rejected,
        values: vals,
    })
}
