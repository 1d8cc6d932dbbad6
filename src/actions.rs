//! The actions playbooks can run, registered by name in one place
//! ([`registry`]). Each one reads what `incident.toml` points at, writes its
//! evidence (`evidence/STEP.*`) and report (`reports/STEP.md`), and returns a
//! one-line result for the tracker.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use sidik_core::time::parse_time;
use sidik_core::Incident;
use sidik_playbook::{Action, Context, Done, Outcome, Registry};

/// Every action sidik has.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(CollectLogs);
    r.register(CollectMetrics);
    r.register(MetricsRuntime);
    r.register(CollectExport);
    r.register(PgQuery);
    r.register(PgSnapshot);
    r.register(LogsIngest);
    r.register(LogsPatterns);
    r.register(LogsJourneys);
    r.register(PgSample);
    r.register(ReconRun);
    r.register(ChartTimeline);
    r.register(ChartRecon);
    r.register(Rca(RcaPart::Score));
    r.register(Rca(RcaPart::Validate));
    r.register(Rca(RcaPart::Document));
    r.register(Rca(RcaPart::Contributing));
    r.register(IncidentReport);
    r
}

/// The named queries shipped in `queries/`.
pub const QUERIES: &[(&str, &str)] = &[
    ("stuck_orders", include_str!("../queries/stuck_orders.sql")),
    (
        "missing_in_ho",
        include_str!("../queries/missing_in_ho.sql"),
    ),
    (
        "financial_impact",
        include_str!("../queries/financial_impact.sql"),
    ),
    (
        "payment_status_by_day",
        include_str!("../queries/payment_status_by_day.sql"),
    ),
    (
        "connection_count",
        include_str!("../queries/connection_count.sql"),
    ),
    (
        "connection_pool_status",
        include_str!("../queries/connection_pool_status.sql"),
    ),
    ("lock_waits", include_str!("../queries/lock_waits.sql")),
    ("slow_queries", include_str!("../queries/slow_queries.sql")),
];

fn write(path: &Path, text: &str) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    sidik_core::folder::write_atomic(path, text.as_bytes()).map_err(|e| e.to_string())
}

pub use sidik_core::fmt::{count, idr};

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1_048_576.0)
}

fn local(t: DateTime<Utc>, inc: &Incident) -> String {
    local_ms(inc, t.timestamp_millis())
}

/// Files matching a path or glob, relative to the incident folder.
fn matching(inc: &Incident, pattern: &str) -> Vec<PathBuf> {
    let abs = inc.dir.resolve(pattern);
    let Some(text) = abs.to_str() else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = glob::glob(text)
        .map(|g| g.filter_map(|p| p.ok()).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

fn compression(path: &Path) -> &'static str {
    let mut magic = [0u8; 6];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut magic))
        .unwrap_or(0);
    match &magic[..n] {
        [0x1f, 0x8b, ..] => "gzip",
        [0x28, 0xb5, 0x2f, 0xfd, ..] => "zstd",
        [b'B', b'Z', b'h', ..] => "bzip2",
        [0xfd, b'7', b'z', b'X', b'Z', 0x00] => "xz",
        _ => "none",
    }
}

// ------------------------------------------------------------------ collect.logs

/// Inventory of the services' log files.
struct CollectLogs;

impl Action for CollectLogs {
    fn name(&self) -> &'static str {
        "collect.logs"
    }
    fn summary(&self) -> &'static str {
        "Check that every service's log files are in the incident folder; record them with their digests"
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        ctx.incident
            .file
            .sources
            .logs
            .iter()
            .flat_map(|s| s.paths.iter().flat_map(|p| matching(&ctx.incident, p)))
            .collect()
    }
    fn run(&self, ctx: &Context) -> Outcome {
        let inc = &ctx.incident;
        let sources = &inc.file.sources.logs;
        if sources.is_empty() {
            return Outcome::Failed(format!(
                "{} lists no [[sources.logs]]; add one block per service (MRG, UPG, Order Orchestrator) with the exported files",
                inc.dir.config_path().display()
            ));
        }
        let mut json = Vec::new();
        let mut md = String::from("# Log files\n\n| service | format | file | size | compression |\n|---|---|---|---:|---|\n");
        let (mut files, mut bytes, mut compressed) = (0, 0u64, 0);
        let mut missing = Vec::new();
        for s in sources {
            let mut found: Vec<PathBuf> = Vec::new();
            for p in &s.paths {
                let got = matching(inc, p);
                // A path that matches nothing beside one that does is a file missed.
                if got.is_empty() {
                    missing.push(format!("{} `{p}`", s.service));
                }
                found.extend(got);
            }
            let format = s
                .format
                .as_ref()
                .map_or("auto".to_string(), |f| f.get_ref().clone());
            let mut list = Vec::new();
            for f in &found {
                let size = std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
                let comp = compression(f);
                let rel = inc.dir.relative(f);
                let _ = writeln!(
                    md,
                    "| {} | {format} | [{rel}](../{rel}) | {} | {comp} |",
                    s.service,
                    mib(size)
                );
                list.push(serde_json::json!({"path": rel, "bytes": size, "compression": comp}));
                files += 1;
                bytes += size;
                compressed += usize::from(comp != "none");
            }
            json.push(serde_json::json!({"service": s.service, "format": format, "files": list}));
        }
        if !missing.is_empty() {
            return Outcome::Failed(format!("no log file found for: {}; export them into the incident folder or fix the paths in incident.toml", missing.join("; ")));
        }
        let result = format!(
            "{} services, {files} files, {} ({compressed} compressed)",
            sources.len(),
            mib(bytes)
        );
        let _ = writeln!(md, "\n{result}.");
        let evidence = ctx.evidence_path("json");
        let report = ctx.report_path();
        if let Err(e) = write(
            &evidence,
            &serde_json::to_string_pretty(&json).unwrap_or_default(),
        )
        .and_then(|_| write(&report, &md))
        {
            return Outcome::Failed(e);
        }
        Outcome::Succeeded(Done {
            outputs: vec![evidence],
            report: Some(report),
            charts: vec![],
            result,
        })
    }
}

// ------------------------------------------------------------------ collect.metrics

/// Imports the metrics exports, or fetches them from the server, into the metrics frame.
struct CollectMetrics;

impl Action for CollectMetrics {
    fn name(&self) -> &'static str {
        "collect.metrics"
    }
    fn summary(&self) -> &'static str {
        "Import the metrics exports (CSV, OpenMetrics) or fetch them from a Prometheus-compatible server into evidence/metrics/, and check they cover the window"
    }
    fn params(&self) -> &'static [&'static str] {
        &["from"]
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        let Some(m) = &ctx.incident.file.sources.metrics else {
            return Vec::new();
        };
        m.csv
            .iter()
            .chain(&m.openmetrics)
            .flat_map(|p| matching(&ctx.incident, p))
            .chain([ctx.incident.dir.config_path()])
            .collect()
    }
    fn run(&self, ctx: &Context) -> Outcome {
        let inc = &ctx.incident;
        let Some(m) = &inc.file.sources.metrics else {
            return Outcome::Failed(format!("{} has no [sources.metrics]; add the cloud-monitoring CSV export, OpenMetrics files or prometheus_url", inc.dir.config_path().display()));
        };
        // `auto`: the server when one is configured, the exports otherwise.
        let from = ctx.str_param("from").unwrap_or("auto");
        let server = match from {
            "server" => true,
            "files" => false,
            "auto" => m.prometheus_url.is_some(),
            other => {
                return Outcome::Failed(format!(
                    "step parameter from = \"{other}\": use files, server or auto"
                ))
            }
        };
        let collected = if server {
            crate::metrics_cmd::fetch(inc, &Default::default())
        } else {
            crate::metrics_cmd::import(inc)
        };
        let c = match collected {
            Ok(c) => c,
            Err(e) => return Outcome::Failed(format!("{e:#}")),
        };
        if let Err(e) = write(&ctx.report_path(), &c.report) {
            return Outcome::Failed(e);
        }
        if let Some(p) = c.problem {
            return Outcome::Failed(p);
        }
        Outcome::Succeeded(Done {
            outputs: c.outputs,
            report: Some(ctx.report_path()),
            charts: vec![],
            result: c.summary,
        })
    }
}

