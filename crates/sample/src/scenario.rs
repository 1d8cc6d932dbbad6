//! The five injected root causes, one per hypothesis of the tracker, and the
//! incident's fixed timeline.

use std::fmt;
use std::str::FromStr;

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// WIB (Asia/Jakarta) is UTC+07:00 all year; the generated incident uses it directly.
pub const WIB_OFFSET_MS: Millis = 7 * 3_600_000;

/// 2025-01-12 00:00 WIB, the start of the incident day.
pub const DAY_START: Millis = 1_736_614_800_000;
/// 2025-01-13 00:00 WIB, the end of the incident day (exclusive).
pub const DAY_END: Millis = DAY_START + 86_400_000;
/// 2025-01-12 12:00 WIB: log files rotate here (the morning part is gzip-compressed).
pub const ROTATION: Millis = DAY_START + 12 * 3_600_000;
/// 2025-02-15 00:00 WIB: when the data exports were taken.
pub const AS_OF: Millis = 1_739_552_400_000;
/// 2025-02-01 00:00 WIB: start of the February ledger period.
pub const FEBRUARY: Millis = 1_738_342_800_000;

/// Start of the traffic spike: 19:00 WIB.
pub const SPIKE_START: Millis = DAY_START + 19 * 3_600_000;
/// When operators recovered the services: 20:45 WIB.
pub const RECOVERY: Millis = DAY_START + 20 * 3_600_000 + 45 * 60_000;

/// One injected root cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// The services' database pools, then PostgreSQL's slots, run out.
    PoolExhaustion,
    /// UPG's callbacks to the Order Orchestrator fail.
    CallbackFailure,
    /// A circuit breaker opens on the calls to HO and to the orchestrator.
    CircuitBreaker,
    /// MRG's HTTP client times out before UPG answers; retries charge twice.
    TimeoutMismatch,
    /// Concurrent callback and retry handlers race on the same order.
    RaceCondition,
}

impl Scenario {
    /// Every scenario, in the tracker's hypothesis order.
    pub const ALL: [Scenario; 5] = [
        Scenario::PoolExhaustion,
        Scenario::CallbackFailure,
        Scenario::CircuitBreaker,
        Scenario::TimeoutMismatch,
        Scenario::RaceCondition,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::PoolExhaustion => "pool-exhaustion",
            Scenario::CallbackFailure => "callback-failure",
            Scenario::CircuitBreaker => "circuit-breaker",
            Scenario::TimeoutMismatch => "timeout-mismatch",
            Scenario::RaceCondition => "race-condition",
        }
    }

    /// The tracker's hypothesis this scenario makes true, and its number there.
    pub fn hypothesis(self) -> (u8, &'static str) {
        match self {
            Scenario::PoolExhaustion => (1, "Database connection pool exhaustion"),
            Scenario::CallbackFailure => (2, "Payment callback failure"),
            Scenario::CircuitBreaker => (3, "Circuit breaker activation"),
            Scenario::TimeoutMismatch => (4, "Timeout configuration issue"),
            Scenario::RaceCondition => (5, "Race condition di payment flow"),
        }
    }

    /// Minutes after the spike start when the injected errors begin.
    pub fn onset_lag_min(self) -> i64 {
        match self {
            Scenario::PoolExhaustion => 6,
            Scenario::CallbackFailure => 9,
            Scenario::CircuitBreaker => 8,
            Scenario::TimeoutMismatch => 4,
            Scenario::RaceCondition => 11,
        }
    }

    /// Planned start of the injected errors.
    pub fn onset(self) -> Millis {
        SPIKE_START + self.onset_lag_min() * 60_000
    }

    /// Start of degradation: errors at full rate, stuck orders accumulating.
    pub fn degradation(self) -> Millis {
        self.onset() + 6 * 60_000
    }

    /// Symptoms that appear too, though they are not the cause.
    pub fn secondary(self) -> &'static [&'static str] {
        match self {
            Scenario::PoolExhaustion => &[
                "timeouts on callers waiting for a connection",
                "duplicate charges from retries",
            ],
            Scenario::CallbackFailure => &[
                "goroutines pile up in UPG callback retries",
                "duplicate charges from retries",
            ],
            Scenario::CircuitBreaker => &["orders cancelled while the UPG breaker is open"],
            Scenario::TimeoutMismatch => &[
                "orders stuck after timed-out status updates",
                "HO pushes that time out",
            ],
            Scenario::RaceCondition => &[
                "deadlocks in PostgreSQL",
                "duplicate charges",
                "tips lost on concurrent updates",
            ],
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scenario::ALL
            .into_iter()
            .find(|sc| sc.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Scenario::ALL.iter().map(|s| s.name()).collect();
                format!("unknown scenario \"{s}\"; use one of: {}", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_are_the_wib_calendar() {
        use chrono::{TimeZone, Utc};
        let wib = chrono::FixedOffset::east_opt(7 * 3600).unwrap();
        let at = |y, mo, d, h| {
            wib.with_ymd_and_hms(y, mo, d, h, 0, 0)
                .unwrap()
                .with_timezone(&Utc)
                .timestamp_millis()
        };
        assert_eq!(DAY_START, at(2025, 1, 12, 0));
        assert_eq!(DAY_END, at(2025, 1, 13, 0));
        assert_eq!(AS_OF, at(2025, 2, 15, 0));
        assert_eq!(FEBRUARY, at(2025, 2, 1, 0));
        assert_eq!(SPIKE_START, at(2025, 1, 12, 19));
        let _ = Utc.timestamp_millis_opt(0);
    }

    #[test]
    fn names_round_trip() {
        for s in Scenario::ALL {
            assert_eq!(s.name().parse::<Scenario>().unwrap(), s);
        }
        assert!("pool"
            .parse::<Scenario>()
            .unwrap_err()
            .contains("pool-exhaustion"));
    }
}
