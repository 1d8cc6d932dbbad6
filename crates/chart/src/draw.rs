//! Drawing, in pixel coordinates, on any plotters backend (bitmap or SVG).
//!
//! Axes, ticks, legends and labels are laid out here rather than by
//! plotters' mesh, so times tick on round local minutes, panels share one
//! axis exactly and annotation labels never overlap.

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::axis::{self, TimeTick};
use crate::downsample::{self, Segment};
use crate::model::{Panel, PanelKind, Recon, Stacks, Timeline};
use crate::palette::{self, GRID, INK, PAPER};

/// What was drawn where, for callers and tests.
#[derive(Debug, Clone, Default)]
pub struct Drawn {
    /// Left and right pixel of the plotting area.
    pub plot_x: (i32, i32),
    /// Panels as drawn.
    pub panels: Vec<DrawnPanel>,
    /// Phase regions: name and pixel span.
    pub phases: Vec<(String, i32, i32)>,
    /// Annotation labels: text and their box (x0, y0, x1, y1).
    pub labels: Vec<(String, (i32, i32, i32, i32))>,
}

/// A panel as drawn.
#[derive(Debug, Clone)]
pub struct DrawnPanel {
    /// Its title.
    pub title: String,
    /// Plot rectangle (x0, y0, x1, y1).
    pub rect: (i32, i32, i32, i32),
    /// The top of the y axis.
    pub y_max: f64,
    /// Every series after gaps and downsampling: name and segments.
    pub series: Vec<(String, Vec<Segment>)>,
}

/// A drawing failure, in words.
pub type DrawResult<T> = Result<T, String>;

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

fn font(size: f64) -> TextStyle<'static> {
    TextStyle::from(("sans-serif", size).into_font()).color(&INK)
}

fn text<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &str,
    (x, y): (i32, i32),
    style: &TextStyle,
) -> DrawResult<()> {
    root.draw(&Text::new(s.to_string(), (x, y), style.clone()))
        .map_err(err)
}

fn text_width<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &str,
    style: &TextStyle,
) -> i32 {
    root.estimate_text_size(s, style)
        .map(|(w, _)| w as i32)
        .unwrap_or((s.chars().count() * 7) as i32)
}

const MARGIN: i32 = 16;
const Y_LABELS: i32 = 78;
const LEGEND: i32 = 210;
const LANE: i32 = 17;
const PANEL_HEAD: i32 = 20;
const AXIS_BELOW: i32 = 40;

fn header<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: &str,
) -> DrawResult<i32> {
    text(root, title, (MARGIN, 12), &font(22.0))?;
    text(
        root,
        subtitle,
        (MARGIN, 40),
        &font(14.0).color(&RGBColor(90, 90, 90)),
    )?;
    Ok(64)
}

/// A label to place in the annotation strip.
struct Label {
    x: i32,
    text: String,
    color: RGBColor,
}

/// Assigns each label a lane so that no two overlap; returns (lane, x0, x1).
fn lanes<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    labels: &[Label],
    (left, right): (i32, i32),
    style: &TextStyle,
) -> Vec<(usize, i32, i32)> {
    let mut ends: Vec<i32> = Vec::new();
    let mut out = Vec::with_capacity(labels.len());
    for l in labels {
        let w = text_width(root, &l.text, style);
        // Right of the line, or left of it when it would run off the plot.
        let (x0, x1) = if l.x + 4 + w <= right {
            (l.x + 4, l.x + 4 + w)
        } else {
            ((l.x - 4 - w).max(left), (l.x - 4).max(left + w))
        };
        let lane = match ends.iter().position(|e| *e + 8 <= x0) {
            Some(i) => i,
            None => {
                ends.push(i32::MIN);
                ends.len() - 1
            }
        };
        ends[lane] = x1;
        out.push((lane, x0, x1));
    }
    out
}

/// Pixel row of value `v` on a y axis from 0 to `top` between `y0` (top) and `y1` (bottom).
fn y_px(v: f64, top: f64, (y0, y1): (i32, i32)) -> i32 {
    y1 - ((v / top).clamp(0.0, 1.05) * (y1 - y0) as f64).round() as i32
}

/// Draws horizontal grid lines with labels in `unit` for values up to `max`; returns the axis top.
fn y_grid<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    (x0, y0, x1, y1): (i32, i32, i32, i32),
    max: f64,
    unit: axis::Unit,
) -> DrawResult<f64> {
    let (top, step) = axis::nice_scale(max, ((y1 - y0) / 38).max(2) as usize);
    let style = font(12.0).pos(Pos::new(HPos::Right, VPos::Center));
    let mut v = 0.0;
    while v <= top + step * 0.01 {
        let y = y_px(v, top, (y0, y1));
        root.draw(&PathElement::new(vec![(x0, y), (x1, y)], GRID))
            .map_err(err)?;
        text(root, &axis::label(v, step, unit), (x0 - 6, y), &style)?;
        v += step;
    }
    Ok(top)
}

