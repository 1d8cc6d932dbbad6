//! The `incident.toml` schema, its validation and the commented template that
//! `sidik init` writes.
//!
//! Unknown keys are errors (a typo must not silently disable a source), and
//! every error names the file, the line, the dotted key and what is expected.

use std::fs;
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

use crate::error::{ConfigError, Error, Result};
use crate::folder::IncidentDir;
use crate::time::{parse_go_duration, parse_time, parse_timezone, Window, DEFAULT_TIMEZONE};

/// File name of the configuration inside an incident folder.
pub use crate::folder::CONFIG_FILE;

/// Log formats a log source may name; `auto` detects the format per file.
pub const LOG_FORMATS: [&str; 12] = [
    "auto",
    "json",
    "logfmt",
    "logrus",
    "cri",
    "postgres-stderr",
    "postgres-csv",
    "postgres-json",
    "cnpg",
    "cloud-logging",
    "zap-console",
    "regex",
];

/// The normalised fields of a log record, which `fields` in a log source may name.
pub const LOG_FIELDS: [&str; 11] = [
    "time",
    "level",
    "message",
    "order_id",
    "payment_id",
    "trace_id",
    "latency",
    "http_status",
    "error",
    "service",
    "sqlstate",
];

/// Units a latency key may be read in (`duration`: Go duration strings, numbers as ns).
pub const LATENCY_UNITS: [&str; 7] = ["s", "seconds", "ms", "us", "µs", "ns", "duration"];

/// Roles a database may have; only `production` needs an approval flag to be written.
pub const DATABASE_ROLES: [&str; 4] = ["production", "replica", "staging", "test"];

/// The whole `incident.toml`, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentFile {
    /// `[incident]`: identity, timezone, window, tracker.
    pub incident: IncidentSection,
    /// `[sources]`: where the evidence comes from.
    #[serde(default)]
    pub sources: Sources,
    /// `[logs]`: log analysis settings.
    #[serde(default)]
    pub logs: LogsSection,
    /// `[recon]`: how payments, postings and orders are reconciled.
    #[serde(default)]
    pub recon: ReconSection,
    /// `[recover]`: how phase 4 applies its plan (docs/recover.md).
    #[serde(default)]
    pub recover: RecoverSection,
    /// `[topology]`: services, pools, timeouts, breakers, autoscaling (docs/capacity.md).
    #[serde(default)]
    pub topology: crate::topology::Topology,
    /// `[capacity]`: what the capacity plan sizes for (docs/capacity.md).
    #[serde(default)]
    pub capacity: crate::topology::CapacitySection,
}

/// `[recover]`: the guards of `sidik recover apply`. Every key is optional;
/// docs/recover.md gives the defaults and why.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoverSection {
    /// Database of `[[sources.databases]]` that SQL apply writes to; default the first.
    #[serde(default)]
    pub database: Option<String>,
    /// Folder of the recovery statements (one `.sql` per decision); default the shipped `queries/recovery/`.
    #[serde(default)]
    pub statements: Option<String>,
    /// Plan steps per transaction (default 100).
    #[serde(default)]
    pub batch: Option<u32>,
    /// `lock_timeout` of each batch (Go duration, default `500ms`): never queue behind a lock.
    #[serde(default)]
    pub lock_timeout: Option<Spanned<String>>,
    /// `statement_timeout` of each batch (default `5s`).
    #[serde(default)]
    pub statement_timeout: Option<Spanned<String>>,
    /// Share of the usable connection slots in use above which apply waits (default 0.8).
    #[serde(default)]
    pub max_saturation: Option<f64>,
    /// Sessions waiting for a lock above which apply waits (default 5).
    #[serde(default)]
    pub max_lock_waits: Option<u32>,
    /// Replication replay lag above which apply waits (default `1500ms`).
    #[serde(default)]
    pub max_replica_lag: Option<Spanned<String>>,
    /// How long apply waits for the server's health, or retries a batch that
    /// met a lock, before it stops with its cursor saved (default `2m`).
    #[serde(default)]
    pub max_wait: Option<Spanned<String>>,
    /// Pause between batches (default `0s`).
    #[serde(default)]
    pub pause: Option<Spanned<String>>,
    /// A file whose existence stops apply between batches (default `<incident>/recovery.stop`).
    #[serde(default)]
    pub sentinel: Option<String>,
    /// `[recover.http]`: apply through the services' own API.
    #[serde(default)]
    pub http: RecoverHttp,
    /// `[recover.ho_import]`: the columns of HO's import file for the re-push batch.
    #[serde(default)]
    pub ho_import: HoImport,
    /// `[recover.notify]`: the customer list and its messages.
    #[serde(default)]
    pub notify: NotifySection,
}

/// `[recover.ho_import]`: how HO's import file is laid out.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoImport {
    /// Its columns in order, each `"HO_NAME = field"` or just `"field"`. Fields:
    /// reference, order_id, payment_id, journal_type, amount, charge_period, reason, batch.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// Field delimiter: one character, or `tab` (default `,`).
    #[serde(default)]
    pub delimiter: Option<String>,
}

/// `[recover.notify]`: the customer communication.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySection {
    /// Folder of message templates (`<group>.id.txt`, `<group>.en.txt`); default the shipped ones.
    #[serde(default)]
    pub templates: Option<String>,
    /// Languages to render, in order (default `["id", "en"]`).
    #[serde(default)]
    pub languages: Option<Vec<String>>,
    /// Who signs the messages (default "Customer Care").
    #[serde(default)]
    pub sender: Option<String>,
}

/// `[recover.http]`: the endpoints that replay a decision through a service's API.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoverHttp {
    /// Most requests per second (default 10).
    #[serde(default)]
    pub rate: Option<f64>,
    /// Timeout of one request (Go duration, default `10s`).
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    /// Attempts per request before apply stops (default 8).
    #[serde(default)]
    pub attempts: Option<u32>,
    /// `[[recover.http.endpoint]]`, one per decision replayed this way.
    #[serde(default)]
    pub endpoint: Vec<RecoverEndpoint>,
}

