//! joblib files (scikit-learn models): a pickle stream in which every NumPy
//! array is a `joblib.numpy_pickle.NumpyArrayWrapper` whose raw bytes follow
//! the wrapper's `BUILD` inline (1 padding-length byte, that many `0xFF`
//! bytes, then the array), optionally compressed as a whole.
//!
//! Every array in the object graph comes out as a named tensor (dotted path
//! through object state dicts; structured arrays such as scikit-learn tree
//! `nodes` are split into one tensor per field). [`parse_joblib`] exposes the
//! graph and the array records for callers that rebuild estimators.

use std::borrow::Cow;
use std::collections::HashMap;

use tensorseal_pickle::{
    Finding, FindingKind, GlobalClass, GlobalRef, Graph, HookError, Hooks, NoHooks, NodeId,
    Options, Parsed, Profile, Severity, Value,
};

use crate::compress::{decompress, Compression};
use crate::error::ConvertError;
use crate::graph::{ObjectPolicy, TensorRecogniser, Walker};
use crate::layout::{contiguous_strides, fortran_strides, numel, swap_in_place, View};
use crate::model::ElementSize;
use crate::model::{DType, ImportedTensor, MetaValue};
use crate::ConvertOptions;

mod meta;
pub(crate) use meta::{bytes_value, numpy_meta_value};

/// Refuse a parsed pickle unless every global is allowed and inspection
/// found nothing above informational.
pub fn refuse_unsafe(parsed: &Parsed, structure: &str) -> Result<(), ConvertError> {
    for g in &parsed.globals {
        if g.class != GlobalClass::Allowed {
            let class = match g.class {
                GlobalClass::Dangerous { reason } => format!("dangerous: {reason:?}"),
                _ => "unknown".to_owned(),
            };
            return Err(ConvertError::Global {
                structure: structure.to_owned(),
                global: g.dotted(),
                class,
            });
        }
    }
    if let Some(f) = parsed.findings.iter().find(|f| f.severity > Severity::Info) {
        return Err(ConvertError::Unsafe {
            structure: structure.to_owned(),
            offset: f.offset,
            message: f.message.clone(),
        });
    }
    Ok(())
}

/// A NumPy dtype read from a pickled `numpy.dtype` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NpDType {
    /// A plain numeric/bool type.
    Simple {
        /// Element type.
        dtype: DType,
        /// Stored big-endian.
        big_endian: bool,
    },
    /// A structured (record) type.
    Structured {
        /// Bytes per record.
        itemsize: u64,
        /// Fields: name, type, byte offset in the record.
        fields: Vec<(String, DType, bool, u64)>,
    },
    /// Fixed-width text: NumPy `U<n>` (UCS-4, `unicode`) or `S<n>` (bytes).
    /// Such arrays (e.g. string class labels) become metadata, not tensors.
    Text {
        /// `U` (4 bytes per character) rather than `S` (1 byte).
        unicode: bool,
        /// Characters per element.
        chars: u64,
        /// UCS-4 stored big-endian.
        big_endian: bool,
    },
    /// Object dtype, also a structured dtype with an object field (NumPy's
    /// `hasobject`): joblib stores the array as a nested pickle.
    Object,
}

impl NpDType {
    /// Bytes per element.
    pub fn itemsize(&self) -> u64 {
        match self {
            NpDType::Simple { dtype, .. } => dtype.size() as u64,
            NpDType::Structured { itemsize, .. } => *itemsize,
            NpDType::Text { unicode, chars, .. } => {
                if *unicode {
                    chars.saturating_mul(4)
                } else {
                    *chars
                }
            }
            NpDType::Object => 8,
        }
    }

    /// The NumPy spelling of a text dtype (`<U5`, `|S3`); `None` otherwise.
    pub fn text_descr(&self) -> Option<String> {
        match self {
            NpDType::Text {
                unicode: true,
                chars,
                big_endian,
            } => Some(format!("{}U{chars}", if *big_endian { ">" } else { "<" })),
            NpDType::Text { chars, .. } => Some(format!("|S{chars}")),
            _ => None,
        }
    }
}

