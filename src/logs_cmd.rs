//! `sidik logs …`: ingest an incident's logs, list error templates, follow an
//! order across services, print the timeline.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use sidik_core::Incident;

use crate::tracker::Format;

#[derive(Debug, Subcommand)]
pub enum LogsCommand {
    /// Read every log of incident.toml: normalise, classify, write evidence/logs/.
    Ingest(Common),
    /// Message templates per service and class, with counts and samples.
    Patterns(PatternsArgs),
    /// Every record of one order across services, in time order.
    Journey(JourneyArgs),
    /// Lines, requests, errors, classes and latency per minute and service.
    Timeline(TimelineArgs),
}

#[derive(Debug, Args)]
pub struct Common {
    #[command(flatten)]
    incident: crate::IncidentArg,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

#[derive(Debug, Args)]
pub struct PatternsArgs {
    #[command(flatten)]
    common: Common,
    /// Only this service.
    #[arg(long)]
    service: Option<String>,
    /// Only this class (`db_pool_exhaustion`, …); `any` for every classified template.
    #[arg(long)]
    class: Option<String>,
    /// At most this many templates.
    #[arg(long, default_value_t = 30)]
    top: usize,
}

#[derive(Debug, Args)]
pub struct JourneyArgs {
    /// The order id.
    order_id: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
pub struct TimelineArgs {
    #[command(flatten)]
    common: Common,
    /// Only this service.
    #[arg(long)]
    service: Option<String>,
    /// Only buckets with errors.
    #[arg(long)]
    errors: bool,
}

/// What a column holds, for `--format json`: text, a number (a JSON
/// number; empty is `null`) or a time (RFC 3339 with the incident's offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text as it is.
    Text,
    /// A number.
    Number,
    /// An RFC 3339 time.
    Time,
}

/// One cell as JSON.
fn json_cell(text: &str, kind: Kind, tz: chrono_tz::Tz) -> serde_json::Value {
    use serde_json::Value;
    match kind {
        Kind::Text => Value::String(text.to_string()),
        Kind::Number if text.trim().is_empty() => Value::Null,
        Kind::Number => {
            let t = text.trim();
            t.parse::<i64>()
                .map(Value::from)
                .or_else(|_| t.parse::<f64>().map(Value::from))
                .unwrap_or_else(|_| Value::String(text.to_string()))
        }
        Kind::Time => match sidik_evidence::time::parse_ms(text) {
            Some(ms) => Value::String(sidik_evidence::time::rfc3339(ms, tz)),
            None if text.is_empty() => Value::Null,
            None => Value::String(text.to_string()),
        },
    }
}

/// Prints rows in the chosen format; `kinds` says what each column holds
/// (one per header), for JSON.
pub fn print_table(
    format: Format,
    headers: &[String],
    kinds: &[Kind],
    rows: &[Vec<String>],
    tz: chrono_tz::Tz,
) -> Result<()> {
    match format {
        Format::Json => {
            let v: Vec<serde_json::Map<String, serde_json::Value>> = rows
                .iter()
                .map(|r| {
                    headers
                        .iter()
                        .cloned()
                        .zip(r.iter().zip(kinds).map(|(c, k)| json_cell(c, *k, tz)))
                        .collect()
                })
                .collect();
            out!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(headers)?;
            for r in rows {
                w.write_record(r)?;
            }
            out!("{}", String::from_utf8_lossy(&w.into_inner()?).trim_end());
        }
        Format::Table => {
            let widths: Vec<usize> = (0..headers.len())
                .map(|i| {
                    rows.iter()
                        .map(|r| r[i].chars().count())
                        .chain([headers[i].len()])
                        .max()
                        .unwrap_or(0)
                        .min(80)
                })
                .collect();
            let line = |cells: &[String]| {
                cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| {
                        let c: String = c.chars().take(*w).collect();
                        format!("{c:<w$}", w = *w)
                    })
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_string()
            };
            out!(
                "{}",
                line(&headers.iter().map(|h| h.to_uppercase()).collect::<Vec<_>>())
            );
            for r in rows {
                out!("{}", line(r));
            }
        }
    }
    Ok(())
}

fn local(inc: &Incident, ms: i64) -> String {
    sidik_core::time::local(ms, inc.tz, sidik_core::time::Shown::Millis)
}

fn read_csv(path: &std::path::Path) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let mut r = csv::Reader::from_path(path).with_context(|| {
        format!(
            "cannot read {}; run `sidik logs ingest` first",
            path.display()
        )
    })?;
    let headers = r.headers()?.iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|x| x.map(|x| x.iter().map(str::to_string).collect()))
        .collect::<Result<_, _>>()?;
    Ok((headers, rows))
}

