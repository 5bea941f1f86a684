//! NumPy `.npy` / `.npz` readers with a strict header grammar (never `eval`).

use std::borrow::Cow;

use crate::layout::{fortran_strides, numel, LayoutError, View};
use crate::model::ElementSize;
use crate::model::{DType, ImportedTensor};

/// Errors of the `.npy` reader; offsets are relative to the start of the
/// `.npy` stream (for `.npz`, of the member).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NpyError {
    /// Not starting with `\x93NUMPY`.
    #[error("npy: missing magic \\x93NUMPY at offset 0")]
    BadMagic,
    /// Version other than 1.0, 2.0, 3.0.
    #[error("npy: unsupported format version {major}.{minor} at offset 6")]
    BadVersion {
        /// Major.
        major: u8,
        /// Minor.
        minor: u8,
    },
    /// The input ended early.
    #[error("npy: truncated {structure} at offset {offset}")]
    Truncated {
        /// What was being read.
        structure: &'static str,
        /// Where it starts.
        offset: u64,
    },
    /// The header text is not a valid dict literal of the accepted grammar.
    #[error("npy: header syntax error at offset {offset}: {reason}")]
    Syntax {
        /// Offset in the file.
        offset: u64,
        /// Why.
        reason: &'static str,
    },
    /// The header dict has wrong, missing or extra keys/values.
    #[error("npy: bad header field '{field}': {reason}")]
    BadField {
        /// Key.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// Structured (record) dtype.
    #[error("npy: structured dtype (fields {fields:?}) has no tensor dtype; refused")]
    StructuredDtype {
        /// Field names, if readable.
        fields: Vec<String>,
    },
    /// Object dtype: the payload would be a pickle.
    #[error("npy: object dtype '{descr}': the data is a pickle and is never loaded; refused")]
    ObjectDtype {
        /// The descr.
        descr: String,
    },
    /// A descr that maps to no supported dtype.
    #[error("npy: unsupported dtype descr '{descr}'")]
    UnsupportedDtype {
        /// The descr.
        descr: String,
    },
    /// Data length differs from shape product × itemsize.
    #[error("npy: data at offset {offset} has {actual} bytes, shape needs {expected}")]
    DataLength {
        /// Data offset.
        offset: u64,
        /// Expected bytes.
        expected: u64,
        /// Actual bytes.
        actual: u64,
    },
    /// Size arithmetic overflow or view problem.
    #[error("npy: {0}")]
    Layout(#[from] LayoutError),
}

/// A parsed `.npy` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    /// Format version (major, minor).
    pub version: (u8, u8),
    /// Element type.
    pub dtype: DType,
    /// True when the stored data is big-endian.
    pub big_endian: bool,
    /// True when the stored data is in Fortran order.
    pub fortran_order: bool,
    /// Shape.
    pub shape: Vec<u64>,
    /// Offset of the array data.
    pub data_offset: u64,
}

/// Python literal values admitted by the header grammar.
#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Str(String),
    Int(u64),
    Bool(bool),
    None,
    Tuple(Vec<Lit>),
    List(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
}

const MAX_DEPTH: usize = 32;
/// Largest header accepted (numpy's own default limit is 10 000).
pub const MAX_HEADER_LEN: usize = 1 << 20;

struct P<'h> {
    s: &'h [u8],
    i: usize,
    base: u64,
}

