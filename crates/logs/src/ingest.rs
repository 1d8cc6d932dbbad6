//! Ingestion: every file of every service read (decompressed, CRI-unwrapped,
//! format detected), parsed, classified and merged by time; events written to
//! Parquet in chunks, bad lines to the quarantine, and the per-minute
//! timeline and per-order journeys built on the way. Memory stays bounded by
//! the chunk size, the timeline and the journeys, not by the input.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::File;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::batch::Batch;
use crate::classify::Classifier;
use crate::input::{self, Compression};
use crate::journey::{JourneyCounts, Spill, Spilled};
use crate::parse::{self, Bad, CriJoiner, DockerJoiner, Format, LineParser, Parsed, Settings};
use crate::record::Record;
use crate::timeline::Timeline;
use crate::ts::Millis;
use crate::LogsError;

/// One service's logs.
#[derive(Debug, Clone)]
pub struct Source {
    /// Service name.
    pub service: String,
    /// Its files (or `-` for standard input).
    pub files: Vec<PathBuf>,
    /// Format; `None` detects it per file.
    pub format: Option<Format>,
    /// Parser settings.
    pub settings: Settings,
}

/// Options of [`ingest`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Where events, timeline and journeys go (`evidence/logs`).
    pub out: PathBuf,
    /// Where bad lines go (`evidence/quarantine`).
    pub quarantine: PathBuf,
    /// Timeline bucket in milliseconds.
    pub bucket_ms: i64,
    /// Rows per Parquet chunk file.
    pub chunk_rows: usize,
    /// Rows per row group of a chunk file, at most `chunk_rows`: the batch
    /// a reader fills while the encoder writes the last ([`GROUP_ROWS`]).
    pub group_rows: usize,
    /// Codec of the Parquet chunks.
    pub compression: sidik_core::config::ParquetCompression,
    /// Paths in reports are shown relative to this folder.
    pub base: PathBuf,
    /// Bytes read so far, all services together, for a progress display.
    pub progress: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    /// The incident window (UTC ms, end exclusive): events are kept
    /// whatever their time, and counted inside it, so a window that misses
    /// the data is said.
    pub window: Option<(Millis, Millis)>,
}

/// What happened to one file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileReport {
    /// Service.
    pub service: String,
    /// Path as shown to people.
    pub path: String,
    /// Detected or configured format.
    pub format: String,
    /// The format with what it implies (the `log_line_prefix` tried, the
    /// payloads' format): what to compare with the file when lines are set aside.
    pub read_as: String,
    /// Compression found by magic bytes.
    pub compression: Compression,
    /// Lines wrapped by a container runtime.
    pub cri: bool,
    /// Lines wrapped by docker's json-file log driver.
    pub docker: bool,
    /// Physical lines read.
    pub lines: u64,
    /// Records parsed.
    pub events: u64,
    /// Lines set aside.
    pub quarantined: u64,
    /// A read error that cut the file short (a truncated gzip member): everything before it was kept.
    pub cut_short: Option<String>,
    /// The first line set aside: `line N: reason`.
    pub first_set_aside: Option<String>,
    /// The earliest and latest event time (UTC ms).
    pub span: Option<(Millis, Millis)>,
    /// Events inside the incident window, when there is one.
    pub in_window: Option<u64>,
    /// How each latency key was read: its unit, why, and a suspicion when
    /// its values do not look like that unit.
    pub latency_keys: Vec<crate::record::LatencyKey>,
}

impl FileReport {
    /// Whether more than 1 % of its lines were set aside: the format or
    /// prefix is probably not the file's.
    pub fn mostly_unread(&self) -> bool {
        self.quarantined * 100 > self.lines
    }
}

/// A file or path that was not read, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NotRead {
    /// Service.
    pub service: String,
    /// The file, or the configured path or glob that matched nothing.
    pub path: String,
    /// Why (`no file matches`, `Permission denied (os error 13)` …).
    pub reason: String,
}

/// What [`ingest`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// Per file.
    pub files: Vec<FileReport>,
    /// Events per service.
    pub events: BTreeMap<String, u64>,
    /// Lines set aside per service.
    pub quarantined: BTreeMap<String, u64>,
    /// Bytes read (decompressed).
    pub bytes: u64,
    /// Files written.
    pub outputs: Vec<PathBuf>,
    /// Files and paths that were not read: the ingest is partial while this
    /// is not empty (every other file and service was read).
    pub not_read: Vec<NotRead>,
}

impl Summary {
    /// Whether something was left out: a file not read, or one cut short.
    pub fn is_partial(&self) -> bool {
        !self.not_read.is_empty() || self.files.iter().any(|f| f.cut_short.is_some())
    }