/// Go runtime findings from the metrics frame.
struct MetricsRuntime;

impl Action for MetricsRuntime {
    fn name(&self) -> &'static str {
        "metrics.runtime"
    }
    fn summary(&self) -> &'static str {
        "Find goroutine growth that does not follow load, GC pause changes at the spike, heap growth and file descriptors near their limit"
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        vec![ctx.incident.dir.evidence().join("metrics/metrics.csv")]
    }
    fn run(&self, ctx: &Context) -> Outcome {
        let inc = &ctx.incident;
        let frame = match sidik_metrics::Frame::read(&inc.dir.evidence().join("metrics")) {
            Ok(f) => f,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let f = sidik_metrics::runtime::findings(&frame);
        let (md, summary) = crate::metrics_cmd::runtime_report(inc, &f);
        let json = inc.dir.evidence().join("metrics/runtime.json");
        if let Err(e) = write(&json, &serde_json::to_string_pretty(&f).unwrap_or_default())
            .and_then(|_| write(&ctx.report_path(), &md))
        {
            return Outcome::Failed(e);
        }
        Outcome::Succeeded(Done {
            outputs: vec![json],
            report: Some(ctx.report_path()),
            charts: vec![],
            result: summary,
        })
    }
}

// ------------------------------------------------------------------ recon.run

/// Reconciles payments, HO postings and orders (sidik-recon).
struct ReconRun;

/// Fills `{CODE}` (rows), `{CODE:idr}` (rupiah), `{stuck}`, `{breaks}`,
/// `{breaks:idr}` (the rupiah at stake, each charge once) and `{matched}`
/// from a reconciliation.
fn fill_recon(template: &str, o: &sidik_recon::engine::Outcome) -> String {
    let breaks: Vec<&sidik_recon::engine::Break> = o
        .breaks
        .iter()
        .filter(|b| !sidik_recon::engine::code::TIMING.contains(&b.category))
        .collect();
    fill(template, |_, name, fmt| {
        let tally = o.by_category.get(name).copied().unwrap_or_default();
        match (name, fmt) {
            ("stuck", _) => count(o.stuck.len() as i64),
            ("matched", _) => count(o.matched_orders as i64),
            // Each charge once: a stuck order's unposted charge is two breaks of the same money.
            ("breaks", "idr") => idr(o.at_stake()),
            ("breaks", _) => count(breaks.len() as i64),
            (_, "idr") => idr(tally.amount),
            _ => count(tally.count as i64),
        }
    })
}

