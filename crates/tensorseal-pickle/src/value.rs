//! The object graph built by the machine: an arena of nodes addressed by [`NodeId`].
//!
//! Every value the pickle stream creates becomes one node. Containers hold
//! node ids, never nested values, so shared references (memo `GET`, `DUP`) and
//! cycles are represented without copying and without recursion. Walkers must
//! keep a visited set: a graph may contain cycles and heavy sharing.

use std::fmt;

/// Index of a node in a [`Graph`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    /// The index as `usize`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Which opcode created a [`Call`] node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// `REDUCE`: `callee(*args)`.
    Reduce,
    /// `NEWOBJ`: `cls.__new__(cls, *args)`.
    NewObj,
    /// `NEWOBJ_EX`: `cls.__new__(cls, *args, **kwargs)`.
    NewObjEx,
    /// `OBJ` (protocol 1): class and args from the mark.
    Obj,
    /// `INST` (protocol 0): class named inline, args from the mark.
    Inst,
}

impl CallKind {
    /// The opcode name.
    pub fn opcode_name(self) -> &'static str {
        match self {
            CallKind::Reduce => "REDUCE",
            CallKind::NewObj => "NEWOBJ",
            CallKind::NewObjEx => "NEWOBJ_EX",
            CallKind::Obj => "OBJ",
            CallKind::Inst => "INST",
        }
    }
}

/// A call or object construction recorded, never performed.
///
/// `SETITEM(S)` / `APPEND(S)` / `BUILD` applied to the result of a call
/// (e.g. `collections.OrderedDict()` followed by `SETITEMS`) are recorded on
/// the call node itself.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// Opcode that created the node.
    pub kind: CallKind,
    /// The callable / class: normally a [`Value::Global`] node.
    pub callee: NodeId,
    /// The positional arguments: always a [`Value::Tuple`] node.
    pub args: NodeId,
    /// Keyword arguments (`NEWOBJ_EX` only): a [`Value::Dict`] node.
    pub kwargs: Option<NodeId>,
    /// State given by `BUILD` (at most one `BUILD` per object).
    pub state: Option<NodeId>,
    /// Items added by `APPEND`/`APPENDS` (list subclasses).
    pub list_items: Vec<NodeId>,
    /// Items added by `SETITEM`/`SETITEMS` (dict subclasses such as `OrderedDict`).
    pub dict_items: Vec<(NodeId, NodeId)>,
}

/// A pickle value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An integer that fits in `i64`.
    Int(i64),
    /// A larger integer: little-endian two's complement bytes (as in `LONG1`/`LONG4`).
    BigInt(Vec<u8>),
    /// A float.
    Float(f64),
    /// A text string (`*UNICODE*`, and ASCII `*STRING*` opcodes).
    Str(String),
    /// A bytes object (`*BINBYTES*`, and non-ASCII `*STRING*` opcodes).
    Bytes(Vec<u8>),
    /// A bytearray (`BYTEARRAY8`).
    ByteArray(Vec<u8>),
    /// A tuple.
    Tuple(Vec<NodeId>),
    /// A list.
    List(Vec<NodeId>),
    /// A dict, in insertion order. Duplicate keys are kept as written.
    Dict(Vec<(NodeId, NodeId)>),
    /// A set.
    Set(Vec<NodeId>),
    /// A frozenset.
    FrozenSet(Vec<NodeId>),
    /// A global reference (`GLOBAL`, `STACK_GLOBAL`, `INST`), never imported.
    Global {
        /// Module path, e.g. `collections`.
        module: String,
        /// Qualified name, e.g. `OrderedDict`.
        name: String,
    },
    /// A call recorded by `REDUCE`/`NEWOBJ`/`NEWOBJ_EX`/`OBJ`/`INST`.
    Call(Call),
    /// `PERSID`/`BINPERSID`: the persistent id value (for PyTorch a tuple
    /// `('storage', storage_type, key, location, numel)`), never resolved.
    PersistentRef(NodeId),
}

impl Value {
    /// A short type name for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::ByteArray(_) => "bytearray",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Set(_) => "set",
            Value::FrozenSet(_) => "frozenset",
            Value::Global { .. } => "global",
            Value::Call(_) => "call",
            Value::PersistentRef(_) => "persistent-ref",
        }
    }
}