/// The elements of a text array (`U`/`S` dtype) as metadata: nested lists
/// in C order (a flat list for 1-D), trailing NULs stripped as NumPy does;
/// `U` elements as strings (invalid code points replaced by U+FFFD), `S`
/// elements as bytes. `None` for other dtypes or when `bytes` does not hold
/// exactly the array.
pub fn text_values(
    dtype: &NpDType,
    shape: &[u64],
    fortran: bool,
    bytes: &[u8],
) -> Option<MetaValue> {
    let NpDType::Text {
        unicode,
        big_endian,
        ..
    } = dtype
    else {
        return None;
    };
    let item = usize::try_from(dtype.itemsize()).ok()?;
    let n = usize::try_from(numel(shape)?).ok()?;
    if n.checked_mul(item)? != bytes.len() {
        return None;
    }
    let element = |i: usize| -> MetaValue {
        let raw = bytes.get(i * item..(i + 1) * item).unwrap_or(&[]);
        if *unicode {
            let mut s: String = raw
                .chunks_exact(4)
                .map(|c| {
                    let a = [c[0], c[1], c[2], c[3]];
                    let u = if *big_endian {
                        u32::from_be_bytes(a)
                    } else {
                        u32::from_le_bytes(a)
                    };
                    char::from_u32(u).unwrap_or(char::REPLACEMENT_CHARACTER)
                })
                .collect();
            s.truncate(s.trim_end_matches('\0').len());
            MetaValue::Str(s)
        } else {
            let end = raw.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
            MetaValue::Bytes(raw[..end].to_vec())
        }
    };
    let dims: Vec<usize> = shape
        .iter()
        .map(|&d| usize::try_from(d).ok())
        .collect::<Option<_>>()?;
    // Element strides (in elements) of the stored order.
    let mut strides = vec![0usize; dims.len()];
    let mut acc = 1usize;
    let order: Vec<usize> = if fortran {
        (0..dims.len()).collect()
    } else {
        (0..dims.len()).rev().collect()
    };
    for k in order {
        strides[k] = acc;
        acc = acc.saturating_mul(dims[k]);
    }
    fn build(
        dims: &[usize],
        strides: &[usize],
        base: usize,
        element: &dyn Fn(usize) -> MetaValue,
    ) -> MetaValue {
        match (dims.first(), strides.first()) {
            (Some(&d), Some(&st)) => MetaValue::List(
                (0..d)
                    .map(|i| build(&dims[1..], &strides[1..], base + i * st, element))
                    .collect(),
            ),
            _ => element(base),
        }
    }
    Some(build(&dims, &strides, 0, &element))
}

