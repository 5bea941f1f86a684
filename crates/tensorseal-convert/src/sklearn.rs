//! scikit-learn estimators: conversion of bare pickles and joblib files into
//! tensors plus structure metadata, and a Rust rebuild of
//! [`LogisticRegression`] and [`IsolationForest`] from a container.
//!
//! # Conversion
//!
//! A bare pickle converts only when its top-level object is a scikit-learn
//! estimator (a class of the [`Profile::Sklearn`] allow-list whose module
//! starts with `sklearn.`) and the whole stream is `safe` under that
//! profile; any other bare pickle is refused
//! ([`ConvertError::Unsupported`] when the top-level object is not an
//! estimator, [`ConvertError::Global`] / [`ConvertError::Unsafe`] when an
//! estimator pickle holds anything outside the allow-list). Nothing is ever
//! imported or called: NumPy arrays are read from their pickled form,
//! `numpy.core.multiarray._reconstruct` (or `numpy._core...`) plus the
//! `BUILD` state `(version, shape, dtype, is_fortran, raw bytes)` at
//! protocols 2-4 (raw bytes as `bytes` or, at protocol 2,
//! `_codecs.encode(str, 'latin1')`), and `numpy.core.numeric._frombuffer`
//! `(buffer, dtype, shape, order)` at protocol 5. Object arrays are refused;
//! text arrays (`U`/`S` dtypes, e.g. string class labels in `classes_`)
//! become metadata rather than tensors.
//! joblib files go through [`crate::joblib`] (arrays in
//! `NumpyArrayWrapper` framing) and get the same metadata.
//!
//! ## Tensor names
//!
//! Tensors are named by the dotted path of the array through the object
//! graph, exactly as [`crate::graph::Walker`] names them: object attributes
//! by name, list and tuple items by index, constructor arguments under
//! `__args__.N` (`coef_`, `estimators_features_.2`,
//! `estimators_.0.tree_.__args__.1`). A structured array is split into one
//! tensor per field: `estimators_.3.tree_.nodes.threshold`,
//! `estimators_.3.tree_.nodes.left_child`, ... The names, dtypes, shapes,
//! bytes and metadata are identical whether the source is a protocol 2, 4
//! or 5 pickle or a (compressed) joblib file.
//!
//! ## Metadata schema (version 1)
//!
//! The generic per-attribute metadata of [`crate::graph::Walker`] (dotted
//! keys such as `solver`, `estimators_.0.__class__`) is kept; in addition:
//!
//! | key | type | value |
//! |---|---|---|
//! | `sklearn.schema` | Int | `1`, this schema's version |
//! | `sklearn.class` | Str | class path of the top-level estimator, e.g. `sklearn.ensemble._iforest.IsolationForest` |
//! | `sklearn.version` | Str | `_sklearn_version` of the top-level estimator (absent if not recorded) |
//! | `sklearn.objects` | Json | one record per scikit-learn object, top-level first, depth-first in attribute order |
//!
//! A record of `sklearn.objects` is a JSON object:
//!
//! ```json
//! {"path": "estimators_.0", "class": "sklearn.tree._classes.ExtraTreeRegressor",
//!  "params":  {"max_depth": 6, "splitter": "random", ...},
//!  "fitted":  {"n_features_in_": 4, "tree_": {"$object": "estimators_.0.tree_"}, ...},
//!  "private": {"_sklearn_version": "1.9.1", ...},
//!  "args": {"$tuple": [...]}}
//! ```
//!
//! - `path`: dotted path of the object (`""` for the top-level estimator),
//!   the prefix of every tensor below it.
//! - `class`: `module.qualname` of its class.
//! - `params`, `fitted`, `private`: the object's pickled state (its
//!   `__dict__`) split by attribute name: names ending in `_` (fitted
//!   attributes: `coef_`, `offset_`, `max_samples_`, `classes_`, ...) go to
//!   `fitted`, names starting with `_` to `private`, every other name
//!   (the constructor parameters, `get_params`) to `params`. For
//!   non-estimator objects such as `sklearn.tree._tree.Tree` the split is by
//!   name only (its `nodes`, `values`, `max_depth` land in `params`).
//! - `args` (only when the object was constructed with arguments, e.g.
//!   `Tree(n_features, n_classes, n_outputs)`), `kwargs`, `items`,
//!   `dict_items`, `state` (a state that is not a dict): rendered values.
//!
//! Values are plain JSON where JSON suffices (null, booleans, numbers,
//! strings, lists, string-keyed objects); everything else is a one-key
//! object whose key starts with `$`:
//!
//! | form | meaning |
//! |---|---|
//! | `{"$tensor": "coef_"}` | a NumPy array stored as the named tensor |
//! | `{"$fields": {"threshold": "estimators_.0.tree_.nodes.threshold", ...}}` | a structured array, one tensor per field |
//! | `{"$array": ["no", "yes"], "dtype": "<U3"}` | a text array (`U`/`S` dtype, e.g. string `classes_`): its elements, NULs stripped (nested lists beyond 1-D; `S` elements as hex strings) |
//! | `{"$object": "estimators_.0"}` | a nested scikit-learn object: see the record with that path |
//! | `{"$tuple": [...]}`, `{"$set": [...]}` | a tuple, a set or frozenset |
//! | `{"$dict": [[key, value], ...]}` | a dict whose keys are not all strings (or start with `$`) |
//! | `{"$numpy": 3.5}` | a NumPy scalar (`numpy.float64(3.5)`) |
//! | `{"$dtype": "<F64"}` | a `numpy.dtype` |
//! | `{"$float": "nan"}` / `"inf"` / `"-inf"` | a non-finite float |
//! | `{"$int": "123456789012345678901234"}` | an integer beyond 64 bits |
//! | `{"$bytes": "00ff"}` | bytes, hex |
//! | `{"$global": "module.name"}` | a bare class or function reference |
//! | `{"$call": "module.name", "args": ..., "state": ...}` | any other allowed object (`OrderedDict`, `RandomState`) |
//!
//! # Rebuild
//!
//! [`LogisticRegression::from_model`] and [`IsolationForest::from_model`]
//! read that metadata and the tensors back from a [`tensorseal::Model`] and
//! compute what scikit-learn computes; [`Estimator::from_model`] picks the
//! class from `sklearn.class`. Anything missing or inconsistent is a
//! [`SklearnError`], never a panic.

use std::collections::{HashMap, HashSet};

use serde_json::Value as Json;
use tensorseal_pickle::{CallKind, Graph, NoHooks, NodeId, PickleError, Profile, Value};

use crate::detect::Format;
use crate::error::ConvertError;
use crate::graph::{bigint_decimal, ObjectPolicy, TensorRecogniser, Walker};
use crate::joblib::{
    bytes_value, numpy_meta_value, parse_np_dtype, refuse_unsafe, text_values, NpDType,
};
use crate::layout::numel;
use crate::model::{DType, ImportedTensor, MetaValue};
use crate::ConvertOptions;

/// Version of the `sklearn.*` metadata schema written by this module.
pub const SCHEMA_VERSION: i64 = 1;
/// Metadata key: schema version (Int).
pub const KEY_SCHEMA: &str = "sklearn.schema";
/// Metadata key: class path of the top-level estimator (Str).
pub const KEY_CLASS: &str = "sklearn.class";
/// Metadata key: `_sklearn_version` of the top-level estimator (Str).
pub const KEY_VERSION: &str = "sklearn.version";
/// Metadata key: the object records (Json).
pub const KEY_OBJECTS: &str = "sklearn.objects";
/// Prefix reserved for this module's metadata keys.
pub const KEY_PREFIX: &str = "sklearn.";

/// Class path of scikit-learn's `LogisticRegression`.
pub const LOGISTIC_REGRESSION: &str = "sklearn.linear_model._logistic.LogisticRegression";
/// Class path of scikit-learn's `IsolationForest`.
pub const ISOLATION_FOREST: &str = "sklearn.ensemble._iforest.IsolationForest";

