//! The strict pickle stack machine: builds a [`Graph`], never calls anything.

use std::collections::HashMap;

use crate::classify::{GlobalClass, Profile};
use crate::error::{LimitKind, PickleError};
use crate::opcodes as op;
use crate::report::{verdict_of, Finding, FindingKind, GlobalRef, Severity, Verdict};
use crate::value::{Call, CallKind, Graph, NodeId, Value};

mod decode;
use decode::{long_value, parse_decimal};
mod step;

/// Nested levels of repeated references that count as a billion-laughs pattern.
const FAN_OUT_DEPTH_LIMIT: u32 = 3;
/// Tree-walk size from which reference expansion is reported.
const EXPANDED_LIMIT: u64 = 10_000_000;

/// Module recorded for globals loaded through `EXT1/EXT2/EXT4` (the name is
/// the extension code). Not an importable module name, so never allowed.
pub const EXTENSION_MODULE: &str = "<copyreg extension registry>";

/// Error type hooks return to refuse the input.
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

/// Resource limits. Every limit produces [`PickleError::Limit`] naming it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Opcodes executed per pickle.
    pub max_opcodes: u64,
    /// Items on the stack (all mark frames together).
    pub max_stack: usize,
    /// Memo entries.
    pub max_memo: usize,
    /// Bytes of str/bytes values plus 8 bytes per container slot, in total.
    pub max_materialised_bytes: u64,
    /// Container nesting depth (also bounds open marks).
    pub max_nesting: usize,
    /// Bytes of one `LONG`/`LONG1`/`LONG4` integer.
    pub max_long_bytes: usize,
    /// Nodes in the graph.
    pub max_nodes: usize,
    /// Length of one protocol-0 text line (GLOBAL, INT, STRING...).
    pub max_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_opcodes: 20_000_000,
            max_stack: 1_000_000,
            max_memo: 1_000_000,
            max_materialised_bytes: 2 << 30,
            max_nesting: 1_000,
            max_long_bytes: 1_024,
            max_nodes: 10_000_000,
            max_line: 16 << 20,
        }
    }
}

/// Options of one parse.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Allow-list used to classify globals.
    pub profile: Profile,
    /// Resource limits.
    pub limits: Limits,
}

impl Options {
    /// Default limits with this profile.
    pub fn new(profile: Profile) -> Self {
        Options {
            profile,
            limits: Limits::default(),
        }
    }
}

/// Callbacks that let a caller (the converter) interpret format-specific
/// parts of the stream. Default methods accept everything and consume nothing.
pub trait Hooks {
    /// Called for `BINPERSID`/`PERSID` after the persistent id value `pid` was
    /// built (for PyTorch a tuple `('storage', storage_type, key, location,
    /// numel)`). The machine pushes a [`Value::PersistentRef`] node whatever
    /// the hook does; return an error to refuse the input.
    fn persistent_load(
        &mut self,
        graph: &Graph,
        pid: NodeId,
        offset: usize,
    ) -> Result<(), HookError> {
        let _ = (graph, pid, offset);
        Ok(())
    }

    /// Called after every `BUILD` with the built object `obj` (a
    /// [`Value::Call`] node; `graph.class_of(obj)` gives its class) and the
    /// position `pos` just after the `BUILD` opcode. Return the number of raw
    /// bytes at `input[pos..]` that belong to the object (joblib's
    /// `NumpyArrayWrapper` array data); the machine skips them and resumes
    /// after them. Consuming bytes inside an unfinished FRAME is an error.
    fn after_build(
        &mut self,
        graph: &Graph,
        obj: NodeId,
        input: &[u8],
        pos: usize,
    ) -> Result<usize, HookError> {
        let _ = (graph, obj, input, pos);
        Ok(0)
    }

    /// Globals and findings of content the hook read itself (joblib's nested
    /// pickle of an object array, padding a writer would not produce),
    /// reported as part of this pickle. Called after every
    /// [`Hooks::after_build`], also when it failed, so that what a loader
    /// would have run before failing still counts.
    fn take_findings(&mut self) -> (Vec<GlobalRef>, Vec<Finding>) {
        (Vec::new(), Vec::new())
    }
}