impl Action for ReconRun {
    fn name(&self) -> &'static str {
        "recon.run"
    }
    fn summary(&self) -> &'static str {
        "Reconcile UPG payments, HO postings and orders: breaks by category with rupiah, stuck orders, a re-push batch"
    }
    fn params(&self) -> &'static [&'static str] {
        &["from", "database", "expect_clean", "result"]
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        let r = ctx.incident.file.sources.recon.clone().unwrap_or_default();
        [r.orders, r.payments, r.postings]
            .into_iter()
            .flatten()
            .map(|f| ctx.incident.dir.resolve(f))
            .collect()
    }
    fn run(&self, ctx: &Context) -> Outcome {
        let inc = &ctx.incident;
        let s = match sidik_recon::output::settings(inc) {
            Ok(s) => s,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let src = match ctx.str_param("from").unwrap_or("files") {
            "files" => sidik_recon::output::load_files(inc, &s).map_err(|e| e.to_string()),
            "db" => {
                let (url, opts, _) = match database(ctx) {
                    Ok(x) => x,
                    Err(o) => return o,
                };
                crate::recon_cmd::load_db(&url, &opts, &s).map_err(|e| format!("{e:#}"))
            }
            other => Err(format!("`from` must be files or db, not {other:?}")),
        };
        let mut src = match src {
            Ok(x) => x,
            Err(e) => return Outcome::Failed(e),
        };
        let o = match sidik_recon::engine::reconcile_sources(&mut src, &s) {
            Ok(o) => o,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let w = match sidik_recon::output::write_all(inc, &o, &src, &s, &ctx.report_path()) {
            Ok(w) => w,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let mut result = fill_recon(
            ctx.str_param("result")
                .unwrap_or("{breaks} breaks ({breaks:idr}); {MISSING_IN_HO} charges not posted to HO ({MISSING_IN_HO:idr}); {stuck} stuck orders"),
            &o,
        );
        let clean = ctx
            .params
            .get("expect_clean")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        if !o.is_complete() {
            result = format!(
                "INCOMPLETE, {} rows ({}) set aside: {result}",
                count(o.rejected.count),
                idr(o.rejected.amount)
            );
            // "Reconciliation completed" cannot be said of part of the data.
            if clean {
                return Outcome::Failed(format!(
                    "{}; see {}",
                    crate::recon_cmd::partial_note(&o, &src, inc),
                    inc.dir.relative(&w.report)
                ));
            }
        }
        if clean && o.has_breaks() {
            return Outcome::Failed(format!("{result}; see {}", inc.dir.relative(&w.report)));
        }
        Outcome::Succeeded(Done {
            outputs: w.evidence,
            report: Some(w.report),
            charts: vec![],
            result,
        })
    }
}

// ------------------------------------------------------------------ collect.export

/// Profiles one data export (payments, HO postings, orders).
struct CollectExport;

impl CollectExport {
    fn file(ctx: &Context) -> Result<(PathBuf, &'static str), String> {
        let r = ctx.incident.file.sources.recon.clone().unwrap_or_default();
        let (path, noun) = match ctx.str_param("source") {
            Some("payments") => (r.payments, "payments"),
            Some("postings") => (r.postings, "HO postings"),
            Some("orders") => (r.orders, "orders"),
            other => {
                return Err(format!(
                    "parameter `source` must be payments, postings or orders, not {other:?}"
                ))
            }
        };
        let path = path.ok_or_else(|| {
            format!(
                "{} names no {noun} export under [sources.recon]",
                ctx.incident.dir.config_path().display()
            )
        })?;
        Ok((ctx.incident.dir.resolve(path), noun))
    }
}

impl Action for CollectExport {
    fn name(&self) -> &'static str {
        "collect.export"
    }
    fn summary(&self) -> &'static str {
        "Profile a data export (payments, HO postings, orders): rows, statuses, amounts, time range; malformed rows set aside"
    }
    fn params(&self) -> &'static [&'static str] {
        &["source"]
    }
    fn required(&self) -> &'static [&'static str] {
        &["source"]
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        CollectExport::file(ctx)
            .map(|f| vec![f.0])
            .unwrap_or_default()
    }
    fn run(&self, ctx: &Context) -> Outcome {
        let inc = &ctx.incident;
        let (path, noun) = match CollectExport::file(ctx) {
            Ok(f) => f,
            Err(e) => return Outcome::Failed(e),
        };
        let rel = inc.dir.relative(&path);
        if !path.is_file() {
            return Outcome::Failed(format!(
                "{rel} not found; export the {noun} into the incident folder"
            ));
        }
        let source = ctx.str_param("source").unwrap_or("payments");
        let which = sidik_recon::profile::Export::parse(source)
            .unwrap_or(sidik_recon::profile::Export::Payments);
        // Read as recon reads it: the same column map, value words, signs
        // and times, so the figures ticked here are the ones recon uses.
        let settings = match sidik_recon::output::settings(inc) {
            Ok(s) => s,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let rows = sidik_recon::output::file_rows(inc, which.source(), &rel, &settings);
        let p = match rows.and_then(|r| sidik_recon::profile::profile(which, r, &settings)) {
            Ok(p) => p,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let ms = |t: i64| DateTime::<Utc>::from_timestamp_millis(t).unwrap_or_default();
        let range = match p.span {
            Some((f, l)) => format!("{} – {} {}", local(ms(f), inc), local(ms(l), inc), inc.tz),
            None => "no row with a readable time".to_string(),
        };
        let group_word = match which {
            sidik_recon::profile::Export::Payments => "kind and status",
            sidik_recon::profile::Export::Postings => "journal type",
            sidik_recon::profile::Export::Orders => "status",
        };
        let groups: Vec<String> = p
            .groups
            .iter()
            .map(|(k, (n, _))| format!("{k} {}", count(*n as i64)))
            .collect();
        let mut result = format!(
            "{} {noun}: {}; {range}",
            count(p.rows as i64),
            groups.join(" · ")
        );
        if !p.rejected.is_empty() {
            result.push_str(&format!("; {} malformed rows set aside", p.rejected.len()));
        }
        let mut md = format!(
            "# {}\n\nFile: [{rel}](../{rel}), {} rows, {range}. Read as reconciliation reads it (`[recon]` column and value maps of incident.toml).\n\n",
            capitalise(noun),
            count(p.rows as i64)
        );
        if !p.problems.is_empty() {
            md.push_str("**Not usable as it is** (the task is left unticked):\n\n");
            for w in &p.problems {
                let _ = writeln!(md, "- {w}");
            }
            md.push('\n');
        }
        let _ = writeln!(md, "| {group_word} | rows | amount |\n|---|---:|---:|");
        for (k, (n, a)) in &p.groups {
            let _ = writeln!(md, "| {k} | {} | {} |", count(*n as i64), idr(*a));
        }
        let mut outputs = Vec::new();
        if !p.rejected.is_empty() {
            let _ = writeln!(md, "\n## Rows set aside ({})\n", p.rejected.len());
            for r in p.rejected.iter().take(50) {
                let _ = writeln!(md, "- line {}: {}", r.line, r.reason);
            }
            let mut aside = csv::WriterBuilder::new()
                .flexible(true)
                .from_writer(Vec::new());
            let _ = aside.write_record(["line", "reason", "fields"]);
            for r in &p.rejected {
                let mut row = vec![r.line.to_string(), r.reason.clone()];
                row.extend(r.fields.iter().cloned());
                let _ = aside.write_record(&row);
            }
            let aside_path = ctx.evidence_path("rejected.csv");
            let text = aside
                .into_inner()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            if let Err(e) = write(&aside_path, &text) {
                return Outcome::Failed(e);
            }
            outputs.push(aside_path);
        }
        let evidence = ctx.evidence_path("json");
        let json = serde_json::json!({
            "file": rel, "rows": p.rows,
            "first": p.span.map(|s| ms(s.0)), "last": p.span.map(|s| ms(s.1)),
            "by_group": p.groups.iter().map(|(k, (n, a))| (k.clone(), serde_json::json!({"rows": n, "amount": a}))).collect::<BTreeMap<_, _>>(),
            "rejected": p.rejected.iter().map(|r| format!("line {}: {}", r.line, r.reason)).collect::<Vec<_>>(),
            "problems": p.problems,
        });
        if let Err(e) = write(
            &evidence,
            &serde_json::to_string_pretty(&json).unwrap_or_default(),
        )
        .and_then(|_| write(&ctx.report_path(), &md))
        {
            return Outcome::Failed(e);
        }
        outputs.push(evidence);
        if !p.problems.is_empty() {
            return Outcome::Failed(format!(
                "{}; see {}",
                p.problems.join("; "),
                inc.dir.relative(&ctx.report_path())
            ));
        }
        Outcome::Succeeded(Done {
            outputs,
            report: Some(ctx.report_path()),
            charts: vec![],
            result,
        })
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

// ------------------------------------------------------------------ pg.query

/// A single-threaded async runtime for one step's database work.
fn runtime() -> Result<tokio::runtime::Runtime, Outcome> {
    crate::runtime().map_err(|e| Outcome::Failed(e.to_string()))
}

/// The connection string, session options and name of the step's database
/// (`database` parameter, else the first of incident.toml); skipped when its
/// URL variable is not set.
fn database(ctx: &Context) -> Result<(String, sidik_pg::SessionOptions, String), Outcome> {
    let dbs = &ctx.incident.file.sources.databases;
    let db = match ctx.str_param("database") {
        Some(name) => match dbs.iter().find(|d| d.name == name) {
            Some(d) => Some(d),
            None => {
                return Err(Outcome::Failed(format!(
                    "incident.toml has no database named `{name}`"
                )))
            }
        },
        None => dbs.first(),
    };
    let var = db
        .and_then(|d| d.url_env.clone())
        .unwrap_or_else(|| "DATABASE_URL".to_string());
    let Some(url) = std::env::var(&var).ok().filter(|v| !v.is_empty()) else {
        return Err(Outcome::Skipped(format!(
            "no database: ${var} is not set; export it with the connection string{} or run `sidik demo --with-postgres`",
            db.map(|d| format!(" of `{}`", d.name)).unwrap_or_default()
        )));
    };
    let opts = sidik_pg::SessionOptions {
        search_path: db.and_then(|d| d.search_path.clone()),
        ..Default::default()
    };
    Ok((
        url,
        opts,
        db.map_or("default".to_string(), |d| d.name.clone()),
    ))
}

/// Runs a named query against a database of the incident.
struct PgQuery;

/// A step's `param = { date = "2025-01-12" }` as name/value pairs.
fn step_params(ctx: &Context) -> Result<Vec<(String, String)>, String> {
    let Some(v) = ctx.params.get("param") else {
        return Ok(Vec::new());
    };
    let Some(t) = v.as_table() else {
        return Err(
            "`param` must be a table of values, like param = { date = \"2025-01-12\" }".into(),
        );
    };
    t.iter()
        .map(|(k, v)| {
            let text = match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
                    v.to_string()
                }
                toml::Value::Datetime(d) => d.to_string(),
                _ => return Err(format!("param `{k}` must be a single value, not {v}")),
            };
            Ok((k.clone(), text))
        })
        .collect()
}

/// Fills `{rows}`, `{COLUMN}`, `{COLUMN:count}` and `{COLUMN:idr}` from a result.
pub fn fill_template(template: &str, table: &sidik_pg::Table) -> String {
    fill(template, |inner, name, fmt| {
        let raw = if name == "rows" {
            Some(table.rows.len().to_string())
        } else {
            table.first(name).map(str::to_string)
        };
        match (raw, fmt) {
            (None, _) => format!("{{{inner}?}}"),
            (Some(v), "count") => v.parse::<i64>().map(count).unwrap_or(v),
            (Some(v), "idr") => v.parse::<i64>().map(idr).unwrap_or(v),
            (Some(v), _) => v,
        }
    })
}

/// Replaces each `{NAME}` or `{NAME:FORMAT}` of a step's result template
/// with `value(inner, NAME, FORMAT)`; an unclosed `{` is kept as written.
fn fill(template: &str, value: impl Fn(&str, &str, &str) -> String) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let inner = &rest[open + 1..open + close];
        let (name, fmt) = inner.split_once(':').unwrap_or((inner, ""));
        out.push_str(&value(inner, name, fmt));
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

impl Action for PgQuery {
    fn name(&self) -> &'static str {
        "pg.query"
    }
    fn summary(&self) -> &'static str {
        "Run a named query (queries/) read-only against a database of the incident; rows to CSV"
    }
    fn params(&self) -> &'static [&'static str] {
        &[
            "query",
            "query_file",
            "param",
            "database",
            "expect_rows",
            "result",
            "title",
        ]
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        ctx.str_param("query_file")
            .map(|f| vec![ctx.incident.dir.resolve(f)])
            .unwrap_or_default()
    }
    fn run(&self, ctx: &Context) -> Outcome {
        let inc = &ctx.incident;
        let (file, text) = match (ctx.str_param("query"), ctx.str_param("query_file")) {
            (Some(q), None) => match QUERIES.iter().find(|(n, _)| *n == q) {
                Some((n, t)) => (format!("queries/{n}.sql"), t.to_string()),
                None => {
                    return Outcome::Failed(format!(
                        "no shipped query `{q}`; shipped: {}",
                        QUERIES.iter().map(|q| q.0).collect::<Vec<_>>().join(", ")
                    ))
                }
            },
            (None, Some(f)) => match std::fs::read_to_string(inc.dir.resolve(f)) {
                Ok(t) => (f.to_string(), t),
                Err(e) => return Outcome::Failed(format!("cannot read query file {f}: {e}")),
            },
            _ => {
                return Outcome::Failed(
                    "give exactly one of `query` (a shipped query) or `query_file`".into(),
                )
            }
        };
        let query = match sidik_pg::NamedQuery::parse(&file, &text) {
            Ok(q) => q,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let (url, opts, db_name) = match database(ctx) {
            Ok(x) => x,
            Err(o) => return o,
        };
        let rt = match runtime() {
            Ok(rt) => rt,
            Err(o) => return o,
        };
        let given = match step_params(ctx) {
            Ok(g) => g,
            Err(e) => return Outcome::Failed(e),
        };
        let ran = rt.block_on(async {
            let s = sidik_pg::Session::connect(&url, &opts).await?;
            sidik_pg::run_named(&s, &query, &given).await
        });
        let (table, sql) = match ran {
            Ok(t) => t,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let csv_path = ctx.evidence_path("csv");
        let title = ctx.str_param("title").unwrap_or(&query.description);
        // Statistics views describe the server since their last reset, at the
        // time of the query: dated like a snapshot. Tables hold their history.
        let now = chrono::Utc::now();
        let dating = sidik_core::time::Dating::of(now, now, inc.window.as_ref(), inc.tz);
        let statistics = sql.contains("pg_stat");
        let mut md = if statistics && dating.outside() {
            format!(
                "{}; the statistics views it reads (pg_stat_*) count since their last reset, not the incident\n\n",
                capitalise(&dating.sentence.replace("**", "").replace("; no finding below describes the incident", ""))
            )
        } else {
            String::new()
        };
        md += &format!("# {title}\n\nQuery `{}` ({file}) on database `{}`: {} rows. All rows: [{}](../{}).\n\n", query.name, db_name, count(table.rows.len() as i64), inc.dir.relative(&csv_path), inc.dir.relative(&csv_path));
        if !table.columns.is_empty() {
            let _ = writeln!(
                md,
                "| {} |\n|{}|",
                table.columns.join(" | "),
                table
                    .columns
                    .iter()
                    .map(|_| "---")
                    .collect::<Vec<_>>()
                    .join("|")
            );
            for r in table.rows.iter().take(50) {
                let _ = writeln!(
                    md,
                    "| {} |",
                    r.iter()
                        .map(|v| v.as_deref().unwrap_or("NULL").replace('|', "\\|"))
                        .collect::<Vec<_>>()
                        .join(" | ")
                );
            }
            if table.rows.len() > 50 {
                let _ = writeln!(
                    md,
                    "\n(first 50 of {} rows)",
                    count(table.rows.len() as i64)
                );
            }
        }
        if !given.is_empty() {
            let _ = writeln!(
                md,
                "\nParameters: {}.",
                given
                    .iter()
                    .map(|(k, v)| format!("`{k}` = `{v}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let _ = writeln!(md, "\n```sql\n{sql}```");
        if let Err(e) =
            write(&csv_path, &table.to_csv()).and_then(|_| write(&ctx.report_path(), &md))
        {
            return Outcome::Failed(e);
        }
        let mut result = fill_template(ctx.str_param("result").unwrap_or("{rows} rows"), &table);
        if statistics && dating.outside() {
            result = format!(
                "read after the incident window (statistics since their last reset): {result}"
            );
        }
        if let Some(expected) = ctx.int_param("expect_rows") {
            if table.rows.len() as i64 != expected {
                return Outcome::Failed(format!(
                    "{result} (expected {expected} rows); see {}",
                    inc.dir.relative(&ctx.report_path())
                ));
            }
        }
        Outcome::Succeeded(Done {
            outputs: vec![csv_path],
            report: Some(ctx.report_path()),
            charts: vec![],
            result,
        })
    }
}

// ------------------------------------------------------------------ pg.snapshot

/// Sessions, saturation and the blocking tree of a database, as markdown.
pub fn snapshot_markdown(
    snap: &sidik_pg::snapshot::Snapshot,
    db: &str,
    dating: &sidik_core::time::Dating,
) -> String {
    let p = &snap.preflight;
    // Evidence taken outside the incident says so on its first line.
    let mut md = if dating.outside() {
        format!("{}\n\n# Database snapshot: {db}\n\n## Findings about the database then, not the incident\n\n", capitalise(&dating.sentence.replace("**", "")))
    } else {
        format!(
            "# Database snapshot: {db}\n\n{}.\n\n## Findings\n\n",
            capitalise(&dating.sentence)
        )
    };
    for f in &snap.findings {
        let _ = writeln!(md, "- **{}**: {}", f.severity, f.text);
    }
    let _ = writeln!(
        md,
        "\n## Server\n\n- PostgreSQL {}.{}, {}\n- max_connections {}, superuser_reserved_connections {}{}: **{} usable slots**\n- sees all sessions: {}\n- pg_stat_statements: {}{}\n",
        p.server_version_num / 10_000,
        // Since PostgreSQL 10 the number is major * 10000 + minor.
        p.server_version_num % 10_000,
        if p.in_recovery { "replica in recovery" } else { "primary" },
        p.max_connections,
        p.superuser_reserved,
        p.reserved.map(|r| format!(", reserved_connections {r}")).unwrap_or_default(),
        p.usable_slots,
        if p.sees_all_sessions { "yes" } else { "no (partial visibility)" },
        p.pg_stat_statements.as_deref().unwrap_or("not installed"),
        match p.pg_stat_statements_preloaded {
            Some(true) => ", preloaded",
            Some(false) => ", not preloaded",
            None => ", preload unknown (the role may not read shared_preload_libraries)",
        },
    );
    let _ = writeln!(md, "## Sessions\n\n{} client sessions besides sidik's ({:.0} % of usable slots with sidik).\n\n| state | sessions |\n|---|---:|", snap.backends.len(), snap.saturation * 100.0);
    for (k, v) in &snap.by_state {
        let _ = writeln!(md, "| {k} | {v} |");
    }
    md.push_str("\n| application | sessions |\n|---|---:|\n");
    for (k, v) in &snap.by_application {
        let _ = writeln!(md, "| {k} | {v} |");
    }
    if let sidik_pg::statements::Statements::Top {
        version,
        statements,
    } = &snap.statements
    {
        let _ = writeln!(md, "\n## Top statements (pg_stat_statements {version})\n\n| calls | total ms | mean ms | rows | shared blks read | temp blks written | query |\n|---:|---:|---:|---:|---:|---:|---|");
        for st in statements {
            let _ = writeln!(
                md,
                "| {} | {:.1} | {:.2} | {} | {} | {} | `{}` |",
                count(st.calls),
                st.total_ms,
                st.mean_ms,
                count(st.rows),
                count(st.shared_blks_read),
                count(st.temp_blks_written),
                st.query
                    .as_deref()
                    .unwrap_or("(text not visible)")
                    .replace(['`', '|', '\n'], " ")
            );
        }
    }
    md.push_str("\n## Blocking tree\n\n");
    if snap.tree.is_empty() {
        md.push_str("No session waits for another.\n");
    }
    for n in &snap.tree {
        if let Some(b) = snap.backends.iter().find(|b| b.pid == n.pid) {
            let waits = b
                .waits_for
                .as_ref()
                .map(|w| format!(", waits for {w}"))
                .unwrap_or_default();
            let age = b
                .xact_age_s
                .map(|a| format!(", transaction {a:.0} s"))
                .unwrap_or_default();
            let _ = writeln!(
                md,
                "{}- pid {} {} ({}{waits}{age}): `{}`",
                "  ".repeat(n.depth),
                n.pid,
                b.application,
                b.state,
                b.query.replace('`', "'")
            );
        } else if n.pid == 0 {
            let _ = writeln!(
                md,
                "{}- a prepared transaction (pg_prepared_xacts)",
                "  ".repeat(n.depth)
            );
        }
    }
    if !snap.lock_types.is_empty() {
        md.push_str("\n## Locks by type\n\n| lock type | granted | waiting |\n|---|---:|---:|\n");
        for (t, (g, w)) in &snap.lock_types {
            let _ = writeln!(md, "| {t} | {} | {} |", count(*g), count(*w));
        }
    }
    if !snap.databases.is_empty() {
        md.push_str("\n## Databases (pg_stat_database, since the last reset)\n\n| database | sessions | commits | rollbacks | deadlocks | temp files | temp bytes |\n|---|---:|---:|---:|---:|---:|---:|\n");
        for d in &snap.databases {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} |",
                d.datname,
                count(d.numbackends),
                count(d.xact_commit),
                count(d.xact_rollback),
                count(d.deadlocks),
                count(d.temp_files),
                count(d.temp_bytes)
            );
        }
    }
    md
}

/// Samples a database at an interval (pg_stat_activity, pg_stat_database and
/// pg_stat_statements deltas) into `evidence/STEP/`.
struct PgSample;

impl Action for PgSample {
    fn name(&self) -> &'static str {
        "pg.sample"
    }
    fn summary(&self) -> &'static str {
        "Sample a database at an interval: sessions by state, usable-slot use, backends opened and closed, database and statement deltas, written as it goes"
    }
    fn params(&self) -> &'static [&'static str] {
        &["database", "every", "for"]
    }
    fn run(&self, ctx: &Context) -> Outcome {
        let dur = |key: &str, default: &str| -> Result<std::time::Duration, String> {
            let v = ctx.str_param(key).unwrap_or(default);
            let d = sidik_core::time::parse_go_duration(v)
                .map_err(|e| format!("`{key}` = \"{v}\": {e}"))?;
            match d.num_milliseconds() {
                ms if ms >= 100 => Ok(std::time::Duration::from_millis(ms as u64)),
                _ => Err(format!("`{key}` = \"{v}\": at least 100ms")),
            }
        };
        let (every, total) = match (dur("every", "10s"), dur("for", "1m")) {
            (Ok(e), Ok(t)) => (e, t),
            (Err(e), _) | (_, Err(e)) => return Outcome::Failed(e),
        };
        let (url, opts, db) = match database(ctx) {
            Ok(x) => x,
            Err(o) => return o,
        };
        let rt = match runtime() {
            Ok(rt) => rt,
            Err(o) => return o,
        };
        let dir = ctx.incident.dir.evidence().join(&ctx.step);
        let _ = std::fs::remove_dir_all(&dir);
        let summary = match rt.block_on(async {
            let s = sidik_pg::Session::connect(&url, &opts).await?;
            sidik_pg::sample::run(&s, &dir, every, total, std::future::pending()).await
        }) {
            Ok(s) => s,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let texts = &summary.texts;
        let rel = |f: &str| ctx.incident.dir.relative(&dir.join(f));
        let ended = chrono::Utc::now();
        let began = ended - chrono::Duration::from_std(total).unwrap_or_default();
        let dating = sidik_core::time::Dating::of(
            began,
            ended,
            ctx.incident.window.as_ref(),
            ctx.incident.tz,
        );
        let mut md = if dating.outside() {
            format!("{}\n\n", capitalise(&dating.sentence.replace("**", "")))
        } else {
            String::new()
        };
        md += &format!(
            "# Database samples: `{db}`\n\n{}.\n\n{} samples every {:?} for {:?}. Files: [samples]({}), [backends]({}), [databases]({}), [statements]({}), [statement texts]({}).\n\n",
            capitalise(&dating.sentence),
            summary.samples,
            every,
            total,
            format_args!("../{}", rel("samples.csv")),
            format_args!("../{}", rel("backends.csv")),
            format_args!("../{}", rel("databases.csv")),
            format_args!("../{}", rel("statements.csv")),
            format_args!("../{}", rel("statement_texts.csv")),
        );
        if let Some(p) = &summary.peak {
            let _ = writeln!(
                md,
                "- Peak: **{} client backends of {} usable slots ({:.0} %)** at {}: {} active, {} idle in transaction, {} waiting on locks.",
                p.client_backends,
                p.usable_slots,
                p.used * 100.0,
                p.at,
                p.active,
                p.idle_in_transaction,
                p.waiting_on_lock
            );
        }
        let _ = writeln!(
            md,
            "- Backends opened during the run: {}; deadlocks: {}.",
            count(summary.opened),
            count(summary.deadlocks)
        );
        if !summary.has_statements {
            md.push_str("- No statement deltas: pg_stat_statements is not installed or not preloaded in this database.\n");
        } else if !summary.statements.is_empty() {
            md.push_str("\n## Statements by time in the window\n\n| total ms | calls | ms/call | rows | query |\n|---:|---:|---:|---:|---|\n");
            for d in summary.statements.iter().take(15) {
                let text = texts.get(&d.queryid).map(String::as_str).unwrap_or("");
                let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
                let _ = writeln!(
                    md,
                    "| {:.1} | {} | {:.2} | {} | `{}` |",
                    d.total_ms,
                    count(d.calls),
                    d.total_ms / d.calls.max(1) as f64,
                    count(d.rows),
                    text.chars()
                        .take(120)
                        .collect::<String>()
                        .replace('`', "'")
                        .replace('|', "\\|")
                );
            }
        }
        if let Err(e) = write(&ctx.report_path(), &md) {
            return Outcome::Failed(e);
        }
        let mut result = match &summary.peak {
            Some(p) => format!(
                "{} samples; peak {} of {} usable slots ({:.0} %)",
                summary.samples,
                p.client_backends,
                p.usable_slots,
                p.used * 100.0
            ),
            None => format!("{} samples", summary.samples),
        };
        if dating.outside() {
            result = format!("taken outside the incident window (the database now): {result}");
        }
        Outcome::Succeeded(Done {
            outputs: vec![dir.join("samples.csv"), dir.join("statements.csv")],
            report: Some(ctx.report_path()),
            charts: vec![],
            result,
        })
    }
}

/// Preflight, sessions, saturation and blocking tree of a database.
struct PgSnapshot;

impl Action for PgSnapshot {
    fn name(&self) -> &'static str {
        "pg.snapshot"
    }
    fn summary(&self) -> &'static str {
        "Snapshot a database read-only: what the role can see, sessions by state, saturation of usable slots, the blocking tree, findings"
    }
    fn params(&self) -> &'static [&'static str] {
        &["database"]
    }
    fn run(&self, ctx: &Context) -> Outcome {
        let (url, opts, db) = match database(ctx) {
            Ok(x) => x,
            Err(o) => return o,
        };
        let rt = match runtime() {
            Ok(rt) => rt,
            Err(o) => return o,
        };
        let snap = match rt.block_on(async {
            let s = sidik_pg::Session::connect(&url, &opts).await?;
            sidik_pg::snapshot::snapshot(&s).await
        }) {
            Ok(s) => s,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let dating = sidik_core::time::Dating::of(
            snap.taken_at,
            snap.taken_at,
            ctx.incident.window.as_ref(),
            ctx.incident.tz,
        );
        let evidence = ctx.evidence_path("json");
        if let Err(e) = write(
            &evidence,
            &serde_json::to_string_pretty(&snap).unwrap_or_default(),
        )
        .and_then(|_| write(&ctx.report_path(), &snapshot_markdown(&snap, &db, &dating)))
        {
            return Outcome::Failed(e);
        }
        let roots = snap.tree.iter().filter(|n| n.depth == 0).count();
        let mut result = format!(
            "{} sessions, {:.0} % of {} usable slots, {} blocking root(s)",
            snap.backends.len(),
            snap.saturation * 100.0,
            snap.preflight.usable_slots,
            roots
        );
        if dating.outside() {
            result = format!("taken after the incident window (the database now): {result}");
        }
        Outcome::Succeeded(Done {
            outputs: vec![evidence],
            report: Some(ctx.report_path()),
            charts: vec![],
            result,
        })
    }
}

