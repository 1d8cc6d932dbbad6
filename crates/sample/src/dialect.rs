//! How a Go service's logger writes one record: the catalogue of real
//! loggers a varied incident draws from, and the three classic formats the
//! default sample has always used.
//!
//! A service describes each line as a [`Rec`] (level, message, caller and
//! fields under sidik-neutral snake_case names); a [`Dialect`] writes it as
//! one logger would, with that logger's time key and encoding, level words,
//! message key, key order, latency encoding, key case and id key, inside an
//! optional container or Cloud Logging wrapper.
//!
//! The shapes follow each library's documented defaults:
//! - zap `NewProduction`: `{"level","ts" (epoch float seconds),"caller","msg",…}`,
//!   durations as float seconds (`SecondsDurationEncoder`).
//! - log/slog `JSONHandler`: `{"time" (RFC 3339 with the local offset),"level"
//!   (`INFO`, `WARN`, `ERROR`),"msg",…}`, durations as integer nanoseconds;
//!   `TextHandler`: the same keys as `key=value`, durations as Go duration strings.
//! - zerolog: `{"level",…fields…,"time" (RFC 3339, seconds),"message"}`,
//!   durations as float milliseconds (`DurationFieldUnit`).
//! - logrus `JSONFormatter` and `TextFormatter`: keys sorted, `level` words
//!   with `warning`, `time` RFC 3339, durations through `%v` (Go strings).
//! - go-kit log `logfmt`: `ts` (RFC 3339 UTC, nanoseconds), `caller`, `level`, `msg`.
//! - Kubernetes CRI wrapper: `<RFC 3339 nanos UTC> stdout F <line>`.
//! - Google Cloud Logging `LogEntry`: `jsonPayload` with `message`, `severity`
//!   (`INFO`, `WARNING`, `ERROR`) and `timestamp` on the entry.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write as _;

use rand::Rng;
use rand_pcg::Pcg64Mcg;

use crate::fmt::{epoch_float, int, Clock};
use crate::scenario::{Millis, WIB_OFFSET_MS};

/// Severity of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Normal operation.
    Info,
    /// Something odd, handled.
    Warn,
    /// Something failed.
    Error,
}

/// How the classic formats wrote a latency (kept byte for byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classic {
    /// `311ms`.
    Ms,
    /// `5s` (whole seconds).
    Secs,
    /// `3.003s`.
    Secs3,
}

/// A field value.
#[derive(Debug, Clone)]
pub enum Val {
    /// Text.
    Str(Cow<'static, str>),
    /// An integer.
    Int(i64),
    /// A latency in microseconds, and how the classic formats wrote it.
    Lat(i64, Classic),
}

/// One log record, before a logger writes it.
#[derive(Debug, Clone)]
pub struct Rec {
    /// Severity.
    pub level: Level,
    /// `package/file.go:line` of the call.
    pub caller: &'static str,
    /// The message.
    pub msg: &'static str,
    /// Fields under snake_case names (`order_id`, `latency`, `error`, …).
    pub fields: Vec<(&'static str, Val)>,
}

impl Rec {
    /// A record without fields.
    pub fn new(level: Level, caller: &'static str, msg: &'static str) -> Rec {
        Rec {
            level,
            caller,
            msg,
            fields: Vec::with_capacity(8),
        }
    }

    /// Adds a text field.
    pub fn s(&mut self, key: &'static str, v: impl Into<Cow<'static, str>>) -> &mut Rec {
        self.fields.push((key, Val::Str(v.into())));
        self
    }

    /// Adds an integer field.
    pub fn i(&mut self, key: &'static str, v: i64) -> &mut Rec {
        self.fields.push((key, Val::Int(v)));
        self
    }

