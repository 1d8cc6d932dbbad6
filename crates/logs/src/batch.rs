//! Events gathered column by column, and written to Parquet chunk files, a
//! row group per batch.
//!
//! A reader appends each normalised event to a [`Batch`]: strings are copied
//! into one byte buffer per column, so a full batch is a dozen allocations
//! rather than several per event, and the encoder turns the buffers into
//! Arrow arrays without copying them again. The encoder calls polars' Parquet
//! writer directly so that every column gets the encoding that suits it:
//! low-cardinality columns (service, level, class, file) are dictionary
//! encoded from the indices the reader already has, ids and messages are
//! written plain. Letting polars decide instead meant hashing every string of
//! every column to estimate its cardinality and build a dictionary, which was
//! a fifth of the whole ingest.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use polars::prelude::PlSmallStr;
use polars::prelude::PolarsError;
use polars_arrow::array::{Array, DictionaryArray, PrimitiveArray, Utf8Array};
use polars_arrow::bitmap::Bitmap;
use polars_arrow::datatypes::{ArrowDataType, ArrowSchema, Field, IntegerType, TimeUnit};
use polars_arrow::offset::OffsetsBuffer;
use polars_buffer::Buffer;
use polars_parquet::parquet::error::ParquetError;
use polars_parquet::write::{
    array_to_columns, CompressionOptions, Compressor, DynIter, DynStreamingIterator, Encoding,
    FallibleStreamingIterator, FileWriter, RowGroupIterColumns, StatisticsOptions, Version,
    WriteOptions,
};
use sidik_core::config::ParquetCompression;

use crate::record::Event;
use crate::record::Level;

/// The levels in the order of their dictionary keys (`Level as u8 - 1`).
const LEVELS: [Level; 6] = [
    Level::Trace,
    Level::Debug,
    Level::Info,
    Level::Warn,
    Level::Error,
    Level::Fatal,
];

/// A column of optional strings: one byte buffer, offsets and validity.
#[derive(Debug)]
struct StrCol {
    bytes: Vec<u8>,
    offsets: Vec<i64>,
    valid: Vec<bool>,
    nulls: usize,
}

impl StrCol {
    fn with_capacity(rows: usize, bytes: usize) -> StrCol {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        StrCol {
            bytes: Vec::with_capacity(bytes),
            offsets,
            valid: Vec::with_capacity(rows),
            nulls: 0,
        }
    }

    fn push(&mut self, v: Option<&str>) {
        match v {
            Some(s) => {
                self.bytes.extend_from_slice(s.as_bytes());
                self.valid.push(true);
            }
            None => {
                self.valid.push(false);
                self.nulls += 1;
            }
        }
        self.offsets.push(self.bytes.len() as i64);
    }

    /// Value `i`.
    fn get(&self, i: usize) -> Option<&str> {
        if !self.valid[i] {
            return None;
        }
        let bytes = &self.bytes[self.offsets[i] as usize..self.offsets[i + 1] as usize];
        // SAFETY: every value was appended whole from a `&str`, and offsets
        // fall between values.
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.offsets.clear();
        self.offsets.push(0);
        self.valid.clear();
        self.nulls = 0;
    }

    /// The column as an Arrow array over its lent buffers.
    fn array(&self, lent: &(Buffer<u8>, Buffer<i64>)) -> Box<dyn Array> {
        // SAFETY: offsets start at 0 and only grow, ending at the length of
        // `bytes`; every value was appended whole from a `&str`.
        let offsets = unsafe { OffsetsBuffer::new_unchecked(lent.1.clone()) };
        let validity = (self.nulls > 0).then(|| Bitmap::from(self.valid.as_slice()));
        let array = unsafe {
            Utf8Array::<i64>::new_unchecked(
                ArrowDataType::LargeUtf8,
                offsets,
                lent.0.clone(),
                validity,
            )
        };
        Box::new(array)
    }
}

/// A vector lent to Arrow for one write: the arrays get clones of the
/// buffer, and the vector comes back, with its capacity, once they are gone.
/// So a batch's memory is reused chunk after chunk and never copied.
fn lend<T>(v: &mut Vec<T>) -> Buffer<T> {
    Buffer::from_vec(std::mem::take(v))
}

/// Takes a lent vector back (left empty, to be allocated again, in the
/// unexpected case that something still holds the buffer).
fn take_back<T>(b: Buffer<T>, v: &mut Vec<T>) {
    if let polars_arrow::Either::Right(back) = b.into_mut() {
        *v = back;
    }
}