/// `[[recover.http.endpoint]]`: how one decision is replayed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoverEndpoint {
    /// The decision it replays (`repost`, `complete` …).
    pub decision: String,
    /// HTTP method (default `POST`).
    #[serde(default)]
    pub method: Option<String>,
    /// URL; `{order_id}`, `{payment_id}`, `{posting_id}`, `{amount}`, `{decision}`, `{key}` are filled in.
    pub url: String,
    /// Body template (JSON), filled in the same way; JSON strings are escaped.
    #[serde(default)]
    pub body: Option<String>,
    /// Headers; `${NAME}` in a value is read from the environment (tokens never go into the file).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Header that carries the idempotency key (default `Idempotency-Key`).
    #[serde(default)]
    pub idempotency_header: Option<String>,
    /// The request that reverses one (`sidik recover undo --via http`), filled the same way;
    /// without it, requests sent this way cannot be undone by sidik.
    #[serde(default)]
    pub undo_url: Option<String>,
    /// Method of the reversing request (default `POST`).
    #[serde(default)]
    pub undo_method: Option<String>,
    /// Body of the reversing request.
    #[serde(default)]
    pub undo_body: Option<String>,
}

/// `[recon]`: reconciliation settings. Every key is optional; the defaults fit
/// sidik's sample exports (docs/recon.md lists them).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconSection {
    /// Differences up to this many rupiah are not breaks (default 0).
    #[serde(default)]
    pub tolerance_idr: Option<i64>,
    /// Differences up to this share of the charged amount are not breaks (0.001 = 0.1 %; default 0).
    #[serde(default)]
    pub tolerance_pct: Option<f64>,
    /// A posting later than this after the trip's end (or the charge) is LATE_POSTING (default 72h).
    #[serde(default)]
    pub posting_lag: Option<Spanned<String>>,
    /// An order still ACTIVE this long after its trip's end is stuck (default 2h).
    #[serde(default)]
    pub stuck_after: Option<Spanned<String>>,
    /// The exports' cut-off (default: the end of the incident window).
    #[serde(default)]
    pub as_of: Option<Spanned<String>>,
    /// Column maps per source: sidik's column name = the export's column name.
    #[serde(default)]
    pub columns: ReconColumns,
    /// Value maps: which of the export's words mean what.
    #[serde(default)]
    pub values: ReconValues,
    /// Journal routing: which journal types add to an order's charge and which reduce it.
    #[serde(default)]
    pub routing: Option<ReconRouting>,
    /// How the exports write numbers and dates unless a file says otherwise:
    /// `id-ID` (`1.234.567,89`, `dd/mm/yyyy`) or `en` (`1,234,567.89`,
    /// `mm/dd/yyyy`). Default: detected per file.
    #[serde(default)]
    pub locale: Option<String>,
    /// How each export file is written (delimiter, encoding, numbers, dates,
    /// zone, sheet); every key is optional and detected when absent.
    #[serde(default)]
    pub format: ReconFormats,
}

/// `[recon.format.*]`: how each export is written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconFormats {
    /// `[recon.format.payments]`.
    #[serde(default)]
    pub payments: ExportFormat,
    /// `[recon.format.postings]`.
    #[serde(default)]
    pub postings: ExportFormat,
    /// `[recon.format.orders]`.
    #[serde(default)]
    pub orders: ExportFormat,
}

/// `[recon.format.SOURCE]`: how one export file is written. Anything not
/// given is detected from the file (docs/recon.md, "Export files").
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportFormat {
    /// Field delimiter of a CSV: one character, or `tab`.
    #[serde(default)]
    pub delimiter: Option<String>,
    /// Quote character of a CSV (default `"`).
    #[serde(default)]
    pub quote: Option<String>,
    /// Whether the first line names the columns (default: detected).
    #[serde(default)]
    pub header: Option<bool>,
    /// Column names for a file without a header line, in order.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// Text encoding: `utf-8` or `windows-1252` (default: detected).
    #[serde(default)]
    pub encoding: Option<String>,
    /// Number format: `id-ID`, `en` or `plain` (default: the `[recon]`
    /// locale, else detected).
    #[serde(default)]
    pub number: Option<String>,
    /// Order of day, month and year in dates like `12/01/2025`: `dmy`,
    /// `mdy` or `ymd` (default: the locale's, else detected).
    #[serde(default)]
    pub dates: Option<String>,
    /// IANA zone of times written without an offset (default: the incident's).
    #[serde(default)]
    pub timezone: Option<String>,
    /// The sheet of a workbook (default: the first).
    #[serde(default)]
    pub sheet: Option<String>,
}

/// `[recon.columns.*]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconColumns {
    /// `[recon.columns.payments]`.
    #[serde(default)]
    pub payments: std::collections::BTreeMap<String, String>,
    /// `[recon.columns.postings]`.
    #[serde(default)]
    pub postings: std::collections::BTreeMap<String, String>,
    /// `[recon.columns.orders]`.
    #[serde(default)]
    pub orders: std::collections::BTreeMap<String, String>,
}

/// `[recon.values.*]`: meaning = [the export's words].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconValues {
    /// `settled`, `failed`, `pending`.
    #[serde(default)]
    pub payment_status: std::collections::BTreeMap<String, Vec<String>>,
    /// `charge`, `refund`, `void`.
    #[serde(default)]
    pub payment_type: std::collections::BTreeMap<String, Vec<String>>,
    /// `active`, `scheduled`, `complete`, `cancelled`.
    #[serde(default)]
    pub order_status: std::collections::BTreeMap<String, Vec<String>>,
}

/// `[recon.routing]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconRouting {
    /// Journal types that make up a charge (a single BASE line, or BASE + OVERTIME + EXTRA + TIP).
    pub charge: Vec<String>,
    /// Journal types that reduce the order's total (REFUND, CANCEL).
    pub negative: Vec<String>,
}

