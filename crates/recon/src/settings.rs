//! The reconciliation settings of an incident: `[recon]` of `incident.toml`
//! resolved against the defaults (which fit sidik's sample exports).

use std::collections::BTreeMap;

use chrono_tz::Tz;
use sidik_core::config::{ExportFormat, ReconSection};
use sidik_core::time::{parse_go_duration, parse_time};

use crate::ReconError;

/// The columns sidik reads from each source, with whether they are required.
pub const PAYMENT_COLUMNS: [(&str, bool); 6] = [
    ("payment_id", true),
    ("order_id", true),
    // Without it, the kind comes from the status word (REFUNDED, VOIDED) and the sign.
    ("payment_type", false),
    ("payment_status", true),
    ("amount", true),
    ("created_at", true),
];
/// Postings columns.
pub const POSTING_COLUMNS: [(&str, bool); 7] = [
    ("posting_id", true),
    ("order_id", false),
    ("payment_id", false),
    ("journal_type", true),
    ("amount", true),
    ("posted_at", true),
    ("period", false),
];
/// Orders columns.
pub const ORDER_COLUMNS: [(&str, bool); 11] = [
    ("order_id", true),
    ("service_line", false),
    ("status", true),
    ("created_at", true),
    ("trip_end_at", false),
    ("amount_total", false),
    ("amount_base", false),
    ("amount_overtime", false),
    ("amount_extra", false),
    ("amount_tip", false),
    ("trip_start_at", false),
];

