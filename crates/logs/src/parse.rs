//! Formats: detection, and one parser per format turning lines into
//! [`Record`]s. A line that cannot be read becomes a [`Bad`] with its reason;
//! it never stops the file.

use std::sync::LazyLock;

use crate::jsonscan::{self, Raw};
use chrono_tz::Tz;
use regex::Regex;

use crate::record::{
    cap_text, to_ms, unit_of, Aliases, KeyStats, LatencyKey, Level, Record, Unit, MAX_TEXT,
};
use crate::ts::{self, Millis};

// The formats that wrap another (CloudNativePG, Cloud Logging, zap console)
// build their inner parser through this module's `parser`.
mod wrapped;

/// A log format.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// JSON lines (zap, zerolog, logrus JSON, slog JSON).
    Json,
    /// `key=value` pairs (logfmt, slog text, logrus text).
    Logfmt,
    /// PostgreSQL stderr log with this `log_line_prefix`.
    PostgresStderr(String),
    /// PostgreSQL csvlog.
    PostgresCsv,
    /// PostgreSQL jsonlog.
    PostgresJson,
    /// CloudNativePG: the operator's zap JSON lines, PostgreSQL's record
    /// nested under `record`.
    Cnpg,
    /// Google Cloud Logging entries (`textPayload` / `jsonPayload`); the
    /// format of the text payloads inside (PostgreSQL stderr for Cloud SQL).
    CloudLogging(Box<Format>),
    /// zap's development (console) encoder: time, level, caller and message
    /// separated by tabs, the fields as JSON, stack traces on the lines after.
    ZapConsole,
    /// A user regex with named groups.
    Regex(String),
    /// Not recognised.
    Unknown,
}

impl Format {
    /// The name used in incident.toml.
    pub fn name(&self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Logfmt => "logfmt",
            Format::PostgresStderr(_) => "postgres-stderr",
            Format::PostgresCsv => "postgres-csv",
            Format::PostgresJson => "postgres-json",
            Format::Cnpg => "cnpg",
            Format::CloudLogging(_) => "cloud-logging",
            Format::ZapConsole => "zap-console",
            Format::Regex(_) => "regex",
            Format::Unknown => "unknown",
        }
    }

    /// The name, with the `log_line_prefix` or payload format it implies:
    /// what a person needs to see to tell a wrong guess.
    pub fn describe(&self) -> String {
        match self {
            Format::PostgresStderr(p) => format!("postgres-stderr, log_line_prefix '{p}'"),
            Format::CloudLogging(inner) => match inner.as_ref() {
                Format::Unknown => "cloud-logging, text payloads as plain text".into(),
                f => format!("cloud-logging, text payloads as {}", f.describe()),
            },
            Format::Regex(p) => format!("regex '{p}'"),
            f => f.name().to_string(),
        }
    }
}

/// The Go logger that wrote `lines` (already unwrapped), when its keys and
/// level words say so: shown beside the format, so a user sees "logfmt
/// (logrus text)" and knows which logger's conventions were assumed. Only
/// JSON and logfmt files are told apart; the parse does not depend on it.
pub fn dialect(lines: &[String], format: &Format) -> Option<&'static str> {
    let first: Vec<&str> = lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .take(10)
        .collect();
    let all = |f: &dyn Fn(&str) -> bool| !first.is_empty() && first.iter().all(|l| f(l));
    let has = |l: &str, k: &str| l.contains(&format!("\"{k}\":"));
    let lower_level = |l: &str| {
        [
            "\"level\":\"info\"",
            "\"level\":\"warn",
            "\"level\":\"error\"",
            "\"level\":\"debug\"",
            "\"level\":\"fatal\"",
            "\"level\":\"panic\"",
            "\"level\":\"trace\"",
        ]
        .iter()
        .any(|w| l.contains(w))
    };
    match format {
        Format::Json => {
            if all(&|l| has(l, "ts") && has(l, "msg") && has(l, "caller")) {
                Some("zap")
            } else if all(&|l| has(l, "message") && has(l, "level") && lower_level(l)) {
                Some("zerolog")
            } else if all(&|l| has(l, "msg") && has(l, "time") && lower_level(l)) {
                Some("logrus JSON")
            } else if all(&|l| {
                has(l, "msg") && has(l, "time") && has(l, "level") && !lower_level(l)
            }) {
                Some("slog JSON")
            } else {
                None
            }
        }
        Format::Logfmt => {
            let lower = |l: &str| {
                [
                    "level=info",
                    "level=warn",
                    "level=error",
                    "level=debug",
                    "level=fatal",
                    "level=panic",
                    "level=trace",
                ]
                .iter()
                .any(|w| l.contains(w))
            };
            if all(&|l| l.starts_with("time=\"") && lower(l) && l.contains(" msg=")) {
                Some("logrus text")
            } else if all(&|l| {
                l.starts_with("time=") && l.contains(" level=") && !lower(l) && l.contains(" msg=")
            }) {
                Some("slog text")
            } else if all(&|l| l.contains("ts=") && l.contains("caller=")) {
                Some("go-kit logfmt")
            } else {
                None
            }
        }
        _ => None,
    }
}

/// The default PostgreSQL `log_line_prefix` (PostgreSQL 10 and later).
pub const DEFAULT_PG_PREFIX: &str = "%m [%p] ";
/// The `log_line_prefix` of Debian's and Ubuntu's packages.
pub const DEBIAN_PG_PREFIX: &str = "%m [%p] %q%u@%d ";

static CRI: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\d{4}-\d\d-\d\dT\S+) (stdout|stderr) ([FP]) ?(.*)$").unwrap());
static PG_STDERR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?( [A-Za-z0-9+:\-]+)? \[\d+\]").unwrap()
});
static PG_CSV: LazyLock<Regex> = LazyLock::new(|| {
    // The first field may be quoted (`"2026-05-16 05:11:50.269 UTC",…`).
    Regex::new(r#"^"?\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ [A-Za-z0-9+:\-]+"?,"#).unwrap()
});
static LOGFMT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(^|\s)(level|lvl|msg|time|ts)=("|\S)"#).unwrap());

/// Whether lines are wrapped by a container runtime (CRI).
pub fn is_cri(line: &str) -> bool {
    CRI.is_match(line)
}

/// Guesses the format from sample lines (CRI wrapping already removed).
///
/// JSON lines are told apart by their keys (PostgreSQL's `error_severity`,
/// CloudNativePG's nested `record`, Cloud Logging's payloads); a
/// PostgreSQL stderr log gets the `log_line_prefix` that reads the most of
/// its lines ([`crate::prefix::infer`]).
pub fn detect(lines: &[String]) -> Format {
    // json, logfmt, stderr, csv, jsonlog, cnpg, cloud logging, zap console
    let mut votes = [0usize; 8];
    let mut payloads = Vec::new();
    for l in lines
        .iter()
        .map(|l| l.trim_start())
        .filter(|l| !l.is_empty())
    {
        if l.starts_with('{') {
            if l.contains("\"record\":{") && l.contains("\"error_severity\"") {
                votes[5] += 1;
            } else if l.contains("\"error_severity\"") {
                votes[4] += 1;
            } else if (l.contains("\"textPayload\"") || l.contains("\"jsonPayload\""))
                && (l.contains("\"severity\"") || l.contains("\"logName\""))
            {
                votes[6] += 1;
                if let Ok(serde_json::Value::Object(o)) = serde_json::from_str(l) {
                    if let Some(t) = o.get("textPayload").and_then(|t| t.as_str()) {
                        payloads.push(t.to_string());
                    }
                }
            } else {
                votes[0] += 1;
            }
        } else if wrapped::ZAP_CONSOLE.is_match(l) {
            votes[7] += 1;
        } else if PG_CSV.is_match(l) {
            votes[3] += 1;
        } else if PG_STDERR.is_match(l) {
            votes[2] += 1;
        } else if LOGFMT.is_match(l) {
            votes[1] += 1;
        }
    }
    let (best, n) = votes.iter().enumerate().max_by_key(|(_, n)| **n).unwrap();
    if *n == 0 {
        // A stderr log whose prefix starts with no timestamp (`[%p] `, `%u@%d `).
        return match crate::prefix::infer(lines) {
            Some((p, n)) if n * 2 > lines.iter().filter(|l| !l.is_empty()).count() => {
                Format::PostgresStderr(p)
            }
            _ => Format::Unknown,
        };
    }
    match best {
        0 => Format::Json,
        1 => Format::Logfmt,
        2 => Format::PostgresStderr(
            crate::prefix::infer(lines)
                .map(|(p, _)| p)
                .unwrap_or_else(|| DEFAULT_PG_PREFIX.into()),
        ),
        3 => Format::PostgresCsv,
        4 => Format::PostgresJson,
        5 => Format::Cnpg,
        7 => Format::ZapConsole,
        _ => {
            let inner = match detect(&payloads) {
                f @ (Format::PostgresStderr(_) | Format::Logfmt | Format::Json) => f,
                _ => Format::Unknown,
            };
            Format::CloudLogging(Box::new(inner))
        }
    }
}

/// The time a PostgreSQL `duration: 12.345 ms` message took, in ms.
pub fn pg_duration(message: &str) -> Option<f64> {
    let d = message.strip_prefix("duration: ")?;
    d.split(" ms").next()?.trim().parse().ok()
}

/// What a parser makes of input.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// A record and the line it starts on (boxed, so records move cheaply
    /// and their buffers can be handed back to the parser for reuse).
    Rec(Box<Record>, u64),
    /// A line that could not be read.
    Bad(Bad),
}

/// A line set aside, with the reason.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Bad {
    /// 1-based line number in the file.
    pub line: u64,
    /// Why.
    pub reason: String,
    /// The line (lossy UTF-8, at most 4 KiB).
    pub text: String,
}