    /// Adds a latency in microseconds.
    pub fn lat(&mut self, us: i64, classic: Classic) -> &mut Rec {
        self.fields.push(("latency", Val::Lat(us, classic)));
        self
    }
}

/// A logging library (and its configuration) in the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logger {
    /// The default sample's MRG: logrus text, WIB time without an offset.
    ClassicLogrus,
    /// The default sample's UPG: zap production JSON.
    ClassicZap,
    /// The default sample's orchestrator: zerolog JSON, UTC milliseconds.
    ClassicZerolog,
    /// go.uber.org/zap `NewProduction`.
    ZapProduction,
    /// log/slog `JSONHandler`.
    SlogJson,
    /// log/slog `TextHandler`.
    SlogText,
    /// github.com/rs/zerolog defaults.
    Zerolog,
    /// github.com/sirupsen/logrus `JSONFormatter`.
    LogrusJson,
    /// github.com/sirupsen/logrus `TextFormatter` (no TTY).
    LogrusText,
    /// github.com/go-kit/log `NewLogfmtLogger` with timestamp and caller.
    GoKit,
    /// go.uber.org/zap `NewDevelopment`: the console encoder, stack traces
    /// from warnings up.
    ZapDevelopment,
}

/// Loggers a varied incident draws from.
pub const VARIED_LOGGERS: [Logger; 8] = [
    Logger::ZapProduction,
    Logger::ZapDevelopment,
    Logger::SlogJson,
    Logger::SlogText,
    Logger::Zerolog,
    Logger::LogrusJson,
    Logger::LogrusText,
    Logger::GoKit,
];

/// What wraps each line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrapper {
    /// The line as the logger wrote it.
    None,
    /// Kubernetes' CRI log format (containerd, CRI-O).
    Cri,
    /// Docker's json-file log driver: `{"log":"<line>\n","stream":…,"time":…}`.
    Docker,
    /// Google Cloud Logging entries (JSON loggers only).
    CloudLogging,
}

/// How a latency is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatEnc {
    /// As the classic formats did.
    Classic,
    /// Integer milliseconds.
    MsInt,
    /// Float milliseconds (`311.452`).
    FloatMs,
    /// Float seconds (`0.311452`).
    FloatSecs,
    /// Integer nanoseconds.
    Nanos,
    /// Go's `time.Duration.String()` (`311.452ms`, `1.416µs`, `5s`).
    GoDuration,
}

