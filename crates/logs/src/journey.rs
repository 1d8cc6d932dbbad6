//! Order journeys: per order, what the logs of every service say about it,
//! the payment ids they link to it, and the first broken hop (the first
//! record with an error class or at error level).
//!
//! Journeys are built in two passes so memory does not grow with the number
//! of orders. While ingesting, every event that names an order appends a
//! compact record to one of [`PARTITIONS`] spill files chosen by a hash of the
//! order id ([`Spill`]). Afterwards [`build`] folds each partition on its own
//! (a partition holds a small share of the orders, so its map stays in cache),
//! on every core, and merges the partitions' sorted rows into
//! `journeys.csv`, ordered by order id. The spill files are removed at the end.

use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::ingest::Event;
use crate::ts::Millis;
use crate::LogsError;

/// Number of hash partitions the spill is split into. With 64, one partition
/// of a 10-million-order day holds about 160,000 orders (≈ 25 MB folded).
pub const PARTITIONS: usize = 64;

/// The first broken hop of an order.
#[derive(Debug, Clone, PartialEq)]
pub struct Broken {
    /// When.
    pub at: Millis,
    /// Index of the service that logged it.
    pub service: u16,
    /// Its class index, if classified.
    pub class: Option<u16>,
    /// Its message (and error).
    pub message: String,
}

/// One order's journey summary.
#[derive(Debug, Clone, Default)]
pub struct Journey {
    /// First record.
    pub first: Millis,
    /// Last record.
    pub last: Millis,
    /// Records.
    pub events: u32,
    /// Records at error level or with a class.
    pub errors: u32,
    /// Services that logged it, as a bit set over service indices.
    pub services: u64,
    /// Payment ids seen with it, in the order first seen.
    pub payment_ids: Vec<Box<str>>,
    /// The first broken hop.
    pub broken: Option<Box<Broken>>,
}

/// What [`build`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct JourneyCounts {
    /// Orders seen in the logs.
    pub orders: u64,
    /// Orders with a broken hop.
    pub broken: u64,
}

fn partition_of(id: &[u8]) -> usize {
    let mut h = rustc_hash::FxBuildHasher.build_hasher();
    h.write(id);
    // The high bits of FxHash are the well-mixed ones.
    (h.finish() >> 58) as usize % PARTITIONS
}

fn spill_path(dir: &Path, service: u16, part: usize) -> PathBuf {
    dir.join(format!("s{service}-p{part:02}.bin"))
}

/// One service's spill: compact per-order records appended to partition files.
pub struct Spill {
    dir: PathBuf,
    service: u16,
    parts: Vec<Option<BufWriter<File>>>,
    buf: Vec<u8>,
}

impl Spill {
    /// A spill for service `service` under `dir` (created if missing).
    pub fn new(dir: &Path, service: u16) -> Result<Spill, LogsError> {
        std::fs::create_dir_all(dir).map_err(|e| LogsError::Io {
            action: "create folder",
            path: dir.to_path_buf(),
            source: e,
        })?;
        Ok(Spill {
            dir: dir.to_path_buf(),
            service,
            parts: (0..PARTITIONS).map(|_| None).collect(),
            buf: Vec::with_capacity(256),
        })
    }

    /// Records one event (events without an order id are skipped).
    pub fn add(&mut self, e: &Event) -> Result<(), LogsError> {
        let Some(id) = &e.rec.order_id else {
            return Ok(());
        };
        let broken = e.class.is_some() || e.rec.level.is_some_and(|l| l.is_error());
        let b = &mut self.buf;
        b.clear();
        put_str(b, id);
        b.extend_from_slice(&e.rec.time.unwrap_or(0).to_le_bytes());
        b.extend_from_slice(&e.class.map_or(u16::MAX, |c| c).to_le_bytes());
        b.push(broken as u8);
        put_str(b, e.rec.payment_id.as_deref().unwrap_or(""));
        if broken {
            match &e.rec.error {
                Some(err) if err != &e.rec.message => {
                    let len = e.rec.message.len() + 2 + err.len();
                    b.extend_from_slice(&(len as u32).to_le_bytes());
                    b.extend_from_slice(e.rec.message.as_bytes());
                    b.extend_from_slice(b": ");
                    b.extend_from_slice(err.as_bytes());
                }
                _ => put_str(b, &e.rec.message),
            }
        }
        let p = partition_of(id.as_bytes());
        let w = match &mut self.parts[p] {
            Some(w) => w,
            slot => {
                let path = spill_path(&self.dir, self.service, p);
                let f = File::create(&path).map_err(|e| LogsError::Io {
                    action: "create",
                    path,
                    source: e,
                })?;
                slot.insert(BufWriter::with_capacity(32 << 10, f))
            }
        };
        w.write_all(&self.buf).map_err(|e| LogsError::Io {
            action: "write",
            path: spill_path(&self.dir, self.service, p),
            source: e,
        })
    }

