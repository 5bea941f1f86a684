//! "Is this a model file?", decided the way a loader would see the bytes,
//! never by name or by a shallow sniff.
//!
//! `pickle.load`, `joblib.load`, `torch.load` and
//! `numpy.load(allow_pickle=True)` all end up running the pickle machine
//! from offset 0 of the file (joblib first strips one layer of zlib, gzip,
//! bz2, xz, lzma or lz4; NumPy opens `.npy` and zip files itself and reads
//! pickled object arrays from them; PyTorch opens zip files itself). What
//! follows the pickle's STOP is never read, so a trailing byte or a wrong
//! name changes nothing.
//!
//! [`scan`] runs a **lenient, never-executing** model of that machine: it
//! accepts at least everything CPython's unpickler accepts (it checks only
//! what CPython is certain to reject: an unknown opcode, a stack or mark
//! underflow, a truncated argument, a malformed protocol-0 argument line,
//! a protocol above 5, a module name that is not a dotted Python
//! identifier) and stops at the first opcode that could import or call:
//! `GLOBAL`, `INST`, `STACK_GLOBAL`, `EXT1/2/4`, `REDUCE`, `BUILD`, `OBJ`,
//! `NEWOBJ`, `NEWOBJ_EX`. Python source starting with `import torch` is
//! `INST` with module `"mport torch"`, which no import can resolve, so it is
//! not a pickle; `cos\nsystem\n` is. A stream that reaches STOP without
//! importing is a data pickle; a bound reached before a decision counts as
//! a pickle (undecided is never "safe to skip").
//!
//! [`judge`] applies this to a whole file, looking through one compression
//! layer and into zip members the way the loaders do. Time is linear in
//! the bytes examined; memory is bounded by [`MAX_STACK`] and the
//! decompression window.

use std::io::Read;

use crate::compress::Compression;
use crate::detect::{detect, Format};
use crate::zip::ZipArchive;

/// Abstract stack depth beyond which [`scan`] stops undecided.
pub const MAX_STACK: usize = 1 << 16;
/// Decompressed bytes [`judge`] examines in a compressed stream.
pub const WINDOW: u64 = 4 << 20;
/// Start of a Git LFS pointer file.
pub const LFS_POINTER_PREFIX: &[u8] = b"version https://git-lfs.github.com/spec/";

/// What a pickle loader would do with a byte stream, read from offset 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    /// It reaches an opcode that imports or calls, at `offset`.
    Imports {
        /// Offset of the opcode.
        offset: usize,
        /// What it would import or call (`os.system`, `REDUCE`...).
        what: String,
    },
    /// A complete pickle without any import or call (pure data).
    Data {
        /// Offset of the STOP opcode.
        stop: usize,
    },
    /// The machine fails at `offset` before importing or calling anything.
    NotPickle {
        /// Where it fails.
        offset: usize,
        /// Why.
        reason: String,
    },
    /// The input or a bound ended first; treated as a pickle by [`judge`].
    Undecided {
        /// How far it got.
        offset: usize,
        /// Which bound.
        reason: String,
    },
}

impl Scan {
    /// Whether a loader could get a value or run code from these bytes.
    pub fn is_pickle(&self) -> bool {
        !matches!(self, Scan::NotPickle { .. })
    }
}

#[derive(Clone)]
enum V {
    /// A `str`, its value kept when short.
    Str(Option<String>),
    /// Anything (memo reads, persistent ids): may be a `str`.
    Any,
    /// A value that is not a `str`.
    Other,
}

struct M<'a> {
    d: &'a [u8],
    pos: usize,
    stack: Vec<V>,
    marks: Vec<usize>,
    /// Whether `d` is the whole stream (else a prefix: running out is undecided).
    complete: bool,
}

type Step = Result<(), Scan>;

impl<'a> M<'a> {
    fn fail(&self, at: usize, reason: impl Into<String>) -> Scan {
        Scan::NotPickle {
            offset: at,
            reason: reason.into(),
        }
    }