pub fn run(cmd: LogsCommand) -> Result<()> {
    match cmd {
        LogsCommand::Ingest(a) => {
            let inc = Incident::load(&a.incident)?;
            let started = std::time::Instant::now();
            // A progress line on stderr while it runs (hidden when stderr is not a terminal).
            let read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} reading logs: {bytes} ({bytes_per_sec}), {elapsed}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            let ticker = {
                let (read, done, bar) = (read.clone(), done.clone(), bar.clone());
                std::thread::spawn(move || {
                    while !done.load(std::sync::atomic::Ordering::Relaxed) {
                        bar.set_position(read.load(std::sync::atomic::Ordering::Relaxed));
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                    bar.finish_and_clear();
                })
            };
            let got = sidik_logs::incident::ingest_incident(
                &inc,
                sidik_logs::ingest::CHUNK_ROWS,
                Some(read),
            );
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            let _ = ticker.join();
            let got = got?;
            let s = &got.summary;
            let headers: Vec<String> = [
                "service",
                "file",
                "format",
                "compression",
                "lines",
                "events",
                "quarantined",
            ]
            .map(String::from)
            .to_vec();
            let rows: Vec<Vec<String>> = s
                .files
                .iter()
                .map(|f| {
                    vec![
                        f.service.clone(),
                        f.path.clone(),
                        if f.cri {
                            format!("cri+{}", f.format)
                        } else if f.docker {
                            format!("docker+{}", f.format)
                        } else {
                            f.format.clone()
                        },
                        format!("{:?}", f.compression).to_lowercase(),
                        f.lines.to_string(),
                        f.events.to_string(),
                        f.quarantined.to_string(),
                    ]
                })
                .collect();
            use Kind::{Number, Text};
            let kinds = [Text, Text, Text, Text, Number, Number, Number];
            print_table(a.format, &headers, &kinds, &rows, inc.tz)?;
            if matches!(a.format, Format::Table) {
                let secs = started.elapsed().as_secs_f64();
                let events: u64 = s.events.values().sum();
                let q: u64 = s.quarantined.values().sum();
                out!(
                    "{} events, {q} lines set aside (evidence/quarantine/), {:.1} MiB in {secs:.1} s ({:.0} MiB/s)",
                    sidik_core::fmt::count(events as i64),
                    s.bytes as f64 / 1_048_576.0,
                    s.bytes as f64 / 1_048_576.0 / secs.max(1e-9)
                );
                for f in s.files.iter().filter(|f| f.cut_short.is_some()) {
                    out!(
                        "warning: {} was cut short: {}; everything before it was kept",
                        f.path,
                        f.cut_short.as_deref().unwrap_or("")
                    );
                }
                for f in &s.files {
                    for k in &f.latency_keys {
                        out!(
                            "latency: {} `{}` read in {} ({}): {} values{}, median {:.3} ms",
                            f.service,
                            k.key,
                            k.unit.as_str(),
                            serde_json::to_value(k.from)
                                .ok()
                                .and_then(|v| v.as_str().map(str::to_string))
                                .unwrap_or_default(),
                            k.values,
                            if k.strings > 0 {
                                format!(" ({} duration strings)", k.strings)
                            } else {
                                String::new()
                            },
                            k.median_ms
                        );
                    }
                }
                out!("written: {}", inc.dir.relative(&got.dir));
            }
            // On stderr whatever the output format: a wrong format or a
            // window that misses the data must not pass unseen.
            for w in s.warnings() {
                eprintln!("warning: {w}");
            }
            let empty = s.empty_services();
            if !empty.is_empty() {
                use std::io::Write as _;
                let _ = std::io::stdout().flush();
                anyhow::bail!(
                    "no event was read for {}: every line was set aside (evidence/quarantine/); set the right `format` in incident.toml and ingest again",
                    empty.join(", ")
                );
            }
            if s.is_partial() {
                // Every other file and service was read; the exit code says
                // the ingest is partial (3), as recon's does.
                for n in &s.not_read {
                    eprintln!("warning: {} `{}` not read: {}", n.service, n.path, n.reason);
                }
                eprintln!(
                    "warning: the ingest is partial: {} path(s) not read, {} file(s) cut short; the rest was ingested (evidence/logs/summary.json lists them)",
                    s.not_read.len(),
                    s.files.iter().filter(|f| f.cut_short.is_some()).count()
                );
                use std::io::Write as _;
                let _ = std::io::stdout().flush();
                std::process::exit(3);
            }
            Ok(())
        }
        LogsCommand::Patterns(a) => {
            let inc = Incident::load(&a.common.incident)?;
            let (headers, rows) = read_csv(&sidik_evidence::Files::of(&inc.dir).patterns())?;
            let idx = |n: &str| headers.iter().position(|h| h == n).unwrap_or(0);
            let (si, ci) = (idx("service"), idx("class"));
            let mut rows: Vec<Vec<String>> = rows
                .into_iter()
                .filter(|r| a.service.as_ref().is_none_or(|s| &r[si] == s))
                .filter(|r| match a.class.as_deref() {
                    None => true,
                    Some("any") => !r[ci].is_empty(),
                    Some(c) => r[ci] == c,
                })
                .collect();
            rows.truncate(a.top);
            let keep = [
                "service",
                "class",
                "count",
                "first_seen",
                "last_seen",
                "template",
                "sample_at",
            ];
            let cols: Vec<usize> = keep.iter().map(|k| idx(k)).collect();
            let rows: Vec<Vec<String>> = rows
                .iter()
                .map(|r| cols.iter().map(|&i| r[i].clone()).collect())
                .collect();
            use Kind::{Number, Text, Time};
            let kinds = [Text, Text, Number, Time, Time, Text, Text];
            print_table(
                a.common.format,
                &keep.map(String::from),
                &kinds,
                &rows,
                inc.tz,
            )
        }
        LogsCommand::Journey(a) => {
            let inc = Incident::load(&a.common.incident)?;
            let dir = inc.dir.evidence().join("logs");
            if !dir.join("summary.json").exists() {
                bail!(
                    "no ingested logs in {}; run `sidik logs ingest --incident {}` first",
                    dir.display(),
                    a.common.incident.display()
                );
            }
            let rows = sidik_logs::incident::journey_rows(&dir, &a.order_id)?;
            if rows.is_empty() {
                bail!("no log record mentions order {}", a.order_id);
            }
            let headers: Vec<String> = [
                "time",
                "service",
                "level",
                "message",
                "class",
                "payment_id",
                "at",
            ]
            .map(String::from)
            .to_vec();
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    let msg = match &r.error {
                        Some(e) if e != &r.message => format!("{}: {e}", r.message),
                        _ => r.message.clone(),
                    };
                    vec![
                        // JSON gets the instant with its offset; a table, the local time.
                        if matches!(a.common.format, Format::Json) {
                            sidik_evidence::time::rfc3339(r.time, inc.tz)
                        } else {
                            local(&inc, r.time)
                        },
                        r.service.clone(),
                        r.level.clone().unwrap_or_default(),
                        msg,
                        r.class.clone().unwrap_or_default(),
                        r.payment_id.clone().unwrap_or_default(),
                        r.at.clone(),
                    ]
                })
                .collect();
            let kinds = [Kind::Text; 7];
            print_table(a.common.format, &headers, &kinds, &table, inc.tz)?;
            if matches!(a.common.format, Format::Table) {
                match rows.iter().find(|r| {
                    r.class.is_some()
                        || r.level
                            .as_deref()
                            .is_some_and(|l| l == "error" || l == "fatal")
                }) {
                    Some(b) => out!(
                        "first broken hop: {} {} — {}{}",
                        local(&inc, b.time),
                        b.service,
                        b.message,
                        b.class
                            .as_ref()
                            .map(|c| format!(" ({c})"))
                            .unwrap_or_default()
                    ),
                    None => out!("no error on this order's journey"),
                }
            }
            Ok(())
        }
        LogsCommand::Timeline(a) => {
            let inc = Incident::load(&a.common.incident)?;
            let (headers, rows) = read_csv(&sidik_evidence::Files::of(&inc.dir).timeline())?;
            let si = headers.iter().position(|h| h == "service").unwrap_or(1);
            let ei = headers.iter().position(|h| h == "errors").unwrap_or(4);
            let rows: Vec<Vec<String>> = rows
                .into_iter()
                .filter(|r| a.service.as_ref().is_none_or(|s| &r[si] == s))
                .filter(|r| !a.errors || r[ei] != "0")
                .collect();
            let kinds: Vec<Kind> = headers
                .iter()
                .map(|h| match h.as_str() {
                    "bucket" => Kind::Time,
                    "service" => Kind::Text,
                    _ => Kind::Number,
                })
                .collect();
            print_table(a.common.format, &headers, &kinds, &rows, inc.tz)
        }
    }
}
