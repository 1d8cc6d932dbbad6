//! Opening log files: compression detected by magic bytes (gzip, zstd,
//! bzip2, xz), never by file name; globs; standard input.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Compression of a file, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Plain text.
    None,
    /// gzip (several members are read one after the other).
    Gzip,
    /// Zstandard.
    Zstd,
    /// bzip2.
    Bzip2,
    /// xz.
    Xz,
}

impl Compression {
    /// Detects the compression from the first bytes of a file.
    pub fn detect(magic: &[u8]) -> Compression {
        match magic {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            [b'B', b'Z', b'h', ..] => Compression::Bzip2,
            [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Compression::Xz,
            _ => Compression::None,
        }
    }
}

/// Opens `path` (or standard input for `-`), decompressing as its magic bytes say.
pub fn open(path: &Path) -> io::Result<(Box<dyn BufRead + Send>, Compression)> {
    let raw: Box<dyn Read + Send> = if path == Path::new("-") {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(path)?)
    };
    let mut buffered = BufReader::with_capacity(1 << 20, raw);
    let buf = buffered.fill_buf()?;
    let magic = buf[..buf.len().min(6)].to_vec();
    let c = Compression::detect(&magic);
    if c == Compression::Gzip && path != Path::new("-") {
        // A gzip member takes 18 bytes at least (a 10-byte header, an
        // 8-byte trailer); a shorter file was cut inside them, and the
        // decoder would read it as an empty file.
        let len = std::fs::metadata(path)?.len();
        if len < 18 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("a gzip file of {len} bytes was cut short inside its header (a gzip member takes 18 bytes at least)"),
            ));
        }
    }
    let reader: Box<dyn BufRead + Send> = match c {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::bufread::MultiGzDecoder::new(buffered),
        )),
        Compression::Zstd => Box::new(BufReader::with_capacity(
            1 << 20,
            zstd::stream::read::Decoder::with_buffer(buffered)?,
        )),
        Compression::Bzip2 => Box::new(BufReader::with_capacity(
            1 << 20,
            bzip2::bufread::MultiBzDecoder::new(buffered),
        )),
        Compression::Xz => Box::new(BufReader::with_capacity(
            1 << 20,
            liblzma::bufread::XzDecoder::new_multi_decoder(buffered),
        )),
    };
    Ok((reader, c))
}

/// Files matching `pattern` (a path or a glob), sorted; relative patterns are taken from `base`.
pub fn expand(base: &Path, pattern: &str) -> Vec<PathBuf> {
    if pattern == "-" {
        return vec![PathBuf::from("-")];
    }
    let p = if Path::new(pattern).is_absolute() {
        PathBuf::from(pattern)
    } else {
        base.join(pattern)
    };
    let Some(text) = p.to_str() else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = match glob::glob(text) {
        Ok(paths) => paths
            .filter_map(|p| p.ok())
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => vec![p].into_iter().filter(|p| p.is_file()).collect(),
    };
    out.sort();
    out
}
