//! Order journeys: per order, what the logs of every service say about it,
//! the payment ids they link to it, and the first broken hop (the first
//! record with an error class or at error level).
//!
//! Journeys are built in two passes so memory does not grow with the number
//! of orders. While ingesting, every event that names an order appends a
//! compact record to one of [`PARTITIONS`] spill partitions chosen by a hash
//! of the order id ([`Spill`]); a partition's records go to the service's
//! spill file in chunks, whose places are kept. One order in 64, chosen by
//! the same hash, is kept as a sample of the ids. Afterwards [`build`] sorts `journeys.csv` by order
//! id the way a distribution sort does: the samples cut the ids into ranges
//! of about equal size; each partition is folded on its own (it holds a small
//! share of the orders, so its map stays in cache) and its rows are written
//! grouped by range; then each range gathers its rows from every partition,
//! sorts them and writes them at their place in the file. Both steps run on
//! every core. The spill folder is removed at the end.

use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::batch::Facts;
use crate::ts::Millis;
use crate::{io, LogsError};

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

/// Bits of the hash that choose a partition.
const PARTITION_BITS: u32 = PARTITIONS.trailing_zeros();

/// The partition of an id, and whether the id is one of the sampled ones
/// (one in 64, by the six hash bits below the partition's).
fn partition_of(id: &[u8]) -> (usize, bool) {
    let mut h = rustc_hash::FxBuildHasher.build_hasher();
    h.write(id);
    // The high bits of FxHash are the well-mixed ones.
    let h = h.finish();
    let part = (h >> (64 - PARTITION_BITS)) as usize;
    let sampled = (h >> (64 - PARTITION_BITS - 6)) & 63 == 0;
    (part, sampled)
}

fn spill_path(dir: &Path, service: u16) -> PathBuf {
    dir.join(format!("spill-s{service}.bin"))
}

fn runs_path(dir: &Path) -> PathBuf {
    dir.join("runs.bin")
}

/// One service's spill: compact per-order records of every partition,
/// appended to one file in chunks, and the sampled ids.
pub struct Spill {
    path: PathBuf,
    file: Option<File>,
    /// Bytes in the file.
    written: u64,
    parts: Vec<Part>,
    /// Bytes a partition gathers before they go to the file: [`PART_BUFFER`].
    chunk: usize,
    /// The sampled ids of the events seen, each as `[varint length][id]`
    /// (an order's id once per event of it).
    sample: Vec<u8>,
}

/// One partition of a spill: records are encoded straight into its buffer,
/// which goes to the file as a chunk when it holds [`PART_BUFFER`] bytes.
/// A chunk holds whole records.
#[derive(Default)]
struct Part {
    buf: Vec<u8>,
    /// Where its chunks are in the file: offset and length.
    chunks: Vec<(u64, usize)>,
    /// Time of the partition's last record.
    last: Millis,
    /// Id of the partition's last record.
    prev: Vec<u8>,
}

/// What a service's [`Spill`] left for [`build`].
pub struct Spilled {
    path: PathBuf,
    file: Option<File>,
    /// Each partition's chunks in the file: offset and length.
    chunks: Vec<Vec<(u64, usize)>>,
    sample: Vec<u8>,
}

/// Bytes a spill partition gathers before writing them.
const PART_BUFFER: usize = 64 << 10;

impl Spill {
    /// A spill for service `service`, its file under `dir` (created if missing).
    pub fn new(dir: &Path, service: u16) -> Result<Spill, LogsError> {
        std::fs::create_dir_all(dir).map_err(|e| LogsError::Io {
            action: "create folder",
            path: dir.to_path_buf(),
            source: e,
        })?;
        Ok(Spill {
            path: spill_path(dir, service),
            file: None,
            written: 0,
            parts: (0..PARTITIONS).map(|_| Part::default()).collect(),
            chunk: PART_BUFFER,
            sample: Vec::new(),
        })
    }

