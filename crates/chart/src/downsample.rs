//! Gaps and downsampling.
//!
//! A series is split into segments wherever two neighbouring points are
//! further apart than the bucket allows (missing minutes are gaps, never
//! joined lines). A series with more points than about twice the plot's
//! pixel width is thinned with MinMaxLTTB (crate `minmaxlttb`): each bucket
//! preselects its extreme points before LTTB chooses, so a one-minute spike
//! in a long series survives, where plain LTTB can shave it.

use minmaxlttb::Point;

/// Extreme points preselected per LTTB bucket (the MinMaxLTTB paper's default).
const RATIO: usize = 4;

/// A run of points with no gap inside: `(time in ms, value)`, times increasing.
pub type Segment = Vec<(i64, f64)>;

/// Splits `points` (sorted by time) wherever the step exceeds `max_gap_ms`.
/// Non-finite values end a segment too: they are holes in the data.
pub fn segments(points: &[(i64, f64)], max_gap_ms: i64) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    let mut cur: Segment = Vec::new();
    for &(t, v) in points {
        if !v.is_finite() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if let Some(&(last, _)) = cur.last() {
            if t <= last {
                // Same instant twice: keep the later value (a series is one value per time).
                if t == last {
                    cur.pop();
                } else {
                    continue;
                }
            } else if t - last > max_gap_ms {
                out.push(std::mem::take(&mut cur));
            }
        }
        cur.push((t, v));
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Thins `segments` to about `budget` points in all, each segment keeping a
/// share proportional to its length (at least three points, or all of its own).
pub fn downsample(segments: Vec<Segment>, budget: usize) -> Vec<Segment> {
    let total: usize = segments.iter().map(Vec::len).sum();
    if total <= budget.max(3) {
        return segments;
    }
    segments
        .into_iter()
        .map(|seg| {
            let share = ((budget as u128 * seg.len() as u128) / total as u128) as usize;
            let n_out = share.max(3);
            if seg.len() <= n_out {
                return seg;
            }
            let pts: Vec<Point> = seg.iter().map(|&(t, v)| Point::new(t as f64, v)).collect();
            match minmaxlttb::minmaxlttb(&pts, n_out, RATIO) {
                Ok(kept) => kept.iter().map(|p| (p.x() as i64, p.y())).collect(),
                // Preconditions are met above; keep everything rather than lose data.
                Err(_) => seg,
            }
        })
        .collect()
}

/// The indices of the points [`downsample`] would keep, segment by segment,
/// so several series on the same times (a stacked panel) can be thinned
/// together by their total.
pub fn keep_indices(
    times: &[i64],
    totals: &[f64],
    max_gap_ms: i64,
    budget: usize,
) -> Vec<Vec<usize>> {
    let points: Vec<(i64, f64)> = times.iter().copied().zip(totals.iter().copied()).collect();
    downsample(segments(&points, max_gap_ms), budget)
        .into_iter()
        .map(|seg| {
            seg.into_iter()
                .filter_map(|(t, _)| times.binary_search(&t).ok())
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_split_segments() {
        let m = 60_000;
        let pts = [
            (0, 1.0),
            (m, 2.0),
            (3 * m, 3.0),
            (4 * m, f64::NAN),
            (5 * m, 5.0),
        ];
        let s = segments(&pts, m);
        assert_eq!(
            s,
            vec![
                vec![(0, 1.0), (m, 2.0)],
                vec![(3 * m, 3.0)],
                vec![(5 * m, 5.0)]
            ]
        );
    }

    #[test]
    fn short_series_are_kept_whole() {
        let pts: Vec<(i64, f64)> = (0..100).map(|i| (i * 1000, i as f64)).collect();
        let out = downsample(segments(&pts, 1000), 400);
        assert_eq!(out, vec![pts]);
    }
}