    /// Running out of input: the loader fails there (whole stream) or
    /// would read on (a prefix).
    fn eof(&self, at: usize, what: &str) -> Scan {
        if self.complete {
            self.fail(at, format!("{what}: the input ends first"))
        } else {
            Scan::Undecided {
                offset: at,
                reason: format!("examined prefix ends in {what}"),
            }
        }
    }

    fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn need(&self, at: usize, n: usize) -> Step {
        if self.stack.len() < self.fence() + n {
            return Err(self.fail(at, "stack underflow"));
        }
        Ok(())
    }

    fn pop(&mut self, at: usize, n: usize) -> Result<Vec<V>, Scan> {
        self.need(at, n)?;
        Ok(self.stack.split_off(self.stack.len() - n))
    }

    fn push(&mut self, v: V) -> Step {
        if self.stack.len() >= MAX_STACK {
            return Err(Scan::Undecided {
                offset: self.pos,
                reason: format!("more than {MAX_STACK} stack items"),
            });
        }
        self.stack.push(v);
        Ok(())
    }

    fn pop_mark(&mut self, at: usize) -> Result<usize, Scan> {
        let m = self
            .marks
            .pop()
            .ok_or_else(|| self.fail(at, "no MARK on the stack"))?;
        let n = self.stack.len() - m;
        self.stack.truncate(m);
        Ok(n)
    }

    fn take(&mut self, at: usize, n: u64) -> Result<&'a [u8], Scan> {
        let left = (self.d.len() - self.pos) as u64;
        if n > left {
            return Err(self.eof(at, &format!("an argument of {n} bytes")));
        }
        let s = &self.d[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn uint(&mut self, at: usize, n: usize) -> Result<u64, Scan> {
        let b = self.take(at, n as u64)?;
        let mut a = [0u8; 8];
        a[..n].copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A protocol-0 argument line, without its `\n` (CPython also takes
    /// the rest of the input when no newline follows).
    fn line(&mut self, at: usize) -> Result<&'a [u8], Scan> {
        let rest = &self.d[self.pos..];
        let (line, used) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], i + 1),
            None if self.complete && !rest.is_empty() => (rest, rest.len()),
            None => return Err(self.eof(at, "an argument line")),
        };
        self.pos += used;
        Ok(line)
    }
}

fn trimmed(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &s[start..end.max(start)]
}

/// An integer literal as `int(x, 0)` might accept (lenient: any base,
/// underscores, an `L` suffix).
fn int_like(s: &[u8]) -> bool {
    let t = trimmed(s);
    let t = t
        .strip_prefix(b"-")
        .or_else(|| t.strip_prefix(b"+"))
        .unwrap_or(t);
    !t.is_empty() && t.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

fn float_like(s: &[u8]) -> bool {
    let t = trimmed(s);
    !t.is_empty()
        && t.iter()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(b))
}

/// Whether `s` is a dotted Python identifier (`os`, `torch._utils`).
pub fn is_dotted_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            let mut cs = part.chars();
            cs.next().is_some_and(|c| c == '_' || c.is_alphabetic())
                && cs.all(|c| c == '_' || c.is_alphanumeric())
        })
}

fn short_str(b: &[u8]) -> V {
    V::Str(if b.len() <= 256 {
        std::str::from_utf8(b).ok().map(str::to_owned)
    } else {
        None
    })
}

/// Runs the lenient pickle model over `data` from offset 0 (see the
/// module docs). Never allocates more than [`MAX_STACK`] entries.
/// `data` is the whole stream; see [`scan_prefix`] for a prefix of one.
pub fn scan(data: &[u8]) -> Scan {
    run(data, true)
}

/// [`scan`] over the first bytes of a longer stream: running out of input
/// is [`Scan::Undecided`] rather than a failure.
pub fn scan_prefix(data: &[u8]) -> Scan {
    run(data, false)
}

fn run(data: &[u8], complete: bool) -> Scan {
    let mut m = M {
        d: data,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        complete,
    };
    loop {
        match step(&mut m) {
            Ok(()) => {}
            Err(s) => return s,
        }
    }
}

fn imports(at: usize, what: impl Into<String>) -> Scan {
    Scan::Imports {
        offset: at,
        what: what.into(),
    }
}

