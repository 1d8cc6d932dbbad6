//! The normalised record every format is turned into, and the field names
//! each normalised field is looked up under.

use std::collections::BTreeMap;

use crate::ts::Millis;

/// Severity, normalised across zap, zerolog, logrus, slog and PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// trace (zerolog, logrus, hl's `trace`, slog's -8)
    Trace,
    /// debug, DEBUG1-5
    Debug,
    /// info, LOG, NOTICE, STATEMENT…
    Info,
    /// warn, warning
    Warn,
    /// error, ERROR
    Error,
    /// fatal, panic, dpanic, FATAL, PANIC
    Fatal,
}

impl Level {
    /// Reads a level word in any of the usual spellings.
    pub fn parse(s: &str) -> Option<Level> {
        // The words loggers write most, as they write them, first.
        match s.as_bytes() {
            b"info" => return Some(Level::Info),
            b"error" => return Some(Level::Error),
            b"warn" => return Some(Level::Warn),
            b"debug" => return Some(Level::Debug),
            _ => {}
        }
        // Lower-cased on the stack: a level word is short, and this runs for every record.
        let t = s.trim().as_bytes();
        if t.len() > 11 {
            return None;
        }
        let mut buf = [0u8; 11];
        for (d, c) in buf.iter_mut().zip(t) {
            *d = c.to_ascii_lowercase();
        }
        let l = std::str::from_utf8(&buf[..t.len()]).ok()?;
        Some(match l {
            "trace" | "trc" | "-8" => Level::Trace,
            "debug" | "debug1" | "debug2" | "debug3" | "debug4" | "debug5" | "dbg" | "-4" => {
                Level::Debug
            }
            "info" | "information" | "log" | "notice" | "statement" | "detail" | "hint"
            | "context" | "inf" | "0" | "default" => Level::Info,
            "warn" | "warning" | "wrn" | "4" => Level::Warn,
            "error" | "err" | "eror" | "8" => Level::Error,
            "fatal" | "panic" | "dpanic" | "critical" | "crit" | "ftl" | "alert" | "emergency"
            | "emerg" => Level::Fatal,
            _ => return None,
        })
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }

    /// error or fatal.
    pub fn is_error(self) -> bool {
        self >= Level::Error
    }
}

/// One log record, normalised.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    /// When, UTC.
    pub time: Option<Millis>,
    /// Severity.
    pub level: Option<Level>,
    /// The message.
    pub message: String,
    /// Order id.
    pub order_id: Option<String>,
    /// Payment id.
    pub payment_id: Option<String>,
    /// Trace id.
    pub trace_id: Option<String>,
    /// Latency in milliseconds.
    pub latency_ms: Option<f64>,
    /// HTTP status.
    pub http_status: Option<u16>,
    /// Error text.
    pub error: Option<String>,
    /// SQLSTATE, from PostgreSQL logs.
    pub sqlstate: Option<String>,
    /// Extra text used for classification (PostgreSQL DETAIL, STATEMENT).
    pub detail: Option<String>,
}

/// A normalised event: a record with where it came from and its class.
#[derive(Debug, Clone)]
pub struct Event {
    /// Index of the service.
    pub service: u16,
    /// Index of the file in the summary.
    pub file: u32,
    /// 1-based line.
    pub line: u64,
    /// The record.
    pub rec: Box<Record>,
    /// Class index.
    pub class: Option<u16>,
}

/// The longest message, error or detail text kept, in bytes. A longer one
/// (a 50 MB stack dump or payload on one line) is cut here and ends with
/// [`cap_text`]'s marker; templates are mined from what is kept.
pub const MAX_TEXT: usize = 64 * 1024;

/// Cuts `s` to [`MAX_TEXT`] bytes at a character boundary, ending it with
/// `… [cut: N bytes in all]`, and gives back the memory it held.
pub fn cap_text(s: &mut String) {
    // Room for the marker: a text cut by its parser already ends with one.
    if s.len() <= MAX_TEXT + 64 {
        return;
    }
    let total = s.len();
    let mut at = MAX_TEXT;
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    s.truncate(at);
    s.push_str(&format!("… [cut: {total} bytes in all]"));
    s.shrink_to_fit();
}

/// The normalised fields records are built from (their order indexes parser tables).
pub use sidik_core::config::LOG_FIELDS as FIELDS;

/// Names each normalised field is looked up under, in order; dotted names
/// address nested objects (`order.id`) and are also tried as flat keys.
#[derive(Debug, Clone)]
pub struct Aliases {
    map: BTreeMap<&'static str, Vec<String>>,
    /// Units of latency keys (`units` in incident.toml): by key as written,
    /// or under `latency` for every latency key.
    pub units: BTreeMap<String, Unit>,
}