/// The buffers of a batch while they are lent.
struct Lent {
    time: Buffer<i64>,
    latency: Buffer<f64>,
    status: Buffer<u32>,
    template: Buffer<u64>,
    line: Buffer<u64>,
    /// message, order_id, payment_id, trace_id, error, sqlstate.
    strs: Vec<(Buffer<u8>, Buffer<i64>)>,
}

impl Lent {
    fn take(b: &mut Batch) -> Lent {
        Lent {
            time: lend(&mut b.time),
            latency: lend(&mut b.latency),
            status: lend(&mut b.status),
            template: lend(&mut b.template),
            line: lend(&mut b.line),
            strs: b
                .strs_mut()
                .into_iter()
                .map(|c| (lend(&mut c.bytes), lend(&mut c.offsets)))
                .collect(),
        }
    }

    fn give_back(self, b: &mut Batch) {
        take_back(self.time, &mut b.time);
        take_back(self.latency, &mut b.latency);
        take_back(self.status, &mut b.status);
        take_back(self.template, &mut b.template);
        take_back(self.line, &mut b.line);
        for (c, (bytes, offsets)) in b.strs_mut().into_iter().zip(self.strs) {
            take_back(bytes, &mut c.bytes);
            take_back(offsets, &mut c.offsets);
        }
    }
}

/// Normalised events of one service, column by column.
#[derive(Debug)]
pub struct Batch {
    time: Vec<i64>,
    /// `Level as u8 + 1`, 0 for none.
    level: Vec<u8>,
    message: StrCol,
    order_id: StrCol,
    payment_id: StrCol,
    trace_id: StrCol,
    latency: Vec<f64>,
    latency_valid: Vec<bool>,
    status: Vec<u32>,
    status_valid: Vec<bool>,
    error: StrCol,
    sqlstate: StrCol,
    /// Class index, `u16::MAX` for none.
    class: Vec<u16>,
    template: Vec<u64>,
    file: Vec<u32>,
    line: Vec<u64>,
}

impl Batch {
    /// An empty batch with room for `rows` events.
    pub fn with_capacity(rows: usize) -> Batch {
        Batch {
            time: Vec::with_capacity(rows),
            level: Vec::with_capacity(rows),
            message: StrCol::with_capacity(rows, rows * 24),
            order_id: StrCol::with_capacity(rows, rows * 20),
            payment_id: StrCol::with_capacity(rows, rows * 16),
            trace_id: StrCol::with_capacity(rows, rows * 32),
            latency: Vec::with_capacity(rows),
            latency_valid: Vec::with_capacity(rows),
            status: Vec::with_capacity(rows),
            status_valid: Vec::with_capacity(rows),
            error: StrCol::with_capacity(rows, 0),
            sqlstate: StrCol::with_capacity(rows, 0),
            class: Vec::with_capacity(rows),
            template: Vec::with_capacity(rows),
            file: Vec::with_capacity(rows),
            line: Vec::with_capacity(rows),
        }
    }

    /// Events in the batch.
    pub fn len(&self) -> usize {
        self.time.len()
    }

    /// Whether the batch holds no event.
    pub fn is_empty(&self) -> bool {
        self.time.is_empty()
    }

    /// The string columns, in the order [`Lent`] keeps them.
    fn strs_mut(&mut self) -> [&mut StrCol; 6] {
        [
            &mut self.message,
            &mut self.order_id,
            &mut self.payment_id,
            &mut self.trace_id,
            &mut self.error,
            &mut self.sqlstate,
        ]
    }

    /// Empties the batch, keeping its buffers.
    pub fn clear(&mut self) {
        self.time.clear();
        self.level.clear();
        for c in self.strs_mut() {
            c.clear();
        }
        self.latency.clear();
        self.latency_valid.clear();
        self.status.clear();
        self.status_valid.clear();
        self.class.clear();
        self.template.clear();
        self.file.clear();
        self.line.clear();
    }

    /// Appends one event.
    pub fn push(&mut self, e: &Event) {
        let r = &e.rec;
        self.time.push(r.time.unwrap_or(0));
        self.level.push(r.level.map_or(0, |l| l as u8 + 1));
        self.message.push(Some(&r.message));
        self.order_id.push(r.order_id.as_deref());
        self.payment_id.push(r.payment_id.as_deref());
        self.trace_id.push(r.trace_id.as_deref());
        self.latency.push(r.latency_ms.unwrap_or(0.0));
        self.latency_valid.push(r.latency_ms.is_some());
        self.status.push(r.http_status.map_or(0, u32::from));
        self.status_valid.push(r.http_status.is_some());
        self.error.push(r.error.as_deref());
        self.sqlstate.push(r.sqlstate.as_deref());
        self.class.push(e.class.unwrap_or(u16::MAX));
        // Set by the encoder, which mines the templates.
        self.template.push(0);
        self.file.push(e.file);
        self.line.push(e.line);
    }
}