/// Hooks that do nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHooks;

impl Hooks for NoHooks {}

/// A successfully parsed pickle.
#[derive(Clone, Debug)]
pub struct Parsed {
    /// All nodes created.
    pub graph: Graph,
    /// The value left on the stack at `STOP`.
    pub root: NodeId,
    /// Offset of the first byte of this pickle.
    pub start: usize,
    /// Offset just after `STOP`.
    pub end: usize,
    /// Protocol from `PROTO` (0 if absent).
    pub protocol: u8,
    /// Globals referenced, with their class.
    pub globals: Vec<GlobalRef>,
    /// Findings (dangerous/unknown globals, side-effect-only calls, dynamic globals...).
    pub findings: Vec<Finding>,
}

impl Parsed {
    /// The verdict implied by the findings.
    pub fn verdict(&self) -> Verdict {
        verdict_of(&self.findings)
    }

    /// True if every global is allowed and nothing suspicious was found.
    pub fn is_safe(&self) -> bool {
        self.verdict() == Verdict::Safe
    }
}

/// A reusable parser configured with [`Options`].
#[derive(Clone, Debug, Default)]
pub struct Machine {
    opts: Options,
}

impl Machine {
    /// A machine with these options.
    pub fn new(opts: Options) -> Self {
        Machine { opts }
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Parse exactly one pickle spanning all of `input`.
    pub fn parse(&self, input: &[u8]) -> Result<Parsed, PickleError> {
        self.parse_with(input, &mut NoHooks)
    }

    /// Parse exactly one pickle spanning all of `input`, with hooks.
    pub fn parse_with<H: Hooks + ?Sized>(
        &self,
        input: &[u8],
        hooks: &mut H,
    ) -> Result<Parsed, PickleError> {
        let parsed = self.parse_one(input, 0, hooks)?;
        if parsed.end != input.len() {
            return Err(PickleError::TrailingData {
                offset: parsed.end,
                len: input.len() - parsed.end,
            });
        }
        Ok(parsed)
    }

    /// Parse one pickle starting at `start`; bytes after its `STOP` are left
    /// to the caller (`Parsed::end`).
    pub fn parse_one<H: Hooks + ?Sized>(
        &self,
        input: &[u8],
        start: usize,
        hooks: &mut H,
    ) -> Result<Parsed, PickleError> {
        let (partial, res) = self.run(input, start, hooks);
        let root = res?;
        Ok(Parsed {
            graph: partial.graph,
            root,
            start,
            end: partial.pos,
            protocol: partial.protocol,
            globals: partial.globals,
            findings: partial.findings,
        })
    }

    /// Run the machine and return its state even on error (for inspection).
    pub(crate) fn run<H: Hooks + ?Sized>(
        &self,
        input: &[u8],
        start: usize,
        hooks: &mut H,
    ) -> (Partial, Result<NodeId, PickleError>) {
        let mut st = State::new(input, start, &self.opts);
        let res = st.exec(hooks);
        let partial = Partial {
            graph: st.graph,
            globals: st.globals,
            findings: st.findings,
            pos: st.pos,
            protocol: st.protocol,
            last_op: st.op_start,
        };
        (partial, res)
    }
}

/// Parse exactly one pickle spanning all of `input` (no hooks).
pub fn parse(input: &[u8], opts: &Options) -> Result<Parsed, PickleError> {
    Machine::new(opts.clone()).parse(input)
}

/// Parse one pickle starting at `start`, with hooks; returns the graph and
/// `Parsed::end`, the position just after `STOP`.
pub fn parse_one<H: Hooks + ?Sized>(
    input: &[u8],
    start: usize,
    opts: &Options,
    hooks: &mut H,
) -> Result<Parsed, PickleError> {
    Machine::new(opts.clone()).parse_one(input, start, hooks)
}

/// State left by a run, also on error.
pub(crate) struct Partial {
    pub graph: Graph,
    pub globals: Vec<GlobalRef>,
    pub findings: Vec<Finding>,
    pub pos: usize,
    pub protocol: u8,
    pub last_op: usize,
}

struct State<'a, 'o> {
    input: &'a [u8],
    opts: &'o Options,
    pos: usize,
    op_start: usize,
    start: usize,
    frame_end: Option<usize>,
    protocol: u8,
    graph: Graph,
    depth: Vec<u32>,
    unhashable: Vec<bool>,
    stack: Vec<NodeId>,
    marks: Vec<usize>,
    memo: HashMap<u64, NodeId>,
    globals: Vec<GlobalRef>,
    findings: Vec<Finding>,
    opcodes: u64,
    materialised: u64,
    name: &'static str,
}

type R<T> = Result<T, PickleError>;

impl<'a, 'o> State<'a, 'o> {
    fn new(input: &'a [u8], start: usize, opts: &'o Options) -> Self {
        State {
            input,
            opts,
            pos: start,
            op_start: start,
            start,
            frame_end: None,
            protocol: 0,
            graph: Graph::new(),
            depth: Vec::new(),
            unhashable: Vec::new(),
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            globals: Vec::new(),
            findings: Vec::new(),
            opcodes: 0,
            materialised: 0,
            name: "opcode",
        }
    }