/// Draws the time ticks and their labels (the date under them where it changes) below `y`.
fn time_axis<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    ticks: &[TimeTick],
    px: &dyn Fn(i64) -> i32,
    y: i32,
) -> DrawResult<()> {
    let style = font(12.0).pos(Pos::new(HPos::Center, VPos::Top));
    for t in ticks {
        let x = px(t.at);
        root.draw(&PathElement::new(vec![(x, y), (x, y + 4)], INK))
            .map_err(err)?;
        text(root, &t.label, (x, y + 6), &style)?;
        if let Some(d) = &t.date {
            text(root, d, (x, y + 21), &style.color(&RGBColor(90, 90, 90)))?;
        }
    }
    Ok(())
}

/// Draws a timeline. Panels without data are left out.
pub fn timeline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Timeline,
) -> DrawResult<Drawn> {
    root.fill(&PAPER).map_err(err)?;
    let (w, h) = root.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let top = header(root, &chart.title, &chart.subtitle)?;
    let x0 = MARGIN + Y_LABELS;
    let x1 = w - MARGIN - LEGEND;
    let span = (chart.end - chart.start).max(1) as f64;
    let px = |t: i64| -> i32 {
        x0 + (((t - chart.start) as f64 / span) * (x1 - x0) as f64).round() as i32
    };
    let inside = |t: i64| t >= chart.start && t <= chart.end;

    // Annotation strip: phase names, then marks, each in a lane of its own width.
    let small = font(12.0);
    let mut labels: Vec<Label> = Vec::new();
    for p in &chart.phases {
        if p.end > chart.start && p.start < chart.end {
            labels.push(Label {
                x: px(p.start.max(chart.start)),
                text: p.name.clone(),
                color: RGBColor(120, 80, 0),
            });
        }
    }
    let mut marks: Vec<_> = chart.marks.iter().filter(|m| inside(m.at)).collect();
    marks.sort_by_key(|m| m.at);
    for m in &marks {
        labels.push(Label {
            x: px(m.at),
            text: m.label.clone(),
            color: m.color,
        });
    }
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by_key(|i| labels[*i].x);
    let sorted: Vec<Label> = order
        .iter()
        .map(|i| Label {
            x: labels[*i].x,
            text: labels[*i].text.clone(),
            color: labels[*i].color,
        })
        .collect();
    let placed = lanes(root, &sorted, (x0, x1), &small);
    let n_lanes = placed.iter().map(|p| p.0 + 1).max().unwrap_or(0) as i32;
    let strip_top = top + 4;
    let panels_top = strip_top + n_lanes * LANE + if n_lanes > 0 { 6 } else { 0 };

    let panels: Vec<&Panel> = chart.visible_panels().collect();
    let n = panels.len().max(1) as i32;
    let gap = 10;
    let avail = h - panels_top - AXIS_BELOW - MARGIN;
    let ph = ((avail - gap * (n - 1)) / n).max(PANEL_HEAD + 30);
    let ticks = axis::time_ticks(chart.start, chart.end, (x1 - x0) as u32, 95, chart.tz);
    let mut drawn = Drawn {
        plot_x: (x0, x1),
        ..Default::default()
    };

    // Phase regions behind everything, across all panels.
    let plots_bottom = panels_top + n * ph + (n - 1) * gap;
    for p in &chart.phases {
        let (a, b) = (p.start.max(chart.start), p.end.min(chart.end));
        if b <= a {
            continue;
        }
        let (xa, xb) = (px(a), px(b));
        root.draw(&Rectangle::new(
            [(xa, panels_top), (xb, plots_bottom)],
            palette::phase(p.kind).filled(),
        ))
        .map_err(err)?;
        drawn.phases.push((p.name.clone(), xa, xb));
    }

    for (i, panel) in panels.iter().enumerate() {
        let py0 = panels_top + i as i32 * (ph + gap);
        let rect = (x0, py0 + PANEL_HEAD, x1, py0 + ph);
        let dp = draw_panel(root, panel, rect, chart, &ticks, &px)?;
        drawn.panels.push(dp);
    }

    // Marks: a dashed line from the label's lane down through every panel.
    for ((lane, lx0, lx1), l) in placed.iter().zip(&sorted) {
        let y = strip_top + *lane as i32 * LANE;
        text(
            root,
            &l.text,
            (*lx0, y + LANE / 2),
            &small
                .color(&l.color)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        )?;
        drawn
            .labels
            .push((l.text.clone(), (*lx0, y, *lx1, y + LANE)));
    }
    for m in &marks {
        let x = px(m.at);
        root.draw(&DashedPathElement::new(
            vec![(x, strip_top), (x, plots_bottom)],
            4,
            3,
            m.color.stroke_width(1),
        ))
        .map_err(err)?;
    }

    // Time axis under the last panel.
    time_axis(root, &ticks, &px, plots_bottom)?;
    if panels.is_empty() {
        text(
            root,
            "no data in this window",
            ((x0 + x1) / 2, panels_top + 40),
            &font(16.0).pos(Pos::new(HPos::Center, VPos::Center)),
        )?;
    }
    Ok(drawn)
}

