//! `[[topology.service]]`, `[topology.postgres]`, `[topology.pgbouncer]` and
//! `[capacity]`: the settings phase 5 reviews (docs/capacity.md, key by key).
//!
//! Every key is optional. A value left out is reported as unknown by the
//! review and the capacity plan, never guessed; the checks that need it say
//! which key to add.

use std::collections::BTreeSet;

use serde::Deserialize;
use toml::Spanned;

use crate::time::parse_go_duration;

/// `[topology]`: the services of the stack and the database they share.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// `[[topology.service]]`, one per service (including ones without logs, such as HO).
    #[serde(default)]
    pub service: Vec<ServiceSpec>,
    /// `[topology.postgres]`: the server every pool connects to.
    #[serde(default)]
    pub postgres: Option<PostgresSpec>,
    /// `[topology.pgbouncer]`: a PgBouncer in front of it, when there is one.
    #[serde(default)]
    pub pgbouncer: Option<PgBouncerSpec>,
}

/// One service: its replicas, database pool and outgoing calls.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// The service's name, as in `[[sources.logs]]` and the metrics' `service` label.
    pub name: Spanned<String>,
    /// Replicas (pods) running in normal operation.
    #[serde(default)]
    pub replicas: Option<u32>,
    /// Database connections per replica (the client pool's maximum).
    #[serde(default)]
    pub pool_size: Option<u32>,
    /// How long a request waits for a free connection before it fails (Go duration).
    #[serde(default)]
    pub pool_timeout: Option<Spanned<String>>,
    /// `statement_timeout` of the service's database sessions.
    #[serde(default)]
    pub statement_timeout: Option<Spanned<String>>,
    /// `lock_timeout` of the service's database sessions.
    #[serde(default)]
    pub lock_timeout: Option<Spanned<String>>,
    /// `[[topology.service.call]]`: the services it calls.
    #[serde(default)]
    pub call: Vec<CallSpec>,
    /// `[topology.service.autoscaling]`.
    #[serde(default)]
    pub autoscaling: Option<AutoscalingSpec>,
}

/// One outgoing call of a service: its HTTP client settings and breaker.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallSpec {
    /// The callee: the `name` of another `[[topology.service]]`.
    pub to: Spanned<String>,
    /// The HTTP client's timeout for one attempt.
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    /// Retries after the first attempt (0: none).
    #[serde(default)]
    pub retries: Option<u32>,
    /// Wait before each retry.
    #[serde(default)]
    pub backoff: Option<Spanned<String>>,
    /// Whether each attempt carries an idempotency key the callee honours.
    #[serde(default)]
    pub idempotent: Option<bool>,
    /// `[topology.service.call.breaker]`.
    #[serde(default)]
    pub breaker: Option<BreakerSpec>,
}

/// A circuit breaker on one call.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerSpec {
    /// Share of failed calls in the window that opens it (0–1).
    #[serde(default)]
    pub failure_ratio: Option<f64>,
    /// The window the ratio is measured over.
    #[serde(default)]
    pub window: Option<Spanned<String>>,
    /// Calls the window needs before the ratio counts.
    #[serde(default)]
    pub min_requests: Option<u32>,
    /// How long it stays open before it lets trial calls through.
    #[serde(default)]
    pub open_for: Option<Spanned<String>>,
    /// Trial calls let through while half-open.
    #[serde(default)]
    pub half_open_requests: Option<u32>,
}

/// Horizontal autoscaling of one service.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoscalingSpec {
    /// The metric it scales on (`cpu`, `memory`, or a metric name such as `request_rate`).
    #[serde(default)]
    pub metric: Option<String>,
    /// Target per replica: a share for cpu/memory (0.7), else the metric's value.
    #[serde(default)]
    pub target: Option<f64>,
    /// Fewest replicas.
    #[serde(default)]
    pub min_replicas: Option<u32>,
    /// Most replicas.
    #[serde(default)]
    pub max_replicas: Option<u32>,
    /// Wait after one scaling before the next (scale-up stabilisation).
    #[serde(default)]
    pub cooldown: Option<Spanned<String>>,
}

