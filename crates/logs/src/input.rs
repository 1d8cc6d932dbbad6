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
    if c == Compression::None {
        return Ok((Box::new(buffered), c));
    }
    let first = decoder(c, buffered)?;
    let reader: Box<dyn Read + Send> = if path == Path::new("-") {
        first
    } else {
        // A damaged file is decoded again up to the damage, a byte at a time.
        let path = path.to_path_buf();
        Box::new(Salvage {
            inner: first,
            reopen: Box::new(move || {
                decoder(
                    c,
                    BufReader::with_capacity(1 << 20, Box::new(File::open(&path)?)),
                )
            }),
            delivered: 0,
            careful: false,
        })
    };
    Ok((Box::new(BufReader::with_capacity(1 << 20, reader)), c))
}

/// The decoder of compression `c` over `raw`.
fn decoder(
    c: Compression,
    raw: BufReader<Box<dyn Read + Send>>,
) -> io::Result<Box<dyn Read + Send>> {
    Ok(match c {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(raw)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(raw)?),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(raw)),
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(raw)),
    })
}

/// A decoder that keeps what it decoded before damage.
///
/// A decoder that meets damage returns the error and drops what it decoded
/// in that same call, up to a whole buffer (about 500 lines with 1 MiB
/// reads). On the first error the file is decoded again from its start,
/// the bytes already handed out are skipped, and from there it is read a
/// byte at a time: the call that fails then loses at most one byte, so
/// every line before the damage is kept. Only a damaged file pays for this.
struct Salvage {
    inner: Box<dyn Read + Send>,
    reopen: Box<dyn Fn() -> io::Result<Box<dyn Read + Send>> + Send>,
    /// Bytes handed out so far.
    delivered: u64,
    /// Reading a byte at a time, after an error.
    careful: bool,
}

impl Read for Salvage {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = if self.careful {
            buf.len().min(1)
        } else {
            buf.len()
        };
        match self.inner.read(&mut buf[..want]) {
            Ok(n) => {
                self.delivered += n as u64;
                Ok(n)
            }
            Err(e) if !self.careful && e.kind() != io::ErrorKind::Interrupted => {
                self.careful = true;
                let Ok(mut fresh) = (self.reopen)() else {
                    return Err(e);
                };
                let skipped = io::copy(&mut (&mut fresh).take(self.delivered), &mut io::sink());
                if skipped.ok() != Some(self.delivered) {
                    return Err(e);
                }
                self.inner = fresh;
                self.read(buf)
            }
            Err(e) => Err(e),
        }
    }
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