/// `U<n>` / `S<n>` descriptors (`n` >= 1).
fn text_kind(descr: &str, order: &str) -> Result<Option<NpDType>, String> {
    let (unicode, digits) = match descr.split_at_checked(1) {
        Some(("U", d)) => (true, d),
        Some(("S", d)) => (false, d),
        _ => return Ok(None),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let chars: u64 = digits
        .parse()
        .map_err(|_| format!("bad text dtype '{descr}'"))?;
    if chars == 0 {
        return Err(format!("zero-width text dtype '{descr}'"));
    }
    let big_endian = match order {
        "<" | "|" | "=" => false,
        ">" => true,
        o => return Err(format!("unsupported dtype byte order '{o}'")),
    };
    Ok(Some(NpDType::Text {
        unicode,
        chars,
        big_endian: unicode && big_endian,
    }))
}

fn order_big(order: &str, dtype: DType) -> Result<bool, String> {
    match order {
        "<" => Ok(false),
        ">" => Ok(true),
        "|" if dtype.size() == 1 => Ok(false),
        "|" => Ok(false),
        o => Err(format!("unsupported dtype byte order '{o}'")),
    }
}

/// Read a pickled `numpy.dtype(descr, False, True)` + BUILD state.
pub fn parse_np_dtype(graph: &Graph, id: NodeId) -> Result<NpDType, String> {
    parse_np_dtype_depth(graph, id, 0)
}

fn parse_np_dtype_depth(graph: &Graph, id: NodeId, depth: usize) -> Result<NpDType, String> {
    if depth > 4 {
        return Err("dtype nesting too deep".into());
    }
    let call = graph
        .as_call(id)
        .ok_or("dtype is not a numpy.dtype object")?;
    if graph.class_of(id) != Some(("numpy", "dtype")) {
        return Err("dtype is not a numpy.dtype object".into());
    }
    let args = graph
        .as_tuple(call.args)
        .ok_or("dtype arguments are not a tuple")?;
    let descr = args
        .first()
        .and_then(|&a| graph.as_str(a))
        .ok_or("dtype descr is not a str")?;
    let state = call
        .state
        .and_then(|s| graph.as_tuple(s))
        .ok_or("dtype has no state tuple")?;
    if state.len() < 8 {
        return Err("dtype state tuple too short".into());
    }
    let order = graph
        .as_str(state[1])
        .ok_or("dtype byte order is not a str")?;
    if descr.starts_with('O') {
        // joblib stores such an array as a nested pickle (`dtype.hasobject`).
        return Ok(NpDType::Object);
    }
    if !matches!(graph.get(state[2]), Some(Value::None)) {
        return Err("sub-array dtypes are not supported".into());
    }
    if let Some(text) = text_kind(descr, order)? {
        return Ok(text);
    }
    if let Some(d) = crate::npy::simple_kind(descr) {
        if !matches!(graph.get(state[3]), Some(Value::None)) {
            return Err("simple dtype with field names".into());
        }
        return Ok(NpDType::Simple {
            dtype: d,
            big_endian: order_big(order, d)?,
        });
    }
    let Some(size) = descr.strip_prefix('V') else {
        return Err(format!("unsupported dtype '{descr}'"));
    };
    let itemsize: u64 = size
        .parse()
        .map_err(|_| format!("bad void dtype '{descr}'"))?;
    let names = graph
        .as_tuple(state[3])
        .ok_or("void dtype without field names")?;
    let elsize = graph.as_int(state[5]).ok_or("dtype elsize is not an int")?;
    if u64::try_from(elsize).ok() != Some(itemsize) {
        return Err("structured dtype elsize disagrees with its descr".into());
    }
    let mut fields = Vec::with_capacity(names.len());
    for &n in names {
        let name = graph.as_str(n).ok_or("field name is not a str")?;
        let entry = graph
            .dict_get_str(state[4], name)
            .ok_or_else(|| format!("field '{name}' missing from the fields dict"))?;
        let t = graph.as_tuple(entry).ok_or("field entry is not a tuple")?;
        if t.len() < 2 {
            return Err("field entry too short".into());
        }
        let sub = parse_np_dtype_depth(graph, t[0], depth + 1)?;
        if sub == NpDType::Object {
            // An object field makes the whole dtype `hasobject`.
            return Ok(NpDType::Object);
        }
        let off = graph.as_int(t[1]).ok_or("field offset is not an int")?;
        let off = u64::try_from(off).map_err(|_| "negative field offset")?;
        let NpDType::Simple { dtype, big_endian } = sub else {
            return Err(format!("field '{name}' is not a simple type"));
        };
        let end = off
            .checked_add(dtype.size() as u64)
            .ok_or("field offset overflows")?;
        if end > itemsize {
            return Err(format!("field '{name}' lies outside its record"));
        }
        fields.push((name.to_owned(), dtype, big_endian, off));
    }
    if let Some(items) = graph.dict_items(state[4]) {
        if items.len() != fields.len() {
            return Err("fields dict and names disagree".into());
        }
    }
    Ok(NpDType::Structured { itemsize, fields })
}

/// One inline array found after a `NumpyArrayWrapper` BUILD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineArray {
    /// dtype.
    pub dtype: NpDType,
    /// Shape.
    pub shape: Vec<u64>,
    /// Stored in Fortran order.
    pub fortran: bool,
    /// Offset of the array bytes in the (decompressed) stream.
    pub data_offset: usize,
    /// Length of the array bytes.
    pub data_len: usize,
}