    /// Records one event (events without an order id are skipped).
    ///
    /// A record is `[flags][id][time][class?][payment id?][message?]`: the
    /// flags say which optional parts follow, lengths and the time are
    /// varints, and the time is the difference to the partition's previous
    /// record (events come in time order, so it is a byte or two). The id is
    /// written as the length of the prefix it shares with the partition's
    /// previous id and the rest (`ORD-250112-00301689` after
    /// `ORD-250112-00298944` is 14 and `1689`).
    pub fn add(&mut self, e: &Facts) -> Result<(), LogsError> {
        let Some(id) = e.order_id else {
            return Ok(());
        };
        let broken = e.class.is_some() || e.level.is_some_and(|l| l.is_error());
        let payment = e.payment_id.filter(|p| !p.is_empty());
        let (p, sampled) = partition_of(id.as_bytes());
        if sampled {
            put_str(&mut self.sample, id);
        }
        let t = e.time;
        let part = &mut self.parts[p];
        let b = &mut part.buf;
        b.push(
            u8::from(broken) | u8::from(e.class.is_some()) << 1 | u8::from(payment.is_some()) << 2,
        );
        // Bytes, not characters: the prefix may end inside a character.
        let id = id.as_bytes();
        let shared = common_prefix(&part.prev, id);
        put_varint(b, shared as u64);
        put_varint(b, (id.len() - shared) as u64);
        b.extend_from_slice(&id[shared..]);
        part.prev.truncate(shared);
        part.prev.extend_from_slice(&id[shared..]);
        put_varint(b, zigzag(t.wrapping_sub(part.last)));
        part.last = t;
        if let Some(c) = e.class {
            b.extend_from_slice(&c.to_le_bytes());
        }
        if let Some(pay) = payment {
            put_str(b, pay);
        }
        if broken {
            match e.error {
                Some(err) if err != e.message => {
                    put_varint(b, (e.message.len() + 2 + err.len()) as u64);
                    b.extend_from_slice(e.message.as_bytes());
                    b.extend_from_slice(b": ");
                    b.extend_from_slice(err.as_bytes());
                }
                _ => put_str(b, e.message),
            }
        }
        if b.len() >= self.chunk {
            self.write(p)?;
        }
        Ok(())
    }

    /// Appends partition `p`'s buffer to the file (created on first use)
    /// as one chunk.
    fn write(&mut self, p: usize) -> Result<(), LogsError> {
        let f = match &mut self.file {
            Some(f) => f,
            slot => slot.insert(scratch(&self.path)?),
        };
        let part = &mut self.parts[p];
        f.write_all(&part.buf).map_err(io("write", &self.path))?;
        part.chunks.push((self.written, part.buf.len()));
        self.written += part.buf.len() as u64;
        part.buf.clear();
        Ok(())
    }

    /// Writes what every partition still holds; the file, where each
    /// partition's chunks are in it, and the sample, for [`build`].
    pub fn finish(mut self) -> Result<Spilled, LogsError> {
        for p in 0..PARTITIONS {
            if !self.parts[p].buf.is_empty() {
                self.write(p)?;
            }
        }
        Ok(Spilled {
            path: self.path,
            file: self.file,
            chunks: self.parts.into_iter().map(|p| p.chunks).collect(),
            sample: self.sample,
        })
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
    /// A record [`put_run_record`] wrote: the id and the row.
    fn run_record(&mut self) -> Option<(&'a [u8], &'a [u8])> {
        let head = self.varint()?;
        let n = (head >> 1) as usize;
        let written = if head & 1 == 1 {
            Some(self.take(n)?)
        } else {
            None
        };
        let row = self.varint().and_then(|len| self.take(len as usize))?;
        Some((written.or_else(|| row.get(..n))?, row))
    }

    fn str(&mut self) -> Option<&'a str> {
        let n = self.varint()? as usize;
        std::str::from_utf8(self.take(n)?).ok()
    }
}

/// Reads one partition's chunks of every service's spill (services in
/// index order): they are folded from memory by [`fold`].
fn read_partition(spilled: &[Spilled], part: usize) -> Result<Vec<Vec<u8>>, LogsError> {
    let mut out = Vec::with_capacity(spilled.len());
    for s in spilled {
        let chunks = &s.chunks[part];
        let mut bytes = vec![0; chunks.iter().map(|c| c.1).sum()];
        if let Some(f) = &s.file {
            let mut at = 0;
            for &(offset, len) in chunks {
                read_at(f, &mut bytes[at..at + len], offset).map_err(io("read", &s.path))?;
                at += len;
            }
        }
        out.push(bytes);
    }
    Ok(out)
}

