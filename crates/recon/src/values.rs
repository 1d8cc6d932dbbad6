//! Reading one value of an export: an amount in rupiah or a point in time,
//! written the way the file writes them.
//!
//! Finance exports in Indonesia write `356.500` for three hundred fifty-six
//! thousand five hundred rupiah, `1.234.567,00` with a decimal comma, `Rp`
//! or `IDR` in front, `(5.000)` for a negative, and dates as `12/01/2025
//! 19:05` in local time; exports written elsewhere write `356,500.00` and
//! `01/12/2025`. A file's way is set in `incident.toml` or detected from its
//! first rows ([`Values::settle`]). A single separator before three digits
//! (`50.000`, `50,000`) groups thousands in either way, since money is
//! written with no decimals or two; a date that reads two ways and that the
//! file does not decide (`05/01/2025` is 5 January or 1 May) is an error
//! naming the file, line and the setting that decides it, never a guess; so
//! is a value the file's format cannot read (`1,500` in an id-ID file).

use chrono_tz::Tz;

use crate::ReconError;
use std::fmt::Display;

/// How a file writes numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Number {
    /// `1.234.567,89`: `.` groups thousands, `,` starts the fraction.
    IdId,
    /// `1,234,567.89`: `,` groups thousands, `.` starts the fraction.
    En,
}

impl Number {
    /// Parses a setting: `id-ID` (or `id`), `en` (or `en-US`, `plain`).
    pub fn parse(text: &str) -> Option<Number> {
        match text.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "id-id" | "id" => Some(Number::IdId),
            "en" | "en-us" | "en-gb" | "plain" => Some(Number::En),
            _ => None,
        }
    }

    /// As written in `incident.toml`.
    pub fn name(self) -> &'static str {
        match self {
            Number::IdId => "id-ID",
            Number::En => "en",
        }
    }

    fn separators(self) -> (u8, u8) {
        match self {
            Number::IdId => (b'.', b','),
            Number::En => (b',', b'.'),
        }
    }
}

/// The order of day, month and year in dates written with `/`, `.` or `-`
/// (`12/01/2025`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateOrder {
    /// Day, month, year (Indonesia, most of the world).
    Dmy,
    /// Month, day, year (the United States).
    Mdy,
    /// Year, month, day (`2025/01/12`).
    Ymd,
}

impl DateOrder {
    /// Parses a setting: `dmy`, `mdy` or `ymd`.
    pub fn parse(text: &str) -> Option<DateOrder> {
        match text.trim().to_ascii_lowercase().as_str() {
            "dmy" | "dd/mm/yyyy" => Some(DateOrder::Dmy),
            "mdy" | "mm/dd/yyyy" => Some(DateOrder::Mdy),
            "ymd" | "yyyy/mm/dd" => Some(DateOrder::Ymd),
            _ => None,
        }
    }

    /// As written in `incident.toml`.
    pub fn name(self) -> &'static str {
        match self {
            DateOrder::Dmy => "dmy",
            DateOrder::Mdy => "mdy",
            DateOrder::Ymd => "ymd",
        }
    }
}

/// Whether a setting was given or found in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Written in `incident.toml`.
    Set,
    /// Read from the file's first rows.
    Detected,
    /// Neither: each value is read on its own, and one that reads two ways is an error.
    Undecided,
}

impl Origin {
    /// `set`, `detected` or `undecided`, as `sidik check` prints it.
    pub fn word(self) -> &'static str {
        match self {
            Origin::Set => "set",
            Origin::Detected => "detected",
            Origin::Undecided => "undecided",
        }
    }
}

/// How one file writes its amounts and times.
#[derive(Debug, Clone)]
pub struct Values {
    /// `payments`, `postings` or `orders`: named in the hints.
    pub source: &'static str,
    /// Its number format, when set or detected.
    pub number: Option<Number>,
    /// Where the number format came from.
    pub number_origin: Origin,
    /// Its date order, when set or detected.
    pub dates: Option<DateOrder>,
    /// Where the date order came from.
    pub dates_origin: Origin,
    /// The zone of times written without an offset.
    pub tz: Tz,
}

