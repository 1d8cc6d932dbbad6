//! The capacity plan: the spike's peak rates scaled to the target number of
//! users, the concurrency each service must hold (Little's law), the pool
//! each needs (Erlang C), all pools against PostgreSQL's usable slots and
//! what PgBouncer changes, a Universal Scalability Law fit where the day
//! holds throughput at several loads, and the headroom table.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;
use sidik_core::fmt::count;
use sidik_core::Incident;
use sidik_rca::clock::hhmm;
use sidik_rca::evidence::Minute;

use crate::inputs::{argmax, max, quantile, Inputs};
use crate::{fmt_ms, queueing};

/// The tracker's spike: 77,000 concurrent users is the incident's; 100,000
/// the default target.
pub const DEFAULT_TARGET_USERS: u64 = 100_000;

/// Default ceiling on the chance a request waits for a connection.
pub const DEFAULT_MAX_WAIT: f64 = 0.01;

/// PostgreSQL's default `superuser_reserved_connections`.
pub const DEFAULT_RESERVED: u32 = 3;

/// One service's line of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceRow {
    /// The service.
    pub service: String,
    /// Where its rate came from.
    pub rate_source: String,
    /// Highest requests/s during the incident.
    pub rate_peak: f64,
    /// Highest requests/s on the normal part of the day.
    pub rate_normal_peak: f64,
    /// The peak scaled to the target.
    pub rate_target: f64,
    /// Median latency on the normal day, seconds (Little's W).
    pub latency_s: Option<f64>,
    /// Requests in flight at the target (L = λW).
    pub concurrency_target: Option<f64>,
    /// Seconds one request holds a database connection (L/λ over the normal day's connections).
    pub holding_s: Option<f64>,
    /// Connections (all replicas) Erlang C needs at the target.
    pub pool_needed: Option<u32>,
    /// Connections configured (pool × replicas).
    pub pool_configured: Option<u64>,
    /// Most replicas it may run (autoscaling's maximum, else its replicas).
    pub max_replicas: u32,
    /// P(wait) of the configured pool at the target.
    pub wait_probability: Option<f64>,
    /// Mean wait for a connection at the target, seconds.
    pub mean_wait_s: Option<f64>,
    /// USL fit: (σ, κ, λ, N max, X max in requests/s).
    pub usl: Option<(f64, f64, f64, u32, f64)>,
}

/// The database server.
#[derive(Debug, Clone, Serialize)]
pub struct Server {
    /// Its name in the metrics, or `topology.postgres`.
    pub source: String,
    /// `max_connections`.
    pub max_connections: u32,
    /// Reserved slots.
    pub reserved: u32,
    /// What the services can use.
    pub usable: u32,
    /// Most connections seen during the incident.
    pub peak: f64,
    /// When, ms.
    pub peak_at: i64,
}

/// The whole plan.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Concurrent users at the incident's peak, when known.
    pub incident_users: Option<u64>,
    /// Users planned for.
    pub target_users: u64,
    /// target / incident (1 when the incident's users are unknown).
    pub scale: f64,
    /// P(wait) ceiling.
    pub max_wait_probability: f64,
    /// Per service.
    pub services: Vec<ServiceRow>,
    /// The server, when known.
    pub server: Option<Server>,
    /// Pools × replicas, configured.
    pub sum_now: u64,
    /// Pools × most replicas.
    pub sum_max: u64,
    /// Pools Erlang C needs at the target.
    pub sum_needed: u64,
    /// HikariCP's cores × 2 + spindles for the server, when its cores are known.
    pub hikari: Option<u32>,
    /// Notes on what was assumed or missing.
    pub notes: Vec<String>,
}

impl Plan {
    /// Per replica, `service`'s share of the usable slots in proportion to
    /// what each service needs, at its current replicas.
    pub fn fair_share(&self, service: &str) -> Option<u32> {
        let server = self.server.as_ref()?;
        let row = self.services.iter().find(|r| r.service == service)?;
        let need = row.pool_needed? as f64;
        let total: f64 = self
            .services
            .iter()
            .filter_map(|r| r.pool_needed)
            .map(f64::from)
            .sum();
        (total > 0.0).then(|| {
            ((server.usable as f64 * need / total) / row.max_replicas.max(1) as f64).floor() as u32
        })
    }
}

