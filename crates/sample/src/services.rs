//! What MRG, UPG, the Order Orchestrator and PostgreSQL log about each order,
//! in each service's own format and with the real error strings of Go
//! services and PostgreSQL.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;

use std::borrow::Cow;

use crate::dialect::{Classic, Dialect, Level, Rec};
use crate::fmt::{int, Clock};
use crate::ledger::{payments, PayType};
use crate::model::{payment_id, Fate, Fault, Line, Model, Order, Pusher};
use crate::scenario::{Millis, Scenario, DAY_END, DAY_START, WIB_OFFSET_MS};
use crate::sink::LogSink;
use crate::truth::fault_time;
use crate::wording::Words;

/// A service whose log lines derive from orders.
pub trait ServiceLog: Sync {
    /// The events this service logs about `o`: (time, kind).
    fn events(&self, o: &Order, out: &mut Vec<(Millis, u8)>);
    /// Formats one event; `o` is `None` for events not tied to an order.
    fn format(&self, o: Option<&Order>, kind: u8, t: Millis, clock: &mut Clock, buf: &mut Vec<u8>);
    /// Events not tied to any order (checkpoints ...).
    fn periodic(&self) -> Vec<(Millis, u8)> {
        Vec::new()
    }
    /// Whether this event is an error caused by the injected root cause.
    fn incident_error(&self, o: &Order, kind: u8) -> bool;
    /// The error class sidik's shipped rules give this line, if any.
    fn class_of(&self, o: &Order, kind: u8) -> Option<&'static str>;
}

/// Class counts per minute (epoch minute → class → count).
pub type ClassCounts = std::collections::BTreeMap<(i64, &'static str), u64>;

/// What writing a log found out.
#[derive(Debug, Default)]
pub struct LogStats {
    /// First error caused by the injected root cause.
    pub first_error: Option<Millis>,
    /// Classified records per minute.
    pub classes: ClassCounts,
}

/// The class the shipped rules give to an HO push failure.
fn ho_class(sc: Scenario, o: &Order) -> &'static str {
    if o.background_fault {
        return "ho_push_failed";
    }
    match sc {
        Scenario::PoolExhaustion => "db_pool_exhaustion",
        Scenario::CallbackFailure => "ho_push_failed",
        Scenario::CircuitBreaker => "circuit_breaker_open",
        Scenario::TimeoutMismatch | Scenario::RaceCondition => "timeout",
    }
}

/// Index used for events that belong to no order.
const NO_ORDER: u64 = (1 << 24) - 1;

/// Packs an event into one `u64` that sorts by (time, order, kind): 27 bits of
/// milliseconds into the day, 24 bits of order index, 7 bits of kind. Eight
/// bytes per pending event keep the heap small at 10 million orders.
fn pack(t: Millis, idx: u64, kind: u8) -> u64 {
    let rel = (t - DAY_START) as u64;
    debug_assert!(rel < 1 << 27 && idx <= NO_ORDER && kind < 128);
    (rel << 31) | (idx << 7) | u64::from(kind)
}

fn unpack(key: u64) -> (Millis, u64, u8) {
    (
        DAY_START + (key >> 31) as Millis,
        (key >> 7) & NO_ORDER,
        (key & 0x7f) as u8,
    )
}

/// Writes one service's log in time order: events are held in a heap until no
/// later order can produce an earlier one (orders are booked in index order).
///
/// Returns the time of the first error caused by the injected root cause.
pub fn write_log(model: &Model, svc: &dyn ServiceLog, sink: &mut LogSink) -> io::Result<LogStats> {
    assert!(model.len() < NO_ORDER, "at most {} orders", NO_ORDER - 1);
    let mut heap: BinaryHeap<Reverse<u64>> = BinaryHeap::new();
    for (t, kind) in svc.periodic() {
        heap.push(Reverse(pack(t, NO_ORDER, kind)));
    }
    let mut clock = Clock::new();
    let mut buf = Vec::with_capacity(512);
    let mut events = Vec::with_capacity(16);
    let mut cache: Option<Order> = None;
    let mut first_error: Option<Millis> = None;
    let mut classes = ClassCounts::new();
    let mut emit = |heap: &mut BinaryHeap<Reverse<u64>>,
                    until: Millis,
                    cache: &mut Option<Order>,
                    sink: &mut LogSink|
     -> io::Result<()> {
        while let Some(&Reverse(key)) = heap.peek() {
            let (t, idx, kind) = unpack(key);
            if t > until {
                break;
            }
            heap.pop();
            buf.clear();
            let mut class = None;
            if idx == NO_ORDER {
                svc.format(None, kind, t, &mut clock, &mut buf);
            } else {
                if cache.map(|o| o.idx) != Some(idx) {
                    *cache = Some(model.order(idx));
                }
                let o = cache.as_ref().expect("just computed");
                if first_error.is_none() && svc.incident_error(o, kind) {
                    first_error = Some(t);
                }
                class = svc.class_of(o, kind);
                svc.format(Some(o), kind, t, &mut clock, &mut buf);
            }
            let damaged = sink.write(t, &mut buf)?;
            if let (Some(c), false) = (class, damaged) {
                *classes.entry((t.div_euclid(60_000), c)).or_default() += 1;
            }
        }
        Ok(())
    };
    for idx in 0..model.len() {
        let o = model.order(idx);
        emit(&mut heap, o.created, &mut cache, sink)?;
        events.clear();
        svc.events(&o, &mut events);
        for &(t, kind) in &events {
            debug_assert!(
                t >= o.created,
                "event {kind} of order {idx} before its booking"
            );
            if (DAY_START..DAY_END).contains(&t) {
                heap.push(Reverse(pack(t, idx, kind)));
            }
        }
    }
    emit(&mut heap, Millis::MAX, &mut cache, sink)?;
    Ok(LogStats {
        first_error,
        classes,
    })
}