    /// Flushes every partition file.
    pub fn finish(self) -> Result<(), LogsError> {
        for (p, w) in self.parts.into_iter().enumerate() {
            if let Some(mut w) = w {
                w.flush().map_err(|e| LogsError::Io {
                    action: "write",
                    path: spill_path(&self.dir, self.service, p),
                    source: e,
                })?;
            }
        }
        Ok(())
    }
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as u32).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

/// A cursor over a spill file's bytes.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn str(&mut self) -> Option<&'a str> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.take(n)?).ok()
    }
}

/// Folds one partition's records (services in index order) into journeys.
fn fold(
    dir: &Path,
    services: usize,
    part: usize,
) -> Result<rustc_hash::FxHashMap<Box<str>, Journey>, LogsError> {
    let mut map: rustc_hash::FxHashMap<Box<str>, Journey> = Default::default();
    for s in 0..services {
        let path = spill_path(dir, s as u16, part);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(LogsError::Io {
                    action: "read",
                    path,
                    source: e,
                })
            }
        };
        let mut c = Cursor(&bytes);
        let corrupt = || LogsError::Config(format!("{}: spill file is damaged", path.display()));
        while !c.0.is_empty() {
            let id = c.str().ok_or_else(corrupt)?;
            let t = i64::from_le_bytes(c.take(8).ok_or_else(corrupt)?.try_into().unwrap());
            let class = u16::from_le_bytes(c.take(2).ok_or_else(corrupt)?.try_into().unwrap());
            let broken = c.take(1).ok_or_else(corrupt)?[0] == 1;
            let payment = c.str().ok_or_else(corrupt)?;
            let message = if broken {
                Some(c.str().ok_or_else(corrupt)?)
            } else {
                None
            };
            let j = match map.get_mut(id) {
                Some(j) => j,
                None => map.entry(id.into()).or_insert(Journey {
                    first: t,
                    last: t,
                    ..Default::default()
                }),
            };
            j.first = j.first.min(t);
            j.last = j.last.max(t);
            j.events += 1;
            j.services |= 1u64 << s.min(63);
            if !payment.is_empty() && !j.payment_ids.iter().any(|x| &**x == payment) {
                j.payment_ids.push(payment.into());
            }
            if let Some(m) = message {
                j.errors += 1;
                if j.broken.as_ref().is_none_or(|b| t < b.at) {
                    j.broken = Some(Box::new(Broken {
                        at: t,
                        service: s as u16,
                        class: (class != u16::MAX).then_some(class),
                        message: m.to_string(),
                    }));
                }
            }
        }
    }
    Ok(map)
}

/// One CSV row of a journey (with its newline).
fn row(out: &mut String, id: &str, j: &Journey, services: &[String], classes: &[String]) {
    let q = crate::csv_field;
    out.push_str(&q(id));
    out.push(',');
    crate::push_iso_ms(out, j.first);
    out.push(',');
    crate::push_iso_ms(out, j.last);
    out.push(',');
    let _ = write!(out, "{}", j.events);
    out.push(',');
    let mut first = true;
    for (i, name) in services.iter().enumerate() {
        if j.services & (1u64 << i.min(63)) != 0 {
            if !first {
                out.push('+');
            }
            out.push_str(name);
            first = false;
        }
    }
    out.push(',');
    out.push_str(&q(&j.payment_ids.join(";")));
    out.push(',');
    let _ = write!(out, "{}", j.errors);
    out.push(',');
    if let Some(b) = &j.broken {
        crate::push_iso_ms(out, b.at);
        out.push(',');
        out.push_str(services.get(b.service as usize).map_or("", String::as_str));
        out.push(',');
        if let Some(c) = b.class {
            out.push_str(classes.get(c as usize).map_or("", String::as_str));
        }
        out.push(',');
        out.push_str(&q(&b.message));
    } else {
        out.push_str(",,,");
    }
    out.push('\n');
}

/// The header of `journeys.csv`.
pub const HEADER: &str = "order_id,first_seen,last_seen,events,services,payment_ids,errors,broken_at,broken_service,broken_class,broken_message\n";