/// What one amount says about the file's number format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// No separator: any format reads it.
    Any,
    /// Only this format reads it as whole rupiah.
    Only(Number),
    /// Both read it, differently (`1.000`).
    Both,
}

/// The amount with its sign and currency taken off: (negative, digits and separators).
fn strip(v: &str) -> Result<(bool, String), &'static str> {
    let blank = |c: char| c.is_whitespace() || c == '\u{a0}' || c == '\u{202f}';
    let mut s = v.trim_matches(blank);
    let mut neg = false;
    if let Some(inner) = s.strip_prefix('(').and_then(|x| x.strip_suffix(')')) {
        neg = true;
        s = inner.trim_matches(blank);
    }
    let mut sign = |s: &mut &str| -> Result<(), &'static str> {
        if let Some(r) = s.strip_prefix('-').or_else(|| s.strip_suffix('-')) {
            if neg {
                return Err("has two minus signs");
            }
            neg = true;
            *s = r.trim_matches(blank);
        } else if let Some(r) = s.strip_prefix('+') {
            *s = r.trim_matches(blank);
        }
        Ok(())
    };
    sign(&mut s)?;
    for cur in ["Rp.", "Rp", "IDR"] {
        let n = cur.len();
        if s.len() >= n && s.is_char_boundary(n) && s[..n].eq_ignore_ascii_case(cur) {
            s = s[n..].trim_matches(blank);
            break;
        }
        if s.len() >= n
            && s.is_char_boundary(s.len() - n)
            && s[s.len() - n..].eq_ignore_ascii_case(cur)
        {
            s = s[..s.len() - n].trim_matches(blank);
            break;
        }
    }
    sign(&mut s)?;
    // Spaces, apostrophes and underscores group digits in any format.
    let kept: String = s
        .chars()
        .filter(|c| !(blank(*c) || *c == '\'' || *c == '_'))
        .collect();
    if kept.is_empty()
        || !kept
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b',')
    {
        return Err("is not an amount in rupiah");
    }
    Ok((neg, kept))
}

/// How `digits` (digits, `.` and `,` only) reads on its own.
fn reading(digits: &str) -> Reading {
    let b = digits.as_bytes();
    let dots = b.iter().filter(|c| **c == b'.').count();
    let commas = b.iter().filter(|c| **c == b',').count();
    match (dots, commas) {
        (0, 0) => Reading::Any,
        (_, 0) | (0, _) => {
            let sep = if dots > 0 { b'.' } else { b',' };
            let (group_in, decimal_in) = if sep == b'.' {
                (Number::IdId, Number::En)
            } else {
                (Number::En, Number::IdId)
            };
            if dots + commas > 1 {
                return Reading::Only(group_in);
            }
            let after = &digits[digits.find(sep as char).map_or(0, |i| i + 1)..];
            if after.len() == 3 {
                // A group of three, or a fraction of three digits: a whole
                // rupiah either way only when the digits are zeros.
                if after == "000" {
                    Reading::Both
                } else {
                    Reading::Only(group_in)
                }
            } else {
                Reading::Only(decimal_in)
            }
        }
        _ => {
            // Both: the last one starts the fraction.
            let last = b.iter().rposition(|c| *c == b'.' || *c == b',');
            match last.map(|i| b[i]) {
                Some(b',') => Reading::Only(Number::IdId),
                _ => Reading::Only(Number::En),
            }
        }
    }
}