impl Default for Aliases {
    fn default() -> Self {
        let mut map = BTreeMap::new();
        let mut put = |k: &'static str, v: &[&str]| {
            map.insert(k, v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        };
        // zap: ts/level/msg/caller; zerolog: time/level/message; logrus JSON: time/level/msg;
        // slog: time/level/msg; PostgreSQL jsonlog: timestamp/error_severity/message.
        put(
            "time",
            &["ts", "time", "timestamp", "@timestamp", "t", "datetime"],
        );
        put(
            "level",
            &[
                "level",
                "lvl",
                "severity",
                "error_severity",
                "log.level",
                "levelname",
            ],
        );
        put("message", &["msg", "message", "@message", "text"]);
        put(
            "order_id",
            &["order_id", "orderId", "orderID", "order.id", "order"],
        );
        put(
            "payment_id",
            &["payment_id", "paymentId", "paymentID", "payment.id"],
        );
        put(
            "trace_id",
            &["trace_id", "traceId", "traceID", "trace.id", "trace"],
        );
        put(
            "latency",
            &[
                "latency",
                "latency_ms",
                "duration",
                "duration_ms",
                "elapsed",
                "took",
                "elapsed_ms",
                "latency_seconds",
                "duration_seconds",
                "elapsed_seconds",
            ],
        );
        put(
            "http_status",
            &[
                "http_status",
                "status_code",
                "http.status_code",
                "status",
                "http.status",
            ],
        );
        put("error", &["error", "err", "error.message", "exception"]);
        put("service", &["service", "svc", "app", "logger"]);
        // PostgreSQL's error code as drivers and wrappers log it (pgx's `Code`, CloudNativePG's `sql_state_code`).
        put(
            "sqlstate",
            &[
                "sqlstate",
                "sql_state",
                "sql_state_code",
                "pgcode",
                "pg_code",
            ],
        );
        Aliases {
            map,
            units: BTreeMap::new(),
        }
    }
}

impl Aliases {
    /// Defaults, with `extra` names tried first.
    pub fn with(extra: &BTreeMap<String, Vec<String>>) -> Self {
        let mut a = Aliases::default();
        for (k, v) in extra {
            if let Some(list) = FIELDS
                .iter()
                .find(|f| **f == k.as_str())
                .and_then(|f| a.map.get_mut(f))
            {
                let mut new = v.clone();
                new.append(list);
                *list = new;
            }
        }
        a
    }

    /// The names of a normalised field.
    pub fn names(&self, field: &str) -> &[String] {
        self.map.get(field).map(|v| v.as_slice()).unwrap_or(&[])
    }
}

/// The unit a latency key's numbers are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Seconds (zap production's float seconds, `duration_seconds`).
    S,
    /// Milliseconds.
    Ms,
    /// Microseconds.
    Us,
    /// Nanoseconds (Go's `time.Duration` marshalled as a number).
    Ns,
}

impl Unit {
    /// Reads a unit as incident.toml writes it: `s`, `seconds`, `ms`, `us`,
    /// `µs`, `ns`, and `duration` (Go duration strings, numbers as ns).
    pub fn parse(s: &str) -> Option<Unit> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "s" | "sec" | "secs" | "second" | "seconds" => Unit::S,
            "ms" | "millis" | "milliseconds" => Unit::Ms,
            "us" | "µs" | "μs" | "micros" | "microseconds" => Unit::Us,
            "ns" | "nanos" | "nanoseconds" | "duration" => Unit::Ns,
            _ => return None,
        })
    }

    /// Milliseconds in one of this unit.
    pub fn ms(self) -> f64 {
        match self {
            Unit::S => 1000.0,
            Unit::Ms => 1.0,
            Unit::Us => 1e-3,
            Unit::Ns => 1e-6,
        }
    }

    /// The short name.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::S => "s",
            Unit::Ms => "ms",
            Unit::Us => "µs",
            Unit::Ns => "ns",
        }
    }
}

/// Why a latency key is read in its unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnitFrom {
    /// `units` in incident.toml.
    Configured,
    /// The key's suffix (`_seconds`, `_ms`, `_us`, `_ns`).
    KeyName,
    /// Nothing said otherwise: milliseconds.
    Default,
}

