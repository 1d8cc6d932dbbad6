//! Per-minute metrics of the incident day: a cloud-monitoring CSV export and
//! the same series as OpenMetrics text.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use rand::Rng;

use crate::fmt::Clock;
use crate::model::Model;
use crate::scenario::{Scenario, DAY_START, RECOVERY};

/// `max_connections` of the generated PostgreSQL server.
pub const MAX_CONNECTIONS: i64 = 200;
/// Slots ordinary roles can use (`max_connections - superuser_reserved_connections`).
pub const USABLE_SLOTS: i64 = MAX_CONNECTIONS - 3;

/// Metric names, in file order.
pub const METRICS: [&str; 8] = [
    "request_rate",
    "http_5xx_rate",
    "latency_p99_ms",
    "go_goroutines",
    "go_gc_pause_p99_seconds",
    "go_memstats_heap_inuse_bytes",
    "db_connections",
    "db_max_connections",
];

const INSTANCES: [(&str, &str); 6] = [
    ("mrg", "mrg-7c9f8d-0"),
    ("mrg", "mrg-7c9f8d-1"),
    ("upg", "upg-5d4b7c-0"),
    ("upg", "upg-5d4b7c-1"),
    ("order-orchestrator", "order-orchestrator-0"),
    ("postgres", "postgres-orders-0"),
];

struct Sample {
    metric: usize,
    instance: usize,
    minute: usize,
    value: f64,
}

fn is_hit(sc: Scenario, service: &str) -> bool {
    matches!(
        (sc, service),
        (Scenario::PoolExhaustion, "order-orchestrator" | "upg")
            | (Scenario::CallbackFailure, "upg")
            | (Scenario::CircuitBreaker, "mrg" | "upg")
            | (Scenario::TimeoutMismatch, "mrg")
            | (Scenario::RaceCondition, "order-orchestrator")
    )
}

/// The service whose goroutines pile up, blocked on outbound calls, when the
/// scenario plants it: UPG's callback retries, MRG's calls that outlive their timeout.
pub fn goroutine_growth(sc: Scenario) -> Option<&'static str> {
    match sc {
        Scenario::CallbackFailure => Some("upg"),
        Scenario::TimeoutMismatch => Some("mrg"),
        _ => None,
    }
}

