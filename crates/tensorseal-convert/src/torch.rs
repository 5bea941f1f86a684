//! PyTorch checkpoints: the zip format (`torch.save` >= 1.6) and the legacy
//! pickle-sequence format, read without executing anything.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use tensorseal_pickle::{Graph, NodeId, Parsed, Profile, Value};

use crate::error::ConvertError;
use crate::graph::{ObjectPolicy, TensorRecogniser, Walker};
use crate::layout::View;
use crate::model::ElementSize;
use crate::model::{DType, ImportedTensor, MetaValue};
use crate::zip::ZipArchive;
use crate::{ConvertOptions, Format};

/// Storage class name (`torch.FloatStorage`, ...) to element type.
pub fn storage_dtype(module: &str, name: &str) -> Option<DType> {
    if module == "torch.storage" && name == "UntypedStorage" {
        return Some(DType::U8);
    }
    if module != "torch" {
        return None;
    }
    Some(match name {
        "UntypedStorage" => DType::U8,
        "FloatStorage" => DType::F32,
        "DoubleStorage" => DType::F64,
        "HalfStorage" => DType::F16,
        "BFloat16Storage" => DType::BF16,
        "LongStorage" => DType::I64,
        "IntStorage" => DType::I32,
        "ShortStorage" => DType::I16,
        "CharStorage" => DType::I8,
        "ByteStorage" => DType::U8,
        "BoolStorage" => DType::BOOL,
        "ComplexFloatStorage" => DType::C64,
        "Float8_e4m3fnStorage" => DType::F8_E4M3,
        "Float8_e5m2Storage" => DType::F8_E5M2,
        _ => return None,
    })
}

/// Quantized storage class name to the element type of its bytes (the
/// packed 4- and 2-bit types count bytes).
fn qstorage_dtype(module: &str, name: &str) -> Option<DType> {
    if module != "torch" {
        return None;
    }
    Some(match name {
        "QInt8Storage" => DType::I8,
        "QUInt8Storage" | "QUInt4x2Storage" | "QUInt2x4Storage" => DType::U8,
        "QInt32Storage" => DType::I32,
        _ => return None,
    })
}

/// `torch.<dtype>` global (as used by `_rebuild_tensor_v3`) to element type.
pub fn torch_dtype(module: &str, name: &str) -> Option<DType> {
    if module != "torch" {
        return None;
    }
    Some(match name {
        "float32" => DType::F32,
        "float64" => DType::F64,
        "float16" => DType::F16,
        "bfloat16" => DType::BF16,
        "float8_e4m3fn" => DType::F8_E4M3,
        "float8_e5m2" => DType::F8_E5M2,
        "int64" => DType::I64,
        "int32" => DType::I32,
        "int16" => DType::I16,
        "int8" => DType::I8,
        "uint8" => DType::U8,
        "uint16" => DType::U16,
        "uint32" => DType::U32,
        "uint64" => DType::U64,
        "bool" => DType::BOOL,
        "complex64" => DType::C64,
        _ => return None,
    })
}

/// A legacy storage view: `(view_key, offset, size)` in the base storage's
/// elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyView {
    /// The view's own key.
    pub view_key: String,
    /// Offset in elements of the base storage.
    pub offset: u64,
    /// Size in elements.
    pub size: u64,
}

/// A storage reference from a persistent id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageRef {
    /// Record key (`data/<key>` in the zip format).
    pub key: String,
    /// Element type of the storage class.
    pub dtype: DType,
    /// Number of storage elements the id claims.
    pub numel: u64,
    /// Device string (informational).
    pub location: String,
    /// Legacy view metadata, if any.
    pub view: Option<LegacyView>,
}

/// A validated tensor description, ready to materialise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorPlan {
    /// Storage.
    pub storage: StorageRef,
    /// Tensor element type.
    pub dtype: DType,
    /// Offset in tensor elements.
    pub offset: u64,
    /// Shape.
    pub shape: Vec<u64>,
    /// Strides in tensor elements.
    pub stride: Vec<i64>,
}