/// `[incident]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentSection {
    /// Short identifier used in reports and chart titles.
    pub id: String,
    /// One-line description.
    #[serde(default)]
    pub title: Option<String>,
    /// IANA timezone; local times without an offset are read in it. Default Asia/Jakarta.
    #[serde(default)]
    pub timezone: Option<Spanned<String>>,
    /// The part of time under investigation.
    #[serde(default)]
    pub window: Option<WindowSpec>,
    /// The markdown tracker this incident updates, relative to the folder.
    #[serde(default)]
    pub tracker: Option<Spanned<String>>,
    /// Known events: deploys, config changes, restarts.
    #[serde(default)]
    pub events: Vec<EventSpec>,
    /// Phase boundaries drawn on timelines when the root-cause scoring has not found them.
    #[serde(default)]
    pub phases: Option<PhasesSpec>,
}

/// `[incident.phases]`: when the spike, the errors and the degradation began
/// (and when it recovered), as the person knows them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhasesSpec {
    /// Start of the traffic spike.
    #[serde(default)]
    pub spike_start: Option<Spanned<String>>,
    /// First errors caused by it.
    #[serde(default)]
    pub error_onset: Option<Spanned<String>>,
    /// Start of the degradation (latency, stuck orders).
    #[serde(default)]
    pub degradation_start: Option<Spanned<String>>,
    /// Back to normal.
    #[serde(default)]
    pub recovery: Option<Spanned<String>>,
}

impl PhasesSpec {
    /// The boundaries by name, in order, as written.
    pub fn entries(&self) -> [(&'static str, Option<&Spanned<String>>); 4] {
        [
            ("spike_start", self.spike_start.as_ref()),
            ("error_onset", self.error_onset.as_ref()),
            ("degradation_start", self.degradation_start.as_ref()),
            ("recovery", self.recovery.as_ref()),
        ]
    }
}

/// `[incident.window]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// First instant inside the window.
    pub start: Spanned<String>,
    /// First instant after the window.
    pub end: Spanned<String>,
}

/// `[[incident.events]]`: a known event to annotate on timelines.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    /// When it happened.
    pub at: Spanned<String>,
    /// What happened ("deploy upg v2.14.1").
    pub label: String,
    /// Kind of event: deploy, config, restart, other.
    #[serde(default)]
    pub kind: Option<String>,
}

/// `[sources]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    /// `[[sources.logs]]`, one per service.
    #[serde(default)]
    pub logs: Vec<LogSource>,
    /// `[[sources.databases]]`.
    #[serde(default)]
    pub databases: Vec<DatabaseSource>,
    /// `[sources.metrics]`.
    #[serde(default)]
    pub metrics: Option<MetricsSource>,
    /// `[sources.recon]`.
    #[serde(default)]
    pub recon: Option<ReconSource>,
}

/// `[[sources.logs]]`: the log files of one service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSource {
    /// Service name (mrg, upg, order-orchestrator, postgres, ...).
    pub service: String,
    /// Files or globs, relative to the incident folder.
    pub paths: Vec<String>,
    /// One of [`LOG_FORMATS`]; default `auto`.
    #[serde(default)]
    pub format: Option<Spanned<String>>,
    /// Timezone of local times without an offset in these files; default the incident's.
    #[serde(default)]
    pub timezone: Option<Spanned<String>>,
    /// Go duration added to every timestamp of a skewed host (`-1.5s`).
    #[serde(default)]
    pub clock_offset: Option<Spanned<String>>,
    /// PostgreSQL `log_line_prefix` for `postgres-stderr` files.
    #[serde(default)]
    pub line_prefix: Option<String>,
    /// Regex with named groups, for `format = "regex"`.
    #[serde(default)]
    pub pattern: Option<Spanned<String>>,
    /// Units of latency keys, by key as written or `latency` for all of
    /// them: one of [`LATENCY_UNITS`] (`units = { latency = "s" }`).
    #[serde(default)]
    pub units: std::collections::BTreeMap<String, String>,
    /// Field names to look for, per normalised field (`order_id = ["orderId", "order.id"]`),
    /// tried before the built-in names. Dotted names address nested JSON objects.
    #[serde(default)]
    pub fields: std::collections::BTreeMap<String, Vec<String>>,
}

/// `[logs] rules`: a rules file, or classes written in `incident.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Rules {
    /// `rules = "rules.toml"`: a file of `[[class]]` tables.
    File(String),
    /// `[[logs.rules]]` tables.
    Inline(Vec<RuleClass>),
}

/// One error class written in `incident.toml` (`[[logs.rules]]`): the shape
/// of a `[[class]]` of a rules file.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleClass {
    /// Identifier; a shipped class of the same name is replaced.
    pub name: String,
    /// What it means.
    #[serde(default)]
    pub description: String,
    /// Rust regexes over the message, error, detail and SQLSTATE; any one matching assigns the class.
    pub patterns: Vec<String>,
}

/// `[logs]`: how logs are analysed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsSection {
    /// Extra error classes: a rules file (`rules = "rules.toml"`), or classes
    /// written here (`[[logs.rules]]`), added to and overriding the shipped ones.
    #[serde(default)]
    pub rules: Option<Rules>,
    /// A rules file, for when `[[logs.rules]]` are written here too; its
    /// classes come after those of `[[logs.rules]]`.
    #[serde(default)]
    pub rules_file: Option<String>,
    /// Timeline bucket as a Go duration; default `1m`.
    #[serde(default)]
    pub bucket: Option<Spanned<String>>,
    /// How the events Parquet chunks are compressed; default `lz4`.
    #[serde(default)]
    pub compression: ParquetCompression,
}