/// Reads `digits` with `n`'s separators into whole rupiah.
fn whole(digits: &str, n: Number) -> Result<i64, &'static str> {
    let (group, decimal) = n.separators();
    let (int, frac) = match digits.bytes().position(|c| c == decimal) {
        Some(i) => (&digits[..i], Some(&digits[i + 1..])),
        None => (digits, None),
    };
    if let Some(f) = frac {
        if f.is_empty() || !f.bytes().all(|c| c.is_ascii_digit()) {
            return Err("is not an amount in rupiah");
        }
        if !f.bytes().all(|c| c == b'0') {
            return Err("has a fraction of a rupiah; amounts are whole rupiah");
        }
    }
    let groups: Vec<&str> = int.split(group as char).collect();
    let well_grouped = groups.len() == 1
        || (matches!(groups[0].len(), 1..=3) && groups[1..].iter().all(|g| g.len() == 3));
    if int.is_empty()
        || !well_grouped
        || !groups.iter().all(|g| g.bytes().all(|c| c.is_ascii_digit()))
    {
        return Err("is not an amount in rupiah");
    }
    let mut total: i64 = 0;
    for c in int.bytes().filter(u8::is_ascii_digit) {
        total = total
            .checked_mul(10)
            .and_then(|t| t.checked_add(i64::from(c - b'0')))
            .ok_or("is too large an amount")?;
    }
    Ok(total)
}

impl Values {
    /// A file whose values are read as sidik writes them (plain digits,
    /// RFC 3339), with `tz` for times without an offset; the format is
    /// settled from the file's rows by [`Values::settle`].
    pub fn new(source: &'static str, tz: Tz) -> Values {
        Values {
            source,
            number: None,
            number_origin: Origin::Undecided,
            dates: None,
            dates_origin: Origin::Undecided,
            tz,
        }
    }