/// Rendered values nest at most this deep (the container's JSON rendering
/// keeps 64 levels).
const MAX_RENDER_DEPTH: usize = 48;

const STRUCTURE: &str = "scikit-learn pickle";

// ---------------------------------------------------------------------------
// Conversion
// ---------------------------------------------------------------------------

/// Whether `id` is an object of a scikit-learn class on the
/// [`Profile::Sklearn`] allow-list (the test for a convertible top-level
/// object).
pub fn is_estimator(graph: &Graph, id: NodeId) -> bool {
    graph.as_call(id).is_some()
        && graph
            .class_of(id)
            .is_some_and(|(m, n)| is_sklearn_module(m) && Profile::Sklearn.allows(m, n))
}

fn is_sklearn_module(module: &str) -> bool {
    module.starts_with("sklearn.")
}

/// The tensor names an array at `name` turns into: `name` itself, or
/// `name.field` for every field of a structured dtype.
pub fn tensor_names(name: &str, dtype: &NpDType) -> Vec<String> {
    match dtype {
        NpDType::Structured { fields, .. } => fields.iter().map(|f| join(name, &f.0)).collect(),
        _ => vec![name.to_owned()],
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// What an array node of the object graph becomes, for
/// [`estimator_metadata`].
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayNode<'g> {
    /// A numeric (or structured) array stored as tensor(s).
    Tensor(&'g NpDType),
    /// A text array (`U`/`S` dtype, e.g. string `classes_`) kept as metadata.
    Text {
        /// Its elements ([`text_values`]).
        values: MetaValue,
        /// NumPy dtype spelling (`<U5`).
        descr: String,
    },
}

/// Where the raw bytes of a pickled array live.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ArrayData {
    /// A `Bytes`/`ByteArray` node of the graph (or an ASCII protocol-0/1
    /// string).
    Node(NodeId),
    /// Decoded from `_codecs.encode(str, 'latin1')`.
    Owned(Vec<u8>),
}

/// One NumPy array found in a bare pickle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickleArray {
    /// dtype.
    pub dtype: NpDType,
    /// Shape.
    pub shape: Vec<u64>,
    /// The bytes are in Fortran order.
    pub fortran: bool,
    data: ArrayData,
}

impl PickleArray {
    /// The array's raw bytes (exactly `numel * itemsize` of them).
    pub fn bytes<'g>(&'g self, graph: &'g Graph) -> &'g [u8] {
        match &self.data {
            ArrayData::Owned(v) => v,
            ArrayData::Node(id) => match graph.get(*id) {
                Some(Value::Bytes(b)) | Some(Value::ByteArray(b)) => b,
                Some(Value::Str(s)) => s.as_bytes(),
                _ => &[],
            },
        }
    }
}

const RECONSTRUCT: &[(&str, &str)] = &[
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
];
const FROMBUFFER: &[(&str, &str)] = &[
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
];

fn shape_of(graph: &Graph, id: NodeId) -> Result<Vec<u64>, String> {
    let items = graph.as_tuple(id).ok_or("array shape is not a tuple")?;
    items
        .iter()
        .map(|&d| match graph.get(d) {
            Some(Value::Int(i)) if *i >= 0 => Ok(*i as u64),
            _ => Err("array shape has a non-integer or negative dimension".to_owned()),
        })
        .collect()
}

/// The bytes of a raw-data operand: `bytes`, `bytearray`, protocol 2's
/// `_codecs.encode(str, 'latin1')`, or a protocol-0/1 ASCII string.
fn raw_data(graph: &Graph, id: NodeId) -> Result<ArrayData, String> {
    match graph.get(id) {
        Some(Value::Bytes(_)) | Some(Value::ByteArray(_)) => Ok(ArrayData::Node(id)),
        Some(Value::Str(s)) if s.is_ascii() => Ok(ArrayData::Node(id)),
        Some(Value::List(_)) => Err("object arrays (element lists) are not converted".into()),
        Some(Value::Call(_)) => bytes_value(graph, id)
            .map(ArrayData::Owned)
            .ok_or_else(|| "array data is not bytes".to_owned()),
        _ => Err("array data is not bytes".into()),
    }
}

fn check_size(
    dtype: &NpDType,
    shape: &[u64],
    data: &ArrayData,
    graph: &Graph,
    limit: u64,
) -> Result<(), String> {
    if matches!(dtype, NpDType::Object) {
        return Err("object arrays are not converted".into());
    }
    let n = numel(shape).ok_or("array shape product overflows")?;
    let nbytes = n
        .checked_mul(dtype.itemsize())
        .ok_or("array size overflows")?;
    if nbytes > limit {
        return Err(format!(
            "array of {nbytes} bytes exceeds the limit of {limit}"
        ));
    }
    let have = match data {
        ArrayData::Owned(v) => v.len(),
        ArrayData::Node(id) => match graph.get(*id) {
            Some(Value::Bytes(b)) | Some(Value::ByteArray(b)) => b.len(),
            Some(Value::Str(s)) => s.len(),
            _ => 0,
        },
    };
    if have as u64 != nbytes {
        return Err(format!(
            "array data holds {have} bytes, its shape and dtype need {nbytes}"
        ));
    }
    Ok(())
}

/// `_reconstruct(ndarray, (0,), b'b')` + BUILD `(1, shape, dtype, fortran, raw)`.
fn reconstruct(graph: &Graph, id: NodeId, limit: u64) -> Result<PickleArray, String> {
    let call = graph.as_call(id).ok_or("array is not a call")?;
    if call.kind != CallKind::Reduce
        || call.kwargs.is_some()
        || !call.list_items.is_empty()
        || !call.dict_items.is_empty()
    {
        return Err("_reconstruct used other than through REDUCE + BUILD".into());
    }
    let args = graph
        .as_tuple(call.args)
        .ok_or("_reconstruct arguments are not a tuple")?;
    if args.len() != 3 || graph.as_global(args[0]) != Some(("numpy", "ndarray")) {
        return Err("_reconstruct of something other than numpy.ndarray".into());
    }
    let state = call
        .state
        .and_then(|s| graph.as_tuple(s))
        .ok_or("ndarray without a state tuple")?;
    let rest = match state.len() {
        5 => {
            if graph.as_int(state[0]) != Some(1) {
                return Err("unsupported ndarray state version".into());
            }
            &state[1..]
        }
        4 => state,
        _ => return Err("ndarray state tuple of unexpected length".into()),
    };
    let shape = shape_of(graph, rest[0])?;
    let dtype = parse_np_dtype(graph, rest[1])?;
    let fortran = match graph.get(rest[2]) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Int(0)) => false,
        Some(Value::Int(1)) => true,
        _ => return Err("ndarray is_fortran flag is not a bool".into()),
    };
    let data = raw_data(graph, rest[3])?;
    check_size(&dtype, &shape, &data, graph, limit)?;
    Ok(PickleArray {
        dtype,
        shape,
        fortran,
        data,
    })
}

/// `_frombuffer(buffer, dtype, shape, order)` (protocol 5).
fn frombuffer(graph: &Graph, id: NodeId, limit: u64) -> Result<PickleArray, String> {
    let call = graph.as_call(id).ok_or("array is not a call")?;
    if call.kind != CallKind::Reduce
        || call.kwargs.is_some()
        || call.state.is_some()
        || !call.list_items.is_empty()
        || !call.dict_items.is_empty()
    {
        return Err("_frombuffer used other than through a plain REDUCE".into());
    }
    let args = graph
        .as_tuple(call.args)
        .ok_or("_frombuffer arguments are not a tuple")?;
    match args.len() {
        4 => {}
        5 if matches!(graph.get(args[4]), Some(Value::None)) => {}
        _ => return Err("_frombuffer with unexpected arguments".into()),
    }
    let data = raw_data(graph, args[0])?;
    let dtype = parse_np_dtype(graph, args[1])?;
    let shape = shape_of(graph, args[2])?;
    let fortran = match graph.as_str(args[3]) {
        Some("C") => false,
        Some("F") => true,
        _ => return Err("_frombuffer order is neither 'C' nor 'F'".into()),
    };
    check_size(&dtype, &shape, &data, graph, limit)?;
    Ok(PickleArray {
        dtype,
        shape,
        fortran,
        data,
    })
}