/// The PostgreSQL server the pools share.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresSpec {
    /// `max_connections`.
    #[serde(default)]
    pub max_connections: Option<u32>,
    /// `superuser_reserved_connections` plus `reserved_connections` (PostgreSQL 16+).
    #[serde(default)]
    pub reserved_connections: Option<u32>,
    /// CPU cores of the server (for the cores × 2 + spindles rule).
    #[serde(default)]
    pub cores: Option<u32>,
    /// Effective spindles (0 when the data set is cached, 1 for one SSD).
    #[serde(default)]
    pub spindles: Option<u32>,
}

/// A PgBouncer in front of the server.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgBouncerSpec {
    /// `pool_mode`: session, transaction or statement.
    #[serde(default)]
    pub pool_mode: Option<Spanned<String>>,
    /// `default_pool_size`: server connections per database/user pair.
    #[serde(default)]
    pub default_pool_size: Option<u32>,
    /// `max_client_conn`.
    #[serde(default)]
    pub max_client_conn: Option<u32>,
}

/// `[capacity]`: what the capacity plan sizes for.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacitySection {
    /// Concurrent users at the incident's peak (the tracker's 77,000).
    #[serde(default)]
    pub incident_users: Option<u64>,
    /// Concurrent users to plan for (default 100,000).
    #[serde(default)]
    pub target_users: Option<u64>,
    /// Highest acceptable chance that a request waits for a connection (default 0.01).
    #[serde(default)]
    pub max_wait_probability: Option<f64>,
}

/// PgBouncer's pool modes.
pub const POOL_MODES: [&str; 3] = ["session", "transaction", "statement"];

/// Autoscaling metrics taken as a share of a replica's resources.
pub const SHARE_METRICS: [&str; 2] = ["cpu", "memory"];

/// A validation failure: the value's byte span (when known), its key, what is
/// wrong and what to do.
pub type Problem = (
    Option<std::ops::Range<usize>>,
    String,
    String,
    Option<String>,
);

fn duration(v: &Option<Spanned<String>>, key: &str, out: &mut Vec<Problem>) {
    if let Some(v) = v {
        match parse_go_duration(v.get_ref()) {
            Err(e) => out.push((Some(v.span()), key.into(), e.to_string(), None)),
            Ok(d) if d <= chrono::Duration::zero() => out.push((
                Some(v.span()),
                key.into(),
                format!("\"{}\" is not a positive duration", v.get_ref()),
                Some("use a duration such as 500ms, 5s or 1m".into()),
            )),
            Ok(_) => {}
        }
    }
}

fn share(v: Option<f64>, key: &str, out: &mut Vec<Problem>) {
    if let Some(x) = v {
        if !(x > 0.0 && x <= 1.0) {
            out.push((
                None,
                key.into(),
                format!("{x} is not a share between 0 and 1"),
                Some("write 0.5 for half".into()),
            ));
        }
    }
}