/// One node of the graph: a value and the offset of the opcode that created it.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Byte offset (in the input slice) of the creating opcode.
    pub offset: usize,
}

/// Shape statistics of the graph reachable from a root (see [`Graph::shape`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// Distinct nodes reachable from the root.
    pub distinct: u64,
    /// Nodes a naive tree walk would visit (saturating; cycles not expanded).
    pub expanded: u64,
    /// Nesting levels of fan-out: how many times, along one path, a parent
    /// refers to the same child more than once (billion-laughs pattern).
    pub fan_out_depth: u32,
    /// True if some node (transitively) contains itself.
    pub cyclic: bool,
    /// Largest number of references from one node back to nodes that
    /// contain it (1 for a plain cycle such as `l.append(l)`).
    pub max_back_refs: u32,
}

/// The arena of nodes produced by one pickle.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph {
    nodes: Vec<Node>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True if there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// All nodes, indexed by `NodeId::index()`.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node with this id, if it exists.
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id.index())
    }

    /// The value with this id, if it exists.
    pub fn get(&self, id: NodeId) -> Option<&Value> {
        self.nodes.get(id.index()).map(|n| &n.value)
    }

    /// Mutable access to a value (used by the machine and by hooks).
    pub fn get_mut(&mut self, id: NodeId) -> Option<&mut Value> {
        self.nodes.get_mut(id.index()).map(|n| &mut n.value)
    }

    /// Append a node and return its id. Returns `None` if the arena is full
    /// (more than `u32::MAX` nodes; the machine's limits stop far earlier).
    pub fn push(&mut self, value: Value, offset: usize) -> Option<NodeId> {
        let id = u32::try_from(self.nodes.len()).ok()?;
        self.nodes.push(Node { value, offset });
        Some(NodeId(id))
    }

    /// The string if the node is a [`Value::Str`].
    pub fn as_str(&self, id: NodeId) -> Option<&str> {
        match self.get(id)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer if the node is a [`Value::Int`] or a [`Value::Bool`].
    pub fn as_int(&self, id: NodeId) -> Option<i64> {
        match self.get(id)? {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    /// The items if the node is a [`Value::Tuple`].
    pub fn as_tuple(&self, id: NodeId) -> Option<&[NodeId]> {
        match self.get(id)? {
            Value::Tuple(t) => Some(t),
            _ => None,
        }
    }

    /// `(module, name)` if the node is a [`Value::Global`].
    pub fn as_global(&self, id: NodeId) -> Option<(&str, &str)> {
        match self.get(id)? {
            Value::Global { module, name } => Some((module, name)),
            _ => None,
        }
    }

    /// The call if the node is a [`Value::Call`].
    pub fn as_call(&self, id: NodeId) -> Option<&Call> {
        match self.get(id)? {
            Value::Call(c) => Some(c),
            _ => None,
        }
    }

    /// For a [`Value::Call`] node whose callee is a global: `(module, name)` of that global.
    pub fn class_of(&self, id: NodeId) -> Option<(&str, &str)> {
        self.as_global(self.as_call(id)?.callee)
    }

    /// Key/value pairs of a dict-like node: a [`Value::Dict`], or the
    /// `SETITEM` items of a [`Value::Call`] (e.g. an `OrderedDict`).
    pub fn dict_items(&self, id: NodeId) -> Option<&[(NodeId, NodeId)]> {
        match self.get(id)? {
            Value::Dict(d) => Some(d),
            Value::Call(c) => Some(&c.dict_items),
            _ => None,
        }
    }

    /// Look up a string key in a dict-like node (first match in insertion order).
    pub fn dict_get_str(&self, id: NodeId, key: &str) -> Option<NodeId> {
        self.dict_items(id)?
            .iter()
            .find(|(k, _)| self.as_str(*k) == Some(key))
            .map(|(_, v)| *v)
    }

    /// Ids of the nodes reachable from `root` (including `root`), each once,
    /// computed iteratively (cycle-safe, no recursion).
    pub fn reachable(&self, root: NodeId) -> Vec<bool> {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack = vec![root];
        while let Some(id) = stack.pop() {
            match seen.get_mut(id.index()) {
                Some(s) if !*s => *s = true,
                _ => continue,
            }
            if let Some(v) = self.get(id) {
                self.for_each_child(v, |c| stack.push(c));
            }
        }
        seen
    }

    /// Compute [`Shape`] statistics from `root` with an iterative post-order
    /// walk (no recursion, cycle-safe).
    pub fn shape(&self, root: NodeId) -> Shape {
        const NEW: u8 = 0;
        const OPEN: u8 = 1;
        const DONE: u8 = 2;
        let n = self.nodes.len();
        let mut state = vec![NEW; n];
        let mut size = vec![0u64; n];
        let mut fan = vec![0u32; n];
        let mut shape = Shape::default();
        if root.index() >= n {
            return shape;
        }
        // (node, its children, next child index, back references seen)
        let mut stack: Vec<(NodeId, Vec<NodeId>, usize, u32)> = Vec::new();
        let children = |id: NodeId| {
            let mut v = Vec::new();
            if let Some(val) = self.get(id) {
                self.for_each_child(val, |c| v.push(c));
            }
            v
        };
        state[root.index()] = OPEN;
        stack.push((root, children(root), 0, 0));
        while let Some(top) = stack.last_mut() {
            let (id, kids, next) = (top.0, &top.1, &mut top.2);
            if let Some(&c) = kids.get(*next) {
                *next += 1;
                match state.get(c.index()).copied() {
                    Some(NEW) => {
                        state[c.index()] = OPEN;
                        let k = children(c);
                        stack.push((c, k, 0, 0));
                    }
                    Some(OPEN) => {
                        shape.cyclic = true;
                        top.3 = top.3.saturating_add(1);
                        shape.max_back_refs = shape.max_back_refs.max(top.3);
                    }
                    _ => {}
                }
                continue;
            }
            // All children done: combine.
            let mut sorted = kids.clone();
            sorted.sort_unstable();
            let mut total: u64 = 1;
            let mut depth = 0u32;
            let mut i = 0;
            while i < sorted.len() {
                let c = sorted[i];
                let mut j = i;
                while j < sorted.len() && sorted[j] == c {
                    j += 1;
                }
                let count = (j - i) as u64;
                let ci = c.index();
                if state.get(ci).copied() == Some(DONE) {
                    total = total.saturating_add(size[ci].saturating_mul(count));
                    depth = depth.max(fan[ci] + u32::from(count > 1));
                }
                i = j;
            }
            size[id.index()] = total;
            fan[id.index()] = depth;
            state[id.index()] = DONE;
            shape.distinct += 1;
            stack.pop();
        }
        shape.expanded = size[root.index()];
        shape.fan_out_depth = fan[root.index()];
        shape
    }

    /// Whether Python could use this value as a dict key / set item
    /// (lists, dicts, sets and bytearrays, also inside tuples, cannot).
    pub fn is_hashable(&self, id: NodeId) -> bool {
        let mut stack = vec![id];
        let mut seen = 0usize;
        while let Some(id) = stack.pop() {
            seen += 1;
            if seen > 100_000 {
                return false;
            }
            match self.get(id) {
                Some(Value::List(_) | Value::Dict(_) | Value::Set(_) | Value::ByteArray(_)) => {
                    return false
                }
                Some(Value::Tuple(items) | Value::FrozenSet(items)) => {
                    stack.extend(items.iter().copied())
                }
                _ => {}
            }
        }
        true
    }

    /// Call `f` on every direct child id of a value.
    pub fn for_each_child(&self, v: &Value, mut f: impl FnMut(NodeId)) {
        match v {
            Value::Tuple(items)
            | Value::List(items)
            | Value::Set(items)
            | Value::FrozenSet(items) => items.iter().copied().for_each(f),
            Value::Dict(items) => items.iter().for_each(|(k, v)| {
                f(*k);
                f(*v)
            }),
            Value::Call(c) => {
                f(c.callee);
                f(c.args);
                if let Some(k) = c.kwargs {
                    f(k);
                }
                if let Some(s) = c.state {
                    f(s);
                }
                c.list_items.iter().copied().for_each(&mut f);
                c.dict_items.iter().for_each(|(k, v)| {
                    f(*k);
                    f(*v)
                });
            }
            Value::PersistentRef(p) => f(*p),
            _ => {}
        }
    }
}