/// Find and validate every NumPy array of a bare pickle's graph. A node
/// built by `_reconstruct` / `_frombuffer` that is not a well-formed array is
/// an error, never silently metadata.
pub fn find_arrays(
    graph: &Graph,
    limit: u64,
) -> Result<HashMap<NodeId, PickleArray>, ConvertError> {
    let mut out = HashMap::new();
    for (i, node) in graph.nodes().iter().enumerate() {
        let id = NodeId(i as u32);
        if !matches!(node.value, Value::Call(_)) {
            continue;
        }
        let Some(class) = graph.class_of(id) else {
            continue;
        };
        let arr = if RECONSTRUCT.contains(&class) {
            reconstruct(graph, id, limit)
        } else if FROMBUFFER.contains(&class) {
            frombuffer(graph, id, limit)
        } else {
            continue;
        };
        let arr = arr.map_err(|reason| ConvertError::Graph {
            structure: STRUCTURE.into(),
            path: String::new(),
            offset: node.offset,
            reason: format!("NumPy array: {reason}"),
        })?;
        out.insert(id, arr);
    }
    Ok(out)
}

struct PickleRecogniser<'m> {
    arrays: &'m HashMap<NodeId, PickleArray>,
}

impl TensorRecogniser for PickleRecogniser<'_> {
    type Plan = NodeId;

    fn is_tensor(&self, _graph: &Graph, id: NodeId) -> bool {
        self.arrays
            .get(&id)
            .is_some_and(|a| !matches!(a.dtype, NpDType::Text { .. }))
    }

    fn plan(&mut self, _graph: &Graph, id: NodeId, _path: &str) -> Result<NodeId, ConvertError> {
        Ok(id)
    }

    fn meta_value(&self, graph: &Graph, id: NodeId) -> Option<MetaValue> {
        match self.arrays.get(&id) {
            Some(arr) => pickle_text(arr, graph),
            None => numpy_meta_value(graph, id),
        }
    }
}

/// The metadata value of a text array (`None` for other arrays).
fn pickle_text(arr: &PickleArray, graph: &Graph) -> Option<MetaValue> {
    if !matches!(arr.dtype, NpDType::Text { .. }) {
        return None;
    }
    Some(
        text_values(&arr.dtype, &arr.shape, arr.fortran, arr.bytes(graph))
            .unwrap_or_else(|| MetaValue::Str("<malformed text array>".into())),
    )
}

/// Import a bare pickle holding a scikit-learn estimator: every array as a
/// tensor (structured arrays split per field), the generic per-attribute
/// metadata plus the `sklearn.*` keys. Refuses (see the module docs)
/// anything else.
pub fn import_pickle<'a>(
    data: &'a [u8],
    opts: &ConvertOptions,
    visit: &mut dyn FnMut(ImportedTensor<'a>) -> Result<(), ConvertError>,
) -> Result<Vec<(String, MetaValue)>, ConvertError> {
    let pickle_err = |source| ConvertError::Pickle {
        structure: STRUCTURE.into(),
        source,
    };
    let options = tensorseal_pickle::Options::new(Profile::Sklearn);
    let parsed =
        tensorseal_pickle::parse_one(data, 0, &options, &mut NoHooks).map_err(pickle_err)?;
    if !is_estimator(&parsed.graph, parsed.root) {
        return Err(ConvertError::Unsupported {
            format: Format::Pickle,
            reason: "bare pickle whose top-level object is not a scikit-learn estimator \
                     (only scikit-learn estimators convert from bare pickles; inspect it)",
        });
    }
    if parsed.end != data.len() {
        return Err(pickle_err(PickleError::TrailingData {
            offset: parsed.end,
            len: data.len() - parsed.end,
        }));
    }
    refuse_unsafe(&parsed, STRUCTURE)?;
    let graph = &parsed.graph;
    let arrays = find_arrays(graph, opts.max_tensor_bytes)?;
    let walker = Walker::new(
        graph,
        PickleRecogniser { arrays: &arrays },
        STRUCTURE,
        ObjectPolicy::Objects,
        opts.max_graph_visits,
    );
    let (walked, _) = walker.run(parsed.root)?;
    let mut names = Vec::new();
    for (name, id) in &walked.tensors {
        if let Some(arr) = arrays.get(id) {
            names.extend(tensor_names(name, &arr.dtype));
        }
    }
    let mut metadata = walked.metadata;
    let extra = estimator_metadata(
        graph,
        parsed.root,
        &|id| {
            let arr = arrays.get(&id)?;
            Some(match pickle_text(arr, graph) {
                Some(values) => ArrayNode::Text {
                    values,
                    descr: arr.dtype.text_descr().unwrap_or_default(),
                },
                None => ArrayNode::Tensor(&arr.dtype),
            })
        },
        &names,
        &metadata,
        opts.max_graph_visits,
        STRUCTURE,
    )?;
    metadata.extend(extra);
    for (name, id) in &walked.tensors {
        let arr = arrays.get(id).ok_or_else(|| ConvertError::Graph {
            structure: STRUCTURE.into(),
            path: name.clone(),
            offset: 0,
            reason: "array vanished between walk and read".into(),
        })?;
        let tensors = crate::joblib::split_array(
            name,
            &arr.dtype,
            &arr.shape,
            arr.fortran,
            arr.bytes(graph),
            opts.max_tensor_bytes,
        )?;
        for t in tensors {
            visit(t.into_owned())?;
        }
    }
    Ok(metadata)
}

/// Build the `sklearn.*` metadata of the estimator at `root` (see the module
/// docs). `array_of` recognises array nodes; `tensor_names` are the tensor
/// names the import produces (every `$tensor` reference is checked against
/// them); `generic` is the walker's metadata (its keys must not use the
/// reserved `sklearn.` prefix). `budget` bounds the nodes visited.
pub fn estimator_metadata<'g>(
    graph: &Graph,
    root: NodeId,
    array_of: &dyn Fn(NodeId) -> Option<ArrayNode<'g>>,
    tensor_names: &[String],
    generic: &[(String, MetaValue)],
    budget: u64,
    structure: &str,
) -> Result<Vec<(String, MetaValue)>, ConvertError> {
    let reserved = generic
        .iter()
        .map(|(k, _)| k)
        .chain(tensor_names.iter())
        .find(|k| k.starts_with(KEY_PREFIX));
    if let Some(k) = reserved {
        return Err(ConvertError::Graph {
            structure: structure.into(),
            path: k.clone(),
            offset: 0,
            reason: format!("name uses the reserved metadata prefix '{KEY_PREFIX}'"),
        });
    }
    let (module, name) = graph.class_of(root).ok_or_else(|| ConvertError::Graph {
        structure: structure.into(),
        path: String::new(),
        offset: 0,
        reason: "top-level object has no class".into(),
    })?;
    let class = format!("{module}.{name}");
    let mut r = Renderer {
        graph,
        array_of,
        tensors: tensor_names.iter().map(String::as_str).collect(),
        records: Vec::new(),
        budget,
        structure,
    };
    r.object(root, "", 0)?;
    let mut out = vec![
        (KEY_SCHEMA.to_owned(), MetaValue::Int(SCHEMA_VERSION)),
        (KEY_CLASS.to_owned(), MetaValue::Str(class)),
    ];
    let version = graph
        .as_call(root)
        .and_then(|c| c.state)
        .and_then(|s| graph.dict_get_str(s, "_sklearn_version"))
        .and_then(|v| graph.as_str(v));
    if let Some(v) = version {
        out.push((KEY_VERSION.to_owned(), MetaValue::Str(v.to_owned())));
    }
    out.push((KEY_OBJECTS.to_owned(), MetaValue::List(r.records)));
    Ok(out)
}