    /// Services that were read and yielded no event at all: their format is
    /// wrong, or their files hold no log.
    pub fn empty_services(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|(s, n)| **n == 0 && self.files.iter().any(|f| &f.service == *s))
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// What a person must hear about this ingest, each a sentence that says
    /// what happened, where, and what to do: files with more than 1 % of
    /// their lines set aside (with the format or prefix tried and the first
    /// reason), services that yielded nothing, and events that miss the window.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for f in self.files.iter().filter(|f| f.mostly_unread()) {
            out.push(format!(
                "{} `{}`: {} of {} lines set aside ({:.1} %) reading it as {}; first: {}. If that is not the file's format, set `format` (and `line_prefix`) for `{}` in incident.toml; the lines are in evidence/quarantine/{}.jsonl",
                f.service,
                f.path,
                f.quarantined,
                f.lines,
                f.quarantined as f64 * 100.0 / f.lines.max(1) as f64,
                f.read_as,
                f.first_set_aside.as_deref().unwrap_or("-"),
                f.service,
                f.service
            ));
        }
        for f in &self.files {
            for k in f.latency_keys.iter().filter(|k| k.suspect.is_some()) {
                out.push(format!(
                    "{} `{}`: latency key `{}` was read in {} ({}), but {}; if so, say its unit in incident.toml: units = {{ {} = \"s\" }} (s, ms, us, ns) for `{}`",
                    f.service,
                    f.path,
                    k.key,
                    k.unit.as_str(),
                    match k.from {
                        crate::record::UnitFrom::Configured => "as configured",
                        crate::record::UnitFrom::KeyName => "by its name",
                        crate::record::UnitFrom::Default => "nothing said otherwise",
                    },
                    k.suspect.as_deref().unwrap_or(""),
                    k.key,
                    f.service
                ));
            }
        }
        for s in self.empty_services() {
            out.push(format!(
                "{s}: no event could be read from its files; check their format in incident.toml (`sidik check` shows what each file is read as)"
            ));
        }
        let stamp = |ms: Millis| {
            chrono::DateTime::from_timestamp_millis(ms)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_else(|| ms.to_string())
        };
        let mut services: Vec<&str> = self.files.iter().map(|f| f.service.as_str()).collect();
        services.dedup();
        for s in services {
            let files: Vec<&FileReport> = self.files.iter().filter(|f| f.service == s).collect();
            let inside: Option<u64> = files.iter().map(|f| f.in_window).sum();
            let span = files.iter().filter_map(|f| f.span).fold(
                None,
                |acc: Option<(Millis, Millis)>, (a, b)| {
                    Some(acc.map_or((a, b), |(x, y)| (x.min(a), y.max(b))))
                },
            );
            if let (Some(0), Some((a, b))) = (inside, span) {
                out.push(format!(
                    "{s}: none of its events falls inside the incident window; they run from {} to {}. Check `[incident.window]` and the timezone in incident.toml (events are kept, but the analysis looks at the window)",
                    stamp(a),
                    stamp(b)
                ));
            }
        }
        out
    }
}

/// Everything an ingest builds.
pub struct Ingest {
    /// Per-file and per-service counts.
    pub summary: Summary,
    /// The timeline.
    pub timeline: Timeline,
    /// Orders with a journey in `journeys.csv`.
    pub journeys: JourneyCounts,
    /// Templates per service.
    pub patterns: Vec<(String, PatternRows)>,
}

pub use crate::record::Event;

struct FileStream {
    reader: Box<dyn BufRead + Send>,
    lines: LineSink,
    /// The start of a line the last buffer cut off.
    carry: Vec<u8>,
    pending: std::collections::VecDeque<Parsed>,
    done: bool,
    replay: std::collections::VecDeque<Vec<u8>>,
    window: Option<(Millis, Millis)>,
}

/// A container wrapper around each line.
enum Unwrap {
    /// Kubernetes' CRI lines.
    Cri(CriJoiner),
    /// Docker's json-file driver.
    Docker(DockerJoiner),
}

impl Unwrap {
    fn feed(
        &mut self,
        no: u64,
        text: &[u8],
        tz: chrono_tz::Tz,
    ) -> Result<Option<parse::CriRecord>, String> {
        match self {
            Unwrap::Cri(j) => j.feed(no, text, tz),
            Unwrap::Docker(j) => j.feed(no, text, tz),
        }
    }

    fn finish(&mut self) -> Option<(u64, Vec<u8>)> {
        match self {
            Unwrap::Cri(j) => j.finish(),
            Unwrap::Docker(j) => j.finish(),
        }
    }
}

