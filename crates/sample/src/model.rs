//! The per-order model: every order is a pure function of (seed, scenario,
//! order count, index), so each writer thread can derive the same story on
//! its own, in any order, without sharing state.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use crate::scenario::*;

/// Service line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// Rent (charged up front, at booking).
    Gb,
    /// Charged at the end of the trip.
    Bb,
    /// Charged at the end of the trip.
    Sb,
}

impl Line {
    /// Code used in exports and logs.
    pub fn code(self) -> &'static str {
        match self {
            Line::Gb => "GB",
            Line::Bb => "BB",
            Line::Sb => "SB",
        }
    }
}

/// Payment method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Credit card (cc_cp).
    Card,
    /// E-wallet.
    Ewallet,
    /// Corporate e-voucher paid from a reserved budget.
    Ecv,
    /// Virtual account.
    Va,
}

impl Method {
    /// Code used in exports.
    pub fn code(self) -> &'static str {
        match self {
            Method::Card => "CC_CP",
            Method::Ewallet => "EWALLET",
            Method::Ecv => "ECV",
            Method::Va => "VA",
        }
    }
}

/// How the order ended, apart from the incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Trip done, charged, posted.
    Complete,
    /// BB/SB cancelled before the end-of-trip charge: no payment.
    CancelledUncharged,
    /// GB cancelled after the up-front charge: fully refunded, posted and reversed.
    CancelledRefunded,
    /// GB cancelled the same day: the charge was voided, nothing posted.
    Voided,
    /// Every charge attempt failed: cancelled, no money moved.
    PaymentFailed,
    /// Booked on the 12th for a February trip, charged up front (GB).
    Scheduled,
}

/// What the incident (or, rarely, ordinary bad luck) did to the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Nothing.
    None,
    /// Completion never reached the orchestrator: ACTIVE forever, never posted to HO.
    Stuck,
    /// COMPLETE, but the HO push failed: charged and never posted.
    HoMissing,
    /// A retry charged the customer a second time.
    DuplicateCharge,
    /// HO received the same journal lines twice.
    DuplicatePosting,
    /// The tip was charged but never posted to HO.
    TipLost,
    /// The UPG breaker was open: no charge, the order was cancelled.
    BreakerRejected,
}

/// Where the HO push of an order is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pusher {
    /// UPG pushes (`is_push_ho = true`).
    Upg,
    /// MRG pushes.
    Mrg,
}

/// One order and everything that happens to it.
#[derive(Debug, Clone, Copy)]
pub struct Order {
    /// Index 0..N; ids derive from it.
    pub idx: u64,
    /// Booking time.
    pub created: Millis,
    /// Service line.
    pub line: Line,
    /// Payment method.
    pub method: Method,
    /// Corporate account for ECV orders.
    pub corporate: Option<u16>,
    /// Base fare, IDR.
    pub base: i64,
    /// Overtime, IDR.
    pub overtime: i64,
    /// Toll, parking and other extras, IDR.
    pub extra: i64,
    /// Tip, IDR.
    pub tip: i64,
    /// Posted as several journal lines (BASE, OVERTIME, EXTRA, TIP) rather than one BASE line.
    pub split_posting: bool,
    /// Who pushes to HO.
    pub pusher: Pusher,
    /// Driver assigned / rental started.
    pub trip_start: Millis,
    /// Trip or rental ended.
    pub trip_end: Millis,
    /// Ordinary outcome.
    pub fate: Fate,
    /// Incident outcome.
    pub fault: Fault,
    /// The fault came from the background rate, not the injected root cause.
    pub background_fault: bool,
    /// When the (final) charge is requested.
    pub charge_at: Millis,
    /// UPG processing time of the charge, ms.
    pub charge_latency: i64,
    /// A first charge attempt was declined before one succeeded.
    pub declined_first: bool,
    /// When HO booked the posting (completion + push lag).
    pub posted_at: Millis,
    /// When the cancellation (refund, void) happened.
    pub cancelled_at: Millis,
    /// Trace id shared by every service's log line about this order.
    pub trace: u64,
}

impl Order {
    /// Total price.
    pub fn total(&self) -> i64 {
        self.base + self.overtime + self.extra + self.tip
    }