struct Renderer<'r, 'g> {
    graph: &'r Graph,
    array_of: &'r dyn Fn(NodeId) -> Option<ArrayNode<'g>>,
    tensors: HashSet<&'r str>,
    records: Vec<MetaValue>,
    budget: u64,
    structure: &'r str,
}

fn tagged(tag: &str, v: MetaValue) -> MetaValue {
    MetaValue::Map(vec![(tag.to_owned(), v)])
}

impl Renderer<'_, '_> {
    fn err(&self, id: NodeId, path: &str, reason: impl Into<String>) -> ConvertError {
        ConvertError::Graph {
            structure: self.structure.to_owned(),
            path: path.to_owned(),
            offset: self.graph.node(id).map(|n| n.offset).unwrap_or(0),
            reason: reason.into(),
        }
    }

    fn spend(&mut self, id: NodeId, path: &str, depth: usize) -> Result<(), ConvertError> {
        if self.budget == 0 {
            return Err(self.err(id, path, "graph visit budget exhausted"));
        }
        self.budget -= 1;
        if depth > MAX_RENDER_DEPTH {
            return Err(self.err(id, path, "estimator structure nested too deeply"));
        }
        Ok(())
    }

    fn tensor(&self, id: NodeId, name: String) -> Result<MetaValue, ConvertError> {
        if !self.tensors.contains(name.as_str()) {
            return Err(self.err(id, &name, "array without a tensor of that name"));
        }
        Ok(MetaValue::Str(name))
    }

    fn key_string(&self, key: NodeId, path: &str) -> Result<String, ConvertError> {
        match self.graph.get(key) {
            Some(Value::Str(s)) => Ok(s.clone()),
            Some(Value::Int(i)) => Ok(i.to_string()),
            Some(Value::Bool(b)) => Ok(if *b { "True".into() } else { "False".into() }),
            Some(Value::None) => Ok("None".into()),
            _ => Err(self.err(key, path, "dict key that cannot name an attribute")),
        }
    }

    /// Render a value (see the module docs' table), recording nested
    /// scikit-learn objects.
    fn render(&mut self, id: NodeId, path: &str, depth: usize) -> Result<MetaValue, ConvertError> {
        self.spend(id, path, depth)?;
        let graph = self.graph;
        if let Some(node) = (self.array_of)(id) {
            let dt = match node {
                ArrayNode::Text { values, descr } => {
                    return Ok(MetaValue::Map(vec![
                        ("$array".into(), values),
                        ("dtype".into(), MetaValue::Str(descr)),
                    ]))
                }
                ArrayNode::Tensor(dt) => dt,
            };
            return Ok(match dt {
                NpDType::Structured { fields, .. } => {
                    let mut m = Vec::with_capacity(fields.len());
                    for f in fields {
                        m.push((f.0.clone(), self.tensor(id, join(path, &f.0))?));
                    }
                    tagged("$fields", MetaValue::Map(m))
                }
                _ => tagged("$tensor", self.tensor(id, path.to_owned())?),
            });
        }
        let value = graph
            .get(id)
            .ok_or_else(|| self.err(id, path, "dangling node id"))?;
        Ok(match value {
            Value::None => MetaValue::None,
            Value::Bool(b) => MetaValue::Bool(*b),
            Value::Int(i) => MetaValue::Int(*i),
            Value::BigInt(b) => tagged("$int", MetaValue::Str(bigint_decimal(b))),
            Value::Float(f) if f.is_finite() => MetaValue::Float(*f),
            Value::Float(f) => tagged(
                "$float",
                MetaValue::Str(
                    if f.is_nan() {
                        "nan"
                    } else if *f > 0.0 {
                        "inf"
                    } else {
                        "-inf"
                    }
                    .into(),
                ),
            ),
            Value::Str(s) => MetaValue::Str(s.clone()),
            Value::Bytes(b) | Value::ByteArray(b) => tagged(
                "$bytes",
                MetaValue::Str(b.iter().map(|x| format!("{x:02x}")).collect()),
            ),
            Value::List(items) => MetaValue::List(self.items(items, path, depth)?),
            Value::Tuple(items) => {
                tagged("$tuple", MetaValue::List(self.items(items, path, depth)?))
            }
            Value::Set(items) | Value::FrozenSet(items) => {
                tagged("$set", MetaValue::List(self.items(items, path, depth)?))
            }
            Value::Dict(items) => self.dict(items, path, depth)?,
            Value::Global { module, name } => {
                tagged("$global", MetaValue::Str(format!("{module}.{name}")))
            }
            Value::PersistentRef(_) => {
                return Err(self.err(id, path, "persistent reference in a scikit-learn pickle"))
            }
            Value::Call(_) => {
                if let Some(m) = numpy_meta_value(graph, id) {
                    match graph.class_of(id) {
                        Some(("numpy", "dtype")) => tagged("$dtype", m),
                        _ => tagged("$numpy", m),
                    }
                } else if is_estimator(graph, id) {
                    self.object(id, path, depth + 1)?;
                    tagged("$object", MetaValue::Str(path.to_owned()))
                } else {
                    self.call(id, path, depth)?
                }
            }
        })
    }

    fn items(
        &mut self,
        items: &[NodeId],
        path: &str,
        depth: usize,
    ) -> Result<Vec<MetaValue>, ConvertError> {
        let mut out = Vec::with_capacity(items.len().min(1024));
        for (i, &c) in items.iter().enumerate() {
            out.push(self.render(c, &join(path, &i.to_string()), depth + 1)?);
        }
        Ok(out)
    }

    fn dict(
        &mut self,
        items: &[(NodeId, NodeId)],
        path: &str,
        depth: usize,
    ) -> Result<MetaValue, ConvertError> {
        let plain = items
            .iter()
            .all(|&(k, _)| self.graph.as_str(k).is_some_and(|s| !s.starts_with('$')));
        let mut map = Vec::with_capacity(items.len().min(1024));
        let mut pairs = Vec::with_capacity(items.len().min(1024));
        for &(k, v) in items {
            let key = self.key_string(k, path)?;
            let val = self.render(v, &join(path, &key), depth + 1)?;
            if plain {
                map.push((key, val));
            } else {
                let kv = self.render(k, path, depth + 1)?;
                pairs.push(MetaValue::List(vec![kv, val]));
            }
        }
        Ok(if plain {
            MetaValue::Map(map)
        } else {
            tagged("$dict", MetaValue::List(pairs))
        })
    }

    /// A non-scikit-learn object: `{"$call": class, ...}` with the walker's
    /// naming for anything below it.
    fn call(&mut self, id: NodeId, path: &str, depth: usize) -> Result<MetaValue, ConvertError> {
        let graph = self.graph;
        let c = graph
            .as_call(id)
            .ok_or_else(|| self.err(id, path, "not an object"))?;
        let class = graph
            .as_global(c.callee)
            .map(|(m, n)| format!("{m}.{n}"))
            .ok_or_else(|| self.err(id, path, "object whose class is not a global"))?;
        let mut entries = vec![("$call".to_owned(), MetaValue::Str(class))];
        self.parts(id, path, depth, &mut entries, false)?;
        Ok(MetaValue::Map(entries))
    }

