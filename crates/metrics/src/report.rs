//! The metrics reports: `reports/metrics.md` after an import or a fetch
//! (what was collected, what was set aside, whether it covers the window)
//! and the Go runtime findings in words.

use std::fmt::Write as _;
use std::path::PathBuf;

use sidik_core::fmt::count;
use sidik_core::Incident;

use crate::runtime::Findings;
use crate::{Frame, MetricsError, Rejected, Tally};

type Result<T> = std::result::Result<T, MetricsError>;

/// A collected frame and what to say about it.
pub struct Collected {
    /// Markdown report.
    pub report: String,
    /// One line.
    pub summary: String,
    /// Files written.
    pub outputs: Vec<PathBuf>,
    /// A problem that makes the collection unusable (the window not covered).
    pub problem: Option<String>,
}

fn shown_rejected(rejected: &[Rejected]) -> String {
    let mut s = String::new();
    for r in rejected.iter().take(50) {
        if r.line > 0 {
            let _ = writeln!(s, "- {}:{}: {}", r.file, r.line, r.reason);
        } else {
            let _ = writeln!(s, "- {}: {}", r.file, r.reason);
        }
    }
    if rejected.len() > 50 {
        let _ = writeln!(
            s,
            "- … {} more in evidence/metrics/rejected.csv",
            rejected.len() - 50
        );
    }
    s
}