/// Where lines go: the parser, with what it needs to know about the file.
struct LineSink {
    parser: Box<dyn LineParser>,
    cri: Option<Unwrap>,
    tz: chrono_tz::Tz,
    line_no: u64,
    report: FileReport,
    /// Reused buffer for what one line yields.
    out: Vec<Parsed>,
}

impl LineSink {
    /// Parses one physical line (its end of line still attached or not).
    fn feed(&mut self, l: &[u8], bytes: &mut u64) {
        let l = trimmed(l);
        *bytes += l.len() as u64 + 1;
        self.line_no += 1;
        self.report.lines += 1;
        if l.iter().all(|b| b.is_ascii_whitespace()) {
            return;
        }
        match self.cri.as_mut() {
            None => self.parser.line(self.line_no, l, None, &mut self.out),
            Some(c) => match c.feed(self.line_no, l, self.tz) {
                Ok(Some((no, inner, t))) => self.parser.line(no, &inner, t, &mut self.out),
                Ok(None) => {}
                Err(reason) => self
                    .out
                    .push(Parsed::Bad(Bad::new(self.line_no, reason, l))),
            },
        }
    }

    /// Ends the file: a container-runtime record left open, and the parser's last record.
    fn finish(&mut self) {
        if let Some((no, partial)) = self.cri.as_mut().and_then(|c| c.finish()) {
            self.out.push(Parsed::Bad(Bad::new(
                no,
                "partial container record never completed (its last piece never ended the line)",
                &partial,
            )));
        }
        self.parser.finish(&mut self.out);
    }
}

