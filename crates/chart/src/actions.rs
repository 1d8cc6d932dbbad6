//! The playbook actions of the charts: `chart.timeline` (the incident on one
//! time axis, with its report) and `chart.recon`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use sidik_core::time::parse_time;
use sidik_playbook::tools::write_file;
use sidik_playbook::{Action, Context, Done, OrFail, Outcome, Registry, StepResult};

/// Registers the actions of this crate.
pub fn register(r: &mut Registry) {
    r.register(ChartTimeline);
    r.register(ChartRecon);
}

/// `width`/`height` step parameters, with the chart defaults.
fn image_size(ctx: &Context) -> Result<crate::Output, String> {
    let dim = |key: &str, default: u32| -> Result<u32, String> {
        match ctx.int_param(key) {
            None => Ok(default),
            Some(v) if (200..=10_000).contains(&v) => Ok(v as u32),
            Some(v) => Err(format!(
                "step parameter {key} = {v} is out of range; give 200 to 10000 pixels"
            )),
        }
    };
    Ok(crate::Output {
        width: dim("width", 1600)?,
        height: dim("height", 900)?,
        png: true,
        svg: true,
    })
}

/// The incident timeline chart and its report.
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
        let files = sidik_evidence::Files::of(&ctx.incident.dir);
        let ev = files.root().to_path_buf();
        let mut v = vec![
            files.timeline(),
            files.stuck_orders(),
            files.metrics(),
            files.rca(),
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
    fn run(&self, ctx: &Context) -> StepResult {
        let out = image_size(ctx)?;
        let inc = &ctx.incident;
        let time = |key: &str| -> Result<Option<DateTime<Utc>>, String> {
            ctx.str_param(key)
                .map(|s| parse_time(s, inc.tz).map_err(|e| format!("step parameter {key}: {e}")))
                .transpose()
        };
        let opts = crate::load::TimelineOptions {
            from: time("from")?,
            to: time("to")?,
            ..Default::default()
        };
        let loaded = crate::load::timeline(inc, &opts).or_fail()?;
        if loaded.chart.visible_panels().next().is_none() {
            return Err(format!(
                "nothing to draw yet: {}",
                loaded.missing.join("; ")
            ));
        }
        let stem = inc.dir.charts().join("timeline");
        let w = crate::render_timeline(&loaded.chart, &stem, &out).or_fail()?;
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
        write_file(&report, &md)?;
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
        Ok(Outcome::Succeeded(Done {
            outputs: vec![svg],
            report: Some(report),
            charts: vec![png],
            result,
        }))
    }
}

/// The reconciliation chart.
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
        vec![sidik_evidence::Files::of(&ctx.incident.dir).recon()]
    }
    fn run(&self, ctx: &Context) -> StepResult {
        let out = image_size(ctx)?;
        let loaded = crate::load::recon(&ctx.incident).or_fail()?;
        let stem = ctx.incident.dir.charts().join("recon");
        let w = crate::render_recon(&loaded.chart, &stem, &out).or_fail()?;
        Ok(Outcome::Succeeded(Done {
            outputs: w.svg.into_iter().collect(),
            report: None,
            charts: w.png.into_iter().collect(),
            result: String::new(),
        }))
    }
}
