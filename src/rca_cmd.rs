//! `sidik rca`: score the hypotheses and find the phases.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use sidik_core::Incident;
use sidik_rca::report::{hhmm, hhmmss};

/// Arguments of `sidik rca`.
#[derive(Debug, Args)]
pub struct RcaArgs {
    #[command(flatten)]
    incident: crate::IncidentArg,
    /// More hypotheses (TOML, as crates/rca/hypotheses.toml); same id replaces. Repeatable.
    #[arg(long, value_name = "FILE")]
    hypotheses: Vec<PathBuf>,
    /// Print the shipped hypotheses file and exit.
    #[arg(long)]
    print_hypotheses: bool,
}

pub fn run(a: RcaArgs) -> Result<()> {
    if a.print_hypotheses {
        print!("{}", sidik_rca::hypotheses::SHIPPED);
        return Ok(());
    }
    let inc = Incident::load(&a.incident)?;
    let (an, md, json) = sidik_rca::run(&inc, &a.hypotheses)?;
    let tz = inc.tz;
    out!("phases:");
    for (name, p) in [
        ("spike start", &an.phases.spike_start),
        ("error onset", &an.phases.error_onset),
        ("degradation", &an.phases.degradation_start),
        ("recovery", &an.phases.recovery),
    ] {
        match p {
            Some(p) => out!("  {name:<12} {}  {}", hhmmss(tz, p.at), p.series),
            None => out!("  {name:<12} not found"),
        }
    }
    out!("hypotheses:");
    for h in &an.hypotheses {
        out!(
            "  {} {:<40} {:<12} {:>3.0}  {}",
            h.number,
            h.title,
            format!("{:?}", h.verdict).to_lowercase(),
            h.score,
            h.significant_at
                .map_or(String::new(), |t| format!("from {}", hhmm(tz, t)))
        );
    }
    match (&an.primary, &an.primary_why) {
        (Some(p), Some(why)) => {
            let h = an.hypotheses.iter().find(|h| &h.id == p);
            out!(
                "primary root cause: {} ({why})",
                h.map_or(p.clone(), |h| format!(
                    "hypothesis {}, {}",
                    h.number, h.title
                ))
            );
        }
        _ => out!("primary root cause: none supported; collect what is missing (see the report)"),
    }
    if !an.contributing.is_empty() {
        out!("contributing factors:");
        for f in &an.contributing {
            out!(
                "  {:<5} {} ({})",
                f.at.map_or(String::new(), |t| hhmm(tz, t)),
                f.says,
                f.hypothesis
            );
        }
    }
    for m in &an.missing {
        out!("missing: {m}");
    }
    out!("report: {}", md.display());
    out!("data:   {}", json.display());
    if an.primary.is_none() {
        // As the playbook's rca step fails: no supported cause is not a result to act on.
        eprintln!(
            "no hypothesis is supported: the evidence above is missing or contradicts each cause; collect what is missing and run `sidik rca` again"
        );
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        std::process::exit(4);
    }
    Ok(())
}