fn trace_hex(o: &Order) -> String {
    format!(
        "{:016x}{:016x}",
        o.trace,
        o.trace.rotate_left(17) ^ 0x5bd1_e995
    )
}

/// The error a failed HO push logs, by scenario.
fn ho_error(sc: Scenario, w: &Words, o: &Order) -> Cow<'static, str> {
    if o.background_fault {
        return Cow::Borrowed("ho: unexpected status 504 Gateway Timeout");
    }
    match sc {
        Scenario::PoolExhaustion => Cow::Borrowed(w.too_many_clients),
        Scenario::CallbackFailure => Cow::Borrowed("context canceled"),
        Scenario::CircuitBreaker => Cow::Owned(format!("ho-gateway: {}", w.breaker)),
        Scenario::TimeoutMismatch | Scenario::RaceCondition => Cow::Borrowed(w.client_timeout),
    }
}

/// One service's scenario, wordings and log dialect.
pub struct Service {
    /// The injected root cause.
    pub sc: Scenario,
    /// How errors are worded.
    pub words: Words,
    /// How lines are written.
    pub dialect: Dialect,
}

// ---------------------------------------------------------------- MRG (logrus text, WIB without offset)

/// MRG: by default logrus text, local WIB time without an offset.
pub struct Mrg(pub Service);

const M_RECEIVED: u8 = 1;
const M_CHARGE_OK: u8 = 2;
const M_DECLINED: u8 = 3;
const M_TIMEOUT: u8 = 4;
const M_RETRY_OK: u8 = 5;
const M_CONFIRMED: u8 = 6;
const M_BREAKER: u8 = 7;
const M_CANCELLED: u8 = 8;
const M_HO_OK: u8 = 9;
const M_HO_FAIL: u8 = 10;
const M_TIP_CONFLICT: u8 = 11;
const M_SLOW: u8 = 12;
const M_FAILED_FINAL: u8 = 13;