impl FileStream {
    fn open(
        service: &str,
        path: &Path,
        shown: String,
        format: &Option<Format>,
        settings: &Settings,
        window: Option<(Millis, Millis)>,
    ) -> Result<FileStream, LogsError> {
        let (mut reader, compression) = input::open(path).map_err(|e| LogsError::Io {
            action: "read",
            path: path.to_path_buf(),
            source: e,
        })?;
        // Sample the first lines to detect CRI wrapping and the format.
        // The sample is bounded: each line's head only, and no more lines
        // once 8 MiB were read (a 50 MB line is replayed, not copied again).
        let mut replay = std::collections::VecDeque::new();
        let mut sample = Vec::new();
        let mut sampled = 0;
        while sample.len() < 50 && sampled < 8 << 20 {
            let mut l = Vec::new();
            match reader.read_until(b'\n', &mut l) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    sampled += n;
                    let t = trimmed(&l);
                    sample.push(String::from_utf8_lossy(&t[..t.len().min(64 << 10)]).into_owned());
                    replay.push_back(l);
                }
            }
        }
        let most = |f: fn(&str) -> bool| {
            sample
                .iter()
                .filter(|l| !l.is_empty())
                .take(10)
                .filter(|l| f(l))
                .count()
                * 2
                > sample.iter().filter(|l| !l.is_empty()).take(10).count()
        };
        let cri = most(parse::is_cri);
        let docker = !cri && most(parse::is_docker);
        let unwrap = || {
            if cri {
                Some(Unwrap::Cri(CriJoiner::default()))
            } else if docker {
                Some(Unwrap::Docker(DockerJoiner::default()))
            } else {
                None
            }
        };
        // The lines as the parser sees them, unwrapped.
        let inner: Vec<String> = match unwrap() {
            Some(mut j) => sample
                .iter()
                .enumerate()
                .filter_map(|(i, l)| j.feed(i as u64, l.as_bytes(), settings.tz).ok().flatten())
                .map(|(_, b, _)| String::from_utf8_lossy(&b).into_owned())
                .collect(),
            None => sample.clone(),
        };
        let format = match format {
            Some(f) => f.clone(),
            None => parse::detect(&inner),
        };
        let parser = parse::parser(&format, settings.clone())
            .map_err(|e| LogsError::Config(format!("{shown}: {e}")))?;
        Ok(FileStream {
            reader,
            lines: LineSink {
                parser,
                cri: unwrap(),
                tz: settings.tz,
                line_no: 0,
                report: FileReport {
                    service: service.to_string(),
                    path: shown,
                    format: format.name().to_string(),
                    read_as: match parse::dialect(&inner, &format) {
                        Some(d) => format!("{} ({d})", format.describe()),
                        None => format.describe(),
                    },
                    compression,
                    cri,
                    docker,
                    lines: 0,
                    events: 0,
                    quarantined: 0,
                    cut_short: None,
                    first_set_aside: None,
                    span: None,
                    in_window: window.map(|_| 0),
                    latency_keys: Vec::new(),
                },
                out: Vec::with_capacity(64),
            },
            carry: Vec::new(),
            pending: Default::default(),
            done: false,
            replay,
            window,
        })
    }

    fn report(&mut self) -> &mut FileReport {
        &mut self.lines.report
    }

    /// The next event of this file (file `file` of service `service`),
    /// classified; bad lines on the way are counted and kept in `quarantine`.
    fn next_event(
        &mut self,
        service: u16,
        file: u32,
        classifier: &Classifier,
        quarantine: &mut Quarantine,
        bytes: &mut u64,
    ) -> Result<Option<Event>, LogsError> {
        while let Some(p) = self.next(bytes) {
            match p {
                Parsed::Rec(rec, line) => {
                    let window = self.window;
                    let r = self.report();
                    r.events += 1;
                    if let Some(t) = rec.time {
                        r.span = Some(r.span.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
                        if let (Some(n), Some((start, end))) = (r.in_window.as_mut(), window) {
                            *n += u64::from(t >= start && t < end);
                        }
                    }
                    let class = classifier.classify(&rec);
                    return Ok(Some(Event {
                        service,
                        file,
                        line,
                        rec,
                        class,
                    }));
                }
                Parsed::Bad(b) => {
                    let r = self.report();
                    r.quarantined += 1;
                    if r.first_set_aside.is_none() {
                        r.first_set_aside = Some(format!("line {}: {}", b.line, b.reason));
                    }
                    quarantine.keep(&self.lines.report.path, &b)?;
                }
            }
        }
        Ok(None)
    }

    /// The next parsed item, reading as many lines as needed.
    fn next(&mut self, bytes: &mut u64) -> Option<Parsed> {
        loop {
            if let Some(p) = self.pending.pop_front() {
                return Some(p);
            }
            if self.done {
                return None;
            }
            self.fill(bytes);
            self.pending.extend(self.lines.out.drain(..));
        }
    }

    /// Ends the input (its end, or a read error): the last, unterminated
    /// line, then whatever the parser still holds.
    fn end(&mut self, bytes: &mut u64) {
        if !self.carry.is_empty() {
            let carry = std::mem::take(&mut self.carry);
            self.lines.feed(&carry, bytes);
        }
        self.lines.finish();
        self.done = true;
    }

    /// Parses the lines of one buffer's worth of input into `lines.out`:
    /// complete lines are read where they lie in the reader's buffer, only a
    /// line the buffer cuts in two is copied.
    fn fill(&mut self, bytes: &mut u64) {
        if let Some(l) = self.replay.pop_front() {
            if l.ends_with(b"\n") {
                self.lines.feed(&l, bytes);
            } else {
                // The sample reached the end of the file in the middle of a line.
                self.carry = l;
            }
            return;
        }
        let buf = match self.reader.fill_buf() {
            Ok([]) => return self.end(bytes),
            Ok(buf) => buf,
            Err(e) => {
                self.lines.report.cut_short =
                    Some(format!("read error after line {}: {e}", self.lines.line_no));
                return self.end(bytes);
            }
        };
        let n = buf.len();
        let mut start = 0;
        if !self.carry.is_empty() {
            match memchr::memchr(b'\n', buf) {
                Some(i) => {
                    self.carry.extend_from_slice(&buf[..i]);
                    let carry = std::mem::take(&mut self.carry);
                    self.lines.feed(&carry, bytes);
                    self.carry = carry;
                    self.carry.clear();
                    // One huge line does not keep its memory for the rest of the file.
                    if self.carry.capacity() > 4 << 20 {
                        self.carry.shrink_to(64 << 10);
                    }
                    start = i + 1;
                }
                None => {
                    self.carry.extend_from_slice(buf);
                    self.reader.consume(n);
                    return;
                }
            }
        }
        // At most LINES_PER_FILL lines at a time: the records they make are
        // handed back to the parser before it makes more, so it can reuse
        // them instead of allocating (a 1 MiB buffer holds thousands of lines).
        let base = start;
        for (k, i) in memchr::memchr_iter(b'\n', &buf[base..]).enumerate() {
            self.lines.feed(&buf[start..base + i], bytes);
            start = base + i + 1;
            if k + 1 == LINES_PER_FILL {
                self.reader.consume(start);
                return;
            }
        }
        self.carry.extend_from_slice(&buf[start..]);
        self.reader.consume(n);
    }
}

/// What the first lines of a file are read as: for `sidik check`.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The format (detected, or configured) with what it implies.
    pub read_as: String,
    /// Lines wrapped by a container runtime.
    pub cri: bool,
    /// Lines wrapped by docker's json-file log driver.
    pub docker: bool,
    /// Records read from the first lines.
    pub records: u64,
    /// Lines set aside among them.
    pub set_aside: u64,
    /// The first record read.
    pub sample: Option<Record>,
    /// The first line set aside: `line N: reason`.
    pub first_bad: Option<String>,
}