    /// Settles what is not set from sample values: `amounts` and `times` are
    /// the texts of the file's amount and time columns in its first rows. A
    /// format is taken when some values read only one way and none only the
    /// other.
    pub fn settle<'a>(
        &mut self,
        amounts: impl Iterator<Item = &'a str>,
        times: impl Iterator<Item = &'a str>,
    ) {
        if self.number.is_none() {
            let (mut id, mut en) = (0, 0);
            for v in amounts {
                if let Ok((_, d)) = strip(v) {
                    match reading(&d) {
                        Reading::Only(Number::IdId) => id += 1,
                        Reading::Only(Number::En) => en += 1,
                        _ => {}
                    }
                }
            }
            self.number = match (id, en) {
                (0, 0) => None,
                (_, 0) => Some(Number::IdId),
                (0, _) => Some(Number::En),
                _ => None,
            };
            if self.number.is_some() {
                self.number_origin = Origin::Detected;
            }
        }
        if self.dates.is_none() {
            let (mut dmy, mut mdy, mut ymd) = (0, 0, 0);
            for v in times {
                if let Some((a, b, _, _)) = date_parts(v) {
                    if a > 31 {
                        ymd += 1;
                    } else if a > 12 {
                        dmy += 1;
                    } else if b > 12 {
                        mdy += 1;
                    }
                }
            }
            self.dates = match (dmy, mdy, ymd) {
                (0, 0, 0) => None,
                (_, 0, 0) => Some(DateOrder::Dmy),
                (0, _, 0) => Some(DateOrder::Mdy),
                (0, 0, _) => Some(DateOrder::Ymd),
                _ => None,
            };
            if self.dates.is_some() {
                self.dates_origin = Origin::Detected;
            }
        }
    }

    /// An amount in whole rupiah: digits with the file's separators, an
    /// optional `Rp`/`IDR`, a minus or parentheses for a negative, and a
    /// fraction of zeros.
    pub fn amount(&self, v: &str, loc: &dyn Display, col: &str) -> Result<i64, ReconError> {
        // Plain digits (the usual case) need no cleaning.
        if let Ok(n) = v.parse::<i64>() {
            return Ok(n);
        }
        let err = |why: &str| ReconError::Input(format!("{loc}: {col} \"{v}\" {why}"));
        let (neg, digits) = strip(v).map_err(err)?;
        let n = match (self.number, reading(&digits)) {
            (Some(n), _) => n,
            (None, Reading::Only(n)) => n,
            (None, Reading::Any) => Number::En,
            // `50.000` or `50,000` alone: a group of three digits, since money
            // is written with no decimals or two, so the same 50,000 either way.
            (None, Reading::Both) if digits.contains('.') => Number::IdId,
            (None, Reading::Both) => Number::En,
        };
        let total = whole(&digits, n).map_err(|why| {
            if self.number.is_some() {
                err(&format!(
                    "{why} (read as {}, {} for this file)",
                    n.name(),
                    self.number_origin.word()
                ))
            } else {
                err(why)
            }
        })?;
        Ok(if neg { -total } else { total })
    }

    /// A point in time (UTC milliseconds): RFC 3339 and PostgreSQL's text
    /// form, a local time in the file's zone, a date with `/`, `.` or `-` in
    /// the file's day-month order, an Excel serial day number (`45669.795`),
    /// or `@MILLIS` (from Parquet).
    pub fn time(&self, v: &str, loc: &dyn Display, col: &str) -> Result<i64, ReconError> {
        if let Some(ms) = v.strip_prefix('@') {
            if let Ok(n) = ms.parse() {
                return Ok(n);
            }
        }
        if let Some(t) = fast_time(v, self.tz) {
            return Ok(t);
        }
        if let Some((a, b, c, rest)) = date_parts(v) {
            return self.day_month_year(v, (a, b, c), rest, loc, col);
        }
        if let Some(t) = excel_serial(v) {
            return local_to_utc_in(self.tz, t).ok_or_else(|| {
                ReconError::Input(format!(
                    "{loc}: {col} \"{v}\" falls in a skipped local hour"
                ))
            });
        }
        sidik_core::time::parse_time(v, self.tz)
            .map(|t| t.timestamp_millis())
            .map_err(|e| ReconError::Input(format!("{loc}: {col}: {e}")))
    }

    fn day_month_year(
        &self,
        v: &str,
        (a, b, c): (u32, u32, u32),
        rest: &str,
        loc: &dyn Display,
        col: &str,
    ) -> Result<i64, ReconError> {
        let err = |why: String| ReconError::Input(format!("{loc}: {col} \"{v}\" {why}"));
        let order = match self.dates {
            Some(o) => o,
            None if a > 31 => DateOrder::Ymd,
            None if a > 12 => DateOrder::Dmy,
            None if b > 12 => DateOrder::Mdy,
            None if a == b => DateOrder::Dmy,
            None => {
                return Err(err(format!(
                    "reads two ways: {a} {} or {b} {}, and nothing else in the file says which; set incident.toml [recon.format.{}] dates = \"dmy\" or \"mdy\" (or [recon] locale = \"id-ID\")",
                    month_name(b),
                    month_name(a),
                    self.source
                )))
            }
        };
        let (y, m, d) = match order {
            DateOrder::Dmy => (c, b, a),
            DateOrder::Mdy => (c, a, b),
            DateOrder::Ymd => (a, b, c),
        };
        let y = if y < 100 { 2000 + y } else { y };
        let date = chrono::NaiveDate::from_ymd_opt(y as i32, m, d).ok_or_else(|| {
            err(format!(
                "is not a date read as {} (day {d}, month {m}, year {y})",
                order.name()
            ))
        })?;
        let time = clock(rest).ok_or_else(|| {
            err("has a time of day sidik cannot read (expected HH:MM[:SS[.fff]], with AM/PM or not)".into())
        })?;
        let local = date.and_time(time).and_utc().timestamp_millis();
        local_to_utc_in(self.tz, local).ok_or_else(|| err("falls in a skipped local hour".into()))
    }
}

fn month_name(m: u32) -> &'static str {
    [
        "?",
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ]
    .get(m as usize)
    .copied()
    .unwrap_or("?")
}