fn global(m: &mut M<'_>, at: usize) -> Result<String, Scan> {
    let module = m.line(at)?;
    let name = m.line(at)?;
    let module = std::str::from_utf8(module).unwrap_or("");
    if !is_dotted_identifier(module) {
        return Err(m.fail(
            at,
            format!(
                "module name {module:?} is not a dotted Python identifier: nothing can be imported"
            ),
        ));
    }
    Ok(format!("{module}.{}", String::from_utf8_lossy(name)))
}

fn step(m: &mut M<'_>) -> Step {
    let at = m.pos;
    let Some(&op) = m.d.get(at) else {
        return Err(m.eof(at, "the opcode stream before STOP"));
    };
    m.pos += 1;
    match op {
        b'(' => {
            if m.marks.len() >= MAX_STACK {
                return Err(Scan::Undecided {
                    offset: at,
                    reason: "too many marks".into(),
                });
            }
            m.marks.push(m.stack.len());
        }
        b'.' => {
            m.need(at, 1)?;
            return Err(Scan::Data { stop: at });
        }
        b'0' => {
            if m.marks.last() == Some(&m.stack.len()) {
                m.marks.pop();
            } else {
                m.pop(at, 1)?;
            }
        }
        b'1' => {
            m.pop_mark(at)?;
        }
        b'2' => {
            m.need(at, 1)?;
            let top = m.stack[m.stack.len() - 1].clone();
            m.push(top)?;
        }
        b'N' | 0x88 | 0x89 | b'}' | b']' | b')' | 0x8f => m.push(V::Other)?,
        b'I' | b'L' => {
            let l = m.line(at)?;
            if !int_like(l) {
                return Err(m.fail(at, "INT/LONG argument is not an integer"));
            }
            m.push(V::Other)?;
        }
        b'F' => {
            let l = m.line(at)?;
            if !float_like(l) {
                return Err(m.fail(at, "FLOAT argument is not a number"));
            }
            m.push(V::Other)?;
        }
        b'S' => {
            let l = m.line(at)?;
            let l = trimmed(l);
            let quoted = l.len() >= 2 && l[0] == l[l.len() - 1] && (l[0] == b'\'' || l[0] == b'"');
            if !quoted {
                return Err(m.fail(at, "STRING argument is not quoted"));
            }
            m.push(short_str(&l[1..l.len() - 1]))?;
        }
        b'V' => {
            let l = m.line(at)?;
            m.push(short_str(l))?;
        }
        b'P' => {
            m.line(at)?;
            m.push(V::Any)?;
        }
        b'Q' => {
            m.pop(at, 1)?;
            m.push(V::Any)?;
        }
        b'g' => {
            let l = m.line(at)?;
            if !int_like(l) {
                return Err(m.fail(at, "GET argument is not an integer"));
            }
            m.push(V::Any)?;
        }
        b'h' | b'j' => {
            m.uint(at, if op == b'h' { 1 } else { 4 })?;
            m.push(V::Any)?;
        }
        b'p' => {
            let l = m.line(at)?;
            if !int_like(l) {
                return Err(m.fail(at, "PUT argument is not an integer"));
            }
            m.need(at, 1)?;
        }
        b'q' | b'r' | 0x94 => {
            match op {
                b'q' => drop(m.uint(at, 1)?),
                b'r' => drop(m.uint(at, 4)?),
                _ => {}
            }
            m.need(at, 1)?;
        }
        b'J' | b'K' | b'M' | b'G' => {
            let n = match op {
                b'J' => 4,
                b'K' => 1,
                b'M' => 2,
                _ => 8,
            };
            m.take(at, n)?;
            m.push(V::Other)?;
        }
        0x8a | 0x8b => {
            let n = m.uint(at, if op == 0x8a { 1 } else { 4 })?;
            m.take(at, n)?;
            m.push(V::Other)?;
        }
        b'T' | b'U' | b'X' | 0x8c | 0x8d => {
            let w = match op {
                b'U' | 0x8c => 1,
                0x8d => 8,
                _ => 4,
            };
            let n = m.uint(at, w)?;
            let s = m.take(at, n)?;
            m.push(short_str(s))?;
        }
        b'B' | b'C' | 0x8e | 0x96 => {
            let w = match op {
                b'C' => 1,
                b'B' => 4,
                _ => 8,
            };
            let n = m.uint(at, w)?;
            m.take(at, n)?;
            m.push(V::Other)?;
        }
        0x80 => {
            let p = m.uint(at, 1)?;
            if p > 5 {
                return Err(m.fail(at, format!("unsupported pickle protocol {p}")));
            }
        }
        0x95 => {
            m.uint(at, 8)?;
        }
        0x97 => return Err(m.fail(at, "NEXT_BUFFER without out-of-band buffers")),
        0x98 => m.need(at, 1)?,
        b't' | b'l' | b'd' | 0x91 => {
            m.pop_mark(at)?;
            m.push(V::Other)?;
        }
        0x85..=0x87 => {
            m.pop(at, usize::from(op - 0x84))?;
            m.push(V::Other)?;
        }
        b'a' => {
            m.need(at, 2)?;
            m.pop(at, 1)?;
        }
        b's' => {
            m.need(at, 3)?;
            m.pop(at, 2)?;
        }
        b'e' | b'u' | 0x90 => {
            let mark = *m
                .marks
                .last()
                .ok_or_else(|| m.fail(at, "no MARK on the stack"))?;
            if mark == 0 {
                return Err(m.fail(at, "no container below the MARK"));
            }
            m.pop_mark(at)?;
        }
        b'c' => return Err(imports(at, global(m, at)?)),
        b'i' => return Err(imports(at, format!("INST {}", global(m, at)?))),
        0x93 => {
            let v = m.pop(at, 2)?;
            let mut names = Vec::new();
            for x in &v {
                match x {
                    V::Str(s) => names.push(s.clone()),
                    V::Any => names.push(None),
                    V::Other => return Err(m.fail(at, "STACK_GLOBAL requires str")),
                }
            }
            if let Some(Some(module)) = names.first() {
                if !is_dotted_identifier(module) {
                    return Err(m.fail(
                        at,
                        format!("module name {module:?} is not a dotted Python identifier"),
                    ));
                }
            }
            let show = |n: &Option<String>| n.clone().unwrap_or_else(|| "?".into());
            return Err(imports(
                at,
                format!("{}.{}", show(&names[0]), show(&names[1])),
            ));
        }
        0x82..=0x84 => {
            let w = [1, 2, 4][usize::from(op - 0x82)];
            let code = m.uint(at, w)?;
            if code == 0 {
                return Err(m.fail(at, "EXT code 0"));
            }
            return Err(imports(at, format!("extension code {code}")));
        }
        b'R' | b'b' | 0x81 => {
            m.need(at, 2)?;
            return Err(imports(at, opname(op)));
        }
        0x92 => {
            m.need(at, 3)?;
            return Err(imports(at, opname(op)));
        }
        b'o' => {
            let mark = *m
                .marks
                .last()
                .ok_or_else(|| m.fail(at, "no MARK on the stack"))?;
            if m.stack.len() <= mark {
                return Err(m.fail(at, "OBJ without a class"));
            }
            return Err(imports(at, opname(op)));
        }
        _ => return Err(m.fail(at, format!("byte 0x{op:02x} is not a pickle opcode"))),
    }
    Ok(())
}

