//! Change-point methods on per-minute series, each small enough to check by
//! hand:
//!
//! - [`hinge`]: where a series turns from one slope to a steeper one (the
//!   start of a traffic ramp), by least squares over every knot.
//! - [`cusum`]: where counts of rare events start to exceed what the
//!   baseline explains (a Poisson CUSUM with the change time taken from the
//!   start of the run that raised the alarm, as Page's scheme does).
//! - [`steps`]: the best piecewise-constant fit with one or two change
//!   points (optimal partitioning over prefix sums), for level shifts such
//!   as latency jumping when a fault reaches full rate.
//!
//! The crates that do this generically (`changepoint`, `augurs-changepoint`)
//! run Bayesian online detection over the whole day and return every change;
//! measured on the sample incidents they placed ramps 5 minutes late and
//! found 8 to 14 changes a day. The questions here are narrower (where did
//! this ramp start, when did this class begin), and these answers are exact
//! to the minute on the samples. See docs/rca.md.

/// Where a series bends upwards.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hinge {
    /// Index of the knot: the first point on the steeper line.
    pub at: usize,
    /// Slope before the knot, per point.
    pub before: f64,
    /// Slope after the knot, per point.
    pub after: f64,
}

/// Fits `y = a + b·t + c·max(0, t − k)` for every knot `k` in
/// `lo..hi` and returns the knot with the least squared error, if the slope
/// grows there. Needs at least 3 points on each side.
pub fn hinge(y: &[f64], lo: usize, hi: usize) -> Option<Hinge> {
    let n = y.len();
    let mut best: Option<(f64, Hinge)> = None;
    for k in lo.max(3)..hi.min(n.saturating_sub(3)) {
        let Some((sse, b, c)) = fit_hinge(y, k) else {
            continue;
        };
        if c <= 0.0 {
            continue;
        }
        if best.as_ref().is_none_or(|(s, _)| sse < *s) {
            best = Some((
                sse,
                Hinge {
                    at: k,
                    before: b,
                    after: b + c,
                },
            ));
        }
    }
    best.map(|(_, h)| h)
}

/// The least squared error of the best hinge (`y = a + b·t + c·max(0, t − k)`,
/// slope growing) over every knot, for comparing models.
pub fn hinge_sse(y: &[f64]) -> Option<f64> {
    (3..y.len().saturating_sub(3))
        .filter_map(|k| fit_hinge(y, k))
        .filter(|(_, _, c)| *c > 0.0)
        .map(|(sse, _, _)| sse)
        .min_by(f64::total_cmp)
}

/// A jump between two levels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Jump {
    /// Index of the first point on the new level.
    pub at: usize,
    /// Mean before.
    pub before: f64,
    /// Mean from `at` on.
    pub after: f64,
    /// Least squared error.
    pub sse: f64,
}

/// The best split of `y` into two constant levels rising at `at` (at least
/// 3 points on each side).
pub fn jump(y: &[f64]) -> Option<Jump> {
    let n = y.len();
    if n < 6 {
        return None;
    }
    let total: f64 = y.iter().sum();
    let total_sq: f64 = y.iter().map(|v| v * v).sum();
    let mut left = 0.0;
    let mut left_sq = 0.0;
    let mut best: Option<Jump> = None;
    for k in 1..n {
        left += y[k - 1];
        left_sq += y[k - 1] * y[k - 1];
        if k < 3 || n - k < 3 {
            continue;
        }
        let (nl, nr) = (k as f64, (n - k) as f64);
        let (ml, mr) = (left / nl, (total - left) / nr);
        if mr <= ml {
            continue;
        }
        let sse = (left_sq - nl * ml * ml) + (total_sq - left_sq - nr * mr * mr);
        if best.is_none_or(|b| sse < b.sse) {
            best = Some(Jump {
                at: k,
                before: ml,
                after: mr,
                sse,
            });
        }
    }
    best
}