/// Reads the first `lines` lines of `file` as the ingest would.
pub fn probe(src: &Source, file: &Path, lines: u64) -> Result<Probe, LogsError> {
    let shown = file.to_string_lossy().into_owned();
    let mut s = FileStream::open(&src.service, file, shown, &src.format, &src.settings, None)?;
    let mut bytes = 0;
    let mut p = Probe {
        read_as: s.lines.report.read_as.clone(),
        cri: s.lines.report.cri,
        docker: s.lines.report.docker,
        records: 0,
        set_aside: 0,
        sample: None,
        first_bad: None,
    };
    while let Some(x) = s.next(&mut bytes) {
        let at = match &x {
            Parsed::Rec(_, n) => *n,
            Parsed::Bad(b) => b.line,
        };
        if at > lines {
            break;
        }
        match x {
            Parsed::Rec(r, _) => {
                p.records += 1;
                if p.sample.is_none() {
                    p.sample = Some(*r);
                }
            }
            Parsed::Bad(b) => {
                p.set_aside += 1;
                if p.first_bad.is_none() {
                    p.first_bad = Some(format!("line {}: {}", b.line, b.reason));
                }
            }
        }
    }
    Ok(p)
}

/// A service's quarantine file, created with its first bad line.
struct Quarantine {
    path: PathBuf,
    file: Option<BufWriter<File>>,
}

impl Quarantine {
    /// Keeps bad line `b` of the file shown as `file`.
    fn keep(&mut self, file: &str, b: &Bad) -> Result<(), LogsError> {
        let path = &self.path;
        let q = match &mut self.file {
            Some(q) => q,
            slot => slot.insert(BufWriter::new(
                File::create(path).map_err(crate::io("create", path))?,
            )),
        };
        // A line set aside is kept as it was, but for the secrets it may
        // quote (a connection string, a statement with a password).
        let text = crate::parse::redact_line(&b.text);
        let entry =
            serde_json::json!({"file": file, "line": b.line, "reason": b.reason, "text": text});
        writeln!(q, "{entry}").map_err(crate::io("write", path))
    }

    /// Writes what is buffered; the file's path, if there was a bad line.
    fn finish(self) -> Result<Option<PathBuf>, LogsError> {
        let Some(mut q) = self.file else {
            return Ok(None);
        };
        q.flush().map_err(crate::io("write", &self.path))?;
        Ok(Some(self.path))
    }
}

/// Lines parsed per call of `FileStream::fill`; fewer than the records a
/// JSON parser keeps for reuse.
const LINES_PER_FILL: usize = 256;

/// A line without its line ending.
fn trimmed(mut l: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r'] = l {
        l = rest;
    }
    l
}

/// Rows of an events Parquet file by default (about 30 MB with LZ4): few
/// files, each in row groups of [`GROUP_ROWS`], so memory does not depend on it.
pub const CHUNK_ROWS: usize = 1_000_000;

/// Rows of a Parquet row group by default: a batch. Smaller than a chunk
/// file, so the batches in flight (one filling, one encoding, per service)
/// stay small: with 100,000-row batches they took 100 MB more memory and, on
/// a machine where fresh memory is slow to touch, a tenth more time.
pub const GROUP_ROWS: usize = 25_000;

/// Hands full batches of events to the encoder thread: a batch is a row
/// group, and `chunk` rows make a file.
struct ChunkWriter {
    rows: Batch,
    /// Rows of the batch being filled when it is sent.
    limit: usize,
    /// Rows per chunk file.
    chunk: usize,
    /// Rows per row group.
    group: usize,
    /// Rows sent for the current file.
    in_file: usize,
    tx: std::sync::mpsc::SyncSender<Batch>,
    back: std::sync::mpsc::Receiver<Batch>,
}

impl ChunkWriter {
    fn new(
        chunk: usize,
        group: usize,
        tx: std::sync::mpsc::SyncSender<Batch>,
        back: std::sync::mpsc::Receiver<Batch>,
    ) -> ChunkWriter {
        let chunk = chunk.max(1);
        let group = group.clamp(1, chunk);
        ChunkWriter {
            rows: Batch::with_capacity(group),
            limit: group,
            group,
            chunk,
            in_file: 0,
            tx,
            back,
        }
    }

    /// Adds one event; `false` when the encoder has stopped (its error says why).
    fn push(&mut self, e: &Event) -> bool {
        self.rows.push(e);
        if self.rows.len() >= self.limit {
            let next = match self.back.try_recv() {
                Ok(mut b) => {
                    b.clear();
                    b
                }
                Err(_) => Batch::with_capacity(self.limit),
            };
            // The next batch ends where the file does, so files hold `chunk` rows.
            self.in_file = (self.in_file + self.limit) % self.chunk;
            self.limit = (self.chunk - self.in_file).min(self.group);
            let full = std::mem::replace(&mut self.rows, next);
            return self.tx.send(full).is_ok();
        }
        true
    }