/// Writes the frame, the rejected lines and the report body shared by import and fetch.
fn finish(
    inc: &Incident,
    frame: &Frame,
    rejected: &[Rejected],
    tally: &Tally,
    head: String,
) -> Result<Collected> {
    let dir = inc.dir.evidence().join("metrics");
    let mut outputs = frame.write(&dir)?;
    let rej = dir.join("rejected.csv");
    if rejected.is_empty() {
        let _ = std::fs::remove_file(&rej);
    } else {
        let mut t = String::from("file,line,reason\n");
        for r in rejected {
            let f = sidik_core::fmt::csv_field;
            let _ = writeln!(t, "{},{},{}", f(&r.file), r.line, f(&r.reason));
        }
        sidik_core::folder::write_atomic(&rej, t.as_bytes()).map_err(|e| MetricsError::Output {
            path: rej.clone(),
            message: e.to_string(),
        })?;
        outputs.push(rej);
    }
    let metrics = frame.metrics();
    let services: std::collections::BTreeSet<&str> =
        frame.points.iter().map(|p| p.service.as_str()).collect();
    let instances: std::collections::BTreeSet<(&str, &str)> = frame
        .points
        .iter()
        .map(|p| (p.service.as_str(), p.instance.as_str()))
        .collect();
    let local = |ms: i64| sidik_core::time::local(ms, inc.tz, sidik_core::time::Shown::Zone);
    let mut md = head;
    let _ = writeln!(
        md,
        "- {} points of {} metrics from {} services, {} instances",
        count(frame.points.len() as i64),
        metrics.len(),
        services.len(),
        instances.len()
    );
    let span = frame.span();
    if let Some((a, b)) = span {
        let _ = writeln!(md, "- covers {} – {}", local(a), local(b));
    }
    let _ = writeln!(md, "- metrics: {}", metrics.join(", "));
    let _ = writeln!(
        md,
        "- services: {}",
        services.iter().copied().collect::<Vec<_>>().join(", ")
    );
    let _ = writeln!(md, "- frame: [metrics.parquet](../evidence/metrics/metrics.parquet), [metrics.csv](../evidence/metrics/metrics.csv)");
    if tally.duplicates > 0 {
        let _ = writeln!(
            md,
            "- {} samples given twice for the same series and minute (kept once)",
            count(tally.duplicates as i64)
        );
    }
    if !tally.non_finite.is_empty() {
        let _ = writeln!(
            md,
            "- values that are not numbers (NaN, ±Inf), kept as such: {}",
            tally
                .non_finite
                .iter()
                .map(|(m, n)| format!("{m} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !tally.conflicts.is_empty() {
        let _ = writeln!(
            md,
            "\n## Conflicting samples ({}; the later kept)\n",
            tally.conflicts.len()
        );
        for c in tally.conflicts.iter().take(20) {
            let _ = writeln!(md, "- {c}");
        }
    }
    if !rejected.is_empty() {
        let _ = writeln!(
            md,
            "\n## Lines set aside ({})\n",
            count(rejected.len() as i64)
        );
        md.push_str(&shown_rejected(rejected));
    }
    let problem = match (span, inc.window) {
        (None, _) => Some("no metric points at all".to_string()),
        (Some((a, b)), Some(w)) => {
            let slack = 5 * 60_000;
            (a > w.start.timestamp_millis() + slack || b < w.end.timestamp_millis() - slack - 60_000).then(|| {
                format!(
                    "the metrics cover {} – {} but the window is {}: export or fetch the missing part",
                    local(a),
                    local(b),
                    w.display_in(inc.tz)
                )
            })
        }
        _ => None,
    };
    let summary = format!(
        "{} metrics × {} instances{}{}",
        metrics.len(),
        instances.len(),
        span.map(|(a, b)| format!(", {} – {}", local(a), local(b)))
            .unwrap_or_default(),
        if rejected.is_empty() {
            String::new()
        } else {
            format!("; {} lines set aside", rejected.len())
        }
    );
    Ok(Collected {
        report: md,
        summary,
        outputs,
        problem,
    })
}

/// Imports the exports [sources.metrics] lists and writes the frame.
pub fn import(inc: &Incident) -> Result<Collected> {
    let im = crate::import::incident(inc)?;
    let mut head = String::from("# Metrics\n\nImported from ");
    head.push_str(
        &im.files
            .iter()
            .map(|(f, n)| {
                let r = inc.dir.relative(f);
                format!("[{r}](../{r}) ({} samples)", count(*n as i64))
            })
            .collect::<Vec<_>>()
            .join(", "),
    );
    head.push_str(".\n\n");
    for n in &im.notes {
        let _ = writeln!(head, "- note: {n}");
    }
    finish(inc, &im.frame, &im.rejected, &im.tally, head)
}

/// Fetches the named queries from the server and writes the frame.
pub fn fetch(inc: &Incident, o: &crate::client::Overrides) -> Result<Collected> {
    let rt =
        sidik_core::process::runtime().map_err(|e| MetricsError::Unreachable(e.to_string()))?;
    let f = rt.block_on(crate::client::incident(inc, o))?;
    let url = o
        .url
        .clone()
        .or(inc
            .file
            .sources
            .metrics
            .as_ref()
            .and_then(|m| m.prometheus_url.clone()))
        .unwrap_or_default();
    let mut head = format!(
        "# Metrics\n\nFetched from {url}: {} requests ({} retried).\n\n| query | PromQL | series | points |\n|---|---|---:|---:|\n",
        f.stats.requests, f.stats.retried
    );
    for (name, q) in &f.queries {
        let _ = writeln!(
            head,
            "| {name} | `{}` | {} | {} |",
            q.replace('|', "\\|"),
            f.stats.series.get(name).copied().unwrap_or(0),
            count(f.stats.points.get(name).copied().unwrap_or(0) as i64)
        );
    }
    head.push('\n');
    if !f.stats.empty.is_empty() {
        let _ = writeln!(
            head,
            "- no series for {}: the metric may not exist on this server or under this name; check it, or map it in [sources.metrics.queries]",
            f.stats.empty.join(", ")
        );
    }
    for w in &f.stats.warnings {
        let _ = writeln!(head, "- server warning: {w}");
    }
    finish(inc, &f.frame, &f.rejected, &f.tally, head)
}

/// The runtime findings as markdown, with a one-line summary.
pub fn runtime_report(inc: &Incident, f: &Findings) -> (String, String) {
    let local = |ms: i64| sidik_core::time::local(ms, inc.tz, sidik_core::time::Shown::Zone);
    let hm = |ms: i64| sidik_core::time::local(ms, inc.tz, sidik_core::time::Shown::Clock);
    let mut md =
        String::from("# Go runtime\n\nFrom the metrics frame (evidence/metrics/metrics.csv).\n\n");
    if let Some(s) = f.spike {
        let _ = writeln!(
            md,
            "Traffic spike (the largest rise of the total request rate) from {}.\n",
            local(s)
        );
    }
    md.push_str("## Goroutines\n\n");
    if f.leaks.is_empty() {
        md.push_str("No goroutine growth beyond what the load explains.\n");
    }
    for l in &f.leaks {
        let _ = writeln!(
            md,
            "- **{}**: goroutines grow without following load from {} to {}: {} at the start, {} at the peak, {} more than the request rate explains (about {} a minute). Consistent with goroutines blocked on outbound calls (callbacks, HTTP clients without a working timeout).",
            l.service,
            local(l.start),
            hm(l.end),
            count(l.at_start.round() as i64),
            count(l.peak.round() as i64),
            count(l.excess.round() as i64),
            count(l.per_minute.round() as i64)
        );
    }
    if !f.steady.is_empty() {
        let _ = writeln!(md, "- following their load: {}", f.steady.join(", "));
    }
    if !f.gc.is_empty() {
        md.push_str("\n## GC pauses (p99)\n\n| service | hour before the spike | hour from the spike | highest after |\n|---|---:|---:|---:|\n");
        for g in &f.gc {
            let _ = writeln!(
                md,
                "| {} | {:.1} ms | {:.1} ms | {:.1} ms |",
                g.service,
                g.before * 1000.0,
                g.during * 1000.0,
                g.max * 1000.0
            );
        }
    }
    if !f.heap.is_empty() {
        md.push_str("\n## Heap in use\n\n");
        for h in &f.heap {
            let _ = writeln!(
                md,
                "- {}: {:.0} MiB before the spike, {:.0} MiB at {}",
                h.service,
                h.before / 1048576.0,
                h.peak / 1048576.0,
                local(h.at)
            );
        }
    }
    if !f.fds.is_empty() {
        md.push_str("\n## File descriptors\n\n");
        for x in &f.fds {
            let _ = writeln!(
                md,
                "- {}: {:.0} % of the limit at {}",
                x.service,
                x.ratio * 100.0,
                local(x.at)
            );
        }
    }
    if !f.missing.is_empty() {
        md.push_str("\n## Not checked\n\n");
        for m in &f.missing {
            let _ = writeln!(md, "- {m}");
        }
    }
    let summary = match f.leaks.first() {
        Some(l) => format!(
            "goroutine leak in {} from {} to {} (+{} beyond load)",
            l.service,
            hm(l.start),
            hm(l.end),
            count(l.excess.round() as i64)
        ),
        None => format!(
            "no goroutine leak; {} services follow their load",
            f.steady.len()
        ),
    };
    (md, summary)
}