    /// Constructor arguments, items and state of an object, appended to
    /// `entries`; with `split`, a dict state is split into
    /// `params`/`fitted`/`private`.
    fn parts(
        &mut self,
        id: NodeId,
        path: &str,
        depth: usize,
        entries: &mut Vec<(String, MetaValue)>,
        split: bool,
    ) -> Result<(), ConvertError> {
        let graph = self.graph;
        let c = graph
            .as_call(id)
            .ok_or_else(|| self.err(id, path, "not an object"))?;
        if graph.as_tuple(c.args).is_some_and(|a| !a.is_empty()) {
            let v = self.render(c.args, &join(path, "__args__"), depth + 1)?;
            entries.push(("args".into(), v));
        }
        if let Some(kw) = c.kwargs {
            let v = self.render(kw, &join(path, "__kwargs__"), depth + 1)?;
            entries.push(("kwargs".into(), v));
        }
        if !c.list_items.is_empty() {
            let v = self.items(&c.list_items, path, depth)?;
            entries.push(("items".into(), MetaValue::List(v)));
        }
        if !c.dict_items.is_empty() {
            let v = self.dict(&c.dict_items, path, depth)?;
            entries.push(("dict_items".into(), v));
        }
        let Some(state) = c.state else {
            return Ok(());
        };
        // The same shapes the walker accepts: a dict, or (dict, slots).
        let dicts: Option<Vec<&[(NodeId, NodeId)]>> = match graph.get(state) {
            Some(Value::Dict(items)) => Some(vec![items]),
            Some(Value::Tuple(t))
                if t.len() == 2
                    && t.iter().all(|&x| {
                        matches!(graph.get(x), Some(Value::Dict(_)) | Some(Value::None))
                    }) =>
            {
                Some(
                    t.iter()
                        .filter_map(|&x| match graph.get(x) {
                            Some(Value::Dict(items)) => Some(items.as_slice()),
                            _ => None,
                        })
                        .collect(),
                )
            }
            _ => None,
        };
        match dicts {
            Some(dicts) if split => {
                let (mut params, mut fitted, mut private) = (Vec::new(), Vec::new(), Vec::new());
                for items in dicts {
                    for &(k, v) in items {
                        let key = self.key_string(k, path)?;
                        let val = self.render(v, &join(path, &key), depth + 1)?;
                        if key.starts_with('_') {
                            private.push((key, val));
                        } else if key.ends_with('_') {
                            fitted.push((key, val));
                        } else {
                            params.push((key, val));
                        }
                    }
                }
                entries.push(("params".into(), MetaValue::Map(params)));
                entries.push(("fitted".into(), MetaValue::Map(fitted)));
                entries.push(("private".into(), MetaValue::Map(private)));
            }
            Some(dicts) => {
                let mut all = Vec::new();
                for items in dicts {
                    for &(k, v) in items {
                        let key = self.key_string(k, path)?;
                        let val = self.render(v, &join(path, &key), depth + 1)?;
                        all.push((key, val));
                    }
                }
                entries.push(("state".into(), MetaValue::Map(all)));
            }
            None => {
                let v = self.render(state, &join(path, "__state__"), depth + 1)?;
                entries.push(("state".into(), v));
            }
        }
        Ok(())
    }

    /// Record a scikit-learn object at `path` (pre-order).
    fn object(&mut self, id: NodeId, path: &str, depth: usize) -> Result<(), ConvertError> {
        self.spend(id, path, depth)?;
        let (m, n) = self
            .graph
            .class_of(id)
            .ok_or_else(|| self.err(id, path, "object whose class is not a global"))?;
        let mut entries = vec![
            ("path".to_owned(), MetaValue::Str(path.to_owned())),
            ("class".to_owned(), MetaValue::Str(format!("{m}.{n}"))),
        ];
        let slot = self.records.len();
        self.records.push(MetaValue::None);
        self.parts(id, path, depth, &mut entries, true)?;
        if let Some(r) = self.records.get_mut(slot) {
            *r = MetaValue::Map(entries);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Rebuild
// ---------------------------------------------------------------------------

/// Why an estimator could not be rebuilt from a container, or could not
/// score an input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SklearnError {
    /// The container carries no scikit-learn structure metadata.
    #[error("no scikit-learn structure metadata: key '{key}' missing (was this container converted from a scikit-learn file?)")]
    NotSklearn {
        /// The missing key.
        key: &'static str,
    },
    /// The metadata schema version is not one this reader knows.
    #[error("scikit-learn metadata schema {found} is not supported (this reader knows {SCHEMA_VERSION})")]
    Schema {
        /// Version found.
        found: i64,
    },
    /// The estimator is of another class.
    #[error("the container holds a {found}, not a {expected}")]
    WrongClass {
        /// Class this rebuild needs.
        expected: String,
        /// Class found.
        found: String,
    },
    /// The metadata is malformed.
    #[error("malformed scikit-learn metadata at '{path}': {reason}")]
    Metadata {
        /// Object path or metadata key.
        path: String,
        /// Why.
        reason: String,
    },
    /// A needed attribute is missing.
    #[error("object '{object}' has no attribute '{attribute}'")]
    MissingAttribute {
        /// Object path (`""` is the top-level estimator).
        object: String,
        /// Attribute name.
        attribute: String,
    },
    /// A tensor the metadata refers to is not in the container.
    #[error("tensor '{name}' is missing from the container")]
    MissingTensor {
        /// Tensor name.
        name: String,
    },
    /// A tensor has the wrong dtype, shape or content.
    #[error("tensor '{name}': {reason}")]
    BadTensor {
        /// Tensor name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A tree's node arrays are inconsistent.
    #[error("tree {tree}: {reason}")]
    BadTree {
        /// Index in `estimators_`.
        tree: usize,
        /// Why.
        reason: String,
    },
    /// An input row cannot be scored.
    #[error("input row {row}: {reason}")]
    BadInput {
        /// Row index.
        row: usize,
        /// Why.
        reason: String,
    },
    /// Reading the container failed.
    #[error(transparent)]
    Container(#[from] tensorseal::Error),
}

type Result<T, E = SklearnError> = std::result::Result<T, E>;

/// The `sklearn.objects` records of a container, by path.
struct Objects<'m> {
    model: &'m tensorseal::Model,
    records: Vec<Json>,
    by_path: HashMap<String, usize>,
    names: HashSet<&'m str>,
}

fn meta<'m>(model: &'m tensorseal::Model, key: &str) -> Option<&'m tensorseal::MetaValue> {
    model
        .info()
        .metadata
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// The class path of the top-level scikit-learn estimator of a converted
/// container (`sklearn.class`), after checking the schema version.
pub fn estimator_class(model: &tensorseal::Model) -> Result<&str> {
    match meta(model, KEY_SCHEMA) {
        None => return Err(SklearnError::NotSklearn { key: KEY_SCHEMA }),
        Some(tensorseal::MetaValue::Int(SCHEMA_VERSION)) => {}
        Some(tensorseal::MetaValue::Int(v)) => return Err(SklearnError::Schema { found: *v }),
        Some(_) => {
            return Err(SklearnError::Metadata {
                path: KEY_SCHEMA.into(),
                reason: "not an integer".into(),
            })
        }
    }
    match meta(model, KEY_CLASS) {
        Some(tensorseal::MetaValue::Str(s)) => Ok(s),
        None => Err(SklearnError::NotSklearn { key: KEY_CLASS }),
        Some(_) => Err(SklearnError::Metadata {
            path: KEY_CLASS.into(),
            reason: "not a string".into(),
        }),
    }
}

impl<'m> Objects<'m> {
    fn load(model: &'m tensorseal::Model, expected: &[&str]) -> Result<Self> {
        let class = estimator_class(model)?;
        if !expected.contains(&class) {
            return Err(SklearnError::WrongClass {
                expected: expected.first().copied().unwrap_or_default().to_owned(),
                found: class.to_owned(),
            });
        }
        let text = match meta(model, KEY_OBJECTS) {
            Some(tensorseal::MetaValue::Json(s)) => s,
            None => return Err(SklearnError::NotSklearn { key: KEY_OBJECTS }),
            Some(_) => {
                return Err(SklearnError::Metadata {
                    path: KEY_OBJECTS.into(),
                    reason: "not JSON".into(),
                })
            }
        };
        let bad = |reason: String| SklearnError::Metadata {
            path: KEY_OBJECTS.into(),
            reason,
        };
        let records = match serde_json::from_str::<Json>(text).map_err(|e| bad(e.to_string()))? {
            Json::Array(a) => a,
            _ => return Err(bad("not a JSON array".into())),
        };
        let mut by_path = HashMap::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            let path = r
                .get("path")
                .and_then(Json::as_str)
                .ok_or_else(|| bad(format!("record {i} has no path")))?;
            if by_path.insert(path.to_owned(), i).is_some() {
                return Err(bad(format!("two records for path '{path}'")));
            }
        }
        Ok(Objects {
            model,
            records,
            by_path,
            names: model.names().collect(),
        })
    }

    fn record(&self, path: &str) -> Result<&Json> {
        self.by_path
            .get(path)
            .and_then(|&i| self.records.get(i))
            .ok_or_else(|| SklearnError::Metadata {
                path: path.to_owned(),
                reason: "no object record at this path".into(),
            })
    }

    fn class(&self, path: &str) -> Result<&str> {
        self.record(path)?
            .get("class")
            .and_then(Json::as_str)
            .ok_or_else(|| SklearnError::Metadata {
                path: path.to_owned(),
                reason: "record without a class".into(),
            })
    }

    /// An attribute of the object at `path`, wherever the schema put it.
    fn attr(&self, path: &str, name: &str) -> Result<Option<&Json>> {
        let rec = self.record(path)?;
        Ok(["params", "fitted", "private", "state"]
            .iter()
            .find_map(|cat| rec.get(cat).and_then(|m| m.get(name))))
    }

    fn need(&self, path: &str, name: &str) -> Result<&Json> {
        self.attr(path, name)?
            .ok_or_else(|| SklearnError::MissingAttribute {
                object: path.to_owned(),
                attribute: name.to_owned(),
            })
    }

    fn bad(&self, path: &str, name: &str, reason: &str) -> SklearnError {
        SklearnError::Metadata {
            path: join(path, name),
            reason: reason.to_owned(),
        }
    }

    fn number(&self, path: &str, name: &str) -> Result<Option<f64>> {
        match self.attr(path, name)? {
            None | Some(Json::Null) => Ok(None),
            Some(v) => json_f64(v)
                .map(Some)
                .ok_or_else(|| self.bad(path, name, "not a number")),
        }
    }

    fn object_ref<'a>(&self, v: &'a Json, path: &str, name: &str) -> Result<&'a str> {
        v.get("$object")
            .and_then(Json::as_str)
            .ok_or_else(|| self.bad(path, name, "not a reference to a scikit-learn object"))
    }

    /// A list, tuple or text array.
    fn list<'a>(&self, v: &'a Json, path: &str, name: &str) -> Result<&'a [Json]> {
        match v {
            Json::Array(a) => Ok(a),
            _ => match v.get("$tuple").or_else(|| v.get("$array")) {
                Some(Json::Array(a)) => Ok(a),
                _ => Err(self.bad(path, name, "not a list")),
            },
        }
    }

    fn tensor_name<'a>(&self, v: &'a Json, path: &str, name: &str) -> Result<&'a str> {
        v.get("$tensor")
            .and_then(Json::as_str)
            .ok_or_else(|| self.bad(path, name, "not a tensor reference"))
    }

    fn view(&self, name: &str) -> Result<tensorseal::TensorView<'m>> {
        if !self.names.contains(name) {
            return Err(SklearnError::MissingTensor {
                name: name.to_owned(),
            });
        }
        Ok(self.model.tensor(name)?)
    }

    /// A float tensor (F64, or F32 widened) with its shape.
    fn f64s(&self, name: &str) -> Result<(Vec<f64>, Vec<u64>)> {
        let v = self.view(name)?;
        let d = v.data();
        let vals = match v.dtype() {
            DType::F64 => d
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
            DType::F32 => d
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap_or([0; 4]))))
                .collect(),
            other => {
                return Err(SklearnError::BadTensor {
                    name: name.to_owned(),
                    reason: format!("dtype {} where a float was expected", other.name()),
                })
            }
        };
        Ok((vals, v.shape().to_vec()))
    }

    /// An integer tensor (I64, I32, U8, ...) widened to i64, with its shape.
    fn i64s(&self, name: &str) -> Result<(Vec<i64>, Vec<u64>)> {
        let v = self.view(name)?;
        let d = v.data();
        let vals: Vec<i64> = match v.dtype() {
            DType::I64 => d
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
            DType::I32 => d
                .chunks_exact(4)
                .map(|c| i64::from(i32::from_le_bytes(c.try_into().unwrap_or([0; 4]))))
                .collect(),
            DType::U32 => d
                .chunks_exact(4)
                .map(|c| i64::from(u32::from_le_bytes(c.try_into().unwrap_or([0; 4]))))
                .collect(),
            DType::I16 => d
                .chunks_exact(2)
                .map(|c| i64::from(i16::from_le_bytes(c.try_into().unwrap_or([0; 2]))))
                .collect(),
            DType::U16 => d
                .chunks_exact(2)
                .map(|c| i64::from(u16::from_le_bytes(c.try_into().unwrap_or([0; 2]))))
                .collect(),
            DType::I8 => d.iter().map(|&b| i64::from(b as i8)).collect(),
            DType::U8 | DType::BOOL => d.iter().map(|&b| i64::from(b)).collect(),
            other => {
                return Err(SklearnError::BadTensor {
                    name: name.to_owned(),
                    reason: format!("dtype {} where an integer was expected", other.name()),
                })
            }
        };
        Ok((vals, v.shape().to_vec()))
    }
}

