//! The limits apply keeps to: batch size, timeouts, the server's health
//! thresholds, how long to wait, the pause between batches and the
//! sentinel file, from `[recover]` with their defaults (docs/recover.md).

use std::path::PathBuf;
use std::time::Duration;

use sidik_core::Incident;

use crate::RecoverError;

/// The limits of one apply.
#[derive(Debug, Clone)]
pub struct Guards {
    /// Plan steps per transaction (default 100, as Shopify's maintenance tasks).
    pub batch: usize,
    /// `lock_timeout` of each batch (default 500 ms).
    pub lock_timeout: Duration,
    /// `statement_timeout` of each batch (default 5 s).
    pub statement_timeout: Duration,
    /// Usable-slot share above which apply waits (default 0.8).
    pub max_saturation: f64,
    /// Sessions waiting for a lock above which apply waits (default 5).
    pub max_lock_waits: u32,
    /// Replica replay lag above which apply waits (default 1.5 s, as gh-ost).
    pub max_replica_lag: Duration,
    /// How long apply waits or retries before it stops (default 2 min).
    pub max_wait: Duration,
    /// Pause between batches (default none).
    pub pause: Duration,
    /// The file whose existence stops apply between batches.
    pub sentinel: PathBuf,
}

fn duration(
    key: &str,
    v: &Option<toml::Spanned<String>>,
    default: Duration,
) -> Result<Duration, RecoverError> {
    match v {
        None => Ok(default),
        Some(s) => sidik_core::time::parse_go_duration(s.get_ref())
            .ok()
            .and_then(|d| d.to_std().ok())
            .ok_or_else(|| {
                RecoverError::Config(format!(
                    "incident.toml [recover] {key} = \"{}\": expected a Go duration of zero or more, like 500ms or 2m",
                    s.get_ref()
                ))
            }),
    }
}

impl Guards {
    /// The limits of an incident's `[recover]` section.
    pub fn for_incident(inc: &Incident) -> Result<Guards, RecoverError> {
        let r = &inc.file.recover;
        let batch = r.batch.unwrap_or(100);
        if batch == 0 || batch > 10_000 {
            return Err(RecoverError::Config(format!(
                "incident.toml [recover] batch = {batch}: expected 1 to 10000 steps a transaction"
            )));
        }
        let max_saturation = r.max_saturation.unwrap_or(0.8);
        if !(0.0..=1.0).contains(&max_saturation) || max_saturation == 0.0 {
            return Err(RecoverError::Config(format!(
                "incident.toml [recover] max_saturation = {max_saturation}: expected a share above 0 and at most 1 (0.8 = 80 % of the usable slots)"
            )));
        }
        Ok(Guards {
            batch: batch as usize,
            lock_timeout: duration("lock_timeout", &r.lock_timeout, Duration::from_millis(500))?,
            statement_timeout: duration(
                "statement_timeout",
                &r.statement_timeout,
                Duration::from_secs(5),
            )?,
            max_saturation,
            max_lock_waits: r.max_lock_waits.unwrap_or(5),
            max_replica_lag: duration(
                "max_replica_lag",
                &r.max_replica_lag,
                Duration::from_millis(1500),
            )?,
            max_wait: duration("max_wait", &r.max_wait, Duration::from_secs(120))?,
            pause: duration("pause", &r.pause, Duration::ZERO)?,
            sentinel: r
                .sentinel
                .as_deref()
                .map(|s| inc.dir.resolve(s))
                .unwrap_or_else(|| inc.dir.root().join("recovery.stop")),
        })
    }
}