    /// `ORD-250112-00000042`.
    pub fn order_id(&self) -> String {
        order_id(self.idx)
    }

    /// When completion is processed (status COMPLETE, HO push).
    pub fn completion(&self) -> Millis {
        match self.line {
            Line::Gb => self.trip_end + 800,
            _ => self.charge_at + self.charge_latency + 120,
        }
    }

    /// Whether a successful charge exists.
    pub fn charged(&self) -> bool {
        matches!(
            self.fate,
            Fate::Complete | Fate::CancelledRefunded | Fate::Voided | Fate::Scheduled
        ) && self.fault != Fault::BreakerRejected
    }
}

/// `ORD-250112-00000042` for index 41.
pub fn order_id(idx: u64) -> String {
    format!("ORD-250112-{:08}", idx + 1)
}

/// `PAY-00000042-1` for attempt 1 of order index 41.
pub fn payment_id(idx: u64, attempt: u32) -> String {
    format!("PAY-{:08}-{attempt}", idx + 1)
}

/// How the traffic spike rises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpikeShape {
    /// Up over 20 minutes from 19:00 (the default sample).
    Ramp,
    /// Up within the minute at 19:00 (a push notification, a flash sale).
    Step,
    /// Two waves: 19:00 to 19:45 and a higher one from 20:00 to 21:00, the
    /// traffic back to the evening's between them.
    TwoWaves,
}

impl SpikeShape {
    /// Every shape a varied incident draws from.
    pub const ALL: [SpikeShape; 3] = [SpikeShape::Ramp, SpikeShape::Step, SpikeShape::TwoWaves];

    /// The name in `ground_truth.json`.
    pub fn name(self) -> &'static str {
        match self {
            SpikeShape::Ramp => "ramp",
            SpikeShape::Step => "step",
            SpikeShape::TwoWaves => "two-waves",
        }
    }
}

/// Relative traffic per minute of the incident day (WIB minutes 0..1440).
pub fn traffic_weights() -> Vec<f64> {
    shaped_weights(SpikeShape::Ramp)
}

/// Relative traffic per minute of the incident day, with a spike of `shape`.
pub fn shaped_weights(shape: SpikeShape) -> Vec<f64> {
    (0..1440)
        .map(|m| {
            let h = m as f64 / 60.0;
            let bump = |center: f64, width: f64, height: f64| {
                height * (-((h - center) / width).powi(2)).exp()
            };
            // Night trough, morning and evening commutes, lunch.
            let diurnal = 0.15 + bump(7.8, 1.3, 0.9) + bump(12.3, 1.2, 0.6) + bump(17.5, 1.5, 1.0);
            // The spike: 77k concurrent users from 19:00, peak 19:20-20:05, gone by 21:00.
            let spike = match shape {
                _ if !(19.0..21.0).contains(&h) => 0.0,
                SpikeShape::Ramp | SpikeShape::Step => {
                    let rise = if shape == SpikeShape::Step {
                        1.0
                    } else {
                        ((h - 19.0) / 0.33).min(1.0)
                    };
                    let fall = ((21.0 - h) / 0.9).min(1.0);
                    5.5 * rise.min(fall)
                }
                SpikeShape::TwoWaves if h < 19.75 => {
                    let rise = ((h - 19.0) / 0.15).min(1.0);
                    let fall = ((19.75 - h) / 0.12).min(1.0);
                    5.5 * rise.min(fall)
                }
                SpikeShape::TwoWaves if h < 20.0 => 0.0,
                SpikeShape::TwoWaves => {
                    let rise = ((h - 20.0) / 0.15).min(1.0);
                    let fall = ((21.0 - h) / 0.9).min(1.0);
                    6.2 * rise.min(fall)
                }
            };
            diurnal + spike
        })
        .collect()
}

/// Load relative to the day's peak, 0..1, at time `t`.
pub fn load_at(weights: &[f64], peak: f64, t: Millis) -> f64 {
    let m = ((t - DAY_START) / 60_000).clamp(0, 1439) as usize;
    weights[m] / peak
}