fn median(v: &[f64]) -> Option<f64> {
    quantile(v, 0.5)
}

/// Builds the plan from the incident's topology and evidence.
pub fn plan(inc: &Incident, inp: &Inputs) -> Plan {
    let topo = &inc.file.topology;
    let capc = &inc.file.capacity;
    let target_users = capc.target_users.unwrap_or(DEFAULT_TARGET_USERS);
    let mut notes = Vec::new();
    let scale = match capc.incident_users {
        Some(u) if u > 0 => target_users as f64 / u as f64,
        _ => {
            notes.push("the incident's concurrent users are unknown ([capacity] incident_users): the plan sizes for the incident's own peak (scale 1)".into());
            1.0
        }
    };
    let p_max = capc.max_wait_probability.unwrap_or(DEFAULT_MAX_WAIT);
    let normal = inp.normal();
    let incident = inp.incident();

    let mut names: Vec<String> = topo
        .service
        .iter()
        .map(|s| s.name.get_ref().clone())
        .collect();
    if names.is_empty() {
        if let Some(l) = &inp.ev.logs {
            names.extend(l.services.keys().cloned());
        }
    }
    let mut services = Vec::new();
    for name in &names {
        let Some((inc_rate, src)) = inp.rate(name, incident.0, incident.1) else {
            continue;
        };
        let rate_peak = max(&inc_rate).unwrap_or(0.0);
        let rate_normal_peak = inp
            .rate(name, normal.0, normal.1)
            .and_then(|(v, _)| max(&v))
            .unwrap_or(0.0);
        if rate_peak <= 0.0 {
            continue;
        }
        let rate_target = rate_peak * scale;
        // Little's W: the normal day's median latency, else its p99 (an upper bound).
        let latency_s = inp
            .p50(name, normal.0, normal.1)
            .and_then(|v| median(&v))
            .or_else(|| {
                inp.p99(name, normal.0, normal.1)
                    .and_then(|(v, _)| median(&v))
            })
            .map(|ms| ms / 1000.0);
        let spec = topo.get(name);
        // Holding time per request: Little's law on the normal day's
        // connections (all replicas) and requests.
        let holding_s = inp
            .connections(name, normal.0, normal.1)
            .and_then(|(_, all)| {
                let rate = inp.rate(name, normal.0, normal.1)?.0;
                let per: Vec<f64> = all
                    .iter()
                    .zip(&rate)
                    .filter(|(c, r)| c.is_finite() && r.is_finite() && **r > 0.0)
                    .map(|(c, r)| c / r)
                    .collect();
                let from_pool = median(&per)?;
                // Open connections include idle ones; a request cannot hold one
                // longer than it lasts.
                Some(latency_s.map_or(from_pool, |w| from_pool.min(w)))
            });
        let pool_needed = holding_s.map(|s| queueing::pool_for(rate_target, s, p_max));
        let pool_configured = spec.and_then(|s| {
            s.pool_size
                .map(|p| p as u64 * s.replicas.unwrap_or(1).max(1) as u64)
        });
        let (wait_probability, mean_wait_s) = match (holding_s, pool_configured) {
            (Some(h), Some(c)) => {
                let c = c.min(u32::MAX as u64) as u32;
                (
                    Some(queueing::erlang_c(c, rate_target * h)),
                    Some(queueing::mean_wait(c, rate_target, h)),
                )
            }
            _ => (None, None),
        };
        let usl = usl_fit(inp, name, normal.0, incident.1);
        services.push(ServiceRow {
            service: name.clone(),
            rate_source: src.into(),
            rate_peak,
            rate_normal_peak,
            rate_target,
            latency_s,
            concurrency_target: latency_s.map(|w| queueing::little(rate_target, w)),
            holding_s,
            pool_needed,
            pool_configured,
            max_replicas: spec.map_or(1, |s| s.max_replicas()),
            wait_probability,
            mean_wait_s,
            usl,
        });
    }

    let server = server(inc, inp, incident, &mut notes);
    let sum_now = topo.service.iter().map(|s| s.connections()).sum();
    let sum_max = topo
        .service
        .iter()
        .map(|s| s.pool_size.unwrap_or(0) as u64 * s.max_replicas() as u64)
        .sum();
    let sum_needed = services
        .iter()
        .filter_map(|r| r.pool_needed)
        .map(u64::from)
        .sum();
    let hikari = topo.postgres.as_ref().and_then(|p| {
        p.cores
            .map(|c| queueing::hikari(c, p.spindles.unwrap_or(1)))
    });
    Plan {
        incident_users: capc.incident_users,
        target_users,
        scale,
        max_wait_probability: p_max,
        services,
        server,
        sum_now,
        sum_max,
        sum_needed,
        hikari,
        notes,
    }
}