/// Least squares with regressors 1, t and max(0, t − k): (sse, b, c).
fn fit_hinge(y: &[f64], k: usize) -> Option<(f64, f64, f64)> {
    // Normal equations X'X β = X'y, 3×3, solved by Cramer's rule.
    let mut m = [[0.0f64; 3]; 3];
    let mut v = [0.0f64; 3];
    for (t, &yt) in y.iter().enumerate() {
        let x = [1.0, t as f64, (t as f64 - k as f64).max(0.0)];
        for i in 0..3 {
            for j in 0..3 {
                m[i][j] += x[i] * x[j];
            }
            v[i] += x[i] * yt;
        }
    }
    let det = det3(&m);
    if det.abs() < 1e-9 {
        return None;
    }
    let mut beta = [0.0; 3];
    for (col, b) in beta.iter_mut().enumerate() {
        let mut mc = m;
        for row in 0..3 {
            mc[row][col] = v[row];
        }
        *b = det3(&mc) / det;
    }
    let sse = y
        .iter()
        .enumerate()
        .map(|(t, &yt)| {
            let f = beta[0] + beta[1] * t as f64 + beta[2] * (t as f64 - k as f64).max(0.0);
            (yt - f) * (yt - f)
        })
        .sum();
    Some((sse, beta[1], beta[2]))
}

fn det3(m: &[[f64; 3]; 3]) -> f64 {
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
}

/// A run of counts above what the baseline explains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Excess {
    /// First point of the run (the change time).
    pub start: usize,
    /// Point where the accumulated excess crossed the threshold.
    pub alarm: usize,
    /// Last point of the run with a count above its reference.
    pub last: usize,
    /// Events in the run, `start..=last`.
    pub events: f64,
    /// Events the baseline would have produced over the same points.
    pub expected: f64,
}

/// Page's CUSUM over counts `x` with expected background `mu` per point:
/// `S = max(0, S + x − k)`, `k = max(2·mu, mu + slack)`. Returns every run
/// whose sum crossed `h`, its start being where `S` last left zero (the
/// change time of the run) and its end where `S` fell back to zero.
pub fn cusum(x: &[f64], mu: &[f64], slack: f64, h: f64) -> Vec<Excess> {
    let mut out = Vec::new();
    let mut s = 0.0f64;
    let mut start = 0usize;
    let mut alarm: Option<usize> = None;
    let mut last = 0usize;
    let mut events = 0.0;
    let mut expected = 0.0;
    for (t, (&xt, &m)) in x.iter().zip(mu).enumerate() {
        let k = (2.0 * m).max(m + slack);
        if s == 0.0 {
            start = t;
            events = 0.0;
            expected = 0.0;
        }
        s = (s + xt - k).max(0.0);
        if s > 0.0 {
            events += xt;
            expected += m;
            if xt > k {
                last = t;
            }
            if alarm.is_none() && s >= h {
                alarm = Some(t);
            }
        }
        // A run ends where S falls back to zero, or with the series.
        if s == 0.0 || t + 1 == x.len() {
            if let Some(a) = alarm.take() {
                out.push(Excess {
                    start,
                    alarm: a,
                    last,
                    events,
                    expected,
                });
            }
        }
    }
    out
}

/// A piecewise-constant fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Steps {
    /// Start index of every segment after the first.
    pub cuts: Vec<usize>,
    /// Mean of every segment.
    pub means: Vec<f64>,
}

