//! What every action needs besides its own capability: writing a report or
//! an evidence file, finding the files a path or glob of `incident.toml`
//! names, filling a step's `result` template, and turning a library error
//! into the step's failure.

use std::fmt::Display;
use std::path::{Path, PathBuf};

use sidik_core::Incident;

/// Writes `text` to `path` atomically, creating its folder; the error names the file.
pub fn write_file(path: &Path, text: &str) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    sidik_core::folder::write_atomic(path, text.as_bytes()).map_err(|e| e.to_string())
}

/// Writes a value as pretty-printed JSON to `path` (see [`write_file`]).
pub fn write_json<T: serde::Serialize + ?Sized>(path: &Path, value: &T) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| format!("cannot write {} as JSON: {e}", path.display()))?;
    write_file(path, &text)
}

/// The files a path or glob of `incident.toml` matches, relative to the
/// incident folder, sorted.
pub fn matching(inc: &Incident, pattern: &str) -> Vec<PathBuf> {
    let abs = inc.dir.resolve(pattern);
    let Some(text) = abs.to_str() else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = glob::glob(text)
        .map(|g| g.filter_map(|p| p.ok()).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// Replaces each `{NAME}` or `{NAME:FORMAT}` of a step's result template
/// with `value(inner, NAME, FORMAT)`; an unclosed `{` is kept as written.
pub fn fill(template: &str, value: impl Fn(&str, &str, &str) -> String) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let inner = &rest[open + 1..open + close];
        let (name, fmt) = inner.split_once(':').unwrap_or((inner, ""));
        out.push_str(&value(inner, name, fmt));
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// A library error as a step's failure: its message, which already says
/// what went wrong and where.
pub trait OrFail<T> {
    /// `Err(e)` becomes `Err(e.to_string())`.
    fn or_fail(self) -> Result<T, String>;
}

impl<T, E: Display> OrFail<T> for Result<T, E> {
    fn or_fail(self) -> Result<T, String> {
        self.map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::fill;

    #[test]
    fn fill_replaces_names_and_keeps_an_unclosed_brace() {
        let f = |fill_in: &str| {
            fill(fill_in, |inner, name, fmt| {
                format!("<{inner}|{name}|{fmt}>")
            })
        };
        assert_eq!(f("a {x} b {y:idr} c"), "a <x|x|> b <y:idr|y|idr> c");
        assert_eq!(f("open { brace"), "open { brace");
        assert_eq!(f("none"), "none");
    }
}
