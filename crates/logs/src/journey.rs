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

use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::ingest::Event;
use crate::ts::Millis;
use crate::LogsError;

/// Number of hash partitions the spill is split into (a power of two). With
/// 128, one partition of a 10-million-order day holds about 80,000 orders
/// (≈ 12 MB folded), and the final merge reads 128 runs.
pub const PARTITIONS: usize = 128;
const _: () = assert!(PARTITIONS.is_power_of_two());

/// The first broken hop of an order.
#[derive(Debug, Clone, PartialEq)]
pub struct Broken<'a> {
    /// When.
    pub at: Millis,
    /// Index of the service that logged it.
    pub service: u16,
    /// Its class index, if classified.
    pub class: Option<u16>,
    /// Its message (and error).
    pub message: &'a str,
}

/// One order's journey summary, borrowing its texts from the spill it was
/// folded from (so folding allocates nothing per order but the map's room).
#[derive(Debug, Clone, Default)]
pub struct Journey<'a> {
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
    pub payment_ids: Vec<&'a str>,
    /// The first broken hop.
    pub broken: Option<Broken<'a>>,
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
    (h.finish() >> (64 - PARTITIONS.trailing_zeros())) as usize
}

fn spill_path(dir: &Path, service: u16, part: usize) -> PathBuf {
    dir.join(format!("s{service}-p{part:02}.bin"))
}

/// One service's spill: compact per-order records appended to partition files.
pub struct Spill {
    dir: PathBuf,
    service: u16,
    parts: Vec<Part>,
}

/// One partition of a spill: records are encoded straight into its buffer,
/// which goes to the file when it holds [`PART_BUFFER`] bytes.
#[derive(Default)]
struct Part {
    file: Option<File>,
    buf: Vec<u8>,
    /// Time of the partition's last record.
    last: Millis,
}

/// Bytes a spill partition gathers before writing them.
const PART_BUFFER: usize = 8 << 10;

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
            parts: (0..PARTITIONS).map(|_| Part::default()).collect(),
        })
    }

    /// Records one event (events without an order id are skipped).
    ///
    /// A record is `[flags][id][time][class?][payment id?][message?]`: the
    /// flags say which optional parts follow, lengths and the time are
    /// varints, and the time is the difference to the partition's previous
    /// record (events come in time order, so it is a byte or two).
    pub fn add(&mut self, e: &Event) -> Result<(), LogsError> {
        let Some(id) = &e.rec.order_id else {
            return Ok(());
        };
        let broken = e.class.is_some() || e.rec.level.is_some_and(|l| l.is_error());
        let payment = e.rec.payment_id.as_deref().filter(|p| !p.is_empty());
        let p = partition_of(id.as_bytes());
        let t = e.rec.time.unwrap_or(0);
        let part = &mut self.parts[p];
        let b = &mut part.buf;
        b.push(
            u8::from(broken) | u8::from(e.class.is_some()) << 1 | u8::from(payment.is_some()) << 2,
        );
        put_str(b, id);
        put_varint(b, zigzag(t.wrapping_sub(part.last)));
        part.last = t;
        if let Some(c) = e.class {
            b.extend_from_slice(&c.to_le_bytes());
        }
        if let Some(pay) = payment {
            put_str(b, pay);
        }
        if broken {
            match &e.rec.error {
                Some(err) if err != &e.rec.message => {
                    put_varint(b, (e.rec.message.len() + 2 + err.len()) as u64);
                    b.extend_from_slice(e.rec.message.as_bytes());
                    b.extend_from_slice(b": ");
                    b.extend_from_slice(err.as_bytes());
                }
                _ => put_str(b, &e.rec.message),
            }
        }
        if b.len() >= PART_BUFFER {
            self.write(p)?;
        }
        Ok(())
    }

    /// Writes partition `p`'s buffer to its file (created on first use).
    fn write(&mut self, p: usize) -> Result<(), LogsError> {
        let part = &mut self.parts[p];
        let path = || spill_path(&self.dir, self.service, p);
        let f = match &mut part.file {
            Some(f) => f,
            slot => slot.insert(File::create(path()).map_err(|e| LogsError::Io {
                action: "create",
                path: path(),
                source: e,
            })?),
        };
        f.write_all(&part.buf).map_err(|e| LogsError::Io {
            action: "write",
            path: path(),
            source: e,
        })?;
        part.buf.clear();
        Ok(())
    }

    /// Writes what every partition still holds.
    pub fn finish(mut self) -> Result<(), LogsError> {
        for p in 0..PARTITIONS {
            if !self.parts[p].buf.is_empty() {
                self.write(p)?;
            }
        }
        Ok(())
    }
}