const REBUILD_V1: (&str, &str) = ("torch._utils", "_rebuild_tensor");
const REBUILD_V2: (&str, &str) = ("torch._utils", "_rebuild_tensor_v2");
const REBUILD_V3: (&str, &str) = ("torch._utils", "_rebuild_tensor_v3");
const REBUILD_PARAM: (&str, &str) = ("torch._utils", "_rebuild_parameter");
const REBUILD_PARAM_STATE: (&str, &str) = ("torch._utils", "_rebuild_parameter_with_state");
const REBUILD_QTENSOR: (&str, &str) = ("torch._utils", "_rebuild_qtensor");
/// Allow-listed rebuild functions whose result is a tensor this converter
/// does not produce: loadable by torch (`weights_only` too), so inspection
/// must not call them malformed; conversion refuses them as unsupported.
const UNCONVERTIBLE: &[((&str, &str), &str)] = &[
    (
        REBUILD_QTENSOR,
        "quantized tensor (torch._utils._rebuild_qtensor): its integer values mean nothing without the quantizer's scale and zero point",
    ),
    (
        ("torch._utils", "_rebuild_sparse_tensor"),
        "sparse tensor (torch._utils._rebuild_sparse_tensor)",
    ),
    (
        ("torch._utils", "_rebuild_meta_tensor_no_storage"),
        "meta tensor without storage (torch._utils._rebuild_meta_tensor_no_storage)",
    ),
];

fn unconvertible_reason(class: Option<(&str, &str)>) -> Option<&'static str> {
    UNCONVERTIBLE
        .iter()
        .find(|(c, _)| Some(*c) == class)
        .map(|(_, r)| *r)
}

/// Recognises `_rebuild_tensor_v2/v3` and `_rebuild_parameter(_with_state)`;
/// quantized, sparse and meta tensors are recognised as unconvertible (their
/// storages are still checked).
pub struct TorchRecogniser {
    structure: String,
    legacy: bool,
    /// Storage key to (dtype, numel, view) as first seen: every reference
    /// must agree.
    pub storages: BTreeMap<String, StorageRef>,
    /// Tensors inside unconvertible ones (a per-channel quantizer's scales,
    /// a sparse tensor's indices and values): checked, never emitted.
    pub inner: Vec<(String, TensorPlan)>,
    /// Paths of unconvertible tensors and why.
    pub unconvertible: Vec<(String, &'static str)>,
}

impl TorchRecogniser {
    /// A recogniser for one pickle.
    pub fn new(structure: &str, legacy: bool) -> Self {
        TorchRecogniser {
            structure: structure.to_owned(),
            legacy,
            storages: BTreeMap::new(),
            inner: Vec::new(),
            unconvertible: Vec::new(),
        }
    }

    fn err(
        &self,
        graph: &Graph,
        id: NodeId,
        path: &str,
        reason: impl Into<String>,
    ) -> ConvertError {
        ConvertError::Graph {
            structure: self.structure.clone(),
            path: path.to_owned(),
            offset: graph.node(id).map(|n| n.offset).unwrap_or(0),
            reason: reason.into(),
        }
    }

    fn int(&self, graph: &Graph, id: NodeId, path: &str, what: &str) -> Result<i64, ConvertError> {
        match graph.get(id) {
            Some(Value::Int(i)) => Ok(*i),
            _ => Err(self.err(graph, id, path, format!("{what} is not an int"))),
        }
    }

    fn ints(
        &self,
        graph: &Graph,
        id: NodeId,
        path: &str,
        what: &str,
    ) -> Result<Vec<i64>, ConvertError> {
        // torch.Size is pickled as a plain tuple by torch.save.
        let items = graph
            .as_tuple(id)
            .ok_or_else(|| self.err(graph, id, path, format!("{what} is not a tuple")))?;
        items
            .iter()
            .map(|&i| self.int(graph, i, path, what))
            .collect()
    }