impl Bad {
    /// A bad line.
    pub fn new(line: u64, reason: impl Into<String>, text: &[u8]) -> Self {
        let t = &text[..text.len().min(4096)];
        Bad {
            line,
            reason: reason.into(),
            text: String::from_utf8_lossy(t).into_owned(),
        }
    }
}

/// Settings every parser shares.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Field names.
    pub aliases: Aliases,
    /// Timezone of timestamps without one.
    pub tz: Tz,
    /// Added to every timestamp.
    pub clock_offset_ms: i64,
}

/// A parser for one file.
pub trait LineParser: Send {
    /// Feeds one line (without its line ending); `fallback_time` comes from a CRI wrapper.
    fn line(&mut self, no: u64, text: &[u8], fallback_time: Option<Millis>, out: &mut Vec<Parsed>);
    /// Ends the file.
    fn finish(&mut self, _out: &mut Vec<Parsed>) {}
    /// Hands back a record this parser made, once it has been used, so its
    /// buffers can be filled again.
    fn recycle(&mut self, _r: Box<Record>) {}
    /// How each latency key was read, for the keys that had values.
    fn latency_keys(&self) -> Vec<LatencyKey> {
        Vec::new()
    }
}

/// The parser of `format`.
pub fn parser(format: &Format, settings: Settings) -> Result<Box<dyn LineParser>, String> {
    Ok(match format {
        Format::Json => Box::new(JsonParser::new(settings, false)),
        Format::PostgresJson => Box::new(JsonParser::new(settings, true)),
        Format::Logfmt => Box::new(LogfmtParser::new(settings)),
        Format::PostgresStderr(prefix) => Box::new(PgStderr::new(prefix, settings)?),
        Format::PostgresCsv => Box::new(PgCsv {
            s: settings,
            pending: None,
        }),
        Format::Cnpg => Box::new(wrapped::Cnpg::new(settings)),
        Format::CloudLogging(inner) => Box::new(wrapped::CloudLogging::new(inner, settings)?),
        Format::ZapConsole => Box::new(wrapped::ZapConsole::new(settings)),
        Format::Regex(p) => Box::new(RegexParser::new(p, settings)?),
        Format::Unknown => Box::new(Unknown),
    })
}

struct Unknown;

impl LineParser for Unknown {
    fn line(&mut self, no: u64, text: &[u8], _: Option<Millis>, out: &mut Vec<Parsed>) {
        out.push(Parsed::Bad(Bad::new(
            no,
            "format not recognised; set `format` for this service in incident.toml",
            text,
        )));
    }
}

/// Whether a text mentions something a secret hides behind: a password,
/// a pgcrypto call, dblink, a URL with user-info.
fn mentions_secret(t: &str) -> bool {
    // Runs on every PostgreSQL record: compared in place, nothing allocated.
    const KEYS: [&[u8]; 10] = [
        b"passw", b"pgp_", b"dblink", b"crypt", b"hmac", b"://", b"token", b"secret", b"bearer",
        b"basic ",
    ];
    let b = t.as_bytes();
    KEYS.iter()
        .any(|k| b.windows(k.len()).any(|w| w.eq_ignore_ascii_case(k)))
}

/// A raw line with the secrets it may quote masked: what
/// [`sidik_core::redact`] masks, then, where the line mentions a password or
/// its kin, the statement redactor. For lines kept as they were (the
/// quarantine).
pub fn redact_line(text: &str) -> std::borrow::Cow<'_, str> {
    if !mentions_secret(text) {
        return std::borrow::Cow::Borrowed(text);
    }
    let plain = sidik_core::redact(text);
    std::borrow::Cow::Owned(sidik_core::redact_statement(&plain).into_owned())
}

/// PostgreSQL's own logs quote statements (`log_statement`, `STATEMENT:`
/// lines, csvlog's query fields): a field that mentions a password, a
/// pgcrypto call or dblink passes the statement redactor sidik-pg applies to
/// statement texts read from the server, so a password literal never
/// reaches the events, the templates or a report.
fn redact_pg(r: &mut Record) {
    // Cut first: a 50 MB statement is not searched for secrets whole.
    cap_text(&mut r.message);
    for t in [r.error.as_mut(), r.detail.as_mut()].into_iter().flatten() {
        cap_text(t);
    }
    for field in [Some(&mut r.message), r.error.as_mut(), r.detail.as_mut()]
        .into_iter()
        .flatten()
    {
        if mentions_secret(field) {
            if let std::borrow::Cow::Owned(masked) = sidik_core::redact_statement(field) {
                *field = masked;
            }
        }
    }
}

/// Ends a PostgreSQL record: its secrets masked, its time checked.
pub(crate) fn finish_pg(mut r: Record, s: &Settings, no: u64, text: &[u8], out: &mut Vec<Parsed>) {
    redact_pg(&mut r);
    finish_record(Box::new(r), s, None, no, text, out);
}

pub(crate) fn finish_record(
    mut r: Box<Record>,
    s: &Settings,
    fallback: Option<Millis>,
    no: u64,
    text: &[u8],
    out: &mut Vec<Parsed>,
) {
    if r.time.is_none() {
        r.time = fallback;
    }
    cap_text(&mut r.message);
    for t in [r.error.as_mut(), r.detail.as_mut()].into_iter().flatten() {
        cap_text(t);
    }
    match r.time {
        Some(t) => {
            r.time = Some(t + s.clock_offset_ms);
            out.push(Parsed::Rec(r, no));
        }
        None => out.push(Parsed::Bad(Bad::new(
            no,
            format!(
                "no readable timestamp (looked for {})",
                s.aliases.names("time").join(", ")
            ),
            text,
        ))),
    }
}

// ---------------------------------------------------------------- JSON

struct JsonParser {
    s: Settings,
    pg: bool,
    /// top-level key → the fields it may hold (an index into `slots`).
    index: rustc_hash::FxHashMap<String, usize>,
    slots: Vec<Vec<Slot>>,
    /// What the keys at each position of the last lines resolved to: a
    /// logger writes the keys of one kind of line in the same order every
    /// time, so a key is compared with the few remembered at its position
    /// before it is looked up. A few, not one: a service's kinds of lines
    /// interleave (UPG's charges and callbacks differ from the sixth key
    /// on), and with one remembered, every change of kind cost lookups (4 %
    /// of a UPG line).
    memo: Vec<Memo>,
    /// Records handed back, to be filled again (kept boxed: they leave
    /// boxed, and unboxing them here would allocate a new box each time).
    #[allow(clippy::vec_box)]
    spare: Vec<Box<Record>>,
    /// Text buffers of optional fields that became empty, to be filled again.
    strings: Vec<String>,
    /// Per latency name (by rank): its unit and values.
    stats: Vec<KeyStats>,
}

/// Keys remembered at each position of a line.
const MEMO_WAYS: usize = 4;

/// The keys remembered at one position of a line.
#[derive(Default)]
struct Memo {
    keys: [KeyMemo; MEMO_WAYS],
    /// The one to replace next: the oldest.
    oldest: u8,
}

/// The first `len` of the 16 `bytes` (all of them past 16), as a number.
fn head(bytes: &[u8], len: usize) -> u128 {
    let mut w = [0u8; 16];
    w.copy_from_slice(&bytes[..16]);
    let w = u128::from_le_bytes(w);
    if len >= 16 {
        w
    } else {
        w & ((1u128 << (8 * len)) - 1)
    }
}

/// A raw key and what it resolved to.
#[derive(Default)]
struct KeyMemo {
    raw: String,
    /// Its first 16 bytes as [`head`] gives them.
    word: u128,
    /// Index into `JsonParser::slots`.
    slots: Option<usize>,
    /// Index into [`PG_JSON_EXTRA`].
    pg: Option<usize>,
}

