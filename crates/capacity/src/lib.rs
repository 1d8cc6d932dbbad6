//! sidik-capacity is phase 5 of the investigation: what to change so the
//! next spike does not strand orders or money.
//!
//! From the evidence phases 1–3 collected and the service topology in
//! `incident.toml` it computes the capacity plan (Little's law, Erlang C,
//! the pools against PostgreSQL's usable slots, PgBouncer, the Universal
//! Scalability Law), reviews every pool, timeout, retry, breaker and
//! autoscaling rule with a verdict, the evidence and a recommended value,
//! and writes Prometheus alert rules for this incident's failure modes with
//! `promtool` unit tests built from the incident's own series.
//!
//! It reads evidence files and writes reports; it connects to nothing.

#![deny(missing_docs)]

use std::path::PathBuf;

pub mod actions;
pub mod alerts;
pub mod inputs;
pub mod plan;
pub mod queueing;
pub mod review;

/// What can go wrong in phase 5.
#[derive(Debug, thiserror::Error)]
pub enum CapacityError {
    /// The evidence could not be read.
    #[error(transparent)]
    Rca(#[from] sidik_rca::RcaError),
    /// An evidence file is malformed.
    #[error("{path}{}: {message}", if *line > 0 { format!(":{line}") } else { String::new() })]
    Input {
        /// The file.
        path: PathBuf,
        /// Its line (0 when unknown).
        line: u64,
        /// What was expected.
        message: String,
    },
    /// `promtool` failed or is missing.
    #[error("{0}")]
    Promtool(String),
    /// Writing a report failed.
    #[error(transparent)]
    Core(#[from] sidik_core::Error),
}

impl From<sidik_evidence::EvidenceError> for CapacityError {
    fn from(e: sidik_evidence::EvidenceError) -> Self {
        let (path, line, message) = e.into_parts();
        CapacityError::Input {
            path,
            line,
            message,
        }
    }
}

/// A duration in ms as people write it: `250ms`, `5s`, `1.5s`, `2m`.
pub fn fmt_ms(ms: f64) -> String {
    if !ms.is_finite() {
        return "unknown".into();
    }
    if ms < 1000.0 {
        format!("{}ms", ms.round())
    } else if ms < 120_000.0 {
        let s = ms / 1000.0;
        if (s - s.round()).abs() < 0.05 {
            format!("{}s", s.round())
        } else {
            format!("{s:.1}s")
        }
    } else {
        format!("{}m", (ms / 60_000.0).round())
    }
}

/// `sidik check`'s lines for `[topology]`: each service with its pool,
/// callers and callees, and the keys left unknown.
pub fn topology_lines(t: &sidik_core::topology::Topology) -> Vec<String> {
    use sidik_core::topology::millis;
    let mut out = Vec::new();
    let opt = |v: Option<f64>| v.map_or("?".to_string(), fmt_ms);
    for s in &t.service {
        let name = s.name.get_ref();
        let mut unknown = Vec::new();
        let pool = match (s.pool_size, s.replicas) {
            (Some(p), Some(r)) => {
                format!("pool {p} × {r} replica{}", if r == 1 { "" } else { "s" })
            }
            (Some(p), None) => {
                unknown.push("replicas");
                format!("pool {p}")
            }
            (None, _) => "no pool".to_string(),
        };
        let calls: Vec<String> = s
            .call
            .iter()
            .map(|c| {
                if c.timeout.is_none() {
                    unknown.push("call.timeout");
                }
                format!(
                    "{} ({} × {}{})",
                    c.to.get_ref(),
                    opt(millis(&c.timeout)),
                    c.retries.map_or("?".into(), |r| (r + 1).to_string()),
                    c.breaker
                        .as_ref()
                        .and_then(|b| b.failure_ratio)
                        .map_or(String::new(), |r| format!(", breaker {r}"))
                )
            })
            .collect();
        let callers: Vec<&str> = t
            .callers(name)
            .map(|(c, _)| c.name.get_ref().as_str())
            .collect();
        if s.pool_size.is_some() {
            for (k, v) in [
                ("pool_timeout", &s.pool_timeout),
                ("statement_timeout", &s.statement_timeout),
                ("lock_timeout", &s.lock_timeout),
            ] {
                if v.is_none() {
                    unknown.push(k);
                }
            }
        }
        unknown.dedup();
        out.push(format!(
            "  service   {name:<20} {pool}; calls {}; called by {}{}",
            if calls.is_empty() {
                "nothing".into()
            } else {
                calls.join(", ")
            },
            if callers.is_empty() {
                "nobody".into()
            } else {
                callers.join(", ")
            },
            if unknown.is_empty() {
                String::new()
            } else {
                format!("; unknown: {}", unknown.join(", "))
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_as_written() {
        assert_eq!(super::fmt_ms(250.0), "250ms");
        assert_eq!(super::fmt_ms(5000.0), "5s");
        assert_eq!(super::fmt_ms(1500.0), "1.5s");
        assert_eq!(super::fmt_ms(300_000.0), "5m");
        assert_eq!(super::fmt_ms(f64::NAN), "unknown");
    }
}