// ------------------------------------------------------------------ logs.*

/// Ingests every log of the incident (sidik-logs).
struct LogsIngest;

fn local_ms(inc: &Incident, ms: i64) -> String {
    sidik_core::time::local(ms, inc.tz, sidik_core::time::Shown::Minutes)
}

impl Action for LogsIngest {
    fn name(&self) -> &'static str {
        "logs.ingest"
    }
    fn summary(&self) -> &'static str {
        "Read every service's logs: normalise, classify errors, mine templates; events to Parquet, bad lines to the quarantine"
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        CollectLogs.inputs(ctx)
    }
    fn run(&self, ctx: &Context) -> Outcome {
        let inc = &ctx.incident;
        let got = match sidik_logs::incident::ingest_incident(
            inc,
            sidik_logs::ingest::CHUNK_ROWS,
            None,
        ) {
            Ok(g) => g,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let s = &got.summary;
        let events: u64 = s.events.values().sum();
        let quarantined: u64 = s.quarantined.values().sum();
        let mut md = String::from("# Logs

| service | file | format | compression | lines | events | set aside |\n|---|---|---|---|---:|---:|---:|\n");
        for f in &s.files {
            let fmt = if f.cri {
                format!("cri + {}", f.format)
            } else if f.docker {
                format!("docker + {}", f.format)
            } else {
                f.format.clone()
            };
            let _ = writeln!(
                md,
                "| {} | [{}](../{}) | {fmt} | {:?} | {} | {} | {} |",
                f.service,
                f.path,
                f.path,
                f.compression,
                count(f.lines as i64),
                count(f.events as i64),
                count(f.quarantined as i64)
            );
        }
        for f in s.files.iter().filter(|f| f.cut_short.is_some()) {
            let _ = writeln!(
                md,
                "\n**{} was cut short**: {}; everything before it was kept.",
                f.path,
                f.cut_short.as_deref().unwrap_or("")
            );
        }
        if !s.not_read.is_empty() {
            md.push_str("\n**Not read** (everything else was ingested):\n\n| service | path | why |\n|---|---|---|\n");
            for n in &s.not_read {
                let _ = writeln!(md, "| {} | `{}` | {} |", n.service, n.path, n.reason);
            }
        }
        let _ = writeln!(md, "\n{} events; {} lines set aside in `evidence/quarantine/` with their line numbers and reasons.\n", count(events as i64), count(quarantined as i64));
        let warnings = s.warnings();
        if !warnings.is_empty() {
            md.push_str("**Warnings**:\n\n");
            for w in &warnings {
                let _ = writeln!(md, "- {w}");
            }
            md.push('\n');
        }
        // Error classes: totals and first occurrence.
        let mut classes: Vec<(String, u64, i64)> = Vec::new();
        for (i, c) in got.timeline.classes.iter().enumerate() {
            let mut total = 0;
            let mut first = i64::MAX;
            for ((b, _), cell) in &got.timeline.cells {
                if cell.classes[i] > 0 {
                    total += cell.classes[i];
                    first = first.min(*b);
                }
            }
            if total > 0 {
                classes.push((c.clone(), total, first));
            }
        }
        classes.sort_by_key(|c| c.2);
        md.push_str("## Error classes\n\n| class | records | first minute |\n|---|---:|---|\n");
        for (c, n, first) in &classes {
            let _ = writeln!(
                md,
                "| {c} | {} | {} |",
                count(*n as i64),
                local_ms(inc, *first)
            );
        }
        md.push_str("\nData: [timeline](../evidence/logs/timeline.csv), [journeys](../evidence/logs/journeys.csv), [templates](../evidence/logs/patterns.csv), events in `evidence/logs/events-*.parquet`.\n");
        let report = ctx.report_path();
        if let Err(e) = write(&report, &md) {
            return Outcome::Failed(e);
        }
        let top: Vec<String> = classes
            .iter()
            .take(3)
            .map(|(c, n, first)| {
                format!(
                    "{c} {} from {}",
                    count(*n as i64),
                    local_ms(inc, *first).get(11..16).unwrap_or("")
                )
            })
            .collect();
        let mut result = format!(
            "{} services, {} events, {} lines set aside",
            s.events.len(),
            count(events as i64),
            count(quarantined as i64)
        );
        if !top.is_empty() {
            result.push_str(&format!("; errors: {}", top.join(", ")));
        }
        if !warnings.is_empty() {
            result.push_str(&format!("; {} warning(s) in the report", warnings.len()));
        }
        let empty = s.empty_services();
        if !empty.is_empty() {
            return Outcome::Failed(format!(
                "no event was read for {}: every line was set aside; see {} and set the right `format` in incident.toml",
                empty.join(", "),
                inc.dir.relative(&report)
            ));
        }
        if s.is_partial() {
            // The analysis goes on with what was read; the tracker's line says
            // plainly that it is not everything.
            let cut = s.files.iter().filter(|f| f.cut_short.is_some()).count();
            result = format!(
                "PARTIAL ({} path(s) not read, {cut} file(s) cut short; see the report): {result}",
                s.not_read.len()
            );
        }
        let outputs = s.outputs.clone();
        Outcome::Succeeded(Done {
            outputs,
            report: Some(report),
            charts: vec![],
            result,
        })
    }
}

fn need_ingest(ctx: &Context) -> Result<PathBuf, String> {
    let dir = ctx.incident.dir.evidence().join("logs");
    if dir.join("summary.json").is_file() {
        Ok(dir)
    } else {
        Err("the logs are not ingested yet: run the `logs` step of phase-1-data-collection (sidik run phase-1-data-collection --only logs)".into())
    }
}

/// Error templates per service and class.
struct LogsPatterns;

impl Action for LogsPatterns {
    fn name(&self) -> &'static str {
        "logs.patterns"
    }
    fn summary(&self) -> &'static str {
        "Report the error templates per service and class, with counts, first and last time and a sample line"
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        vec![ctx.incident.dir.evidence().join("logs/patterns.csv")]
    }
    fn run(&self, ctx: &Context) -> Outcome {
        let dir = match need_ingest(ctx) {
            Ok(d) => d,
            Err(e) => return Outcome::Failed(e),
        };
        let mut rdr = match csv::Reader::from_path(dir.join("patterns.csv")) {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(format!("cannot read the templates: {e}")),
        };
        let rows: Vec<csv::StringRecord> = rdr
            .records()
            .filter_map(|r| r.ok())
            .filter(|r| !r.get(1).unwrap_or("").is_empty())
            .collect();
        let mut md = String::from("# Error patterns\n\nTemplates of classified records (ids, numbers and durations masked), most frequent first.\n\n| service | class | records | first seen | last seen | template | sample |\n|---|---|---:|---|---|---|---|\n");
        let inc = &ctx.incident;
        let when = |s: &str| {
            parse_time(s, inc.tz)
                .map(|t| local(t, inc))
                .unwrap_or_default()
        };
        for r in &rows {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | `{}` | {} |",
                &r[0],
                &r[1],
                count(r[4].parse::<i64>().unwrap_or(0)),
                when(&r[5]),
                when(&r[6]),
                r[3].replace('|', "\\|"),
                &r[7]
            );
        }
        if rows.is_empty() {
            md.push_str("\nNo classified error in the logs.\n");
        }
        if let Err(e) = write(&ctx.report_path(), &md) {
            return Outcome::Failed(e);
        }
        // Error lines without a single template would tick "analyze logs" on nothing.
        if rows.is_empty() {
            let errors: u64 = csv::Reader::from_path(dir.join("timeline.csv"))
                .ok()
                .map(|mut r| {
                    let at = r
                        .headers()
                        .ok()
                        .and_then(|h| h.iter().position(|c| c == "errors"));
                    r.records()
                        .filter_map(|x| x.ok())
                        .filter_map(|x| at.and_then(|i| x.get(i)?.parse::<u64>().ok()))
                        .sum()
                })
                .unwrap_or(0);
            if errors > 0 {
                return Outcome::Failed(format!(
                    "{} error lines in the logs but no error template: were they read with the right format? (see {})",
                    count(errors as i64),
                    inc.dir.relative(&ctx.report_path())
                ));
            }
        }
        let mut classes: BTreeMap<String, u64> = BTreeMap::new();
        for r in &rows {
            *classes.entry(r[1].to_string()).or_default() += r[4].parse::<u64>().unwrap_or(0);
        }
        let mut by: Vec<(String, u64)> = classes.into_iter().collect();
        by.sort_by_key(|b| std::cmp::Reverse(b.1));
        let result = format!(
            "{} error templates; {}",
            rows.len(),
            by.iter()
                .take(3)
                .map(|(c, n)| format!("{c} {}", count(*n as i64)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        Outcome::Succeeded(Done {
            outputs: vec![],
            report: Some(ctx.report_path()),
            charts: vec![],
            result,
        })
    }
}

/// Where order journeys broke.
struct LogsJourneys;

impl Action for LogsJourneys {
    fn name(&self) -> &'static str {
        "logs.journeys"
    }
    fn summary(&self) -> &'static str {
        "Report where order journeys across MRG, UPG and the orchestrator broke first, by service and class"
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        vec![ctx.incident.dir.evidence().join("logs/journeys.csv")]
    }
    fn run(&self, ctx: &Context) -> Outcome {
        let dir = match need_ingest(ctx) {
            Ok(d) => d,
            Err(e) => return Outcome::Failed(e),
        };
        let mut rdr = match csv::Reader::from_path(dir.join("journeys.csv")) {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(format!("cannot read the journeys: {e}")),
        };
        let (mut orders, mut broken) = (0u64, 0u64);
        let mut by: BTreeMap<(String, String), (u64, String)> = BTreeMap::new();
        for r in rdr.records().filter_map(|r| r.ok()) {
            orders += 1;
            if !r[7].is_empty() {
                broken += 1;
                let e = by
                    .entry((r[8].to_string(), r[9].to_string()))
                    .or_insert((0, r[0].to_string()));
                e.0 += 1;
            }
        }
        let mut rows: Vec<_> = by.into_iter().collect();
        rows.sort_by_key(|b| std::cmp::Reverse(b.1 .0));
        let mut md = format!("# Order journeys\n\n{} orders seen in the logs; {} have a broken hop (a classified or error record).\n\n| first broken at | class | orders | example (`sidik logs journey ID`) |\n|---|---|---:|---|\n", count(orders as i64), count(broken as i64));
        for ((svc, class), (n, example)) in &rows {
            let _ = writeln!(
                md,
                "| {svc} | {} | {} | {example} |",
                if class.is_empty() {
                    "(unclassified error)"
                } else {
                    class
                },
                count(*n as i64)
            );
        }
        let _ = writeln!(
            md,
            "\nAll journeys: [journeys.csv](../evidence/logs/journeys.csv)."
        );
        if let Err(e) = write(&ctx.report_path(), &md) {
            return Outcome::Failed(e);
        }
        let top = rows
            .first()
            .map(|((s, c), (n, _))| {
                format!(
                    "; most at {s} ({}): {}",
                    if c.is_empty() { "error" } else { c },
                    count(*n as i64)
                )
            })
            .unwrap_or_default();
        let result = format!(
            "{} orders followed, {} broke{top}",
            count(orders as i64),
            count(broken as i64)
        );
        Outcome::Succeeded(Done {
            outputs: vec![],
            report: Some(ctx.report_path()),
            charts: vec![],
            result,
        })
    }
}

