//! `sidik metrics import|fetch|runtime`: the metrics frame and the Go runtime findings.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use sidik_core::time::{parse_go_duration, parse_time};
use sidik_core::Incident;
use sidik_metrics::report::{fetch, import, runtime_report, Collected};

use crate::tracker::Format;

#[derive(Debug, Subcommand)]
pub enum MetricsCommand {
    /// Import the CSV and OpenMetrics exports [sources.metrics] lists into evidence/metrics/.
    Import(IncidentOnly),
    /// Fetch the named queries from a Prometheus-compatible server into evidence/metrics/.
    Fetch(FetchArgs),
    /// Go runtime findings from evidence/metrics/: goroutine leaks, GC pauses, heap, file descriptors.
    Runtime(RuntimeArgs),
}

#[derive(Debug, Args)]
pub struct IncidentOnly {
    #[command(flatten)]
    incident: crate::IncidentArg,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    #[command(flatten)]
    incident: crate::IncidentArg,
    /// Server base URL (default: prometheus_url in [sources.metrics]).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// A query NAME=PROMQL (repeatable; replaces the configured and shipped ones).
    #[arg(long, value_name = "NAME=PROMQL")]
    query: Vec<String>,
    /// Resolution (Go duration).
    #[arg(long, value_name = "DURATION")]
    step: Option<String>,
    /// Most points per series in one request.
    #[arg(long)]
    max_points: Option<u32>,
    /// First instant (default: the incident window's start).
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// First instant after (default: the window's end).
    #[arg(long, value_name = "TIME")]
    to: Option<String>,
}

#[derive(Debug, Args)]
pub struct RuntimeArgs {
    #[command(flatten)]
    incident: crate::IncidentArg,
    /// Output: a table or the findings as JSON.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

pub fn run(cmd: MetricsCommand) -> Result<()> {
    let show = |inc: &Incident, c: Collected| -> Result<()> {
        let path = inc.dir.reports().join("metrics.md");
        sidik_core::folder::write_atomic(&path, c.report.as_bytes())?;
        out!("{}", c.summary);
        for o in &c.outputs {
            out!("wrote {}", inc.dir.relative(o));
        }
        out!("report {}", inc.dir.relative(&path));
        if let Some(p) = c.problem {
            bail!("{p}");
        }
        Ok(())
    };
    match cmd {
        MetricsCommand::Import(a) => {
            let inc = Incident::load(&a.incident)?;
            let c = import(&inc)?;
            show(&inc, c)
        }
        MetricsCommand::Fetch(a) => {
            let inc = Incident::load(&a.incident)?;
            let mut queries = Vec::new();
            for q in &a.query {
                let Some((n, p)) = q.split_once('=') else {
                    bail!("--query {q}: expected NAME=PROMQL, e.g. --query 'go_goroutines=sum by (service) (go_goroutines)'");
                };
                queries.push((n.trim().to_string(), p.trim().to_string()));
            }
            let t = |flag: &str, v: &Option<String>| -> Result<Option<i64>> {
                v.as_deref()
                    .map(|s| {
                        parse_time(s, inc.tz)
                            .map(|t| t.timestamp_millis())
                            .with_context(|| format!("--{flag}"))
                    })
                    .transpose()
            };
            let step_ms = a
                .step
                .as_deref()
                .map(|s| {
                    parse_go_duration(s)
                        .map(|d| d.num_milliseconds())
                        .context("--step")
                })
                .transpose()?;
            let o = sidik_metrics::client::Overrides {
                url: a.url.clone(),
                queries,
                step_ms,
                max_points: a.max_points,
                from: t("from", &a.from)?,
                to: t("to", &a.to)?,
            };
            let c = fetch(&inc, &o)?;
            show(&inc, c)
        }
        MetricsCommand::Runtime(a) => {
            let inc = Incident::load(&a.incident)?;
            let frame = sidik_metrics::Frame::read(&inc.dir.evidence().join("metrics"))?;
            let f = sidik_metrics::runtime::findings(&frame);
            match a.format {
                Format::Json => out!("{}", serde_json::to_string_pretty(&f.to_file(inc.tz))?),
                _ => {
                    let (md, summary) = runtime_report(&inc, &f);
                    out!("{}", md.trim_end());
                    let _ = summary;
                }
            }
            Ok(())
        }
    }
}
