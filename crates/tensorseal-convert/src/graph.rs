//! Walking a pickle object graph into named tensors and typed metadata.
//!
//! Tensor names are dotted paths through dicts, lists/tuples and object
//! states (`model.0.weight`, `optimizer.state.0.momentum_buffer`,
//! `estimators_.0.tree_.nodes`). Sub-structures that hold no tensor become
//! one [`MetaValue`] at their path. The walk is iterative where it matters,
//! cycle-safe and bounded by a visit budget (shared references cannot make
//! it explode).

use std::collections::HashSet;

use tensorseal_pickle::{Graph, NodeId, Value};

use crate::error::ConvertError;
use crate::model::MetaValue;

/// Recognises tensor nodes in a graph and turns them into plans.
pub trait TensorRecogniser {
    /// What a recognised tensor becomes.
    type Plan;
    /// Cheap check: is this node a tensor (by its constructor)?
    fn is_tensor(&self, graph: &Graph, id: NodeId) -> bool;
    /// Build the plan for a tensor node (validating its arguments).
    fn plan(&mut self, graph: &Graph, id: NodeId, path: &str) -> Result<Self::Plan, ConvertError>;
    /// A format-specific metadata rendering of a node (numpy scalars,
    /// dtypes), or `None` for the generic one.
    fn meta_value(&self, graph: &Graph, id: NodeId) -> Option<MetaValue> {
        let _ = (graph, id);
        None
    }
}

/// Result of a walk.
#[derive(Debug)]
pub struct Walked<P> {
    /// Tensors by dotted path, in graph order.
    pub tensors: Vec<(String, P)>,
    /// Metadata by dotted path.
    pub metadata: Vec<(String, MetaValue)>,
}

const MAX_META_DEPTH: usize = 64;

/// How the walker treats call nodes (objects) that are not tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectPolicy {
    /// Only dict-like `collections.OrderedDict` objects are accepted
    /// (PyTorch state dicts); other objects are refused.
    DictsOnly,
    /// Objects are walked: `<path>.__class__` records the class, the
    /// constructor arguments go under `<path>.__args__.N` and a dict state is
    /// walked as the object's attributes (scikit-learn estimators).
    Objects,
}

/// The walker.
pub struct Walker<'g, R: TensorRecogniser> {
    graph: &'g Graph,
    rec: R,
    structure: String,
    policy: ObjectPolicy,
    budget: u64,
    holds_tensor: Vec<bool>,
    on_path: HashSet<NodeId>,
    out: Walked<R::Plan>,
    names: HashSet<String>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn is_ordered_dict(graph: &Graph, id: NodeId) -> bool {
    matches!(graph.class_of(id), Some(("collections", "OrderedDict")))
}

impl<'g, R: TensorRecogniser> Walker<'g, R> {
    /// A walker over `graph` with a visit budget.
    pub fn new(
        graph: &'g Graph,
        rec: R,
        structure: &str,
        policy: ObjectPolicy,
        budget: u64,
    ) -> Self {
        // Which nodes can reach a tensor: reverse reachability from tensors.
        let n = graph.len();
        let mut holds = vec![false; n];
        let mut parents: Vec<Vec<NodeId>> = vec![Vec::new(); n];
        let mut queue = Vec::new();
        for (i, node) in graph.nodes().iter().enumerate() {
            let id = NodeId(i as u32);
            if rec.is_tensor(graph, id) {
                holds[i] = true;
                queue.push(id);
                continue; // do not look inside tensors
            }
            graph.for_each_child(&node.value, |c| {
                if let Some(p) = parents.get_mut(c.index()) {
                    p.push(id);
                }
            });
        }
        while let Some(id) = queue.pop() {
            if let Some(ps) = parents.get(id.index()) {
                for &p in ps {
                    if !holds[p.index()] {
                        holds[p.index()] = true;
                        queue.push(p);
                    }
                }
            }
        }
        Walker {
            graph,
            rec,
            structure: structure.to_owned(),
            policy,
            budget,
            holds_tensor: holds,
            on_path: HashSet::new(),
            out: Walked {
                tensors: Vec::new(),
                metadata: Vec::new(),
            },
            names: HashSet::new(),
        }
    }