/// Where a top-level JSON key leads.
struct Slot {
    /// Index of the normalised field.
    field: usize,
    /// Rank of the name among the field's names (lower wins).
    rank: usize,
    /// The unit of a latency name.
    unit: Unit,
    /// Nested path below the key (empty for a flat key).
    rest: Vec<String>,
}

impl JsonParser {
    fn new(s: Settings, pg: bool) -> Self {
        let mut index: rustc_hash::FxHashMap<String, Vec<Slot>> = Default::default();
        for (field, f) in crate::record::FIELDS.iter().enumerate() {
            for (rank, name) in s.aliases.names(f).iter().enumerate() {
                let unit = unit_of(name, &s.aliases.units).0;
                // As a flat key, and (for dotted names) as a path into nested objects.
                index.entry(name.clone()).or_default().push(Slot {
                    field,
                    rank,
                    unit,
                    rest: Vec::new(),
                });
                if name.contains('.') {
                    let mut parts = name.split('.').map(str::to_string);
                    let first = parts.next().unwrap_or_default();
                    index.entry(first).or_default().push(Slot {
                        field,
                        rank,
                        unit,
                        rest: parts.collect(),
                    });
                }
            }
        }
        let stats = s
            .aliases
            .names("latency")
            .iter()
            .map(|k| {
                let (unit, from) = unit_of(k, &s.aliases.units);
                KeyStats::new(k, unit, from)
            })
            .collect();
        let mut slots = Vec::new();
        let index = index
            .into_iter()
            .map(|(k, v)| {
                slots.push(v);
                (k, slots.len() - 1)
            })
            .collect();
        JsonParser {
            s,
            pg,
            index,
            slots,
            stats,
            memo: Vec::new(),
            spare: Vec::new(),
            strings: Vec::new(),
        }
    }

    /// The error a line that is not a JSON object gets.
    fn reject(text: &[u8], why: &str) -> String {
        use sonic_rs::JsonValueTrait;
        let start = text
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(0);
        if text.get(start) != Some(&b'{') {
            let head =
                String::from_utf8_lossy(&text[start..text.len().min(start + 24)]).into_owned();
            return format!("not a JSON object: the line starts with `{head}`");
        }
        match sonic_rs::from_slice::<sonic_rs::Value>(text) {
            Ok(v) if !v.is_object() => "a JSON value that is not an object".to_string(),
            Ok(_) => format!("not valid JSON: {why}"),
            Err(e) => {
                let msg = e.to_string();
                let short = msg.split(" at line").next().unwrap_or(&msg).to_string();
                format!("not valid JSON: {short}")
            }
        }
    }
}

/// The fields of one line, each kept with the rank of the name it came under.
#[derive(Default)]
struct JsonFields<'a> {
    rank: [u8; 11],
    seen: [bool; 11],
    time: Option<Millis>,
    level: Option<Level>,
    /// Text fields, as raw JSON values of the line (decoded once, at the end).
    text: [Option<Raw<'a>>; 11],
    latency: Option<f64>,
    /// The rank of the latency name read, and whether its value was a duration string.
    latency_from: Option<(u8, bool)>,
    status: Option<u16>,
}

impl<'a> JsonFields<'a> {
    /// Whether a value under this rank beats what is there.
    fn wants(&self, fi: usize, rank: usize) -> bool {
        !self.seen[fi] || rank < self.rank[fi] as usize
    }

    fn put(&mut self, fi: usize, rank: usize, unit: Unit, v: Raw<'a>, tz: Tz) {
        self.seen[fi] = true;
        self.rank[fi] = rank.min(255) as u8;
        match fi {
            0 => {
                self.time = match v.as_str() {
                    Some(s) => ts::parse(&s, tz),
                    None if v.is_number() => ts::parse_epoch(v.text_raw()),
                    None => None,
                }
            }
            1 => {
                self.level = match v.as_str() {
                    Some(s) => Level::parse(&s),
                    None => v.as_i64().and_then(|n| Level::parse(&n.to_string())),
                }
            }
            6 => {
                let text = v.as_str();
                self.latency = to_ms(unit, v.as_f64(), text.as_deref());
                let string = text.is_some_and(|t| t.trim().parse::<f64>().is_err());
                self.latency_from = self.latency.map(|_| (rank.min(255) as u8, string));
            }
            7 => {
                self.status = v
                    .as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .filter(|s| (100..600).contains(s))
                    .map(|s| s as u16)
            }
            _ => self.text[fi] = Some(v),
        }
    }
}

/// Sets an optional text field from a raw value, reusing the buffer already there.
/// Sets an optional text field from a raw value. Buffers are reused: one
/// already in the slot, else one from `pool`; a field that becomes empty
/// leaves its buffer in `pool` (records are reused across lines that have
/// a payment id or an error and lines that do not).
fn set_text(slot: &mut Option<String>, v: Option<Raw>, pool: &mut Vec<String>) {
    match v {
        Some(v) if !v.is_null() => {
            let s = slot.get_or_insert_with(|| pool.pop().unwrap_or_default());
            s.clear();
            v.text_into(s);
        }
        _ => {
            if let Some(old) = slot.take() {
                if pool.len() < 4096 {
                    pool.push(old);
                }
            }
        }
    }
}

impl LineParser for JsonParser {
    fn line(&mut self, no: u64, text: &[u8], fallback: Option<Millis>, out: &mut Vec<Parsed>) {
        // Walk the top-level members without building a document; values are
        // read only for the keys an alias names.
        let Ok(line) = simdutf8::basic::from_utf8(text) else {
            out.push(Parsed::Bad(Bad::new(no, "not valid UTF-8", text)));
            return;
        };
        let tz = self.s.tz;
        let mut f = JsonFields::default();
        let mut pg_extra: [Option<Raw>; 5] = Default::default();
        let (index, slots, memo, pg) = (&self.index, &self.slots, &mut self.memo, self.pg);
        let mut position = 0;
        let scanned = jsonscan::scan(line, |raw_key, raw| {
            if memo.len() <= position {
                memo.push(Default::default());
            }
            let ways = &mut memo[position];
            position += 1;
            // Keys are a few bytes long: their first sixteen are compared as
            // one number, read from the line where it has that many left.
            // (The key lies in the line; were it not, `get` finds no bytes there.)
            let at = (raw_key.as_ptr() as usize).wrapping_sub(line.as_ptr() as usize);
            let word = line
                .as_bytes()
                .get(at..at.wrapping_add(16))
                .map(|b| head(b, raw_key.len()));
            let same = |m: &KeyMemo| {
                m.raw.len() == raw_key.len()
                    && match word {
                        Some(w) => {
                            m.word == w
                                && m.raw.as_bytes().get(16..) == raw_key.as_bytes().get(16..)
                        }
                        None => m.raw.bytes().zip(raw_key.bytes()).all(|(x, y)| x == y),
                    }
            };
            let w = match ways.keys.iter().position(same) {
                Some(w) => w,
                None => {
                    let w = ways.oldest as usize;
                    ways.oldest = ((w + 1) % MEMO_WAYS) as u8;
                    let m = &mut ways.keys[w];
                    let k = jsonscan::key(raw_key);
                    m.raw.clear();
                    m.raw.push_str(raw_key);
                    let mut first = [0u8; 16];
                    let n = raw_key.len().min(16);
                    first[..n].copy_from_slice(&raw_key.as_bytes()[..n]);
                    m.word = head(&first, n);
                    m.slots = index.get(k.as_ref()).copied();
                    m.pg = if pg {
                        PG_JSON_EXTRA.iter().position(|x| *x == k)
                    } else {
                        None
                    };
                    w
                }
            };
            let m = &ways.keys[w];
            let val = raw;
            if let Some(i) = m.pg {
                pg_extra[i] = val.as_str().is_some().then_some(val);
            }
            let Some(entries) = m.slots else {
                return;
            };
            for slot in &slots[entries] {
                if !f.wants(slot.field, slot.rank) {
                    continue;
                }
                if slot.rest.is_empty() {
                    f.put(slot.field, slot.rank, slot.unit, val, tz);
                } else if let Some(inner) = val.get_path(&slot.rest) {
                    f.put(slot.field, slot.rank, slot.unit, inner, tz);
                }
            }
        });
        if let Err(why) = scanned {
            out.push(Parsed::Bad(Bad::new(no, Self::reject(text, why), text)));
            return;
        }
        // Fill a record handed back earlier, keeping its buffers.
        let mut r = self.spare.pop().unwrap_or_default();
        let [_, _, message, order_id, payment_id, trace_id, _, _, error, _, sqlstate] = f.text;
        r.time = f.time;
        r.level = f.level;
        r.message.clear();
        if let Some(m) = message.filter(|m| !m.is_null()) {
            m.text_into(&mut r.message);
        }
        set_text(&mut r.order_id, order_id, &mut self.strings);
        set_text(&mut r.payment_id, payment_id, &mut self.strings);
        set_text(&mut r.trace_id, trace_id, &mut self.strings);
        r.latency_ms = f.latency;
        if let (Some(ms), Some((rank, string))) = (f.latency, f.latency_from) {
            if let Some(k) = self.stats.get_mut(rank as usize) {
                k.add(ms, string);
            }
        }
        r.http_status = f.status;
        set_text(&mut r.error, error, &mut self.strings);
        set_text(&mut r.sqlstate, sqlstate, &mut self.strings);
        r.detail = None;
        if self.pg {
            let [state, rest @ ..] = pg_extra;
            if r.sqlstate.is_none() {
                set_text(&mut r.sqlstate, state, &mut self.strings);
            }
            let mut d = String::new();
            for x in rest.iter().flatten() {
                x.text_into(&mut d);
                d.push(' ');
            }
            r.detail = (!d.is_empty()).then_some(d);
            if r.level.is_some_and(|l| l.is_error()) && r.error.is_none() {
                r.error = Some(r.message.clone());
            }
            if r.latency_ms.is_none() {
                r.latency_ms = pg_duration(&r.message);
            }
            redact_pg(&mut r);
        }
        finish_record(r, &self.s, fallback, no, text, out);
    }