impl ServiceLog for Mrg {
    fn class_of(&self, o: &Order, kind: u8) -> Option<&'static str> {
        match kind {
            M_TIMEOUT => Some("timeout"),
            M_BREAKER => Some("circuit_breaker_open"),
            M_HO_FAIL => Some(ho_class(self.0.sc, o)),
            _ => None,
        }
    }

    fn incident_error(&self, o: &Order, kind: u8) -> bool {
        match kind {
            M_TIMEOUT | M_BREAKER | M_TIP_CONFLICT => true,
            M_HO_FAIL => !o.background_fault,
            _ => false,
        }
    }

    fn events(&self, o: &Order, out: &mut Vec<(Millis, u8)>) {
        out.push((o.created, M_RECEIVED));
        if o.fault == Fault::BreakerRejected {
            out.push((o.charge_at + 3, M_BREAKER));
            out.push((o.charge_at + 60, M_CANCELLED));
            return;
        }
        match o.fate {
            Fate::CancelledUncharged => {
                out.push((o.cancelled_at, M_CANCELLED));
                return;
            }
            Fate::PaymentFailed => {
                out.push((o.charge_at + o.charge_latency + 5, M_DECLINED));
                out.push((o.charge_at + 40_005, M_FAILED_FINAL));
                return;
            }
            _ => {}
        }
        if o.declined_first {
            out.push((o.charge_at - 29_995, M_DECLINED));
        }
        if o.charge_latency > 5_000 {
            out.push((o.charge_at + 5_000, M_TIMEOUT));
            if o.fault == Fault::DuplicateCharge {
                out.push((o.charge_at + 5_000 + o.charge_latency + 5, M_RETRY_OK));
            } else {
                out.push((o.charge_at + o.charge_latency + 800, M_CONFIRMED));
            }
        } else {
            if o.charge_latency > 2_000 {
                out.push((o.charge_at + o.charge_latency + 2, M_SLOW));
            }
            out.push((o.charge_at + o.charge_latency + 5, M_CHARGE_OK));
        }
        if matches!(o.fate, Fate::CancelledRefunded | Fate::Voided) {
            out.push((o.cancelled_at, M_CANCELLED));
        }
        if o.fault == Fault::TipLost {
            out.push((o.completion() + 100, M_TIP_CONFLICT));
        }
        if o.pusher == Pusher::Mrg && o.fate == Fate::Complete {
            match o.fault {
                Fault::HoMissing => out.push((o.completion() + 300, M_HO_FAIL)),
                Fault::Stuck => {}
                _ => out.push((o.posted_at - 300, M_HO_OK)),
            }
        }
    }

    fn format(&self, o: Option<&Order>, kind: u8, t: Millis, clock: &mut Clock, buf: &mut Vec<u8>) {
        let o = o.expect("MRG logs only order events");
        let w = &self.0.words;
        let (level, caller, msg) = match kind {
            M_RECEIVED => (Level::Info, "order/handler.go:61", "order received"),
            M_CHARGE_OK | M_RETRY_OK => (Level::Info, "payment/charge.go:118", "charge succeeded"),
            M_DECLINED => (Level::Warn, "payment/charge.go:104", "charge declined"),
            M_TIMEOUT | M_BREAKER => (
                Level::Error,
                "payment/charge.go:97",
                "charge request failed",
            ),
            M_CONFIRMED => (
                Level::Info,
                "payment/status.go:44",
                "charge confirmed by status check",
            ),
            M_CANCELLED => (Level::Info, "order/cancel.go:38", "order cancelled"),
            M_HO_OK => (Level::Info, "ho/push.go:52", "pushed to HO"),
            M_HO_FAIL => (Level::Error, "ho/push.go:66", "failed to push HO"),
            M_TIP_CONFLICT => (Level::Warn, "order/tip.go:29", "tip update lost"),
            M_SLOW => (
                Level::Warn,
                "payment/charge.go:122",
                "slow upstream response",
            ),
            M_FAILED_FINAL => (
                Level::Error,
                "payment/charge.go:131",
                "payment failed, cancelling order",
            ),
            _ => unreachable!("unknown MRG event {kind}"),
        };
        let mut r = Rec::new(level, caller, msg);
        r.s("order_id", o.order_id());
        let us = o.charge_latency * 1000 + (o.trace % 1000) as i64;
        match kind {
            M_RECEIVED => {
                r.s("service_line", o.line.code())
                    .s("payment_method", o.method.code())
                    .i("amount", o.total());
            }
            M_CHARGE_OK | M_CONFIRMED => {
                let attempt = 1 + u32::from(o.declined_first);
                r.s("payment_id", payment_id(o.idx, attempt))
                    .lat(us, Classic::Ms);
            }
            M_RETRY_OK => {
                let attempt = 2 + u32::from(o.declined_first);
                r.s("payment_id", payment_id(o.idx, attempt))
                    .i("attempt", 2)
                    .lat(us, Classic::Ms);
            }
            M_DECLINED => {
                r.s("reason", "DECLINED");
            }
            M_TIMEOUT => {
                let e = if w.grpc {
                    w.client_timeout.to_string()
                } else {
                    format!(
                        "Post \"http://upg.payment.svc.cluster.local:8080/v2/charges\": {}",
                        w.client_timeout
                    )
                };
                r.s("error", e).lat(5_000_000, Classic::Secs);
            }
            M_BREAKER => {
                r.s("error", format!("upg: {}", w.breaker));
            }
            M_HO_OK => {
                r.s("is_push_ho", "false");
            }
            M_HO_FAIL => {
                r.s("error", ho_error(self.0.sc, w, o))
                    .s("is_push_ho", "false");
            }
            M_TIP_CONFLICT => {
                r.s("error", "order version conflict: expected 3, got 4")
                    .i("tip", o.tip);
            }
            M_SLOW => {
                r.s("upstream", "upg").lat(us, Classic::Secs3);
            }
            _ => {}
        }
        r.s("trace_id", trace_hex(o));
        self.0
            .dialect
            .render(&r, t, o.trace ^ kind as u64, clock, buf);
    }
}

// ---------------------------------------------------------------- UPG (zap JSON, epoch-float ts)

/// UPG: by default zap production JSON with an epoch-float `ts`.
pub struct Upg(pub Service);

const U_PAYMENT: u8 = 20; // + row index
const U_CALLBACK_OK: u8 = 40;
const U_CALLBACK_FAIL: u8 = 41;
const U_HO_OK: u8 = 42;
const U_HO_FAIL: u8 = 43;
const U_HO_RETRY: u8 = 44;
const U_CHARGE_CALLBACK: u8 = 45;