    /// Sends what is left; `false` when the encoder has stopped.
    fn close(self) -> bool {
        self.rows.is_empty() || self.tx.send(self.rows).is_ok()
    }
}

/// Encodes batches of events into Parquet chunk files, on its own thread.
struct Encoder {
    dir: PathBuf,
    service: String,
    /// Number of the next file.
    chunk: usize,
    /// Rows per file.
    chunk_rows: usize,
    /// The file being written.
    open: Option<crate::batch::ChunkFile>,
    written: Vec<PathBuf>,
    /// Index of the service.
    idx: u16,
    /// The service's templates, timeline and journey spill, fed from the
    /// batches here so the reader only reads, parses and classifies.
    patterns: crate::patterns::Patterns,
    timeline: Timeline,
    journeys: Spill,
    /// Room to join a message and its error.
    text: String,
    files: Vec<String>,
    classes: Vec<String>,
    compression: sidik_core::config::ParquetCompression,
    /// Warnings and errors no class claims.
    unclaimed: crate::patterns::Unclaimed,
}

impl Encoder {
    fn path(&self) -> PathBuf {
        self.dir
            .join(format!("events-{}-{:04}.parquet", self.service, self.chunk))
    }

    /// Writes a batch as a row group of the current file, and closes the
    /// file when it holds `chunk_rows` rows.
    fn write(&mut self, rows: &mut Batch) -> Result<(), LogsError> {
        if rows.is_empty() {
            return Ok(());
        }
        for i in 0..rows.len() {
            let f = rows.facts(i, self.idx);
            let (file, line) = rows.place(i);
            let id = self.patterns.add(
                rows.mined(i, &mut self.text),
                f.class,
                f.time,
                &self.files[file as usize],
                line,
                f.level.is_some_and(|l| l >= crate::record::Level::Error),
            );
            if f.class.is_none() && f.level.is_some_and(|l| l >= crate::record::Level::Warn) {
                let b = f.time.div_euclid(self.timeline.bucket_ms) * self.timeline.bucket_ms;
                *self.unclaimed.entry((b, id)).or_default() += 1;
            }
            self.timeline.add(&f);
            self.journeys.add(&f)?;
            rows.set_template(i, id);
        }
        let path = self.path();
        let names = crate::batch::Names {
            service: &self.service,
            classes: &self.classes,
            files: &self.files,
        };
        crate::batch::write(&mut self.open, &path, rows, &names, self.compression)
            .map_err(|e| LogsError::Parquet(format!("{}: {e}", path.display())))?;
        if self
            .open
            .as_ref()
            .is_some_and(|f| f.rows() >= self.chunk_rows)
        {
            self.close()?;
        }
        Ok(())
    }

    /// Closes the current file, if one is open.
    fn close(&mut self) -> Result<(), LogsError> {
        if let Some(f) = self.open.take() {
            let path = self.path();
            f.finish()
                .map_err(|e| LogsError::Parquet(format!("{}: {e}", path.display())))?;
            self.written.push(path);
            self.chunk += 1;
        }
        Ok(())
    }
}

