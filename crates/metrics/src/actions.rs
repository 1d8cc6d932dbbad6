//! The playbook actions of the metrics: `collect.metrics` (import the
//! exports or fetch from the server into the frame) and `metrics.runtime`
//! (the Go runtime findings).

use std::path::PathBuf;

use sidik_playbook::tools::matching;
use sidik_playbook::{Action, Context, OrFail, Outcome, Registry, StepResult};

/// Registers the actions of this crate.
pub fn register(r: &mut Registry) {
    r.register(CollectMetrics);
    r.register(MetricsRuntime);
}

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
    fn run(&self, ctx: &Context) -> StepResult {
        let inc = &ctx.incident;
        let Some(m) = &inc.file.sources.metrics else {
            return Err(format!("{} has no [sources.metrics]; add the cloud-monitoring CSV export, OpenMetrics files or prometheus_url", inc.dir.config_path().display()));
        };
        // `auto`: the server when one is configured, the exports otherwise.
        let server = match ctx.str_param("from").unwrap_or("auto") {
            "server" => true,
            "files" => false,
            "auto" => m.prometheus_url.is_some(),
            other => {
                return Err(format!(
                    "step parameter from = \"{other}\": use files, server or auto"
                ))
            }
        };
        let c = if server {
            crate::report::fetch(inc, &Default::default())
        } else {
            crate::report::import(inc)
        }
        .or_fail()?;
        let report = ctx.write_report(&c.report)?;
        if let Some(p) = c.problem {
            return Err(p);
        }
        Ok(Outcome::reported(report, c.outputs, c.summary))
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
        vec![sidik_evidence::Files::of(&ctx.incident.dir).metrics()]
    }
    fn run(&self, ctx: &Context) -> StepResult {
        let inc = &ctx.incident;
        let frame = crate::Frame::read(&inc.dir.evidence().join("metrics")).or_fail()?;
        let f = crate::runtime::findings(&frame);
        let (md, summary) = crate::report::runtime_report(inc, &f);
        let json = sidik_evidence::Files::of(&inc.dir).runtime();
        sidik_evidence::write_json(&json, &f.to_file(inc.tz)).or_fail()?;
        Ok(Outcome::reported(
            ctx.write_report(&md)?,
            vec![json],
            summary,
        ))
    }
}