/// `12/01/2025 19:05`, `12.01.2025`, `12-01-2025`, `2025/01/12 …`: the three
/// numbers of the date and the rest (the time of day, possibly empty).
fn date_parts(v: &str) -> Option<(u32, u32, u32, &str)> {
    let v = v.trim();
    let end = v.find([' ', 'T']).unwrap_or(v.len());
    let (date, rest) = v.split_at(end);
    let sep = date.bytes().find(|c| matches!(c, b'/' | b'.' | b'-'))?;
    let mut parts = date.split(sep as char);
    let (a, b, c) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let num = |s: &str| -> Option<u32> {
        (!s.is_empty() && s.len() <= 4 && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (x, y, z) = (num(a)?, num(b)?, num(c)?);
    // `2025-01-12` is ISO and read elsewhere; here a year comes last, or first with `/` or `.`.
    let year_last = c.len() == 4 || (c.len() == 2 && a.len() <= 2);
    let year_first = a.len() == 4 && sep != b'-';
    if !(year_last || year_first) || b.len() > 2 {
        return None;
    }
    Some((x, y, z, rest.trim_start_matches('T').trim()))
}

/// `HH:MM[:SS[.fff]]` with an optional `AM`/`PM`; empty is midnight.
fn clock(rest: &str) -> Option<chrono::NaiveTime> {
    let rest = rest.trim();
    if rest.is_empty() {
        return chrono::NaiveTime::from_hms_opt(0, 0, 0);
    }
    let upper = rest.to_ascii_uppercase();
    let (text, pm) = match upper
        .strip_suffix("PM")
        .map(|t| (t, Some(true)))
        .or_else(|| upper.strip_suffix("AM").map(|t| (t, Some(false))))
    {
        Some((t, p)) => (t.trim().to_string(), p),
        None => (upper.clone(), None),
    };
    let mut it = text.split(':');
    let h: u32 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let (s, ms) = match it.next() {
        Some(sec) => {
            let (whole, frac) = sec.split_once(['.', ',']).unwrap_or((sec, ""));
            let ms = if frac.is_empty() {
                0
            } else {
                let f: String = frac.chars().chain("000".chars()).take(3).collect();
                f.parse().ok()?
            };
            (whole.parse().ok()?, ms)
        }
        None => (0, 0),
    };
    if it.next().is_some() {
        return None;
    }
    let h = match pm {
        Some(true) if h < 12 => h + 12,
        Some(false) if h == 12 => 0,
        Some(_) if h > 12 => return None,
        _ => h,
    };
    chrono::NaiveTime::from_hms_milli_opt(h, m, s, ms)
}

/// An Excel serial day number (days since 1899-12-30, the fraction the time
/// of day), as local milliseconds since 1970; only plausible dates
/// (1970–2099) are taken, so an amount is never read as a time.
fn excel_serial(v: &str) -> Option<i64> {
    let v = v.trim();
    if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
        return None;
    }
    let days: f64 = v.parse().ok()?;
    // 25569 is 1970-01-01; 73051 is 2100-01-01.
    if !(25_569.0..73_051.0).contains(&days) {
        return None;
    }
    Some(((days - 25_569.0) * 86_400_000.0).round() as i64)
}

fn digits(b: &[u8]) -> Option<i64> {
    let mut n = 0i64;
    for c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(c - b'0');
    }
    Some(n)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's days_from_civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD[ T]HH:MM[:SS[.fff]]` with an optional `Z`, `±HH`, `±HH:MM` or
/// `±HHMM` (RFC 3339, and PostgreSQL's text form of a timestamptz such as
/// `2025-01-12 19:05:01.123+07`), without allocating; local times through the
/// incident timezone.
/// Anything else is left to the general parser.
pub(crate) fn fast_time(v: &str, tz: Tz) -> Option<i64> {
    let b = v.trim().as_bytes();
    if b.len() < 16
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b' ' | b'T')
        || b[13] != b':'
    {
        return None;
    }
    let (y, mo, d) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (h, mi) = (digits(&b[11..13])?, digits(&b[14..16])?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 {
        return None;
    }
    let mut i = 16;
    let mut sec = 0;
    let mut ms = 0;
    if b.get(i) == Some(&b':') {
        sec = digits(b.get(i + 1..i + 3)?)?;
        if sec > 60 {
            return None;
        }
        i += 3;
        if b.get(i) == Some(&b'.') {
            let start = i + 1;
            let mut j = start;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j == start {
                return None;
            }
            let frac = &b[start..j.min(start + 3)];
            ms = digits(frac)? * [100, 10, 1][frac.len() - 1];
            i = j;
        }
    }
    let local = (days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec) * 1000 + ms;
    let rest = &b[i..];
    let offset_min = match rest {
        [] => return local_to_utc_in(tz, local),
        [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), hh @ ..] => {
            let (oh, om) = match hh {
                [a, b2] => (digits(&[*a, *b2])?, 0),
                [a, b2, b':', c, d2] | [a, b2, c, d2] => (digits(&[*a, *b2])?, digits(&[*c, *d2])?),
                _ => return None,
            };
            let m = oh * 60 + om;
            if *sign == b'-' {
                -m
            } else {
                m
            }
        }
        _ => return None,
    };
    Some(local - offset_min * 60_000)
}