fn put_varint(b: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        b.push(v as u8 | 0x80);
        v >>= 7;
    }
    b.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    put_varint(b, s.len() as u64);
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
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.0.split_first()?;
            self.0 = rest;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(v);
            }
        }
        None
    }
    fn str(&mut self) -> Option<&'a str> {
        let n = self.varint()? as usize;
        std::str::from_utf8(self.take(n)?).ok()
    }
}

/// Reads one partition's spill files (services in index order), removing
/// each once read: they are folded from memory by [`fold`].
fn read_partition(dir: &Path, services: usize, part: usize) -> Result<Vec<Vec<u8>>, LogsError> {
    let mut out = Vec::with_capacity(services);
    for s in 0..services {
        let path = spill_path(dir, s as u16, part);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                return Err(LogsError::Io {
                    action: "read",
                    path,
                    source: e,
                })
            }
        };
        // Removed now, on this thread, rather than all at the end on one.
        let _ = std::fs::remove_file(&path);
        out.push(bytes);
    }
    Ok(out)
}

/// Folds one partition's records (the spill files of each service, in
/// index order) into journeys keyed by order id.
fn fold<'a>(
    dir: &Path,
    spills: &'a [Vec<u8>],
    part: usize,
) -> Result<rustc_hash::FxHashMap<&'a str, Journey<'a>>, LogsError> {
    let mut map: rustc_hash::FxHashMap<&'a str, Journey<'a>> = Default::default();
    for (s, bytes) in spills.iter().enumerate() {
        let path = spill_path(dir, s as u16, part);
        let mut c = Cursor(bytes);
        let corrupt = || LogsError::Config(format!("{}: spill file is damaged", path.display()));
        let mut t: Millis = 0;
        while !c.0.is_empty() {
            let flags = c.take(1).ok_or_else(corrupt)?[0];
            let id = c.str().ok_or_else(corrupt)?;
            t = t.wrapping_add(unzigzag(c.varint().ok_or_else(corrupt)?));
            let class = if flags & 2 != 0 {
                u16::from_le_bytes(c.take(2).ok_or_else(corrupt)?.try_into().unwrap())
            } else {
                u16::MAX
            };
            let payment = if flags & 4 != 0 {
                c.str().ok_or_else(corrupt)?
            } else {
                ""
            };
            let message = if flags & 1 != 0 {
                Some(c.str().ok_or_else(corrupt)?)
            } else {
                None
            };
            let j = map.entry(id).or_insert(Journey {
                first: t,
                last: t,
                ..Default::default()
            });
            j.first = j.first.min(t);
            j.last = j.last.max(t);
            j.events += 1;
            j.services |= 1u64 << s.min(63);
            if !payment.is_empty() && !j.payment_ids.contains(&payment) {
                j.payment_ids.push(payment);
            }
            if let Some(m) = message {
                j.errors += 1;
                if j.broken.as_ref().is_none_or(|b| t < b.at) {
                    j.broken = Some(Broken {
                        at: t,
                        service: s as u16,
                        class: (class != u16::MAX).then_some(class),
                        message: m,
                    });
                }
            }
        }
    }
    Ok(map)
}