    fn err(&self, id: NodeId, path: &str, reason: impl Into<String>) -> ConvertError {
        ConvertError::Graph {
            structure: self.structure.clone(),
            path: path.to_owned(),
            offset: self.graph.node(id).map(|n| n.offset).unwrap_or(0),
            reason: reason.into(),
        }
    }

    fn spend(&mut self, id: NodeId, path: &str) -> Result<(), ConvertError> {
        if self.budget == 0 {
            return Err(self.err(
                id,
                path,
                "graph visit budget exhausted (excessive sharing/fan-out)",
            ));
        }
        self.budget -= 1;
        Ok(())
    }

    fn claim(&mut self, id: NodeId, path: &str) -> Result<(), ConvertError> {
        if !self.names.insert(path.to_owned()) {
            return Err(self.err(id, path, "two values map to the same dotted name"));
        }
        Ok(())
    }

    /// Walk from `root` and return tensors and metadata.
    pub fn run(mut self, root: NodeId) -> Result<(Walked<R::Plan>, R), ConvertError> {
        self.walk(root, String::new(), 0)?;
        Ok((self.out, self.rec))
    }

    fn key_string(&self, key: NodeId, path: &str) -> Result<String, ConvertError> {
        match self.graph.get(key) {
            Some(Value::Str(s)) => Ok(s.clone()),
            Some(Value::Int(i)) => Ok(i.to_string()),
            Some(Value::Bool(b)) => Ok(if *b { "True".into() } else { "False".into() }),
            Some(Value::None) => Ok("None".into()),
            Some(v) => Err(self.err(
                key,
                path,
                format!("dict key of type {} cannot name a tensor", v.type_name()),
            )),
            None => Err(self.err(key, path, "dangling node id")),
        }
    }

    fn walk(&mut self, id: NodeId, path: String, depth: usize) -> Result<(), ConvertError> {
        self.spend(id, &path)?;
        if depth > 256 {
            return Err(self.err(id, &path, "object nesting too deep"));
        }
        let graph = self.graph;
        if self.rec.is_tensor(graph, id) {
            self.claim(id, &path)?;
            let plan = self.rec.plan(graph, id, &path)?;
            self.out.tensors.push((path, plan));
            return Ok(());
        }
        if !self.holds_tensor.get(id.index()).copied().unwrap_or(false) {
            let v = self.meta_of(id, &path, 0)?;
            self.claim(id, &path)?;
            self.out.metadata.push((path, v));
            return Ok(());
        }
        if !self.on_path.insert(id) {
            return Err(self.err(id, &path, "cyclic reference on a path to a tensor"));
        }
        let value = graph
            .get(id)
            .ok_or_else(|| self.err(id, &path, "dangling node id"))?;
        match value {
            Value::Dict(items) => {
                for &(k, v) in items {
                    let key = self.key_string(k, &path)?;
                    self.walk(v, join(&path, &key), depth + 1)?;
                }
            }
            Value::List(items) | Value::Tuple(items) => {
                for (i, &v) in items.iter().enumerate() {
                    self.walk(v, join(&path, &i.to_string()), depth + 1)?;
                }
            }
            Value::Call(c) if is_ordered_dict(graph, id) => {
                if !c.list_items.is_empty() {
                    return Err(self.err(id, &path, "OrderedDict with appended items"));
                }
                match graph.as_tuple(c.args) {
                    Some([]) => {}
                    _ => return Err(self.err(id, &path, "OrderedDict built with arguments")),
                }
                for &(k, v) in &c.dict_items {
                    let key = self.key_string(k, &path)?;
                    self.walk(v, join(&path, &key), depth + 1)?;
                }
                if let Some(state) = c.state {
                    self.walk_state(state, &path, depth)?;
                }
            }
            Value::Call(c) if self.policy == ObjectPolicy::Objects => {
                let class = match graph.as_global(c.callee) {
                    Some((m, n)) => format!("{m}.{n}"),
                    None => return Err(self.err(id, &path, "object whose class is not a global")),
                };
                let cpath = join(&path, "__class__");
                self.claim(id, &cpath)?;
                self.out.metadata.push((cpath, MetaValue::Str(class)));
                if let Some(items) = graph.as_tuple(c.args) {
                    if !items.is_empty() {
                        self.walk(c.args, join(&path, "__args__"), depth + 1)?;
                    }
                } else {
                    return Err(self.err(id, &path, "object arguments are not a tuple"));
                }
                if c.kwargs.is_some() {
                    return Err(self.err(id, &path, "keyword arguments to an object constructor"));
                }
                for (i, &v) in c.list_items.iter().enumerate() {
                    self.walk(v, join(&path, &i.to_string()), depth + 1)?;
                }
                for &(k, v) in &c.dict_items {
                    let key = self.key_string(k, &path)?;
                    self.walk(v, join(&path, &key), depth + 1)?;
                }
                if let Some(state) = c.state {
                    self.walk_state(state, &path, depth)?;
                }
            }
            Value::Call(_) => {
                let class = graph
                    .class_of(id)
                    .map(|(m, n)| format!("{m}.{n}"))
                    .unwrap_or_else(|| "<non-global>".into());
                return Err(self.err(
                    id,
                    &path,
                    format!(
                        "object of class {class} holds tensors but is not a dict, list or tensor"
                    ),
                ));
            }
            other => {
                return Err(self.err(
                    id,
                    &path,
                    format!(
                        "{} node holds tensors but is not a container",
                        other.type_name()
                    ),
                ))
            }
        }
        self.on_path.remove(&id);
        Ok(())
    }