const WRAPPERS: &[(&str, &str)] = &[
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
    ("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper"),
];

const RECONSTRUCTORS: &[(&str, &str)] = &[
    ("copyreg", "_reconstructor"),
    ("copy_reg", "_reconstructor"),
];

/// Whether `id` is what joblib's `isinstance(obj, NumpyArrayWrapper)` sees
/// as a wrapper: an instance made by calling the class (NEWOBJ, REDUCE,
/// OBJ, INST), or by `copyreg._reconstructor(NumpyArrayWrapper, base,
/// state)` (how protocols 0 and 1 pickle a plain object). Missing the second
/// form would read the array bytes that joblib skips as opcodes.
fn is_wrapper(graph: &Graph, id: NodeId) -> bool {
    match graph.class_of(id) {
        Some(c) if WRAPPERS.contains(&c) => true,
        Some(c) if RECONSTRUCTORS.contains(&c) => graph
            .as_call(id)
            .and_then(|call| graph.as_tuple(call.args))
            .and_then(|args| args.first())
            .and_then(|&cls| graph.as_global(cls))
            .is_some_and(|c| WRAPPERS.contains(&c)),
        _ => false,
    }
}

/// The pickle hook that consumes each wrapper's inline bytes exactly as
/// joblib's `NumpyUnpickler` does (`NumpyArrayWrapper.read_array`), so that
/// the opcodes after an array are the ones joblib runs:
/// - object dtype (`hasobject`): one nested pickle, read as the plain
///   `pickle.load` joblib calls (no padding byte even when the wrapper has
///   an alignment; wrappers inside it carry no inline data); its globals
///   and findings are reported as part of the stream;
/// - otherwise, when the wrapper has a `numpy_array_alignment_bytes` that
///   is not `None` (whatever its value), one byte `n` and `n` bytes of
///   padding (whatever their content), then the array bytes.
///
/// Padding a joblib writer would not produce (zero or over-long, not `0xFF`,
/// array not aligned, odd alignment value) is still skipped as joblib skips
/// it, and reported as a dangerous finding: only a crafted file has it, and
/// its purpose is to frame the stream differently for stricter readers
/// (scanners) than for joblib.
#[derive(Debug, Default)]
pub struct JoblibHooks {
    /// Arrays by wrapper node.
    pub arrays: HashMap<NodeId, InlineArray>,
    /// Limit on one array's bytes.
    pub max_array_bytes: u64,
    /// Options for the nested pickles of object arrays (profile, limits).
    pub nested: Options,
    pending_globals: Vec<GlobalRef>,
    pending_findings: Vec<Finding>,
}

impl JoblibHooks {
    /// Hooks with this array limit; nested pickles are read with `nested`.
    pub fn new(max_array_bytes: u64, nested: Options) -> Self {
        JoblibHooks {
            max_array_bytes,
            nested,
            ..JoblibHooks::default()
        }
    }

    fn finding(&mut self, offset: usize, kind: FindingKind, severity: Severity, message: String) {
        self.pending_findings.push(Finding {
            offset,
            kind,
            severity,
            message,
        });
    }
}

/// What a joblib writer puts in `numpy_array_alignment_bytes`.
const JOBLIB_ALIGNMENT: i64 = 16;

