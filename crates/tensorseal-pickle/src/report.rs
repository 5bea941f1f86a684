//! Inspection results: globals with their class, findings, verdict.

use crate::classify::{GlobalClass, Profile};
use crate::error::PickleError;

/// One global referenced by the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobalRef {
    /// Module path as written.
    pub module: String,
    /// Qualified name as written.
    pub name: String,
    /// Classification for the profile in use.
    pub class: GlobalClass,
    /// Offset of the `GLOBAL`/`STACK_GLOBAL`/`INST` opcode.
    pub offset: usize,
}

impl GlobalRef {
    /// `module.name`.
    pub fn dotted(&self) -> String {
        format!("{}.{}", self.module, self.name)
    }
}

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Informational only.
    Info,
    /// Makes the verdict at least `Unknown`.
    Unknown,
    /// Makes the verdict at least `Malformed`.
    Malformed,
    /// Makes the verdict `Dangerous` (structural deception or a dangerous global).
    Dangerous,
}

/// Kinds of findings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FindingKind {
    /// A global on the deny list.
    DangerousGlobal,
    /// A global neither allowed nor denied.
    UnknownGlobal,
    /// `STACK_GLOBAL` operands that are not string constants.
    DynamicGlobal,
    /// A call whose result never reaches the root object (POP, POP_MARK, memo only).
    SideEffectCall,
    /// Bytes after `STOP`.
    TrailingData,
    /// A further pickle after the first one.
    ConcatenatedPickle,
    /// FRAME length violated, opcode straddling a frame boundary, nested frame.
    FrameViolation,
    /// `PROTO` repeated or not at the start.
    MisplacedProto,
    /// `BUILD`/`SETITEM`/`APPEND` on a value that may not be mutated (module, global...).
    IllegalMutation,
    /// Stack not exactly one item at `STOP`.
    StackNotEmpty,
    /// The stream is not a valid pickle.
    ParseError,
    /// A resource limit was hit.
    LimitExceeded,
    /// A container that (transitively) contains itself.
    CyclicStructure,
    /// Nested fan-out of shared references (billion laughs) or a huge expanded size.
    Expansion,
    /// A dict key or set item Python could not hash (list, dict, set...).
    UnhashableKey,
    /// Globals found by the linear scan after the machine stopped.
    AfterError,
    /// Raw-data framing a writer would not produce, read the way the real
    /// loader reads it (joblib array padding, array order): a framing
    /// differential.
    ArrayFraming,
    /// Anything else worth noting (e.g. INST/OBJ protocol-0/1 calls).
    Note,
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Byte offset in the input.
    pub offset: usize,
    /// Kind.
    pub kind: FindingKind,
    /// Severity (decides the verdict).
    pub severity: Severity,
    /// Human-readable message.
    pub message: String,
}

/// Final inspection verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// Only allowed globals, valid structure.
    Safe,
    /// Valid structure, but some global is neither allowed nor dangerous.
    Unknown,
    /// Not a valid pickle (and nothing dangerous seen).
    Malformed,
    /// A dangerous global or structural deception.
    Dangerous,
}

impl Verdict {
    /// Lower-case name: `safe`, `unknown`, `malformed`, `dangerous`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Safe => "safe",
            Verdict::Unknown => "unknown",
            Verdict::Malformed => "malformed",
            Verdict::Dangerous => "dangerous",
        }
    }
}

/// Result of [`crate::inspect`].
#[derive(Debug)]
pub struct Report {
    /// Profile used for classification.
    pub profile: Profile,
    /// Every global referenced, in stream order (including those found after an error).
    pub globals: Vec<GlobalRef>,
    /// Findings, in stream order.
    pub findings: Vec<Finding>,
    /// The verdict.
    pub verdict: Verdict,
    /// The first parse error, if the stream was not a valid pickle.
    pub error: Option<PickleError>,
    /// Number of pickles parsed from the input (more than one is a finding).
    pub pickles: usize,
}

impl Report {
    /// The dangerous globals as `module.name` strings.
    pub fn dangerous_globals(&self) -> Vec<String> {
        self.globals
            .iter()
            .filter(|g| matches!(g.class, GlobalClass::Dangerous { .. }))
            .map(GlobalRef::dotted)
            .collect()
    }
}

/// Compute the verdict from findings (the maximum severity).
pub fn verdict_of(findings: &[Finding]) -> Verdict {
    match findings.iter().map(|f| f.severity).max() {
        Some(Severity::Dangerous) => Verdict::Dangerous,
        Some(Severity::Malformed) => Verdict::Malformed,
        Some(Severity::Unknown) => Verdict::Unknown,
        _ => Verdict::Safe,
    }
}