    fn recycle(&mut self, r: Box<Record>) {
        if self.spare.len() < 1024 {
            self.spare.push(r);
        }
    }

    fn latency_keys(&self) -> Vec<LatencyKey> {
        keys_read(&self.stats)
    }
}

/// The latency keys that had values.
fn keys_read(stats: &[KeyStats]) -> Vec<LatencyKey> {
    stats
        .iter()
        .map(KeyStats::report)
        .filter(|k| k.values > 0)
        .collect()
}

/// jsonlog keys kept for PostgreSQL records: the SQLSTATE, then the text classification also reads.
const PG_JSON_EXTRA: [&str; 5] = ["state_code", "detail", "hint", "context", "statement"];

// ---------------------------------------------------------------- logfmt / logrus text

/// Splits `key=value key="quoted value"` pairs. Fails on an unterminated
/// quote. A value longer than [`MAX_TEXT`] is cut there, with a marker, as
/// it is read: a 50 MB value is never copied whole.
pub fn logfmt_pairs(line: &str) -> Result<Vec<(&str, String)>, String> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let ks = i;
        while i < b.len() && b[i] != b'=' && b[i] != b' ' {
            i += 1;
        }
        let key = &line[ks..i];
        if i >= b.len() || b[i] == b' ' {
            out.push((key, String::new()));
            continue;
        }
        i += 1; // '='
        if b.get(i) == Some(&b'"') {
            i += 1;
            let mut v = String::new();
            let mut closed = false;
            let mut seg = i;
            while i < b.len() {
                match b[i] {
                    b'\\' if i + 1 < b.len() => {
                        if v.len() > MAX_TEXT {
                            i += 2;
                            seg = i;
                            continue;
                        }
                        v.push_str(&line[seg..i]);
                        let c = b[i + 1];
                        v.push(match c {
                            b'n' => '\n',
                            b't' => '\t',
                            other => other as char,
                        });
                        i += 2;
                        seg = i;
                    }
                    b'"' => {
                        let total = v.len() + i - seg;
                        if total > MAX_TEXT {
                            let mut take = (MAX_TEXT.saturating_sub(v.len())).min(i - seg);
                            while !line.is_char_boundary(seg + take) {
                                take -= 1;
                            }
                            v.push_str(&line[seg..seg + take]);
                            v.push_str(&format!("… [cut: {total} bytes in all]"));
                        } else {
                            v.push_str(&line[seg..i]);
                        }
                        i += 1;
                        closed = true;
                        break;
                    }
                    _ => i += 1,
                }
            }
            if !closed {
                return Err(format!("unterminated quoted value of `{key}`"));
            }
            out.push((key, v));
        } else {
            let vs = i;
            while i < b.len() && b[i] != b' ' {
                i += 1;
            }
            let mut end = i.min(vs + MAX_TEXT);
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            let mut v = line[vs..end].to_string();
            if end < i {
                v.push_str(&format!("… [cut: {} bytes in all]", i - vs));
            }
            out.push((key, v));
        }
    }
    Ok(out)
}

struct LogfmtParser {
    s: Settings,
    /// Per latency name (by rank): its unit and values.
    stats: Vec<KeyStats>,
}

impl LogfmtParser {
    fn new(s: Settings) -> Self {
        let stats = latency_stats(&s.aliases);
        LogfmtParser { s, stats }
    }
}

/// One [`KeyStats`] per latency name, in rank order.
fn latency_stats(a: &Aliases) -> Vec<KeyStats> {
    a.names("latency")
        .iter()
        .map(|k| {
            let (unit, from) = unit_of(k, &a.units);
            KeyStats::new(k, unit, from)
        })
        .collect()
}

impl LineParser for LogfmtParser {
    fn line(&mut self, no: u64, text: &[u8], fallback: Option<Millis>, out: &mut Vec<Parsed>) {
        let Ok(line) = std::str::from_utf8(text) else {
            out.push(Parsed::Bad(Bad::new(no, "not UTF-8", text)));
            return;
        };
        if line.contains('\0') {
            out.push(Parsed::Bad(Bad::new(
                no,
                "NUL bytes (a partly written line)",
                text,
            )));
            return;
        }
        let pairs = match logfmt_pairs(line) {
            Ok(p) if p.iter().any(|(_, v)| !v.is_empty()) => p,
            Ok(_) => {
                out.push(Parsed::Bad(Bad::new(no, "no key=value pairs", text)));
                return;
            }
            Err(e) => {
                out.push(Parsed::Bad(Bad::new(no, e, text)));
                return;
            }
        };
        let first = |field: &str| -> Option<(&str, &str)> {
            self.s.aliases.names(field).iter().find_map(|n| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == n.as_str())
                    .map(|(k, v)| (*k, v.as_str()))
            })
        };
        let latency = self
            .s
            .aliases
            .names("latency")
            .iter()
            .enumerate()
            .find_map(|(rank, n)| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == n.as_str())
                    .map(|(_, v)| (rank, v.as_str()))
            })
            .and_then(|(rank, v)| {
                let stat = &mut self.stats[rank];
                let ms = to_ms(stat.unit, None, Some(v))?;
                stat.add(ms, v.trim().parse::<f64>().is_err());
                Some(ms)
            });
        let r = Record {
            time: first("time").and_then(|(_, v)| ts::parse(v, self.s.tz)),
            level: first("level").and_then(|(_, v)| Level::parse(v)),
            message: first("message")
                .map(|(_, v)| v.to_string())
                .unwrap_or_default(),
            order_id: first("order_id").map(|(_, v)| v.to_string()),
            payment_id: first("payment_id").map(|(_, v)| v.to_string()),
            trace_id: first("trace_id").map(|(_, v)| v.to_string()),
            latency_ms: latency,
            http_status: first("http_status")
                .and_then(|(_, v)| v.parse::<u16>().ok())
                .filter(|s| (100..600).contains(s)),
            error: first("error").map(|(_, v)| v.to_string()),
            sqlstate: first("sqlstate").map(|(_, v)| v.to_string()),
            detail: None,
        };
        finish_record(Box::new(r), &self.s, fallback, no, text, out);
    }

    fn latency_keys(&self) -> Vec<LatencyKey> {
        keys_read(&self.stats)
    }
}

// ---------------------------------------------------------------- PostgreSQL stderr

struct PgStderr {
    re: Regex,
    s: Settings,
    pending: Option<(Record, u64, Vec<u8>)>,
}

impl PgStderr {
    fn new(prefix: &str, s: Settings) -> Result<Self, String> {
        Ok(PgStderr {
            re: crate::prefix::prefix_regex(prefix)?,
            s,
            pending: None,
        })
    }

    fn flush(&mut self, out: &mut Vec<Parsed>) {
        if let Some((mut r, no, text)) = self.pending.take() {
            redact_pg(&mut r);
            finish_record(Box::new(r), &self.s, None, no, &text, out);
        }
    }
}