/// Derives orders for one generated incident.
#[derive(Debug, Clone)]
pub struct Model {
    seed: u64,
    scenario: Scenario,
    n: u64,
    cumulative: Vec<f64>,
    weights: Vec<f64>,
    peak: f64,
}

/// SplitMix64 finaliser: decorrelates per-order seeds.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Rounds to a multiple of `step`.
fn round_to(v: f64, step: i64) -> i64 {
    ((v / step as f64).round() as i64).max(1) * step
}

impl Model {
    /// A model of `n` orders.
    pub fn new(seed: u64, scenario: Scenario, n: u64) -> Self {
        Model::shaped(seed, scenario, n, SpikeShape::Ramp)
    }

    /// A model of `n` orders whose spike has `shape`.
    pub fn shaped(seed: u64, scenario: Scenario, n: u64, shape: SpikeShape) -> Self {
        let weights = shaped_weights(shape);
        let mut cumulative = Vec::with_capacity(weights.len() + 1);
        let mut acc = 0.0;
        cumulative.push(0.0);
        for w in &weights {
            acc += w;
            cumulative.push(acc);
        }
        let peak = weights.iter().cloned().fold(0.0, f64::max);
        Model {
            seed,
            scenario,
            n,
            cumulative,
            weights,
            peak,
        }
    }

    /// Number of orders.
    pub fn len(&self) -> u64 {
        self.n
    }

    /// Whether the model has no orders.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The scenario.
    pub fn scenario(&self) -> Scenario {
        self.scenario
    }

    /// Per-minute traffic weights.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// Expected number of orders booked in WIB minute `m` of the day.
    pub fn orders_in_minute(&self, m: usize) -> f64 {
        self.n as f64 * self.weights[m] / self.cumulative[1440]
    }

    /// Load relative to the peak at `t`.
    pub fn load(&self, t: Millis) -> f64 {
        load_at(&self.weights, self.peak, t)
    }

    /// A random stream for purpose `salt` (metrics noise, malformed lines, ...).
    pub fn stream(&self, salt: u64) -> Pcg64Mcg {
        Pcg64Mcg::seed_from_u64(mix(self.seed ^ mix(salt ^ 0xA5A5_5A5A_DEAD_BEEF)))
    }

    /// How strongly the injected cause hits at `t` (0 outside the incident).
    pub fn severity(&self, t: Millis) -> f64 {
        let onset = self.scenario.onset();
        let degr = self.scenario.degradation();
        if t < onset || t >= RECOVERY {
            0.0
        } else if t < degr {
            // A trickle that grows towards full degradation.
            0.04 + 0.2 * (t - onset) as f64 / (degr - onset) as f64
        } else {
            0.35 + 0.45 * self.load(t)
        }
    }

