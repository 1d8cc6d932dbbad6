//! `ground_truth.json`: what the generator planted, for tests to compare with.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::fmt::{rfc3339_wib, wib_period};
use crate::ledger::{net_charged, signed, PayType, Payment, Posting};
use crate::model::{status, Fate, Fault, Order};
use crate::scenario::{Millis, Scenario, AS_OF, RECOVERY, SPIKE_START};

/// Break categories, as used in `ground_truth.json`.
pub mod category {
    /// A successful charge on an order that HO never booked.
    pub const MISSING_IN_HO: &str = "MISSING_IN_HO";
    /// More than one successful charge for one order.
    pub const DUPLICATE_CHARGE: &str = "DUPLICATE_CHARGE";
    /// HO booked the same journal lines twice.
    pub const DUPLICATE_POSTING: &str = "DUPLICATE_POSTING";
    /// HO's total differs from what UPG kept.
    pub const AMOUNT_MISMATCH: &str = "AMOUNT_MISMATCH";
    /// Order left in ACTIVE although its trip ended.
    pub const STUCK_ORDER: &str = "STUCK_ORDER";
    /// Timing item: charged in January, booked in a later ledger period.
    pub const CROSS_PERIOD: &str = "CROSS_PERIOD";
    /// Timing item: charged for a trip after the export date; not yet due in HO.
    pub const NOT_YET_DUE: &str = "NOT_YET_DUE";
}

/// One planted discrepancy.
#[derive(Debug, Clone, Serialize)]
pub struct Break {
    /// See [`category`].
    pub category: &'static str,
    /// The order.
    pub order_id: String,
    /// The payment concerned, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    /// What UPG kept (net), IDR.
    pub charged: i64,
    /// What HO booked (signed sum), IDR.
    pub posted: i64,
    /// The money at stake, IDR.
    pub amount: i64,
    /// When it happened (the charge or the failed step), RFC 3339 WIB.
    pub at: String,
    /// Caused by the injected root cause (false: ordinary background failure).
    pub injected: bool,
}

/// A successful charge that never reached HO.
#[derive(Debug, Clone, Serialize)]
pub struct Missing {
    /// The payment.
    pub payment_id: String,
    /// Its order.
    pub order_id: String,
    /// IDR.
    pub amount: i64,
}

/// A log file the generator wrote.
#[derive(Debug, Clone, Serialize)]
pub struct LogFileTruth {
    /// Path relative to the incident folder.
    pub path: String,
    /// Service.
    pub service: String,
    /// Format as named in incident.toml.
    pub format: String,
    /// Whether the file is gzip-compressed.
    pub gzip: bool,
    /// Number of physical lines written.
    pub lines: u64,
    /// Records that are not malformed (a multi-line PostgreSQL entry is one record).
    pub events: u64,
    /// 1-based numbers of lines made malformed on purpose (truncated or garbage).
    pub malformed_lines: Vec<u64>,
}

/// Times of the incident's phases.
#[derive(Debug, Clone, Serialize)]
pub struct Times {
    /// Traffic starts to rise.
    pub spike_start: String,
    /// First log line caused by the injected root cause.
    pub error_onset: String,
    /// Errors at full rate; stuck orders accumulate.
    pub degradation_start: String,
    /// Services recovered.
    pub recovery: String,
}

/// The root cause.
#[derive(Debug, Clone, Serialize)]
pub struct RootCause {
    /// Scenario name.
    pub scenario: &'static str,
    /// The tracker's hypothesis number (1-5).
    pub hypothesis_number: u8,
    /// The tracker's hypothesis text.
    pub hypothesis: &'static str,
    /// Symptoms that appear too but are not the cause.
    pub secondary_symptoms: Vec<&'static str>,
}