/// `[logs] compression`: the codec of the events Parquet chunks. Every
/// Parquet reader (polars, pyarrow, DuckDB, Spark) reads both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParquetCompression {
    /// LZ4 (the raw block format): the fastest to write, so the default.
    #[default]
    Lz4,
    /// Zstandard level 1: about half the bytes of LZ4, for a slower ingest.
    Zstd,
}

/// `[[sources.databases]]`: a database to diagnose or query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSource {
    /// Name used on the command line and in reports.
    pub name: String,
    /// Environment variable holding the connection URL; default: DATABASE_URL, then PG* variables.
    #[serde(default)]
    pub url_env: Option<String>,
    /// One of [`DATABASE_ROLES`]; default `production` (the safe assumption).
    #[serde(default)]
    pub role: Option<Spanned<String>>,
    /// Schemas to search for unqualified table names (`sidik_sample`, `app, public`).
    #[serde(default)]
    pub search_path: Option<String>,
}

/// `[sources.metrics]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSource {
    /// Base URL of a Prometheus-compatible API.
    #[serde(default)]
    pub prometheus_url: Option<String>,
    /// Environment variable holding a bearer token for that API.
    #[serde(default)]
    pub token_env: Option<String>,
    /// User name for basic authentication.
    #[serde(default)]
    pub username: Option<String>,
    /// Environment variable holding the basic-authentication password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Resolution of fetched series (Go duration), also the grid imports are put on. Default `1m`.
    #[serde(default)]
    pub step: Option<Spanned<String>>,
    /// Most points per series one request may ask for (Prometheus refuses more than 11,000).
    #[serde(default)]
    pub max_points: Option<u32>,
    /// Timeout of one request (Go duration). Default `30s`.
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    /// Label naming the service of a series. Default `service`.
    #[serde(default)]
    pub service_label: Option<String>,
    /// Named PromQL queries to fetch; the shipped set when empty.
    #[serde(default)]
    pub queries: BTreeMap<String, String>,
    /// Cloud-monitoring CSV exports (timestamp, metric, instance, value).
    #[serde(default)]
    pub csv: Vec<String>,
    /// Column names of the CSV exports, when they differ.
    #[serde(default)]
    pub columns: MetricsColumns,
    /// OpenMetrics / Prometheus text exposition files.
    #[serde(default)]
    pub openmetrics: Vec<String>,
}

/// `[sources.metrics.columns]`: the CSV export's column names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsColumns {
    /// Time column. Default `timestamp`.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Metric name column. Default `metric`.
    #[serde(default)]
    pub metric: Option<String>,
    /// Instance (dimension) column. Default `instance`.
    #[serde(default)]
    pub instance: Option<String>,
    /// Service column, when the export has one (else the service is read from the instance name).
    #[serde(default)]
    pub service: Option<String>,
    /// Value column. Default `value`.
    #[serde(default)]
    pub value: Option<String>,
}

/// `[sources.recon]`: the exports to reconcile.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconSource {
    /// Orders export.
    #[serde(default)]
    pub orders: Option<String>,
    /// UPG payments export.
    #[serde(default)]
    pub payments: Option<String>,
    /// HO journal postings export.
    #[serde(default)]
    pub postings: Option<String>,
}

/// A loaded and validated incident: the folder, its configuration and the
/// values derived from it.
#[derive(Debug, Clone)]
pub struct Incident {
    /// The incident folder.
    pub dir: IncidentDir,
    /// The configuration as written.
    pub file: IncidentFile,
    /// The incident timezone.
    pub tz: Tz,
    /// The investigation window, when configured.
    pub window: Option<Window>,
    /// The tracker, resolved against the folder, when configured.
    pub tracker: Option<PathBuf>,
}