fn server(
    inc: &Incident,
    inp: &Inputs,
    incident: (Minute, Minute),
    notes: &mut Vec<String>,
) -> Option<Server> {
    let spec = inc.file.topology.postgres.clone().unwrap_or_default();
    let seen = inp.server(incident.0, incident.1);
    let (source, max_connections) = match (spec.max_connections, &seen) {
        (Some(m), _) => ("topology.postgres".to_string(), m),
        (None, Some((name, m, _))) if m.is_finite() => {
            (format!("metrics db_max_connections of {name}"), *m as u32)
        }
        _ => {
            notes.push("max_connections is unknown (topology.postgres.max_connections or a db_max_connections metric)".into());
            return None;
        }
    };
    let reserved = spec.reserved_connections.unwrap_or_else(|| {
        notes.push(format!(
            "reserved connections not set (topology.postgres.reserved_connections): PostgreSQL's default superuser_reserved_connections = {DEFAULT_RESERVED} is used"
        ));
        DEFAULT_RESERVED
    });
    let (peak, peak_at) = seen
        .as_ref()
        .and_then(|(_, _, c)| argmax(c))
        .map_or((f64::NAN, 0), |(i, v)| {
            (v, (incident.0 + i as Minute) * 60_000)
        });
    Some(Server {
        source,
        max_connections,
        reserved,
        usable: max_connections.saturating_sub(reserved),
        peak,
        peak_at,
    })
}

/// A Universal Scalability Law fit of `service`'s per-minute throughput
/// against its concurrency (requests/s × median latency), over minutes
/// without errors; `None` unless the day holds at least 6 distinct loads
/// and the fit is sound (σ, κ ≥ 0).
fn usl_fit(
    inp: &Inputs,
    service: &str,
    from: Minute,
    to: Minute,
) -> Option<(f64, f64, f64, u32, f64)> {
    let rate = inp.rate(service, from, to)?.0;
    let p50 = inp.p50(service, from, to)?;
    let err = inp.error_ratio(service, from, to).map(|(v, _)| v);
    let mut ms = Vec::new();
    let mut loads = std::collections::BTreeSet::new();
    for (i, (x, r)) in rate.iter().zip(&p50).enumerate() {
        let clean = err
            .as_ref()
            .and_then(|e| e.get(i))
            .is_none_or(|e| !e.is_finite() || *e < 0.01);
        if x.is_finite() && r.is_finite() && *x > 0.0 && *r > 0.0 && clean {
            loads.insert((x * 10.0) as i64);
            ms.push(usl::Measurement::throughput_and_latency(
                *x,
                Duration::from_secs_f64(r / 1000.0),
            ));
        }
    }
    if loads.len() < 6 {
        return None;
    }
    let model = std::panic::catch_unwind(|| usl::Model::build(&ms)).ok()?;
    if !(model.sigma >= 0.0 && model.kappa > 0.0 && model.lambda > 0.0) {
        return None;
    }
    let n = model.max_concurrency();
    Some((
        model.sigma,
        model.kappa,
        model.lambda,
        n,
        model.max_throughput(),
    ))
}

fn f1(x: f64) -> String {
    format!("{x:.1}")
}