/// UTC milliseconds of a local wall-clock time (milliseconds since the local
/// epoch) in `tz`; a skipped local time is `None`.
pub fn local_to_utc_in(tz: Tz, local_ms: i64) -> Option<i64> {
    // The offset is looked up once per local hour, when it is the same at
    // both ends of the hour (so a daylight-saving change is never cached),
    // and kept in a small table indexed by the hour: a row's several times
    // fall in different hours.
    thread_local! {
        static HOURS: std::cell::RefCell<HourCache> = const { std::cell::RefCell::new(HourCache::new()) };
    }
    let hour = local_ms.div_euclid(3_600_000);
    if let Some(offset) = HOURS.with(|c| c.borrow().get(tz, hour)) {
        return Some(local_ms - offset);
    }
    let convert = |ms: i64| -> Option<i64> {
        let naive = chrono::DateTime::from_timestamp_millis(ms)?.naive_utc();
        sidik_core::time::local_to_utc(naive, tz).map(|t| t.timestamp_millis())
    };
    let utc = convert(local_ms)?;
    let start = hour * 3_600_000;
    if let (Some(a), Some(b)) = (convert(start), convert(start + 3_599_999)) {
        if start - a == start + 3_599_999 - b {
            HOURS.with(|c| c.borrow_mut().set(tz, hour, start - a));
        }
    }
    Some(utc)
}

/// Offsets by hour, direct-mapped: 256 hours (ten days) of a zone.
pub(crate) struct HourCache {
    slots: [(i64, i64); 256],
    tz: Option<Tz>,
}

impl HourCache {
    pub(crate) const fn new() -> HourCache {
        HourCache {
            slots: [(i64::MIN, 0); 256],
            tz: None,
        }
    }

    pub(crate) fn get(&self, tz: Tz, hour: i64) -> Option<i64> {
        if self.tz != Some(tz) {
            return None;
        }
        let (h, o) = self.slots[(hour & 255) as usize];
        (h == hour).then_some(o)
    }