fn wrapper_array(
    hooks: &mut JoblibHooks,
    graph: &Graph,
    obj: NodeId,
    input: &[u8],
    pos: usize,
) -> Result<(InlineArray, usize), String> {
    let limit = hooks.max_array_bytes;
    let call = graph.as_call(obj).ok_or("wrapper is not an object")?;
    let plain = |id: NodeId| {
        matches!(
            graph.as_global(id),
            Some(("builtins", "object")) | Some(("__builtin__", "object"))
        )
    };
    match graph.as_tuple(call.args) {
        Some([]) => {}
        // object.__new__(NumpyArrayWrapper): the same empty instance.
        Some(&[_, base, state])
            if graph
                .class_of(obj)
                .is_some_and(|c| RECONSTRUCTORS.contains(&c))
                && plain(base)
                && matches!(graph.get(state), Some(Value::None)) => {}
        _ => return Err("wrapper constructed with arguments".into()),
    }
    let state = call.state.ok_or("wrapper without state")?;
    let items = graph
        .dict_items(state)
        .ok_or("wrapper state is not a dict")?;
    let mut seen = std::collections::HashSet::new();
    for &(k, _) in items {
        let k = graph.as_str(k).ok_or("wrapper state key is not a str")?;
        if !matches!(
            k,
            "subclass" | "shape" | "order" | "dtype" | "allow_mmap" | "numpy_array_alignment_bytes"
        ) {
            return Err(format!("unexpected wrapper state key '{k}'"));
        }
        if !seen.insert(k) {
            return Err(format!("duplicate wrapper state key '{k}'"));
        }
    }
    let get = |k: &str| {
        graph
            .dict_get_str(state, k)
            .ok_or(format!("wrapper state lacks '{k}'"))
    };
    match graph.as_global(get("subclass")?) {
        Some(("numpy", "ndarray")) => {}
        _ => return Err("wrapper subclass is not numpy.ndarray".into()),
    }
    let shape_items = graph
        .as_tuple(get("shape")?)
        .ok_or("wrapper shape is not a tuple")?;
    let mut shape = Vec::with_capacity(shape_items.len());
    for &d in shape_items {
        match graph.get(d) {
            Some(Value::Int(i)) if *i >= 0 => shape.push(*i as u64),
            _ => return Err("wrapper shape has a non-integer or negative dimension".into()),
        }
    }
    // joblib tests `order == "F"` only: anything else is read in C order.
    let order = get("order")?;
    let fortran = graph.as_str(order) == Some("F");
    if !fortran && graph.as_str(order) != Some("C") {
        hooks.finding(
            pos,
            FindingKind::ArrayFraming,
            Severity::Dangerous,
            format!(
                "NumpyArrayWrapper order is a {} other than 'C' or 'F' (a joblib writer stores one of them); read in C order as joblib reads it",
                graph.get(order).map_or("?", Value::type_name)
            ),
        );
    }
    let dtype = parse_np_dtype(graph, get("dtype")?)?;
    if dtype == NpDType::Object {
        return nested_pickle(hooks, input, pos, shape, fortran);
    }
    let n = numel(&shape).ok_or("shape product overflows")?;
    let nbytes = n
        .checked_mul(dtype.itemsize())
        .ok_or("array size overflows")?;
    if nbytes > limit {
        return Err(format!(
            "array of {nbytes} bytes exceeds the limit of {limit}"
        ));
    }
    let mut p = pos;
    // joblib tests `is not None` only: absent (joblib <= 1.1) or None
    // (non-seekable writer) means no padding, any other value means padding.
    let align = graph
        .dict_get_str(state, "numpy_array_alignment_bytes")
        .and_then(|al| graph.get(al));
    if !matches!(align, None | Some(Value::None)) {
        let pad = usize::from(
            *input
                .get(p)
                .ok_or("truncated before the padding-length byte")?,
        );
        p += 1;
        let padding = input
            .get(p..p + pad)
            .ok_or("truncated inside the alignment padding")?;
        p += pad;
        let mut odd = Vec::new();
        match align {
            Some(Value::Int(a)) if (1..=255).contains(a) => {
                let a = *a as usize;
                if pad == 0 || pad > a {
                    odd.push(format!("{pad} padding byte(s) for a {a}-byte alignment"));
                }
                if !p.is_multiple_of(a) {
                    odd.push(format!("array data at offset {p} is not {a}-byte aligned"));
                }
            }
            Some(v) => odd.push(format!(
                "numpy_array_alignment_bytes is a {} (a joblib writer stores {JOBLIB_ALIGNMENT})",
                match v {
                    Value::Int(i) => format!("out-of-range int {i}"),
                    other => other.type_name().to_owned(),
                }
            )),
            None => {}
        }
        if padding.iter().any(|&b| b != 0xFF) {
            odd.push("padding bytes other than 0xFF".to_owned());
        }
        if !odd.is_empty() {
            hooks.finding(
                pos,
                FindingKind::ArrayFraming,
                Severity::Dangerous,
                format!(
                    "NumpyArrayWrapper padding a joblib writer does not produce ({}); skipped as joblib skips it: padding-length byte {pad}, array data from offset {p}",
                    odd.join("; ")
                ),
            );
        }
    }
    let len = usize::try_from(nbytes).map_err(|_| "array size does not fit in memory")?;
    let end = p.checked_add(len).ok_or("array size overflows")?;
    if end > input.len() {
        return Err(format!(
            "array of {len} bytes at offset {p} runs past the end of the stream"
        ));
    }
    Ok((
        InlineArray {
            dtype,
            shape,
            fortran,
            data_offset: p,
            data_len: len,
        },
        end - pos,
    ))
}