    fn limit(&self, kind: LimitKind, limit: u64) -> PickleError {
        PickleError::Limit {
            kind,
            limit,
            opcode: self.name,
            offset: self.op_start,
        }
    }

    fn finding(&mut self, kind: FindingKind, severity: Severity, message: String) {
        self.findings.push(Finding {
            offset: self.op_start,
            kind,
            severity,
            message,
        });
    }

    // ---- input --------------------------------------------------------

    /// Take `n` bytes of operand; checks truncation and frame straddling.
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(PickleError::Truncated {
            opcode: self.name,
            offset: self.op_start,
            needed: n,
        })?;
        if end > self.input.len() {
            return Err(PickleError::Truncated {
                opcode: self.name,
                offset: self.op_start,
                needed: end - self.input.len(),
            });
        }
        if let Some(fe) = self.frame_end {
            if end > fe {
                return Err(PickleError::Frame {
                    opcode: self.name,
                    offset: self.op_start,
                    message: format!("opcode straddles the frame end at offset {fe}"),
                });
            }
        }
        let s = &self.input[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }

    fn arr<const N: usize>(&mut self) -> R<[u8; N]> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn bad(&self, message: impl Into<String>) -> PickleError {
        PickleError::BadOperand {
            opcode: self.name,
            offset: self.op_start,
            message: message.into(),
        }
    }

    /// A `\n`-terminated line (without the `\n`). `\r` is refused.
    fn line(&mut self) -> R<&'a [u8]> {
        let rest = &self.input[self.pos.min(self.input.len())..];
        let window = &rest[..rest.len().min(self.opts.limits.max_line.saturating_add(1))];
        let Some(i) = window.iter().position(|&b| b == b'\n') else {
            if window.len() > self.opts.limits.max_line {
                return Err(self.bad(format!(
                    "text line longer than {} bytes",
                    self.opts.limits.max_line
                )));
            }
            return Err(PickleError::Truncated {
                opcode: self.name,
                offset: self.op_start,
                needed: 1,
            });
        };
        let s = self.take(i + 1)?;
        let s = &s[..i];
        if s.contains(&b'\r') {
            return Err(self.bad("carriage return in text line"));
        }
        Ok(s)
    }

    fn utf8_line(&mut self) -> R<String> {
        let l = self.line()?;
        String::from_utf8(l.to_vec()).map_err(|_| self.bad("invalid UTF-8 in text line"))
    }

    // ---- graph / stack ----------------------------------------------------