    fn storage(
        &mut self,
        graph: &Graph,
        id: NodeId,
        path: &str,
        quantized: bool,
    ) -> Result<StorageRef, ConvertError> {
        let pid = match graph.get(id) {
            Some(Value::PersistentRef(p)) => *p,
            _ => return Err(self.err(graph, id, path, "tensor storage is not a persistent id")),
        };
        let t = graph
            .as_tuple(pid)
            .ok_or_else(|| self.err(graph, pid, path, "persistent id is not a tuple"))?;
        let expected_len = if self.legacy { 6 } else { 5 };
        if t.len() != expected_len {
            return Err(self.err(
                graph,
                pid,
                path,
                format!(
                    "persistent id has {} items, expected {expected_len}",
                    t.len()
                ),
            ));
        }
        if graph.as_str(t[0]) != Some("storage") {
            return Err(self.err(
                graph,
                pid,
                path,
                "persistent id is not a ('storage', ...) tuple",
            ));
        }
        let (m, n) = graph
            .as_global(t[1])
            .ok_or_else(|| self.err(graph, t[1], path, "storage type is not a global"))?;
        let dtype = if quantized {
            qstorage_dtype(m, n)
        } else {
            storage_dtype(m, n)
        };
        let dtype = dtype.ok_or_else(|| {
            self.err(
                graph,
                t[1],
                path,
                format!("unsupported storage type {m}.{n}"),
            )
        })?;
        let key = graph
            .as_str(t[2])
            .ok_or_else(|| self.err(graph, t[2], path, "storage key is not a str"))?
            .to_owned();
        if key.is_empty() || key.contains('/') || key.contains('\\') || key == "." || key == ".." {
            return Err(self.err(graph, t[2], path, "storage key is not a plain name"));
        }
        let location = graph
            .as_str(t[3])
            .ok_or_else(|| self.err(graph, t[3], path, "storage location is not a str"))?
            .to_owned();
        let numel = self.int(graph, t[4], path, "storage numel")?;
        let numel = u64::try_from(numel)
            .map_err(|_| self.err(graph, t[4], path, "negative storage numel"))?;
        let view = if self.legacy {
            match graph.get(t[5]) {
                Some(Value::None) => None,
                Some(Value::Tuple(v)) if v.len() == 3 => {
                    let view_key = graph
                        .as_str(v[0])
                        .ok_or_else(|| self.err(graph, v[0], path, "view key is not a str"))?
                        .to_owned();
                    let off = self.int(graph, v[1], path, "view offset")?;
                    let size = self.int(graph, v[2], path, "view size")?;
                    let (Ok(offset), Ok(size)) = (u64::try_from(off), u64::try_from(size)) else {
                        return Err(self.err(graph, t[5], path, "negative view offset/size"));
                    };
                    Some(LegacyView {
                        view_key,
                        offset,
                        size,
                    })
                }
                _ => return Err(self.err(graph, t[5], path, "bad legacy view metadata")),
            }
        } else {
            None
        };
        let sref = StorageRef {
            key: key.clone(),
            dtype,
            numel,
            location,
            view,
        };
        match self.storages.get(&key) {
            Some(prev) if prev.dtype != sref.dtype || prev.numel != sref.numel => {
                return Err(ConvertError::Storage {
                    key,
                    reason: format!(
                        "referenced as {} x {} and as {} x {}",
                        prev.numel,
                        prev.dtype.name(),
                        sref.numel,
                        sref.dtype.name()
                    ),
                });
            }
            Some(_) => {}
            None => {
                self.storages.insert(key, sref.clone());
            }
        }
        Ok(sref)
    }
}

impl TorchRecogniser {
    fn is_convertible_tensor(graph: &Graph, id: NodeId) -> bool {
        matches!(
            graph.class_of(id),
            Some(REBUILD_V1)
                | Some(REBUILD_V2)
                | Some(REBUILD_V3)
                | Some(REBUILD_PARAM)
                | Some(REBUILD_PARAM_STATE)
        )
    }

    /// Plan every convertible tensor inside `id` (depth-first, in order) as
    /// an inner tensor, so that its storage is registered and checked.
    fn plan_inner(
        &mut self,
        graph: &Graph,
        id: NodeId,
        path: &str,
        depth: usize,
    ) -> Result<(), ConvertError> {
        if depth > 64 {
            return Err(self.err(graph, id, path, "unconvertible tensor nested too deep"));
        }
        if Self::is_convertible_tensor(graph, id) {
            let plan = self.plan_tensor(graph, id, path)?;
            self.inner.push((path.to_owned(), plan));
            return Ok(());
        }
        let mut kids = Vec::new();
        if let Some(v) = graph.get(id) {
            graph.for_each_child(v, |c| kids.push(c));
        }
        for (i, k) in kids.into_iter().enumerate() {
            self.plan_inner(graph, k, &format!("{path}.{i}"), depth + 1)?;
        }
        Ok(())
    }