impl LineParser for PgStderr {
    fn line(&mut self, no: u64, text: &[u8], fallback: Option<Millis>, out: &mut Vec<Parsed>) {
        // Only the head of a huge line is read: its text is cut to
        // MAX_TEXT anyway, and a regex over 50 MB is slow.
        let total = text.len();
        let text = &text[..total.min(MAX_TEXT)];
        let cut = |s: &mut String| {
            if total > text.len() {
                s.push_str(&format!("… [cut: {total} bytes in all]"));
            }
        };
        let line = String::from_utf8_lossy(text);
        if line.starts_with('\t') {
            if let Some((r, _, _)) = self.pending.as_mut() {
                let d = r.detail.get_or_insert_with(String::new);
                if d.len() < MAX_TEXT {
                    d.push_str(line.trim());
                    cut(d);
                    d.push(' ');
                }
            } else {
                out.push(Parsed::Bad(Bad::new(
                    no,
                    "continuation line without a record before it",
                    text,
                )));
            }
            return;
        }
        let Some(c) = self.re.captures(&line) else {
            out.push(Parsed::Bad(Bad::new(
                no,
                "does not start with the log_line_prefix",
                text,
            )));
            return;
        };
        let sev = &c["sev"];
        let mut msg = c["msg"].to_string();
        cut(&mut msg);
        if matches!(
            sev,
            "DETAIL" | "HINT" | "CONTEXT" | "STATEMENT" | "QUERY" | "LOCATION"
        ) {
            if let Some((r, _, _)) = self.pending.as_mut() {
                let d = r.detail.get_or_insert_with(String::new);
                if d.len() < MAX_TEXT {
                    d.push_str(sev);
                    d.push_str(": ");
                    d.push_str(&msg);
                    d.push(' ');
                }
                return;
            }
        }
        self.flush(out);
        // A prefix without a time (Cloud SQL's) takes its entry's.
        let time = c
            .name("ts")
            .and_then(|m| ts::parse(m.as_str(), self.s.tz))
            .or_else(|| c.name("epoch").and_then(|m| ts::parse_epoch(m.as_str())))
            .or(fallback);
        let level = Level::parse(sev);
        let mut r = Record {
            time,
            level,
            error: level.filter(|l| l.is_error()).map(|_| msg.clone()),
            message: msg,
            sqlstate: c.name("sqlstate").map(|m| m.as_str().to_string()),
            ..Default::default()
        };
        r.latency_ms = pg_duration(&r.message);
        self.pending = Some((r, no, text.to_vec()));
    }

    fn finish(&mut self, out: &mut Vec<Parsed>) {
        self.flush(out);
    }
}

// ---------------------------------------------------------------- PostgreSQL csvlog

struct PgCsv {
    s: Settings,
    pending: Option<(u64, Vec<u8>)>,
}

impl PgCsv {
    fn record(&self, no: u64, text: &[u8], out: &mut Vec<Parsed>) {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text);
        let Some(Ok(rec)) = rdr.records().next() else {
            out.push(Parsed::Bad(Bad::new(no, "not a CSV record", text)));
            return;
        };
        if rec.len() < 14 {
            out.push(Parsed::Bad(Bad::new(
                no,
                format!(
                    "csvlog record with {} fields, expected at least 23",
                    rec.len()
                ),
                text,
            )));
            return;
        }
        let f = |i: usize| rec.get(i).filter(|v| !v.is_empty()).map(str::to_string);
        let level = rec.get(11).and_then(Level::parse);
        let message = f(13).unwrap_or_default();
        let mut detail = String::new();
        for i in [14, 15, 18, 19] {
            if let Some(v) = f(i) {
                detail.push_str(&v);
                detail.push(' ');
            }
        }
        let r = Record {
            time: rec.get(0).and_then(|t| ts::parse(t, self.s.tz)),
            level,
            error: level.filter(|l| l.is_error()).map(|_| message.clone()),
            latency_ms: pg_duration(&message),
            message,
            sqlstate: f(12),
            detail: (!detail.is_empty()).then_some(detail),
            ..Default::default()
        };
        let mut r = r;
        redact_pg(&mut r);
        finish_record(Box::new(r), &self.s, None, no, text, out);
    }
}

impl LineParser for PgCsv {
    fn line(&mut self, no: u64, text: &[u8], _: Option<Millis>, out: &mut Vec<Parsed>) {
        // A record spans lines while its quotes are unbalanced.
        let (start, mut buf) = self.pending.take().unwrap_or((no, Vec::new()));
        if !buf.is_empty() {
            buf.push(b'\n');
        }
        buf.extend_from_slice(text);
        if buf.iter().filter(|&&b| b == b'"').count() % 2 == 1 {
            self.pending = Some((start, buf));
            return;
        }
        self.record(start, &buf, out);
    }

    fn finish(&mut self, out: &mut Vec<Parsed>) {
        if let Some((no, buf)) = self.pending.take() {
            out.push(Parsed::Bad(Bad::new(
                no,
                "csvlog record cut off at the end of the file (unbalanced quotes)",
                &buf,
            )));
        }
    }
}

// ---------------------------------------------------------------- regex

struct RegexParser {
    re: Regex,
    /// Per normalised field (in [`FIELDS`] order), the group that holds it.
    groups: Vec<Option<usize>>,
    /// The latency group's name, for its unit (`latency_ms` is in ms).
    latency_key: String,
    s: Settings,
}

impl RegexParser {
    /// A group is a field when it is named as the field (`time`, `order_id`,
    /// `latency`) or as one of the field's names: the built-in ones (`ts`,
    /// `msg`, `lvl`, `latency_ms`) and those of `fields` in incident.toml.
    fn new(pattern: &str, s: Settings) -> Result<RegexParser, String> {
        let re = Regex::new(pattern).map_err(|e| format!("invalid pattern: {e}"))?;
        let mut groups = vec![None; crate::record::FIELDS.len()];
        let mut latency_key = "latency".to_string();
        for (i, name) in re.capture_names().enumerate() {
            let Some(name) = name else { continue };
            let field = crate::record::FIELDS
                .iter()
                .position(|f| *f == name || s.aliases.names(f).iter().any(|a| a == name));
            match field {
                Some(f) => {
                    if groups[f].is_none() {
                        groups[f] = Some(i);
                        if crate::record::FIELDS[f] == "latency" {
                            latency_key = name.to_string();
                        }
                    }
                }
                None => {
                    return Err(format!(
                        "the pattern's group `{name}` names no field; name groups as the fields ({}) or add `{name}` to a field in `fields`",
                        crate::record::FIELDS.join(", ")
                    ))
                }
            }
        }
        Ok(RegexParser {
            re,
            groups,
            latency_key,
            s,
        })
    }

    fn group<'t>(&self, c: &regex::Captures<'t>, field: &str) -> Option<&'t str> {
        let f = crate::record::FIELDS.iter().position(|x| *x == field)?;
        self.groups[f].and_then(|i| c.get(i)).map(|m| m.as_str())
    }
}

impl LineParser for RegexParser {
    fn line(&mut self, no: u64, text: &[u8], fallback: Option<Millis>, out: &mut Vec<Parsed>) {
        let line = String::from_utf8_lossy(text);
        let Some(c) = self.re.captures(&line) else {
            out.push(Parsed::Bad(Bad::new(
                no,
                "does not match the service's pattern",
                text,
            )));
            return;
        };
        let g = |n: &str| self.group(&c, n).map(str::to_string);
        let time_text = self.group(&c, "time");
        let r = Record {
            time: time_text.and_then(|t| ts::parse(t, self.s.tz)),
            level: g("level").and_then(|l| Level::parse(&l)),
            message: g("message").unwrap_or_default(),
            order_id: g("order_id"),
            payment_id: g("payment_id"),
            trace_id: g("trace_id"),
            latency_ms: g("latency").and_then(|v| {
                to_ms(
                    unit_of(&self.latency_key, &self.s.aliases.units).0,
                    None,
                    Some(&v),
                )
            }),
            http_status: g("http_status").and_then(|v| v.parse().ok()),
            error: g("error"),
            sqlstate: g("sqlstate"),
            detail: None,
        };
        if r.time.is_none() && fallback.is_none() {
            let why = match time_text {
                Some(t) => format!("the pattern's time group holds `{t}`, which is not a time sidik reads (RFC 3339, a local time, epoch seconds or milliseconds)"),
                None if self.groups[crate::record::FIELDS.iter().position(|f| *f == "time").unwrap_or(0)].is_none() => format!(
                    "the pattern has no time group; name one `time` (or {})",
                    self.s.aliases.names("time").join(", ")
                ),
                None => "the pattern's time group matched nothing on this line".to_string(),
            };
            out.push(Parsed::Bad(Bad::new(no, why, text)));
            return;
        }
        finish_record(Box::new(r), &self.s, fallback, no, text, out);
    }
}

// ---------------------------------------------------------------- CRI

/// A complete record from a CRI wrapper: its first line number, the inner
/// line and the runtime's timestamp.
pub type CriRecord = (u64, Vec<u8>, Option<Millis>);

/// Unwraps container-runtime lines, joining partial (`P`) records.
#[derive(Debug, Default)]
pub struct CriJoiner {
    partial: Option<(u64, Vec<u8>)>,
}

