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
        Aliases { map }
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

/// A latency value to milliseconds: a number (ms, or seconds when the key says
/// so) or a Go duration string (`1.5s`, `250ms`).
pub fn latency_ms(key: &str, num: Option<f64>, text: Option<&str>) -> Option<f64> {
    if let Some(n) = num {
        let ends = |suffix: &str| {
            key.len() >= suffix.len()
                && key.as_bytes()[key.len() - suffix.len()..]
                    .eq_ignore_ascii_case(suffix.as_bytes())
        };
        return Some(if ends("_s") || ends("seconds") || ends("_sec") {
            n * 1000.0
        } else if ends("_us") || ends("micros") {
            n / 1000.0
        } else if ends("_ns") || ends("nanos") {
            n / 1e6
        } else {
            n
        });
    }
    let t = text?.trim();
    if let Ok(n) = t.parse::<f64>() {
        return latency_ms(key, Some(n), None);
    }
    sidik_core::time::parse_go_duration(t)
        .ok()
        .map(|d| match d.num_nanoseconds() {
            Some(ns) => ns as f64 / 1e6,
            None => d.num_milliseconds() as f64,
        })
}