impl Batch {
    /// The text row `i`'s template is mined from: the message, with the
    /// error when it adds to it (`text` holds the two joined).
    pub fn mined<'a>(&'a self, i: usize, text: &'a mut String) -> &'a str {
        let message = self.message.get(i).unwrap_or_default();
        match self.error.get(i) {
            Some(err) if err != message => {
                text.clear();
                text.push_str(message);
                text.push_str(": ");
                text.push_str(err);
                text
            }
            _ => message,
        }
    }

    /// Index of row `i`'s file, and its line.
    pub fn place(&self, i: usize) -> (u32, u64) {
        (self.file[i], self.line[i])
    }

    /// Sets row `i`'s template id.
    pub fn set_template(&mut self, i: usize, id: u64) {
        self.template[i] = id;
    }

    /// Row `i` as the timeline and the journey spill read it.
    pub fn facts(&self, i: usize, service: u16) -> Facts<'_> {
        Facts {
            service,
            time: self.time[i],
            level: self.level[i]
                .checked_sub(1)
                .and_then(|l| LEVELS.get(l as usize).copied()),
            class: (self.class[i] != u16::MAX).then_some(self.class[i]),
            message: self.message.get(i).unwrap_or_default(),
            error: self.error.get(i),
            order_id: self.order_id.get(i),
            payment_id: self.payment_id.get(i),
            latency_ms: self.latency_valid[i].then_some(self.latency[i]),
            http_status: self.status_valid[i].then_some(self.status[i]),
        }
    }
}

/// What the timeline and the journey spill read of an event.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// Index of the service.
    pub service: u16,
    /// Time (0 when the record had none).
    pub time: crate::ts::Millis,
    /// Level.
    pub level: Option<Level>,
    /// Class index.
    pub class: Option<u16>,
    /// Message.
    pub message: &'a str,
    /// Error text.
    pub error: Option<&'a str>,
    /// Order id.
    pub order_id: Option<&'a str>,
    /// Payment id.
    pub payment_id: Option<&'a str>,
    /// Latency in milliseconds.
    pub latency_ms: Option<f64>,
    /// HTTP status.
    pub http_status: Option<u32>,
}

/// Names of the dictionary columns' values.
pub struct Names<'a> {
    /// The service.
    pub service: &'a str,
    /// Class names by index.
    pub classes: &'a [String],
    /// Files as shown, by index.
    pub files: &'a [String],
}

fn strings<'a>(values: impl IntoIterator<Item = &'a str>) -> Box<dyn Array> {
    Box::new(Utf8Array::<i64>::from_iter_values(values.into_iter()))
}

/// A dictionary column from keys (`None` where null) and its values.
fn dictionary(keys: Vec<u32>, valid: Option<Bitmap>, values: Box<dyn Array>) -> Box<dyn Array> {
    let keys = PrimitiveArray::new(ArrowDataType::UInt32, keys.into(), valid);
    let dtype = ArrowDataType::Dictionary(
        IntegerType::UInt32,
        Box::new(ArrowDataType::LargeUtf8),
        false,
    );
    Box::new(
        DictionaryArray::try_new(dtype, keys, values)
            .expect("dictionary keys are indices into their values"),
    )
}

fn primitive<T: polars_arrow::types::NativeType>(
    dtype: ArrowDataType,
    values: &Buffer<T>,
    valid: Option<&[bool]>,
) -> Box<dyn Array> {
    let validity = valid.filter(|v| v.contains(&false)).map(Bitmap::from);
    Box::new(PrimitiveArray::new(dtype, values.clone(), validity))
}

/// A Parquet chunk file being written, a row group per batch.
pub struct ChunkFile {
    w: FileWriter<BufWriter<File>>,
    /// The schema readers are told (dictionaries shown as strings).
    shown: ArrowSchema,
    rows: usize,
}

