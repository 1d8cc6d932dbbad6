//! Reading a CSV evidence file by column name, with every error located.

use std::path::{Path, PathBuf};

use crate::EvidenceError;

/// A CSV evidence file opened for reading: its header, and its rows with
/// their line numbers.
pub struct CsvFile {
    path: PathBuf,
    header: Vec<String>,
    reader: csv::Reader<std::fs::File>,
    line: u64,
}

impl CsvFile {
    /// Opens `path`; `Ok(None)` when it does not exist.
    pub fn open(path: &Path) -> Result<Option<CsvFile>, EvidenceError> {
        if !path.exists() {
            return Ok(None);
        }
        let mut reader = csv::Reader::from_path(path)
            .map_err(|e| EvidenceError::input(path, 0, format!("cannot open: {e}")))?;
        let header = reader
            .headers()
            .map_err(|e| EvidenceError::input(path, 1, format!("cannot read the header: {e}")))?
            .iter()
            .map(str::to_string)
            .collect();
        Ok(Some(CsvFile {
            path: path.to_path_buf(),
            header,
            reader,
            line: 1,
        }))
    }

    /// The column names, in order.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The index of column `name`, or an error naming the file, the column
    /// and the step that rewrites it.
    pub fn column(&self, name: &str, rewrite: &str) -> Result<usize, EvidenceError> {
        self.header.iter().position(|h| h == name).ok_or_else(|| {
            EvidenceError::input(
                &self.path,
                1,
                format!("no column `{name}`; re-run {rewrite} to rewrite it"),
            )
        })
    }

    /// The next row and its 1-based line; `None` at the end.
    pub fn next_row(&mut self, row: &mut csv::StringRecord) -> Result<Option<u64>, EvidenceError> {
        let more = self
            .reader
            .read_record(row)
            .map_err(|e| EvidenceError::input(&self.path, self.line + 1, e.to_string()))?;
        if !more {
            return Ok(None);
        }
        self.line = row.position().map_or(self.line + 1, |p| p.line());
        Ok(Some(self.line))
    }

    /// Every row as `T`, read by column name (columns `T` does not name are
    /// ignored), with its line.
    pub fn rows<T: serde::de::DeserializeOwned>(mut self) -> Result<Vec<(u64, T)>, EvidenceError> {
        let header = csv::StringRecord::from(self.header.clone());
        let mut out = Vec::new();
        let mut row = csv::StringRecord::new();
        while let Some(line) = self.next_row(&mut row)? {
            let t: T = row
                .deserialize(Some(&header))
                .map_err(|e| EvidenceError::input(&self.path, line, e.to_string()))?;
            out.push((line, t));
        }
        Ok(out)
    }

    /// A number of column `name` at `line`: `None` when empty, an error when
    /// it is not a number.
    pub fn number(&self, text: &str, line: u64, name: &str) -> Result<Option<f64>, EvidenceError> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(None);
        }
        t.parse::<f64>().map(Some).map_err(|_| {
            EvidenceError::input(&self.path, line, format!("{name} \"{t}\" is not a number"))
        })
    }
}