impl ServiceLog for Upg {
    fn class_of(&self, o: &Order, kind: u8) -> Option<&'static str> {
        match kind {
            // The callback's own words outrank the transport error inside
            // it; an open breaker is a cause, and outranks them.
            U_CALLBACK_FAIL => Some(match self.0.sc {
                Scenario::CircuitBreaker => "circuit_breaker_open",
                _ => "callback_failed",
            }),
            U_HO_FAIL => Some(ho_class(self.0.sc, o)),
            U_HO_RETRY => Some("timeout"),
            _ => None,
        }
    }

    fn incident_error(&self, o: &Order, kind: u8) -> bool {
        match kind {
            U_CALLBACK_FAIL | U_HO_RETRY => true,
            U_HO_FAIL => !o.background_fault,
            _ => false,
        }
    }

    fn events(&self, o: &Order, out: &mut Vec<(Millis, u8)>) {
        let pays = payments(o);
        for (i, p) in pays.iter().enumerate() {
            out.push((p.at, U_PAYMENT + i as u8));
        }
        let charged = pays.iter().any(|p| p.kind == PayType::Charge && p.success);
        if !charged {
            return;
        }
        if o.line == Line::Gb {
            out.push((o.charge_at + o.charge_latency + 30, U_CHARGE_CALLBACK));
        }
        if o.fate != Fate::Complete {
            return;
        }
        let callback_at = o.completion() - 80;
        let callback_broken = o.fault == Fault::Stuck
            && matches!(
                self.0.sc,
                Scenario::CallbackFailure | Scenario::CircuitBreaker
            );
        out.push((
            callback_at,
            if callback_broken {
                U_CALLBACK_FAIL
            } else {
                U_CALLBACK_OK
            },
        ));
        if o.pusher == Pusher::Upg {
            match o.fault {
                Fault::HoMissing => out.push((o.completion() + 400, U_HO_FAIL)),
                Fault::Stuck => {}
                Fault::DuplicatePosting => {
                    out.push((o.posted_at - 200, U_HO_OK));
                    out.push((o.posted_at + 2_900, U_HO_RETRY));
                }
                _ => out.push((o.posted_at - 200, U_HO_OK)),
            }
        }
    }

    fn format(&self, o: Option<&Order>, kind: u8, t: Millis, clock: &mut Clock, buf: &mut Vec<u8>) {
        let o = o.expect("UPG logs only order events");
        let w = &self.0.words;
        let pays = if (U_PAYMENT..U_CALLBACK_OK).contains(&kind) {
            payments(o)
        } else {
            Vec::new()
        };
        let row = pays.get(kind.wrapping_sub(U_PAYMENT) as usize);
        let (level, caller, msg) = match (kind, row) {
            (_, Some(p)) => match (p.kind, p.success) {
                (PayType::Charge, true) => (Level::Info, "charge/handler.go:88", "charge settled"),
                (PayType::Charge, false) => {
                    (Level::Warn, "charge/handler.go:95", "charge declined")
                }
                (PayType::Refund, _) => (Level::Info, "refund/handler.go:54", "refund settled"),
                (PayType::Void, _) => (Level::Info, "void/handler.go:41", "void settled"),
            },
            (U_CALLBACK_OK | U_CHARGE_CALLBACK, _) => (
                Level::Info,
                "callback/notifier.go:112",
                "callback delivered",
            ),
            (U_CALLBACK_FAIL, _) => (Level::Error, "callback/notifier.go:131", w.callback_msg),
            (U_HO_OK, _) => (Level::Info, "ho/pusher.go:77", "ho push ok"),
            (U_HO_FAIL, _) => (Level::Error, "ho/pusher.go:91", "ho push failed"),
            (U_HO_RETRY, _) => (
                Level::Warn,
                "ho/pusher.go:84",
                "ho push retried after timeout",
            ),
            _ => unreachable!("unknown UPG event {kind}"),
        };
        let mut r = Rec::new(level, caller, msg);
        r.s("order_id", o.order_id());
        match kind {
            _ if row.is_some() => {
                let p = row.expect("checked");
                r.s("payment_id", p.id.clone())
                    .s("type", p.kind.code())
                    .i("amount", p.amount)
                    .s("method", o.method.code());
                if p.kind == PayType::Charge {
                    r.lat(
                        o.charge_latency * 1000 + (o.trace >> 10) as i64 % 1000,
                        Classic::Ms,
                    );
                }
                if !p.success {
                    r.s("reason", p.failure_reason);
                }
            }
            U_CALLBACK_OK | U_CHARGE_CALLBACK => {
                r.i("status", 200).s(
                    "event",
                    if kind == U_CHARGE_CALLBACK {
                        "payment.settled"
                    } else {
                        "payment.completed"
                    },
                );
            }
            U_CALLBACK_FAIL => {
                r.s("error", callback_error(self.0.sc, w, o))
                    .i("attempts", 3);
            }
            U_HO_OK => {
                r.i(
                    "journal_lines",
                    if o.split_posting {
                        1 + [o.overtime, o.extra, o.tip]
                            .iter()
                            .filter(|&&a| a > 0)
                            .count() as i64
                    } else {
                        1
                    },
                )
                .s("is_push_ho", "true");
            }
            U_HO_FAIL => {
                r.s("error", ho_error(self.0.sc, w, o));
            }
            U_HO_RETRY => {
                r.s("error", w.client_timeout);
            }
            _ => {}
        }
        r.s("trace_id", trace_hex(o));
        self.0
            .dialect
            .render(&r, t, o.trace ^ kind as u64, clock, buf);
    }
}