/// An object array: joblib calls `pickle.load(file_handle)`, which reads
/// exactly one pickle (to its STOP) with a plain unpickler.
fn nested_pickle(
    hooks: &mut JoblibHooks,
    input: &[u8],
    pos: usize,
    shape: Vec<u64>,
    fortran: bool,
) -> Result<(InlineArray, usize), String> {
    let (report, end) = tensorseal_pickle::inspect_one(input, pos, &hooks.nested, &mut NoHooks);
    hooks.pending_globals.extend(report.globals);
    hooks.pending_findings.extend(report.findings);
    let Some(end) = end else {
        return Err(format!(
            "object array: the nested pickle at offset {pos} does not parse"
        ));
    };
    hooks.finding(
        pos,
        FindingKind::Note,
        Severity::Info,
        format!(
            "object array: nested pickle of {} bytes at offset {pos}, read as joblib's pickle.load reads it",
            end - pos
        ),
    );
    Ok((
        InlineArray {
            dtype: NpDType::Object,
            shape,
            fortran,
            data_offset: pos,
            data_len: end - pos,
        },
        end - pos,
    ))
}

impl Hooks for JoblibHooks {
    fn after_build(
        &mut self,
        graph: &Graph,
        obj: NodeId,
        input: &[u8],
        pos: usize,
    ) -> Result<usize, HookError> {
        if !is_wrapper(graph, obj) {
            return Ok(0);
        }
        let (arr, consumed) = wrapper_array(self, graph, obj, input, pos)
            .map_err(|m| -> HookError { format!("NumpyArrayWrapper: {m}").into() })?;
        self.arrays.insert(obj, arr);
        Ok(consumed)
    }

    fn take_findings(&mut self) -> (Vec<GlobalRef>, Vec<Finding>) {
        (
            std::mem::take(&mut self.pending_globals),
            std::mem::take(&mut self.pending_findings),
        )
    }
}

/// A parsed joblib stream: the object graph plus the inline arrays.
#[derive(Debug)]
pub struct JoblibGraph {
    /// The parsed pickle (graph, root, globals, findings).
    pub parsed: Parsed,
    /// Inline arrays by wrapper node.
    pub arrays: HashMap<NodeId, InlineArray>,
}

/// Parse an uncompressed joblib stream with the scikit-learn profile; the
/// stream must be exactly one pickle (with its inline arrays) and every
/// global must be allowed.
pub fn parse_joblib(stream: &[u8], opts: &ConvertOptions) -> Result<JoblibGraph, ConvertError> {
    let structure = "joblib pickle stream";
    let pickle_opts = Options::new(Profile::Sklearn);
    let mut hooks = JoblibHooks::new(opts.max_tensor_bytes, pickle_opts.clone());
    let machine = tensorseal_pickle::Machine::new(pickle_opts);
    let parsed = machine
        .parse_with(stream, &mut hooks)
        .map_err(|source| ConvertError::Pickle {
            structure: structure.to_owned(),
            source,
        })?;
    refuse_unsafe(&parsed, structure)?;
    Ok(JoblibGraph {
        parsed,
        arrays: hooks.arrays,
    })
}

struct JoblibRecogniser<'m> {
    arrays: &'m HashMap<NodeId, InlineArray>,
    stream: &'m [u8],
}