    /// Order `idx` (0-based); a pure function of the model's parameters.
    pub fn order(&self, idx: u64) -> Order {
        let mut r =
            Pcg64Mcg::seed_from_u64(mix(self.seed.wrapping_mul(0x1000_0000_01B3) ^ mix(idx)));
        // Booking time: inverse CDF of the traffic curve; strictly ordered by index.
        let u = (idx as f64 + r.random::<f64>()) / self.n as f64 * self.cumulative[1440];
        let m = self.cumulative.partition_point(|&c| c <= u).clamp(1, 1440) - 1;
        let frac = ((u - self.cumulative[m]) / self.weights[m]).clamp(0.0, 0.999_999);
        let created = DAY_START + m as i64 * 60_000 + (frac * 60_000.0) as i64;

        let line = match r.random_range(0..100) {
            0..40 => Line::Gb,
            40..75 => Line::Bb,
            _ => Line::Sb,
        };
        let method = match (line, r.random_range(0..100)) {
            (Line::Gb, 0..12) | (_, 0..3) => Method::Ecv,
            (_, 0..55) => Method::Card,
            (_, 55..90) => Method::Ewallet,
            _ => Method::Va,
        };
        let corporate = (method == Method::Ecv).then(|| r.random_range(1..400u16));
        let (base, overtime) = match line {
            Line::Gb => (
                round_to(r.random_range(150_000.0..1_200_000.0), 1000),
                if r.random_bool(0.15) {
                    round_to(r.random_range(50_000.0..300_000.0), 1000)
                } else {
                    0
                },
            ),
            _ => (
                round_to(r.random_range(15_000.0..250_000.0), 500),
                if r.random_bool(0.10) {
                    round_to(r.random_range(5_000.0..50_000.0), 500)
                } else {
                    0
                },
            ),
        };
        let extra = if r.random_bool(0.2) {
            round_to(r.random_range(2_000.0..30_000.0), 500)
        } else {
            0
        };
        let tip = if r.random_bool(0.12) {
            round_to(r.random_range(2_000.0..20_000.0), 1000)
        } else {
            0
        };
        let split_posting = line == Line::Gb || method == Method::Ecv || r.random_bool(0.5);
        let pusher = if r.random_bool(0.85) {
            Pusher::Upg
        } else {
            Pusher::Mrg
        };

        let (trip_start, trip_end) = match line {
            Line::Gb => {
                let start = created + r.random_range(5 * 60_000..45 * 60_000);
                (start, start + r.random_range(60 * 60_000..4 * 3_600_000))
            }
            _ => {
                let start = created + r.random_range(2 * 60_000..15 * 60_000);
                (start, start + r.random_range(8 * 60_000..70 * 60_000))
            }
        };
        let mut fate = match (line, r.random_range(0..1000)) {
            (Line::Gb, 0..12) => Fate::Scheduled,
            (Line::Gb, 12..42) => Fate::CancelledRefunded,
            (Line::Gb, 42..49) => Fate::Voided,
            (Line::Bb | Line::Sb, 0..40) => Fate::CancelledUncharged,
            (_, 960..970) => Fate::PaymentFailed,
            _ => Fate::Complete,
        };
        let (trip_start, trip_end) = if fate == Fate::Scheduled {
            // A February trip: between Feb 1 and Feb 28.
            let start = FEBRUARY + r.random_range(0..27 * 86_400_000i64);
            (start, start + r.random_range(60 * 60_000..6 * 3_600_000))
        } else {
            (trip_start, trip_end)
        };
        let charge_at = match line {
            Line::Gb => created + 150 + r.random_range(0..250),
            _ => trip_end + r.random_range(500..3_000),
        };
        // UPG latency grows with load; the timeout scenario pushes it past MRG's 5 s.
        let charge_load = self.load(charge_at);
        let mut charge_latency =
            (r.random_range(120.0..700.0) * (1.0 + 2.5 * charge_load * charge_load)) as i64;
        let declined_first = fate == Fate::Complete && r.random_bool(0.02);
        // A declined first attempt comes 30 s before the one that succeeds.
        let charge_at = if declined_first {
            charge_at + 30_000
        } else {
            charge_at
        };
        let cancelled_at = match fate {
            Fate::CancelledRefunded | Fate::Voided | Fate::CancelledUncharged => {
                created + r.random_range(3 * 60_000..40 * 60_000)
            }
            Fate::PaymentFailed => charge_at + 2_000,
            _ => 0,
        };

        // The incident.
        let mut fault = Fault::None;
        let mut background_fault = false;
        let decision = r.random::<f64>();
        let kind = r.random::<f64>();
        if fate == Fate::Complete {
            let candidate = self.pick_fault(kind, tip > 0);
            // Retries and breaker rejections happen when the charge is made;
            // the other faults when the order completes.
            let at = match (candidate, line) {
                (Fault::DuplicateCharge | Fault::BreakerRejected, _) | (_, Line::Bb | Line::Sb) => {
                    charge_at
                }
                (_, Line::Gb) => trip_end,
            };
            if decision < self.severity(at) * 0.16 {
                fault = candidate;
            } else if decision > 1.0 - 1.0 / 25_000.0 {
                fault = Fault::HoMissing;
                background_fault = true;
            }
            let slow = self.scenario == Scenario::TimeoutMismatch && self.severity(charge_at) > 0.0;
            if slow || fault == Fault::DuplicateCharge {
                // Past MRG's 5 s client timeout.
                charge_latency = charge_latency.max(r.random_range(5_200..9_500));
            }
        }
        if fault == Fault::BreakerRejected {
            fate = Fate::Complete; // status decided by the fault: CANCELLED, see `status`
        }
        let completion_lag = r.random_range(200..2_000);
        let o = Order {
            idx,
            created,
            line,
            method,
            corporate,
            base,
            overtime,
            extra,
            tip,
            split_posting,
            pusher,
            trip_start,
            trip_end,
            fate,
            fault,
            background_fault,
            charge_at,
            charge_latency,
            declined_first,
            posted_at: 0,
            cancelled_at,
            trace: r.random::<u64>(),
        };
        let posted_at = match fate {
            Fate::Complete | Fate::Scheduled => o.completion() + completion_lag,
            Fate::CancelledRefunded => cancelled_at + completion_lag,
            _ => 0,
        };
        Order { posted_at, ..o }
    }