/// The error of a failed UPG callback.
fn callback_error(sc: Scenario, w: &Words, o: &Order) -> Cow<'static, str> {
    if sc == Scenario::CircuitBreaker {
        Cow::Owned(format!("callback to order-orchestrator: {}", w.breaker))
    } else {
        Cow::Borrowed(w.callback_errors[usize::from(!o.trace.is_multiple_of(3))])
    }
}

// ---------------------------------------------------------------- Order Orchestrator (zerolog JSON)

/// Order Orchestrator: by default zerolog JSON with an RFC 3339 `time` and `message`.
pub struct Orchestrator(pub Service);

const O_CREATED: u8 = 60;
const O_ACTIVE: u8 = 61;
const O_COMPLETE: u8 = 62;
const O_CANCELLED: u8 = 63;
const O_STATUS_FAIL: u8 = 64;
const O_DUP_CALLBACK: u8 = 65;
const O_SCHEDULED: u8 = 66;

impl ServiceLog for Orchestrator {
    fn class_of(&self, _o: &Order, kind: u8) -> Option<&'static str> {
        (kind == O_STATUS_FAIL).then_some(match self.0.sc {
            Scenario::PoolExhaustion => "db_pool_exhaustion",
            Scenario::RaceCondition => "deadlock",
            _ => "timeout",
        })
    }

    fn incident_error(&self, _o: &Order, kind: u8) -> bool {
        matches!(kind, O_STATUS_FAIL | O_DUP_CALLBACK)
    }

    fn events(&self, o: &Order, out: &mut Vec<(Millis, u8)>) {
        out.push((o.created + 25, O_CREATED));
        if o.fault == Fault::BreakerRejected {
            out.push((o.charge_at + 60, O_CANCELLED));
            return;
        }
        match o.fate {
            Fate::Scheduled => out.push((o.charge_at + o.charge_latency + 60, O_SCHEDULED)),
            Fate::CancelledUncharged | Fate::CancelledRefunded | Fate::Voided => {
                if o.line == Line::Gb {
                    out.push((o.charge_at + o.charge_latency + 60, O_ACTIVE));
                }
                out.push((o.cancelled_at + 20, O_CANCELLED));
            }
            Fate::PaymentFailed => out.push((o.charge_at + 40_030, O_CANCELLED)),
            Fate::Complete => {
                let active = match o.line {
                    Line::Gb => o.charge_at + o.charge_latency + 60,
                    _ => o.trip_start,
                };
                out.push((active, O_ACTIVE));
                match o.fault {
                    Fault::Stuck => {
                        if !matches!(
                            self.0.sc,
                            Scenario::CallbackFailure | Scenario::CircuitBreaker
                        ) {
                            out.push((o.completion() + 40, O_STATUS_FAIL));
                        }
                    }
                    Fault::DuplicatePosting | Fault::DuplicateCharge
                        if self.0.sc == Scenario::RaceCondition =>
                    {
                        out.push((o.completion() + 40, O_COMPLETE));
                        out.push((o.completion() + 65, O_DUP_CALLBACK));
                    }
                    _ => out.push((o.completion() + 40, O_COMPLETE)),
                }
            }
        }
    }

    fn format(&self, o: Option<&Order>, kind: u8, t: Millis, clock: &mut Clock, buf: &mut Vec<u8>) {
        let o = o.expect("the orchestrator logs only order events");
        let w = &self.0.words;
        let changed = (Level::Info, "order/state.go:73", "order status changed");
        let ((level, caller, msg), from, to) = match kind {
            O_CREATED => (changed, "NONE", "CREATED"),
            O_ACTIVE => (changed, "CREATED", "ACTIVE"),
            O_SCHEDULED => (changed, "CREATED", "SCHEDULED"),
            O_COMPLETE => (changed, "ACTIVE", "COMPLETE"),
            O_CANCELLED => (
                changed,
                if o.line == Line::Gb
                    && o.fate != Fate::PaymentFailed
                    && o.fault != Fault::BreakerRejected
                {
                    "ACTIVE"
                } else {
                    "CREATED"
                },
                "CANCELLED",
            ),
            O_STATUS_FAIL => (
                (
                    Level::Error,
                    "order/state.go:88",
                    "failed to update order status",
                ),
                "ACTIVE",
                "COMPLETE",
            ),
            O_DUP_CALLBACK => (
                (Level::Warn, "payment/callback.go:57", w.twice),
                "COMPLETE",
                "COMPLETE",
            ),
            _ => unreachable!("unknown orchestrator event {kind}"),
        };
        let mut r = Rec::new(level, caller, msg);
        r.s("service", "order-orchestrator")
            .s("order_id", o.order_id())
            .s("from", from)
            .s("to", to);
        if kind == O_STATUS_FAIL {
            r.s(
                "error",
                match self.0.sc {
                    Scenario::PoolExhaustion => w.too_many_clients,
                    Scenario::RaceCondition => w.deadlock,
                    _ => w.status_timeout,
                },
            );
        }
        r.s("trace_id", trace_hex(o));
        self.0
            .dialect
            .render(&r, t, o.trace ^ kind as u64, clock, buf);
    }
}

