//! Bounded streaming decompression for inspection.
//!
//! Inspection must not hold a decompressed stream it does not need to look
//! at: a 2 GiB zero-filled array compresses to a few MiB. Three pieces keep
//! the memory of an inspection bounded whatever the input:
//!
//! * [`Decoder`] pulls a compressed stream in small steps and refuses it
//!   once it has produced more than the total bound, or more than the ratio
//!   bound times the compressed bytes it consumed (past a floor);
//! * [`SparseBuf`] is a zero-initialised buffer of the stream's full length
//!   whose pages are only made resident when a non-zero byte is written to
//!   them (the allocation is `calloc`-backed, so untouched pages are the
//!   kernel's shared zero page), with a cap on resident bytes;
//! * the joblib driver ([`joblib_stream`]) writes only the pickle bytes
//!   into such a buffer and skips array payloads: the pickle machine runs on
//!   the decoded prefix, and when an inline array reaches past it the
//!   decoder discards up to the array's end and the machine runs again.
//!   Offsets, alignment and lengths are those of the real stream, so the
//!   verdict is the one an in-memory inspection would give.

use std::io::{BufRead, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use tensorseal_pickle::{HookError, Hooks, NodeId, Options, Report};

use crate::compress::{Compression, DecompressError};
use crate::joblib::{parse_np_dtype, JoblibHooks, NpDType};

/// Bytes decoded per step.
const STEP: usize = 64 << 10;
/// Page granularity of [`SparseBuf`]'s zero skipping.
const PAGE: usize = 4096;
/// Decoded output below which the ratio bound does not apply (small
/// streams of zeros compress far beyond any sensible ratio).
pub const RATIO_FLOOR: u64 = 64 << 20;
/// Decoded bytes written ahead of the pickle machine at each step.
const WINDOW: usize = 64 << 10;
/// Re-runs of the pickle machine before the joblib driver gives up.
const MAX_RUNS: usize = 20_000;
/// Bytes given to the pickle machine over all runs before it gives up.
const MAX_REPARSED: u64 = 16 << 30;

/// Bounds of one decompressed stream.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// Largest decompressed size.
    pub total: u64,
    /// Largest ratio of decompressed to consumed compressed bytes, checked
    /// once more than [`RATIO_FLOOR`] bytes came out.
    pub ratio: u64,
    /// Largest number of bytes made resident in a [`SparseBuf`].
    pub resident: u64,
}

/// A `BufRead` over a slice that publishes how much of it was consumed.
struct Counting<'d> {
    data: &'d [u8],
    pos: usize,
    consumed: Arc<AtomicU64>,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = &self.data[self.pos..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Counting<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        Ok(&self.data[self.pos..])
    }
    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.data.len());
        self.consumed.store(self.pos as u64, Ordering::Relaxed);
    }
}

enum Msg {
    Data(Vec<u8>),
    End(Result<(), String>),
}

/// Hands lzma-rs output (which it pushes into a `Write`) to the pulling side
/// in bounded chunks; when the receiver is gone the decoder stops.
struct ChanWriter {
    tx: SyncSender<Msg>,
    buf: Vec<u8>,
}

impl Write for ChanWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= STEP {
            self.flush()?;
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let chunk = std::mem::take(&mut self.buf);
            self.tx
                .send(Msg::Data(chunk))
                .map_err(|_| std::io::Error::other("reader gone"))?;
        }
        Ok(())
    }
}

enum Src<'d> {
    Pull(Box<dyn Read + 'd>),
    Chan {
        rx: Receiver<Msg>,
        pending: Vec<u8>,
        at: usize,
    },
}

/// A bounded pull decoder of one compressed stream (see the module docs).
pub struct Decoder<'d> {
    src: Src<'d>,
    consumed: Arc<AtomicU64>,
    codec: &'static str,
    input_len: u64,
    produced: u64,
    limits: StreamLimits,
    eof: bool,
    /// Checked after the end of the stream (the ZF header's length).
    expect_len: Option<u64>,
}

