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

use tensorseal_pickle::{CallKind, Graph, NoHooks, NodeId, PickleError, Profile, Value};

use crate::detect::Format;
use crate::error::ConvertError;
use crate::graph::{bigint_decimal, ObjectPolicy, TensorRecogniser, Walker};
use crate::joblib::{
    bytes_value, numpy_meta_value, parse_np_dtype, refuse_unsafe, text_values, NpDType,
};
use crate::layout::numel;
use crate::model::{ImportedTensor, MetaValue};
use crate::ConvertOptions;

mod rebuild;
pub use rebuild::{
    average_path_length, estimator_class, Estimator, IsolationForest, LogisticRegression,
    SklearnError,
};

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