// ---------------------------------------------------------------- PostgreSQL (stderr, '%m [%p] %q%u@%d ')

/// The `log_line_prefix` of the generated PostgreSQL log.
pub const PG_LINE_PREFIX: &str = "%m [%p] %q%u@%d ";

/// A `log_line_prefix` and `log_timezone` the PostgreSQL log is written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgPrefix {
    /// Debian's `%m [%p] %q%u@%d `, log_timezone Asia/Jakarta (the default sample).
    Debian,
    /// PostgreSQL's default `%m [%p] `, log_timezone UTC.
    DefaultUtc,
    /// pgBadger's advice `%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h `, Asia/Jakarta.
    PgBadger,
    /// No prefix: `log_destination = 'csvlog'`, Asia/Jakarta.
    Csv,
}

impl PgPrefix {
    /// Every prefix a varied incident draws from.
    pub const ALL: [PgPrefix; 4] = [
        PgPrefix::Debian,
        PgPrefix::DefaultUtc,
        PgPrefix::PgBadger,
        PgPrefix::Csv,
    ];

    /// The `log_line_prefix` setting.
    pub fn setting(self) -> &'static str {
        match self {
            PgPrefix::Debian => PG_LINE_PREFIX,
            PgPrefix::DefaultUtc => "%m [%p] ",
            PgPrefix::PgBadger => "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
            PgPrefix::Csv => "(csvlog)",
        }
    }
}

/// PostgreSQL server log (stderr format) of the orders/payments database.
pub struct Postgres {
    /// The scenario.
    pub scenario: Scenario,
    /// Load relative to the peak, per minute of the day.
    pub load: Vec<f64>,
    /// The prefix of every line.
    pub prefix: PgPrefix,
    /// PostgreSQL's message when it runs out of slots.
    pub too_many: &'static str,
}

const P_TOO_MANY: u8 = 80;
const P_DEADLOCK: u8 = 81;
const P_STMT_TIMEOUT: u8 = 82;
const P_SLOW: u8 = 83;
const P_CHECKPOINT_START: u8 = 90;
const P_CHECKPOINT_DONE: u8 = 91;
const P_AUTOVACUUM: u8 = 92;