/// Run `f` with a decoder of `data` compressed with `codec`. xz and lzma
/// decode on a helper thread (lzma-rs only pushes), joined before returning.
pub fn with_decoder<T>(
    codec: Compression,
    data: &[u8],
    limits: StreamLimits,
    f: impl FnOnce(&mut Decoder<'_>) -> Result<T, DecompressError>,
) -> Result<T, DecompressError> {
    let consumed = Arc::new(AtomicU64::new(0));
    let name = codec.name();
    let mut expect_len = None;
    let mut body = data;
    let mut base = 0usize;
    if codec == Compression::ZFile {
        let (len, at) = crate::compress::zfile_header(data)?;
        expect_len = Some(len);
        body = &data[at..];
        base = at;
    }
    let input = Counting {
        data: body,
        pos: 0,
        consumed: Arc::clone(&consumed),
    };
    let mk = |src| Decoder {
        src,
        consumed: Arc::clone(&consumed),
        codec: name,
        input_len: body.len() as u64,
        produced: 0,
        limits,
        eof: false,
        expect_len,
    };
    let shift = |e: DecompressError| match e {
        DecompressError::Trailing {
            codec,
            offset,
            extra,
        } => DecompressError::Trailing {
            codec,
            offset: offset + base as u64,
            extra,
        },
        e => e,
    };
    let pull: Box<dyn Read + '_> = match codec {
        Compression::Zlib | Compression::ZFile => {
            Box::new(flate2::bufread::ZlibDecoder::new(input))
        }
        Compression::Gzip => Box::new(flate2::bufread::GzDecoder::new(input)),
        Compression::Bz2 => Box::new(bzip2::bufread::BzDecoder::new(input)),
        Compression::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(input)),
        Compression::Xz | Compression::Lzma => {
            return std::thread::scope(|s| {
                let (tx, rx) = sync_channel::<Msg>(2);
                let memlimit = usize::try_from(limits.resident).unwrap_or(usize::MAX);
                s.spawn(move || {
                    let mut input = input;
                    let mut w = ChanWriter {
                        tx: tx.clone(),
                        buf: Vec::new(),
                    };
                    let r = if codec == Compression::Xz {
                        lzma_rs::xz_decompress(&mut input, &mut w)
                    } else {
                        let opts = lzma_rs::decompress::Options {
                            memlimit: Some(memlimit),
                            ..Default::default()
                        };
                        lzma_rs::lzma_decompress_with_options(&mut input, &mut w, &opts)
                    };
                    let r = r
                        .map_err(|e| e.to_string())
                        .and_then(|()| w.flush().map_err(|e| e.to_string()));
                    let _ = tx.send(Msg::End(r));
                });
                let mut d = mk(Src::Chan {
                    rx,
                    pending: Vec::new(),
                    at: 0,
                });
                let r = f(&mut d).map_err(shift);
                // Dropping the receiver stops the helper at its next chunk.
                drop(d);
                r
            });
        }
        Compression::Deflate => Box::new(flate2::bufread::DeflateDecoder::new(input)),
    };
    let mut d = mk(Src::Pull(pull));
    f(&mut d).map_err(shift)
}