/// One CSV row of a journey (with its newline).
fn row(out: &mut String, id: &str, j: &Journey, services: &[String], classes: &[String]) {
    let q = sidik_core::fmt::push_csv_field;
    q(out, id);
    out.push(',');
    crate::push_iso_ms(out, j.first);
    out.push(',');
    crate::push_iso_ms(out, j.last);
    out.push(',');
    push_u32(out, j.events);
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
    match j.payment_ids.as_slice() {
        [] => {}
        [one] => q(out, one),
        many => q(out, &many.join(";")),
    }
    out.push(',');
    push_u32(out, j.errors);
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
        q(out, b.message);
    } else {
        out.push_str(",,,");
    }
    out.push('\n');
}

/// Appends `n` in decimal.
fn push_u32(out: &mut String, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&digits[i..]).unwrap_or("0"));
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
    // Each partition's rows, sorted, go to a run file: [varint id len][id][varint row len][row]…
    // Each run's first id and the prefix all its ids share let the merge
    // compare ids by 8 bytes past the prefix every id shares.
    let bounds: std::sync::Mutex<Vec<(String, usize)>> = std::sync::Mutex::new(Vec::new());
    // Every SAMPLE_EVERY-th id of each run with its offset: they choose where
    // the merge is split and where each part starts reading each run.
    let samples: std::sync::Mutex<Vec<RunSample>> =
        std::sync::Mutex::new(vec![Vec::new(); PARTITIONS]);
    let counts = on_every_core(
        threads,
        PARTITIONS,
        |p| -> Result<JourneyCounts, LogsError> {
            let mut counts = JourneyCounts::default();
            let spills = read_partition(dir, services.len(), p)?;
            let map = fold(dir, &spills, p)?;
            let mut ids: Vec<(&str, &Journey)> = map.iter().map(|(k, v)| (*k, v)).collect();
            ids.sort_unstable_by(|a, b| a.0.cmp(b.0));
            if let (Some(first), Some(last)) = (ids.first(), ids.last()) {
                let shared = common_prefix(first.0.as_bytes(), last.0.as_bytes());
                bounds
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((first.0.to_string(), shared));
            }
            let mut run = Vec::with_capacity(ids.len() * 160);
            let mut line = String::with_capacity(256);
            let mut sample = Vec::with_capacity(ids.len() / SAMPLE_EVERY + 1);
            for (n, (id, j)) in ids.into_iter().enumerate() {
                if n % SAMPLE_EVERY == 0 {
                    sample.push((id.as_bytes().into(), run.len() as u64));
                }
                counts.orders += 1;
                counts.broken += j.broken.is_some() as u64;
                line.clear();
                row(&mut line, id, j, services, classes);
                put_str(&mut run, id);
                put_str(&mut run, &line);
            }
            let rp = dir.join(format!("run-p{p:02}.bin"));
            std::fs::write(&rp, &run).map_err(io("write", &rp))?;
            samples.lock().unwrap_or_else(|e| e.into_inner())[p] = sample;
            Ok(counts)
        },
    )?;
    let mut total = JourneyCounts::default();
    for c in counts {
        total.orders += c.orders;
        total.broken += c.broken;
    }
    // The merge is split by id range into one part per thread: each part is
    // a k-way merge of the runs' records in its range, written to its own
    // file; the parts, in order, make the CSV.
    let bounds = bounds.into_inner().unwrap_or_else(|e| e.into_inner());
    let skip = bounds
        .iter()
        .map(|(first, shared)| {
            (*shared).min(common_prefix(first.as_bytes(), bounds[0].0.as_bytes()))
        })
        .min()
        .unwrap_or(0);
    let samples = samples.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut all: Vec<&[u8]> = samples.iter().flatten().map(|(id, _)| &**id).collect();
    all.sort_unstable();
    let parts = threads.clamp(1, 8).min(all.len().max(1));
    // Part r holds ids in [splits[r - 1], splits[r]); the first and last are open.
    let splits: Vec<&[u8]> = (1..parts).map(|r| all[r * all.len() / parts]).collect();
    on_every_core(threads, parts, |r| {
        let lo = r.checked_sub(1).map(|i| splits[i]);
        let hi = splits.get(r).copied();
        merge_part(dir, &samples, skip, lo, hi, &part_path(dir, r))
    })?;
    let tmp = out.with_extension("csv.partial");
    let f = File::create(&tmp).map_err(io("create", &tmp))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    w.write_all(HEADER.as_bytes()).map_err(io("write", &tmp))?;
    let mut w = w
        .into_inner()
        .map_err(|e| e.into_error())
        .map_err(io("write", &tmp))?;
    for r in 0..parts {
        let pp = part_path(dir, r);
        let mut part = File::open(&pp).map_err(io("read", &pp))?;
        // Copied by the kernel where it can (copy_file_range on Linux).
        std::io::copy(&mut part, &mut w).map_err(io("write", &tmp))?;
    }
    let w = BufWriter::new(w);
    w.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())
        .map_err(io("write", &tmp))?;
    std::fs::rename(&tmp, out).map_err(io("replace", out))?;
    let _ = std::fs::remove_dir_all(dir);
    Ok(total)
}