/// The metadata value of an inline text array (`None` for other arrays).
fn inline_text(arr: &InlineArray, stream: &[u8]) -> Option<MetaValue> {
    if !matches!(arr.dtype, NpDType::Text { .. }) {
        return None;
    }
    let bytes = stream
        .get(arr.data_offset..arr.data_offset.saturating_add(arr.data_len))
        .unwrap_or(&[]);
    Some(
        text_values(&arr.dtype, &arr.shape, arr.fortran, bytes)
            .unwrap_or_else(|| MetaValue::Str("<malformed text array>".into())),
    )
}

impl TensorRecogniser for JoblibRecogniser<'_> {
    type Plan = InlineArray;

    fn is_tensor(&self, _graph: &Graph, id: NodeId) -> bool {
        self.arrays
            .get(&id)
            .is_some_and(|a| !matches!(a.dtype, NpDType::Text { .. }))
    }

    fn plan(&mut self, graph: &Graph, id: NodeId, path: &str) -> Result<InlineArray, ConvertError> {
        self.arrays
            .get(&id)
            .cloned()
            .ok_or_else(|| ConvertError::Graph {
                structure: "joblib pickle stream".into(),
                path: path.to_owned(),
                offset: graph.node(id).map(|n| n.offset).unwrap_or(0),
                reason: "array wrapper without inline data".into(),
            })
    }

    fn meta_value(&self, graph: &Graph, id: NodeId) -> Option<MetaValue> {
        match self.arrays.get(&id) {
            Some(arr) => inline_text(arr, self.stream),
            None => numpy_meta_value(graph, id),
        }
    }
}

/// Cut the tensors out of one inline array: one tensor for a simple dtype,
/// one per field for a structured dtype. Output is C-contiguous LE.
pub fn array_tensors<'s>(
    name: &str,
    arr: &InlineArray,
    stream: &'s [u8],
    limit: u64,
) -> Result<Vec<ImportedTensor<'s>>, ConvertError> {
    let bytes = stream
        .get(arr.data_offset..arr.data_offset.saturating_add(arr.data_len))
        .ok_or(ConvertError::Framing {
            structure: "joblib inline array",
            offset: arr.data_offset as u64,
            reason: "array bytes outside the stream".into(),
        })?;
    split_array(name, &arr.dtype, &arr.shape, arr.fortran, bytes, limit)
}

/// Cut the tensors out of the raw bytes of one NumPy array (`bytes` holds
/// exactly the array's elements, in C or Fortran order): one tensor named
/// `name` for a simple dtype, one tensor `name.field` per field for a
/// structured dtype. Output is C-contiguous little-endian.
pub fn split_array<'s>(
    name: &str,
    dtype: &NpDType,
    shape: &[u64],
    fortran: bool,
    bytes: &'s [u8],
    limit: u64,
) -> Result<Vec<ImportedTensor<'s>>, ConvertError> {
    let layout = |source| ConvertError::Layout {
        tensor: name.to_owned(),
        source,
    };
    let n = numel(shape).unwrap_or(0);
    let strides = if fortran {
        fortran_strides(shape)
    } else {
        contiguous_strides(shape)
    }
    .ok_or(ConvertError::Limit {
        what: "array shape",
        value: u64::MAX,
        limit: i64::MAX as u64,
    })?;
    let view = View::new(shape, &strides, 0, n).map_err(layout)?;
    match dtype {
        NpDType::Simple { dtype, big_endian } => {
            let swap = big_endian.then(|| dtype.swap_unit());
            let data = view
                .materialise(bytes, dtype.size(), swap, limit)
                .map_err(layout)?;
            Ok(vec![ImportedTensor {
                name: name.to_owned(),
                dtype: *dtype,
                shape: shape.to_vec(),
                data,
            }])
        }
        NpDType::Structured { itemsize, fields } => {
            let rsz = usize::try_from(*itemsize).map_err(|_| ConvertError::Limit {
                what: "record size",
                value: *itemsize,
                limit: usize::MAX as u64,
            })?;
            let records = view.materialise(bytes, rsz, None, limit).map_err(layout)?;
            let mut out = Vec::with_capacity(fields.len());
            for (fname, dtype, big, off) in fields {
                let fsz = dtype.size();
                let off = *off as usize;
                let mut data = Vec::with_capacity(records.len() / rsz.max(1) * fsz);
                if rsz > 0 {
                    for rec in records.chunks_exact(rsz) {
                        data.extend_from_slice(&rec[off..off + fsz]);
                    }
                }
                if *big {
                    swap_in_place(&mut data, dtype.swap_unit());
                }
                out.push(ImportedTensor {
                    name: if name.is_empty() {
                        fname.clone()
                    } else {
                        format!("{name}.{fname}")
                    },
                    dtype: *dtype,
                    shape: shape.to_vec(),
                    data: Cow::Owned(data),
                });
            }
            Ok(out)
        }
        NpDType::Text { .. } => Err(ConvertError::Unsupported {
            format: crate::Format::Joblib { compression: None },
            reason: "text arrays are metadata, not tensors",
        }),
        NpDType::Object => Err(ConvertError::Unsupported {
            format: crate::Format::Joblib { compression: None },
            reason: "object arrays hold nested pickles",
        }),
    }
}