fn json_f64(v: &Json) -> Option<f64> {
    if let Some(f) = v.as_f64() {
        return Some(f);
    }
    if let Some(inner) = v.get("$numpy") {
        return json_f64(inner);
    }
    match v.get("$float")?.as_str()? {
        "nan" => Some(f64::NAN),
        "inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

fn json_i64(v: &Json) -> Option<i64> {
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    json_i64(v.get("$numpy")?)
}

fn shape_is(shape: &[u64], want: &[usize]) -> bool {
    shape.len() == want.len() && shape.iter().zip(want).all(|(&a, &b)| a == b as u64)
}

/// Check a row's width and that every value is finite, as scikit-learn's
/// input validation does.
fn check_row(row: usize, values: &[f64], n_features: usize) -> Result<()> {
    if values.len() != n_features {
        return Err(SklearnError::BadInput {
            row,
            reason: format!(
                "{} features, the estimator was fitted with {n_features}",
                values.len()
            ),
        });
    }
    if let Some(j) = values.iter().position(|v| !v.is_finite()) {
        return Err(SklearnError::BadInput {
            row,
            reason: format!("feature {j} is NaN or infinite"),
        });
    }
    Ok(())
}

/// A rebuilt `sklearn.linear_model.LogisticRegression` (binary, one-vs-rest
/// and multinomial).
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticRegression {
    /// `coef_`, row-major, `n_rows x n_features` (one row for binary).
    coef: Vec<f64>,
    /// `intercept_`, one per row of `coef`.
    intercept: Vec<f64>,
    n_rows: usize,
    n_features: usize,
    n_classes: usize,
    ovr: bool,
}

impl LogisticRegression {
    /// Rebuild from a container converted from a scikit-learn
    /// `LogisticRegression` pickle or joblib file.
    pub fn from_model(model: &tensorseal::Model) -> Result<Self> {
        let o = Objects::load(
            model,
            &[
                LOGISTIC_REGRESSION,
                "sklearn.linear_model.logistic.LogisticRegression",
            ],
        )?;
        let coef_name = o.tensor_name(o.need("", "coef_")?, "", "coef_")?;
        let (coef, shape) = o.f64s(coef_name)?;
        let [n_rows, n_features] = match shape.as_slice() {
            &[r, f] if r > 0 => [r as usize, f as usize],
            _ => {
                return Err(SklearnError::BadTensor {
                    name: coef_name.to_owned(),
                    reason: format!("shape {shape:?}, expected (n_classes or 1, n_features)"),
                })
            }
        };
        if coef.len() != n_rows * n_features {
            return Err(SklearnError::BadTensor {
                name: coef_name.to_owned(),
                reason: format!("{} elements for shape {shape:?}", coef.len()),
            });
        }
        let intercept_attr = o.need("", "intercept_")?;
        let intercept = match intercept_attr.get("$tensor") {
            Some(_) => {
                let name = o.tensor_name(intercept_attr, "", "intercept_")?;
                let (v, shape) = o.f64s(name)?;
                if !shape_is(&shape, &[n_rows]) {
                    return Err(SklearnError::BadTensor {
                        name: name.to_owned(),
                        reason: format!("shape {shape:?}, expected ({n_rows},)"),
                    });
                }
                v
            }
            // fit_intercept=False stores a plain 0.0.
            None => {
                let x = json_f64(intercept_attr)
                    .ok_or_else(|| o.bad("", "intercept_", "neither a tensor nor a number"))?;
                vec![x; n_rows]
            }
        };
        let classes = o.need("", "classes_")?;
        let n_classes = if let Some(name) = classes.get("$tensor").and_then(Json::as_str) {
            let shape = o.view(name)?.shape().to_vec();
            match shape.as_slice() {
                &[n] => n as usize,
                _ => {
                    return Err(SklearnError::BadTensor {
                        name: name.to_owned(),
                        reason: format!("shape {shape:?}, expected (n_classes,)"),
                    })
                }
            }
        } else {
            o.list(classes, "", "classes_")?.len()
        };
        if n_classes < 2
            || (n_classes == 2 && n_rows != 1)
            || (n_classes > 2 && n_rows != n_classes)
        {
            return Err(SklearnError::BadTensor {
                name: coef_name.to_owned(),
                reason: format!("{n_rows} coefficient rows for {n_classes} classes"),
            });
        }
        if let Some(n) = o.attr("", "n_features_in_")?.and_then(json_i64) {
            if n != n_features as i64 {
                return Err(o.bad("", "n_features_in_", "disagrees with coef_"));
            }
        }
        let text = |name: &str| -> Result<Option<String>> {
            Ok(o.attr("", name)?.and_then(Json::as_str).map(str::to_owned))
        };
        let solver = text("solver")?;
        let liblinear = solver.as_deref() == Some("liblinear");
        // scikit-learn's rule (multi_class removed in 1.8: binary and
        // liblinear problems are one-vs-rest, the rest multinomial).
        let ovr = match text("multi_class")?.as_deref() {
            Some("ovr") | Some("warn") => true,
            Some("multinomial") => false,
            Some("auto") | Some("deprecated") | None => n_classes <= 2 || liblinear,
            Some(other) => {
                return Err(SklearnError::Metadata {
                    path: "multi_class".into(),
                    reason: format!("unknown value '{other}'"),
                })
            }
        };
        Ok(LogisticRegression {
            coef,
            intercept,
            n_rows,
            n_features,
            n_classes,
            ovr,
        })
    }

    /// Number of input features.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of classes (`len(classes_)`).
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Whether probabilities are one-vs-rest (normalised sigmoids) rather
    /// than a softmax.
    pub fn is_ovr(&self) -> bool {
        self.ovr
    }

    /// `decision_function`: `X @ coef_.T + intercept_`, one inner vector per
    /// row. Binary problems give one score per row (inner length 1), as
    /// scikit-learn's 1-D result.
    pub fn decision_function<R: AsRef<[f64]>>(&self, rows: &[R]) -> Result<Vec<Vec<f64>>> {
        let mut out = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let x = row.as_ref();
            check_row(i, x, self.n_features)?;
            let scores = self
                .coef
                .chunks_exact(self.n_features.max(1))
                .take(self.n_rows)
                .zip(&self.intercept)
                .map(|(w, b)| w.iter().zip(x).map(|(w, x)| w * x).sum::<f64>() + b)
                .collect::<Vec<f64>>();
            // n_features == 0: coef_ is empty, the score is the intercept.
            let scores = if self.n_features == 0 {
                self.intercept.clone()
            } else {
                scores
            };
            out.push(scores);
        }
        Ok(out)
    }

    /// `predict_proba`: one probability per class (in `classes_` order) per
    /// row.
    pub fn predict_proba<R: AsRef<[f64]>>(&self, rows: &[R]) -> Result<Vec<Vec<f64>>> {
        let decision = self.decision_function(rows)?;
        Ok(decision
            .into_iter()
            .map(|d| {
                if self.ovr {
                    let p: Vec<f64> = d.iter().map(|&z| expit(z)).collect();
                    if p.len() == 1 {
                        vec![1.0 - p[0], p[0]]
                    } else {
                        let s: f64 = p.iter().sum();
                        p.iter().map(|x| x / s).collect()
                    }
                } else if d.len() == 1 {
                    softmax(&[-d[0], d[0]])
                } else {
                    softmax(&d)
                }
            })
            .collect())
    }
}

/// The logistic sigmoid `1 / (1 + exp(-x))` (scipy's `expit`).
fn expit(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// scikit-learn's `extmath.softmax` for one row.
fn softmax(x: &[f64]) -> Vec<f64> {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| (v - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// NumPy's `np.euler_gamma`.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// scikit-learn's `_average_path_length` for one node size: the average
/// path length of an unsuccessful search in a binary search tree of `n`
/// samples (0 for `n <= 1`, 1 for `n == 2`).
pub fn average_path_length(n: f64) -> f64 {
    if n <= 1.0 {
        0.0
    } else if n == 2.0 {
        1.0
    } else {
        2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
    }
}

/// One isolation tree (an `ExtraTreeRegressor`'s `tree_.nodes`).
#[derive(Debug, Clone, PartialEq)]
struct IsoTree {
    left: Vec<i64>,
    right: Vec<i64>,
    feature: Vec<i64>,
    threshold: Vec<f64>,
    missing_left: Option<Vec<i64>>,
    /// `_average_path_length(n_node_samples)` per node.
    avg_path: Vec<f64>,
    /// Columns of the input this tree sees (`estimators_features_`), when
    /// the forest subsamples features.
    features: Option<Vec<usize>>,
}

/// scikit-learn's `TREE_LEAF`.
const TREE_LEAF: i64 = -1;

impl IsoTree {
    /// Leaf index and decision-path length (nodes from the root, inclusive:
    /// `compute_node_depths`) for one row already cast to float32.
    fn apply(&self, x: &[f32]) -> (usize, f64) {
        let mut node = 0usize;
        let mut depth = 1.0f64;
        // Children always have larger indices (checked at load), so this
        // ends within `len` steps.
        while let Some(&left) = self.left.get(node) {
            if left == TREE_LEAF {
                break;
            }
            let f = self.feature[node] as usize;
            let col = match &self.features {
                Some(map) => map[f],
                None => f,
            };
            let v = x[col];
            let go_left = if v.is_nan() {
                self.missing_left.as_ref().is_some_and(|m| m[node] != 0)
            } else {
                f64::from(v) <= self.threshold[node]
            };
            node = if go_left { left } else { self.right[node] } as usize;
            depth += 1.0;
        }
        (node, depth)
    }
}

/// A rebuilt `sklearn.ensemble.IsolationForest`.
#[derive(Debug, Clone, PartialEq)]
pub struct IsolationForest {
    trees: Vec<IsoTree>,
    n_features: usize,
    max_samples: f64,
    offset: f64,
}

impl IsolationForest {
    /// Rebuild from a container converted from a scikit-learn
    /// `IsolationForest` pickle or joblib file.
    pub fn from_model(model: &tensorseal::Model) -> Result<Self> {
        let o = Objects::load(
            model,
            &[ISOLATION_FOREST, "sklearn.ensemble.iforest.IsolationForest"],
        )?;
        let n_features = o
            .attr("", "n_features_in_")?
            .or(o.attr("", "n_features_")?)
            .ok_or_else(|| SklearnError::MissingAttribute {
                object: String::new(),
                attribute: "n_features_in_".into(),
            })
            .and_then(|v| {
                json_i64(v)
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| o.bad("", "n_features_in_", "not a count"))
            })?;
        let max_samples = match o.number("", "_max_samples")? {
            Some(v) => v,
            None => {
                o.number("", "max_samples_")?
                    .ok_or_else(|| SklearnError::MissingAttribute {
                        object: String::new(),
                        attribute: "_max_samples".into(),
                    })?
            }
        };
        let offset = o
            .number("", "offset_")?
            .ok_or_else(|| SklearnError::MissingAttribute {
                object: String::new(),
                attribute: "offset_".into(),
            })?;
        let max_features = match o
            .attr("", "_max_features")?
            .or(o.attr("", "max_features_")?)
        {
            Some(v) => Some(
                json_i64(v)
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| o.bad("", "_max_features", "not a count"))?,
            ),
            None => None,
        };
        let estimators = o.list(o.need("", "estimators_")?, "", "estimators_")?;
        if estimators.is_empty() {
            return Err(o.bad("", "estimators_", "no trees"));
        }
        // sklearn: subsample_features = self._max_features != X.shape[1]
        let subsample = max_features.is_some_and(|m| m != n_features);
        let features_lists = if subsample {
            let l = o.list(
                o.need("", "estimators_features_")?,
                "",
                "estimators_features_",
            )?;
            if l.len() != estimators.len() {
                return Err(o.bad("", "estimators_features_", "not one entry per estimator"));
            }
            Some(l)
        } else {
            None
        };
        let mut trees = Vec::with_capacity(estimators.len());
        for (t, est) in estimators.iter().enumerate() {
            let features = match features_lists.and_then(|l| l.get(t)) {
                Some(v) => {
                    let name = o.tensor_name(v, "", "estimators_features_")?;
                    let (idx, _) = o.i64s(name)?;
                    let idx = idx
                        .into_iter()
                        .map(|i| usize::try_from(i).ok().filter(|&i| i < n_features))
                        .collect::<Option<Vec<usize>>>()
                        .ok_or_else(|| SklearnError::BadTensor {
                            name: name.to_owned(),
                            reason: format!("feature index outside 0..{n_features}"),
                        })?;
                    Some(idx)
                }
                None => None,
            };
            trees.push(load_tree(&o, est, t, features, n_features)?);
        }
        Ok(IsolationForest {
            trees,
            n_features,
            max_samples,
            offset,
        })
    }

    /// Number of input features.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of trees.
    pub fn n_estimators(&self) -> usize {
        self.trees.len()
    }

    /// `offset_`.
    pub fn offset(&self) -> f64 {
        self.offset
    }

    /// `score_samples`: the opposite of the anomaly score of the original
    /// paper, `-2^(-E[h(x)] / c(max_samples))` (lower is more abnormal).
    /// Inputs are cast to float32 first, as scikit-learn's trees do.
    pub fn score_samples<R: AsRef<[f64]>>(&self, rows: &[R]) -> Result<Vec<f64>> {
        let denominator = self.trees.len() as f64 * average_path_length(self.max_samples);
        let mut out = Vec::with_capacity(rows.len());
        let mut x32 = Vec::with_capacity(self.n_features);
        for (i, row) in rows.iter().enumerate() {
            let x = row.as_ref();
            check_row(i, x, self.n_features)?;
            x32.clear();
            x32.extend(x.iter().map(|&v| v as f32));
            if x32.iter().any(|v| !v.is_finite()) {
                return Err(SklearnError::BadInput {
                    row: i,
                    reason: "a value is too large for float32".into(),
                });
            }
            let mut depth = 0.0f64;
            for tree in &self.trees {
                let (leaf, d) = tree.apply(&x32);
                depth += d + tree.avg_path[leaf] - 1.0;
            }
            let ratio = if denominator != 0.0 {
                depth / denominator
            } else {
                1.0
            };
            out.push(-(2f64.powf(-ratio)));
        }
        Ok(out)
    }

    /// `decision_function = score_samples - offset_` (negative for
    /// outliers).
    pub fn decision_function<R: AsRef<[f64]>>(&self, rows: &[R]) -> Result<Vec<f64>> {
        Ok(self
            .score_samples(rows)?
            .into_iter()
            .map(|s| s - self.offset)
            .collect())
    }
}

fn load_tree(
    o: &Objects<'_>,
    est: &Json,
    t: usize,
    features: Option<Vec<usize>>,
    n_features: usize,
) -> Result<IsoTree> {
    let est_path = o.object_ref(est, "", "estimators_")?;
    let tree_attr = o.need(est_path, "tree_")?;
    let tree_path = o.object_ref(tree_attr, est_path, "tree_")?;
    if o.class(tree_path)? != "sklearn.tree._tree.Tree" {
        return Err(o.bad(tree_path, "", "not a sklearn.tree._tree.Tree"));
    }
    let nodes = o.need(tree_path, "nodes")?;
    let fields = nodes
        .get("$fields")
        .ok_or_else(|| o.bad(tree_path, "nodes", "not a structured array"))?;
    let field = |f: &str| -> Result<&str> {
        fields
            .get(f)
            .and_then(Json::as_str)
            .ok_or_else(|| SklearnError::MissingAttribute {
                object: tree_path.to_owned(),
                attribute: format!("nodes.{f}"),
            })
    };
    let (left, _) = o.i64s(field("left_child")?)?;
    let (right, _) = o.i64s(field("right_child")?)?;
    let (feature, _) = o.i64s(field("feature")?)?;
    let (threshold, _) = o.f64s(field("threshold")?)?;
    let (n_samples, _) = o.i64s(field("n_node_samples")?)?;
    let missing_left = match fields.get("missing_go_to_left").and_then(Json::as_str) {
        Some(name) => Some(o.i64s(name)?.0),
        None => None,
    };
    let n = left.len();
    let bad = |reason: String| SklearnError::BadTree { tree: t, reason };
    if n == 0 {
        return Err(bad("no nodes".into()));
    }
    if [right.len(), feature.len(), threshold.len(), n_samples.len()]
        .iter()
        .any(|&l| l != n)
        || missing_left.as_ref().is_some_and(|m| m.len() != n)
    {
        return Err(bad("node fields of different lengths".into()));
    }
    let width = features.as_ref().map_or(n_features, Vec::len);
    for i in 0..n {
        if left[i] == TREE_LEAF {
            continue;
        }
        let child_ok = |c: i64| usize::try_from(c).is_ok_and(|c| c > i && c < n);
        if !child_ok(left[i]) || !child_ok(right[i]) {
            return Err(bad(format!(
                "node {i} has children {} and {} (must be later nodes)",
                left[i], right[i]
            )));
        }
        if !usize::try_from(feature[i]).is_ok_and(|f| f < width) {
            return Err(bad(format!(
                "node {i} splits on feature {} of {width}",
                feature[i]
            )));
        }
    }
    let avg_path = n_samples
        .iter()
        .map(|&s| average_path_length(s as f64))
        .collect();
    Ok(IsoTree {
        left,
        right,
        feature,
        threshold,
        missing_left,
        avg_path,
        features,
    })
}

/// A rebuilt estimator of one of the supported classes.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Estimator {
    /// `sklearn.linear_model.LogisticRegression`.
    LogisticRegression(LogisticRegression),
    /// `sklearn.ensemble.IsolationForest`.
    IsolationForest(IsolationForest),
}

impl Estimator {
    /// Rebuild whichever supported estimator the container holds (decided
    /// from `sklearn.class`).
    pub fn from_model(model: &tensorseal::Model) -> Result<Self> {
        let class = estimator_class(model)?;
        if class.ends_with(".LogisticRegression") {
            Ok(Estimator::LogisticRegression(
                LogisticRegression::from_model(model)?,
            ))
        } else if class.ends_with(".IsolationForest") {
            Ok(Estimator::IsolationForest(IsolationForest::from_model(
                model,
            )?))
        } else {
            Err(SklearnError::WrongClass {
                expected: format!("{LOGISTIC_REGRESSION} or {ISOLATION_FOREST}"),
                found: class.to_owned(),
            })
        }
    }
}
