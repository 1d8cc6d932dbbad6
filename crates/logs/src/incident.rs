//! Ingesting the logs an incident folder's `incident.toml` lists, with every
//! output in its place: `evidence/logs/` (events Parquet chunks, timeline,
//! journeys, summary) and `evidence/quarantine/`.

use std::path::{Path, PathBuf};

use sidik_core::time::{parse_go_duration, parse_timezone};
use sidik_core::Incident;

use crate::classify::Classifier;
use crate::ingest::{self, NotRead, Options, Source, Summary};
use crate::journey::JourneyCounts;
use crate::parse::{Format, Settings, DEFAULT_PG_PREFIX};
use crate::record::{Aliases, Unit};
use crate::timeline::Timeline;
use crate::LogsError;

/// Everything an incident ingest produced.
pub struct Ingested {
    /// Per-file and per-service counts.
    pub summary: Summary,
    /// The timeline.
    pub timeline: Timeline,
    /// Orders in `journeys.csv`.
    pub journeys: JourneyCounts,
    /// Templates per service.
    pub patterns: Vec<(String, crate::ingest::PatternRows)>,
    /// The classifier used.
    pub classifier: Classifier,
    /// `evidence/logs`.
    pub dir: PathBuf,
}

/// The format named in incident.toml.
pub fn format_from_config(
    name: &str,
    line_prefix: Option<&str>,
    pattern: Option<&str>,
) -> Option<Format> {
    Some(match name {
        "auto" | "cri" => return None,
        "json" => Format::Json,
        "logfmt" | "logrus" => Format::Logfmt,
        "postgres-stderr" => {
            Format::PostgresStderr(line_prefix.unwrap_or(DEFAULT_PG_PREFIX).to_string())
        }
        "postgres-csv" => Format::PostgresCsv,
        "postgres-json" => Format::PostgresJson,
        "cnpg" => Format::Cnpg,
        "zap-console" => Format::ZapConsole,
        // Text payloads are PostgreSQL's (Cloud SQL) when a prefix is given, plain text otherwise.
        "cloud-logging" => Format::CloudLogging(Box::new(match line_prefix {
            Some(p) => Format::PostgresStderr(p.to_string()),
            None => Format::Unknown,
        })),
        "regex" => Format::Regex(pattern.unwrap_or_default().to_string()),
        _ => return None,
    })
}