    fn charge(&mut self, bytes: u64) -> R<()> {
        self.materialised = self.materialised.saturating_add(bytes);
        if self.materialised > self.opts.limits.max_materialised_bytes {
            return Err(self.limit(
                LimitKind::MaterialisedBytes,
                self.opts.limits.max_materialised_bytes,
            ));
        }
        Ok(())
    }

    fn check_len(&self, n: u64) -> R<usize> {
        // Declared lengths must fit in the remaining input before anything is allocated.
        let remaining = (self.input.len() - self.pos.min(self.input.len())) as u64;
        if n > remaining {
            return Err(PickleError::Truncated {
                opcode: self.name,
                offset: self.op_start,
                needed: usize::try_from(n - remaining).unwrap_or(usize::MAX),
            });
        }
        usize::try_from(n).map_err(|_| self.bad("length does not fit in memory"))
    }

    fn new_node(&mut self, value: Value, depth: u32) -> R<NodeId> {
        if self.graph.len() >= self.opts.limits.max_nodes {
            return Err(self.limit(LimitKind::Nodes, self.opts.limits.max_nodes as u64));
        }
        if depth as usize > self.opts.limits.max_nesting {
            return Err(self.limit(LimitKind::NestingDepth, self.opts.limits.max_nesting as u64));
        }
        // Hashability is fixed at creation: tuples and frozensets are immutable.
        let unhashable = match &value {
            Value::List(_) | Value::Dict(_) | Value::Set(_) | Value::ByteArray(_) => true,
            Value::Tuple(items) | Value::FrozenSet(items) => items
                .iter()
                .any(|i| self.unhashable.get(i.index()).copied().unwrap_or(false)),
            _ => false,
        };
        let id = self
            .graph
            .push(value, self.op_start)
            .ok_or_else(|| self.limit(LimitKind::Nodes, u64::from(u32::MAX)))?;
        self.depth.push(depth);
        self.unhashable.push(unhashable);
        Ok(id)
    }

    fn depth_of(&self, id: NodeId) -> u32 {
        self.depth.get(id.index()).copied().unwrap_or(0)
    }

    fn container_depth(&self, items: &[NodeId]) -> u32 {
        items
            .iter()
            .map(|&i| self.depth_of(i))
            .max()
            .unwrap_or(0)
            .saturating_add(1)
    }

    fn push_value(&mut self, value: Value) -> R<()> {
        let id = self.new_node(value, 0)?;
        self.push(id)
    }

    fn push_container(&mut self, value: Value, items: &[NodeId]) -> R<()> {
        self.charge(8 * items.len() as u64)?;
        let d = self.container_depth(items);
        let id = self.new_node(value, d)?;
        self.push(id)
    }

    fn push(&mut self, id: NodeId) -> R<()> {
        if self.stack.len() >= self.opts.limits.max_stack {
            return Err(self.limit(LimitKind::StackDepth, self.opts.limits.max_stack as u64));
        }
        self.stack.push(id);
        Ok(())
    }