    /// A BUILD state: a dict is walked as attributes; `(dict, slots)` tuples
    /// (`__getstate__` with slots) have both dicts walked; anything else is
    /// walked under `__state__`.
    fn walk_state(&mut self, state: NodeId, path: &str, depth: usize) -> Result<(), ConvertError> {
        let graph = self.graph;
        match graph.get(state) {
            Some(Value::Dict(items)) => {
                for &(k, v) in items {
                    let key = self.key_string(k, path)?;
                    self.walk(v, join(path, &key), depth + 1)?;
                }
                Ok(())
            }
            Some(Value::Tuple(t))
                if t.len() == 2
                    && t.iter().all(|&x| {
                        matches!(graph.get(x), Some(Value::Dict(_)) | Some(Value::None))
                    }) =>
            {
                for &x in t {
                    if let Some(Value::Dict(items)) = graph.get(x) {
                        for &(k, v) in items {
                            let key = self.key_string(k, path)?;
                            self.walk(v, join(path, &key), depth + 1)?;
                        }
                    }
                }
                Ok(())
            }
            _ => self.walk(state, join(path, "__state__"), depth + 1),
        }
    }

    /// Convert a tensor-free sub-graph to a metadata value.
    fn meta_of(&mut self, id: NodeId, path: &str, depth: usize) -> Result<MetaValue, ConvertError> {
        self.spend(id, path)?;
        if depth > MAX_META_DEPTH {
            return Err(self.err(id, path, "metadata nesting too deep (or cyclic)"));
        }
        let graph = self.graph;
        if let Some(m) = self.rec.meta_value(graph, id) {
            return Ok(m);
        }
        let v = graph
            .get(id)
            .ok_or_else(|| self.err(id, path, "dangling node id"))?;
        Ok(match v {
            Value::None => MetaValue::None,
            Value::Bool(b) => MetaValue::Bool(*b),
            Value::Int(i) => MetaValue::Int(*i),
            Value::BigInt(b) => MetaValue::Str(bigint_decimal(b)),
            Value::Float(f) => MetaValue::Float(*f),
            Value::Str(s) => MetaValue::Str(s.clone()),
            Value::Bytes(b) | Value::ByteArray(b) => MetaValue::Bytes(b.clone()),
            Value::Tuple(items)
            | Value::List(items)
            | Value::Set(items)
            | Value::FrozenSet(items) => {
                let mut out = Vec::with_capacity(items.len().min(1024));
                for &c in items {
                    out.push(self.meta_of(c, path, depth + 1)?);
                }
                MetaValue::List(out)
            }
            Value::Dict(items) => self.meta_map(items, path, depth)?,
            Value::Global { module, name } => MetaValue::Str(format!("{module}.{name}")),
            Value::Call(c) if is_ordered_dict(graph, id) => {
                let items = c.dict_items.clone();
                self.meta_map(&items, path, depth)?
            }
            Value::Call(c) if self.policy == ObjectPolicy::Objects => {
                let class = graph
                    .as_global(c.callee)
                    .map(|(m, n)| format!("{m}.{n}"))
                    .unwrap_or_default();
                let mut entries = vec![("__class__".to_owned(), MetaValue::Str(class))];
                let (args, state, list_items, dict_items) =
                    (c.args, c.state, c.list_items.clone(), c.dict_items.clone());
                entries.push(("__args__".into(), self.meta_of(args, path, depth + 1)?));
                if let Some(s) = state {
                    entries.push(("__state__".into(), self.meta_of(s, path, depth + 1)?));
                }
                if !list_items.is_empty() {
                    let mut l = Vec::new();
                    for c in list_items {
                        l.push(self.meta_of(c, path, depth + 1)?);
                    }
                    entries.push(("__items__".into(), MetaValue::List(l)));
                }
                if !dict_items.is_empty() {
                    entries.push((
                        "__dict_items__".into(),
                        self.meta_map(&dict_items, path, depth)?,
                    ));
                }
                MetaValue::Map(entries)
            }
            Value::Call(_) => {
                let class = graph
                    .class_of(id)
                    .map(|(m, n)| format!("{m}.{n}"))
                    .unwrap_or_else(|| "<non-global>".into());
                return Err(self.err(
                    id,
                    path,
                    format!("object of class {class} is not convertible metadata"),
                ));
            }
            Value::PersistentRef(_) => {
                return Err(self.err(id, path, "persistent reference outside a tensor"))
            }
        })
    }