    /// `_rebuild_qtensor(storage, storage_offset, size, stride,
    /// quantizer_params, requires_grad, backward_hooks)`: the geometry of a
    /// quantized storage, for checking only.
    fn plan_qtensor(
        &mut self,
        graph: &Graph,
        id: NodeId,
        args: &[NodeId],
        path: &str,
    ) -> Result<TensorPlan, ConvertError> {
        if args.len() != 7 {
            return Err(self.err(
                graph,
                id,
                path,
                format!("_rebuild_qtensor has {} arguments", args.len()),
            ));
        }
        self.plan_inner(graph, args[4], &format!("{path}.__quantizer__"), 0)?;
        let storage = self.storage(graph, args[0], path, true)?;
        self.geometry(graph, args, path, storage.dtype, storage)
    }

    fn geometry(
        &self,
        graph: &Graph,
        args: &[NodeId],
        path: &str,
        dtype: DType,
        storage: StorageRef,
    ) -> Result<TensorPlan, ConvertError> {
        let offset = self.int(graph, args[1], path, "storage_offset")?;
        let offset = u64::try_from(offset)
            .map_err(|_| self.err(graph, args[1], path, "negative storage_offset"))?;
        let shape = self.ints(graph, args[2], path, "size")?;
        let stride = self.ints(graph, args[3], path, "stride")?;
        let shape = shape
            .into_iter()
            .map(u64::try_from)
            .collect::<Result<Vec<u64>, _>>()
            .map_err(|_| self.err(graph, args[2], path, "negative dimension"))?;
        Ok(TensorPlan {
            storage,
            dtype,
            offset,
            shape,
            stride,
        })
    }
}

impl TensorRecogniser for TorchRecogniser {
    /// `None`: an unconvertible tensor without a storage of its own.
    type Plan = Option<TensorPlan>;

    fn is_tensor(&self, graph: &Graph, id: NodeId) -> bool {
        Self::is_convertible_tensor(graph, id) || unconvertible_reason(graph.class_of(id)).is_some()
    }

