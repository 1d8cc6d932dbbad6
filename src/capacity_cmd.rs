//! `sidik capacity`, `sidik review` and `sidik alerts`: phase 5 from the command line.

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use sidik_capacity::review::{Area, Verdict};
use sidik_capacity::{actions, review};
use sidik_core::Incident;

/// Arguments of `sidik capacity`.
#[derive(Debug, Args)]
pub struct CapacityArgs {
    #[command(flatten)]
    incident: crate::IncidentArg,
}

/// Review areas on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AreaArg {
    /// Database pools and statement timeouts.
    Pools,
    /// HTTP timeouts and retries.
    Timeouts,
    /// Circuit breakers.
    Breakers,
    /// Autoscaling.
    Autoscaling,
}

/// Arguments of `sidik review`.
#[derive(Debug, Args)]
pub struct ReviewArgs {
    #[command(flatten)]
    incident: crate::IncidentArg,
    /// Only this area (default: every setting, the most important first).
    #[arg(long, value_enum)]
    area: Option<AreaArg>,
    /// Print the review as JSON (as evidence/prevention/review.json) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Arguments of `sidik alerts`.
#[derive(Debug, Args)]
pub struct AlertsArgs {
    #[command(flatten)]
    incident: crate::IncidentArg,
}

pub fn capacity(a: CapacityArgs) -> Result<()> {
    let inc = Incident::load(&a.incident)?;
    let report = inc.dir.reports().join("capacity.md");
    let (p, outputs) = actions::run_plan(&inc, &report).map_err(anyhow::Error::msg)?;
    if p.services.is_empty() {
        bail!("no request rate of any service in {}'s evidence: run `sidik run` for phases 1–2 first (metrics import, logs ingest)", inc.dir.root().display());
    }
    out!(
        "planned for {} concurrent users (× {:.3} the incident's peak)",
        sidik_core::fmt::count(p.target_users),
        p.scale
    );
    out!(
        "{:<22} {:>10} {:>10} {:>12} {:>10} {:>9}",
        "service",
        "peak/s",
        "target/s",
        "in flight",
        "pool need",
        "pool now"
    );
    for r in &p.services {
        out!(
            "{:<22} {:>10.1} {:>10.1} {:>12} {:>10} {:>9}",
            r.service,
            r.rate_peak,
            r.rate_target,
            r.concurrency_target
                .map_or("unknown".into(), |c| format!("{c:.1}")),
            r.pool_needed.map_or("unknown".into(), |n| n.to_string()),
            r.pool_configured
                .map_or("unknown".into(), |n| n.to_string()),
        );
    }
    if let Some(s) = &p.server {
        out!(
            "database: {} usable slots; pools now {}, at most replicas {}, needed at the target {}",
            s.usable,
            p.sum_now,
            p.sum_max,
            p.sum_needed
        );
    }
    for n in &p.notes {
        out!("note: {n}");
    }
    out!("report: {}", inc.dir.relative(&report));
    for o in outputs {
        out!("data:   {}", inc.dir.relative(&o));
    }
    Ok(())
}

pub fn review(a: ReviewArgs) -> Result<()> {
    let inc = Incident::load(&a.incident)?;
    if inc.file.topology.service.is_empty() {
        bail!(
            "{} has no [[topology.service]]: describe the services' pools, timeouts, breakers and autoscaling (docs/capacity.md), then run `sidik review` again",
            inc.dir.config_path().display()
        );
    }
    let (mut r, json) = actions::run_review(&inc).map_err(anyhow::Error::msg)?;
    if let Some(area) = a.area {
        let keep: &[Area] = match area {
            AreaArg::Pools => &[Area::Pool, Area::Statement],
            AreaArg::Timeouts => &[Area::Timeout, Area::Retries],
            AreaArg::Breakers => &[Area::Breaker],
            AreaArg::Autoscaling => &[Area::Autoscaling],
        };
        r.findings.retain(|f| keep.contains(&f.area));
    }
    if a.json {
        out!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    let report = inc.dir.reports().join("review.md");
    std::fs::create_dir_all(inc.dir.reports())?;
    std::fs::write(
        &report,
        review::to_markdown(&r, None, "Configuration review"),
    )?;
    for (i, f) in r.findings.iter().enumerate() {
        let word = match f.verdict {
            Verdict::Fail => "FAIL",
            Verdict::Warn => "warn",
            Verdict::Ok => "ok",
            Verdict::Unknown => "unknown",
        };
        out!(
            "{:>2}. {:<7} {}  (now {})",
            i + 1,
            word,
            f.setting,
            f.current
        );
        if let Some(e) = f.evidence.first() {
            out!("     {e}");
        }
        out!("     → {}", f.recommended);
    }
    for m in &r.missing {
        out!("missing: {m}");
    }
    out!("report: {}", inc.dir.relative(&report));
    out!("data:   {}", inc.dir.relative(&json));
    Ok(())
}

pub fn alerts(a: AlertsArgs) -> Result<()> {
    let inc = Incident::load(&a.incident)?;
    let report = inc.dir.reports().join("alerts.md");
    let (r, outputs, checked) = actions::run_alerts(&inc, &report).map_err(anyhow::Error::msg)?;
    for x in &r.rules {
        out!(
            "{:<24} for {:>2}m  {}  {}",
            x.name,
            x.for_min,
            x.fires_at
                .map_or("does not fire during the incident".into(), |m| format!(
                    "fires at {}",
                    sidik_rca::clock::hhmm(inc.tz, r.start_ms + m * 60_000)
                )),
            x.expr
        );
    }
    for m in &r.missing {
        out!("not covered: {m}");
    }
    match checked {
        Ok(_) => out!("promtool check rules and test rules: passed"),
        Err(m) => out!("not checked: {m}"),
    }
    out!("report: {}", inc.dir.relative(&report));
    for o in outputs {
        out!("rules:  {}", inc.dir.relative(&o));
    }
    Ok(())
}