/// Folds one partition's records (the spill files of each service, in
/// index order) into journeys keyed by order id, in a map made for about
/// `orders` of them.
fn fold<'a>(dir: &Path, spills: &'a [Vec<u8>], orders: usize) -> Result<Folds<'a>, LogsError> {
    let mut map = Folds::with_capacity_and_hasher(orders, rustc_hash::FxBuildHasher);
    // The id being read: the previous one's shared prefix, then the rest.
    let mut id = Vec::new();
    for (s, bytes) in spills.iter().enumerate() {
        let path = spill_path(dir, s as u16);
        let mut c = Cursor(bytes);
        let corrupt = || damaged(&path);
        let mut t: Millis = 0;
        id.clear();
        while !c.0.is_empty() {
            let flags = c.take(1).ok_or_else(corrupt)?[0];
            let shared = c.varint().ok_or_else(corrupt)? as usize;
            let rest = c.varint().and_then(|n| c.take(n as usize));
            match rest {
                Some(rest) if shared <= id.len() => {
                    id.truncate(shared);
                    id.extend_from_slice(rest);
                }
                _ => return Err(corrupt()),
            }
            let id = std::str::from_utf8(&id).map_err(|_| corrupt())?;
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
            let j = map.entry_ref(id).or_insert(Journey {
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

/// A partition's journeys by order id (ids owned: the spill writes them
/// front-coded, so they are not whole in its bytes).
type Folds<'a> = hashbrown::HashMap<Box<str>, Journey<'a>, rustc_hash::FxBuildHasher>;

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
pub const HEADER: &str = sidik_evidence::logs::JOURNEYS_HEADER;

/// Sampled ids per range of [`build`]: with one order in 64 sampled, a
/// range holds about 16,000 orders (2 MB of rows).
const SAMPLES_PER_RANGE: usize = 256;

/// Folds the spill under `dir` into `out` (CSV sorted by order id), using
/// every core, then removes the spill. `services` and `classes` name the
/// indices the records carry.
pub fn build(
    dir: &Path,
    spilled: Vec<Spilled>,
    services: &[String],
    classes: &[String],
    out: &Path,
) -> Result<JourneyCounts, LogsError> {
    build_in_ranges(dir, spilled, services, classes, out, SAMPLES_PER_RANGE)
}

/// What folding one partition left: its counts, and where each range's
/// records are in the runs file.
struct Folded {
    counts: JourneyCounts,
    /// Where the partition's run starts in the runs file.
    base: u64,
    /// Start of range `r`'s records in the run file, for every range and
    /// the end: `at[r]..at[r + 1]`.
    at: Vec<u64>,
    /// Bytes of CSV rows per range.
    csv: Vec<u64>,
}

/// [`build`], cutting the ids into ranges of `per_range` sampled ids.
fn build_in_ranges(
    dir: &Path,
    spilled: Vec<Spilled>,
    services: &[String],
    classes: &[String],
    out: &Path,
    per_range: usize,
) -> Result<JourneyCounts, LogsError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The ranges: range r holds ids in [bounds[r - 1], bounds[r]), the
    // first and last open.
    let mut ids: Vec<&[u8]> = Vec::new();
    for s in &spilled {
        let mut c = Cursor(&s.sample);
        while !c.0.is_empty() {
            let n = c.varint().and_then(|n| c.take(n as usize));
            ids.push(n.ok_or_else(|| damaged(&s.path))?);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    // One order in 64 is sampled, and the hash spreads them evenly over the
    // partitions: a partition's map is made a tenth larger than its share,
    // so it is not grown (and copied) on the way.
    let orders = ids.len() * 64 / PARTITIONS * 11 / 10;
    let ranges = ids.len().div_ceil(per_range.max(1)).max(1);
    let bounds = Bounds::new((1..ranges).map(|r| ids[r * ids.len() / ranges]).collect());

    // Each partition's journeys, as records ([`put_run_record`]) grouped by
    // range, go to its run: its own place in the runs file.
    let runs_at = runs_path(dir);
    let runs = scratch(&runs_at)?;
    let end = std::sync::atomic::AtomicU64::new(0);
    let folded = on_every_core(threads, PARTITIONS, |p| -> Result<Folded, LogsError> {
        let spills = read_partition(&spilled, p)?;
        let map = fold(dir, &spills, orders)?;
        let mut rows: Vec<(usize, &str, &Journey)> = map
            .iter()
            .map(|(id, j)| (bounds.range_of(id.as_bytes()), &**id, j))
            .collect();
        rows.sort_unstable_by_key(|r| r.0);
        let mut f = Folded {
            counts: JourneyCounts::default(),
            base: 0,
            at: Vec::with_capacity(ranges + 1),
            csv: vec![0; ranges],
        };
        let mut run = Vec::with_capacity(rows.len() * 160);
        let mut line = String::with_capacity(256);
        for (r, id, j) in rows {
            while f.at.len() <= r {
                f.at.push(run.len() as u64);
            }
            f.counts.orders += 1;
            f.counts.broken += u64::from(j.broken.is_some());
            line.clear();
            row(&mut line, id, j, services, classes);
            f.csv[r] += line.len() as u64;
            put_run_record(&mut run, id, &line);
        }
        while f.at.len() <= ranges {
            f.at.push(run.len() as u64);
        }
        f.base = end.fetch_add(run.len() as u64, Ordering::Relaxed);
        write_at(&runs, &run, f.base).map_err(io("write", &runs_at))?;
        Ok(f)
    })?;
    let mut total = JourneyCounts::default();
    for f in &folded {
        total.orders += f.counts.orders;
        total.broken += f.counts.broken;
    }

    // Where each range's rows go in the CSV: after the header and the ranges before it.
    let mut starts = Vec::with_capacity(ranges + 1);
    let mut at = HEADER.len() as u64;
    for r in 0..ranges {
        starts.push(at);
        at += folded.iter().map(|f| f.csv[r]).sum::<u64>();
    }
    starts.push(at);
    let tmp = out.with_extension("csv.partial");
    let csv = File::create(&tmp).map_err(io("create", &tmp))?;
    write_at(&csv, HEADER.as_bytes(), 0).map_err(io("write", &tmp))?;
    on_every_core(threads, ranges, |r| {
        // The range's records from every run, one after another.
        let mut bytes = Vec::new();
        for f in &folded {
            let (a, b) = (f.at[r], f.at[r + 1]);
            if b > a {
                let n = bytes.len();
                bytes.resize(n + (b - a) as usize, 0);
                read_at(&runs, &mut bytes[n..], f.base + a).map_err(io("read", &runs_at))?;
            }
        }
        let mut records: Vec<(&[u8], &[u8])> = Vec::new();
        let mut c = Cursor(&bytes);
        while !c.0.is_empty() {
            records.push(c.run_record().ok_or_else(|| damaged(&runs_at))?);
        }
        // Ids of a range share a long prefix: they are compared by the 8
        // bytes after it first, as an integer, and whole only when those tie.
        let skip = records
            .iter()
            .fold(records.first().map_or(0, |r| r.0.len()), |n, r| {
                n.min(common_prefix(records[0].0, r.0))
            });
        let mut keyed: Vec<(u64, &[u8], &[u8])> = records
            .into_iter()
            .map(|(id, row)| (key_after(id, skip), id, row))
            .collect();
        keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
        let mut text = Vec::with_capacity((starts[r + 1] - starts[r]) as usize);
        for (_, _, row) in keyed {
            text.extend_from_slice(row);
        }
        if text.len() as u64 != starts[r + 1] - starts[r] {
            return Err(damaged(&runs_at));
        }
        write_at(&csv, &text, starts[r]).map_err(io("write", &tmp))
    })?;
    drop(ids);
    // Not synced to disk, as no evidence file is: each is made again by
    // running the ingest again, and the rename still replaces the old
    // table whole. (Syncing its 112 MB took 2 % of a 1.27 GB ingest.)
    drop(csv);
    std::fs::rename(&tmp, out).map_err(io("replace", out))?;
    // The scratch files are deleted side by side: each frees its pages.
    std::thread::scope(|scope| {
        scope.spawn(|| {
            drop(runs);
            let _ = std::fs::remove_file(&runs_at);
        });
        for s in spilled {
            scope.spawn(move || {
                drop(s.file);
                let _ = std::fs::remove_file(&s.path);
            });
        }
    });
    let _ = std::fs::remove_dir_all(dir);
    Ok(total)
}

/// Appends a journey's run record: `[varint id length × 2 + 1][id][varint
/// row length][row]`, or `[varint id length × 2][varint row length][row]`
/// when the row starts with the id as written (not quoted), as it mostly does.
fn put_run_record(run: &mut Vec<u8>, id: &str, row: &str) {
    let at_start = row.as_bytes().get(id.len()) == Some(&b',') && row.starts_with(id);
    put_varint(run, (id.len() as u64) << 1 | u64::from(!at_start));
    if !at_start {
        run.extend_from_slice(id.as_bytes());
    }
    put_str(run, row);
}

/// A file of scratch data under the spill folder, created empty, to be
/// written and read back.
fn scratch(path: &Path) -> Result<File, LogsError> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(io("create", path))
}

/// The ids that cut the ranges: range `r` holds the ids in `[ids[r - 1],
/// ids[r])`, the first and the last open.
struct Bounds<'a> {
    ids: Vec<&'a [u8]>,
    /// The prefix every bound starts with, and each bound's [`key_after`]
    /// it: an id with the same prefix is placed by comparing integers.
    prefix: &'a [u8],
    keys: Vec<u64>,
}

impl<'a> Bounds<'a> {
    /// Bounds from sorted ids.
    fn new(ids: Vec<&'a [u8]>) -> Bounds<'a> {
        // Sorted: what the first and last share, all share.
        let prefix = match (ids.first(), ids.last()) {
            (Some(a), Some(b)) => &a[..common_prefix(a, b)],
            _ => &[][..],
        };
        let keys = ids.iter().map(|b| key_after(b, prefix.len())).collect();
        Bounds { ids, prefix, keys }
    }

    /// The range of `id`: how many bounds are no greater than it.
    fn range_of(&self, id: &[u8]) -> usize {
        if !id.starts_with(self.prefix) {
            return self.ids.partition_point(|b| *b <= id);
        }
        // Keys that differ order the ids as they do; among equal keys the
        // ids themselves are compared.
        let k = key_after(id, self.prefix.len());
        let lo = self.keys.partition_point(|b| *b < k);
        let hi = lo + self.keys[lo..].partition_point(|b| *b <= k);
        lo + self.ids[lo..hi].partition_point(|b| *b <= id)
    }
}

/// Length of the prefix `a` and `b` share.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The 8 bytes of `id` after its first `skip`, big-endian and zero-padded:
/// ids that share those `skip` bytes and have different keys compare as
/// their keys do (a shorter id is padded with bytes no greater than any).
fn key_after(id: &[u8], skip: usize) -> u64 {
    let rest = &id[skip.min(id.len())..];
    let mut k = [0u8; 8];
    let n = rest.len().min(8);
    k[..n].copy_from_slice(&rest[..n]);
    u64::from_be_bytes(k)
}

/// The error for a spill or runs file that does not read back as written.
fn damaged(path: &Path) -> LogsError {
    LogsError::Config(format!("{}: spill file is damaged", path.display()))
}

/// Reads `buf.len()` bytes of `f` at `offset`, leaving its cursor alone
/// where the system allows.
fn read_at(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
    }
    #[cfg(not(unix))]
    {
        use std::io::{Read, Seek};
        let mut f = f;
        f.seek(std::io::SeekFrom::Start(offset))?;
        f.read_exact(buf)
    }
}

/// Writes `buf` into `f` at `offset`, leaving its cursor alone where the
/// system allows.
fn write_at(f: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_all_at(f, buf, offset)
    }
    #[cfg(not(unix))]
    {
        use std::io::Seek;
        let mut f = f;
        f.seek(std::io::SeekFrom::Start(offset))?;
        f.write_all(buf)
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

/// Reads the row of one order from `journeys.csv`.
pub fn lookup(csv: &Path, order_id: &str) -> Result<Option<csv::StringRecord>, LogsError> {
    let mut r = csv::Reader::from_path(csv)
        .map_err(|e| LogsError::Config(format!("{}: {e}", csv.display())))?;
    let at = r
        .headers()
        .map_err(|e| LogsError::Config(format!("{}: {e}", csv.display())))?
        .iter()
        .position(|h| h == "order_id")
        .ok_or_else(|| {
            LogsError::Config(format!(
                "{}: no column `order_id`; re-run `sidik logs ingest`",
                csv.display()
            ))
        })?;
    for rec in r.records() {
        let rec = rec.map_err(|e| LogsError::Config(format!("{}: {e}", csv.display())))?;
        if rec.get(at) == Some(order_id) {
            return Ok(Some(rec));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Event;
    use crate::record::{Level, Record};

    #[test]
    fn ids_fall_in_the_range_a_plain_search_gives() {
        // Bounds sharing a prefix, ids that share it or not, that are
        // shorter, hold a zero byte, or tie on the eight bytes compared.
        let bounds: Vec<&[u8]> = vec![
            b"ORD-250112-0001",
            b"ORD-250112-00010000",
            b"ORD-250112-00010000x",
            b"ORD-250112-00020000",
            b"ORD-250112-9",
        ];
        let b = Bounds::new(bounds.clone());
        assert_eq!(b.prefix, b"ORD-250112-");
        let ids: [&[u8]; 14] = [
            b"",
            b"A",
            b"ORD",
            b"ORD-250112-",
            b"ORD-250112-0",
            b"ORD-250112-0001",
            b"ORD-250112-0001\0",
            b"ORD-250112-00010000",
            b"ORD-250112-00010000a",
            b"ORD-250112-00010000y",
            b"ORD-250112-00015",
            b"ORD-250112-9",
            b"ORD-250112-99",
            b"Z",
        ];
        for id in ids {
            let want = bounds.partition_point(|x| *x <= id);
            assert_eq!(b.range_of(id), want, "{}", String::from_utf8_lossy(id));
        }
        assert_eq!(Bounds::new(Vec::new()).range_of(b"ORD-1"), 0);
    }

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
            // Quoted in the CSV.
            "ORD,7".into(),
            "ORD\"8".into(),
            "".into(),
        ];
        for n in [1, 2, 10, 11, 100, 99_999_999, 100_000_000] {
            ids.push(format!("ORD-250112-{n}"));
            ids.push(format!("ORD-250112-{n:08}"));
        }
        // Enough for hundreds of sampled ids, so there can be hundreds of ranges.
        for n in 0..20_000 {
            ids.push(format!("ORD-250112-003{n:05}-retry"));
        }
        ids.sort();
        ids.dedup();
        ids.reverse();
        // One range for all ids, a few, and one per sampled id.
        for per_range in [usize::MAX, SAMPLES_PER_RANGE, 7, 1] {
            check(&ids, per_range);
        }
        // Ids that all share a prefix: the merge compares what follows it first.
        let only: Vec<String> = ids
            .iter()
            .filter(|id| id.starts_with("ORD-250112-"))
            .cloned()
            .collect();
        check(&only, 1);
    }

    #[test]
    fn ids_that_share_part_of_a_character_come_back_whole() {
        // Ä is C3 84 and Ö is C3 96: front-coded one after the other in one
        // partition, the shared prefix ends inside the character.
        let a = (0..10_000).map(|n| format!("Ä{n}"));
        let pair = a
            .flat_map(|x| (0..100).map(move |m| (x.clone(), format!("Ö{m}"))))
            .find(|(x, y)| partition_of(x.as_bytes()).0 == partition_of(y.as_bytes()).0)
            .expect("two ids in one partition");
        let ids = vec![pair.0, pair.1];
        check(&ids, 1);
    }

    fn check(ids: &[String], per_range: usize) {
        let tmp = tempfile::tempdir().unwrap();
        let spill = tmp.path().join(".journeys");
        let mut spilled = Vec::new();
        for service in 0..2u16 {
            let mut s = Spill::new(&spill, service).unwrap();
            // Small chunks, so each partition's records are in many chunks
            // between other partitions' ones.
            s.chunk = 64;
            for (i, id) in ids.iter().enumerate() {
                let level = if i % 7 == 0 && service == 1 {
                    Level::Error
                } else {
                    Level::Info
                };
                let e = event(service, id, 1_000 * i as i64 + i64::from(service), level);
                // Through a batch, as the encoder feeds the spill.
                let mut b = crate::batch::Batch::with_capacity(1);
                b.push(&e);
                s.add(&b.facts(0, service)).unwrap();
            }
            spilled.push(s.finish().unwrap());
        }
        let out = tmp.path().join("journeys.csv");
        let services = vec!["upg".to_string(), "order-orchestrator".to_string()];
        let counts = build_in_ranges(&spill, spilled, &services, &[], &out, per_range).unwrap();
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
        // Every row folds both services' records of its order, at their times.
        let index: std::collections::HashMap<&str, usize> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        let iso = |t: Millis| {
            let mut s = String::new();
            crate::push_iso_ms(&mut s, t);
            s
        };
        let mut r = csv::Reader::from_path(&out).unwrap();
        for row in r.records() {
            let row = row.unwrap();
            let i = index[&row[0]] as i64;
            assert_eq!(&row[1], iso(1_000 * i), "{row:?}");
            assert_eq!(&row[2], iso(1_000 * i + 1), "{row:?}");
            assert_eq!(&row[3], "2", "{row:?}");
            assert_eq!(&row[4], "upg+order-orchestrator", "{row:?}");
            assert_eq!(&row[5], format!("PAY-{}", &row[0]), "{row:?}");
        }
        assert!(!spill.exists(), "the spill is removed");
    }
}