impl CriJoiner {
    /// Feeds one wrapped line; returns the inner line (with its first line
    /// number and the runtime's timestamp) when a record is complete, or an
    /// error for a line that is not CRI.
    pub fn feed(&mut self, no: u64, text: &[u8], tz: Tz) -> Result<Option<CriRecord>, String> {
        let line = String::from_utf8_lossy(text);
        let Some(c) = CRI.captures(&line) else {
            return Err(
                "not a container-runtime (CRI) line: expected `<time> stdout|stderr F|P <line>`"
                    .into(),
            );
        };
        let time = ts::parse(&c[1], tz);
        let body = c[4].as_bytes();
        let (start, mut buf) = self.partial.take().unwrap_or((no, Vec::new()));
        buf.extend_from_slice(body);
        if &c[3] == "P" {
            self.partial = Some((start, buf));
            return Ok(None);
        }
        Ok(Some((start, buf, time)))
    }

    /// A partial record left at the end of the file.
    pub fn finish(&mut self) -> Option<(u64, Vec<u8>)> {
        self.partial.take()
    }
}

// ---------------------------------------------------------------- docker json-file

/// Whether a line is docker's json-file log driver's
/// (`{"log":"…\n","stream":"stdout","time":"…"}`).
pub fn is_docker(line: &str) -> bool {
    line.starts_with("{\"log\":\"") && line.contains("\"time\":\"")
}

/// One line of docker's json-file driver.
#[derive(serde::Deserialize)]
struct DockerLine {
    log: String,
    #[serde(default)]
    time: String,
}

/// Unwraps docker json-file lines. The driver splits a line longer than
/// 16 KiB into entries whose `log` does not end in a newline; they are
/// joined until one does.
#[derive(Debug, Default)]
pub struct DockerJoiner {
    partial: Option<(u64, Vec<u8>, Option<Millis>)>,
}

impl DockerJoiner {
    /// Feeds one wrapped line; returns the inner line (with its first line
    /// number and the driver's timestamp) when a record is complete, or an
    /// error for a line that is not docker's.
    pub fn feed(&mut self, no: u64, text: &[u8], tz: Tz) -> Result<Option<CriRecord>, String> {
        let d: DockerLine = serde_json::from_slice(text).map_err(|e| {
            format!(
                "not a docker json-file line: expected {{\"log\":\"…\",\"stream\":…,\"time\":…}} ({e})"
            )
        })?;
        let time = ts::parse(&d.time, tz);
        let (start, mut buf, first) = self.partial.take().unwrap_or((no, Vec::new(), time));
        buf.extend_from_slice(d.log.as_bytes());
        if buf.last() != Some(&b'\n') {
            self.partial = Some((start, buf, first));
            return Ok(None);
        }
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        Ok(Some((start, buf, first)))
    }

    /// A partial record left at the end of the file.
    pub fn finish(&mut self) -> Option<(u64, Vec<u8>)> {
        self.partial.take().map(|(no, b, _)| (no, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            aliases: Aliases::default(),
            tz: chrono_tz::Asia::Jakarta,
            clock_offset_ms: 0,
        }
    }

    fn one(format: &Format, lines: &[&str]) -> Vec<Parsed> {
        let mut p = parser(format, settings()).unwrap();
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            p.line(i as u64 + 1, l.as_bytes(), None, &mut out);
        }
        p.finish(&mut out);
        out
    }

    fn rec(p: &Parsed) -> &Record {
        match p {
            Parsed::Rec(r, _) => r,
            Parsed::Bad(b) => panic!("bad: {b:?}"),
        }
    }

    #[test]
    fn zap_console_lines_are_read_with_their_fields_and_stack() {
        let lines = [
            "2025-01-12T19:10:31.882+0700\tINFO\tcharge/handler.go:88\tcharge settled\t{\"orderNo\": \"ORD-1\", \"latency\": \"311.452ms\"}",
            "2025-01-12T19:10:32.001+0700\tERROR\tpayments\tcallback/notifier.go:131\tpayment callback failed\t{\"order_id\": \"ORD-2\", \"error\": \"dial tcp 10.0.0.1:8080: connect: connection refused\"}",
            "main.(*Notifier).Send",
            "\t/app/callback/notifier.go:131",
            "2025-01-12T19:10:33Z\tWARN\tno caller, no fields",
        ];
        assert_eq!(
            detect(&lines.iter().map(|l| l.to_string()).collect::<Vec<_>>()),
            Format::ZapConsole
        );
        let out = one(&Format::ZapConsole, &lines);
        assert_eq!(out.len(), 3, "{out:?}");
        let a = rec(&out[0]);
        assert_eq!(a.message, "charge settled");
        assert_eq!(a.level, Some(Level::Info));
        assert_eq!(
            a.time,
            ts::parse("2025-01-12T12:10:31.882Z", chrono_tz::UTC)
        );
        assert!((a.latency_ms.unwrap() - 311.452).abs() < 1e-9);
        let b = rec(&out[1]);
        assert_eq!(b.order_id.as_deref(), Some("ORD-2"));
        assert!(b.error.as_deref().unwrap().contains("connection refused"));
        assert_eq!(
            b.detail.as_deref(),
            Some("main.(*Notifier).Send\n\t/app/callback/notifier.go:131")
        );
        let c = rec(&out[2]);
        assert_eq!(
            (c.message.as_str(), c.level),
            ("no caller, no fields", Some(Level::Warn))
        );
        // A stack line before any record is set aside.
        let out = one(&Format::ZapConsole, &["main.main"]);
        assert!(matches!(&out[0], Parsed::Bad(b) if b.reason.contains("zap console")));
    }