/// Folds the spill under `dir` into `out` (CSV sorted by order id), using
/// every core, then removes the spill. `services` and `classes` name the
/// indices the records carry.
pub fn build(
    dir: &Path,
    services: &[String],
    classes: &[String],
    out: &Path,
) -> Result<JourneyCounts, LogsError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = AtomicUsize::new(0);
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| LogsError::Io {
            action,
            path,
            source: e,
        }
    };
    // Each partition's rows, sorted, go to a run file: [u32 id len][id][u32 row len][row]…
    let counts: Vec<Result<JourneyCounts, LogsError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> Result<JourneyCounts, LogsError> {
                    let mut counts = JourneyCounts::default();
                    loop {
                        let p = next.fetch_add(1, Ordering::Relaxed);
                        if p >= PARTITIONS {
                            return Ok(counts);
                        }
                        let map = fold(dir, services.len(), p)?;
                        let mut ids: Vec<(&str, &Journey)> =
                            map.iter().map(|(k, v)| (&**k, v)).collect();
                        ids.sort_unstable_by(|a, b| a.0.cmp(b.0));
                        let mut run = Vec::with_capacity(ids.len() * 160);
                        let mut line = String::with_capacity(256);
                        for (id, j) in ids {
                            counts.orders += 1;
                            counts.broken += j.broken.is_some() as u64;
                            line.clear();
                            row(&mut line, id, j, services, classes);
                            put_str(&mut run, id);
                            put_str(&mut run, &line);
                        }
                        let rp = dir.join(format!("run-p{p:02}.bin"));
                        std::fs::write(&rp, &run).map_err(io("write", &rp))?;
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("journey thread panicked"))
            .collect()
    });
    let mut total = JourneyCounts::default();
    for c in counts {
        let c = c?;
        total.orders += c.orders;
        total.broken += c.broken;
    }
    // k-way merge of the sorted runs into the CSV.
    struct Run {
        r: BufReader<File>,
        id: String,
        row: String,
    }
    fn read_str(r: &mut impl Read, s: &mut String) -> std::io::Result<bool> {
        let mut n = [0u8; 4];
        match r.read_exact(&mut n) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
            Err(e) => return Err(e),
        }
        let mut b = vec![0u8; u32::from_le_bytes(n) as usize];
        r.read_exact(&mut b)?;
        *s = String::from_utf8(b)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        Ok(true)
    }
    fn advance(run: &mut Run) -> std::io::Result<bool> {
        if !read_str(&mut run.r, &mut run.id)? {
            return Ok(false);
        }
        read_str(&mut run.r, &mut run.row)?;
        Ok(true)
    }
    let mut runs = Vec::new();
    let mut heap = BinaryHeap::new();
    for p in 0..PARTITIONS {
        let rp = dir.join(format!("run-p{p:02}.bin"));
        let f = File::open(&rp).map_err(io("read", &rp))?;
        let mut run = Run {
            r: BufReader::with_capacity(64 << 10, f),
            id: String::new(),
            row: String::new(),
        };
        if advance(&mut run).map_err(io("read", &rp))? {
            heap.push(std::cmp::Reverse((run.id.clone(), runs.len())));
        }
        runs.push(run);
    }
    let tmp = out.with_extension("csv.partial");
    let f = File::create(&tmp).map_err(io("create", &tmp))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    w.write_all(HEADER.as_bytes()).map_err(io("write", &tmp))?;
    while let Some(std::cmp::Reverse((_, i))) = heap.pop() {
        let run = &mut runs[i];
        w.write_all(run.row.as_bytes()).map_err(io("write", &tmp))?;
        let rp = dir.join(format!("run-p{i:02}.bin"));
        if advance(run).map_err(io("read", &rp))? {
            heap.push(std::cmp::Reverse((run.id.clone(), i)));
        }
    }
    w.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())
        .map_err(io("write", &tmp))?;
    std::fs::rename(&tmp, out).map_err(io("replace", out))?;
    let _ = std::fs::remove_dir_all(dir);
    Ok(total)
}

/// Reads the row of one order from `journeys.csv`.
pub fn lookup(csv: &Path, order_id: &str) -> Result<Option<csv::StringRecord>, LogsError> {
    let mut r = csv::Reader::from_path(csv)
        .map_err(|e| LogsError::Config(format!("{}: {e}", csv.display())))?;
    for rec in r.records() {
        let rec = rec.map_err(|e| LogsError::Config(format!("{}: {e}", csv.display())))?;
        if rec.get(0) == Some(order_id) {
            return Ok(Some(rec));
        }
    }
    Ok(None)
}