fn import_stream<'s>(
    stream: &'s [u8],
    opts: &ConvertOptions,
    visit: &mut dyn FnMut(ImportedTensor<'s>) -> Result<(), ConvertError>,
) -> Result<Vec<(String, MetaValue)>, ConvertError> {
    let jg = parse_joblib(stream, opts)?;
    let structure = "joblib pickle stream";
    let walker = Walker::new(
        &jg.parsed.graph,
        JoblibRecogniser {
            arrays: &jg.arrays,
            stream,
        },
        structure,
        ObjectPolicy::Objects,
        opts.max_graph_visits,
    );
    let (walked, _) = walker.run(jg.parsed.root)?;
    // scikit-learn estimators also get the `sklearn.*` structure metadata.
    let mut metadata = walked.metadata;
    if crate::sklearn::is_estimator(&jg.parsed.graph, jg.parsed.root) {
        let names: Vec<String> = walked
            .tensors
            .iter()
            .flat_map(|(name, arr)| crate::sklearn::tensor_names(name, &arr.dtype))
            .collect();
        let extra = crate::sklearn::estimator_metadata(
            &jg.parsed.graph,
            jg.parsed.root,
            &|id| {
                let arr = jg.arrays.get(&id)?;
                Some(match inline_text(arr, stream) {
                    Some(v) => crate::sklearn::ArrayNode::Text {
                        values: v,
                        descr: arr.dtype.text_descr().unwrap_or_default(),
                    },
                    None => crate::sklearn::ArrayNode::Tensor(&arr.dtype),
                })
            },
            &names,
            &metadata,
            opts.max_graph_visits,
            structure,
        )?;
        metadata.extend(extra);
    }
    for (name, arr) in walked.tensors {
        for t in array_tensors(&name, &arr, stream, opts.max_tensor_bytes)? {
            visit(t)?;
        }
    }
    Ok(metadata)
}

/// Import a joblib file (decompressing first, bounded by
/// [`ConvertOptions::max_decompressed_bytes`]).
pub fn import_joblib<'a>(
    data: &'a [u8],
    compression: Option<Compression>,
    opts: &ConvertOptions,
    visit: &mut dyn FnMut(ImportedTensor<'a>) -> Result<(), ConvertError>,
) -> Result<Vec<(String, MetaValue)>, ConvertError> {
    match compression {
        None => import_stream(data, opts, visit),
        Some(codec) => {
            let stream = decompress(codec, data, opts.max_decompressed_bytes)?;
            import_stream(&stream, opts, &mut |t| visit(t.into_owned()))
        }
    }
}

/// Fuzz-target entry point: joblib framing on an uncompressed stream, with
/// small limits. Returns the number of inline arrays.
pub fn fuzz_joblib(stream: &[u8]) -> Result<usize, ConvertError> {
    let opts = ConvertOptions::fuzzing();
    let mut n = 0usize;
    import_stream(stream, &opts, &mut |_| {
        n += 1;
        Ok(())
    })?;
    Ok(n)
}