/// `reports/capacity.md`.
pub fn to_markdown(inc: &Incident, p: &Plan) -> String {
    let topo = &inc.file.topology;
    let mut out = String::from("# Capacity plan\n\n");
    match p.incident_users {
        Some(u) => {
            let _ = writeln!(
                out,
                "Planned for **{} concurrent users**: the incident's peak rates × {} / {} = × {:.3}, taking requests to grow with users.\n",
                count(p.target_users),
                count(p.target_users),
                count(u),
                p.scale
            );
        }
        None => {
            let _ = writeln!(
                out,
                "Planned for the incident's own peak (× 1): set `[capacity] incident_users` in incident.toml to scale to {} users.\n",
                count(p.target_users)
            );
        }
    }
    out.push_str("## Services\n\n");
    out.push_str("| service | peak req/s (incident) | normal-day peak | at target | median latency | in flight at target (L = λW) | holding time / request | pool needed (Erlang C) | pool now | P(wait) now | mean wait now |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in &p.services {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.service,
            f1(r.rate_peak),
            f1(r.rate_normal_peak),
            f1(r.rate_target),
            r.latency_s.map_or("unknown".into(), |w| fmt_ms(w * 1000.0)),
            r.concurrency_target.map_or("unknown".into(), f1),
            r.holding_s.map_or("unknown".into(), |h| fmt_ms(h * 1000.0)),
            r.pool_needed.map_or("unknown".into(), |n| n.to_string()),
            r.pool_configured
                .map_or("unknown".into(), |n| n.to_string()),
            r.wait_probability
                .map_or("unknown".into(), |w| format!("{:.3}", w)),
            r.mean_wait_s
                .map_or("unknown".into(), |w| if w.is_finite() {
                    fmt_ms(w * 1000.0)
                } else {
                    "unbounded (a ≥ c)".into()
                }),
        );
    }
    out.push_str("\nInputs: peak rates from ");
    let srcs: std::collections::BTreeSet<&str> =
        p.services.iter().map(|r| r.rate_source.as_str()).collect();
    out.push_str(&srcs.into_iter().collect::<Vec<_>>().join(", "));
    out.push_str(" (highest minute from the spike to the recovery); median latency from the log timeline's latency_p50_ms over the normal part of the day (a service without it: the median of its p99, an upper bound); holding time = the normal day's db_connections ÷ request rate, minute by minute, median (Little's law read backwards), capped at the median latency since open connections include idle ones; pool now from `[[topology.service]]` pool_size × replicas.\n\n");
    out.push_str("Formulas: L = λW (Little's law). Erlang C: P(wait) = c·B(c, a) / (c − a(1 − B(c, a))) with a = λ × holding time and B Erlang B's recurrence; the pool needed is the smallest c with P(wait) ≤ ");
    let _ = writeln!(
        out,
        "{}; mean wait = P(wait) × holding time / (c − a).\n",
        p.max_wait_probability
    );

    out.push_str("## The database\n\n");
    match &p.server {
        Some(s) => {
            let _ = writeln!(
                out,
                "- max_connections {} ({}) − {} reserved = **{} usable slots**; at most {} in use during the incident{}.",
                s.max_connections,
                s.source,
                s.reserved,
                s.usable,
                if s.peak.is_finite() { format!("{:.0}", s.peak) } else { "unknown".into() },
                if s.peak.is_finite() { format!(" ({})", hhmm(inc.tz, s.peak_at)) } else { String::new() }
            );
            let _ = writeln!(
                out,
                "- all pools now: {} connections; at the most replicas autoscaling allows: {}; Erlang C needs {} at the target.",
                p.sum_now, p.sum_max, p.sum_needed
            );
            if p.sum_max > s.usable as u64 || p.sum_needed > s.usable as u64 {
                let _ = writeln!(
                    out,
                    "- the client pools exceed the usable slots: put PgBouncer in front with pool_mode = transaction. Each service's pool then talks to PgBouncer (max_client_conn ≥ {}), and PgBouncer holds at most default_pool_size server connections per database/user pair; with one role per service, default_pool_size ≤ {} keeps the {} services within {} slots.",
                    p.sum_max.max(p.sum_needed),
                    s.usable / (topo.service.iter().filter(|x| x.pool_size.is_some()).count().max(1) as u32),
                    topo.service.iter().filter(|x| x.pool_size.is_some()).count(),
                    s.usable
                );
            }
        }
        None => out.push_str("- the server's max_connections is unknown.\n"),
    }
    if let Some(b) = &topo.pgbouncer {
        let _ = writeln!(
            out,
            "- PgBouncer now: pool_mode {}, default_pool_size {}, max_client_conn {}.",
            b.pool_mode
                .as_ref()
                .map_or("unknown".into(), |m| m.get_ref().clone()),
            b.default_pool_size
                .map_or("unknown".into(), |x| x.to_string()),
            b.max_client_conn
                .map_or("unknown".into(), |x| x.to_string())
        );
    }
    if let Some(h) = p.hikari {
        let _ = writeln!(
            out,
            "- the server does useful work on about cores × 2 + spindles = {h} connections at once (HikariCP's rule); connections beyond that queue inside PostgreSQL instead of in the pools."
        );
    }
    out.push_str("\n## Headroom at the target\n\n| resource | capacity | incident peak | needed at target | headroom |\n|---|---:|---:|---:|---:|\n");
    if let Some(s) = &p.server {
        let need = p.sum_needed as f64;
        let _ = writeln!(
            out,
            "| PostgreSQL usable slots | {} | {} | {} | {} |",
            s.usable,
            if s.peak.is_finite() {
                format!("{:.0}", s.peak)
            } else {
                "unknown".into()
            },
            p.sum_needed,
            headroom(s.usable as f64, need)
        );
    }
    for r in &p.services {
        if let (Some(now), Some(need)) = (r.pool_configured, r.pool_needed) {
            let _ = writeln!(
                out,
                "| {} pool (all replicas) | {} | — | {} | {} |",
                r.service,
                now,
                need,
                headroom(now as f64, need as f64)
            );
        }
        if let Some((_, _, _, n, x)) = r.usl {
            let _ = writeln!(
                out,
                "| {} throughput (USL X max at N = {n}) | {} req/s | {} req/s | {} req/s | {} |",
                r.service,
                f1(x),
                f1(r.rate_peak),
                f1(r.rate_target),
                headroom(x, r.rate_target)
            );
        }
    }
    let fits: Vec<&ServiceRow> = p.services.iter().filter(|r| r.usl.is_some()).collect();
    if !fits.is_empty() {
        out.push_str("\nUSL (crate `usl`): X(N) = λN / (1 + σ(N − 1) + κN(N − 1)), fitted to each minute without errors (throughput = requests/s, N = requests/s × median latency):\n\n");
        for r in fits {
            let (s, k, l, n, x) = r.usl.unwrap_or_default();
            let _ = writeln!(
                out,
                "- {}: σ = {s:.4}, κ = {k:.6}, λ = {l:.2}; N max = {n}, X max = {} req/s.",
                r.service,
                f1(x)
            );
        }
    }
    if !p.notes.is_empty() {
        out.push_str("\n## Assumed or missing\n\n");
        for n in &p.notes {
            let _ = writeln!(out, "- {n}");
        }
    }
    out.push_str("\n## Read\n\n");
    for f in &inp_read(inc) {
        let _ = writeln!(out, "- {f}");
    }
    out
}

fn inp_read(inc: &Incident) -> Vec<String> {
    let mut v = vec!["incident.toml ([topology], [capacity])".to_string()];
    let files = sidik_evidence::Files::of(&inc.dir);
    for p in [files.metrics(), files.timeline()] {
        if p.is_file() {
            v.push(inc.dir.relative(&p));
        }
    }
    v
}

fn headroom(capacity: f64, need: f64) -> String {
    if need <= 0.0 || !capacity.is_finite() {
        return "—".into();
    }
    let h = (capacity - need) / capacity * 100.0;
    if h < 0.0 {
        format!("**short by {:.0} %**", (need - capacity) / capacity * 100.0)
    } else {
        format!("{h:.0} %")
    }
}