/// Everything planted in one generated incident.
#[derive(Debug, Clone, Serialize)]
pub struct GroundTruth {
    /// Format version.
    pub version: u32,
    /// Scenario, orders and seed this was generated from.
    pub generator: BTreeMap<&'static str, serde_json::Value>,
    /// Incident timezone.
    pub timezone: &'static str,
    /// When the exports were taken.
    pub as_of: String,
    /// The injected root cause.
    pub root_cause: RootCause,
    /// Phase times.
    pub times: Times,
    /// Row counts and break counts.
    pub counts: BTreeMap<String, u64>,
    /// IDR at stake per break category.
    pub amounts_idr: BTreeMap<String, i64>,
    /// Orders left in ACTIVE.
    pub stuck_orders: Vec<String>,
    /// Successful charges with no HO posting for their order.
    pub missing_in_ho: Vec<Missing>,
    /// Every planted break.
    pub breaks: Vec<Break>,
    /// Expected differences that are not breaks (cross-period, not yet due).
    pub timing_items: Vec<Break>,
    /// The log files and their planted malformed lines.
    pub logs: Vec<LogFileTruth>,
    /// Log records per error class and minute (`2025-01-12T19:07:00+07:00`),
    /// all services together, malformed lines excluded. Classes are those of
    /// sidik's shipped classification rules.
    pub classes_per_minute: BTreeMap<String, BTreeMap<String, u64>>,
    /// PostgreSQL settings of the generated server.
    pub postgres: BTreeMap<&'static str, i64>,
    /// Goroutines piling up in one service (blocked on outbound calls), when planted.
    pub goroutine_growth: Option<GoroutineGrowth>,
}

/// A planted goroutine growth: the service and the window it grows in.
#[derive(Debug, Clone, Serialize)]
pub struct GoroutineGrowth {
    /// The calling service.
    pub service: &'static str,
    /// First minute with extra goroutines.
    pub start: String,
    /// First minute without them (the recovery).
    pub end: String,
}

/// Collects ground truth while the exports are written.
#[derive(Debug)]
pub struct TruthBuilder {
    scenario: Scenario,
    counts: BTreeMap<String, u64>,
    amounts: BTreeMap<String, i64>,
    stuck: Vec<String>,
    missing: Vec<Missing>,
    breaks: Vec<Break>,
    timing: Vec<Break>,
}

impl TruthBuilder {
    /// Starts collecting.
    pub fn new(scenario: Scenario) -> Self {
        TruthBuilder {
            scenario,
            counts: BTreeMap::new(),
            amounts: BTreeMap::new(),
            stuck: Vec::new(),
            missing: Vec::new(),
            breaks: Vec::new(),
            timing: Vec::new(),
        }
    }

    fn count(&mut self, key: &str, n: u64) {
        *self.counts.entry(key.to_string()).or_default() += n;
    }

    /// Records one order with its rows.
    pub fn order(&mut self, o: &Order, pays: &[Payment], posts: &[Posting]) {
        self.count("orders", 1);
        self.count("payments", pays.len() as u64);
        self.count("postings", posts.len() as u64);
        self.count(&format!("orders_{}", status(o).to_ascii_lowercase()), 1);
        let order_id = o.order_id();
        let charged = net_charged(pays);
        let posted: i64 = posts.iter().map(signed).sum();
        let injected = o.fault != Fault::None && !o.background_fault;
        let mk = |category, payment_id: Option<&str>, amount, at| Break {
            category,
            order_id: order_id.clone(),
            payment_id: payment_id.map(str::to_string),
            charged,
            posted,
            amount,
            at: rfc3339_wib(at),
            injected,
        };
        let charges: Vec<&Payment> = pays
            .iter()
            .filter(|p| p.kind == PayType::Charge && p.success)
            .collect();

        if status(o) == "SCHEDULED" {
            if let Some(c) = charges.first() {
                self.timing
                    .push(mk(category::NOT_YET_DUE, Some(&c.id), charged, c.at));
            }
            return;
        }
        if o.fate == Fate::Scheduled && !posts.is_empty() {
            let c = charges[0];
            if wib_period(posts[0].at) != wib_period(c.at) {
                self.timing
                    .push(mk(category::CROSS_PERIOD, Some(&c.id), charged, c.at));
            }
        }
        if o.fault == Fault::Stuck {
            self.stuck.push(order_id.clone());
            let b = mk(category::STUCK_ORDER, None, charged, fault_time(o));
            self.push_break(b);
        }
        if posts.is_empty() && charged > 0 {
            for c in &charges {
                self.missing.push(Missing {
                    payment_id: c.id.clone(),
                    order_id: order_id.clone(),
                    amount: c.amount,
                });
                let b = mk(category::MISSING_IN_HO, Some(&c.id), c.amount, c.at);
                self.push_break(b);
            }
            return;
        }
        match o.fault {
            Fault::DuplicateCharge => {
                for extra in &charges[1..] {
                    let b = mk(
                        category::DUPLICATE_CHARGE,
                        Some(&extra.id),
                        extra.amount,
                        extra.at,
                    );
                    self.push_break(b);
                }
            }
            Fault::DuplicatePosting => {
                let b = mk(
                    category::DUPLICATE_POSTING,
                    Some(&charges[0].id),
                    posted - charged,
                    o.posted_at,
                );
                self.push_break(b);
            }
            Fault::TipLost => {
                let b = mk(
                    category::AMOUNT_MISMATCH,
                    Some(&charges[0].id),
                    charged - posted,
                    o.posted_at,
                );
                self.push_break(b);
            }
            _ => debug_assert_eq!(charged, posted, "unplanned difference on {}", o.order_id()),
        }
    }