impl LatEnc {
    /// The `units` word sidik's incident.toml takes for it, when numbers need one.
    pub fn unit(self) -> Option<&'static str> {
        match self {
            LatEnc::MsInt | LatEnc::FloatMs => Some("ms"),
            LatEnc::FloatSecs => Some("s"),
            LatEnc::Nanos => Some("ns"),
            LatEnc::Classic | LatEnc::GoDuration => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeEnc {
    /// `2025-01-12 19:05:01.123` (WIB, no offset).
    WibLocalMs,
    /// `1736683501.123456`.
    EpochFloat,
    /// `2025-01-12T12:05:01.123Z`.
    UtcMs,
    /// `2025-01-12T12:05:01.123456789Z`.
    UtcNanos,
    /// `2025-01-12T19:05:01+07:00`.
    WibSecs,
    /// `2025-01-12T19:05:01.123456+07:00`.
    WibMicros,
    /// zap's `ISO8601TimeEncoder`: `2025-01-12T19:05:01.123+0700`.
    Iso8601,
}

/// The fixed shape of a logger's lines.
struct Shape {
    json: bool,
    time_key: &'static str,
    time: TimeEnc,
    levels: [&'static str; 3],
    msg_key: &'static str,
    caller: bool,
    /// Time and message after the fields (zerolog).
    tail: bool,
    /// Keys sorted (logrus).
    sorted: bool,
    /// Order of the leading keys: time before level.
    time_first: bool,
    latency: LatEnc,
    /// zap's console encoder: tab-separated head, JSON fields, stack traces.
    console: bool,
}

impl Logger {
    fn shape(self) -> Shape {
        let lower = ["info", "warn", "error"];
        let upper = ["INFO", "WARN", "ERROR"];
        let logrus = ["info", "warning", "error"];
        let s = |json, time_key, time, levels, msg_key, caller, latency| Shape {
            json,
            time_key,
            time,
            levels,
            msg_key,
            caller,
            tail: false,
            sorted: false,
            time_first: true,
            latency,
            console: false,
        };
        match self {
            Logger::ClassicLogrus => s(
                false,
                "time",
                TimeEnc::WibLocalMs,
                logrus,
                "msg",
                false,
                LatEnc::Classic,
            ),
            Logger::ClassicZap => Shape {
                time_first: false,
                ..s(
                    true,
                    "ts",
                    TimeEnc::EpochFloat,
                    lower,
                    "msg",
                    true,
                    LatEnc::Classic,
                )
            },
            Logger::ClassicZerolog => Shape {
                tail: true,
                ..s(
                    true,
                    "time",
                    TimeEnc::UtcMs,
                    lower,
                    "message",
                    false,
                    LatEnc::Classic,
                )
            },
            Logger::ZapProduction => Shape {
                time_first: false,
                ..s(
                    true,
                    "ts",
                    TimeEnc::EpochFloat,
                    lower,
                    "msg",
                    true,
                    LatEnc::FloatSecs,
                )
            },
            Logger::SlogJson => s(
                true,
                "time",
                TimeEnc::WibMicros,
                upper,
                "msg",
                false,
                LatEnc::Nanos,
            ),
            Logger::SlogText => s(
                false,
                "time",
                TimeEnc::WibMicros,
                upper,
                "msg",
                false,
                LatEnc::GoDuration,
            ),
            Logger::Zerolog => Shape {
                tail: true,
                time_first: false,
                ..s(
                    true,
                    "time",
                    TimeEnc::WibSecs,
                    lower,
                    "message",
                    false,
                    LatEnc::FloatMs,
                )
            },
            Logger::LogrusJson => Shape {
                sorted: true,
                ..s(
                    true,
                    "time",
                    TimeEnc::WibSecs,
                    logrus,
                    "msg",
                    false,
                    LatEnc::GoDuration,
                )
            },
            Logger::LogrusText => s(
                false,
                "time",
                TimeEnc::WibSecs,
                logrus,
                "msg",
                false,
                LatEnc::GoDuration,
            ),
            Logger::GoKit => s(
                false,
                "ts",
                TimeEnc::UtcNanos,
                lower,
                "msg",
                true,
                LatEnc::GoDuration,
            ),
            Logger::ZapDevelopment => Shape {
                console: true,
                ..s(
                    false,
                    "",
                    TimeEnc::Iso8601,
                    ["INFO", "WARN", "ERROR"],
                    "",
                    true,
                    LatEnc::GoDuration,
                )
            },
        }
    }

    /// The catalogue name (`zap-production`, `slog-text`, …).
    pub fn name(self) -> &'static str {
        match self {
            Logger::ClassicLogrus => "logrus",
            Logger::ClassicZap => "json",
            Logger::ClassicZerolog => "json",
            Logger::ZapProduction => "zap-production",
            Logger::SlogJson => "slog-json",
            Logger::SlogText => "slog-text",
            Logger::Zerolog => "zerolog",
            Logger::LogrusJson => "logrus-json",
            Logger::LogrusText => "logrus-text",
            Logger::GoKit => "go-kit-logfmt",
            Logger::ZapDevelopment => "zap-development",
        }
    }

    /// Whether lines are JSON objects.
    pub fn json(self) -> bool {
        self.shape().json
    }
}

/// One service's way of writing its log.
#[derive(Debug, Clone)]
pub struct Dialect {
    /// The logging library.
    pub logger: Logger,
    /// What wraps each line.
    pub wrapper: Wrapper,
    /// Multi-word keys in camelCase (`paymentId`) rather than snake_case.
    pub camel: bool,
    /// The key the order id is written under.
    pub order_key: &'static str,
    /// The key latencies are written under.
    pub latency_key: String,
    /// How latencies are written.
    pub latency: LatEnc,
    /// The key of the error (`error` or `err`).
    pub error_key: &'static str,
    /// Pod name in the wrappers.
    pub pod: &'static str,
}

impl Dialect {
    /// A classic dialect: the default sample's format for its service.
    pub fn classic(logger: Logger) -> Dialect {
        Dialect {
            logger,
            wrapper: Wrapper::None,
            camel: false,
            order_key: "order_id",
            latency_key: "latency".into(),
            latency: LatEnc::Classic,
            error_key: "error",
            pod: "",
        }
    }

    /// Draws a dialect for one service of a varied incident.
    pub fn draw(r: &mut Pcg64Mcg, pod: &'static str) -> Dialect {
        let logger = VARIED_LOGGERS[r.random_range(0..VARIED_LOGGERS.len())];
        let json = logger.json();
        let wrapper = match r.random_range(0..10) {
            0..3 => Wrapper::None,
            3..6 => Wrapper::Cri,
            6..8 => Wrapper::Docker,
            _ if json => Wrapper::CloudLogging,
            _ => Wrapper::Cri,
        };
        let camel = r.random_bool(0.4);
        let order_key = match (r.random_range(0..4), camel) {
            (0, _) => "orderNo",
            (1, _) => "order_ref",
            (_, true) => "orderId",
            (_, false) => "order_id",
        };
        // The logger's own encoding, or integer milliseconds under a `_ms` key.
        let natural = logger.shape().latency;
        let base = ["latency", "duration", "elapsed"][r.random_range(0..3)];
        let (latency, latency_key) = if r.random_bool(0.3) {
            (
                LatEnc::MsInt,
                if camel {
                    format!("{base}Ms")
                } else {
                    format!("{base}_ms")
                },
            )
        } else {
            (natural, base.to_string())
        };
        Dialect {
            logger,
            wrapper,
            camel,
            order_key,
            latency_key,
            latency,
            error_key: if r.random_bool(0.4) { "err" } else { "error" },
            pod,
        }
    }

    /// A one-line description for `ground_truth.json`.
    pub fn describe(&self) -> String {
        let wrapper = match self.wrapper {
            Wrapper::None => "",
            Wrapper::Cri => " in CRI lines",
            Wrapper::Docker => " in docker json-file lines",
            Wrapper::CloudLogging => " in Cloud Logging entries",
        };
        format!(
            "{}{wrapper}; {} keys, order id under `{}`, latency `{}` as {:?}, error under `{}`",
            self.logger.name(),
            if self.camel {
                "camelCase"
            } else {
                "snake_case"
            },
            self.order_key,
            self.latency_key,
            self.latency,
            self.error_key
        )
    }

    /// The `[[sources.logs]]` settings a person reading these files writes:
    /// the field names sidik does not know, and the units of bare numbers
    /// (`latency`: whether the service logs latencies at all).
    pub fn source_settings(&self, latency: bool) -> String {
        let mut out = String::new();
        let known_order = matches!(self.order_key, "order_id" | "orderId");
        let mut fields = Vec::new();
        if !known_order {
            fields.push(format!("order_id = [\"{}\"]", self.order_key));
        }
        let known_latency = matches!(
            self.latency_key.as_str(),
            "latency" | "latency_ms" | "duration" | "duration_ms" | "elapsed" | "elapsed_ms"
        );
        if latency && !known_latency {
            fields.push(format!("latency = [\"{}\"]", self.latency_key));
        }
        if !fields.is_empty() {
            let _ = writeln!(out, "fields = {{ {} }}", fields.join(", "));
        }
        if let Some(u) = self.latency.unit().filter(|_| latency) {
            let _ = writeln!(out, "units = {{ {} = \"{u}\" }}", self.latency_key);
        }
        out
    }

    /// Writes `rec` at `t` into `buf` (no line ending); `jitter` varies the
    /// sub-millisecond digits.
    pub fn render(&self, rec: &Rec, t: Millis, jitter: u64, clock: &mut Clock, buf: &mut Vec<u8>) {
        let shape = self.logger.shape();
        let micros = clock.micros(t, jitter);
        match self.wrapper {
            Wrapper::None => self.body(&shape, rec, t, micros, clock, buf, true),
            Wrapper::Cri | Wrapper::Docker => {
                // The runtime wraps each physical line (a stack trace's too).
                let mut body = Vec::with_capacity(256);
                self.body(&shape, rec, t, micros, clock, &mut body, true);
                let stream: &[u8] = if shape.json && shape.caller || shape.console {
                    b"stderr"
                } else {
                    b"stdout"
                };
                for (i, piece) in body.split(|&b| b == b'\n').enumerate() {
                    if i > 0 {
                        buf.push(b'\n');
                    }
                    if self.wrapper == Wrapper::Cri {
                        write_time(TimeEnc::UtcNanos, t, micros, clock, buf);
                        buf.push(b' ');
                        buf.extend_from_slice(stream);
                        buf.extend_from_slice(b" F ");
                        buf.extend_from_slice(piece);
                    } else {
                        let mut line = piece.to_vec();
                        line.push(b'\n');
                        buf.extend_from_slice(b"{\"log\":");
                        json_str(buf, std::str::from_utf8(&line).expect("UTF-8 body"));
                        buf.extend_from_slice(b",\"stream\":\"");
                        buf.extend_from_slice(stream);
                        buf.extend_from_slice(b"\",\"time\":\"");
                        write_time(TimeEnc::UtcNanos, t, micros, clock, buf);
                        buf.extend_from_slice(b"\"}");
                    }
                }
            }
            Wrapper::CloudLogging => {
                buf.extend_from_slice(b"{\"insertId\":\"");
                let _ = write!(buf, "{:016x}", jitter.rotate_left(13) ^ t as u64);
                buf.extend_from_slice(b"\",\"jsonPayload\":");
                self.body(&shape, rec, t, micros, clock, buf, false);
                let _ = write!(
                    buf,
                    ",\"logName\":\"projects/ride-prod/logs/stdout\",\"resource\":{{\"type\":\"k8s_container\",\"labels\":{{\"cluster_name\":\"prod-jkt\",\"pod_name\":\"{}\"}}}},\"severity\":\"{}\",\"timestamp\":\"",
                    self.pod,
                    match rec.level {
                        Level::Info => "INFO",
                        Level::Warn => "WARNING",
                        Level::Error => "ERROR",
                    }
                );
                write_time(TimeEnc::UtcNanos, t, micros, clock, buf);
                buf.extend_from_slice(b"\"}");
            }
        }
    }

    /// The logger's own line; without `head`, time and level are left to a
    /// wrapper and the message goes under `message`.
    #[allow(clippy::too_many_arguments)]
    fn body(
        &self,
        shape: &Shape,
        rec: &Rec,
        t: Millis,
        micros: u64,
        clock: &mut Clock,
        buf: &mut Vec<u8>,
        head: bool,
    ) {
        if shape.console {
            return self.console(rec, t, micros, clock, buf);
        }
        let mut out = Out {
            json: shape.json,
            first: true,
            colon: matches!(self.logger, Logger::ClassicLogrus | Logger::LogrusText),
        };
        if shape.json {
            buf.push(b'{');
        }
        let level = shape.levels[rec.level as usize];
        let msg_key = if head { shape.msg_key } else { "message" };
        if shape.sorted {
            // logrus: every key, fields and its own, in byte order.
            let mut keys: Vec<(String, usize)> = Vec::with_capacity(rec.fields.len() + 3);
            for (i, (k, _)) in rec.fields.iter().enumerate() {
                keys.push((self.key(k).into_owned(), i));
            }
            if head {
                keys.push(("level".into(), usize::MAX - 2));
                keys.push((shape.time_key.into(), usize::MAX - 1));
            }
            keys.push((msg_key.into(), usize::MAX));
            keys.sort();
            for (k, i) in keys {
                match i {
                    usize::MAX => out.str(buf, &k, rec.msg),
                    x if x == usize::MAX - 1 => {
                        self.time(&mut out, buf, shape, &k, t, micros, clock)
                    }
                    x if x == usize::MAX - 2 => out.str(buf, &k, level),
                    i => self.field(&mut out, buf, &k, &rec.fields[i].1),
                }
            }
        } else {
            if head {
                if shape.time_first && !shape.tail {
                    self.time(&mut out, buf, shape, shape.time_key, t, micros, clock);
                }
                if self.logger == Logger::GoKit {
                    out.str(buf, "caller", rec.caller);
                }
                out.str(buf, "level", level);
                if !shape.time_first && !shape.tail {
                    self.time(&mut out, buf, shape, shape.time_key, t, micros, clock);
                }
                if shape.caller && self.logger != Logger::GoKit {
                    out.str(buf, "caller", rec.caller);
                }
            }
            if !shape.tail {
                out.str(buf, msg_key, rec.msg);
            }
            for (k, v) in &rec.fields {
                self.field(&mut out, buf, &self.key(k), v);
            }
            if shape.tail {
                if head {
                    self.time(&mut out, buf, shape, shape.time_key, t, micros, clock);
                }
                out.str(buf, msg_key, rec.msg);
            }
        }
        if shape.json {
            buf.push(b'}');
        }
    }

    /// zap's console line: `time\tLEVEL\tcaller\tmessage\t{"key": value, …}`,
    /// then a stack trace from warnings up.
    fn console(&self, rec: &Rec, t: Millis, micros: u64, clock: &mut Clock, buf: &mut Vec<u8>) {
        write_time(TimeEnc::Iso8601, t, micros, clock, buf);
        buf.push(b'\t');
        buf.extend_from_slice(["INFO", "WARN", "ERROR"][rec.level as usize].as_bytes());
        buf.push(b'\t');
        buf.extend_from_slice(rec.caller.as_bytes());
        buf.push(b'\t');
        buf.extend_from_slice(rec.msg.as_bytes());
        if !rec.fields.is_empty() {
            buf.extend_from_slice(b"\t{");
            let mut out = Out {
                json: true,
                first: true,
                colon: false,
            };
            for (k, v) in &rec.fields {
                let before = buf.len();
                self.field(&mut out, buf, &self.key(k), v);
                // zap's console encoder spaces its JSON: `{"k": v, "k2": v2}`.
                if let Some(i) = buf[before..].windows(2).position(|w| w == b"\":") {
                    buf.insert(before + i + 2, b' ');
                }
                if before > 0 && buf[before] == b',' {
                    buf.insert(before + 1, b' ');
                }
            }
            buf.push(b'}');
        }
        if rec.level != Level::Info {
            let (file, _) = rec.caller.split_once(':').unwrap_or((rec.caller, ""));
            let _ = write!(
                buf,
                "\nmain.(*Handler).ServeHTTP\n\t/app/{file}:{}\nnet/http.(*conn).serve\n\t/usr/local/go/src/net/http/server.go:2092",
                rec.caller.rsplit(':').next().unwrap_or("1")
            );
        }
    }

    /// The key as this dialect writes it.
    fn key<'k>(&self, k: &'k str) -> Cow<'k, str> {
        match k {
            "order_id" => Cow::Borrowed(self.order_key),
            "latency" => Cow::Owned(self.latency_key.clone()),
            "error" => Cow::Borrowed(self.error_key),
            _ if self.camel && k.contains('_') => {
                let mut s = String::with_capacity(k.len());
                let mut up = false;
                for c in k.chars() {
                    if c == '_' {
                        up = true;
                    } else if up {
                        s.push(c.to_ascii_uppercase());
                        up = false;
                    } else {
                        s.push(c);
                    }
                }
                Cow::Owned(s)
            }
            _ => Cow::Borrowed(k),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn time(
        &self,
        out: &mut Out,
        buf: &mut Vec<u8>,
        shape: &Shape,
        key: &str,
        t: Millis,
        micros: u64,
        clock: &mut Clock,
    ) {
        out.key(buf, key);
        if shape.time == TimeEnc::EpochFloat {
            epoch_float(buf, t, micros);
            return;
        }
        let mut s = Vec::with_capacity(40);
        write_time(shape.time, t, micros, clock, &mut s);
        out.value(buf, std::str::from_utf8(&s).expect("ascii"));
    }

    fn field(&self, out: &mut Out, buf: &mut Vec<u8>, key: &str, v: &Val) {
        match v {
            Val::Str(s) => out.str(buf, key, s),
            Val::Int(i) => {
                out.key(buf, key);
                int(buf, *i);
            }
            Val::Lat(us, classic) => match self.latency {
                LatEnc::Classic => {
                    let s = match classic {
                        Classic::Ms => format!("{}ms", us / 1000),
                        Classic::Secs => format!("{}s", us / 1_000_000),
                        Classic::Secs3 => format!("{:.3}s", (us / 1000) as f64 / 1e3),
                    };
                    out.str(buf, key, &s);
                }
                LatEnc::GoDuration => out.str(buf, key, &go_duration(us * 1000)),
                enc => {
                    out.key(buf, key);
                    let _ = match enc {
                        LatEnc::MsInt => write!(buf, "{}", (us + 500) / 1000),
                        LatEnc::FloatMs => write!(buf, "{}", *us as f64 / 1e3),
                        LatEnc::FloatSecs => write!(buf, "{}", *us as f64 / 1e6),
                        _ => write!(buf, "{}", us * 1000),
                    };
                }
            },
        }
    }
}

/// Writes one key after the separator the body needs.
struct Out {
    json: bool,
    first: bool,
    /// logrus quotes values with a colon too; slog and go-kit do not.
    colon: bool,
}

impl Out {
    fn key(&mut self, buf: &mut Vec<u8>, key: &str) {
        if !self.first {
            buf.push(if self.json { b',' } else { b' ' });
        }
        self.first = false;
        if self.json {
            buf.push(b'"');
            buf.extend_from_slice(key.as_bytes());
            buf.extend_from_slice(b"\":");
        } else {
            buf.extend_from_slice(key.as_bytes());
            buf.push(b'=');
        }
    }

    /// A text value, quoted as JSON or as logfmt needs.
    fn value(&mut self, buf: &mut Vec<u8>, v: &str) {
        if self.json
            || v.is_empty()
            || v.bytes()
                .any(|b| matches!(b, b' ' | b'"' | b'=') || b < 0x20 || (self.colon && b == b':'))
        {
            json_str(buf, v);
        } else {
            buf.extend_from_slice(v.as_bytes());
        }
    }

    fn str(&mut self, buf: &mut Vec<u8>, key: &str, v: &str) {
        self.key(buf, key);
        self.value(buf, v);
    }
}

/// Appends `s` as a JSON string literal.
pub fn json_str(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            c if c < 0x20 => {
                let _ = write!(buf, "\\u{c:04x}");
            }
            _ => buf.push(b),
        }
    }
    buf.push(b'"');
}