impl P<'_> {
    fn err(&self, reason: &'static str) -> NpyError {
        NpyError::Syntax {
            offset: self.base + self.i as u64,
            reason,
        }
    }
    fn ws(&mut self) {
        while self.i < self.s.len() && (self.s[self.i] == b' ') {
            self.i += 1;
        }
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn value(&mut self, depth: usize) -> Result<Lit, NpyError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        self.ws();
        match self.peek() {
            Some(q @ (b'\'' | b'"')) => {
                self.i += 1;
                let start = self.i;
                while let Some(c) = self.peek() {
                    if c == q {
                        let raw = &self.s[start..self.i];
                        self.i += 1;
                        let st = std::str::from_utf8(raw)
                            .map_err(|_| self.err("string is not valid text"))?;
                        return Ok(Lit::Str(st.to_owned()));
                    }
                    if c == b'\\' || c == b'\n' || c < 0x20 {
                        return Err(
                            self.err("escapes and control characters are not accepted in strings")
                        );
                    }
                    self.i += 1;
                }
                Err(self.err("unterminated string"))
            }
            Some(b'0'..=b'9') => {
                let start = self.i;
                while matches!(self.peek(), Some(b'0'..=b'9')) {
                    self.i += 1;
                }
                let digits = &self.s[start..self.i];
                if digits.len() > 1 && digits[0] == b'0' {
                    return Err(self.err("leading zero in integer"));
                }
                if matches!(self.peek(), Some(b'L')) {
                    // Python 2 long suffix, written by old numpy.
                    self.i += 1;
                }
                let mut v: u64 = 0;
                for &d in digits {
                    v = v
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(u64::from(d - b'0')))
                        .ok_or_else(|| self.err("integer too large"))?;
                }
                Ok(Lit::Int(v))
            }
            Some(b'T') if self.s[self.i..].starts_with(b"True") => {
                self.i += 4;
                Ok(Lit::Bool(true))
            }
            Some(b'F') if self.s[self.i..].starts_with(b"False") => {
                self.i += 5;
                Ok(Lit::Bool(false))
            }
            Some(b'N') if self.s[self.i..].starts_with(b"None") => {
                self.i += 4;
                Ok(Lit::None)
            }
            Some(open @ (b'(' | b'[')) => {
                self.i += 1;
                let close = if open == b'(' { b')' } else { b']' };
                let mut items = Vec::new();
                let mut trailing_comma = false;
                loop {
                    if self.eat(close) {
                        break;
                    }
                    items.push(self.value(depth + 1)?);
                    trailing_comma = self.eat(b',');
                    if !trailing_comma {
                        if self.eat(close) {
                            break;
                        }
                        return Err(self.err("expected ',' or closing bracket"));
                    }
                }
                if open == b'(' {
                    // `(x)` is not a tuple in Python; `(x,)` is.
                    if items.len() == 1 && !trailing_comma {
                        return Err(self.err("parenthesised value is not a tuple"));
                    }
                    Ok(Lit::Tuple(items))
                } else {
                    Ok(Lit::List(items))
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    if self.eat(b'}') {
                        break;
                    }
                    let k = self.value(depth + 1)?;
                    if !self.eat(b':') {
                        return Err(self.err("expected ':'"));
                    }
                    let v = self.value(depth + 1)?;
                    items.push((k, v));
                    if !self.eat(b',') {
                        if self.eat(b'}') {
                            break;
                        }
                        return Err(self.err("expected ',' or '}'"));
                    }
                }
                Ok(Lit::Dict(items))
            }
            Some(_) => Err(self.err("unexpected character")),
            None => Err(self.err("unexpected end of header")),
        }
    }
}

/// Map a simple numpy descr (`'<f4'`, `'|b1'`, ...) to a dtype and byte order.
fn map_descr(descr: &str) -> Result<(DType, bool), NpyError> {
    let unsupported = || NpyError::UnsupportedDtype {
        descr: descr.to_owned(),
    };
    let b = descr.as_bytes();
    if b.len() < 2 {
        if descr == "O" {
            return Err(NpyError::ObjectDtype {
                descr: descr.to_owned(),
            });
        }
        return Err(unsupported());
    }
    let (order, rest) = (b[0], &descr[1..]);
    if rest.starts_with('O') {
        return Err(NpyError::ObjectDtype {
            descr: descr.to_owned(),
        });
    }
    let dtype = simple_kind(rest).ok_or_else(unsupported)?;
    let big = match order {
        b'<' => false,
        b'>' => true,
        // '|' means "not applicable": only for one-byte types.
        b'|' if dtype.size() == 1 => false,
        _ => return Err(unsupported()),
    };
    Ok((dtype, big))
}