/// The sources of an incident, and the configured paths that match no
/// file. A service none of whose paths matches is left out (and listed);
/// an error only when no service has a file at all.
pub fn sources(inc: &Incident) -> Result<(Vec<Source>, Vec<NotRead>), LogsError> {
    let mut out = Vec::new();
    let mut not_read = Vec::new();
    for s in &inc.file.sources.logs {
        let mut files = Vec::new();
        for p in &s.paths {
            let found = crate::input::expand(inc.dir.root(), p);
            if found.is_empty() {
                not_read.push(NotRead {
                    service: s.service.clone(),
                    path: p.clone(),
                    reason: "no file matches; export the logs into the incident folder or fix `paths` in incident.toml".into(),
                });
            }
            files.extend(found);
        }
        if files.is_empty() {
            continue;
        }
        let tz = match &s.timezone {
            Some(t) => parse_timezone(t.get_ref()).map_err(LogsError::Config)?,
            None => inc.tz,
        };
        let clock_offset_ms = match &s.clock_offset {
            Some(o) => parse_go_duration(o.get_ref())
                .map_err(|e| LogsError::Config(e.to_string()))?
                .num_milliseconds(),
            None => 0,
        };
        let format = s.format.as_ref().and_then(|f| {
            format_from_config(
                f.get_ref(),
                s.line_prefix.as_deref(),
                s.pattern.as_ref().map(|p| p.get_ref().as_str()),
            )
        });
        // A postgres-stderr service without a format still gets its prefix.
        let format = match (format, &s.line_prefix) {
            (None, Some(p)) => Some(Format::PostgresStderr(p.clone())),
            (f, _) => f,
        };
        out.push(Source {
            service: s.service.clone(),
            files,
            format,
            settings: Settings {
                aliases: {
                    let mut a = Aliases::with(&s.fields);
                    a.units = s
                        .units
                        .iter()
                        .filter_map(|(k, u)| Some((k.clone(), Unit::parse(u)?)))
                        .collect();
                    a
                },
                tz,
                clock_offset_ms,
            },
        });
    }
    if out.is_empty() && !not_read.is_empty() {
        return Err(LogsError::Config(format!(
            "no file matches any log path of {}: {}; export the logs into the incident folder or fix `paths` in incident.toml",
            inc.dir.config_path().display(),
            not_read
                .iter()
                .map(|n| format!("{} `{}`", n.service, n.path))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if out.is_empty() {
        return Err(LogsError::Config(format!(
            "{} lists no [[sources.logs]]; add one block per service",
            inc.dir.config_path().display()
        )));
    }
    Ok((out, not_read))
}

/// The classifier of an incident: `[[logs.rules]]` first, then the classes
/// of a rules file (`[logs] rules = "FILE"` or `rules_file`), then the
/// shipped ones; the first class of a name wins.
pub fn classifier(inc: &Incident) -> Result<Classifier, LogsError> {
    use sidik_core::config::Rules;
    let logs = &inc.file.logs;
    let (inline, file) = match &logs.rules {
        Some(Rules::Inline(c)) => (c.as_slice(), logs.rules_file.as_ref()),
        Some(Rules::File(f)) => {
            if logs.rules_file.is_some() {
                return Err(LogsError::Config(format!(
                    "{}: [logs] has both rules = \"{f}\" and rules_file; name the file once (rules_file is for when [[logs.rules]] are written here too)",
                    inc.dir.config_path().display()
                )));
            }
            (&[][..], Some(f))
        }
        None => (&[][..], logs.rules_file.as_ref()),
    };
    let user = match file {
        Some(p) => {
            let path = inc.dir.resolve(p);
            let text = std::fs::read_to_string(&path).map_err(|e| LogsError::Io {
                action: "read",
                path: path.clone(),
                source: e,
            })?;
            Some((p.clone(), text))
        }
        None => None,
    };
    let inline: Vec<crate::classify::Class> = inline
        .iter()
        .map(|c| crate::classify::Class {
            name: c.name.clone(),
            description: c.description.clone(),
            patterns: c.patterns.clone(),
        })
        .collect();
    Classifier::layered(
        &inline,
        user.as_ref().map(|(p, t)| (p.as_str(), t.as_str())),
    )
    .map_err(|e| LogsError::Config(format!("{}: {e}", inc.dir.config_path().display())))
}

/// Ingests the incident's logs and writes the outputs.
pub fn ingest_incident(
    inc: &Incident,
    chunk_rows: usize,
    progress: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
) -> Result<Ingested, LogsError> {
    let (sources, missing) = sources(inc)?;
    let classifier = classifier(inc)?;
    let bucket_ms = match &inc.file.logs.bucket {
        Some(b) => parse_go_duration(b.get_ref())
            .map_err(|e| LogsError::Config(e.to_string()))?
            .num_milliseconds(),
        None => 60_000,
    };
    let dir = inc.dir.evidence().join("logs");
    let opts = Options {
        out: dir.clone(),
        quarantine: inc.dir.evidence().join("quarantine"),
        bucket_ms,
        chunk_rows,
        group_rows: ingest::GROUP_ROWS,
        compression: inc.file.logs.compression,
        base: inc.dir.root().to_path_buf(),
        progress,
        window: inc
            .window
            .map(|w| (w.start.timestamp_millis(), w.end.timestamp_millis())),
    };
    let ingest::Ingest {
        mut summary,
        timeline,
        journeys,
        patterns,
    } = ingest::ingest(&sources, &classifier, &opts)?;
    summary.not_read.splice(0..0, missing);
    let write = |name: &str, text: &str, summary: &mut Summary| -> Result<(), LogsError> {
        let p = dir.join(name);
        sidik_core::folder::write_atomic(&p, text.as_bytes())
            .map_err(|e| LogsError::Config(e.to_string()))?;
        summary.outputs.push(p);
        Ok(())
    };
    write("timeline.csv", &timeline.to_csv(), &mut summary)?;
    let tp = dir.join("timeline.parquet");
    timeline.write_parquet(&tp).map_err(LogsError::Parquet)?;
    summary.outputs.push(tp);
    write(
        "patterns.csv",
        &crate::patterns::to_csv(&patterns),
        &mut summary,
    )?;
    // Paths in the summary are relative to the incident folder.
    let mut shown = summary.clone();
    shown.outputs = shown
        .outputs
        .iter()
        .map(|p| p.strip_prefix(inc.dir.root()).unwrap_or(p).to_path_buf())
        .collect();
    let json = serde_json::to_string_pretty(&shown).unwrap_or_default();
    write("summary.json", &json, &mut summary)?;
    Ok(Ingested {
        summary,
        timeline,
        journeys,
        patterns,
        classifier,
        dir,
    })
}

/// The events of one order, from the Parquet chunks, in time order.
pub fn journey_events(dir: &Path, order_id: &str) -> Result<polars::prelude::DataFrame, LogsError> {
    use polars::prelude::*;
    let pattern = dir.join("events-*.parquet");
    let lf = LazyFrame::scan_parquet(
        PlRefPath::from(pattern.to_string_lossy().as_ref()),
        Default::default(),
    )
    .map_err(|e| LogsError::Parquet(e.to_string()))?;
    lf.filter(col("order_id").eq(lit(order_id)))
        .sort(["time"], Default::default())
        .collect()
        .map_err(|e| LogsError::Parquet(e.to_string()))
}

/// One record of an order's journey.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JourneyRow {
    /// When (UTC milliseconds).
    pub time: i64,
    /// Service.
    pub service: String,
    /// Level.
    pub level: Option<String>,
    /// Message.
    pub message: String,
    /// Error.
    pub error: Option<String>,
    /// Class.
    pub class: Option<String>,
    /// Payment id.
    pub payment_id: Option<String>,
    /// `file:line`.
    pub at: String,
}

/// The records of one order, in time order, as rows.
pub fn journey_rows(dir: &Path, order_id: &str) -> Result<Vec<JourneyRow>, LogsError> {
    use polars::prelude::*;
    let df = journey_events(dir, order_id)?;
    let err = |e: PolarsError| LogsError::Parquet(e.to_string());
    let s = |name: &str| -> Result<StringChunked, LogsError> {
        Ok(df.column(name).map_err(err)?.str().map_err(err)?.clone())
    };
    let time = df
        .column("time")
        .map_err(err)?
        .cast(&DataType::Int64)
        .map_err(err)?;
    let time = time.i64().map_err(err)?.clone();
    let line = df
        .column("line")
        .map_err(err)?
        .cast(&DataType::UInt64)
        .map_err(err)?;
    let line = line.u64().map_err(err)?.clone();
    let (service, level, message, error, class, payment, file) = (
        s("service")?,
        s("level")?,
        s("message")?,
        s("error")?,
        s("class")?,
        s("payment_id")?,
        s("file")?,
    );
    Ok((0..df.height())
        .map(|i| JourneyRow {
            time: time.get(i).unwrap_or(0),
            service: service.get(i).unwrap_or_default().to_string(),
            level: level.get(i).map(str::to_string),
            message: message.get(i).unwrap_or_default().to_string(),
            error: error.get(i).map(str::to_string),
            class: class.get(i).map(str::to_string),
            payment_id: payment.get(i).map(str::to_string),
            at: format!(
                "{}:{}",
                file.get(i).unwrap_or_default(),
                line.get(i).unwrap_or(0)
            ),
        })
        .collect())
}