/// Checks `[topology]` and `[capacity]`: durations, shares, names that calls
/// refer to, replica bounds. Returns every problem found, first first.
pub fn validate(t: &Topology, c: &CapacitySection) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut names = BTreeSet::new();
    for (i, s) in t.service.iter().enumerate() {
        let name = s.name.get_ref();
        if name.trim().is_empty() {
            out.push((
                Some(s.name.span()),
                format!("topology.service[{i}].name"),
                "the service has no name".into(),
                Some("use the name its logs and metrics carry, e.g. \"upg\"".into()),
            ));
        } else if !names.insert(name.clone()) {
            out.push((
                Some(s.name.span()),
                format!("topology.service[{i}].name"),
                format!("service \"{name}\" is described twice"),
                Some("merge the two [[topology.service]] blocks".into()),
            ));
        }
    }
    for (i, s) in t.service.iter().enumerate() {
        let key = |k: &str| format!("topology.service[{i}].{k}");
        duration(&s.pool_timeout, &key("pool_timeout"), &mut out);
        duration(&s.statement_timeout, &key("statement_timeout"), &mut out);
        duration(&s.lock_timeout, &key("lock_timeout"), &mut out);
        if s.pool_size == Some(0) {
            out.push((
                None,
                key("pool_size"),
                "a pool of 0 connections".into(),
                Some("leave pool_size out when the service has no database".into()),
            ));
        }
        for (j, c) in s.call.iter().enumerate() {
            let key = |k: &str| format!("topology.service[{i}].call[{j}].{k}");
            let to = c.to.get_ref();
            if !names.contains(to) {
                let known: Vec<&str> = names.iter().map(String::as_str).collect();
                out.push((
                    Some(c.to.span()),
                    key("to"),
                    format!("\"{to}\" is not a service of [[topology.service]]"),
                    Some(format!(
                        "add a [[topology.service]] with name = \"{to}\", or use one of: {}",
                        known.join(", ")
                    )),
                ));
            } else if to == s.name.get_ref() {
                out.push((
                    Some(c.to.span()),
                    key("to"),
                    format!("service \"{to}\" calls itself"),
                    None,
                ));
            }
            duration(&c.timeout, &key("timeout"), &mut out);
            duration(&c.backoff, &key("backoff"), &mut out);
            if let Some(b) = &c.breaker {
                let key = |k: &str| format!("topology.service[{i}].call[{j}].breaker.{k}");
                share(b.failure_ratio, &key("failure_ratio"), &mut out);
                duration(&b.window, &key("window"), &mut out);
                duration(&b.open_for, &key("open_for"), &mut out);
            }
        }
        if let Some(a) = &s.autoscaling {
            let key = |k: &str| format!("topology.service[{i}].autoscaling.{k}");
            duration(&a.cooldown, &key("cooldown"), &mut out);
            if let (Some(lo), Some(hi)) = (a.min_replicas, a.max_replicas) {
                if lo > hi || hi == 0 {
                    out.push((
                        None,
                        key("max_replicas"),
                        format!("max_replicas {hi} is below min_replicas {lo}"),
                        Some("max_replicas must be at least min_replicas and above 0".into()),
                    ));
                }
            }
            if let Some(m) = &a.metric {
                if SHARE_METRICS.contains(&m.as_str()) {
                    share(a.target, &key("target"), &mut out);
                }
            }
            if a.target.is_some_and(|t| t <= 0.0) {
                out.push((
                    None,
                    key("target"),
                    "the target is not above 0".into(),
                    None,
                ));
            }
        }
    }
    if let Some(p) = &t.postgres {
        if let (Some(m), Some(r)) = (p.max_connections, p.reserved_connections) {
            if r >= m {
                out.push((
                    None,
                    "topology.postgres.reserved_connections".into(),
                    format!("{r} reserved of {m} max_connections leaves no slot for the services"),
                    None,
                ));
            }
        }
    }
    if let Some(b) = &t.pgbouncer {
        if let Some(m) = &b.pool_mode {
            if !POOL_MODES.contains(&m.get_ref().as_str()) {
                out.push((
                    Some(m.span()),
                    "topology.pgbouncer.pool_mode".into(),
                    format!("unknown pool_mode \"{}\"", m.get_ref()),
                    Some(format!("use one of: {}", POOL_MODES.join(", "))),
                ));
            }
        }
    }
    share(
        c.max_wait_probability,
        "capacity.max_wait_probability",
        &mut out,
    );
    if let (Some(i), Some(t)) = (c.incident_users, c.target_users) {
        if i == 0 || t == 0 {
            out.push((
                None,
                "capacity".into(),
                "a user count of 0".into(),
                Some("incident_users and target_users count concurrent users".into()),
            ));
        }
    }
    out
}

impl ServiceSpec {
    /// The most replicas it may run: autoscaling's maximum, else its
    /// replicas, else 1.
    pub fn max_replicas(&self) -> u32 {
        self.autoscaling
            .as_ref()
            .and_then(|a| a.max_replicas)
            .or(self.replicas)
            .unwrap_or(1)
            .max(1)
    }

    /// Its pool over its normal replicas (0 without a pool).
    pub fn connections(&self) -> u64 {
        self.pool_size.unwrap_or(0) as u64 * self.replicas.unwrap_or(1).max(1) as u64
    }
}

impl Topology {
    /// The service named `name`.
    pub fn get(&self, name: &str) -> Option<&ServiceSpec> {
        self.service.iter().find(|s| s.name.get_ref() == name)
    }

    /// The services that call `name`, with the call.
    pub fn callers<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = (&'a ServiceSpec, &'a CallSpec)> + 'a {
        self.service.iter().flat_map(move |s| {
            s.call
                .iter()
                .filter(move |c| c.to.get_ref() == name)
                .map(move |c| (s, c))
        })
    }
}

/// A duration key as milliseconds, when set and valid.
pub fn millis(v: &Option<Spanned<String>>) -> Option<f64> {
    v.as_ref()
        .and_then(|s| parse_go_duration(s.get_ref()).ok())
        .map(|d| d.num_milliseconds() as f64)
}
