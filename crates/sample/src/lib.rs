//! sidik-sample generates incidents with known ground truth: the service logs,
//! PostgreSQL log, metrics and data exports of a day like 2025-01-12, with one
//! of the tracker's five hypotheses injected as the root cause, and a
//! `ground_truth.json` saying exactly what was planted (stuck orders, payments
//! missing in HO, every break, the phase times). The demo, the tests and the
//! benchmarks of every other sidik crate run on it.
//!
//! It depends on sidik-core only: sharing code with the log parser or the
//! reconciler would let a bug in one hide in both.
//!
//! Every order is a pure function of (seed, scenario, order count, index), so
//! the writers run in parallel threads and stream: memory does not grow with
//! the number of orders, apart from the ground-truth lists.

#![deny(missing_docs)]

pub mod dialect;
pub mod exports;
pub mod fmt;
pub mod ledger;
pub mod load;
pub mod metrics;
pub mod model;
pub mod scenario;
pub mod services;
pub mod sink;
pub mod truth;
pub mod wording;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sidik_core::IncidentDir;

pub use scenario::Scenario;
pub use truth::GroundTruth;

use crate::dialect::{Dialect, Logger};
use crate::exports::ExportDialect;
use crate::model::{Model, SpikeShape};
use crate::services::PgPrefix;
use crate::sink::{Damage, LogSink};
use crate::wording::Words;

/// The seed tracker (`shared/seed/tracker.md`), byte for byte.
pub const SEED_TRACKER: &[u8] = include_bytes!("../assets/tracker.md");

/// Smallest and largest supported incident, in orders.
pub const ORDER_RANGE: std::ops::RangeInclusive<u64> = 1_000..=10_000_000;

/// What went wrong while generating or loading a sample.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// A file could not be written or read.
    #[error("could not {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The request itself is wrong.
    #[error("{0}")]
    Invalid(String),
    /// PostgreSQL refused or failed.
    #[error("{0}")]
    Postgres(String),
    /// From sidik-core.
    #[error(transparent)]
    Core(#[from] sidik_core::Error),
}

/// The sample's recovery statements for the decisions the shipped ones
/// leave to UPG's API: in the sample's world its `payments` table stands in
/// for that API.
const RECOVERY: [(&str, &str); 2] = [
    (
        "refund_duplicate.sql",
        include_str!("../recovery/refund_duplicate.sql"),
    ),
    (
        "cancel_refund.sql",
        include_str!("../recovery/cancel_refund.sql"),
    ),
];

fn write_recovery(out: &Path) -> Result<(), SampleError> {
    let dir = out.join("recovery");
    std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
    for (name, text) in RECOVERY {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(io_err("write", &p))?;
    }
    Ok(())
}

fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> SampleError + 'a {
    move |source| SampleError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// One service log to write, on its own thread.
struct LogJob {
    sub: &'static str,
    name: &'static str,
    service: &'static str,
    format: String,
    damage: Damage,
    svc: Box<dyn services::ServiceLog + Send>,
}

/// Options of [`generate`].
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// The incident folder to write.
    pub out: PathBuf,
    /// The injected root cause.
    pub scenario: Scenario,
    /// Number of orders.
    pub orders: u64,
    /// Random seed; the same seed gives byte-identical output.
    pub seed: u64,
    /// Write into a folder that already has files.
    pub force: bool,
    /// Draw each service's log dialect, the error wordings, the PostgreSQL
    /// prefix, the spike's shape and the exports' names and signs from the
    /// seed ([`Draw::varied`]), instead of the default sample's.
    pub vary: bool,
}

/// The formats and shapes of one incident: the default sample's, or drawn
/// from the catalogue of real loggers and export conventions.
#[derive(Debug, Clone)]
pub struct Draw {
    /// MRG's log.
    pub mrg: Dialect,
    /// UPG's log.
    pub upg: Dialect,
    /// The Order Orchestrator's log.
    pub orchestrator: Dialect,
    /// Error wordings.
    pub words: Words,
    /// PostgreSQL's `log_line_prefix` and time zone.
    pub pg: PgPrefix,
    /// How the traffic spike rises.
    pub shape: SpikeShape,
    /// The data exports.
    pub exports: ExportDialect,
}

impl Draw {
    /// The default sample's formats.
    pub fn classic() -> Draw {
        Draw {
            mrg: Dialect::classic(Logger::ClassicLogrus),
            upg: Dialect::classic(Logger::ClassicZap),
            orchestrator: Dialect::classic(Logger::ClassicZerolog),
            words: Words::classic(),
            pg: PgPrefix::Debian,
            shape: SpikeShape::Ramp,
            exports: ExportDialect::classic(),
        }
    }