/// The least-squares fits with one and with two change points, each segment
/// at least `min_len` long: `(one, two)`.
pub fn steps(y: &[f64], min_len: usize) -> (Option<Steps>, Option<Steps>) {
    let n = y.len();
    let min_len = min_len.max(1);
    let mut s1 = vec![0.0f64; n + 1];
    let mut s2 = vec![0.0f64; n + 1];
    for (i, &v) in y.iter().enumerate() {
        s1[i + 1] = s1[i] + v;
        s2[i + 1] = s2[i] + v * v;
    }
    // Squared error of y[a..b] around its mean.
    let cost = |a: usize, b: usize| {
        let len = (b - a) as f64;
        let sum = s1[b] - s1[a];
        (s2[b] - s2[a]) - sum * sum / len
    };
    let mean = |a: usize, b: usize| (s1[b] - s1[a]) / (b - a) as f64;
    let mut one: Option<(f64, usize)> = None;
    for c in min_len..=n.saturating_sub(min_len) {
        if c == 0 || c >= n {
            continue;
        }
        let e = cost(0, c) + cost(c, n);
        if one.is_none_or(|(b, _)| e < b) {
            one = Some((e, c));
        }
    }
    let mut two: Option<(f64, usize, usize)> = None;
    for c1 in min_len..n {
        for c2 in c1 + min_len..=n.saturating_sub(min_len) {
            if c2 >= n {
                continue;
            }
            let e = cost(0, c1) + cost(c1, c2) + cost(c2, n);
            if two.is_none_or(|(b, _, _)| e < b) {
                two = Some((e, c1, c2));
            }
        }
    }
    (
        one.map(|(_, c)| Steps {
            cuts: vec![c],
            means: vec![mean(0, c), mean(c, n)],
        }),
        two.map(|(_, a, b)| Steps {
            cuts: vec![a, b],
            means: vec![mean(0, a), mean(a, b), mean(b, n)],
        }),
    )
}

/// Median of the finite values, if any.
pub fn median(v: &[f64]) -> Option<f64> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(|a, b| a.total_cmp(b));
    let m = s.len() / 2;
    Some(if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hinge_finds_the_knot_of_a_ramp() {
        // Flat, slightly falling, then rising by 5 a point from index 40.
        let y: Vec<f64> = (0..80)
            .map(|t| {
                let base = 100.0 - 0.2 * t as f64;
                base + if t >= 40 { 5.0 * (t - 40) as f64 } else { 0.0 }
            })
            .collect();
        let h = hinge(&y, 0, 80).unwrap();
        assert_eq!(h.at, 40);
        assert!((h.before + 0.2).abs() < 1e-6 && (h.after - 4.8).abs() < 1e-6);
    }

    #[test]
    fn hinge_rejects_a_series_that_bends_down() {
        let y: Vec<f64> = (0..50)
            .map(|t| if t < 25 { t as f64 } else { 25.0 })
            .collect();
        assert_eq!(hinge(&y, 0, 50), None);
    }

    #[test]
    fn cusum_dates_a_run_from_its_first_event() {
        // Background of one event every 200 points; the run starts at 300
        // with a lone event, then a quiet gap, then events every point.
        let mut x = vec![0.0; 500];
        x[100] = 1.0;
        x[300] = 2.0;
        for v in &mut x[304..400] {
            *v = 1.0;
        }
        let mu = vec![0.005; 500];
        let runs = cusum(&x, &mu, 0.25, 4.0);
        assert_eq!(runs.len(), 1, "{runs:?}");
        let r = runs[0];
        assert_eq!(r.start, 300);
        assert_eq!(r.last, 399);
        assert!(r.alarm > 304 && r.alarm < 310);
        assert_eq!(r.events, 98.0);
    }

    #[test]
    fn cusum_ignores_background_at_its_rate() {
        let x: Vec<f64> = (0..1000)
            .map(|t| if t % 7 == 0 { 3.0 } else { 0.0 })
            .collect();
        let mu = vec![3.0 / 7.0; 1000];
        assert!(cusum(&x, &mu, 0.25, 4.0).is_empty());
    }

    #[test]
    fn steps_find_two_level_shifts() {
        let mut y = vec![10.0; 20];
        y.extend(vec![30.0; 8]);
        y.extend(vec![70.0; 30]);
        let (one, two) = steps(&y, 2);
        assert_eq!(one.unwrap().cuts, vec![28]);
        let two = two.unwrap();
        assert_eq!(two.cuts, vec![20, 28]);
        assert_eq!(two.means, vec![10.0, 30.0, 70.0]);
    }

    #[test]
    fn median_skips_missing_values() {
        assert_eq!(median(&[3.0, f64::NAN, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[]), None);
    }
}
