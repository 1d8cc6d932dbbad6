//! The playbook actions of the logs: `collect.logs` (the inventory of the
//! services' files), `logs.ingest`, `logs.patterns` and `logs.journeys`,
//! each writing its report under `reports/`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sidik_core::fmt::{count, mib};
use sidik_core::time::parse_time;
use sidik_core::Incident;
use sidik_evidence::logs::{JourneyRow, PatternRow, Timeline};
use sidik_evidence::Files;
use sidik_playbook::tools::{matching, write_json};
use sidik_playbook::{Action, Context, OrFail, Outcome, Registry, StepResult};

/// Registers the actions of this crate.
pub fn register(r: &mut Registry) {
    r.register(CollectLogs);
    r.register(LogsIngest);
    r.register(LogsPatterns);
    r.register(LogsJourneys);
}

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
    fn run(&self, ctx: &Context) -> StepResult {
        let inc = &ctx.incident;
        let sources = &inc.file.sources.logs;
        if sources.is_empty() {
            return Err(format!(
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
            return Err(format!("no log file found for: {}; export them into the incident folder or fix the paths in incident.toml", missing.join("; ")));
        }
        let result = format!(
            "{} services, {files} files, {} ({compressed} compressed)",
            sources.len(),
            mib(bytes)
        );
        let _ = writeln!(md, "\n{result}.");
        let evidence = ctx.evidence_path("json");
        write_json(&evidence, &json)?;
        Ok(Outcome::reported(
            ctx.write_report(&md)?,
            vec![evidence],
            result,
        ))
    }
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
    fn run(&self, ctx: &Context) -> StepResult {
        let inc = &ctx.incident;
        let got =
            crate::incident::ingest_incident(inc, crate::ingest::CHUNK_ROWS, None).or_fail()?;
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
        let report = ctx.write_report(&md)?;
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
            return Err(format!(
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
        Ok(Outcome::reported(report, s.outputs.clone(), result))
    }
}

fn need_ingest(ctx: &Context) -> Result<Files, String> {
    let files = Files::of(&ctx.incident.dir);
    if files.logs_summary().is_file() {
        Ok(files)
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
        vec![Files::of(&ctx.incident.dir).patterns()]
    }
    fn run(&self, ctx: &Context) -> StepResult {
        let files = need_ingest(ctx)?;
        let rows: Vec<PatternRow> = PatternRow::read(&files.patterns())
            .or_fail()?
            .into_iter()
            .flatten()
            .map(|(_, r)| r)
            .filter(|r| !r.class.is_empty())
            .collect();
        let mut md = String::from("# Error patterns\n\nTemplates of classified records (ids, numbers and durations masked), most frequent first.\n\n| service | class | records | first seen | last seen | template | sample |\n|---|---|---:|---|---|---|---|\n");
        let inc = &ctx.incident;
        let when = |s: &str| {
            parse_time(s, inc.tz)
                .map(|t| local_ms(inc, t.timestamp_millis()))
                .unwrap_or_default()
        };
        for r in &rows {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | `{}` | {} |",
                r.service,
                r.class,
                count(r.count),
                when(&r.first_seen),
                when(&r.last_seen),
                r.template.replace('|', "\\|"),
                r.sample_at
            );
        }
        if rows.is_empty() {
            md.push_str("\nNo classified error in the logs.\n");
        }
        let report = ctx.write_report(&md)?;
        // Error lines without a single template would tick "analyze logs" on nothing.
        if rows.is_empty() {
            let errors: f64 = Timeline::read(&files.timeline())
                .or_fail()?
                .map(|t| t.rows.iter().filter_map(|r| r.errors).sum())
                .unwrap_or(0.0);
            if errors > 0.0 {
                return Err(format!(
                    "{} error lines in the logs but no error template: were they read with the right format? (see {})",
                    count(errors as i64),
                    inc.dir.relative(&report)
                ));
            }
        }
        let mut classes: BTreeMap<String, u64> = BTreeMap::new();
        for r in &rows {
            *classes.entry(r.class.clone()).or_default() += r.count;
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
        Ok(Outcome::reported(report, vec![], result))
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
        vec![Files::of(&ctx.incident.dir).journeys()]
    }
    fn run(&self, ctx: &Context) -> StepResult {
        let files = need_ingest(ctx)?;
        let (mut orders, mut broken) = (0u64, 0u64);
        let mut by: BTreeMap<(String, String), (u64, String)> = BTreeMap::new();
        JourneyRow::each(&files.journeys(), |_, r| {
            orders += 1;
            if r.broke() {
                broken += 1;
                by.entry((r.broken_service.to_string(), r.broken_class.to_string()))
                    .or_insert((0, r.order_id.to_string()))
                    .0 += 1;
            }
            Ok(())
        })
        .map_err(|e| format!("cannot read the journeys: {e}"))?;
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
        let report = ctx.write_report(&md)?;
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
        Ok(Outcome::reported(report, vec![], result))
    }
}
