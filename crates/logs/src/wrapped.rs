//! Logs that wrap another log: CloudNativePG's operator lines around
//! PostgreSQL's records, and Google Cloud Logging entries around whatever a
//! service printed. The wrapper's own level and message (`info`,
//! `"record"`; `severity: ALERT`) say little; the record inside is what is
//! read, and the wrapper fills in only what the record lacks.
//!
//! These formats come from managed databases and exports, far smaller than a
//! service's own logs, so each line is parsed into a `serde_json::Value`.

use serde_json::{Map, Value};

use crate::parse::{self, pg_duration, Bad, Format, LineParser, Parsed, Settings};
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