fn opname(op: u8) -> &'static str {
    match op {
        b'R' => "REDUCE",
        b'b' => "BUILD",
        0x81 => "NEWOBJ",
        0x92 => "NEWOBJ_EX",
        _ => "OBJ",
    }
}

/// Whether a file is a model file, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// A loader could read a model (or run code) from it: it must be judged.
    Model {
        /// The format detected from the content.
        format: Format,
        /// Why it counts.
        why: String,
    },
    /// A Git LFS pointer: the model was not pulled.
    LfsPointer,
    /// No loader could read a pickle or tensors from it.
    NotModel {
        /// The format detected from the content.
        format: Format,
        /// Why not.
        why: String,
    },
}

/// Decides whether `data` is a model file (see the module docs).
pub fn judge(data: &[u8]) -> Judgement {
    let format = detect(data);
    let model = |why: String| Judgement::Model { format, why };
    let not = |why: String| Judgement::NotModel { format, why };
    if data.is_empty() {
        return not("empty file: a loader reads nothing from it".into());
    }
    if data.starts_with(LFS_POINTER_PREFIX) {
        return Judgement::LfsPointer;
    }
    match format {
        Format::TorchZip
        | Format::TorchScript
        | Format::TorchLegacy
        | Format::Npy
        | Format::Npz
        | Format::Joblib { .. }
        | Format::Pickle
        | Format::Safetensors
        | Format::Tensorseal => model(format!("{format} content")),
        Format::Tar => model("tar archive: legacy torch.load reads tar checkpoints".into()),
        Format::Compressed(codec) => match window(codec, data) {
            None => model(format!(
                "{} stream whose content was not examined",
                codec.name()
            )),
            Some((inner, complete)) => match run(&inner, complete) {
                Scan::NotPickle { offset, reason } => not(format!(
                    "{} stream; its content is not a pickle (offset {offset}: {reason})",
                    codec.name()
                )),
                s => model(format!("{} stream: {}", codec.name(), describe(&s))),
            },
        },
        Format::Zip => zip_judgement(data)
            .map_or_else(|| not("zip archive without a NumPy member".into()), model),
        Format::SevenZip => not("7z archive: no pickle loader opens it".into()),
        _ => match scan(data) {
            Scan::NotPickle { offset, reason } => {
                not(format!("not a pickle (offset {offset}: {reason})"))
            }
            s => model(describe(&s)),
        },
    }
}

