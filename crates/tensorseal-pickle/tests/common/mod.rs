//! Test helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use tensorseal_pickle::{Graph, HookError, Hooks, NodeId, Value};

/// Path of a file under tests/data.
pub fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/fixtures")
        .join(rel)
}

/// Read a file under tests/data.
pub fn read(rel: &str) -> Vec<u8> {
    std::fs::read(data(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// Tiny test-only reader for STORED zip members (PyTorch writes data.pkl
/// uncompressed): walks local headers and returns the first member whose name
/// ends with `suffix`. The real strict zip reader lives in tensorseal-convert.
pub fn stored_member(zip: &[u8], suffix: &str) -> Option<Vec<u8>> {
    let u16at = |o: usize| -> Option<usize> {
        Some(u16::from_le_bytes([*zip.get(o)?, *zip.get(o + 1)?]) as usize)
    };
    let u32at = |o: usize| -> Option<usize> {
        let b = zip.get(o..o + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let eocd = (0..zip.len().saturating_sub(21))
        .rev()
        .find(|&i| zip[i..].starts_with(b"PK\x05\x06"))?;
    let count = u16at(eocd + 10)?;
    let mut pos = u32at(eocd + 16)?;
    for _ in 0..count {
        if !zip.get(pos..)?.starts_with(b"PK\x01\x02") {
            return None;
        }
        let method = u16at(pos + 10)?;
        let csize = u32at(pos + 20)?;
        let nlen = u16at(pos + 28)?;
        let xlen = u16at(pos + 30)?;
        let clen = u16at(pos + 32)?;
        let local = u32at(pos + 42)?;
        let name = zip.get(pos + 46..pos + 46 + nlen)?;
        if method == 0 && name.ends_with(suffix.as_bytes()) {
            let data_start = local + 30 + u16at(local + 26)? + u16at(local + 28)?;
            return Some(zip.get(data_start..data_start + csize)?.to_vec());
        }
        pos += 46 + nlen + xlen + clen;
    }
    None
}

/// Example joblib hook: after BUILD of a `NumpyArrayWrapper`, skip the
/// padding byte, the padding and `prod(shape) * itemsize` raw bytes.
#[derive(Default)]
pub struct JoblibHooks {
    pub arrays: Vec<(NodeId, usize, usize)>,
}

fn itemsize(graph: &Graph, dtype: NodeId) -> Option<usize> {
    let call = graph.as_call(dtype)?;
    // Structured dtypes carry their element size in the BUILD state tuple
    // (3, byteorder, subarray, names, fields, elsize, alignment, flags).
    if let Some(state) = call.state.and_then(|s| graph.as_tuple(s)) {
        if let Some(elsize) = state.get(5).and_then(|&e| graph.as_int(e)) {
            if elsize > 0 {
                return usize::try_from(elsize).ok();
            }
        }
    }
    let args = graph.as_tuple(call.args)?;
    let code = graph.as_str(*args.first()?)?;
    let digits: String = code.chars().filter(|c| c.is_ascii_digit()).collect();
    match code.chars().find(|c| c.is_ascii_alphabetic())? {
        'b' if digits.is_empty() => Some(1),
        'f' | 'i' | 'u' | 'c' | 'b' => digits.parse().ok(),
        _ => None,
    }
}

impl Hooks for JoblibHooks {
    fn after_build(
        &mut self,
        graph: &Graph,
        obj: NodeId,
        input: &[u8],
        pos: usize,
    ) -> Result<usize, HookError> {
        if graph.class_of(obj) != Some(("joblib.numpy_pickle", "NumpyArrayWrapper")) {
            return Ok(0);
        }
        let state = graph
            .as_call(obj)
            .and_then(|c| c.state)
            .ok_or("wrapper without state")?;
        let shape = graph
            .dict_get_str(state, "shape")
            .and_then(|s| graph.as_tuple(s))
            .ok_or("wrapper without shape")?;
        let mut n: usize = 1;
        for &d in shape {
            let d = graph.as_int(d).ok_or("bad dim")?;
            n = n
                .checked_mul(usize::try_from(d).map_err(|_| "negative dim")?)
                .ok_or("overflow")?;
        }
        let dtype = graph.dict_get_str(state, "dtype").ok_or("no dtype")?;
        let size = itemsize(graph, dtype).ok_or("unsupported dtype")?;
        let nbytes = n.checked_mul(size).ok_or("overflow")?;
        let mut skip = 0;
        if graph
            .dict_get_str(state, "numpy_array_alignment_bytes")
            .is_some()
        {
            let pad = *input.get(pos).ok_or("missing padding length")? as usize;
            skip = 1 + pad;
        }
        self.arrays.push((obj, pos + skip, nbytes));
        let _ = Value::None;
        Ok(skip + nbytes)
    }
}

/// Minimal pickle assembler for hostile test streams (bytes only; nothing is
/// ever loaded by Python).
#[derive(Clone, Default)]
pub struct P(pub Vec<u8>);

impl P {
    pub fn new() -> Self {
        P(Vec::new())
    }
    pub fn proto(mut self, v: u8) -> Self {
        self.0.extend([0x80, v]);
        self
    }
    pub fn raw(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    pub fn op(mut self, c: u8) -> Self {
        self.0.push(c);
        self
    }
    /// `c` GLOBAL opcode with text lines.
    pub fn global(mut self, m: &str, n: &str) -> Self {
        self.0.push(b'c');
        self.0.extend_from_slice(m.as_bytes());
        self.0.push(b'\n');
        self.0.extend_from_slice(n.as_bytes());
        self.0.push(b'\n');
        self
    }
    /// SHORT_BINUNICODE.
    pub fn s(mut self, s: &str) -> Self {
        self.0.push(0x8c);
        self.0.push(s.len() as u8);
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    /// SHORT_BINBYTES.
    pub fn b(mut self, b: &[u8]) -> Self {
        self.0.push(b'C');
        self.0.push(b.len() as u8);
        self.0.extend_from_slice(b);
        self
    }
    /// BINBYTES (u32 length).
    pub fn bin_bytes(mut self, b: &[u8]) -> Self {
        self.0.push(b'B');
        self.0.extend_from_slice(&(b.len() as u32).to_le_bytes());
        self.0.extend_from_slice(b);
        self
    }
    /// BININT1.
    pub fn int(mut self, v: u8) -> Self {
        self.0.extend([b'K', v]);
        self
    }
    /// STACK_GLOBAL of two literal strings.
    pub fn stack_global(self, m: &str, n: &str) -> Self {
        self.s(m).s(n).op(0x93)
    }
    /// `callee(arg_str)` via TUPLE1 + REDUCE (callee already on the stack).
    pub fn call1(self, arg: &str) -> Self {
        self.s(arg).op(0x85).op(b'R')
    }
    pub fn frame(mut self, n: u64) -> Self {
        self.0.push(0x95);
        self.0.extend_from_slice(&n.to_le_bytes());
        self
    }
    pub fn stop(self) -> Self {
        self.op(b'.')
    }
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}