/// A sorted run of `[varint id length][id][varint row length][row]`
/// records, read in large blocks; the current record's id and row are
/// slices of the block.
struct Run {
    f: File,
    buf: Vec<u8>,
    /// Start and end of unread bytes in `buf`.
    pos: usize,
    end: usize,
    id: std::ops::Range<usize>,
    row: std::ops::Range<usize>,
    /// Bytes every id of every run starts with.
    skip: usize,
    /// The 8 bytes of the id after `skip`, big-endian (zero-padded): ids
    /// with different keys compare as their keys do.
    key: u64,
}

/// Length of the prefix `a` and `b` share.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The 8 bytes of `id` after its first `skip`, big-endian and zero-padded:
/// ids that share those `skip` bytes and have different keys compare as their keys.
fn key_after(id: &[u8], skip: usize) -> u64 {
    let rest = &id[skip.min(id.len())..];
    let mut k = [0u8; 8];
    let n = rest.len().min(8);
    k[..n].copy_from_slice(&rest[..n]);
    u64::from_be_bytes(k)
}

impl Run {
    fn key_of_id(&self) -> u64 {
        key_after(self.id(), self.skip)
    }

    fn new(f: File) -> Run {
        Run {
            f,
            buf: vec![0; 128 << 10],
            pos: 0,
            end: 0,
            id: 0..0,
            row: 0..0,
            skip: 0,
            key: 0,
        }
    }

    fn id(&self) -> &[u8] {
        &self.buf[self.id.clone()]
    }

    fn row(&self) -> &[u8] {
        &self.buf[self.row.clone()]
    }

    /// A varint and a field of that length at `at`, if the block holds them whole.
    fn field(&self, at: usize) -> Option<std::ops::Range<usize>> {
        let mut c = Cursor(&self.buf[at..self.end]);
        let n = c.varint()? as usize;
        let start = self.end - c.0.len();
        (c.0.len() >= n).then(|| start..start + n)
    }

    /// Moves to the next record; `false` at the end of the run.
    fn advance(&mut self) -> std::io::Result<bool> {
        loop {
            if let Some(id) = self.field(self.pos) {
                if let Some(row) = self.field(id.end) {
                    self.pos = row.end;
                    self.id = id;
                    self.row = row;
                    self.key = self.key_of_id();
                    return Ok(true);
                }
            }
            // The record is cut by the end of the block: keep its start, read more.
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
            if self.end == self.buf.len() {
                let len = self.buf.len();
                self.buf.resize(len * 2, 0);
            }
            let n = self.f.read(&mut self.buf[self.end..])?;
            if n == 0 {
                return if self.end == 0 {
                    Ok(false)
                } else {
                    Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the run file ends inside a record",
                    ))
                };
            }
            self.end += n;
        }
    }
}

