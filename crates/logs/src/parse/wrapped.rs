//! Logs that wrap another log: CloudNativePG's operator lines around
//! PostgreSQL's records, Google Cloud Logging entries around whatever a
//! service printed, and zap's console lines around a JSON object of fields. The wrapper's own level and message (`info`,
//! `"record"`; `severity: ALERT`) say little; the record inside is what is
//! read, and the wrapper fills in only what the record lacks.
//!
//! These formats come from managed databases and exports, far smaller than a
//! service's own logs, so each line is parsed into a `serde_json::Value`.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::{self as parse, pg_duration, Bad, Format, LineParser, Parsed, Settings};
use crate::record::{LatencyKey, Level, Record};
use crate::ts::{self, Millis};

/// The text of a string member.
fn text<'a>(o: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    o.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A JSON object, or the reason the line is not one.
fn object(text: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(text) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err("a JSON value that is not an object".into()),
        Err(e) => Err(format!("not valid JSON: {e}")),
    }
}

/// Moves the records `inner` added to `out` since `from` through `f`.
fn adjust(out: &mut [Parsed], from: usize, mut f: impl FnMut(&mut Record)) {
    for p in &mut out[from..] {
        if let Parsed::Rec(r, _) = p {
            f(r);
        }
    }
}

// ---------------------------------------------------------------- CloudNativePG

/// CloudNativePG's instance logs: `{"level":"info","ts":…,"logger":"postgres",
/// "msg":"record","record":{"log_time":…,"error_severity":"LOG",…}}`, and the
/// operator's own zap lines between them.
pub struct Cnpg {
    s: Settings,
    /// The operator's own lines: zap JSON.
    operator: Box<dyn LineParser>,
}

impl Cnpg {
    /// A parser with these settings.
    pub fn new(s: Settings) -> Cnpg {
        let operator = parse::parser(&Format::Json, s.clone()).expect("JSON needs no settings");
        Cnpg { s, operator }
    }
}

impl LineParser for Cnpg {
    fn line(&mut self, no: u64, line: &[u8], fallback: Option<Millis>, out: &mut Vec<Parsed>) {
        let o = match object(line) {
            Ok(o) => o,
            Err(why) => return out.push(Parsed::Bad(Bad::new(no, why, line))),
        };
        let Some(Value::Object(rec)) = o.get("record") else {
            return self.operator.line(no, line, fallback, out);
        };
        let outer_time = o
            .get("ts")
            .and_then(|t| match t {
                Value::Number(n) => ts::parse_epoch(&n.to_string()),
                Value::String(s) => ts::parse(s, self.s.tz),
                _ => None,
            })
            .or(fallback);
        let level = text(rec, "error_severity").and_then(Level::parse);
        let message = text(rec, "message").unwrap_or_default().to_string();
        let mut detail = String::new();
        for k in ["detail", "hint", "context", "query", "internal_query"] {
            if let Some(v) = text(rec, k) {
                detail.push_str(v);
                detail.push(' ');
            }
        }
        let r = Record {
            time: text(rec, "log_time")
                .and_then(|t| ts::parse(t, self.s.tz))
                .or(outer_time),
            level: level.or_else(|| text(&o, "level").and_then(Level::parse)),
            error: level.filter(|l| l.is_error()).map(|_| message.clone()),
            latency_ms: pg_duration(&message),
            message,
            sqlstate: text(rec, "sql_state_code").map(str::to_string),
            detail: (!detail.is_empty()).then_some(detail),
            ..Default::default()
        };
        parse::finish_pg(r, &self.s, no, line, out);
    }

    fn latency_keys(&self) -> Vec<LatencyKey> {
        self.operator.latency_keys()
    }
}

// ---------------------------------------------------------------- Cloud Logging

/// Google Cloud Logging's `LogEntry`, one JSON object a line (what `gcloud
/// logging read --format=json` and a sink to Cloud Storage write). The text
/// of `textPayload` is read in the payload format found on the first
/// entries (PostgreSQL stderr for Cloud SQL, whose continuation lines come
/// as entries of their own and are joined to their record); `jsonPayload`
/// is read as a JSON log line. `timestamp` and `severity` fill in what the
/// payload lacks.
pub struct CloudLogging {
    s: Settings,
    /// Reads text payloads; `None` keeps them as plain messages.
    text: Option<Box<dyn LineParser>>,
    /// Reads JSON payloads.
    json: Box<dyn LineParser>,
}

impl CloudLogging {
    /// A parser whose text payloads are in `inner` (`Unknown`: plain text).
    pub fn new(inner: &Format, s: Settings) -> Result<CloudLogging, String> {
        let text = match inner {
            Format::Unknown => None,
            f => Some(parse::parser(f, s.clone())?),
        };
        let json = parse::parser(&Format::Json, s.clone())?;
        Ok(CloudLogging { s, text, json })
    }
}

