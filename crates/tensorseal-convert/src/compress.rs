//! Whole-stream compression as joblib writes it, decompressed with a bound.

use std::io::{Read, Write};

/// A compression codec recognised by its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// zlib (RFC 1950), first byte 0x78 with a valid header checksum.
    Zlib,
    /// gzip (RFC 1952), `1f 8b 08`.
    Gzip,
    /// bzip2, `BZh1`..`BZh9`.
    Bz2,
    /// xz, `FD 37 7A 58 5A 00`.
    Xz,
    /// LZMA-alone (`.lzma`), properties byte 0x5D then `00 00`.
    Lzma,
    /// LZ4 frame, `04 22 4D 18` (joblib's `lz4` compressor writes plain
    /// LZ4 frames).
    Lz4,
    /// joblib's old `ZF` format (`numpy_pickle_compat.write_zfile`): `ZF`,
    /// the decompressed length as Python `hex()` left-justified to 19 bytes
    /// (an extra space from Python 2 joblib is tolerated, as joblib does),
    /// then one zlib stream that must decompress to exactly that length.
    ZFile,
    /// Raw deflate (zip member data); never sniffed from a file.
    Deflate,
}

/// Length of the ZF length field (`len(hex(2**64))`).
const ZF_LEN_FIELD: usize = 19;

/// Parse a ZF header: the announced length and where the zlib stream starts.
pub(crate) fn zfile_header(data: &[u8]) -> Result<(u64, usize), DecompressError> {
    let bad = |reason: &str| DecompressError::Invalid {
        codec: "zf",
        reason: format!("malformed ZF header: {reason}"),
    };
    if !data.starts_with(b"ZF") {
        return Err(bad("no ZF prefix"));
    }
    let field = data
        .get(2..2 + ZF_LEN_FIELD)
        .ok_or_else(|| bad("truncated length field"))?;
    let digits = field
        .strip_prefix(b"0x")
        .or_else(|| field.strip_prefix(b"0X"))
        .ok_or_else(|| bad("length does not start with 0x"))?;
    let n = digits.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if n == 0 || n > 16 || digits[n..].iter().any(|&b| b != b' ') {
        return Err(bad("length is not hex digits padded with spaces"));
    }
    let text = std::str::from_utf8(&digits[..n]).map_err(|_| bad("not ASCII"))?;
    let len = u64::from_str_radix(text, 16).map_err(|_| bad("length out of range"))?;
    let mut at = 2 + ZF_LEN_FIELD;
    if data.get(at) == Some(&b' ') {
        at += 1;
    }
    Ok((len, at))
}

impl Compression {
    /// Recognise a codec from the first bytes.
    pub fn sniff(data: &[u8]) -> Option<Compression> {
        if data.len() >= 2
            && data[0] == 0x78
            && (u16::from(data[0]) << 8 | u16::from(data[1])) % 31 == 0
        {
            return Some(Compression::Zlib);
        }
        if data.starts_with(&[0x1f, 0x8b, 0x08]) {
            return Some(Compression::Gzip);
        }
        if data.len() >= 4 && data.starts_with(b"BZh") && (b'1'..=b'9').contains(&data[3]) {
            return Some(Compression::Bz2);
        }
        if data.starts_with(&[0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) {
            return Some(Compression::Xz);
        }
        if data.starts_with(&[0x5D, 0x00, 0x00]) {
            return Some(Compression::Lzma);
        }
        if data.starts_with(&[0x04, 0x22, 0x4D, 0x18]) {
            return Some(Compression::Lz4);
        }
        if data.starts_with(b"ZF") && zfile_header(data).is_ok() {
            return Some(Compression::ZFile);
        }
        None
    }

    /// Short lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Zlib => "zlib",
            Compression::Gzip => "gzip",
            Compression::Bz2 => "bz2",
            Compression::Xz => "xz",
            Compression::Lzma => "lzma",
            Compression::Lz4 => "lz4",
            Compression::ZFile => "zf",
            Compression::Deflate => "deflate",
        }
    }
}

/// Errors of bounded decompression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecompressError {
    /// More output than the limit allows.
    #[error("{codec}: decompressed data exceeds the limit of {limit} bytes (at decompressed offset {offset})")]
    LimitExceeded {
        /// Codec name.
        codec: &'static str,
        /// Limit in bytes.
        limit: u64,
        /// Decompressed offset where the limit was reached.
        offset: u64,
    },
    /// The stream expands more than the ratio bound allows.
    #[error("{codec}: {offset} decompressed bytes from {consumed} compressed bytes exceed the ratio bound of {ratio}:1 (decompression bomb)")]
    RatioExceeded {
        /// Codec name.
        codec: &'static str,
        /// Ratio bound.
        ratio: u64,
        /// Decompressed offset where the bound was exceeded.
        offset: u64,
        /// Compressed bytes consumed by then.
        consumed: u64,
    },
    /// More non-zero decompressed bytes would have to be held in memory
    /// than the resident bound allows.
    #[error("{codec}: holding the decompressed data needs more than {limit} bytes of memory (at decompressed offset {offset})")]
    ResidentExceeded {
        /// Codec name.
        codec: &'static str,
        /// Bound in bytes.
        limit: u64,
        /// Decompressed offset where the bound was reached.
        offset: u64,
    },
    /// Corrupt or truncated stream.
    #[error("{codec}: invalid compressed stream: {reason}")]
    Invalid {
        /// Codec name.
        codec: &'static str,
        /// Why.
        reason: String,
    },
    /// Trailing bytes after the compressed stream.
    #[error("{codec}: {extra} trailing bytes after the compressed stream at offset {offset}")]
    Trailing {
        /// Codec name.
        codec: &'static str,
        /// Offset of the first trailing byte.
        offset: u64,
        /// How many.
        extra: u64,
    },
    /// Codec recognised but not supported.
    #[error("{codec}: compression recognised but not supported")]
    Unsupported {
        /// Codec name.
        codec: &'static str,
    },
}