impl Incident {
    /// Loads `DIR/incident.toml` and validates it.
    pub fn load(dir: impl AsRef<Path>) -> Result<Incident> {
        // An absolute root keeps every path the steps build unambiguous.
        let dir = dir.as_ref();
        let root = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let dir = IncidentDir::new(root);
        let path = dir.config_path();
        let text =
            match fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ConfigError {
                    path,
                    line: None,
                    column: None,
                    key: None,
                    message: "no incident.toml here".into(),
                    hint: Some(
                        "run `sidik init DIR` to create an incident folder, or pass --incident DIR"
                            .into(),
                    ),
                }
                .into()),
                Err(e) => return Err(Error::io("read", path, e)),
            };
        Incident::parse(&text, dir, &path)
    }

    /// Parses and validates configuration text; `path` is used in messages.
    pub fn parse(text: &str, dir: IncidentDir, path: &Path) -> Result<Incident> {
        let file: IncidentFile = toml::from_str(text).map_err(|e| toml_error(text, path, &e))?;
        let at =
            |span: std::ops::Range<usize>, key: &str, message: String, hint: Option<String>| {
                let (line, column) = line_col(text, span.start);
                Error::from(ConfigError {
                    path: path.to_path_buf(),
                    line: Some(line),
                    column: Some(column),
                    key: Some(key.to_string()),
                    message,
                    hint,
                })
            };

        let tz = match &file.incident.timezone {
            None => DEFAULT_TIMEZONE,
            Some(s) => parse_timezone(s.get_ref()).map_err(|m| {
                at(
                    s.span(),
                    "incident.timezone",
                    m,
                    Some("IANA names are listed by `timedatectl list-timezones`".into()),
                )
            })?,
        };

        let window = match &file.incident.window {
            None => None,
            Some(w) => {
                let start = parse_time(w.start.get_ref(), tz).map_err(|e| {
                    at(w.start.span(), "incident.window.start", e.to_string(), None)
                })?;
                let end = parse_time(w.end.get_ref(), tz)
                    .map_err(|e| at(w.end.span(), "incident.window.end", e.to_string(), None))?;
                if end <= start {
                    return Err(at(
                        w.end.span(),
                        "incident.window.end",
                        format!(
                            "\"{}\" is not after the window start \"{}\"",
                            w.end.get_ref(),
                            w.start.get_ref()
                        ),
                        Some(
                            "set `end` to a later time than `start` (the window is [start, end))"
                                .into(),
                        ),
                    ));
                }
                Some(Window { start, end })
            }
        };

        for (i, ev) in file.incident.events.iter().enumerate() {
            parse_time(ev.at.get_ref(), tz).map_err(|e| {
                at(
                    ev.at.span(),
                    &format!("incident.events[{i}].at"),
                    e.to_string(),
                    None,
                )
            })?;
        }

        if let Some(p) = &file.incident.phases {
            for (name, v) in p.entries() {
                if let Some(v) = v {
                    parse_time(v.get_ref(), tz).map_err(|e| {
                        at(
                            v.span(),
                            &format!("incident.phases.{name}"),
                            e.to_string(),
                            None,
                        )
                    })?;
                }
            }
        }

        for (i, src) in file.sources.logs.iter().enumerate() {
            let key = |k: &str| format!("sources.logs[{i}].{k}");
            if src.paths.is_empty() {
                return Err(ConfigError {
                    path: path.to_path_buf(),
                    line: None,
                    column: None,
                    key: Some(key("paths")),
                    message: format!("service \"{}\" lists no log files", src.service),
                    hint: Some(
                        "add at least one file or glob, e.g. paths = [\"logs/upg/*.log*\"]".into(),
                    ),
                }
                .into());
            }
            if let Some(f) = &src.format {
                if !LOG_FORMATS.contains(&f.get_ref().as_str()) {
                    return Err(at(
                        f.span(),
                        &key("format"),
                        format!("unknown log format \"{}\"", f.get_ref()),
                        Some(format!("use one of: {}", LOG_FORMATS.join(", "))),
                    ));
                }
                if f.get_ref() == "regex" && src.pattern.is_none() {
                    return Err(at(
                        f.span(),
                        &key("format"),
                        "format \"regex\" needs a `pattern`".into(),
                        Some(
                            "add pattern = '(?P<time>\\S+) (?P<level>\\w+) (?P<message>.*)'".into(),
                        ),
                    ));
                }
            }
            if let Some(p) = &src.pattern {
                if let Err(e) = regex::Regex::new(p.get_ref()) {
                    return Err(at(
                        p.span(),
                        &key("pattern"),
                        format!("invalid regex: {e}"),
                        None,
                    ));
                }
            }
            if let Some(t) = &src.timezone {
                parse_timezone(t.get_ref()).map_err(|m| at(t.span(), &key("timezone"), m, None))?;
            }
            if let Some(o) = &src.clock_offset {
                parse_go_duration(o.get_ref())
                    .map_err(|e| at(o.span(), &key("clock_offset"), e.to_string(), None))?;
            }
        }

        for (i, src) in file.sources.logs.iter().enumerate() {
            for (k, u) in &src.units {
                if !LATENCY_UNITS.contains(&u.as_str()) {
                    return Err(ConfigError {
                        path: path.to_path_buf(),
                        line: None,
                        column: None,
                        key: Some(format!("sources.logs[{i}].units.{k}")),
                        message: format!("unknown unit \"{u}\" for latency key `{k}`"),
                        hint: Some(format!("use one of: {}", LATENCY_UNITS.join(", "))),
                    }
                    .into());
                }
            }
            for k in src.fields.keys() {
                if !LOG_FIELDS.contains(&k.as_str()) {
                    return Err(ConfigError {
                        path: path.to_path_buf(),
                        line: None,
                        column: None,
                        key: Some(format!("sources.logs[{i}].fields.{k}")),
                        message: format!("unknown normalised field `{k}`"),
                        hint: Some(format!("use one of: {}", LOG_FIELDS.join(", "))),
                    }
                    .into());
                }
            }
        }
        if let Some(b) = &file.logs.bucket {
            let d = parse_go_duration(b.get_ref())
                .map_err(|e| at(b.span(), "logs.bucket", e.to_string(), None))?;
            if d < chrono::Duration::seconds(1) {
                return Err(at(
                    b.span(),
                    "logs.bucket",
                    format!("\"{}\" is shorter than a second", b.get_ref()),
                    Some("use 10s, 1m or 5m".into()),
                ));
            }
        }

        if let Some(m) = &file.sources.metrics {
            for (key, v) in [("step", &m.step), ("timeout", &m.timeout)] {
                if let Some(v) = v {
                    let d = parse_go_duration(v.get_ref()).map_err(|e| {
                        at(
                            v.span(),
                            &format!("sources.metrics.{key}"),
                            e.to_string(),
                            None,
                        )
                    })?;
                    if d < chrono::Duration::seconds(1) {
                        return Err(at(
                            v.span(),
                            &format!("sources.metrics.{key}"),
                            format!("\"{}\" is shorter than a second", v.get_ref()),
                            Some("use 15s, 1m or 5m".into()),
                        ));
                    }
                }
            }
        }

        for (i, db) in file.sources.databases.iter().enumerate() {
            if let Some(r) = &db.role {
                if !DATABASE_ROLES.contains(&r.get_ref().as_str()) {
                    return Err(at(
                        r.span(),
                        &format!("sources.databases[{i}].role"),
                        format!("unknown role \"{}\"", r.get_ref()),
                        Some(format!("use one of: {}", DATABASE_ROLES.join(", "))),
                    ));
                }
            }
        }

        if let Some((span, key, message, hint)) =
            crate::topology::validate(&file.topology, &file.capacity)
                .into_iter()
                .next()
        {
            return Err(match span {
                Some(span) => at(span, &key, message, hint),
                None => ConfigError {
                    path: path.to_path_buf(),
                    line: None,
                    column: None,
                    key: Some(key),
                    message,
                    hint,
                }
                .into(),
            });
        }

        let tracker = file
            .incident
            .tracker
            .as_ref()
            .map(|t| dir.resolve(t.get_ref()));
        Ok(Incident {
            dir,
            file,
            tz,
            window,
            tracker,
        })
    }
}