/// The unit of latency key `key`: configured for the key or for `latency`,
/// else its suffix, else milliseconds.
pub fn unit_of(key: &str, units: &BTreeMap<String, Unit>) -> (Unit, UnitFrom) {
    if let Some(u) = units.get(key).or_else(|| units.get("latency")) {
        return (*u, UnitFrom::Configured);
    }
    let ends = |suffix: &str| {
        key.len() >= suffix.len()
            && key.as_bytes()[key.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
    };
    if ends("_s") || ends("seconds") || ends("_sec") || ends("_secs") {
        (Unit::S, UnitFrom::KeyName)
    } else if ends("_us") || ends("micros") || ends("_usec") {
        (Unit::Us, UnitFrom::KeyName)
    } else if ends("_ns") || ends("nanos") {
        (Unit::Ns, UnitFrom::KeyName)
    } else if ends("_ms") || ends("millis") {
        (Unit::Ms, UnitFrom::KeyName)
    } else {
        (Unit::Ms, UnitFrom::Default)
    }
}

/// A latency value in `unit` to milliseconds: a number, or a Go duration
/// string (`1.5s`, `250ms`, `1.416µs`) whatever the unit.
pub fn to_ms(unit: Unit, num: Option<f64>, text: Option<&str>) -> Option<f64> {
    if let Some(n) = num {
        return Some(n * unit.ms());
    }
    let t = text?.trim();
    if let Ok(n) = t.parse::<f64>() {
        return Some(n * unit.ms());
    }
    sidik_core::time::parse_go_duration(t)
        .ok()
        .map(|d| match d.num_nanoseconds() {
            Some(ns) => ns as f64 / 1e6,
            None => d.num_milliseconds() as f64,
        })
}

/// How one latency key of a file was read: its unit, why, and what its
/// values look like, so a wrong unit shows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LatencyKey {
    /// The key as written in the log.
    pub key: String,
    /// The unit its numbers were read in.
    pub unit: Unit,
    /// Why that unit.
    pub from: UnitFrom,
    /// Values read.
    pub values: u64,
    /// Of them, Go duration strings.
    pub strings: u64,
    /// Median, in ms, as read.
    pub median_ms: f64,
    /// Why the unit looks wrong, when it does.
    pub suspect: Option<String>,
}

/// Values of one latency key, counted as they are read.
#[derive(Debug, Clone)]
pub struct KeyStats {
    /// The key.
    pub key: String,
    /// Its unit.
    pub unit: Unit,
    /// Why.
    pub from: UnitFrom,
    values: u64,
    strings: u64,
    /// Values (in the key's unit, not ms) by power of two, 2^-40 .. 2^40.
    powers: [u64; 81],
}

impl KeyStats {
    /// No values yet.
    pub fn new(key: &str, unit: Unit, from: UnitFrom) -> KeyStats {
        KeyStats {
            key: key.to_string(),
            unit,
            from,
            values: 0,
            strings: 0,
            powers: [0; 81],
        }
    }

    /// Counts one value: `ms` as read; `string` when it was a duration string.
    pub fn add(&mut self, ms: f64, string: bool) {
        self.values += 1;
        self.strings += u64::from(string);
        let raw = ms / self.unit.ms();
        let p = if raw > 0.0 {
            raw.log2().floor() as i64
        } else {
            -40
        };
        self.powers[(p.clamp(-40, 40) + 40) as usize] += 1;
    }

    /// What was read, with a suspicion where the numbers do not look like
    /// their unit: read as ms but mostly under 5 (seconds?), or above 10^6
    /// (µs or ns?); read as seconds but mostly above 1,000 (ms?).
    pub fn report(&self) -> LatencyKey {
        let numbers: u64 = self.powers.iter().sum();
        let mut median_raw = 0.0;
        let mut seen = 0;
        for (i, n) in self.powers.iter().enumerate() {
            seen += n;
            if numbers > 0 && seen * 2 >= numbers {
                median_raw = 2f64.powi(i as i32 - 40);
                break;
            }
        }
        let configured = self.from == UnitFrom::Configured;
        // Duration strings carry their own unit: nothing to suspect.
        let suspect = if numbers < 20 || configured || self.strings * 2 >= self.values {
            None
        } else {
            match self.unit {
                Unit::Ms if median_raw < 4.0 => Some(format!(
                    "half its values are under {} ms: they look like seconds",
                    median_raw * 2.0
                )),
                Unit::Ms if median_raw >= 1_048_576.0 => Some(format!(
                    "half its values are over {median_raw} ms (17 minutes): they look like µs or ns"
                )),
                Unit::S if median_raw >= 1024.0 => Some(format!(
                    "half its values are over {median_raw} s: they look like ms"
                )),
                _ => None,
            }
        };
        LatencyKey {
            key: self.key.clone(),
            unit: self.unit,
            from: self.from,
            values: self.values,
            strings: self.strings,
            median_ms: median_raw * self.unit.ms(),
            suspect,
        }
    }
}

/// A latency value to milliseconds: a number (ms, or seconds when the key says
/// so) or a Go duration string (`1.5s`, `250ms`).
pub fn latency_ms(key: &str, num: Option<f64>, text: Option<&str>) -> Option<f64> {
    to_ms(unit_of(key, &BTreeMap::new()).0, num, text)
}