    pub(crate) fn set(&mut self, tz: Tz, hour: i64, offset: i64) {
        if self.tz != Some(tz) {
            self.slots = [(i64::MIN, 0); 256];
            self.tz = Some(tz);
        }
        self.slots[(hour & 255) as usize] = (hour, offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Loc;

    fn loc() -> Loc {
        Loc {
            file: Loc::register("pay.csv"),
            line: 7,
        }
    }

    fn read(v: &str, n: Option<Number>) -> Result<i64, String> {
        let mut vals = Values::new("payments", chrono_tz::Asia::Jakarta);
        vals.number = n;
        vals.amount(v, &loc(), "amount").map_err(|e| e.to_string())
    }

    #[test]
    fn amounts_in_each_format() {
        for (v, want) in [
            ("356500", 356_500),
            ("356.500", 356_500),
            ("Rp 356.500", 356_500),
            ("Rp356.500,00", 356_500),
            ("IDR 1.234.567", 1_234_567),
            ("1.234.567,00", 1_234_567),
            ("1,234,567.00", 1_234_567),
            ("(5.500)", -5_500),
            ("-Rp 5.500", -5_500),
            ("Rp -5.500", -5_500),
            ("5.500-", -5_500),
            ("356 500", 356_500),
            ("356500.00", 356_500),
            ("12,500", 12_500),
        ] {
            assert_eq!(read(v, None), Ok(want), "{v}");
        }
        assert_eq!(read("1.000", Some(Number::IdId)), Ok(1000));
        assert_eq!(read("1.000", Some(Number::En)), Ok(1));
        assert_eq!(read("1,000", Some(Number::IdId)), Ok(1));
    }

    #[test]
    fn an_amount_the_format_cannot_read_names_the_line_and_the_format() {
        assert_eq!(read("50.000", None), Ok(50_000));
        assert_eq!(read("50,000", None), Ok(50_000));
        let mut v = Values::new("payments", chrono_tz::Asia::Jakarta);
        v.settle(["356.500"].into_iter(), std::iter::empty());
        let e = v.amount("1,500", &loc(), "amount").unwrap_err().to_string();
        assert!(
            e.starts_with("pay.csv:7: amount \"1,500\" has a fraction of a rupiah"),
            "{e}"
        );
        assert!(e.contains("(read as id-ID, detected for this file)"), "{e}");
        let e = read("1.234,56", None).unwrap_err();
        assert!(e.contains("fraction of a rupiah"), "{e}");
        let e = read("1.23.456", Some(Number::IdId)).unwrap_err();
        assert!(e.contains("not an amount"), "{e}");
        assert!(read("Rp", None).is_err());
        assert!(read("--5", None).is_err());
    }

    #[test]
    fn the_file_settles_its_format_from_values_that_read_one_way() {
        let mut v = Values::new("payments", chrono_tz::Asia::Jakarta);
        v.settle(["50.000", "356.500", "12"].into_iter(), std::iter::empty());
        assert_eq!(
            (v.number, v.number_origin),
            (Some(Number::IdId), Origin::Detected)
        );
        assert_eq!(v.amount("50.000", &loc(), "amount").unwrap(), 50_000);
        let mut v = Values::new("payments", chrono_tz::Asia::Jakarta);
        v.settle(["356.500", "1,500"].into_iter(), std::iter::empty());
        assert_eq!(v.number, None, "mixed stays undecided");
    }

    #[test]
    fn dates_in_each_order_and_excel_serials() {
        let tz = chrono_tz::Asia::Jakarta;
        let mut v = Values::new("payments", tz);
        let at = |v: &Values, s: &str| v.time(s, &loc(), "created_at").map_err(|e| e.to_string());
        let want = chrono::DateTime::parse_from_rfc3339("2025-01-12T19:05:01+07:00")
            .unwrap()
            .timestamp_millis();
        let thirteenth = want + 86_400_000;
        assert_eq!(
            at(&v, "13/01/2025 19:05:01"),
            Ok(thirteenth),
            "a > 12: day first"
        );
        assert_eq!(
            at(&v, "01/13/2025 19:05:01"),
            Ok(thirteenth),
            "b > 12: month first"
        );
        assert_eq!(at(&v, "2025/01/12 07:05:01 PM"), Ok(want));
        assert!(at(&v, "05/01/2025 19:05")
            .unwrap_err()
            .contains("5 January or 1 May"));
        v.settle(std::iter::empty(), ["13/01/2025 10:00"].into_iter());
        assert_eq!(v.dates, Some(DateOrder::Dmy));
        let may = at(&v, "01/05/2025 00:00").unwrap();
        assert_eq!(
            may,
            chrono::DateTime::parse_from_rfc3339("2025-05-01T00:00:00+07:00")
                .unwrap()
                .timestamp_millis()
        );
        // 45669.795150463 is 2025-01-12 19:05:01 local.
        assert_eq!(at(&v, "45669.795150463"), Ok(want));
        assert_eq!(at(&v, "2025-01-12T19:05:01+07:00"), Ok(want));
        v.dates = Some(DateOrder::Mdy);
        assert!(at(&v, "13/01/2025")
            .unwrap_err()
            .contains("not a date read as mdy"));
    }
}