fn draw_panel<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    panel: &Panel,
    (x0, y0, x1, y1): (i32, i32, i32, i32),
    chart: &Timeline,
    ticks: &[TimeTick],
    px: &dyn Fn(i64) -> i32,
) -> DrawResult<DrawnPanel> {
    let budget = 2 * (x1 - x0).max(1) as usize;
    let in_window = |pts: &[(i64, f64)]| -> Vec<(i64, f64)> {
        pts.iter()
            .copied()
            .filter(|(t, _)| *t >= chart.start && *t <= chart.end)
            .collect()
    };
    // Series after gaps and downsampling; stacked panels thin all layers on the total's points.
    let mut series: Vec<(String, Vec<Segment>)> = Vec::new();
    let mut y_max = 0f64;
    if panel.kind == PanelKind::Stacked {
        let mut times: Vec<i64> = panel
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .filter(|t| *t >= chart.start && *t <= chart.end)
            .collect();
        times.sort_unstable();
        times.dedup();
        let layers: Vec<Vec<f64>> = panel
            .series
            .iter()
            .map(|s| {
                let mut v = vec![0.0; times.len()];
                for (t, y) in &s.points {
                    if let Ok(i) = times.binary_search(t) {
                        v[i] += y;
                    }
                }
                v
            })
            .collect();
        let totals: Vec<f64> = (0..times.len())
            .map(|i| layers.iter().map(|l| l[i]).sum())
            .collect();
        y_max = totals.iter().copied().fold(0.0, f64::max);
        let keep = downsample::keep_indices(&times, &totals, panel.max_gap_ms, budget);
        // Cumulative layers on the kept points, segment by segment.
        let mut cum: Vec<Vec<f64>> = keep.iter().map(|seg| vec![0.0; seg.len()]).collect();
        for (s, layer) in panel.series.iter().zip(&layers) {
            let segs: Vec<Segment> = keep
                .iter()
                .zip(cum.iter_mut())
                .map(|(seg, c)| {
                    seg.iter()
                        .zip(c.iter_mut())
                        .map(|(&i, c)| {
                            *c += layer[i];
                            (times[i], *c)
                        })
                        .collect()
                })
                .collect();
            series.push((s.name.clone(), segs));
        }
    } else {
        for s in &panel.series {
            let pts = in_window(&s.points);
            y_max = pts
                .iter()
                .map(|p| p.1)
                .filter(|v| v.is_finite())
                .fold(y_max, f64::max);
            let segs = downsample::downsample(downsample::segments(&pts, panel.max_gap_ms), budget);
            series.push((s.name.clone(), segs));
        }
    }
    let top = y_grid(root, (x0, y0, x1, y1), y_max, panel.unit)?;
    let py = |v: f64| y_px(v, top, (y0, y1));
    for t in ticks {
        let x = px(t.at);
        root.draw(&PathElement::new(vec![(x, y0), (x, y1)], GRID))
            .map_err(err)?;
    }
    text(root, &panel.title, (x0, y0 - PANEL_HEAD + 3), &font(14.0))?;
    // The axis' name, upright along the left edge.
    text(
        root,
        &panel.y_label,
        (MARGIN - 4, (y0 + y1) / 2),
        &font(12.0)
            .color(&RGBColor(90, 90, 90))
            .transform(plotters::style::FontTransform::Rotate270)
            .pos(Pos::new(HPos::Center, VPos::Top)),
    )?;

    // Data.
    match panel.kind {
        PanelKind::Stacked => {
            // From the top of the stack down: each layer's polygon reaches the axis and the
            // next layer below paints over its lower part.
            for (k, (_, segs)) in series.iter().enumerate().rev() {
                let color = panel.series[k].color;
                for seg in segs {
                    if seg.len() == 1 {
                        let x = px(seg[0].0);
                        root.draw(&Rectangle::new(
                            [(x - 1, py(seg[0].1)), (x + 1, y1)],
                            color.filled(),
                        ))
                        .map_err(err)?;
                        continue;
                    }
                    let mut poly: Vec<(i32, i32)> =
                        seg.iter().map(|(t, v)| (px(*t), py(*v))).collect();
                    poly.push((px(seg[seg.len() - 1].0), y1));
                    poly.push((px(seg[0].0), y1));
                    root.draw(&Polygon::new(poly, color.filled()))
                        .map_err(err)?;
                }
            }
        }
        PanelKind::Lines | PanelKind::Steps => {
            for (k, (_, segs)) in series.iter().enumerate() {
                let s = &panel.series[k];
                let style = if s.thin {
                    s.color.mix(0.75).stroke_width(1)
                } else {
                    s.color.stroke_width(2)
                };
                for seg in segs {
                    let mut path: Vec<(i32, i32)> = Vec::with_capacity(seg.len() * 2);
                    for (j, (t, v)) in seg.iter().enumerate() {
                        if panel.kind == PanelKind::Steps && j > 0 {
                            path.push((px(*t), py(seg[j - 1].1)));
                        }
                        path.push((px(*t), py(*v)));
                    }
                    if path.len() == 1 {
                        // A lone minute between gaps: a short tick so it is seen.
                        let (x, y) = path[0];
                        path = vec![(x - 2, y), (x + 2, y)];
                    }
                    if s.dashed {
                        root.draw(&DashedPathElement::new(path, 6, 4, style))
                            .map_err(err)?;
                    } else {
                        root.draw(&PathElement::new(path, style)).map_err(err)?;
                    }
                }
            }
        }
    }

    // Axes.
    root.draw(&PathElement::new(vec![(x0, y0), (x0, y1), (x1, y1)], INK))
        .map_err(err)?;

    // Legend to the right.
    let lx = x1 + 14;
    let rows = ((y1 - y0 + PANEL_HEAD) / 16).max(1) as usize;
    let named: Vec<&crate::model::Series> = panel
        .series
        .iter()
        .filter(|s| !s.points.is_empty())
        .collect();
    let legend = font(12.0).pos(Pos::new(HPos::Left, VPos::Center));
    for (k, s) in named.iter().enumerate() {
        let y = y0 - PANEL_HEAD + 10 + k as i32 * 16;
        if k + 1 == rows && named.len() > rows {
            text(
                root,
                &format!("+{} more", named.len() - k),
                (lx, y),
                &legend,
            )?;
            break;
        }
        // The swatch looks like the series: a filled block for stacked areas, a line otherwise.
        if panel.kind == PanelKind::Stacked {
            root.draw(&Rectangle::new(
                [(lx, y - 5), (lx + 18, y + 5)],
                s.color.filled(),
            ))
            .map_err(err)?;
        } else if s.dashed {
            root.draw(&DashedPathElement::new(
                vec![(lx, y), (lx + 18, y)],
                4,
                3,
                s.color.stroke_width(2),
            ))
            .map_err(err)?;
        } else if s.thin {
            root.draw(&PathElement::new(
                vec![(lx, y), (lx + 18, y)],
                s.color.mix(0.75).stroke_width(1),
            ))
            .map_err(err)?;
        } else {
            root.draw(&Rectangle::new(
                [(lx, y - 2), (lx + 18, y + 2)],
                s.color.filled(),
            ))
            .map_err(err)?;
        }
        text(root, &s.name, (lx + 24, y), &legend)?;
    }
    Ok(DrawnPanel {
        title: panel.title.clone(),
        rect: (x0, y0, x1, y1),
        y_max: top,
        series,
    })
}

