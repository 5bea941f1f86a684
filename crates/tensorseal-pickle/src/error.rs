//! Typed errors: every error names the opcode (where there is one), the byte
//! offset and the structure at fault.

/// Which resource limit was hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// Number of opcodes executed.
    Opcodes,
    /// Values on the stack (all mark frames together).
    StackDepth,
    /// Memo entries.
    MemoEntries,
    /// Bytes of strings/bytes materialised in total.
    MaterialisedBytes,
    /// Container nesting depth (also bounds open marks).
    NestingDepth,
    /// Size of one `LONG`/`LONG1`/`LONG4` in bytes.
    LongBytes,
    /// Nodes in the graph.
    Nodes,
}

/// Errors of the pickle machine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PickleError {
    /// Input ended inside an opcode or before `STOP`.
    #[error("truncated input at offset {offset}: {opcode} needs {needed} more byte(s)")]
    Truncated {
        /// Opcode being read (or `"opcode"` when reading the opcode byte).
        opcode: &'static str,
        /// Offset of the opcode.
        offset: usize,
        /// How many bytes were missing.
        needed: usize,
    },
    /// A byte that is not a pickle opcode.
    #[error("unknown opcode 0x{byte:02x} at offset {offset}")]
    UnknownOpcode {
        /// The byte.
        byte: u8,
        /// Its offset.
        offset: usize,
    },
    /// An opcode this reader refuses on principle.
    #[error("unsupported opcode {opcode} at offset {offset}: {reason}")]
    Unsupported {
        /// Opcode name.
        opcode: &'static str,
        /// Offset.
        offset: usize,
        /// Why.
        reason: &'static str,
    },
    /// An operand is malformed (bad text line, bad UTF-8, negative length, ...).
    #[error("bad operand of {opcode} at offset {offset}: {message}")]
    BadOperand {
        /// Opcode name.
        opcode: &'static str,
        /// Offset.
        offset: usize,
        /// What is wrong.
        message: String,
    },
    /// The stack or a mark frame has too few items.
    #[error("stack underflow in {opcode} at offset {offset}: needs {needed}, has {available}")]
    StackUnderflow {
        /// Opcode name.
        opcode: &'static str,
        /// Offset.
        offset: usize,
        /// Items needed.
        needed: usize,
        /// Items available above the innermost mark.
        available: usize,
    },
    /// An opcode needing a mark found none (or found one where it must not).
    #[error("mark error in {opcode} at offset {offset}: {message}")]
    Mark {
        /// Opcode name.
        opcode: &'static str,
        /// Offset.
        offset: usize,
        /// What is wrong.
        message: &'static str,
    },
    /// An operand on the stack has the wrong type.
    #[error("type error in {opcode} at offset {offset}: expected {expected}, found {found}")]
    Type {
        /// Opcode name.
        opcode: &'static str,
        /// Offset.
        offset: usize,
        /// Expected structure.
        expected: &'static str,
        /// Found structure.
        found: &'static str,
    },
    /// `GET` of a memo index never `PUT`.
    #[error("memo key {key} not defined at offset {offset} ({opcode})")]
    MemoMissing {
        /// Opcode name.
        opcode: &'static str,
        /// Offset.
        offset: usize,
        /// Memo key.
        key: u64,
    },
    /// Framing violation (FRAME length, straddling, nested frame).
    #[error("frame error at offset {offset} ({opcode}): {message}")]
    Frame {
        /// Opcode name.
        opcode: &'static str,
        /// Offset.
        offset: usize,
        /// What is wrong.
        message: String,
    },
    /// A `PROTO` opcode that is invalid (unknown version, not first, repeated).
    #[error("bad PROTO at offset {offset}: {message}")]
    Proto {
        /// Offset.
        offset: usize,
        /// What is wrong.
        message: String,
    },
    /// `STOP` found with a stack that is not exactly one item, or with open marks.
    #[error("bad stack at STOP (offset {offset}): {items} item(s), {marks} open mark(s)")]
    StopStack {
        /// Offset of STOP.
        offset: usize,
        /// Items on the stack.
        items: usize,
        /// Open marks.
        marks: usize,
    },
    /// Bytes remain after `STOP` and the caller asked for exactly one pickle.
    #[error("{len} trailing byte(s) after STOP at offset {offset}")]
    TrailingData {
        /// Offset of the first trailing byte.
        offset: usize,
        /// Number of trailing bytes.
        len: usize,
    },
    /// `BUILD`/`SETITEM`/`APPEND` applied to a structure that may not be mutated.
    #[error("{opcode} at offset {offset} applied to {target}")]
    BadTarget {
        /// Opcode name.
        opcode: &'static str,
        /// Offset.
        offset: usize,
        /// Type of the target.
        target: &'static str,
    },
    /// A resource limit was exceeded.
    #[error("limit exceeded at offset {offset} ({opcode}): {kind:?} > {limit}")]
    Limit {
        /// Which limit.
        kind: LimitKind,
        /// The configured limit.
        limit: u64,
        /// Opcode name.
        opcode: &'static str,
        /// Offset.
        offset: usize,
    },
    /// A hook refused the input.
    #[error("hook refused at offset {offset} ({opcode}): {source}")]
    Hook {
        /// Opcode name.
        opcode: &'static str,
        /// Offset.
        offset: usize,
        /// The hook's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Empty input.
    #[error("empty input: not a pickle")]
    Empty,
}

impl PickleError {
    /// The byte offset the error refers to (0 for [`PickleError::Empty`]).
    pub fn offset(&self) -> usize {
        match self {
            PickleError::Truncated { offset, .. }
            | PickleError::UnknownOpcode { offset, .. }
            | PickleError::Unsupported { offset, .. }
            | PickleError::BadOperand { offset, .. }
            | PickleError::StackUnderflow { offset, .. }
            | PickleError::Mark { offset, .. }
            | PickleError::Type { offset, .. }
            | PickleError::MemoMissing { offset, .. }
            | PickleError::Frame { offset, .. }
            | PickleError::Proto { offset, .. }
            | PickleError::StopStack { offset, .. }
            | PickleError::TrailingData { offset, .. }
            | PickleError::BadTarget { offset, .. }
            | PickleError::Limit { offset, .. }
            | PickleError::Hook { offset, .. } => *offset,
            PickleError::Empty => 0,
        }
    }
}