/// Ingests every source. `progress` is called with bytes read so far.
pub fn ingest(
    sources: &[Source],
    classifier: &Classifier,
    opts: &Options,
) -> Result<Ingest, LogsError> {
    let mut stale = Vec::new();
    for d in [&opts.out, &opts.quarantine] {
        std::fs::create_dir_all(d).map_err(|e| LogsError::Io {
            action: "create folder",
            path: d.clone(),
            source: e,
        })?;
        stale.extend(set_aside(d));
    }
    // Deleting large files frees their pages, which took 40 ms of a 1.27 GB
    // re-ingest; done here, it overlaps the start of reading.
    let removal = std::thread::Builder::new()
        .name("remove old".into())
        .spawn(move || {
            for d in stale {
                let _ = std::fs::remove_dir_all(d);
            }
        });
    let names: Vec<String> = sources.iter().map(|s| s.service.clone()).collect();
    let spill = opts.out.join(".journeys");
    let _ = std::fs::remove_dir_all(&spill);
    let results: Vec<Result<(ServiceResult, Encoded), LogsError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = sources
            .iter()
            .enumerate()
            .map(|(i, s)| {
                // Named, so profilers and `top -H` show which service a thread reads.
                std::thread::Builder::new()
                    .name(format!("read {}", s.service))
                    .spawn_scoped(scope, move || ingest_service(i as u16, s, classifier, opts))
                    .expect("a thread can be started")
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("ingest thread panicked"))
            .collect()
    });
    let mut summary = Summary {
        files: Vec::new(),
        events: BTreeMap::new(),
        quarantined: BTreeMap::new(),
        bytes: 0,
        outputs: Vec::new(),
        not_read: Vec::new(),
    };
    let mut timeline = Timeline::new(opts.bucket_ms, names.clone(), classifier.names());
    let mut patterns = Vec::new();
    let mut spilled = Vec::with_capacity(results.len());
    let mut unclaimed = Vec::new();
    for (si, r) in results.into_iter().enumerate() {
        let (r, encoded) = r?;
        unclaimed.push((si as u16, encoded.unclaimed));
        summary
            .events
            .insert(r.service.clone(), r.files.iter().map(|f| f.events).sum());
        summary.quarantined.insert(
            r.service.clone(),
            r.files.iter().map(|f| f.quarantined).sum(),
        );
        summary.bytes += r.bytes;
        summary.files.extend(r.files);
        summary.not_read.extend(r.not_read);
        summary.outputs.extend(r.outputs);
        timeline.merge(encoded.timeline);
        patterns.push((r.service, encoded.patterns));
        spilled.push(encoded.spilled);
    }
    crate::patterns::template_classes(&mut timeline, &mut patterns, unclaimed);
    let class_names = classifier.names();
    let jpath = opts.out.join("journeys.csv");
    let journeys = crate::journey::build(&spill, spilled, &names, &class_names, &jpath)?;
    summary.outputs.push(jpath);
    if let Ok(r) = removal {
        let _ = r.join();
    }
    Ok(Ingest {
        summary,
        timeline,
        journeys,
        patterns,
    })
}