    fn plan(
        &mut self,
        graph: &Graph,
        id: NodeId,
        path: &str,
    ) -> Result<Option<TensorPlan>, ConvertError> {
        if let Some(reason) = unconvertible_reason(graph.class_of(id)) {
            self.unconvertible.push((path.to_owned(), reason));
            let call = graph
                .as_call(id)
                .ok_or_else(|| self.err(graph, id, path, "not a call"))?;
            if graph.class_of(id) == Some(REBUILD_QTENSOR) {
                let args = graph
                    .as_tuple(call.args)
                    .ok_or_else(|| self.err(graph, id, path, "arguments are not a tuple"))?
                    .to_vec();
                return self.plan_qtensor(graph, id, &args, path).map(Some);
            }
            self.plan_inner(graph, call.args, &format!("{path}.__args__"), 0)?;
            return Ok(None);
        }
        self.plan_tensor(graph, id, path).map(Some)
    }
}

impl TorchRecogniser {
    fn plan_tensor(
        &mut self,
        graph: &Graph,
        id: NodeId,
        path: &str,
    ) -> Result<TensorPlan, ConvertError> {
        let call = graph
            .as_call(id)
            .ok_or_else(|| self.err(graph, id, path, "not a call"))?;
        if call.kind != tensorseal_pickle::CallKind::Reduce {
            return Err(self.err(graph, id, path, "tensor rebuild not called through REDUCE"));
        }
        if call.state.is_some() || !call.list_items.is_empty() || !call.dict_items.is_empty() {
            return Err(self.err(
                graph,
                id,
                path,
                "tensor rebuild result was modified after the call",
            ));
        }
        let args = graph
            .as_tuple(call.args)
            .ok_or_else(|| self.err(graph, id, path, "arguments are not a tuple"))?;
        let class = graph.class_of(id);
        if class == Some(REBUILD_PARAM) || class == Some(REBUILD_PARAM_STATE) {
            let want = if class == Some(REBUILD_PARAM) { 3 } else { 4 };
            if args.len() != want {
                return Err(self.err(graph, id, path, "bad _rebuild_parameter arguments"));
            }
            let inner = args[0];
            if class_is_param(graph, inner) || !Self::is_convertible_tensor(graph, inner) {
                return Err(self.err(graph, id, path, "parameter does not wrap a tensor"));
            }
            return self.plan_tensor(graph, inner, path);
        }
        let v3 = class == Some(REBUILD_V3);
        let ok_len = if v3 {
            args.len() == 7 || args.len() == 8
        } else if class == Some(REBUILD_V1) {
            // _rebuild_tensor(storage, storage_offset, size, stride)
            args.len() == 4
        } else {
            args.len() == 6 || args.len() == 7
        };
        if !ok_len {
            return Err(self.err(
                graph,
                id,
                path,
                format!("rebuild has {} arguments", args.len()),
            ));
        }
        let storage = self.storage(graph, args[0], path, false)?;
        let dtype = if v3 {
            let (m, n) = graph
                .as_global(args[6])
                .ok_or_else(|| self.err(graph, args[6], path, "dtype is not a global"))?;
            torch_dtype(m, n).ok_or_else(|| {
                self.err(graph, args[6], path, format!("unsupported dtype {m}.{n}"))
            })?
        } else {
            storage.dtype
        };
        self.geometry(graph, args, path, dtype, storage)
    }
}

fn class_is_param(graph: &Graph, id: NodeId) -> bool {
    matches!(
        graph.class_of(id),
        Some(REBUILD_PARAM) | Some(REBUILD_PARAM_STATE)
    )
}

/// Parse one pickle with the torch profile and refuse anything not allowed.
fn parse_checked(
    input: &[u8],
    start: usize,
    whole: bool,
    structure: &str,
) -> Result<Parsed, ConvertError> {
    let opts = tensorseal_pickle::Options::new(Profile::Torch);
    let machine = tensorseal_pickle::Machine::new(opts);
    let parsed = if whole {
        machine.parse(input)
    } else {
        machine.parse_one(input, start, &mut tensorseal_pickle::NoHooks)
    }
    .map_err(|source| ConvertError::Pickle {
        structure: structure.to_owned(),
        source,
    })?;
    crate::joblib::refuse_unsafe(&parsed, structure)?;
    Ok(parsed)
}

/// Check the geometry of every planned tensor (also the unconvertible ones
/// and those inside them), refuse if any is unconvertible, then materialise
/// and hand out every tensor.
fn emit<'a>(
    plans: Vec<(String, Option<TensorPlan>)>,
    rec: &TorchRecogniser,
    storage_bytes: &dyn Fn(&StorageRef) -> Result<&'a [u8], ConvertError>,
    big_endian: bool,
    opts: &ConvertOptions,
    visit: &mut dyn FnMut(ImportedTensor<'a>) -> Result<(), ConvertError>,
) -> Result<(), ConvertError> {
    let all = plans
        .iter()
        .filter_map(|(n, p)| Some((n, p.as_ref()?)))
        .chain(rec.inner.iter().map(|(n, p)| (n, p)));
    for (name, p) in all {
        let bytes = storage_bytes(&p.storage)?;
        let elems = bytes.len() as u64 / p.dtype.size() as u64;
        View::new(&p.shape, &p.stride, p.offset, elems).map_err(|source| ConvertError::Layout {
            tensor: name.clone(),
            source,
        })?;
    }
    if let Some((path, reason)) = rec.unconvertible.first() {
        return Err(ConvertError::Unconvertible {
            structure: rec.structure.clone(),
            path: path.clone(),
            reason: (*reason).to_owned(),
        });
    }
    for (name, p) in plans {
        let Some(p) = p else { continue };
        let bytes = storage_bytes(&p.storage)?;
        let isz = p.dtype.size();
        let elems = bytes.len() as u64 / isz as u64;
        let layout = |source| ConvertError::Layout {
            tensor: name.clone(),
            source,
        };
        let view = View::new(&p.shape, &p.stride, p.offset, elems).map_err(layout)?;
        let swap = big_endian.then(|| p.dtype.swap_unit());
        let data: Cow<'a, [u8]> = view
            .materialise(bytes, isz, swap, opts.max_tensor_bytes)
            .map_err(layout)?;
        visit(ImportedTensor {
            name,
            dtype: p.dtype,
            shape: p.shape,
            data,
        })?;
    }
    Ok(())
}

/// Check a storage record's length against the persistent id.
fn check_record(s: &StorageRef, len: u64) -> Result<(), ConvertError> {
    let need = s
        .numel
        .checked_mul(s.dtype.size() as u64)
        .ok_or_else(|| ConvertError::Storage {
            key: s.key.clone(),
            reason: "numel * itemsize overflows".into(),
        })?;
    if need != len {
        return Err(ConvertError::Storage {
            key: s.key.clone(),
            reason: format!(
                "persistent id claims {} x {} = {need} bytes, record holds {len}",
                s.numel,
                s.dtype.name()
            ),
        });
    }
    Ok(())
}

/// Import a `torch.save` zip checkpoint.
pub fn import_zip<'a>(
    data: &'a [u8],
    opts: &ConvertOptions,
    visit: &mut dyn FnMut(ImportedTensor<'a>) -> Result<(), ConvertError>,
) -> Result<Vec<(String, MetaValue)>, ConvertError> {
    let z =
        ZipArchive::parse_releasing(data, opts.max_zip_member_bytes, &|part| opts.released(part))?;
    let first = z.entries().first().ok_or(ConvertError::Unsupported {
        format: Format::TorchZip,
        reason: "empty archive",
    })?;
    let root = first
        .name
        .split_once('/')
        .map(|(r, _)| r.to_owned())
        .ok_or(ConvertError::Unsupported {
            format: Format::TorchZip,
            reason: "first member is not under an archive directory",
        })?;
    // Every record must sit under the same root and be a known record.
    let mut data_records: HashMap<&str, &crate::zip::ZipEntry> = HashMap::new();
    for e in z.entries() {
        let rest = e
            .name
            .strip_prefix(root.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(|| ConvertError::Framing {
                structure: "torch zip record",
                offset: e.header_offset,
                reason: format!("member '{}' is outside the archive root '{root}'", e.name),
            })?;
        match rest {
            "data.pkl"
            | "byteorder"
            | "version"
            | ".data/version"
            | ".data/serialization_id"
            | ".format_version"
            | ".storage_alignment" => {}
            // Directory entries hold nothing; torch's reader ignores them.
            _ if e.name.ends_with('/') && e.uncompressed_size == 0 => {}
            "constants.pkl" => {
                return Err(ConvertError::TorchScript {
                    member: e.name.clone(),
                })
            }
            r if r.starts_with("code/") => {
                return Err(ConvertError::TorchScript {
                    member: e.name.clone(),
                })
            }
            r => match r.strip_prefix("data/") {
                Some(key) if !key.is_empty() && !key.contains('/') => {
                    if e.method != crate::zip::ZipMethod::Stored {
                        return Err(ConvertError::Framing {
                            structure: "torch zip record",
                            offset: e.header_offset,
                            reason: format!("storage record '{}' is compressed", e.name),
                        });
                    }
                    data_records.insert(key, e);
                }
                _ => {
                    return Err(ConvertError::Framing {
                        structure: "torch zip record",
                        offset: e.header_offset,
                        reason: format!("unexpected member '{}'", e.name),
                    })
                }
            },
        }
    }
    let byteorder_name = format!("{root}/byteorder");
    let big_endian = match z.entry(&byteorder_name) {
        None => false,
        Some(e) => match z.read_entry(e)?.as_ref() {
            b"little" => false,
            b"big" => true,
            _ => {
                return Err(ConvertError::Framing {
                    structure: "torch zip byteorder record",
                    offset: e.data_offset,
                    reason: "byteorder is neither 'little' nor 'big'".into(),
                })
            }
        },
    };
    for vname in [format!("{root}/version"), format!("{root}/.data/version")] {
        if let Some(e) = z.entry(&vname) {
            let v = z.read_entry(e)?;
            let t = v.strip_suffix(b"\n").unwrap_or(&v);
            if t.is_empty() || t.len() > 8 || !t.iter().all(u8::is_ascii_digit) {
                return Err(ConvertError::Framing {
                    structure: "torch zip version record",
                    offset: e.data_offset,
                    reason: "version is not a decimal number".into(),
                });
            }
        }
    }
    let pkl_name = format!("{root}/data.pkl");
    let pkl = z.read(&pkl_name)?;
    let structure = pkl_name.clone();
    let parsed = parse_checked(&pkl, 0, true, &structure)?;
    let walker = Walker::new(
        &parsed.graph,
        TorchRecogniser::new(&structure, false),
        &structure,
        ObjectPolicy::DictsOnly,
        opts.max_graph_visits,
    );
    let (walked, rec) = walker.run(parsed.root)?;
    // Storage records: each referenced one must exist with the right length;
    // unreferenced records are refused (nothing hidden in the archive).
    let mut slices: HashMap<String, &'a [u8]> = HashMap::new();
    for (key, s) in &rec.storages {
        let e = data_records
            .get(key.as_str())
            .ok_or_else(|| ConvertError::Storage {
                key: key.clone(),
                reason: "no data record in the archive".into(),
            })?;
        check_record(s, e.uncompressed_size)?;
        let bytes = match z.read_entry(e)? {
            Cow::Borrowed(b) => b,
            Cow::Owned(_) => {
                return Err(ConvertError::Storage {
                    key: key.clone(),
                    reason: "record is not stored".into(),
                })
            }
        };
        slices.insert(key.clone(), bytes);
    }
    for key in data_records.keys() {
        if !rec.storages.contains_key(*key) {
            return Err(ConvertError::Storage {
                key: (*key).to_owned(),
                reason: "data record not referenced by data.pkl".into(),
            });
        }
    }
    let lookup = |s: &StorageRef| -> Result<&'a [u8], ConvertError> {
        slices
            .get(&s.key)
            .copied()
            .ok_or_else(|| ConvertError::Storage {
                key: s.key.clone(),
                reason: "missing".into(),
            })
    };
    emit(walked.tensors, &rec, &lookup, big_endian, opts, visit)?;
    Ok(walked.metadata)
}

/// Import a legacy (pre-1.6) PyTorch file: magic number, protocol version,
/// sys_info, the object, the storage keys, then each storage as a u64 LE
/// element count followed by its bytes, ending exactly at the end of input.
pub fn import_legacy<'a>(
    data: &'a [u8],
    opts: &ConvertOptions,
    visit: &mut dyn FnMut(ImportedTensor<'a>) -> Result<(), ConvertError>,
) -> Result<Vec<(String, MetaValue)>, ConvertError> {
    let magic = parse_checked(data, 0, false, "legacy magic-number pickle")?;
    match magic.graph.get(magic.root) {
        Some(Value::BigInt(b)) if le_u128(b) == Some(crate::detect::TORCH_LEGACY_MAGIC) => {}
        _ => {
            return Err(ConvertError::Framing {
                structure: "legacy magic-number pickle",
                offset: 0,
                reason: "not the PyTorch magic number".into(),
            })
        }
    }
    let proto = parse_checked(data, magic.end, false, "legacy protocol-version pickle")?;
    if proto.graph.as_int(proto.root) != Some(1001)
        || !matches!(proto.graph.get(proto.root), Some(Value::Int(_)))
    {
        return Err(ConvertError::Framing {
            structure: "legacy protocol-version pickle",
            offset: magic.end as u64,
            reason: "protocol version is not 1001".into(),
        });
    }
    let sys = parse_checked(data, proto.end, false, "legacy sys_info pickle")?;
    match sys.graph.dict_get_str(sys.root, "little_endian") {
        Some(id) if matches!(sys.graph.get(id), Some(Value::Bool(true))) => {}
        _ => {
            return Err(ConvertError::Framing {
                structure: "legacy sys_info pickle",
                offset: proto.end as u64,
                reason: "sys_info does not say little_endian=True".into(),
            })
        }
    }
    let structure = "legacy object pickle";
    let obj = parse_checked(data, sys.end, false, structure)?;
    let keys = parse_checked(data, obj.end, false, "legacy storage-keys pickle")?;
    let key_list: Vec<String> = match keys.graph.get(keys.root) {
        Some(Value::List(items)) => items
            .iter()
            .map(|&k| keys.graph.as_str(k).map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or(ConvertError::Framing {
                structure: "legacy storage-keys pickle",
                offset: obj.end as u64,
                reason: "storage keys are not all str".into(),
            })?,
        _ => {
            return Err(ConvertError::Framing {
                structure: "legacy storage-keys pickle",
                offset: obj.end as u64,
                reason: "storage keys are not a list".into(),
            })
        }
    };
    let walker = Walker::new(
        &obj.graph,
        TorchRecogniser::new(structure, true),
        structure,
        ObjectPolicy::DictsOnly,
        opts.max_graph_visits,
    );
    let (walked, rec) = walker.run(obj.root)?;
    // Raw storages, in key order, each: u64 LE numel, then numel * itemsize bytes.
    let mut pos = keys.end as u64;
    let mut slices: HashMap<String, (&'a [u8], DType)> = HashMap::new();
    for key in &key_list {
        let s = rec.storages.get(key).ok_or_else(|| ConvertError::Storage {
            key: key.clone(),
            reason: "listed in the storage keys but never referenced (its element size is unknown)"
                .into(),
        })?;
        let hdr = data
            .get(pos as usize..(pos as usize).saturating_add(8))
            .filter(|h| h.len() == 8)
            .ok_or(ConvertError::Framing {
                structure: "legacy storage header",
                offset: pos,
                reason: "truncated".into(),
            })?;
        let mut a = [0u8; 8];
        a.copy_from_slice(hdr);
        let numel = u64::from_le_bytes(a);
        let nbytes = numel
            .checked_mul(s.dtype.size() as u64)
            .ok_or(ConvertError::Framing {
                structure: "legacy storage header",
                offset: pos,
                reason: "numel * itemsize overflows".into(),
            })?;
        let start = pos + 8;
        let end = start
            .checked_add(nbytes)
            .filter(|&e| e <= data.len() as u64)
            .ok_or(ConvertError::Framing {
                structure: "legacy storage data",
                offset: start,
                reason: format!("storage '{key}' of {nbytes} bytes runs past the end of the file"),
            })?;
        if slices
            .insert(key.clone(), (&data[start as usize..end as usize], s.dtype))
            .is_some()
        {
            return Err(ConvertError::Storage {
                key: key.clone(),
                reason: "listed twice in the storage keys".into(),
            });
        }
        pos = end;
    }
    if pos != data.len() as u64 {
        return Err(ConvertError::Framing {
            structure: "legacy storage data",
            offset: pos,
            reason: format!(
                "{} trailing bytes after the last storage",
                data.len() as u64 - pos
            ),
        });
    }
    // Referenced storages must all be present; the id's numel must match the record.
    for (key, s) in &rec.storages {
        let (bytes, _) = slices.get(key).ok_or_else(|| ConvertError::Storage {
            key: key.clone(),
            reason: "referenced but not in the storage keys".into(),
        })?;
        if s.view.is_none() {
            check_record(s, bytes.len() as u64)?;
        }
    }
    let lookup = |s: &StorageRef| -> Result<&'a [u8], ConvertError> {
        let (bytes, _) = *slices.get(&s.key).ok_or_else(|| ConvertError::Storage {
            key: s.key.clone(),
            reason: "missing".into(),
        })?;
        match &s.view {
            None => Ok(bytes),
            Some(v) => {
                let isz = s.dtype.size() as u64;
                let range = v.offset.checked_mul(isz).zip(
                    v.offset
                        .checked_add(v.size)
                        .and_then(|e| e.checked_mul(isz)),
                );
                match range {
                    Some((a, b)) if b <= bytes.len() as u64 => Ok(&bytes[a as usize..b as usize]),
                    _ => Err(ConvertError::Storage {
                        key: s.key.clone(),
                        reason: format!("view '{}' lies outside its base storage", v.view_key),
                    }),
                }
            }
        }
    };
    emit(walked.tensors, &rec, &lookup, false, opts, visit)?;
    Ok(walked.metadata)
}

fn le_u128(b: &[u8]) -> Option<u128> {
    if b.len() > 16 || b.last().is_some_and(|x| x & 0x80 != 0) {
        return None;
    }
    let mut a = [0u8; 16];
    a[..b.len()].copy_from_slice(b);
    Some(u128::from_le_bytes(a))
}