impl ServiceLog for Postgres {
    fn class_of(&self, _o: &Order, kind: u8) -> Option<&'static str> {
        match kind {
            P_TOO_MANY => Some("db_pool_exhaustion"),
            P_DEADLOCK => Some("deadlock"),
            P_STMT_TIMEOUT => Some("statement_timeout"),
            _ => None,
        }
    }

    fn incident_error(&self, _o: &Order, kind: u8) -> bool {
        matches!(kind, P_TOO_MANY | P_DEADLOCK | P_STMT_TIMEOUT)
    }

    fn events(&self, o: &Order, out: &mut Vec<(Millis, u8)>) {
        let injected = o.fault != Fault::None && !o.background_fault;
        if injected {
            let t = fault_time(o) - 5;
            match (self.scenario, o.fault) {
                (Scenario::PoolExhaustion, Fault::Stuck | Fault::HoMissing) => {
                    out.push((t, P_TOO_MANY))
                }
                (
                    Scenario::RaceCondition,
                    Fault::Stuck | Fault::DuplicatePosting | Fault::TipLost,
                ) => out.push((t, P_DEADLOCK)),
                (Scenario::TimeoutMismatch, Fault::Stuck) => out.push((t, P_STMT_TIMEOUT)),
                _ => {}
            }
        }
        // Slow statements grow with the cube of the load; the pool scenario holds
        // connections longer still.
        let m = ((o.completion() - DAY_START) / 60_000).clamp(0, 1439) as usize;
        let l = self.load[m];
        let factor = if self.scenario == Scenario::PoolExhaustion {
            0.08
        } else {
            0.02
        };
        if (o.trace % 10_000) as f64 / 10_000.0 < factor * l * l * l {
            out.push((o.completion() - 10, P_SLOW));
        }
    }

    fn periodic(&self) -> Vec<(Millis, u8)> {
        let mut v = Vec::new();
        let mut t = DAY_START + 4 * 60_000 + 17_311;
        while t < DAY_END {
            v.push((t, P_CHECKPOINT_START));
            v.push((t + 26_980 + (t % 7_000), P_CHECKPOINT_DONE));
            t += 300_000;
        }
        let mut t = DAY_START + 41 * 60_000 + 2_004;
        while t < DAY_END {
            v.push((t, P_AUTOVACUUM));
            t += 3_600_000;
        }
        v
    }

    fn format(&self, o: Option<&Order>, kind: u8, t: Millis, clock: &mut Clock, buf: &mut Vec<u8>) {
        let seed = o.map_or(t as u64, |o| o.trace);
        let pid = 20_000 + seed % 40_000;
        let order_id = o.map(|o| o.order_id()).unwrap_or_default();
        let update = format!(
            "UPDATE orders SET status = 'COMPLETE', updated_at = now() WHERE order_id = '{order_id}'"
        );
        let m = ((t - DAY_START) / 60_000).clamp(0, 1439) as usize;
        let session = |severity, sqlstate, message: String| PgEntry {
            pid,
            client: true,
            severity,
            sqlstate,
            message,
            detail: None,
            hint: None,
            context: None,
            statement: None,
        };
        let background = |pid, message: String| {
            PgEntry {
                client: false,
                ..session("LOG", "00000", message)
            }
            .with_pid(pid)
        };
        let e = match kind {
            P_TOO_MANY => session("FATAL", "53300", self.too_many.to_string()),
            P_DEADLOCK => {
                let other = 20_000 + (seed >> 20) % 40_000;
                let (x1, x2) = (
                    48_213_000 + seed % 90_000,
                    48_213_000 + (seed >> 8) % 90_000,
                );
                PgEntry {
                    detail: Some(format!(
                        "Process {pid} waits for ShareLock on transaction {x1}; blocked by process {other}.\n\
                         Process {other} waits for ShareLock on transaction {x2}; blocked by process {pid}.\n\
                         Process {pid}: {update}\n\
                         Process {other}: UPDATE payments SET callback_count = callback_count + 1 WHERE order_id = '{order_id}'"
                    )),
                    hint: Some("See server log for query details."),
                    context: Some("while updating tuple (1843,7) in relation \"orders\""),
                    statement: Some(update),
                    ..session("ERROR", "40P01", "deadlock detected".into())
                }
            }
            P_STMT_TIMEOUT => PgEntry {
                statement: Some(update),
                ..session(
                    "ERROR",
                    "57014",
                    "canceling statement due to statement timeout".into(),
                )
            },
            P_SLOW => {
                let ms = 1_000.0 + 4_000.0 * self.load[m] + (seed % 997) as f64;
                session(
                    "LOG",
                    "00000",
                    format!("duration: {ms:.3} ms  statement: {update}"),
                )
            }
            P_CHECKPOINT_START => background(812, "checkpoint starting: time".into()),
            P_CHECKPOINT_DONE => {
                let buffers = 300 + (6_000.0 * self.load[m]) as u64 + seed % 200;
                background(
                    812,
                    format!(
                        "checkpoint complete: wrote {buffers} buffers ({:.1}%); 0 WAL file(s) added, 0 removed, 1 recycled; write=26.912 s, sync=0.011 s, total=26.981 s; sync files=41, longest=0.004 s, average=0.001 s; distance={} kB, estimate={} kB",
                        buffers as f64 / 163.84,
                        buffers * 8,
                        buffers * 8 + 512
                    ),
                )
            }
            P_AUTOVACUUM => background(
                40_000 + seed % 9_000,
                "automatic vacuum of table \"orders.public.orders\": index scans: 1\npages: 0 removed, 18342 remain, 2211 scanned (12.05% of total)\ntuples: 10421 removed, 1203311 remain, 0 are dead but not yet removable".into(),
            ),
            _ => unreachable!("unknown PostgreSQL event {kind}"),
        };
        match self.prefix {
            PgPrefix::Csv => e.csv(t, seed, clock, buf),
            p => e.stderr(p, t, seed, clock, buf),
        }
    }
}

/// One PostgreSQL log entry, before it is written as stderr lines or a csvlog record.
struct PgEntry {
    pid: u64,
    /// A client session (user, database, application), not a background process.
    client: bool,
    severity: &'static str,
    sqlstate: &'static str,
    message: String,
    detail: Option<String>,
    hint: Option<&'static str>,
    context: Option<&'static str>,
    statement: Option<String>,
}

impl PgEntry {
    fn with_pid(self, pid: u64) -> PgEntry {
        PgEntry { pid, ..self }
    }