/// Parse a `.npy` header (magic, version, length, dict literal). Never
/// panics; the data itself is not examined.
pub fn parse_npy_header(data: &[u8]) -> Result<NpyHeader, NpyError> {
    if data.len() < 6 || &data[..6] != b"\x93NUMPY" {
        return Err(NpyError::BadMagic);
    }
    let (major, minor) = match data.get(6..8) {
        Some(v) => (v[0], v[1]),
        None => {
            return Err(NpyError::Truncated {
                structure: "version",
                offset: 6,
            })
        }
    };
    let (hlen, hstart) = match (major, minor) {
        (1, 0) => match data.get(8..10) {
            Some(b) => (usize::from(u16::from_le_bytes([b[0], b[1]])), 10usize),
            None => {
                return Err(NpyError::Truncated {
                    structure: "header length",
                    offset: 8,
                })
            }
        },
        (2, 0) | (3, 0) => match data.get(8..12) {
            Some(b) => {
                let l = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                (usize::try_from(l).unwrap_or(usize::MAX), 12usize)
            }
            None => {
                return Err(NpyError::Truncated {
                    structure: "header length",
                    offset: 8,
                })
            }
        },
        _ => return Err(NpyError::BadVersion { major, minor }),
    };
    if hlen > MAX_HEADER_LEN {
        return Err(NpyError::Syntax {
            offset: 8,
            reason: "header longer than the accepted maximum",
        });
    }
    let hend = hstart.checked_add(hlen).ok_or(NpyError::Truncated {
        structure: "header",
        offset: hstart as u64,
    })?;
    let header = data.get(hstart..hend).ok_or(NpyError::Truncated {
        structure: "header",
        offset: hstart as u64,
    })?;
    if major < 3 && !header.is_ascii() {
        // latin-1 is allowed by numpy, but every valid simple header is ASCII.
        return Err(NpyError::Syntax {
            offset: hstart as u64,
            reason: "non-ASCII header",
        });
    }
    if header.last() != Some(&b'\n') {
        return Err(NpyError::Syntax {
            offset: hend.saturating_sub(1) as u64,
            reason: "header does not end with a newline",
        });
    }
    let mut p = P {
        s: &header[..header.len() - 1],
        i: 0,
        base: hstart as u64,
    };
    let lit = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("trailing characters after the header dict"));
    }
    let Lit::Dict(items) = lit else {
        return Err(NpyError::Syntax {
            offset: hstart as u64,
            reason: "header is not a dict",
        });
    };
    let mut descr = None;
    let mut fortran = None;
    let mut shape = None;
    for (k, v) in items {
        let Lit::Str(k) = k else {
            return Err(NpyError::BadField {
                field: "<key>",
                reason: "key is not a string",
            });
        };
        let slot = match k.as_str() {
            "descr" => &mut descr,
            "fortran_order" => &mut fortran,
            "shape" => &mut shape,
            _ => {
                return Err(NpyError::BadField {
                    field: "<key>",
                    reason: "unexpected key",
                })
            }
        };
        if slot.replace(v).is_some() {
            return Err(NpyError::BadField {
                field: "<key>",
                reason: "duplicate key",
            });
        }
    }
    let descr = descr.ok_or(NpyError::BadField {
        field: "descr",
        reason: "missing",
    })?;
    let fortran = match fortran {
        Some(Lit::Bool(b)) => b,
        Some(_) => {
            return Err(NpyError::BadField {
                field: "fortran_order",
                reason: "not a bool",
            })
        }
        None => {
            return Err(NpyError::BadField {
                field: "fortran_order",
                reason: "missing",
            })
        }
    };
    let shape = match shape {
        Some(Lit::Tuple(items)) => items
            .into_iter()
            .map(|d| match d {
                Lit::Int(n) => Ok(n),
                _ => Err(NpyError::BadField {
                    field: "shape",
                    reason: "dimension is not a non-negative integer",
                }),
            })
            .collect::<Result<Vec<u64>, _>>()?,
        Some(_) => {
            return Err(NpyError::BadField {
                field: "shape",
                reason: "not a tuple",
            })
        }
        None => {
            return Err(NpyError::BadField {
                field: "shape",
                reason: "missing",
            })
        }
    };
    let (dtype, big_endian) = match descr {
        Lit::Str(s) => map_descr(&s)?,
        Lit::List(fields) => {
            let names = fields
                .iter()
                .filter_map(|f| match f {
                    Lit::Tuple(t) => match t.first() {
                        Some(Lit::Str(n)) => Some(n.clone()),
                        _ => None,
                    },
                    _ => None,
                })
                .collect();
            return Err(NpyError::StructuredDtype { fields: names });
        }
        _ => {
            return Err(NpyError::BadField {
                field: "descr",
                reason: "neither a string nor a field list",
            })
        }
    };
    Ok(NpyHeader {
        version: (major, minor),
        dtype,
        big_endian,
        fortran_order: fortran,
        shape,
        data_offset: hend as u64,
    })
}