    /// The draw of `seed` and `scenario`: the same pair gives the same dialects.
    pub fn varied(seed: u64, scenario: Scenario) -> Draw {
        use rand::{Rng, SeedableRng};
        let salt = Scenario::ALL
            .iter()
            .position(|s| *s == scenario)
            .unwrap_or(0) as u64;
        let mut r = rand_pcg::Pcg64Mcg::seed_from_u64(
            (seed ^ 0x5EED_D1A1_EC75_0001).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt,
        );
        Draw {
            mrg: Dialect::draw(&mut r, "mrg-6d8f7b9c4-x2k8p"),
            upg: Dialect::draw(&mut r, "upg-5c7d9f8b6-q4m2n"),
            orchestrator: Dialect::draw(&mut r, "order-orchestrator-7b5c6d9f8-h7j3k"),
            words: Words::draw(&mut r),
            pg: PgPrefix::ALL[r.random_range(0..PgPrefix::ALL.len())],
            shape: SpikeShape::ALL[r.random_range(0..SpikeShape::ALL.len())],
            exports: ExportDialect::draw(&mut r),
        }
    }

    /// The draw of these options.
    pub fn of(opts: &GenerateOptions) -> Draw {
        if opts.vary {
            Draw::varied(opts.seed, opts.scenario)
        } else {
            Draw::classic()
        }
    }

    /// What was drawn, for `ground_truth.json`.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "mrg": self.mrg.describe(),
            "upg": self.upg.describe(),
            "order-orchestrator": self.orchestrator.describe(),
            "postgres": match self.pg {
                PgPrefix::Csv => "csvlog".to_string(),
                p => format!("stderr, log_line_prefix '{}'", p.setting()),
            },
            "spike_shape": self.shape.name(),
            "wordings": {
                "too_many_clients": self.words.too_many_clients,
                "client_timeout": self.words.client_timeout,
                "status_timeout": self.words.status_timeout,
                "breaker": self.words.breaker,
                "callback": self.words.callback_msg,
                "callback_errors": self.words.callback_errors,
                "deadlock": self.words.deadlock,
                "handled_twice": self.words.twice,
            },
            "exports": self.exports,
        })
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The incident folder.
    pub out: PathBuf,
    /// Every file written, relative to `out`, with its size in bytes.
    pub files: Vec<(String, u64)>,
    /// The ground truth (also in `ground_truth.json`).
    pub truth: GroundTruth,
    /// Wall-clock time taken.
    pub elapsed: Duration,
}