impl ChunkFile {
    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Writes the footer and closes the file.
    pub fn finish(mut self) -> Result<(), String> {
        self.w
            .end(Some(vec![polars_parquet::write::schema_to_metadata_key(
                &self.shown,
            )]))
            .map_err(|e| e.to_string())?;
        self.w
            .into_inner()
            .into_inner()
            .map_err(|e| format!("cannot write: {}", e.error()))?;
        Ok(())
    }
}

/// Writes `batch` as one row group of `chunk`, creating the file at `path`
/// first when `chunk` is `None`; its pages are compressed with
/// `compression`: LZ4 (raw) is the fastest to write, zstd level 1 about
/// half the bytes, and every Parquet reader has both.
///
/// The columns are lent to Arrow, not copied, and taken back afterwards: the
/// batch keeps its buffers for the reader to fill again, so memory is
/// reused by the thread that allocated it.
pub fn write(
    chunk: &mut Option<ChunkFile>,
    path: &Path,
    batch: &mut Batch,
    names: &Names,
    compression: ParquetCompression,
) -> Result<(), String> {
    // Counted before lending: `len` reads a column that is lent.
    let rows = batch.len();
    let lent = Lent::take(batch);
    let compression = match compression {
        ParquetCompression::Lz4 => CompressionOptions::Lz4Raw,
        ParquetCompression::Zstd => CompressionOptions::Zstd(Some(
            polars_parquet::write::ZstdLevel::try_new(1).expect("1 is a zstd level"),
        )),
    };
    let written = write_lent(chunk, path, batch, &lent, rows, names, compression);
    lent.give_back(batch);
    written
}

/// One row group of `arrays`, each column encoded with its `encodings` and
/// its pages compressed with its `codecs` (polars' `row_group_iter` uses
/// one codec for every column).
fn row_group(
    arrays: Vec<Box<dyn Array>>,
    schema: &ArrowSchema,
    encodings: &[Vec<Encoding>],
    codecs: &[CompressionOptions],
    options: WriteOptions,
) -> Result<RowGroupIterColumns<'static, PolarsError>, String> {
    let fields = polars_parquet::write::to_parquet_schema(schema)
        .map_err(|e| e.to_string())?
        .fields()
        .to_vec();
    let mut columns = Vec::with_capacity(arrays.len());
    for (((array, field), encoding), codec) in
        arrays.into_iter().zip(fields).zip(encodings).zip(codecs)
    {
        let options = WriteOptions {
            compression: *codec,
            ..options
        };
        for pages in array_to_columns(array, field, options, encoding).map_err(|e| e.to_string())? {
            let pages = DynIter::new(
                pages
                    .into_iter()
                    .map(|p| p.map_err(|e| ParquetError::OutOfSpec(e.to_string()))),
            );
            let compressed = Compressor::new(pages, *codec, Vec::new())
                .map_err(|e| PolarsError::ComputeError(e.to_string().into()));
            columns.push(Ok(DynStreamingIterator::new(compressed)));
        }
    }
    Ok(DynIter::new(columns.into_iter()))
}