    fn frame_base(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn underflow(&self, needed: usize) -> PickleError {
        PickleError::StackUnderflow {
            opcode: self.name,
            offset: self.op_start,
            needed,
            available: self.stack.len() - self.frame_base(),
        }
    }

    fn pop(&mut self) -> R<NodeId> {
        if self.stack.len() <= self.frame_base() {
            return Err(self.underflow(1));
        }
        self.stack.pop().ok_or_else(|| self.underflow(1))
    }

    fn top(&self) -> R<NodeId> {
        if self.stack.len() <= self.frame_base() {
            return Err(self.underflow(1));
        }
        self.stack.last().copied().ok_or_else(|| self.underflow(1))
    }

    fn pop_mark(&mut self) -> R<Vec<NodeId>> {
        match self.marks.pop() {
            Some(m) if m <= self.stack.len() => Ok(self.stack.split_off(m)),
            _ => Err(PickleError::Mark {
                opcode: self.name,
                offset: self.op_start,
                message: "no MARK on the stack",
            }),
        }
    }

    fn value(&self, id: NodeId) -> &Value {
        // Ids on the stack always come from this graph.
        self.graph.get(id).unwrap_or(&Value::None)
    }

    fn type_err(&self, expected: &'static str, id: NodeId) -> PickleError {
        PickleError::Type {
            opcode: self.name,
            offset: self.op_start,
            expected,
            found: self.value(id).type_name(),
        }
    }

    fn expect_tuple(&self, id: NodeId) -> R<()> {
        match self.value(id) {
            Value::Tuple(_) => Ok(()),
            _ => Err(self.type_err("tuple", id)),
        }
    }

    fn expect_callable(&self, id: NodeId) -> R<()> {
        match self.value(id) {
            Value::Global { .. } | Value::Call(_) => Ok(()),
            _ => Err(self.type_err("global or call result", id)),
        }
    }

    fn bad_target(&self, id: NodeId) -> PickleError {
        PickleError::BadTarget {
            opcode: self.name,
            offset: self.op_start,
            target: self.value(id).type_name(),
        }
    }

    fn bump_depth(&mut self, target: NodeId, children: &[NodeId]) -> R<()> {
        let d = self.container_depth(children).max(self.depth_of(target));
        if d as usize > self.opts.limits.max_nesting {
            return Err(self.limit(LimitKind::NestingDepth, self.opts.limits.max_nesting as u64));
        }
        if let Some(slot) = self.depth.get_mut(target.index()) {
            *slot = d;
        }
        Ok(())
    }

    fn memo_put(&mut self, key: u64) -> R<()> {
        let top = self.top()?;
        if !self.memo.contains_key(&key) && self.memo.len() >= self.opts.limits.max_memo {
            return Err(self.limit(LimitKind::MemoEntries, self.opts.limits.max_memo as u64));
        }
        self.memo.insert(key, top);
        Ok(())
    }

    fn memo_get(&mut self, key: u64) -> R<()> {
        let id = *self.memo.get(&key).ok_or(PickleError::MemoMissing {
            opcode: self.name,
            offset: self.op_start,
            key,
        })?;
        self.push(id)
    }

    fn add_global(&mut self, module: String, name: String) -> R<NodeId> {
        let class = self.opts.profile.classify(&module, &name);
        self.record_global(module.clone(), name.clone(), class);
        self.charge((module.len() + name.len()) as u64)?;
        self.new_node(Value::Global { module, name }, 0)
    }

    fn record_global(&mut self, module: String, name: String, class: GlobalClass) {
        match class {
            GlobalClass::Allowed => {}
            GlobalClass::Dangerous { reason } => self.finding(
                FindingKind::DangerousGlobal,
                Severity::Dangerous,
                format!("dangerous global {module}.{name} ({reason:?})"),
            ),
            GlobalClass::Unknown => self.finding(
                FindingKind::UnknownGlobal,
                Severity::Unknown,
                format!("global {module}.{name} is not on the allow-list"),
            ),
        }
        self.globals.push(GlobalRef {
            module,
            name,
            class,
            offset: self.op_start,
        });
    }

    /// `EXT1/2/4`: the loader imports whatever `(module, name)` copyreg's
    /// extension registry maps the code to *at load time* (the registry is
    /// process state, filled by `copyreg.add_extension`, possibly by an
    /// earlier call in the same pickle). The stream does not name the global,
    /// so it can never be allowed: it is recorded as an unknown global.
    fn extension_global(&mut self, ext: i64) -> R<NodeId> {
        let module = EXTENSION_MODULE.to_owned();
        let name = ext.to_string();
        self.finding(
            FindingKind::UnknownGlobal,
            Severity::Unknown,
            format!(
                "{} imports extension code {ext} from copyreg's extension registry: the global it resolves to is decided at load time, not by the stream",
                self.name
            ),
        );
        self.globals.push(GlobalRef {
            module: module.clone(),
            name: name.clone(),
            class: GlobalClass::Unknown,
            offset: self.op_start,
        });
        self.charge((module.len() + name.len()) as u64)?;
        self.new_node(Value::Global { module, name }, 0)
    }

    fn text_global(&mut self) -> R<(String, String)> {
        let module = self.utf8_line()?;
        let name = self.utf8_line()?;
        if module.is_empty() || name.is_empty() {
            return Err(self.bad("empty module or name"));
        }
        Ok((module, name))
    }

    fn push_call(
        &mut self,
        kind: CallKind,
        callee: NodeId,
        args: NodeId,
        kwargs: Option<NodeId>,
    ) -> R<()> {
        if let Value::Call(_) = self.value(callee) {
            self.finding(
                FindingKind::Note,
                Severity::Unknown,
                format!(
                    "{} calls the result of another call (computed callable)",
                    kind.opcode_name()
                ),
            );
        }
        let mut kids = vec![callee, args];
        kids.extend(kwargs);
        let d = self.container_depth(&kids);
        let id = self.new_node(
            Value::Call(Call {
                kind,
                callee,
                args,
                kwargs,
                state: None,
                list_items: Vec::new(),
                dict_items: Vec::new(),
            }),
            d,
        )?;
        self.push(id)
    }

    fn add_str_bytes(&mut self, raw: &'a [u8], as_text: bool) -> R<()> {
        self.charge(raw.len() as u64)?;
        let v = if as_text {
            Value::Str(
                String::from_utf8(raw.to_vec()).map_err(|_| self.bad("invalid UTF-8 string"))?,
            )
        } else {
            Value::Bytes(raw.to_vec())
        };
        self.push_value(v)
    }

    /// Protocol-0/1 `STRING`-family payload: ASCII becomes `Str` (Python 3's
    /// default `encoding='ASCII'`), anything else `Bytes`.
    fn add_py2_string(&mut self, raw: Vec<u8>) -> R<()> {
        self.charge(raw.len() as u64)?;
        let v = if raw.is_ascii() {
            Value::Str(String::from_utf8(raw).map_err(|_| self.bad("non-ASCII string"))?)
        } else {
            Value::Bytes(raw)
        };
        self.push_value(v)
    }

    fn add_long_le(&mut self, bytes: &[u8]) -> R<()> {
        if bytes.len() > self.opts.limits.max_long_bytes {
            return Err(self.limit(LimitKind::LongBytes, self.opts.limits.max_long_bytes as u64));
        }
        self.charge(bytes.len() as u64)?;
        self.push_value(long_value(bytes))
    }

    fn persistent<H: Hooks + ?Sized>(&mut self, hooks: &mut H) -> R<()> {
        let pid = self.pop()?;
        hooks
            .persistent_load(&self.graph, pid, self.op_start)
            .map_err(|source| PickleError::Hook {
                opcode: self.name,
                offset: self.op_start,
                source,
            })?;
        let d = self.container_depth(&[pid]);
        let id = self.new_node(Value::PersistentRef(pid), d)?;
        self.push(id)
    }

    fn tuple_node(&mut self, items: Vec<NodeId>) -> R<NodeId> {
        self.charge(8 * items.len() as u64)?;
        let d = self.container_depth(&items);
        self.new_node(Value::Tuple(items), d)
    }

    fn pairs(&mut self, items: &[NodeId]) -> R<Vec<(NodeId, NodeId)>> {
        if !items.len().is_multiple_of(2) {
            return Err(self.bad("odd number of items for a dict"));
        }
        let keys: Vec<NodeId> = items.iter().step_by(2).copied().collect();
        self.check_hashable(&keys);
        Ok(items.chunks_exact(2).map(|c| (c[0], c[1])).collect())
    }

    fn check_hashable(&mut self, keys: &[NodeId]) {
        if let Some(&k) = keys
            .iter()
            .find(|&&k| self.unhashable.get(k.index()).copied().unwrap_or(false))
        {
            let t = self.value(k).type_name();
            self.finding(
                FindingKind::UnhashableKey,
                Severity::Malformed,
                format!(
                    "{} uses an unhashable {t} as a dict key or set item",
                    self.name
                ),
            );
        }
    }

    fn append(&mut self, items: &[NodeId]) -> R<()> {
        let t = self.top()?;
        self.charge(8 * items.len() as u64)?;
        self.bump_depth(t, items)?;
        match self.graph.get_mut(t) {
            Some(Value::List(l)) => l.extend_from_slice(items),
            Some(Value::Call(c)) => c.list_items.extend_from_slice(items),
            _ => return Err(self.bad_target(t)),
        }
        Ok(())
    }

    fn setitems(&mut self, items: &[NodeId]) -> R<()> {
        let t = self.top()?;
        let pairs = self.pairs(items)?;
        self.charge(8 * items.len() as u64)?;
        self.bump_depth(t, items)?;
        match self.graph.get_mut(t) {
            Some(Value::Dict(d)) => d.extend(pairs),
            Some(Value::Call(c)) => c.dict_items.extend(pairs),
            _ => return Err(self.bad_target(t)),
        }
        Ok(())
    }

    fn decimal(&self, l: &[u8]) -> R<Value> {
        let max_digits = self.opts.limits.max_long_bytes.saturating_mul(3);
        if l.len() > max_digits + 1 {
            return Err(self.limit(LimitKind::LongBytes, self.opts.limits.max_long_bytes as u64));
        }
        parse_decimal(l).ok_or_else(|| self.bad("bad decimal integer"))
    }

    fn stop(&mut self) -> R<NodeId> {
        if let Some(fe) = self.frame_end {
            if fe > self.input.len() {
                return Err(PickleError::Truncated {
                    opcode: "FRAME",
                    offset: self.op_start,
                    needed: fe - self.input.len(),
                });
            }
            if fe != self.pos {
                return Err(PickleError::Frame {
                    opcode: self.name,
                    offset: self.op_start,
                    message: format!("STOP at offset {} before the frame end {fe}", self.op_start),
                });
            }
        }
        if self.stack.len() != 1 || !self.marks.is_empty() {
            return Err(PickleError::StopStack {
                offset: self.op_start,
                items: self.stack.len(),
                marks: self.marks.len(),
            });
        }
        let root = self.stack[0];
        let reach = self.graph.reachable(root);
        let profile = self.opts.profile;
        let mut side = Vec::new();
        for (i, node) in self.graph.nodes().iter().enumerate() {
            if reach.get(i).copied().unwrap_or(false) {
                continue;
            }
            if let Value::Call(c) = &node.value {
                let (desc, allowed) = match self.graph.as_global(c.callee) {
                    Some((m, n)) => (format!("{m}.{n}"), profile.allows(m, n)),
                    None => ("<computed callable>".to_string(), false),
                };
                side.push((node.offset, c.kind, desc, allowed));
            }
        }
        let shape = self.graph.shape(root);
        if shape.max_back_refs > 1 {
            self.finding(
                FindingKind::Expansion,
                Severity::Dangerous,
                format!(
                    "a container refers {} times to itself or its ancestors (cyclic fan-out)",
                    shape.max_back_refs
                ),
            );
        } else if shape.cyclic {
            self.finding(
                FindingKind::CyclicStructure,
                Severity::Info,
                "the object graph contains a cycle (self-referencing container)".into(),
            );
        }
        if shape.fan_out_depth >= FAN_OUT_DEPTH_LIMIT || shape.expanded > EXPANDED_LIMIT {
            self.finding(
                FindingKind::Expansion,
                Severity::Dangerous,
                format!(
                    "reference expansion: {} distinct nodes unfold to {} (fan-out depth {})",
                    shape.distinct, shape.expanded, shape.fan_out_depth
                ),
            );
        }
        for (offset, kind, desc, allowed) in side {
            self.findings.push(Finding {
                offset,
                kind: FindingKind::SideEffectCall,
                severity: if allowed {
                    Severity::Info
                } else {
                    Severity::Dangerous
                },
                message: format!(
                    "{} of {desc} is discarded: its result never reaches the root object",
                    kind.opcode_name()
                ),
            });
        }
        Ok(root)
    }
}