/// Generates an incident folder.
pub fn generate(opts: &GenerateOptions) -> Result<Summary, SampleError> {
    let started = Instant::now();
    check_orders(opts.orders)?;
    let out = &opts.out;
    if out.exists() && !opts.force {
        let mut entries = std::fs::read_dir(out).map_err(io_err("read folder", out))?;
        if entries.next().is_some() {
            return Err(SampleError::Invalid(format!(
                "{} already has files; choose an empty folder or pass --force to overwrite the generated files",
                out.display()
            )));
        }
    }
    let dir = IncidentDir::create(out)?;
    let draw = Draw::of(opts);
    let model = Model::shaped(opts.seed, opts.scenario, opts.orders, draw.shape);
    let sc = opts.scenario;
    let service = |d: &Dialect| services::Service {
        sc,
        words: draw.words.clone(),
        dialect: d.clone(),
    };
    let format = |d: &Dialect| {
        if opts.vary {
            d.logger.name().to_string()
        } else if d.logger.json() {
            "json".to_string()
        } else {
            "logrus".to_string()
        }
    };
    let damage = |d: &Dialect| {
        // A cut console line still reads as a record, and its stack lines
        // belong to the one before: none are damaged on purpose.
        if d.logger == Logger::ZapDevelopment {
            Damage::None
        } else if d.logger.json()
            || matches!(
                d.wrapper,
                dialect::Wrapper::CloudLogging | dialect::Wrapper::Docker
            )
        {
            Damage::Json
        } else {
            Damage::Quoted
        }
    };

    let mut truth = truth::TruthBuilder::new(sc);
    let data_dir = out.join("data");
    let (exports_res, logs_res) = std::thread::scope(|s| {
        let exports = s.spawn(|| exports::write(&model, &data_dir, &draw.exports, &mut truth));
        let weights: Vec<f64> = {
            let peak = model.weights().iter().cloned().fold(0.0, f64::max);
            model.weights().iter().map(|w| w / peak).collect()
        };
        let jobs = [
            LogJob {
                sub: "mrg",
                name: "mrg.log",
                service: "mrg",
                format: format(&draw.mrg),
                damage: damage(&draw.mrg),
                svc: Box::new(services::Mrg(service(&draw.mrg))),
            },
            LogJob {
                sub: "upg",
                name: "upg.log",
                service: "upg",
                format: format(&draw.upg),
                damage: damage(&draw.upg),
                svc: Box::new(services::Upg(service(&draw.upg))),
            },
            LogJob {
                sub: "order-orchestrator",
                name: "orchestrator.log",
                service: "order-orchestrator",
                format: format(&draw.orchestrator),
                damage: damage(&draw.orchestrator),
                svc: Box::new(services::Orchestrator(service(&draw.orchestrator))),
            },
            LogJob {
                sub: "postgres",
                name: if draw.pg == PgPrefix::Csv {
                    "postgresql-2025-01-12.csv"
                } else {
                    "postgresql-2025-01-12.log"
                },
                service: "postgres",
                format: if draw.pg == PgPrefix::Csv {
                    "postgres-csv".to_string()
                } else {
                    "postgres-stderr".to_string()
                },
                damage: Damage::None,
                svc: Box::new(services::Postgres {
                    scenario: sc,
                    load: weights,
                    prefix: draw.pg,
                    too_many: draw.words.pg_too_many,
                }),
            },
        ];
        let handles: Vec<_> = jobs
            .into_iter()
            .enumerate()
            .map(|(i, job)| {
                let model = &model;
                s.spawn(move || -> Result<(Vec<truth::LogFileTruth>, services::LogStats), SampleError> {
                    let d = out.join("logs").join(job.sub);
                    let rel = format!("logs/{}", job.sub);
                    let mut sink =
                        LogSink::create(&d, &rel, job.name, job.service, job.format, job.damage, model.stream(100 + i as u64))
                            .map_err(io_err("create log files in", &d))?;
                    let stats = services::write_log(model, job.svc.as_ref(), &mut sink)
                        .map_err(io_err("write log files in", &d))?;
                    Ok((sink.finish().map_err(io_err("finish log files in", &d))?, stats))
                })
            })
            .collect();
        let logs: Result<Vec<_>, SampleError> = handles
            .into_iter()
            .map(|h| h.join().expect("log writer thread panicked"))
            .collect();
        (exports.join().expect("export writer thread panicked"), logs)
    });
    exports_res.map_err(io_err("write exports in", &data_dir))?;
    let mut logs = Vec::new();
    let mut first_error: Option<scenario::Millis> = None;
    let mut classes: std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>> =
        Default::default();
    for (files, stats) in logs_res? {
        logs.extend(files);
        first_error = match (first_error, stats.first_error) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        for ((minute, class), n) in stats.classes {
            *classes
                .entry(class.to_string())
                .or_default()
                .entry(fmt::rfc3339_wib(minute * 60_000))
                .or_default() += n;
        }
    }

    let metrics_dir = out.join("metrics");
    metrics::write(&model, &metrics_dir).map_err(io_err("write metrics in", &metrics_dir))?;

    let tracker = out.join("tracker.md");
    std::fs::write(&tracker, SEED_TRACKER).map_err(io_err("write", &tracker))?;
    let config = dir.config_path();
    std::fs::write(&config, incident_toml(opts)).map_err(io_err("write", &config))?;
    write_recovery(out)?;

    let mut truth = truth.finish(
        opts.seed,
        opts.orders,
        logs,
        classes,
        first_error,
        metrics::MAX_CONNECTIONS,
    );
    if opts.vary {
        truth.generator.insert("vary", serde_json::json!(true));
        truth.generator.insert("draw", draw.describe());
    }
    let truth_path = out.join("ground_truth.json");
    let write_truth = || -> std::io::Result<()> {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&truth_path)?);
        serde_json::to_writer_pretty(&mut w, &truth)?;
        std::io::Write::write_all(&mut w, b"\n")?;
        std::io::Write::flush(&mut w)
    };
    write_truth().map_err(io_err("write", &truth_path))?;

    let mut files = Vec::new();
    collect_files(out, out, &mut files).map_err(io_err("list", out))?;
    files.sort();
    Ok(Summary {
        out: out.clone(),
        files,
        truth,
        elapsed: started.elapsed(),
    })
}