/// Read a whole `.npy` stream into one tensor (`name` given by the caller).
/// The data must be exactly shape product × itemsize bytes; big-endian data
/// is converted, Fortran order materialised C-contiguous. C-ordered
/// little-endian data is borrowed.
pub fn read_npy<'a>(
    name: &str,
    data: &'a [u8],
    limit: u64,
) -> Result<ImportedTensor<'a>, NpyError> {
    let h = parse_npy_header(data)?;
    let n = numel(&h.shape).ok_or(LayoutError::Overflow {
        shape: h.shape.clone(),
        stride: vec![],
        offset: 0,
    })?;
    let expected = n
        .checked_mul(h.dtype.size() as u64)
        .ok_or(LayoutError::Overflow {
            shape: h.shape.clone(),
            stride: vec![],
            offset: 0,
        })?;
    let body = &data[h.data_offset as usize..];
    if body.len() as u64 != expected {
        return Err(NpyError::DataLength {
            offset: h.data_offset,
            expected,
            actual: body.len() as u64,
        });
    }
    let strides: Vec<i64> = if h.fortran_order {
        fortran_strides(&h.shape)
    } else {
        crate::layout::contiguous_strides(&h.shape)
    }
    .ok_or(LayoutError::Overflow {
        shape: h.shape.clone(),
        stride: vec![],
        offset: 0,
    })?;
    let view = View::new(&h.shape, &strides, 0, n)?;
    let swap = h.big_endian.then(|| h.dtype.swap_unit());
    let bytes = view.materialise(body, h.dtype.size(), swap, limit)?;
    Ok(ImportedTensor {
        name: name.to_owned(),
        dtype: h.dtype,
        shape: h.shape,
        data: bytes,
    })
}

/// Convert an owned `.npy` (e.g. an inflated `.npz` member) into a tensor
/// that owns its bytes.
pub fn read_npy_owned<'a>(
    name: &str,
    data: Cow<'a, [u8]>,
    limit: u64,
) -> Result<ImportedTensor<'a>, NpyError> {
    match data {
        Cow::Borrowed(b) => read_npy(name, b, limit),
        Cow::Owned(v) => read_npy(name, &v, limit).map(ImportedTensor::into_owned),
    }
}

/// Fuzz-target entry point for the header grammar.
pub fn fuzz_npy_header(data: &[u8]) -> Result<NpyHeader, NpyError> {
    parse_npy_header(data)
}

/// The dtype of a NumPy type code without its byte-order character (`f4`,
/// `i8`, `b1` or `?`, ...), for the whole-byte types a tensor can hold.
pub(crate) fn simple_kind(code: &str) -> Option<DType> {
    Some(match code {
        "b1" | "?" => DType::BOOL,
        "u1" => DType::U8,
        "i1" => DType::I8,
        "u2" => DType::U16,
        "i2" => DType::I16,
        "u4" => DType::U32,
        "i4" => DType::I32,
        "u8" => DType::U64,
        "i8" => DType::I64,
        "f2" => DType::F16,
        "f4" => DType::F32,
        "f8" => DType::F64,
        "c8" => DType::C64,
        _ => return None,
    })
}