struct LimitedWriter {
    out: Vec<u8>,
    limit: u64,
    exceeded: bool,
}

impl Write for LimitedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = self.limit.saturating_sub(self.out.len() as u64);
        if buf.len() as u64 > room {
            self.exceeded = true;
            return Err(std::io::Error::other("decompression limit exceeded"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn read_bounded<R: Read>(
    mut r: R,
    codec: &'static str,
    limit: u64,
) -> Result<Vec<u8>, DecompressError> {
    let mut out = Vec::new();
    (&mut r)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| DecompressError::Invalid {
            codec,
            reason: e.to_string(),
        })?;
    if out.len() as u64 > limit {
        return Err(DecompressError::LimitExceeded {
            codec,
            limit,
            offset: limit,
        });
    }
    Ok(out)
}

/// Decompress a whole stream with at most `limit` bytes of output. Trailing
/// bytes after a zlib/gzip stream are refused.
pub fn decompress(codec: Compression, data: &[u8], limit: u64) -> Result<Vec<u8>, DecompressError> {
    decompress_inner(codec, data, limit, true)
}

/// Like [`decompress`]; `strict == false` ignores trailing bytes after an
/// xz/lzma stream (format sniffing only).
pub(crate) fn decompress_inner(
    codec: Compression,
    data: &[u8],
    limit: u64,
    strict: bool,
) -> Result<Vec<u8>, DecompressError> {
    let name = codec.name();
    match codec {
        Compression::Zlib => {
            let mut d = flate2::read::ZlibDecoder::new(data);
            let out = read_bounded(&mut d, name, limit)?;
            check_trailing(name, d.total_in(), data.len())?;
            Ok(out)
        }
        Compression::Gzip => {
            // Single member only: concatenated members would be a differential.
            // bufread over the slice itself, so `into_inner` is exactly the
            // unconsumed rest (no read-ahead buffer hiding trailing bytes).
            let mut d = flate2::bufread::GzDecoder::new(data);
            let out = read_bounded(&mut d, name, limit)?;
            let rest = d.into_inner();
            if !rest.is_empty() {
                return Err(DecompressError::Trailing {
                    codec: name,
                    offset: (data.len() - rest.len()) as u64,
                    extra: rest.len() as u64,
                });
            }
            Ok(out)
        }
        Compression::Bz2 => {
            // MultiBzDecoder would silently accept concatenations; use the
            // single-stream decoder and refuse what follows.
            let mut d = bzip2::read::BzDecoder::new(data);
            let out = read_bounded(&mut d, name, limit)?;
            check_trailing(name, d.total_in(), data.len())?;
            Ok(out)
        }
        Compression::Xz | Compression::Lzma => {
            let mut w = LimitedWriter {
                out: Vec::new(),
                limit,
                exceeded: false,
            };
            // A cursor is its own buffer: its position is exactly what the
            // decoder consumed.
            let mut input = std::io::Cursor::new(data);
            let r = if codec == Compression::Xz {
                lzma_rs::xz_decompress(&mut input, &mut w)
            } else {
                let opts = lzma_rs::decompress::Options {
                    memlimit: Some(usize::try_from(limit.min(1 << 31)).unwrap_or(usize::MAX)),
                    ..Default::default()
                };
                lzma_rs::lzma_decompress_with_options(&mut input, &mut w, &opts)
            };
            if w.exceeded {
                return Err(DecompressError::LimitExceeded {
                    codec: name,
                    limit,
                    offset: w.out.len() as u64,
                });
            }
            if !strict && !w.out.is_empty() {
                // Sniffing: whatever decoded is enough, errors or not.
                return Ok(w.out);
            }
            r.map_err(|e| {
                let reason = e.to_string();
                // lzma-rs reports its window (bounded by `limit`) outgrowing
                // the memory limit: that is the output limit being hit.
                if reason.contains("memory limit") {
                    DecompressError::LimitExceeded {
                        codec: name,
                        limit,
                        offset: w.out.len() as u64,
                    }
                } else {
                    DecompressError::Invalid {
                        codec: name,
                        reason,
                    }
                }
            })?;
            if strict {
                check_trailing(name, input.position(), data.len())?;
            }
            Ok(w.out)
        }
        Compression::Lz4 | Compression::ZFile | Compression::Deflate => {
            let limits = crate::stream::StreamLimits {
                total: limit,
                ratio: u64::MAX,
                resident: u64::MAX,
            };
            crate::stream::with_decoder(codec, data, limits, |d| {
                let mut out = Vec::new();
                let mut chunk = vec![0u8; 64 << 10];
                loop {
                    let n = d.read(&mut chunk)?;
                    if n == 0 {
                        return Ok(out);
                    }
                    out.extend_from_slice(&chunk[..n]);
                }
            })
        }
    }
}

fn check_trailing(codec: &'static str, consumed: u64, len: usize) -> Result<(), DecompressError> {
    if consumed < len as u64 {
        return Err(DecompressError::Trailing {
            codec,
            offset: consumed,
            extra: len as u64 - consumed,
        });
    }
    Ok(())
}