    /// The stderr lines: the prefix before each of the message, DETAIL,
    /// HINT, CONTEXT and STATEMENT, continuation lines indented by a tab.
    fn stderr(&self, style: PgPrefix, t: Millis, seed: u64, clock: &mut Clock, buf: &mut Vec<u8>) {
        let mut line_no = 1 + seed % 40;
        let mut prefix = |buf: &mut Vec<u8>, clock: &mut Clock| match style {
            PgPrefix::Debian | PgPrefix::Csv => {
                clock.write(buf, t + WIB_OFFSET_MS, b' ', true);
                buf.extend_from_slice(b" WIB [");
                int(buf, self.pid as i64);
                buf.extend_from_slice(b"] ");
                if self.client {
                    buf.extend_from_slice(b"orchestrator@orders ");
                }
            }
            PgPrefix::DefaultUtc => {
                clock.write(buf, t, b' ', true);
                buf.extend_from_slice(b" UTC [");
                int(buf, self.pid as i64);
                buf.extend_from_slice(b"] ");
            }
            PgPrefix::PgBadger => {
                clock.write(buf, t + WIB_OFFSET_MS, b' ', false);
                buf.extend_from_slice(b" WIB [");
                int(buf, self.pid as i64);
                let _ = std::io::Write::write_fmt(buf, format_args!("]: [{line_no}-1] "));
                line_no += 1;
                buf.extend_from_slice(if self.client {
                    b"user=orchestrator,db=orders,app=order-orchestrator,client=10.12.4.7 "
                        .as_slice()
                } else {
                    b"user=,db=,app=,client= ".as_slice()
                });
            }
        };
        let mut part =
            |buf: &mut Vec<u8>, clock: &mut Clock, key: &str, text: &str, first: bool| {
                if !first {
                    buf.push(b'\n');
                }
                prefix(buf, clock);
                buf.extend_from_slice(key.as_bytes());
                buf.extend_from_slice(b":  ");
                buf.extend_from_slice(text.replace('\n', "\n\t").as_bytes());
            };
        part(buf, clock, self.severity, &self.message, true);
        if let Some(d) = &self.detail {
            part(buf, clock, "DETAIL", d, false);
        }
        if let Some(h) = self.hint {
            part(buf, clock, "HINT", h, false);
        }
        if let Some(c) = self.context {
            part(buf, clock, "CONTEXT", c, false);
        }
        if let Some(q) = &self.statement {
            part(buf, clock, "STATEMENT", q, false);
        }
    }

    /// One csvlog record (PostgreSQL 14 and later: 26 columns), times in WIB.
    fn csv(&self, t: Millis, seed: u64, clock: &mut Clock, buf: &mut Vec<u8>) {
        let q = |buf: &mut Vec<u8>, v: &str| {
            if !v.is_empty() {
                buf.push(b'"');
                buf.extend_from_slice(v.replace('"', "\"\"").as_bytes());
                buf.push(b'"');
            }
        };
        clock.write(buf, t + WIB_OFFSET_MS, b' ', true);
        buf.extend_from_slice(b" WIB,");
        let start = t - 60_000 - (seed % 3_600_000) as Millis;
        let session = format!("{:x}.{:x}", start / 1000, self.pid);
        if self.client {
            buf.extend_from_slice(b"\"orchestrator\",\"orders\",");
        } else {
            buf.extend_from_slice(b",,");
        }
        int(buf, self.pid as i64);
        buf.push(b',');
        if self.client {
            let _ = std::io::Write::write_fmt(
                buf,
                format_args!("\"10.12.4.7:{}\"", 40_000 + seed % 20_000),
            );
        }
        let _ = std::io::Write::write_fmt(buf, format_args!(",{session},{},", 1 + seed % 40));
        q(
            buf,
            if !self.client {
                ""
            } else if self.sqlstate == "53300" {
                "startup"
            } else {
                "UPDATE"
            },
        );
        buf.push(b',');
        clock.write(buf, start + WIB_OFFSET_MS, b' ', false);
        buf.extend_from_slice(b" WIB,");
        if self.client {
            let _ = std::io::Write::write_fmt(
                buf,
                format_args!("{}/{}", 3 + seed % 60, seed % 100_000),
            );
        }
        let _ =
            std::io::Write::write_fmt(buf, format_args!(",0,{},{},", self.severity, self.sqlstate));
        q(buf, &self.message);
        buf.push(b',');
        q(buf, self.detail.as_deref().unwrap_or(""));
        buf.push(b',');
        q(buf, self.hint.unwrap_or(""));
        buf.extend_from_slice(b",,,");
        q(buf, self.context.unwrap_or(""));
        buf.push(b',');
        q(buf, self.statement.as_deref().unwrap_or(""));
        buf.extend_from_slice(b",,,");
        q(
            buf,
            if self.client {
                "order-orchestrator"
            } else {
                ""
            },
        );
        buf.push(b',');
        q(
            buf,
            match (self.client, self.pid) {
                (true, _) => "client backend",
                (false, 812) => "checkpointer",
                (false, _) => "autovacuum worker",
            },
        );
        buf.extend_from_slice(b",,0");
    }
}
