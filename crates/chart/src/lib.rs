//! Incident charts: a timeline of stacked panels on one time axis (requests,
//! errors by class, latency, database connections, stuck orders, goroutines)
//! with shaded phases and event annotations, and a reconciliation chart
//! (rupiah and count per break category and per hour).
//!
//! Charts are drawn with plotters on its bitmap and SVG backends, with
//! DejaVu Sans bundled in the binary (plotters' `ab_glyph` feature), so they
//! render the same on a machine without fonts. PNG files are encoded with the
//! `png` crate. Long series are thinned with MinMaxLTTB
//! ([`downsample`]); missing buckets are gaps, never joined lines.
//!
//! [`load`] builds a chart from an incident's evidence; [`render_timeline`]
//! and [`render_recon`] write it.
//! Its playbook steps (`chart.timeline`, `chart.recon`) are in [`actions`].

#![warn(missing_docs)]

pub mod actions;
pub mod axis;
pub mod downsample;
pub mod draw;
pub mod load;
pub mod model;
pub mod palette;

use std::path::{Path, PathBuf};

use plotters::prelude::*;

pub use draw::Drawn;
pub use model::{Mark, Panel, PanelKind, Phase, Recon, Series, Timeline};

/// What went wrong, in words a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// An evidence file could not be read as expected.
    #[error("{path}{}: {message}", line_suffix(*.line))]
    Input {
        /// The file.
        path: PathBuf,
        /// 1-based line, 0 when not about a line.
        line: u64,
        /// What was expected.
        message: String,
    },
    /// The evidence a chart needs is not there yet.
    #[error("{0}")]
    Missing(String),
    /// Options that do not fit together.
    #[error("{0}")]
    Usage(String),
    /// Drawing or writing the image failed.
    #[error("could not write {path}: {message}")]
    Output {
        /// The image.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

fn line_suffix(line: u64) -> String {
    if line > 0 {
        format!(":{line}")
    } else {
        String::new()
    }
}

impl From<sidik_evidence::EvidenceError> for ChartError {
    fn from(e: sidik_evidence::EvidenceError) -> Self {
        let (path, line, message) = e.into_parts();
        ChartError::input(&path, line, message)
    }
}

impl ChartError {
    /// An input error at `path:line`.
    pub fn input(path: &Path, line: u64, message: impl Into<String>) -> Self {
        ChartError::Input {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

/// DejaVu Sans, bundled (Bitstream Vera licence: fonts/LICENSE-DejaVu.txt).
static FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

/// Registers the bundled font as plotters' "sans-serif" (once).
pub fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType font shipped with the crate; a failure is a build defect.
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .map_err(|_| ())
            .expect("the bundled DejaVu Sans font loads");
    });
}

/// Image size and formats.
#[derive(Debug, Clone)]
pub struct Output {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Write a PNG.
    pub png: bool,
    /// Write an SVG.
    pub svg: bool,
}

impl Default for Output {
    fn default() -> Self {
        Output {
            width: 1600,
            height: 900,
            png: true,
            svg: true,
        }
    }
}

/// Files written and what was drawn.
#[derive(Debug, Clone, Default)]
pub struct Written {
    /// The PNG, when asked for.
    pub png: Option<PathBuf>,
    /// The SVG, when asked for.
    pub svg: Option<PathBuf>,
    /// Layout and series as drawn (the bitmap's, or the SVG's when only SVG was asked for).
    pub drawn: Drawn,
}

/// Renders into an RGB buffer and encodes it as PNG.
pub fn png_bytes<F>(width: u32, height: u32, draw: F) -> Result<(Vec<u8>, Drawn), String>
where
    F: FnOnce(&DrawingArea<BitMapBackend, plotters::coord::Shift>) -> Result<Drawn, String>,
{
    register_font();
    let mut rgb = vec![255u8; width as usize * height as usize * 3];
    let drawn = {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        let d = draw(&root)?;
        root.present().map_err(|e| format!("{e:?}"))?;
        d
    };
    let mut out = Vec::with_capacity(rgb.len() / 8);
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let mut w = enc.write_header().map_err(|e| e.to_string())?;
        w.write_image_data(&rgb).map_err(|e| e.to_string())?;
    }
    Ok((out, drawn))
}

/// Renders into an SVG document.
pub fn svg_string<F>(width: u32, height: u32, draw: F) -> Result<(String, Drawn), String>
where
    F: FnOnce(&DrawingArea<SVGBackend, plotters::coord::Shift>) -> Result<Drawn, String>,
{
    register_font();
    let mut s = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut s, (width, height)).into_drawing_area();
        let d = draw(&root)?;
        root.present().map_err(|e| format!("{e:?}"))?;
        d
    };
    Ok((s, drawn))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ChartError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| ChartError::Output {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    }
    sidik_core::folder::write_atomic(path, bytes).map_err(|e| ChartError::Output {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn check(out: &Output) -> Result<(), ChartError> {
    if !(200..=10_000).contains(&out.width) || !(200..=10_000).contains(&out.height) {
        return Err(ChartError::Usage(format!(
            "image size {}×{} is out of range; give a width and height between 200 and 10000 pixels",
            out.width, out.height
        )));
    }
    if !out.png && !out.svg {
        return Err(ChartError::Usage(
            "no format asked for: choose png, svg or both".into(),
        ));
    }
    Ok(())
}

fn render<Fp, Fs>(
    stem: &Path,
    out: &Output,
    png_draw: Fp,
    svg_draw: Fs,
) -> Result<Written, ChartError>
where
    Fp: FnOnce(&DrawingArea<BitMapBackend, plotters::coord::Shift>) -> Result<Drawn, String>,
    Fs: FnOnce(&DrawingArea<SVGBackend, plotters::coord::Shift>) -> Result<Drawn, String>,
{
    check(out)?;
    let mut written = Written::default();
    let fail = |path: &Path, message: String| ChartError::Output {
        path: path.to_path_buf(),
        message,
    };
    if out.png {
        let path = stem.with_extension("png");
        let (bytes, drawn) =
            png_bytes(out.width, out.height, png_draw).map_err(|m| fail(&path, m))?;
        write(&path, &bytes)?;
        written.drawn = drawn;
        written.png = Some(path);
    }
    if out.svg {
        let path = stem.with_extension("svg");
        let (text, drawn) =
            svg_string(out.width, out.height, svg_draw).map_err(|m| fail(&path, m))?;
        write(&path, text.as_bytes())?;
        if written.png.is_none() {
            written.drawn = drawn;
        }
        written.svg = Some(path);
    }
    Ok(written)
}

/// Writes `stem.png` and/or `stem.svg` of a timeline.
pub fn render_timeline(chart: &Timeline, stem: &Path, out: &Output) -> Result<Written, ChartError> {
    render(
        stem,
        out,
        |root| draw::timeline(root, chart),
        |root| draw::timeline(root, chart),
    )
}

/// Writes `stem.png` and/or `stem.svg` of the reconciliation chart.
pub fn render_recon(chart: &Recon, stem: &Path, out: &Output) -> Result<Written, ChartError> {
    render(
        stem,
        out,
        |root| draw::recon(root, chart).map(|_| Drawn::default()),
        |root| draw::recon(root, chart).map(|_| Drawn::default()),
    )
}