    #[test]
    fn docker_lines_are_unwrapped_and_split_lines_joined() {
        let mut j = DockerJoiner::default();
        let tz = chrono_tz::Asia::Jakarta;
        let whole = br#"{"log":"{\"level\":\"info\",\"msg\":\"ok\"}\n","stream":"stdout","time":"2025-01-12T12:00:00.5Z"}"#;
        let (no, inner, t) = j.feed(1, whole, tz).unwrap().unwrap();
        assert_eq!(
            (no, inner.as_slice()),
            (1, br#"{"level":"info","msg":"ok"}"#.as_slice())
        );
        assert_eq!(t, ts::parse("2025-01-12T12:00:00.5Z", tz));
        assert!(j
            .feed(
                2,
                br#"{"log":"first half ","stream":"stderr","time":"2025-01-12T12:00:01Z"}"#,
                tz
            )
            .unwrap()
            .is_none());
        let (no, inner, _) = j
            .feed(
                3,
                br#"{"log":"second half\r\n","stream":"stderr","time":"2025-01-12T12:00:01Z"}"#,
                tz,
            )
            .unwrap()
            .unwrap();
        assert_eq!(
            (no, inner.as_slice()),
            (2, b"first half second half".as_slice())
        );
        assert!(j
            .feed(4, b"plain text", tz)
            .unwrap_err()
            .contains("docker json-file"));
        assert!(is_docker(std::str::from_utf8(whole).unwrap()));
        assert!(!is_docker(r#"{"level":"info","log":"x","time":"t"}"#));
    }

    #[test]
    fn keys_are_resolved_whatever_order_each_line_has() {
        // The parser remembers what the key at each position meant; lines
        // that reorder, drop, escape or reuse keys must not inherit a stale meaning.
        let out = one(
            &Format::Json,
            &[
                r#"{"ts":1736683501.5,"msg":"first","order_id":"ORD-1","trace_id":"T1"}"#,
                r#"{"order_id":"ORD-2","ts":1736683502.5,"msg":"second"}"#,
                r#"{"ts":1736683503.5,"m\u0073g":"escaped key","order_id":"ORD-3"}"#,
                r#"{"ts":1736683504.5,"msgx":"not an alias","trace_id":"T4"}"#,
                r#"{"ts":1736683505.5,"msg":"fifth","order_id":"ORD-5","trace_id":"T5"}"#,
            ],
        );
        type Seen<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<i64>);
        let got: Vec<Seen> = out
            .iter()
            .map(|p| {
                let r = rec(p);
                (
                    r.message.as_str(),
                    r.order_id.as_deref(),
                    r.trace_id.as_deref(),
                    r.time,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("first", Some("ORD-1"), Some("T1"), Some(1736683501500)),
                ("second", Some("ORD-2"), None, Some(1736683502500)),
                ("escaped key", Some("ORD-3"), None, Some(1736683503500)),
                ("", None, Some("T4"), Some(1736683504500)),
                ("fifth", Some("ORD-5"), Some("T5"), Some(1736683505500)),
            ]
        );
    }

    #[test]
    fn more_kinds_of_line_than_keys_remembered_keep_their_meaning() {
        // Six kinds of line, each with a different key second, cycled three
        // times: more kinds than the parser remembers keys at a position,
        // so remembered keys are replaced while others are still in use.
        let keys = [
            "msg",
            "order_id",
            "payment_id",
            "trace_id",
            "error",
            "caller",
        ];
        let lines: Vec<String> = (0..18)
            .map(|i| format!(r#"{{"ts":{},"{}":"v{i}"}}"#, 1736683501 + i, keys[i % 6]))
            .collect();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let out = one(&Format::Json, &lines);
        for (i, p) in out.iter().enumerate() {
            let r = rec(p);
            let v = format!("v{i}");
            let field = |k: &str| (keys[i % 6] == k).then_some(v.as_str());
            assert_eq!(r.message, field("msg").unwrap_or_default(), "line {i}");
            assert_eq!(r.order_id.as_deref(), field("order_id"), "line {i}");
            assert_eq!(r.payment_id.as_deref(), field("payment_id"), "line {i}");
            assert_eq!(r.trace_id.as_deref(), field("trace_id"), "line {i}");
            assert_eq!(r.error.as_deref(), field("error"), "line {i}");
            assert_eq!(r.time, Some((1736683501 + i as i64) * 1000));
        }
        assert_eq!(out.len(), 18);
    }

    #[test]
    fn regex_groups_are_named_as_fields_or_any_of_their_names() {
        let extra = [("order_id".to_string(), vec!["booking".to_string()])]
            .into_iter()
            .collect();
        let s = Settings {
            aliases: Aliases::with(&extra),
            ..settings()
        };
        // `ts`, `lvl`, `msg` and `latency_ms` are built-in names; `booking` is the user's.
        let pattern = r"^(?P<ts>\S+) (?P<lvl>\w+) \[(?P<booking>[^\]]+)\] (?P<msg>.*?) took=(?P<latency_ms>\d+)$";
        let mut p = parser(&Format::Regex(pattern.into()), s.clone()).unwrap();
        let mut out = Vec::new();
        p.line(
            1,
            b"2025-01-12T12:05:01Z ERROR [ORD-7] ho push failed took=3003",
            None,
            &mut out,
        );
        let r = rec(&out[0]);
        assert_eq!(r.time, Some(1_736_683_501_000));
        assert_eq!(r.level, Some(Level::Error));
        assert_eq!(r.order_id.as_deref(), Some("ORD-7"));
        assert_eq!(r.message, "ho push failed");
        assert_eq!(r.latency_ms, Some(3003.0));
        // A group that names no field is a configuration error, not a silent miss.
        let e = parser(
            &Format::Regex(r"^(?P<when>\S+) (?P<orderid>\S+)".into()),
            s.clone(),
        )
        .err()
        .unwrap();
        assert!(e.contains("group `when` names no field"), "{e}");
        // No time group: the reason says so, not "looked for ts, time, …".
        let mut p = parser(
            &Format::Regex(r"^(?P<level>\w+) (?P<message>.*)$".into()),
            s,
        )
        .unwrap();
        let mut out = Vec::new();
        p.line(3, b"ERROR it broke", None, &mut out);
        assert!(
            matches!(&out[0], Parsed::Bad(b) if b.reason.starts_with("the pattern has no time group; name one `time` (or ts, time")),
            "{:?}",
            out[0]
        );
    }

    #[test]
    fn long_keys_that_share_their_first_sixteen_bytes_are_told_apart() {
        // Keys are compared as one number of their first sixteen bytes, and
        // longer ones byte by byte after that.
        let extra = [(
            "payment_id".to_string(),
            vec!["payment_reference_number".to_string()],
        )]
        .into_iter()
        .collect();
        let mut p = parser(
            &Format::Json,
            Settings {
                aliases: Aliases::with(&extra),
                ..settings()
            },
        )
        .unwrap();
        let mut out = Vec::new();
        for (i, key) in ["payment_reference_number", "payment_reference_numbers"]
            .iter()
            .cycle()
            .take(6)
            .enumerate()
        {
            // The key in the middle of the line, then last.
            let line = format!(r#"{{"ts":1736683501,"{key}":"P{i}","msg":"m{i}"}}"#);
            p.line(1, line.as_bytes(), None, &mut out);
            let line = format!(r#"{{"ts":1736683501,"msg":"m{i}","{key}":"P{i}"}}"#);
            p.line(2, line.as_bytes(), None, &mut out);
        }
        let got: Vec<Option<&str>> = out.iter().map(|p| rec(p).payment_id.as_deref()).collect();
        let want: Vec<Option<&str>> = (0..6)
            .flat_map(|i| {
                let v = (i % 2 == 0).then_some(["P0", "P1", "P2", "P3", "P4", "P5"][i]);
                [v, v]
            })
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn zap_zerolog_slog_and_nested_json() {
        let out = one(
            &Format::Json,
            &[
                r#"{"level":"error","ts":1736683501.123456,"caller":"ho/pusher.go:91","msg":"ho push failed","order_id":"ORD-1","error":"pq: sorry, too many clients already","latency":"1.5s"}"#,
                r#"{"level":"info","order_id":"ORD-2","time":"2025-01-12T12:05:01.123Z","message":"order status changed","status":200}"#,
                r#"{"time":"2025-01-12T19:05:01.123+07:00","level":"WARN","msg":"slow","order":{"id":"ORD-3"},"duration_ms":250}"#,
                r#"{"level":"info","ts":1736683501.1,"msg":"postgres","record":{"error_severity":"FATAL"}}"#,
                r#"{"level":"info","msg":"no time"}"#,
                r#"{"level":"info","ts":17366835"#,
            ],
        );
        let r = rec(&out[0]);
        assert_eq!(r.time, Some(1_736_683_501_123));
        assert_eq!(r.level, Some(Level::Error));
        assert_eq!(r.order_id.as_deref(), Some("ORD-1"));
        assert_eq!(r.latency_ms, Some(1500.0));
        assert_eq!(
            r.error.as_deref(),
            Some("pq: sorry, too many clients already")
        );
        let r = rec(&out[1]);
        assert_eq!(r.message, "order status changed");
        assert_eq!(r.http_status, Some(200));
        let r = rec(&out[2]);
        assert_eq!(r.order_id.as_deref(), Some("ORD-3"));
        assert_eq!(r.latency_ms, Some(250.0));
        assert_eq!(r.level, Some(Level::Warn));
        assert!(matches!(&out[4], Parsed::Bad(b) if b.reason.starts_with("no readable timestamp")));
        assert!(matches!(&out[5], Parsed::Bad(b) if b.reason.starts_with("not valid JSON")));
        let mut s = settings();
        s.aliases = Aliases::with(
            &[(
                "level".to_string(),
                vec!["record.error_severity".to_string()],
            )]
            .into_iter()
            .collect(),
        );
        let mut p = parser(&Format::Json, s).unwrap();
        let mut o = Vec::new();
        p.line(
            1,
            br#"{"ts":1736683501.1,"msg":"x","record":{"error_severity":"FATAL"}}"#,
            None,
            &mut o,
        );
        assert_eq!(rec(&o[0]).level, Some(Level::Fatal));
    }

    #[test]
    fn logrus_and_slog_text() {
        let out = one(
            &Format::Logfmt,
            &[
                r#"time="2025-01-12 19:05:01.123" level=error msg="charge request failed" order_id=ORD-1 error="Post \"http://upg/v2\": context deadline exceeded" latency=5s"#,
                r#"time=2025-01-12T19:05:01.123+07:00 level=WARN msg="slow upstream response" latency=2.5s"#,
                r#"time="2025-01-12 19:05:01.123" level=info msg="order rec"#,
                "\0\0\0\0\0\0time=\"2025",
            ],
        );
        let r = rec(&out[0]);
        assert_eq!(r.time, Some(1_736_683_501_123), "MRG's local time is WIB");
        assert_eq!(
            r.error.as_deref(),
            Some("Post \"http://upg/v2\": context deadline exceeded")
        );
        assert_eq!(r.latency_ms, Some(5000.0));
        assert_eq!(rec(&out[1]).level, Some(Level::Warn));
        assert!(matches!(&out[2], Parsed::Bad(b) if b.reason.contains("unterminated")));
        assert!(matches!(&out[3], Parsed::Bad(b) if b.reason.contains("NUL")));
    }

    #[test]
    fn postgres_stderr_with_prefix_and_continuations() {
        let f = Format::PostgresStderr("%m [%p] %q%u@%d ".into());
        let out = one(
            &f,
            &[
                "2025-01-12 19:05:01.123 WIB [812] LOG:  checkpoint starting: time",
                "2025-01-12 19:05:02.000 WIB [4411] orchestrator@orders ERROR:  deadlock detected",
                "2025-01-12 19:05:02.000 WIB [4411] orchestrator@orders DETAIL:  Process 4411 waits for ShareLock on transaction 5; blocked by process 4412.",
                "\tProcess 4412 waits for ShareLock on transaction 6; blocked by process 4411.",
                "2025-01-12 19:05:02.000 WIB [4411] orchestrator@orders STATEMENT:  UPDATE orders SET status = 'COMPLETE'",
                "2025-01-12 19:05:03.500 WIB [4413] app@orders LOG:  duration: 5012.332 ms  statement: UPDATE orders",
                "garbage",
            ],
        );
        assert_eq!(out.len(), 4);
        let r = rec(&out[0]);
        assert_eq!(r.time, Some(1_736_683_501_123));
        assert_eq!(r.message, "checkpoint starting: time");
        let r = rec(&out[1]);
        assert_eq!(r.level, Some(Level::Error));
        assert!(
            r.detail
                .as_deref()
                .unwrap()
                .contains("blocked by process 4411")
                && r.detail.as_deref().unwrap().contains("STATEMENT: UPDATE")
        );
        assert!(matches!(&out[2], Parsed::Bad(b) if b.line == 7));
        assert_eq!(rec(&out[3]).latency_ms, Some(5012.332));
        // Statements the server logs keep no password literal.
        let out = one(
            &f,
            &[
                "2025-01-12 19:06:00.000 WIB [4414] admin@orders LOG:  statement: ALTER ROLE app PASSWORD 'S3cret'",
                "2025-01-12 19:06:01.000 WIB [4414] admin@orders ERROR:  role \"x\" does not exist",
                "2025-01-12 19:06:01.000 WIB [4414] admin@orders STATEMENT:  CREATE USER MAPPING FOR x SERVER ho OPTIONS (password 'Hid3')",
            ],
        );
        let shown = format!("{out:?}");
        assert!(
            !shown.contains("S3cret") && !shown.contains("Hid3"),
            "{shown}"
        );
        assert_eq!(
            rec(&out[0]).message,
            "statement: ALTER ROLE app PASSWORD '***'"
        );
        assert!(rec(&out[1])
            .detail
            .as_deref()
            .unwrap()
            .contains("password '***'"));
        let re =
            crate::prefix::prefix_regex("%t [%p]: user=%u,db=%d,app=%a,client=%h %e ").unwrap();
        assert!(re.is_match("2025-01-12 19:05:01 UTC [12]: user=app,db=orders,app=psql,client=10.0.0.1 53300 FATAL:  sorry, too many clients already"));
    }

    #[test]
    fn csvlog_records_span_lines() {
        let out = one(
            &Format::PostgresCsv,
            &[
                r#"2025-01-12 19:05:02.000 WIB,"app","orders",4411,"127.0.0.1:5000",6780a1.1,3,"UPDATE",2025-01-12 19:00:00 WIB,3/17,7711,ERROR,40P01,"deadlock detected","Process 4411 waits for ShareLock on transaction 5;"#,
                r#"Process 4412 waits.",,,,,"UPDATE orders",,,"psql","client backend",,0"#,
            ],
        );
        let r = rec(&out[0]);
        assert_eq!(r.sqlstate.as_deref(), Some("40P01"));
        assert_eq!(r.level, Some(Level::Error));
        assert!(r.detail.as_deref().unwrap().contains("4412 waits"));
    }

    #[test]
    fn cri_partials_are_joined() {
        let mut j = CriJoiner::default();
        let tz = chrono_tz::UTC;
        assert_eq!(
            j.feed(
                1,
                b"2025-01-12T12:05:01.123456789Z stdout P {\"level\":\"info\",",
                tz
            )
            .unwrap(),
            None
        );
        let (no, line, t) = j
            .feed(2, b"2025-01-12T12:05:01.200Z stdout F \"msg\":\"x\"}", tz)
            .unwrap()
            .unwrap();
        assert_eq!(no, 1);
        assert_eq!(line, b"{\"level\":\"info\",\"msg\":\"x\"}");
        assert_eq!(t, Some(1_736_683_501_200));
        assert!(j.feed(3, b"plain", tz).is_err());
    }

    #[test]
    fn detection() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            detect(&l(&["{\"a\":1}", "{\"b\":2}", "garbage"])),
            Format::Json
        );
        assert_eq!(
            detect(&l(&["time=\"x\" level=info msg=\"y\""])),
            Format::Logfmt
        );
        assert_eq!(
            detect(&l(&["2025-01-12 19:05:01.123 WIB [812] LOG:  x"])).name(),
            "postgres-stderr"
        );
        assert_eq!(
            detect(&l(&["2025-01-12 19:05:01.123 WIB,\"a\",\"b\",1"])),
            Format::PostgresCsv
        );
        assert_eq!(
            detect(&l(&["{\"timestamp\":\"x\",\"error_severity\":\"LOG\"}"])),
            Format::PostgresJson
        );
        assert_eq!(detect(&l(&["hello world"])), Format::Unknown);
    }
}

#[cfg(test)]
mod wider_tests {
    use super::*;

    fn run(format: &Format, s: Settings, lines: &[&str]) -> Vec<Parsed> {
        let mut p = parser(format, s).unwrap();
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            p.line(i as u64 + 1, l.as_bytes(), None, &mut out);
        }
        p.finish(&mut out);
        out
    }

    fn settings(extra: &[(&str, &[&str])]) -> Settings {
        let extra = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect();
        Settings {
            aliases: Aliases::with(&extra),
            tz: chrono_tz::UTC,
            clock_offset_ms: 0,
        }
    }

    #[test]
    fn fields_can_map_the_sqlstate_of_a_driver_error() {
        let s = settings(&[("sqlstate", &["pgerr.code"])]);
        let out = run(
            &Format::Json,
            s,
            &[
                r#"{"time":"2025-01-12T19:02:00Z","level":"error","msg":"query failed","pgerr":{"code":"40P01","message":"deadlock detected"}}"#,
                r#"{"time":"2025-01-12T19:02:01Z","level":"error","msg":"insert failed","sqlstate":"23505"}"#,
            ],
        );
        let states: Vec<Option<&str>> = out
            .iter()
            .map(|p| match p {
                Parsed::Rec(r, _) => r.sqlstate.as_deref(),
                Parsed::Bad(b) => panic!("{b:?}"),
            })
            .collect();
        assert_eq!(states, [Some("40P01"), Some("23505")]);
    }

    #[test]
    fn detection_tells_the_wrapped_and_postgres_formats_apart() {
        let l = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            detect(&l(&[
                r#"{"level":"info","ts":1669575482.09,"msg":"record","record":{"log_time":"2022-11-27 18:58:02.096 UTC","error_severity":"LOG","message":"x"}}"#
            ])),
            Format::Cnpg
        );
        assert_eq!(
            detect(&l(&[
                r#"{"severity":"INFO","textPayload":"[24667]: [1-1] db=x,user=y LOG:  connection received","timestamp":"2020-05-02T13:00:20.38Z"}"#
            ])),
            Format::CloudLogging(Box::new(Format::PostgresStderr(
                "[%p]: [%l-1] db=%d,user=%u ".into()
            )))
        );
        assert_eq!(
            detect(&l(&[
                r#"{"severity":"ERROR","jsonPayload":{"message":"charge failed"},"timestamp":"2020-05-02T13:00:20.38Z"}"#
            ])),
            Format::CloudLogging(Box::new(Format::Unknown))
        );
        assert_eq!(
            detect(&l(&[
                r#""2026-05-16 05:11:50.269 UTC","u","db",1001,"192.0.2.10:54321",1.3e9,1,"SELECT","2026-05-16 05:00:00 UTC",1/1,0,LOG,00000,"statement: SELECT 1",,,,,,,,,"app","client backend",0"#
            ])),
            Format::PostgresCsv
        );
    }

    #[test]
    fn cloud_logging_json_payloads_and_severities() {
        let out = run(
            &Format::CloudLogging(Box::new(Format::Unknown)),
            settings(&[]),
            &[
                r#"{"severity":"ALERT","jsonPayload":{"message":"hystrix: circuit open","orderNo":"ORD-9"},"timestamp":"2025-01-12T19:02:00Z"}"#,
                r#"{"severity":"NOTICE","textPayload":"pool warmed","timestamp":"2025-01-12T19:02:01Z"}"#,
                r#"{"severity":"DEFAULT","timestamp":"2025-01-12T19:02:02Z"}"#,
            ],
        );
        match &out[0] {
            Parsed::Rec(r, _) => {
                assert_eq!(r.level, Some(Level::Fatal));
                assert_eq!(r.message, "hystrix: circuit open");
                assert_eq!(r.time, Some(1736708520000));
            }
            b => panic!("{b:?}"),
        }
        match &out[1] {
            Parsed::Rec(r, _) => assert_eq!(
                (r.level, r.message.as_str()),
                (Some(Level::Info), "pool warmed")
            ),
            b => panic!("{b:?}"),
        }
        assert!(matches!(&out[2], Parsed::Bad(b) if b.reason.contains("without textPayload")));
    }
}
