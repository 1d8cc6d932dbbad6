//! The arithmetic of the capacity plan: Little's law, Erlang C for a pool of
//! connections (an M/M/c queue), and the cores × 2 + spindles rule.
//!
//! Erlang C is computed through Erlang B's recurrence, which stays exact for
//! pools of thousands where the factorial form overflows.

/// Little's law, L = λW: the mean number of requests in a system that
/// receives `rate` per second and keeps each `seconds` on average.
pub fn little(rate: f64, seconds: f64) -> f64 {
    rate * seconds
}

/// Erlang B: the chance that all `c` servers are busy when `a` erlangs are
/// offered and blocked requests are lost.
pub fn erlang_b(c: u32, a: f64) -> f64 {
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (k as f64 + a * b);
    }
    b
}

/// Erlang C: the chance that a request waits because all `c` connections
/// are busy, when `a` erlangs (arrival rate × mean holding time) are offered.
/// 1 when the pool cannot keep up (`a >= c`).
pub fn erlang_c(c: u32, a: f64) -> f64 {
    if a <= 0.0 {
        return 0.0;
    }
    if a >= c as f64 {
        return 1.0;
    }
    let b = erlang_b(c, a);
    let c = c as f64;
    c * b / (c - a * (1.0 - b))
}

/// Mean wait for a connection in seconds (over all requests, those that do
/// not wait included): P(wait) × S / (c − a). Infinite when `a >= c`.
pub fn mean_wait(c: u32, rate: f64, holding: f64) -> f64 {
    let a = rate * holding;
    if a >= c as f64 {
        return f64::INFINITY;
    }
    erlang_c(c, a) * holding / (c as f64 - a)
}

/// The smallest pool whose chance of waiting stays at or under `p`, for
/// `rate` requests per second each holding a connection `holding` seconds.
pub fn pool_for(rate: f64, holding: f64, p: f64) -> u32 {
    let a = rate * holding;
    let mut c = (a.floor() as u32).max(1);
    while erlang_c(c, a) > p {
        c += 1;
    }
    c
}

/// HikariCP's starting point for a server's connections: cores × 2 + effective spindles.
pub fn hikari(cores: u32, spindles: u32) -> u32 {
    cores * 2 + spindles
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig4(x: f64) -> String {
        format!("{:.4e}", x)
    }

    /// Wikipedia, "Little's law", the store example: customers arrive at 10
    /// an hour and stay half an hour, so 5 are in the store on average.
    #[test]
    fn little_store_example() {
        assert_eq!(sig4(little(10.0, 0.5)), sig4(5.0));
    }

    /// Call Centre Helper, "Erlang C Formula – Made Simple With an Easy
    /// Worked Example": 100 calls in 30 minutes, 180 s handling time, so
    /// A = 10 erlangs; with N = 11 agents the chance a call waits is 68.21 %
    /// and the mean wait (ASA) 122.8 s.
    #[test]
    fn erlang_c_call_centre_helper_example() {
        let rate = 100.0 / 1800.0;
        let a = rate * 180.0;
        assert_eq!(sig4(a), sig4(10.0));
        assert_eq!(sig4(erlang_c(11, a)), "6.8212e-1");
        assert_eq!(sig4(mean_wait(11, rate, 180.0)), "1.2278e2");
    }

    /// Wolfram Language, `ErlangC`, "Network packet transmission": two 1 Mbps
    /// lines, 150 packets/s of 10 kbit on average (10 ms each), so a = 1.5 on
    /// c = 2 servers: a packet waits with probability 9/14 = 0.6429.
    #[test]
    fn erlang_c_two_lines_example() {
        let a = little(150.0, 10_000.0 / 1_000_000.0);
        assert_eq!(sig4(erlang_c(2, a)), "6.4286e-1");
    }

    /// The same source's technical-support centre: 30 calls an hour, 5
    /// minutes each (a = 2.5); at least 90 % of calls must not wait, which
    /// takes 6 employees (P(wait) 0.04744; 5 would leave 0.1304).
    #[test]
    fn pool_for_support_centre_example() {
        let rate = 30.0 / 3600.0;
        assert_eq!(pool_for(rate, 300.0, 0.1), 6);
        assert_eq!(sig4(erlang_c(6, 2.5)), "4.7445e-2");
        assert_eq!(sig4(erlang_c(5, 2.5)), "1.3037e-1");
    }

    /// HikariCP wiki, "About Pool Sizing": a 4-core server with one disk
    /// should start from a pool of (4 × 2) + 1 = 9.
    #[test]
    fn hikari_rule() {
        assert_eq!(hikari(4, 1), 9);
    }

    #[test]
    fn large_pools_and_overload() {
        // No overflow at thousands of connections; P(wait) falls as c grows.
        let p1 = erlang_c(2_000, 1_950.0);
        let p2 = erlang_c(2_050, 1_950.0);
        assert!(p1 > p2 && p2 > 0.0 && p1 < 1.0);
        assert_eq!(erlang_c(10, 10.0), 1.0);
        assert!(mean_wait(10, 1.0, 10.0).is_infinite());
        assert_eq!(erlang_c(5, 0.0), 0.0);
    }
}