// ------------------------------------------------------------------ rca.*

/// Which tracker task of the root-cause work a step completes.
#[derive(Clone, Copy)]
enum RcaPart {
    /// Phase 2: score the hypotheses (runs the analysis).
    Score,
    /// Phase 3: the leading hypothesis checked against every piece of evidence.
    Validate,
    /// Phase 3: the primary root cause, written into the incident report.
    Document,
    /// Phase 3: the contributing factors.
    Contributing,
}

/// Root-cause scoring (sidik-rca): each part re-runs the analysis on the
/// evidence as it is now, so a resumed run never reports stale verdicts.
struct Rca(RcaPart);

impl Action for Rca {
    fn name(&self) -> &'static str {
        match self.0 {
            RcaPart::Score => "rca.score",
            RcaPart::Validate => "rca.validate",
            RcaPart::Document => "rca.document",
            RcaPart::Contributing => "rca.contributing",
        }
    }
    fn summary(&self) -> &'static str {
        match self.0 {
            RcaPart::Score => "Score the hypotheses against the evidence and detect the phases: reports/rca.md, evidence/rca.json",
            RcaPart::Validate => "Check the leading hypothesis against every piece of evidence; fails when none is supported",
            RcaPart::Document => "State the primary root cause with its evidence (reports/rca.md, and the incident report)",
            RcaPart::Contributing => "List the contributing factors in the order they first occurred",
        }
    }
    fn report_file(&self) -> Option<&'static str> {
        Some("rca.md")
    }
    fn always_run(&self) -> bool {
        // It reads whatever evidence exists now (live samples included) and takes well under a second.
        true
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        let ev = ctx.incident.dir.evidence();
        let mut v = vec![
            ev.join("logs/timeline.csv"),
            ev.join("logs/patterns.csv"),
            ev.join("logs/journeys.csv"),
            ev.join("metrics/metrics.csv"),
            ev.join("metrics/runtime.json"),
            ev.join("recon/recon.json"),
            ctx.incident.dir.root().join("hypotheses.toml"),
            ctx.incident.dir.config_path(),
        ];
        v.retain(|p| p.exists());
        v
    }
    fn run(&self, ctx: &Context) -> Outcome {
        let (a, md, json) = match sidik_rca::run(&ctx.incident, &[]) {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let title = |id: &str| {
            a.hypotheses
                .iter()
                .find(|h| h.id == id)
                .map(|h| (h.number, h.title.clone(), h.score, h.checks.clone()))
        };
        let primary = a.primary.as_deref().and_then(title);
        let result = match (self.0, &primary) {
            (RcaPart::Score, Some((n, t, score, _))) => {
                let found = [
                    &a.phases.spike_start,
                    &a.phases.error_onset,
                    &a.phases.degradation_start,
                ]
                .iter()
                .filter(|p| p.is_some())
                .count();
                let others = a
                    .hypotheses
                    .iter()
                    .filter(|h| Some(&h.id) != a.primary.as_ref())
                    .map(|h| format!("{} {:?}", h.number, h.verdict).to_lowercase())
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("hypothesis {n} supported ({t}, score {score:.0}); others: {others}; {found} of 3 phases found")
            }
            (RcaPart::Validate, Some((n, _, _, checks))) => {
                let held = checks
                    .iter()
                    .filter(|c| c.outcome == sidik_rca::score::Outcome::Pass)
                    .count();
                let missing = checks
                    .iter()
                    .filter(|c| c.outcome == sidik_rca::score::Outcome::Missing)
                    .count();
                format!(
                    "hypothesis {n}: {held} of {} checks hold, {missing} without evidence",
                    checks.len()
                )
            }
            (RcaPart::Document, Some((n, t, _, _))) => format!(
                "primary root cause: hypothesis {n}, {t} ({})",
                a.primary_why.clone().unwrap_or_default()
            ),
            (RcaPart::Contributing, Some(_)) => {
                let mut seen: Vec<String> = Vec::new();
                for f in &a.contributing {
                    if !seen.contains(&f.says) {
                        seen.push(f.says.clone());
                    }
                }
                format!(
                    "{} contributing factors: {}",
                    a.contributing.len(),
                    seen.iter().take(4).cloned().collect::<Vec<_>>().join("; ")
                )
            }
            (_, None) => {
                return Outcome::Failed(format!(
                    "no hypothesis is supported by the evidence; see {} for what is missing",
                    ctx.incident.dir.relative(&md)
                ))
            }
        };
        Outcome::Succeeded(Done {
            outputs: vec![json],
            report: Some(md),
            charts: vec![],
            result,
        })
    }
}