fn check_orders(orders: u64) -> Result<(), SampleError> {
    if ORDER_RANGE.contains(&orders) {
        return Ok(());
    }
    Err(SampleError::Invalid(format!(
        "--orders {orders} is outside the supported range {} to {}",
        ORDER_RANGE.start(),
        ORDER_RANGE.end()
    )))
}

/// Writes only the data exports (orders, payments, HO postings), the tracker,
/// `incident.toml` and the ground truth of the exports: no logs and no
/// metrics. For benchmarks and tests of the reconciliation at sizes where the
/// logs would take most of the disk and time.
pub fn generate_exports(opts: &GenerateOptions) -> Result<(), SampleError> {
    check_orders(opts.orders)?;
    let out = &opts.out;
    let dir = IncidentDir::create(out)?;
    let draw = Draw::of(opts);
    let model = Model::shaped(opts.seed, opts.scenario, opts.orders, draw.shape);
    let mut truth = truth::TruthBuilder::new(opts.scenario);
    let data_dir = out.join("data");
    exports::write(&model, &data_dir, &draw.exports, &mut truth)
        .map_err(io_err("write exports in", &data_dir))?;
    let tracker = out.join("tracker.md");
    std::fs::write(&tracker, SEED_TRACKER).map_err(io_err("write", &tracker))?;
    let config = dir.config_path();
    std::fs::write(&config, incident_toml(opts)).map_err(io_err("write", &config))?;
    write_recovery(out)?;
    let truth = truth.finish(
        opts.seed,
        opts.orders,
        Vec::new(),
        Default::default(),
        None,
        metrics::MAX_CONNECTIONS,
    );
    let truth_path = out.join("ground_truth.json");
    let mut w = std::io::BufWriter::new(
        std::fs::File::create(&truth_path).map_err(io_err("write", &truth_path))?,
    );
    serde_json::to_writer(&mut w, &truth)
        .map_err(|e| std::io::Error::other(e.to_string()))
        .and_then(|_| std::io::Write::flush(&mut w))
        .map_err(io_err("write", &truth_path))?;
    Ok(())
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<(String, u64)>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let p = e.path();
        if p.is_dir() {
            collect_files(root, &p, out)?;
        } else {
            let rel = p
                .strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, e.metadata()?.len()));
        }
    }
    Ok(())
}

