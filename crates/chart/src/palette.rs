//! Colour-blind-safe colours, stable across charts.
//!
//! Services take Okabe & Ito's palette in the order `incident.toml` lists
//! them, so a service has one colour in every chart of an incident. Error
//! classes and break categories take Paul Tol's "muted" scheme in the order
//! of the classification rules or the category codes, for the same reason.

use plotters::style::RGBColor;

/// Okabe–Ito, without yellow (too pale on white) and black (kept for totals).
const SERVICES: [RGBColor; 6] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(230, 159, 0),   // orange
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(86, 180, 233),  // sky blue
];

/// Paul Tol's muted scheme, then two greys.
const CATEGORIES: [RGBColor; 12] = [
    RGBColor(204, 102, 119), // rose
    RGBColor(51, 34, 136),   // indigo
    RGBColor(221, 204, 119), // sand
    RGBColor(17, 119, 51),   // green
    RGBColor(136, 204, 238), // cyan
    RGBColor(136, 34, 85),   // wine
    RGBColor(68, 170, 153),  // teal
    RGBColor(153, 153, 51),  // olive
    RGBColor(170, 68, 153),  // purple
    RGBColor(119, 119, 119), // grey
    RGBColor(187, 187, 187), // light grey
    RGBColor(68, 68, 68),    // dark grey
];

/// Ink for text, axes and totals.
pub const INK: RGBColor = RGBColor(33, 33, 33);
/// Grid lines.
pub const GRID: RGBColor = RGBColor(225, 225, 225);
/// Background.
pub const PAPER: RGBColor = RGBColor(255, 255, 255);
/// A limit line (usable connection slots), drawn dashed.
pub const LIMIT: RGBColor = RGBColor(33, 33, 33);
/// Event annotations.
pub const EVENT: RGBColor = RGBColor(90, 90, 90);

/// The colour of the `i`-th service of the incident.
pub fn service(i: usize) -> RGBColor {
    SERVICES[i % SERVICES.len()]
}

/// The colour of the `i`-th error class or break category.
pub fn category(i: usize) -> RGBColor {
    CATEGORIES[i % CATEGORIES.len()]
}

/// Fill of a phase region: spike, error onset, degradation.
pub fn phase(kind: usize) -> RGBColor {
    [
        RGBColor(255, 236, 179), // spike: pale amber
        RGBColor(255, 214, 170), // errors: pale orange
        RGBColor(246, 190, 190), // degradation: pale red
    ][kind.min(2)]
}