/// 1-based line and column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, col)
}

/// The table header (`incident.window`, `sources.logs[1]`) in force at `offset`.
fn table_at(text: &str, offset: usize) -> Option<String> {
    let mut current: Option<String> = None;
    let mut counts: std::collections::HashMap<String, usize> = Default::default();
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        if pos > offset {
            break;
        }
        let t = line.trim();
        if let Some(name) = t.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            let name = name.trim().to_string();
            let n = counts.entry(name.clone()).or_insert(0);
            current = Some(format!("{name}[{n}]"));
            *n += 1;
        } else if let Some(name) = t.strip_prefix('[').and_then(|r| r.split(']').next()) {
            current = Some(name.trim().to_string());
        }
        pos += line.len();
    }
    current
}

/// Turns a TOML/serde error into a [`ConfigError`] with line, key and hint.
fn toml_error(text: &str, path: &Path, e: &toml::de::Error) -> Error {
    let message = e.message().trim().to_string();
    let (line, column, table, field_text) = match e.span() {
        Some(span) => {
            let (l, c) = line_col(text, span.start);
            // The text of the line the span starts on: `key = value`.
            let line_start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
            let line_end = text[span.start..]
                .find('\n')
                .map_or(text.len(), |i| span.start + i);
            let field = text[line_start..line_end].trim().to_string();
            (Some(l), Some(c), table_at(text, span.start), Some(field))
        }
        None => (None, None, None, None),
    };
    let backticked: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    let mut key = None;
    let mut hint = None;
    // An error on a table header (`[incident.windw]`) is about the header's
    // own name: the table in force there is that very table.
    let header = field_text
        .as_deref()
        .filter(|f| f.starts_with('['))
        .map(|f| f.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let array_header = field_text.as_deref().is_some_and(|f| f.starts_with("[["));
    if message.starts_with("unknown field") {
        let unknown = backticked.first().copied().unwrap_or_default();
        key = Some(match &header {
            Some(h) => h.clone(),
            None => join_key(table.as_deref(), unknown),
        });
        let expected = &backticked[1.min(backticked.len())..];
        let best = expected
            .iter()
            .map(|c| (strsim::jaro_winkler(unknown, c), *c))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        hint = Some(match best {
            Some((score, c)) if score > 0.7 => format!("did you mean `{c}`?"),
            _ if expected.is_empty() => "remove this key".to_string(),
            _ => format!("remove it; this table takes: {}", expected.join(", ")),
        });
    } else if let (Some(h), false) = (&header, array_header) {
        // `[incident.events]` where a list of tables is meant: written twice
        // it is a duplicate key, once it is a table where a list belongs.
        const LISTS: [&str; 3] = ["incident.events", "sources.logs", "sources.databases"];
        if message.contains("expected a sequence")
            || (message.starts_with("duplicate key") && LISTS.contains(&h.as_str()))
        {
            key = Some(h.clone());
            hint = Some(format!(
                "`{h}` is a list of tables: write `[[{h}]]` (two brackets) above each entry"
            ));
        } else if message.starts_with("duplicate key") {
            key = Some(h.clone());
            hint = Some(format!("`[{h}]` appears twice; merge the two into one"));
        }
    } else if message.starts_with("duplicate key") {
        if let Some(field) = &field_text {
            let name = field.split('=').next().unwrap_or_default().trim();
            key = Some(join_key(table.as_deref(), name));
            hint = Some("this key is set twice in its table; keep one".to_string());
        }
    }
    if key.is_some() {
        // Said above.
    } else if message.starts_with("missing field") {
        let missing = backticked.first().copied().unwrap_or_default();
        key = Some(join_key(table.as_deref(), missing));
        hint = Some(format!("add `{missing} = …` to this table"));
    } else if let Some(field) = field_text {
        let name = field.split('=').next().unwrap_or_default().trim();
        if field.contains('=') && !name.is_empty() && !name.starts_with('[') && name.len() < 64 {
            key = Some(join_key(table.as_deref(), name));
        }
    }
    Error::from(ConfigError {
        path: path.to_path_buf(),
        line,
        column,
        key,
        message,
        hint,
    })
}

fn join_key(table: Option<&str>, field: &str) -> String {
    match table {
        Some(t) if !t.is_empty() => format!("{t}.{field}"),
        _ => field.to_string(),
    }
}

/// The commented `incident.toml` written by `sidik init`.
///
/// `tracker` is written relative to the incident folder when given.
pub fn template(id: &str, tracker: Option<&str>) -> String {
    let tracker_line = match tracker {
        Some(t) => format!("tracker = {}", toml_string(t)),
        None => {
            "# tracker = \"tracker.md\"          # the markdown tracker sidik ticks".to_string()
        }
    };
    format!(
        r#"# incident.toml: what sidik investigates and where the evidence is.
# Paths are relative to this folder. Secrets never go here: connection strings
# come from the environment (DATABASE_URL, PG* variables or `url_env`).

[incident]
id = {id}
title = "Orders stuck in ACTIVE after a traffic spike"
timezone = "Asia/Jakarta"             # local times without an offset are read in this zone
{tracker_line}

[incident.window]                     # half-open: [start, end)
start = "2025-01-12T00:00:00+07:00"
end = "2025-01-13T00:00:00+07:00"

# Known events drawn on timelines:
# [[incident.events]]
# at = "2025-01-12 19:30"
# label = "scaled order-orchestrator to 6 pods"
# kind = "config"

# Phases shaded on timelines when `sidik rca` has not detected them:
# [incident.phases]
# spike_start = "2025-01-12 19:00"
# error_onset = "2025-01-12 19:07"
# degradation_start = "2025-01-12 19:12"
# recovery = "2025-01-12 20:45"

# One block per service. format: auto, json, logfmt, logrus, cri,
# postgres-stderr, postgres-csv, postgres-json, regex.
# [[sources.logs]]
# service = "upg"
# paths = ["logs/upg/*.log*"]
# format = "auto"
# timezone = "Asia/Jakarta"           # for local times without an offset
# clock_offset = "0s"                 # Go duration added to every timestamp
# fields = {{ order_id = ["orderId", "order.id"] }}   # extra names per normalised field
#
# [[sources.logs]]
# service = "postgres"
# paths = ["logs/postgres/*.log"]
# format = "postgres-stderr"
# line_prefix = "%m [%p] %q%u@%d "

# [logs]
# rules = "rules.toml"                # extra error classes (regex), added to the shipped ones
# bucket = "1m"                       # timeline bucket
# compression = "lz4"                 # events Parquet codec: lz4 (fastest) or zstd (half the bytes)

# [[sources.databases]]
# name = "orders"
# url_env = "ORDERS_DATABASE_URL"     # the variable's name, never the URL itself
# role = "production"                 # production, replica, staging or test
# search_path = "public"              # schemas holding orders, payments, ho_postings

# [sources.metrics]
# prometheus_url = "http://127.0.0.1:9090"   # Prometheus, VictoriaMetrics, Thanos, Mimir
# token_env = "PROM_TOKEN"            # bearer token, by variable name; or username + password_env
# step = "1m"                         # resolution; imports are put on the same grid
# csv = ["metrics/cloud-eye.csv"]     # cloud-monitoring export: timestamp,metric,instance,value
# openmetrics = ["metrics/metrics.om"]
# [sources.metrics.queries]           # name = PromQL; the shipped set when left out
# go_goroutines = "sum by (service, instance) (go_goroutines)"

# [sources.recon]
# orders = "data/orders.csv"
# payments = "data/payments.csv"
# postings = "data/ho_postings.csv"

# Phase 5 reviews these settings against the incident (docs/capacity.md);
# every key is optional and what is left out is reported as unknown.
# [capacity]
# incident_users = 77000              # concurrent users at the peak
# target_users = 100000
#
# [topology.postgres]
# max_connections = 200
# reserved_connections = 3
#
# [[topology.service]]
# name = "mrg"
# replicas = 2
# pool_size = 15                      # connections per replica
# statement_timeout = "30s"
#
# [[topology.service.call]]
# to = "upg"                          # another [[topology.service]]
# timeout = "5s"
# retries = 1
# breaker = {{ failure_ratio = 0.05, window = "10s", min_requests = 5, open_for = "60s" }}
#
# [[topology.service]]
# name = "upg"
"#,
        id = toml_string(id),
    )
}

/// A TOML basic string literal for `s`.
pub fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Incident> {
        Incident::parse(
            text,
            IncidentDir::new("/inc"),
            Path::new("/inc/incident.toml"),
        )
    }

    fn config_err(text: &str) -> ConfigError {
        match parse(text) {
            Err(Error::Config(c)) => *c,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn template_parses_and_defaults_apply() {
        let inc = parse(&template("INC-1", Some("../tracker.md"))).unwrap();
        assert_eq!(inc.file.incident.id, "INC-1");
        assert_eq!(inc.tz, DEFAULT_TIMEZONE);
        assert_eq!(inc.window.unwrap().duration(), chrono::Duration::hours(24));
        assert_eq!(inc.tracker.unwrap(), PathBuf::from("/inc/../tracker.md"));
        let inc = parse(&template("x\"y", None)).unwrap();
        assert_eq!(inc.file.incident.id, "x\"y");
        assert!(inc.tracker.is_none());
    }

    #[test]
    fn the_templates_topology_parses_once_uncommented() {
        let t = template("INC-1", None);
        let part = t.split("# Phase 5 reviews").nth(1).unwrap();
        let open: String = part
            .lines()
            .skip(2)
            .map(|l| l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#')))
            .collect::<Vec<_>>()
            .join("\n");
        let inc = parse(&format!("[incident]\nid = \"x\"\n{open}\n")).unwrap();
        let topo = &inc.file.topology;
        assert_eq!(topo.service.len(), 2);
        assert_eq!(topo.service[0].call[0].to.get_ref(), "upg");
        assert_eq!(topo.callers("upg").count(), 1);
        assert_eq!(inc.file.capacity.incident_users, Some(77_000));
    }

    #[test]
    fn topology_values_are_checked() {
        let base = "[incident]\nid = \"x\"\n[[topology.service]]\nname = \"a\"\n";
        let e = config_err(&format!("{base}[[topology.service.call]]\nto = \"b\"\n"));
        assert_eq!(e.key.as_deref(), Some("topology.service[0].call[0].to"));
        assert_eq!(e.line, Some(6));
        assert!(
            e.message.contains("\"b\" is not a service"),
            "{}",
            e.message
        );
        let e = config_err(&format!(
            "{base}[[topology.service.call]]\nto = \"a\"\ntimeout = \"soon\"\n"
        ));
        // The call to itself is reported first.
        assert!(e.message.contains("calls itself"), "{}", e.message);
        let e = config_err(&format!("{base}statement_timeout = \"soon\"\n"));
        assert_eq!(
            e.key.as_deref(),
            Some("topology.service[0].statement_timeout")
        );
        let e = config_err(&format!(
            "{base}autoscaling = {{ min_replicas = 3, max_replicas = 2 }}\n"
        ));
        assert!(e.message.contains("below min_replicas"), "{}", e.message);
        let e = config_err(&format!("{base}[[topology.service]]\nname = \"a\"\n"));
        assert!(e.message.contains("described twice"), "{}", e.message);
        let e =
            config_err("[incident]\nid = \"x\"\n[topology.pgbouncer]\npool_mode = \"sessions\"\n");
        assert!(e.hint.unwrap().contains("transaction"));
        let e = config_err("[incident]\nid = \"x\"\n[capacity]\nmax_wait_probability = 2.0\n");
        assert_eq!(e.key.as_deref(), Some("capacity.max_wait_probability"));
    }

    #[test]
    fn unknown_key_names_line_key_and_fix() {
        let e = config_err("[incident]\nid = \"a\"\ntracker_path = \"t.md\"\n");
        assert_eq!(e.line, Some(3));
        assert_eq!(e.key.as_deref(), Some("incident.tracker_path"));
        assert_eq!(e.hint.as_deref(), Some("did you mean `tracker`?"));
        let shown = e.to_string();
        assert!(
            shown.starts_with("/inc/incident.toml:3:1: `incident.tracker_path`: unknown field"),
            "{shown}"
        );
        let e = config_err("[incident]\nid = \"a\"\n[[sources.logs]]\nservice = \"upg\"\npaths = []\n[[sources.logs]]\nservise = \"x\"\n");
        assert_eq!(e.key.as_deref(), Some("sources.logs[1].servise"));
        assert_eq!(e.line, Some(7));
        // A misspelt table header is named once, as written.
        let e = config_err("[incident]\nid = \"a\"\n[incident.windw]\nstart = \"2025-01-12\"\n");
        assert_eq!(e.key.as_deref(), Some("incident.windw"));
        assert_eq!(e.line, Some(3));
        assert_eq!(e.hint.as_deref(), Some("did you mean `window`?"));
    }

    #[test]
    fn a_list_of_tables_written_with_one_bracket_says_so() {
        let want = "`incident.events` is a list of tables: write `[[incident.events]]` (two brackets) above each entry";
        let once =
            "[incident]\nid = \"a\"\n[incident.events]\nat = \"2025-01-12 19:00\"\nlabel = \"x\"\n";
        let e = config_err(once);
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("incident.events"))
        );
        assert_eq!(e.hint.as_deref(), Some(want));
        let e = config_err(&format!(
            "{once}[incident.events]\nat = \"2025-01-12 20:00\"\nlabel = \"y\"\n"
        ));
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(6), Some("incident.events"))
        );
        assert_eq!(e.hint.as_deref(), Some(want));
        let e = config_err("[incident]\nid = \"a\"\nid = \"b\"\n");
        assert_eq!(e.key.as_deref(), Some("incident.id"));
        assert_eq!(
            e.hint.as_deref(),
            Some("this key is set twice in its table; keep one")
        );
    }

    #[test]
    fn bad_timezone_is_named_with_a_suggestion() {
        let e = config_err("[incident]\nid = \"a\"\ntimezone = \"Asia/Jakata\"\n");
        assert_eq!(e.key.as_deref(), Some("incident.timezone"));
        assert_eq!(e.line, Some(3));
        assert!(
            e.message.contains("did you mean \"Asia/Jakarta\""),
            "{}",
            e.message
        );
    }

    #[test]
    fn window_end_before_start_is_rejected() {
        let e = config_err(
            "[incident]\nid = \"a\"\n[incident.window]\nstart = \"2025-01-12 19:00\"\nend = \"2025-01-12 18:00\"\n",
        );
        assert_eq!(e.key.as_deref(), Some("incident.window.end"));
        assert_eq!(e.line, Some(5));
        assert!(e.hint.unwrap().contains("later"));
        let e = config_err("[incident]\nid = \"a\"\n[incident.window]\nstart = \"yesterday\"\nend = \"2025-01-12\"\n");
        assert_eq!(e.key.as_deref(), Some("incident.window.start"));
    }

    #[test]
    fn missing_and_mistyped_values() {
        let e = config_err("[incident]\ntitle = \"x\"\n");
        assert!(e.message.contains("missing field `id`"), "{}", e.message);
        assert_eq!(e.key.as_deref(), Some("incident.id"));
        let e = config_err("[incident]\nid = 7\n");
        assert_eq!(e.key.as_deref(), Some("incident.id"));
        assert_eq!(e.line, Some(2));
    }

    #[test]
    fn parquet_compression_is_one_of_two() {
        let base = "[incident]\nid = \"a\"\n[logs]\n";
        assert_eq!(
            parse(base).unwrap().file.logs.compression,
            ParquetCompression::Lz4
        );
        let inc = parse(&format!("{base}compression = \"zstd\"\n")).unwrap();
        assert_eq!(inc.file.logs.compression, ParquetCompression::Zstd);
        let e = config_err(&format!("{base}compression = \"gzip\"\n"));
        assert_eq!(e.key.as_deref(), Some("logs.compression"));
        assert_eq!(e.line, Some(4));
        assert!(
            e.message.contains("`lz4`") && e.message.contains("`zstd`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn source_values_are_checked() {
        let base = "[incident]\nid = \"a\"\n[[sources.logs]]\nservice = \"upg\"\npaths = [\"x\"]\n";
        let e = config_err(&format!("{base}format = \"jsonl\"\n"));
        assert_eq!(e.key.as_deref(), Some("sources.logs[0].format"));
        assert!(e.hint.unwrap().contains("logfmt"));
        let e = config_err(&format!("{base}format = \"regex\"\n"));
        assert!(e.message.contains("needs a `pattern`"));
        let e = config_err(&format!("{base}clock_offset = \"2 seconds\"\n"));
        assert_eq!(e.key.as_deref(), Some("sources.logs[0].clock_offset"));
        let e = config_err(&format!("{base}pattern = \"(unclosed\"\n"));
        assert_eq!(e.key.as_deref(), Some("sources.logs[0].pattern"));
        let e = config_err(
            "[incident]\nid = \"a\"\n[[sources.databases]]\nname = \"o\"\nrole = \"prod\"\n",
        );
        assert_eq!(e.key.as_deref(), Some("sources.databases[0].role"));
        let e =
            config_err("[incident]\nid = \"a\"\n[[sources.logs]]\nservice = \"upg\"\npaths = []\n");
        assert_eq!(e.key.as_deref(), Some("sources.logs[0].paths"));
    }
}