impl Decoder<'_> {
    /// The most this stream can decode to within its bounds: the total
    /// bound, and past [`RATIO_FLOOR`] the ratio bound times the input. Sizes
    /// the (virtual) buffer, so a small file never reserves gigabytes of
    /// address space.
    pub fn max_output(&self) -> u64 {
        let by_ratio = self
            .limits
            .ratio
            .saturating_add(1)
            .saturating_mul(self.input_len.max(1))
            .saturating_add(RATIO_FLOOR)
            .saturating_add(STEP as u64);
        self.limits.total.min(by_ratio)
    }

    /// Decoded bytes so far.
    pub fn produced(&self) -> u64 {
        self.produced
    }

    /// Whether the stream ended (and was checked).
    pub fn at_eof(&self) -> bool {
        self.eof
    }

    /// Compressed bytes consumed so far.
    pub fn consumed(&self) -> u64 {
        self.consumed.load(Ordering::Relaxed)
    }

    fn invalid(&self, reason: String) -> DecompressError {
        DecompressError::Invalid {
            codec: self.codec,
            reason,
        }
    }

    fn raw_read(&mut self, buf: &mut [u8]) -> Result<usize, DecompressError> {
        match &mut self.src {
            Src::Pull(r) => loop {
                match r.read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(self.invalid(e.to_string())),
                }
            },
            Src::Chan { rx, pending, at } => loop {
                if *at < pending.len() {
                    let n = (pending.len() - *at).min(buf.len());
                    buf[..n].copy_from_slice(&pending[*at..*at + n]);
                    *at += n;
                    return Ok(n);
                }
                match rx.recv() {
                    Ok(Msg::Data(v)) => {
                        *pending = v;
                        *at = 0;
                    }
                    Ok(Msg::End(Ok(()))) | Err(_) => return Ok(0),
                    Ok(Msg::End(Err(reason))) => {
                        let codec = self.codec;
                        let limit = self.limits.resident;
                        return Err(if reason.contains("memory limit") {
                            DecompressError::LimitExceeded {
                                codec,
                                limit,
                                offset: self.produced,
                            }
                        } else {
                            DecompressError::Invalid { codec, reason }
                        });
                    }
                }
            },
        }
    }

    /// Decode up to `buf.len()` bytes; 0 at the end of the stream, after the
    /// trailing-bytes and length checks.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, DecompressError> {
        if self.eof || buf.is_empty() {
            return Ok(0);
        }
        let n = self.raw_read(buf)?;
        if n == 0 {
            self.eof = true;
            let used = self.consumed();
            if used < self.input_len {
                return Err(DecompressError::Trailing {
                    codec: self.codec,
                    offset: used,
                    extra: self.input_len - used,
                });
            }
            if let Some(want) = self.expect_len {
                if want != self.produced {
                    return Err(self.invalid(format!(
                        "the ZF header announces {want} bytes, the stream holds {}",
                        self.produced
                    )));
                }
            }
            return Ok(0);
        }
        let total = self.produced + n as u64;
        if total > self.limits.total {
            return Err(DecompressError::LimitExceeded {
                codec: self.codec,
                limit: self.limits.total,
                offset: self.produced,
            });
        }
        let used = self.consumed().max(1);
        if total > RATIO_FLOOR && total / used > self.limits.ratio {
            return Err(DecompressError::RatioExceeded {
                codec: self.codec,
                ratio: self.limits.ratio,
                offset: self.produced,
                consumed: used,
            });
        }
        self.produced = total;
        Ok(n)
    }
}

/// A buffer of a stream's full length in which only pages holding a
/// non-zero written byte become resident (see the module docs).
pub struct SparseBuf {
    buf: Vec<u8>,
    /// Bytes decided so far (written, skipped or discarded).
    len: usize,
    resident: u64,
    cap: u64,
}

impl SparseBuf {
    /// A zero-filled buffer of `size` bytes; `cap` bounds resident bytes.
    pub fn new(size: u64, cap: u64) -> Result<SparseBuf, DecompressError> {
        let size = usize::try_from(size).map_err(|_| DecompressError::Invalid {
            codec: "stream",
            reason: "size does not fit in memory".into(),
        })?;
        // `vec![0; n]` allocates with `calloc`: untouched pages cost nothing.
        Ok(SparseBuf {
            buf: vec![0u8; size],
            len: 0,
            resident: 0,
            cap,
        })
    }

    /// Bytes decided so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was decided yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The decided prefix.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The whole buffer (undecided bytes read as zero).
    pub fn full(&self) -> &[u8] {
        &self.buf
    }