fn describe(s: &Scan) -> String {
    match s {
        Scan::Imports { offset, what } => {
            format!("a pickle loader would import or call {what} at offset {offset}")
        }
        Scan::Data { stop } => format!("a complete pickle (STOP at offset {stop})"),
        Scan::Undecided { offset, reason } => {
            format!("read as a pickle up to offset {offset} ({reason}): counted as one")
        }
        Scan::NotPickle { offset, reason } => format!("not a pickle (offset {offset}: {reason})"),
    }
}

/// `numpy.load` opens any zip as an `NpzFile` and reads every member that
/// starts with the NumPy magic as an array (object arrays are pickles).
fn zip_judgement(data: &[u8]) -> Option<String> {
    let Ok(z) = ZipArchive::parse(data) else {
        return Some("zip archive that could not be read member by member".into());
    };
    for e in z.entries() {
        // Inflated streaming with every check, holding only a prefix: a
        // deflate bomb costs time, not memory.
        let limits = crate::stream::StreamLimits {
            total: e.uncompressed_size,
            ratio: u64::MAX,
            resident: 2 << 20,
        };
        let read = match e.method {
            crate::zip::ZipMethod::Stored => z.read_entry(e),
            crate::zip::ZipMethod::Deflate => z.raw_entry(e).and_then(|raw| {
                crate::stream::inflate_member(raw, e, limits, |_| false)
                    .map(std::borrow::Cow::Owned)
            }),
        };
        match read {
            Ok(b) if b.starts_with(b"\x93NUMPY") => {
                return Some(format!("zip member {:?} is a NumPy array", e.name))
            }
            Ok(_) => {}
            Err(_) => return Some(format!("zip member {:?} could not be read", e.name)),
        }
    }
    None
}

/// The first [`WINDOW`] decompressed bytes and whether the stream ended
/// there, or `None` when the codec is not examined here (lz4, xz, lzma:
/// counted as model files).
fn window(codec: Compression, data: &[u8]) -> Option<(Vec<u8>, bool)> {
    let r: Box<dyn Read + '_> = match codec {
        Compression::Zlib => Box::new(flate2::read::ZlibDecoder::new(data)),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(data)),
        Compression::Bz2 => Box::new(bzip2::read::BzDecoder::new(data)),
        _ => return None,
    };
    let mut out = Vec::new();
    // A decode error after some output still leaves what a loader would
    // have unpickled before failing.
    let _ = r.take(WINDOW).read_to_end(&mut out);
    let complete = (out.len() as u64) < WINDOW;
    Some((out, complete))
}
