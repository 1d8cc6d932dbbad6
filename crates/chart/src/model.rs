//! What a chart shows, independent of how it is drawn.

use chrono_tz::Tz;
use plotters::style::RGBColor;

use crate::axis::Unit;

/// One line of a panel: `(UTC ms, value)` points sorted by time.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// Colour.
    pub color: RGBColor,
    /// Points, sorted by time.
    pub points: Vec<(i64, f64)>,
    /// A lighter, thinner line (p50 beside p99, a limit).
    pub thin: bool,
    /// Drawn dashed (a limit such as usable connection slots).
    pub dashed: bool,
}

impl Series {
    /// A solid line.
    pub fn new(name: impl Into<String>, color: RGBColor, points: Vec<(i64, f64)>) -> Self {
        Series {
            name: name.into(),
            color,
            points,
            thin: false,
            dashed: false,
        }
    }
}

/// How a panel draws its series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanelKind {
    /// One line per series.
    Lines,
    /// Areas stacked in series order (errors by class).
    Stacked,
    /// Lines that hold their value until the next point (a running count).
    Steps,
}

/// One panel of the timeline; all panels share the time axis.
#[derive(Debug, Clone)]
pub struct Panel {
    /// Title drawn in the panel's corner.
    pub title: String,
    /// The y axis' name.
    pub y_label: String,
    /// Unit of the values, for axis labels.
    pub unit: Unit,
    /// How series are drawn.
    pub kind: PanelKind,
    /// The series.
    pub series: Vec<Series>,
    /// Largest step between points that is not a gap, in ms.
    pub max_gap_ms: i64,
}

impl Panel {
    /// Whether any series has a point.
    pub fn has_data(&self) -> bool {
        self.series.iter().any(|s| !s.points.is_empty())
    }

    /// Whether any series has a point between `start` and `end` (UTC ms).
    pub fn has_data_in(&self, start: i64, end: i64) -> bool {
        self.series
            .iter()
            .any(|s| s.points.iter().any(|(t, _)| *t >= start && *t <= end))
    }
}

/// A shaded region: spike, error onset, degradation.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    /// Name shown on the region.
    pub name: String,
    /// 0 spike, 1 errors, 2 degradation (its colour).
    pub kind: usize,
    /// Start, UTC ms.
    pub start: i64,
    /// End, UTC ms.
    pub end: i64,
}

/// A vertical annotation.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// When, UTC ms.
    pub at: i64,
    /// Its label.
    pub label: String,
    /// Colour of the line and label.
    pub color: RGBColor,
}

/// A timeline chart: panels on one time axis, phases and marks over them.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// Title (incident id and what the chart is).
    pub title: String,
    /// Subtitle (the window, the timezone).
    pub subtitle: String,
    /// Timezone of the axis labels.
    pub tz: Tz,
    /// First instant shown, UTC ms.
    pub start: i64,
    /// Last instant shown, UTC ms.
    pub end: i64,
    /// Panels, top to bottom; those without data are left out when drawn.
    pub panels: Vec<Panel>,
    /// Shaded regions.
    pub phases: Vec<Phase>,
    /// Vertical annotations.
    pub marks: Vec<Mark>,
}

impl Timeline {
    /// The panels with data inside the window, the ones that are drawn.
    pub fn visible_panels(&self) -> impl Iterator<Item = &Panel> {
        self.panels
            .iter()
            .filter(|p| p.has_data_in(self.start, self.end))
    }
}

/// A bar of a category chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Category label.
    pub label: String,
    /// Its colour.
    pub color: RGBColor,
    /// Value (rupiah).
    pub value: f64,
    /// Text at the end of the bar.
    pub note: String,
}

/// Stacked bars over time buckets (per hour): one entry per bucket and category.
#[derive(Debug, Clone)]
pub struct Stacks {
    /// Panel title.
    pub title: String,
    /// Unit of the values.
    pub unit: Unit,
    /// Bucket starts, UTC ms, increasing.
    pub buckets: Vec<i64>,
    /// Bucket width, ms.
    pub width_ms: i64,
    /// Categories: (name, colour, value per bucket).
    pub layers: Vec<(String, RGBColor, Vec<f64>)>,
}

/// The reconciliation chart: rupiah per break category, and per hour.
#[derive(Debug, Clone)]
pub struct Recon {
    /// Title.
    pub title: String,
    /// Subtitle.
    pub subtitle: String,
    /// Timezone of the hour labels.
    pub tz: Tz,
    /// Horizontal bars, one per category.
    pub bars: Vec<Bar>,
    /// Rupiah per hour of charge time, by category.
    pub rupiah: Stacks,
    /// Breaks per hour of charge time, by category.
    pub counts: Stacks,
}