// ------------------------------------------------------------------ report.incident

/// Writes `reports/incident.md`, the postmortem as far as the evidence goes.
struct IncidentReport;

impl Action for IncidentReport {
    fn name(&self) -> &'static str {
        "report.incident"
    }
    fn summary(&self) -> &'static str {
        "Write reports/incident.md: a postmortem (Google SRE shape) from the evidence collected so far"
    }
    fn always_run(&self) -> bool {
        true
    }
    fn run(&self, ctx: &Context) -> Outcome {
        let text = crate::report::incident_report(&ctx.incident);
        let path = ctx.incident.dir.reports().join("incident.md");
        if let Err(e) = write(&path, &text) {
            return Outcome::Failed(e);
        }
        Outcome::Succeeded(Done {
            outputs: vec![],
            report: Some(path),
            charts: vec![],
            result: String::new(),
        })
    }
}

/// `width`/`height` step parameters, with the chart defaults.
fn image_size(ctx: &Context) -> Result<sidik_chart::Output, String> {
    let dim = |key: &str, default: u32| -> Result<u32, String> {
        match ctx.int_param(key) {
            None => Ok(default),
            Some(v) if (200..=10_000).contains(&v) => Ok(v as u32),
            Some(v) => Err(format!(
                "step parameter {key} = {v} is out of range; give 200 to 10000 pixels"
            )),
        }
    };
    Ok(sidik_chart::Output {
        width: dim("width", 1600)?,
        height: dim("height", 900)?,
        png: true,
        svg: true,
    })
}