    fn push_break(&mut self, b: Break) {
        self.count(&format!("breaks_{}", b.category.to_ascii_lowercase()), 1);
        *self.amounts.entry(b.category.to_string()).or_default() += b.amount;
        self.breaks.push(b);
    }

    /// Finishes the ground truth.
    pub fn finish(
        mut self,
        seed: u64,
        orders: u64,
        logs: Vec<LogFileTruth>,
        classes_per_minute: BTreeMap<String, BTreeMap<String, u64>>,
        first_error: Option<Millis>,
        max_connections: i64,
    ) -> GroundTruth {
        let sc = self.scenario;
        let (number, text) = sc.hypothesis();
        self.count("stuck_orders", self.stuck.len() as u64);
        self.count("missing_in_ho_payments", self.missing.len() as u64);
        // The first log line caused by the injected root cause; the plan's
        // onset when no line was written (a tiny incident).
        let onset = first_error.unwrap_or_else(|| sc.onset());
        let mut generator = BTreeMap::new();
        generator.insert("scenario", serde_json::json!(sc.name()));
        generator.insert("orders", serde_json::json!(orders));
        generator.insert("seed", serde_json::json!(seed));
        generator.insert(
            "sidik_version",
            serde_json::json!(env!("CARGO_PKG_VERSION")),
        );
        let mut postgres = BTreeMap::new();
        postgres.insert("max_connections", max_connections);
        postgres.insert("superuser_reserved_connections", 3);
        GroundTruth {
            version: 1,
            generator,
            timezone: "Asia/Jakarta",
            as_of: rfc3339_wib(AS_OF),
            root_cause: RootCause {
                scenario: sc.name(),
                hypothesis_number: number,
                hypothesis: text,
                secondary_symptoms: sc.secondary().to_vec(),
            },
            times: Times {
                spike_start: rfc3339_wib(SPIKE_START),
                error_onset: rfc3339_wib(onset),
                degradation_start: rfc3339_wib(sc.degradation()),
                recovery: rfc3339_wib(RECOVERY),
            },
            counts: self.counts,
            amounts_idr: self.amounts,
            stuck_orders: self.stuck,
            missing_in_ho: self.missing,
            breaks: self.breaks,
            timing_items: self.timing,
            logs,
            classes_per_minute,
            postgres,
            goroutine_growth: crate::metrics::goroutine_growth(sc).map(|service| GoroutineGrowth {
                service,
                start: rfc3339_wib(sc.onset()),
                end: rfc3339_wib(RECOVERY),
            }),
        }
    }
}

/// When an order's fault shows in the logs.
pub fn fault_time(o: &Order) -> Millis {
    match o.fault {
        Fault::DuplicateCharge | Fault::BreakerRejected => {
            o.charge_at
                + if o.fault == Fault::DuplicateCharge {
                    5_000
                } else {
                    3
                }
        }
        _ => o.completion(),
    }
}