    /// Cut the buffer to the decided prefix (the stream's real length).
    pub fn into_vec(mut self) -> Vec<u8> {
        // Shrinking the length frees nothing and copies nothing.
        self.buf.truncate(self.len);
        self.buf
    }

    /// Append decoded bytes; all-zero pages are left untouched.
    fn push(&mut self, bytes: &[u8], codec: &'static str) -> Result<(), DecompressError> {
        let end = self.len + bytes.len();
        if end > self.buf.len() {
            return Err(DecompressError::LimitExceeded {
                codec,
                limit: self.buf.len() as u64,
                offset: self.len as u64,
            });
        }
        let mut at = self.len;
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = (PAGE - at % PAGE).min(rest.len());
            let (part, tail) = rest.split_at(n);
            if part.iter().any(|&b| b != 0) {
                self.resident += n as u64;
                if self.resident > self.cap {
                    return Err(DecompressError::ResidentExceeded {
                        codec,
                        limit: self.cap,
                        offset: at as u64,
                    });
                }
                self.buf[at..at + n].copy_from_slice(part);
            }
            at += n;
            rest = tail;
        }
        self.len = end;
        Ok(())
    }

    /// Pull from `dec` until `target` bytes are decided or the stream ends;
    /// bytes are written (`keep`) or only counted (`!keep`). `crc` sees
    /// every byte.
    pub fn fill(
        &mut self,
        dec: &mut Decoder<'_>,
        target: usize,
        keep: bool,
        mut crc: Option<&mut crc32fast::Hasher>,
    ) -> Result<(), DecompressError> {
        let mut scratch = vec![0u8; STEP];
        while self.len < target && !dec.at_eof() {
            let want = (target - self.len).min(STEP);
            let n = dec.read(&mut scratch[..want])?;
            if n == 0 {
                break;
            }
            if let Some(c) = crc.as_deref_mut() {
                c.update(&scratch[..n]);
            }
            if keep {
                self.push(&scratch[..n], dec.codec)?;
            } else {
                if self.len + n > self.buf.len() {
                    return Err(DecompressError::LimitExceeded {
                        codec: dec.codec,
                        limit: self.buf.len() as u64,
                        offset: self.len as u64,
                    });
                }
                self.len += n;
            }
        }
        Ok(())
    }

    /// Decide the rest of the stream (to its end).
    pub fn fill_all(
        &mut self,
        dec: &mut Decoder<'_>,
        keep: bool,
        crc: Option<&mut crc32fast::Hasher>,
    ) -> Result<(), DecompressError> {
        self.fill(dec, usize::MAX, keep, crc)?;
        // Reaching the end is what runs the end-of-stream checks.
        let mut probe = [0u8; 1];
        if dec.read(&mut probe)? != 0 {
            return Err(DecompressError::LimitExceeded {
                codec: dec.codec,
                limit: self.buf.len() as u64,
                offset: self.len as u64,
            });
        }
        Ok(())
    }
}

/// What the joblib hooks need from the driver before the machine can go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// More decoded bytes after the current end.
    More,
    /// An inline array ends at this offset, past the decoded prefix.
    Skip(usize),
    /// The hook refused a wrapper before the stream's length is known: its
    /// reason may be the provisional length, so decode to the end first.
    Settle,
}

/// [`JoblibHooks`] run against the whole (sparse) stream, asking the driver
/// for more input instead of failing when an array or its padding reaches
/// past the decoded prefix. The inner hooks keep their semantics (padding
/// read as joblib reads it, object arrays as nested pickles): only whole
/// runs are kept as the verdict, so what a hook reported in a run cut short
/// for more input is dropped with that run.
struct StreamHooks<'b> {
    inner: JoblibHooks,
    full: &'b [u8],
    decided: usize,
    eof: bool,
    need: Option<Need>,
}

/// Longest joblib alignment padding (length byte plus up to 255 bytes).
const MAX_PAD: usize = 256;