fn write_lent(
    chunk: &mut Option<ChunkFile>,
    path: &Path,
    batch: &Batch,
    lent: &Lent,
    rows: usize,
    names: &Names,
    compression: CompressionOptions,
) -> Result<(), String> {
    let utc = ArrowDataType::Timestamp(TimeUnit::Millisecond, Some(PlSmallStr::from("UTC")));
    let dict = ArrowDataType::Dictionary(
        IntegerType::UInt32,
        Box::new(ArrowDataType::LargeUtf8),
        false,
    );
    let level_valid = batch
        .level
        .contains(&0)
        .then(|| batch.level.iter().map(|l| *l != 0).collect::<Bitmap>());
    let class_valid = batch.class.contains(&u16::MAX).then(|| {
        batch
            .class
            .iter()
            .map(|c| *c != u16::MAX)
            .collect::<Bitmap>()
    });
    let columns: Vec<(&str, ArrowDataType, Box<dyn Array>, Encoding)> = vec![
        (
            "time",
            utc.clone(),
            primitive(utc, &lent.time, None),
            Encoding::DeltaBinaryPacked,
        ),
        (
            "service",
            dict.clone(),
            dictionary(vec![0; rows], None, strings([names.service])),
            Encoding::RleDictionary,
        ),
        (
            "level",
            dict.clone(),
            dictionary(
                batch
                    .level
                    .iter()
                    .map(|l| u32::from(l.saturating_sub(1)))
                    .collect(),
                level_valid,
                strings(LEVELS.iter().map(|l| l.as_str())),
            ),
            Encoding::RleDictionary,
        ),
        (
            "message",
            ArrowDataType::LargeUtf8,
            batch.message.array(&lent.strs[0]),
            Encoding::Plain,
        ),
        (
            "order_id",
            ArrowDataType::LargeUtf8,
            batch.order_id.array(&lent.strs[1]),
            Encoding::Plain,
        ),
        (
            "payment_id",
            ArrowDataType::LargeUtf8,
            batch.payment_id.array(&lent.strs[2]),
            Encoding::Plain,
        ),
        (
            "trace_id",
            ArrowDataType::LargeUtf8,
            batch.trace_id.array(&lent.strs[3]),
            Encoding::Plain,
        ),
        (
            "latency_ms",
            ArrowDataType::Float64,
            primitive(
                ArrowDataType::Float64,
                &lent.latency,
                Some(&batch.latency_valid),
            ),
            Encoding::Plain,
        ),
        (
            "http_status",
            ArrowDataType::UInt32,
            primitive(
                ArrowDataType::UInt32,
                &lent.status,
                Some(&batch.status_valid),
            ),
            Encoding::Plain,
        ),
        (
            "error",
            ArrowDataType::LargeUtf8,
            batch.error.array(&lent.strs[4]),
            Encoding::Plain,
        ),
        (
            "sqlstate",
            ArrowDataType::LargeUtf8,
            batch.sqlstate.array(&lent.strs[5]),
            Encoding::Plain,
        ),
        (
            "class",
            dict.clone(),
            dictionary(
                batch
                    .class
                    .iter()
                    .map(|c| if *c == u16::MAX { 0 } else { u32::from(*c) })
                    .collect(),
                class_valid,
                strings(names.classes.iter().map(String::as_str)),
            ),
            Encoding::RleDictionary,
        ),
        (
            "template_id",
            ArrowDataType::UInt64,
            primitive(ArrowDataType::UInt64, &lent.template, None),
            Encoding::DeltaBinaryPacked,
        ),
        (
            "file",
            dict,
            dictionary(
                batch.file.clone(),
                None,
                strings(names.files.iter().map(String::as_str)),
            ),
            Encoding::RleDictionary,
        ),
        (
            "line",
            ArrowDataType::UInt64,
            primitive(ArrowDataType::UInt64, &lent.line, None),
            Encoding::DeltaBinaryPacked,
        ),
    ];
    let schema: ArrowSchema = columns
        .iter()
        .map(|(name, dtype, _, _)| {
            (
                PlSmallStr::from(*name),
                Field::new(PlSmallStr::from(*name), dtype.clone(), true),
            )
        })
        .collect();
    // What readers are told the columns are: dictionaries are a matter of
    // encoding here, so they read back as plain strings.
    let shown: ArrowSchema = columns
        .iter()
        .map(|(name, dtype, _, _)| {
            let dtype = match dtype {
                ArrowDataType::Dictionary(..) => ArrowDataType::LargeUtf8,
                d => d.clone(),
            };
            (
                PlSmallStr::from(*name),
                Field::new(PlSmallStr::from(*name), dtype, true),
            )
        })
        .collect();
    let encodings = columns.iter().map(|c| vec![c.3]).collect::<Vec<_>>();
    // Trace ids are random hex: LZ4 spent a third of its time on them for a
    // third off their bytes, so they are stored as they are.
    let codecs: Vec<CompressionOptions> = columns
        .iter()
        .map(|c| match (c.0, compression) {
            ("trace_id", CompressionOptions::Lz4Raw) => CompressionOptions::Uncompressed,
            _ => compression,
        })
        .collect();
    let arrays: Vec<Box<dyn Array>> = columns.into_iter().map(|c| c.2).collect();
    let options = WriteOptions {
        statistics: StatisticsOptions::empty(),
        version: Version::V1,
        compression,
        data_page_size: None,
    };
    let schema = std::sync::Arc::new(schema);
    let group = row_group(arrays, &schema, &encodings, &codecs, options)?;
    let open = match chunk {
        Some(open) => open,
        None => {
            let file = File::create(path).map_err(|e| format!("cannot create: {e}"))?;
            let w = FileWriter::try_new(
                BufWriter::with_capacity(1 << 20, file),
                (*schema).clone(),
                options,
            )
            .map_err(|e| e.to_string())?;
            chunk.insert(ChunkFile { w, shown, rows: 0 })
        }
    };
    open.w
        .write(rows as u64, group)
        .map_err(|e| e.to_string())?;
    open.rows += rows;
    Ok(())
}