    fn pick_fault(&self, kind: f64, has_tip: bool) -> Fault {
        let mix: &[(f64, Fault)] = match self.scenario {
            Scenario::PoolExhaustion => &[
                (0.55, Fault::Stuck),
                (0.35, Fault::HoMissing),
                (0.10, Fault::DuplicateCharge),
            ],
            Scenario::CallbackFailure => &[
                (0.85, Fault::Stuck),
                (0.05, Fault::HoMissing),
                (0.10, Fault::DuplicateCharge),
            ],
            Scenario::CircuitBreaker => &[
                (0.65, Fault::HoMissing),
                (0.2, Fault::Stuck),
                (0.15, Fault::BreakerRejected),
            ],
            Scenario::TimeoutMismatch => &[
                (0.7, Fault::DuplicateCharge),
                (0.15, Fault::Stuck),
                (0.15, Fault::HoMissing),
            ],
            Scenario::RaceCondition => &[
                (0.4, Fault::DuplicatePosting),
                (0.25, Fault::DuplicateCharge),
                (0.2, Fault::Stuck),
                (0.15, Fault::TipLost),
            ],
        };
        let mut acc = 0.0;
        for &(w, f) in mix {
            acc += w;
            if kind < acc {
                return if f == Fault::TipLost && !has_tip {
                    Fault::DuplicatePosting
                } else {
                    f
                };
            }
        }
        mix[mix.len() - 1].1
    }
}

/// Final status of an order in the orders export.
pub fn status(o: &Order) -> &'static str {
    if o.fault == Fault::BreakerRejected {
        return "CANCELLED";
    }
    match o.fate {
        Fate::Complete if o.fault == Fault::Stuck => "ACTIVE",
        Fate::Complete => "COMPLETE",
        Fate::Scheduled if o.trip_end < AS_OF => "COMPLETE",
        Fate::Scheduled => "SCHEDULED",
        Fate::CancelledUncharged | Fate::CancelledRefunded | Fate::Voided | Fate::PaymentFailed => {
            "CANCELLED"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_are_deterministic_and_time_ordered() {
        let m = Model::new(7, Scenario::PoolExhaustion, 20_000);
        let again = Model::new(7, Scenario::PoolExhaustion, 20_000);
        let mut last = DAY_START;
        for i in 0..20_000 {
            let o = m.order(i);
            assert_eq!(o.created, again.order(i).created);
            assert_eq!(o.total(), again.order(i).total());
            assert!(o.created >= last, "order {i} out of time order");
            assert!(o.created < DAY_END);
            last = o.created;
        }
        let other = Model::new(8, Scenario::PoolExhaustion, 20_000);
        assert_ne!(m.order(5).total(), other.order(5).total());
    }

    #[test]
    fn the_spike_holds_most_of_the_faults() {
        let m = Model::new(1, Scenario::CallbackFailure, 50_000);
        let faulted: Vec<Order> = (0..50_000)
            .map(|i| m.order(i))
            .filter(|o| o.fault != Fault::None && !o.background_fault)
            .collect();
        assert!(faulted.len() > 200, "only {} faults", faulted.len());
        assert!(faulted
            .iter()
            .all(|o| o.completion() >= Scenario::CallbackFailure.onset() - 60_000));
        let stuck = faulted.iter().filter(|o| o.fault == Fault::Stuck).count();
        assert!(stuck * 2 > faulted.len());
    }
}