/// Whether a wrapper holds an object-dtype array: joblib reads its data as
/// a nested pickle, which must be decoded and kept (never skipped), and
/// whose end is known only once it parses.
fn object_array(graph: &tensorseal_pickle::Graph, obj: NodeId) -> bool {
    graph
        .as_call(obj)
        .and_then(|c| c.state)
        .and_then(|s| graph.dict_get_str(s, "dtype"))
        .is_some_and(|d| matches!(parse_np_dtype(graph, d), Ok(NpDType::Object)))
}

impl StreamHooks<'_> {
    /// Give up this run: the driver supplies what `need` says and re-runs.
    fn cut(&mut self, need: Need) -> Result<usize, HookError> {
        // Findings of a wrapper read against the provisional stream are not
        // the stream's: the re-run reports them again if they hold.
        let _ = self.inner.take_findings();
        self.need = Some(need);
        Err("stream window".into())
    }
}

impl Hooks for StreamHooks<'_> {
    fn after_build(
        &mut self,
        graph: &tensorseal_pickle::Graph,
        obj: NodeId,
        input: &[u8],
        pos: usize,
    ) -> Result<usize, HookError> {
        if self.eof {
            return self.inner.after_build(graph, obj, self.full, pos);
        }
        if pos.saturating_add(MAX_PAD) > self.decided {
            return self.cut(Need::More);
        }
        let n = match self.inner.after_build(graph, obj, self.full, pos) {
            Ok(n) => n,
            // A nested pickle running into the undecoded (zero) part does
            // not parse yet: decode and keep more of it.
            Err(_) if object_array(graph, obj) => return self.cut(Need::More),
            Err(_) => return self.cut(Need::Settle),
        };
        let end = pos.saturating_add(n);
        if end > input.len() {
            if object_array(graph, obj) {
                return self.cut(Need::More);
            }
            return self.cut(Need::Skip(end));
        }
        Ok(n)
    }

    fn take_findings(
        &mut self,
    ) -> (
        Vec<tensorseal_pickle::GlobalRef>,
        Vec<tensorseal_pickle::Finding>,
    ) {
        self.inner.take_findings()
    }
}

/// Inspect a compressed joblib stream without holding its array payloads.
/// Returns the pickle report and the stream's length; on a stream error the
/// report of the last complete run over the prefix, if any, comes with it.
pub fn joblib_stream(
    codec: Compression,
    data: &[u8],
    limits: StreamLimits,
    opts: &Options,
    max_array_bytes: u64,
) -> (Option<Report>, u64, Option<DecompressError>) {
    let mut last: Option<Report> = None;
    let mut len = 0u64;
    let r = with_decoder(codec, data, limits, |dec| {
        let mut buf = SparseBuf::new(dec.max_output(), limits.resident)?;
        let mut window = WINDOW;
        let mut reparsed = 0u64;
        for _ in 0..MAX_RUNS {
            let target = buf.len().saturating_add(window);
            buf.fill(dec, target, true, None)?;
            len = buf.len() as u64;
            let eof = dec.at_eof();
            reparsed += buf.len() as u64;
            if reparsed > MAX_REPARSED {
                break;
            }
            let full_len = if eof { buf.len() } else { buf.full().len() };
            let mut hooks = StreamHooks {
                inner: JoblibHooks::new(max_array_bytes, opts.clone()),
                full: &buf.full()[..full_len],
                decided: buf.len(),
                eof,
                need: None,
            };
            let report = tensorseal_pickle::inspect_with(buf.bytes(), opts, &mut hooks);
            let need = hooks.need;
            if eof {
                last = Some(report);
                return Ok(());
            }
            match need {
                Some(Need::Skip(end)) => {
                    buf.fill(dec, end, false, None)?;
                    window = WINDOW;
                }
                Some(Need::More) => window = window.saturating_mul(2),
                Some(Need::Settle) => buf.fill_all(dec, true, None)?,
                None => {
                    let truncated = matches!(
                        report.error,
                        Some(tensorseal_pickle::PickleError::Truncated { .. })
                    );
                    if truncated {
                        window = window.saturating_mul(2);
                    } else {
                        // Done or failed before the end: what follows (a
                        // concatenated pickle, trailing bytes) counts too.
                        last = Some(report);
                        buf.fill_all(dec, true, None)?;
                    }
                }
            }
        }
        Err(DecompressError::LimitExceeded {
            codec: codec.name(),
            limit: limits.total,
            offset: len,
        })
    });
    (last, len, r.err())
}