/// Moves what an earlier ingest wrote into `dir` (events, journeys, bad
/// lines) into a hidden folder there, and returns the folders to remove:
/// that one and any an interrupted ingest left. Renaming is quick; the
/// caller deletes them on another thread.
fn set_aside(dir: &Path) -> Vec<PathBuf> {
    let trash = dir.join(format!(".replaced-{}", std::process::id()));
    let mut stale = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return stale;
    };
    for e in entries.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with(".replaced-") {
            stale.push(e.path());
        } else if n.starts_with("events-") || n.ends_with(".jsonl") || n == "journeys.csv" {
            if !stale.contains(&trash) {
                let _ = std::fs::create_dir(&trash);
                stale.push(trash.clone());
            }
            // Where it cannot be moved, it is deleted here.
            if std::fs::rename(e.path(), trash.join(&n)).is_err() {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    // The new folder may have been listed too.
    stale.sort();
    stale.dedup();
    stale
}

/// What a service's encoder thread made besides its Parquet files' rows.
struct Encoded {
    written: Vec<PathBuf>,
    timeline: Timeline,
    patterns: PatternRows,
    spilled: Spilled,
    unclaimed: crate::patterns::Unclaimed,
}

struct ServiceResult {
    service: String,
    files: Vec<FileReport>,
    bytes: u64,
    outputs: Vec<PathBuf>,
    not_read: Vec<NotRead>,
}

/// Templates of one service: (id, class, template, stats).
pub type PatternRows = Vec<crate::patterns::Row>;

fn ingest_service(
    idx: u16,
    src: &Source,
    classifier: &Classifier,
    opts: &Options,
) -> Result<(ServiceResult, Encoded), LogsError> {
    let shown = |p: &Path| {
        p.strip_prefix(&opts.base)
            .unwrap_or(p)
            .to_string_lossy()
            .replace('\\', "/")
    };
    let mut streams = Vec::new();
    let mut not_read = Vec::new();
    for f in &src.files {
        // A file that cannot be opened is reported; the others are read.
        match FileStream::open(
            &src.service,
            f,
            shown(f),
            &src.format,
            &src.settings,
            opts.window,
        ) {
            Ok(s) => streams.push(s),
            Err(LogsError::Io { source, .. }) => not_read.push(NotRead {
                service: src.service.clone(),
                path: shown(f),
                reason: source.to_string(),
            }),
            Err(e) => return Err(e),
        }
    }
    let files: Vec<String> = streams
        .iter()
        .map(|s| s.lines.report.path.clone())
        .collect();
    // The encoder thread mines templates, counts the timeline, spills the
    // journeys and writes Parquet from each batch while the reader fills the next.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(0);
    let (back_tx, back) = std::sync::mpsc::channel();
    let writer = ChunkWriter::new(opts.chunk_rows, opts.group_rows, tx, back);
    let mut encoder = Encoder {
        dir: opts.out.clone(),
        service: src.service.clone(),
        chunk: 0,
        chunk_rows: opts.chunk_rows.max(1),
        open: None,
        written: Vec::new(),
        idx,
        patterns: crate::patterns::Patterns::new(),
        text: String::new(),
        timeline: Timeline::new(
            opts.bucket_ms,
            vec![String::new(); idx as usize + 1],
            classifier.names(),
        ),
        journeys: Spill::new(&opts.out.join(".journeys"), idx)?,
        files,
        compression: opts.compression,
        classes: classifier.names(),
        unclaimed: Default::default(),
    };
    std::thread::scope(|scope| {
        let enc = std::thread::Builder::new()
            .name(format!("encode {}", src.service))
            .spawn_scoped(scope, move || -> Result<Encoded, LogsError> {
                // The batch goes back to the reader, which clears and refills it.
                for mut batch in rx {
                    encoder.write(&mut batch)?;
                    let _ = back_tx.send(batch);
                }
                encoder.close()?;
                let spilled = encoder.journeys.finish()?;
                let patterns = encoder
                    .patterns
                    .rows()
                    .into_iter()
                    .map(|(id, c, t, p)| (id, c.map(|c| encoder.classes[c as usize].clone()), t, p))
                    .collect();
                Ok(Encoded {
                    written: encoder.written,
                    timeline: encoder.timeline,
                    patterns,
                    spilled,
                    unclaimed: encoder.unclaimed,
                })
            })
            // As `scope.spawn` does, a thread the system cannot start is a panic.
            .expect("a thread can be started");
        let read = read_service(idx, src, classifier, opts, streams, writer);
        let written = enc.join().expect("Parquet encoder thread panicked");
        // The encoder's own error explains a read that stopped because it went away.
        let encoded = written?;
        let mut r = read?;
        r.outputs.splice(0..0, encoded.written.iter().cloned());
        r.not_read = not_read;
        Ok((r, encoded))
    })
}

/// Reads, merges and normalises one service's files; events go to `writer`.
fn read_service(
    idx: u16,
    src: &Source,
    classifier: &Classifier,
    opts: &Options,
    mut streams: Vec<FileStream>,
    mut writer: ChunkWriter,
) -> Result<ServiceResult, LogsError> {
    let mut quarantine = Quarantine {
        path: opts.quarantine.join(format!("{}.jsonl", src.service)),
        file: None,
    };
    let mut bytes = 0u64;
    let mut reported = 0u64;
    let mut progress = |bytes: u64| {
        if let Some(p) = &opts.progress {
            if bytes - reported >= 1 << 20 {
                p.fetch_add(bytes - reported, std::sync::atomic::Ordering::Relaxed);
                reported = bytes;
            }
        }
    };
    let stopped = || LogsError::Parquet("the Parquet encoder stopped".into());
    if let [s] = streams.as_mut_slice() {
        // One file needs no merge: each record goes to the writer as it comes.
        while let Some(e) = s.next_event(idx, 0, classifier, &mut quarantine, &mut bytes)? {
            if !writer.push(&e) {
                return Err(stopped());
            }
            s.lines.parser.recycle(e.rec);
            progress(bytes);
        }
    } else {
        // k-way merge by time: one pending event per file.
        let mut heads: Vec<Option<Event>> = (0..streams.len()).map(|_| None).collect();
        let mut heap: BinaryHeap<Reverse<(Millis, usize)>> = BinaryHeap::new();
        let mut advance = |i: usize,
                           streams: &mut Vec<FileStream>,
                           heads: &mut Vec<Option<Event>>,
                           heap: &mut BinaryHeap<Reverse<(Millis, usize)>>,
                           bytes: &mut u64|
         -> Result<(), LogsError> {
            let next = streams[i].next_event(idx, i as u32, classifier, &mut quarantine, bytes)?;
            if let Some(e) = next {
                heap.push(Reverse((e.rec.time.unwrap_or(0), i)));
                heads[i] = Some(e);
            }
            Ok(())
        };
        for i in 0..streams.len() {
            advance(i, &mut streams, &mut heads, &mut heap, &mut bytes)?;
        }
        while let Some(Reverse((_, i))) = heap.pop() {
            let e = heads[i].take().expect("a head for every heap entry");
            if !writer.push(&e) {
                return Err(stopped());
            }
            streams[i].lines.parser.recycle(e.rec);
            progress(bytes);
            advance(i, &mut streams, &mut heads, &mut heap, &mut bytes)?;
        }
    }
    if !writer.close() {
        return Err(stopped());
    }
    let outputs = quarantine.finish()?.into_iter().collect();
    Ok(ServiceResult {
        service: src.service.clone(),
        files: streams
            .into_iter()
            .map(|s| {
                let mut r = s.lines.report;
                r.latency_keys = s.lines.parser.latency_keys();
                r
            })
            .collect(),
        bytes,
        outputs,
        not_read: Vec::new(),
    })
}
