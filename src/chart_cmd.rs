//! `sidik chart timeline|recon`: draw the incident's charts into `charts/`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use sidik_chart::load::{PhaseTimes, TimelineOptions};
use sidik_chart::Output;
use sidik_core::time::parse_time;
use sidik_core::Incident;

/// Which image files to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImageFormat {
    /// PNG and SVG.
    Both,
    /// PNG only.
    Png,
    /// SVG only.
    Svg,
}

#[derive(Debug, Args)]
pub struct ImageArgs {
    #[command(flatten)]
    incident: crate::IncidentArg,
    /// Image width in pixels.
    #[arg(long, default_value_t = 1600)]
    width: u32,
    /// Image height in pixels.
    #[arg(long, default_value_t = 900)]
    height: u32,
    /// Files to write.
    #[arg(long, value_enum, default_value = "both")]
    format: ImageFormat,
    /// Where to write, without extension (default: charts/timeline or charts/recon).
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
}

impl ImageArgs {
    fn output(&self) -> Output {
        Output {
            width: self.width,
            height: self.height,
            png: self.format != ImageFormat::Svg,
            svg: self.format != ImageFormat::Png,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ChartCommand {
    /// Requests, errors by class, latency, DB connections, stuck orders and goroutines on one time axis,
    /// with the spike, error onset and degradation shaded and events marked.
    Timeline(TimelineArgs),
    /// Rupiah and count per reconciliation break category, and per hour of charge time.
    Recon(ImageArgs),
}

#[derive(Debug, Args)]
pub struct TimelineArgs {
    #[command(flatten)]
    image: ImageArgs,
    /// First instant shown (default: the incident window); local times are in the incident timezone.
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// Last instant shown.
    #[arg(long, value_name = "TIME")]
    to: Option<String>,
    /// Start of the traffic spike (overrides `sidik rca` and [incident.phases]).
    #[arg(long, value_name = "TIME")]
    spike_start: Option<String>,
    /// Onset of errors.
    #[arg(long, value_name = "TIME")]
    error_onset: Option<String>,
    /// Start of the degradation.
    #[arg(long, value_name = "TIME")]
    degradation_start: Option<String>,
    /// Recovery.
    #[arg(long, value_name = "TIME")]
    recovery: Option<String>,
}

pub fn run(cmd: ChartCommand) -> Result<()> {
    match cmd {
        ChartCommand::Timeline(a) => {
            let inc = Incident::load(&a.image.incident)?;
            let t =
                |flag: &str, v: &Option<String>| -> Result<Option<chrono::DateTime<chrono::Utc>>> {
                    v.as_deref()
                        .map(|s| parse_time(s, inc.tz).with_context(|| format!("--{flag}")))
                        .transpose()
                };
            let opts = TimelineOptions {
                from: t("from", &a.from)?,
                to: t("to", &a.to)?,
                phases: PhaseTimes {
                    spike_start: t("spike-start", &a.spike_start)?,
                    error_onset: t("error-onset", &a.error_onset)?,
                    degradation_start: t("degradation-start", &a.degradation_start)?,
                    recovery: t("recovery", &a.recovery)?,
                },
            };
            let stem = a
                .image
                .out
                .clone()
                .unwrap_or_else(|| inc.dir.charts().join("timeline"));
            let done = timeline(&inc, &opts, &stem, &a.image.output())?;
            print!("{}", done.text);
            Ok(())
        }
        ChartCommand::Recon(a) => {
            let inc = Incident::load(&a.incident)?;
            let stem = a
                .out
                .clone()
                .unwrap_or_else(|| inc.dir.charts().join("recon"));
            let done = recon(&inc, &stem, &a.output())?;
            print!("{}", done.text);
            Ok(())
        }
    }
}

/// A path inside the incident relative to it, any other as given.
fn shown(inc: &Incident, p: &std::path::Path) -> String {
    if p.starts_with(inc.dir.root()) {
        inc.dir.relative(p)
    } else {
        p.display().to_string()
    }
}

/// What a chart command made, for the terminal.
pub struct Made {
    /// A few lines for the person.
    pub text: String,
}

/// Draws the timeline.
pub fn timeline(
    inc: &Incident,
    opts: &TimelineOptions,
    stem: &std::path::Path,
    out: &Output,
) -> Result<Made> {
    let loaded = sidik_chart::load::timeline(inc, opts)?;
    let w = sidik_chart::render_timeline(&loaded.chart, stem, out)?;
    let panels: Vec<String> = w.drawn.panels.iter().map(|p| p.title.clone()).collect();
    let files: Vec<PathBuf> = w.png.iter().chain(w.svg.iter()).cloned().collect();
    let mut text = String::new();
    for f in &files {
        text.push_str(&format!("wrote {}\n", shown(inc, f)));
    }
    text.push_str(&format!(
        "panels: {}\n",
        if panels.is_empty() {
            "none (no data in the window)".to_string()
        } else {
            panels.join(" · ")
        }
    ));
    text.push_str(&format!(
        "phases: {}\n",
        match &loaded.phases_from {
            Some(from) => format!(
                "{} (from {from})",
                loaded
                    .chart
                    .phases
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => "none".into(),
        }
    ));
    text.push_str(&format!("annotations: {}\n", loaded.chart.marks.len()));
    for m in &loaded.missing {
        text.push_str(&format!("missing: {m}\n"));
    }
    Ok(Made { text })
}

/// Draws the reconciliation chart.
pub fn recon(inc: &Incident, stem: &std::path::Path, out: &Output) -> Result<Made> {
    let loaded = sidik_chart::load::recon(inc)?;
    let w = sidik_chart::render_recon(&loaded.chart, stem, out)?;
    let files: Vec<PathBuf> = w.png.iter().chain(w.svg.iter()).cloned().collect();
    let mut text = String::new();
    for f in &files {
        text.push_str(&format!("wrote {}\n", shown(inc, f)));
    }
    text.push_str(&format!("{}\n", loaded.chart.subtitle));
    Ok(Made { text })
}