struct ChartTimeline;

impl Action for ChartTimeline {
    fn name(&self) -> &'static str {
        "chart.timeline"
    }
    fn summary(&self) -> &'static str {
        "Draw requests, errors by class, latency, DB connections, stuck orders and goroutines on one time axis, phases shaded and events marked"
    }
    fn params(&self) -> &'static [&'static str] {
        &["width", "height", "from", "to"]
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        let ev = ctx.incident.dir.evidence();
        let mut v = vec![
            ev.join("logs/timeline.csv"),
            ev.join("recon/stuck_orders.csv"),
            ev.join("metrics/metrics.csv"),
            ev.join("rca.json"),
            ctx.incident.dir.config_path(),
        ];
        if let Ok(rd) = std::fs::read_dir(&ev) {
            v.extend(rd.flatten().map(|e| e.path().join("samples.csv")));
        }
        v.retain(|p| p.exists());
        v.sort();
        v
    }
    fn always_run(&self) -> bool {
        // It draws whatever evidence exists now, which later phases add to.
        true
    }
    fn run(&self, ctx: &Context) -> Outcome {
        let out = match image_size(ctx) {
            Ok(o) => o,
            Err(e) => return Outcome::Failed(e),
        };
        let inc = &ctx.incident;
        let time = |key: &str| -> Result<Option<DateTime<Utc>>, String> {
            ctx.str_param(key)
                .map(|s| parse_time(s, inc.tz).map_err(|e| format!("step parameter {key}: {e}")))
                .transpose()
        };
        let opts = match (time("from"), time("to")) {
            (Ok(from), Ok(to)) => sidik_chart::load::TimelineOptions {
                from,
                to,
                ..Default::default()
            },
            (Err(e), _) | (_, Err(e)) => return Outcome::Failed(e),
        };
        let loaded = match sidik_chart::load::timeline(inc, &opts) {
            Ok(l) => l,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        if loaded.chart.visible_panels().next().is_none() {
            return Outcome::Failed(format!(
                "nothing to draw yet: {}",
                loaded.missing.join("; ")
            ));
        }
        let stem = inc.dir.charts().join("timeline");
        let w = match sidik_chart::render_timeline(&loaded.chart, &stem, &out) {
            Ok(w) => w,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let png = w.png.clone().unwrap_or_else(|| stem.with_extension("png"));
        let svg = w.svg.clone().unwrap_or_else(|| stem.with_extension("svg"));
        let local = |ms: i64| {
            DateTime::<Utc>::from_timestamp_millis(ms)
                .map(|t| sidik_core::time::format_local(t, inc.tz))
                .unwrap_or_default()
        };
        let report = ctx.report_path();
        let rel = |p: &Path| {
            sidik_core::folder::relative_path(p, report.parent().unwrap_or(Path::new(".")))
        };
        let mut md = format!(
            "# Timeline\n\n![timeline]({})\n\n{}; [SVG]({}).\n\n## Panels\n\n",
            rel(&png),
            loaded.chart.subtitle,
            rel(&svg)
        );
        for p in &w.drawn.panels {
            let _ = writeln!(md, "- {}", p.title);
        }
        md.push_str("\n## Phases\n\n");
        match &loaded.phases_from {
            None => md.push_str("None known yet.\n"),
            Some(from) => {
                let _ = writeln!(md, "From {from}.\n\n| phase | from | to |\n|---|---|---|");
                for p in &loaded.chart.phases {
                    let _ = writeln!(md, "| {} | {} | {} |", p.name, local(p.start), local(p.end));
                }
            }
        }
        md.push_str("\n## Annotations\n\n| when | what |\n|---|---|\n");
        let mut marks = loaded.chart.marks.clone();
        marks.sort_by_key(|m| m.at);
        for m in &marks {
            let _ = writeln!(md, "| {} | {} |", local(m.at), m.label);
        }
        if !loaded.missing.is_empty() {
            md.push_str("\n## Not drawn\n\n");
            for m in &loaded.missing {
                let _ = writeln!(md, "- {m}");
            }
        }
        md.push_str("\n## Read from\n\n");
        for i in &loaded.inputs {
            let _ = writeln!(md, "- `{}`", inc.dir.relative(i));
        }
        if let Err(e) = write(&report, &md) {
            return Outcome::Failed(e);
        }
        let first = |name: &str| {
            loaded
                .chart
                .phases
                .iter()
                .find(|p| p.name == name)
                .map(|p| local(p.start))
        };
        let result = match (first("spike"), first("errors"), first("degradation")) {
            (Some(a), Some(b), Some(c)) => format!("spike {a} → errors {b} → degradation {c}"),
            _ => format!(
                "{} panels, {} annotations; phases not known yet (sidik rca or [incident.phases])",
                w.drawn.panels.len(),
                loaded.chart.marks.len()
            ),
        };
        Outcome::Succeeded(Done {
            outputs: vec![svg],
            report: Some(report),
            charts: vec![png],
            result,
        })
    }
}

struct ChartRecon;

impl Action for ChartRecon {
    fn name(&self) -> &'static str {
        "chart.recon"
    }
    fn summary(&self) -> &'static str {
        "Draw rupiah and count per reconciliation break category and per hour of charge time"
    }
    fn params(&self) -> &'static [&'static str] {
        &["width", "height"]
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        vec![ctx.incident.dir.evidence().join("recon/recon.json")]
    }
    fn run(&self, ctx: &Context) -> Outcome {
        let out = match image_size(ctx) {
            Ok(o) => o,
            Err(e) => return Outcome::Failed(e),
        };
        let loaded = match sidik_chart::load::recon(&ctx.incident) {
            Ok(l) => l,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let stem = ctx.incident.dir.charts().join("recon");
        match sidik_chart::render_recon(&loaded.chart, &stem, &out) {
            Ok(w) => Outcome::Succeeded(Done {
                outputs: w.svg.into_iter().collect(),
                report: None,
                charts: w.png.into_iter().collect(),
                result: String::new(),
            }),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_like_the_tracker() {
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(idr(456_789_000), "Rp 456.789.000");
        let t = sidik_pg::Table {
            types: vec![],
            columns: vec!["orders".into(), "amount".into()],
            rows: vec![vec![Some("1234".into()), Some("456789000".into())]],
        };
        assert_eq!(
            fill_template(
                "{orders:count} orders stuck, {amount:idr} not posted to HO ({rows} row)",
                &t
            ),
            "1,234 orders stuck, Rp 456.789.000 not posted to HO (1 row)"
        );
        assert_eq!(fill_template("{nope}", &t), "{nope?}");
    }
}