/// Every [`SAMPLE_EVERY`]-th id of a sorted run, with its byte offset in the run.
type RunSample = Vec<(Box<[u8]>, u64)>;

/// The error of an I/O `action` on `path`, for `map_err`.
fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> LogsError {
    let path = path.to_path_buf();
    move |source| LogsError::Io {
        action,
        path,
        source,
    }
}

/// Runs `task(0)` … `task(tasks - 1)` on `threads` named threads, each
/// taking the next task when done; the results in task order, or the first error.
fn on_every_core<T: Send>(
    threads: usize,
    tasks: usize,
    task: impl Fn(usize) -> Result<T, LogsError> + Sync,
) -> Result<Vec<T>, LogsError> {
    let next = AtomicUsize::new(0);
    let done: std::sync::Mutex<Vec<Option<T>>> =
        std::sync::Mutex::new((0..tasks).map(|_| None).collect());
    let results: Vec<Result<(), LogsError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.clamp(1, tasks.max(1)))
            .map(|_| {
                std::thread::Builder::new()
                    .name("journeys".into())
                    .spawn_scoped(scope, || loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= tasks {
                            return Ok(());
                        }
                        let r = task(i)?;
                        done.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                    })
                    // As `scope.spawn` does, a thread the system cannot start is a panic.
                    .expect("a thread can be started")
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("journey thread panicked"))
            .collect()
    });
    for r in results {
        r?;
    }
    Ok(done
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect())
}

/// How often a run's id is sampled for splitting the merge.
const SAMPLE_EVERY: usize = 64;

fn part_path(dir: &Path, r: usize) -> PathBuf {
    dir.join(format!("part-{r:02}.csv"))
}

/// Merges the runs' records with ids in `[lo, hi)` (open where `None`) into `out`.
fn merge_part(
    dir: &Path,
    samples: &[RunSample],
    skip: usize,
    lo: Option<&[u8]>,
    hi: Option<&[u8]>,
    out: &Path,
) -> Result<(), LogsError> {
    let below_hi = |id: &[u8]| hi.is_none_or(|h| id < h);
    let mut runs = Vec::new();
    let mut heap: Vec<usize> = Vec::new();
    for (p, sample) in samples.iter().enumerate() {
        let rp = dir.join(format!("run-p{p:02}.bin"));
        // Start at the last sampled record below `lo`: every record before it is below too.
        let start = match lo {
            None => 0,
            Some(lo) => {
                let n = sample.partition_point(|(id, _)| &**id < lo);
                n.checked_sub(1).map_or(0, |i| sample[i].1)
            }
        };
        let mut f = File::open(&rp).map_err(io("read", &rp))?;
        f.seek(std::io::SeekFrom::Start(start))
            .map_err(io("read", &rp))?;
        let mut run = Run::new(f);
        run.skip = skip;
        let mut live = run.advance().map_err(io("read", &rp))?;
        while live && lo.is_some_and(|lo| run.id() < lo) {
            live = run.advance().map_err(io("read", &rp))?;
        }
        if live && below_hi(run.id()) {
            heap.push(runs.len());
        }
        runs.push((p, run));
    }
    let less = |runs: &[(usize, Run)], a: usize, b: usize| {
        let (x, y) = (&runs[a].1, &runs[b].1);
        x.key < y.key || (x.key == y.key && x.id() < y.id())
    };
    for i in (0..heap.len() / 2).rev() {
        sift_down(&mut heap, i, |a, b| less(&runs, a, b));
    }
    let f = File::create(out).map_err(io("create", out))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    while let Some(&i) = heap.first() {
        let (p, run) = &mut runs[i];
        w.write_all(run.row()).map_err(io("write", out))?;
        let more = run
            .advance()
            .map_err(io("read", &dir.join(format!("run-p{p:02}.bin"))))?;
        if !more || !below_hi(run.id()) {
            let last = heap.pop().expect("the heap is not empty");
            if heap.is_empty() {
                break;
            }
            heap[0] = last;
        }
        sift_down(&mut heap, 0, |a, b| less(&runs, a, b));
    }
    w.flush().map_err(io("write", out))
}