/// What a payment row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PayKind {
    /// Money taken.
    Charge,
    /// Money given back after settlement.
    Refund,
    /// A charge cancelled (before or at settlement).
    Void,
}

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PayStatus {
    /// Money moved.
    Settled,
    /// Money did not move.
    Failed,
    /// Not decided yet.
    Pending,
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrderStatus {
    /// On trip (or stuck there).
    Active,
    /// Booked for later.
    Scheduled,
    /// Finished.
    Complete,
    /// Cancelled.
    Cancelled,
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Incident timezone: times without an offset, and ledger periods.
    pub tz: Tz,
    /// Absolute tolerance, IDR.
    pub tolerance_idr: i64,
    /// Relative tolerance.
    pub tolerance_pct: f64,
    /// Posting lag allowed, ms.
    pub posting_lag_ms: i64,
    /// ACTIVE past the trip's end by this much is stuck, ms.
    pub stuck_after_ms: i64,
    /// Cut-off of the exports (UTC ms).
    pub as_of: i64,
    /// Per source: sidik's column → the export's column.
    pub columns: BTreeMap<&'static str, BTreeMap<String, String>>,
    /// Export word (upper-cased) → payment type.
    pub payment_type: BTreeMap<String, PayKind>,
    /// Export word → payment status.
    pub payment_status: BTreeMap<String, PayStatus>,
    /// Export word → order status.
    pub order_status: BTreeMap<String, OrderStatus>,
    /// Journal types adding to a charge, in routing order (the first is used for a single re-push line).
    pub charge_journals: Vec<String>,
    /// Journal types reducing the order's total.
    pub negative_journals: Vec<String>,
    /// Per source: how its file is written, resolved against `[recon] locale`.
    pub formats: BTreeMap<&'static str, FileFormat>,
}

/// How one export file is written, as far as `incident.toml` says; the rest
/// is detected when the file is opened ([`crate::read`]).
#[derive(Debug, Clone, Default)]
pub struct FileFormat {
    /// Field delimiter.
    pub delimiter: Option<u8>,
    /// Quote character.
    pub quote: Option<u8>,
    /// Whether the first line names the columns.
    pub header: Option<bool>,
    /// Column names of a file without a header line.
    pub columns: Option<Vec<String>>,
    /// Text encoding.
    pub encoding: Option<&'static encoding_rs::Encoding>,
    /// Number format.
    pub number: Option<crate::values::Number>,
    /// Date order.
    pub dates: Option<crate::values::DateOrder>,
    /// Zone of times without an offset.
    pub tz: Option<Tz>,
    /// Sheet of a workbook.
    pub sheet: Option<String>,
}

/// Resolves `[recon.format.SOURCE]` against the locale.
fn file_format(
    source: &str,
    f: &ExportFormat,
    locale: Option<(crate::values::Number, crate::values::DateOrder)>,
) -> Result<FileFormat, ReconError> {
    use crate::values::{DateOrder, Number};
    let bad = |key: &str, v: &str, want: &str| {
        ReconError::Config(format!(
            "incident.toml [recon.format.{source}] {key} = \"{v}\": expected {want}"
        ))
    };
    let one_char = |key: &str, v: &Option<String>| -> Result<Option<u8>, ReconError> {
        match v.as_deref() {
            None => Ok(None),
            Some("tab" | "\\t" | "\t") => Ok(Some(b'\t')),
            Some(s) if s.len() == 1 && s.is_ascii() => Ok(Some(s.as_bytes()[0])),
            Some(s) => Err(bad(key, s, "one ASCII character such as \";\", or \"tab\"")),
        }
    };
    if f.header == Some(false) && f.columns.is_none() {
        return Err(ReconError::Config(format!(
            "incident.toml [recon.format.{source}] header = false needs columns = [\"...\"] naming the file's columns in order"
        )));
    }
    Ok(FileFormat {
        delimiter: one_char("delimiter", &f.delimiter)?,
        quote: one_char("quote", &f.quote)?,
        header: f.header,
        columns: f.columns.clone(),
        encoding: match f.encoding.as_deref() {
            None => None,
            Some(e) => Some(
                encoding_rs::Encoding::for_label(e.trim().as_bytes()).ok_or_else(|| {
                    bad(
                        "encoding",
                        e,
                        "an encoding label such as \"utf-8\" or \"windows-1252\"",
                    )
                })?,
            ),
        },
        number: match f.number.as_deref() {
            None => locale.map(|l| l.0),
            Some(n) => Some(Number::parse(n).ok_or_else(|| {
                bad(
                    "number",
                    n,
                    "\"id-ID\" (1.234.567,89) or \"en\" (1,234,567.89)",
                )
            })?),
        },
        dates: match f.dates.as_deref() {
            None => locale.map(|l| l.1),
            Some(d) => Some(
                DateOrder::parse(d)
                    .ok_or_else(|| bad("dates", d, "\"dmy\", \"mdy\" or \"ymd\""))?,
            ),
        },
        tz: match f.timezone.as_deref() {
            None => None,
            Some(z) => Some(
                sidik_core::time::parse_timezone(z)
                    .map_err(|e| bad("timezone", z, &format!("an IANA zone ({e})")))?,
            ),
        },
        sheet: f.sheet.clone(),
    })
}

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn value_map<T: Copy>(
    section: &str,
    given: &BTreeMap<String, Vec<String>>,
    meanings: &[(&str, T, &[&str])],
) -> Result<BTreeMap<String, T>, ReconError> {
    let mut out = BTreeMap::new();
    for (name, value, defaults) in meanings {
        let list = given.get(*name).cloned().unwrap_or_else(|| words(defaults));
        for w in list {
            out.insert(w.trim().to_ascii_uppercase(), *value);
        }
    }
    if let Some(k) = given
        .keys()
        .find(|k| !meanings.iter().any(|(n, _, _)| n == k))
    {
        return Err(ReconError::Config(format!(
            "incident.toml [recon.values.{section}]: unknown meaning `{k}`; expected one of {}",
            meanings.iter().map(|m| m.0).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(out)
}

fn duration_ms(key: &str, v: Option<&str>, default: &str) -> Result<i64, ReconError> {
    let text = v.unwrap_or(default);
    parse_go_duration(text)
        .map(|d| d.num_milliseconds())
        .map_err(|e| ReconError::Config(format!("incident.toml [recon] {key} = \"{text}\": {e}")))
}

impl Settings {
    /// Resolves `[recon]`; `window_end` is the default cut-off.
    pub fn new(r: &ReconSection, tz: Tz, window_end: Option<i64>) -> Result<Settings, ReconError> {
        let mut columns = BTreeMap::new();
        for (source, given, known) in [
            ("payments", &r.columns.payments, &PAYMENT_COLUMNS[..]),
            ("postings", &r.columns.postings, &POSTING_COLUMNS[..]),
            ("orders", &r.columns.orders, &ORDER_COLUMNS[..]),
        ] {
            if let Some(k) = given.keys().find(|k| !known.iter().any(|(n, _)| n == k)) {
                return Err(ReconError::Config(format!(
                    "incident.toml [recon.columns.{source}]: sidik has no column `{k}`; the keys are sidik's names ({}) and the values your export's",
                    known.iter().map(|c| c.0).collect::<Vec<_>>().join(", ")
                )));
            }
            columns.insert(source, given.clone());
        }
        let as_of = match &r.as_of {
            Some(t) => parse_time(t.get_ref(), tz)
                .map_err(|e| ReconError::Config(format!("incident.toml [recon] as_of: {e}")))?
                .timestamp_millis(),
            None => window_end.ok_or_else(|| {
                ReconError::Config(
                    "set [recon] as_of (the exports' cut-off) or [incident.window]".into(),
                )
            })?,
        };
        let routing = r.routing.clone();
        let locale = match r.locale.as_deref() {
            None => None,
            Some(l) => {
                use crate::values::{DateOrder, Number};
                match Number::parse(l) {
                    Some(Number::IdId) => Some((Number::IdId, DateOrder::Dmy)),
                    Some(Number::En) if l.eq_ignore_ascii_case("en-US") || l.eq_ignore_ascii_case("en") => Some((Number::En, DateOrder::Mdy)),
                    Some(Number::En) if !l.eq_ignore_ascii_case("plain") => Some((Number::En, DateOrder::Dmy)),
                    _ => return Err(ReconError::Config(format!(
                        "incident.toml [recon] locale = \"{l}\": expected \"id-ID\" (1.234.567,89 and dd/mm/yyyy), \"en\" or \"en-US\" (1,234,567.89 and mm/dd/yyyy) or \"en-GB\" (1,234,567.89 and dd/mm/yyyy)"
                    ))),
                }
            }
        };
        let mut formats = BTreeMap::new();
        for (source, f) in [
            ("payments", &r.format.payments),
            ("postings", &r.format.postings),
            ("orders", &r.format.orders),
        ] {
            formats.insert(source, file_format(source, f, locale)?);
        }
        Ok(Settings {
            formats,
            tz,
            tolerance_idr: r.tolerance_idr.unwrap_or(0),
            tolerance_pct: r.tolerance_pct.unwrap_or(0.0),
            posting_lag_ms: duration_ms(
                "posting_lag",
                r.posting_lag.as_ref().map(|s| s.get_ref().as_str()),
                "72h",
            )?,
            stuck_after_ms: duration_ms(
                "stuck_after",
                r.stuck_after.as_ref().map(|s| s.get_ref().as_str()),
                "2h",
            )?,
            as_of,
            columns,
            payment_type: value_map(
                "payment_type",
                &r.values.payment_type,
                &[
                    (
                        "charge",
                        PayKind::Charge,
                        &["CHARGE", "PAYMENT", "SALE", "CAPTURE"],
                    ),
                    ("refund", PayKind::Refund, &["REFUND", "REFUNDED"]),
                    (
                        "void",
                        PayKind::Void,
                        &["VOID", "VOIDED", "REVERSAL", "REVERSED"],
                    ),
                ],
            )?,
            payment_status: value_map(
                "payment_status",
                &r.values.payment_status,
                &[
                    (
                        "settled",
                        PayStatus::Settled,
                        // A refund or void that is done is money that moved.
                        &[
                            "SUCCESS", "SETTLED", "CAPTURED", "PAID", "REFUNDED", "VOIDED",
                            "REVERSED",
                        ],
                    ),
                    (
                        "failed",
                        PayStatus::Failed,
                        &["FAILED", "DECLINED", "ERROR", "EXPIRED"],
                    ),
                    ("pending", PayStatus::Pending, &["PENDING", "PROCESSING"]),
                ],
            )?,
            order_status: value_map(
                "order_status",
                &r.values.order_status,
                &[
                    ("active", OrderStatus::Active, &["ACTIVE", "ON_TRIP"]),
                    ("scheduled", OrderStatus::Scheduled, &["SCHEDULED"]),
                    (
                        "complete",
                        OrderStatus::Complete,
                        &["COMPLETE", "COMPLETED", "FINISHED"],
                    ),
                    (
                        "cancelled",
                        OrderStatus::Cancelled,
                        &["CANCELLED", "CANCELED"],
                    ),
                ],
            )?,
            charge_journals: routing
                .as_ref()
                .map(|r| r.charge.clone())
                .unwrap_or_else(|| words(&["BASE", "OVERTIME", "EXTRA", "TIP"])),
            negative_journals: routing
                .map(|r| r.negative)
                .unwrap_or_else(|| words(&["REFUND", "CANCEL"])),
        })
    }

    /// How `source`'s file is written, as far as `incident.toml` says.
    pub fn format(&self, source: &str) -> FileFormat {
        self.formats.get(source).cloned().unwrap_or_default()
    }

    /// The export's name of sidik's column `col` in `source`.
    pub fn column<'a>(&'a self, source: &str, col: &'a str) -> &'a str {
        self.columns
            .get(source)
            .and_then(|m| m.get(col))
            .map(String::as_str)
            .unwrap_or(col)
    }

    /// UTC milliseconds of a local wall-clock time (milliseconds since the
    /// local epoch) in the incident timezone; a skipped local time is `None`.
    pub fn local_to_utc(&self, local_ms: i64) -> Option<i64> {
        crate::values::local_to_utc_in(self.tz, local_ms)
    }

    /// The ledger period of an instant in the incident timezone, as a number
    /// (`2025-01` → 202501), without formatting.
    pub fn period_number(&self, t: i64) -> u32 {
        use chrono::{Datelike, Offset, TimeZone};
        // The UTC offset is the same for a whole UTC hour in every zone sidik meets
        // (offsets change on the hour or half hour, and a half-hour change is never cached
        // because the offsets at both ends differ).
        thread_local! {
            static HOURS: std::cell::RefCell<crate::values::HourCache> = const { std::cell::RefCell::new(crate::values::HourCache::new()) };
        }
        let hour = t.div_euclid(3_600_000);
        let offset_ms = match HOURS.with(|c| c.borrow().get(self.tz, hour)) {
            Some(o) => o,
            None => {
                let off = |ms: i64| -> Option<i64> {
                    let utc = chrono::DateTime::from_timestamp_millis(ms)?;
                    Some(
                        i64::from(
                            self.tz
                                .offset_from_utc_datetime(&utc.naive_utc())
                                .fix()
                                .local_minus_utc(),
                        ) * 1000,
                    )
                };
                let Some(o) = off(t) else {
                    return 0;
                };
                if off(hour * 3_600_000) == Some(o) && off(hour * 3_600_000 + 3_599_999) == Some(o)
                {
                    HOURS.with(|c| c.borrow_mut().set(self.tz, hour, o));
                }
                o
            }
        };
        let Some(local) = chrono::DateTime::from_timestamp_millis(t + offset_ms) else {
            return 0;
        };
        let local = local.naive_utc();
        (local.year().max(0) as u32) * 100 + local.month()
    }

    /// A journal type's number in the routing (charge types first, then negative ones).
    pub fn journal_number(&self, name: &str) -> Option<(u16, bool)> {
        if let Some(i) = self
            .negative_journals
            .iter()
            .position(|j| j.eq_ignore_ascii_case(name))
        {
            return Some(((self.charge_journals.len() + i) as u16, true));
        }
        self.charge_journals
            .iter()
            .position(|j| j.eq_ignore_ascii_case(name))
            .map(|i| (i as u16, false))
    }

    /// The name of a journal type number.
    pub fn journal_name(&self, n: u16) -> &str {
        let n = n as usize;
        match self.charge_journals.get(n) {
            Some(j) => j,
            None => self
                .negative_journals
                .get(n - self.charge_journals.len())
                .map_or("", String::as_str),
        }
    }

    /// The ledger period (`YYYY-MM`) of an instant, in the incident timezone.
    pub fn period(&self, t: i64) -> String {
        let n = self.period_number(t);
        format!("{}-{:02}", n / 100, n % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_convert_like_chrono_across_a_daylight_saving_change() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let s = Settings::new(&ReconSection::default(), tz, Some(0)).unwrap();
        // Minutes around the spring change (02:00 → 03:00 on 2025-03-30) and the autumn one.
        for day in ["2025-03-30", "2025-10-26"] {
            for h in 0..5 {
                for m in [0, 1, 30, 59] {
                    let text = format!("{day} {h:02}:{m:02}:00");
                    let want = parse_time(&text, tz).ok().map(|t| t.timestamp_millis());
                    let naive =
                        chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S").unwrap();
                    let local = naive.and_utc().timestamp_millis();
                    assert_eq!(s.local_to_utc(local), want, "{text}");
                }
            }
        }
        assert_eq!(
            s.period_number(1_738_364_400_000),
            202502,
            "2025-02-01 00:00 in Berlin"
        );
    }
}