/// Draws the reconciliation chart.
pub fn recon<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &Recon) -> DrawResult<()> {
    root.fill(&PAPER).map_err(err)?;
    let (w, h) = root.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let top = header(root, &chart.title, &chart.subtitle)?;
    // Upper third: one bar per category.
    let label_w = 190;
    let bx0 = MARGIN + label_w;
    let bx1 = w - MARGIN - 260;
    let rows = chart.bars.len().max(1) as i32;
    let bars_h = ((h - top) / 3).max(rows * 16);
    let row_h = (bars_h / rows).clamp(12, 30);
    text(
        root,
        "Rupiah per break category (count after the amount)",
        (MARGIN, top + 2),
        &font(14.0),
    )?;
    let btop = top + 24;
    let max = chart
        .bars
        .iter()
        .map(|b| b.value)
        .fold(0.0, f64::max)
        .max(1.0);
    for (i, b) in chart.bars.iter().enumerate() {
        let y = btop + i as i32 * row_h;
        let len = ((b.value / max) * (bx1 - bx0) as f64).round() as i32;
        text(
            root,
            &b.label,
            (bx0 - 8, y + row_h / 2),
            &font(12.0).pos(Pos::new(HPos::Right, VPos::Center)),
        )?;
        root.draw(&Rectangle::new(
            [(bx0, y + 3), (bx0 + len.max(1), y + row_h - 3)],
            b.color.filled(),
        ))
        .map_err(err)?;
        text(
            root,
            &b.note,
            (bx0 + len.max(1) + 6, y + row_h / 2),
            &font(12.0).pos(Pos::new(HPos::Left, VPos::Center)),
        )?;
    }
    // Lower part: per hour, rupiah then counts.
    let sy0 = btop + rows * row_h + 20;
    let avail = h - sy0 - AXIS_BELOW - MARGIN;
    let ph = (avail - 10) / 2;
    let x0 = MARGIN + Y_LABELS;
    let x1 = w - MARGIN - LEGEND;
    draw_stacks(root, &chart.rupiah, (x0, sy0, x1, sy0 + ph), chart, false)?;
    draw_stacks(
        root,
        &chart.counts,
        (x0, sy0 + ph + 10, x1, sy0 + 2 * ph + 10),
        chart,
        true,
    )?;
    Ok(())
}