/// The `incident.toml` of a generated incident.
pub fn incident_toml(opts: &GenerateOptions) -> String {
    if opts.vary {
        return varied_toml(opts, &Draw::varied(opts.seed, opts.scenario));
    }
    format!(
        r#"# Generated by `sidik sample generate --scenario {sc} --orders {n} --seed {seed}`.
# ground_truth.json says what was planted; the tools must find exactly that.

[incident]
id = "SAMPLE-2025-01-12-{sc}"
title = "Order gantung after the 77k-user traffic spike (sample: {sc})"
timezone = "Asia/Jakarta"
tracker = "tracker.md"

[incident.window]
start = "2025-01-12T00:00:00+07:00"
end = "2025-01-13T00:00:00+07:00"

[[incident.events]]
at = "2025-01-12 10:15"
label = "upg v2.14.0 deployed"
kind = "deploy"

[[incident.events]]
at = "2025-01-12 20:40"
label = "order-orchestrator scaled from 2 to 6 pods"
kind = "config"

[[sources.logs]]
service = "mrg"
paths = ["logs/mrg/mrg.log*"]
format = "logrus"
timezone = "Asia/Jakarta"   # MRG logs local time without an offset

[[sources.logs]]
service = "upg"
paths = ["logs/upg/upg.log*"]
format = "json"

[[sources.logs]]
service = "order-orchestrator"
paths = ["logs/order-orchestrator/orchestrator.log*"]
format = "json"

[[sources.logs]]
service = "postgres"
paths = ["logs/postgres/postgresql-*.log*"]
format = "postgres-stderr"
line_prefix = "{prefix}"

[[sources.databases]]
name = "orders"
url_env = "SIDIK_SAMPLE_DATABASE_URL"   # `sidik sample load` or `sidik demo --with-postgres` fill it
role = "test"
search_path = "sidik_sample, public"

[sources.metrics]
csv = ["metrics/cloud-eye.csv"]
openmetrics = ["metrics/metrics.om"]
# prometheus_url = "http://127.0.0.1:9090"   # `sidik metrics fetch` asks a server holding these series

# The sample's series are plain gauges: each query is the metric's name.
[sources.metrics.queries]
request_rate = "request_rate"
http_5xx_rate = "http_5xx_rate"
latency_p99_ms = "latency_p99_ms"
go_goroutines = "go_goroutines"
go_gc_pause_p99_seconds = "go_gc_pause_p99_seconds"
go_memstats_heap_inuse_bytes = "go_memstats_heap_inuse_bytes"
db_connections = "db_connections"
db_max_connections = "db_max_connections"

[sources.recon]
orders = "data/orders.csv"
payments = "data/payments.csv"
postings = "data/ho_postings.csv"

# Phase 4 applies its plan to the database above (`sidik recover apply`).
# The shipped statements complete stuck orders and post to HO; the refunds
# go through recovery/*.sql, the sample's stand-in for UPG's refund API.
[recover]
statements = "recovery"

# Phase 5 plans capacity for this many users and reviews the settings below
# against the incident (docs/capacity.md). The same production settings for
# every scenario: the evidence decides which of them failed.
[capacity]
incident_users = 77000
target_users = 100000

[topology.postgres]
max_connections = 200
reserved_connections = 3
cores = 16
spindles = 1

[[topology.service]]
name = "mrg"
replicas = 2
pool_size = 15
pool_timeout = "30s"
statement_timeout = "30s"

[[topology.service.call]]
to = "upg"
timeout = "5s"
retries = 1
backoff = "500ms"
breaker = {{ failure_ratio = 0.05, window = "10s", min_requests = 5, open_for = "60s", half_open_requests = 1 }}

[[topology.service.call]]
to = "ho"
timeout = "10s"
retries = 2
backoff = "1s"
breaker = {{ failure_ratio = 0.05, window = "10s", min_requests = 5, open_for = "60s", half_open_requests = 1 }}

[[topology.service]]
name = "upg"
replicas = 2
pool_size = 50
pool_timeout = "30s"
statement_timeout = "30s"

[[topology.service.call]]
to = "order-orchestrator"
timeout = "3s"
retries = 3
backoff = "1s"
breaker = {{ failure_ratio = 0.05, window = "10s", min_requests = 5, open_for = "60s", half_open_requests = 1 }}

[[topology.service.call]]
to = "ho"
timeout = "5s"
retries = 1
backoff = "2s"
breaker = {{ failure_ratio = 0.05, window = "10s", min_requests = 5, open_for = "60s", half_open_requests = 1 }}

[[topology.service]]
name = "order-orchestrator"   # one replica: the tracker's single point of failure
replicas = 1
pool_size = 120
pool_timeout = "30s"
statement_timeout = "30s"
autoscaling = {{ metric = "cpu", target = 0.7, min_replicas = 1, max_replicas = 6, cooldown = "5m" }}

[[topology.service]]
name = "ho"                   # the head-office ledger's API: no pool of ours
"#,
        sc = opts.scenario.name(),
        n = opts.orders,
        seed = opts.seed,
        prefix = services::PG_LINE_PREFIX,
    )
}

/// The `incident.toml` a person writes for a varied incident: every log read
/// with `format = "auto"`, and only what sidik cannot guess written down
/// (field names it does not know, units of bare numbers, the exports' names).
fn varied_toml(opts: &GenerateOptions, draw: &Draw) -> String {
    let full = incident_toml(&GenerateOptions {
        vary: false,
        ..opts.clone()
    });
    let head = full
        .split("[[sources.logs]]")
        .next()
        .expect("split yields one part")
        .replace(
            &format!("--seed {}`.", opts.seed),
            &format!("--seed {} --vary`.", opts.seed),
        );
    let mut out = head;
    for (service, sub, name, d) in [
        ("mrg", "mrg", "mrg.log", &draw.mrg),
        ("upg", "upg", "upg.log", &draw.upg),
        (
            "order-orchestrator",
            "order-orchestrator",
            "orchestrator.log",
            &draw.orchestrator,
        ),
    ] {
        out.push_str(&format!(
            "[[sources.logs]]\nservice = \"{service}\"\npaths = [\"logs/{sub}/{name}*\"]\nformat = \"auto\"   # {}\n{}\n",
            d.logger.name(),
            d.source_settings(service != "order-orchestrator")
        ));
    }
    out.push_str(
        "[[sources.logs]]\nservice = \"postgres\"\npaths = [\"logs/postgres/postgresql-*\"]\nformat = \"auto\"\n\n",
    );
    let rest = full
        .split_once("[[sources.databases]]")
        .map(|(_, r)| r)
        .expect("the classic incident.toml has a database");
    out.push_str("[[sources.databases]]");
    out.push_str(rest);
    out.push_str(&draw.exports.recon_toml());
    out
}