/// Restores the heap order below `i` (a min-heap by `less`).
fn sift_down(heap: &mut [usize], mut i: usize, less: impl Fn(usize, usize) -> bool) {
    loop {
        let (l, r) = (2 * i + 1, 2 * i + 2);
        let mut m = i;
        if l < heap.len() && less(heap[l], heap[m]) {
            m = l;
        }
        if r < heap.len() && less(heap[r], heap[m]) {
            m = r;
        }
        if m == i {
            return;
        }
        heap.swap(i, m);
        i = m;
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Level, Record};

    fn event(service: u16, id: &str, t: Millis, level: Level) -> Event {
        Event {
            service,
            file: 0,
            line: 1,
            rec: Box::new(Record {
                time: Some(t),
                level: Some(level),
                message: format!("about {id}"),
                order_id: Some(id.to_string()),
                payment_id: Some(format!("PAY-{id}")),
                ..Default::default()
            }),
            class: None,
            template: None,
        }
    }

    #[test]
    fn journeys_come_out_sorted_by_id_whatever_the_ids_look_like() {
        // Ids that share long prefixes, differ in length, hold a NUL byte or
        // non-ASCII letters, spread over many partitions and two services.
        let mut ids: Vec<String> = vec![
            "A".into(),
            "AB".into(),
            "A\u{0}".into(),
            "A\u{0}B".into(),
            "Ä".into(),
            "".into(),
        ];
        for n in [1, 2, 10, 11, 100, 99_999_999, 100_000_000] {
            ids.push(format!("ORD-250112-{n}"));
            ids.push(format!("ORD-250112-{n:08}"));
        }
        // Enough for runs of over 64 ids, so parts of the merge start inside runs.
        for n in 0..20_000 {
            ids.push(format!("ORD-250112-003{n:05}-retry"));
        }
        ids.sort();
        ids.dedup();
        ids.reverse();
        check(&ids);
        // Ids that all share a prefix: the merge compares what follows it first.
        let only: Vec<String> = ids
            .iter()
            .filter(|id| id.starts_with("ORD-250112-"))
            .cloned()
            .collect();
        check(&only);
    }

    fn check(ids: &[String]) {
        let tmp = tempfile::tempdir().unwrap();
        let spill = tmp.path().join(".journeys");
        for service in 0..2u16 {
            let mut s = Spill::new(&spill, service).unwrap();
            for (i, id) in ids.iter().enumerate() {
                let level = if i % 7 == 0 && service == 1 {
                    Level::Error
                } else {
                    Level::Info
                };
                s.add(&event(
                    service,
                    id,
                    1_000 * i as i64 + i64::from(service),
                    level,
                ))
                .unwrap();
            }
            s.finish().unwrap();
        }
        let out = tmp.path().join("journeys.csv");
        let services = vec!["upg".to_string(), "order-orchestrator".to_string()];
        let counts = build(&spill, &services, &[], &out).unwrap();
        assert_eq!(counts.orders as usize, ids.len());
        assert_eq!(
            counts.broken as usize,
            ids.iter().enumerate().filter(|(i, _)| i % 7 == 0).count()
        );
        let mut r = csv::Reader::from_path(&out).unwrap();
        let got: Vec<String> = r.records().map(|row| row.unwrap()[0].to_string()).collect();
        let mut want = ids.to_vec();
        want.sort();
        assert_eq!(got, want);
        // Every row folds both services' records of its order.
        let mut r = csv::Reader::from_path(&out).unwrap();
        for row in r.records() {
            let row = row.unwrap();
            assert_eq!(&row[3], "2", "{row:?}");
            assert_eq!(&row[4], "upg+order-orchestrator", "{row:?}");
            assert_eq!(&row[5], format!("PAY-{}", &row[0]), "{row:?}");
        }
        assert!(!spill.exists(), "the spill is removed");
    }
}