impl LineParser for CloudLogging {
    fn line(&mut self, no: u64, line: &[u8], fallback: Option<Millis>, out: &mut Vec<Parsed>) {
        let o = match object(line) {
            Ok(o) => o,
            Err(why) => return out.push(Parsed::Bad(Bad::new(no, why, line))),
        };
        let time = text(&o, "timestamp")
            .or_else(|| text(&o, "receiveTimestamp"))
            .and_then(|t| ts::parse(t, self.s.tz))
            .or(fallback);
        // `DEFAULT` and `NOTICE` read as info; `CRITICAL`, `ALERT` and `EMERGENCY` as fatal.
        let level = text(&o, "severity").and_then(Level::parse);
        let from = out.len();
        if let Some(t) = o.get("textPayload").and_then(Value::as_str) {
            match self.text.as_mut() {
                Some(p) => p.line(no, t.as_bytes(), time, out),
                None => {
                    let r = Record {
                        time,
                        level,
                        message: t.trim_end().to_string(),
                        ..Default::default()
                    };
                    parse::finish_record(Box::new(r), &self.s, None, no, line, out);
                }
            }
        } else if let Some(p @ Value::Object(_)) = o.get("jsonPayload") {
            self.json.line(no, p.to_string().as_bytes(), time, out);
        } else if let Some(Value::Object(p)) = o.get("protoPayload") {
            // Audit and request logs: the method and its status.
            let message = [
                text(p, "methodName"),
                p.get("status")
                    .and_then(|s| s.get("message"))
                    .and_then(Value::as_str),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": ");
            let r = Record {
                time,
                level,
                message,
                ..Default::default()
            };
            parse::finish_record(Box::new(r), &self.s, None, no, line, out);
        } else {
            return out.push(Parsed::Bad(Bad::new(
                no,
                "a Cloud Logging entry without textPayload, jsonPayload or protoPayload",
                line,
            )));
        }
        // The entry's severity stands in for a payload without a level.
        adjust(out, from, |r| {
            if r.level.is_none() {
                r.level = level;
            }
        });
    }

    fn finish(&mut self, out: &mut Vec<Parsed>) {
        if let Some(p) = self.text.as_mut() {
            p.finish(out);
        }
        self.json.finish(out);
    }

    fn latency_keys(&self) -> Vec<LatencyKey> {
        let mut keys = self.json.latency_keys();
        if let Some(p) = &self.text {
            keys.extend(p.latency_keys());
        }
        keys
    }
}

// ---------------------------------------------------------------- zap console

/// The head of a zap console line: an ISO 8601 time and a capital level, tab-separated.
pub(crate) static ZAP_CONSOLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)\t(?:DEBUG|INFO|WARN|ERROR|DPANIC|PANIC|FATAL)\t",
    )
    .unwrap()
});

/// zap's development encoder (`zap.NewDevelopment`):
/// `2025-01-12T19:10:31.882+0700\tERROR\tpayment/charge.go:97\tcharge failed\t{"orderNo": "…"}`,
/// with an optional logger name before the caller, and at warning level
/// and above a stack trace on the lines that follow. Each line is read as
/// the JSON line `{"ts","level","logger","caller","msg",…fields}`; the
/// stack trace lines are kept as the record's detail.
pub struct ZapConsole {
    json: Box<dyn LineParser>,
    /// The last record, held until the lines after it are known not to be its stack.
    held: Vec<Parsed>,
}

impl ZapConsole {
    /// A parser with these settings.
    pub fn new(s: Settings) -> ZapConsole {
        let json = parse::parser(&Format::Json, s).expect("JSON needs no settings");
        ZapConsole {
            json,
            held: Vec::new(),
        }
    }
}

/// Whether a tab-separated part is a caller (`dir/file.go:88`).
fn is_caller(part: &str) -> bool {
    part.rsplit_once(':').is_some_and(|(file, line)| {
        file.ends_with(".go") && !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit())
    })
}

impl LineParser for ZapConsole {
    fn line(&mut self, no: u64, line: &[u8], fallback: Option<Millis>, out: &mut Vec<Parsed>) {
        let text = String::from_utf8_lossy(line);
        if !ZAP_CONSOLE.is_match(&text) {
            // A stack trace line of the record before.
            if let Some(Parsed::Rec(r, _)) = self.held.last_mut() {
                let d = r.detail.get_or_insert_with(String::new);
                if !d.is_empty() {
                    d.push('\n');
                }
                d.push_str(text.trim_end());
                crate::record::cap_text(d);
                return;
            }
            return out.push(Parsed::Bad(Bad::new(
                no,
                "not a zap console line: expected `<ISO 8601 time>\t<LEVEL>\t…`",
                line,
            )));
        }
        out.append(&mut self.held);
        let mut parts: Vec<&str> = text.split('\t').collect();
        let mut fields = "";
        if parts.len() > 3 {
            let last = parts[parts.len() - 1].trim_end();
            if last.starts_with('{') && last.ends_with('}') {
                fields = last;
                parts.pop();
            }
        }
        let mut o = Map::new();
        o.insert("ts".into(), Value::String(parts[0].to_string()));
        o.insert("level".into(), Value::String(parts[1].to_string()));
        let mut rest = &parts[2..];
        if let Some(i) = rest
            .iter()
            .position(|p| is_caller(p))
            .filter(|&i| i + 1 < rest.len())
        {
            if i > 0 {
                o.insert("logger".into(), Value::String(rest[..i].join("\t")));
            }
            o.insert("caller".into(), Value::String(rest[i].to_string()));
            rest = &rest[i + 1..];
        }
        o.insert("msg".into(), Value::String(rest.join("\t")));
        if !fields.is_empty() {
            match serde_json::from_str::<Value>(fields) {
                Ok(Value::Object(f)) => {
                    for (k, v) in f {
                        o.entry(k).or_insert(v);
                    }
                }
                _ => {
                    return out.push(Parsed::Bad(Bad::new(
                        no,
                        "a zap console line whose fields are not a JSON object",
                        line,
                    )))
                }
            }
        }
        self.json.line(
            no,
            Value::Object(o).to_string().as_bytes(),
            fallback,
            &mut self.held,
        );
    }

    fn finish(&mut self, out: &mut Vec<Parsed>) {
        out.append(&mut self.held);
        self.json.finish(out);
    }

    fn recycle(&mut self, r: Box<Record>) {
        self.json.recycle(r);
    }

    fn latency_keys(&self) -> Vec<LatencyKey> {
        self.json.latency_keys()
    }
}