/// Decoded bytes of a member looked at before deciding whether the rest
/// must be held.
const MEMBER_PREFIX: usize = 1 << 20;

/// Inflate a deflated zip member into a [`SparseBuf`]-backed buffer of its
/// declared size, checking size, CRC-32 and stream end like
/// [`crate::zip::ZipArchive::read_entry`]. After the first MiB, `keep`
/// decides from it whether the rest is written (a `.npy` payload of plain
/// numbers need not be: only its length matters) or only counted and
/// CRC-checked; either way the result has the member's real length.
pub fn inflate_member(
    raw: &[u8],
    e: &crate::zip::ZipEntry,
    limits: StreamLimits,
    keep: impl FnOnce(&[u8]) -> bool,
) -> Result<Vec<u8>, crate::zip::ZipError> {
    use crate::zip::ZipError;
    let infl = |reason: String| ZipError::Inflate {
        name: e.name.clone(),
        offset: e.data_offset,
        reason,
    };
    let limits = StreamLimits {
        total: e.uncompressed_size,
        ..limits
    };
    let mut crc = crc32fast::Hasher::new();
    let buf = with_decoder(Compression::Deflate, raw, limits, |dec| {
        let mut buf = SparseBuf::new(e.uncompressed_size.min(dec.max_output()), limits.resident)?;
        buf.fill(dec, MEMBER_PREFIX, true, Some(&mut crc))?;
        let rest = keep(buf.bytes());
        buf.fill_all(dec, rest, Some(&mut crc))?;
        Ok(buf)
    })
    .map_err(|err| match err {
        DecompressError::Trailing { offset, .. } => infl(format!(
            "deflate stream ends after {offset} of {} compressed bytes",
            e.compressed_size
        )),
        DecompressError::LimitExceeded { .. } => infl(format!(
            "inflates to more than the {} bytes the directory says",
            e.uncompressed_size
        )),
        bound @ (DecompressError::RatioExceeded { .. }
        | DecompressError::ResidentExceeded { .. }) => ZipError::Bounded {
            name: e.name.clone(),
            offset: e.data_offset,
            reason: bound.to_string(),
        },
        other => infl(other.to_string()),
    })?;
    if buf.len() as u64 != e.uncompressed_size {
        return Err(infl(format!(
            "inflated to {} bytes, directory says {}",
            buf.len(),
            e.uncompressed_size
        )));
    }
    let actual = crc.finalize();
    if actual != e.crc32 {
        return Err(ZipError::Crc {
            name: e.name.clone(),
            offset: e.data_offset,
            expected: e.crc32,
            actual,
        });
    }
    Ok(buf.into_vec())
}

/// Decode a whole compressed stream into a [`SparseBuf`]-backed buffer:
/// zero pages stay virtual, non-zero bytes are bounded by
/// `limits.resident`. As in [`inflate_member`], `keep` decides from the
/// first MiB whether the rest is written or only counted.
pub fn decompress_sparse(
    codec: Compression,
    data: &[u8],
    limits: StreamLimits,
    keep: impl FnOnce(&[u8]) -> bool,
) -> Result<Vec<u8>, DecompressError> {
    with_decoder(codec, data, limits, |dec| {
        let mut buf = SparseBuf::new(dec.max_output(), limits.resident)?;
        buf.fill(dec, MEMBER_PREFIX, true, None)?;
        let rest = keep(buf.bytes());
        buf.fill_all(dec, rest, None)?;
        Ok(buf.into_vec())
    })
}