fn samples(model: &Model) -> Vec<Sample> {
    let sc = model.scenario();
    let mut rng = model.stream(0x4d45_5452);
    let mut out = Vec::new();
    let degr = sc.degradation();
    for minute in 0..1440usize {
        let t = DAY_START + minute as i64 * 60_000;
        let per_sec = model.orders_in_minute(minute) / 60.0;
        let load = model.load(t);
        let sev = model.severity(t);
        // Minutes since the onset, for things that pile up.
        let pile = if sev > 0.0 {
            ((t - sc.onset()) as f64 / 60_000.0).max(0.0)
        } else {
            0.0
        };
        let mut total_conns = 0.0;
        for (inst, &(service, _)) in INSTANCES.iter().enumerate() {
            let hit = is_hit(sc, service) && sev > 0.0;
            let mut noise = || 1.0 + rng.random_range(-0.05..0.05);
            let base_rate = match service {
                "mrg" => per_sec * 3.0 / 2.0,
                "upg" => per_sec * 1.6 / 2.0,
                "order-orchestrator" => per_sec * 4.0,
                _ => per_sec * 9.0,
            };
            let rate = if sc == Scenario::CircuitBreaker && service == "upg" && sev > 0.3 {
                base_rate * 0.55
            } else {
                base_rate
            } * noise();
            let errors = rate * if hit { 0.02 + 0.25 * sev } else { 0.001 } * noise();
            let latency = if hit {
                match sc {
                    Scenario::TimeoutMismatch => 5_000.0 + 3_500.0 * sev,
                    Scenario::PoolExhaustion => 1_500.0 + 6_000.0 * sev,
                    _ => 900.0 + 2_000.0 * sev,
                }
            } else {
                180.0 * (1.0 + 2.0 * load * load)
            } * noise();
            // Goroutines follow load; only a planted growth adds ones that never finish.
            let leak = sev > 0.0 && goroutine_growth(sc) == Some(service);
            let goroutines =
                (150.0 + 650.0 * load + if leak { 260.0 * pile.min(95.0) } else { 0.0 }) * noise();
            let gc =
                (0.0008 + 0.004 * load * load + if hit { 0.0004 * pile.min(95.0) } else { 0.0 })
                    * noise();
            let heap = (80e6 + 300e6 * load + goroutines * 8_192.0) * noise();
            let conns = match service {
                "postgres" => total_conns + 4.0,
                _ => {
                    let share = match service {
                        "mrg" => 0.08,
                        "upg" => 0.3,
                        _ => 0.6,
                    };
                    let normal = share * (30.0 + 110.0 * load) * noise();
                    let saturated = share * USABLE_SLOTS as f64
                        / if service == "order-orchestrator" {
                            1.0
                        } else {
                            2.0
                        };
                    let c = if sc == Scenario::PoolExhaustion && sev > 0.0 {
                        if t >= degr {
                            saturated
                        } else {
                            normal
                                + (saturated - normal) * (t - sc.onset()) as f64
                                    / (degr - sc.onset()) as f64
                        }
                    } else {
                        normal
                    };
                    c.round()
                }
            };
            if service != "postgres" {
                total_conns += conns;
            }
            let conns = if service == "postgres" {
                if sc == Scenario::PoolExhaustion && t >= degr && t < RECOVERY {
                    USABLE_SLOTS as f64
                } else {
                    conns.min(USABLE_SLOTS as f64)
                }
            } else {
                conns
            };
            let values: [Option<f64>; 8] = if service == "postgres" {
                [
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    Some(conns),
                    Some(MAX_CONNECTIONS as f64),
                ]
            } else {
                [
                    Some(rate),
                    Some(errors),
                    Some(latency),
                    Some(goroutines.round()),
                    Some(gc),
                    Some(heap.round()),
                    Some(conns),
                    None,
                ]
            };
            for (metric, v) in values.into_iter().enumerate() {
                if let Some(value) = v {
                    out.push(Sample {
                        metric,
                        instance: inst,
                        minute,
                        value,
                    });
                }
            }
        }
    }
    out
}

fn value_text(metric: usize, v: f64) -> String {
    match METRICS[metric] {
        "go_gc_pause_p99_seconds" => format!("{v:.6}"),
        "request_rate" | "http_5xx_rate" | "latency_p99_ms" => format!("{v:.3}"),
        _ => format!("{v:.0}"),
    }
}

/// Writes `cloud-eye.csv` and `metrics.om` into `dir`.
pub fn write(model: &Model, dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut s = samples(model);
    let mut clock = Clock::new();
    let mut csv = BufWriter::new(File::create(dir.join("cloud-eye.csv"))?);
    writeln!(csv, "timestamp,metric,instance,value")?;
    let mut ts = Vec::new();
    for x in &s {
        ts.clear();
        clock.wib_offset(&mut ts, DAY_START + x.minute as i64 * 60_000);
        csv.write_all(&ts)?;
        writeln!(
            csv,
            ",{},{},{}",
            METRICS[x.metric],
            INSTANCES[x.instance].1,
            value_text(x.metric, x.value)
        )?;
    }
    csv.flush()?;

    // OpenMetrics: families grouped, each series in time order, seconds, `# EOF`.
    s.sort_by_key(|x| (x.metric, x.instance, x.minute));
    let mut om = BufWriter::new(File::create(dir.join("metrics.om"))?);
    let mut last_metric = usize::MAX;
    for x in &s {
        let name = METRICS[x.metric];
        if x.metric != last_metric {
            writeln!(om, "# TYPE {name} gauge")?;
            last_metric = x.metric;
        }
        let (service, instance) = INSTANCES[x.instance];
        let secs = (DAY_START + x.minute as i64 * 60_000) / 1000;
        writeln!(
            om,
            "{name}{{service=\"{service}\",instance=\"{instance}\"}} {} {secs}",
            value_text(x.metric, x.value)
        )?;
    }
    writeln!(om, "# EOF")?;
    om.flush()
}