fn write_time(enc: TimeEnc, t: Millis, micros: u64, clock: &mut Clock, buf: &mut Vec<u8>) {
    match enc {
        TimeEnc::WibLocalMs => clock.wib(buf, t),
        TimeEnc::EpochFloat => epoch_float(buf, t, micros),
        TimeEnc::UtcMs => clock.utc(buf, t),
        TimeEnc::UtcNanos => {
            clock.write(buf, t, b'T', true);
            let _ = write!(buf, "{:03}{:03}Z", micros % 1000, (micros * 7) % 1000);
        }
        TimeEnc::WibSecs => clock.wib_offset(buf, t),
        TimeEnc::WibMicros => {
            clock.write(buf, t + WIB_OFFSET_MS, b'T', true);
            let _ = write!(buf, "{:03}+07:00", micros % 1000);
        }
        TimeEnc::Iso8601 => {
            clock.write(buf, t + WIB_OFFSET_MS, b'T', true);
            buf.extend_from_slice(b"+0700");
        }
    }
}

/// Go's `time.Duration.String()` of `ns` nanoseconds (non-negative).
pub fn go_duration(ns: i64) -> String {
    fn frac(v: i64, unit: i64) -> String {
        let whole = v / unit;
        let rest = v % unit;
        if rest == 0 {
            return whole.to_string();
        }
        let digits = unit.to_string().len() - 1;
        let f = format!("{rest:0digits$}");
        format!("{whole}.{}", f.trim_end_matches('0'))
    }
    match ns {
        0 => "0s".into(),
        n if n < 1_000 => format!("{n}ns"),
        n if n < 1_000_000 => format!("{}µs", frac(n, 1_000)),
        n if n < 1_000_000_000 => format!("{}ms", frac(n, 1_000_000)),
        n if n < 60_000_000_000 => format!("{}s", frac(n, 1_000_000_000)),
        n => {
            let m = n / 60_000_000_000;
            let rest = n % 60_000_000_000;
            format!("{m}m{}s", frac(rest, 1_000_000_000))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::DAY_START;

    #[test]
    fn go_durations_read_like_go() {
        assert_eq!(go_duration(1_416), "1.416µs");
        assert_eq!(go_duration(311_452_000), "311.452ms");
        assert_eq!(go_duration(5_000_000_000), "5s");
        assert_eq!(go_duration(3_003_000_000), "3.003s");
        assert_eq!(go_duration(300_000), "300µs");
        assert_eq!(go_duration(61_500_000_000), "1m1.5s");
    }

    fn line(d: &Dialect) -> String {
        let mut r = Rec::new(Level::Warn, "charge/handler.go:95", "charge declined");
        r.s("order_id", "ORD-1")
            .lat(311_452, Classic::Ms)
            .s("error", "pq: x");
        let mut b = Vec::new();
        d.render(&r, DAY_START + 19 * 3_600_000, 5, &mut Clock::new(), &mut b);
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn loggers_write_their_own_shapes() {
        let mut d = Dialect::classic(Logger::ClassicLogrus);
        assert_eq!(
            line(&d),
            "time=\"2025-01-12 19:00:00.000\" level=warning msg=\"charge declined\" order_id=ORD-1 latency=311ms error=\"pq: x\""
        );
        d.logger = Logger::ClassicZap;
        assert!(line(&d).starts_with(
            "{\"level\":\"warn\",\"ts\":1736683200.000005,\"caller\":\"charge/handler.go:95\",\"msg\":\"charge declined\""
        ));
        d.logger = Logger::LogrusJson;
        d.latency = LatEnc::GoDuration;
        d.camel = true;
        d.order_key = "orderNo";
        d.error_key = "err";
        assert_eq!(
            line(&d),
            "{\"err\":\"pq: x\",\"latency\":\"311.452ms\",\"level\":\"warning\",\"msg\":\"charge declined\",\"orderNo\":\"ORD-1\",\"time\":\"2025-01-12T19:00:00+07:00\"}"
        );
        d.logger = Logger::SlogJson;
        d.latency = LatEnc::Nanos;
        d.wrapper = Wrapper::Cri;
        assert_eq!(
            line(&d),
            "2025-01-12T12:00:00.000005035Z stdout F {\"time\":\"2025-01-12T19:00:00.000005+07:00\",\"level\":\"WARN\",\"msg\":\"charge declined\",\"orderNo\":\"ORD-1\",\"latency\":311452000,\"err\":\"pq: x\"}"
        );
        d.wrapper = Wrapper::Docker;
        let l = line(&d);
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["stream"], "stdout");
        assert!(v["log"]
            .as_str()
            .unwrap()
            .starts_with("{\"time\":\"2025-01-12T19:00:00.000005+07:00\",\"level\":\"WARN\""));
        assert!(v["log"].as_str().unwrap().ends_with("}\n"));
        d.wrapper = Wrapper::CloudLogging;
        d.pod = "upg-7f9c";
        let l = line(&d);
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["severity"], "WARNING");
        assert_eq!(v["jsonPayload"]["message"], "charge declined");
        assert!(v["jsonPayload"].get("time").is_none());
        d.logger = Logger::ZapDevelopment;
        d.wrapper = Wrapper::Cri;
        d.latency = LatEnc::GoDuration;
        assert_eq!(
            line(&d),
            "2025-01-12T12:00:00.000005035Z stderr F 2025-01-12T19:00:00.000+0700\tWARN\tcharge/handler.go:95\tcharge declined\t{\"orderNo\": \"ORD-1\", \"latency\": \"311.452ms\", \"err\": \"pq: x\"}\n\
             2025-01-12T12:00:00.000005035Z stderr F main.(*Handler).ServeHTTP\n\
             2025-01-12T12:00:00.000005035Z stderr F \t/app/charge/handler.go:95\n\
             2025-01-12T12:00:00.000005035Z stderr F net/http.(*conn).serve\n\
             2025-01-12T12:00:00.000005035Z stderr F \t/usr/local/go/src/net/http/server.go:2092"
        );
        d.logger = Logger::GoKit;
        d.wrapper = Wrapper::None;
        d.latency = LatEnc::FloatSecs;
        assert_eq!(
            line(&d),
            "ts=2025-01-12T12:00:00.000005035Z caller=charge/handler.go:95 level=warn msg=\"charge declined\" orderNo=ORD-1 latency=0.311452 err=\"pq: x\""
        );
    }
}