    fn meta_map(
        &mut self,
        items: &[(NodeId, NodeId)],
        path: &str,
        depth: usize,
    ) -> Result<MetaValue, ConvertError> {
        let mut out = Vec::with_capacity(items.len().min(1024));
        for &(k, v) in items {
            let key = self.key_string(k, path)?;
            out.push((key, self.meta_of(v, path, depth + 1)?));
        }
        Ok(MetaValue::Map(out))
    }
}

/// Decimal rendering of a little-endian two's complement integer.
pub fn bigint_decimal(le: &[u8]) -> String {
    if le.is_empty() {
        return "0".into();
    }
    let neg = le.last().is_some_and(|b| b & 0x80 != 0);
    // Magnitude as little-endian bytes.
    let mut mag: Vec<u8> = if neg {
        let mut v: Vec<u8> = le.iter().map(|b| !b).collect();
        for b in v.iter_mut() {
            let (r, carry) = b.overflowing_add(1);
            *b = r;
            if !carry {
                break;
            }
        }
        v
    } else {
        le.to_vec()
    };
    let mut digits = Vec::new();
    while mag.iter().any(|&b| b != 0) {
        let mut rem: u32 = 0;
        for b in mag.iter_mut().rev() {
            let cur = (rem << 8) | u32::from(*b);
            *b = (cur / 10) as u8;
            rem = cur % 10;
        }
        digits.push(b'0' + rem as u8);
    }
    if digits.is_empty() {
        digits.push(b'0');
    }
    if neg {
        digits.push(b'-');
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}