fn draw_stacks<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &Stacks,
    (x0, py0, x1, y1): (i32, i32, i32, i32),
    chart: &Recon,
    axis_below: bool,
) -> DrawResult<()> {
    let y0 = py0 + PANEL_HEAD;
    text(root, &s.title, (x0, py0 + 3), &font(14.0))?;
    let (Some(first), Some(last)) = (s.buckets.first(), s.buckets.last()) else {
        text(
            root,
            "no break has a charge time",
            (x0 + 8, y0 + 20),
            &font(12.0),
        )?;
        return Ok(());
    };
    let (start, end) = (*first, *last + s.width_ms);
    let span = (end - start).max(1) as f64;
    let px =
        |t: i64| -> i32 { x0 + (((t - start) as f64 / span) * (x1 - x0) as f64).round() as i32 };
    let totals: Vec<f64> = (0..s.buckets.len())
        .map(|i| s.layers.iter().map(|l| l.2[i]).sum())
        .collect();
    let max = totals.iter().copied().fold(0.0, f64::max);
    let top = y_grid(root, (x0, y0, x1, y1), max, s.unit)?;
    let py = |v: f64| y_px(v, top, (y0, y1));
    for (i, b) in s.buckets.iter().enumerate() {
        let (bx0, bx1) = (px(*b) + 1, px(*b + s.width_ms) - 1);
        let mut base = 0.0;
        for (_, color, vals) in &s.layers {
            let v = vals[i];
            if v > 0.0 {
                root.draw(&Rectangle::new(
                    [(bx0, py(base + v)), (bx1.max(bx0 + 1), py(base))],
                    color.filled(),
                ))
                .map_err(err)?;
                base += v;
            }
        }
    }
    root.draw(&PathElement::new(vec![(x0, y0), (x0, y1), (x1, y1)], INK))
        .map_err(err)?;
    // Legend.
    let legend = font(12.0).pos(Pos::new(HPos::Left, VPos::Center));
    let rows = ((y1 - py0) / 16).max(1) as usize;
    let present: Vec<_> = s
        .layers
        .iter()
        .filter(|l| l.2.iter().any(|v| *v > 0.0))
        .collect();
    for (k, (name, color, _)) in present.iter().enumerate() {
        let y = py0 + 10 + k as i32 * 16;
        if k + 1 == rows && present.len() > rows {
            text(
                root,
                &format!("+{} more", present.len() - k),
                (x1 + 14, y),
                &legend,
            )?;
            break;
        }
        root.draw(&Rectangle::new(
            [(x1 + 14, y - 5), (x1 + 32, y + 5)],
            color.filled(),
        ))
        .map_err(err)?;
        text(root, name, (x1 + 38, y), &legend)?;
    }
    if axis_below {
        let ticks = axis::time_ticks(start, end, (x1 - x0) as u32, 70, chart.tz);
        time_axis(root, &ticks, &px, y1)?;
    }
    Ok(())
}
