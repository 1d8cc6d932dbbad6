//! Log files: rotation at noon WIB (the morning part gzip-compressed), line
//! counting, and the deliberate malformed lines that real logs always have.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use rand::Rng;
use rand_pcg::Pcg64Mcg;

use crate::scenario::{Millis, ROTATION};
use crate::truth::LogFileTruth;

/// How lines of a file are damaged when one is made malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// Never damage (PostgreSQL's own log).
    None,
    /// JSON lines: cut before the closing brace.
    Json,
    /// logrus text: cut inside the quoted `msg`.
    Quoted,
}

struct Part {
    rel: String,
    gzip: bool,
    out: Box<dyn Write + Send>,
    lines: u64,
    events: u64,
    malformed: Vec<u64>,
}

/// Writes one service's log, split into `NAME.1.gz` (before noon) and `NAME`.
pub struct LogSink {
    service: &'static str,
    format: String,
    parts: [Part; 2],
    damage: Damage,
    rate: f64,
    rng: Pcg64Mcg,
}

impl LogSink {
    /// Creates `dir/name.1.gz` and `dir/name`; `rel_dir` is `dir` relative to the incident.
    pub fn create(
        dir: &Path,
        rel_dir: &str,
        name: &str,
        service: &'static str,
        format: String,
        damage: Damage,
        rng: Pcg64Mcg,
    ) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let open = |file: &str, gzip: bool| -> io::Result<Part> {
            let path: PathBuf = dir.join(file);
            let f = BufWriter::with_capacity(1 << 20, File::create(&path)?);
            let out: Box<dyn Write + Send> = if gzip {
                Box::new(GzEncoder::new(f, Compression::fast()))
            } else {
                Box::new(f)
            };
            Ok(Part {
                rel: format!("{rel_dir}/{file}"),
                gzip,
                out,
                lines: 0,
                events: 0,
                malformed: Vec::new(),
            })
        };
        Ok(LogSink {
            service,
            format,
            parts: [open(&format!("{name}.1.gz"), true)?, open(name, false)?],
            damage,
            rate: 1.0 / 4_000.0,
            rng,
        })
    }

    /// Writes one record (a line, or several for multi-line PostgreSQL
    /// entries) at time `t`; returns whether it was damaged on purpose.
    pub fn write(&mut self, t: Millis, record: &mut Vec<u8>) -> io::Result<bool> {
        let part = &mut self.parts[usize::from(t >= ROTATION)];
        let damaged = self.damage != Damage::None && self.rng.random_bool(self.rate);
        if damaged {
            damage(record, self.damage, &mut self.rng);
            part.malformed.push(part.lines + 1);
        } else {
            part.events += 1;
        }
        part.lines += 1 + record.iter().filter(|&&b| b == b'\n').count() as u64;
        record.push(b'\n');
        part.out.write_all(record)?;
        Ok(damaged)
    }

    /// Flushes and closes both files, returning what was written.
    pub fn finish(self) -> io::Result<Vec<LogFileTruth>> {
        let mut out = Vec::new();
        for mut p in self.parts {
            p.out.flush()?;
            drop(p.out); // finishes the gzip stream
            out.push(LogFileTruth {
                path: p.rel,
                service: self.service.to_string(),
                format: self.format.clone(),
                gzip: p.gzip,
                lines: p.lines,
                events: p.events,
                malformed_lines: p.malformed,
            });
        }
        Ok(out)
    }
}

fn damage(line: &mut Vec<u8>, how: Damage, rng: &mut Pcg64Mcg) {
    if rng.random_bool(0.2) {
        // What a crashed writer leaves: NUL bytes and a fragment.
        let keep = rng.random_range(0..line.len().min(12));
        line.truncate(keep);
        line.splice(0..0, std::iter::repeat_n(0u8, 6));
        return;
    }
    let cut = match how {
        Damage::Json => rng.random_range(1..line.len().saturating_sub(2).max(2)),
        Damage::Quoted => {
            let start = find(line, b"msg=\"").map_or(1, |i| i + 5);
            let end = line[start..]
                .iter()
                .position(|&b| b == b'"')
                .map_or(line.len(), |e| start + e);
            if end > start {
                rng.random_range(start..end)
            } else {
                start
            }
        }
        Damage::None => return,
    };
    line.truncate(cut);
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
